/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the lb library's files; not part of its interface. */
#ifndef SLUICE_LB_INTERNAL_H
#define SLUICE_LB_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "lb.h"
#include "sl_addr.h"

_Static_assert(LB_VIP_HASH == 1024, "lb_vip4_hash() keeps 10 bits");

/* Hash for the VIP tables: mixes the address's last 8 bytes, port and protocol. */
static inline uint32_t lb_vip_hash_of(const struct sl_addr *a, uint16_t port_be, uint8_t proto)
{
	uint64_t hi, lo;

	memcpy(&hi, &a->b[0], 8);
	memcpy(&lo, &a->b[8], 8);
	uint64_t h = (hi * 0x9e3779b97f4a7c15ull) ^ lo ^ ((uint64_t)port_be << 8) ^ proto;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

/* Slot of an IPv4 service in lb_snapshot.fast4; <addr> and <port_be> as on the wire. */
static inline uint32_t lb_vip4_hash(uint32_t addr, uint16_t port_be, uint8_t proto)
{
	uint32_t h = (addr ^ ((uint32_t)port_be << 16 | port_be) ^ proto) * 0x9e3779b1u;

	return h >> 22; /* LB_VIP_HASH = 1024 slots */
}

/* The bit of lb_snapshot.own_bloom that <a> sets (0..255). */
static inline uint32_t lb_own_bit(const struct sl_addr *a)
{
	uint64_t hi, lo;

	memcpy(&hi, &a->b[0], 8);
	memcpy(&lo, &a->b[8], 8);
	return (uint32_t)(((hi ^ lo) * 0x9e3779b97f4a7c15ull) >> 56);
}

/* False when <a> is surely none of Sluice's own addresses. */
static inline bool lb_own_maybe(const struct lb_snapshot *s, const struct sl_addr *a)
{
	uint32_t bit = lb_own_bit(a);

	return (s->own_bloom[bit >> 6] >> (bit & 63)) & 1;
}

#endif
