/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the lb library's files; not part of its interface. */
#ifndef SLUICE_LB_INTERNAL_H
#define SLUICE_LB_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "lb_addr.h"

/* Hash for the VIP tables: mixes the address's last 8 bytes, port and protocol. */
static inline uint32_t lb_vip_hash_of(const struct lb_addr *a, uint16_t port_be, uint8_t proto)
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

#endif
