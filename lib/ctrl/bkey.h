/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A lookup table from a backend's identity (VIP name, address, port) to its
 * index in the caller's array, so that matching the data plane's list against
 * the daemon's backends is O(backends), not O(backends^2), with thousands of
 * backends. Open addressing, linear probing; the caller's eq() settles hash
 * collisions.
 */
#ifndef SLUICE_BKEY_H
#define SLUICE_BKEY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "sl_addr.h"

struct bkey_tab {
	uint64_t *hash; /* 0: empty */
	uint32_t *idx;
	size_t cap; /* a power of two, at least twice the entries */
};

static inline uint64_t bkey_hash(const char *vip, const struct sl_addr *a, uint16_t port)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *vip; vip++)
		h = (h ^ (uint8_t)*vip) * 0x100000001b3ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ a->b[i]) * 0x100000001b3ull;
	h = (h ^ (port & 0xff)) * 0x100000001b3ull;
	h = (h ^ (port >> 8)) * 0x100000001b3ull;
	return h ? h : 1;
}

/* Room for <n> entries; 0 or -ENOMEM. */
static inline int bkey_init(struct bkey_tab *t, size_t n)
{
	t->cap = 16;
	while (t->cap < 2 * n)
		t->cap *= 2;
	t->hash = calloc(t->cap, sizeof(*t->hash));
	t->idx = calloc(t->cap, sizeof(*t->idx));
	if (t->hash == NULL || t->idx == NULL) {
		free(t->hash);
		free(t->idx);
		t->hash = NULL;
		t->idx = NULL;
		return -12;
	}
	return 0;
}

static inline void bkey_free(struct bkey_tab *t)
{
	free(t->hash);
	free(t->idx);
	t->hash = NULL;
	t->idx = NULL;
	t->cap = 0;
}

static inline void bkey_put(struct bkey_tab *t, uint64_t h, uint32_t idx)
{
	size_t i = h & (t->cap - 1);
	while (t->hash[i] != 0)
		i = (i + 1) & (t->cap - 1);
	t->hash[i] = h;
	t->idx[i] = idx;
}

/* The index whose hash is <h> and for which eq(idx, ctx) holds, or -1. */
static inline int64_t bkey_find(const struct bkey_tab *t, uint64_t h,
				bool (*eq)(uint32_t idx, const void *ctx), const void *ctx)
{
	if (t->cap == 0)
		return -1;
	for (size_t i = h & (t->cap - 1); t->hash[i] != 0; i = (i + 1) & (t->cap - 1))
		if (t->hash[i] == h && eq(t->idx[i], ctx))
			return t->idx[i];
	return -1;
}

#endif
