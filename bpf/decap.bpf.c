/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * XDP decapsulator for the backends of Sluice's `tunnel` forwarding mode.
 *
 * In tunnel mode the balancer sends a client's packet IP-in-IP to a backend:
 * outer source the balancer, outer destination the backend, then the
 * original packet (destination the VIP, which the backend has on its
 * loopback). A Linux backend would normally terminate that with an ipip or
 * ip6tnl device; the test hosts' kernel has neither module, so this program,
 * attached to the backend's interface, does the decapsulation instead and
 * hands the inner packet to the kernel's stack as if it had arrived bare.
 *
 * Decapsulated (counter decapsulated), all of:
 *  - Ethernet, at most one 802.1Q tag;
 *  - IPv4 protocol 4 with IPv4 inside (IPv4-in-IPv4), or IPv6 next header 41
 *    with IPv6 inside (IPv6-in-IPv6, no extension headers before it);
 *  - outer packet not a fragment (IPv4 MF/offset clear);
 *  - outer destination in sluice_decap_addrs, or that map is empty (then
 *    every such packet is decapsulated: what `ip link set ... xdp obj`
 *    gives, since nothing fills the map there);
 *  - outer and inner headers complete and consistent (version, IHL, length
 *    fields within the packet).
 * Then the Ethernet header (and tag) move forward over the outer IP header,
 * bpf_xdp_adjust_head() drops it, the ethertype is set to the inner family,
 * and the program returns XDP_PASS: the kernel sees Ethernet + inner packet.
 * MAC addresses and the VLAN tag are kept; the inner packet is not touched
 * (no checksum changes). Outer ECN/TTL are not propagated.
 *
 * Everything else returns XDP_PASS with the frame untouched: passed (not an
 * IP-in-IP packet this program handles, or not for one of our addresses,
 * stacked VLAN tags, outer fragments, IPv6-in-IPv4, IPv4-in-IPv6) or
 * malformed (an IPIP/IP6IP6 packet for us whose outer or inner headers are
 * truncated or inconsistent). Packets for other hosts are not inspected
 * beyond their outer header.
 *
 * Every read is preceded by an explicit bounds check against data_end; the
 * numeric length checks alone would not satisfy the verifier.
 */
#include <stdbool.h>

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer_consts.h" /* wire values and header sizes, shared with steer.bpf.c */
#include "decap_structs.h"
#include "wire_hdr.h" /* eth, vlan, ip4, ip6: shared with steer.bpf.c */

#define SLUICE_IPPROTO_IPIP 4  /* IPv4 in IPv4 (RFC 2003) */
#define SLUICE_IPPROTO_IPV6 41 /* IPv6 in IPv6 (RFC 2473) */

/* Outer destinations to decapsulate for; empty: every IPIP/IP6IP6 packet. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_DECAP_MAX_ADDRS);
	__type(key, struct sluice_decap_key);
	__type(value, struct sluice_decap_val);
} sluice_decap_addrs SEC(".maps");

/* Per-verdict counters; per CPU so the hot path needs no atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_DECAP_STAT_MAX);
	__type(key, __u32);
	__type(value, struct sluice_decap_counter);
} sluice_decap_stats SEC(".maps");

/*
 * Ethernet header and one 802.1Q tag, as saved before the outer header goes
 * (the other wire layouts are wire_hdr.h's).
 */
struct eth_vlan_hdr {
	struct eth_hdr eth;
	struct vlan_tag tag;
};

_Static_assert(sizeof(struct eth_vlan_hdr) == SLUICE_ETH_HLEN + SLUICE_VLAN_HLEN, "eth_vlan");
/*
 * The saved link-layer header is written back at the new start of the frame,
 * which is the old start plus the outer header's length: the two ranges do
 * not overlap because every outer header is longer than Ethernet + tag.
 */
_Static_assert(sizeof(struct eth_vlan_hdr) < SLUICE_IP4_MIN_HLEN, "no overlap");

static __always_inline void count(__u32 stat, __u64 bytes)
{
	struct sluice_decap_counter *c = bpf_map_lookup_elem(&sluice_decap_stats, &stat);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* bpf_for_each_map_elem callback: stop at the first entry. */
static long stop_at_first(void *map, const void *key, void *val, void *ctx)
{
	(void)map;
	(void)key;
	(void)val;
	(void)ctx;
	return 1;
}

/*
 * Whether to decapsulate for outer destination <k>: it is in the map, or
 * the map is empty. Only a miss walks the map, and stops at its first entry.
 */
static __always_inline bool decap_for(const struct sluice_decap_key *k)
{
	if (bpf_map_lookup_elem(&sluice_decap_addrs, k))
		return true;
	return bpf_for_each_map_elem(&sluice_decap_addrs, stop_at_first, NULL, 0) == 0;
}

/*
 * IPv4 outer header at <l3>. Returns the verdict; for decapsulated,
 * *<outer_len> is the outer header's length (options included).
 */
static __always_inline __u32 decap_ipv4(const void *l3, const void *data_end, __u32 *outer_len)
{
	const struct ip4_hdr *ip = l3, *in;
	struct sluice_decap_key k;
	__u32 hlen, tot, ihlen, itot;

	if ((const void *)(ip + 1) > data_end)
		return SLUICE_DECAP_STAT_MALFORMED;
	if ((ip->vihl >> 4) != 4)
		return SLUICE_DECAP_STAT_MALFORMED;
	hlen = (__u32)(ip->vihl & 0x0f) * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (hlen < SLUICE_IP4_MIN_HLEN || tot < hlen || l3 + tot > data_end)
		return SLUICE_DECAP_STAT_MALFORMED;
	if (ip->proto != SLUICE_IPPROTO_IPIP)
		return SLUICE_DECAP_STAT_PASSED;
	/* A fragment of a tunnelled packet cannot be unwrapped on its own. */
	if (ip->frag_off & bpf_htons(SLUICE_IP4_MF | SLUICE_IP4_OFFMASK))
		return SLUICE_DECAP_STAT_PASSED;

	__builtin_memset(k.addr, 0, 10);
	k.addr[10] = 0xff;
	k.addr[11] = 0xff;
	__builtin_memcpy(&k.addr[12], ip->daddr, 4);
	if (!decap_for(&k))
		return SLUICE_DECAP_STAT_PASSED;

	in = l3 + hlen;
	if (tot - hlen < SLUICE_IP4_MIN_HLEN || (const void *)(in + 1) > data_end)
		return SLUICE_DECAP_STAT_MALFORMED;
	if ((in->vihl >> 4) != 4)
		return SLUICE_DECAP_STAT_MALFORMED;
	ihlen = (__u32)(in->vihl & 0x0f) * 4;
	itot = bpf_ntohs(in->tot_len);
	if (ihlen < SLUICE_IP4_MIN_HLEN || itot < ihlen || itot > tot - hlen)
		return SLUICE_DECAP_STAT_MALFORMED;
	*outer_len = hlen;
	return SLUICE_DECAP_STAT_DECAPSULATED;
}

/* IPv6 outer header at <l3>; as decap_ipv4(). */
static __always_inline __u32 decap_ipv6(const void *l3, const void *data_end, __u32 *outer_len)
{
	const struct ip6_hdr *ip6 = l3, *in = l3 + SLUICE_IP6_HLEN;
	struct sluice_decap_key k;
	__u32 plen;

	if ((const void *)in > data_end)
		return SLUICE_DECAP_STAT_MALFORMED;
	if ((ip6->vtc >> 4) != 6)
		return SLUICE_DECAP_STAT_MALFORMED;
	plen = bpf_ntohs(ip6->plen);
	if ((const void *)in + plen > data_end)
		return SLUICE_DECAP_STAT_MALFORMED;
	if (ip6->nexthdr != SLUICE_IPPROTO_IPV6)
		return SLUICE_DECAP_STAT_PASSED;

	__builtin_memcpy(k.addr, ip6->daddr, sizeof(k.addr));
	if (!decap_for(&k))
		return SLUICE_DECAP_STAT_PASSED;

	if (plen < SLUICE_IP6_HLEN || (const void *)(in + 1) > data_end)
		return SLUICE_DECAP_STAT_MALFORMED;
	if ((in->vtc >> 4) != 6)
		return SLUICE_DECAP_STAT_MALFORMED;
	if (SLUICE_IP6_HLEN + (__u32)bpf_ntohs(in->plen) > plen)
		return SLUICE_DECAP_STAT_MALFORMED;
	*outer_len = SLUICE_IP6_HLEN;
	return SLUICE_DECAP_STAT_DECAPSULATED;
}

SEC("xdp")
int sluice_decap(struct xdp_md *ctx)
{
	const void *data = (const void *)(long)ctx->data;
	const void *data_end = (const void *)(long)ctx->data_end;
	const struct eth_hdr *eth = data;
	const void *l3 = eth + 1;
	__u64 len = bpf_xdp_get_buff_len(ctx);
	struct eth_vlan_hdr l2;
	__u32 stat, outer_len = 0;
	bool tagged = false;
	__be16 type;

	if (l3 > data_end) {
		stat = SLUICE_DECAP_STAT_PASSED; /* not even Ethernet + type: not IP */
		goto out;
	}
	type = eth->type;
	if (type == bpf_htons(SLUICE_ETH_P_8021Q)) {
		const struct vlan_tag *tag = l3;

		if ((const void *)(tag + 1) > data_end) {
			stat = SLUICE_DECAP_STAT_PASSED; /* not IP either */
			goto out;
		}
		type = tag->type;
		l3 = tag + 1;
		tagged = true;
	}

	if (type == bpf_htons(SLUICE_ETH_P_IP))
		stat = decap_ipv4(l3, data_end, &outer_len);
	else if (type == bpf_htons(SLUICE_ETH_P_IPV6))
		stat = decap_ipv6(l3, data_end, &outer_len);
	else
		stat = SLUICE_DECAP_STAT_PASSED; /* stacked tags included */
	if (stat != SLUICE_DECAP_STAT_DECAPSULATED)
		goto out;

	/*
	 * Save Ethernet + tag: an outer header (at least 20 bytes) follows, so
	 * 18 bytes are there whether the frame is tagged or not.
	 */
	if (data + sizeof(l2) > data_end) {
		stat = SLUICE_DECAP_STAT_MALFORMED; /* not reached: checked above */
		goto out;
	}
	__builtin_memcpy(&l2, data, sizeof(l2));
	if (bpf_xdp_adjust_head(ctx, (int)outer_len) < 0) {
		stat = SLUICE_DECAP_STAT_MALFORMED; /* not reached: the inner header is there */
		goto out;
	}

	/* The frame now starts outer_len bytes later: Ethernet (+ tag) goes there. */
	data = (const void *)(long)ctx->data;
	data_end = (const void *)(long)ctx->data_end;
	if (data + sizeof(l2) > data_end) {
		/* The inner header is at least 20 bytes: not reached either. */
		stat = SLUICE_DECAP_STAT_MALFORMED;
		goto out;
	}
	/* Same family inside as outside: IPv4 in IPv4, IPv6 in IPv6. */
	if (tagged) {
		struct eth_vlan_hdr *h = (void *)(long)ctx->data;

		*h = l2;
		h->tag.type = type;
	} else {
		struct eth_hdr *h = (void *)(long)ctx->data;

		*h = l2.eth;
		h->type = type;
	}

out:
	count(stat, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "BSD-3-Clause";
