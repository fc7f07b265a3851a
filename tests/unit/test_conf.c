/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration loader: every field and default of a good file, and a table
 * of bad files, each with the message (file:line:column: field: problem)
 * it must produce. Every bad case also checks that the struct is left empty;
 * run under valgrind to see that nothing leaks on any path.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "flow.h"
#include "scheduler.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */

static void load_ok(const char *yaml, struct conf *c)
{
	char err[512] = "";

	if (conf_load_string(yaml, strlen(yaml), "t.yaml", c, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s\nconfig:\n%s", err, yaml);
}

static void assert_addr(const struct sl_addr *a, const char *want)
{
	char buf[SL_ADDR_STRLEN];

	assert_string_equal(sl_addr_format(a, buf, sizeof(buf)), want);
}

static bool is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

#define PORTS "ports:\n  - name: lan\n    devargs: net_null0\n" /* lines 1-3 */

/* ------------------------------------------------------------------------ */
/* good files                                                               */

static void test_defaults(void **state)
{
	struct conf c;
	struct flow_timeouts t;

	(void)state;
	load_ok(PORTS, &c);
	assert_string_equal(c.path, "t.yaml");
	assert_string_equal(c.dp.api_socket, "/run/sluice/dataplane.sock");
	assert_int_equal(c.dp.flow_capacity, 1048576);
	flow_timeouts_default(&t);
	for (int i = 0; i < FLOW_STATE_MAX; i++)
		assert_int_equal(c.dp.timeout_ms[i], t.ms[i]);
	assert_int_equal(c.dp.timeout_ms[FLOW_TCP_SYN], 10000);
	assert_int_equal(c.dp.timeout_ms[FLOW_UDP_EST], 60000);
	assert_int_equal(c.dp.neigh_reachable_ms, 30000);
	assert_int_equal(c.dp.neigh_retry_ms, 1000);
	assert_int_equal(c.n_ports, 1);
	assert_string_equal(c.ports[0].name, "lan");
	assert_string_equal(c.ports[0].devargs, "net_null0");
	assert_false(c.ports[0].has_ipv4);
	assert_false(c.ports[0].has_ipv6);
	assert_int_equal(c.ports[0].line, 2);
	assert_int_equal(c.n_vips, 0);
	assert_null(c.vips);
	conf_free(&c);
	assert_true(is_zero(&c, sizeof(c)));
	conf_free(&c); /* harmless twice */
}

static const char full_yaml[] =
	"dataplane:\n"
	"  api_socket: /tmp/sluice-test.sock\n"
	"  flow_capacity: 4096\n"
	"  timeouts:\n"
	"    tcp_syn: 3\n"
	"    tcp_established: 7200\n"
	"    tcp_fin: 0.5\n"
	"    tcp_closed: 1.25\n"
	"    udp_new: 10\n"
	"    udp: 120\n"
	"  neighbour:\n"
	"    reachable: 60\n"
	"    retry: 0.2\n"
	"ports:\n"
	"  - name: lan\n" /* line 15 */
	"    devargs: \"net_af_packet0,iface=veth-lb\"\n"
	"    ipv4: 198.18.0.2/24\n"
	"    ipv6: 2001:db8::2/64\n"
	"  - name: wan\n" /* line 19 */
	"    devargs: 0000:03:00.0\n"
	"vips:\n"
	"  - name: dns\n" /* line 22 */
	"    address: 198.18.1.53\n"
	"    port: 53\n"
	"    protocol: udp\n"
	"    mode: tunnel\n"
	"    scheduler: maglev\n"
	"    hash: source-ip\n"
	"    maglev_table_size: 251\n"
	"    backends:\n"
	"      - address: 198.18.0.11\n" /* line 31 */
	"        port: 5353\n"
	"        weight: 0\n"
	"        mac: 02:00:00:00:00:0B\n"
	"        state: drain\n"
	"      - address: 198.18.0.12\n"
	"        weight: 65535\n"
	"        state: maint\n"
	"      - {address: 198.18.0.13, state: ready}\n"
	"  - address: 198.18.1.80\n"
	"    port: 80\n"
	"    mode: fnat\n"
	"    scheduler: wlc\n"
	"    local_addresses: [198.18.0.50, 198.18.0.51]\n"
	"  - {address: 198.18.1.81, port: 81, mode: nat, scheduler: lc}\n"
	"  - {address: 198.18.1.82, port: 82, scheduler: rr, hash: 5-tuple}\n";

/* full_yaml's dataplane: section. */
static void assert_full_dataplane(const struct conf *c)
{
	assert_string_equal(c->dp.api_socket, "/tmp/sluice-test.sock");
	assert_int_equal(c->dp.flow_capacity, 4096);
	assert_int_equal(c->dp.timeout_ms[FLOW_TCP_SYN], 3000);
	assert_int_equal(c->dp.timeout_ms[FLOW_TCP_EST], 7200000);
	assert_int_equal(c->dp.timeout_ms[FLOW_TCP_FIN], 500);
	assert_int_equal(c->dp.timeout_ms[FLOW_TCP_CLOSED], 1250);
	assert_int_equal(c->dp.timeout_ms[FLOW_UDP_NEW], 10000);
	assert_int_equal(c->dp.timeout_ms[FLOW_UDP_EST], 120000);
	assert_int_equal(c->dp.neigh_reachable_ms, 60000);
	assert_int_equal(c->dp.neigh_retry_ms, 200);
}

/* full_yaml's ports: section. */
static void assert_full_ports(const struct conf *c)
{
	assert_int_equal(c->n_ports, 2);
	assert_string_equal(c->ports[0].name, "lan");
	assert_string_equal(c->ports[0].devargs, "net_af_packet0,iface=veth-lb");
	assert_true(c->ports[0].has_ipv4);
	assert_addr(&c->ports[0].ipv4, "198.18.0.2");
	assert_int_equal(c->ports[0].ipv4_plen, 24);
	assert_true(c->ports[0].has_ipv6);
	assert_addr(&c->ports[0].ipv6, "2001:db8::2");
	assert_int_equal(c->ports[0].ipv6_plen, 64);
	assert_int_equal(c->ports[0].line, 15);
	assert_string_equal(c->ports[1].name, "wan");
	assert_string_equal(c->ports[1].devargs, "0000:03:00.0");
	assert_false(c->ports[1].has_ipv4);
	assert_false(c->ports[1].has_ipv6);
	assert_int_equal(c->ports[1].line, 19);
}

/* full_yaml's first VIP, "dns", and its three backends. */
static void assert_full_dns_vip(const struct conf_vip *v)
{
	static const uint8_t mac[6] = {2, 0, 0, 0, 0, 0x0b};
	const struct conf_backend *b;

	assert_string_equal(v->name, "dns");
	assert_addr(&v->addr, "198.18.1.53");
	assert_int_equal(v->port, 53);
	assert_int_equal(v->proto, IPPROTO_UDP);
	assert_int_equal(v->mode, SL_MODE_TUNNEL);
	assert_int_equal(v->sched, SCHED_KIND_MAGLEV);
	assert_int_equal(v->hash, SL_HASH_SRC_IP);
	assert_int_equal(v->maglev_size, 251);
	assert_int_equal(v->line, 22);
	assert_int_equal(v->n_backends, 3);

	b = &v->backends[0];
	assert_addr(&b->addr, "198.18.0.11");
	assert_int_equal(b->port, 5353);
	assert_int_equal(b->weight, 0);
	assert_true(b->has_mac);
	assert_memory_equal(b->mac, mac, 6);
	assert_int_equal(b->admin, SL_ADMIN_DRAIN);
	assert_int_equal(b->line, 31);
	b = &v->backends[1];
	assert_addr(&b->addr, "198.18.0.12");
	assert_int_equal(b->port, 0); /* the VIP's */
	assert_int_equal(b->weight, 65535);
	assert_false(b->has_mac);
	assert_int_equal(b->admin, SL_ADMIN_MAINT);
	b = &v->backends[2];
	assert_addr(&b->addr, "198.18.0.13");
	assert_int_equal(b->weight, 1);
	assert_int_equal(b->admin, SL_ADMIN_READY);
}

/* full_yaml's other three VIPs, without backends. */
static void assert_full_other_vips(const struct conf *c)
{
	const struct conf_vip *v = &c->vips[1];

	assert_string_equal(v->name, "198.18.1.80:80/tcp");
	assert_int_equal(v->proto, IPPROTO_TCP);
	assert_int_equal(v->mode, SL_MODE_FNAT);
	assert_int_equal(v->sched, SCHED_KIND_WLC);
	assert_int_equal(v->line, 40);
	assert_int_equal(v->n_local_addrs, 2);
	assert_addr(&v->local_addrs[0], "198.18.0.50");
	assert_addr(&v->local_addrs[1], "198.18.0.51");
	assert_int_equal(v->n_backends, 0);
	assert_null(v->backends);
	assert_int_equal(c->vips[2].mode, SL_MODE_NAT);
	assert_int_equal(c->vips[2].sched, SCHED_KIND_LC);
	assert_int_equal(c->vips[3].sched, SCHED_KIND_RR);
	assert_int_equal(c->vips[3].hash, SL_HASH_5TUPLE);
}

static void test_every_field(void **state)
{
	struct conf c;

	(void)state;
	load_ok(full_yaml, &c);
	assert_full_dataplane(&c);
	assert_full_ports(&c);
	assert_int_equal(c.n_vips, 4);
	assert_full_dns_vip(&c.vips[0]);
	assert_full_other_vips(&c);
	conf_free(&c);
}

static void test_vip_defaults(void **state)
{
	struct conf c;
	const struct conf_vip *v;
	const struct conf_backend *b;

	(void)state;
	load_ok(PORTS "vips:\n"
		      "  - address: 198.18.1.100\n"
		      "    port: 80\n"
		      "    backends:\n"
		      "      - address: 198.18.0.11\n",
		&c);
	assert_int_equal(c.n_vips, 1);
	v = &c.vips[0];
	assert_string_equal(v->name, "198.18.1.100:80/tcp");
	assert_int_equal(v->proto, IPPROTO_TCP);
	assert_int_equal(v->mode, SL_MODE_DSR);
	assert_int_equal(v->sched, SCHED_KIND_WRR);
	assert_int_equal(v->hash, SL_HASH_5TUPLE);
	assert_int_equal(v->maglev_size, 65537);
	assert_int_equal(v->down_flows, SL_DOWN_RESCHEDULE);
	assert_int_equal(v->response_timeout_ms, 0);
	assert_int_equal(v->drain_deadline_ms, 0);
	assert_int_equal(v->line, 5);
	assert_int_equal(v->n_backends, 1);
	b = &v->backends[0];
	assert_int_equal(b->port, 0);
	assert_int_equal(b->weight, 1);
	assert_false(b->has_mac);
	assert_int_equal(b->admin, SL_ADMIN_READY);
	assert_int_equal(b->line, 8);
	conf_free(&c);
}

static void test_down_flows_and_timeouts(void **state)
{
	struct conf c;

	(void)state;
	load_ok(PORTS "vips:\n"
		      "  - address: 198.18.1.100\n"
		      "    port: 80\n"
		      "    mode: fnat\n"
		      "    local_addresses: [198.18.0.2]\n"
		      "    down_flows: reset\n"
		      "    response_timeout: 2.5\n"
		      "    redispatch: off\n"
		      "    syn_timeout: 0.5\n"
		      "    drain_deadline: 30\n"
		      "  - address: 198.18.1.101\n"
		      "    port: 80\n"
		      "    down_flows: keep\n",
		&c);
	assert_int_equal(c.vips[0].down_flows, SL_DOWN_RESET);
	assert_int_equal(c.vips[0].response_timeout_ms, 2500);
	assert_int_equal(c.vips[0].redispatch_off, 1);
	assert_int_equal(c.vips[0].syn_timeout_ms, 500);
	assert_int_equal(c.vips[1].redispatch_off, 0); /* the defaults */
	assert_int_equal(c.vips[1].syn_timeout_ms, 0);
	assert_int_equal(c.vips[0].drain_deadline_ms, 30000);
	assert_int_equal(c.vips[1].down_flows, SL_DOWN_KEEP);
	assert_string_equal(c.control.socket, "/run/sluice/control.sock");
	assert_string_equal(c.control.socket_group, "");
	assert_string_equal(c.control.state_file, ""); /* the daemon's default: socket + .state */
	assert_string_equal(c.dp.api_group, "");
	assert_int_equal(c.dp.api_idle_timeout_ms, 60000);
	conf_free(&c);
	load_ok("dataplane:\n  api_group: sluice-ops\n  api_idle_timeout: 1.5\n"
		"control:\n  socket: /tmp/c.sock\n  socket_group: sluice-ops\n"
		"  state_file: /var/lib/sluice/control.state\n" PORTS,
		&c);
	assert_string_equal(c.control.state_file, "/var/lib/sluice/control.state");
	assert_string_equal(c.dp.api_group, "sluice-ops");
	assert_int_equal(c.dp.api_idle_timeout_ms, 1500);
	assert_string_equal(c.control.socket, "/tmp/c.sock");
	assert_string_equal(c.control.socket_group, "sluice-ops");
	assert_string_equal(sl_down_flows_name(SL_DOWN_RESCHEDULE), "reschedule");
	assert_int_equal(sl_down_flows_parse("reset"), SL_DOWN_RESET);
	assert_int_equal(sl_down_flows_parse("drop"), -1);
	conf_free(&c);
}

static void test_backend_health_check(void **state)
{
	struct conf c;
	const struct conf_vip *v;

	(void)state;
	load_ok(PORTS "vips:\n"
		      "  - address: 198.18.1.100\n"
		      "    port: 80\n"
		      "    health_check: {type: http, path: /health, interval: 1, rise: 3}\n"
		      "    backends:\n"
		      "      - address: 198.18.0.11\n"
		      "      - address: 198.18.0.12\n"
		      "        health_check: {interval: 5, timeout: 4, path: /slow, port: 8080}\n"
		      "      - address: 198.18.0.13\n"
		      "        health_check: {type: none}\n"
		      "      - address: 198.18.0.14\n"
		      "        health_check: {address: 198.18.2.14, port: 8081}\n"
		      "      - address: 198.18.0.15\n"
		      "        health_check: {address: \"2001:db8:2::15\"}\n",
		&c);
	v = &c.vips[0];
	/* The first: the VIP's check as it is. */
	assert_false(v->backends[0].has_hc);
	assert_memory_equal(&v->backends[0].hc, &v->hc, sizeof(v->hc));
	/* The second: its keys on top of the VIP's, the rest inherited. */
	assert_true(v->backends[1].has_hc);
	assert_int_equal(v->backends[1].hc.kind, CONF_HC_HTTP);
	assert_int_equal(v->backends[1].hc.interval_ms, 5000);
	assert_int_equal(v->backends[1].hc.timeout_ms, 4000);
	assert_int_equal(v->backends[1].hc.port, 8080);
	assert_string_equal(v->backends[1].hc.path, "/slow");
	assert_int_equal(v->backends[1].hc.rise, 3);
	assert_int_equal(v->backends[1].hc.fall, 3);
	/* The third: not checked at all. */
	assert_int_equal(v->backends[2].hc.kind, CONF_HC_NONE);
	assert_int_equal(v->hc.interval_ms, 1000);
	/* Checks to another address and port (a health endpoint); any family. */
	assert_false(v->hc.has_addr);
	assert_false(v->backends[1].hc.has_addr);
	assert_true(v->backends[3].hc.has_addr);
	assert_addr(&v->backends[3].hc.addr, "198.18.2.14");
	assert_int_equal(v->backends[3].hc.port, 8081);
	assert_string_equal(v->backends[3].hc.path, "/health");
	assert_true(v->backends[4].hc.has_addr);
	assert_addr(&v->backends[4].hc.addr, "2001:db8:2::15");
	assert_int_equal(v->backends[4].hc.port, 0); /* the backend's */
	conf_free(&c);
	/* A VIP's check address is every backend's, unless one says otherwise. */
	load_ok(PORTS "vips:\n"
		      "  - address: 198.18.1.100\n"
		      "    port: 80\n"
		      "    health_check: {type: tcp, address: 198.18.2.1, port: 9000}\n"
		      "    backends:\n"
		      "      - address: 198.18.0.11\n"
		      "      - address: 198.18.0.12\n"
		      "        health_check: {address: 198.18.2.2}\n",
		&c);
	v = &c.vips[0];
	assert_true(v->hc.has_addr);
	assert_addr(&v->backends[0].hc.addr, "198.18.2.1");
	assert_int_equal(v->backends[0].hc.port, 9000);
	assert_addr(&v->backends[1].hc.addr, "198.18.2.2");
	assert_int_equal(v->backends[1].hc.port, 9000);
	conf_free(&c);
}

static void test_ipv6(void **state)
{
	struct conf c;
	const struct conf_vip *v;

	(void)state;
	load_ok("ports:\n"
		"  - name: lan\n"
		"    devargs: net_null0\n"
		"    ipv6: 2001:db8::2/64\n"
		"vips:\n"
		"  - address: 2001:db8:1::100\n"
		"    port: 443\n"
		"    backends:\n"
		"      - address: 2001:db8::11\n"
		"      - address: 2001:db8::11\n"
		"        port: 8443\n"
		"  - address: 2001:db8:1::100\n"
		"    port: 443\n"
		"    protocol: udp\n",
		&c);
	assert_false(c.ports[0].has_ipv4);
	assert_true(c.ports[0].has_ipv6);
	assert_addr(&c.ports[0].ipv6, "2001:db8::2");
	assert_int_equal(c.n_vips, 2);
	v = &c.vips[0];
	assert_false(sl_addr_is_v4(&v->addr));
	assert_addr(&v->addr, "2001:db8:1::100");
	assert_string_equal(v->name, "[2001:db8:1::100]:443/tcp");
	assert_int_equal(v->n_backends, 2);
	assert_addr(&v->backends[0].addr, "2001:db8::11");
	assert_int_equal(v->backends[0].port, 0);
	assert_int_equal(v->backends[1].port, 8443);
	/* Same address and port, other protocol: a different service. */
	assert_string_equal(c.vips[1].name, "[2001:db8:1::100]:443/udp");
	assert_int_equal(c.vips[1].proto, IPPROTO_UDP);
	conf_free(&c);
}

/* Empty sections are allowed: VIPs and backends can be added at runtime. */
static void test_empty_sections(void **state)
{
	static const char *const texts[] = {
		"dataplane:\n" PORTS "vips:\n",
		"dataplane: {}\n" PORTS "vips: []\n",
		"dataplane:\n  timeouts:\n  neighbour: ~\n" PORTS "vips: null\n",
		PORTS "vips:\n  - address: 198.18.1.1\n    port: 1\n    backends: []\n",
		PORTS "vips:\n  - address: 198.18.1.1\n    port: 1\n    backends:\n",
		PORTS "vips:\n  - address: 198.18.1.1\n    port: 1\n    scheduler: maglev\n",
	};
	struct conf c;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		load_ok(texts[i], &c);
		assert_int_equal(c.n_ports, 1);
		assert_int_equal(c.dp.flow_capacity, 1048576);
		for (uint32_t j = 0; j < c.n_vips; j++) {
			assert_int_equal(c.vips[j].n_backends, 0);
			assert_null(c.vips[j].backends);
		}
		conf_free(&c);
	}
}

/* Things that look alike but are not duplicates, and YAML features that work. */
static void test_not_duplicates(void **state)
{
	struct conf c;

	(void)state;
	load_ok("ports:\n"
		"  - {name: a, devargs: net_null0}\n"
		"  - {name: b, devargs: net_null0}\n" /* same devargs: not our business */
		"vips:\n"
		"  - address: 198.18.1.1\n"
		"    port: 80\n"
		"    backends: &pool\n"
		"      - address: 198.18.0.11\n"
		"      - address: 198.18.0.11\n"
		"        port: 8080\n"
		"  - address: 198.18.1.1\n"
		"    port: 81\n"
		"    backends: *pool\n"
		"  - address: 198.18.1.2\n"
		"    port: 80\n"
		"    scheduler: maglev\n"
		"    maglev_table_size: 3\n"
		"    backends:\n"
		"      - address: 198.18.0.11\n"
		"      - address: 198.18.0.12\n",
		&c);
	assert_int_equal(c.n_ports, 2);
	assert_int_equal(c.n_vips, 3);
	assert_int_equal(c.vips[1].n_backends, 2); /* through the alias */
	assert_int_equal(c.vips[2].maglev_size, 3);
	conf_free(&c);
}

static void test_enum_names(void **state)
{
	(void)state;
	for (int m = 0; m < SL_MODE_MAX; m++)
		assert_int_equal(sl_mode_parse(sl_mode_name((enum sl_mode)m)), m);
	for (int a = 0; a < SL_ADMIN_MAX; a++)
		assert_int_equal(sl_admin_parse(sl_admin_name((enum sl_admin)a)), a);
	for (int h = 0; h < SL_HASH_MAX; h++)
		assert_int_equal(sl_hash_parse(sl_hash_name((enum sl_hash)h)), h);
	assert_string_equal(sl_mode_name(SL_MODE_DSR), "dsr");
	assert_string_equal(sl_mode_name(SL_MODE_TUNNEL), "tunnel");
	assert_string_equal(sl_mode_name(SL_MODE_FNAT), "fnat");
	assert_string_equal(sl_mode_name(SL_MODE_NAT), "nat");
	assert_string_equal(sl_admin_name(SL_ADMIN_READY), "ready");
	assert_string_equal(sl_admin_name(SL_ADMIN_DRAIN), "drain");
	assert_string_equal(sl_admin_name(SL_ADMIN_MAINT), "maint");
	assert_string_equal(sl_hash_name(SL_HASH_5TUPLE), "5-tuple");
	assert_string_equal(sl_hash_name(SL_HASH_SRC_IP), "source-ip");
	assert_string_equal(sl_mode_name(SL_MODE_MAX), "?");
	assert_string_equal(sl_admin_name(SL_ADMIN_MAX), "?");
	assert_string_equal(sl_hash_name(SL_HASH_MAX), "?");
	assert_int_equal(sl_mode_parse("DSR"), -1);
	assert_int_equal(sl_admin_parse(""), -1);
	assert_int_equal(sl_hash_parse(NULL), -1);
}

/* ------------------------------------------------------------------------ */
/* error buffer and files                                                   */

static const char bad_yaml[] = PORTS "vips:\n  - address: 198.18.1.1\n    port: http\n";

static void test_err_truncated(void **state)
{
	char full[512], small[16];
	struct conf c;

	(void)state;
	assert_int_equal(
		conf_load_string(bad_yaml, strlen(bad_yaml), "t.yaml", &c, full, sizeof(full)),
		-EINVAL);
	assert_string_equal(full, "t.yaml:6:11: vips[0].port: expected an integer 1..65535, "
				  "got \"http\"");

	memset(small, 'Z', sizeof(small));
	assert_int_equal(conf_load_string(bad_yaml, strlen(bad_yaml), "t.yaml", &c, small, 8),
			 -EINVAL);
	assert_string_equal(small, "t.yaml:"); /* 7 characters and the NUL */
	assert_int_equal(small[8], 'Z');       /* nothing written past errlen */

	memset(small, 'Z', sizeof(small));
	assert_int_equal(conf_load_string(bad_yaml, strlen(bad_yaml), "t.yaml", &c, small, 1),
			 -EINVAL);
	assert_int_equal(small[0], '\0');
	assert_int_equal(small[1], 'Z');

	small[0] = 'Z';
	assert_int_equal(conf_load_string(bad_yaml, strlen(bad_yaml), "t.yaml", &c, small, 0),
			 -EINVAL);
	assert_int_equal(small[0], 'Z');
	assert_int_equal(conf_load_string(bad_yaml, strlen(bad_yaml), "t.yaml", &c, NULL, 0),
			 -EINVAL);
	assert_true(is_zero(&c, sizeof(c)));
}

/* The text need not be NUL-terminated: only <len> bytes are read. */
static void test_string_len(void **state)
{
	char text[sizeof(PORTS) + 8];
	struct conf c;
	char err[256];

	(void)state;
	memcpy(text, PORTS "vips: 7", sizeof(PORTS) + 7); /* no NUL copied */
	assert_int_equal(conf_load_string(text, strlen(PORTS), "t.yaml", &c, err, sizeof(err)), 0);
	conf_free(&c);
	assert_int_equal(conf_load_string(text, sizeof(PORTS) + 6, NULL, &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "<string>:4:7: vips: expected a list"));
}

static void test_file(void **state)
{
	char path[] = "/tmp/test_conf_XXXXXX";
	char err[512];
	struct conf c;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, full_yaml, strlen(full_yaml)), (ssize_t)strlen(full_yaml));
	close(fd);
	assert_int_equal(conf_load_file(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, path);
	assert_int_equal(c.n_vips, 4);
	conf_free(&c);

	/* Errors from a file name the file. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad_yaml, strlen(bad_yaml)), (ssize_t)strlen(bad_yaml));
	close(fd);
	assert_int_equal(conf_load_file(path, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":6:11: vips[0].port: "));
	assert_memory_equal(err, path, strlen(path));
	unlink(path);

	/* Missing file: path and strerror. */
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(conf_load_file(path, &c, err, sizeof(err)), -ENOENT);
	assert_memory_equal(err, path, strlen(path));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_true(is_zero(&c, sizeof(c)));
}

/* configs/reference.yaml documents every key: it must load as it is. */
static void test_reference_yaml(void **state)
{
	const char *root = getenv("SLUICE_SRC_ROOT");
	char path[4096], err[512];
	struct conf c;

	(void)state;
	if (root == NULL || *root == '\0') {
		print_message("SKIP: SLUICE_SRC_ROOT is not set, cannot find "
			      "configs/reference.yaml\n");
		skip();
	}
	snprintf(path, sizeof(path), "%s/configs/reference.yaml", root);
	if (conf_load_file(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* Spot checks that the file says what docs/config.md says it does. */
	assert_int_equal(c.n_ports, 2);
	assert_int_equal(c.n_vips, 4);
	assert_string_equal(c.vips[0].name, "web");
	assert_true(c.vips[0].backends[0].has_mac);
	assert_int_equal(c.vips[0].backends[2].admin, SL_ADMIN_DRAIN);
	assert_int_equal(c.vips[1].sched, SCHED_KIND_MAGLEV);
	assert_string_equal(c.vips[2].name, "[2001:db8:1::443]:443/tcp");
	assert_int_equal(c.vips[3].n_backends, 0);
	conf_free(&c);
}

/* ------------------------------------------------------------------------ */
/* the data plane's limits, the file's size and depth                       */

/* A text built piece by piece (the files below are too large to write out). */
struct text {
	char *s;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + (size_t)n + 64;
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	t->len += (size_t)n;
}

/* Loads <t> expecting failure with <expect> in the message; frees <t>. */
static void load_bad(struct text *t, const char *expect)
{
	char err[512] = "";
	struct conf c;
	int rc = conf_load_string(t->s, t->len, "t.yaml", &c, err, sizeof(err));

	if (rc == 0)
		conf_free(&c);
	free(t->s);
	if (rc == 0 || strstr(err, expect) == NULL)
		fail_msg("rc %d, got: %s\nexpected: %s", rc, err, expect);
}

static void load_good(struct text *t)
{
	struct conf c;

	load_ok(t->s, &c);
	conf_free(&c);
	free(t->s);
}

static void ports_text(struct text *t, int n)
{
	put(t, "ports:\n");
	for (int i = 0; i < n; i++)
		put(t, "  - {name: p%d, devargs: net_null%d}\n", i, i);
}

static void test_limit_ports(void **state)
{
	struct text t = {0};

	(void)state;
	ports_text(&t, CONF_MAX_PORTS);
	load_good(&t);
	memset(&t, 0, sizeof(t));
	ports_text(&t, CONF_MAX_PORTS + 1);
	load_bad(&t, "t.yaml:2:3: ports: at most 8 ports (the data plane's limit), got 9");
}

static void vips_text(struct text *t, int n)
{
	put(t, PORTS "vips:\n");
	for (int i = 0; i < n; i++)
		put(t, "  - {address: 198.18.%d.%d, port: 80}\n", 1 + i / 250, 1 + i % 250);
}

static void test_limit_vips(void **state)
{
	struct text t = {0};

	(void)state;
	vips_text(&t, CONF_MAX_VIPS);
	load_good(&t);
	memset(&t, 0, sizeof(t));
	vips_text(&t, 10000);
	load_bad(&t, "t.yaml:5:3: vips: at most 256 VIPs (the data plane's limit), got 10000");
}

/* <n_vips> VIPs of <per_vip> backends each. */
static void backends_text(struct text *t, int n_vips, int per_vip)
{
	put(t, PORTS "vips:\n");
	for (int v = 0; v < n_vips; v++) {
		put(t, "  - address: 198.18.1.%d\n    port: 80\n    backends:\n", v + 1);
		for (int i = 0; i < per_vip; i++)
			put(t, "      - {address: 10.%d.%d.%d}\n", v, i / 250, 1 + i % 250);
	}
}

static void test_limit_backends(void **state)
{
	struct text t = {0};

	(void)state;
	backends_text(&t, 2, CONF_MAX_BACKENDS / 2);
	load_good(&t);
	memset(&t, 0, sizeof(t));
	backends_text(&t, 2, 2500);
	load_bad(&t, "vips[1].backends: at most 4096 backends over all VIPs (the data plane's "
		     "limit), got 2500 here after 2500 before");
	memset(&t, 0, sizeof(t));
	backends_text(&t, 1, 5000);
	load_bad(&t, "vips[0].backends: at most 4096 backends over all VIPs");
}

/* <n_vips> fnat VIPs of 8 local addresses each, all different. */
static void laddrs_text(struct text *t, int n_vips)
{
	put(t, PORTS "vips:\n");
	for (int v = 0; v < n_vips; v++) {
		put(t, "  - {address: 198.18.1.%d, port: 80, mode: fnat, local_addresses: [",
		    v + 1);
		for (int i = 0; i < CONF_MAX_LOCAL_ADDRS; i++)
			put(t, "%s198.18.2.%d", i ? ", " : "", v * CONF_MAX_LOCAL_ADDRS + i + 1);
		put(t, "]}\n");
	}
}

static void test_limit_local_addrs(void **state)
{
	struct text t = {0};

	(void)state;
	laddrs_text(&t, CONF_MAX_LADDRS_TOTAL / CONF_MAX_LOCAL_ADDRS);
	load_good(&t);
	memset(&t, 0, sizeof(t));
	laddrs_text(&t, CONF_MAX_LADDRS_TOTAL / CONF_MAX_LOCAL_ADDRS + 1);
	load_bad(&t, "t.yaml:13:67: vips[8].local_addresses[0]: at most 64 different local "
		     "addresses over all VIPs (the data plane's limit)");
}

/* 100,000 levels of "[" used to keep libyaml busy for minutes: refused at once. */
static void test_deep_nesting_fast(void **state)
{
	struct text t = {0};
	struct timespec a, b;
	char err[512] = "";
	struct conf c;
	int rc;

	(void)state;
	put(&t, PORTS "vips: ");
	for (int i = 0; i < 100000; i++)
		put(&t, "[");
	for (int i = 0; i < 100000; i++)
		put(&t, "]");
	put(&t, "\n");
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = conf_load_string(t.s, t.len, "t.yaml", &c, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &b);
	free(t.s);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err, "t.yaml:4:38: nested deeper than 32 levels"));
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 1000);
	/* Block nesting counts the same way. */
	memset(&t, 0, sizeof(t));
	put(&t, PORTS "vips:\n");
	for (int i = 0; i < 40; i++)
		put(&t, "%*s- \n", 2 * i, "");
	load_bad(&t, "nested deeper than 32 levels of lists and mappings");
}

static void test_file_too_large(void **state)
{
	char path[] = "/tmp/test_conf_XXXXXX";
	char err[512] = "";
	struct conf c;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(PORTS "# ", f);
	for (size_t i = 0; i < CONF_MAX_FILE_SIZE; i++)
		fputc('x', f);
	fclose(f);
	assert_int_equal(conf_load_file(path, &c, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than 4194304 bytes"));
	assert_true(is_zero(&c, sizeof(c)));
	unlink(path);
}

/* The checks the API runs on vip.add / vip.set, without YAML around them. */
static void test_vip_check(void **state)
{
	struct conf_vip v;
	struct conf_problem p;

	(void)state;
	memset(&v, 0, sizeof(v));
	assert_int_equal(sl_addr_parse(&v.addr, "198.18.1.100"), 0);
	v.port = 80;
	v.maglev_size = 65537;
	assert_int_equal(conf_vip_check(&v, &p), 0); /* no name: the default one */
	snprintf(v.name, sizeof(v.name), "a b");
	assert_int_equal(conf_vip_check(&v, &p), -EINVAL);
	assert_string_equal(p.key, "name");
	snprintf(v.name, sizeof(v.name), "web\x1b[2J");
	assert_int_equal(conf_vip_check(&v, &p), -EINVAL);
	assert_string_equal(p.msg, "expected printable characters without spaces, got \"web?[2J\"");
	snprintf(v.name, sizeof(v.name), "web");
	v.mode = SL_MODE_FNAT;
	v.n_local_addrs = 2;
	assert_int_equal(sl_addr_parse(&v.local_addrs[0], "198.18.0.5"), 0);
	v.local_addrs[1] = v.local_addrs[0];
	assert_int_equal(conf_vip_check(&v, &p), -EINVAL);
	assert_string_equal(p.key, "local_addresses");
	assert_int_equal(p.index, 1);
	v.local_addrs[1] = v.addr;
	assert_int_equal(conf_vip_check(&v, &p), -EINVAL);
	assert_non_null(strstr(p.msg, "the VIP's own address"));
	v.n_local_addrs = 1;
	v.maglev_size = 16777213;
	assert_int_equal(conf_vip_check(&v, &p), -EINVAL);
	assert_string_equal(p.key, "maglev_table_size");
	v.maglev_size = CONF_MAX_MAGLEV_SIZE;
	assert_int_equal(conf_vip_check(&v, &p), 0);
	assert_int_equal(sl_addr_parse(&v.addr, "255.255.255.255"), 0);
	assert_int_equal(conf_vip_check(&v, &p), -EINVAL);
	assert_string_equal(p.key, "address");
}

/* ------------------------------------------------------------------------ */
/* bad files: text -> a substring of the one error expected                 */

struct bad_case {
	const char *name;
	const char *yaml;
	const char *expect;
};

#define VIP    PORTS "vips:\n  - address: 198.18.1.100\n    port: 80\n" /* lines 4-6 */
#define LONG64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct bad_case bad_cases[] = {
	/* The example from conf.h, to the letter. */
	{"bad_conf_h_example",
	 "dataplane:\n  flow_capacity: 1024\n  api_socket: /tmp/s\n" PORTS
	 "vips:\n  - address: 198.18.1.100\n    port: 80\n    backends:\n"
	 "      - address: 198.18.0.11\n      - address: 198.18.0.12\n"
	 "      - address: 198.18.0.13\n        weight: x\n",
	 "t.yaml:14:17: vips[0].backends[2].weight: expected an integer 0..65535, got \"x\""},

	/* Documents and YAML syntax. */
	{"bad_empty", "", "t.yaml: no configuration"},
	{"bad_comments_only", "# nothing here\n\n", "t.yaml: no configuration"},
	{"bad_bare_document", "---\n", "t.yaml: no configuration"},
	{"bad_syntax_mapping", "ports: a: b\n",
	 "t.yaml:1:9: YAML syntax error: mapping values are not allowed"},
	{"bad_syntax_flow", PORTS "vips: [\n",
	 "t.yaml:5:1: YAML syntax error: did not find expected node content (while parsing a flow "
	 "node)"},
	{"bad_syntax_indent", "ports:\n  - name: a\n   devargs: b\n",
	 "t.yaml:3:4: YAML syntax error: did not find expected '-' indicator"},
	{"bad_syntax_alias", "ports: *nowhere\n",
	 "t.yaml:1:8: YAML syntax error: found undefined alias"},
	{"bad_utf8", "ports: \xff\n", "t.yaml: YAML error at byte 7: invalid leading UTF-8 octet"},
	{"bad_two_documents", PORTS "---\n" PORTS, "t.yaml:5:1: only one YAML document is allowed"},
	{"bad_second_document_syntax", PORTS "---\na: b: c\n", "t.yaml:5:5: YAML syntax error"},

	/* What happens to flows: down backends, drain deadline, first-response timeout. */
	{"bad_down_flows", VIP "    down_flows: move\n",
	 "t.yaml:7:17: vips[0].down_flows: expected one of reschedule | keep | reset, got "
	 "\"move\""},
	{"bad_response_timeout_dsr", VIP "    response_timeout: 5\n",
	 "t.yaml:7:23: vips[0].response_timeout: needs a mode in which replies pass through "
	 "Sluice (fnat, nat), not dsr"},
	{"bad_response_timeout_zero", VIP "    mode: nat\n    response_timeout: 0\n",
	 "vips[0].response_timeout: expected"},
	{"bad_redispatch_dsr", VIP "    redispatch: off\n",
	 "vips[0].redispatch: needs a mode in which replies pass through Sluice (fnat, nat), "
	 "not dsr"},
	{"bad_redispatch_word", VIP "    mode: nat\n    redispatch: yes\n",
	 "vips[0].redispatch: expected one of on | off, got \"yes\""},
	{"bad_syn_timeout_dsr", VIP "    syn_timeout: 0.3\n",
	 "vips[0].syn_timeout: needs a mode in which replies pass through Sluice"},
	{"bad_syn_timeout_zero", VIP "    mode: nat\n    syn_timeout: 0\n",
	 "vips[0].syn_timeout: expected a number of seconds 0.001..60"},
	{"bad_syn_timeout_long", VIP "    mode: nat\n    syn_timeout: 61\n",
	 "vips[0].syn_timeout:"},
	{"bad_backend_health_interval",
	 VIP "    backends:\n      - address: 198.18.0.11\n"
	     "        health_check:\n          interval: 0\n",
	 "t.yaml:10:21: vips[0].backends[0].health_check.interval: expected"},
	{"bad_health_address", VIP "    health_check: {type: tcp, address: 198.18.0.300}\n",
	 "t.yaml:7:40: vips[0].health_check.address: expected an IPv4 or IPv6 address, got "
	 "\"198.18.0.300\""},
	{"bad_health_address_multicast",
	 VIP "    backends:\n      - address: 198.18.0.11\n"
	     "        health_check: {address: 224.0.0.1}\n",
	 "t.yaml:9:33: vips[0].backends[0].health_check.address: a check cannot go to a "
	 "multicast address"},
	{"bad_health_address_any", VIP "    health_check: {type: tcp, address: \"::\"}\n",
	 "vips[0].health_check.address: a check cannot go to the unspecified address"},
	{"bad_health_address_list", VIP "    health_check: {type: tcp, address: [198.18.2.1]}\n",
	 "vips[0].health_check.address: expected"},
	{"bad_health_port_zero", VIP "    health_check: {type: tcp, port: 0}\n",
	 "vips[0].health_check.port: expected an integer 1..65535"},
	{"bad_backend_health_exec",
	 VIP "    backends:\n      - address: 198.18.0.11\n"
	     "        health_check: {type: exec}\n",
	 "vips[0].backends[0].health_check: type exec needs a command"},
	{"bad_control_key", "control:\n  sockt: /x\n" PORTS,
	 "t.yaml:2:3: control: unknown key \"sockt\" (did you mean \"socket\"?)"},
	{"bad_api_idle_timeout_zero", "dataplane:\n  api_idle_timeout: 0\n" PORTS,
	 "t.yaml:2:21: dataplane.api_idle_timeout: expected a number of seconds 0.001..86400"},
	{"bad_api_group_space", "dataplane:\n  api_group: \"a b\"\n" PORTS, "dataplane.api_group"},
	{"bad_drain_deadline", VIP "    drain_deadline: 1s\n", "vips[0].drain_deadline: expected"},

	/* Top level. */
	{"bad_top_scalar", "hello\n", "t.yaml:1:1: the top level must be a mapping"},
	{"bad_top_list", "- ports\n", "t.yaml:1:1: the top level must be a mapping"},
	{"bad_top_unknown_close", "portz: []\n",
	 "t.yaml:1:1: unknown key \"portz\" (did you mean \"ports\"?)"},
	{"bad_top_unknown_far", PORTS "backends: []\n",
	 "t.yaml:4:1: unknown key \"backends\" (expected one of: dataplane, control, cluster, "
	 "ports, vips)"},
	{"bad_top_duplicate_key", PORTS "ports: []\n",
	 "t.yaml:4:1: duplicate key \"ports\" (first at line 1)"},
	{"bad_complex_key", PORTS "? [a]\n: 1\n", "t.yaml:4:3: expected a key name, got a list"},

	/* ports */
	{"bad_ports_missing", "vips: []\n", "t.yaml:1:1: missing required key \"ports\""},
	{"bad_ports_empty_list", "ports: []\n", "t.yaml:1:8: ports: at least one port is required"},
	{"bad_ports_null", "ports:\nvips: []\n", "ports: at least one port is required"},
	{"bad_ports_scalar", "ports: lan\n",
	 "t.yaml:1:8: ports: expected a list, got a single value"},
	{"bad_ports_mapping", "ports: {name: lan}\n",
	 "t.yaml:1:8: ports: expected a list, got a mapping"},
	{"bad_port_scalar", "ports:\n  - lan\n",
	 "t.yaml:2:5: ports[0]: expected a mapping, got a single value"},
	{"bad_port_no_name", "ports:\n  - devargs: net_null0\n",
	 "t.yaml:2:5: ports[0]: missing required key \"name\""},
	{"bad_port_no_devargs", "ports:\n  - name: lan\n",
	 "t.yaml:2:5: ports[0]: missing required key \"devargs\""},
	{"bad_port_devargs_empty", "ports:\n  - name: lan\n    devargs: \"\"\n",
	 "t.yaml:3:14: ports[0].devargs: must not be empty"},
	{"bad_port_devargs_null", "ports:\n  - name: lan\n    devargs:\n",
	 "ports[0].devargs: must not be empty"},
	{"bad_port_name_empty", "ports:\n  - name: ''\n    devargs: x\n",
	 "t.yaml:2:11: ports[0].name: must not be empty"},
	{"bad_port_name_space", "ports:\n  - name: my lan\n    devargs: x\n",
	 "t.yaml:2:11: ports[0].name: expected printable characters without spaces, got \"my "
	 "lan\""},
	{"bad_port_name_long", "ports:\n  - name: " LONG64 "\n    devargs: x\n",
	 "ports[0].name: too long (at most 63 characters)"},
	{"bad_port_name_list", "ports:\n  - name: [a]\n    devargs: x\n",
	 "t.yaml:2:11: ports[0].name: expected a value, got a list"},
	{"bad_port_name_nul", "ports:\n  - name: \"a\\0b\"\n    devargs: x\n",
	 "t.yaml:2:11: ports[0].name: value contains a NUL character"},
	{"bad_port_duplicate_name", PORTS "  - name: lan\n    devargs: net_null1\n",
	 "t.yaml:4:11: ports[1].name: duplicate port name \"lan\" (first at line 2)"},
	{"bad_port_unknown_key", PORTS "    ipv44: 198.18.0.2/24\n",
	 "t.yaml:4:5: ports[0]: unknown key \"ipv44\" (did you mean \"ipv4\"?)"},
	{"bad_port_ipv4_no_prefix", PORTS "    ipv4: 198.18.0.2\n",
	 "t.yaml:4:11: ports[0].ipv4: expected an IPv4 address with prefix length (e.g. "
	 "198.18.0.2/24), got \"198.18.0.2\""},
	{"bad_port_ipv4_plen", PORTS "    ipv4: 198.18.0.2/33\n",
	 "t.yaml:4:11: ports[0].ipv4: expected an IPv4 address with prefix length"},
	{"bad_port_ipv4_is_v6", PORTS "    ipv4: 2001:db8::2/64\n",
	 "t.yaml:4:11: ports[0].ipv4: expected an IPv4 address"},
	{"bad_port_ipv6_is_v4", PORTS "    ipv6: 198.18.0.2/24\n",
	 "t.yaml:4:11: ports[0].ipv6: expected an IPv6 address with prefix length (e.g. "
	 "2001:db8::2/64)"},

	/* dataplane */
	{"bad_dataplane_scalar", "dataplane: 5\n" PORTS,
	 "t.yaml:1:12: dataplane: expected a mapping, got a single value"},
	{"bad_dataplane_unknown", "dataplane:\n  flow_capacty: 5\n" PORTS,
	 "t.yaml:2:3: dataplane: unknown key \"flow_capacty\" (did you mean \"flow_capacity\"?)"},
	{"bad_api_socket_long", "dataplane:\n  api_socket: /" LONG64 "/" LONG64 "\n" PORTS,
	 "t.yaml:2:15: dataplane.api_socket: too long (at most 107 characters)"},
	{"bad_api_socket_empty", "dataplane:\n  api_socket: \"\"\n" PORTS,
	 "dataplane.api_socket: must not be empty"},
	{"bad_flow_capacity_zero", "dataplane:\n  flow_capacity: 0\n" PORTS,
	 "t.yaml:2:18: dataplane.flow_capacity: expected an integer 1..67108864, got \"0\""},
	{"bad_flow_capacity_big", "dataplane:\n  flow_capacity: 67108865\n" PORTS,
	 "dataplane.flow_capacity: expected an integer 1..67108864, got \"67108865\""},
	{"bad_flow_capacity_huge", "dataplane:\n  flow_capacity: 99999999999999999999999\n" PORTS,
	 "dataplane.flow_capacity: expected an integer 1..67108864"},
	{"bad_flow_capacity_negative", "dataplane:\n  flow_capacity: -1\n" PORTS,
	 "dataplane.flow_capacity: expected an integer 1..67108864, got \"-1\""},
	{"bad_flow_capacity_exponent", "dataplane:\n  flow_capacity: 1e6\n" PORTS,
	 "dataplane.flow_capacity: expected an integer"},
	{"bad_timeouts_scalar", "dataplane:\n  timeouts: 5\n" PORTS,
	 "t.yaml:2:13: dataplane.timeouts: expected a mapping"},
	{"bad_timeouts_unknown", "dataplane:\n  timeouts:\n    tcp_sync: 5\n" PORTS,
	 "t.yaml:3:5: dataplane.timeouts: unknown key \"tcp_sync\" (did you mean \"tcp_syn\"?)"},
	{"bad_timeout_zero", "dataplane:\n  timeouts:\n    tcp_syn: 0\n" PORTS,
	 "t.yaml:3:14: dataplane.timeouts.tcp_syn: expected a number of seconds 0.001..604800 "
	 "(e.g. 30 or 0.5), got \"0\""},
	{"bad_timeout_word", "dataplane:\n  timeouts:\n    udp: forever\n" PORTS,
	 "dataplane.timeouts.udp: expected a number of seconds"},
	{"bad_timeout_too_precise", "dataplane:\n  timeouts:\n    udp_new: 0.0005\n" PORTS,
	 "dataplane.timeouts.udp_new: expected a number of seconds"},
	{"bad_timeout_too_long", "dataplane:\n  timeouts:\n    tcp_established: 604800.001\n" PORTS,
	 "dataplane.timeouts.tcp_established: expected a number of seconds"},
	{"bad_timeout_trailing_dot", "dataplane:\n  timeouts:\n    tcp_fin: 1.\n" PORTS,
	 "dataplane.timeouts.tcp_fin: expected a number of seconds"},
	{"bad_timeout_leading_dot", "dataplane:\n  timeouts:\n    tcp_closed: .5\n" PORTS,
	 "dataplane.timeouts.tcp_closed: expected a number of seconds"},
	{"bad_timeout_unit", "dataplane:\n  timeouts:\n    tcp_closed: 5s\n" PORTS,
	 "dataplane.timeouts.tcp_closed: expected a number of seconds"},
	{"bad_neighbour_unknown", "dataplane:\n  neighbour:\n    timeout: 5\n" PORTS,
	 "t.yaml:3:5: dataplane.neighbour: unknown key \"timeout\" (expected one of: reachable, "
	 "retry)"},
	{"bad_neighbour_retry_zero", "dataplane:\n  neighbour:\n    retry: 0.000\n" PORTS,
	 "t.yaml:3:12: dataplane.neighbour.retry: expected a number of seconds 0.001..3600"},
	{"bad_neighbour_reachable_big", "dataplane:\n  neighbour:\n    reachable: 86401\n" PORTS,
	 "dataplane.neighbour.reachable: expected a number of seconds 0.001..86400"},

	/* vips */
	{"bad_vips_mapping", PORTS "vips: {}\n",
	 "t.yaml:4:7: vips: expected a list, got a mapping"},
	{"bad_vip_scalar", PORTS "vips:\n  - web\n",
	 "t.yaml:5:5: vips[0]: expected a mapping, got a single value"},
	{"bad_vip_no_address", PORTS "vips:\n  - port: 80\n",
	 "t.yaml:5:5: vips[0]: missing required key \"address\""},
	{"bad_vip_no_port", PORTS "vips:\n  - address: 198.18.1.100\n",
	 "t.yaml:5:5: vips[0]: missing required key \"port\""},
	{"bad_vip_empty_mapping", PORTS "vips:\n  - {}\n",
	 "t.yaml:5:5: vips[0]: missing required key \"address\""},
	{"bad_vip_unknown_key", VIP "    schedular: rr\n",
	 "t.yaml:7:5: vips[0]: unknown key \"schedular\" (did you mean \"scheduler\"?)"},
	{"bad_vip_address", PORTS "vips:\n  - address: 198.18.1.300\n    port: 80\n",
	 "t.yaml:5:14: vips[0].address: expected an IPv4 or IPv6 address, got \"198.18.1.300\""},
	{"bad_vip_address_prefix", PORTS "vips:\n  - address: 198.18.1.1/32\n    port: 80\n",
	 "t.yaml:5:14: vips[0].address: expected an IPv4 or IPv6 address"},
	{"bad_vip_port_zero", PORTS "vips:\n  - address: 198.18.1.100\n    port: 0\n",
	 "t.yaml:6:11: vips[0].port: expected an integer 1..65535, got \"0\""},
	{"bad_vip_port_big", PORTS "vips:\n  - address: 198.18.1.100\n    port: 65536\n",
	 "t.yaml:6:11: vips[0].port: expected an integer 1..65535, got \"65536\""},
	{"bad_vip_protocol", VIP "    protocol: sctp\n",
	 "t.yaml:7:15: vips[0].protocol: expected one of tcp | udp, got \"sctp\""},
	{"bad_vip_protocol_case", VIP "    protocol: TCP\n",
	 "vips[0].protocol: expected one of tcp | udp, got \"TCP\""},
	{"bad_fnat_no_local", VIP "    mode: fnat\n",
	 "t.yaml:5:5: vips[0]: mode fnat needs local_addresses"},
	{"bad_local_family", VIP "    mode: fnat\n    local_addresses: [\"2001:db8::5\"]\n",
	 "t.yaml:8:23: vips[0].local_addresses[0]: must be of the VIP's address family"},
	{"bad_local_dup", VIP "    local_addresses: [198.18.0.5, 198.18.0.5]\n",
	 "t.yaml:7:35: vips[0].local_addresses[1]: duplicate local address 198.18.0.5"},
	{"bad_local_is_vip",
	 VIP "    mode: fnat\n    local_addresses: [198.18.0.5, 198.18.1.100]\n",
	 "t.yaml:8:35: vips[0].local_addresses[1]: 198.18.1.100 is the VIP's own address"},
	{"bad_local_broadcast", VIP "    mode: fnat\n    local_addresses: [255.255.255.255]\n",
	 "vips[0].local_addresses[0]: 255.255.255.255 cannot be a local address: the broadcast "
	 "address"},

	/* A VIP clients can send to: not this-network, broadcast, multicast or loopback. */
	{"bad_vip_any", PORTS "vips:\n  - address: 0.0.0.0\n    port: 80\n",
	 "t.yaml:5:14: vips[0].address: 0.0.0.0 cannot be a VIP: \"this network\""},
	{"bad_vip_broadcast", PORTS "vips:\n  - address: 255.255.255.255\n    port: 80\n",
	 "t.yaml:5:14: vips[0].address: 255.255.255.255 cannot be a VIP: the broadcast address"},
	{"bad_vip_multicast", PORTS "vips:\n  - address: 224.0.0.1\n    port: 80\n",
	 "vips[0].address: 224.0.0.1 cannot be a VIP: a multicast address"},
	{"bad_vip_loopback", PORTS "vips:\n  - address: 127.0.0.1\n    port: 80\n",
	 "vips[0].address: 127.0.0.1 cannot be a VIP: a loopback address"},
	{"bad_vip_any6", PORTS "vips:\n  - address: \"::\"\n    port: 80\n",
	 "vips[0].address: :: cannot be a VIP: the unspecified address"},
	{"bad_vip_multicast6", PORTS "vips:\n  - address: ff02::1\n    port: 80\n",
	 "vips[0].address: ff02::1 cannot be a VIP: a multicast address"},
	{"bad_vip_name_escape", VIP "    name: \"web\\e[31m\"\n",
	 "t.yaml:7:11: vips[0].name: expected printable characters without spaces, got "
	 "\"web?[31m\""},
	{"bad_vip_name_newline", VIP "    name: \"a\\nb\"\n", "vips[0].name: expected printable"},

	/* The file's shape: nesting is refused before the document is built. */
	{"bad_deep_flow",
	 PORTS
	 "vips: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
	 "t.yaml:4:38: nested deeper than 32 levels of lists and mappings"},
	{"bad_vip_mode", VIP "    mode: dr\n",
	 "t.yaml:7:11: vips[0].mode: expected one of dsr | tunnel | fnat | nat, got \"dr\""},
	{"bad_vip_scheduler", VIP "    scheduler: sh\n",
	 "t.yaml:7:16: vips[0].scheduler: expected one of rr | wrr | lc | wlc | maglev, got "
	 "\"sh\""},
	{"bad_vip_hash", VIP "    hash: src\n",
	 "t.yaml:7:11: vips[0].hash: expected one of 5-tuple | source-ip, got \"src\""},
	{"bad_vip_name_empty", VIP "    name: \"\"\n",
	 "t.yaml:7:11: vips[0].name: must not be empty"},
	{"bad_vip_name_long", VIP "    name: " LONG64 "\n",
	 "t.yaml:7:11: vips[0].name: too long (at most 63 characters), got \"aaaa"},
	{"bad_maglev_not_prime", VIP "    maglev_table_size: 65536\n",
	 "t.yaml:7:24: vips[0].maglev_table_size: 65536 is not a prime number"},
	{"bad_maglev_one", VIP "    maglev_table_size: 1\n",
	 "t.yaml:7:24: vips[0].maglev_table_size: expected an integer 2..1048573, got \"1\""},
	{"bad_maglev_too_big", VIP "    maglev_table_size: 1048583\n",
	 "vips[0].maglev_table_size: expected an integer 2..1048573, got \"1048583\""},
	{"bad_maglev_was_allowed", VIP "    maglev_table_size: 16777213\n",
	 "vips[0].maglev_table_size: expected an integer 2..1048573"},
	{"bad_maglev_small_for_pool_any_scheduler",
	 VIP "    maglev_table_size: 2\n    backends:\n"
	     "      - address: 198.18.0.11\n      - address: 198.18.0.12\n",
	 "t.yaml:7:24: vips[0].maglev_table_size: 2 must be greater than the number of backends "
	 "(2)"},
	{"bad_maglev_small_for_pool",
	 VIP "    scheduler: maglev\n    maglev_table_size: 2\n    backends:\n"
	     "      - address: 198.18.0.11\n      - address: 198.18.0.12\n",
	 "t.yaml:8:24: vips[0].maglev_table_size: 2 must be greater than the number of backends "
	 "(2)"},
	{"bad_maglev_not_prime_any_scheduler", VIP "    scheduler: wrr\n    maglev_table_size: 9\n",
	 "vips[0].maglev_table_size: 9 is not a prime number"},
	{"bad_vip_duplicate",
	 PORTS "vips:\n  - address: 198.18.1.100\n    port: 80\n"
	       "  - address: 198.18.1.100\n    port: 80\n    protocol: tcp\n",
	 "t.yaml:7:5: vips[1]: duplicate VIP 198.18.1.100:80/tcp (first defined at line 5)"},
	{"bad_vip_duplicate_v6",
	 PORTS "vips:\n  - {address: \"2001:db8::1\", port: 53, protocol: udp, name: a}\n"
	       "  - {address: \"2001:db8:0::1\", port: 53, protocol: udp, name: b}\n",
	 "t.yaml:6:5: vips[1]: duplicate VIP [2001:db8::1]:53/udp (first defined at line 5)"},
	{"bad_vip_duplicate_name",
	 PORTS "vips:\n  - {name: web, address: 198.18.1.1, port: 80}\n"
	       "  - {name: web, address: 198.18.1.2, port: 80}\n",
	 "t.yaml:6:12: vips[1].name: duplicate VIP name \"web\" (first defined at line 5)"},
	{"bad_vip_name_is_another_default",
	 PORTS "vips:\n  - {address: 198.18.1.1, port: 80}\n"
	       "  - {name: 198.18.1.1:80/tcp, address: 198.18.1.2, port: 80}\n",
	 "vips[1].name: duplicate VIP name \"198.18.1.1:80/tcp\" (first defined at line 5)"},

	/* backends */
	{"bad_backends_mapping", VIP "    backends: {address: 198.18.0.11}\n",
	 "t.yaml:7:15: vips[0].backends: expected a list, got a mapping"},
	{"bad_backend_scalar", VIP "    backends:\n      - 198.18.0.11\n",
	 "t.yaml:8:9: vips[0].backends[0]: expected a mapping, got a single value"},
	{"bad_backend_no_address", VIP "    backends:\n      - weight: 1\n",
	 "t.yaml:8:9: vips[0].backends[0]: missing required key \"address\""},
	{"bad_backend_unknown_key",
	 VIP "    backends:\n      - address: 198.18.0.11\n        wieght: 1\n",
	 "t.yaml:9:9: vips[0].backends[0]: unknown key \"wieght\" (did you mean \"weight\"?)"},
	{"bad_backend_address", VIP "    backends:\n      - address: backend1.example\n",
	 "t.yaml:8:18: vips[0].backends[0].address: expected an IPv4 or IPv6 address, got "
	 "\"backend1.example\""},
	{"bad_backend_port_zero",
	 VIP "    backends:\n      - address: 198.18.0.11\n        port: 0\n",
	 "t.yaml:9:15: vips[0].backends[0].port: expected an integer 1..65535, got \"0\""},
	{"bad_backend_weight_big",
	 VIP "    backends:\n      - address: 198.18.0.11\n        weight: 65536\n",
	 "t.yaml:9:17: vips[0].backends[0].weight: expected an integer 0..65535, got \"65536\""},
	{"bad_backend_weight_negative",
	 VIP "    backends:\n      - address: 198.18.0.11\n        weight: -1\n",
	 "vips[0].backends[0].weight: expected an integer 0..65535, got \"-1\""},
	{"bad_backend_weight_float",
	 VIP "    backends:\n      - address: 198.18.0.11\n        weight: 1.5\n",
	 "vips[0].backends[0].weight: expected an integer 0..65535, got \"1.5\""},
	{"bad_backend_mac_short",
	 VIP "    backends:\n      - address: 198.18.0.11\n        mac: 02:00:00:00:00\n",
	 "t.yaml:9:14: vips[0].backends[0].mac: expected a MAC address like 02:00:00:00:00:0b, "
	 "got \"02:00:00:00:00\""},
	{"bad_backend_mac_hex",
	 VIP "    backends:\n      - address: 198.18.0.11\n        mac: 02:00:00:00:00:0g\n",
	 "vips[0].backends[0].mac: expected a MAC address"},
	{"bad_backend_mac_single_digits",
	 VIP "    backends:\n      - address: 198.18.0.11\n        mac: 2:0:0:0:0:b\n",
	 "vips[0].backends[0].mac: expected a MAC address"},
	{"bad_backend_mac_dashes",
	 VIP "    backends:\n      - address: 198.18.0.11\n        mac: 02-00-00-00-00-0b\n",
	 "vips[0].backends[0].mac: expected a MAC address"},
	{"bad_backend_state",
	 VIP "    backends:\n      - address: 198.18.0.11\n        state: up\n",
	 "t.yaml:9:16: vips[0].backends[0].state: expected one of ready | drain | maint, got "
	 "\"up\""},
	{"bad_backend_v6_for_v4_vip", VIP "    backends:\n      - address: 2001:db8::11\n",
	 "t.yaml:8:18: vips[0].backends[0].address: an IPv6 backend cannot serve an IPv4 VIP"},
	{"bad_backend_v4_for_v6_vip",
	 PORTS "vips:\n  - address: 2001:db8::100\n    port: 80\n    backends:\n"
	       "      - address: 2001:db8::11\n      - address: 198.18.0.11\n",
	 "t.yaml:9:18: vips[0].backends[1].address: an IPv4 backend cannot serve an IPv6 VIP"},
	{"bad_backend_duplicate",
	 VIP "    backends:\n      - address: 198.18.0.11\n      - address: 198.18.0.12\n"
	     "      - address: 198.18.0.11\n",
	 "t.yaml:10:9: vips[0].backends[2]: duplicate backend 198.18.0.11:80 (first at line 8)"},
	{"bad_backend_duplicate_default_port",
	 VIP "    backends:\n      - address: 198.18.0.11\n      - address: 198.18.0.11\n"
	     "        port: 80\n",
	 "t.yaml:9:9: vips[0].backends[1]: duplicate backend 198.18.0.11:80 (first at line 8)"},
	{"bad_backend_duplicate_v6",
	 PORTS "vips:\n  - address: 2001:db8::100\n    port: 80\n    backends:\n"
	       "      - {address: \"2001:db8::11\", port: 8080}\n"
	       "      - {address: \"2001:db8:0:0::11\", port: 8080}\n",
	 "t.yaml:9:9: vips[0].backends[1]: duplicate backend [2001:db8::11]:8080 (first at line "
	 "8)"},
	/* The second VIP is bad after the first decoded fully (frees both pools). */
	{"bad_second_vip_backend",
	 VIP "    backends:\n      - address: 198.18.0.11\n"
	     "  - address: 198.18.1.101\n    port: 80\n    backends:\n"
	     "      - address: 198.18.0.11\n      - address: 198.18.0.12\n        weight: heavy\n",
	 "t.yaml:14:17: vips[1].backends[1].weight: expected an integer 0..65535, got \"heavy\""},
	/* Long values are shortened in messages. */
	{"bad_long_value_quoted", VIP "    mode: " LONG64 "\n",
	 "got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""},
};

#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void run_bad_case(void **state)
{
	const struct bad_case *bc = *state;
	char err[1024] = "";
	struct conf c;
	int rc;

	memset(&c, 0xa5, sizeof(c));
	rc = conf_load_string(bc->yaml, strlen(bc->yaml), "t.yaml", &c, err, sizeof(err));
	if (rc != -EINVAL || strstr(err, bc->expect) == NULL) {
		if (rc == 0)
			conf_free(&c);
		fail_msg("%s: rc %d\n  got:      %s\n  expected: %s\n--- config ---\n%s", bc->name,
			 rc, err, bc->expect, bc->yaml);
	}
	/* One line, no stray newline from libyaml's messages. */
	assert_null(strchr(err, '\n'));
	assert_true(is_zero(&c, sizeof(c)));
	conf_free(&c);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_vip_defaults),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_empty_sections),
		cmocka_unit_test(test_not_duplicates),
		cmocka_unit_test(test_enum_names),
		cmocka_unit_test(test_err_truncated),
		cmocka_unit_test(test_string_len),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_reference_yaml),
		cmocka_unit_test(test_down_flows_and_timeouts),
		cmocka_unit_test(test_backend_health_check),
		cmocka_unit_test(test_limit_ports),
		cmocka_unit_test(test_limit_vips),
		cmocka_unit_test(test_limit_backends),
		cmocka_unit_test(test_limit_local_addrs),
		cmocka_unit_test(test_deep_nesting_fast),
		cmocka_unit_test(test_file_too_large),
		cmocka_unit_test(test_vip_check),
	};
	const size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *tests;
	int failed;

	/* One named test per bad case, so a failure names the case. */
	tests = calloc(n_fixed + N_BAD, sizeof(*tests));
	if (tests == NULL)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < N_BAD; i++) {
		tests[n_fixed + i].name = bad_cases[i].name;
		tests[n_fixed + i].test_func = run_bad_case;
		tests[n_fixed + i].initial_state = (void *)&bad_cases[i];
	}
	failed = _cmocka_run_group_tests("conf", tests, n_fixed + N_BAD, NULL, NULL);
	free(tests);
	return failed;
}
