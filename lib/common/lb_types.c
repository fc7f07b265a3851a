/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The names of the values in lb_types.h. These are what the config file,
 * the API and sluicectl accept and what every printer shows: change one and
 * you change the file format and the API (docs/config.md, docs/api.md).
 */
#include "lb_types.h"

#include <netinet/in.h>

static const char *const mode[] = {
	[LB_MODE_DSR] = "dsr",
	[LB_MODE_TUNNEL] = "tunnel",
	[LB_MODE_FNAT] = "fnat",
	[LB_MODE_NAT] = "nat",
};
static const char *const admin[] = {
	[LB_ADMIN_READY] = "ready",
	[LB_ADMIN_DRAIN] = "drain",
	[LB_ADMIN_MAINT] = "maint",
};
static const char *const hash[] = {
	[LB_HASH_5TUPLE] = "5-tuple",
	[LB_HASH_SRC_IP] = "source-ip",
};
static const char *const empty[] = {
	[LB_EMPTY_DROP] = "drop",
	[LB_EMPTY_RESET] = "reset",
};
static const char *const down_flows[] = {
	[LB_DOWN_RESCHEDULE] = "reschedule",
	[LB_DOWN_KEEP] = "keep",
	[LB_DOWN_RESET] = "reset",
};
static const char *const health[] = {
	[LB_HEALTH_UP] = "up",
	[LB_HEALTH_DOWN] = "down",
};
/* Indexed by IPPROTO_ number, so a parsed name is the protocol number. */
static const char *const proto[] = {
	[IPPROTO_TCP] = "tcp",
	[IPPROTO_UDP] = "udp",
};
static const char *const redispatch[] = {"on", "off"};

/* Every value named: a value added to an enum without a name fails here. */
#define ALL_NAMED(arr, max) _Static_assert(sizeof(arr) / sizeof((arr)[0]) == (max), #arr)
ALL_NAMED(mode, LB_MODE_MAX);
ALL_NAMED(admin, LB_ADMIN_MAX);
ALL_NAMED(hash, LB_HASH_MAX);
ALL_NAMED(empty, LB_EMPTY_MAX);
ALL_NAMED(down_flows, LB_DOWN_MAX);
ALL_NAMED(health, LB_HEALTH_MAX);

const struct name_table lb_mode_names = NAME_TABLE(mode);
const struct name_table lb_admin_names = NAME_TABLE(admin);
const struct name_table lb_hash_names = NAME_TABLE(hash);
const struct name_table lb_empty_names = NAME_TABLE(empty);
const struct name_table lb_down_flows_names = NAME_TABLE(down_flows);
const struct name_table lb_health_names = NAME_TABLE(health);
const struct name_table lb_proto_names = NAME_TABLE(proto);
const struct name_table lb_redispatch_names = NAME_TABLE(redispatch);

const char *lb_mode_name(enum lb_mode m)
{
	return name_of(&lb_mode_names, m);
}

int lb_mode_parse(const char *s)
{
	return name_parse(&lb_mode_names, s);
}

const char *lb_admin_name(enum lb_admin a)
{
	return name_of(&lb_admin_names, a);
}

int lb_admin_parse(const char *s)
{
	return name_parse(&lb_admin_names, s);
}

const char *lb_hash_name(enum lb_hash h)
{
	return name_of(&lb_hash_names, h);
}

int lb_hash_parse(const char *s)
{
	return name_parse(&lb_hash_names, s);
}

const char *lb_empty_name(enum lb_empty e)
{
	return name_of(&lb_empty_names, e);
}

int lb_empty_parse(const char *s)
{
	return name_parse(&lb_empty_names, s);
}

const char *lb_down_flows_name(enum lb_down_flows d)
{
	return name_of(&lb_down_flows_names, d);
}

int lb_down_flows_parse(const char *s)
{
	return name_parse(&lb_down_flows_names, s);
}

const char *lb_health_name(enum lb_health h)
{
	return name_of(&lb_health_names, h);
}

int lb_health_parse(const char *s)
{
	return name_parse(&lb_health_names, s);
}

int lb_proto_parse(const char *s)
{
	return name_parse(&lb_proto_names, s);
}

const char *lb_proto_name(uint8_t p)
{
	return name_of(&lb_proto_names, p == IPPROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP);
}
