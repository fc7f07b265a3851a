/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What Sluice answers itself, built in place over the packet that asked:
 * ARP and neighbour solicitations for its addresses, ICMP echo, a TCP RST or
 * ICMP error to the sender; and the frames the management thread sends and
 * reads to resolve neighbours.
 */
#include "lb_stage.h"

enum lb_verdict answer_arp(const struct lb_snapshot *s, const struct lb_port_info *port,
			   struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint8_t *arp = pk->data + m->l3_off;

	if (m->arp_op == PKT_ARP_REPLY)
		return is_port_addr(port, &m->dst) ? LB_VERDICT_MGMT : LB_VERDICT_DROP;
	if (m->arp_op != PKT_ARP_REQUEST || !is_ours(s, port, &m->dst))
		return LB_VERDICT_DROP;
	/* sha spa tha tpa at 8, 14, 18, 24: answer "tpa is at port MAC". */
	eth_answer(pk->data, port->mac);
	pkt_put16(arp + 6, PKT_ARP_REPLY);
	memcpy(arp + 18, arp + 8, 10);                  /* tha, tpa = sender's */
	memcpy(arp + 8, port->mac, 6);                  /* sha = us */
	memcpy(arp + 14, sl_addr_v4_bytes(&m->dst), 4); /* spa = the address asked for */
	return LB_VERDICT_TX;
}

enum lb_verdict answer_icmp_echo(struct lb_pkt *pk, const struct pkt_meta *m,
				 const struct lb_port_info *port)
{
	uint8_t *ip = pk->data + m->l3_off;
	uint8_t *icmp = pk->data + m->l4_off;

	eth_answer(pk->data, port->mac);
	if (!m->is_v6) {
		swap_bytes(ip + 12, ip + 16, 4);
		ip[8] = 64;
		ip[10] = ip[11] = 0;
		pkt_put16(ip + 10,
			  pkt_csum_fold(pkt_csum_add(0, ip, (uint32_t)(m->l4_off - m->l3_off))));
		icmp[0] = ICMP_ECHO_REP;
		pkt_csum_replace16(icmp + 2, (uint16_t)(ICMP_ECHO_REQ << 8 | icmp[1]),
				   (uint16_t)(ICMP_ECHO_REP << 8 | icmp[1]));
	} else {
		/* Swapping addresses leaves the pseudo-header sum as it was. */
		swap_bytes(ip + 8, ip + 24, 16);
		ip[7] = 64;
		icmp[0] = ICMP6_ECHO_REP;
		pkt_csum_replace16(icmp + 2, (uint16_t)(ICMP6_ECHO_REQ << 8 | icmp[1]),
				   (uint16_t)(ICMP6_ECHO_REP << 8 | icmp[1]));
	}
	return LB_VERDICT_TX;
}

/* Neighbour advertisement for the solicited target, written over the NS. */
enum lb_verdict answer_ns(const struct lb_snapshot *s, const struct lb_port_info *port,
			  struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint8_t *ip = pk->data + m->l3_off;
	uint8_t *icmp = pk->data + m->l4_off;
	struct sl_addr target;
	static const uint8_t unspecified[16];
	static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
	bool dad;

	if ((uint32_t)m->l3_end < (uint32_t)m->l4_off + 24u || m->ttl != 255)
		return LB_VERDICT_DROP; /* RFC 4861 7.1.1: hop limit 255, room for a target */
	sl_addr_set_v6(&target, icmp + 8);
	if (!is_ours(s, port, &target))
		return LB_VERDICT_DROP;
	if ((uint32_t)m->l3_off + IP6_HLEN + 32u > pk->cap)
		return LB_VERDICT_DROP;
	dad = memcmp(ip + 8, unspecified, 16) == 0;

	eth_answer(pk->data, port->mac);
	if (dad) {
		/* To all nodes, so also to the all-nodes MAC (RFC 2464 7). */
		static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
		memcpy(pk->data, all_nodes_mac, 6);
	}
	/* IPv6 header: to the solicitor (all-nodes for DAD), from the target. */
	memcpy(ip + 24, dad ? all_nodes : ip + 8, 16);
	memcpy(ip + 8, target.b, 16);
	icmp = ip + IP6_HLEN; /* extension headers of the NS are not carried over */
	pkt_put16(ip + 4, 32);
	ip[6] = IPPROTO_ICMPV6;
	ip[7] = 255;
	memset(icmp, 0, 32);
	icmp[0] = ND_NA;
	icmp[4] = dad ? 0x20 : 0x60; /* Solicited (unless DAD) + Override */
	memcpy(icmp + 8, target.b, 16);
	icmp[24] = ND_OPT_TLLA;
	icmp[25] = 1;
	memcpy(icmp + 26, port->mac, 6);
	pkt_put16(icmp + 2, icmp6_csum(ip, icmp, 32));
	pk->len = (uint16_t)(m->l3_off + IP6_HLEN + 32);
	return LB_VERDICT_TX;
}

/*
 * Turns the packet in place into an ICMP / ICMPv6 error back to its source,
 * from <from>, quoting it (IPv4: its header and 8 bytes, RFC 792; IPv6: as
 * much as fits in the minimum MTU, RFC 4443). <param> is the 32-bit field
 * after the checksum (an MTU, or 0). Returns false when it cannot be built
 * (no address of the family to answer from, no room).
 */
bool answer_icmp_error(struct lb_pkt *pk, const struct pkt_meta *m, const uint8_t *port_mac,
		       const struct sl_addr *from, uint8_t type, uint8_t code, uint16_t param)
{
	uint8_t *ip = pk->data + m->l3_off;
	uint32_t inner = (uint32_t)(m->l3_end - m->l3_off);

	if (!m->is_v6) {
		uint8_t quote[60 + 8];
		uint32_t qlen = (uint32_t)(m->l4_off - m->l3_off) + 8;
		if (qlen > inner)
			qlen = inner;
		if ((uint32_t)m->l3_off + IP4_HLEN + 8 + qlen > pk->cap)
			return false;
		memcpy(quote, ip, qlen);
		uint8_t *icmp = ip + IP4_HLEN;
		memcpy(ip + 16, ip + 12, 4); /* back to the sender */
		memcpy(ip + 12, sl_addr_v4_bytes(from), 4);
		ip[0] = 0x45;
		ip[1] = 0;
		pkt_put16(ip + 2, (uint16_t)(IP4_HLEN + 8 + qlen));
		pkt_put16(ip + 4, 0);
		pkt_put16(ip + 6, 0);
		ip[8] = 64;
		ip[9] = IPPROTO_ICMP;
		pkt_put16(ip + 10, 0);
		pkt_put16(ip + 10, pkt_csum_fold(pkt_csum_add(0, ip, IP4_HLEN)));
		icmp[0] = type;
		icmp[1] = code;
		pkt_put16(icmp + 2, 0);
		pkt_put16(icmp + 4, 0);
		pkt_put16(icmp + 6, param);
		memcpy(icmp + 8, quote, qlen);
		pkt_put16(icmp + 2, pkt_csum_fold(pkt_csum_add(0, icmp, 8 + qlen)));
		pk->len = (uint16_t)(m->l3_off + IP4_HLEN + 8 + qlen);
	} else {
		uint32_t qlen = inner;
		if (qlen > IPV6_MIN_MTU - IP6_HLEN - 8)
			qlen = IPV6_MIN_MTU - IP6_HLEN - 8;
		if ((uint32_t)m->l3_off + IP6_HLEN + 8 + qlen > pk->cap)
			return false;
		memmove(ip + IP6_HLEN + 8, ip, qlen);
		uint8_t *icmp = ip + IP6_HLEN, *orig = ip + IP6_HLEN + 8;
		memset(ip, 0, IP6_HLEN);
		ip[0] = 0x60;
		pkt_put16(ip + 4, (uint16_t)(8 + qlen));
		ip[6] = IPPROTO_ICMPV6;
		ip[7] = 64;
		memcpy(ip + 8, from->b, 16);
		memcpy(ip + 24, orig + 8, 16); /* the original source */
		icmp[0] = type;
		icmp[1] = code;
		pkt_put16(icmp + 2, 0);
		pkt_put16(icmp + 4, 0);
		pkt_put16(icmp + 6, param);
		pkt_put16(icmp + 2, icmp6_csum(ip, icmp, 8 + qlen));
		pk->len = (uint16_t)(m->l3_off + IP6_HLEN + 8 + qlen);
	}
	eth_answer(pk->data, port_mac);
	pk->out_port = pk->in_port;
	pk->verdict = LB_VERDICT_TX;
	pk->answer = 1;
	return true;
}

/*
 * No backend can take a new flow and the VIP says "reset": the client is
 * refused at once instead of retrying into silence. TCP gets a RST built as
 * RFC 793 asks (from the VIP); UDP gets ICMP port unreachable (from the VIP).
 */
void answer_refuse(struct lb_worker *w, struct lb_pkt *pk, const struct pkt_meta *m,
		   const uint8_t *port_mac)
{
	if (m->l4_proto == IPPROTO_UDP) {
		if (answer_icmp_error(pk, m, port_mac, &m->dst, m->is_v6 ? 1 : 3, m->is_v6 ? 4 : 3,
				      0))
			w->ctr->refused++;
		return;
	}
	if (answer_rst(pk, m, port_mac))
		w->ctr->refused++;
}

/*
 * Turns the client's TCP segment in place into the RST that answers it (RFC
 * 793: from the VIP, acceptable to the client's side of the connection), sent
 * back the way it came. Returns false, leaving the packet alone, for a RST:
 * a RST is never answered.
 */
bool answer_rst(struct lb_pkt *pk, const struct pkt_meta *m, const uint8_t *port_mac)
{
	uint8_t *ip = pk->data + m->l3_off, *tcp;
	const uint8_t *in_tcp = pk->data + m->l4_off;
	uint32_t seq, ack, paylen, hlen = m->is_v6 ? IP6_HLEN : IP4_HLEN;
	uint8_t flags;

	if (m->tcp_flags & TCP_RST)
		return false;
	paylen = (uint32_t)(m->l3_end - m->l4_off) - (uint32_t)(in_tcp[12] >> 4) * 4u;
	if (m->tcp_flags & TCP_ACK) {
		seq = (uint32_t)pkt_get16(in_tcp + 8) << 16 | pkt_get16(in_tcp + 10);
		ack = 0;
		flags = TCP_RST;
	} else {
		seq = 0;
		ack = ((uint32_t)pkt_get16(in_tcp + 4) << 16 | pkt_get16(in_tcp + 6)) + paylen +
		      !!(m->tcp_flags & TCP_SYN) + !!(m->tcp_flags & TCP_FIN);
		flags = TCP_RST | TCP_ACK;
	}
	uint16_t sport = pkt_get16(in_tcp), dport = pkt_get16(in_tcp + 2);
	/* A fresh IP header (no options / extension headers), then 20 bytes of TCP. */
	if (!m->is_v6) {
		uint8_t src[4], dst[4];
		memcpy(src, ip + 16, 4);
		memcpy(dst, ip + 12, 4);
		memset(ip, 0, IP4_HLEN);
		ip[0] = 0x45;
		pkt_put16(ip + 2, IP4_HLEN + 20);
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		pkt_put16(ip + 10, pkt_csum_fold(pkt_csum_add(0, ip, IP4_HLEN)));
	} else {
		uint8_t src[16], dst[16];
		memcpy(src, ip + 24, 16);
		memcpy(dst, ip + 8, 16);
		memset(ip, 0, IP6_HLEN);
		ip[0] = 0x60;
		pkt_put16(ip + 4, 20);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}
	tcp = ip + hlen;
	memset(tcp, 0, 20);
	pkt_put16(tcp, dport);
	pkt_put16(tcp + 2, sport);
	pkt_put16(tcp + 4, (uint16_t)(seq >> 16));
	pkt_put16(tcp + 6, (uint16_t)seq);
	pkt_put16(tcp + 8, (uint16_t)(ack >> 16));
	pkt_put16(tcp + 10, (uint16_t)ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	uint32_t sum = m->is_v6 ? pkt_csum_add(0, ip + 8, 32) : pkt_csum_add(0, ip + 12, 8);
	sum += IPPROTO_TCP + 20;
	pkt_put16(tcp + 16, pkt_csum_fold(pkt_csum_add(sum, tcp, 20)));
	pk->len = (uint16_t)(m->l3_off + hlen + 20);
	eth_answer(pk->data, port_mac);
	pk->out_port = pk->in_port;
	pk->verdict = LB_VERDICT_TX;
	pk->answer = 1;
	return true;
}

uint16_t lb_build_neigh_request(uint8_t *buf, uint16_t cap, const struct lb_port_info *p,
				const struct sl_addr *target)
{
	if (sl_addr_is_v4(target)) {
		if (cap < 60 || !p->has_ipv4)
			return 0;
		memset(buf, 0, 60);
		memset(buf, 0xff, 6);
		memcpy(buf + 6, p->mac, 6);
		pkt_put16(buf + 12, 0x0806);
		pkt_put16(buf + 14, 1);      /* Ethernet */
		pkt_put16(buf + 16, 0x0800); /* IPv4 */
		buf[18] = 6;
		buf[19] = 4;
		pkt_put16(buf + 20, PKT_ARP_REQUEST);
		memcpy(buf + 22, p->mac, 6);
		memcpy(buf + 28, sl_addr_v4_bytes(&p->ipv4), 4);
		memcpy(buf + 38, sl_addr_v4_bytes(target), 4);
		return 60;
	}
	if (cap < ETH_HLEN + IP6_HLEN + 32 || !p->has_ipv6)
		return 0;
	uint8_t *ip = buf + ETH_HLEN, *icmp = ip + IP6_HLEN;
	/* To the solicited-node multicast group of the target (RFC 4291 2.7.1). */
	static const uint8_t snm[13] = {0xff, 0x02, [11] = 1, [12] = 0xff};
	memset(buf, 0, ETH_HLEN + IP6_HLEN + 32);
	buf[0] = 0x33;
	buf[1] = 0x33;
	buf[2] = 0xff;
	memcpy(buf + 3, &target->b[13], 3);
	memcpy(buf + 6, p->mac, 6);
	pkt_put16(buf + 12, ETHERTYPE_IPV6);
	ip[0] = 0x60;
	pkt_put16(ip + 4, 32);
	ip[6] = IPPROTO_ICMPV6;
	ip[7] = 255;
	memcpy(ip + 8, p->ipv6.b, 16);
	memcpy(ip + 24, snm, 13);
	memcpy(ip + 37, &target->b[13], 3);
	icmp[0] = ND_NS;
	memcpy(icmp + 8, target->b, 16);
	icmp[24] = ND_OPT_SLLA;
	icmp[25] = 1;
	memcpy(icmp + 26, p->mac, 6);
	pkt_put16(icmp + 2, icmp6_csum(ip, icmp, 32));
	return ETH_HLEN + IP6_HLEN + 32;
}

int lb_parse_neigh_reply(const uint8_t *data, uint16_t len, struct sl_addr *addr, uint8_t mac[6])
{
	struct pkt_meta m;
	const uint8_t *icmp;

	if (parse_packet(data, len, &m) != PARSE_OK)
		return -1;
	if (m.kind == PKT_KIND_ARP) {
		*addr = m.src;
		memcpy(mac, m.arp_sha, 6);
		return 0;
	}
	if (!m.is_v6 || m.l4_proto != IPPROTO_ICMPV6 || m.icmp_type != ND_NA)
		return -1;
	icmp = data + m.l4_off;
	/* Target at 8, then options of 8-byte units: look for the target link-layer one. */
	for (uint32_t off = 24; (uint32_t)m.l4_off + off + 8 <= m.l3_end;) {
		uint32_t olen = icmp[off + 1] * 8u;
		if (olen == 0)
			return -1;
		if (icmp[off] == ND_OPT_TLLA && olen >= 8) {
			sl_addr_set_v6(addr, icmp + 8);
			memcpy(mac, icmp + off + 2, 6);
			return 0;
		}
		off += olen;
	}
	return -1;
}
