/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control daemon's logic, without its I/O (docs/control.md): each
 * backend's control state as one struct, built from the configuration and
 * carried whole across a reload; the data plane's counters turned into
 * breaker signals; active check results; the failover, slow-start and
 * breaker weights of a VIP. The daemon (control/control.c) runs the checks,
 * reads the data plane and tells it what these functions decide.
 *
 * No I/O, no logging: time is passed in as "now" (ms, any monotonic clock),
 * so tests drive a fake clock. What the daemon says in its log, it learns
 * from return values and from the <on_breaker> callback.
 */
#ifndef SLUICE_CTRL_H
#define SLUICE_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bkey.h"
#include "breaker.h"
#include "conf.h"
#include "health.h"
#include "sl_addr.h"
#include "failover.h"

/* Who the backend is to the data plane (from the file). */
struct ctrl_ident {
	char vip[CONF_NAME_MAX];
	struct sl_addr addr;
	uint16_t port;      /* the backend's service port (data-plane identity) */
	uint32_t vip_index; /* into conf.vips */
	uint32_t seq;       /* its place among the VIP's backends (breaker jitter seed) */
};

/* Its active check: what the file says, and the state machine (carried). */
struct ctrl_check {
	struct conf_health h; /* the VIP's check with the backend's keys on top */
	struct sl_addr addr;  /* where the check goes: health_check.address, else the backend's */
	uint16_t port;        /* ... and its port: health_check.port, else the backend's */
	bool enabled;         /* it has a check (else: taken as up) */
	struct hc_state hc;   /* carried across a reload */
	int8_t forced;        /* the operator's health over the checks: -1 none, 0 down, 1 up */
	uint32_t last_duration_ms; /* how long the latest check took (/metrics) */
};

/*
 * Its breaker. fnat/nat feed it the data plane's passive counters; dsr and
 * tunnel see no replies, so there the active checks are its signal.
 */
struct ctrl_breaker {
	bool enabled;    /* its VIP has one: cb is initialised */
	bool no_replies; /* its VIP is dsr or tunnel: no passive signals exist */
	bool active;     /* fed by the active checks (no_replies, with a check) */
	bool hung_watch; /* its VIP has a response timeout: success is an answer in time */
	struct breaker cb;
};

/* The data plane's counters as last read: the baseline of the next deltas (carried). */
struct ctrl_counters {
	bool seen; /* a baseline exists */
	uint64_t established, connect_fail;
	uint64_t response_timeouts; /* fnat/nat: hung-backend signal; 0 if absent */
	uint64_t responded;         /* ... and its success signal */
	uint64_t new_flows;
};

/* Counter growth not yet fed to the breaker (not carried: fed at the next pass). */
struct ctrl_signals {
	uint64_t ok, fail;
	uint64_t new_flows; /* sent to it since the last pass: spends half-open permits */
};

/* Slow start's memory (carried). */
struct ctrl_ramp {
	bool healthy_before; /* healthy at the last pass */
	uint64_t up_since;   /* slow start origin; 0: as if up for long */
};

/* Its place in the failover computation. */
struct ctrl_failover {
	uint8_t level;   /* priority, from the file */
	bool eligible;   /* admin state ready, as the data plane has it */
	uint32_t weight; /* the operator's weight, as the data plane has it */
	bool panic_up;   /* its level is in panic: told up whatever its checks say */
	struct ctrl_ramp ramp;
};

/* What the data plane was last told, or has (carried). */
struct ctrl_told {
	bool up;                 /* health */
	int32_t control_weight;  /* -2: not yet */
	bool listed;             /* the data plane has it (seen when the set was built) */
	bool unreachable_logged; /* the data plane could not be told: said once */
};

struct ctrl_backend {
	struct ctrl_ident id;
	struct ctrl_check check;
	struct ctrl_breaker breaker;
	struct ctrl_counters counters;
	struct ctrl_signals signals;
	struct ctrl_failover failover;
	struct ctrl_told told;
	bool fresh; /* new in this build: its health comes from the data plane */
};

/* Every backend of a configuration, each VIP's in a row, in the file's order. */
struct ctrl_set {
	struct ctrl_backend *b;
	size_t n;
	struct bkey_tab index; /* (vip, address, port) -> b[] */
};

/* One backend as the data plane's vip.list shows it (absent fields: has_* false, 0). */
struct ctrl_dp_view {
	bool has_state, ready;
	bool has_weight;
	uint32_t weight;
	bool has_control_weight;
	int32_t control_weight;
	bool has_health, up;
	uint64_t established, connect_fail, response_timeouts, responded, new_flows;
};

/* Told of each breaker state change, with the backend and "now". */
typedef void ctrl_breaker_fn(const struct ctrl_backend *b, uint64_t now, void *arg);

/* FNV-1a of <s> continuing from <h>: the daemon's seeds. */
uint64_t ctrl_fnv1a(const char *s, uint64_t h);

/* "ip:port" or "[ip]:port" of <b> into <buf>, which is returned. */
char *ctrl_endpoint(const struct ctrl_backend *b, char *buf, size_t len);

/* The same for where <b>'s check goes (check.addr, check.port). */
char *ctrl_check_target(const struct ctrl_backend *b, char *buf, size_t len);

/*
 * Builds <next> from configuration <c> at <now>. A backend that <old> (NULL:
 * none) has too keeps its state: check, forced health, breaker (when both
 * have one, under the new parameters), counters, slow start and what the
 * data plane was told. A new one is marked fresh: it takes its health from
 * the data plane (ctrl_take_dp_health), then starts (ctrl_start).
 * Returns 0, or -ENOMEM (<next> untouched).
 */
int ctrl_set_build(struct ctrl_set *next, const struct conf *c, const struct ctrl_set *old,
		   uint64_t now);

void ctrl_set_free(struct ctrl_set *s);

/* The backend (vip, address, port) of <s>, or NULL. */
struct ctrl_backend *ctrl_set_lookup(const struct ctrl_set *s, const char *vip,
				     const struct sl_addr *a, uint16_t port);

/* A fresh backend's health as the data plane has it; every listed backend is marked listed. */
void ctrl_take_dp_health(struct ctrl_backend *b, const struct ctrl_dp_view *v);

/*
 * Starts fresh backend <b> at <now> from what the data plane has, as a
 * settled state (a restart changes nothing until the checks say
 * otherwise); <node> seeds its check's start jitter. Returns true when the
 * data plane must be told it is up: it has no check (taken as up) but the
 * data plane has it down.
 */
bool ctrl_start(struct ctrl_backend *b, const char *node, uint64_t now);

/* Up for traffic: the operator's forced health, else the checks' (unchecked: up). */
bool ctrl_up(const struct ctrl_backend *b);

/* The health the data plane should have: up, or in a level in panic. */
static inline bool ctrl_want_up(const struct ctrl_backend *b)
{
	return ctrl_up(b) || b->failover.panic_up;
}

/*
 * Check result <r> (<detail>: text for it) at <now>: the health state
 * machine, and the breaker's active signals (dsr/tunnel: every result;
 * fnat/nat: a pass closes a half-open breaker, unless it is a bare TCP
 * connect on a VIP that watches for hung servers). A pass that brings the
 * checks' health back up ends the breaker's ejection in every mode
 * (breaker_on_checks_recovered). Returns hc_result()'s value: 1 when the
 * checks' health changed.
 */
int ctrl_check_result(struct ctrl_backend *b, enum hc_res r, const char *detail, uint64_t now,
		      ctrl_breaker_fn *on_breaker, void *arg);

/*
 * One backend of the data plane's list <v>: admin state, operator weight,
 * control weight and health as it has them, and the growth of its counters
 * since the last read, as breaker signals (fnat/nat: connect failures and
 * response timeouts fail; an answer in time, or an established flow when no
 * response timeout is set, succeeds). A counter that went down (the slot
 * was reset) starts a new baseline.
 */
void ctrl_take_dp(struct ctrl_backend *b, const struct ctrl_dp_view *v);

/*
 * Feeds <b>'s breaker the signals taken since the last pass (at most 1000 of
 * each), then ticks it at <now>. <n> backends share its pool, <*n_ejected> of
 * them ejected (kept up to date); <max_ejection_percent> caps that. Returns
 * true when the breaker's state changed. The signals are cleared.
 */
bool ctrl_feed_breaker(struct ctrl_backend *b, uint32_t n, uint32_t *n_ejected,
		       uint32_t max_ejection_percent, uint64_t now);

/* A VIP whose weights the daemon computes: levels, slow start or a breaker. */
bool ctrl_vip_managed(const struct conf_vip *v);

/* Room for a failover pass over the largest VIP; owned by the caller. */
struct ctrl_scratch {
	struct failover_member *m;
	uint32_t *eff;
	uint32_t cap;
};

/* Room for <n> backends: 0, or -ENOMEM (the scratch is unchanged). */
int ctrl_scratch_reserve(struct ctrl_scratch *s, uint32_t n);
void ctrl_scratch_free(struct ctrl_scratch *s);

/*
 * One pass over managed VIP <v>, whose backends are <vb>[0..n) (n =
 * v->n_backends, scratch reserved for it): breakers fed (ctrl_feed_breaker),
 * health and slow start per backend, failover shares (failover_assign). Sets
 * each backend's panic_up and its control weight in s->eff[k]. Returns 0,
 * or -EINVAL when the pool refuses the input: the breakers and slow start
 * have moved on, but no weight or panic_up is set (the last ones stay).
 * <on_breaker> (may be NULL) hears of each breaker that changed state.
 */
int ctrl_vip_weights(const struct conf_vip *v, struct ctrl_backend *vb, uint32_t n,
		     struct ctrl_scratch *s, uint64_t now, ctrl_breaker_fn *on_breaker, void *arg);

/* Where a backend's breaker takes its signals from, for health.list. */
const char *ctrl_breaker_signals(const struct ctrl_backend *b);

#endif
