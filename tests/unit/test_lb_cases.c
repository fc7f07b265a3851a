/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pipeline's single-packet cases as a table, Katran-style: what the case
 * is, the VIPs' mode, the frame that arrives, and what must come of it: the
 * drop reason, or the frame that leaves (compared byte for byte, checksums
 * included) and the flows held afterwards. A new case is one row.
 *
 * Every row runs in a fresh environment (tests/lib/lb_harness.h; struct
 * lb_case says which VIPs and backends): a client frame comes in on the
 * clients' port (dst PORT1_MAC, src CLIENT_MAC unless the row says); the
 * backends are on port 0. Each row also checks rx == 1, the counter of its
 * drop reason and the counter invariant.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lb_harness.h"
#include "parse.h"

#define OTHER4 "10.0.0.200"

/*
 * Frames: a client's TCP SYN (4 bytes of payload) or UDP datagram (20) to
 * <D>:<P>; more fields of struct spec may follow (damage, TTL, MACs).
 */
#define SYN4(D, P, ...)                                                                            \
	{                                                                                          \
		.src = CLIENT4, .dst = D, .sport = 1234, .dport = P, .proto = IPPROTO_TCP,         \
		.flags = TH_SYN, .payload = 4, __VA_ARGS__                                         \
	}
#define SYN6(D, P, ...)                                                                            \
	{                                                                                          \
		.src = CLIENT6, .dst = D, .sport = 1234, .dport = P, .proto = IPPROTO_TCP,         \
		.flags = TH_SYN, .payload = 4, __VA_ARGS__                                         \
	}
#define UDP4(D, P, ...)                                                                            \
	{                                                                                          \
		.src = CLIENT4, .dst = D, .sport = 5353, .dport = P, .proto = IPPROTO_UDP,         \
		.payload = 20, __VA_ARGS__                                                         \
	}
/* The MACs of a frame the backends' port sends to the backend. */
#define TO_BE .smac = PORT_MAC, .dmac = BE_MACS[LB_CASE_BE_ID]

/* Outcomes: dropped for <WHY>; sent to the backends' port as <OUT>, <N> flows held. */
#define DROPPED(WHY) .verdict = LB_VERDICT_DROP, .drop = (WHY)
#define SENT(N, OUT) .verdict = LB_VERDICT_TX, .out_port = P_BACKENDS, .flows = (N), .out = OUT

/* clang-format off */
static const struct lb_case cases[] = {
	/* what                      mode          frame in                         outcome */
	{"not a VIP",                SL_MODE_DSR,  SYN4(OTHER4, 80),                DROPPED(LB_DROP_NOT_OURS)},
	{"port address",             SL_MODE_DSR,  SYN4(PORT4, 80),                 DROPPED(LB_DROP_NOT_OURS)},
	{"VIP, wrong port",          SL_MODE_DSR,  SYN4(VIP4, 81),                  DROPPED(LB_DROP_VIP_NO_SERVICE)},
	{"VIP, wrong protocol",      SL_MODE_DSR,  UDP4(VIP4, 80),                  DROPPED(LB_DROP_VIP_NO_SERVICE)},
	{"IPv6 VIP, wrong port",     SL_MODE_DSR,  SYN6(VIP6, 80),                  DROPPED(LB_DROP_VIP_NO_SERVICE)},
	{"later fragment to VIP",    SL_MODE_DSR,  SYN4(VIP4, 80, .frag = 0x0010),  DROPPED(LB_DROP_FRAGMENT)},
	{"later fragment, MF",       SL_MODE_DSR,  SYN4(VIP4, 80, .frag = 0x2010),  DROPPED(LB_DROP_FRAGMENT)},
	{"later fragment elsewhere", SL_MODE_DSR,  SYN4(OTHER4, 80, .frag = 0x0010), DROPPED(LB_DROP_NOT_OURS)},
	{"runt frame",               SL_MODE_DSR,  SYN4(VIP4, 80, .cut = 10),       DROPPED(PARSE_TRUNC_ETH)},
	{"IPv4 version 5",           SL_MODE_DSR,  SYN4(VIP4, 80, .ver_ihl = 0x55), DROPPED(PARSE_IP4_BAD_VERSION)},
	{"IPv4 IHL 4",               SL_MODE_DSR,  SYN4(VIP4, 80, .ver_ihl = 0x44), DROPPED(PARSE_IP4_BAD_IHL)},
	{"IPv4 length past frame",   SL_MODE_DSR,  SYN4(VIP4, 80, .cut = 40),       DROPPED(PARSE_IP4_BAD_LEN)},
	{"TCP header cut",           SL_MODE_DSR,  SYN4(VIP4, 80, .ip_len = 30),    DROPPED(PARSE_TRUNC_L4)},
	{"damaged IPv4 header",      SL_MODE_DSR,  SYN4(VIP4, 80, .ip_csum_xor = 0x5a00),
	 DROPPED(LB_DROP_BAD_CSUM)},
	/* The connection is made before the TTL runs out (lb_nat.c: nat_forward). */
	{"fnat, TTL 1",              SL_MODE_FNAT, SYN4(VIP4, 80, .ttl = 1),        DROPPED(LB_DROP_TTL), .flows = 2},

	/* dsr: only the MACs change. */
	{"dsr, IPv4 TCP SYN",        SL_MODE_DSR,  SYN4(VIP4, 80),   SENT(1, SYN4(VIP4, 80, TO_BE))},
	{"dsr, IPv6 TCP SYN",        SL_MODE_DSR,  SYN6(VIP6, 443),  SENT(1, SYN6(VIP6, 443, TO_BE))},
	{"dsr, IPv4 UDP",            SL_MODE_DSR,  UDP4(VIP4, 53),   SENT(1, UDP4(VIP4, 53, TO_BE))},
	{"dsr, first fragment",      SL_MODE_DSR,  SYN4(VIP4, 80, .frag = 0x2000),
	 SENT(1, SYN4(VIP4, 80, .frag = 0x2000, TO_BE))},
	{"damaged IPv4 header the port found good", SL_MODE_DSR, SYN4(VIP4, 80, .ip_csum_xor = 0x5a00),
	 SENT(1, SYN4(VIP4, 80, .ip_csum_xor = 0x5a00, TO_BE)), .rx_csum = LB_RX_CSUM_IP_GOOD},
	/* nat: the destination becomes the backend's, the TTL goes down, checksums follow. */
	{"nat, IPv4 TCP SYN",        SL_MODE_NAT,  SYN4(VIP4, 80),
	 SENT(2, SYN4(LB_CASE_BE4, 8080, .ttl = 63, TO_BE))},
	{"nat, IPv6 TCP SYN",        SL_MODE_NAT,  SYN6(VIP6, 443),
	 SENT(2, SYN6(LB_CASE_BE6, 8080, .ttl = 63, TO_BE))},
};
/* clang-format on */

static void test_cases(void **state)
{
	(void)state;
	lb_cases_run(cases, ARRAY_SIZE(cases));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
