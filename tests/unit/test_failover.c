/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for failover, panic and slow start arithmetic in lib/failover. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "failover.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ONE           FAILOVER_SHARE_ONE
#define T0            1000000u /* fake clock, ms */

/* Splits with default params (or <panic> as threshold) over two levels. */
static void split2(uint64_t h0, uint64_t t0, uint64_t h1, uint64_t t1, uint32_t panic,
		   struct failover_split *out)
{
	struct failover_params p;
	const uint64_t h[] = {h0, h1}, t[] = {t0, t1};

	failover_params_default(&p);
	p.panic_threshold_pct = panic;
	assert_int_equal(failover_split(&p, h, t, 2, out), 0);
}

static void assert_shares_sum(const struct failover_split *s)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < s->n_levels; i++)
		sum += s->share[i];
	assert_int_equal(sum, s->available ? ONE : 0);
}

static void test_defaults(void **state)
{
	struct failover_params p;

	(void)state;
	failover_params_default(&p);
	assert_int_equal(p.overprovisioning_pct, 140);
	assert_int_equal(p.panic_threshold_pct, 50);
	assert_int_equal(p.slow_start_ms, 30000);
	assert_int_equal(p.no_backend, SL_EMPTY_DROP);
	assert_int_equal(failover_params_check(&p), 0);
	p.overprovisioning_pct = 99;
	assert_int_equal(failover_params_check(&p), -EINVAL);
	failover_params_default(&p);
	p.panic_threshold_pct = 101;
	assert_int_equal(failover_params_check(&p), -EINVAL);
	failover_params_default(&p);
	p.no_backend = SL_EMPTY_MAX;
	assert_int_equal(failover_params_check(&p), -EINVAL);
	assert_int_equal(failover_params_check(NULL), -EINVAL);
}

static void test_split_rejects(void **state)
{
	struct failover_params p;
	struct failover_split s;
	const uint64_t h[FAILOVER_MAX_LEVELS + 1] = {5}, t[FAILOVER_MAX_LEVELS + 1] = {4};
	const uint64_t ok_t[FAILOVER_MAX_LEVELS + 1] = {10};

	(void)state;
	failover_params_default(&p);
	assert_int_equal(failover_split(&p, h, t, 1, &s), -EINVAL); /* healthy > total */
	assert_int_equal(failover_split(&p, h, ok_t, 0, &s), -EINVAL);
	assert_int_equal(failover_split(&p, h, ok_t, FAILOVER_MAX_LEVELS + 1, &s), -EINVAL);
	assert_int_equal(failover_split(&p, h, ok_t, FAILOVER_MAX_LEVELS, &s), 0);
}

static void test_split_all_healthy(void **state)
{
	struct failover_split s;

	(void)state;
	split2(10, 10, 10, 10, 50, &s);
	assert_true(s.available);
	assert_int_equal(s.share[0], ONE);
	assert_int_equal(s.share[1], 0);
	assert_int_equal(s.health[0], ONE);
	assert_int_equal(s.health[1], ONE);
	assert_false(s.panic[0] || s.panic[1] || s.total_panic);
}

/* Half the primary healthy: 50% * 1.4 = 70% primary, 30% spills to backup. */
static void test_split_primary_half(void **state)
{
	struct failover_split s;

	(void)state;
	split2(5, 10, 10, 10, 50, &s);
	assert_int_equal(s.health[0], 700000);
	assert_int_equal(s.share[0], 700000);
	assert_int_equal(s.share[1], 300000);
	assert_false(s.panic[0] || s.total_panic);
	assert_shares_sum(&s);
}

static void test_split_primary_down(void **state)
{
	struct failover_split s;

	(void)state;
	split2(0, 10, 10, 10, 50, &s);
	assert_int_equal(s.share[0], 0);
	assert_int_equal(s.share[1], ONE);
	/* The backup carries it all: no panic for the dead primary. */
	assert_false(s.panic[0] || s.panic[1] || s.total_panic);
}

/* Envoy's documented table: 72% * 1.4 caps at 100%, 71% leaves 0.6%. */
static void test_split_overprovisioning(void **state)
{
	struct failover_split s;

	(void)state;
	split2(72, 100, 100, 100, 50, &s);
	assert_int_equal(s.share[0], ONE);
	split2(71, 100, 100, 100, 50, &s);
	assert_int_equal(s.share[0], 994000);
	assert_int_equal(s.share[1], 6000);
	split2(25, 100, 100, 100, 50, &s);
	assert_int_equal(s.share[0], 350000);
	assert_int_equal(s.share[1], 650000);
}

/* Levels short together (panic off): shares scale up to 100% by health. */
static void test_split_normalized(void **state)
{
	struct failover_split s;

	(void)state;
	split2(2, 10, 3, 10, 0, &s); /* health 28% and 42% */
	assert_int_equal(s.total_health, 700000);
	assert_int_equal(s.share[0], 400000);
	assert_int_equal(s.share[1], 600000);
	assert_false(s.panic[0] || s.panic[1] || s.total_panic);
}

/* One level below 50% healthy: spread over all its backends. */
static void test_panic(void **state)
{
	struct failover_params p;
	struct failover_split s;
	const uint64_t h[] = {4}, t[] = {10};

	(void)state;
	failover_params_default(&p);
	assert_int_equal(failover_split(&p, h, t, 1, &s), 0);
	assert_true(s.total_panic);
	assert_true(s.panic[0]);
	assert_true(s.available);
	assert_int_equal(s.share[0], ONE);

	/* Exactly at the threshold is not panic. */
	{
		const uint64_t h5[] = {5};

		assert_int_equal(failover_split(&p, h5, t, 1, &s), 0);
		assert_false(s.panic[0] || s.total_panic);
	}

	/* Two levels in panic: shares follow total weight, 10 : 30. */
	split2(2, 10, 2, 30, 50, &s);
	assert_true(s.total_panic);
	assert_int_equal(s.share[0], 250000);
	assert_int_equal(s.share[1], 750000);
}

static void test_panic_disabled(void **state)
{
	struct failover_params p;
	struct failover_split s;
	const uint64_t h[] = {1}, t[] = {10};

	(void)state;
	failover_params_default(&p);
	p.panic_threshold_pct = 0;
	assert_int_equal(failover_split(&p, h, t, 1, &s), 0);
	assert_false(s.panic[0] || s.total_panic);
	assert_int_equal(s.share[0], ONE); /* the one survivor takes it all */
}

/* A dead backup level is no reason to panic while the primary copes. */
static void test_no_panic_with_capacity(void **state)
{
	struct failover_split s;

	(void)state;
	split2(10, 10, 0, 100, 50, &s);
	assert_false(s.panic[0] || s.panic[1] || s.total_panic);
	assert_int_equal(s.share[0], ONE);
	/* Primary down, backup at 60%: the backup's healthy members carry it. */
	split2(0, 10, 6, 10, 50, &s);
	assert_false(s.panic[1] || s.total_panic);
	assert_int_equal(s.share[1], ONE);
}

/* Short together, only the primary below the threshold: it spreads its own
 * (small) share over all its backends; the backup keeps to healthy ones. */
static void test_partial_panic(void **state)
{
	struct failover_split s;

	(void)state;
	split2(1, 10, 6, 10, 50, &s); /* health 14% + 84% = 98% */
	assert_int_equal(s.total_health, 980000);
	assert_true(s.panic[0]);
	assert_false(s.panic[1]);
	assert_false(s.total_panic);
	/* 14/98 and 84/98 of a million: 142857 + 857142, remainder to level 0. */
	assert_int_equal(s.share[0], 142858);
	assert_int_equal(s.share[1], 857142);
	assert_shares_sum(&s);
}

static void test_no_backend(void **state)
{
	struct failover_params p;
	struct failover_split s;
	const uint64_t h[] = {0, 0}, t[] = {4, 4}, t0[] = {0, 0};

	(void)state;
	failover_params_default(&p);
	p.no_backend = SL_EMPTY_RESET;
	p.panic_threshold_pct = 0;
	assert_int_equal(failover_split(&p, h, t, 2, &s), 0);
	assert_false(s.available);
	assert_int_equal(s.action, SL_EMPTY_RESET);
	assert_shares_sum(&s);
	/* An empty pool: nothing available whatever the panic setting. */
	p.panic_threshold_pct = 50;
	assert_int_equal(failover_split(&p, h, t0, 2, &s), 0);
	assert_false(s.available);
	assert_int_equal(s.action, SL_EMPTY_RESET);
	/* All down with panic on: spread over everything rather than fail all. */
	assert_int_equal(failover_split(&p, h, t, 2, &s), 0);
	assert_true(s.available && s.total_panic);
	assert_int_equal(s.share[0], 500000);
}

/* Shares sum to exactly 1e6 for any input, across many levels. */
static void test_split_sum_exact(void **state)
{
	struct failover_params p;
	struct failover_split s;
	uint64_t h[FAILOVER_MAX_LEVELS], t[FAILOVER_MAX_LEVELS];
	uint64_t x = 12345;

	(void)state;
	failover_params_default(&p);
	for (int round = 0; round < 2000; round++) {
		p.panic_threshold_pct = (uint32_t)(round % 3) * 30;
		for (int i = 0; i < FAILOVER_MAX_LEVELS; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			t[i] = (x >> 33) % 7;
			h[i] = t[i] != 0 ? (x >> 45) % (t[i] + 1) : 0;
		}
		assert_int_equal(failover_split(&p, h, t, FAILOVER_MAX_LEVELS, &s), 0);
		assert_shares_sum(&s);
	}
}

static void test_effective_weight(void **state)
{
	(void)state;
	assert_int_equal(failover_effective_weight(1, ONE, 1), 65535);
	assert_int_equal(failover_effective_weight(1, ONE, 3), 21845);
	assert_int_equal(failover_effective_weight(5, 700000, 10), 22937);
	/* Rounded down to 0 is raised to 1: a receiving backend is never starved. */
	assert_int_equal(failover_effective_weight(1, 1, 1000000), 1);
	assert_int_equal(failover_effective_weight(0, ONE, 3), 0);
	assert_int_equal(failover_effective_weight(1, 0, 3), 0);
	assert_int_equal(failover_effective_weight(1, ONE, 0), 0);
	assert_int_equal(failover_effective_weight(9, ONE, 3), 65535); /* capped */
	/* Large inputs do not overflow. */
	assert_int_equal(failover_effective_weight(UINT64_MAX / 2, ONE, UINT64_MAX), 32767);
}

static void assert_weights_sum(const uint32_t *eff, uint32_t n)
{
	uint64_t sum = 0;
	uint32_t receiving = 0;

	for (uint32_t i = 0; i < n; i++) {
		assert_true(eff[i] <= FAILOVER_WEIGHT_MAX);
		sum += eff[i];
		receiving += eff[i] != 0;
	}
	assert_true(sum + receiving >= FAILOVER_WEIGHT_MAX);
	assert_true(sum <= FAILOVER_WEIGHT_MAX + receiving);
}

/* Primary half healthy with unequal weights, backup whole: 70/30. */
static void test_assign_failover(void **state)
{
	struct failover_params p;
	struct failover_split s;
	const struct failover_member m[] = {
		{.weight = 2, .level = 0, .eligible = true, .healthy = true},
		{.weight = 2, .level = 0, .eligible = true, .healthy = false},
		{.weight = 1, .level = 0, .eligible = true, .healthy = true},
		{.weight = 1, .level = 0, .eligible = true, .healthy = false},
		{.weight = 3, .level = 1, .eligible = true, .healthy = true},
		{.weight = 1, .level = 1, .eligible = true, .healthy = true},
		{.weight = 5, .level = 1, .eligible = false, .healthy = true}, /* drain */
	};
	uint32_t eff[ARRAY_SIZE(m)];

	(void)state;
	failover_params_default(&p);
	assert_int_equal(failover_assign(&p, m, ARRAY_SIZE(m), T0 + 60000, eff, &s), 0);
	assert_int_equal(s.n_levels, 2);
	assert_int_equal(s.share[0], 700000); /* 3 of 6 weight healthy */
	assert_int_equal(s.share[1], 300000);
	/* 0.7 * 65535 split 2:1, 0.3 * 65535 split 3:1. */
	assert_int_equal(eff[0], 30583);
	assert_int_equal(eff[1], 0);
	assert_int_equal(eff[2], 15291);
	assert_int_equal(eff[3], 0);
	assert_int_equal(eff[4], 14745);
	assert_int_equal(eff[5], 4915);
	assert_int_equal(eff[6], 0);
	assert_weights_sum(eff, ARRAY_SIZE(m));
}

/* Panic: every eligible member of the level gets traffic, healthy or not. */
static void test_assign_panic(void **state)
{
	struct failover_params p;
	struct failover_split s;
	struct failover_member m[10];
	uint32_t eff[10];

	(void)state;
	failover_params_default(&p);
	for (int i = 0; i < 10; i++)
		m[i] = (struct failover_member){.weight = 1, .eligible = i != 9, .healthy = i < 4};
	assert_int_equal(failover_assign(&p, m, 10, T0 + 60000, eff, &s), 0);
	assert_true(s.total_panic); /* 4 of 9 eligible healthy */
	for (int i = 0; i < 9; i++)
		assert_int_equal(eff[i], 65535 / 9);
	assert_int_equal(eff[9], 0); /* drain/maint never takes new flows */

	/* Panic off: only the 4 healthy ones. */
	p.panic_threshold_pct = 0;
	assert_int_equal(failover_assign(&p, m, 10, T0 + 60000, eff, &s), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(eff[i], i < 4 ? 65535 / 4 : 0);
}

static void test_assign_unavailable(void **state)
{
	struct failover_params p;
	struct failover_split s;
	const struct failover_member m[] = {
		{.weight = 1, .eligible = true, .healthy = false},
		{.weight = 1, .level = 1, .eligible = true, .healthy = false},
		{.weight = 1, .level = 1, .eligible = false, .healthy = true},
	};
	uint32_t eff[ARRAY_SIZE(m)] = {7, 7, 7};

	(void)state;
	failover_params_default(&p);
	p.panic_threshold_pct = 0;
	p.no_backend = SL_EMPTY_RESET;
	assert_int_equal(failover_assign(&p, m, ARRAY_SIZE(m), T0, eff, &s), 0);
	assert_false(s.available);
	assert_int_equal(s.action, SL_EMPTY_RESET);
	for (size_t i = 0; i < ARRAY_SIZE(m); i++)
		assert_int_equal(eff[i], 0);
	/* No members at all. */
	assert_int_equal(failover_assign(&p, NULL, 0, T0, NULL, &s), 0);
	assert_false(s.available);
}

static void test_assign_rejects(void **state)
{
	struct failover_params p;
	struct failover_member m = {.weight = 1, .level = FAILOVER_MAX_LEVELS, .eligible = true};
	uint32_t eff;

	(void)state;
	failover_params_default(&p);
	assert_int_equal(failover_assign(&p, &m, 1, T0, &eff, NULL), -EINVAL);
	m.level = 0;
	m.weight = FAILOVER_WEIGHT_MAX + 1;
	assert_int_equal(failover_assign(&p, &m, 1, T0, &eff, NULL), -EINVAL);
	m.weight = 1;
	assert_int_equal(failover_assign(&p, &m, 1, T0, NULL, NULL), -EINVAL);
	m.healthy = true;
	assert_int_equal(failover_assign(&p, &m, 1, T0, &eff, NULL), 0);
	assert_int_equal(eff, 65535);
}

/* Weights sum to the data plane's full scale over many random pools. */
static void test_assign_sum_sanity(void **state)
{
	struct failover_params p;
	struct failover_member m[40];
	uint32_t eff[40];
	uint64_t x = 99;

	(void)state;
	failover_params_default(&p);
	for (int round = 0; round < 500; round++) {
		struct failover_split s;
		uint32_t n = 1 + round % 40;

		for (uint32_t i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			m[i] = (struct failover_member){
				.weight = (uint32_t)((x >> 40) % 100),
				.level = (uint32_t)((x >> 20) % 3),
				.eligible = (x >> 10) % 8 != 0,
				.healthy = (x >> 5) % 3 != 0,
				.up_since = T0 - (x >> 30) % 60000,
			};
		}
		assert_int_equal(failover_assign(&p, m, n, T0, eff, &s), 0);
		if (s.available)
			assert_weights_sum(eff, n);
		else
			for (uint32_t i = 0; i < n; i++)
				assert_int_equal(eff[i], 0);
	}
}

static void test_slow_start_ramp(void **state)
{
	const uint32_t w = 30000;

	(void)state;
	assert_int_equal(failover_slow_start_weight(100, T0, T0, w), 1);
	assert_int_equal(failover_slow_start_weight(100, T0, T0 + w / 4, w), 25);
	assert_int_equal(failover_slow_start_weight(100, T0, T0 + w / 2, w), 50);
	assert_int_equal(failover_slow_start_weight(100, T0, T0 + w - 1, w), 99);
	assert_int_equal(failover_slow_start_weight(100, T0, T0 + w, w), 100);
	assert_int_equal(failover_slow_start_weight(100, T0, T0 + 10 * w, w), 100);
	/* Never below 1, never from nothing, off with a zero window. */
	assert_int_equal(failover_slow_start_weight(1, T0, T0 + w / 2, w), 1);
	assert_int_equal(failover_slow_start_weight(0, T0, T0 + w / 2, w), 0);
	assert_int_equal(failover_slow_start_weight(100, T0, T0, 0), 100);
	/* A clock behind <since>: just came up. */
	assert_int_equal(failover_slow_start_weight(100, T0, T0 - 5, w), 1);
}

/* A returning backend of weight 1 ramps against its peer, not stuck at max(1, 0). */
static void test_assign_slow_start(void **state)
{
	struct failover_params p;
	struct failover_member m[] = {
		{.weight = 1, .eligible = true, .healthy = true, .up_since = 0},
		{.weight = 1, .eligible = true, .healthy = true, .up_since = T0},
	};
	uint32_t eff[2];

	(void)state;
	failover_params_default(&p);
	assert_int_equal(failover_assign(&p, m, 2, T0, eff, NULL), 0);
	assert_int_equal(eff[0], 65471); /* 1024 : 1 */
	assert_int_equal(eff[1], 63);
	assert_int_equal(failover_assign(&p, m, 2, T0 + 15000, eff, NULL), 0);
	assert_int_equal(eff[0], 43690); /* 1024 : 512 */
	assert_int_equal(eff[1], 21845);
	assert_int_equal(failover_assign(&p, m, 2, T0 + 30000, eff, NULL), 0);
	assert_int_equal(eff[0], 32767);
	assert_int_equal(eff[1], 32767);
	/* Slow start off: equal at once. */
	p.slow_start_ms = 0;
	assert_int_equal(failover_assign(&p, m, 2, T0, eff, NULL), 0);
	assert_int_equal(eff[0], eff[1]);
}

/*
 * The primary level comes back whole while a backup carries the traffic: the
 * level's share grows with its ramp (traffic returns gradually), instead of
 * jumping back at once because both primaries ramp together.
 */
static void test_assign_slow_start_level_returns(void **state)
{
	struct failover_params p;
	struct failover_member m[] = {
		{.weight = 1, .level = 0, .eligible = true, .healthy = true, .up_since = T0},
		{.weight = 1, .level = 0, .eligible = true, .healthy = true, .up_since = T0},
		{.weight = 1, .level = 1, .eligible = true, .healthy = true, .up_since = 0},
	};
	struct failover_split sp;
	uint32_t eff[3];

	(void)state;
	failover_params_default(&p); /* 30 s ramp, overprovisioning 1.4, panic 50% */
	/* A quarter of the way: the primaries carry 0.25 x 1.4 = 35%, the backup the rest. */
	assert_int_equal(failover_assign(&p, m, 3, T0 + 7500, eff, &sp), 0);
	assert_int_equal(sp.share[0], 350000);
	assert_int_equal(sp.share[1], 650000);
	assert_false(sp.panic[0]); /* ramping is not failing */
	assert_int_equal(eff[0], eff[1]);
	assert_true(eff[2] > eff[0] + eff[1]);
	/* Past 1/1.4 of the ramp the primaries take everything again. */
	assert_int_equal(failover_assign(&p, m, 3, T0 + 21500, eff, &sp), 0);
	assert_int_equal(sp.share[0], 1000000);
	assert_int_equal(eff[2], 0);
	/* Slow start off: all at once. */
	p.slow_start_ms = 0;
	assert_int_equal(failover_assign(&p, m, 3, T0, eff, &sp), 0);
	assert_int_equal(sp.share[0], 1000000);
}

/* One level, half of it down and the rest ramping: no panic onto the dead ones. */
static void test_assign_slow_start_no_panic(void **state)
{
	struct failover_params p;
	struct failover_member m[] = {
		{.weight = 1, .eligible = true, .healthy = true, .up_since = T0},
		{.weight = 1, .eligible = true, .healthy = true, .up_since = T0},
		{.weight = 1, .eligible = true, .healthy = false},
		{.weight = 1, .eligible = true, .healthy = false},
	};
	struct failover_split sp;
	uint32_t eff[4];

	(void)state;
	failover_params_default(&p);
	assert_int_equal(failover_assign(&p, m, 4, T0 + 1000, eff, &sp), 0);
	assert_false(sp.panic[0]);
	assert_int_equal(sp.share[0], 1000000);
	assert_int_equal(eff[2], 0);
	assert_int_equal(eff[3], 0);
	assert_int_equal(eff[0], eff[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_split_rejects),
		cmocka_unit_test(test_split_all_healthy),
		cmocka_unit_test(test_split_primary_half),
		cmocka_unit_test(test_split_primary_down),
		cmocka_unit_test(test_split_overprovisioning),
		cmocka_unit_test(test_split_normalized),
		cmocka_unit_test(test_panic),
		cmocka_unit_test(test_panic_disabled),
		cmocka_unit_test(test_no_panic_with_capacity),
		cmocka_unit_test(test_partial_panic),
		cmocka_unit_test(test_no_backend),
		cmocka_unit_test(test_split_sum_exact),
		cmocka_unit_test(test_effective_weight),
		cmocka_unit_test(test_assign_failover),
		cmocka_unit_test(test_assign_panic),
		cmocka_unit_test(test_assign_unavailable),
		cmocka_unit_test(test_assign_rejects),
		cmocka_unit_test(test_assign_sum_sanity),
		cmocka_unit_test(test_slow_start_ramp),
		cmocka_unit_test(test_assign_slow_start),
		cmocka_unit_test(test_assign_slow_start_level_returns),
		cmocka_unit_test(test_assign_slow_start_no_panic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
