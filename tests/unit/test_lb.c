/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/lb: the model that compiles snapshots, the per-packet
 * pipeline (lb_worker_process) on hand-built frames, the answers Sluice gives
 * itself (ARP, ICMP echo, neighbour solicitation) and the neighbour state
 * machine. Time is a fake millisecond clock passed to every call.
 *
 * Every test gets a fresh model with one port (PORT4/24, PORT6/64, PORT_MAC),
 * a zeroed neighbour table and load table, and a worker (lcore 0): the
 * harness's (tests/lib/lb_harness.h), as are the checksum helpers. Backends
 * mostly have static MACs 02:00:00:00:01:<id>, so a forwarded frame's last
 * destination MAC byte names the backend it went to.
 *
 * Pool sharing and snapshot reclamation are checked by pointer and refcount
 * here; run under valgrind or ASan to prove nothing leaks or is used after
 * being freed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lb.h"
#include "lb_model.h"
#include "lb_worker.h"
#include "maglev.h"
#include "scheduler.h"

#include "lb_fast.h"
#include "lb_harness.h"

#define BUF_CAP 256
#define OTHER4  "10.0.0.200"

static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- frame builders ---- */

static uint16_t put_eth(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	wr16(p + 12, type);
	return ETH_LEN;
}

static void ip4_fix_csum(uint8_t *ip)
{
	uint32_t hl = (ip[0] & 0x0f) * 4u;

	wr16(ip + 10, 0);
	wr16(ip + 10, csum(ip, hl >= 20 ? hl : 20));
}

static uint16_t put_ip4(uint8_t *p, const struct sl_addr *src, const struct sl_addr *dst,
			uint8_t proto, uint16_t l4_len)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	wr16(p + 2, (uint16_t)(20 + l4_len));
	wr16(p + 4, 0x1234);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, sl_addr_v4_bytes(src), 4);
	memcpy(p + 16, sl_addr_v4_bytes(dst), 4);
	ip4_fix_csum(p);
	return 20;
}

static uint16_t put_ip6(uint8_t *p, const struct sl_addr *src, const struct sl_addr *dst,
			uint8_t nh, uint16_t l4_len, uint8_t hlim)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	wr16(p + 4, l4_len);
	p[6] = nh;
	p[7] = hlim;
	memcpy(p + 8, src->b, 16);
	memcpy(p + 24, dst->b, 16);
	return 40;
}

/*
 * TCP (with <flags>) or UDP, 4 bytes of payload, from the client's MAC to the
 * port's; the family comes from the addresses. L4 checksums are left zero:
 * forwarding never reads them.
 */
static uint16_t build_l4(uint8_t *buf, const char *src, uint16_t sport, const char *dst,
			 uint16_t dport, uint8_t proto, uint8_t flags)
{
	struct sl_addr s = addr(src), d = addr(dst);
	uint16_t l4_len = (uint16_t)((proto == IPPROTO_TCP ? 20 : 8) + 4);
	bool v4 = sl_addr_is_v4(&d);
	uint16_t off = put_eth(buf, PORT_MAC, CLIENT_MAC, v4 ? ET_IPV4 : ET_IPV6);
	uint8_t *l4;

	off += v4 ? put_ip4(buf + off, &s, &d, proto, l4_len)
		  : put_ip6(buf + off, &s, &d, proto, l4_len, 64);
	l4 = buf + off;
	memset(l4, 0, l4_len);
	wr16(l4, sport);
	wr16(l4 + 2, dport);
	if (proto == IPPROTO_TCP) {
		l4[12] = 5 << 4;
		l4[13] = flags;
		wr16(l4 + 14, 65535);
	} else {
		wr16(l4 + 4, l4_len);
	}
	memcpy(l4 + l4_len - 4, "data", 4);
	return (uint16_t)(off + l4_len);
}

/* ARP for Ethernet/IPv4, padded to 60 bytes; requests are broadcast. */
static uint16_t build_arp(uint8_t *buf, uint16_t op, const uint8_t sha[6], const char *spa,
			  const char *tpa)
{
	static const uint8_t zero[6];
	struct sl_addr s = addr(spa), t = addr(tpa);
	uint8_t *a = buf + ETH_LEN;

	memset(buf, 0, 60);
	put_eth(buf, op == PKT_ARP_REQUEST ? BCAST : PORT_MAC, sha, ET_ARP);
	wr16(a, 1);
	wr16(a + 2, ET_IPV4);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, op);
	memcpy(a + 8, sha, 6);
	memcpy(a + 14, sl_addr_v4_bytes(&s), 4);
	memcpy(a + 18, op == PKT_ARP_REQUEST ? zero : PORT_MAC, 6);
	memcpy(a + 24, sl_addr_v4_bytes(&t), 4);
	return 60;
}

/* ICMP or ICMPv6 echo request (id 0x1234, seq 7, 8 bytes of payload) with valid checksums. */
static uint16_t build_echo(uint8_t *buf, const char *src, const char *dst)
{
	struct sl_addr s = addr(src), d = addr(dst);
	bool v4 = sl_addr_is_v4(&d);
	uint16_t off = put_eth(buf, PORT_MAC, CLIENT_MAC, v4 ? ET_IPV4 : ET_IPV6);
	uint8_t *ip = buf + off;
	uint8_t *icmp;

	off += v4 ? put_ip4(ip, &s, &d, IPPROTO_ICMP, 16)
		  : put_ip6(ip, &s, &d, IPPROTO_ICMPV6, 16, 64);
	icmp = buf + off;
	memset(icmp, 0, 16);
	icmp[0] = v4 ? 8 : 128;
	wr16(icmp + 4, 0x1234);
	wr16(icmp + 6, 7);
	memcpy(icmp + 8, "pingping", 8);
	wr16(icmp + 2, v4 ? csum(icmp, 16) : csum6(ip));
	return (uint16_t)(off + 16);
}

/*
 * Neighbour solicitation for <target> from <src> to its solicited-node group;
 * src "::" is duplicate address detection (no source link-layer option).
 */
static uint16_t build_ns(uint8_t *buf, const char *src, const char *target, uint8_t hlim)
{
	static const uint8_t unspecified[16];
	struct sl_addr s = addr(src), t = addr(target), d;
	uint8_t snm[16] = {0xff, 0x02, [11] = 1, [12] = 0xff};
	uint8_t mac[6] = {0x33, 0x33, 0xff};
	bool dad = memcmp(s.b, unspecified, 16) == 0;
	uint16_t icmp_len = dad ? 24 : 32;
	uint16_t off;
	uint8_t *ip, *icmp;

	memcpy(snm + 13, t.b + 13, 3);
	memcpy(mac + 3, t.b + 13, 3);
	sl_addr_set_v6(&d, snm);
	off = put_eth(buf, mac, CLIENT_MAC, ET_IPV6);
	ip = buf + off;
	off += put_ip6(ip, &s, &d, IPPROTO_ICMPV6, icmp_len, hlim);
	icmp = buf + off;
	memset(icmp, 0, icmp_len);
	icmp[0] = 135;
	memcpy(icmp + 8, t.b, 16);
	if (!dad) {
		icmp[24] = 1; /* source link-layer address */
		icmp[25] = 1;
		memcpy(icmp + 26, CLIENT_MAC, 6);
	}
	wr16(icmp + 2, csum6(ip));
	return (uint16_t)(off + icmp_len);
}

/* Solicited neighbour advertisement for <target> at <mac>, to the port. */
static uint16_t build_na(uint8_t *buf, const char *target, const uint8_t mac[6], bool tlla)
{
	struct sl_addr t = addr(target), d = addr(PORT6);
	uint16_t icmp_len = tlla ? 32 : 24;
	uint16_t off = put_eth(buf, PORT_MAC, mac, ET_IPV6);
	uint8_t *ip = buf + off, *icmp;

	off += put_ip6(ip, &t, &d, IPPROTO_ICMPV6, icmp_len, 255);
	icmp = buf + off;
	memset(icmp, 0, icmp_len);
	icmp[0] = 136;
	icmp[4] = 0x60;
	memcpy(icmp + 8, t.b, 16);
	if (tlla) {
		icmp[24] = 2;
		icmp[25] = 1;
		memcpy(icmp + 26, mac, 6);
	}
	wr16(icmp + 2, csum6(ip));
	return (uint16_t)(off + icmp_len);
}

/* ---- model helpers ---- */

/* A backend; <mac_id> != 0 gives it the static MAC 02:00:00:00:01:<mac_id>. */
static struct conf_backend be(const char *a, uint32_t weight, uint8_t mac_id)
{
	struct conf_backend b;

	memset(&b, 0, sizeof(b));
	b.addr = addr(a);
	b.weight = weight;
	if (mac_id != 0) {
		b.has_mac = true;
		be_mac(b.mac, mac_id);
	}
	return b;
}

static struct conf_vip vip(const char *a, uint16_t port, uint8_t proto, enum sched_kind sk,
			   struct conf_backend *b, uint32_t n)
{
	struct conf_vip v;

	memset(&v, 0, sizeof(v));
	v.addr = addr(a);
	v.port = port;
	v.proto = proto;
	v.mode = SL_MODE_DSR;
	v.sched = (uint8_t)sk;
	v.hash = SL_HASH_5TUPLE;
	v.maglev_size = MAGLEV_M;
	v.backends = b;
	v.n_backends = n;
	return v;
}

static uint32_t add_vip(struct env *e, struct conf_vip v)
{
	char err[256] = "";
	int rc = lb_model_vip_add(e->m, &v, err, sizeof(err));

	if (rc < 0)
		fail_msg("lb_model_vip_add: %d %s", rc, err);
	return (uint32_t)rc;
}

static uint32_t bslot(const struct env *e, uint32_t vip_slot, const char *a)
{
	struct sl_addr ba = addr(a);
	int rc = lb_model_backend_find(e->m, vip_slot, &ba, 0);

	assert_true(rc >= 0);
	return (uint32_t)rc;
}

static struct lb_snapshot *compile(struct env *e)
{
	struct lb_snapshot *s = lb_model_compile(e->m);

	assert_non_null(s);
	return s;
}

/* Publishes neighbour words (static MACs) the way the management loop does. */
static uint32_t neigh_due(struct env *e, uint64_t now, uint32_t *slots, uint32_t max)
{
	return lb_neigh_due(e->m, e->nt, now, REACHABLE_MS, RETRY_MS, slots, max);
}

/* VIP4:80/tcp with backends .11 (mac 1) and .12 (mac 2), both weight 1. */
static uint32_t two_backends(struct env *e, enum sched_kind sk)
{
	struct conf_backend b[] = {be("10.0.0.11", 1, 1), be("10.0.0.12", 1, 2)};
	uint32_t v = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, sk, b, 2));

	recompile(e);
	return v;
}

/* ---- pipeline helpers ---- */

static struct lb_pkt process1(struct env *e, uint8_t *buf, uint16_t len)
{
	struct lb_pkt pk = {.data = buf, .len = len, .cap = BUF_CAP};

	lb_worker_process(e->w[0], e->s, &pk, 1, e->now);
	return pk;
}

/* The backend id a packet went to (last byte of its new destination MAC), or -drop. */
static int outcome(const struct lb_pkt *pk)
{
	if (pk->verdict == LB_VERDICT_TX)
		return pk->data[5];
	assert_int_equal(pk->verdict, LB_VERDICT_DROP);
	assert_int_not_equal(pk->drop, LB_DROP_NONE);
	return -(int)pk->drop;
}

/* One packet of the client flow from port <sport> to <dst>:<dport>. */
static int send_l4(struct env *e, const char *dst, uint16_t dport, uint8_t proto, uint16_t sport,
		   uint8_t flags)
{
	uint8_t buf[BUF_CAP];
	uint16_t len = build_l4(buf, strchr(dst, ':') ? CLIENT6 : CLIENT4, sport, dst, dport, proto,
				flags);
	struct lb_pkt pk = process1(e, buf, len);

	return outcome(&pk);
}

static int tcp(struct env *e, uint16_t sport, uint8_t flags)
{
	return send_l4(e, VIP4, 80, IPPROTO_TCP, sport, flags);
}

/* Replaces the fixture's worker with one of <capacity> flows. */
static void new_worker(struct env *e, uint32_t capacity)
{
	assert_non_null(set_worker(e, 0, 0, 1, capacity));
}

/* ==== 1. model and compile ==== */

static void test_compile_finds_vips(void **state)
{
	struct env *e = *state;
	struct conf_backend b4[] = {be("10.0.0.11", 1, 1)};
	struct conf_backend b6[] = {be("2001:db8::11", 1, 2)};
	uint32_t v4 = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_WRR, b4, 1));
	uint32_t v6 = add_vip(e, vip(VIP6, 53, IPPROTO_UDP, SCHED_KIND_MAGLEV, b6, 1));
	struct sl_addr a4 = addr(VIP4), a6 = addr(VIP6), other = addr(OTHER4), port = addr(PORT4);
	const struct lb_snapshot *s;
	uint32_t b;

	recompile(e);
	s = e->s;
	assert_int_equal(lb_vip_find(s, &a4, htons(80), IPPROTO_TCP), v4);
	assert_int_equal(lb_vip_find(s, &a6, htons(53), IPPROTO_UDP), v6);
	assert_int_equal(lb_vip_find(s, &a4, htons(81), IPPROTO_TCP), LB_NO_SLOT);
	assert_int_equal(lb_vip_find(s, &a4, htons(80), IPPROTO_UDP), LB_NO_SLOT);
	assert_int_equal(lb_vip_find(s, &other, htons(80), IPPROTO_TCP), LB_NO_SLOT);
	assert_true(lb_vip_addr_known(s, &a4));
	assert_true(lb_vip_addr_known(s, &a6));
	assert_false(lb_vip_addr_known(s, &other));
	assert_false(lb_vip_addr_known(s, &port)); /* a port address is not a VIP */

	assert_int_equal(s->n_ports, 1);
	assert_memory_equal(s->ports[0].mac, PORT_MAC, 6);
	assert_int_not_equal(s->vips[v4].uid, 0);
	assert_int_equal(s->vips[v4].port_be, htons(80));
	assert_int_equal(s->vips[v4].mode, SL_MODE_DSR);
	assert_int_equal(s->vips[v4].members->n, 1);
	b = s->vips[v4].members->slot[0];
	assert_int_equal(b, bslot(e, v4, "10.0.0.11"));
	assert_true(sl_addr_eq(&s->backends[b].addr, &b4[0].addr));
	assert_int_equal(s->backends[b].port_be, htons(80));
	assert_int_equal(s->backends[b].vip_slot, v4);
	assert_int_equal(s->backends[b].out_port, 0);
	assert_int_equal(s->backends[b].fate, LB_FATE_STAY);

	assert_int_equal(lb_model_vip_find(e->m, "10.0.0.100:80/tcp"), v4);
	assert_int_equal(lb_model_vip_find(e->m, "[2001:db8::100]:53/udp"), v6);
	assert_int_equal(lb_model_vip_find(e->m, "nope"), -ENOENT);
}

/* Many VIPs on one address: the open-addressing tables find every one. */
static void test_vip_lookup_many(void **state)
{
	struct env *e = *state;
	struct sl_addr a = addr(VIP4);
	uint32_t slot[200];

	for (uint32_t i = 0; i < ARRAY_SIZE(slot); i++)
		slot[i] = add_vip(
			e, vip(VIP4, (uint16_t)(1000 + i), IPPROTO_TCP, SCHED_KIND_RR, NULL, 0));
	recompile(e);
	for (uint32_t i = 0; i < ARRAY_SIZE(slot); i++)
		assert_int_equal(lb_vip_find(e->s, &a, htons((uint16_t)(1000 + i)), IPPROTO_TCP),
				 slot[i]);
	assert_int_equal(lb_vip_find(e->s, &a, htons(999), IPPROTO_TCP), LB_NO_SLOT);
	/* A VIP without backends: balanced to nobody. */
	assert_int_equal(send_l4(e, VIP4, 1000, IPPROTO_TCP, 5, TH_SYN), -LB_DROP_NO_BACKEND);
}

static void test_generation_increases(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	uint64_t last = 0;

	for (int i = 0; i < 4; i++) {
		assert_true(e->s->generation > last);
		last = e->s->generation;
		if (i == 1)
			assert_int_equal(
				lb_model_backend_set_weight(e->m, bslot(e, v, "10.0.0.11"), 9), 0);
		recompile(e);
	}
}

static void test_pools_shared(void **state)
{
	struct env *e = *state;
	struct conf_backend ba[] = {be("10.0.0.11", 1, 1), be("10.0.0.12", 1, 2)};
	struct conf_backend bb[] = {be("10.0.0.13", 1, 3)};
	uint32_t va = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_WRR, ba, 2));
	uint32_t vb = add_vip(e, vip("10.0.0.101", 80, IPPROTO_TCP, SCHED_KIND_WRR, bb, 1));
	struct lb_snapshot *s1 = compile(e), *s2 = compile(e), *s3;
	const struct lb_members *pa, *pb;
	uint32_t old_version = s2->vips[va].members->version;

	assert_ptr_equal(s1->vips[va].members, s2->vips[va].members);
	assert_ptr_equal(s1->vips[vb].members, s2->vips[vb].members);
	assert_int_equal(s2->vips[va].members->refcnt, 3); /* model, s1, s2 */

	assert_int_equal(lb_model_backend_set_weight(e->m, bslot(e, va, "10.0.0.11"), 5), 0);
	s3 = compile(e);
	pa = s3->vips[va].members;
	pb = s3->vips[vb].members;
	assert_ptr_not_equal(pa, s2->vips[va].members);
	assert_true(pa->version > old_version);
	assert_ptr_equal(pb, s2->vips[vb].members);
	assert_int_equal(s2->vips[va].members->refcnt, 2); /* s1, s2: the model let go */

	/* Old snapshots go; the pools s3 uses stay (ASan/valgrind check the reads). */
	lb_snapshot_free(s1);
	lb_snapshot_free(s2);
	assert_int_equal(pa->refcnt, 2);
	assert_int_equal(pb->refcnt, 2);
	assert_int_equal(pa->n, 2);
	assert_int_equal(pa->weight[0], 5);
	assert_int_equal(pa->total_weight, 6);
	for (uint32_t i = 0; i < pa->maglev_size; i++)
		assert_true(pa->maglev[i] < pa->n);

	/* A deleted VIP's pool lives on in the snapshots that still have it. */
	assert_int_equal(lb_model_vip_del(e->m, vb), 0);
	assert_int_equal(pb->refcnt, 1);
	assert_int_equal(pb->slot[0], s3->vips[vb].members->slot[0]);
	e->s = s3;
	recompile(e);
	assert_int_equal(e->s->vips[vb].uid, 0);
	struct sl_addr b_addr = addr("10.0.0.101");
	assert_false(lb_vip_addr_known(e->s, &b_addr));
}

/* Every rejected VIP says why and leaves no VIP, backend or neighbour behind. */
static void test_vip_errors(void **state)
{
	struct env *e = *state;
	struct conf_backend ok = be("10.0.0.11", 1, 1), b6 = be("2001:db8::11", 1, 0);
	struct conf_backend mixed[] = {be("10.0.0.12", 1, 0), be("10.0.0.13", 1, 0)};
	struct conf_vip web = vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_WRR, &ok, 1), v;
	char err[256];
	uint32_t used;

	snprintf(web.name, sizeof(web.name), "web");
	assert_true(lb_model_vip_add(e->m, &web, err, sizeof(err)) >= 0);

	v = web; /* same service */
	snprintf(v.name, sizeof(v.name), "web2");
	assert_int_equal(lb_model_vip_add(e->m, &v, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "10.0.0.100:80/tcp already exists"));

	v = web; /* same name */
	v.port = 81;
	assert_int_equal(lb_model_vip_add(e->m, &v, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "\"web\""));

	v = vip("10.0.0.101", 80, IPPROTO_TCP, SCHED_KIND_WRR, &b6, 1);
	assert_int_equal(lb_model_vip_add(e->m, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "family"));

	mixed[1].port = 8080; /* the second backend is bad: the first is undone */
	v = vip("10.0.0.101", 80, IPPROTO_TCP, SCHED_KIND_WRR, mixed, 2);
	assert_int_equal(lb_model_vip_add(e->m, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "8080"));
	assert_non_null(strstr(err, "dsr"));

	v = vip("10.0.0.101", 80, IPPROTO_TCP, SCHED_KIND_WRR, &ok, 1);
	v.mode = SL_MODE_FNAT; /* without local addresses */
	assert_int_equal(lb_model_vip_add(e->m, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "local addresses"));

	v = vip("10.0.0.101", 80, IPPROTO_TCP, SCHED_KIND_WRR, &ok, 1);
	v.maglev_size = 250;
	assert_int_equal(lb_model_vip_add(e->m, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "maglev_table_size 250"));

	assert_int_equal(lb_model_vip_find(e->m, "10.0.0.101:80/tcp"), -ENOENT);
	used = 0;
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++)
		used += e->m->vips[i].uid != 0;
	assert_int_equal(used, 1);
	used = 0;
	for (uint32_t i = 0; i < LB_MAX_BACKENDS; i++)
		used += e->m->backends[i].uid != 0;
	assert_int_equal(used, 1);
	used = 0;
	for (uint32_t i = 0; i < LB_MAX_NEIGH; i++)
		used += e->m->neigh[i].refs;
	assert_int_equal(used, 1);

	/* A backend added twice to one VIP. */
	assert_int_equal(lb_model_backend_add(e->m, 0, &ok, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "already in VIP web"));
}

static void test_backend_state_weight(void **state)
{
	struct env *e = *state;
	struct conf_backend b[] = {be("10.0.0.11", 3, 1), be("10.0.0.12", 1, 2)};
	uint32_t v = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_WRR, b, 2));
	uint32_t s0 = bslot(e, v, "10.0.0.11");
	const struct lb_model_backend *mb = &e->m->backends[s0];
	bool *dirty = &e->m->vips[v].dirty;

	recompile(e);
	assert_false(*dirty);
	assert_int_equal(lb_model_backend_effective_weight(e->m, mb), 3);
	assert_int_equal(e->s->vips[v].members->weight[0], 3);

	assert_int_equal(lb_model_backend_set_weight(e->m, s0, 7), 0);
	assert_true(*dirty);
	assert_int_equal(lb_model_backend_effective_weight(e->m, mb), 7);
	recompile(e);
	assert_false(*dirty);
	assert_int_equal(e->s->vips[v].members->weight[0], 7);
	assert_int_equal(e->s->vips[v].members->total_weight, 8);

	assert_int_equal(lb_model_backend_set_admin(e->m, s0, SL_ADMIN_DRAIN), 0);
	assert_true(*dirty);
	assert_int_equal(lb_model_backend_effective_weight(e->m, mb), 0);
	recompile(e);
	assert_int_equal(e->s->vips[v].members->weight[0], 0);
	assert_int_equal(e->s->backends[s0].fate, LB_FATE_STAY); /* drain keeps flows */

	assert_int_equal(lb_model_backend_set_admin(e->m, s0, SL_ADMIN_MAINT), 0);
	recompile(e);
	assert_int_equal(e->s->vips[v].members->weight[0], 0);
	assert_int_equal(e->s->backends[s0].fate, LB_FATE_MOVE);

	assert_int_equal(lb_model_backend_set_admin(e->m, s0, SL_ADMIN_READY), 0);
	assert_int_equal(lb_model_backend_effective_weight(e->m, mb), 7);
	assert_int_equal(lb_model_backend_set_health(e->m, s0, SL_HEALTH_DOWN), 0);
	assert_true(*dirty);
	assert_int_equal(lb_model_backend_effective_weight(e->m, mb), 0);
	recompile(e);
	assert_int_equal(e->s->backends[s0].fate, LB_FATE_MOVE);
	assert_int_equal(e->s->vips[v].members->total_weight, 1);
	assert_int_equal(lb_model_backend_set_health(e->m, s0, SL_HEALTH_UP), 0);
	assert_int_equal(lb_model_backend_effective_weight(e->m, mb), 7);

	assert_int_equal(lb_model_backend_set_weight(e->m, s0, 65536), -EINVAL);
	assert_int_equal(lb_model_backend_set_admin(e->m, s0, SL_ADMIN_MAX), -EINVAL);
	assert_int_equal(lb_model_backend_set_health(e->m, s0, (enum sl_health)7), -EINVAL);
	assert_int_equal(lb_model_backend_set_weight(e->m, LB_MAX_BACKENDS - 1, 1), -ENOENT);
	assert_int_equal(lb_model_backend_set_weight(e->m, LB_MAX_BACKENDS, 1), -ENOENT);
	assert_int_equal(lb_model_backend_del(e->m, s0), 0);
	assert_int_equal(lb_model_backend_set_weight(e->m, s0, 1), -ENOENT); /* removed */
	assert_int_equal(lb_model_backend_del(e->m, s0), -ENOENT);
}

/* ==== 2. pipeline ==== */

static void test_forward_dsr(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	uint8_t buf[BUF_CAP], orig[BUF_CAP], mac[6];
	uint16_t len = build_l4(buf, CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, TH_SYN);
	struct lb_pkt pk;
	uint32_t slot;
	int id;

	memcpy(orig, buf, len);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_TX);
	assert_int_equal(pk.drop, LB_DROP_NONE);
	assert_int_equal(pk.out_port, 0);
	assert_int_equal(pk.len, len);
	id = buf[5];
	assert_true(id == 1 || id == 2);
	be_mac(mac, (uint8_t)id);
	assert_memory_equal(buf, mac, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	assert_memory_equal(buf + 12, orig + 12, len - 12); /* IP packet untouched */

	/* The rest of the connection sticks (rr alone would alternate). */
	for (int i = 0; i < 5; i++)
		assert_int_equal(tcp(e, 40000, TH_ACK), id);
	slot = bslot(e, v, id == 1 ? "10.0.0.11" : "10.0.0.12");
	assert_int_equal(e->w[0]->ctr->fwd, 6);
	assert_int_equal(e->w[0]->ctr->flows_new, 1);
	assert_int_equal(e->w[0]->ctr->vip[v].pkts, 6);
	assert_int_equal(e->w[0]->ctr->vip[v].bytes, 6u * len);
	assert_int_equal(e->w[0]->ctr->vip[v].new_flows, 1);
	assert_int_equal(e->w[0]->ctr->backend[slot].pkts, 6);
	assert_int_equal(e->w[0]->active[slot], 1);
	assert_int_equal(tcp(e, 40001, TH_SYN), 3 - id);
	assert_invariant(e->w[0]->ctr);
}

/*
 * Established dsr flows take the fast path (lb_fast.h): it keeps the flow
 * alive as the general path does, and hands every packet it cannot vouch
 * for to the general path, whose verdicts stand.
 */
static void test_fast_path_same_verdicts(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	uint8_t buf[BUF_CAP];
	uint16_t len;
	struct lb_pkt pk;
	int id = tcp(e, 40000, TH_SYN);

	assert_true(id == 1 || id == 2);
	assert_int_equal(tcp(e, 40000, TH_ACK), id);
	/* Packets 800 s apart keep an established flow (timeout 900 s) on its backend. */
	for (int i = 0; i < 3; i++) {
		e->now += 800000;
		assert_int_equal(tcp(e, 40000, TH_ACK), id);
	}
	assert_int_equal(e->w[0]->ctr->flows_new, 1);
	/* An IPv4 total length past the frame: the general parser's drop. */
	len = build_l4(buf, CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, TH_ACK);
	wr16(buf + ETH_LEN + 2, (uint16_t)(len - ETH_LEN + 1));
	ip4_fix_csum(buf + ETH_LEN);
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), -(int)PARSE_IP4_BAD_LEN);
	/* Too short for its TCP header. */
	len = build_l4(buf, CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, TH_ACK);
	wr16(buf + ETH_LEN + 2, 30);
	ip4_fix_csum(buf + ETH_LEN);
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), -(int)PARSE_TRUNC_L4);
	/* A later fragment has no ports: not balanced. */
	len = build_l4(buf, CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, TH_ACK);
	wr16(buf + ETH_LEN + 6, 0x2001);
	ip4_fix_csum(buf + ETH_LEN);
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), -(int)LB_DROP_FRAGMENT);
	/* A FIN goes through the general path and moves the flow's state on. */
	assert_int_equal(tcp(e, 40000, TH_FIN | TH_ACK), id);
	assert_int_equal(e->w[0]->active[bslot(e, v, id == 1 ? "10.0.0.11" : "10.0.0.12")], 0);
	assert_int_equal(e->w[0]->ctr->fwd, 6);
	assert_invariant(e->w[0]->ctr);
}

static void test_forward_v6_udp(void **state)
{
	struct env *e = *state;
	struct conf_backend b[] = {be("2001:db8::11", 1, 3)};
	uint8_t buf[BUF_CAP], orig[BUF_CAP];
	uint16_t len;
	struct lb_pkt pk;

	add_vip(e, vip(VIP6, 53, IPPROTO_UDP, SCHED_KIND_MAGLEV, b, 1));
	recompile(e);
	len = build_l4(buf, CLIENT6, 5353, VIP6, 53, IPPROTO_UDP, 0);
	memcpy(orig, buf, len);
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), 3);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	assert_memory_equal(buf + 12, orig + 12, len - 12);
	assert_int_equal(send_l4(e, VIP6, 53, IPPROTO_UDP, 5353, 0), 3);
	assert_int_equal(e->w[0]->ctr->flows_new, 1);
	assert_int_equal(send_l4(e, VIP6, 53, IPPROTO_TCP, 5353, TH_SYN), -LB_DROP_VIP_NO_SERVICE);
}

static void test_wrr_shares(void **state)
{
	struct env *e = *state;
	struct conf_backend b[] = {be("10.0.0.11", 3, 1), be("10.0.0.12", 1, 2)};
	uint32_t v = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_WRR, b, 2));
	uint32_t n[3] = {0};

	recompile(e);
	for (uint16_t sport = 1; sport <= 40; sport++) {
		int id = tcp(e, sport, TH_SYN);
		assert_true(id == 1 || id == 2);
		n[id]++;
	}
	assert_int_equal(n[1], 30);
	assert_int_equal(n[2], 10);
	assert_int_equal(e->w[0]->ctr->backend[bslot(e, v, "10.0.0.11")].new_flows, 30);
	assert_int_equal(e->w[0]->ctr->backend[bslot(e, v, "10.0.0.12")].new_flows, 10);
	assert_int_equal(e->w[0]->ctr->backend[bslot(e, v, "10.0.0.12")].pkts, 10);
	assert_int_equal(e->w[0]->ctr->vip[v].new_flows, 40);
	assert_int_equal(e->w[0]->ctr->vip[v].pkts, 40);
	assert_int_equal(e->w[0]->ctr->flows_new, 40);
}

#define NFLOWS 10

/* Opens NFLOWS flows (sports 1000..) and records their backends. */
static void open_flows(struct env *e, int id[NFLOWS])
{
	for (int i = 0; i < NFLOWS; i++) {
		id[i] = tcp(e, (uint16_t)(1000 + i), TH_SYN);
		assert_true(id[i] == 1 || id[i] == 2);
		assert_int_equal(tcp(e, (uint16_t)(1000 + i), TH_ACK), id[i]);
	}
}

static void test_drain_keeps_flows(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	int id[NFLOWS];

	open_flows(e, id);
	assert_int_equal(lb_model_backend_set_admin(e->m, bslot(e, v, "10.0.0.11"), SL_ADMIN_DRAIN),
			 0);
	recompile(e);
	for (int i = 0; i < NFLOWS; i++)
		assert_int_equal(tcp(e, (uint16_t)(1000 + i), TH_ACK), id[i]);
	for (uint16_t sport = 2000; sport < 2010; sport++)
		assert_int_equal(tcp(e, sport, TH_SYN), 2);
	assert_int_equal(e->w[0]->ctr->flows_rescheduled, 0);
}

/* Takes backend 1 out of service with <change>; its flows move to backend 2. */
static void moves_flows(struct env *e, bool maint)
{
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	uint32_t s1 = bslot(e, v, "10.0.0.11"), s2 = bslot(e, v, "10.0.0.12");
	int id[NFLOWS], on1 = 0;

	open_flows(e, id);
	for (int i = 0; i < NFLOWS; i++)
		on1 += id[i] == 1;
	assert_true(on1 > 0);
	if (maint)
		assert_int_equal(lb_model_backend_set_admin(e->m, s1, SL_ADMIN_MAINT), 0);
	else
		assert_int_equal(lb_model_backend_set_health(e->m, s1, SL_HEALTH_DOWN), 0);
	recompile(e);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < NFLOWS; i++)
			assert_int_equal(tcp(e, (uint16_t)(1000 + i), TH_ACK), 2);
	assert_int_equal(e->w[0]->ctr->flows_rescheduled, on1); /* once each, not per packet */
	assert_int_equal(e->w[0]->active[s1], 0);
	assert_int_equal(e->w[0]->active[s2], NFLOWS);
	assert_int_equal(e->w[0]->ctr->flows_new, NFLOWS);
}

static void test_maint_moves_flows(void **state)
{
	moves_flows(*state, true);
}

static void test_health_down_moves_flows(void **state)
{
	moves_flows(*state, false);
}

static void test_deleted_backend_keeps_flows(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	uint32_t s1 = bslot(e, v, "10.0.0.11");
	uint32_t neigh = e->m->backends[s1].neigh_slot;
	int id[NFLOWS];

	open_flows(e, id);
	assert_int_equal(lb_model_backend_del(e->m, s1), 0);
	assert_int_equal(lb_model_backend_find(e->m, v, &e->m->backends[s1].addr, 0), -ENOENT);
	recompile(e);
	assert_int_not_equal(e->s->backends[s1].uid, 0); /* still in the snapshot */
	assert_int_equal(e->s->vips[v].members->n, 1);
	for (int i = 0; i < NFLOWS; i++)
		assert_int_equal(tcp(e, (uint16_t)(1000 + i), TH_ACK), id[i]);
	for (uint16_t sport = 2000; sport < 2010; sport++)
		assert_int_equal(tcp(e, sport, TH_SYN), 2);
	assert_int_equal(e->w[0]->ctr->flows_rescheduled, 0);
	assert_int_not_equal(e->w[0]->active[s1], 0);

	/* Its flows end (established timeout 900 s); then it is reaped. */
	e->now += 901 * 1000;
	lb_worker_sweep(e->w[0], e->now, 1u << 20);
	assert_int_equal(e->w[0]->active[s1], 0);
	assert_int_equal(lb_model_backend_reap(e->m, bslot(e, v, "10.0.0.12")), -ENOENT);
	assert_int_equal(lb_model_backend_reap(e->m, s1), 0);
	assert_int_equal(lb_model_backend_reap(e->m, s1), -ENOENT);
	recompile(e);
	assert_int_equal(e->s->backends[s1].uid, 0);
	/* Its static neighbour is withdrawn one pass later (the old snapshot may still run). */
	assert_int_not_equal(e->nt->word[neigh], 0);
	recompile(e);
	assert_int_equal(e->nt->word[neigh], 0);
	assert_int_equal(tcp(e, 1000, TH_SYN), 2);
}

/*
 * A client reusing its port once its connection has ended (FIN or RST seen)
 * opens a new connection: scheduled afresh and counted as new, so a backend
 * drained since takes none, though it keeps the connections still open.
 */
static void test_reused_port_after_close_is_new(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	int first = tcp(e, 1000, TH_SYN), other = first == 1 ? 2 : 1;
	uint32_t slot = bslot(e, v, first == 1 ? "10.0.0.11" : "10.0.0.12");

	assert_true(first == 1 || first == 2);
	assert_int_equal(tcp(e, 1001, TH_SYN), other); /* a connection that stays open */
	assert_int_equal(tcp(e, 1000, TH_ACK), first);
	assert_int_equal(tcp(e, 1000, TH_FIN | TH_ACK), first);
	assert_int_equal(tcp(e, 1002, TH_SYN), first); /* rr: next on the first one */
	assert_int_equal(tcp(e, 1002, TH_RST), first);
	assert_int_equal(e->w[0]->ctr->flows_new, 3);

	/* A new connection on each ended port: new flows, round-robin as ever. */
	assert_int_equal(tcp(e, 1000, TH_SYN), other);
	assert_int_equal(tcp(e, 1002, TH_SYN), first);
	assert_int_equal(e->w[0]->ctr->flows_new, 5);
	assert_int_equal(tcp(e, 1000, TH_FIN | TH_ACK), other);
	assert_int_equal(tcp(e, 1002, TH_RST), first);

	assert_int_equal(tcp(e, 1003, TH_SYN), other);
	assert_int_equal(tcp(e, 1004, TH_SYN), first); /* open on the first backend */

	/* The first backend drained: the reused ports go to the other, open ones stay. */
	assert_int_equal(lb_model_backend_set_admin(e->m, slot, SL_ADMIN_DRAIN), 0);
	recompile(e);
	assert_int_equal(tcp(e, 1000, TH_SYN), other);
	assert_int_equal(tcp(e, 1002, TH_SYN), other);
	assert_int_equal(tcp(e, 1004, TH_ACK), first);
	assert_int_equal(e->w[0]->ctr->flows_rescheduled, 0);
	assert_invariant(e->w[0]->ctr);
}

/*
 * A backend's MAC changes at runtime (a reload with a new static mac, or
 * none): its flows stay on it and go out to the new MAC from the next
 * snapshot; without a static MAC it is resolved by ARP/ND again.
 */
static void test_backend_mac_change(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	uint32_t s11 = bslot(e, v, "10.0.0.11");
	struct sl_addr a11 = addr("10.0.0.11");
	uint8_t mac7[6], mac9[6];
	char err[160] = "";
	uint16_t sport = 0;

	be_mac(mac7, 7);
	be_mac(mac9, 9);
	for (uint16_t p = 1000; p < 1004 && sport == 0; p++)
		if (tcp(e, p, TH_SYN) == 1)
			sport = p;
	assert_int_not_equal(sport, 0);

	assert_int_equal(lb_model_backend_set_mac(e->m, s11, mac7, err, sizeof(err)), 0);
	recompile(e);
	assert_int_equal(tcp(e, sport, TH_ACK), 7);
	assert_int_equal(e->m->backends[s11].has_mac, true);
	assert_int_equal(lb_model_backend_set_mac(e->m, s11, mac7, err, sizeof(err)), 0);

	/* No static MAC: asked for, held back until known, then used. */
	assert_int_equal(lb_model_backend_set_mac(e->m, s11, NULL, err, sizeof(err)), 0);
	recompile(e);
	assert_int_equal(tcp(e, sport, TH_ACK), -LB_DROP_NEIGH_UNRESOLVED);
	assert_int_equal(lb_neigh_learn(e->m, e->nt, 0, &a11, mac9, e->now), 1);
	assert_int_equal(tcp(e, sport, TH_ACK), 9);
	assert_int_equal(e->w[0]->ctr->flows_rescheduled, 0);

	/* Off every port's subnet a MAC can only be given; an unknown slot is refused. */
	struct conf_backend far = be("192.0.2.5", 1, 3);
	uint32_t v2 = add_vip(e, vip(VIP4, 81, IPPROTO_TCP, SCHED_KIND_RR, &far, 1));
	uint32_t sfar = bslot(e, v2, "192.0.2.5");
	assert_int_equal(lb_model_backend_set_mac(e->m, sfar, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no port's subnet"));
	assert_int_equal(e->m->backends[sfar].has_mac, true);
	assert_int_equal(
		lb_model_backend_set_mac(e->m, LB_MAX_BACKENDS - 1, mac7, err, sizeof(err)),
		-ENOENT);
	assert_invariant(e->w[0]->ctr);
}

static void test_no_backend(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_WRR);
	uint32_t s1 = bslot(e, v, "10.0.0.11"), s2 = bslot(e, v, "10.0.0.12");
	int id = tcp(e, 1, TH_SYN);

	assert_true(id > 0);
	lb_model_backend_set_weight(e->m, s1, 0);
	lb_model_backend_set_weight(e->m, s2, 0);
	recompile(e);
	assert_int_equal(tcp(e, 2, TH_SYN), -LB_DROP_NO_BACKEND);
	assert_int_equal(e->w[0]->ctr->drop[LB_DROP_NO_BACKEND], 1);
	/* Weight 0 is not "out of service": the existing flow stays. */
	assert_int_equal(tcp(e, 1, TH_ACK), id);
	assert_int_equal(flow_table_count(e->w[0]->flows), 1);

	/* Out of service with nowhere to go: dropped and forgotten. */
	lb_model_backend_set_admin(e->m, s1, SL_ADMIN_MAINT);
	lb_model_backend_set_admin(e->m, s2, SL_ADMIN_MAINT);
	recompile(e);
	assert_int_equal(tcp(e, 1, TH_ACK), -LB_DROP_NO_BACKEND);
	assert_int_equal(flow_table_count(e->w[0]->flows), 0);
	assert_int_equal(e->w[0]->active[s1] + e->w[0]->active[s2], 0);
	assert_int_equal(e->w[0]->ctr->flows_new, 1);
	assert_invariant(e->w[0]->ctr);
}

static void test_neigh_unresolved(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be("10.0.0.11", 1, 0);
	uint8_t mac[6];

	uint32_t v = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_WRR, &b, 1));
	uint32_t ns = e->m->backends[bslot(e, v, "10.0.0.11")].neigh_slot;

	/* MAC unknown: the backend takes no new flows (they would be lost). */
	recompile(e);
	assert_int_equal(tcp(e, 1, TH_SYN), -LB_DROP_NO_BACKEND);
	be_mac(mac, 0x42);
	e->m->neigh_changed = false;
	assert_int_equal(lb_neigh_learn(e->m, e->nt, 0, &b.addr, mac, e->now), 1);
	assert_true(e->m->neigh_changed);
	assert_true(e->m->vips[v].dirty);
	recompile(e);
	assert_int_equal(tcp(e, 1, TH_SYN), 0x42);
	/* The MAC withdrawn before the pool is rebuilt: the flow's packets are counted. */
	e->nt->word[ns] = 0;
	assert_int_equal(tcp(e, 1, TH_ACK), -LB_DROP_NEIGH_UNRESOLVED);
	assert_int_equal(e->w[0]->ctr->drop[LB_DROP_NEIGH_UNRESOLVED], 1);
}

/*
 * One packet, one drop reason: the table of such cases is test_lb_cases.c's.
 * Here what a table row cannot say.
 */
static void test_drop_reasons(void **state)
{
	struct env *e = *state;

	two_backends(e, SCHED_KIND_RR);

	/* A first fragment carries the ports: balanced like any packet. */
	uint8_t buf[BUF_CAP];
	uint16_t len = build_l4(buf, CLIENT4, 1, VIP4, 80, IPPROTO_TCP, TH_SYN);
	wr16(buf + ETH_LEN + 6, 0x2000);
	ip4_fix_csum(buf + ETH_LEN);
	struct lb_pkt pk = process1(e, buf, len);
	assert_true(outcome(&pk) > 0);

	/* A snapshot VIP in a mode this build does not forward. */
	e->s->vips[0].mode = SL_MODE_MAX;
	assert_int_equal(tcp(e, 2, TH_SYN), -LB_DROP_MODE_UNSUPPORTED);

	assert_string_equal(lb_drop_name(LB_DROP_NOT_OURS), "not_ours");
	assert_string_equal(lb_drop_name(LB_DROP_NEIGH_UNRESOLVED), "neigh_unresolved");
	assert_string_equal(lb_drop_name((enum lb_drop)PARSE_TRUNC_ETH),
			    parse_result_name(PARSE_TRUNC_ETH));
	assert_string_equal(lb_drop_name(LB_DROP_MAX), "?");
	for (int d = 1; d < LB_DROP_MAX; d++)
		assert_string_not_equal(lb_drop_name((enum lb_drop)d), "?");
}

static void test_counters_invariant(void **state)
{
	struct env *e = *state;
	uint8_t buf[10][BUF_CAP];
	struct lb_pkt pk[10];
	uint8_t be_mac1[6];
	uint16_t len[10];
	uint32_t v = two_backends(e, SCHED_KIND_RR);

	be_mac(be_mac1, 1);
	len[0] = build_l4(buf[0], CLIENT4, 1, VIP4, 80, IPPROTO_TCP, TH_SYN);
	len[1] = build_arp(buf[1], PKT_ARP_REQUEST, CLIENT_MAC, "10.0.0.50", VIP4);
	len[2] = build_arp(buf[2], PKT_ARP_REPLY, be_mac1, "10.0.0.11", PORT4);
	len[3] = build_echo(buf[3], CLIENT4, VIP4);
	len[4] = build_l4(buf[4], CLIENT4, 1, OTHER4, 80, IPPROTO_TCP, TH_SYN);
	len[5] = 10;
	len[6] = build_l4(buf[6], CLIENT4, 1, VIP4, 80, IPPROTO_TCP, TH_SYN);
	wr16(buf[6] + ETH_LEN + 6, 0x0020);
	ip4_fix_csum(buf[6] + ETH_LEN);
	len[7] = build_l4(buf[7], CLIENT4, 1, VIP4, 81, IPPROTO_TCP, TH_SYN);
	len[8] = build_l4(buf[8], CLIENT4, 1, VIP4, 80, IPPROTO_UDP, 0);
	len[9] = build_l4(buf[9], CLIENT4, 2, VIP4, 80, IPPROTO_TCP, TH_SYN);
	memset(buf[5], 0, 10);
	for (int i = 0; i < 10; i++)
		pk[i] = (struct lb_pkt){.data = buf[i], .len = len[i], .cap = BUF_CAP};
	lb_worker_process(e->w[0], e->s, pk, 10, e->now);

	const struct lb_counters *c = e->w[0]->ctr;
	assert_int_equal(c->rx, 10);
	assert_int_equal(c->fwd, 2);
	assert_int_equal(c->replied, 2);
	assert_int_equal(c->to_mgmt, 1);
	assert_int_equal(c->drop[LB_DROP_NOT_OURS], 1);
	assert_int_equal(c->drop[PARSE_TRUNC_ETH], 1);
	assert_int_equal(c->drop[LB_DROP_FRAGMENT], 1);
	assert_int_equal(c->drop[LB_DROP_VIP_NO_SERVICE], 2);
	assert_int_equal(c->flows_new, 2);
	assert_int_equal(c->vip[v].pkts, 2);
	assert_int_equal(c->vip[v].bytes, (uint64_t)len[0] + len[9]);
	assert_int_equal(pk[0].verdict, LB_VERDICT_TX);
	assert_int_equal(pk[1].verdict, LB_VERDICT_TX);
	assert_int_equal(pk[2].verdict, LB_VERDICT_MGMT);
	assert_int_equal(pk[3].verdict, LB_VERDICT_TX);
	assert_int_equal(pk[5].drop, PARSE_TRUNC_ETH);
	assert_int_not_equal(outcome(&pk[0]), outcome(&pk[9]));
	assert_invariant(c);

	/* The same burst again, as far as it can be replayed: still balanced. */
	lb_worker_process(e->w[0], e->s, pk + 4, 6, e->now);
	assert_int_equal(c->rx, 16);
	assert_invariant(c);
}

static void test_burst_one_new_flow(void **state)
{
	struct env *e = *state;
	uint8_t buf[3][BUF_CAP];
	struct lb_pkt pk[3];

	two_backends(e, SCHED_KIND_RR);
	/* Flow 7's SYN and ACK with flow 8 in between; rr alone would alternate. */
	memset(pk, 0, sizeof(pk));
	pk[0].len = build_l4(buf[0], CLIENT4, 7, VIP4, 80, IPPROTO_TCP, TH_SYN);
	pk[1].len = build_l4(buf[1], CLIENT4, 8, VIP4, 80, IPPROTO_TCP, TH_SYN);
	pk[2].len = build_l4(buf[2], CLIENT4, 7, VIP4, 80, IPPROTO_TCP, TH_ACK);
	for (int i = 0; i < 3; i++) {
		pk[i].data = buf[i];
		pk[i].cap = BUF_CAP;
	}
	lb_worker_process(e->w[0], e->s, pk, 3, e->now);
	assert_int_equal(e->w[0]->ctr->flows_new, 2);
	assert_int_equal(flow_table_count(e->w[0]->flows), 2);
	assert_true(outcome(&pk[0]) > 0);
	assert_int_equal(outcome(&pk[1]), 3 - outcome(&pk[0]));
	assert_int_equal(outcome(&pk[2]), outcome(&pk[0]));

	/* Two packets of one new flow alone in a burst: one flow. */
	memset(pk, 0, sizeof(pk));
	pk[0].len = build_l4(buf[0], CLIENT4, 9, VIP4, 80, IPPROTO_TCP, TH_SYN);
	pk[1].len = build_l4(buf[1], CLIENT4, 9, VIP4, 80, IPPROTO_TCP, TH_SYN);
	for (int i = 0; i < 2; i++) {
		pk[i].data = buf[i];
		pk[i].cap = BUF_CAP;
	}
	lb_worker_process(e->w[0], e->s, pk, 2, e->now);
	assert_int_equal(e->w[0]->ctr->flows_new, 3);
	assert_int_equal(flow_table_count(e->w[0]->flows), 3);
	assert_true(outcome(&pk[0]) > 0);
	assert_int_equal(outcome(&pk[1]), outcome(&pk[0]));
}

static void test_table_full_backstop(void **state)
{
	struct env *e = *state;
	struct conf_backend b[] = {be("10.0.0.11", 1, 1), be("10.0.0.12", 1, 2),
				   be("10.0.0.13", 1, 3), be("10.0.0.14", 1, 4)};
	int id[64];
	bool stored[64];
	uint32_t backstop = 0;

	add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_RR, b, 4));
	recompile(e);
	new_worker(e, 16);
	/* Handshakes (SYN, then ACK): stored flows become ESTABLISHED, never evicted. */
	for (uint16_t i = 0; i < 64; i++) {
		uint64_t before = e->w[0]->ctr->flows_backstop;
		id[i] = tcp(e, (uint16_t)(100 + i), TH_SYN);
		assert_true(id[i] >= 1 && id[i] <= 4);
		stored[i] = e->w[0]->ctr->flows_backstop == before;
		backstop += !stored[i];
		/* A flow not stored: its ACK is a pickup, Maglev again, the same backend. */
		assert_int_equal(tcp(e, (uint16_t)(100 + i), TH_ACK), id[i]);
	}
	assert_true(backstop > 0);
	assert_true(flow_table_count(e->w[0]->flows) <= 16);
	assert_int_equal(e->w[0]->ctr->flows_new + backstop, 64);
	assert_int_equal(e->w[0]->ctr->fwd, 128);
	/* rr would rotate; the backstop is a consistent hash, stored flows stay put. */
	for (int round = 0; round < 3; round++)
		for (uint16_t i = 0; i < 64; i++)
			assert_int_equal(tcp(e, (uint16_t)(100 + i), TH_ACK), id[i]);
	assert_int_equal(e->w[0]->ctr->flows_backstop, 5 * backstop);
	assert_int_equal(e->w[0]->ctr->flows_new, 64 - backstop);
}

/* A first packet that is not a SYN: Maglev picks, and it can be evicted. */
static void test_pickup_is_evictable(void **state)
{
	struct env *e = *state;
	struct conf_backend b[] = {be("10.0.0.11", 1, 1), be("10.0.0.12", 1, 2)};

	add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_RR, b, 2));
	recompile(e);
	new_worker(e, 16);
	/*
	 * A flood of stray ACKs takes at most half the table, with evictable
	 * entries only (the rest go out by Maglev, unstored)...
	 */
	for (uint16_t i = 0; i < 64; i++)
		assert_true(tcp(e, (uint16_t)(1000 + i), TH_ACK) > 0);
	assert_int_equal(flow_table_count(e->w[0]->flows), 8);
	assert_int_equal(e->w[0]->ctr->flows_backstop, 64 - 8);
	/* ...so new connections still get stored (no backstop). */
	for (uint16_t i = 0; i < 8; i++)
		assert_true(tcp(e, (uint16_t)(2000 + i), TH_SYN) > 0);
	assert_int_equal(e->w[0]->ctr->flows_backstop, 64 - 8);
	/* A RST as first packet is forwarded without creating a flow. */
	uint32_t before = flow_table_count(e->w[0]->flows);
	assert_true(tcp(e, 3000, TH_RST) > 0);
	assert_int_equal(flow_table_count(e->w[0]->flows), before);
}

static void test_lc_uses_load(void **state)
{
	struct env *e = *state;
	struct conf_backend b[] = {be("10.0.0.11", 1, 1), be("10.0.0.12", 1, 2),
				   be("10.0.0.13", 1, 3)};
	uint32_t v = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_LC, b, 3));
	uint32_t s1 = bslot(e, v, "10.0.0.11"), s2 = bslot(e, v, "10.0.0.12");
	uint32_t s3 = bslot(e, v, "10.0.0.13");

	recompile(e);
	/* Other lcores hold 5 flows on .11 and 3 on .12. */
	e->load->sum[s1] = 5;
	e->load->sum[s2] = 3;
	assert_int_equal(tcp(e, 1, TH_SYN), 3); /* loads 5, 3, 0 */
	assert_int_equal(tcp(e, 2, TH_SYN), 3); /* 5, 3, 1: our own flow counts at once */
	assert_int_equal(e->w[0]->active[s3], 2);
	/* Published: our 2 flows are in the sum and in seen[0], counted once (not 4). */
	e->load->sum[s3] = 2;
	e->load->seen[0][s3] = 2;
	assert_int_equal(tcp(e, 3, TH_SYN), 3); /* 5, 3, 2 */
	/* Another lcore opens 4 on .13: 5, 3, 7. */
	e->load->sum[s3] = 3 + 4;
	e->load->seen[0][s3] = 3;
	assert_int_equal(tcp(e, 4, TH_SYN), 2);
	assert_int_equal(tcp(e, 5, TH_SYN), 2); /* 5, 4, 7 */
	assert_int_equal(e->w[0]->active[s2], 2);
	assert_int_equal(e->w[0]->active[s1], 0);
}

static void test_sweep_expires_flows(void **state)
{
	struct env *e = *state;
	uint32_t v = two_backends(e, SCHED_KIND_RR);
	uint32_t s1 = bslot(e, v, "10.0.0.11"), s2 = bslot(e, v, "10.0.0.12");

	for (uint16_t sport = 1; sport <= 6; sport++)
		assert_true(tcp(e, sport, TH_SYN) > 0); /* SYN state: 10 s timeout */
	assert_int_equal(e->w[0]->active[s1], 3);
	assert_int_equal(e->w[0]->active[s2], 3);
	assert_int_equal(lb_worker_sweep(e->w[0], e->now + 5000, 1u << 20), 0);
	assert_int_equal(e->w[0]->active[s1] + e->w[0]->active[s2], 6);
	assert_int_equal(lb_worker_sweep(e->w[0], e->now + 10001, 1u << 20), 6);
	assert_int_equal(e->w[0]->active[s1], 0);
	assert_int_equal(e->w[0]->active[s2], 0);
	assert_int_equal(flow_table_count(e->w[0]->flows), 0);
}

/* ==== 3. answers ==== */

static void test_arp_reply_for_vip(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP];
	uint16_t len;
	struct lb_pkt pk;
	const uint8_t *a = buf + ETH_LEN;
	struct sl_addr vip4 = addr(VIP4), asker = addr("10.0.0.50");

	two_backends(e, SCHED_KIND_RR);
	len = build_arp(buf, PKT_ARP_REQUEST, CLIENT_MAC, "10.0.0.50", VIP4);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_TX);
	assert_int_equal(pk.out_port, 0);
	assert_memory_equal(buf, CLIENT_MAC, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	assert_int_equal(rd16(buf + 12), ET_ARP);
	assert_int_equal(rd16(a), 1);
	assert_int_equal(rd16(a + 2), ET_IPV4);
	assert_int_equal(a[4], 6);
	assert_int_equal(a[5], 4);
	assert_int_equal(rd16(a + 6), PKT_ARP_REPLY);
	assert_memory_equal(a + 8, PORT_MAC, 6);
	assert_memory_equal(a + 14, sl_addr_v4_bytes(&vip4), 4);
	assert_memory_equal(a + 18, CLIENT_MAC, 6);
	assert_memory_equal(a + 24, sl_addr_v4_bytes(&asker), 4);
	assert_int_equal(e->w[0]->ctr->replied, 1);

	/* The port's own address is answered too. */
	len = build_arp(buf, PKT_ARP_REQUEST, CLIENT_MAC, "10.0.0.50", PORT4);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_TX);
}

static void test_arp_unknown_dropped(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP], orig[BUF_CAP];
	uint16_t len;
	struct lb_pkt pk;

	two_backends(e, SCHED_KIND_RR);
	len = build_arp(buf, PKT_ARP_REQUEST, CLIENT_MAC, "10.0.0.50", "10.0.0.77");
	memcpy(orig, buf, len);
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), -LB_DROP_NOT_OURS);
	assert_memory_equal(buf, orig, len);
}

static void test_arp_reply_to_mgmt(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP], mac[6];
	uint16_t len;
	struct lb_pkt pk;
	struct sl_addr a;

	two_backends(e, SCHED_KIND_RR);
	be_mac(mac, 1);
	len = build_arp(buf, PKT_ARP_REPLY, mac, "10.0.0.11", PORT4);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_MGMT);
	assert_int_equal(pk.drop, LB_DROP_NONE);
	assert_int_equal(e->w[0]->ctr->to_mgmt, 1);
	/* What the management thread then reads from it. */
	memset(mac, 0, 6);
	assert_int_equal(lb_parse_neigh_reply(buf, len, &a, mac), 0);
	struct sl_addr want = addr("10.0.0.11");
	assert_true(sl_addr_eq(&a, &want));
	assert_int_equal(mac[5], 1);

	/* A reply to someone else is not ours. */
	len = build_arp(buf, PKT_ARP_REPLY, mac, "10.0.0.11", "10.0.0.9");
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), -LB_DROP_NOT_OURS);
	assert_invariant(e->w[0]->ctr);
}

static void test_icmp_echo_v4(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP], orig[BUF_CAP];
	uint16_t len;
	struct lb_pkt pk;
	uint8_t *ip = buf + ETH_LEN, *icmp = ip + 20;

	two_backends(e, SCHED_KIND_RR);
	len = build_echo(buf, CLIENT4, VIP4);
	memcpy(orig, buf, len);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_TX);
	assert_int_equal(pk.len, len);
	assert_memory_equal(buf, CLIENT_MAC, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	assert_memory_equal(ip + 12, orig + ETH_LEN + 16, 4); /* from the VIP */
	assert_memory_equal(ip + 16, orig + ETH_LEN + 12, 4); /* to the client */
	assert_int_equal(ip[8], 64);
	assert_int_equal(csum(ip, 20), 0);
	assert_int_equal(icmp[0], 0);
	assert_int_equal(icmp[1], 0);
	assert_int_equal(csum(icmp, 16), 0);
	assert_memory_equal(icmp + 4, orig + ETH_LEN + 24, 12); /* id, seq, data */
	assert_int_equal(e->w[0]->ctr->replied, 1);

	len = build_echo(buf, CLIENT4, OTHER4);
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), -LB_DROP_NOT_OURS);
}

static void test_icmp_echo_v6(void **state)
{
	struct env *e = *state;
	struct conf_backend b6 = be("2001:db8::11", 1, 3);
	uint8_t buf[BUF_CAP], orig[BUF_CAP];
	uint16_t len;
	struct lb_pkt pk;
	uint8_t *ip = buf + ETH_LEN, *icmp = ip + 40;

	add_vip(e, vip(VIP6, 443, IPPROTO_TCP, SCHED_KIND_RR, &b6, 1));
	recompile(e);
	len = build_echo(buf, CLIENT6, VIP6);
	memcpy(orig, buf, len);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_TX);
	assert_memory_equal(buf, CLIENT_MAC, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	assert_memory_equal(ip + 8, orig + ETH_LEN + 24, 16);
	assert_memory_equal(ip + 24, orig + ETH_LEN + 8, 16);
	assert_int_equal(ip[7], 64);
	assert_int_equal(icmp[0], 129);
	assert_int_equal(csum6(ip), 0);
	assert_memory_equal(icmp + 4, orig + ETH_LEN + 44, 12);
}

static void test_ns_for_vip(void **state)
{
	struct env *e = *state;
	struct conf_backend b6 = be("2001:db8::11", 1, 3);
	struct sl_addr vip6 = addr(VIP6), got;
	const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
	uint8_t buf[BUF_CAP], orig[BUF_CAP], mac[6];
	uint8_t *ip = buf + ETH_LEN, *icmp = ip + 40;
	uint16_t len;
	struct lb_pkt pk;

	add_vip(e, vip(VIP6, 443, IPPROTO_TCP, SCHED_KIND_RR, &b6, 1));
	recompile(e);
	len = build_ns(buf, "2001:db8::99", VIP6, 255);
	memcpy(orig, buf, len);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_TX);
	assert_int_equal(pk.len, ETH_LEN + 40 + 32);
	assert_memory_equal(buf, CLIENT_MAC, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	assert_int_equal(rd16(buf + 12), ET_IPV6);
	assert_memory_equal(ip + 8, vip6.b, 16);
	assert_memory_equal(ip + 24, orig + ETH_LEN + 8, 16);
	assert_int_equal(rd16(ip + 4), 32);
	assert_int_equal(ip[6], IPPROTO_ICMPV6);
	assert_int_equal(ip[7], 255);
	assert_int_equal(icmp[0], 136);
	assert_int_equal(icmp[1], 0);
	assert_int_equal(icmp[4], 0x60); /* solicited, override */
	assert_memory_equal(icmp + 8, vip6.b, 16);
	assert_int_equal(icmp[24], 2); /* target link-layer address */
	assert_int_equal(icmp[25], 1);
	assert_memory_equal(icmp + 26, PORT_MAC, 6);
	assert_int_equal(csum6(ip), 0);
	assert_int_equal(lb_parse_neigh_reply(buf, pk.len, &got, mac), 0);
	assert_true(sl_addr_eq(&got, &vip6));
	assert_memory_equal(mac, PORT_MAC, 6);

	/* Duplicate address detection: to all-nodes, not solicited. */
	len = build_ns(buf, "::", VIP6, 255);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_TX);
	assert_memory_equal(ip + 24, all_nodes, 16);
	assert_int_equal(icmp[4], 0x20);
	assert_int_equal(csum6(ip), 0);

	/* Hop limit below 255 (RFC 4861 7.1.1) or someone else's target: silent. */
	len = build_ns(buf, "2001:db8::99", VIP6, 64);
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), -LB_DROP_NOT_OURS);
	len = build_ns(buf, "2001:db8::99", "2001:db8::77", 255);
	pk = process1(e, buf, len);
	assert_int_equal(outcome(&pk), -LB_DROP_NOT_OURS);
	/* The port's own address is answered. */
	len = build_ns(buf, "2001:db8::99", PORT6, 255);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_TX);
	assert_int_equal(e->w[0]->ctr->replied, 3);
	assert_invariant(e->w[0]->ctr);
}

static void test_na_to_mgmt(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP], mac[6];
	uint16_t len;
	struct lb_pkt pk;

	recompile(e);
	be_mac(mac, 5);
	len = build_na(buf, "2001:db8::11", mac, true);
	pk = process1(e, buf, len);
	assert_int_equal(pk.verdict, LB_VERDICT_MGMT);
	assert_int_equal(e->w[0]->ctr->to_mgmt, 1);
}

/* ==== 4. neighbours ==== */

/* A VIP with one backend at <a> and no static MAC; returns its neighbour slot. */
static uint32_t dynamic_neigh(struct env *e, const char *a)
{
	struct conf_backend b = be(a, 1, 0);
	uint32_t v = add_vip(e, vip(sl_addr_is_v4(&b.addr) ? VIP4 : VIP6, 80, IPPROTO_TCP,
				    SCHED_KIND_RR, &b, 1));

	return e->m->backends[bslot(e, v, a)].neigh_slot;
}

static void test_neigh_incomplete_retry(void **state)
{
	struct env *e = *state;
	uint32_t ns = dynamic_neigh(e, "10.0.0.11");
	uint32_t n6 = dynamic_neigh(e, "2001:db8::11");
	uint32_t slots[4];

	assert_int_not_equal(ns, n6);
	assert_int_equal(e->m->neigh[ns].state, LB_NEIGH_INCOMPLETE);
	/* Both asked for at once; <max> bounds one call. */
	assert_int_equal(neigh_due(e, 5000, slots, 1), 1);
	assert_int_equal(slots[0], ns);
	assert_int_equal(neigh_due(e, 5000, slots, 4), 1);
	assert_int_equal(slots[0], n6);
	assert_int_equal(e->nt->word[ns], 0);
	/* Not again before retry_ms. */
	assert_int_equal(neigh_due(e, 5000 + RETRY_MS - 1, slots, 4), 0);
	assert_int_equal(neigh_due(e, 5000 + RETRY_MS, slots, 4), 2);
	assert_int_equal(e->m->neigh[ns].state, LB_NEIGH_INCOMPLETE);
	assert_string_equal(lb_neigh_state_name(LB_NEIGH_INCOMPLETE), "incomplete");
}

static void test_neigh_learn_probe_fail(void **state)
{
	struct env *e = *state;
	uint32_t ns = dynamic_neigh(e, "10.0.0.11");
	const struct lb_model_neigh *n = &e->m->neigh[ns];
	struct sl_addr a = addr("10.0.0.11");
	uint64_t t = 10000;
	uint32_t slots[4];
	uint8_t mac[6];

	be_mac(mac, 0x42);
	assert_int_equal(neigh_due(e, t, slots, 4), 1);
	assert_int_equal(lb_neigh_learn(e->m, e->nt, 1, &a, mac, t), 0); /* wrong port */
	assert_int_equal(lb_neigh_learn(e->m, e->nt, 0, &a, mac, t + 100), 1);
	t += 100;
	assert_int_equal(n->state, LB_NEIGH_REACHABLE);
	assert_int_equal(e->nt->word[ns], lb_neigh_pack(mac));

	assert_int_equal(neigh_due(e, t + REACHABLE_MS - 1, slots, 4), 0);
	assert_int_equal(n->state, LB_NEIGH_REACHABLE);
	t += REACHABLE_MS;
	/* Probes: the MAC stays in use while asking again. */
	for (int p = 1; p <= LB_NEIGH_MAX_PROBES; p++) {
		assert_int_equal(neigh_due(e, t, slots, 4), 1);
		assert_int_equal(slots[0], ns);
		assert_int_equal(n->state, LB_NEIGH_PROBE);
		assert_int_equal(n->probes, p);
		assert_int_equal(e->nt->word[ns], lb_neigh_pack(mac));
		assert_int_equal(neigh_due(e, t + RETRY_MS - 1, slots, 4), 0);
		t += RETRY_MS;
	}
	/* Nobody answered: withdrawn, and asked for as incomplete. */
	assert_int_equal(neigh_due(e, t, slots, 4), 1);
	assert_int_equal(n->state, LB_NEIGH_INCOMPLETE);
	assert_int_equal(e->nt->word[ns], 0);

	/* An answer brings it back. */
	mac[5] = 0x43;
	assert_int_equal(lb_neigh_learn(e->m, e->nt, 0, &a, mac, t + 5), 1);
	assert_int_equal(n->state, LB_NEIGH_REACHABLE);
	assert_int_equal(e->nt->word[ns], lb_neigh_pack(mac));
	/* A probe answered in time goes back to reachable with no withdrawal. */
	t += 5 + REACHABLE_MS;
	assert_int_equal(neigh_due(e, t, slots, 4), 1);
	assert_int_equal(n->state, LB_NEIGH_PROBE);
	assert_int_equal(lb_neigh_learn(e->m, e->nt, 0, &a, mac, t + 10), 1);
	assert_int_equal(n->state, LB_NEIGH_REACHABLE);
	assert_int_equal(n->probes, 0);
	assert_int_equal(neigh_due(e, t + 10 + REACHABLE_MS - 1, slots, 4), 0);
}

static void test_neigh_static(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be("10.0.0.11", 1, 7);
	uint32_t v = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_RR, &b, 1));
	uint32_t ns = e->m->backends[bslot(e, v, "10.0.0.11")].neigh_slot;
	uint32_t slots[4];
	uint8_t other[6];

	assert_int_equal(e->m->neigh[ns].state, LB_NEIGH_STATIC);
	assert_int_equal(e->nt->word[ns], 0); /* published by the first due */
	assert_int_equal(neigh_due(e, 0, slots, 4), 0);
	assert_int_equal(e->nt->word[ns], lb_neigh_pack(b.mac));
	assert_int_equal(neigh_due(e, 10ull * REACHABLE_MS, slots, 4), 0);
	be_mac(other, 8);
	assert_int_equal(lb_neigh_learn(e->m, e->nt, 0, &b.addr, other, 1), 0);
	assert_int_equal(neigh_due(e, 100ull * REACHABLE_MS, slots, 4), 0);
	assert_int_equal(e->nt->word[ns], lb_neigh_pack(b.mac));
	assert_int_equal(e->m->neigh[ns].state, LB_NEIGH_STATIC);
}

/* Two VIPs with the same backend address share one neighbour. */
static void test_neigh_shared(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be("10.0.0.11", 1, 0);
	uint32_t v1 = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_RR, &b, 1));
	uint32_t v2 = add_vip(e, vip(VIP4, 443, IPPROTO_TCP, SCHED_KIND_RR, &b, 1));
	uint32_t b1 = bslot(e, v1, "10.0.0.11"), b2 = bslot(e, v2, "10.0.0.11");
	uint32_t ns = e->m->backends[b1].neigh_slot;
	uint8_t mac[6];

	assert_int_equal(e->m->backends[b2].neigh_slot, ns);
	assert_int_equal(e->m->neigh[ns].refs, 2);
	be_mac(mac, 9);
	assert_int_equal(lb_neigh_learn(e->m, e->nt, 0, &b.addr, mac, e->now), 1);
	recompile(e);
	assert_int_equal(send_l4(e, VIP4, 80, IPPROTO_TCP, 1, TH_SYN), 9);
	assert_int_equal(send_l4(e, VIP4, 443, IPPROTO_TCP, 1, TH_SYN), 9);
	/* A deleted VIP's backends stay (removed) until reaped: the MAC is still needed. */
	assert_int_equal(lb_model_vip_del(e->m, v1), 0);
	assert_int_equal(e->m->neigh[ns].refs, 2);
	assert_int_equal(lb_model_backend_reap(e->m, b1), 0);
	assert_int_equal(e->m->neigh[ns].refs, 1);
	recompile(e);
	assert_int_equal(e->nt->word[ns], lb_neigh_pack(mac));
}

/* A deleted VIP's slot is not reused while flows on its removed backends may still finish. */
static void test_vip_slot_reuse_waits(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be("10.0.0.11", 1, 0);
	uint32_t v1 = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_RR, &b, 1));
	uint32_t b1 = bslot(e, v1, "10.0.0.11");
	uint32_t v2, v3;

	assert_int_equal(lb_model_vip_del(e->m, v1), 0);
	assert_true(e->m->backends[b1].removed);
	v2 = add_vip(e, vip(VIP4, 80, IPPROTO_TCP, SCHED_KIND_RR, &b, 1));
	assert_int_not_equal(v2, v1);
	assert_int_equal(lb_model_backend_reap(e->m, b1), 0);
	v3 = add_vip(e, vip(VIP4, 81, IPPROTO_TCP, SCHED_KIND_RR, &b, 1));
	assert_int_equal(v3, v1); /* its flows are gone: free again */
}

static void test_build_arp_request(void **state)
{
	struct env *e = *state;
	struct sl_addr target = addr("10.0.0.11"), port4 = addr(PORT4), got;
	uint8_t buf[BUF_CAP], mac[6];
	struct pkt_meta m;
	uint16_t len = lb_build_neigh_request(buf, sizeof(buf), &e->m->ports[0], &target);

	assert_int_equal(len, 60);
	assert_int_equal(parse_packet(buf, len, &m), PARSE_OK);
	assert_int_equal(m.kind, PKT_KIND_ARP);
	assert_int_equal(m.arp_op, PKT_ARP_REQUEST);
	assert_true(sl_addr_eq(&m.src, &port4));
	assert_true(sl_addr_eq(&m.dst, &target));
	assert_memory_equal(m.arp_sha, PORT_MAC, 6);
	assert_memory_equal(buf, BCAST, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	/* A request announces its sender too. */
	assert_int_equal(lb_parse_neigh_reply(buf, len, &got, mac), 0);
	assert_true(sl_addr_eq(&got, &port4));
	assert_memory_equal(mac, PORT_MAC, 6);
	/* Too small a buffer, or a port without IPv4. */
	assert_int_equal(lb_build_neigh_request(buf, 59, &e->m->ports[0], &target), 0);
	struct lb_port_info p = e->m->ports[0];
	p.has_ipv4 = false;
	assert_int_equal(lb_build_neigh_request(buf, sizeof(buf), &p, &target), 0);
}

static void test_build_ns(void **state)
{
	struct env *e = *state;
	struct sl_addr target = addr("2001:db8::aa:bb11:2233"), port6 = addr(PORT6);
	const uint8_t snm[16] = {0xff, 0x02, [11] = 1, [12] = 0xff, 0x11, 0x22, 0x33};
	const uint8_t mmac[6] = {0x33, 0x33, 0xff, 0x11, 0x22, 0x33};
	uint8_t buf[BUF_CAP];
	uint8_t *ip = buf + ETH_LEN, *icmp = ip + 40;
	struct pkt_meta m;
	uint16_t len = lb_build_neigh_request(buf, sizeof(buf), &e->m->ports[0], &target);

	assert_int_equal(len, ETH_LEN + 40 + 32);
	assert_int_equal(parse_packet(buf, len, &m), PARSE_OK);
	assert_int_equal(m.l4_proto, IPPROTO_ICMPV6);
	assert_int_equal(m.icmp_type, 135);
	assert_int_equal(m.ttl, 255);
	assert_memory_equal(buf, mmac, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	assert_memory_equal(ip + 8, port6.b, 16);
	assert_memory_equal(ip + 24, snm, 16);
	assert_memory_equal(icmp + 8, target.b, 16);
	assert_int_equal(icmp[24], 1); /* source link-layer address */
	assert_int_equal(icmp[25], 1);
	assert_memory_equal(icmp + 26, PORT_MAC, 6);
	assert_int_equal(csum6(ip), 0);
	assert_int_equal(lb_build_neigh_request(buf, ETH_LEN + 40 + 31, &e->m->ports[0], &target),
			 0);
}

static void test_parse_neigh_reply(void **state)
{
	struct sl_addr got, want = addr("2001:db8::11");
	uint8_t buf[BUF_CAP], mac[6], got_mac[6];
	uint16_t len;

	(void)state;
	be_mac(mac, 0x21);
	len = build_na(buf, "2001:db8::11", mac, true);
	assert_int_equal(lb_parse_neigh_reply(buf, len, &got, got_mac), 0);
	assert_true(sl_addr_eq(&got, &want));
	assert_memory_equal(got_mac, mac, 6);
	/* No target link-layer option: nothing learnt. */
	len = build_na(buf, "2001:db8::11", mac, false);
	assert_int_equal(lb_parse_neigh_reply(buf, len, &got, got_mac), -1);
	/* Not a neighbour message at all, or not even a frame. */
	len = build_l4(buf, CLIENT4, 1, VIP4, 80, IPPROTO_TCP, TH_SYN);
	assert_int_equal(lb_parse_neigh_reply(buf, len, &got, got_mac), -1);
	assert_int_equal(lb_parse_neigh_reply(buf, 10, &got, got_mac), -1);
}

/*
 * A packet the fast path gives back (a new flow, a SYN) goes to the
 * general path with the meta fast4_meta() writes instead of the parser's:
 * they must be the same, byte for byte.
 */
static void test_fast_meta_is_the_parsers(void **state)
{
	static const struct {
		uint8_t proto, flags;
		uint16_t payload, pad;
		bool df;
	} cases[] = {
		{IPPROTO_TCP, TH_SYN, 0, 6, false},
		{IPPROTO_TCP, TH_ACK, 100, 0, true},
		{IPPROTO_TCP, TH_FIN | TH_ACK, 7, 0, false},
		{IPPROTO_UDP, 0, 0, 10, true},
		{IPPROTO_UDP, 0, 40, 0, false},
	};
	uint8_t buf[BUF_CAP];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct spec sp = {.src = CLIENT4,
				  .dst = VIP4,
				  .sport = (uint16_t)(40000 + i),
				  .dport = 80,
				  .proto = cases[i].proto,
				  .flags = cases[i].flags,
				  .payload = cases[i].payload,
				  .pad = cases[i].pad,
				  .df = cases[i].df,
				  .ttl = (uint8_t)(1 + i)};
		uint16_t len = build(buf, &sp);
		struct lb_pkt pk = {.data = buf, .len = len, .cap = BUF_CAP};
		struct pkt_meta parsed, fast;

		assert_int_equal(parse_packet(buf, len, &parsed), PARSE_OK);
		fast4_meta(&pk, &fast);
		assert_memory_equal(&parsed, &fast, sizeof(parsed));
	}
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup_one_port, env_teardown)
	const struct CMUnitTest tests[] = {
		T(test_compile_finds_vips),
		T(test_vip_lookup_many),
		T(test_generation_increases),
		T(test_pools_shared),
		T(test_vip_errors),
		T(test_backend_state_weight),
		T(test_forward_dsr),
		T(test_fast_path_same_verdicts),
		T(test_fast_meta_is_the_parsers),
		T(test_forward_v6_udp),
		T(test_wrr_shares),
		T(test_drain_keeps_flows),
		T(test_maint_moves_flows),
		T(test_health_down_moves_flows),
		T(test_deleted_backend_keeps_flows),
		T(test_backend_mac_change),
		T(test_reused_port_after_close_is_new),
		T(test_no_backend),
		T(test_neigh_unresolved),
		T(test_drop_reasons),
		T(test_counters_invariant),
		T(test_burst_one_new_flow),
		T(test_table_full_backstop),
		T(test_pickup_is_evictable),
		T(test_lc_uses_load),
		T(test_sweep_expires_flows),
		T(test_arp_reply_for_vip),
		T(test_arp_unknown_dropped),
		T(test_arp_reply_to_mgmt),
		T(test_icmp_echo_v4),
		T(test_icmp_echo_v6),
		T(test_ns_for_vip),
		T(test_na_to_mgmt),
		T(test_neigh_incomplete_retry),
		T(test_neigh_learn_probe_fail),
		T(test_neigh_static),
		T(test_neigh_shared),
		T(test_vip_slot_reuse_waits),
		T(test_build_arp_request),
		T(test_build_ns),
		T(test_parse_neigh_reply),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
