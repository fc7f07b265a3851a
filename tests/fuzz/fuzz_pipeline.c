/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the whole per-packet pipeline (lib/lb) on byte
 * buffers, without DPDK: what sluice-dataplane's workers run, driven the way
 * tests/unit/test_lb_nat.c and bench/bench_pipeline.c drive it.
 *
 * One model, built once: two ports ("backends" 10.0.0.1/24 2001:db8::1/64;
 * "clients" 192.0.2.1/24 2001:db8:ffff::1/64 with a kernel exception path),
 * and for each mode (dsr, tunnel, fnat, nat) an IPv4 and an IPv6 VIP, each on
 * TCP :80 and UDP :53, two backends each with static MACs; plus a full-NAT
 * VIP whose backends all have weight 0 and when_empty reset. Every input
 * starts from fresh workers (one or two, the first byte says), so a finding
 * replays.
 *
 * The rest of the input is a program of operations (struct reader):
 *   raw frame       bytes as they are, on either port and worker, in a tight
 *                   or a roomy buffer, with or without headroom, with the
 *                   port's checksum verdict (truthful, or none)
 *   built frame     a client's TCP/UDP packet to one of the VIPs, valid
 *                   checksums, from a chosen (possibly forged) source, then
 *                   a few bytes flipped
 *   backend reply   a backend's answer (or ICMP error) to a frame the
 *                   pipeline sent it, built from that frame
 *   echo/ARP/NS     an ICMP echo, ARP request or neighbour solicitation for
 *                   a VIP
 *   flush           runs the queued bursts (handed-off packets go to their
 *                   owner's next burst, as the data plane's rings do)
 *   time            a jump of the clock: ms, seconds, hours, or any 32 bits
 *   sweep, resend   lb_worker_sweep(), lb_worker_resend()
 *
 * Checks after every burst (abort on failure, so libFuzzer keeps the input):
 *   - verdict and drop reason in range, a drop reason exactly when dropped;
 *   - per worker, rx = fwd + replied + to_mgmt + handoff + to_kernel +
 *     sum(drop[]) (lb.h), and the burst's verdicts match the counters' moves;
 *   - a transmitted frame lies inside its buffer (headroom + capacity), goes
 *     out of a port that exists with that port's source MAC, parses, has a
 *     TTL / hop limit above 0 and, when it answers, a destination that can
 *     be a host;
 *   - valid checksums in -> valid checksums out: where the input's IPv4
 *     header and TCP/UDP/ICMP checksums were right, the output's are too
 *     (inner and outer headers of a tunnel), unless it asks the NIC to
 *     compute them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lb_model.h"
#include "lb_worker.h"
#include "parse.h"
#include "scheduler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_pipeline: check failed: %s (line %d)\n", #cond,      \
				__LINE__);                                                         \
			dump_current();                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define BUF_CAP     2048 /* an mbuf's data room */
#define HEADROOM    128  /* an mbuf's headroom */
#define MAX_PENDING 32   /* packets queued per worker before a burst runs */
#define MAX_OPS     256  /* operations per input */
#define N_RECORDS   8    /* frames sent to backends, kept for their replies */
#define P_BACKENDS  0
#define P_CLIENTS   1

static const uint8_t PORT_MAC[2][6] = {{0x02, 0, 0, 0, 0, 0x01}, {0x02, 0, 0, 0, 0, 0x02}};
static const uint8_t CLIENT_MAC[6] = {0x02, 0, 0, 0, 0, 0x99};
static const uint8_t BCAST_MAC[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* The packet being checked, printed when a check fails. */
static const struct lb_pkt *cur_pk;
static uint8_t cur_in[BUF_CAP];
static uint16_t cur_in_len;

static void hex(const char *what, const uint8_t *p, uint32_t n)
{
	fprintf(stderr, "%s (%u bytes):", what, n);
	for (uint32_t i = 0; i < n; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", p[i]);
	fprintf(stderr, "\n");
}

static void dump_current(void)
{
	if (cur_pk == NULL)
		return;
	hex("in", cur_in, cur_in_len);
	fprintf(stderr, "verdict %u drop %u in_port %u out_port %u answer %u handed %u\n",
		cur_pk->verdict, cur_pk->drop, cur_pk->in_port, cur_pk->out_port, cur_pk->answer,
		cur_pk->handed);
	if (cur_pk->verdict == LB_VERDICT_TX)
		hex("out", cur_pk->data, cur_pk->len);
}

/* ---- the model, built once ---- */

struct vip_def {
	struct sl_addr addr;
	uint16_t port;
	uint8_t proto;
	uint8_t mode;
};

#define MAX_VIPS 20
static struct {
	struct lb_model *m;
	struct lb_snapshot *s;
	struct lb_neigh_table *nt;
	struct lb_load *load;
	struct vip_def vips[MAX_VIPS];
	uint32_t n_vips;
} g;

static struct sl_addr addr(const char *text)
{
	struct sl_addr a;

	CHECK(sl_addr_parse(&a, text) == 0);
	return a;
}

static void add_port(const char *name, const char *a4, const char *a6, uint8_t plen6, int i,
		     const char *kernel_if)
{
	struct conf_port cp;
	char err[256] = "";

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.name, sizeof(cp.name), "%s", name);
	snprintf(cp.kernel_if, sizeof(cp.kernel_if), "%s", kernel_if);
	cp.has_ipv4 = true;
	cp.ipv4 = addr(a4);
	cp.ipv4_plen = 24;
	cp.has_ipv6 = true;
	cp.ipv6 = addr(a6);
	cp.ipv6_plen = plen6;
	if (lb_model_port_add(g.m, &cp, PORT_MAC[i], err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_pipeline: port %s: %s\n", name, err);
		abort();
	}
}

/* Adds VIP <a>:<port>/<proto> in <mode> with two backends numbered from <be>. */
static void add_vip(const char *a, uint16_t port, uint8_t proto, uint8_t mode, uint32_t be,
		    uint32_t weight, uint8_t when_empty)
{
	static const char *const laddr4[] = {"10.0.0.50", "10.0.0.51"};
	static const char *const laddr6[] = {"2001:db8::50"};
	static const uint8_t scheds[] = {SCHED_KIND_RR, SCHED_KIND_WRR, SCHED_KIND_MAGLEV,
					 SCHED_KIND_LC};
	struct conf_backend b[2];
	struct conf_vip v;
	char err[256] = "", text[64];
	bool v6 = strchr(a, ':') != NULL;

	memset(&v, 0, sizeof(v));
	memset(b, 0, sizeof(b));
	v.addr = addr(a);
	v.port = port;
	v.proto = proto;
	v.mode = mode;
	v.sched = scheds[g.n_vips % sizeof(scheds)];
	v.hash = SL_HASH_5TUPLE;
	v.when_empty = when_empty;
	v.maglev_size = 251;
	v.response_timeout_ms = mode == SL_MODE_FNAT && proto == IPPROTO_TCP ? 2000 : 0;
	v.syn_timeout_ms = mode == SL_MODE_NAT ? 500 : 0;
	if (mode == SL_MODE_FNAT) {
		for (uint32_t i = 0; i < (v6 ? 1u : 2u); i++)
			v.local_addrs[i] = addr(v6 ? laddr6[i] : laddr4[i]);
		v.n_local_addrs = v6 ? 1 : 2;
	}
	for (uint32_t i = 0; i < 2; i++) {
		if (v6)
			snprintf(text, sizeof(text), "2001:db8::%x", 0x1000 + be + i);
		else
			snprintf(text, sizeof(text), "10.0.0.%u", 100 + be + i);
		b[i].addr = addr(text);
		b[i].port = mode >= SL_MODE_FNAT ? (proto == IPPROTO_TCP ? 8080 : 5353) : 0;
		b[i].weight = weight;
		b[i].has_mac = true;
		b[i].mac[0] = 0x02;
		b[i].mac[4] = 0x01;
		b[i].mac[5] = (uint8_t)(be + i);
	}
	v.backends = b;
	v.n_backends = 2;
	if (lb_model_vip_add(g.m, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_pipeline: VIP %s:%u: %s\n", a, port, err);
		abort();
	}
	CHECK(g.n_vips < MAX_VIPS);
	g.vips[g.n_vips++] = (struct vip_def){v.addr, port, proto, mode};
}

static void setup(void)
{
	uint32_t slots[64], be = 0;
	char a4[32], a6[32];

	g.m = lb_model_create();
	g.nt = calloc(1, sizeof(*g.nt));
	g.load = calloc(1, sizeof(*g.load));
	CHECK(g.m != NULL && g.nt != NULL && g.load != NULL);
	add_port("backends", "10.0.0.1", "2001:db8::1", 64, P_BACKENDS, "");
	add_port("clients", "192.0.2.1", "2001:db8:ffff::1", 64, P_CLIENTS, "sluice-c");
	for (uint8_t mode = 0; mode < SL_MODE_MAX; mode++) {
		snprintf(a4, sizeof(a4), "10.0.0.%u", 10 + mode);
		snprintf(a6, sizeof(a6), "2001:db8::%x", 0x100 + mode);
		add_vip(a4, 80, IPPROTO_TCP, mode, be, 1 + mode % 2, SL_EMPTY_DROP);
		add_vip(a4, 53, IPPROTO_UDP, mode, be + 2, 1, SL_EMPTY_DROP);
		add_vip(a6, 80, IPPROTO_TCP, mode, be + 4, 1, SL_EMPTY_DROP);
		add_vip(a6, 53, IPPROTO_UDP, mode, be + 6, 1, SL_EMPTY_DROP);
		be += 8;
	}
	add_vip("10.0.0.20", 80, IPPROTO_TCP, SL_MODE_FNAT, be, 0, SL_EMPTY_RESET);
	add_vip("10.0.0.20", 53, IPPROTO_UDP, SL_MODE_DSR, be + 2, 0, SL_EMPTY_RESET);
	g.s = lb_model_compile(g.m);
	CHECK(g.s != NULL);
	lb_neigh_due(g.m, g.nt, 0, 30000, 1000, slots, 64); /* publish the static MACs */
}

/* ---- checksums, computed from scratch ---- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* What the checksums of an IP packet say (tunnels: the inner packet's too). */
struct sums {
	bool ip_bad;   /* an IPv4 header checksum is wrong (outer or inner) */
	bool l4_known; /* the TCP/UDP/ICMP checksum could be checked */
	bool l4_bad;   /* ... and is wrong */
};

/* Checksum of the L4 segment at <l4> (<n> bytes), with a pseudo-header unless ICMPv4. */
static uint16_t l4_sum(const uint8_t *ip, bool v6, uint8_t proto, const uint8_t *l4, uint32_t n)
{
	uint32_t s = 0;

	if (proto != IPPROTO_ICMP) {
		s = v6 ? sum16(0, ip + 8, 32) : sum16(0, ip + 12, 8);
		s += proto;
		s += n;
	}
	return fold(sum16(s, l4, n));
}

static void ip_sums(const uint8_t *ip, uint32_t avail, int depth, struct sums *r)
{
	uint32_t hl, tot;
	uint8_t proto;
	bool v6;

	if (avail < 20)
		return;
	v6 = ip[0] >> 4 == 6;
	if (v6) {
		if (avail < 40)
			return;
		hl = 40;
		tot = 40u + rd16(ip + 4);
		proto = ip[6];
	} else {
		if (ip[0] >> 4 != 4)
			return;
		hl = (ip[0] & 0x0fu) * 4u;
		tot = rd16(ip + 2);
		if (hl < 20 || hl > avail)
			return;
		if (fold(sum16(0, ip, hl)) != 0)
			r->ip_bad = true;
		proto = ip[9];
		if ((rd16(ip + 6) & 0x3fff) != 0)
			return; /* a fragment: no L4 checksum to check */
	}
	if (tot < hl || tot > avail)
		return;
	if ((proto == IPPROTO_IPIP || proto == IPPROTO_IPV6) && depth == 0) {
		ip_sums(ip + hl, tot - hl, 1, r);
		return;
	}
	const uint8_t *l4 = ip + hl;
	uint32_t n = tot - hl;
	if (proto == IPPROTO_TCP && n >= 20) {
		r->l4_known = true;
		r->l4_bad = l4_sum(ip, v6, proto, l4, n) != 0;
	} else if (proto == IPPROTO_UDP && n >= 8 && rd16(l4 + 4) == n) {
		r->l4_known = true;
		r->l4_bad = rd16(l4 + 6) == 0 ? v6 : l4_sum(ip, v6, proto, l4, n) != 0;
	} else if ((proto == IPPROTO_ICMP && !v6) || (proto == IPPROTO_ICMPV6 && v6)) {
		r->l4_known = n >= 4;
		r->l4_bad = r->l4_known && l4_sum(ip, v6, proto, l4, n) != 0;
	}
}

/* The sums of the frame at <f>; false if it does not parse as IP. */
static bool frame_sums(const uint8_t *f, uint32_t len, struct sums *r, struct pkt_meta *m)
{
	memset(r, 0, sizeof(*r));
	if (parse_packet(f, len, m) != PARSE_OK || m->kind != PKT_KIND_IP)
		return false;
	ip_sums(f + m->l3_off, m->l3_end - m->l3_off, 0, r);
	return true;
}

/* Rewrites the IPv4 header checksum and the TCP/UDP/ICMP checksum of an unfragmented packet. */
static void fix_sums(uint8_t *ip)
{
	bool v6 = ip[0] >> 4 == 6;
	uint32_t hl = v6 ? 40 : (ip[0] & 0x0fu) * 4u;
	uint32_t tot = v6 ? 40u + rd16(ip + 4) : rd16(ip + 2);
	uint8_t proto = v6 ? ip[6] : ip[9], *l4 = ip + hl;
	uint32_t off = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
	uint16_t c;

	if (!v6) {
		wr16(ip + 10, 0);
		wr16(ip + 10, fold(sum16(0, ip, hl)));
	}
	if (tot < hl + off + 2)
		return;
	wr16(l4 + off, 0);
	c = l4_sum(ip, v6, proto, l4, tot - hl);
	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	wr16(l4 + off, c);
}

/* ---- the input, read as a program ---- */

struct reader {
	const uint8_t *p;
	size_t left;
};

static uint8_t u8(struct reader *r)
{
	if (r->left == 0)
		return 0;
	r->left--;
	return *r->p++;
}

static uint16_t u16(struct reader *r)
{
	return (uint16_t)(u8(r) << 8 | u8(r));
}

static uint32_t u32(struct reader *r)
{
	return (uint32_t)u16(r) << 16 | u16(r);
}

/* A packet waiting for its worker's next burst, in a buffer of its own. */
struct pending {
	uint8_t *mem;        /* malloc'd headroom + cap: ASan sees a write past cap */
	size_t size;         /* ... of so many bytes */
	uint8_t in[BUF_CAP]; /* the frame as it went in (printed if a check fails) */
	uint16_t in_len;
	struct lb_pkt pk;
	bool sums_ok; /* the input's checksums were right (struct sums) */
	bool l4_ok;   /* ... the TCP/UDP/ICMP one was checked and right */
	bool in_syn;  /* the input was a TCP SYN (without ACK) */
};

struct run {
	struct lb_worker *w[2];
	uint32_t n_workers;
	uint32_t now;
	struct pending q[2][MAX_PENDING];
	uint32_t nq[2];
	/* Frames the pipeline sent to backends: fnat/nat replies are built from them. */
	uint8_t rec[N_RECORDS][BUF_CAP];
	uint16_t rec_len[N_RECORDS];
	uint32_t n_rec;
};

static void counters_sum(const struct lb_counters *c, uint64_t out[6])
{
	uint64_t drops = 0;

	for (int i = 0; i < LB_DROP_MAX; i++)
		drops += c->drop[i];
	out[0] = c->rx;
	out[1] = c->fwd + c->replied; /* LB_VERDICT_TX */
	out[2] = drops;               /* LB_VERDICT_DROP */
	out[3] = c->to_mgmt;          /* LB_VERDICT_MGMT */
	out[4] = c->handoff;          /* LB_VERDICT_HANDOFF */
	out[5] = c->to_kernel;        /* LB_VERDICT_KERNEL */
}

static void check_invariant(const struct lb_counters *c)
{
	uint64_t sum = c->fwd + c->replied + c->to_mgmt + c->handoff + c->to_kernel;

	for (int i = 0; i < LB_DROP_MAX; i++)
		sum += c->drop[i];
	CHECK(c->drop[LB_DROP_TX_FULL] == 0); /* only the glue counts it */
	CHECK(c->rx == sum);
}

/* A destination no answer may go to (RFC 1122 3.2.1.3, RFC 4443 2.4). */
static bool martian_dst(const struct pkt_meta *m, const uint8_t *f)
{
	const uint8_t *d = m->dst.b;

	if (f[0] & 1)
		return true; /* group destination MAC */
	if (sl_addr_is_v4(&m->dst)) {
		d = sl_addr_v4_bytes(&m->dst);
		return d[0] == 0 || d[0] == 127 || d[0] >= 224;
	}
	static const uint8_t zero[16], one[16] = {[15] = 1};
	return memcmp(d, zero, 16) == 0 || memcmp(d, one, 16) == 0 || d[0] == 0xff;
}

/* Keeps a frame sent to a backend of a translating VIP, for its reply. */
static void record(struct run *r, const struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint32_t i = r->n_rec++ % N_RECORDS;

	if (pk->len > BUF_CAP || m->frag != PKT_FRAG_NONE ||
	    (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP))
		return;
	memcpy(r->rec[i], pk->data, pk->len);
	r->rec_len[i] = pk->len;
}

static void enqueue(struct run *r, uint32_t wi, const uint8_t *frame, uint16_t len,
		    uint16_t in_port, uint16_t cap, uint16_t headroom, uint8_t rx_csum, bool handed)
{
	struct pending *p;
	struct pkt_meta m;
	struct sums s;

	wi %= r->n_workers;
	if (r->nq[wi] == MAX_PENDING || len > cap)
		return;
	p = &r->q[wi][r->nq[wi]];
	p->size = (size_t)headroom + cap;
	p->mem = malloc(p->size);
	CHECK(p->mem != NULL);
	memset(p->mem, 0xee, (size_t)headroom + cap);
	memcpy(p->mem + headroom, frame, len);
	memcpy(p->in, frame, len);
	p->in_len = len;
	p->pk = (struct lb_pkt){.data = p->mem + headroom,
				.len = len,
				.cap = cap,
				.in_port = in_port,
				.handed = handed,
				.headroom = headroom};
	p->sums_ok = frame_sums(frame, len, &s, &m) && !s.ip_bad && !(s.l4_known && s.l4_bad);
	p->l4_ok = p->sums_ok && s.l4_known;
	p->in_syn = m.kind == PKT_KIND_IP && m.l4_proto == IPPROTO_TCP &&
		    m.frag != PKT_FRAG_LATER && (m.tcp_flags & 0x12) == 0x02;
	/* The port's checksum offload tells the truth, or is not there. */
	if (rx_csum == 1 && (s.ip_bad || (s.l4_known && s.l4_bad)))
		p->pk.rx_csum = LB_RX_CSUM_BAD;
	else if (rx_csum == 1 && m.kind == PKT_KIND_IP && !m.is_v6)
		p->pk.rx_csum = LB_RX_CSUM_IP_GOOD;
	r->nq[wi]++;
}

/* Checks one packet's verdict and, if it leaves, its frame. */
static void check_out(struct run *r, uint32_t wi, struct pending *p, uint32_t counts[5])
{
	const struct lb_pkt *pk = &p->pk;
	struct pkt_meta m;
	struct sums s;

	cur_pk = pk;
	memcpy(cur_in, p->in, p->in_len);
	cur_in_len = p->in_len;
	CHECK(pk->verdict <= LB_VERDICT_KERNEL);
	CHECK(pk->drop < LB_DROP_MAX);
	CHECK((pk->verdict == LB_VERDICT_DROP) == (pk->drop != LB_DROP_NONE));
	counts[pk->verdict]++;
	if (pk->verdict == LB_VERDICT_HANDOFF) {
		CHECK(!pk->handed);
		CHECK(pk->out_port < r->n_workers && pk->out_port != wi);
		return;
	}
	if (pk->verdict != LB_VERDICT_TX)
		return;
	/* Inside its buffer: from the start of the headroom to the end of the data room. */
	CHECK(pk->data >= p->mem && pk->data + pk->len <= p->mem + p->size);
	CHECK(pk->out_port < g.s->n_ports);
	CHECK(pk->len >= 14);
	CHECK(memcmp(pk->data + 6, PORT_MAC[pk->out_port], 6) == 0);
	CHECK(frame_sums(pk->data, pk->len, &s, &m) || (m.kind == PKT_KIND_ARP));
	if (m.kind == PKT_KIND_ARP)
		return;
	CHECK(m.ttl != 0);
	if (pk->answer)
		CHECK(!martian_dst(&m, pk->data));
	/*
	 * A backend's refusal (RST, ICMP) may go out as the connection's held
	 * SYN, re-sent to another backend: its TCP checksum is the client's
	 * SYN's, which this input did not carry.
	 */
	bool held_syn = !p->in_syn && m.l4_proto == IPPROTO_TCP && (m.tcp_flags & 0x12) == 0x02;
	if (p->sums_ok && pk->tx_offload == 0) {
		CHECK(!s.ip_bad);
		if ((p->l4_ok && !held_syn) || pk->answer)
			CHECK(!(s.l4_known && s.l4_bad));
	}
	if (!pk->answer && pk->in_port == P_CLIENTS && pk->out_port == P_BACKENDS && !pk->handed)
		record(r, pk, &m);
	cur_pk = NULL;
}

/* Runs worker <wi>'s queued packets as one burst; handed-off ones are queued for their owner. */
static void flush_one(struct run *r, uint32_t wi)
{
	struct lb_pkt pkts[MAX_PENDING];
	struct pending q[MAX_PENDING];
	uint64_t before[6], after[6];
	uint32_t n = r->nq[wi], counts[5] = {0};

	if (n == 0)
		return;
	memcpy(q, r->q[wi], sizeof(q[0]) * n);
	r->nq[wi] = 0;
	for (uint32_t i = 0; i < n; i++)
		pkts[i] = q[i].pk;
	counters_sum(r->w[wi]->ctr, before);
	lb_worker_process(r->w[wi], g.s, pkts, n, r->now);
	counters_sum(r->w[wi]->ctr, after);
	check_invariant(r->w[wi]->ctr);
	CHECK(after[0] - before[0] == n);
	for (uint32_t i = 0; i < n; i++) {
		q[i].pk = pkts[i];
		check_out(r, wi, &q[i], counts);
	}
	for (int v = 0; v < 5; v++)
		CHECK(after[v + 1] - before[v + 1] == counts[v]);
	for (uint32_t i = 0; i < n; i++) {
		const struct lb_pkt *pk = &q[i].pk;

		if (pk->verdict == LB_VERDICT_HANDOFF)
			enqueue(r, pk->out_port, pk->data, pk->len, pk->in_port, pk->cap,
				pk->headroom, 0, true);
		free(q[i].mem);
	}
}

static void flush(struct run *r)
{
	/* Handed-off packets join the other worker's queue: twice settles them. */
	for (int round = 0; round < 2; round++)
		for (uint32_t wi = 0; wi < r->n_workers; wi++)
			flush_one(r, wi);
}

/* ---- frame builders ---- */

static uint16_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type,
		    uint16_t vlan)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (vlan != 0) {
		wr16(f + 12, 0x8100);
		wr16(f + 14, vlan & 0x0fff);
		wr16(f + 16, type);
		return 18;
	}
	wr16(f + 12, type);
	return 14;
}

/* An IP header from <src> to <dst> for <l4len> bytes of <proto>; returns its length. */
static uint16_t ip_hdr(uint8_t *ip, const struct sl_addr *src, const struct sl_addr *dst,
		       uint8_t proto, uint16_t l4len, uint8_t ttl, bool df)
{
	if (sl_addr_is_v4(dst)) {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		wr16(ip + 2, (uint16_t)(20 + l4len));
		wr16(ip + 4, 0x1234);
		wr16(ip + 6, df ? 0x4000 : 0);
		ip[8] = ttl;
		ip[9] = proto;
		memcpy(ip + 12, sl_addr_v4_bytes(src), 4);
		memcpy(ip + 16, sl_addr_v4_bytes(dst), 4);
		return 20;
	}
	memset(ip, 0, 40);
	ip[0] = 0x60;
	wr16(ip + 4, l4len);
	ip[6] = proto;
	ip[7] = ttl;
	memcpy(ip + 8, src->b, 16);
	memcpy(ip + 24, dst->b, 16);
	return 40;
}

/* A client's source: ordinary ones mostly, sometimes one no client can have. */
static struct sl_addr client_src(uint8_t sel, bool v6, const struct vip_def *vd)
{
	static const char *const v4[] = {"192.0.2.7", "198.51.100.9",    "203.0.113.200",
					 "0.0.0.0",   "255.255.255.255", "127.0.0.1",
					 "224.0.0.1", "192.0.2.255"};
	static const char *const v6s[] = {
		"2001:db8:ffff::7", "2001:db8:aaaa::9", "2001:db8:ffff::8", "::", "ff02::1", "::1",
		"fe80::1",          "2001:db8:ffff::1"};
	struct sl_addr a;

	if ((sel & 7) == 7 && (sel & 8))
		return vd->addr; /* land */
	a = addr(v6 ? v6s[sel & 7] : v4[sel & 7]);
	if ((sel & 7) < 3 && (sel >> 4) != 0) {
		/* many distinct clients: vary the last byte */
		a.b[15] = (uint8_t)(a.b[15] + (sel >> 4));
	}
	return a;
}

static void op_built(struct run *r, struct reader *in, uint8_t op)
{
	uint8_t f[BUF_CAP];
	const struct vip_def *vd = &g.vips[u8(in) % g.n_vips];
	bool v6 = !sl_addr_is_v4(&vd->addr);
	uint8_t flags = u8(in), sel = u8(in), plen = u8(in) % 64, ttlsel = u8(in);
	uint16_t sport = u16(in), vlan = (op & 0x20) ? 100 : 0;
	uint8_t proto =
		(op & 0x40) ? (vd->proto == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP) : vd->proto;
	uint16_t l4len = (uint16_t)((proto == IPPROTO_TCP ? 20 : 8) + plen);
	struct sl_addr src = client_src(sel, v6, vd);
	uint8_t ttl = ttlsel < 4 ? ttlsel : 64;
	/* A broadcast source MAC now and then: no sender to answer. */
	const uint8_t *smac = (sel & 0x80) && (sel & 7) == 6 ? BCAST_MAC : CLIENT_MAC;
	uint16_t off = eth(f, PORT_MAC[P_CLIENTS], smac, v6 ? 0x86dd : 0x0800, vlan);
	uint8_t *ip = f + off;
	uint16_t hl = ip_hdr(ip, &src, &vd->addr, proto, l4len, ttl, ttlsel & 0x80);
	uint8_t *l4 = ip + hl, nmut;

	memset(l4, 0, l4len);
	wr16(l4, sport);
	wr16(l4 + 2, (ttlsel & 0x40) ? (uint16_t)(vd->port + 1) : vd->port);
	if (proto == IPPROTO_TCP) {
		wr16(l4 + 4, 0x0102);
		l4[12] = 5 << 4;
		l4[13] = flags;
		wr16(l4 + 14, 65535);
	} else {
		wr16(l4 + 4, l4len);
	}
	for (uint16_t i = 0; i < plen; i++)
		l4[l4len - plen + i] = (uint8_t)(i * 7 + 1);
	fix_sums(ip);
	uint16_t len = (uint16_t)(off + hl + l4len);
	/* A few bytes flipped after the checksums: lies and damage. */
	nmut = u8(in) % 4;
	for (uint8_t i = 0; i < nmut; i++) {
		uint16_t at = u16(in) % len;
		f[at] ^= u8(in);
	}
	enqueue(r, op >> 7, f, len, P_CLIENTS, (op & 0x10) ? len : BUF_CAP,
		(op & 0x08) ? 0 : HEADROOM, 1, false);
}

/* A backend's reply (or ICMP error) to a frame the pipeline sent it. */
static void op_reply(struct run *r, struct reader *in, uint8_t op)
{
	uint32_t k = u8(in) % N_RECORDS;
	uint8_t flags = u8(in), f[BUF_CAP], *ip;
	uint16_t len = r->rec_len[k], l3;
	struct pkt_meta m;

	if (len == 0 || parse_packet(r->rec[k], len, &m) != PARSE_OK || m.kind != PKT_KIND_IP)
		return;
	l3 = m.l3_off;
	if (op & 0x08) {
		/* ICMP destination/port unreachable from the backend, quoting the frame. */
		uint16_t q = (uint16_t)((m.l3_end - l3) < 64 ? (m.l3_end - l3) : 64);
		uint16_t l4len = (uint16_t)(8 + q);
		uint16_t off = eth(f, r->rec[k] + 6, r->rec[k], m.is_v6 ? 0x86dd : 0x0800, 0);
		uint16_t hl;

		ip = f + off;
		hl = ip_hdr(ip, &m.dst, &m.src, m.is_v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, l4len, 64,
			    false);
		memset(ip + hl, 0, 8);
		ip[hl] = m.is_v6 ? 1 : 3;
		ip[hl + 1] = m.is_v6 ? 4 : (flags & 1 ? 3 : 1);
		memcpy(ip + hl + 8, r->rec[k] + l3, q);
		fix_sums(ip);
		len = (uint16_t)(off + hl + l4len);
	} else {
		uint8_t tmp[16];
		uint16_t alen = m.is_v6 ? 16 : 4, a = m.is_v6 ? 8 : 12;

		memcpy(f, r->rec[k], len);
		memcpy(f, r->rec[k] + 6, 6);
		memcpy(f + 6, r->rec[k], 6);
		ip = f + l3;
		memcpy(tmp, ip + a, alen);
		memcpy(ip + a, ip + a + alen, alen);
		memcpy(ip + a + alen, tmp, alen);
		memcpy(tmp, f + m.l4_off, 2);
		memcpy(f + m.l4_off, f + m.l4_off + 2, 2);
		memcpy(f + m.l4_off + 2, tmp, 2);
		if (m.is_v6)
			ip[7] = 64;
		else
			ip[8] = 64;
		if (m.l4_proto == IPPROTO_TCP)
			f[m.l4_off + 13] = flags;
		fix_sums(ip);
	}
	enqueue(r, op >> 7, f, len, P_BACKENDS, BUF_CAP, HEADROOM, (op >> 4) & 1, false);
}

/* An ICMP echo, ARP request or neighbour solicitation for a VIP, from a client. */
static void op_ask(struct run *r, struct reader *in, uint8_t op)
{
	const struct vip_def *vd = &g.vips[u8(in) % g.n_vips];
	uint8_t sel = u8(in), f[BUF_CAP], *ip;
	bool v6 = !sl_addr_is_v4(&vd->addr);
	struct sl_addr src = client_src(sel, v6, vd);
	uint16_t off, len, hl;

	if ((op & 0x08) && !v6) {
		/* ARP request: who has the VIP? */
		off = eth(f, BCAST_MAC, CLIENT_MAC, 0x0806, 0);
		static const uint8_t arp_hdr[8] = {0, 1, 8, 0, 6, 4, 0, 1};
		memcpy(f + off, arp_hdr, 8);
		memcpy(f + off + 8, CLIENT_MAC, 6);
		memcpy(f + off + 14, sl_addr_v4_bytes(&src), 4);
		memset(f + off + 18, 0, 6);
		memcpy(f + off + 24, sl_addr_v4_bytes(&vd->addr), 4);
		len = (uint16_t)(off + 28);
	} else if (op & 0x08) {
		/* Neighbour solicitation for the VIP, with a source link-layer option. */
		struct sl_addr sn = addr("ff02::1:ff00:0");
		static const uint8_t snmac[6] = {0x33, 0x33, 0xff, 0, 0, 0};
		uint8_t mac[6];

		memcpy(mac, snmac, 6);
		memcpy(mac + 3, vd->addr.b + 13, 3);
		memcpy(sn.b + 13, vd->addr.b + 13, 3);
		off = eth(f, mac, CLIENT_MAC, 0x86dd, 0);
		ip = f + off;
		hl = ip_hdr(ip, &src, &sn, IPPROTO_ICMPV6, 32, 255, false);
		memset(ip + hl, 0, 32);
		ip[hl] = 135;
		memcpy(ip + hl + 8, vd->addr.b, 16);
		ip[hl + 24] = 1;
		ip[hl + 25] = 1;
		memcpy(ip + hl + 26, CLIENT_MAC, 6);
		fix_sums(ip);
		len = (uint16_t)(off + hl + 32);
	} else {
		uint16_t plen = u8(in) % 64, l4len = (uint16_t)(8 + plen);

		off = eth(f, PORT_MAC[P_CLIENTS], CLIENT_MAC, v6 ? 0x86dd : 0x0800, 0);
		ip = f + off;
		hl = ip_hdr(ip, &src, &vd->addr, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, l4len, 64,
			    false);
		memset(ip + hl, 0, l4len);
		ip[hl] = v6 ? 128 : 8;
		wr16(ip + hl + 4, 0x4242);
		for (uint16_t i = 0; i < plen; i++)
			ip[hl + 8 + i] = (uint8_t)i;
		fix_sums(ip);
		len = (uint16_t)(off + hl + l4len);
	}
	enqueue(r, op >> 7, f, len, P_CLIENTS, (op & 0x10) ? len : BUF_CAP, HEADROOM, 1, false);
}

static void op_time(struct run *r, struct reader *in, uint8_t op)
{
	switch ((op >> 3) & 3) {
	case 0:
		r->now += u8(in);
		break;
	case 1:
		r->now += u8(in) * 100u;
		break;
	case 2:
		r->now += u16(in) * 1000u; /* up to 18 h: every timeout passes */
		break;
	default:
		r->now = u32(in); /* anywhere, backwards and across the wrap included */
		break;
	}
}

static void op_resend(struct run *r, uint32_t wi)
{
	struct lb_pkt pkts[LB_RESEND_MAX];
	struct pending q[LB_RESEND_MAX];
	struct lb_worker *w = r->w[wi];
	uint64_t before[6], after[6];
	uint32_t n, counts[5] = {0};

	if (!lb_worker_resend_due(w, r->now))
		return;
	for (uint32_t i = 0; i < LB_RESEND_MAX; i++) {
		q[i].size = HEADROOM + BUF_CAP;
		q[i].mem = malloc(q[i].size);
		CHECK(q[i].mem != NULL);
		q[i].sums_ok = false;
		q[i].l4_ok = false;
		q[i].in_len = 0;
		q[i].in_syn = false;
		pkts[i] = (struct lb_pkt){
			.data = q[i].mem + HEADROOM, .cap = BUF_CAP, .headroom = HEADROOM};
	}
	counters_sum(w->ctr, before);
	n = lb_worker_resend(w, g.s, pkts, LB_RESEND_MAX, r->now);
	counters_sum(w->ctr, after);
	CHECK(n <= LB_RESEND_MAX);
	CHECK(after[0] - before[0] == n);
	check_invariant(w->ctr);
	for (uint32_t i = 0; i < n; i++) {
		q[i].pk = pkts[i];
		check_out(r, wi, &q[i], counts);
		if (pkts[i].verdict == LB_VERDICT_HANDOFF)
			enqueue(r, pkts[i].out_port, pkts[i].data, pkts[i].len, pkts[i].in_port,
				pkts[i].cap, pkts[i].headroom, 0, true);
	}
	for (int v = 0; v < 5; v++)
		CHECK(after[v + 1] - before[v + 1] == counts[v]);
	for (uint32_t i = 0; i < LB_RESEND_MAX; i++)
		free(q[i].mem);
}

/*
 * Workers. Creating lcore i of 2 sets its source-port map one bit at a
 * time (ports_init: 2 million steps, 5 ms, the harness's whole budget), the
 * same way for every input; so lcore i of 2 is made from a cheap lcore 0 of
 * 1 given the fields and the port map a real lcore i of 2 had (made once,
 * at start-up, and compared field by field with its copy there).
 */
static struct lb_worker *tmpl[2];
static size_t port_map_bytes;

static struct lb_worker *new_worker(uint32_t index, uint32_t n, uint32_t capacity)
{
	struct flow_timeouts to;
	struct lb_worker *w;

	flow_timeouts_default(&to);
	w = lb_worker_create(0, 1, capacity, &to, g.nt, g.load);
	CHECK(w != NULL);
	if (n == 2) {
		w->index = index;
		w->n_workers = n;
		w->port_base = tmpl[index]->port_base;
		w->port_count = tmpl[index]->port_count;
		memcpy(w->port_map, tmpl[index]->port_map, port_map_bytes);
	}
	return w;
}

static void make_templates(void)
{
	struct flow_timeouts to;

	flow_timeouts_default(&to);
	port_map_bytes = (size_t)LB_MAX_LADDRS * 1008 * sizeof(uint64_t); /* lb_worker.h */
	for (uint32_t i = 0; i < 2; i++) {
		struct lb_worker *w;

		tmpl[i] = lb_worker_create(i, 2, 16, &to, g.nt, g.load);
		CHECK(tmpl[i] != NULL);
		w = new_worker(i, 2, 16);
		CHECK(w->index == tmpl[i]->index && w->n_workers == tmpl[i]->n_workers);
		CHECK(w->port_base == tmpl[i]->port_base && w->port_count == tmpl[i]->port_count);
		CHECK(memcmp(w->ports_used, tmpl[i]->ports_used, sizeof(w->ports_used)) == 0);
		CHECK(memcmp(w->port_seq, tmpl[i]->port_seq, sizeof(w->port_seq)) == 0);
		lb_worker_free(w);
	}
}

/* FUZZ_VERBOSE=1: what each worker counted, to see what an input reaches. */
static void print_counters(uint32_t wi, const struct lb_counters *c)
{
	fprintf(stderr,
		"worker %u: rx %llu fwd %llu replied %llu mgmt %llu handoff %llu kernel %llu", wi,
		(unsigned long long)c->rx, (unsigned long long)c->fwd,
		(unsigned long long)c->replied, (unsigned long long)c->to_mgmt,
		(unsigned long long)c->handoff, (unsigned long long)c->to_kernel);
	fprintf(stderr, " nat_replies %llu icmp %llu redispatched %llu refused %llu",
		(unsigned long long)c->nat_replies, (unsigned long long)c->icmp_translated,
		(unsigned long long)c->redispatched, (unsigned long long)c->refused);
	for (int i = 0; i < LB_DROP_MAX; i++)
		if (c->drop[i] != 0)
			fprintf(stderr, " %s %llu", lb_drop_name((enum lb_drop)i),
				(unsigned long long)c->drop[i]);
	fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	struct reader in = {data, size};
	uint8_t cfg;

	if (g.m == NULL) {
		setup();
		make_templates();
	}
	memset(&r, 0, sizeof(r));
	cfg = u8(&in);
	r.n_workers = (cfg & 1) ? 2 : 1;
	r.now = (cfg & 2) ? 0xfffff000u : 1000; /* near the 32-bit wrap, or not */
	for (uint32_t i = 0; i < r.n_workers; i++)
		r.w[i] = new_worker(i, r.n_workers, (cfg & 4) ? 16 : 256);
	for (int ops = 0; ops < MAX_OPS && in.left > 0; ops++) {
		uint8_t op = u8(&in);

		switch (op & 7) {
		case 0: {
			uint16_t len = u16(&in) % BUF_CAP;

			if (len > in.left)
				len = (uint16_t)in.left;
			enqueue(&r, op >> 7, in.p, len, (op >> 3) & 1,
				(op & 0x10) ? (len < 14 ? 14 : len) : BUF_CAP,
				(op & 0x20) ? 0 : HEADROOM, (op >> 6) & 1, false);
			in.p += len;
			in.left -= len;
			break;
		}
		case 1:
			op_built(&r, &in, op);
			break;
		case 2:
			op_reply(&r, &in, op);
			break;
		case 3:
			op_ask(&r, &in, op);
			break;
		case 4:
			flush(&r);
			break;
		case 5:
			flush(&r);
			op_time(&r, &in, op);
			break;
		case 6:
			flush(&r);
			lb_worker_sweep(r.w[(op >> 3) % r.n_workers], r.now, (op >> 4) * 16u);
			break;
		default:
			flush(&r);
			op_resend(&r, (op >> 3) % r.n_workers);
			break;
		}
	}
	flush(&r);
	flush(&r);
	for (uint32_t i = 0; i < r.n_workers; i++) {
		check_invariant(r.w[i]->ctr);
		if (getenv("FUZZ_VERBOSE") != NULL)
			print_counters(i, r.w[i]->ctr);
		for (uint32_t k = 0; k < r.nq[i]; k++)
			free(r.q[i][k].mem);
		lb_worker_free(r.w[i]);
	}
	return 0;
}
