/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Constants, map key and counter indices shared by the XDP decapsulator
 * (decap.bpf.c) and user space (tests/bpf/test_decap.c). Only fixed-width
 * kernel types, so the layouts are the same on both sides; each struct is
 * checked with a static assertion.
 */
#ifndef SLUICE_DECAP_STRUCTS_H
#define SLUICE_DECAP_STRUCTS_H

#include <linux/types.h>

/*
 * Entries in sluice_decap_addrs: the outer destinations to decapsulate for
 * (a backend has one or two addresses). Kept small on purpose: a miss in a
 * non-empty map walks it once to see that it is not empty (decap.bpf.c).
 */
#ifndef SLUICE_DECAP_MAX_ADDRS
#define SLUICE_DECAP_MAX_ADDRS 64
#endif

/*
 * An outer destination to decapsulate for, sl_addr convention
 * (lib/common/sl_addr.h): IPv6 as is, IPv4 as IPv4-mapped ::ffff:a.b.c.d.
 */
struct sluice_decap_key {
	__u8 addr[16];
};

struct sluice_decap_val {
	__u32 flags; /* reserved, 0 */
};

/*
 * Counters, one per verdict (index into sluice_decap_stats). Every verdict
 * returns XDP_PASS; invariant over all packets the program saw:
 *
 *   packets = decapsulated + passed + malformed
 *
 * Bytes are the frame's length as received (before decapsulation).
 */
enum sluice_decap_stat {
	SLUICE_DECAP_STAT_DECAPSULATED = 0, /* outer header removed, inner packet to the kernel */
	SLUICE_DECAP_STAT_PASSED,           /* well formed, not for us: untouched */
	SLUICE_DECAP_STAT_MALFORMED,        /* truncated or inconsistent outer/inner headers */
	SLUICE_DECAP_STAT_MAX
};

struct sluice_decap_counter {
	__u64 packets;
	__u64 bytes;
};

_Static_assert(sizeof(struct sluice_decap_key) == 16, "sluice_decap_key layout");
_Static_assert(sizeof(struct sluice_decap_val) == 4, "sluice_decap_val layout");
_Static_assert(sizeof(struct sluice_decap_counter) == 16, "sluice_decap_counter layout");

#endif
