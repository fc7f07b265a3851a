/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The API's transport: a UNIX stream socket carrying request lines in and
 * answer lines out, for many clients at once, on one thread (epoll). It
 * knows nothing of what a request means: each complete line goes to the
 * handler it was opened with, whose answer it queues and sends.
 *
 * Connections: API_SOCK_MAX_CLIENTS for anyone allowed, API_SOCK_ROOT_SLOTS
 * more that only root takes (the control daemon runs as root). When even
 * those are taken, root takes the slot of the connection silent the longest,
 * so connections nobody uses cannot lock the operator out; and every
 * connection silent for the idle timeout is closed.
 */
#ifndef SLUICE_API_SOCK_H
#define SLUICE_API_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define API_SOCK_MAX_CLIENTS 64
#define API_SOCK_ROOT_SLOTS  4
#define API_SOCK_MAX_REQUEST (64 * 1024) /* bytes per request line */
#define API_SOCK_MAX_OUTPUT  (64u << 20) /* answers queued for one client */

/*
 * Answers request <line> (<len> bytes, no newline): a string the transport
 * frees, or NULL for no answer (it is never called for an empty line).
 */
typedef char *(*api_sock_handler)(void *ctx, const char *line, size_t len);

struct api_sock_conf {
	const char *path;
	gid_t gid;         /* besides root, this group may connect (UNIX_SOCK_NO_GROUP: none) */
	const char *group; /* its name, for the refusal */
	uint32_t idle_timeout_ms;
	api_sock_handler handler;
	void *ctx;
};

struct api_sock;

/* Listens on conf->path. NULL with <err> saying what failed. */
struct api_sock *api_sock_open(const struct api_sock_conf *conf, char *err, size_t errlen);

/* Waits up to <timeout_ms> for connections and requests, and serves them. */
void api_sock_poll(struct api_sock *s, int timeout_ms);

/*
 * Deferred answers. Called by the handler while it answers a request (it
 * returns NULL then): the answer comes later, from api_sock_release(), and
 * the connection's next requests wait for it (answers stay in order).
 */
void api_sock_defer(struct api_sock *s);
/* Whether an answer is deferred. */
bool api_sock_deferred(const struct api_sock *s);
/* Sends <answer> (a line, no newline) to every request deferred; their connections go on. */
void api_sock_release(struct api_sock *s, const char *answer);

/* Closes the connections silent for the idle timeout, saying why. */
void api_sock_sweep_idle(struct api_sock *s);

/* Closes every connection and the socket, and removes its path. */
void api_sock_close(struct api_sock *s);

#endif
