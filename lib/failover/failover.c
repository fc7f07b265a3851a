/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "failover.h"

/* Slow start ramps weight * FAILOVER_RAMP_ONE, so that a configured weight of 1
 * (the common case) still ramps smoothly instead of sitting at max(1, 0). */
#define FAILOVER_RAMP_ONE 1024u

__extension__ typedef unsigned __int128 u128;

void failover_params_default(struct failover_params *p)
{
	*p = (struct failover_params){
		.overprovisioning_pct = FAILOVER_DEFAULT_OVERPROVISIONING_PCT,
		.panic_threshold_pct = FAILOVER_DEFAULT_PANIC_THRESHOLD_PCT,
		.slow_start_ms = FAILOVER_DEFAULT_SLOW_START_MS,
		.no_backend = SL_EMPTY_DROP,
	};
}

int failover_params_check(const struct failover_params *p)
{
	if (p == NULL || p->overprovisioning_pct < 100 || p->overprovisioning_pct > 1000 ||
	    p->panic_threshold_pct > 100 || (unsigned int)p->no_backend >= SL_EMPTY_MAX)
		return -EINVAL;
	return 0;
}

/* a * b / c without overflow for any 64-bit a, b (c != 0). */
static u128 muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	return (u128)a * b / c;
}

/* Hands out FAILOVER_SHARE_ONE ppm over the levels in proportion to w[i] (which
 * must not all be 0): floor, then the remainder to the first level with
 * w != 0, so the result is exact and independent of summation order. */
static void share_by(const uint64_t *w, uint32_t n, uint32_t *share)
{
	u128 sum = 0;
	uint32_t given = 0, first = n;

	for (uint32_t i = 0; i < n; i++)
		sum += w[i];
	for (uint32_t i = 0; i < n; i++) {
		share[i] = (uint32_t)((u128)w[i] * FAILOVER_SHARE_ONE / sum);
		given += share[i];
		if (first == n && w[i] != 0)
			first = i;
	}
	share[first] += FAILOVER_SHARE_ONE - given;
}

/*
 * failover_split() with the levels' capacity apart from their health: a level's
 * share follows <capacity> (its healthy weight, with backends still in slow
 * start counted at their ramp), panic follows <healthy> (a level that is up
 * but ramping is not failing, and must not spread over its dead backends).
 */
static int split_levels(const struct failover_params *p, const uint64_t *healthy,
			const uint64_t *capacity, const uint64_t *total, uint32_t n_levels,
			struct failover_split *out)
{
	uint64_t hsum = 0;
	uint32_t left = FAILOVER_SHARE_ONE, first = n_levels;
	bool any_level = false, all_panic = true;

	if (failover_params_check(p) != 0 || n_levels == 0 || n_levels > FAILOVER_MAX_LEVELS)
		return -EINVAL;
	for (uint32_t i = 0; i < n_levels; i++)
		if (healthy[i] > total[i] || capacity[i] > healthy[i])
			return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->n_levels = n_levels;
	out->action = p->no_backend;

	for (uint32_t i = 0; i < n_levels; i++) {
		u128 h;

		if (total[i] == 0)
			continue;
		/* healthy/total * pct/100 * 1e6, in one rounding step. */
		h = (u128)capacity[i] * p->overprovisioning_pct * (FAILOVER_SHARE_ONE / 100) /
		    total[i];
		out->health[i] = h > FAILOVER_SHARE_ONE ? FAILOVER_SHARE_ONE : (uint32_t)h;
		hsum += out->health[i];
	}
	out->total_health = hsum > FAILOVER_SHARE_ONE ? FAILOVER_SHARE_ONE : (uint32_t)hsum;

	/* Panic only when the levels together cannot carry the load: with a
	 * healthy primary, a mostly-down backup level is no reason to send
	 * flows to dead backends. */
	for (uint32_t i = 0; i < n_levels; i++) {
		if (total[i] == 0)
			continue;
		any_level = true;
		out->panic[i] = p->panic_threshold_pct != 0 &&
				out->total_health < FAILOVER_SHARE_ONE &&
				(u128)healthy[i] * 100 < (u128)p->panic_threshold_pct * total[i];
		all_panic = all_panic && out->panic[i];
	}
	if (!any_level)
		return 0;
	if (all_panic) {
		out->total_panic = true;
		out->available = true;
		share_by(total, n_levels, out->share);
		return 0;
	}
	if (out->total_health == 0)
		return 0;

	out->available = true;
	/* Spill in priority order. Dividing by total_health scales the
	 * shares up to 100% when the levels together are short. */
	for (uint32_t i = 0; i < n_levels; i++) {
		uint32_t s;

		s = (uint32_t)((uint64_t)out->health[i] * FAILOVER_SHARE_ONE / out->total_health);
		if (s > left)
			s = left;
		out->share[i] = s;
		left -= s;
		if (first == n_levels && out->health[i] != 0)
			first = i;
	}
	out->share[first] += left;
	return 0;
}

int failover_split(const struct failover_params *p, const uint64_t *healthy, const uint64_t *total,
		   uint32_t n_levels, struct failover_split *out)
{
	if (n_levels == 0 || n_levels > FAILOVER_MAX_LEVELS)
		return -EINVAL;
	return split_levels(p, healthy, healthy, total, n_levels, out);
}

uint32_t failover_effective_weight(uint64_t weight, uint32_t share, uint64_t level_weight)
{
	u128 v;

	if (weight == 0 || share == 0 || level_weight == 0)
		return 0;
	v = (u128)weight * share * FAILOVER_WEIGHT_MAX / ((u128)level_weight * FAILOVER_SHARE_ONE);
	if (v == 0)
		return 1;
	return v > FAILOVER_WEIGHT_MAX ? FAILOVER_WEIGHT_MAX : (uint32_t)v;
}

uint64_t failover_slow_start_weight(uint64_t weight, uint64_t since, uint64_t now,
				    uint32_t window_ms)
{
	uint64_t elapsed, w;

	if (weight == 0 || window_ms == 0)
		return weight;
	/* A clock behind <since> means it has only just come up. */
	elapsed = now > since ? now - since : 0;
	if (elapsed >= window_ms)
		return weight;
	w = (uint64_t)muldiv(weight, elapsed, window_ms);
	return w != 0 ? w : 1;
}

static bool receives(const struct failover_member *m, const struct failover_split *sp)
{
	return m->eligible && m->weight != 0 && sp->share[m->level] != 0 &&
	       (m->healthy || sp->panic[m->level]);
}

static uint64_t ramped(const struct failover_member *m, const struct failover_params *p,
		       uint64_t now)
{
	return failover_slow_start_weight((uint64_t)m->weight * FAILOVER_RAMP_ONE, m->up_since, now,
					  p->slow_start_ms);
}

int failover_assign(const struct failover_params *p, const struct failover_member *m, uint32_t n,
		    uint64_t now, uint32_t *eff, struct failover_split *out)
{
	uint64_t healthy[FAILOVER_MAX_LEVELS] = {0}, total[FAILOVER_MAX_LEVELS] = {0};
	uint64_t capacity[FAILOVER_MAX_LEVELS] = {0}, lw[FAILOVER_MAX_LEVELS] = {0};
	struct failover_split local = {0};
	struct failover_split *sp = out != NULL ? out : &local;
	uint32_t n_levels = 1;
	int rc;

	if (n != 0 && (m == NULL || eff == NULL))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (m[i].level >= FAILOVER_MAX_LEVELS || m[i].weight > FAILOVER_WEIGHT_MAX)
			return -EINVAL;
		if (m[i].level + 1 > n_levels)
			n_levels = m[i].level + 1;
		if (!m[i].eligible)
			continue;
		/* In ramp units, so a backend in slow start adds its ramp to its level's capacity.
		 */
		total[m[i].level] += (uint64_t)m[i].weight * FAILOVER_RAMP_ONE;
		if (m[i].healthy) {
			healthy[m[i].level] += (uint64_t)m[i].weight * FAILOVER_RAMP_ONE;
			capacity[m[i].level] += ramped(&m[i], p, now);
		}
	}
	rc = split_levels(p, healthy, capacity, total, n_levels, sp);
	if (rc != 0)
		return rc;

	for (uint32_t i = 0; i < n; i++) {
		eff[i] = 0;
		if (sp->available && receives(&m[i], sp))
			lw[m[i].level] += ramped(&m[i], p, now);
	}
	if (!sp->available)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (receives(&m[i], sp))
			eff[i] = failover_effective_weight(ramped(&m[i], p, now),
							   sp->share[m[i].level], lw[m[i].level]);
	return 0;
}
