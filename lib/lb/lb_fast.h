/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fast path of the pipeline (lb_worker.c): the common case, a packet of
 * an established IPv4 or IPv6 TCP/UDP flow of a dsr, tunnel, fnat or nat
 * VIP (fnat and nat either way), in a few dozen instructions.
 *
 * It has two halves around the burst's bulk flow lookup. fast4_parse() and
 * fast6_parse() recognise the packet from its bytes (no struct pkt_meta, no
 * generic parser) and build its flow key and hash: a client's packet to a
 * VIP, or a backend's reply to a full-NAT local address of this lcore, or
 * (when a nat VIP exists) to any other address. Then fast4_dsr(),
 * fast4_tunnel(), fast4_nat() or fast4_reply() (fast6_* for IPv6) take a
 * packet whose flow was found established on a backend still in service,
 * and rewrite it as the general path would (fnat and nat: the connection's
 * precomputed checksum change). Anything they do not take (VLAN tags, IP
 * options or IPv6 extension headers, fragments, new flows, SYN/FIN/RST, a
 * backend out of service, an unresolved neighbour, a TTL running out,
 * checksum offload, response timeouts, a packet too big for its tunnel, a
 * nat connection another lcore owns, a group source MAC) goes through the
 * general path, which decides everything about the packet again, from the
 * parser's result that fast4_meta()/fast6_meta() rebuild, so the fast path
 * never changes a verdict or a counter, only what they cost
 * (test_fast_path_changes_nothing).
 */
#ifndef SLUICE_LB_FAST_H
#define SLUICE_LB_FAST_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "flow.h"
#include "lb.h"
#include "lb_internal.h"
#include "lb_stage.h"
#include "lb_worker.h"
#include "parse.h"
#include "pkt_bytes.h"

#define FAST_ETH_HLEN 14
#define FAST_IP4_HLEN 20 /* no options */
#define FAST_TCP_HLEN 20
#define FAST_UDP_HLEN 8
#define FAST_TH_FIN   0x01
#define FAST_TH_SYN   0x02
#define FAST_TH_RST   0x04

/*
 * The IPv4 service <addr>:<port>/<proto> (wire order), or local address
 * <addr> (proto LB_VIP4_LADDR, port 0); NULL: none.
 */
static inline const struct lb_vip4 *fast4_vip(const struct lb_snapshot *s, const uint8_t *addr,
					      const uint8_t *port, uint8_t proto)
{
	uint32_t a, i;
	uint16_t pt;

	memcpy(&a, addr, 4);
	memcpy(&pt, port, 2);
	i = lb_vip4_hash(a, pt, proto);
	for (uint32_t probes = 0; probes < LB_VIP_HASH; probes++) {
		const struct lb_vip4 *v = &s->fast4[i];

		/*
		 * The match first (<proto> is never 0, the mark of an empty
		 * slot): a VIP's packet, the common case, skips the empty test.
		 */
		if (v->addr == a && v->port_be == pt && v->proto == proto)
			return v;
		if (v->proto == 0)
			return NULL;
		i = (i + 1) & (LB_VIP_HASH - 1);
	}
	return NULL;
}

/* What fast4_parse() found. */
enum fast4_kind {
	FAST4_NONE = 0, /* the general path takes it */
	FAST4_DSR,      /* a client's packet to a dsr VIP */
	FAST4_TUNNEL,   /* a client's packet to a tunnel VIP */
	FAST4_NAT,      /* a client's packet to a fnat or nat VIP */
	/* a backend's packet to a local address this lcore owns, or (nat) a client */
	FAST4_REPLY,
	/* The same for IPv6 (fast6_parse()): a dsr packet is forwarded as fast4_dsr() does. */
	FAST6_DSR,
	FAST6_TUNNEL,
	FAST6_NAT,
	FAST6_REPLY,
};

/* The fast path's kind for a VIP in <mode>. */
static const uint8_t fast4_of_mode[SL_MODE_MAX] = {
	[SL_MODE_DSR] = FAST4_DSR,
	[SL_MODE_TUNNEL] = FAST4_TUNNEL,
	[SL_MODE_FNAT] = FAST4_NAT,
	[SL_MODE_NAT] = FAST4_NAT,
};
#define FAST6_OF(kind) ((enum fast4_kind)((kind)-FAST4_DSR + FAST6_DSR))

/*
 * An untagged IPv4 frame, no options, not a fragment, carrying a whole TCP
 * or UDP header (the same bounds parse_packet() checks), to an IPv4 VIP
 * (*vip its slot), to a local address of this lcore, or (a nat VIP exists)
 * to another address, which may be a nat client: fills <k>, <*hash> and
 * <*tcp_flags> (0 for UDP). Classified as classify() would: a VIP first,
 * then a local address, then a nat client. What another lcore owns (a
 * local address's reply by its destination port, a nat connection by its
 * client's address and port) is left to the general path, which hands it
 * over.
 */
static inline enum fast4_kind fast4_parse(const struct lb_worker *w, const struct lb_snapshot *s,
					  const struct lb_pkt *pk, struct flow_key *k,
					  uint32_t *hash, uint8_t *tcp_flags, uint32_t *vip)
{
	static const uint8_t no_port[2];
	const uint8_t *client = NULL; /* nat: the client's address in the packet */
	const struct lb_vip4 *v;
	enum fast4_kind kind;
	const uint8_t *p = pk->data, *ip = p + FAST_ETH_HLEN, *l4 = ip + FAST_IP4_HLEN;
	uint32_t tot;
	uint8_t proto;

	if (pk->len < FAST_ETH_HLEN + FAST_IP4_HLEN + FAST_UDP_HLEN || pk->nonlinear ||
	    pk->handed || pk->rx_csum == LB_RX_CSUM_BAD)
		return FAST4_NONE;
	/*
	 * Ethertype IPv4, version 4 with IHL 5, neither MF nor a fragment offset
	 * (DF may be set), TTL not 0, and a source MAC that names one sender
	 * (the general path drops the others).
	 */
	if (p[12] != 0x08 || p[13] != 0x00 || ip[0] != 0x45 || (ip[6] & 0x3f) != 0 || ip[7] != 0 ||
	    ip[8] == 0 || (p[6] & 1))
		return FAST4_NONE;
	tot = (uint32_t)ip[2] << 8 | ip[3];
	if (tot > (uint32_t)pk->len - FAST_ETH_HLEN)
		return FAST4_NONE;
	proto = ip[9];
	if (proto == IPPROTO_TCP) {
		uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;

		/* tot >= 40 first: then l4[12] is inside the frame. */
		if (tot < FAST_IP4_HLEN + FAST_TCP_HLEN || doff < FAST_TCP_HLEN ||
		    doff > tot - FAST_IP4_HLEN)
			return FAST4_NONE;
		*tcp_flags = l4[13];
	} else if (proto == IPPROTO_UDP) {
		uint32_t ulen = (uint32_t)l4[4] << 8 | l4[5];

		/* A length past the packet or under the header: the parser's udp_bad_len. */
		if (tot < FAST_IP4_HLEN + FAST_UDP_HLEN || ulen < FAST_UDP_HLEN ||
		    ulen > tot - FAST_IP4_HLEN)
			return FAST4_NONE;
		*tcp_flags = 0;
	} else {
		return FAST4_NONE;
	}
	v = fast4_vip(s, ip + 16, l4 + 2, proto);
	if (v != NULL) {
		kind = v->mode < SL_MODE_MAX ? (enum fast4_kind)fast4_of_mode[v->mode] : FAST4_NONE;
		if (v->mode == SL_MODE_NAT)
			client = ip + 12; /* the source, its port first in l4 */
		*vip = v->vip;
	} else if (fast4_vip(s, ip + 16, no_port, LB_VIP4_LADDR) != NULL) {
		if (((uint32_t)l4[2] << 8 | l4[3]) % w->n_workers != w->index)
			return FAST4_NONE;
		kind = FAST4_REPLY;
	} else if (s->has_nat) {
		kind = FAST4_REPLY;
		client = ip + 16; /* the destination, its port second in l4 */
	} else {
		return FAST4_NONE;
	}
	if (kind == FAST4_NONE)
		return FAST4_NONE;
	sl_addr_set_v4(&k->src, ip + 12);
	sl_addr_set_v4(&k->dst, ip + 16);
	memcpy(&k->sport, l4, 4); /* both ports, as on the wire */
	k->proto = proto;
	memset(k->pad, 0, sizeof(k->pad));
	/* nat: the lcore of the client's address and port owns the connection. */
	if (client != NULL && w->n_workers > 1 &&
	    nat_owner(w, client == ip + 12 ? &k->src : &k->dst,
		      client == ip + 12 ? k->sport : k->dport) != w->index)
		return FAST4_NONE;
	*hash = flow_hash_v4(ip + 12, ip + 16, l4, proto);
	return kind;
}

#define FAST_IP6_HLEN 40 /* no extension headers */

/*
 * fast4_parse() for IPv6: an untagged frame whose next header is TCP or UDP
 * itself (no extension header), hop limit not 0, a whole L4 header. The
 * VIP and the local address are looked up in the snapshot's general tables
 * (there is no IPv6 table of the fast path's own).
 */
static inline enum fast4_kind fast6_parse(const struct lb_worker *w, const struct lb_snapshot *s,
					  const struct lb_pkt *pk, struct flow_key *k,
					  uint32_t *hash, uint8_t *tcp_flags, uint32_t *vip)
{
	const uint8_t *p = pk->data, *ip = p + FAST_ETH_HLEN, *l4 = ip + FAST_IP6_HLEN;
	const struct sl_addr *client = NULL; /* nat: the client's address in the key */
	enum fast4_kind kind;
	uint32_t plen, slot;
	uint8_t proto;

	if (pk->len < FAST_ETH_HLEN + FAST_IP6_HLEN + FAST_UDP_HLEN || pk->nonlinear ||
	    pk->handed || pk->rx_csum == LB_RX_CSUM_BAD)
		return FAST4_NONE;
	if (p[12] != 0x86 || p[13] != 0xdd || (ip[0] >> 4) != 6 || ip[7] == 0 || (p[6] & 1))
		return FAST4_NONE;
	plen = pkt_get16(ip + 4);
	if (plen > (uint32_t)pk->len - FAST_ETH_HLEN - FAST_IP6_HLEN)
		return FAST4_NONE;
	proto = ip[6];
	if (proto == IPPROTO_TCP) {
		uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;

		/* plen >= 20 first: then l4[12] is inside the frame. */
		if (plen < FAST_TCP_HLEN || doff < FAST_TCP_HLEN || doff > plen)
			return FAST4_NONE;
		*tcp_flags = l4[13];
	} else if (proto == IPPROTO_UDP) {
		uint32_t ulen = pkt_get16(l4 + 4);

		if (ulen < FAST_UDP_HLEN || ulen > plen)
			return FAST4_NONE;
		*tcp_flags = 0;
	} else {
		return FAST4_NONE;
	}
	sl_addr_set_v6(&k->src, ip + 8);
	sl_addr_set_v6(&k->dst, ip + 24);
	memcpy(&k->sport, l4, 4); /* both ports, as on the wire */
	k->proto = proto;
	memset(k->pad, 0, sizeof(k->pad));
	slot = lb_vip_find(s, &k->dst, k->dport, proto);
	if (slot != LB_NO_SLOT) {
		uint8_t mode = s->vips[slot].mode;

		kind = mode < SL_MODE_MAX && fast4_of_mode[mode] != FAST4_NONE
			       ? FAST6_OF(fast4_of_mode[mode])
			       : FAST4_NONE;
		if (mode == SL_MODE_NAT)
			client = &k->src;
		*vip = slot;
	} else if (lb_laddr_find(s, &k->dst) != LB_NO_SLOT) {
		if (ntohs(k->dport) % w->n_workers != w->index)
			return FAST4_NONE;
		kind = FAST6_REPLY;
	} else if (s->has_nat) {
		kind = FAST6_REPLY;
		client = &k->dst;
	} else {
		return FAST4_NONE;
	}
	/* nat: the lcore of the client's address and port owns the connection. */
	if (kind == FAST4_NONE ||
	    (client != NULL && w->n_workers > 1 &&
	     nat_owner(w, client, client == &k->src ? k->sport : k->dport) != w->index))
		return FAST4_NONE;
	*hash = flow_hash(k);
	return kind;
}

/*
 * What parse_packet() finds in a frame fast4_parse() took (untagged IPv4
 * without options, not a fragment, a whole TCP or UDP header), without
 * parsing it again: a packet the fast path gives back (a new flow, a SYN,
 * ...) goes on to the general path's classify_parsed().
 */
static inline void fast4_meta(const struct lb_pkt *pk, struct pkt_meta *m)
{
	const uint8_t *ip = pk->data + FAST_ETH_HLEN, *l4 = ip + FAST_IP4_HLEN;

	*m = (struct pkt_meta){
		.kind = PKT_KIND_IP,
		.l3_off = FAST_ETH_HLEN,
		.l4_off = FAST_ETH_HLEN + FAST_IP4_HLEN,
		.l3_end = (uint16_t)(FAST_ETH_HLEN + pkt_get16(ip + 2)),
		.l4_proto = ip[9],
		.tcp_flags = ip[9] == IPPROTO_TCP ? l4[13] : 0,
		.ttl = ip[8],
	};
	memcpy(&m->sport, l4, 2);
	memcpy(&m->dport, l4 + 2, 2);
	sl_addr_set_v4(&m->src, ip + 12);
	sl_addr_set_v4(&m->dst, ip + 16);
}

/* fast4_meta() for a frame fast6_parse() took. */
static inline void fast6_meta(const struct lb_pkt *pk, struct pkt_meta *m)
{
	const uint8_t *ip = pk->data + FAST_ETH_HLEN, *l4 = ip + FAST_IP6_HLEN;

	*m = (struct pkt_meta){
		.kind = PKT_KIND_IP,
		.is_v6 = 1,
		.l3_off = FAST_ETH_HLEN,
		.l4_off = FAST_ETH_HLEN + FAST_IP6_HLEN,
		.l3_end = (uint16_t)(FAST_ETH_HLEN + FAST_IP6_HLEN + pkt_get16(ip + 4)),
		.l4_proto = ip[6],
		.tcp_flags = ip[6] == IPPROTO_TCP ? l4[13] : 0,
		.ttl = ip[7],
	};
	memcpy(&m->sport, l4, 2);
	memcpy(&m->dport, l4 + 2, 2);
	sl_addr_set_v6(&m->src, ip + 8);
	sl_addr_set_v6(&m->dst, ip + 24);
}

/*
 * The backend of established flow <e> of VIP <vip_slot>, when the packet
 * (<tcp_flags>) leaves the flow's state as it is and the backend is still
 * in service: the general path's balance() would return it at once. NULL
 * otherwise.
 */
static inline const struct lb_snap_backend *fast4_backend(const struct lb_snapshot *s,
							  const struct flow_entry *e,
							  uint32_t vip_slot, uint8_t tcp_flags)
{
	const struct lb_snap_backend *b;

	if (e == NULL || (e->state != FLOW_TCP_EST && e->state != FLOW_UDP_EST) ||
	    (tcp_flags & (FAST_TH_SYN | FAST_TH_FIN | FAST_TH_RST)))
		return NULL;
	b = &s->backends[e->backend_slot];
	if (b->uid != e->backend_uid || b->vip_slot != vip_slot || b->fate != LB_FATE_STAY)
		return NULL;
	return b;
}

/* last_seen = now, written only when the millisecond changed. */
static inline void fast4_seen(struct flow_entry *e, uint32_t now)
{
	if (e->last_seen != now)
		e->last_seen = now;
}

/* The packet leaves by <out_port> to <dst_mac>: TX verdict, counted for VIP and backend. */
static inline void fast4_send(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			      uint16_t out_port, uint32_t vip_slot, uint32_t backend_slot)
{
	struct lb_counters *c = w->ctr;

	memcpy(pk->data + 6, s->ports[out_port].mac, 6);
	pk->out_port = out_port;
	pk->verdict = LB_VERDICT_TX;
	pk->drop = LB_DROP_NONE;
	pk->answer = 0;
	pk->tx_offload = 0;
	c->vip[vip_slot].pkts++;
	c->vip[vip_slot].bytes += pk->len;
	c->backend[backend_slot].pkts++;
	c->backend[backend_slot].bytes += pk->len;
}

/*
 * Forwards packet <pk> of dsr flow <e> (found for it in VIP <vip_slot>) when
 * fast4_backend() gives its backend and that is resolved: two MAC stores,
 * nothing written to the entry but its last-seen time. Returns false,
 * touching nothing, otherwise.
 */
static inline bool fast4_dsr(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			     struct flow_entry *e, uint32_t vip_slot, uint8_t tcp_flags)
{
	const struct lb_snap_backend *b = fast4_backend(s, e, vip_slot, tcp_flags);
	uint64_t word;

	if (b == NULL)
		return false;
	word = w->neigh->word[b->neigh_slot];
	if (!(word & LB_NEIGH_VALID))
		return false;
	fast4_seen(e, w->now_ms);
	lb_neigh_unpack(word, pk->data);
	fast4_send(w, s, pk, b->out_port, vip_slot, e->backend_slot);
	return true;
}

/*
 * A client's packet of established tunnel flow <e> (VIP <vip_slot>): as
 * fast4_dsr(), inside an IP-in-IP header from the out port's address to the
 * backend (RFC 2003), built as tunnel_encap() builds it. Not taken: no room
 * in front of the frame, an out port without IPv4, a packet that would not
 * fit the port once encapsulated (the general path answers the client).
 */
static inline bool fast4_tunnel(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
				struct flow_entry *e, uint32_t vip_slot, uint8_t tcp_flags)
{
	const struct lb_snap_backend *b = fast4_backend(s, e, vip_slot, tcp_flags);
	const struct lb_port_info *out;
	uint32_t inner, sum;
	uint64_t word;
	uint8_t *ip;

	if (b == NULL)
		return false;
	out = &s->ports[b->out_port];
	inner = (uint32_t)pkt_get16(pk->data + FAST_ETH_HLEN + 2);
	word = w->neigh->word[b->neigh_slot];
	if (!(word & LB_NEIGH_VALID) || pk->headroom < FAST_IP4_HLEN || !out->has_ipv4 ||
	    inner + FAST_IP4_HLEN > out->mtu)
		return false;
	fast4_seen(e, w->now_ms);
	pk->data -= FAST_IP4_HLEN;
	pk->headroom = (uint16_t)(pk->headroom - FAST_IP4_HLEN);
	memmove(pk->data, pk->data + FAST_IP4_HLEN, FAST_ETH_HLEN);
	ip = pk->data + FAST_ETH_HLEN;
	ip[0] = 0x45;
	ip[1] = ip[FAST_IP4_HLEN + 1]; /* DSCP/ECN copied out (RFC 2003 3.1) */
	pkt_put16(ip + 2, (uint16_t)(FAST_IP4_HLEN + inner));
	pkt_put16(ip + 4, 0);
	pkt_put16(ip + 6, ip[FAST_IP4_HLEN + 6] & 0x40 ? 0x4000 : 0); /* DF copied */
	ip[8] = 64;
	ip[9] = IPPROTO_IPIP_;
	memcpy(ip + 12, sl_addr_v4_bytes(&out->ipv4), 4);
	memcpy(ip + 16, sl_addr_v4_bytes(&b->addr), 4);
	pkt_put16(ip + 10, 0);
	sum = pkt_csum_add(0, ip, FAST_IP4_HLEN);
	pkt_put16(ip + 10, pkt_csum_fold(sum));
	pk->len = (uint16_t)(FAST_ETH_HLEN + FAST_IP4_HLEN + inner); /* Ethernet padding dropped */
	lb_neigh_unpack(word, pk->data);
	fast4_send(w, s, pk, b->out_port, vip_slot, e->backend_slot);
	return true;
}

/*
 * Routes and translates an IPv4 packet whose TTL was checked: TTL down by
 * one, the connection's checksum change <d> applied (a UDP datagram without
 * a checksum keeps none), then source (unless <src> is NULL: nat keeps the
 * client's) and destination rewritten (wire order).
 */
static inline void fast4_translate(uint8_t *ip, uint8_t proto, const struct lb_csum_delta *d,
				   const uint8_t *src, uint16_t sport_be, const uint8_t *dst,
				   uint16_t dport_be)
{
	uint8_t *l4 = ip + FAST_IP4_HLEN;
	uint8_t *l4csum = proto == IPPROTO_UDP ? l4 + 6 : l4 + 16;

	ip[8]--;
	pkt_csum_apply(ip + 10, d->ip);
	if (!(proto == IPPROTO_UDP && pkt_get16(l4csum) == 0)) {
		pkt_csum_apply(l4csum, d->l4);
		if (proto == IPPROTO_UDP && pkt_get16(l4csum) == 0)
			pkt_put16(l4csum, 0xffff); /* 0 means "no checksum" (RFC 768) */
	}
	if (src != NULL) {
		memcpy(ip + 12, src, 4);
		memcpy(l4, &sport_be, 2);
	}
	memcpy(ip + 16, dst, 4);
	memcpy(l4 + 2, &dport_be, 2);
}

/*
 * What a translated packet of either family needs before it is rewritten.
 * Forward (fast4_nat, fast6_nat): the backend of established connection
 * <e> of VIP <vip_slot>, its L2 hop's neighbour word (*word) and the
 * connection's NAT state (*x); NULL when the fast path cannot take the
 * packet: a VIP with a response timeout, <hops> (TTL or hop limit) running
 * out, an out port that computes the checksums itself, no L2 hop yet.
 */
static inline const struct lb_snap_backend *
fast_nat_ready(struct lb_worker *w, const struct lb_snapshot *s, const struct flow_entry *e,
	       uint32_t vip_slot, uint8_t tcp_flags, uint8_t hops, uint64_t *word,
	       const struct lb_flow_ext **x)
{
	const struct lb_snap_backend *b = fast4_backend(s, e, vip_slot, tcp_flags);

	if (b == NULL || s->vips[vip_slot].response_timeout_ms != 0 || hops <= 1 ||
	    s->ports[b->out_port].tx_csum_offload)
		return NULL;
	*word = w->neigh->word[b->neigh_slot];
	*x = ext_of(w, e);
	if (!(*word & LB_NEIGH_VALID) || (*x)->peer == NULL)
		return NULL;
	return b;
}

/* A translated forward packet leaves: both entries seen, the backend's MACs, counted. */
static inline void fast_nat_send(struct lb_worker *w, const struct lb_snapshot *s,
				 struct lb_pkt *pk, struct flow_entry *e,
				 const struct lb_flow_ext *x, const struct lb_snap_backend *b,
				 uint64_t word, uint32_t vip_slot)
{
	fast4_seen(e, w->now_ms);
	fast4_seen(x->peer, w->now_ms);
	lb_neigh_unpack(word, pk->data);
	fast4_send(w, s, pk, b->out_port, vip_slot, e->backend_slot);
}

/*
 * Reply (fast4_reply, fast6_reply): the forward entry of the connection
 * whose reverse entry is <r>, and its NAT state (*fx), when the backend has
 * answered before, no answer to the client's data is awaited and <hops> is
 * not running out; NULL otherwise.
 */
static inline struct flow_entry *fast_reply_conn(struct lb_worker *w, const struct lb_snapshot *s,
						 const struct flow_entry *r, uint8_t tcp_flags,
						 uint8_t hops, const struct lb_flow_ext **fx)
{
	const struct lb_flow_ext *rx;
	struct flow_entry *f;

	if (r == NULL || hops <= 1)
		return NULL;
	rx = ext_of(w, r);
	f = rx->peer;
	if (!rx->reverse || f == NULL || f->user != 0 ||
	    !(s->vips[f->vip_slot].traits & LB_TRAIT_SEES_REPLIES) ||
	    fast4_backend(s, f, f->vip_slot, tcp_flags) == NULL)
		return NULL;
	*fx = ext_of(w, f);
	if (!(*fx)->answered || s->ports[(*fx)->client_port].tx_csum_offload)
		return NULL;
	return f;
}

/* A translated reply leaves: both entries seen, to the client's L2 hop, counted. */
static inline void fast_reply_send(struct lb_worker *w, const struct lb_snapshot *s,
				   struct lb_pkt *pk, struct flow_entry *f, struct flow_entry *r,
				   const struct lb_flow_ext *fx)
{
	fast4_seen(f, w->now_ms);
	fast4_seen(r, w->now_ms);
	memcpy(pk->data, fx->client_mac, 6);
	fast4_send(w, s, pk, fx->client_port, f->vip_slot, f->backend_slot);
}

/*
 * A client's packet of established fnat or nat connection <e> (VIP
 * <vip_slot>) towards its backend, as fast4_dsr() but translated (nat: the
 * destination only). Not taken: a VIP with a response timeout, a TTL
 * running out, an out port that computes the checksums itself.
 */
static inline bool fast4_nat(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			     struct flow_entry *e, uint32_t vip_slot, uint8_t tcp_flags)
{
	uint8_t *ip = pk->data + FAST_ETH_HLEN;
	const struct lb_flow_ext *x;
	uint64_t word;
	const struct lb_snap_backend *b =
		fast_nat_ready(w, s, e, vip_slot, tcp_flags, ip[8], &word, &x);

	if (b == NULL)
		return false;
	fast4_translate(ip, e->key.proto, &x->to_backend,
			s->vips[vip_slot].mode == SL_MODE_FNAT
				? sl_addr_v4_bytes(&s->laddrs[x->laddr])
				: NULL,
			x->lport_be, sl_addr_v4_bytes(&b->addr), b->port_be);
	fast_nat_send(w, s, pk, e, x, b, word, vip_slot);
	return true;
}

/*
 * A backend's packet to a full-NAT local address or (nat) to a client,
 * found as reverse entry <r> of an established connection the backend has
 * answered before: translated back to come from the VIP, and sent to the L2
 * hop the client's packets came from. Not taken: as fast4_fnat(), and while an answer to the
 * client's data is awaited (response timeout).
 */
static inline bool fast4_reply(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			       struct flow_entry *r, uint8_t tcp_flags)
{
	uint8_t *ip = pk->data + FAST_ETH_HLEN;
	const struct lb_flow_ext *fx;
	struct flow_entry *f = fast_reply_conn(w, s, r, tcp_flags, ip[8], &fx);

	if (f == NULL)
		return false;
	fast4_translate(ip, f->key.proto, &fx->to_client, sl_addr_v4_bytes(&f->key.dst),
			f->key.dport, sl_addr_v4_bytes(&f->key.src), f->key.sport);
	fast_reply_send(w, s, pk, f, r, fx);
	w->ctr->nat_replies++;
	return true;
}

/* fast4_tunnel() for IPv6: inside an IPv6 header from the out port's address (RFC 2473). */
static inline bool fast6_tunnel(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
				struct flow_entry *e, uint32_t vip_slot, uint8_t tcp_flags)
{
	const struct lb_snap_backend *b = fast4_backend(s, e, vip_slot, tcp_flags);
	const struct lb_port_info *out;
	uint32_t inner;
	uint64_t word;
	uint8_t *ip;

	if (b == NULL)
		return false;
	out = &s->ports[b->out_port];
	inner = FAST_IP6_HLEN + (uint32_t)pkt_get16(pk->data + FAST_ETH_HLEN + 4);
	word = w->neigh->word[b->neigh_slot];
	if (!(word & LB_NEIGH_VALID) || pk->headroom < FAST_IP6_HLEN || !out->has_ipv6 ||
	    inner + FAST_IP6_HLEN > out->mtu)
		return false;
	fast4_seen(e, w->now_ms);
	pk->data -= FAST_IP6_HLEN;
	pk->headroom = (uint16_t)(pk->headroom - FAST_IP6_HLEN);
	memmove(pk->data, pk->data + FAST_IP6_HLEN, FAST_ETH_HLEN);
	ip = pk->data + FAST_ETH_HLEN;
	memcpy(ip, ip + FAST_IP6_HLEN, 4); /* version, traffic class, flow label copied */
	pkt_put16(ip + 4, (uint16_t)inner);
	ip[6] = IPPROTO_IP6_;
	ip[7] = 64;
	memcpy(ip + 8, out->ipv6.b, 16);
	memcpy(ip + 24, b->addr.b, 16);
	pk->len = (uint16_t)(FAST_ETH_HLEN + FAST_IP6_HLEN + inner); /* Ethernet padding dropped */
	lb_neigh_unpack(word, pk->data);
	fast4_send(w, s, pk, b->out_port, vip_slot, e->backend_slot);
	return true;
}

/*
 * fast4_translate() for IPv6: hop limit down by one, the L4 checksum by
 * the connection's change (IPv6 has no header checksum, and a UDP checksum
 * is never absent), addresses and ports rewritten.
 */
static inline void fast6_translate(uint8_t *ip, uint8_t proto, const struct lb_csum_delta *d,
				   const uint8_t *src, uint16_t sport_be, const uint8_t *dst,
				   uint16_t dport_be)
{
	uint8_t *l4 = ip + FAST_IP6_HLEN;
	uint8_t *l4csum = proto == IPPROTO_UDP ? l4 + 6 : l4 + 16;

	ip[7]--;
	pkt_csum_apply(l4csum, d->l4);
	if (proto == IPPROTO_UDP && pkt_get16(l4csum) == 0)
		pkt_put16(l4csum, 0xffff);
	if (src != NULL) {
		memcpy(ip + 8, src, 16);
		memcpy(l4, &sport_be, 2);
	}
	memcpy(ip + 24, dst, 16);
	memcpy(l4 + 2, &dport_be, 2);
}

/* fast4_nat() for IPv6. */
static inline bool fast6_nat(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			     struct flow_entry *e, uint32_t vip_slot, uint8_t tcp_flags)
{
	uint8_t *ip = pk->data + FAST_ETH_HLEN;
	const struct lb_flow_ext *x;
	uint64_t word;
	const struct lb_snap_backend *b =
		fast_nat_ready(w, s, e, vip_slot, tcp_flags, ip[7], &word, &x);

	if (b == NULL)
		return false;
	fast6_translate(ip, e->key.proto, &x->to_backend,
			s->vips[vip_slot].mode == SL_MODE_FNAT ? s->laddrs[x->laddr].b : NULL,
			x->lport_be, b->addr.b, b->port_be);
	fast_nat_send(w, s, pk, e, x, b, word, vip_slot);
	return true;
}

/* fast4_reply() for IPv6. */
static inline bool fast6_reply(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			       struct flow_entry *r, uint8_t tcp_flags)
{
	uint8_t *ip = pk->data + FAST_ETH_HLEN;
	const struct lb_flow_ext *fx;
	struct flow_entry *f = fast_reply_conn(w, s, r, tcp_flags, ip[7], &fx);

	if (f == NULL)
		return false;
	fast6_translate(ip, f->key.proto, &fx->to_client, f->key.dst.b, f->key.dport, f->key.src.b,
			f->key.sport);
	fast_reply_send(w, s, pk, f, r, fx);
	w->ctr->nat_replies++;
	return true;
}

#endif
