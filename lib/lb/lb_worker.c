/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The burst loop: the fast path first (lb_fast.h), then for the rest
 * classify (answers, replies, ICMP errors, VIP traffic), balance (the flow
 * table, a scheduler on a miss), forward by the VIP's mode, and count.
 */
#include <stdlib.h>

#include "lb_fast.h"
#include "lb_stage.h"
#include "scheduler.h"

/*
 * Every flow that leaves the table passes here (expiry, eviction, removal):
 * the active count of its backend drops, a full-NAT port is given back,
 * and the other entry of a NAT connection goes with it.
 */
static void on_flow_removed(const struct flow_entry *e, void *arg)
{
	struct lb_worker *w = arg;
	struct lb_flow_ext *x = ext_of(w, e);
	struct flow_entry *peer = x->peer;

	w->table_changed = true;
	if (!x->reverse && resp_timeout_due(w, e))
		nat_rt_count(w, e, x); /* a hung backend's connection that expired or was evicted */
	if (!x->reverse && counts_active(e->state) && e->backend_slot < LB_MAX_BACKENDS &&
	    w->active[e->backend_slot] > 0)
		w->active[e->backend_slot]--;
	if (!x->reverse && x->lport_be != 0)
		port_free(w, x->laddr, ntohs(x->lport_be));
	memset(x, 0, sizeof(*x));
	if (peer != NULL) {
		ext_of(w, peer)->peer = NULL;
		flow_remove(w->flows, peer);
	}
}

struct lb_worker *lb_worker_create(uint32_t index, uint32_t n_workers, uint32_t flow_capacity,
				   const struct flow_timeouts *timeouts,
				   const struct lb_neigh_table *neigh, const struct lb_load *load)
{
	return lb_worker_create_mem(index, n_workers, flow_capacity, timeouts, neigh, load, NULL);
}

struct lb_worker *lb_worker_create_mem(uint32_t index, uint32_t n_workers, uint32_t flow_capacity,
				       const struct flow_timeouts *timeouts,
				       const struct lb_neigh_table *neigh,
				       const struct lb_load *load, const struct flow_mem *mem)
{
	struct lb_worker *w;

	if (index >= LB_MAX_LCORES || n_workers == 0 || index >= n_workers || neigh == NULL ||
	    load == NULL)
		return NULL;
	if (posix_memalign((void **)&w, 64, sizeof(*w)) != 0)
		return NULL;
	memset(w, 0, sizeof(*w));
	if (posix_memalign((void **)&w->ctr, 64, sizeof(*w->ctr)) != 0) {
		free(w);
		return NULL;
	}
	memset(w->ctr, 0, sizeof(*w->ctr));
	w->index = index;
	w->n_workers = n_workers;
	w->avoid_slot = LB_NO_SLOT;
	w->neigh = neigh;
	w->load = load;
	w->flows = flow_table_create_mem(flow_capacity, timeouts, on_flow_removed, w, mem);
	if (w->flows != NULL) {
		size_t size = flow_table_capacity(w->flows) * sizeof(*w->ext);

		/* The side table lives beside the flows, in the same kind of memory. */
		w->ext_mem = mem;
		w->flow_base = flow_table_entries(w->flows);
		w->ext = mem != NULL ? mem->alloc(size, 64, mem->arg) : calloc(1, size);
		if (w->ext != NULL)
			memset(w->ext, 0, size);
	}
	w->held = calloc(LB_SYN_HOLD_SLOTS, sizeof(*w->held));
	if (w->flows == NULL || w->ext == NULL || w->held == NULL || ports_init(w) < 0) {
		lb_worker_free(w);
		return NULL;
	}
	return w;
}

void lb_worker_free(struct lb_worker *w)
{
	if (w == NULL)
		return;
	flow_table_free(w->flows);
	if (w->ext_mem != NULL)
		w->ext_mem->free(w->ext, w->ext_mem->arg);
	else
		free(w->ext);
	free(w->port_map);
	free(w->held);
	free(w->ctr);
	free(w);
}

uint32_t lb_worker_sweep(struct lb_worker *w, uint32_t now_ms, uint32_t budget)
{
	w->now_ms = now_ms;
	return flow_sweep_visit(w->flows, now_ms, budget, nat_rt_visit, w);
}

/*
 * The backend of established flow <f> left service and its flows are to be
 * reset (down_flows reset, or a drain deadline passed): counted, and the
 * connection forgotten (both entries in fnat/nat). The caller drops the
 * packet or turns it into a RST to the client.
 */
void worker_reset_flow(struct lb_worker *w, struct flow_entry *f, uint8_t fate)
{
	struct lb_counters *c = w->ctr;

	c->flows_reset++;
	if (fate == LB_FATE_DRAIN_RESET) {
		c->vip[f->vip_slot].drain_reset++;
		c->backend[f->backend_slot].drain_reset++;
	} else {
		c->vip[f->vip_slot].flows_reset++;
		c->backend[f->backend_slot].flows_reset++;
	}
	flow_remove(w->flows, f);
}

/* The flow key of a parsed TCP/UDP packet, as it travels; returns its hash. */
static inline uint32_t key_of(struct flow_key *k, const struct pkt_meta *m)
{
	k->src = m->src;
	k->dst = m->dst;
	k->sport = m->sport;
	k->dport = m->dport;
	k->proto = m->l4_proto;
	memset(k->pad, 0, sizeof(k->pad));
	return flow_hash(k);
}

/*
 * Backends' replies (and ICMP errors) of a burst, in their order; the
 * replies' reverse entries looked up in bulk, as forward packets' flows are.
 */
static uint64_t replies_process(struct lb_worker *w, const struct lb_snapshot *s,
				struct lb_pkt *pkts, const struct pkt_meta *meta,
				const uint16_t *replies, uint32_t n)
{
	struct flow_key keys[LB_BURST_MAX];
	uint32_t hashes[LB_BURST_MAX], nkeys = 0, k = 0;
	struct flow_entry *found[LB_BURST_MAX];
	uint64_t taken = 0;

	for (uint32_t r = 0; r < n; r++) {
		const struct pkt_meta *m = &meta[replies[r]];
		struct flow_key *key = &keys[nkeys];

		if (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP)
			continue;
		hashes[nkeys++] = key_of(key, m);
	}
	burst_reset(w);
	if (nkeys > 0)
		flow_lookup_bulk(w->flows, keys, hashes, nkeys, w->now_ms, found);
	for (uint32_t r = 0; r < n; r++) {
		const struct pkt_meta *m = &meta[replies[r]];
		struct flow_entry *e;

		w->syn_taken = false;
		if (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP) {
			icmp_error_forward(w, s, &pkts[replies[r]], m);
		} else {
			/* An earlier reply of the burst may have ended connections (refusal,
			 * reset). */
			e = burst_recheck(w, found[k], &keys[k], hashes[k]);
			nat_reply(w, s, &pkts[replies[r]], m, e);
			k++;
		}
		if (w->syn_taken)
			taken |= 1ull << replies[r];
	}
	return taken;
}

/*
 * Adds packet <i> to the burst's replies, kept in arrival order: a
 * backend's SYN-ACK must be seen before its ICMP error that follows it in
 * the burst (the error would otherwise redispatch a connection that was
 * answered).
 */
static inline void replies_insert(uint16_t *replies, uint32_t *n, uint16_t i)
{
	uint32_t j = *n;

	while (j > 0 && replies[j - 1] > i) {
		replies[j] = replies[j - 1];
		j--;
	}
	replies[j] = i;
	(*n)++;
}

/*
 * A held SYN, put in <pk>'s buffer (a refusal's, or an empty one), goes
 * through the general path as the client's packet: its failed connection is
 * gone, so it is scheduled afresh, avoiding the backend that failed it.
 */
static void resend_one(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		       struct pkt_meta *m)
{
	uint32_t vip_slot = LB_NO_SLOT, hash;
	struct flow_key k;

	pk->handed = 1; /* this lcore owns the connection: no handoff */
	pk->nonlinear = 0;
	if (classify(w, s, pk, m, &vip_slot) != CLS_VIP)
		return; /* the VIP went away meanwhile: dropped and counted as such */
	hash = key_of(&k, m);
	vip_packet(w, s, pk, m, vip_slot, &k, hash, flow_lookup(w->flows, &k, hash, w->now_ms));
}

bool lb_worker_resend_due(const struct lb_worker *w, uint32_t now_ms)
{
	return w->n_held != 0 && (int32_t)(now_ms - w->held_next_due) >= 0;
}

uint32_t lb_worker_resend(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pkts,
			  uint32_t n, uint32_t now_ms)
{
	struct pkt_meta meta;
	uint32_t used = 0, next = 0;
	bool any = false;

	if (n > LB_RESEND_MAX)
		n = LB_RESEND_MAX;
	w->now_ms = now_ms;
	for (uint32_t i = 0; i < LB_SYN_HOLD_SLOTS && w->n_held != 0; i++) {
		struct lb_syn_hold *h = &w->held[i];
		struct flow_entry *f;

		if (h->len == 0 || h->due == 0)
			continue;
		if ((int32_t)(now_ms - h->due) < 0 || used == n) {
			/* Not yet, or no buffer left this time: the next call's. */
			if (!any || (int32_t)(h->due - next) < 0)
				next = h->due;
			any = true;
			continue;
		}
		/* Unanswered still? Otherwise the hold outlived its purpose. */
		f = flow_lookup(w->flows, &h->key, h->hash, now_ms);
		if (f == NULL || ext_of(w, f)->reverse || ext_of(w, f)->answered ||
		    f->state != FLOW_TCP_SYN || !redispatch_connect_failed(w, s, f) ||
		    !syn_take(w, &h->key, &pkts[used])) {
			syn_drop(w, h);
			continue;
		}
		w->ctr->rx++;
		resend_one(w, s, &pkts[used], &meta);
		count_verdict(w->ctr, s, &pkts[used], &meta);
		used++;
	}
	if (any)
		w->held_next_due = next;
	return used;
}

/*
 * A packet with a flow key: of a VIP (CLS_VIP), or one the fast path
 * recognised, which has no struct pkt_meta until the general path takes it.
 */
struct lb_keyed {
	uint16_t pkt;      /* index in the burst */
	uint8_t fast;      /* enum fast4_kind: what fast4_parse() took it for */
	uint8_t tcp_flags; /* fast: the TCP flags (0 for UDP) */
	uint32_t vip;
};

/*
 * A packet fast4_parse() took but the fast path did not finish: classified
 * by the general path from what the parser would have found. Out of line:
 * the established packets' loop stays small.
 */
static __attribute__((noinline)) enum cls fast4_give_back(const struct lb_worker *w,
							  const struct lb_snapshot *s,
							  struct lb_pkt *pk, struct pkt_meta *m,
							  uint32_t *vip_slot)
{
	if (pk->data[12] == 0x86)
		fast6_meta(pk, m);
	else
		fast4_meta(pk, m);
	return classify_parsed(w, s, pk, m, PARSE_OK, vip_slot);
}

/*
 * IPv6's part of the fast path, out of line (as its parse, in
 * classify_rest()): IPv4 packets should not pay for it.
 */
static __attribute__((noinline)) bool fast6_take(struct lb_worker *w, const struct lb_snapshot *s,
						 struct lb_pkt *pk, struct flow_entry *e,
						 const struct lb_keyed *kd)
{
	switch (kd->fast) {
	case FAST6_DSR:
		return fast4_dsr(w, s, pk, e, kd->vip, kd->tcp_flags); /* the MACs only */
	case FAST6_NAT:
		return fast6_nat(w, s, pk, e, kd->vip, kd->tcp_flags);
	case FAST6_TUNNEL:
		return fast6_tunnel(w, s, pk, e, kd->vip, kd->tcp_flags);
	default:
		return fast6_reply(w, s, pk, e, kd->tcp_flags);
	}
}

/* The fast path's step for a packet fast4_parse() recognised; false: the general path's. */
static inline bool fast4_take(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			      struct flow_entry *e, const struct lb_keyed *kd)
{
	switch (kd->fast) {
	case FAST4_DSR:
		return fast4_dsr(w, s, pk, e, kd->vip, kd->tcp_flags);
	case FAST4_NAT:
		return fast4_nat(w, s, pk, e, kd->vip, kd->tcp_flags);
	case FAST4_TUNNEL:
		return fast4_tunnel(w, s, pk, e, kd->vip, kd->tcp_flags);
	case FAST4_REPLY:
		return fast4_reply(w, s, pk, e, kd->tcp_flags);
	default:
		return fast6_take(w, s, pk, e, kd);
	}
}

/* One burst's working state, between its stages. */
struct lb_burst {
	struct pkt_meta meta[LB_BURST_MAX];
	struct flow_key keys[LB_BURST_MAX];
	uint32_t hashes[LB_BURST_MAX];
	struct lb_keyed kd[LB_BURST_MAX];
	uint16_t replies[LB_BURST_MAX];
	struct flow_entry *found[LB_BURST_MAX];
	uint32_t nflows, nreplies;
};

/*
 * A packet fast4_parse() did not take: IPv6's fast path may (listed as
 * the burst's next flow, CLS_FAST6), else the general path classifies it.
 * One out-of-line call, as classify() alone was: IPv4 packets pay nothing
 * for IPv6 here (in the burst loop, IPv6's step cost each 13-26
 * instructions, callgrind).
 */
static __attribute__((noinline)) enum cls classify_rest(const struct lb_worker *w,
							const struct lb_snapshot *s,
							struct lb_pkt *pk, struct lb_burst *b,
							uint32_t i, uint32_t *vip_slot)
{
	uint32_t f = b->nflows;
	uint8_t tcp_flags;
	enum fast4_kind fk;

	if (!w->general_only && pk->data[12] == 0x86 &&
	    (fk = fast6_parse(w, s, pk, &b->keys[f], &b->hashes[f], &tcp_flags, vip_slot)) !=
		    FAST4_NONE) {
		b->kd[f] = (struct lb_keyed){.pkt = (uint16_t)i,
					     .fast = (uint8_t)fk,
					     .tcp_flags = tcp_flags,
					     .vip = *vip_slot};
		return CLS_FAST6;
	}
	return classify(w, s, pk, &b->meta[i], vip_slot);
}

/*
 * First stage: each packet recognised by the fast path (IPv4, then IPv6)
 * or classified by the general path; those with a flow key are listed in
 * b->kd, replies and ICMP errors in b->replies. Its own function, so that
 * its registers are not the second stage's.
 */
static __attribute__((noinline)) void burst_keys(const struct lb_worker *w,
						 const struct lb_snapshot *s, struct lb_pkt *pkts,
						 uint32_t n, struct lb_burst *b)
{
	bool fast_on = !w->general_only;
	/*
	 * b->nflows in a register: in memory, every packet reloaded and stored
	 * it (the key's byte stores may alias it); written back for
	 * classify_rest() and at the end.
	 */
	uint32_t nf = 0;

	b->nreplies = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t vip_slot = LB_NO_SLOT;
		uint8_t tcp_flags;
		enum fast4_kind fk = FAST4_NONE;

		if (fast_on)
			fk = fast4_parse(w, s, &pkts[i], &b->keys[nf], &b->hashes[nf], &tcp_flags,
					 &vip_slot);
		if (fk != FAST4_NONE) {
			b->kd[nf++] = (struct lb_keyed){.pkt = (uint16_t)i,
							.fast = (uint8_t)fk,
							.tcp_flags = tcp_flags,
							.vip = vip_slot};
			continue;
		}
		/* Its own slot: the address classify_rest() takes keeps it in memory. */
		uint32_t slot = LB_NO_SLOT;

		b->nflows = nf;
		enum cls what = classify_rest(w, s, &pkts[i], b, i, &slot);

		if (what == CLS_FAST6) {
			nf++;
			continue;
		}
		if (what == CLS_REPLY || what == CLS_ICMP)
			b->replies[b->nreplies++] = (uint16_t)i;
		if (what != CLS_VIP)
			continue;
		b->hashes[nf] = key_of(&b->keys[nf], &b->meta[i]);
		b->kd[nf++] = (struct lb_keyed){.pkt = (uint16_t)i, .vip = slot};
	}
	b->nflows = nf;
}

_Static_assert(LB_BURST_MAX <= 64, "a burst's packets are bits of one 64-bit word");

void lb_worker_process(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pkts,
		       uint32_t n, uint32_t now_ms)
{
	struct lb_burst b;
	struct lb_counters *c = w->ctr;
	uint32_t nfast = 0;
	uint64_t fast_done = 0; /* packets the fast path forwarded (bit i: packet i) */
	uint64_t resent = 0;    /* refusals whose buffer now holds the client's SYN */

	if (n > LB_BURST_MAX)
		n = LB_BURST_MAX;
	w->now_ms = now_ms;
	burst_keys(w, s, pkts, n, &b);
	burst_reset(w);
	if (b.nflows > 0)
		flow_lookup_bulk(w->flows, b.keys, b.hashes, b.nflows, now_ms, b.found);
	for (uint32_t f = 0; f < b.nflows; f++) {
		const struct lb_keyed *kd = &b.kd[f];
		uint32_t i = kd->pkt, vip_slot = kd->vip;
		struct lb_pkt *pk = &pkts[i];
		struct flow_entry *e = burst_recheck(w, b.found[f], &b.keys[f], b.hashes[f]);
		if (kd->fast != FAST4_NONE) {
			if (fast4_take(w, s, pk, e, kd)) {
				fast_done |= 1ull << i;
				nfast++;
				continue;
			}
			/* Not the common case after all: the general path decides it afresh. */
			enum cls what = fast4_give_back(w, s, pk, &b.meta[i], &vip_slot);
			if (what == CLS_REPLY)
				replies_insert(b.replies, &b.nreplies, (uint16_t)i);
			if (what != CLS_VIP)
				continue;
		}
		vip_packet(w, s, pk, &b.meta[i], vip_slot, &b.keys[f], b.hashes[f], e);
	}
	if (b.nreplies > 0)
		resent = replies_process(w, s, pkts, b.meta, b.replies, b.nreplies);
	/* Refusals turned into their held SYNs: sent on as the client's packets. */
	for (; resent != 0; resent &= resent - 1)
		resend_one(w, s, &pkts[__builtin_ctzll(resent)], &b.meta[__builtin_ctzll(resent)]);
	/*
	 * Counted per burst where the value is per burst; per packet only off
	 * the fast path, visiting only those packets (a burst the fast path took
	 * whole costs no loop over its packets).
	 */
	c->rx += n;
	c->fwd += nfast;
	for (uint64_t rest = ~fast_done & (n < 64 ? (1ull << n) - 1 : ~0ull); rest != 0;
	     rest &= rest - 1) {
		uint32_t i = (uint32_t)__builtin_ctzll(rest);

		count_verdict(c, s, &pkts[i], &b.meta[i]);
	}
}
