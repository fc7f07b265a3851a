/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the active-check state machine in lib/health, on a fake clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"

#define T0 1000000u /* fake clock start, ms: far from 0 to catch "time 0" shortcuts */

/* Defaults with distinct intervals so the schedule says which one applied. */
static void params(struct hc_params *p)
{
	hc_params_default(p);
	p->fastinter_ms = 500;
	p->downinter_ms = 5000;
	p->start_jitter_pct = 0;
}

/* Reports <r> at the time the check is due and returns the health change. */
static int step(struct hc_state *s, enum hc_res r, uint64_t *now)
{
	*now = hc_next_due(s);
	return hc_result(s, r, NULL, *now);
}

static void test_defaults(void **state)
{
	struct hc_params p;
	struct hc_state s;

	(void)state;
	hc_params_default(&p);
	assert_int_equal(p.interval_ms, 2000);
	assert_int_equal(p.timeout_ms, 1000);
	assert_int_equal(p.rise, 2);
	assert_int_equal(p.fall, 3);
	assert_int_equal(hc_params_check(&p), 0);
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 1), 0);
	/* fastinter and downinter default to interval. */
	assert_int_equal(s.p.fastinter_ms, 2000);
	assert_int_equal(s.p.downinter_ms, 2000);
	assert_int_equal(s.health, HC_UP);
	assert_int_equal(s.last, HC_RES_NONE);
	assert_string_equal(hc_res_name(s.last), "none");
}

static void test_params_rejected(void **state)
{
	struct hc_params p;
	struct hc_state s;

	(void)state;
	params(&p);
	p.rise = 0;
	assert_int_equal(hc_params_check(&p), -EINVAL);
	params(&p);
	p.fall = 0;
	assert_int_equal(hc_params_check(&p), -EINVAL);
	params(&p);
	p.interval_ms = 0;
	assert_int_equal(hc_params_check(&p), -EINVAL);
	params(&p);
	p.timeout_ms = 0;
	assert_int_equal(hc_params_check(&p), -EINVAL);
	params(&p);
	p.start_jitter_pct = 101;
	assert_int_equal(hc_init(&s, &p, HC_INIT_UP, T0, 0), -EINVAL);
	params(&p);
	assert_int_equal(hc_init(&s, &p, HC_INIT_MAX, T0, 0), -EINVAL);
	assert_int_equal(hc_params_check(NULL), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < HC_INIT_MAX; i++)
		assert_int_equal(hc_init_parse(hc_init_name(i)), i);
	assert_int_equal(hc_init_parse("sideways"), -EINVAL);
	assert_int_equal(hc_init_parse(NULL), -EINVAL);
	assert_string_equal(hc_res_name(HC_RES_BAD_STATUS), "bad_status");
	assert_string_equal(hc_res_name(HC_RES_MAX), "?");
	assert_string_equal(hc_health_name(HC_UP), "up");
	assert_string_equal(hc_health_name(HC_DOWN), "down");
}

/* UP -> DOWN exactly at the fall-th failure in a row, at fastinter meanwhile. */
static void test_fall(void **state)
{
	struct hc_params p;
	struct hc_state s;
	uint64_t now = T0;

	(void)state;
	params(&p);
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 0), 0);
	assert_int_equal(hc_next_due(&s), T0);

	assert_int_equal(step(&s, HC_RES_OK, &now), 0);
	assert_int_equal(hc_next_due(&s), now + 2000); /* stable: interval */
	assert_false(hc_in_transition(&s));

	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
	assert_int_equal(s.health, HC_UP);
	assert_true(hc_in_transition(&s));
	assert_int_equal(hc_next_due(&s), now + 500); /* going down: fastinter */
	assert_int_equal(step(&s, HC_RES_REFUSED, &now), 0);
	assert_int_equal(hc_next_due(&s), now + 500);
	assert_int_equal(s.fail, 2);

	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 1); /* third: fall = 3 */
	assert_int_equal(s.health, HC_DOWN);
	assert_int_equal(s.last_change, now);
	assert_int_equal(s.changes, 1);
	assert_int_equal(hc_next_due(&s), now + 5000); /* down: downinter */
	assert_int_equal(s.checks, 4);
	assert_int_equal(s.failed, 3);

	assert_int_equal(s.fail, 3);
	assert_false(hc_in_transition(&s));

	/* Further failures: still down, no change, still downinter; the run
	 * goes on for `show`. */
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
	assert_int_equal(hc_next_due(&s), now + 5000);
	assert_int_equal(s.fail, 4);
}

/* A pass in between resets the run: fall failures must be consecutive. */
static void test_fall_needs_consecutive(void **state)
{
	struct hc_params p;
	struct hc_state s;
	uint64_t now = T0;

	(void)state;
	params(&p);
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 0), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
		assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
		assert_int_equal(step(&s, HC_RES_OK, &now), 0);
		assert_int_equal(s.fail, 0);
		assert_int_equal(hc_next_due(&s), now + 2000);
	}
	assert_int_equal(s.health, HC_UP);
}

/* DOWN -> UP exactly at the rise-th pass in a row, fastinter while rising. */
static void test_rise(void **state)
{
	struct hc_params p;
	struct hc_state s;
	uint64_t now = T0;

	(void)state;
	params(&p);
	p.rise = 3;
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_DOWN, T0, 0), 0);
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
	assert_int_equal(hc_next_due(&s), now + 5000); /* down, stable: downinter */

	assert_int_equal(step(&s, HC_RES_OK, &now), 0);
	assert_int_equal(hc_next_due(&s), now + 500); /* rising: fastinter beats downinter */
	assert_int_equal(step(&s, HC_RES_OK, &now), 0);
	assert_int_equal(s.health, HC_DOWN);
	/* A failure breaks the run: back to downinter and a fresh count. */
	assert_int_equal(step(&s, HC_RES_BAD_STATUS, &now), 0);
	assert_int_equal(s.succ, 0);
	assert_int_equal(hc_next_due(&s), now + 5000);

	assert_int_equal(step(&s, HC_RES_OK, &now), 0);
	assert_int_equal(step(&s, HC_RES_OK, &now), 0);
	assert_int_equal(step(&s, HC_RES_OK, &now), 1);
	assert_int_equal(s.health, HC_UP);
	assert_int_equal(hc_next_due(&s), now + 2000); /* up, stable: interval */
	assert_false(hc_in_transition(&s));
}

/* Provisional init states are one result away from the other side. */
static void test_init_states(void **state)
{
	struct hc_params p;
	struct hc_state s;
	uint64_t now = T0;

	(void)state;
	params(&p);
	assert_int_equal(hc_init(&s, &p, HC_INIT_UP, T0, 0), 0);
	assert_int_equal(s.health, HC_UP);
	assert_true(hc_in_transition(&s));
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 1);
	assert_int_equal(s.health, HC_DOWN);

	assert_int_equal(hc_init(&s, &p, HC_INIT_UP, T0, 0), 0);
	assert_int_equal(step(&s, HC_RES_OK, &now), 0); /* confirmed: now fully up */
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 1);

	assert_int_equal(hc_init(&s, &p, HC_INIT_DOWN, T0, 0), 0);
	assert_int_equal(s.health, HC_DOWN);
	assert_int_equal(step(&s, HC_RES_OK, &now), 1);
	assert_int_equal(s.health, HC_UP);

	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_DOWN, T0, 0), 0);
	assert_int_equal(step(&s, HC_RES_OK, &now), 0);
	assert_int_equal(step(&s, HC_RES_OK, &now), 1);
}

/* rise = fall = 1: every result decides. */
static void test_rise_fall_one(void **state)
{
	struct hc_params p;
	struct hc_state s;
	uint64_t now = T0;

	(void)state;
	params(&p);
	p.rise = 1;
	p.fall = 1;
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 0), 0);
	assert_int_equal(step(&s, HC_RES_OK, &now), 0);
	assert_int_equal(step(&s, HC_RES_ERROR, &now), 1);
	assert_int_equal(step(&s, HC_RES_ERROR, &now), 0);
	assert_int_equal(step(&s, HC_RES_OK, &now), 1);
	assert_int_equal(s.changes, 2);
	assert_false(hc_in_transition(&s));
}

static void test_last_result_text(void **state)
{
	struct hc_params p;
	struct hc_state s;
	char longtext[200];

	(void)state;
	params(&p);
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 0), 0);
	assert_int_equal(hc_result(&s, HC_RES_BAD_STATUS, "HTTP 503", T0 + 7), 0);
	assert_int_equal(s.last, HC_RES_BAD_STATUS);
	assert_string_equal(s.last_detail, "HTTP 503");
	assert_int_equal(s.last_check, T0 + 7);
	assert_int_equal(hc_result(&s, HC_RES_OK, NULL, T0 + 8), 0);
	assert_string_equal(s.last_detail, "");
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	assert_int_equal(hc_result(&s, HC_RES_EXEC_FAILED, longtext, T0 + 9), 0);
	assert_int_equal(strlen(s.last_detail), sizeof(s.last_detail) - 1);
	/* Not a valid report: nothing moves. */
	assert_int_equal(hc_result(&s, HC_RES_NONE, "x", T0 + 10), -EINVAL);
	assert_int_equal(hc_result(&s, HC_RES_MAX, "x", T0 + 10), -EINVAL);
	assert_int_equal(s.checks, 3);
	assert_int_equal(s.last_check, T0 + 9);
}

/* The first check lands within the jitter span, the same for a seed, and
 * spread over the span across seeds. */
static void test_jitter(void **state)
{
	struct hc_params p;
	struct hc_state s, t;
	uint64_t lo = UINT64_MAX, hi = 0;
	uint32_t distinct = 0;
	uint64_t prev = UINT64_MAX;

	(void)state;
	hc_params_default(&p); /* 100% of a 2000 ms interval */
	for (uint64_t seed = 0; seed < 1000; seed++) {
		uint64_t d;

		assert_int_equal(hc_init(&s, &p, HC_INIT_UP, T0, seed), 0);
		assert_int_equal(hc_init(&t, &p, HC_INIT_UP, T0, seed), 0);
		assert_int_equal(hc_next_due(&s), hc_next_due(&t));
		d = hc_next_due(&s) - T0;
		assert_true(d < 2000);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
		if (d != prev)
			distinct++;
		prev = d;
	}
	/* 1000 seeds over 2000 slots: spread over most of the span. */
	assert_true(lo < 100);
	assert_true(hi > 1900);
	assert_true(distinct > 900);

	p.start_jitter_pct = 10;
	for (uint64_t seed = 0; seed < 1000; seed++) {
		assert_int_equal(hc_init(&s, &p, HC_INIT_UP, T0, seed * 0x1234567), 0);
		assert_true(hc_next_due(&s) - T0 < 200);
	}
	p.start_jitter_pct = 0;
	assert_int_equal(hc_init(&s, &p, HC_INIT_UP, T0, 42), 0);
	assert_int_equal(hc_next_due(&s), T0);
}

/* Jitter only offsets the first check; the schedule then follows results. */
static void test_jitter_only_first(void **state)
{
	struct hc_params p;
	struct hc_state s;

	(void)state;
	hc_params_default(&p);
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 77), 0);
	uint64_t due = hc_next_due(&s);
	assert_int_equal(hc_result(&s, HC_RES_OK, NULL, due + 33), 0);
	assert_int_equal(hc_next_due(&s), due + 2000);
}

/*
 * The rhythm is kept from one check's due time to the next: a slow answer
 * or a timeout does not stretch it; a check that ended past the next due
 * time (timeout >= interval) is followed at once, never overlapped.
 */
static void test_rhythm_from_due_time(void **state)
{
	struct hc_params p;
	struct hc_state s;
	uint64_t due;

	(void)state;
	hc_params_default(&p);
	p.interval_ms = 1000;
	p.timeout_ms = 1000;
	p.start_jitter_pct = 0;
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 0), 0);
	due = hc_next_due(&s);
	assert_int_equal(due, T0);
	assert_int_equal(hc_result(&s, HC_RES_OK, NULL, due + 400), 0); /* a slow answer */
	assert_int_equal(hc_next_due(&s), T0 + 1000);
	/* A timeout as long as the interval: the next one goes out at once. */
	assert_int_equal(hc_result(&s, HC_RES_TIMEOUT, NULL, T0 + 2000), 0);
	assert_int_equal(hc_next_due(&s), T0 + 2000);
	assert_int_equal(hc_result(&s, HC_RES_TIMEOUT, NULL, T0 + 3000), 0);
	assert_int_equal(hc_result(&s, HC_RES_TIMEOUT, NULL, T0 + 4000), 1); /* fall 3: 3 s */
	assert_int_equal(hc_next_due(&s), T0 + 4000);
	/* Restored just after a check went out: that one times out, rise 2 takes two more. */
	assert_int_equal(hc_result(&s, HC_RES_TIMEOUT, NULL, T0 + 5000), 0);
	assert_int_equal(hc_result(&s, HC_RES_OK, NULL, T0 + 5001), 0);
	assert_int_equal(hc_next_due(&s), T0 + 6000);
	assert_int_equal(hc_result(&s, HC_RES_OK, NULL, T0 + 6001), 1);
	assert_int_equal(s.health, HC_UP);
}

static void test_force(void **state)
{
	struct hc_params p;
	struct hc_state s;
	uint64_t now = T0, due;

	(void)state;
	params(&p);
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 0), 0);
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
	due = hc_next_due(&s);

	assert_int_equal(hc_force(&s, HC_DOWN, now + 1), 1);
	assert_int_equal(s.health, HC_DOWN);
	assert_int_equal(s.last_change, now + 1);
	assert_int_equal(s.fail, 0);
	assert_int_equal(hc_next_due(&s), due); /* schedule untouched */
	assert_int_equal(hc_force(&s, HC_DOWN, now + 2), 0);
	assert_int_equal(s.changes, 1);
	assert_int_equal(hc_force(&s, (enum hc_health)7, now + 2), -EINVAL);

	/* Checks have the last word: rise passes bring it back. */
	assert_int_equal(step(&s, HC_RES_OK, &now), 0);
	assert_int_equal(step(&s, HC_RES_OK, &now), 1);
	assert_int_equal(s.health, HC_UP);

	/* Forced UP is a clean, stable UP: it takes the full fall to go down. */
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_DOWN, T0, 0), 0);
	assert_int_equal(hc_force(&s, HC_UP, T0), 1);
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 0);
	assert_int_equal(step(&s, HC_RES_TIMEOUT, &now), 1);
}

static void test_set_params(void **state)
{
	struct hc_params p;
	struct hc_state s;

	(void)state;
	params(&p);
	assert_int_equal(hc_init(&s, &p, HC_INIT_FULLY_UP, T0, 0), 0);
	assert_int_equal(hc_result(&s, HC_RES_OK, NULL, T0), 0);
	assert_int_equal(hc_next_due(&s), T0 + 2000);

	/* Shorter interval: the planned check is pulled in. */
	p.interval_ms = 300;
	assert_int_equal(hc_set_params(&s, &p, T0 + 100), 0);
	assert_int_equal(hc_next_due(&s), T0 + 400);
	assert_int_equal(s.health, HC_UP);

	/* Longer interval: the planned check stays. */
	p.interval_ms = 10000;
	assert_int_equal(hc_set_params(&s, &p, T0 + 200), 0);
	assert_int_equal(hc_next_due(&s), T0 + 400);

	p.rise = 0;
	assert_int_equal(hc_set_params(&s, &p, T0 + 300), -EINVAL);
	assert_int_equal(s.p.rise, 2);
	assert_int_equal(s.p.interval_ms, 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_params_rejected),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_fall),
		cmocka_unit_test(test_fall_needs_consecutive),
		cmocka_unit_test(test_rise),
		cmocka_unit_test(test_init_states),
		cmocka_unit_test(test_rise_fall_one),
		cmocka_unit_test(test_last_result_text),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_jitter_only_first),
		cmocka_unit_test(test_rhythm_from_due_time),
		cmocka_unit_test(test_force),
		cmocka_unit_test(test_set_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
