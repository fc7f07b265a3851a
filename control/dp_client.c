/* SPDX-License-Identifier: BSD-3-Clause */
#include "dp_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

json_object *dp_call(const char *sock, json_object *req, int timeout_ms, char *err, size_t errlen)
{
	return json_call(sock, "the data plane", req, timeout_ms, err, errlen);
}

json_object *json_call(const char *sock, const char *peer, json_object *req, int timeout_ms,
		       char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	size_t cap = 1 << 16, used = 0;
	char *buf = NULL;
	json_object *resp = NULL;
	int fd;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", sock);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "cannot reach %s at %s: %s", peer, sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	errno = 0;
	/* One line, one send: a server may answer (and close) on seeing it whole. */
	size_t tlen = strlen(text);
	char *line = malloc(tlen + 1);
	if (line == NULL)
		goto io_error;
	memcpy(line, text, tlen);
	line[tlen] = '\n';
	ssize_t sent = send(fd, line, tlen + 1, MSG_NOSIGNAL);
	free(line);
	if (sent != (ssize_t)(tlen + 1))
		goto io_error;
	buf = malloc(cap);
	if (buf == NULL)
		goto io_error;
	for (;;) {
		if (used + 1 == cap) {
			char *b = realloc(buf, cap * 2);
			if (b == NULL)
				goto io_error;
			buf = b;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + used, cap - used - 1);
		if (n <= 0)
			goto io_error;
		used += (size_t)n;
		if (memchr(buf + used - (size_t)n, '\n', (size_t)n) != NULL)
			break;
	}
	buf[used] = '\0';
	resp = json_tokener_parse(buf);
	if (resp == NULL)
		snprintf(err, errlen, "%s at %s sent something that is not JSON", peer, sock);
	free(buf);
	close(fd);
	return resp;
io_error:
	snprintf(err, errlen, "no answer from %s at %s: %s", peer, sock,
		 errno ? strerror(errno) : "connection closed");
	free(buf);
	close(fd);
	return NULL;
}
