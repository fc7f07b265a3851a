/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One address type for IPv4 and IPv6 so that flow keys, VIP keys and backend
 * addresses compare with a memcmp. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d,
 * RFC 4291 2.5.5.2), so the family is implied by the bytes.
 */
#ifndef SLUICE_SL_ADDR_H
#define SLUICE_SL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sl_addr {
	uint8_t b[16];
};

/* Longest text sl_addr_format() writes, NUL included (INET6_ADDRSTRLEN). */
#define SL_ADDR_STRLEN 46

static inline bool sl_addr_is_v4(const struct sl_addr *a)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a->b, prefix, sizeof(prefix)) == 0;
}

/*
 * <v4> points at 4 bytes in network order. The prefix copied whole: two
 * stores of constants (8 and 4 bytes), where a memset and two bytes took
 * four (the fast path builds two addresses per packet).
 */
static inline void sl_addr_set_v4(struct sl_addr *a, const void *v4)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memcpy(a->b, prefix, sizeof(prefix));
	memcpy(&a->b[12], v4, 4);
}

static inline void sl_addr_set_v6(struct sl_addr *a, const void *v6)
{
	memcpy(a->b, v6, 16);
}

static inline const uint8_t *sl_addr_v4_bytes(const struct sl_addr *a)
{
	return &a->b[12];
}

static inline bool sl_addr_eq(const struct sl_addr *a, const struct sl_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/*
 * Parses "198.18.0.1" or "2001:db8::1". Returns 0, or -EINVAL.
 * Family of the result: sl_addr_is_v4().
 */
int sl_addr_parse(struct sl_addr *a, const char *text);

/*
 * Parses "198.18.0.1/24" or "2001:db8::1/64" (prefix required). <plen> gets
 * the prefix length as written (0..32 for IPv4, 0..128 for IPv6).
 */
int sl_prefix_parse(struct sl_addr *a, uint8_t *plen, const char *text);

/* True if <a> lies in <net>/<plen> (same family required; plen as for v4/v6). */
bool sl_prefix_contains(const struct sl_addr *net, uint8_t plen, const struct sl_addr *a);

/* Writes the address as text into <buf> (at least SL_ADDR_STRLEN bytes); returns buf. */
char *sl_addr_format(const struct sl_addr *a, char *buf, size_t len);

/* Parses "02:00:00:00:00:01". Returns 0 or -EINVAL. */
int sl_mac_parse(uint8_t mac[6], const char *text);

#endif
