/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Publishing: the model compiled into a new immutable snapshot, swapped in
 * by pointer, the old one freed after an RCU grace period (every worker has
 * passed a quiescent state, so none still reads it). The changed pools are
 * built first, a slice at a time (lb_model_build_step()): a large Maglev
 * table takes several calls, and the snapshot in service stays until then.
 */
#include <errno.h>

#include "dp.h"

int dp_publish(struct dp *dp)
{
	struct lb_snapshot *next, *old;
	int entries = lb_model_build_start(dp->model);

	if (entries < 0) {
		dp->publish_pending = true;
		return -ENOMEM;
	}
	if (!lb_model_build_step(dp->model,
				 entries <= DP_BUILD_AT_ONCE ? UINT64_MAX : DP_BUILD_SLICE)) {
		/* Large tables: the management loop builds the rest between requests. */
		dp->publish_pending = true;
		return 1;
	}
	next = lb_model_compile(dp->model);
	if (next == NULL) {
		/* The model holds the change: the management tick retries. */
		dp->publish_pending = true;
		return -ENOMEM;
	}
	dp->publish_pending = false;
	dp->model->neigh_changed = false;
	/* New backends' static MACs are in the table, and ARP/ND sent, before use. */
	dp_neigh_solicit(dp);
	/* New VIPs reach the AF_XDP sockets before workers look for them. */
	dp_xdp_sync(dp, next);
	old = dp->snapshot;
	__atomic_store_n(&dp->snapshot, next, __ATOMIC_RELEASE);
	/* Returns once every online worker has passed a quiescent state: all run <next>. */
	rte_rcu_qsbr_synchronize(dp->rcu, RTE_QSBR_THRID_INVALID);
	lb_snapshot_free(old);
	return 0;
}
