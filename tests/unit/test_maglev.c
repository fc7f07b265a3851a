/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/sched/maglev.c: table validity, balance, weighting,
 * determinism (golden values: any change to the hash or the build order
 * shows up here), disruption on pool changes, build time, and the build
 * in slices (the same table as the one-shot build).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "maglev.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIG_M         655373u /* prime, 10x the default */
#define ID_LEN_MAX    24

/* Seeds of maglev.c, repeated here so ref_build() states the algorithm on its own. */
#define SEED_OFFSET 0x736c756963652d6full
#define SEED_SKIP   0x736c756963652d73ull

/* A pool of <n> backends named by fmt % i, all of weight <w>. */
struct pool {
	uint32_t n;
	char (*name)[ID_LEN_MAX];
	struct maglev_backend *b;
};

static void pool_set_name(struct pool *p, uint32_t i, const char *fmt, uint32_t v)
{
	int len = snprintf(p->name[i], ID_LEN_MAX, fmt, v);

	assert_true(len > 0 && len < ID_LEN_MAX);
	p->b[i].id = p->name[i];
	p->b[i].id_len = (size_t)len;
}

static void pool_init(struct pool *p, uint32_t n, const char *fmt, uint32_t w)
{
	p->n = n;
	p->name = calloc(n ? n : 1, sizeof(*p->name));
	p->b = calloc(n ? n : 1, sizeof(*p->b));
	assert_non_null(p->name);
	assert_non_null(p->b);
	for (uint32_t i = 0; i < n; i++) {
		pool_set_name(p, i, fmt, i);
		p->b[i].weight = w;
	}
}

static void pool_free(struct pool *p)
{
	free(p->name);
	free(p->b);
}

static uint16_t *table_new(uint32_t m)
{
	uint16_t *t = malloc(sizeof(*t) * m);

	assert_non_null(t);
	return t;
}

/* Builds, checks every entry is a valid index of a weighted backend, counts entries. */
static void build_count(uint16_t *t, uint32_t m, const struct maglev_backend *b, uint32_t n,
			uint32_t *count)
{
	assert_int_equal(maglev_build(t, m, b, n), 0);
	memset(count, 0, sizeof(*count) * n);
	for (uint32_t s = 0; s < m; s++) {
		assert_true(t[s] < n);
		assert_int_not_equal(b[t[s]].weight, 0);
		count[t[s]]++;
	}
}

/* FNV-1a 64 over the entries serialized little-endian: the same on any host. */
static uint64_t table_digest(const uint16_t *t, uint32_t m)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint32_t s = 0; s < m; s++) {
		const uint8_t bytes[2] = {(uint8_t)(t[s] & 0xff), (uint8_t)(t[s] >> 8)};

		for (int k = 0; k < 2; k++) {
			h ^= bytes[k];
			h *= 0x100000001b3ull;
		}
	}
	return h;
}

/*
 * The textbook build (Maglev paper, pseudocode 1) with turn-frequency
 * weights, written for clarity: permutation entry j of backend i is
 * (offset + j * skip) % m, and each turn walks it to the first free slot.
 * maglev_build() must produce exactly this table, however it gets there.
 */
static void ref_build(uint16_t *t, uint32_t m, const struct maglev_backend *b, uint32_t n)
{
	uint64_t *offset = calloc(n, sizeof(*offset));
	uint64_t *skip = calloc(n, sizeof(*skip));
	uint64_t *next = calloc(n, sizeof(*next));
	uint64_t *acc = calloc(n, sizeof(*acc));
	uint32_t wmax = 0, filled = 0;

	assert_true(offset && skip && next && acc);
	for (uint32_t i = 0; i < n; i++) {
		offset[i] = maglev_hash64(b[i].id, b[i].id_len, SEED_OFFSET) % m;
		skip[i] = maglev_hash64(b[i].id, b[i].id_len, SEED_SKIP) % (m - 1) + 1;
		if (b[i].weight > wmax)
			wmax = b[i].weight;
	}
	for (uint32_t s = 0; s < m; s++)
		t[s] = MAGLEV_EMPTY;
	while (wmax > 0 && filled < m) {
		for (uint32_t i = 0; i < n && filled < m; i++) {
			uint64_t c;

			if (b[i].weight == 0)
				continue;
			acc[i] += b[i].weight;
			if (acc[i] < wmax)
				continue;
			acc[i] -= wmax;
			do {
				c = (offset[i] + next[i] * skip[i]) % m;
				next[i]++;
			} while (t[c] != MAGLEV_EMPTY);
			t[c] = (uint16_t)i;
			filled++;
		}
	}
	free(offset);
	free(skip);
	free(next);
	free(acc);
}

static void assert_matches_ref(uint32_t m, const struct maglev_backend *b, uint32_t n)
{
	uint16_t *got = table_new(m), *want = table_new(m);

	assert_int_equal(maglev_build(got, m, b, n), 0);
	ref_build(want, m, b, n);
	assert_memory_equal(got, want, sizeof(*got) * m);
	free(got);
	free(want);
}

static void test_is_prime(void **state)
{
	const uint32_t primes[] = {2, 3, 5, 7, 13, 251, 65537, BIG_M, 1000003, 4294967291u};
	const uint32_t composites[] = {0,          1,           4,          9,       25,
				       561,        65535,       65536,      1000001, 4294836225u,
				       UINT32_MAX, 3215031751u, 4294967293u};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(primes); i++)
		assert_true(maglev_is_prime(primes[i]));
	for (size_t i = 0; i < ARRAY_SIZE(composites); i++)
		assert_false(maglev_is_prime(composites[i]));
}

static void test_hash_golden(void **state)
{
	const char *s17 = "0123456789abcdefg";
	uint8_t buf[32];

	(void)state;
	/* Pinned values: every table depends on them. */
	assert_int_equal(maglev_hash64("", 0, 0), 0xb39362cb946013e3ull);
	assert_int_equal(maglev_hash64("b0", 2, 0), 0x19333c593ff2574dull);
	assert_int_equal(maglev_hash64("198.18.1.10:80", 14, SEED_OFFSET), 0x3bab5ee3b0d0634dull);
	assert_int_equal(maglev_hash64(s17, 17, 1), 0x97ec21e8d8a96542ull);
	assert_int_equal(maglev_hash64("01234567", 8, UINT64_MAX), 0x1f91a1924a6e68e1ull);

	/* Alignment of the input does not matter. */
	for (size_t off = 0; off < 8; off++) {
		memcpy(buf + off, s17, 17);
		assert_int_equal(maglev_hash64(buf + off, 17, 1), 0x97ec21e8d8a96542ull);
	}
	/* Seed, length and trailing zero bytes all count. */
	assert_int_not_equal(maglev_hash64("b0", 2, 0), maglev_hash64("b0", 2, 1));
	assert_int_not_equal(maglev_hash64("b0", 2, 0), maglev_hash64("b0\0", 3, 0));
	assert_int_not_equal(maglev_hash64("", 0, SEED_OFFSET), maglev_hash64("", 0, SEED_SKIP));
}

static void test_invalid_args(void **state)
{
	struct pool p;
	uint16_t *t = table_new(BIG_M);

	(void)state;
	pool_init(&p, MAGLEV_MAX_BACKENDS + 1, "b%u", 1);
	assert_int_equal(maglev_build(t, 65536, p.b, 3), -EINVAL); /* not prime */
	assert_int_equal(maglev_build(t, 65535, p.b, 3), -EINVAL);
	assert_int_equal(maglev_build(t, 0, p.b, 0), -EINVAL);
	assert_int_equal(maglev_build(t, 1, p.b, 0), -EINVAL);
	assert_int_equal(maglev_build(t, 13, p.b, 13), -EINVAL); /* m <= n */
	assert_int_equal(maglev_build(t, 13, p.b, 20), -EINVAL);
	assert_int_equal(maglev_build(t, 2, p.b, 2), -EINVAL);
	assert_int_equal(maglev_build(t, BIG_M, p.b, MAGLEV_MAX_BACKENDS + 1), -EINVAL);
	assert_int_equal(maglev_build(NULL, 13, p.b, 3), -EINVAL);
	assert_int_equal(maglev_build(t, 13, NULL, 3), -EINVAL);

	/* Limits themselves are fine. */
	assert_int_equal(maglev_build(t, 2, p.b, 1), 0);
	assert_int_equal(t[0], 0);
	assert_int_equal(t[1], 0);
	assert_int_equal(maglev_build(t, 13, p.b, 12), 0);
	pool_free(&p);
	free(t);
}

static void test_all_zero_weight(void **state)
{
	struct pool p;
	uint16_t *t = table_new(MAGLEV_DEFAULT_SIZE);

	(void)state;
	pool_init(&p, 5, "b%u", 0);
	memset(t, 0, sizeof(*t) * MAGLEV_DEFAULT_SIZE);
	assert_int_equal(maglev_build(t, MAGLEV_DEFAULT_SIZE, p.b, p.n), 0);
	for (uint32_t s = 0; s < MAGLEV_DEFAULT_SIZE; s++)
		assert_int_equal(t[s], MAGLEV_EMPTY);

	memset(t, 0, sizeof(*t) * 13);
	assert_int_equal(maglev_build(t, 13, NULL, 0), 0);
	for (uint32_t s = 0; s < 13; s++)
		assert_int_equal(t[s], MAGLEV_EMPTY);
	pool_free(&p);
	free(t);
}

/* Equal weights: every backend gets floor(m/n) or ceil(m/n) entries. */
static void check_equal_shares(uint32_t m, uint32_t n)
{
	struct pool p;
	uint16_t *t = table_new(m);
	uint32_t *count = calloc(n, sizeof(*count));
	uint32_t lo = m / n, hi = (m + n - 1) / n;

	assert_non_null(count);
	pool_init(&p, n, "198.18.%u:80", 1);
	build_count(t, m, p.b, n, count);
	for (uint32_t i = 0; i < n; i++)
		assert_in_range(count[i], lo, hi);
	pool_free(&p);
	free(count);
	free(t);
}

static void test_equal_shares(void **state)
{
	(void)state;
	check_equal_shares(MAGLEV_DEFAULT_SIZE, 1);
	check_equal_shares(MAGLEV_DEFAULT_SIZE, 3);
	check_equal_shares(MAGLEV_DEFAULT_SIZE, 10);
	check_equal_shares(MAGLEV_DEFAULT_SIZE, 100);
	check_equal_shares(MAGLEV_DEFAULT_SIZE, 1000);
	check_equal_shares(13, 3);
	check_equal_shares(13, 12);
	check_equal_shares(251, 250);
	check_equal_shares(BIG_M, 1000);
	/* Largest pool: index 65534 must not collide with MAGLEV_EMPTY. */
	check_equal_shares(BIG_M, MAGLEV_MAX_BACKENDS);
}

static void test_weighted_shares(void **state)
{
	const uint32_t m = MAGLEV_DEFAULT_SIZE;
	struct pool p;
	uint16_t *t = table_new(m), *t2 = table_new(m);
	uint32_t count[100];
	uint64_t wsum = 0;

	(void)state;
	/* 1:2:3:4 -> 10%, 20%, 30%, 40% of the table, within 1% of each share. */
	pool_init(&p, 4, "b%u", 0);
	for (uint32_t i = 0; i < 4; i++)
		p.b[i].weight = i + 1;
	build_count(t, m, p.b, p.n, count);
	for (uint32_t i = 0; i < 4; i++) {
		double want = (double)m * (i + 1) / 10;

		assert_true(count[i] > want * 0.99 && count[i] < want * 1.01);
	}
	/* Only ratios count: 2:4:6:8 builds the same table. */
	for (uint32_t i = 0; i < 4; i++)
		p.b[i].weight = 2 * (i + 1);
	assert_int_equal(maglev_build(t2, m, p.b, p.n), 0);
	assert_memory_equal(t, t2, sizeof(*t) * m);
	pool_free(&p);

	/* 100 backends of weights 1..10: each within 2% of its share. */
	pool_init(&p, 100, "10.0.0.%u:443", 0);
	for (uint32_t i = 0; i < p.n; i++) {
		p.b[i].weight = 1 + i % 10;
		wsum += p.b[i].weight;
	}
	build_count(t, m, p.b, p.n, count);
	for (uint32_t i = 0; i < p.n; i++) {
		double want = (double)m * p.b[i].weight / (double)wsum;

		assert_true(count[i] > want * 0.98 && count[i] < want * 1.02);
	}
	pool_free(&p);
	free(t);
	free(t2);
}

static void test_zero_weight_excluded(void **state)
{
	const uint32_t m = MAGLEV_DEFAULT_SIZE;
	struct pool p;
	uint16_t *t = table_new(m);
	uint32_t count[4];

	(void)state;
	pool_init(&p, 4, "b%u", 1);
	p.b[1].weight = 0;
	build_count(t, m, p.b, p.n, count);
	assert_int_equal(count[1], 0);
	for (uint32_t i = 0; i < 4; i++)
		if (i != 1)
			assert_in_range(count[i], m / 3, m / 3 + 1);
	pool_free(&p);
	free(t);
}

static void test_matches_reference(void **state)
{
	struct pool p;

	(void)state;
	/* Small tables: all of the build runs in the endgame scan. */
	pool_init(&p, 5, "b%u", 1);
	assert_matches_ref(13, p.b, 3);
	assert_matches_ref(251, p.b, 5);
	for (uint32_t i = 0; i < p.n; i++)
		p.b[i].weight = i; /* b0 gets nothing */
	assert_matches_ref(251, p.b, 5);
	pool_free(&p);

	/* Equal and mildly uneven weights: the round loop. */
	pool_init(&p, 1000, "198.18.%u:80", 1);
	assert_matches_ref(MAGLEV_DEFAULT_SIZE, p.b, p.n);
	for (uint32_t i = 0; i < p.n; i++)
		p.b[i].weight = 1 + i % 7;
	assert_matches_ref(MAGLEV_DEFAULT_SIZE, p.b, p.n);
	assert_matches_ref(BIG_M, p.b, p.n);

	/* Very uneven weights: turns taken in heap order. */
	for (uint32_t i = 0; i < p.n; i++)
		p.b[i].weight = i % 100 == 0 ? 1000000 : 1 + i % 3;
	assert_matches_ref(MAGLEV_DEFAULT_SIZE, p.b, p.n);
	p.b[0].weight = UINT32_MAX; /* the weight-1..3 backends never get a turn */
	assert_matches_ref(MAGLEV_DEFAULT_SIZE, p.b, p.n);
	pool_free(&p);

	/* Heap order again, with weights that do not divide the largest one. */
	pool_init(&p, 200, "10.1.%u:80", 0);
	for (uint32_t i = 0; i < p.n; i++)
		p.b[i].weight = i == 0 ? 1000 : 3 + i % 5;
	assert_matches_ref(MAGLEV_DEFAULT_SIZE, p.b, p.n);
	assert_matches_ref(251, p.b, p.n);
	pool_free(&p);
}

static void test_determinism(void **state)
{
	/* m = 13, ids b0..b2, equal weights: the whole table, pinned. */
	static const uint16_t golden13[13] = {1, 0, 2, 0, 0, 1, 1, 1, 0, 2, 2, 2, 0};
	const uint32_t m = MAGLEV_DEFAULT_SIZE;
	struct pool p, q;
	uint16_t *t = table_new(m), *t2 = table_new(m);

	(void)state;
	pool_init(&p, 5, "b%u", 1);
	assert_int_equal(maglev_build(t, 13, p.b, 3), 0);
	assert_memory_equal(t, golden13, sizeof(golden13));
	assert_int_equal(maglev_build(t, 251, p.b, 5), 0);
	assert_int_equal(table_digest(t, 251), 0x2250ff599738003dull);
	for (uint32_t i = 0; i < p.n; i++)
		p.b[i].weight = i + 1;
	assert_int_equal(maglev_build(t, 251, p.b, 5), 0);
	assert_int_equal(table_digest(t, 251), 0xaaa5dfe59c19493full);
	pool_free(&p);

	pool_init(&p, 100, "b%u", 1);
	assert_int_equal(maglev_build(t, m, p.b, p.n), 0);
	assert_int_equal(table_digest(t, m), 0x5a386316bdd60e01ull);

	/* Twice, and from copies of the ids elsewhere in memory: same bytes. */
	assert_int_equal(maglev_build(t2, m, p.b, p.n), 0);
	assert_memory_equal(t, t2, sizeof(*t) * m);
	pool_init(&q, 100, "b%u", 1);
	memset(t2, 0, sizeof(*t2) * m);
	assert_int_equal(maglev_build(t2, m, q.b, q.n), 0);
	assert_memory_equal(t, t2, sizeof(*t) * m);
	pool_free(&q);
	pool_free(&p);
	free(t);
	free(t2);
}

/*
 * Entries of <before> (pool <pb>) whose backend, by id, differs in <after>
 * (pool <pa>), not counting entries whose backend in <before> is absent
 * from <pa> (<gone>) or whose backend in <after> is absent from <pb> (<added>).
 */
static uint32_t moved(const uint16_t *before, const struct pool *pb, const uint16_t *after,
		      const struct pool *pa, uint32_t m, const char *gone, const char *added)
{
	uint32_t n = 0;

	for (uint32_t s = 0; s < m; s++) {
		const char *x = pb->name[before[s]], *y = pa->name[after[s]];

		if ((gone && strcmp(x, gone) == 0) || (added && strcmp(y, added) == 0))
			continue;
		if (strcmp(x, y) != 0)
			n++;
	}
	return n;
}

static void test_disruption(void **state)
{
	const uint32_t m = MAGLEV_DEFAULT_SIZE, n = 100, r = 37;
	struct pool full, less, more;
	uint16_t *t_full = table_new(m), *t_less = table_new(m), *t_more = table_new(m);
	uint16_t *t_zero = table_new(m);
	uint32_t own = 0, mv;

	(void)state;
	pool_init(&full, n, "198.18.1.%u:80", 1);
	assert_int_equal(maglev_build(t_full, m, full.b, n), 0);

	/* Remove backend r: the pool without it, in the same order. */
	pool_init(&less, n - 1, "198.18.1.%u:80", 1);
	for (uint32_t j = r; j < less.n; j++)
		pool_set_name(&less, j, "198.18.1.%u:80", j + 1);
	assert_int_equal(maglev_build(t_less, m, less.b, less.n), 0);
	for (uint32_t s = 0; s < m; s++)
		own += t_full[s] == r;
	mv = moved(t_full, &full, t_less, &less, m, full.name[r], NULL);
	print_message("remove 1 of %u: own %u (%.2f%%), other entries moved %u (%.2f%% of M)\n", n,
		      own, 100.0 * own / m, mv, 100.0 * mv / m);
	assert_true(mv < m / 50);

	/* Weight 0 instead of removal: the same table, indices aside. */
	full.b[r].weight = 0;
	assert_int_equal(maglev_build(t_zero, m, full.b, n), 0);
	full.b[r].weight = 1;
	assert_int_equal(moved(t_zero, &full, t_less, &less, m, NULL, NULL), 0);

	/* Add it back: only entries going to it, and a few others, move. */
	mv = moved(t_less, &less, t_full, &full, m, NULL, full.name[r]);
	print_message("add it back: other entries moved %u (%.2f%% of M)\n", mv, 100.0 * mv / m);
	assert_true(mv < m / 50);

	/* Add a new backend at the end. */
	pool_init(&more, n + 1, "198.18.1.%u:80", 1);
	assert_int_equal(maglev_build(t_more, m, more.b, more.n), 0);
	mv = moved(t_full, &full, t_more, &more, m, NULL, more.name[n]);
	print_message("add a new one: other entries moved %u (%.2f%% of M)\n", mv, 100.0 * mv / m);
	assert_true(mv < m / 50);

	pool_free(&full);
	pool_free(&less);
	pool_free(&more);
	free(t_full);
	free(t_less);
	free(t_more);
	free(t_zero);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Min and median wall time of <runs> builds; prints them. */
static double time_build(uint32_t m, const struct pool *p, int runs, const char *what)
{
	uint16_t *t = table_new(m);
	double ms[16];

	assert_true(runs > 0 && runs <= (int)ARRAY_SIZE(ms));
	for (int k = 0; k < runs; k++) {
		double t0 = now_ms();

		assert_int_equal(maglev_build(t, m, p->b, p->n), 0);
		ms[k] = now_ms() - t0;
	}
	qsort(ms, (size_t)runs, sizeof(ms[0]), cmp_double);
	print_message("maglev_build M=%u N=%u %s: min %.3f ms, median %.3f ms (%d runs)\n", m, p->n,
		      what, ms[0], ms[runs / 2], runs);
	free(t);
	return ms[0];
}

/*
 * Build time (Maglev paper: 1.8 ms at M = 65537, N = 1000). Reported, and
 * bounded only loosely so a busy machine does not fail the test.
 */
static void test_build_time(void **state)
{
	struct pool p;

	(void)state;
	pool_init(&p, 1000, "198.18.%u:80", 1);
	assert_true(time_build(MAGLEV_DEFAULT_SIZE, &p, 15, "equal") < 50.0);
	assert_true(time_build(BIG_M, &p, 5, "equal") < 500.0);
	for (uint32_t i = 0; i < p.n; i++)
		p.b[i].weight = 1 + i % 10;
	assert_true(time_build(MAGLEV_DEFAULT_SIZE, &p, 15, "weights 1..10") < 50.0);
	p.b[0].weight = 1000000;
	assert_true(time_build(MAGLEV_DEFAULT_SIZE, &p, 15, "one weight 10^6") < 50.0);
	pool_free(&p);

	pool_init(&p, MAGLEV_MAX_BACKENDS, "b%u", 1);
	p.b[0].weight = UINT32_MAX;
	assert_true(time_build(BIG_M, &p, 3, "one weight 2^32-1") < 500.0);
	pool_free(&p);
}

/*
 * Builds <b> in slices of <budget> units and checks the table is
 * maglev_build()'s; returns the number of slices it took.
 */
static uint32_t check_sliced(uint32_t m, const struct maglev_backend *b, uint32_t n,
			     uint64_t budget)
{
	uint16_t *want = table_new(m), *got = table_new(m);
	struct maglev_builder *bd;
	uint32_t slices = 0;
	bool done = false;

	assert_int_equal(maglev_build(want, m, b, n), 0);
	memset(got, 0xa5, sizeof(*got) * m);
	assert_int_equal(maglev_build_start(&bd, got, m, b, n), 0);
	assert_non_null(bd);
	while (!done) {
		uint64_t left = budget;

		done = maglev_build_step(bd, &left);
		assert_true(left <= budget);
		slices++;
	}
	/* Complete is complete: a further step changes nothing. */
	assert_true(maglev_build_step(bd, &(uint64_t){1}));
	maglev_build_free(bd);
	assert_memory_equal(got, want, sizeof(*got) * m);
	free(want);
	free(got);
	return slices;
}

/* The table built in slices of any size is the one-shot build's, for every turn order. */
static void test_sliced_matches_one_shot(void **state)
{
	static const uint32_t sizes[] = {13, 251, 4093, MAGLEV_DEFAULT_SIZE, 1048573};
	static const uint64_t budgets[] = {1, 97, 10000, 1000000};
	struct pool p[5];

	(void)state;
	pool_init(&p[0], 3, "b%u", 1);           /* equal weights */
	pool_init(&p[1], 10, "10.0.0.%u:80", 0); /* 0..9: a zero weight too */
	for (uint32_t i = 0; i < p[1].n; i++)
		p[1].b[i].weight = i;
	pool_init(&p[2], 12, "198.18.0.%u 443", 1); /* uneven: the heap order */
	p[2].b[5].weight = 65535;
	pool_init(&p[3], 4, "z%u", 0); /* no weight: every entry empty */
	pool_init(&p[4], 1, "only%u", 3);
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		for (size_t k = 0; k < ARRAY_SIZE(p); k++) {
			for (size_t j = 0; j < ARRAY_SIZE(budgets); j++) {
				/* Slices of 1 unit at 1048573 would take seconds. */
				if (sizes[s] > MAGLEV_DEFAULT_SIZE && budgets[j] < 10000)
					continue;
				check_sliced(sizes[s], p[k].b, p[k].n, budgets[j]);
			}
		}
	}
	/* A large table takes several slices: the budget bounds each. */
	assert_true(check_sliced(1048573, p[1].b, p[1].n, 1000000) >= 5);
	assert_int_equal(check_sliced(MAGLEV_DEFAULT_SIZE, p[0].b, p[0].n, UINT64_MAX), 1);
	for (size_t k = 0; k < ARRAY_SIZE(p); k++)
		pool_free(&p[k]);
}

/* A build started and dropped half-way leaks nothing; a bad start says why. */
static void test_sliced_start_and_free(void **state)
{
	struct maglev_builder *bd = NULL;
	uint16_t *t = table_new(MAGLEV_DEFAULT_SIZE);
	struct pool p;
	uint64_t left = 1000;

	(void)state;
	pool_init(&p, 20, "b%u", 2);
	assert_int_equal(maglev_build_start(&bd, t, 65536, p.b, p.n), -EINVAL);
	assert_null(bd);
	assert_int_equal(maglev_build_start(&bd, t, 13, p.b, p.n), -EINVAL); /* m <= n */
	assert_null(bd);
	assert_int_equal(maglev_build_start(&bd, t, MAGLEV_DEFAULT_SIZE, p.b, p.n), 0);
	assert_false(maglev_build_step(bd, &left));
	assert_int_equal(left, 0);
	maglev_build_free(bd);
	maglev_build_free(NULL);
	pool_free(&p);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_prime),
		cmocka_unit_test(test_hash_golden),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_all_zero_weight),
		cmocka_unit_test(test_equal_shares),
		cmocka_unit_test(test_weighted_shares),
		cmocka_unit_test(test_zero_weight_excluded),
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_disruption),
		cmocka_unit_test(test_build_time),
		cmocka_unit_test(test_sliced_matches_one_shot),
		cmocka_unit_test(test_sliced_start_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
