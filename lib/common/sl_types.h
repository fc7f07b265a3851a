/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a VIP and a backend are, apart from any file format: the enums of
 * their settings, the one table of names of each (sl_types.c, used by the
 * config loader, the data plane's API, sluicectl and every printer), and
 * the limits every table is sized by.
 *
 * Dependency-free: the hot path's header (lb.h) includes this, not the
 * YAML config header.
 */
#ifndef SLUICE_SL_TYPES_H
#define SLUICE_SL_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "name_table.h"

/*
 * What the data plane can hold. Every loader of a file (start-up,
 * sluice-dataplane --check, sluicectl config check, the control daemon's
 * reload) goes through conf_load_*(), which refuses a file over one of these
 * with a message naming the limit; lib/lb/lb.h sizes its tables with them.
 */
#define CONF_MAX_PORTS        8
#define CONF_MAX_VIPS         256
#define CONF_MAX_BACKENDS     4096 /* over all VIPs */
#define CONF_MAX_LADDRS_TOTAL 64   /* distinct local addresses over all VIPs */
#define CONF_MAX_LOCAL_ADDRS  8    /* per VIP */

/* A VIP's forwarding mode: "dsr" "tunnel" "fnat" "nat". */
enum sl_mode { SL_MODE_DSR = 0, SL_MODE_TUNNEL, SL_MODE_FNAT, SL_MODE_NAT, SL_MODE_MAX };
/* A backend's administrative state: "ready" "drain" "maint". */
enum sl_admin { SL_ADMIN_READY = 0, SL_ADMIN_DRAIN, SL_ADMIN_MAINT, SL_ADMIN_MAX };
/* What Maglev hashes: "5-tuple" "source-ip". */
enum sl_hash { SL_HASH_5TUPLE = 0, SL_HASH_SRC_IP, SL_HASH_MAX };
/*
 * No backend can take a new flow: drop it (the client retries), or refuse
 * it at once. "drop" "reset".
 */
enum sl_empty { SL_EMPTY_DROP = 0, SL_EMPTY_RESET, SL_EMPTY_MAX };
/*
 * What happens to the established flows of a backend that goes down (health
 * down, maint): given to another backend (the default: a DSR/tunnel server
 * that shares state, or UDP, carries on), kept on it (the backend may still
 * answer: the checks may be wrong), or reset (TCP RST to the client at once,
 * instead of a hang until its own timeout). "reschedule" "keep" "reset".
 */
enum sl_down_flows { SL_DOWN_RESCHEDULE = 0, SL_DOWN_KEEP, SL_DOWN_RESET, SL_DOWN_MAX };
/* A backend's health as the data plane applies it: "up" "down". */
enum sl_health { SL_HEALTH_UP = 0, SL_HEALTH_DOWN, SL_HEALTH_MAX };

/* A yes/no health as the enum, for its name: sl_health_name(sl_health_of(up)). */
static inline enum sl_health sl_health_of(bool up)
{
	return up ? SL_HEALTH_UP : SL_HEALTH_DOWN;
}

/* The one name table of each enum above (and of a VIP's protocol and redispatch). */
extern const struct name_table sl_mode_names;
extern const struct name_table sl_admin_names;
extern const struct name_table sl_hash_names;
extern const struct name_table sl_empty_names;
extern const struct name_table sl_down_flows_names;
extern const struct name_table sl_health_names;
extern const struct name_table sl_proto_names;      /* indexed by IPPROTO_TCP, IPPROTO_UDP */
extern const struct name_table sl_redispatch_names; /* "on" (0) "off" (1) */

/*
 * By name: *_name() gives "?" for a value out of range, *_parse() the value
 * or -1 for an unknown name (or NULL).
 */
const char *sl_mode_name(enum sl_mode m);
int sl_mode_parse(const char *s);
const char *sl_admin_name(enum sl_admin a);
int sl_admin_parse(const char *s);
const char *sl_hash_name(enum sl_hash h);
int sl_hash_parse(const char *s);
const char *sl_empty_name(enum sl_empty e);
int sl_empty_parse(const char *s);
const char *sl_down_flows_name(enum sl_down_flows d);
int sl_down_flows_parse(const char *s);
const char *sl_health_name(enum sl_health h);
int sl_health_parse(const char *s);

/* A VIP's protocol: "tcp" is IPPROTO_TCP, "udp" IPPROTO_UDP; -1 for any other name. */
int sl_proto_parse(const char *s);
const char *sl_proto_name(uint8_t proto); /* "tcp" for any but IPPROTO_UDP */

#endif
