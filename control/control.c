/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-control --config FILE [--api-socket PATH] [--control-socket PATH] [--node NAME]
 *
 * The control daemon. Every backend with a health check (its VIP's, with its
 * own keys on top) is checked (tcp, http, udp or exec), with HAProxy's
 * rise/fall, fastinter/downinter and start jitter (lib/health); when a
 * backend's health changes, the data plane is told through its API
 * (backend.set health=up|down), which answers once every worker runs it.
 * Breakers (lib/breaker), failover levels and slow start (lib/failover) give the
 * control weights of the VIPs that use them. What the daemon decides is
 * lib/ctrl's (each backend's state, breaker signals, weights, the reload
 * plan); this file is its I/O.
 *
 * Bulkhead: the data plane keeps forwarding with its last state when this
 * daemon dies; when it starts again it takes each backend's health from the
 * data plane as the starting point (no flapping, no reset), and converges.
 * SIGHUP or the config.reload request reloads the configuration and pushes
 * the difference to the data plane (lib/ctrl/ctrl_reload.h); checks of backends
 * that stay keep their state; a bad file is rejected whole and nothing
 * changes. The daemon's own socket (root or conf.control.socket_group)
 * answers health.list, health.force, status, config.reload and config.check
 * (cmds).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bgp.h"
#include "checks.h"
#include "conf.h"
#include "counter_schema.h"
#include "ctrl.h"
#include "ctrl_metrics.h"
#include "ctrl_reload.h"
#include "dp_client.h"
#include "sl_types.h"
#include "log.h"
#include "metrics_http.h"
#include "sock.h"
#include "state_file.h"
#include "unix_sock.h"

/* How often managed VIPs' weights are recomputed from the data plane's counters. */
#define FAILOVER_TICK_MS 200
/* How often the data plane is asked whether it answers, and the announcements redone. */
#define BGP_TICK_MS 200
/* The shortest time between two passes over every check (their schedule's resolution). */
#define SCAN_MIN_MS 10
/* Events taken per wait: more than the checks that end in one pass, as a rule. */
#define LOOP_EVENTS 256

/*
 * The daemon: one instance, touched only by its loop (signal handlers set
 * quit and reload). Its logic is lib/ctrl's; what is here is I/O.
 */
static struct daemon {
	struct conf conf;
	struct ctrl_set set;          /* every configured backend's control state */
	struct check_run *check_runs; /* check_runs[i] runs set.b[i]'s check */
	struct ctrl_scratch scratch;
	struct bgp bgp; /* the VIPs this node announces (cluster:) */
	int epfd;
	const char *api_socket;
	const char *node;
	const char *sock_path;              /* --control-socket, else conf.control.socket */
	char state_path[CONF_PATH_MAX + 8]; /* control.state_file, else sock_path + ".state" */
	const char *config_path;
	gid_t sock_gid;
	/*
	 * The daemon's config generation: set from the data plane's at start, it
	 * grows with every applied reload (to at least the data plane's generation
	 * then), so it only grows while the data plane runs.
	 */
	uint64_t generation;
	uint64_t dp_generation; /* from the data plane's last answer */
	bool dp_reachable;
	uint64_t last_read; /* when vip.list was last read by the failover pass */
	/*
	 * When the loop last asked epoll for every ready check socket (a wait
	 * that returned fewer events than it could take): an answer that had
	 * arrived by then has been read. A check is a timeout only if its
	 * deadline passed before that, so time the loop spent elsewhere (a
	 * big request on the socket, a slow data plane, a reload) never turns
	 * an answer waiting in a socket buffer into a failure.
	 */
	uint64_t polled_at;
	time_t loaded_at;
	uint64_t reloads, reload_failures;
	const char *metrics_listen;   /* --metrics ADDR:PORT, NULL: none */
	struct metrics_http *metrics; /* polled from the loop */
} d = {.node = "sluice", .sock_gid = UNIX_SOCK_NO_GROUP, .epfd = -1};

static volatile sig_atomic_t quit, reload;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		quit = 1;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* ---- the data-plane client ---- */

/*
 * How long the daemon waits for the data plane's answer. The same loop runs
 * the checks and the BGP announcements, so a hung data plane must not hold
 * it: a routine request (a read, a health or weight to tell) gives up after
 * DP_TIMEOUT_MS and is tried again on the next pass. A reload's changes wait
 * longer: each is answered once every worker has taken it.
 */
#define DP_TIMEOUT_MS       2000
#define DP_APPLY_TIMEOUT_MS 10000

/*
 * One request to the data plane (dp_call), keeping what every answer says:
 * whether it is reachable and its generation.
 */
static json_object *dp_request_within(json_object *req, int timeout_ms, char *err, size_t len)
{
	json_object *resp = dp_call(d.api_socket, req, timeout_ms, err, len), *g;

	d.dp_reachable = resp != NULL;
	/* As answered: a restarted data plane starts again from its own first generation. */
	if (resp != NULL && json_object_object_get_ex(resp, "generation", &g))
		d.dp_generation = (uint64_t)json_object_get_int64(g);
	return resp;
}

static json_object *dp_request(json_object *req, char *err, size_t len)
{
	return dp_request_within(req, DP_TIMEOUT_MS, err, len);
}

/*
 * backend.set of <b> with <key> = <val> (taken): every health and control
 * weight the daemon tells goes this way. True when the data plane answered:
 * "ok", or a refusal, logged and not retried (not ours to retry: the backend
 * is gone from the data plane). False, logged once until it is reachable
 * again, when it could not be reached: the caller retries.
 */
static bool dp_backend_set(struct ctrl_backend *b, const char *key, json_object *val)
{
	char err[256], ep[80], ip[SL_ADDR_STRLEN];
	json_object *req = json_object_new_object(), *resp, *ok, *e;

	add_str(req, "cmd", "backend.set");
	add_str(req, "vip", b->id.vip);
	add_str(req, "address", sl_addr_format(&b->id.addr, ip, sizeof(ip)));
	json_object_object_add(req, "port", json_object_new_int(b->id.port));
	json_object_object_add(req, key, val);
	resp = dp_request(req, err, sizeof(err));
	json_object_put(req);
	if (resp == NULL) {
		if (!b->told.unreachable_logged)
			log_line("%s %s: cannot tell the data plane (%s); retrying", b->id.vip,
				 ctrl_endpoint(b, ep, sizeof(ep)), err);
		b->told.unreachable_logged = true;
		return false;
	}
	b->told.unreachable_logged = false;
	if (!json_object_object_get_ex(resp, "ok", &ok) || !json_object_get_boolean(ok)) {
		json_object_object_get_ex(resp, "error", &e);
		log_line("%s %s: the data plane refused %s: %s", b->id.vip,
			 ctrl_endpoint(b, ep, sizeof(ep)), key,
			 e ? json_object_get_string(e) : "?");
	}
	json_object_put(resp);
	return true;
}

/* Tells the data plane <b>'s health; false (logged) when it cannot be reached. */
static bool tell_health(struct ctrl_backend *b, bool up)
{
	if (!dp_backend_set(b, "health", json_object_new_string(sl_health_name(sl_health_of(up)))))
		return false;
	b->told.up = up;
	return true;
}

/* Tells the data plane <b>'s control weight; false (logged) when it cannot be reached. */
static bool tell_weight(struct ctrl_backend *b, int32_t w)
{
	if (!dp_backend_set(b, "control_weight", json_object_new_int(w)))
		return false;
	b->told.control_weight = w;
	return true;
}

/* Tells the data plane <b>'s health when it differs from what it was told. */
static void tell_health_if_changed(struct ctrl_backend *b)
{
	if (ctrl_want_up(b) != b->told.up)
		tell_health(b, ctrl_want_up(b));
}

/* The data plane's VIPs (the answer to vip.list; caller puts it), or NULL. */
static json_object *dp_list(json_object **vips)
{
	char err[256];
	json_object *req = json_object_new_object(), *resp;

	add_str(req, "cmd", "vip.list");
	resp = dp_request(req, err, sizeof(err));
	json_object_put(req);
	if (resp != NULL && !json_object_object_get_ex(resp, "vips", vips)) {
		json_object_put(resp);
		resp = NULL;
	}
	return resp;
}

static uint64_t counter(json_object *b, const char *key)
{
	json_object *f;
	/* A counter this data plane does not have reads as 0. */
	return json_object_object_get_ex(b, key, &f) ? (uint64_t)json_object_get_int64(f) : 0;
}

/* Backend <b> of a vip.list answer, as lib/ctrl reads it. */
static void view_of(json_object *b, struct ctrl_dp_view *v)
{
	json_object *f;

	*v = (struct ctrl_dp_view){0};
	if ((v->has_state = json_object_object_get_ex(b, "state", &f)))
		v->ready = strcmp(json_object_get_string(f), "ready") == 0;
	if ((v->has_weight = json_object_object_get_ex(b, "weight", &f)))
		v->weight = (uint32_t)json_object_get_int64(f);
	if ((v->has_control_weight = json_object_object_get_ex(b, "control_weight", &f)))
		v->control_weight = (int32_t)json_object_get_int64(f);
	if ((v->has_health = json_object_object_get_ex(b, "health", &f)))
		v->up = sl_health_parse(json_object_get_string(f)) == SL_HEALTH_UP;
	v->established = counter(b, COUNTER_KEY(established));
	v->connect_fail = counter(b, COUNTER_KEY(connect_fail));
	v->response_timeouts = counter(b, COUNTER_KEY(response_timeouts));
	v->responded = counter(b, COUNTER_KEY(responded));
	v->new_flows = counter(b, COUNTER_KEY(new_flows));
}

/*
 * Calls <fn> for each backend of the data plane's list <vips> that is in
 * <s>, with what the data plane shows of it: O(backends).
 */
static void for_each_listed(json_object *vips, const struct ctrl_set *s,
			    void (*fn)(struct ctrl_backend *b, const struct ctrl_dp_view *v))
{
	for (size_t i = 0; i < json_object_array_length(vips); i++) {
		json_object *v = json_object_array_get_idx(vips, i), *bl, *x;
		if (!json_object_object_get_ex(v, "name", &x) ||
		    !json_object_object_get_ex(v, "backends", &bl))
			continue;
		const char *vname = json_object_get_string(x);
		for (size_t j = 0; j < json_object_array_length(bl); j++) {
			json_object *b = json_object_array_get_idx(bl, j), *f, *p;
			struct ctrl_dp_view view;
			struct ctrl_backend *c;
			struct sl_addr a;
			if (!json_object_object_get_ex(b, "address", &f) ||
			    !json_object_object_get_ex(b, "port", &p) ||
			    sl_addr_parse(&a, json_object_get_string(f)) < 0)
				continue;
			/* A deleted backend still finishing its flows is not the live one. */
			if (json_object_object_get_ex(b, "state", &x) &&
			    strcmp(json_object_get_string(x), "removed") == 0)
				continue;
			c = ctrl_set_lookup(s, vname, &a, (uint16_t)json_object_get_int(p));
			if (c == NULL)
				continue;
			view_of(b, &view);
			fn(c, &view);
		}
	}
}

/* Reads the data plane: admin state, operator weight, passive counters. */
static void read_dataplane(void)
{
	json_object *vips, *resp = dp_list(&vips);

	if (resp == NULL)
		return;
	for_each_listed(vips, &d.set, ctrl_take_dp);
	json_object_put(resp);
}

/* ---- the backends: checks, breakers, weights ---- */

/* A breaker's new state, said in the log with what comes next. */
static void log_breaker(const struct ctrl_backend *b, uint64_t now, void *arg)
{
	const struct breaker *cb = &b->breaker.cb;
	char ep[80];

	(void)arg;
	ctrl_endpoint(b, ep, sizeof(ep));
	switch (cb->state) {
	case BREAKER_OPEN:
		log_line("%s %s: breaker OPEN: ejected for %.1f s (ejection %u in a row, %s)",
			 b->id.vip, ep, (double)breaker_ms_until_probe(cb, now) / 1000.0,
			 cb->ejections, breaker_cause_name(cb->cause));
		break;
	case BREAKER_HALF_OPEN:
		log_line("%s %s: breaker half-open: probing with up to %u new flow(s)", b->id.vip,
			 ep, cb->p.half_open_permits);
		break;
	default:
		log_line("%s %s: breaker closed", b->id.vip, ep);
	}
}

/*
 * Builds the backends of <c>, keeping the state of those that stay; new
 * ones start from the data plane's health in <dp_vips> (NULL: up). Checks
 * in flight are ended. 0, or -ENOMEM (nothing changed).
 */
static int rebuild(const struct conf *c, json_object *dp_vips)
{
	struct ctrl_set next;
	struct check_run *pr;
	uint64_t now = now_ms();
	char ep[80];

	if (ctrl_set_build(&next, c, &d.set, now) < 0)
		return -ENOMEM;
	pr = calloc(next.n ? next.n : 1, sizeof(*pr));
	if (pr == NULL) {
		ctrl_set_free(&next);
		return -ENOMEM;
	}
	for (size_t i = 0; i < next.n; i++) {
		struct ctrl_backend *x = &next.b[i];
		check_run_init(&pr[i]);
		if (c->vips[x->id.vip_index].policy.breaker && !x->breaker.enabled)
			log_line("%s: breaker parameters refused: no breaker", x->id.vip);
	}
	if (dp_vips != NULL)
		for_each_listed(dp_vips, &next, ctrl_take_dp_health);
	for (size_t i = 0; i < next.n; i++) {
		struct ctrl_backend *x = &next.b[i];
		if (x->fresh && ctrl_start(x, d.node, now)) {
			log_line("%s %s: no health check: told up (the data plane had it down)",
				 x->id.vip, ctrl_endpoint(x, ep, sizeof(ep)));
			tell_health(x, true);
		}
	}
	for (size_t i = 0; i < d.set.n; i++)
		check_run_abort(&d.check_runs[i], d.epfd);
	free(d.check_runs);
	ctrl_set_free(&d.set);
	d.set = next;
	d.check_runs = pr;
	return 0;
}

/* The result <r> of backend <i>'s check, at <now>: logged, and told if it changes health. */
static void result(size_t i, enum hc_res r, const char *detail, uint64_t now)
{
	struct ctrl_backend *b = &d.set.b[i];
	int changed;

	b->check.last_duration_ms = (uint32_t)(now - d.check_runs[i].started);
	changed = ctrl_check_result(b, r, detail, now, log_breaker, NULL);
	bool up = b->check.hc.health == HC_UP; /* what the checks say, logged */
	char ep[80];

	if (changed > 0)
		log_line("%s %s: %s after %u %s check(s) (last: %s%s%s)", b->id.vip,
			 ctrl_endpoint(b, ep, sizeof(ep)), up ? "UP" : "DOWN",
			 up ? b->check.hc.p.rise : b->check.hc.p.fall, up ? "passing" : "failing",
			 hc_res_name(r), detail[0] ? ", " : "", detail);
	tell_health_if_changed(b);
}

/*
 * The weights of managed VIPs: breakers fed with what the data plane saw,
 * then failover shares over the priority levels, slow start, ejections
 * (lib/ctrl), told to the data plane as control weights.
 */
static void failover_tick(uint64_t now)
{
	bool any = false;
	size_t first = 0;

	for (uint32_t vi = 0; vi < d.conf.n_vips; vi++)
		any |= ctrl_vip_managed(&d.conf.vips[vi]);
	if (!any)
		return;
	read_dataplane();
	d.last_read = now;
	/* d.set holds each VIP's backends in a row. */
	for (uint32_t vi = 0; vi < d.conf.n_vips; first += d.conf.vips[vi].n_backends, vi++) {
		const struct conf_vip *v = &d.conf.vips[vi];
		struct ctrl_backend *vb = &d.set.b[first];
		uint32_t n = v->n_backends;

		if (!ctrl_vip_managed(v) || n == 0)
			continue;
		if (ctrl_scratch_reserve(&d.scratch, n) < 0)
			continue; /* out of memory: the last weights stay */
		if (ctrl_vip_weights(v, vb, n, &d.scratch, now, log_breaker, NULL) < 0)
			continue;
		for (uint32_t k = 0; k < n; k++)
			if ((int32_t)d.scratch.eff[k] != vb[k].told.control_weight)
				tell_weight(&vb[k], (int32_t)d.scratch.eff[k]);
	}
}

/* The operator's forced health, to the state file; false (logged) when it could not. */
static bool state_save(void)
{
	return state_file_save(d.state_path, &d.set);
}

/* ---- reload: the file, pushed to the data plane ---- */

/* Says once per load where each VIP's breaker takes its signals from. */
static void log_breaker_signals(void)
{
	for (uint32_t i = 0; i < d.conf.n_vips; i++) {
		const struct conf_vip *v = &d.conf.vips[i];
		if (!v->policy.breaker || (v->mode != SL_MODE_DSR && v->mode != SL_MODE_TUNNEL))
			continue;
		uint32_t unchecked = 0;
		for (uint32_t j = 0; j < v->n_backends; j++)
			unchecked += v->backends[j].hc.kind == CONF_HC_NONE;
		log_line("%s (%s): replies bypass Sluice, so there are no passive signals: its "
			 "breaker is fed by the active checks (a failed check is a failure, a pass "
			 "a "
			 "success)",
			 v->name, sl_mode_name((enum sl_mode)v->mode));
		if (unchecked > 0)
			log_line("%s: WARNING: %u backend(s) without a health check: their breaker "
				 "has "
				 "no signal and never trips",
				 v->name, unchecked);
	}
}

static void answer_error(json_object *ans, const char *err)
{
	json_object_object_add(ans, "ok", json_object_new_boolean(0));
	add_str(ans, "error", err);
}

/* Why the data plane refused request <req> (<what> says it for the operator), into <msg>. */
static void refusal(json_object *req, json_object *resp, const char *what, char *msg, size_t len)
{
	json_object *e, *cmd;
	const char *es;

	json_object_object_get_ex(resp, "error", &e);
	json_object_object_get_ex(req, "cmd", &cmd);
	es = e ? json_object_get_string(e) : "?";
	if (strstr(es, "unknown cmd") != NULL)
		snprintf(msg, len, "%s: NOT applied: this data plane has no %s (%s)", what,
			 json_object_get_string(cmd), es);
	else
		snprintf(msg, len, "%s: refused by the data plane: %s", what, es);
}

/*
 * Sends the requests of reload plan <ops> in order, stopping at the first
 * the data plane does not answer. What was applied goes to <changes>, what
 * was not to <errors>; *flows_ended says whether an applied one ended
 * established flows. Returns the number applied.
 */
static size_t apply_plan(json_object *ops, json_object *changes, json_object *errors,
			 bool *flows_ended)
{
	size_t n_ops = json_object_array_length(ops), done = 0;
	char err[512], msg[700];

	for (size_t i = 0; i < n_ops; i++) {
		json_object *op = json_object_array_get_idx(ops, i), *req, *what, *fe, *resp, *ok;
		json_object_object_get_ex(op, "req", &req);
		json_object_object_get_ex(op, "what", &what);
		json_object_object_get_ex(op, "flows_ended", &fe);
		resp = dp_request_within(req, DP_APPLY_TIMEOUT_MS, err, sizeof(err));
		if (resp == NULL) {
			snprintf(msg, sizeof(msg), "%s; %zu of %zu changes applied", err, done,
				 n_ops);
			json_object_array_add(errors, json_object_new_string(msg));
			log_line("reload: %s", msg);
			break;
		}
		if (json_object_object_get_ex(resp, "ok", &ok) && json_object_get_boolean(ok)) {
			done++;
			*flows_ended |= json_object_get_boolean(fe);
			json_object_array_add(changes, json_object_get(what));
			log_line("reload: %s", json_object_get_string(what));
		} else {
			refusal(req, resp, json_object_get_string(what), msg, sizeof(msg));
			json_object_array_add(errors, json_object_new_string(msg));
			log_line("reload: %s", msg);
		}
		json_object_put(resp);
	}
	return done;
}

/*
 * Reloads the configuration file and pushes the difference to the data
 * plane (lib/ctrl/ctrl_reload.h), each request answered once every worker
 * runs it. A bad file, or a data plane that cannot be reached, changes
 * nothing. Fills <ans> (ok, changes, errors, flows_ended, generations); true
 * when the new file was taken.
 */
static bool reload_config(json_object *ans)
{
	struct conf next;
	char err[512];
	json_object *vips, *list, *ops, *changes, *errors;
	bool flows_ended = false;
	size_t done;

	if (conf_load_file(d.config_path, &next, err, sizeof(err)) < 0) {
		log_line("reload rejected, nothing changed: %s", err);
		snprintf(err + strlen(err), sizeof(err) - strlen(err), "%s",
			 " (rejected: nothing changed)");
		answer_error(ans, err);
		return false;
	}
	list = dp_list(&vips);
	if (list == NULL) {
		conf_free(&next);
		snprintf(err, sizeof(err), "cannot reach the data plane at %s: nothing changed",
			 d.api_socket);
		log_line("reload: %s", err);
		answer_error(ans, err);
		return false;
	}
	ops = json_object_new_array();
	ctrl_reload_plan(&d.conf, &next, vips, ops);
	json_object_put(list);
	changes = json_object_new_array();
	errors = json_object_new_array();
	done = apply_plan(ops, changes, errors, &flows_ended);
	json_object_put(ops);
	/* Checks follow the file; new backends start from the data plane's health. */
	list = dp_list(&vips);
	if (rebuild(&next, list ? vips : NULL) < 0) {
		if (list)
			json_object_put(list);
		conf_free(&next);
		json_object_put(changes);
		json_object_put(errors);
		answer_error(ans, "out of memory: the checks stay as they were");
		return false;
	}
	if (list)
		json_object_put(list);
	conf_free(&d.conf);
	d.conf = next;
	d.generation = d.generation + 1 > d.dp_generation ? d.generation + 1 : d.dp_generation;
	d.loaded_at = time(NULL);
	log_breaker_signals();
	log_line("reloaded %s: generation %llu, data plane generation %llu, %zu change(s), %zu "
		 "error(s)%s; checking %zu backends",
		 d.config_path, (unsigned long long)d.generation,
		 (unsigned long long)d.dp_generation, done, json_object_array_length(errors),
		 flows_ended ? ", SOME ESTABLISHED FLOWS WERE ENDED" : "", d.set.n);
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
static void reload_and_extend(json_object *ans)
{
	uint64_t t0 = now_ms(), held;

	d.reloads++;
	if (!reload_config(ans))
		d.reload_failures++;
	held = now_ms() - t0;
	if (d.check_runs == NULL) /* before the first load: nothing in flight */
		return;
	for (size_t i = 0; i < d.set.n; i++)
		if (check_run_busy(&d.check_runs[i]))
			d.check_runs[i].deadline += held;
}

/* ---- the daemon's own socket ---- */

static json_object *backend_json(const struct ctrl_backend *b, uint64_t now)
{
	const struct hc_state *hc = &b->check.hc;
	json_object *o = json_object_new_object();
	char ip[SL_ADDR_STRLEN];

	add_str(o, "vip", b->id.vip);
	add_str(o, "address", sl_addr_format(&b->id.addr, ip, sizeof(ip)));
	json_object_object_add(o, "port", json_object_new_int(b->id.port));
	json_object_object_add(o, "priority", json_object_new_int(b->failover.level));
	if (b->check.enabled) {
		char target[SL_ADDR_STRLEN + 8];

		add_str(o, "health", hc_health_name(hc->health));
		add_str(o, "check_target", ctrl_check_target(b, target, sizeof(target)));
		add_str(o, "last_check", hc_res_name(hc->last));
		add_str(o, "last_detail", hc->last_detail);
		json_object_object_add(o, "checks", json_object_new_int64(hc->checks));
		json_object_object_add(o, "failed_checks", json_object_new_int64(hc->failed));
		json_object_object_add(
			o, "next_check_ms",
			json_object_new_int64(hc_next_due(hc) > now ? hc_next_due(hc) - now : 0));
	} else {
		add_str(o, "health", "unchecked");
	}
	if (b->check.forced >= 0)
		add_str(o, "forced", sl_health_name(sl_health_of(b->check.forced)));
	if (b->breaker.enabled) {
		add_str(o, "breaker_signals", ctrl_breaker_signals(b));
		add_str(o, "breaker", breaker_state_name(b->breaker.cb.state));
		json_object_object_add(o, "ejections",
				       json_object_new_int64(b->breaker.cb.ejections));
		json_object_object_add(
			o, "probe_in_ms",
			json_object_new_int64(breaker_ms_until_probe(&b->breaker.cb, now)));
	}
	json_object_object_add(o, "control_weight", json_object_new_int(b->told.control_weight));
	return o;
}

/* health.list {}: every backend's checks, forced health, breaker and control weight. */
static void cmd_health_list(json_object *req, json_object *resp)
{
	json_object *arr = json_object_new_array();
	uint64_t now = now_ms();

	(void)req;
	for (size_t i = 0; i < d.set.n; i++)
		json_object_array_add(arr, backend_json(&d.set.b[i], now));
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
	json_object_object_add(resp, "backends", arr);
}

/* status {}: what the daemon runs, and whether the data plane answers. */
static void cmd_status(json_object *req, json_object *o)
{
	char when[32], err[256];
	struct tm tm;
	json_object *dreq = json_object_new_object(), *resp;

	(void)req;
	/* The data plane's generation now, not as of the last periodic read. */
	add_str(dreq, "cmd", "status");
	resp = dp_request(dreq, err, sizeof(err));
	json_object_put(dreq);
	if (resp != NULL)
		json_object_put(resp);

	gmtime_r(&d.loaded_at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	add_str(o, "config", d.config_path);
	add_str(o, "loaded_at", when);
	add_str(o, "dataplane_socket", d.api_socket);
	json_object_object_add(o, "dataplane_generation",
			       json_object_new_int64((int64_t)d.dp_generation));
	json_object_object_add(o, "dataplane_reachable", json_object_new_boolean(d.dp_reachable));
	json_object_object_add(o, "vips", json_object_new_int64(d.conf.n_vips));
	json_object_object_add(o, "backends", json_object_new_int64((int64_t)d.set.n));
	bgp_status(&d.bgp, &d.conf, o);
}

/*
 * node {state: drain|ready}: a drained node withdraws every VIP (it keeps
 * forwarding what still reaches it); kept across restarts.
 */
static void cmd_node(json_object *req, json_object *resp)
{
	json_object *st;
	const char *s = "";
	char e[CONF_PATH_MAX + 80];
	int rc;

	if (json_object_object_get_ex(req, "state", &st))
		s = json_object_get_string(st);
	if (strcmp(s, "drain") != 0 && strcmp(s, "ready") != 0) {
		answer_error(resp, "node: state must be drain or ready");
		return;
	}
	if (!d.conf.cluster.enabled) {
		snprintf(e, sizeof(e), "node: %.100s has no cluster: section, nothing is announced",
			 d.config_path);
		answer_error(resp, e);
		return;
	}
	rc = bgp_set_drained(&d.bgp, strcmp(s, "drain") == 0);
	if (rc < 0) {
		snprintf(e, sizeof(e), "node: cannot keep the state in %.100s: %s",
			 d.bgp.drain_path, strerror(-rc));
		answer_error(resp, e);
		return;
	}
	/* Withdrawn (or announced) before the answer: the caller may wait on the router. */
	bgp_tick(&d.bgp, &d.conf, &d.set, d.api_socket, now_ms());
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
	add_str(resp, "node", d.bgp.node.drained ? "drained" : "ready");
}

/* config.reload {}: the file, pushed to the data plane. */
static void cmd_config_reload(json_object *req, json_object *resp)
{
	(void)req;
	reload_and_extend(resp);
}

/* config.check {}: whether the file would load, changing nothing. */
static void cmd_config_check(json_object *req, json_object *o)
{
	struct conf c;
	char err[512], msg[600];
	uint32_t nb = 0;

	(void)req;
	if (conf_load_file(d.config_path, &c, err, sizeof(err)) < 0) {
		answer_error(o, err);
		return;
	}
	for (uint32_t i = 0; i < c.n_vips; i++)
		nb += c.vips[i].n_backends;
	snprintf(msg, sizeof(msg), "%s: ok (%u VIPs, %u backends)", d.config_path, c.n_vips, nb);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	add_str(o, "result", msg);
	conf_free(&c);
}

/*
 * health.force {vip, address, port?, health: up|down|auto}: the operator's
 * health for a backend, over what its checks say (which go on, and show),
 * until "auto" gives it back to them. Kept across reloads and restarts (the
 * state file). Answered once the data plane runs it.
 */
static void cmd_health_force(json_object *req, json_object *resp)
{
	const char *vip, *addr, *h;
	struct sl_addr a;
	struct ctrl_backend *b = NULL;
	char e[320];
	int port;

	state_file_entry(req, &vip, &addr, &port, &h);
	if (sl_health_parse(h) < 0 && strcmp(h, "auto") != 0) {
		snprintf(e, sizeof(e), "health.force: health must be up, down or auto");
		goto fail;
	}
	if (sl_addr_parse(&a, addr) < 0) {
		snprintf(e, sizeof(e), "health.force: bad address \"%.60s\"", addr);
		goto fail;
	}
	/* No port: the VIP's, as the data plane takes it. */
	for (uint32_t i = 0; i < d.conf.n_vips && port < 0; i++)
		if (strcmp(d.conf.vips[i].name, vip) == 0)
			port = d.conf.vips[i].port;
	if (port >= 0 && port <= 65535)
		b = ctrl_set_lookup(&d.set, vip, &a, (uint16_t)port);
	if (b == NULL) {
		snprintf(e, sizeof(e), "health.force: VIP %.60s has no backend %.60s in %.100s",
			 vip, addr, d.conf.path);
		goto fail;
	}
	b->check.forced = strcmp(h, "auto") == 0 ? -1 : sl_health_parse(h) == SL_HEALTH_UP;
	log_line("%s %s: health %s by the operator", b->id.vip, addr,
		 b->check.forced < 0 ? "given back to the checks"
		 : b->check.forced   ? "forced up"
				     : "forced down");
	if (!state_save())
		add_str(resp, "warning",
			"not saved: it will not outlive this daemon (see its log)");
	if (ctrl_want_up(b) != b->told.up && !tell_health(b, ctrl_want_up(b))) {
		snprintf(e, sizeof(e),
			 "health.force: the data plane cannot be told (kept: retried)");
		goto fail;
	}
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
	add_str(resp, "health", sl_health_name(sl_health_of(ctrl_up(b))));
	return;
fail:
	answer_error(resp, e);
}

/* The socket's commands (docs/control.md §6); the error messages list them in this order. */
static const struct cmd {
	const char *name;
	void (*fn)(json_object *req, json_object *resp);
} cmds[] = {
	{"health.list", cmd_health_list},
	{"health.force", cmd_health_force},
	{"status", cmd_status},
	{"config.reload", cmd_config_reload},
	{"config.check", cmd_config_check},
	{"node", cmd_node},
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

/* "health.list, health.force, ..." into <buf>, which is returned. */
static const char *cmd_names(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_CMDS && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
					 cmds[i].name);
	return buf;
}

/* Answers request <buf> into <resp>: the socket's handler (sock.h). */
static void handle_request(const char *buf, json_object *resp)
{
	json_object *req = json_tokener_parse(buf), *cmd;
	const struct cmd *def = NULL;
	char names[128], e[256];

	if (req == NULL || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		snprintf(e, sizeof(e), "expected one JSON object with a \"cmd\" string (%s)",
			 cmd_names(names, sizeof(names)));
		answer_error(resp, e);
		goto out;
	}
	for (size_t i = 0; i < N_CMDS && def == NULL; i++)
		if (strcmp(json_object_get_string(cmd), cmds[i].name) == 0)
			def = &cmds[i];
	if (def != NULL) {
		def->fn(req, resp);
	} else {
		snprintf(e, sizeof(e), "unknown cmd \"%.60s\" (commands: %s)",
			 json_object_get_string(cmd), cmd_names(names, sizeof(names)));
		answer_error(resp, e);
	}
out:
	/* Every answer says which configuration generation the daemon runs. */
	json_object_object_add(resp, "generation", json_object_new_int64((int64_t)d.generation));
	json_object_object_add(resp, "dataplane_generation",
			       json_object_new_int64((int64_t)d.dp_generation));
	if (req != NULL)
		json_object_put(req);
}

/* ---- the loop ---- */

/*
 * The pass over every check at <now>: start what is due, time out what is
 * late, tell the data plane again what it could not be told. Returns when
 * the next check is due or late (at most now + 1 s).
 */
static uint64_t scan(uint64_t now)
{
	uint64_t wake = now + 1000;
	char detail[64];
	enum hc_res r;

	for (size_t i = 0; i < d.set.n; i++) {
		struct ctrl_backend *x = &d.set.b[i];
		struct check_run *pr = &d.check_runs[i];
		uint64_t due = hc_next_due(&x->check.hc);

		if (!x->check.enabled)
			continue;
		if (check_run_busy(pr)) {
			if (now >= pr->deadline && d.polled_at >= pr->deadline) {
				check_run_abort(pr, d.epfd);
				result(i, HC_RES_TIMEOUT, "", now);
			} else if (pr->deadline < wake) {
				wake = pr->deadline;
			}
			continue;
		}
		/* A data plane that could not be told is told again. */
		tell_health_if_changed(x);
		if (now < due) {
			if (due < wake)
				wake = due;
		} else if (check_run_start(pr, &x->check.h, &x->check.addr, x->check.port, now,
					   d.epfd, i, &r, detail, sizeof(detail)) > 0) {
			result(i, r, detail, now);
			if (hc_next_due(&x->check.hc) < wake)
				wake = hc_next_due(&x->check.hc);
		} else if (pr->deadline < wake) {
			wake = pr->deadline;
		}
	}
	return wake;
}

/* Readiness <events> on backend <i>'s check at <now>; *next_scan pulled in to its next one. */
static void on_probe_event(size_t i, uint32_t events, uint64_t now, uint64_t *next_scan)
{
	char detail[64];
	enum hc_res r;

	if (i >= d.set.n || !check_run_busy(&d.check_runs[i]))
		return;
	if (check_run_io(&d.check_runs[i], &d.set.b[i].check.h, events, d.epfd, &r, detail,
			 sizeof(detail)) <= 0)
		return;
	result(i, r, detail, now);
	/* Its next check, if sooner than the next pass. */
	uint64_t due = hc_next_due(&d.set.b[i].check.hc);
	if (due < *next_scan)
		*next_scan = due > now + SCAN_MIN_MS ? due : now + SCAN_MIN_MS;
}

/* Runs until SIGINT or SIGTERM: checks, the failover pass, the data plane's sync, the socket. */
static void run(int lfd)
{
	uint64_t next_failover = 0, next_sync = 0, next_scan = 0, next_bgp = 0;

	while (!quit) {
		struct epoll_event evs[LOOP_EVENTS];
		uint64_t now = now_ms(), wake;

		if (reload) {
			json_object *ans = json_object_new_object();
			reload = 0;
			reload_and_extend(ans); /* logs what it did */
			json_object_put(ans);
			next_scan = 0;
		}
		/*
		 * The pass over every check runs at most every SCAN_MIN_MS: with
		 * thousands of backends whose checks are spread over the interval,
		 * a pass per due time would cost O(backends^2) per interval.
		 */
		if (now >= next_scan) {
			wake = scan(now);
			next_scan = wake > now + SCAN_MIN_MS ? wake : now + SCAN_MIN_MS;
		}
		wake = next_scan;
		if (now >= next_failover) {
			failover_tick(now);
			next_failover = now + FAILOVER_TICK_MS;
		}
		check_run_reap();
		if (now >= next_sync) {
			/* A restarted data plane has everything up: see it, and tell it again. */
			if (now - d.last_read >= 1000) /* the failover pass reads it more often */
				read_dataplane();
			next_sync = now + 1000;
		}
		if (d.conf.cluster.enabled && now >= next_bgp) {
			/* Now: the requests above may have waited on a hung data plane. */
			bgp_tick(&d.bgp, &d.conf, &d.set, d.api_socket, now_ms());
			next_bgp = now + BGP_TICK_MS;
			if (next_bgp < wake)
				wake = next_bgp;
		}
		if (next_failover < wake)
			wake = next_failover;
		if (next_sync < wake)
			wake = next_sync;
		uint64_t asked = now_ms();
		int n = epoll_wait(d.epfd, evs, LOOP_EVENTS,
				   (int)(wake > asked ? wake - asked : 0));
		now = now_ms();
		if (n >= 0 && n < LOOP_EVENTS) /* all that was ready: see polled_at */
			d.polled_at = asked;
		for (int e = 0; e < n; e++) {
			if (evs[e].data.u64 == UINT64_MAX)
				sock_serve(lfd, d.sock_path, d.sock_gid, handle_request);
			else if (evs[e].data.u64 == UINT64_MAX - 1)
				continue; /* /metrics: polled below */
			else
				on_probe_event((size_t)evs[e].data.u64, evs[e].events, now,
					       &next_scan);
		}
		metrics_http_poll(d.metrics); /* at least every second: connection timeouts */
	}
}

static int usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s --config FILE [--api-socket PATH] [--control-socket PATH] [--node "
		"NAME]\n"
		"       [--metrics ADDR:PORT]  (Prometheus /metrics, e.g. 127.0.0.1:9561)\n"
		"  Runs the backends' health checks, breakers and failover, and tells the data\n"
		"  plane. SIGHUP (or sluicectl config reload) reloads FILE and pushes the\n"
		"  difference to the data plane; SIGTERM stops.\n",
		prog);
	return 2;
}

/* The command line into d; 0, or the usage's exit status. */
static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"api-socket", required_argument, NULL, 's'},
		{"node", required_argument, NULL, 'n'},
		{"control-socket", required_argument, NULL, 'C'},
		{"metrics", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 's':
			d.api_socket = optarg;
			break;
		case 'n':
			d.node = optarg;
			break;
		case 'C':
			d.sock_path = optarg;
			break;
		case 'm':
			d.metrics_listen = optarg;
			break;
		default:
			return usage(argv[0]);
		}
	}
	return d.config_path == NULL ? usage(argv[0]) : 0;
}

/* /metrics: the backends' checks, health and breakers (lib/ctrl/ctrl_metrics.c). */
static void render_metrics(FILE *f, void *ctx)
{
	struct ctrl_metrics_daemon dm = {
		.dataplane_reachable = d.dp_reachable,
		.dataplane_generation = d.dp_generation,
		.reloads = d.reloads,
		.reload_failures = d.reload_failures,
		.has_cluster = d.conf.cluster.enabled,
		.drained = d.bgp.node.drained,
		.bird_told = d.bgp.bird_told,
		.conf = &d.conf,
		.why = d.bgp.why,
		.n_why = d.bgp.n_why,
	};

	(void)ctx;
	ctrl_metrics_write(f, &d.set, &dm);
}

/* --metrics: served from the loop (its epoll descriptor in ours), or exits. */
static void start_metrics(void)
{
	char err[256];
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX - 1};

	if (d.metrics_listen == NULL)
		return;
	d.metrics = metrics_http_start(d.metrics_listen, render_metrics, NULL, err, sizeof(err));
	if (d.metrics == NULL) {
		fprintf(stderr, "sluice-control: %s\n", err);
		exit(2);
	}
	epoll_ctl(d.epfd, EPOLL_CTL_ADD, metrics_http_fd(d.metrics), &ev);
}

/*
 * Start-up: the file, the backends (from the data plane's health), the
 * operator's forced health, the socket. Returns its listening fd, or exits.
 */
static int start(void)
{
	char err[512], drain[sizeof(d.state_path) + 16];
	json_object *vips, *list;
	int lfd;

	if (conf_load_file(d.config_path, &d.conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-control: %s\n", err);
		exit(2);
	}
	d.loaded_at = time(NULL);
	if (d.api_socket == NULL)
		d.api_socket = d.conf.dp.api_socket;
	if (d.sock_path == NULL)
		d.sock_path = d.conf.control.socket;
	if (unix_sock_group(d.conf.control.socket_group, &d.sock_gid, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-control: %s: control.socket_group: %s\n", d.config_path,
			err);
		exit(2);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	list = dp_list(&vips);
	if (d.epfd < 0 || rebuild(&d.conf, list ? vips : NULL) < 0) {
		fprintf(stderr, "sluice-control: out of memory\n");
		exit(1);
	}
	if (list != NULL)
		json_object_put(list);
	if (d.conf.control.state_file[0] != '\0')
		snprintf(d.state_path, sizeof(d.state_path), "%s", d.conf.control.state_file);
	else
		snprintf(d.state_path, sizeof(d.state_path), "%s.state", d.sock_path);
	state_file_load(d.state_path, &d.set, d.conf.path, tell_health_if_changed);
	snprintf(drain, sizeof(drain), "%s.drained", d.state_path);
	bgp_init(&d.bgp, &d.conf, drain);
	/* The config generation starts where the data plane is (it only grows there). */
	d.generation = d.dp_generation > 0 ? d.dp_generation : 1;
	lfd = unix_sock_listen(d.sock_path, d.sock_gid, 16, err, sizeof(err));
	if (lfd < 0) {
		fprintf(stderr, "sluice-control: %s\n", err);
		exit(1);
	}
	struct epoll_event lev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	epoll_ctl(d.epfd, EPOLL_CTL_ADD, lfd, &lev);
	start_metrics();
	return lfd;
}

int main(int argc, char **argv)
{
	int rc = parse_args(argc, argv), lfd;

	if (rc != 0)
		return rc;
	lfd = start();
	log_line("checking %zu backends; data plane at %s (%s); state on %s%s%s", d.set.n,
		 d.api_socket, d.dp_reachable ? "reachable" : "NOT reachable yet", d.sock_path,
		 d.sock_gid == UNIX_SOCK_NO_GROUP ? " (root only)" : " (root and group ",
		 d.sock_gid == UNIX_SOCK_NO_GROUP ? "" : d.conf.control.socket_group);
	log_breaker_signals();
	run(lfd);
	metrics_http_stop(d.metrics);
	for (size_t i = 0; i < d.set.n; i++)
		check_run_abort(&d.check_runs[i], d.epfd);
	free(d.check_runs);
	ctrl_set_free(&d.set);
	ctrl_scratch_free(&d.scratch);
	bgp_free(&d.bgp);
	conf_free(&d.conf);
	close(lfd);
	/*
	 * start() set sock_path (never NULL after it); clang-analyzer 14 takes
	 * d's initializer back after a call that writes into d, and sees NULL.
	 */
	unlink(d.sock_path); /* NOLINT(clang-analyzer-core.NonNullParamChecker) */
	log_line("stopped");
	return 0;
}
