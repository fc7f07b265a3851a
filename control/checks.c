/* SPDX-License-Identifier: BSD-3-Clause */
#include "checks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Killed exec children not yet gone (check_run_abort never blocks on them). */
#define MAX_UNREAPED 1024
static pid_t unreaped[MAX_UNREAPED];
static size_t n_unreaped;

void check_run_init(struct check_run *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

static enum hc_res from_errno(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return HC_RES_REFUSED;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return HC_RES_UNREACHABLE;
	case ETIMEDOUT:
		return HC_RES_TIMEOUT;
	default:
		return HC_RES_ERROR;
	}
}

static socklen_t sockaddr_of(const struct sl_addr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (sl_addr_is_v4(a)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, sl_addr_v4_bytes(a), 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, a->b, 16);
	return sizeof(*s6);
}

static int start_exec(struct check_run *p, const struct conf_health *h, const struct sl_addr *addr,
		      uint16_t port)
{
	char ip[SL_ADDR_STRLEN], portbuf[8];
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* The child: the command decides, by its exit status. Its own process
		 * group, so a timeout kills what it started too. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL); /* the daemon ignores it; the command should not */
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		setenv("SLUICE_BACKEND_ADDRESS", sl_addr_format(addr, ip, sizeof(ip)), 1);
		snprintf(portbuf, sizeof(portbuf), "%u", port);
		setenv("SLUICE_BACKEND_PORT", portbuf, 1);
		execl("/bin/sh", "sh", "-c", h->command, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no window where a kill of the group misses */
	p->pid = pid;
	/* A pidfd becomes readable when the child exits: no SIGCHLD handling. */
	p->fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->fd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		p->pid = 0;
		return -errno;
	}
	return 0;
}

int check_run_start(struct check_run *p, const struct conf_health *h, const struct sl_addr *addr,
		    uint16_t port, uint64_t now, int epfd, uint64_t token, enum hc_res *res,
		    char *detail, size_t dlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	p->started = now;
	struct epoll_event ev = {.data.u64 = token};
	int rc;

	check_run_init(p);
	p->token = token;
	p->deadline = now + h->timeout_ms;
	if (h->kind == CONF_HC_EXEC) {
		rc = start_exec(p, h, addr, port);
		ev.events = EPOLLIN;
	} else {
		int type = h->kind == CONF_HC_UDP ? SOCK_DGRAM : SOCK_STREAM;
		sl = sockaddr_of(addr, port, &ss);
		p->fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		rc = p->fd < 0 ? -errno : 0;
		if (rc == 0 && connect(p->fd, (struct sockaddr *)&ss, sl) < 0 &&
		    errno != EINPROGRESS)
			rc = -errno;
		if (rc == 0 && h->kind == CONF_HC_UDP) {
			if (send(p->fd, h->send, strlen(h->send), 0) < 0)
				rc = -errno;
			p->sent = 1;
		}
		ev.events = h->kind == CONF_HC_UDP ? EPOLLIN : EPOLLOUT;
	}
	if (rc == 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, p->fd, &ev) < 0)
		rc = -errno;
	if (rc < 0) {
		*res = from_errno(-rc);
		snprintf(detail, dlen, "%s", strerror(-rc));
		check_run_abort(p, epfd);
		return 1;
	}
	return 0;
}

static int finish(struct check_run *p, int epfd, enum hc_res r, enum hc_res *res)
{
	*res = r;
	check_run_abort(p, epfd);
	return 1;
}

int check_run_io(struct check_run *p, const struct conf_health *h, uint32_t events, int epfd,
		 enum hc_res *res, char *detail, size_t dlen)
{
	int err = 0;
	socklen_t len = sizeof(err);

	detail[0] = '\0';
	if (h->kind == CONF_HC_EXEC) {
		int status = 0;
		if (waitpid(p->pid, &status, WNOHANG) <= 0)
			return 0;
		p->pid = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return finish(p, epfd, HC_RES_OK, res);
		snprintf(detail, dlen, WIFEXITED(status) ? "exit %d" : "signal %d",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return finish(p, epfd, HC_RES_EXEC_FAILED, res);
	}
	if (h->kind == CONF_HC_UDP) {
		ssize_t n = recv(p->fd, p->buf, sizeof(p->buf) - 1, 0);
		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			snprintf(detail, dlen, "%s", strerror(errno));
			return finish(p, epfd, from_errno(errno), res);
		}
		p->buf[n] = '\0';
		if (h->expect[0] != '\0' && strstr(p->buf, h->expect) == NULL) {
			snprintf(detail, dlen, "reply without \"%.32s\"", h->expect);
			return finish(p, epfd, HC_RES_BAD_PAYLOAD, res);
		}
		return finish(p, epfd, HC_RES_OK, res);
	}
	if (!p->sent) {
		/* The connect finished, one way or the other. */
		getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
			err = err ? err : ECONNREFUSED;
			snprintf(detail, dlen, "%s", strerror(err));
			return finish(p, epfd, from_errno(err), res);
		}
		if (h->kind == CONF_HC_TCP)
			return finish(p, epfd, HC_RES_OK, res);
		char req[256];
		int n = snprintf(req, sizeof(req),
				 "GET %s HTTP/1.0\r\nUser-Agent: sluice-control\r\n"
				 "Connection: close\r\n\r\n",
				 h->path);
		if (send(p->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
			snprintf(detail, dlen, "send: %s", strerror(errno));
			return finish(p, epfd, HC_RES_ERROR, res);
		}
		p->sent = 1;
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = p->token};
		epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd, &ev);
		return 0;
	}
	/* http: the status line is enough. */
	ssize_t n = recv(p->fd, p->buf + p->used, sizeof(p->buf) - 1 - p->used, 0);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n > 0)
		p->used += (size_t)n;
	p->buf[p->used] = '\0';
	char *eol = strstr(p->buf, "\r\n");
	if (eol == NULL && n > 0 && p->used < sizeof(p->buf) - 1)
		return 0;
	unsigned int status = 0;
	if (sscanf(p->buf, "HTTP/%*d.%*d %u", &status) != 1) {
		snprintf(detail, dlen, "no HTTP status line");
		return finish(p, epfd, HC_RES_ERROR, res);
	}
	snprintf(detail, dlen, "HTTP %u", status);
	return finish(p, epfd, status == h->expect_status ? HC_RES_OK : HC_RES_BAD_STATUS, res);
}

void check_run_abort(struct check_run *p, int epfd)
{
	if (p->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd, NULL);
		close(p->fd);
	}
	if (p->pid > 0) {
		kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
		/* Never wait here (the loop must not block): reaped later if not yet. */
		if (waitpid(p->pid, NULL, WNOHANG) == 0 && n_unreaped < MAX_UNREAPED)
			unreaped[n_unreaped++] = p->pid;
	}
	p->fd = -1;
	p->pid = 0;
}

void check_run_reap(void)
{
	for (size_t i = 0; i < n_unreaped;)
		if (waitpid(unreaped[i], NULL, WNOHANG) != 0)
			unreaped[i] = unreaped[--n_unreaped];
		else
			i++;
}
