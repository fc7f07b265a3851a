/* SPDX-License-Identifier: BSD-3-Clause */
/* The control daemon's announcements through BIRD (bgp.h, docs/cluster.md). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bgp.h"
#include "log.h"

#define DP_PROBE_MS   300  /* the data plane's answer to one status request */
#define BIRD_IO_MS    2000 /* BIRD's answer to "configure" */
#define BIRD_RETRY_MS 1000 /* a BIRD that could not be told is tried again this often */
#define INCLUDE_MAX   (1 << 20)

static uint64_t ms_left(uint64_t deadline, uint64_t now)
{
	return deadline > now ? deadline - now : 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A connected stream socket to <path>, non-blocking; -1 (errno) if none. */
static int unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Reads lines from <fd> into <buf> until <done> says the answer is whole or
 * <deadline> passes. Returns the length, or -1 (errno: ETIMEDOUT, EPIPE...).
 */
static ssize_t read_answer(int fd, char *buf, size_t cap, uint64_t deadline,
			   bool (*done)(const char *buf, size_t len))
{
	size_t used = 0;

	buf[0] = '\0';
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, (int)ms_left(deadline, mono_ms()));
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (n < 0 && errno != EINTR)
			return -1;
		if (n < 0)
			continue;
		ssize_t k = read(fd, buf + used, cap - 1 - used);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EPIPE;
			return -1;
		}
		used += (size_t)k;
		buf[used] = '\0';
		if (done(buf, used) || used == cap - 1)
			return (ssize_t)used;
	}
}

static bool one_line(const char *buf, size_t len)
{
	return memchr(buf, '\n', len) != NULL;
}

enum dp_probe {
	DP_ANSWERED, /* a status answer within DP_PROBE_MS */
	DP_SILENT,   /* connected, but no answer in time (busy, starved or hung) */
	DP_GONE,     /* no process listens on the socket (killed, crashed, not started) */
};

/* One status request to the data plane; <err> the reason when it did not answer. */
static enum dp_probe dp_probe(const char *sock, int *err)
{
	static const char req[] = "{\"cmd\":\"status\"}\n";
	char buf[512];
	bool ok;
	int fd = unix_connect(sock);

	if (fd < 0) {
		*err = errno;
		/* Refused: the file is there but nobody listens; missing: never started. */
		return errno == ECONNREFUSED || errno == ENOENT ? DP_GONE : DP_SILENT;
	}
	ok = send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1) &&
	     read_answer(fd, buf, sizeof(buf), mono_ms() + DP_PROBE_MS, one_line) > 0;
	*err = ok ? 0 : errno;
	close(fd);
	return ok ? DP_ANSWERED : DP_SILENT;
}

/*
 * BIRD's control protocol: lines "DDDD-text" (more follow) and "DDDD text"
 * (the last); the greeting is code 0001. Whole when a line other than the
 * greeting ends without '-'.
 */
static bool bird_whole(const char *buf, size_t len)
{
	const char *line = buf, *end;

	(void)len;
	while ((end = strchr(line, '\n')) != NULL) {
		if (end - line >= 5 && line[4] == ' ' && strncmp(line, "0001", 4) != 0)
			return true;
		line = end + 1;
	}
	return false;
}

/* The last line of BIRD's answer in <buf>, in <out> without its newline. */
static void bird_last_line(const char *buf, char *out, size_t len)
{
	const char *line = buf, *last = buf, *end;

	while ((end = strchr(line, '\n')) != NULL && end[1] != '\0')
		line = end + 1;
	last = line;
	end = strchr(last, '\n');
	snprintf(out, len, "%.*s", (int)(end ? end - last : (long)strlen(last)), last);
}

/*
 * "configure" through BIRD's socket <sock>: BIRD reads its config again, our
 * include with it. 0, or -1 with <err> saying why (no BIRD, refused).
 */
static int bird_configure(const char *sock, ino_t *ino, struct timespec *ctime, char *err,
			  size_t len)
{
	static const char req[] = "configure\n";
	char buf[4096], last[256];
	struct stat st;
	uint64_t deadline = mono_ms() + BIRD_IO_MS;
	int fd = unix_connect(sock), rc = -1;

	if (fd < 0) {
		snprintf(err, len, "cannot reach BIRD at %s: %s", sock, strerror(errno));
		return -1;
	}
	if (stat(sock, &st) == 0) {
		*ino = st.st_ino;
		*ctime = st.st_ctim;
	}
	/* The greeting first, then the command's answer. */
	if (read_answer(fd, buf, sizeof(buf), deadline, one_line) < 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1) ||
	    read_answer(fd, buf, sizeof(buf), deadline, bird_whole) < 0) {
		snprintf(err, len, "BIRD at %s did not answer \"configure\": %s", sock,
			 strerror(errno));
		goto out;
	}
	bird_last_line(buf, last, sizeof(last));
	/* 0xxx: done (0003 reconfigured, 0004 in progress, 0019 nothing to do). */
	if (last[0] != '0') {
		snprintf(err, len, "BIRD refused its configuration: %.120s", last);
		goto out;
	}
	err[0] = '\0';
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The file at <path> (NULL: none or unreadable), NUL-terminated; caller frees. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(INCLUDE_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, INCLUDE_MAX, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* <text> into <path> through a temporary file and a rename: BIRD never reads half of it. */
static int write_atomic(const char *path, const char *text)
{
	char tmp[CONF_PATH_MAX + 8];
	size_t len = strlen(text);
	int fd, e;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		e = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		return -e;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

void bgp_init(struct bgp *g, const struct conf *c, const char *drain_path)
{
	struct stat st;

	*g = (struct bgp){0};
	ann_node_init(&g->node, c->cluster.dataplane_timeout_ms);
	snprintf(g->drain_path, sizeof(g->drain_path), "%s", drain_path);
	g->node.drained = stat(g->drain_path, &st) == 0;
	if (g->node.drained)
		log_line("node drained (%s exists): no VIP is announced until "
			 "\"sluicectl node ready\"",
			 g->drain_path);
}

void bgp_free(struct bgp *g)
{
	free(g->why);
	free(g->text);
	*g = (struct bgp){0};
}

int bgp_set_drained(struct bgp *g, bool drained)
{
	int fd;

	if (drained) {
		fd = open(g->drain_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		close(fd);
	} else if (unlink(g->drain_path) < 0 && errno != ENOENT) {
		return -errno;
	}
	if (g->node.drained != drained)
		log_line("node %s by the operator", drained ? "DRAINED" : "ready again");
	g->node.drained = drained;
	return 0;
}

/* Backends of VIP <vi> that can take flows: up, admin ready, weight above 0. */
static uint32_t usable(const struct ctrl_set *set, uint32_t vi)
{
	uint32_t n = 0;

	for (size_t i = 0; i < set->n; i++) {
		const struct ctrl_backend *b = &set->b[i];
		if (b->id.vip_index == vi && ctrl_up(b) && b->failover.eligible &&
		    b->failover.weight > 0)
			n++;
	}
	return n;
}

/* Each VIP's decision at <now> into g->why (logged when it changed); the routes into <r>. */
static size_t decide(struct bgp *g, const struct conf *c, const struct ctrl_set *set, uint64_t now,
		     struct ann_route *r)
{
	size_t n = 0;

	if (g->n_why != c->n_vips) {
		uint8_t *w = calloc(c->n_vips ? c->n_vips : 1, 1);
		if (w == NULL)
			return SIZE_MAX;
		/* A reload starts every VIP from "not announced": each says what it is. */
		memset(w, 0xff, c->n_vips);
		free(g->why);
		g->why = w;
		g->n_why = c->n_vips;
	}
	for (uint32_t vi = 0; vi < c->n_vips; vi++) {
		enum ann_why w = ann_vip_decide(&g->node, usable(set, vi), now);
		if (g->why[vi] != w)
			log_line("%s: %s", c->vips[vi].name,
				 w == ANN_UP ? "ANNOUNCED" : ann_why_name(w));
		g->why[vi] = (uint8_t)w;
		if (w == ANN_UP)
			r[n++].addr = c->vips[vi].addr;
	}
	return ann_routes_normalize(r, n);
}

/* The include as rendered now is on disk and BIRD runs it; retried until it does. */
static void sync_bird(struct bgp *g, const struct conf_cluster *cl, const char *text, uint64_t now)
{
	struct stat st;
	int rc;

	if (strcmp(g->text_path, cl->bird_include) != 0) {
		/* First pass, or a reload moved the file: what is on disk now. */
		free(g->text);
		g->text = read_file(cl->bird_include);
		snprintf(g->text_path, sizeof(g->text_path), "%s", cl->bird_include);
		g->bird_told = false;
	}
	if (g->text == NULL || strcmp(g->text, text) != 0) {
		char *copy = strdup(text);
		if (copy == NULL)
			return;
		rc = write_atomic(cl->bird_include, text);
		if (rc < 0) {
			free(copy);
			snprintf(g->bird_err, sizeof(g->bird_err), "cannot write %s: %s",
				 cl->bird_include, strerror(-rc));
			return;
		}
		free(g->text);
		g->text = copy;
		g->bird_told = false;
		g->bird_next_try = 0;
	}
	/* A BIRD that restarted has a new socket: it read the file, but say it again. */
	if (g->bird_told && (stat(cl->bird_socket, &st) < 0 || st.st_ino != g->bird_ino ||
			     st.st_ctim.tv_sec != g->bird_ctime.tv_sec ||
			     st.st_ctim.tv_nsec != g->bird_ctime.tv_nsec))
		g->bird_told = false;
	if (g->bird_told || now < g->bird_next_try)
		return;
	char err[sizeof(g->bird_err)];
	if (bird_configure(cl->bird_socket, &g->bird_ino, &g->bird_ctime, err, sizeof(err)) == 0) {
		if (g->bird_err[0] != '\0')
			log_line("BIRD told again (%u route(s))", g->n_announced);
		g->bird_told = true;
		g->bird_err[0] = '\0';
		return;
	}
	if (strcmp(err, g->bird_err) != 0)
		log_line("%s (retried every %d ms)", err, BIRD_RETRY_MS);
	snprintf(g->bird_err, sizeof(g->bird_err), "%s", err);
	g->bird_next_try = now + BIRD_RETRY_MS;
}

void bgp_tick(struct bgp *g, const struct conf *c, const struct ctrl_set *set, const char *dp_sock,
	      uint64_t now)
{
	const struct conf_cluster *cl = &c->cluster;
	struct ann_route *r;
	enum dp_probe probe;
	size_t n, cap = 4096;
	char *text;
	int len, err;

	if (!cl->enabled)
		return;
	g->node.dp_timeout_ms = cl->dataplane_timeout_ms;
	probe = dp_probe(dp_sock, &err);
	if (probe == DP_ANSWERED)
		ann_dp_answered(&g->node, now);
	else if (probe == DP_GONE)
		ann_dp_gone(&g->node);
	if (g->dp_alive != ann_dp_alive(&g->node, now)) {
		g->dp_alive = !g->dp_alive;
		if (g->dp_alive)
			log_line("the data plane at %s answers", dp_sock);
		else if (probe == DP_GONE)
			log_line("the data plane at %s is gone: %s", dp_sock, strerror(err));
		else
			log_line("the data plane at %s has not answered for %u ms", dp_sock,
				 cl->dataplane_timeout_ms);
	}
	r = calloc(c->n_vips ? c->n_vips : 1, sizeof(*r));
	if (r == NULL)
		return;
	n = decide(g, c, set, now, r);
	if (n == SIZE_MAX)
		goto out;
	for (;;) {
		text = malloc(cap);
		if (text == NULL)
			goto out;
		len = ann_render_bird(r, n, cl->protocol, cl->has_next_hop4 ? &cl->next_hop4 : NULL,
				      cl->has_next_hop6 ? &cl->next_hop6 : NULL, text, cap);
		if (len >= 0 || cap >= INCLUDE_MAX)
			break;
		free(text);
		cap *= 2;
	}
	if (len >= 0) {
		g->n_announced = (uint32_t)n;
		sync_bird(g, cl, text, now);
	}
	free(text);
out:
	free(r);
}

void bgp_status(const struct bgp *g, const struct conf *c, json_object *o)
{
	json_object *arr;

	json_object_object_add(o, "node",
			       json_object_new_string(g->node.drained ? "drained" : "ready"));
	if (!c->cluster.enabled)
		return;
	arr = json_object_new_array();
	for (uint32_t vi = 0; vi < c->n_vips && vi < g->n_why; vi++) {
		json_object *v = json_object_new_object();
		json_object_object_add(v, "vip", json_object_new_string(c->vips[vi].name));
		json_object_object_add(
			v, "announce",
			json_object_new_string(g->why[vi] <= ANN_UP
						       ? ann_why_name((enum ann_why)g->why[vi])
						       : "not yet decided"));
		json_object_array_add(arr, v);
	}
	json_object_object_add(o, "announce", arr);
	json_object_object_add(o, "routes_announced", json_object_new_int64(g->n_announced));
	json_object_object_add(o, "bird",
			       json_object_new_string(g->bird_err[0] ? g->bird_err
						      : g->bird_told ? "told"
								     : "not yet told"));
}
