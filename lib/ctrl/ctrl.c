/* SPDX-License-Identifier: BSD-3-Clause */
#include "ctrl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Signals of one kind fed to a breaker per pass: bounds a pass after a long pause. */
#define CTRL_MAX_SIGNALS 1000

uint64_t ctrl_fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static char *endpoint(const struct sl_addr *a, uint16_t port, char *buf, size_t len)
{
	char ip[SL_ADDR_STRLEN];

	sl_addr_format(a, ip, sizeof(ip));
	snprintf(buf, len, sl_addr_is_v4(a) ? "%s:%u" : "[%s]:%u", ip, port);
	return buf;
}

char *ctrl_endpoint(const struct ctrl_backend *b, char *buf, size_t len)
{
	return endpoint(&b->id.addr, b->id.port, buf, len);
}

char *ctrl_check_target(const struct ctrl_backend *b, char *buf, size_t len)
{
	return endpoint(&b->check.addr, b->check.port, buf, len);
}

static void hc_params_of(const struct conf_health *h, struct hc_params *p)
{
	hc_params_default(p);
	p->interval_ms = h->interval_ms;
	p->timeout_ms = h->timeout_ms;
	p->fastinter_ms = h->fastinter_ms;
	p->downinter_ms = h->downinter_ms;
	p->rise = h->rise;
	p->fall = h->fall;
	p->start_jitter_pct = h->jitter_pct;
}

static void breaker_params_of(const struct conf_policy *pol, struct breaker_params *cp)
{
	breaker_params_default(cp);
	cp->consecutive_failures = pol->consecutive_failures;
	cp->failure_ratio_pct = pol->failure_ratio_pct;
	cp->min_flows = pol->min_flows;
	cp->window_ms = pol->window_ms;
	cp->base_ejection_ms = pol->base_ejection_ms;
	cp->max_ejection_ms = pol->max_ejection_ms;
	cp->max_ejection_percent = pol->max_ejection_percent;
	cp->half_open_permits = pol->half_open_permits;
	if (cp->half_open_successes > cp->half_open_permits)
		cp->half_open_successes = cp->half_open_permits;
}

/* Backend <j> of VIP <vi> of <c>, as the file says, with no history. */
static void from_file(struct ctrl_backend *x, const struct conf *c, uint32_t vi, uint32_t j,
		      uint64_t now)
{
	const struct conf_vip *v = &c->vips[vi];
	const struct conf_backend *fb = &v->backends[j];

	memset(x, 0, sizeof(*x));
	snprintf(x->id.vip, sizeof(x->id.vip), "%s", v->name);
	x->id.addr = fb->addr;
	x->id.port = fb->port ? fb->port : v->port;
	x->id.vip_index = vi;
	x->id.seq = j;
	/* The backend's own check: the VIP's with its keys on top. */
	x->check.h = fb->hc;
	x->check.addr = x->check.h.has_addr ? x->check.h.addr : x->id.addr;
	x->check.port = x->check.h.port ? x->check.h.port : x->id.port;
	x->check.enabled = x->check.h.kind != CONF_HC_NONE;
	x->check.forced = -1;
	if (!x->check.enabled) {
		/* No check: periodic, harmless defaults keep hc_* quiet. */
		x->check.h.interval_ms = 1000;
		x->check.h.timeout_ms = 1000;
		x->check.h.rise = 1;
		x->check.h.fall = 1;
	}
	x->breaker.no_replies = v->mode == SL_MODE_DSR || v->mode == SL_MODE_TUNNEL;
	x->breaker.active = v->policy.breaker && x->check.enabled && x->breaker.no_replies;
	x->breaker.hung_watch = v->response_timeout_ms > 0;
	if (v->policy.breaker) {
		struct breaker_params cp;
		breaker_params_of(&v->policy, &cp);
		/* conf checked the ranges; breaker_init refusing would be a bug (no breaker then).
		 */
		x->breaker.enabled = breaker_init(&x->breaker.cb, &cp, now,
						  ctrl_fnv1a(x->id.vip, (uint64_t)j + 1)) == 0;
	}
	x->failover.level = fb->priority;
	x->failover.eligible = true;
	x->failover.weight = fb->weight;
	x->failover.ramp.up_since = 0; /* as if up for long: a restart ramps nothing */
	x->told.control_weight = -2;
}

/* What a backend that stays keeps from <old>: its state, whole. */
static void carry(struct ctrl_backend *x, const struct ctrl_backend *old, uint64_t now)
{
	struct hc_params p;

	hc_params_of(&x->check.h, &p);
	x->check.hc = old->check.hc;
	hc_set_params(&x->check.hc, &p, now);
	x->check.forced = old->check.forced;
	/* A breaker that stays keeps its state under the new parameters. */
	if (x->breaker.enabled && old->breaker.enabled) {
		struct breaker_params cp = x->breaker.cb.p;
		x->breaker.cb = old->breaker.cb;
		breaker_set_params(&x->breaker.cb, &cp);
	}
	x->counters = old->counters;
	x->failover.ramp = old->failover.ramp;
	x->told = old->told;
	x->told.listed = true;
	x->told.unreachable_logged = false;
}

struct member_key {
	const struct ctrl_backend *arr;
	const char *vip;
	struct sl_addr addr;
	uint16_t port;
};

static bool eq_member(uint32_t idx, const void *ctx)
{
	const struct member_key *k = ctx;
	const struct ctrl_backend *b = &k->arr[idx];
	return b->id.port == k->port && sl_addr_eq(&b->id.addr, &k->addr) &&
	       strcmp(b->id.vip, k->vip) == 0;
}

struct ctrl_backend *ctrl_set_lookup(const struct ctrl_set *s, const char *vip,
				     const struct sl_addr *a, uint16_t port)
{
	struct member_key k = {.arr = s->b, .vip = vip, .addr = *a, .port = port};
	int64_t i = bkey_find(&s->index, bkey_hash(vip, a, port), eq_member, &k);
	return i < 0 ? NULL : &s->b[i];
}

int ctrl_set_build(struct ctrl_set *next, const struct conf *c, const struct ctrl_set *old,
		   uint64_t now)
{
	size_t n = 0, k = 0;
	struct ctrl_backend *arr;
	struct bkey_tab idx;

	for (uint32_t i = 0; i < c->n_vips; i++)
		n += c->vips[i].n_backends;
	arr = calloc(n ? n : 1, sizeof(*arr));
	if (arr == NULL || bkey_init(&idx, n) < 0) {
		free(arr);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->n_vips; i++)
		for (uint32_t j = 0; j < c->vips[i].n_backends; j++) {
			struct ctrl_backend *x = &arr[k], *was;

			from_file(x, c, i, j, now);
			was = old ? ctrl_set_lookup(old, x->id.vip, &x->id.addr, x->id.port) : NULL;
			if (was != NULL) {
				carry(x, was, now);
			} else {
				/* Up unless the data plane says otherwise. */
				x->fresh = true;
				x->told.up = true;
			}
			bkey_put(&idx, bkey_hash(x->id.vip, &x->id.addr, x->id.port), (uint32_t)k);
			k++;
		}
	next->b = arr;
	next->n = k;
	next->index = idx;
	return 0;
}

void ctrl_set_free(struct ctrl_set *s)
{
	free(s->b);
	bkey_free(&s->index);
	s->b = NULL;
	s->n = 0;
}

void ctrl_take_dp_health(struct ctrl_backend *b, const struct ctrl_dp_view *v)
{
	if (b->fresh && v->has_health)
		b->told.up = v->up;
	b->told.listed = true;
}

bool ctrl_start(struct ctrl_backend *b, const char *node, uint64_t now)
{
	struct hc_params p;
	char ep[80];

	b->fresh = false;
	hc_params_of(&b->check.h, &p);
	ctrl_endpoint(b, ep, sizeof(ep));
	hc_init(&b->check.hc, &p,
		b->told.up || !b->check.enabled ? HC_INIT_FULLY_UP : HC_INIT_FULLY_DOWN, now,
		ctrl_fnv1a(ep, ctrl_fnv1a(b->id.vip, ctrl_fnv1a(node, 0xcbf29ce484222325ull))));
	/*
	 * Slow start: a backend the data plane already serves does not ramp
	 * (a restart or a reload changes nothing); one new to it does.
	 */
	b->failover.ramp.healthy_before = b->told.listed && b->told.up;
	/* Unchecked is taken as up: nothing else would ever bring it back. */
	return !b->check.enabled && !b->told.up && b->told.listed;
}

bool ctrl_up(const struct ctrl_backend *b)
{
	if (b->check.forced >= 0)
		return b->check.forced == 1;
	return !b->check.enabled || b->check.hc.health == HC_UP;
}

int ctrl_check_result(struct ctrl_backend *b, enum hc_res r, const char *detail, uint64_t now,
		      ctrl_breaker_fn *on_breaker, void *arg)
{
	int changed = hc_result(&b->check.hc, r, detail, now);
	struct ctrl_breaker *br = &b->breaker;

	/* dsr/tunnel: no passive signal exists; a check is the breaker's signal. */
	if (br->active) {
		if (r == HC_RES_OK)
			b->signals.ok++;
		else
			b->signals.fail++;
	} else if (r == HC_RES_OK && br->enabled) {
		/*
		 * fnat/nat: a pass closes a half-open breaker (an open one serves
		 * its time) — but not a bare TCP connect where hung servers are
		 * watched for: a stopped server's kernel still accepts connections.
		 * A pass that brings the checks' health back up is stronger: the
		 * checks saw the fault and its end, and while they held the
		 * backend down no flow could probe it, so the breaker must not
		 * keep it out any longer.
		 */
		bool proves = !(b->check.h.kind == CONF_HC_TCP && br->hung_watch);
		enum breaker_state before = br->cb.state;
		if (changed == 1)
			breaker_on_checks_recovered(&br->cb, now, proves);
		else if (proves)
			breaker_on_active_check_pass(&br->cb, now);
		if (before != br->cb.state && on_breaker != NULL)
			on_breaker(b, now, arg);
	}
	if (br->active && changed == 1 && r == HC_RES_OK) {
		/* dsr/tunnel: the same, with the checks as the breaker's only signal. */
		enum breaker_state before = br->cb.state;
		breaker_on_checks_recovered(&br->cb, now, true);
		if (before != br->cb.state && on_breaker != NULL)
			on_breaker(b, now, arg);
	}
	return changed;
}

void ctrl_take_dp(struct ctrl_backend *b, const struct ctrl_dp_view *v)
{
	struct ctrl_counters *c = &b->counters;

	if (v->has_state)
		b->failover.eligible = v->ready;
	if (v->has_weight)
		b->failover.weight = v->weight;
	if (v->has_control_weight)
		b->told.control_weight = v->control_weight;
	if (v->has_health)
		b->told.up = v->up;
	if (c->seen && v->new_flows >= c->new_flows)
		b->signals.new_flows += v->new_flows - c->new_flows; /* every mode */
	c->new_flows = v->new_flows;
	if (!c->seen || v->established < c->established || v->connect_fail < c->connect_fail ||
	    v->response_timeouts < c->response_timeouts || v->responded < c->responded) {
		/* First look, or the slot was reset: a new baseline. */
		c->seen = true;
	} else if (!b->breaker.no_replies) {
		/*
		 * fnat/nat: a hung backend's response timeouts fail like connects
		 * do. With a response timeout, success is an answer in time: a
		 * hung server's kernel completes every handshake, so
		 * "established" would pair each of its timeouts with a success.
		 */
		if (b->breaker.hung_watch)
			b->signals.ok += v->responded - c->responded;
		else
			b->signals.ok += v->established - c->established;
		b->signals.fail += (v->connect_fail - c->connect_fail) +
				   (v->response_timeouts - c->response_timeouts);
	}
	c->established = v->established;
	c->connect_fail = v->connect_fail;
	c->response_timeouts = v->response_timeouts;
	c->responded = v->responded;
}

bool ctrl_feed_breaker(struct ctrl_backend *b, uint32_t n, uint32_t *n_ejected,
		       uint32_t max_ejection_percent, uint64_t now)
{
	struct breaker *cb = &b->breaker.cb;
	bool was = breaker_is_ejected(cb);
	enum breaker_state before = cb->state;

	/*
	 * The flows it took since the last pass came under the weight
	 * published then: while half-open, each spends a permit; once they are
	 * spent it gets weight 0 until its probes close or re-open it. Steering
	 * by weight, a burst within one pass may overshoot the permits by what
	 * arrives in one pass.
	 */
	for (uint64_t f = 0; f < b->signals.new_flows && f < CTRL_MAX_SIGNALS; f++)
		breaker_allow_new_flow(cb, now);
	for (uint64_t f = 0; f < b->signals.fail && f < CTRL_MAX_SIGNALS; f++)
		breaker_on_failure(cb, now,
				   breaker_pool_may_eject(n, *n_ejected, max_ejection_percent));
	for (uint64_t s = 0; s < b->signals.ok && s < CTRL_MAX_SIGNALS; s++)
		breaker_on_success(cb, now);
	breaker_tick(cb, now);
	if (was != breaker_is_ejected(cb))
		*n_ejected += was ? -1u : 1u;
	b->signals = (struct ctrl_signals){0};
	return before != cb->state;
}

bool ctrl_vip_managed(const struct conf_vip *v)
{
	if (v->policy.breaker || v->policy.slow_start_ms > 0)
		return true;
	for (uint32_t j = 0; j < v->n_backends; j++)
		if (v->backends[j].priority > 0)
			return true;
	return false;
}

int ctrl_scratch_reserve(struct ctrl_scratch *s, uint32_t n)
{
	if (n <= s->cap)
		return 0;
	struct failover_member *m = realloc(s->m, n * sizeof(*m));
	if (m != NULL)
		s->m = m;
	uint32_t *e = realloc(s->eff, n * sizeof(*e));
	if (e != NULL)
		s->eff = e;
	if (m == NULL || e == NULL)
		return -ENOMEM;
	s->cap = n;
	return 0;
}

void ctrl_scratch_free(struct ctrl_scratch *s)
{
	free(s->m);
	free(s->eff);
	*s = (struct ctrl_scratch){0};
}

int ctrl_vip_weights(const struct conf_vip *v, struct ctrl_backend *vb, uint32_t n,
		     struct ctrl_scratch *s, uint64_t now, ctrl_breaker_fn *on_breaker, void *arg)
{
	struct failover_params pp;
	struct failover_split split;
	uint32_t n_ejected = 0;

	for (uint32_t k = 0; k < n; k++)
		n_ejected += vb[k].breaker.enabled && breaker_is_ejected(&vb[k].breaker.cb);
	for (uint32_t k = 0; k < n; k++) {
		struct ctrl_backend *b = &vb[k];
		struct ctrl_ramp *ramp = &b->failover.ramp;

		if (b->breaker.enabled &&
		    ctrl_feed_breaker(b, n, &n_ejected, v->policy.max_ejection_percent, now) &&
		    on_breaker != NULL)
			on_breaker(b, now, arg);
		b->signals = (struct ctrl_signals){0};
		/* Half-open counts as healthy while it has permits left (docs/control.md §1). */
		bool healthy = ctrl_up(b) &&
			       (!b->breaker.enabled || breaker_takes_new_flows(&b->breaker.cb));
		if (healthy && !ramp->healthy_before)
			ramp->up_since = now;
		ramp->healthy_before = healthy;
		s->m[k] = (struct failover_member){.weight = b->failover.weight,
						   .level = b->failover.level,
						   .eligible = b->failover.eligible,
						   .healthy = healthy,
						   .up_since = ramp->up_since};
	}
	failover_params_default(&pp);
	pp.overprovisioning_pct = v->policy.overprovisioning_pct;
	pp.panic_threshold_pct = v->policy.panic_threshold_pct;
	pp.slow_start_ms = v->policy.slow_start_ms;
	if (failover_assign(&pp, s->m, n, now, s->eff, &split) < 0)
		return -EINVAL;
	/* In panic a level spreads over all its backends, down ones too. */
	for (uint32_t k = 0; k < n; k++)
		vb[k].failover.panic_up = vb[k].failover.level < FAILOVER_MAX_LEVELS &&
					  split.panic[vb[k].failover.level];
	return 0;
}

const char *ctrl_breaker_signals(const struct ctrl_backend *b)
{
	if (!b->breaker.no_replies)
		return "passive (data plane)";
	return b->breaker.active ? "active checks" : "none (dsr/tunnel without a health check)";
}
