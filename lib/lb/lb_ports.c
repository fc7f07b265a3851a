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
 * The port clock: wall-clock milliseconds when the data plane gave them
 * (lb_worker_set_wall_clock), else milliseconds since the first allocation.
 * The 32-bit monotonic difference wraps after 49 days without a new
 * lb_worker_set_wall_clock(); the clock then steps back, which port_seq's
 * max() absorbs.
 */
static uint64_t port_clock_ms(struct lb_worker *w)
{
	if (!w->port_clock_set)
		lb_worker_set_wall_clock(w, 0, w->now_ms);
	return w->port_wall_ms + (uint32_t)(w->now_ms - w->port_mono_ms);
}

void lb_worker_set_wall_clock(struct lb_worker *w, uint64_t wall_ms, uint32_t now_ms)
{
	w->port_wall_ms = wall_ms;
	w->port_mono_ms = now_ms;
	w->port_clock_set = true;
}

/*
 * A free port of <laddr>. The search starts at the later of where the last
 * one ended and where the port clock points: the clock sweeps the lcore's
 * ports once every LB_PORT_CYCLE_MS, so while connections open no faster
 * than the clock moves, a port is handed out again only a full cycle after
 * it last was, whether this process handed it out or the one before a
 * restart did (which started at 1024 every time, and met the backends'
 * TIME_WAIT: their PAWS check refused about half of those SYNs). Faster
 * than that, ports come round sooner, as they must: add local addresses.
 * From the start, next-fit over the bitmap, so a port is reused only after
 * its flow is gone. Returns 0 when every port of this lcore is taken: at
 * once when the address is full (a flood of new flows then costs a counter
 * compare per address, not a scan), else after at most PORT_WORDS + 1 words.
 */
static uint16_t port_alloc(struct lb_worker *w, uint32_t laddr)
{
	uint64_t *map = &w->port_map[laddr * PORT_WORDS];
	uint32_t n_words = (w->port_count + 63) / 64, start, word;
	uint64_t clock, seq, free_bits;

	if (w->ports_used[laddr] >= w->port_count)
		return 0;
	clock = port_clock_ms(w) * w->port_count / LB_PORT_CYCLE_MS;
	seq = w->port_seq[laddr] > clock ? w->port_seq[laddr] : clock;
	start = (uint32_t)(seq % w->port_count);
	word = start / 64;
	free_bits = ~map[word] & (~0ull << (start % 64));
	for (uint32_t k = 0; k <= n_words; k++) {
		if (free_bits != 0) {
			uint32_t i = word * 64 + (uint32_t)__builtin_ctzll(free_bits);

			map[word] |= 1ull << (i % 64);
			w->ports_used[laddr]++;
			/* Bits past port_count are set: i < port_count. */
			w->port_seq[laddr] = seq + (i + w->port_count - start) % w->port_count + 1;
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
uint16_t ports_vip_alloc(struct lb_worker *w, const struct lb_snap_vip *v, uint32_t hash,
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
