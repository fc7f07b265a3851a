/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control daemon's announcements (docs/cluster.md): it asks the data
 * plane whether it answers, decides per VIP with lib/ctrl/announce, writes
 * the routes into the BIRD include named by cluster.bird_include (only when
 * they change, atomically) and has BIRD reload it through its control
 * socket; again when BIRD restarted (a new socket) or could not be told.
 */
#ifndef SLUICE_CONTROL_BGP_H
#define SLUICE_CONTROL_BGP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <json-c/json.h>

#include "announce.h"
#include "conf.h"
#include "ctrl.h"

struct bgp {
	struct ann_node node;
	char drain_path[CONF_PATH_MAX + 16]; /* exists while drained: outlives a restart */
	uint8_t *why;                        /* enum ann_why per VIP of the last tick */
	uint32_t n_why;
	char *text; /* the include as last written or found on disk */
	char text_path[CONF_PATH_MAX];
	bool bird_told; /* BIRD runs <text> */
	/* Its socket when it was told (inode and change time: inode numbers are
	   reused): another file is a restarted BIRD. */
	ino_t bird_ino;
	struct timespec bird_ctime;
	char bird_err[160]; /* why it could not be told ("" : it was) */
	uint64_t bird_next_try;
	uint32_t n_announced; /* addresses in the include */
	bool dp_alive;        /* as last seen: its changes are logged */
};

/* <drain_path>: the file that keeps the drain across restarts. */
void bgp_init(struct bgp *g, const struct conf *c, const char *drain_path);
void bgp_free(struct bgp *g);

/*
 * One pass at <now>: is the data plane at <dp_sock> answering, which VIPs
 * of <c> (backends in <set>) are announced, and the include and BIRD made
 * to match. Logs each VIP whose announcement changed. Nothing without a
 * cluster: section.
 */
void bgp_tick(struct bgp *g, const struct conf *c, const struct ctrl_set *set, const char *dp_sock,
	      uint64_t now);

/* The operator's drain (true) or ready (false); 0, or -errno (the marker file). */
int bgp_set_drained(struct bgp *g, bool drained);

/* "node", "announce" (per VIP) and "bird" into status answer <o>. */
void bgp_status(const struct bgp *g, const struct conf *c, json_object *o);

#endif
