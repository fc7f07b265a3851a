/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "breaker.h"

static const char *const state_names[BREAKER_STATE_MAX] = {
	[BREAKER_CLOSED] = "closed",
	[BREAKER_OPEN] = "open",
	[BREAKER_HALF_OPEN] = "half-open",
};

static const char *const cause_names[BREAKER_CAUSE_MAX] = {
	[BREAKER_CAUSE_NONE] = "none",
	[BREAKER_CAUSE_CONSECUTIVE] = "consecutive",
	[BREAKER_CAUSE_RATIO] = "ratio",
	[BREAKER_CAUSE_PROBE_FAILED] = "probe_failed",
	[BREAKER_CAUSE_PROBE_TIMEOUT] = "probe_timeout",
};

const char *breaker_state_name(enum breaker_state s)
{
	return (unsigned int)s < BREAKER_STATE_MAX ? state_names[s] : "?";
}

const char *breaker_cause_name(enum breaker_cause c)
{
	return (unsigned int)c < BREAKER_CAUSE_MAX ? cause_names[c] : "?";
}

void breaker_params_default(struct breaker_params *p)
{
	*p = (struct breaker_params){
		.consecutive_failures = BREAKER_DEFAULT_CONSECUTIVE_FAILURES,
		.failure_ratio_pct = BREAKER_DEFAULT_FAILURE_RATIO_PCT,
		.window_ms = BREAKER_DEFAULT_WINDOW_MS,
		.min_flows = BREAKER_DEFAULT_MIN_FLOWS,
		.base_ejection_ms = BREAKER_DEFAULT_BASE_EJECTION_MS,
		.max_ejection_ms = BREAKER_DEFAULT_MAX_EJECTION_MS,
		.ejection_jitter_pct = BREAKER_DEFAULT_EJECTION_JITTER_PCT,
		.half_open_permits = BREAKER_DEFAULT_HALF_OPEN_PERMITS,
		.half_open_successes = BREAKER_DEFAULT_HALF_OPEN_SUCCESSES,
		.probe_timeout_ms = BREAKER_DEFAULT_PROBE_TIMEOUT_MS,
		.max_ejection_percent = BREAKER_DEFAULT_MAX_EJECTION_PERCENT,
	};
}

int breaker_params_check(const struct breaker_params *p)
{
	if (p == NULL || p->window_ms < BREAKER_BUCKETS || p->failure_ratio_pct > 100 ||
	    p->ejection_jitter_pct > 100 || p->max_ejection_percent > 100 ||
	    p->base_ejection_ms == 0 || p->max_ejection_ms < p->base_ejection_ms ||
	    p->half_open_permits == 0 || p->half_open_successes == 0 ||
	    p->half_open_successes > p->half_open_permits || p->probe_timeout_ms == 0)
		return -EINVAL;
	return 0;
}

/* splitmix64 finaliser: reproducible jitter from (seed, open count). */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t bucket_ms(const struct breaker *b)
{
	return b->p.window_ms / BREAKER_BUCKETS;
}

static void window_clear(struct breaker *b)
{
	memset(b->win, 0, sizeof(b->win));
}

static struct breaker_bucket *window_slot(struct breaker *b, uint64_t now)
{
	uint64_t epoch = now / bucket_ms(b);
	struct breaker_bucket *k = &b->win[epoch % BREAKER_BUCKETS];

	/* A slot holding an older epoch is a bucket that slid out of the window. */
	if (k->epoch != epoch) {
		k->epoch = epoch;
		k->ok = 0;
		k->fail = 0;
	}
	return k;
}

void breaker_window_counts(const struct breaker *b, uint64_t now, uint32_t *ok, uint32_t *fail)
{
	uint64_t epoch = now / bucket_ms(b);
	uint32_t o = 0, f = 0;

	for (unsigned int i = 0; i < BREAKER_BUCKETS; i++) {
		const struct breaker_bucket *k = &b->win[i];

		/* The current bucket and the BREAKER_BUCKETS - 1 before it; a bucket
		 * from the future (clock stepped back) is ignored too. */
		if (k->epoch <= epoch && epoch - k->epoch < BREAKER_BUCKETS) {
			o += k->ok;
			f += k->fail;
		}
	}
	*ok = o;
	*fail = f;
}

int breaker_init(struct breaker *b, const struct breaker_params *p, uint64_t now, uint64_t seed)
{
	if (b == NULL || breaker_params_check(p) != 0)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->p = *p;
	b->seed = seed;
	b->state = BREAKER_CLOSED;
	b->since = now;
	return 0;
}

static void enter_closed(struct breaker *b, uint64_t now)
{
	b->state = BREAKER_CLOSED;
	b->since = now;
	b->consecutive = 0;
	b->permits_used = 0;
	b->probe_ok = 0;
	/* Outcomes from before the ejection describe a backend that has since
	 * proven itself; keeping them could re-trip it at once. */
	window_clear(b);
}

static void enter_open(struct breaker *b, uint64_t now, enum breaker_cause cause)
{
	uint64_t dur, span;

	dur = (uint64_t)b->p.base_ejection_ms * (b->ejections != 0 ? b->ejections : 1);
	if (dur > b->p.max_ejection_ms)
		dur = b->p.max_ejection_ms;
	/* Jitter after the cap, so LB nodes that ejected a backend together
	 * do not all probe it in the same instant even at the cap. */
	span = dur * b->p.ejection_jitter_pct / 100;
	b->opens++;
	if (span != 0)
		dur += mix64(b->seed ^ mix64(b->opens)) % span;
	b->state = BREAKER_OPEN;
	b->cause = cause;
	b->since = now;
	b->open_until = now + dur;
	b->consecutive = 0;
	b->permits_used = 0;
	b->probe_ok = 0;
}

bool breaker_tick(struct breaker *b, uint64_t now)
{
	switch (b->state) {
	case BREAKER_OPEN:
		if (now < b->open_until)
			return false;
		b->state = BREAKER_HALF_OPEN;
		/* From <now>, not open_until: when nobody asked for a while the
		 * probe window must still be a full one, or it would time out
		 * before admitting anything. */
		b->since = now;
		b->probe_deadline = now + b->p.probe_timeout_ms;
		b->permits_used = 0;
		b->probe_ok = 0;
		return true;
	case BREAKER_HALF_OPEN:
		if (now < b->probe_deadline)
			return false;
		/* Nothing proved the backend bad, so no longer backoff; but
		 * nothing proved it good either (permits spent on flows whose
		 * outcome never came, or no traffic), so probe again later. */
		enter_open(b, now, BREAKER_CAUSE_PROBE_TIMEOUT);
		return true;
	default:
		return false;
	}
}

bool breaker_on_success(struct breaker *b, uint64_t now)
{
	bool changed = breaker_tick(b, now);

	b->successes++;
	switch (b->state) {
	case BREAKER_CLOSED:
		b->consecutive = 0;
		window_slot(b, now)->ok++;
		break;
	case BREAKER_HALF_OPEN:
		b->probe_ok++;
		if (b->probe_ok >= b->p.half_open_successes) {
			enter_closed(b, now);
			changed = true;
		}
		break;
	default:
		/* OPEN: a flow admitted before the trip; it says nothing about
		 * whether the ejection should end early. */
		break;
	}
	return changed;
}

static bool trip_due(struct breaker *b, uint64_t now, enum breaker_cause *cause)
{
	uint32_t ok, fail;
	uint64_t total, min;

	if (b->p.consecutive_failures != 0 && b->consecutive >= b->p.consecutive_failures) {
		*cause = BREAKER_CAUSE_CONSECUTIVE;
		return true;
	}
	if (b->p.failure_ratio_pct == 0)
		return false;
	breaker_window_counts(b, now, &ok, &fail);
	total = (uint64_t)ok + fail;
	min = b->p.min_flows != 0 ? b->p.min_flows : 1;
	if (total >= min && (uint64_t)fail * 100 >= (uint64_t)b->p.failure_ratio_pct * total) {
		*cause = BREAKER_CAUSE_RATIO;
		return true;
	}
	return false;
}

bool breaker_on_failure(struct breaker *b, uint64_t now, bool may_eject)
{
	bool changed = breaker_tick(b, now);
	enum breaker_cause cause = BREAKER_CAUSE_NONE;

	b->failures++;
	switch (b->state) {
	case BREAKER_CLOSED:
		if (b->consecutive < UINT32_MAX)
			b->consecutive++;
		window_slot(b, now)->fail++;
		if (!trip_due(b, now, &cause))
			break;
		if (!may_eject) {
			b->trips_denied++;
			break;
		}
		/* A backend that stayed healthy for as long as the longest
		 * ejection starts its backoff again from base_ejection. */
		if (now - b->since >= b->p.max_ejection_ms)
			b->ejections = 0;
		if (b->ejections < UINT32_MAX)
			b->ejections++;
		enter_open(b, now, cause);
		changed = true;
		break;
	case BREAKER_HALF_OPEN:
		if (b->ejections < UINT32_MAX)
			b->ejections++;
		enter_open(b, now, BREAKER_CAUSE_PROBE_FAILED);
		changed = true;
		break;
	default:
		break;
	}
	return changed;
}

bool breaker_on_active_check_pass(struct breaker *b, uint64_t now)
{
	bool changed = breaker_tick(b, now);

	if (b->state == BREAKER_HALF_OPEN) {
		enter_closed(b, now);
		changed = true;
	}
	return changed;
}

bool breaker_on_checks_recovered(struct breaker *b, uint64_t now, bool proves_service)
{
	bool changed = breaker_tick(b, now);

	if (b->state == BREAKER_CLOSED)
		return changed;
	if (proves_service) {
		enter_closed(b, now);
		return true;
	}
	if (b->state == BREAKER_OPEN) {
		b->open_until = now;
		breaker_tick(b, now);
		return true;
	}
	return changed;
}

bool breaker_allow_new_flow(struct breaker *b, uint64_t now)
{
	breaker_tick(b, now);
	switch (b->state) {
	case BREAKER_CLOSED:
		return true;
	case BREAKER_HALF_OPEN:
		if (b->permits_used >= b->p.half_open_permits)
			return false;
		b->permits_used++;
		return true;
	default:
		return false;
	}
}

bool breaker_takes_new_flows(const struct breaker *b)
{
	return b->state == BREAKER_CLOSED ||
	       (b->state == BREAKER_HALF_OPEN && b->permits_used < b->p.half_open_permits);
}

bool breaker_reset(struct breaker *b, uint64_t now)
{
	bool changed = b->state != BREAKER_CLOSED;

	enter_closed(b, now);
	b->ejections = 0;
	return changed;
}

int breaker_set_params(struct breaker *b, const struct breaker_params *p)
{
	if (breaker_params_check(p) != 0)
		return -EINVAL;
	/* Buckets are indexed by now / bucket_ms: a new width makes the old
	 * epochs meaningless, so the window starts afresh. */
	if (p->window_ms / BREAKER_BUCKETS != b->p.window_ms / BREAKER_BUCKETS)
		window_clear(b);
	b->p = *p;
	return 0;
}

bool breaker_is_ejected(const struct breaker *b)
{
	return b->state != BREAKER_CLOSED;
}

uint64_t breaker_next_event(const struct breaker *b)
{
	switch (b->state) {
	case BREAKER_OPEN:
		return b->open_until;
	case BREAKER_HALF_OPEN:
		return b->probe_deadline;
	default:
		return UINT64_MAX;
	}
}

uint64_t breaker_ms_until_probe(const struct breaker *b, uint64_t now)
{
	if (b->state != BREAKER_OPEN || now >= b->open_until)
		return 0;
	return b->open_until - now;
}

bool breaker_pool_may_eject(uint32_t n_backends, uint32_t n_ejected, uint32_t max_ejection_percent)
{
	if (n_backends == 0 || n_ejected >= n_backends)
		return false;
	if (n_ejected == 0)
		return true;
	return ((uint64_t)n_ejected + 1) * 100 <= (uint64_t)n_backends * max_ejection_percent;
}
