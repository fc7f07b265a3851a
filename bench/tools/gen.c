/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen: a small DPDK traffic generator for Sluice's benchmarks.
 *
 *   sluice-gen [EAL options] -- [options]
 *
 * Sends TCP or UDP frames of one size to a VIP over a set of flows from one
 * lcore, counts what comes back on the same port, and prints one JSON object:
 * offered and returned packets and Mpps, loss. Two patterns:
 *
 *   est  the same <flows> 5-tuples over and over (established connections:
 *        TCP ACKs, so the balancer picks them up mid-stream);
 *   new  every packet a new 5-tuple (TCP SYNs: a connection-rate test).
 *
 * Flow i comes from 198.19.<i & 0xffff> (--src), port 1024 + (i >> 16), so
 * up to 2^16 * 64512 distinct flows.
 *
 * Counting. "offered" is every packet the generator built and handed to the
 * port; "refused" the part the port did not take (on net_memif: the peer's
 * RX ring was full, the equivalent of a NIC's imissed); "returned" what came
 * back. The rates are measured over the window after --warmup (which also
 * covers one full pass over the flows, so the balancer has them all); the
 * totals cover the whole run, and after the last packet is sent the
 * generator keeps receiving for --drain-ms, so total loss is exact:
 *   lost = offered_total - returned_total (refused packets included).
 * gen_wait_ms is the time this thread waited for its CPU during the window
 * (schedstat): other tasks on the generator's core make it non-zero.
 *
 * Speed: the TX pool's mbufs are written with the frame template once, at
 * pool creation; per packet only the source address, source port, TCP flags
 * and the two checksums (incrementally) are written. RX uses its own pool so
 * rewritten frames never come back as templates.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#define BURST         32
#define TX_POOL_SIZE  8191
#define RX_POOL_SIZE  8191
#define RING_DESC     1024
#define MAX_SAMPLES   4096
#define SPORT_BASE    1024u
#define SPORT_SPAN    64512u /* source ports 1024..65535 */
#define MIN_FRAME     60     /* 64 bytes on the wire with the FCS */
#define MAX_FRAME     1514
#define FCS_LEN       4
#define TCP_FLAG_SYN  0x02
#define TCP_FLAG_ACK  0x10
#define L2L3_LEN      (RTE_ETHER_HDR_LEN + 20)
#define OFF_IP_SRC    (RTE_ETHER_HDR_LEN + 12)
#define OFF_IP_CSUM   (RTE_ETHER_HDR_LEN + 10)
#define OFF_SPORT     L2L3_LEN
#define OFF_TCP_FLAGS (L2L3_LEN + 13)
#define OFF_TCP_CSUM  (L2L3_LEN + 16)
#define OFF_UDP_CSUM  (L2L3_LEN + 6)

enum pattern { PAT_EST, PAT_NEW };

struct gen_opts {
	enum pattern pattern;
	uint64_t flows;
	uint16_t size; /* on the wire, with the FCS (pktgen's convention) */
	uint8_t proto;
	uint32_t vip; /* host order */
	uint16_t vport;
	uint32_t src_base; /* host order */
	struct rte_ether_addr dst_mac;
	double duration_s;
	double warmup_s;
	double rate_mpps; /* 0: as fast as the port takes them */
	uint32_t drain_ms;
	uint32_t link_wait_ms;
	uint32_t interval_ms; /* 0: no samples */
	uint16_t port;
	const char *label;
};

struct sample {
	double t_s;
	uint64_t offered;
	uint64_t returned;
};

struct gen_counts {
	uint64_t offered;
	uint64_t refused;
	uint64_t returned;
};

static volatile bool quit;
static uint8_t tmpl[MAX_FRAME];
static uint16_t frame_len;
static uint16_t tmpl_ip_csum;  /* IPv4 header checksum with source 0, not inverted */
static uint16_t tmpl_l4_csum;  /* L4 checksum with source 0 and sport 0, not inverted */
static uint16_t l4_csum_off;   /* where the L4 checksum goes */
static uint8_t tcp_flags_sent; /* TCP_FLAG_ACK (est) or TCP_FLAG_SYN (new) */

static void on_signal(int sig)
{
	(void)sig;
	quit = true;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [EAL options] -- [options]\n"
		"  --pattern est|new     same flows over and over, or a new flow per packet (est)\n"
		"  --flows N             flows of the est pattern, 1..4227858432 (1024)\n"
		"  --size BYTES          frame size on the wire with FCS, 64..1518 (64)\n"
		"  --proto tcp|udp       (tcp)\n"
		"  --vip ADDR            destination IPv4 address (198.18.1.100)\n"
		"  --vport PORT          destination port (80)\n"
		"  --src ADDR            first client address; the flows use the /16 (198.19.0.0)\n"
		"  --dst-mac MAC         destination MAC: the balancer's port (02:00:00:00:00:02)\n"
		"  --duration S          measured window (2)\n"
		"  --warmup S            before the window; at least one pass over the flows "
		"(0.5)\n"
		"  --rate MPPS           offered rate; 0 = as fast as the port takes them (0)\n"
		"  --drain-ms N          keep receiving after the last packet (200)\n"
		"  --link-wait-ms N      wait this long for the link (10000)\n"
		"  --interval-ms N       add samples (offered, returned) every N ms (0: none)\n"
		"  --port N              DPDK port id (0)\n"
		"  --label TEXT          copied into the JSON output\n",
		prog);
}

static int parse_mac(const char *s, struct rte_ether_addr *mac)
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac->addr_bytes[i] = (uint8_t)b[i];
	}
	return 0;
}

static int parse_ip4(const char *s, uint32_t *ip)
{
	unsigned int a, b, c, d;
	char tail;

	if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 ||
	    c > 255 || d > 255)
		return -EINVAL;
	*ip = a << 24 | b << 16 | c << 8 | d;
	return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
		return -EINVAL;
	*out = v;
	return 0;
}

/* The value <arg> of option <c> into <o>: 0, or -EINVAL when it is not one. */
static int parse_opt(int c, const char *arg, struct gen_opts *o)
{
	uint64_t v = 0; /* parse_u64() leaves it unset on a bad value, then unused */
	int rc = 0;

	switch (c) {
	case 'p':
		if (strcmp(arg, "est") == 0)
			o->pattern = PAT_EST;
		else if (strcmp(arg, "new") == 0)
			o->pattern = PAT_NEW;
		else
			rc = -EINVAL;
		return rc;
	case 'f':
		return parse_u64(arg, 1, (uint64_t)65536 * SPORT_SPAN, &o->flows);
	case 's':
		rc = parse_u64(arg, MIN_FRAME + FCS_LEN, MAX_FRAME + FCS_LEN, &v);
		o->size = (uint16_t)v;
		return rc;
	case 'P':
		if (strcmp(arg, "tcp") == 0)
			o->proto = IPPROTO_TCP;
		else if (strcmp(arg, "udp") == 0)
			o->proto = IPPROTO_UDP;
		else
			rc = -EINVAL;
		return rc;
	case 'v':
		return parse_ip4(arg, &o->vip);
	case 'V':
		rc = parse_u64(arg, 1, 65535, &v);
		o->vport = (uint16_t)v;
		return rc;
	case 'S':
		rc = parse_ip4(arg, &o->src_base);
		o->src_base &= 0xffff0000u;
		return rc;
	case 'm':
		return parse_mac(arg, &o->dst_mac);
	case 'd':
		return parse_double(arg, 0.01, 3600, &o->duration_s);
	case 'w':
		return parse_double(arg, 0, 3600, &o->warmup_s);
	case 'r':
		return parse_double(arg, 0, 1000, &o->rate_mpps);
	case 'D':
		rc = parse_u64(arg, 0, 60000, &v);
		o->drain_ms = (uint32_t)v;
		return rc;
	case 'L':
		rc = parse_u64(arg, 0, 600000, &v);
		o->link_wait_ms = (uint32_t)v;
		return rc;
	case 'i':
		rc = parse_u64(arg, 0, 60000, &v);
		o->interval_ms = (uint32_t)v;
		return rc;
	case 'o':
		rc = parse_u64(arg, 0, RTE_MAX_ETHPORTS - 1, &v);
		o->port = (uint16_t)v;
		return rc;
	case 'l':
		o->label = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Parses the options after "--". Returns 0, 1 (--help) or -EINVAL (message printed). */
static int parse_args(int argc, char **argv, struct gen_opts *o)
{
	static const struct option opts[] = {
		{"pattern", required_argument, NULL, 'p'},
		{"flows", required_argument, NULL, 'f'},
		{"size", required_argument, NULL, 's'},
		{"proto", required_argument, NULL, 'P'},
		{"vip", required_argument, NULL, 'v'},
		{"vport", required_argument, NULL, 'V'},
		{"src", required_argument, NULL, 'S'},
		{"dst-mac", required_argument, NULL, 'm'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"rate", required_argument, NULL, 'r'},
		{"drain-ms", required_argument, NULL, 'D'},
		{"link-wait-ms", required_argument, NULL, 'L'},
		{"interval-ms", required_argument, NULL, 'i'},
		{"port", required_argument, NULL, 'o'},
		{"label", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, idx = 0, rc = 0;

	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		if (c == 'h') {
			usage(argv[0]);
			return 1;
		}
		if (c == '?' || c == ':') {
			usage(argv[0]);
			return -EINVAL;
		}
		rc = parse_opt(c, optarg, o);
		if (rc < 0)
			fprintf(stderr, "sluice-gen: bad value for --%s: \"%s\"\n", opts[idx].name,
				optarg);
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "sluice-gen: unexpected argument \"%s\"\n", argv[optind]);
		rc = -EINVAL;
	}
	return rc;
}

/* Ones'-complement sum of <len> bytes (even), not folded past 32 bits. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t acc)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/*
 * Builds the frame template with source address 0 and source port 0, and
 * the checksums of that template (not inverted), to which each packet adds
 * its source address and port.
 */
static void build_template(const struct gen_opts *o, const struct rte_ether_addr *src_mac)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)tmpl;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(tmpl + RTE_ETHER_HDR_LEN);
	uint8_t *l4 = tmpl + L2L3_LEN;
	uint16_t l4_len;
	uint32_t acc;

	frame_len = (uint16_t)(o->size - FCS_LEN);
	memset(tmpl, 0, sizeof(tmpl));
	eth->dst_addr = o->dst_mac;
	eth->src_addr = *src_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(frame_len - RTE_ETHER_HDR_LEN));
	ip->time_to_live = 64;
	ip->next_proto_id = o->proto;
	ip->dst_addr = rte_cpu_to_be_32(o->vip);
	tmpl_ip_csum = fold(sum16((const uint8_t *)ip, 20, 0));

	l4_len = (uint16_t)(frame_len - L2L3_LEN);
	if (o->proto == IPPROTO_TCP) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)l4;
		tcp->dst_port = rte_cpu_to_be_16(o->vport);
		tcp->sent_seq = rte_cpu_to_be_32(1);
		tcp->data_off = 5 << 4;
		tcp->tcp_flags = tcp_flags_sent;
		tcp->rx_win = rte_cpu_to_be_16(0xffff);
		l4_csum_off = OFF_TCP_CSUM;
	} else {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;
		udp->dst_port = rte_cpu_to_be_16(o->vport);
		udp->dgram_len = rte_cpu_to_be_16(l4_len);
		l4_csum_off = OFF_UDP_CSUM;
	}
	/* Pseudo header (source address added per packet) + segment. */
	acc = (o->vip >> 16) + (o->vip & 0xffff) + o->proto + l4_len;
	tmpl_l4_csum = fold(sum16(l4, l4_len, acc));
}

/* Writes the template into every mbuf of the TX pool once (rte_mempool_obj_iter). */
static void write_template(struct rte_mempool *mp, void *arg, void *obj, unsigned int idx)
{
	struct rte_mbuf *m = obj;

	(void)mp;
	(void)arg;
	(void)idx;
	memcpy((uint8_t *)m->buf_addr + RTE_PKTMBUF_HEADROOM, tmpl, frame_len);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The 5-tuple of flow number <i>: address base + low 16 bits, port from the rest. */
static inline void stamp(struct rte_mbuf *m, uint32_t src_base, uint64_t i)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t lo = (uint32_t)(i & 0xffff);
	uint16_t sport = (uint16_t)(SPORT_BASE + (uint32_t)((i >> 16) % SPORT_SPAN));
	uint32_t src = src_base | lo;
	uint32_t ipsum = (uint32_t)tmpl_ip_csum + (src >> 16) + lo;
	uint32_t l4sum = (uint32_t)tmpl_l4_csum + (src >> 16) + lo + sport;

	m->data_len = frame_len;
	m->pkt_len = frame_len;
	put16(p + OFF_IP_SRC, (uint16_t)(src >> 16));
	put16(p + OFF_IP_SRC + 2, (uint16_t)lo);
	put16(p + OFF_IP_CSUM, (uint16_t)~fold(ipsum));
	put16(p + OFF_SPORT, sport);
	put16(p + l4_csum_off, (uint16_t)~fold(l4sum));
}

static int port_init(uint16_t port, struct rte_mempool *rx_pool)
{
	struct rte_eth_conf conf;
	uint16_t rxd = RING_DESC, txd = RING_DESC;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port, 0, rxd, rte_eth_dev_socket_id(port), NULL,
					    rx_pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, txd, rte_eth_dev_socket_id(port), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc < 0)
		fprintf(stderr, "sluice-gen: port %u set-up failed: %s\n", port, rte_strerror(-rc));
	return rc;
}

static int wait_link(uint16_t port, uint32_t wait_ms)
{
	uint64_t hz = rte_get_tsc_hz();
	uint64_t end = rte_rdtsc() + (uint64_t)wait_ms * (hz / 1000);
	struct rte_eth_link link;

	do {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status)
			return 0;
		rte_delay_ms(10);
	} while (!quit && rte_rdtsc() < end);
	fprintf(stderr, "sluice-gen: port %u: no link after %u ms (is the peer up?)\n", port,
		wait_ms);
	return -ETIMEDOUT;
}

/*
 * This thread's CPU time and time spent waiting for a CPU (ns), from
 * /proc/thread-self/schedstat; zeros where the kernel has no schedstats.
 * The wait is what other tasks took from the generator during the run.
 */
static void sched_times(uint64_t *cpu_ns, uint64_t *wait_ns)
{
	unsigned long long c = 0, w = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (f != NULL) {
		if (fscanf(f, "%llu %llu", &c, &w) != 2)
			c = w = 0;
		fclose(f);
	}
	*cpu_ns = c;
	*wait_ns = w;
}

static inline void receive(uint16_t port, struct gen_counts *c)
{
	struct rte_mbuf *rx[BURST];
	uint16_t n;
	int rounds = 0;

	do {
		n = rte_eth_rx_burst(port, 0, rx, BURST);
		if (n == 0)
			break;
		c->returned += n;
		rte_pktmbuf_free_bulk(rx, n);
	} while (n == BURST && ++rounds < 4);
}

static double json_rate(uint64_t pkts, double s)
{
	return s > 0 ? (double)pkts / s / 1e6 : 0;
}

static void print_result(const struct gen_opts *o, const struct gen_counts *win, double win_s,
			 const struct gen_counts *tot, uint64_t flows_sent, double wait_ms,
			 const struct sample *samples, uint32_t n_samples)
{
	uint64_t lost = tot->offered > tot->returned ? tot->offered - tot->returned : 0;
	double win_loss = win->offered ? 1.0 - (double)win->returned / (double)win->offered : 0.0;

	if (win_loss < 0)
		win_loss = 0; /* packets sent before the window that came back in it */
	printf("{\"label\":\"%s\",\"pattern\":\"%s\",\"proto\":\"%s\",\"flows\":%" PRIu64
	       ",\"size\":%u,\"rate_target_mpps\":%.3f,\"window_s\":%.4f,"
	       "\"offered\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"returned\":%" PRIu64
	       ",\"offered_mpps\":%.4f,\"returned_mpps\":%.4f,\"loss\":%.6f,"
	       "\"total_offered\":%" PRIu64 ",\"total_refused\":%" PRIu64
	       ",\"total_returned\":%" PRIu64 ",\"total_lost\":%" PRIu64
	       ",\"distinct_flows_sent\":%" PRIu64 ",\"gen_wait_ms\":%.3f",
	       o->label ? o->label : "", o->pattern == PAT_EST ? "est" : "new",
	       o->proto == IPPROTO_TCP ? "tcp" : "udp",
	       o->pattern == PAT_EST ? o->flows : flows_sent, o->size, o->rate_mpps, win_s,
	       win->offered, win->refused, win->returned, json_rate(win->offered, win_s),
	       json_rate(win->returned, win_s), win_loss, tot->offered, tot->refused, tot->returned,
	       lost, flows_sent, wait_ms);
	if (n_samples > 0) {
		printf(",\"samples\":[");
		for (uint32_t i = 0; i < n_samples; i++)
			printf("%s[%.3f,%" PRIu64 ",%" PRIu64 "]", i ? "," : "", samples[i].t_s,
			       samples[i].offered, samples[i].returned);
		printf("]");
	}
	printf("}\n");
	fflush(stdout);
}

/* One burst of the next flows' packets, if buffers are free; counted in <c>. */
static void send_burst(const struct gen_opts *o, struct rte_mempool *tx_pool, uint64_t *next_flow,
		       struct gen_counts *c)
{
	struct rte_mbuf *tx[BURST];
	uint16_t sent;

	if (rte_pktmbuf_alloc_bulk(tx_pool, tx, BURST) != 0)
		return;
	for (int i = 0; i < BURST; i++) {
		uint64_t f = (*next_flow)++;
		if (o->pattern == PAT_EST)
			f %= o->flows;
		stamp(tx[i], o->src_base, f);
	}
	sent = rte_eth_tx_burst(o->port, 0, tx, BURST);
	if (sent < BURST)
		rte_pktmbuf_free_bulk(&tx[sent], BURST - sent);
	c->offered += BURST;
	c->refused += BURST - sent;
}

/*
 * The run: warm-up, measured window, then drain. One lcore does both TX and
 * RX, so the generator needs nothing but its own core.
 */
static int run(const struct gen_opts *o, struct rte_mempool *tx_pool)
{
	const uint64_t hz = rte_get_tsc_hz();
	const double tsc_per_pkt = o->rate_mpps > 0 ? (double)hz / (o->rate_mpps * 1e6) : 0;
	const uint64_t t0 = rte_rdtsc();
	const uint64_t warm_end_min = t0 + (uint64_t)(o->warmup_s * (double)hz);
	const uint64_t interval = (uint64_t)o->interval_ms * (hz / 1000);
	struct sample *samples = NULL;
	uint32_t n_samples = 0;
	struct gen_counts c = {0}, at_start = {0}, win = {0};
	uint64_t next_flow = 0, win_start = 0, win_end = 0, next_sample = t0 + interval;
	uint64_t cpu0 = 0, wait0 = 0, cpu1 = 0, wait1 = 0;
	double next_tx = (double)t0;
	bool in_window = false;

	if (o->interval_ms > 0) {
		samples = calloc(MAX_SAMPLES, sizeof(*samples));
		if (samples == NULL)
			return -ENOMEM;
	}
	while (!quit) {
		uint64_t now = rte_rdtsc();

		if (!in_window && now >= warm_end_min &&
		    (o->pattern == PAT_NEW || next_flow >= o->flows)) {
			in_window = true;
			win_start = now;
			win_end = now + (uint64_t)(o->duration_s * (double)hz);
			at_start = c;
			sched_times(&cpu0, &wait0);
		} else if (in_window && now >= win_end) {
			break;
		}
		if (interval && now >= next_sample && n_samples < MAX_SAMPLES) {
			samples[n_samples++] = (struct sample){
				.t_s = (double)(now - t0) / (double)hz,
				.offered = c.offered,
				.returned = c.returned,
			};
			next_sample += interval;
		}
		if (tsc_per_pkt == 0 || (double)now >= next_tx) {
			send_burst(o, tx_pool, &next_flow, &c);
			if (tsc_per_pkt > 0) {
				next_tx += BURST * tsc_per_pkt;
				/* Descheduled for more than 1 ms: do not burst to catch up. */
				if ((double)now - next_tx > (double)hz / 1000)
					next_tx = (double)now;
			}
		}
		receive(o->port, &c);
	}
	win_end = rte_rdtsc();
	sched_times(&cpu1, &wait1);
	win.offered = c.offered - at_start.offered;
	win.refused = c.refused - at_start.refused;
	win.returned = c.returned - at_start.returned;

	/* Drain: what is still in flight comes back. */
	uint64_t drain_end = rte_rdtsc() + (uint64_t)o->drain_ms * (hz / 1000);
	while (rte_rdtsc() < drain_end)
		receive(o->port, &c);

	/* new: every packet the port took was a flow of its own. */
	uint64_t flows_sent = o->pattern == PAT_EST ? (next_flow < o->flows ? next_flow : o->flows)
						    : c.offered - c.refused;
	print_result(o, &win, in_window ? (double)(win_end - win_start) / (double)hz : 0, &c,
		     flows_sent, in_window ? (double)(wait1 - wait0) / 1e6 : 0, samples, n_samples);
	free(samples);
	return in_window ? 0 : -EINTR;
}

int main(int argc, char **argv)
{
	struct gen_opts o = {
		.pattern = PAT_EST,
		.flows = 1024,
		.size = 64,
		.proto = IPPROTO_TCP,
		.vip = 198u << 24 | 18u << 16 | 1u << 8 | 100u,
		.vport = 80,
		.src_base = 198u << 24 | 19u << 16,
		.dst_mac = {{0x02, 0, 0, 0, 0, 0x02}},
		.duration_s = 2,
		.warmup_s = 0.5,
		.drain_ms = 200,
		.link_wait_ms = 10000,
	};
	struct rte_mempool *tx_pool, *rx_pool;
	struct rte_ether_addr src_mac;
	int rc;

	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "sluice-gen: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	rc = parse_args(argc - rc, argv + rc, &o);
	if (rc != 0) {
		rte_eal_cleanup();
		return rc > 0 ? 0 : 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!rte_eth_dev_is_valid_port(o.port)) {
		fprintf(stderr, "sluice-gen: no DPDK port %u (give one with --vdev)\n", o.port);
		rte_eal_cleanup();
		return 1;
	}
	tcp_flags_sent = o.pattern == PAT_EST ? TCP_FLAG_ACK : TCP_FLAG_SYN;
	rte_eth_macaddr_get(o.port, &src_mac);
	build_template(&o, &src_mac);

	tx_pool = rte_pktmbuf_pool_create("gen_tx", TX_POOL_SIZE, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	rx_pool = rte_pktmbuf_pool_create("gen_rx", RX_POOL_SIZE, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (tx_pool == NULL || rx_pool == NULL) {
		fprintf(stderr, "sluice-gen: cannot create the mbuf pools: %s\n",
			rte_strerror(rte_errno));
		rte_eal_cleanup();
		return 1;
	}
	rte_mempool_obj_iter(tx_pool, write_template, NULL);

	rc = port_init(o.port, rx_pool);
	if (rc == 0)
		rc = wait_link(o.port, o.link_wait_ms);
	if (rc == 0) {
		fprintf(stderr, "sluice-gen: link up, sending\n");
		rc = run(&o, tx_pool);
		if (rc == -EINTR)
			fprintf(stderr, "sluice-gen: interrupted before the measured window\n");
	}
	/* Traffic has stopped: the peer may now see the link go. */
	rte_eth_dev_stop(o.port);
	rte_eth_dev_close(o.port);
	rte_eal_cleanup();
	return rc == 0 ? 0 : 1;
}
