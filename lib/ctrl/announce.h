/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Whether this node announces its VIPs (docs/cluster.md), without I/O: the
 * control daemon feeds it what it sees (the data plane's answers, each VIP's
 * usable backends, the operator's drain) and writes the routes it renders
 * for the routing daemon (control/bgp.c).
 *
 * A VIP is announced only while the data plane answers, the node is not
 * drained and the VIP has at least one backend that can take flows. Routes
 * are per address: an address is announced while any VIP on it is (a VIP
 * on port 443 without backends does not take port 80 of the same address
 * off the node). Time is passed in as "now" (ms, any monotonic clock).
 */
#ifndef SLUICE_ANNOUNCE_H
#define SLUICE_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_addr.h"

/* Why a VIP is, or is not, announced; the order is the order of precedence. */
enum ann_why {
	ANN_DP_DOWN,    /* the data plane stopped answering, or never did */
	ANN_DRAINED,    /* the operator drained the node */
	ANN_NO_BACKEND, /* every backend down, drained or weight 0 */
	ANN_UP,         /* announced */
};

/* What the node knows of itself. */
struct ann_node {
	uint32_t dp_timeout_ms; /* the data plane silent this long counts as dead */
	uint64_t dp_last_ok;    /* when it last answered; 0: not yet */
	bool dp_gone;           /* its socket refused a connection: no process listens */
	bool drained;
};

void ann_node_init(struct ann_node *n, uint32_t dp_timeout_ms);

/* The data plane answered at <now>. */
void ann_dp_answered(struct ann_node *n, uint64_t now);

/*
 * Its API socket refused a connection or is not there: the process is gone
 * (killed, crashed, stopped), which needs no timeout to know. A slow answer
 * is not this: a busy or starved data plane still accepts connections.
 */
void ann_dp_gone(struct ann_node *n);

/* It answered within dp_timeout_ms of <now>, and its socket was not refused since. */
bool ann_dp_alive(const struct ann_node *n, uint64_t now);

/* A VIP with <usable> backends that can take flows, at <now>. */
enum ann_why ann_vip_decide(const struct ann_node *n, uint32_t usable, uint64_t now);

/* "announced", "dataplane down", "drained", "no backend". */
const char *ann_why_name(enum ann_why w);

/* One address to announce, with the next hop the router is to use. */
struct ann_route {
	struct sl_addr addr;
};

/*
 * Sorts <r>[0..n) and drops repeated addresses; returns the new count. The
 * rendering of the result is the same whatever order the VIPs came in.
 */
size_t ann_routes_normalize(struct ann_route *r, size_t n);

/*
 * The BIRD 2 include for routes <r>[0..n) (normalized) into <buf>: two
 * static protocols, <name>4 (IPv4 /32s) and <name>6 (IPv6 /128s), each
 * route via <nh4> / <nh6> (the data plane's addresses; NULL: that family
 * is not announced). Both protocols are always there, empty when nothing
 * is announced, so that the main config may name them in its filters.
 * Returns the length written, or -ENOSPC (<buf> holds a truncated text).
 */
int ann_render_bird(const struct ann_route *r, size_t n, const char *name,
		    const struct sl_addr *nh4, const struct sl_addr *nh6, char *buf, size_t len);

#endif
