/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lb_lookup: two nodes built apart from the same file name
 * the same backend for every flow; a flow entry wins while its backend
 * keeps it; other schedulers answer with the mid-stream pickup's choice;
 * a backend down is never named; no backend, no answer.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "lb_lookup.h"
#include "lb_model.h"

static const char yaml[] = "ports:\n"
			   "  - name: lan\n"
			   "    devargs: net_null0\n"
			   "    ipv4: 198.18.0.2/24\n"
			   "vips:\n"
			   "  - name: web\n"
			   "    address: 198.18.1.100\n"
			   "    port: 80\n"
			   "    scheduler: maglev\n"
			   "    maglev_table_size: 1021\n"
			   "    backends:\n"
			   "      - {address: 198.18.0.11, mac: \"02:00:00:00:00:0b\"}\n"
			   "      - {address: 198.18.0.12, mac: \"02:00:00:00:00:0c\"}\n"
			   "      - {address: 198.18.0.13, mac: \"02:00:00:00:00:0d\"}\n"
			   "      - {address: 198.18.0.14, mac: \"02:00:00:00:00:0e\"}\n"
			   "  - name: rr\n"
			   "    address: 198.18.1.101\n"
			   "    port: 80\n"
			   "    backends:\n"
			   "      - {address: 198.18.0.11, mac: \"02:00:00:00:00:0b\"}\n"
			   "      - {address: 198.18.0.12, mac: \"02:00:00:00:00:0c\"}\n";

static const uint8_t mac[6] = {2, 0, 0xc6, 0x12, 0, 2};

struct node {
	struct lb_model *m;
	struct lb_snapshot *s;
};

/* One node: a model loaded from the file, compiled. */
static void node_up(struct node *n)
{
	struct conf c;
	char err[256];

	assert_int_equal(conf_load_string(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err)), 0);
	n->m = lb_model_create();
	assert_non_null(n->m);
	assert_int_equal(lb_model_port_add(n->m, &c.ports[0], mac, err, sizeof(err)), 0);
	assert_int_equal(lb_model_load(n->m, &c, err, sizeof(err)), 0);
	n->s = lb_model_compile(n->m);
	assert_non_null(n->s);
	conf_free(&c);
}

static void node_recompile(struct node *n)
{
	lb_snapshot_free(n->s);
	n->s = lb_model_compile(n->m);
	assert_non_null(n->s);
}

static void node_down(struct node *n)
{
	lb_snapshot_free(n->s);
	lb_model_free(n->m);
}

/* Flow <i> from 198.19.(i/256).(i%256):(1024+i) to <vip>:80 over TCP. */
static struct flow_key flow(uint32_t i, const char *vip)
{
	struct flow_key k;
	char src[32];

	memset(&k, 0, sizeof(k));
	snprintf(src, sizeof(src), "198.19.%u.%u", (i >> 8) & 0xff, i & 0xff);
	assert_int_equal(sl_addr_parse(&k.src, src), 0);
	assert_int_equal(sl_addr_parse(&k.dst, vip), 0);
	k.sport = htons((uint16_t)(1024 + i));
	k.dport = htons(80);
	k.proto = 6;
	return k;
}

static uint32_t vip_slot(const struct lb_snapshot *s, const char *vip)
{
	struct sl_addr a;

	assert_int_equal(sl_addr_parse(&a, vip), 0);
	return lb_vip_find(s, &a, htons(80), 6);
}

static void test_nodes_agree(void **state)
{
	struct node a, b;
	uint32_t per[4] = {0};

	(void)state;
	node_up(&a);
	node_up(&b);
	uint32_t va = vip_slot(a.s, "198.18.1.100"), vb = vip_slot(b.s, "198.18.1.100");
	assert_int_not_equal(va, LB_NO_SLOT);
	for (uint32_t i = 0; i < 1000; i++) {
		struct flow_key k = flow(i, "198.18.1.100");
		struct lb_lookup x = lb_lookup_flow(a.s, va, &k, NULL),
				 y = lb_lookup_flow(b.s, vb, &k, NULL);
		assert_int_equal(x.from, LB_LOOKUP_MAGLEV);
		assert_int_not_equal(x.slot, LB_NO_SLOT);
		assert_true(sl_addr_eq(&a.s->backends[x.slot].addr, &b.s->backends[y.slot].addr));
		per[a.s->backends[x.slot].addr.b[15] - 11]++;
	}
	/* Four equal backends: each near a quarter. */
	for (int i = 0; i < 4; i++)
		assert_true(per[i] > 180 && per[i] < 320);
	node_down(&a);
	node_down(&b);
}

static void test_flow_entry_wins(void **state)
{
	struct node a;
	struct flow_key k = flow(7, "198.18.1.100");
	struct flow_entry e;

	(void)state;
	node_up(&a);
	uint32_t v = vip_slot(a.s, "198.18.1.100");
	struct lb_lookup h = lb_lookup_flow(a.s, v, &k, NULL);
	/* An entry on another backend of the VIP: that one. */
	uint32_t other = a.s->vips[v].members->slot[0] == h.slot ? a.s->vips[v].members->slot[1]
								 : a.s->vips[v].members->slot[0];
	memset(&e, 0, sizeof(e));
	e.key = k;
	e.vip_slot = (uint16_t)v;
	e.backend_slot = other;
	e.backend_uid = a.s->backends[other].uid;
	struct lb_lookup f = lb_lookup_flow(a.s, v, &k, &e);
	assert_int_equal(f.from, LB_LOOKUP_FLOW);
	assert_int_equal(f.slot, other);
	/* Its backend's slot reused (another uid): passed over. */
	e.backend_uid++;
	f = lb_lookup_flow(a.s, v, &k, &e);
	assert_int_equal(f.from, LB_LOOKUP_MAGLEV);
	assert_int_equal(f.slot, h.slot);
	/* Its backend down (flows move by default): passed over too. */
	e.backend_uid--;
	assert_int_equal(lb_model_backend_set_health(a.m, other, SL_HEALTH_DOWN), 0);
	node_recompile(&a);
	f = lb_lookup_flow(a.s, v, &k, &e);
	assert_int_not_equal(f.from, LB_LOOKUP_FLOW);
	assert_int_not_equal(f.slot, other);
	node_down(&a);
}

static void test_down_never_named(void **state)
{
	struct node a;

	(void)state;
	node_up(&a);
	uint32_t v = vip_slot(a.s, "198.18.1.100");
	uint32_t down = a.s->vips[v].members->slot[2];
	assert_int_equal(lb_model_backend_set_health(a.m, down, SL_HEALTH_DOWN), 0);
	node_recompile(&a);
	for (uint32_t i = 0; i < 1000; i++) {
		struct flow_key k = flow(i, "198.18.1.100");
		struct lb_lookup x = lb_lookup_flow(a.s, v, &k, NULL);
		assert_int_not_equal(x.slot, LB_NO_SLOT);
		assert_int_not_equal(x.slot, down);
	}
	/* Every backend down: no answer. */
	for (uint32_t i = 0; i < a.s->vips[v].members->n; i++)
		lb_model_backend_set_health(a.m, a.s->vips[v].members->slot[i], SL_HEALTH_DOWN);
	node_recompile(&a);
	struct flow_key k = flow(1, "198.18.1.100");
	struct lb_lookup x = lb_lookup_flow(a.s, v, &k, NULL);
	assert_int_equal(x.from, LB_LOOKUP_NONE);
	assert_int_equal(x.slot, LB_NO_SLOT);
	node_down(&a);
}

static void test_other_scheduler_and_bad_slot(void **state)
{
	struct node a;
	struct flow_key k = flow(3, "198.18.1.101");

	(void)state;
	node_up(&a);
	uint32_t v = vip_slot(a.s, "198.18.1.101");
	struct lb_lookup x = lb_lookup_flow(a.s, v, &k, NULL);
	assert_int_equal(x.from, LB_LOOKUP_PICKUP);
	assert_int_not_equal(x.slot, LB_NO_SLOT);
	x = lb_lookup_flow(a.s, LB_MAX_VIPS - 1, &k, NULL);
	assert_int_equal(x.from, LB_LOOKUP_NONE);
	x = lb_lookup_flow(a.s, LB_NO_SLOT, &k, NULL);
	assert_int_equal(x.from, LB_LOOKUP_NONE);
	assert_string_equal(lb_lookup_from_name(LB_LOOKUP_FLOW), "flow");
	assert_string_equal(lb_lookup_from_name(LB_LOOKUP_MAGLEV), "maglev");
	assert_string_equal(lb_lookup_from_name(LB_LOOKUP_PICKUP), "pickup");
	assert_string_equal(lb_lookup_from_name(LB_LOOKUP_NONE), "none");
	node_down(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_agree),
		cmocka_unit_test(test_flow_entry_wins),
		cmocka_unit_test(test_down_never_named),
		cmocka_unit_test(test_other_scheduler_and_bad_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
