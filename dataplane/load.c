/* SPDX-License-Identifier: BSD-3-Clause */
/* Least-connections input: every lcore's own counts summed (lb.h, struct lb_load). */
#include "dp.h"

void dp_load_publish(struct dp *dp)
{
	for (uint32_t s = 0; s < LB_MAX_BACKENDS; s++) {
		uint32_t sum = 0;
		if (dp->model->backends[s].uid == 0 && dp->load->sum[s] == 0)
			continue;
		for (uint32_t w = 0; w < dp->n_workers; w++) {
			uint32_t v =
				__atomic_load_n(&dp->workers[w].lb->active[s], __ATOMIC_RELAXED);
			__atomic_store_n(&dp->load->seen[w][s], v, __ATOMIC_RELAXED);
			sum += v;
		}
		__atomic_store_n(&dp->load->sum[s], sum, __ATOMIC_RELAXED);
	}
}
