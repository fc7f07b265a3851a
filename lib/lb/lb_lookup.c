/* SPDX-License-Identifier: BSD-3-Clause */
/* Which backend a node gives a flow (lb_lookup.h). */
#include "lb_lookup.h"
#include "lb_stage.h"
#include "scheduler.h"

struct lb_lookup lb_lookup_flow(const struct lb_snapshot *s, uint32_t vip_slot,
				const struct flow_key *k, const struct flow_entry *e)
{
	const struct lb_snap_vip *v;
	uint32_t idx;

	if (vip_slot >= LB_MAX_VIPS || s->vips[vip_slot].uid == 0)
		return (struct lb_lookup){.slot = LB_NO_SLOT, .from = LB_LOOKUP_NONE};
	v = &s->vips[vip_slot];
	if (e != NULL && e->backend_slot < LB_MAX_BACKENDS) {
		/* As the worker takes it (lb_worker.c): the same backend, staying. */
		const struct lb_snap_backend *b = &s->backends[e->backend_slot];
		if (b->uid == e->backend_uid && b->vip_slot == vip_slot && b->fate == LB_FATE_STAY)
			return (struct lb_lookup){.slot = e->backend_slot, .from = LB_LOOKUP_FLOW};
	}
	if (v->members == NULL || v->members->n == 0 || v->members->maglev == NULL)
		return (struct lb_lookup){.slot = LB_NO_SLOT, .from = LB_LOOKUP_NONE};
	idx = pick_maglev(v, k, flow_hash(k));
	if (idx == SCHED_NONE)
		return (struct lb_lookup){.slot = LB_NO_SLOT, .from = LB_LOOKUP_NONE};
	return (struct lb_lookup){.slot = v->members->slot[idx],
				  .from = v->sched == SCHED_KIND_MAGLEV ? LB_LOOKUP_MAGLEV
									: LB_LOOKUP_PICKUP};
}

const char *lb_lookup_from_name(enum lb_lookup_from f)
{
	switch (f) {
	case LB_LOOKUP_FLOW:
		return "flow";
	case LB_LOOKUP_MAGLEV:
		return "maglev";
	case LB_LOOKUP_PICKUP:
		return "pickup";
	case LB_LOOKUP_NONE:
		break;
	}
	return "none";
}
