/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Map keys, values and counter indices shared by the XDP steering program
 * (steer.bpf.c) and user space (steer.c, tests). Only fixed-width kernel
 * types, so the layouts are the same on both sides; every struct is checked
 * with a static assertion because a pinned map is reused only if key and
 * value sizes match exactly.
 */
#ifndef SLUICE_STEER_STRUCTS_H
#define SLUICE_STEER_STRUCTS_H

#include <linux/types.h>

/*
 * A virtual service. <addr> follows the project's sl_addr convention: IPv6 as
 * is, IPv4 as IPv4-mapped (::ffff:a.b.c.d). <port> is in network order.
 * <pad> must be zero: the key is hashed as raw bytes.
 */
struct sluice_vip_key {
	__u8 addr[16];
	__u16 port;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

struct sluice_vip_val {
	__u32 flags; /* reserved, 0 */
};

/* An address Sluice owns (sl_addr convention, as above). */
struct sluice_addr_key {
	__u8 addr[16];
};

/*
 * Why Sluice owns an address; an address may be owned for several reasons at
 * once (a VIP that is also the port's address). The program reads <flags>;
 * <vip_refs> is bookkeeping for user space (how many VIPs use the address, so
 * the VIP flag goes when the last of them is removed).
 */
enum sluice_addr_flag {
	SLUICE_ADDR_VIP = 1u << 0,   /* some VIP uses it: ARP/ND, ICMP, fragments */
	SLUICE_ADDR_LOCAL = 1u << 1, /* FNAT local address: every IP packet to it */
	SLUICE_ADDR_SELF = 1u << 2,  /* the port's own address: ARP/ND and ICMP */
};

struct sluice_addr_val {
	__u32 flags; /* enum sluice_addr_flag bits */
	__u32 vip_refs;
};

/*
 * Counters, one per verdict (index into sluice_stats). Redirect verdicts come
 * first. Invariant over all packets the program saw:
 *
 *   packets = redirect_* + pass + pass_malformed + pass_unparsed
 *
 * no_xsk is not a verdict: it counts redirect verdicts whose RX queue had no
 * AF_XDP socket in xsks_map, so the packet got the fallback action
 * (XDP_PASS unless the loader chose otherwise).
 */
enum sluice_steer_stat {
	SLUICE_STAT_REDIRECT_VIP = 0, /* TCP/UDP to a VIP (address, port, protocol) */
	SLUICE_STAT_REDIRECT_LOCAL,   /* any IP packet to an FNAT local address */
	SLUICE_STAT_REDIRECT_ICMP,    /* ICMP/ICMPv6 (not ND) to an owned address */
	SLUICE_STAT_REDIRECT_FRAG,    /* IP fragment to a VIP address */
	SLUICE_STAT_REDIRECT_ARP,     /* ARP whose target address is owned */
	SLUICE_STAT_REDIRECT_ND,      /* NS for an owned target, NA to an owned address */
	SLUICE_STAT_PASS,             /* well formed, not Sluice's */
	SLUICE_STAT_PASS_MALFORMED,   /* truncated or inconsistent headers */
	SLUICE_STAT_PASS_UNPARSED,    /* stacked VLAN tags, too many IPv6 ext headers */
	SLUICE_STAT_NO_XSK,           /* see above */
	SLUICE_STAT_MAX
};

#define SLUICE_STAT_FIRST_PASS SLUICE_STAT_PASS

struct sluice_stat {
	__u64 packets;
	__u64 bytes;
};

_Static_assert(sizeof(struct sluice_vip_key) == 20, "sluice_vip_key layout");
_Static_assert(sizeof(struct sluice_vip_val) == 4, "sluice_vip_val layout");
_Static_assert(sizeof(struct sluice_addr_key) == 16, "sluice_addr_key layout");
_Static_assert(sizeof(struct sluice_addr_val) == 8, "sluice_addr_val layout");
_Static_assert(sizeof(struct sluice_stat) == 16, "sluice_stat layout");

#endif
