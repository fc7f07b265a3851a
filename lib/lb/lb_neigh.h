/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Neighbour resolution: which MAC each backend's next hop has, learnt by
 * ARP / IPv6 neighbour discovery or given in the configuration.
 *
 * Three parts, one per owner:
 *
 *  - the workers' table (struct lb_neigh_table): one 64-bit word per slot,
 *    the only thing a worker reads;
 *  - the entries and their state machine (here, run by the management
 *    thread with its clock): which slots are used, by how many backends,
 *    what is known and when to ask again;
 *  - the I/O, in the data plane (dataplane/neigh_io.c): it sends what
 *    lb_neigh_run() says is due (frames: lb_build_neigh_request) and feeds
 *    what it hears (lb_parse_neigh_reply) to lb_neigh_heard(), both through
 *    the model's lb_neigh_due() and lb_neigh_learn().
 *
 * The entries know nothing of VIPs or backends: a change of usability is
 * reported through a callback, and the model (lb_model.c) rebuilds the pools
 * of the backends behind that slot. Nothing here is thread-safe except the
 * table's words, stored with release semantics.
 */
#ifndef SLUICE_LB_NEIGH_H
#define SLUICE_LB_NEIGH_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sl_addr.h"
#include "sl_types.h"

#define LB_MAX_NEIGH CONF_MAX_BACKENDS /* one per backend at most */

/*
 * The workers' table: one word per neighbour slot, written by the
 * management thread and read by workers with a single aligned load, so a
 * worker never sees half a MAC. Bit 63 = valid; bits 0..47 = MAC bytes
 * 0..5 (byte i at bits 8*i).
 */
struct lb_neigh_table {
	uint64_t word[LB_MAX_NEIGH];
};

#define LB_NEIGH_VALID (1ull << 63)

static inline uint64_t lb_neigh_pack(const uint8_t mac[6])
{
	uint64_t w = LB_NEIGH_VALID;
	for (int i = 0; i < 6; i++)
		w |= (uint64_t)mac[i] << (8 * i);
	return w;
}

static inline void lb_neigh_unpack(uint64_t w, uint8_t mac[6])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/*
	 * Byte i is at bits 8*i already: two stores, from the register (a
	 * 6-byte memcpy of <w> went through the stack: 4 instructions, not 3).
	 */
	uint32_t lo = (uint32_t)w;
	uint16_t hi = (uint16_t)(w >> 32);

	memcpy(mac, &lo, 4);
	memcpy(mac + 4, &hi, 2);
#else
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(w >> (8 * i));
#endif
}

enum lb_neigh_state {
	LB_NEIGH_NONE = 0,   /* slot unused */
	LB_NEIGH_INCOMPLETE, /* no MAC yet: requests sent every retry interval */
	LB_NEIGH_REACHABLE,  /* MAC confirmed within the reachable time */
	LB_NEIGH_PROBE,      /* reachable time passed: MAC still used, re-asking */
	LB_NEIGH_STATIC,     /* MAC from the configuration */
	LB_NEIGH_STATE_MAX
};

/* "none" "incomplete" "reachable" "probe" "static"; "?" out of range. */
const char *lb_neigh_state_name(enum lb_neigh_state s);

/* How many unanswered probes turn PROBE into INCOMPLETE (MAC withdrawn). */
#define LB_NEIGH_MAX_PROBES 3

/* One neighbour: an address behind a port. The entries are an array of LB_MAX_NEIGH. */
struct lb_model_neigh {
	uint32_t refs; /* backends using it; 0 = slot unused */
	struct sl_addr addr;
	uint16_t port;
	uint8_t state; /* enum lb_neigh_state */
	uint8_t probes;
	uint8_t mac[6];
	uint64_t confirmed_ms; /* last time the MAC was confirmed */
	uint64_t next_tx_ms;   /* next time a request is due */
};

/* Its MAC may be used: new flows may go to the backends behind it. */
bool lb_neigh_usable(const struct lb_model_neigh *n);

/*
 * Takes a reference on the entry for <a> behind <port>, sharing one that
 * resolves it already, or a new one: resolved from now on (asked at once),
 * or, with <static_mac>, that MAC for good. A static MAC always gets an
 * entry of its own, so what is learnt never overrides it. Returns the slot,
 * or -ENOSPC when every slot is used.
 */
int lb_neigh_ref(struct lb_model_neigh *set, const struct sl_addr *a, uint16_t port,
		 const uint8_t *static_mac);
/* Drops a reference; at 0 the slot is freed by the next lb_neigh_run(). */
void lb_neigh_unref(struct lb_model_neigh *set, uint32_t slot);

/* Called with a slot whose entry became usable or stopped being. */
typedef void lb_neigh_changed_fn(void *arg, uint32_t slot);

/*
 * Advances every entry to <now_ms>: a MAC not confirmed for <reachable_ms>
 * is asked again while still used (PROBE), and withdrawn after
 * LB_NEIGH_MAX_PROBES unanswered requests (INCOMPLETE); an unresolved entry
 * is asked every <retry_ms>. Fills <slots> with up to <max> entries whose
 * request is due now (the caller sends them) and returns how many. Writes
 * the workers' table <t>: a slot's word is cleared one run after its last
 * reference went, as the snapshot still using it may run until then.
 */
uint32_t lb_neigh_run(struct lb_model_neigh *set, struct lb_neigh_table *t, uint64_t now_ms,
		      uint32_t reachable_ms, uint32_t retry_ms, uint32_t *slots, uint32_t max,
		      lb_neigh_changed_fn *changed, void *arg);

/*
 * Records <mac> heard for <addr> on <port> (ARP reply or request, neighbour
 * advertisement): every used, non-static entry for it becomes REACHABLE and
 * its word is written to <t>. Returns the number of entries updated.
 */
uint32_t lb_neigh_heard(struct lb_model_neigh *set, struct lb_neigh_table *t, uint16_t port,
			const struct sl_addr *addr, const uint8_t mac[6], uint64_t now_ms,
			lb_neigh_changed_fn *changed, void *arg);

#endif
