/* SPDX-License-Identifier: BSD-3-Clause */
/* The control daemon's /metrics: ctrl_metrics.h. */
#include "ctrl_metrics.h"

#include "prom.h"

static void labels(const struct ctrl_backend *b, struct prom_labels *l)
{
	char ep[80];

	prom_labels_init(l);
	prom_label(l, "vip", b->id.vip);
	prom_label(l, "backend", ctrl_endpoint(b, ep, sizeof(ep)));
}

/* One gauge or counter family over the backends <want> selects. */
static void per_backend(FILE *f, const struct ctrl_set *s, const char *name, const char *type,
			const char *help, bool (*want)(const struct ctrl_backend *),
			uint64_t (*value)(const struct ctrl_backend *))
{
	struct prom_labels l;

	prom_family(f, name, type, help);
	for (size_t i = 0; i < s->n; i++) {
		if (want != NULL && !want(&s->b[i]))
			continue;
		labels(&s->b[i], &l);
		prom_sample(f, name, &l, value(&s->b[i]));
	}
}

static bool checked(const struct ctrl_backend *b)
{
	return b->check.enabled;
}

static bool has_breaker(const struct ctrl_backend *b)
{
	return b->breaker.enabled;
}

static uint64_t up(const struct ctrl_backend *b)
{
	return b->check.hc.health == HC_UP;
}

static uint64_t checks(const struct ctrl_backend *b)
{
	return b->check.hc.checks;
}

static uint64_t failed(const struct ctrl_backend *b)
{
	return b->check.hc.failed;
}

static uint64_t changes(const struct ctrl_backend *b)
{
	return b->check.hc.changes;
}

static uint64_t ejections(const struct ctrl_backend *b)
{
	return b->breaker.cb.ejections;
}

static uint64_t told_up(const struct ctrl_backend *b)
{
	return b->told.up;
}

static uint64_t level(const struct ctrl_backend *b)
{
	return b->failover.level;
}

/* The daemon as a whole: the data plane, reloads, announcements. */
static void write_daemon(FILE *f, const struct ctrl_set *s, const struct ctrl_metrics_daemon *dm)
{
	struct prom_labels l;

	prom_family(f, "sluice_control_dataplane_reachable", "gauge",
		    "1 while the data plane answered the daemon's last request, else 0.");
	prom_sample(f, "sluice_control_dataplane_reachable", NULL, dm->dataplane_reachable);
	prom_family(f, "sluice_control_dataplane_generation", "gauge",
		    "The data plane's configuration generation, as last read.");
	prom_sample(f, "sluice_control_dataplane_generation", NULL, dm->dataplane_generation);
	prom_family(f, "sluice_control_reloads_total", "counter",
		    "Configuration reloads attempted (SIGHUP, sluicectl config reload).");
	prom_sample(f, "sluice_control_reloads_total", NULL, dm->reloads);
	prom_family(f, "sluice_control_reload_failures_total", "counter",
		    "Reloads refused (the file did not load; nothing changed).");
	prom_sample(f, "sluice_control_reload_failures_total", NULL, dm->reload_failures);
	if (dm->has_cluster) {
		prom_family(f, "sluice_control_node_drained", "gauge",
			    "1 while the operator has drained this node (sluicectl node drain).");
		prom_sample(f, "sluice_control_node_drained", NULL, dm->drained);
		prom_family(f, "sluice_control_bird_told", "gauge",
			    "1 when BIRD runs the routes as last decided, 0 while it could not be "
			    "told.");
		prom_sample(f, "sluice_control_bird_told", NULL, dm->bird_told);
		prom_family(f, "sluice_control_vip_announced", "gauge",
			    "1 while this node announces the VIP over BGP, 0 when it withdrew it "
			    "(reason: why not).");
		for (uint32_t v = 0; dm->conf != NULL && v < dm->n_why && v < dm->conf->n_vips;
		     v++) {
			prom_labels_init(&l);
			prom_label(&l, "vip", dm->conf->vips[v].name);
			prom_label(&l, "reason", ann_why_name((enum ann_why)dm->why[v]));
			prom_sample(f, "sluice_control_vip_announced", &l, dm->why[v] == ANN_UP);
		}
	}
	prom_family(f, "sluice_control_backends", "gauge", "Backends in the configuration.");
	prom_sample(f, "sluice_control_backends", NULL, s->n);
}

/* Each backend: checks, health, what was told, breaker. */
static void write_backends(FILE *f, const struct ctrl_set *s)
{
	struct prom_labels l;

	per_backend(f, s, "sluice_control_backend_healthy", "gauge",
		    "1 while the backend's active checks hold it up, else 0 (checked backends).",
		    checked, up);
	per_backend(f, s, "sluice_control_backend_told_up", "gauge",
		    "1 when the daemon last told the data plane the backend is up, else 0.", NULL,
		    told_up);
	per_backend(f, s, "sluice_control_backend_priority", "gauge",
		    "The backend's failover level (0 first).", NULL, level);
	per_backend(f, s, "sluice_control_checks_total", "counter", "Active check results.",
		    checked, checks);
	per_backend(f, s, "sluice_control_failed_checks_total", "counter",
		    "Active check results that failed.", checked, failed);
	per_backend(f, s, "sluice_control_health_transitions_total", "counter",
		    "Health changes (up to down and back), forced ones included.", checked,
		    changes);

	prom_family(f, "sluice_control_check_duration_seconds", "gauge",
		    "How long the backend's latest active check took.");
	for (size_t i = 0; i < s->n; i++) {
		const struct ctrl_backend *b = &s->b[i];
		if (!b->check.enabled || b->check.hc.checks == 0)
			continue;
		labels(b, &l);
		prom_sample_double(f, "sluice_control_check_duration_seconds", &l,
				   b->check.last_duration_ms / 1000.0);
	}

	prom_family(f, "sluice_control_control_weight", "gauge",
		    "The weight the daemon told the data plane for new flows (failover, slow "
		    "start, ejection); -1 when it leaves the operator's weight.");
	for (size_t i = 0; i < s->n; i++) {
		if (s->b[i].told.control_weight < -1)
			continue; /* not told yet */
		labels(&s->b[i], &l);
		prom_sample_double(f, "sluice_control_control_weight", &l,
				   s->b[i].told.control_weight);
	}

	prom_family(f, "sluice_control_breaker_state", "gauge",
		    "The circuit breaker's state: 1 for the state it is in, 0 for the others.");
	for (size_t i = 0; i < s->n; i++) {
		const struct ctrl_backend *b = &s->b[i];
		if (!b->breaker.enabled)
			continue;
		for (int st = 0; st < BREAKER_STATE_MAX; st++) {
			labels(b, &l);
			prom_label(&l, "state", breaker_state_name((enum breaker_state)st));
			prom_sample(f, "sluice_control_breaker_state", &l,
				    b->breaker.cb.state == (enum breaker_state)st);
		}
	}
	per_backend(f, s, "sluice_control_breaker_consecutive_ejections", "gauge",
		    "Ejections in a row (the backoff multiplier; 0 once closed long enough).",
		    has_breaker, ejections);
}

void ctrl_metrics_write(FILE *f, const struct ctrl_set *s, const struct ctrl_metrics_daemon *dm)
{
	write_daemon(f, s, dm);
	write_backends(f, s);
}
