/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-dataplane: the DPDK glue around the lb library. One worker per
 * lcore (the main lcore included), each owning RX/TX queue <index> of every
 * port; a management control thread that owns the model, publishes
 * snapshots, resolves neighbours and serves the API socket.
 *
 * Files by job, each calling only those below it (no file calls back up):
 *
 *   main.c          start-up order and shutdown
 *   eal_args.c      the EAL's arguments: the user's and one per configured port
 *   worker_setup.c  workers' flow tables, rings and TX buffers; launching them
 *   worker.c        a worker's loop (the per-packet path)
 *   port.c          ports: set-up and close
 *   mgmt.c          the management thread's loop and ticks
 *   metrics.c       /metrics over HTTP (Prometheus), from the API's counters
 *   api_sock.c      the API transport: connections, lines in and out, to a handler
 *   api.c           the API: requests, validated, applied whole or not at all
 *   lookup.c        flow.lookup's question to each worker's flow table, and its answer
 *   reap.c          freeing deleted backends whose flows have ended
 *   load.c          least-connections loads, summed over the lcores
 *   publish.c       a new snapshot swapped in under RCU
 *   neigh_io.c      ARP/ND requests out, replies in
 *   xdp.c           the XDP steering program and its maps (net_af_xdp ports)
 *   clock.c         the management clock
 */
#ifndef SLUICE_DP_H
#define SLUICE_DP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "conf.h"
#include "lb.h"
#include "lb_lookup.h"
#include "lb_model.h"
#include "lb_worker.h"

#define DP_BURST        32
#define DP_RING_SIZE    1024
#define DP_MGMT_TICK_MS 5
/*
 * Pool building on the management thread. Maglev tables of up to
 * DP_BUILD_AT_ONCE entries in all (two of the default size, about 2 ms) are
 * built at once, so such a change is published, or undone for memory,
 * before its answer. Larger ones are built in slices of DP_BUILD_SLICE work
 * units (maglev_build_step(): about 0.5 ms) with API requests served in
 * between: a table of 1048573 entries takes about 80 of them.
 */
#define DP_BUILD_AT_ONCE 131074
#define DP_BUILD_SLICE   (1u << 17)

extern int dp_logtype;
#define DP_LOG(level, fmt, ...)                                                                    \
	rte_log(RTE_LOG_##level, dp_logtype, "sluice: " fmt "\n", ##__VA_ARGS__)

struct dp_port {
	uint16_t port_id;
	bool has_tap; /* exception path to the kernel (net_tap) */
	bool tx_csum; /* the port computes IPv4/TCP/UDP checksums on transmit */
	uint16_t tap_port_id;
	char name[CONF_NAME_MAX];
	struct rte_ether_addr mac;
};

/* One per worker lcore; cache-line aligned so lcores never share a line. */
/* A flow.lookup request to one worker and its answer (lookup.c). */
struct dp_lookup_box {
	uint32_t req;  /* the management thread's request number (release) */
	uint32_t done; /* the last request the worker answered (release) */
	struct flow_key key;
	uint32_t vip_slot;
	bool found;              /* the worker holds an entry for the key */
	struct lb_lookup answer; /* where the entry sends it (found) */
};

struct dp_worker {
	unsigned int lcore_id;
	uint32_t index; /* queue index, RCU thread id, lb_load row */
	struct lb_worker *lb;
	struct flow_mem flow_mem; /* its flow table's memory: hugepages on its NUMA node */
	struct rte_ring *to_mgmt; /* ARP replies / NAs for the management thread (SP/SC) */
	struct rte_ring *ctrl_tx; /* packets the management thread wants sent (SP/SC) */
	struct rte_eth_dev_tx_buffer *txb[LB_MAX_PORTS];
	struct rte_eth_dev_tx_buffer *tap_txb[LB_MAX_PORTS]; /* to the kernel interfaces */
	uint64_t tx_dropped;                                 /* counted by the TX buffer callback */
	uint64_t last_rx_tsc; /* for --exit-idle-ms; per worker, no shared line */
	/* TSC cycles spent in loop iterations that moved packets (/metrics, stats). */
	uint64_t busy_cycles;
	struct dp_lookup_box lookup __rte_cache_aligned; /* written by the mgmt thread */
} __rte_cache_aligned;

struct dp {
	struct conf conf;
	const char *api_socket;
	const char *metrics_listen; /* --metrics ADDR:PORT, NULL: no /metrics */
	gid_t api_gid; /* besides root, this group may use the API (UNIX_SOCK_NO_GROUP: none) */
	uint32_t exit_idle_ms;  /* 0 = run until signalled (tests: stop after idle) */
	uint32_t idle_sleep_us; /* --idle-sleep-us: longest idle sleep; 0 = busy poll */
	bool idle_yield;        /* --idle-yield: sched_yield() after a poll that found nothing */
	bool stats_on_exit;
	bool ports_from_lowest; /* tests: full-NAT ports without the wall clock */

	uint32_t n_ports;
	struct dp_port ports[LB_MAX_PORTS];
	uint32_t n_workers;
	struct dp_worker workers[LB_MAX_LCORES];
	/* handoff[from][to]: packets of flows another lcore owns (fnat/nat), SP/SC. */
	struct rte_ring *handoff[LB_MAX_LCORES][LB_MAX_LCORES];
	struct rte_mempool *mbufs;

	bool publish_pending; /* the model has changes not yet published */
	/*
	 * Set by dp_api_handle() when the change it made is still being built:
	 * the answer is sent once it is published (mgmt.c), and none is returned.
	 */
	bool answer_later;
	struct lb_model *model;       /* management thread only */
	struct steer *steer;          /* XDP steering for net_af_xdp ports (NULL: none) */
	char steer_obj[128];          /* the program object given to the PMD (xdp_prog=) */
	struct lb_snapshot *snapshot; /* published; workers load it once per burst */
	struct lb_neigh_table *neigh;
	struct lb_load *load;
	struct rte_rcu_qsbr *rcu;

	volatile bool quit;
	uint64_t started_tsc;
	uint64_t tsc_hz; /* rte_get_tsc_hz(), for what reads the workers' cycle counts */
};

extern struct dp g_dp;

/* port.c */
int dp_ports_init(struct dp *dp);
void dp_ports_close(struct dp *dp);

/* worker.c */
int dp_worker_main(void *arg);

/*
 * lookup.c. Worker side, at its drain tick: answers a pending flow.lookup
 * from its own flow table. Management side: asks every worker whether it
 * holds flow <k> of VIP <vip_slot>; 1 with the entry's backend in <answer>
 * and the worker's lcore in <lcore>, 0 when none holds it, -N when N workers
 * did not answer in time (the others hold nothing).
 */
void dp_lookup_serve(struct dp_worker *w, const struct lb_snapshot *s, uint32_t now_ms);
int dp_lookup_ask(struct dp *dp, uint32_t vip_slot, const struct flow_key *k,
		  struct lb_lookup *answer, unsigned int *lcore);

/*
 * eal_args.c: the arguments for rte_eal_init(), <argv>'s first <n_user> (the
 * user's EAL options) then the configured ports'; NULL when out of memory.
 */
char **dp_eal_args(struct dp *dp, int n_user, char **argv, int *eal_argc);
/* Frees what dp_eal_args() allocated (after rte_eal_init(), which may reorder it: fine). */
void dp_eal_args_free(char **eal_argv, int eal_argc, int n_user, char **argv);

/* worker_setup.c */
/* Each lcore's worker: flow table, rings, TX buffers, RCU thread id; handoff rings. */
int dp_workers_init(struct dp *dp);
/* Runs a worker on every lcore, the main one included; returns when all have stopped. */
void dp_workers_run(struct dp *dp);
void dp_workers_free(struct dp *dp);

/* mgmt.c */
int dp_mgmt_start(struct dp *dp);
void dp_mgmt_stop(struct dp *dp);

/* metrics.c: /metrics over HTTP on <listen> ("ADDR:PORT", "[V6]:PORT"); NULL: none. */
int dp_metrics_start(struct dp *dp, const char *listen);
/* Serves what is pending (management thread, each loop; never blocks). */
void dp_metrics_poll(void);
void dp_metrics_stop(void);

/*
 * api.c: handles one request line, returns the response (caller frees), or
 * NULL with dp->answer_later set when a change is published later (large
 * Maglev tables being built): its answer, the generation that holds it,
 * is the management thread's to send then.
 */
char *dp_api_handle(struct dp *dp, const char *line, size_t len);
/* JSON text of the counters (caller frees). */
char *dp_stats_json(struct dp *dp);
/* api.c: a VIP's (vip) or backend's counters summed over the lcores. */
void dp_traffic_total(struct dp *dp, bool vip, uint32_t slot, struct lb_traffic *t);

/* reap.c: frees deleted backends whose last flow has ended, and publishes. */
void dp_reap_removed(struct dp *dp);

/* load.c: publishes each backend's flow count summed over the lcores (least-connections). */
void dp_load_publish(struct dp *dp);

/*
 * publish.c: publishes a new snapshot and waits until every worker runs it:
 * 0. 1 when the changed pools take more than one slice (DP_BUILD_SLICE) to
 * build: publish_pending is set, and the management loop calls again, a
 * slice each time, until it returns 0. -ENOMEM when it cannot be built: the
 * model keeps the change, publish_pending is set and the management tick
 * retries (api.c undoes an API change first).
 */
int dp_publish(struct dp *dp);

/* neigh_io.c */
/* Sends the ARP requests / neighbour solicitations due now (through worker 0). */
void dp_neigh_solicit(struct dp *dp);
/* Learns the replies the workers handed over. */
void dp_neigh_receive(struct dp *dp);

/* xdp.c */
int dp_xdp_open(struct dp *dp);
/* Makes the XDP steering maps hold the snapshot's VIPs and addresses. */
void dp_xdp_sync(struct dp *dp, const struct lb_snapshot *s);
void dp_xdp_close(struct dp *dp);

/* clock.c: the management thread's clock, ms since start. */
uint64_t dp_now_ms(void);

#endif
