/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/parse. The core is a table of packet fixtures (bytes in,
 * expected result, expected struct pkt_meta); main() registers each row as its
 * own cmocka test so a failure names the packet. Named cases follow: every
 * prefix of every valid fixture, IPv4 IHL 5..15, the IPv6 extension header
 * limit, oversized frames and a structure-aware random sweep.
 *
 * Every parse runs on an exact-size heap copy of the bytes, so a run under
 * valgrind or ASan catches any read past <len>.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "sl_addr.h"
#include "parse.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fixture building blocks: each expands to the header's bytes, in wire order. */
#define BE16(v)         (((v) >> 8) & 0xff), ((v)&0xff)
#define MAC_DST         0x02, 0x00, 0x00, 0x00, 0x00, 0x01
#define MAC_SRC         0x02, 0x00, 0x00, 0x00, 0x00, 0x02
#define ETH(type)       MAC_DST, MAC_SRC, BE16(type)
#define VLAN(tci, type) BE16(tci), BE16(type)
#define V4_SRC          198, 51, 100, 7
#define V4_DST          198, 18, 0, 1
/* IPv4 header, no options unless <vihl> says so; <frag> is flags + offset. */
#define IP4X(vihl, tlen, frag, proto)                                                              \
	(vihl), 0x00, BE16(tlen), 0x12, 0x34, BE16(frag), 64, (proto), 0x00, 0x00, V4_SRC, V4_DST
#define IP4(tlen, frag, proto) IP4X(0x45, tlen, frag, proto)
#define V6_SRC                 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07
#define V6_DST                 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01
#define V6_SNM                 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 0x01
/* IPv6 header up to the addresses; the two addresses follow it. */
#define IP6H(vtc, plen, nh, hlim) (vtc), 0x00, 0x00, 0x00, BE16(plen), (nh), (hlim)
#define IP6(plen, nh)             IP6H(0x60, plen, nh, 64), V6_SRC, V6_DST
/* Hop-by-hop or destination options: 8 bytes (one PadN) or 16 bytes. */
#define EXT8(nh)  (nh), 0, 0x01, 0x04, 0, 0, 0, 0
#define EXT16(nh) (nh), 1, 0x01, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
/* Routing header type 4 (SRH) with segments left 0. */
#define RT8(nh) (nh), 0, 0x04, 0x00, 0, 0, 0, 0
/* Fragment header; <off8> in 8-byte units, <more> the M flag. */
#define FRAG6(nh, off8, more) (nh), 0, BE16(((off8) << 3) | (more)), 0x00, 0x00, 0x00, 0x2a
#define TCP(sp, dp, doff, flags)                                                                   \
	BE16(sp), BE16(dp), 0, 0, 0, 1, 0, 0, 0, 0, ((doff) << 4), (flags), BE16(0xffff), 0, 0, 0, 0
#define UDP(sp, dp, ulen)         BE16(sp), BE16(dp), BE16(ulen), 0, 0
#define ICMP(type, code, id, seq) (type), (code), 0, 0, BE16(id), BE16(seq)
#define ARP(htype, ptype, hlen, plen, op)                                                          \
	BE16(htype), BE16(ptype), (hlen), (plen), BE16(op), MAC_SRC, V4_SRC, 0, 0, 0, 0, 0, 0,     \
		V4_DST
#define PAD4    0, 0, 0, 0
#define PAD8    PAD4, PAD4
#define DATA4   'd', 'a', 't', 'a'
#define OPTNOP8 1, 1, 1, 1, 1, 1, 1, 1
#define BYTES(...)                                                                                 \
	.pkt = (const uint8_t[]){__VA_ARGS__}, .len = sizeof((const uint8_t[]){__VA_ARGS__})

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* Expected struct pkt_meta, ports in host order; unnamed fields must be zero. */
struct want {
	uint8_t kind; /* checked on every result, the other fields on PARSE_OK only */
	uint8_t is_v6;
	uint8_t has_vlan;
	uint8_t frag;
	uint16_t vlan_tci;
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t l3_end;
	uint8_t l4_proto;
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint16_t sport;
	uint16_t dport;
	uint16_t arp_op;
	uint8_t ttl;
	const char *src; /* NULL: all-zero address */
	const char *dst;
};

struct fixture {
	const char *desc;
	const uint8_t *pkt;
	uint32_t len;
	enum parse_result res;
	struct want w;
};

#define W_IP4(l3, l4, end, proto)                                                                  \
	.kind = PKT_KIND_IP, .l3_off = (l3), .l4_off = (l4), .l3_end = (end), .l4_proto = (proto), \
	.ttl = 64, .src = "198.51.100.7", .dst = "198.18.0.1"
#define W_IP6(l3, l4, end, proto)                                                                  \
	.kind = PKT_KIND_IP, .is_v6 = 1, .l3_off = (l3), .l4_off = (l4), .l3_end = (end),          \
	.l4_proto = (proto), .ttl = 64, .src = "2001:db8::7", .dst = "2001:db8:0:1::1"
#define W_ARP(l3, op)                                                                              \
	.kind = PKT_KIND_ARP, .l3_off = (l3), .l3_end = (l3) + 28, .arp_op = (op),                 \
	.src = "198.51.100.7", .dst = "198.18.0.1"

static const uint8_t arp_sha[6] = {MAC_SRC};

static const struct fixture fixtures[] = {
	/* Ethernet and VLAN tags */
	{"eth ipv4 udp",
	 BYTES(ETH(0x0800), IP4(32, 0, IPPROTO_UDP), UDP(40000, 53, 12), DATA4),
	 PARSE_OK,
	 {W_IP4(14, 34, 46, IPPROTO_UDP), .sport = 40000, .dport = 53}},
	{"802.1Q ipv4 tcp syn",
	 BYTES(ETH(0x8100), VLAN(100, 0x0800), IP4(40, 0, IPPROTO_TCP), TCP(40000, 80, 5, TCP_SYN)),
	 PARSE_OK,
	 {W_IP4(18, 38, 58, IPPROTO_TCP), .has_vlan = 1, .vlan_tci = 100, .tcp_flags = TCP_SYN,
	  .sport = 40000, .dport = 80}},
	{"802.1Q tci keeps pcp and dei",
	 BYTES(ETH(0x8100), VLAN(0xf001, 0x0800), IP4(28, 0, IPPROTO_UDP), UDP(1, 2, 8)),
	 PARSE_OK,
	 {W_IP4(18, 38, 46, IPPROTO_UDP), .has_vlan = 1, .vlan_tci = 0xf001, .sport = 1,
	  .dport = 2}},
	{"13-byte frame", BYTES(MAC_DST, MAC_SRC, 0x08), PARSE_TRUNC_ETH, {.kind = PKT_KIND_NONE}},
	{"802.1Q tag cut short",
	 BYTES(ETH(0x8100), 0x00, 0x64),
	 PARSE_TRUNC_VLAN,
	 {.kind = PKT_KIND_NONE}},
	{"802.1ad outer tag",
	 BYTES(ETH(0x88a8), VLAN(100, 0x8100), VLAN(200, 0x0800), IP4(28, 0, IPPROTO_UDP),
	       UDP(1, 2, 8)),
	 PARSE_VLAN_STACKED,
	 {.kind = PKT_KIND_NONE}},
	{"two 802.1Q tags",
	 BYTES(ETH(0x8100), VLAN(100, 0x8100), VLAN(200, 0x0800), IP4(28, 0, IPPROTO_UDP),
	       UDP(1, 2, 8)),
	 PARSE_VLAN_STACKED,
	 {.kind = PKT_KIND_NONE}},
	{"802.1Q then 802.1ad",
	 BYTES(ETH(0x8100), VLAN(100, 0x88a8), VLAN(200, 0x0800), IP4(28, 0, IPPROTO_UDP),
	       UDP(1, 2, 8)),
	 PARSE_VLAN_STACKED,
	 {.kind = PKT_KIND_NONE}},
	{"pre-standard 0x9100 outer tag",
	 BYTES(ETH(0x9100), VLAN(100, 0x0800), IP4(28, 0, IPPROTO_UDP), UDP(1, 2, 8)),
	 PARSE_VLAN_STACKED,
	 {.kind = PKT_KIND_NONE}},
	{"802.1ad alone, too short for its tag",
	 BYTES(ETH(0x88a8)),
	 PARSE_VLAN_STACKED,
	 {.kind = PKT_KIND_NONE}},
	{"lldp ethertype",
	 BYTES(ETH(0x88cc), 0x02, 0x07, 0x04, PAD8),
	 PARSE_ETHERTYPE,
	 {.kind = PKT_KIND_NONE}},
	{"802.3 length field",
	 BYTES(ETH(0x002e), 0x42, 0x42, 0x03, PAD8),
	 PARSE_ETHERTYPE,
	 {.kind = PKT_KIND_NONE}},
	{"802.1Q unknown inner ethertype",
	 BYTES(ETH(0x8100), VLAN(100, 0x88cc), PAD8),
	 PARSE_ETHERTYPE,
	 {.kind = PKT_KIND_NONE}},

	/* ARP */
	{"arp request padded to 60 bytes",
	 BYTES(ETH(0x0806), ARP(1, 0x0800, 6, 4, PKT_ARP_REQUEST), PAD8, PAD8, 0, 0),
	 PARSE_OK,
	 {W_ARP(14, PKT_ARP_REQUEST)}},
	{"802.1Q arp reply",
	 BYTES(ETH(0x8100), VLAN(7, 0x0806), ARP(1, 0x0800, 6, 4, PKT_ARP_REPLY)),
	 PARSE_OK,
	 {W_ARP(18, PKT_ARP_REPLY), .has_vlan = 1, .vlan_tci = 7}},
	{"arp opcode 3 passed through",
	 BYTES(ETH(0x0806), ARP(1, 0x0800, 6, 4, 3)),
	 PARSE_OK,
	 {W_ARP(14, 3)}},
	{"arp htype ieee802",
	 BYTES(ETH(0x0806), ARP(6, 0x0800, 6, 4, PKT_ARP_REQUEST)),
	 PARSE_ARP_UNSUPPORTED,
	 {.kind = PKT_KIND_ARP}},
	{"arp ptype ipv6",
	 BYTES(ETH(0x0806), ARP(1, 0x86dd, 6, 4, PKT_ARP_REQUEST)),
	 PARSE_ARP_UNSUPPORTED,
	 {.kind = PKT_KIND_ARP}},
	{"arp hlen 8",
	 BYTES(ETH(0x0806), ARP(1, 0x0800, 8, 4, PKT_ARP_REQUEST)),
	 PARSE_ARP_UNSUPPORTED,
	 {.kind = PKT_KIND_ARP}},
	{"arp plen 16",
	 BYTES(ETH(0x0806), ARP(1, 0x0800, 6, 16, PKT_ARP_REQUEST)),
	 PARSE_ARP_UNSUPPORTED,
	 {.kind = PKT_KIND_ARP}},
	{"arp unsupported type in a short packet",
	 BYTES(ETH(0x0806), BE16(6), BE16(0x0800), 6, 4, 0, 1),
	 PARSE_ARP_UNSUPPORTED,
	 {.kind = PKT_KIND_ARP}},
	{"arp cut after sender mac",
	 BYTES(ETH(0x0806), BE16(1), BE16(0x0800), 6, 4, BE16(1), MAC_SRC),
	 PARSE_TRUNC_ARP,
	 {.kind = PKT_KIND_ARP}},
	{"arp fixed header cut",
	 BYTES(ETH(0x0806), BE16(1), BE16(0x0800), 6),
	 PARSE_TRUNC_ARP,
	 {.kind = PKT_KIND_ARP}},

	/* IPv4 */
	{"ipv4 router alert option, tcp",
	 BYTES(ETH(0x0800), IP4X(0x46, 44, 0, IPPROTO_TCP), 0x94, 0x04, 0x00, 0x00,
	       TCP(40000, 443, 5, TCP_SYN)),
	 PARSE_OK,
	 {W_IP4(14, 38, 58, IPPROTO_TCP), .tcp_flags = TCP_SYN, .sport = 40000, .dport = 443}},
	{"ipv4 ihl 15, udp",
	 BYTES(ETH(0x0800), IP4X(0x4f, 68, 0, IPPROTO_UDP), OPTNOP8, OPTNOP8, OPTNOP8, OPTNOP8,
	       OPTNOP8, UDP(5353, 5353, 8)),
	 PARSE_OK,
	 {W_IP4(14, 74, 82, IPPROTO_UDP), .sport = 5353, .dport = 5353}},
	{"ipv4 version 6 in an ipv4 frame",
	 BYTES(ETH(0x0800), IP4X(0x65, 28, 0, IPPROTO_UDP), UDP(1, 2, 8)),
	 PARSE_IP4_BAD_VERSION,
	 {.kind = PKT_KIND_IP}},
	{"ipv4 ihl 4",
	 BYTES(ETH(0x0800), IP4X(0x44, 28, 0, IPPROTO_UDP), UDP(1, 2, 8)),
	 PARSE_IP4_BAD_IHL,
	 {.kind = PKT_KIND_IP}},
	{"ipv4 ihl 0",
	 BYTES(ETH(0x0800), IP4X(0x40, 28, 0, IPPROTO_UDP), UDP(1, 2, 8)),
	 PARSE_IP4_BAD_IHL,
	 {.kind = PKT_KIND_IP}},
	{"ipv4 ihl 15 with 20 header bytes",
	 BYTES(ETH(0x0800), IP4X(0x4f, 60, 0, IPPROTO_UDP)),
	 PARSE_TRUNC_IP4,
	 {.kind = PKT_KIND_IP}},
	{"ipv4 header cut at 19 bytes",
	 BYTES(ETH(0x0800), 0x45, 0, BE16(20), 0, 0, 0, 0, 64, 17, 0, 0, V4_SRC, 198, 18, 0),
	 PARSE_TRUNC_IP4,
	 {.kind = PKT_KIND_IP}},
	{"ipv4 total length past the frame",
	 BYTES(ETH(0x0800), IP4(128, 0, IPPROTO_UDP), UDP(1, 2, 108)),
	 PARSE_IP4_BAD_LEN,
	 {.kind = PKT_KIND_IP}},
	{"ipv4 total length below the header",
	 BYTES(ETH(0x0800), IP4(19, 0, IPPROTO_UDP), UDP(1, 2, 8)),
	 PARSE_IP4_BAD_LEN,
	 {.kind = PKT_KIND_IP}},
	{"ipv4 total length below ihl*4",
	 BYTES(ETH(0x0800), IP4X(0x46, 23, 0, IPPROTO_UDP), PAD4, UDP(1, 2, 8)),
	 PARSE_IP4_BAD_LEN,
	 {.kind = PKT_KIND_IP}},
	{"60-byte frame, short udp, ethernet padding",
	 BYTES(ETH(0x0800), IP4(30, 0, IPPROTO_UDP), UDP(40000, 53, 10), 'h', 'i', PAD8, PAD8),
	 PARSE_OK,
	 {W_IP4(14, 34, 44, IPPROTO_UDP), .sport = 40000, .dport = 53}},
	{"ipv4 first fragment, udp",
	 BYTES(ETH(0x0800), IP4(36, 0x2000, IPPROTO_UDP), UDP(40000, 53, 1008), DATA4, DATA4),
	 PARSE_OK,
	 {W_IP4(14, 34, 50, IPPROTO_UDP), .frag = PKT_FRAG_FIRST, .sport = 40000, .dport = 53}},
	{"ipv4 middle fragment",
	 BYTES(ETH(0x0800), IP4(28, 0x2000 | 185, IPPROTO_UDP), UDP(1, 2, 8)),
	 PARSE_OK,
	 {W_IP4(14, 34, 42, IPPROTO_UDP), .frag = PKT_FRAG_LATER}},
	{"ipv4 last fragment",
	 BYTES(ETH(0x0800), IP4(28, 185, IPPROTO_TCP), DATA4, DATA4),
	 PARSE_OK,
	 {W_IP4(14, 34, 42, IPPROTO_TCP), .frag = PKT_FRAG_LATER}},
	{"ipv4 later fragment with options",
	 BYTES(ETH(0x0800), IP4X(0x46, 32, 0x2000 | 1, IPPROTO_UDP), 0x94, 0x04, 0x00, 0x00, DATA4,
	       DATA4),
	 PARSE_OK,
	 {W_IP4(14, 38, 46, IPPROTO_UDP), .frag = PKT_FRAG_LATER}},
	{"ipv4 tiny first fragment cuts tcp",
	 BYTES(ETH(0x0800), IP4(28, 0x2000, IPPROTO_TCP), BE16(40000), BE16(80), 0, 0, 0, 1),
	 PARSE_TRUNC_L4,
	 {.kind = PKT_KIND_IP}},
	{"ipv4 df is not a fragment",
	 BYTES(ETH(0x0800), IP4(40, 0x4000, IPPROTO_TCP), TCP(40000, 80, 5, TCP_ACK)),
	 PARSE_OK,
	 {W_IP4(14, 34, 54, IPPROTO_TCP), .tcp_flags = TCP_ACK, .sport = 40000, .dport = 80}},
	{"ipv4 gre",
	 BYTES(ETH(0x0800), IP4(24, 0, 47), 0x00, 0x00, 0x08, 0x00),
	 PARSE_OK,
	 {W_IP4(14, 34, 38, 47)}},

	/* IPv6 */
	{"ipv6 tcp syn",
	 BYTES(ETH(0x86dd), IP6(20, IPPROTO_TCP), TCP(40000, 443, 5, TCP_SYN)),
	 PARSE_OK,
	 {W_IP6(14, 54, 74, IPPROTO_TCP), .tcp_flags = TCP_SYN, .sport = 40000, .dport = 443}},
	{"802.1Q ipv6 udp",
	 BYTES(ETH(0x8100), VLAN(42, 0x86dd), IP6(12, IPPROTO_UDP), UDP(40000, 53, 12), DATA4),
	 PARSE_OK,
	 {W_IP6(18, 58, 70, IPPROTO_UDP), .has_vlan = 1, .vlan_tci = 42, .sport = 40000,
	  .dport = 53}},
	{"ipv6 hop-by-hop, dest opts, routing, first fragment, udp",
	 BYTES(ETH(0x86dd), IP6(52, IPPROTO_HOPOPTS), EXT8(IPPROTO_DSTOPTS), EXT16(IPPROTO_ROUTING),
	       RT8(IPPROTO_FRAGMENT), FRAG6(IPPROTO_UDP, 0, 1), UDP(40000, 53, 1000), DATA4),
	 PARSE_OK,
	 {W_IP6(14, 94, 106, IPPROTO_UDP), .frag = PKT_FRAG_FIRST, .sport = 40000, .dport = 53}},
	{"ipv6 non-first fragment behind dest opts",
	 BYTES(ETH(0x86dd), IP6(36, IPPROTO_DSTOPTS), EXT8(IPPROTO_FRAGMENT),
	       FRAG6(IPPROTO_TCP, 1, 1), TCP(1, 2, 5, TCP_SYN)),
	 PARSE_OK,
	 {W_IP6(14, 70, 90, IPPROTO_TCP), .frag = PKT_FRAG_LATER}},
	{"ipv6 last fragment",
	 BYTES(ETH(0x86dd), IP6(16, IPPROTO_FRAGMENT), FRAG6(IPPROTO_UDP, 100, 0), DATA4, DATA4),
	 PARSE_OK,
	 {W_IP6(14, 62, 70, IPPROTO_UDP), .frag = PKT_FRAG_LATER}},
	{"ipv6 atomic fragment is not a fragment",
	 BYTES(ETH(0x86dd), IP6(28, IPPROTO_FRAGMENT), FRAG6(IPPROTO_TCP, 0, 0),
	       TCP(40000, 443, 5, TCP_ACK)),
	 PARSE_OK,
	 {W_IP6(14, 62, 82, IPPROTO_TCP), .tcp_flags = TCP_ACK, .sport = 40000, .dport = 443}},
	{"ipv6 version 4 in an ipv6 frame",
	 BYTES(ETH(0x86dd), IP6H(0x40, 20, IPPROTO_TCP, 64), V6_SRC, V6_DST, TCP(1, 2, 5, 0)),
	 PARSE_IP6_BAD_VERSION,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 header cut at 39 bytes",
	 BYTES(ETH(0x86dd), 0x60, 0, 0, 0, BE16(0), 59, 64, V6_SRC, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
	       1, 0, 0, 0, 0, 0, 0, 0),
	 PARSE_TRUNC_IP6,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 payload length past the frame",
	 BYTES(ETH(0x86dd), IP6(100, IPPROTO_TCP), TCP(1, 2, 5, 0)),
	 PARSE_IP6_BAD_LEN,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 ext header longer than the payload",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_HOPOPTS), IPPROTO_TCP, 1, 0x01, 0x04, 0, 0, 0, 0),
	 PARSE_IP6_BAD_EXT,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 ext header cut in its first 8 bytes",
	 BYTES(ETH(0x86dd), IP6(4, IPPROTO_DSTOPTS), IPPROTO_UDP, 0, 0x01, 0x02),
	 PARSE_IP6_BAD_EXT,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 ext header only in ethernet padding",
	 BYTES(ETH(0x86dd), IP6(0, IPPROTO_DSTOPTS), EXT8(59)),
	 PARSE_IP6_BAD_EXT,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 hop-by-hop not first",
	 BYTES(ETH(0x86dd), IP6(16, IPPROTO_DSTOPTS), EXT8(IPPROTO_HOPOPTS), EXT8(59)),
	 PARSE_IP6_BAD_EXT,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 8 ext headers (the limit)",
	 BYTES(ETH(0x86dd), IP6(72, IPPROTO_DSTOPTS), EXT8(60), EXT8(60), EXT8(60), EXT8(60),
	       EXT8(60), EXT8(60), EXT8(60), EXT8(IPPROTO_UDP), UDP(40000, 53, 8)),
	 PARSE_OK,
	 {W_IP6(14, 118, 126, IPPROTO_UDP), .sport = 40000, .dport = 53}},
	{"ipv6 9 ext headers",
	 BYTES(ETH(0x86dd), IP6(80, IPPROTO_DSTOPTS), EXT8(60), EXT8(60), EXT8(60), EXT8(60),
	       EXT8(60), EXT8(60), EXT8(60), EXT8(60), EXT8(IPPROTO_UDP), UDP(40000, 53, 8)),
	 PARSE_IP6_BAD_EXT,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 no next header, ethernet padding",
	 BYTES(ETH(0x86dd), IP6(0, 59), 0, 0, 0, 0, 0, 0),
	 PARSE_OK,
	 {W_IP6(14, 54, 54, 59)}},
	{"ipv6 esp after dest opts ends the walk",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_DSTOPTS), EXT8(IPPROTO_ESP), 0, 0, 0x10, 0x01, 0, 0, 0,
	       1, DATA4, DATA4),
	 PARSE_OK,
	 {W_IP6(14, 62, 78, IPPROTO_ESP)}},
	{"ipv6 ah ends the walk",
	 BYTES(ETH(0x86dd), IP6(24, IPPROTO_AH), IPPROTO_TCP, 4, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1,
	       PAD4, PAD8),
	 PARSE_OK,
	 {W_IP6(14, 54, 78, IPPROTO_AH)}},
	{"icmpv6 neighbour solicitation",
	 BYTES(ETH(0x86dd), IP6H(0x60, 32, IPPROTO_ICMPV6, 255), V6_SRC, V6_SNM, 135, 0, 0, 0, PAD4,
	       V6_DST, 1, 1, MAC_SRC),
	 PARSE_OK,
	 {.kind = PKT_KIND_IP,
	  .is_v6 = 1,
	  .l3_off = 14,
	  .l4_off = 54,
	  .l3_end = 86,
	  .l4_proto = IPPROTO_ICMPV6,
	  .icmp_type = 135,
	  .ttl = 255,
	  .src = "2001:db8::7",
	  .dst = "ff02::1:ff00:1"}},
	{"icmpv6 echo request",
	 BYTES(ETH(0x86dd), IP6(12, IPPROTO_ICMPV6), ICMP(128, 0, 0x1234, 1), DATA4),
	 PARSE_OK,
	 {W_IP6(14, 54, 66, IPPROTO_ICMPV6), .icmp_type = 128, .sport = 0x1234}},
	{"icmpv6 echo reply",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_ICMPV6), ICMP(129, 0, 0x4321, 2)),
	 PARSE_OK,
	 {W_IP6(14, 54, 62, IPPROTO_ICMPV6), .icmp_type = 129, .sport = 0x4321}},
	{"icmpv6 cut at 4 bytes",
	 BYTES(ETH(0x86dd), IP6(4, IPPROTO_ICMPV6), 128, 0, 0, 0),
	 PARSE_TRUNC_L4,
	 {.kind = PKT_KIND_IP}},
	{"icmp (v4) inside ipv6 is an unknown protocol",
	 BYTES(ETH(0x86dd), IP6(8, IPPROTO_ICMP), ICMP(8, 0, 0x1234, 1)),
	 PARSE_OK,
	 {W_IP6(14, 54, 62, IPPROTO_ICMP)}},
	{"ipv6 tcp data offset past the payload",
	 BYTES(ETH(0x86dd), IP6(20, IPPROTO_TCP), TCP(1, 2, 8, TCP_SYN), PAD8, PAD4),
	 PARSE_TCP_BAD_DOFF,
	 {.kind = PKT_KIND_IP}},
	{"ipv6 udp cut at 7 bytes",
	 BYTES(ETH(0x86dd), IP6(7, IPPROTO_UDP), BE16(1), BE16(2), BE16(8), 0),
	 PARSE_TRUNC_L4,
	 {.kind = PKT_KIND_IP}},

	/* TCP */
	{"tcp syn-ack",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP), TCP(443, 40000, 5, 0x12)),
	 PARSE_OK,
	 {W_IP4(14, 34, 54, IPPROTO_TCP), .tcp_flags = TCP_SYN | TCP_ACK, .sport = 443,
	  .dport = 40000}},
	{"tcp fin-psh-ack",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP),
	       TCP(40000, 443, 5, TCP_FIN | TCP_PSH | TCP_ACK)),
	 PARSE_OK,
	 {W_IP4(14, 34, 54, IPPROTO_TCP), .tcp_flags = TCP_FIN | TCP_PSH | TCP_ACK, .sport = 40000,
	  .dport = 443}},
	{"tcp rst",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP), TCP(40000, 443, 5, TCP_RST)),
	 PARSE_OK,
	 {W_IP4(14, 34, 54, IPPROTO_TCP), .tcp_flags = TCP_RST, .sport = 40000, .dport = 443}},
	{"tcp syn with ece and cwr",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP),
	       TCP(40000, 443, 5, TCP_SYN | TCP_ECE | TCP_CWR)),
	 PARSE_OK,
	 {W_IP4(14, 34, 54, IPPROTO_TCP), .tcp_flags = TCP_SYN | TCP_ECE | TCP_CWR, .sport = 40000,
	  .dport = 443}},
	{"tcp mss option, data offset 6",
	 BYTES(ETH(0x0800), IP4(44, 0, IPPROTO_TCP), TCP(40000, 443, 6, TCP_SYN), 2, 4, 0x05, 0xb4),
	 PARSE_OK,
	 {W_IP4(14, 34, 58, IPPROTO_TCP), .tcp_flags = TCP_SYN, .sport = 40000, .dport = 443}},
	{"tcp data offset 4",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP), TCP(1, 2, 4, TCP_SYN)),
	 PARSE_TCP_BAD_DOFF,
	 {.kind = PKT_KIND_IP}},
	{"tcp data offset 0",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP), TCP(1, 2, 0, TCP_SYN)),
	 PARSE_TCP_BAD_DOFF,
	 {.kind = PKT_KIND_IP}},
	{"tcp data offset 15 past the packet",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP), TCP(1, 2, 15, TCP_SYN)),
	 PARSE_TCP_BAD_DOFF,
	 {.kind = PKT_KIND_IP}},
	{"tcp options only in ethernet padding",
	 BYTES(ETH(0x0800), IP4(40, 0, IPPROTO_TCP), TCP(1, 2, 6, TCP_SYN), 2, 4, 0x05, 0xb4),
	 PARSE_TCP_BAD_DOFF,
	 {.kind = PKT_KIND_IP}},
	{"tcp cut at 19 bytes",
	 BYTES(ETH(0x0800), IP4(39, 0, IPPROTO_TCP), BE16(40000), BE16(80), 0, 0, 0, 1, 0, 0, 0, 0,
	       0x50, TCP_SYN, 0xff, 0xff, 0, 0, 0),
	 PARSE_TRUNC_L4,
	 {.kind = PKT_KIND_IP}},
	{"tcp header only in ethernet padding",
	 BYTES(ETH(0x0800), IP4(24, 0, IPPROTO_TCP), TCP(40000, 80, 5, TCP_SYN)),
	 PARSE_TRUNC_L4,
	 {.kind = PKT_KIND_IP}},

	/* UDP and ICMP */
	{"udp cut at 7 bytes",
	 BYTES(ETH(0x0800), IP4(27, 0, IPPROTO_UDP), BE16(40000), BE16(53), BE16(8), 0),
	 PARSE_TRUNC_L4,
	 {.kind = PKT_KIND_IP}},
	{"udp header only, empty payload",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_UDP), UDP(40000, 53, 8)),
	 PARSE_OK,
	 {W_IP4(14, 34, 42, IPPROTO_UDP), .sport = 40000, .dport = 53}},
	{"udp length past the packet",
	 BYTES(ETH(0x0800), IP4(32, 0, IPPROTO_UDP), UDP(40000, 53, 13), DATA4),
	 PARSE_UDP_BAD_LEN,
	 {.kind = PKT_KIND_IP}},
	{"udp length under its header",
	 BYTES(ETH(0x0800), IP4(32, 0, IPPROTO_UDP), UDP(40000, 53, 7), DATA4),
	 PARSE_UDP_BAD_LEN,
	 {.kind = PKT_KIND_IP}},
	{"udp length short of the packet: trailing padding, trimmed by the receiver",
	 BYTES(ETH(0x0800), IP4(32, 0, IPPROTO_UDP), UDP(40000, 53, 8), DATA4),
	 PARSE_OK,
	 {W_IP4(14, 34, 46, IPPROTO_UDP), .sport = 40000, .dport = 53}},
	{"icmp echo request",
	 BYTES(ETH(0x0800), IP4(32, 0, IPPROTO_ICMP), ICMP(8, 0, 0x1234, 7), DATA4),
	 PARSE_OK,
	 {W_IP4(14, 34, 46, IPPROTO_ICMP), .icmp_type = 8, .sport = 0x1234}},
	{"icmp echo reply",
	 BYTES(ETH(0x0800), IP4(28, 0, IPPROTO_ICMP), ICMP(0, 0, 0x4321, 7)),
	 PARSE_OK,
	 {W_IP4(14, 34, 42, IPPROTO_ICMP), .icmp_type = 0, .sport = 0x4321}},
	{"icmp fragmentation needed",
	 BYTES(ETH(0x0800), IP4(56, 0, IPPROTO_ICMP), ICMP(3, 4, 0, 1400),
	       IP4(1500, 0x4000, IPPROTO_TCP), BE16(40000), BE16(80), 0, 0, 0, 1),
	 PARSE_OK,
	 {W_IP4(14, 34, 70, IPPROTO_ICMP), .icmp_type = 3, .icmp_code = 4}},
	{"icmp cut at 7 bytes",
	 BYTES(ETH(0x0800), IP4(27, 0, IPPROTO_ICMP), 8, 0, 0, 0, 0x12, 0x34, 0),
	 PARSE_TRUNC_L4,
	 {.kind = PKT_KIND_IP}},
};

/* parse_packet() on an exact-size heap copy, so memcheck/ASan see any over-read. */
static enum parse_result parse_copy(const uint8_t *pkt, uint32_t len, struct pkt_meta *m)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum parse_result r;

	assert_non_null(copy);
	memcpy(copy, pkt, len);
	r = parse_packet(copy, len, m);
	/* The parser reads the packet, it never writes it. */
	assert_memory_equal(copy, pkt, len);
	free(copy);
	return r;
}

static void want_addr(const char *text, const struct sl_addr *got)
{
	struct sl_addr a;

	memset(&a, 0, sizeof(a));
	if (text != NULL)
		assert_int_equal(sl_addr_parse(&a, text), 0);
	assert_memory_equal(&a, got, sizeof(a));
}

static void check_meta(const struct fixture *f, const struct pkt_meta *m)
{
	const struct want *w = &f->w;

	assert_int_equal(m->is_v6, w->is_v6);
	assert_int_equal(m->has_vlan, w->has_vlan);
	assert_int_equal(m->vlan_tci, w->vlan_tci);
	assert_int_equal(m->frag, w->frag);
	assert_int_equal(m->l3_off, w->l3_off);
	assert_int_equal(m->l4_off, w->l4_off);
	assert_int_equal(m->l3_end, w->l3_end);
	assert_int_equal(m->l4_proto, w->l4_proto);
	assert_int_equal(m->tcp_flags, w->tcp_flags);
	assert_int_equal(m->icmp_type, w->icmp_type);
	assert_int_equal(m->icmp_code, w->icmp_code);
	assert_int_equal(ntohs(m->sport), w->sport);
	assert_int_equal(ntohs(m->dport), w->dport);
	assert_int_equal(m->arp_op, w->arp_op);
	assert_int_equal(m->ttl, w->ttl);
	want_addr(w->src, &m->src);
	want_addr(w->dst, &m->dst);
	if (w->kind == PKT_KIND_ARP)
		assert_memory_equal(m->arp_sha, arp_sha, sizeof(arp_sha));
	else
		assert_memory_equal(m->arp_sha, (uint8_t[6]){0}, 6);
	/* Ports are the packet's own bytes, network order. */
	if (w->l4_proto == IPPROTO_TCP || w->l4_proto == IPPROTO_UDP) {
		if (w->frag != PKT_FRAG_LATER) {
			assert_memory_equal(&m->sport, f->pkt + w->l4_off, 2);
			assert_memory_equal(&m->dport, f->pkt + w->l4_off + 2, 2);
		}
	}
}

static void test_fixture(void **state)
{
	const struct fixture *f = *state;
	struct pkt_meta m;
	enum parse_result r = parse_copy(f->pkt, f->len, &m);

	if (r != f->res)
		fail_msg("%s: got %s, want %s", f->desc, parse_result_name(r),
			 parse_result_name(f->res));
	assert_int_equal(m.kind, f->w.kind);
	if (r == PARSE_OK)
		check_meta(f, &m);
}

/*
 * Properties every PARSE_OK result must have, whatever the input: offsets
 * ordered and inside the frame, no L4 fields on later fragments.
 */
static void check_invariants(const struct pkt_meta *m, uint32_t len)
{
	assert_true(m->kind == PKT_KIND_IP || m->kind == PKT_KIND_ARP);
	assert_int_equal(m->l3_off, m->has_vlan ? 18 : 14);
	if (!m->has_vlan)
		assert_int_equal(m->vlan_tci, 0);
	assert_true(m->l3_off < m->l3_end);
	assert_true(m->l3_end <= len);
	if (m->kind == PKT_KIND_ARP) {
		assert_int_equal(m->l3_end, m->l3_off + 28);
		assert_int_equal(m->l4_off, 0);
		assert_int_equal(m->is_v6, 0);
		return;
	}
	assert_true(m->l4_off >= m->l3_off + (m->is_v6 ? 40 : 20));
	assert_true(m->l4_off <= m->l3_end);
	assert_int_equal(sl_addr_is_v4(&m->dst), !m->is_v6);
	if (m->frag == PKT_FRAG_LATER || m->l4_proto != IPPROTO_TCP)
		assert_int_equal(m->tcp_flags, 0);
	if (m->frag == PKT_FRAG_LATER) {
		assert_int_equal(m->sport, 0);
		assert_int_equal(m->dport, 0);
		assert_int_equal(m->icmp_type, 0);
		assert_int_equal(m->icmp_code, 0);
	}
	if (m->frag != PKT_FRAG_LATER && m->l4_proto == IPPROTO_TCP)
		assert_true(m->l4_off + 20u <= m->l3_end);
	if (m->frag != PKT_FRAG_LATER && m->l4_proto == IPPROTO_UDP)
		assert_true(m->l4_off + 8u <= m->l3_end);
	if (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP)
		assert_int_equal(m->dport, 0);
}

/*
 * Every prefix of every valid fixture: a prefix that stops before the end of
 * the packet proper (l3_end) must fail with the truncation reason of the
 * layer it stops in; one that only drops Ethernet padding must parse exactly
 * like the whole frame.
 */
static void test_every_prefix(void **state)
{
	unsigned int checked = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *f = &fixtures[i];
		struct pkt_meta full, m;

		if (f->res != PARSE_OK)
			continue;
		assert_int_equal(parse_copy(f->pkt, f->len, &full), PARSE_OK);
		for (uint32_t p = 0; p < f->len; p++) {
			enum parse_result r = parse_copy(f->pkt, p, &m), want;

			checked++;
			if (p >= f->w.l3_end) {
				if (r != PARSE_OK || memcmp(&m, &full, sizeof(m)) != 0)
					fail_msg("%s: %u-byte prefix (padding cut) got %s or "
						 "other fields",
						 f->desc, p, parse_result_name(r));
				continue;
			}
			if (p < 14)
				want = PARSE_TRUNC_ETH;
			else if (p < f->w.l3_off)
				want = PARSE_TRUNC_VLAN;
			else if (f->w.kind == PKT_KIND_ARP)
				want = PARSE_TRUNC_ARP;
			else if (f->w.is_v6)
				want = p < f->w.l3_off + 40u ? PARSE_TRUNC_IP6 : PARSE_IP6_BAD_LEN;
			else
				want = p < f->w.l4_off ? PARSE_TRUNC_IP4 : PARSE_IP4_BAD_LEN;
			if (r != want)
				fail_msg("%s: %u-byte prefix got %s, want %s", f->desc, p,
					 parse_result_name(r), parse_result_name(want));
			if (p >= f->w.l3_off && m.kind != f->w.kind)
				fail_msg("%s: %u-byte prefix: kind %u", f->desc, p, m.kind);
		}
	}
	print_message("%u prefixes checked\n", checked);
}

/*
 * Every prefix again, with the IP length field rewritten to agree with the
 * prefix, so the cut lands in the L3 options / extension headers / L4 header
 * instead of failing the length check. No expected result: the result must
 * be a known one, and OK results must satisfy the invariants.
 */
static void test_every_prefix_consistent_length(void **state)
{
	uint8_t buf[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *f = &fixtures[i];

		if (f->res != PARSE_OK || f->w.kind != PKT_KIND_IP)
			continue;
		assert_true(f->len <= sizeof(buf));
		for (uint32_t p = f->w.l3_off + (f->w.is_v6 ? 40u : 20u); p < f->w.l3_end; p++) {
			struct pkt_meta m;
			uint32_t iplen = p - f->w.l3_off;
			enum parse_result r;

			memcpy(buf, f->pkt, p);
			if (f->w.is_v6) {
				buf[f->w.l3_off + 4] = (uint8_t)((iplen - 40) >> 8);
				buf[f->w.l3_off + 5] = (uint8_t)(iplen - 40);
			} else {
				buf[f->w.l3_off + 2] = (uint8_t)(iplen >> 8);
				buf[f->w.l3_off + 3] = (uint8_t)iplen;
			}
			r = parse_copy(buf, p, &m);
			assert_true(r < PARSE_RESULT_MAX);
			if (r == PARSE_OK)
				check_invariants(&m, p);
			else if (r == PARSE_TRUNC_ETH || r == PARSE_IP4_BAD_LEN ||
				 r == PARSE_IP6_BAD_LEN)
				fail_msg("%s: %u bytes, consistent length: %s", f->desc, p,
					 parse_result_name(r));
		}
	}
}

static void test_result_names(void **state)
{
	static const char *const want[PARSE_RESULT_MAX] = {
		"ok",
		"trunc_eth",
		"trunc_vlan",
		"vlan_stacked",
		"ethertype",
		"trunc_arp",
		"arp_unsupported",
		"trunc_ip4",
		"ip4_bad_version",
		"ip4_bad_ihl",
		"ip4_bad_len",
		"trunc_ip6",
		"ip6_bad_version",
		"ip6_bad_len",
		"ip6_bad_ext",
		"trunc_l4",
		"tcp_bad_doff",
		"udp_bad_len",
	};

	(void)state;
	for (int r = 0; r < PARSE_RESULT_MAX; r++) {
		const char *name = parse_result_name((enum parse_result)r);

		assert_non_null(name);
		assert_string_equal(name, want[r]);
		assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_"),
				 strlen(name));
		for (int s = 0; s < r; s++)
			assert_string_not_equal(name, parse_result_name((enum parse_result)s));
	}
	assert_string_equal(parse_result_name(PARSE_RESULT_MAX), "?");
	assert_string_equal(parse_result_name((enum parse_result) - 1), "?");
}

static void test_empty(void **state)
{
	struct pkt_meta m;

	(void)state;
	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(parse_packet(NULL, 0, &m), PARSE_TRUNC_ETH);
	assert_int_equal(m.kind, PKT_KIND_NONE);
}

/* IPv4 with every IHL from 5 to 15 (NOP options), then UDP. */
static void test_ip4_every_ihl(void **state)
{
	(void)state;
	for (unsigned int ihl = 5; ihl <= 15; ihl++) {
		static const uint8_t head[] = {ETH(0x0800), IP4(0, 0, IPPROTO_UDP)};
		static const uint8_t udp[] = {UDP(40000, 53, 8)};
		uint8_t buf[14 + 60 + 8];
		uint32_t hl = ihl * 4, len = 14 + hl + 8;
		struct pkt_meta m;

		memcpy(buf, head, sizeof(head));
		memset(buf + 34, 1, hl - 20);
		memcpy(buf + 14 + hl, udp, sizeof(udp));
		buf[14] = (uint8_t)(0x40 | ihl);
		buf[17] = (uint8_t)(hl + 8);
		assert_int_equal(parse_copy(buf, len, &m), PARSE_OK);
		assert_int_equal(m.l4_off, 14 + hl);
		assert_int_equal(m.l3_end, len);
		assert_int_equal(ntohs(m.sport), 40000);
		assert_int_equal(ntohs(m.dport), 53);
		/* One byte short of the options: the IHL check, not the length check. */
		assert_int_equal(parse_copy(buf, 14 + hl - 1, &m), PARSE_TRUNC_IP4);
	}
}

/* 0..9 destination options headers before UDP: 8 is the most walked. */
static void test_ip6_ext_limit(void **state)
{
	(void)state;
	for (unsigned int n = 0; n <= 9; n++) {
		static const uint8_t head[] = {ETH(0x86dd), IP6(0, 0)};
		static const uint8_t udp[] = {UDP(40000, 53, 8)};
		uint8_t buf[14 + 40 + 9 * 8 + 8];
		uint32_t len = 14 + 40 + n * 8 + 8;
		struct pkt_meta m;
		enum parse_result r;

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
		r = parse_copy(buf, len, &m);
		if (n <= 8) {
			assert_int_equal(r, PARSE_OK);
			assert_int_equal(m.l4_proto, IPPROTO_UDP);
			assert_int_equal(m.l4_off, 54 + n * 8);
			assert_int_equal(ntohs(m.dport), 53);
		} else {
			assert_int_equal(r, PARSE_IP6_BAD_EXT);
		}
	}
}

/*
 * Offsets in struct pkt_meta are 16-bit: a frame longer than 65535 bytes is
 * read as if cut there, so an IP packet reaching past that is bad_len.
 */
static void test_oversized_frame(void **state)
{
	static const uint8_t head4[] = {ETH(0x0800), IP4(0, 0, IPPROTO_UDP), UDP(1, 2, 8)};
	static const uint8_t head6[] = {ETH(0x86dd), IP6(0, IPPROTO_UDP), UDP(1, 2, 8)};
	uint32_t len = 70000;
	uint8_t *buf = calloc(1, len);
	struct pkt_meta m;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, head4, sizeof(head4));
	buf[16] = 1000 >> 8;
	buf[17] = 1000 & 0xff;
	assert_int_equal(parse_packet(buf, len, &m), PARSE_OK);
	assert_int_equal(m.l3_end, 1014);

	buf[16] = 0xff;
	buf[17] = 0xff; /* 14 + 65535 > 65535 */
	assert_int_equal(parse_packet(buf, len, &m), PARSE_IP4_BAD_LEN);

	memcpy(buf, head6, sizeof(head6));
	buf[18] = 65000 >> 8;
	buf[19] = 65000 & 0xff;
	assert_int_equal(parse_packet(buf, len, &m), PARSE_OK);
	assert_int_equal(m.l3_end, 14 + 40 + 65000);
	free(buf);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

static uint8_t pick(const uint8_t *v, size_t n)
{
	return v[rng() % n];
}

/*
 * Random frames shaped to get past the outer layers (plausible ethertypes,
 * versions, lengths that agree more often than not, extension chains), then
 * checked only for sane results: no crash, a known result, invariants on OK.
 */
static void test_random_frames(void **state)
{
	static const uint16_t ethertypes[] = {0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x1234};
	static const uint8_t protos[] = {
		IPPROTO_TCP,     IPPROTO_UDP,      IPPROTO_ICMP,    IPPROTO_ICMPV6, IPPROTO_HOPOPTS,
		IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS, IPPROTO_ESP,    59};
	unsigned int ok = 0, n = 100000;
	uint32_t hist[PARSE_RESULT_MAX] = {0};

	(void)state;
	for (unsigned int it = 0; it < n; it++) {
		uint8_t b[192];
		uint32_t len = rng() % sizeof(b), l3 = 14;
		uint16_t et = ethertypes[rng() % ARRAY_SIZE(ethertypes)];
		struct pkt_meta m;
		enum parse_result r;

		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)rng();
		b[12] = (uint8_t)(et >> 8);
		b[13] = (uint8_t)et;
		if (et == 0x8100) {
			et = ethertypes[rng() % 3];
			b[16] = (uint8_t)(et >> 8);
			b[17] = (uint8_t)et;
			l3 = 18;
		}
		if (et == 0x0800) {
			uint32_t ihl = rng() % 4 ? 5 : rng() % 16;

			b[l3] = (uint8_t)(rng() % 8 ? 0x40 | ihl : b[l3]);
			if (len > l3 && rng() % 4) {
				uint32_t tot = len - l3 - (rng() % 4 ? 0 : rng() % 8);

				b[l3 + 2] = (uint8_t)(tot >> 8);
				b[l3 + 3] = (uint8_t)tot;
			}
			if (rng() % 4)
				b[l3 + 6] = b[l3 + 7] = 0;
			b[l3 + 9] = pick(protos, 3);
		} else if (et == 0x86dd) {
			uint32_t cur = l3 + 40;

			b[l3] = (uint8_t)(rng() % 8 ? 0x60 : b[l3]);
			if (len > l3 + 40 && rng() % 4) {
				uint32_t pl = len - l3 - 40 - (rng() % 4 ? 0 : rng() % 8);

				b[l3 + 4] = (uint8_t)(pl >> 8);
				b[l3 + 5] = (uint8_t)pl;
			}
			b[l3 + 6] = pick(protos, ARRAY_SIZE(protos));
			while (cur + 8 <= sizeof(b) && rng() % 3) {
				b[cur] = pick(protos, ARRAY_SIZE(protos));
				b[cur + 1] = (uint8_t)(rng() % 4 ? 0 : rng() % 3);
				if (rng() % 2)
					b[cur + 2] = b[cur + 3] = 0;
				cur += (b[cur + 1] + 1u) * 8;
			}
		} else if (et == 0x0806 && rng() % 4) {
			static const uint8_t arp_head[] = {0, 1, 8, 0, 6, 4};

			memcpy(b + l3, arp_head, sizeof(arp_head));
		}
		r = parse_copy(b, len, &m);
		assert_true((unsigned int)r < PARSE_RESULT_MAX);
		hist[r]++;
		if (r == PARSE_OK) {
			ok++;
			check_invariants(&m, len);
		}
	}
	print_message("%u random frames, %u ok\n", n, ok);
	for (int r = 0; r < PARSE_RESULT_MAX; r++)
		print_message("  %-16s %u\n", parse_result_name((enum parse_result)r), hist[r]);
}

static struct CMUnitTest fixture_tests[ARRAY_SIZE(fixtures)];

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_every_prefix_consistent_length),
		cmocka_unit_test(test_ip4_every_ihl),
		cmocka_unit_test(test_ip6_ext_limit),
		cmocka_unit_test(test_oversized_frame),
		cmocka_unit_test(test_random_frames),
	};
	int failed;

	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		fixture_tests[i].name = fixtures[i].desc;
		fixture_tests[i].test_func = test_fixture;
		fixture_tests[i].initial_state = (void *)&fixtures[i];
	}
	failed = cmocka_run_group_tests_name("parse_fixtures", fixture_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("parse", tests, NULL, NULL);
	return failed ? 1 : 0;
}
