/* SPDX-License-Identifier: BSD-3-Clause */
#include "lb_model.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_internal.h"
#include "maglev.h"
#include "scheduler.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

struct members_job;

/*
 * The pools being built, apart from the model so that a checkpoint put back
 * (lb_model_txn.h) does not bring back a job freed since: a job is known to be
 * current by its VIP's uid and change stamp, and stamps are never reused.
 */
struct lb_model_builds {
	uint64_t stamp; /* the last change stamp handed out */
	struct members_job *job[LB_MAX_VIPS];
};

static void job_free(struct members_job *j);

struct lb_model *lb_model_create(void)
{
	struct lb_model *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->builds = calloc(1, sizeof(*m->builds));
	if (m->builds == NULL) {
		free(m);
		return NULL;
	}
	m->next_uid = 1;
	return m;
}

static void members_put(struct lb_members *p)
{
	if (p == NULL || --p->refcnt > 0)
		return;
	free(p->slot);
	free(p->weight);
	free(p->maglev);
	free(p->wrr_seq);
	free(p);
}

void lb_model_free(struct lb_model *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		free(m->vips[i].members);
		members_put(m->vips[i].compiled);
		job_free(m->builds->job[i]);
	}
	free(m->builds);
	free(m);
}

/* What VIP <v>'s pool is built from changed: it is rebuilt, and a build under way is stale. */
static void vip_changed(struct lb_model *m, struct lb_model_vip *v)
{
	v->dirty = true;
	v->change = ++m->builds->stamp;
}

int lb_model_port_add(struct lb_model *m, const struct conf_port *cp, const uint8_t mac[6],
		      char *err, size_t errlen)
{
	struct lb_port_info *p;

	if (m->n_ports >= LB_MAX_PORTS)
		return fail(err, errlen, -ENOSPC, "port %s: at most %d ports", cp->name,
			    LB_MAX_PORTS);
	p = &m->ports[m->n_ports];
	memset(p, 0, sizeof(*p));
	memcpy(p->mac, mac, 6);
	p->has_ipv4 = cp->has_ipv4;
	p->ipv4 = cp->ipv4;
	p->ipv4_plen = cp->ipv4_plen;
	p->has_ipv6 = cp->has_ipv6;
	p->ipv6 = cp->ipv6;
	p->ipv6_plen = cp->ipv6_plen;
	p->mtu = 1500; /* the owner sets the port's real MTU */
	p->kernel = cp->kernel_if[0] != '\0';
	snprintf(m->port_names[m->n_ports], CONF_NAME_MAX, "%s", cp->name);
	m->n_ports++;
	return 0;
}

static char *service_text(const struct sl_addr *a, uint16_t port, uint8_t proto, char *buf,
			  size_t len)
{
	char ip[SL_ADDR_STRLEN];

	sl_addr_format(a, ip, sizeof(ip));
	snprintf(buf, len, sl_addr_is_v4(a) ? "%s:%u/%s" : "[%s]:%u/%s", ip, port,
		 proto == IPPROTO_UDP ? "udp" : "tcp");
	return buf;
}

int lb_model_vip_find(const struct lb_model *m, const char *key)
{
	char text[CONF_NAME_MAX];

	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		const struct lb_model_vip *v = &m->vips[i];
		if (v->uid == 0)
			continue;
		if (strcmp(v->name, key) == 0 ||
		    strcmp(service_text(&v->addr, v->port, v->proto, text, sizeof(text)), key) == 0)
			return (int)i;
	}
	return -ENOENT;
}

static int vip_find_service(const struct lb_model *m, const struct sl_addr *a, uint16_t port,
			    uint8_t proto)
{
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		const struct lb_model_vip *v = &m->vips[i];
		if (v->uid != 0 && v->port == port && v->proto == proto && sl_addr_eq(&v->addr, a))
			return (int)i;
	}
	return -ENOENT;
}

/* Id of a full-NAT local address, registered on first use; -ENOSPC when full. */
static int laddr_get(struct lb_model *m, const struct sl_addr *a)
{
	for (uint32_t i = 0; i < m->n_laddrs; i++)
		if (sl_addr_eq(&m->laddrs[i], a))
			return (int)i;
	if (m->n_laddrs == LB_MAX_LADDRS)
		return -ENOSPC;
	m->laddrs[m->n_laddrs] = *a;
	return (int)m->n_laddrs++;
}

static bool vip_slot_has_removed(const struct lb_model *m, uint32_t slot)
{
	for (uint32_t b = 0; b < LB_MAX_BACKENDS; b++)
		if (m->backends[b].uid != 0 && m->backends[b].removed &&
		    m->backends[b].vip_slot == slot)
			return true;
	return false;
}

/* What a new VIP <cv> must pass before anything is changed; <text> is its service text. */
static int vip_add_check(const struct lb_model *m, const struct conf_vip *cv, const char *text,
			 char *err, size_t errlen)
{
	if (vip_find_service(m, &cv->addr, cv->port, cv->proto) >= 0)
		return fail(err, errlen, -EEXIST, "VIP %s already exists", text);
	if (cv->name[0] != '\0' && lb_model_vip_find(m, cv->name) >= 0)
		return fail(err, errlen, -EEXIST, "a VIP named \"%s\" already exists", cv->name);
	if (cv->sched >= SCHED_KIND_MAX || cv->mode >= SL_MODE_MAX || cv->hash >= SL_HASH_MAX)
		return fail(err, errlen, -EINVAL, "VIP %s: bad scheduler, mode or hash", text);

	if (cv->mode == SL_MODE_FNAT && cv->n_local_addrs == 0)
		return fail(err, errlen, -EINVAL, "VIP %s: mode fnat needs local addresses", text);
	if (cv->n_local_addrs > LB_VIP_MAX_LADDRS)
		return fail(err, errlen, -EINVAL, "VIP %s: at most %d local addresses", text,
			    LB_VIP_MAX_LADDRS);
	for (uint32_t i = 0; i < cv->n_local_addrs; i++) {
		char ip[SL_ADDR_STRLEN];

		/* A translation keeps the family: the VIP's and the local address's. */
		if (sl_addr_is_v4(&cv->local_addrs[i]) != sl_addr_is_v4(&cv->addr))
			return fail(
				err, errlen, -EINVAL,
				"VIP %s: local address %s: address family differs from the VIP's",
				text, sl_addr_format(&cv->local_addrs[i], ip, sizeof(ip)));
	}
	return 0;
}

/* The ids of <cv>'s local addresses into <ids>, registering those not known yet. */
static int vip_add_laddrs(struct lb_model *m, const struct conf_vip *cv, const char *text,
			  uint8_t *ids, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < cv->n_local_addrs; i++) {
		int id = laddr_get(m, &cv->local_addrs[i]);
		if (id < 0)
			return fail(err, errlen, -ENOSPC,
				    "VIP %s: at most %d local addresses in all VIPs", text,
				    LB_MAX_LADDRS);
		ids[i] = (uint8_t)id;
	}
	return 0;
}

/*
 * A free slot whose deleted VIP's flows are gone: the flow table knows a
 * flow's VIP by slot, so flows of a deleted VIP still finishing on its
 * removed backends must not be taken for the new VIP's (another mode would
 * rewrite them wrongly). Only when every free slot still has such flows is
 * one reused, the lowest. -ENOSPC when there is none.
 */
static int vip_free_slot(const struct lb_model *m)
{
	for (uint32_t slot = 0; slot < LB_MAX_VIPS; slot++)
		if (m->vips[slot].uid == 0 && !vip_slot_has_removed(m, slot))
			return (int)slot;
	for (uint32_t slot = 0; slot < LB_MAX_VIPS; slot++)
		if (m->vips[slot].uid == 0)
			return (int)slot;
	return -ENOSPC;
}

/* Slot <v> takes the settings of <cv> (its backends apart), as a new VIP. */
static void vip_fill(struct lb_model *m, struct lb_model_vip *v, const struct conf_vip *cv,
		     const char *text, const uint8_t *laddr_ids)
{
	memset(v, 0, sizeof(*v));
	v->uid = m->next_uid++;
	snprintf(v->name, sizeof(v->name), "%s", cv->name[0] != '\0' ? cv->name : text);
	v->addr = cv->addr;
	v->port = cv->port;
	v->proto = cv->proto;
	v->mode = cv->mode;
	v->sched = cv->sched;
	v->hash = cv->hash;
	v->when_empty = cv->when_empty;
	v->down_flows = cv->down_flows < SL_DOWN_MAX ? cv->down_flows : SL_DOWN_RESCHEDULE;
	v->response_timeout_ms = cv->response_timeout_ms;
	v->redispatch = !cv->redispatch_off;
	v->syn_timeout_ms = cv->syn_timeout_ms != 0 ? cv->syn_timeout_ms : CONF_SYN_TIMEOUT_MS;
	v->drain_deadline_ms = cv->drain_deadline_ms;
	v->maglev_size = cv->maglev_size;
	v->n_laddrs = (uint8_t)cv->n_local_addrs;
	memcpy(v->laddr, laddr_ids, cv->n_local_addrs);
	vip_changed(m, v);
}

int lb_model_vip_add(struct lb_model *m, const struct conf_vip *cv, char *err, size_t errlen)
{
	char text[CONF_NAME_MAX];
	uint8_t laddr_ids[LB_VIP_MAX_LADDRS];
	struct lb_model_vip *v;
	int slot, rc;

	service_text(&cv->addr, cv->port, cv->proto, text, sizeof(text));
	rc = vip_add_check(m, cv, text, err, errlen);
	if (rc < 0)
		return rc;
	rc = vip_add_laddrs(m, cv, text, laddr_ids, err, errlen);
	if (rc < 0)
		return rc;
	if (!maglev_is_prime(cv->maglev_size) || cv->maglev_size <= cv->n_backends ||
	    cv->maglev_size > CONF_MAX_MAGLEV_SIZE)
		return fail(err, errlen, -EINVAL,
			    "VIP %s: maglev_table_size %u must be a prime above the backend count, "
			    "at most %u",
			    text, cv->maglev_size, CONF_MAX_MAGLEV_SIZE);
	slot = vip_free_slot(m);
	if (slot < 0)
		return fail(err, errlen, -ENOSPC, "VIP %s: at most %d VIPs", text, LB_MAX_VIPS);
	v = &m->vips[slot];
	vip_fill(m, v, cv, text, laddr_ids);
	for (uint32_t i = 0; i < cv->n_backends; i++) {
		rc = lb_model_backend_add(m, (uint32_t)slot, &cv->backends[i], err, errlen);
		if (rc < 0) {
			/* Never published: free what was added at once. */
			while (v->n_members > 0) {
				uint32_t b = v->members[v->n_members - 1];
				lb_model_backend_del(m, b);
				lb_model_backend_reap(m, b);
			}
			lb_model_vip_del(m, (uint32_t)slot);
			return rc;
		}
	}
	return slot;
}

int lb_model_vip_del(struct lb_model *m, uint32_t slot)
{
	struct lb_model_vip *v;

	if (slot >= LB_MAX_VIPS || m->vips[slot].uid == 0)
		return -ENOENT;
	v = &m->vips[slot];
	/*
	 * Backends are marked removed, not freed: the lcores still hold their
	 * flows (and count them) until those expire, and a VIP deleted and added
	 * again at the same slot (a reload) keeps its established flows.
	 */
	while (v->n_members > 0)
		lb_model_backend_del(m, v->members[v->n_members - 1]);
	free(v->members);
	members_put(v->compiled);
	memset(v, 0, sizeof(*v));
	return 0;
}

int lb_model_vip_set(struct lb_model *m, uint32_t slot, const struct conf_vip *cv, char *err,
		     size_t errlen)
{
	struct lb_model_vip *v;
	char was[SL_ADDR_STRLEN + 8], now[SL_ADDR_STRLEN + 8];

	if (slot >= LB_MAX_VIPS || m->vips[slot].uid == 0)
		return fail(err, errlen, -ENOENT, "no such VIP");
	v = &m->vips[slot];
#define IMMUTABLE(field, a, b)                                                                     \
	fail(err, errlen, -EINVAL,                                                                 \
	     "vip.set %s: " field " cannot change in place (%s -> %s): delete and add the VIP",    \
	     v->name, a, b)
	if (!sl_addr_eq(&v->addr, &cv->addr))
		return IMMUTABLE("address", sl_addr_format(&v->addr, was, sizeof(was)),
				 sl_addr_format(&cv->addr, now, sizeof(now)));
	if (v->port != cv->port) {
		snprintf(was, sizeof(was), "%u", v->port);
		snprintf(now, sizeof(now), "%u", cv->port);
		return IMMUTABLE("port", was, now);
	}
	if (v->proto != cv->proto)
		return IMMUTABLE("protocol", v->proto == IPPROTO_UDP ? "udp" : "tcp",
				 cv->proto == IPPROTO_UDP ? "udp" : "tcp");
	if (v->mode != cv->mode)
		return IMMUTABLE("mode", sl_mode_name((enum sl_mode)v->mode),
				 cv->mode < SL_MODE_MAX ? sl_mode_name((enum sl_mode)cv->mode)
							: "?");
	bool same_laddrs = v->n_laddrs == cv->n_local_addrs;
	for (uint32_t i = 0; same_laddrs && i < v->n_laddrs; i++)
		same_laddrs = sl_addr_eq(&m->laddrs[v->laddr[i]], &cv->local_addrs[i]);
	if (!same_laddrs) {
		snprintf(was, sizeof(was), "%u address%s", v->n_laddrs,
			 v->n_laddrs == 1 ? "" : "es");
		snprintf(now, sizeof(now), "%u address%s", cv->n_local_addrs,
			 cv->n_local_addrs == 1 ? "" : "es");
		return IMMUTABLE("local_addresses", was, now);
	}
#undef IMMUTABLE
	if (cv->sched >= SCHED_KIND_MAX || cv->hash >= SL_HASH_MAX ||
	    cv->when_empty >= SL_EMPTY_MAX || cv->down_flows >= SL_DOWN_MAX)
		return fail(err, errlen, -EINVAL,
			    "vip.set %s: bad scheduler, hash, when_empty or down_flows", v->name);
	if (cv->response_timeout_ms != 0 && v->mode != SL_MODE_FNAT && v->mode != SL_MODE_NAT)
		return fail(err, errlen, -EINVAL,
			    "vip.set %s: response_timeout needs mode fnat or nat (replies pass "
			    "through Sluice only then), not %s",
			    v->name, sl_mode_name((enum sl_mode)v->mode));
	if (!maglev_is_prime(cv->maglev_size) || cv->maglev_size <= v->n_members ||
	    cv->maglev_size > CONF_MAX_MAGLEV_SIZE)
		return fail(err, errlen, -EINVAL,
			    "vip.set %s: maglev_table_size %u must be a prime above the backend "
			    "count, at most %u",
			    v->name, cv->maglev_size, CONF_MAX_MAGLEV_SIZE);
	/* The pool (scheduler tables) is rebuilt only when what it is built from changes. */
	if (v->sched != cv->sched || v->hash != cv->hash || v->maglev_size != cv->maglev_size)
		vip_changed(m, v);
	v->sched = cv->sched;
	v->hash = cv->hash;
	v->maglev_size = cv->maglev_size;
	v->when_empty = cv->when_empty;
	v->down_flows = cv->down_flows;
	v->response_timeout_ms = cv->response_timeout_ms;
	v->redispatch = !cv->redispatch_off;
	v->syn_timeout_ms = cv->syn_timeout_ms != 0 ? cv->syn_timeout_ms : CONF_SYN_TIMEOUT_MS;
	v->drain_deadline_ms = cv->drain_deadline_ms;
	return 0;
}

int lb_model_load(struct lb_model *m, const struct conf *c, char *err, size_t errlen)
{
	char inner[256];

	for (uint32_t i = 0; i < c->n_vips; i++) {
		int rc = lb_model_vip_add(m, &c->vips[i], inner, sizeof(inner));
		if (rc < 0)
			return fail(err, errlen, rc, "%s:%d: vips[%u]: %s", c->path,
				    c->vips[i].line, i, inner);
	}
	return 0;
}

/* The port whose subnet holds <a>, or -1. */
static int port_for(const struct lb_model *m, const struct sl_addr *a)
{
	for (int p = 0; p < (int)m->n_ports; p++) {
		const struct lb_port_info *pi = &m->ports[p];
		if (sl_addr_is_v4(a) && pi->has_ipv4 &&
		    sl_prefix_contains(&pi->ipv4, pi->ipv4_plen, a))
			return p;
		if (!sl_addr_is_v4(a) && pi->has_ipv6 &&
		    sl_prefix_contains(&pi->ipv6, pi->ipv6_plen, a))
			return p;
	}
	return -1;
}

int lb_model_backend_find(const struct lb_model *m, uint32_t vip_slot, const struct sl_addr *addr,
			  uint16_t port)
{
	const struct lb_model_vip *v;

	if (vip_slot >= LB_MAX_VIPS || m->vips[vip_slot].uid == 0)
		return -ENOENT;
	v = &m->vips[vip_slot];
	if (port == 0)
		port = v->port;
	for (uint32_t i = 0; i < v->n_members; i++) {
		const struct lb_model_backend *b = &m->backends[v->members[i]];
		if (b->port == port && sl_addr_eq(&b->addr, addr))
			return (int)v->members[i];
	}
	return -ENOENT;
}

int lb_model_backend_add(struct lb_model *m, uint32_t vip_slot, const struct conf_backend *cb,
			 char *err, size_t errlen)
{
	char ip[SL_ADDR_STRLEN];
	struct lb_model_vip *v;
	struct lb_model_backend *b = NULL;
	uint32_t slot;
	uint16_t port;
	int neigh;

	if (vip_slot >= LB_MAX_VIPS || m->vips[vip_slot].uid == 0)
		return fail(err, errlen, -ENOENT, "no such VIP");
	v = &m->vips[vip_slot];
	sl_addr_format(&cb->addr, ip, sizeof(ip));
	port = cb->port != 0 ? cb->port : v->port;
	if (sl_addr_is_v4(&cb->addr) != sl_addr_is_v4(&v->addr))
		return fail(err, errlen, -EINVAL,
			    "backend %s: address family differs from the VIP's", ip);
	if ((v->mode == SL_MODE_DSR || v->mode == SL_MODE_TUNNEL) && port != v->port)
		return fail(err, errlen, -EINVAL,
			    "backend %s: port %u differs from the VIP's %u, which %s cannot do", ip,
			    port, v->port, sl_mode_name((enum sl_mode)v->mode));
	if (cb->weight > 65535 || cb->admin >= SL_ADMIN_MAX)
		return fail(err, errlen, -EINVAL, "backend %s: bad weight or state", ip);
	if (lb_model_backend_find(m, vip_slot, &cb->addr, port) >= 0)
		return fail(err, errlen, -EEXIST, "backend %s port %u is already in VIP %s", ip,
			    port, v->name);
	if (v->n_members + 1 >= v->maglev_size || v->n_members >= MAGLEV_MAX_BACKENDS)
		return fail(err, errlen, -ENOSPC,
			    "VIP %s: maglev_table_size %u leaves no room for another backend",
			    v->name, v->maglev_size);
	for (slot = 0; slot < LB_MAX_BACKENDS; slot++) {
		if (m->backends[slot].uid == 0) {
			b = &m->backends[slot];
			break;
		}
	}
	if (b == NULL)
		return fail(err, errlen, -ENOSPC, "at most %d backends in all", LB_MAX_BACKENDS);
	if (v->n_members == v->cap_members) {
		uint32_t cap = v->cap_members ? v->cap_members * 2 : 8;
		uint32_t *mem = realloc(v->members, cap * sizeof(*mem));
		if (mem == NULL)
			return fail(err, errlen, -ENOMEM, "out of memory");
		v->members = mem;
		v->cap_members = cap;
	}
	int out_port = port_for(m, &cb->addr);
	if (out_port < 0 && !cb->has_mac)
		return fail(
			err, errlen, -EINVAL,
			"backend %s is on no port's subnet: dsr reaches backends on the same L2 "
			"segment (give the port an address in its subnet, or a static mac)",
			ip);
	if (out_port < 0)
		out_port = 0;
	neigh = lb_neigh_ref(m->neigh, &cb->addr, (uint16_t)out_port, cb->has_mac ? cb->mac : NULL);
	if (neigh < 0)
		return fail(err, errlen, neigh, "no free neighbour slot");

	memset(b, 0, sizeof(*b));
	b->uid = m->next_uid++;
	b->vip_slot = (uint16_t)vip_slot;
	b->out_port = (uint16_t)out_port;
	b->addr = cb->addr;
	b->port = port;
	b->weight = cb->weight;
	b->admin = cb->admin;
	b->health = SL_HEALTH_UP;
	b->control_weight = -1;
	b->has_mac = cb->has_mac;
	memcpy(b->mac, cb->mac, 6);
	b->neigh_slot = (uint32_t)neigh;
	v->members[v->n_members++] = slot;
	vip_changed(m, v);
	return (int)slot;
}

int lb_model_backend_del(struct lb_model *m, uint32_t slot)
{
	struct lb_model_backend *b;
	struct lb_model_vip *v;

	if (slot >= LB_MAX_BACKENDS || m->backends[slot].uid == 0 || m->backends[slot].removed)
		return -ENOENT;
	b = &m->backends[slot];
	v = &m->vips[b->vip_slot];
	for (uint32_t i = 0; i < v->n_members; i++) {
		if (v->members[i] == slot) {
			memmove(&v->members[i], &v->members[i + 1],
				(v->n_members - i - 1) * sizeof(uint32_t));
			v->n_members--;
			break;
		}
	}
	vip_changed(m, v);
	b->removed = true;
	return 0;
}

int lb_model_backend_reap(struct lb_model *m, uint32_t slot)
{
	struct lb_model_backend *b;

	if (slot >= LB_MAX_BACKENDS || m->backends[slot].uid == 0 || !m->backends[slot].removed)
		return -ENOENT;
	b = &m->backends[slot];
	lb_neigh_unref(m->neigh, b->neigh_slot);
	memset(b, 0, sizeof(*b));
	return 0;
}

static struct lb_model_backend *backend_get(struct lb_model *m, uint32_t slot)
{
	if (slot >= LB_MAX_BACKENDS || m->backends[slot].uid == 0 || m->backends[slot].removed)
		return NULL;
	return &m->backends[slot];
}

int lb_model_backend_set_mac(struct lb_model *m, uint32_t slot, const uint8_t *mac, char *err,
			     size_t errlen)
{
	struct lb_model_backend *b = backend_get(m, slot);
	char ip[SL_ADDR_STRLEN];
	int out_port, neigh;

	if (b == NULL)
		return fail(err, errlen, -ENOENT, "no such backend");
	if (mac == NULL ? !b->has_mac : b->has_mac && memcmp(b->mac, mac, 6) == 0)
		return 0;
	out_port = port_for(m, &b->addr);
	if (out_port < 0 && mac == NULL)
		return fail(err, errlen, -EINVAL,
			    "backend %s is on no port's subnet: its MAC cannot be resolved, only "
			    "given",
			    sl_addr_format(&b->addr, ip, sizeof(ip)));
	/* The new neighbour first, so the old one's slot cannot be handed back to it. */
	neigh = lb_neigh_ref(m->neigh, &b->addr, (uint16_t)(out_port < 0 ? 0 : out_port), mac);
	if (neigh < 0)
		return fail(err, errlen, neigh, "no free neighbour slot");
	lb_neigh_unref(m->neigh, b->neigh_slot);
	b->neigh_slot = (uint32_t)neigh;
	b->out_port = (uint16_t)(out_port < 0 ? 0 : out_port);
	b->has_mac = mac != NULL;
	if (mac != NULL)
		memcpy(b->mac, mac, 6);
	else
		memset(b->mac, 0, 6);
	vip_changed(m, &m->vips[b->vip_slot]);
	return 0;
}

int lb_model_backend_set_weight(struct lb_model *m, uint32_t slot, uint32_t weight)
{
	struct lb_model_backend *b = backend_get(m, slot);

	if (b == NULL)
		return -ENOENT;
	if (weight > 65535)
		return -EINVAL;
	b->weight = weight;
	vip_changed(m, &m->vips[b->vip_slot]);
	return 0;
}

int lb_model_backend_set_admin(struct lb_model *m, uint32_t slot, enum sl_admin admin)
{
	struct lb_model_backend *b = backend_get(m, slot);

	if (b == NULL)
		return -ENOENT;
	if ((unsigned int)admin >= SL_ADMIN_MAX)
		return -EINVAL;
	if (admin != SL_ADMIN_DRAIN || b->admin != SL_ADMIN_DRAIN) {
		/* A new drain starts its clock at the next tick; leaving drain cancels it. */
		b->drain_deadline_ms = 0;
		b->drain_started = false;
		b->drain_expired = false;
	}
	b->admin = (uint8_t)admin;
	vip_changed(m, &m->vips[b->vip_slot]);
	return 0;
}

int lb_model_backend_set_drain_deadline(struct lb_model *m, uint32_t slot, uint32_t ms)
{
	struct lb_model_backend *b = backend_get(m, slot);

	if (b == NULL)
		return -ENOENT;
	if (b->admin != SL_ADMIN_DRAIN)
		return -EINVAL;
	b->drain_deadline_ms = ms;
	return 0;
}

static uint32_t drain_deadline_of(const struct lb_model *m, const struct lb_model_backend *b)
{
	return b->drain_deadline_ms != 0 ? b->drain_deadline_ms
					 : m->vips[b->vip_slot].drain_deadline_ms;
}

uint32_t lb_model_drain_tick(struct lb_model *m, uint64_t now_ms)
{
	uint32_t changed = 0;

	for (uint32_t i = 0; i < LB_MAX_BACKENDS; i++) {
		struct lb_model_backend *b = &m->backends[i];
		uint32_t deadline;
		if (b->uid == 0 || b->admin != SL_ADMIN_DRAIN)
			continue;
		if (!b->drain_started) {
			b->drain_started = true;
			b->drain_start_ms = now_ms;
		}
		deadline = drain_deadline_of(m, b);
		if (!b->drain_expired && deadline != 0 && now_ms - b->drain_start_ms >= deadline) {
			b->drain_expired = true;
			changed++;
		}
	}
	return changed;
}

int64_t lb_model_drain_remaining(const struct lb_model *m, const struct lb_model_backend *b,
				 uint64_t now_ms)
{
	uint32_t deadline = drain_deadline_of(m, b);
	uint64_t spent;

	if (b->admin != SL_ADMIN_DRAIN || deadline == 0)
		return -1;
	if (!b->drain_started)
		return deadline;
	spent = now_ms - b->drain_start_ms;
	return b->drain_expired || spent >= deadline ? 0 : (int64_t)(deadline - spent);
}

int lb_model_backend_set_health(struct lb_model *m, uint32_t slot, enum sl_health health)
{
	struct lb_model_backend *b = backend_get(m, slot);

	if (b == NULL)
		return -ENOENT;
	if (health != SL_HEALTH_UP && health != SL_HEALTH_DOWN)
		return -EINVAL;
	b->health = (uint8_t)health;
	vip_changed(m, &m->vips[b->vip_slot]);
	return 0;
}

int lb_model_backend_set_control_weight(struct lb_model *m, uint32_t slot, int32_t weight)
{
	struct lb_model_backend *b = backend_get(m, slot);

	if (b == NULL)
		return -ENOENT;
	if (weight < -1 || weight > 65535)
		return -EINVAL;
	b->control_weight = weight;
	vip_changed(m, &m->vips[b->vip_slot]);
	return 0;
}

uint32_t lb_model_backend_effective_weight(const struct lb_model *m,
					   const struct lb_model_backend *b)
{
	/* No new flows to a backend whose MAC is unknown: they would be dropped. */
	if (b->removed || !lb_neigh_usable(&m->neigh[b->neigh_slot]))
		return 0;
	if (b->admin != SL_ADMIN_READY || b->health != SL_HEALTH_UP)
		return 0;
	return b->control_weight >= 0 ? (uint32_t)b->control_weight : b->weight;
}

/* A neighbour became usable or stopped being: its backends' pools change. */
static void neigh_mark_dirty(void *arg, uint32_t neigh_slot)
{
	struct lb_model *m = arg;

	for (uint32_t i = 0; i < LB_MAX_BACKENDS; i++) {
		const struct lb_model_backend *b = &m->backends[i];
		if (b->uid != 0 && !b->removed && b->neigh_slot == neigh_slot)
			vip_changed(m, &m->vips[b->vip_slot]);
	}
	m->neigh_changed = true;
}

/*
 * A VIP's next pool, being built: all of it but the Maglev table is filled
 * when the job starts; the table is built in slices (lb_model_build_step()).
 * It is the pool of the model as it was at the VIP's change stamp <change>.
 */
struct members_job {
	uint32_t vip_uid;
	uint64_t change;
	struct lb_members *members;
	struct maglev_builder *mg; /* NULL once the table is complete */
};

static void job_free(struct members_job *j)
{
	if (j == NULL)
		return;
	maglev_build_free(j->mg);
	members_put(j->members);
	free(j);
}

/* A pool for <v>'s members as they are now; its Maglev table not built yet. */
static struct lb_members *members_alloc(struct lb_model *m, const struct lb_model_vip *v)
{
	struct lb_members *p = calloc(1, sizeof(*p));
	uint32_t n = v->n_members;

	if (p == NULL)
		return NULL;
	p->refcnt = 1;
	p->version = ++m->members_version;
	p->n = n;
	p->maglev_size = v->maglev_size;
	p->slot = calloc(n ? n : 1, sizeof(*p->slot));
	p->weight = calloc(n ? n : 1, sizeof(*p->weight));
	p->maglev = malloc(v->maglev_size * sizeof(*p->maglev));
	if (p->slot == NULL || p->weight == NULL || p->maglev == NULL)
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		p->slot[i] = v->members[i];
		p->weight[i] = lb_model_backend_effective_weight(m, &m->backends[v->members[i]]);
		p->total_weight += p->weight[i];
	}
	if (v->sched == SCHED_KIND_WRR) {
		p->wrr_seq = malloc(LB_WRR_CYCLE_MAX * sizeof(*p->wrr_seq));
		if (p->wrr_seq == NULL)
			goto fail;
		p->wrr_len = sched_wrr_cycle(p->wrr_seq, LB_WRR_CYCLE_MAX, p->weight, n);
	}
	return p;
fail:
	members_put(p);
	return NULL;
}

/*
 * Starts the Maglev table of pool <p> of VIP <v>. Maglev ids are "address
 * port" text: two Sluice nodes with the same pool build byte-identical
 * tables whatever slots their backends landed in.
 */
static int members_maglev_start(const struct lb_model *m, const struct lb_model_vip *v,
				struct lb_members *p, struct maglev_builder **mg)
{
	uint32_t n = v->n_members;
	struct maglev_backend *mb = calloc(n ? n : 1, sizeof(*mb));
	char(*ids)[SL_ADDR_STRLEN + 8] = calloc(n ? n : 1, sizeof(*ids));
	int rc = -ENOMEM;

	if (mb != NULL && ids != NULL) {
		for (uint32_t i = 0; i < n; i++) {
			const struct lb_model_backend *b = &m->backends[v->members[i]];
			char ip[SL_ADDR_STRLEN];

			snprintf(ids[i], sizeof(ids[i]), "%s %u",
				 sl_addr_format(&b->addr, ip, sizeof(ip)), b->port);
			mb[i].id = ids[i];
			mb[i].id_len = strlen(ids[i]);
			mb[i].weight = p->weight[i];
		}
		rc = maglev_build_start(mg, p->maglev, v->maglev_size, mb, n);
	}
	free(mb);
	free(ids);
	return rc;
}

/* A job building <v>'s next pool, or NULL when out of memory. */
static struct members_job *job_start(struct lb_model *m, const struct lb_model_vip *v)
{
	struct members_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->vip_uid = v->uid;
	j->change = v->change;
	j->members = members_alloc(m, v);
	if (j->members == NULL || members_maglev_start(m, v, j->members, &j->mg) < 0) {
		job_free(j);
		return NULL;
	}
	return j;
}

/* Whether VIP <v> needs a new pool, and job <j> is not building the right one. */
static bool job_stale(const struct lb_model_vip *v, const struct members_job *j)
{
	return j == NULL || j->vip_uid != v->uid || j->change != v->change;
}

int lb_model_build_start(struct lb_model *m)
{
	struct members_job **job = m->builds->job;
	int entries = 0;

	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		const struct lb_model_vip *v = &m->vips[i];
		struct members_job *j;

		if (v->uid == 0 || (!v->dirty && v->compiled != NULL)) {
			/* Deleted, or changed and put back (lb_model_txn.h): nothing to build. */
			job_free(job[i]);
			job[i] = NULL;
			continue;
		}
		if (job_stale(v, job[i])) {
			/* A newer change supersedes the build under way, once the new one could
			 * start. */
			j = job_start(m, v);
			if (j == NULL)
				return -ENOMEM;
			job_free(job[i]);
			job[i] = j;
		}
		if (job[i]->mg != NULL)
			entries += (int)job[i]->members->maglev_size;
	}
	return entries;
}

bool lb_model_build_step(struct lb_model *m, uint64_t budget)
{
	struct members_job **job = m->builds->job;

	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		if (job[i] == NULL || job[i]->mg == NULL)
			continue;
		if (!maglev_build_step(job[i]->mg, &budget))
			return false;
		maglev_build_free(job[i]->mg);
		job[i]->mg = NULL;
	}
	return true;
}

bool lb_model_build_pending(const struct lb_model *m)
{
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++)
		if (m->builds->job[i] != NULL && m->builds->job[i]->mg != NULL)
			return true;
	return false;
}

/* The VIPs take the pools their jobs built (every job complete), which they now hold. */
static void members_install(struct lb_model *m)
{
	struct members_job **job = m->builds->job;

	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		struct lb_model_vip *v = &m->vips[i];

		if (job[i] == NULL)
			continue;
		members_put(v->compiled);
		v->compiled = job[i]->members;
		v->dirty = false;
		job[i]->members = NULL;
		job_free(job[i]);
		job[i] = NULL;
	}
}

static void vip_hash_insert(uint32_t *table, uint32_t h, uint32_t slot)
{
	uint32_t i = h & (LB_VIP_HASH - 1);

	while (table[i] != LB_NO_SLOT)
		i = (i + 1) & (LB_VIP_HASH - 1);
	table[i] = slot;
}

static void fast4_insert(struct lb_snapshot *s, const struct sl_addr *a, uint16_t port_be,
			 uint8_t proto, uint32_t id, uint8_t mode)
{
	struct lb_vip4 e = {.port_be = port_be, .proto = proto, .vip = (uint8_t)id, .mode = mode};
	uint32_t i;

	memcpy(&e.addr, sl_addr_v4_bytes(a), 4);
	i = lb_vip4_hash(e.addr, e.port_be, e.proto);
	while (s->fast4[i].proto != 0)
		i = (i + 1) & (LB_VIP_HASH - 1);
	s->fast4[i] = e;
}

/* What the established flows of <b> do at their next packet. */
static uint8_t backend_fate(const struct lb_model *m, const struct lb_model_backend *b)
{
	if (b->admin == SL_ADMIN_MAINT || b->health != SL_HEALTH_UP) {
		switch (m->vips[b->vip_slot].down_flows) {
		case SL_DOWN_KEEP:
			return LB_FATE_STAY;
		case SL_DOWN_RESET:
			return LB_FATE_RESET;
		default:
			return LB_FATE_MOVE;
		}
	}
	if (b->admin == SL_ADMIN_DRAIN && b->drain_expired)
		return LB_FATE_DRAIN_RESET;
	return LB_FATE_STAY;
}

static void own_bloom_add(struct lb_snapshot *s, const struct sl_addr *a)
{
	uint32_t bit = lb_own_bit(a);

	s->own_bloom[bit >> 6] |= 1ull << (bit & 63);
}

/* lb_snapshot.own_bloom: every VIP, local and port address sets its bit. */
static void own_bloom_fill(struct lb_snapshot *s)
{
	memset(s->own_bloom, 0, sizeof(s->own_bloom));
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++)
		if (s->vips[i].uid != 0)
			own_bloom_add(s, &s->vips[i].addr);
	for (uint32_t i = 0; i < s->n_laddrs; i++)
		own_bloom_add(s, &s->laddrs[i]);
	for (uint32_t i = 0; i < s->n_ports; i++) {
		if (s->ports[i].has_ipv4)
			own_bloom_add(s, &s->ports[i].ipv4);
		if (s->ports[i].has_ipv6)
			own_bloom_add(s, &s->ports[i].ipv6);
	}
}

/* The full-NAT local addresses, by id, and their hashes. */
static void snapshot_laddrs(struct lb_snapshot *s, const struct lb_model *m)
{
	s->n_laddrs = m->n_laddrs;
	memcpy(s->laddrs, m->laddrs, sizeof(s->laddrs));
	for (uint32_t i = 0; i < m->n_laddrs; i++) {
		vip_hash_insert(s->laddr_hash, lb_vip_hash_of(&m->laddrs[i], 0, 0), i);
		if (sl_addr_is_v4(&m->laddrs[i]))
			fast4_insert(s, &m->laddrs[i], 0, LB_VIP4_LADDR, i, SL_MODE_FNAT);
	}
}

/* VIP <i> of the model into the snapshot, with a reference to its pool. */
static void snapshot_vip(struct lb_snapshot *s, struct lb_model *m, uint32_t i)
{
	struct lb_model_vip *v = &m->vips[i];
	struct lb_snap_vip *r = &s->vips[i];

	v->compiled->refcnt++;
	r->addr = v->addr;
	r->uid = v->uid;
	r->port_be = htons(v->port);
	r->proto = v->proto;
	r->mode = v->mode;
	r->traits = lb_mode_traits(v->mode);
	r->sched = v->sched;
	r->hash = v->hash;
	r->when_empty = v->when_empty;
	r->down_flows = v->down_flows;
	r->response_timeout_ms = v->response_timeout_ms;
	r->redispatch = v->redispatch;
	r->syn_timeout_ms = v->syn_timeout_ms;
	r->n_laddrs = v->n_laddrs;
	memcpy(r->laddr, v->laddr, sizeof(r->laddr));
	r->members = v->compiled;
	if (v->mode == SL_MODE_NAT)
		s->has_nat = true;
	vip_hash_insert(s->vip_hash, lb_vip_hash_of(&r->addr, r->port_be, r->proto), i);
	if (sl_addr_is_v4(&r->addr))
		fast4_insert(s, &r->addr, r->port_be, r->proto, i, r->mode);
	if (!lb_vip_addr_known(s, &r->addr))
		vip_hash_insert(s->vip_addr_hash, lb_vip_hash_of(&r->addr, 0, 0), i);
}

/* Backend <b> of the model as the workers see it. */
static void snapshot_backend(struct lb_snap_backend *r, const struct lb_model *m,
			     const struct lb_model_backend *b)
{
	r->addr = b->addr;
	r->uid = b->uid;
	r->neigh_slot = b->neigh_slot;
	r->weight = b->weight;
	r->vip_slot = b->vip_slot;
	r->out_port = b->out_port;
	r->port_be = htons(b->port);
	r->admin = b->admin;
	r->health = b->health;
	r->fate = backend_fate(m, b);
}

struct lb_snapshot *lb_model_compile(struct lb_model *m)
{
	struct lb_snapshot *s;

	/* Every changed pool is built first, so a failure leaves the model as it was. */
	if (lb_model_build_start(m) < 0)
		return NULL;
	lb_model_build_step(m, UINT64_MAX);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL; /* the complete jobs wait for the next compile */
	members_install(m);

	s->generation = ++m->generation;
	s->n_ports = m->n_ports;
	memcpy(s->ports, m->ports, sizeof(s->ports));
	for (uint32_t i = 0; i < LB_VIP_HASH; i++) {
		s->vip_hash[i] = LB_NO_SLOT;
		s->vip_addr_hash[i] = LB_NO_SLOT;
		s->laddr_hash[i] = LB_NO_SLOT;
	}
	snapshot_laddrs(s, m);
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++)
		if (m->vips[i].uid != 0)
			snapshot_vip(s, m, i);
	for (uint32_t i = 0; i < LB_MAX_BACKENDS; i++)
		if (m->backends[i].uid != 0)
			snapshot_backend(&s->backends[i], m, &m->backends[i]);
	own_bloom_fill(s);
	return s;
}

void lb_snapshot_free(struct lb_snapshot *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++)
		if (s->vips[i].uid != 0)
			members_put((struct lb_members *)s->vips[i].members);
	free(s);
}

/* ---- neighbours: lb_neigh.c's state machine, the pools of their backends here ---- */

uint32_t lb_neigh_due(struct lb_model *m, struct lb_neigh_table *t, uint64_t now_ms,
		      uint32_t reachable_ms, uint32_t retry_ms, uint32_t *slots, uint32_t max)
{
	return lb_neigh_run(m->neigh, t, now_ms, reachable_ms, retry_ms, slots, max,
			    neigh_mark_dirty, m);
}

uint32_t lb_neigh_learn(struct lb_model *m, struct lb_neigh_table *t, uint16_t port,
			const struct sl_addr *addr, const uint8_t mac[6], uint64_t now_ms)
{
	return lb_neigh_heard(m->neigh, t, port, addr, mac, now_ms, neigh_mark_dirty, m);
}
