/* SPDX-License-Identifier: BSD-3-Clause */
#include "sock.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "unix_sock.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void refuse(json_object *resp, const char *why)
{
	json_object_object_add(resp, "ok", json_object_new_boolean(0));
	json_object_object_add(resp, "error", json_object_new_string(why));
}

/* The whole answer (a 1000-backend health.list is large), or -1. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads one request line into <buf> (<cap> bytes, NUL-terminated): a client
 * gets 200 ms in all to send it (100 ms per read), however it drips it; the
 * daemon's loop waits meanwhile. Returns the bytes read; *line says a newline came.
 */
static size_t read_request(int fd, char *buf, size_t cap, bool *line)
{
	struct timeval tv = {.tv_usec = 100000};
	uint64_t read_until = now_ms() + 200;
	size_t used = 0;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	tv = (struct timeval){.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*line = false;
	while (used < cap - 1 && now_ms() < read_until &&
	       (n = read(fd, buf + used, cap - 1 - used)) > 0) {
		used += (size_t)n;
		if (memchr(buf, '\n', used) != NULL) {
			*line = true;
			break;
		}
	}
	buf[used] = '\0';
	return used;
}

/* The answer to a peer that may not use the socket: who may. */
static void refuse_peer(json_object *resp, const char *path, gid_t gid)
{
	char e[200];
	struct group *g = gid == UNIX_SOCK_NO_GROUP ? NULL : getgrgid(gid);

	if (gid == UNIX_SOCK_NO_GROUP)
		snprintf(e, sizeof(e),
			 "permission denied: only root may use %s "
			 "(control.socket_group is not set)",
			 path);
	else
		snprintf(e, sizeof(e),
			 "permission denied: only root and members of group "
			 "\"%s\" may use %s",
			 g ? g->gr_name : "?", path);
	refuse(resp, e);
}

void sock_serve(int lfd, const char *path, gid_t gid, sock_handler *handle)
{
	for (;;) {
		char buf[4096];
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		json_object *resp;
		size_t used;
		bool line;

		if (fd < 0)
			return;
		resp = json_object_new_object();
		/* The request is read first, even from a peer refused below: closing
		 * on an unread request would reset the connection before the answer. */
		used = read_request(fd, buf, sizeof(buf), &line);
		if (!unix_sock_peer_allowed(fd, gid))
			refuse_peer(resp, path, gid);
		else if (!line && used == sizeof(buf) - 1)
			refuse(resp, "request longer than 4 KiB");
		else
			handle(buf, resp);
		const char *out = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
		if (write_all(fd, out, strlen(out)) < 0 || write_all(fd, "\n", 1) < 0)
			log_line("a client of the control socket went away before its answer");
		json_object_put(resp);
		close(fd);
	}
}
