/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Full-NAT source ports: per lcore (a reply's destination port says which
 * lcore owns its flow) and per local address; no lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "lb_stage.h"

#define PORT_FIRST 1024 /* below are the well-known ports: never used as source */
#define PORT_WORDS 1008 /* (65536 - PORT_FIRST) / 64: one lcore's bitmap of one address */

/*
 * This lcore's source ports are p = port_base + i * n_workers for
 * i < port_count (p % n_workers == index, so a reply tells its owner). The
 * bitmap of one local address is indexed by i, so a 64-bit word holds 64 of
 * this lcore's ports whatever n_workers is, and a free one is found a word
 * at a time. Bits past port_count are set once, as if used. Allocates the
 * bitmaps (freed with the worker); returns 0 or -ENOMEM.
 */
int ports_init(struct lb_worker *w)
{
	uint32_t n = w->n_workers;

	w->port_map = calloc((size_t)LB_MAX_LADDRS * PORT_WORDS, sizeof(uint64_t));
	if (w->port_map == NULL)
		return -ENOMEM;
	w->port_base = PORT_FIRST + (w->index + n - PORT_FIRST % n) % n;
	w->port_count = (65535 - w->port_base) / n + 1;
	for (uint32_t l = 0; l < LB_MAX_LADDRS; l++)
		for (uint32_t i = w->port_count; i < PORT_WORDS * 64; i++)
			w->port_map[l * PORT_WORDS + i / 64] |= 1ull << (i % 64);
	return 0;
}

/*
 * A free port of <laddr>. Next-fit from the last port handed out, so a port
 * is reused only after its flow is gone, and as late as possible. Returns 0
 * when every port of this lcore is taken: at once when the address is full
 * (a flood of new flows then costs a counter compare per address, not a
 * scan), else after at most PORT_WORDS + 1 words.
 */
static uint16_t port_alloc(struct lb_worker *w, uint32_t laddr)
{
	uint64_t *map = &w->port_map[laddr * PORT_WORDS];
	uint32_t n_words = (w->port_count + 63) / 64;
	uint32_t i = w->port_cursor[laddr], word = i / 64;
	uint64_t free_bits = ~map[word] & (~0ull << (i % 64));

	if (w->ports_used[laddr] >= w->port_count)
		return 0;
	for (uint32_t k = 0; k <= n_words; k++) {
		if (free_bits != 0) {
			i = word * 64 + (uint32_t)__builtin_ctzll(free_bits);
			map[word] |= 1ull << (i % 64);
			w->ports_used[laddr]++;
			w->port_cursor[laddr] = (uint16_t)(i + 1 < w->port_count ? i + 1 : 0);
			return (uint16_t)(w->port_base + i * w->n_workers);
		}
		word = word + 1 < n_words ? word + 1 : 0;
		free_bits = ~map[word];
	}
	return 0; /* not reached while ports_used is right */
}

void port_free(struct lb_worker *w, uint32_t laddr, uint32_t port)
{
	uint32_t i = (port - w->port_base) / w->n_workers;
	uint64_t *word = &w->port_map[laddr * PORT_WORDS + i / 64], bit = 1ull << (i % 64);

	if (port < w->port_base || i >= w->port_count || !(*word & bit))
		return;
	*word &= ~bit;
	w->ports_used[laddr]--;
}

/* A source port on one of <v>'s local addresses (from the one <hash> picks, on); 0: none. */
uint16_t ports_vip_alloc(struct lb_worker *w, const struct lb_vip_rt *v, uint32_t hash,
			 uint32_t *laddr)
{
	for (uint32_t i = 0; i < v->n_laddrs; i++) {
		uint16_t port = port_alloc(w, v->laddr[(hash + i) % v->n_laddrs]);
		if (port != 0) {
			*laddr = v->laddr[(hash + i) % v->n_laddrs];
			return port;
		}
	}
	return 0;
}
