/* SPDX-License-Identifier: BSD-3-Clause */
/* Whether this node announces its VIPs, and the routes it gives BIRD (announce.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"

void ann_node_init(struct ann_node *n, uint32_t dp_timeout_ms)
{
	*n = (struct ann_node){.dp_timeout_ms = dp_timeout_ms};
}

void ann_dp_answered(struct ann_node *n, uint64_t now)
{
	/* 0 means "never": a clock that starts at 0 still counts its first answer. */
	n->dp_last_ok = now > 0 ? now : 1;
	n->dp_gone = false;
}

void ann_dp_gone(struct ann_node *n)
{
	n->dp_gone = true;
}

bool ann_dp_alive(const struct ann_node *n, uint64_t now)
{
	return n->dp_last_ok != 0 && !n->dp_gone && now <= n->dp_last_ok + n->dp_timeout_ms;
}

enum ann_why ann_vip_decide(const struct ann_node *n, uint32_t usable, uint64_t now)
{
	if (!ann_dp_alive(n, now))
		return ANN_DP_DOWN;
	if (n->drained)
		return ANN_DRAINED;
	if (usable == 0)
		return ANN_NO_BACKEND;
	return ANN_UP;
}

const char *ann_why_name(enum ann_why w)
{
	switch (w) {
	case ANN_DP_DOWN:
		return "dataplane down";
	case ANN_DRAINED:
		return "drained";
	case ANN_NO_BACKEND:
		return "no backend";
	case ANN_UP:
		return "announced";
	}
	return "?";
}

static int route_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct ann_route *)a)->addr, &((const struct ann_route *)b)->addr,
		      sizeof(struct sl_addr));
}

size_t ann_routes_normalize(struct ann_route *r, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), route_cmp);
	for (size_t i = 1; i < n; i++)
		if (!sl_addr_eq(&r[i].addr, &r[out].addr))
			r[++out] = r[i];
	return out + 1;
}

/* Appends to <buf> at *used; false once it did not fit. */
static bool put(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static bool put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*used >= len)
		return false;
	va_start(ap, fmt);
	k = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= len - *used) {
		*used = len;
		return false;
	}
	*used += (size_t)k;
	return true;
}

/* One family's static protocol: its routes, via <nh> (NULL: none announced). */
static bool render_family(const struct ann_route *r, size_t n, const char *name, bool v4,
			  const struct sl_addr *nh, char *buf, size_t len, size_t *used)
{
	char a[SL_ADDR_STRLEN], via[SL_ADDR_STRLEN];

	if (!put(buf, len, used, "protocol static %s%c {\n\t%s;\n", name, v4 ? '4' : '6',
		 v4 ? "ipv4" : "ipv6"))
		return false;
	if (nh != NULL) {
		sl_addr_format(nh, via, sizeof(via));
		for (size_t i = 0; i < n; i++) {
			if (sl_addr_is_v4(&r[i].addr) != v4)
				continue;
			sl_addr_format(&r[i].addr, a, sizeof(a));
			if (!put(buf, len, used, "\troute %s/%d via %s;\n", a, v4 ? 32 : 128, via))
				return false;
		}
	}
	return put(buf, len, used, "}\n");
}

int ann_render_bird(const struct ann_route *r, size_t n, const char *name,
		    const struct sl_addr *nh4, const struct sl_addr *nh6, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if (!put(buf, len, &used,
		 "# Written by sluice-control: the VIPs this node announces. Do not edit.\n") ||
	    !render_family(r, n, name, true, nh4, buf, len, &used) ||
	    !render_family(r, n, name, false, nh6, buf, len, &used))
		return -ENOSPC;
	return (int)used;
}
