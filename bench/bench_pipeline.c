/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Microbenchmark of the per-packet pipeline (lib/lb) on pre-built packets,
 * with no PMD: what one worker lcore spends per packet, without the NIC.
 *
 *   bench_pipeline SCENARIO PACKETS [FLOWS]
 *
 * The worker's flow table has the data plane's default capacity,
 * FLOW_CAPACITY flows per lcore, in every scenario: its size decides how
 * much of it the caches hold, and a table sized for the run would make
 * every figure look better than a real lcore's.
 *
 * Established flows (FLOWS of them, default 4096; a full-NAT connection
 * takes two table entries, so at most FNAT_FLOWS_MAX there) are opened and
 * promoted to ESTABLISHED first, not timed; then every timed packet belongs
 * to one of them drawn at random (xorshift32, fixed seed: repeatable). Not
 * in the order their entries were handed out, which walks the entries in
 * memory order; and not from a precomputed permutation either, whose reads
 * (4 MB for 1M flows) would add cache misses of the benchmark's own: the
 * draw costs a few instructions and touches no memory.
 * Scenarios:
 *   est-dsr       established flows, DSR, wrr VIP
 *   est-fnat      full-NAT, client -> backend on established connections
 *   fnat-reply    full-NAT, backend -> client on the same connections
 *   est-tunnel    established flows, tunnel (IP-in-IP to the backend)
 *   est-nat       NAT (destination only), client -> backend
 *   nat-reply     NAT, backend -> client on the same connections
 *   est-dsr6, est-fnat6  est-dsr and est-fnat over IPv6 (74-byte frames)
 *   new-dsr       every packet a new flow (a SYN), into an empty table; past
 *                 FLOW_CAPACITY packets the table is full and SYNs evict
 *   new-dsr-full  every packet a SYN into a table already full of half-open
 *                 flows (what a SYN flood leaves): each evicts the least
 *                 recently seen evictable flow of its primary bucket
 *   new-dsr-full-est  every packet a SYN into a table full of ESTABLISHED
 *                 flows, which are never evicted: the insert fails and the
 *                 packet goes out on Maglev's backstop, without state
 *   sched-rr, sched-wrr, sched-lc, sched-wlc, sched-maglev
 *                 new flows on a VIP with that scheduler, 16 backends
 *   new-fnat      every packet a new connection: a source port is allocated
 *                 and two entries inserted; at most FNAT_NEW_MAX packets,
 *                 what 8 local addresses' ports allow
 *   fnat-no-port  every source port of the 8 local addresses taken first,
 *                 not timed; then every packet a new connection dropped for
 *                 want of a port: what a flood costs once the ports are gone
 * Prints one JSON line: scenario, packets, flows (open when the timed part
 * starts; connections for full-NAT), capacity (flow-table entries),
 * ns_per_packet.
 *
 * Under valgrind --tool=callgrind the instruction count is repeatable;
 * bench/callgrind.sh runs two packet counts and divides the difference, so
 * set-up cost cancels out; it does the same with cachegrind's last-level
 * cache misses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb_model.h"
#include "lb_worker.h"
#include "scheduler.h"

/*
 * Under callgrind --instr-atstart=no (bench/callgrind.sh), instrumentation
 * starts with the timed part: the set-up (opening a million flows) then
 * runs several times faster, and is not counted. A no-op without valgrind,
 * or where its header is missing (callgrind.sh then counts from the start).
 */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_START_INSTRUMENTATION
#endif

#define NBACKENDS  16
#define NFLOWS     4096 /* established flows by default */
#define FRAME_LEN  64
#define FRAME6_LEN 74 /* Ethernet, IPv6, TCP: no padding needed */
#define FRAME_MAX  FRAME6_LEN
#define NLADDRS    8
/*
 * Flows per lcore: the data plane's default flow_capacity
 * (DEFAULT_FLOW_CAPACITY, lib/conf/conf.c). Every scenario fits in it:
 * fnat-no-port, the largest, holds 2 * FNAT_PORTS = 1,032,192 entries.
 */
#define FLOW_CAPACITY 1048576u
/* Source ports of NLADDRS local addresses on one lcore (1024..65535 each), with margin. */
#define FNAT_NEW_MAX 500000
#define FNAT_PORTS   (NLADDRS * (65536 - 1024)) /* one lcore, every local address */
/* Established full-NAT connections: two entries each, and a source port each. */
#define FNAT_FLOWS_MAX (FLOW_CAPACITY / 2 < FNAT_PORTS ? FLOW_CAPACITY / 2 : FNAT_PORTS)
#define BURST          32 /* timed bursts */

enum scenario_kind { SC_EST, SC_NEW, SC_REPLY, SC_NO_PORT, SC_FULL, SC_FULL_EST };

/* Room in front of each frame for a tunnel's outer header, as an mbuf has. */
#define HEADROOM 64
static uint8_t frame_bufs[LB_BURST_MAX][HEADROOM + FRAME_MAX];
static bool g_v6;        /* the scenario runs over IPv6 */
static uint32_t g_frame; /* FRAME_LEN or FRAME6_LEN */
#define frames(j) (frame_bufs[j] + HEADROOM)

/* A 74-byte Ethernet/IPv6/TCP frame from 2001:db8:ffff::<flow> to the VIP 2001:db8:1::100. */
static __attribute__((noinline)) void build_syn6(uint8_t *f, uint32_t flow, uint8_t tcp_flags)
{
	static const uint8_t hdr[] =
		{
			0x02, 0,    0,    0,    0,    0x02, 0x02, 0,
			0,    0,    0,    0x01, 0x86, 0xdd,           /* Ethernet */
			0x60, 0,    0,    0,    0,    20,   6,    64, /* IPv6 */
			0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0,    0,
			0,    0,    0,    0,    0,    0,    0,    0, /* client */
			0x20, 0x01, 0x0d, 0xb8, 0,    1,    0,    0,
			0,    0,    0,    0,    0,    0,    0x01, 0x00, /* VIP */
		};
	memset(f, 0, FRAME6_LEN);
	memcpy(f, hdr, sizeof(hdr));
	f[36] = (uint8_t)(flow >> 8);
	f[37] = (uint8_t)flow;
	f[54] = (uint8_t)((1024 + (flow >> 16)) >> 8); /* source port 1024 + (flow >> 16) */
	f[55] = (uint8_t)(1024 + (flow >> 16));
	f[57] = 80;
	f[61] = 1;    /* sequence number */
	f[66] = 0x50; /* data offset: 20 bytes */
	f[67] = tcp_flags;
	f[68] = 0xff;
	f[69] = 0xff;
}

/* A 64-byte Ethernet/IPv4/TCP frame from 198.19.<flow> to the VIP. */
static inline __attribute__((always_inline)) void build_syn(uint8_t *f, uint32_t flow,
							    uint8_t tcp_flags)
{
	static const uint8_t hdr[] = {
		0x02, 0,  0, 0,   0, 0x02, 0x02, 0, 0,  0, 0, 0x01, 0x08, 0x00, /* Ethernet */
		0x45, 0,  0, 40,  0, 0,    0x40, 0, 64, 6, 0, 0,    198,  19,   0,    0, /* IPv4 ...
											  */
		198,  18, 1, 100,                                                        /* VIP */
		0,    0,  0, 80,  0, 0,    0,    1, 0,  0, 0, 0,    0x50, 0,    0xff, 0xff, 0,
		0, /* TCP */
		0,    0,
	};
	if (g_v6) {
		build_syn6(f, flow, tcp_flags);
		return;
	}
	memset(f, 0, FRAME_LEN);
	memcpy(f, hdr, sizeof(hdr));
	f[28] = (uint8_t)(flow >> 8);
	f[29] = (uint8_t)flow;
	f[34] = (uint8_t)((1024 + (flow >> 16)) >> 8); /* source port 1024 + (flow >> 16) */
	f[35] = (uint8_t)(1024 + (flow >> 16));
	f[47] = tcp_flags;
}

static struct lb_model *setup(enum sched_kind kind, enum sl_mode mode, struct lb_neigh_table *neigh,
			      struct lb_snapshot **snap)
{
	struct lb_model *m = lb_model_create();
	struct conf_port cp = {.name = "bench", .has_ipv4 = true, .ipv4_plen = 24};
	struct conf_backend b[NBACKENDS];
	struct conf_vip v = {.name = "bench",
			     .port = 80,
			     .proto = IPPROTO_TCP,
			     .mode = (uint8_t)mode,
			     .sched = (uint8_t)kind,
			     .hash = SL_HASH_5TUPLE,
			     .maglev_size = 65537,
			     .backends = b,
			     .n_backends = NBACKENDS};
	static const uint8_t mac[6] = {2, 0, 0, 0, 0, 2};
	char err[256];
	uint32_t slots[NBACKENDS];

	sl_addr_parse(&cp.ipv4, "198.18.0.2");
	cp.has_ipv6 = true;
	cp.ipv6_plen = 64;
	sl_addr_parse(&cp.ipv6, "2001:db8::2");
	sl_addr_parse(&v.addr, g_v6 ? "2001:db8:1::100" : "198.18.1.100");
	if (mode == SL_MODE_FNAT) {
		for (int i = 0; i < NLADDRS; i++) {
			char ip[32];
			snprintf(ip, sizeof(ip), g_v6 ? "2001:db8::%x" : "198.18.0.%d", 200 + i);
			sl_addr_parse(&v.local_addrs[i], ip);
		}
		v.n_local_addrs = NLADDRS;
	}
	memset(b, 0, sizeof(b));
	for (int i = 0; i < NBACKENDS; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), g_v6 ? "2001:db8::%x" : "198.18.0.%d", 10 + i);
		sl_addr_parse(&b[i].addr, ip);
		b[i].weight = 1 + (uint32_t)(i % 3);
		b[i].has_mac = true;
		b[i].mac[0] = 2;
		b[i].mac[5] = (uint8_t)(10 + i);
	}
	if (m == NULL || lb_model_port_add(m, &cp, mac, err, sizeof(err)) < 0 ||
	    lb_model_vip_add(m, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: set-up failed: %s\n", err);
		exit(1);
	}
	*snap = lb_model_compile(m);
	lb_neigh_due(m, neigh, 0, 30000, 1000, slots, NBACKENDS); /* publish static MACs */
	return m;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * Turns the frame a full-NAT VIP sent to a backend (laddr:lport -> backend)
 * into that backend's answer (backend -> laddr:lport), addressed to our MAC.
 * Checksums are left as they are: the pipeline updates them incrementally
 * and does not verify them, and the cost is the same.
 */
/* Where a frame's fields are: IPv4 or IPv6, no options. */
#define SRC_OFF   (g_v6 ? 22 : 26)
#define DST_OFF   (g_v6 ? 38 : 30)
#define ADDR_LEN  (g_v6 ? 16 : 4)
#define PORTS_OFF (g_v6 ? 54 : 34)
#define FLAGS_OFF (g_v6 ? 67 : 47)

static void make_reply(uint8_t *f)
{
	uint8_t tmp[16];

	memcpy(tmp, f, 6); /* dst MAC (the backend's) <-> src MAC (ours) */
	memcpy(f, f + 6, 6);
	memcpy(f + 6, tmp, 6);
	memcpy(tmp, f + SRC_OFF, ADDR_LEN); /* addresses */
	memcpy(f + SRC_OFF, f + DST_OFF, ADDR_LEN);
	memcpy(f + DST_OFF, tmp, ADDR_LEN);
	memcpy(tmp, f + PORTS_OFF, 2); /* ports */
	memcpy(f + PORTS_OFF, f + PORTS_OFF + 2, 2);
	memcpy(f + PORTS_OFF + 2, tmp, 2);
	f[FLAGS_OFF] = 0x10; /* ACK */
}

/*
 * fnat-reply: the backends' answers of two connections differ in the
 * backend (its addresses and MAC), the local address and the source port.
 * A 4-byte record per connection (2 MB for 500k) rather than a 64-byte
 * frame (32 MB, a cache miss of the benchmark's own on every packet): the
 * answer is built from a template per backend with the local address and
 * port written in.
 */
struct reply_rec {
	uint8_t backend; /* 198.18.0.<10 + backend> */
	uint8_t laddr;   /* 198.18.0.<200 + laddr> */
	uint16_t lport_be;
};
static uint8_t reply_tmpl[NBACKENDS][FRAME_MAX];
static bool reply_tmpl_set[NBACKENDS];
static uint8_t laddr_ip[NLADDRS][16];

/*
 * Records the connection of <fwd>, a frame the pipeline sent to a backend
 * (NAT: the source is the client's, which build_reply() writes per flow).
 */
static int record_reply(struct reply_rec *r, const uint8_t *fwd)
{
	/* The last byte of each address numbers it (198.18.0.<n>, 2001:db8::<n>). */
	uint32_t b = fwd[DST_OFF + ADDR_LEN - 1] - 10u;
	uint32_t l =
		g_v6 || fwd[26] != 198 || fwd[27] != 19 ? fwd[SRC_OFF + ADDR_LEN - 1] - 200u : 0;

	if (b >= NBACKENDS || l >= NLADDRS)
		return -1;
	if (!reply_tmpl_set[b]) {
		memcpy(reply_tmpl[b], fwd, g_frame);
		make_reply(reply_tmpl[b]);
		reply_tmpl_set[b] = true;
	}
	memcpy(laddr_ip[l], fwd + SRC_OFF, ADDR_LEN);
	r->backend = (uint8_t)b;
	r->laddr = (uint8_t)l;
	memcpy(&r->lport_be, fwd + PORTS_OFF, 2);
	return 0;
}

/*
 * The backend's answer on connection <r> of flow <flow>: backend:80 ->
 * laddr:lport (full-NAT), or -> the client's address and port (NAT, whose
 * forward frames keep the client's source).
 */
static void build_reply(uint8_t *f, const struct reply_rec *r, uint32_t flow, enum sl_mode mode)
{
	/* Constant sizes: a few stores, not a call (this is the benchmark's own cost). */
	if (g_v6)
		memcpy(f, reply_tmpl[r->backend], FRAME6_LEN);
	else
		memcpy(f, reply_tmpl[r->backend], FRAME_LEN);
	if (mode == SL_MODE_FNAT) {
		memcpy(f + DST_OFF, laddr_ip[r->laddr], ADDR_LEN);
		memcpy(f + PORTS_OFF + 2, &r->lport_be, 2);
	} else {
		f[32] = (uint8_t)(flow >> 8);
		f[33] = (uint8_t)flow;
		f[36] = (uint8_t)((1024 + (flow >> 16)) >> 8);
		f[37] = (uint8_t)(1024 + (flow >> 16));
	}
}

/* One benchmark run: what the command line asked for, and its worker. */
struct bench {
	const char *scenario;
	enum scenario_kind sk;
	enum sl_mode mode;
	enum sched_kind kind;
	bool est; /* timed packets belong to established flows */
	unsigned long total, nflows;
	struct lb_model *model;
	struct lb_snapshot *snap;
	struct lb_worker *w;
	struct reply_rec *rec; /* fnat and nat: how to build each connection's answer */
	uint32_t opened;       /* flows (connections) open when the timed part starts */
};

/* An lb_pkt for frame <j>, as from a port with RX checksum offload (the frames' sums are 0). */
static struct lb_pkt pkt_of(uint32_t j)
{
	return (struct lb_pkt){.data = frames(j),
			       .len = (uint16_t)g_frame,
			       .cap = (uint16_t)g_frame,
			       .headroom = HEADROOM,
			       .rx_csum = LB_RX_CSUM_IP_GOOD};
}

/*
 * Set-up, not timed: one packet (TCP flags <flags>) for each of flows
 * [first, first + count), or (<replies>) the backend's answer on each
 * connection, in bursts at time <now>. With b->rec and not <replies>,
 * records each connection (every packet must go out).
 */
static void send_flows(struct bench *b, uint32_t first, uint32_t count, uint8_t flags, uint32_t now,
		       bool replies)
{
	struct lb_pkt pkts[LB_BURST_MAX];

	for (uint32_t i = 0; i < count; i += LB_BURST_MAX) {
		uint32_t n = count - i < LB_BURST_MAX ? count - i : LB_BURST_MAX;

		for (uint32_t j = 0; j < n; j++) {
			if (replies)
				build_reply(frames(j), &b->rec[first + i + j], first + i + j,
					    b->mode);
			else
				build_syn(frames(j), first + i + j, flags);
			pkts[j] = pkt_of(j);
		}
		lb_worker_process(b->w, b->snap, pkts, n, now);
		for (uint32_t j = 0; b->rec != NULL && !replies && j < n; j++) {
			if (pkts[j].verdict != LB_VERDICT_TX ||
			    record_reply(&b->rec[first + i + j], pkts[j].data) < 0) {
				fprintf(stderr, "bench: flow %u was not opened\n", first + i + j);
				exit(1);
			}
		}
	}
}

struct scenario {
	const char *name;
	enum scenario_kind sk;
	enum sl_mode mode;
	bool v6;
};

static const struct scenario scenarios[] = {
	{"est-dsr", SC_EST, SL_MODE_DSR},
	{"est-fnat", SC_EST, SL_MODE_FNAT},
	{"fnat-reply", SC_REPLY, SL_MODE_FNAT},
	{"est-tunnel", SC_EST, SL_MODE_TUNNEL},
	{"est-nat", SC_EST, SL_MODE_NAT},
	{"nat-reply", SC_REPLY, SL_MODE_NAT},
	{"new-dsr", SC_NEW, SL_MODE_DSR},
	{"new-dsr-full", SC_FULL, SL_MODE_DSR},
	{"new-dsr-full-est", SC_FULL_EST, SL_MODE_DSR},
	{"new-fnat", SC_NEW, SL_MODE_FNAT},
	{"fnat-no-port", SC_NO_PORT, SL_MODE_FNAT},
	{"est-dsr6", SC_EST, SL_MODE_DSR, true},
	{"est-fnat6", SC_EST, SL_MODE_FNAT, true},
};

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s SCENARIO PACKETS [FLOWS]\n"
		"  SCENARIO: est-dsr|est-fnat|fnat-reply|est-tunnel|est-nat|nat-reply|est-dsr6|"
		"est-fnat6 (FLOWS "
		"established flows, default %d), new-dsr|new-dsr-full|new-dsr-full-est|"
		"sched-{rr,wrr,lc,wlc,maglev}|new-fnat|fnat-no-port\n",
		argv0, NFLOWS);
	return 2;
}

/* The command line into <b>; 0, or the exit status for a bad one. */
static int parse_args(struct bench *b, int argc, char **argv)
{
	const char *sc;

	if (argc != 3 && argc != 4)
		return usage(argv[0]);
	*b = (struct bench){.scenario = argv[1], .kind = SCHED_KIND_WRR, .nflows = NFLOWS};
	sc = b->scenario;
	b->total = strtoul(argv[2], NULL, 10);
	if (strncmp(sc, "sched-", 6) == 0 && sched_kind_parse(sc + 6) >= 0) {
		b->kind = (enum sched_kind)sched_kind_parse(sc + 6);
		b->sk = SC_NEW;
		b->mode = SL_MODE_DSR;
	} else {
		size_t i;

		for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
			if (strcmp(sc, scenarios[i].name) == 0)
				break;
		if (i == sizeof(scenarios) / sizeof(scenarios[0])) {
			fprintf(stderr, "bench: unknown scenario %s\n", sc);
			return 2;
		}
		b->sk = scenarios[i].sk;
		b->mode = scenarios[i].mode;
		g_v6 = scenarios[i].v6;
	}
	if (b->mode == SL_MODE_FNAT && b->sk == SC_NEW && b->total > FNAT_NEW_MAX) {
		fprintf(stderr, "bench: new-fnat takes at most %d packets (source ports)\n",
			FNAT_NEW_MAX);
		return 2;
	}
	b->est = b->sk == SC_EST || b->sk == SC_REPLY;
	if (argc == 4) {
		bool nat = b->mode == SL_MODE_FNAT || b->mode == SL_MODE_NAT;
		unsigned long max = nat ? FNAT_FLOWS_MAX : FLOW_CAPACITY;
		char *end;

		b->nflows = strtoul(argv[3], &end, 10);
		if (!b->est || *end != '\0' || b->nflows == 0 || b->nflows > max) {
			fprintf(stderr,
				"bench: FLOWS is for est-dsr and est-tunnel (1..%u), est-fnat, "
				"fnat-reply, est-nat and nat-reply (1..%u)\n",
				FLOW_CAPACITY, FNAT_FLOWS_MAX);
			return 2;
		}
	}
	return 0;
}

/*
 * Set-up, not timed, at time 1 (the timed part runs at time 2: nothing
 * expires, every timeout is seconds): the flows the scenario starts with.
 * Returns 0, or 1 when the table does not hold what was opened.
 */
static int open_flows(struct bench *b)
{
	struct lb_worker *w = b->w;
	uint32_t capacity = flow_table_capacity(w->flows);
	const struct flow_stats *fs = flow_table_stats(w->flows);
	bool nat = b->mode == SL_MODE_FNAT || b->mode == SL_MODE_NAT;
	uint32_t per_flow = nat ? 2 : 1, n = (uint32_t)b->nflows;

	if (b->est) {
		/*
		 * A handshake: the client's SYN, in fnat and nat the backend's
		 * answer (a connection is established only once its backend has
		 * answered, and the first answer is counted once, for passive
		 * health), then the client's ACK.
		 */
		if (nat && (b->rec = calloc(n, sizeof(*b->rec))) == NULL)
			return 1;
		send_flows(b, 0, n, 0x02, 1, false);
		if (nat)
			send_flows(b, 0, n, 0, 1, true);
		send_flows(b, 0, n, 0x10, 1, false);
		b->opened = n;
	} else if (b->sk == SC_FULL || b->sk == SC_FULL_EST) {
		/*
		 * Every entry a half-open flow, as a SYN flood leaves the table:
		 * each new SYN reads the (up to 8) flows of its key's primary bucket,
		 * finds none expired and evicts the least recently seen. Or
		 * (full-est) every entry ESTABLISHED, which is never evicted: the
		 * insert fails and the packet goes out on Maglev's backstop.
		 */
		send_flows(b, 0, capacity, 0x02, 1, false);
		if (b->sk == SC_FULL_EST)
			send_flows(b, 0, capacity, 0x10, 1, false);
		b->opened = capacity;
	} else if (b->sk == SC_NO_PORT) {
		/* No port left: take every one first; flow numbers go on from there. */
		send_flows(b, 0, FNAT_PORTS, 0x02, 1, false);
		if (w->ctr->fwd != FNAT_PORTS) {
			fprintf(stderr, "bench: %lu connections opened, not %d\n",
				(unsigned long)w->ctr->fwd, FNAT_PORTS);
			return 1;
		}
		b->opened = FNAT_PORTS;
	}
	if (flow_table_count(w->flows) != b->opened * per_flow || fs->evicted != 0 ||
	    fs->insert_failed != 0) {
		fprintf(stderr,
			"bench: set-up left %u of %u table entries (%lu evicted, %lu inserts "
			"failed)\n",
			flow_table_count(w->flows), b->opened * per_flow,
			(unsigned long)fs->evicted, (unsigned long)fs->insert_failed);
		return 1;
	}
	return 0;
}

/* The timed part: b->total packets in bursts of BURST; returns ns per packet. */
static double run_timed(struct bench *b)
{
	struct lb_pkt pkts[BURST];
	uint32_t x = 2463534242u; /* xorshift32 (Marsaglia, 2003), fixed seed */
	uint32_t flow = b->opened;
	unsigned long done = 0;

	CALLGRIND_START_INSTRUMENTATION;
	double t0 = now_ns();
	while (done < b->total) {
		uint32_t n = b->total - done < BURST ? (uint32_t)(b->total - done) : BURST;
		for (uint32_t j = 0; j < n; j++) {
			/* Writing the frame is part of what a NIC would hand us anyway. */
			if (b->est) {
				/* A random one of the established flows. */
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				uint32_t i = (uint32_t)(((uint64_t)x * b->nflows) >> 32);
				if (b->sk == SC_REPLY)
					build_reply(frames(j), &b->rec[i], i, b->mode);
				else
					build_syn(frames(j), i, 0x10);
			} else {
				build_syn(frames(j), flow++, 0x02);
			}
			pkts[j] = pkt_of(j);
		}
		lb_worker_process(b->w, b->snap, pkts, n, 2);
		done += n;
	}
	return (now_ns() - t0) / (double)(b->total ? b->total : 1);
}

/* What the timed part must have done, from the counters before (<c0>) and after. */
static int check_run(const struct bench *b, const struct lb_counters *c0,
		     const struct flow_stats *f0)
{
	const struct lb_counters *c = b->w->ctr;
	const struct flow_stats *fs = flow_table_stats(b->w->flows);
	unsigned long total = b->total;
	const char *what = NULL;
	uint64_t got = 0;

	if (b->sk == SC_NO_PORT &&
	    (got = c->drop[LB_DROP_NAT_NO_PORT] - c0->drop[LB_DROP_NAT_NO_PORT]) != total)
		what = "dropped for want of a port";
	else if (b->sk != SC_NO_PORT && (got = c->fwd - c0->fwd) < total)
		what = "forwarded";
	else if (b->sk == SC_REPLY && (got = c->nat_replies - c0->nat_replies) < total)
		what = "replies translated";
	else if (b->sk == SC_FULL && (got = fs->evicted - f0->evicted) != total)
		what = "SYNs evicted a half-open flow";
	else if (b->sk == SC_FULL_EST && (got = c->flows_backstop - c0->flows_backstop) != total)
		what = "SYNs went out on the backstop";
	if (what == NULL)
		return 0;
	fprintf(stderr, "bench: %lu of %lu packets: %s\n", (unsigned long)got, total, what);
	return 1;
}

int main(int argc, char **argv)
{
	/* Large (per-VIP and per-backend arrays): static, not on the stack. */
	static struct lb_neigh_table neigh_table;
	static struct lb_load load_table;
	static struct lb_counters counters0;
	struct lb_neigh_table *neigh = &neigh_table;
	struct lb_load *load = &load_table;
	struct lb_counters *c0 = &counters0;
	struct flow_stats f0;
	struct flow_timeouts to;
	struct bench b;
	int rc = parse_args(&b, argc, argv);

	if (rc != 0)
		return rc;
	g_frame = g_v6 ? FRAME6_LEN : FRAME_LEN;
	b.model = setup(b.kind, b.mode, neigh, &b.snap);
	flow_timeouts_default(&to);
	/*
	 * fnat-no-port takes every source port (two entries each: 98% of the
	 * production table), where a key's two buckets can both be full and an
	 * insert would evict a half-open flow and free its port: it gets a table
	 * twice as large, so that it measures the flood on exhausted ports.
	 */
	b.w = lb_worker_create(0, 1, b.sk == SC_NO_PORT ? 4 * FNAT_PORTS : FLOW_CAPACITY, &to,
			       neigh, load);
	if (b.w == NULL || open_flows(&b) != 0)
		return 1;
	*c0 = *b.w->ctr;
	f0 = *flow_table_stats(b.w->flows);
	double ns = run_timed(&b);
	if (check_run(&b, c0, &f0) != 0)
		return 1;
	printf("{\"scenario\":\"%s\",\"packets\":%lu,\"flows\":%u,\"capacity\":%u,"
	       "\"ns_per_packet\":%.1f}\n",
	       b.scenario, b.total, b.opened, flow_table_capacity(b.w->flows), ns);
	free(b.rec);
	lb_worker_free(b.w);
	lb_snapshot_free(b.snap);
	lb_model_free(b.model);
	return 0;
}
