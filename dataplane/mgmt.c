/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The management thread: owns the model, publishes snapshots (RCU), resolves
 * neighbours, publishes least-connections loads, sums counters, and serves
 * the API socket (JSON lines, docs/api.md). It never touches a worker's
 * private state except to read counters.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "dp.h"
#include "unix_sock.h"
#ifdef SLUICE_HAVE_BPF
#include <arpa/inet.h>

#include "steer.h"
#endif

/*
 * Connections: API_MAX_CLIENTS for anyone allowed, API_ROOT_SLOTS more that
 * only root takes (the control daemon runs as root). When even those are
 * taken, root takes the slot of the connection silent the longest, so
 * connections nobody uses cannot lock the operator out; and every
 * connection silent for dataplane.api_idle_timeout is closed.
 */
#define API_MAX_CLIENTS 64
#define API_ROOT_SLOTS  4
#define API_SLOTS       (API_MAX_CLIENTS + API_ROOT_SLOTS)
#define API_MAX_REQUEST (64 * 1024) /* bytes per request line */
#define NEIGH_BATCH     64

#define API_MAX_OUTPUT (64u << 20) /* answers queued for one client */

struct api_client {
	int fd;
	bool root;
	uint64_t active_ms; /* last byte received or sent (dp_now_ms) */
	size_t used;        /* bytes of request text in buf */
	char *out;          /* answers not yet sent (the socket is non-blocking) */
	size_t out_len;
	size_t out_off;
	char buf[API_MAX_REQUEST];
};

static pthread_t mgmt_thread;
static int listen_fd = -1, epoll_fd = -1;
static struct api_client *clients[API_SLOTS];

uint64_t dp_now_ms(void)
{
	return (rte_rdtsc() - g_dp.started_tsc) / (rte_get_tsc_hz() / 1000);
}

static void neigh_tick(struct dp *dp);

int dp_publish(struct dp *dp)
{
	struct lb_snapshot *next = lb_model_compile(dp->model), *old;

	if (next == NULL) {
		/* The model holds the change: the management tick retries. */
		dp->publish_pending = true;
		return -ENOMEM;
	}
	dp->publish_pending = false;
	dp->model->neigh_changed = false;
	/* New backends' static MACs are in the table, and ARP/ND sent, before use. */
	neigh_tick(dp);
	/* New VIPs reach the AF_XDP sockets before workers look for them. */
	dp_steer_sync(dp, next);
	old = dp->snapshot;
	__atomic_store_n(&dp->snapshot, next, __ATOMIC_RELEASE);
	/* Returns once every online worker has passed a quiescent state: all run <next>. */
	rte_rcu_qsbr_synchronize(dp->rcu, RTE_QSBR_THRID_INVALID);
	lb_snapshot_free(old);
	return 0;
}

void dp_steer_sync(struct dp *dp, const struct lb_snapshot *s)
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

static void neigh_tick(struct dp *dp)
{
	uint32_t slots[NEIGH_BATCH];
	uint32_t n = lb_neigh_due(dp->model, dp->neigh, dp_now_ms(), dp->conf.dp.neigh_reachable_ms,
				  dp->conf.dp.neigh_retry_ms, slots, NEIGH_BATCH);

	for (uint32_t i = 0; i < n; i++) {
		const struct lb_model_neigh *ne = &dp->model->neigh[slots[i]];
		struct rte_mbuf *m = rte_pktmbuf_alloc(dp->pool);
		uint16_t len;

		if (m == NULL)
			return;
		len = lb_build_neigh_request(rte_pktmbuf_mtod(m, uint8_t *),
					     rte_pktmbuf_tailroom(m), &dp->model->ports[ne->port],
					     &ne->addr);
		if (len == 0 || rte_pktmbuf_append(m, len) == NULL) {
			rte_pktmbuf_free(m);
			continue;
		}
		m->port = ne->port;
		if (rte_ring_sp_enqueue(dp->workers[0].ctrl_tx, m) != 0)
			rte_pktmbuf_free(m);
	}
}

static void drain_to_mgmt(struct dp *dp)
{
	struct rte_mbuf *m[32];

	for (uint32_t w = 0; w < dp->n_workers; w++) {
		unsigned int n =
			rte_ring_sc_dequeue_burst(dp->workers[w].to_mgmt, (void **)m, 32, NULL);
		if (n == 32)
			w--; /* more waiting: empty this ring before the next */
		for (unsigned int i = 0; i < n; i++) {
			struct lb_addr addr;
			uint8_t mac[6];
			if (lb_parse_neigh_reply(rte_pktmbuf_mtod(m[i], uint8_t *), m[i]->data_len,
						 &addr, mac) == 0)
				lb_neigh_learn(dp->model, dp->neigh, m[i]->port, &addr, mac,
					       dp_now_ms());
			rte_pktmbuf_free(m[i]);
		}
	}
}

/* Least-connections input: sum of every lcore's own counts (lb.h, struct lb_load). */
static void publish_load(struct dp *dp)
{
	for (uint32_t s = 0; s < LB_MAX_BACKENDS; s++) {
		uint32_t sum = 0;
		if (dp->model->backends[s].uid == 0 && dp->load->sum[s] == 0)
			continue;
		for (uint32_t w = 0; w < dp->n_workers; w++) {
			uint32_t v =
				__atomic_load_n(&dp->workers[w].lb->active[s], __ATOMIC_RELAXED);
			__atomic_store_n(&dp->load->seen[w][s], v, __ATOMIC_RELAXED);
			sum += v;
		}
		__atomic_store_n(&dp->load->sum[s], sum, __ATOMIC_RELAXED);
	}
}

/* Frees deleted backends whose last flow has ended (lb_model_backend_del). */
static void reap_removed(struct dp *dp)
{
	bool changed = false;

	/* A removal not yet published may still be sending new flows: wait. */
	if (dp->publish_pending)
		return;

	for (uint32_t s = 0; s < LB_MAX_BACKENDS; s++) {
		const struct lb_model_backend *b = &dp->model->backends[s];
		uint32_t active = 0;
		if (b->uid == 0 || !b->removed)
			continue;
		for (uint32_t w = 0; w < dp->n_workers; w++)
			active += __atomic_load_n(&dp->workers[w].lb->active[s], __ATOMIC_RELAXED);
		if (active == 0) {
			lb_model_backend_reap(dp->model, s);
			changed = true;
		}
	}
	if (changed && dp_publish(dp) < 0)
		DP_LOG(WARNING, "out of memory publishing after freeing removed backends");
}

/* ---- API socket ---- */

static void client_close(int i)
{
	epoll_ctl(epoll_fd, EPOLL_CTL_DEL, clients[i]->fd, NULL);
	close(clients[i]->fd);
	free(clients[i]->out);
	free(clients[i]);
	clients[i] = NULL;
}

static void client_watch(int i, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i + 1};
	epoll_ctl(epoll_fd, EPOLL_CTL_MOD, clients[i]->fd, &ev);
}

/* Queues an answer line; returns -1 if the client let too much pile up. */
static int client_queue(struct api_client *c, const char *s)
{
	size_t len = strlen(s);
	char *o;

	if (c->out_len - c->out_off + len + 1 > API_MAX_OUTPUT)
		return -1;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	o = realloc(c->out, c->out_len + len + 1);
	if (o == NULL)
		return -1;
	c->out = o;
	memcpy(c->out + c->out_len, s, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	return 0;
}

/* Sends what the socket takes: 1 when all is sent, 0 if some waits, -1 on error. */
static int client_flush(struct api_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
		c->active_ms = dp_now_ms();
	}
	c->out_off = c->out_len = 0;
	return 1;
}

/* Best effort on a fresh socket, whose buffer takes one short line. */
static void send_line_and_close(int fd, const char *msg)
{
	ssize_t n = send(fd, msg, strlen(msg), MSG_NOSIGNAL);
	(void)n;
	close(fd);
}

/* What a peer that may not connect is told: who may. */
static char denied[128];

/* Tells client <i> why (best effort: its socket may be full) and closes it. */
static void client_drop(int i, const char *why)
{
	char line[160];

	snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"connection closed: %s\"}\n", why);
	if (clients[i]->out_len == clients[i]->out_off) {
		ssize_t n = send(clients[i]->fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n;
	}
	client_close(i);
}

/* Closes the connections silent for the idle timeout. */
static void api_sweep_idle(uint64_t now_ms)
{
	char why[96];

	snprintf(why, sizeof(why), "silent for %u ms (dataplane.api_idle_timeout)",
		 g_dp.conf.dp.api_idle_timeout_ms);
	for (int i = 0; i < API_SLOTS; i++)
		if (clients[i] != NULL &&
		    now_ms - clients[i]->active_ms >= g_dp.conf.dp.api_idle_timeout_ms)
			client_drop(i, why);
}

/*
 * A free slot for a new peer, or -1: the first API_MAX_CLIENTS are anyone's;
 * root also takes the reserved ones, then the slot of the connection silent
 * the longest (a non-root one first).
 */
static int api_slot(bool root)
{
	int n = 0, free_slot = -1, victim = -1;

	for (int i = 0; i < API_SLOTS; i++) {
		if (clients[i] == NULL) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		n++;
		if (victim < 0 || (clients[victim]->root && !clients[i]->root) ||
		    (clients[victim]->root == clients[i]->root &&
		     clients[i]->active_ms < clients[victim]->active_ms))
			victim = i;
	}
	if (!root)
		return n < API_MAX_CLIENTS ? free_slot : -1;
	if (free_slot >= 0)
		return free_slot;
	client_drop(victim, "every slot is taken and root needs one: the longest silent goes");
	return victim;
}

static void api_accept(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		bool root;
		int i;
		if (fd < 0)
			return;
		if (!unix_sock_peer_allowed(fd, g_dp.api_gid)) {
			send_line_and_close(fd, denied);
			continue;
		}
		root = unix_sock_peer_is_root(fd);
		i = api_slot(root);
		if (i < 0) {
			send_line_and_close(fd, "{\"ok\":false,\"error\":\"too many API clients "
						"connected (64); try again (silent ones are "
						"closed after dataplane.api_idle_timeout)\"}\n");
			continue;
		}
		clients[i] = calloc(1, sizeof(**clients));
		if (clients[i] == NULL) {
			close(fd);
			continue;
		}
		clients[i]->fd = fd;
		clients[i]->root = root;
		clients[i]->active_ms = dp_now_ms();
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i + 1};
		epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
	}
}

/*
 * Answers every complete request line buffered, in order. While answers wait
 * to be sent no further request is read: a client that does not read its
 * answers stops being served, and nobody else waits for it.
 */
static void api_serve(int i)
{
	struct api_client *c = clients[i];
	char *nl;

	while (c->out_len == 0 && (nl = memchr(c->buf, '\n', c->used)) != NULL) {
		size_t len = (size_t)(nl - c->buf);
		char *resp = len > 0 ? dp_api_handle(&g_dp, c->buf, len) : NULL;
		int rc = 0;

		memmove(c->buf, nl + 1, c->used - len - 1);
		c->used -= len + 1;
		if (resp == NULL)
			continue; /* an empty line */
		rc = client_queue(c, resp);
		free(resp);
		if (rc < 0 || client_flush(c) < 0) {
			client_close(i);
			return;
		}
	}
	client_watch(i, c->out_len > 0 ? EPOLLOUT : EPOLLIN);
}

static void api_io(int i, uint32_t events)
{
	struct api_client *c = clients[i];
	ssize_t n;

	if (events & EPOLLOUT) {
		int rc = client_flush(c);
		if (rc < 0)
			client_close(i);
		else if (rc > 0)
			api_serve(i); /* requests that waited behind the answer */
		return;
	}
	n = recv(c->fd, c->buf + c->used, sizeof(c->buf) - c->used, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_close(i);
		return;
	}
	c->used += (size_t)n;
	c->active_ms = dp_now_ms();
	if (c->used == sizeof(c->buf) && memchr(c->buf, '\n', c->used) == NULL) {
		client_queue(c, "{\"ok\":false,\"error\":\"request longer than 65536 bytes\"}");
		client_flush(c);
		client_close(i);
		return;
	}
	api_serve(i);
}

static void *mgmt_main(void *arg)
{
	struct dp *dp = arg;
	struct epoll_event evs[16];
	uint64_t last_tick = 0, last_reap = 0;

	while (!dp->quit) {
		int n = epoll_wait(epoll_fd, evs, 16, DP_MGMT_TICK_MS);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 0)
				api_accept();
			else if (clients[evs[i].data.u32 - 1] != NULL)
				api_io((int)evs[i].data.u32 - 1, evs[i].events);
		}
		dp_metrics_poll();
		uint64_t t = dp_now_ms();
		if (t - last_tick >= DP_MGMT_TICK_MS) {
			drain_to_mgmt(dp);
			neigh_tick(dp);
			/* A MAC learnt or lost changes who may take new flows; an
			 * earlier publish may have failed for memory. */
			if ((dp->model->neigh_changed || dp->publish_pending) && dp_publish(dp) < 0)
				DP_LOG(WARNING,
				       "out of memory publishing a new snapshot; will retry");
			publish_load(dp);
			api_sweep_idle(t);
			last_tick = t;
		}
		if (t - last_reap >= 100) {
			reap_removed(dp);
			/* Drains whose deadline passed: their flows are reset from now on. */
			if (lb_model_drain_tick(dp->model, t) > 0 && dp_publish(dp) < 0)
				DP_LOG(WARNING,
				       "out of memory publishing expired drains; will retry");
			last_reap = t;
		}
	}
	return NULL;
}

int dp_mgmt_start(struct dp *dp)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
	char err[256];

	/* Neighbours first, so static MACs are in place before the first packet. */
	neigh_tick(dp);
	listen_fd = unix_sock_listen(dp->api_socket, dp->api_gid, 16, err, sizeof(err));
	if (listen_fd < 0) {
		DP_LOG(ERR, "API socket: %s", err);
		return -1;
	}
	if (dp->api_gid == UNIX_SOCK_NO_GROUP)
		snprintf(denied, sizeof(denied),
			 "{\"ok\":false,\"error\":\"permission denied: root only\"}\n");
	else
		snprintf(denied, sizeof(denied),
			 "{\"ok\":false,\"error\":\"permission denied: root or group %s only\"}\n",
			 dp->conf.dp.api_group);
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		return -1;
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
	for (int i = 0; i < API_SLOTS; i++)
		if (clients[i] != NULL)
			client_close(i);
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(dp->api_socket);
	}
	if (epoll_fd >= 0)
		close(epoll_fd);
}
