/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maps of the XDP steering program (BPF side only).
 *
 * The ownership maps and the counters are pinned by name: Sluice loads this
 * object through its skeleton first, which creates and pins them under the
 * pin root; DPDK's net_af_xdp later loads the same object file itself
 * (xdp_prog=) and libbpf reuses the pinned maps instead of creating empty
 * ones. The sluice_ prefix keeps the pins clear of other software's.
 */
#ifndef SLUICE_STEER_MAPS_H
#define SLUICE_STEER_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "steer_consts.h"
#include "steer_structs.h"

/* Services: TCP/UDP to (address, port, protocol) here is redirected. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_VIPS);
	__type(key, struct sluice_vip_key);
	__type(value, struct sluice_vip_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_vips SEC(".maps");

/* Owned addresses: ARP/ND targets, ICMP, fragments, FNAT return traffic. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_ADDRS);
	__type(key, struct sluice_addr_key);
	__type(value, struct sluice_addr_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_addrs SEC(".maps");

/* Per-verdict counters; per CPU so the hot path needs no atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_STAT_MAX);
	__type(key, __u32);
	__type(value, struct sluice_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_stats SEC(".maps");

/*
 * AF_XDP sockets by RX queue index. net_af_xdp finds this map by the name
 * xsks_map and fills it; not pinned, since each port's copy of the program
 * has its own sockets.
 */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SLUICE_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

#endif
