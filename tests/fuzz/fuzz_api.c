/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the data plane's API (dataplane/api.c): request
 * lines, as a client writes them on the API socket, through dp_api_handle().
 *
 * api.c is compiled in as it is, against DPDK's headers only: the three
 * functions of the data plane it calls outside the lb library are stubs
 * here (the clock, publishing a snapshot without an RCU grace period, and a
 * port's NIC statistics), so no EAL, port or hugepage is needed. Each input
 * is up to 16 lines (split at '\n', as the management thread splits them),
 * run in order against a fresh data plane: two ports, one worker, no VIPs,
 * so a vip.add followed by backend.* and vip.set reach the model.
 *
 * Checks, besides ASan/UBSan's and LeakSanitizer's: every response is one
 * JSON object with "ok" and "generation", and "error" exactly when not ok;
 * the generation never goes backwards; and every VIP the model holds
 * afterwards has a name of printable characters without spaces (what
 * conf_vip_check() promises for both the file and the API).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "dp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_api: check failed: %s (line %d)\n", #cond,           \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define MAX_LINES 16

static uint64_t fake_now_ms;

/* ---- what api.c needs of the rest of the data plane ---- */

uint64_t dp_now_ms(void)
{
	return fake_now_ms;
}

/* dp_publish() without the neighbour tick, XDP maps or grace period: one thread here. */
int dp_publish(struct dp *dp)
{
	struct lb_snapshot *next = lb_model_compile(dp->model);

	if (next == NULL) {
		dp->publish_pending = true;
		return -ENOMEM;
	}
	dp->publish_pending = false;
	lb_snapshot_free(dp->snapshot);
	dp->snapshot = next;
	return 0;
}

/* No workers here: no flow entries to find (flow.lookup answers Maglev's). */
int dp_lookup_ask(struct dp *dp, uint32_t vip_slot, const struct flow_key *k,
		  struct lb_lookup *answer, unsigned int *lcore)
{
	(void)dp;
	(void)vip_slot;
	(void)k;
	(void)answer;
	(void)lcore;
	return 0;
}

int rte_eth_stats_get(uint16_t port_id, struct rte_eth_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	stats->ipackets = port_id;
	return 0;
}

/* ---- the harness ---- */

static void add_port(struct dp *dp, const char *name, const char *a4, const char *a6)
{
	struct conf_port cp;
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(dp->n_ports + 1)};
	char err[256] = "";

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.name, sizeof(cp.name), "%s", name);
	cp.has_ipv4 = sl_addr_parse(&cp.ipv4, a4) == 0;
	cp.ipv4_plen = 24;
	cp.has_ipv6 = sl_addr_parse(&cp.ipv6, a6) == 0;
	cp.ipv6_plen = 64;
	CHECK(lb_model_port_add(dp->model, &cp, mac, err, sizeof(err)) >= 0);
	dp->ports[dp->n_ports].port_id = (uint16_t)dp->n_ports;
	snprintf(dp->ports[dp->n_ports].name, sizeof(dp->ports[0].name), "%s", name);
	memcpy(dp->ports[dp->n_ports].mac.addr_bytes, mac, 6);
	dp->n_ports++;
}

static void check_response(const char *resp, uint64_t *generation)
{
	json_object *o, *ok, *gen, *err;

	CHECK(resp != NULL);
	o = json_tokener_parse(resp);
	CHECK(o != NULL && json_object_is_type(o, json_type_object));
	CHECK(json_object_object_get_ex(o, "ok", &ok) &&
	      json_object_is_type(ok, json_type_boolean));
	CHECK(json_object_object_get_ex(o, "generation", &gen));
	CHECK((uint64_t)json_object_get_uint64(gen) >= *generation);
	*generation = (uint64_t)json_object_get_uint64(gen);
	CHECK(json_object_object_get_ex(o, "error", &err) == !json_object_get_boolean(ok));
	json_object_put(o);
	/* json-c escapes what it writes: no raw control character reaches a terminal. */
	for (const char *p = resp; *p != '\0'; p++)
		CHECK((unsigned char)*p >= 0x20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dp dp;
	struct flow_timeouts to;
	const char *p = (const char *)data, *end = p + size;
	uint64_t generation = 0;

	memset(&dp, 0, sizeof(dp));
	fake_now_ms = 1000;
	dp.model = lb_model_create();
	dp.neigh = calloc(1, sizeof(*dp.neigh));
	dp.load = calloc(1, sizeof(*dp.load));
	CHECK(dp.model != NULL && dp.neigh != NULL && dp.load != NULL);
	add_port(&dp, "backends", "10.0.0.1", "2001:db8::1");
	add_port(&dp, "clients", "192.0.2.1", "2001:db8:ffff::1");
	flow_timeouts_default(&to);
	dp.n_workers = 1;
	dp.workers[0].lb = lb_worker_create(0, 1, 64, &to, dp.neigh, dp.load);
	CHECK(dp.workers[0].lb != NULL);
	CHECK(dp_publish(&dp) == 0);

	for (int i = 0; i < MAX_LINES && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);
		char *line, *resp;

		if (len > 0) {
			/* A copy of its own: ASan sees a read past the line. */
			line = malloc(len);
			CHECK(line != NULL);
			memcpy(line, p, len);
			resp = dp_api_handle(&dp, line, len);
			check_response(resp, &generation);
			free(resp);
			free(line);
		}
		p += len + 1;
		fake_now_ms += 500;
	}

	for (uint32_t v = 0; v < LB_MAX_VIPS; v++) {
		const struct lb_model_vip *mv = &dp.model->vips[v];

		if (mv->uid == 0)
			continue;
		CHECK(memchr(mv->name, '\0', sizeof(mv->name)) != NULL);
		for (const char *c = mv->name; *c != '\0'; c++)
			CHECK(isgraph((unsigned char)*c));
	}
	lb_worker_free(dp.workers[0].lb);
	lb_snapshot_free(dp.snapshot);
	lb_model_free(dp.model);
	free(dp.neigh);
	free(dp.load);
	return 0;
}
