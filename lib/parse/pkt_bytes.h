/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Byte-level helpers for packets, shared by the parser and the pipeline:
 * big-endian 16-bit fields at any alignment, and the Internet checksum
 * (RFC 1071) with its incremental update (RFC 1624).
 */
#ifndef SLUICE_PKT_BYTES_H
#define SLUICE_PKT_BYTES_H

#include <stdint.h>

/* Big-endian 16-bit field as a host-order value. */
static inline uint16_t pkt_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void pkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Adds the 16-bit big-endian words of <len> bytes to <sum> (an odd last byte padded). */
static inline uint32_t pkt_csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

/* Folds <sum> to 16 bits and complements it: the checksum field's value. */
static inline uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Folds any 32-bit sum to 16 bits (not complemented): twice is enough, no loop. */
static inline uint16_t pkt_csum_fold16(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum += sum >> 16;
	return (uint16_t)sum;
}

/*
 * RFC 1624 eqn. 3 with a precomputed change: HC' = ~(~HC + delta), where
 * delta is the one's-complement sum of ~m + m' over every changed word.
 */
static inline void pkt_csum_apply(uint8_t *csum, uint16_t delta)
{
	pkt_put16(csum, (uint16_t)~pkt_csum_fold16((uint32_t)(uint16_t)~pkt_get16(csum) + delta));
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one changed 16-bit word. */
static inline void pkt_csum_replace16(uint8_t *csum, uint16_t old_word, uint16_t new_word)
{
	uint32_t sum = (uint16_t)~pkt_get16(csum);

	sum += (uint16_t)~old_word;
	sum += new_word;
	pkt_put16(csum, pkt_csum_fold(sum));
}

#endif
