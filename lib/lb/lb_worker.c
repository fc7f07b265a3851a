/* SPDX-License-Identifier: BSD-3-Clause */
#include "lb_worker.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lb_fast.h"
#include "lb_internal.h"
#include "maglev.h"
#include "parse.h"
#include "scheduler.h"

#define ETH_HLEN       14
#define ETHERTYPE_IPV6 0x86dd
#define ICMP_ECHO_REQ  8
#define ICMP_ECHO_REP  0
#define ICMP6_ECHO_REQ 128
#define ICMP6_ECHO_REP 129
#define ND_NS          135
#define ND_NA          136
#define ND_OPT_SLLA    1
#define ND_OPT_TLLA    2
#define IP6_HLEN       40

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
	return &w->ext[flow_entry_index(w->flows, e)];
}

/* ---- response timeout (lb_worker.h): flow_entry.user = answer due by, ms ---- */

static inline bool rt_due(const struct lb_worker *w, const struct flow_entry *f)
{
	return f->user != 0 && (int32_t)(w->now_ms - f->user) >= 0;
}

/* One response timeout for the connection of forward entry <f>, at most once. */
static void rt_count(struct lb_worker *w, const struct flow_entry *f, struct lb_flow_ext *x)
{
	if (x->rt_counted)
		return;
	x->rt_counted = 1;
	w->ctr->vip[f->vip_slot].response_timeouts++;
	if (f->backend_slot < LB_MAX_BACKENDS)
		w->ctr->backend[f->backend_slot].response_timeouts++;
}

/* Sweep visitor: a connection past due is counted without waiting for its next packet. */
static void rt_visit(struct flow_entry *e, void *arg)
{
	struct lb_worker *w = arg;
	struct lb_flow_ext *x;

	if (!rt_due(w, e))
		return;
	x = ext_of(w, e);
	if (!x->reverse)
		rt_count(w, e, x);
	e->user = 0;
}

/* ---- fnat source ports: per lcore, per local address; no lock ---- */

#define PORT_FIRST          1024 /* below are the well-known ports: never used as source */
#define PORT_WORDS          1008 /* (65536 - PORT_FIRST) / 64: one lcore's bitmap of one address */
#define PORT_RECLAIM_BUDGET 4096 /* flow entries walked when ports run out (nat_open) */

/*
 * This lcore's source ports are p = port_base + i * n_workers for
 * i < port_count (p % n_workers == index, so a reply tells its owner). The
 * bitmap of one local address is indexed by i, so a 64-bit word holds 64 of
 * this lcore's ports whatever n_workers is, and a free one is found a word
 * at a time. Bits past port_count are set once, as if used.
 */
static void ports_init(struct lb_worker *w)
{
	uint32_t n = w->n_workers;

	w->port_base = PORT_FIRST + (w->index + n - PORT_FIRST % n) % n;
	w->port_count = (65535 - w->port_base) / n + 1;
	for (uint32_t l = 0; l < LB_MAX_LADDRS; l++)
		for (uint32_t i = w->port_count; i < PORT_WORDS * 64; i++)
			w->port_map[l * PORT_WORDS + i / 64] |= 1ull << (i % 64);
}

/*
 * A free port of <laddr>. Next-fit from the last port handed out, so a port
 * is reused only after its flow is gone, and as late as possible. Returns 0
 * when every port of this lcore is taken: at once when the address is full
 * (a flood of new flows then costs a counter compare per address, not a
 * scan), else after at most PORT_WORDS + 1 words.
 */
static uint16_t port_alloc(struct lb_worker *w, uint32_t laddr)
{
	uint64_t *map = &w->port_map[laddr * PORT_WORDS];
	uint32_t n_words = (w->port_count + 63) / 64;
	uint32_t i = w->port_cursor[laddr], word = i / 64;
	uint64_t free_bits = ~map[word] & (~0ull << (i % 64));

	if (w->ports_used[laddr] >= w->port_count)
		return 0;
	for (uint32_t k = 0; k <= n_words; k++) {
		if (free_bits != 0) {
			i = word * 64 + (uint32_t)__builtin_ctzll(free_bits);
			map[word] |= 1ull << (i % 64);
			w->ports_used[laddr]++;
			w->port_cursor[laddr] = (uint16_t)(i + 1 < w->port_count ? i + 1 : 0);
			return (uint16_t)(w->port_base + i * w->n_workers);
		}
		word = word + 1 < n_words ? word + 1 : 0;
		free_bits = ~map[word];
	}
	return 0; /* not reached while ports_used is right */
}

static void port_free(struct lb_worker *w, uint32_t laddr, uint32_t port)
{
	uint32_t i = (port - w->port_base) / w->n_workers;
	uint64_t *word = &w->port_map[laddr * PORT_WORDS + i / 64], bit = 1ull << (i % 64);

	if (port < w->port_base || i >= w->port_count || !(*word & bit))
		return;
	*word &= ~bit;
	w->ports_used[laddr]--;
}

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
		rt_count(w, e, x); /* a hung backend's connection that expired or was evicted */
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
	w->flows = flow_table_create(flow_capacity, timeouts, on_flow_removed, w);
	if (w->flows != NULL) {
		w->ext = calloc(flow_table_capacity(w->flows), sizeof(*w->ext));
		w->port_map = calloc((size_t)LB_MAX_LADDRS * PORT_WORDS, sizeof(uint64_t));
	}
	if (w->flows == NULL || w->ext == NULL || w->port_map == NULL) {
		lb_worker_free(w);
		return NULL;
	}
	ports_init(w);
	return w;
}

void lb_worker_free(struct lb_worker *w)
{
	if (w == NULL)
		return;
	flow_table_free(w->flows);
	free(w->ext);
	free(w->port_map);
	free(w->ctr);
	free(w);
}

uint32_t lb_worker_sweep(struct lb_worker *w, uint32_t now_ms, uint32_t budget)
{
	w->now_ms = now_ms;
	return flow_sweep_visit(w->flows, now_ms, budget, rt_visit, w);
}

/* ---- checksums (answers only; forwarding never recomputes a checksum) ---- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one changed 16-bit word. */
static void csum_replace16(uint8_t *csum, uint16_t old_word, uint16_t new_word)
{
	uint32_t sum = (uint16_t)~get16(csum);
	sum += (uint16_t)~old_word;
	sum += new_word;
	put16(csum, csum_fold(sum));
}

static void swap_bytes(uint8_t *a, uint8_t *b, uint32_t n)
{
	uint8_t tmp[16];

	memcpy(tmp, a, n);
	memcpy(a, b, n);
	memcpy(b, tmp, n);
}

/* Ethernet answer: back to the sender, from the port's MAC. */
static void eth_answer(uint8_t *frame, const uint8_t port_mac[6])
{
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, port_mac, 6);
}

static bool is_port_addr(const struct lb_port_info *p, const struct lb_addr *a)
{
	return lb_addr_is_v4(a) ? p->has_ipv4 && lb_addr_eq(&p->ipv4, a)
				: p->has_ipv6 && lb_addr_eq(&p->ipv6, a);
}

static bool is_ours(const struct lb_snapshot *s, const struct lb_port_info *p,
		    const struct lb_addr *a)
{
	return is_port_addr(p, a) || lb_vip_addr_known(s, a) || lb_laddr_find(s, a) != LB_NO_SLOT;
}

/* ---- answers built in place ---- */

static enum lb_verdict answer_arp(const struct lb_snapshot *s, const struct lb_port_info *port,
				  struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint8_t *arp = pk->data + m->l3_off;

	if (m->arp_op == PKT_ARP_REPLY)
		return is_port_addr(port, &m->dst) ? LB_VERDICT_MGMT : LB_VERDICT_DROP;
	if (m->arp_op != PKT_ARP_REQUEST || !is_ours(s, port, &m->dst))
		return LB_VERDICT_DROP;
	/* sha spa tha tpa at 8, 14, 18, 24: answer "tpa is at port MAC". */
	eth_answer(pk->data, port->mac);
	put16(arp + 6, PKT_ARP_REPLY);
	memcpy(arp + 18, arp + 8, 10);                  /* tha, tpa = sender's */
	memcpy(arp + 8, port->mac, 6);                  /* sha = us */
	memcpy(arp + 14, lb_addr_v4_bytes(&m->dst), 4); /* spa = the address asked for */
	return LB_VERDICT_TX;
}

static enum lb_verdict answer_icmp_echo(struct lb_pkt *pk, const struct pkt_meta *m,
					const struct lb_port_info *port)
{
	uint8_t *ip = pk->data + m->l3_off;
	uint8_t *icmp = pk->data + m->l4_off;

	eth_answer(pk->data, port->mac);
	if (!m->is_v6) {
		swap_bytes(ip + 12, ip + 16, 4);
		ip[8] = 64;
		ip[10] = ip[11] = 0;
		put16(ip + 10, csum_fold(csum_add(0, ip, (uint32_t)(m->l4_off - m->l3_off))));
		icmp[0] = ICMP_ECHO_REP;
		csum_replace16(icmp + 2, (uint16_t)(ICMP_ECHO_REQ << 8 | icmp[1]),
			       (uint16_t)(ICMP_ECHO_REP << 8 | icmp[1]));
	} else {
		/* Swapping addresses leaves the pseudo-header sum as it was. */
		swap_bytes(ip + 8, ip + 24, 16);
		ip[7] = 64;
		icmp[0] = ICMP6_ECHO_REP;
		csum_replace16(icmp + 2, (uint16_t)(ICMP6_ECHO_REQ << 8 | icmp[1]),
			       (uint16_t)(ICMP6_ECHO_REP << 8 | icmp[1]));
	}
	return LB_VERDICT_TX;
}

static uint16_t icmp6_csum(const uint8_t *ip6, const uint8_t *icmp, uint32_t len)
{
	uint32_t sum = csum_add(0, ip6 + 8, 32);
	sum += len;
	sum += IPPROTO_ICMPV6;
	sum = csum_add(sum, icmp, len);
	return csum_fold(sum);
}

/* Neighbour advertisement for the solicited target, written over the NS. */
static enum lb_verdict answer_ns(const struct lb_snapshot *s, const struct lb_port_info *port,
				 struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint8_t *ip = pk->data + m->l3_off;
	uint8_t *icmp = pk->data + m->l4_off;
	struct lb_addr target;
	static const uint8_t unspecified[16];
	static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
	bool dad;

	if ((uint32_t)m->l3_end < (uint32_t)m->l4_off + 24u || m->ttl != 255)
		return LB_VERDICT_DROP; /* RFC 4861 7.1.1: hop limit 255, room for a target */
	lb_addr_set_v6(&target, icmp + 8);
	if (!is_ours(s, port, &target))
		return LB_VERDICT_DROP;
	if ((uint32_t)m->l3_off + IP6_HLEN + 32u > pk->cap)
		return LB_VERDICT_DROP;
	dad = memcmp(ip + 8, unspecified, 16) == 0;

	eth_answer(pk->data, port->mac);
	if (dad) {
		/* To all nodes, so also to the all-nodes MAC (RFC 2464 7). */
		static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
		memcpy(pk->data, all_nodes_mac, 6);
	}
	/* IPv6 header: to the solicitor (all-nodes for DAD), from the target. */
	memcpy(ip + 24, dad ? all_nodes : ip + 8, 16);
	memcpy(ip + 8, target.b, 16);
	icmp = ip + IP6_HLEN; /* extension headers of the NS are not carried over */
	put16(ip + 4, 32);
	ip[6] = IPPROTO_ICMPV6;
	ip[7] = 255;
	memset(icmp, 0, 32);
	icmp[0] = ND_NA;
	icmp[4] = dad ? 0x20 : 0x60; /* Solicited (unless DAD) + Override */
	memcpy(icmp + 8, target.b, 16);
	icmp[24] = ND_OPT_TLLA;
	icmp[25] = 1;
	memcpy(icmp + 26, port->mac, 6);
	put16(icmp + 2, icmp6_csum(ip, icmp, 32));
	pk->len = (uint16_t)(m->l3_off + IP6_HLEN + 32);
	return LB_VERDICT_TX;
}

/* ---- balancing ---- */

static uint32_t load_estimate(const struct lb_worker *w, uint32_t slot)
{
	int64_t v = (int64_t)w->load->sum[slot] - w->load->seen[w->index][slot] + w->active[slot];
	return v > 0 ? (uint32_t)v : 0;
}

/* Resets per-lcore scheduler state when the VIP's pool was rebuilt. */
static void sched_sync(struct lb_worker *w, uint32_t vip_slot, const struct lb_pool *p)
{
	if (w->pool_version[vip_slot] == p->version)
		return;
	w->pool_version[vip_slot] = p->version;
	w->wrr_pos[vip_slot] = 0;
	for (uint32_t i = 0; i < p->n; i++)
		w->wrr_current[p->slot[i]] = 0;
}

static uint32_t maglev_pick(const struct lb_vip_rt *v, const struct flow_key *k, uint32_t hash)
{
	const struct lb_pool *p = v->pool;
	uint16_t idx;

	if (v->hash == LB_HASH_SRC_IP)
		hash = (uint32_t)maglev_hash64(&k->src, sizeof(k->src), 0);
	idx = maglev_lookup(p->maglev, p->maglev_size, hash);
	return idx == MAGLEV_EMPTY ? SCHED_NONE : idx;
}

/* Picks a backend for a new flow; returns a pool index or SCHED_NONE. */
/*
 * A new flow's backend when one backend must be avoided (it just failed this
 * client): the VIP's scheduler over the pool without it (Maglev's table
 * cannot leave one out: weighted round robin stands in for it then).
 */
static uint32_t pick_avoiding(struct lb_worker *w, uint32_t vip_slot, const struct lb_vip_rt *v)
{
	const struct lb_pool *p = v->pool;
	uint32_t *weights = w->scratch_w, i;

	for (i = 0; i < p->n; i++)
		weights[i] = p->slot[i] == w->avoid_slot ? 0 : p->weight[i];
	switch (v->sched) {
	case SCHED_KIND_RR:
		return sched_rr_pick(&w->rr_cursor[vip_slot], weights, p->n);
	case SCHED_KIND_LC:
	case SCHED_KIND_WLC:
		for (i = 0; i < p->n; i++)
			w->scratch_load[i] = load_estimate(w, p->slot[i]);
		return v->sched == SCHED_KIND_LC ? sched_lc_pick(&w->lc_cursor[vip_slot], weights,
								 w->scratch_load, p->n)
						 : sched_wlc_pick(&w->lc_cursor[vip_slot], weights,
								  w->scratch_load, p->n);
	default:
		for (i = 0; i < p->n; i++)
			w->scratch_wrr[i] = w->wrr_current[p->slot[i]];
		uint32_t choice = sched_wrr_pick(w->scratch_wrr, weights, p->n);
		for (i = 0; i < p->n; i++)
			w->wrr_current[p->slot[i]] = w->scratch_wrr[i];
		return choice;
	}
}

static uint32_t pick(struct lb_worker *w, uint32_t vip_slot, const struct lb_vip_rt *v,
		     const struct flow_key *k, uint32_t hash)
{
	const struct lb_pool *p = v->pool;
	uint32_t i, choice;

	sched_sync(w, vip_slot, p);
	if (w->avoid_slot != LB_NO_SLOT)
		return pick_avoiding(w, vip_slot, v);
	switch (v->sched) {
	case SCHED_KIND_RR:
		return sched_rr_pick(&w->rr_cursor[vip_slot], p->weight, p->n);
	case SCHED_KIND_WRR:
		if (p->wrr_len != 0) {
			/* A step along the cycle: the picks sched_wrr_pick() would make. */
			uint32_t pos = w->wrr_pos[vip_slot];

			w->wrr_pos[vip_slot] = pos + 1 < p->wrr_len ? pos + 1 : 0;
			return p->wrr_seq[pos < p->wrr_len ? pos : 0];
		}
		for (i = 0; i < p->n; i++)
			w->scratch_wrr[i] = w->wrr_current[p->slot[i]];
		choice = sched_wrr_pick(w->scratch_wrr, p->weight, p->n);
		for (i = 0; i < p->n; i++)
			w->wrr_current[p->slot[i]] = w->scratch_wrr[i];
		return choice;
	case SCHED_KIND_LC:
	case SCHED_KIND_WLC:
		for (i = 0; i < p->n; i++)
			w->scratch_load[i] = load_estimate(w, p->slot[i]);
		return v->sched == SCHED_KIND_LC ? sched_lc_pick(&w->lc_cursor[vip_slot], p->weight,
								 w->scratch_load, p->n)
						 : sched_wlc_pick(&w->lc_cursor[vip_slot],
								  p->weight, w->scratch_load, p->n);
	default:
		return maglev_pick(v, k, hash);
	}
}

/* ---- connect-failure redispatch ---- */

static struct lb_redispatch *redispatch_slot(struct lb_worker *w, const struct flow_key *k)
{
	return &w->redispatch[flow_hash(k) % LB_REDISPATCH_SLOTS];
}

/* Remembers that <slot> failed this client flow; false when retries are used up. */
static bool redispatch_note(struct lb_worker *w, const struct flow_key *k, uint32_t slot)
{
	struct lb_redispatch *r = redispatch_slot(w, k);
	bool same = memcmp(&r->key, k, sizeof(*k)) == 0 && (int32_t)(r->expire - w->now_ms) > 0;
	uint8_t tries = same ? r->tries : 0;

	if (tries >= LB_REDISPATCH_MAX)
		return false;
	r->key = *k;
	r->slot = slot;
	r->expire = w->now_ms + LB_REDISPATCH_MS;
	r->tries = (uint8_t)(tries + 1);
	return true;
}

/* The backend this client flow must avoid, or LB_NO_SLOT. */
static uint32_t redispatch_avoid(struct lb_worker *w, const struct flow_key *k)
{
	const struct lb_redispatch *r = redispatch_slot(w, k);

	if (r->tries == 0 || (int32_t)(r->expire - w->now_ms) <= 0 ||
	    memcmp(&r->key, k, sizeof(*k)) != 0)
		return LB_NO_SLOT;
	return r->slot;
}

/*
 * The backend refused (RST, ICMP unreachable) or ignored a new connection's
 * SYN: counted for the breaker, and, while retries remain, the connection is
 * forgotten so that the client's SYN retry goes to another backend. Returns
 * true when the client must not see the refusal.
 */
static bool connect_failed(struct lb_worker *w, struct flow_entry *f)
{
	w->ctr->backend[f->backend_slot].connect_fail++;
	if (!redispatch_note(w, &f->key, f->backend_slot))
		return false;
	w->ctr->redispatched++;
	flow_remove(w->flows, f);
	return true;
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

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

/* ---- tunnel: IP-in-IP (RFC 2003) and IPv6-in-IPv6 (RFC 2473) ---- */

#define IP4_HLEN      20
#define IPPROTO_IPIP_ 4
#define IPPROTO_IP6_  41
#define IPV6_MIN_MTU  1280

/*
 * Turns the packet in place into an ICMP / ICMPv6 error back to its source,
 * from <from>, quoting it (IPv4: its header and 8 bytes, RFC 792; IPv6: as
 * much as fits in the minimum MTU, RFC 4443). <param> is the 32-bit field
 * after the checksum (an MTU, or 0). Returns false when it cannot be built
 * (no address of the family to answer from, no room).
 */
static bool icmp_back(struct lb_pkt *pk, const struct pkt_meta *m, const uint8_t *port_mac,
		      const struct lb_addr *from, uint8_t type, uint8_t code, uint16_t param)
{
	uint8_t *ip = pk->data + m->l3_off;
	uint32_t inner = (uint32_t)(m->l3_end - m->l3_off);

	if (!m->is_v6) {
		uint8_t quote[60 + 8];
		uint32_t qlen = (uint32_t)(m->l4_off - m->l3_off) + 8;
		if (qlen > inner)
			qlen = inner;
		memcpy(quote, ip, qlen);
		uint8_t *icmp = ip + IP4_HLEN;
		memcpy(ip + 16, ip + 12, 4); /* back to the sender */
		memcpy(ip + 12, lb_addr_v4_bytes(from), 4);
		ip[0] = 0x45;
		ip[1] = 0;
		put16(ip + 2, (uint16_t)(IP4_HLEN + 8 + qlen));
		put16(ip + 4, 0);
		put16(ip + 6, 0);
		ip[8] = 64;
		ip[9] = IPPROTO_ICMP;
		put16(ip + 10, 0);
		put16(ip + 10, csum_fold(csum_add(0, ip, IP4_HLEN)));
		icmp[0] = type;
		icmp[1] = code;
		put16(icmp + 2, 0);
		put16(icmp + 4, 0);
		put16(icmp + 6, param);
		memcpy(icmp + 8, quote, qlen);
		put16(icmp + 2, csum_fold(csum_add(0, icmp, 8 + qlen)));
		pk->len = (uint16_t)(m->l3_off + IP4_HLEN + 8 + qlen);
	} else {
		uint32_t qlen = inner;
		if (qlen > IPV6_MIN_MTU - IP6_HLEN - 8)
			qlen = IPV6_MIN_MTU - IP6_HLEN - 8;
		if ((uint32_t)m->l3_off + IP6_HLEN + 8 + qlen > pk->cap)
			return false;
		memmove(ip + IP6_HLEN + 8, ip, qlen);
		uint8_t *icmp = ip + IP6_HLEN, *orig = ip + IP6_HLEN + 8;
		memset(ip, 0, IP6_HLEN);
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(8 + qlen));
		ip[6] = IPPROTO_ICMPV6;
		ip[7] = 64;
		memcpy(ip + 8, from->b, 16);
		memcpy(ip + 24, orig + 8, 16); /* the original source */
		icmp[0] = type;
		icmp[1] = code;
		put16(icmp + 2, 0);
		put16(icmp + 4, 0);
		put16(icmp + 6, param);
		put16(icmp + 2, icmp6_csum(ip, icmp, 8 + qlen));
		pk->len = (uint16_t)(m->l3_off + IP6_HLEN + 8 + qlen);
	}
	eth_answer(pk->data, port_mac);
	pk->out_port = pk->in_port;
	pk->verdict = LB_VERDICT_TX;
	pk->answer = 1;
	return true;
}

/*
 * The packet does not fit the port once encapsulated. The client is told
 * the size that fits: ICMP fragmentation needed (IPv4 with DF; RFC 1191)
 * or ICMPv6 packet too big (RFC 8201), from the port's address. An IPv4
 * packet that may be fragmented is dropped and counted: Sluice does not
 * fragment.
 */
static void too_big(struct lb_worker *w, const struct lb_port_info *port, struct lb_pkt *pk,
		    const struct pkt_meta *m, uint16_t fits)
{
	const uint8_t *ip = pk->data + m->l3_off;
	bool ok;

	if (!m->is_v6)
		ok = (ip[6] & 0x40) && port->has_ipv4 &&
		     icmp_back(pk, m, port->mac, &port->ipv4, 3, 4, fits); /* frag. needed */
	else
		ok = port->has_ipv6 && icmp_back(pk, m, port->mac, &port->ipv6, 2, 0, fits);
	if (!ok) {
		pk->drop = LB_DROP_TOO_BIG;
		return;
	}
	w->ctr->too_big_sent++;
}

static bool rst_back(struct lb_pkt *pk, const struct pkt_meta *m, const uint8_t *port_mac);

/*
 * No backend can take a new flow and the VIP says "reset": the client is
 * refused at once instead of retrying into silence. TCP gets a RST built as
 * RFC 793 asks (from the VIP); UDP gets ICMP port unreachable (from the VIP).
 */
static void refuse(struct lb_worker *w, struct lb_pkt *pk, const struct pkt_meta *m,
		   const uint8_t *port_mac)
{
	if (m->l4_proto == IPPROTO_UDP) {
		if (icmp_back(pk, m, port_mac, &m->dst, m->is_v6 ? 1 : 3, m->is_v6 ? 4 : 3, 0))
			w->ctr->refused++;
		return;
	}
	if (rst_back(pk, m, port_mac))
		w->ctr->refused++;
}

/*
 * Turns the client's TCP segment in place into the RST that answers it (RFC
 * 793: from the VIP, acceptable to the client's side of the connection), sent
 * back the way it came. Returns false, leaving the packet alone, for a RST:
 * a RST is never answered.
 */
static bool rst_back(struct lb_pkt *pk, const struct pkt_meta *m, const uint8_t *port_mac)
{
	uint8_t *ip = pk->data + m->l3_off, *tcp;
	const uint8_t *in_tcp = pk->data + m->l4_off;
	uint32_t seq, ack, paylen, hlen = m->is_v6 ? IP6_HLEN : IP4_HLEN;
	uint8_t flags;

	if (m->tcp_flags & TCP_RST)
		return false;
	paylen = (uint32_t)(m->l3_end - m->l4_off) - (uint32_t)(in_tcp[12] >> 4) * 4u;
	if (m->tcp_flags & TCP_ACK) {
		seq = (uint32_t)get16(in_tcp + 8) << 16 | get16(in_tcp + 10);
		ack = 0;
		flags = TCP_RST;
	} else {
		seq = 0;
		ack = ((uint32_t)get16(in_tcp + 4) << 16 | get16(in_tcp + 6)) + paylen +
		      !!(m->tcp_flags & TCP_SYN) + !!(m->tcp_flags & TCP_FIN);
		flags = TCP_RST | TCP_ACK;
	}
	uint16_t sport = get16(in_tcp), dport = get16(in_tcp + 2);
	/* A fresh IP header (no options / extension headers), then 20 bytes of TCP. */
	if (!m->is_v6) {
		uint8_t src[4], dst[4];
		memcpy(src, ip + 16, 4);
		memcpy(dst, ip + 12, 4);
		memset(ip, 0, IP4_HLEN);
		ip[0] = 0x45;
		put16(ip + 2, IP4_HLEN + 20);
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		put16(ip + 10, csum_fold(csum_add(0, ip, IP4_HLEN)));
	} else {
		uint8_t src[16], dst[16];
		memcpy(src, ip + 24, 16);
		memcpy(dst, ip + 8, 16);
		memset(ip, 0, IP6_HLEN);
		ip[0] = 0x60;
		put16(ip + 4, 20);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}
	tcp = ip + hlen;
	memset(tcp, 0, 20);
	put16(tcp, dport);
	put16(tcp + 2, sport);
	put16(tcp + 4, (uint16_t)(seq >> 16));
	put16(tcp + 6, (uint16_t)seq);
	put16(tcp + 8, (uint16_t)(ack >> 16));
	put16(tcp + 10, (uint16_t)ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	uint32_t sum = m->is_v6 ? csum_add(0, ip + 8, 32) : csum_add(0, ip + 12, 8);
	sum += IPPROTO_TCP + 20;
	put16(tcp + 16, csum_fold(csum_add(sum, tcp, 20)));
	pk->len = (uint16_t)(m->l3_off + hlen + 20);
	eth_answer(pk->data, port_mac);
	pk->out_port = pk->in_port;
	pk->verdict = LB_VERDICT_TX;
	pk->answer = 1;
	return true;
}

/*
 * Prepends the outer header: from the port's address to the backend, the
 * client's packet unchanged inside; Ethernet (and a VLAN tag) moved to the
 * front. Returns false (pk->drop set) when the packet cannot go.
 */
static bool encapsulate(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			const struct pkt_meta *m, const struct lb_backend_rt *b)
{
	const struct lb_port_info *out = &s->ports[b->out_port];
	const struct lb_port_info *in = &s->ports[pk->in_port < s->n_ports ? pk->in_port : 0];
	uint32_t hlen = m->is_v6 ? IP6_HLEN : IP4_HLEN;
	uint32_t inner = (uint32_t)(m->l3_end - m->l3_off);
	uint8_t *ip;

	if (inner + hlen > out->mtu) {
		too_big(w, in, pk, m, (uint16_t)(out->mtu - hlen));
		return false;
	}
	if (pk->headroom < hlen || (m->is_v6 ? !out->has_ipv6 : !out->has_ipv4)) {
		pk->drop = LB_DROP_NO_HEADROOM;
		return false;
	}
	pk->data -= hlen;
	pk->headroom = (uint16_t)(pk->headroom - hlen);
	memmove(pk->data, pk->data + hlen, m->l3_off);
	ip = pk->data + m->l3_off;
	if (!m->is_v6) {
		const uint8_t *inner_ip = ip + IP4_HLEN;
		ip[0] = 0x45;
		ip[1] = inner_ip[1]; /* DSCP/ECN copied out (RFC 2003 3.1) */
		put16(ip + 2, (uint16_t)(IP4_HLEN + inner));
		put16(ip + 4, 0);
		put16(ip + 6, inner_ip[6] & 0x40 ? 0x4000 : 0); /* DF copied */
		ip[8] = 64;
		ip[9] = IPPROTO_IPIP_;
		put16(ip + 10, 0);
		memcpy(ip + 12, lb_addr_v4_bytes(&out->ipv4), 4);
		memcpy(ip + 16, lb_addr_v4_bytes(&b->addr), 4);
		/* A new header, not a recomputation: its checksum is computed once. */
		put16(ip + 10, csum_fold(csum_add(0, ip, IP4_HLEN)));
	} else {
		const uint8_t *inner_ip = ip + IP6_HLEN;
		memcpy(ip, inner_ip, 4); /* version, traffic class, flow label copied */
		put16(ip + 4, (uint16_t)inner);
		ip[6] = IPPROTO_IP6_;
		ip[7] = 64;
		memcpy(ip + 8, out->ipv6.b, 16);
		memcpy(ip + 24, b->addr.b, 16);
	}
	pk->len = (uint16_t)(m->l3_off + hlen + inner); /* Ethernet padding dropped */
	return true;
}

/* ---- translation (fnat, nat): incremental checksums, RFC 1624 ---- */

/*
 * Leaves the checksums to the NIC (the out port offers IPv4, TCP and UDP
 * transmit checksum offload): the IPv4 header checksum is zeroed and the
 * TCP/UDP one holds the pseudo-header sum, as DPDK's offload contract asks;
 * the packet says which sums the NIC must do (pk->tx_offload).
 */
static void csum_offload(struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint8_t *ip = pk->data + m->l3_off, *l4 = pk->data + m->l4_off;
	bool udp = m->l4_proto == IPPROTO_UDP;
	uint32_t l4len = (uint32_t)(m->l3_end - m->l4_off), sum;

	if (!m->is_v6) {
		put16(ip + 10, 0);
		sum = csum_add(0, ip + 12, 8);
	} else {
		sum = csum_add(0, ip + 8, 32);
	}
	sum += m->l4_proto + l4len;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(udp ? l4 + 6 : l4 + 16, (uint16_t)sum); /* not complemented: the NIC finishes it */
	pk->tx_offload = (uint8_t)((m->is_v6 ? LB_TX_IPV6 : LB_TX_IPV4_CSUM) |
				   (udp ? LB_TX_UDP_CSUM : LB_TX_TCP_CSUM));
	pk->l2_len = m->l3_off;
	pk->l3_len = (uint16_t)(m->l4_off - m->l3_off);
}

/* Adds ~old + new over <len> bytes (even) of 16-bit words to <sum>. */
static uint32_t csum_change(uint32_t sum, const uint8_t *old, const uint8_t *val, uint32_t len)
{
	for (uint32_t i = 0; i < len; i += 2)
		sum += (uint32_t)(uint16_t)~get16(old + i) + get16(val + i);
	return sum;
}

static uint16_t csum_fold16(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * The checksum change of a rewrite from (osrc:osport -> odst:odport) to
 * (nsrc:nsport -> ndst:ndport), routed (TTL down by one), on an IPv4 or
 * IPv6 packet.
 */
static struct lb_csum_delta csum_delta(bool v6, const struct lb_addr *osrc, uint16_t osport,
				       const struct lb_addr *odst, uint16_t odport,
				       const struct lb_addr *nsrc, uint16_t nsport,
				       const struct lb_addr *ndst, uint16_t ndport)
{
	uint32_t off = v6 ? 0 : 12, alen = v6 ? 16 : 4, addrs, ports;
	/* The TTL / protocol word: ~(ttl << 8 | proto) + ((ttl - 1) << 8 | proto). */
	const uint32_t ttl_change = 0xfeff;

	addrs = csum_change(0, osrc->b + off, nsrc->b + off, alen);
	addrs = csum_change(addrs, odst->b + off, ndst->b + off, alen);
	ports = csum_change(0, (const uint8_t *)&osport, (const uint8_t *)&nsport, 2);
	ports = csum_change(ports, (const uint8_t *)&odport, (const uint8_t *)&ndport, 2);
	return (struct lb_csum_delta){.ip = csum_fold16(addrs + ttl_change),
				      .l4 = csum_fold16(addrs + ports)};
}

/* RFC 1624 eqn. 3 with a precomputed change: HC' = ~(~HC + delta). */
static inline void csum_apply(uint8_t *csum, uint16_t delta)
{
	put16(csum, (uint16_t)~csum_fold16((uint32_t)(uint16_t)~get16(csum) + delta));
}

/*
 * Rewrites addresses and ports (NULL / 0 = keep) of a packet whose TTL was
 * just decremented, and adjusts the IPv4 header checksum and the TCP/UDP
 * checksum by the connection's precomputed <d> (never a recomputation), or
 * leaves them to the port (<offload>). An IPv4 UDP datagram without a
 * checksum (0) keeps none.
 */
static void nat_rewrite(struct lb_pkt *pk, const struct pkt_meta *m, const struct lb_addr *src,
			uint16_t sport_be, const struct lb_addr *dst, uint16_t dport_be,
			bool offload, const struct lb_csum_delta *d)
{
	uint8_t *ip = pk->data + m->l3_off, *l4 = pk->data + m->l4_off;
	bool udp = m->l4_proto == IPPROTO_UDP;
	uint8_t *l4csum = udp ? l4 + 6 : l4 + 16;
	uint32_t alen = m->is_v6 ? 16 : 4, off = m->is_v6 ? 0 : 12;

	if (!offload) {
		if (!m->is_v6)
			csum_apply(ip + 10, d->ip);
		if (!(udp && !m->is_v6 && get16(l4csum) == 0)) {
			csum_apply(l4csum, d->l4);
			if (udp && get16(l4csum) == 0)
				put16(l4csum, 0xffff); /* 0 means "no checksum" (RFC 768) */
		}
	}
	if (src != NULL)
		memcpy(ip + (m->is_v6 ? 8 : 12), src->b + off, alen);
	if (dst != NULL)
		memcpy(ip + (m->is_v6 ? 24 : 16), dst->b + off, alen);
	if (sport_be != 0)
		memcpy(l4, &sport_be, 2);
	if (dport_be != 0)
		memcpy(l4 + 2, &dport_be, 2);
	if (offload)
		csum_offload(pk, m);
}

/*
 * Returns false when the TTL / hop limit would reach zero. The IPv4 header
 * checksum's share of the change is in the connection's lb_csum_delta.
 */
static bool ttl_decrement(struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint8_t *ip = pk->data + m->l3_off;

	if (m->ttl <= 1)
		return false;
	ip[m->is_v6 ? 7 : 8]--;
	return true;
}

/* Bytes of TCP/UDP payload in the packet. */
static inline uint32_t payload_len(const struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint32_t l4 = (uint32_t)(m->l3_end - m->l4_off);
	uint32_t hdr =
		m->l4_proto == IPPROTO_TCP ? (uint32_t)(pk->data[m->l4_off + 12] >> 4) * 4u : 8u;

	return l4 > hdr ? l4 - hdr : 0;
}

/*
 * A client packet of fnat/nat connection <f> on a VIP with a response
 * timeout: an answer past due is counted; data (not a SYN's) arms the timer
 * unless it runs already or the connection was counted.
 */
static void rt_client(struct lb_worker *w, const struct lb_vip_rt *v, struct flow_entry *f,
		      const struct lb_pkt *pk, const struct pkt_meta *m)
{
	struct lb_flow_ext *x = ext_of(w, f);

	if (rt_due(w, f)) {
		rt_count(w, f, x);
		f->user = 0;
	}
	if (f->user == 0 && !x->rt_counted && !(m->tcp_flags & TCP_SYN) && payload_len(pk, m) > 0) {
		uint32_t due = w->now_ms + v->response_timeout_ms;
		f->user = due != 0 ? due : 1;
	}
}

/* Every packet of a NAT connection refreshes both of its entries. */
static void pair_touch(struct lb_worker *w, struct flow_entry *f, uint8_t tcp_flags)
{
	struct flow_entry *r;

	touch(w, f, tcp_flags);
	r = ext_of(w, f)->peer;
	if (r != NULL) {
		r->state = f->state;
		r->last_seen = f->last_seen;
	}
}

/* A source port on one of <v>'s local addresses (from the one <hash> picks, on); 0: none. */
static uint16_t vip_port_alloc(struct lb_worker *w, const struct lb_vip_rt *v, uint32_t hash,
			       uint32_t *laddr)
{
	for (uint32_t i = 0; i < v->n_laddrs; i++) {
		uint16_t port = port_alloc(w, v->laddr[(hash + i) % v->n_laddrs]);
		if (port != 0) {
			*laddr = v->laddr[(hash + i) % v->n_laddrs];
			return port;
		}
	}
	return 0;
}

/*
 * Sets up the translation of a new fnat/nat connection whose forward entry
 * <f> was just inserted: a source port (fnat), and the reverse entry that
 * the backend's replies will match. Returns 0; -1 with <f> still in the
 * table; or -2 when <f> is already gone. pk->drop is set on failure.
 */
static int nat_open(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		    const struct lb_vip_rt *v, struct flow_entry *f, uint32_t hash)
{
	const struct lb_backend_rt *b = &s->backends[f->backend_slot];
	struct lb_flow_ext *fx = ext_of(w, f), *rx;
	struct flow_key rk, fk = f->key;
	struct flow_entry *r;
	uint32_t rh;

	memset(&rk, 0, sizeof(rk));
	rk.src = b->addr;
	rk.sport = b->port_be;
	rk.proto = f->key.proto;
	if (v->mode == LB_MODE_FNAT) {
		uint32_t id = 0;
		uint16_t port = vip_port_alloc(w, v, hash, &id);

		if (port == 0 && w->port_reclaim_ms != w->now_ms) {
			/*
			 * Out of ports: flows past their timeout may still hold some
			 * until the sweep reaches them. Walk ahead of it, once per ms
			 * at most, so a lcore under a connection flood (with a short
			 * tcp_syn) gets ports back as fast as they expire, and the
			 * flood costs the other traffic a bounded share of the lcore.
			 * <f> was just used, so no walk removes it.
			 */
			w->port_reclaim_ms = w->now_ms;
			flow_sweep_visit(w->flows, w->now_ms, PORT_RECLAIM_BUDGET, rt_visit, w);
			port = vip_port_alloc(w, v, hash, &id);
		}
		if (port == 0) {
			pk->drop = LB_DROP_NAT_NO_PORT;
			return -1;
		}
		fx->laddr = (uint8_t)id;
		fx->lport_be = htons(port);
		rk.dst = s->laddrs[id];
		rk.dport = fx->lport_be;
	} else {
		rk.dst = f->key.src;
		rk.dport = f->key.sport;
	}
	rh = flow_hash(&rk);
	if (flow_lookup(w->flows, &rk, rh, w->now_ms) != NULL) {
		pk->drop = LB_DROP_NAT_NO_ROOM; /* that reply tuple is taken (nat) */
		return -1;
	}
	r = flow_insert(w->flows, &rk, rh, (enum flow_state)f->state, w->now_ms);
	if (r == NULL) {
		pk->drop = LB_DROP_NAT_NO_ROOM;
		return -1;
	}
	if (r == f || !f->in_use || memcmp(&f->key, &fk, sizeof(fk)) != 0) {
		/*
		 * Making room for the reverse entry evicted the forward one, whose
		 * freed entry r usually is. r belongs to no connection: remove it
		 * too, marked reverse so that its removal uncounts nothing (its
		 * backend_slot is 0, not a backend of this connection).
		 */
		ext_of(w, r)->reverse = 1;
		flow_remove(w->flows, r);
		pk->drop = LB_DROP_NAT_NO_ROOM;
		return -2;
	}
	r->backend_slot = f->backend_slot;
	r->backend_uid = f->backend_uid;
	r->vip_slot = f->vip_slot;
	rx = ext_of(w, r);
	rx->reverse = 1;
	rx->peer = f;
	fx->peer = r;
	memcpy(fx->client_mac, pk->data + 6, 6);
	fx->client_port = pk->in_port;
	/* Client -> VIP becomes rk's reverse (rk.dst:rk.dport -> backend); replies go back. */
	bool v6 = !lb_addr_is_v4(&f->key.dst);
	fx->to_backend = csum_delta(v6, &f->key.src, f->key.sport, &f->key.dst, f->key.dport,
				    &rk.dst, rk.dport, &rk.src, rk.sport);
	fx->to_client = csum_delta(v6, &rk.src, rk.sport, &rk.dst, rk.dport, &f->key.dst,
				   f->key.dport, &f->key.src, f->key.sport);
	return 0;
}

/*
 * The backend of established flow <f> left service and its flows are to be
 * reset (down_flows reset, or a drain deadline passed): counted, and the
 * connection forgotten (both entries in fnat/nat). The caller drops the
 * packet or turns it into a RST to the client.
 */
static void reset_flow(struct lb_worker *w, struct flow_entry *f, uint8_t fate)
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
 * Finds or creates the flow of packet <pk> and returns its backend slot, or
 * LB_NO_SLOT with pk->drop set. <*ep> is the flow entry (NULL when the
 * packet goes out without one: Maglev's backstop, a stray RST).
 */
static uint32_t balance(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			const struct pkt_meta *m, uint32_t vip_slot, const struct flow_key *k,
			uint32_t hash, struct flow_entry **ep)
{
	const struct lb_vip_rt *v = &s->vips[vip_slot];
	struct lb_counters *c = w->ctr;
	struct flow_entry *e = *ep;
	/* Replies come back through Sluice: the balancer sees a backend fail a SYN. */
	bool sees_replies = v->traits & LB_TRAIT_SEES_REPLIES;
	/* The rewrite needs the entry: no backstop, a moved flow starts afresh. */
	bool needs_state = v->traits & LB_TRAIT_NEEDS_STATE;
	uint32_t idx, slot;

	if (e != NULL && sees_replies && k->proto == IPPROTO_TCP && e->state == FLOW_TCP_SYN &&
	    (m->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && !ext_of(w, e)->answered &&
	    (uint32_t)(w->now_ms - e->last_seen) >= LB_SYN_RETRY_MS && connect_failed(w, e)) {
		/* The client asks again and the backend never answered: elsewhere. */
		*ep = e = NULL;
	}
	if (e != NULL && k->proto == IPPROTO_TCP &&
	    (m->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN &&
	    (e->state == FLOW_TCP_FIN || e->state == FLOW_TCP_CLOSED)) {
		/*
		 * A new connection on a client port whose last one has ended:
		 * scheduled like any new connection (a drained or removed backend
		 * takes none), and in fnat with a fresh source port, clear of the
		 * backend's TIME_WAIT on the old one.
		 */
		flow_remove(w->flows, e);
		*ep = e = NULL;
	}
	if (e != NULL) {
		const struct lb_backend_rt *b = &s->backends[e->backend_slot];
		bool same = b->uid == e->backend_uid && b->vip_slot == vip_slot;
		if (same && b->fate == LB_FATE_STAY) {
			pair_touch(w, e, m->tcp_flags);
			return e->backend_slot;
		}
		if (same && b->fate != LB_FATE_MOVE) {
			/* The caller answers a TCP segment with a RST from the VIP. */
			reset_flow(w, e, b->fate);
			*ep = NULL;
			pk->drop = LB_DROP_FLOW_RESET;
			return LB_NO_SLOT;
		}
		c->flows_rescheduled++;
		if (needs_state) {
			/* Its translation names the old backend: start the connection afresh. */
			flow_remove(w->flows, e);
			*ep = e = NULL;
		} else {
			/* Its backend left service: move the flow (counted). */
			idx = pick(w, vip_slot, v, k, hash);
			if (idx == SCHED_NONE) {
				flow_remove(w->flows, e);
				*ep = NULL;
				pk->drop = LB_DROP_NO_BACKEND;
				return LB_NO_SLOT;
			}
			slot = v->pool->slot[idx];
			if (counts_active(e->state)) {
				if (w->active[e->backend_slot] > 0)
					w->active[e->backend_slot]--;
				w->active[slot]++;
			}
			e->backend_slot = slot;
			e->backend_uid = s->backends[slot].uid;
			e->vip_slot = (uint16_t)vip_slot;
			touch(w, e, m->tcp_flags);
			return slot;
		}
	}

	/*
	 * A TCP first packet that is not a SYN belongs to a connection this lcore
	 * does not know: Maglev picks its backend, the choice most likely to be
	 * the one it had (same pool, same table on every lcore and every node).
	 * In DSR a RST is forwarded without creating a flow.
	 */
	bool pickup = k->proto == IPPROTO_TCP && (m->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN;
	w->avoid_slot = sees_replies && !pickup ? redispatch_avoid(w, k) : LB_NO_SLOT;
	idx = pickup ? maglev_pick(v, k, hash) : pick(w, vip_slot, v, k, hash);
	w->avoid_slot = LB_NO_SLOT;
	if (idx == SCHED_NONE) {
		pk->drop = LB_DROP_NO_BACKEND;
		return LB_NO_SLOT;
	}
	if (!needs_state && k->proto == IPPROTO_TCP && (m->tcp_flags & TCP_RST))
		return v->pool->slot[idx];
	w->table_changed = true;
	e = flow_insert(w->flows, k, hash, first_state(k->proto, m->tcp_flags), w->now_ms);
	if (e == NULL) {
		if (needs_state) {
			/* A translation needs its state: nothing to fall back on. */
			pk->drop = LB_DROP_NAT_NO_ROOM;
			return LB_NO_SLOT;
		}
		/*
		 * No room without evicting live flows: Maglev's backstop keeps
		 * this flow's packets on one backend while the table is full.
		 */
		idx = maglev_pick(v, k, hash);
		if (idx == SCHED_NONE) {
			pk->drop = LB_DROP_NO_BACKEND;
			return LB_NO_SLOT;
		}
		c->flows_backstop++;
		return v->pool->slot[idx];
	}
	slot = v->pool->slot[idx];
	e->backend_slot = slot;
	e->backend_uid = s->backends[slot].uid;
	e->vip_slot = (uint16_t)vip_slot;
	if (counts_active(e->state))
		w->active[slot]++;
	if (sees_replies) {
		int rc = nat_open(w, s, pk, v, e, hash);
		if (rc < 0) {
			if (rc == -1)
				flow_remove(w->flows, e); /* gives the port back, uncounts it */
			*ep = NULL;
			return LB_NO_SLOT;
		}
	}
	*ep = e;
	c->flows_new++;
	c->vip[vip_slot].new_flows++;
	c->backend[slot].new_flows++;
	return slot;
}

static void count_traffic(struct lb_counters *c, uint32_t vip_slot, uint32_t slot,
			  const struct lb_pkt *pk)
{
	c->vip[vip_slot].pkts++;
	c->vip[vip_slot].bytes += pk->len;
	c->backend[slot].pkts++;
	c->backend[slot].bytes += pk->len;
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
		/* Routed, not bridged: the TTL goes down; then the translation. */
		bool offload = s->ports[b->out_port].tx_csum_offload;
		const struct lb_flow_ext *x = &w->ext[flow_entry_index(w->flows, e)];
		if (!ttl_decrement(pk, m)) {
			pk->drop = LB_DROP_TTL;
			return;
		}
		if (v->mode == LB_MODE_FNAT)
			nat_rewrite(pk, m, &s->laddrs[x->laddr], x->lport_be, &b->addr, b->port_be,
				    offload, &x->to_backend);
		else
			nat_rewrite(pk, m, NULL, 0, &b->addr, b->port_be, offload, &x->to_backend);
	} else if ((v->traits & LB_TRAIT_ENCAP) && !encapsulate(w, s, pk, m, b)) {
		return;
	}
	/* DSR: same IP packet, new Ethernet addresses; the backend answers the client. */
	lb_neigh_unpack(word, pk->data);
	memcpy(pk->data + 6, s->ports[b->out_port].mac, 6);
	pk->out_port = b->out_port;
	pk->verdict = LB_VERDICT_TX;
	count_traffic(w->ctr, vip_slot, slot, pk);
}

/*
 * A backend's reply to a full-NAT local address, or (nat) to a client: found
 * through the reverse entry <r> (NULL: none), translated back so the client sees the VIP, and
 * sent to the L2 hop the client's packets came from.
 */
static void reply(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		  const struct pkt_meta *m, struct flow_entry *r)
{
	struct flow_entry *f;
	struct lb_flow_ext *fx;

	if (r == NULL || !ext_of(w, r)->reverse || (f = ext_of(w, r)->peer) == NULL)
		return; /* pk->drop stays not_ours */
	const struct lb_backend_rt *b = &s->backends[f->backend_slot];
	if (b->uid == f->backend_uid &&
	    (b->fate == LB_FATE_RESET || b->fate == LB_FATE_DRAIN_RESET)) {
		/* Its backend is out and its flows reset: nothing more goes to the client. */
		reset_flow(w, f, b->fate);
		pk->drop = LB_DROP_FLOW_RESET;
		return;
	}
	fx = ext_of(w, f);
	if (f->user != 0 && (payload_len(pk, m) > 0 || (m->tcp_flags & (TCP_FIN | TCP_RST)) ||
			     m->l4_proto == IPPROTO_UDP)) {
		/* An answer to the client's data (counted first if it came too late). */
		if (rt_due(w, f)) {
			rt_count(w, f, fx);
		} else {
			w->ctr->vip[f->vip_slot].responded++;
			w->ctr->backend[f->backend_slot].responded++;
		}
		f->user = 0;
	}
	if (!fx->answered) {
		/* The backend's first answer: passive health, and maybe a refusal. */
		if (f->key.proto == IPPROTO_TCP && f->state == FLOW_TCP_SYN &&
		    (m->tcp_flags & TCP_RST) && connect_failed(w, f)) {
			pk->drop = LB_DROP_REDISPATCH;
			return;
		}
		fx = ext_of(w, f);
		fx->answered = 1;
		w->ctr->backend[f->backend_slot].established++;
	}
	pair_touch(w, f, m->tcp_flags);
	bool offload = s->ports[fx->client_port].tx_csum_offload;
	if (!ttl_decrement(pk, m)) {
		pk->drop = LB_DROP_TTL;
		return;
	}
	if (s->vips[f->vip_slot].mode == LB_MODE_FNAT)
		nat_rewrite(pk, m, &f->key.dst, f->key.dport, &f->key.src, f->key.sport, offload,
			    &fx->to_client);
	else
		nat_rewrite(pk, m, &f->key.dst, f->key.dport, NULL, 0, offload, &fx->to_client);
	memcpy(pk->data, fx->client_mac, 6);
	memcpy(pk->data + 6, s->ports[fx->client_port].mac, 6);
	pk->out_port = fx->client_port;
	pk->verdict = LB_VERDICT_TX;
	w->ctr->nat_replies++;
	count_traffic(w->ctr, f->vip_slot, f->backend_slot, pk);
}

/* ---- ICMP errors about a flow (RFC 5508 for NAT; RFC 792, 4443) ---- */

/* IPv4 errors (unreachable, time exceeded) and ICMPv6 errors (1..4). */
static bool is_icmp_error(const struct pkt_meta *m)
{
	if (m->frag != PKT_FRAG_NONE)
		return false;
	if (!m->is_v6 && m->l4_proto == IPPROTO_ICMP)
		return m->icmp_type == 3 || m->icmp_type == 11;
	return m->is_v6 && m->l4_proto == IPPROTO_ICMPV6 && m->icmp_type >= 1 && m->icmp_type <= 4;
}

/* Where the quoted packet's fields are, and its tuple. */
struct quote {
	uint8_t *ip;   /* quoted IP header */
	uint8_t *l4;   /* quoted TCP/UDP header (at least its 8 first bytes) */
	uint32_t hlen; /* quoted IP header length */
	struct flow_key key;
};

static bool quote_parse(struct lb_pkt *pk, const struct pkt_meta *m, struct quote *q)
{
	uint8_t *ip = pk->data + m->l4_off + 8;
	uint32_t avail = m->l3_end > m->l4_off + 8u ? m->l3_end - m->l4_off - 8u : 0;
	uint8_t proto;

	memset(q, 0, sizeof(*q));
	if (!m->is_v6) {
		if (avail < IP4_HLEN || (ip[0] >> 4) != 4)
			return false;
		q->hlen = (ip[0] & 0xf) * 4u;
		proto = ip[9];
		if (q->hlen < IP4_HLEN || avail < q->hlen + 8)
			return false;
		lb_addr_set_v4(&q->key.src, ip + 12);
		lb_addr_set_v4(&q->key.dst, ip + 16);
	} else {
		if (avail < IP6_HLEN + 8 || (ip[0] >> 4) != 6)
			return false;
		q->hlen = IP6_HLEN; /* extension headers in a quote are not walked */
		proto = ip[6];
		lb_addr_set_v6(&q->key.src, ip + 8);
		lb_addr_set_v6(&q->key.dst, ip + 24);
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return false;
	q->ip = ip;
	q->l4 = ip + q->hlen;
	memcpy(&q->key.sport, q->l4, 2);
	memcpy(&q->key.dport, q->l4 + 2, 2);
	q->key.proto = proto;
	return true;
}

/* Rewrites the quoted packet's addresses and ports (NULL / 0 = keep). */
static void quote_rewrite(struct quote *q, bool v6, const struct lb_addr *src, uint16_t sport_be,
			  const struct lb_addr *dst, uint16_t dport_be)
{
	uint32_t alen = v6 ? 16 : 4;
	uint8_t *udp_csum = q->key.proto == IPPROTO_UDP ? q->l4 + 6 : NULL;
	if (src != NULL)
		memcpy(q->ip + (v6 ? 8 : 12), v6 ? src->b : lb_addr_v4_bytes(src), alen);
	if (dst != NULL)
		memcpy(q->ip + (v6 ? 24 : 16), v6 ? dst->b : lb_addr_v4_bytes(dst), alen);
	if (sport_be != 0)
		memcpy(q->l4, &sport_be, 2);
	if (dport_be != 0)
		memcpy(q->l4 + 2, &dport_be, 2);
	/*
	 * The quote is cut short, so its TCP/UDP checksum cannot be made right;
	 * a UDP checksum is cleared (0: "none" over IPv4), as RFC 5508 allows
	 * NATs to leave the quoted checksum alone. The quoted IPv4 header
	 * checksum is made right.
	 */
	if (udp_csum != NULL && !v6)
		put16(udp_csum, 0);
	if (!v6) {
		put16(q->ip + 10, 0);
		put16(q->ip + 10, csum_fold(csum_add(0, q->ip, q->hlen)));
	}
}

/* Recomputes the outer ICMP checksum and IPv4 header checksum (error path only). */
static void icmp_error_sums(struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint8_t *ip = pk->data + m->l3_off, *icmp = pk->data + m->l4_off;
	uint32_t len = (uint32_t)(m->l3_end - m->l4_off);

	put16(icmp + 2, 0);
	if (m->is_v6) {
		put16(icmp + 2, icmp6_csum(ip, icmp, len));
	} else {
		put16(icmp + 2, csum_fold(csum_add(0, icmp, len)));
		put16(ip + 10, 0);
		put16(ip + 10, csum_fold(csum_add(0, ip, (uint32_t)(m->l4_off - m->l3_off))));
	}
}

static void set_outer(struct lb_pkt *pk, const struct pkt_meta *m, const struct lb_addr *src,
		      const struct lb_addr *dst)
{
	uint8_t *ip = pk->data + m->l3_off;
	uint32_t alen = m->is_v6 ? 16 : 4;

	if (src != NULL)
		memcpy(ip + (m->is_v6 ? 8 : 12), m->is_v6 ? src->b : lb_addr_v4_bytes(src), alen);
	if (dst != NULL)
		memcpy(ip + (m->is_v6 ? 24 : 16), m->is_v6 ? dst->b : lb_addr_v4_bytes(dst), alen);
}

/*
 * An ICMP error about one of our flows goes to the side that sent the packet
 * it quotes, translated like that packet would have been:
 *  - from a backend (about a packet we sent it, fnat/nat): to the client,
 *    from the VIP, quoting the client's own packet;
 *  - from a client (about a reply it got from the VIP): to the flow's
 *    backend, quoting the reply as the backend sent it (dsr and tunnel
 *    backends get it as it is, Ethernet-forwarded like the flow's packets).
 * Anything else keeps the drop reason classify() gave it.
 */
static void icmp_error(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		       const struct pkt_meta *m)
{
	struct quote q;
	struct flow_key k;
	struct flow_entry *e, *f;

	if (!quote_parse(pk, m, &q))
		return;
	/* The quoted packet went from q.src to q.dst; a flow entry keys the way back. */
	memset(&k, 0, sizeof(k));
	k.src = q.key.dst;
	k.dst = q.key.src;
	k.sport = q.key.dport;
	k.dport = q.key.sport;
	k.proto = q.key.proto;
	e = flow_lookup(w->flows, &k, flow_hash(&k), w->now_ms);
	if (e == NULL)
		return;
	if (ext_of(w, e)->reverse) {
		/* From the backend side: e is the reverse entry, f the client's flow. */
		const struct lb_flow_ext *fx;
		f = ext_of(w, e)->peer;
		if (f == NULL)
			return;
		fx = ext_of(w, f);
		bool unreachable =
			m->is_v6 ? m->icmp_type == 1 : m->icmp_type == 3 && m->icmp_code != 4;
		if (unreachable && f->key.proto == IPPROTO_TCP && f->state == FLOW_TCP_SYN &&
		    !fx->answered && connect_failed(w, f)) {
			pk->drop = LB_DROP_REDISPATCH;
			return;
		}
		quote_rewrite(&q, m->is_v6, &f->key.src, f->key.sport, &f->key.dst, f->key.dport);
		set_outer(pk, m, &f->key.dst, &f->key.src);
		icmp_error_sums(pk, m);
		memcpy(pk->data, fx->client_mac, 6);
		memcpy(pk->data + 6, s->ports[fx->client_port].mac, 6);
		pk->out_port = fx->client_port;
		pk->verdict = LB_VERDICT_TX;
		pk->answer = 1;
		w->ctr->icmp_translated++;
		return;
	}
	/* From the client side: e is the client's flow (client -> VIP). */
	const struct lb_backend_rt *b = &s->backends[e->backend_slot];
	const struct lb_vip_rt *v = &s->vips[e->vip_slot];
	uint64_t word;
	if (b->uid != e->backend_uid)
		return;
	word = w->neigh->word[b->neigh_slot];
	if (!(word & LB_NEIGH_VALID)) {
		pk->drop = LB_DROP_NEIGH_UNRESOLVED;
		return;
	}
	if (v->mode == LB_MODE_FNAT || v->mode == LB_MODE_NAT) {
		const struct lb_flow_ext *x = ext_of(w, e);
		const struct lb_addr *la = v->mode == LB_MODE_FNAT ? &s->laddrs[x->laddr] : NULL;
		uint16_t lp = v->mode == LB_MODE_FNAT ? x->lport_be : 0;
		quote_rewrite(&q, m->is_v6, &b->addr, b->port_be, la, lp);
		set_outer(pk, m, la, &b->addr);
		icmp_error_sums(pk, m);
	}
	lb_neigh_unpack(word, pk->data);
	memcpy(pk->data + 6, s->ports[b->out_port].mac, 6);
	pk->out_port = b->out_port;
	pk->verdict = LB_VERDICT_TX;
	pk->answer = 1;
	w->ctr->icmp_translated++;
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
};

/* Which lcore owns a nat connection: from the client's address and port. */
static inline uint32_t nat_owner(const struct lb_worker *w, const struct lb_addr *client,
				 uint16_t port_be)
{
	return lb_vip_hash_of(client, port_be, 0) % w->n_workers;
}

/*
 * The lcore that owns the flow an ICMP error quotes, where the quote tells:
 * about a full-NAT packet to a backend, the source port Sluice chose; about
 * a nat packet, either way, its client's address and port. LB_NO_SLOT when
 * the quote does not tell (an fnat or dsr client's flow went where RSS put
 * it): the error is handled where it arrived.
 */
static uint32_t icmp_owner(const struct lb_worker *w, const struct lb_snapshot *s,
			   struct lb_pkt *pk, const struct pkt_meta *m)
{
	struct quote q;
	uint32_t vip;

	if (w->n_workers == 1 || !quote_parse(pk, m, &q))
		return LB_NO_SLOT;
	if (lb_laddr_find(s, &q.key.src) != LB_NO_SLOT)
		return ntohs(q.key.sport) % w->n_workers;
	if (!s->has_nat)
		return LB_NO_SLOT;
	vip = lb_vip_find(s, &q.key.src, q.key.sport, q.key.proto);
	if (vip != LB_NO_SLOT) /* a reply from the VIP to its client */
		return s->vips[vip].mode == LB_MODE_NAT ? nat_owner(w, &q.key.dst, q.key.dport)
							: LB_NO_SLOT;
	return nat_owner(w, &q.key.src, q.key.sport); /* a client's packet to its backend */
}

static enum cls handoff(struct lb_pkt *pk, uint32_t owner)
{
	pk->verdict = LB_VERDICT_HANDOFF;
	pk->out_port = (uint16_t)owner;
	return CLS_DONE;
}

/* First pass: everything that does not need the flow table is decided here. */
static enum cls classify(const struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
			 struct pkt_meta *m, uint32_t *vip_slot)
{
	const struct lb_port_info *port = &s->ports[pk->in_port < s->n_ports ? pk->in_port : 0];
	enum parse_result r = parse_packet(pk->data, pk->len, m);

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
	if (m->kind == PKT_KIND_ARP) {
		pk->verdict = answer_arp(s, port, pk, m);
		return CLS_DONE;
	}
	if (m->l4_proto == IPPROTO_TCP || m->l4_proto == IPPROTO_UDP) {
		if (m->frag == PKT_FRAG_LATER) {
			pk->drop =
				lb_vip_addr_known(s, &m->dst) ? LB_DROP_FRAGMENT : LB_DROP_NOT_OURS;
			return CLS_DONE;
		}
		*vip_slot = lb_vip_find(s, &m->dst, m->dport, m->l4_proto);
		if (*vip_slot != LB_NO_SLOT) {
			const struct lb_vip_rt *v = &s->vips[*vip_slot];
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
	if (is_icmp_error(m) &&
	    (is_ours(s, port, &m->dst) || (s->has_nat && !is_port_addr(port, &m->dst)))) {
		/* Errors are handled where the flow lives (RSS hashes them anywhere). */
		uint32_t owner = pk->handed ? LB_NO_SLOT : icmp_owner(w, s, pk, m);
		if (owner != LB_NO_SLOT && owner != w->index)
			return handoff(pk, owner);
		return CLS_ICMP;
	}
	if (m->frag != PKT_FRAG_NONE)
		return CLS_DONE;
	if (!m->is_v6 && m->l4_proto == IPPROTO_ICMP && m->icmp_type == ICMP_ECHO_REQ &&
	    is_ours(s, port, &m->dst))
		pk->verdict = answer_icmp_echo(pk, m, port);
	else if (m->is_v6 && m->l4_proto == IPPROTO_ICMPV6) {
		if (m->icmp_type == ICMP6_ECHO_REQ && is_ours(s, port, &m->dst))
			pk->verdict = answer_icmp_echo(pk, m, port);
		else if (m->icmp_type == ND_NS)
			pk->verdict = answer_ns(s, port, pk, m);
		else if (m->icmp_type == ND_NA && is_port_addr(port, &m->dst))
			pk->verdict = LB_VERDICT_MGMT; /* an answer to our solicitation */
	}
	return CLS_DONE;
}

/*
 * Backends' replies (and ICMP errors) of a burst, in their order; the
 * replies' reverse entries looked up in bulk, as forward packets' flows are.
 */
static void replies_process(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pkts,
			    const struct pkt_meta *meta, const uint16_t *replies, uint32_t n)
{
	struct flow_key keys[LB_BURST_MAX];
	uint32_t hashes[LB_BURST_MAX], nkeys = 0, k = 0;
	struct flow_entry *found[LB_BURST_MAX];

	for (uint32_t r = 0; r < n; r++) {
		const struct pkt_meta *m = &meta[replies[r]];
		struct flow_key *key = &keys[nkeys];

		if (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP)
			continue;
		key->src = m->src;
		key->dst = m->dst;
		key->sport = m->sport;
		key->dport = m->dport;
		key->proto = m->l4_proto;
		memset(key->pad, 0, sizeof(key->pad));
		hashes[nkeys++] = flow_hash(key);
	}
	w->table_changed = false;
	if (nkeys > 0)
		flow_lookup_bulk(w->flows, keys, hashes, nkeys, w->now_ms, found);
	for (uint32_t r = 0; r < n; r++) {
		const struct pkt_meta *m = &meta[replies[r]];
		struct flow_entry *e;

		if (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP) {
			icmp_error(w, s, &pkts[replies[r]], m);
			continue;
		}
		/* An earlier reply of the burst may have ended connections (refusal, reset). */
		e = found[k];
		if (w->table_changed &&
		    (e == NULL || !e->in_use || memcmp(&e->key, &keys[k], sizeof(keys[k])) != 0))
			e = flow_lookup(w->flows, &keys[k], hashes[k], w->now_ms);
		reply(w, s, &pkts[replies[r]], m, e);
		k++;
	}
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

/*
 * A packet with a flow key: of a VIP (CLS_VIP), or one the fast path
 * recognised, which has no struct pkt_meta until the general path takes it.
 */
struct lb_keyed {
	uint16_t pkt;      /* index in the burst */
	uint8_t fast;      /* fast4_parse() took it */
	uint8_t tcp_flags; /* fast: the TCP flags (0 for UDP) */
	uint32_t vip;
};

void lb_worker_process(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pkts,
		       uint32_t n, uint32_t now_ms)
{
	struct pkt_meta meta[LB_BURST_MAX];
	struct flow_key keys[LB_BURST_MAX];
	uint32_t hashes[LB_BURST_MAX];
	struct lb_keyed kd[LB_BURST_MAX];
	uint16_t replies[LB_BURST_MAX];
	struct flow_entry *found[LB_BURST_MAX];
	struct lb_counters *c = w->ctr;
	uint32_t nflows = 0, nreplies = 0, nfast = 0;
	uint64_t fast_done = 0; /* packets the fast path forwarded (bit i: packet i) */

	if (n > LB_BURST_MAX)
		n = LB_BURST_MAX;
	w->now_ms = now_ms;
	for (uint32_t i = 0; i < n; i++) {
		struct pkt_meta *m = &meta[i];
		uint8_t tcp_flags;
		uint32_t vip_slot =
			fast4_parse(s, &pkts[i], &keys[nflows], &hashes[nflows], &tcp_flags);

		if (vip_slot != LB_NO_SLOT) {
			kd[nflows++] = (struct lb_keyed){.pkt = (uint16_t)i,
							 .fast = 1,
							 .tcp_flags = tcp_flags,
							 .vip = vip_slot};
			continue;
		}
		enum cls what = classify(w, s, &pkts[i], m, &vip_slot);

		if (what == CLS_REPLY || what == CLS_ICMP)
			replies[nreplies++] = (uint16_t)i;
		if (what != CLS_VIP)
			continue;
		struct flow_key *k = &keys[nflows];
		k->src = m->src;
		k->dst = m->dst;
		k->sport = m->sport;
		k->dport = m->dport;
		k->proto = m->l4_proto;
		memset(k->pad, 0, sizeof(k->pad));
		hashes[nflows] = flow_hash(k);
		kd[nflows++] = (struct lb_keyed){.pkt = (uint16_t)i, .vip = vip_slot};
	}
	w->table_changed = false;
	if (nflows > 0)
		flow_lookup_bulk(w->flows, keys, hashes, nflows, now_ms, found);
	for (uint32_t f = 0; f < nflows; f++) {
		uint32_t i = kd[f].pkt, vip_slot = kd[f].vip, slot;
		struct lb_pkt *pk = &pkts[i];
		struct flow_entry *e = found[f];

		/*
		 * Once this burst inserted or removed flows the bulk results may be
		 * stale: the flow may now exist (an earlier packet of it), or the
		 * entry found may have been freed and reused for another key.
		 */
		if (w->table_changed &&
		    (e == NULL || !e->in_use || memcmp(&e->key, &keys[f], sizeof(keys[f])) != 0))
			e = flow_lookup(w->flows, &keys[f], hashes[f], now_ms);
		if (kd[f].fast) {
			if (fast4_forward(w, s, pk, e, vip_slot, kd[f].tcp_flags)) {
				fast_done |= 1ull << i;
				nfast++;
				continue;
			}
			/* Not the common case after all: the general path decides it afresh. */
			if (classify(w, s, pk, &meta[i], &vip_slot) != CLS_VIP)
				continue;
		}
		const struct lb_vip_rt *v = &s->vips[vip_slot];
		const uint8_t *in_mac = s->ports[pk->in_port < s->n_ports ? pk->in_port : 0].mac;
		slot = balance(w, s, pk, &meta[i], vip_slot, &keys[f], hashes[f], &e);
		if (slot != LB_NO_SLOT) {
			if (e != NULL && v->response_timeout_ms != 0 &&
			    (v->traits & LB_TRAIT_SEES_REPLIES))
				rt_client(w, v, e, pk, &meta[i]);
			forward(w, s, pk, &meta[i], vip_slot, slot, e);
		} else if (pk->drop == LB_DROP_NO_BACKEND && v->when_empty == LB_EMPTY_RESET) {
			refuse(w, pk, &meta[i], in_mac);
		} else if (pk->drop == LB_DROP_FLOW_RESET && keys[f].proto == IPPROTO_TCP) {
			/* Its backend left service: the client learns at once (unless it sent a
			 * RST). */
			rst_back(pk, &meta[i], in_mac);
		}
	}
	if (nreplies > 0)
		replies_process(w, s, pkts, meta, replies, nreplies);
	/* Counted per burst where the value is per burst; per packet only off the fast path. */
	c->rx += n;
	c->fwd += nfast;
	for (uint32_t i = 0; i < n; i++)
		if (!(fast_done >> i & 1))
			count_verdict(c, s, &pkts[i], &meta[i]);
}

/* ---- management-thread helpers ---- */

uint16_t lb_build_neigh_request(uint8_t *buf, uint16_t cap, const struct lb_port_info *p,
				const struct lb_addr *target)
{
	if (lb_addr_is_v4(target)) {
		if (cap < 60 || !p->has_ipv4)
			return 0;
		memset(buf, 0, 60);
		memset(buf, 0xff, 6);
		memcpy(buf + 6, p->mac, 6);
		put16(buf + 12, 0x0806);
		put16(buf + 14, 1);      /* Ethernet */
		put16(buf + 16, 0x0800); /* IPv4 */
		buf[18] = 6;
		buf[19] = 4;
		put16(buf + 20, PKT_ARP_REQUEST);
		memcpy(buf + 22, p->mac, 6);
		memcpy(buf + 28, lb_addr_v4_bytes(&p->ipv4), 4);
		memcpy(buf + 38, lb_addr_v4_bytes(target), 4);
		return 60;
	}
	if (cap < ETH_HLEN + IP6_HLEN + 32 || !p->has_ipv6)
		return 0;
	uint8_t *ip = buf + ETH_HLEN, *icmp = ip + IP6_HLEN;
	/* To the solicited-node multicast group of the target (RFC 4291 2.7.1). */
	static const uint8_t snm[13] = {0xff, 0x02, [11] = 1, [12] = 0xff};
	memset(buf, 0, ETH_HLEN + IP6_HLEN + 32);
	buf[0] = 0x33;
	buf[1] = 0x33;
	buf[2] = 0xff;
	memcpy(buf + 3, &target->b[13], 3);
	memcpy(buf + 6, p->mac, 6);
	put16(buf + 12, ETHERTYPE_IPV6);
	ip[0] = 0x60;
	put16(ip + 4, 32);
	ip[6] = IPPROTO_ICMPV6;
	ip[7] = 255;
	memcpy(ip + 8, p->ipv6.b, 16);
	memcpy(ip + 24, snm, 13);
	memcpy(ip + 37, &target->b[13], 3);
	icmp[0] = ND_NS;
	memcpy(icmp + 8, target->b, 16);
	icmp[24] = ND_OPT_SLLA;
	icmp[25] = 1;
	memcpy(icmp + 26, p->mac, 6);
	put16(icmp + 2, icmp6_csum(ip, icmp, 32));
	return ETH_HLEN + IP6_HLEN + 32;
}

int lb_parse_neigh_reply(const uint8_t *data, uint16_t len, struct lb_addr *addr, uint8_t mac[6])
{
	struct pkt_meta m;
	const uint8_t *icmp;

	if (parse_packet(data, len, &m) != PARSE_OK)
		return -1;
	if (m.kind == PKT_KIND_ARP) {
		*addr = m.src;
		memcpy(mac, m.arp_sha, 6);
		return 0;
	}
	if (!m.is_v6 || m.l4_proto != IPPROTO_ICMPV6 || m.icmp_type != ND_NA)
		return -1;
	icmp = data + m.l4_off;
	/* Target at 8, then options of 8-byte units: look for the target link-layer one. */
	for (uint32_t off = 24; (uint32_t)m.l4_off + off + 8 <= m.l3_end;) {
		uint32_t olen = icmp[off + 1] * 8u;
		if (olen == 0)
			return -1;
		if (icmp[off] == ND_OPT_TLLA && olen >= 8) {
			lb_addr_set_v6(addr, icmp + 8);
			memcpy(mac, icmp + off + 2, 6);
			return 0;
		}
		off += olen;
	}
	return -1;
}
