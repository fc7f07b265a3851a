/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The /metrics endpoint of a daemon: libmicrohttpd serving what a render
 * callback writes (Prometheus text, prom.h). It runs in the caller's thread:
 * the caller's loop calls metrics_http_poll(), which never blocks, so the
 * callback may read the state that thread owns without locks (the data
 * plane's management thread, the control daemon's loop), and a scrape never
 * touches a worker.
 */
#ifndef SLUICE_METRICS_HTTP_H
#define SLUICE_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct metrics_http;

/* Writes the exposition to <f>; <ctx> is metrics_http_start()'s. */
typedef void (*metrics_render_fn)(FILE *f, void *ctx);

/*
 * "ADDR:PORT", "[V6ADDR]:PORT" into <ss>/<len>. Returns 0, or -1 with a
 * message in <err>.
 */
int metrics_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
			 size_t errlen);

/*
 * Listens on <listen> (metrics_listen_parse) and serves GET /metrics with
 * <render>; anything else gets 404 or 405. Returns NULL with a message in
 * <err> (bad address, address in use).
 */
struct metrics_http *metrics_http_start(const char *listen, metrics_render_fn render, void *ctx,
					char *err, size_t errlen);

/* The TCP port it listens on (the one chosen when <listen> asked for port 0). */
uint16_t metrics_http_port(const struct metrics_http *m);

/*
 * A descriptor that becomes readable when the endpoint has work: a loop
 * waiting in epoll adds it and calls metrics_http_poll() when it fires (and
 * at least every second, for connection timeouts).
 */
int metrics_http_fd(const struct metrics_http *m);

/* Accepts, reads and answers what is ready; never blocks. NULL: nothing. */
void metrics_http_poll(struct metrics_http *m);

void metrics_http_stop(struct metrics_http *m);

#endif
