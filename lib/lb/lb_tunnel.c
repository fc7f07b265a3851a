/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tunnel mode: IP-in-IP (RFC 2003) and IPv6-in-IPv6 (RFC 2473) from the out
 * port's address to the backend, the client's packet unchanged inside.
 */
#include "lb_stage.h"

/*
 * The packet does not fit the port once encapsulated. The client is told
 * the size that fits: ICMP fragmentation needed (IPv4 with DF; RFC 1191)
 * or ICMPv6 packet too big (RFC 8201), from the port's address. An IPv4
 * packet that may be fragmented is dropped and counted: Sluice does not
 * fragment.
 */
static void too_big(struct lb_worker *w, const struct lb_port_info *port, struct lb_pkt *pk,
		    const struct pkt_meta *m, uint16_t fits)
{
	const uint8_t *ip = pk->data + m->l3_off;
	bool ok;

	if (!m->is_v6)
		ok = (ip[6] & 0x40) && port->has_ipv4 &&
		     answer_icmp_error(pk, m, port->mac, &port->ipv4, 3, 4,
				       fits); /* frag. needed */
	else
		ok = port->has_ipv6 && answer_icmp_error(pk, m, port->mac, &port->ipv6, 2, 0, fits);
	if (!ok) {
		pk->drop = LB_DROP_TOO_BIG;
		return;
	}
	w->ctr->too_big_sent++;
}

/*
 * Prepends the outer header: from the port's address to the backend, the
 * client's packet unchanged inside; Ethernet (and a VLAN tag) moved to the
 * front. Returns false (pk->drop set) when the packet cannot go.
 */
bool tunnel_encap(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		  const struct pkt_meta *m, const struct lb_snap_backend *b)
{
	const struct lb_port_info *out = &s->ports[b->out_port];
	const struct lb_port_info *in = &s->ports[pk->in_port < s->n_ports ? pk->in_port : 0];
	uint32_t hlen = m->is_v6 ? IP6_HLEN : IP4_HLEN;
	uint32_t inner = (uint32_t)(m->l3_end - m->l3_off);
	uint8_t *ip;

	if (inner + hlen > out->mtu) {
		too_big(w, in, pk, m, (uint16_t)(out->mtu - hlen));
		return false;
	}
	if (pk->headroom < hlen || (m->is_v6 ? !out->has_ipv6 : !out->has_ipv4)) {
		pk->drop = LB_DROP_NO_HEADROOM;
		return false;
	}
	pk->data -= hlen;
	pk->headroom = (uint16_t)(pk->headroom - hlen);
	memmove(pk->data, pk->data + hlen, m->l3_off);
	ip = pk->data + m->l3_off;
	if (!m->is_v6) {
		const uint8_t *inner_ip = ip + IP4_HLEN;
		ip[0] = 0x45;
		ip[1] = inner_ip[1]; /* DSCP/ECN copied out (RFC 2003 3.1) */
		pkt_put16(ip + 2, (uint16_t)(IP4_HLEN + inner));
		pkt_put16(ip + 4, 0);
		pkt_put16(ip + 6, inner_ip[6] & 0x40 ? 0x4000 : 0); /* DF copied */
		ip[8] = 64;
		ip[9] = IPPROTO_IPIP_;
		pkt_put16(ip + 10, 0);
		memcpy(ip + 12, sl_addr_v4_bytes(&out->ipv4), 4);
		memcpy(ip + 16, sl_addr_v4_bytes(&b->addr), 4);
		/* A new header, not a recomputation: its checksum is computed once. */
		pkt_put16(ip + 10, pkt_csum_fold(pkt_csum_add(0, ip, IP4_HLEN)));
	} else {
		const uint8_t *inner_ip = ip + IP6_HLEN;
		memcpy(ip, inner_ip, 4); /* version, traffic class, flow label copied */
		pkt_put16(ip + 4, (uint16_t)inner);
		ip[6] = IPPROTO_IP6_;
		ip[7] = 64;
		memcpy(ip + 8, out->ipv6.b, 16);
		memcpy(ip + 24, b->addr.b, 16);
	}
	pk->len = (uint16_t)(m->l3_off + hlen + inner); /* Ethernet padding dropped */
	return true;
}
