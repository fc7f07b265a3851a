/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the pipeline's stage files share; not part of the library's
 * interface (lb_worker.h is). One file per stage:
 *
 *   lb_worker.c  the burst loop, replies, held SYNs sent again
 *   lb_fast.h    the fast path: established IPv4 and IPv6 flows, any mode
 *   lb_classify.c  the general path before the flow table, and the tally
 *   lb_balance.c the general path's VIP traffic: flow, backend, forward
 *   lb_pick.c    a backend for a new flow; connect-failure redispatch
 *   lb_ports.c   full-NAT source ports, per lcore and local address
 *   lb_nat.c     fnat/nat: translation both ways, response timeouts
 *   lb_tunnel.c  IP-in-IP / IPv6-in-IPv6 encapsulation
 *   lb_icmp.c    ICMP errors about a flow, sent on to its other side
 *   lb_answer.c  what Sluice answers itself: ARP, ND, echo, RST, errors
 *
 * The helpers every stage needs per packet are static inline here.
 */
#ifndef SLUICE_LB_STAGE_H
#define SLUICE_LB_STAGE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "flow.h"
#include "lb.h"
#include "lb_internal.h"
#include "lb_worker.h"
#include "parse.h"
#include "pkt_bytes.h"

#define ETH_HLEN       14
#define ETHERTYPE_IPV6 0x86dd
#define IP4_HLEN       20
#define IP6_HLEN       40
#define IPPROTO_IPIP_  4
#define IPPROTO_IP6_   41
#define IPV6_MIN_MTU   1280
#define ICMP_ECHO_REQ  8
#define ICMP_ECHO_REP  0
#define ICMP6_ECHO_REQ 128
#define ICMP6_ECHO_REP 129
#define ND_NS          135
#define ND_NA          136
#define ND_OPT_SLLA    1
#define ND_OPT_TLLA    2

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/*
 * Least connections counts open connections: a TCP flow that saw a FIN or
 * RST is closing and no longer counts (IPVS's "inactive" connections), so
 * short-lived connections do not weigh on a backend for the FIN timeout.
 */
static inline bool counts_active(uint8_t state)
{
	return state != FLOW_TCP_FIN && state != FLOW_TCP_CLOSED;
}

/* flow_touch(), keeping the backend's active count right across state changes. */
static inline void touch(struct lb_worker *w, struct flow_entry *e, uint8_t tcp_flags)
{
	bool before = counts_active(e->state);

	flow_touch(e, tcp_flags, w->now_ms);
	if (before != counts_active(e->state) && e->backend_slot < LB_MAX_BACKENDS) {
		if (before && w->active[e->backend_slot] > 0)
			w->active[e->backend_slot]--;
		else if (!before)
			w->active[e->backend_slot]++;
	}
}

static inline struct lb_flow_ext *ext_of(struct lb_worker *w, const struct flow_entry *e)
{
	return &w->ext[e - w->flow_base]; /* flow_entry_index(), inline */
}

/* Response timeout (lb_worker.h): the answer to forward entry <f>'s client data is due. */
static inline bool resp_timeout_due(const struct lb_worker *w, const struct flow_entry *f)
{
	return f->user != 0 && (int32_t)(w->now_ms - f->user) >= 0;
}

static inline void swap_bytes(uint8_t *a, uint8_t *b, uint32_t n)
{
	uint8_t tmp[16];

	memcpy(tmp, a, n);
	memcpy(a, b, n);
	memcpy(b, tmp, n);
}

/* Ethernet answer: back to the sender, from the port's MAC. */
static inline void eth_answer(uint8_t *frame, const uint8_t port_mac[6])
{
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, port_mac, 6);
}

static inline bool is_port_addr(const struct lb_port_info *p, const struct sl_addr *a)
{
	return sl_addr_is_v4(a) ? p->has_ipv4 && sl_addr_eq(&p->ipv4, a)
				: p->has_ipv6 && sl_addr_eq(&p->ipv6, a);
}

static inline bool is_ours(const struct lb_snapshot *s, const struct lb_port_info *p,
			   const struct sl_addr *a)
{
	return is_port_addr(p, a) || lb_vip_addr_known(s, a) || lb_laddr_find(s, a) != LB_NO_SLOT;
}

static inline uint16_t icmp6_csum(const uint8_t *ip6, const uint8_t *icmp, uint32_t len)
{
	uint32_t sum = pkt_csum_add(0, ip6 + 8, 32);
	sum += len;
	sum += IPPROTO_ICMPV6;
	sum = pkt_csum_add(sum, icmp, len);
	return pkt_csum_fold(sum);
}

static inline void count_traffic(struct lb_counters *c, uint32_t vip_slot, uint32_t slot,
				 const struct lb_pkt *pk)
{
	c->vip[vip_slot].pkts++;
	c->vip[vip_slot].bytes += pk->len;
	c->backend[slot].pkts++;
	c->backend[slot].bytes += pk->len;
}

/* Which lcore owns a nat connection: from the client's address and port. */
static inline uint32_t nat_owner(const struct lb_worker *w, const struct sl_addr *client,
				 uint16_t port_be)
{
	return lb_vip_hash_of(client, port_be, 0) % w->n_workers;
}

/* The burst loop starts afresh: no flow inserted or removed yet. */
static inline void burst_reset(struct lb_worker *w)
{
	w->table_changed = false;
	w->inserted[0] = w->inserted[1] = 0;
}

/* flow_insert(), noted for burst_recheck(). */
static inline struct flow_entry *burst_insert(struct lb_worker *w, const struct flow_key *k,
					      uint32_t hash, enum flow_state state)
{
	w->table_changed = true;
	w->inserted[0] |= 1ull << (hash & 63);
	w->inserted[1] |= 1ull << (hash >> 6 & 63);
	return flow_insert(w->flows, k, hash, state, w->now_ms);
}

/*
 * A bulk lookup's answer <e> for <k>, made right for what the burst has
 * done to the table since: the entry may have been freed (and reused for
 * another key), or the flow may exist now, which only an insert of the same
 * key can have done (a two-word filter of the burst's inserted hashes tells
 * when it cannot have).
 */
static inline struct flow_entry *burst_recheck(struct lb_worker *w, struct flow_entry *e,
					       const struct flow_key *k, uint32_t hash)
{
	if (!w->table_changed)
		return e;
	if (e == NULL) {
		if (!((w->inserted[0] >> (hash & 63)) & (w->inserted[1] >> (hash >> 6 & 63)) & 1))
			return NULL;
	} else if (e->in_use && memcmp(&e->key, k, sizeof(*k)) == 0) {
		return e;
	}
	return flow_lookup(w->flows, k, hash, w->now_ms);
}

/* ---- lb_pick.c ---- */

/* A new flow's backend by the VIP's scheduler: an index into v->members, or SCHED_NONE. */
uint32_t pick_backend(struct lb_worker *w, uint32_t vip_slot, const struct lb_snap_vip *v,
		      const struct flow_key *k, uint32_t hash);
/* The backend Maglev's table gives the flow (the same on every lcore and node). */
uint32_t pick_maglev(const struct lb_snap_vip *v, const struct flow_key *k, uint32_t hash);
uint32_t redispatch_avoid(struct lb_worker *w, const struct flow_key *k);
bool redispatch_connect_failed(struct lb_worker *w, const struct lb_snapshot *s,
			       struct flow_entry *f);
void syn_hold(struct lb_worker *w, const struct lb_snap_vip *v, const struct flow_key *k,
	      uint32_t hash, const struct lb_pkt *pk);
void syn_release(struct lb_worker *w, const struct flow_key *k);
bool syn_take(struct lb_worker *w, const struct flow_key *k, struct lb_pkt *pk);
void syn_drop(struct lb_worker *w, struct lb_syn_hold *h);

/* ---- lb_ports.c ---- */

int ports_init(struct lb_worker *w);
void port_free(struct lb_worker *w, uint32_t laddr, uint32_t port);
uint16_t ports_vip_alloc(struct lb_worker *w, const struct lb_snap_vip *v, uint32_t hash,
			 uint32_t *laddr);

/* ---- lb_nat.c ---- */

void nat_rt_count(struct lb_worker *w, const struct flow_entry *f, struct lb_flow_ext *x);
void nat_rt_visit(struct flow_entry *e, void *arg);
void nat_rt_client(struct lb_worker *w, const struct lb_snap_vip *v, struct flow_entry *f,
		   const struct lb_pkt *pk, const struct pkt_meta *m);
void nat_pair_touch(struct lb_worker *w, struct flow_entry *f, uint8_t tcp_flags,
		    bool client_waits);
int nat_open(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
	     const struct lb_snap_vip *v, struct flow_entry *f, uint32_t hash);
bool nat_forward(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		 const struct pkt_meta *m, const struct lb_snap_vip *v,
		 const struct lb_snap_backend *b, const struct flow_entry *e);
void nat_reply(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
	       const struct pkt_meta *m, struct flow_entry *r);

/* ---- lb_tunnel.c ---- */

bool tunnel_encap(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		  const struct pkt_meta *m, const struct lb_snap_backend *b);

/* ---- lb_icmp.c ---- */

bool icmp_is_error(const struct pkt_meta *m);
void icmp_error_forward(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			const struct pkt_meta *m);
uint32_t icmp_owner(const struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		    const struct pkt_meta *m);

/* ---- lb_answer.c ---- */

enum lb_verdict answer_arp(const struct lb_snapshot *s, const struct lb_port_info *port,
			   struct lb_pkt *pk, const struct pkt_meta *m);
enum lb_verdict answer_icmp_echo(struct lb_pkt *pk, const struct pkt_meta *m,
				 const struct lb_port_info *port);
enum lb_verdict answer_ns(const struct lb_snapshot *s, const struct lb_port_info *port,
			  struct lb_pkt *pk, const struct pkt_meta *m);
bool answer_icmp_error(struct lb_pkt *pk, const struct pkt_meta *m, const uint8_t *port_mac,
		       const struct sl_addr *from, uint8_t type, uint8_t code, uint16_t param);
bool answer_rst(struct lb_pkt *pk, const struct pkt_meta *m, const uint8_t *port_mac);
void answer_refuse(struct lb_worker *w, struct lb_pkt *pk, const struct pkt_meta *m,
		   const uint8_t *port_mac);

/* ---- lb_worker.c ---- */

void worker_reset_flow(struct lb_worker *w, struct flow_entry *f, uint8_t fate);

/* lb_classify.c: what the general path makes of a packet before the flow table. */
enum cls {
	CLS_DONE = 0, /* verdict set */
	CLS_VIP,      /* to a VIP: balance */
	CLS_REPLY,    /* fnat/nat: maybe a backend's reply */
	CLS_ICMP,     /* an ICMP error that may be about one of our flows */
	CLS_FAST6,    /* an IPv6 packet the fast path may take (burst_keys) */
};
enum cls classify_parsed(const struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			 struct pkt_meta *m, enum parse_result r, uint32_t *vip_slot);
enum cls classify(const struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		  struct pkt_meta *m, uint32_t *vip_slot);
void count_verdict(struct lb_counters *c, const struct lb_snapshot *s, struct lb_pkt *pk,
		   const struct pkt_meta *m);

/* lb_balance.c: a VIP's packet, its flow looked up (<e>, or NULL): balanced and forwarded. */
void vip_packet(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
		uint32_t hash, struct flow_entry *e);

#endif
