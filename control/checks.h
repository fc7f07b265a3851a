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
#include "sl_addr.h"

struct check_run {
	int fd;            /* socket, or pidfd of the exec child; -1 when idle */
	pid_t pid;         /* exec child, 0 otherwise */
	uint8_t sent;      /* http/udp: the request went out */
	uint64_t deadline; /* ms: past it the check is a timeout */
	uint64_t started;  /* ms: when it started (its duration, for /metrics) */
	uint64_t token;    /* epoll data of its fd */
	size_t used;
	char buf[512]; /* http status line / udp reply */
};

void check_run_init(struct check_run *p);
static inline int check_run_busy(const struct check_run *p)
{
	return p->fd >= 0;
}

/*
 * Starts a check of <addr>:<port> as <h> says, registering its fd in <epfd>
 * with <token>. Returns 0, or a failure result right away (e.g. no socket):
 * then *res/detail are set and nothing is in flight (returns 1).
 */
int check_run_start(struct check_run *p, const struct conf_health *h, const struct sl_addr *addr,
		    uint16_t port, uint64_t now, int epfd, uint64_t token, enum hc_res *res,
		    char *detail, size_t dlen);

/* Readiness on the probe's fd: 1 when the check ended (*res, detail set), else 0. */
int check_run_io(struct check_run *p, const struct conf_health *h, uint32_t events, int epfd,
		 enum hc_res *res, char *detail, size_t dlen);

/*
 * Ends a check in flight (timeout, shutdown): closes its fd, kills its child
 * and the child's process group, without waiting for them.
 */
void check_run_abort(struct check_run *p, int epfd);

/* Reaps exec children killed by check_run_abort that had not exited yet; never blocks. */
void check_run_reap(void);

#endif
