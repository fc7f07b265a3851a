/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A reload, planned: the data-plane API requests (docs/api.md) that take the
 * data plane from what it runs to what a new configuration says, changing
 * only what differs (hitless: nothing established moves that does not have
 * to). No I/O here: the daemon sends the plan, in order.
 *
 * What the file decides on reload, and what it leaves alone (docs/control.md §5):
 *   - VIPs and backends present or not, VIP settings, backend weights: the file
 *     is the source of truth (HAProxy's semantics); runtime changes to these
 *     are replaced.
 *   - A backend's admin state (ready/drain/maint): the file's value is applied
 *     when the backend is new or when the file changed that backend's state
 *     since the previous load; otherwise a state the operator set at runtime
 *     (sluicectl backend drain|maint|ready) is kept.
 *   - health and control_weight belong to the daemon's checks and pool, not
 *     to the file.
 */
#ifndef SLUICE_CTRL_RELOAD_H
#define SLUICE_CTRL_RELOAD_H

#include <json-c/json.h>

#include "conf.h"

/*
 * Appends to <ops> (a JSON array) one object per request, in the order they
 * must be sent: {"req": {...}, "what": "one line for the operator",
 * "flows_ended": true when the request ends established flows (a VIP
 * re-created because its address, port, protocol, mode or local addresses
 * changed)}. <dp_vips> is the "vips" array of the data plane's vip.list
 * answer; <prev> the configuration loaded before (NULL: none). Returns the
 * number of requests appended.
 */
int ctrl_reload_plan(const struct conf *prev, const struct conf *next, json_object *dp_vips,
		     json_object *ops);

/* The vip.add / vip.set object of <v> (with its backends if <with_backends>). */
json_object *ctrl_reload_vip_json(const struct conf_vip *v, bool with_backends);

/* The backend.add object of backend <b> of <v>. */
json_object *ctrl_reload_backend_json(const struct conf_vip *v, const struct conf_backend *b);

#endif
