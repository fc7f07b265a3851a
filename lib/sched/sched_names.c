/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "scheduler.h"

static const char *const sched_names[SCHED_KIND_MAX] = {
	[SCHED_KIND_RR] = "rr",   [SCHED_KIND_WRR] = "wrr",       [SCHED_KIND_LC] = "lc",
	[SCHED_KIND_WLC] = "wlc", [SCHED_KIND_MAGLEV] = "maglev",
};

const char *sched_kind_name(enum sched_kind k)
{
	return (unsigned int)k < SCHED_KIND_MAX ? sched_names[k] : "?";
}

int sched_kind_parse(const char *name)
{
	for (int k = 0; k < SCHED_KIND_MAX; k++)
		if (name != NULL && strcmp(name, sched_names[k]) == 0)
			return k;
	return -1;
}
