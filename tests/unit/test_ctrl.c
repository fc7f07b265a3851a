/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/ctrl: a backend's control state built from a file and
 * carried across a reload, the data plane's counters turned into breaker
 * signals, check results, and the failover / slow-start / breaker weights,
 * all on a fake clock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctrl.h"

#define T0 1000000u /* fake clock, ms */

#define PORTS "ports:\n  - name: lan\n    devargs: net_null0\n"

/* fnat with a response timeout, tcp checks, a breaker, slow start, two levels. */
static const char fnat_yaml[] =
	PORTS "vips:\n"
	      "  - name: web\n"
	      "    address: 198.18.1.100\n"
	      "    port: 80\n"
	      "    mode: fnat\n"
	      "    local_addresses: [198.18.0.1]\n"
	      "    response_timeout: 2\n"
	      "    health_check: {type: tcp, interval: 1, rise: 2, fall: 2}\n"
	      "    slow_start: 10\n"
	      "    breaker: {consecutive_failures: 3, base_ejection: 1,\n"
	      "              max_ejection_percent: 50}\n"
	      "    backends:\n"
	      "      - address: 198.18.0.11\n"
	      "        port: 8080\n"
	      "        weight: 2\n"
	      "      - address: 198.18.0.12\n"
	      "      - address: 198.18.0.13\n"
	      "        priority: 1\n"
	      "        health_check: {type: none}\n";

/* dsr with a breaker: fed by the active checks of the checked backend only. */
static const char dsr_yaml[] = PORTS "vips:\n"
				     "  - name: dns\n"
				     "    address: 198.18.1.53\n"
				     "    port: 53\n"
				     "    protocol: udp\n"
				     "    health_check: {type: udp, send: ping, expect: pong}\n"
				     "    breaker: {consecutive_failures: 2}\n"
				     "    backends:\n"
				     "      - address: 198.18.0.21\n"
				     "      - address: 198.18.0.22\n"
				     "        health_check: {type: none}\n";

static void load(const char *yaml, struct conf *c)
{
	char err[512] = "";

	if (conf_load_string(yaml, strlen(yaml), "t.yaml", c, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s\nconfig:\n%s", err, yaml);
}

/* Builds <s> from <yaml> (into <c>) with nothing before, each backend started as listed up. */
static void build_started(const char *yaml, struct conf *c, struct ctrl_set *s)
{
	struct ctrl_set none = {0};

	load(yaml, c);
	assert_int_equal(ctrl_set_build(s, c, &none, T0), 0);
	for (size_t i = 0; i < s->n; i++) {
		struct ctrl_dp_view v = {.has_health = true, .up = true};
		ctrl_take_dp_health(&s->b[i], &v);
		assert_false(ctrl_start(&s->b[i], "node", T0));
	}
}

static struct ctrl_backend *find(const struct ctrl_set *s, const char *vip, const char *addr,
				 uint16_t port)
{
	struct sl_addr a;

	assert_int_equal(sl_addr_parse(&a, addr), 0);
	return ctrl_set_lookup(s, vip, &a, port);
}

static int breaker_calls;
static void count_breaker(const struct ctrl_backend *b, uint64_t now, void *arg)
{
	(void)b;
	(void)now;
	assert_ptr_equal(arg, &breaker_calls);
	breaker_calls++;
}

/* ------------------------------------------------------------------------ */
/* built from the file                                                      */

static void test_build_from_file(void **state)
{
	struct conf c;
	struct ctrl_set none = {0}, s;
	char ep[80];

	(void)state;
	load(fnat_yaml, &c);
	assert_int_equal(ctrl_set_build(&s, &c, &none, T0), 0);
	assert_int_equal(s.n, 3);
	const struct ctrl_backend *b0 = &s.b[0], *b1 = &s.b[1], *b2 = &s.b[2];
	assert_string_equal(b0->id.vip, "web");
	assert_string_equal(ctrl_endpoint(b0, ep, sizeof(ep)), "198.18.0.11:8080");
	assert_int_equal(b1->id.port, 80); /* the VIP's */
	assert_int_equal(b0->check.port, 8080);
	assert_true(b0->check.enabled);
	assert_int_equal(b0->check.forced, -1);
	assert_true(b0->breaker.enabled);
	assert_false(b0->breaker.no_replies);
	assert_false(b0->breaker.active);
	assert_true(b0->breaker.hung_watch);
	assert_int_equal(b0->breaker.cb.p.consecutive_failures, 3);
	assert_int_equal(b0->failover.weight, 2);
	assert_true(b0->failover.eligible);
	assert_int_equal(b2->failover.level, 1);
	assert_int_equal(b0->told.control_weight, -2);
	/* New: up unless the data plane says otherwise, not yet listed. */
	assert_true(b0->fresh && b0->told.up && !b0->told.listed);
	/* Unchecked: harmless periodic defaults. */
	assert_false(b2->check.enabled);
	assert_int_equal(b2->check.h.interval_ms, 1000);
	assert_int_equal(b2->check.h.rise, 1);
	assert_ptr_equal(find(&s, "web", "198.18.0.12", 80), b1);
	assert_null(find(&s, "web", "198.18.0.12", 81));
	assert_null(find(&s, "api", "198.18.0.12", 80));
	ctrl_set_free(&s);
	conf_free(&c);
}

/* Checks go to health_check's address and port when given, else to the backend's. */
static void test_check_target(void **state)
{
	static const char yaml[] =
		PORTS "vips:\n"
		      "  - name: web\n"
		      "    address: 198.18.1.100\n"
		      "    port: 80\n"
		      "    health_check: {type: http, path: /health, port: 8081}\n"
		      "    backends:\n"
		      "      - address: 198.18.0.11\n"
		      "      - address: 198.18.0.12\n"
		      "        port: 8080\n"
		      "        health_check: {address: 198.18.2.12}\n"
		      "      - address: 198.18.0.13\n"
		      "        health_check: {address: \"2001:db8:2::13\", port: 99}\n"
		      "      - address: 198.18.0.14\n"
		      "        health_check: {type: none}\n";
	struct conf c;
	struct ctrl_set none = {0}, s;
	char ep[80];

	(void)state;
	load(yaml, &c);
	assert_int_equal(ctrl_set_build(&s, &c, &none, T0), 0);
	assert_string_equal(ctrl_check_target(&s.b[0], ep, sizeof(ep)), "198.18.0.11:8081");
	assert_string_equal(ctrl_check_target(&s.b[1], ep, sizeof(ep)), "198.18.2.12:8081");
	assert_string_equal(ctrl_endpoint(&s.b[1], ep, sizeof(ep)), "198.18.0.12:8080");
	assert_string_equal(ctrl_check_target(&s.b[2], ep, sizeof(ep)), "[2001:db8:2::13]:99");
	/* Its identity (the data plane's key) is still the traffic address and port. */
	assert_ptr_equal(find(&s, "web", "198.18.0.13", 80), &s.b[2]);
	assert_false(s.b[3].check.enabled);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_dsr_breaker_flags(void **state)
{
	struct conf c;
	struct ctrl_set s;

	(void)state;
	build_started(dsr_yaml, &c, &s);
	assert_true(s.b[0].breaker.no_replies && s.b[0].breaker.active);
	assert_true(s.b[1].breaker.no_replies && !s.b[1].breaker.active);
	assert_false(s.b[0].breaker.hung_watch);
	assert_string_equal(ctrl_breaker_signals(&s.b[0]), "active checks");
	assert_string_equal(ctrl_breaker_signals(&s.b[1]),
			    "none (dsr/tunnel without a health check)");
	ctrl_set_free(&s);
	conf_free(&c);

	build_started(fnat_yaml, &c, &s);
	assert_string_equal(ctrl_breaker_signals(&s.b[0]), "passive (data plane)");
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_start_from_dataplane(void **state)
{
	struct conf c;
	struct ctrl_set none = {0}, s;
	struct ctrl_dp_view down = {.has_health = true, .up = false};

	(void)state;
	load(fnat_yaml, &c);
	assert_int_equal(ctrl_set_build(&s, &c, &none, T0), 0);
	/* b0 down in the data plane, b1 not listed, b2 (unchecked) down. */
	ctrl_take_dp_health(&s.b[0], &down);
	ctrl_take_dp_health(&s.b[2], &down);
	assert_false(ctrl_start(&s.b[0], "node", T0));
	assert_false(ctrl_start(&s.b[1], "node", T0));
	/* Unchecked is taken as up: the data plane must be told. */
	assert_true(ctrl_start(&s.b[2], "node", T0));
	assert_false(s.b[0].fresh);
	assert_int_equal(s.b[0].check.hc.health, HC_DOWN);
	assert_int_equal(s.b[1].check.hc.health, HC_UP);
	assert_false(ctrl_up(&s.b[0]));
	assert_true(ctrl_up(&s.b[1]));
	assert_true(ctrl_up(&s.b[2]));
	/* Slow start: only a backend the data plane serves counts as up before. */
	assert_false(s.b[0].failover.ramp.healthy_before);
	assert_false(s.b[1].failover.ramp.healthy_before);
	/* A settled state: one failure does not bring an up backend down. */
	assert_int_equal(ctrl_check_result(&s.b[1], HC_RES_REFUSED, "", T0 + 1, NULL, NULL), 0);
	assert_int_equal(ctrl_check_result(&s.b[1], HC_RES_REFUSED, "", T0 + 2, NULL, NULL), 1);
	assert_false(ctrl_up(&s.b[1]));
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_forced_health(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;

	(void)state;
	build_started(fnat_yaml, &c, &s);
	b = &s.b[0];
	b->check.forced = 0;
	assert_false(ctrl_up(b));
	assert_false(ctrl_want_up(b));
	b->failover.panic_up = true; /* its level in panic: told up anyway */
	assert_true(ctrl_want_up(b));
	b->failover.panic_up = false;
	b->check.forced = 1;
	ctrl_check_result(b, HC_RES_TIMEOUT, "", T0 + 1, NULL, NULL);
	ctrl_check_result(b, HC_RES_TIMEOUT, "", T0 + 2, NULL, NULL);
	assert_int_equal(b->check.hc.health, HC_DOWN);
	assert_true(ctrl_up(b)); /* the operator's word over the checks */
	b->check.forced = -1;
	assert_false(ctrl_up(b));
	ctrl_set_free(&s);
	conf_free(&c);
}

/* ------------------------------------------------------------------------ */
/* a reload carries each backend's state whole                              */

static const char fnat_reloaded_yaml[] =
	PORTS "vips:\n"
	      "  - name: web\n"
	      "    address: 198.18.1.100\n"
	      "    port: 80\n"
	      "    mode: fnat\n"
	      "    local_addresses: [198.18.0.1]\n"
	      "    health_check: {type: tcp, interval: 5, rise: 3, fall: 2}\n"
	      "    breaker: {consecutive_failures: 7, base_ejection: 1}\n"
	      "    backends:\n"
	      "      - address: 198.18.0.14\n"
	      "      - address: 198.18.0.11\n"
	      "        port: 8080\n"
	      "        weight: 9\n"
	      "        priority: 2\n";

static void test_reload_carries_state(void **state)
{
	struct conf c, c2;
	struct ctrl_set s, s2;
	struct ctrl_backend *old, *b;

	(void)state;
	build_started(fnat_yaml, &c, &s);
	old = &s.b[0];
	ctrl_check_result(old, HC_RES_REFUSED, "", T0 + 1, NULL, NULL);
	ctrl_check_result(old, HC_RES_REFUSED, "", T0 + 2, NULL, NULL);
	old->check.forced = 1;
	old->signals.fail = 3;
	uint32_t ej = 0;
	assert_true(ctrl_feed_breaker(old, 3, &ej, 50, T0 + 3));
	assert_int_equal(old->breaker.cb.state, BREAKER_OPEN);
	old->counters = (struct ctrl_counters){.seen = true, .established = 10, .new_flows = 12};
	old->signals.ok = 4; /* not yet fed: dropped by the reload */
	old->failover.ramp = (struct ctrl_ramp){.healthy_before = true, .up_since = T0 + 4};
	old->failover.weight = 5; /* as the data plane had it */
	old->failover.panic_up = true;
	old->told.control_weight = 77;
	old->told.up = false;
	old->told.unreachable_logged = true;

	load(fnat_reloaded_yaml, &c2);
	assert_int_equal(ctrl_set_build(&s2, &c2, &s, T0 + 10), 0);
	assert_int_equal(s2.n, 2);
	b = find(&s2, "web", "198.18.0.11", 8080);
	assert_non_null(b);
	assert_ptr_equal(b, &s2.b[1]);
	assert_false(b->fresh);
	/* Carried: checks (under the new parameters), forced health, breaker, counters,
	 * slow start, what the data plane was told. */
	assert_int_equal(b->check.hc.health, HC_DOWN);
	assert_int_equal(b->check.hc.p.rise, 3);
	assert_int_equal(b->check.hc.checks, 2);
	assert_int_equal(b->check.forced, 1);
	assert_int_equal(b->breaker.cb.state, BREAKER_OPEN);
	assert_int_equal(b->breaker.cb.p.consecutive_failures, 7);
	assert_true(b->counters.seen);
	assert_int_equal(b->counters.established, 10);
	assert_int_equal(b->counters.new_flows, 12);
	assert_int_equal(b->failover.ramp.up_since, T0 + 4);
	assert_true(b->failover.ramp.healthy_before);
	assert_int_equal(b->told.control_weight, 77);
	assert_false(b->told.up);
	assert_true(b->told.listed);
	/* Not carried: the file's weight and level, pending signals, panic, the log latch. */
	assert_int_equal(b->failover.weight, 9);
	assert_int_equal(b->failover.level, 2);
	assert_int_equal(b->signals.ok, 0);
	assert_false(b->failover.panic_up);
	assert_false(b->told.unreachable_logged);
	assert_false(b->breaker.hung_watch); /* the VIP's response timeout is gone */
	/* A new backend starts fresh. */
	assert_true(s2.b[0].fresh);
	assert_int_equal(s2.b[0].told.control_weight, -2);
	ctrl_set_free(&s2);
	conf_free(&c2);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_reload_breaker_off(void **state)
{
	static const char no_breaker[] = PORTS "vips:\n"
					       "  - name: web\n"
					       "    address: 198.18.1.100\n"
					       "    port: 80\n"
					       "    mode: fnat\n"
					       "    local_addresses: [198.18.0.1]\n"
					       "    backends:\n"
					       "      - address: 198.18.0.11\n"
					       "        port: 8080\n";
	struct conf c, c2;
	struct ctrl_set s, s2;

	(void)state;
	build_started(fnat_yaml, &c, &s);
	load(no_breaker, &c2);
	assert_int_equal(ctrl_set_build(&s2, &c2, &s, T0 + 10), 0);
	assert_false(s2.b[0].breaker.enabled);
	assert_false(s2.b[0].check.enabled);
	assert_false(ctrl_vip_managed(&c2.vips[0]));
	assert_true(ctrl_vip_managed(&c.vips[0]));
	/* ... and back on: a breaker new to the backend starts closed. */
	struct ctrl_set s3;
	assert_int_equal(ctrl_set_build(&s3, &c, &s2, T0 + 20), 0);
	assert_true(s3.b[0].breaker.enabled);
	assert_int_equal(s3.b[0].breaker.cb.state, BREAKER_CLOSED);
	assert_int_equal(s3.b[0].breaker.cb.since, T0 + 20);
	ctrl_set_free(&s3);
	ctrl_set_free(&s2);
	conf_free(&c2);
	ctrl_set_free(&s);
	conf_free(&c);
}

/* ------------------------------------------------------------------------ */
/* the data plane's counters into breaker signals                            */

static void test_counters_first_read_is_baseline(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_dp_view v = {.established = 100, .connect_fail = 7, .new_flows = 200};

	(void)state;
	build_started(fnat_yaml, &c, &s);
	ctrl_take_dp(&s.b[1], &v);
	assert_true(s.b[1].counters.seen);
	assert_int_equal(s.b[1].signals.ok, 0);
	assert_int_equal(s.b[1].signals.fail, 0);
	assert_int_equal(s.b[1].signals.new_flows, 0);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_counters_hung_watch(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;
	struct ctrl_dp_view v = {.established = 100, .connect_fail = 7, .responded = 50};

	(void)state;
	build_started(fnat_yaml, &c, &s); /* response_timeout: 2 */
	b = &s.b[0];
	ctrl_take_dp(b, &v);
	v.established += 10; /* a hung server's kernel completes handshakes ... */
	v.responded += 4;    /* ... but only these were answered in time */
	v.connect_fail += 1;
	v.response_timeouts += 6;
	v.new_flows += 11;
	ctrl_take_dp(b, &v);
	assert_int_equal(b->signals.ok, 4);
	assert_int_equal(b->signals.fail, 7);
	assert_int_equal(b->signals.new_flows, 11);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_counters_established(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;
	struct ctrl_dp_view v = {.established = 100, .connect_fail = 7, .responded = 50};

	(void)state;
	build_started(fnat_yaml, &c, &s);
	b = &s.b[0];
	b->breaker.hung_watch = false; /* no response timeout: success is ESTABLISHED */
	ctrl_take_dp(b, &v);
	v.established += 10;
	v.responded += 4;
	v.connect_fail += 2;
	ctrl_take_dp(b, &v);
	assert_int_equal(b->signals.ok, 10);
	assert_int_equal(b->signals.fail, 2);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_counters_reset_is_new_baseline(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;
	struct ctrl_dp_view v = {.established = 100, .connect_fail = 7, .new_flows = 100};

	(void)state;
	build_started(fnat_yaml, &c, &s);
	b = &s.b[0];
	ctrl_take_dp(b, &v);
	/* The data plane restarted: every counter from 0 again. */
	v = (struct ctrl_dp_view){.established = 3, .connect_fail = 1, .new_flows = 4};
	ctrl_take_dp(b, &v);
	assert_int_equal(b->signals.ok, 0);
	assert_int_equal(b->signals.fail, 0);
	assert_int_equal(b->signals.new_flows, 0);
	assert_int_equal(b->counters.established, 3);
	v.connect_fail = 4;
	v.new_flows = 9;
	ctrl_take_dp(b, &v);
	assert_int_equal(b->signals.fail, 3);
	assert_int_equal(b->signals.new_flows, 5);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_counters_dsr_no_passive_signals(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;
	struct ctrl_dp_view v = {.established = 1, .connect_fail = 1, .new_flows = 1};

	(void)state;
	build_started(dsr_yaml, &c, &s);
	b = &s.b[0];
	ctrl_take_dp(b, &v);
	v.established += 5;
	v.connect_fail += 5;
	v.new_flows += 5;
	ctrl_take_dp(b, &v);
	assert_int_equal(b->signals.ok, 0);
	assert_int_equal(b->signals.fail, 0);
	assert_int_equal(b->signals.new_flows, 5); /* permits are spent in every mode */
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_take_dp_fields(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;
	struct ctrl_dp_view v = {0};

	(void)state;
	build_started(fnat_yaml, &c, &s);
	b = &s.b[0];
	ctrl_take_dp(b, &v); /* nothing present: nothing taken */
	assert_true(b->failover.eligible);
	assert_int_equal(b->failover.weight, 2);
	assert_int_equal(b->told.control_weight, -2);
	assert_true(b->told.up);
	v = (struct ctrl_dp_view){.has_state = true,
				  .ready = false,
				  .has_weight = true,
				  .weight = 40,
				  .has_control_weight = true,
				  .control_weight = 123,
				  .has_health = true,
				  .up = false};
	ctrl_take_dp(b, &v);
	assert_false(b->failover.eligible);
	assert_int_equal(b->failover.weight, 40);
	assert_int_equal(b->told.control_weight, 123);
	assert_false(b->told.up);
	ctrl_set_free(&s);
	conf_free(&c);
}

/* ------------------------------------------------------------------------ */
/* breaker signals                                                           */

static void test_feed_breaker_trips_and_clears(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;
	uint32_t ejected = 0;

	(void)state;
	build_started(fnat_yaml, &c, &s);
	b = &s.b[0];
	b->signals.fail = 2;
	assert_false(ctrl_feed_breaker(b, 3, &ejected, 50, T0 + 1));
	assert_int_equal(b->signals.fail, 0);
	b->signals.fail = 1;
	assert_true(ctrl_feed_breaker(b, 3, &ejected, 50, T0 + 2));
	assert_int_equal(b->breaker.cb.state, BREAKER_OPEN);
	assert_int_equal(b->breaker.cb.cause, BREAKER_CAUSE_CONSECUTIVE);
	assert_int_equal(ejected, 1);
	/* Ejection time over (base 1 s, jitter <= 10%): half-open at the next feed. */
	assert_true(ctrl_feed_breaker(b, 3, &ejected, 50, T0 + 2 + 1100));
	assert_int_equal(b->breaker.cb.state, BREAKER_HALF_OPEN);
	assert_int_equal(ejected, 1); /* half-open still counts as ejected */
	/* New flows spend permits (3 by default); a success closes it. */
	b->signals.new_flows = 3;
	b->signals.ok = 1;
	assert_true(ctrl_feed_breaker(b, 3, &ejected, 50, T0 + 1200));
	assert_int_equal(b->breaker.cb.state, BREAKER_CLOSED);
	assert_int_equal(ejected, 0);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_feed_breaker_pool_cap(void **state)
{
	struct conf c;
	struct ctrl_set s;
	uint32_t ejected = 1; /* one of two already out: 50% is the cap */

	(void)state;
	build_started(fnat_yaml, &c, &s);
	s.b[1].signals.fail = 5;
	assert_false(ctrl_feed_breaker(&s.b[1], 2, &ejected, 50, T0 + 1));
	assert_int_equal(s.b[1].breaker.cb.state, BREAKER_CLOSED);
	assert_true(s.b[1].breaker.cb.trips_denied > 0);
	assert_int_equal(ejected, 1);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_feed_breaker_bounded(void **state)
{
	struct conf c;
	struct ctrl_set s;
	uint32_t ejected = 0;

	(void)state;
	build_started(fnat_yaml, &c, &s);
	s.b[0].signals.ok = 1000000; /* after a long pause: at most 1000 fed */
	ctrl_feed_breaker(&s.b[0], 3, &ejected, 50, T0 + 1);
	assert_int_equal(s.b[0].breaker.cb.successes, 1000);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_check_result_active_breaker(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;

	(void)state;
	build_started(dsr_yaml, &c, &s);
	b = &s.b[0];
	ctrl_check_result(b, HC_RES_OK, "", T0 + 1, NULL, NULL);
	ctrl_check_result(b, HC_RES_BAD_PAYLOAD, "reply without \"pong\"", T0 + 2, NULL, NULL);
	ctrl_check_result(b, HC_RES_TIMEOUT, "", T0 + 3, NULL, NULL);
	assert_int_equal(b->signals.ok, 1);
	assert_int_equal(b->signals.fail, 2);
	assert_string_equal(b->check.hc.last_detail, "");
	ctrl_set_free(&s);
	conf_free(&c);
}

/* Opens <b>'s breaker at <now> and lets it go half-open. */
static uint64_t half_open(struct ctrl_backend *b, uint64_t now)
{
	uint32_t ejected = 0;

	b->signals.fail = 10;
	ctrl_feed_breaker(b, 3, &ejected, 100, now);
	now = breaker_next_event(&b->breaker.cb);
	breaker_tick(&b->breaker.cb, now);
	assert_int_equal(b->breaker.cb.state, BREAKER_HALF_OPEN);
	return now;
}

static void test_check_pass_closes_half_open(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;
	uint64_t now;

	(void)state;
	build_started(fnat_yaml, &c, &s);
	b = &s.b[0];
	/* A bare TCP connect on a VIP watching for hung servers proves nothing. */
	now = half_open(b, T0);
	breaker_calls = 0;
	ctrl_check_result(b, HC_RES_OK, "", now + 1, count_breaker, &breaker_calls);
	assert_int_equal(b->breaker.cb.state, BREAKER_HALF_OPEN);
	assert_int_equal(breaker_calls, 0);
	/* Without the response timeout, a pass closes it. */
	b->breaker.hung_watch = false;
	ctrl_check_result(b, HC_RES_OK, "", now + 2, count_breaker, &breaker_calls);
	assert_int_equal(b->breaker.cb.state, BREAKER_CLOSED);
	assert_int_equal(breaker_calls, 1);
	ctrl_set_free(&s);
	conf_free(&c);
}

/*
 * A pass that brings the checks' health back up ends an ejection: closed,
 * or half-open for a bare TCP connect on a VIP watching for hung servers.
 * A pass while the checks never fell leaves an OPEN breaker its time.
 */
static void test_checks_recovery_ends_ejection(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_backend *b;
	uint64_t t = T0 + 1000;

	(void)state;
	build_started(fnat_yaml, &c, &s); /* tcp checks, rise 2, fall 2, hung watch */
	b = &s.b[0];
	breaker_on_failure(&b->breaker.cb, t, true); /* consecutive_failures: 3 */
	breaker_on_failure(&b->breaker.cb, t, true);
	assert_true(breaker_on_failure(&b->breaker.cb, t, true));
	assert_int_equal(b->breaker.cb.state, BREAKER_OPEN);
	/* Passes while the checks were up all along: it serves its time. */
	ctrl_check_result(b, HC_RES_OK, "", t + 10, NULL, NULL);
	assert_int_equal(b->breaker.cb.state, BREAKER_OPEN);
	/* Down, then up: a bare connect ends the open time, flows probe it. */
	ctrl_check_result(b, HC_RES_REFUSED, "", t + 20, NULL, NULL);
	ctrl_check_result(b, HC_RES_REFUSED, "", t + 30, NULL, NULL);
	assert_false(ctrl_up(b));
	ctrl_check_result(b, HC_RES_OK, "", t + 40, NULL, NULL);
	assert_int_equal(b->breaker.cb.state, BREAKER_OPEN);
	breaker_calls = 0;
	assert_int_equal(ctrl_check_result(b, HC_RES_OK, "", t + 50, count_breaker, &breaker_calls),
			 1);
	assert_int_equal(b->breaker.cb.state, BREAKER_HALF_OPEN);
	assert_int_equal(breaker_calls, 1);
	/* An http check proves the service: closed. */
	b->check.h.kind = CONF_HC_HTTP;
	b->breaker.cb.open_until = t + 1000000;
	b->breaker.cb.state = BREAKER_OPEN;
	ctrl_check_result(b, HC_RES_TIMEOUT, "", t + 60, NULL, NULL);
	ctrl_check_result(b, HC_RES_TIMEOUT, "", t + 70, NULL, NULL);
	ctrl_check_result(b, HC_RES_OK, "", t + 80, NULL, NULL);
	ctrl_check_result(b, HC_RES_OK, "", t + 90, count_breaker, &breaker_calls);
	assert_true(ctrl_up(b));
	assert_int_equal(b->breaker.cb.state, BREAKER_CLOSED);
	assert_int_equal(breaker_calls, 2);
	ctrl_set_free(&s);
	conf_free(&c);
}

/* ------------------------------------------------------------------------ */
/* weights                                                                   */

/* One pass over VIP 0 of <c> at <now>, the scratch reserved. */
static void weights(const struct conf *c, struct ctrl_set *s, struct ctrl_scratch *sc, uint64_t now)
{
	assert_int_equal(ctrl_scratch_reserve(sc, s->n), 0);
	assert_int_equal(ctrl_vip_weights(&c->vips[0], s->b, (uint32_t)s->n, sc, now, count_breaker,
					  &breaker_calls),
			 0);
}

static void test_weights_failover(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_scratch sc = {0};
	uint64_t now = T0 + 100000; /* past any slow start */

	(void)state;
	build_started(fnat_yaml, &c, &s);
	/* Started as served: no ramp. Primaries up: the backup gets nothing. */
	weights(&c, &s, &sc, now);
	assert_int_equal(sc.eff[0] + sc.eff[1], FAILOVER_WEIGHT_MAX);
	assert_true(sc.eff[0] > sc.eff[1]); /* weight 2 against 1 */
	assert_int_equal(sc.eff[2], 0);
	assert_false(s.b[2].failover.panic_up);
	/* Both primaries forced down: the backup takes it all. */
	s.b[0].check.forced = 0;
	s.b[1].check.forced = 0;
	weights(&c, &s, &sc, now + 1);
	assert_int_equal(sc.eff[0], 0);
	assert_int_equal(sc.eff[1], 0);
	assert_int_equal(sc.eff[2], FAILOVER_WEIGHT_MAX);
	assert_false(s.b[0].failover.ramp.healthy_before);
	/* A drained primary is not eligible: the other takes the level's share. */
	s.b[0].check.forced = -1;
	s.b[1].check.forced = -1;
	s.b[1].failover.eligible = false;
	weights(&c, &s, &sc, now + 2);
	assert_int_equal(sc.eff[1], 0);
	assert_true(sc.eff[0] > 0);
	ctrl_scratch_free(&sc);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_weights_panic(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_scratch sc = {0};

	(void)state;
	build_started(fnat_yaml, &c, &s);
	/* Every backend of both levels down: panic, told up whatever the checks say. */
	for (size_t i = 0; i < s.n; i++)
		s.b[i].check.forced = 0;
	weights(&c, &s, &sc, T0 + 100000);
	for (size_t i = 0; i < s.n; i++) {
		assert_true(s.b[i].failover.panic_up);
		assert_true(ctrl_want_up(&s.b[i]));
		assert_true(sc.eff[i] > 0);
	}
	ctrl_scratch_free(&sc);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_weights_slow_start(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_scratch sc = {0};
	uint64_t t = T0 + 100000;

	(void)state;
	build_started(fnat_yaml, &c, &s);
	s.b[0].failover.weight = 1; /* two equal primaries */
	s.b[1].check.forced = 0;
	weights(&c, &s, &sc, t);
	assert_int_equal(sc.eff[1], 0);
	/* It comes back at t + 1: it ramps over the 10 s slow start. */
	s.b[1].check.forced = -1;
	weights(&c, &s, &sc, t + 1);
	assert_int_equal(s.b[1].failover.ramp.up_since, t + 1);
	assert_true(sc.eff[1] < sc.eff[0] / 100);
	weights(&c, &s, &sc, t + 1 + 5000); /* half way: a third of the level (1/2 : 1) */
	assert_in_range(sc.eff[1], FAILOVER_WEIGHT_MAX / 3 - 2, FAILOVER_WEIGHT_MAX / 3 + 2);
	weights(&c, &s, &sc, t + 1 + 10000);
	assert_in_range(sc.eff[1], sc.eff[0] - 1, sc.eff[0] + 1);
	assert_int_equal(s.b[1].failover.ramp.up_since, t + 1);
	ctrl_scratch_free(&sc);
	ctrl_set_free(&s);
	conf_free(&c);
}

static void test_weights_breaker_ejects(void **state)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_scratch sc = {0};
	uint64_t t = T0 + 100000;

	(void)state;
	build_started(fnat_yaml, &c, &s);
	breaker_calls = 0;
	s.b[0].signals.fail = 3;
	s.b[1].signals.ok = 5;
	weights(&c, &s, &sc, t);
	assert_int_equal(breaker_calls, 1);
	assert_int_equal(s.b[0].breaker.cb.state, BREAKER_OPEN);
	assert_int_equal(sc.eff[0], 0);
	/* A third of level 0's weight left (x 1.4: 47%): the rest spills to the backup. */
	assert_true(sc.eff[1] > 0 && sc.eff[2] > 0);
	assert_in_range(sc.eff[1] + sc.eff[2], FAILOVER_WEIGHT_MAX - 2, FAILOVER_WEIGHT_MAX);
	assert_int_equal(s.b[1].signals.ok, 0); /* fed, and cleared */
	/* The other primary's failures would eject past 50% of the pool: denied. */
	s.b[1].signals.fail = 3;
	weights(&c, &s, &sc, t + 1);
	assert_int_equal(s.b[1].breaker.cb.state, BREAKER_CLOSED);
	/* Half-open with permits left counts as healthy; spent, it gets 0. */
	uint64_t now = breaker_next_event(&s.b[0].breaker.cb);
	weights(&c, &s, &sc, now);
	assert_int_equal(s.b[0].breaker.cb.state, BREAKER_HALF_OPEN);
	assert_true(sc.eff[0] > 0);
	s.b[0].signals.new_flows = 3;
	weights(&c, &s, &sc, now + 1);
	assert_int_equal(sc.eff[0], 0);
	ctrl_scratch_free(&sc);
	ctrl_set_free(&s);
	conf_free(&c);
}

/* ------------------------------------------------------------------------ */
/* recovery after a fault the checks saw                                    */

/*
 * fnat, HTTP checks every second (rise 2, fall 3, as the failover
 * measurements run them), a breaker with a 5 s first ejection and the
 * default 10 s probe timeout; three backends, the first one faulted.
 */
static const char recover_yaml[] =
	PORTS "vips:\n"
	      "  - name: web\n"
	      "    address: 198.18.1.100\n"
	      "    port: 80\n"
	      "    mode: fnat\n"
	      "    local_addresses: [198.18.0.1]\n"
	      "    response_timeout: 1\n"
	      "    health_check: {type: http, path: /health, interval: 1, timeout: 1,\n"
	      "                   rise: 2, fall: 3, jitter: 0}\n"
	      "    breaker: {consecutive_failures: 5, base_ejection: 5,\n"
	      "              max_ejection_percent: 50}\n"
	      "    backends:\n"
	      "      - address: 198.18.0.11\n"
	      "      - address: 198.18.0.12\n"
	      "      - address: 198.18.0.13\n";

enum sim_fault { SIM_KILL, SIM_HANG, SIM_BLACKHOLE };

/* When, after the restore, the checks said up again and the data plane had the backend back. */
struct sim_recovery {
	uint64_t checks_up, back; /* ms after the restore; UINT64_MAX: not within 60 s */
};

/*
 * The daemon's loop around backend 0 on a fake clock, 10 ms steps: its
 * check, a weight pass every 200 ms, and the data plane sending it 10 new
 * flows per pass while it has it up with a weight (they fail while it is
 * faulted). The fault starts at 10 s and lasts <fault_ms>. A check that
 * meets the fault: a killed server refuses it at once; a hung one answers
 * it when it resumes (the kernel queued the request), else it times out; a
 * blackholed one's SYN is resent 1 s after the first, which is answered if
 * the blackhole is gone by then and the timeout has not passed.
 */
static struct sim_recovery sim_recovery(enum sim_fault kind, uint64_t fault_ms)
{
	struct conf c;
	struct ctrl_set s;
	struct ctrl_scratch sc = {0};
	struct ctrl_backend *b;
	struct ctrl_dp_view v = {.has_health = true, .up = true};
	const uint64_t t_fault = T0 + 10000, t_restore = t_fault + fault_ms;
	uint64_t answer_at = 0, next_pass = T0;
	struct sim_recovery out = {UINT64_MAX, UINT64_MAX};
	bool in_flight = false, sending = true;
	enum hc_res pending = HC_RES_OK;

	build_started(recover_yaml, &c, &s);
	b = &s.b[0];
	for (uint64_t t = T0; t < t_restore + 60000 && out.back == UINT64_MAX; t += 10) {
		bool faulted = t >= t_fault && t < t_restore;

		if (!in_flight && t >= hc_next_due(&b->check.hc)) {
			uint64_t timeout = b->check.hc.p.timeout_ms, resend = t + 1000;

			in_flight = true;
			pending = HC_RES_OK;
			answer_at = t;
			if (faulted && kind == SIM_KILL) {
				pending = HC_RES_REFUSED;
			} else if (faulted && kind == SIM_HANG) {
				answer_at = t_restore < t + timeout ? t_restore : t + timeout;
				pending = t_restore < t + timeout ? HC_RES_OK : HC_RES_TIMEOUT;
			} else if (faulted) {
				bool answered = t_restore <= resend && resend < t + timeout;
				answer_at = answered ? resend : t + timeout;
				pending = answered ? HC_RES_OK : HC_RES_TIMEOUT;
			}
		}
		if (in_flight && t >= answer_at) {
			in_flight = false;
			ctrl_check_result(b, pending, "", t, NULL, NULL);
		}
		if (t >= t_restore && out.checks_up == UINT64_MAX && ctrl_up(b))
			out.checks_up = t - t_restore;
		if (t < next_pass)
			continue;
		next_pass = t + 200;
		if (sending) {
			v.new_flows += 10;
			if (faulted && kind != SIM_HANG) {
				v.connect_fail += 10;
			} else if (faulted) {
				v.established += 10; /* its kernel still accepts */
				v.response_timeouts += 10;
			} else {
				v.established += 10;
				v.responded += 10;
			}
		}
		ctrl_take_dp(b, &v);
		weights(&c, &s, &sc, t);
		sending = ctrl_want_up(b) && sc.eff[0] > 0;
		v.up = ctrl_want_up(b);
		if (t >= t_restore && sending)
			out.back = t - t_restore;
	}
	ctrl_scratch_free(&sc);
	ctrl_set_free(&s);
	conf_free(&c);
	return out;
}

/*
 * While the checks hold a backend down it gets no flows, so its breaker
 * cannot probe it; once they pass again, the breaker must not keep it out:
 * traffic is back by the next weight pass (200 ms), within rise x interval
 * + 0.5 s of the restore (after a blackhole, a check whose SYN was dropped
 * just before the restore times out first; the next one is due then, since
 * the rhythm runs from due time to due time). Faults long enough for the
 * checks to see them (fall 3: 3 s after a kill, 3 to 6 s after timeouts),
 * restores 0.3 s apart over 35 s: every phase of the breaker's cycle.
 */
static void test_recovery_after_fault(void **state)
{
	static const char *const names[] = {"kill", "hang", "blackhole"};
	const uint64_t limit = 2 * 1000 + 500; /* rise x interval + 0.5 s */

	(void)state;
	for (int kind = SIM_KILL; kind <= SIM_BLACKHOLE; kind++)
		for (uint64_t d = 7000; d <= 42000; d += 300) {
			struct sim_recovery r = sim_recovery((enum sim_fault)kind, d);
			if (r.back > limit || r.back > r.checks_up + 200)
				fail_msg("%s for %.1f s: checks up %.2f s, traffic back %.2f s "
					 "after the restore (limit %.1f s, and one pass after "
					 "the checks)",
					 names[kind], d / 1000.0, r.checks_up / 1000.0,
					 r.back / 1000.0, limit / 1000.0);
		}
}

static void test_scratch(void **state)
{
	struct ctrl_scratch sc = {0};

	(void)state;
	assert_int_equal(ctrl_scratch_reserve(&sc, 0), 0);
	assert_int_equal(ctrl_scratch_reserve(&sc, 4), 0);
	assert_int_equal(sc.cap, 4);
	assert_int_equal(ctrl_scratch_reserve(&sc, 2), 0);
	assert_int_equal(sc.cap, 4);
	ctrl_scratch_free(&sc);
	assert_null(sc.m);
	assert_int_equal(sc.cap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_from_file),
		cmocka_unit_test(test_check_target),
		cmocka_unit_test(test_dsr_breaker_flags),
		cmocka_unit_test(test_start_from_dataplane),
		cmocka_unit_test(test_forced_health),
		cmocka_unit_test(test_reload_carries_state),
		cmocka_unit_test(test_reload_breaker_off),
		cmocka_unit_test(test_counters_first_read_is_baseline),
		cmocka_unit_test(test_counters_hung_watch),
		cmocka_unit_test(test_counters_established),
		cmocka_unit_test(test_counters_reset_is_new_baseline),
		cmocka_unit_test(test_counters_dsr_no_passive_signals),
		cmocka_unit_test(test_take_dp_fields),
		cmocka_unit_test(test_feed_breaker_trips_and_clears),
		cmocka_unit_test(test_feed_breaker_pool_cap),
		cmocka_unit_test(test_feed_breaker_bounded),
		cmocka_unit_test(test_check_result_active_breaker),
		cmocka_unit_test(test_check_pass_closes_half_open),
		cmocka_unit_test(test_checks_recovery_ends_ejection),
		cmocka_unit_test(test_weights_failover),
		cmocka_unit_test(test_weights_panic),
		cmocka_unit_test(test_weights_slow_start),
		cmocka_unit_test(test_weights_breaker_ejects),
		cmocka_unit_test(test_recovery_after_fault),
		cmocka_unit_test(test_scratch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
