/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The EAL's arguments: the user's EAL options, then one device option per
 * configured port (--vdev for net_* devices, -a for PCI addresses) and a
 * net_tap device per port with a kernel interface. Start-up only.
 */
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"

/* "net_af_packet0,iface=x" -> vdev; anything else is a PCI address to allow. */
static bool is_vdev(const char *devargs)
{
	return strncmp(devargs, "net_", 4) == 0 || strncmp(devargs, "eth_", 4) == 0;
}

/*
 * net_af_packet needs one queue pair per worker: add qpairs=N unless the
 * operator set it, so "-l 0-1" just works.
 */
static char *vdev_arg(const struct dp *dp, const char *devargs, unsigned int workers)
{
	size_t len = strlen(devargs) + 64 + sizeof(dp->steer_obj);
	char *s = malloc(len);

	if (s == NULL)
		return NULL;
	if (strncmp(devargs, "net_af_packet", 13) == 0 && strstr(devargs, "qpairs=") == NULL)
		snprintf(s, len, "--vdev=%s,qpairs=%u", devargs, workers);
	else if (strncmp(devargs, "net_af_xdp", 10) == 0 && dp->steer_obj[0] != '\0' &&
		 strstr(devargs, "xdp_prog=") == NULL)
		/* Only Sluice's packets to the AF_XDP socket; the rest to the kernel. */
		snprintf(s, len, "--vdev=%s,xdp_prog=%s", devargs, dp->steer_obj);
	else
		snprintf(s, len, "--vdev=%s", devargs);
	return s;
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

void dp_eal_args_free(char **eal_argv, int eal_argc, int n_user, char **argv)
{
	if (eal_argv == NULL)
		return;
	/* rte_eal_init() may have reordered them (getopt): the user's are found by pointer. */
	for (int i = 0; i < eal_argc; i++) {
		bool user = false;

		for (int j = 0; j < (n_user ? n_user : 1) && !user; j++)
			user = eal_argv[i] == argv[j];
		if (!user)
			free(eal_argv[i]);
	}
	free(eal_argv);
}

char **dp_eal_args(struct dp *dp, int n_user, char **argv, int *eal_argc)
{
	unsigned int nl = count_lcores(n_user ? n_user : 1, argv);
	char **eal_argv = calloc((size_t)n_user + 3 * dp->conf.n_ports + 2, sizeof(char *));
	int n = 0;

	if (eal_argv == NULL)
		return NULL;
	eal_argv[n++] = argv[0];
	for (int i = 1; i < n_user; i++)
		eal_argv[n++] = argv[i];
	for (uint32_t i = 0; i < dp->conf.n_ports; i++) {
		const char *d = dp->conf.ports[i].devargs;
		if (dp->conf.ports[i].kernel_if[0] != '\0') {
			char *tap = malloc(64);
			if (tap == NULL)
				goto nomem;
			snprintf(tap, 64, "--vdev=net_tap%u,iface=%s", i,
				 dp->conf.ports[i].kernel_if);
			eal_argv[n++] = tap;
		}
		if (is_vdev(d)) {
			eal_argv[n++] = vdev_arg(dp, d, nl);
		} else {
			eal_argv[n++] = strdup("-a");
			eal_argv[n++] = strdup(d);
		}
		if (eal_argv[n - 1] == NULL || eal_argv[n - 2] == NULL)
			goto nomem;
	}
	*eal_argc = n;
	return eal_argv;
nomem:
	dp_eal_args_free(eal_argv, n, n_user, argv);
	return NULL;
}
