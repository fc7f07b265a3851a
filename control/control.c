/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-control --config FILE [--api-socket PATH] [--node NAME]
 *
 * The control daemon, first part: active health checks. Every backend of a
 * VIP with a health_check is checked (tcp, http, udp or exec), with
 * HAProxy's rise/fall, fastinter/downinter and start jitter (lib/health);
 * when a backend's health changes, the data plane is told through its API
 * (backend.set health=up|down), which answers once every worker runs it.
 *
 * Bulkhead: the data plane keeps forwarding with its last state when this
 * daemon dies; when it starts again it takes each backend's health from the
 * data plane as the starting point (no flapping, no reset), and converges.
 * SIGHUP reloads the configuration (checks of backends that stay keep their
 * state); a bad file is rejected and the running checks go on.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "conf.h"
#include "dp_client.h"
#include "health.h"

struct check {
	char vip[CONF_NAME_MAX];
	struct lb_addr addr;
	uint16_t port;       /* the backend's service port (data-plane identity) */
	uint16_t check_port; /* where the check goes */
	struct conf_health h;
	struct hc_state hc;
	struct probe pr;
	bool dp_up; /* what the data plane was last told */
};

static struct conf conf;
static struct check *checks;
static size_t n_checks;
static const char *api_socket;
static const char *node = "sluice";
static volatile sig_atomic_t quit, reload;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%lld.%03ld sluice-control: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		quit = 1;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static char *endpoint(const struct check *c, char *buf, size_t len)
{
	char ip[LB_ADDR_STRLEN];
	lb_addr_format(&c->addr, ip, sizeof(ip));
	snprintf(buf, len, lb_addr_is_v4(&c->addr) ? "%s:%u" : "[%s]:%u", ip, c->port);
	return buf;
}

/* Tells the data plane; false (logged) when it cannot be reached. */
static bool push_health(struct check *c, bool up)
{
	char err[256], ep[80], ip[LB_ADDR_STRLEN];
	json_object *req = json_object_new_object(), *resp, *ok;
	bool done = false;

	json_object_object_add(req, "cmd", json_object_new_string("backend.set"));
	json_object_object_add(req, "vip", json_object_new_string(c->vip));
	json_object_object_add(req, "address",
			       json_object_new_string(lb_addr_format(&c->addr, ip, sizeof(ip))));
	json_object_object_add(req, "port", json_object_new_int(c->port));
	json_object_object_add(req, "health", json_object_new_string(up ? "up" : "down"));
	resp = dp_call(api_socket, req, 10, err, sizeof(err));
	json_object_put(req);
	if (resp == NULL) {
		logf_("%s %s: cannot tell the data plane (%s); will retry", c->vip,
		      endpoint(c, ep, sizeof(ep)), err);
		return false;
	}
	if (json_object_object_get_ex(resp, "ok", &ok) && json_object_get_boolean(ok)) {
		c->dp_up = up;
		done = true;
	} else {
		json_object *e;
		json_object_object_get_ex(resp, "error", &e);
		logf_("%s %s: the data plane refused: %s", c->vip, endpoint(c, ep, sizeof(ep)),
		      e ? json_object_get_string(e) : "?");
		done = true; /* not ours to retry: the backend is gone from the data plane */
		c->dp_up = up;
	}
	json_object_put(resp);
	return done;
}

/* Each backend's health as the data plane has it (the starting point after a restart). */
static bool dp_health(const struct check *c, bool *up)
{
	char err[256], ip[LB_ADDR_STRLEN];
	json_object *req = json_object_new_object(), *resp, *vips;
	bool found = false;

	json_object_object_add(req, "cmd", json_object_new_string("vip.list"));
	resp = dp_call(api_socket, req, 10, err, sizeof(err));
	json_object_put(req);
	if (resp == NULL)
		return false;
	lb_addr_format(&c->addr, ip, sizeof(ip));
	if (json_object_object_get_ex(resp, "vips", &vips))
		for (size_t i = 0; i < json_object_array_length(vips) && !found; i++) {
			json_object *v = json_object_array_get_idx(vips, i), *bl, *x;
			if (!json_object_object_get_ex(v, "name", &x) ||
			    strcmp(json_object_get_string(x), c->vip) != 0 ||
			    !json_object_object_get_ex(v, "backends", &bl))
				continue;
			for (size_t j = 0; j < json_object_array_length(bl); j++) {
				json_object *b = json_object_array_get_idx(bl, j), *a, *p, *h;
				if (json_object_object_get_ex(b, "address", &a) &&
				    json_object_object_get_ex(b, "port", &p) &&
				    json_object_object_get_ex(b, "health", &h) &&
				    strcmp(json_object_get_string(a), ip) == 0 &&
				    json_object_get_int(p) == c->port) {
					*up = strcmp(json_object_get_string(h), "up") == 0;
					found = true;
					break;
				}
			}
		}
	json_object_put(resp);
	return found;
}

static void hc_params_of(const struct conf_health *h, struct hc_params *p)
{
	hc_params_default(p);
	p->interval_ms = h->interval_ms;
	p->timeout_ms = h->timeout_ms;
	p->fastinter_ms = h->fastinter_ms;
	p->downinter_ms = h->downinter_ms;
	p->rise = h->rise;
	p->fall = h->fall;
	p->start_jitter_pct = h->jitter_pct;
}

/* Builds the check list from <c>, keeping the state of checks that stay. */
static int build_checks(const struct conf *c, int epfd)
{
	size_t n = 0, k = 0;
	struct check *next;
	uint64_t now = now_ms();

	for (uint32_t i = 0; i < c->n_vips; i++)
		if (c->vips[i].hc.kind != CONF_HC_NONE)
			n += c->vips[i].n_backends;
	next = calloc(n ? n : 1, sizeof(*next));
	if (next == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->n_vips; i++) {
		const struct conf_vip *v = &c->vips[i];
		if (v->hc.kind == CONF_HC_NONE)
			continue;
		for (uint32_t j = 0; j < v->n_backends; j++) {
			struct check *x = &next[k++];
			struct hc_params p;
			char ep[80];
			bool up = true, kept = false;

			snprintf(x->vip, sizeof(x->vip), "%s", v->name);
			x->addr = v->backends[j].addr;
			x->port = v->backends[j].port ? v->backends[j].port : v->port;
			x->check_port = v->hc.port ? v->hc.port : x->port;
			x->h = v->hc;
			probe_init(&x->pr);
			hc_params_of(&x->h, &p);
			for (size_t o = 0; o < n_checks; o++) {
				struct check *old = &checks[o];
				if (strcmp(old->vip, x->vip) == 0 && old->port == x->port &&
				    lb_addr_eq(&old->addr, &x->addr)) {
					probe_abort(&old->pr, epfd);
					x->hc = old->hc;
					x->dp_up = old->dp_up;
					hc_set_params(&x->hc, &p, now);
					kept = true;
				}
			}
			if (kept)
				continue;
			/* Start from what the data plane has, as a settled state: a restart
			 * changes nothing until the checks say otherwise. */
			if (!dp_health(x, &up))
				up = true;
			x->dp_up = up;
			endpoint(x, ep, sizeof(ep));
			hc_init(&x->hc, &p, up ? HC_INIT_FULLY_UP : HC_INIT_FULLY_DOWN, now,
				fnv1a(ep, fnv1a(x->vip, fnv1a(node, 0xcbf29ce484222325ull))));
		}
	}
	for (size_t o = 0; o < n_checks; o++)
		probe_abort(&checks[o].pr, epfd);
	free(checks);
	checks = next;
	n_checks = k;
	return 0;
}

static void result(struct check *c, enum hc_res r, const char *detail, uint64_t now)
{
	char ep[80];
	int changed = hc_result(&c->hc, r, detail, now);
	bool up = c->hc.health == HC_UP;

	if (changed > 0)
		logf_("%s %s: %s after %u %s check(s) (last: %s%s%s)", c->vip,
		      endpoint(c, ep, sizeof(ep)), up ? "UP" : "DOWN",
		      up ? c->hc.p.rise : c->hc.p.fall, up ? "passing" : "failing", hc_res_name(r),
		      detail[0] ? ", " : "", detail);
	if (up != c->dp_up)
		push_health(c, up);
}

static int usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s --config FILE [--api-socket PATH] [--node NAME]\n"
		"  Runs the VIPs' health checks and tells the data plane.\n"
		"  SIGHUP reloads FILE; SIGTERM stops.\n",
		prog);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"api-socket", required_argument, NULL, 's'},
		{"node", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	char err[512];
	int c, epfd;

	while ((c = getopt_long(argc, argv, "c:s:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			api_socket = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		default:
			return usage(argv[0]);
		}
	}
	if (config == NULL)
		return usage(argv[0]);
	if (conf_load_file(config, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-control: %s\n", err);
		return 2;
	}
	if (api_socket == NULL)
		api_socket = conf.dp.api_socket;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || build_checks(&conf, epfd) < 0) {
		fprintf(stderr, "sluice-control: out of memory\n");
		return 1;
	}
	logf_("checking %zu backends; data plane at %s", n_checks, api_socket);

	while (!quit) {
		struct epoll_event evs[64];
		uint64_t now = now_ms(), wake = now + 1000;
		char detail[64];
		enum hc_res r;

		if (reload) {
			struct conf next;
			reload = 0;
			if (conf_load_file(config, &next, err, sizeof(err)) < 0) {
				logf_("reload rejected, the running checks go on: %s", err);
			} else if (build_checks(&next, epfd) < 0) {
				logf_("reload: out of memory, the running checks go on");
				conf_free(&next);
			} else {
				conf_free(&conf);
				conf = next;
				logf_("reloaded %s: checking %zu backends", config, n_checks);
			}
		}
		for (size_t i = 0; i < n_checks; i++) {
			struct check *x = &checks[i];
			if (probe_busy(&x->pr)) {
				if (now >= x->pr.deadline) {
					probe_abort(&x->pr, epfd);
					result(x, HC_RES_TIMEOUT, "", now);
				} else if (x->pr.deadline < wake) {
					wake = x->pr.deadline;
				}
				continue;
			}
			/* A data plane that could not be told is told again. */
			if ((x->hc.health == HC_UP) != x->dp_up)
				push_health(x, x->hc.health == HC_UP);
			if (now >= hc_next_due(&x->hc)) {
				if (probe_start(&x->pr, &x->h, &x->addr, x->check_port, now, epfd,
						i, &r, detail, sizeof(detail)) > 0)
					result(x, r, detail, now);
				else if (x->pr.deadline < wake)
					wake = x->pr.deadline;
			} else if (hc_next_due(&x->hc) < wake) {
				wake = hc_next_due(&x->hc);
			}
		}
		int n = epoll_wait(epfd, evs, 64, (int)(wake > now ? wake - now : 0));
		now = now_ms();
		for (int e = 0; e < n; e++) {
			size_t i = (size_t)evs[e].data.u64;
			if (i >= n_checks || !probe_busy(&checks[i].pr))
				continue;
			if (probe_io(&checks[i].pr, &checks[i].h, evs[e].events, epfd, &r, detail,
				     sizeof(detail)) > 0)
				result(&checks[i], r, detail, now);
		}
	}
	for (size_t i = 0; i < n_checks; i++)
		probe_abort(&checks[i].pr, epfd);
	free(checks);
	conf_free(&conf);
	logf_("stopped");
	return 0;
}
