/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data plane's /metrics (--metrics ADDR:PORT): the lcores' counters, per
 * VIP and per backend traffic, drops by reason, flows and port statistics in
 * Prometheus text format. Every counter comes from the counter schema
 * (counter_schema.h), as the API's JSON does. Served from the management
 * thread's loop (metrics_http_poll), so it reads the model without locks and
 * the per-lcore counters as the API does: a scrape never touches a worker.
 */
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "flow.h"
#include "metrics_http.h"
#include "prom.h"

static struct metrics_http *g_metrics;

/* Each lcore counter: sluice_<metric>_total{lcore="N"}. */
static void put_lcore_counters(FILE *f, struct dp *dp)
{
	struct prom_labels l;
	char name[96], id[16];

#define PUT(field, metric, help)                                                                   \
	snprintf(name, sizeof(name), "sluice_%s_total", metric);                                   \
	prom_family(f, name, "counter", help);                                                     \
	for (uint32_t w = 0; w < dp->n_workers; w++) {                                             \
		snprintf(id, sizeof(id), "%u", dp->workers[w].lcore_id);                           \
		prom_labels_init(&l);                                                              \
		prom_label(&l, "lcore", id);                                                       \
		prom_sample(f, name, &l, dp->workers[w].lb->ctr->field);                           \
	}
	COUNTER_LCORE_LIST(PUT)
#undef PUT
	prom_family(f, "sluice_dropped_packets_total", "counter",
		    "Packets dropped, by reason (docs/api.md lists the reasons).");
	for (uint32_t w = 0; w < dp->n_workers; w++) {
		snprintf(id, sizeof(id), "%u", dp->workers[w].lcore_id);
		for (int d = 1; d < LB_DROP_MAX; d++) {
			prom_labels_init(&l);
			prom_label(&l, "lcore", id);
			prom_label(&l, "reason", lb_drop_name((enum lb_drop)d));
			prom_sample(f, "sluice_dropped_packets_total", &l,
				    dp->workers[w].lb->ctr->drop[d]);
		}
	}
	prom_family(f, "sluice_lcore_busy_seconds_total", "counter",
		    "Time the lcore spent in poll iterations that moved packets; its rate is the "
		    "lcore's load (1 = never idle).");
	for (uint32_t w = 0; w < dp->n_workers; w++) {
		snprintf(id, sizeof(id), "%u", dp->workers[w].lcore_id);
		prom_labels_init(&l);
		prom_label(&l, "lcore", id);
		prom_sample_double(f, "sluice_lcore_busy_seconds_total", &l,
				   (double)dp->workers[w].busy_cycles / (double)dp->tsc_hz);
	}
	prom_family(f, "sluice_flows", "gauge", "Entries in the lcore's flow table.");
	for (uint32_t w = 0; w < dp->n_workers; w++) {
		snprintf(id, sizeof(id), "%u", dp->workers[w].lcore_id);
		prom_labels_init(&l);
		prom_label(&l, "lcore", id);
		prom_sample(f, "sluice_flows", &l, flow_table_count(dp->workers[w].lb->flows));
	}
}

/* The labels of VIP slot <v> (and of backend slot <b> unless LB_NO_SLOT). */
static void entity_labels(const struct lb_model *m, uint32_t v, uint32_t b, struct prom_labels *l)
{
	char addr[64], ep[80];

	prom_labels_init(l);
	prom_label(l, "vip", m->vips[v].name);
	if (b == LB_NO_SLOT)
		return;
	sl_addr_format(&m->backends[b].addr, addr, sizeof(addr));
	snprintf(ep, sizeof(ep), strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr,
		 m->backends[b].port);
	prom_label(l, "backend", ep);
}

/*
 * Traffic of the VIPs (backends: false) or of their backends in service
 * (deleted ones still finishing flows are left out: one series per label set).
 */
struct entity {
	uint32_t vip, backend;
	struct lb_traffic t;
	uint64_t active;
};

static size_t collect(struct dp *dp, bool backends, struct entity *out)
{
	const struct lb_model *m = dp->model;
	size_t n = 0;

	for (uint32_t v = 0; v < LB_MAX_VIPS; v++) {
		const struct lb_model_vip *mv = &m->vips[v];
		if (mv->uid == 0)
			continue;
		if (!backends) {
			struct entity *e = &out[n++];
			e->vip = v;
			e->backend = LB_NO_SLOT;
			dp_traffic_total(dp, true, v, &e->t);
			lb_traffic_sub(&e->t, &mv->baseline);
			e->active = 0;
			for (uint32_t j = 0; j < mv->n_members; j++)
				for (uint32_t w = 0; w < dp->n_workers; w++)
					e->active += dp->workers[w].lb->active[mv->members[j]];
			continue;
		}
		for (uint32_t j = 0; j < mv->n_members; j++) {
			uint32_t s = mv->members[j];
			struct entity *e = &out[n++];
			e->vip = v;
			e->backend = s;
			dp_traffic_total(dp, false, s, &e->t);
			lb_traffic_sub(&e->t, &m->backends[s].baseline);
			e->active = 0;
			for (uint32_t w = 0; w < dp->n_workers; w++)
				e->active += dp->workers[w].lb->active[s];
		}
	}
	return n;
}

static void put_traffic(FILE *f, struct dp *dp, const struct entity *e, size_t n, const char *kind)
{
	const struct lb_model *m = dp->model;
	struct prom_labels l;
	char name[96], help[160];

#define PUT(field, metric, text)                                                                   \
	snprintf(name, sizeof(name), "sluice_%s_%s_total", kind, metric);                          \
	snprintf(help, sizeof(help), "%s", text);                                                  \
	prom_family(f, name, "counter", help);                                                     \
	for (size_t i = 0; i < n; i++) {                                                           \
		entity_labels(m, e[i].vip, e[i].backend, &l);                                      \
		prom_sample(f, name, &l, e[i].t.field);                                            \
	}
	COUNTER_TRAFFIC_LIST(PUT)
#undef PUT
	snprintf(name, sizeof(name), "sluice_%s_active_flows", kind);
	prom_family(f, name, "gauge", "Flows in the flow tables now.");
	for (size_t i = 0; i < n; i++) {
		entity_labels(m, e[i].vip, e[i].backend, &l);
		prom_sample(f, name, &l, e[i].active);
	}
}

/* What the data plane holds of each backend: health as it sees it, weights. */
static void put_backend_state(FILE *f, struct dp *dp, const struct entity *e, size_t n)
{
	const struct lb_model *m = dp->model;
	struct prom_labels l;

	prom_family(f, "sluice_backend_up", "gauge",
		    "1 while the backend is up (its health as the data plane holds it), else 0.");
	for (size_t i = 0; i < n; i++) {
		entity_labels(m, e[i].vip, e[i].backend, &l);
		prom_sample(f, "sluice_backend_up", &l,
			    m->backends[e[i].backend].health == SL_HEALTH_UP);
	}
	prom_family(f, "sluice_backend_effective_weight", "gauge",
		    "The weight new flows see (the control daemon's when it set one).");
	for (size_t i = 0; i < n; i++) {
		entity_labels(m, e[i].vip, e[i].backend, &l);
		prom_sample(f, "sluice_backend_effective_weight", &l,
			    lb_model_backend_effective_weight(m, &m->backends[e[i].backend]));
	}
}

/* The ports' own statistics (rte_eth_stats), by port name. */
static void put_ports(FILE *f, struct dp *dp)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} stat[] = {
		{"sluice_port_received_packets_total", "Packets the port received.",
		 offsetof(struct rte_eth_stats, ipackets)},
		{"sluice_port_sent_packets_total", "Packets the port sent.",
		 offsetof(struct rte_eth_stats, opackets)},
		{"sluice_port_missed_packets_total",
		 "Packets the port dropped because its RX queues were full (imissed).",
		 offsetof(struct rte_eth_stats, imissed)},
		{"sluice_port_receive_errors_total", "Erroneous received packets (ierrors).",
		 offsetof(struct rte_eth_stats, ierrors)},
		{"sluice_port_transmit_errors_total", "Failed transmissions (oerrors).",
		 offsetof(struct rte_eth_stats, oerrors)},
	};
	struct rte_eth_stats st[LB_MAX_PORTS];
	bool ok[LB_MAX_PORTS];
	struct prom_labels l;

	for (uint32_t p = 0; p < dp->n_ports; p++)
		ok[p] = rte_eth_stats_get(dp->ports[p].port_id, &st[p]) == 0;
	for (size_t i = 0; i < sizeof(stat) / sizeof(stat[0]); i++) {
		prom_family(f, stat[i].name, "counter", stat[i].help);
		for (uint32_t p = 0; p < dp->n_ports; p++) {
			if (!ok[p])
				continue;
			prom_labels_init(&l);
			prom_label(&l, "port", dp->ports[p].name);
			prom_sample(f, stat[i].name, &l,
				    *(const uint64_t *)((const char *)&st[p] + stat[i].off));
		}
	}
}

static void render(FILE *f, void *ctx)
{
	struct dp *dp = ctx;
	struct entity *e = malloc(sizeof(*e) * LB_MAX_BACKENDS);
	size_t n;

	prom_family(f, "sluice_generation", "gauge",
		    "Generation of the configuration the workers run (grows at each change).");
	prom_sample(f, "sluice_generation", NULL, dp->snapshot->generation);
	prom_family(f, "sluice_workers", "gauge", "Worker lcores.");
	prom_sample(f, "sluice_workers", NULL, dp->n_workers);
	put_lcore_counters(f, dp);
	put_ports(f, dp);
	if (e == NULL)
		return; /* the rest next scrape; what was written is well-formed */
	n = collect(dp, false, e);
	put_traffic(f, dp, e, n, "vip");
	n = collect(dp, true, e);
	put_traffic(f, dp, e, n, "backend");
	put_backend_state(f, dp, e, n);
	free(e);
}

int dp_metrics_start(struct dp *dp, const char *listen)
{
	char err[200];

	if (listen == NULL)
		return 0;
	g_metrics = metrics_http_start(listen, render, dp, err, sizeof(err));
	if (g_metrics == NULL) {
		DP_LOG(ERR, "%s", err);
		return -1;
	}
	DP_LOG(INFO, "metrics on http://%s/metrics", listen);
	return 0;
}

void dp_metrics_poll(void)
{
	metrics_http_poll(g_metrics);
}

void dp_metrics_stop(void)
{
	metrics_http_stop(g_metrics);
	g_metrics = NULL;
}
