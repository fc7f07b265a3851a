/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Neighbour I/O: the ARP requests / neighbour solicitations the model says
 * are due, sent through worker 0's control ring, and the replies workers
 * hand over, learnt into the model (lb_neigh_due, lb_neigh_learn).
 */
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dp.h"

#define NEIGH_BATCH 64

void dp_neigh_solicit(struct dp *dp)
{
	uint32_t slots[NEIGH_BATCH];
	uint32_t n = lb_neigh_due(dp->model, dp->neigh, dp_now_ms(), dp->conf.dp.neigh_reachable_ms,
				  dp->conf.dp.neigh_retry_ms, slots, NEIGH_BATCH);

	for (uint32_t i = 0; i < n; i++) {
		const struct lb_model_neigh *ne = &dp->model->neigh[slots[i]];
		struct rte_mbuf *m = rte_pktmbuf_alloc(dp->mbufs);
		uint16_t len;

		if (m == NULL)
			return;
		len = lb_build_neigh_request(rte_pktmbuf_mtod(m, uint8_t *),
					     rte_pktmbuf_tailroom(m), &dp->model->ports[ne->port],
					     &ne->addr);
		if (len == 0 || rte_pktmbuf_append(m, len) == NULL) {
			rte_pktmbuf_free(m);
			continue;
		}
		m->port = ne->port;
		if (rte_ring_sp_enqueue(dp->workers[0].ctrl_tx, m) != 0)
			rte_pktmbuf_free(m);
	}
}

void dp_neigh_receive(struct dp *dp)
{
	struct rte_mbuf *m[32];

	for (uint32_t w = 0; w < dp->n_workers; w++) {
		unsigned int n =
			rte_ring_sc_dequeue_burst(dp->workers[w].to_mgmt, (void **)m, 32, NULL);
		if (n == 32)
			w--; /* more waiting: empty this ring before the next */
		for (unsigned int i = 0; i < n; i++) {
			struct sl_addr addr;
			uint8_t mac[6];
			/* m[0..n) are set: the analyzer cannot follow rte_ring's copy loops. */
			// NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
			const uint8_t *frame = rte_pktmbuf_mtod(m[i], const uint8_t *);
			if (lb_parse_neigh_reply(frame, m[i]->data_len, &addr, mac) == 0)
				lb_neigh_learn(dp->model, dp->neigh, m[i]->port, &addr, mac,
					       dp_now_ms());
			rte_pktmbuf_free(m[i]);
		}
	}
}
