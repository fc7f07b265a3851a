/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-flow backend pickers (see scheduler.h for the contracts). Called once per
 * new flow on the data path: no allocation, no locks, no division, one pass
 * over the pool.
 */
#include <stdbool.h>

#include <stdlib.h>

#include "scheduler.h"

/*
 * A cursor names the index to look at first. It can be left out of range
 * when the pool shrinks between picks; restart from 0 rather than fault.
 */
static inline uint32_t cursor_start(uint32_t cursor, uint32_t n)
{
	return cursor < n ? cursor : 0;
}

uint32_t sched_rr_pick(uint32_t *cursor, const uint32_t *weight, uint32_t n)
{
	uint32_t i = cursor_start(*cursor, n);

	for (uint32_t k = 0; k < n; k++) {
		if (weight[i] != 0) {
			*cursor = i + 1 < n ? i + 1 : 0;
			return i;
		}
		if (++i == n)
			i = 0;
	}
	return SCHED_NONE;
}

/*
 * While weights do not change sum(current) is constant (each pick adds
 * total and takes it back from the winner) and every current[i] stays
 * within a few times total <= n * 2^32, far from the int64 limits.
 */
uint32_t sched_wrr_pick(int64_t *current, const uint32_t *weight, uint32_t n)
{
	int64_t total = 0;
	uint32_t best = SCHED_NONE;

	for (uint32_t i = 0; i < n; i++) {
		if (weight[i] == 0) {
			/* Drained: forget its credit so it restarts fair when it returns. */
			current[i] = 0;
			continue;
		}
		current[i] += weight[i];
		total += weight[i];
		/* Strictly greater: the lowest index wins ties. */
		if (best == SCHED_NONE || current[i] > current[best])
			best = i;
	}
	if (best != SCHED_NONE)
		current[best] -= total;
	return best;
}

static uint32_t gcd32(uint32_t a, uint32_t b)
{
	while (b != 0) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

uint32_t sched_wrr_cycle(uint16_t *seq, uint32_t cap, const uint32_t *weight, uint32_t n)
{
	uint32_t g = 0, *w;
	uint64_t len = 0;
	int64_t *current;

	if (n == 0 || n > UINT16_MAX + 1u)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		g = gcd32(g, weight[i]);
	if (g == 0)
		return 0; /* every weight is 0 */
	for (uint32_t i = 0; i < n; i++)
		len += weight[i] / g;
	if (len > cap || len * n > SCHED_WRR_BUILD_MAX)
		return 0;
	w = calloc(n, sizeof(*w));
	current = calloc(n, sizeof(*current));
	if (w == NULL || current == NULL) {
		free(w);
		free(current);
		return 0;
	}
	for (uint32_t i = 0; i < n; i++)
		w[i] = weight[i] / g;
	for (uint32_t k = 0; k < len; k++)
		seq[k] = (uint16_t)sched_wrr_pick(current, w, n);
	free(w);
	free(current);
	return (uint32_t)len;
}

/*
 * Shared shape of lc and wlc: one pass over the pool in rotation order
 * starting at *cursor, keeping the first strictly better candidate, so among
 * equals the one nearest after the cursor wins; the cursor then moves past
 * the winner and the next equal backend gets the next flow.
 */
static inline uint32_t least_pick(uint32_t *cursor, const uint32_t *weight, const uint32_t *active,
				  uint32_t n, bool weighted)
{
	uint32_t i = cursor_start(*cursor, n);
	uint32_t best = SCHED_NONE;

	for (uint32_t k = 0; k < n; k++) {
		if (weight[i] != 0) {
			bool better;

			if (best == SCHED_NONE)
				better = true;
			else if (weighted)
				/*
				 * active[i]/weight[i] < active[best]/weight[best],
				 * cross-multiplied: both products are < 2^64.
				 */
				better = (uint64_t)active[i] * weight[best] <
					 (uint64_t)active[best] * weight[i];
			else
				better = active[i] < active[best];
			if (better)
				best = i;
		}
		if (++i == n)
			i = 0;
	}
	if (best != SCHED_NONE)
		*cursor = best + 1 < n ? best + 1 : 0;
	return best;
}

uint32_t sched_lc_pick(uint32_t *cursor, const uint32_t *weight, const uint32_t *active, uint32_t n)
{
	return least_pick(cursor, weight, active, n, false);
}

uint32_t sched_wlc_pick(uint32_t *cursor, const uint32_t *weight, const uint32_t *active,
			uint32_t n)
{
	return least_pick(cursor, weight, active, n, true);
}
