/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of the XDP steering program (bpf/steer.bpf.c) run in the kernel
 * through its test-run facility (bpf_prog_test_run_opts), on the program the
 * library loaded through its skeleton.
 *
 * The core is a table of packet fixtures: description, bytes, expected
 * verdict. main() registers each row as its own cmocka test, so a failure
 * names the packet. There is no AF_XDP socket in xsks_map, so a redirect
 * takes the fallback action; the library loads the program with
 * drop_no_xsk, which makes that action XDP_DROP: "Sluice's" is XDP_DROP,
 * "the kernel's" is XDP_PASS. Each run also checks the counters: exactly the
 * expected verdict's counter (and no_xsk for a redirect) moved, by one packet
 * and the frame's length in bytes.
 *
 * Named cases follow: every prefix of the redirected fixtures, the same with
 * the IP length fields rewritten to match (so the inner bounds checks fire,
 * not the length check), IPv4 IHL 5..15, the IPv6 extension header limit,
 * VIPs and addresses added and removed at run time, the maps shared with a
 * second copy of the object loaded by plain libbpf the way DPDK's net_af_xdp
 * loads it, and a process without BPF rights.
 *
 * Pins go to a directory of this process's own under /sys/fs/bpf (removed at
 * the end), never to the production pin names. Without BPF rights the suite
 * prints "SKIP: <reason>" and exits 77.
 */
#define _GNU_SOURCE /* setresuid, setresgid */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sl_addr.h"
#include "steer.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fixture building blocks: each expands to the header's bytes, in wire order. */
#define BE16(v)         (((v) >> 8) & 0xff), ((v)&0xff)
#define MAC_DST         0x02, 0x00, 0x00, 0x00, 0x00, 0x01
#define MAC_SRC         0x02, 0x00, 0x00, 0x00, 0x00, 0x02
#define ETH(type)       MAC_DST, MAC_SRC, BE16(type)
#define VLAN(tci, type) BE16(tci), BE16(type)

/* Addresses: what the test owns is set up in open_steer(). */
#define V4_CLIENT 198, 51, 100, 7
#define V4_VIP    198, 18, 0, 10 /* VIP 80/tcp and 53/udp */
#define V4_SELF   198, 18, 0, 2  /* the port's own address */
#define V4_LOCAL  198, 18, 1, 1  /* FNAT local address */
#define V4_OTHER  198, 18, 0, 99 /* nobody's: the kernel's */
#define V6_PFX    0x20, 0x01, 0x0d, 0xb8
#define V6_CLIENT V6_PFX, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x07
#define V6_VIP    V6_PFX, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10    /* 2001:db8::10, 80/tcp 53/udp */
#define V6_SELF   V6_PFX, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02    /* 2001:db8::2 */
#define V6_LOCAL  V6_PFX, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 /* 2001:db8:1::1 */
#define V6_OTHER  V6_PFX, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99
/* Solicited-node multicast ff02::1:ffXX:XXXX of the addresses above. */
#define V6_SNM(a, b, c) 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, (a), (b), (c)
#define V6_ALLNODES     0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01

/* IPv4 header, options only if <vihl> says so; <frag> is flags + offset. */
#define IP4X(vihl, tlen, frag, proto, ...)                                                         \
	(vihl), 0x00, BE16(tlen), 0x12, 0x34, BE16(frag), 64, (proto), 0x00, 0x00, V4_CLIENT,      \
		__VA_ARGS__
#define IP4(tlen, frag, proto, ...) IP4X(0x45, tlen, frag, proto, __VA_ARGS__)
#define IP6X(vtc, plen, nh, ...)                                                                   \
	(vtc), 0x00, 0x00, 0x00, BE16(plen), (nh), 64, V6_CLIENT, __VA_ARGS__
#define IP6(plen, nh, ...) IP6X(0x60, plen, nh, __VA_ARGS__)
/* Hop-by-hop or destination options: 8 bytes (one PadN) or 16 bytes. */
#define EXT8(nh)  (nh), 0, 0x01, 0x04, 0, 0, 0, 0
#define EXT16(nh) (nh), 1, 0x01, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
/* Routing header type 4 (SRH) with segments left 0. */
#define RT8(nh) (nh), 0, 0x04, 0x00, 0, 0, 0, 0
/* Fragment header; <off8> in 8-byte units, <more> the M flag. */
#define FRAG6(nh, off8, more) (nh), 0, BE16(((off8) << 3) | (more)), 0x00, 0x00, 0x00, 0x2a
#define TCP_SEQ_ACK           0, 0, 0, 1, 0, 0, 0, 0
#define TCP_SYN_FLAGS         0x50, 0x02 /* data offset 5, SYN */
#define TCP(dp)               BE16(40000), BE16(dp), TCP_SEQ_ACK, TCP_SYN_FLAGS, BE16(0xffff), PAD4
#define UDP(dp)               BE16(40000), BE16(dp), 0, 8, 0, 0
#define ICMP(type)            (type), 0, 0, 0, 0, 1, 0, 1
#define ICMP4_ECHO            8
#define ICMP4_UNREACH         3
#define ICMP6_ECHO            128
#define ICMP6_RA              134
#define ICMP6_NS              135
#define ICMP6_NA              136
#define ICMP6_REDIRECT        137
/* Neighbour solicitation/advertisement without options: 24 bytes. */
#define NS(...) ICMP6_NS, 0, 0, 0, 0, 0, 0, 0, __VA_ARGS__
#define NA(...) ICMP6_NA, 0, 0, 0, 0x60, 0, 0, 0, __VA_ARGS__
#define ARPX(htype, ptype, hlen, plen, op, ...)                                                    \
	BE16(htype), BE16(ptype), (hlen), (plen), BE16(op), MAC_SRC, V4_CLIENT, 0, 0, 0, 0, 0, 0,  \
		__VA_ARGS__
#define ARP(op, ...) ARPX(1, 0x0800, 6, 4, op, __VA_ARGS__)
#define ARP_REQ      1
#define ARP_REPLY    2
#define PAD4         0, 0, 0, 0
#define PAD8         PAD4, PAD4
#define PAD18        PAD8, PAD8, 0, 0
#define BYTES(...)                                                                                 \
	.pkt = (const uint8_t[]){__VA_ARGS__}, .len = sizeof((const uint8_t[]){__VA_ARGS__})

#define VIP    SLUICE_STAT_REDIRECT_VIP
#define LOCAL  SLUICE_STAT_REDIRECT_LOCAL
#define ICMP_  SLUICE_STAT_REDIRECT_ICMP
#define FRAG   SLUICE_STAT_REDIRECT_FRAG
#define ARP_   SLUICE_STAT_REDIRECT_ARP
#define ND     SLUICE_STAT_REDIRECT_ND
#define PASS   SLUICE_STAT_PASS
#define BAD    SLUICE_STAT_PASS_MALFORMED
#define UNPARS SLUICE_STAT_PASS_UNPARSED

struct fixture {
	const char *desc;
	const uint8_t *pkt;
	uint32_t len;
	enum sluice_steer_stat stat; /* expected verdict */
	uint32_t pad;                /* trailing Ethernet padding bytes (not part of the packet) */
};

/*
 * The kernel's test run refuses frames shorter than an Ethernet header, so
 * the shortest fixture is 14 bytes.
 */
static const struct fixture fixtures[] = {
	/* IPv4 services */
	{"ipv4 tcp to vip:80", BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP, V4_VIP), TCP(80)), VIP},
	{"ipv4 udp to vip:53", BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_UDP, V4_VIP), UDP(53)), VIP},
	{"ipv4 udp to vip:53 padded to 60 bytes",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_UDP, V4_VIP), UDP(53), PAD18), VIP, 18},
	{"ipv4 tcp to vip address, port 81 is no service",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP, V4_VIP), TCP(81)), PASS},
	{"ipv4 udp to vip:80, a tcp-only service",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_UDP, V4_VIP), UDP(80)), PASS},
	{"ipv4 tcp to vip:53, a udp-only service",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP, V4_VIP), TCP(53)), PASS},
	{"ipv4 tcp to an address nobody owns",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP, V4_OTHER), TCP(80)), PASS},
	{"ipv4 ssh to the port's own address stays with the kernel",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP, V4_SELF), TCP(22)), PASS},
	{"ipv4 sctp to vip address",
	 BYTES(ETH(0x0800), IP4(32, 0, 132, V4_VIP), BE16(40000), BE16(80), PAD8), PASS},
	{"ipv4 df flag set is not a fragment",
	 BYTES(ETH(0x0800), IP4(40, 0x4000, IPPROTO_TCP, V4_VIP), TCP(80)), VIP},
	{"ipv4 options (ihl 6), tcp to vip:80",
	 BYTES(ETH(0x0800), IP4X(0x46, 44, 0, IPPROTO_TCP, V4_VIP), 1, 1, 1, 0, TCP(80)), VIP},

	/* IPv4 ICMP, FNAT local addresses, fragments */
	{"ipv4 icmp echo to vip",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_ICMP, V4_VIP), ICMP(ICMP4_ECHO)), ICMP_},
	{"ipv4 icmp unreachable to vip",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_ICMP, V4_VIP), ICMP(ICMP4_UNREACH)), ICMP_},
	{"ipv4 icmp echo to the port's own address",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_ICMP, V4_SELF), ICMP(ICMP4_ECHO)), ICMP_},
	{"ipv4 icmp echo to an address nobody owns",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_ICMP, V4_OTHER), ICMP(ICMP4_ECHO)), PASS},
	{"ipv4 icmpv6 number in ipv4 to vip",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_ICMPV6, V4_VIP), ICMP(ICMP6_ECHO)), PASS},
	{"ipv4 tcp to fnat local address, any port",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP, V4_LOCAL), TCP(40123)), LOCAL},
	{"ipv4 udp to fnat local address",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_UDP, V4_LOCAL), UDP(40123)), LOCAL},
	{"ipv4 gre to fnat local address",
	 BYTES(ETH(0x0800), IP4(24, 0, 47, V4_LOCAL), 0, 0, 0x08, 0x00), LOCAL},
	{"ipv4 icmp echo to fnat local address",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_ICMP, V4_LOCAL), ICMP(ICMP4_ECHO)), LOCAL},
	{"ipv4 first fragment to vip address",
	 BYTES(ETH(0x0800), IP4(40, 0x2000, IPPROTO_TCP, V4_VIP), TCP(80)), FRAG},
	{"ipv4 later fragment to vip address",
	 BYTES(ETH(0x0800), IP4(28, 0x00b9, IPPROTO_TCP, V4_VIP), PAD8), FRAG},
	{"ipv4 last fragment to vip address",
	 BYTES(ETH(0x0800), IP4(28, 0x0001, IPPROTO_UDP, V4_VIP), PAD8), FRAG},
	{"ipv4 fragment to an address nobody owns",
	 BYTES(ETH(0x0800), IP4(28, 0x2000, IPPROTO_UDP, V4_OTHER), UDP(53)), PASS},
	{"ipv4 fragment to the port's own address",
	 BYTES(ETH(0x0800), IP4(28, 0x00b9, IPPROTO_UDP, V4_SELF), PAD8), PASS},
	{"ipv4 fragment to fnat local address",
	 BYTES(ETH(0x0800), IP4(28, 0x00b9, IPPROTO_UDP, V4_LOCAL), PAD8), LOCAL},

	/* IPv4 malformed and truncated */
	{"ipv4 ihl 4", BYTES(ETH(0x0800), IP4X(0x44, 40, 0, IPPROTO_TCP, V4_VIP), TCP(80)), BAD},
	{"ipv4 ihl 15 past the total length",
	 BYTES(ETH(0x0800), IP4X(0x4f, 40, 0, IPPROTO_TCP, V4_VIP), TCP(80)), BAD},
	{"ipv4 version 6 in an ipv4 frame",
	 BYTES(ETH(0x0800), IP4X(0x65, 40, 0, IPPROTO_TCP, V4_VIP), TCP(80)), BAD},
	{"ipv4 total length past the frame",
	 BYTES(ETH(0x0800), IP4(60, 0, IPPROTO_TCP, V4_VIP), TCP(80)), BAD},
	{"ipv4 total length shorter than the header",
	 BYTES(ETH(0x0800), IP4(16, 0, IPPROTO_TCP, V4_VIP), TCP(80)), BAD},
	{"ipv4 total length ends inside the tcp header (rest is padding)",
	 BYTES(ETH(0x0800), IP4(30, 0, IPPROTO_TCP, V4_VIP), TCP(80)), BAD},
	{"ipv4 header cut short", BYTES(ETH(0x0800), 0x45, 0, 0, 40, 0x12, 0x34, 0, 0, 64, 6), BAD},
	{"ipv4 tcp header cut short",
	 BYTES(ETH(0x0800), IP4(30, 0, IPPROTO_TCP, V4_VIP), BE16(40000), BE16(80), PAD4, PAD4, 0,
	       0),
	 BAD},
	{"ipv4 udp header cut short",
	 BYTES(ETH(0x0800), IP4(24, 0, IPPROTO_UDP, V4_VIP), BE16(40000), BE16(53)), BAD},
	{"ipv4 icmp header cut short",
	 BYTES(ETH(0x0800), IP4(24, 0, IPPROTO_ICMP, V4_VIP), ICMP4_ECHO, 0, 0, 0), BAD},
	{"ipv4 tcp header cut short to an unowned address is not inspected",
	 BYTES(ETH(0x0800), IP4(24, 0, IPPROTO_TCP, V4_OTHER), BE16(40000), BE16(80)), PASS},

	/* 802.1Q */
	{"802.1q tcp to vip:80",
	 BYTES(ETH(0x8100), VLAN(100, 0x0800), IP4(40, 0, IPPROTO_TCP, V4_VIP), TCP(80)), VIP},
	{"802.1q tci with pcp and dei, udp to vip:53",
	 BYTES(ETH(0x8100), VLAN(0xf064, 0x0800), IP4(28, 0, IPPROTO_UDP, V4_VIP), UDP(53)), VIP},
	{"802.1q udp to an address nobody owns",
	 BYTES(ETH(0x8100), VLAN(100, 0x0800), IP4(28, 0, IPPROTO_UDP, V4_OTHER), UDP(53)), PASS},
	{"802.1q arp request for vip", BYTES(ETH(0x8100), VLAN(100, 0x0806), ARP(ARP_REQ, V4_VIP)),
	 ARP_},
	{"802.1q ipv6 tcp to vip:80",
	 BYTES(ETH(0x8100), VLAN(100, 0x86dd), IP6(20, IPPROTO_TCP, V6_VIP), TCP(80)), VIP},
	{"802.1q ns for vip",
	 BYTES(ETH(0x8100), VLAN(100, 0x86dd), IP6(24, IPPROTO_ICMPV6, V6_SNM(0, 0, 0x10)),
	       NS(V6_VIP)),
	 ND},
	{"802.1q tag cut short", BYTES(ETH(0x8100), 0x00, 0x64), BAD},
	{"802.1q tag, ipv4 header cut short", BYTES(ETH(0x8100), VLAN(100, 0x0800), 0x45, 0, 0, 40),
	 BAD},
	{"802.1ad outer tag",
	 BYTES(ETH(0x88a8), VLAN(100, 0x8100), VLAN(200, 0x0800), IP4(40, 0, IPPROTO_TCP, V4_VIP),
	       TCP(80)),
	 UNPARS},
	{"two 802.1q tags",
	 BYTES(ETH(0x8100), VLAN(100, 0x8100), VLAN(200, 0x0800), IP4(40, 0, IPPROTO_TCP, V4_VIP),
	       TCP(80)),
	 UNPARS},
	{"pre-standard 0x9100 outer tag",
	 BYTES(ETH(0x9100), VLAN(100, 0x0800), IP4(40, 0, IPPROTO_TCP, V4_VIP), TCP(80)), UNPARS},

	/* ARP */
	{"arp request for vip", BYTES(ETH(0x0806), ARP(ARP_REQ, V4_VIP)), ARP_},
	{"arp request for fnat local address", BYTES(ETH(0x0806), ARP(ARP_REQ, V4_LOCAL)), ARP_},
	{"arp request for the port's own address", BYTES(ETH(0x0806), ARP(ARP_REQ, V4_SELF)), ARP_},
	{"arp reply to the port's own address", BYTES(ETH(0x0806), ARP(ARP_REPLY, V4_SELF)), ARP_},
	{"arp request padded to 60 bytes", BYTES(ETH(0x0806), ARP(ARP_REQ, V4_VIP), PAD18), ARP_,
	 18},
	{"arp request for an address nobody owns", BYTES(ETH(0x0806), ARP(ARP_REQ, V4_OTHER)),
	 PASS},
	{"arp reply to an address nobody owns", BYTES(ETH(0x0806), ARP(ARP_REPLY, V4_OTHER)), PASS},
	{"rarp opcode 3 naming vip", BYTES(ETH(0x0806), ARP(3, V4_VIP)), PASS},
	{"arp htype ieee802 naming vip", BYTES(ETH(0x0806), ARPX(6, 0x0800, 6, 4, ARP_REQ, V4_VIP)),
	 PASS},
	{"arp hlen 8 naming vip", BYTES(ETH(0x0806), ARPX(1, 0x0800, 8, 4, ARP_REQ, V4_VIP)), PASS},
	{"arp cut short", BYTES(ETH(0x0806), BE16(1), BE16(0x0800), 6, 4, BE16(ARP_REQ), MAC_SRC),
	 BAD},

	/* Other Ethernet */
	{"lldp frame", BYTES(ETH(0x88cc), 0x02, 0x07, 0x04, PAD8), PASS},
	{"ethernet header alone, unknown ethertype", BYTES(ETH(0x88cc)), PASS},
	{"ethernet header alone, ipv4 ethertype", BYTES(ETH(0x0800)), BAD},
	{"ethernet header alone, ipv6 ethertype", BYTES(ETH(0x86dd)), BAD},
	{"ethernet header alone, arp ethertype", BYTES(ETH(0x0806)), BAD},

	/* IPv6 services */
	{"ipv6 tcp to vip:80", BYTES(ETH(0x86dd), IP6(20, IPPROTO_TCP, V6_VIP), TCP(80)), VIP},
	{"ipv6 udp to vip:53", BYTES(ETH(0x86dd), IP6(8, IPPROTO_UDP, V6_VIP), UDP(53)), VIP},
	{"ipv6 tcp to vip address, port 81 is no service",
	 BYTES(ETH(0x86dd), IP6(20, IPPROTO_TCP, V6_VIP), TCP(81)), PASS},
	{"ipv6 udp to vip:80, a tcp-only service",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_UDP, V6_VIP), UDP(80)), PASS},
	{"ipv6 tcp to an address nobody owns",
	 BYTES(ETH(0x86dd), IP6(20, IPPROTO_TCP, V6_OTHER), TCP(80)), PASS},
	{"ipv6 tcp to the ipv4 vip's port on the port's own address",
	 BYTES(ETH(0x86dd), IP6(20, IPPROTO_TCP, V6_SELF), TCP(80)), PASS},
	{"ipv6 hop-by-hop + destination options, tcp to vip:80",
	 BYTES(ETH(0x86dd), IP6(36, IPPROTO_HOPOPTS, V6_VIP), EXT8(IPPROTO_DSTOPTS),
	       EXT8(IPPROTO_TCP), TCP(80)),
	 VIP},
	{"ipv6 hop-by-hop (16) + routing + destination options, udp to vip:53",
	 BYTES(ETH(0x86dd), IP6(40, IPPROTO_HOPOPTS, V6_VIP), EXT16(IPPROTO_ROUTING),
	       RT8(IPPROTO_DSTOPTS), EXT8(IPPROTO_UDP), UDP(53)),
	 VIP},
	{"ipv6 hop-by-hop + destination options, tcp to vip port 81",
	 BYTES(ETH(0x86dd), IP6(36, IPPROTO_HOPOPTS, V6_VIP), EXT8(IPPROTO_DSTOPTS),
	       EXT8(IPPROTO_TCP), TCP(81)),
	 PASS},
	{"ipv6 hop-by-hop + destination options, tcp to an address nobody owns",
	 BYTES(ETH(0x86dd), IP6(36, IPPROTO_HOPOPTS, V6_OTHER), EXT8(IPPROTO_DSTOPTS),
	       EXT8(IPPROTO_TCP), TCP(80)),
	 PASS},
	{"ipv6 atomic fragment (offset 0, M clear), tcp to vip:80",
	 BYTES(ETH(0x86dd), IP6(28, IPPROTO_FRAGMENT, V6_VIP), FRAG6(IPPROTO_TCP, 0, 0), TCP(80)),
	 VIP},
	{"ipv6 first fragment to vip address",
	 BYTES(ETH(0x86dd), IP6(28, IPPROTO_FRAGMENT, V6_VIP), FRAG6(IPPROTO_TCP, 0, 1), TCP(80)),
	 FRAG},
	{"ipv6 later fragment to vip address",
	 BYTES(ETH(0x86dd), IP6(16, IPPROTO_FRAGMENT, V6_VIP), FRAG6(IPPROTO_TCP, 185, 0), PAD8),
	 FRAG},
	{"ipv6 hop-by-hop + later fragment to vip address",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_HOPOPTS, V6_VIP), EXT8(IPPROTO_FRAGMENT),
	       FRAG6(IPPROTO_UDP, 185, 1), PAD8),
	 FRAG},
	{"ipv6 fragment to an address nobody owns",
	 BYTES(ETH(0x86dd), IP6(16, IPPROTO_FRAGMENT, V6_OTHER), FRAG6(IPPROTO_TCP, 185, 0), PAD8),
	 PASS},
	{"ipv6 esp to vip address", BYTES(ETH(0x86dd), IP6(8, IPPROTO_ESP, V6_VIP), PAD8), PASS},
	{"ipv6 no next header to vip address", BYTES(ETH(0x86dd), IP6(0, 59, V6_VIP)), PASS},
	{"ipv6 tcp to fnat local address",
	 BYTES(ETH(0x86dd), IP6(20, IPPROTO_TCP, V6_LOCAL), TCP(40123)), LOCAL},
	{"ipv6 destination options, udp to fnat local address",
	 BYTES(ETH(0x86dd), IP6(16, IPPROTO_DSTOPTS, V6_LOCAL), EXT8(IPPROTO_UDP), UDP(40123)),
	 LOCAL},

	/* ICMPv6 and neighbour discovery */
	{"ipv6 icmpv6 echo to vip",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_ICMPV6, V6_VIP), ICMP(ICMP6_ECHO)), ICMP_},
	{"ipv6 icmpv6 echo to the port's own address",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_ICMPV6, V6_SELF), ICMP(ICMP6_ECHO)), ICMP_},
	{"ipv6 icmpv6 echo to an address nobody owns",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_ICMPV6, V6_OTHER), ICMP(ICMP6_ECHO)), PASS},
	{"ipv6 hop-by-hop + icmpv6 echo to vip",
	 BYTES(ETH(0x86dd), IP6(16, IPPROTO_HOPOPTS, V6_VIP), EXT8(IPPROTO_ICMPV6),
	       ICMP(ICMP6_ECHO)),
	 ICMP_},
	{"ipv6 icmp (ipv4's number) to vip",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_ICMP, V6_VIP), ICMP(ICMP4_ECHO)), PASS},
	{"ns for vip to its solicited-node address",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_ICMPV6, V6_SNM(0, 0, 0x10)), NS(V6_VIP)), ND},
	{"ns for fnat local address",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_ICMPV6, V6_SNM(0, 0, 0x01)), NS(V6_LOCAL)), ND},
	{"ns for the port's own address, unicast (unreachability detection)",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_ICMPV6, V6_SELF), NS(V6_SELF)), ND},
	{"ns for an address nobody owns",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_ICMPV6, V6_SNM(0, 0, 0x99)), NS(V6_OTHER)), PASS},
	{"ns sent to vip asking for another address",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_ICMPV6, V6_VIP), NS(V6_OTHER)), PASS},
	{"na to the port's own address (answer to its solicitation)",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_ICMPV6, V6_SELF), NA(V6_OTHER)), ND},
	{"unsolicited na to all nodes",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_ICMPV6, V6_ALLNODES), NA(V6_OTHER)), PASS},
	{"router advertisement to all nodes",
	 BYTES(ETH(0x86dd), IP6(16, IPPROTO_ICMPV6, V6_ALLNODES), ICMP6_RA, 0, 0, 0, 64, 0, 0x07,
	       0x08, PAD8),
	 PASS},
	{"redirect to the port's own address",
	 BYTES(ETH(0x86dd), IP6(40, IPPROTO_ICMPV6, V6_SELF), ICMP6_REDIRECT, 0, 0, 0, PAD4,
	       V6_OTHER, V6_OTHER),
	 PASS},

	/* IPv6 malformed and truncated */
	{"ipv6 version 4 in an ipv6 frame",
	 BYTES(ETH(0x86dd), IP6X(0x40, 20, IPPROTO_TCP, V6_VIP), TCP(80)), BAD},
	{"ipv6 payload length past the frame",
	 BYTES(ETH(0x86dd), IP6(28, IPPROTO_TCP, V6_VIP), TCP(80)), BAD},
	{"ipv6 header cut short", BYTES(ETH(0x86dd), 0x60, 0, 0, 0, 0, 20, IPPROTO_TCP, 64), BAD},
	{"ipv6 extension header longer than the payload",
	 BYTES(ETH(0x86dd), IP6(28, IPPROTO_HOPOPTS, V6_VIP), IPPROTO_TCP, 4, 0x01, 0x02, 0, 0, 0,
	       0, TCP(80)),
	 BAD},
	{"ipv6 extension header cut short",
	 BYTES(ETH(0x86dd), IP6(4, IPPROTO_HOPOPTS, V6_VIP), IPPROTO_TCP, 0, 0x01, 0x02), BAD},
	{"ipv6 fragment header cut short",
	 BYTES(ETH(0x86dd), IP6(4, IPPROTO_FRAGMENT, V6_VIP), IPPROTO_TCP, 0, 0x05, 0xc8), BAD},
	{"ipv6 tcp header cut short",
	 BYTES(ETH(0x86dd), IP6(10, IPPROTO_TCP, V6_VIP), BE16(40000), BE16(80), PAD4, 0, 0), BAD},
	{"ipv6 udp header cut short",
	 BYTES(ETH(0x86dd), IP6(4, IPPROTO_UDP, V6_VIP), BE16(40000), BE16(53)), BAD},
	{"ipv6 icmpv6 header cut short",
	 BYTES(ETH(0x86dd), IP6(4, IPPROTO_ICMPV6, V6_VIP), ICMP6_ECHO, 0, 0, 0), BAD},
	{"ns without its target address",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_ICMPV6, V6_SNM(0, 0, 0x10)), ICMP6_NS, 0, 0, 0, PAD4),
	 BAD},
	{"ns target cut short by the payload length (rest is padding)",
	 BYTES(ETH(0x86dd), IP6(20, IPPROTO_ICMPV6, V6_SNM(0, 0, 0x10)), NS(V6_VIP)), BAD},
};

/* State shared by the tests: the library's handle and this run's pin root. */
static struct steer *st;
static int prog_fd;
static char pin_root[64];
static char obj_path[64];
static uint64_t runs; /* packets run through any copy of the program */

static void addr_of(struct sl_addr *a, const char *text)
{
	assert_int_equal(sl_addr_parse(a, text), 0);
}

/* The services and owned addresses the fixtures expect. */
static void populate(void)
{
	struct sl_addr a;

	addr_of(&a, "198.18.0.10");
	assert_int_equal(steer_vip_add(st, &a, 80, IPPROTO_TCP), 0);
	assert_int_equal(steer_vip_add(st, &a, 53, IPPROTO_UDP), 0);
	addr_of(&a, "2001:db8::10");
	assert_int_equal(steer_vip_add(st, &a, 80, IPPROTO_TCP), 0);
	assert_int_equal(steer_vip_add(st, &a, 53, IPPROTO_UDP), 0);
	addr_of(&a, "198.18.1.1");
	assert_int_equal(steer_addr_add(st, &a, SLUICE_ADDR_LOCAL), 0);
	addr_of(&a, "2001:db8:1::1");
	assert_int_equal(steer_addr_add(st, &a, SLUICE_ADDR_LOCAL), 0);
	addr_of(&a, "198.18.0.2");
	assert_int_equal(steer_addr_add(st, &a, SLUICE_ADDR_SELF), 0);
	addr_of(&a, "2001:db8::2");
	assert_int_equal(steer_addr_add(st, &a, SLUICE_ADDR_SELF), 0);
}

/*
 * Runs <len> bytes through program <fd> and checks the outcome: return value
 * <want_act>, and in the shared counters exactly <stat> (and no_xsk when
 * <stat> is a redirect) moved by one packet of <len> bytes.
 */
static void run_check(int fd, const uint8_t *pkt, uint32_t len, enum sluice_steer_stat stat,
		      uint32_t want_act)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .repeat = 1);
	struct steer_stats before, after;

	assert_int_equal(steer_stats_read(st, &before), 0);
	assert_int_equal(bpf_prog_test_run_opts(fd, &o), 0);
	runs++;
	assert_int_equal(steer_stats_read(st, &after), 0);
	for (unsigned int i = 0; i < SLUICE_STAT_MAX; i++) {
		bool moved = i == (unsigned int)stat ||
			     (i == SLUICE_STAT_NO_XSK && stat < SLUICE_STAT_FIRST_PASS);
		uint64_t dp = after.packets[i] - before.packets[i];
		uint64_t db = after.bytes[i] - before.bytes[i];

		if (dp != (moved ? 1u : 0u))
			fail_msg("counter %s moved by %llu, wanted %s (%u bytes)",
				 steer_stat_name(i), (unsigned long long)dp, steer_stat_name(stat),
				 len);
		assert_int_equal(db, moved ? len : 0);
	}
	if (o.retval != want_act)
		fail_msg("verdict %u, wanted %u (%s)", o.retval, want_act, steer_stat_name(stat));
}

/* Through the library's copy: a redirect without a socket is XDP_DROP there. */
static void expect(const uint8_t *pkt, uint32_t len, enum sluice_steer_stat stat)
{
	run_check(prog_fd, pkt, len, stat, stat < SLUICE_STAT_FIRST_PASS ? XDP_DROP : XDP_PASS);
}

static void test_fixture(void **state)
{
	const struct fixture *f = *state;

	expect(f->pkt, f->len, f->stat);
}

static bool redirected(const struct fixture *f)
{
	return f->stat < SLUICE_STAT_FIRST_PASS;
}

/* l3 offset of a fixture (after one optional 802.1Q tag) and its ethertype. */
static uint32_t l3_of(const uint8_t *p, uint16_t *type)
{
	uint32_t off = 12;

	*type = (uint16_t)(p[off] << 8 | p[off + 1]);
	if (*type == 0x8100) {
		off += 4;
		*type = (uint16_t)(p[off] << 8 | p[off + 1]);
	}
	return off + 2;
}

/* Every proper prefix of a redirected packet: its IP length no longer fits. */
static void test_every_prefix(void **state)
{
	unsigned int n = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *f = &fixtures[i];

		if (!redirected(f))
			continue;
		for (uint32_t cut = 14; cut < f->len - f->pad; cut++, n++)
			expect(f->pkt, cut, SLUICE_STAT_PASS_MALFORMED);
	}
	print_message("%u prefixes\n", n);
}

/*
 * Every proper prefix of the redirected packets whose verdict rests on the
 * headers below IP (VIP, ICMP, ND) or on ARP, with the IP length fields
 * rewritten to the cut: the check that fires is the one for the header cut.
 */
static void test_every_prefix_consistent_length(void **state)
{
	unsigned int n = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *f = &fixtures[i];
		uint8_t buf[256];
		uint16_t type;
		uint32_t l3;

		if (f->stat != SLUICE_STAT_REDIRECT_VIP && f->stat != SLUICE_STAT_REDIRECT_ICMP &&
		    f->stat != SLUICE_STAT_REDIRECT_ND && f->stat != SLUICE_STAT_REDIRECT_ARP)
			continue;
		assert_true(f->len <= sizeof(buf));
		l3 = l3_of(f->pkt, &type);
		for (uint32_t cut = 14; cut < f->len - f->pad; cut++, n++) {
			memcpy(buf, f->pkt, cut);
			if (type == 0x0800 && cut >= l3 + 4) {
				buf[l3 + 2] = (uint8_t)((cut - l3) >> 8);
				buf[l3 + 3] = (uint8_t)(cut - l3);
			} else if (type == 0x86dd && cut >= l3 + 6 && cut >= l3 + 40) {
				buf[l3 + 4] = (uint8_t)((cut - l3 - 40) >> 8);
				buf[l3 + 5] = (uint8_t)(cut - l3 - 40);
			}
			expect(buf, cut, SLUICE_STAT_PASS_MALFORMED);
		}
	}
	print_message("%u prefixes\n", n);
}

/* IPv4 with every IHL: 5..15 (NOP options) reach the VIP, 0..4 are malformed. */
static void test_ip4_every_ihl(void **state)
{
	(void)state;
	for (unsigned int ihl = 0; ihl <= 15; ihl++) {
		static const uint8_t head[] = {ETH(0x0800), IP4(0, 0, IPPROTO_TCP, V4_VIP)};
		static const uint8_t tcp[] = {TCP(80)};
		uint8_t buf[14 + 60 + 20];
		uint32_t hl = ihl < 5 ? 20 : ihl * 4, len = 14 + hl + 20;

		memcpy(buf, head, sizeof(head));
		memset(buf + 34, 1, hl - 20);
		memcpy(buf + 14 + hl, tcp, sizeof(tcp));
		buf[14] = (uint8_t)(0x40 | ihl);
		buf[17] = (uint8_t)(hl + 20);
		expect(buf, len, ihl < 5 ? SLUICE_STAT_PASS_MALFORMED : SLUICE_STAT_REDIRECT_VIP);
	}
}

/* 0..9 destination options headers before UDP: 8 are walked, 9 are too many. */
static void test_ip6_ext_limit(void **state)
{
	(void)state;
	for (unsigned int n = 0; n <= 9; n++) {
		static const uint8_t head[] = {ETH(0x86dd), IP6(0, 0, V6_VIP)};
		static const uint8_t udp[] = {UDP(53)};
		uint8_t buf[14 + 40 + 9 * 8 + 8];
		uint32_t len = 14 + 40 + n * 8 + 8;

		memcpy(buf, head, sizeof(head));
		buf[18] = 0;
		buf[19] = (uint8_t)(n * 8 + 8);
		buf[20] = n ? IPPROTO_DSTOPTS : IPPROTO_UDP;
		for (unsigned int i = 0; i < n; i++) {
			static const uint8_t ext[] = {EXT8(IPPROTO_DSTOPTS)};

			memcpy(buf + 54 + i * 8, ext, sizeof(ext));
			if (i == n - 1)
				buf[54 + i * 8] = IPPROTO_UDP;
		}
		memcpy(buf + 54 + n * 8, udp, sizeof(udp));
		expect(buf, len,
		       n <= SLUICE_MAX_IPV6_EXT ? SLUICE_STAT_REDIRECT_VIP
						: SLUICE_STAT_PASS_UNPARSED);
	}
}

static const uint8_t tcp_8080[] = {ETH(0x0800), IP4(40, 0, IPPROTO_TCP, 198, 18, 0, 77), TCP(8080)};
static const uint8_t udp_8080[] = {ETH(0x0800), IP4(28, 0, IPPROTO_UDP, 198, 18, 0, 77), UDP(8080)};
static const uint8_t arp_77[] = {ETH(0x0806), ARP(ARP_REQ, 198, 18, 0, 77)};
static const uint8_t icmp_77[] = {ETH(0x0800), IP4(28, 0, IPPROTO_ICMP, 198, 18, 0, 77),
				  ICMP(ICMP4_ECHO)};

/* A VIP added at run time is steered at once; removed, it is the kernel's again. */
static void test_vip_runtime(void **state)
{
	struct sl_addr a;

	(void)state;
	addr_of(&a, "198.18.0.77");
	expect(tcp_8080, sizeof(tcp_8080), SLUICE_STAT_PASS);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_PASS);

	assert_int_equal(steer_vip_add(st, &a, 8080, IPPROTO_TCP), 0);
	expect(tcp_8080, sizeof(tcp_8080), SLUICE_STAT_REDIRECT_VIP);
	expect(udp_8080, sizeof(udp_8080), SLUICE_STAT_PASS);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_REDIRECT_ARP);
	expect(icmp_77, sizeof(icmp_77), SLUICE_STAT_REDIRECT_ICMP);

	assert_int_equal(steer_vip_del(st, &a, 8080, IPPROTO_TCP), 0);
	expect(tcp_8080, sizeof(tcp_8080), SLUICE_STAT_PASS);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_PASS);
	expect(icmp_77, sizeof(icmp_77), SLUICE_STAT_PASS);
}

/*
 * Two VIPs on one address, which is also the port's own: the address stays
 * owned until the last reason for owning it goes.
 */
static void test_shared_address(void **state)
{
	struct sl_addr a;

	(void)state;
	addr_of(&a, "198.18.0.77");
	assert_int_equal(steer_vip_add(st, &a, 8080, IPPROTO_TCP), 0);
	assert_int_equal(steer_vip_add(st, &a, 8080, IPPROTO_UDP), 0);
	assert_int_equal(steer_addr_add(st, &a, SLUICE_ADDR_SELF), 0);
	expect(udp_8080, sizeof(udp_8080), SLUICE_STAT_REDIRECT_VIP);

	assert_int_equal(steer_vip_del(st, &a, 8080, IPPROTO_TCP), 0);
	expect(tcp_8080, sizeof(tcp_8080), SLUICE_STAT_PASS);
	expect(udp_8080, sizeof(udp_8080), SLUICE_STAT_REDIRECT_VIP);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_REDIRECT_ARP);

	assert_int_equal(steer_vip_del(st, &a, 8080, IPPROTO_UDP), 0);
	expect(udp_8080, sizeof(udp_8080), SLUICE_STAT_PASS);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_REDIRECT_ARP); /* still the port's */
	expect(icmp_77, sizeof(icmp_77), SLUICE_STAT_REDIRECT_ICMP);

	assert_int_equal(steer_addr_del(st, &a, SLUICE_ADDR_SELF), 0);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_PASS);

	/* An FNAT local address takes everything, a VIP on it or not. */
	assert_int_equal(steer_addr_add(st, &a, SLUICE_ADDR_LOCAL), 0);
	expect(udp_8080, sizeof(udp_8080), SLUICE_STAT_REDIRECT_LOCAL);
	assert_int_equal(steer_vip_add(st, &a, 8080, IPPROTO_UDP), 0);
	expect(udp_8080, sizeof(udp_8080), SLUICE_STAT_REDIRECT_LOCAL);
	assert_int_equal(steer_addr_del(st, &a, SLUICE_ADDR_LOCAL), 0);
	expect(udp_8080, sizeof(udp_8080), SLUICE_STAT_REDIRECT_VIP);
	assert_int_equal(steer_vip_del(st, &a, 8080, IPPROTO_UDP), 0);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_PASS);
}

/* The fixtures' state as one steer_sync() call would give it (see populate()). */
static void standard_state(struct steer_vip v[4], struct steer_addr a[4])
{
	static const char *const vip_addr[4] = {"198.18.0.10", "198.18.0.10", "2001:db8::10",
						"2001:db8::10"};
	static const char *const own[4] = {"198.18.1.1", "2001:db8:1::1", "198.18.0.2",
					   "2001:db8::2"};

	for (int i = 0; i < 4; i++) {
		addr_of(&v[i].addr, vip_addr[i]);
		v[i].port = i % 2 ? 53 : 80;
		v[i].proto = i % 2 ? IPPROTO_UDP : IPPROTO_TCP;
		addr_of(&a[i].addr, own[i]);
		a[i].flag = i < 2 ? SLUICE_ADDR_LOCAL : SLUICE_ADDR_SELF;
	}
}

static const struct fixture *fixture(const char *desc)
{
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++)
		if (strcmp(fixtures[i].desc, desc) == 0)
			return &fixtures[i];
	fail_msg("no fixture \"%s\"", desc);
	return NULL;
}

static void expect_fixtures(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++)
		expect(fixtures[i].pkt, fixtures[i].len, fixtures[i].stat);
}

/* steer_sync() replaces the whole state; a bad entry leaves the maps alone. */
static void test_sync(void **state)
{
	const struct fixture *tcp80 = fixture("ipv4 tcp to vip:80");
	const struct fixture *echo = fixture("ipv4 icmp echo to vip");
	struct steer_vip std_v[4], v[3];
	struct steer_addr std_a[4], a[2];
	struct sl_addr x;

	(void)state;
	standard_state(std_v, std_a);
	/* 198.18.0.77:8080/tcp twice, 198.18.0.10 only as the port's address. */
	addr_of(&v[0].addr, "198.18.0.77");
	v[0].port = 8080;
	v[0].proto = IPPROTO_TCP;
	v[1] = v[0];
	addr_of(&a[0].addr, "198.18.0.10");
	a[0].flag = SLUICE_ADDR_SELF;
	assert_int_equal(steer_sync(st, v, 2, a, 1), 0);
	expect(tcp_8080, sizeof(tcp_8080), SLUICE_STAT_REDIRECT_VIP);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_REDIRECT_ARP);
	expect(tcp80->pkt, tcp80->len, SLUICE_STAT_PASS);
	expect(echo->pkt, echo->len, SLUICE_STAT_REDIRECT_ICMP);
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++)
		if (fixtures[i].stat == SLUICE_STAT_REDIRECT_LOCAL ||
		    fixtures[i].stat == SLUICE_STAT_REDIRECT_ND)
			expect(fixtures[i].pkt, fixtures[i].len, SLUICE_STAT_PASS);
	/* The refcount sync wrote is the one steer_vip_del() works with. */
	addr_of(&x, "198.18.0.77");
	assert_int_equal(steer_vip_add(st, &x, 8080, IPPROTO_UDP), 0);
	assert_int_equal(steer_vip_del(st, &x, 8080, IPPROTO_TCP), 0);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_REDIRECT_ARP);
	assert_int_equal(steer_vip_del(st, &x, 8080, IPPROTO_UDP), 0);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_PASS);
	assert_int_equal(steer_vip_add(st, &x, 8080, IPPROTO_TCP), 0);

	/* Rejected whole: a bad protocol, a bad flag. */
	v[2] = v[0];
	v[2].proto = IPPROTO_ICMP;
	assert_int_equal(steer_sync(st, v, 3, a, 1), -EINVAL);
	a[1] = a[0];
	a[1].flag = SLUICE_ADDR_VIP;
	assert_int_equal(steer_sync(st, v, 2, a, 2), -EINVAL);
	expect(tcp_8080, sizeof(tcp_8080), SLUICE_STAT_REDIRECT_VIP);

	/* Empty, then back to the fixtures' state, twice (no change the second time). */
	assert_int_equal(steer_sync(st, NULL, 0, NULL, 0), 0);
	expect(arp_77, sizeof(arp_77), SLUICE_STAT_PASS);
	expect(echo->pkt, echo->len, SLUICE_STAT_PASS);
	assert_int_equal(steer_sync(st, std_v, 4, std_a, 4), 0);
	expect_fixtures();
	assert_int_equal(steer_sync(st, std_v, 4, std_a, 4), 0);
	expect(tcp_8080, sizeof(tcp_8080), SLUICE_STAT_PASS);
	expect_fixtures();
}

static void test_api_errors(void **state)
{
	struct sl_addr a, b;

	(void)state;
	addr_of(&a, "198.18.0.10");
	addr_of(&b, "198.18.0.88");
	assert_int_equal(steer_vip_add(st, &a, 80, IPPROTO_TCP), -EEXIST);
	assert_int_equal(steer_vip_del(st, &b, 80, IPPROTO_TCP), -ENOENT);
	assert_int_equal(steer_vip_add(st, &b, 80, IPPROTO_ICMP), -EINVAL);
	assert_int_equal(steer_vip_add(st, &b, 0, IPPROTO_TCP), -EINVAL);
	assert_int_equal(steer_addr_add(st, &b, SLUICE_ADDR_VIP), -EINVAL);
	assert_int_equal(steer_addr_add(st, &b, 0), -EINVAL);
	assert_int_equal(steer_addr_add(st, &b, SLUICE_ADDR_LOCAL | SLUICE_ADDR_SELF), -EINVAL);
	assert_int_equal(steer_addr_del(st, &b, SLUICE_ADDR_SELF), -ENOENT);
	/* The VIP flag on a's address does not make it a local address. */
	assert_int_equal(steer_addr_del(st, &a, SLUICE_ADDR_LOCAL), -ENOENT);
	addr_of(&a, "198.18.1.1");
	assert_int_equal(steer_addr_add(st, &a, SLUICE_ADDR_LOCAL), -EEXIST);
}

/* steer_clear() hands everything back to the kernel; the fixtures' state returns. */
static void test_clear(void **state)
{
	(void)state;
	assert_int_equal(steer_clear(st), 0);
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *f = &fixtures[i];

		if (redirected(f))
			expect(f->pkt, f->len, SLUICE_STAT_PASS);
	}
	populate();
	expect_fixtures();
}

static void test_object_file(void **state)
{
	size_t len;
	const uint8_t *bytes = steer_object_bytes(&len);
	struct stat sb;

	(void)state;
	assert_non_null(bytes);
	assert_true(len > 64);
	assert_memory_equal(bytes, "\177ELF", 4);
	assert_int_equal(steer_write_object(obj_path), 0);
	assert_int_equal(stat(obj_path, &sb), 0);
	assert_int_equal((size_t)sb.st_size, len);
	assert_int_equal(sb.st_mode & 0777, 0644);
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

/*
 * The object file loaded a second time the way DPDK 22.11's net_af_xdp loads
 * xdp_prog= (bpf_object__open_file, bpf_object__load, the first program, the
 * map named xsks_map; the PMD passes no options, so its pin root is
 * /sys/fs/bpf: here the test's own root stands in for it). libbpf must reuse
 * the pinned maps: same map ids, and a VIP added through the library changes
 * the verdict of that copy. That copy keeps the default fallback: XDP_PASS.
 */
static void test_pmd_shares_maps(void **state)
{
	const struct fixture *tcp80 = fixture("ipv4 tcp to vip:80");
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root);
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *xsks, *vips, *addrs, *stats;
	struct sl_addr a;
	char path[128];
	int pmd_fd, fd;

	(void)state;
	assert_int_equal(steer_write_object(obj_path), 0);
	obj = bpf_object__open_file(obj_path, &oo);
	assert_non_null(obj);
	assert_int_equal(bpf_object__load(obj), 0);
	prog = bpf_object__next_program(obj, NULL);
	assert_non_null(prog);
	assert_string_equal(bpf_program__name(prog), "sluice_steer");
	assert_null(bpf_object__next_program(obj, prog)); /* the PMD takes the first one */
	pmd_fd = bpf_program__fd(prog);
	assert_true(pmd_fd >= 0);
	assert_int_not_equal(pmd_fd, prog_fd);

	/* The PMD's view, by name as it does; the library never looks maps up so. */
	xsks = bpf_object__find_map_by_name(obj, "xsks_map");
	vips = bpf_object__find_map_by_name(obj, "sluice_vips");
	addrs = bpf_object__find_map_by_name(obj, "sluice_addrs");
	stats = bpf_object__find_map_by_name(obj, "sluice_stats");
	assert_non_null(xsks);
	assert_non_null(vips);
	assert_non_null(addrs);
	assert_non_null(stats);
	assert_int_equal(bpf_map__type(xsks), BPF_MAP_TYPE_XSKMAP);

	snprintf(path, sizeof(path), "%s/sluice_vips", pin_root);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(map_id(bpf_map__fd(vips)), map_id(fd));
	close(fd);
	snprintf(path, sizeof(path), "%s/sluice_addrs", pin_root);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(map_id(bpf_map__fd(addrs)), map_id(fd));
	close(fd);
	snprintf(path, sizeof(path), "%s/sluice_stats", pin_root);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(map_id(bpf_map__fd(stats)), map_id(fd));
	close(fd);

	/* The PMD's copy sees the library's VIPs and counts into the same counters. */
	run_check(pmd_fd, tcp80->pkt, tcp80->len, SLUICE_STAT_REDIRECT_VIP, XDP_PASS);
	addr_of(&a, "198.18.0.77");
	run_check(pmd_fd, tcp_8080, sizeof(tcp_8080), SLUICE_STAT_PASS, XDP_PASS);
	assert_int_equal(steer_vip_add(st, &a, 8080, IPPROTO_TCP), 0);
	run_check(pmd_fd, tcp_8080, sizeof(tcp_8080), SLUICE_STAT_REDIRECT_VIP, XDP_PASS);
	assert_int_equal(steer_vip_del(st, &a, 8080, IPPROTO_TCP), 0);
	run_check(pmd_fd, tcp_8080, sizeof(tcp_8080), SLUICE_STAT_PASS, XDP_PASS);

	bpf_object__close(obj);
	unlink(obj_path);
}

/*
 * A pin of another layout under the pin root (left by another build) is
 * replaced, not refused: steer_open() succeeds and the pin is ours.
 */
static void test_stale_pin_replaced(void **state)
{
	struct steer_opts opts = {.pin_root = NULL};
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	struct steer *s2 = NULL;
	char root[96], path[128], err[256];
	int fd;

	(void)state;
	snprintf(root, sizeof(root), "%s-stale", pin_root);
	snprintf(path, sizeof(path), "%s/sluice_vips", root);
	assert_int_equal(mkdir(root, 0700), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "sluice_vips", 4, 4, 16, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);

	opts.pin_root = root;
	if (steer_open(&s2, &opts, err, sizeof(err)) != 0)
		fail_msg("steer_open over a stale pin: %s", err);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	assert_int_equal(info.key_size, sizeof(struct sluice_vip_key));
	assert_int_equal(steer_unpin(s2), 0);
	steer_close(s2);
	assert_int_equal(rmdir(root), 0);
}

/* Counter invariant: every packet got exactly one verdict. */
static void test_counter_invariant(void **state)
{
	struct steer_stats s;
	uint64_t verdicts = 0, redirects = 0;

	(void)state;
	assert_int_equal(steer_stats_read(st, &s), 0);
	for (unsigned int i = 0; i < SLUICE_STAT_NO_XSK; i++) {
		verdicts += s.packets[i];
		if (i < SLUICE_STAT_FIRST_PASS)
			redirects += s.packets[i];
	}
	assert_int_equal(verdicts, runs);
	assert_int_equal(s.packets[SLUICE_STAT_NO_XSK], redirects);
	for (unsigned int i = 0; i < SLUICE_STAT_MAX; i++)
		print_message("  %-16s %llu\n", steer_stat_name(i),
			      (unsigned long long)s.packets[i]);
}

static void test_stat_names(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < SLUICE_STAT_MAX; i++) {
		const char *name = steer_stat_name(i);

		assert_string_not_equal(name, "?");
		for (unsigned int j = 0; j < i; j++)
			assert_string_not_equal(name, steer_stat_name(j));
	}
	assert_string_equal(steer_stat_name(SLUICE_STAT_MAX), "?");
}

/*
 * A process without BPF rights (here: root's child turned into nobody, which
 * drops every capability) gets the rights message and a permission error.
 */
static void test_no_rights_message(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct steer_opts opts = {.pin_root = pin_root};
		struct steer *s = NULL;
		char err[256];
		int ret;

		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		ret = steer_open(&s, &opts, err, sizeof(err));
		if (ret == 0 || !steer_err_is_perm(ret) ||
		    !strstr(err, "needs root or CAP_BPF+CAP_NET_ADMIN")) {
			fprintf(stderr, "unprivileged steer_open: %d: %s\n", ret, err);
			_exit(1);
		}
		fprintf(stderr, "unprivileged steer_open says: %s\n", err);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Group setup: cmocka assertions are only safe inside its runs. */
static int setup_populate(void **state)
{
	(void)state;
	populate();
	return 0;
}

static struct CMUnitTest fixture_tests[ARRAY_SIZE(fixtures)];

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat_names),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_every_prefix_consistent_length),
		cmocka_unit_test(test_ip4_every_ihl),
		cmocka_unit_test(test_ip6_ext_limit),
		cmocka_unit_test(test_vip_runtime),
		cmocka_unit_test(test_shared_address),
		cmocka_unit_test(test_api_errors),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_object_file),
		cmocka_unit_test(test_pmd_shares_maps),
		cmocka_unit_test(test_stale_pin_replaced),
		cmocka_unit_test(test_counter_invariant),
		cmocka_unit_test(test_no_rights_message),
	};
	struct steer_opts opts = {.drop_no_xsk = true};
	char err[256];
	int failed, ret;

	snprintf(pin_root, sizeof(pin_root), "%s/sluice-test-%ld", SLUICE_BPF_PIN_ROOT,
		 (long)getpid());
	snprintf(obj_path, sizeof(obj_path), "/tmp/sluice-test-steer-%ld.bpf.o", (long)getpid());
	opts.pin_root = pin_root;
	ret = steer_open(&st, &opts, err, sizeof(err));
	if (ret < 0 && steer_err_is_perm(ret)) {
		printf("SKIP: %s\n", err);
		return 77;
	}
	if (ret < 0) {
		fprintf(stderr, "steer_open: %s\n", err);
		return 1;
	}
	prog_fd = steer_prog_fd(st);

	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		fixture_tests[i].name = fixtures[i].desc;
		fixture_tests[i].test_func = test_fixture;
		fixture_tests[i].initial_state = (void *)&fixtures[i];
	}
	failed = cmocka_run_group_tests_name("steer_fixtures", fixture_tests, setup_populate, NULL);
	failed += cmocka_run_group_tests_name("steer", tests, NULL, NULL);

	steer_unpin(st);
	steer_close(st);
	rmdir(pin_root);
	unlink(obj_path);
	return failed ? 1 : 0;
}
