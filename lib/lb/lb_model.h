/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The desired state, owned by the management thread: ports, VIPs, backends
 * and neighbours, with stable slots. Every change is made here, then
 * lb_model_compile() turns the model into a new immutable snapshot for the
 * workers. Nothing here is used by a worker and nothing here is thread-safe.
 *
 * Errors: functions return 0 (or a slot) on success and -errno on failure,
 * with a one-line reason in <err> that says what was wrong.
 */
#ifndef SLUICE_LB_MODEL_H
#define SLUICE_LB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "lb.h"

struct lb_model_backend {
	uint32_t uid; /* 0 = slot unused */
	uint16_t vip_slot;
	uint16_t out_port;
	struct sl_addr addr;
	uint16_t port; /* host order */
	uint32_t weight;
	uint8_t admin; /* enum sl_admin */
	/*
	 * The control daemon's weight for new flows (failover shares, slow
	 * start, breaker ejection), used instead of <weight> when >= 0; the
	 * operator's <weight> stays what it was set to.
	 */
	int32_t control_weight;
	uint8_t health; /* enum sl_health */
	bool has_mac;
	uint8_t mac[6];
	uint32_t neigh_slot;
	/*
	 * Deleted from its VIP: takes no new flows, but its established flows
	 * keep going to it until they end; then lb_model_backend_reap() frees
	 * the slot (IPVS keeps such destinations in its "trash" the same way).
	 */
	bool removed;
	/*
	 * Drain deadline (admin drain): this drain's own deadline (0 = the VIP's
	 * drain_deadline_ms), when the drain began on the management clock
	 * (stamped by lb_model_drain_tick()), and whether it has passed: then the
	 * flows still on the backend are reset (lb_snap_backend.fate).
	 */
	uint32_t drain_deadline_ms;
	bool drain_started;
	bool drain_expired;
	uint64_t drain_start_ms;
	struct lb_traffic baseline; /* counter sums when the slot was taken */
};

struct lb_model_vip {
	uint32_t uid; /* 0 = slot unused */
	char name[CONF_NAME_MAX];
	struct sl_addr addr;
	uint16_t port; /* host order */
	uint8_t proto;
	uint8_t mode;
	uint8_t sched;
	uint8_t hash;
	uint8_t when_empty;
	uint8_t down_flows;           /* enum sl_down_flows */
	uint32_t response_timeout_ms; /* fnat/nat; 0 = off */
	bool redispatch;              /* fnat/nat: refused or unanswered SYNs elsewhere */
	uint32_t syn_timeout_ms;      /* ... after this long unanswered; 0 = client's retry */
	uint32_t drain_deadline_ms;   /* 0 = a drain has no deadline */
	uint32_t maglev_size;
	uint8_t n_laddrs; /* fnat local addresses, ids into lb_model.laddrs */
	uint8_t laddr[LB_VIP_MAX_LADDRS];
	uint32_t n_members;
	uint32_t *members; /* backend slots in order of addition */
	uint32_t cap_members;
	bool dirty;      /* members must be rebuilt at the next compile */
	uint64_t change; /* stamp of the last change to what the members are built from */
	struct lb_members *compiled; /* last compiled members (a reference is held) */
	struct lb_traffic baseline;  /* counter sums when the slot was taken */
};

struct lb_model {
	uint64_t generation; /* of the last compiled snapshot */
	uint32_t next_uid;
	uint32_t members_version;
	/*
	 * Set when a neighbour became usable or unusable (its backends' pools
	 * must be rebuilt): the owner compiles and publishes, then clears it.
	 */
	bool neigh_changed;
	/*
	 * Full-NAT local addresses by id. An id is never reused for another
	 * address: flows and lcores' port maps refer to it by id.
	 */
	uint32_t n_laddrs;
	struct sl_addr laddrs[LB_MAX_LADDRS];
	uint32_t n_ports;
	struct lb_port_info ports[LB_MAX_PORTS];
	char port_names[LB_MAX_PORTS][CONF_NAME_MAX];
	struct lb_model_vip vips[LB_MAX_VIPS];
	struct lb_model_backend backends[LB_MAX_BACKENDS];
	struct lb_model_neigh neigh[LB_MAX_NEIGH];
	/* Pools being built (lb_model_build_start()); not part of a checkpoint. */
	struct lb_model_builds *builds;
};

/* Allocates an empty model (it is large: use the heap). */
struct lb_model *lb_model_create(void);
void lb_model_free(struct lb_model *m);

/* Adds a port with its MAC (from the NIC) and addresses (from <cp>). */
int lb_model_port_add(struct lb_model *m, const struct conf_port *cp, const uint8_t mac[6],
		      char *err, size_t errlen);

/* Adds every VIP of <c> with its backends. */
int lb_model_load(struct lb_model *m, const struct conf *c, char *err, size_t errlen);

/* Adds a VIP and its backends; returns the VIP slot. */
int lb_model_vip_add(struct lb_model *m, const struct conf_vip *v, char *err, size_t errlen);
int lb_model_vip_del(struct lb_model *m, uint32_t vip_slot);
/*
 * Changes VIP <vip_slot> in place to the settings of <v> (its backends are
 * not looked at): scheduler, hash, maglev_table_size, when_empty, down_flows,
 * response_timeout, drain_deadline. Established flows stay where they are.
 * -EINVAL, naming the field, when <v> differs in what cannot change in place
 * (address, port, protocol, mode, local addresses); nothing is changed then.
 */
int lb_model_vip_set(struct lb_model *m, uint32_t vip_slot, const struct conf_vip *v, char *err,
		     size_t errlen);
/* Finds a VIP by name, or by "addr:port/proto" text form; returns slot or -ENOENT. */
int lb_model_vip_find(const struct lb_model *m, const char *name_or_service);

/* Adds a backend to a VIP; returns the backend slot. */
int lb_model_backend_add(struct lb_model *m, uint32_t vip_slot, const struct conf_backend *b,
			 char *err, size_t errlen);
/*
 * Takes a backend out of its VIP's pool at once (no new flows). Its slot stays
 * in the snapshots, marked removed, so its established flows finish on it;
 * free it with lb_model_backend_reap() once it has no flows left.
 */
int lb_model_backend_del(struct lb_model *m, uint32_t backend_slot);
/* Frees a removed backend's slot (its flows are gone). */
int lb_model_backend_reap(struct lb_model *m, uint32_t backend_slot);
/* Finds a VIP's backend by address and port (0 = the VIP's port); slot or -ENOENT. */
int lb_model_backend_find(const struct lb_model *m, uint32_t vip_slot, const struct sl_addr *addr,
			  uint16_t port);
int lb_model_backend_set_weight(struct lb_model *m, uint32_t slot, uint32_t weight);
int lb_model_backend_set_admin(struct lb_model *m, uint32_t slot, enum sl_admin admin);
int lb_model_backend_set_health(struct lb_model *m, uint32_t slot, enum sl_health health);
/*
 * This drain's deadline in ms (0 = the VIP's drain_deadline), for a backend
 * in drain; setting the admin state to anything else cancels it.
 */
int lb_model_backend_set_drain_deadline(struct lb_model *m, uint32_t slot, uint32_t ms);
/*
 * Drain clock, called with the management thread's time: stamps the start
 * of new drains and marks those whose deadline has passed. Returns how many
 * backends changed fate (the caller compiles and publishes then).
 */
uint32_t lb_model_drain_tick(struct lb_model *m, uint64_t now_ms);
/* Ms left before backend <b>'s drain deadline, or -1 when it has none (or is not draining). */
int64_t lb_model_drain_remaining(const struct lb_model *m, const struct lb_model_backend *b,
				 uint64_t now_ms);
/* -1 gives the operator's weight back; 0..65535 overrides it (control daemon). */
int lb_model_backend_set_control_weight(struct lb_model *m, uint32_t slot, int32_t weight);
/*
 * A static MAC for backend <slot>, or <mac> NULL to resolve it by ARP/ND
 * from now on (refused with a message in <err> when the backend is on no
 * port's subnet). Its flows stay; the next snapshot sends them to the new MAC.
 */
int lb_model_backend_set_mac(struct lb_model *m, uint32_t slot, const uint8_t *mac, char *err,
			     size_t errlen);

/* Effective weight for new flows: weight if ready, up and its MAC known, else 0. */
uint32_t lb_model_backend_effective_weight(const struct lb_model *m,
					   const struct lb_model_backend *b);

/*
 * Builds the next snapshot (generation + 1). Pools of VIPs that did not
 * change are shared with the previous snapshot. Returns NULL on -ENOMEM
 * (the model is unchanged and may be compiled again).
 */
struct lb_snapshot *lb_model_compile(struct lb_model *m);

/*
 * lb_model_compile() in slices, for a thread that must stay responsive
 * while large Maglev tables are built (10-30 ms each at 1048573 entries).
 * lb_model_build_start() starts a build of the pool of every VIP that
 * changed, unless one of the right change is under way; a build of an
 * older change is superseded (dropped) once the new one has started. It
 * allocates everything: -ENOMEM when a build cannot start (builds under
 * way are kept); else the number of entries of the tables under way (0:
 * none, at most 256 x 1048573). lb_model_build_step() advances the builds by about
 * <budget> units of work (maglev_build_step(): a unit is a few ns) and
 * returns true once every build is complete; lb_model_compile() then only
 * assembles the snapshot. Until then the snapshot in service is unchanged:
 * each VIP keeps its previous pool. The pools are those lb_model_compile()
 * alone would build (byte-identical tables): a build resumes, in the same
 * order, where the last slice stopped. lb_model_build_pending() is true
 * while a build started is not complete.
 */
struct lb_model_builds;

int lb_model_build_start(struct lb_model *m);
bool lb_model_build_step(struct lb_model *m, uint64_t budget);
bool lb_model_build_pending(const struct lb_model *m);

/* Releases a snapshot and the pools only it referenced (management thread). */
void lb_snapshot_free(struct lb_snapshot *s);

/*
 * Neighbour resolution over the model's entries (lb_neigh.h), driven by the
 * management thread with its clock: lb_neigh_run() and lb_neigh_heard(),
 * with the pools of the backends behind an entry whose usability changed
 * marked for rebuilding (and neigh_changed set). lb_neigh_due() lists the
 * requests to send now (up to <max>); lb_neigh_learn() records a MAC heard
 * and returns the number of entries updated. Both write the workers' table <t>.
 */
uint32_t lb_neigh_due(struct lb_model *m, struct lb_neigh_table *t, uint64_t now_ms,
		      uint32_t reachable_ms, uint32_t retry_ms, uint32_t *slots, uint32_t max);
uint32_t lb_neigh_learn(struct lb_model *m, struct lb_neigh_table *t, uint16_t port,
			const struct sl_addr *addr, const uint8_t mac[6], uint64_t now_ms);

#endif
