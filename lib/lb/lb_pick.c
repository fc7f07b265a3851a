/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A backend for a new flow: the VIP's scheduler over its compiled pool, with
 * per-lcore scheduler state; and connect-failure redispatch, which keeps a
 * client's SYN retry away from the backend that just failed it.
 */
#include "lb_stage.h"
#include "maglev.h"
#include "scheduler.h"

static uint32_t load_estimate(const struct lb_worker *w, uint32_t slot)
{
	int64_t v = (int64_t)w->load->sum[slot] - w->load->seen[w->index][slot] + w->active[slot];
	return v > 0 ? (uint32_t)v : 0;
}

/* Resets per-lcore scheduler state when the VIP's pool was rebuilt. */
static void sched_sync(struct lb_worker *w, uint32_t vip_slot, const struct lb_members *p)
{
	if (w->members_version[vip_slot] == p->version)
		return;
	w->members_version[vip_slot] = p->version;
	w->wrr_pos[vip_slot] = 0;
	for (uint32_t i = 0; i < p->n; i++)
		w->wrr_current[p->slot[i]] = 0;
}

uint32_t pick_maglev(const struct lb_snap_vip *v, const struct flow_key *k, uint32_t hash)
{
	const struct lb_members *p = v->members;
	uint16_t idx;

	if (v->hash == SL_HASH_SRC_IP)
		hash = (uint32_t)maglev_hash64(&k->src, sizeof(k->src), 0);
	idx = maglev_lookup(p->maglev, p->maglev_size, hash);
	return idx == MAGLEV_EMPTY ? SCHED_NONE : idx;
}

/*
 * A new flow's backend when one backend must be avoided (it just failed this
 * client): the VIP's scheduler over the pool without it (Maglev's table
 * cannot leave one out: weighted round robin stands in for it then).
 */
static uint32_t pick_avoiding(struct lb_worker *w, uint32_t vip_slot, const struct lb_snap_vip *v)
{
	const struct lb_members *p = v->members;
	uint32_t *weights = w->scratch_w, i;

	for (i = 0; i < p->n; i++)
		weights[i] = p->slot[i] == w->avoid_slot ? 0 : p->weight[i];
	switch (v->sched) {
	case SCHED_KIND_RR:
		return sched_rr_pick(&w->rr_cursor[vip_slot], weights, p->n);
	case SCHED_KIND_LC:
	case SCHED_KIND_WLC:
		for (i = 0; i < p->n; i++)
			w->scratch_load[i] = load_estimate(w, p->slot[i]);
		return v->sched == SCHED_KIND_LC ? sched_lc_pick(&w->lc_cursor[vip_slot], weights,
								 w->scratch_load, p->n)
						 : sched_wlc_pick(&w->lc_cursor[vip_slot], weights,
								  w->scratch_load, p->n);
	default:
		for (i = 0; i < p->n; i++)
			w->scratch_wrr[i] = w->wrr_current[p->slot[i]];
		uint32_t choice = sched_wrr_pick(w->scratch_wrr, weights, p->n);
		for (i = 0; i < p->n; i++)
			w->wrr_current[p->slot[i]] = w->scratch_wrr[i];
		return choice;
	}
}

uint32_t pick_backend(struct lb_worker *w, uint32_t vip_slot, const struct lb_snap_vip *v,
		      const struct flow_key *k, uint32_t hash)
{
	const struct lb_members *p = v->members;
	uint32_t i, choice;

	sched_sync(w, vip_slot, p);
	if (w->avoid_slot != LB_NO_SLOT)
		return pick_avoiding(w, vip_slot, v);
	switch (v->sched) {
	case SCHED_KIND_RR:
		return sched_rr_pick(&w->rr_cursor[vip_slot], p->weight, p->n);
	case SCHED_KIND_WRR:
		if (p->wrr_len != 0) {
			/* A step along the cycle: the picks sched_wrr_pick() would make. */
			uint32_t pos = w->wrr_pos[vip_slot];

			w->wrr_pos[vip_slot] = pos + 1 < p->wrr_len ? pos + 1 : 0;
			return p->wrr_seq[pos < p->wrr_len ? pos : 0];
		}
		for (i = 0; i < p->n; i++)
			w->scratch_wrr[i] = w->wrr_current[p->slot[i]];
		choice = sched_wrr_pick(w->scratch_wrr, p->weight, p->n);
		for (i = 0; i < p->n; i++)
			w->wrr_current[p->slot[i]] = w->scratch_wrr[i];
		return choice;
	case SCHED_KIND_LC:
	case SCHED_KIND_WLC:
		for (i = 0; i < p->n; i++)
			w->scratch_load[i] = load_estimate(w, p->slot[i]);
		return v->sched == SCHED_KIND_LC ? sched_lc_pick(&w->lc_cursor[vip_slot], p->weight,
								 w->scratch_load, p->n)
						 : sched_wlc_pick(&w->lc_cursor[vip_slot],
								  p->weight, w->scratch_load, p->n);
	default:
		return pick_maglev(v, k, hash);
	}
}

/* ---- connect-failure redispatch ---- */

static struct lb_redispatch *redispatch_slot(struct lb_worker *w, const struct flow_key *k)
{
	return &w->redispatch[flow_hash(k) % LB_REDISPATCH_SLOTS];
}

/* Remembers that <slot> failed this client flow; false when retries are used up. */
static bool redispatch_note(struct lb_worker *w, const struct flow_key *k, uint32_t slot)
{
	struct lb_redispatch *r = redispatch_slot(w, k);
	bool same = memcmp(&r->key, k, sizeof(*k)) == 0 && (int32_t)(r->expire - w->now_ms) > 0;
	uint8_t tries = same ? r->tries : 0;

	if (tries >= LB_REDISPATCH_MAX)
		return false;
	r->key = *k;
	r->slot = slot;
	r->expire = w->now_ms + LB_REDISPATCH_MS;
	r->tries = (uint8_t)(tries + 1);
	return true;
}

/* The backend this client flow must avoid, or LB_NO_SLOT. */
uint32_t redispatch_avoid(struct lb_worker *w, const struct flow_key *k)
{
	const struct lb_redispatch *r = redispatch_slot(w, k);

	if (r->tries == 0 || (int32_t)(r->expire - w->now_ms) <= 0 ||
	    memcmp(&r->key, k, sizeof(*k)) != 0)
		return LB_NO_SLOT;
	return r->slot;
}

/*
 * The backend refused (RST, ICMP unreachable) or ignored a new connection's
 * SYN: counted for the breaker, and, while retries remain, the connection is
 * forgotten so that its SYN (held, or the client's retry) goes to another
 * backend. Returns true when the client must not see the refusal; false
 * when the VIP does not redispatch or this connection's tries are used up.
 */
bool redispatch_connect_failed(struct lb_worker *w, const struct lb_snapshot *s,
			       struct flow_entry *f)
{
	w->ctr->vip[f->vip_slot].connect_fail++;
	w->ctr->backend[f->backend_slot].connect_fail++;
	if (!s->vips[f->vip_slot].redispatch || !redispatch_note(w, &f->key, f->backend_slot)) {
		syn_release(w, &f->key);
		return false;
	}
	w->ctr->redispatched++;
	w->ctr->vip[f->vip_slot].redispatched++;
	w->ctr->backend[f->backend_slot].redispatched++;
	flow_remove(w->flows, f);
	return true;
}

/* ---- held SYNs (lb_worker.h) ---- */

static inline bool hold_is(const struct lb_syn_hold *h, const struct flow_key *k)
{
	return h->len != 0 && memcmp(&h->key, k, sizeof(*k)) == 0;
}

/* The slot holding <k>'s SYN (one of LB_SYN_HOLD_PROBE from its hash's), or NULL. */
static struct lb_syn_hold *hold_find(struct lb_worker *w, const struct flow_key *k, uint32_t hash)
{
	for (uint32_t i = 0; i < LB_SYN_HOLD_PROBE; i++) {
		struct lb_syn_hold *h = &w->held[(hash + i) % LB_SYN_HOLD_SLOTS];

		if (hold_is(h, k))
			return h;
	}
	return NULL;
}

/* Empties a slot. */
void syn_drop(struct lb_worker *w, struct lb_syn_hold *h)
{
	if (h->len != 0 && h->due != 0)
		w->n_held--;
	h->len = 0;
	h->due = 0;
}

/*
 * Keeps a copy of new connection <k>'s SYN (<pk>, not yet translated) until
 * its backend answers, if its VIP redispatches.
 */
void syn_hold(struct lb_worker *w, const struct lb_snap_vip *v, const struct flow_key *k,
	      uint32_t hash, const struct lb_pkt *pk)
{
	struct lb_syn_hold *h = hold_find(w, k, hash);

	if (!v->redispatch || pk->len > LB_SYN_HOLD_BYTES)
		return;
	/* Its own slot (a retry), else a free one near its hash, else its hash's. */
	for (uint32_t i = 0; h == NULL && i < LB_SYN_HOLD_PROBE; i++)
		if (w->held[(hash + i) % LB_SYN_HOLD_SLOTS].len == 0)
			h = &w->held[(hash + i) % LB_SYN_HOLD_SLOTS];
	if (h == NULL)
		h = &w->held[hash % LB_SYN_HOLD_SLOTS];
	syn_drop(w, h);
	h->key = *k;
	h->hash = hash;
	h->in_port = pk->in_port;
	h->len = pk->len;
	memcpy(h->frame, pk->data, pk->len);
	if (v->syn_timeout_ms != 0) {
		h->due = w->now_ms + v->syn_timeout_ms;
		h->due += h->due == 0; /* 0 means none */
		if (w->n_held++ == 0 || (int32_t)(h->due - w->held_next_due) < 0)
			w->held_next_due = h->due;
	}
}

/* The backend answered connection <k>: its SYN need not be kept. */
void syn_release(struct lb_worker *w, const struct flow_key *k)
{
	struct lb_syn_hold *h = hold_find(w, k, flow_hash(k));

	if (h != NULL)
		syn_drop(w, h);
}

/*
 * Connection <k> failed: its held SYN, if any, replaces the packet in <pk>
 * (the refusal, whose buffer it reuses), as if the client had just sent it
 * again. Returns false (pk untouched) when none is held.
 */
bool syn_take(struct lb_worker *w, const struct flow_key *k, struct lb_pkt *pk)
{
	struct lb_syn_hold *h = hold_find(w, k, flow_hash(k));

	if (h == NULL || h->len > pk->cap)
		return false;
	memcpy(pk->data, h->frame, h->len);
	pk->len = h->len;
	pk->in_port = h->in_port;
	syn_drop(w, h);
	return true;
}
