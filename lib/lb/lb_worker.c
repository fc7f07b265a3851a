/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The burst loop: the fast path first (lb_fast.h), then for the rest
 * classify (answers, replies, ICMP errors, VIP traffic), balance (the flow
 * table, a scheduler on a miss), forward by the VIP's mode, and count.
 */
#include <stdlib.h>

#include "lb_fast.h"
#include "lb_stage.h"
#include "scheduler.h"

/*
 * Every flow that leaves the table passes here (expiry, eviction, removal):
 * the active count of its backend drops, a full-NAT port is given back,
 * and the other entry of a NAT connection goes with it.
 */
static void on_flow_removed(const struct flow_entry *e, void *arg)
{
	struct lb_worker *w = arg;
	struct lb_flow_ext *x = ext_of(w, e);
	struct flow_entry *peer = x->peer;

	w->table_changed = true;
	if (!x->reverse && rt_due(w, e))
		nat_rt_count(w, e, x); /* a hung backend's connection that expired or was evicted */
	if (!x->reverse && counts_active(e->state) && e->backend_slot < LB_MAX_BACKENDS &&
	    w->active[e->backend_slot] > 0)
		w->active[e->backend_slot]--;
	if (!x->reverse && x->lport_be != 0)
		port_free(w, x->laddr, ntohs(x->lport_be));
	memset(x, 0, sizeof(*x));
	if (peer != NULL) {
		ext_of(w, peer)->peer = NULL;
		flow_remove(w->flows, peer);
	}
}

struct lb_worker *lb_worker_create(uint32_t index, uint32_t n_workers, uint32_t flow_capacity,
				   const struct flow_timeouts *timeouts,
				   const struct lb_neigh_table *neigh, const struct lb_load *load)
{
	return lb_worker_create_mem(index, n_workers, flow_capacity, timeouts, neigh, load, NULL);
}

struct lb_worker *lb_worker_create_mem(uint32_t index, uint32_t n_workers, uint32_t flow_capacity,
				       const struct flow_timeouts *timeouts,
				       const struct lb_neigh_table *neigh,
				       const struct lb_load *load, const struct flow_mem *mem)
{
	struct lb_worker *w;

	if (index >= LB_MAX_LCORES || n_workers == 0 || index >= n_workers || neigh == NULL ||
	    load == NULL)
		return NULL;
	if (posix_memalign((void **)&w, 64, sizeof(*w)) != 0)
		return NULL;
	memset(w, 0, sizeof(*w));
	if (posix_memalign((void **)&w->ctr, 64, sizeof(*w->ctr)) != 0) {
		free(w);
		return NULL;
	}
	memset(w->ctr, 0, sizeof(*w->ctr));
	w->index = index;
	w->n_workers = n_workers;
	w->avoid_slot = LB_NO_SLOT;
	w->neigh = neigh;
	w->load = load;
	w->flows = flow_table_create_mem(flow_capacity, timeouts, on_flow_removed, w, mem);
	if (w->flows != NULL) {
		size_t size = flow_table_capacity(w->flows) * sizeof(*w->ext);

		/* The side table lives beside the flows, in the same kind of memory. */
		w->ext_mem = mem;
		w->ext = mem != NULL ? mem->alloc(size, 64, mem->arg) : calloc(1, size);
		if (w->ext != NULL)
			memset(w->ext, 0, size);
	}
	w->held = calloc(LB_SYN_HOLD_SLOTS, sizeof(*w->held));
	if (w->flows == NULL || w->ext == NULL || w->held == NULL || ports_init(w) < 0) {
		lb_worker_free(w);
		return NULL;
	}
	return w;
}

void lb_worker_free(struct lb_worker *w)
{
	if (w == NULL)
		return;
	flow_table_free(w->flows);
	if (w->ext_mem != NULL)
		w->ext_mem->free(w->ext, w->ext_mem->arg);
	else
		free(w->ext);
	free(w->port_map);
	free(w->held);
	free(w->ctr);
	free(w);
}

uint32_t lb_worker_sweep(struct lb_worker *w, uint32_t now_ms, uint32_t budget)
{
	w->now_ms = now_ms;
	return flow_sweep_visit(w->flows, now_ms, budget, nat_rt_visit, w);
}

/*
 * State of a flow created by its first packet. Only a SYN opens a TCP flow
 * the ordinary way; a first packet that is not a SYN is a connection picked
 * up mid-stream (after a restart, or after its entry was lost) or a stray.
 * It starts in an evictable state so a flood of ACKs or FINs cannot fill the
 * table with protected entries: a real connection's next ACK promotes it
 * to ESTABLISHED (flow_touch).
 */
static enum flow_state first_state(uint8_t proto, uint8_t tcp_flags)
{
	if (proto == IPPROTO_UDP)
		return FLOW_UDP_NEW;
	if (tcp_flags & TCP_FIN)
		return FLOW_TCP_FIN;
	return FLOW_TCP_SYN;
}

/*
 * The backend of established flow <f> left service and its flows are to be
 * reset (down_flows reset, or a drain deadline passed): counted, and the
 * connection forgotten (both entries in fnat/nat). The caller drops the
 * packet or turns it into a RST to the client.
 */
void worker_reset_flow(struct lb_worker *w, struct flow_entry *f, uint8_t fate)
{
	struct lb_counters *c = w->ctr;

	c->flows_reset++;
	if (fate == LB_FATE_DRAIN_RESET) {
		c->vip[f->vip_slot].drain_reset++;
		c->backend[f->backend_slot].drain_reset++;
	} else {
		c->vip[f->vip_slot].flows_reset++;
		c->backend[f->backend_slot].flows_reset++;
	}
	flow_remove(w->flows, f);
}

/*
 * Why the source of a packet to one of Sluice's addresses cannot be a
 * client, or LB_DROP_NONE. Sluice neither answers such a source nor keeps
 * state for it: the answer would go to everyone (broadcast, multicast), to
 * no one, back to Sluice, or to whoever the forged address names.
 */
static enum lb_drop src_unfit(const struct lb_snapshot *s, const struct lb_port_info *port,
			      const struct pkt_meta *m)
{
	if (lb_addr_eq(&m->src, &m->dst))
		return LB_DROP_LAND;
	if (lb_addr_is_v4(&m->src)) {
		const uint8_t *a = lb_addr_v4_bytes(&m->src);
		uint32_t v =
			(uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];

		/* "This network", loopback, multicast, reserved and limited broadcast. */
		if (a[0] == 0 || a[0] == 127 || a[0] >= 224)
			return LB_DROP_MARTIAN;
		if (port->has_ipv4 && port->ipv4_plen <= 30) {
			const uint8_t *n = lb_addr_v4_bytes(&port->ipv4);
			uint32_t net = (uint32_t)n[0] << 24 | (uint32_t)n[1] << 16 |
				       (uint32_t)n[2] << 8 | n[3];
			uint32_t host = port->ipv4_plen == 0 ? ~0u : ~0u >> port->ipv4_plen;

			/* The directed broadcast of the subnet it came in on. */
			if ((v & ~host) == (net & ~host) && (v & host) == host)
				return LB_DROP_MARTIAN;
		}
	} else {
		static const uint8_t zero[15];

		/* Multicast, unspecified, loopback. */
		if (m->src.b[0] == 0xff ||
		    (memcmp(m->src.b, zero, sizeof(zero)) == 0 && m->src.b[15] <= 1))
			return LB_DROP_MARTIAN;
	}
	return lb_own_maybe(s, &m->src) && is_ours(s, port, &m->src) ? LB_DROP_MARTIAN
								     : LB_DROP_NONE;
}

/* TTL (IPv4) or hop limit (IPv6) 0: the packet should not exist; never forwarded. */
static inline bool ttl_zero(const struct lb_pkt *pk, const struct pkt_meta *m)
{
	return pk->data[m->l3_off + (m->is_v6 ? 7 : 8)] == 0;
}

/* The IPv4 header's checksum is right (or the port said so). */
static inline bool ip4_header_ok(const struct lb_pkt *pk, const struct pkt_meta *m)
{
	return m->is_v6 || pk->rx_csum == LB_RX_CSUM_IP_GOOD ||
	       pkt_csum_fold(pkt_csum_add(0, pk->data + m->l3_off,
					  (uint32_t)(m->l4_off - m->l3_off))) == 0;
}

/* An echo request to one of Sluice's addresses: answered, unless from a source unfit. */
static void echo(const struct lb_snapshot *s, const struct lb_port_info *port, struct lb_pkt *pk,
		 const struct pkt_meta *m)
{
	enum lb_drop why = src_unfit(s, port, m);

	if (why != LB_DROP_NONE)
		pk->drop = (uint8_t)why;
	else
		pk->verdict = answer_icmp_echo(pk, m, port);
}

/*
 * Flow <e>, found for a packet that opens a connection, when the packet
 * must start afresh instead: NULL then (the entry is gone or left to be
 * redispatched), else <e>.
 */
static struct flow_entry *balance_reopen(struct lb_worker *w, const struct lb_snapshot *s,
					 const struct pkt_meta *m, const struct flow_key *k,
					 struct flow_entry *e, bool sees_replies)
{
	bool bare_syn = k->proto == IPPROTO_TCP && (m->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;

	if (e == NULL || !bare_syn)
		return e;
	if (sees_replies && e->state == FLOW_TCP_SYN && !ext_of(w, e)->answered &&
	    (uint32_t)(w->now_ms - e->last_seen) >= LB_SYN_RETRY_MS &&
	    redispatch_connect_failed(w, s, e)) {
		/* The client asks again and the backend never answered: elsewhere. */
		return NULL;
	}
	if (e->state == FLOW_TCP_FIN || e->state == FLOW_TCP_CLOSED) {
		/*
		 * A new connection on a client port whose last one has ended:
		 * scheduled like any new connection (a drained or removed backend
		 * takes none), and in fnat with a fresh source port, clear of the
		 * backend's TIME_WAIT on the old one.
		 */
		flow_remove(w->flows, e);
		return NULL;
	}
	return e;
}

/*
 * A packet of known flow <*ep>. Returns true when that decides it: <*slot>
 * is the backend, or LB_NO_SLOT with pk->drop set. Returns false, with
 * <*ep> NULL, when the flow was dropped and the packet opens a new one.
 */
static bool balance_known(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			  const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
			  uint32_t hash, struct flow_entry **ep, uint32_t *slot)
{
	const struct lb_vip_rt *v = &s->vips[vip_slot];
	struct flow_entry *e = *ep;
	const struct lb_backend_rt *b = &s->backends[e->backend_slot];
	bool same = b->uid == e->backend_uid && b->vip_slot == vip_slot;
	uint32_t idx;

	if (same && b->fate == LB_FATE_STAY) {
		nat_pair_touch(w, e, m->tcp_flags, v->traits & LB_TRAIT_SEES_REPLIES);
		*slot = e->backend_slot;
		return true;
	}
	if (same && b->fate != LB_FATE_MOVE) {
		/* The caller answers a TCP segment with a RST from the VIP. */
		worker_reset_flow(w, e, b->fate);
		*ep = NULL;
		pk->drop = LB_DROP_FLOW_RESET;
		*slot = LB_NO_SLOT;
		return true;
	}
	w->ctr->flows_rescheduled++;
	if (v->traits & LB_TRAIT_NEEDS_STATE) {
		/* Its translation names the old backend: start the connection afresh. */
		flow_remove(w->flows, e);
		*ep = NULL;
		return false;
	}
	/* Its backend left service: move the flow (counted). */
	idx = pick_backend(w, vip_slot, v, k, hash);
	if (idx == SCHED_NONE) {
		flow_remove(w->flows, e);
		*ep = NULL;
		pk->drop = LB_DROP_NO_BACKEND;
		*slot = LB_NO_SLOT;
		return true;
	}
	*slot = v->pool->slot[idx];
	if (counts_active(e->state)) {
		if (w->active[e->backend_slot] > 0)
			w->active[e->backend_slot]--;
		w->active[*slot]++;
	}
	e->backend_slot = *slot;
	e->backend_uid = s->backends[*slot].uid;
	e->vip_slot = (uint16_t)vip_slot;
	touch(w, e, m->tcp_flags);
	return true;
}

/*
 * No flow entry for a packet that needs none or could get none: Maglev's
 * choice, the one every lcore and node makes for it, or LB_NO_SLOT.
 */
static uint32_t balance_backstop(struct lb_pkt *pk, const struct lb_vip_rt *v,
				 const struct flow_key *k, uint32_t hash)
{
	uint32_t idx = pick_maglev(v, k, hash);

	if (idx == SCHED_NONE) {
		pk->drop = LB_DROP_NO_BACKEND;
		return LB_NO_SLOT;
	}
	return v->pool->slot[idx];
}

/*
 * New flow <e> of VIP <vip_slot> goes to backend <slot>: its fields, the
 * active count, and in fnat/nat its translation (and the SYN kept for a
 * redispatch). Returns false, with pk->drop set, when the translation
 * could not be made; the entry is then gone.
 */
static bool flow_start(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		       const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
		       uint32_t hash, struct flow_entry *e, uint32_t slot)
{
	const struct lb_vip_rt *v = &s->vips[vip_slot];

	e->backend_slot = slot;
	e->backend_uid = s->backends[slot].uid;
	e->vip_slot = (uint16_t)vip_slot;
	if (counts_active(e->state))
		w->active[slot]++;
	if (v->traits & LB_TRAIT_SEES_REPLIES) {
		int rc = nat_open(w, s, pk, v, e, hash);
		if (rc < 0) {
			if (rc == -1)
				flow_remove(w->flows, e); /* gives the port back, uncounts it */
			return false;
		}
		if (k->proto == IPPROTO_TCP && (m->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
			syn_hold(w, v, k, hash, pk); /* before forward() translates it */
	}
	w->ctr->flows_new++;
	w->ctr->vip[vip_slot].new_flows++;
	w->ctr->backend[slot].new_flows++;
	return true;
}

/*
 * A packet with no flow: a new one is scheduled and stored. A TCP first
 * packet that is not a SYN belongs to a connection this lcore does not
 * know: Maglev picks its backend, the choice most likely to be the one it
 * had (same pool, same table on every lcore and every node). In DSR a RST
 * is forwarded without creating a flow.
 */
static uint32_t balance_new(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			    const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
			    uint32_t hash, struct flow_entry **ep)
{
	const struct lb_vip_rt *v = &s->vips[vip_slot];
	bool sees_replies = v->traits & LB_TRAIT_SEES_REPLIES;
	bool needs_state = v->traits & LB_TRAIT_NEEDS_STATE;
	bool pickup = k->proto == IPPROTO_TCP && (m->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN;
	struct flow_entry *e;
	uint32_t idx, slot;

	if (!ip4_header_ok(pk, m)) {
		/* A damaged or forged header creates no state (the port did not check it). */
		pk->drop = LB_DROP_BAD_CSUM;
		return LB_NO_SLOT;
	}
	w->avoid_slot = sees_replies && !pickup ? redispatch_avoid(w, k) : LB_NO_SLOT;
	idx = pickup ? pick_maglev(v, k, hash) : pick_backend(w, vip_slot, v, k, hash);
	w->avoid_slot = LB_NO_SLOT;
	if (idx == SCHED_NONE) {
		pk->drop = LB_DROP_NO_BACKEND;
		return LB_NO_SLOT;
	}
	slot = v->pool->slot[idx];
	if (!needs_state && k->proto == IPPROTO_TCP && (m->tcp_flags & TCP_RST))
		return slot;
	/*
	 * dsr/tunnel see no replies: nothing tells a real connection picked up
	 * mid-stream from forged ACKs, which would become established flows
	 * that no SYN can evict. They may hold half the table; past that
	 * Maglev, which chose their backend anyway, carries them unstored.
	 */
	if (pickup && !sees_replies &&
	    flow_table_count(w->flows) >= flow_table_capacity(w->flows) / 2)
		e = NULL;
	else
		e = burst_insert(w, k, hash, first_state(k->proto, m->tcp_flags));
	if (e == NULL) {
		if (needs_state) {
			/* A translation needs its state: nothing to fall back on. */
			pk->drop = LB_DROP_NAT_NO_ROOM;
			return LB_NO_SLOT;
		}
		/* No room without evicting live flows: the backstop, while the table is full. */
		slot = balance_backstop(pk, v, k, hash);
		if (slot != LB_NO_SLOT)
			w->ctr->flows_backstop++;
		return slot;
	}
	if (!flow_start(w, s, pk, m, vip_slot, k, hash, e, slot))
		return LB_NO_SLOT;
	*ep = e;
	return slot;
}

/*
 * Finds or creates the flow of packet <pk> and returns its backend slot, or
 * LB_NO_SLOT with pk->drop set. <*ep> is the flow entry (NULL when the
 * packet goes out without one: Maglev's backstop, a stray RST).
 */
static uint32_t balance(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
			uint32_t hash, struct flow_entry **ep)
{
	bool sees_replies = s->vips[vip_slot].traits & LB_TRAIT_SEES_REPLIES;
	uint32_t slot;

	*ep = balance_reopen(w, s, m, k, *ep, sees_replies);
	if (*ep != NULL && balance_known(w, s, pk, m, vip_slot, k, hash, ep, &slot))
		return slot;
	return balance_new(w, s, pk, m, vip_slot, k, hash, ep);
}

static void forward(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		    const struct pkt_meta *m, uint32_t vip_slot, uint32_t slot,
		    const struct flow_entry *e)
{
	const struct lb_backend_rt *b = &s->backends[slot];
	const struct lb_vip_rt *v = &s->vips[vip_slot];
	uint64_t word = w->neigh->word[b->neigh_slot];

	if (!(word & LB_NEIGH_VALID)) {
		pk->drop = LB_DROP_NEIGH_UNRESOLVED;
		return;
	}
	if (v->traits & LB_TRAIT_ROUTES) {
		if (!nat_forward(w, s, pk, m, v, b, e))
			return;
	} else if ((v->traits & LB_TRAIT_ENCAP) && !tunnel_encap(w, s, pk, m, b)) {
		return;
	}
	/*
	 * Every mode ends here: new Ethernet addresses, to the backend (dsr: the
	 * IP packet as it came, and the backend answers the client itself).
	 */
	lb_neigh_unpack(word, pk->data);
	memcpy(pk->data + 6, s->ports[b->out_port].mac, 6);
	pk->out_port = b->out_port;
	pk->verdict = LB_VERDICT_TX;
	count_traffic(w->ctr, vip_slot, slot, pk);
}

/*
 * What Sluice does not own goes to the kernel when the port has an exception
 * path: traffic for the host's own addresses, its ARP and ND, and protocols
 * Sluice does not speak. Packets that are ours but bad stay dropped.
 */
static bool to_kernel(const struct lb_snapshot *s, const struct lb_pkt *pk)
{
	if (pk->in_port >= s->n_ports || !s->ports[pk->in_port].kernel || pk->handed)
		return false;
	return pk->drop == LB_DROP_NOT_OURS || pk->drop == PARSE_ETHERTYPE ||
	       pk->drop == PARSE_ARP_UNSUPPORTED || pk->drop == PARSE_VLAN_STACKED;
}

enum cls {
	CLS_DONE = 0, /* verdict set */
	CLS_VIP,      /* to a VIP: balance */
	CLS_REPLY,    /* fnat/nat: maybe a backend's reply */
	CLS_ICMP,     /* an ICMP error that may be about one of our flows */
	CLS_FAST6,    /* an IPv6 packet the fast path may take (burst_keys) */
};

static enum cls handoff(struct lb_pkt *pk, uint32_t owner)
{
	pk->verdict = LB_VERDICT_HANDOFF;
	pk->out_port = (uint16_t)owner;
	return CLS_DONE;
}

/* A TCP/UDP packet to VIP <vip_slot>: checks of its source and TTL, and NAT's owner lcore. */
static enum cls classify_vip(const struct lb_worker *w, const struct lb_snapshot *s,
			     const struct lb_port_info *port, struct lb_pkt *pk,
			     const struct pkt_meta *m, uint32_t vip_slot)
{
	const struct lb_vip_rt *v = &s->vips[vip_slot];
	enum lb_drop why = src_unfit(s, port, m);

	/* Port 0 is reserved (RFC 768, 9293): no client sends from it. */
	if (why == LB_DROP_NONE && m->sport == 0)
		why = LB_DROP_MARTIAN;
	if (why == LB_DROP_NONE && ttl_zero(pk, m))
		why = LB_DROP_TTL;
	if (why != LB_DROP_NONE) {
		pk->drop = (uint8_t)why;
		return CLS_DONE;
	}
	if (v->mode >= LB_MODE_MAX) {
		pk->drop = LB_DROP_MODE_UNSUPPORTED;
		return CLS_DONE;
	}
	if (v->mode == LB_MODE_NAT && !pk->handed) {
		uint32_t owner = nat_owner(w, &m->src, m->sport);
		if (owner != w->index)
			return handoff(pk, owner);
	}
	return CLS_VIP;
}

/* A TCP or UDP packet: to a VIP, a reply to a full-NAT or NAT flow, or not ours. */
static enum cls classify_l4(const struct lb_worker *w, const struct lb_snapshot *s,
			    const struct lb_port_info *port, struct lb_pkt *pk,
			    const struct pkt_meta *m, uint32_t *vip_slot)
{
	if (m->frag == PKT_FRAG_LATER) {
		pk->drop = lb_vip_addr_known(s, &m->dst) ? LB_DROP_FRAGMENT : LB_DROP_NOT_OURS;
		return CLS_DONE;
	}
	/* The fast path may have found the VIP already. */
	if (*vip_slot == LB_NO_SLOT)
		*vip_slot = lb_vip_find(s, &m->dst, m->dport, m->l4_proto);
	if (*vip_slot != LB_NO_SLOT)
		return classify_vip(w, s, port, pk, m, *vip_slot);
	if (lb_laddr_find(s, &m->dst) != LB_NO_SLOT) {
		/* fnat reply: the source port we chose says which lcore owns it. */
		uint32_t owner = ntohs(m->dport) % w->n_workers;
		if (owner != w->index && !pk->handed)
			return handoff(pk, owner);
		return CLS_REPLY;
	}
	if (lb_vip_addr_known(s, &m->dst)) {
		pk->drop = LB_DROP_VIP_NO_SERVICE;
		return CLS_DONE;
	}
	if (s->has_nat && !is_port_addr(port, &m->dst)) {
		uint32_t owner = nat_owner(w, &m->dst, m->dport);
		if (owner != w->index && !pk->handed)
			return handoff(pk, owner);
		return CLS_REPLY;
	}
	return CLS_DONE;
}

/* ICMP and ICMPv6 that is not an error about a flow: echo, neighbour discovery. */
static void classify_icmp(const struct lb_snapshot *s, const struct lb_port_info *port,
			  struct lb_pkt *pk, const struct pkt_meta *m)
{
	if (!m->is_v6 && m->l4_proto == IPPROTO_ICMP && m->icmp_type == ICMP_ECHO_REQ &&
	    is_ours(s, port, &m->dst))
		echo(s, port, pk, m);
	else if (m->is_v6 && m->l4_proto == IPPROTO_ICMPV6) {
		if (m->icmp_type == ICMP6_ECHO_REQ && is_ours(s, port, &m->dst))
			echo(s, port, pk, m);
		else if (m->icmp_type == ND_NS)
			pk->verdict = answer_ns(s, port, pk, m);
		else if (m->icmp_type == ND_NA && is_port_addr(port, &m->dst))
			pk->verdict = LB_VERDICT_MGMT; /* an answer to our solicitation */
	}
}

/*
 * First pass: everything that does not need the flow table is decided
 * here, for packet <pk> parsed into <m> with result <r>. <*vip_slot> is
 * the packet's VIP when the caller knows it already, else LB_NO_SLOT.
 */
static enum cls classify_parsed(const struct lb_worker *w, const struct lb_snapshot *s,
				struct lb_pkt *pk, struct pkt_meta *m, enum parse_result r,
				uint32_t *vip_slot)
{
	const struct lb_port_info *port = &s->ports[pk->in_port < s->n_ports ? pk->in_port : 0];

	pk->verdict = LB_VERDICT_DROP;
	pk->drop = LB_DROP_NOT_OURS;
	pk->out_port = pk->in_port;
	pk->answer = 0;
	pk->tx_offload = 0;
	if (pk->nonlinear) {
		pk->drop = LB_DROP_NONLINEAR;
		return CLS_DONE;
	}
	if (r != PARSE_OK) {
		pk->drop = (uint8_t)r;
		return CLS_DONE;
	}
	if (pk->data[6] & 1) {
		/* A group source MAC names no sender: an answer would go to every host. */
		pk->drop = LB_DROP_BAD_SRC_MAC;
		return CLS_DONE;
	}
	if (pk->rx_csum == LB_RX_CSUM_BAD) {
		pk->drop = LB_DROP_BAD_CSUM;
		return CLS_DONE;
	}
	if (m->kind == PKT_KIND_ARP) {
		pk->verdict = answer_arp(s, port, pk, m);
		return CLS_DONE;
	}
	if (m->l4_proto == IPPROTO_TCP || m->l4_proto == IPPROTO_UDP)
		return classify_l4(w, s, port, pk, m, vip_slot);
	if (icmp_is_error(m) &&
	    (is_ours(s, port, &m->dst) || (s->has_nat && !is_port_addr(port, &m->dst)))) {
		/* Errors are handled where the flow lives (RSS hashes them anywhere). */
		uint32_t owner = pk->handed ? LB_NO_SLOT : icmp_owner(w, s, pk, m);
		if (owner != LB_NO_SLOT && owner != w->index)
			return handoff(pk, owner);
		return CLS_ICMP;
	}
	if (m->frag == PKT_FRAG_NONE)
		classify_icmp(s, port, pk, m);
	return CLS_DONE;
}

/*
 * classify_parsed() after the general parser: <*vip_slot> LB_NO_SLOT on
 * entry. Out of line: inlined, it cost the fast path 11 instructions per
 * packet (callgrind), in registers the burst loop then lacked.
 */
static __attribute__((noinline)) enum cls classify(const struct lb_worker *w,
						   const struct lb_snapshot *s, struct lb_pkt *pk,
						   struct pkt_meta *m, uint32_t *vip_slot)
{
	return classify_parsed(w, s, pk, m, parse_packet(pk->data, pk->len, m), vip_slot);
}

/* The flow key of a parsed TCP/UDP packet, as it travels; returns its hash. */
static inline uint32_t key_of(struct flow_key *k, const struct pkt_meta *m)
{
	k->src = m->src;
	k->dst = m->dst;
	k->sport = m->sport;
	k->dport = m->dport;
	k->proto = m->l4_proto;
	memset(k->pad, 0, sizeof(k->pad));
	return flow_hash(k);
}

/*
 * Backends' replies (and ICMP errors) of a burst, in their order; the
 * replies' reverse entries looked up in bulk, as forward packets' flows are.
 */
static uint64_t replies_process(struct lb_worker *w, const struct lb_snapshot *s,
				struct lb_pkt *pkts, const struct pkt_meta *meta,
				const uint16_t *replies, uint32_t n)
{
	struct flow_key keys[LB_BURST_MAX];
	uint32_t hashes[LB_BURST_MAX], nkeys = 0, k = 0;
	struct flow_entry *found[LB_BURST_MAX];
	uint64_t taken = 0;

	for (uint32_t r = 0; r < n; r++) {
		const struct pkt_meta *m = &meta[replies[r]];
		struct flow_key *key = &keys[nkeys];

		if (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP)
			continue;
		hashes[nkeys++] = key_of(key, m);
	}
	burst_reset(w);
	if (nkeys > 0)
		flow_lookup_bulk(w->flows, keys, hashes, nkeys, w->now_ms, found);
	for (uint32_t r = 0; r < n; r++) {
		const struct pkt_meta *m = &meta[replies[r]];
		struct flow_entry *e;

		w->syn_taken = false;
		if (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP) {
			icmp_error_forward(w, s, &pkts[replies[r]], m);
		} else {
			/* An earlier reply of the burst may have ended connections (refusal,
			 * reset). */
			e = burst_recheck(w, found[k], &keys[k], hashes[k]);
			nat_reply(w, s, &pkts[replies[r]], m, e);
			k++;
		}
		if (w->syn_taken)
			taken |= 1ull << replies[r];
	}
	return taken;
}

/*
 * Adds packet <i> to the burst's replies, kept in arrival order: a
 * backend's SYN-ACK must be seen before its ICMP error that follows it in
 * the burst (the error would otherwise redispatch a connection that was
 * answered).
 */
static inline void replies_insert(uint16_t *replies, uint32_t *n, uint16_t i)
{
	uint32_t j = *n;

	while (j > 0 && replies[j - 1] > i) {
		replies[j] = replies[j - 1];
		j--;
	}
	replies[j] = i;
	(*n)++;
}

/* The general path's tally of one packet's verdict (rx is counted per burst). */
static void count_verdict(struct lb_counters *c, const struct lb_snapshot *s, struct lb_pkt *pk,
			  const struct pkt_meta *m)
{
	switch (pk->verdict) {
	case LB_VERDICT_TX:
		pk->drop = LB_DROP_NONE;
		if (!pk->answer && m->kind == PKT_KIND_IP &&
		    (m->l4_proto == IPPROTO_TCP || m->l4_proto == IPPROTO_UDP))
			c->fwd++;
		else
			c->replied++;
		break;
	case LB_VERDICT_MGMT:
		pk->drop = LB_DROP_NONE;
		c->to_mgmt++;
		break;
	case LB_VERDICT_HANDOFF:
		pk->drop = LB_DROP_NONE;
		c->handoff++;
		break;
	case LB_VERDICT_KERNEL:
		c->to_kernel++;
		break;
	default:
		if (to_kernel(s, pk)) {
			pk->verdict = LB_VERDICT_KERNEL;
			pk->drop = LB_DROP_NONE;
			c->to_kernel++;
			break;
		}
		c->drop[pk->drop < LB_DROP_MAX ? pk->drop : LB_DROP_NOT_OURS]++;
		break;
	}
}

/* A packet to a VIP, its flow looked up (<e>, or NULL): balanced and forwarded. */
static void vip_packet(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		       const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
		       uint32_t hash, struct flow_entry *e)
{
	const struct lb_vip_rt *v = &s->vips[vip_slot];
	const uint8_t *in_mac = s->ports[pk->in_port < s->n_ports ? pk->in_port : 0].mac;
	uint32_t slot = balance(w, s, pk, m, vip_slot, k, hash, &e);

	if (slot != LB_NO_SLOT) {
		if (e != NULL && v->response_timeout_ms != 0 && (v->traits & LB_TRAIT_SEES_REPLIES))
			nat_rt_client(w, v, e, pk, m);
		forward(w, s, pk, m, vip_slot, slot, e);
	} else if (pk->drop == LB_DROP_NO_BACKEND && v->when_empty == LB_EMPTY_RESET) {
		answer_refuse(w, pk, m, in_mac);
	} else if (pk->drop == LB_DROP_FLOW_RESET && k->proto == IPPROTO_TCP) {
		/* Its backend left service: the client learns at once (unless it sent a RST). */
		answer_rst(pk, m, in_mac);
	}
}

/*
 * A held SYN, put in <pk>'s buffer (a refusal's, or an empty one), goes
 * through the general path as the client's packet: its failed connection is
 * gone, so it is scheduled afresh, avoiding the backend that failed it.
 */
static void resend_one(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		       struct pkt_meta *m)
{
	uint32_t vip_slot = LB_NO_SLOT, hash;
	struct flow_key k;

	pk->handed = 1; /* this lcore owns the connection: no handoff */
	pk->nonlinear = 0;
	if (classify(w, s, pk, m, &vip_slot) != CLS_VIP)
		return; /* the VIP went away meanwhile: dropped and counted as such */
	hash = key_of(&k, m);
	vip_packet(w, s, pk, m, vip_slot, &k, hash, flow_lookup(w->flows, &k, hash, w->now_ms));
}

bool lb_worker_resend_due(const struct lb_worker *w, uint32_t now_ms)
{
	return w->n_held != 0 && (int32_t)(now_ms - w->held_next_due) >= 0;
}

uint32_t lb_worker_resend(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pkts,
			  uint32_t n, uint32_t now_ms)
{
	struct pkt_meta meta;
	uint32_t used = 0, next = 0;
	bool any = false;

	if (n > LB_RESEND_MAX)
		n = LB_RESEND_MAX;
	w->now_ms = now_ms;
	for (uint32_t i = 0; i < LB_SYN_HOLD_SLOTS && w->n_held != 0; i++) {
		struct lb_syn_hold *h = &w->held[i];
		struct flow_entry *f;

		if (h->len == 0 || h->due == 0)
			continue;
		if ((int32_t)(now_ms - h->due) < 0 || used == n) {
			/* Not yet, or no buffer left this time: the next call's. */
			if (!any || (int32_t)(h->due - next) < 0)
				next = h->due;
			any = true;
			continue;
		}
		/* Unanswered still? Otherwise the hold outlived its purpose. */
		f = flow_lookup(w->flows, &h->key, h->hash, now_ms);
		if (f == NULL || ext_of(w, f)->reverse || ext_of(w, f)->answered ||
		    f->state != FLOW_TCP_SYN || !redispatch_connect_failed(w, s, f) ||
		    !syn_take(w, &h->key, &pkts[used])) {
			syn_drop(w, h);
			continue;
		}
		w->ctr->rx++;
		resend_one(w, s, &pkts[used], &meta);
		count_verdict(w->ctr, s, &pkts[used], &meta);
		used++;
	}
	if (any)
		w->held_next_due = next;
	return used;
}

/*
 * A packet with a flow key: of a VIP (CLS_VIP), or one the fast path
 * recognised, which has no struct pkt_meta until the general path takes it.
 */
struct lb_keyed {
	uint16_t pkt;      /* index in the burst */
	uint8_t fast;      /* enum fast4_kind: what fast4_parse() took it for */
	uint8_t tcp_flags; /* fast: the TCP flags (0 for UDP) */
	uint32_t vip;
};

/*
 * A packet fast4_parse() took but the fast path did not finish: classified
 * by the general path from what the parser would have found. Out of line:
 * the established packets' loop stays small.
 */
static __attribute__((noinline)) enum cls fast4_give_back(const struct lb_worker *w,
							  const struct lb_snapshot *s,
							  struct lb_pkt *pk, struct pkt_meta *m,
							  uint32_t *vip_slot)
{
	if (pk->data[12] == 0x86)
		fast6_meta(pk, m);
	else
		fast4_meta(pk, m);
	return classify_parsed(w, s, pk, m, PARSE_OK, vip_slot);
}

/*
 * IPv6's part of the fast path, out of line (as its parse, in
 * classify_rest()): IPv4 packets should not pay for it.
 */
static __attribute__((noinline)) bool fast6_take(struct lb_worker *w, const struct lb_snapshot *s,
						 struct lb_pkt *pk, struct flow_entry *e,
						 const struct lb_keyed *kd)
{
	switch (kd->fast) {
	case FAST6_DSR:
		return fast4_dsr(w, s, pk, e, kd->vip, kd->tcp_flags); /* the MACs only */
	case FAST6_NAT:
		return fast6_nat(w, s, pk, e, kd->vip, kd->tcp_flags);
	case FAST6_TUNNEL:
		return fast6_tunnel(w, s, pk, e, kd->vip, kd->tcp_flags);
	default:
		return fast6_reply(w, s, pk, e, kd->tcp_flags);
	}
}

/* The fast path's step for a packet fast4_parse() recognised; false: the general path's. */
static inline bool fast4_take(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			      struct flow_entry *e, const struct lb_keyed *kd)
{
	switch (kd->fast) {
	case FAST4_DSR:
		return fast4_dsr(w, s, pk, e, kd->vip, kd->tcp_flags);
	case FAST4_NAT:
		return fast4_nat(w, s, pk, e, kd->vip, kd->tcp_flags);
	case FAST4_TUNNEL:
		return fast4_tunnel(w, s, pk, e, kd->vip, kd->tcp_flags);
	case FAST4_REPLY:
		return fast4_reply(w, s, pk, e, kd->tcp_flags);
	default:
		return fast6_take(w, s, pk, e, kd);
	}
}

/* One burst's working state, between its stages. */
struct lb_burst {
	struct pkt_meta meta[LB_BURST_MAX];
	struct flow_key keys[LB_BURST_MAX];
	uint32_t hashes[LB_BURST_MAX];
	struct lb_keyed kd[LB_BURST_MAX];
	uint16_t replies[LB_BURST_MAX];
	struct flow_entry *found[LB_BURST_MAX];
	uint32_t nflows, nreplies;
};

/*
 * A packet fast4_parse() did not take: IPv6's fast path may (listed as
 * the burst's next flow, CLS_FAST6), else the general path classifies it.
 * One out-of-line call, as classify() alone was: IPv4 packets pay nothing
 * for IPv6 here (in the burst loop, IPv6's step cost each 13-26
 * instructions, callgrind).
 */
static __attribute__((noinline)) enum cls classify_rest(const struct lb_worker *w,
							const struct lb_snapshot *s,
							struct lb_pkt *pk, struct lb_burst *b,
							uint32_t i, uint32_t *vip_slot)
{
	uint32_t f = b->nflows;
	uint8_t tcp_flags;
	enum fast4_kind fk;

	if (!w->general_only && pk->data[12] == 0x86 &&
	    (fk = fast6_parse(w, s, pk, &b->keys[f], &b->hashes[f], &tcp_flags, vip_slot)) !=
		    FAST4_NONE) {
		b->kd[f] = (struct lb_keyed){.pkt = (uint16_t)i,
					     .fast = (uint8_t)fk,
					     .tcp_flags = tcp_flags,
					     .vip = *vip_slot};
		return CLS_FAST6;
	}
	return classify(w, s, pk, &b->meta[i], vip_slot);
}

/*
 * First stage: each packet recognised by the fast path (IPv4, then IPv6)
 * or classified by the general path; those with a flow key are listed in
 * b->kd, replies and ICMP errors in b->replies. Its own function, so that
 * its registers are not the second stage's.
 */
static __attribute__((noinline)) void burst_keys(const struct lb_worker *w,
						 const struct lb_snapshot *s, struct lb_pkt *pkts,
						 uint32_t n, struct lb_burst *b)
{
	bool fast_on = !w->general_only;

	b->nflows = b->nreplies = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t f = b->nflows, vip_slot = LB_NO_SLOT;
		uint8_t tcp_flags;
		enum fast4_kind fk = FAST4_NONE;

		if (fast_on)
			fk = fast4_parse(w, s, &pkts[i], &b->keys[f], &b->hashes[f], &tcp_flags,
					 &vip_slot);
		if (fk != FAST4_NONE) {
			b->kd[b->nflows++] = (struct lb_keyed){.pkt = (uint16_t)i,
							       .fast = (uint8_t)fk,
							       .tcp_flags = tcp_flags,
							       .vip = vip_slot};
			continue;
		}
		enum cls what = classify_rest(w, s, &pkts[i], b, i, &vip_slot);

		if (what == CLS_FAST6) {
			b->nflows++;
			continue;
		}
		if (what == CLS_REPLY || what == CLS_ICMP)
			b->replies[b->nreplies++] = (uint16_t)i;
		if (what != CLS_VIP)
			continue;
		b->hashes[f] = key_of(&b->keys[f], &b->meta[i]);
		b->kd[b->nflows++] = (struct lb_keyed){.pkt = (uint16_t)i, .vip = vip_slot};
	}
}

void lb_worker_process(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pkts,
		       uint32_t n, uint32_t now_ms)
{
	struct lb_burst b;
	struct lb_counters *c = w->ctr;
	uint32_t nfast = 0;
	uint64_t fast_done = 0; /* packets the fast path forwarded (bit i: packet i) */
	uint64_t resent = 0;    /* refusals whose buffer now holds the client's SYN */

	if (n > LB_BURST_MAX)
		n = LB_BURST_MAX;
	w->now_ms = now_ms;
	burst_keys(w, s, pkts, n, &b);
	burst_reset(w);
	if (b.nflows > 0)
		flow_lookup_bulk(w->flows, b.keys, b.hashes, b.nflows, now_ms, b.found);
	for (uint32_t f = 0; f < b.nflows; f++) {
		const struct lb_keyed *kd = &b.kd[f];
		uint32_t i = kd->pkt, vip_slot = kd->vip;
		struct lb_pkt *pk = &pkts[i];
		struct flow_entry *e = burst_recheck(w, b.found[f], &b.keys[f], b.hashes[f]);
		if (kd->fast != FAST4_NONE) {
			if (fast4_take(w, s, pk, e, kd)) {
				fast_done |= 1ull << i;
				nfast++;
				continue;
			}
			/* Not the common case after all: the general path decides it afresh. */
			enum cls what = fast4_give_back(w, s, pk, &b.meta[i], &vip_slot);
			if (what == CLS_REPLY)
				replies_insert(b.replies, &b.nreplies, (uint16_t)i);
			if (what != CLS_VIP)
				continue;
		}
		vip_packet(w, s, pk, &b.meta[i], vip_slot, &b.keys[f], b.hashes[f], e);
	}
	if (b.nreplies > 0)
		resent = replies_process(w, s, pkts, b.meta, b.replies, b.nreplies);
	/* Refusals turned into their held SYNs: sent on as the client's packets. */
	for (; resent != 0; resent &= resent - 1)
		resend_one(w, s, &pkts[__builtin_ctzll(resent)], &b.meta[__builtin_ctzll(resent)]);
	/* Counted per burst where the value is per burst; per packet only off the fast path. */
	c->rx += n;
	c->fwd += nfast;
	for (uint32_t i = 0; i < n; i++)
		if (!(fast_done >> i & 1))
			count_verdict(c, s, &pkts[i], &b.meta[i]);
}
