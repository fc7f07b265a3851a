/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The names of the values in sl_types.h. These are what the config file,
 * the API and sluicectl accept and what every printer shows: change one and
 * you change the file format and the API (docs/config.md, docs/api.md).
 */
#include "sl_types.h"

#include <netinet/in.h>

static const char *const mode[] = {
	[SL_MODE_DSR] = "dsr",
	[SL_MODE_TUNNEL] = "tunnel",
	[SL_MODE_FNAT] = "fnat",
	[SL_MODE_NAT] = "nat",
};
static const char *const admin[] = {
	[SL_ADMIN_READY] = "ready",
	[SL_ADMIN_DRAIN] = "drain",
	[SL_ADMIN_MAINT] = "maint",
};
static const char *const hash[] = {
	[SL_HASH_5TUPLE] = "5-tuple",
	[SL_HASH_SRC_IP] = "source-ip",
};
static const char *const empty[] = {
	[SL_EMPTY_DROP] = "drop",
	[SL_EMPTY_RESET] = "reset",
};
static const char *const down_flows[] = {
	[SL_DOWN_RESCHEDULE] = "reschedule",
	[SL_DOWN_KEEP] = "keep",
	[SL_DOWN_RESET] = "reset",
};
static const char *const health[] = {
	[SL_HEALTH_UP] = "up",
	[SL_HEALTH_DOWN] = "down",
};
/* Indexed by IPPROTO_ number, so a parsed name is the protocol number. */
static const char *const proto[] = {
	[IPPROTO_TCP] = "tcp",
	[IPPROTO_UDP] = "udp",
};
static const char *const redispatch[] = {"on", "off"};

/* Every value named: a value added to an enum without a name fails here. */
#define ALL_NAMED(arr, max) _Static_assert(sizeof(arr) / sizeof((arr)[0]) == (max), #arr)
ALL_NAMED(mode, SL_MODE_MAX);
ALL_NAMED(admin, SL_ADMIN_MAX);
ALL_NAMED(hash, SL_HASH_MAX);
ALL_NAMED(empty, SL_EMPTY_MAX);
ALL_NAMED(down_flows, SL_DOWN_MAX);
ALL_NAMED(health, SL_HEALTH_MAX);

const struct name_table sl_mode_names = NAME_TABLE(mode);
const struct name_table sl_admin_names = NAME_TABLE(admin);
const struct name_table sl_hash_names = NAME_TABLE(hash);
const struct name_table sl_empty_names = NAME_TABLE(empty);
const struct name_table sl_down_flows_names = NAME_TABLE(down_flows);
const struct name_table sl_health_names = NAME_TABLE(health);
const struct name_table sl_proto_names = NAME_TABLE(proto);
const struct name_table sl_redispatch_names = NAME_TABLE(redispatch);

const char *sl_mode_name(enum sl_mode m)
{
	return name_of(&sl_mode_names, m);
}

int sl_mode_parse(const char *s)
{
	return name_parse(&sl_mode_names, s);
}

const char *sl_admin_name(enum sl_admin a)
{
	return name_of(&sl_admin_names, a);
}

int sl_admin_parse(const char *s)
{
	return name_parse(&sl_admin_names, s);
}

const char *sl_hash_name(enum sl_hash h)
{
	return name_of(&sl_hash_names, h);
}

int sl_hash_parse(const char *s)
{
	return name_parse(&sl_hash_names, s);
}

const char *sl_empty_name(enum sl_empty e)
{
	return name_of(&sl_empty_names, e);
}

int sl_empty_parse(const char *s)
{
	return name_parse(&sl_empty_names, s);
}

const char *sl_down_flows_name(enum sl_down_flows d)
{
	return name_of(&sl_down_flows_names, d);
}

int sl_down_flows_parse(const char *s)
{
	return name_parse(&sl_down_flows_names, s);
}

const char *sl_health_name(enum sl_health h)
{
	return name_of(&sl_health_names, h);
}

int sl_health_parse(const char *s)
{
	return name_parse(&sl_health_names, s);
}

int sl_proto_parse(const char *s)
{
	return name_parse(&sl_proto_names, s);
}

const char *sl_proto_name(uint8_t p)
{
	return name_of(&sl_proto_names, p == IPPROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP);
}
