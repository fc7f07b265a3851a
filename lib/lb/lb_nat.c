/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Full-NAT and NAT: a connection's translation both ways (two flow entries,
 * the client's and the backend's replies), its checksum changes computed
 * once (RFC 1624), and the response timeout that catches hung backends.
 */
#include "lb_stage.h"

#define PORT_RECLAIM_BUDGET 4096 /* flow entries walked when ports run out (nat_open) */

/* One response timeout for the connection of forward entry <f>, at most once. */
void nat_rt_count(struct lb_worker *w, const struct flow_entry *f, struct lb_flow_ext *x)
{
	if (x->resp_timeout_counted)
		return;
	x->resp_timeout_counted = 1;
	w->ctr->vip[f->vip_slot].response_timeouts++;
	if (f->backend_slot < LB_MAX_BACKENDS)
		w->ctr->backend[f->backend_slot].response_timeouts++;
}

/* Sweep visitor: a connection past due is counted without waiting for its next packet. */
void nat_rt_visit(struct flow_entry *e, void *arg)
{
	struct lb_worker *w = arg;
	struct lb_flow_ext *x;

	if (!resp_timeout_due(w, e))
		return;
	x = ext_of(w, e);
	if (!x->reverse)
		nat_rt_count(w, e, x);
	e->user = 0;
}

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
		pkt_put16(ip + 10, 0);
		sum = pkt_csum_add(0, ip + 12, 8);
	} else {
		sum = pkt_csum_add(0, ip + 8, 32);
	}
	sum += m->l4_proto + l4len;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	pkt_put16(udp ? l4 + 6 : l4 + 16,
		  (uint16_t)sum); /* not complemented: the NIC finishes it */
	pk->tx_offload = (uint8_t)((m->is_v6 ? LB_TX_IPV6 : LB_TX_IPV4_CSUM) |
				   (udp ? LB_TX_UDP_CSUM : LB_TX_TCP_CSUM));
	pk->l2_len = m->l3_off;
	pk->l3_len = (uint16_t)(m->l4_off - m->l3_off);
}

/* Adds ~old + new over <len> bytes (even) of 16-bit words to <sum>. */
static uint32_t csum_change(uint32_t sum, const uint8_t *old, const uint8_t *val, uint32_t len)
{
	for (uint32_t i = 0; i < len; i += 2)
		sum += (uint32_t)(uint16_t)~pkt_get16(old + i) + pkt_get16(val + i);
	return sum;
}

/*
 * The checksum change of a rewrite from (osrc:osport -> odst:odport) to
 * (nsrc:nsport -> ndst:ndport), routed (TTL down by one), on an IPv4 or
 * IPv6 packet.
 */
static struct lb_csum_delta csum_delta(bool v6, const struct sl_addr *osrc, uint16_t osport,
				       const struct sl_addr *odst, uint16_t odport,
				       const struct sl_addr *nsrc, uint16_t nsport,
				       const struct sl_addr *ndst, uint16_t ndport)
{
	uint32_t off = v6 ? 0 : 12, alen = v6 ? 16 : 4, addrs, ports;
	/* The TTL / protocol word: ~(ttl << 8 | proto) + ((ttl - 1) << 8 | proto). */
	const uint32_t ttl_change = 0xfeff;

	addrs = csum_change(0, osrc->b + off, nsrc->b + off, alen);
	addrs = csum_change(addrs, odst->b + off, ndst->b + off, alen);
	ports = csum_change(0, (const uint8_t *)&osport, (const uint8_t *)&nsport, 2);
	ports = csum_change(ports, (const uint8_t *)&odport, (const uint8_t *)&ndport, 2);
	return (struct lb_csum_delta){.ip = pkt_csum_fold16(addrs + ttl_change),
				      .l4 = pkt_csum_fold16(addrs + ports)};
}

/*
 * Rewrites addresses and ports (NULL / 0 = keep) of a packet whose TTL was
 * just decremented, and adjusts the IPv4 header checksum and the TCP/UDP
 * checksum by the connection's precomputed <d> (never a recomputation), or
 * leaves them to the port (<offload>). An IPv4 UDP datagram without a
 * checksum (0) keeps none.
 */
static void nat_rewrite(struct lb_pkt *pk, const struct pkt_meta *m, const struct sl_addr *src,
			uint16_t sport_be, const struct sl_addr *dst, uint16_t dport_be,
			bool offload, const struct lb_csum_delta *d)
{
	uint8_t *ip = pk->data + m->l3_off, *l4 = pk->data + m->l4_off;
	bool udp = m->l4_proto == IPPROTO_UDP;
	uint8_t *l4csum = udp ? l4 + 6 : l4 + 16;

	if (!offload) {
		if (!m->is_v6)
			pkt_csum_apply(ip + 10, d->ip);
		if (!(udp && !m->is_v6 && pkt_get16(l4csum) == 0)) {
			pkt_csum_apply(l4csum, d->l4);
			if (udp && pkt_get16(l4csum) == 0)
				pkt_put16(l4csum, 0xffff); /* 0 means "no checksum" (RFC 768) */
		}
	}
	/* Fixed sizes, so each copy is a store or two rather than a call. */
	if (m->is_v6) {
		if (src != NULL)
			memcpy(ip + 8, src->b, 16);
		if (dst != NULL)
			memcpy(ip + 24, dst->b, 16);
	} else {
		if (src != NULL)
			memcpy(ip + 12, sl_addr_v4_bytes(src), 4);
		if (dst != NULL)
			memcpy(ip + 16, sl_addr_v4_bytes(dst), 4);
	}
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

/*
 * Translates a client's packet of connection <e> towards backend <b>:
 * routed, so the TTL goes down first. Returns false with pk->drop set when
 * it cannot go.
 */
bool nat_forward(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		 const struct pkt_meta *m, const struct lb_snap_vip *v,
		 const struct lb_snap_backend *b, const struct flow_entry *e)
{
	bool offload = s->ports[b->out_port].tx_csum_offload;
	const struct lb_flow_ext *x = ext_of(w, e);

	if (!ttl_decrement(pk, m)) {
		pk->drop = LB_DROP_TTL;
		return false;
	}
	if (v->mode == SL_MODE_FNAT)
		nat_rewrite(pk, m, &s->laddrs[x->laddr], x->lport_be, &b->addr, b->port_be, offload,
			    &x->to_backend);
	else
		nat_rewrite(pk, m, NULL, 0, &b->addr, b->port_be, offload, &x->to_backend);
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
void nat_rt_client(struct lb_worker *w, const struct lb_snap_vip *v, struct flow_entry *f,
		   const struct lb_pkt *pk, const struct pkt_meta *m)
{
	struct lb_flow_ext *x = ext_of(w, f);

	if (resp_timeout_due(w, f)) {
		nat_rt_count(w, f, x);
		f->user = 0;
	}
	if (f->user == 0 && !x->resp_timeout_counted && !(m->tcp_flags & TCP_SYN) &&
	    payload_len(pk, m) > 0) {
		uint32_t due = w->now_ms + v->response_timeout_ms;
		f->user = due != 0 ? due : 1;
	}
}

/*
 * Every packet of a NAT connection refreshes both of its entries. A
 * connection becomes established only once its backend has answered: a
 * client's packets alone (a forged ACK, twice) leave it in its first state,
 * with that state's short timeout, so they cannot hold a source port for
 * the established timeout. <client_waits>: a client's packet, in a mode
 * that sees replies (dsr and tunnel flows never wait).
 */
void nat_pair_touch(struct lb_worker *w, struct flow_entry *f, uint8_t tcp_flags, bool client_waits)
{
	uint8_t was = f->state;
	struct flow_entry *r;

	touch(w, f, tcp_flags);
	/* SYN and UDP_NEW count as active as the established states do. */
	if (client_waits && f->state != was && !ext_of(w, f)->answered &&
	    (f->state == FLOW_TCP_EST || f->state == FLOW_UDP_EST))
		f->state = was;
	r = ext_of(w, f)->peer;
	if (r != NULL) {
		r->state = f->state;
		r->last_seen = f->last_seen;
	}
}

/*
 * Sets up the translation of a new fnat/nat connection whose forward entry
 * <f> was just inserted: a source port (fnat), and the reverse entry that
 * the backend's replies will match. Returns 0; -1 with <f> still in the
 * table; or -2 when <f> is already gone. pk->drop is set on failure.
 */
int nat_open(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
	     const struct lb_snap_vip *v, struct flow_entry *f, uint32_t hash)
{
	const struct lb_snap_backend *b = &s->backends[f->backend_slot];
	struct lb_flow_ext *fx = ext_of(w, f), *rx;
	struct flow_key rk, fk = f->key;
	struct flow_entry *r;
	uint32_t rh;

	memset(&rk, 0, sizeof(rk));
	rk.src = b->addr;
	rk.sport = b->port_be;
	rk.proto = f->key.proto;
	if (v->mode == SL_MODE_FNAT) {
		uint32_t id = 0;
		uint16_t port = ports_vip_alloc(w, v, hash, &id);

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
			flow_sweep_visit(w->flows, w->now_ms, PORT_RECLAIM_BUDGET, nat_rt_visit, w);
			port = ports_vip_alloc(w, v, hash, &id);
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
	r = burst_insert(w, &rk, rh, (enum flow_state)f->state);
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
	bool v6 = !sl_addr_is_v4(&f->key.dst);
	fx->to_backend = csum_delta(v6, &f->key.src, f->key.sport, &f->key.dst, f->key.dport,
				    &rk.dst, rk.dport, &rk.src, rk.sport);
	fx->to_client = csum_delta(v6, &rk.src, rk.sport, &rk.dst, rk.dport, &f->key.dst,
				   f->key.dport, &f->key.src, f->key.sport);
	return 0;
}

/*
 * A backend's reply to a full-NAT local address, or (nat) to a client: found
 * through the reverse entry <r> (NULL: none), translated back so the client sees the VIP, and
 * sent to the L2 hop the client's packets came from.
 */
void nat_reply(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
	       const struct pkt_meta *m, struct flow_entry *r)
{
	struct flow_entry *f;
	struct lb_flow_ext *fx;

	if (r == NULL || !ext_of(w, r)->reverse || (f = ext_of(w, r)->peer) == NULL)
		return; /* pk->drop stays not_ours */
	const struct lb_snap_backend *b = &s->backends[f->backend_slot];
	if (b->uid == f->backend_uid &&
	    (b->fate == LB_FATE_RESET || b->fate == LB_FATE_DRAIN_RESET)) {
		/* Its backend is out and its flows reset: nothing more goes to the client. */
		worker_reset_flow(w, f, b->fate);
		pk->drop = LB_DROP_FLOW_RESET;
		return;
	}
	fx = ext_of(w, f);
	if (f->user != 0 && (payload_len(pk, m) > 0 || (m->tcp_flags & (TCP_FIN | TCP_RST)) ||
			     m->l4_proto == IPPROTO_UDP)) {
		/* An answer to the client's data (counted first if it came too late). */
		if (resp_timeout_due(w, f)) {
			nat_rt_count(w, f, fx);
		} else {
			w->ctr->vip[f->vip_slot].responded++;
			w->ctr->backend[f->backend_slot].responded++;
		}
		f->user = 0;
	}
	if (!fx->answered) {
		/* The backend's first answer: passive health, and maybe a refusal. */
		struct flow_key fk = f->key;

		if (f->key.proto == IPPROTO_TCP && f->state == FLOW_TCP_SYN &&
		    (m->tcp_flags & TCP_RST) && redispatch_connect_failed(w, s, f)) {
			/* The client's SYN goes elsewhere now, in this buffer. */
			pk->drop = LB_DROP_REDISPATCH;
			w->syn_taken = syn_take(w, &fk, pk);
			return;
		}
		syn_release(w, &fk);
		fx = ext_of(w, f);
		fx->answered = 1;
		w->ctr->vip[f->vip_slot].established++;
		w->ctr->backend[f->backend_slot].established++;
	}
	nat_pair_touch(w, f, m->tcp_flags, false);
	bool offload = s->ports[fx->client_port].tx_csum_offload;
	if (!ttl_decrement(pk, m)) {
		pk->drop = LB_DROP_TTL;
		return;
	}
	if (s->vips[f->vip_slot].mode == SL_MODE_FNAT)
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
