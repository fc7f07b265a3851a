/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The API's transport (api_sock.h): connections, their buffers, who may
 * connect, and idle timeouts. Requests are answered by the handler given
 * at api_sock_open(); nothing here calls into the rest of the data plane.
 */
#include "api_sock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "unix_sock.h"

#define API_SLOTS (API_SOCK_MAX_CLIENTS + API_SOCK_ROOT_SLOTS)

struct api_client {
	int fd;
	bool root;
	bool deferred;      /* its answer comes from api_sock_release(): later requests wait */
	bool resume;        /* released: the requests buffered meanwhile are to be served */
	uint64_t active_ms; /* last byte received or sent (now_ms) */
	size_t used;        /* bytes of request text in buf */
	char *out;          /* answers not yet sent (the socket is non-blocking) */
	size_t out_len;
	size_t out_off;
	char buf[API_SOCK_MAX_REQUEST];
};

struct api_sock {
	struct api_sock_conf conf;
	int listen_fd;
	int epoll_fd;
	/* What a peer that may not connect is told: who may. */
	char denied[128];
	int serving; /* the client whose request the handler answers, -1 outside it */
	struct api_client *clients[API_SLOTS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void client_close(struct api_sock *s, int i)
{
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->clients[i]->fd, NULL);
	close(s->clients[i]->fd);
	free(s->clients[i]->out);
	free(s->clients[i]);
	s->clients[i] = NULL;
}

static void client_watch(struct api_sock *s, int i, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i + 1};
	epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->clients[i]->fd, &ev);
}

/* Queues an answer line; returns -1 if the client let too much pile up. */
static int client_queue(struct api_client *c, const char *s)
{
	size_t len = strlen(s);
	char *o;

	if (c->out_len - c->out_off + len + 1 > API_SOCK_MAX_OUTPUT)
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
		c->active_ms = now_ms();
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

/* Tells client <i> why (best effort: its socket may be full) and closes it. */
static void client_drop(struct api_sock *s, int i, const char *why)
{
	struct api_client *c = s->clients[i];
	char line[160];

	snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"connection closed: %s\"}\n", why);
	if (c->out_len == c->out_off) {
		ssize_t n = send(c->fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n;
	}
	client_close(s, i);
}

void api_sock_sweep_idle(struct api_sock *s)
{
	uint64_t now = now_ms();
	char why[96];

	snprintf(why, sizeof(why), "silent for %u ms (dataplane.api_idle_timeout)",
		 s->conf.idle_timeout_ms);
	for (int i = 0; i < API_SLOTS; i++)
		if (s->clients[i] != NULL &&
		    now - s->clients[i]->active_ms >= s->conf.idle_timeout_ms)
			client_drop(s, i, why);
}

/*
 * A free slot for a new peer, or -1: the first API_SOCK_MAX_CLIENTS are
 * anyone's; root also takes the reserved ones, then the slot of the
 * connection silent the longest (a non-root one first).
 */
static int client_slot(struct api_sock *s, bool root)
{
	struct api_client **cl = s->clients;
	int n = 0, free_slot = -1, victim = -1;

	for (int i = 0; i < API_SLOTS; i++) {
		if (cl[i] == NULL) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		n++;
		if (victim < 0 || (cl[victim]->root && !cl[i]->root) ||
		    (cl[victim]->root == cl[i]->root && cl[i]->active_ms < cl[victim]->active_ms))
			victim = i;
	}
	if (!root)
		return n < API_SOCK_MAX_CLIENTS ? free_slot : -1;
	if (free_slot >= 0)
		return free_slot;
	client_drop(s, victim, "every slot is taken and root needs one: the longest silent goes");
	return victim;
}

static void accept_all(struct api_sock *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		bool root;
		int i;
		if (fd < 0)
			return;
		if (!unix_sock_peer_allowed(fd, s->conf.gid)) {
			send_line_and_close(fd, s->denied);
			continue;
		}
		root = unix_sock_peer_is_root(fd);
		i = client_slot(s, root);
		if (i < 0) {
			send_line_and_close(fd, "{\"ok\":false,\"error\":\"too many API clients "
						"connected (64); try again (silent ones are "
						"closed after dataplane.api_idle_timeout)\"}\n");
			continue;
		}
		s->clients[i] = calloc(1, sizeof(**s->clients));
		if (s->clients[i] == NULL) {
			close(fd);
			continue;
		}
		s->clients[i]->fd = fd;
		s->clients[i]->root = root;
		s->clients[i]->active_ms = now_ms();
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i + 1};
		epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
	}
}

/*
 * Answers every complete request line buffered, in order. While answers wait
 * to be sent no further request is read: a client that does not read its
 * answers stops being served, and nobody else waits for it.
 */
static void client_serve(struct api_sock *s, int i)
{
	struct api_client *c = s->clients[i];
	char *nl;

	while (c->out_len == 0 && !c->deferred && (nl = memchr(c->buf, '\n', c->used)) != NULL) {
		size_t len = (size_t)(nl - c->buf);
		char *resp = NULL;
		int rc = 0;

		if (len > 0) {
			s->serving = i;
			resp = s->conf.handler(s->conf.ctx, c->buf, len);
			s->serving = -1;
		}
		memmove(c->buf, nl + 1, c->used - len - 1);
		c->used -= len + 1;
		if (resp == NULL)
			continue; /* an empty line, or an answer deferred */
		rc = client_queue(c, resp);
		free(resp);
		if (rc < 0 || client_flush(c) < 0) {
			client_close(s, i);
			return;
		}
	}
	client_watch(s, i, c->out_len > 0 ? EPOLLOUT : EPOLLIN);
}

static void client_io(struct api_sock *s, int i, uint32_t events)
{
	struct api_client *c = s->clients[i];
	ssize_t n;

	if (events & EPOLLOUT) {
		int rc = client_flush(c);
		if (rc < 0)
			client_close(s, i);
		else if (rc > 0)
			client_serve(s, i); /* requests that waited behind the answer */
		return;
	}
	n = recv(c->fd, c->buf + c->used, sizeof(c->buf) - c->used, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_close(s, i);
		return;
	}
	c->used += (size_t)n;
	c->active_ms = now_ms();
	if (c->used == sizeof(c->buf) && memchr(c->buf, '\n', c->used) == NULL) {
		client_queue(c, "{\"ok\":false,\"error\":\"request longer than 65536 bytes\"}");
		client_flush(c);
		client_close(s, i);
		return;
	}
	client_serve(s, i);
}

void api_sock_defer(struct api_sock *s)
{
	if (s->serving >= 0)
		s->clients[s->serving]->deferred = true;
}

bool api_sock_deferred(const struct api_sock *s)
{
	for (int i = 0; i < API_SLOTS; i++)
		if (s->clients[i] != NULL && s->clients[i]->deferred)
			return true;
	return false;
}

void api_sock_release(struct api_sock *s, const char *answer)
{
	for (int i = 0; i < API_SLOTS; i++) {
		struct api_client *c = s->clients[i];
		int rc;

		if (c == NULL || !c->deferred)
			continue;
		c->deferred = false;
		rc = client_queue(c, answer) < 0 ? -1 : client_flush(c);
		if (rc < 0)
			client_close(s, i);
		else if (rc == 0)
			client_watch(s, i, EPOLLOUT); /* then its next requests (client_io) */
		else
			c->resume = true; /* its next requests, at the next poll */
	}
}

void api_sock_poll(struct api_sock *s, int timeout_ms)
{
	struct epoll_event evs[16];
	int n;

	/* Requests that waited behind a deferred answer, before new ones. */
	for (int i = 0; i < API_SLOTS; i++) {
		if (s->clients[i] != NULL && s->clients[i]->resume) {
			s->clients[i]->resume = false;
			client_serve(s, i);
		}
	}
	n = epoll_wait(s->epoll_fd, evs, 16, timeout_ms);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == 0)
			accept_all(s);
		else if (s->clients[evs[i].data.u32 - 1] != NULL)
			client_io(s, (int)evs[i].data.u32 - 1, evs[i].events);
	}
}

struct api_sock *api_sock_open(const struct api_sock_conf *conf, char *err, size_t errlen)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
	struct api_sock *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->conf = *conf;
	s->epoll_fd = -1;
	s->serving = -1;
	s->listen_fd = unix_sock_listen(conf->path, conf->gid, 16, err, errlen);
	if (s->listen_fd < 0) {
		free(s);
		return NULL;
	}
	if (conf->gid == UNIX_SOCK_NO_GROUP)
		snprintf(s->denied, sizeof(s->denied),
			 "{\"ok\":false,\"error\":\"permission denied: root only\"}\n");
	else
		snprintf(s->denied, sizeof(s->denied),
			 "{\"ok\":false,\"error\":\"permission denied: root or group %s only\"}\n",
			 conf->group);
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epoll_fd < 0 || epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		api_sock_close(s);
		return NULL;
	}
	return s;
}

void api_sock_close(struct api_sock *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < API_SLOTS; i++)
		if (s->clients[i] != NULL)
			client_close(s, i);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->conf.path);
	}
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	free(s);
}
