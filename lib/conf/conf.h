/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sluice configuration file (YAML): ports, data-plane settings, VIPs and their
 * backend pools. Parsed with libyaml's document API so every value keeps its
 * line and column; a bad file is rejected whole with a message of the form
 *
 *   configs/demo.yaml:14:17: vips[0].backends[2].weight: expected an integer 0..65535, got "x"
 *
 * Nothing here touches DPDK: the data plane (and later the control daemon)
 * turn a struct conf into running state.
 */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_addr.h"
#include "sl_types.h" /* the enums, their names, the table limits */

/* A VIP's "redispatch": "on" (the default) is 0, "off" is 1 (conf_vip.redispatch_off). */
int conf_redispatch_off_parse(const char *s);

#define CONF_NAME_MAX    64
#define CONF_DEVARGS_MAX 256
#define CONF_PATH_MAX    108 /* sun_path */

/* CONF_MAX_PORTS, _VIPS, _BACKENDS, _LADDRS_TOTAL, _LOCAL_ADDRS: sl_types.h. */
/*
 * Largest maglev_table_size: a table takes 2 bytes per entry per VIP (twice
 * while a rebuilt one replaces it) and its build holds the management thread
 * for a time that grows with it (docs/config.md).
 */
#define CONF_MAX_MAGLEV_SIZE 1048573u /* largest prime below 2^20 */

/*
 * Bounds on the file itself, checked before libyaml builds anything: a
 * deeply nested flow sequence costs libyaml time that grows with the square
 * of the depth. The schema itself nests 6 levels deep.
 */
#define CONF_MAX_FILE_SIZE (4u << 20)
#define CONF_MAX_DEPTH     32

struct conf_port {
	char name[CONF_NAME_MAX];       /* required, unique */
	char devargs[CONF_DEVARGS_MAX]; /* required: "net_af_packet0,iface=veth0" or a PCI address
					 */
	bool has_ipv4;
	struct sl_addr ipv4; /* the port's own address, source of ARP requests */
	uint8_t ipv4_plen;
	bool has_ipv6;
	struct sl_addr ipv6;
	uint8_t ipv6_plen;
	/*
	 * Exception path: a kernel interface (net_tap) created with this name;
	 * what is not Sluice's goes to the kernel through it, and what the
	 * kernel sends through it leaves by this port. Empty: none (dropped).
	 */
	char kernel_if[16];
	int line;
};

enum conf_hc_kind { CONF_HC_NONE = 0, CONF_HC_TCP, CONF_HC_HTTP, CONF_HC_UDP, CONF_HC_EXEC };

/* A VIP's active health check, run by the control daemon on every backend. */
struct conf_health {
	uint8_t kind;           /* none: backends are taken as up; tcp, http, udp, exec */
	bool has_addr;          /* checks go to <addr>, not the backend's address */
	struct sl_addr addr;    /* e.g. a health endpoint on another interface */
	uint16_t port;          /* 0 = the backend's port */
	char path[128];         /* http: GET path, default "/" */
	uint16_t expect_status; /* http: default 200 */
	char send[128];         /* udp: payload sent */
	char expect[128];       /* udp: the reply must contain it ("" = any reply) */
	char command[256];      /* exec: run by /bin/sh with SLUICE_BACKEND_ADDRESS/PORT */
	uint32_t interval_ms, timeout_ms, fastinter_ms, downinter_ms; /* 0: interval */
	uint32_t rise, fall;
	uint32_t jitter_pct; /* first check within this % of the interval */
};

struct conf_backend {
	struct sl_addr addr; /* required */
	uint16_t port;       /* host order; 0 = the VIP's port */
	uint32_t weight;     /* 0..65535, default 1 */
	bool has_mac;        /* static MAC: no ARP/ND for this backend */
	uint8_t mac[6];
	uint8_t admin;    /* enum sl_admin, default ready */
	uint8_t priority; /* failover level: 0 primary (default), 1 backup, ... 7 */
	/* Its check: the VIP's, with the backend's own health_check keys on top. */
	struct conf_health hc;
	bool has_hc; /* it has keys of its own */
	int line;
};

/* How the control daemon turns health and passive signals into weights. */
struct conf_policy {
	uint32_t overprovisioning_pct; /* failover: level health x this, default 140 */
	uint32_t panic_threshold_pct;  /* below it, spread over all backends; 0 off; 50 */
	uint32_t slow_start_ms;        /* ramp after coming up or being added; 0 = off */
	bool breaker;                  /* circuit breaker on (fnat/nat: passive signals) */
	uint32_t consecutive_failures, failure_ratio_pct, min_flows, window_ms;
	uint32_t base_ejection_ms, max_ejection_ms, max_ejection_percent, half_open_permits;
};

#define CONF_SYN_TIMEOUT_MS 200 /* a VIP's syn_timeout, unless set */

struct conf_vip {
	char name[CONF_NAME_MAX]; /* default "<address>:<port>/<proto>" */
	struct sl_addr addr;      /* required */
	uint16_t port;            /* host order, required, 1..65535 */
	uint8_t proto;            /* IPPROTO_TCP (default) or IPPROTO_UDP */
	uint8_t mode;             /* enum sl_mode, default dsr */
	uint8_t sched;            /* enum sched_kind, default wrr */
	uint8_t hash;             /* enum sl_hash, default 5-tuple (maglev input) */
	uint8_t when_empty;       /* enum sl_empty, default drop */
	uint8_t down_flows;       /* enum sl_down_flows, default reschedule */
	/*
	 * fnat/nat: a flow whose client sent data and whose backend sent nothing
	 * back within this time is a failure signal for the backend's breaker
	 * (a hung server whose kernel still completes handshakes). 0 = off.
	 */
	uint32_t response_timeout_ms;
	/*
	 * fnat/nat: a SYN the backend refuses goes to another backend at once,
	 * and one it leaves unanswered for syn_timeout_ms; with redispatch_off
	 * the refusal reaches the client. Zero is the default for both, so a
	 * zeroed VIP redispatches.
	 */
	uint8_t redispatch_off;  /* "redispatch: off" */
	uint32_t syn_timeout_ms; /* 0: CONF_SYN_TIMEOUT_MS */
	/* A drain's deadline: the flows still on a draining backend then are reset. 0 = none. */
	uint32_t drain_deadline_ms;
	uint32_t maglev_size; /* prime, default 65537 */
	/* fnat: source addresses towards the backends (required for fnat, VIP family). */
	struct sl_addr local_addrs[CONF_MAX_LOCAL_ADDRS];
	struct conf_health hc;
	struct conf_policy policy;
	uint32_t n_local_addrs;
	struct conf_backend *backends;
	uint32_t n_backends;
	int line;
};

#define CONF_GROUP_MAX 33 /* a group name: 32 characters, as useradd allows */

struct conf_dataplane {
	char api_socket[CONF_PATH_MAX]; /* default "/run/sluice/dataplane.sock" */
	char api_group[CONF_GROUP_MAX]; /* besides root, members may use the API; "" = none */
	uint32_t api_idle_timeout_ms;   /* an API connection silent this long is closed; 60000 */
	uint32_t flow_capacity;         /* flows per lcore, default 1048576 */
	uint32_t timeout_ms[6];      /* enum flow_state order; defaults flow_timeouts_default() */
	uint32_t neigh_reachable_ms; /* how long a resolved MAC is trusted, default 30000 */
	uint32_t neigh_retry_ms;     /* ARP/ND retry interval while unresolved, default 1000 */
};

/* The control daemon's own settings. */
struct conf_control {
	char socket[CONF_PATH_MAX];        /* default "/run/sluice/control.sock" */
	char socket_group[CONF_GROUP_MAX]; /* besides root, members may use it; "" = none */
	char state_file[CONF_PATH_MAX]; /* the operator's forced health; "" = socket + ".state" */
};

/*
 * cluster: this node announces its VIPs through BIRD (docs/cluster.md). The
 * control daemon writes the routes into <bird_include> and has BIRD reload.
 */
struct conf_cluster {
	bool enabled;                     /* the section is there */
	char bird_include[CONF_PATH_MAX]; /* required: the file the daemon owns */
	char bird_socket[CONF_PATH_MAX];  /* default "/run/bird/bird.ctl" */
	char protocol[CONF_NAME_MAX];     /* static protocols <protocol>4/6; "sluice_vips" */
	/* The routes' next hop: the data plane's address (default: the first port's). */
	bool has_next_hop4, has_next_hop6;
	struct sl_addr next_hop4, next_hop6;
	uint32_t dataplane_timeout_ms; /* no answer this long: withdraw; default 1000 */
};

struct conf {
	char path[256]; /* file name used in messages */
	struct conf_dataplane dp;
	struct conf_control control;
	struct conf_cluster cluster;
	struct conf_port *ports;
	uint32_t n_ports;
	struct conf_vip *vips;
	uint32_t n_vips;
};

/*
 * Parses and validates. Returns 0, or -EINVAL with <err> holding one message
 * naming file, line, column and field (the first problem found); -EFBIG for
 * a text over CONF_MAX_FILE_SIZE, -ENOMEM, or an open/read -errno. On error
 * <c> is left empty (nothing to free, but conf_free is harmless).
 */
/*
 * What conf_vip_check() found wrong: <key> is the VIP's key at fault
 * ("name", "address", "local_addresses", "maglev_table_size", "mode",
 * "response_timeout"), <index> the item of a list key (-1: the key itself).
 */
struct conf_problem {
	const char *key;
	int index;
	char msg[192];
};

/*
 * The checks a VIP passes whichever way it comes (the file, or vip.add and
 * vip.set on the API): its name (printable, no spaces; empty means the
 * default), an address that can be a destination (not 0.0.0.0, broadcast,
 * multicast or loopback), local addresses (the VIP's family, none twice,
 * none equal to the VIP), maglev_table_size (a prime 2..CONF_MAX_MAGLEV_SIZE,
 * above the backend count), and what the mode needs. Returns 0, or -EINVAL
 * with <p> saying what and where.
 */
int conf_vip_check(const struct conf_vip *v, struct conf_problem *p);

int conf_load_file(const char *path, struct conf *c, char *err, size_t errlen);
int conf_load_string(const char *text, size_t len, const char *name, struct conf *c, char *err,
		     size_t errlen);
void conf_free(struct conf *c);

#endif
