/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Microbenchmark of the per-packet pipeline (lib/lb) on pre-built packets,
 * with no PMD: what one worker lcore spends per packet, without the NIC.
 *
 *   bench_pipeline SCENARIO PACKETS
 *
 * Scenarios: est-dsr (established flows, wrr VIP), new-dsr (every packet a
 * new flow, like a SYN flood), sched-rr, sched-wrr, sched-lc, sched-wlc,
 * sched-maglev (new flows on a VIP with that scheduler, 16 backends), and
 * full-NAT both ways: est-fnat (client -> backend on established flows),
 * fnat-reply (backend -> client on the same flows), new-fnat (every packet a
 * new connection: a source port is allocated and two entries are inserted;
 * at most FNAT_NEW_MAX packets, what 8 local addresses' ports allow), and
 * fnat-no-port (every source port of the 8 local addresses taken first, not
 * timed; then every packet a new connection that is dropped for want of a
 * port: what a flood costs once the ports are gone).
 * Prints one JSON line: scenario, packets, ns_per_packet.
 *
 * Under valgrind --tool=callgrind the instruction count is repeatable;
 * bench/callgrind.sh runs two packet counts and divides the difference, so
 * set-up cost cancels out.
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

#define NBACKENDS 16
#define NFLOWS    4096 /* distinct established flows cycled through */
#define FRAME_LEN 64
#define NLADDRS   8
/* Source ports of NLADDRS local addresses on one lcore (1024..65535 each), with margin. */
#define FNAT_NEW_MAX 500000
#define FNAT_PORTS   (NLADDRS * (65536 - 1024)) /* one lcore, every local address */

enum scenario_kind { SC_EST, SC_NEW, SC_REPLY, SC_NO_PORT };

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

int main(int argc, char **argv)
{
	struct lb_neigh_table *neigh = calloc(1, sizeof(*neigh));
	struct lb_load *load = calloc(1, sizeof(*load));
	struct lb_pkt pkts[LB_BURST_MAX];
	struct lb_snapshot *snap;
	struct flow_timeouts to;
	enum sched_kind kind = SCHED_KIND_WRR;
	enum lb_mode mode = LB_MODE_DSR;
	enum scenario_kind sk = SC_EST;
	uint8_t(*replies)[FRAME_LEN] = NULL;
	const char *scenario;
	unsigned long total;

	if (argc != 3) {
		fprintf(stderr,
			"usage: %s est-dsr|new-dsr|sched-{rr,wrr,lc,wlc,maglev}|"
			"est-fnat|new-fnat|fnat-reply|fnat-no-port PACKETS\n",
			argv[0]);
		return 2;
	}
	scenario = argv[1];
	total = strtoul(argv[2], NULL, 10);
	if (strcmp(scenario, "new-dsr") == 0) {
		sk = SC_NEW;
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
	bool new_flows = sk == SC_NEW || sk == SC_NO_PORT;
	if (neigh == NULL || load == NULL)
		return 1;
	struct lb_model *m = setup(kind, mode, neigh, &snap);
	flow_timeouts_default(&to);
	/* New-flow runs: a table large enough that no insert fails (fnat: 2 entries each). */
	uint32_t per_flow = mode == LB_MODE_FNAT ? 2 : 1;
	uint32_t capacity = new_flows ? per_flow * (uint32_t)total + 1024 : NFLOWS * 2 * per_flow;
	if (sk == SC_NO_PORT)
		capacity = 2 * FNAT_PORTS + 1024;
	struct lb_worker *w = lb_worker_create(0, 1, capacity, &to, neigh, load);
	if (w == NULL)
		return 1;
	if (sk == SC_REPLY) {
		replies = calloc(NFLOWS, FRAME_LEN);
		if (replies == NULL)
			return 1;
	}

	/* Established: open NFLOWS flows first (not timed); keep the backends' answers. */
	if (!new_flows) {
		for (uint32_t i = 0; i < NFLOWS; i += LB_BURST_MAX) {
			for (uint32_t j = 0; j < LB_BURST_MAX; j++) {
				build_syn(frames[j], i + j, 0x10);
				pkts[j] = (struct lb_pkt){
					.data = frames[j], .len = FRAME_LEN, .cap = FRAME_LEN};
			}
			lb_worker_process(w, snap, pkts, LB_BURST_MAX, 1);
			for (uint32_t j = 0; replies != NULL && j < LB_BURST_MAX; j++) {
				if (pkts[j].verdict != LB_VERDICT_TX) {
					fprintf(stderr, "bench: flow %u was not opened\n", i + j);
					return 1;
				}
				memcpy(replies[i + j], frames[j], FRAME_LEN);
				make_reply(replies[i + j]);
			}
		}
	}
	/* No port left: take every one first (not timed); flow numbers go on from there. */
	uint32_t flow = 0;
	if (sk == SC_NO_PORT) {
		for (; flow < FNAT_PORTS; flow += LB_BURST_MAX) {
			for (uint32_t j = 0; j < LB_BURST_MAX; j++) {
				build_syn(frames[j], flow + j, 0x02);
				pkts[j] = (struct lb_pkt){
					.data = frames[j], .len = FRAME_LEN, .cap = FRAME_LEN};
			}
			lb_worker_process(w, snap, pkts, LB_BURST_MAX, 1);
		}
		if (w->ctr->fwd != FNAT_PORTS) {
			fprintf(stderr, "bench: %lu connections opened, not %d\n",
				(unsigned long)w->ctr->fwd, FNAT_PORTS);
			return 1;
		}
	}
	double t0 = now_ns();
	unsigned long done = 0;
	while (done < total) {
		uint32_t n = total - done < 32 ? (uint32_t)(total - done) : 32;
		for (uint32_t j = 0; j < n; j++) {
			/* Rewriting the frame is part of what a NIC would hand us anyway. */
			if (sk == SC_REPLY)
				memcpy(frames[j], replies[flow++ % NFLOWS], FRAME_LEN);
			else
				build_syn(frames[j], new_flows ? flow++ : (flow++ % NFLOWS),
					  new_flows ? 0x02 : 0x10);
			pkts[j] = (struct lb_pkt){
				.data = frames[j], .len = FRAME_LEN, .cap = FRAME_LEN};
		}
		lb_worker_process(w, snap, pkts, n, 2);
		done += n;
	}
	double ns = (now_ns() - t0) / (double)(total ? total : 1);
	if (sk == SC_NO_PORT && w->ctr->drop[LB_DROP_NAT_NO_PORT] != total) {
		fprintf(stderr, "bench: %lu of %lu packets dropped for want of a port\n",
			(unsigned long)w->ctr->drop[LB_DROP_NAT_NO_PORT], total);
		return 1;
	}
	uint64_t fwd = w->ctr->fwd - (sk == SC_REPLY ? NFLOWS : 0);
	if (sk != SC_NO_PORT && fwd < total) {
		fprintf(stderr, "bench: only %lu of %lu packets forwarded\n", (unsigned long)fwd,
			total);
		return 1;
	}
	if (sk == SC_REPLY && w->ctr->nat_replies < total) {
		fprintf(stderr, "bench: only %lu of %lu replies translated\n",
			(unsigned long)w->ctr->nat_replies, total);
		return 1;
	}
	printf("{\"scenario\":\"%s\",\"packets\":%lu,\"ns_per_packet\":%.1f}\n", scenario, total,
	       ns);
	free(replies);
	lb_worker_free(w);
	lb_snapshot_free(snap);
	lb_model_free(m);
	free(neigh);
	free(load);
	return 0;
}
