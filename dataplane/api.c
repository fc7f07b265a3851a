/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data-plane API: one JSON object per line in, one per line out
 * (docs/api.md). Requests are validated field by field; a change is applied
 * to the model, compiled and published, and the answer is sent only when
 * every worker runs the new generation (read-your-writes).
 *
 * The table below is the single source of the command names, their help
 * text and their handlers. A command that changes the model applies whole
 * or not at all: when its snapshot cannot be built, the model is put back
 * as it was before the request (lb_model_txn.h) and the answer says so.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "dp.h"
#include "lb_model_txn.h"
#ifdef SLUICE_HAVE_BPF
#include "steer.h"
#endif
#include "maglev.h"
#include "scheduler.h"

struct api_ctx {
	struct dp *dp;
	json_object *req;
	json_object *resp;
	char err[256];
};

typedef int (*api_fn)(struct api_ctx *c);

static void api_msg(struct api_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void api_msg(struct api_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

/*
 * The error message of the request, and <rc>. A macro, so that the value is
 * plain to the reader and to clang's analyzer (which does not follow a
 * variadic function: it took every error return for a success whose
 * outputs were never set).
 */
#define api_error(c, rc, ...) (api_msg((c), __VA_ARGS__), (rc))

/* ---- request field helpers ---- */

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool has(json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

/* Integer field in [lo, hi]; absent -> *out = dflt. Returns 0 or -EINVAL. */
static int get_int(struct api_ctx *c, json_object *o, const char *key, int64_t lo, int64_t hi,
		   int64_t dflt, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v)) {
		*out = dflt;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return api_error(c, -EINVAL, "%s: expected an integer", key);
	*out = json_object_get_int64(v);
	if (*out < lo || *out > hi)
		return api_error(c, -EINVAL, "%s: %lld is out of range %lld..%lld", key,
				 (long long)*out, (long long)lo, (long long)hi);
	return 0;
}

/* Enum field by name; absent -> dflt. */
static int get_enum(struct api_ctx *c, json_object *o, const char *key, int (*parse)(const char *),
		    int dflt, int *out)
{
	const char *s;

	if (!has(o, key)) {
		*out = dflt;
		return 0;
	}
	s = get_str(o, key);
	if (s == NULL || (*out = parse(s)) < 0)
		return api_error(c, -EINVAL, "%s: unknown value \"%s\"", key,
				 s ? s : "(not a string)");
	return 0;
}

/*
 * Duration field in seconds (a JSON number, fractions allowed), stored in ms:
 * 0 (when <zero_ok>) or (0, max_s]; absent -> *out_ms = dflt_ms.
 */
static int get_seconds(struct api_ctx *c, json_object *o, const char *key, double max_s,
		       bool zero_ok, uint32_t dflt_ms, uint32_t *out_ms)
{
	json_object *v;
	double d;

	if (!json_object_object_get_ex(o, key, &v)) {
		*out_ms = dflt_ms;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return api_error(c, -EINVAL, "%s: expected a number of seconds", key);
	d = json_object_get_double(v);
	if (!(d <= max_s) || d < 0 || (d == 0 && !zero_ok) || (d > 0 && d < 0.001))
		return api_error(c, -EINVAL, "%s: %g is out of range %s..%g seconds", key, d,
				 zero_ok ? "0" : "0.001", max_s);
	*out_ms = (uint32_t)(d * 1000 + 0.5);
	return 0;
}

static int parse_backend(struct api_ctx *c, json_object *o, struct conf_backend *b)
{
	const char *addr = get_str(o, "address"), *mac = get_str(o, "mac");
	int64_t v;
	int e;

	memset(b, 0, sizeof(*b));
	if (!json_object_is_type(o, json_type_object))
		return api_error(c, -EINVAL, "backend: expected an object");
	if (addr == NULL || sl_addr_parse(&b->addr, addr) < 0)
		return api_error(c, -EINVAL, "backend address: expected an IPv4 or IPv6 address");
	if (get_int(c, o, "port", 0, 65535, 0, &v) < 0)
		return -EINVAL;
	b->port = (uint16_t)v;
	if (get_int(c, o, "weight", 0, 65535, 1, &v) < 0)
		return -EINVAL;
	b->weight = (uint32_t)v;
	if (has(o, "mac")) {
		if (mac == NULL || sl_mac_parse(b->mac, mac) < 0)
			return api_error(c, -EINVAL, "mac: expected aa:bb:cc:dd:ee:ff");
		b->has_mac = true;
	}
	if (get_enum(c, o, "state", sl_admin_parse, SL_ADMIN_READY, &e) < 0)
		return -EINVAL;
	b->admin = (uint8_t)e;
	return 0;
}

/* A VIP's or backend's counters summed over the lcores. */
void dp_traffic_total(struct dp *dp, bool vip, uint32_t slot, struct lb_traffic *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t w = 0; w < dp->n_workers; w++) {
		const struct lb_counters *ctr = dp->workers[w].lb->ctr;
		lb_traffic_add(t, vip ? &ctr->vip[slot] : &ctr->backend[slot]);
	}
}

/* Counter sums at the moment a slot is taken, so a reused slot starts at zero. */
static void take_baseline(struct dp *dp, bool vip, uint32_t slot, struct lb_traffic *base)
{
	dp_traffic_total(dp, vip, slot, base);
}

/* ---- commands ---- */

/* The checks a VIP from the configuration file passes too (conf_vip_check). */
static int vip_check(struct api_ctx *c, const struct conf_vip *v)
{
	struct conf_problem p;

	if (conf_vip_check(v, &p) == 0)
		return 0;
	if (p.index >= 0)
		return api_error(c, -EINVAL, "vip.%s[%d]: %s", p.key, p.index, p.msg);
	return api_error(c, -EINVAL, "vip.%s: %s", p.key, p.msg);
}

/* The "local_addresses" list <bl> of a "vip" object into <v>. */
static int parse_local_addrs(struct api_ctx *c, json_object *bl, struct conf_vip *v)
{
	if (!json_object_is_type(bl, json_type_array) ||
	    json_object_array_length(bl) > CONF_MAX_LOCAL_ADDRS)
		return api_error(c, -EINVAL,
				 "vip.local_addresses: expected a list of at most "
				 "%d addresses",
				 CONF_MAX_LOCAL_ADDRS);
	for (size_t i = 0; i < json_object_array_length(bl); i++) {
		json_object *a = json_object_array_get_idx(bl, i);
		if (!json_object_is_type(a, json_type_string) ||
		    sl_addr_parse(&v->local_addrs[i], json_object_get_string(a)) < 0)
			return api_error(c, -EINVAL,
					 "vip.local_addresses[%zu]: expected an IPv4 or IPv6 "
					 "address",
					 i);
	}
	v->n_local_addrs = (uint32_t)json_object_array_length(bl);
	return 0;
}

/* The "backends" list <bl> of a "vip" object into v->backends (caller frees; NULL on error). */
static int parse_backends(struct api_ctx *c, json_object *bl, struct conf_vip *v)
{
	if (!json_object_is_type(bl, json_type_array))
		return api_error(c, -EINVAL, "vip.backends: expected an array");
	v->n_backends = (uint32_t)json_object_array_length(bl);
	v->backends = calloc(v->n_backends ? v->n_backends : 1, sizeof(*v->backends));
	if (v->backends == NULL)
		return api_error(c, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < v->n_backends; i++) {
		if (parse_backend(c, json_object_array_get_idx(bl, i), &v->backends[i]) < 0) {
			char inner[sizeof(c->err)];
			snprintf(inner, sizeof(inner), "%s", c->err);
			free(v->backends);
			v->backends = NULL;
			return api_error(c, -EINVAL, "vip.backends[%u]: %s", i, inner);
		}
	}
	return 0;
}

/*
 * The "vip" object of vip.add and vip.set into <v>, absent keys taking their
 * defaults; backends only when <with_backends> (v->backends: caller frees).
 */
static int parse_vip(struct api_ctx *c, struct conf_vip *v, bool with_backends)
{
	json_object *o, *bl;
	const char *addr, *name;
	int64_t n;
	int e;

	memset(v, 0, sizeof(*v));
	if (!json_object_object_get_ex(c->req, "vip", &o) ||
	    !json_object_is_type(o, json_type_object))
		return api_error(c, -EINVAL, "vip: expected an object");
	addr = get_str(o, "address");
	if (addr == NULL || sl_addr_parse(&v->addr, addr) < 0)
		return api_error(c, -EINVAL, "vip.address: expected an IPv4 or IPv6 address");
	name = get_str(o, "name");
	if (name != NULL && strlen(name) >= sizeof(v->name))
		return api_error(c, -EINVAL, "vip.name: longer than %zu", sizeof(v->name) - 1);
	if (name != NULL)
		snprintf(v->name, sizeof(v->name), "%s", name);
	if (get_int(c, o, "port", 1, 65535, -1, &n) < 0)
		return -EINVAL;
	if (n < 0)
		return api_error(c, -EINVAL, "vip.port: required");
	v->port = (uint16_t)n;
	if (get_enum(c, o, "protocol", sl_proto_parse, IPPROTO_TCP, &e) < 0)
		return -EINVAL;
	v->proto = (uint8_t)e;
	if (get_enum(c, o, "mode", sl_mode_parse, SL_MODE_DSR, &e) < 0)
		return -EINVAL;
	v->mode = (uint8_t)e;
	if (get_enum(c, o, "scheduler", sched_kind_parse, SCHED_KIND_WRR, &e) < 0)
		return -EINVAL;
	v->sched = (uint8_t)e;
	if (get_enum(c, o, "hash", sl_hash_parse, SL_HASH_5TUPLE, &e) < 0)
		return -EINVAL;
	v->hash = (uint8_t)e;
	if (get_enum(c, o, "when_empty", sl_empty_parse, SL_EMPTY_DROP, &e) < 0)
		return -EINVAL;
	v->when_empty = (uint8_t)e;
	if (get_enum(c, o, "down_flows", sl_down_flows_parse, SL_DOWN_RESCHEDULE, &e) < 0)
		return -EINVAL;
	v->down_flows = (uint8_t)e;
	if (get_seconds(c, o, "response_timeout", 3600, true, 0, &v->response_timeout_ms) < 0 ||
	    get_seconds(c, o, "drain_deadline", 604800, true, 0, &v->drain_deadline_ms) < 0 ||
	    get_seconds(c, o, "syn_timeout", 60, false, 0, &v->syn_timeout_ms) < 0)
		return -EINVAL;
	if (get_enum(c, o, "redispatch", conf_redispatch_off_parse, 0, &e) < 0)
		return -EINVAL;
	v->redispatch_off = (uint8_t)e;
	if (get_int(c, o, "maglev_table_size", 2, CONF_MAX_MAGLEV_SIZE, MAGLEV_DEFAULT_SIZE, &n) <
	    0)
		return -EINVAL;
	v->maglev_size = (uint32_t)n;
	if (json_object_object_get_ex(o, "local_addresses", &bl) && parse_local_addrs(c, bl, v) < 0)
		return -EINVAL;
	if (with_backends && json_object_object_get_ex(o, "backends", &bl)) {
		int rc = parse_backends(c, bl, v);
		if (rc < 0)
			return rc;
	}
	if (vip_check(c, v) < 0) {
		free(v->backends);
		v->backends = NULL;
		return -EINVAL;
	}
	return 0;
}

static int cmd_vip_add(struct api_ctx *c)
{
	struct conf_vip v;
	int rc;

	if (parse_vip(c, &v, true) < 0)
		return -EINVAL;
	rc = lb_model_vip_add(c->dp->model, &v, c->err, sizeof(c->err));
	free(v.backends);
	if (rc < 0)
		return rc;
	struct lb_model_vip *mv = &c->dp->model->vips[rc];
	take_baseline(c->dp, true, (uint32_t)rc, &mv->baseline);
	for (uint32_t i = 0; i < mv->n_members; i++)
		take_baseline(c->dp, false, mv->members[i],
			      &c->dp->model->backends[mv->members[i]].baseline);
	return 1; /* changed: publish */
}

static int find_vip(struct api_ctx *c, uint32_t *slot)
{
	const char *key = get_str(c->req, "vip");
	int rc;

	if (key == NULL)
		return api_error(c, -EINVAL, "vip: expected a VIP name or \"address:port/proto\"");
	rc = lb_model_vip_find(c->dp->model, key);
	if (rc < 0)
		return api_error(c, -ENOENT, "no VIP \"%s\"", key);
	*slot = (uint32_t)rc;
	return 0;
}

/*
 * Changes a VIP in place (found by the name, or the address:port/proto, of
 * the object given): the object is the VIP's whole new description, as for
 * vip.add, absent keys meaning their defaults; its backends are not looked at.
 */
static int cmd_vip_set(struct api_ctx *c)
{
	struct conf_vip v;
	char key[CONF_NAME_MAX];
	int slot;

	if (parse_vip(c, &v, false) < 0)
		return -EINVAL;
	if (v.name[0] != '\0') {
		snprintf(key, sizeof(key), "%s", v.name);
	} else {
		char ip[SL_ADDR_STRLEN];
		sl_addr_format(&v.addr, ip, sizeof(ip));
		snprintf(key, sizeof(key), sl_addr_is_v4(&v.addr) ? "%s:%u/%s" : "[%s]:%u/%s", ip,
			 v.port, sl_proto_name(v.proto));
	}
	slot = lb_model_vip_find(c->dp->model, key);
	if (slot < 0)
		return api_error(c, -ENOENT, "vip.set: no VIP \"%s\" (vip.add creates one)", key);
	if (lb_model_vip_set(c->dp->model, (uint32_t)slot, &v, c->err, sizeof(c->err)) < 0)
		return -EINVAL;
	return 1; /* publish: answered once every worker runs the new settings */
}

static int cmd_vip_del(struct api_ctx *c)
{
	uint32_t slot;

	if (find_vip(c, &slot) < 0)
		return -EINVAL;
	lb_model_vip_del(c->dp->model, slot);
	return 1;
}

static int cmd_backend_add(struct api_ctx *c)
{
	struct conf_backend b;
	json_object *o;
	uint32_t vip;
	int rc;

	if (find_vip(c, &vip) < 0)
		return -EINVAL;
	if (!json_object_object_get_ex(c->req, "backend", &o))
		return api_error(c, -EINVAL, "backend: expected an object");
	if (parse_backend(c, o, &b) < 0)
		return -EINVAL;
	rc = lb_model_backend_add(c->dp->model, vip, &b, c->err, sizeof(c->err));
	if (rc < 0)
		return rc;
	take_baseline(c->dp, false, (uint32_t)rc, &c->dp->model->backends[rc].baseline);
	return 1;
}

static int find_backend(struct api_ctx *c, uint32_t *slot)
{
	struct sl_addr a;
	const char *addr = get_str(c->req, "address");
	uint32_t vip;
	int64_t port;
	int rc;

	if (find_vip(c, &vip) < 0)
		return -EINVAL;
	if (addr == NULL || sl_addr_parse(&a, addr) < 0)
		return api_error(c, -EINVAL, "address: expected the backend's IP address");
	if (get_int(c, c->req, "port", 0, 65535, 0, &port) < 0)
		return -EINVAL;
	rc = lb_model_backend_find(c->dp->model, vip, &a, (uint16_t)port);
	if (rc < 0)
		return api_error(c, -ENOENT, "VIP %s has no backend %s port %lld",
				 get_str(c->req, "vip"), addr,
				 (long long)(port ? port : c->dp->model->vips[vip].port));
	*slot = (uint32_t)rc;
	return 0;
}

static int cmd_backend_del(struct api_ctx *c)
{
	uint32_t slot;

	if (find_backend(c, &slot) < 0)
		return -EINVAL;
	lb_model_backend_del(c->dp->model, slot);
	return 1;
}

/* Validates every field before changing anything: a request applies whole or not at all. */
static int cmd_backend_set(struct api_ctx *c)
{
	uint32_t slot, deadline_ms;
	int64_t weight, ctl;
	int admin = -1, health = -1;
	const char *mac_s = get_str(c->req, "mac");
	uint8_t mac[6];
	char err[160];

	if (find_backend(c, &slot) < 0)
		return -EINVAL;
	if (has(c->req, "mac") &&
	    (mac_s == NULL || (strcmp(mac_s, "resolve") != 0 && sl_mac_parse(mac, mac_s) < 0)))
		return api_error(c, -EINVAL,
				 "mac: expected aa:bb:cc:dd:ee:ff, or \"resolve\" (by ARP/ND)");
	if (get_int(c, c->req, "weight", 0, 65535, -1, &weight) < 0 ||
	    get_int(c, c->req, "control_weight", -1, 65535, -2, &ctl) < 0 ||
	    get_enum(c, c->req, "state", sl_admin_parse, -1, &admin) < 0 ||
	    get_enum(c, c->req, "health", sl_health_parse, -1, &health) < 0 ||
	    get_seconds(c, c->req, "drain_deadline", 604800, false, 0, &deadline_ms) < 0)
		return -EINVAL;
	if (deadline_ms != 0 && admin != SL_ADMIN_DRAIN)
		return api_error(c, -EINVAL, "drain_deadline: only with \"state\": \"drain\"");
	if (weight < 0 && admin < 0 && health < 0 && ctl < -1 && mac_s == NULL)
		return api_error(
			c, -EINVAL,
			"nothing to set: give weight, state, health, control_weight or mac");
	/* The one change that can be refused: made first, so the request stays whole. */
	if (mac_s != NULL &&
	    lb_model_backend_set_mac(c->dp->model, slot, strcmp(mac_s, "resolve") == 0 ? NULL : mac,
				     err, sizeof(err)) < 0)
		return api_error(c, -EINVAL, "mac: %s", err);
	if (weight >= 0)
		lb_model_backend_set_weight(c->dp->model, slot, (uint32_t)weight);
	if (admin >= 0)
		lb_model_backend_set_admin(c->dp->model, slot, (enum sl_admin)admin);
	if (deadline_ms != 0)
		lb_model_backend_set_drain_deadline(c->dp->model, slot, deadline_ms);
	/* A drain's clock starts now (and a deadline already passed applies at once). */
	lb_model_drain_tick(c->dp->model, dp_now_ms());
	if (health >= 0)
		lb_model_backend_set_health(c->dp->model, slot, (enum sl_health)health);
	if (ctl >= -1)
		lb_model_backend_set_control_weight(c->dp->model, slot, (int32_t)ctl);
	return 1;
}

static json_object *jstr_addr(const struct sl_addr *a)
{
	char buf[SL_ADDR_STRLEN];
	return json_object_new_string(sl_addr_format(a, buf, sizeof(buf)));
}

static json_object *jmac(const uint8_t *mac)
{
	char buf[20];
	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return json_object_new_string(buf);
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* Every traffic counter of a VIP or backend since its slot was taken. */
static void traffic_sum(struct dp *dp, bool vip, uint32_t slot, const struct lb_traffic *base,
			json_object *o)
{
	struct lb_traffic t;

	dp_traffic_total(dp, vip, slot, &t);
#define ADD(field, metric, help) add_u64(o, #field, t.field - base->field);
	COUNTER_TRAFFIC_LIST(ADD)
#undef ADD
}

static json_object *backend_json(struct dp *dp, uint32_t s)
{
	const struct lb_model *m = dp->model;
	const struct lb_model_backend *b = &m->backends[s];
	const struct lb_model_neigh *ne = &m->neigh[b->neigh_slot];
	json_object *bo = json_object_new_object();
	uint32_t active = 0;

	for (uint32_t w = 0; w < dp->n_workers; w++)
		active += dp->workers[w].lb->active[s];
	json_object_object_add(bo, "address", jstr_addr(&b->addr));
	json_object_object_add(bo, "port", json_object_new_int(b->port));
	json_object_object_add(bo, "weight", json_object_new_int64(b->weight));
	json_object_object_add(bo, "control_weight", json_object_new_int64(b->control_weight));
	json_object_object_add(bo, "effective_weight",
			       json_object_new_int64(lb_model_backend_effective_weight(m, b)));
	json_object_object_add(
		bo, "state",
		json_object_new_string(b->removed ? "removed"
						  : sl_admin_name((enum sl_admin)b->admin)));
	json_object_object_add(bo, "health",
			       json_object_new_string(sl_health_name((enum sl_health)b->health)));
	json_object_object_add(
		bo, "neighbour",
		json_object_new_string(lb_neigh_state_name((enum lb_neigh_state)ne->state)));
	json_object_object_add(bo, "mac", jmac(ne->mac));
	json_object_object_add(bo, "port_out", json_object_new_string(m->port_names[b->out_port]));
	add_u64(bo, "active_flows", active);
	int64_t left = lb_model_drain_remaining(m, b, dp_now_ms());
	if (left >= 0)
		add_u64(bo, "drain_deadline_ms", (uint64_t)left);
	traffic_sum(dp, false, s, &b->baseline, bo);
	return bo;
}

static json_object *vips_json(struct dp *dp)
{
	const struct lb_model *m = dp->model;
	json_object *arr = json_object_new_array();

	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		const struct lb_model_vip *v = &m->vips[i];
		json_object *o, *bl;
		if (v->uid == 0)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(v->name));
		json_object_object_add(o, "address", jstr_addr(&v->addr));
		json_object_object_add(o, "port", json_object_new_int(v->port));
		json_object_object_add(o, "protocol",
				       json_object_new_string(sl_proto_name(v->proto)));
		json_object_object_add(o, "mode",
				       json_object_new_string(sl_mode_name((enum sl_mode)v->mode)));
		json_object_object_add(
			o, "scheduler",
			json_object_new_string(sched_kind_name((enum sched_kind)v->sched)));
		json_object_object_add(o, "hash",
				       json_object_new_string(sl_hash_name((enum sl_hash)v->hash)));
		json_object_object_add(o, "maglev_table_size",
				       json_object_new_int64(v->maglev_size));
		json_object_object_add(
			o, "when_empty",
			json_object_new_string(sl_empty_name((enum sl_empty)v->when_empty)));
		json_object_object_add(o, "down_flows",
				       json_object_new_string(sl_down_flows_name(
					       (enum sl_down_flows)v->down_flows)));
		add_u64(o, "response_timeout_ms", v->response_timeout_ms);
		json_object_object_add(o, "redispatch",
				       json_object_new_string(v->redispatch ? "on" : "off"));
		add_u64(o, "syn_timeout_ms", v->syn_timeout_ms);
		add_u64(o, "drain_deadline_ms", v->drain_deadline_ms);
		if (v->n_laddrs > 0) {
			json_object *la = json_object_new_array();
			for (uint32_t k = 0; k < v->n_laddrs; k++)
				json_object_array_add(la, jstr_addr(&m->laddrs[v->laddr[k]]));
			json_object_object_add(o, "local_addresses", la);
		}
		traffic_sum(dp, true, i, &v->baseline, o);
		bl = json_object_new_array();
		for (uint32_t j = 0; j < v->n_members; j++)
			json_object_array_add(bl, backend_json(dp, v->members[j]));
		/* Deleted backends still finishing their flows are listed too. */
		for (uint32_t s = 0; s < LB_MAX_BACKENDS; s++)
			if (m->backends[s].uid != 0 && m->backends[s].removed &&
			    m->backends[s].vip_slot == i)
				json_object_array_add(bl, backend_json(dp, s));
		json_object_object_add(o, "backends", bl);
		json_object_array_add(arr, o);
	}
	return arr;
}

/* The lcores' counters summed, the drops by reason, and per lcore rx, fwd, flows. */
static json_object *counters_json(struct dp *dp)
{
	uint64_t sum[COUNTER_LCORE_MAX] = {0}, drop[LB_DROP_MAX] = {0};
	json_object *o = json_object_new_object(), *drops = json_object_new_object();
	json_object *lcores = json_object_new_array();

	for (uint32_t w = 0; w < dp->n_workers; w++) {
		const struct lb_counters *c = dp->workers[w].lb->ctr;
		json_object *l = json_object_new_object();
#define SUM(field, metric, help) sum[COUNTER_LCORE_ID_##field] += c->field;
		COUNTER_LCORE_LIST(SUM)
#undef SUM
		for (int d = 0; d < LB_DROP_MAX; d++)
			drop[d] += c->drop[d];
		json_object_object_add(l, "lcore",
				       json_object_new_int((int)dp->workers[w].lcore_id));
		add_u64(l, "rx", c->rx);
		add_u64(l, "fwd", c->fwd);
		add_u64(l, "flows", flow_table_count(dp->workers[w].lb->flows));
		add_u64(l, "busy_ms",
			dp->tsc_hz ? dp->workers[w].busy_cycles * 1000 / dp->tsc_hz : 0);
		json_object_array_add(lcores, l);
	}
#define ADD(field, metric, help) add_u64(o, #field, sum[COUNTER_LCORE_ID_##field]);
	COUNTER_LCORE_LIST(ADD)
#undef ADD
	for (int d = 1; d < LB_DROP_MAX; d++)
		add_u64(drops, lb_drop_name((enum lb_drop)d), drop[d]);
	json_object_object_add(o, "drops", drops);
	json_object_object_add(o, "lcores", lcores);
	return o;
}

static json_object *ports_json(struct dp *dp)
{
	json_object *arr = json_object_new_array();

	for (uint32_t i = 0; i < dp->n_ports; i++) {
		const struct lb_port_info *pi = &dp->model->ports[i];
		struct rte_eth_stats st;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(dp->ports[i].name));
		json_object_object_add(o, "mac", jmac(pi->mac));
		if (pi->has_ipv4)
			json_object_object_add(o, "ipv4", jstr_addr(&pi->ipv4));
		if (pi->has_ipv6)
			json_object_object_add(o, "ipv6", jstr_addr(&pi->ipv6));
		if (rte_eth_stats_get(dp->ports[i].port_id, &st) == 0) {
			add_u64(o, "ipackets", st.ipackets);
			add_u64(o, "opackets", st.opackets);
			add_u64(o, "imissed", st.imissed);
			add_u64(o, "ierrors", st.ierrors);
			add_u64(o, "oerrors", st.oerrors);
		}
		json_object_array_add(arr, o);
	}
	return arr;
}

static int cmd_status(struct api_ctx *c)
{
	json_object_object_add(c->resp, "workers", json_object_new_int((int)c->dp->n_workers));
	json_object_object_add(c->resp, "ports", ports_json(c->dp));
	return 0;
}

/* The XDP steering program's verdicts (net_af_xdp ports sharing the NIC). */
static void steer_json(struct dp *dp, json_object *resp)
{
#ifdef SLUICE_HAVE_BPF
	struct steer_stats st;
	json_object *o;

	if (dp->steer == NULL || steer_stats_read(dp->steer, &st) < 0)
		return;
	o = json_object_new_object();
	for (unsigned int i = 0; i < SLUICE_STAT_MAX; i++)
		add_u64(o, steer_stat_name(i), st.packets[i]);
	json_object_object_add(resp, "xdp", o);
#else
	(void)dp;
	(void)resp;
#endif
}

static int cmd_stats(struct api_ctx *c)
{
	steer_json(c->dp, c->resp);
	json_object_object_add(c->resp, "counters", counters_json(c->dp));
	json_object_object_add(c->resp, "ports", ports_json(c->dp));
	json_object_object_add(c->resp, "vips", vips_json(c->dp));
	return 0;
}

static int cmd_vip_list(struct api_ctx *c)
{
	json_object_object_add(c->resp, "vips", vips_json(c->dp));
	return 0;
}

static int cmd_help(struct api_ctx *c);
static int cmd_flow_lookup(struct api_ctx *c);

static const struct api_cmd {
	const char *name;
	const char *usage;
	api_fn fn;
	bool changes; /* changes the model: published, or undone whole (run_cmd) */
} api_cmds[] = {
	{"help", "{} -> the commands", cmd_help},
	{"flow.lookup", "{vip, client, client_port?} -> the backend this node gives the flow",
	 cmd_flow_lookup},
	{"status", "{} -> generation, workers, ports", cmd_status},
	{"stats", "{} -> counters (drops by reason, per lcore), ports, VIPs", cmd_stats},
	{"vip.list", "{} -> VIPs with backends, states and counters", cmd_vip_list},
	{"vip.add",
	 "{vip:{name,address,port,protocol,mode,scheduler,hash,maglev_table_size,when_empty,"
	 "down_flows,response_timeout,redispatch,syn_timeout,drain_deadline,local_addresses,"
	 "backends:[...]}}",
	 cmd_vip_add, true},
	{"vip.set",
	 "{vip:{...as vip.add; found by name (or address:port/proto); backends not "
	 "touched}}",
	 cmd_vip_set, true},
	{"vip.del", "{vip:NAME|\"addr:port/proto\"}", cmd_vip_del, true},
	{"backend.add", "{vip, backend:{address,port,weight,mac,state}}", cmd_backend_add, true},
	{"backend.del", "{vip, address, port?}", cmd_backend_del, true},
	{"backend.set",
	 "{vip, address, port?, weight?, state?: ready|drain|maint, drain_deadline?: seconds "
	 "(with state drain), health?: up|down, control_weight?: -1..65535}",
	 cmd_backend_set, true},
};

static int cmd_help(struct api_ctx *c)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < sizeof(api_cmds) / sizeof(api_cmds[0]); i++)
		json_object_object_add(o, api_cmds[i].name,
				       json_object_new_string(api_cmds[i].usage));
	json_object_object_add(c->resp, "commands", o);
	return 0;
}

char *dp_stats_json(struct dp *dp)
{
	struct api_ctx c = {.dp = dp, .resp = json_object_new_object()};
	char *out;

	json_object_object_add(c.resp, "generation",
			       json_object_new_uint64(dp->snapshot->generation));
	cmd_stats(&c);
	out = strdup(json_object_to_json_string_ext(c.resp, JSON_C_TO_STRING_PLAIN));
	json_object_put(c.resp);
	return out;
}

/* Keys in objects of <o>, at every depth (json-c bounds the depth to 32). */
static size_t count_keys(json_object *o)
{
	size_t n = 0;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			n += 1 + count_keys(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += count_keys(json_object_array_get_idx(o, i));
	}
	return n;
}

/*
 * What json-c takes silently, refused: text after the object (a second
 * object, garbage), a NUL in a string ("x\u0000y" would be read as "x"),
 * a key given twice in an object (the last would win). <line> is known to
 * be valid JSON up to <end>; its strings are scanned for NUL escapes and
 * its keys counted: a duplicate leaves fewer keys in the parsed objects.
 */
static int check_request_text(struct api_ctx *c, const char *line, size_t len, size_t end)
{
	size_t keys = 0;

	for (size_t i = end; i < len; i++)
		if (strchr(" \t\r", line[i]) == NULL)
			return api_error(c, -EINVAL,
					 "text after the JSON object at byte %zu: one request per "
					 "line",
					 end);
	if (memchr(line, '\0', len) != NULL)
		return api_error(c, -EINVAL, "the request holds a NUL byte");
	for (size_t i = 0; i < end; i++) {
		if (line[i] != '"')
			continue;
		for (i++; i < end && line[i] != '"'; i++) {
			if (line[i] != '\\')
				continue;
			i++;
			if (i + 4 < end && line[i] == 'u' && memcmp(&line[i + 1], "0000", 4) == 0)
				return api_error(c, -EINVAL,
						 "a string holds a NUL character (\\u0000)");
		}
		size_t j = i + 1;
		while (j < end && strchr(" \t\r\n", line[j]) != NULL)
			j++;
		if (j < end && line[j] == ':')
			keys++;
	}
	if (keys != count_keys(c->req))
		return api_error(c, -EINVAL,
				 "a key appears twice in one object: each key may appear once");
	return 0;
}

/*
 * Runs command <def>. One that changes the model (it returns 1) is
 * published (or, when that takes more than a slice, answered once it is:
 * dp->answer_later); when the new snapshot cannot be built (out of memory) the model
 * is put back as it was before the request, so that "nothing changed" is
 * true and the management tick's retry does not publish it later. A refused
 * command is put back too (commands check before they change, this makes
 * it certain).
 */
static int run_cmd(struct api_ctx *c, const struct api_cmd *def)
{
	/* The model before the request: one thread (the management one) runs requests. */
	static struct model_txn txn;
	bool was_pending = c->dp->publish_pending;
	int rc;

	if (!def->changes)
		return def->fn(c);
	if (model_txn_begin(&txn, c->dp->model) < 0)
		return api_error(c, -EOVERFLOW,
				 "internal error: VIP member lists longer than the backend "
				 "table; nothing changed");
	rc = def->fn(c);
	if (rc == 0)
		return 0;
	if (rc > 0) {
		rc = dp_publish(c->dp);
		if (rc == 0)
			return 0;
		if (rc > 0) {
			/* Being built: answered once published, requests served meanwhile. */
			c->dp->answer_later = true;
			return 0;
		}
		if (model_txn_rollback(&txn, c->dp->model) < 0)
			/* dp_publish() left it pending: the management tick retries. */
			return api_error(c, rc,
					 "out of memory building the new tables, and undoing the "
					 "change: it is kept, and published when memory allows");
		c->dp->publish_pending = was_pending;
		return api_error(c, rc, "out of memory building the new tables; nothing changed");
	}
	/* Refused: put back (or, when even that fails, left as the command left it). */
	model_txn_rollback(&txn, c->dp->model);
	return rc;
}

char *dp_api_handle(struct dp *dp, const char *line, size_t len)
{
	struct api_ctx c = {.dp = dp};
	struct json_tokener *tok = json_tokener_new();
	const char *cmd;
	const struct api_cmd *def = NULL;
	int rc;
	char *out;

	c.resp = json_object_new_object();
	c.req = json_tokener_parse_ex(tok, line, (int)len);
	if (c.req == NULL || !json_object_is_type(c.req, json_type_object)) {
		rc = api_error(&c, -EINVAL, "request is not a JSON object: %s",
			       json_tokener_error_desc(json_tokener_get_error(tok)));
		goto done;
	}
	rc = check_request_text(&c, line, len, json_tokener_get_parse_end(tok));
	if (rc < 0)
		goto done;
	cmd = get_str(c.req, "cmd");
	for (size_t i = 0; cmd != NULL && i < sizeof(api_cmds) / sizeof(api_cmds[0]); i++)
		if (strcmp(cmd, api_cmds[i].name) == 0)
			def = &api_cmds[i];
	if (def == NULL) {
		rc = api_error(&c, -EINVAL, "unknown cmd \"%s\" (try {\"cmd\":\"help\"})",
			       cmd ? cmd : "");
		goto done;
	}
	rc = run_cmd(&c, def);
	if (rc >= 0 && dp->answer_later) {
		json_object_put(c.resp);
		json_object_put(c.req);
		json_tokener_free(tok);
		return NULL;
	}
done:
	json_object_object_add(c.resp, "ok", json_object_new_boolean(rc >= 0));
	if (rc < 0)
		json_object_object_add(c.resp, "error", json_object_new_string(c.err));
	json_object_object_add(c.resp, "generation",
			       json_object_new_uint64(dp->snapshot->generation));
	out = strdup(json_object_to_json_string_ext(c.resp, JSON_C_TO_STRING_PLAIN));
	json_object_put(c.resp);
	if (c.req != NULL)
		json_object_put(c.req);
	json_tokener_free(tok);
	return out;
}

/*
 * flow.lookup {vip, client, client_port?}: the backend this node gives the
 * flow from client:client_port to the VIP (lb_lookup_flow), so that nodes
 * behind ECMP can be compared: the entry a worker holds for it (asked through
 * its mailbox, lookup.c: the flow tables are the workers' alone), else
 * Maglev's answer (what a new maglev flow, or any flow picked up mid-stream,
 * gets).
 */
static int cmd_flow_lookup(struct api_ctx *c)
{
	const struct lb_snapshot *s = c->dp->snapshot;
	const char *client = get_str(c->req, "client");
	struct flow_key k;
	struct lb_lookup r;
	uint32_t slot;
	unsigned int lcore = 0;
	int64_t port;
	int held;

	memset(&k, 0, sizeof(k));
	if (find_vip(c, &slot) < 0)
		return -EINVAL;
	/* Added while large Maglev tables are built: not in service yet. */
	if (s->vips[slot].uid != c->dp->model->vips[slot].uid)
		return api_error(c, -EAGAIN,
				 "VIP \"%s\" is not in service yet (its tables are being built)",
				 c->dp->model->vips[slot].name);
	if (client == NULL || sl_addr_parse(&k.src, client) < 0)
		return api_error(c, -EINVAL, "client: expected an IPv4 or IPv6 address");
	if (sl_addr_is_v4(&k.src) != sl_addr_is_v4(&s->vips[slot].addr))
		return api_error(c, -EINVAL, "client: not of the VIP's address family");
	if (get_int(c, c->req, "client_port", 0, 65535, 0, &port) < 0)
		return -EINVAL;
	k.dst = s->vips[slot].addr;
	k.sport = htons((uint16_t)port);
	k.dport = s->vips[slot].port_be;
	k.proto = s->vips[slot].proto;
	/* A worker's entry first: where the flow's packets go now on this node. */
	held = dp_lookup_ask(c->dp, slot, &k, &r, &lcore);
	if (held == 1)
		json_object_object_add(c->resp, "lcore", json_object_new_int((int)lcore));
	else
		r = lb_lookup_flow(s, slot, &k, NULL);
	if (held < 0)
		json_object_object_add(c->resp, "workers_not_answering",
				       json_object_new_int(-held));
	json_object_object_add(c->resp, "from",
			       json_object_new_string(lb_lookup_from_name(r.from)));
	if (r.slot != LB_NO_SLOT) {
		json_object_object_add(c->resp, "backend", jstr_addr(&s->backends[r.slot].addr));
		json_object_object_add(c->resp, "backend_port",
				       json_object_new_int(ntohs(s->backends[r.slot].port_be)));
	}
	return 0;
}
