/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The general path's VIP traffic: the flow found or made for a packet
 * (balance), its backend chosen on a miss, and the packet sent on in the
 * VIP's mode (forward).
 */
#include "lb_stage.h"
#include "scheduler.h"

/*
 * State of a flow created by its first packet. Only a SYN opens a TCP flow
 * the ordinary way; a first packet that is not a SYN is a connection picked
 * up mid-stream (after a restart, or after its entry was lost) or a stray.
 * It starts in an evictable state so a flood of ACKs or FINs cannot fill the
 * table with protected entries: a real connection's next ACK promotes it
 * to ESTABLISHED (flow_touch).
 */
static enum flow_state first_state(uint8_t proto, uint8_t tcp_flags)
{
	if (proto == IPPROTO_UDP)
		return FLOW_UDP_NEW;
	if (tcp_flags & TCP_FIN)
		return FLOW_TCP_FIN;
	return FLOW_TCP_SYN;
}

/* The IPv4 header's checksum is right (or the port said so). */
static inline bool ip4_header_ok(const struct lb_pkt *pk, const struct pkt_meta *m)
{
	return m->is_v6 || pk->rx_csum == LB_RX_CSUM_IP_GOOD ||
	       pkt_csum_fold(pkt_csum_add(0, pk->data + m->l3_off,
					  (uint32_t)(m->l4_off - m->l3_off))) == 0;
}

/*
 * Flow <e>, found for a packet that opens a connection, when the packet
 * must start afresh instead: NULL then (the entry is gone or left to be
 * redispatched), else <e>.
 */
static struct flow_entry *balance_reopen(struct lb_worker *w, const struct lb_snapshot *s,
					 const struct pkt_meta *m, const struct flow_key *k,
					 struct flow_entry *e, bool sees_replies)
{
	bool bare_syn = k->proto == IPPROTO_TCP && (m->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;

	if (e == NULL || !bare_syn)
		return e;
	if (sees_replies && e->state == FLOW_TCP_SYN && !ext_of(w, e)->answered &&
	    (uint32_t)(w->now_ms - e->last_seen) >= LB_SYN_RETRY_MS &&
	    redispatch_connect_failed(w, s, e)) {
		/* The client asks again and the backend never answered: elsewhere. */
		return NULL;
	}
	if (e->state == FLOW_TCP_FIN || e->state == FLOW_TCP_CLOSED) {
		/*
		 * A new connection on a client port whose last one has ended:
		 * scheduled like any new connection (a drained or removed backend
		 * takes none), and in fnat with a fresh source port, clear of the
		 * backend's TIME_WAIT on the old one.
		 */
		flow_remove(w->flows, e);
		return NULL;
	}
	return e;
}

/*
 * A packet of known flow <*ep>. Returns true when that decides it: <*slot>
 * is the backend, or LB_NO_SLOT with pk->drop set. Returns false, with
 * <*ep> NULL, when the flow was dropped and the packet opens a new one.
 */
static bool balance_known(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			  const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
			  uint32_t hash, struct flow_entry **ep, uint32_t *slot)
{
	const struct lb_snap_vip *v = &s->vips[vip_slot];
	struct flow_entry *e = *ep;
	const struct lb_snap_backend *b = &s->backends[e->backend_slot];
	bool same = b->uid == e->backend_uid && b->vip_slot == vip_slot;
	uint32_t idx;

	if (same && b->fate == LB_FATE_STAY) {
		nat_pair_touch(w, e, m->tcp_flags, v->traits & LB_TRAIT_SEES_REPLIES);
		*slot = e->backend_slot;
		return true;
	}
	if (same && b->fate != LB_FATE_MOVE) {
		/* The caller answers a TCP segment with a RST from the VIP. */
		worker_reset_flow(w, e, b->fate);
		*ep = NULL;
		pk->drop = LB_DROP_FLOW_RESET;
		*slot = LB_NO_SLOT;
		return true;
	}
	w->ctr->flows_rescheduled++;
	if (v->traits & LB_TRAIT_NEEDS_STATE) {
		/* Its translation names the old backend: start the connection afresh. */
		flow_remove(w->flows, e);
		*ep = NULL;
		return false;
	}
	/* Its backend left service: move the flow (counted). */
	idx = pick_backend(w, vip_slot, v, k, hash);
	if (idx == SCHED_NONE) {
		flow_remove(w->flows, e);
		*ep = NULL;
		pk->drop = LB_DROP_NO_BACKEND;
		*slot = LB_NO_SLOT;
		return true;
	}
	*slot = v->members->slot[idx];
	if (counts_active(e->state)) {
		if (w->active[e->backend_slot] > 0)
			w->active[e->backend_slot]--;
		w->active[*slot]++;
	}
	e->backend_slot = *slot;
	e->backend_uid = s->backends[*slot].uid;
	e->vip_slot = (uint16_t)vip_slot;
	touch(w, e, m->tcp_flags);
	return true;
}

/*
 * No flow entry for a packet that needs none or could get none: Maglev's
 * choice, the one every lcore and node makes for it, or LB_NO_SLOT.
 */
static uint32_t balance_backstop(struct lb_pkt *pk, const struct lb_snap_vip *v,
				 const struct flow_key *k, uint32_t hash)
{
	uint32_t idx = pick_maglev(v, k, hash);

	if (idx == SCHED_NONE) {
		pk->drop = LB_DROP_NO_BACKEND;
		return LB_NO_SLOT;
	}
	return v->members->slot[idx];
}

/*
 * New flow <e> of VIP <vip_slot> goes to backend <slot>: its fields, the
 * active count, and in fnat/nat its translation (and the SYN kept for a
 * redispatch). Returns false, with pk->drop set, when the translation
 * could not be made; the entry is then gone.
 */
static bool flow_start(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		       const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
		       uint32_t hash, struct flow_entry *e, uint32_t slot)
{
	const struct lb_snap_vip *v = &s->vips[vip_slot];

	e->backend_slot = slot;
	e->backend_uid = s->backends[slot].uid;
	e->vip_slot = (uint16_t)vip_slot;
	if (counts_active(e->state))
		w->active[slot]++;
	if (v->traits & LB_TRAIT_SEES_REPLIES) {
		int rc = nat_open(w, s, pk, v, e, hash);
		if (rc < 0) {
			if (rc == -1)
				flow_remove(w->flows, e); /* gives the port back, uncounts it */
			return false;
		}
		if (k->proto == IPPROTO_TCP && (m->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
			syn_hold(w, v, k, hash, pk); /* before forward() translates it */
	}
	w->ctr->flows_new++;
	w->ctr->vip[vip_slot].new_flows++;
	w->ctr->backend[slot].new_flows++;
	return true;
}

/*
 * A packet with no flow: a new one is scheduled and stored. A TCP first
 * packet that is not a SYN belongs to a connection this lcore does not
 * know: Maglev picks its backend, the choice most likely to be the one it
 * had (same pool, same table on every lcore and every node). In DSR a RST
 * is forwarded without creating a flow.
 */
static uint32_t balance_new(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			    const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
			    uint32_t hash, struct flow_entry **ep)
{
	const struct lb_snap_vip *v = &s->vips[vip_slot];
	bool sees_replies = v->traits & LB_TRAIT_SEES_REPLIES;
	bool needs_state = v->traits & LB_TRAIT_NEEDS_STATE;
	bool pickup = k->proto == IPPROTO_TCP && (m->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN;
	struct flow_entry *e;
	uint32_t idx, slot;

	if (!ip4_header_ok(pk, m)) {
		/* A damaged or forged header creates no state (the port did not check it). */
		pk->drop = LB_DROP_BAD_CSUM;
		return LB_NO_SLOT;
	}
	w->avoid_slot = sees_replies && !pickup ? redispatch_avoid(w, k) : LB_NO_SLOT;
	idx = pickup ? pick_maglev(v, k, hash) : pick_backend(w, vip_slot, v, k, hash);
	w->avoid_slot = LB_NO_SLOT;
	if (idx == SCHED_NONE) {
		pk->drop = LB_DROP_NO_BACKEND;
		return LB_NO_SLOT;
	}
	slot = v->members->slot[idx];
	if (!needs_state && k->proto == IPPROTO_TCP && (m->tcp_flags & TCP_RST))
		return slot;
	/*
	 * dsr/tunnel see no replies: nothing tells a real connection picked up
	 * mid-stream from forged ACKs, which would become established flows
	 * that no SYN can evict. They may hold half the table; past that
	 * Maglev, which chose their backend anyway, carries them unstored.
	 */
	if (pickup && !sees_replies &&
	    flow_table_count(w->flows) >= flow_table_capacity(w->flows) / 2)
		e = NULL;
	else
		e = burst_insert(w, k, hash, first_state(k->proto, m->tcp_flags));
	if (e == NULL) {
		if (needs_state) {
			/* A translation needs its state: nothing to fall back on. */
			pk->drop = LB_DROP_NAT_NO_ROOM;
			return LB_NO_SLOT;
		}
		/* No room without evicting live flows: the backstop, while the table is full. */
		slot = balance_backstop(pk, v, k, hash);
		if (slot != LB_NO_SLOT)
			w->ctr->flows_backstop++;
		return slot;
	}
	if (!flow_start(w, s, pk, m, vip_slot, k, hash, e, slot))
		return LB_NO_SLOT;
	*ep = e;
	return slot;
}

/*
 * Finds or creates the flow of packet <pk> and returns its backend slot, or
 * LB_NO_SLOT with pk->drop set. <*ep> is the flow entry (NULL when the
 * packet goes out without one: Maglev's backstop, a stray RST).
 */
static uint32_t balance(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
			uint32_t hash, struct flow_entry **ep)
{
	bool sees_replies = s->vips[vip_slot].traits & LB_TRAIT_SEES_REPLIES;
	uint32_t slot;

	*ep = balance_reopen(w, s, m, k, *ep, sees_replies);
	if (*ep != NULL && balance_known(w, s, pk, m, vip_slot, k, hash, ep, &slot))
		return slot;
	return balance_new(w, s, pk, m, vip_slot, k, hash, ep);
}

static void forward(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		    const struct pkt_meta *m, uint32_t vip_slot, uint32_t slot,
		    const struct flow_entry *e)
{
	const struct lb_snap_backend *b = &s->backends[slot];
	const struct lb_snap_vip *v = &s->vips[vip_slot];
	uint64_t word = w->neigh->word[b->neigh_slot];

	if (!(word & LB_NEIGH_VALID)) {
		pk->drop = LB_DROP_NEIGH_UNRESOLVED;
		return;
	}
	if (v->traits & LB_TRAIT_ROUTES) {
		if (!nat_forward(w, s, pk, m, v, b, e))
			return;
	} else if ((v->traits & LB_TRAIT_ENCAP) && !tunnel_encap(w, s, pk, m, b)) {
		return;
	}
	/*
	 * Every mode ends here: new Ethernet addresses, to the backend (dsr: the
	 * IP packet as it came, and the backend answers the client itself).
	 */
	lb_neigh_unpack(word, pk->data);
	memcpy(pk->data + 6, s->ports[b->out_port].mac, 6);
	pk->out_port = b->out_port;
	pk->verdict = LB_VERDICT_TX;
	count_traffic(w->ctr, vip_slot, slot, pk);
}

/* A packet to a VIP, its flow looked up (<e>, or NULL): balanced and forwarded. */
void vip_packet(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
		uint32_t hash, struct flow_entry *e)
{
	const struct lb_snap_vip *v = &s->vips[vip_slot];
	const uint8_t *in_mac = s->ports[pk->in_port < s->n_ports ? pk->in_port : 0].mac;
	uint32_t slot = balance(w, s, pk, m, vip_slot, k, hash, &e);

	if (slot != LB_NO_SLOT) {
		if (e != NULL && v->response_timeout_ms != 0 && (v->traits & LB_TRAIT_SEES_REPLIES))
			nat_rt_client(w, v, e, pk, m);
		forward(w, s, pk, m, vip_slot, slot, e);
	} else if (pk->drop == LB_DROP_NO_BACKEND && v->when_empty == SL_EMPTY_RESET) {
		answer_refuse(w, pk, m, in_mac);
	} else if (pk->drop == LB_DROP_FLOW_RESET && k->proto == IPPROTO_TCP) {
		/* Its backend left service: the client learns at once (unless it sent a RST). */
		answer_rst(pk, m, in_mac);
	}
}
