/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluicectl: the operator's command line for Sluice's runtime API
 * (docs/api.md). Human-readable tables by default, --json for scripts.
 *
 * Exit status: 0 done; 1 refused (the data plane's or the control daemon's
 * message on stderr, or a bad config file); 2 bad usage; 3 cannot reach the
 * data plane (or, for the commands that need it, the control daemon).
 *
 * The command table below is the single source of the verbs, their usage
 * text and their handlers (HAProxy's CLI keyword table, in miniature).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "conf.h"
#include "dp_client.h"
#include "scheduler.h"

#define DEFAULT_SOCKET "/run/sluice/dataplane.sock"
#define EXIT_REFUSED   1
#define EXIT_USAGE     2
#define EXIT_UNREACH   3

static const char *sock_path = DEFAULT_SOCKET;
static const char *ctl_path = "/run/sluice/control.sock";
static bool json_out;
static bool to_ctl; /* the next request goes to the control daemon */

/* ---- talking to the data plane (or the control daemon) ---- */

/*
 * Bytes a terminal may act on: C0 controls, DEL, and C1 controls, raw or
 * UTF-8 encoded (U+0080..U+009F is 0xc2 0x80..0x9f; U+009B is a CSI).
 * Returns how many bytes at <s> form one, or 0.
 */
static size_t control_len(const unsigned char *s)
{
	if (s[0] < 0x20 || s[0] == 0x7f || (s[0] >= 0x80 && s[0] <= 0x9f))
		return 1;
	if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
		return 2;
	return 0;
}

/* Whether <s>[0..len) holds a byte control_len() finds. */
static bool has_controls(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (control_len((const unsigned char *)&s[i]) > 0)
			return true;
	return false;
}

/* <s>[0..len) with every control byte as \xHH (caller frees), or NULL when it has none. */
static char *escaped(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out, *o;

	if (!has_controls(s, len))
		return NULL;
	out = malloc(4 * len + 1);
	if (out == NULL)
		return NULL;
	o = out;
	for (size_t i = 0; i < len; i++) {
		size_t c = control_len(&u[i]);

		for (size_t k = 0; k < c; k++)
			o += sprintf(o, "\\x%02x", u[i + k]);
		if (c == 0)
			*o++ = (char)u[i];
		else
			i += c - 1;
	}
	*o = '\0';
	return out;
}

/*
 * What a peer sent reaches the operator's terminal (a VIP name, a value
 * echoed in an error): every string and key of an answer gets its control
 * characters (NUL included) escaped before anything prints it, so nothing
 * received can move the cursor, retitle the window or hide a line. A string
 * that cannot be rewritten (out of memory) becomes "?".
 */
static void escape_controls(json_object *o)
{
	if (json_object_is_type(o, json_type_string)) {
		char *e = escaped(json_object_get_string(o), (size_t)json_object_get_string_len(o));

		if (e != NULL ||
		    has_controls(json_object_get_string(o), (size_t)json_object_get_string_len(o)))
			json_object_set_string(o, e != NULL ? e : "?");
		free(e);
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			escape_controls(json_object_array_get_idx(o, i));
	} else if (json_object_is_type(o, json_type_object)) {
		json_object *bad = json_object_new_array();

		json_object_object_foreach(o, key, val)
		{
			escape_controls(val);
			if (bad != NULL && has_controls(key, strlen(key)))
				json_object_array_add(bad, json_object_new_string(key));
		}
		for (size_t i = 0; bad != NULL && i < json_object_array_length(bad); i++) {
			const char *name =
				json_object_get_string(json_object_array_get_idx(bad, i));
			char *e = escaped(name, strlen(name));
			json_object *moved = NULL;

			json_object_object_get_ex(o, name, &moved);
			json_object_get(moved);
			json_object_object_del(o, name);
			json_object_object_add(o, e != NULL ? e : "?", moved);
			free(e);
		}
		json_object_put(bad);
	}
}

/* Sends one request, returns the parsed answer or NULL (message printed unless <quiet>). */
static json_object *call_q(json_object *req, bool quiet, char *err, size_t len)
{
	json_object *resp = to_ctl ? json_call(ctl_path, "the control daemon", req, 60000, err, len)
				   : dp_call(sock_path, req, 30000, err, len);

	if (resp != NULL)
		escape_controls(resp);

	if (resp == NULL && !quiet)
		fprintf(stderr, "sluicectl: %s\n%s", err,
			!strstr(err, "cannot reach") ? ""
			: to_ctl ? "  (is sluice-control running? another socket: -c PATH)\n"
				 : "  (is sluice-dataplane running? another socket: -s PATH)\n");
	return resp;
}

static json_object *call(json_object *req)
{
	char err[512];
	return call_q(req, false, err, sizeof(err));
}

static const char *sget(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int64_t iget(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

/* Prints answer <resp> (consumed) with <show> unless --json; the exit status. */
static int finish(json_object *resp, void (*show)(json_object *resp))
{
	json_object *ok;
	int rc = 0;

	if (json_out) {
		printf("%s\n", json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY));
		rc = json_object_object_get_ex(resp, "ok", &ok) && json_object_get_boolean(ok)
			     ? 0
			     : EXIT_REFUSED;
	} else if (!json_object_object_get_ex(resp, "ok", &ok) || !json_object_get_boolean(ok)) {
		fprintf(stderr, "sluicectl: %s\n", sget(resp, "error"));
		rc = EXIT_REFUSED;
	} else if (show != NULL) {
		show(resp);
	} else {
		printf("ok (generation %lld)\n", (long long)iget(resp, "generation"));
	}
	/* Done, but with something the operator should know (health.force: not saved). */
	if (!json_out && json_object_object_get_ex(resp, "warning", &ok))
		fprintf(stderr, "sluicectl: warning: %s\n", json_object_get_string(ok));
	json_object_put(resp);
	return rc;
}

/* Sends <req> (consumed); prints the answer with <show> unless --json. */
static int run(json_object *req, void (*show)(json_object *resp))
{
	json_object *resp = call(req);

	json_object_put(req);
	if (resp == NULL)
		return EXIT_UNREACH;
	return finish(resp, show);
}

/* ---- tables ---- */

static void show_vips(json_object *resp)
{
	json_object *vips;

	if (!json_object_object_get_ex(resp, "vips", &vips))
		return;
	printf("%-16s %-28s %-4s %-7s %-7s %8s %12s %14s\n", "VIP", "SERVICE", "PROTO", "MODE",
	       "SCHED", "BACKENDS", "NEW_FLOWS", "PACKETS");
	for (size_t i = 0; i < json_object_array_length(vips); i++) {
		json_object *v = json_object_array_get_idx(vips, i), *bl;
		char svc[80];
		json_object_object_get_ex(v, "backends", &bl);
		snprintf(svc, sizeof(svc),
			 strchr(sget(v, "address"), ':') ? "[%s]:%lld" : "%s:%lld",
			 sget(v, "address"), (long long)iget(v, "port"));
		printf("%-16s %-28s %-4s %-7s %-7s %8zu %12lld %14lld\n", sget(v, "name"), svc,
		       sget(v, "protocol"), sget(v, "mode"), sget(v, "scheduler"),
		       bl ? json_object_array_length(bl) : 0, (long long)iget(v, "new_flows"),
		       (long long)iget(v, "pkts"));
	}
	printf("generation %lld\n", (long long)iget(resp, "generation"));
}

static const char *backend_filter;

static void show_backends(json_object *resp)
{
	json_object *vips;

	if (!json_object_object_get_ex(resp, "vips", &vips))
		return;
	printf("%-16s %-28s %6s %6s %-8s %-6s %-10s %8s %10s %12s\n", "VIP", "BACKEND", "WEIGHT",
	       "EFF", "STATE", "HEALTH", "NEIGHBOUR", "ACTIVE", "NEW_FLOWS", "PACKETS");
	for (size_t i = 0; i < json_object_array_length(vips); i++) {
		json_object *v = json_object_array_get_idx(vips, i), *bl;
		if (backend_filter != NULL && strcmp(backend_filter, sget(v, "name")) != 0)
			continue;
		if (!json_object_object_get_ex(v, "backends", &bl))
			continue;
		for (size_t j = 0; j < json_object_array_length(bl); j++) {
			json_object *b = json_object_array_get_idx(bl, j);
			char ep[80];
			snprintf(ep, sizeof(ep),
				 strchr(sget(b, "address"), ':') ? "[%s]:%lld" : "%s:%lld",
				 sget(b, "address"), (long long)iget(b, "port"));
			printf("%-16s %-28s %6lld %6lld %-8s %-6s %-10s %8lld %10lld %12lld\n",
			       sget(v, "name"), ep, (long long)iget(b, "weight"),
			       (long long)iget(b, "effective_weight"), sget(b, "state"),
			       sget(b, "health"), sget(b, "neighbour"),
			       (long long)iget(b, "active_flows"), (long long)iget(b, "new_flows"),
			       (long long)iget(b, "pkts"));
		}
	}
	printf("generation %lld\n", (long long)iget(resp, "generation"));
}

static void show_stats(json_object *resp)
{
	json_object *c, *drops, *lcores;

	if (!json_object_object_get_ex(resp, "counters", &c))
		return;
	/* Every counter the data plane sends, in its order (its counter schema). */
	json_object_object_foreach(c, key, val)
	{
		if (json_object_is_type(val, json_type_int))
			printf("%-20s %14lld\n", key, (long long)json_object_get_int64(val));
	}
	if (json_object_object_get_ex(c, "drops", &drops)) {
		printf("drops (non-zero):\n");
		json_object_object_foreach(drops, k, v)
		{
			if (json_object_get_int64(v) != 0)
				printf("  %-18s %14lld\n", k, (long long)json_object_get_int64(v));
		}
	}
	if (json_object_object_get_ex(c, "lcores", &lcores))
		for (size_t i = 0; i < json_object_array_length(lcores); i++) {
			json_object *l = json_object_array_get_idx(lcores, i);
			printf("lcore %-3lld rx %-12lld fwd %-12lld flows %-10lld busy %.1f s\n",
			       (long long)iget(l, "lcore"), (long long)iget(l, "rx"),
			       (long long)iget(l, "fwd"), (long long)iget(l, "flows"),
			       (double)iget(l, "busy_ms") / 1000.0);
		}
	printf("generation %lld\n", (long long)iget(resp, "generation"));
}

static void show_health(json_object *resp)
{
	json_object *bl;

	if (!json_object_object_get_ex(resp, "backends", &bl))
		return;
	printf("%-16s %-28s %-28s %4s %-9s %-12s %-16s %8s %8s %-10s %6s\n", "VIP", "BACKEND",
	       "CHECK_TARGET", "PRIO", "HEALTH", "LAST_CHECK", "DETAIL", "CHECKS", "FAILED",
	       "BREAKER", "CTL_W");
	for (size_t i = 0; i < json_object_array_length(bl); i++) {
		json_object *b = json_object_array_get_idx(bl, i);
		char ep[80];
		snprintf(ep, sizeof(ep), strchr(sget(b, "address"), ':') ? "[%s]:%lld" : "%s:%lld",
			 sget(b, "address"), (long long)iget(b, "port"));
		printf("%-16s %-28s %-28s %4lld %-9s %-12s %-16s %8lld %8lld %-10s %6lld\n",
		       sget(b, "vip"), ep, *sget(b, "check_target") ? sget(b, "check_target") : "-",
		       (long long)iget(b, "priority"), sget(b, "health"), sget(b, "last_check"),
		       sget(b, "last_detail"), (long long)iget(b, "checks"),
		       (long long)iget(b, "failed_checks"),
		       *sget(b, "breaker") ? sget(b, "breaker") : "-",
		       (long long)iget(b, "control_weight"));
	}
}

static void show_status(json_object *resp)
{
	json_object *ports;

	printf("data plane: generation %lld, %lld worker lcore(s)\n",
	       (long long)iget(resp, "generation"), (long long)iget(resp, "workers"));
	if (json_object_object_get_ex(resp, "ports", &ports))
		for (size_t i = 0; i < json_object_array_length(ports); i++) {
			json_object *p = json_object_array_get_idx(ports, i);
			printf("port %-10s mac %s ipv4 %s ipv6 %s rx %lld tx %lld missed %lld\n",
			       sget(p, "name"), sget(p, "mac"), sget(p, "ipv4"), sget(p, "ipv6"),
			       (long long)iget(p, "ipackets"), (long long)iget(p, "opackets"),
			       (long long)iget(p, "imissed"));
		}
}

static void show_ctl_status(json_object *c)
{
	json_object *r;

	printf("control daemon: generation %lld, config %s loaded at %s, %lld VIPs, %lld "
	       "backends\n",
	       (long long)iget(c, "generation"), sget(c, "config"), sget(c, "loaded_at"),
	       (long long)iget(c, "vips"), (long long)iget(c, "backends"));
	json_object_object_get_ex(c, "dataplane_reachable", &r);
	printf("control daemon sees the data plane at generation %lld%s\n",
	       (long long)iget(c, "dataplane_generation"),
	       r && json_object_get_boolean(r) ? "" : " (NOT reachable from the daemon now)");
	printf("node: %s\n", sget(c, "node"));
	if (json_object_object_get_ex(c, "announce", &r)) {
		printf("BGP (BIRD): %s, %lld route(s) announced\n", sget(c, "bird"),
		       (long long)iget(c, "routes_announced"));
		for (size_t i = 0; i < json_object_array_length(r); i++) {
			json_object *v = json_object_array_get_idx(r, i);
			printf("  %-20s %s\n", sget(v, "vip"), sget(v, "announce"));
		}
	}
}

/*
 * Both planes' generations: the data plane's from its API, the control
 * daemon's from its socket. The daemon being away is said, not an error.
 */
static int cmd_show_status(void)
{
	json_object *req = json_object_new_object(), *dp, *ctl, *ok;
	char err[512];
	int rc = 0;

	json_object_object_add(req, "cmd", json_object_new_string("status"));
	dp = call(req);
	if (dp == NULL) {
		json_object_put(req);
		return EXIT_UNREACH;
	}
	if (!json_object_object_get_ex(dp, "ok", &ok) || !json_object_get_boolean(ok)) {
		fprintf(stderr, "sluicectl: %s\n", sget(dp, "error"));
		rc = EXIT_REFUSED;
	}
	to_ctl = true;
	ctl = call_q(req, true, err, sizeof(err));
	to_ctl = false;
	json_object_put(req);
	if (json_out) {
		json_object *c = ctl;
		if (c == NULL) {
			c = json_object_new_object();
			json_object_object_add(c, "reachable", json_object_new_boolean(0));
			json_object_object_add(c, "error", json_object_new_string(err));
		}
		json_object_object_add(dp, "control", c);
		printf("%s\n", json_object_to_json_string_ext(dp, JSON_C_TO_STRING_PRETTY));
		json_object_put(dp);
		return rc;
	}
	if (rc == 0)
		show_status(dp);
	if (ctl == NULL)
		printf("control daemon: not reachable at %s\n", ctl_path);
	else if (!json_object_object_get_ex(ctl, "ok", &ok) || !json_object_get_boolean(ok))
		printf("control daemon: %s\n", sget(ctl, "error"));
	else
		show_ctl_status(ctl);
	json_object_put(dp);
	if (ctl != NULL)
		json_object_put(ctl);
	return rc;
}

/* ---- arguments ---- */

static json_object *request(const char *cmd)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	return o;
}

/*
 * key=value pairs into <o>: numbers become JSON integers, "a,b" for a key
 * that takes a list (local_addresses) becomes a list, anything else a string.
 */
static int add_pairs(json_object *o, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		char *end;
		if (eq == NULL || eq == argv[i]) {
			fprintf(stderr, "sluicectl: expected key=value, got \"%s\"\n", argv[i]);
			return -1;
		}
		*eq = '\0';
		const char *val = eq + 1;
		long long n = strtoll(val, &end, 10);
		if (strcmp(argv[i], "local_addresses") == 0) {
			json_object *arr = json_object_new_array();
			char *copy = strdup(val), *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t;
			     t = strtok_r(NULL, ",", &save))
				json_object_array_add(arr, json_object_new_string(t));
			free(copy);
			json_object_object_add(o, argv[i], arr);
		} else if (*val != '\0' && *end == '\0') {
			json_object_object_add(o, argv[i], json_object_new_int64(n));
		} else {
			json_object_object_add(o, argv[i], json_object_new_string(val));
		}
	}
	return 0;
}

/* "198.18.0.11" or "198.18.0.11:8080" / "[2001:db8::11]:8080" into address and port. */
static void add_endpoint(json_object *o, const char *ep)
{
	char buf[128];
	char *colon;

	snprintf(buf, sizeof(buf), "%s", ep);
	if (buf[0] == '[' && (colon = strstr(buf, "]:")) != NULL) {
		*colon = '\0';
		json_object_object_add(o, "address", json_object_new_string(buf + 1));
		json_object_object_add(o, "port", json_object_new_int(atoi(colon + 2)));
	} else if ((colon = strchr(buf, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		*colon = '\0';
		json_object_object_add(o, "address", json_object_new_string(buf));
		json_object_object_add(o, "port", json_object_new_int(atoi(colon + 1)));
	} else {
		json_object_object_add(o, "address",
				       json_object_new_string(buf[0] == '[' ? buf + 1 : buf));
	}
}

static int usage(void);

static int cmd_show(int argc, char **argv)
{
	if (argc < 1)
		return usage();
	if (strcmp(argv[0], "vips") == 0)
		return run(request("vip.list"), show_vips);
	if (strcmp(argv[0], "backends") == 0) {
		backend_filter = argc > 1 ? argv[1] : NULL;
		return run(request("vip.list"), show_backends);
	}
	if (strcmp(argv[0], "stats") == 0)
		return run(request("stats"), show_stats);
	if (strcmp(argv[0], "status") == 0)
		return cmd_show_status();
	if (strcmp(argv[0], "health") == 0) {
		/* The control daemon's view: checks and breakers. */
		to_ctl = true;
		return run(request("health.list"), show_health);
	}
	return usage();
}

static int cmd_vip(int argc, char **argv)
{
	json_object *req, *v;

	if (argc >= 2 && strcmp(argv[0], "del") == 0) {
		req = request("vip.del");
		json_object_object_add(req, "vip", json_object_new_string(argv[1]));
		return run(req, NULL);
	}
	if (argc >= 2 && strcmp(argv[0], "add") == 0) {
		req = request("vip.add");
		v = json_object_new_object();
		json_object_object_add(v, "name", json_object_new_string(argv[1]));
		if (add_pairs(v, argc - 2, argv + 2) < 0) {
			json_object_put(v);
			json_object_put(req);
			return EXIT_USAGE;
		}
		json_object_object_add(req, "vip", v);
		return run(req, NULL);
	}
	return usage();
}

/* Percent weights are relative to the backend's current weight. */
static int weight_of(const char *vip, const char *addr, long long *out)
{
	json_object *req = request("vip.list"), *resp = call(req), *vips;
	int rc = -1;

	json_object_put(req); /* call() does not take it */
	if (resp == NULL)
		return -1;
	if (json_object_object_get_ex(resp, "vips", &vips))
		for (size_t i = 0; i < json_object_array_length(vips) && rc < 0; i++) {
			json_object *v = json_object_array_get_idx(vips, i), *bl;
			if (strcmp(sget(v, "name"), vip) != 0 ||
			    !json_object_object_get_ex(v, "backends", &bl))
				continue;
			for (size_t j = 0; j < json_object_array_length(bl); j++) {
				json_object *b = json_object_array_get_idx(bl, j);
				if (strcmp(sget(b, "address"), addr) == 0) {
					*out = iget(b, "weight");
					rc = 0;
					break;
				}
			}
		}
	json_object_put(resp);
	return rc;
}

/*
 * backend health: the control daemon's checks would undo a health set in the
 * data plane alone, so while the daemon runs it is told (health.force: it
 * holds until "auto"); without it, the data plane is set directly.
 */
static int backend_health(json_object *req, const char *h)
{
	char err[512];
	json_object *creq, *resp;

	if (sl_health_parse(h) < 0 && strcmp(h, "auto") != 0) {
		json_object_put(req);
		fprintf(stderr, "sluicectl: health: expected up, down or auto, got \"%s\"\n", h);
		return EXIT_USAGE;
	}
	creq = request("health.force");
	json_object_object_foreach(req, k, v)
	{
		if (strcmp(k, "cmd") != 0)
			json_object_object_add(creq, k, json_object_get(v));
	}
	json_object_object_add(creq, "health", json_object_new_string(h));
	to_ctl = true;
	resp = call_q(creq, true, err, sizeof(err));
	to_ctl = false;
	json_object_put(creq);
	if (resp != NULL) {
		json_object_put(req);
		return finish(resp, NULL);
	}
	if (strcmp(h, "auto") == 0 || strstr(err, "cannot reach") == NULL) {
		json_object_put(req);
		fprintf(stderr, "sluicectl: health %s: %s\n", h, err);
		return EXIT_UNREACH;
	}
	fprintf(stderr,
		"sluicectl: the control daemon is not reachable at %s: setting the data plane "
		"directly (a daemon started later decides by its checks)\n",
		ctl_path);
	json_object_object_add(req, "health", json_object_new_string(h));
	return run(req, NULL);
}

/* backend add VIP ADDR[:PORT] [key=value ...] */
static int backend_add(int argc, char **argv)
{
	json_object *req = request("backend.add"), *b;

	json_object_object_add(req, "vip", json_object_new_string(argv[1]));
	b = json_object_new_object();
	add_endpoint(b, argv[2]);
	if (add_pairs(b, argc - 3, argv + 3) < 0) {
		json_object_put(b);
		json_object_put(req);
		return EXIT_USAGE;
	}
	json_object_object_add(req, "backend", b);
	return run(req, NULL);
}

/* backend drain ... deadline=SECONDS: the flows still on it then are reset. */
static int backend_drain_deadline(json_object *req, const char *arg)
{
	const char *num = strncmp(arg, "deadline=", 9) == 0 ? arg + 9 : NULL;
	char *end = NULL;
	double d = num != NULL ? strtod(num, &end) : -1;

	if (num == NULL || end == num || *end != '\0' || d <= 0 || d > 86400 * 7) {
		json_object_put(req);
		fprintf(stderr,
			"sluicectl: drain: expected deadline=SECONDS (more than 0, at most "
			"a week), got \"%s\"\n",
			arg);
		return EXIT_USAGE;
	}
	json_object_object_add(req, "state", json_object_new_string("drain"));
	json_object_object_add(req, "drain_deadline",
			       d == (double)(long long)d ? json_object_new_int64((long long)d)
							 : json_object_new_double(d));
	return run(req, NULL);
}

/* backend weight VIP ADDR[:PORT] N|N%: a percentage is of its weight now. */
static int backend_weight(json_object *req, char **argv)
{
	char *end;
	long long w = strtoll(argv[3], &end, 10);

	if (end == argv[3] || (*end != '\0' && strcmp(end, "%") != 0) || w < 0) {
		json_object_put(req);
		fprintf(stderr, "sluicectl: weight: expected N or N%%, got \"%s\"\n", argv[3]);
		return EXIT_USAGE;
	}
	if (*end == '%') {
		long long cur = 0;
		json_object *a;
		json_object_object_get_ex(req, "address", &a);
		if (weight_of(argv[1], json_object_get_string(a), &cur) < 0) {
			json_object_put(req);
			fprintf(stderr, "sluicectl: no backend %s in VIP %s\n", argv[2], argv[1]);
			return EXIT_REFUSED;
		}
		w = cur * w / 100;
	}
	json_object_object_add(req, "weight", json_object_new_int64(w));
	return run(req, NULL);
}

static int cmd_backend(int argc, char **argv)
{
	json_object *req;
	const char *verb;

	if (argc < 3)
		return usage();
	verb = argv[0];
	if (strcmp(verb, "add") == 0)
		return backend_add(argc, argv);
	req = request(strcmp(verb, "del") == 0 ? "backend.del" : "backend.set");
	json_object_object_add(req, "vip", json_object_new_string(argv[1]));
	add_endpoint(req, argv[2]);
	if (strcmp(verb, "del") == 0)
		return run(req, NULL);
	if (strcmp(verb, "drain") == 0 && argc == 4)
		return backend_drain_deadline(req, argv[3]);
	if (sl_admin_parse(verb) >= 0 && argc == 3) {
		json_object_object_add(req, "state", json_object_new_string(verb));
		return run(req, NULL);
	}
	if (strcmp(verb, "health") == 0 && argc == 4)
		return backend_health(req, argv[3]);
	if (strcmp(verb, "mac") == 0 && argc == 4) {
		/* The data plane checks the form; "resolve" gives it back to ARP/ND. */
		json_object_object_add(req, "mac", json_object_new_string(argv[3]));
		return run(req, NULL);
	}
	if (strcmp(verb, "weight") == 0 && argc == 4)
		return backend_weight(req, argv);
	json_object_put(req);
	return usage();
}

static void show_reload(json_object *resp)
{
	json_object *ch, *fe;

	if (json_object_object_get_ex(resp, "changes", &ch)) {
		size_t n = json_object_array_length(ch);
		if (n == 0)
			printf("no change: the data plane already runs this configuration\n");
		for (size_t i = 0; i < n; i++)
			printf("  %s\n", json_object_get_string(json_object_array_get_idx(ch, i)));
	}
	if (json_object_object_get_ex(resp, "flows_ended", &fe) && json_object_get_boolean(fe))
		printf("WARNING: some established flows were ended (see above)\n");
	printf("control daemon generation %lld, data plane generation %lld\n",
	       (long long)iget(resp, "generation"), (long long)iget(resp, "dataplane_generation"));
}

/* config reload: answered once the data plane runs every change. */
static int cmd_config_reload(void)
{
	json_object *req = request("config.reload"), *resp, *ok, *errs;
	int rc = 0;

	to_ctl = true;
	resp = call(req);
	json_object_put(req);
	if (resp == NULL)
		return EXIT_UNREACH;
	if (json_out) {
		printf("%s\n", json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY));
	} else {
		show_reload(resp);
	}
	if (!json_object_object_get_ex(resp, "ok", &ok) || !json_object_get_boolean(ok)) {
		rc = EXIT_REFUSED;
		if (!json_out) {
			fprintf(stderr, "sluicectl: %s\n", sget(resp, "error"));
			if (json_object_object_get_ex(resp, "errors", &errs))
				for (size_t i = 0; i < json_object_array_length(errs); i++)
					fprintf(stderr, "  %s\n",
						json_object_get_string(
							json_object_array_get_idx(errs, i)));
		}
	}
	json_object_put(resp);
	return rc;
}

/* config check FILE: parsed here, with the same code as the daemons. */
static int cmd_config_check(const char *file)
{
	struct conf c;
	char err[512];
	uint32_t nb = 0;

	if (conf_load_file(file, &c, err, sizeof(err)) < 0) {
		if (json_out) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "ok", json_object_new_boolean(0));
			json_object_object_add(o, "file", json_object_new_string(file));
			json_object_object_add(o, "error", json_object_new_string(err));
			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
			json_object_put(o);
		} else {
			fprintf(stderr, "%s\n", err);
		}
		return EXIT_REFUSED;
	}
	for (uint32_t i = 0; i < c.n_vips; i++)
		nb += c.vips[i].n_backends;
	if (json_out) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(1));
		json_object_object_add(o, "file", json_object_new_string(file));
		json_object_object_add(o, "vips", json_object_new_int64(c.n_vips));
		json_object_object_add(o, "backends", json_object_new_int64(nb));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("%s: ok (%u VIPs, %u backends)\n", file, c.n_vips, nb);
	}
	conf_free(&c);
	return 0;
}

static int cmd_config(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[0], "check") == 0)
		return cmd_config_check(argv[1]);
	if (argc == 1 && strcmp(argv[0], "reload") == 0)
		return cmd_config_reload();
	return usage();
}

/* node drain|ready: through the control daemon, which withdraws or announces the VIPs. */
static int cmd_node(int argc, char **argv)
{
	json_object *req;

	if (argc != 1 || (strcmp(argv[0], "drain") != 0 && strcmp(argv[0], "ready") != 0))
		return usage();
	req = request("node");
	json_object_object_add(req, "state", json_object_new_string(argv[0]));
	to_ctl = true;
	return run(req, NULL);
}

static void show_lookup(json_object *resp)
{
	if (strcmp(sget(resp, "from"), "none") == 0)
		printf("no backend (none can take a new flow)\n");
	else if (strcmp(sget(resp, "from"), "flow") == 0)
		printf("%s:%lld (flow entry on lcore %lld)\n", sget(resp, "backend"),
		       (long long)iget(resp, "backend_port"), (long long)iget(resp, "lcore"));
	else
		printf("%s:%lld (%s)\n", sget(resp, "backend"),
		       (long long)iget(resp, "backend_port"), sget(resp, "from"));
	if (iget(resp, "workers_not_answering") > 0)
		printf("(%lld workers did not answer in time: their flow entries were not read)\n",
		       (long long)iget(resp, "workers_not_answering"));
}

/*
 * lookup VIP CLIENT[:PORT] [tcp|udp]: the backend this node gives the flow.
 * VIP is a name, or ADDR:PORT (the protocol from the last argument).
 */
static int cmd_lookup(int argc, char **argv)
{
	json_object *req;
	char vip[160];
	const char *proto = argc == 3 ? argv[2] : "tcp";

	if (argc < 2 || argc > 3 || sl_proto_parse(proto) < 0)
		return usage();
	req = request("flow.lookup");
	if (strchr(argv[0], ':') != NULL && strchr(argv[0], '/') == NULL)
		snprintf(vip, sizeof(vip), "%s/%s", argv[0], proto);
	else
		snprintf(vip, sizeof(vip), "%s", argv[0]);
	json_object_object_add(req, "vip", json_object_new_string(vip));
	add_endpoint(req, argv[1]);
	/* add_endpoint names them as a backend's: here they are the client's. */
	json_object *a, *p;
	if (json_object_object_get_ex(req, "address", &a))
		json_object_object_add(req, "client", json_object_get(a));
	if (json_object_object_get_ex(req, "port", &p))
		json_object_object_add(req, "client_port", json_object_get(p));
	json_object_object_del(req, "address");
	json_object_object_del(req, "port");
	return run(req, show_lookup);
}

static const struct verb {
	const char *name;
	const char *usage;
	int (*fn)(int argc, char **argv);
} verbs[] = {
	{"show",
	 "show vips | backends [VIP] | stats | health (control daemon)\n"
	 "  show status (both planes' generations)",
	 cmd_show},
	{"vip",
	 "vip add NAME address=A port=P [protocol={protocol}] [mode={mode}]\n"
	 "        [scheduler={scheduler}] [hash={hash}]\n"
	 "        [local_addresses=A,B] [maglev_table_size=M]\n"
	 "  vip del NAME",
	 cmd_vip},
	{"backend",
	 "backend add VIP ADDR[:PORT] [weight=N] [mac=M] [state={state}]\n"
	 "  backend del VIP ADDR[:PORT]\n"
	 "  backend weight VIP ADDR[:PORT] N|N%\n"
	 "  backend drain VIP ADDR[:PORT] [deadline=SECONDS]\n"
	 "  backend {state} VIP ADDR[:PORT]\n"
	 "  backend mac VIP ADDR[:PORT] aa:bb:cc:dd:ee:ff|resolve (a static MAC, or ARP/ND)\n"
	 "  backend health VIP ADDR[:PORT] {health}|auto (through the control daemon: held\n"
	 "        over its checks until auto)",
	 cmd_backend},
	{"config",
	 "config check FILE (parsed here: ok, or file:line:column: field: problem)\n"
	 "  config reload (the control daemon pushes FILE's changes to the data plane)",
	 cmd_config},
	{"node",
	 "node drain|ready (control daemon: withdraw every VIP from BGP, or announce again;\n"
	 "        a drained node forwards the flows that still reach it)",
	 cmd_node},
	{"lookup",
	 "lookup VIP CLIENT[:PORT] [{protocol}] (the backend this node gives the flow; VIP is a\n"
	 "        name or ADDR:PORT)",
	 cmd_lookup},
};

/* The {key}s of the usage text: the names the data plane takes, from their one table. */
static const struct {
	const char *key;
	const struct name_table *names;
} usage_choices[] = {
	{"{protocol}", &sl_proto_names},    {"{mode}", &sl_mode_names},
	{"{scheduler}", &sched_kind_names}, {"{hash}", &sl_hash_names},
	{"{state}", &sl_admin_names},       {"{health}", &sl_health_names},
};

/* Prints <text> with every {key} replaced by its names, "a|b|c". */
static void print_usage(const char *text)
{
	char choices[NAME_CHOICES_MAX];

	while (*text != '\0') {
		size_t i, n = 0;

		for (i = 0; i < sizeof(usage_choices) / sizeof(usage_choices[0]); i++) {
			n = strlen(usage_choices[i].key);
			if (strncmp(text, usage_choices[i].key, n) == 0)
				break;
		}
		if (i == sizeof(usage_choices) / sizeof(usage_choices[0])) {
			fputc(*text++, stderr);
			continue;
		}
		fputs(name_choices(usage_choices[i].names, "|", choices, sizeof(choices)), stderr);
		text += n;
	}
}

static int usage(void)
{
	fprintf(stderr,
		"usage: sluicectl [-s DATAPLANE_SOCKET] [-c CONTROL_SOCKET] [--json] COMMAND\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		fputs("  ", stderr);
		print_usage(verbs[i].usage);
		fputc('\n', stderr);
	}
	fprintf(stderr, "Changes return once every worker runs them (the generation shown).\n"
			"Exit: 0 ok, 1 refused (or a bad config file), 2 usage, 3 unreachable.\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"control-socket", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+s:c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock_path = optarg;
			break;
		case 'j':
			json_out = true;
			break;
		case 'c':
			ctl_path = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind >= argc)
		return usage();
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[optind], verbs[i].name) == 0)
			return verbs[i].fn(argc - optind - 1, argv + optind + 1);
	fprintf(stderr, "sluicectl: unknown command \"%s\"\n", argv[optind]);
	return usage();
}
