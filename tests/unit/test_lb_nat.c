/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the translating modes of lib/lb's per-packet pipeline:
 * full-NAT (fnat), NAT and tunnel (IP-in-IP, IPv6-in-IPv6), on hand-built
 * frames with a fake millisecond clock. Complements test_lb.c (dsr, model,
 * answers, neighbours), with the same harness (tests/lib/lb_harness.h).
 *
 * Every test gets a fresh model with two ports:
 *   port 0 "backends": PORT4/24, PORT6/64, PORT_MAC    (backends, local addrs)
 *   port 1 "clients":  PORT1_4/24, PORT1_6/64, PORT1_MAC (clients come in here)
 * a zeroed neighbour and load table, and one worker (lcore 0 of 1). Backends
 * have static MACs 02:00:00:00:01:<id> and listen on other ports than their
 * VIP (8080 behind :80) wherever the mode allows it.
 *
 * Section 4 covers what happens to flows when their backend leaves service
 * (down_flows, drain deadline), the response timeout, and vip.set's model call.
 *
 * Checksums are never trusted: every IPv4 header and TCP/UDP checksum the
 * pipeline wrote is recomputed from scratch here and compared.
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
#include "scheduler.h"

#include "lb_harness.h"

#define BUF_CAP  2048 /* room for a 1500-byte IP packet and then some */
#define HEADROOM 128  /* tunnel tests: bytes before the frame (an mbuf's headroom) */

#define LADDR4A "10.0.0.50"
#define LADDR4B "10.0.0.51"
#define LADDR6  "2001:db8::50"
#define BE4     "10.0.0.11"
#define BE4B    "10.0.0.12"
#define BE6     "2001:db8::11"

/* ---- frame builders ---- */

/* A TCP packet of the client's flow <sport> to <vip>:<vport>. */
static struct spec client_tcp(const char *vip, uint16_t vport, uint16_t sport, uint8_t flags)
{
	bool v6 = strchr(vip, ':') != NULL;

	return (struct spec){.src = v6 ? CLIENT6 : CLIENT4,
			     .dst = vip,
			     .sport = sport,
			     .dport = vport,
			     .proto = IPPROTO_TCP,
			     .flags = flags,
			     .payload = 4};
}

/* A packet from backend <mac_id> at <src>:<sport> to <dst>:<dport>, into the backends' port. */
static struct spec from_backend(const char *src, uint16_t sport, const char *dst, uint16_t dport,
				uint8_t proto, uint8_t flags, uint8_t mac_id)
{
	assert_true(mac_id < ARRAY_SIZE(BE_MACS));
	return (struct spec){.src = src,
			     .dst = dst,
			     .sport = sport,
			     .dport = dport,
			     .proto = proto,
			     .flags = flags,
			     .smac = BE_MACS[mac_id],
			     .dmac = PORT_MAC,
			     .payload = 6};
}

/* ---- reading what came out ---- */

static void assert_addr_at(const uint8_t *p, const char *text)
{
	struct sl_addr a = addr(text);

	if (sl_addr_is_v4(&a))
		assert_memory_equal(p, sl_addr_v4_bytes(&a), 4);
	else
		assert_memory_equal(p, a.b, 16);
}

static void assert_src(uint8_t *ip, const char *a, uint16_t port)
{
	assert_addr_at(ip + (ip_is_v6(ip) ? 8 : 12), a);
	assert_int_equal(rd16(l4_of(ip)), port);
}

static void assert_dst(uint8_t *ip, const char *a, uint16_t port)
{
	assert_addr_at(ip + (ip_is_v6(ip) ? 24 : 16), a);
	assert_int_equal(rd16(l4_of(ip) + 2), port);
}

static uint8_t ttl_of(const uint8_t *ip)
{
	return ip_is_v6(ip) ? ip[7] : ip[8];
}

/* The source address of the packet at <ip>, as text. */
static void src_text(const uint8_t *ip, char *out, size_t len)
{
	struct sl_addr a;

	if (ip_is_v6(ip))
		sl_addr_set_v6(&a, ip + 8);
	else
		sl_addr_set_v4(&a, ip + 12);
	sl_addr_format(&a, out, len);
}

/* ---- model helpers ---- */

/* A backend at <a>:<port> (0: the VIP's) with static MAC 02:00:00:00:01:<mac_id>. */
static struct conf_backend be(const char *a, uint16_t port, uint8_t mac_id)
{
	struct conf_backend b;

	memset(&b, 0, sizeof(b));
	b.addr = addr(a);
	b.port = port;
	b.weight = 1;
	b.has_mac = true;
	be_mac(b.mac, mac_id);
	return b;
}

static uint32_t add_vip(struct env *e, const char *a, uint16_t port, uint8_t proto,
			enum sl_mode mode, struct conf_backend *b, uint32_t n,
			const char *const *laddrs, uint32_t n_laddrs)
{
	struct conf_vip v;
	char err[256] = "";
	int rc;

	memset(&v, 0, sizeof(v));
	v.addr = addr(a);
	v.port = port;
	v.proto = proto;
	v.mode = (uint8_t)mode;
	v.sched = SCHED_KIND_RR;
	v.hash = SL_HASH_5TUPLE;
	v.maglev_size = MAGLEV_M;
	v.backends = b;
	v.n_backends = n;
	for (uint32_t i = 0; i < n_laddrs; i++)
		v.local_addrs[i] = addr(laddrs[i]);
	v.n_local_addrs = n_laddrs;
	rc = lb_model_vip_add(e->m, &v, err, sizeof(err));
	if (rc < 0)
		fail_msg("lb_model_vip_add: %d %s", rc, err);
	return (uint32_t)rc;
}

static uint32_t bslot(const struct env *e, uint32_t vip_slot, const char *a, uint16_t port)
{
	struct sl_addr ba = addr(a);
	int rc = lb_model_backend_find(e->m, vip_slot, &ba, port);

	assert_true(rc >= 0);
	return (uint32_t)rc;
}

static const char *const LADDRS4[] = {LADDR4A, LADDR4B};
static const char *const LADDRS6[] = {LADDR6};

/* VIP4:80/tcp in fnat through LADDR4A/B to BE4:8080 (mac 1); returns the VIP slot. */
static uint32_t fnat4(struct env *e)
{
	struct conf_backend b = be(BE4, 8080, 1);
	uint32_t v = add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS4, 2);

	recompile(e);
	return v;
}

/* ---- pipeline helpers ---- */

static struct lb_pkt pkt(uint8_t *buf, uint16_t len, uint16_t in_port)
{
	return (struct lb_pkt){.data = buf, .len = len, .cap = BUF_CAP, .in_port = in_port};
}

static void run(struct env *e, struct lb_worker *w, struct lb_pkt *pk, uint32_t n)
{
	lb_worker_process(w, e->s, pk, n, e->now);
}

/* Builds <sp> into <buf> and runs it through worker <w>, arriving on <in_port>. */
static struct lb_pkt send_on(struct env *e, struct lb_worker *w, uint8_t *buf,
			     const struct spec *sp, uint16_t in_port)
{
	struct lb_pkt pk = pkt(buf, build(buf, sp), in_port);

	run(e, w, &pk, 1);
	return pk;
}

/* ==== 1. full-NAT ==== */

/*
 * One full-NAT connection both ways: <vip>:<vport> -> <be_addr>:<be_port>,
 * from the client at <client>:<cport> on the clients' port. Checks every
 * rewritten field and checksum; returns the local address and port chosen.
 */
static uint16_t fnat_round_trip(struct env *e, const char *vip, uint16_t vport, const char *client,
				uint16_t cport, const char *be_addr, uint16_t be_port,
				uint8_t be_id, uint8_t proto, bool no_udp_csum, char *laddr,
				size_t laddr_len)
{
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP], orig[BUF_CAP], mac[6];
	struct spec sp = {.src = client,
			  .dst = vip,
			  .sport = cport,
			  .dport = vport,
			  .proto = proto,
			  .flags = TH_SYN,
			  .payload = 5,
			  .ttl = 60,
			  .no_udp_csum = no_udp_csum};
	uint16_t len = build(buf, &sp), lport;
	struct lb_pkt pk = pkt(buf, len, P_CLIENTS);
	uint8_t *ip = ip_of(buf), *l4, *o4;
	uint64_t replies = w->ctr->nat_replies;

	memcpy(orig, buf, len);
	run(e, w, &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(pk.len, len);
	be_mac(mac, be_id);
	assert_memory_equal(buf, mac, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	src_text(ip, laddr, laddr_len);
	lport = rd16(l4_of(ip));
	assert_true(lport >= 1024);
	assert_int_equal(lport % w->n_workers, w->index);
	assert_dst(ip, be_addr, be_port);
	assert_int_equal(ttl_of(ip), 59);
	if (no_udp_csum) {
		assert_ip4_csum_ok(ip);
		assert_int_equal(rd16(l4_csum_field(ip)), 0);
	} else {
		assert_csums_ok(ip);
	}
	/* Past the ports, the segment is untouched (bar its checksum). */
	l4 = l4_of(ip);
	o4 = orig + (l4 - buf);
	if (proto == IPPROTO_TCP) {
		assert_memory_equal(l4 + 4, o4 + 4, 12);  /* seq, ack, offset, flags, window */
		assert_memory_equal(l4 + 18, o4 + 18, 2); /* urgent pointer */
		assert_memory_equal(l4 + 20, o4 + 20, 5);
	} else {
		assert_memory_equal(l4 + 4, o4 + 4, 2); /* length */
		assert_memory_equal(l4 + 8, o4 + 8, 5);
	}

	/* The backend answers the local address; the client gets it from the VIP. */
	struct spec rs =
		from_backend(be_addr, be_port, laddr, lport, proto, TH_SYN | TH_ACK, be_id);
	rs.no_udp_csum = no_udp_csum;
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_CLIENTS);
	assert_memory_equal(buf, CLIENT_MAC, 6);
	assert_memory_equal(buf + 6, PORT1_MAC, 6);
	ip = ip_of(buf);
	assert_src(ip, vip, vport);
	assert_dst(ip, client, cport);
	assert_int_equal(ttl_of(ip), 63);
	if (no_udp_csum) {
		assert_ip4_csum_ok(ip);
		assert_int_equal(rd16(l4_csum_field(ip)), 0);
	} else {
		assert_csums_ok(ip);
	}
	assert_int_equal(w->ctr->nat_replies, replies + 1);
	assert_invariant(w->ctr);
	return lport;
}

/*
 * Established full-NAT connections take the fast path both ways (lb_fast.h):
 * every byte it writes must be what the general path writes. TCP, UDP and
 * UDP without a checksum; TTL 1 is left to the general path, which drops it.
 */
static void test_fnat_fast_path_both_ways(void **state)
{
	struct env *e = *state;
	struct conf_backend bt = be(BE4, 8080, 1), bu = be(BE4, 5353, 1);
	uint32_t vt = add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &bt, 1, LADDRS4, 1);
	struct lb_worker *w;
	uint8_t buf[BUF_CAP];
	struct lb_pkt pk;

	add_vip(e, VIP4, 53, IPPROTO_UDP, SL_MODE_FNAT, &bu, 1, LADDRS4, 1);
	recompile(e);
	w = e->w[0];
	for (int c = 0; c < 3; c++) {
		uint8_t proto = c == 0 ? IPPROTO_TCP : IPPROTO_UDP;
		uint16_t vport = c == 0 ? 80 : 53, bport = c == 0 ? 8080 : 5353;
		uint16_t cport = (uint16_t)(42000 + c), lport;
		struct spec sp = client_tcp(VIP4, vport, cport, TH_SYN);

		sp.proto = proto;
		sp.no_udp_csum = c == 2;
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
		lport = rd16(l4_of(ip_of(buf)));
		struct spec rs =
			from_backend(BE4, bport, LADDR4A, lport, proto, TH_SYN | TH_ACK, 1);
		rs.no_udp_csum = c == 2;
		pk = send_on(e, w, buf, &rs, P_BACKENDS);
		assert_tx(&pk, P_CLIENTS);
		/* Established: ACK (TCP), or a second datagram (UDP). Then data both ways. */
		sp.flags = TH_ACK;
		rs.flags = TH_ACK;
		for (int i = 0; i < 3; i++) {
			uint64_t fwd = w->ctr->fwd, replies = w->ctr->nat_replies;

			sp.ttl = (uint8_t)(10 + i);
			pk = send_on(e, w, buf, &sp, P_CLIENTS);
			assert_tx(&pk, P_BACKENDS);
			assert_src(ip_of(buf), LADDR4A, lport);
			assert_dst(ip_of(buf), BE4, bport);
			assert_int_equal(ttl_of(ip_of(buf)), 9 + i);
			if (c == 2)
				assert_int_equal(rd16(l4_csum_field(ip_of(buf))), 0);
			else
				assert_csums_ok(ip_of(buf));
			assert_ip4_csum_ok(ip_of(buf));
			rs.ttl = (uint8_t)(20 + i);
			pk = send_on(e, w, buf, &rs, P_BACKENDS);
			assert_tx(&pk, P_CLIENTS);
			assert_memory_equal(buf, CLIENT_MAC, 6);
			assert_memory_equal(buf + 6, PORT1_MAC, 6);
			assert_src(ip_of(buf), VIP4, vport);
			assert_dst(ip_of(buf), CLIENT4, cport);
			assert_int_equal(ttl_of(ip_of(buf)), 19 + i);
			if (c == 2)
				assert_int_equal(rd16(l4_csum_field(ip_of(buf))), 0);
			else
				assert_csums_ok(ip_of(buf));
			assert_ip4_csum_ok(ip_of(buf));
			assert_int_equal(w->ctr->fwd, fwd + 2);
			assert_int_equal(w->ctr->nat_replies, replies + 1);
		}
		/* Replies alone keep the connection (both of its entries) alive. */
		for (int i = 0; i < 3; i++) {
			/* Steps under the established timeouts (TCP 900 s, UDP 60 s), past them in
			 * all. */
			e->now += proto == IPPROTO_TCP ? 800000 : 50000;
			rs.ttl = 64;
			pk = send_on(e, w, buf, &rs, P_BACKENDS);
			assert_tx(&pk, P_CLIENTS);
		}
		/* TTL 1 either way: dropped, as the general path does. */
		sp.ttl = 1;
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_drop(&pk, LB_DROP_TTL);
		rs.ttl = 1;
		pk = send_on(e, w, buf, &rs, P_BACKENDS);
		assert_drop(&pk, LB_DROP_TTL);
	}
	assert_int_equal(w->ctr->vip[vt].pkts, 2 + 6 + 3);
	assert_invariant(w->ctr);
}

/* A connection's SYN and the backend's SYN-ACK in one burst: both go through. */
static void test_fnat_syn_and_reply_one_burst(void **state)
{
	struct env *e = *state;
	struct lb_worker *w;
	uint8_t buf[2][BUF_CAP];
	struct lb_pkt pk[2];
	struct spec sp = client_tcp(VIP4, 80, 39000, TH_SYN);
	struct spec rs = from_backend(BE4, 8080, LADDR4A, 1024, IPPROTO_TCP, TH_SYN | TH_ACK, 1);
	struct conf_backend b = be(BE4, 8080, 1);

	/* One local address: the first port handed out is LADDR4A:1024. */
	add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS4, 1);
	recompile(e);
	w = e->w[0];
	pk[0] = pkt(buf[0], build(buf[0], &sp), P_CLIENTS);
	pk[1] = pkt(buf[1], build(buf[1], &rs), P_BACKENDS);
	run(e, w, pk, 2);
	assert_tx(&pk[0], P_BACKENDS);
	assert_int_equal(rd16(l4_of(ip_of(buf[0]))), 1024); /* the first port handed out */
	assert_tx(&pk[1], P_CLIENTS);
	assert_src(ip_of(buf[1]), VIP4, 80);
	assert_dst(ip_of(buf[1]), CLIENT4, 39000);
	assert_int_equal(w->ctr->nat_replies, 1);
	assert_invariant(w->ctr);
}

static uint16_t build_icmp4_error(uint8_t *buf, const char *src, const char *dst, uint8_t code,
				  const uint8_t *quoted);

/*
 * A second connection's SYN, the backend's SYN-ACK and then its ICMP host
 * unreachable about the SYN, in one burst, in that order: the connection was
 * answered first, so the error is not a connect failure; it goes on to the
 * client.
 */
static void test_fnat_reply_then_error_one_burst(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 8080, 1);
	struct spec sp = client_tcp(VIP4, 80, 39000, TH_SYN);
	struct spec rs = from_backend(BE4, 8080, LADDR4A, 1024, IPPROTO_TCP, TH_SYN | TH_ACK, 1);
	struct spec sent = {.src = LADDR4A,
			    .dst = BE4,
			    .sport = 1024,
			    .dport = 8080,
			    .proto = IPPROTO_TCP,
			    .flags = TH_SYN,
			    .ttl = 63};
	uint8_t buf[3][BUF_CAP], quote[BUF_CAP];
	struct lb_pkt pk[3];
	struct lb_worker *w;

	add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS4, 1);
	recompile(e);
	w = e->w[0];
	build(quote, &sent);
	pk[0] = pkt(buf[0], build(buf[0], &sp), P_CLIENTS);
	pk[1] = pkt(buf[1], build(buf[1], &rs), P_BACKENDS);
	pk[2] = pkt(buf[2], build_icmp4_error(buf[2], BE4, LADDR4A, 1, ip_of(quote)), P_BACKENDS);
	run(e, w, pk, 3);
	assert_tx(&pk[0], P_BACKENDS);
	assert_tx(&pk[1], P_CLIENTS);
	assert_tx(&pk[2], P_CLIENTS);
	assert_int_equal(w->ctr->redispatched, 0);
	assert_int_equal(w->ctr->icmp_translated, 1);
	assert_invariant(w->ctr);
}

static void test_fnat_tcp_v4(void **state)
{
	struct env *e = *state;
	uint32_t v = fnat4(e), b = bslot(e, v, BE4, 8080);
	struct lb_worker *w = e->w[0];
	char la[SL_ADDR_STRLEN];
	uint16_t lport = fnat_round_trip(e, VIP4, 80, CLIENT4, 40000, BE4, 8080, 1, IPPROTO_TCP,
					 false, la, sizeof(la));

	assert_true(strcmp(la, LADDR4A) == 0 || strcmp(la, LADDR4B) == 0);
	assert_int_equal(w->ctr->fwd, 2); /* the SYN and the translated SYN-ACK */
	assert_int_equal(w->ctr->flows_new, 1);
	assert_int_equal(w->ctr->vip[v].new_flows, 1);
	assert_int_equal(w->ctr->vip[v].pkts, 2);
	assert_int_equal(w->ctr->backend[b].pkts, 2);
	assert_int_equal(w->active[b], 1);
	assert_int_equal(flow_table_count(w->flows), 2); /* forward and reverse entries */

	/* The client's next packet goes the same way, from the same local port. */
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, 40000, TH_ACK);
	struct lb_pkt pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_src(ip_of(buf), la, lport);
	assert_dst(ip_of(buf), BE4, 8080);
	assert_csums_ok(ip_of(buf));
	assert_int_equal(w->ctr->flows_new, 1);
	assert_int_equal(flow_table_count(w->flows), 2);

	/* The local addresses are spread over: many connections use both. */
	bool seen_a = false, seen_b = false;
	for (uint16_t cport = 41000; cport < 41064; cport++) {
		char got[SL_ADDR_STRLEN];
		sp = client_tcp(VIP4, 80, cport, TH_SYN);
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
		src_text(ip_of(buf), got, sizeof(got));
		seen_a |= strcmp(got, LADDR4A) == 0;
		seen_b |= strcmp(got, LADDR4B) == 0;
	}
	assert_true(seen_a && seen_b);
	assert_invariant(w->ctr);
}

/* A client packet that arrives with TTL 1 cannot be routed on. */
static void test_fnat_ttl_expired(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, 40000, TH_SYN);
	struct lb_pkt pk;

	fnat4(e);
	sp.ttl = 1;
	pk = send_on(e, e->w[0], buf, &sp, P_CLIENTS);
	assert_drop(&pk, LB_DROP_TTL);
	assert_int_equal(e->w[0]->ctr->drop[LB_DROP_TTL], 1);
	assert_invariant(e->w[0]->ctr);
}

static void test_fnat_tcp_v6(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE6, 8080, 3);
	uint32_t v = add_vip(e, VIP6, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS6, 1);
	char la[SL_ADDR_STRLEN];

	recompile(e);
	fnat_round_trip(e, VIP6, 80, CLIENT6, 40000, BE6, 8080, 3, IPPROTO_TCP, false, la,
			sizeof(la));
	assert_string_equal(la, LADDR6);
	assert_int_equal(e->w[0]->active[bslot(e, v, BE6, 8080)], 1);
	assert_int_equal(e->w[0]->ctr->nat_replies, 1);
}

static void test_fnat_udp(void **state)
{
	struct env *e = *state;
	struct conf_backend b4 = be(BE4, 5353, 1), b6 = be(BE6, 5353, 3);
	char la[SL_ADDR_STRLEN];

	add_vip(e, VIP4, 53, IPPROTO_UDP, SL_MODE_FNAT, &b4, 1, LADDRS4, 2);
	add_vip(e, VIP6, 53, IPPROTO_UDP, SL_MODE_FNAT, &b6, 1, LADDRS6, 1);
	recompile(e);
	fnat_round_trip(e, VIP4, 53, CLIENT4, 5000, BE4, 5353, 1, IPPROTO_UDP, false, la,
			sizeof(la));
	/* An IPv4 datagram sent without a checksum keeps none, both ways. */
	fnat_round_trip(e, VIP4, 53, CLIENT4, 5001, BE4, 5353, 1, IPPROTO_UDP, true, la,
			sizeof(la));
	fnat_round_trip(e, VIP6, 53, CLIENT6, 5000, BE6, 5353, 3, IPPROTO_UDP, false, la,
			sizeof(la));
	assert_int_equal(e->w[0]->ctr->nat_replies, 3);
}

/*
 * A UDP checksum that comes out of the translation as 0 must be sent as
 * 0xffff (0 would mean "no checksum"). The reply's payload is chosen so that
 * the translated datagram sums to exactly that.
 */
static void test_fnat_udp_csum_zero_is_ffff(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 5353, 1);
	uint8_t buf[BUF_CAP], data[6] = {0};
	char la[SL_ADDR_STRLEN];
	uint16_t lport;

	add_vip(e, VIP4, 53, IPPROTO_UDP, SL_MODE_FNAT, &b, 1, LADDRS4, 2);
	recompile(e);
	lport = fnat_round_trip(e, VIP4, 53, CLIENT4, 5000, BE4, 5353, 1, IPPROTO_UDP, false, la,
				sizeof(la));

	/* The datagram as the client will get it, payload word 0 still to choose. */
	struct spec want = {.src = VIP4,
			    .dst = CLIENT4,
			    .sport = 53,
			    .dport = 5000,
			    .proto = IPPROTO_UDP,
			    .payload = 6,
			    .data = data};
	build(buf, &want);
	uint8_t *ip = ip_of(buf), *field = l4_csum_field(ip);
	uint32_t s = sum16(0, ip + 12, 8) + IPPROTO_UDP + 14;
	wr16(field, 0);
	uint16_t partial = (uint16_t)~fold(sum16(s, l4_of(ip), 14)); /* folded sum, not inverted */
	wr16(data, (uint16_t)(0xffff - partial));                    /* sum becomes 0xffff */

	struct spec rs = from_backend(BE4, 5353, la, lport, IPPROTO_UDP, 0, 1);
	rs.data = data;
	struct lb_pkt pk = send_on(e, e->w[0], buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_CLIENTS);
	ip = ip_of(buf);
	assert_src(ip, VIP4, 53);
	assert_dst(ip, CLIENT4, 5000);
	assert_int_equal(l4_csum(ip), 0xffff); /* the choice worked: it computes to 0 */
	assert_int_equal(rd16(l4_csum_field(ip)), 0xffff);
}

/*
 * An ICMPv4 error from <src> to <dst> (type 3, <code>) quoting the first 28
 * bytes of IPv4 packet <quoted>, from backend MAC 1 to the backends' port.
 */
static uint16_t build_icmp4_error(uint8_t *buf, const char *src, const char *dst, uint8_t code,
				  const uint8_t *quoted)
{
	struct sl_addr s = addr(src), d = addr(dst);
	uint8_t *ip = buf + 14, *icmp = ip + 20;

	memcpy(buf, PORT_MAC, 6);
	memcpy(buf + 6, BE_MACS[1], 6);
	wr16(buf + 12, ET_IPV4);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	wr16(ip + 2, 20 + 8 + 28);
	ip[8] = 64;
	ip[9] = IPPROTO_ICMP;
	memcpy(ip + 12, sl_addr_v4_bytes(&s), 4);
	memcpy(ip + 16, sl_addr_v4_bytes(&d), 4);
	wr16(ip + 10, csum(ip, 20));
	memset(icmp, 0, 8);
	icmp[0] = 3;
	icmp[1] = code;
	memcpy(icmp + 8, quoted, 28);
	wr16(icmp + 2, csum(icmp, 8 + 28));
	return 14 + 20 + 8 + 28;
}

/*
 * Several lcores: an ICMP error about a full-NAT packet reaches the lcore
 * that owns its connection (the quoted source port says which), wherever RSS
 * put it, and is translated there.
 */
static void test_fnat_icmp_error_goes_home(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP], sent[28], orig[BUF_CAP];
	char la[SL_ADDR_STRLEN];
	struct lb_pkt pk;
	uint16_t len;

	fnat4(e);
	set_workers(e, 3, 1024);
	struct spec sp = client_tcp(VIP4, 80, 41000, TH_SYN);
	pk = send_on(e, e->w[2], buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	memcpy(sent, ip_of(buf), sizeof(sent));
	src_text(ip_of(buf), la, sizeof(la));

	/* Fragmentation needed (not a connect failure), from the backend, on lcores 0 and 1. */
	for (uint32_t i = 0; i < 2; i++) {
		len = build_icmp4_error(buf, BE4, la, 4, sent);
		memcpy(orig, buf, len);
		pk = pkt(buf, len, P_BACKENDS);
		run(e, e->w[i], &pk, 1);
		assert_int_equal(pk.verdict, LB_VERDICT_HANDOFF);
		assert_int_equal(pk.out_port, 2);
		assert_memory_equal(buf, orig, len); /* passed on untouched */
	}
	/* On its owner: translated for the client, who sees its own packet quoted. */
	pk.handed = 1;
	run(e, e->w[2], &pk, 1);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(e->w[2]->ctr->icmp_translated, 1);
	assert_addr_at(ip_of(buf) + 16, CLIENT4);
	assert_src(ip_of(buf) + 28, CLIENT4, 41000); /* the quote: client -> VIP */
	assert_dst(ip_of(buf) + 28, VIP4, 80);
	/* Handed over once is processed where it lands, never passed on again. */
	len = build_icmp4_error(buf, BE4, la, 4, sent);
	pk = pkt(buf, len, P_BACKENDS);
	pk.handed = 1;
	run(e, e->w[0], &pk, 1);
	assert_int_not_equal(pk.verdict, LB_VERDICT_HANDOFF);
	assert_int_equal(e->w[0]->ctr->icmp_translated, 0);
}

/* Several lcores: each hands out only its residue class of ports, and replies go home. */
static void test_fnat_lcore_ports(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP], orig[BUF_CAP];
	char la[SL_ADDR_STRLEN];
	uint16_t lport = 0, len;
	struct lb_pkt pk;

	fnat4(e);
	set_workers(e, 3, 1024);
	for (uint32_t i = 0; i < 3; i++) {
		for (uint16_t k = 0; k < 20; k++) {
			struct spec sp =
				client_tcp(VIP4, 80, (uint16_t)(40000 + 100 * i + k), TH_SYN);
			pk = send_on(e, e->w[i], buf, &sp, P_CLIENTS);
			assert_tx(&pk, P_BACKENDS);
			uint16_t p = rd16(l4_of(ip_of(buf)));
			assert_true(p >= 1024);
			assert_int_equal(p % 3, i);
			if (i == 0 && k == 0) {
				lport = p;
				src_text(ip_of(buf), la, sizeof(la));
			}
		}
	}

	/* lcore 0's connection: its backend's reply reaches lcore 1 (RSS) and 2. */
	struct spec rs = from_backend(BE4, 8080, la, lport, IPPROTO_TCP, TH_SYN | TH_ACK, 1);
	for (uint32_t i = 1; i < 3; i++) {
		len = build(buf, &rs);
		memcpy(orig, buf, len);
		pk = pkt(buf, len, P_BACKENDS);
		run(e, e->w[i], &pk, 1);
		assert_int_equal(pk.verdict, LB_VERDICT_HANDOFF);
		assert_int_equal(pk.out_port, 0);
		assert_int_equal(pk.len, len);
		assert_memory_equal(buf, orig, len); /* passed on untouched */
		assert_int_equal(e->w[i]->ctr->handoff, 1);
	}
	/* Handed over already: processed where it is, never passed on again. */
	len = build(buf, &rs);
	pk = pkt(buf, len, P_BACKENDS);
	pk.handed = 1;
	run(e, e->w[1], &pk, 1);
	assert_drop(&pk, LB_DROP_NOT_OURS); /* lcore 1 has no such connection */
	assert_int_equal(e->w[1]->ctr->handoff, 1);
	/* On its owner it is translated, handed over or not. */
	len = build(buf, &rs);
	pk = pkt(buf, len, P_BACKENDS);
	pk.handed = 1;
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_CLIENTS);
	assert_dst(ip_of(buf), CLIENT4, 40000);
	pk = send_on(e, e->w[0], buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(e->w[0]->ctr->nat_replies, 2);
	assert_int_equal(e->w[0]->ctr->handoff, 0);
	for (uint32_t i = 0; i < 3; i++)
		assert_invariant(e->w[i]->ctr);
}

/*
 * A new connection from client port <sport>: forwarded, with a source port of
 * lcore <index> of <n> not yet in <used> (1024 and up), which it marks.
 */
static uint16_t open_on_own_port(struct env *e, struct lb_worker *w, uint16_t sport, uint32_t n,
				 uint32_t index, uint8_t *used)
{
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, sport, TH_SYN);
	struct lb_pkt pk = send_on(e, w, buf, &sp, P_CLIENTS);
	uint16_t p;

	assert_tx(&pk, P_BACKENDS);
	p = rd16(l4_of(ip_of(buf)));
	assert_true(p >= 1024);
	assert_int_equal(p % n, index);
	assert_int_equal(used[p], 0);
	used[p] = 1;
	return p;
}

/*
 * Client port <sport>'s connection is reset and, past the closed timeout,
 * swept; returns the source port a new connection from <next_sport> gets.
 */
static uint16_t reset_and_reuse(struct env *e, struct lb_worker *w, uint16_t sport,
				uint16_t next_sport)
{
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, sport, TH_RST | TH_ACK);
	struct lb_pkt pk = send_on(e, w, buf, &sp, P_CLIENTS);

	assert_tx(&pk, P_BACKENDS);
	e->now += 5001;
	lb_worker_sweep(w, e->now, 1u << 20);
	sp = client_tcp(VIP4, 80, next_sport, TH_SYN);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	return rd16(l4_of(ip_of(buf)));
}

/*
 * With 16 lcores one lcore has (65536 - 1024) / 16 = 4032 ports per local
 * address: fill them all, then the next connection has none. A port comes
 * back only once its connection has left the table, not when it closes.
 */
static void test_fnat_port_exhaustion_and_reuse(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 8080, 1);
	uint32_t v = add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS4, 1);
	uint32_t bs = bslot(e, v, BE4, 8080);
	enum { N = (65536 - 1024) / 16, INDEX = 5 };
	static uint8_t used[65536];
	uint8_t buf[BUF_CAP];
	struct lb_worker *w;
	struct lb_pkt pk;
	struct spec sp;
	uint16_t victim_port = 0;
	uint32_t t0 = e->now;

	recompile(e);
	w = set_worker(e, 0, INDEX, 16, 4 * N);
	assert_non_null(w);
	memset(used, 0, sizeof(used));
	for (uint32_t i = 0; i < N; i++) {
		uint16_t p = open_on_own_port(e, w, (uint16_t)(10000 + i), 16, INDEX, used);
		if (i == 1234)
			victim_port = p;
	}
	assert_int_equal(flow_table_count(w->flows), 2 * N);
	assert_int_equal(w->active[bs], N);

	/* Every port taken: the next connection is dropped, leaving nothing behind. */
	sp = client_tcp(VIP4, 80, 60000, TH_SYN);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_drop(&pk, LB_DROP_NAT_NO_PORT);
	assert_int_equal(w->ctr->drop[LB_DROP_NAT_NO_PORT], 1);
	assert_int_equal(flow_table_count(w->flows), 2 * N);
	assert_int_equal(w->active[bs], N);
	assert_int_equal(w->ctr->flows_new, N);

	/* One connection is reset: closed, but its entries (and port) stay a while. */
	e->now = t0 + 1000;
	sp = client_tcp(VIP4, 80, 10000 + 1234, TH_RST | TH_ACK);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(rd16(l4_of(ip_of(buf))), victim_port);
	assert_int_equal(w->active[bs], N - 1); /* closing: not counted */
	sp = client_tcp(VIP4, 80, 60001, TH_SYN);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_drop(&pk, LB_DROP_NAT_NO_PORT);

	/* Past the closed timeout (5 s), not the SYN one (10 s): only it goes. */
	e->now = t0 + 1000 + 5001;
	lb_worker_sweep(w, e->now, 1u << 20);
	assert_int_equal(flow_table_count(w->flows), 2 * N - 2);
	assert_int_equal(w->active[bs], N - 1);
	sp = client_tcp(VIP4, 80, 60002, TH_SYN);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(rd16(l4_of(ip_of(buf))), victim_port); /* the only free one */
	assert_int_equal(w->active[bs], N);
	assert_int_equal(w->ctr->drop[LB_DROP_NAT_NO_PORT], 2);
	assert_invariant(w->ctr);
}

/*
 * Ports held by flows past their timeout come back when ports run out,
 * without waiting for the sweep to reach those flows.
 */
static void test_fnat_ports_reclaimed_from_expired_flows(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 8080, 1);
	uint32_t v = add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS4, 1);
	enum { N = (65536 - 1024) / 16 };
	uint8_t buf[BUF_CAP];
	struct lb_worker *w;
	struct lb_pkt pk;
	struct spec sp;
	uint32_t t0 = e->now;

	(void)v;
	recompile(e);
	w = set_worker(e, 0, 3, 16, 4 * N);
	assert_non_null(w);
	for (uint32_t i = 0; i < N; i++) {
		sp = client_tcp(VIP4, 80, (uint16_t)(10000 + i), TH_SYN);
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
	}
	sp = client_tcp(VIP4, 80, 60000, TH_SYN);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_drop(&pk, LB_DROP_NAT_NO_PORT);

	/* Past the SYN timeout (10 s), no sweep: the next connections find ports. */
	e->now = t0 + 10001;
	for (uint16_t i = 0; i < 8; i++) {
		sp = client_tcp(VIP4, 80, (uint16_t)(60001 + i), TH_SYN);
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
	}
	assert_int_equal(w->ctr->drop[LB_DROP_NAT_NO_PORT], 1);
	assert_true(flow_table_count(w->flows) < 2 * N);
	assert_invariant(w->ctr);
}

/*
 * Whatever the lcore count (here 5 and 3, where an lcore's share of ports is
 * not a multiple of 64), every port of the lcore's residue class from 1024
 * up to 65535 is handed out exactly once before the next connection is
 * dropped, and a freed port is found again wherever it lies.
 */
static void test_fnat_ports_each_once_for_any_lcore_count(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 8080, 1);
	uint32_t v = add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS4, 1);
	static const uint32_t cases[][2] = {{5, 0}, {3, 1}};
	static uint8_t used[65536];
	uint8_t buf[BUF_CAP];
	struct lb_pkt pk;
	struct spec sp;

	(void)v;
	recompile(e);
	for (uint32_t c = 0; c < 2; c++) {
		uint32_t n = cases[c][0], index = cases[c][1], expect = 0, got = 0;
		uint16_t victim = 0, first = 0;
		struct flow_timeouts to;
		struct lb_worker *w;

		for (uint32_t p = 1024; p < 65536; p++)
			expect += p % n == index;
		/* SYN timeout 60 s: the held connections outlive two closed timeouts. */
		flow_timeouts_default(&to);
		to.ms[FLOW_TCP_SYN] = 60000;
		lb_worker_free(e->w[0]);
		w = e->w[0] = lb_worker_create(index, n, 2 * expect + 64, &to, e->nt, e->load);
		assert_non_null(w);
		memset(used, 0, sizeof(used));
		for (uint32_t i = 0; i < expect; i++) {
			uint16_t p = open_on_own_port(e, w, (uint16_t)(1 + i), n, index, used);
			got++;
			if (i == expect / 2)
				victim = p;
			if (i == 0)
				first = p;
		}
		assert_int_equal(got, expect);
		sp = client_tcp(VIP4, 80, 65000, TH_SYN);
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_drop(&pk, LB_DROP_NAT_NO_PORT);

		/*
		 * The connection on the port in the middle resets and leaves the
		 * table: the next one gets that port. Then the first one: found
		 * past the end of the lcore's share, not beyond it.
		 */
		assert_int_equal(reset_and_reuse(e, w, (uint16_t)(1 + expect / 2), 65001), victim);
		assert_int_equal(reset_and_reuse(e, w, 1, 65002), first);
		sp = client_tcp(VIP4, 80, 65003, TH_SYN);
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_drop(&pk, LB_DROP_NAT_NO_PORT);
		assert_invariant(w->ctr);
	}
}

/*
 * Opens <count> connections (client ports from <sport0>) one every <gap_ms>
 * on worker <w> whose wall clock starts at <wall0>; for each source port it
 * hands out, checks that the port was not handed out within the last 60 s
 * of wall time (a Linux backend's TIME_WAIT) per <last>, then records it.
 */
static void open_paced(struct env *e, struct lb_worker *w, uint64_t wall0, uint32_t count,
		       uint32_t gap_ms, uint16_t sport0, uint64_t *last)
{
	uint32_t t0 = e->now;
	uint8_t buf[BUF_CAP];

	lb_worker_set_wall_clock(w, wall0, t0);
	for (uint32_t i = 0; i < count; i++) {
		struct spec sp = client_tcp(VIP4, 80, (uint16_t)(sport0 + i % 60000), TH_SYN);
		struct lb_pkt pk;
		uint64_t wall;
		uint16_t p;

		e->now = t0 + i * gap_ms;
		wall = wall0 + i * gap_ms;
		/* The data plane's sweep: 64 entries a connection, as if idle-ish. */
		lb_worker_sweep(w, e->now, 64);
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
		p = rd16(l4_of(ip_of(buf)));
		if (last[p] != 0 && wall - last[p] < 60000) {
			fail_msg("port %u handed out again %llu ms after its last use", p,
				 (unsigned long long)(wall - last[p]));
		}
		last[p] = wall;
	}
}

/*
 * A data plane restarted under load must not hand out the (local address,
 * port) tuples its predecessor used within TIME_WAIT: the backends still hold
 * them and refuse about half of the new SYNs (PAWS). 100 connections a second
 * for 30 s, a restart taking 1 s, 100 a second again, on one lcore and on
 * the second of two.
 */
static void test_fnat_ports_not_reused_across_restart(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 8080, 1);
	static const uint32_t cases[][2] = {{1, 0}, {2, 1}};
	const uint64_t wall0 = 1764900000000ull; /* a December 2025 morning */
	static uint64_t last[65536];

	add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS4, 1);
	recompile(e);
	for (uint32_t c = 0; c < 2; c++) {
		uint32_t n = cases[c][0], index = cases[c][1];
		struct lb_worker *w = set_worker(e, 0, index, n, 8192);

		memset(last, 0, sizeof(last));
		assert_non_null(w);
		open_paced(e, w, wall0, 3000, 10, 10000, last);
		/* The restart: a new worker, another monotonic clock, 1 s later. */
		e->now += 777777;
		w = set_worker(e, 0, index, n, 8192);
		assert_non_null(w);
		open_paced(e, w, wall0 + 31000, 3000, 10, 20000, last);
		assert_invariant(w->ctr);
	}
}

/*
 * One local address at 1,000 new connections a second, just under what its
 * ports allow (64,512 per 64 s), for 130 s: the ports wrap twice, and each
 * comes round no sooner than 60 s after it was last handed out.
 */
static void test_fnat_ports_wrap_after_time_wait(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 8080, 1);
	static uint64_t last[65536];
	struct flow_timeouts to;
	struct lb_worker *w;

	add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &b, 1, LADDRS4, 1);
	recompile(e);
	/* The unanswered SYNs leave after 2 s: about 2,000 connections held. */
	flow_timeouts_default(&to);
	to.ms[FLOW_TCP_SYN] = 2000;
	lb_worker_free(e->w[0]);
	w = e->w[0] = lb_worker_create(0, 1, 16384, &to, e->nt, e->load);
	assert_non_null(w);
	memset(last, 0, sizeof(last));
	/* Client ports wrap too (16-bit); the flows they name are long gone by then. */
	open_paced(e, w, 1764900000000ull, 130000, 1, 1, last);
	assert_int_equal(w->ctr->drop[LB_DROP_NAT_NO_PORT], 0);
	assert_invariant(w->ctr);
}

/* ==== redispatch: held SYNs ==== */

/*
 * A full-NAT VIP over BE4 and BE4B (round robin, one local address) with
 * <redispatch> and <syn_timeout_ms>; returns its slot.
 */
static uint32_t fnat_pair(struct env *e, bool redispatch, uint32_t syn_timeout_ms)
{
	struct conf_backend b[2] = {be(BE4, 8080, 1), be(BE4B, 8080, 2)};
	uint32_t v = add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, b, 2, LADDRS4, 1);

	e->m->vips[v].redispatch = redispatch;
	e->m->vips[v].syn_timeout_ms = syn_timeout_ms;
	recompile(e);
	return v;
}

/* Sends the client's SYN from <cport>; returns its source port; <to> the backend it went to. */
static uint16_t syn_out(struct env *e, uint16_t cport, char *to, size_t to_len)
{
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, cport, TH_SYN);
	struct lb_pkt pk = send_on(e, e->w[0], buf, &sp, P_CLIENTS);
	uint8_t *ip = ip_of(buf);
	struct sl_addr d;

	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(l4_of(ip)[13], TH_SYN);
	sl_addr_set_v4(&d, ip + 16);
	sl_addr_format(&d, to, to_len);
	return rd16(l4_of(ip));
}

/*
 * The backend refuses (RST): the very buffer that brought the RST leaves at
 * once as the client's SYN, translated towards the other backend; the client
 * never sees the refusal nor waits for its own retry.
 */
static void test_redispatch_on_rst_at_once(void **state)
{
	struct env *e = *state;
	uint32_t v = fnat_pair(e, true, 0);
	struct lb_worker *w = e->w[0];
	char first[SL_ADDR_STRLEN];
	uint8_t buf[BUF_CAP];
	uint16_t lport = syn_out(e, 40000, first, sizeof(first)), lport2;
	const char *second = strcmp(first, BE4) == 0 ? BE4B : BE4;
	struct spec rs = from_backend(first, 8080, LADDR4A, lport, IPPROTO_TCP, TH_RST | TH_ACK,
				      strcmp(first, BE4) == 0 ? 1 : 2);
	struct lb_pkt pk;
	uint8_t *ip;

	e->now += 1;
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_BACKENDS);
	ip = ip_of(buf);
	assert_int_equal(l4_of(ip)[13], TH_SYN);
	assert_dst(ip, second, 8080);
	lport2 = rd16(l4_of(ip));
	assert_src(ip, LADDR4A, lport2);
	assert_csums_ok(ip);
	assert_int_equal(w->ctr->redispatched, 1);
	assert_int_equal(w->ctr->backend[bslot(e, v, first, 8080)].connect_fail, 1);
	/* The failed connection's two entries are gone; the new one has its two. */
	assert_int_equal(flow_table_count(w->flows), 2);

	/* The other backend answers: the client gets its SYN-ACK from the VIP. */
	rs = from_backend(second, 8080, LADDR4A, lport2, IPPROTO_TCP, TH_SYN | TH_ACK,
			  strcmp(second, BE4) == 0 ? 1 : 2);
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_CLIENTS);
	assert_src(ip_of(buf), VIP4, 80);
	assert_dst(ip_of(buf), CLIENT4, 40000);
	assert_int_equal(w->ctr->backend[bslot(e, v, second, 8080)].established, 1);
	assert_invariant(w->ctr);
}

/* The same for an ICMP port unreachable about the SYN. */
static void test_redispatch_on_icmp_unreachable_at_once(void **state)
{
	struct env *e = *state;
	uint32_t v = fnat_pair(e, true, 0);
	struct lb_worker *w = e->w[0];
	char first[SL_ADDR_STRLEN];
	uint8_t buf[BUF_CAP], quote[BUF_CAP];
	uint16_t lport = syn_out(e, 40001, first, sizeof(first));
	struct spec sent = {.src = LADDR4A,
			    .dst = first,
			    .sport = lport,
			    .dport = 8080,
			    .proto = IPPROTO_TCP,
			    .flags = TH_SYN,
			    .ttl = 63};
	struct lb_pkt pk;

	(void)v;
	build(quote, &sent);
	pk = pkt(buf, build_icmp4_error(buf, first, LADDR4A, 3, ip_of(quote)), P_BACKENDS);
	run(e, w, &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(l4_of(ip_of(buf))[13], TH_SYN);
	assert_dst(ip_of(buf), strcmp(first, BE4) == 0 ? BE4B : BE4, 8080);
	assert_int_equal(w->ctr->redispatched, 1);
	assert_int_equal(w->ctr->icmp_translated, 0);
	assert_invariant(w->ctr);
}

/* redispatch: off: the refusal reaches the client, as with HAProxy's retries 0. */
static void test_redispatch_off_refusal_reaches_client(void **state)
{
	struct env *e = *state;
	uint32_t v = fnat_pair(e, false, 200);
	struct lb_worker *w = e->w[0];
	char first[SL_ADDR_STRLEN];
	uint8_t buf[BUF_CAP];
	uint16_t lport = syn_out(e, 40002, first, sizeof(first));
	struct spec rs = from_backend(first, 8080, LADDR4A, lport, IPPROTO_TCP, TH_RST | TH_ACK,
				      strcmp(first, BE4) == 0 ? 1 : 2);
	struct lb_pkt pk = send_on(e, w, buf, &rs, P_BACKENDS);

	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(l4_of(ip_of(buf))[13], TH_RST | TH_ACK);
	assert_dst(ip_of(buf), CLIENT4, 40002);
	assert_int_equal(w->ctr->redispatched, 0);
	assert_int_equal(w->ctr->backend[bslot(e, v, first, 8080)].connect_fail, 1);
	/* And nothing is held for a timer to re-send. */
	e->now += 1000;
	assert_false(lb_worker_resend_due(w, e->now));
	assert_invariant(w->ctr);
}

/*
 * A backend that says nothing (blackholed): at the VIP's syn_timeout the
 * held SYN goes to the other backend in a buffer the data plane gives, not
 * when the client retries a second later. An answered SYN is not re-sent.
 */
static void test_redispatch_after_syn_timeout(void **state)
{
	struct env *e = *state;
	uint32_t v = fnat_pair(e, true, 200);
	struct lb_worker *w = e->w[0];
	char first[SL_ADDR_STRLEN], b2[SL_ADDR_STRLEN];
	uint8_t buf[BUF_CAP], spare[2][BUF_CAP];
	struct lb_pkt out[2] = {pkt(spare[0], 0, 0), pkt(spare[1], 0, 0)};
	uint16_t lport2 = 0;
	uint64_t rx;

	syn_out(e, 40003, first, sizeof(first));
	/* A second connection, answered at once: it must not be re-sent. */
	lport2 = syn_out(e, 40004, b2, sizeof(b2));
	struct spec rs = from_backend(b2, 8080, LADDR4A, lport2, IPPROTO_TCP, TH_SYN | TH_ACK,
				      strcmp(b2, BE4) == 0 ? 1 : 2);
	struct lb_pkt pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_CLIENTS);

	e->now += 199;
	assert_false(lb_worker_resend_due(w, e->now));
	assert_int_equal(lb_worker_resend(w, e->s, out, 2, e->now), 0);
	e->now += 1;
	assert_true(lb_worker_resend_due(w, e->now));
	rx = w->ctr->rx;
	assert_int_equal(lb_worker_resend(w, e->s, out, 2, e->now), 1);
	assert_tx(&out[0], P_BACKENDS);
	assert_int_equal(l4_of(ip_of(spare[0]))[13], TH_SYN);
	assert_dst(ip_of(spare[0]), strcmp(first, BE4) == 0 ? BE4B : BE4, 8080);
	assert_csums_ok(ip_of(spare[0]));
	assert_int_equal(w->ctr->rx, rx + 1);
	assert_int_equal(w->ctr->redispatched, 1);
	assert_int_equal(w->ctr->backend[bslot(e, v, first, 8080)].connect_fail, 1);
	/* The re-sent SYN is held in turn (its own timeout), the answered one never. */
	assert_false(lb_worker_resend_due(w, e->now));
	e->now += 200;
	assert_true(lb_worker_resend_due(w, e->now));
	assert_invariant(w->ctr);
}

/* A connection is redispatched LB_REDISPATCH_MAX times; then the refusal passes. */
static void test_redispatch_tries_bounded(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	char to[SL_ADDR_STRLEN];
	uint8_t buf[BUF_CAP];
	uint16_t lport;
	struct lb_pkt pk;

	fnat_pair(e, true, 0);
	lport = syn_out(e, 40005, to, sizeof(to));
	for (uint32_t i = 0; i <= LB_REDISPATCH_MAX; i++) {
		struct spec rs = from_backend(to, 8080, LADDR4A, lport, IPPROTO_TCP,
					      TH_RST | TH_ACK, strcmp(to, BE4) == 0 ? 1 : 2);
		pk = send_on(e, w, buf, &rs, P_BACKENDS);
		if (i == LB_REDISPATCH_MAX)
			break;
		assert_tx(&pk, P_BACKENDS);
		assert_int_equal(l4_of(ip_of(buf))[13], TH_SYN);
		lport = rd16(l4_of(ip_of(buf)));
		snprintf(to, sizeof(to), "%s", strcmp(to, BE4) == 0 ? BE4B : BE4);
		assert_dst(ip_of(buf), to, 8080);
	}
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(l4_of(ip_of(buf))[13], TH_RST | TH_ACK);
	assert_int_equal(w->ctr->redispatched, LB_REDISPATCH_MAX);
	assert_invariant(w->ctr);
}

/* ==== hostile input: sources that lie, headers that lie ==== */

static const uint8_t BCAST_MAC[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* A dsr VIP <vip>:80 (TCP and UDP) with no backend that answers when empty (RST, unreachable). */
static void reset_vips(struct env *e, const char *vip)
{
	uint32_t t = add_vip(e, vip, 80, IPPROTO_TCP, SL_MODE_DSR, NULL, 0, NULL, 0);
	uint32_t u = add_vip(e, vip, 80, IPPROTO_UDP, SL_MODE_DSR, NULL, 0, NULL, 0);

	e->m->vips[t].when_empty = SL_EMPTY_RESET;
	e->m->vips[u].when_empty = SL_EMPTY_RESET;
	recompile(e);
}

/* An ICMP echo request from <src> to <dst> (IPv4), source MAC <smac> (NULL: the client's). */
static uint16_t build_echo4(uint8_t *buf, const char *src, const char *dst, const uint8_t *smac)
{
	struct sl_addr s = addr(src), d = addr(dst);
	uint8_t *ip = buf + 14, *icmp = ip + 20;

	memcpy(buf, PORT1_MAC, 6);
	memcpy(buf + 6, smac != NULL ? smac : CLIENT_MAC, 6);
	wr16(buf + 12, ET_IPV4);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	wr16(ip + 2, 20 + 8 + 4);
	ip[8] = 64;
	ip[9] = IPPROTO_ICMP;
	memcpy(ip + 12, sl_addr_v4_bytes(&s), 4);
	memcpy(ip + 16, sl_addr_v4_bytes(&d), 4);
	wr16(ip + 10, csum(ip, 20));
	memset(icmp, 0, 12);
	icmp[0] = 8;
	wr16(icmp + 4, 0x1234);
	wr16(icmp + 6, 1);
	wr16(icmp + 2, csum(icmp, 12));
	return 14 + 20 + 12;
}

/*
 * A VIP that refuses when empty, and Sluice's echo, answer no source that
 * no client can have (RFC 1122 3.2.1.3, RFC 4443 2.4): each such packet is
 * dropped and counted, and nothing is sent, nor any flow kept.
 */
static void test_martian_sources_get_no_answer(void **state)
{
	static const char *const martians4[] = {
		"255.255.255.255", "224.0.0.1",   "0.0.0.0", "127.0.0.1",
		"240.0.0.9",       "192.0.2.255", /* the clients' subnet broadcast (192.0.2.1/24) */
		PORT1_4,                          /* the address of the port it came in on */
	};
	static const char *const martians6[] = {"ff02::1", "::1", "::"};
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP];
	uint64_t martian = 0;
	struct lb_pkt pk;

	reset_vips(e, VIP4);
	reset_vips(e, VIP6);
	/* A client is refused (RST, port unreachable): the set-up answers at all. */
	struct spec sp = client_tcp(VIP4, 80, 1234, TH_SYN);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(w->ctr->refused, 1);
	pk = pkt(buf, build_echo4(buf, CLIENT4, VIP4, NULL), P_CLIENTS);
	run(e, w, &pk, 1);
	assert_tx(&pk, P_CLIENTS);

	for (size_t i = 0; i < ARRAY_SIZE(martians4); i++) {
		for (int proto = 0; proto < 3; proto++) {
			sp = client_tcp(VIP4, 80, 1234, TH_SYN);
			sp.src = martians4[i];
			if (proto == 1)
				sp.proto = IPPROTO_UDP;
			if (proto < 2)
				pk = send_on(e, w, buf, &sp, P_CLIENTS);
			else {
				pk = pkt(buf, build_echo4(buf, martians4[i], VIP4, NULL),
					 P_CLIENTS);
				run(e, w, &pk, 1);
			}
			if (pk.verdict != LB_VERDICT_DROP || pk.drop != LB_DROP_MARTIAN)
				fail_msg("from %s (%s): verdict %u, drop %s", martians4[i],
					 proto == 0   ? "tcp"
					 : proto == 1 ? "udp"
						      : "echo",
					 pk.verdict, lb_drop_name((enum lb_drop)pk.drop));
			martian++;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(martians6); i++) {
		sp = client_tcp(VIP6, 80, 1234, TH_SYN);
		sp.src = martians6[i];
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_drop(&pk, LB_DROP_MARTIAN);
		martian++;
	}
	assert_int_equal(w->ctr->drop[LB_DROP_MARTIAN], martian);
	assert_int_equal(w->ctr->refused, 1);
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_invariant(w->ctr);
}

/* Land (source = destination) and a group source MAC: dropped, unanswered. */
static void test_land_and_group_src_mac(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP];
	struct spec sp;
	struct lb_pkt pk;

	reset_vips(e, VIP4);
	sp = client_tcp(VIP4, 80, 80, TH_SYN);
	sp.src = VIP4;
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_drop(&pk, LB_DROP_LAND);
	sp = client_tcp(VIP4, 80, 1234, TH_SYN);
	sp.smac = BCAST_MAC;
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_drop(&pk, LB_DROP_BAD_SRC_MAC);
	pk = pkt(buf, build_echo4(buf, CLIENT4, VIP4, BCAST_MAC), P_CLIENTS);
	run(e, w, &pk, 1);
	assert_drop(&pk, LB_DROP_BAD_SRC_MAC);
	assert_int_equal(w->ctr->refused, 0);
	assert_int_equal(w->ctr->replied, 0);
	assert_invariant(w->ctr);
}

/*
 * Forged ACKs (two per fake connection) cannot hold full-NAT source ports:
 * the connection is established only once the backend answers, so it
 * leaves with the SYN timeout (10 s), not the established one (900 s). A
 * real handshake still gets established.
 */
static void test_fnat_forged_acks_hold_no_port(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint32_t v = fnat4(e), b = bslot(e, v, BE4, 8080);
	uint8_t buf[BUF_CAP];
	struct lb_pkt pk;
	struct spec sp;

	for (uint16_t c = 0; c < 100; c++) {
		sp = client_tcp(VIP4, 80, (uint16_t)(20000 + c), TH_ACK);
		for (int i = 0; i < 2; i++) {
			pk = send_on(e, w, buf, &sp, P_CLIENTS);
			assert_tx(&pk, P_BACKENDS);
		}
		struct flow_key k;
		memset(&k, 0, sizeof(k));
		k.src = addr(CLIENT4);
		k.dst = addr(VIP4);
		k.sport = htons((uint16_t)(20000 + c));
		k.dport = htons(80);
		k.proto = IPPROTO_TCP;
		struct flow_entry *f = flow_lookup(w->flows, &k, flow_hash(&k), e->now);
		assert_non_null(f);
		assert_int_equal(f->state, FLOW_TCP_SYN);
	}
	assert_int_equal(flow_table_count(w->flows), 200);
	/* Past the SYN timeout every one is gone, and its port with it. */
	e->now += 10001;
	lb_worker_sweep(w, e->now, flow_table_capacity(w->flows));
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->active[b], 0);
	for (uint32_t l = 0; l < LB_MAX_LADDRS; l++)
		assert_int_equal(w->ports_used[l], 0);
	/* A connection whose backend answers is established by the client's ACK. */
	char la[SL_ADDR_STRLEN];
	fnat_round_trip(e, VIP4, 80, CLIENT4, 40000, BE4, 8080, 1, IPPROTO_TCP, false, la,
			sizeof(la));
	sp = client_tcp(VIP4, 80, 40000, TH_ACK);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(w->ctr->backend[b].established, 1);
	assert_invariant(w->ctr);
}

/*
 * In dsr, where no reply is seen, flows picked up mid-stream (forged ACKs
 * look the same) take at most half the table; past that Maglev carries
 * them unstored, and a new connection still gets its entry.
 */
static void test_dsr_pickups_bounded(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 0, 1);
	struct lb_worker *w = set_worker(e, 0, 0, 1, 1024);
	uint8_t buf[BUF_CAP];
	struct spec sp;
	struct lb_pkt pk;

	add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_DSR, &b, 1, NULL, 0);
	recompile(e);
	for (uint32_t c = 0; c < 2000; c++) {
		sp = client_tcp(VIP4, 80, (uint16_t)(10000 + c), TH_ACK);
		for (int i = 0; i < 2; i++) {
			pk = send_on(e, w, buf, &sp, P_CLIENTS);
			assert_tx(&pk, P_BACKENDS);
		}
	}
	assert_int_equal(flow_table_count(w->flows), 512);
	assert_int_equal(w->ctr->flows_backstop, 2 * (2000 - 512));
	sp = client_tcp(VIP4, 80, 50000, TH_SYN);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(flow_table_count(w->flows), 513);
	assert_invariant(w->ctr);
}

/* Rewrites the IPv4 TTL of the frame in <buf> to <ttl>, its header checksum kept right. */
static void set_ttl4(uint8_t *buf, uint8_t ttl)
{
	uint8_t *ip = ip_of(buf);

	ip[8] = ttl;
	wr16(ip + 10, 0);
	wr16(ip + 10, csum(ip, 20));
}

/* TTL 0 is forwarded in no mode: not as a new flow, not on an established one (fast path). */
static void test_ttl_zero_never_forwarded(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 0, 1);
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, 40000, TH_SYN);
	struct lb_pkt pk;

	add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_DSR, &b, 1, NULL, 0);
	recompile(e);
	pk = pkt(buf, build(buf, &sp), P_CLIENTS);
	set_ttl4(buf, 0);
	run(e, w, &pk, 1);
	assert_drop(&pk, LB_DROP_TTL);
	assert_int_equal(flow_table_count(w->flows), 0);
	/* Established, then a segment with TTL 0. */
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	sp.flags = TH_ACK;
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	pk = pkt(buf, build(buf, &sp), P_CLIENTS);
	set_ttl4(buf, 0);
	run(e, w, &pk, 1);
	assert_drop(&pk, LB_DROP_TTL);
	assert_int_equal(w->ctr->drop[LB_DROP_TTL], 2);
	assert_invariant(w->ctr);
}

/*
 * A damaged IPv4 header creates no flow where the port did not check it; a
 * packet the port found bad is dropped even on an established flow.
 */
static void test_bad_checksums_create_nothing(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 0, 1);
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, 40000, TH_SYN);
	struct lb_pkt pk;

	add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_DSR, &b, 1, NULL, 0);
	recompile(e);
	pk = pkt(buf, build(buf, &sp), P_CLIENTS);
	ip_of(buf)[10] ^= 0x5a;
	run(e, w, &pk, 1);
	assert_drop(&pk, LB_DROP_BAD_CSUM);
	assert_int_equal(flow_table_count(w->flows), 0);
	/* The same damage, vouched for by the port's offload (it checked): taken. */
	pk = pkt(buf, build(buf, &sp), P_CLIENTS);
	pk.rx_csum = LB_RX_CSUM_IP_GOOD;
	run(e, w, &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	/* Established; the port says a segment's checksum is wrong: dropped. */
	sp.flags = TH_ACK;
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	pk = pkt(buf, build(buf, &sp), P_CLIENTS);
	pk.rx_csum = LB_RX_CSUM_BAD;
	run(e, w, &pk, 1);
	assert_drop(&pk, LB_DROP_BAD_CSUM);
	assert_int_equal(w->ctr->drop[LB_DROP_BAD_CSUM], 2);
	assert_invariant(w->ctr);
}

/* A UDP length past the datagram: dropped (udp_bad_len), new flow or established. */
static void test_udp_length_lie(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE4, 0, 1);
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 53, 40000, 0);
	struct lb_pkt pk;

	sp.proto = IPPROTO_UDP;
	sp.payload = 10;
	add_vip(e, VIP4, 53, IPPROTO_UDP, SL_MODE_DSR, &b, 1, NULL, 0);
	recompile(e);
	pk = pkt(buf, build(buf, &sp), P_CLIENTS);
	wr16(l4_of(ip_of(buf)) + 4, 8 + 11);
	run(e, w, &pk, 1);
	assert_drop(&pk, (enum lb_drop)PARSE_UDP_BAD_LEN);
	assert_int_equal(flow_table_count(w->flows), 0);
	for (int i = 0; i < 2; i++) { /* established (UDP: two datagrams) */
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
	}
	pk = pkt(buf, build(buf, &sp), P_CLIENTS);
	wr16(l4_of(ip_of(buf)) + 4, 8 + 11);
	run(e, w, &pk, 1);
	assert_drop(&pk, (enum lb_drop)PARSE_UDP_BAD_LEN);
	assert_invariant(w->ctr);
}

/*
 * An ICMP error built in place never writes past the buffer: a UDP datagram
 * whose buffer holds exactly its frame gets no port unreachable (it needs
 * 28 bytes more), and the bytes after it stay as they were.
 */
static void test_icmp_error_stays_in_buffer(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, 1234, 0);
	struct lb_pkt pk;
	uint16_t len;

	reset_vips(e, VIP4);
	sp.proto = IPPROTO_UDP;
	len = build(buf, &sp);
	memset(buf + len, 0xee, 64);
	pk = pkt(buf, len, P_CLIENTS);
	pk.cap = len;
	run(e, w, &pk, 1);
	assert_int_not_equal(pk.verdict, LB_VERDICT_TX);
	for (int i = 0; i < 64; i++)
		assert_int_equal(buf[len + i], 0xee);
	assert_int_equal(w->ctr->refused, 0);
	assert_invariant(w->ctr);
}

/* The two entries of a connection live and die together. */
static void test_fnat_pair_dies_together(void **state)
{
	struct env *e = *state;
	uint32_t v = fnat4(e), b = bslot(e, v, BE4, 8080);
	struct lb_worker *w = e->w[0];
	char la[SL_ADDR_STRLEN];
	uint8_t buf[BUF_CAP];
	uint16_t lport;
	struct lb_pkt pk;
	struct spec rs;

	/* 1. Expiry: the SYN's flow times out (10 s); the reply tuple goes with it. */
	lport = fnat_round_trip(e, VIP4, 80, CLIENT4, 40000, BE4, 8080, 1, IPPROTO_TCP, false, la,
				sizeof(la));
	assert_int_equal(w->active[b], 1);
	e->now += 10001;
	lb_worker_sweep(w, e->now, 1u << 20);
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->active[b], 0);
	rs = from_backend(BE4, 8080, la, lport, IPPROTO_TCP, TH_ACK, 1);
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_drop(&pk, LB_DROP_NOT_OURS);

	/* 2. Expiry noticed by a lookup (no sweep): the reply finds nothing either. */
	lport = fnat_round_trip(e, VIP4, 80, CLIENT4, 40001, BE4, 8080, 1, IPPROTO_TCP, false, la,
				sizeof(la));
	e->now += 10001;
	rs = from_backend(BE4, 8080, la, lport, IPPROTO_TCP, TH_ACK, 1);
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_drop(&pk, LB_DROP_NOT_OURS);
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->active[b], 0);

	/* 3. The forward entry removed (e.g. its backend left): the reverse one goes. */
	lport = fnat_round_trip(e, VIP4, 80, CLIENT4, 40002, BE4, 8080, 1, IPPROTO_TCP, false, la,
				sizeof(la));
	struct flow_key k;
	memset(&k, 0, sizeof(k));
	k.src = addr(CLIENT4);
	k.dst = addr(VIP4);
	k.sport = htons(40002);
	k.dport = htons(80);
	k.proto = IPPROTO_TCP;
	struct flow_entry *f = flow_lookup(w->flows, &k, flow_hash(&k), e->now);
	assert_non_null(f);
	flow_remove(w->flows, f);
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->active[b], 0);
	rs = from_backend(BE4, 8080, la, lport, IPPROTO_TCP, TH_ACK, 1);
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_drop(&pk, LB_DROP_NOT_OURS);

	/* 4. The reverse entry removed: the forward one goes, uncounted once. */
	lport = fnat_round_trip(e, VIP4, 80, CLIENT4, 40003, BE4, 8080, 1, IPPROTO_TCP, false, la,
				sizeof(la));
	memset(&k, 0, sizeof(k));
	k.src = addr(BE4);
	k.dst = addr(la);
	k.sport = htons(8080);
	k.dport = htons(lport);
	k.proto = IPPROTO_TCP;
	f = flow_lookup(w->flows, &k, flow_hash(&k), e->now);
	assert_non_null(f);
	flow_remove(w->flows, f);
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->active[b], 0);
	assert_invariant(w->ctr);
}

/* Least connections counts open connections: a client's FIN stops the count. */
static void test_fnat_fin_uncounts(void **state)
{
	struct env *e = *state;
	uint32_t v = fnat4(e), b = bslot(e, v, BE4, 8080);
	struct lb_worker *w = e->w[0];
	char la_a[SL_ADDR_STRLEN], la_b[SL_ADDR_STRLEN];
	uint8_t buf[BUF_CAP];
	struct lb_pkt pk;
	struct spec sp, rs;
	uint16_t lport_a;

	/* Connections A and B, both established. */
	lport_a = fnat_round_trip(e, VIP4, 80, CLIENT4, 40000, BE4, 8080, 1, IPPROTO_TCP, false,
				  la_a, sizeof(la_a));
	fnat_round_trip(e, VIP4, 80, CLIENT4, 40001, BE4, 8080, 1, IPPROTO_TCP, false, la_b,
			sizeof(la_b));
	assert_int_equal(w->active[b], 2);
	for (uint16_t cport = 40000; cport <= 40001; cport++) {
		sp = client_tcp(VIP4, 80, cport, TH_ACK);
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
	}
	assert_int_equal(w->active[b], 2);

	/* A's client closes: A is closing and no longer counts. */
	sp = client_tcp(VIP4, 80, 40000, TH_FIN | TH_ACK);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(w->active[b], 1);
	/* The backend's FIN-ACK is translated and changes nothing more. */
	rs = from_backend(BE4, 8080, la_a, lport_a, IPPROTO_TCP, TH_FIN | TH_ACK, 1);
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_CLIENTS);
	assert_dst(ip_of(buf), CLIENT4, 40000);
	assert_int_equal(w->active[b], 1);

	/* A expires (FIN: 30 s); B (established: 900 s) still counts, exactly once. */
	e->now += 30001;
	lb_worker_sweep(w, e->now, 1u << 20);
	assert_int_equal(flow_table_count(w->flows), 2);
	assert_int_equal(w->active[b], 1);
	/* A reset closes B: nothing counts, and its expiry takes nothing more off. */
	sp = client_tcp(VIP4, 80, 40001, TH_RST);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(w->active[b], 0);
	e->now += 5001;
	lb_worker_sweep(w, e->now, 1u << 20);
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->active[b], 0);
	assert_invariant(w->ctr);
}

/*
 * The table is full of established connections but for one entry: a new
 * connection's forward entry takes it, and its reverse entry finds no room
 * (or evicts the forward one). Dropped as nat_no_room, with nothing left
 * behind: no half connection, no miscounted backend, no port held.
 */
static void test_fnat_no_room_leaves_nothing(void **state)
{
	struct env *e = *state;
	struct conf_backend bf = be(BE4, 5353, 1), bd = be(BE4B, 0, 2);
	uint32_t vf = add_vip(e, VIP4, 53, IPPROTO_UDP, SL_MODE_FNAT, &bf, 1, LADDRS4, 1);
	uint32_t vd = add_vip(e, VIP4, 54, IPPROTO_UDP, SL_MODE_DSR, &bd, 1, NULL, 0);
	uint32_t sf = bslot(e, vf, BE4, 5353), sd = bslot(e, vd, BE4B, 54);
	struct lb_worker *w;
	uint8_t buf[BUF_CAP];
	struct lb_pkt pk;
	struct spec sp;

	recompile(e);
	assert_int_equal(sf, 0); /* an entry with no backend of its own would name slot 0 */
	w = set_worker(e, 0, 0, 1, 16);
	assert_non_null(w);
	assert_int_equal(flow_table_capacity(w->flows), 16);
	/*
	 * 7 fnat connections (14 entries) that their backend answered, and 1 dsr
	 * flow that sent twice: established.
	 */
	for (uint16_t i = 0; i < 8; i++) {
		for (int rep = 0; rep < 2; rep++) {
			sp = (struct spec){.src = CLIENT4,
					   .dst = VIP4,
					   .sport = (uint16_t)(7000 + i),
					   .dport = i < 7 ? 53 : 54,
					   .proto = IPPROTO_UDP,
					   .payload = 4};
			pk = send_on(e, w, buf, &sp, P_CLIENTS);
			assert_tx(&pk, P_BACKENDS);
			if (i < 7) {
				struct spec rs =
					from_backend(BE4, 5353, LADDR4A, rd16(l4_of(ip_of(buf))),
						     IPPROTO_UDP, 0, 1);
				pk = send_on(e, w, buf, &rs, P_BACKENDS);
				assert_tx(&pk, P_CLIENTS);
				break;
			}
		}
	}
	assert_int_equal(flow_table_count(w->flows), 15);
	assert_int_equal(w->active[sf], 7);
	assert_int_equal(w->active[sd], 1);

	for (uint16_t i = 0; i < 32; i++) {
		sp = (struct spec){.src = CLIENT4,
				   .dst = VIP4,
				   .sport = (uint16_t)(9000 + i),
				   .dport = 53,
				   .proto = IPPROTO_UDP,
				   .payload = 4};
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_drop(&pk, LB_DROP_NAT_NO_ROOM);
		assert_int_equal(flow_table_count(w->flows), 15);
		assert_int_equal(w->active[sf], 7);
	}
	assert_int_equal(w->ctr->drop[LB_DROP_NAT_NO_ROOM], 32);
	assert_int_equal(w->ctr->flows_new, 8);

	/* The established connections are whole and still translated. */
	for (uint16_t i = 0; i < 7; i++) {
		sp = (struct spec){.src = CLIENT4,
				   .dst = VIP4,
				   .sport = (uint16_t)(7000 + i),
				   .dport = 53,
				   .proto = IPPROTO_UDP,
				   .payload = 4};
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
		uint16_t lport = rd16(l4_of(ip_of(buf)));
		struct spec rs = from_backend(BE4, 5353, LADDR4A, lport, IPPROTO_UDP, 0, 1);
		pk = send_on(e, w, buf, &rs, P_BACKENDS);
		assert_tx(&pk, P_CLIENTS);
		assert_dst(ip_of(buf), CLIENT4, (uint16_t)(7000 + i));
	}
	/* Everything expires (udp: 60 s): every count goes back to 0, none below. */
	e->now += 60001;
	lb_worker_sweep(w, e->now, 1u << 20);
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->active[sf], 0);
	assert_int_equal(w->active[sd], 0);
	/* And there is room again. */
	sp = (struct spec){.src = CLIENT4,
			   .dst = VIP4,
			   .sport = 9999,
			   .dport = 53,
			   .proto = IPPROTO_UDP,
			   .payload = 4};
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(w->active[sf], 1);
	assert_invariant(w->ctr);
}

/* ==== 2. NAT ==== */

static uint32_t nat4(struct env *e)
{
	struct conf_backend b = be(BE4, 8080, 1);
	uint32_t v = add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_NAT, &b, 1, NULL, 0);

	recompile(e);
	return v;
}

static void nat_round_trip(struct env *e, struct lb_worker *w, const char *vip, const char *client,
			   uint16_t cport, const char *be_addr, uint8_t be_id)
{
	uint8_t buf[BUF_CAP], mac[6];
	struct spec sp = client_tcp(vip, 80, cport, TH_SYN);
	struct lb_pkt pk = send_on(e, w, buf, &sp, P_CLIENTS);
	uint8_t *ip = ip_of(buf);
	uint64_t replies = w->ctr->nat_replies;

	assert_tx(&pk, P_BACKENDS);
	be_mac(mac, be_id);
	assert_memory_equal(buf, mac, 6);
	assert_memory_equal(buf + 6, PORT_MAC, 6);
	assert_src(ip, client, cport); /* the backend sees the client */
	assert_dst(ip, be_addr, 8080);
	assert_int_equal(ttl_of(ip), 63);
	assert_csums_ok(ip);

	/* The backend answers the client itself (its route goes through us). */
	struct spec rs =
		from_backend(be_addr, 8080, client, cport, IPPROTO_TCP, TH_SYN | TH_ACK, be_id);
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_CLIENTS);
	assert_memory_equal(buf, CLIENT_MAC, 6);
	assert_memory_equal(buf + 6, PORT1_MAC, 6);
	ip = ip_of(buf);
	assert_src(ip, vip, 80);
	assert_dst(ip, client, cport);
	assert_int_equal(ttl_of(ip), 63);
	assert_csums_ok(ip);
	assert_int_equal(w->ctr->nat_replies, replies + 1);
	assert_invariant(w->ctr);
}

static void test_nat_v4(void **state)
{
	struct env *e = *state;
	uint32_t v = nat4(e);
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP];
	struct lb_pkt pk;

	assert_true(e->s->has_nat);
	nat_round_trip(e, w, VIP4, CLIENT4, 40000, BE4, 1);
	assert_int_equal(w->active[bslot(e, v, BE4, 8080)], 1);
	assert_int_equal(flow_table_count(w->flows), 2);

	/* From the backend to a client it has no connection with: not ours. */
	struct spec rs = from_backend(BE4, 8080, CLIENT4, 40001, IPPROTO_TCP, TH_ACK, 1);
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_drop(&pk, LB_DROP_NOT_OURS);
	/* Nor from another source port of the backend. */
	rs = from_backend(BE4, 8081, CLIENT4, 40000, IPPROTO_TCP, TH_ACK, 1);
	pk = send_on(e, w, buf, &rs, P_BACKENDS);
	assert_drop(&pk, LB_DROP_NOT_OURS);
	assert_invariant(w->ctr);
}

static void test_nat_v6(void **state)
{
	struct env *e = *state;
	struct conf_backend b = be(BE6, 8080, 3);

	add_vip(e, VIP6, 80, IPPROTO_TCP, SL_MODE_NAT, &b, 1, NULL, 0);
	recompile(e);
	nat_round_trip(e, e->w[0], VIP6, CLIENT6, 40000, BE6, 3);
}

/* Without a nat VIP, traffic to a non-local address is not looked at. */
static void test_no_nat_no_reply_path(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP];
	struct lb_pkt pk;

	fnat4(e);
	assert_false(e->s->has_nat);
	struct spec rs = from_backend(BE4, 8080, CLIENT4, 40000, IPPROTO_TCP, TH_ACK, 1);
	pk = send_on(e, e->w[0], buf, &rs, P_BACKENDS);
	assert_drop(&pk, LB_DROP_NOT_OURS);
}

/* Two lcores: a nat connection belongs to the lcore its client hashes to, both ways. */
static void test_nat_owner_handoff(void **state)
{
	struct env *e = *state;
	uint8_t buf[BUF_CAP], orig[BUF_CAP];
	uint16_t len, cport[2] = {0, 0};
	struct lb_pkt pk;
	struct spec sp;

	nat4(e);
	set_workers(e, 2, 1024);
	/* Find a client port of each owner, as seen from lcore 0. */
	for (uint16_t p = 40000; p < 40200 && (cport[0] == 0 || cport[1] == 0); p++) {
		sp = client_tcp(VIP4, 80, p, TH_SYN);
		len = build(buf, &sp);
		memcpy(orig, buf, len);
		pk = pkt(buf, len, P_CLIENTS);
		run(e, e->w[0], &pk, 1);
		if (pk.verdict == LB_VERDICT_HANDOFF) {
			assert_int_equal(pk.out_port, 1);
			assert_memory_equal(buf, orig, len);
			if (cport[1] == 0)
				cport[1] = p;
		} else {
			assert_tx(&pk, P_BACKENDS);
			if (cport[0] == 0)
				cport[0] = p;
		}
	}
	assert_int_not_equal(cport[0], 0);
	assert_int_not_equal(cport[1], 0);
	uint64_t before0 = e->w[0]->ctr->handoff;
	assert_true(before0 >= 1);

	/* lcore 1 takes its own connection. */
	nat_round_trip(e, e->w[1], VIP4, CLIENT4, cport[1], BE4, 1);
	/* ... the reply to it, on lcore 0, goes over to lcore 1 untouched. */
	struct spec rs = from_backend(BE4, 8080, CLIENT4, cport[1], IPPROTO_TCP, TH_ACK, 1);
	len = build(buf, &rs);
	memcpy(orig, buf, len);
	pk = pkt(buf, len, P_BACKENDS);
	run(e, e->w[0], &pk, 1);
	assert_int_equal(pk.verdict, LB_VERDICT_HANDOFF);
	assert_int_equal(pk.out_port, 1);
	assert_memory_equal(buf, orig, len);
	/* ... and the other way round for lcore 0's connection. */
	rs = from_backend(BE4, 8080, CLIENT4, cport[0], IPPROTO_TCP, TH_ACK, 1);
	pk = send_on(e, e->w[1], buf, &rs, P_BACKENDS);
	assert_int_equal(pk.verdict, LB_VERDICT_HANDOFF);
	assert_int_equal(pk.out_port, 0);
	pk = send_on(e, e->w[0], buf, &rs, P_BACKENDS);
	assert_tx(&pk, P_CLIENTS);
	assert_src(ip_of(buf), VIP4, 80);
	/* A client packet handed over is processed where it lands, not passed on. */
	sp = client_tcp(VIP4, 80, cport[1], TH_ACK);
	len = build(buf, &sp);
	pk = pkt(buf, len, P_CLIENTS);
	pk.handed = 1;
	run(e, e->w[0], &pk, 1);
	assert_int_not_equal(pk.verdict, LB_VERDICT_HANDOFF);
	/* An ICMP error from the backend about lcore 1's connection, on lcore 0: goes over. */
	uint8_t sent[BUF_CAP];
	sp = client_tcp(BE4, 8080, cport[1], TH_ACK); /* what lcore 1 sent: client -> backend */
	build(sent, &sp);
	len = build_icmp4_error(buf, BE4, CLIENT4, 4, ip_of(sent));
	pk = pkt(buf, len, P_BACKENDS);
	run(e, e->w[0], &pk, 1);
	assert_int_equal(pk.verdict, LB_VERDICT_HANDOFF);
	assert_int_equal(pk.out_port, 1);
	pk.handed = 1;
	run(e, e->w[1], &pk, 1);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(e->w[1]->ctr->icmp_translated, 1);
	for (uint32_t i = 0; i < 2; i++)
		assert_invariant(e->w[i]->ctr);
}

/* ==== 3. tunnel ==== */

static uint32_t tunnel_vips(struct env *e)
{
	struct conf_backend b4 = be(BE4, 0, 1), b6 = be(BE6, 0, 3);
	uint32_t v = add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_TUNNEL, &b4, 1, NULL, 0);

	add_vip(e, VIP6, 80, IPPROTO_TCP, SL_MODE_TUNNEL, &b6, 1, NULL, 0);
	e->m->ports[P_BACKENDS].mtu = 1500;
	e->m->ports[P_CLIENTS].mtu = 9000; /* the port towards the backend is what counts */
	recompile(e);
	return v;
}

/* A frame HEADROOM bytes into <mem>, as in an mbuf. */
static struct lb_pkt tpkt(uint8_t *mem, const struct spec *sp)
{
	uint16_t len = build(mem + HEADROOM, sp);

	return (struct lb_pkt){.data = mem + HEADROOM,
			       .len = len,
			       .cap = BUF_CAP,
			       .in_port = P_CLIENTS,
			       .headroom = HEADROOM};
}

static void test_tunnel_ipip(void **state)
{
	struct env *e = *state;
	uint32_t v = tunnel_vips(e);
	static uint8_t mem[HEADROOM + BUF_CAP], orig[BUF_CAP];
	uint8_t mac[6];
	struct spec sp = client_tcp(VIP4, 80, 40000, TH_SYN);

	for (int df = 0; df < 2; df++) {
		sp.sport = (uint16_t)(40000 + df);
		sp.df = df;
		sp.tos = 0xb8;
		sp.pad = 6; /* Ethernet padding: not part of the packet, not carried */
		struct lb_pkt pk = tpkt(mem, &sp);
		uint16_t len = pk.len, inner = (uint16_t)(len - 14 - 6);
		memcpy(orig, pk.data, len);
		run(e, e->w[0], &pk, 1);
		assert_tx(&pk, P_BACKENDS);
		assert_ptr_equal(pk.data, mem + HEADROOM - 20);
		assert_int_equal(pk.headroom, HEADROOM - 20);
		assert_int_equal(pk.len, 14 + 20 + inner);
		be_mac(mac, 1);
		assert_memory_equal(pk.data, mac, 6);
		assert_memory_equal(pk.data + 6, PORT_MAC, 6);
		assert_int_equal(rd16(pk.data + 12), ET_IPV4);
		const uint8_t *o = pk.data + 14;
		assert_int_equal(o[0], 0x45);
		assert_int_equal(o[1], 0xb8); /* DSCP/ECN copied */
		assert_int_equal(rd16(o + 2), inner + 20);
		assert_int_equal(rd16(o + 6), df ? 0x4000 : 0); /* DF copied, no fragment */
		assert_int_equal(o[8], 64);
		assert_int_equal(o[9], 4);
		assert_addr_at(o + 12, PORT4);
		assert_addr_at(o + 16, BE4);
		assert_ip4_csum_ok(o);
		/* The client's IP packet, byte for byte (TTL and all). */
		assert_memory_equal(o + 20, orig + 14, inner);
	}
	assert_int_equal(e->w[0]->ctr->fwd, 2);
	assert_int_equal(e->w[0]->ctr->vip[v].pkts, 2);
	assert_invariant(e->w[0]->ctr);
}

static void test_tunnel_ip6ip6(void **state)
{
	struct env *e = *state;
	static uint8_t mem[HEADROOM + BUF_CAP], orig[BUF_CAP];
	uint8_t mac[6];
	struct spec sp = client_tcp(VIP6, 80, 40000, TH_SYN);

	tunnel_vips(e);
	sp.tos = 0xb8;
	struct lb_pkt pk = tpkt(mem, &sp);
	uint16_t len = pk.len, inner = (uint16_t)(len - 14);
	memcpy(orig, pk.data, len);
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	assert_ptr_equal(pk.data, mem + HEADROOM - 40);
	assert_int_equal(pk.headroom, HEADROOM - 40);
	assert_int_equal(pk.len, len + 40);
	be_mac(mac, 3);
	assert_memory_equal(pk.data, mac, 6);
	assert_memory_equal(pk.data + 6, PORT_MAC, 6);
	assert_int_equal(rd16(pk.data + 12), ET_IPV6);
	const uint8_t *o = pk.data + 14;
	assert_memory_equal(o, orig + 14, 4); /* version, traffic class, flow label */
	assert_int_equal(rd16(o + 4), inner);
	assert_int_equal(o[6], 41);
	assert_int_equal(o[7], 64);
	assert_addr_at(o + 8, PORT6);
	assert_addr_at(o + 24, BE6);
	assert_memory_equal(o + 40, orig + 14, inner);
}

static void test_tunnel_vlan(void **state)
{
	struct env *e = *state;
	static uint8_t mem[HEADROOM + BUF_CAP], orig[BUF_CAP];
	uint8_t mac[6];
	struct spec sp = client_tcp(VIP4, 80, 40000, TH_SYN);

	tunnel_vips(e);
	sp.vlan = 0x2064; /* priority 1, VLAN 100 */
	struct lb_pkt pk = tpkt(mem, &sp);
	uint16_t len = pk.len, inner = (uint16_t)(len - 18);
	memcpy(orig, pk.data, len);
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(pk.len, len + 20);
	be_mac(mac, 1);
	assert_memory_equal(pk.data, mac, 6);
	assert_memory_equal(pk.data + 6, PORT_MAC, 6);
	assert_int_equal(rd16(pk.data + 12), ET_VLAN);
	assert_int_equal(rd16(pk.data + 14), 0x2064);
	assert_int_equal(rd16(pk.data + 16), ET_IPV4);
	const uint8_t *o = pk.data + 18;
	assert_int_equal(o[0], 0x45);
	assert_int_equal(o[9], 4);
	assert_int_equal(rd16(o + 2), inner + 20);
	assert_ip4_csum_ok(o);
	assert_memory_equal(o + 20, orig + 18, inner);
}

static void test_tunnel_no_headroom(void **state)
{
	struct env *e = *state;
	static uint8_t mem[HEADROOM + BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, 40000, TH_SYN);
	struct lb_pkt pk;

	tunnel_vips(e);
	pk = tpkt(mem, &sp);
	pk.headroom = 0;
	run(e, e->w[0], &pk, 1);
	assert_drop(&pk, LB_DROP_NO_HEADROOM);
	assert_ptr_equal(pk.data, mem + HEADROOM);
	pk = tpkt(mem, &sp);
	pk.headroom = 19;
	run(e, e->w[0], &pk, 1);
	assert_drop(&pk, LB_DROP_NO_HEADROOM);
	sp = client_tcp(VIP6, 80, 40000, TH_SYN);
	pk = tpkt(mem, &sp);
	pk.headroom = 39;
	run(e, e->w[0], &pk, 1);
	assert_drop(&pk, LB_DROP_NO_HEADROOM);
	pk = tpkt(mem, &sp);
	pk.headroom = 40; /* just enough */
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	assert_ptr_equal(pk.data, mem + HEADROOM - 40);
	assert_int_equal(pk.headroom, 0);
	assert_int_equal(e->w[0]->ctr->drop[LB_DROP_NO_HEADROOM], 3);
	assert_invariant(e->w[0]->ctr);
}

/* An IPv4 packet of <ip_len> bytes from the client, DF set or not. */
static struct spec big4(uint16_t ip_len, bool df)
{
	struct spec sp = client_tcp(VIP4, 80, 40000, TH_ACK);

	sp.payload = (uint16_t)(ip_len - 40);
	sp.df = df;
	return sp;
}

static void test_tunnel_too_big_v4(void **state)
{
	struct env *e = *state;
	static uint8_t mem[HEADROOM + BUF_CAP], orig[BUF_CAP];
	const struct lb_counters *c;
	struct spec sp;
	struct lb_pkt pk;

	tunnel_vips(e);
	c = e->w[0]->ctr;
	/* 1480 + 20 fits a 1500 MTU exactly. */
	sp = big4(1480, true);
	pk = tpkt(mem, &sp);
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(pk.len, 14 + 1500);

	/* 1481 does not: the client is told 1480, from the port it came in on. */
	sp = big4(1481, true);
	sp.ttl = 50;
	pk = tpkt(mem, &sp);
	memcpy(orig, pk.data, pk.len);
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(pk.answer, 1);
	assert_ptr_equal(pk.data, mem + HEADROOM);
	assert_int_equal(pk.len, 14 + 20 + 8 + 28);
	assert_memory_equal(pk.data, CLIENT_MAC, 6);
	assert_memory_equal(pk.data + 6, PORT1_MAC, 6);
	assert_int_equal(rd16(pk.data + 12), ET_IPV4);
	const uint8_t *ip = pk.data + 14, *icmp = ip + 20;
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(rd16(ip + 2), 20 + 8 + 28);
	assert_int_equal(ip[8], 64);
	assert_int_equal(ip[9], IPPROTO_ICMP);
	assert_addr_at(ip + 12, PORT1_4);
	assert_addr_at(ip + 16, CLIENT4);
	assert_ip4_csum_ok(ip);
	assert_int_equal(icmp[0], 3);
	assert_int_equal(icmp[1], 4);
	assert_int_equal(rd16(icmp + 4), 0);
	assert_int_equal(rd16(icmp + 6), 1480);
	assert_int_equal(csum(icmp, 8 + 28), 0);
	/* The original IP header and the first 8 bytes of its payload (RFC 792). */
	assert_memory_equal(icmp + 8, orig + 14, 28);
	assert_int_equal(c->too_big_sent, 1);
	assert_int_equal(c->replied, 1);

	/* The same without DF: may be fragmented, but Sluice does not: dropped. */
	sp = big4(1481, false);
	pk = tpkt(mem, &sp);
	run(e, e->w[0], &pk, 1);
	assert_drop(&pk, LB_DROP_TOO_BIG);
	assert_int_equal(c->drop[LB_DROP_TOO_BIG], 1);
	assert_int_equal(c->too_big_sent, 1);

	/* Too big and no headroom: the ICMP answer needs none. */
	sp = big4(1500, true);
	pk = tpkt(mem, &sp);
	pk.headroom = 0;
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(rd16(pk.data + 14 + 20 + 6), 1480);
	assert_int_equal(c->too_big_sent, 2);
	assert_int_equal(c->rx, 4);
	assert_int_equal(c->fwd, 1);
	assert_invariant(c);
}

static void test_tunnel_too_big_v6(void **state)
{
	struct env *e = *state;
	static uint8_t mem[HEADROOM + BUF_CAP], orig[BUF_CAP];
	const struct lb_counters *c;
	struct lb_pkt pk;
	struct spec sp = client_tcp(VIP6, 80, 40000, TH_ACK);

	tunnel_vips(e);
	c = e->w[0]->ctr;
	/* 1460 + 40 fits. */
	sp.payload = 1460 - 60;
	pk = tpkt(mem, &sp);
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(pk.len, 14 + 1500);

	/* 1461 does not: packet too big, MTU 1460, as much of the packet as fits 1280. */
	sp.payload = 1461 - 60;
	pk = tpkt(mem, &sp);
	memcpy(orig, pk.data, pk.len);
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(pk.answer, 1);
	assert_int_equal(pk.len, 14 + 1280);
	assert_memory_equal(pk.data, CLIENT_MAC, 6);
	assert_memory_equal(pk.data + 6, PORT1_MAC, 6);
	assert_int_equal(rd16(pk.data + 12), ET_IPV6);
	const uint8_t *ip = pk.data + 14, *icmp = ip + 40;
	assert_int_equal(ip[0] >> 4, 6);
	assert_int_equal(rd16(ip + 4), 1280 - 40);
	assert_int_equal(ip[6], IPPROTO_ICMPV6);
	assert_int_equal(ip[7], 64);
	assert_addr_at(ip + 8, PORT1_6);
	assert_addr_at(ip + 24, CLIENT6);
	assert_int_equal(icmp[0], 2);
	assert_int_equal(icmp[1], 0);
	assert_int_equal(rd16(icmp + 4), 0);
	assert_int_equal(rd16(icmp + 6), 1460);
	assert_int_equal(csum6(ip), 0);
	assert_memory_equal(icmp + 8, orig + 14, 1280 - 48);
	assert_int_equal(c->too_big_sent, 1);
	assert_int_equal(c->replied, 1);
	assert_int_equal(c->fwd, 1);
	assert_invariant(c);
}

/*
 * Tunnel mode keeps no translation: it is stateful like dsr, not like fnat.
 * Two connections are two flow entries (no reverse entries).
 */
static void test_tunnel_one_entry_per_flow(void **state)
{
	struct env *e = *state;
	static uint8_t mem[HEADROOM + BUF_CAP];

	tunnel_vips(e);
	for (uint16_t sport = 41000; sport < 41002; sport++) {
		struct spec sp = client_tcp(VIP4, 80, sport, TH_SYN);
		struct lb_pkt pk = tpkt(mem, &sp);

		run(e, e->w[0], &pk, 1);
		assert_tx(&pk, P_BACKENDS);
	}
	assert_int_equal(flow_table_count(e->w[0]->flows), 2);
}

/*
 * A tunnel backend's answers go straight to the client, so a SYN retry says
 * nothing about the backend: no connect failure is counted, and with a single
 * backend the retry still goes to it (not dropped as no_backend).
 */
static void test_tunnel_syn_retry_not_a_failure(void **state)
{
	struct env *e = *state;
	static uint8_t mem[HEADROOM + BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, 41100, TH_SYN);
	struct lb_pkt pk;

	tunnel_vips(e);
	for (int i = 0; i < 3; i++) {
		pk = tpkt(mem, &sp);
		run(e, e->w[0], &pk, 1);
		assert_tx(&pk, P_BACKENDS);
		e->now += 1000; /* the client's retransmission timer */
	}
	assert_int_equal(e->w[0]->ctr->backend[0].connect_fail, 0);
	assert_int_equal(e->w[0]->ctr->redispatched, 0);
	assert_int_equal(e->w[0]->ctr->fwd, 3);
}

/*
 * A full table: tunnel flows fall back on Maglev's table (counted as
 * backstop), as dsr flows do, instead of being dropped as nat_no_room.
 */
static void test_tunnel_full_table_backstop(void **state)
{
	struct env *e = *state;
	static uint8_t mem[HEADROOM + BUF_CAP];
	uint32_t cap;

	tunnel_vips(e);
	set_workers(e, 1, 16);
	cap = flow_table_capacity(e->w[0]->flows);
	/* Established flows (SYN, then ACK) fill the table; they cannot be evicted. */
	for (uint16_t i = 0; i < cap; i++) {
		struct spec sp = client_tcp(VIP4, 80, (uint16_t)(42000 + i), TH_SYN);
		struct lb_pkt pk = tpkt(mem, &sp);

		run(e, e->w[0], &pk, 1);
		sp.flags = TH_ACK;
		pk = tpkt(mem, &sp);
		run(e, e->w[0], &pk, 1);
		assert_tx(&pk, P_BACKENDS);
	}
	assert_int_equal(flow_table_count(e->w[0]->flows), cap);
	struct spec sp = client_tcp(VIP4, 80, 43000, TH_SYN);
	struct lb_pkt pk = tpkt(mem, &sp);
	run(e, e->w[0], &pk, 1);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(e->w[0]->ctr->flows_backstop, 1);
	assert_int_equal(e->w[0]->ctr->drop[LB_DROP_NAT_NO_ROOM], 0);
	assert_invariant(e->w[0]->ctr);
}

/* Every verdict in one burst: the counters add up. */
static void test_counters_invariant_mixed(void **state)
{
	struct env *e = *state;
	static uint8_t mem[6][HEADROOM + BUF_CAP];
	struct conf_backend bf = be(BE4, 8080, 1);
	struct lb_pkt pk[6];
	struct spec sp;
	uint16_t lport;

	add_vip(e, VIP4, 80, IPPROTO_TCP, SL_MODE_FNAT, &bf, 1, LADDRS4, 1);
	struct conf_backend bt = be(BE6, 0, 3);
	add_vip(e, VIP6, 80, IPPROTO_TCP, SL_MODE_TUNNEL, &bt, 1, NULL, 0);
	recompile(e);
	set_workers(e, 2, 1024);
	/* A connection of lcore 1, to get a reply port owned by lcore 1. */
	sp = client_tcp(VIP4, 80, 30000, TH_SYN);
	pk[0] = tpkt(mem[0], &sp);
	run(e, e->w[1], pk, 1);
	assert_tx(&pk[0], P_BACKENDS);
	lport = rd16(l4_of(ip_of(pk[0].data)));

	sp = client_tcp(VIP4, 80, 40000, TH_SYN); /* fwd (fnat) */
	pk[0] = tpkt(mem[0], &sp);
	sp = from_backend(BE4, 8080, LADDR4A, lport, IPPROTO_TCP, TH_ACK, 1); /* handoff */
	pk[1] = tpkt(mem[1], &sp);
	sp = client_tcp(VIP6, 80, 40000, TH_ACK); /* too big: replied */
	sp.payload = 1461 - 60;
	pk[2] = tpkt(mem[2], &sp);
	sp = client_tcp(VIP6, 80, 40001, TH_SYN); /* no headroom: drop */
	pk[3] = tpkt(mem[3], &sp);
	pk[3].headroom = 0;
	sp = client_tcp(VIP4, 81, 40000, TH_SYN); /* no service */
	pk[4] = tpkt(mem[4], &sp);
	sp = big4(1481, false); /* fnat does not care about the MTU */
	sp.sport = 40002;
	pk[5] = tpkt(mem[5], &sp);
	run(e, e->w[0], pk, 6);

	const struct lb_counters *c = e->w[0]->ctr;
	assert_int_equal(pk[0].verdict, LB_VERDICT_TX);
	assert_int_equal(pk[1].verdict, LB_VERDICT_HANDOFF);
	assert_int_equal(pk[2].verdict, LB_VERDICT_TX);
	assert_drop(&pk[3], LB_DROP_NO_HEADROOM);
	assert_drop(&pk[4], LB_DROP_VIP_NO_SERVICE);
	assert_int_equal(pk[5].verdict, LB_VERDICT_TX);
	assert_int_equal(c->rx, 6);
	assert_int_equal(c->fwd, 2);
	assert_int_equal(c->handoff, 1);
	assert_int_equal(c->replied, 1);
	assert_int_equal(c->too_big_sent, 1);
	assert_int_equal(c->drop[LB_DROP_NO_HEADROOM], 1);
	assert_int_equal(c->drop[LB_DROP_VIP_NO_SERVICE], 1);
	assert_invariant(c);
	assert_invariant(e->w[1]->ctr);
}

/* ==== 4. backends leaving service: down_flows, response timeout, drain deadline ==== */

/* vip.set's model call: VIP <slot> as it is, but for these three settings. */
static void vip_set(struct env *e, uint32_t slot, enum sl_down_flows down, uint32_t resp_timeout_ms,
		    uint32_t drain_ms)
{
	const struct lb_model_vip *mv = &e->m->vips[slot];
	struct conf_vip v;
	char err[256] = "";

	memset(&v, 0, sizeof(v));
	v.addr = mv->addr;
	v.port = mv->port;
	v.proto = mv->proto;
	v.mode = mv->mode;
	v.sched = mv->sched;
	v.redispatch_off = !mv->redispatch;
	v.syn_timeout_ms = mv->syn_timeout_ms;
	v.hash = mv->hash;
	v.maglev_size = mv->maglev_size;
	v.when_empty = mv->when_empty;
	for (uint32_t i = 0; i < mv->n_laddrs; i++)
		v.local_addrs[i] = e->m->laddrs[mv->laddr[i]];
	v.n_local_addrs = mv->n_laddrs;
	v.down_flows = (uint8_t)down;
	v.response_timeout_ms = resp_timeout_ms;
	v.drain_deadline_ms = drain_ms;
	if (lb_model_vip_set(e->m, slot, &v, err, sizeof(err)) != 0)
		fail_msg("lb_model_vip_set: %s", err);
	recompile(e);
}

/* The backend slot (of VIP <v>) that the packet just forwarded in <buf> went to. */
static uint32_t went_to(const struct env *e, uint32_t v, uint8_t *buf)
{
	uint8_t *ip = ip_of(buf);
	struct sl_addr a;
	char text[SL_ADDR_STRLEN];

	if (e->m->vips[v].mode == SL_MODE_DSR) /* same IP packet: the MAC says which */
		return bslot(e, v, buf[5] == 1 ? BE4 : BE4B, 0);
	sl_addr_set_v4(&a, ip + 16);
	return bslot(e, v, sl_addr_format(&a, text, sizeof(text)),
		     e->m->vips[v].mode == SL_MODE_DSR ? 0 : 8080);
}

/* The RST from <vip>:<vport> to CLIENT4:<cport> that ended its flow, checksums right. */
static void assert_rst_to_client(uint8_t *buf, const struct lb_pkt *pk, const char *vip,
				 uint16_t vport, uint16_t cport)
{
	uint8_t *ip = ip_of(buf);

	assert_tx(pk, P_CLIENTS);
	assert_memory_equal(buf, CLIENT_MAC, 6);
	assert_memory_equal(buf + 6, PORT1_MAC, 6);
	assert_src(ip, vip, vport);
	assert_dst(ip, CLIENT4, cport);
	assert_true(l4_of(ip)[13] & TH_RST);
	assert_csums_ok(ip);
}

/* Two backends of a VIP in <mode> (dsr: same port; else :8080), rr; returns the VIP slot. */
static uint32_t two_backends(struct env *e, enum sl_mode mode, uint8_t proto)
{
	uint16_t port = mode == SL_MODE_DSR ? 0 : 8080;
	struct conf_backend b[2] = {be(BE4, port, 1), be(BE4B, port, 2)};
	uint32_t v = add_vip(e, VIP4, 80, proto, mode, b, 2, mode == SL_MODE_FNAT ? LADDRS4 : NULL,
			     mode == SL_MODE_FNAT ? 2 : 0);

	recompile(e);
	return v;
}

/*
 * A TCP connection from CLIENT4:<cport> through VIP <v>: SYN, (fnat: the
 * backend's SYN-ACK), ACK. Returns its backend; *lport = fnat source port.
 */
static uint32_t connect4(struct env *e, uint32_t v, uint16_t cport, uint16_t *lport)
{
	struct lb_worker *w = e->w[0];
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, cport, TH_SYN);
	struct lb_pkt pk = send_on(e, w, buf, &sp, P_CLIENTS);
	uint32_t b;

	assert_tx(&pk, P_BACKENDS);
	b = went_to(e, v, buf);
	*lport = 0; /* nat: no source port of ours */
	if (e->m->vips[v].mode == SL_MODE_FNAT) {
		char la[SL_ADDR_STRLEN], be_text[SL_ADDR_STRLEN];
		src_text(ip_of(buf), la, sizeof(la));
		*lport = rd16(l4_of(ip_of(buf)));
		sl_addr_format(&e->m->backends[b].addr, be_text, sizeof(be_text));
		struct spec rs = from_backend(be_text, 8080, la, *lport, IPPROTO_TCP,
					      TH_SYN | TH_ACK, b == bslot(e, v, BE4, 8080) ? 1 : 2);
		rs.payload = 0;
		pk = send_on(e, w, buf, &rs, P_BACKENDS);
		assert_tx(&pk, P_CLIENTS);
	}
	sp = client_tcp(VIP4, 80, cport, TH_ACK);
	sp.payload = 0;
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(went_to(e, v, buf), b);
	return b;
}

/* down_flows in dsr and fnat: the backend of an established flow goes down. */
static void down_flows_case(struct env *e, enum sl_mode mode, enum sl_down_flows down)
{
	struct lb_worker *w = e->w[0];
	uint32_t v = two_backends(e, mode, IPPROTO_TCP), b, other;
	uint8_t buf[BUF_CAP];
	uint16_t lport = 0;
	struct lb_pkt pk;
	struct spec sp;

	vip_set(e, v, down, 0, 0);
	assert_int_equal(e->s->vips[v].down_flows, down);
	b = connect4(e, v, 40000, &lport);
	other = b == bslot(e, v, BE4, mode == SL_MODE_DSR ? 0 : 8080)
			? bslot(e, v, BE4B, mode == SL_MODE_DSR ? 0 : 8080)
			: bslot(e, v, BE4, mode == SL_MODE_DSR ? 0 : 8080);
	assert_int_equal(lb_model_backend_set_health(e->m, b, SL_HEALTH_DOWN), 0);
	recompile(e);

	sp = client_tcp(VIP4, 80, 40000, TH_ACK);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	switch (down) {
	case SL_DOWN_KEEP:
		assert_tx(&pk, P_BACKENDS);
		assert_int_equal(went_to(e, v, buf), b);
		assert_int_equal(w->ctr->flows_rescheduled, 0);
		assert_int_equal(w->active[b], 1);
		break;
	case SL_DOWN_RESET:
		assert_rst_to_client(buf, &pk, VIP4, 80, 40000);
		/* The client's ACK number becomes the RST's sequence number. */
		assert_int_equal(rd16(l4_of(ip_of(buf)) + 4), 0);
		assert_int_equal(w->ctr->flows_reset, 1);
		assert_int_equal(w->ctr->vip[v].flows_reset, 1);
		assert_int_equal(w->ctr->backend[b].flows_reset, 1);
		assert_int_equal(w->ctr->backend[b].drain_reset, 0);
		assert_int_equal(w->ctr->flows_rescheduled, 0);
		assert_int_equal(flow_table_count(w->flows), 0); /* both entries in fnat */
		assert_int_equal(w->active[b], 0);
		/* A new connection is balanced to the backend still up. */
		sp = client_tcp(VIP4, 80, 40001, TH_SYN);
		pk = send_on(e, w, buf, &sp, P_CLIENTS);
		assert_tx(&pk, P_BACKENDS);
		assert_int_equal(went_to(e, v, buf), other);
		break;
	default:
		assert_int_equal(w->ctr->flows_rescheduled, 1);
		assert_int_equal(w->ctr->flows_reset, 0);
		assert_int_equal(w->active[b], 0);
		if (mode == SL_MODE_DSR) {
			assert_tx(&pk, P_BACKENDS);
			assert_int_equal(went_to(e, v, buf), other);
		}
		break;
	}
	assert_invariant(w->ctr);
}

static void test_down_flows_dsr_reschedule(void **state)
{
	down_flows_case(*state, SL_MODE_DSR, SL_DOWN_RESCHEDULE);
}

static void test_down_flows_dsr_keep(void **state)
{
	down_flows_case(*state, SL_MODE_DSR, SL_DOWN_KEEP);
}

static void test_down_flows_dsr_reset(void **state)
{
	down_flows_case(*state, SL_MODE_DSR, SL_DOWN_RESET);
}

static void test_down_flows_fnat_reschedule(void **state)
{
	down_flows_case(*state, SL_MODE_FNAT, SL_DOWN_RESCHEDULE);
}

static void test_down_flows_fnat_keep(void **state)
{
	down_flows_case(*state, SL_MODE_FNAT, SL_DOWN_KEEP);
}

static void test_down_flows_fnat_reset(void **state)
{
	down_flows_case(*state, SL_MODE_FNAT, SL_DOWN_RESET);
}

/* fnat reset: a packet from the backend side ends the connection too; maint counts as down. */
static void test_down_flows_fnat_reset_backend_side(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint32_t v = two_backends(e, SL_MODE_FNAT, IPPROTO_TCP), b;
	uint8_t buf[BUF_CAP];
	char la[SL_ADDR_STRLEN], be_text[SL_ADDR_STRLEN];
	uint16_t lport;
	struct lb_pkt pk = {0};

	vip_set(e, v, SL_DOWN_RESET, 0, 0);
	b = connect4(e, v, 40000, &lport);
	assert_int_equal(lb_model_backend_set_admin(e->m, b, SL_ADMIN_MAINT), 0);
	recompile(e);
	/* Which local address: the one its reverse entry is keyed on (try both). */
	sl_addr_format(&e->m->backends[b].addr, be_text, sizeof(be_text));
	for (int i = 0; i < 2 && flow_table_count(w->flows) > 0; i++) {
		snprintf(la, sizeof(la), "%s", LADDRS4[i]);
		struct spec rs = from_backend(be_text, 8080, la, lport, IPPROTO_TCP, TH_ACK,
					      b == bslot(e, v, BE4, 8080) ? 1 : 2);
		pk = send_on(e, w, buf, &rs, P_BACKENDS);
		assert_int_equal(pk.verdict, LB_VERDICT_DROP);
	}
	assert_string_equal(lb_drop_name((enum lb_drop)pk.drop), "flow_reset");
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->ctr->backend[b].flows_reset, 1);

	/* A RST from the client of a flow being reset is dropped, never answered. */
	assert_int_equal(lb_model_backend_set_admin(e->m, b, SL_ADMIN_READY), 0);
	recompile(e);
	b = connect4(e, v, 40001, &lport);
	lb_model_backend_set_health(e->m, b, SL_HEALTH_DOWN);
	recompile(e);
	struct spec sp = client_tcp(VIP4, 80, 40001, TH_RST | TH_ACK);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_drop(&pk, LB_DROP_FLOW_RESET);
	assert_int_equal(w->ctr->vip[v].flows_reset, 2);
	assert_invariant(w->ctr);
}

/* UDP in reset: the datagram is dropped and the flow forgotten. */
static void test_down_flows_udp_reset(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint32_t v = two_backends(e, SL_MODE_DSR, IPPROTO_UDP), b;
	uint8_t buf[BUF_CAP];
	struct spec sp = client_tcp(VIP4, 80, 5000, 0);
	struct lb_pkt pk;

	vip_set(e, v, SL_DOWN_RESET, 0, 0);
	sp.proto = IPPROTO_UDP;
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	b = went_to(e, v, buf);
	lb_model_backend_set_health(e->m, b, SL_HEALTH_DOWN);
	recompile(e);
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_drop(&pk, LB_DROP_FLOW_RESET);
	assert_int_equal(w->ctr->vip[v].flows_reset, 1);
	assert_int_equal(flow_table_count(w->flows), 0);
	/* Its next datagram is a new flow, on the backend still up. */
	pk = send_on(e, w, buf, &sp, P_CLIENTS);
	assert_tx(&pk, P_BACKENDS);
	assert_int_not_equal(went_to(e, v, buf), b);
	assert_invariant(w->ctr);
}

/* A client packet of an established connection, with <payload> bytes. */
static struct lb_pkt client_data(struct env *e, uint8_t *buf, uint16_t cport, uint16_t payload)
{
	struct spec sp = client_tcp(VIP4, 80, cport, TH_ACK | (payload ? 0x08 : 0));

	sp.payload = payload;
	return send_on(e, e->w[0], buf, &sp, P_CLIENTS);
}

/* A backend packet of fnat connection <lport> (from BE4 or BE4B per <b>), <payload> bytes. */
static struct lb_pkt backend_data(struct env *e, uint32_t v, uint32_t b, uint8_t *buf,
				  uint16_t lport, uint16_t payload)
{
	struct lb_worker *w = e->w[0];
	char be_text[SL_ADDR_STRLEN];
	struct lb_pkt pk = {0};

	sl_addr_format(&e->m->backends[b].addr, be_text, sizeof(be_text));
	for (int i = 0; i < 2; i++) {
		struct spec rs = from_backend(be_text, 8080, LADDRS4[i], lport, IPPROTO_TCP, TH_ACK,
					      b == bslot(e, v, BE4, 8080) ? 1 : 2);
		rs.payload = payload;
		pk = send_on(e, w, buf, &rs, P_BACKENDS);
		if (pk.verdict == LB_VERDICT_TX)
			break;
	}
	return pk;
}

#define RESP_TIMEOUT_MS 2000

static void test_response_timeout(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint32_t v = two_backends(e, SL_MODE_FNAT, IPPROTO_TCP), b1, b2, b3, b4;
	uint8_t buf[BUF_CAP];
	uint16_t lp1, lp2, lp3, lp4;
	struct lb_pkt pk;

	vip_set(e, v, SL_DOWN_RESCHEDULE, RESP_TIMEOUT_MS, 0);
	b1 = connect4(e, v, 41001, &lp1);
	b2 = connect4(e, v, 41002, &lp2);
	b3 = connect4(e, v, 41003, &lp3);
	b4 = connect4(e, v, 41004, &lp4);

	/* 1: data, then the backend's kernel ACKs it (no answer), then its answer in time. */
	pk = client_data(e, buf, 41001, 100);
	assert_tx(&pk, P_BACKENDS);
	pk = backend_data(e, v, b1, buf, lp1, 0);
	assert_tx(&pk, P_CLIENTS);
	e->now += RESP_TIMEOUT_MS - 1;
	pk = backend_data(e, v, b1, buf, lp1, 500);
	assert_tx(&pk, P_CLIENTS);
	/* Answered in time: the success signal (the bare ACK before it was not one). */
	assert_int_equal(w->ctr->backend[b1].responded, 1);
	assert_int_equal(w->ctr->vip[v].responded, 1);
	/* 2: data, then silence past the timeout; 3: idle, no data; 4: retransmission. */
	pk = client_data(e, buf, 41002, 100);
	assert_tx(&pk, P_BACKENDS);
	pk = client_data(e, buf, 41004, 100);
	assert_tx(&pk, P_BACKENDS);
	e->now += RESP_TIMEOUT_MS;
	pk = client_data(e, buf, 41003, 0); /* keepalive-like: no data */
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(w->ctr->vip[v].response_timeouts, 0);
	/* 4 is found past due at the client's retransmission. */
	pk = client_data(e, buf, 41004, 100);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(w->ctr->backend[b4].response_timeouts, 1);
	assert_int_equal(w->ctr->vip[v].response_timeouts, 1);
	/* 2 is found by the sweep with no packet at all, once. */
	lb_worker_sweep(w, e->now, flow_table_capacity(w->flows));
	assert_int_equal(w->ctr->vip[v].response_timeouts, 2);
	assert_int_equal(w->ctr->backend[b2].response_timeouts, b2 == b4 ? 2 : 1);
	e->now += 10 * RESP_TIMEOUT_MS;
	lb_worker_sweep(w, e->now, flow_table_capacity(w->flows));
	/* Counted at most once per connection: more data, silence, late answer, expiry. */
	pk = client_data(e, buf, 41002, 100);
	e->now += 2 * RESP_TIMEOUT_MS;
	pk = backend_data(e, v, b2, buf, lp2, 10);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(w->ctr->vip[v].response_timeouts, 2);
	/* 1 and 3 never counted. */
	uint64_t b1_b3 =
		w->ctr->backend[b1].response_timeouts + w->ctr->backend[b3].response_timeouts;
	assert_int_equal(b1_b3, (b1 == b2 || b1 == b4 ? (b1 == b2) + (b1 == b4) : 0) +
					(b3 == b2 || b3 == b4 ? (b3 == b2) + (b3 == b4) : 0));
	/* A late answer counts (then clears): a fifth connection answered after T. */
	uint16_t lp5;
	uint32_t b5 = connect4(e, v, 41005, &lp5);
	uint64_t before = w->ctr->vip[v].response_timeouts;
	pk = client_data(e, buf, 41005, 100);
	e->now += RESP_TIMEOUT_MS + 1;
	pk = backend_data(e, v, b5, buf, lp5, 10);
	assert_tx(&pk, P_CLIENTS);
	assert_int_equal(w->ctr->vip[v].response_timeouts, before + 1);
	/* A flow that expires past due is counted as it leaves. */
	uint16_t lp6;
	connect4(e, v, 41006, &lp6);
	before = w->ctr->vip[v].response_timeouts;
	pk = client_data(e, buf, 41006, 100);
	e->now += 3600 * 1000;
	struct flow_timeouts to;
	flow_timeouts_default(&to);
	e->now += to.ms[FLOW_TCP_EST];
	lb_worker_sweep(w, e->now, flow_table_capacity(w->flows));
	assert_int_equal(flow_table_count(w->flows), 0);
	assert_int_equal(w->ctr->vip[v].response_timeouts, before + 1);
	assert_invariant(w->ctr);
}

/* A dsr VIP never counts response timeouts, whatever its model says. */
static void test_response_timeout_not_dsr(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint32_t v = two_backends(e, SL_MODE_DSR, IPPROTO_TCP);
	uint8_t buf[BUF_CAP];
	uint16_t lport;
	struct lb_pkt pk;

	e->m->vips[v].response_timeout_ms = RESP_TIMEOUT_MS; /* vip.set would refuse it */
	recompile(e);
	connect4(e, v, 40000, &lport);
	pk = client_data(e, buf, 40000, 100);
	assert_tx(&pk, P_BACKENDS);
	e->now += 5 * RESP_TIMEOUT_MS;
	pk = client_data(e, buf, 40000, 100);
	lb_worker_sweep(w, e->now, flow_table_capacity(w->flows));
	assert_int_equal(w->ctr->vip[v].response_timeouts, 0);
	/* And the model refuses it outright. */
	struct conf_vip cv;
	char err[256];
	memset(&cv, 0, sizeof(cv));
	cv.addr = e->m->vips[v].addr;
	cv.port = 80;
	cv.proto = IPPROTO_TCP;
	cv.mode = SL_MODE_DSR;
	cv.maglev_size = MAGLEV_M;
	cv.response_timeout_ms = RESP_TIMEOUT_MS;
	assert_int_equal(lb_model_vip_set(e->m, v, &cv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "response_timeout"));
}

/* vip.set: what may change in place, and what may not (named in the error). */
static void test_vip_set(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint32_t v = two_backends(e, SL_MODE_DSR, IPPROTO_TCP), b;
	const struct lb_model_vip *mv = &e->m->vips[v];
	uint8_t buf[BUF_CAP];
	uint16_t lport;
	uint64_t gen;
	struct lb_pkt pk;
	struct conf_vip cv;
	char err[256];

	b = connect4(e, v, 40000, &lport);
	gen = e->s->generation;
	memset(&cv, 0, sizeof(cv));
	cv.addr = mv->addr;
	cv.port = 80;
	cv.proto = IPPROTO_TCP;
	cv.mode = SL_MODE_DSR;
	cv.sched = SCHED_KIND_MAGLEV;
	cv.maglev_size = 257;
	cv.when_empty = SL_EMPTY_RESET;
	cv.down_flows = SL_DOWN_KEEP;
	cv.drain_deadline_ms = 30000;
	assert_int_equal(lb_model_vip_set(e->m, v, &cv, err, sizeof(err)), 0);
	recompile(e);
	assert_true(e->s->generation > gen);
	assert_int_equal(e->s->vips[v].sched, SCHED_KIND_MAGLEV);
	assert_int_equal(e->s->vips[v].members->maglev_size, 257);
	assert_int_equal(e->s->vips[v].when_empty, SL_EMPTY_RESET);
	assert_int_equal(e->s->vips[v].down_flows, SL_DOWN_KEEP);
	assert_int_equal(mv->drain_deadline_ms, 30000);
	assert_int_equal(mv->n_members, 2);
	/* The established flow stays where it was. */
	pk = client_data(e, buf, 40000, 10);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(went_to(e, v, buf), b);
	assert_int_equal(w->ctr->flows_rescheduled, 0);

	cv.mode = SL_MODE_FNAT;
	cv.local_addrs[0] = addr(LADDR4A);
	cv.n_local_addrs = 1;
	assert_int_equal(lb_model_vip_set(e->m, v, &cv, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vip.set 10.0.0.100:80/tcp: mode cannot change in place (dsr -> "
				 "fnat): delete and add the VIP");
	cv.mode = SL_MODE_DSR;
	assert_int_equal(lb_model_vip_set(e->m, v, &cv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "local_addresses cannot change"));
	cv.n_local_addrs = 0;
	cv.port = 81;
	assert_int_equal(lb_model_vip_set(e->m, v, &cv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "port cannot change in place (80 -> 81)"));
	cv.port = 80;
	cv.maglev_size = 256;
	assert_int_equal(lb_model_vip_set(e->m, v, &cv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "maglev_table_size"));
	/* Nothing changed by the refusals. */
	assert_int_equal(mv->maglev_size, 257);
	assert_int_equal(mv->mode, SL_MODE_DSR);
}

/* Drain deadline: the flows still on a draining backend are reset once it passes. */
static void test_drain_deadline(void **state)
{
	struct env *e = *state;
	struct lb_worker *w = e->w[0];
	uint32_t v = two_backends(e, SL_MODE_FNAT, IPPROTO_TCP), b;
	const struct lb_model_backend *mb;
	uint8_t buf[BUF_CAP];
	uint16_t lport, lport2;
	struct lb_pkt pk;
	uint64_t t0 = 50000;

	vip_set(e, v, SL_DOWN_RESCHEDULE, 0, 60000); /* the VIP's: 60 s */
	b = connect4(e, v, 40000, &lport);
	mb = &e->m->backends[b];
	assert_int_equal(lb_model_drain_remaining(e->m, mb, t0), -1);
	assert_int_equal(lb_model_backend_set_drain_deadline(e->m, b, 5000), -EINVAL); /* ready */
	assert_int_equal(lb_model_backend_set_admin(e->m, b, SL_ADMIN_DRAIN), 0);
	assert_int_equal(lb_model_backend_set_drain_deadline(e->m, b, 5000), 0); /* this drain */
	assert_int_equal(lb_model_drain_tick(e->m, t0), 0);
	recompile(e);
	assert_int_equal(lb_model_drain_remaining(e->m, mb, t0 + 1000), 4000);
	/* Draining: its flow stays, new flows go to the other backend. */
	pk = client_data(e, buf, 40000, 10);
	assert_tx(&pk, P_BACKENDS);
	assert_int_equal(went_to(e, v, buf), b);
	assert_int_not_equal(connect4(e, v, 40001, &lport2), b);
	assert_int_equal(lb_model_drain_tick(e->m, t0 + 4999), 0);
	assert_int_equal(lb_model_drain_tick(e->m, t0 + 5000), 1);
	assert_int_equal(lb_model_drain_tick(e->m, t0 + 6000), 0); /* once */
	assert_int_equal(lb_model_drain_remaining(e->m, mb, t0 + 6000), 0);
	recompile(e);
	assert_int_equal(e->s->backends[b].fate, LB_FATE_DRAIN_RESET);
	pk = client_data(e, buf, 40000, 10);
	assert_rst_to_client(buf, &pk, VIP4, 80, 40000);
	assert_int_equal(w->ctr->backend[b].drain_reset, 1);
	assert_int_equal(w->ctr->vip[v].drain_reset, 1);
	assert_int_equal(w->ctr->backend[b].flows_reset, 0);
	assert_int_equal(w->active[b], 0);
	/* Ready again cancels it: no deadline, flows stay. */
	assert_int_equal(lb_model_backend_set_admin(e->m, b, SL_ADMIN_READY), 0);
	recompile(e);
	assert_int_equal(e->s->backends[b].fate, LB_FATE_STAY);
	assert_int_equal(lb_model_drain_remaining(e->m, mb, t0 + 7000), -1);
	/* A drain without its own deadline takes the VIP's, from its first tick. */
	assert_int_equal(lb_model_backend_set_admin(e->m, b, SL_ADMIN_DRAIN), 0);
	assert_int_equal(lb_model_drain_tick(e->m, t0 + 8000), 0);
	assert_int_equal(lb_model_drain_remaining(e->m, mb, t0 + 9000), 59000);
	assert_int_equal(lb_model_drain_tick(e->m, t0 + 68000), 1);
	assert_invariant(w->ctr);
}

/* ==== the fast path changes nothing ==== */

/* One VIP per mode on <vip> (dsr 80, tunnel 81, fnat 82, nat 83; TCP and UDP). */
static void four_modes_on(struct env *e, const char *vip, const char *be_addr,
			  const char *const *laddrs)
{
	static const enum sl_mode modes[] = {SL_MODE_DSR, SL_MODE_TUNNEL, SL_MODE_FNAT,
					     SL_MODE_NAT};

	for (uint32_t i = 0; i < ARRAY_SIZE(modes); i++) {
		for (int udp = 0; udp < 2; udp++) {
			/* dsr and tunnel backends listen on the VIP's port. */
			struct conf_backend b = be(be_addr, i < 2 ? 0 : (uint16_t)(8080 + i), 1);
			bool nat = modes[i] == SL_MODE_FNAT;

			add_vip(e, vip, (uint16_t)(80 + i), udp ? IPPROTO_UDP : IPPROTO_TCP,
				modes[i], &b, 1, nat ? laddrs : NULL, nat ? 1 : 0);
		}
	}
}

/* The four modes on VIP4 and on VIP6, the same in both environments. */
static void four_modes(struct env *e)
{
	for (int v6 = 0; v6 < 2; v6++)
		four_modes_on(e, v6 ? VIP6 : VIP4, v6 ? BE6 : BE4, v6 ? LADDRS6 : LADDRS4);
	e->m->ports[P_BACKENDS].mtu = 1500;
	recompile(e);
}

/* Every flow of a table, in the table's order (the same for the same inserts). */
struct flows_seen {
	struct flow_entry e[128];
	uint32_t n;
};

static int collect_flow(struct flow_entry *e, void *arg)
{
	struct flows_seen *f = arg;

	assert_true(f->n < ARRAY_SIZE(f->e));
	f->e[f->n++] = *e;
	return 0;
}

/* Both tables hold the same flows, in the same states, seen at the same times. */
static void assert_same_flows(struct env *a, struct env *b)
{
	static struct flows_seen fa, fb;

	memset(&fa, 0, sizeof(fa));
	memset(&fb, 0, sizeof(fb));
	flow_foreach(a->w[0]->flows, collect_flow, &fa);
	flow_foreach(b->w[0]->flows, collect_flow, &fb);
	assert_int_equal(fa.n, fb.n);
	for (uint32_t i = 0; i < fa.n; i++) {
		assert_memory_equal(&fa.e[i].key, &fb.e[i].key, sizeof(fa.e[i].key));
		assert_int_equal(fa.e[i].state, fb.e[i].state);
		assert_int_equal(fa.e[i].last_seen, fb.e[i].last_seen);
		assert_int_equal(fa.e[i].backend_slot, fb.e[i].backend_slot);
		assert_int_equal(fa.e[i].user, fb.e[i].user);
	}
}

/* Runs <sp> (from <in_port>) through both environments and checks they agree. */
static struct lb_pkt both_ways(struct env *fast, struct env *slow, uint8_t *mf, uint8_t *ms,
			       const struct spec *sp, uint16_t in_port)
{
	struct lb_pkt pf, ps;

	pf = (struct lb_pkt){.data = mf + HEADROOM,
			     .cap = BUF_CAP,
			     .in_port = in_port,
			     .headroom = HEADROOM,
			     .rx_csum = LB_RX_CSUM_IP_GOOD};
	pf.len = build(pf.data, sp);
	ps = pf;
	ps.data = ms + HEADROOM;
	memcpy(ps.data, pf.data, pf.len);
	run(fast, fast->w[0], &pf, 1);
	run(slow, slow->w[0], &ps, 1);
	assert_int_equal(pf.verdict, ps.verdict);
	assert_int_equal(pf.drop, ps.drop);
	assert_int_equal(pf.out_port, ps.out_port);
	assert_int_equal(pf.len, ps.len);
	assert_int_equal(pf.headroom, ps.headroom);
	assert_memory_equal(pf.data, ps.data, pf.len);
	assert_same_flows(fast, slow);
	return pf;
}

/*
 * Every packet of a connection's life, in every mode, TCP and UDP, both
 * directions: through the fast path in one environment and the general
 * path only in the other. Same verdict, same bytes out, same counters,
 * same flow states: the fast path is only cheaper.
 */
static void test_fast_path_changes_nothing(void **state)
{
	struct env *fast = *state, *slow;
	void *slow_state;
	static uint8_t mf[HEADROOM + BUF_CAP], ms[HEADROOM + BUF_CAP];

	assert_int_equal(env_setup_two_ports(&slow_state), 0);
	slow = slow_state;
	four_modes(fast);
	four_modes(slow);
	slow->w[0]->general_only = true;
	/* i: dsr, tunnel, fnat, nat on VIP4, then the same on VIP6. */
	for (uint16_t i = 0; i < 8; i++) {
		for (int udp = 0; udp < 2; udp++) {
			uint16_t vport = (uint16_t)(80 + i % 4),
				 cport = (uint16_t)(41000 + i * 2 + udp);
			struct spec sp = client_tcp(i < 4 ? VIP4 : VIP6, vport, cport, TH_SYN);
			struct lb_pkt pk;

			sp.proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
			pk = both_ways(fast, slow, mf, ms, &sp, P_CLIENTS);
			assert_tx(&pk, P_BACKENDS);
			/* fnat and nat: the backend answers (to what it saw as the source). */
			const uint8_t *ip = ip_of(pk.data);
			char to[64];
			src_text(ip, to, sizeof(to));
			struct spec rs = from_backend(
				i < 4 ? BE4 : BE6, rd16(l4_of((uint8_t *)ip) + 2), to,
				rd16(l4_of((uint8_t *)ip)), sp.proto, TH_SYN | TH_ACK, 1);
			if (i % 4 >= 2) {
				pk = both_ways(fast, slow, mf, ms, &rs, P_BACKENDS);
				assert_tx(&pk, P_CLIENTS);
			}
			/* Established; data both ways, TTL down to 1, then a FIN and a RST. */
			sp.flags = TH_ACK;
			rs.flags = TH_ACK;
			for (int k = 0; k < 6; k++) {
				sp.ttl = (uint8_t)(k < 4 ? 64 - k : 6 - k); /* 64..61, 2, 1 */
				sp.tos = (uint8_t)(k * 4);
				sp.df = k & 1;
				sp.payload = (uint16_t)(k * 100);
				both_ways(fast, slow, mf, ms, &sp, P_CLIENTS);
				if (i % 4 >= 2) {
					rs.ttl = sp.ttl;
					both_ways(fast, slow, mf, ms, &rs, P_BACKENDS);
				}
				fast->now += 1000;
				slow->now += 1000;
			}
			/* What the general path refuses: a group source MAC, a VLAN tag. */
			static const uint8_t group_mac[6] = {0x01, 0, 0x5e, 0, 0, 1};
			sp.ttl = 64;
			sp.payload = 10;
			sp.smac = group_mac;
			both_ways(fast, slow, mf, ms, &sp, P_CLIENTS);
			sp.smac = NULL;
			sp.vlan = 7;
			both_ways(fast, slow, mf, ms, &sp, P_CLIENTS);
			sp.vlan = 0;
			/* Too big for the tunnel: the general path answers, in both. */
			sp.ttl = 64;
			sp.payload = 1480;
			sp.df = true;
			both_ways(fast, slow, mf, ms, &sp, P_CLIENTS);
			sp.payload = 10;
			sp.flags = TH_FIN | TH_ACK;
			both_ways(fast, slow, mf, ms, &sp, P_CLIENTS);
			sp.flags = TH_RST;
			both_ways(fast, slow, mf, ms, &sp, P_CLIENTS);
		}
	}
	assert_int_equal(flow_table_count(fast->w[0]->flows), flow_table_count(slow->w[0]->flows));
	assert_memory_equal(fast->w[0]->ctr, slow->w[0]->ctr, sizeof(struct lb_counters));
	assert_memory_equal(fast->w[0]->active, slow->w[0]->active,
			    sizeof(fast->w[0]->active[0]) * LB_MAX_BACKENDS);
	assert_true(fast->w[0]->ctr->fwd > 40);
	assert_invariant(fast->w[0]->ctr);
	env_teardown(&slow_state);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup_two_ports, env_teardown)
	const struct CMUnitTest tests[] = {
		T(test_fnat_fast_path_both_ways),
		T(test_fast_path_changes_nothing),
		T(test_fnat_syn_and_reply_one_burst),
		T(test_fnat_reply_then_error_one_burst),
		T(test_fnat_tcp_v4),
		T(test_fnat_ttl_expired),
		T(test_fnat_tcp_v6),
		T(test_fnat_udp),
		T(test_fnat_udp_csum_zero_is_ffff),
		T(test_fnat_lcore_ports),
		T(test_fnat_port_exhaustion_and_reuse),
		T(test_fnat_ports_each_once_for_any_lcore_count),
		T(test_fnat_ports_not_reused_across_restart),
		T(test_fnat_ports_wrap_after_time_wait),
		T(test_redispatch_on_rst_at_once),
		T(test_redispatch_on_icmp_unreachable_at_once),
		T(test_redispatch_off_refusal_reaches_client),
		T(test_redispatch_after_syn_timeout),
		T(test_redispatch_tries_bounded),
		T(test_fnat_forged_acks_hold_no_port),
		T(test_dsr_pickups_bounded),
		T(test_martian_sources_get_no_answer),
		T(test_land_and_group_src_mac),
		T(test_ttl_zero_never_forwarded),
		T(test_bad_checksums_create_nothing),
		T(test_udp_length_lie),
		T(test_icmp_error_stays_in_buffer),
		T(test_fnat_ports_reclaimed_from_expired_flows),
		T(test_fnat_icmp_error_goes_home),
		T(test_fnat_pair_dies_together),
		T(test_fnat_fin_uncounts),
		T(test_fnat_no_room_leaves_nothing),
		T(test_nat_v4),
		T(test_nat_v6),
		T(test_no_nat_no_reply_path),
		T(test_nat_owner_handoff),
		T(test_tunnel_ipip),
		T(test_tunnel_ip6ip6),
		T(test_tunnel_vlan),
		T(test_tunnel_no_headroom),
		T(test_tunnel_too_big_v4),
		T(test_tunnel_too_big_v6),
		T(test_tunnel_one_entry_per_flow),
		T(test_tunnel_syn_retry_not_a_failure),
		T(test_tunnel_full_table_backstop),
		T(test_counters_invariant_mixed),
		T(test_down_flows_dsr_reschedule),
		T(test_down_flows_dsr_keep),
		T(test_down_flows_dsr_reset),
		T(test_down_flows_fnat_reschedule),
		T(test_down_flows_fnat_keep),
		T(test_down_flows_fnat_reset),
		T(test_down_flows_fnat_reset_backend_side),
		T(test_down_flows_udp_reset),
		T(test_response_timeout),
		T(test_response_timeout_not_dsr),
		T(test_vip_set),
		T(test_drain_deadline),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
