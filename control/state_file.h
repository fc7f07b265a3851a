/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state file (control.state_file): the operator's forced health
 * (health.force) outlives the daemon. Every change is written whole (a new
 * file renamed over the old, so a crash leaves one or the other), and a
 * starting daemon takes it back. JSON: {"forced": [{vip, address, port,
 * health: up|down}, ...]}.
 */
#ifndef SLUICE_CONTROL_STATE_FILE_H
#define SLUICE_CONTROL_STATE_FILE_H

#include <stdbool.h>

#include <json-c/json.h>

#include "ctrl.h"

/*
 * The fields of a forced-health entry <o> (a health.force request, or an
 * entry of the file); absent: "" or -1.
 */
void state_file_entry(json_object *o, const char **vip, const char **addr, int *port,
		      const char **health);

/* Writes the forced health of every backend of <s> to <path>. False, logged, when it could not. */
bool state_file_save(const char *path, const struct ctrl_set *s);

/*
 * Takes back the forced health saved in <path> for the backends of <s>,
 * calling <taken> for each (to tell the data plane); an entry for a backend
 * that <conf_path> no longer has is dropped (logged), and the file rewritten
 * without it. A file that is not one of these is left alone (logged).
 */
void state_file_load(const char *path, struct ctrl_set *s, const char *conf_path,
		     void (*taken)(struct ctrl_backend *b));

#endif
