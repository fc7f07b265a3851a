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

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dp.h"
#include "unix_sock.h"

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
		"      --idle-yield         give the CPU to other runnable tasks after a poll\n"
		"                           that found nothing (a worker sharing its CPU)\n"
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

/* A number option's value: decimal, 0..max, nothing else; false with a message. */
static bool option_u32(const char *name, const char *arg, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || v > max) {
		fprintf(stderr, "sluice-dataplane: --%s: '%s' is not a number from 0 to %u\n", name,
			arg, max);
		return false;
	}
	*out = (uint32_t)v;
	return true;
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
		{"idle-yield", no_argument, NULL, 'Y'},
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
			if (!option_u32("exit-idle-ms", optarg, 86400000, &g_dp.exit_idle_ms))
				return -1;
			break;
		case 'I':
			/* At most 1 s: a longer sleep would only be a stall. */
			if (!option_u32("idle-sleep-us", optarg, 1000000, &g_dp.idle_sleep_us))
				return -1;
			break;
		case 'Y':
			g_dp.idle_yield = true;
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
	/* The loop does one or the other after an empty poll: say so, not ignore one. */
	if (g_dp.idle_yield && g_dp.idle_sleep_us) {
		fprintf(stderr, "sluice-dataplane: --idle-yield and --idle-sleep-us: choose one "
				"(yield keeps the worker runnable, sleep gives the CPU up)\n");
		return -1;
	}
	return 0;
}

/* Also runs the VIPs through the model: it knows what this build forwards. */
static int check_config(const char *config)
{
	static const uint8_t no_mac[6];
	struct lb_model *m = lb_model_create();
	char err[512];
	int rc = 0;

	for (uint32_t i = 0; m != NULL && rc == 0 && i < g_dp.conf.n_ports; i++)
		rc = lb_model_port_add(m, &g_dp.conf.ports[i], no_mac, err, sizeof(err));
	if (m == NULL || rc < 0 || lb_model_load(m, &g_dp.conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-dataplane: %s\n", m ? err : "out of memory");
		lb_model_free(m);
		return 2;
	}
	lb_model_free(m);
	printf("%s: OK (%u ports, %u VIPs)\n", config, g_dp.conf.n_ports, g_dp.conf.n_vips);
	return 0;
}

/*
 * The EAL's arguments: kept until rte_eal_cleanup(), as the EAL may hold
 * pointers into them, then freed.
 */
static struct {
	char **argv;
	int argc;
	int n_user;
	char **user_argv;
} eal_args;

/* The EAL with the user's options and the configured ports'; the log type; signals. */
static int eal_start(int n_user, char **argv)
{
	eal_args.argv = dp_eal_args(&g_dp, n_user, argv, &eal_args.argc);
	eal_args.n_user = n_user;
	eal_args.user_argv = argv;
	if (eal_args.argv == NULL)
		return -1;
	if (rte_eal_init(eal_args.argc, eal_args.argv) < 0) {
		fprintf(stderr, "sluice-dataplane: EAL init failed: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	dp_logtype = rte_log_register("sluice");
	if (dp_logtype < 0)
		dp_logtype = RTE_LOGTYPE_USER1;
	rte_log_set_level(dp_logtype, RTE_LOG_INFO);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	return 0;
}

/* What the workers and the management thread share: the model, neighbours, loads, RCU. */
static int shared_init(void)
{
	g_dp.n_workers = rte_lcore_count();
	if (g_dp.n_workers > LB_MAX_LCORES) {
		DP_LOG(ERR, "%u lcores given, at most %d workers", g_dp.n_workers, LB_MAX_LCORES);
		return -1;
	}
	g_dp.started_tsc = rte_rdtsc();
	g_dp.tsc_hz = rte_get_tsc_hz();

	g_dp.model = lb_model_create();
	g_dp.neigh = rte_zmalloc("neigh", sizeof(*g_dp.neigh), RTE_CACHE_LINE_SIZE);
	g_dp.load = rte_zmalloc("load", sizeof(*g_dp.load), RTE_CACHE_LINE_SIZE);
	size_t rcu_sz = rte_rcu_qsbr_get_memsize(g_dp.n_workers);
	g_dp.rcu = rte_zmalloc("rcu", rcu_sz, RTE_CACHE_LINE_SIZE);
	if (g_dp.model == NULL || g_dp.neigh == NULL || g_dp.load == NULL || g_dp.rcu == NULL ||
	    rte_rcu_qsbr_init(g_dp.rcu, g_dp.n_workers) != 0) {
		DP_LOG(ERR, "out of memory at start-up");
		return -1;
	}
	return 0;
}

/* The model from the ports (set up by now) and the configuration; the first snapshot. */
static int model_init(void)
{
	char err[512];

	for (uint32_t i = 0; i < g_dp.n_ports; i++) {
		uint16_t mtu = 1500;
		if (lb_model_port_add(g_dp.model, &g_dp.conf.ports[i], g_dp.ports[i].mac.addr_bytes,
				      err, sizeof(err)) < 0) {
			DP_LOG(ERR, "%s", err);
			return -1;
		}
		if (rte_eth_dev_get_mtu(g_dp.ports[i].port_id, &mtu) == 0)
			g_dp.model->ports[i].mtu = mtu;
		g_dp.model->ports[i].tx_csum_offload = g_dp.ports[i].tx_csum;
	}
	if (lb_model_load(g_dp.model, &g_dp.conf, err, sizeof(err)) < 0) {
		DP_LOG(ERR, "%s", err);
		return -1;
	}
	g_dp.snapshot = lb_model_compile(g_dp.model);
	if (g_dp.snapshot == NULL) {
		DP_LOG(ERR, "out of memory building the first snapshot");
		return -1;
	}
	dp_xdp_sync(&g_dp, g_dp.snapshot);
	return 0;
}

static void shutdown_all(void)
{
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
	dp_workers_free(&g_dp);
	lb_snapshot_free(g_dp.snapshot);
	lb_model_free(g_dp.model);
	dp_xdp_close(&g_dp);
	conf_free(&g_dp.conf);
	rte_eal_cleanup();
	dp_eal_args_free(eal_args.argv, eal_args.argc, eal_args.n_user, eal_args.user_argv);
}

int main(int argc, char **argv)
{
	char err[512];
	const char *config = NULL;
	bool check = false;
	int sep, rc;

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
	if (check)
		return check_config(config);
	if (g_dp.api_socket == NULL)
		g_dp.api_socket = g_dp.conf.dp.api_socket;
	/* Resolved once, before anything starts: a missing group is a start-up error. */
	if (unix_sock_group(g_dp.conf.dp.api_group, &g_dp.api_gid, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-dataplane: dataplane.api_group: %s\n", err);
		return 2;
	}

	if (dp_xdp_open(&g_dp) < 0 || eal_start(sep, argv) < 0 || shared_init() < 0 ||
	    dp_ports_init(&g_dp) < 0 || model_init() < 0 || dp_workers_init(&g_dp) < 0 ||
	    dp_metrics_start(&g_dp, g_dp.metrics_listen) < 0 || dp_mgmt_start(&g_dp) < 0)
		return 1;
	DP_LOG(INFO, "running: %u workers, %u ports, %u VIPs, API on %s", g_dp.n_workers,
	       g_dp.n_ports, g_dp.conf.n_vips, g_dp.api_socket);
	dp_workers_run(&g_dp);
	shutdown_all();
	return 0;
}
