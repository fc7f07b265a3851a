/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Core-to-core latency: two threads pinned to CPUs A and B hand a cache line
 * back and forth; prints the round trip in ns (best of a few rounds).
 *
 *   bench_c2c [CPU_A CPU_B]      (default 0 1)
 *
 * Why the suite needs it: on a virtual machine the host may place the two
 * virtual CPUs on cores that share a cache or on cores that do not (on AMD
 * EPYC, another CCX), and move them while we run. net_memif moves every frame
 * through cache lines the two lcores share, so the whole link, the testpmd
 * ceiling included, runs at 40 % of its rate in the second case, with no task
 * waiting and no CPU slower: only this latency tells. bench/run.py measures it
 * around each run and does not quote runs taken in the slow placement.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUND_TRIPS 20000
#define ROUNDS      5

struct line {
	_Alignas(64) atomic_uint v;
};

static struct line ball;

/* Answers ROUNDS * ROUND_TRIPS serves: waits for an odd value, makes it even. */
static void *answer(void *p)
{
	(void)p;
	for (unsigned int i = 0; i < ROUNDS * ROUND_TRIPS; i++) {
		unsigned int want = 2 * i + 1;
		while (atomic_load_explicit(&ball.v, memory_order_acquire) != want)
			;
		atomic_store_explicit(&ball.v, want + 1, memory_order_release);
	}
	return NULL;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int cpu_a = argc > 1 ? atoi(argv[1]) : 0, cpu_b = argc > 2 ? atoi(argv[2]) : 1;
	double best = 0;
	pthread_attr_t attr;
	cpu_set_t set;
	pthread_t t;
	int rc;

	if (argc != 1 && argc != 3) {
		fprintf(stderr, "usage: %s [CPU_A CPU_B]\n", argv[0]);
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu_a, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc == 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu_b, &set);
		pthread_attr_init(&attr);
		rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		if (rc == 0)
			rc = pthread_create(&t, &attr, answer, NULL);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		/* A machine without both CPUs: nothing to measure (tests: skip). */
		fprintf(stderr, "bench_c2c: cannot run on CPUs %d and %d: %s\n", cpu_a, cpu_b,
			strerror(rc));
		return 77;
	}
	for (unsigned int r = 0; r < ROUNDS; r++) {
		double t0 = now_ns();
		for (unsigned int i = 0; i < ROUND_TRIPS; i++) {
			unsigned int serve = 2 * (r * ROUND_TRIPS + i);
			atomic_store_explicit(&ball.v, serve + 1, memory_order_release);
			while (atomic_load_explicit(&ball.v, memory_order_acquire) != serve + 2)
				;
		}
		double ns = (now_ns() - t0) / ROUND_TRIPS;
		if (r == 0 || ns < best)
			best = ns;
	}
	pthread_join(t, NULL);
	printf("{\"cpu_a\":%d,\"cpu_b\":%d,\"round_trip_ns\":%.1f}\n", cpu_a, cpu_b, best);
	return 0;
}
