/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire layouts both XDP programs read (steer.bpf.c, decap.bpf.c): own
 * definitions, no bitfields, no kernel-internal headers. Include after
 * <linux/bpf.h> and steer_consts.h (the sizes they are checked against).
 */
#ifndef SLUICE_WIRE_HDR_H
#define SLUICE_WIRE_HDR_H

struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 type;
};

struct vlan_tag {
	__be16 tci;
	__be16 type;
};

struct ip4_hdr {
	__u8 vihl; /* version << 4 | IHL */
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off; /* flags and offset */
	__u8 ttl;
	__u8 proto;
	__be16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct ip6_hdr {
	__u8 vtc; /* version << 4 | high bits of traffic class */
	__u8 tcfl[3];
	__be16 plen;
	__u8 nexthdr;
	__u8 hlim;
	__u8 saddr[16];
	__u8 daddr[16];
};

_Static_assert(sizeof(struct eth_hdr) == SLUICE_ETH_HLEN, "eth_hdr");
_Static_assert(sizeof(struct vlan_tag) == SLUICE_VLAN_HLEN, "vlan_tag");
_Static_assert(sizeof(struct ip4_hdr) == SLUICE_IP4_MIN_HLEN, "ip4_hdr");
_Static_assert(sizeof(struct ip6_hdr) == SLUICE_IP6_HLEN, "ip6_hdr");

#endif
