/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Which backend a node gives a flow (sluicectl lookup, docs/cluster.md): its
 * flow entry when the caller has it, else what Maglev says, which is what
 * every node with the same pool picks for it. Nodes behind ECMP agree when
 * their answers agree. A pure function over a snapshot.
 */
#ifndef SLUICE_LB_LOOKUP_H
#define SLUICE_LB_LOOKUP_H

#include <stdint.h>

#include "flow.h"
#include "lb.h"

enum lb_lookup_from {
	LB_LOOKUP_NONE,   /* no backend can take it (slot LB_NO_SLOT) */
	LB_LOOKUP_FLOW,   /* its flow entry: where its packets go now */
	LB_LOOKUP_MAGLEV, /* a new flow of a maglev VIP, or one picked up mid-stream */
	LB_LOOKUP_PICKUP, /* other schedulers: a new flow's pick depends on the lcore's
			     state; this is where a flow picked up mid-stream goes */
};

struct lb_lookup {
	uint32_t slot; /* backend slot in the snapshot, or LB_NO_SLOT */
	enum lb_lookup_from from;
};

/*
 * Flow <k> (client to VIP, ports in network order) of VIP <vip_slot> in <s>.
 * <e>: its flow entry (NULL: none, or not known to the caller); an entry
 * whose backend left the slot, or does not keep its flows, is passed over.
 */
struct lb_lookup lb_lookup_flow(const struct lb_snapshot *s, uint32_t vip_slot,
				const struct flow_key *k, const struct flow_entry *e);

/* "flow", "maglev", "pickup", "none". */
const char *lb_lookup_from_name(enum lb_lookup_from f);

#endif
