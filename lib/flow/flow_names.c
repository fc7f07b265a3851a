/* SPDX-License-Identifier: BSD-3-Clause */
#include "flow.h"
#include "name_table.h"

static const char *const state[] = {
	[FLOW_TCP_SYN] = "syn",       [FLOW_TCP_EST] = "established", [FLOW_TCP_FIN] = "fin",
	[FLOW_TCP_CLOSED] = "closed", [FLOW_UDP_NEW] = "udp_new",     [FLOW_UDP_EST] = "udp",
};
_Static_assert(sizeof(state) / sizeof(state[0]) == FLOW_STATE_MAX, "every flow state named");
static const struct name_table state_names = NAME_TABLE(state);

const char *flow_state_name(enum flow_state s)
{
	return name_of(&state_names, s);
}

void flow_timeouts_default(struct flow_timeouts *t)
{
	/*
	 * Short SYN/UDP_NEW timeouts let a flood of one-packet flows drain
	 * quickly; established TCP gets IPVS's 15 minutes.
	 */
	t->ms[FLOW_TCP_SYN] = 10 * 1000;
	t->ms[FLOW_TCP_EST] = 900 * 1000;
	t->ms[FLOW_TCP_FIN] = 30 * 1000;
	t->ms[FLOW_TCP_CLOSED] = 5 * 1000;
	t->ms[FLOW_UDP_NEW] = 30 * 1000;
	t->ms[FLOW_UDP_EST] = 60 * 1000;
}
