/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The load-balancing state shared between the management thread and the
 * workers, and the names of what the data plane counts.
 *
 * Shared configuration is an immutable snapshot (struct lb_snapshot): VIPs,
 * backends, compiled scheduler tables. The management thread builds a new
 * one for every change (lb_model.h), publishes it by pointer and frees the
 * old one after every worker has passed a quiescent state. Workers read the
 * pointer once per burst and never write to a snapshot.
 *
 * Slots: every VIP and backend has a slot index that stays the same for its
 * whole life, so per-lcore state (flow entries, counters, scheduler cursors)
 * can be arrays indexed by slot. A slot freed and reused gets a new uid;
 * flows remember the uid and notice that their backend is gone.
 */
#ifndef SLUICE_LB_H
#define SLUICE_LB_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "counter_schema.h"
#include "sl_addr.h"
#include "lb_neigh.h" /* the workers' neighbour table */
#include "sl_types.h"
#include "parse.h"

/* The configuration's limits (sl_types.h): a file the loader takes fits these tables. */
#define LB_MAX_PORTS      CONF_MAX_PORTS
#define LB_MAX_VIPS       CONF_MAX_VIPS
#define LB_MAX_BACKENDS   CONF_MAX_BACKENDS /* over all VIPs */
#define LB_MAX_LCORES     16
#define LB_MAX_LADDRS     CONF_MAX_LADDRS_TOTAL /* full-NAT local addresses, all VIPs together */
#define LB_VIP_MAX_LADDRS CONF_MAX_LOCAL_ADDRS
#define LB_VIP_HASH       1024 /* open-addressing VIP lookup table, > 2 x LB_MAX_VIPS */
#define LB_NO_SLOT        UINT32_MAX

/* Why a packet was dropped. The first entries mirror enum parse_result. */
enum lb_drop {
	LB_DROP_NONE = 0,
	/* 1 .. PARSE_RESULT_MAX-1: the parser's reasons, same numbers */
	LB_DROP_NOT_OURS = PARSE_RESULT_MAX, /* not for a VIP, nor ARP/ND/ICMP we answer */
	LB_DROP_VIP_NO_SERVICE,              /* VIP address, but no VIP on that port/protocol */
	LB_DROP_FRAGMENT,                    /* non-first fragment: no ports to balance on */
	LB_DROP_NO_BACKEND,                  /* every backend of the VIP has weight 0 / is out */
	LB_DROP_NEIGH_UNRESOLVED,            /* backend MAC not yet known (ARP/ND pending) */
	LB_DROP_MODE_UNSUPPORTED,            /* VIP mode not implemented by this build */
	LB_DROP_TX_FULL,                     /* the port did not take the packet */
	LB_DROP_MGMT_RING_FULL,              /* ARP/ND for the management thread, ring full */
	LB_DROP_NONLINEAR,                   /* frame in chained buffers (jumbo): not supported */
	LB_DROP_NAT_NO_PORT,  /* fnat: every source port of the local addresses in use */
	LB_DROP_NAT_NO_ROOM,  /* fnat/nat: no flow-table room for the connection's two entries */
	LB_DROP_TTL,          /* TTL / hop limit 0 on arrival, or run out when fnat/nat route it */
	LB_DROP_HANDOFF_FULL, /* the ring to the lcore owning the flow was full */
	LB_DROP_TOO_BIG,      /* tunnel: too big once encapsulated, and may be fragmented
				 (IPv4 without DF): not fragmented by Sluice */
	LB_DROP_NO_HEADROOM,  /* tunnel: no room in the buffer for the outer header */
	LB_DROP_REDISPATCH,   /* a backend's refusal of a SYN, kept from the client: its
				 SYN retry goes to another backend */
	LB_DROP_FLOW_RESET,   /* a flow ended because its backend left service (down_flows reset,
				 drain deadline): a UDP datagram, a RST, or a backend's packet */
	LB_DROP_BAD_SRC_MAC,  /* a group (multicast, broadcast) source MAC: no sender to answer */
	LB_DROP_MARTIAN,      /* a source no client can have (RFC 1122 3.2.1.3, RFC 4291):
				 0/8, 127/8, 224/3, the port's subnet broadcast, ::, ::1,
				 ff00::/8, or one of Sluice's own addresses */
	LB_DROP_LAND,         /* source = destination */
	LB_DROP_BAD_CSUM,     /* a checksum is wrong (the port's, or the IPv4 header's for a
				 packet that would create a flow) */
	LB_DROP_MAX
};

/* Stable snake_case names for counters ("trunc_eth", "not_ours", ...). */
const char *lb_drop_name(enum lb_drop d);

/* What becomes of a backend's established flows at their next packet. */
enum lb_fate {
	LB_FATE_STAY = 0,    /* they stay on it (in service, drain, deleted, down_flows keep) */
	LB_FATE_MOVE,        /* down/maint, down_flows reschedule: to another backend */
	LB_FATE_RESET,       /* down/maint, down_flows reset: TCP RST to the client, forgotten */
	LB_FATE_DRAIN_RESET, /* its drain deadline passed: reset the same way */
};

struct lb_port_info {
	uint8_t mac[6];
	bool has_ipv4;
	bool has_ipv6;
	struct sl_addr ipv4;
	struct sl_addr ipv6;
	uint8_t ipv4_plen;
	uint8_t ipv6_plen;
	uint16_t mtu; /* largest IP packet the port sends (tunnel mode checks it) */
	bool kernel;  /* has an exception path: what is not ours goes to the kernel */
	/* The port computes IPv4, TCP and UDP checksums on transmit (fnat/nat use it). */
	bool tx_csum_offload;
};

/* A backend as the workers see it. */
struct lb_snap_backend {
	struct sl_addr addr;
	uint32_t uid;        /* 0 = slot unused */
	uint32_t neigh_slot; /* index into the neighbour table */
	uint32_t weight;     /* configured weight */
	uint16_t vip_slot;
	uint16_t out_port; /* port the backend is reached through */
	uint16_t port_be;  /* backend L4 port, network order (NAT modes) */
	uint8_t admin;     /* enum sl_admin */
	uint8_t health;    /* enum sl_health */
	uint8_t fate;      /* enum lb_fate: what its established flows do */
};

/*
 * A VIP's compiled pool. Immutable once built; shared by consecutive
 * snapshots while the pool does not change (refcount touched only by the
 * management thread).
 */
struct lb_members {
	uint32_t refcnt;
	uint32_t version; /* changes whenever members or weights change */
	uint32_t n;
	uint32_t *slot;   /* backend slots, in configuration order */
	uint32_t *weight; /* effective weight for new flows (0 = none) */
	uint32_t total_weight;
	uint16_t *maglev; /* maglev_size entries: index into slot[], or MAGLEV_EMPTY */
	uint32_t maglev_size;
	/* wrr: one cycle of smooth weighted round robin (sched_wrr_cycle), indices
	   into slot[]; wrr_len 0 = none (too many members: picks scan them). */
	uint16_t *wrr_seq;
	uint32_t wrr_len;
};

#define LB_WRR_CYCLE_MAX 16384 /* entries of a wrr cycle: 32 KiB per VIP at most */

/*
 * What a VIP's forwarding mode asks of the pipeline, compiled once per VIP
 * (lb_snap_vip.traits) so that the per-packet code tests a property, not a
 * list of modes.
 */
enum lb_trait {
	/* Replies pass back through Sluice (a connection is two flow entries):
	   passive health, connect-failure redispatch and response timeouts. */
	LB_TRAIT_SEES_REPLIES = 1u << 0,
	/* The rewrite needs the flow's state: no packet goes without its entry
	   (no Maglev backstop), and a flow whose backend leaves starts afresh. */
	LB_TRAIT_NEEDS_STATE = 1u << 1,
	LB_TRAIT_ROUTES = 1u << 2, /* routed: TTL / hop limit goes down by one */
	LB_TRAIT_ENCAP = 1u << 3,  /* an outer IP header is put in front */
};

/* The traits of each enum sl_mode. */
static inline uint8_t lb_mode_traits(uint8_t mode)
{
	static const uint8_t traits[SL_MODE_MAX] = {
		[SL_MODE_DSR] = 0,
		[SL_MODE_TUNNEL] = LB_TRAIT_ENCAP,
		[SL_MODE_FNAT] = LB_TRAIT_SEES_REPLIES | LB_TRAIT_NEEDS_STATE | LB_TRAIT_ROUTES,
		[SL_MODE_NAT] = LB_TRAIT_SEES_REPLIES | LB_TRAIT_NEEDS_STATE | LB_TRAIT_ROUTES,
	};
	return mode < SL_MODE_MAX ? traits[mode] : 0;
}

struct lb_snap_vip {
	struct sl_addr addr;
	uint32_t uid;     /* 0 = slot unused */
	uint16_t port_be; /* network order */
	uint8_t proto;
	uint8_t mode;       /* enum sl_mode */
	uint8_t traits;     /* enum lb_trait bits of the mode */
	uint8_t sched;      /* enum sched_kind */
	uint8_t hash;       /* enum sl_hash */
	uint8_t when_empty; /* enum sl_empty: no backend can take a new flow */
	uint8_t down_flows; /* enum sl_down_flows (compiled into lb_snap_backend.fate) */
	uint8_t n_laddrs;   /* fnat: local addresses (ids into lb_snapshot.laddrs) */
	uint8_t laddr[LB_VIP_MAX_LADDRS];
	uint32_t response_timeout_ms; /* fnat/nat: client data unanswered this long; 0 = off */
	/*
	 * fnat/nat: a SYN the backend refuses (RST, ICMP unreachable) goes to
	 * another backend at once, and one it leaves unanswered for
	 * syn_timeout_ms (0: until the client asks again); off: the refusal
	 * reaches the client (lb_worker.h, held SYNs).
	 */
	bool redispatch;
	uint32_t syn_timeout_ms;
	const struct lb_members *members;
};

/*
 * An IPv4 service (or full-NAT local address), as the fast path looks it up
 * (lb_fast.h): address and port as on the wire, so the packet's bytes are
 * compared as they are.
 */
struct lb_vip4 {
	uint32_t addr;
	uint16_t port_be; /* 0 for a local address */
	uint8_t proto;    /* 0 = empty; LB_VIP4_LADDR: a full-NAT local address */
	uint8_t vip;      /* VIP slot, or local-address id */
	uint8_t mode;     /* the VIP's enum sl_mode */
	uint8_t pad[3];
};
#define LB_VIP4_LADDR 0xff
_Static_assert(LB_MAX_VIPS <= 256 && LB_MAX_LADDRS <= 256, "lb_vip4.vip holds a slot or id");

struct lb_snapshot {
	uint64_t generation; /* only grows */
	uint32_t n_ports;
	struct lb_port_info ports[LB_MAX_PORTS];
	/* (addr, port, proto) -> VIP slot, linear probing; LB_NO_SLOT = empty. */
	uint32_t vip_hash[LB_VIP_HASH];
	/* IPv4 services and local addresses, linear probing (lb_vip4_hash): the fast path's. */
	struct lb_vip4 fast4[LB_VIP_HASH];
	/*
	 * Every address of Sluice's own (VIPs, local addresses, ports) sets a
	 * bit (lb_own_bit): a source that sets none is not one of them, known
	 * in a few instructions (lb_stage.h, is_ours for the rest).
	 */
	uint64_t own_bloom[4];
	/* addr -> any VIP slot with that address (ARP/ND/ICMP echo). */
	uint32_t vip_addr_hash[LB_VIP_HASH];
	struct lb_snap_vip vips[LB_MAX_VIPS];
	struct lb_snap_backend backends[LB_MAX_BACKENDS];
	/* Full-NAT local addresses: id -> address, and address -> id (LB_NO_SLOT = empty). */
	uint32_t n_laddrs;
	struct sl_addr laddrs[LB_MAX_LADDRS];
	uint32_t laddr_hash[LB_VIP_HASH];
	bool has_nat; /* some VIP is in nat mode: replies from backends may be ours */
};

/* Returns the VIP slot for a service, or LB_NO_SLOT. */
uint32_t lb_vip_find(const struct lb_snapshot *s, const struct sl_addr *addr, uint16_t port_be,
		     uint8_t proto);
/* Returns the local-address id of <addr>, or LB_NO_SLOT. */
uint32_t lb_laddr_find(const struct lb_snapshot *s, const struct sl_addr *addr);

/* Returns true if <addr> is any VIP's address. */
bool lb_vip_addr_known(const struct lb_snapshot *s, const struct sl_addr *addr);

/*
 * Active-flow counts for least-connections without shared atomics: every
 * lcore counts its own flows per backend (lb_worker.active); the management
 * thread sums them every few ms into sum[] and records in seen[lcore][] the
 * value it read from each lcore. A worker estimates a backend's load as
 * sum - seen[me] + its own current count, so its own new flows count at once
 * and other lcores' after at most one publishing period.
 */
struct lb_load {
	uint32_t sum[LB_MAX_BACKENDS];
	uint32_t seen[LB_MAX_LCORES][LB_MAX_BACKENDS];
};

/* Per-VIP and per-backend traffic counters (lib/common/counter_schema.h). */
struct lb_traffic {
#define LB_X_FIELD(field, metric, help) uint64_t field;
	COUNTER_TRAFFIC_LIST(LB_X_FIELD)
};

/* <sum> += <x>, counter by counter (sums over lcores). */
static inline void lb_traffic_add(struct lb_traffic *sum, const struct lb_traffic *x)
{
#define LB_X_ADD(field, metric, help) sum->field += x->field;
	COUNTER_TRAFFIC_LIST(LB_X_ADD)
#undef LB_X_ADD
}

/* <t> -= <base>: counts since a slot was taken (its baseline). */
static inline void lb_traffic_sub(struct lb_traffic *t, const struct lb_traffic *base)
{
#define LB_X_SUB(field, metric, help) t->field -= base->field;
	COUNTER_TRAFFIC_LIST(LB_X_SUB)
#undef LB_X_SUB
}

/*
 * Per-lcore counters, written only by their lcore, summed by the management
 * thread; what each means and the invariant they keep: counter_schema.h.
 */
struct lb_counters {
	COUNTER_LCORE_LIST(LB_X_FIELD)
#undef LB_X_FIELD
	uint64_t drop[LB_DROP_MAX];
	struct lb_traffic vip[LB_MAX_VIPS];
	struct lb_traffic backend[LB_MAX_BACKENDS];
};

#endif
