/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet parser: Ethernet (one optional 802.1Q tag), ARP, IPv4 (options,
 * fragments), IPv6 (extension headers walked), TCP, UDP, ICMP, ICMPv6.
 *
 * Contract: parse_packet() reads only bytes [0, len) of <pkt>; it never
 * writes to the packet. It fills <m> and returns PARSE_OK, or a named reason
 * (enum parse_result) when the packet is malformed, truncated or not something
 * Sluice handles. It has no DPDK dependency so unit tests link the real code.
 * All multi-byte fields copied into struct pkt_meta stay in network byte order
 * unless the field comment says otherwise: the hot path compares them with
 * values converted once at configuration time.
 */
#ifndef SLUICE_PARSE_H
#define SLUICE_PARSE_H

#include <stdint.h>

#include "sl_addr.h"

enum parse_result {
	PARSE_OK = 0,
	PARSE_TRUNC_ETH,       /* shorter than an Ethernet header */
	PARSE_TRUNC_VLAN,      /* 802.1Q tag cut short */
	PARSE_VLAN_STACKED,    /* QinQ / more than one tag: not supported */
	PARSE_ETHERTYPE,       /* neither IPv4, IPv6 nor ARP */
	PARSE_TRUNC_ARP,       /* shorter than an Ethernet/IPv4 ARP packet */
	PARSE_ARP_UNSUPPORTED, /* ARP for another hardware/protocol type */
	PARSE_TRUNC_IP4,       /* shorter than the IPv4 header (IHL) */
	PARSE_IP4_BAD_VERSION, /* version field is not 4 */
	PARSE_IP4_BAD_IHL,     /* IHL < 5 */
	PARSE_IP4_BAD_LEN,     /* total length < IHL*4 or > bytes present */
	PARSE_TRUNC_IP6,       /* shorter than 40 bytes */
	PARSE_IP6_BAD_VERSION, /* version field is not 6 */
	PARSE_IP6_BAD_LEN,     /* payload length > bytes present */
	PARSE_IP6_BAD_EXT,     /* extension header chain truncated or too long */
	PARSE_TRUNC_L4,        /* TCP/UDP/ICMP/ICMPv6 header cut short */
	PARSE_TCP_BAD_DOFF,    /* TCP data offset < 5 or past the IP payload */
	PARSE_UDP_BAD_LEN,     /* UDP length < 8, or past the IP payload (unfragmented) */
	PARSE_RESULT_MAX
};

/* Short stable names ("trunc_eth", ...) for counters and logs. */
const char *parse_result_name(enum parse_result r);

enum pkt_kind {
	PKT_KIND_NONE = 0,
	PKT_KIND_ARP,
	PKT_KIND_IP, /* IPv4 or IPv6: see sl_addr_is_v4(&m->dst) or m->is_v6 */
};

enum pkt_frag {
	PKT_FRAG_NONE = 0, /* not a fragment */
	PKT_FRAG_FIRST,    /* offset 0, more fragments: L4 header present */
	PKT_FRAG_LATER,    /* offset > 0: no L4 header; l4 fields are zero */
};

/* ARP opcodes, host order. */
#define PKT_ARP_REQUEST 1
#define PKT_ARP_REPLY   2

struct pkt_meta {
	uint8_t kind;      /* enum pkt_kind */
	uint8_t is_v6;     /* 1 for IPv6 */
	uint8_t has_vlan;  /* one 802.1Q tag was present */
	uint8_t frag;      /* enum pkt_frag */
	uint16_t vlan_tci; /* host order; 0 when untagged */
	uint16_t l3_off;   /* offset of the ARP/IP header (14 or 18) */
	uint16_t l4_off;   /* offset of the L4 header (after IPv4 options / IPv6 ext headers) */
	uint16_t l3_end;   /* offset one past the IP packet (from the IP length field); padding
			      beyond it (Ethernet minimum frame) is not part of the packet */
	uint8_t l4_proto;  /* IPPROTO_TCP/UDP/ICMP/ICMPV6 or other final next-header value */
	uint8_t tcp_flags; /* TCP flags byte (FIN=0x01 SYN=0x02 RST=0x04 PSH ACK=0x10 ...) */
	uint8_t icmp_type; /* ICMP or ICMPv6 type */
	uint8_t icmp_code;
	uint16_t sport;  /* network order; TCP/UDP ports, ICMP echo identifier in sport */
	uint16_t dport;  /* network order; 0 for ICMP */
	uint16_t arp_op; /* host order, PKT_ARP_REQUEST/REPLY */
	uint8_t ttl;     /* IPv4 TTL or IPv6 hop limit */
	uint8_t pad;
	struct sl_addr src; /* IP source; for ARP: sender protocol address */
	struct sl_addr dst; /* IP destination; for ARP: target protocol address */
	uint8_t arp_sha[6]; /* ARP sender hardware address */
	uint8_t pad2[2];
};

/*
 * Parses the frame at <pkt> of <len> bytes into <m>. On anything other than
 * PARSE_OK, the fields of <m> are unspecified except kind.
 * IPv6 extension headers walked: hop-by-hop (0), routing (43), fragment (44),
 * destination options (60), at most 8 of them; AH/ESP end the walk
 * (l4_proto = 51/50). IPv4 and IPv6 non-first fragments parse as PARSE_OK with
 * frag = PKT_FRAG_LATER and no L4 fields.
 */
enum parse_result parse_packet(const uint8_t *pkt, uint32_t len, struct pkt_meta *m);

#endif
