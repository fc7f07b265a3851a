/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Failover between priority levels, panic mode, and slow start: the
 * arithmetic that turns per-backend states into the integer weights the
 * data plane schedules with (docs/control.md).
 *
 * A pool's backends sit in priority levels (0 = primary, 1 = backup, ...).
 * A level's health is its healthy share of weight times the
 * overprovisioning factor (1.4), capped at 100%. Level 0 takes traffic in
 * proportion to its health, the rest spills to level 1, and so on (Envoy's
 * priority load). When the levels together are short of capacity, a level
 * whose healthy share is below the panic threshold (50%) spreads its traffic
 * over all its backends, healthy or not, rather than overload its
 * survivors; when every level is in that state, traffic is spread over all
 * backends of all levels in proportion to their weight.
 *
 * Pure integer arithmetic, deterministic (two control daemons with the same
 * input publish the same weights), no allocation. Time is passed in.
 */
#ifndef SLUICE_FAILOVER_H
#define SLUICE_FAILOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_types.h"

#define FAILOVER_MAX_LEVELS 8
/* Shares and healths are fixed point: parts per million. */
#define FAILOVER_SHARE_ONE 1000000u
/* Data-plane weights are 0..FAILOVER_WEIGHT_MAX; a level's full share maps to it. */
#define FAILOVER_WEIGHT_MAX 65535u

#define FAILOVER_DEFAULT_OVERPROVISIONING_PCT 140
#define FAILOVER_DEFAULT_PANIC_THRESHOLD_PCT  50
#define FAILOVER_DEFAULT_SLOW_START_MS        30000

struct failover_params {
	uint32_t overprovisioning_pct; /* 100..1000; default 140 (Envoy's 1.4) */
	uint32_t panic_threshold_pct;  /* 0..100, 0 = never panic; default 50 */
	uint32_t slow_start_ms;        /* ramp window, 0 = off; default 30000 */
	enum sl_empty no_backend;      /* a VIP's when_empty; default drop */
};

/* Fills in the defaults above. */
void failover_params_default(struct failover_params *p);

/*
 * 0 when usable, -EINVAL otherwise. overprovisioning_pct must be at least
 * 100: below that, a level with every backend healthy would still spill
 * traffic to its backups, which is not what "backup" means.
 */
int failover_params_check(const struct failover_params *p);

/* How traffic is split over the levels. */
struct failover_split {
	uint32_t n_levels;
	uint32_t health[FAILOVER_MAX_LEVELS]; /* ppm: healthy/total * overprovisioning, capped */
	uint32_t share[FAILOVER_MAX_LEVELS];  /* ppm of new flows; sums to FAILOVER_SHARE_ONE when
					       * available
					       */
	bool panic[FAILOVER_MAX_LEVELS]; /* the level spreads its share over all its backends */
	bool total_panic;                /* every level in panic: shares follow total weight */
	uint32_t total_health;           /* ppm: sum of health, capped at FAILOVER_SHARE_ONE */
	bool available;                  /* false: no backend may take new flows */
	enum sl_empty action;            /* when !available: the configured no_backend */
};

/*
 * Splits traffic over <n_levels> levels (1..FAILOVER_MAX_LEVELS), given each
 * level's healthy and total weight (pass counts for Envoy's host-count
 * behaviour; healthy[i] <= total[i]). Rules, in ppm:
 *   health[i] = min(1e6, healthy[i] / total[i] * overprovisioning)  (0 if total 0)
 *   total_health = min(1e6, sum health[i])
 *   panic[i] when panic_threshold != 0, total_health < 1e6, total[i] != 0
 *     and healthy[i] / total[i] < panic_threshold
 *   every non-empty level in panic -> total_panic: share[i] ∝ total[i]
 *   otherwise, no health anywhere -> !available
 *   otherwise share[i] = min(left, health[i] / total_health), levels in
 *     order; the rounding remainder goes to the first level with health.
 * Returns 0, or -EINVAL (bad params or level count, healthy > total).
 */
int failover_split(const struct failover_params *p, const uint64_t *healthy, const uint64_t *total,
		   uint32_t n_levels, struct failover_split *out);

/*
 * The data-plane weight of a backend of weight <weight> in a level that
 * receives <share> ppm of new flows, spread over <level_weight> (the sum of
 * the weights of that level's receiving backends, <weight> included):
 *   floor(weight / level_weight * share / 1e6 * FAILOVER_WEIGHT_MAX)
 * raised to 1 so a receiving backend is never starved by rounding, and
 * capped at FAILOVER_WEIGHT_MAX. 0 when weight, share or level_weight is 0.
 * Over a pool the results sum to FAILOVER_WEIGHT_MAX within one per backend.
 */
uint32_t failover_effective_weight(uint64_t weight, uint32_t share, uint64_t level_weight);

/*
 * Slow start: the weight of a backend that came up (or was added) at
 * <since>, at <now>, for a ramp over <window_ms>:
 *   max(1, weight * (now - since) / window_ms) while now - since < window_ms,
 *   weight after (and when window_ms is 0). 0 when weight is 0.
 * Linear: the ramp's purpose is to keep a cold backend from taking its full
 * share at once, and linear is easy to reason about and to test.
 */
uint64_t failover_slow_start_weight(uint64_t weight, uint64_t since, uint64_t now,
				    uint32_t window_ms);

/* One backend as the control daemon sees it. */
struct failover_member {
	uint32_t weight;   /* configured, 0..65535; 0 takes no new flows */
	uint32_t level;    /* priority level, < FAILOVER_MAX_LEVELS; 0 = primary */
	bool eligible;     /* admin state ready (drain and maint are not) */
	bool healthy;      /* health up and breaker not open */
	uint64_t up_since; /* when it last came up or was added: slow start origin */
};

/*
 * The whole computation for one pool at <now>: per-level healthy and total
 * weight from <m> (eligible members only), failover_split(), then for each
 * member that receives traffic (eligible, weight != 0, and healthy or in a
 * level in panic) its slow-start weight, and from those
 * failover_effective_weight() into eff[i]; every other member gets 0.
 * Slow start shifts traffic between the backends of one level and counts
 * toward the level's share (a ramping backend adds its ramped weight to its
 * level's capacity: a returning primary level takes traffic back from its
 * backups gradually); panic follows plain health, ramping or not. <out> may be NULL.
 * Returns 0, or -EINVAL (bad params, a level or weight out of range).
 */
int failover_assign(const struct failover_params *p, const struct failover_member *m, uint32_t n,
		    uint64_t now, uint32_t *eff, struct failover_split *out);

#endif
