/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-lcore flow table: 5-tuple -> backend, with TCP/UDP state and per-state
 * idle timeouts, bounded capacity, and eviction that never throws out a flow
 * that has proven itself alive (TCP ESTABLISHED, UDP with replies/repeats)
 * to make room for a new one. A SYN flood can fill the SYN-state share of the
 * table but cannot evict established flows: when no entry can be reclaimed,
 * flow_insert() fails and the caller falls back to consistent hashing.
 *
 * Not thread-safe by design: one table per lcore (share-nothing). No
 * allocation after flow_table_create(). Time is passed in ("now", in
 * milliseconds, from any monotonic clock; wrap-around safe) so tests drive
 * a fake clock.
 */
#ifndef SLUICE_FLOW_H
#define SLUICE_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_addr.h"

/* 40 bytes: addresses IPv4-mapped for IPv4 (sl_addr.h); ports network order. */
struct flow_key {
	struct sl_addr src;
	struct sl_addr dst;
	uint16_t sport;
	uint16_t dport;
	uint8_t proto;  /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t pad[3]; /* must be zero: keys are compared and hashed as bytes */
};

enum flow_state {
	FLOW_TCP_SYN = 0, /* SYN seen, handshake not completed */
	FLOW_TCP_EST,     /* ACK without SYN seen after the SYN, or mid-stream pickup */
	FLOW_TCP_FIN,     /* FIN seen */
	FLOW_TCP_CLOSED,  /* RST seen */
	FLOW_UDP_NEW,     /* one packet seen */
	FLOW_UDP_EST,     /* more than one packet seen */
	FLOW_STATE_MAX
};

/* "syn", "established", "fin", "closed", "udp_new", "udp". */
const char *flow_state_name(enum flow_state s);

/* Idle timeouts per state, milliseconds. */
struct flow_timeouts {
	uint32_t ms[FLOW_STATE_MAX];
};

/* Defaults: syn 10 s, established 900 s, fin 30 s, closed 5 s, udp_new 30 s, udp 60 s. */
void flow_timeouts_default(struct flow_timeouts *t);

/* 64 bytes, one cache line. */
struct flow_entry {
	struct flow_key key;
	uint32_t backend_slot; /* snapshot backend index */
	uint32_t backend_uid;  /* detects a slot reused by another backend */
	uint32_t last_seen;    /* ms */
	uint16_t vip_slot;
	uint8_t state;  /* enum flow_state */
	uint8_t in_use; /* internal: 1 if the entry holds a flow */
	uint32_t user;  /* the caller's, 0 when inserted; lib/lb: response deadline (ms) */
	uint32_t pad;
};

struct flow_table;

/*
 * Called whenever a flow leaves the table (expired during lookup or sweep,
 * evicted, removed), before its entry is reused. Lets the owner keep active
 * flow counts per backend exact.
 */
typedef void (*flow_remove_fn)(const struct flow_entry *e, void *arg);

/*
 * Creates a table able to hold at least <capacity> flows (rounded up to a
 * power of two; at most 2^26). Returns NULL on bad arguments or no memory.
 */
struct flow_table *flow_table_create(uint32_t capacity, const struct flow_timeouts *t,
				     flow_remove_fn on_remove, void *arg);

/*
 * Where a table's memory comes from. The library uses plain memory; the
 * data plane passes hugepages on the worker's NUMA node, so that a table of
 * a million flows costs few TLB misses. <alloc> returns <size> bytes
 * aligned to <align> (a power of two), or NULL.
 */
struct flow_mem {
	void *(*alloc)(size_t size, size_t align, void *arg);
	void (*free)(void *p, void *arg);
	void *arg;
};

/* flow_table_create() with its memory from <mem> (NULL: plain memory). */
struct flow_table *flow_table_create_mem(uint32_t capacity, const struct flow_timeouts *t,
					 flow_remove_fn on_remove, void *arg,
					 const struct flow_mem *mem);

/* Bytes a table of <capacity> flows takes (what flow_table_create_mem() asks for). */
size_t flow_table_size(uint32_t capacity);
void flow_table_free(struct flow_table *t);

uint32_t flow_table_capacity(const struct flow_table *t);
uint32_t flow_table_count(const struct flow_table *t); /* flows held now */

/*
 * Index of a live entry in [0, flow_table_capacity()): an entry never moves
 * while it holds a flow, so owners can keep side tables indexed by it.
 */
uint32_t flow_entry_index(const struct flow_table *t, const struct flow_entry *e);

/*
 * Entry 0: flow_entry_index(t, e) == e - flow_table_entries(t) for as long
 * as the table lives (it never moves its entries), so that an owner that
 * keeps it computes the index inline, without a call per packet.
 */
const struct flow_entry *flow_table_entries(const struct flow_table *t);

/* Replaces the timeouts (control path). */
void flow_table_set_timeouts(struct flow_table *t, const struct flow_timeouts *to);

/* Hash of a key; the same for the same key on any machine. */
uint32_t flow_hash(const struct flow_key *k);

/* 64x64 -> 128-bit multiply folded to 64 bits (high ^ low). */
static inline uint64_t flow_mul_fold(uint64_t a, uint64_t b)
{
#if defined(__SIZEOF_INT128__) && !defined(FLOW_HASH_NO_INT128)
	__extension__ typedef unsigned __int128 u128;
	u128 p = (u128)a * b;

	return (uint64_t)p ^ (uint64_t)(p >> 64);
#else
	uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;
	uint64_t lo = (mid << 32) | (uint32_t)ll;
	uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);

	return lo ^ hi;
#endif
}

static inline uint32_t flow_load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * flow_hash() of an IPv4 key, from the packet's bytes: source and
 * destination addresses (4 bytes each) and the two ports as they are on the
 * wire (4 bytes, source port first). Two multiplies: the fast path computes
 * it before it has built the key. (Byte loads, which compilers fuse, keep
 * the value the same on any byte order.)
 */
static inline uint32_t flow_hash_v4(const uint8_t *src, const uint8_t *dst, const uint8_t *ports,
				    uint8_t proto)
{
	uint64_t a = flow_load_le32(src) | (uint64_t)flow_load_le32(dst) << 32;
	uint64_t b = flow_load_le32(ports) | (uint64_t)proto << 32;
	uint64_t h = flow_mul_fold(a ^ 0xa0761d6478bd642fULL, b ^ 0xe7037ed1a0b428dbULL);

	h = flow_mul_fold(h ^ 0x8ebc6af09c88c6e3ULL, 0x9e3779b97f4a7c15ULL);
	return (uint32_t)h ^ (uint32_t)(h >> 32);
}

/*
 * Finds the flow for <k>. A flow whose idle time exceeds its state's timeout
 * is expired: removed (callback) and NULL returned. Does not refresh
 * last_seen: call flow_touch() when a packet is accounted to the flow.
 */
struct flow_entry *flow_lookup(struct flow_table *t, const struct flow_key *k, uint32_t hash,
			       uint32_t now);

/*
 * Looks up <n> keys (a burst) at once; out[i] as flow_lookup() would return.
 * Prefetches every bucket before comparing any key.
 */
void flow_lookup_bulk(struct flow_table *t, const struct flow_key *keys, const uint32_t *hashes,
		      uint32_t n, uint32_t now, struct flow_entry **out);

/* Counters of why inserts reclaimed or failed; read by the owner lcore. */
struct flow_stats {
	uint64_t inserted;
	uint64_t expired;       /* removed because idle past the timeout */
	uint64_t evicted;       /* live, evictable flow thrown out for a new one */
	uint64_t insert_failed; /* no room without evicting a protected flow */
	uint64_t spilled;       /* flows held now in their secondary bucket (a lookup
				   of those reads two bucket lines, not one) */
};
const struct flow_stats *flow_table_stats(const struct flow_table *t);

/*
 * Inserts a new flow for <k> (which must not be in the table) in <state>,
 * last_seen = now. Room is found in this order: a free entry; else, in the
 * key's primary bucket (its secondary only when the primary has nothing to
 * give), an expired flow, then the least recently seen evictable one (SYN,
 * FIN, CLOSED, UDP_NEW). Flows in
 * TCP_EST and UDP_EST are never evicted while live. Returns the entry (caller
 * fills backend/vip fields) or NULL when there is no room.
 */
struct flow_entry *flow_insert(struct flow_table *t, const struct flow_key *k, uint32_t hash,
			       enum flow_state state, uint32_t now);

/* Removes the flow (callback is called). */
void flow_remove(struct flow_table *t, struct flow_entry *e);

/*
 * Accounts one packet to the flow: last_seen = now and the state moves on
 * the packet. For TCP (client direction is enough): RST -> CLOSED; FIN ->
 * FIN; in SYN, an ACK without SYN -> EST; a SYN in CLOSED or FIN (port
 * reuse) -> SYN. For UDP: UDP_NEW -> UDP_EST.
 * <tcp_flags> is ignored for UDP.
 */
void flow_touch(struct flow_entry *e, uint8_t tcp_flags, uint32_t now);

/*
 * Incremental sweep: examines up to <budget> entries from where the last
 * call stopped and removes the expired ones (callback). Returns how many
 * were removed. Run from the worker loop so idle flows do not hold capacity
 * or active counts forever.
 */
uint32_t flow_sweep(struct flow_table *t, uint32_t now, uint32_t budget);

/*
 * flow_sweep() that also calls <visit> for every live entry it examines and
 * leaves in the table (the owner's periodic per-flow checks ride on the
 * sweep's walk). <visit> must not remove entries.
 */
uint32_t flow_sweep_visit(struct flow_table *t, uint32_t now, uint32_t budget,
			  void (*visit)(struct flow_entry *e, void *arg), void *arg);

/*
 * Calls <fn> for every live flow (control path: show flows, tests).
 * Stops early when fn returns non-zero and returns that value.
 */
int flow_foreach(struct flow_table *t, int (*fn)(struct flow_entry *e, void *arg), void *arg);

#endif
