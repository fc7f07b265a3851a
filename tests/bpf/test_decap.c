/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of the XDP decapsulator (bpf/decap.bpf.c) run in the kernel through
 * its test-run facility (bpf_prog_test_run_opts), on the program loaded
 * through its skeleton.
 *
 * The core is a table of packet fixtures: description, input frame, expected
 * verdict, expected output frame (for a decapsulated packet: the same
 * Ethernet header, tag included, then the inner packet; otherwise the input,
 * byte for byte). main() registers each row as its own cmocka test, so a
 * failure names the packet. Every run checks the return value (always
 * XDP_PASS), the output frame, and that exactly the expected verdict's
 * counter moved by one packet and the input frame's length in bytes.
 *
 * Named cases follow: every prefix of the decapsulated fixtures is left
 * untouched; outer IPv4 IHL 0..15; the outer-address filter
 * (sluice_decap_addrs) filled and emptied at run time; the counter
 * invariant.
 *
 * Without BPF rights the suite prints "SKIP: <reason>" and exits 77.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/bpf.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sl_addr.h"
#include "decap_structs.h"
#include "decap.skel.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fixture building blocks: each expands to the header's bytes, in wire order. */
#define BE16(v)         (((v) >> 8) & 0xff), ((v)&0xff)
#define MAC_DST         0x02, 0x00, 0xc6, 0x12, 0x00, 0x0b
#define MAC_SRC         0x02, 0x00, 0xc6, 0x12, 0x00, 0x02
#define ETH(type)       MAC_DST, MAC_SRC, BE16(type)
#define VLAN(tci, type) BE16(tci), BE16(type)

/* The tunnel: balancer -> backend outside, client -> VIP inside. */
#define V4_LB      198, 18, 0, 2
#define V4_BACKEND 198, 18, 0, 11
#define V4_CLIENT  198, 18, 0, 1
#define V4_VIP     198, 18, 1, 100
#define V6_PFX     0x20, 0x01, 0x0d, 0xb8
#define V6_LB      V6_PFX, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02       /* 2001:db8::2 */
#define V6_BACKEND V6_PFX, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11       /* 2001:db8::11 */
#define V6_CLIENT  V6_PFX, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01       /* 2001:db8::1 */
#define V6_VIP     V6_PFX, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00 /* 2001:db8:1::100 */

#define PROTO_IPIP 4
#define NH_IPV6    41

/*
 * IPv4 header, options only if <vihl> says so; <frag> is flags + offset. The
 * variable part is the source address, then the destination (each expands to
 * several arguments, which is why they cannot be named parameters).
 */
#define IP4X(vihl, tlen, frag, proto, ...)                                                         \
	(vihl), 0x00, BE16(tlen), 0x12, 0x34, BE16(frag), 64, (proto), 0xab, 0xcd, __VA_ARGS__
#define IP4(tlen, proto, ...)    IP4X(0x45, tlen, 0, proto, __VA_ARGS__)
#define IP6X(vtc, plen, nh, ...) (vtc), 0x00, 0x00, 0x00, BE16(plen), (nh), 64, __VA_ARGS__
#define IP6(plen, nh, ...)       IP6X(0x60, plen, nh, __VA_ARGS__)
#define TCP_SEQ_ACK              0, 0, 0, 1, 0, 0, 0, 0
#define TCP_REST                 0x50, 0x02, BE16(0xffff), 0x12, 0x34, 0, 0 /* SYN, checksum */
#define TCP(dp)                  BE16(40000), BE16(dp), TCP_SEQ_ACK, TCP_REST
#define UDP(dp, len)             BE16(40000), BE16(dp), BE16(len), 0x56, 0x78
#define PAD4                     0, 0, 0, 0

/* Inner packets: what the client sent to the VIP. */
#define IN4_TCP     IP4(40, IPPROTO_TCP, V4_CLIENT, V4_VIP), TCP(80)
#define IN4_TCP_LEN 40
#define IN4_UDP     IP4(32, IPPROTO_UDP, V4_CLIENT, V4_VIP), UDP(9000, 12), 'p', 'i', 'n', 'g'
#define IN4_UDP_LEN 32
#define IN6_TCP     IP6(20, IPPROTO_TCP, V6_CLIENT, V6_VIP), TCP(80)
#define IN6_TCP_LEN 60
/* Outer headers: balancer to backend. */
#define OUT4(inner_len) IP4(20 + (inner_len), PROTO_IPIP, V4_LB, V4_BACKEND)
#define OUT6(inner_len) IP6(inner_len, NH_IPV6, V6_LB, V6_BACKEND)

#define IN(...)                                                                                    \
	.in = (const uint8_t[]){__VA_ARGS__}, .in_len = sizeof((const uint8_t[]){__VA_ARGS__})
#define OUT(...)                                                                                   \
	.out = (const uint8_t[]){__VA_ARGS__}, .out_len = sizeof((const uint8_t[]){__VA_ARGS__})

#define DECAP SLUICE_DECAP_STAT_DECAPSULATED
#define PASS  SLUICE_DECAP_STAT_PASSED
#define BAD   SLUICE_DECAP_STAT_MALFORMED

struct fixture {
	const char *desc;
	enum sluice_decap_stat stat; /* expected verdict */
	const uint8_t *in;
	uint32_t in_len;
	const uint8_t *out; /* expected output frame; NULL: the input, untouched */
	uint32_t out_len;
	uint32_t pad; /* trailing Ethernet padding bytes (not part of the packet) */
};

static const struct fixture fixtures[] = {
	/* Decapsulated: Ethernet (+ tag) kept, outer IP header gone. */
	{"ipv4-in-ipv4 tcp", DECAP, IN(ETH(0x0800), OUT4(IN4_TCP_LEN), IN4_TCP),
	 OUT(ETH(0x0800), IN4_TCP)},
	{"ipv4-in-ipv4 udp", DECAP, IN(ETH(0x0800), OUT4(IN4_UDP_LEN), IN4_UDP),
	 OUT(ETH(0x0800), IN4_UDP)},
	{"ipv4-in-ipv4, outer df set", DECAP,
	 IN(ETH(0x0800), IP4X(0x45, 60, 0x4000, PROTO_IPIP, V4_LB, V4_BACKEND), IN4_TCP),
	 OUT(ETH(0x0800), IN4_TCP)},
	{"ipv4-in-ipv4, outer options (ihl 6)", DECAP,
	 IN(ETH(0x0800), IP4X(0x46, 64, 0, PROTO_IPIP, V4_LB, V4_BACKEND), 1, 1, 1, 0, IN4_TCP),
	 OUT(ETH(0x0800), IN4_TCP)},
	{"ipv4-in-ipv4, inner options (ihl 6)", DECAP,
	 IN(ETH(0x0800), OUT4(44), IP4X(0x46, 44, 0, IPPROTO_TCP, V4_CLIENT, V4_VIP), 1, 1, 1, 0,
	    TCP(80)),
	 OUT(ETH(0x0800), IP4X(0x46, 44, 0, IPPROTO_TCP, V4_CLIENT, V4_VIP), 1, 1, 1, 0, TCP(80))},
	{"ipv4-in-ipv4, ethernet padding kept after the inner packet", DECAP,
	 IN(ETH(0x0800), OUT4(IN4_TCP_LEN), IN4_TCP, PAD4, PAD4),
	 OUT(ETH(0x0800), IN4_TCP, PAD4, PAD4), 8},
	{"ipv4-in-ipv4, inner shorter than the outer payload", DECAP,
	 IN(ETH(0x0800), OUT4(IN4_TCP_LEN + 4), IN4_TCP, PAD4), OUT(ETH(0x0800), IN4_TCP, PAD4)},
	{"ipv6-in-ipv6 tcp", DECAP, IN(ETH(0x86dd), OUT6(IN6_TCP_LEN), IN6_TCP),
	 OUT(ETH(0x86dd), IN6_TCP)},
	{"ipv6-in-ipv6, ethernet padding kept", DECAP,
	 IN(ETH(0x86dd), OUT6(IN6_TCP_LEN), IN6_TCP, PAD4), OUT(ETH(0x86dd), IN6_TCP, PAD4), 4},
	{"802.1q ipv4-in-ipv4 tcp", DECAP,
	 IN(ETH(0x8100), VLAN(100, 0x0800), OUT4(IN4_TCP_LEN), IN4_TCP),
	 OUT(ETH(0x8100), VLAN(100, 0x0800), IN4_TCP)},
	{"802.1q tci with pcp and dei, ipv4-in-ipv4 udp", DECAP,
	 IN(ETH(0x8100), VLAN(0xf064, 0x0800), OUT4(IN4_UDP_LEN), IN4_UDP),
	 OUT(ETH(0x8100), VLAN(0xf064, 0x0800), IN4_UDP)},
	{"802.1q ipv6-in-ipv6 tcp", DECAP,
	 IN(ETH(0x8100), VLAN(100, 0x86dd), OUT6(IN6_TCP_LEN), IN6_TCP),
	 OUT(ETH(0x8100), VLAN(100, 0x86dd), IN6_TCP)},

	/* Not ours: untouched. */
	{"plain ipv4 tcp", PASS,
	 IN(ETH(0x0800), IP4(40, IPPROTO_TCP, V4_CLIENT, V4_BACKEND), TCP(80))},
	{"plain ipv6 tcp", PASS,
	 IN(ETH(0x86dd), IP6(20, IPPROTO_TCP, V6_CLIENT, V6_BACKEND), TCP(80))},
	{"802.1q plain ipv4 tcp", PASS,
	 IN(ETH(0x8100), VLAN(100, 0x0800), IP4(40, IPPROTO_TCP, V4_CLIENT, V4_BACKEND), TCP(80))},
	{"arp request", PASS,
	 IN(ETH(0x0806), 0, 1, 0x08, 0x00, 6, 4, 0, 1, MAC_SRC, V4_LB, 0, 0, 0, 0, 0, 0,
	    V4_BACKEND)},
	{"ethernet header alone, ipv4 ethertype is malformed", BAD, IN(ETH(0x0800))},
	{"ethernet header alone, unknown ethertype", PASS, IN(ETH(0x88cc))},
	{"802.1q tag cut short", PASS, IN(ETH(0x8100), 0x00, 0x64)},
	{"ipv4 gre", PASS, IN(ETH(0x0800), IP4(24, 47, V4_LB, V4_BACKEND), 0, 0, 0x08, 0x00)},
	{"ipv6-in-ipv4 (protocol 41) is not handled", PASS,
	 IN(ETH(0x0800), IP4(20 + IN6_TCP_LEN, NH_IPV6, V4_LB, V4_BACKEND), IN6_TCP)},
	{"ipv4-in-ipv6 (next header 4) is not handled", PASS,
	 IN(ETH(0x86dd), IP6(IN4_TCP_LEN, PROTO_IPIP, V6_LB, V6_BACKEND), IN4_TCP)},
	{"ipv6 hop-by-hop before next header 41 is not handled", PASS,
	 IN(ETH(0x86dd), IP6(8 + IN6_TCP_LEN, 0, V6_LB, V6_BACKEND), NH_IPV6, 0, 0x01, 0x04, PAD4,
	    IN6_TCP)},
	{"ipv4-in-ipv4 first fragment", PASS,
	 IN(ETH(0x0800), IP4X(0x45, 60, 0x2000, PROTO_IPIP, V4_LB, V4_BACKEND), IN4_TCP)},
	{"ipv4-in-ipv4 later fragment", PASS,
	 IN(ETH(0x0800), IP4X(0x45, 60, 0x0005, PROTO_IPIP, V4_LB, V4_BACKEND), IN4_TCP)},
	{"two 802.1q tags", PASS,
	 IN(ETH(0x8100), VLAN(100, 0x8100), VLAN(200, 0x0800), OUT4(IN4_TCP_LEN), IN4_TCP)},
	{"802.1ad outer tag", PASS,
	 IN(ETH(0x88a8), VLAN(100, 0x8100), VLAN(200, 0x0800), OUT4(IN4_TCP_LEN), IN4_TCP)},

	/* Outer headers malformed or truncated: untouched. */
	{"outer ipv4 header cut short", BAD,
	 IN(ETH(0x0800), 0x45, 0, 0, 60, 0x12, 0x34, 0, 0, 64, PROTO_IPIP)},
	{"outer ipv4 ihl 4", BAD,
	 IN(ETH(0x0800), IP4X(0x44, 60, 0, PROTO_IPIP, V4_LB, V4_BACKEND), IN4_TCP)},
	{"outer ipv4 ihl 15 past the total length", BAD,
	 IN(ETH(0x0800), IP4X(0x4f, 60, 0, PROTO_IPIP, V4_LB, V4_BACKEND), IN4_TCP)},
	{"outer ipv4 version 6", BAD,
	 IN(ETH(0x0800), IP4X(0x65, 60, 0, PROTO_IPIP, V4_LB, V4_BACKEND), IN4_TCP)},
	{"outer ipv4 total length past the frame", BAD,
	 IN(ETH(0x0800), OUT4(IN4_TCP_LEN + 1), IN4_TCP)},
	{"outer ipv4 total length shorter than its header", BAD,
	 IN(ETH(0x0800), IP4(16, PROTO_IPIP, V4_LB, V4_BACKEND), IN4_TCP)},
	{"outer ipv6 header cut short", BAD,
	 IN(ETH(0x86dd), 0x60, 0, 0, 0, BE16(60), NH_IPV6, 64, V6_LB)},
	{"outer ipv6 version 4", BAD,
	 IN(ETH(0x86dd), IP6X(0x40, IN6_TCP_LEN, NH_IPV6, V6_LB, V6_BACKEND), IN6_TCP)},
	{"outer ipv6 payload length past the frame", BAD,
	 IN(ETH(0x86dd), OUT6(IN6_TCP_LEN + 1), IN6_TCP)},

	/* Inner headers missing, truncated or inconsistent: untouched. */
	{"ipv4-in-ipv4, no inner packet", BAD, IN(ETH(0x0800), OUT4(0))},
	{"ipv4-in-ipv4, no inner packet, padding after the outer header", BAD,
	 IN(ETH(0x0800), OUT4(0), PAD4, PAD4, PAD4, PAD4, PAD4, PAD4)},
	{"ipv4-in-ipv4, inner header cut short by the frame", BAD,
	 IN(ETH(0x0800), OUT4(10), 0x45, 0, 0, 40, 0x12, 0x34, 0, 0, 64, 6)},
	{"ipv4-in-ipv4, inner header cut short by the outer length (rest is padding)", BAD,
	 IN(ETH(0x0800), OUT4(16), IN4_TCP)},
	{"ipv4-in-ipv4, inner ihl 4", BAD,
	 IN(ETH(0x0800), OUT4(IN4_TCP_LEN), IP4X(0x44, 40, 0, IPPROTO_TCP, V4_CLIENT, V4_VIP),
	    TCP(80))},
	{"ipv4-in-ipv4, inner ihl 15 past its total length", BAD,
	 IN(ETH(0x0800), OUT4(IN4_TCP_LEN), IP4X(0x4f, 40, 0, IPPROTO_TCP, V4_CLIENT, V4_VIP),
	    TCP(80))},
	{"ipv4-in-ipv4, inner version 6", BAD,
	 IN(ETH(0x0800), OUT4(IN4_TCP_LEN), IP4X(0x65, 40, 0, IPPROTO_TCP, V4_CLIENT, V4_VIP),
	    TCP(80))},
	{"ipv4-in-ipv4, inner total length past the outer payload", BAD,
	 IN(ETH(0x0800), OUT4(IN4_TCP_LEN), IP4(44, IPPROTO_TCP, V4_CLIENT, V4_VIP), TCP(80),
	    PAD4)},
	{"ipv4-in-ipv4, inner total length shorter than its header", BAD,
	 IN(ETH(0x0800), OUT4(IN4_TCP_LEN), IP4(12, IPPROTO_TCP, V4_CLIENT, V4_VIP), TCP(80))},
	{"ipv6-in-ipv6, no inner packet", BAD, IN(ETH(0x86dd), OUT6(0))},
	{"ipv6-in-ipv6, inner header cut short", BAD,
	 IN(ETH(0x86dd), OUT6(24), 0x60, 0, 0, 0, BE16(20), IPPROTO_TCP, 64, V6_CLIENT)},
	{"ipv6-in-ipv6, inner header cut short by the outer length (rest is padding)", BAD,
	 IN(ETH(0x86dd), OUT6(36), IN6_TCP)},
	{"ipv6-in-ipv6, inner version 4", BAD,
	 IN(ETH(0x86dd), OUT6(IN6_TCP_LEN), IP6X(0x40, 20, IPPROTO_TCP, V6_CLIENT, V6_VIP),
	    TCP(80))},
	{"ipv6-in-ipv6, inner payload length past the outer payload", BAD,
	 IN(ETH(0x86dd), OUT6(IN6_TCP_LEN), IP6(21, IPPROTO_TCP, V6_CLIENT, V6_VIP), TCP(80))},
};

static struct decap_bpf *skel;
static int prog_fd;
static int ncpus;
static struct sluice_decap_counter
	*percpu;                 /* ncpus entries: one counter, as the kernel returns it */
static uint64_t runs, run_bytes; /* packets (and their bytes) run through the program */

/* Sums the per-CPU counters into <sum>. */
static void read_stats(struct sluice_decap_counter sum[SLUICE_DECAP_STAT_MAX])
{
	for (uint32_t i = 0; i < SLUICE_DECAP_STAT_MAX; i++) {
		assert_int_equal(bpf_map__lookup_elem(skel->maps.sluice_decap_stats, &i, sizeof(i),
						      percpu, ncpus * sizeof(*percpu), 0),
				 0);
		sum[i].packets = 0;
		sum[i].bytes = 0;
		for (int c = 0; c < ncpus; c++) {
			sum[i].packets += percpu[c].packets;
			sum[i].bytes += percpu[c].bytes;
		}
	}
}

static const char *stat_name(unsigned int stat)
{
	static const char *const names[SLUICE_DECAP_STAT_MAX] = {
		[SLUICE_DECAP_STAT_DECAPSULATED] = "decapsulated",
		[SLUICE_DECAP_STAT_PASSED] = "passed",
		[SLUICE_DECAP_STAT_MALFORMED] = "malformed",
	};

	return stat < SLUICE_DECAP_STAT_MAX ? names[stat] : "?";
}

static void dump(const char *what, const uint8_t *p, uint32_t len)
{
	print_error("%s (%u bytes):", what, len);
	for (uint32_t i = 0; i < len; i++)
		print_error("%s%02x", i % 16 ? " " : "\n  ", p[i]);
	print_error("\n");
}

/*
 * Runs <len> bytes through the program and checks the outcome: XDP_PASS,
 * the output frame <out> (<out_len> bytes), and exactly counter <stat>
 * moved by one packet of <len> bytes.
 */
static void run_check(const uint8_t *pkt, uint32_t len, enum sluice_decap_stat stat,
		      const uint8_t *out, uint32_t out_len)
{
	uint8_t buf[512];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .data_out = buf,
		    .data_size_out = sizeof(buf), .repeat = 1);
	struct sluice_decap_counter before[SLUICE_DECAP_STAT_MAX], after[SLUICE_DECAP_STAT_MAX];

	read_stats(before);
	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &o), 0);
	runs++;
	run_bytes += len;
	read_stats(after);
	for (unsigned int i = 0; i < SLUICE_DECAP_STAT_MAX; i++) {
		uint64_t dp = after[i].packets - before[i].packets;
		uint64_t db = after[i].bytes - before[i].bytes;

		if (dp != (i == (unsigned int)stat ? 1u : 0u))
			fail_msg("counter %s moved by %llu, wanted %s (%u bytes)", stat_name(i),
				 (unsigned long long)dp, stat_name(stat), len);
		assert_int_equal(db, i == (unsigned int)stat ? len : 0);
	}
	if (o.retval != XDP_PASS)
		fail_msg("verdict %u, wanted XDP_PASS (%u)", o.retval, XDP_PASS);
	if (o.data_size_out != out_len || memcmp(buf, out, out_len) != 0) {
		dump("expected", out, out_len);
		dump("got", buf, o.data_size_out);
		fail_msg("output frame differs (%s)", stat_name(stat));
	}
}

static void test_fixture(void **state)
{
	const struct fixture *f = *state;

	if (f->out)
		run_check(f->in, f->in_len, f->stat, f->out, f->out_len);
	else
		run_check(f->in, f->in_len, f->stat, f->in, f->in_len);
}

/*
 * Runs a frame that must come out untouched, whatever the reason: XDP_PASS,
 * the same bytes, one verdict counted and that verdict not decapsulated.
 */
static void run_untouched(const uint8_t *pkt, uint32_t len)
{
	uint8_t buf[512];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .data_out = buf,
		    .data_size_out = sizeof(buf), .repeat = 1);
	struct sluice_decap_counter before[SLUICE_DECAP_STAT_MAX], after[SLUICE_DECAP_STAT_MAX];
	uint64_t moved = 0;

	read_stats(before);
	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &o), 0);
	runs++;
	run_bytes += len;
	read_stats(after);
	for (unsigned int i = 0; i < SLUICE_DECAP_STAT_MAX; i++)
		moved += after[i].packets - before[i].packets;
	assert_int_equal(moved, 1);
	if (after[DECAP].packets != before[DECAP].packets)
		fail_msg("a %u-byte prefix was decapsulated", len);
	assert_int_equal(o.retval, XDP_PASS);
	assert_int_equal(o.data_size_out, len);
	assert_memory_equal(buf, pkt, len);
}

/*
 * Every prefix (at least an Ethernet header: the test run refuses less) of
 * each decapsulated fixture that cuts into the IP packet, not only into the
 * Ethernet padding: somewhere in the tag, the outer or inner header or the
 * inner payload, so a header or a length field points past the frame. Never
 * decapsulated, never changed.
 */
static void test_every_prefix(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *f = &fixtures[i];

		if (f->stat != DECAP)
			continue;
		for (uint32_t n = 14; n < f->in_len - f->pad; n++)
			run_untouched(f->in, n);
	}
}

/* Outer IPv4 IHL 0..15, the total length kept consistent with it. */
static void test_outer_every_ihl(void **state)
{
	static const uint8_t eth[] = {ETH(0x0800)};
	static const uint8_t inner[] = {IN4_TCP};
	static const uint8_t outer[] = {OUT4(IN4_TCP_LEN)};

	(void)state;
	for (unsigned int ihl = 0; ihl <= 15; ihl++) {
		uint8_t in[14 + 60 + sizeof(inner)], out[14 + sizeof(inner)];
		uint32_t hlen = ihl < 5 ? 20 : ihl * 4, tot = hlen + sizeof(inner);

		memcpy(in, eth, sizeof(eth));
		memcpy(in + 14, outer, sizeof(outer));
		in[14] = 0x40 | ihl;
		in[14 + 2] = tot >> 8;
		in[14 + 3] = tot & 0xff;
		memset(in + 14 + 20, 1, hlen - 20); /* NOP options */
		memcpy(in + 14 + hlen, inner, sizeof(inner));
		memcpy(out, eth, sizeof(eth));
		memcpy(out + 14, inner, sizeof(inner));
		if (ihl < 5)
			run_check(in, 14 + tot, BAD, in, 14 + tot);
		else
			run_check(in, 14 + tot, DECAP, out, sizeof(out));
	}
}

/* Map keys are sl_addr bytes (IPv4-mapped for IPv4). */
_Static_assert(sizeof(((struct sluice_decap_key *)0)->addr) == sizeof(struct sl_addr),
	       "sluice_decap_key is an sl_addr");

static void addr_key(struct sluice_decap_key *k, const char *text)
{
	struct sl_addr a;

	assert_int_equal(sl_addr_parse(&a, text), 0);
	memcpy(k->addr, a.b, sizeof(k->addr));
}

static void filter_add(const char *text)
{
	struct sluice_decap_key k;
	struct sluice_decap_val v = {0};

	addr_key(&k, text);
	assert_int_equal(bpf_map__update_elem(skel->maps.sluice_decap_addrs, &k, sizeof(k), &v,
					      sizeof(v), BPF_NOEXIST),
			 0);
}

static void filter_del(const char *text)
{
	struct sluice_decap_key k;

	addr_key(&k, text);
	assert_int_equal(bpf_map__delete_elem(skel->maps.sluice_decap_addrs, &k, sizeof(k), 0), 0);
}

static const struct fixture *fixture(const char *desc)
{
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++)
		if (strcmp(fixtures[i].desc, desc) == 0)
			return &fixtures[i];
	fail_msg("no fixture \"%s\"", desc);
	return NULL;
}

static void expect(const struct fixture *f, enum sluice_decap_stat stat)
{
	if (stat == DECAP)
		run_check(f->in, f->in_len, stat, f->out, f->out_len);
	else
		run_check(f->in, f->in_len, stat, f->in, f->in_len);
}

/*
 * sluice_decap_addrs: empty, every tunnelled packet is decapsulated; with
 * entries, only those to a listed outer destination. A packet to another
 * destination is passed untouched, even with a malformed inner header.
 */
static void test_addr_filter(void **state)
{
	const struct fixture *v4 = fixture("ipv4-in-ipv4 tcp");
	const struct fixture *v6 = fixture("ipv6-in-ipv6 tcp");
	const struct fixture *bad4 = fixture("ipv4-in-ipv4, inner ihl 4");
	const struct fixture *bad6 = fixture("ipv6-in-ipv6, inner version 4");

	(void)state;
	filter_add("198.18.0.12");
	expect(v4, PASS);
	expect(v6, PASS);
	expect(bad4, PASS);
	filter_add("198.18.0.11");
	expect(v4, DECAP);
	expect(v6, PASS);
	expect(bad4, BAD);
	expect(bad6, PASS);
	filter_add("2001:db8::11");
	expect(v6, DECAP);
	expect(bad6, BAD);
	filter_del("198.18.0.11");
	expect(v4, PASS);
	expect(v6, DECAP);
	filter_del("2001:db8::11");
	expect(v6, PASS);
	/* IPv4 keys are IPv4-mapped: the IPv4-compatible ::198.18.0.11 is another address. */
	filter_add("::c612:b");
	expect(v4, PASS);
	filter_del("::c612:b");
	filter_del("198.18.0.12");
	/* Empty again: everything. */
	expect(v4, DECAP);
	expect(v6, DECAP);
	expect(bad4, BAD);
}

/* Counter invariant: every packet got exactly one verdict; bytes as received. */
static void test_counter_invariant(void **state)
{
	struct sluice_decap_counter s[SLUICE_DECAP_STAT_MAX];
	uint64_t packets = 0, bytes = 0;

	(void)state;
	read_stats(s);
	for (unsigned int i = 0; i < SLUICE_DECAP_STAT_MAX; i++) {
		packets += s[i].packets;
		bytes += s[i].bytes;
		print_message("  %-13s %llu\n", stat_name(i), (unsigned long long)s[i].packets);
	}
	assert_int_equal(packets, runs);
	assert_int_equal(bytes, run_bytes);
}

static struct CMUnitTest fixture_tests[ARRAY_SIZE(fixtures)];

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_outer_every_ihl),
		cmocka_unit_test(test_addr_filter),
		cmocka_unit_test(test_counter_invariant),
	};
	int failed, err;

	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	skel = decap_bpf__open_and_load();
	if (!skel) {
		err = errno;
		if (err == EPERM || err == EACCES) {
			printf("SKIP: loading the XDP decapsulator needs root or "
			       "CAP_BPF+CAP_NET_ADMIN: %s\n",
			       strerror(err));
			return 77;
		}
		fprintf(stderr, "loading the XDP decapsulator: %s\n", strerror(err));
		return 1;
	}
	prog_fd = bpf_program__fd(skel->progs.sluice_decap);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "libbpf_num_possible_cpus: %s\n", strerror(-ncpus));
		decap_bpf__destroy(skel);
		return 1;
	}
	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu) {
		fprintf(stderr, "out of memory\n");
		decap_bpf__destroy(skel);
		return 1;
	}

	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		fixture_tests[i].name = fixtures[i].desc;
		fixture_tests[i].test_func = test_fixture;
		fixture_tests[i].initial_state = (void *)&fixtures[i];
	}
	failed = cmocka_run_group_tests_name("decap_fixtures", fixture_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("decap", tests, NULL, NULL);

	free(percpu);
	decap_bpf__destroy(skel);
	return failed ? 1 : 0;
}
