/* SPDX-License-Identifier: BSD-3-Clause */
#include "ctrl_reload.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bkey.h"
#include "scheduler.h"

static const char *empty_name(uint8_t e)
{
	return sl_empty_name(e);
}

/* Durations go to the API in seconds, as in the file. */
static json_object *dur_json(uint32_t ms)
{
	if (ms % 1000 == 0)
		return json_object_new_int64(ms / 1000);
	return json_object_new_double(ms / 1000.0);
}

static const char *sget(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static uint16_t port_of(const struct conf_vip *v, const struct conf_backend *b)
{
	return b->port ? b->port : v->port;
}

json_object *ctrl_reload_backend_json(const struct conf_vip *v, const struct conf_backend *b)
{
	json_object *o = json_object_new_object();
	char ip[SL_ADDR_STRLEN], mac[18];

	json_object_object_add(o, "address",
			       json_object_new_string(sl_addr_format(&b->addr, ip, sizeof(ip))));
	json_object_object_add(o, "port", json_object_new_int(port_of(v, b)));
	json_object_object_add(o, "weight", json_object_new_int64(b->weight));
	if (b->has_mac) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", b->mac[0], b->mac[1],
			 b->mac[2], b->mac[3], b->mac[4], b->mac[5]);
		json_object_object_add(o, "mac", json_object_new_string(mac));
	}
	json_object_object_add(o, "state",
			       json_object_new_string(sl_admin_name((enum sl_admin)b->admin)));
	return o;
}

json_object *ctrl_reload_vip_json(const struct conf_vip *v, bool with_backends)
{
	json_object *o = json_object_new_object();
	char ip[SL_ADDR_STRLEN];

	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "address",
			       json_object_new_string(sl_addr_format(&v->addr, ip, sizeof(ip))));
	json_object_object_add(o, "port", json_object_new_int(v->port));
	json_object_object_add(o, "protocol", json_object_new_string(sl_proto_name(v->proto)));
	json_object_object_add(o, "mode",
			       json_object_new_string(sl_mode_name((enum sl_mode)v->mode)));
	json_object_object_add(o, "scheduler",
			       json_object_new_string(sched_kind_name((enum sched_kind)v->sched)));
	json_object_object_add(o, "hash",
			       json_object_new_string(sl_hash_name((enum sl_hash)v->hash)));
	json_object_object_add(o, "maglev_table_size", json_object_new_int64(v->maglev_size));
	json_object_object_add(o, "when_empty", json_object_new_string(empty_name(v->when_empty)));
	json_object_object_add(
		o, "down_flows",
		json_object_new_string(sl_down_flows_name((enum sl_down_flows)v->down_flows)));
	/* 0 = none: said explicitly, so that vip.set can take a value away. */
	if (v->response_timeout_ms > 0 || v->mode == SL_MODE_FNAT || v->mode == SL_MODE_NAT)
		json_object_object_add(o, "response_timeout", dur_json(v->response_timeout_ms));
	json_object_object_add(o, "drain_deadline", dur_json(v->drain_deadline_ms));
	if (v->n_local_addrs > 0) {
		json_object *la = json_object_new_array();
		for (uint32_t k = 0; k < v->n_local_addrs; k++)
			json_object_array_add(la, json_object_new_string(sl_addr_format(
							  &v->local_addrs[k], ip, sizeof(ip))));
		json_object_object_add(o, "local_addresses", la);
	}
	if (with_backends) {
		json_object *bl = json_object_new_array();
		for (uint32_t j = 0; j < v->n_backends; j++)
			json_object_array_add(bl, ctrl_reload_backend_json(v, &v->backends[j]));
		json_object_object_add(o, "backends", bl);
	}
	return o;
}

static void add_op(json_object *ops, json_object *req, bool flows_ended, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_op(json_object *ops, json_object *req, bool flows_ended, const char *fmt, ...)
{
	json_object *op = json_object_new_object();
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	json_object_object_add(op, "req", req);
	json_object_object_add(op, "what", json_object_new_string(what));
	json_object_object_add(op, "flows_ended", json_object_new_boolean(flows_ended));
	json_object_array_add(ops, op);
}

static json_object *request(const char *cmd, const char *vip)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	if (vip != NULL)
		json_object_object_add(o, "vip", json_object_new_string(vip));
	return o;
}

static const struct conf_vip *conf_vip_named(const struct conf *c, const char *name)
{
	for (uint32_t i = 0; c != NULL && i < c->n_vips; i++)
		if (strcmp(c->vips[i].name, name) == 0)
			return &c->vips[i];
	return NULL;
}

static json_object *dp_vip_named(json_object *dp_vips, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(dp_vips); i++) {
		json_object *v = json_object_array_get_idx(dp_vips, i);
		if (strcmp(sget(v, "name"), name) == 0)
			return v;
	}
	return NULL;
}

/* What cannot change in place: address, port, protocol, mode, local addresses. */
static const char *identity_change(const struct conf_vip *v, json_object *d)
{
	struct sl_addr a;
	json_object *x, *la;
	uint32_t n_la = 0;

	if (sl_addr_parse(&a, sget(d, "address")) < 0 || !sl_addr_eq(&a, &v->addr))
		return "address";
	if (!json_object_object_get_ex(d, "port", &x) || json_object_get_int(x) != v->port)
		return "port";
	if (strcmp(sget(d, "protocol"), sl_proto_name(v->proto)) != 0)
		return "protocol";
	if (strcmp(sget(d, "mode"), sl_mode_name((enum sl_mode)v->mode)) != 0)
		return "mode";
	if (json_object_object_get_ex(d, "local_addresses", &la))
		n_la = (uint32_t)json_object_array_length(la);
	if (n_la != v->n_local_addrs)
		return "local_addresses";
	for (uint32_t k = 0; k < n_la; k++)
		if (sl_addr_parse(&a, json_object_get_string(json_object_array_get_idx(la, k))) <
			    0 ||
		    !sl_addr_eq(&a, &v->local_addrs[k]))
			return "local_addresses";
	return NULL;
}

/*
 * The settings vip.set changes that differ, as "scheduler, hash" (empty: none).
 * A field the data plane does not report is compared with the previous load.
 */
static void settings_change(const struct conf_vip *v, const struct conf_vip *p, json_object *d,
			    char *out, size_t len)
{
	json_object *x;
	size_t used = 0;

	out[0] = '\0';
#define CHANGED(name)                                                                              \
	used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s",                  \
				 used ? ", " : "", name)
	if (strcmp(sget(d, "scheduler"), sched_kind_name((enum sched_kind)v->sched)) != 0)
		CHANGED("scheduler");
	if (strcmp(sget(d, "hash"), sl_hash_name((enum sl_hash)v->hash)) != 0)
		CHANGED("hash");
	if (json_object_object_get_ex(d, "maglev_table_size", &x) &&
	    (uint32_t)json_object_get_int64(x) != v->maglev_size)
		CHANGED("maglev_table_size");
	if (json_object_object_get_ex(d, "when_empty", &x) &&
	    strcmp(json_object_get_string(x), empty_name(v->when_empty)) != 0)
		CHANGED("when_empty");
	if (json_object_object_get_ex(d, "down_flows", &x)
		    ? strcmp(json_object_get_string(x),
			     sl_down_flows_name((enum sl_down_flows)v->down_flows)) != 0
		    : (p ? p->down_flows : SL_DOWN_RESCHEDULE) != v->down_flows)
		CHANGED("down_flows");
	/* The data plane lists both in ms. */
	if (json_object_object_get_ex(d, "response_timeout_ms", &x)
		    ? (uint64_t)json_object_get_int64(x) != v->response_timeout_ms
		    : (p ? p->response_timeout_ms : 0) != v->response_timeout_ms)
		CHANGED("response_timeout");
	if (json_object_object_get_ex(d, "drain_deadline_ms", &x)
		    ? (uint64_t)json_object_get_int64(x) != v->drain_deadline_ms
		    : (p ? p->drain_deadline_ms : 0) != v->drain_deadline_ms)
		CHANGED("drain_deadline");
#undef CHANGED
}

struct bmatch {
	const struct conf_vip *v;
	struct sl_addr a;
	uint16_t port;
};

static bool eq_conf_backend(uint32_t idx, const void *ctx)
{
	const struct bmatch *m = ctx;
	return port_of(m->v, &m->v->backends[idx]) == m->port &&
	       sl_addr_eq(&m->v->backends[idx].addr, &m->a);
}

/* Index of <v>'s backends by (address, port). */
static int index_backends(const struct conf_vip *v, struct bkey_tab *t)
{
	if (bkey_init(t, v->n_backends) < 0)
		return -1;
	for (uint32_t j = 0; j < v->n_backends; j++)
		bkey_put(t, bkey_hash("", &v->backends[j].addr, port_of(v, &v->backends[j])), j);
	return 0;
}

static int64_t find_backend(const struct conf_vip *v, const struct bkey_tab *t,
			    const struct sl_addr *a, uint16_t port)
{
	struct bmatch m = {.v = v, .a = *a, .port = port};
	return bkey_find(t, bkey_hash("", a, port), eq_conf_backend, &m);
}

/* The data plane's backend <b>, which the file no longer has, is deleted. */
static void plan_backend_del(const struct conf_vip *v, json_object *b, uint16_t port,
			     const char *ep, json_object *ops)
{
	json_object *req = request("backend.del", v->name);

	json_object_object_add(req, "address", json_object_new_string(sget(b, "address")));
	json_object_object_add(req, "port", json_object_new_int(port));
	add_op(ops, req, false, "%s: backend %s removed (its established flows run to their end)",
	       v->name, ep);
}

/*
 * The backend.set that takes the data plane's backend <b> to the file's <fb>
 * (<pb>: the same backend in the previous load, NULL if it was not there):
 * its weight, its admin state where the file changed it, its static MAC.
 * Nothing when they already agree.
 */
static void plan_backend_set(const struct conf_vip *v, const struct conf_backend *fb,
			     const struct conf_backend *pb, json_object *b, uint16_t port,
			     const char *ep, json_object *ops)
{
	const char *state = sget(b, "state");
	json_object *req = request("backend.set", v->name), *x;
	char what[160] = "", fmac[18];
	size_t u;

	json_object_object_add(req, "address", json_object_new_string(sget(b, "address")));
	json_object_object_add(req, "port", json_object_new_int(port));
	if (json_object_object_get_ex(b, "weight", &x) &&
	    (uint32_t)json_object_get_int64(x) != fb->weight) {
		json_object_object_add(req, "weight", json_object_new_int64(fb->weight));
		snprintf(what, sizeof(what), "weight %lld -> %u",
			 (long long)json_object_get_int64(x), fb->weight);
	}
	const char *want = sl_admin_name((enum sl_admin)fb->admin);
	/* The file's state wins only where the file changed it. */
	bool file_changed = pb == NULL || pb->admin != fb->admin;
	if (strcmp(state, want) != 0 && file_changed) {
		json_object_object_add(req, "state", json_object_new_string(want));
		u = strlen(what);
		snprintf(what + u, sizeof(what) - u, "%sstate %s -> %s", u ? ", " : "", state,
			 want);
	}
	/* A static MAC given, changed or taken away (then resolved by ARP/ND). */
	bool dp_static = strcmp(sget(b, "neighbour"), "static") == 0;
	snprintf(fmac, sizeof(fmac), "%02x:%02x:%02x:%02x:%02x:%02x", fb->mac[0], fb->mac[1],
		 fb->mac[2], fb->mac[3], fb->mac[4], fb->mac[5]);
	if (fb->has_mac ? !dp_static || strcasecmp(sget(b, "mac"), fmac) != 0 : dp_static) {
		json_object_object_add(req, "mac",
				       json_object_new_string(fb->has_mac ? fmac : "resolve"));
		u = strlen(what);
		snprintf(what + u, sizeof(what) - u, "%smac %s -> %s", u ? ", " : "",
			 dp_static ? sget(b, "mac") : "resolved",
			 fb->has_mac ? fmac : "resolved by ARP/ND");
	}
	if (what[0] != '\0')
		add_op(ops, req, false, "%s: backend %s %s", v->name, ep, what);
	else
		json_object_put(req);
}

/* The file's backend <fb> of <v>, which the data plane does not have, is added. */
static void plan_backend_add(const struct conf_vip *v, const struct conf_backend *fb,
			     json_object *ops)
{
	json_object *req = request("backend.add", v->name);
	char ep[80], ip[SL_ADDR_STRLEN];

	json_object_object_add(req, "backend", ctrl_reload_backend_json(v, fb));
	sl_addr_format(&fb->addr, ip, sizeof(ip));
	snprintf(ep, sizeof(ep), sl_addr_is_v4(&fb->addr) ? "%s:%u" : "[%s]:%u", ip,
		 port_of(v, fb));
	add_op(ops, req, false, "%s: backend %s added (weight %u, %s)", v->name, ep, fb->weight,
	       sl_admin_name((enum sl_admin)fb->admin));
}

/*
 * The backends of VIP <v> (<p> in the previous load, <d> as the data plane
 * lists it): deleted, changed in place, or added.
 */
static void plan_backends(const struct conf_vip *v, const struct conf_vip *p, json_object *d,
			  json_object *ops)
{
	struct bkey_tab tn = {0}, tp = {0};
	json_object *bl;
	bool *seen = calloc(v->n_backends ? v->n_backends : 1, sizeof(*seen));
	char ep[80];

	if (seen == NULL || index_backends(v, &tn) < 0 || (p && index_backends(p, &tp) < 0))
		goto out;
	if (json_object_object_get_ex(d, "backends", &bl))
		for (size_t i = 0; i < json_object_array_length(bl); i++) {
			json_object *b = json_object_array_get_idx(bl, i), *x;
			struct sl_addr a;
			uint16_t port;
			int64_t k, pk;

			if (strcmp(sget(b, "state"), "removed") == 0 ||
			    sl_addr_parse(&a, sget(b, "address")) < 0 ||
			    !json_object_object_get_ex(b, "port", &x))
				continue;
			port = (uint16_t)json_object_get_int(x);
			snprintf(ep, sizeof(ep), sl_addr_is_v4(&a) ? "%s:%u" : "[%s]:%u",
				 sget(b, "address"), port);
			k = find_backend(v, &tn, &a, port);
			if (k < 0) {
				plan_backend_del(v, b, port, ep, ops);
				continue;
			}
			seen[k] = true;
			pk = p ? find_backend(p, &tp, &a, port) : -1;
			plan_backend_set(v, &v->backends[k], pk < 0 ? NULL : &p->backends[pk], b,
					 port, ep, ops);
		}
	for (uint32_t j = 0; j < v->n_backends; j++)
		if (!seen[j])
			plan_backend_add(v, &v->backends[j], ops);
out:
	bkey_free(&tn);
	bkey_free(&tp);
	free(seen);
}

/* A vip.add line stays well under the API's 64 KiB; bigger pools go in one by one. */
#define VIP_ADD_INLINE_BACKENDS 256

static void plan_add(const struct conf_vip *v, json_object *ops, bool flows_ended, const char *why)
{
	bool inline_backends = v->n_backends <= VIP_ADD_INLINE_BACKENDS;
	json_object *req = request("vip.add", NULL);

	json_object_object_add(req, "vip", ctrl_reload_vip_json(v, inline_backends));
	add_op(ops, req, flows_ended, "%s: %s (%u backends)", v->name, why, v->n_backends);
	if (inline_backends)
		return;
	for (uint32_t j = 0; j < v->n_backends; j++) {
		json_object *b = request("backend.add", v->name);
		json_object_object_add(b, "backend", ctrl_reload_backend_json(v, &v->backends[j]));
		add_op(ops, b, false, "%s: backend %u of %u added", v->name, j + 1, v->n_backends);
	}
}

int ctrl_reload_plan(const struct conf *prev, const struct conf *next, json_object *dp_vips,
		     json_object *ops)
{
	size_t before = json_object_array_length(ops);

	/* Removed VIPs first: a VIP re-added elsewhere in the file may need the address. */
	for (size_t i = 0; i < json_object_array_length(dp_vips); i++) {
		const char *name = sget(json_object_array_get_idx(dp_vips, i), "name");
		if (conf_vip_named(next, name) == NULL)
			add_op(ops, request("vip.del", name), true,
			       "%s: VIP removed (its flows are ended)", name);
	}
	for (uint32_t i = 0; i < next->n_vips; i++) {
		const struct conf_vip *v = &next->vips[i];
		const struct conf_vip *p = conf_vip_named(prev, v->name);
		json_object *d = dp_vip_named(dp_vips, v->name);
		const char *id;
		char what[160];

		if (d == NULL) {
			plan_add(v, ops, false, "VIP added");
			continue;
		}
		if ((id = identity_change(v, d)) != NULL) {
			/* Not doable in place: say plainly that its flows end. */
			add_op(ops, request("vip.del", v->name), true,
			       "%s: %s changed: the VIP is deleted and added again, ITS "
			       "ESTABLISHED FLOWS ARE ENDED",
			       v->name, id);
			snprintf(what, sizeof(what), "VIP added again (%s changed)", id);
			plan_add(v, ops, true, what);
			continue;
		}
		settings_change(v, p, d, what, sizeof(what));
		if (what[0] != '\0') {
			json_object *req = request("vip.set", NULL);
			json_object_object_add(req, "vip", ctrl_reload_vip_json(v, false));
			add_op(ops, req, false, "%s: %s changed in place", v->name, what);
		}
		plan_backends(v, p, d, ops);
	}
	return (int)(json_object_array_length(ops) - before);
}
