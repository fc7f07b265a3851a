/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the reload planner (lib/ctrl/ctrl_reload.h): from the
 * previous file, the new file and the data plane's vip.list, the requests
 * that change only what differs, in order, each with its line for the
 * operator and whether it ends established flows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctrl_reload.h"

#define PORTS "ports:\n  - name: lan\n    devargs: net_null0\n"

static const char base_yaml[] = PORTS "vips:\n"
				      "  - name: web\n"
				      "    address: 198.18.1.100\n"
				      "    port: 80\n"
				      "    backends:\n"
				      "      - address: 198.18.0.11\n"
				      "      - address: 198.18.0.12\n"
				      "        weight: 2\n"
				      "  - name: dns\n"
				      "    address: 198.18.1.53\n"
				      "    port: 53\n"
				      "    protocol: udp\n"
				      "    backends:\n"
				      "      - address: 198.18.0.21\n";

static void load(const char *yaml, struct conf *c)
{
	char err[512] = "";

	if (conf_load_string(yaml, strlen(yaml), "t.yaml", c, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s\nconfig:\n%s", err, yaml);
}

/* A data plane running <c> exactly: its vip.list "vips", as the API lists them. */
static json_object *dp_running(const struct conf *c)
{
	json_object *vips = json_object_new_array();

	for (uint32_t i = 0; i < c->n_vips; i++)
		json_object_array_add(vips, ctrl_reload_vip_json(&c->vips[i], true));
	return vips;
}

/* The data plane's backend <addr> of VIP <vip> in <vips>. */
static json_object *dp_backend(json_object *vips, const char *vip, const char *addr)
{
	for (size_t i = 0; i < json_object_array_length(vips); i++) {
		json_object *v = json_object_array_get_idx(vips, i), *x, *bl;
		if (!json_object_object_get_ex(v, "name", &x) ||
		    strcmp(json_object_get_string(x), vip) != 0 ||
		    !json_object_object_get_ex(v, "backends", &bl))
			continue;
		for (size_t j = 0; j < json_object_array_length(bl); j++) {
			json_object *b = json_object_array_get_idx(bl, j);
			json_object_object_get_ex(b, "address", &x);
			if (strcmp(json_object_get_string(x), addr) == 0)
				return b;
		}
	}
	fail_msg("no backend %s in %s", addr, vip);
	return NULL;
}

static const char *str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* Op <i> of <ops>: its request's cmd, its line, whether flows end. */
static void assert_op(json_object *ops, size_t i, const char *cmd, const char *what,
		      bool flows_ended)
{
	json_object *op = json_object_array_get_idx(ops, i), *req, *fe;

	assert_non_null(op);
	assert_true(json_object_object_get_ex(op, "req", &req));
	assert_string_equal(str(req, "cmd"), cmd);
	assert_string_equal(str(op, "what"), what);
	assert_true(json_object_object_get_ex(op, "flows_ended", &fe));
	assert_int_equal(json_object_get_boolean(fe), flows_ended);
}

static json_object *op_req(json_object *ops, size_t i)
{
	json_object *req;

	assert_true(json_object_object_get_ex(json_object_array_get_idx(ops, i), "req", &req));
	return req;
}

/* Plans <prev_yaml> -> <next_yaml> against a data plane running <prev_yaml>, edited by <edit>. */
static json_object *plan(const char *prev_yaml, const char *next_yaml,
			 void (*edit)(json_object *vips), int *n)
{
	struct conf prev, next;
	json_object *vips, *ops = json_object_new_array();

	load(prev_yaml, &prev);
	load(next_yaml, &next);
	vips = dp_running(&prev);
	if (edit != NULL)
		edit(vips);
	*n = ctrl_reload_plan(&prev, &next, vips, ops);
	assert_int_equal((size_t)*n, json_object_array_length(ops));
	json_object_put(vips);
	conf_free(&prev);
	conf_free(&next);
	return ops;
}

static void test_nothing_changed(void **state)
{
	int n;
	json_object *ops = plan(base_yaml, base_yaml, NULL, &n);

	(void)state;
	assert_int_equal(n, 0);
	json_object_put(ops);
}

static void test_first_load_adds_everything(void **state)
{
	struct conf next;
	json_object *vips = json_object_new_array(), *ops = json_object_new_array(), *v, *bl;

	(void)state;
	load(base_yaml, &next);
	assert_int_equal(ctrl_reload_plan(NULL, &next, vips, ops), 2);
	assert_op(ops, 0, "vip.add", "web: VIP added (2 backends)", false);
	assert_op(ops, 1, "vip.add", "dns: VIP added (1 backends)", false);
	assert_true(json_object_object_get_ex(op_req(ops, 0), "vip", &v));
	assert_string_equal(str(v, "address"), "198.18.1.100");
	assert_string_equal(str(v, "mode"), "dsr");
	assert_string_equal(str(v, "scheduler"), "wrr");
	assert_true(json_object_object_get_ex(v, "backends", &bl));
	assert_int_equal(json_object_array_length(bl), 2);
	assert_string_equal(str(json_object_array_get_idx(bl, 1), "weight"), "2");
	assert_string_equal(str(json_object_array_get_idx(bl, 1), "state"), "ready");
	json_object_put(ops);
	json_object_put(vips);
	conf_free(&next);
}

static void test_vip_removed_first(void **state)
{
	static const char next_yaml[] = PORTS "vips:\n"
					      "  - name: web2\n"
					      "    address: 198.18.1.53\n"
					      "    port: 53\n"
					      "    protocol: udp\n";
	int n;
	json_object *ops = plan(base_yaml, next_yaml, NULL, &n);

	(void)state;
	/* Deletions first: the new VIP takes the address the old one had. */
	assert_int_equal(n, 3);
	assert_op(ops, 0, "vip.del", "web: VIP removed (its flows are ended)", true);
	assert_op(ops, 1, "vip.del", "dns: VIP removed (its flows are ended)", true);
	assert_op(ops, 2, "vip.add", "web2: VIP added (0 backends)", false);
	assert_string_equal(str(op_req(ops, 0), "vip"), "web");
	json_object_put(ops);
}

static void test_identity_change_recreates(void **state)
{
	static const char next_yaml[] = PORTS "vips:\n"
					      "  - name: web\n"
					      "    address: 198.18.1.100\n"
					      "    port: 8080\n"
					      "    backends:\n"
					      "      - address: 198.18.0.11\n"
					      "      - address: 198.18.0.12\n"
					      "        weight: 2\n"
					      "  - name: dns\n"
					      "    address: 198.18.1.53\n"
					      "    port: 53\n"
					      "    protocol: udp\n"
					      "    mode: tunnel\n"
					      "    backends:\n"
					      "      - address: 198.18.0.21\n";
	int n;
	json_object *ops = plan(base_yaml, next_yaml, NULL, &n);

	(void)state;
	assert_int_equal(n, 4);
	assert_op(ops, 0, "vip.del",
		  "web: port changed: the VIP is deleted and added again, ITS ESTABLISHED "
		  "FLOWS ARE ENDED",
		  true);
	assert_op(ops, 1, "vip.add", "web: VIP added again (port changed) (2 backends)", true);
	assert_op(ops, 2, "vip.del",
		  "dns: mode changed: the VIP is deleted and added again, ITS ESTABLISHED "
		  "FLOWS ARE ENDED",
		  true);
	assert_op(ops, 3, "vip.add", "dns: VIP added again (mode changed) (1 backends)", true);
	json_object_put(ops);
}

static void test_settings_in_place(void **state)
{
	static const char next_yaml[] = PORTS "vips:\n"
					      "  - name: web\n"
					      "    address: 198.18.1.100\n"
					      "    port: 80\n"
					      "    scheduler: maglev\n"
					      "    hash: source-ip\n"
					      "    down_flows: keep\n"
					      "    backends:\n"
					      "      - address: 198.18.0.11\n"
					      "      - address: 198.18.0.12\n"
					      "        weight: 2\n"
					      "  - name: dns\n"
					      "    address: 198.18.1.53\n"
					      "    port: 53\n"
					      "    protocol: udp\n"
					      "    backends:\n"
					      "      - address: 198.18.0.21\n";
	int n;
	json_object *ops = plan(base_yaml, next_yaml, NULL, &n), *v;

	(void)state;
	assert_int_equal(n, 1);
	assert_op(ops, 0, "vip.set", "web: scheduler, hash, down_flows changed in place", false);
	assert_true(json_object_object_get_ex(op_req(ops, 0), "vip", &v));
	assert_string_equal(str(v, "scheduler"), "maglev");
	assert_false(json_object_object_get_ex(v, "backends", NULL));
	json_object_put(ops);
}

static const char backends_yaml[] = PORTS "vips:\n"
					  "  - name: web\n"
					  "    address: 198.18.1.100\n"
					  "    port: 80\n"
					  "    backends:\n"
					  "      - address: 198.18.0.12\n"
					  "        weight: 5\n"
					  "      - address: 198.18.0.13\n"
					  "        port: 8080\n"
					  "        state: drain\n"
					  "  - name: dns\n"
					  "    address: 198.18.1.53\n"
					  "    port: 53\n"
					  "    protocol: udp\n"
					  "    backends:\n"
					  "      - address: 198.18.0.21\n";

/* A backend the data plane still finishes flows on is not the live one. */
static void add_removed_backend(json_object *vips)
{
	json_object *bl, *b = json_object_new_object();

	json_object_object_get_ex(json_object_array_get_idx(vips, 0), "backends", &bl);
	json_object_object_add(b, "address", json_object_new_string("198.18.0.99"));
	json_object_object_add(b, "port", json_object_new_int(80));
	json_object_object_add(b, "state", json_object_new_string("removed"));
	json_object_array_add(bl, b);
}

static void test_backends_del_set_add(void **state)
{
	int n;
	json_object *ops = plan(base_yaml, backends_yaml, add_removed_backend, &n), *req, *b;

	(void)state;
	assert_int_equal(n, 3);
	assert_op(ops, 0, "backend.del",
		  "web: backend 198.18.0.11:80 removed (its established flows run to their end)",
		  false);
	assert_op(ops, 1, "backend.set", "web: backend 198.18.0.12:80 weight 2 -> 5", false);
	assert_op(ops, 2, "backend.add", "web: backend 198.18.0.13:8080 added (weight 1, drain)",
		  false);
	req = op_req(ops, 1);
	assert_string_equal(str(req, "address"), "198.18.0.12");
	assert_string_equal(str(req, "weight"), "5");
	assert_false(json_object_object_get_ex(req, "state", NULL));
	assert_true(json_object_object_get_ex(op_req(ops, 2), "backend", &b));
	assert_string_equal(str(b, "port"), "8080");
	json_object_put(ops);
}

/* The operator drained 198.18.0.11 at runtime. */
static void operator_drained(json_object *vips)
{
	json_object *b = dp_backend(vips, "web", "198.18.0.11");
	json_object_object_add(b, "state", json_object_new_string("drain"));
}

static void test_operator_state_kept(void **state)
{
	int n;
	json_object *ops = plan(base_yaml, base_yaml, operator_drained, &n);

	(void)state;
	/* The file did not change the state: the operator's stays. */
	assert_int_equal(n, 0);
	json_object_put(ops);
}

static void test_file_state_wins_where_changed(void **state)
{
	static const char maint_yaml[] = PORTS "vips:\n"
					       "  - name: web\n"
					       "    address: 198.18.1.100\n"
					       "    port: 80\n"
					       "    backends:\n"
					       "      - address: 198.18.0.11\n"
					       "        state: maint\n"
					       "      - address: 198.18.0.12\n"
					       "        weight: 2\n"
					       "  - name: dns\n"
					       "    address: 198.18.1.53\n"
					       "    port: 53\n"
					       "    protocol: udp\n"
					       "    backends:\n"
					       "      - address: 198.18.0.21\n";
	int n;
	json_object *ops = plan(base_yaml, maint_yaml, operator_drained, &n);

	(void)state;
	assert_int_equal(n, 1);
	assert_op(ops, 0, "backend.set", "web: backend 198.18.0.11:80 state drain -> maint", false);
	assert_string_equal(str(op_req(ops, 0), "state"), "maint");
	json_object_put(ops);
}

/* The data plane has a static MAC for 198.18.0.11 that the file does not. */
static void static_mac(json_object *vips)
{
	json_object *b = dp_backend(vips, "web", "198.18.0.11");
	json_object_object_add(b, "neighbour", json_object_new_string("static"));
	json_object_object_add(b, "mac", json_object_new_string("02:00:00:00:00:0b"));
}

static void test_mac(void **state)
{
	static const char mac_yaml[] = PORTS "vips:\n"
					     "  - name: web\n"
					     "    address: 198.18.1.100\n"
					     "    port: 80\n"
					     "    backends:\n"
					     "      - address: 198.18.0.11\n"
					     "      - address: 198.18.0.12\n"
					     "        weight: 2\n"
					     "        mac: \"02:00:00:00:00:0c\"\n"
					     "  - name: dns\n"
					     "    address: 198.18.1.53\n"
					     "    port: 53\n"
					     "    protocol: udp\n"
					     "    backends:\n"
					     "      - address: 198.18.0.21\n";
	int n;
	json_object *ops = plan(base_yaml, mac_yaml, static_mac, &n);

	(void)state;
	assert_int_equal(n, 2);
	assert_op(ops, 0, "backend.set",
		  "web: backend 198.18.0.11:80 mac 02:00:00:00:00:0b -> resolved by ARP/ND", false);
	assert_string_equal(str(op_req(ops, 0), "mac"), "resolve");
	assert_op(ops, 1, "backend.set",
		  "web: backend 198.18.0.12:80 mac resolved -> 02:00:00:00:00:0c", false);
	assert_string_equal(str(op_req(ops, 1), "mac"), "02:00:00:00:00:0c");
	json_object_put(ops);
}

static void test_big_pool_added_one_by_one(void **state)
{
	char yaml[32768];
	size_t used;
	struct conf next;
	json_object *vips = json_object_new_array(), *ops = json_object_new_array(), *v;

	(void)state;
	used = (size_t)snprintf(yaml, sizeof(yaml),
				PORTS "vips:\n  - name: big\n    address: 198.18.1.1\n"
				      "    port: 80\n    backends:\n");
	for (int i = 0; i < 300; i++)
		used += (size_t)snprintf(yaml + used, sizeof(yaml) - used,
					 "      - address: 198.18.%d.%d\n", 10 + i / 250,
					 1 + i % 250);
	load(yaml, &next);
	/* Over 256 backends: the VIP first, then its backends one request each. */
	assert_int_equal(ctrl_reload_plan(NULL, &next, vips, ops), 301);
	assert_op(ops, 0, "vip.add", "big: VIP added (300 backends)", false);
	assert_true(json_object_object_get_ex(op_req(ops, 0), "vip", &v));
	assert_false(json_object_object_get_ex(v, "backends", NULL));
	assert_op(ops, 300, "backend.add", "big: backend 300 of 300 added", false);
	json_object_put(ops);
	json_object_put(vips);
	conf_free(&next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_changed),
		cmocka_unit_test(test_first_load_adds_everything),
		cmocka_unit_test(test_vip_removed_first),
		cmocka_unit_test(test_identity_change_recreates),
		cmocka_unit_test(test_settings_in_place),
		cmocka_unit_test(test_backends_del_set_add),
		cmocka_unit_test(test_operator_state_kept),
		cmocka_unit_test(test_file_state_wins_where_changed),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_big_pool_added_one_by_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
