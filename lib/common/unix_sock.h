/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The local sockets through which Sluice is driven (the data plane's API, the
 * control daemon's): where they are made and who may talk on them. Both planes
 * use these, so access works the same on each: root, or members of one
 * configured group, decided on the peer's credentials (SO_PEERCRED and
 * SO_PEERGROUPS); file modes (0660 in a 0750 directory) are a second fence.
 */
#ifndef SLUICE_UNIX_SOCK_H
#define SLUICE_UNIX_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* No group: root only. */
#define UNIX_SOCK_NO_GROUP ((gid_t)-1)

/*
 * The gid of group <name> ("" gives UNIX_SOCK_NO_GROUP). -1 with <err> set
 * when there is no such group.
 */
int unix_sock_group(const char *name, gid_t *gid, char *err, size_t errlen);

/*
 * Listens on <path> (non-blocking, close-on-exec): creates its directory if
 * missing (0750), replaces a stale socket, and gives both to root:<gid> (or
 * root:root). Returns the fd, or -1 with <err> saying what failed and where.
 */
int unix_sock_listen(const char *path, gid_t gid, int backlog, char *err, size_t errlen);

/*
 * Whether the peer of connected socket <fd> may use it: root, or a process
 * whose primary or supplementary groups include <gid>.
 */
bool unix_sock_peer_allowed(int fd, gid_t gid);

/* Whether the peer of connected socket <fd> runs as root (SO_PEERCRED). */
bool unix_sock_peer_is_root(int fd);

#endif
