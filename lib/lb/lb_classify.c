/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The general path's first stage: everything about a packet that does not
 * need the flow table (parse, answers, hand-offs, sources unfit to be
 * clients, which VIP), and its last: the tally of each verdict.
 */
#include "lb_stage.h"

/*
 * Why the source of a packet to one of Sluice's addresses cannot be a
 * client, or LB_DROP_NONE. Sluice neither answers such a source nor keeps
 * state for it: the answer would go to everyone (broadcast, multicast), to
 * no one, back to Sluice, or to whoever the forged address names.
 */
static enum lb_drop src_unfit(const struct lb_snapshot *s, const struct lb_port_info *port,
			      const struct pkt_meta *m)
{
	if (sl_addr_eq(&m->src, &m->dst))
		return LB_DROP_LAND;
	if (sl_addr_is_v4(&m->src)) {
		const uint8_t *a = sl_addr_v4_bytes(&m->src);
		uint32_t v =
			(uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];

		/* "This network", loopback, multicast, reserved and limited broadcast. */
		if (a[0] == 0 || a[0] == 127 || a[0] >= 224)
			return LB_DROP_MARTIAN;
		if (port->has_ipv4 && port->ipv4_plen <= 30) {
			const uint8_t *n = sl_addr_v4_bytes(&port->ipv4);
			uint32_t net = (uint32_t)n[0] << 24 | (uint32_t)n[1] << 16 |
				       (uint32_t)n[2] << 8 | n[3];
			uint32_t host = port->ipv4_plen == 0 ? ~0u : ~0u >> port->ipv4_plen;

			/* The directed broadcast of the subnet it came in on. */
			if ((v & ~host) == (net & ~host) && (v & host) == host)
				return LB_DROP_MARTIAN;
		}
	} else {
		static const uint8_t zero[15];

		/* Multicast, unspecified, loopback. */
		if (m->src.b[0] == 0xff ||
		    (memcmp(m->src.b, zero, sizeof(zero)) == 0 && m->src.b[15] <= 1))
			return LB_DROP_MARTIAN;
	}
	return lb_own_maybe(s, &m->src) && is_ours(s, port, &m->src) ? LB_DROP_MARTIAN
								     : LB_DROP_NONE;
}

/* TTL (IPv4) or hop limit (IPv6) 0: the packet should not exist; never forwarded. */
static inline bool ttl_zero(const struct lb_pkt *pk, const struct pkt_meta *m)
{
	return pk->data[m->l3_off + (m->is_v6 ? 7 : 8)] == 0;
}

/* An echo request to one of Sluice's addresses: answered, unless from a source unfit. */
static void echo(const struct lb_snapshot *s, const struct lb_port_info *port, struct lb_pkt *pk,
		 const struct pkt_meta *m)
{
	enum lb_drop why = src_unfit(s, port, m);

	if (why != LB_DROP_NONE)
		pk->drop = (uint8_t)why;
	else
		pk->verdict = answer_icmp_echo(pk, m, port);
}

static enum cls handoff(struct lb_pkt *pk, uint32_t owner)
{
	pk->verdict = LB_VERDICT_HANDOFF;
	pk->out_port = (uint16_t)owner;
	return CLS_DONE;
}

/* A TCP/UDP packet to VIP <vip_slot>: checks of its source and TTL, and NAT's owner lcore. */
static enum cls classify_vip(const struct lb_worker *w, const struct lb_snapshot *s,
			     const struct lb_port_info *port, struct lb_pkt *pk,
			     const struct pkt_meta *m, uint32_t vip_slot)
{
	const struct lb_snap_vip *v = &s->vips[vip_slot];
	enum lb_drop why = src_unfit(s, port, m);

	/* Port 0 is reserved (RFC 768, 9293): no client sends from it. */
	if (why == LB_DROP_NONE && m->sport == 0)
		why = LB_DROP_MARTIAN;
	if (why == LB_DROP_NONE && ttl_zero(pk, m))
		why = LB_DROP_TTL;
	if (why != LB_DROP_NONE) {
		pk->drop = (uint8_t)why;
		return CLS_DONE;
	}
	if (v->mode >= SL_MODE_MAX) {
		pk->drop = LB_DROP_MODE_UNSUPPORTED;
		return CLS_DONE;
	}
	if (v->mode == SL_MODE_NAT && !pk->handed) {
		uint32_t owner = nat_owner(w, &m->src, m->sport);
		if (owner != w->index)
			return handoff(pk, owner);
	}
	return CLS_VIP;
}

/* A TCP or UDP packet: to a VIP, a reply to a full-NAT or NAT flow, or not ours. */
static enum cls classify_l4(const struct lb_worker *w, const struct lb_snapshot *s,
			    const struct lb_port_info *port, struct lb_pkt *pk,
			    const struct pkt_meta *m, uint32_t *vip_slot)
{
	if (m->frag == PKT_FRAG_LATER) {
		pk->drop = lb_vip_addr_known(s, &m->dst) ? LB_DROP_FRAGMENT : LB_DROP_NOT_OURS;
		return CLS_DONE;
	}
	/* The fast path may have found the VIP already. */
	if (*vip_slot == LB_NO_SLOT)
		*vip_slot = lb_vip_find(s, &m->dst, m->dport, m->l4_proto);
	if (*vip_slot != LB_NO_SLOT)
		return classify_vip(w, s, port, pk, m, *vip_slot);
	if (lb_laddr_find(s, &m->dst) != LB_NO_SLOT) {
		/* fnat reply: the source port we chose says which lcore owns it. */
		uint32_t owner = ntohs(m->dport) % w->n_workers;
		if (owner != w->index && !pk->handed)
			return handoff(pk, owner);
		return CLS_REPLY;
	}
	if (lb_vip_addr_known(s, &m->dst)) {
		pk->drop = LB_DROP_VIP_NO_SERVICE;
		return CLS_DONE;
	}
	if (s->has_nat && !is_port_addr(port, &m->dst)) {
		uint32_t owner = nat_owner(w, &m->dst, m->dport);
		if (owner != w->index && !pk->handed)
			return handoff(pk, owner);
		return CLS_REPLY;
	}
	return CLS_DONE;
}

/* ICMP and ICMPv6 that is not an error about a flow: echo, neighbour discovery. */
static void classify_icmp(const struct lb_snapshot *s, const struct lb_port_info *port,
			  struct lb_pkt *pk, const struct pkt_meta *m)
{
	if (!m->is_v6 && m->l4_proto == IPPROTO_ICMP && m->icmp_type == ICMP_ECHO_REQ &&
	    is_ours(s, port, &m->dst))
		echo(s, port, pk, m);
	else if (m->is_v6 && m->l4_proto == IPPROTO_ICMPV6) {
		if (m->icmp_type == ICMP6_ECHO_REQ && is_ours(s, port, &m->dst))
			echo(s, port, pk, m);
		else if (m->icmp_type == ND_NS)
			pk->verdict = answer_ns(s, port, pk, m);
		else if (m->icmp_type == ND_NA && is_port_addr(port, &m->dst))
			pk->verdict = LB_VERDICT_MGMT; /* an answer to our solicitation */
	}
}

/*
 * First pass: everything that does not need the flow table is decided
 * here, for packet <pk> parsed into <m> with result <r>. <*vip_slot> is
 * the packet's VIP when the caller knows it already, else LB_NO_SLOT.
 */
enum cls classify_parsed(const struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			 struct pkt_meta *m, enum parse_result r, uint32_t *vip_slot)
{
	const struct lb_port_info *port = &s->ports[pk->in_port < s->n_ports ? pk->in_port : 0];

	pk->verdict = LB_VERDICT_DROP;
	pk->drop = LB_DROP_NOT_OURS;
	pk->out_port = pk->in_port;
	pk->answer = 0;
	pk->tx_offload = 0;
	if (pk->nonlinear) {
		pk->drop = LB_DROP_NONLINEAR;
		return CLS_DONE;
	}
	if (r != PARSE_OK) {
		pk->drop = (uint8_t)r;
		return CLS_DONE;
	}
	if (pk->data[6] & 1) {
		/* A group source MAC names no sender: an answer would go to every host. */
		pk->drop = LB_DROP_BAD_SRC_MAC;
		return CLS_DONE;
	}
	if (pk->rx_csum == LB_RX_CSUM_BAD) {
		pk->drop = LB_DROP_BAD_CSUM;
		return CLS_DONE;
	}
	if (m->kind == PKT_KIND_ARP) {
		pk->verdict = answer_arp(s, port, pk, m);
		return CLS_DONE;
	}
	if (m->l4_proto == IPPROTO_TCP || m->l4_proto == IPPROTO_UDP)
		return classify_l4(w, s, port, pk, m, vip_slot);
	if (icmp_is_error(m) &&
	    (is_ours(s, port, &m->dst) || (s->has_nat && !is_port_addr(port, &m->dst)))) {
		/* Errors are handled where the flow lives (RSS hashes them anywhere). */
		uint32_t owner = pk->handed ? LB_NO_SLOT : icmp_owner(w, s, pk, m);
		if (owner != LB_NO_SLOT && owner != w->index)
			return handoff(pk, owner);
		return CLS_ICMP;
	}
	if (m->frag == PKT_FRAG_NONE)
		classify_icmp(s, port, pk, m);
	return CLS_DONE;
}

/*
 * classify_parsed() after the general parser: <*vip_slot> LB_NO_SLOT on
 * entry. Out of line: inlined, it cost the fast path 11 instructions per
 * packet (callgrind), in registers the burst loop then lacked.
 */
__attribute__((noinline)) enum cls classify(const struct lb_worker *w, const struct lb_snapshot *s,
					    struct lb_pkt *pk, struct pkt_meta *m,
					    uint32_t *vip_slot)
{
	return classify_parsed(w, s, pk, m, parse_packet(pk->data, pk->len, m), vip_slot);
}

/*
 * What Sluice does not own goes to the kernel when the port has an exception
 * path: traffic for the host's own addresses, its ARP and ND, and protocols
 * Sluice does not speak. Packets that are ours but bad stay dropped.
 */
static bool to_kernel(const struct lb_snapshot *s, const struct lb_pkt *pk)
{
	if (pk->in_port >= s->n_ports || !s->ports[pk->in_port].kernel || pk->handed)
		return false;
	return pk->drop == LB_DROP_NOT_OURS || pk->drop == PARSE_ETHERTYPE ||
	       pk->drop == PARSE_ARP_UNSUPPORTED || pk->drop == PARSE_VLAN_STACKED;
}

/* The general path's tally of one packet's verdict (rx is counted per burst). */
void count_verdict(struct lb_counters *c, const struct lb_snapshot *s, struct lb_pkt *pk,
		   const struct pkt_meta *m)
{
	switch (pk->verdict) {
	case LB_VERDICT_TX:
		pk->drop = LB_DROP_NONE;
		if (!pk->answer && m->kind == PKT_KIND_IP &&
		    (m->l4_proto == IPPROTO_TCP || m->l4_proto == IPPROTO_UDP))
			c->fwd++;
		else
			c->replied++;
		break;
	case LB_VERDICT_MGMT:
		pk->drop = LB_DROP_NONE;
		c->to_mgmt++;
		break;
	case LB_VERDICT_HANDOFF:
		pk->drop = LB_DROP_NONE;
		c->handoff++;
		break;
	case LB_VERDICT_KERNEL:
		c->to_kernel++;
		break;
	default:
		if (to_kernel(s, pk)) {
			pk->verdict = LB_VERDICT_KERNEL;
			pk->drop = LB_DROP_NONE;
			c->to_kernel++;
			break;
		}
		c->drop[pk->drop < LB_DROP_MAX ? pk->drop : LB_DROP_NOT_OURS]++;
		break;
	}
}
