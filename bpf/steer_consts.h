/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Constants of the XDP steering program, shared by the BPF side (steer.bpf.c)
 * and the user-space loader (steer.c). Each can be overridden at build time
 * (-DSLUICE_MAX_VIPS=...), but both sides must be built with the same value:
 * map sizes are part of a pinned map's identity, and a pinned map of another
 * size is not reused (steer.c replaces it).
 */
#ifndef SLUICE_STEER_CONSTS_H
#define SLUICE_STEER_CONSTS_H

/* Entries in sluice_vips: one per (address, port, protocol) service. */
#ifndef SLUICE_MAX_VIPS
#define SLUICE_MAX_VIPS 4096
#endif

/* Entries in sluice_addrs: VIP addresses, FNAT local addresses, port addresses. */
#ifndef SLUICE_MAX_ADDRS
#define SLUICE_MAX_ADDRS 4096
#endif

/* Entries in xsks_map: the highest RX queue index a port may use, plus one. */
#ifndef SLUICE_MAX_QUEUES
#define SLUICE_MAX_QUEUES 64
#endif

/*
 * IPv6 extension headers walked before giving up (pass_unparsed). Same limit
 * as the data plane's parser (lib/parse), so both agree on what is parseable.
 */
#ifndef SLUICE_MAX_IPV6_EXT
#define SLUICE_MAX_IPV6_EXT 8
#endif

/* Where DPDK's net_af_xdp (which opens the object without options) finds pins. */
#ifndef SLUICE_BPF_PIN_ROOT
#define SLUICE_BPF_PIN_ROOT "/sys/fs/bpf"
#endif

/* Wire values the program compares with (host order; converted once). */
#define SLUICE_ETH_P_IP     0x0800
#define SLUICE_ETH_P_ARP    0x0806
#define SLUICE_ETH_P_8021Q  0x8100
#define SLUICE_ETH_P_IPV6   0x86dd
#define SLUICE_ETH_P_8021AD 0x88a8
#define SLUICE_ETH_P_QINQ   0x9100 /* pre-standard QinQ outer tag */

#define SLUICE_ARP_HTYPE_ETHER 1
#define SLUICE_ARP_OP_REQUEST  1
#define SLUICE_ARP_OP_REPLY    2

#define SLUICE_IP4_MF      0x2000
#define SLUICE_IP4_OFFMASK 0x1fff

#define SLUICE_IP6_FRAG_OFFMASK 0xfff8
#define SLUICE_IP6_FRAG_MF      0x0001

#define SLUICE_ICMP6_ND_FIRST 133 /* router solicitation */
#define SLUICE_ICMP6_ND_NS    135
#define SLUICE_ICMP6_ND_NA    136
#define SLUICE_ICMP6_ND_LAST  137 /* redirect */

/* Header sizes checked before a field is read. */
#define SLUICE_ETH_HLEN       14
#define SLUICE_VLAN_HLEN      4
#define SLUICE_ARP_ETH4_LEN   28 /* ARP for Ethernet/IPv4 */
#define SLUICE_IP4_MIN_HLEN   20
#define SLUICE_IP6_HLEN       40
#define SLUICE_IP6_EXT_MINLEN 8
#define SLUICE_TCP_MIN_HLEN   20
#define SLUICE_UDP_HLEN       8
#define SLUICE_ICMP_HLEN      8  /* type, code, checksum, 4 bytes of rest of header */
#define SLUICE_ND_MINLEN      24 /* ICMPv6 header (8) + target address (16) */

#endif
