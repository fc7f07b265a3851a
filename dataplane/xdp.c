/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * XDP steering for net_af_xdp ports, which share the NIC with the host's
 * kernel: the program (bpf/) loaded at start-up, its maps kept holding the
 * published snapshot's VIPs and addresses, and all of it removed at exit.
 * Builds without bpf/ keep the PMD's default program (it takes every packet
 * of the queue).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dp.h"
#ifdef SLUICE_HAVE_BPF
#include <arpa/inet.h>

#include "steer.h"
#endif

/*
 * Loads the steering program through its skeleton first, pinning the maps
 * the PMD's own load of the same object will reuse, and writes that object
 * for the PMD (dp->steer_obj, given as xdp_prog=). Start-up only.
 */
int dp_xdp_open(struct dp *dp)
{
#ifdef SLUICE_HAVE_BPF
	char err[256];
	bool any = false;
	int rc;

	for (uint32_t i = 0; i < dp->conf.n_ports; i++)
		any |= strncmp(dp->conf.ports[i].devargs, "net_af_xdp", 10) == 0 &&
		       strstr(dp->conf.ports[i].devargs, "xdp_prog=") == NULL;
	if (!any)
		return 0;
	rc = steer_open(&dp->steer, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "sluice-dataplane: %s\n", err);
		return rc;
	}
	mkdir("/run/sluice", 0750);
	snprintf(dp->steer_obj, sizeof(dp->steer_obj), "/run/sluice/steer-%d.bpf.o", (int)getpid());
	rc = steer_write_object(dp->steer_obj);
	if (rc < 0) {
		fprintf(stderr, "sluice-dataplane: cannot write %s: %s\n", dp->steer_obj,
			strerror(-rc));
		return rc;
	}
	return 0;
#else
	for (uint32_t i = 0; i < dp->conf.n_ports; i++)
		if (strncmp(dp->conf.ports[i].devargs, "net_af_xdp", 10) == 0)
			fprintf(stderr,
				"sluice-dataplane: port %s: this build has no XDP steering "
				"(bpf/ was not built); the PMD's default program takes every "
				"packet of the queue\n",
				dp->conf.ports[i].name);
	return 0;
#endif
}

void dp_xdp_sync(struct dp *dp, const struct lb_snapshot *s)
{
#ifdef SLUICE_HAVE_BPF
	static struct steer_vip vips[LB_MAX_VIPS];
	static struct steer_addr addrs[LB_MAX_LADDRS + 2 * LB_MAX_PORTS];
	size_t nv = 0, na = 0;
	int rc;

	if (dp->steer == NULL)
		return;
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		if (s->vips[i].uid == 0)
			continue;
		vips[nv].addr = s->vips[i].addr;
		vips[nv].port = ntohs(s->vips[i].port_be);
		vips[nv].proto = s->vips[i].proto;
		nv++;
	}
	for (uint32_t i = 0; i < s->n_laddrs; i++)
		addrs[na++] = (struct steer_addr){.addr = s->laddrs[i], .flag = SLUICE_ADDR_LOCAL};
	for (uint32_t p = 0; p < s->n_ports; p++) {
		if (s->ports[p].has_ipv4)
			addrs[na++] = (struct steer_addr){.addr = s->ports[p].ipv4,
							  .flag = SLUICE_ADDR_SELF};
		if (s->ports[p].has_ipv6)
			addrs[na++] = (struct steer_addr){.addr = s->ports[p].ipv6,
							  .flag = SLUICE_ADDR_SELF};
	}
	rc = steer_sync(dp->steer, vips, nv, addrs, na);
	if (rc < 0)
		DP_LOG(WARNING, "XDP steering maps not updated: %s", strerror(-rc));
#else
	(void)dp;
	(void)s;
#endif
}

void dp_xdp_close(struct dp *dp)
{
#ifdef SLUICE_HAVE_BPF
	if (dp->steer != NULL) {
		steer_unpin(dp->steer);
		steer_close(dp->steer);
		unlink(dp->steer_obj);
	}
#else
	(void)dp;
#endif
}
