/* SPDX-License-Identifier: BSD-3-Clause */
/* Named scheduler.h, not sched.h: a -I path must not shadow the system <sched.h>. */
/*
 * Backend selection for a new flow. Pure functions over arrays so they are
 * shared by the data plane, unit tests and benchmarks.
 *
 * A pool is <n> backends given by their effective weights: weight[i] == 0
 * means backend i must not receive new flows (drained, down, zero weight).
 * Every pick returns an index in [0, n) whose weight is non-zero, or
 * SCHED_NONE when no backend has a non-zero weight (or n == 0).
 *
 * State that a scheduler keeps between picks (cursors, current weights) is
 * owned by the caller and is per lcore: nothing here is shared or atomic.
 */
#ifndef SLUICE_SCHEDULER_H
#define SLUICE_SCHEDULER_H

#include <stdint.h>

#include "name_table.h"

#define SCHED_NONE UINT32_MAX

enum sched_kind {
	SCHED_KIND_RR = 0,
	SCHED_KIND_WRR,
	SCHED_KIND_LC,
	SCHED_KIND_WLC,
	SCHED_KIND_MAGLEV,
	SCHED_KIND_MAX
};

/* "rr", "wrr", "lc", "wlc", "maglev": the one table of the names (sched_names.c). */
extern const struct name_table sched_kind_names;
const char *sched_kind_name(enum sched_kind k);
/* Returns the kind for a name above, or -1. */
int sched_kind_parse(const char *name);

/*
 * Round robin: the next backend after *cursor with a non-zero weight
 * (weights otherwise ignored). *cursor is updated; start it at 0.
 */
uint32_t sched_rr_pick(uint32_t *cursor, const uint32_t *weight, uint32_t n);

/*
 * Smooth weighted round robin (the nginx algorithm): every pick adds
 * weight[i] to current[i] for all i, picks the largest current (lowest index
 * on ties), and subtracts the total weight from it. Over sum(weight) picks
 * each backend is chosen exactly weight[i] times, interleaved (weights 5,1,1
 * give a a b a c a a, not a a a a a b c). <current> has n entries, start zeroed;
 * entries of zero-weight backends are reset to 0.
 */
uint32_t sched_wrr_pick(int64_t *current, const uint32_t *weight, uint32_t n);

/*
 * The whole cycle of sched_wrr_pick() from a zeroed <current>: over
 * sum(weight) picks the sequence repeats, and with the weights divided by
 * their greatest common divisor it is the same sequence, shorter. Fills
 * <seq> with that cycle and returns its length, so a pick is a step along
 * it (O(1) per new flow instead of a pass over the pool). Returns 0 (the
 * caller keeps sched_wrr_pick()) when no weight is non-zero, when the cycle
 * would be longer than <cap>, or when building it would take more than
 * SCHED_WRR_BUILD_MAX steps (cycle length x n).
 */
#define SCHED_WRR_BUILD_MAX (1u << 22)
uint32_t sched_wrr_cycle(uint16_t *seq, uint32_t cap, const uint32_t *weight, uint32_t n);

/*
 * Least connections: the backend with the fewest active[i] among those with
 * a non-zero weight. Ties are broken by rotating *cursor so equal backends
 * take turns instead of the lowest index taking every new flow.
 */
uint32_t sched_lc_pick(uint32_t *cursor, const uint32_t *weight, const uint32_t *active,
		       uint32_t n);

/*
 * Weighted least connections: the backend with the smallest
 * active[i] / weight[i] (compared by cross-multiplication in 64 bits, no
 * division), ties broken by rotating *cursor as for sched_lc_pick.
 */
uint32_t sched_wlc_pick(uint32_t *cursor, const uint32_t *weight, const uint32_t *active,
			uint32_t n);

#endif
