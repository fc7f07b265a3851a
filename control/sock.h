/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control daemon's own socket, as a transport (docs/control.md §6): one
 * JSON request per connection, at most 4 KiB, answered at once by the
 * caller's handler; only root and members of its group are answered. What
 * the requests mean is the handler's: nothing here calls back up.
 */
#ifndef SLUICE_CONTROL_SOCK_H
#define SLUICE_CONTROL_SOCK_H

#include <sys/types.h>

#include <json-c/json.h>

/* Answers <request> (a NUL-terminated line, maybe not JSON) into <resp>. */
typedef void sock_handler(const char *request, json_object *resp);

/*
 * Serves every connection waiting on <lfd>, the listening socket at <path>
 * (unix_sock_listen) for root and group <gid>: reads each request, answers
 * it with <handle> (or refuses it), and closes it. Returns when none waits.
 */
void sock_serve(int lfd, const char *path, gid_t gid, sock_handler *handle);

#endif
