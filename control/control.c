/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-control --config FILE [--api-socket PATH] [--node NAME]
 *
 * The control daemon, first part: active health checks. Every backend of a
 * VIP with a health_check is checked (tcp, http, udp or exec), with
 * HAProxy's rise/fall, fastinter/downinter and start jitter (lib/health);
 * when a backend's health changes, the data plane is told through its API
 * (backend.set health=up|down), which answers once every worker runs it.
 *
 * Bulkhead: the data plane keeps forwarding with its last state when this
 * daemon dies; when it starts again it takes each backend's health from the
 * data plane as the starting point (no flapping, no reset), and converges.
 * SIGHUP reloads the configuration (checks of backends that stay keep their
 * state); a bad file is rejected and the running checks go on.
 */
#include <errno.h>
#include <getopt.h>
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

#include "checks.h"
#include "conf.h"
#include "dp_client.h"
#include "breaker.h"
#include "health.h"
#include "pool.h"

struct check {
	char vip[CONF_NAME_MAX];
	struct lb_addr addr;
	uint16_t port;       /* the backend's service port (data-plane identity) */
	uint16_t check_port; /* where the check goes */
	struct conf_health h;
	struct hc_state hc;
	struct probe pr;
	bool dp_up;  /* what the data plane was last told */
	bool has_hc; /* the VIP has a health check (else: taken as up) */
	/* Weights (failover levels, slow start, breaker), when the VIP uses them: */
	uint32_t vip_index;                 /* into conf.vips */
	uint8_t level;                      /* priority */
	struct cb_breaker cb;               /* fed by the data plane's passive counters */
	uint64_t established, connect_fail; /* last values read */
	bool counters_seen;
	bool eligible;   /* admin state ready, as the data plane has it */
	uint32_t weight; /* the operator's weight, as the data plane has it */
	bool healthy_before;
	uint64_t up_since; /* slow start origin */
	bool panic_up;     /* its level is in panic: told up whatever its checks say */
	int32_t dp_ctl;    /* control_weight last told (-2: not yet) */
	uint64_t pending_ok, pending_fail; /* counter growth not yet fed to the breaker */
	bool unreachable_logged;           /* the data plane could not be told: said once */
};

/* How often managed VIPs' weights are recomputed from the data plane's counters. */
#define POOL_TICK_MS 200

static struct conf conf;
static struct check *checks;
static size_t n_checks;
static const char *api_socket;
static const char *node = "sluice";
static const char *ctl_socket = "/run/sluice/control.sock";
static volatile sig_atomic_t quit, reload;

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
	resp = dp_call(api_socket, req, 10, err, sizeof(err));
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

/* Each backend's health as the data plane has it (the starting point after a restart). */
static bool dp_health(const struct check *c, bool *up)
{
	char err[256], ip[LB_ADDR_STRLEN];
	json_object *req = json_object_new_object(), *resp, *vips;
	bool found = false;

	json_object_object_add(req, "cmd", json_object_new_string("vip.list"));
	resp = dp_call(api_socket, req, 10, err, sizeof(err));
	json_object_put(req);
	if (resp == NULL)
		return false;
	lb_addr_format(&c->addr, ip, sizeof(ip));
	if (json_object_object_get_ex(resp, "vips", &vips))
		for (size_t i = 0; i < json_object_array_length(vips) && !found; i++) {
			json_object *v = json_object_array_get_idx(vips, i), *bl, *x;
			if (!json_object_object_get_ex(v, "name", &x) ||
			    strcmp(json_object_get_string(x), c->vip) != 0 ||
			    !json_object_object_get_ex(v, "backends", &bl))
				continue;
			for (size_t j = 0; j < json_object_array_length(bl); j++) {
				json_object *b = json_object_array_get_idx(bl, j), *a, *p, *h;
				if (json_object_object_get_ex(b, "address", &a) &&
				    json_object_object_get_ex(b, "port", &p) &&
				    json_object_object_get_ex(b, "health", &h) &&
				    strcmp(json_object_get_string(a), ip) == 0 &&
				    json_object_get_int(p) == c->port) {
					*up = strcmp(json_object_get_string(h), "up") == 0;
					found = true;
					break;
				}
			}
		}
	json_object_put(resp);
	return found;
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

/* Builds the check list from <c>, keeping the state of checks that stay. */
static int build_checks(const struct conf *c, int epfd)
{
	size_t n = 0, k = 0;
	struct check *next;
	uint64_t now = now_ms();

	for (uint32_t i = 0; i < c->n_vips; i++)
		n += c->vips[i].n_backends;
	next = calloc(n ? n : 1, sizeof(*next));
	if (next == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->n_vips; i++) {
		const struct conf_vip *v = &c->vips[i];
		for (uint32_t j = 0; j < v->n_backends; j++) {
			struct check *x = &next[k++];
			struct hc_params p;
			char ep[80];
			bool up = true, kept = false;

			snprintf(x->vip, sizeof(x->vip), "%s", v->name);
			x->addr = v->backends[j].addr;
			x->port = v->backends[j].port ? v->backends[j].port : v->port;
			x->check_port = v->hc.port ? v->hc.port : x->port;
			x->h = v->hc;
			x->has_hc = v->hc.kind != CONF_HC_NONE;
			x->vip_index = i;
			x->level = v->backends[j].priority;
			x->dp_ctl = -2;
			x->eligible = true;
			x->weight = v->backends[j].weight;
			x->up_since = 0; /* as if up for long: a restart ramps nothing */
			probe_init(&x->pr);
			if (!x->has_hc) {
				/* No check: periodic, harmless defaults keep hc_* quiet. */
				x->h.interval_ms = 1000;
				x->h.timeout_ms = 1000;
				x->h.rise = 1;
				x->h.fall = 1;
			}
			hc_params_of(&x->h, &p);
			if (v->policy.breaker) {
				struct cb_params cp;
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
				cb_init(&x->cb, &cp, now, fnv1a(x->vip, (uint64_t)j + 1));
			}
			for (size_t o = 0; o < n_checks; o++) {
				struct check *old = &checks[o];
				if (strcmp(old->vip, x->vip) == 0 && old->port == x->port &&
				    lb_addr_eq(&old->addr, &x->addr)) {
					probe_abort(&old->pr, epfd);
					x->hc = old->hc;
					x->dp_up = old->dp_up;
					x->cb = old->cb;
					x->up_since = old->up_since;
					x->dp_ctl = old->dp_ctl;
					x->established = old->established;
					x->connect_fail = old->connect_fail;
					x->counters_seen = old->counters_seen;
					hc_set_params(&x->hc, &p, now);
					kept = true;
				}
			}
			if (kept)
				continue;
			/* Start from what the data plane has, as a settled state: a restart
			 * changes nothing until the checks say otherwise. */
			if (!dp_health(x, &up))
				up = true;
			x->dp_up = up;
			endpoint(x, ep, sizeof(ep));
			hc_init(&x->hc, &p, up ? HC_INIT_FULLY_UP : HC_INIT_FULLY_DOWN, now,
				fnv1a(ep, fnv1a(x->vip, fnv1a(node, 0xcbf29ce484222325ull))));
		}
	}
	for (size_t o = 0; o < n_checks; o++)
		probe_abort(&checks[o].pr, epfd);
	free(checks);
	checks = next;
	n_checks = k;
	return 0;
}

static void result(struct check *c, enum hc_res r, const char *detail, uint64_t now)
{
	char ep[80];
	int changed = hc_result(&c->hc, r, detail, now);
	bool up = c->hc.health == HC_UP;

	if (changed > 0)
		logf_("%s %s: %s after %u %s check(s) (last: %s%s%s)", c->vip,
		      endpoint(c, ep, sizeof(ep)), up ? "UP" : "DOWN",
		      up ? c->hc.p.rise : c->hc.p.fall, up ? "passing" : "failing", hc_res_name(r),
		      detail[0] ? ", " : "", detail);
	if ((up || c->panic_up) != c->dp_up)
		push_health(c, up || c->panic_up);
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
	resp = dp_call(api_socket, req, 10, err, sizeof(err));
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

static struct check *find_member(const char *vip, const char *addr, int port)
{
	struct lb_addr a;

	if (lb_addr_parse(&a, addr) < 0)
		return NULL;
	for (size_t i = 0; i < n_checks; i++)
		if (checks[i].port == port && strcmp(checks[i].vip, vip) == 0 &&
		    lb_addr_eq(&checks[i].addr, &a))
			return &checks[i];
	return NULL;
}

/* Reads the data plane: admin state, operator weight, passive counters. */
static void read_dataplane(void)
{
	char err[256];
	json_object *req = json_object_new_object(), *resp, *vips;

	json_object_object_add(req, "cmd", json_object_new_string("vip.list"));
	resp = dp_call(api_socket, req, 10, err, sizeof(err));
	json_object_put(req);
	if (resp == NULL)
		return;
	if (json_object_object_get_ex(resp, "vips", &vips))
		for (size_t i = 0; i < json_object_array_length(vips); i++) {
			json_object *v = json_object_array_get_idx(vips, i), *bl, *x;
			if (!json_object_object_get_ex(v, "name", &x) ||
			    !json_object_object_get_ex(v, "backends", &bl))
				continue;
			const char *vname = json_object_get_string(x);
			for (size_t j = 0; j < json_object_array_length(bl); j++) {
				json_object *b = json_object_array_get_idx(bl, j), *f;
				struct check *c;
				if (!json_object_object_get_ex(b, "address", &f))
					continue;
				const char *addr = json_object_get_string(f);
				json_object_object_get_ex(b, "port", &f);
				c = find_member(vname, addr, json_object_get_int(f));
				if (c == NULL)
					continue;
				if (json_object_object_get_ex(b, "state", &f))
					c->eligible =
						strcmp(json_object_get_string(f), "ready") == 0;
				if (json_object_object_get_ex(b, "weight", &f))
					c->weight = (uint32_t)json_object_get_int64(f);
				if (json_object_object_get_ex(b, "control_weight", &f))
					c->dp_ctl = (int32_t)json_object_get_int64(f);
				if (json_object_object_get_ex(b, "health", &f))
					c->dp_up = strcmp(json_object_get_string(f), "up") == 0;
				uint64_t est = 0, fail = 0;
				if (json_object_object_get_ex(b, "established", &f))
					est = (uint64_t)json_object_get_int64(f);
				if (json_object_object_get_ex(b, "connect_fail", &f))
					fail = (uint64_t)json_object_get_int64(f);
				if (!c->counters_seen || est < c->established ||
				    fail < c->connect_fail) {
					/* First look, or the slot was reset: a new baseline. */
					c->established = est;
					c->connect_fail = fail;
					c->counters_seen = true;
					continue;
				}
				c->pending_ok += est - c->established;
				c->pending_fail += fail - c->connect_fail;
				c->established = est;
				c->connect_fail = fail;
			}
		}
	json_object_put(resp);
}

/*
 * The weights of managed VIPs: breakers fed with what the data plane saw,
 * then failover shares over the priority levels, slow start, ejections
 * (lib/pool), told to the data plane as control weights.
 */
static void pool_tick(uint64_t now)
{
	static struct pool_member m[1024];
	static uint32_t eff[1024];
	static size_t idx[1024];
	char ep[80];

	bool any = false;
	for (uint32_t vi = 0; vi < conf.n_vips; vi++)
		any |= managed(vi);
	if (!any)
		return;
	read_dataplane();
	for (uint32_t vi = 0; vi < conf.n_vips; vi++) {
		const struct conf_vip *v = &conf.vips[vi];
		struct pool_params pp;
		struct pool_split split;
		uint32_t n = 0, n_ejected = 0;

		if (!managed(vi))
			continue;
		for (size_t i = 0; i < n_checks && n < 1024; i++)
			if (checks[i].vip_index == vi) {
				idx[n++] = i;
				n_ejected += v->policy.breaker && cb_is_ejected(&checks[i].cb);
			}
		for (uint32_t k = 0; k < n; k++) {
			struct check *c = &checks[idx[k]];
			if (v->policy.breaker) {
				bool was = cb_is_ejected(&c->cb);
				for (uint64_t f = 0; f < c->pending_fail && f < 1000; f++) {
					bool may = cb_pool_may_eject(
						n, n_ejected, v->policy.max_ejection_percent);
					cb_on_failure(&c->cb, now, may);
				}
				for (uint64_t s = 0; s < c->pending_ok && s < 1000; s++)
					cb_on_success(&c->cb, now);
				cb_tick(&c->cb, now);
				if (was != cb_is_ejected(&c->cb)) {
					n_ejected += was ? -1u : 1u;
					logf_("%s %s: breaker %s (%s)", c->vip,
					      endpoint(c, ep, sizeof(ep)),
					      cb_is_ejected(&c->cb) ? "OPEN: ejected"
								    : "closed or probing",
					      cb_state_name(c->cb.state));
				}
			}
			c->pending_fail = c->pending_ok = 0;
			bool healthy = (!c->has_hc || c->hc.health == HC_UP) &&
				       (!v->policy.breaker || !cb_is_ejected(&c->cb));
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
			struct check *c = &checks[idx[k]];
			/* In panic a level spreads over all its backends, down ones too. */
			c->panic_up = c->level < POOL_MAX_LEVELS && split.panic[c->level];
			if ((int32_t)eff[k] != c->dp_ctl)
				push_ctl_weight(c, (int32_t)eff[k]);
		}
	}
}

/* ---- the daemon's own socket: `sluicectl show health` ---- */

static int ctl_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 8) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static json_object *health_json(uint64_t now)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n_checks; i++) {
		const struct check *c = &checks[i];
		const struct conf_vip *v = &conf.vips[c->vip_index];
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
		if (v->policy.breaker) {
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

/* One request per connection, answered at once (small, local, root only). */
static void ctl_serve(int lfd)
{
	for (;;) {
		char buf[4096];
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		json_object *resp;
		ssize_t n;

		if (fd < 0)
			return;
		struct timeval tv = {.tv_sec = 1};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		resp = json_object_new_object();
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0) {
			json_object_object_add(resp, "ok", json_object_new_boolean(0));
			json_object_object_add(
				resp, "error",
				json_object_new_string("permission denied: root only"));
		} else {
			size_t used = 0;
			/* Up to the end of the request line (bounded by the buffer). */
			while (used < sizeof(buf) - 1 &&
			       (n = read(fd, buf + used, sizeof(buf) - 1 - used)) > 0) {
				used += (size_t)n;
				if (memchr(buf, '\n', used) != NULL)
					break;
			}
			buf[used] = '\0';
			json_object *req = json_tokener_parse(buf), *cmd;
			if (req != NULL && json_object_object_get_ex(req, "cmd", &cmd) &&
			    strcmp(json_object_get_string(cmd), "health.list") == 0) {
				json_object_object_add(resp, "ok", json_object_new_boolean(1));
				json_object_object_add(resp, "backends", health_json(now_ms()));
			} else {
				json_object_object_add(resp, "ok", json_object_new_boolean(0));
				json_object_object_add(
					resp, "error",
					json_object_new_string("unknown cmd (try health.list)"));
			}
			if (req != NULL)
				json_object_put(req);
		}
		const char *out = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
		if (write(fd, out, strlen(out)) < 0 || write(fd, "\n", 1) < 0)
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
		"  Runs the VIPs' health checks and tells the data plane.\n"
		"  SIGHUP reloads FILE; SIGTERM stops.\n",
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
	if (api_socket == NULL)
		api_socket = conf.dp.api_socket;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || build_checks(&conf, epfd) < 0) {
		fprintf(stderr, "sluice-control: out of memory\n");
		return 1;
	}
	int lfd = ctl_listen(ctl_socket);
	if (lfd < 0) {
		fprintf(stderr, "sluice-control: cannot listen on %s: %s\n", ctl_socket,
			strerror(errno));
		return 1;
	}
	struct epoll_event lev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
	logf_("checking %zu backends; data plane at %s; state on %s", n_checks, api_socket,
	      ctl_socket);
	uint64_t next_pool = 0, next_sync = 0;

	while (!quit) {
		struct epoll_event evs[64];
		uint64_t now = now_ms(), wake = now + 1000;
		char detail[64];
		enum hc_res r;

		if (reload) {
			struct conf next;
			reload = 0;
			if (conf_load_file(config, &next, err, sizeof(err)) < 0) {
				logf_("reload rejected, the running checks go on: %s", err);
			} else if (build_checks(&next, epfd) < 0) {
				logf_("reload: out of memory, the running checks go on");
				conf_free(&next);
			} else {
				conf_free(&conf);
				conf = next;
				logf_("reloaded %s: checking %zu backends", config, n_checks);
			}
		}
		for (size_t i = 0; i < n_checks; i++) {
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
			if ((x->hc.health == HC_UP || x->panic_up) != x->dp_up)
				push_health(x, x->hc.health == HC_UP || x->panic_up);
			if (now >= hc_next_due(&x->hc)) {
				if (probe_start(&x->pr, &x->h, &x->addr, x->check_port, now, epfd,
						i, &r, detail, sizeof(detail)) > 0)
					result(x, r, detail, now);
				else if (x->pr.deadline < wake)
					wake = x->pr.deadline;
			} else if (hc_next_due(&x->hc) < wake) {
				wake = hc_next_due(&x->hc);
			}
		}
		if (now >= next_pool) {
			pool_tick(now);
			next_pool = now + POOL_TICK_MS;
		}
		if (now >= next_sync) {
			/* A restarted data plane has everything up: see it, and tell it again. */
			read_dataplane();
			next_sync = now + 1000;
		}
		if (next_pool < wake)
			wake = next_pool;
		int n = epoll_wait(epfd, evs, 64, (int)(wake > now ? wake - now : 0));
		now = now_ms();
		for (int e = 0; e < n; e++) {
			if (evs[e].data.u64 == UINT64_MAX) {
				ctl_serve(lfd);
				continue;
			}
			size_t i = (size_t)evs[e].data.u64;
			if (i >= n_checks || !probe_busy(&checks[i].pr))
				continue;
			if (probe_io(&checks[i].pr, &checks[i].h, evs[e].events, epfd, &r, detail,
				     sizeof(detail)) > 0)
				result(&checks[i], r, detail, now);
		}
	}
	for (size_t i = 0; i < n_checks; i++)
		probe_abort(&checks[i].pr, epfd);
	free(checks);
	conf_free(&conf);
	close(lfd);
	unlink(ctl_socket);
	logf_("stopped");
	return 0;
}
