/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User-space side of the XDP steering program (steer.bpf.c): loads it through
 * the generated skeleton, keeps its ownership maps in step with the data
 * plane's configuration, reads its counters.
 *
 * Sharing with DPDK's net_af_xdp: the PMD loads the program's object file
 * itself (devargs xdp_prog=<file>, see steer_write_object()) with plain
 * libbpf and no options. The ownership maps and the counters are pinned by
 * name, so the order is:
 *   1. steer_open() creates (or reuses) and pins sluice_vips, sluice_addrs and
 *      sluice_stats under the pin root (SLUICE_BPF_PIN_ROOT, /sys/fs/bpf,
 *      mounting bpffs there if it is missing);
 *   2. the data plane fills them (steer_vip_add(), steer_addr_add());
 *   3. the PMD loads the same object: libbpf finds the pins and reuses those
 *      maps, so the program attached to the port sees every later change.
 * Only /sys/fs/bpf is where the PMD looks; another pin root is for tests.
 * One Sluice per bpffs mount: a second one would share (and clear) the maps.
 *
 * Every function returns 0 or -errno. The functions that change the maps are
 * not thread-safe: call them from one thread (the management thread).
 * Addresses follow sl_addr (IPv4 as ::ffff:a.b.c.d); ports are in host order.
 */
#ifndef SLUICE_STEER_H
#define SLUICE_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_addr.h"
#include "steer_consts.h"
#include "steer_structs.h"

struct steer;

struct steer_opts {
	/* bpffs directory for the pins; NULL: SLUICE_BPF_PIN_ROOT. Created if its
	 * parent is on bpffs. */
	const char *pin_root;
	/* A packet that is Sluice's but whose RX queue has no AF_XDP socket gets
	 * XDP_DROP instead of XDP_PASS. Only for the skeleton's own copy of the
	 * program (tests); the PMD's copy always passes such packets. */
	bool drop_no_xsk;
	/* Keep the entries of reused pinned maps. Default: steer_open() empties
	 * the ownership maps and zeroes the counters, since a previous run may
	 * have left VIPs the new configuration does not have. */
	bool keep_state;
};

/* Counters summed over CPUs, indexed by enum sluice_steer_stat. */
struct steer_stats {
	uint64_t packets[SLUICE_STAT_MAX];
	uint64_t bytes[SLUICE_STAT_MAX];
};

/*
 * Opens, loads and pins (see above). <opts> may be NULL. On error *<s> is
 * NULL and <err> holds one line saying what failed; a host without the rights
 * gets "loading the XDP steering program needs root or CAP_BPF+CAP_NET_ADMIN:
 * <strerror>" and the return value satisfies steer_err_is_perm().
 */
int steer_open(struct steer **s, const struct steer_opts *opts, char *err, size_t errlen);

/* Releases this process's handles; the pins (and the PMD's program) stay. */
void steer_close(struct steer *s);

/* Removes the pins (clean shutdown, tests). Programs using the maps keep them. */
int steer_unpin(struct steer *s);

/* True for the errors that mean "this process lacks BPF rights". */
bool steer_err_is_perm(int err);

/*
 * VIP <addr>:<port>/<proto> (IPPROTO_TCP or IPPROTO_UDP, port 1..65535).
 * Adding also makes <addr> owned (ARP/ND, ICMP, fragments) while at least one
 * VIP uses it. -EEXIST if already present, -ENOENT on removing an absent one,
 * -EINVAL for a bad protocol or port 0, -E2BIG when the map is full.
 */
int steer_vip_add(struct steer *s, const struct sl_addr *addr, uint16_t port, uint8_t proto);
int steer_vip_del(struct steer *s, const struct sl_addr *addr, uint16_t port, uint8_t proto);

/*
 * Owned address <addr> for <flag>: SLUICE_ADDR_LOCAL (FNAT local address:
 * every IP packet to it is Sluice's) or SLUICE_ADDR_SELF (the port's own
 * address: ARP/ND and ICMP). SLUICE_ADDR_VIP is managed by steer_vip_*()
 * (-EINVAL here). -EEXIST / -ENOENT as for VIPs.
 */
int steer_addr_add(struct steer *s, const struct sl_addr *addr, uint32_t flag);
int steer_addr_del(struct steer *s, const struct sl_addr *addr, uint32_t flag);

/* Empties sluice_vips and sluice_addrs. */
int steer_clear(struct steer *s);

/* One entry of a desired state for steer_sync(). */
struct steer_vip {
	struct sl_addr addr;
	uint16_t port; /* host order */
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
};

struct steer_addr {
	struct sl_addr addr;
	uint32_t flag; /* SLUICE_ADDR_LOCAL or SLUICE_ADDR_SELF */
};

/*
 * Makes the maps hold exactly <vips> and <addrs> (plus the VIP addresses),
 * whatever they held before: what to call with each new configuration
 * snapshot. Additions and changes are written before removals; entries that
 * stay are not touched, so their packets never see a gap. Duplicates are
 * allowed. -EINVAL (maps untouched) for a bad entry, -E2BIG if a map would
 * overflow, other errors from the kernel (maps partly updated: call again).
 * Afterwards steer_vip_add()/steer_addr_add() and friends keep working.
 */
int steer_sync(struct steer *s, const struct steer_vip *vips, size_t n_vips,
	       const struct steer_addr *addrs, size_t n_addrs);

int steer_stats_read(struct steer *s, struct steer_stats *st);

/* "redirect_vip", "pass_malformed", ...; "?" out of range. */
const char *steer_stat_name(unsigned int stat);

/* The loaded (not attached) program, e.g. for bpf_prog_test_run_opts(). */
int steer_prog_fd(const struct steer *s);

/*
 * The BPF object this library was built with (embedded in the skeleton), and
 * a helper writing it to <path> (atomically, mode 0644) for the PMD's
 * xdp_prog= devarg: the PMD then loads exactly the map definitions the pins
 * were made from, so libbpf reuses them.
 */
const void *steer_object_bytes(size_t *len);
int steer_write_object(const char *path);

#endif
