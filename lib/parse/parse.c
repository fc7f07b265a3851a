/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet parser (contract in parse.h).
 *
 * Bounds discipline: each layer is handed the offset where it starts and the
 * offset one past the last byte it may look at. Before any field is read the
 * layer checks that the bytes exist, so no read ever lands at or beyond <len>.
 * Below the IP header the limit is the end of the IP packet (from its length
 * field), not <len>: Ethernet padding is never mistaken for headers.
 *
 * Multi-byte fields are read with byte loads (host-order values) or memcpy
 * (network-order values copied as-is): the packet may sit at any alignment.
 *
 * Choices the header leaves open, made here:
 *  - vlan_tci is the whole TCI (PCP, DEI and VID).
 *  - Outer ethertype 0x88a8 (802.1ad) or 0x9100 (pre-standard QinQ), or any
 *    tag ethertype inside an 802.1Q tag, is PARSE_VLAN_STACKED.
 *  - ARP: l3_end = l3_off + 28; l4 fields stay zero. Opcodes other than
 *    request/reply are returned as they are in arp_op for the caller to judge.
 *  - Non-first fragments (IPv4 and IPv6): l4_proto is the protocol of the
 *    fragment payload and l4_off where that payload starts; ports, flags and
 *    ICMP fields are zero.
 *  - IPv6: a hop-by-hop header anywhere but first is PARSE_IP6_BAD_EXT
 *    (RFC 8200 4.1). A fragment header with offset 0 and M clear (atomic
 *    fragment, RFC 6946) is not a fragment.
 *  - ICMP fields are filled for protocol 1 in IPv4 and 58 in IPv6 only; the
 *    other pairing parses as an unknown protocol.
 *  - Frames longer than 65535 bytes are parsed as if cut there, since the
 *    offsets in struct pkt_meta are 16-bit (an mbuf segment never holds more).
 */
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "parse.h"
#include "pkt_bytes.h"

#define ETHTYPE_IPV4      0x0800
#define ETHTYPE_ARP       0x0806
#define ETHTYPE_VLAN      0x8100
#define ETHTYPE_IPV6      0x86dd
#define ETHTYPE_QINQ      0x88a8
#define ETHTYPE_QINQ_OLD  0x9100
#define ETH_HDR_LEN       14
#define VLAN_HDR_LEN      4
#define ARP_FIXED_LEN     8  /* htype, ptype, hlen, plen, op */
#define ARP_ETH_IP4_LEN   28 /* ARP for Ethernet/IPv4 */
#define ARP_HTYPE_ETHER   1
#define IP4_MIN_HDR_LEN   20
#define IP4_MF            0x2000
#define IP4_OFFMASK       0x1fff
#define IP6_HDR_LEN       40
#define IP6_EXT_MIN_LEN   8
#define IP6_FRAG_HDR_LEN  8
#define IP6_FRAG_OFFMASK  0xfff8
#define IP6_FRAG_MF       0x0001
#define IP6_MAX_EXT       8
#define TCP_MIN_HDR_LEN   20
#define UDP_HDR_LEN       8
#define ICMP_HDR_LEN      8 /* type, code, checksum, 4 bytes of "rest of header" */
#define ICMP_ECHO_REPLY   0
#define ICMP_ECHO_REQUEST 8
#define ICMP6_ECHO_REQ    128
#define ICMP6_ECHO_REPLY  129

static const char *const parse_result_names[PARSE_RESULT_MAX] = {
	[PARSE_OK] = "ok",
	[PARSE_TRUNC_ETH] = "trunc_eth",
	[PARSE_TRUNC_VLAN] = "trunc_vlan",
	[PARSE_VLAN_STACKED] = "vlan_stacked",
	[PARSE_ETHERTYPE] = "ethertype",
	[PARSE_TRUNC_ARP] = "trunc_arp",
	[PARSE_ARP_UNSUPPORTED] = "arp_unsupported",
	[PARSE_TRUNC_IP4] = "trunc_ip4",
	[PARSE_IP4_BAD_VERSION] = "ip4_bad_version",
	[PARSE_IP4_BAD_IHL] = "ip4_bad_ihl",
	[PARSE_IP4_BAD_LEN] = "ip4_bad_len",
	[PARSE_TRUNC_IP6] = "trunc_ip6",
	[PARSE_IP6_BAD_VERSION] = "ip6_bad_version",
	[PARSE_IP6_BAD_LEN] = "ip6_bad_len",
	[PARSE_IP6_BAD_EXT] = "ip6_bad_ext",
	[PARSE_TRUNC_L4] = "trunc_l4",
	[PARSE_TCP_BAD_DOFF] = "tcp_bad_doff",
	[PARSE_UDP_BAD_LEN] = "udp_bad_len",
};

const char *parse_result_name(enum parse_result r)
{
	return (unsigned int)r < PARSE_RESULT_MAX ? parse_result_names[r] : "?";
}

static inline int is_tag_ethertype(uint16_t et)
{
	return et == ETHTYPE_VLAN || et == ETHTYPE_QINQ || et == ETHTYPE_QINQ_OLD;
}

/*
 * L4 header at <off>, with the IP packet ending at <end> (off <= end).
 * m->l4_proto and m->is_v6 are already set.
 */
static inline enum parse_result parse_l4(const uint8_t *pkt, uint32_t off, uint32_t end,
					 struct pkt_meta *m)
{
	const uint8_t *l4 = pkt + off;
	uint32_t avail = end - off;
	uint32_t doff, ulen;

	m->l4_off = (uint16_t)off;
	switch (m->l4_proto) {
	case IPPROTO_TCP:
		if (avail < TCP_MIN_HDR_LEN)
			return PARSE_TRUNC_L4;
		doff = (uint32_t)(l4[12] >> 4) * 4;
		if (doff < TCP_MIN_HDR_LEN || doff > avail)
			return PARSE_TCP_BAD_DOFF;
		memcpy(&m->sport, l4, 2);
		memcpy(&m->dport, l4 + 2, 2);
		m->tcp_flags = l4[13];
		return PARSE_OK;
	case IPPROTO_UDP:
		if (avail < UDP_HDR_LEN)
			return PARSE_TRUNC_L4;
		/*
		 * A length that claims more than the packet holds is a lie a
		 * receiver drops (as Linux does); less is padding it trims. A
		 * first fragment holds only part of the datagram.
		 */
		ulen = pkt_get16(l4 + 4);
		if (ulen < UDP_HDR_LEN || (ulen > avail && m->frag == PKT_FRAG_NONE))
			return PARSE_UDP_BAD_LEN;
		memcpy(&m->sport, l4, 2);
		memcpy(&m->dport, l4 + 2, 2);
		return PARSE_OK;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((m->l4_proto == IPPROTO_ICMPV6) != (m->is_v6 != 0))
			return PARSE_OK;
		if (avail < ICMP_HDR_LEN)
			return PARSE_TRUNC_L4;
		m->icmp_type = l4[0];
		m->icmp_code = l4[1];
		/* Echo identifier plays the source port's part in flow keys. */
		if (m->is_v6 ? (l4[0] == ICMP6_ECHO_REQ || l4[0] == ICMP6_ECHO_REPLY)
			     : (l4[0] == ICMP_ECHO_REQUEST || l4[0] == ICMP_ECHO_REPLY))
			memcpy(&m->sport, l4 + 4, 2);
		return PARSE_OK;
	default:
		return PARSE_OK;
	}
}

static inline enum parse_result parse_arp(const uint8_t *pkt, uint32_t len, struct pkt_meta *m)
{
	uint32_t off = m->l3_off;
	const uint8_t *a = pkt + off;
	uint32_t avail = len - off;

	if (avail < ARP_FIXED_LEN)
		return PARSE_TRUNC_ARP;
	if (pkt_get16(a) != ARP_HTYPE_ETHER || pkt_get16(a + 2) != ETHTYPE_IPV4 || a[4] != 6 ||
	    a[5] != 4)
		return PARSE_ARP_UNSUPPORTED;
	if (avail < ARP_ETH_IP4_LEN)
		return PARSE_TRUNC_ARP;
	m->arp_op = pkt_get16(a + 6);
	memcpy(m->arp_sha, a + 8, 6);
	sl_addr_set_v4(&m->src, a + 14);
	sl_addr_set_v4(&m->dst, a + 24);
	m->l3_end = (uint16_t)(off + ARP_ETH_IP4_LEN);
	return PARSE_OK;
}

static inline enum parse_result parse_ip4(const uint8_t *pkt, uint32_t len, struct pkt_meta *m)
{
	uint32_t off = m->l3_off;
	const uint8_t *ip = pkt + off;
	uint32_t avail = len - off;
	uint32_t ihl, tot;
	uint16_t frag;

	if (avail < IP4_MIN_HDR_LEN)
		return PARSE_TRUNC_IP4;
	if ((ip[0] >> 4) != 4)
		return PARSE_IP4_BAD_VERSION;
	ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if (ihl < IP4_MIN_HDR_LEN)
		return PARSE_IP4_BAD_IHL;
	if (ihl > avail)
		return PARSE_TRUNC_IP4;
	tot = pkt_get16(ip + 2);
	if (tot < ihl || tot > avail)
		return PARSE_IP4_BAD_LEN;

	m->l3_end = (uint16_t)(off + tot);
	m->ttl = ip[8];
	m->l4_proto = ip[9];
	sl_addr_set_v4(&m->src, ip + 12);
	sl_addr_set_v4(&m->dst, ip + 16);

	frag = pkt_get16(ip + 6);
	if (frag & IP4_OFFMASK) {
		m->frag = PKT_FRAG_LATER;
		m->l4_off = (uint16_t)(off + ihl);
		return PARSE_OK;
	}
	if (frag & IP4_MF)
		m->frag = PKT_FRAG_FIRST;
	return parse_l4(pkt, off + ihl, off + tot, m);
}

static inline enum parse_result parse_ip6(const uint8_t *pkt, uint32_t len, struct pkt_meta *m)
{
	uint32_t off = m->l3_off;
	const uint8_t *ip = pkt + off;
	uint32_t avail = len - off;
	uint32_t end, cur;
	uint8_t nh;

	if (avail < IP6_HDR_LEN)
		return PARSE_TRUNC_IP6;
	if ((ip[0] >> 4) != 6)
		return PARSE_IP6_BAD_VERSION;
	end = IP6_HDR_LEN + (uint32_t)pkt_get16(ip + 4);
	if (end > avail)
		return PARSE_IP6_BAD_LEN;
	end += off;

	m->l3_end = (uint16_t)end;
	m->ttl = ip[7];
	sl_addr_set_v6(&m->src, ip + 8);
	sl_addr_set_v6(&m->dst, ip + 24);

	nh = ip[6];
	cur = off + IP6_HDR_LEN;
	for (unsigned int n = 0;; n++) {
		const uint8_t *h = pkt + cur;
		uint32_t hlen;

		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
		    nh != IPPROTO_FRAGMENT)
			break;
		if (n == IP6_MAX_EXT || (nh == IPPROTO_HOPOPTS && n != 0))
			return PARSE_IP6_BAD_EXT;
		/* Every extension header is at least 8 bytes long. */
		if (end - cur < IP6_EXT_MIN_LEN)
			return PARSE_IP6_BAD_EXT;
		if (nh == IPPROTO_FRAGMENT) {
			uint16_t frag = pkt_get16(h + 2);

			hlen = IP6_FRAG_HDR_LEN;
			if (frag & IP6_FRAG_OFFMASK) {
				m->frag = PKT_FRAG_LATER;
				m->l4_proto = h[0];
				m->l4_off = (uint16_t)(cur + hlen);
				return PARSE_OK;
			}
			if (frag & IP6_FRAG_MF)
				m->frag = PKT_FRAG_FIRST;
		} else {
			hlen = ((uint32_t)h[1] + 1) * 8;
			if (hlen > end - cur)
				return PARSE_IP6_BAD_EXT;
		}
		nh = h[0];
		cur += hlen;
	}
	m->l4_proto = nh;
	return parse_l4(pkt, cur, end, m);
}

enum parse_result parse_packet(const uint8_t *pkt, uint32_t len, struct pkt_meta *m)
{
	uint32_t off = ETH_HDR_LEN;
	uint16_t et;

	/*
	 * struct pkt_meta is one cache line: clearing it whole is cheaper than
	 * clearing, on each path, the fields that path leaves unset (and an
	 * assignment is inline stores, where memset is a call).
	 */
	*m = (struct pkt_meta){0};
	if (len > UINT16_MAX)
		len = UINT16_MAX;
	if (len < ETH_HDR_LEN)
		return PARSE_TRUNC_ETH;

	et = pkt_get16(pkt + 12);
	if (et == ETHTYPE_QINQ || et == ETHTYPE_QINQ_OLD)
		return PARSE_VLAN_STACKED;
	if (et == ETHTYPE_VLAN) {
		if (len < ETH_HDR_LEN + VLAN_HDR_LEN)
			return PARSE_TRUNC_VLAN;
		et = pkt_get16(pkt + 16);
		if (is_tag_ethertype(et))
			return PARSE_VLAN_STACKED;
		m->has_vlan = 1;
		m->vlan_tci = pkt_get16(pkt + 14);
		off += VLAN_HDR_LEN;
	}
	m->l3_off = (uint16_t)off;

	switch (et) {
	case ETHTYPE_IPV4:
		m->kind = PKT_KIND_IP;
		return parse_ip4(pkt, len, m);
	case ETHTYPE_IPV6:
		m->kind = PKT_KIND_IP;
		m->is_v6 = 1;
		return parse_ip6(pkt, len, m);
	case ETHTYPE_ARP:
		m->kind = PKT_KIND_ARP;
		return parse_arp(pkt, len, m);
	default:
		return PARSE_ETHERTYPE;
	}
}
