/* SPDX-License-Identifier: BSD-3-Clause */
#include "scheduler.h"

static const char *const names[] = {
	[SCHED_KIND_RR] = "rr",   [SCHED_KIND_WRR] = "wrr",       [SCHED_KIND_LC] = "lc",
	[SCHED_KIND_WLC] = "wlc", [SCHED_KIND_MAGLEV] = "maglev",
};
_Static_assert(sizeof(names) / sizeof(names[0]) == SCHED_KIND_MAX, "every scheduler named");

const struct name_table sched_kind_names = NAME_TABLE(names);

const char *sched_kind_name(enum sched_kind k)
{
	return name_of(&sched_kind_names, k);
}

int sched_kind_parse(const char *name)
{
	return name_parse(&sched_kind_names, name);
}
