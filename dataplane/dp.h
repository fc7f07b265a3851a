/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-dataplane: the DPDK glue around the lb library. One worker per
 * lcore (the main lcore included), each owning RX/TX queue <index> of every
 * port; a management control thread that owns the model, publishes
 * snapshots, resolves neighbours and serves the API socket.
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
} __rte_cache_aligned;

struct dp {
	struct conf conf;
	const char *api_socket;
	const char *metrics_listen; /* --metrics ADDR:PORT, NULL: no /metrics */
	gid_t api_gid; /* besides root, this group may use the API (UNIX_SOCK_NO_GROUP: none) */
	uint32_t exit_idle_ms;  /* 0 = run until signalled (tests: stop after idle) */
	uint32_t idle_sleep_us; /* --idle-sleep-us: longest idle sleep; 0 = busy poll */
	bool stats_on_exit;
	bool ports_from_lowest; /* tests: full-NAT ports without the wall clock */

	uint32_t n_ports;
	struct dp_port ports[LB_MAX_PORTS];
	uint32_t n_workers;
	struct dp_worker workers[LB_MAX_LCORES];
	/* handoff[from][to]: packets of flows another lcore owns (fnat/nat), SP/SC. */
	struct rte_ring *handoff[LB_MAX_LCORES][LB_MAX_LCORES];
	struct rte_mempool *pool;

	bool publish_pending;         /* the model has changes not yet published */
	struct lb_model *model;       /* management thread only */
	struct steer *steer;          /* XDP steering for net_af_xdp ports (NULL: none) */
	char steer_obj[128];          /* the program object given to the PMD (xdp_prog=) */
	struct lb_snapshot *snapshot; /* published; workers load it once per burst */
	struct lb_neigh_table *neigh;
	struct lb_load *load;
	struct rte_rcu_qsbr *rcu;

	volatile bool quit;
	uint64_t started_tsc;
};

extern struct dp g_dp;

/* port.c */
int dp_ports_init(struct dp *dp);
void dp_ports_close(struct dp *dp);

/* worker.c */
int dp_worker_main(void *arg);

/* mgmt.c */
int dp_mgmt_start(struct dp *dp);
void dp_mgmt_stop(struct dp *dp);
/* The management thread's clock, ms since start. */
uint64_t dp_now_ms(void);
/* Publishes a new snapshot and waits until every worker runs it. */
int dp_publish(struct dp *dp);
/* Makes the XDP steering maps hold the snapshot's VIPs and addresses. */
void dp_steer_sync(struct dp *dp, const struct lb_snapshot *s);
/* JSON text of the counters (caller frees). */
char *dp_stats_json(struct dp *dp);

/* api.c: a VIP's (vip) or backend's counters summed over the lcores. */
void dp_traffic_total(struct dp *dp, bool vip, uint32_t slot, struct lb_traffic *t);

/* metrics.c: /metrics over HTTP on <listen> ("ADDR:PORT", "[V6]:PORT"); NULL: none. */
int dp_metrics_start(struct dp *dp, const char *listen);
/* Serves what is pending (management thread, each loop; never blocks). */
void dp_metrics_poll(void);
void dp_metrics_stop(void);

/* api.c: handles one request line, returns the response (caller frees). */
char *dp_api_handle(struct dp *dp, const char *line, size_t len);

#endif
