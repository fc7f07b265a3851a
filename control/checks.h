/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One active health check in flight (tcp connect, http GET, udp exchange,
 * exec): non-blocking, driven by the daemon's epoll loop, so a slow backend
 * never delays the checks of the others.
 */
#ifndef SLUICE_CHECKS_H
#define SLUICE_CHECKS_H

#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "health.h"
#include "lb_addr.h"

struct probe {
	int fd;            /* socket, or pidfd of the exec child; -1 when idle */
	pid_t pid;         /* exec child, 0 otherwise */
	uint8_t sent;      /* http/udp: the request went out */
	uint64_t deadline; /* ms: past it the check is a timeout */
	uint64_t started;  /* ms: when it started (its duration, for /metrics) */
	uint64_t token;    /* epoll data of its fd */
	size_t used;
	char buf[512]; /* http status line / udp reply */
};

void probe_init(struct probe *p);
static inline int probe_busy(const struct probe *p)
{
	return p->fd >= 0;
}

/*
 * Starts a check of <addr>:<port> as <h> says, registering its fd in <epfd>
 * with <token>. Returns 0, or a failure result right away (e.g. no socket):
 * then *res/detail are set and nothing is in flight (returns 1).
 */
int probe_start(struct probe *p, const struct conf_health *h, const struct lb_addr *addr,
		uint16_t port, uint64_t now, int epfd, uint64_t token, enum hc_res *res,
		char *detail, size_t dlen);

/* Readiness on the probe's fd: 1 when the check ended (*res, detail set), else 0. */
int probe_io(struct probe *p, const struct conf_health *h, uint32_t events, int epfd,
	     enum hc_res *res, char *detail, size_t dlen);

/*
 * Ends a check in flight (timeout, shutdown): closes its fd, kills its child
 * and the child's process group, without waiting for them.
 */
void probe_abort(struct probe *p, int epfd);

/* Reaps exec children killed by probe_abort that had not exited yet; never blocks. */
void probe_reap(void);

#endif
