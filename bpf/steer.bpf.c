/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * XDP steering for Sluice's AF_XDP ports: redirect to the port's AF_XDP
 * socket only the packets Sluice owns, return XDP_PASS for everything else so
 * the kernel keeps SSH, its own ARP, health-check replies and the rest.
 *
 * Sluice's packets (the verdicts, enum sluice_steer_stat):
 *  - redirect_vip:   TCP or UDP whose (destination address, destination port,
 *                    protocol) is in sluice_vips;
 *  - redirect_local: any IP packet to an FNAT local address (return traffic
 *                    from backends, ICMP errors about it);
 *  - redirect_icmp:  ICMP (IPv4) / ICMPv6 other than ND to an owned address:
 *                    the data plane answers echo and routes errors to flows;
 *  - redirect_frag:  an IPv4/IPv6 fragment (first or later) to a VIP address,
 *                    so every fragment of a datagram lands in the same place;
 *  - redirect_arp:   ARP request or reply whose target address is owned;
 *  - redirect_nd:    neighbour solicitation whose target is owned, or
 *                    neighbour advertisement sent to an owned address.
 * "Owned" means present in sluice_addrs (VIP addresses, FNAT local addresses,
 * the port's own addresses).
 *
 * Everything else is XDP_PASS: pass (well formed, not ours), pass_malformed
 * (truncated or inconsistent headers: the kernel decides what to do with
 * them) or pass_unparsed (stacked VLAN tags, more IPv6 extension headers than
 * SLUICE_MAX_IPV6_EXT). Transport headers are checked only for packets to an
 * owned address; foreign traffic costs one hash lookup.
 *
 * Layers: Ethernet, at most one 802.1Q tag, then ARP, IPv4 (options skipped
 * by IHL) or IPv6 (hop-by-hop, routing, destination options and fragment
 * headers walked). Below IP the limit is the end of the IP packet from its
 * length field, not the end of the frame, so Ethernet padding is never read
 * as a header. Every read is preceded by an explicit bounds check against
 * data_end; the numeric length checks alone would not satisfy the verifier.
 *
 * A redirect goes to xsks_map[rx_queue_index]; when that queue has no socket,
 * bpf_redirect_map returns the fallback action sluice_no_xsk_action (XDP_PASS
 * by default) and no_xsk counts it.
 */
#include <stdbool.h>

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer_consts.h"
#include "steer_structs.h"
#include "steer_maps.h"
#include "wire_hdr.h" /* eth, vlan, ip4, ip6: shared with decap.bpf.c */

/*
 * Verdict for a redirect whose queue has no AF_XDP socket. Read-only data:
 * the skeleton may set it before load (tests use XDP_DROP to see "ours"
 * apart from "not ours"); an object loaded by net_af_xdp keeps XDP_PASS.
 */
const volatile __u32 sluice_no_xsk_action = XDP_PASS;

/* The rest of the wire layouts this program reads (wire_hdr.h has the shared ones). */
struct arp_eth4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

/* First bytes of every extension header walked (fragment: frag is its offset). */
struct ip6_ext {
	__u8 nexthdr;
	__u8 len; /* 8-byte units beyond the first 8; reserved in a fragment header */
	__be16 frag;
};

struct l4_ports {
	__be16 sport;
	__be16 dport;
};

_Static_assert(sizeof(struct arp_eth4) == SLUICE_ARP_ETH4_LEN, "arp_eth4");

static __always_inline void count(__u32 stat, __u64 bytes)
{
	struct sluice_stat *s = bpf_map_lookup_elem(&sluice_stats, &stat);

	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

/* Owned-address flags of <k>, 0 when Sluice does not own it. */
static __always_inline __u32 addr_flags(const struct sluice_addr_key *k)
{
	const struct sluice_addr_val *v = bpf_map_lookup_elem(&sluice_addrs, k);

	return v ? v->flags : 0;
}

/* sl_addr convention: IPv4 as ::ffff:a.b.c.d. <v4> may point into the packet. */
static __always_inline void key_set_v4(struct sluice_addr_key *k, const __u8 *v4)
{
	__builtin_memset(k->addr, 0, 10);
	k->addr[10] = 0xff;
	k->addr[11] = 0xff;
	k->addr[12] = v4[0];
	k->addr[13] = v4[1];
	k->addr[14] = v4[2];
	k->addr[15] = v4[3];
}

static __always_inline bool is_ip6_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT;
}

/*
 * Transport layer of an unfragmented packet to owned address <dst> (owned for
 * <flags>). <l4> points at the transport header, <l4_len> is what the IP
 * header says remains; <icmp> is the ICMP protocol number of this IP version.
 */
static __always_inline __u32 steer_l4(const void *l4, const void *data_end, __u32 l4_len,
				      __u8 proto, __u8 icmp, const struct sluice_addr_key *dst,
				      __u32 flags)
{
	const struct l4_ports *ports = l4;
	struct sluice_vip_key vk;
	__u32 hlen;

	if (proto == IPPROTO_TCP)
		hlen = SLUICE_TCP_MIN_HLEN;
	else if (proto == IPPROTO_UDP)
		hlen = SLUICE_UDP_HLEN;
	else if (proto == icmp)
		return l4_len < SLUICE_ICMP_HLEN ? SLUICE_STAT_PASS_MALFORMED
						 : SLUICE_STAT_REDIRECT_ICMP;
	else
		return SLUICE_STAT_PASS;

	if (l4_len < hlen || (const void *)(ports + 1) > data_end)
		return SLUICE_STAT_PASS_MALFORMED;
	if (!(flags & SLUICE_ADDR_VIP))
		return SLUICE_STAT_PASS;

	__builtin_memcpy(vk.addr, dst->addr, sizeof(vk.addr));
	vk.port = ports->dport;
	vk.proto = proto;
	vk.pad = 0;
	return bpf_map_lookup_elem(&sluice_vips, &vk) ? SLUICE_STAT_REDIRECT_VIP : SLUICE_STAT_PASS;
}

static __always_inline __u32 steer_arp(const void *l3, const void *data_end)
{
	const struct arp_eth4 *arp = l3;
	struct sluice_addr_key k;

	if ((const void *)(arp + 1) > data_end)
		return SLUICE_STAT_PASS_MALFORMED;
	/* Only Ethernet/IPv4 ARP can be about Sluice's addresses. */
	if (arp->htype != bpf_htons(SLUICE_ARP_HTYPE_ETHER) ||
	    arp->ptype != bpf_htons(SLUICE_ETH_P_IP) || arp->hlen != 6 || arp->plen != 4)
		return SLUICE_STAT_PASS;
	if (arp->op != bpf_htons(SLUICE_ARP_OP_REQUEST) &&
	    arp->op != bpf_htons(SLUICE_ARP_OP_REPLY))
		return SLUICE_STAT_PASS;
	key_set_v4(&k, arp->tpa);
	return addr_flags(&k) ? SLUICE_STAT_REDIRECT_ARP : SLUICE_STAT_PASS;
}

static __always_inline __u32 steer_ipv4(const void *l3, const void *data_end)
{
	const struct ip4_hdr *ip = l3;
	struct sluice_addr_key dst;
	__u32 hlen, tot, flags;

	if ((const void *)(ip + 1) > data_end)
		return SLUICE_STAT_PASS_MALFORMED;
	if ((ip->vihl >> 4) != 4)
		return SLUICE_STAT_PASS_MALFORMED;
	hlen = (__u32)(ip->vihl & 0x0f) * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (hlen < SLUICE_IP4_MIN_HLEN || tot < hlen || l3 + tot > data_end)
		return SLUICE_STAT_PASS_MALFORMED;

	key_set_v4(&dst, ip->daddr);
	flags = addr_flags(&dst);
	if (!flags)
		return SLUICE_STAT_PASS;
	if (flags & SLUICE_ADDR_LOCAL)
		return SLUICE_STAT_REDIRECT_LOCAL;
	if (ip->frag_off & bpf_htons(SLUICE_IP4_MF | SLUICE_IP4_OFFMASK))
		return (flags & SLUICE_ADDR_VIP) ? SLUICE_STAT_REDIRECT_FRAG : SLUICE_STAT_PASS;
	return steer_l4(l3 + hlen, data_end, tot - hlen, ip->proto, IPPROTO_ICMP, &dst, flags);
}

static __always_inline __u32 steer_ipv6(const void *l3, const void *data_end)
{
	const struct ip6_hdr *ip6 = l3;
	const void *payload = ip6 + 1;
	struct sluice_addr_key dst;
	__u32 plen, off = 0, flags;
	bool frag = false;
	__u8 nh;

	if (payload > data_end)
		return SLUICE_STAT_PASS_MALFORMED;
	if ((ip6->vtc >> 4) != 6)
		return SLUICE_STAT_PASS_MALFORMED;
	plen = bpf_ntohs(ip6->plen);
	if (payload + plen > data_end)
		return SLUICE_STAT_PASS_MALFORMED;

	/* <off>: offset of the next header from the end of the fixed header. */
	nh = ip6->nexthdr;
	for (int i = 0; i < SLUICE_MAX_IPV6_EXT && is_ip6_ext(nh); i++) {
		const struct ip6_ext *ext;

		/* Every extension header is at least 8 bytes, inside the payload. */
		if (off + SLUICE_IP6_EXT_MINLEN > plen)
			return SLUICE_STAT_PASS_MALFORMED;
		ext = payload + off;
		if ((const void *)ext + SLUICE_IP6_EXT_MINLEN > data_end)
			return SLUICE_STAT_PASS_MALFORMED;
		if (nh == IPPROTO_FRAGMENT) {
			/* Offset 0 with M clear is an atomic fragment (RFC 6946): whole. */
			if (ext->frag & bpf_htons(SLUICE_IP6_FRAG_OFFMASK | SLUICE_IP6_FRAG_MF))
				frag = true;
			off += SLUICE_IP6_EXT_MINLEN;
		} else {
			off += ((__u32)ext->len + 1) * 8;
		}
		nh = ext->nexthdr;
	}
	if (is_ip6_ext(nh))
		return SLUICE_STAT_PASS_UNPARSED;
	if (off > plen)
		return SLUICE_STAT_PASS_MALFORMED;

	/*
	 * Neighbour discovery first: a solicitation goes to a multicast address
	 * and names the address it asks about in its target field.
	 */
	if (nh == IPPROTO_ICMPV6 && !frag) {
		const __u8 *icmp6 = payload + off;

		if (plen - off < SLUICE_ICMP_HLEN || (const void *)(icmp6 + 1) > data_end)
			return SLUICE_STAT_PASS_MALFORMED;
		if (icmp6[0] == SLUICE_ICMP6_ND_NS || icmp6[0] == SLUICE_ICMP6_ND_NA) {
			if (plen - off < SLUICE_ND_MINLEN ||
			    (const void *)(icmp6 + SLUICE_ND_MINLEN) > data_end)
				return SLUICE_STAT_PASS_MALFORMED;
			if (icmp6[0] == SLUICE_ICMP6_ND_NS)
				__builtin_memcpy(dst.addr, icmp6 + 8, sizeof(dst.addr));
			else
				__builtin_memcpy(dst.addr, ip6->daddr, sizeof(dst.addr));
			return addr_flags(&dst) ? SLUICE_STAT_REDIRECT_ND : SLUICE_STAT_PASS;
		}
		/* Router solicitation/advertisement, redirect: the kernel's. */
		if (icmp6[0] >= SLUICE_ICMP6_ND_FIRST && icmp6[0] <= SLUICE_ICMP6_ND_LAST)
			return SLUICE_STAT_PASS;
	}

	__builtin_memcpy(dst.addr, ip6->daddr, sizeof(dst.addr));
	flags = addr_flags(&dst);
	if (!flags)
		return SLUICE_STAT_PASS;
	if (flags & SLUICE_ADDR_LOCAL)
		return SLUICE_STAT_REDIRECT_LOCAL;
	if (frag)
		return (flags & SLUICE_ADDR_VIP) ? SLUICE_STAT_REDIRECT_FRAG : SLUICE_STAT_PASS;
	return steer_l4(payload + off, data_end, plen - off, nh, IPPROTO_ICMPV6, &dst, flags);
}

SEC("xdp")
int sluice_steer(struct xdp_md *ctx)
{
	const void *data = (const void *)(long)ctx->data;
	const void *data_end = (const void *)(long)ctx->data_end;
	const struct eth_hdr *eth = data;
	const void *l3 = eth + 1;
	__u32 stat;
	__u16 type;
	int act;

	if (l3 > data_end) {
		stat = SLUICE_STAT_PASS_MALFORMED;
		goto out;
	}
	type = eth->type;
	if (type == bpf_htons(SLUICE_ETH_P_8021Q)) {
		const struct vlan_tag *tag = l3;

		if ((const void *)(tag + 1) > data_end) {
			stat = SLUICE_STAT_PASS_MALFORMED;
			goto out;
		}
		type = tag->type;
		l3 = tag + 1;
	}
	/* One tag only, as in the data plane's parser: QinQ is not Sluice's. */
	if (type == bpf_htons(SLUICE_ETH_P_8021Q) || type == bpf_htons(SLUICE_ETH_P_8021AD) ||
	    type == bpf_htons(SLUICE_ETH_P_QINQ)) {
		stat = SLUICE_STAT_PASS_UNPARSED;
		goto out;
	}

	if (type == bpf_htons(SLUICE_ETH_P_IP))
		stat = steer_ipv4(l3, data_end);
	else if (type == bpf_htons(SLUICE_ETH_P_IPV6))
		stat = steer_ipv6(l3, data_end);
	else if (type == bpf_htons(SLUICE_ETH_P_ARP))
		stat = steer_arp(l3, data_end);
	else
		stat = SLUICE_STAT_PASS;

out:
	count(stat, bpf_xdp_get_buff_len(ctx));
	if (stat >= SLUICE_STAT_FIRST_PASS)
		return XDP_PASS;
	act = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, sluice_no_xsk_action);
	if (act != XDP_REDIRECT)
		count(SLUICE_STAT_NO_XSK, bpf_xdp_get_buff_len(ctx));
	return act;
}

char LICENSE[] SEC("license") = "BSD-3-Clause";
