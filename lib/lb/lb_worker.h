/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-packet pipeline of one worker lcore, on plain byte buffers:
 * parse -> VIP lookup -> flow lookup (bulk) -> schedule on miss -> rewrite,
 * plus the answers Sluice gives itself (ARP and neighbour solicitations for
 * VIPs and port addresses, ICMP echo to VIPs). The DPDK glue turns mbufs into
 * struct lb_pkt and acts on the verdicts; unit tests and benchmarks call the
 * same code with no EAL.
 *
 * Per packet: no locks, no allocation, no syscalls, no logging, no atomics.
 */
#ifndef SLUICE_LB_WORKER_H
#define SLUICE_LB_WORKER_H

#include <stdint.h>

#include "flow.h"
#include "lb.h"

#define LB_BURST_MAX 64

/* Transmit checksum offload requests (lb_pkt.tx_offload). */
#define LB_TX_IPV4_CSUM 0x01 /* IPv4: the NIC computes the header checksum */
#define LB_TX_IPV6      0x02
#define LB_TX_TCP_CSUM  0x04
#define LB_TX_UDP_CSUM  0x08
/* Connect-failure redispatch: memory of failed backends per client flow. */
#define LB_REDISPATCH_SLOTS 256
#define LB_REDISPATCH_MS    3000 /* a client retries a SYN after 1 s, then 3 s */
#define LB_REDISPATCH_MAX   3    /* backends tried per connection, then failures pass */
#define LB_SYN_RETRY_MS     700  /* a SYN again this long after the first: no answer */
/*
 * Held SYNs (fnat/nat with redispatch): a copy of each new connection's
 * SYN, kept until the backend answers, so that a refusal or silence sends
 * it to another backend at once rather than when the client retries (1 s
 * later, then 3 s). In one of the LB_SYN_HOLD_PROBE slots from its flow
 * hash's: only when all four are taken does a newer connection take an
 * older one's place, which then waits for its client's retry as before.
 */
#define LB_SYN_HOLD_SLOTS 1024
#define LB_SYN_HOLD_PROBE 4   /* slots from its hash's a SYN may take */
#define LB_SYN_HOLD_BYTES 192 /* a SYN with every option, VLAN tag and IPv6 header fits */
#define LB_RESEND_MAX     16  /* held SYNs re-sent per lb_worker_resend() call, at most */

struct lb_syn_hold {
	struct flow_key key; /* the client's flow */
	uint32_t hash;       /* its flow hash */
	uint32_t due;        /* ms: re-sent then unless answered; 0 = only on a refusal */
	uint16_t len;        /* 0 = slot empty */
	uint16_t in_port;
	uint8_t frame[LB_SYN_HOLD_BYTES];
};

enum lb_verdict {
	LB_VERDICT_TX = 0,  /* send out of pkt->out_port (data possibly rewritten) */
	LB_VERDICT_DROP,    /* free it; the reason is in pkt->drop and already counted */
	LB_VERDICT_MGMT,    /* hand to the management thread (ARP reply, NA) */
	LB_VERDICT_HANDOFF, /* pass to worker pkt->out_port, which owns the flow (fnat/nat) */
	LB_VERDICT_KERNEL,  /* not ours: to the kernel through the in port's exception path */
};

/* What the receiving port's checksum offload found (lb_pkt.rx_csum). */
enum lb_rx_csum {
	LB_RX_CSUM_UNKNOWN = 0, /* not checked: a packet that would create a flow is */
	LB_RX_CSUM_IP_GOOD,     /* the IPv4 header's checksum is right */
	LB_RX_CSUM_BAD,         /* the IPv4 header's or the TCP/UDP checksum is wrong: dropped */
};

struct lb_pkt {
	uint8_t *data;
	uint16_t len; /* frame length; may change (answers built in place) */
	uint16_t cap; /* bytes writable from data */
	uint16_t in_port;
	uint16_t out_port;  /* LB_VERDICT_TX */
	uint8_t verdict;    /* enum lb_verdict */
	uint8_t drop;       /* enum lb_drop */
	uint8_t nonlinear;  /* in: the frame continues past <len> (chained buffers) */
	uint8_t handed;     /* in: handed over by another lcore; never passed on again */
	uint8_t rx_csum;    /* in: enum lb_rx_csum, what the port found of the checksums */
	uint16_t headroom;  /* in: bytes writable before data (tunnel: outer header) */
	uint8_t answer;     /* out: an answer built in place (counted as replied) */
	uint8_t tx_offload; /* out: LB_TX_* checksums the NIC must compute */
	uint16_t l2_len;    /* out, with tx_offload: header lengths for the NIC */
	uint16_t l3_len;
};

/*
 * Per-flow state of full-NAT and NAT connections, in a side table indexed by
 * flow entry (flow_entry_index; ext_of()), so DSR flows do not pay for it. A NAT
 * connection is two flow entries: the client's (forward) and the backend's
 * replies (reverse), each pointing at the other; they live and die together.
 */
/*
 * What a translation does to the checksums, computed once per connection
 * (RFC 1624): the one's-complement sum of ~old + new over every 16-bit word
 * it rewrites, for the IPv4 header (the TTL's decrement included) and for
 * the TCP/UDP checksum (the pseudo-header's addresses, and the ports). A
 * packet's checksum then takes one addition each.
 */
struct lb_csum_delta {
	uint16_t ip;
	uint16_t l4;
};

struct lb_flow_ext {
	struct flow_entry *peer;         /* the other direction; NULL for DSR flows */
	uint8_t client_mac[6];           /* replies go back to the L2 hop the client came from */
	uint16_t client_port;            /* ... out of the port it came in on */
	uint16_t lport_be;               /* fnat: allocated source port, network order (0 = none) */
	uint8_t laddr;                   /* fnat: local address id */
	uint8_t reverse;                 /* 1 on the reverse entry */
	uint8_t answered;                /* the backend has replied (passive health) */
	uint8_t resp_timeout_counted;    /* a response timeout was counted for this connection */
	struct lb_csum_delta to_backend; /* the client's packets, translated */
	struct lb_csum_delta to_client;  /* the backend's replies, translated back */
};

/*
 * Response timeout (fnat/nat VIPs with response_timeout_ms): the forward
 * entry's flow_entry.user holds the time (ms) by which the backend must have
 * answered the client's data, 0 when no data waits for an answer. Armed by a
 * client packet with payload, cleared by a backend packet with payload (or
 * FIN, RST; any UDP datagram): the backend's kernel ACKing the data is not an
 * answer, that is what a hung server does. Counted at most once per
 * connection, when found past due: at the client's next packet, at the
 * backend's late answer, when the flow leaves the table, or by the sweep's
 * walk (lb_worker_sweep), whichever comes first.
 */

struct lb_worker {
	uint32_t index;          /* 0 .. LB_MAX_LCORES-1: row in lb_load.seen */
	uint32_t n_workers;      /* fnat: source ports p with p % n_workers == index are ours */
	struct lb_flow_ext *ext; /* flow_table_capacity entries */
	/* flow_table_entries(flows): ext_of() indexes ext without a call into flow.c. */
	const struct flow_entry *flow_base;
	const struct flow_mem *ext_mem; /* where ext came from (NULL: plain memory) */
	/* fnat source ports in use, one bit per port of this lcore, per local address. */
	uint64_t *port_map;  /* LB_MAX_LADDRS * 1008 words (lb_ports.c, ports_init) */
	uint32_t port_base;  /* this lcore's lowest source port */
	uint32_t port_count; /* and how many it has per local address */
	uint16_t ports_used[LB_MAX_LADDRS];
	/*
	 * Where the next search for a free port starts, per local address, as
	 * an ever-growing count (port index = count % port_count) that never
	 * falls behind the port clock (lb_ports.c): a port comes round again
	 * no sooner than LB_PORT_CYCLE_MS, across restarts too.
	 */
	uint64_t port_seq[LB_MAX_LADDRS];
	uint64_t port_wall_ms; /* the wall clock (ms) at now_ms == port_mono_ms */
	uint32_t port_mono_ms; /* (set by lb_worker_set_wall_clock, or the first allocation) */
	bool port_clock_set;
	uint32_t port_reclaim_ms; /* when ports last ran out (nat_open): at most one reclaim per ms
				   */
	bool table_changed;       /* this burst inserted or removed flows */
	uint64_t inserted[2];     /* this burst's inserts: bits (hash & 63), (hash >> 6 & 63) */
	/*
	 * Connect-failure redispatch (fnat/nat): client flows whose backend
	 * refused or ignored their SYN, and which backend that was, so the
	 * client's SYN retry is scheduled elsewhere. Small, direct-mapped by
	 * flow hash; an entry lives LB_REDISPATCH_MS.
	 */
	struct lb_redispatch {
		struct flow_key key;
		uint32_t slot;   /* backend to avoid */
		uint32_t expire; /* ms */
		uint8_t tries;   /* redispatches so far for this connection */
	} redispatch[LB_REDISPATCH_SLOTS];
	struct lb_syn_hold *held; /* LB_SYN_HOLD_SLOTS */
	uint32_t n_held;          /* slots with a due time */
	uint32_t held_next_due;   /* no held SYN is due before this (ms) */
	bool syn_taken;           /* the last refusal became its held SYN (lb_nat.c) */
	struct flow_table *flows;
	/*
	 * Tests: every packet takes the general path, so that a test can show
	 * the fast path (lb_fast.h) changes no byte, verdict or counter.
	 */
	bool general_only;
	struct lb_counters *ctr;
	const struct lb_neigh_table *neigh;
	const struct lb_load *load;
	uint32_t now_ms;
	/* Scheduler state, per VIP slot / backend slot; reset when a pool changes. */
	uint32_t members_version[LB_MAX_VIPS];
	uint32_t rr_cursor[LB_MAX_VIPS];
	uint32_t lc_cursor[LB_MAX_VIPS];
	uint32_t wrr_pos[LB_MAX_VIPS]; /* position in the members' wrr cycle */
	int64_t wrr_current[LB_MAX_BACKENDS];
	/* Flows this lcore holds per backend slot (least-connections input). */
	uint32_t active[LB_MAX_BACKENDS];
	/* Gather buffers for the schedulers (pool order). */
	int64_t scratch_wrr[LB_MAX_BACKENDS];
	uint32_t scratch_load[LB_MAX_BACKENDS];
	uint32_t scratch_w[LB_MAX_BACKENDS];
	uint32_t avoid_slot; /* while picking: a backend that just failed this client */
};

/*
 * Allocates a worker with its own flow table (<flow_capacity> flows) and
 * counters. <neigh> and <load> are shared, written by the management thread.
 * Returns NULL on bad arguments or no memory.
 */
struct lb_worker *lb_worker_create(uint32_t index, uint32_t n_workers, uint32_t flow_capacity,
				   const struct flow_timeouts *timeouts,
				   const struct lb_neigh_table *neigh, const struct lb_load *load);
/*
 * lb_worker_create() with the flow table (and its side table) in memory
 * from <mem> (NULL: plain memory), which must outlive the worker.
 */
struct lb_worker *lb_worker_create_mem(uint32_t index, uint32_t n_workers, uint32_t flow_capacity,
				       const struct flow_timeouts *timeouts,
				       const struct lb_neigh_table *neigh,
				       const struct lb_load *load, const struct flow_mem *mem);
void lb_worker_free(struct lb_worker *w);

/*
 * Full-NAT source ports come round no sooner than this (a little more than
 * the 60 s a Linux backend holds a closed connection in TIME_WAIT), as long
 * as a lcore opens no more than port_count * 1000 / LB_PORT_CYCLE_MS
 * connections a second per local address (each lcore has its share of the
 * ports and of the connections: about 1,000 a second per local address in
 * all): the search for a free port starts where the wall clock says, not
 * where the last run stopped (lb_ports.c).
 */
#define LB_PORT_CYCLE_MS 64000u

/*
 * Tells the worker that the monotonic time <now_ms> (the clock of
 * lb_worker_process) is <wall_ms> on the wall clock (ms since the epoch),
 * so that a restarted data plane does not hand out the source ports its
 * predecessor used within LB_PORT_CYCLE_MS. Without it, ports start at the
 * lowest and move with the monotonic clock from the first allocation.
 */
void lb_worker_set_wall_clock(struct lb_worker *w, uint64_t wall_ms, uint32_t now_ms);

/*
 * Runs a burst of <n> (<= LB_BURST_MAX) packets against snapshot <s> at time
 * <now_ms>; sets every packet's verdict (and counts it).
 */
void lb_worker_process(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pkts,
		       uint32_t n, uint32_t now_ms);

/*
 * True when a held SYN's syn_timeout has passed (cheap: a compare or two;
 * the glue asks every few hundred microseconds).
 */
bool lb_worker_resend_due(const struct lb_worker *w, uint32_t now_ms);

/*
 * Re-sends held SYNs whose backend did not answer within the VIP's
 * syn_timeout, each to another backend: up to <n> (<= LB_RESEND_MAX) into
 * the empty buffers the caller gives (data, cap, headroom set; len 0).
 * Returns how many it filled; those have verdicts as lb_worker_process()
 * sets them, and are counted in rx as if received (the connect failure in
 * redispatched). The others are untouched.
 */
uint32_t lb_worker_resend(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pkts,
			  uint32_t n, uint32_t now_ms);

/*
 * Expires idle flows, at most <budget> entries examined (call when idle-ish);
 * counts the response timeouts of the live ones examined that are past due,
 * so a hung backend is noticed without another packet of the flow (within
 * one pass over the table: capacity / budget calls).
 */
uint32_t lb_worker_sweep(struct lb_worker *w, uint32_t now_ms, uint32_t budget);

/* Builds an ARP request (or IPv6 neighbour solicitation) for <target> from
 * port <p> into <buf> (at least 86 bytes). Returns the frame length or 0. */
uint16_t lb_build_neigh_request(uint8_t *buf, uint16_t cap, const struct lb_port_info *p,
				const struct sl_addr *target);

/*
 * Reads a MAC announcement handed to the management thread (ARP request or
 * reply, neighbour advertisement with a target link-layer option). Returns 0
 * and fills <addr>/<mac>, or -1 if the frame carries none.
 */
int lb_parse_neigh_reply(const uint8_t *data, uint16_t len, struct sl_addr *addr, uint8_t mac[6]);

#endif
