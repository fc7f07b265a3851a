/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The harness of the pipeline's unit tests (tests/unit/test_lb*.c): the
 * environment (a model with its ports, neighbour and load tables, workers,
 * a fake millisecond clock), frame builders, checksum checks computed from
 * scratch, the counter invariant, and fixture tables.
 *
 * A new single-packet case is one row of a table of struct lb_case
 * (tests/unit/test_lb_cases.c): what it is, the VIPs' mode, the frame that
 * arrives, the verdict or drop reason it must get, and the frame that must
 * leave. lb_cases_run() runs each row in a fresh environment.
 *
 * The environment, as env_setup_one_port() / env_setup_two_ports() build it:
 *   port 0 "backends": PORT4/24, PORT6/64, PORT_MAC    (backends, local addrs)
 *   port 1 "clients":  PORT1_4/24, PORT1_6/64, PORT1_MAC (two ports only)
 * a zeroed neighbour and load table, and one worker (lcore 0 of 1, 1024
 * flows) in e->w[0]. The clock, e->now, starts at 1000 ms. Backends given
 * static MACs get 02:00:00:00:01:<id> (be_mac), so a forwarded frame's last
 * destination MAC byte names the backend it went to.
 */
#ifndef SLUICE_TESTS_LB_HARNESS_H
#define SLUICE_TESTS_LB_HARNESS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lb.h"
#include "lb_model.h"
#include "lb_worker.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

#define ETH_LEN  14
#define ET_IPV4  0x0800
#define ET_ARP   0x0806
#define ET_IPV6  0x86dd
#define ET_VLAN  0x8100
#define MAGLEV_M 251

#define PORT4   "10.0.0.1"
#define PORT6   "2001:db8::1"
#define PORT1_4 "192.0.2.1"
#define PORT1_6 "2001:db8:ffff::1"
#define VIP4    "10.0.0.100"
#define VIP6    "2001:db8::100"
#define CLIENT4 "192.0.2.7"
#define CLIENT6 "2001:db8:ffff::7"

#define P_BACKENDS 0 /* port numbers */
#define P_CLIENTS  1

/* Neighbour timers the management loop would use (lb_neigh_due). */
#define REACHABLE_MS 30000
#define RETRY_MS     1000

#define MAX_WORKERS 16

extern const uint8_t PORT_MAC[6];   /* port 0 */
extern const uint8_t PORT1_MAC[6];  /* port 1 */
extern const uint8_t CLIENT_MAC[6]; /* every client frame's source */
/* Static MACs of backends 0..3 (02:00:00:00:01:<id>), for frames they send. */
extern const uint8_t BE_MACS[4][6];

struct env {
	struct lb_model *m;
	struct lb_snapshot *s; /* current snapshot, freed on the next recompile */
	struct lb_neigh_table *nt;
	struct lb_load *load;
	struct lb_worker *w[MAX_WORKERS];
	uint32_t now;
};

/* ---- small helpers ---- */

/* <text> parsed (the test fails if it does not parse). */
struct sl_addr addr(const char *text);
void wr16(uint8_t *p, uint16_t v);
uint16_t rd16(const uint8_t *p);
/* 02:00:00:00:01:<id>, a backend's static MAC. */
void be_mac(uint8_t mac[6], uint8_t id);

/* ---- checksums, computed from scratch ---- */

/* One's complement sum of <n> bytes added to <s>, and its folded complement. */
uint32_t sum16(uint32_t s, const uint8_t *p, size_t n);
uint16_t fold(uint32_t s);
/* Internet checksum of <n> bytes: 0 when the bytes carry a valid checksum. */
uint16_t csum(const uint8_t *p, size_t n);
/* ICMPv6 (or any upper layer) checksum of the IPv6 packet at <ip6>, no ext headers. */
uint16_t csum6(const uint8_t *ip6);
bool ip_is_v6(const uint8_t *ip);
/* The L4 header of the IP packet at <ip> (IPv6: no extension headers). */
uint8_t *l4_of(uint8_t *ip);
/* Where the TCP/UDP checksum of the packet at <ip> is. */
uint8_t *l4_csum_field(uint8_t *ip);
/*
 * The TCP/UDP checksum the packet at <ip> should carry, computed from scratch
 * (pseudo-header + segment, the checksum field taken as zero). A UDP checksum
 * that computes to 0 is sent as 0xffff (RFC 768).
 */
uint16_t l4_csum(uint8_t *ip);
void assert_ip4_csum_ok(const uint8_t *ip);
/* IPv4 header checksum (if IPv4) and TCP/UDP checksum as a fresh computation gives them. */
void assert_csums_ok(uint8_t *ip);

/* ---- frame builders ---- */

/* A client's (or backend's) TCP/UDP packet, with valid checksums. */
struct spec {
	const char *src;
	const char *dst;
	uint16_t sport;
	uint16_t dport;
	uint8_t proto;       /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t flags;       /* TCP */
	const uint8_t *smac; /* NULL: CLIENT_MAC */
	const uint8_t *dmac; /* NULL: PORT1_MAC */
	uint16_t payload;    /* bytes after the L4 header */
	uint16_t vlan;       /* 802.1Q TCI; 0: untagged */
	uint8_t ttl;         /* 0: 64 */
	uint8_t tos;         /* IPv4 TOS / IPv6 traffic class */
	bool df;             /* IPv4 don't fragment */
	bool no_udp_csum;    /* IPv4 UDP sent without a checksum (0) */
	uint16_t pad;        /* Ethernet padding after the IP packet */
	const uint8_t *data; /* payload bytes; NULL: a pattern */
	/*
	 * Damage, for cases that must be dropped; applied after the checksums
	 * are computed, then the IPv4 header checksum is computed again (but
	 * for ip_csum_xor). 0: none.
	 */
	uint16_t frag;        /* IPv4 flags + fragment offset field (replaces df) */
	uint8_t ver_ihl;      /* IPv4 version/IHL byte */
	uint16_t ip_len;      /* IPv4 total length; the frame is cut to match */
	uint16_t ip_csum_xor; /* XORed into the IPv4 header checksum at the end */
	uint16_t cut;         /* the frame cut to this many bytes */
};

/* Writes the frame <sp> describes into <buf>; returns its length. */
uint16_t build(uint8_t *buf, const struct spec *sp);
/* Offset of the IP header in <frame> (after a VLAN tag if there is one). */
uint16_t l3_off_of(const uint8_t *frame);
uint8_t *ip_of(uint8_t *frame);

/* ---- what came out ---- */

/* rx = fwd + replied + to_mgmt + handoff + to_kernel + sum(drop[]) (lb.h) */
void assert_invariant(const struct lb_counters *c);
void assert_tx(const struct lb_pkt *pk, uint16_t out_port);
void assert_drop(const struct lb_pkt *pk, enum lb_drop why);

/* ---- the environment ---- */

/* Adds port <name> with <a4>/<plen4> and <a6>/<plen6> at <mac>; 0 or the model's error. */
int add_port(struct env *e, const char *name, const char *a4, uint8_t plen4, const char *a6,
	     uint8_t plen6, const uint8_t mac[6]);
/* Replaces worker slot <i> by lcore <index> of <n_workers> with <capacity> flows. */
struct lb_worker *set_worker(struct env *e, uint32_t i, uint32_t index, uint32_t n_workers,
			     uint32_t capacity);
/* Lcores 0 .. n-1 of n, in slots 0 .. n-1. */
void set_workers(struct env *e, uint32_t n, uint32_t capacity);
/*
 * Compiles, swaps the current snapshot (single-threaded: no grace period)
 * and publishes the neighbour words (static MACs) the way the management
 * loop does.
 */
void recompile(struct env *e);

/* cmocka group fixtures: *state is the struct env. */
int env_setup_one_port(void **state);
int env_setup_two_ports(void **state);
int env_teardown(void **state);

/* ---- fixture tables ---- */

/*
 * One packet, the verdict it must get and the frame that must leave. Each
 * row runs in a fresh two-port environment with these VIPs, all in <mode>,
 * round robin, one backend each (static MAC 1; listening on 8080 in fnat
 * and nat, else on the VIP's port):
 *   VIP4:80/tcp and VIP4:53/udp -> LB_CASE_BE4,  VIP6:443/tcp -> LB_CASE_BE6
 * with LB_CASE_LADDR4 / LB_CASE_LADDR6 as fnat's local addresses.
 */
#define LB_CASE_BE4    "10.0.0.11"
#define LB_CASE_BE6    "2001:db8::11"
#define LB_CASE_LADDR4 "10.0.0.50"
#define LB_CASE_LADDR6 "2001:db8::50"
#define LB_CASE_BE_ID  1

struct lb_case {
	const char *what; /* printed when the row fails */
	enum sl_mode mode;
	struct spec in;   /* arrives on the clients' port unless in_backends */
	bool in_backends; /* arrives on the backends' port */
	uint8_t rx_csum;  /* enum lb_rx_csum: what the port found */
	uint8_t verdict;  /* enum lb_verdict */
	uint8_t drop;     /* enum lb_drop (parse results included) when dropped */
	uint16_t out_port;
	uint8_t flows; /* flow entries the worker holds afterwards (fnat/nat: two a connection) */
	/*
	 * The frame that must leave, compared byte for byte (and so its
	 * checksums); .src NULL: not compared.
	 */
	struct spec out;
};

/* Runs every row; fails naming the first row that does not hold. */
void lb_cases_run(const struct lb_case *cases, size_t n);

#endif
