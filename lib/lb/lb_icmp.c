/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ICMP errors about a flow (RFC 792, 4443; RFC 5508 for NAT), sent on to the
 * side that sent the packet they quote, translated like that packet.
 */
#include "lb_stage.h"

/* IPv4 errors (unreachable, time exceeded) and ICMPv6 errors (1..4). */
bool icmp_is_error(const struct pkt_meta *m)
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
		sl_addr_set_v4(&q->key.src, ip + 12);
		sl_addr_set_v4(&q->key.dst, ip + 16);
	} else {
		if (avail < IP6_HLEN + 8 || (ip[0] >> 4) != 6)
			return false;
		q->hlen = IP6_HLEN; /* extension headers in a quote are not walked */
		proto = ip[6];
		sl_addr_set_v6(&q->key.src, ip + 8);
		sl_addr_set_v6(&q->key.dst, ip + 24);
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
static void quote_rewrite(struct quote *q, bool v6, const struct sl_addr *src, uint16_t sport_be,
			  const struct sl_addr *dst, uint16_t dport_be)
{
	uint32_t alen = v6 ? 16 : 4;
	uint8_t *udp_csum = q->key.proto == IPPROTO_UDP ? q->l4 + 6 : NULL;
	if (src != NULL)
		memcpy(q->ip + (v6 ? 8 : 12), v6 ? src->b : sl_addr_v4_bytes(src), alen);
	if (dst != NULL)
		memcpy(q->ip + (v6 ? 24 : 16), v6 ? dst->b : sl_addr_v4_bytes(dst), alen);
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
		pkt_put16(udp_csum, 0);
	if (!v6) {
		pkt_put16(q->ip + 10, 0);
		pkt_put16(q->ip + 10, pkt_csum_fold(pkt_csum_add(0, q->ip, q->hlen)));
	}
}

/* Recomputes the outer ICMP checksum and IPv4 header checksum (error path only). */
static void icmp_error_sums(struct lb_pkt *pk, const struct pkt_meta *m)
{
	uint8_t *ip = pk->data + m->l3_off, *icmp = pk->data + m->l4_off;
	uint32_t len = (uint32_t)(m->l3_end - m->l4_off);

	pkt_put16(icmp + 2, 0);
	if (m->is_v6) {
		pkt_put16(icmp + 2, icmp6_csum(ip, icmp, len));
	} else {
		pkt_put16(icmp + 2, pkt_csum_fold(pkt_csum_add(0, icmp, len)));
		pkt_put16(ip + 10, 0);
		pkt_put16(ip + 10,
			  pkt_csum_fold(pkt_csum_add(0, ip, (uint32_t)(m->l4_off - m->l3_off))));
	}
}

static void set_outer(struct lb_pkt *pk, const struct pkt_meta *m, const struct sl_addr *src,
		      const struct sl_addr *dst)
{
	uint8_t *ip = pk->data + m->l3_off;
	uint32_t alen = m->is_v6 ? 16 : 4;

	if (src != NULL)
		memcpy(ip + (m->is_v6 ? 8 : 12), m->is_v6 ? src->b : sl_addr_v4_bytes(src), alen);
	if (dst != NULL)
		memcpy(ip + (m->is_v6 ? 24 : 16), m->is_v6 ? dst->b : sl_addr_v4_bytes(dst), alen);
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
void icmp_error_forward(struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
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
		struct flow_key fk = f->key;
		if (unreachable && f->key.proto == IPPROTO_TCP && f->state == FLOW_TCP_SYN &&
		    !fx->answered && redispatch_connect_failed(w, s, f)) {
			/* The client's SYN goes elsewhere now, in this buffer. */
			pk->drop = LB_DROP_REDISPATCH;
			w->syn_taken = syn_take(w, &fk, pk);
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
	const struct lb_snap_backend *b = &s->backends[e->backend_slot];
	const struct lb_snap_vip *v = &s->vips[e->vip_slot];
	uint64_t word;
	if (b->uid != e->backend_uid)
		return;
	word = w->neigh->word[b->neigh_slot];
	if (!(word & LB_NEIGH_VALID)) {
		pk->drop = LB_DROP_NEIGH_UNRESOLVED;
		return;
	}
	if (v->mode == SL_MODE_FNAT || v->mode == SL_MODE_NAT) {
		const struct lb_flow_ext *x = ext_of(w, e);
		const struct sl_addr *la = v->mode == SL_MODE_FNAT ? &s->laddrs[x->laddr] : NULL;
		uint16_t lp = v->mode == SL_MODE_FNAT ? x->lport_be : 0;
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
 * The lcore that owns the flow an ICMP error quotes, where the quote tells:
 * about a full-NAT packet to a backend, the source port Sluice chose; about
 * a nat packet, either way, its client's address and port. LB_NO_SLOT when
 * the quote does not tell (an fnat or dsr client's flow went where RSS put
 * it): the error is handled where it arrived.
 */
uint32_t icmp_owner(const struct lb_worker *w, const struct lb_snapshot *s, struct lb_pkt *pk,
		    const struct pkt_meta *m)
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
		return s->vips[vip].mode == SL_MODE_NAT ? nat_owner(w, &q.key.dst, q.key.dport)
							: LB_NO_SLOT;
	return nat_owner(w, &q.key.src, q.key.sport); /* a client's packet to its backend */
}
