/* SPDX-License-Identifier: BSD-3-Clause */
#include "sl_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int sl_addr_parse(struct sl_addr *a, const char *text)
{
	uint8_t buf[16];

	if (text == NULL)
		return -EINVAL;
	if (inet_pton(AF_INET, text, buf) == 1) {
		sl_addr_set_v4(a, buf);
		return 0;
	}
	if (inet_pton(AF_INET6, text, buf) == 1) {
		sl_addr_set_v6(a, buf);
		return 0;
	}
	return -EINVAL;
}

int sl_prefix_parse(struct sl_addr *a, uint8_t *plen, const char *text)
{
	char host[SL_ADDR_STRLEN];
	const char *slash;
	char *end;
	long len;
	size_t n;

	if (text == NULL || (slash = strchr(text, '/')) == NULL)
		return -EINVAL;
	n = (size_t)(slash - text);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	if (sl_addr_parse(a, host) < 0)
		return -EINVAL;
	errno = 0;
	len = strtol(slash + 1, &end, 10);
	if (errno != 0 || end == slash + 1 || *end != '\0' || len < 0 ||
	    len > (sl_addr_is_v4(a) ? 32 : 128))
		return -EINVAL;
	*plen = (uint8_t)len;
	return 0;
}

bool sl_prefix_contains(const struct sl_addr *net, uint8_t plen, const struct sl_addr *a)
{
	unsigned int bits, i;

	if (sl_addr_is_v4(net) != sl_addr_is_v4(a))
		return false;
	bits = sl_addr_is_v4(net) ? 96u + plen : plen;
	for (i = 0; i < bits / 8; i++)
		if (net->b[i] != a->b[i])
			return false;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
		if ((net->b[i] & mask) != (a->b[i] & mask))
			return false;
	}
	return true;
}

char *sl_addr_format(const struct sl_addr *a, char *buf, size_t len)
{
	if (sl_addr_is_v4(a))
		inet_ntop(AF_INET, sl_addr_v4_bytes(a), buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
	return buf;
}

int sl_mac_parse(uint8_t mac[6], const char *text)
{
	unsigned int v[6];
	char tail;
	int i;

	if (text == NULL || sscanf(text, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
				   &v[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (v[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}
