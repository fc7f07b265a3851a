/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maglev table benchmark (lib/sched/maglev.h), the paper's three figures:
 *
 *   bench_maglev [--smoke] [--reps N]
 *
 * For N = 10, 100, 1000 equal-weight backends and M = 65537, 655373:
 *  - build time (min and median of --reps builds; the paper: 1.8 ms at
 *    M=65537 and 22.9 ms at M=655373 with N=1000, on its hardware);
 *  - entries per backend: min, max, mean = M/N, and max/mean (the paper:
 *    every backend gets floor(M/N) or ceil(M/N));
 *  - disruption: the share of the M entries whose backend changes when one
 *    backend is removed (averaged over several choices of which one) or one
 *    is added, against the ideal 1/N (removal: only its entries move) and
 *    1/(N+1) (addition: only the newcomer's entries move).
 *
 * Backends are named as Sluice names them ("<address> <port>"). One JSON
 * line per (N, M). --smoke: N = 10 and 100 at M = 65537, one build each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maglev.h"

#define MAX_N          1001
#define ID_LEN         32
#define REMOVE_SAMPLES 8

static char ids[MAX_N + 1][ID_LEN];

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

/* Backends <first>..<first + n - 1> of the id list, skipping index <skip> (-1: none). */
static uint32_t pool(struct maglev_backend *b, uint32_t first, uint32_t n, long skip,
		     uint32_t *orig)
{
	uint32_t k = 0;

	for (uint32_t i = first; i < first + n; i++) {
		if ((long)i == skip)
			continue;
		b[k] = (struct maglev_backend){.id = ids[i], .id_len = strlen(ids[i]), .weight = 1};
		orig[k++] = i;
	}
	return k;
}

/* Share of entries whose backend (by identity) differs between two tables. */
static double moved(const uint16_t *t0, const uint32_t *orig0, const uint16_t *t1,
		    const uint32_t *orig1, uint32_t m)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m; i++)
		n += orig0[t0[i]] != orig1[t1[i]];
	return (double)n / (double)m;
}

static int run(uint32_t n, uint32_t m, int reps)
{
	struct maglev_backend *b = calloc(MAX_N + 1, sizeof(*b));
	uint32_t *orig0 = calloc(MAX_N + 1, sizeof(*orig0));
	uint32_t *orig1 = calloc(MAX_N + 1, sizeof(*orig1));
	uint32_t *count = calloc(MAX_N + 1, sizeof(*count));
	uint16_t *t0 = calloc(m, sizeof(*t0)), *t1 = calloc(m, sizeof(*t1));
	double *times = calloc((size_t)reps, sizeof(*times));
	double rm_sum = 0, add;
	uint32_t k, cmin = UINT32_MAX, cmax = 0, samples = 0;
	int rc = -ENOMEM;

	if (b == NULL || orig0 == NULL || orig1 == NULL || count == NULL || t0 == NULL ||
	    t1 == NULL || times == NULL)
		goto out;

	k = pool(b, 0, n, -1, orig0);
	for (int r = 0; r < reps; r++) {
		double t = now_ms();
		rc = maglev_build(t0, m, b, k);
		times[r] = now_ms() - t;
		if (rc < 0)
			goto out;
	}
	qsort(times, (size_t)reps, sizeof(*times), cmp_double);
	for (uint32_t i = 0; i < m; i++)
		count[t0[i]]++;
	for (uint32_t i = 0; i < n; i++) {
		cmin = count[i] < cmin ? count[i] : cmin;
		cmax = count[i] > cmax ? count[i] : cmax;
	}

	/* Remove one backend: a few choices spread over the pool, averaged. */
	for (uint32_t s = 0; s < REMOVE_SAMPLES && s < n; s++) {
		long victim = (long)((uint64_t)s * n / (REMOVE_SAMPLES < n ? REMOVE_SAMPLES : n));
		uint32_t k1 = pool(b, 0, n, victim, orig1);
		rc = maglev_build(t1, m, b, k1);
		if (rc < 0)
			goto out;
		rm_sum += moved(t0, orig0, t1, orig1, m);
		samples++;
	}
	/* Add one: backend number n (an id the pool did not have). */
	k = pool(b, 0, n + 1, -1, orig1);
	rc = maglev_build(t1, m, b, k);
	if (rc < 0)
		goto out;
	add = moved(t0, orig0, t1, orig1, m);

	double mean = (double)m / n;
	printf("{\"n\":%u,\"m\":%u,\"reps\":%d,\"build_ms_min\":%.3f,\"build_ms_median\":%.3f,"
	       "\"entries_min\":%u,\"entries_max\":%u,\"entries_mean\":%.2f,"
	       "\"max_over_mean\":%.5f,\"remove_moved\":%.6f,\"remove_ideal\":%.6f,"
	       "\"add_moved\":%.6f,\"add_ideal\":%.6f}\n",
	       n, m, reps, times[0], times[reps / 2], cmin, cmax, mean, cmax / mean,
	       rm_sum / samples, 1.0 / n, add, 1.0 / (n + 1));
	fflush(stdout);
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "bench_maglev: N=%u M=%u: %s\n", n, m, strerror(-rc));
	free(b);
	free(orig0);
	free(orig1);
	free(count);
	free(t0);
	free(t1);
	free(times);
	return rc;
}

int main(int argc, char **argv)
{
	static const uint32_t ns[] = {10, 100, 1000};
	static const uint32_t ms[] = {65537, 655373};
	bool smoke = false;
	int reps = 5;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0) {
			smoke = true;
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--smoke] [--reps N]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 1 || reps > 1000) {
		fprintf(stderr, "bench_maglev: --reps must be 1..1000\n");
		return 2;
	}
	if (smoke)
		reps = 1;
	for (uint32_t i = 0; i <= MAX_N; i++)
		snprintf(ids[i], ID_LEN, "198.18.%u.%u 80", 10 + i / 250, 1 + i % 250);
	for (size_t j = 0; j < sizeof(ms) / sizeof(ms[0]); j++) {
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			if (smoke && (j > 0 || ns[i] > 100))
				continue;
			if (run(ns[i], ms[j], reps) < 0)
				return 1;
		}
	}
	return 0;
}
