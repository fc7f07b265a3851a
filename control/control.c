/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-control --config FILE [--api-socket PATH] [--control-socket PATH] [--node NAME]
 *
 * The control daemon. Every backend with a health check (its VIP's, with its
 * own keys on top) is checked (tcp, http, udp or exec), with HAProxy's
 * rise/fall, fastinter/downinter and start jitter (lib/health); when a
 * backend's health changes, the data plane is told through its API
 * (backend.set health=up|down), which answers once every worker runs it.
 * Breakers (lib/breaker), failover levels and slow start (lib/pool) give the
 * control weights of the VIPs that use them.
 *
 * Bulkhead: the data plane keeps forwarding with its last state when this
 * daemon dies; when it starts again it takes each backend's health from the
 * data plane as the starting point (no flapping, no reset), and converges.
 * SIGHUP or the config.reload request reloads the configuration and pushes
 * the difference to the data plane (lib/ctrl/ctrl_reload.h); checks of backends
 * that stay keep their state; a bad file is rejected whole and nothing
 * changes. The daemon's own socket (root or conf.control.socket_group)
 * answers health.list, status, config.reload and config.check.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bkey.h"
#include "checks.h"
#include "conf.h"
#include "dp_client.h"
#include "breaker.h"
#include "health.h"
#include "pool.h"
#include "ctrl_reload.h"
#include "unix_sock.h"

struct check {
	char vip[CONF_NAME_MAX];
	struct lb_addr addr;
	uint16_t port;       /* the backend's service port (data-plane identity) */
	uint16_t check_port; /* where the check goes */
	struct conf_health h;
	struct hc_state hc;
	struct probe pr;
	bool dp_up;  /* what the data plane was last told */
	bool has_hc; /* the backend has a health check (else: taken as up) */
	bool fresh;  /* new in this build: its health comes from the data plane */
	/* dsr/tunnel see no replies: their breaker is fed by the active checks. */
	bool no_replies; /* its VIP is dsr or tunnel: no passive signals exist */
	bool active_breaker;
	/* Weights (failover levels, slow start, breaker), when the VIP uses them: */
	uint32_t vip_index;                 /* into conf.vips */
	uint8_t level;                      /* priority */
	struct cb_breaker cb;               /* fed by the data plane's passive counters */
	uint64_t established, connect_fail; /* last values read */
	uint64_t response_timeouts;         /* fnat/nat: hung-backend signal; 0 if absent */
	uint64_t responded;                 /* ... and its success signal */
	bool counters_seen;
	bool eligible;   /* admin state ready, as the data plane has it */
	uint32_t weight; /* the operator's weight, as the data plane has it */
	bool healthy_before;
	int8_t forced;     /* the operator's health over the checks: -1 none, 0 down, 1 up */
	bool has_breaker;  /* its VIP has one: cb is initialised */
	bool listed;       /* the data plane has it (seen when the check was built) */
	uint64_t up_since; /* slow start origin */
	bool panic_up;     /* its level is in panic: told up whatever its checks say */
	int32_t dp_ctl;    /* control_weight last told (-2: not yet) */
	uint64_t pending_ok, pending_fail; /* counter growth not yet fed to the breaker */
	uint64_t new_flows;                /* last value read */
	uint64_t pending_new;              /* new flows sent to it since the last pass */
	bool unreachable_logged;           /* the data plane could not be told: said once */
};

/* How often managed VIPs' weights are recomputed from the data plane's counters. */
#define POOL_TICK_MS 200
/* The shortest time between two passes over every check (their schedule's resolution). */
#define SCAN_MIN_MS 10

static struct conf conf;
static struct check *checks;
static size_t n_checks;
static const char *api_socket;
static const char *node = "sluice";
static const char *ctl_socket;             /* --control-socket, else conf.control.socket */
static char state_path[CONF_PATH_MAX + 8]; /* control.state_file, else ctl_socket + ".state" */
static bool state_save(void);
static const char *config_path;
static volatile sig_atomic_t quit, reload;
static struct bkey_tab check_index; /* (vip, address, port) -> checks[] */
static gid_t ctl_gid = UNIX_SOCK_NO_GROUP;
/*
 * The daemon's config generation: set from the data plane's at start, it
 * grows with every applied reload (to at least the data plane's generation
 * then), so it only grows while the data plane runs.
 */
static uint64_t generation;
static uint64_t dp_generation; /* from the data plane's last answer */
static bool dp_reachable;
static uint64_t last_read; /* when vip.list was last read by the pool pass */
static time_t loaded_at;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%lld.%03ld sluice-control: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		quit = 1;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static char *endpoint(const struct check *c, char *buf, size_t len)
{
	char ip[LB_ADDR_STRLEN];
	lb_addr_format(&c->addr, ip, sizeof(ip));
	snprintf(buf, len, lb_addr_is_v4(&c->addr) ? "%s:%u" : "[%s]:%u", ip, c->port);
	return buf;
}

/*
 * One request to the data plane (dp_call), keeping what every answer says:
 * whether it is reachable and its generation.
 */
static json_object *dp_request(json_object *req, char *err, size_t len)
{
	json_object *resp = dp_call(api_socket, req, 10, err, len), *g;

	dp_reachable = resp != NULL;
	/* As answered: a restarted data plane starts again from its own first generation. */
	if (resp != NULL && json_object_object_get_ex(resp, "generation", &g))
		dp_generation = (uint64_t)json_object_get_int64(g);
	return resp;
}

/* Tells the data plane; false (logged) when it cannot be reached. */
static bool push_health(struct check *c, bool up)
{
	char err[256], ep[80], ip[LB_ADDR_STRLEN];
	json_object *req = json_object_new_object(), *resp, *ok;
	bool done = false;

	json_object_object_add(req, "cmd", json_object_new_string("backend.set"));
	json_object_object_add(req, "vip", json_object_new_string(c->vip));
	json_object_object_add(req, "address",
			       json_object_new_string(lb_addr_format(&c->addr, ip, sizeof(ip))));
	json_object_object_add(req, "port", json_object_new_int(c->port));
	json_object_object_add(req, "health", json_object_new_string(up ? "up" : "down"));
	resp = dp_request(req, err, sizeof(err));
	json_object_put(req);
	if (resp == NULL) {
		if (!c->unreachable_logged)
			logf_("%s %s: cannot tell the data plane (%s); retrying", c->vip,
			      endpoint(c, ep, sizeof(ep)), err);
		c->unreachable_logged = true;
		return false;
	}
	c->unreachable_logged = false;
	if (json_object_object_get_ex(resp, "ok", &ok) && json_object_get_boolean(ok)) {
		c->dp_up = up;
		done = true;
	} else {
		json_object *e;
		json_object_object_get_ex(resp, "error", &e);
		logf_("%s %s: the data plane refused: %s", c->vip, endpoint(c, ep, sizeof(ep)),
		      e ? json_object_get_string(e) : "?");
		done = true; /* not ours to retry: the backend is gone from the data plane */
		c->dp_up = up;
	}
	json_object_put(resp);
	return done;
}

/* The data plane's VIPs (the answer to vip.list; caller puts it), or NULL. */
static json_object *dp_list(json_object **vips)
{
	char err[256];
	json_object *req = json_object_new_object(), *resp;

	json_object_object_add(req, "cmd", json_object_new_string("vip.list"));
	resp = dp_request(req, err, sizeof(err));
	json_object_put(req);
	if (resp != NULL && !json_object_object_get_ex(resp, "vips", vips)) {
		json_object_put(resp);
		resp = NULL;
	}
	return resp;
}

struct member_key {
	const struct check *arr;
	const char *vip;
	struct lb_addr addr;
	uint16_t port;
};

static bool eq_member(uint32_t idx, const void *ctx)
{
	const struct member_key *k = ctx;
	const struct check *c = &k->arr[idx];
	return c->port == k->port && lb_addr_eq(&c->addr, &k->addr) && strcmp(c->vip, k->vip) == 0;
}

static int index_checks(struct bkey_tab *t, const struct check *arr, size_t n)
{
	if (bkey_init(t, n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		bkey_put(t, bkey_hash(arr[i].vip, &arr[i].addr, arr[i].port), (uint32_t)i);
	return 0;
}

static struct check *lookup(const struct bkey_tab *t, struct check *arr, const char *vip,
			    const struct lb_addr *a, uint16_t port)
{
	struct member_key k = {.arr = arr, .vip = vip, .addr = *a, .port = port};
	int64_t i = bkey_find(t, bkey_hash(vip, a, port), eq_member, &k);
	return i < 0 ? NULL : &arr[i];
}

/*
 * Calls <fn> for each backend of the data plane's list <vips> that is in
 * <arr> (found through <t>), with its JSON object: O(backends).
 */
static void for_each_listed(json_object *vips, const struct bkey_tab *t, struct check *arr,
			    void (*fn)(struct check *c, json_object *b))
{
	for (size_t i = 0; i < json_object_array_length(vips); i++) {
		json_object *v = json_object_array_get_idx(vips, i), *bl, *x;
		if (!json_object_object_get_ex(v, "name", &x) ||
		    !json_object_object_get_ex(v, "backends", &bl))
			continue;
		const char *vname = json_object_get_string(x);
		for (size_t j = 0; j < json_object_array_length(bl); j++) {
			json_object *b = json_object_array_get_idx(bl, j), *f, *p;
			struct lb_addr a;
			struct check *c;
			if (!json_object_object_get_ex(b, "address", &f) ||
			    !json_object_object_get_ex(b, "port", &p) ||
			    lb_addr_parse(&a, json_object_get_string(f)) < 0)
				continue;
			/* A deleted backend still finishing its flows is not the live one. */
			if (json_object_object_get_ex(b, "state", &x) &&
			    strcmp(json_object_get_string(x), "removed") == 0)
				continue;
			c = lookup(t, arr, vname, &a, (uint16_t)json_object_get_int(p));
			if (c != NULL)
				fn(c, b);
		}
	}
}

/* A new check's starting point: the health the data plane has. */
static void take_dp_health(struct check *c, json_object *b)
{
	json_object *h;
	if (c->fresh && json_object_object_get_ex(b, "health", &h))
		c->dp_up = strcmp(json_object_get_string(h), "up") == 0;
	c->listed = true;
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

/*
 * Builds the check list from <c>, keeping the state of checks that stay;
 * new ones start from the data plane's health in <dp_vips> (NULL: up).
 */
static int build_checks(const struct conf *c, int epfd, json_object *dp_vips)
{
	size_t n = 0, k = 0;
	struct check *next;
	struct bkey_tab idx;
	uint64_t now = now_ms();

	for (uint32_t i = 0; i < c->n_vips; i++)
		n += c->vips[i].n_backends;
	next = calloc(n ? n : 1, sizeof(*next));
	if (next == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->n_vips; i++) {
		const struct conf_vip *v = &c->vips[i];
		for (uint32_t j = 0; j < v->n_backends; j++) {
			struct check *x = &next[k++], *old;
			struct hc_params p;

			snprintf(x->vip, sizeof(x->vip), "%s", v->name);
			x->addr = v->backends[j].addr;
			x->port = v->backends[j].port ? v->backends[j].port : v->port;
			/* The backend's own check: the VIP's with its keys on top. */
			x->h = v->backends[j].hc;
			x->check_port = x->h.port ? x->h.port : x->port;
			x->has_hc = x->h.kind != CONF_HC_NONE;
			x->vip_index = i;
			x->level = v->backends[j].priority;
			x->dp_ctl = -2;
			x->forced = -1;
			x->eligible = true;
			x->weight = v->backends[j].weight;
			x->up_since = 0; /* as if up for long: a restart ramps nothing */
			x->no_replies = v->mode == LB_MODE_DSR || v->mode == LB_MODE_TUNNEL;
			x->active_breaker = v->policy.breaker && x->has_hc && x->no_replies;
			probe_init(&x->pr);
			if (!x->has_hc) {
				/* No check: periodic, harmless defaults keep hc_* quiet. */
				x->h.interval_ms = 1000;
				x->h.timeout_ms = 1000;
				x->h.rise = 1;
				x->h.fall = 1;
			}
			hc_params_of(&x->h, &p);
			struct cb_params cp;
			if (v->policy.breaker) {
				cb_params_default(&cp);
				cp.consecutive_failures = v->policy.consecutive_failures;
				cp.failure_ratio_pct = v->policy.failure_ratio_pct;
				cp.min_flows = v->policy.min_flows;
				cp.window_ms = v->policy.window_ms;
				cp.base_ejection_ms = v->policy.base_ejection_ms;
				cp.max_ejection_ms = v->policy.max_ejection_ms;
				cp.max_ejection_percent = v->policy.max_ejection_percent;
				cp.half_open_permits = v->policy.half_open_permits;
				if (cp.half_open_successes > cp.half_open_permits)
					cp.half_open_successes = cp.half_open_permits;
				/* conf checked the ranges; cb_init refusing would be a bug here. */
				x->has_breaker = cb_init(&x->cb, &cp, now,
							 fnv1a(x->vip, (uint64_t)j + 1)) == 0;
				if (!x->has_breaker)
					logf_("%s: breaker parameters refused: no breaker", x->vip);
			}
			old = lookup(&check_index, checks, x->vip, &x->addr, x->port);
			if (old != NULL) {
				probe_abort(&old->pr, epfd);
				x->hc = old->hc;
				x->dp_up = old->dp_up;
				/* A breaker that stays keeps its state under the new parameters. */
				if (x->has_breaker && old->has_breaker) {
					x->cb = old->cb;
					cb_set_params(&x->cb, &cp);
				}
				x->healthy_before = old->healthy_before;
				x->forced = old->forced;
				x->listed = true;
				x->up_since = old->up_since;
				x->dp_ctl = old->dp_ctl;
				x->established = old->established;
				x->connect_fail = old->connect_fail;
				x->response_timeouts = old->response_timeouts;
				x->responded = old->responded;
				x->new_flows = old->new_flows;
				x->counters_seen = old->counters_seen;
				hc_set_params(&x->hc, &p, now);
				continue;
			}
			/* Up unless the data plane says otherwise (below). */
			x->fresh = true;
			x->dp_up = true;
		}
	}
	if (index_checks(&idx, next, k) < 0) {
		free(next);
		return -ENOMEM;
	}
	if (dp_vips != NULL)
		for_each_listed(dp_vips, &idx, next, take_dp_health);
	for (size_t i = 0; i < k; i++) {
		struct check *x = &next[i];
		struct hc_params p;
		char ep[80];
		if (!x->fresh)
			continue;
		x->fresh = false;
		/* Start from what the data plane has, as a settled state: a restart
		 * changes nothing until the checks say otherwise. */
		hc_params_of(&x->h, &p);
		endpoint(x, ep, sizeof(ep));
		hc_init(&x->hc, &p, x->dp_up || !x->has_hc ? HC_INIT_FULLY_UP : HC_INIT_FULLY_DOWN,
			now, fnv1a(ep, fnv1a(x->vip, fnv1a(node, 0xcbf29ce484222325ull))));
		/*
		 * Slow start: a backend the data plane already serves does not ramp
		 * (a restart or a reload changes nothing); one new to it does.
		 */
		x->healthy_before = x->listed && x->dp_up;
		if (!x->has_hc && !x->dp_up && x->listed) {
			/* Unchecked is taken as up: nothing else would ever bring it back. */
			logf_("%s %s: no health check: told up (the data plane had it down)",
			      x->vip, ep);
			push_health(x, true);
		}
	}
	for (size_t o = 0; o < n_checks; o++)
		probe_abort(&checks[o].pr, epfd);
	free(checks);
	bkey_free(&check_index);
	checks = next;
	check_index = idx;
	n_checks = k;
	return 0;
}

/* A breaker's new state, said in the log with what comes next. */
static void log_breaker(struct check *c, uint64_t now)
{
	char ep[80];

	endpoint(c, ep, sizeof(ep));
	switch (c->cb.state) {
	case CB_OPEN:
		logf_("%s %s: breaker OPEN: ejected for %.1f s (ejection %u in a row, %s)", c->vip,
		      ep, (double)cb_ms_until_probe(&c->cb, now) / 1000.0, c->cb.ejections,
		      cb_cause_name(c->cb.cause));
		break;
	case CB_HALF_OPEN:
		logf_("%s %s: breaker half-open: probing with up to %u new flow(s)", c->vip, ep,
		      c->cb.p.half_open_permits);
		break;
	default:
		logf_("%s %s: breaker closed", c->vip, ep);
	}
}

/* Up for traffic: the operator's forced health, else the checks' (unchecked: up). */
static bool check_up(const struct check *c)
{
	if (c->forced >= 0)
		return c->forced == 1;
	return !c->has_hc || c->hc.health == HC_UP;
}

static void result(struct check *c, enum hc_res r, const char *detail, uint64_t now)
{
	char ep[80];
	int changed = hc_result(&c->hc, r, detail, now);
	bool up = c->hc.health == HC_UP; /* what the checks say, logged */

	/* dsr/tunnel: no passive signal exists; a check is the breaker's signal. */
	if (c->active_breaker) {
		if (r == HC_RES_OK)
			c->pending_ok++;
		else
			c->pending_fail++;
	} else if (r == HC_RES_OK && c->has_breaker &&
		   !(c->h.kind == CONF_HC_TCP && conf.vips[c->vip_index].response_timeout_ms > 0)) {
		/*
		 * fnat/nat: a pass closes a half-open breaker (an open one serves
		 * its time) — but not a bare TCP connect where hung servers are
		 * watched for: a stopped server's kernel still accepts connections.
		 */
		enum cb_state before = c->cb.state;
		cb_on_active_check_pass(&c->cb, now);
		if (before != c->cb.state)
			log_breaker(c, now);
	}

	if (changed > 0)
		logf_("%s %s: %s after %u %s check(s) (last: %s%s%s)", c->vip,
		      endpoint(c, ep, sizeof(ep)), up ? "UP" : "DOWN",
		      up ? c->hc.p.rise : c->hc.p.fall, up ? "passing" : "failing", hc_res_name(r),
		      detail[0] ? ", " : "", detail);
	if ((check_up(c) || c->panic_up) != c->dp_up)
		push_health(c, check_up(c) || c->panic_up);
}

static bool push_ctl_weight(struct check *c, int32_t w)
{
	char err[256], ep[80], ip[LB_ADDR_STRLEN];
	json_object *req = json_object_new_object(), *resp;

	json_object_object_add(req, "cmd", json_object_new_string("backend.set"));
	json_object_object_add(req, "vip", json_object_new_string(c->vip));
	json_object_object_add(req, "address",
			       json_object_new_string(lb_addr_format(&c->addr, ip, sizeof(ip))));
	json_object_object_add(req, "port", json_object_new_int(c->port));
	json_object_object_add(req, "control_weight", json_object_new_int(w));
	resp = dp_request(req, err, sizeof(err));
	json_object_put(req);
	if (resp == NULL) {
		if (!c->unreachable_logged)
			logf_("%s %s: cannot tell the data plane (%s); retrying", c->vip,
			      endpoint(c, ep, sizeof(ep)), err);
		c->unreachable_logged = true;
		return false;
	}
	c->unreachable_logged = false;
	json_object_put(resp);
	c->dp_ctl = w;
	return true;
}

/* A VIP whose weights the daemon computes: levels, slow start or a breaker. */
static bool managed(uint32_t vip_index)
{
	const struct conf_vip *v = &conf.vips[vip_index];

	if (v->policy.breaker || v->policy.slow_start_ms > 0)
		return true;
	for (uint32_t j = 0; j < v->n_backends; j++)
		if (v->backends[j].priority > 0)
			return true;
	return false;
}

static uint64_t counter(json_object *b, const char *key)
{
	json_object *f;
	/* A counter this data plane does not have reads as 0. */
	return json_object_object_get_ex(b, key, &f) ? (uint64_t)json_object_get_int64(f) : 0;
}

/* One backend of the data plane's list: admin state, operator weight, passive counters. */
static void take_dp_state(struct check *c, json_object *b)
{
	json_object *f;

	if (json_object_object_get_ex(b, "state", &f))
		c->eligible = strcmp(json_object_get_string(f), "ready") == 0;
	if (json_object_object_get_ex(b, "weight", &f))
		c->weight = (uint32_t)json_object_get_int64(f);
	if (json_object_object_get_ex(b, "control_weight", &f))
		c->dp_ctl = (int32_t)json_object_get_int64(f);
	if (json_object_object_get_ex(b, "health", &f))
		c->dp_up = strcmp(json_object_get_string(f), "up") == 0;
	uint64_t est = counter(b, "established"), fail = counter(b, "connect_fail"),
		 rto = counter(b, "response_timeouts"), nf = counter(b, "new_flows"),
		 rsp = counter(b, "responded");
	if (c->counters_seen && nf >= c->new_flows)
		c->pending_new += nf - c->new_flows; /* spends half-open permits, every mode */
	c->new_flows = nf;
	if (!c->counters_seen || est < c->established || fail < c->connect_fail ||
	    rto < c->response_timeouts || rsp < c->responded) {
		/* First look, or the slot was reset: a new baseline. */
		c->counters_seen = true;
	} else if (!c->no_replies) {
		/* fnat/nat: a hung backend's response timeouts fail like connects do. */
		/*
		 * With a response timeout, success is an answer in time: a hung
		 * server's kernel completes every handshake, so "established"
		 * would pair each of its timeouts with a success.
		 */
		if (conf.vips[c->vip_index].response_timeout_ms > 0)
			c->pending_ok += rsp - c->responded;
		else
			c->pending_ok += est - c->established;
		c->pending_fail += (fail - c->connect_fail) + (rto - c->response_timeouts);
	}
	c->established = est;
	c->connect_fail = fail;
	c->response_timeouts = rto;
	c->responded = rsp;
}

/* Reads the data plane: admin state, operator weight, passive counters. */
static void read_dataplane(void)
{
	json_object *vips, *resp = dp_list(&vips);

	if (resp == NULL)
		return;
	for_each_listed(vips, &check_index, checks, take_dp_state);
	json_object_put(resp);
}

/*
 * The weights of managed VIPs: breakers fed with what the data plane saw,
 * then failover shares over the priority levels, slow start, ejections
 * (lib/pool), told to the data plane as control weights.
 */
static void pool_tick(uint64_t now)
{
	/* Sized to the largest pool; checks[] holds each VIP's backends in a row. */
	static struct pool_member *m;
	static uint32_t *eff, cap;

	bool any = false;
	for (uint32_t vi = 0; vi < conf.n_vips; vi++)
		any |= managed(vi);
	if (!any)
		return;
	read_dataplane();
	last_read = now;
	size_t first = 0;
	for (uint32_t vi = 0; vi < conf.n_vips; first += conf.vips[vi].n_backends, vi++) {
		const struct conf_vip *v = &conf.vips[vi];
		struct pool_params pp;
		struct pool_split split;
		uint32_t n = v->n_backends, n_ejected = 0;

		if (!managed(vi) || n == 0)
			continue;
		if (n > cap) {
			struct pool_member *m2 = realloc(m, n * sizeof(*m));
			if (m2 != NULL)
				m = m2;
			uint32_t *e2 = realloc(eff, n * sizeof(*eff));
			if (e2 != NULL)
				eff = e2;
			if (m2 == NULL || e2 == NULL)
				continue; /* out of memory: the last weights stay */
			cap = n;
		}
		struct check *vc = &checks[first];
		for (uint32_t k = 0; k < n; k++)
			n_ejected += vc[k].has_breaker && cb_is_ejected(&vc[k].cb);
		for (uint32_t k = 0; k < n; k++) {
			struct check *c = &vc[k];
			if (c->has_breaker) {
				bool was = cb_is_ejected(&c->cb);
				enum cb_state before = c->cb.state;
				/*
				 * The flows it took since the last pass came under the
				 * weight published then: while half-open, each spends a
				 * permit; once they are spent it gets weight 0 (below)
				 * until its probes close or re-open it. Steering by
				 * weight, a burst within one pass may overshoot the
				 * permits by what arrives in POOL_TICK_MS.
				 */
				for (uint64_t f = 0; f < c->pending_new && f < 1000; f++)
					cb_allow_new_flow(&c->cb, now);
				for (uint64_t f = 0; f < c->pending_fail && f < 1000; f++) {
					bool may = cb_pool_may_eject(
						n, n_ejected, v->policy.max_ejection_percent);
					cb_on_failure(&c->cb, now, may);
				}
				for (uint64_t s = 0; s < c->pending_ok && s < 1000; s++)
					cb_on_success(&c->cb, now);
				cb_tick(&c->cb, now);
				if (was != cb_is_ejected(&c->cb))
					n_ejected += was ? -1u : 1u;
				if (before != c->cb.state)
					log_breaker(c, now);
			}
			c->pending_fail = c->pending_ok = c->pending_new = 0;
			/* Half-open counts as healthy while it has permits left (docs/control.md
			 * §1). */
			bool healthy =
				check_up(c) && (!c->has_breaker || cb_takes_new_flows(&c->cb));
			if (healthy && !c->healthy_before)
				c->up_since = now;
			c->healthy_before = healthy;
			m[k] = (struct pool_member){.weight = c->weight,
						    .level = c->level,
						    .eligible = c->eligible,
						    .healthy = healthy,
						    .up_since = c->up_since};
		}
		pool_params_default(&pp);
		pp.overprovisioning_pct = v->policy.overprovisioning_pct;
		pp.panic_threshold_pct = v->policy.panic_threshold_pct;
		pp.slow_start_ms = v->policy.slow_start_ms;
		if (pool_assign(&pp, m, n, now, eff, &split) < 0)
			continue;
		for (uint32_t k = 0; k < n; k++) {
			struct check *c = &vc[k];
			/* In panic a level spreads over all its backends, down ones too. */
			c->panic_up = c->level < POOL_MAX_LEVELS && split.panic[c->level];
			if ((int32_t)eff[k] != c->dp_ctl)
				push_ctl_weight(c, (int32_t)eff[k]);
		}
	}
}

/* ---- reload: the file, pushed to the data plane ---- */

static const char *breaker_signals(const struct check *c)
{
	if (!c->no_replies)
		return "passive (data plane)";
	return c->active_breaker ? "active checks" : "none (dsr/tunnel without a health check)";
}

/* Says once per load where each VIP's breaker takes its signals from. */
static void log_breaker_signals(void)
{
	for (uint32_t i = 0; i < conf.n_vips; i++) {
		const struct conf_vip *v = &conf.vips[i];
		if (!v->policy.breaker || (v->mode != LB_MODE_DSR && v->mode != LB_MODE_TUNNEL))
			continue;
		uint32_t unchecked = 0;
		for (uint32_t j = 0; j < v->n_backends; j++)
			unchecked += v->backends[j].hc.kind == CONF_HC_NONE;
		logf_("%s (%s): replies bypass Sluice, so there are no passive signals: its "
		      "breaker is fed by the active checks (a failed check is a failure, a pass a "
		      "success)",
		      v->name, lb_mode_name((enum lb_mode)v->mode));
		if (unchecked > 0)
			logf_("%s: WARNING: %u backend(s) without a health check: their breaker "
			      "has "
			      "no signal and never trips",
			      v->name, unchecked);
	}
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/*
 * Reloads the configuration file and pushes the difference to the data
 * plane (lib/ctrl/ctrl_reload.h), each request answered once every worker runs
 * it. A bad file, or a data plane that cannot be reached, changes nothing.
 * Fills <ans> (ok, changes, errors, flows_ended, generations); true when the
 * new file was taken.
 */
static bool reload_config(int epfd, json_object *ans)
{
	struct conf next;
	char err[512];
	json_object *vips, *list, *ops, *changes, *errors;
	bool flows_ended = false;
	size_t n_ops, done = 0;

	if (conf_load_file(config_path, &next, err, sizeof(err)) < 0) {
		logf_("reload rejected, nothing changed: %s", err);
		json_object_object_add(ans, "ok", json_object_new_boolean(0));
		snprintf(err + strlen(err), sizeof(err) - strlen(err), "%s",
			 " (rejected: nothing changed)");
		add_str(ans, "error", err);
		return false;
	}
	list = dp_list(&vips);
	if (list == NULL) {
		conf_free(&next);
		snprintf(err, sizeof(err), "cannot reach the data plane at %s: nothing changed",
			 api_socket);
		logf_("reload: %s", err);
		json_object_object_add(ans, "ok", json_object_new_boolean(0));
		add_str(ans, "error", err);
		return false;
	}
	ops = json_object_new_array();
	ctrl_reload_plan(&conf, &next, vips, ops);
	json_object_put(list);
	changes = json_object_new_array();
	errors = json_object_new_array();
	n_ops = json_object_array_length(ops);
	for (size_t i = 0; i < n_ops; i++) {
		json_object *op = json_object_array_get_idx(ops, i), *req, *what, *fe, *resp, *ok;
		json_object_object_get_ex(op, "req", &req);
		json_object_object_get_ex(op, "what", &what);
		json_object_object_get_ex(op, "flows_ended", &fe);
		resp = dp_request(req, err, sizeof(err));
		if (resp == NULL) {
			char msg[700];
			snprintf(msg, sizeof(msg), "%s; %zu of %zu changes applied", err, done,
				 n_ops);
			json_object_array_add(errors, json_object_new_string(msg));
			logf_("reload: %s", msg);
			break;
		}
		if (json_object_object_get_ex(resp, "ok", &ok) && json_object_get_boolean(ok)) {
			done++;
			flows_ended |= json_object_get_boolean(fe);
			json_object_array_add(changes, json_object_get(what));
			logf_("reload: %s", json_object_get_string(what));
		} else {
			json_object *e, *cmd;
			char msg[700];
			json_object_object_get_ex(resp, "error", &e);
			json_object_object_get_ex(req, "cmd", &cmd);
			const char *es = e ? json_object_get_string(e) : "?";
			if (strstr(es, "unknown cmd") != NULL)
				snprintf(msg, sizeof(msg),
					 "%s: NOT applied: this data plane has no %s (%s)",
					 json_object_get_string(what), json_object_get_string(cmd),
					 es);
			else
				snprintf(msg, sizeof(msg), "%s: refused by the data plane: %s",
					 json_object_get_string(what), es);
			json_object_array_add(errors, json_object_new_string(msg));
			logf_("reload: %s", msg);
		}
		json_object_put(resp);
	}
	json_object_put(ops);
	/* Checks follow the file; new backends start from the data plane's health. */
	list = dp_list(&vips);
	if (build_checks(&next, epfd, list ? vips : NULL) < 0) {
		if (list)
			json_object_put(list);
		conf_free(&next);
		json_object_put(changes);
		json_object_put(errors);
		json_object_object_add(ans, "ok", json_object_new_boolean(0));
		add_str(ans, "error", "out of memory: the checks stay as they were");
		return false;
	}
	if (list)
		json_object_put(list);
	conf_free(&conf);
	conf = next;
	generation = generation + 1 > dp_generation ? generation + 1 : dp_generation;
	loaded_at = time(NULL);
	log_breaker_signals();
	logf_("reloaded %s: generation %llu, data plane generation %llu, %zu change(s), %zu "
	      "error(s)%s; checking %zu backends",
	      config_path, (unsigned long long)generation, (unsigned long long)dp_generation, done,
	      json_object_array_length(errors),
	      flows_ended ? ", SOME ESTABLISHED FLOWS WERE ENDED" : "", n_checks);
	json_object_object_add(ans, "ok",
			       json_object_new_boolean(json_object_array_length(errors) == 0));
	if (json_object_array_length(errors) > 0)
		add_str(ans, "error",
			"the file was taken, but the data plane refused some changes");
	json_object_object_add(ans, "changes", changes);
	json_object_object_add(ans, "errors", errors);
	json_object_object_add(ans, "flows_ended", json_object_new_boolean(flows_ended));
	state_save(); /* removed backends take their forced health with them */
	return true;
}

/*
 * A reload holds the loop while the data plane applies each change (each
 * answered once every worker runs it): time the loop did not look at the
 * checks in flight is not theirs to lose, so their deadlines move by it.
 */
static void reload_and_extend(int epfd, json_object *ans)
{
	uint64_t t0 = now_ms(), held;

	reload_config(epfd, ans);
	held = now_ms() - t0;
	for (size_t i = 0; i < n_checks; i++)
		if (probe_busy(&checks[i].pr))
			checks[i].pr.deadline += held;
}

/* ---- the daemon's own socket ---- */

static json_object *health_json(uint64_t now)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n_checks; i++) {
		const struct check *c = &checks[i];
		json_object *o = json_object_new_object();
		char ip[LB_ADDR_STRLEN];

		json_object_object_add(o, "vip", json_object_new_string(c->vip));
		json_object_object_add(
			o, "address",
			json_object_new_string(lb_addr_format(&c->addr, ip, sizeof(ip))));
		json_object_object_add(o, "port", json_object_new_int(c->port));
		json_object_object_add(o, "priority", json_object_new_int(c->level));
		if (c->has_hc) {
			json_object_object_add(
				o, "health", json_object_new_string(hc_health_name(c->hc.health)));
			json_object_object_add(o, "last_check",
					       json_object_new_string(hc_res_name(c->hc.last)));
			json_object_object_add(o, "last_detail",
					       json_object_new_string(c->hc.last_detail));
			json_object_object_add(o, "checks", json_object_new_int64(c->hc.checks));
			json_object_object_add(o, "failed_checks",
					       json_object_new_int64(c->hc.failed));
			json_object_object_add(
				o, "next_check_ms",
				json_object_new_int64(
					hc_next_due(&c->hc) > now ? hc_next_due(&c->hc) - now : 0));
		} else {
			json_object_object_add(o, "health", json_object_new_string("unchecked"));
		}
		if (c->forced >= 0)
			add_str(o, "forced", c->forced ? "up" : "down");
		if (c->has_breaker) {
			add_str(o, "breaker_signals", breaker_signals(c));
			json_object_object_add(o, "breaker",
					       json_object_new_string(cb_state_name(c->cb.state)));
			json_object_object_add(o, "ejections",
					       json_object_new_int64(c->cb.ejections));
			json_object_object_add(
				o, "probe_in_ms",
				json_object_new_int64(cb_ms_until_probe(&c->cb, now)));
		}
		json_object_object_add(o, "control_weight", json_object_new_int(c->dp_ctl));
		json_object_array_add(arr, o);
	}
	return arr;
}

static void status_json(json_object *o)
{
	char when[32], err[256];
	struct tm tm;
	json_object *req = json_object_new_object(), *resp;

	/* The data plane's generation now, not as of the last periodic read. */
	json_object_object_add(req, "cmd", json_object_new_string("status"));
	resp = dp_request(req, err, sizeof(err));
	json_object_put(req);
	if (resp != NULL)
		json_object_put(resp);

	gmtime_r(&loaded_at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	add_str(o, "config", config_path);
	add_str(o, "loaded_at", when);
	add_str(o, "dataplane_socket", api_socket);
	json_object_object_add(o, "dataplane_generation",
			       json_object_new_int64((int64_t)dp_generation));
	json_object_object_add(o, "dataplane_reachable", json_object_new_boolean(dp_reachable));
	json_object_object_add(o, "vips", json_object_new_int64(conf.n_vips));
	json_object_object_add(o, "backends", json_object_new_int64((int64_t)n_checks));
}

static void config_check_json(json_object *o)
{
	struct conf c;
	char err[512], msg[600];
	uint32_t nb = 0;

	if (conf_load_file(config_path, &c, err, sizeof(err)) < 0) {
		json_object_object_add(o, "ok", json_object_new_boolean(0));
		add_str(o, "error", err);
		return;
	}
	for (uint32_t i = 0; i < c.n_vips; i++)
		nb += c.vips[i].n_backends;
	snprintf(msg, sizeof(msg), "%s: ok (%u VIPs, %u backends)", config_path, c.n_vips, nb);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	add_str(o, "result", msg);
	conf_free(&c);
}

#define CTL_COMMANDS "health.list, health.force, status, config.reload, config.check"

/*
 * health.force {vip, address, port?, health: up|down|auto}: the operator's
 * health for a backend, over what its checks say (which go on, and show),
 * until "auto" gives it back to them. Kept across reloads, not restarts.
 * Answered once the data plane runs it.
 */
/* The fields of a forced-health entry (health.force request, state file); absent: "" or -1. */
static void force_fields(json_object *o, const char **vip, const char **addr, int *port,
			 const char **health)
{
	json_object *f;

	*vip = *addr = *health = "";
	*port = -1;
	if (json_object_object_get_ex(o, "vip", &f))
		*vip = json_object_get_string(f);
	if (json_object_object_get_ex(o, "address", &f))
		*addr = json_object_get_string(f);
	if (json_object_object_get_ex(o, "port", &f))
		*port = json_object_get_int(f);
	if (json_object_object_get_ex(o, "health", &f))
		*health = json_object_get_string(f);
}

/*
 * The operator's forced health outlives the daemon: every change is written
 * to the state file (a new file renamed over the old, so a crash leaves one
 * or the other whole), and a starting daemon takes it back. Returns false,
 * having logged why, when it could not be written.
 */
static bool state_save(void)
{
	json_object *root = json_object_new_object(), *forced = json_object_new_array();
	char tmp[sizeof(state_path) + 8], ip[64];
	bool ok;

	for (size_t i = 0; i < n_checks; i++) {
		const struct check *c = &checks[i];
		json_object *o;

		if (c->forced < 0)
			continue;
		o = json_object_new_object();
		add_str(o, "vip", c->vip);
		add_str(o, "address", lb_addr_format(&c->addr, ip, sizeof(ip)));
		json_object_object_add(o, "port", json_object_new_int(c->port));
		add_str(o, "health", c->forced ? "up" : "down");
		json_object_array_add(forced, o);
	}
	json_object_object_add(root, "forced", forced);
	snprintf(tmp, sizeof(tmp), "%s.new", state_path);
	ok = json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) == 0 &&
	     rename(tmp, state_path) == 0;
	if (!ok) {
		logf_("cannot save the operator's forced health to %s: %s (held until the "
		      "daemon stops)",
		      state_path, strerror(errno));
		unlink(tmp);
	}
	json_object_put(root);
	return ok;
}

/* At start: the forced health the last daemon saved, for the backends still configured. */
static void state_load(void)
{
	json_object *root, *forced;
	size_t kept = 0, n;

	if (access(state_path, F_OK) != 0)
		return;
	root = json_object_from_file(state_path);
	if (root == NULL || !json_object_object_get_ex(root, "forced", &forced) ||
	    !json_object_is_type(forced, json_type_array)) {
		logf_("%s is not a state file of this daemon: ignored, and replaced at the next "
		      "forced change",
		      state_path);
		json_object_put(root);
		return;
	}
	n = json_object_array_length(forced);
	for (size_t i = 0; i < n; i++) {
		const char *vip, *addr, *h;
		struct check *c = NULL;
		struct lb_addr a;
		int port;

		force_fields(json_object_array_get_idx(forced, i), &vip, &addr, &port, &h);
		if (lb_addr_parse(&a, addr) == 0 && port >= 0 && port <= 65535)
			c = lookup(&check_index, checks, vip, &a, (uint16_t)port);
		if (c == NULL || (strcmp(h, "up") != 0 && strcmp(h, "down") != 0)) {
			logf_("%s: forced health of %s %s port %d (%s) dropped: no such backend in "
			      "%s",
			      state_path, vip, addr, port, h, conf.path);
			continue;
		}
		c->forced = strcmp(h, "up") == 0;
		logf_("%s %s: health forced %s by the operator (kept in %s)", c->vip, addr, h,
		      state_path);
		/* Told now: the pass over the checks skips backends without one. */
		if ((check_up(c) || c->panic_up) != c->dp_up)
			push_health(c, check_up(c) || c->panic_up);
		kept++;
	}
	json_object_put(root);
	if (kept < n)
		state_save(); /* what was dropped is gone for good */
}

static void health_force(json_object *req, json_object *resp)
{
	const char *vip, *addr, *h;
	struct lb_addr a;
	struct check *c = NULL;
	char e[320];
	int port;

	force_fields(req, &vip, &addr, &port, &h);
	if (strcmp(h, "up") != 0 && strcmp(h, "down") != 0 && strcmp(h, "auto") != 0) {
		snprintf(e, sizeof(e), "health.force: health must be up, down or auto");
		goto fail;
	}
	if (lb_addr_parse(&a, addr) < 0) {
		snprintf(e, sizeof(e), "health.force: bad address \"%.60s\"", addr);
		goto fail;
	}
	/* No port: the VIP's, as the data plane takes it. */
	for (uint32_t i = 0; i < conf.n_vips && port < 0; i++)
		if (strcmp(conf.vips[i].name, vip) == 0)
			port = conf.vips[i].port;
	if (port >= 0 && port <= 65535)
		c = lookup(&check_index, checks, vip, &a, (uint16_t)port);
	if (c == NULL) {
		snprintf(e, sizeof(e), "health.force: VIP %.60s has no backend %.60s in %.100s",
			 vip, addr, conf.path);
		goto fail;
	}
	c->forced = strcmp(h, "auto") == 0 ? -1 : strcmp(h, "up") == 0;
	logf_("%s %s: health %s by the operator", c->vip, addr,
	      c->forced < 0 ? "given back to the checks"
	      : c->forced   ? "forced up"
			    : "forced down");
	if (!state_save())
		add_str(resp, "warning",
			"not saved: it will not outlive this daemon (see its log)");
	if ((check_up(c) || c->panic_up) != c->dp_up &&
	    !push_health(c, check_up(c) || c->panic_up)) {
		snprintf(e, sizeof(e),
			 "health.force: the data plane cannot be told (kept: retried)");
		goto fail;
	}
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
	add_str(resp, "health", check_up(c) ? "up" : "down");
	return;
fail:
	json_object_object_add(resp, "ok", json_object_new_boolean(0));
	add_str(resp, "error", e);
}

/* Answers request <buf> into <resp>. */
static void ctl_handle(const char *buf, int epfd, json_object *resp)
{
	json_object *req = json_tokener_parse(buf), *cmd;
	const char *name;

	if (req == NULL || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		json_object_object_add(resp, "ok", json_object_new_boolean(0));
		add_str(resp, "error",
			"expected one JSON object with a \"cmd\" string (" CTL_COMMANDS ")");
		goto out;
	}
	name = json_object_get_string(cmd);
	if (strcmp(name, "health.list") == 0) {
		json_object_object_add(resp, "ok", json_object_new_boolean(1));
		json_object_object_add(resp, "backends", health_json(now_ms()));
	} else if (strcmp(name, "health.force") == 0) {
		health_force(req, resp);
	} else if (strcmp(name, "status") == 0) {
		status_json(resp);
	} else if (strcmp(name, "config.reload") == 0) {
		reload_and_extend(epfd, resp);
	} else if (strcmp(name, "config.check") == 0) {
		config_check_json(resp);
	} else {
		char e[200];
		snprintf(e, sizeof(e), "unknown cmd \"%.60s\" (commands: " CTL_COMMANDS ")", name);
		json_object_object_add(resp, "ok", json_object_new_boolean(0));
		add_str(resp, "error", e);
	}
out:
	/* Every answer says which configuration generation the daemon runs. */
	json_object_object_add(resp, "generation", json_object_new_int64((int64_t)generation));
	json_object_object_add(resp, "dataplane_generation",
			       json_object_new_int64((int64_t)dp_generation));
	if (req != NULL)
		json_object_put(req);
}

/* One request per connection (at most 4 KiB), answered at once. */
/* The whole answer (a 1000-backend health.list is large), or -1. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void ctl_serve(int lfd, int epfd)
{
	for (;;) {
		char buf[4096];
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		json_object *resp;
		ssize_t n;

		if (fd < 0)
			return;
		/*
		 * The checks wait while a request is read: a client gets 200 ms in
		 * all to send its line (100 ms per read), however it drips it.
		 */
		struct timeval tv = {.tv_usec = 100000};
		uint64_t read_until = now_ms() + 200;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		tv = (struct timeval){.tv_sec = 1};
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		resp = json_object_new_object();
		/* The request is read first, even from a peer refused below: closing
		 * on an unread request would reset the connection before the answer. */
		size_t used = 0;
		bool line = false;
		while (used < sizeof(buf) - 1 && now_ms() < read_until &&
		       (n = read(fd, buf + used, sizeof(buf) - 1 - used)) > 0) {
			used += (size_t)n;
			if (memchr(buf, '\n', used) != NULL) {
				line = true;
				break;
			}
		}
		buf[used] = '\0';
		if (!unix_sock_peer_allowed(fd, ctl_gid)) {
			char e[200];
			struct group *g = ctl_gid == UNIX_SOCK_NO_GROUP ? NULL : getgrgid(ctl_gid);
			if (ctl_gid == UNIX_SOCK_NO_GROUP)
				snprintf(e, sizeof(e),
					 "permission denied: only root may use %s "
					 "(control.socket_group is not set)",
					 ctl_socket);
			else
				snprintf(e, sizeof(e),
					 "permission denied: only root and members of group "
					 "\"%s\" may use %s",
					 g ? g->gr_name : "?", ctl_socket);
			json_object_object_add(resp, "ok", json_object_new_boolean(0));
			add_str(resp, "error", e);
		} else if (!line && used == sizeof(buf) - 1) {
			json_object_object_add(resp, "ok", json_object_new_boolean(0));
			add_str(resp, "error", "request longer than 4 KiB");
		} else {
			ctl_handle(buf, epfd, resp);
		}
		const char *out = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
		if (write_all(fd, out, strlen(out)) < 0 || write_all(fd, "\n", 1) < 0)
			logf_("a client of the control socket went away before its answer");
		json_object_put(resp);
		close(fd);
	}
}

static int usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s --config FILE [--api-socket PATH] [--control-socket PATH] [--node "
		"NAME]\n"
		"  Runs the backends' health checks, breakers and failover, and tells the data\n"
		"  plane. SIGHUP (or sluicectl config reload) reloads FILE and pushes the\n"
		"  difference to the data plane; SIGTERM stops.\n",
		prog);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"api-socket", required_argument, NULL, 's'},
		{"node", required_argument, NULL, 'n'},
		{"control-socket", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	char err[512];
	int c, epfd;

	while ((c = getopt_long(argc, argv, "c:s:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			api_socket = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'C':
			ctl_socket = optarg;
			break;
		default:
			return usage(argv[0]);
		}
	}
	if (config == NULL)
		return usage(argv[0]);
	if (conf_load_file(config, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-control: %s\n", err);
		return 2;
	}
	config_path = config;
	loaded_at = time(NULL);
	if (api_socket == NULL)
		api_socket = conf.dp.api_socket;
	if (ctl_socket == NULL)
		ctl_socket = conf.control.socket;
	if (unix_sock_group(conf.control.socket_group, &ctl_gid, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-control: %s: control.socket_group: %s\n", config, err);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	json_object *vips, *list = dp_list(&vips);
	if (epfd < 0 || build_checks(&conf, epfd, list ? vips : NULL) < 0) {
		fprintf(stderr, "sluice-control: out of memory\n");
		return 1;
	}
	if (list != NULL)
		json_object_put(list);
	if (conf.control.state_file[0] != '\0')
		snprintf(state_path, sizeof(state_path), "%s", conf.control.state_file);
	else
		snprintf(state_path, sizeof(state_path), "%s.state", ctl_socket);
	state_load();
	/* The config generation starts where the data plane is (it only grows there). */
	generation = dp_generation > 0 ? dp_generation : 1;
	int lfd = unix_sock_listen(ctl_socket, ctl_gid, 16, err, sizeof(err));
	if (lfd < 0) {
		fprintf(stderr, "sluice-control: %s\n", err);
		return 1;
	}
	struct epoll_event lev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
	logf_("checking %zu backends; data plane at %s (%s); state on %s%s%s", n_checks, api_socket,
	      dp_reachable ? "reachable" : "NOT reachable yet", ctl_socket,
	      ctl_gid == UNIX_SOCK_NO_GROUP ? " (root only)" : " (root and group ",
	      ctl_gid == UNIX_SOCK_NO_GROUP ? "" : conf.control.socket_group);
	log_breaker_signals();
	uint64_t next_pool = 0, next_sync = 0, next_scan = 0;

	while (!quit) {
		struct epoll_event evs[64];
		uint64_t now = now_ms(), wake = now + 1000;
		char detail[64];
		enum hc_res r;

		if (reload) {
			json_object *ans = json_object_new_object();
			reload = 0;
			reload_and_extend(epfd, ans); /* logs what it did */
			json_object_put(ans);
			next_scan = 0;
		}
		/*
		 * The pass over every check (start what is due, time out what is
		 * late) runs at most every SCAN_MIN_MS: with thousands of backends
		 * whose checks are spread over the interval, a pass per due time
		 * would cost O(backends^2) per interval.
		 */
		for (size_t i = 0; now >= next_scan && i < n_checks; i++) {
			struct check *x = &checks[i];
			if (!x->has_hc)
				continue;
			if (probe_busy(&x->pr)) {
				if (now >= x->pr.deadline) {
					probe_abort(&x->pr, epfd);
					result(x, HC_RES_TIMEOUT, "", now);
				} else if (x->pr.deadline < wake) {
					wake = x->pr.deadline;
				}
				continue;
			}
			/* A data plane that could not be told is told again. */
			if ((check_up(x) || x->panic_up) != x->dp_up)
				push_health(x, check_up(x) || x->panic_up);
			if (now >= hc_next_due(&x->hc)) {
				if (probe_start(&x->pr, &x->h, &x->addr, x->check_port, now, epfd,
						i, &r, detail, sizeof(detail)) > 0) {
					result(x, r, detail, now);
					if (hc_next_due(&x->hc) < wake)
						wake = hc_next_due(&x->hc);
				} else if (x->pr.deadline < wake) {
					wake = x->pr.deadline;
				}
			} else if (hc_next_due(&x->hc) < wake) {
				wake = hc_next_due(&x->hc);
			}
		}
		if (now >= next_scan)
			next_scan = wake > now + SCAN_MIN_MS ? wake : now + SCAN_MIN_MS;
		wake = next_scan;
		if (now >= next_pool) {
			pool_tick(now);
			next_pool = now + POOL_TICK_MS;
		}
		probe_reap();
		if (now >= next_sync) {
			/* A restarted data plane has everything up: see it, and tell it again. */
			if (now - last_read >= 1000) /* the pool pass reads it more often */
				read_dataplane();
			next_sync = now + 1000;
		}
		if (next_pool < wake)
			wake = next_pool;
		if (next_sync < wake)
			wake = next_sync;
		int n = epoll_wait(epfd, evs, 64, (int)(wake > now ? wake - now : 0));
		now = now_ms();
		for (int e = 0; e < n; e++) {
			if (evs[e].data.u64 == UINT64_MAX) {
				ctl_serve(lfd, epfd);
				continue;
			}
			size_t i = (size_t)evs[e].data.u64;
			if (i >= n_checks || !probe_busy(&checks[i].pr))
				continue;
			if (probe_io(&checks[i].pr, &checks[i].h, evs[e].events, epfd, &r, detail,
				     sizeof(detail)) > 0) {
				result(&checks[i], r, detail, now);
				/* Its next check, if sooner than the next pass. */
				uint64_t due = hc_next_due(&checks[i].hc);
				if (due < next_scan)
					next_scan =
						due > now + SCAN_MIN_MS ? due : now + SCAN_MIN_MS;
			}
		}
	}
	for (size_t i = 0; i < n_checks; i++)
		probe_abort(&checks[i].pr, epfd);
	free(checks);
	bkey_free(&check_index);
	conf_free(&conf);
	close(lfd);
	unlink(ctl_socket);
	logf_("stopped");
	return 0;
}
