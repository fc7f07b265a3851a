/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Workers' set-up: index i on the i-th lcore polls queue i of every port;
 * each gets its flow table on its NUMA node, its rings to and from the
 * management thread, its TX buffers and its RCU thread id, and every pair
 * of workers a handoff ring. Then the launch, the main lcore running one too.
 */
#include <stdio.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dp.h"
#include "flow.h"

/* A worker's flow table comes from DPDK's memory (hugepages unless --no-huge). */
static void *flow_mem_alloc(size_t size, size_t align, void *arg)
{
	return rte_malloc_socket("flows", size, (unsigned int)align, (int)(intptr_t)arg);
}

static void flow_mem_free(void *p, void *arg)
{
	(void)arg;
	rte_free(p);
}

/*
 * The flow table of worker <w> on lcore's NUMA node, in DPDK's memory; when
 * that has no room (a small --no-huge -m), plain memory, said once.
 */
static struct lb_worker *worker_create(struct dp *dp, struct dp_worker *w,
				       const struct flow_timeouts *to)
{
	uint32_t cap = dp->conf.dp.flow_capacity;
	struct lb_worker *lb;

	w->flow_mem =
		(struct flow_mem){.alloc = flow_mem_alloc,
				  .free = flow_mem_free,
				  .arg = (void *)(intptr_t)rte_lcore_to_socket_id(w->lcore_id)};
	lb = lb_worker_create_mem(w->index, dp->n_workers, cap, to, dp->neigh, dp->load,
				  &w->flow_mem);
	if (lb != NULL)
		return lb;
	DP_LOG(WARNING,
	       "worker %u: no room in DPDK memory for its flow table (%zu MB for %u flows): "
	       "plain memory instead (more TLB misses; give the EAL more memory: -m or hugepages)",
	       w->index, flow_table_size(cap) >> 20, cap);
	return lb_worker_create(w->index, dp->n_workers, cap, to, dp->neigh, dp->load);
}

/* A TX buffer of DP_BURST packets whose drops are counted in w->tx_dropped. */
static struct rte_eth_dev_tx_buffer *tx_buffer(struct dp_worker *w, const char *name)
{
	struct rte_eth_dev_tx_buffer *b =
		rte_zmalloc_socket(name, RTE_ETH_TX_BUFFER_SIZE(DP_BURST), 0, rte_socket_id());

	if (b == NULL)
		return NULL;
	rte_eth_tx_buffer_init(b, DP_BURST);
	rte_eth_tx_buffer_set_err_callback(b, rte_eth_tx_buffer_count_callback, &w->tx_dropped);
	return b;
}

static int worker_init(struct dp *dp, struct dp_worker *w, const struct flow_timeouts *to)
{
	char name[RTE_RING_NAMESIZE];

	w->lb = worker_create(dp, w, to);
	snprintf(name, sizeof(name), "to_mgmt_%u", w->index);
	w->to_mgmt =
		rte_ring_create(name, DP_RING_SIZE, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "ctrl_tx_%u", w->index);
	w->ctrl_tx =
		rte_ring_create(name, DP_RING_SIZE, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (w->lb == NULL || w->to_mgmt == NULL || w->ctrl_tx == NULL) {
		DP_LOG(ERR, "worker %u: cannot allocate its flow table (%u flows) or rings",
		       w->index, dp->conf.dp.flow_capacity);
		return -1;
	}
	for (uint32_t p = 0; p < dp->n_ports; p++) {
		w->txb[p] = tx_buffer(w, "txb");
		w->tap_txb[p] = w->txb[p] != NULL ? tx_buffer(w, "tap_txb") : NULL;
		if (w->tap_txb[p] == NULL) {
			DP_LOG(ERR, "worker %u: out of memory for TX buffers", w->index);
			return -1;
		}
	}
	rte_rcu_qsbr_thread_register(dp->rcu, w->index);
	return 0;
}

/* handoff[from][to]: packets of flows another lcore owns (fnat/nat). */
static int handoff_init(struct dp *dp)
{
	for (uint32_t from = 0; from < dp->n_workers; from++) {
		for (uint32_t dst = 0; dst < dp->n_workers && dp->n_workers > 1; dst++) {
			char name[RTE_RING_NAMESIZE];
			if (from == dst)
				continue;
			snprintf(name, sizeof(name), "handoff_%u_%u", from % 100, dst % 100);
			dp->handoff[from][dst] = rte_ring_create(
				name, DP_RING_SIZE, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (dp->handoff[from][dst] == NULL) {
				DP_LOG(ERR, "cannot create the handoff ring %s", name);
				return -1;
			}
		}
	}
	return 0;
}

int dp_workers_init(struct dp *dp)
{
	struct flow_timeouts to;
	uint32_t idx = 0;
	unsigned int lcore;

	memcpy(to.ms, dp->conf.dp.timeout_ms, sizeof(to.ms));
	RTE_LCORE_FOREACH(lcore)
	{
		struct dp_worker *w = &dp->workers[idx];

		w->lcore_id = lcore;
		w->index = idx;
		if (worker_init(dp, w, &to) < 0)
			return -1;
		idx++;
	}
	return handoff_init(dp);
}

void dp_workers_run(struct dp *dp)
{
	uint32_t idx = 1;
	unsigned int lcore;

	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		int rc = rte_eal_remote_launch(dp_worker_main, &dp->workers[idx++], lcore);
		if (rc != 0) {
			DP_LOG(ERR, "cannot launch the worker on lcore %u: %s", lcore,
			       rte_strerror(-rc));
			dp->quit = true;
		}
	}
	dp_worker_main(&dp->workers[0]);
	rte_eal_mp_wait_lcore();
}

void dp_workers_free(struct dp *dp)
{
	for (uint32_t i = 0; i < dp->n_workers; i++)
		lb_worker_free(dp->workers[i].lb);
}
