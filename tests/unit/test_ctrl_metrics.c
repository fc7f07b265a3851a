/* SPDX-License-Identifier: BSD-3-Clause */
/* The control daemon's /metrics (lib/ctrl/ctrl_metrics.c), on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctrl.h"
#include "ctrl_metrics.h"

#define T0 1000000u

static const char yaml[] = "ports:\n  - name: lan\n    devargs: net_null0\n"
			   "vips:\n"
			   "  - name: web\n"
			   "    address: 198.18.1.100\n"
			   "    port: 80\n"
			   "    mode: fnat\n"
			   "    local_addresses: [198.18.0.1]\n"
			   "    health_check: {type: tcp, interval: 1, rise: 2, fall: 2}\n"
			   "    breaker: {consecutive_failures: 3}\n"
			   "    backends:\n"
			   "      - address: 198.18.0.11\n"
			   "        port: 8080\n"
			   "      - address: 198.18.0.13\n"
			   "        priority: 1\n"
			   "        health_check: {type: none}\n";

static char *render(const struct ctrl_set *s, const struct ctrl_metrics_daemon *dm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	ctrl_metrics_write(f, s, dm);
	fclose(f);
	return buf;
}

static void build(struct conf *c, struct ctrl_set *s)
{
	struct ctrl_set none = {0};
	char err[512] = "";

	if (conf_load_string(yaml, strlen(yaml), "t.yaml", c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(ctrl_set_build(s, c, &none, T0), 0);
	for (size_t i = 0; i < s->n; i++) {
		struct ctrl_dp_view v = {.has_health = true, .up = true};
		ctrl_take_dp_health(&s->b[i], &v);
		ctrl_start(&s->b[i], "node", T0);
	}
}

/* Every line a HELP, a TYPE or "name{labels} value": nothing else. */
static void assert_well_formed(const char *text)
{
	const char *line = text;

	while (*line != '\0') {
		const char *nl = strchr(line, '\n');
		assert_non_null(nl);
		if (strncmp(line, "# HELP sluice_control_", 22) != 0 &&
		    strncmp(line, "# TYPE sluice_control_", 22) != 0)
			assert_int_equal(strncmp(line, "sluice_control_", 15), 0);
		line = nl + 1;
	}
}

static void test_backends_and_daemon(void **state)
{
	(void)state;
	struct conf c;
	struct ctrl_set s;
	struct ctrl_metrics_daemon dm = {.dataplane_reachable = true,
					 .dataplane_generation = 7,
					 .reloads = 2,
					 .reload_failures = 1};
	char *t;

	build(&c, &s);
	s.b[0].check.last_duration_ms = 1500;
	ctrl_check_result(&s.b[0], HC_RES_REFUSED, "refused", T0 + 1000, NULL, NULL);
	t = render(&s, &dm);
	assert_well_formed(t);
	assert_non_null(strstr(t, "sluice_control_dataplane_reachable 1\n"));
	assert_non_null(strstr(t, "sluice_control_dataplane_generation 7\n"));
	assert_non_null(strstr(t, "sluice_control_reload_failures_total 1\n"));
	assert_non_null(strstr(t, "sluice_control_backends 2\n"));
	/* The checked backend: one failed check, still healthy (fall 2). */
	assert_non_null(strstr(
		t, "sluice_control_checks_total{vip=\"web\",backend=\"198.18.0.11:8080\"} 1\n"));
	assert_non_null(strstr(t, "sluice_control_failed_checks_total{vip=\"web\",backend=\"198.18."
				  "0.11:8080\"} 1\n"));
	assert_non_null(strstr(
		t, "sluice_control_backend_healthy{vip=\"web\",backend=\"198.18.0.11:8080\"} 1\n"));
	assert_non_null(strstr(t, "sluice_control_check_duration_seconds{vip=\"web\",backend="
				  "\"198.18.0.11:8080\"} 1.5\n"));
	/* The unchecked one has no check series, but its priority and breaker. */
	assert_null(
		strstr(t, "sluice_control_checks_total{vip=\"web\",backend=\"198.18.0.13:80\"}"));
	assert_non_null(strstr(
		t, "sluice_control_backend_priority{vip=\"web\",backend=\"198.18.0.13:80\"} 1\n"));
	/* The breaker's state: one-hot. */
	assert_non_null(strstr(t, "sluice_control_breaker_state{vip=\"web\",backend=\"198.18.0."
				  "11:8080\",state=\"closed\"} 1\n"));
	assert_non_null(strstr(t, "sluice_control_breaker_state{vip=\"web\",backend=\"198.18.0."
				  "11:8080\",state=\"open\"} 0\n"));
	free(t);

	/* A second failure: down, one transition. */
	ctrl_check_result(&s.b[0], HC_RES_REFUSED, "refused", T0 + 2000, NULL, NULL);
	t = render(&s, &dm);
	assert_non_null(strstr(
		t, "sluice_control_backend_healthy{vip=\"web\",backend=\"198.18.0.11:8080\"} 0\n"));
	assert_non_null(strstr(t, "sluice_control_health_transitions_total{vip=\"web\",backend="
				  "\"198.18.0.11:8080\"} 1\n"));
	free(t);
	/* A cluster node, drained: each VIP withdrawn, with the reason. */
	uint8_t why[1] = {ANN_DRAINED};
	dm.has_cluster = true;
	dm.drained = true;
	dm.conf = &c;
	dm.why = why;
	dm.n_why = 1;
	t = render(&s, &dm);
	assert_well_formed(t);
	assert_non_null(strstr(t, "sluice_control_node_drained 1\n"));
	assert_non_null(
		strstr(t, "sluice_control_vip_announced{vip=\"web\",reason=\"drained\"} 0\n"));
	free(t);
	ctrl_set_free(&s);
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backends_and_daemon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
