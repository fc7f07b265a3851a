/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * All or nothing for one API change: a checkpoint of the model taken before
 * a request changes it, put back when the new snapshot cannot be built (out
 * of memory), so that "nothing changed" is true and no later tick publishes
 * a change the client was told failed.
 *
 * No DPDK here: it is the lb library's model only, so unit tests link it as
 * it is. Header-only because every program that compiles api.c (the data
 * plane, the API fuzzer) then has it without another source file.
 *
 * What a checkpoint must know of the model: its only pointers are a VIP's
 * <members> (its own heap array) and <pool> (a counted reference). A change
 * may grow, free or allocate a member array (backend.add, vip.del, vip.add)
 * and drop a pool reference (vip.del); compiling never runs in between
 * (a compile that fails leaves the model as it was, lb_model_compile()).
 */
#ifndef SLUICE_LB_MODEL_TXN_H
#define SLUICE_LB_MODEL_TXN_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_model.h"

struct model_txn {
	struct lb_model saved; /* the model at model_txn_begin(), pointers as they were */
	/* Every VIP's member list then, back to back (a backend is in one VIP at most). */
	uint32_t members[LB_MAX_BACKENDS];
	uint32_t members_at[LB_MAX_VIPS];
	/* Filled by model_txn_rollback(): the array each VIP gets back. */
	uint32_t *array[LB_MAX_VIPS];
	uint32_t cap[LB_MAX_VIPS];
};

/* Saves <m>; no allocation. -EOVERFLOW if the member lists do not fit (never: see above). */
static inline int model_txn_begin(struct model_txn *t, const struct lb_model *m)
{
	uint32_t at = 0;

	memcpy(&t->saved, m, sizeof(*m));
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		const struct lb_model_vip *v = &m->vips[i];

		t->members_at[i] = at;
		if (v->n_members == 0)
			continue;
		if (v->n_members > LB_MAX_BACKENDS - at)
			return -EOVERFLOW;
		memcpy(&t->members[at], v->members, v->n_members * sizeof(uint32_t));
		at += v->n_members;
	}
	return 0;
}

/*
 * The member array VIP <i> gets back: its current one when it still has one
 * big enough (unchanged, or grown by realloc), else a new one (its own was
 * freed by vip.del). -ENOMEM when that cannot be had; nothing is changed then.
 */
static inline int model_txn_arrays(struct model_txn *t, const struct lb_model *m)
{
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		const struct lb_model_vip *was = &t->saved.vips[i], *now = &m->vips[i];

		t->array[i] = NULL;
		t->cap[i] = 0;
		if (was->uid == 0 || (was->n_members == 0 && now->members == NULL))
			continue;
		if (now->uid == was->uid && now->members != NULL &&
		    now->cap_members >= was->n_members) {
			t->array[i] = now->members;
			t->cap[i] = now->cap_members;
			continue;
		}
		t->array[i] = malloc((was->n_members ? was->n_members : 1) * sizeof(uint32_t));
		if (t->array[i] == NULL) {
			for (uint32_t j = 0; j < i; j++)
				if (t->array[j] != m->vips[j].members)
					free(t->array[j]);
			return -ENOMEM;
		}
		t->cap[i] = was->n_members ? was->n_members : 1;
	}
	return 0;
}

/*
 * Puts <m> back as it was at model_txn_begin(t, m). The snapshot in service
 * must be the one it was then (it holds a reference to every pool the model
 * did, so a pool vip.del let go of is still there to take back). Returns 0,
 * or -ENOMEM with <m> left as it is (the change kept) when a member array
 * freed by the change cannot be allocated again.
 */
static inline int model_txn_rollback(struct model_txn *t, struct lb_model *m)
{
	if (model_txn_arrays(t, m) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		const struct lb_model_vip *was = &t->saved.vips[i], *now = &m->vips[i];

		/* Arrays of VIPs the change added, or replaced above: freed. */
		if (now->members != NULL && now->members != t->array[i])
			free(now->members);
		/* vip.del let its pool go: the model's reference is taken again. */
		if (was->compiled != NULL && now->compiled == NULL)
			was->compiled->refcnt++;
	}
	memcpy(m, &t->saved, sizeof(*m));
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		struct lb_model_vip *v = &m->vips[i];

		v->members = t->array[i];
		v->cap_members = t->cap[i];
		if (v->n_members > 0)
			memcpy(v->members, &t->members[t->members_at[i]],
			       v->n_members * sizeof(uint32_t));
	}
	return 0;
}

#endif
