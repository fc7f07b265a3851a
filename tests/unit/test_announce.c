/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/ctrl/announce: when a node announces a VIP (data plane
 * answering, not drained, a usable backend) on a fake clock, and the BIRD
 * include it renders (deterministic, both families, empty when withdrawn).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "announce.h"
#include "conf.h"

#define T0 5000u /* fake clock, ms */

static struct sl_addr addr(const char *s)
{
	struct sl_addr a;

	assert_int_equal(sl_addr_parse(&a, s), 0);
	return a;
}

static void test_never_answered_is_down(void **state)
{
	struct ann_node n;

	(void)state;
	ann_node_init(&n, 1000);
	assert_false(ann_dp_alive(&n, 0));
	assert_int_equal(ann_vip_decide(&n, 3, T0), ANN_DP_DOWN);
}

static void test_dp_timeout(void **state)
{
	struct ann_node n;

	(void)state;
	ann_node_init(&n, 1000);
	ann_dp_answered(&n, T0);
	assert_int_equal(ann_vip_decide(&n, 1, T0), ANN_UP);
	assert_int_equal(ann_vip_decide(&n, 1, T0 + 1000), ANN_UP); /* the bound is inclusive */
	assert_int_equal(ann_vip_decide(&n, 1, T0 + 1001), ANN_DP_DOWN);
	/* It answers again: announced again at once. */
	ann_dp_answered(&n, T0 + 1500);
	assert_int_equal(ann_vip_decide(&n, 1, T0 + 1500), ANN_UP);
}

/* A refused socket is down at once; a silent one only after the timeout. */
static void test_dp_gone(void **state)
{
	struct ann_node n;

	(void)state;
	ann_node_init(&n, 2000);
	ann_dp_answered(&n, T0);
	ann_dp_gone(&n);
	assert_false(ann_dp_alive(&n, T0 + 1));
	assert_int_equal(ann_vip_decide(&n, 1, T0 + 1), ANN_DP_DOWN);
	/* Started again: its first answer announces again. */
	ann_dp_answered(&n, T0 + 900);
	assert_int_equal(ann_vip_decide(&n, 1, T0 + 900), ANN_UP);
	assert_int_equal(ann_vip_decide(&n, 1, T0 + 2900), ANN_UP);
	assert_int_equal(ann_vip_decide(&n, 1, T0 + 2901), ANN_DP_DOWN);
}

static void test_answer_at_clock_zero(void **state)
{
	struct ann_node n;

	(void)state;
	ann_node_init(&n, 100);
	ann_dp_answered(&n, 0);
	assert_true(ann_dp_alive(&n, 0));
	assert_true(ann_dp_alive(&n, 100));
	assert_false(ann_dp_alive(&n, 102));
}

static void test_no_backend(void **state)
{
	struct ann_node n;

	(void)state;
	ann_node_init(&n, 1000);
	ann_dp_answered(&n, T0);
	assert_int_equal(ann_vip_decide(&n, 0, T0), ANN_NO_BACKEND);
	assert_int_equal(ann_vip_decide(&n, 1, T0), ANN_UP);
}

static void test_drain_and_precedence(void **state)
{
	struct ann_node n;

	(void)state;
	ann_node_init(&n, 1000);
	ann_dp_answered(&n, T0);
	n.drained = true;
	assert_int_equal(ann_vip_decide(&n, 4, T0), ANN_DRAINED);
	/* Drained and no backend: drained is what the operator asked, said first. */
	assert_int_equal(ann_vip_decide(&n, 0, T0), ANN_DRAINED);
	/* A dead data plane is said before either. */
	assert_int_equal(ann_vip_decide(&n, 0, T0 + 5000), ANN_DP_DOWN);
	n.drained = false;
	assert_int_equal(ann_vip_decide(&n, 4, T0), ANN_UP);
	assert_string_equal(ann_why_name(ANN_UP), "announced");
	assert_string_equal(ann_why_name(ANN_DRAINED), "drained");
	assert_string_equal(ann_why_name(ANN_NO_BACKEND), "no backend");
	assert_string_equal(ann_why_name(ANN_DP_DOWN), "dataplane down");
}

static void test_normalize(void **state)
{
	struct ann_route r[] = {
		{addr("198.18.1.101")}, {addr("2001:db8:1::100")}, {addr("198.18.1.100")},
		{addr("198.18.1.101")}, {addr("198.18.1.100")},
	};

	(void)state;
	assert_int_equal(ann_routes_normalize(r, 5), 3);
	/* By their bytes: IPv4 (stored ::ffff:a.b.c.d) before 2001:db8::/32. */
	struct sl_addr a0 = addr("198.18.1.100"), a1 = addr("198.18.1.101"),
		       a2 = addr("2001:db8:1::100");
	assert_true(sl_addr_eq(&r[0].addr, &a0));
	assert_true(sl_addr_eq(&r[1].addr, &a1));
	assert_true(sl_addr_eq(&r[2].addr, &a2));
	assert_int_equal(ann_routes_normalize(r, 0), 0);
}

static void test_render(void **state)
{
	struct ann_route r[] = {
		{addr("198.18.1.101")}, {addr("2001:db8:1::100")}, {addr("198.18.1.100")}};
	struct ann_route s[] = {
		{addr("198.18.1.100")}, {addr("2001:db8:1::100")}, {addr("198.18.1.101")}};
	struct sl_addr nh4 = addr("198.18.0.2"), nh6 = addr("2001:db8::2");
	char a[1024], b[1024];
	size_t n = ann_routes_normalize(r, 3), m = ann_routes_normalize(s, 3);

	(void)state;
	assert_true(ann_render_bird(r, n, "sluice_vips", &nh4, &nh6, a, sizeof(a)) > 0);
	assert_true(ann_render_bird(s, m, "sluice_vips", &nh4, &nh6, b, sizeof(b)) > 0);
	assert_string_equal(a, b); /* the order the VIPs came in does not matter */
	assert_string_equal(
		a, "# Written by sluice-control: the VIPs this node announces. Do not edit.\n"
		   "protocol static sluice_vips4 {\n"
		   "\tipv4;\n"
		   "\troute 198.18.1.100/32 via 198.18.0.2;\n"
		   "\troute 198.18.1.101/32 via 198.18.0.2;\n"
		   "}\n"
		   "protocol static sluice_vips6 {\n"
		   "\tipv6;\n"
		   "\troute 2001:db8:1::100/128 via 2001:db8::2;\n"
		   "}\n");
}

static void test_render_withdrawn_and_one_family(void **state)
{
	struct ann_route r[] = {{addr("198.18.1.100")}, {addr("2001:db8:1::100")}};
	struct sl_addr nh4 = addr("198.18.0.2");
	char a[512];

	(void)state;
	/* Nothing announced: both protocols, empty. */
	assert_true(ann_render_bird(NULL, 0, "v", &nh4, NULL, a, sizeof(a)) > 0);
	assert_non_null(strstr(a, "protocol static v4 {\n\tipv4;\n}\n"));
	assert_non_null(strstr(a, "protocol static v6 {\n\tipv6;\n}\n"));
	/* No IPv6 next hop: the IPv6 VIP is not announced. */
	assert_true(ann_render_bird(r, 2, "v", &nh4, NULL, a, sizeof(a)) > 0);
	assert_non_null(strstr(a, "route 198.18.1.100/32 via 198.18.0.2;"));
	assert_null(strstr(a, "2001:db8:1::100"));
}

static void test_render_no_room(void **state)
{
	struct ann_route r[] = {{addr("198.18.1.100")}};
	struct sl_addr nh4 = addr("198.18.0.2");
	char a[64];

	(void)state;
	assert_int_equal(ann_render_bird(r, 1, "sluice_vips", &nh4, NULL, a, sizeof(a)), -ENOSPC);
	assert_int_equal(ann_render_bird(r, 1, "sluice_vips", &nh4, NULL, a, 0), -ENOSPC);
}

#define PORTS                                                                                      \
	"ports:\n  - name: lan\n    devargs: net_null0\n    ipv4: 198.18.0.2/24\n"                 \
	"    ipv6: 2001:db8::2/64\n"

/* The cluster: section: defaults, next hops from the first port, errors with a place. */
static void test_conf_cluster(void **state)
{
	static const char ok[] = PORTS "cluster:\n  bird_include: /run/sluice/bird.conf\n";
	static const char set[] = PORTS "cluster:\n"
					"  bird_include: /tmp/b.conf\n"
					"  bird_socket: /tmp/bird.ctl\n"
					"  protocol: lb_vips\n"
					"  next_hop4: 198.18.0.9\n"
					"  dataplane_timeout: 0.5\n";
	static const char typo[] = PORTS "cluster:\n  bird_include: /b\n  protocl: x\n";
	static const char missing[] = PORTS "cluster:\n  bird_socket: /b\n";
	static const char v6[] =
		PORTS "cluster:\n  bird_include: /b\n  next_hop4: \"2001:db8::9\"\n";
	struct conf c;
	struct sl_addr a;
	char err[256];

	(void)state;
	assert_int_equal(conf_load_string(PORTS, strlen(PORTS), "t.yaml", &c, err, sizeof(err)), 0);
	assert_false(c.cluster.enabled);
	conf_free(&c);
	assert_int_equal(conf_load_string(ok, strlen(ok), "t.yaml", &c, err, sizeof(err)), 0);
	assert_true(c.cluster.enabled);
	assert_string_equal(c.cluster.bird_include, "/run/sluice/bird.conf");
	assert_string_equal(c.cluster.bird_socket, "/run/bird/bird.ctl");
	assert_string_equal(c.cluster.protocol, "sluice_vips");
	assert_int_equal(c.cluster.dataplane_timeout_ms, 1000);
	a = addr("198.18.0.2");
	assert_true(c.cluster.has_next_hop4 && sl_addr_eq(&c.cluster.next_hop4, &a));
	a = addr("2001:db8::2");
	assert_true(c.cluster.has_next_hop6 && sl_addr_eq(&c.cluster.next_hop6, &a));
	conf_free(&c);
	assert_int_equal(conf_load_string(set, strlen(set), "t.yaml", &c, err, sizeof(err)), 0);
	assert_string_equal(c.cluster.protocol, "lb_vips");
	assert_string_equal(c.cluster.bird_socket, "/tmp/bird.ctl");
	assert_int_equal(c.cluster.dataplane_timeout_ms, 500);
	a = addr("198.18.0.9");
	assert_true(sl_addr_eq(&c.cluster.next_hop4, &a));
	conf_free(&c);
	assert_true(conf_load_string(typo, strlen(typo), "t.yaml", &c, err, sizeof(err)) < 0);
	assert_string_equal(err, "t.yaml:8:3: cluster: unknown key \"protocl\" (did you mean "
				 "\"protocol\"?)");
	assert_true(conf_load_string(missing, strlen(missing), "t.yaml", &c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "missing required key \"bird_include\""));
	assert_true(conf_load_string(v6, strlen(v6), "t.yaml", &c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "t.yaml:8:14: cluster.next_hop4: expected an IPv4 address"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_answered_is_down),
		cmocka_unit_test(test_dp_timeout),
		cmocka_unit_test(test_dp_gone),
		cmocka_unit_test(test_answer_at_clock_zero),
		cmocka_unit_test(test_no_backend),
		cmocka_unit_test(test_drain_and_precedence),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_withdrawn_and_one_family),
		cmocka_unit_test(test_render_no_room),
		cmocka_unit_test(test_conf_cluster),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
