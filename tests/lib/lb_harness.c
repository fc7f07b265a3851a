/* SPDX-License-Identifier: BSD-3-Clause */
/* The pipeline tests' harness: lb_harness.h says what each piece is. */
#include "lb_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"
#include "scheduler.h"

const uint8_t PORT_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t PORT1_MAC[6] = {0x02, 0, 0, 0, 0, 0x02};
const uint8_t CLIENT_MAC[6] = {0x02, 0, 0, 0, 0, 0x99};
const uint8_t BE_MACS[4][6] = {
	{0x02, 0, 0, 0, 0x01, 0},
	{0x02, 0, 0, 0, 0x01, 1},
	{0x02, 0, 0, 0, 0x01, 2},
	{0x02, 0, 0, 0, 0x01, 3},
};

/* ---- small helpers ---- */

struct sl_addr addr(const char *text)
{
	struct sl_addr a;

	assert_int_equal(sl_addr_parse(&a, text), 0);
	return a;
}

void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void be_mac(uint8_t mac[6], uint8_t id)
{
	const uint8_t base[6] = {0x02, 0, 0, 0, 0x01, id};

	memcpy(mac, base, 6);
}

uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Internet checksum of <n> bytes: 0 when the bytes carry a valid checksum. */
uint16_t csum(const uint8_t *p, size_t n)
{
	return fold(sum16(0, p, n));
}

/* ICMPv6 (or any upper layer) checksum of the IPv6 packet at <ip6>, no ext headers. */
uint16_t csum6(const uint8_t *ip6)
{
	uint16_t plen = rd16(ip6 + 4);
	uint32_t s = sum16(0, ip6 + 8, 32);

	s += plen;
	s += ip6[6];
	return fold(sum16(s, ip6 + 40, plen));
}

bool ip_is_v6(const uint8_t *ip)
{
	return (ip[0] >> 4) == 6;
}

uint8_t *l4_of(uint8_t *ip)
{
	return ip + (ip_is_v6(ip) ? 40 : (ip[0] & 0x0f) * 4u);
}

/* Where the TCP/UDP checksum of the packet at <ip> is. */
uint8_t *l4_csum_field(uint8_t *ip)
{
	uint8_t proto = ip_is_v6(ip) ? ip[6] : ip[9];

	return l4_of(ip) + (proto == IPPROTO_TCP ? 16 : 6);
}

/*
 * The TCP/UDP checksum the packet at <ip> should carry, computed from scratch
 * (pseudo-header + segment, the checksum field taken as zero). A UDP checksum
 * that computes to 0 is sent as 0xffff (RFC 768).
 */
uint16_t l4_csum(uint8_t *ip)
{
	bool v6 = ip_is_v6(ip);
	uint8_t proto = v6 ? ip[6] : ip[9];
	uint8_t *l4 = l4_of(ip), *field = l4_csum_field(ip);
	uint32_t l4_len = v6 ? rd16(ip + 4) : (uint32_t)(rd16(ip + 2) - (l4 - ip));
	uint16_t saved = rd16(field);
	uint32_t s = v6 ? sum16(0, ip + 8, 32) : sum16(0, ip + 12, 8);
	uint16_t c;

	s += proto;
	s += l4_len;
	wr16(field, 0);
	c = fold(sum16(s, l4, l4_len));
	wr16(field, saved);
	return proto == IPPROTO_UDP && c == 0 ? 0xffff : c;
}

void assert_ip4_csum_ok(const uint8_t *ip)
{
	assert_int_equal(csum(ip, (ip[0] & 0x0f) * 4u), 0);
}

/* IPv4 header checksum (if IPv4) and TCP/UDP checksum as a fresh computation gives them. */
void assert_csums_ok(uint8_t *ip)
{
	if (!ip_is_v6(ip))
		assert_ip4_csum_ok(ip);
	assert_int_equal(rd16(l4_csum_field(ip)), l4_csum(ip));
}

uint16_t l3_off_of(const uint8_t *frame)
{
	return rd16(frame + 12) == ET_VLAN ? 18 : 14;
}

uint16_t build(uint8_t *buf, const struct spec *sp)
{
	struct sl_addr s = addr(sp->src), d = addr(sp->dst);
	bool v4 = sl_addr_is_v4(&d);
	uint16_t l4_len = (uint16_t)((sp->proto == IPPROTO_TCP ? 20 : 8) + sp->payload);
	uint16_t off = 12, len;
	uint8_t *ip, *l4;

	memcpy(buf, sp->dmac != NULL ? sp->dmac : PORT1_MAC, 6);
	memcpy(buf + 6, sp->smac != NULL ? sp->smac : CLIENT_MAC, 6);
	if (sp->vlan != 0) {
		wr16(buf + off, ET_VLAN);
		wr16(buf + off + 2, sp->vlan);
		off += 4;
	}
	wr16(buf + off, v4 ? ET_IPV4 : ET_IPV6);
	ip = buf + off + 2;
	if (v4) {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[1] = sp->tos;
		wr16(ip + 2, (uint16_t)(20 + l4_len));
		wr16(ip + 4, 0x1234);
		wr16(ip + 6, sp->df ? 0x4000 : 0);
		ip[8] = sp->ttl != 0 ? sp->ttl : 64;
		ip[9] = sp->proto;
		memcpy(ip + 12, sl_addr_v4_bytes(&s), 4);
		memcpy(ip + 16, sl_addr_v4_bytes(&d), 4);
		l4 = ip + 20;
	} else {
		memset(ip, 0, 40);
		ip[0] = (uint8_t)(0x60 | sp->tos >> 4);
		ip[1] = (uint8_t)(sp->tos << 4 | 0x0a); /* flow label 0xa5432 */
		ip[2] = 0x54;
		ip[3] = 0x32;
		wr16(ip + 4, l4_len);
		ip[6] = sp->proto;
		ip[7] = sp->ttl != 0 ? sp->ttl : 64;
		memcpy(ip + 8, s.b, 16);
		memcpy(ip + 24, d.b, 16);
		l4 = ip + 40;
	}
	memset(l4, 0, l4_len);
	wr16(l4, sp->sport);
	wr16(l4 + 2, sp->dport);
	if (sp->proto == IPPROTO_TCP) {
		wr16(l4 + 4, 0x0102);
		wr16(l4 + 6, 0x0304);
		l4[12] = 5 << 4;
		l4[13] = sp->flags;
		wr16(l4 + 14, 65535);
	} else {
		wr16(l4 + 4, l4_len);
	}
	for (uint16_t i = 0; i < sp->payload; i++)
		l4[l4_len - sp->payload + i] =
			sp->data != NULL ? sp->data[i] : (uint8_t)(i * 7 + 1);
	if (!(sp->proto == IPPROTO_UDP && sp->no_udp_csum))
		wr16(l4_csum_field(ip), l4_csum(ip));
	memset(l4 + l4_len, 0, sp->pad);
	len = (uint16_t)(l4 - buf + l4_len + sp->pad);
	if (v4 && sp->frag != 0)
		wr16(ip + 6, sp->frag);
	if (v4 && sp->ver_ihl != 0)
		ip[0] = sp->ver_ihl;
	if (v4 && sp->ip_len != 0) {
		wr16(ip + 2, sp->ip_len);
		len = (uint16_t)(ip - buf + sp->ip_len);
	}
	if (v4) {
		wr16(ip + 10, 0);
		wr16(ip + 10, (uint16_t)(csum(ip, 20) ^ sp->ip_csum_xor));
	}
	return sp->cut != 0 ? sp->cut : len;
}

uint8_t *ip_of(uint8_t *frame)
{
	return frame + l3_off_of(frame);
}

void assert_tx(const struct lb_pkt *pk, uint16_t out_port)
{
	if (pk->verdict != LB_VERDICT_TX)
		fail_msg("verdict %u, drop %s", pk->verdict, lb_drop_name((enum lb_drop)pk->drop));
	assert_int_equal(pk->drop, LB_DROP_NONE);
	assert_int_equal(pk->out_port, out_port);
}

void assert_drop(const struct lb_pkt *pk, enum lb_drop why)
{
	assert_int_equal(pk->verdict, LB_VERDICT_DROP);
	assert_string_equal(lb_drop_name((enum lb_drop)pk->drop), lb_drop_name(why));
}

void assert_invariant(const struct lb_counters *c)
{
	uint64_t sum = c->fwd + c->replied + c->to_mgmt + c->handoff + c->to_kernel;

	for (int i = 0; i < LB_DROP_MAX; i++)
		sum += c->drop[i];
	assert_int_equal(c->rx, sum);
}

int add_port(struct env *e, const char *name, const char *a4, uint8_t plen4, const char *a6,
	     uint8_t plen6, const uint8_t mac[6])
{
	struct conf_port cp;
	char err[256];

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.name, sizeof(cp.name), "%s", name);
	cp.has_ipv4 = true;
	cp.ipv4_plen = plen4;
	cp.has_ipv6 = true;
	cp.ipv6_plen = plen6;
	if (sl_addr_parse(&cp.ipv4, a4) != 0 || sl_addr_parse(&cp.ipv6, a6) != 0)
		return -1;
	return lb_model_port_add(e->m, &cp, mac, err, sizeof(err));
}

/* Replaces worker slot <i> by lcore <index> of <n_workers> with <capacity> flows. */
struct lb_worker *set_worker(struct env *e, uint32_t i, uint32_t index, uint32_t n_workers,
			     uint32_t capacity)
{
	struct flow_timeouts to;

	flow_timeouts_default(&to);
	lb_worker_free(e->w[i]);
	e->w[i] = lb_worker_create(index, n_workers, capacity, &to, e->nt, e->load);
	return e->w[i];
}

/* Lcores 0 .. n-1 of n, in slots 0 .. n-1. */
void set_workers(struct env *e, uint32_t n, uint32_t capacity)
{
	for (uint32_t i = 0; i < n; i++)
		assert_non_null(set_worker(e, i, i, n, capacity));
}

/* Compiles, swaps the current snapshot (single-threaded: no grace period) and publishes. */
void recompile(struct env *e)
{
	uint32_t slots[16];
	struct lb_snapshot *s = lb_model_compile(e->m);

	assert_non_null(s);
	lb_snapshot_free(e->s);
	e->s = s;
	/* Publishes the neighbour words (static MACs) the way the management loop does. */
	lb_neigh_due(e->m, e->nt, e->now, REACHABLE_MS, RETRY_MS, slots, ARRAY_SIZE(slots));
}

/* ---- cmocka fixtures ---- */

static int env_setup(void **state, bool two_ports)
{
	struct env *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return -1;
	*state = e;
	e->m = lb_model_create();
	e->nt = calloc(1, sizeof(*e->nt));
	e->load = calloc(1, sizeof(*e->load));
	e->now = 1000;
	if (e->m == NULL || e->nt == NULL || e->load == NULL)
		return -1;
	if (add_port(e, "backends", PORT4, 24, PORT6, 64, PORT_MAC) != 0)
		return -1;
	if (two_ports && add_port(e, "clients", PORT1_4, 24, PORT1_6, 64, PORT1_MAC) != 0)
		return -1;
	if (set_worker(e, 0, 0, 1, 1024) == NULL)
		return -1;
	return 0;
}

int env_setup_one_port(void **state)
{
	return env_setup(state, false);
}

int env_setup_two_ports(void **state)
{
	return env_setup(state, true);
}

int env_teardown(void **state)
{
	struct env *e = *state;

	for (uint32_t i = 0; i < MAX_WORKERS; i++)
		lb_worker_free(e->w[i]);
	lb_snapshot_free(e->s);
	lb_model_free(e->m);
	free(e->nt);
	free(e->load);
	free(e);
	return 0;
}

/* ---- fixture tables ---- */

static void case_vip(struct env *e, const char *a, uint16_t port, uint8_t proto, enum sl_mode mode)
{
	bool v4 = strchr(a, ':') == NULL;
	bool translates = mode == SL_MODE_FNAT || mode == SL_MODE_NAT;
	struct conf_backend b;
	struct conf_vip v;
	char err[256] = "";
	int rc;

	memset(&b, 0, sizeof(b));
	b.addr = addr(v4 ? LB_CASE_BE4 : LB_CASE_BE6);
	b.port = translates ? 8080 : 0;
	b.weight = 1;
	b.has_mac = true;
	be_mac(b.mac, LB_CASE_BE_ID);
	memset(&v, 0, sizeof(v));
	v.addr = addr(a);
	v.port = port;
	v.proto = proto;
	v.mode = (uint8_t)mode;
	v.sched = SCHED_KIND_RR;
	v.hash = SL_HASH_5TUPLE;
	v.maglev_size = MAGLEV_M;
	v.backends = &b;
	v.n_backends = 1;
	if (mode == SL_MODE_FNAT) {
		v.local_addrs[0] = addr(v4 ? LB_CASE_LADDR4 : LB_CASE_LADDR6);
		v.n_local_addrs = 1;
	}
	rc = lb_model_vip_add(e->m, &v, err, sizeof(err));
	if (rc < 0)
		fail_msg("lb_model_vip_add %s:%u: %d %s", a, port, rc, err);
}

/* The first byte where two frames differ, as a message. */
static void fail_frame(const char *what, const uint8_t *got, uint16_t got_len, const uint8_t *want,
		       uint16_t want_len)
{
	uint16_t i = 0;

	while (i < got_len && i < want_len && got[i] == want[i])
		i++;
	fail_msg(
		"%s: output frame differs at byte %u (length %u, want %u): got 0x%02x, want 0x%02x",
		what, i, got_len, want_len, i < got_len ? got[i] : 0, i < want_len ? want[i] : 0);
}

static void case_run(const struct lb_case *c)
{
	uint8_t buf[2048], want[2048];
	struct lb_pkt pk = {.data = buf, .cap = sizeof(buf)};
	const struct lb_counters *ctr;
	void *state = NULL;
	struct env *e;

	/* Returns, not only fail_msg(): the analyzer does not know cmocka's never returns. */
	if (env_setup_two_ports(&state) != 0 || state == NULL) {
		if (state != NULL)
			env_teardown(&state);
		fail_msg("%s: environment set-up failed", c->what);
		return;
	}
	e = state;
	case_vip(e, VIP4, 80, IPPROTO_TCP, c->mode);
	case_vip(e, VIP4, 53, IPPROTO_UDP, c->mode);
	case_vip(e, VIP6, 443, IPPROTO_TCP, c->mode);
	recompile(e);
	pk.len = build(buf, &c->in);
	pk.in_port = c->in_backends ? P_BACKENDS : P_CLIENTS;
	pk.rx_csum = c->rx_csum;
	lb_worker_process(e->w[0], e->s, &pk, 1, e->now);

	ctr = e->w[0]->ctr;
	if (pk.verdict != c->verdict || (c->verdict == LB_VERDICT_DROP && pk.drop != c->drop))
		fail_msg("%s: verdict %u drop %s, want verdict %u drop %s", c->what, pk.verdict,
			 lb_drop_name((enum lb_drop)pk.drop), c->verdict,
			 lb_drop_name((enum lb_drop)c->drop));
	if (c->verdict == LB_VERDICT_DROP) {
		if (ctr->drop[c->drop] != 1)
			fail_msg("%s: drop counter %s is %llu, want 1", c->what,
				 lb_drop_name((enum lb_drop)c->drop),
				 (unsigned long long)ctr->drop[c->drop]);
	} else if (pk.drop != LB_DROP_NONE) {
		fail_msg("%s: verdict %u with drop %s", c->what, pk.verdict,
			 lb_drop_name((enum lb_drop)pk.drop));
	}
	if (c->verdict == LB_VERDICT_TX && pk.out_port != c->out_port)
		fail_msg("%s: out of port %u, want %u", c->what, pk.out_port, c->out_port);
	if (c->out.src != NULL) {
		uint16_t want_len = build(want, &c->out);

		if (pk.len != want_len || memcmp(buf, want, want_len) != 0)
			fail_frame(c->what, buf, pk.len, want, want_len);
	}
	if (flow_table_count(e->w[0]->flows) != c->flows)
		fail_msg("%s: %u flows held, want %u", c->what, flow_table_count(e->w[0]->flows),
			 c->flows);
	if (ctr->rx != 1)
		fail_msg("%s: rx %llu, want 1", c->what, (unsigned long long)ctr->rx);
	assert_invariant(ctr);
	env_teardown(&state);
}

void lb_cases_run(const struct lb_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		case_run(&cases[i]);
}
