/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-dataplane [EAL options] -- --config FILE [options]
 *
 * Start-up only: load and check the configuration, add the configured ports
 * to the EAL arguments, set up ports, workers and the management thread,
 * then run a worker on the main lcore too. Only this file may exit.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dp.h"
#include "unix_sock.h"
#include "flow.h"
#ifdef SLUICE_HAVE_BPF
#include "steer.h"
#endif

struct dp g_dp;
int dp_logtype;

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [EAL options] -- --config FILE [options]\n"
		"  -c, --config FILE        configuration (see docs/config.md)\n"
		"  -s, --api-socket PATH    data-plane API socket (default: from the config)\n"
		"      --check              validate the configuration and exit\n"
		"      --metrics ADDR:PORT  serve Prometheus /metrics there (e.g. 127.0.0.1:9560)\n"
		"      --exit-idle-ms N     exit once no packet arrived for N ms (tests, pcap)\n"
		"      --idle-sleep-us N    idle workers sleep, 1 us doubling up to N us (shared\n"
		"                           hosts; default 0: busy polling, lowest latency)\n"
		"      --stats-on-exit      print the counters as JSON on exit\n"
		"      --ports-from-lowest  full-NAT source ports from 1024, not from the wall\n"
		"                           clock (tests that replay captures need to know them)\n"
		"Ports named in the configuration are added to the EAL options\n"
		"(--vdev for net_* devices, -a for PCI addresses).\n",
		prog);
}

static void on_signal(int sig)
{
	(void)sig;
	g_dp.quit = true;
}

/* Parses the options after "--". Returns 0, 1 (done: --check/--help) or -1. */
static int parse_app_args(int argc, char **argv, const char **config, bool *check)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"api-socket", required_argument, NULL, 's'},
		{"check", no_argument, NULL, 'k'},
		{"metrics", required_argument, NULL, 'm'},
		{"exit-idle-ms", required_argument, NULL, 'i'},
		{"idle-sleep-us", required_argument, NULL, 'I'},
		{"stats-on-exit", no_argument, NULL, 'S'},
		{"ports-from-lowest", no_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*config = optarg;
			break;
		case 's':
			g_dp.api_socket = optarg;
			break;
		case 'k':
			*check = true;
			break;
		case 'm':
			g_dp.metrics_listen = optarg;
			break;
		case 'i':
			g_dp.exit_idle_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'I':
			g_dp.idle_sleep_us = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			g_dp.stats_on_exit = true;
			break;
		case 'L':
			g_dp.ports_from_lowest = true;
			break;
		case 'h':
			usage(argv[0]);
			return 1;
		default:
			usage(argv[0]);
			return -1;
		}
	}
	if (*config == NULL) {
		fprintf(stderr, "sluice-dataplane: --config FILE is required\n");
		usage(argv[0]);
		return -1;
	}
	return 0;
}

/* "net_af_packet0,iface=x" -> vdev; anything else is a PCI address to allow. */
static bool is_vdev(const char *devargs)
{
	return strncmp(devargs, "net_", 4) == 0 || strncmp(devargs, "eth_", 4) == 0;
}

/*
 * net_af_packet needs one queue pair per worker: add qpairs=N unless the
 * operator set it, so "-l 0-1" just works.
 */
static char *vdev_arg(const char *devargs, unsigned int workers)
{
	size_t len = strlen(devargs) + 64 + sizeof(g_dp.steer_obj);
	char *s = malloc(len);

	if (s == NULL)
		return NULL;
	if (strncmp(devargs, "net_af_packet", 13) == 0 && strstr(devargs, "qpairs=") == NULL)
		snprintf(s, len, "--vdev=%s,qpairs=%u", devargs, workers);
	else if (strncmp(devargs, "net_af_xdp", 10) == 0 && g_dp.steer_obj[0] != '\0' &&
		 strstr(devargs, "xdp_prog=") == NULL)
		/* Only Sluice's packets to the AF_XDP socket; the rest to the kernel. */
		snprintf(s, len, "--vdev=%s,xdp_prog=%s", devargs, g_dp.steer_obj);
	else
		snprintf(s, len, "--vdev=%s", devargs);
	return s;
}

/*
 * net_af_xdp ports share the NIC with the host's kernel: load the steering
 * program (bpf/) through its skeleton first, pinning the maps the PMD's own
 * load of the same object will reuse, and give the PMD that object.
 */
static int steer_setup(void)
{
#ifdef SLUICE_HAVE_BPF
	char err[256];
	bool any = false;
	int rc;

	for (uint32_t i = 0; i < g_dp.conf.n_ports; i++)
		any |= strncmp(g_dp.conf.ports[i].devargs, "net_af_xdp", 10) == 0 &&
		       strstr(g_dp.conf.ports[i].devargs, "xdp_prog=") == NULL;
	if (!any)
		return 0;
	rc = steer_open(&g_dp.steer, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "sluice-dataplane: %s\n", err);
		return rc;
	}
	mkdir("/run/sluice", 0750);
	snprintf(g_dp.steer_obj, sizeof(g_dp.steer_obj), "/run/sluice/steer-%d.bpf.o",
		 (int)getpid());
	rc = steer_write_object(g_dp.steer_obj);
	if (rc < 0) {
		fprintf(stderr, "sluice-dataplane: cannot write %s: %s\n", g_dp.steer_obj,
			strerror(-rc));
		return rc;
	}
	return 0;
#else
	for (uint32_t i = 0; i < g_dp.conf.n_ports; i++)
		if (strncmp(g_dp.conf.ports[i].devargs, "net_af_xdp", 10) == 0)
			fprintf(stderr,
				"sluice-dataplane: port %s: this build has no XDP steering "
				"(bpf/ was not built); the PMD's default program takes every "
				"packet of the queue\n",
				g_dp.conf.ports[i].name);
	return 0;
#endif
}

/* Counts the lcores in a list such as "0-3,6" (-l / --lcores without '@' groups). */
static unsigned int count_list(const char *p)
{
	unsigned int n = 0;

	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		n += b >= a ? (unsigned int)(b - a + 1) : 1;
		if (*end != ',')
			break;
		p = end + 1;
	}
	return n;
}

/*
 * Counts the lcores asked for by -l, --lcores or -c (hex mask), so that
 * vdevs get one queue pair per worker. Lists with '@' or '(' groups are not
 * understood: the port set-up then says which qpairs value to give.
 */
static unsigned int count_lcores(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";
		unsigned int n = 0;
		if (strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "--lcores") == 0)
			n = count_list(v);
		else if (strncmp(argv[i], "-l", 2) == 0 && argv[i][2] != '\0')
			n = count_list(argv[i] + 2);
		else if (strncmp(argv[i], "--lcores=", 9) == 0)
			n = count_list(argv[i] + 9);
		else if (strcmp(argv[i], "-c") == 0)
			n = (unsigned int)__builtin_popcountll(strtoull(v, NULL, 16));
		else
			continue;
		return n ? n : 1;
	}
	return 1;
}

/* A worker's flow table comes from DPDK's memory (hugepages unless --no-huge). */
static void *flow_mem_alloc(size_t size, size_t align, void *arg)
{
	return rte_malloc_socket("flows", size, (unsigned int)align, (int)(intptr_t)arg);
}

static void flow_mem_free(void *p, void *arg)
{
	(void)arg;
	rte_free(p);
}

/*
 * The flow table of worker <w> on lcore's NUMA node, in DPDK's memory; when
 * that has no room (a small --no-huge -m), plain memory, said once.
 */
static struct lb_worker *worker_create(struct dp_worker *w, const struct flow_timeouts *to)
{
	uint32_t cap = g_dp.conf.dp.flow_capacity;
	struct lb_worker *lb;

	w->flow_mem =
		(struct flow_mem){.alloc = flow_mem_alloc,
				  .free = flow_mem_free,
				  .arg = (void *)(intptr_t)rte_lcore_to_socket_id(w->lcore_id)};
	lb = lb_worker_create_mem(w->index, g_dp.n_workers, cap, to, g_dp.neigh, g_dp.load,
				  &w->flow_mem);
	if (lb != NULL)
		return lb;
	DP_LOG(WARNING,
	       "worker %u: no room in DPDK memory for its flow table (%zu MB for %u flows): "
	       "plain memory instead (more TLB misses; give the EAL more memory: -m or hugepages)",
	       w->index, flow_table_size(cap) >> 20, cap);
	return lb_worker_create(w->index, g_dp.n_workers, cap, to, g_dp.neigh, g_dp.load);
}

int main(int argc, char **argv)
{
	char err[512];
	const char *config = NULL;
	bool check = false;
	int sep, rc, eal_argc = 0;
	char **eal_argv;
	unsigned int lcore;

	for (sep = 1; sep < argc && strcmp(argv[sep], "--") != 0; sep++)
		;
	if (sep == argc) {
		/* No "--": everything is for the application (e.g. --check). */
		sep = 0;
	}
	rc = parse_app_args(argc - sep, argv + sep, &config, &check);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (conf_load_file(config, &g_dp.conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-dataplane: %s\n", err);
		return 2;
	}
	if (check) {
		/* Also run the VIPs through the model: it knows what this build forwards. */
		static const uint8_t no_mac[6];
		struct lb_model *m = lb_model_create();
		int prc = 0;

		for (uint32_t i = 0; m != NULL && prc == 0 && i < g_dp.conf.n_ports; i++)
			prc = lb_model_port_add(m, &g_dp.conf.ports[i], no_mac, err, sizeof(err));
		if (m == NULL || prc < 0 || lb_model_load(m, &g_dp.conf, err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice-dataplane: %s\n", m ? err : "out of memory");
			lb_model_free(m);
			return 2;
		}
		lb_model_free(m);
		printf("%s: OK (%u ports, %u VIPs)\n", config, g_dp.conf.n_ports, g_dp.conf.n_vips);
		return 0;
	}
	if (g_dp.api_socket == NULL)
		g_dp.api_socket = g_dp.conf.dp.api_socket;
	/* Resolved once, before anything starts: a missing group is a start-up error. */
	if (unix_sock_group(g_dp.conf.dp.api_group, &g_dp.api_gid, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-dataplane: dataplane.api_group: %s\n", err);
		return 2;
	}

	if (steer_setup() < 0)
		return 1;
	/* EAL options: the user's, then one device option per configured port. */
	unsigned int nl = count_lcores(sep ? sep : 1, argv);
	eal_argv = calloc((size_t)sep + 3 * g_dp.conf.n_ports + 2, sizeof(char *));
	if (eal_argv == NULL)
		return 1;
	eal_argv[eal_argc++] = argv[0];
	for (int i = 1; i < sep; i++)
		eal_argv[eal_argc++] = argv[i];
	for (uint32_t i = 0; i < g_dp.conf.n_ports; i++) {
		const char *d = g_dp.conf.ports[i].devargs;
		if (g_dp.conf.ports[i].kernel_if[0] != '\0') {
			char *tap = malloc(64);
			if (tap == NULL)
				return 1;
			snprintf(tap, 64, "--vdev=net_tap%u,iface=%s", i,
				 g_dp.conf.ports[i].kernel_if);
			eal_argv[eal_argc++] = tap;
		}
		if (is_vdev(d)) {
			eal_argv[eal_argc++] = vdev_arg(d, nl);
		} else {
			eal_argv[eal_argc++] = strdup("-a");
			eal_argv[eal_argc++] = strdup(d);
		}
	}
	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0) {
		fprintf(stderr, "sluice-dataplane: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	dp_logtype = rte_log_register("sluice");
	if (dp_logtype < 0)
		dp_logtype = RTE_LOGTYPE_USER1;
	rte_log_set_level(dp_logtype, RTE_LOG_INFO);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	g_dp.n_workers = rte_lcore_count();
	if (g_dp.n_workers > LB_MAX_LCORES) {
		DP_LOG(ERR, "%u lcores given, at most %d workers", g_dp.n_workers, LB_MAX_LCORES);
		return 1;
	}
	g_dp.started_tsc = rte_rdtsc();

	g_dp.model = lb_model_create();
	g_dp.neigh = rte_zmalloc("neigh", sizeof(*g_dp.neigh), RTE_CACHE_LINE_SIZE);
	g_dp.load = rte_zmalloc("load", sizeof(*g_dp.load), RTE_CACHE_LINE_SIZE);
	size_t rcu_sz = rte_rcu_qsbr_get_memsize(g_dp.n_workers);
	g_dp.rcu = rte_zmalloc("rcu", rcu_sz, RTE_CACHE_LINE_SIZE);
	if (g_dp.model == NULL || g_dp.neigh == NULL || g_dp.load == NULL || g_dp.rcu == NULL ||
	    rte_rcu_qsbr_init(g_dp.rcu, g_dp.n_workers) != 0) {
		DP_LOG(ERR, "out of memory at start-up");
		return 1;
	}
	if (dp_ports_init(&g_dp) < 0)
		return 1;
	for (uint32_t i = 0; i < g_dp.n_ports; i++) {
		uint16_t mtu = 1500;
		if (lb_model_port_add(g_dp.model, &g_dp.conf.ports[i], g_dp.ports[i].mac.addr_bytes,
				      err, sizeof(err)) < 0) {
			DP_LOG(ERR, "%s", err);
			return 1;
		}
		if (rte_eth_dev_get_mtu(g_dp.ports[i].port_id, &mtu) == 0)
			g_dp.model->ports[i].mtu = mtu;
		g_dp.model->ports[i].tx_csum_offload = g_dp.ports[i].tx_csum;
	}
	if (lb_model_load(g_dp.model, &g_dp.conf, err, sizeof(err)) < 0) {
		DP_LOG(ERR, "%s", err);
		return 1;
	}
	g_dp.snapshot = lb_model_compile(g_dp.model);
	if (g_dp.snapshot == NULL) {
		DP_LOG(ERR, "out of memory building the first snapshot");
		return 1;
	}
	dp_steer_sync(&g_dp, g_dp.snapshot);

	/* Workers: index i polls queue i of every port. */
	struct flow_timeouts to;
	memcpy(to.ms, g_dp.conf.dp.timeout_ms, sizeof(to.ms));
	uint32_t idx = 0;
	RTE_LCORE_FOREACH(lcore)
	{
		struct dp_worker *w = &g_dp.workers[idx];
		char name[RTE_RING_NAMESIZE];

		w->lcore_id = lcore;
		w->index = idx;
		w->lb = worker_create(w, &to);
		snprintf(name, sizeof(name), "to_mgmt_%u", idx);
		w->to_mgmt = rte_ring_create(name, DP_RING_SIZE, rte_socket_id(),
					     RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "ctrl_tx_%u", idx);
		w->ctrl_tx = rte_ring_create(name, DP_RING_SIZE, rte_socket_id(),
					     RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (w->lb == NULL || w->to_mgmt == NULL || w->ctrl_tx == NULL) {
			DP_LOG(ERR, "worker %u: cannot allocate its flow table (%u flows) or rings",
			       idx, g_dp.conf.dp.flow_capacity);
			return 1;
		}
		for (uint32_t p = 0; p < g_dp.n_ports; p++) {
			w->txb[p] = rte_zmalloc_socket("txb", RTE_ETH_TX_BUFFER_SIZE(DP_BURST), 0,
						       rte_socket_id());
			if (w->txb[p] == NULL) {
				DP_LOG(ERR, "worker %u: out of memory for TX buffers", idx);
				return 1;
			}
			rte_eth_tx_buffer_init(w->txb[p], DP_BURST);
			rte_eth_tx_buffer_set_err_callback(
				w->txb[p], rte_eth_tx_buffer_count_callback, &w->tx_dropped);
			w->tap_txb[p] = rte_zmalloc_socket(
				"tap_txb", RTE_ETH_TX_BUFFER_SIZE(DP_BURST), 0, rte_socket_id());
			if (w->tap_txb[p] == NULL) {
				DP_LOG(ERR, "worker %u: out of memory for TX buffers", idx);
				return 1;
			}
			rte_eth_tx_buffer_init(w->tap_txb[p], DP_BURST);
			rte_eth_tx_buffer_set_err_callback(
				w->tap_txb[p], rte_eth_tx_buffer_count_callback, &w->tx_dropped);
		}
		rte_rcu_qsbr_thread_register(g_dp.rcu, idx);
		idx++;
	}
	for (uint32_t from = 0; from < g_dp.n_workers; from++) {
		for (uint32_t dst = 0; dst < g_dp.n_workers && g_dp.n_workers > 1; dst++) {
			char name[RTE_RING_NAMESIZE];
			if (from == dst)
				continue;
			snprintf(name, sizeof(name), "handoff_%u_%u", from % 100, dst % 100);
			g_dp.handoff[from][dst] = rte_ring_create(
				name, DP_RING_SIZE, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (g_dp.handoff[from][dst] == NULL) {
				DP_LOG(ERR, "cannot create the handoff ring %s", name);
				return 1;
			}
		}
	}
	if (dp_metrics_start(&g_dp, g_dp.metrics_listen) < 0 || dp_mgmt_start(&g_dp) < 0)
		return 1;
	DP_LOG(INFO, "running: %u workers, %u ports, %u VIPs, API on %s", g_dp.n_workers,
	       g_dp.n_ports, g_dp.conf.n_vips, g_dp.api_socket);

	idx = 1;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		rc = rte_eal_remote_launch(dp_worker_main, &g_dp.workers[idx++], lcore);
		if (rc != 0) {
			DP_LOG(ERR, "cannot launch the worker on lcore %u: %s", lcore,
			       rte_strerror(-rc));
			g_dp.quit = true;
		}
	}
	dp_worker_main(&g_dp.workers[0]);
	rte_eal_mp_wait_lcore();

	dp_mgmt_stop(&g_dp);
	dp_metrics_stop();
	if (g_dp.stats_on_exit) {
		char *s = dp_stats_json(&g_dp);
		if (s != NULL)
			printf("%s\n", s);
		free(s);
		fflush(stdout);
	}
	dp_ports_close(&g_dp);
	for (uint32_t i = 0; i < g_dp.n_workers; i++)
		lb_worker_free(g_dp.workers[i].lb);
	lb_snapshot_free(g_dp.snapshot);
	lb_model_free(g_dp.model);
#ifdef SLUICE_HAVE_BPF
	if (g_dp.steer != NULL) {
		steer_unpin(g_dp.steer);
		steer_close(g_dp.steer);
		unlink(g_dp.steer_obj);
	}
#endif
	conf_free(&g_dp.conf);
	rte_eal_cleanup();
	return 0;
}
