/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a VIP and a backend are, apart from any file format: the enums of
 * their settings, the one table of names of each (lb_types.c, used by the
 * config loader, the data plane's API, sluicectl and every printer), and
 * the limits every table is sized by.
 *
 * Dependency-free: the hot path's header (lb.h) includes this, not the
 * YAML config header.
 */
#ifndef SLUICE_LB_TYPES_H
#define SLUICE_LB_TYPES_H

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
enum lb_mode { LB_MODE_DSR = 0, LB_MODE_TUNNEL, LB_MODE_FNAT, LB_MODE_NAT, LB_MODE_MAX };
/* A backend's administrative state: "ready" "drain" "maint". */
enum lb_admin { LB_ADMIN_READY = 0, LB_ADMIN_DRAIN, LB_ADMIN_MAINT, LB_ADMIN_MAX };
/* What Maglev hashes: "5-tuple" "source-ip". */
enum lb_hash { LB_HASH_5TUPLE = 0, LB_HASH_SRC_IP, LB_HASH_MAX };
/*
 * No backend can take a new flow: drop it (the client retries), or refuse
 * it at once. "drop" "reset".
 */
enum lb_empty { LB_EMPTY_DROP = 0, LB_EMPTY_RESET, LB_EMPTY_MAX };
/*
 * What happens to the established flows of a backend that goes down (health
 * down, maint): given to another backend (the default: a DSR/tunnel server
 * that shares state, or UDP, carries on), kept on it (the backend may still
 * answer: the checks may be wrong), or reset (TCP RST to the client at once,
 * instead of a hang until its own timeout). "reschedule" "keep" "reset".
 */
enum lb_down_flows { LB_DOWN_RESCHEDULE = 0, LB_DOWN_KEEP, LB_DOWN_RESET, LB_DOWN_MAX };
/* A backend's health as the data plane applies it: "up" "down". */
enum lb_health { LB_HEALTH_UP = 0, LB_HEALTH_DOWN, LB_HEALTH_MAX };

/* A yes/no health as the enum, for its name: lb_health_name(lb_health_of(up)). */
static inline enum lb_health lb_health_of(bool up)
{
	return up ? LB_HEALTH_UP : LB_HEALTH_DOWN;
}

/* The one name table of each enum above (and of a VIP's protocol and redispatch). */
extern const struct name_table lb_mode_names;
extern const struct name_table lb_admin_names;
extern const struct name_table lb_hash_names;
extern const struct name_table lb_empty_names;
extern const struct name_table lb_down_flows_names;
extern const struct name_table lb_health_names;
extern const struct name_table lb_proto_names;      /* indexed by IPPROTO_TCP, IPPROTO_UDP */
extern const struct name_table lb_redispatch_names; /* "on" (0) "off" (1) */

/*
 * By name: *_name() gives "?" for a value out of range, *_parse() the value
 * or -1 for an unknown name (or NULL).
 */
const char *lb_mode_name(enum lb_mode m);
int lb_mode_parse(const char *s);
const char *lb_admin_name(enum lb_admin a);
int lb_admin_parse(const char *s);
const char *lb_hash_name(enum lb_hash h);
int lb_hash_parse(const char *s);
const char *lb_empty_name(enum lb_empty e);
int lb_empty_parse(const char *s);
const char *lb_down_flows_name(enum lb_down_flows d);
int lb_down_flows_parse(const char *s);
const char *lb_health_name(enum lb_health h);
int lb_health_parse(const char *s);

/* A VIP's protocol: "tcp" is IPPROTO_TCP, "udp" IPPROTO_UDP; -1 for any other name. */
int lb_proto_parse(const char *s);
const char *lb_proto_name(uint8_t proto); /* "tcp" for any but IPPROTO_UDP */

#endif
