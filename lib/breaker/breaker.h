/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-backend circuit breaker fed by passive signals from the data plane
 * (docs/control.md). A success is a flow that reached ESTABLISHED; a failure
 * is a SYN left unanswered past syn_timeout, an RST answering a SYN, an ICMP
 * unreachable from the backend, or a first-response timeout.
 *
 *   CLOSED --(consecutive failures, or failure ratio over the window)--> OPEN
 *   OPEN --(ejection time elapsed)--> HALF_OPEN
 *   OPEN or HALF_OPEN --(the checks marked it down, then up again)--> CLOSED
 *   HALF_OPEN --(half_open_successes successes, or an active check pass)--> CLOSED
 *   HALF_OPEN --(any failure: ejections + 1)--> OPEN
 *   HALF_OPEN --(probe_timeout without closing: ejections unchanged)--> OPEN
 *
 * OPEN lasts min(base_ejection * ejections, max_ejection) plus a jitter of up
 * to ejection_jitter_pct of that, where <ejections> counts ejections in a
 * row (it starts again from 1 once the breaker has stayed closed for
 * max_ejection). HALF_OPEN admits at most half_open_permits new flows.
 *
 * No I/O, no allocation: the failure-ratio window is BREAKER_BUCKETS fixed time
 * buckets. Time is passed in as "now" (ms, any monotonic clock); time-driven
 * transitions happen on the first call at or after the instant they are
 * due (breaker_next_event() says when), so a tick is not required for
 * correctness, only to publish the change promptly. One breaker per
 * backend, owned by the caller, not thread-safe.
 */
#ifndef SLUICE_BREAKER_H
#define SLUICE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

/* Defaults (names as in the config file, docs/control.md). */
#define BREAKER_DEFAULT_CONSECUTIVE_FAILURES 5
#define BREAKER_DEFAULT_FAILURE_RATIO_PCT    85
#define BREAKER_DEFAULT_WINDOW_MS            10000
#define BREAKER_DEFAULT_MIN_FLOWS            50
#define BREAKER_DEFAULT_BASE_EJECTION_MS     30000
#define BREAKER_DEFAULT_MAX_EJECTION_MS      300000
#define BREAKER_DEFAULT_EJECTION_JITTER_PCT  10
#define BREAKER_DEFAULT_HALF_OPEN_PERMITS    3
#define BREAKER_DEFAULT_HALF_OPEN_SUCCESSES  1
#define BREAKER_DEFAULT_PROBE_TIMEOUT_MS     10000
#define BREAKER_DEFAULT_MAX_EJECTION_PERCENT 10

/* The ratio window is this many buckets of window_ms / BREAKER_BUCKETS each. */
#define BREAKER_BUCKETS 10

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_HALF_OPEN, BREAKER_STATE_MAX };

/* Why the breaker last went OPEN. */
enum breaker_cause {
	BREAKER_CAUSE_NONE = 0,
	BREAKER_CAUSE_CONSECUTIVE,   /* consecutive_failures reached */
	BREAKER_CAUSE_RATIO,         /* failure_ratio over the window, with min_flows */
	BREAKER_CAUSE_PROBE_FAILED,  /* a failure while half-open */
	BREAKER_CAUSE_PROBE_TIMEOUT, /* half-open for probe_timeout without closing */
	BREAKER_CAUSE_MAX
};

/* "closed", "open", "half-open"; "?" when out of range. */
const char *breaker_state_name(enum breaker_state s);
/* "none", "consecutive", "ratio", "probe_failed", "probe_timeout". */
const char *breaker_cause_name(enum breaker_cause c);

/* Durations in milliseconds, ratios in percent. */
struct breaker_params {
	uint32_t consecutive_failures; /* trip after this many in a row; 0 = off; 5 */
	uint32_t failure_ratio_pct;    /* trip when failures >= this % of the window; 0 = off; 85 */
	uint32_t window_ms;            /* ratio window; 10000 */
	uint32_t min_flows;            /* ratio needs this many outcomes in the window; 50 */
	uint32_t base_ejection_ms;     /* OPEN for base * ejections in a row; 30000 */
	uint32_t max_ejection_ms;      /* cap on that product; 300000 */
	uint32_t ejection_jitter_pct;  /* plus up to this % of the OPEN time; 10 */
	uint32_t half_open_permits;    /* new flows admitted while HALF_OPEN; 3 */
	uint32_t half_open_successes;  /* successes that close it, 1..permits; 1 */
	uint32_t probe_timeout_ms;     /* HALF_OPEN longer than this goes back OPEN; 10000 */
	uint32_t max_ejection_percent; /* pool-wide cap, for breaker_pool_may_eject(); 10 */
};

/* Fills in the defaults above. */
void breaker_params_default(struct breaker_params *p);

/*
 * 0 when usable, -EINVAL otherwise: window_ms >= BREAKER_BUCKETS, percentages
 * <= 100, base_ejection_ms >= 1, max_ejection_ms >= base_ejection_ms,
 * half_open_permits >= 1, 1 <= half_open_successes <= half_open_permits,
 * probe_timeout_ms >= 1.
 */
int breaker_params_check(const struct breaker_params *p);

struct breaker_bucket {
	uint64_t epoch; /* now / bucket_ms when the bucket was (re)started */
	uint32_t ok;
	uint32_t fail;
};

/* Read the fields for `show`; change them only through the functions below. */
struct breaker {
	struct breaker_params p;
	uint64_t seed; /* jitter source, from breaker_init() */
	enum breaker_state state;
	enum breaker_cause cause; /* why it last went OPEN */
	uint64_t since;           /* when <state> was entered */
	uint64_t open_until;      /* OPEN: when it goes HALF_OPEN */
	uint64_t probe_deadline;  /* HALF_OPEN: when it goes back OPEN */
	uint32_t consecutive;     /* failures in a row while CLOSED */
	uint32_t ejections;       /* ejections in a row: the backoff multiplier */
	uint32_t permits_used;    /* HALF_OPEN: flows admitted */
	uint32_t probe_ok;        /* HALF_OPEN: successes seen */
	uint64_t successes;       /* every success reported, in any state */
	uint64_t failures;        /* every failure reported, in any state */
	uint64_t opens;           /* times it went OPEN, for any cause */
	uint64_t trips_denied;    /* trips refused because may_eject was false */
	struct breaker_bucket win[BREAKER_BUCKETS];
};

/* A CLOSED breaker at <now>; <seed> makes the jitter deterministic (hash of
 * node and backend identity). Returns 0 or -EINVAL (bad params). */
int breaker_init(struct breaker *b, const struct breaker_params *p, uint64_t now, uint64_t seed);

/*
 * Applies the time-driven transitions due at <now> (OPEN -> HALF_OPEN,
 * HALF_OPEN -> OPEN on probe timeout). Every function below does this
 * first. Returns true when the state changed.
 */
bool breaker_tick(struct breaker *b, uint64_t now);

/* A flow to this backend reached ESTABLISHED. Returns true when the state changed. */
bool breaker_on_success(struct breaker *b, uint64_t now);

/*
 * A flow to this backend failed. <may_eject> is the pool's verdict
 * (breaker_pool_may_eject with the other backends' states): when a trip is due
 * but <may_eject> is false, the breaker stays CLOSED, trips_denied grows,
 * and the next failure asks again. A failure while HALF_OPEN re-opens
 * regardless: the backend is already counted as ejected.
 * Returns true when the state changed.
 */
bool breaker_on_failure(struct breaker *b, uint64_t now, bool may_eject);

/*
 * An active health check passed. Closes a HALF_OPEN breaker; an OPEN one
 * serves its time, because passive failures (e.g. a hung server whose
 * kernel still accepts connections) are what a passing check may miss.
 * Returns true when the state changed.
 */
bool breaker_on_active_check_pass(struct breaker *b, uint64_t now);

/*
 * The active checks, having marked the backend down, brought it back up
 * (rise passes in a row): they saw a fault and saw it end. While they held
 * the backend down it got no flows, so an ejection could not probe it (a
 * half-open window would time out with nothing learned and re-open). With
 * <proves_service> (a check that a hung server fails: http, udp, exec) an
 * OPEN or HALF_OPEN breaker closes; without (a bare TCP connect, which a
 * hung server's kernel passes) an OPEN one ends its time and goes
 * HALF_OPEN, so its permits probe the backend with real flows. <ejections>
 * is kept either way: a relapse backs off longer. Returns true when the
 * state changed.
 */
bool breaker_on_checks_recovered(struct breaker *b, uint64_t now, bool proves_service);

/*
 * May a new flow go to this backend? CLOSED: yes. OPEN: no. HALF_OPEN: yes
 * while permits remain, each yes spending one.
 */
bool breaker_allow_new_flow(struct breaker *b, uint64_t now);

/*
 * Whether new flows may go to this backend now, without spending anything:
 * CLOSED yes, OPEN no, HALF_OPEN while permits remain. For a caller that
 * steers by weight (the control daemon) rather than flow by flow: it gives
 * the backend its weight while this holds, and spends a permit with
 * breaker_allow_new_flow() for each new flow it then sees go there.
 */
bool breaker_takes_new_flows(const struct breaker *b);

/* Operator reset: CLOSED, window and backoff forgotten. Returns true when the state changed. */
bool breaker_reset(struct breaker *b, uint64_t now);

/* New parameters (config reload); state, counters and a running ejection are kept.
 * Returns 0 or -EINVAL (nothing changed). */
int breaker_set_params(struct breaker *b, const struct breaker_params *p);

/* OPEN or HALF_OPEN: counts against max_ejection_percent. */
bool breaker_is_ejected(const struct breaker *b);

/* The next instant a time-driven transition is due, UINT64_MAX when none (CLOSED). */
uint64_t breaker_next_event(const struct breaker *b);

/* OPEN: ms until it goes HALF_OPEN (0 when due); otherwise 0. */
uint64_t breaker_ms_until_probe(const struct breaker *b, uint64_t now);

/* Successes and failures in the ratio window ending at <now>. */
void breaker_window_counts(const struct breaker *b, uint64_t now, uint32_t *ok, uint32_t *fail);

/*
 * May one more backend of a pool of <n_backends> be ejected when
 * <n_ejected> already are? True when the result stays within
 * <max_ejection_percent> of the pool, and always when none is ejected yet
 * (so a small pool can still shed its one bad backend). False for an empty
 * pool or when every backend is already ejected.
 */
bool breaker_pool_may_eject(uint32_t n_backends, uint32_t n_ejected, uint32_t max_ejection_percent);

#endif
