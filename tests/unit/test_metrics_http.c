/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The /metrics endpoint (lib/metrics/metrics_http.c): a real HTTP exchange
 * on loopback, the endpoint polled from this thread as a daemon's loop does,
 * a client in another thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics_http.h"
#include "prom.h"

static void render(FILE *f, void *ctx)
{
	prom_family(f, "sluice_test_total", "counter", "A test counter.");
	prom_sample(f, "sluice_test_total", NULL, *(uint64_t *)ctx);
}

struct exchange {
	uint16_t port;
	const char *request;
	char reply[4096];
	volatile int done;
};

static void *client(void *arg)
{
	struct exchange *x = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(x->port)};
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, x->request, strlen(x->request)) == (ssize_t)strlen(x->request))
		while (got < sizeof(x->reply) - 1 &&
		       (n = read(fd, x->reply + got, sizeof(x->reply) - 1 - got)) > 0)
			got += (size_t)n;
	x->reply[got] = '\0';
	if (fd >= 0)
		close(fd);
	x->done = 1;
	return NULL;
}

/* <request> to <m>, polled here until the client has the whole reply (5 s at most). */
static void exchange(struct metrics_http *m, const char *request, char *reply, size_t len)
{
	struct exchange x = {.port = metrics_http_port(m), .request = request};
	struct timespec pause = {0, 1000000};
	pthread_t t;

	assert_int_not_equal(x.port, 0);
	assert_int_equal(pthread_create(&t, NULL, client, &x), 0);
	for (int i = 0; i < 5000 && !x.done; i++) {
		metrics_http_poll(m);
		nanosleep(&pause, NULL);
	}
	pthread_join(t, NULL);
	snprintf(reply, len, "%s", x.reply);
}

static void test_get_metrics(void **state)
{
	(void)state;
	uint64_t value = 7;
	char err[160], reply[4096];
	struct metrics_http *m =
		metrics_http_start("127.0.0.1:0", render, &value, err, sizeof(err));

	assert_non_null(m);
	exchange(m, "GET /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	assert_non_null(strstr(reply, " 200 OK"));
	assert_non_null(strstr(reply, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(reply, "\r\n\r\n# HELP sluice_test_total A test counter.\n"
				      "# TYPE sluice_test_total counter\nsluice_test_total 7\n"));
	value = 8; /* rendered at each scrape */
	exchange(m, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", reply,
		 sizeof(reply));
	assert_non_null(strstr(reply, "sluice_test_total 8\n"));
	metrics_http_stop(m);
}

static void test_other_paths_and_methods(void **state)
{
	(void)state;
	uint64_t value = 1;
	char err[160], reply[4096];
	struct metrics_http *m =
		metrics_http_start("127.0.0.1:0", render, &value, err, sizeof(err));

	assert_non_null(m);
	exchange(m, "GET / HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	assert_non_null(strstr(reply, " 404 "));
	exchange(m, "POST /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", reply, sizeof(reply));
	assert_non_null(strstr(reply, " 405 "));
	exchange(m, "garbage\r\n\r\n", reply, sizeof(reply));
	assert_null(strstr(reply, "sluice_test_total"));
	/* Still serving after all that. */
	exchange(m, "GET /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	assert_non_null(strstr(reply, "sluice_test_total 1\n"));
	metrics_http_stop(m);
}

static void test_listen_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",        "127.0.0.1", "127.0.0.1:", ":9560",   "127.0.0.1:65536", "127.0.0.1:-1",
		"host:80", "[::1:80",   "::1:80",     "[::1]80", "1.2.3.4:80x",     NULL};
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[160];

	for (int i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		assert_int_equal(metrics_listen_parse(bad[i], &ss, &sl, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "expected ADDR:PORT"));
	}
	assert_int_equal(metrics_listen_parse("[::1]:9560", &ss, &sl, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(metrics_listen_parse("0.0.0.0:9560", &ss, &sl, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
}

/* A second endpoint on a port in use says so instead of serving nothing. */
static void test_port_in_use(void **state)
{
	(void)state;
	uint64_t value = 1;
	char err[160], addr[32];
	struct metrics_http *m =
		metrics_http_start("127.0.0.1:0", render, &value, err, sizeof(err));

	assert_non_null(m);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", metrics_http_port(m));
	assert_null(metrics_http_start(addr, render, &value, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot listen on"));
	metrics_http_stop(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_metrics),
		cmocka_unit_test(test_other_paths_and_methods),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_port_in_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
