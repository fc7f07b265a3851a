/* SPDX-License-Identifier: BSD-3-Clause */
/* The neighbour entries' state machine (lb_neigh.h). */
#include "lb_neigh.h"

#include <errno.h>

#include "name_table.h"

static const char *const state[] = {
	[LB_NEIGH_NONE] = "none",           [LB_NEIGH_INCOMPLETE] = "incomplete",
	[LB_NEIGH_REACHABLE] = "reachable", [LB_NEIGH_PROBE] = "probe",
	[LB_NEIGH_STATIC] = "static",
};
_Static_assert(sizeof(state) / sizeof(state[0]) == LB_NEIGH_STATE_MAX, "every state named");
static const struct name_table state_names = NAME_TABLE(state);

const char *lb_neigh_state_name(enum lb_neigh_state s)
{
	return name_of(&state_names, s);
}

bool lb_neigh_usable(const struct lb_model_neigh *n)
{
	return n->state == LB_NEIGH_REACHABLE || n->state == LB_NEIGH_PROBE ||
	       n->state == LB_NEIGH_STATIC;
}

int lb_neigh_ref(struct lb_model_neigh *set, const struct sl_addr *a, uint16_t port,
		 const uint8_t *static_mac)
{
	int free_slot = -1;

	for (uint32_t i = 0; i < LB_MAX_NEIGH; i++) {
		struct lb_model_neigh *n = &set[i];
		if (n->refs == 0) {
			if (free_slot < 0)
				free_slot = (int)i;
			continue;
		}
		if (static_mac == NULL && n->state != LB_NEIGH_STATIC && n->port == port &&
		    sl_addr_eq(&n->addr, a)) {
			n->refs++;
			return (int)i;
		}
	}
	if (free_slot < 0)
		return -ENOSPC;
	struct lb_model_neigh *n = &set[free_slot];
	memset(n, 0, sizeof(*n));
	n->refs = 1;
	n->addr = *a;
	n->port = port;
	if (static_mac != NULL) {
		n->state = LB_NEIGH_STATIC;
		memcpy(n->mac, static_mac, 6);
	} else {
		n->state = LB_NEIGH_INCOMPLETE;
		n->next_tx_ms = 0; /* ask at once */
	}
	return free_slot;
}

void lb_neigh_unref(struct lb_model_neigh *set, uint32_t slot)
{
	if (slot < LB_MAX_NEIGH && set[slot].refs > 0)
		set[slot].refs--;
}

static void publish(struct lb_neigh_table *t, uint32_t i, const struct lb_model_neigh *n)
{
	uint64_t w = 0;

	if (n->refs > 0 && lb_neigh_usable(n))
		w = lb_neigh_pack(n->mac);
	if (t->word[i] != w)
		__atomic_store_n(&t->word[i], w, __ATOMIC_RELEASE);
}

uint32_t lb_neigh_run(struct lb_model_neigh *set, struct lb_neigh_table *t, uint64_t now_ms,
		      uint32_t reachable_ms, uint32_t retry_ms, uint32_t *slots, uint32_t max,
		      lb_neigh_changed_fn *changed, void *arg)
{
	uint32_t due = 0;

	for (uint32_t i = 0; i < LB_MAX_NEIGH; i++) {
		struct lb_model_neigh *n = &set[i];
		if (n->refs == 0) {
			/*
			 * Its MAC stays published one pass longer: dp_publish runs
			 * this before the snapshot that stopped using the slot
			 * replaces the one still using it.
			 */
			if (n->state != LB_NEIGH_NONE)
				n->state = LB_NEIGH_NONE;
			else
				publish(t, i, n);
			continue;
		}
		if (n->state == LB_NEIGH_REACHABLE && now_ms - n->confirmed_ms >= reachable_ms) {
			/* Keep forwarding with the old MAC while asking again. */
			n->state = LB_NEIGH_PROBE;
			n->probes = 0;
			n->next_tx_ms = now_ms;
		}
		if (n->state == LB_NEIGH_PROBE && n->probes >= LB_NEIGH_MAX_PROBES &&
		    now_ms >= n->next_tx_ms) {
			n->state = LB_NEIGH_INCOMPLETE; /* nobody answers: stop using the MAC */
			changed(arg, i);
		}
		if ((n->state == LB_NEIGH_INCOMPLETE || n->state == LB_NEIGH_PROBE) &&
		    now_ms >= n->next_tx_ms && due < max) {
			slots[due++] = i;
			n->next_tx_ms = now_ms + retry_ms;
			if (n->state == LB_NEIGH_PROBE)
				n->probes++;
		}
		publish(t, i, n);
	}
	return due;
}

uint32_t lb_neigh_heard(struct lb_model_neigh *set, struct lb_neigh_table *t, uint16_t port,
			const struct sl_addr *addr, const uint8_t mac[6], uint64_t now_ms,
			lb_neigh_changed_fn *changed, void *arg)
{
	uint32_t updated = 0;

	for (uint32_t i = 0; i < LB_MAX_NEIGH; i++) {
		struct lb_model_neigh *n = &set[i];
		if (n->refs == 0 || n->state == LB_NEIGH_STATIC || n->port != port ||
		    !sl_addr_eq(&n->addr, addr))
			continue;
		if (!lb_neigh_usable(n))
			changed(arg, i);
		memcpy(n->mac, mac, 6);
		n->state = LB_NEIGH_REACHABLE;
		n->probes = 0;
		n->confirmed_ms = now_ms;
		publish(t, i, n);
		updated++;
	}
	return updated;
}
