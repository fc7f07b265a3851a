/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control daemon's /metrics: each backend's checks, health, breaker and
 * the weight it told the data plane, in Prometheus text format (prom.h).
 * No I/O beyond the stream it writes to: tests render a set on a fake clock.
 */
#ifndef SLUICE_CTRL_METRICS_H
#define SLUICE_CTRL_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "announce.h"
#include "conf.h"
#include "ctrl.h"

/* The daemon's own state beside the backends'. */
struct ctrl_metrics_daemon {
	bool dataplane_reachable;
	uint64_t dataplane_generation;
	uint64_t reloads, reload_failures;
	/* Announcements (cluster: section; has_cluster false: none). */
	bool has_cluster;
	bool drained;            /* the operator drained the node */
	bool bird_told;          /* BIRD runs the routes as decided */
	const struct conf *conf; /* its VIPs' names, in order */
	const uint8_t *why;      /* enum ann_why per VIP of conf */
	uint32_t n_why;
};

void ctrl_metrics_write(FILE *f, const struct ctrl_set *s, const struct ctrl_metrics_daemon *dm);

#endif
