/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI'16), weighted.
 *
 * Determinism: the table depends only on the backends' ids (bytes), weights
 * and order-independent of nothing else: two processes, on any machine and
 * byte order, given the same (id, weight) set in the same order build
 * byte-identical tables. (Order matters only for exact ties; callers pass
 * backends in a stable order, e.g. as configured.) The permutation of each
 * backend comes from a fixed 64-bit hash of its id (no random seed).
 *
 * Weighting is by turn frequency: in each round a backend accumulates its
 * weight and takes a turn (claims its next preferred free slot) for every
 * max-weight it has accumulated, so a backend with half the maximum weight
 * takes a turn every other round and ends with about half the entries.
 * With equal weights every backend gets floor(M/N) or ceil(M/N) entries.
 * Zero-weight backends get no entries.
 */
#ifndef SLUICE_MAGLEV_H
#define SLUICE_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAGLEV_DEFAULT_SIZE 65537u
#define MAGLEV_MAX_BACKENDS 65535u
#define MAGLEV_EMPTY        UINT16_MAX /* table entry when no backend has weight */

struct maglev_backend {
	const void *id; /* stable identity, e.g. "198.18.1.10:80" */
	size_t id_len;
	uint32_t weight; /* 0 = takes no entries */
};

bool maglev_is_prime(uint32_t m);

/* The fixed 64-bit hash used for permutations (exposed for tests/benchmarks). */
uint64_t maglev_hash64(const void *data, size_t len, uint64_t seed);

/*
 * Fills table[0..m) with backend indices in [0, n), or MAGLEV_EMPTY in every
 * entry when no backend has a non-zero weight. <m> must be prime and > n.
 * Uses scratch memory it allocates and frees itself (control path only).
 * Returns 0, -EINVAL (m not prime, m <= n, n > MAGLEV_MAX_BACKENDS) or -ENOMEM.
 */
int maglev_build(uint16_t *table, uint32_t m, const struct maglev_backend *b, uint32_t n);

/*
 * The same build in slices, for a thread that must stay responsive while a
 * large table is built (10-30 ms at m = 1048573): maglev_build_start()
 * checks and copies what it needs of <b> (which may be freed after it) and
 * allocates all the scratch memory; maglev_build_step() then fills <table>
 * for about *<budget> units of work (a unit is a probe of a slot or a visit
 * of a backend: a few ns), takes what it spent off *<budget>, and returns
 * true once the table is complete. The table
 * is byte-identical to maglev_build()'s, whatever the slices. Start returns
 * 0, -EINVAL or -ENOMEM as maglev_build() does (*out NULL on error); steps
 * cannot fail. maglev_build_free() takes NULL, and a build in any state.
 */
struct maglev_builder;

int maglev_build_start(struct maglev_builder **out, uint16_t *table, uint32_t m,
		       const struct maglev_backend *b, uint32_t n);
bool maglev_build_step(struct maglev_builder *bd, uint64_t *budget);
void maglev_build_free(struct maglev_builder *bd);

static inline uint16_t maglev_lookup(const uint16_t *table, uint32_t m, uint32_t hash)
{
	return table[hash % m];
}

#endif
