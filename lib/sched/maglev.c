/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Weighted Maglev table build (see maglev.h for the contract).
 *
 * Determinism is the point of this file: two nodes behind the same ECMP
 * group must build byte-identical tables from the same pool. So the hash
 * reads its input byte by byte as little-endian words, uses only fixed
 * seeds, and the build uses integer arithmetic only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

/* Odd 64-bit multipliers with well-mixed bits (2^64/phi and two primes). */
#define HASH_K1 0x9e3779b97f4a7c15ull
#define HASH_K2 0xc2b2ae3d27d4eb4full
#define HASH_K3 0x165667b19e3779f9ull

/*
 * Seeds for the two hashes of a backend id: offset (first preferred slot)
 * and skip (stride through the table). Changing either changes every table:
 * the golden test in tests/unit/test_maglev.c will say so.
 */
#define SEED_OFFSET 0x736c756963652d6full /* "sluice-o" */
#define SEED_SKIP   0x736c756963652d73ull /* "sluice-s" */

bool maglev_is_prime(uint32_t m)
{
	if (m < 2)
		return false;
	if (m < 4)
		return true;
	if (m % 2 == 0 || m % 3 == 0)
		return false;
	/* Every prime > 3 is 6k +- 1; 64-bit square avoids overflow near 2^32. */
	for (uint64_t d = 5; d * d <= m; d += 6)
		if (m % d == 0 || m % (d + 2) == 0)
			return false;
	return true;
}

static inline uint64_t rotl64(uint64_t x, unsigned int r)
{
	return (x << r) | (x >> (64 - r));
}

/* Little-endian load of 1..8 bytes, independent of the host byte order. */
static inline uint64_t load_le(const uint8_t *p, size_t len)
{
	uint64_t v = 0;

	for (size_t i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Absorbs one 64-bit word: multiply-rotate-multiply, then fold into h. */
static inline uint64_t absorb(uint64_t h, uint64_t k)
{
	k *= HASH_K2;
	k = rotl64(k, 31);
	k *= HASH_K1;
	h ^= k;
	return rotl64(h, 27) * 5 + HASH_K3;
}

/* Final avalanche so every input bit affects every output bit. */
static inline uint64_t finalize(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

/*
 * Not cryptographic: ids are operator-chosen, so resistance to crafted
 * collisions is not needed, only a good spread and a fixed definition. The
 * length is mixed in first so inputs that differ only by trailing zero
 * bytes hash differently.
 */
uint64_t maglev_hash64(const void *data, size_t len, uint64_t seed)
{
	const uint8_t *p = data;
	uint64_t h = (seed ^ HASH_K3) + (uint64_t)len * HASH_K1;

	for (; len >= 8; p += 8, len -= 8)
		h = absorb(h, load_le(p, 8));
	if (len > 0)
		h = absorb(h, load_le(p, len));
	return finalize(h);
}

/* Build state of one backend with a non-zero weight. */
struct mg_turn {
	uint64_t acc;      /* weight accumulated towards the next turn, < wmax between rounds */
	uint32_t weight;   /* in [1, wmax] */
	uint32_t pos;      /* next slot of its permutation to try */
	uint32_t skip;     /* permutation stride, in [1, m) so coprime with prime m */
	uint32_t inv_skip; /* skip^-1 mod m, computed on first use in the endgame; 0 = not yet */
	uint16_t idx;      /* backend index written into the table */
};

/*
 * When this few slots are left free the build switches from walking
 * permutations to scanning the free slots (see claim_endgame()). Walking
 * costs about m / free probes per turn, scanning about free; more than half
 * of all probes of a plain walk fall in the last 1% of the table. 128 was
 * the best of 32..1024 at m = 65537, n = 1000 (0.91 -> 0.76 ms).
 */
#ifndef MAGLEV_ENDGAME_FREE
#define MAGLEV_ENDGAME_FREE 128u
#endif

/*
 * fill_rounds() is used while it visits at most this many backends per turn
 * on average, fill_heap() beyond. A visit costs about a cycle, a heap turn
 * about a hundred: measured crossover near 100 visits at n = 1000.
 */
#ifndef MAGLEV_ROUNDS_MAX_VISITS
#define MAGLEV_ROUNDS_MAX_VISITS 64u
#endif

_Static_assert(MAGLEV_ENDGAME_FREE >= 1, "the endgame must cover the last free slot");

/* Which loop takes the turns (both give the same table, see maglev_build_start()). */
enum mg_order { MG_ROUNDS, MG_HEAP };

/*
 * The whole state of a build, so that it can stop after any turn and go on
 * later (maglev_build_step()): the same turns in the same order, whatever
 * the slices, hence the same table as one uninterrupted build.
 */
struct maglev_builder {
	uint16_t *table;
	uint64_t *used; /* bit per slot: claimed */
	uint32_t *free; /* endgame only: the unclaimed slots, unordered */
	uint32_t nfree; /* entries in free[] */
	uint32_t m;
	uint32_t filled;     /* slots claimed so far */
	uint32_t endgame_at; /* filled count at which claim_endgame() takes over */
	uint32_t wmax;       /* largest weight: the cost of one turn */
	bool done;
	enum mg_order order;
	struct mg_turn *turn; /* the backends with a non-zero weight, in backend order */
	uint32_t nturn;
	uint32_t k;      /* fill_rounds(): the backend whose visit comes next */
	uint64_t *heap;  /* fill_heap(): (round << 32 | k) keys, a min-heap */
	uint32_t len;    /* fill_heap(): keys in heap[] */
	uint64_t work;   /* probes and visits in this slice */
	uint64_t budget; /* ... at which the slice ends */
};

/* (pos + skip) % m for pos, skip < m, without overflow even for m near 2^32. */
static inline uint32_t step(uint32_t pos, uint32_t skip, uint32_t m)
{
	return pos >= m - skip ? pos - (m - skip) : pos + skip;
}

static inline bool bit_test(const uint64_t *bits, uint32_t i)
{
	return (bits[i >> 6] >> (i & 63)) & 1;
}

static inline void bit_set(uint64_t *bits, uint32_t i)
{
	bits[i >> 6] |= 1ull << (i & 63);
}

/* a^-1 mod m for prime m and 0 < a < m (extended Euclid). */
static uint32_t mod_inverse(uint32_t a, uint32_t m)
{
	int64_t t0 = 0, t1 = 1;
	uint32_t r0 = m, r1 = a;

	while (r1 != 0) {
		uint32_t q = r0 / r1, r = r0 - q * r1;
		int64_t t = t0 - (int64_t)q * t1;

		r0 = r1;
		r1 = r;
		t0 = t1;
		t1 = t;
	}
	return (uint32_t)(t0 < 0 ? t0 + m : t0);
}

/* The first unclaimed slot of <t>'s permutation from t->pos on, by walking it. */
static inline uint32_t claim_walk(struct maglev_builder *bd, const struct mg_turn *t)
{
	uint32_t pos = t->pos;

	while (bit_test(bd->used, pos)) {
		pos = step(pos, t->skip, bd->m);
		bd->work++;
	}
	return pos;
}

/*
 * Same slot as claim_walk(), found from the other side: free slot s lies
 * d = (s - pos) * skip^-1 mod m steps ahead in the permutation, and the walk
 * would stop at the free slot with the smallest d. Exact integer arithmetic,
 * so the table does not depend on which of the two finds a slot. Distinct
 * slots lie at distinct d, so the order of free[] does not matter either.
 */
static uint32_t claim_endgame(struct maglev_builder *bd, struct mg_turn *t)
{
	const uint32_t m = bd->m, pos = t->pos;
	uint32_t best = 0, best_d = UINT32_MAX, slot;

	if (t->inv_skip == 0)
		t->inv_skip = mod_inverse(t->skip, m);
	for (uint32_t k = 0; k < bd->nfree; k++) {
		uint32_t s = bd->free[k];
		uint32_t diff = s >= pos ? s - pos : s + (m - pos);
		uint32_t d = (uint32_t)((uint64_t)diff * t->inv_skip % m);

		if (d < best_d) {
			best_d = d;
			best = k;
		}
	}
	bd->work += bd->nfree;
	/*
	 * nfree >= 1: a turn is taken only while the table is not full, and
	 * free[] lists every unclaimed slot (the analyzer assumes it empty).
	 */
	slot = bd->free[best];                  // NOLINT(clang-analyzer-core.uninitialized.Assign)
	bd->free[best] = bd->free[--bd->nfree]; // NOLINT(clang-analyzer-core.uninitialized.Assign)
	return slot;
}

/* Lists the unclaimed slots once, on entering the endgame: a word at a time. */
static void list_free(struct maglev_builder *bd)
{
	const uint32_t words = (bd->m + 63) / 64;

	bd->nfree = 0;
	for (uint32_t w = 0; w < words; w++) {
		for (uint64_t x = ~bd->used[w]; x != 0; x &= x - 1) {
			uint32_t s = w * 64 + (uint32_t)__builtin_ctzll(x);

			if (s >= bd->m)
				break;
			bd->free[bd->nfree++] = s;
		}
	}
	bd->work += words;
}

/*
 * One turn of backend <t>: claim its next preferred free slot. Returns true
 * once the table is full. A turn always finds a free slot while one is
 * left, since the permutation of a prime m visits every slot.
 */
static inline bool take_turn(struct maglev_builder *bd, struct mg_turn *t)
{
	uint32_t pos;

	if (bd->filled < bd->endgame_at) {
		pos = claim_walk(bd, t);
	} else {
		if (bd->filled == bd->endgame_at)
			list_free(bd);
		pos = claim_endgame(bd, t);
	}
	bit_set(bd->used, pos);
	bd->table[pos] = t->idx;
	t->pos = step(pos, t->skip, bd->m);
	bd->work++;
	return ++bd->filled == bd->m;
}

/*
 * The turn order (maglev.h): rounds in backend order; in each round a
 * backend adds its weight to acc and takes a turn if acc >= wmax, paying
 * wmax. Since weight <= wmax that is at most one turn per round, and the
 * heaviest backends take one every round, so the table is full after at
 * most m rounds. This is the literal loop, cheap when most backends take a
 * turn in most rounds (weights of similar size). Returns true once the
 * table is full, false when the slice's budget is spent first (bd->k says
 * where the next slice goes on).
 */
static bool fill_rounds(struct maglev_builder *bd)
{
	while (bd->work < bd->budget) {
		struct mg_turn *t = &bd->turn[bd->k];

		bd->k = bd->k + 1 == bd->nturn ? 0 : bd->k + 1;
		bd->work++;
		t->acc += t->weight;
		if (t->acc < bd->wmax)
			continue;
		t->acc -= bd->wmax;
		if (take_turn(bd, t))
			return true;
	}
	return false;
}

/*
 * Rounds until the next turn of <t> and the acc it leaves: the smallest d
 * with acc + d * weight >= wmax. acc < wmax, so d >= 1; no overflow since
 * d * weight < wmax + weight <= 2^33.
 */
static inline uint64_t next_turn(struct mg_turn *t, uint32_t wmax)
{
	uint64_t d = (wmax - t->acc + t->weight - 1) / t->weight;

	t->acc = t->acc + d * t->weight - wmax;
	return d;
}

/* Min-heap of (round << 32 | k) keys: earliest round first, then backend order. */
static void heap_sift_down(uint64_t *heap, uint32_t len, uint32_t i)
{
	uint64_t key = heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= len)
			break;
		if (c + 1 < len && heap[c + 1] < heap[c])
			c++;
		if (key <= heap[c])
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = key;
}

/* Queues every backend's first turn (fill_heap()). */
static void heap_init(struct maglev_builder *bd)
{
	bd->len = 0;
	for (uint32_t k = 0; k < bd->nturn; k++) {
		uint64_t round = next_turn(&bd->turn[k], bd->wmax);

		if (round <= bd->m)
			bd->heap[bd->len++] = round << 32 | k;
	}
	for (uint32_t i = bd->len / 2; i-- > 0;)
		heap_sift_down(bd->heap, bd->len, i);
}

/*
 * The same turn order as fill_rounds(), for uneven weights where most
 * backends sit out most rounds (say one of weight 10^6 among a thousand of
 * weight 1): turns are taken from a heap keyed by (round, backend order)
 * instead of visiting every backend in every round, so the cost is
 * O(m log n) whatever the weights. Rounds past m are never reached (see
 * fill_rounds()) and are not queued, which also keeps rounds in 32 bits.
 * Returns as fill_rounds() does; the heap is the state between slices.
 */
static bool fill_heap(struct maglev_builder *bd)
{
	/* Never empty before the table is full: the heaviest backends always requeue. */
	while (bd->len > 0 && bd->work < bd->budget) {
		uint64_t *heap = bd->heap;
		uint64_t round = heap[0] >> 32;
		uint32_t k = (uint32_t)heap[0];

		if (take_turn(bd, &bd->turn[k]))
			return true;
		round += next_turn(&bd->turn[k], bd->wmax);
		if (round <= bd->m)
			heap[0] = round << 32 | k;
		else
			heap[0] = heap[--bd->len];
		heap_sift_down(heap, bd->len, 0);
	}
	return bd->len == 0;
}

void maglev_build_free(struct maglev_builder *bd)
{
	if (bd == NULL)
		return;
	free(bd->heap);
	free(bd->free);
	free(bd->used);
	free(bd->turn);
	free(bd);
}

/* Every backend with a non-zero weight, with its permutation (offset and skip). */
static void turns_init(struct maglev_builder *bd, const struct maglev_backend *b, uint32_t n)
{
	const uint32_t m = bd->m;

	bd->nturn = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct mg_turn *t;

		if (b[i].weight == 0)
			continue;
		t = &bd->turn[bd->nturn++];
		t->acc = 0;
		t->weight = b[i].weight;
		t->pos = (uint32_t)(maglev_hash64(b[i].id, b[i].id_len, SEED_OFFSET) % m);
		t->skip = (uint32_t)(maglev_hash64(b[i].id, b[i].id_len, SEED_SKIP) % (m - 1)) + 1;
		t->inv_skip = 0;
		t->idx = (uint16_t)i;
	}
}

/*
 * Occupancy is tracked in a bitmap (8 KiB for m = 65537, L1 resident)
 * rather than by reading the table: most of the build is probing
 * already-claimed slots, and the bitmap keeps those probes cache hits.
 *
 * Cost: about m * ln(m / MAGLEV_ENDGAME_FREE) probes, plus
 * MAGLEV_ENDGAME_FREE^2 / 2 in the endgame, plus the turn order: about one
 * step per backend per round, or log2(n) per turn for uneven weights.
 * About 0.8 ms for m = 65537, n = 1000 on a 2.6 GHz EPYC (test_maglev
 * prints it).
 */
int maglev_build_start(struct maglev_builder **out, uint16_t *table, uint32_t m,
		       const struct maglev_backend *b, uint32_t n)
{
	struct maglev_builder *bd;
	uint64_t wsum = 0;

	*out = NULL;
	if (table == NULL || (n > 0 && b == NULL))
		return -EINVAL;
	if (n > MAGLEV_MAX_BACKENDS || m <= n || !maglev_is_prime(m))
		return -EINVAL;
	bd = calloc(1, sizeof(*bd));
	if (bd == NULL)
		return -ENOMEM;
	bd->table = table;
	bd->m = m;
	for (uint32_t i = 0; i < n; i++) {
		wsum += b[i].weight;
		if (b[i].weight > bd->wmax)
			bd->wmax = b[i].weight;
	}
	*out = bd;
	if (bd->wmax == 0) {
		for (uint32_t s = 0; s < m; s++)
			table[s] = MAGLEV_EMPTY;
		bd->done = true;
		return 0;
	}

	bd->endgame_at = m > MAGLEV_ENDGAME_FREE ? m - MAGLEV_ENDGAME_FREE : 0;
	bd->turn = calloc(n, sizeof(*bd->turn));
	bd->used = calloc(((size_t)m + 63) / 64, sizeof(*bd->used));
	bd->free = malloc(sizeof(*bd->free) * (m - bd->endgame_at));
	if (bd->turn == NULL || bd->used == NULL || bd->free == NULL)
		goto nomem;
	turns_init(bd, b, n);

	/*
	 * Both orders give the same table. The plain loop visits nturn
	 * backends per round for about wsum / wmax turns; past a few visits
	 * per turn the heap is cheaper.
	 */
	bd->order = (uint64_t)bd->nturn * bd->wmax <= MAGLEV_ROUNDS_MAX_VISITS * wsum ? MG_ROUNDS
										      : MG_HEAP;
	if (bd->order == MG_HEAP) {
		bd->heap = malloc(sizeof(*bd->heap) * bd->nturn);
		if (bd->heap == NULL)
			goto nomem;
		heap_init(bd);
	}
	return 0;
nomem:
	maglev_build_free(bd);
	*out = NULL;
	return -ENOMEM;
}

bool maglev_build_step(struct maglev_builder *bd, uint64_t *budget)
{
	if (bd->done)
		return true;
	bd->work = 0;
	bd->budget = *budget;
	bd->done = bd->order == MG_ROUNDS ? fill_rounds(bd) : fill_heap(bd);
	/* A turn may take a little more than what was left: it is not split. */
	*budget -= bd->work < *budget ? bd->work : *budget;
	return bd->done;
}

int maglev_build(uint16_t *table, uint32_t m, const struct maglev_backend *b, uint32_t n)
{
	struct maglev_builder *bd;
	int rc = maglev_build_start(&bd, table, m, b, n);

	if (rc < 0)
		return rc;
	uint64_t budget = UINT64_MAX;

	maglev_build_step(bd, &budget);
	maglev_build_free(bd);
	return 0;
}
