/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The management thread: one loop that owns the model. It serves the API
 * socket (api_sock.c, requests answered by api.c), builds large pools a
 * slice at a time between requests (answering the changes that wait for
 * them once they are published) and, every tick, learns
 * and asks for neighbours, publishes what changed, publishes the
 * least-connections loads; less often, it reaps deleted backends and
 * expires drains. It never touches a worker's private state except to read
 * counters.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_lcore.h>

#include "api_sock.h"
#include "dp.h"

#define REAP_INTERVAL_MS 100

static pthread_t mgmt_thread;
static struct api_sock *api_sock;

static char *serve_request(void *ctx, const char *line, size_t len)
{
	struct dp *dp = ctx;
	char *answer = dp_api_handle(dp, line, len);

	if (answer == NULL && dp->answer_later) {
		dp->answer_later = false;
		api_sock_defer(api_sock);
	}
	return answer;
}

/*
 * A slice of the pools being built (large Maglev tables), published once
 * complete; then the changes that waited for it are answered: every one is
 * in the generation now in service (read-your-writes).
 */
static void build_slice(struct dp *dp)
{
	char answer[64];

	if (lb_model_build_pending(dp->model) && dp_publish(dp) < 0)
		DP_LOG(WARNING, "out of memory publishing a new snapshot; will retry");
	if (dp->publish_pending || !api_sock_deferred(api_sock))
		return;
	snprintf(answer, sizeof(answer), "{\"ok\":true,\"generation\":%" PRIu64 "}",
		 dp->snapshot->generation);
	api_sock_release(api_sock, answer);
}

/* Every DP_MGMT_TICK_MS. */
static void tick(struct dp *dp)
{
	dp_neigh_receive(dp);
	dp_neigh_solicit(dp);
	/* A MAC learnt or lost changes who may take new flows; an earlier
	 * publish may have failed for memory. */
	if ((dp->model->neigh_changed || dp->publish_pending) && dp_publish(dp) < 0)
		DP_LOG(WARNING, "out of memory publishing a new snapshot; will retry");
	dp_load_publish(dp);
	api_sock_sweep_idle(api_sock);
}

/* Every REAP_INTERVAL_MS. */
static void slow_tick(struct dp *dp, uint64_t now_ms)
{
	dp_reap_removed(dp);
	/* Drains whose deadline passed: their flows are reset from now on. */
	if (lb_model_drain_tick(dp->model, now_ms) > 0 && dp_publish(dp) < 0)
		DP_LOG(WARNING, "out of memory publishing expired drains; will retry");
}

static void *mgmt_main(void *arg)
{
	struct dp *dp = arg;
	uint64_t last_tick = 0, last_reap = 0;

	while (!dp->quit) {
		/* While pools are being built, requests are served between slices. */
		api_sock_poll(api_sock, lb_model_build_pending(dp->model) ? 0 : DP_MGMT_TICK_MS);
		dp_metrics_poll();
		build_slice(dp);
		uint64_t t = dp_now_ms();
		if (t - last_tick >= DP_MGMT_TICK_MS) {
			tick(dp);
			last_tick = t;
		}
		if (t - last_reap >= REAP_INTERVAL_MS) {
			slow_tick(dp, t);
			last_reap = t;
		}
	}
	return NULL;
}

int dp_mgmt_start(struct dp *dp)
{
	struct api_sock_conf sc = {
		.path = dp->api_socket,
		.gid = dp->api_gid,
		.group = dp->conf.dp.api_group,
		.idle_timeout_ms = dp->conf.dp.api_idle_timeout_ms,
		.handler = serve_request,
		.ctx = dp,
	};
	char err[256];

	/* Neighbours first, so static MACs are in place before the first packet. */
	dp_neigh_solicit(dp);
	api_sock = api_sock_open(&sc, err, sizeof(err));
	if (api_sock == NULL) {
		DP_LOG(ERR, "API socket: %s", err);
		return -1;
	}
	if (rte_ctrl_thread_create(&mgmt_thread, "sluice-mgmt", NULL, mgmt_main, dp) != 0) {
		DP_LOG(ERR, "cannot start the management thread");
		return -1;
	}
	return 0;
}

void dp_mgmt_stop(struct dp *dp)
{
	dp->quit = true;
	pthread_join(mgmt_thread, NULL);
	api_sock_close(api_sock);
	api_sock = NULL;
}
