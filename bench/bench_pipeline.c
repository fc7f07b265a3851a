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
 *   new-dsr       every packet a new flow (a SYN), into an empty table; past
 *                 FLOW_CAPACITY packets the table is full and SYNs evict
 *   new-dsr-full  every packet a SYN into a table already full of half-open
 *                 flows (what a SYN flood leaves): each evicts the least
 *                 recently seen evictable flow of its two buckets
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

#define NBACKENDS 16
#define NFLOWS    4096 /* established flows by default */
#define FRAME_LEN 64
#define NLADDRS   8
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

static uint8_t frames[LB_BURST_MAX][FRAME_LEN];

/* A 64-byte Ethernet/IPv4/TCP frame from 198.19.<flow> to the VIP. */
static void build_syn(uint8_t *f, uint32_t flow, uint8_t tcp_flags)
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
	memset(f, 0, FRAME_LEN);
	memcpy(f, hdr, sizeof(hdr));
	f[28] = (uint8_t)(flow >> 8);
	f[29] = (uint8_t)flow;
	f[34] = (uint8_t)((1024 + (flow >> 16)) >> 8); /* source port 1024 + (flow >> 16) */
	f[35] = (uint8_t)(1024 + (flow >> 16));
	f[47] = tcp_flags;
}

static struct lb_model *setup(enum sched_kind kind, enum lb_mode mode, struct lb_neigh_table *neigh,
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
			     .hash = LB_HASH_5TUPLE,
			     .maglev_size = 65537,
			     .backends = b,
			     .n_backends = NBACKENDS};
	static const uint8_t mac[6] = {2, 0, 0, 0, 0, 2};
	char err[256];
	uint32_t slots[NBACKENDS];

	lb_addr_parse(&cp.ipv4, "198.18.0.2");
	lb_addr_parse(&v.addr, "198.18.1.100");
	if (mode == LB_MODE_FNAT) {
		for (int i = 0; i < NLADDRS; i++) {
			char ip[32];
			snprintf(ip, sizeof(ip), "198.18.0.%d", 200 + i);
			lb_addr_parse(&v.local_addrs[i], ip);
		}
		v.n_local_addrs = NLADDRS;
	}
	memset(b, 0, sizeof(b));
	for (int i = 0; i < NBACKENDS; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "198.18.0.%d", 10 + i);
		lb_addr_parse(&b[i].addr, ip);
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
static void make_reply(uint8_t *f)
{
	uint8_t tmp[6];

	memcpy(tmp, f, 6); /* dst MAC (the backend's) <-> src MAC (ours) */
	memcpy(f, f + 6, 6);
	memcpy(f + 6, tmp, 6);
	memcpy(tmp, f + 26, 4); /* addresses */
	memcpy(f + 26, f + 30, 4);
	memcpy(f + 30, tmp, 4);
	memcpy(tmp, f + 34, 2); /* ports */
	memcpy(f + 34, f + 36, 2);
	memcpy(f + 36, tmp, 2);
	f[47] = 0x10; /* ACK */
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
static uint8_t reply_tmpl[NBACKENDS][FRAME_LEN];
static bool reply_tmpl_set[NBACKENDS];
static uint8_t laddr_ip[NLADDRS][4];

/* Records the connection of <fwd>, a frame the pipeline sent to a backend. */
static int record_reply(struct reply_rec *r, const uint8_t *fwd)
{
	uint32_t b = fwd[33] - 10u, l = fwd[29] - 200u;

	if (b >= NBACKENDS || l >= NLADDRS)
		return -1;
	if (!reply_tmpl_set[b]) {
		memcpy(reply_tmpl[b], fwd, FRAME_LEN);
		make_reply(reply_tmpl[b]);
		reply_tmpl_set[b] = true;
	}
	memcpy(laddr_ip[l], fwd + 26, 4);
	r->backend = (uint8_t)b;
	r->laddr = (uint8_t)l;
	memcpy(&r->lport_be, fwd + 34, 2);
	return 0;
}

/* The backend's answer on connection <r>: backend:80 -> laddr:lport. */
static void build_reply(uint8_t *f, const struct reply_rec *r)
{
	memcpy(f, reply_tmpl[r->backend], FRAME_LEN);
	memcpy(f + 30, laddr_ip[r->laddr], 4);
	memcpy(f + 36, &r->lport_be, 2);
}

/*
 * Set-up, not timed: one packet (TCP flags <flags>) for each of flows
 * [first, first + count), or (<rec> and <replies>) the backend's answer on
 * each connection, in bursts at time <now>. With <rec> and not <replies>,
 * records each connection (every packet must go out).
 */
static void send_flows(struct lb_worker *w, const struct lb_snapshot *s, uint32_t first,
		       uint32_t count, uint8_t flags, uint32_t now, struct reply_rec *rec,
		       bool replies)
{
	struct lb_pkt pkts[LB_BURST_MAX];

	for (uint32_t i = 0; i < count; i += LB_BURST_MAX) {
		uint32_t n = count - i < LB_BURST_MAX ? count - i : LB_BURST_MAX;

		for (uint32_t j = 0; j < n; j++) {
			if (replies)
				build_reply(frames[j], &rec[first + i + j]);
			else
				build_syn(frames[j], first + i + j, flags);
			/* As from a port with RX checksum offload (the frames' sums are 0). */
			pkts[j] = (struct lb_pkt){.data = frames[j],
						  .len = FRAME_LEN,
						  .cap = FRAME_LEN,
						  .rx_csum = LB_RX_CSUM_IP_GOOD};
		}
		lb_worker_process(w, s, pkts, n, now);
		for (uint32_t j = 0; rec != NULL && !replies && j < n; j++) {
			if (pkts[j].verdict != LB_VERDICT_TX ||
			    record_reply(&rec[first + i + j], frames[j]) < 0) {
				fprintf(stderr, "bench: flow %u was not opened\n", first + i + j);
				exit(1);
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct lb_neigh_table *neigh = calloc(1, sizeof(*neigh));
	struct lb_load *load = calloc(1, sizeof(*load));
	struct lb_pkt pkts[BURST];
	struct lb_snapshot *snap;
	struct flow_timeouts to;
	enum sched_kind kind = SCHED_KIND_WRR;
	enum lb_mode mode = LB_MODE_DSR;
	enum scenario_kind sk = SC_EST;
	struct reply_rec *rec = NULL;
	const char *scenario;
	unsigned long total, nflows = NFLOWS;

	if (argc != 3 && argc != 4) {
		fprintf(stderr,
			"usage: %s SCENARIO PACKETS [FLOWS]\n"
			"  SCENARIO: est-dsr|est-fnat|fnat-reply (FLOWS established flows, "
			"default %d), new-dsr|new-dsr-full|new-dsr-full-est|"
			"sched-{rr,wrr,lc,wlc,maglev}|new-fnat|fnat-no-port\n",
			argv[0], NFLOWS);
		return 2;
	}
	scenario = argv[1];
	total = strtoul(argv[2], NULL, 10);
	if (strcmp(scenario, "new-dsr") == 0) {
		sk = SC_NEW;
	} else if (strcmp(scenario, "new-dsr-full") == 0) {
		sk = SC_FULL;
	} else if (strcmp(scenario, "new-dsr-full-est") == 0) {
		sk = SC_FULL_EST;
	} else if (strncmp(scenario, "sched-", 6) == 0 && sched_kind_parse(scenario + 6) >= 0) {
		kind = (enum sched_kind)sched_kind_parse(scenario + 6);
		sk = SC_NEW;
	} else if (strcmp(scenario, "est-fnat") == 0) {
		mode = LB_MODE_FNAT;
	} else if (strcmp(scenario, "new-fnat") == 0) {
		mode = LB_MODE_FNAT;
		sk = SC_NEW;
		if (total > FNAT_NEW_MAX) {
			fprintf(stderr, "bench: new-fnat takes at most %d packets (source ports)\n",
				FNAT_NEW_MAX);
			return 2;
		}
	} else if (strcmp(scenario, "fnat-no-port") == 0) {
		mode = LB_MODE_FNAT;
		sk = SC_NO_PORT;
	} else if (strcmp(scenario, "fnat-reply") == 0) {
		mode = LB_MODE_FNAT;
		sk = SC_REPLY;
	} else if (strcmp(scenario, "est-dsr") != 0) {
		fprintf(stderr, "bench: unknown scenario %s\n", scenario);
		return 2;
	}
	bool est = sk == SC_EST || sk == SC_REPLY;
	if (argc == 4) {
		unsigned long max = mode == LB_MODE_FNAT ? FNAT_FLOWS_MAX : FLOW_CAPACITY;
		char *end;

		nflows = strtoul(argv[3], &end, 10);
		if (!est || *end != '\0' || nflows == 0 || nflows > max) {
			fprintf(stderr,
				"bench: FLOWS is for est-dsr (1..%u), est-fnat and "
				"fnat-reply (1..%u)\n",
				FLOW_CAPACITY, FNAT_FLOWS_MAX);
			return 2;
		}
	}
	if (neigh == NULL || load == NULL)
		return 1;
	struct lb_model *m = setup(kind, mode, neigh, &snap);
	flow_timeouts_default(&to);
	/*
	 * fnat-no-port takes every source port (two entries each: 98% of the
	 * production table), where a key's two buckets can both be full and an
	 * insert would evict a half-open flow and free its port: it gets a table
	 * twice as large, so that it measures the flood on exhausted ports.
	 */
	struct lb_worker *w = lb_worker_create(
		0, 1, sk == SC_NO_PORT ? 4 * FNAT_PORTS : FLOW_CAPACITY, &to, neigh, load);
	if (w == NULL)
		return 1;
	uint32_t capacity = flow_table_capacity(w->flows);
	const struct flow_stats *fs = flow_table_stats(w->flows);

	/*
	 * Set-up, not timed, at time 1 (the timed part runs at time 2: nothing
	 * expires, every timeout is seconds). A handshake: the client's SYN,
	 * in full-NAT the backend's answer (a connection is established only
	 * once its backend has answered, and the first answer is counted once,
	 * for passive health), then the client's ACK.
	 */
	uint32_t flow = 0, opened = 0, per_flow = mode == LB_MODE_FNAT ? 2 : 1;
	if (est) {
		if (mode == LB_MODE_FNAT) {
			rec = calloc(nflows, sizeof(*rec));
			if (rec == NULL)
				return 1;
		}
		send_flows(w, snap, 0, (uint32_t)nflows, 0x02, 1, rec, false);
		if (rec != NULL)
			send_flows(w, snap, 0, (uint32_t)nflows, 0, 1, rec, true);
		send_flows(w, snap, 0, (uint32_t)nflows, 0x10, 1, NULL, false);
		opened = (uint32_t)nflows;
	} else if (sk == SC_FULL) {
		/*
		 * Every entry a half-open flow (SYN state), as a SYN flood leaves
		 * the table. A new SYN finds no free entry: the table reads the
		 * (up to 16) flows of the key's two buckets, finds none expired,
		 * and evicts the least recently seen; the cost of a SYN flood's
		 * steady state, where every new flow throws out an older one.
		 */
		send_flows(w, snap, 0, capacity, 0x02, 1, NULL, false);
		opened = flow = capacity;
	} else if (sk == SC_FULL_EST) {
		/*
		 * Every entry an ESTABLISHED flow (a SYN, then an ACK), which flow_insert never
		 * evicts: a new SYN reads the same 16 flows, finds nothing to
		 * reclaim, and the insert fails; the packet goes out to the
		 * backend Maglev picks (the backstop), with no state kept. The
		 * cost of new flows while the table is full of live connections.
		 */
		send_flows(w, snap, 0, capacity, 0x02, 1, NULL, false);
		send_flows(w, snap, 0, capacity, 0x10, 1, NULL, false);
		opened = flow = capacity;
	} else if (sk == SC_NO_PORT) {
		/* No port left: take every one first; flow numbers go on from there. */
		send_flows(w, snap, 0, FNAT_PORTS, 0x02, 1, NULL, false);
		if (w->ctr->fwd != FNAT_PORTS) {
			fprintf(stderr, "bench: %lu connections opened, not %d\n",
				(unsigned long)w->ctr->fwd, FNAT_PORTS);
			return 1;
		}
		opened = flow = FNAT_PORTS;
	}
	if (flow_table_count(w->flows) != opened * per_flow || fs->evicted != 0 ||
	    fs->insert_failed != 0) {
		fprintf(stderr,
			"bench: set-up left %u of %u table entries (%lu evicted, %lu inserts "
			"failed)\n",
			flow_table_count(w->flows), opened * per_flow, (unsigned long)fs->evicted,
			(unsigned long)fs->insert_failed);
		return 1;
	}

	const struct lb_counters *c = w->ctr;
	uint64_t fwd0 = c->fwd, replies0 = c->nat_replies, backstop0 = c->flows_backstop;
	uint64_t no_port0 = c->drop[LB_DROP_NAT_NO_PORT], evicted0 = fs->evicted;
	uint32_t x = 2463534242u; /* xorshift32 (Marsaglia, 2003), fixed seed */
	CALLGRIND_START_INSTRUMENTATION;
	double t0 = now_ns();
	unsigned long done = 0;
	while (done < total) {
		uint32_t n = total - done < BURST ? (uint32_t)(total - done) : BURST;
		for (uint32_t j = 0; j < n; j++) {
			/* Writing the frame is part of what a NIC would hand us anyway. */
			if (est) {
				/* A random one of the established flows. */
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				uint32_t i = (uint32_t)(((uint64_t)x * nflows) >> 32);
				if (sk == SC_REPLY)
					build_reply(frames[j], &rec[i]);
				else
					build_syn(frames[j], i, 0x10);
			} else {
				build_syn(frames[j], flow++, 0x02);
			}
			/* As from a port with RX checksum offload (the frames' sums are 0). */
			pkts[j] = (struct lb_pkt){.data = frames[j],
						  .len = FRAME_LEN,
						  .cap = FRAME_LEN,
						  .rx_csum = LB_RX_CSUM_IP_GOOD};
		}
		lb_worker_process(w, snap, pkts, n, 2);
		done += n;
	}
	double ns = (now_ns() - t0) / (double)(total ? total : 1);
	if (sk == SC_NO_PORT && c->drop[LB_DROP_NAT_NO_PORT] - no_port0 != total) {
		fprintf(stderr, "bench: %lu of %lu packets dropped for want of a port\n",
			(unsigned long)(c->drop[LB_DROP_NAT_NO_PORT] - no_port0), total);
		return 1;
	}
	if (sk != SC_NO_PORT && c->fwd - fwd0 < total) {
		fprintf(stderr, "bench: only %lu of %lu packets forwarded\n",
			(unsigned long)(c->fwd - fwd0), total);
		return 1;
	}
	if (sk == SC_REPLY && c->nat_replies - replies0 < total) {
		fprintf(stderr, "bench: only %lu of %lu replies translated\n",
			(unsigned long)(c->nat_replies - replies0), total);
		return 1;
	}
	if (sk == SC_FULL && fs->evicted - evicted0 != total) {
		fprintf(stderr, "bench: %lu of %lu SYNs evicted a half-open flow\n",
			(unsigned long)(fs->evicted - evicted0), total);
		return 1;
	}
	if (sk == SC_FULL_EST && c->flows_backstop - backstop0 != total) {
		fprintf(stderr, "bench: %lu of %lu SYNs went out on the backstop\n",
			(unsigned long)(c->flows_backstop - backstop0), total);
		return 1;
	}
	printf("{\"scenario\":\"%s\",\"packets\":%lu,\"flows\":%u,\"capacity\":%u,"
	       "\"ns_per_packet\":%.1f}\n",
	       scenario, total, opened, capacity, ns);
	free(rec);
	lb_worker_free(w);
	lb_snapshot_free(snap);
	lb_model_free(m);
	free(neigh);
	free(load);
	return 0;
}
