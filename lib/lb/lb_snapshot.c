/* SPDX-License-Identifier: BSD-3-Clause */
/* Read-side helpers of the snapshot, used by workers on every packet. */
#include "lb.h"
#include "lb_internal.h"

/* Names of Sluice's own reasons; the parser's (1 .. PARSE_RESULT_MAX-1) are its own. */
static const char *const drop[] = {
	[LB_DROP_NONE] = "none",
	[LB_DROP_NOT_OURS] = "not_ours",
	[LB_DROP_VIP_NO_SERVICE] = "vip_no_service",
	[LB_DROP_FRAGMENT] = "fragment",
	[LB_DROP_NO_BACKEND] = "no_backend",
	[LB_DROP_NEIGH_UNRESOLVED] = "neigh_unresolved",
	[LB_DROP_MODE_UNSUPPORTED] = "mode_unsupported",
	[LB_DROP_TX_FULL] = "tx_full",
	[LB_DROP_MGMT_RING_FULL] = "mgmt_ring_full",
	[LB_DROP_NONLINEAR] = "nonlinear",
	[LB_DROP_NAT_NO_PORT] = "nat_no_port",
	[LB_DROP_NAT_NO_ROOM] = "nat_no_room",
	[LB_DROP_TTL] = "ttl_exceeded",
	[LB_DROP_HANDOFF_FULL] = "handoff_full",
	[LB_DROP_TOO_BIG] = "too_big",
	[LB_DROP_NO_HEADROOM] = "no_headroom",
	[LB_DROP_REDISPATCH] = "redispatch",
	[LB_DROP_FLOW_RESET] = "flow_reset",
	[LB_DROP_BAD_SRC_MAC] = "bad_src_mac",
	[LB_DROP_MARTIAN] = "martian",
	[LB_DROP_LAND] = "land",
	[LB_DROP_BAD_CSUM] = "bad_checksum",
};

_Static_assert(sizeof(drop) / sizeof(drop[0]) == LB_DROP_MAX, "every drop reason named");
static const struct name_table drop_names = NAME_TABLE(drop);

const char *lb_drop_name(enum lb_drop d)
{
	if (d > LB_DROP_NONE && (int)d < PARSE_RESULT_MAX)
		return parse_result_name((enum parse_result)d);
	return name_of(&drop_names, d);
}

uint32_t lb_vip_find(const struct lb_snapshot *s, const struct sl_addr *addr, uint16_t port_be,
		     uint8_t proto)
{
	uint32_t i = lb_vip_hash_of(addr, port_be, proto) & (LB_VIP_HASH - 1);

	for (uint32_t probes = 0; probes < LB_VIP_HASH; probes++) {
		uint32_t slot = s->vip_hash[i];
		if (slot == LB_NO_SLOT)
			return LB_NO_SLOT;
		const struct lb_snap_vip *v = &s->vips[slot];
		if (v->port_be == port_be && v->proto == proto && sl_addr_eq(&v->addr, addr))
			return slot;
		i = (i + 1) & (LB_VIP_HASH - 1);
	}
	return LB_NO_SLOT;
}

uint32_t lb_laddr_find(const struct lb_snapshot *s, const struct sl_addr *addr)
{
	uint32_t i = lb_vip_hash_of(addr, 0, 0) & (LB_VIP_HASH - 1);

	for (uint32_t probes = 0; probes < LB_VIP_HASH; probes++) {
		uint32_t id = s->laddr_hash[i];
		if (id == LB_NO_SLOT)
			return LB_NO_SLOT;
		if (sl_addr_eq(&s->laddrs[id], addr))
			return id;
		i = (i + 1) & (LB_VIP_HASH - 1);
	}
	return LB_NO_SLOT;
}

bool lb_vip_addr_known(const struct lb_snapshot *s, const struct sl_addr *addr)
{
	uint32_t i = lb_vip_hash_of(addr, 0, 0) & (LB_VIP_HASH - 1);

	for (uint32_t probes = 0; probes < LB_VIP_HASH; probes++) {
		uint32_t slot = s->vip_addr_hash[i];
		if (slot == LB_NO_SLOT)
			return false;
		if (sl_addr_eq(&s->vips[slot].addr, addr))
			return true;
		i = (i + 1) & (LB_VIP_HASH - 1);
	}
	return false;
}
