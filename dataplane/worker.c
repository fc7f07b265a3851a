/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker loop (hot path): rx burst per port -> lb_worker_process ->
 * act on the verdicts; TX buffered per port and drained by a TSC timer.
 * Every mbuf is sent, handed on, or freed.
 */
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dp.h"

#define DRAIN_US       100 /* flush partially filled TX buffers this often */
#define SWEEP_BUDGET   64  /* flow entries examined per idle-ish iteration */
#define PREFETCH_AHEAD 3

static inline void act(struct dp_worker *w, struct rte_mbuf *m, const struct lb_pkt *pk)
{
	switch (pk->verdict) {
	case LB_VERDICT_TX:
		m->data_len = pk->len;
		m->pkt_len = pk->len;
		if (pk->tx_offload) {
			/* fnat/nat left the sums to the port (lb_worker.c, csum_offload). */
			m->ol_flags |= (pk->tx_offload & LB_TX_IPV6
						? RTE_MBUF_F_TX_IPV6
						: RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM) |
				       (pk->tx_offload & LB_TX_TCP_CSUM ? RTE_MBUF_F_TX_TCP_CKSUM
									: RTE_MBUF_F_TX_UDP_CKSUM);
			m->l2_len = pk->l2_len;
			m->l3_len = pk->l3_len;
		}
		rte_eth_tx_buffer(g_dp.ports[pk->out_port].port_id, (uint16_t)w->index,
				  w->txb[pk->out_port], m);
		break;
	case LB_VERDICT_MGMT:
		m->port = pk->in_port;
		if (rte_ring_sp_enqueue(w->to_mgmt, m) != 0) {
			w->lb->ctr->to_mgmt--;
			w->lb->ctr->drop[LB_DROP_MGMT_RING_FULL]++;
			rte_pktmbuf_free(m);
		}
		break;
	case LB_VERDICT_HANDOFF:
		/* To the lcore that owns the flow (fnat/nat), which processes it again. */
		m->port = pk->in_port;
		if (pk->out_port >= g_dp.n_workers ||
		    rte_ring_sp_enqueue(g_dp.handoff[w->index][pk->out_port], m) != 0) {
			w->lb->ctr->handoff--;
			w->lb->ctr->drop[LB_DROP_HANDOFF_FULL]++;
			rte_pktmbuf_free(m);
		}
		break;
	case LB_VERDICT_KERNEL:
		/* Not ours: to the kernel, through the in port's exception path. */
		rte_eth_tx_buffer(g_dp.ports[pk->in_port].tap_port_id, (uint16_t)w->index,
				  w->tap_txb[pk->in_port], m);
		break;
	default:
		rte_pktmbuf_free(m);
		break;
	}
}

/* What the kernel sends through a port's exception interface leaves by that port. */
static inline uint16_t rx_kernel(struct dp_worker *w, uint16_t port)
{
	struct rte_mbuf *mbufs[DP_BURST];
	const struct dp_port *p = &g_dp.ports[port];
	uint16_t n = rte_eth_rx_burst(p->tap_port_id, (uint16_t)w->index, mbufs, DP_BURST);

	for (uint16_t i = 0; i < n; i++)
		rte_eth_tx_buffer(p->port_id, (uint16_t)w->index, w->txb[port], mbufs[i]);
	w->lb->ctr->from_kernel += n;
	return n;
}

/* What the port's checksum offload found, for the pipeline (enum lb_rx_csum). */
static inline uint8_t rx_csum(uint64_t f)
{
	if ((f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
	    (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		return LB_RX_CSUM_BAD;
	return (f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD
		       ? LB_RX_CSUM_IP_GOOD
		       : LB_RX_CSUM_UNKNOWN;
}

/* Runs a burst through the pipeline and acts on it. <port> is the RX port, or
 * UINT16_MAX for packets handed over by another lcore (their port is in m->port). */
static inline void process(struct dp_worker *w, const struct lb_snapshot *s,
			   struct rte_mbuf **mbufs, uint16_t n, uint16_t port, uint32_t now_ms)
{
	struct lb_pkt pkts[DP_BURST];
	uint16_t i;

	/* mbufs[0..n) are set: the analyzer cannot follow rte_ring's copy loops
	 * (rx_handoff()) and takes them for unwritten. */
	for (i = 0; i < n && i < PREFETCH_AHEAD; i++)
		// NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
		rte_prefetch0(rte_pktmbuf_mtod(mbufs[i], void *));
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mbufs[i];
		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + PREFETCH_AHEAD], void *));
		pkts[i].data = rte_pktmbuf_mtod(m, uint8_t *);
		/* Chained mbufs (jumbo frames) are dropped and counted as "nonlinear". */
		pkts[i].len = m->data_len;
		pkts[i].cap = (uint16_t)(m->data_len + rte_pktmbuf_tailroom(m));
		pkts[i].in_port = port == UINT16_MAX ? m->port : port;
		pkts[i].nonlinear = m->nb_segs > 1;
		pkts[i].handed = port == UINT16_MAX;
		pkts[i].rx_csum = rx_csum(m->ol_flags);
		pkts[i].headroom = rte_pktmbuf_headroom(m);
	}
	lb_worker_process(w->lb, s, pkts, n, now_ms);
	for (i = 0; i < n; i++) {
		/* A tunnel header was put in front: the data starts earlier. */
		mbufs[i]->data_off = (uint16_t)(pkts[i].data - (uint8_t *)mbufs[i]->buf_addr);
		act(w, mbufs[i], &pkts[i]);
	}
}

static inline uint16_t rx_port(struct dp_worker *w, const struct lb_snapshot *s, uint16_t port,
			       uint32_t now_ms)
{
	struct rte_mbuf *mbufs[DP_BURST];
	uint16_t n =
		rte_eth_rx_burst(g_dp.ports[port].port_id, (uint16_t)w->index, mbufs, DP_BURST);

	if (n == 0) {
		/*
		 * The port is idle: what earlier bursts produced leaves now
		 * rather than at the next drain tick. At a few thousand
		 * requests/s every packet would otherwise wait up to DRAIN_US
		 * at each pass through Sluice; under load the port is seldom
		 * idle and the buffers still fill to a burst before they go.
		 */
		for (uint16_t p = 0; p < g_dp.n_ports; p++)
			rte_eth_tx_buffer_flush(g_dp.ports[p].port_id, (uint16_t)w->index,
						w->txb[p]);
		return 0;
	}
	process(w, s, mbufs, n, port, now_ms);
	w->last_rx_tsc = rte_rdtsc();
	return n;
}

/* Packets other lcores passed to this one because it owns their flows. */
static inline uint32_t rx_handoff(struct dp_worker *w, const struct lb_snapshot *s, uint32_t now_ms)
{
	struct rte_mbuf *mbufs[DP_BURST];
	uint32_t got = 0;

	for (uint32_t from = 0; from < g_dp.n_workers; from++) {
		if (from == w->index)
			continue;
		uint16_t n = (uint16_t)rte_ring_sc_dequeue_burst(g_dp.handoff[from][w->index],
								 (void **)mbufs, DP_BURST, NULL);
		if (n > 0)
			process(w, s, mbufs, n, UINT16_MAX, now_ms);
		got += n;
	}
	return got;
}

/*
 * Held SYNs whose backend did not answer within their VIP's syn_timeout go
 * to another backend (lb_worker_resend), in buffers taken for them; those
 * it does not fill go back to the pool.
 */
static void resend_held(struct dp_worker *w, const struct lb_snapshot *s, uint32_t now_ms)
{
	struct rte_mbuf *m[LB_RESEND_MAX];
	struct lb_pkt pkts[LB_RESEND_MAX];
	uint32_t i, n;

	if (rte_pktmbuf_alloc_bulk(g_dp.mbufs, m, LB_RESEND_MAX) != 0)
		return; /* the pool is short: the next tick tries again */
	for (i = 0; i < LB_RESEND_MAX; i++)
		pkts[i] = (struct lb_pkt){.data = rte_pktmbuf_mtod(m[i], uint8_t *),
					  .cap = (uint16_t)rte_pktmbuf_tailroom(m[i]),
					  .headroom = rte_pktmbuf_headroom(m[i])};
	n = lb_worker_resend(w->lb, s, pkts, LB_RESEND_MAX, now_ms);
	for (i = 0; i < n; i++) {
		m[i]->data_off = (uint16_t)(pkts[i].data - (uint8_t *)m[i]->buf_addr);
		act(w, m[i], &pkts[i]);
	}
	for (; i < LB_RESEND_MAX; i++)
		rte_pktmbuf_free(m[i]);
}

/* Packets the management thread built (ARP requests, NS): sent by worker 0. */
static inline unsigned int tx_ctrl(struct dp_worker *w)
{
	struct rte_mbuf *m[DP_BURST];
	unsigned int n = rte_ring_sc_dequeue_burst(w->ctrl_tx, (void **)m, DP_BURST, NULL);

	for (unsigned int i = 0; i < n; i++) {
		/* m[0..n) were dequeued: the analyzer does not know the ring's contract. */
		// NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
		uint16_t in = m[i]->port;
		uint16_t p = in < g_dp.n_ports ? in : 0;
		rte_eth_tx_buffer(g_dp.ports[p].port_id, (uint16_t)w->index, w->txb[p], m[i]);
		w->lb->ctr->tx_ctrl++;
	}
	return n;
}

/*
 * --idle-sleep-us (hosts shared by several data planes): a worker that found
 * nothing for IDLE_POLLS polls in a row, and has flushed its TX buffers since
 * the last packet, sleeps IDLE_SLEEP_MIN_US, twice as long after each further
 * empty poll, up to the bound; the first packet ends the backoff. The cost is
 * latency for the first packets after a pause (at most the bound) and none
 * under load, when polls are never empty. Off (busy polling) by default.
 */
#define IDLE_POLLS        256
#define IDLE_SLEEP_MIN_US 1

struct idle_state {
	uint32_t empty_polls;
	uint32_t sleep_us; /* the next sleep; 0 while not backing off */
	uint64_t last_busy_tsc;
};

static inline void idle_backoff(struct idle_state *st, uint32_t got, uint64_t tsc,
				uint64_t prev_drain)
{
	if (got != 0) {
		st->empty_polls = 0;
		st->sleep_us = 0;
		st->last_busy_tsc = tsc;
		return;
	}
	if (++st->empty_polls < IDLE_POLLS || prev_drain <= st->last_busy_tsc)
		return;
	if (st->sleep_us == 0)
		st->sleep_us = IDLE_SLEEP_MIN_US;
	rte_delay_us_sleep(st->sleep_us);
	st->sleep_us = RTE_MIN(st->sleep_us * 2, g_dp.idle_sleep_us);
}

/* --exit-idle-ms (tests): true once traffic came and then stopped on every worker. */
static bool idle_for_long(uint64_t tsc, uint64_t hz)
{
	uint64_t last = 0;

	for (uint32_t i = 0; i < g_dp.n_workers; i++)
		if (g_dp.workers[i].last_rx_tsc > last)
			last = g_dp.workers[i].last_rx_tsc;
	return last != 0 && tsc > last + g_dp.exit_idle_ms * (hz / 1000);
}

/*
 * Tells the pipeline what time the wall clock says, so that full-NAT source
 * ports continue where the previous run's left off (lb_worker_set_wall_clock).
 */
static void anchor_wall_clock(struct dp_worker *w, uint32_t now_ms)
{
	struct timespec ts;

	if (g_dp.ports_from_lowest)
		return;
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		lb_worker_set_wall_clock(
			w->lb, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, now_ms);
}

int dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t drain_tsc = (hz + 999999) / 1000000 * DRAIN_US;
	uint64_t prev_drain = 0, prev_anchor = rte_rdtsc(), prev_tsc = prev_anchor;
	uint32_t prev_got = 0;
	struct idle_state idle = {0};

	/* Sleeps of a few microseconds: without this the kernel adds 50 us of slack. */
	if (g_dp.idle_sleep_us)
		prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	anchor_wall_clock(w, (uint32_t)((prev_anchor - g_dp.started_tsc) / (hz / 1000)));
	rte_rcu_qsbr_thread_online(g_dp.rcu, w->index);
	while (!g_dp.quit) {
		/* One quiescent report per iteration: no snapshot pointer is held across it. */
		rte_rcu_qsbr_quiescent(g_dp.rcu, w->index);
		const struct lb_snapshot *s = __atomic_load_n(&g_dp.snapshot, __ATOMIC_ACQUIRE);
		uint64_t tsc = rte_rdtsc();
		uint32_t now_ms = (uint32_t)((tsc - g_dp.started_tsc) / (hz / 1000));
		uint32_t got = 0;

		/* The previous iteration was busy if it moved packets: no extra rdtsc. */
		if (prev_got != 0)
			w->busy_cycles += tsc - prev_tsc;
		prev_tsc = tsc;

		for (uint16_t p = 0; p < g_dp.n_ports; p++) {
			got += rx_port(w, s, p, now_ms);
			if (g_dp.ports[p].has_tap)
				got += rx_kernel(w, p);
		}
		if (g_dp.n_workers > 1)
			got += rx_handoff(w, s, now_ms);
		got += tx_ctrl(w);
		if (tsc - prev_drain > drain_tsc) {
			for (uint16_t p = 0; p < g_dp.n_ports; p++) {
				rte_eth_tx_buffer_flush(g_dp.ports[p].port_id, (uint16_t)w->index,
							w->txb[p]);
				if (g_dp.ports[p].has_tap)
					rte_eth_tx_buffer_flush(g_dp.ports[p].tap_port_id,
								(uint16_t)w->index, w->tap_txb[p]);
			}
			w->lb->ctr->drop[LB_DROP_TX_FULL] = w->tx_dropped;
			lb_worker_sweep(w->lb, now_ms, SWEEP_BUDGET);
			if (lb_worker_resend_due(w->lb, now_ms))
				resend_held(w, s, now_ms);
			dp_lookup_serve(w, s, now_ms);
			prev_drain = tsc;
		}
		/* Again every 10 minutes: the 32-bit ms clock wraps in 49 days. */
		if (tsc - prev_anchor > 600 * hz) {
			anchor_wall_clock(w, now_ms);
			prev_anchor = tsc;
		}
		if (g_dp.exit_idle_ms && w->index == 0 && idle_for_long(tsc, hz))
			g_dp.quit = true;
		if (g_dp.idle_sleep_us)
			idle_backoff(&idle, got, tsc, prev_drain);
		/*
		 * A worker that shares its CPU with the clients and servers it
		 * forwards for (veth, a small host) lets them run first instead
		 * of spinning out its time slice; it stays runnable, so it is
		 * back as soon as they block.
		 */
		else if (g_dp.idle_yield && got == 0)
			sched_yield();
		prev_got = got;
	}
	for (uint16_t p = 0; p < g_dp.n_ports; p++)
		rte_eth_tx_buffer_flush(g_dp.ports[p].port_id, (uint16_t)w->index, w->txb[p]);
	w->lb->ctr->drop[LB_DROP_TX_FULL] = w->tx_dropped;
	rte_rcu_qsbr_thread_offline(g_dp.rcu, w->index);
	return 0;
}
