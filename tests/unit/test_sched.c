/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the per-flow pickers in lib/sched/sched.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void test_kind_names(void **state)
{
	(void)state;
	for (int k = 0; k < SCHED_KIND_MAX; k++)
		assert_int_equal(sched_kind_parse(sched_kind_name(k)), k);
	assert_int_equal(sched_kind_parse("nope"), -1);
	assert_int_equal(sched_kind_parse(NULL), -1);
}

static void test_rr_order(void **state)
{
	const uint32_t w[] = {1, 7, 1, 3};
	uint32_t cur = 0;

	(void)state;
	/* Weights other than zero are ignored: plain rotation. */
	for (uint32_t k = 0; k < 12; k++)
		assert_int_equal(sched_rr_pick(&cur, w, 4), k % 4);
}

static void test_rr_skips_zero(void **state)
{
	const uint32_t w[] = {0, 1, 0, 0, 2, 0};
	const uint32_t want[] = {1, 4, 1, 4, 1};
	uint32_t cur = 0;

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(want); k++)
		assert_int_equal(sched_rr_pick(&cur, w, 6), want[k]);
}

static void test_rr_cursor_out_of_range(void **state)
{
	const uint32_t w[] = {1, 1, 1};
	uint32_t cur = 17; /* pool shrank since the last pick */

	(void)state;
	assert_int_equal(sched_rr_pick(&cur, w, 3), 0);
	assert_int_equal(sched_rr_pick(&cur, w, 3), 1);
}

static void test_none(void **state)
{
	const uint32_t w[] = {0, 0, 0};
	const uint32_t active[] = {0, 0, 0};
	int64_t cur_w[3] = {5, -3, 7};
	uint32_t cur = 0;

	(void)state;
	assert_int_equal(sched_rr_pick(&cur, w, 3), SCHED_NONE);
	assert_int_equal(sched_wrr_pick(cur_w, w, 3), SCHED_NONE);
	/* Zero-weight credits are reset. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(cur_w[i], 0);
	assert_int_equal(sched_lc_pick(&cur, w, active, 3), SCHED_NONE);
	assert_int_equal(sched_wlc_pick(&cur, w, active, 3), SCHED_NONE);

	/* n == 0: arrays are never read. */
	assert_int_equal(sched_rr_pick(&cur, NULL, 0), SCHED_NONE);
	assert_int_equal(sched_wrr_pick(NULL, NULL, 0), SCHED_NONE);
	assert_int_equal(sched_lc_pick(&cur, NULL, NULL, 0), SCHED_NONE);
	assert_int_equal(sched_wlc_pick(&cur, NULL, NULL, 0), SCHED_NONE);
}

static void test_wrr_interleave(void **state)
{
	const uint32_t w[] = {5, 1, 1};
	const uint32_t want[] = {0, 0, 1, 0, 2, 0, 0}; /* a a b a c a a */
	int64_t cur[3] = {0};

	(void)state;
	/* Two full cycles: the sequence repeats and the credits return to 0. */
	for (int cycle = 0; cycle < 2; cycle++) {
		for (size_t k = 0; k < ARRAY_SIZE(want); k++)
			assert_int_equal(sched_wrr_pick(cur, w, 3), want[k]);
		for (int i = 0; i < 3; i++)
			assert_int_equal(cur[i], 0);
	}
}

/* Over every window of sum(weight) picks each backend is picked weight[i] times. */
static void check_wrr_shares(const uint32_t *w, uint32_t n)
{
	int64_t cur[16] = {0};
	uint32_t count[16];
	uint32_t total = 0;

	assert_true(n <= 16);
	for (uint32_t i = 0; i < n; i++)
		total += w[i];
	for (int cycle = 0; cycle < 3; cycle++) {
		memset(count, 0, sizeof(count));
		for (uint32_t k = 0; k < total; k++) {
			uint32_t p = sched_wrr_pick(cur, w, n);

			assert_true(p < n);
			assert_int_not_equal(w[p], 0);
			count[p]++;
		}
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(count[i], w[i]);
	}
}

static void test_wrr_shares(void **state)
{
	const uint32_t w1[] = {1, 1, 1};
	const uint32_t w2[] = {5, 1, 1};
	const uint32_t w3[] = {3, 2, 1};
	const uint32_t w4[] = {0, 4, 0, 7, 1};
	const uint32_t w5[] = {100, 1, 50, 25, 3, 0, 9};
	const uint32_t w6[] = {7};
	const uint32_t w7[] = {1000000, 999999, 1};

	(void)state;
	check_wrr_shares(w1, ARRAY_SIZE(w1));
	check_wrr_shares(w2, ARRAY_SIZE(w2));
	check_wrr_shares(w3, ARRAY_SIZE(w3));
	check_wrr_shares(w4, ARRAY_SIZE(w4));
	check_wrr_shares(w5, ARRAY_SIZE(w5));
	check_wrr_shares(w6, ARRAY_SIZE(w6));
	check_wrr_shares(w7, ARRAY_SIZE(w7));
}

/*
 * The wrr cycle is exactly the picks sched_wrr_pick() makes from zero, over
 * as many rounds as you like; weights with a common divisor give the short
 * cycle; what cannot be built says so (0).
 */
static void test_wrr_cycle(void **state)
{
	static const uint32_t w[] = {50, 10, 0, 20, 30};
	uint32_t reduced = 5 + 1 + 0 + 2 + 3;
	uint16_t seq[64];
	int64_t cur[5] = {0};
	uint32_t len, big[3] = {70000, 1, 1}, zero[2] = {0, 0};

	(void)state;
	len = sched_wrr_cycle(seq, 64, w, 5);
	assert_int_equal(len, reduced);
	for (uint32_t k = 0; k < 3 * 110; k++)
		assert_int_equal(seq[k % len], sched_wrr_pick(cur, w, 5));
	assert_int_equal(sched_wrr_cycle(seq, reduced - 1, w, 5), 0); /* past the cap */
	assert_int_equal(sched_wrr_cycle(seq, 64, big, 3), 0);
	assert_int_equal(sched_wrr_cycle(seq, 64, zero, 2), 0);
	assert_int_equal(sched_wrr_cycle(seq, 64, w, 0), 0);
}

static void test_wrr_weight_to_zero(void **state)
{
	uint32_t w[] = {3, 2, 1};
	int64_t cur[3] = {0};
	uint32_t count[3] = {0};

	(void)state;
	/* Part-way through a cycle, drain backend 0. */
	for (int k = 0; k < 4; k++)
		(void)sched_wrr_pick(cur, w, 3);
	w[0] = 0;
	for (int k = 0; k < 300; k++) {
		uint32_t p = sched_wrr_pick(cur, w, 3);

		assert_true(p == 1 || p == 2);
		assert_int_equal(cur[0], 0);
		count[p]++;
	}
	/* The survivors split 2:1, off by at most the credit left over. */
	assert_in_range(count[1], 200 - 2, 200 + 2);
	assert_in_range(count[2], 100 - 2, 100 + 2);

	/* It comes back and receives its share again. */
	w[0] = 3;
	memset(count, 0, sizeof(count));
	for (int k = 0; k < 600; k++)
		count[sched_wrr_pick(cur, w, 3)]++;
	assert_in_range(count[0], 300 - 3, 300 + 3);
	assert_in_range(count[1], 200 - 3, 200 + 3);
	assert_in_range(count[2], 100 - 3, 100 + 3);
}

static void test_lc_least(void **state)
{
	const uint32_t w[] = {1, 1, 1, 1};
	const uint32_t active[] = {5, 3, 9, 4};
	uint32_t cur = 0;

	(void)state;
	assert_int_equal(sched_lc_pick(&cur, w, active, 4), 1);
	/* Whatever the cursor, a strictly least loaded backend wins. */
	for (cur = 0; cur < 4; cur++) {
		uint32_t c = cur;

		assert_int_equal(sched_lc_pick(&c, w, active, 4), 1);
	}
}

static void test_lc_tie_rotation(void **state)
{
	const uint32_t w[] = {1, 1, 0, 1};
	uint32_t active[] = {2, 2, 0, 2};
	uint32_t cur = 0;

	(void)state;
	/* Equal loads, loads not updated: the equals take turns, 2 is drained. */
	for (int k = 0; k < 9; k++) {
		const uint32_t want[] = {0, 1, 3};

		assert_int_equal(sched_lc_pick(&cur, w, active, 4), want[k % 3]);
	}

	/* Loads updated as flows arrive: an even spread, not all on index 0. */
	memset(active, 0, sizeof(active));
	cur = 0;
	for (int k = 0; k < 30; k++)
		active[sched_lc_pick(&cur, w, active, 4)]++;
	assert_int_equal(active[0], 10);
	assert_int_equal(active[1], 10);
	assert_int_equal(active[2], 0);
	assert_int_equal(active[3], 10);
}

static void test_lc_zero_weight_excluded(void **state)
{
	const uint32_t w[] = {0, 1, 0};
	const uint32_t active[] = {0, 100, 0};
	uint32_t cur = 0;

	(void)state;
	for (int k = 0; k < 5; k++) {
		assert_int_equal(sched_lc_pick(&cur, w, active, 3), 1);
		assert_int_equal(sched_wlc_pick(&cur, w, active, 3), 1);
	}
}

static void test_wlc_ratio(void **state)
{
	/* active/weight: 4/1 = 4, 10/5 = 2, 3/1 = 3. Plain lc would pick 2. */
	const uint32_t w[] = {1, 5, 1};
	const uint32_t active[] = {4, 10, 3};
	uint32_t cur = 0;

	(void)state;
	assert_int_equal(sched_lc_pick(&cur, w, active, 3), 2);
	cur = 0;
	assert_int_equal(sched_wlc_pick(&cur, w, active, 3), 1);

	/* Non-integral ratios: 7/3 = 2.33 vs 5/2 = 2.5 vs 9/4 = 2.25. */
	const uint32_t w2[] = {3, 2, 4};
	const uint32_t a2[] = {7, 5, 9};
	for (cur = 0; cur < 3; cur++) {
		uint32_t c = cur;

		assert_int_equal(sched_wlc_pick(&c, w2, a2, 3), 2);
	}
}

static void test_wlc_weighted_spread(void **state)
{
	const uint32_t w[] = {1, 2, 0, 3};
	uint32_t active[4] = {0};
	uint32_t cur = 0;

	(void)state;
	/* Flows accumulate in proportion to weight. */
	for (int k = 0; k < 600; k++)
		active[sched_wlc_pick(&cur, w, active, 4)]++;
	assert_int_equal(active[0], 100);
	assert_int_equal(active[1], 200);
	assert_int_equal(active[2], 0);
	assert_int_equal(active[3], 300);
}

static void test_wlc_tie_rotation(void **state)
{
	/* 2/1 == 4/2 == 6/3: all tied, they take turns. */
	const uint32_t w[] = {1, 2, 3};
	const uint32_t active[] = {2, 4, 6};
	uint32_t cur = 0;

	(void)state;
	for (int k = 0; k < 6; k++)
		assert_int_equal(sched_wlc_pick(&cur, w, active, 3), (uint32_t)(k % 3));
}

static void test_wlc_large(void **state)
{
	/*
	 * Products near 2^64: UINT32_MAX * UINT32_MAX. In 32 bits these would
	 * wrap and pick wrongly. (2^32-1)/(2^32-1) = 1 vs (2^32-2)/(2^32-1) < 1.
	 */
	const uint32_t w[] = {UINT32_MAX, UINT32_MAX, 1};
	const uint32_t active[] = {UINT32_MAX, UINT32_MAX - 1, 1};
	uint32_t cur = 0;

	(void)state;
	assert_int_equal(sched_wlc_pick(&cur, w, active, 3), 1);

	/* 3e9/4e9 = 0.75 vs 1/1 = 1 vs 2e9/3e9 = 0.667. */
	const uint32_t w2[] = {4000000000u, 1, 3000000000u};
	const uint32_t a2[] = {3000000000u, 1, 2000000000u};
	cur = 0;
	assert_int_equal(sched_wlc_pick(&cur, w2, a2, 3), 2);

	/* No load beats any positive load, however large that backend's weight. */
	const uint32_t w3[] = {1, UINT32_MAX};
	const uint32_t a3[] = {0, 1};
	cur = 0;
	assert_int_equal(sched_wlc_pick(&cur, w3, a3, 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_rr_order),
		cmocka_unit_test(test_rr_skips_zero),
		cmocka_unit_test(test_rr_cursor_out_of_range),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_wrr_interleave),
		cmocka_unit_test(test_wrr_shares),
		cmocka_unit_test(test_wrr_weight_to_zero),
		cmocka_unit_test(test_wrr_cycle),
		cmocka_unit_test(test_lc_least),
		cmocka_unit_test(test_lc_tie_rotation),
		cmocka_unit_test(test_lc_zero_weight_excluded),
		cmocka_unit_test(test_wlc_ratio),
		cmocka_unit_test(test_wlc_weighted_spread),
		cmocka_unit_test(test_wlc_tie_rotation),
		cmocka_unit_test(test_wlc_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
