/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A blocking client for the data-plane API (docs/api.md) and the control
 * daemon's socket (docs/control.md), same protocol: one request, one answer.
 */
#ifndef SLUICE_DP_CLIENT_H
#define SLUICE_DP_CLIENT_H

#include <stddef.h>

#include <json-c/json.h>

/*
 * Sends <req> to the data plane at <sock> and returns its parsed answer
 * (caller puts it), or NULL with <err> saying what went wrong (cannot
 * connect, no answer within <timeout_ms>, not JSON).
 */
json_object *dp_call(const char *sock, json_object *req, int timeout_ms, char *err, size_t errlen);

/* The same with another server of the same protocol (<peer> names it in <err>). */
json_object *json_call(const char *sock, const char *peer, json_object *req, int timeout_ms,
		       char *err, size_t errlen);

#endif
