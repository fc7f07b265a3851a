/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow table layout (one allocation, 64-byte aligned, made at create time):
 *
 *   struct flow_table | buckets[nb] | entries[cap] | free_stack[cap] | where[cap] | spill[nb]
 *
 * - entries: the flows themselves, one cache line each. An entry never moves
 *   while it holds a flow, so a pointer returned by lookup/insert stays valid
 *   until that flow leaves the table (expired, evicted, removed). Caution for
 *   burst callers: flow_insert() may evict an evictable flow (SYN, FIN, ...)
 *   that an earlier lookup of the same burst returned, and hand its entry to
 *   the new key; check e->key before using such a pointer after an insert.
 * - buckets: one cache line each, 8 slots of {32-bit signature, entry index}.
 *   A key may sit in either of two buckets (primary = low bits of the hash,
 *   secondary = low bits of a remix of the hash). An insert takes the
 *   primary while it has a free slot, so that a lookup almost always reads
 *   one bucket line; there are 2 bucket slots per entry (nb = cap / 4), so
 *   buckets are on average at most half full and the secondary is the
 *   exception. Two-choice placement practically never runs out of slots
 *   before the entry pool does: the table fills to its full capacity without
 *   cuckoo displacement (which would move entries and break the pointer
 *   stability above).
 * - spill: per bucket, how many keys whose primary it is sit in their
 *   secondary. A lookup that misses in the primary reads the secondary only
 *   when this is not zero (new flows mostly pay for one bucket line too).
 * - free_stack: indices of free entries (LIFO, so a reclaimed entry's cache
 *   line is reused at once).
 * - where: for each entry in use, its bucket slot (bucket * 8 + slot), so a
 *   flow can be removed without recomputing its hash.
 *
 * A lookup reads the two bucket lines (signatures compared there, empty slots
 * never touch an entry) and then only the entry whose signature matches.
 *
 * The <hash> passed to lookup/insert is the caller's: normally flow_hash(k),
 * but any value works as long as a key always comes with the same one. The
 * table never recomputes it.
 */
#include "flow.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define FLOW_BUCKET_SLOTS 8
#define FLOW_IDX_NONE     UINT32_MAX
#define FLOW_CAP_MIN      16u
#define FLOW_CAP_MAX      (1u << 26)
#define FLOW_BULK_CHUNK   32u
#define FLOW_CACHE_LINE   64u
/* Free slots a primary bucket keeps before keys spill to their secondary. */
#define FLOW_RECLAIM_WALK    32u /* entries reclaim_elsewhere() reads at most */
#define FLOW_PRIMARY_RESERVE 2u

/* TCP header flag bits (RFC 793 / 9293). */
#define FLOW_TH_FIN 0x01
#define FLOW_TH_SYN 0x02
#define FLOW_TH_RST 0x04
#define FLOW_TH_ACK 0x10

_Static_assert(sizeof(struct flow_key) == 40, "flow_key must be 40 bytes (hashed as 5 words)");
_Static_assert(sizeof(struct flow_entry) == 64, "flow_entry must be one cache line");
_Static_assert(offsetof(struct flow_entry, key) == 0, "key first in flow_entry");
_Static_assert(offsetof(struct flow_key, dport) == offsetof(struct flow_key, sport) + 2,
	       "the ports are hashed as 4 bytes, source first (flow_hash_v4)");

struct flow_bucket {
	uint32_t sig[FLOW_BUCKET_SLOTS]; /* the key's full hash; 0 when empty (idx decides) */
	uint32_t idx[FLOW_BUCKET_SLOTS]; /* entry index, FLOW_IDX_NONE when empty */
};
_Static_assert(sizeof(struct flow_bucket) == FLOW_CACHE_LINE, "flow_bucket is one cache line");
_Static_assert(FLOW_BUCKET_SLOTS == 8 && FLOW_IDX_NONE == UINT32_MAX,
	       "free_mask() reads 8 indices as two vectors of 4");

struct flow_table {
	struct flow_bucket *buckets;
	struct flow_entry *entries;
	uint32_t *free_stack;
	uint32_t *where;
	uint32_t *spill;      /* per bucket: its keys that sit in their secondary */
	uint32_t bucket_mask; /* nb - 1 */
	uint32_t capacity;    /* entries, a power of two */
	uint32_t free_top; /* free_stack[0 .. free_top - 1] are free; count = capacity - free_top */
	uint32_t sweep_pos; /* next entry flow_sweep() examines */
	bool walk_failed;   /* reclaim_elsewhere() found nothing at walk_failed_ms */
	uint32_t walk_failed_ms;
	struct flow_timeouts to;
	flow_remove_fn on_remove;
	struct flow_mem mem; /* where the table's memory came from */
	void *fn_arg;
	struct flow_stats stats;
};

/* ---- hash ---------------------------------------------------------------- */

/* Little-endian load, so that flow_hash() is the same on any byte order. */
static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/*
 * IPv4 keys (both addresses IPv4-mapped): flow_hash_v4(). Others: five
 * independent multiplies (one per 8-byte word, each with its own
 * constants so equal words in different fields do not cancel) run in
 * parallel; a last multiply mixes their sum. The per-word xor constants keep
 * all-zero words (the ::ffff: prefix of IPv4-mapped addresses) from
 * producing zero products. Fixed constants, no seed: the contract wants the
 * same value on every machine.
 */
uint32_t flow_hash(const struct flow_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h;

	if (sl_addr_is_v4(&k->src) && sl_addr_is_v4(&k->dst))
		return flow_hash_v4(sl_addr_v4_bytes(&k->src), sl_addr_v4_bytes(&k->dst),
				    (const uint8_t *)&k->sport, k->proto);

	h = flow_mul_fold(load_le64(p + 0) ^ 0xa0761d6478bd642fULL, 0x9e3779b97f4a7c15ULL);
	h += flow_mul_fold(load_le64(p + 8) ^ 0xe7037ed1a0b428dbULL, 0xbf58476d1ce4e5b9ULL);
	h += flow_mul_fold(load_le64(p + 16) ^ 0x8ebc6af09c88c6e3ULL, 0x94d049bb133111ebULL);
	h += flow_mul_fold(load_le64(p + 24) ^ 0x589965cc75374cc3ULL, 0xff51afd7ed558ccdULL);
	h += flow_mul_fold(load_le64(p + 32) ^ 0x1d8e4e27c47d124fULL, 0xc4ceb9fe1a85ec53ULL);
	h = flow_mul_fold(h ^ 0x2d358dccaa6c78a5ULL, 0x8bb84b93962eacc9ULL);
	return (uint32_t)h ^ (uint32_t)(h >> 32);
}

/* ---- internals ----------------------------------------------------------- */

/*
 * Key <k> equal to entry <e>'s, compared at once, no branch per word. With
 * SSE2: two 16-byte compares and one 8-byte one, a dozen instructions; the
 * five 8-byte words went through the stack (about 29, callgrind). The
 * entry's key is 16-byte aligned (entries are cache lines), so its loads
 * fold into the compares.
 */
static inline bool key_eq(const struct flow_entry *e, const struct flow_key *k)
{
	const uint8_t *pa = (const uint8_t *)&e->key, *pb = (const uint8_t *)k;
	uint64_t x4, y4;

	memcpy(&x4, pa + 32, sizeof(x4));
	memcpy(&y4, pb + 32, sizeof(y4));
#if defined(__SSE2__)
	__m128i d = _mm_or_si128(_mm_xor_si128(_mm_load_si128((const __m128i *)pa),
					       _mm_loadu_si128((const __m128i *)pb)),
				 _mm_xor_si128(_mm_load_si128((const __m128i *)(pa + 16)),
					       _mm_loadu_si128((const __m128i *)(pb + 16))));

	return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xffff && x4 == y4;
#else
	uint64_t x[4], y[4];

	memcpy(x, pa, sizeof(x));
	memcpy(y, pb, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x4 ^ y4)) == 0;
#endif
}

/* Bit s set when slot s of <bk> holds signature <h> (empty slots may match h = 0). */
static inline uint32_t sig_match(const struct flow_bucket *bk, uint32_t h)
{
#if defined(__SSE2__)
	__m128i hv = _mm_set1_epi32((int)h);
	__m128i lo = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)&bk->sig[0]), hv);
	__m128i hi = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)&bk->sig[4]), hv);

	return (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(lo)) |
	       (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(hi)) << 4;
#else
	uint32_t mask = 0;

	for (int s = 0; s < FLOW_BUCKET_SLOTS; s++)
		mask |= (uint32_t)(bk->sig[s] == h) << s;
	return mask;
#endif
}

/* Bijective 32-bit mixer (murmur3 finalizer), used to derive the second bucket. */
static inline uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	x *= 0xc2b2ae35u;
	x ^= x >> 16;
	return x;
}

/* The two candidate buckets of <hash>; always distinct (nb >= 2). */
static inline void buckets_of(const struct flow_table *t, uint32_t hash, uint32_t b[2])
{
	b[0] = hash & t->bucket_mask;
	b[1] = mix32(hash) & t->bucket_mask;
	if (b[1] == b[0])
		b[1] = b[0] ^ 1;
}

static inline bool entry_expired(const struct flow_table *t, const struct flow_entry *e,
				 uint32_t now)
{
	/* Wrap-safe: the unsigned difference is the idle time across a ms-clock wrap. */
	return (uint32_t)(now - e->last_seen) > t->to.ms[e->state];
}

static inline bool state_evictable(uint8_t s)
{
	return s != FLOW_TCP_EST && s != FLOW_UDP_EST;
}

enum leave_reason { LEAVE_EXPIRED, LEAVE_EVICTED, LEAVE_REMOVED };

/* Takes a flow out: callback first (the entry is still intact), then frees slot and entry. */
static void entry_release(struct flow_table *t, struct flow_entry *e, enum leave_reason why)
{
	uint32_t idx = (uint32_t)(e - t->entries);
	uint32_t pos = t->where[idx];
	struct flow_bucket *bk = &t->buckets[pos / FLOW_BUCKET_SLOTS];

	if (t->on_remove != NULL)
		t->on_remove(e, t->fn_arg);
	if (why == LEAVE_EXPIRED)
		t->stats.expired++;
	else if (why == LEAVE_EVICTED)
		t->stats.evicted++;
	/* The signature is the key's full hash: it names the key's primary bucket. */
	uint32_t primary = bk->sig[pos % FLOW_BUCKET_SLOTS] & t->bucket_mask;
	if (primary != pos / FLOW_BUCKET_SLOTS) {
		t->spill[primary]--;
		t->stats.spilled--;
	}
	bk->sig[pos % FLOW_BUCKET_SLOTS] = 0;
	bk->idx[pos % FLOW_BUCKET_SLOTS] = FLOW_IDX_NONE;
	e->in_use = 0;
	t->free_stack[t->free_top++] = idx;
}

static inline struct flow_entry *lookup_one(struct flow_table *t, const struct flow_key *k,
					    uint32_t hash, uint32_t now)
{
	uint32_t b[2];

	buckets_of(t, hash, b);
	for (int j = 0; j < (t->spill[b[0]] != 0 ? 2 : 1); j++) {
		const struct flow_bucket *bk = &t->buckets[b[j]];

		for (int i = 0; i < FLOW_BUCKET_SLOTS; i++) {
			struct flow_entry *e;

			if (bk->sig[i] != hash || bk->idx[i] == FLOW_IDX_NONE)
				continue;
			e = &t->entries[bk->idx[i]];
			if (!key_eq(e, k))
				continue;
			if (entry_expired(t, e, now)) {
				entry_release(t, e, LEAVE_EXPIRED);
				return NULL;
			}
			return e;
		}
	}
	return NULL;
}

/* Bit s set when slot s of <bk> is free. */
static inline uint32_t free_mask(const struct flow_bucket *bk)
{
#if defined(__SSE2__)
	__m128i none = _mm_set1_epi32(-1); /* FLOW_IDX_NONE */
	__m128i lo = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)&bk->idx[0]), none);
	__m128i hi = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)&bk->idx[4]), none);

	return (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(lo)) |
	       (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(hi)) << 4;
#else
	uint32_t mask = 0;

	for (int s = 0; s < FLOW_BUCKET_SLOTS; s++)
		mask |= (uint32_t)(bk->idx[s] == FLOW_IDX_NONE) << s;
	return mask;
#endif
}

/* The first free slot of <bk>, or -1; <*nfree> how many are free. */
static inline int bucket_free_slot(const struct flow_bucket *bk, uint32_t *nfree)
{
	/* Set bits of a nibble: a table, where a popcount may be a library call. */
	static const uint8_t bits4[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
	uint32_t m = free_mask(bk);

	*nfree = (uint32_t)bits4[m & 15] + bits4[m >> 4];
	return m != 0 ? __builtin_ctz(m) : -1;
}

/*
 * Reclaims among the flows of bucket <bk_i>: every expired one goes (the
 * work of reading them is done, and their owner's counts get corrected
 * sooner); failing that, the least recently seen evictable one. Returns
 * the bucket slot freed as bucket * 8 + slot, or FLOW_IDX_NONE when every
 * flow there is a live established one (or there is none).
 */
static uint32_t reclaim_bucket(struct flow_table *t, uint32_t bk_i, uint32_t now)
{
	struct flow_bucket *bk = &t->buckets[bk_i];
	uint32_t freed = FLOW_IDX_NONE, victim_pos = FLOW_IDX_NONE, victim_age = 0;
	struct flow_entry *victim = NULL;

	for (int i = 0; i < FLOW_BUCKET_SLOTS; i++) {
		struct flow_entry *e;
		uint32_t age;

		if (bk->idx[i] == FLOW_IDX_NONE)
			continue;
		e = &t->entries[bk->idx[i]];
		if (entry_expired(t, e, now)) {
			entry_release(t, e, LEAVE_EXPIRED);
			if (freed == FLOW_IDX_NONE)
				freed = bk_i * FLOW_BUCKET_SLOTS + (uint32_t)i;
			continue;
		}
		if (!state_evictable(e->state))
			continue;
		age = (uint32_t)(now - e->last_seen);
		if (victim == NULL || age > victim_age) {
			victim = e;
			victim_age = age;
			victim_pos = bk_i * FLOW_BUCKET_SLOTS + (uint32_t)i;
		}
	}
	if (freed != FLOW_IDX_NONE)
		return freed;
	if (victim != NULL)
		entry_release(t, victim, LEAVE_EVICTED);
	return victim_pos;
}

/*
 * No free entry, or (rarely) no free slot in either bucket: reclaims in the
 * key's primary bucket, and only when nothing there can give its place up,
 * in its secondary. A SYN flood's new flow then reads eight entries, not
 * sixteen, and goes where lookups look first. Returns the bucket slot
 * freed for the new flow, or FLOW_IDX_NONE.
 */
static uint32_t reclaim(struct flow_table *t, const uint32_t b[2], uint32_t now)
{
	uint32_t pos = reclaim_bucket(t, b[0], now);

	return pos != FLOW_IDX_NONE ? pos : reclaim_bucket(t, b[1], now);
}

/*
 * Every entry is taken but the key's buckets hold no flow that can give its
 * place up (with half the slots free, a pair of empty buckets is not rare):
 * a free slot of theirs takes an entry reclaimed from further along the
 * sweep's walk, the first expired or evictable flow among FLOW_RECLAIM_WALK.
 * Returns the slot, or FLOW_IDX_NONE.
 */
static uint32_t reclaim_elsewhere(struct flow_table *t, const uint32_t b[2], uint32_t now)
{
	uint32_t nfree, pos = FLOW_IDX_NONE;

	for (int j = 0; j < 2 && pos == FLOW_IDX_NONE; j++) {
		int s = bucket_free_slot(&t->buckets[b[j]], &nfree);

		if (s >= 0)
			pos = b[j] * FLOW_BUCKET_SLOTS + (uint32_t)s;
	}
	/*
	 * A walk that found nothing (a table full of established flows) is not
	 * tried again within the same millisecond: a SYN flood then costs no
	 * more than its own buckets' lines.
	 */
	if (pos == FLOW_IDX_NONE || (t->walk_failed && t->walk_failed_ms == now))
		return FLOW_IDX_NONE;
	t->walk_failed = false;
	for (uint32_t n = 0; n < FLOW_RECLAIM_WALK; n++) {
		struct flow_entry *e = &t->entries[t->sweep_pos];

		t->sweep_pos = (t->sweep_pos + 1) & (t->capacity - 1);
		if (!e->in_use)
			continue;
		if (entry_expired(t, e, now)) {
			entry_release(t, e, LEAVE_EXPIRED);
			return pos;
		}
		if (state_evictable(e->state)) {
			entry_release(t, e, LEAVE_EVICTED);
			return pos;
		}
	}
	t->walk_failed = true;
	t->walk_failed_ms = now;
	return FLOW_IDX_NONE;
}

/* ---- API ------------------------------------------------------------------ */

static uint32_t round_pow2(uint32_t v)
{
	uint32_t p = FLOW_CAP_MIN;

	while (p < v)
		p <<= 1;
	return p;
}

static void *plain_alloc(size_t size, size_t align, void *arg)
{
	void *p;

	(void)arg;
	return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

static void plain_free(void *p, void *arg)
{
	(void)arg;
	free(p);
}

static const struct flow_mem plain_mem = {.alloc = plain_alloc, .free = plain_free};

static size_t header_size(void)
{
	return (sizeof(struct flow_table) + FLOW_CACHE_LINE - 1) & ~(size_t)(FLOW_CACHE_LINE - 1);
}

size_t flow_table_size(uint32_t capacity)
{
	size_t cap = round_pow2(capacity), nb = cap / 4; /* 2 bucket slots per entry */

	return header_size() + nb * sizeof(struct flow_bucket) + cap * sizeof(struct flow_entry) +
	       cap * 2 * sizeof(uint32_t) + nb * sizeof(uint32_t);
}

struct flow_table *flow_table_create(uint32_t capacity, const struct flow_timeouts *to,
				     flow_remove_fn on_remove, void *arg)
{
	return flow_table_create_mem(capacity, to, on_remove, arg, NULL);
}

/* <to> NULL means flow_timeouts_default(); <on_remove> may be NULL. */
struct flow_table *flow_table_create_mem(uint32_t capacity, const struct flow_timeouts *to,
					 flow_remove_fn on_remove, void *arg,
					 const struct flow_mem *from)
{
	struct flow_table *t;
	size_t hdr, nb, size;
	uint32_t cap;
	void *mem;

	if (capacity == 0 || capacity > FLOW_CAP_MAX)
		return NULL;
	if (from == NULL)
		from = &plain_mem;
	cap = round_pow2(capacity);
	nb = cap / 4;
	hdr = header_size();
	size = flow_table_size(capacity);
	mem = from->alloc(size, FLOW_CACHE_LINE, from->arg);
	if (mem == NULL)
		return NULL;

	/* Writing everything now also faults every page in before the data path runs. */
	memset(mem, 0, size);
	t = mem;
	t->buckets = (struct flow_bucket *)((uint8_t *)mem + hdr);
	t->entries = (struct flow_entry *)(t->buckets + nb);
	t->free_stack = (uint32_t *)(t->entries + cap);
	t->where = t->free_stack + cap;
	t->spill = t->where + cap;
	t->bucket_mask = (uint32_t)nb - 1;
	t->capacity = cap;
	if (to != NULL)
		t->to = *to;
	else
		flow_timeouts_default(&t->to);
	t->on_remove = on_remove;
	t->mem = *from;
	t->fn_arg = arg;
	for (size_t i = 0; i < nb; i++)
		memset(t->buckets[i].idx, 0xff, sizeof(t->buckets[i].idx));
	/* Pops hand out entries 0, 1, 2, ... so a young table stays compact. */
	for (uint32_t i = 0; i < cap; i++)
		t->free_stack[i] = cap - 1 - i;
	t->free_top = cap;
	return t;
}

void flow_table_free(struct flow_table *t)
{
	if (t != NULL)
		t->mem.free(t, t->mem.arg);
}

uint32_t flow_table_capacity(const struct flow_table *t)
{
	return t->capacity;
}

uint32_t flow_entry_index(const struct flow_table *t, const struct flow_entry *e)
{
	return (uint32_t)(e - t->entries);
}

const struct flow_entry *flow_table_entries(const struct flow_table *t)
{
	return t->entries;
}

uint32_t flow_table_count(const struct flow_table *t)
{
	return t->capacity - t->free_top;
}

void flow_table_set_timeouts(struct flow_table *t, const struct flow_timeouts *to)
{
	t->to = *to;
}

const struct flow_stats *flow_table_stats(const struct flow_table *t)
{
	return &t->stats;
}

struct flow_entry *flow_lookup(struct flow_table *t, const struct flow_key *k, uint32_t hash,
			       uint32_t now)
{
	return lookup_one(t, k, hash, now);
}

/*
 * Three passes per chunk so that memory latency overlaps: prefetch every
 * key's primary bucket; then look for its signature there and prefetch the
 * entry it names (or, for a key not there whose bucket has spilled, the
 * secondary bucket); then compare the keys, which are in cache by now. A
 * key whose first candidate is not it (a 32-bit hash collision) or that may
 * sit in its secondary takes the full lookup.
 */
void flow_lookup_bulk(struct flow_table *t, const struct flow_key *keys, const uint32_t *hashes,
		      uint32_t n, uint32_t now, struct flow_entry **out)
{
	uint32_t cand[FLOW_BULK_CHUNK];

	for (uint32_t base = 0; base < n; base += FLOW_BULK_CHUNK) {
		uint32_t m = n - base < FLOW_BULK_CHUNK ? n - base : FLOW_BULK_CHUNK;

		for (uint32_t i = 0; i < m; i++)
			__builtin_prefetch(&t->buckets[hashes[base + i] & t->bucket_mask], 0, 3);
		for (uint32_t i = 0; i < m; i++) {
			uint32_t h = hashes[base + i], b0 = h & t->bucket_mask;
			const struct flow_bucket *bk = &t->buckets[b0];
			uint32_t match = sig_match(bk, h);

			/* The first match in use (empty slots have signature 0). */
			while (match != 0 && bk->idx[__builtin_ctz(match)] == FLOW_IDX_NONE)
				match &= match - 1;
			if (match != 0) {
				cand[i] = bk->idx[__builtin_ctz(match)];
				__builtin_prefetch(&t->entries[cand[i]], 0, 3);
			} else {
				cand[i] = FLOW_IDX_NONE;
				if (t->spill[b0] != 0) {
					uint32_t b[2];

					buckets_of(t, h, b);
					__builtin_prefetch(&t->buckets[b[1]], 0, 3);
				}
			}
		}
		for (uint32_t i = 0; i < m; i++) {
			const struct flow_key *k = &keys[base + i];
			uint32_t h = hashes[base + i];
			struct flow_entry *e;

			if (cand[i] != FLOW_IDX_NONE) {
				e = &t->entries[cand[i]];
				/* in_use: an earlier key of the chunk (the same flow) may have
				   expired it. */
				if (e->in_use && key_eq(e, k)) {
					if (entry_expired(t, e, now)) {
						entry_release(t, e, LEAVE_EXPIRED);
						e = NULL;
					}
					out[base + i] = e;
					continue;
				}
			} else if (t->spill[h & t->bucket_mask] == 0) {
				out[base + i] = NULL;
				continue;
			}
			out[base + i] = lookup_one(t, k, h, now);
		}
	}
}

struct flow_entry *flow_insert(struct flow_table *t, const struct flow_key *k, uint32_t hash,
			       enum flow_state state, uint32_t now)
{
	struct flow_entry *e;
	uint32_t b[2], pos = FLOW_IDX_NONE, idx;

	if ((unsigned int)state >= FLOW_STATE_MAX)
		return NULL;
	/* The secondary bucket is derived only when the primary will not do. */
	b[0] = hash & t->bucket_mask;
	if (t->free_top > 0) {
		uint32_t n0, n1;
		int s0 = bucket_free_slot(&t->buckets[b[0]], &n0), s1;

		/*
		 * The primary while it has room to spare, so that lookups read one
		 * bucket line; past that the less loaded of the two, which keeps
		 * the table filling to its capacity.
		 */
		if (n0 > FLOW_PRIMARY_RESERVE) {
			pos = b[0] * FLOW_BUCKET_SLOTS + (uint32_t)s0;
		} else {
			buckets_of(t, hash, b);
			if ((s1 = bucket_free_slot(&t->buckets[b[1]], &n1)) >= 0 && n1 > n0)
				pos = b[1] * FLOW_BUCKET_SLOTS + (uint32_t)s1;
			else if (s0 >= 0)
				pos = b[0] * FLOW_BUCKET_SLOTS + (uint32_t)s0;
		}
	}
	if (pos == FLOW_IDX_NONE) {
		buckets_of(t, hash, b);
		pos = reclaim(t, b, now);
		if (pos == FLOW_IDX_NONE)
			pos = reclaim_elsewhere(t, b, now);
		if (pos == FLOW_IDX_NONE) {
			t->stats.insert_failed++;
			return NULL;
		}
	}

	idx = t->free_stack[--t->free_top];
	e = &t->entries[idx];
	/* A compound literal: a few inline stores, not a call to memset. */
	*e = (struct flow_entry){.key = *k, .last_seen = now, .state = (uint8_t)state, .in_use = 1};
	t->buckets[pos / FLOW_BUCKET_SLOTS].sig[pos % FLOW_BUCKET_SLOTS] = hash;
	t->buckets[pos / FLOW_BUCKET_SLOTS].idx[pos % FLOW_BUCKET_SLOTS] = idx;
	if (pos / FLOW_BUCKET_SLOTS != b[0]) {
		t->spill[b[0]]++;
		t->stats.spilled++;
	}
	t->where[idx] = pos;
	t->stats.inserted++;
	return e;
}

void flow_remove(struct flow_table *t, struct flow_entry *e)
{
	/* Tolerates a second remove of the same flow: a free entry is left alone. */
	if (e == NULL || !e->in_use)
		return;
	entry_release(t, e, LEAVE_REMOVED);
}

void flow_touch(struct flow_entry *e, uint8_t tcp_flags, uint32_t now)
{
	e->last_seen = now;
	switch (e->state) {
	case FLOW_UDP_NEW:
		e->state = FLOW_UDP_EST;
		return;
	case FLOW_UDP_EST:
		return;
	default:
		break;
	}
	if (tcp_flags & FLOW_TH_RST) {
		e->state = FLOW_TCP_CLOSED;
		return;
	}
	/* A bare SYN after FIN/RST is a new connection on a reused port. */
	if ((tcp_flags & (FLOW_TH_SYN | FLOW_TH_ACK)) == FLOW_TH_SYN) {
		if (e->state == FLOW_TCP_FIN || e->state == FLOW_TCP_CLOSED)
			e->state = FLOW_TCP_SYN;
		return;
	}
	/* FIN after RST keeps CLOSED: the connection is already gone, keep its short timeout. */
	if (tcp_flags & FLOW_TH_FIN) {
		if (e->state != FLOW_TCP_CLOSED)
			e->state = FLOW_TCP_FIN;
		return;
	}
	if (e->state == FLOW_TCP_SYN && (tcp_flags & (FLOW_TH_ACK | FLOW_TH_SYN)) == FLOW_TH_ACK)
		e->state = FLOW_TCP_EST;
}

uint32_t flow_sweep(struct flow_table *t, uint32_t now, uint32_t budget)
{
	return flow_sweep_visit(t, now, budget, NULL, NULL);
}

uint32_t flow_sweep_visit(struct flow_table *t, uint32_t now, uint32_t budget,
			  void (*visit)(struct flow_entry *e, void *arg), void *arg)
{
	uint32_t removed = 0, pos = t->sweep_pos;

	/* Each entry at most once per call, whatever the budget. */
	if (budget > t->capacity)
		budget = t->capacity;
	for (uint32_t n = 0; n < budget; n++) {
		struct flow_entry *e = &t->entries[pos];

		pos = (pos + 1) & (t->capacity - 1);
		if (e->in_use && entry_expired(t, e, now)) {
			entry_release(t, e, LEAVE_EXPIRED);
			removed++;
		} else if (e->in_use && visit != NULL) {
			visit(e, arg);
		}
	}
	t->sweep_pos = pos;
	return removed;
}

int flow_foreach(struct flow_table *t, int (*fn)(struct flow_entry *e, void *arg), void *arg)
{
	/* By index, so fn may flow_remove() the entry it is given. */
	for (uint32_t i = 0; i < t->capacity; i++) {
		struct flow_entry *e = &t->entries[i];
		int rc;

		if (!e->in_use)
			continue;
		rc = fn(e, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}
