/* SPDX-License-Identifier: BSD-3-Clause */
/* Port set-up: one RX and one TX queue per worker, RSS where the port has it. */
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dp.h"

#define RX_DESC 1024
#define TX_DESC 1024

static int port_name_of(const char *devargs, char *name, size_t len)
{
	size_t n = strcspn(devargs, ",");

	if (n == 0 || n >= len)
		return -1;
	memcpy(name, devargs, n);
	name[n] = '\0';
	return 0;
}

/* One RX and one TX queue per worker, RSS where the port has it, started. */
/* IPv4, TCP and UDP transmit checksums, all three, or none is used. */
#define TX_CSUM                                                                                    \
	(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |                            \
	 RTE_ETH_TX_OFFLOAD_UDP_CKSUM)

static int eth_setup(struct dp *dp, uint16_t port_id, const char *name, bool *tx_csum)
{
	struct rte_eth_conf pc;
	struct rte_eth_dev_info info;
	uint16_t q, nq = (uint16_t)dp->n_workers;
	int rc;

	rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0) {
		DP_LOG(ERR, "port %s: cannot read its capabilities: %s", name, rte_strerror(-rc));
		return rc;
	}
	if (info.max_rx_queues < nq || info.max_tx_queues < nq) {
		DP_LOG(ERR,
		       "port %s: %u workers need %u RX/TX queues, the port has %u/%u "
		       "(for net_af_packet set qpairs=%u)",
		       name, nq, nq, info.max_rx_queues, info.max_tx_queues, nq);
		return -1;
	}
	memset(&pc, 0, sizeof(pc));
	if (nq > 1 && info.flow_type_rss_offloads != 0) {
		pc.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		pc.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
	}
	/* fnat/nat leave their checksums to the port when it can do them. */
	*tx_csum = (info.tx_offload_capa & TX_CSUM) == TX_CSUM;
	if (*tx_csum)
		pc.txmode.offloads |= TX_CSUM;
	rc = rte_eth_dev_configure(port_id, nq, nq, &pc);
	if (rc < 0) {
		DP_LOG(ERR, "port %s: configure failed: %s", name, rte_strerror(-rc));
		return rc;
	}
	uint16_t rxd = RX_DESC, txd = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rxd, &txd);
	for (q = 0; q < nq; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, rxd, rte_eth_dev_socket_id(port_id), NULL,
					    dp->mbufs);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port_id, q, txd, rte_eth_dev_socket_id(port_id),
						    NULL);
		if (rc < 0) {
			DP_LOG(ERR, "port %s: queue %u set-up failed: %s", name, q,
			       rte_strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(port_id);
	if (rc < 0) {
		DP_LOG(ERR, "port %s: start failed: %s", name, rte_strerror(-rc));
		return rc;
	}
	/* Promiscuous: VIP traffic is addressed to our MAC, but NS multicast is not. */
	rte_eth_promiscuous_enable(port_id);
	return 0;
}

static int port_setup(struct dp *dp, uint32_t i)
{
	const struct conf_port *cp = &dp->conf.ports[i];
	struct dp_port *p = &dp->ports[i];
	char devname[RTE_ETH_NAME_MAX_LEN];
	int rc;

	snprintf(p->name, sizeof(p->name), "%s", cp->name);
	if (port_name_of(cp->devargs, devname, sizeof(devname)) < 0 ||
	    rte_eth_dev_get_port_by_name(devname, &p->port_id) != 0) {
		DP_LOG(ERR, "%s:%d: ports[%u] (%s): no DPDK port \"%s\" (devargs \"%s\")",
		       dp->conf.path, cp->line, i, cp->name, devname, cp->devargs);
		return -1;
	}
	rc = eth_setup(dp, p->port_id, cp->name, &p->tx_csum);
	if (rc < 0)
		return rc;
	rte_eth_macaddr_get(p->port_id, &p->mac);
	DP_LOG(INFO, "port %s: DPDK port %u, %u queues, MAC " RTE_ETHER_ADDR_PRT_FMT "%s", cp->name,
	       p->port_id, dp->n_workers, RTE_ETHER_ADDR_BYTES(&p->mac),
	       p->tx_csum ? ", TX checksum offload" : "");
	if (cp->kernel_if[0] == '\0')
		return 0;
	/*
	 * Exception path: the kernel interface made by net_tap (main.c adds the
	 * vdev) takes what is not ours; it wears the port's MAC, so the kernel's
	 * answers look like the host's own.
	 */
	snprintf(devname, sizeof(devname), "net_tap%u", i);
	if (rte_eth_dev_get_port_by_name(devname, &p->tap_port_id) != 0) {
		DP_LOG(ERR, "port %s: no kernel interface %s (net_tap)", cp->name, cp->kernel_if);
		return -1;
	}
	rc = rte_eth_dev_default_mac_addr_set(p->tap_port_id, &p->mac);
	if (rc < 0)
		DP_LOG(WARNING, "port %s: cannot give %s the port's MAC: %s", cp->name,
		       cp->kernel_if, rte_strerror(-rc));
	bool tap_csum;
	rc = eth_setup(dp, p->tap_port_id, cp->kernel_if, &tap_csum);
	if (rc < 0)
		return rc;
	rte_eth_dev_set_link_up(p->tap_port_id);
	p->has_tap = true;
	DP_LOG(INFO, "port %s: exception path to the kernel through %s", cp->name, cp->kernel_if);
	return 0;
}

int dp_ports_init(struct dp *dp)
{
	unsigned int nb = dp->conf.n_ports * dp->n_workers * (RX_DESC + TX_DESC + 2 * DP_BURST) +
			  dp->n_workers * (2 * DP_RING_SIZE + 512) + 4096;

	/* conf_load_*() refuses more; dp->ports[] must never be written past. */
	if (dp->conf.n_ports > LB_MAX_PORTS) {
		DP_LOG(ERR, "%s: %u ports, at most %d", dp->conf.path, dp->conf.n_ports,
		       LB_MAX_PORTS);
		return -1;
	}

	dp->mbufs = rte_pktmbuf_pool_create("mbufs", nb, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					    (int)rte_socket_id());
	if (dp->mbufs == NULL) {
		DP_LOG(ERR, "cannot create a pool of %u mbufs: %s (more memory: -m, hugepages)", nb,
		       rte_strerror(rte_errno));
		return -1;
	}
	dp->n_ports = dp->conf.n_ports;
	for (uint32_t i = 0; i < dp->n_ports; i++)
		if (port_setup(dp, i) < 0)
			return -1;
	return 0;
}

void dp_ports_close(struct dp *dp)
{
	for (uint32_t i = 0; i < dp->n_ports; i++) {
		if (dp->ports[i].has_tap) {
			rte_eth_dev_stop(dp->ports[i].tap_port_id);
			rte_eth_dev_close(dp->ports[i].tap_port_id);
		}
		rte_eth_dev_stop(dp->ports[i].port_id);
		rte_eth_dev_close(dp->ports[i].port_id);
	}
}
