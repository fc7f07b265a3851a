/* SPDX-License-Identifier: BSD-3-Clause */
/* Reaping: deleted backends whose last flow has ended are freed (lb_model_backend_del). */
#include "dp.h"

void dp_reap_removed(struct dp *dp)
{
	bool changed = false;

	/* A removal not yet published may still be sending new flows: wait. */
	if (dp->publish_pending)
		return;

	for (uint32_t s = 0; s < LB_MAX_BACKENDS; s++) {
		const struct lb_model_backend *b = &dp->model->backends[s];
		uint32_t active = 0;
		if (b->uid == 0 || !b->removed)
			continue;
		for (uint32_t w = 0; w < dp->n_workers; w++)
			active += __atomic_load_n(&dp->workers[w].lb->active[s], __ATOMIC_RELAXED);
		if (active == 0) {
			lb_model_backend_reap(dp->model, s);
			changed = true;
		}
	}
	if (changed && dp_publish(dp) < 0)
		DP_LOG(WARNING, "out of memory publishing after freeing removed backends");
}
