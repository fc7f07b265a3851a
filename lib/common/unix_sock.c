/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE /* struct ucred */
#include "unix_sock.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux >= 4.13; older kernels: the primary group only */
#endif

int unix_sock_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group *g;

	if (name == NULL || name[0] == '\0') {
		*gid = UNIX_SOCK_NO_GROUP;
		return 0;
	}
	errno = 0;
	g = getgrnam(name);
	if (g == NULL) {
		snprintf(err, errlen, "no group named \"%s\"%s%s", name, errno ? ": " : "",
			 errno ? strerror(errno) : "");
		return -1;
	}
	*gid = g->gr_gid;
	return 0;
}

int unix_sock_listen(const char *path, gid_t gid, int backlog, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	gid_t owner = gid == UNIX_SOCK_NO_GROUP ? 0 : gid;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long (at most %zu characters): %s",
			 sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		/* Made here: 0750 and the socket's group. Found: left as the operator set it. */
		if (mkdir(dir, 0750) == 0 && chown(dir, 0, owner) < 0) {
			snprintf(err, errlen, "%s: chown: %s", dir, strerror(errno));
			return -1;
		}
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    chown(path, 0, owner) < 0 || listen(fd, backlog) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

bool unix_sock_peer_allowed(int fd, gid_t gid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (cred.uid == 0)
		return true;
	if (gid == UNIX_SOCK_NO_GROUP)
		return false;
	if (cred.gid == gid)
		return true;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false; /* more groups than we look at, or an old kernel: no */
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

bool unix_sock_peer_is_root(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == 0;
}
