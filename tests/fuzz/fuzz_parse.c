/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the packet parser (lib/parse): any bytes as a frame.
 *
 * Checks, besides ASan/UBSan's (parse_packet must read only [0, len)):
 * the result is a named reason; on PARSE_OK the offsets are ordered and
 * inside the frame (l3_off <= l4_off <= l3_end <= len) and the kind,
 * fragment and family fields hold values their enums name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_parse: check failed: %s (line %d)\n", #cond,         \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_meta m;
	enum parse_result r;

	if (size > UINT16_MAX)
		return 0;
	memset(&m, 0xa5, sizeof(m));
	r = parse_packet(data, (uint32_t)size, &m);
	CHECK(r < PARSE_RESULT_MAX);
	CHECK(parse_result_name(r) != NULL);
	if (r != PARSE_OK)
		return 0;
	CHECK(m.kind == PKT_KIND_ARP || m.kind == PKT_KIND_IP);
	CHECK(m.l3_off == 14 || m.l3_off == 18);
	CHECK(m.has_vlan == (m.l3_off == 18));
	if (m.kind == PKT_KIND_ARP) {
		CHECK(size >= m.l3_off + 28u);
		return 0;
	}
	CHECK(m.is_v6 <= 1);
	CHECK(m.frag <= PKT_FRAG_LATER);
	CHECK(m.l3_off + (m.is_v6 ? 40u : 20u) <= m.l4_off);
	CHECK(m.l4_off <= m.l3_end);
	CHECK(m.l3_end <= size);
	if (m.frag != PKT_FRAG_LATER) {
		/* The L4 header the parser read fields from is inside the IP packet. */
		uint32_t need = m.l4_proto == 6 ? 20 : m.l4_proto == 17 ? 8 : 0;

		CHECK(m.l4_off + need <= m.l3_end);
	}
	return 0;
}
