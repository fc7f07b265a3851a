/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "health.h"

#include "sl_types.h"

static const char *const res_names[HC_RES_MAX] = {
	[HC_RES_NONE] = "none",
	[HC_RES_OK] = "ok",
	[HC_RES_TIMEOUT] = "timeout",
	[HC_RES_REFUSED] = "refused",
	[HC_RES_UNREACHABLE] = "unreachable",
	[HC_RES_BAD_STATUS] = "bad_status",
	[HC_RES_BAD_PAYLOAD] = "bad_payload",
	[HC_RES_EXEC_FAILED] = "exec_failed",
	[HC_RES_ERROR] = "error",
};

static const char *const init_names[HC_INIT_MAX] = {
	[HC_INIT_UP] = "up",
	[HC_INIT_FULLY_UP] = "fully-up",
	[HC_INIT_DOWN] = "down",
	[HC_INIT_FULLY_DOWN] = "fully-down",
};

const char *hc_res_name(enum hc_res r)
{
	return (unsigned int)r < HC_RES_MAX ? res_names[r] : "?";
}

const char *hc_init_name(enum hc_init i)
{
	return (unsigned int)i < HC_INIT_MAX ? init_names[i] : "?";
}

int hc_init_parse(const char *name)
{
	for (int i = 0; i < HC_INIT_MAX; i++)
		if (name != NULL && strcmp(name, init_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *hc_health_name(enum hc_health h)
{
	switch (h) {
	case HC_UP:
		return sl_health_name(SL_HEALTH_UP);
	case HC_DOWN:
		return sl_health_name(SL_HEALTH_DOWN);
	}
	return "?";
}

void hc_params_default(struct hc_params *p)
{
	*p = (struct hc_params){
		.interval_ms = HC_DEFAULT_INTERVAL_MS,
		.timeout_ms = HC_DEFAULT_TIMEOUT_MS,
		.fastinter_ms = 0,
		.downinter_ms = 0,
		.rise = HC_DEFAULT_RISE,
		.fall = HC_DEFAULT_FALL,
		.start_jitter_pct = HC_DEFAULT_START_JITTER_PCT,
	};
}

int hc_params_check(const struct hc_params *p)
{
	if (p == NULL || p->interval_ms == 0 || p->timeout_ms == 0 || p->rise == 0 ||
	    p->fall == 0 || p->start_jitter_pct > 100)
		return -EINVAL;
	return 0;
}

/* splitmix64 finaliser: a fixed, well-mixed function of the seed, so the
 * offset is reproducible across runs and builds. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void resolve(struct hc_params *dst, const struct hc_params *src)
{
	*dst = *src;
	if (dst->fastinter_ms == 0)
		dst->fastinter_ms = dst->interval_ms;
	if (dst->downinter_ms == 0)
		dst->downinter_ms = dst->interval_ms;
}

int hc_init(struct hc_state *s, const struct hc_params *p, enum hc_init init, uint64_t now,
	    uint64_t seed)
{
	uint64_t span;

	if (s == NULL || hc_params_check(p) != 0 || (unsigned int)init >= HC_INIT_MAX)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	resolve(&s->p, p);
	/* Provisional states sit one result away from the other side. */
	switch (init) {
	case HC_INIT_UP:
		s->health = HC_UP;
		s->fail = s->p.fall - 1;
		break;
	case HC_INIT_FULLY_UP:
		s->health = HC_UP;
		break;
	case HC_INIT_DOWN:
		s->health = HC_DOWN;
		s->succ = s->p.rise - 1;
		break;
	default:
		s->health = HC_DOWN;
		break;
	}
	s->last = HC_RES_NONE;
	s->last_change = now;
	span = (uint64_t)s->p.interval_ms * s->p.start_jitter_pct / 100;
	s->next_due = now + (span != 0 ? mix64(seed) % span : 0);
	return 0;
}

uint64_t hc_next_due(const struct hc_state *s)
{
	return s->next_due;
}

bool hc_in_transition(const struct hc_state *s)
{
	return s->health == HC_UP ? s->fail > 0 : s->succ > 0;
}

uint32_t hc_current_interval(const struct hc_state *s)
{
	/* fastinter wins over downinter: a DOWN backend that starts passing
	 * should be confirmed quickly, not at the slow down rhythm. */
	if (hc_in_transition(s))
		return s->p.fastinter_ms;
	return s->health == HC_DOWN ? s->p.downinter_ms : s->p.interval_ms;
}

static uint32_t sat_inc(uint32_t v)
{
	return v < UINT32_MAX ? v + 1 : v;
}

int hc_result(struct hc_state *s, enum hc_res r, const char *detail, uint64_t now)
{
	int changed = 0;
	uint64_t due;

	if (r == HC_RES_NONE || (unsigned int)r >= HC_RES_MAX)
		return -EINVAL;
	s->last = r;
	snprintf(s->last_detail, sizeof(s->last_detail), "%s", detail != NULL ? detail : "");
	s->last_check = now;
	s->checks++;
	if (r == HC_RES_OK) {
		s->succ = sat_inc(s->succ);
		s->fail = 0;
		if (s->health == HC_DOWN && s->succ >= s->p.rise) {
			s->health = HC_UP;
			changed = 1;
		}
	} else {
		s->failed++;
		s->fail = sat_inc(s->fail);
		s->succ = 0;
		if (s->health == HC_UP && s->fail >= s->p.fall) {
			s->health = HC_DOWN;
			changed = 1;
		}
	}
	/* The runs go on across a change (so `show` can say "down, 40 failures
	 * in a row"); only the run against the current health matters, and the
	 * result that caused the change just zeroed it. */
	if (changed) {
		s->last_change = now;
		s->changes++;
	}
	/*
	 * The next check is due an interval after this one was, not after it
	 * ended: a check that times out does not stretch the rhythm (with a
	 * 1 s interval and timeout, a blackholed backend would otherwise be
	 * checked every 2 s, and one restored just after a check went out
	 * would wait out that check's timeout and a whole interval more). At
	 * once when this one ended later than that: checks never overlap.
	 */
	due = s->next_due + hc_current_interval(s);
	s->next_due = due > now ? due : now;
	return changed;
}

int hc_force(struct hc_state *s, enum hc_health h, uint64_t now)
{
	if (h != HC_UP && h != HC_DOWN)
		return -EINVAL;
	s->succ = 0;
	s->fail = 0;
	if (s->health == h)
		return 0;
	s->health = h;
	s->last_change = now;
	s->changes++;
	return 1;
}

int hc_set_params(struct hc_state *s, const struct hc_params *p, uint64_t now)
{
	uint64_t due;

	if (hc_params_check(p) != 0)
		return -EINVAL;
	resolve(&s->p, p);
	due = now + hc_current_interval(s);
	if (due < s->next_due)
		s->next_due = due;
	return 0;
}
