/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Active health checks: the per-backend state machine, with HAProxy's
 * semantics (docs/control.md). <rise> consecutive passing checks bring a
 * DOWN backend UP, <fall> consecutive failing checks bring an UP backend
 * DOWN. Checks run every <interval> while the state is stable, every
 * <fastinter> while it is changing (successes seen while DOWN, failures seen
 * while UP), and every <downinter> while DOWN with no success in a row.
 *
 * No I/O here: the caller runs the check (tcp connect, http GET, ...) when
 * hc_next_due() has passed, gives up on it after params.timeout_ms, and
 * reports the outcome with hc_result(). Time is passed in as "now", in
 * milliseconds from any monotonic clock, so tests drive a fake clock.
 * One hc_state per backend, owned by the caller; nothing is allocated or
 * shared.
 */
#ifndef SLUICE_HEALTH_H
#define SLUICE_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

/* Defaults (HAProxy's too; docs/control.md). */
#define HC_DEFAULT_INTERVAL_MS      2000
#define HC_DEFAULT_TIMEOUT_MS       1000
#define HC_DEFAULT_RISE             2
#define HC_DEFAULT_FALL             3
#define HC_DEFAULT_START_JITTER_PCT 100

enum hc_health {
	HC_DOWN = 0,
	HC_UP = 1,
};

/*
 * State at hc_init(), HAProxy's init-state: "up" and "down" are provisional
 * (one failing check brings "up" down, one passing check brings "down" up),
 * "fully-up" and "fully-down" need the full <fall> / <rise> run.
 */
enum hc_init { HC_INIT_UP = 0, HC_INIT_FULLY_UP, HC_INIT_DOWN, HC_INIT_FULLY_DOWN, HC_INIT_MAX };

/* Outcome of one check. Everything but HC_RES_OK counts as a failure. */
enum hc_res {
	HC_RES_NONE = 0,    /* no check has completed yet (not a valid report) */
	HC_RES_OK,          /* passed */
	HC_RES_TIMEOUT,     /* no answer within timeout_ms */
	HC_RES_REFUSED,     /* connection refused: RST, ICMP port unreachable */
	HC_RES_UNREACHABLE, /* no route, ICMP host/net unreachable */
	HC_RES_BAD_STATUS,  /* http: status not in the expected set */
	HC_RES_BAD_PAYLOAD, /* udp/http: reply did not match the expected payload */
	HC_RES_EXEC_FAILED, /* exec: non-zero exit status or killed */
	HC_RES_ERROR,       /* anything else, e.g. the reply was cut short */
	HC_RES_MAX
};

/* "none", "ok", "timeout", "refused", "unreachable", "bad_status",
 * "bad_payload", "exec_failed", "error"; "?" when out of range. */
const char *hc_res_name(enum hc_res r);
/* "up", "fully-up", "down", "fully-down"; hc_init_parse returns the value or -EINVAL. */
const char *hc_init_name(enum hc_init i);
int hc_init_parse(const char *name);
/* "up", "down". */
const char *hc_health_name(enum hc_health h);

/* Every duration in milliseconds. */
struct hc_params {
	uint32_t interval_ms;      /* between checks while stable; default 2000 */
	uint32_t timeout_ms;       /* a check not done by then is HC_RES_TIMEOUT; default 1000 */
	uint32_t fastinter_ms;     /* while changing state; 0 = interval_ms */
	uint32_t downinter_ms;     /* while DOWN; 0 = interval_ms */
	uint32_t rise;             /* passes in a row to go UP; default 2 */
	uint32_t fall;             /* failures in a row to go DOWN; default 3 */
	uint32_t start_jitter_pct; /* first check within this % of interval; default 100 */
};

/* Fills in the defaults above. */
void hc_params_default(struct hc_params *p);

/*
 * 0 when usable, -EINVAL otherwise: interval_ms, timeout_ms, rise and fall
 * must be at least 1, start_jitter_pct at most 100. A timeout as long as
 * the interval or longer is allowed: a check that ends past the next due
 * time is followed at once, so checks never overlap.
 */
int hc_params_check(const struct hc_params *p);

/* Read the fields for `show`; change them only through the functions below. */
struct hc_state {
	struct hc_params p; /* as given, except fastinter/downinter resolved (never 0) */
	enum hc_health health;
	uint32_t succ;        /* passing checks in a row, across changes (0 after a failure) */
	uint32_t fail;        /* failing checks in a row, across changes (0 after a pass) */
	enum hc_res last;     /* outcome of the latest check */
	char last_detail[64]; /* caller's text for it ("HTTP 503", "exit 2"), may be "" */
	uint64_t next_due;    /* when the next check should start */
	uint64_t last_check;  /* when the latest result arrived (0 before any) */
	uint64_t last_change; /* when health last changed (hc_init time at first) */
	uint64_t checks;      /* results reported */
	uint64_t failed;      /* of which failures */
	uint64_t changes;     /* health transitions, forced ones included */
};

/*
 * Starts the machine at <now> in the state <init>. The first check is due at
 * now + j, 0 <= j < interval_ms * start_jitter_pct / 100, where j is a
 * deterministic function of <seed>. Seed with a hash of both this node's
 * identity and the backend's: backend identity alone would give every LB
 * node the same offset for a backend, which is the lockstep we avoid.
 * Returns 0, or -EINVAL (params rejected by hc_params_check, bad init).
 */
int hc_init(struct hc_state *s, const struct hc_params *p, enum hc_init init, uint64_t now,
	    uint64_t seed);

/* When the next check should start (ms, same clock as "now"). */
uint64_t hc_next_due(const struct hc_state *s);

/* True when health is changing: passes seen while DOWN, failures while UP. */
bool hc_in_transition(const struct hc_state *s);

/* The delay hc_result() would schedule next, given the current state. */
uint32_t hc_current_interval(const struct hc_state *s);

/*
 * Reports the outcome <r> of the check that just ended at <now>, with an
 * optional human text <detail> (NULL or "" for none; truncated to fit).
 * Updates the counters, applies rise/fall, and schedules the next check
 * hc_current_interval() of the new state after this one was due (the
 * rhythm does not stretch by how long a check took), or at <now> when that
 * has passed.
 * Returns 1 when health changed, 0 when not, -EINVAL for HC_RES_NONE or an
 * out-of-range value (nothing changed).
 */
int hc_result(struct hc_state *s, enum hc_res r, const char *detail, uint64_t now);

/*
 * Operator override: sets health to <h> with clean counters (a stable state).
 * The checks keep running on their schedule and have the last word: forcing
 * DOWN a backend whose checks pass brings it back UP after <rise> passes
 * (use the admin state `maint` to keep it out). Returns 1 when health
 * changed, 0 when it already was <h>, -EINVAL for a bad <h>.
 */
int hc_force(struct hc_state *s, enum hc_health h, uint64_t now);

/*
 * New parameters (config reload) without losing health or history. Counters
 * are kept; a state already past the new rise/fall thresholds changes at the
 * next result, not now. The next check is pulled in to now + the new
 * current interval when that is sooner than the one planned.
 * Returns 0, or -EINVAL (nothing changed).
 */
int hc_set_params(struct hc_state *s, const struct hc_params *p, uint64_t now);

#endif
