/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fast path of the pipeline (lb_worker.c): the common case, an
 * established IPv4 TCP/UDP flow of a dsr VIP, in a few dozen instructions.
 *
 * It has two halves around the burst's bulk flow lookup. fast4_parse()
 * recognises the packet from its bytes (no struct pkt_meta, no generic
 * parser) and builds its flow key and hash. fast4_forward() takes a packet
 * whose flow was found established on a backend still in service and
 * rewrites its Ethernet header. Anything either half does not take (IPv6,
 * VLAN tags, IP options, fragments, other VIP modes, new flows, SYN/FIN/RST,
 * a backend out of service, an unresolved neighbour) goes through the
 * general path, which decides everything about the packet again, so the
 * fast path never changes a verdict or a counter, only what they cost.
 */
#ifndef SLUICE_LB_FAST_H
#define SLUICE_LB_FAST_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "flow.h"
#include "lb.h"
#include "lb_internal.h"
#include "lb_worker.h"

#define FAST_ETH_HLEN 14
#define FAST_IP4_HLEN 20 /* no options */
#define FAST_TCP_HLEN 20
#define FAST_UDP_HLEN 8
#define FAST_TH_FIN   0x01
#define FAST_TH_SYN   0x02
#define FAST_TH_RST   0x04

/* The VIP slot of the IPv4 dsr service at <addr>:<port> (wire order), or LB_NO_SLOT. */
static inline uint32_t fast4_vip(const struct lb_snapshot *s, const uint8_t *addr,
				 const uint8_t *port, uint8_t proto)
{
	uint32_t a, i;
	uint16_t pt;

	memcpy(&a, addr, 4);
	memcpy(&pt, port, 2);
	i = lb_vip4_hash(a, pt, proto);
	for (uint32_t probes = 0; probes < LB_VIP_HASH; probes++) {
		const struct lb_vip4 *v = &s->fast4[i];

		if (v->proto == 0)
			return LB_NO_SLOT;
		if (v->addr == a && v->port_be == pt && v->proto == proto)
			return v->vip;
		i = (i + 1) & (LB_VIP_HASH - 1);
	}
	return LB_NO_SLOT;
}

/*
 * An untagged IPv4 frame, no options, not a fragment, carrying a whole TCP
 * or UDP header (the same bounds parse_packet() checks) to an IPv4 dsr VIP:
 * returns the VIP slot and fills <k>, <*hash> and <*tcp_flags> (0 for UDP).
 * LB_NO_SLOT: the general path takes the packet.
 */
static inline uint32_t fast4_parse(const struct lb_snapshot *s, const struct lb_pkt *pk,
				   struct flow_key *k, uint32_t *hash, uint8_t *tcp_flags)
{
	const uint8_t *p = pk->data, *ip = p + FAST_ETH_HLEN, *l4 = ip + FAST_IP4_HLEN;
	uint32_t tot, vip;
	uint8_t proto;

	if (pk->len < FAST_ETH_HLEN + FAST_IP4_HLEN + FAST_UDP_HLEN || pk->nonlinear || pk->handed)
		return LB_NO_SLOT;
	/* Ethertype IPv4, version 4 with IHL 5, neither MF nor a fragment offset (DF may be set).
	 */
	if (p[12] != 0x08 || p[13] != 0x00 || ip[0] != 0x45 || (ip[6] & 0x3f) != 0 || ip[7] != 0)
		return LB_NO_SLOT;
	tot = (uint32_t)ip[2] << 8 | ip[3];
	if (tot > (uint32_t)pk->len - FAST_ETH_HLEN)
		return LB_NO_SLOT;
	proto = ip[9];
	if (proto == IPPROTO_TCP) {
		uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;

		/* tot >= 40 first: then l4[12] is inside the frame. */
		if (tot < FAST_IP4_HLEN + FAST_TCP_HLEN || doff < FAST_TCP_HLEN ||
		    doff > tot - FAST_IP4_HLEN)
			return LB_NO_SLOT;
		*tcp_flags = l4[13];
	} else if (proto == IPPROTO_UDP) {
		if (tot < FAST_IP4_HLEN + FAST_UDP_HLEN)
			return LB_NO_SLOT;
		*tcp_flags = 0;
	} else {
		return LB_NO_SLOT;
	}
	vip = fast4_vip(s, ip + 16, l4 + 2, proto);
	if (vip == LB_NO_SLOT)
		return LB_NO_SLOT;
	lb_addr_set_v4(&k->src, ip + 12);
	lb_addr_set_v4(&k->dst, ip + 16);
	memcpy(&k->sport, l4, 4); /* both ports, as on the wire */
	k->proto = proto;
	memset(k->pad, 0, sizeof(k->pad));
	*hash = flow_hash_v4(ip + 12, ip + 16, l4, proto);
	return vip;
}

/*
 * Forwards packet <pk> of flow <e> (found for it in VIP <vip_slot>) when the
 * flow is established, the packet does not change its state, and its
 * backend is still in service and resolved: as the general path would, with
 * nothing written to the entry but its last-seen time, and that only when
 * the millisecond changed. Returns false, touching nothing, otherwise.
 */
static inline bool fast4_forward(struct lb_worker *w, const struct lb_snapshot *s,
				 struct lb_pkt *pk, struct flow_entry *e, uint32_t vip_slot,
				 uint8_t tcp_flags)
{
	const struct lb_backend_rt *b;
	struct lb_counters *c = w->ctr;
	uint64_t word;

	if (e == NULL || (e->state != FLOW_TCP_EST && e->state != FLOW_UDP_EST) ||
	    (tcp_flags & (FAST_TH_SYN | FAST_TH_FIN | FAST_TH_RST)))
		return false;
	b = &s->backends[e->backend_slot];
	if (b->uid != e->backend_uid || b->vip_slot != vip_slot || b->fate != LB_FATE_STAY)
		return false;
	word = w->neigh->word[b->neigh_slot];
	if (!(word & LB_NEIGH_VALID))
		return false;
	if (e->last_seen != w->now_ms)
		e->last_seen = w->now_ms;
	lb_neigh_unpack(word, pk->data);
	memcpy(pk->data + 6, s->ports[b->out_port].mac, 6);
	pk->out_port = b->out_port;
	pk->verdict = LB_VERDICT_TX;
	pk->drop = LB_DROP_NONE;
	pk->answer = 0;
	pk->tx_offload = 0;
	c->vip[vip_slot].pkts++;
	c->vip[vip_slot].bytes += pk->len;
	c->backend[e->backend_slot].pkts++;
	c->backend[e->backend_slot].bytes += pk->len;
	return true;
}

#endif
