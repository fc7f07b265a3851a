/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluicectl lookup's flow entries (flow.lookup): a worker's flow table is
 * its own, so the management thread does not read it. It posts the flow key
 * in each worker's mailbox and the worker answers at its next drain tick
 * (at most DRAIN_US later, or its idle sleep's bound): whether it holds the
 * flow and which backend that entry sends it to, judged against the
 * worker's own snapshot (lb_lookup_flow). One request at a time: only the
 * management thread asks.
 */
#include <rte_cycles.h>

#include "dp.h"
#include "flow.h"

/* How long the management thread waits for one worker's answer. */
#define LOOKUP_WAIT_MS 50

void dp_lookup_serve(struct dp_worker *w, const struct lb_snapshot *s, uint32_t now_ms)
{
	struct dp_lookup_box *box = &w->lookup;
	uint32_t req = __atomic_load_n(&box->req, __ATOMIC_ACQUIRE);
	const struct flow_entry *e;

	if (req == box->done)
		return;
	e = flow_lookup(w->lb->flows, &box->key, flow_hash(&box->key), now_ms);
	box->found = e != NULL;
	if (e != NULL)
		box->answer = lb_lookup_flow(s, box->vip_slot, &box->key, e);
	__atomic_store_n(&box->done, req, __ATOMIC_RELEASE);
}

int dp_lookup_ask(struct dp *dp, uint32_t vip_slot, const struct flow_key *k,
		  struct lb_lookup *answer, unsigned int *lcore)
{
	int silent = 0;

	for (uint32_t i = 0; i < dp->n_workers; i++) {
		struct dp_lookup_box *box = &dp->workers[i].lookup;
		uint32_t req = box->req + 1;
		uint64_t end = rte_get_timer_cycles() + rte_get_timer_hz() / 1000 * LOOKUP_WAIT_MS;

		box->key = *k;
		box->vip_slot = vip_slot;
		__atomic_store_n(&box->req, req, __ATOMIC_RELEASE);
		while (__atomic_load_n(&box->done, __ATOMIC_ACQUIRE) != req &&
		       rte_get_timer_cycles() < end)
			rte_delay_us_sleep(50);
		if (__atomic_load_n(&box->done, __ATOMIC_ACQUIRE) != req) {
			/* Not answered in time: its answer, when it comes, is not read. */
			silent++;
			continue;
		}
		if (box->found && box->answer.from == LB_LOOKUP_FLOW) {
			*answer = box->answer;
			*lcore = dp->workers[i].lcore_id;
			return 1;
		}
	}
	return silent > 0 ? -silent : 0;
}
