/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the circuit breaker in lib/breaker, on a fake clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "breaker.h"

#define T0 1000000u /* fake clock start, ms: a whole number of 1 s buckets */

/* Defaults without jitter, so ejection times are exact. */
static void params(struct breaker_params *p)
{
	breaker_params_default(p);
	p->ejection_jitter_pct = 0;
}

static void fail_n(struct breaker *b, uint32_t n, uint64_t now)
{
	for (uint32_t i = 0; i < n; i++)
		breaker_on_failure(b, now, true);
}

static void ok_n(struct breaker *b, uint32_t n, uint64_t now)
{
	for (uint32_t i = 0; i < n; i++)
		breaker_on_success(b, now);
}

/* Trips <b> on consecutive failures at <now>. */
static void trip(struct breaker *b, uint64_t now)
{
	fail_n(b, b->p.consecutive_failures, now);
	assert_int_equal(b->state, BREAKER_OPEN);
}

/* From OPEN, waits out the ejection: HALF_OPEN at the returned time. */
static uint64_t to_half_open(struct breaker *b)
{
	uint64_t t = b->open_until;

	assert_int_equal(b->state, BREAKER_OPEN);
	assert_true(breaker_tick(b, t));
	assert_int_equal(b->state, BREAKER_HALF_OPEN);
	return t;
}

static void test_defaults(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	breaker_params_default(&p);
	assert_int_equal(p.consecutive_failures, 5);
	assert_int_equal(p.failure_ratio_pct, 85);
	assert_int_equal(p.window_ms, 10000);
	assert_int_equal(p.min_flows, 50);
	assert_int_equal(p.base_ejection_ms, 30000);
	assert_int_equal(p.max_ejection_ms, 300000);
	assert_int_equal(p.half_open_permits, 3);
	assert_int_equal(p.max_ejection_percent, 10);
	assert_int_equal(breaker_params_check(&p), 0);
	assert_int_equal(breaker_init(&b, &p, T0, 1), 0);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_false(breaker_is_ejected(&b));
	assert_int_equal(breaker_next_event(&b), UINT64_MAX);
	assert_true(breaker_allow_new_flow(&b, T0));
}

static void test_params_rejected(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	p.window_ms = BREAKER_BUCKETS - 1;
	assert_int_equal(breaker_params_check(&p), -EINVAL);
	params(&p);
	p.max_ejection_ms = p.base_ejection_ms - 1;
	assert_int_equal(breaker_params_check(&p), -EINVAL);
	params(&p);
	p.base_ejection_ms = 0;
	assert_int_equal(breaker_params_check(&p), -EINVAL);
	params(&p);
	p.half_open_permits = 0;
	assert_int_equal(breaker_params_check(&p), -EINVAL);
	params(&p);
	p.half_open_successes = p.half_open_permits + 1;
	assert_int_equal(breaker_params_check(&p), -EINVAL);
	params(&p);
	p.failure_ratio_pct = 101;
	assert_int_equal(breaker_params_check(&p), -EINVAL);
	params(&p);
	p.probe_timeout_ms = 0;
	assert_int_equal(breaker_init(&b, &p, T0, 0), -EINVAL);
	assert_int_equal(breaker_params_check(NULL), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
	assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
	assert_string_equal(breaker_state_name(BREAKER_STATE_MAX), "?");
	assert_string_equal(breaker_cause_name(BREAKER_CAUSE_RATIO), "ratio");
	assert_string_equal(breaker_cause_name(BREAKER_CAUSE_PROBE_TIMEOUT), "probe_timeout");
}

/* CLOSED -> OPEN exactly at the 5th failure in a row. */
static void test_trip_consecutive(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	for (int i = 0; i < 4; i++)
		assert_false(breaker_on_failure(&b, T0 + i, true));
	assert_int_equal(b.consecutive, 4);
	assert_true(breaker_on_failure(&b, T0 + 4, true));
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.cause, BREAKER_CAUSE_CONSECUTIVE);
	assert_int_equal(b.ejections, 1);
	assert_int_equal(b.opens, 1);
	assert_int_equal(b.open_until, T0 + 4 + 30000);
	assert_true(breaker_is_ejected(&b));
	assert_false(breaker_allow_new_flow(&b, T0 + 5));
	assert_int_equal(breaker_ms_until_probe(&b, T0 + 5), 29999);
	assert_int_equal(breaker_next_event(&b), T0 + 30004);
}

static void test_success_resets_consecutive(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	for (int i = 0; i < 20; i++) {
		fail_n(&b, 4, T0);
		assert_false(breaker_on_success(&b, T0));
		assert_int_equal(b.consecutive, 0);
	}
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(b.failures, 80);
	assert_int_equal(b.successes, 20);
}

/* Ratio: 92% failures over 49 flows is not enough volume; the 50th trips. */
static void test_trip_ratio_min_volume(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint32_t ok, fail;

	(void)state;
	params(&p);
	p.consecutive_failures = 0; /* ratio only */
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	ok_n(&b, 4, T0);
	fail_n(&b, 45, T0 + 500);
	assert_int_equal(b.state, BREAKER_CLOSED);
	breaker_window_counts(&b, T0 + 500, &ok, &fail);
	assert_int_equal(ok, 4);
	assert_int_equal(fail, 45);
	assert_true(breaker_on_failure(&b, T0 + 600, true));
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.cause, BREAKER_CAUSE_RATIO);
}

/* Exactly at the ratio: 85 of 100 trips, 84 of 99 does not. */
static void test_trip_ratio_boundary(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	p.consecutive_failures = 0;
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	ok_n(&b, 15, T0);
	fail_n(&b, 84, T0 + 1000);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_true(breaker_on_failure(&b, T0 + 2000, true));
	assert_int_equal(b.cause, BREAKER_CAUSE_RATIO);

	/* Below the ratio with plenty of volume: never trips. */
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	for (int i = 0; i < 100; i++) {
		ok_n(&b, 2, T0 + i);
		fail_n(&b, 8, T0 + i); /* 80% */
	}
	assert_int_equal(b.state, BREAKER_CLOSED);
}

/* Outcomes older than the window are forgotten, bucket by bucket. */
static void test_window_slides(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint32_t ok, fail;

	(void)state;
	params(&p);
	p.consecutive_failures = 0;
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	fail_n(&b, 45, T0); /* bucket T0 .. T0+999 */
	fail_n(&b, 3, T0 + 5000);
	breaker_window_counts(&b, T0 + 9999, &ok, &fail);
	assert_int_equal(fail, 48);
	breaker_window_counts(&b, T0 + 10000, &ok, &fail); /* the T0 bucket slid out */
	assert_int_equal(fail, 3);
	breaker_window_counts(&b, T0 + 15000, &ok, &fail);
	assert_int_equal(fail, 0);

	/* So 5 more failures at T0+10000 see 8 flows, not 53: no trip ... */
	fail_n(&b, 5, T0 + 10000);
	assert_int_equal(b.state, BREAKER_CLOSED);
	/* ... while the same at T0+9999 would have seen 50 and tripped. */
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	fail_n(&b, 45, T0);
	fail_n(&b, 5, T0 + 9999);
	assert_int_equal(b.state, BREAKER_OPEN);

	/* A slot reused after a full turn starts from zero. */
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	fail_n(&b, 40, T0);
	ok_n(&b, 1, T0 + 10000); /* same slot, next turn */
	breaker_window_counts(&b, T0 + 10000, &ok, &fail);
	assert_int_equal(ok, 1);
	assert_int_equal(fail, 0);
}

/* OPEN -> HALF_OPEN only once the ejection time has passed. */
static void test_open_to_half_open(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	assert_false(breaker_tick(&b, T0 + 29999));
	assert_false(breaker_allow_new_flow(&b, T0 + 29999));
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(breaker_ms_until_probe(&b, T0 + 29999), 1);
	/* The first call at or after open_until does the transition. */
	assert_true(breaker_allow_new_flow(&b, T0 + 30000));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_int_equal(b.since, T0 + 30000);
	assert_int_equal(breaker_next_event(&b), T0 + 30000 + 10000);
	assert_true(breaker_is_ejected(&b));
	assert_int_equal(breaker_ms_until_probe(&b, T0 + 30000), 0);
}

/* Steering by weight: a half-open backend takes flows until its permits are spent. */
static void test_takes_new_flows(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint64_t t;

	(void)state;
	params(&p);
	p.half_open_permits = 2;
	p.half_open_successes = 2;
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	assert_true(breaker_takes_new_flows(&b));
	trip(&b, T0);
	assert_false(breaker_takes_new_flows(&b));
	t = to_half_open(&b);
	assert_true(breaker_takes_new_flows(&b));
	assert_true(breaker_allow_new_flow(&b, t));
	assert_true(breaker_takes_new_flows(&b)); /* asking spends nothing */
	assert_true(breaker_allow_new_flow(&b, t));
	assert_false(breaker_takes_new_flows(&b));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	/* Both probes succeed: closed, flows again. */
	ok_n(&b, 2, t + 1);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_true(breaker_takes_new_flows(&b));
}

/* A late tick still gets a full probe window. */
static void test_half_open_late_tick(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	assert_true(breaker_allow_new_flow(&b, T0 + 500000));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_int_equal(b.probe_deadline, T0 + 510000);
}

static void test_half_open_permits(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint64_t t;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	t = to_half_open(&b);
	for (int i = 0; i < 3; i++)
		assert_true(breaker_allow_new_flow(&b, t + i));
	for (int i = 0; i < 5; i++)
		assert_false(breaker_allow_new_flow(&b, t + 10 + i));
	assert_int_equal(b.permits_used, 3);
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
}

static void test_half_open_success_closes(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint64_t t;
	uint32_t ok, fail;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	t = to_half_open(&b);
	assert_true(breaker_allow_new_flow(&b, t));
	assert_true(breaker_on_success(&b, t + 5));
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_false(breaker_is_ejected(&b));
	assert_int_equal(b.since, t + 5);
	assert_true(breaker_allow_new_flow(&b, t + 6));
	/* The window starts afresh; the backoff is remembered. */
	breaker_window_counts(&b, t + 6, &ok, &fail);
	assert_int_equal(ok + fail, 0);
	assert_int_equal(b.ejections, 1);
	assert_int_equal(b.consecutive, 0);

	/* half_open_successes = 3: the first two do not close it. */
	p.half_open_successes = 3;
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	t = to_half_open(&b);
	assert_false(breaker_on_success(&b, t + 1));
	assert_false(breaker_on_success(&b, t + 2));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_true(breaker_on_success(&b, t + 3));
	assert_int_equal(b.state, BREAKER_CLOSED);
}

/* Closing forgets the window: failures from before the ejection, still
 * within window_ms of it, must not trip the breaker again at once. */
static void test_close_forgets_window(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint32_t ok, fail;
	uint64_t t;

	(void)state;
	params(&p);
	p.consecutive_failures = 0;
	p.base_ejection_ms = 2000;
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	fail_n(&b, 50, T0);
	assert_int_equal(b.cause, BREAKER_CAUSE_RATIO);
	t = to_half_open(&b);
	assert_int_equal(t, T0 + 2000);
	assert_true(breaker_on_success(&b, t));
	breaker_window_counts(&b, t, &ok, &fail);
	assert_int_equal(ok + fail, 0);
	fail_n(&b, 5, t + 1);
	assert_int_equal(b.state, BREAKER_CLOSED);
}

/* A failure while half-open re-opens with a longer ejection, up to the cap. */
static void test_half_open_failure_backoff(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	assert_int_equal(b.open_until - b.since, 30000);
	for (uint32_t n = 2; n <= 12; n++) {
		uint64_t want = 30000ull * n > 300000 ? 300000 : 30000ull * n;
		uint64_t t = to_half_open(&b);

		assert_true(breaker_allow_new_flow(&b, t));
		/* may_eject is not consulted: it is already ejected. */
		assert_true(breaker_on_failure(&b, t + 1, false));
		assert_int_equal(b.state, BREAKER_OPEN);
		assert_int_equal(b.cause, BREAKER_CAUSE_PROBE_FAILED);
		assert_int_equal(b.ejections, n);
		assert_int_equal(b.open_until - b.since, want);
	}
	assert_int_equal(b.opens, 12);
	assert_int_equal(b.trips_denied, 0);
}

/* Stuck in HALF_OPEN (permits spent, no outcome): back to OPEN, same backoff. */
static void test_probe_timeout(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint64_t t;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	t = to_half_open(&b);
	for (int i = 0; i < 3; i++)
		assert_true(breaker_allow_new_flow(&b, t));
	assert_false(breaker_tick(&b, t + 9999));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_true(breaker_tick(&b, t + 10000));
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.cause, BREAKER_CAUSE_PROBE_TIMEOUT);
	assert_int_equal(b.ejections, 1);
	assert_int_equal(b.open_until, t + 10000 + 30000);
	assert_false(breaker_allow_new_flow(&b, t + 10001));
	/* Then a fresh probe window with fresh permits. */
	t = to_half_open(&b);
	assert_int_equal(b.permits_used, 0);
	assert_true(breaker_allow_new_flow(&b, t));
}

static void test_active_check_pass(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint64_t t;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	assert_false(breaker_on_active_check_pass(&b, T0)); /* closed: nothing to do */
	trip(&b, T0);
	/* OPEN serves its time whatever the active checks say. */
	assert_false(breaker_on_active_check_pass(&b, T0 + 1000));
	assert_int_equal(b.state, BREAKER_OPEN);
	t = to_half_open(&b);
	assert_true(breaker_on_active_check_pass(&b, t + 1));
	assert_int_equal(b.state, BREAKER_CLOSED);
}

/*
 * The checks marked the backend down and up again: a check that proves the
 * service closes OPEN and HALF_OPEN at once, keeping the backoff; a bare
 * connect only ends the open time (HALF_OPEN: flows probe it).
 */
static void test_checks_recovered(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint64_t t;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	assert_false(breaker_on_checks_recovered(&b, T0, true)); /* closed: nothing to do */
	trip(&b, T0);
	assert_true(breaker_on_checks_recovered(&b, T0 + 10, true));
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(b.ejections, 1); /* a relapse backs off longer */
	/* Half-open (the checks held it down: no probe flow came) closes too. */
	trip(&b, T0 + 20);
	t = to_half_open(&b);
	assert_true(breaker_on_checks_recovered(&b, t + 1, true));
	assert_int_equal(b.state, BREAKER_CLOSED);
	/* A bare connect: OPEN goes HALF_OPEN now, with fresh permits. */
	trip(&b, t + 2);
	assert_true(breaker_on_checks_recovered(&b, t + 3, false));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_int_equal(b.probe_deadline, t + 3 + p.probe_timeout_ms);
	assert_true(breaker_takes_new_flows(&b));
	/* ... and leaves HALF_OPEN to its permits. */
	assert_false(breaker_on_checks_recovered(&b, t + 4, false));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
}

/* Outcomes while OPEN (flows admitted before the trip) change nothing. */
static void test_open_ignores_outcomes(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint64_t until;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	until = b.open_until;
	ok_n(&b, 10, T0 + 1);
	fail_n(&b, 10, T0 + 2);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.open_until, until);
	assert_int_equal(b.ejections, 1);
	assert_int_equal(b.successes, 10);
	assert_int_equal(b.failures, 15);
}

/* The pool says no: the breaker stays closed and asks again next time. */
static void test_trip_denied(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	for (int i = 0; i < 7; i++)
		assert_false(breaker_on_failure(&b, T0, false));
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(b.trips_denied, 3); /* the 5th, 6th and 7th */
	assert_true(breaker_on_failure(&b, T0, true));
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.ejections, 1);
}

/* Ejections in a row grow the backoff; a long healthy spell resets it. */
static void test_backoff_resets_after_healthy(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint64_t t;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	t = to_half_open(&b);
	assert_true(breaker_on_success(&b, t));
	/* Trips again soon after closing: second ejection in a row. */
	trip(&b, t + 299999);
	assert_int_equal(b.ejections, 2);
	assert_int_equal(b.open_until - b.since, 60000);

	t = to_half_open(&b);
	assert_true(breaker_on_success(&b, t));
	/* Closed for max_ejection: the next trip starts from base again. */
	trip(&b, t + 300000);
	assert_int_equal(b.ejections, 1);
	assert_int_equal(b.open_until - b.since, 30000);
}

/* Jitter: within [0, 10%) of the ejection, reproducible per seed, varied across seeds. */
static void test_jitter(void **state)
{
	struct breaker_params p;
	struct breaker b, c;
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)state;
	breaker_params_default(&p);
	for (uint64_t seed = 0; seed < 500; seed++) {
		uint64_t d;

		assert_int_equal(breaker_init(&b, &p, T0, seed), 0);
		assert_int_equal(breaker_init(&c, &p, T0, seed), 0);
		trip(&b, T0);
		trip(&c, T0);
		assert_int_equal(b.open_until, c.open_until);
		d = b.open_until - T0;
		assert_true(d >= 30000 && d < 33000);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
	}
	assert_true(hi - lo > 2500);

	/* At the cap the jitter comes on top: [300 s, 330 s). */
	assert_int_equal(breaker_init(&b, &p, T0, 99), 0);
	trip(&b, T0);
	for (int n = 0; n < 15; n++) {
		uint64_t t = to_half_open(&b);

		breaker_on_failure(&b, t, true);
	}
	assert_true(b.open_until - b.since >= 300000);
	assert_true(b.open_until - b.since < 330000);
}

static void test_reset(void **state)
{
	struct breaker_params p;
	struct breaker b;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	trip(&b, T0);
	assert_true(breaker_reset(&b, T0 + 1));
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(b.ejections, 0);
	assert_true(breaker_allow_new_flow(&b, T0 + 2));
	assert_false(breaker_reset(&b, T0 + 3));
}

static void test_set_params(void **state)
{
	struct breaker_params p;
	struct breaker b;
	uint32_t ok, fail;

	(void)state;
	params(&p);
	assert_int_equal(breaker_init(&b, &p, T0, 0), 0);
	fail_n(&b, 3, T0);
	p.consecutive_failures = 4;
	assert_int_equal(breaker_set_params(&b, &p), 0);
	breaker_window_counts(&b, T0, &ok, &fail);
	assert_int_equal(fail, 3); /* same bucket width: window kept */
	assert_true(breaker_on_failure(&b, T0, true));
	p.window_ms = 20000; /* new bucket width: window starts afresh */
	assert_int_equal(breaker_set_params(&b, &p), 0);
	breaker_window_counts(&b, T0, &ok, &fail);
	assert_int_equal(fail, 0);
	assert_int_equal(b.state, BREAKER_OPEN);
	p.half_open_permits = 0;
	assert_int_equal(breaker_set_params(&b, &p), -EINVAL);
	assert_int_equal(b.p.half_open_permits, 3);
}

static void test_pool_may_eject(void **state)
{
	(void)state;
	/* Always allow one, even when the percentage says none. */
	assert_true(breaker_pool_may_eject(3, 0, 10));
	assert_true(breaker_pool_may_eject(1, 0, 10));
	assert_true(breaker_pool_may_eject(2, 0, 0));
	assert_false(breaker_pool_may_eject(2, 1, 0));
	/* 10% of 10 is one: a second is refused. */
	assert_true(breaker_pool_may_eject(10, 0, 10));
	assert_false(breaker_pool_may_eject(10, 1, 10));
	/* 10% of 20 is two. */
	assert_true(breaker_pool_may_eject(20, 1, 10));
	assert_false(breaker_pool_may_eject(20, 2, 10));
	/* 50% of 5 is 2.5: the third would make 60%. */
	assert_true(breaker_pool_may_eject(5, 1, 50));
	assert_false(breaker_pool_may_eject(5, 2, 50));
	/* Never more than the pool, nor from an empty pool. */
	assert_true(breaker_pool_may_eject(5, 4, 100));
	assert_false(breaker_pool_may_eject(5, 5, 100));
	assert_false(breaker_pool_may_eject(0, 0, 100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_params_rejected),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_trip_consecutive),
		cmocka_unit_test(test_success_resets_consecutive),
		cmocka_unit_test(test_trip_ratio_min_volume),
		cmocka_unit_test(test_trip_ratio_boundary),
		cmocka_unit_test(test_window_slides),
		cmocka_unit_test(test_open_to_half_open),
		cmocka_unit_test(test_half_open_late_tick),
		cmocka_unit_test(test_half_open_permits),
		cmocka_unit_test(test_half_open_success_closes),
		cmocka_unit_test(test_close_forgets_window),
		cmocka_unit_test(test_half_open_failure_backoff),
		cmocka_unit_test(test_probe_timeout),
		cmocka_unit_test(test_active_check_pass),
		cmocka_unit_test(test_checks_recovered),
		cmocka_unit_test(test_open_ignores_outcomes),
		cmocka_unit_test(test_trip_denied),
		cmocka_unit_test(test_backoff_resets_after_healthy),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_takes_new_flows),
		cmocka_unit_test(test_set_params),
		cmocka_unit_test(test_pool_may_eject),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
