/* SPDX-License-Identifier: BSD-3-Clause */
/* The /metrics endpoint: metrics_http.h. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "prom.h"

/*
 * A scraper needs one connection; a few more for an operator's curl. A
 * client that stalls is dropped after the timeout, so none can hold the
 * endpoint (nor the thread that polls it: nothing here blocks).
 */
#define METRICS_MAX_CONNECTIONS 8
#define METRICS_TIMEOUT_S       5

struct metrics_http {
	struct MHD_Daemon *mhd;
	metrics_render_fn render;
	void *ctx;
};

int metrics_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
			 size_t errlen)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			goto bad;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 || port > 65535)
		goto bad;
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			goto bad;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto bad;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "metrics address '%s': expected ADDR:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9560", s);
	return -1;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned int status, char *body,
			      size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned int status,
				   const char *text)
{
	char *body = strdup(text);

	if (body == NULL)
		return MHD_NO;
	return answer(conn, status, body, strlen(body), "text/plain; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **req_ctx)
{
	struct metrics_http *m = cls;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)version;
	(void)upload;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n");
	/* GET has no body; a first call only announces the request. */
	if (*req_ctx == NULL) {
		*req_ctx = m;
		return MHD_YES;
	}
	if (*upload_len != 0)
		return answer_text(conn, MHD_HTTP_BAD_REQUEST, "no body expected\n");
	if (strcmp(url, "/metrics") != 0)
		return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
	f = open_memstream(&buf, &len);
	if (f == NULL)
		return MHD_NO;
	m->render(f, m->ctx);
	if (fclose(f) != 0) {
		free(buf);
		return MHD_NO;
	}
	return answer(conn, MHD_HTTP_OK, buf, len, PROM_CONTENT_TYPE);
}

struct metrics_http *metrics_http_start(const char *listen, metrics_render_fn render, void *ctx,
					char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct metrics_http *m;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (metrics_listen_parse(listen, &ss, &sl, err, errlen) < 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	m->render = render;
	m->ctx = ctx;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->mhd = MHD_start_daemon(
		flags, ntohs(((struct sockaddr_in *)&ss)->sin_port), NULL, NULL, on_request, m,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)METRICS_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)METRICS_TIMEOUT_S, MHD_OPTION_END);
	if (m->mhd == NULL) {
		snprintf(err, errlen,
			 "metrics: cannot listen on %s (in use, or not an address of this host?)",
			 listen);
		free(m);
		return NULL;
	}
	return m;
}

uint16_t metrics_http_port(const struct metrics_http *m)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);

	return i != NULL ? i->port : 0;
}

int metrics_http_fd(const struct metrics_http *m)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);

	return i != NULL ? i->epoll_fd : -1;
}

void metrics_http_poll(struct metrics_http *m)
{
	if (m != NULL)
		MHD_run(m->mhd);
}

void metrics_http_stop(struct metrics_http *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->mhd);
	free(m);
}
