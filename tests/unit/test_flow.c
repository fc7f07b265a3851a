/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the per-lcore flow table (lib/flow). Time is a fake ms
 * clock passed to every call; nothing sleeps.
 *
 * Some tests pass one fixed hash for many keys: the table uses the caller's
 * hash as given, so this pins every key to the same two buckets and makes
 * the eviction order exactly predictable.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define NBACKENDS 8
#define LOG_MAX   64

/* What the remove callback saw; active[] mimics an owner's per-backend counts. */
struct fn_ctx {
	uint64_t calls;
	int64_t active[NBACKENDS];
	uint32_t nlog;
	uint32_t log_last_seen[LOG_MAX];
	uint8_t log_state[LOG_MAX];
	uint32_t state_calls[FLOW_STATE_MAX];
};

static void on_remove(const struct flow_entry *e, void *arg)
{
	struct fn_ctx *c = arg;

	/* The contract: called before the entry is reused, so it is still intact. */
	assert_int_equal(e->in_use, 1);
	c->calls++;
	c->active[e->backend_slot % NBACKENDS]--;
	c->state_calls[e->state]++;
	if (c->nlog < LOG_MAX) {
		c->log_last_seen[c->nlog] = e->last_seen;
		c->log_state[c->nlog] = e->state;
		c->nlog++;
	}
}

static struct flow_key key_v4(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
			      uint8_t proto)
{
	struct flow_key k;
	uint32_t s = htonl(src), d = htonl(dst);

	memset(&k, 0, sizeof(k));
	sl_addr_set_v4(&k.src, &s);
	sl_addr_set_v4(&k.dst, &d);
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	return k;
}

static struct flow_key key_v6(uint16_t src_tail, uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct flow_key k;
	uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};

	memset(&k, 0, sizeof(k));
	s[14] = (uint8_t)(src_tail >> 8);
	s[15] = (uint8_t)src_tail;
	sl_addr_set_v6(&k.src, s);
	sl_addr_set_v6(&k.dst, d);
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	return k;
}

/* Client <i> of 198.18.0.0/15 to the VIP 198.19.255.1:80. */
static struct flow_key client(uint32_t i)
{
	return key_v4(0xc6120000u + i, (uint16_t)(10000 + i % 50000), 0xc613ff01u, 80, IPPROTO_TCP);
}

/* Distinct timeouts per state, so a wrong index shows up. */
static void test_timeouts(struct flow_timeouts *to)
{
	for (int s = 0; s < FLOW_STATE_MAX; s++)
		to->ms[s] = 1000u * (uint32_t)(s + 1) + (uint32_t)s;
}

static struct flow_entry *insert_backend(struct flow_table *t, struct fn_ctx *c,
					 const struct flow_key *k, uint32_t hash,
					 enum flow_state st, uint32_t now, uint32_t backend)
{
	struct flow_entry *e = flow_insert(t, k, hash, st, now);

	if (e != NULL) {
		e->backend_slot = backend;
		c->active[backend % NBACKENDS]++;
	}
	return e;
}

static void test_create_bad_args(void **state)
{
	struct flow_table *t;

	(void)state;
	assert_null(flow_table_create(0, NULL, NULL, NULL));
	assert_null(flow_table_create((1u << 26) + 1, NULL, NULL, NULL));
	assert_null(flow_table_create(UINT32_MAX, NULL, NULL, NULL));

	t = flow_table_create(1, NULL, NULL, NULL);
	assert_non_null(t);
	assert_true(flow_table_capacity(t) >= 1);
	assert_int_equal(flow_table_count(t), 0);
	flow_table_free(t);

	t = flow_table_create(1000, NULL, NULL, NULL);
	assert_non_null(t);
	assert_int_equal(flow_table_capacity(t), 1024);
	flow_table_free(t);
}

static void test_struct_layout(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct flow_key), 40);
	assert_int_equal(sizeof(struct flow_entry), 64);
}

static void test_insert_lookup_v4_v6(void **state)
{
	struct flow_timeouts to;
	struct flow_table *t;
	struct flow_key k4 = key_v4(0xc6120001u, 40000, 0xc613ff01u, 443, IPPROTO_TCP);
	struct flow_key k6 = key_v6(7, 40001, 443, IPPROTO_UDP);
	struct flow_entry *e4, *e6;

	(void)state;
	flow_timeouts_default(&to);
	t = flow_table_create(64, &to, NULL, NULL);
	assert_non_null(t);

	e4 = flow_insert(t, &k4, flow_hash(&k4), FLOW_TCP_SYN, 100);
	assert_non_null(e4);
	e4->backend_slot = 3;
	e4->backend_uid = 33;
	e4->vip_slot = 2;
	e4->user = 4242;
	e6 = flow_insert(t, &k6, flow_hash(&k6), FLOW_UDP_NEW, 100);
	assert_non_null(e6);
	assert_ptr_not_equal(e4, e6);
	assert_int_equal(flow_table_count(t), 2);
	assert_int_equal(flow_table_stats(t)->inserted, 2);

	assert_ptr_equal(flow_lookup(t, &k4, flow_hash(&k4), 200), e4);
	assert_ptr_equal(flow_lookup(t, &k6, flow_hash(&k6), 200), e6);
	assert_memory_equal(&e4->key, &k4, sizeof(k4));
	assert_int_equal(e4->state, FLOW_TCP_SYN);
	assert_int_equal(e4->last_seen, 100);
	assert_int_equal(e4->backend_slot, 3);
	assert_int_equal(e4->backend_uid, 33);
	assert_int_equal(e4->vip_slot, 2);
	assert_int_equal(e4->user, 4242);
	assert_int_equal(e6->state, FLOW_UDP_NEW);
	/* lookup does not refresh last_seen */
	assert_int_equal(e6->last_seen, 100);
	/* a fresh entry has the caller's fields zeroed */
	assert_int_equal(e6->backend_slot, 0);
	assert_int_equal(e6->user, 0);
	flow_table_free(t);
}

static void test_missing_key(void **state)
{
	struct flow_table *t = flow_table_create(64, NULL, NULL, NULL);
	struct flow_key k = client(1), other = client(2);

	(void)state;
	assert_non_null(t);
	assert_null(flow_lookup(t, &k, flow_hash(&k), 0));
	assert_non_null(flow_insert(t, &k, flow_hash(&k), FLOW_TCP_EST, 0));
	assert_null(flow_lookup(t, &other, flow_hash(&other), 0));
	/* same hash, different key: the key comparison must reject it */
	assert_null(flow_lookup(t, &other, flow_hash(&k), 0));
	flow_table_free(t);
}

/* A key differing from a stored one in any single byte of any field is a miss. */
static void test_one_byte_differs(void **state)
{
	struct flow_table *t = flow_table_create(64, NULL, NULL, NULL);
	struct flow_key v4 = key_v4(0xc6120a0bu, 51000, 0xc613ff01u, 443, IPPROTO_TCP);
	struct flow_key v6 = key_v6(0x1234, 51000, 443, IPPROTO_TCP);
	const struct flow_key *keys[2] = {&v4, &v6};

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < 2; i++)
		assert_non_null(flow_insert(t, keys[i], flow_hash(keys[i]), FLOW_TCP_EST, 0));
	for (int i = 0; i < 2; i++) {
		uint32_t h = flow_hash(keys[i]);

		/* every byte of src, dst, sport, dport, proto (pad stays zero) */
		for (size_t off = 0; off < offsetof(struct flow_key, pad); off++) {
			struct flow_key m = *keys[i];

			((uint8_t *)&m)[off] ^= 0x01;
			assert_int_not_equal(flow_hash(&m), h);
			assert_null(flow_lookup(t, &m, flow_hash(&m), 1));
			assert_null(flow_lookup(t, &m, h, 1));
		}
		assert_non_null(flow_lookup(t, keys[i], h, 1));
	}
	flow_table_free(t);
}

static const uint8_t state_proto[FLOW_STATE_MAX] = {
	IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDP,
};

/* For each state: alive at exactly its timeout, expired 1 ms later; via lookup. */
static void check_timeouts_lookup(uint32_t t0)
{
	struct flow_timeouts to;
	struct fn_ctx c = {0};
	struct flow_table *t;

	test_timeouts(&to);
	t = flow_table_create(64, &to, on_remove, &c);
	assert_non_null(t);
	for (int s = 0; s < FLOW_STATE_MAX; s++) {
		struct flow_key k =
			key_v4(0xc6120100u + (uint32_t)s, 1000, 0xc613ff01u, 53, state_proto[s]);
		uint32_t h = flow_hash(&k);
		struct flow_entry *e = flow_insert(t, &k, h, (enum flow_state)s, t0);

		assert_non_null(e);
		assert_ptr_equal(flow_lookup(t, &k, h, t0 + to.ms[s] - 1), e);
		assert_ptr_equal(flow_lookup(t, &k, h, t0 + to.ms[s]), e);
		assert_int_equal(flow_table_stats(t)->expired, (uint64_t)s);
		assert_null(flow_lookup(t, &k, h, t0 + to.ms[s] + 1));
		assert_int_equal(flow_table_stats(t)->expired, (uint64_t)s + 1);
		assert_int_equal(c.calls, (uint64_t)s + 1);
		assert_int_equal(c.state_calls[s], 1);
		assert_int_equal(flow_table_count(t), 0);
		/* gone for good, not just hidden */
		assert_null(flow_lookup(t, &k, h, t0));
	}
	flow_table_free(t);
}

/* Same through flow_sweep(). */
static void check_timeouts_sweep(uint32_t t0)
{
	struct flow_timeouts to;
	struct fn_ctx c = {0};
	struct flow_table *t;

	test_timeouts(&to);
	t = flow_table_create(64, &to, on_remove, &c);
	assert_non_null(t);
	for (int s = 0; s < FLOW_STATE_MAX; s++) {
		struct flow_key k =
			key_v4(0xc6120200u + (uint32_t)s, 1000, 0xc613ff01u, 53, state_proto[s]);
		uint32_t h = flow_hash(&k);

		assert_non_null(flow_insert(t, &k, h, (enum flow_state)s, t0));
		assert_int_equal(flow_sweep(t, t0 + to.ms[s], flow_table_capacity(t)), 0);
		assert_int_equal(flow_table_count(t), 1);
		assert_int_equal(flow_sweep(t, t0 + to.ms[s] + 1, flow_table_capacity(t)), 1);
		assert_int_equal(flow_table_count(t), 0);
		assert_int_equal(c.state_calls[s], 1);
		assert_null(flow_lookup(t, &k, h, t0));
	}
	assert_int_equal(flow_table_stats(t)->expired, FLOW_STATE_MAX);
	assert_int_equal(c.calls, FLOW_STATE_MAX);
	flow_table_free(t);
}

static void test_timeout_each_state_lookup(void **state)
{
	(void)state;
	check_timeouts_lookup(5000);
}

static void test_timeout_each_state_sweep(void **state)
{
	(void)state;
	check_timeouts_sweep(5000);
}

/* The ms clock wraps (every ~49.7 days); idle time must still be right across it. */
static void test_clock_wraparound(void **state)
{
	struct flow_timeouts to;
	struct flow_table *t;
	struct flow_key k = client(9);
	uint32_t h = flow_hash(&k), t0 = UINT32_MAX - 10;
	struct flow_entry *e;

	(void)state;
	check_timeouts_lookup(UINT32_MAX - 100);
	check_timeouts_sweep(UINT32_MAX - 100);
	check_timeouts_lookup(UINT32_MAX);

	test_timeouts(&to);
	t = flow_table_create(64, &to, NULL, NULL);
	assert_non_null(t);
	e = flow_insert(t, &k, h, FLOW_TCP_SYN, t0);
	assert_non_null(e);
	flow_touch(e, TH_ACK, t0 + 5);
	assert_int_equal(e->state, FLOW_TCP_EST);
	/* now = 3 after the wrap: 9 ms idle, alive */
	assert_ptr_equal(flow_lookup(t, &k, h, 3), e);
	assert_int_equal(flow_sweep(t, 3, 64), 0);
	flow_touch(e, TH_ACK, 3);
	assert_int_equal(e->last_seen, 3);
	assert_ptr_equal(flow_lookup(t, &k, h, 3 + to.ms[FLOW_TCP_EST]), e);
	assert_null(flow_lookup(t, &k, h, 3 + to.ms[FLOW_TCP_EST] + 1));
	flow_table_free(t);
}

static void test_touch_transitions(void **state)
{
	struct flow_table *t = flow_table_create(64, NULL, NULL, NULL);
	struct flow_key kt = client(1);
	struct flow_key ku = key_v4(0xc6120001u, 5353, 0xc613ff01u, 53, IPPROTO_UDP);
	struct flow_entry *e, *u;

	(void)state;
	assert_non_null(t);
	e = flow_insert(t, &kt, flow_hash(&kt), FLOW_TCP_SYN, 10);
	assert_non_null(e);

	/* retransmitted SYN and the server's SYN-ACK keep SYN */
	flow_touch(e, TH_SYN, 11);
	assert_int_equal(e->state, FLOW_TCP_SYN);
	assert_int_equal(e->last_seen, 11);
	flow_touch(e, TH_SYN | TH_ACK, 12);
	assert_int_equal(e->state, FLOW_TCP_SYN);
	/* handshake ACK */
	flow_touch(e, TH_ACK, 13);
	assert_int_equal(e->state, FLOW_TCP_EST);
	assert_int_equal(e->last_seen, 13);
	flow_touch(e, TH_ACK | TH_PSH, 14);
	assert_int_equal(e->state, FLOW_TCP_EST);
	/* a stray SYN mid-connection does not reset it */
	flow_touch(e, TH_SYN, 15);
	assert_int_equal(e->state, FLOW_TCP_EST);
	/* FIN */
	flow_touch(e, TH_FIN | TH_ACK, 16);
	assert_int_equal(e->state, FLOW_TCP_FIN);
	flow_touch(e, TH_ACK, 17);
	assert_int_equal(e->state, FLOW_TCP_FIN);
	/* port reuse after FIN */
	flow_touch(e, TH_SYN, 18);
	assert_int_equal(e->state, FLOW_TCP_SYN);
	flow_touch(e, TH_ACK, 19);
	assert_int_equal(e->state, FLOW_TCP_EST);
	/* RST */
	flow_touch(e, TH_RST | TH_ACK, 20);
	assert_int_equal(e->state, FLOW_TCP_CLOSED);
	/* FIN after RST keeps the short CLOSED timeout */
	flow_touch(e, TH_FIN, 21);
	assert_int_equal(e->state, FLOW_TCP_CLOSED);
	/* ACK in CLOSED stays CLOSED */
	flow_touch(e, TH_ACK, 22);
	assert_int_equal(e->state, FLOW_TCP_CLOSED);
	/* port reuse after RST */
	flow_touch(e, TH_SYN, 23);
	assert_int_equal(e->state, FLOW_TCP_SYN);
	/* RST straight from SYN */
	flow_touch(e, TH_RST, 24);
	assert_int_equal(e->state, FLOW_TCP_CLOSED);
	/* FIN straight from SYN */
	flow_touch(e, TH_SYN, 25);
	flow_touch(e, TH_FIN, 26);
	assert_int_equal(e->state, FLOW_TCP_FIN);
	assert_int_equal(e->last_seen, 26);

	/* UDP: second packet makes it established; flags ignored */
	u = flow_insert(t, &ku, flow_hash(&ku), FLOW_UDP_NEW, 30);
	assert_non_null(u);
	flow_touch(u, TH_RST, 31);
	assert_int_equal(u->state, FLOW_UDP_EST);
	assert_int_equal(u->last_seen, 31);
	flow_touch(u, 0, 32);
	assert_int_equal(u->state, FLOW_UDP_EST);
	assert_int_equal(u->last_seen, 32);
	flow_table_free(t);
}

/* A table full of established flows: a SYN flood gets nothing and takes nothing. */
static void test_full_of_established(void **state)
{
	struct fn_ctx c = {0};
	struct flow_table *t = flow_table_create(1024, NULL, on_remove, &c);
	uint32_t cap, now = 1000;

	(void)state;
	assert_non_null(t);
	cap = flow_table_capacity(t);
	assert_int_equal(cap, 1024);
	for (uint32_t i = 0; i < cap; i++) {
		struct flow_key k = client(i);

		assert_non_null(flow_insert(t, &k, flow_hash(&k),
					    i % 2 ? FLOW_TCP_EST : FLOW_UDP_EST, now));
	}
	assert_int_equal(flow_table_count(t), cap);

	for (uint32_t i = 0; i < 20000; i++) {
		struct flow_key k = client(100000 + i);

		assert_null(flow_insert(t, &k, flow_hash(&k), FLOW_TCP_SYN, now + 1 + i / 10));
	}
	assert_int_equal(flow_table_stats(t)->insert_failed, 20000);
	assert_int_equal(flow_table_stats(t)->evicted, 0);
	assert_int_equal(flow_table_stats(t)->expired, 0);
	assert_int_equal(c.calls, 0);
	assert_int_equal(flow_table_count(t), cap);
	for (uint32_t i = 0; i < cap; i++) {
		struct flow_key k = client(i);

		assert_non_null(flow_lookup(t, &k, flow_hash(&k), now + 3000));
	}
	flow_table_free(t);
}

/* Half established, half SYN: a SYN flood replaces SYN flows only. */
static void test_syn_flood_mixed(void **state)
{
	struct fn_ctx c = {0};
	struct flow_table *t = flow_table_create(1024, NULL, on_remove, &c);
	const struct flow_stats *st;

	(void)state;
	assert_non_null(t);
	for (uint32_t i = 0; i < 1024; i++) {
		struct flow_key k = client(i);

		assert_non_null(flow_insert(t, &k, flow_hash(&k),
					    i % 2 ? FLOW_TCP_SYN : FLOW_TCP_EST, 1 + i));
	}
	/* inside the 10 s SYN timeout: evictions, not expiries */
	for (uint32_t i = 0; i < 5000; i++) {
		struct flow_key k = client(200000 + i);

		(void)flow_insert(t, &k, flow_hash(&k), FLOW_TCP_SYN, 2000 + i);
	}
	st = flow_table_stats(t);
	assert_int_equal(st->expired, 0);
	assert_true(st->evicted > 0);
	assert_int_equal(st->evicted + st->insert_failed, 5000);
	assert_int_equal(c.calls, st->evicted);
	assert_int_equal(c.state_calls[FLOW_TCP_SYN], st->evicted);
	assert_int_equal(c.state_calls[FLOW_TCP_EST], 0);
	for (uint32_t i = 0; i < 1024; i += 2) {
		struct flow_key k = client(i);

		assert_non_null(flow_lookup(t, &k, flow_hash(&k), 7000));
	}
	printf("# syn flood on half-established 1024 table: %llu evicted, %llu failed\n",
	       (unsigned long long)st->evicted, (unsigned long long)st->insert_failed);
	flow_table_free(t);
}

/*
 * A SYN into a full table evicts the least recently seen evictable flow of
 * its primary bucket (eight entries read, not sixteen), and looks in its
 * secondary only when nothing in the primary can go; established flows are
 * never evicted, and when nothing can go the insert fails.
 */
static void test_eviction_primary_first(void **state)
{
	static const uint32_t syn_seen[6] = {60, 10, 50, 20, 40, 30};
	const uint32_t h = 0x5eed1234u; /* one pair of buckets for every key */
	struct fn_ctx c = {0};
	struct flow_table *t = flow_table_create(16, NULL, on_remove, &c);

	(void)state;
	assert_non_null(t);
	assert_int_equal(flow_table_capacity(t), 16);
	/*
	 * Filled in the order the placement rule takes (the primary while it
	 * has more than 2 free slots, then the less loaded bucket):
	 * primary   SYN 0-5 (seen at syn_seen), EST 12, EST 14
	 * secondary EST 6, 7, SYN 8 (seen at 5: the oldest of all), EST 9-11, 13, 15
	 */
	for (uint32_t i = 0; i < 16; i++) {
		struct flow_key k = client(i);
		bool syn = i < 6 || i == 8;

		assert_non_null(flow_insert(t, &k, h, syn ? FLOW_TCP_SYN : FLOW_TCP_EST,
					    i < 6 ? syn_seen[i] : (i == 8 ? 5 : 0)));
	}
	assert_int_equal(flow_table_count(t), 16);
	/* Six new SYNs evict the primary's six, oldest first; the older one in the secondary stays.
	 */
	for (uint32_t i = 0; i < 6; i++) {
		struct flow_key k = client(100 + i);

		assert_non_null(flow_insert(t, &k, h, FLOW_TCP_SYN, 100 + i));
		assert_int_equal(c.log_last_seen[i], 10 + 10 * i);
		assert_int_equal(c.log_state[i], FLOW_TCP_SYN);
	}
	/* Then the new SYNs themselves, oldest first. */
	{
		struct flow_key k = client(106);

		assert_non_null(flow_insert(t, &k, h, FLOW_TCP_SYN, 106));
		assert_int_equal(c.log_last_seen[6], 100);
	}
	/* The primary all established: the secondary's SYN goes. */
	for (uint32_t i = 101; i <= 106; i++) {
		struct flow_key k = client(i);
		struct flow_entry *e = flow_lookup(t, &k, h, 110);

		assert_non_null(e);
		flow_touch(e, TH_ACK, 110);
		assert_int_equal(e->state, FLOW_TCP_EST);
	}
	{
		struct flow_key k = client(200);
		struct flow_entry *e = flow_insert(t, &k, h, FLOW_TCP_SYN, 120);

		assert_non_null(e);
		assert_int_equal(c.log_last_seen[7], 5);
		flow_touch(e, TH_ACK, 121);
	}
	/* Nothing left that can go: the insert fails, no established flow was ever evicted. */
	{
		struct flow_key k = client(300);

		assert_null(flow_insert(t, &k, h, FLOW_TCP_SYN, 130));
		assert_int_equal(flow_table_stats(t)->insert_failed, 1);
	}
	assert_int_equal(flow_table_stats(t)->evicted, 8);
	assert_int_equal(c.state_calls[FLOW_TCP_EST], 0);
	flow_table_free(t);
}

/* An expired flow is reclaimed before any live one is evicted. */
static void test_expired_reused_before_eviction(void **state)
{
	const uint32_t h = 0xabcdef01u;
	struct fn_ctx c = {0};
	struct flow_timeouts to;
	struct flow_table *t;
	const struct flow_stats *st;

	(void)state;
	flow_timeouts_default(&to); /* SYN: 10 s */
	t = flow_table_create(16, &to, on_remove, &c);
	assert_non_null(t);
	st = flow_table_stats(t);
	for (uint32_t i = 0; i < 16; i++) {
		struct flow_key k = client(i);

		assert_non_null(flow_insert(t, &k, h, FLOW_TCP_SYN, i < 4 ? 0 : 5000));
	}
	/* 10001: the four flows from t=0 are idle past 10 s, the rest are not */
	{
		struct flow_key k = client(100);

		assert_non_null(flow_insert(t, &k, h, FLOW_TCP_SYN, 10001));
	}
	assert_int_equal(st->expired, 4);
	assert_int_equal(st->evicted, 0);
	for (uint32_t i = 0; i < c.nlog; i++)
		assert_int_equal(c.log_last_seen[i], 0);
	/* the three other reclaimed entries are free entries now */
	for (uint32_t i = 0; i < 3; i++) {
		struct flow_key k = client(101 + i);

		assert_non_null(flow_insert(t, &k, h, FLOW_TCP_SYN, 10002));
	}
	assert_int_equal(st->expired, 4);
	assert_int_equal(st->evicted, 0);
	assert_int_equal(flow_table_count(t), 16);
	/* full, nothing expired: evict the least recently seen (t=5000) */
	{
		struct flow_key k = client(200);

		assert_non_null(flow_insert(t, &k, h, FLOW_TCP_SYN, 10003));
	}
	assert_int_equal(st->evicted, 1);
	assert_int_equal(c.log_last_seen[c.nlog - 1], 5000);
	assert_int_equal(c.calls, st->expired + st->evicted);
	flow_table_free(t);
}

/* Every flow that leaves is reported once; per-backend counts end at zero. */
static void test_remove_callback_accounting(void **state)
{
	struct fn_ctx c = {0};
	struct flow_timeouts to;
	struct flow_table *t;
	const struct flow_stats *st;
	uint64_t removed = 0;
	uint32_t now = 1000;

	(void)state;
	flow_timeouts_default(&to);
	t = flow_table_create(1024, &to, on_remove, &c);
	assert_non_null(t);
	st = flow_table_stats(t);

	for (uint32_t i = 0; i < 1024; i++) {
		struct flow_key k = client(i);
		enum flow_state s = (enum flow_state)(i % FLOW_STATE_MAX);

		k.proto = s >= FLOW_UDP_NEW ? IPPROTO_UDP : IPPROTO_TCP;
		assert_non_null(insert_backend(t, &c, &k, flow_hash(&k), s, now + i % 7, i));
	}
	/* explicit removals */
	for (uint32_t i = 0; i < 1024; i += 10) {
		struct flow_key k = client(i);
		enum flow_state s = (enum flow_state)(i % FLOW_STATE_MAX);
		struct flow_entry *e;

		k.proto = s >= FLOW_UDP_NEW ? IPPROTO_UDP : IPPROTO_TCP;
		e = flow_lookup(t, &k, flow_hash(&k), now + 10);
		assert_non_null(e);
		flow_remove(t, e);
		flow_remove(t, e); /* a second remove is a no-op */
		removed++;
		assert_null(flow_lookup(t, &k, flow_hash(&k), now + 10));
	}
	/* a flood of new flows: evictions of SYN/FIN/CLOSED/UDP_NEW */
	for (uint32_t i = 0; i < 3000; i++) {
		struct flow_key k = client(50000 + i);

		(void)insert_backend(t, &c, &k, flow_hash(&k), FLOW_TCP_SYN, now + 100, i);
	}
	assert_true(st->evicted > 0);
	/* 11 s later the flood's SYN flows (10 s) expire through lookups and inserts */
	for (uint32_t i = 0; i < 3000; i++) {
		struct flow_key k = client(60000 + i);

		if (flow_lookup(t, &k, flow_hash(&k), now + 11000) == NULL)
			(void)insert_backend(t, &c, &k, flow_hash(&k), FLOW_UDP_NEW, now + 11000,
					     i);
	}
	assert_true(st->expired > 0);
	assert_int_equal(c.calls, st->expired + st->evicted + removed);
	assert_int_equal(st->inserted - c.calls, flow_table_count(t));

	/* an hour later, a full sweep in small steps empties the table */
	for (uint32_t i = 0; i < 1024 / 100 + 1; i++)
		(void)flow_sweep(t, now + 3600 * 1000, 100);
	assert_int_equal(flow_table_count(t), 0);
	assert_int_equal(c.calls, st->inserted);
	assert_int_equal(c.calls, st->expired + st->evicted + removed);
	for (int b = 0; b < NBACKENDS; b++)
		assert_int_equal(c.active[b], 0);
	flow_table_free(t);
}

static void test_sweep_budget(void **state)
{
	struct flow_table *t = flow_table_create(1024, NULL, NULL, NULL);
	uint32_t total = 0, r;

	(void)state;
	assert_non_null(t);
	for (uint32_t i = 0; i < 600; i++) {
		struct flow_key k = client(i);

		assert_non_null(flow_insert(t, &k, flow_hash(&k), FLOW_TCP_SYN, 0));
	}
	assert_int_equal(flow_sweep(t, 10000, 1024), 0);
	assert_int_equal(flow_sweep(t, 10001, 0), 0);
	/* 1024 entries in steps of 100: done after 11 steps, never more than 100 per step */
	for (int i = 0; i < 11; i++) {
		r = flow_sweep(t, 10001, 100);
		assert_true(r <= 100);
		total += r;
	}
	assert_int_equal(total, 600);
	assert_int_equal(flow_table_count(t), 0);
	flow_table_free(t);
}

static void test_set_timeouts(void **state)
{
	struct flow_table *t = flow_table_create(64, NULL, NULL, NULL);
	struct flow_key k = client(5);
	struct flow_timeouts to;

	(void)state;
	assert_non_null(t);
	assert_non_null(flow_insert(t, &k, flow_hash(&k), FLOW_TCP_EST, 0));
	assert_non_null(flow_lookup(t, &k, flow_hash(&k), 60000));
	flow_timeouts_default(&to);
	to.ms[FLOW_TCP_EST] = 30000;
	flow_table_set_timeouts(t, &to);
	assert_null(flow_lookup(t, &k, flow_hash(&k), 60000));
	flow_table_free(t);
}

/* Bulk lookup gives what one-at-a-time lookups give, hits, misses and expiries alike. */
static void test_lookup_bulk(void **state)
{
	struct fn_ctx c = {0};
	struct flow_table *t = flow_table_create(1024, NULL, on_remove, &c);
	struct flow_key keys[50];
	uint32_t hashes[50];
	struct flow_entry *expect[50], *out[50];

	(void)state;
	assert_non_null(t);
	for (uint32_t i = 0; i < 300; i++) {
		struct flow_key k = client(i * 3);

		/* every 5th is a SYN flow from t=6000: alive at 15000, expired by 20000 */
		assert_non_null(flow_insert(t, &k, flow_hash(&k),
					    i % 5 ? FLOW_TCP_EST : FLOW_TCP_SYN,
					    i % 5 ? 15000 : 6000));
	}
	for (uint32_t i = 0; i < 50; i++) {
		/* hits (multiples of 3 below 900) and misses interleaved */
		keys[i] = client(i % 3 == 2 ? 100000 + i : i * 7);
		hashes[i] = flow_hash(&keys[i]);
	}
	/* live flows only, read before anything expires */
	for (uint32_t i = 0; i < 50; i++)
		expect[i] = flow_lookup(t, &keys[i], hashes[i], 15000);

	flow_lookup_bulk(t, keys, hashes, 32, 15000, out);
	for (uint32_t i = 0; i < 32; i++)
		assert_ptr_equal(out[i], expect[i]);
	flow_lookup_bulk(t, keys, hashes, 50, 15000, out);
	for (uint32_t i = 0; i < 50; i++)
		assert_ptr_equal(out[i], expect[i]);

	/* at 20000 the SYN flows are expired: bulk expires them like flow_lookup would */
	flow_lookup_bulk(t, keys, hashes, 50, 20000, out);
	for (uint32_t i = 0; i < 50; i++) {
		if (expect[i] != NULL && expect[i]->state == FLOW_TCP_SYN)
			assert_null(out[i]);
		else
			assert_ptr_equal(out[i], expect[i]);
		assert_ptr_equal(out[i], flow_lookup(t, &keys[i], hashes[i], 20000));
	}
	assert_true(c.calls > 0);
	assert_int_equal(c.calls, flow_table_stats(t)->expired);
	flow_lookup_bulk(t, keys, hashes, 0, 20000, out);
	flow_table_free(t);
}

struct visit {
	uint8_t seen[1000];
	uint32_t n;
};

static int visit_fn(struct flow_entry *e, void *arg)
{
	struct visit *v = arg;
	uint32_t a, i;

	memcpy(&a, sl_addr_v4_bytes(&e->key.src), sizeof(a));
	i = ntohl(a) - 0xc6120000u;

	assert_true(i < 1000);
	assert_int_equal(v->seen[i], 0);
	v->seen[i] = 1;
	v->n++;
	return 0;
}

static int stop_fn(struct flow_entry *e, void *arg)
{
	(void)e;
	(*(uint32_t *)arg)++;
	return 7;
}

static void test_foreach(void **state)
{
	struct flow_table *t = flow_table_create(1024, NULL, NULL, NULL);
	struct visit *v = calloc(1, sizeof(*v));
	uint32_t calls = 0;

	(void)state;
	assert_non_null(t);
	assert_non_null(v);
	assert_int_equal(flow_foreach(t, visit_fn, v), 0);
	assert_int_equal(v->n, 0);
	for (uint32_t i = 0; i < 500; i++) {
		struct flow_key k = client(i);

		assert_non_null(
			flow_insert(t, &k, flow_hash(&k), i % 4 ? FLOW_TCP_EST : FLOW_TCP_SYN, 0));
	}
	/* remove every 10th; expire the SYN ones (i % 4 == 0) by looking them up late */
	for (uint32_t i = 0; i < 500; i++) {
		struct flow_key k = client(i);

		if (i % 10 == 0)
			flow_remove(t, flow_lookup(t, &k, flow_hash(&k), 0));
		else if (i % 4 == 0)
			assert_null(flow_lookup(t, &k, flow_hash(&k), 20000));
	}
	assert_int_equal(flow_foreach(t, visit_fn, v), 0);
	assert_int_equal(v->n, flow_table_count(t));
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(v->seen[i], i < 500 && i % 10 != 0 && i % 4 != 0);
	assert_int_equal(flow_foreach(t, stop_fn, &calls), 7);
	assert_int_equal(calls, 1);
	free(v);
	flow_table_free(t);
}

/*
 * Fixed values: flow_hash() must not change by accident (two nodes, or two
 * builds, must agree). Computed once from this implementation.
 */
static void test_hash_golden(void **state)
{
	struct flow_key zero, v4, v6;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	v4 = key_v4(0xc6120001u, 40000, 0xc613ff01u, 443, IPPROTO_TCP);
	v6 = key_v6(0x1234, 51000, 443, IPPROTO_UDP);
	printf("# flow_hash: zero %#010x v4 %#010x v6 %#010x\n", flow_hash(&zero), flow_hash(&v4),
	       flow_hash(&v6));
	assert_int_equal(flow_hash(&zero), 0xf26e4ba1u);
	assert_int_equal(flow_hash(&v4), 0xe7f5459eu);
	assert_int_equal(flow_hash(&v6), 0x8a9f75cdu);
	/* The fast path hashes IPv4 packets from their bytes: the same value. */
	assert_int_equal(flow_hash_v4(sl_addr_v4_bytes(&v4.src), sl_addr_v4_bytes(&v4.dst),
				      (const uint8_t *)&v4.sport, v4.proto),
			 flow_hash(&v4));
}

/* Chi-square over <n> counters expected to hold <mean> each. */
static double chi2(const uint32_t *c, uint32_t n, double mean)
{
	double x = 0;

	for (uint32_t i = 0; i < n; i++)
		x += (c[i] - mean) * (c[i] - mean) / mean;
	return x;
}

static uint32_t max_of(const uint32_t *c, uint32_t n)
{
	uint32_t m = 0;

	for (uint32_t i = 0; i < n; i++)
		m = c[i] > m ? c[i] : m;
	return m;
}

/*
 * <n> keys into 1024 buckets taken from the low, middle and high hash bits
 * (the table indexes with the low bits). For a uniform hash the chi-square
 * (1023 degrees of freedom) is 1023 +- 45; the bound is ~5 sd. The max load
 * of Poisson(97.7) over 1024 buckets is ~130, at worst ~145.
 */
static void check_spread(const char *what, struct flow_key (*gen)(uint32_t), uint32_t n)
{
	uint32_t *c = calloc(3 * 1024, sizeof(*c));
	double mean = n / 1024.0;

	assert_non_null(c);
	for (uint32_t i = 0; i < n; i++) {
		struct flow_key k = gen(i);
		uint32_t h = flow_hash(&k);

		c[h & 1023]++;
		c[1024 + ((h >> 11) & 1023)]++;
		c[2048 + (h >> 22)]++;
	}
	printf("# spread %s: mean %.1f; chi2/max low %.0f/%u mid %.0f/%u high %.0f/%u\n", what,
	       mean, chi2(c, 1024, mean), max_of(c, 1024), chi2(c + 1024, 1024, mean),
	       max_of(c + 1024, 1024), chi2(c + 2048, 1024, mean), max_of(c + 2048, 1024));
	for (int part = 0; part < 3; part++) {
		assert_true(chi2(c + part * 1024, 1024, mean) < 1250);
		assert_true(max_of(c + part * 1024, 1024) < mean * 1.6);
	}
	free(c);
}

static struct flow_key gen_src_seq(uint32_t i)
{
	return key_v4(0xc6120000u + i, 12345, 0xc613ff01u, 80, IPPROTO_TCP);
}

static struct flow_key gen_sport_seq(uint32_t i)
{
	return key_v4(0xc6120001u + (i >> 16), (uint16_t)i, 0xc613ff01u, 80, IPPROTO_TCP);
}

static struct flow_key gen_dst_seq(uint32_t i)
{
	return key_v4(0xc6120001u, 12345, 0xc6130000u + i, 80, IPPROTO_UDP);
}

static struct flow_key gen_v6_seq(uint32_t i)
{
	struct flow_key k = key_v6(0, 12345, 443, IPPROTO_TCP);

	k.src.b[12] = (uint8_t)(i >> 24);
	k.src.b[13] = (uint8_t)(i >> 16);
	k.src.b[14] = (uint8_t)(i >> 8);
	k.src.b[15] = (uint8_t)i;
	return k;
}

static void test_hash_uniformity(void **state)
{
	(void)state;
	check_spread("src ip", gen_src_seq, 100000);
	check_spread("src port", gen_sport_seq, 100000);
	check_spread("dst ip", gen_dst_seq, 100000);
	check_spread("ipv6 src", gen_v6_seq, 100000);
}

/* Bijective on 32 bits, so distinct i give distinct addresses. */
static uint32_t scramble(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/*
 * A table full of half-open flows, all in two buckets: a new flow whose own
 * buckets are empty still gets an entry (a half-open flow elsewhere gives
 * its own up), whatever its hash.
 */
static void test_full_table_empty_buckets(void **state)
{
	struct flow_table *t = flow_table_create(16, NULL, NULL, NULL);
	uint32_t cap;

	(void)state;
	assert_non_null(t);
	cap = flow_table_capacity(t);
	for (uint32_t i = 0; i < cap; i++) {
		struct flow_key k = key_v4(i, 1000, 0xc613ff01u, 443, IPPROTO_TCP);

		assert_non_null(flow_insert(t, &k, 7, FLOW_TCP_SYN, 10));
	}
	assert_int_equal(flow_table_count(t), cap);
	for (uint32_t h = 0; h < 256; h++) {
		struct flow_key k = key_v4(1000 + h, 2000, 0xc613ff01u, 443, IPPROTO_TCP);
		struct flow_key filler = key_v4(5000 + h, 1000, 0xc613ff01u, 443, IPPROTO_TCP);
		struct flow_entry *e = flow_insert(t, &k, h, FLOW_TCP_SYN, 20);

		assert_non_null(e);
		assert_int_equal(flow_table_count(t), cap);
		/* Back to the start: the new flow gone, its victim's place refilled. */
		flow_remove(t, e);
		assert_non_null(flow_insert(t, &filler, 7, FLOW_TCP_SYN, 20));
	}
	assert_int_equal(flow_table_stats(t)->insert_failed, 0);
	flow_table_free(t);
}

struct counting_mem {
	size_t asked;
	int allocs, frees;
};

static void *counting_alloc(size_t size, size_t align, void *arg)
{
	struct counting_mem *c = arg;
	void *p;

	c->asked = size;
	c->allocs++;
	return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

static void counting_free(void *p, void *arg)
{
	struct counting_mem *c = arg;

	c->frees++;
	free(p);
}

static void *failing_alloc(size_t size, size_t align, void *arg)
{
	(void)size, (void)align, (void)arg;
	return NULL;
}

/* The data plane gives the table hugepage memory: one allocation, given back whole. */
static void test_memory_from_caller(void **state)
{
	struct counting_mem c = {0};
	struct flow_mem mem = {.alloc = counting_alloc, .free = counting_free, .arg = &c};
	struct flow_mem none = {.alloc = failing_alloc, .free = counting_free, .arg = &c};
	struct flow_key k = key_v4(0xc6120001u, 40000, 0xc613ff01u, 443, IPPROTO_TCP);
	struct flow_table *t = flow_table_create_mem(1000, NULL, NULL, NULL, &mem);

	(void)state;
	assert_non_null(t);
	assert_int_equal(c.allocs, 1);
	assert_int_equal(c.asked, flow_table_size(1000));
	assert_non_null(flow_insert(t, &k, flow_hash(&k), FLOW_TCP_EST, 1));
	assert_non_null(flow_lookup(t, &k, flow_hash(&k), 2));
	flow_table_free(t);
	assert_int_equal(c.frees, 1);
	assert_null(flow_table_create_mem(1000, NULL, NULL, NULL, &none));
	assert_int_equal(c.frees, 1);
}

/*
 * 1M-flow table filled with random distinct established flows until the
 * first insert fails: reports the occupancy reached (the bar: 900k of 1M).
 */
static void test_load_1m(void **state)
{
	struct flow_table *t = flow_table_create(1u << 20, NULL, NULL, NULL);
	uint32_t cap, inserted = 0, first_fail = 0, fails = 0;

	(void)state;
	assert_non_null(t);
	cap = flow_table_capacity(t);
	for (uint32_t i = 0; i < cap + 1000; i++) {
		uint32_t r = scramble(i);
		struct flow_key k =
			key_v4(r, (uint16_t)(scramble(r) | 1024), 0xc613ff01u, 443, IPPROTO_TCP);

		if (flow_insert(t, &k, flow_hash(&k), FLOW_TCP_EST, 1) == NULL) {
			if (fails++ == 0)
				first_fail = inserted;
		} else {
			inserted++;
		}
	}
	printf("# load: capacity %u, first insert failure at %u flows (%.2f%% occupancy), "
	       "%u held after %u attempts\n",
	       cap, first_fail, 100.0 * first_fail / cap, flow_table_count(t), cap + 1000);
	assert_true(first_fail >= 900000);
	assert_int_equal(flow_table_count(t), inserted);
	/*
	 * Keys go to their primary bucket while it has room to spare, so that a
	 * lookup reads one bucket line: even full, most flows are there.
	 */
	printf("# load: %.1f%% of the flows in their secondary bucket when full\n",
	       100.0 * (double)flow_table_stats(t)->spilled / flow_table_count(t));
	assert_true(flow_table_stats(t)->spilled < flow_table_count(t) / 4);
	/* spot-check that everything inserted is still found */
	for (uint32_t i = 0; i < cap + 1000; i += 97) {
		uint32_t r = scramble(i);
		struct flow_key k =
			key_v4(r, (uint16_t)(scramble(r) | 1024), 0xc613ff01u, 443, IPPROTO_TCP);
		struct flow_entry *e = flow_lookup(t, &k, flow_hash(&k), 2);

		if (i < first_fail)
			assert_non_null(e);
	}
	flow_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_struct_layout),
		cmocka_unit_test(test_create_bad_args),
		cmocka_unit_test(test_insert_lookup_v4_v6),
		cmocka_unit_test(test_missing_key),
		cmocka_unit_test(test_one_byte_differs),
		cmocka_unit_test(test_timeout_each_state_lookup),
		cmocka_unit_test(test_timeout_each_state_sweep),
		cmocka_unit_test(test_clock_wraparound),
		cmocka_unit_test(test_touch_transitions),
		cmocka_unit_test(test_full_of_established),
		cmocka_unit_test(test_syn_flood_mixed),
		cmocka_unit_test(test_eviction_primary_first),
		cmocka_unit_test(test_expired_reused_before_eviction),
		cmocka_unit_test(test_remove_callback_accounting),
		cmocka_unit_test(test_sweep_budget),
		cmocka_unit_test(test_set_timeouts),
		cmocka_unit_test(test_lookup_bulk),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_hash_golden),
		cmocka_unit_test(test_hash_uniformity),
		cmocka_unit_test(test_full_table_empty_buckets),
		cmocka_unit_test(test_memory_from_caller),
		cmocka_unit_test(test_load_1m),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
