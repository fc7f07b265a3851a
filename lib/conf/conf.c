/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration loader: libyaml document API -> struct conf.
 *
 * Shape: a handful of typed getters (string, integer in a range, duration,
 * enum, address, prefix, MAC) that find a key in a mapping, check the value
 * and report "file:line:column: field.path: message" on failure, and one
 * decode function per section built from them. The first problem found stops
 * the load; everything is decoded into a scratch struct conf that is freed on
 * error, so the caller's struct is only ever empty or complete.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "flow.h"
#include "maglev.h"
#include "scheduler.h"

#define DEFAULT_API_SOCKET     "/run/sluice/dataplane.sock"
#define DEFAULT_CONTROL_SOCKET "/run/sluice/control.sock"
#define DEFAULT_BIRD_SOCKET    "/run/bird/bird.ctl"
#define DEFAULT_BIRD_PROTOCOL  "sluice_vips"
#define DEFAULT_FLOW_CAPACITY  1048576u
#define MAX_FLOW_CAPACITY      67108864u /* 2^26, flow_table_create()'s limit */
#define DEFAULT_NEIGH_REACH_MS 30000u
#define DEFAULT_NEIGH_RETRY_MS 1000u
#define DEFAULT_API_IDLE_MS    60000u
#define MAX_API_IDLE_S         86400u

/*
 * Longest duration accepted, in seconds. The flow table compares 32-bit
 * millisecond stamps with wrap-around arithmetic, so anything near 2^31 ms
 * (24.8 days) would misbehave; a week is far more than any sane idle timeout.
 */
#define MAX_TIMEOUT_S     604800u
#define MAX_NEIGH_REACH_S 86400u
#define MAX_NEIGH_RETRY_S 3600u

#define FIELD_PATH_MAX 256
#define QUOTE_MAX      48 /* longest user value echoed back in a message */

/* One load in progress. */
struct ctx {
	yaml_document_t *doc;
	const char *name; /* file name for messages */
	char *err;
	size_t errlen;
	uint32_t n_backends; /* decoded so far, over all VIPs */
};

/* A scalar found by get_scalar(): the node, its text and its field path. */
struct val {
	yaml_node_t *node;
	const char *s;
	char path[FIELD_PATH_MAX];
	char quoted[QUOTE_MAX + 4]; /* see quoted() */
};

/* ------------------------------------------------------------------------ */
/* enum names (the enums' own: sl_types.h, scheduler.h)                     */

int conf_redispatch_off_parse(const char *s)
{
	return name_parse(&sl_redispatch_names, s);
}

static const char *const hc_kind[] = {
	[CONF_HC_NONE] = "none", [CONF_HC_TCP] = "tcp",   [CONF_HC_HTTP] = "http",
	[CONF_HC_UDP] = "udp",   [CONF_HC_EXEC] = "exec",
};
static const struct name_table hc_kind_names = NAME_TABLE(hc_kind);

/* Longest "[address]:port" text, NUL included. */
#define ENDPOINT_STRLEN (SL_ADDR_STRLEN + 8)

/* "198.18.0.11:80" or "[2001:db8::11]:80"; returns buf. */
static const char *endpoint(const struct sl_addr *a, uint16_t port, char buf[ENDPOINT_STRLEN])
{
	char text[SL_ADDR_STRLEN];
	bool v4 = sl_addr_is_v4(a);

	snprintf(buf, ENDPOINT_STRLEN, "%s%s%s:%u", v4 ? "" : "[",
		 sl_addr_format(a, text, sizeof(text)), v4 ? "" : "]", port);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* error reporting                                                          */

/* Writes the message into the caller's buffer (truncated, always terminated). */
static void set_err(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->err == NULL || x->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
}

/*
 * Reports a problem at <n> (1-based line and column) for field <path>
 * (may be empty at the top level).
 */
static void report(struct ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report(struct ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(x, "%s:%zu:%zu: %s%s%s", x->name, n->start_mark.line + 1, n->start_mark.column + 1,
		path, *path != '\0' ? ": " : "", msg);
}

/*
 * report(), then -EINVAL: `return fail(x, n, path, fmt, ...);`. A macro so
 * that the -EINVAL is in sight of the caller: the static analyzer does not
 * follow a variadic function's return value, and took a getter's failure
 * for success (reading a value it never set).
 */
#define fail(...) (report(__VA_ARGS__), -EINVAL)

static int line_of(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

/* <s> as it is echoed in messages: shortened, control characters as '?'. */
static const char *quote(const char *s, char buf[QUOTE_MAX + 4])
{
	size_t i;

	for (i = 0; i < QUOTE_MAX && s[i] != '\0'; i++)
		buf[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	if (s[i] != '\0') {
		memcpy(&buf[i], "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* The value as echoed in a message about it. */
static const char *quoted(struct val *v)
{
	return quote(v->s, v->quoted);
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return n->data.scalar.length == 0 ? "an empty value" : "a single value";
	default:
		return "nothing";
	}
}

/* ------------------------------------------------------------------------ */
/* node access                                                              */

/* An empty plain value ("key:" with nothing after it), "~" or "null". */
static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)n->data.scalar.value;
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0;
}

/*
 * Field paths: "vips[0].backends[2].weight" is <path> + <sep> + <tail>.
 * Keys and indices are short, so a path never comes near the limit; if one
 * did it would merely be cut short.
 */
static void join(char *out, const char *path, const char *sep, const char *tail)
{
	const char *part[3] = {path, sep, tail};
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		size_t len = strnlen(part[i], FIELD_PATH_MAX - 1 - n);

		memcpy(out + n, part[i], len);
		n += len;
	}
	out[n] = '\0';
}

static void join_key(char *out, const char *path, const char *key)
{
	join(out, path, *path != '\0' ? "." : "", key);
}

static void join_index(char *out, const char *path, size_t i)
{
	char idx[24];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	join(out, path, "", idx);
}

/* The value of <key> in mapping <map>, or NULL. */
static yaml_node_t *lookup(struct ctx *x, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(x->doc, p->key);

		if (k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(x->doc, p->value);
	}
	return NULL;
}

static int expect_type(struct ctx *x, yaml_node_t *n, const char *path, yaml_node_type_t type)
{
	static const char *const want[] = {
		[YAML_SCALAR_NODE] = "a value",
		[YAML_SEQUENCE_NODE] = "a list",
		[YAML_MAPPING_NODE] = "a mapping",
	};

	if (n->type == type)
		return 0;
	return fail(x, n, path, "expected %s, got %s", want[type], node_kind(n));
}

/* Edit distance, for "did you mean" on unknown keys (keys are short). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], i, j;

	if (la >= 64 || lb >= 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int unknown_key(struct ctx *x, yaml_node_t *k, const char *path, const char *const *allowed)
{
	const char *key = (const char *)k->data.scalar.value;
	const char *best = NULL;
	size_t best_d = 3; /* suggest only close matches */
	char list[256] = "", q[QUOTE_MAX + 4];
	size_t off = 0;

	for (const char *const *a = allowed; *a != NULL; a++) {
		size_t d = distance(key, *a);

		if (d < best_d) {
			best_d = d;
			best = *a;
		}
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
					a == allowed ? "" : ", ", *a);
		if (off >= sizeof(list))
			off = sizeof(list) - 1;
	}
	if (best != NULL)
		return fail(x, k, path, "unknown key \"%s\" (did you mean \"%s\"?)", quote(key, q),
			    best);
	return fail(x, k, path, "unknown key \"%s\" (expected one of: %s)", quote(key, q), list);
}

/*
 * Checks that <n> is a mapping whose keys are plain names from <allowed>
 * (NULL-terminated), each at most once.
 */
static int check_map(struct ctx *x, yaml_node_t *n, const char *path, const char *const *allowed)
{
	yaml_node_pair_t *p, *q;
	char qk[QUOTE_MAX + 4];

	if (expect_type(x, n, path, YAML_MAPPING_NODE) < 0)
		return -EINVAL;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
		const char *key;
		const char *const *a;

		if (k->type != YAML_SCALAR_NODE)
			return fail(x, k, path, "expected a key name, got %s", node_kind(k));
		key = (const char *)k->data.scalar.value;
		for (a = allowed; *a != NULL && strcmp(*a, key) != 0; a++)
			;
		if (*a == NULL)
			return unknown_key(x, k, path, allowed);
		for (q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(x->doc, q->key);

			if (strcmp((const char *)k2->data.scalar.value, key) == 0)
				return fail(x, k, path, "duplicate key \"%s\" (first at line %d)",
					    quote(key, qk), line_of(k2));
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* typed getters: 1 = found and valid, 0 = absent (optional), -EINVAL       */

static int get_scalar(struct ctx *x, yaml_node_t *map, const char *path, const char *key,
		      bool required, struct val *v)
{
	v->node = lookup(x, map, key);
	join_key(v->path, path, key);
	if (v->node == NULL) {
		if (required)
			return fail(x, map, path, "missing required key \"%s\"", key);
		return 0;
	}
	if (expect_type(x, v->node, v->path, YAML_SCALAR_NODE) < 0)
		return -EINVAL;
	v->s = (const char *)v->node->data.scalar.value;
	if (strlen(v->s) != v->node->data.scalar.length)
		return fail(x, v->node, v->path, "value contains a NUL character");
	return 1;
}

/* A string of 1..size-1 characters; <name_like>: printable, no spaces. */
static int get_string(struct ctx *x, yaml_node_t *map, const char *path, const char *key,
		      bool required, bool name_like, char *out, size_t size)
{
	struct val v;
	int rc = get_scalar(x, map, path, key, required, &v);

	if (rc <= 0)
		return rc;
	if (v.s[0] == '\0')
		return fail(x, v.node, v.path, "must not be empty");
	if (strlen(v.s) >= size)
		return fail(x, v.node, v.path, "too long (at most %zu characters), got \"%s\"",
			    size - 1, quoted(&v));
	for (const char *c = v.s; name_like && *c != '\0'; c++)
		if (!isgraph((unsigned char)*c))
			return fail(x, v.node, v.path,
				    "expected printable characters without spaces, got \"%s\"",
				    quoted(&v));
	memcpy(out, v.s, strlen(v.s) + 1);
	return 1;
}

/* Plain decimal digits only: no sign, no 0x, no exponent. */
static bool parse_decimal(const char *s, uint64_t *out)
{
	uint64_t n = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || n > UINT32_MAX)
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = n;
	return true;
}

static int get_uint(struct ctx *x, yaml_node_t *map, const char *path, const char *key,
		    bool required, uint32_t min, uint32_t max, uint32_t *out)
{
	struct val v;
	uint64_t n;
	int rc = get_scalar(x, map, path, key, required, &v);

	if (rc <= 0)
		return rc;
	if (!parse_decimal(v.s, &n) || n < min || n > max)
		return fail(x, v.node, v.path, "expected an integer %u..%u, got \"%s\"", min, max,
			    quoted(&v));
	*out = (uint32_t)n;
	return 1;
}

/* "30" or "0.5" seconds (at most three decimals), stored in milliseconds. */
static int get_ms(struct ctx *x, yaml_node_t *map, const char *path, const char *key,
		  uint32_t max_s, uint32_t *out_ms)
{
	struct val v;
	char whole[16];
	const char *dot;
	uint64_t s = 0, frac = 0, ms;
	size_t nw, nf = 0;
	int rc = get_scalar(x, map, path, key, false, &v);

	if (rc <= 0)
		return rc;
	dot = strchr(v.s, '.');
	nw = dot != NULL ? (size_t)(dot - v.s) : strlen(v.s);
	if (dot != NULL) {
		nf = strlen(dot + 1);
		if (nf == 0 || nf > 3 || !parse_decimal(dot + 1, &frac))
			goto bad;
		while (nf++ < 3)
			frac *= 10;
	}
	if (nw == 0 || nw >= sizeof(whole))
		goto bad;
	memcpy(whole, v.s, nw);
	whole[nw] = '\0';
	if (!parse_decimal(whole, &s) || s > max_s)
		goto bad;
	ms = s * 1000 + frac;
	if (ms == 0 || ms > (uint64_t)max_s * 1000)
		goto bad;
	*out_ms = (uint32_t)ms;
	return 1;
bad:
	return fail(x, v.node, v.path,
		    "expected a number of seconds 0.001..%u (e.g. 30 or 0.5), got \"%s\"", max_s,
		    quoted(&v));
}

/* A name from table <t>; the message lists its names, e.g. "expected one of tcp | udp". */
static int get_enum(struct ctx *x, yaml_node_t *map, const char *path, const char *key,
		    const struct name_table *t, uint8_t *out)
{
	char choices[NAME_CHOICES_MAX];
	struct val v;
	int rc = get_scalar(x, map, path, key, false, &v);
	int e;

	if (rc <= 0)
		return rc;
	e = name_parse(t, v.s);
	if (e < 0)
		return fail(x, v.node, v.path, "expected one of %s, got \"%s\"",
			    name_choices(t, " | ", choices, sizeof(choices)), quoted(&v));
	*out = (uint8_t)e;
	return 1;
}

static int get_addr(struct ctx *x, yaml_node_t *map, const char *path, const char *key,
		    bool required, struct sl_addr *out, yaml_node_t **node)
{
	struct val v;
	int rc = get_scalar(x, map, path, key, required, &v);

	if (rc <= 0)
		return rc;
	if (sl_addr_parse(out, v.s) < 0)
		return fail(x, v.node, v.path, "expected an IPv4 or IPv6 address, got \"%s\"",
			    quoted(&v));
	if (node != NULL)
		*node = v.node;
	return 1;
}

/* An address with prefix length of the given family ("198.18.0.2/24"). */
static int get_prefix(struct ctx *x, yaml_node_t *map, const char *path, const char *key, bool v4,
		      struct sl_addr *a, uint8_t *plen)
{
	struct val v;
	int rc = get_scalar(x, map, path, key, false, &v);

	if (rc <= 0)
		return rc;
	if (sl_prefix_parse(a, plen, v.s) < 0 || sl_addr_is_v4(a) != v4)
		return fail(x, v.node, v.path,
			    "expected an %s address with prefix length (e.g. %s), got \"%s\"",
			    v4 ? "IPv4" : "IPv6", v4 ? "198.18.0.2/24" : "2001:db8::2/64",
			    quoted(&v));
	return 1;
}

/* Exactly six two-digit hex groups separated by colons. */
static int get_mac(struct ctx *x, yaml_node_t *map, const char *path, const char *key,
		   uint8_t mac[6])
{
	struct val v;
	int rc = get_scalar(x, map, path, key, false, &v);
	bool ok;

	if (rc <= 0)
		return rc;
	ok = strlen(v.s) == 17;
	for (int i = 0; ok && i < 17; i++)
		ok = i % 3 == 2 ? v.s[i] == ':' : isxdigit((unsigned char)v.s[i]) != 0;
	if (!ok || sl_mac_parse(mac, v.s) < 0)
		return fail(x, v.node, v.path,
			    "expected a MAC address like 02:00:00:00:00:0b, got \"%s\"",
			    quoted(&v));
	return 1;
}

/*
 * A nested section: <*out> is the mapping/list for <key>, or NULL when the key
 * is absent or its value is empty (null). Returns 0 or -EINVAL.
 */
static int get_section(struct ctx *x, yaml_node_t *map, const char *path, const char *key,
		       yaml_node_type_t type, yaml_node_t **out, char subpath[FIELD_PATH_MAX])
{
	yaml_node_t *n = lookup(x, map, key);

	join_key(subpath, path, key);
	*out = NULL;
	if (n == NULL || is_null(n))
		return 0;
	if (expect_type(x, n, subpath, type) < 0)
		return -EINVAL;
	*out = n;
	return 0;
}

static yaml_node_t *seq_item(struct ctx *x, yaml_node_t *seq, size_t i)
{
	return yaml_document_get_node(x->doc, seq->data.sequence.items.start[i]);
}

static size_t seq_len(const yaml_node_t *seq)
{
	return seq == NULL
		       ? 0
		       : (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

/* ------------------------------------------------------------------------ */
/* sections                                                                 */

static const char *const timeout_keys[] = {
	"tcp_syn", "tcp_established", "tcp_fin", "tcp_closed", "udp_new", "udp", NULL,
};
/* timeout_keys[i] sets timeout_ms[i]: the same order as enum flow_state. */
_Static_assert(sizeof(timeout_keys) / sizeof(timeout_keys[0]) == FLOW_STATE_MAX + 1,
	       "one key per flow state");
_Static_assert(sizeof(((struct conf_dataplane *)0)->timeout_ms) / sizeof(uint32_t) ==
		       FLOW_STATE_MAX,
	       "timeout_ms has one entry per flow state");

static int decode_timeouts(struct ctx *x, yaml_node_t *n, const char *path,
			   struct conf_dataplane *dp)
{
	if (check_map(x, n, path, timeout_keys) < 0)
		return -EINVAL;
	for (int i = 0; i < FLOW_STATE_MAX; i++)
		if (get_ms(x, n, path, timeout_keys[i], MAX_TIMEOUT_S, &dp->timeout_ms[i]) < 0)
			return -EINVAL;
	return 0;
}

static int decode_neighbour(struct ctx *x, yaml_node_t *n, const char *path,
			    struct conf_dataplane *dp)
{
	static const char *const keys[] = {"reachable", "retry", NULL};

	if (check_map(x, n, path, keys) < 0 ||
	    get_ms(x, n, path, "reachable", MAX_NEIGH_REACH_S, &dp->neigh_reachable_ms) < 0 ||
	    get_ms(x, n, path, "retry", MAX_NEIGH_RETRY_S, &dp->neigh_retry_ms) < 0)
		return -EINVAL;
	return 0;
}

static void dataplane_defaults(struct conf_dataplane *dp)
{
	struct flow_timeouts t;

	snprintf(dp->api_socket, sizeof(dp->api_socket), "%s", DEFAULT_API_SOCKET);
	dp->api_idle_timeout_ms = DEFAULT_API_IDLE_MS;
	dp->flow_capacity = DEFAULT_FLOW_CAPACITY;
	flow_timeouts_default(&t);
	memcpy(dp->timeout_ms, t.ms, sizeof(dp->timeout_ms));
	dp->neigh_reachable_ms = DEFAULT_NEIGH_REACH_MS;
	dp->neigh_retry_ms = DEFAULT_NEIGH_RETRY_MS;
}

static int decode_dataplane(struct ctx *x, yaml_node_t *n, const char *path,
			    struct conf_dataplane *dp)
{
	static const char *const keys[] = {
		"api_socket", "api_group", "api_idle_timeout", "flow_capacity", "timeouts",
		"neighbour",  NULL};
	char sub[FIELD_PATH_MAX];
	yaml_node_t *s;

	if (check_map(x, n, path, keys) < 0 ||
	    get_string(x, n, path, "api_socket", false, false, dp->api_socket,
		       sizeof(dp->api_socket)) < 0 ||
	    get_string(x, n, path, "api_group", false, true, dp->api_group, sizeof(dp->api_group)) <
		    0 ||
	    get_ms(x, n, path, "api_idle_timeout", MAX_API_IDLE_S, &dp->api_idle_timeout_ms) < 0 ||
	    get_uint(x, n, path, "flow_capacity", false, 1, MAX_FLOW_CAPACITY, &dp->flow_capacity) <
		    0)
		return -EINVAL;
	if (get_section(x, n, path, "timeouts", YAML_MAPPING_NODE, &s, sub) < 0 ||
	    (s != NULL && decode_timeouts(x, s, sub, dp) < 0))
		return -EINVAL;
	if (get_section(x, n, path, "neighbour", YAML_MAPPING_NODE, &s, sub) < 0 ||
	    (s != NULL && decode_neighbour(x, s, sub, dp) < 0))
		return -EINVAL;
	return 0;
}

static int decode_port(struct ctx *x, yaml_node_t *n, const char *path, struct conf_port *p)
{
	static const char *const keys[] = {"name", "devargs",          "ipv4",
					   "ipv6", "kernel_interface", NULL};
	int rc4, rc6;

	p->line = line_of(n);
	if (check_map(x, n, path, keys) < 0 ||
	    get_string(x, n, path, "name", true, true, p->name, sizeof(p->name)) < 0 ||
	    get_string(x, n, path, "devargs", true, false, p->devargs, sizeof(p->devargs)) < 0)
		return -EINVAL;
	rc4 = get_prefix(x, n, path, "ipv4", true, &p->ipv4, &p->ipv4_plen);
	if (rc4 < 0)
		return -EINVAL;
	rc6 = get_prefix(x, n, path, "ipv6", false, &p->ipv6, &p->ipv6_plen);
	if (rc6 < 0)
		return -EINVAL;
	p->has_ipv4 = rc4 > 0;
	p->has_ipv6 = rc6 > 0;
	if (get_string(x, n, path, "kernel_interface", false, true, p->kernel_if,
		       sizeof(p->kernel_if)) < 0)
		return -EINVAL;
	return 0;
}

static int decode_ports(struct ctx *x, yaml_node_t *root, struct conf *c)
{
	char path[FIELD_PATH_MAX], ipath[FIELD_PATH_MAX];
	yaml_node_t *seq;
	size_t n;

	if (lookup(x, root, "ports") == NULL)
		return fail(x, root, "", "missing required key \"ports\"");
	if (get_section(x, root, "", "ports", YAML_SEQUENCE_NODE, &seq, path) < 0)
		return -EINVAL;
	n = seq_len(seq);
	if (n == 0)
		return fail(x, lookup(x, root, "ports"), path, "at least one port is required");
	if (n > CONF_MAX_PORTS)
		return fail(x, seq, path, "at most %d ports (the data plane's limit), got %zu",
			    CONF_MAX_PORTS, n);
	c->ports = calloc(n, sizeof(*c->ports));
	if (c->ports == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(x, seq, i);
		struct conf_port *p = &c->ports[i];

		join_index(ipath, path, i);
		if (decode_port(x, item, ipath, p) < 0)
			return -EINVAL;
		c->n_ports++;
		for (size_t j = 0; j < i; j++) {
			char npath[FIELD_PATH_MAX];

			if (strcmp(c->ports[j].name, p->name) != 0)
				continue;
			join_key(npath, ipath, "name");
			return fail(x, lookup(x, item, "name"), npath,
				    "duplicate port name \"%s\" (first at line %d)", p->name,
				    c->ports[j].line);
		}
	}
	return 0;
}

static uint16_t backend_port(const struct conf_vip *v, const struct conf_backend *b)
{
	return b->port != 0 ? b->port : v->port;
}

static int decode_backend(struct ctx *x, yaml_node_t *n, const char *path, const struct conf_vip *v,
			  struct conf_backend *b)
{
	static const char *const keys[] = {"address", "port",     "weight",       "mac",
					   "state",   "priority", "health_check", NULL};
	uint32_t prio = 0;
	yaml_node_t *addr_node = NULL;
	uint32_t port = 0;
	int rc;

	b->line = line_of(n);
	b->weight = 1;
	b->admin = SL_ADMIN_READY;
	if (check_map(x, n, path, keys) < 0 ||
	    get_addr(x, n, path, "address", true, &b->addr, &addr_node) < 0 ||
	    get_uint(x, n, path, "port", false, 1, 65535, &port) < 0 ||
	    get_uint(x, n, path, "weight", false, 0, 65535, &b->weight) < 0 ||
	    get_enum(x, n, path, "state", &sl_admin_names, &b->admin) < 0 ||
	    get_uint(x, n, path, "priority", false, 0, 7, &prio) < 0)
		return -EINVAL;
	b->priority = (uint8_t)prio;
	rc = get_mac(x, n, path, "mac", b->mac);
	if (rc < 0)
		return -EINVAL;
	b->has_mac = rc > 0;
	b->port = (uint16_t)port;
	if (sl_addr_is_v4(&b->addr) != sl_addr_is_v4(&v->addr)) {
		char apath[FIELD_PATH_MAX];

		join_key(apath, path, "address");
		return fail(x, addr_node, apath, "an %s backend cannot serve an %s VIP",
			    sl_addr_is_v4(&b->addr) ? "IPv4" : "IPv6",
			    sl_addr_is_v4(&v->addr) ? "IPv4" : "IPv6");
	}
	return 0;
}

static int decode_backends(struct ctx *x, yaml_node_t *vn, const char *vpath, struct conf_vip *v)
{
	char path[FIELD_PATH_MAX], ipath[FIELD_PATH_MAX], ep[ENDPOINT_STRLEN];
	yaml_node_t *seq;
	size_t n;

	if (get_section(x, vn, vpath, "backends", YAML_SEQUENCE_NODE, &seq, path) < 0)
		return -EINVAL;
	n = seq_len(seq);
	if (n == 0)
		return 0;
	if (n > CONF_MAX_BACKENDS - x->n_backends)
		return fail(x, seq, path,
			    "at most %d backends over all VIPs (the data plane's limit), got %zu "
			    "here after %u before",
			    CONF_MAX_BACKENDS, n, x->n_backends);
	x->n_backends += (uint32_t)n;
	v->backends = calloc(n, sizeof(*v->backends));
	if (v->backends == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(x, seq, i);
		struct conf_backend *b = &v->backends[i];

		join_index(ipath, path, i);
		if (decode_backend(x, item, ipath, v, b) < 0)
			return -EINVAL;
		v->n_backends++;
		for (size_t j = 0; j < i; j++) {
			const struct conf_backend *o = &v->backends[j];

			if (sl_addr_eq(&o->addr, &b->addr) &&
			    backend_port(v, o) == backend_port(v, b))
				return fail(x, item, ipath,
					    "duplicate backend %s (first at line %d)",
					    endpoint(&b->addr, backend_port(v, b), ep), o->line);
		}
	}
	return 0;
}

static bool is_prime(uint32_t m)
{
	if (m < 2)
		return false;
	for (uint32_t d = 2; d <= m / d; d++)
		if (m % d == 0)
			return false;
	return true;
}

_Static_assert(CONF_MAX_BACKENDS <= MAGLEV_MAX_BACKENDS, "any pool fits a Maglev table");

/* A name as Sluice takes it: 1..CONF_NAME_MAX-1 printable characters, no spaces. */
static bool name_ok(const char *s)
{
	size_t i;

	for (i = 0; i < CONF_NAME_MAX && s[i] != '\0'; i++)
		if (!isgraph((unsigned char)s[i]))
			return false;
	return i > 0 && i < CONF_NAME_MAX;
}

/* Why <a> cannot be an address of a service (clients send to it), or NULL. */
static const char *not_a_service_addr(const struct sl_addr *a)
{
	static const struct sl_addr any6, loopback6 = {.b = {[15] = 1}};
	const uint8_t *b = sl_addr_v4_bytes(a);

	if (!sl_addr_is_v4(a))
		return sl_addr_eq(a, &any6)        ? "the unspecified address"
		       : sl_addr_eq(a, &loopback6) ? "a loopback address"
		       : a->b[0] == 0xff           ? "a multicast address"
						   : NULL;
	if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
		return "the broadcast address";
	return b[0] == 0                   ? "\"this network\" (0.0.0.0/8), never a destination"
	       : b[0] == 127               ? "a loopback address"
	       : b[0] >= 224 && b[0] < 240 ? "a multicast address"
					   : NULL;
}

static int problem(struct conf_problem *p, const char *key, int index, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int problem(struct conf_problem *p, const char *key, int index, const char *fmt, ...)
{
	va_list ap;

	p->key = key;
	p->index = index;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int conf_vip_check(const struct conf_vip *v, struct conf_problem *p)
{
	char q[QUOTE_MAX + 4], ip[SL_ADDR_STRLEN];
	const char *why;

	if (v->name[0] != '\0' && !name_ok(v->name))
		return problem(p, "name", -1,
			       "expected printable characters without spaces, got \"%s\"",
			       quote(v->name, q));
	why = not_a_service_addr(&v->addr);
	if (why != NULL)
		return problem(p, "address", -1, "%s cannot be a VIP: %s",
			       sl_addr_format(&v->addr, ip, sizeof(ip)), why);
	if (v->n_local_addrs > CONF_MAX_LOCAL_ADDRS)
		return problem(p, "local_addresses", -1, "at most %d local addresses, got %u",
			       CONF_MAX_LOCAL_ADDRS, v->n_local_addrs);
	if (v->mode == SL_MODE_FNAT && v->n_local_addrs == 0)
		return problem(p, "mode", -1,
			       "mode fnat needs local_addresses (the source addresses used "
			       "towards the backends)");
	for (uint32_t i = 0; i < v->n_local_addrs; i++) {
		const struct sl_addr *a = &v->local_addrs[i];

		sl_addr_format(a, ip, sizeof(ip));
		if (sl_addr_is_v4(a) != sl_addr_is_v4(&v->addr))
			return problem(p, "local_addresses", (int)i,
				       "must be of the VIP's address family");
		if (sl_addr_eq(a, &v->addr))
			return problem(p, "local_addresses", (int)i,
				       "%s is the VIP's own address: a local address must be "
				       "another one",
				       ip);
		why = not_a_service_addr(a);
		if (why != NULL)
			return problem(p, "local_addresses", (int)i,
				       "%s cannot be a local address: %s", ip, why);
		for (uint32_t j = 0; j < i; j++)
			if (sl_addr_eq(&v->local_addrs[j], a))
				return problem(p, "local_addresses", (int)i,
					       "duplicate local address %s", ip);
	}
	if (v->maglev_size < 2 || v->maglev_size > CONF_MAX_MAGLEV_SIZE)
		return problem(p, "maglev_table_size", -1,
			       "%u is out of range 2..%u (each entry costs 2 bytes per VIP)",
			       v->maglev_size, CONF_MAX_MAGLEV_SIZE);
	if (!is_prime(v->maglev_size))
		return problem(p, "maglev_table_size", -1,
			       "%u is not a prime number (try 65537, 131071 or 1048573)",
			       v->maglev_size);
	if (v->maglev_size <= v->n_backends)
		return problem(p, "maglev_table_size", -1,
			       "%u must be greater than the number of backends (%u)",
			       v->maglev_size, v->n_backends);
	if (v->mode == SL_MODE_FNAT || v->mode == SL_MODE_NAT)
		return 0;
	/* What acts on the backends' replies needs them to pass through Sluice. */
	if (v->response_timeout_ms > 0)
		return problem(p, "response_timeout", -1,
			       "needs a mode in which replies pass through Sluice (fnat, nat), "
			       "not %s",
			       sl_mode_name(v->mode));
	if (v->redispatch_off || v->syn_timeout_ms != 0)
		return problem(p, v->redispatch_off ? "redispatch" : "syn_timeout", -1,
			       "needs a mode in which replies pass through Sluice (fnat, nat), "
			       "not %s",
			       sl_mode_name(v->mode));
	return 0;
}

/* conf_vip_check() on a decoded VIP, its problem reported at the node at fault. */
static int check_vip(struct ctx *x, yaml_node_t *n, const char *path, const struct conf_vip *v)
{
	char kpath[FIELD_PATH_MAX], ipath[FIELD_PATH_MAX];
	struct conf_problem p;
	yaml_node_t *at;

	if (conf_vip_check(v, &p) == 0)
		return 0;
	join_key(kpath, path, p.key);
	at = lookup(x, n, p.key);
	if (at == NULL)
		return fail(x, n, path, "%s: %s", p.key, p.msg);
	if (p.index >= 0 && at->type == YAML_SEQUENCE_NODE && (size_t)p.index < seq_len(at)) {
		join_index(ipath, kpath, (size_t)p.index);
		return fail(x, seq_item(x, at, (size_t)p.index), ipath, "%s", p.msg);
	}
	return fail(x, at, kpath, "%s", p.msg);
}

/*
 * failover / slow_start / breaker: how the control daemon turns health and
 * passive signals into weights (docs/control.md). Percentages are integers.
 */
static int decode_policy(struct ctx *x, yaml_node_t *vn, const char *vpath, struct conf_vip *v)
{
	static const char *const fkeys[] = {"overprovisioning", "panic_threshold", NULL};
	static const char *const bkeys[] = {"consecutive_failures",
					    "failure_ratio",
					    "min_flows",
					    "window",
					    "base_ejection",
					    "max_ejection",
					    "max_ejection_percent",
					    "half_open_permits",
					    NULL};
	struct conf_policy *p = &v->policy;
	char path[FIELD_PATH_MAX];
	yaml_node_t *n;

	p->overprovisioning_pct = 140;
	p->panic_threshold_pct = 50;
	p->slow_start_ms = 0;
	p->breaker = false;
	p->consecutive_failures = 5;
	p->failure_ratio_pct = 85;
	p->min_flows = 50;
	p->window_ms = 10000;
	p->base_ejection_ms = 30000;
	p->max_ejection_ms = 300000;
	p->max_ejection_percent = 10;
	p->half_open_permits = 3;
	if (get_ms(x, vn, vpath, "slow_start", 3600, &p->slow_start_ms) < 0)
		return -EINVAL;
	if (get_section(x, vn, vpath, "failover", YAML_MAPPING_NODE, &n, path) < 0)
		return -EINVAL;
	if (n != NULL &&
	    (check_map(x, n, path, fkeys) < 0 ||
	     get_uint(x, n, path, "overprovisioning", false, 100, 1000, &p->overprovisioning_pct) <
		     0 ||
	     get_uint(x, n, path, "panic_threshold", false, 0, 100, &p->panic_threshold_pct) < 0))
		return -EINVAL;
	if (get_section(x, vn, vpath, "breaker", YAML_MAPPING_NODE, &n, path) < 0)
		return -EINVAL;
	if (n == NULL)
		return 0;
	p->breaker = true;
	if (check_map(x, n, path, bkeys) < 0 ||
	    get_uint(x, n, path, "consecutive_failures", false, 0, 1000000,
		     &p->consecutive_failures) < 0 ||
	    get_uint(x, n, path, "failure_ratio", false, 0, 100, &p->failure_ratio_pct) < 0 ||
	    get_uint(x, n, path, "min_flows", false, 1, 1000000000, &p->min_flows) < 0 ||
	    get_ms(x, n, path, "window", 3600, &p->window_ms) < 0 ||
	    get_ms(x, n, path, "base_ejection", 86400, &p->base_ejection_ms) < 0 ||
	    get_ms(x, n, path, "max_ejection", 86400, &p->max_ejection_ms) < 0 ||
	    get_uint(x, n, path, "max_ejection_percent", false, 0, 100, &p->max_ejection_percent) <
		    0 ||
	    get_uint(x, n, path, "half_open_permits", false, 1, 1000, &p->half_open_permits) < 0)
		return -EINVAL;
	if (p->max_ejection_ms < p->base_ejection_ms)
		return fail(x, n, path, "max_ejection must not be below base_ejection");
	return 0;
}

/*
 * health_check: the control daemon's active check of every backend of the
 * VIP (docs/control.md). Durations in seconds; defaults as docs/control.md.
 */
/*
 * A health_check mapping read over <h>: the keys present replace what <h>
 * holds, so a backend's own health_check starts from its VIP's.
 */
static int decode_health_keys(struct ctx *x, yaml_node_t *n, const char *path,
			      struct conf_health *h)
{
	static const char *const keys[] = {"type",          "address",   "port",   "path",
					   "expect_status", "send",      "expect", "command",
					   "interval",      "timeout",   "rise",   "fall",
					   "fastinter",     "downinter", "jitter", NULL};
	uint32_t port = h->port, status = h->expect_status;
	yaml_node_t *addr_node = NULL;
	struct sl_addr addr;
	int rc;

	if (check_map(x, n, path, keys) < 0 ||
	    get_enum(x, n, path, "type", &hc_kind_names, &h->kind) < 0)
		return -EINVAL;
	/* Where the checks go, when not to the backend: HAProxy's addr, keepalived's connect_ip. */
	rc = get_addr(x, n, path, "address", false, &addr, &addr_node);
	if (rc < 0)
		return -EINVAL;
	if (rc > 0) {
		const char *why = not_a_service_addr(&addr);
		char apath[FIELD_PATH_MAX];

		join_key(apath, path, "address");
		if (why != NULL)
			return fail(x, addr_node, apath, "a check cannot go to %s", why);
		h->has_addr = true;
		h->addr = addr;
	}
	if (get_uint(x, n, path, "port", false, 1, 65535, &port) < 0 ||
	    get_string(x, n, path, "path", false, true, h->path, sizeof(h->path)) < 0 ||
	    get_uint(x, n, path, "expect_status", false, 100, 599, &status) < 0 ||
	    get_string(x, n, path, "send", false, false, h->send, sizeof(h->send)) < 0 ||
	    get_string(x, n, path, "expect", false, false, h->expect, sizeof(h->expect)) < 0 ||
	    get_string(x, n, path, "command", false, false, h->command, sizeof(h->command)) < 0 ||
	    get_ms(x, n, path, "interval", 3600, &h->interval_ms) < 0 ||
	    get_ms(x, n, path, "timeout", 3600, &h->timeout_ms) < 0 ||
	    get_uint(x, n, path, "rise", false, 1, 100, &h->rise) < 0 ||
	    get_uint(x, n, path, "fall", false, 1, 100, &h->fall) < 0 ||
	    get_ms(x, n, path, "fastinter", 3600, &h->fastinter_ms) < 0 ||
	    get_ms(x, n, path, "downinter", 3600, &h->downinter_ms) < 0 ||
	    get_uint(x, n, path, "jitter", false, 0, 100, &h->jitter_pct) < 0)
		return -EINVAL;
	h->port = (uint16_t)port;
	h->expect_status = (uint16_t)status;
	if (h->kind == CONF_HC_EXEC && h->command[0] == '\0')
		return fail(x, n, path, "type exec needs a command");
	if (h->kind == CONF_HC_UDP && h->send[0] == '\0')
		return fail(x, n, path, "type udp needs a payload to send (send:)");
	return 0;
}

static int decode_health(struct ctx *x, yaml_node_t *vn, const char *vpath, struct conf_vip *v)
{
	struct conf_health *h = &v->hc;
	char path[FIELD_PATH_MAX];
	yaml_node_t *n;

	h->kind = CONF_HC_NONE;
	h->interval_ms = 2000;
	h->timeout_ms = 1000;
	h->rise = 2;
	h->fall = 3;
	h->jitter_pct = 100;
	snprintf(h->path, sizeof(h->path), "/");
	h->expect_status = 200;
	if (get_section(x, vn, vpath, "health_check", YAML_MAPPING_NODE, &n, path) < 0)
		return -EINVAL;
	if (n == NULL)
		return 0;
	return decode_health_keys(x, n, path, h);
}

/*
 * Each backend's check: its VIP's, with the keys of its own health_check
 * (if any) on top, so one slow or special backend gets its own interval,
 * timeout, port or path without a VIP of its own.
 */
static int decode_backend_health(struct ctx *x, yaml_node_t *vn, const char *vpath,
				 struct conf_vip *v)
{
	char path[FIELD_PATH_MAX], ipath[FIELD_PATH_MAX], hpath[FIELD_PATH_MAX];
	yaml_node_t *seq, *n;

	for (uint32_t i = 0; i < v->n_backends; i++)
		v->backends[i].hc = v->hc;
	if (get_section(x, vn, vpath, "backends", YAML_SEQUENCE_NODE, &seq, path) < 0)
		return -EINVAL;
	for (uint32_t i = 0; seq != NULL && i < v->n_backends; i++) {
		join_index(ipath, path, i);
		if (get_section(x, seq_item(x, seq, i), ipath, "health_check", YAML_MAPPING_NODE,
				&n, hpath) < 0)
			return -EINVAL;
		if (n == NULL)
			continue;
		v->backends[i].has_hc = true;
		if (decode_health_keys(x, n, hpath, &v->backends[i].hc) < 0)
			return -EINVAL;
	}
	return 0;
}

/*
 * local_addresses: the source addresses full-NAT puts on packets to the
 * backends (their replies come back to them). Required for fnat, of the
 * VIP's family, at most CONF_MAX_LOCAL_ADDRS, no duplicates.
 */
static int decode_local_addrs(struct ctx *x, yaml_node_t *vn, const char *vpath, struct conf_vip *v)
{
	char path[FIELD_PATH_MAX], ipath[FIELD_PATH_MAX], q[QUOTE_MAX + 4];
	yaml_node_t *seq;
	size_t n;

	if (get_section(x, vn, vpath, "local_addresses", YAML_SEQUENCE_NODE, &seq, path) < 0)
		return -EINVAL;
	n = seq != NULL ? seq_len(seq) : 0;
	if (n == 0) {
		if (v->mode == SL_MODE_FNAT)
			return fail(x, vn, vpath,
				    "mode fnat needs local_addresses (the source addresses used "
				    "towards the backends)");
		return 0;
	}
	if (n > CONF_MAX_LOCAL_ADDRS)
		return fail(x, seq, path, "at most %d local addresses, got %zu",
			    CONF_MAX_LOCAL_ADDRS, n);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(x, seq, i);
		struct sl_addr *a = &v->local_addrs[i];

		join_index(ipath, path, i);
		if (expect_type(x, item, ipath, YAML_SCALAR_NODE) < 0)
			return -EINVAL;
		if (sl_addr_parse(a, (const char *)item->data.scalar.value) < 0)
			return fail(x, item, ipath, "expected an IPv4 or IPv6 address, got \"%s\"",
				    quote((const char *)item->data.scalar.value, q));
		v->n_local_addrs++;
	}
	return 0;
}

static int decode_vip(struct ctx *x, yaml_node_t *n, const char *path, struct conf_vip *v)
{
	static const char *const keys[] = {"name",
					   "address",
					   "port",
					   "protocol",
					   "mode",
					   "scheduler",
					   "hash",
					   "maglev_table_size",
					   "backends",
					   "local_addresses",
					   "health_check",
					   "failover",
					   "slow_start",
					   "breaker",
					   "when_empty",
					   "down_flows",
					   "response_timeout",
					   "redispatch",
					   "syn_timeout",
					   "drain_deadline",
					   NULL};
	uint32_t port = 0;
	int rc;

	v->line = line_of(n);
	v->proto = IPPROTO_TCP;
	v->mode = SL_MODE_DSR;
	v->sched = SCHED_KIND_WRR;
	v->hash = SL_HASH_5TUPLE;
	v->maglev_size = MAGLEV_DEFAULT_SIZE;
	if (check_map(x, n, path, keys) < 0 ||
	    get_addr(x, n, path, "address", true, &v->addr, NULL) < 0 ||
	    get_uint(x, n, path, "port", true, 1, 65535, &port) < 0 ||
	    get_enum(x, n, path, "protocol", &sl_proto_names, &v->proto) < 0 ||
	    get_enum(x, n, path, "mode", &sl_mode_names, &v->mode) < 0 ||
	    get_enum(x, n, path, "scheduler", &sched_kind_names, &v->sched) < 0 ||
	    get_enum(x, n, path, "hash", &sl_hash_names, &v->hash) < 0 ||
	    get_enum(x, n, path, "when_empty", &sl_empty_names, &v->when_empty) < 0 ||
	    get_enum(x, n, path, "down_flows", &sl_down_flows_names, &v->down_flows) < 0 ||
	    get_ms(x, n, path, "response_timeout", 3600, &v->response_timeout_ms) < 0 ||
	    get_enum(x, n, path, "redispatch", &sl_redispatch_names, &v->redispatch_off) < 0 ||
	    get_ms(x, n, path, "syn_timeout", 60, &v->syn_timeout_ms) < 0 ||
	    get_ms(x, n, path, "drain_deadline", 604800, &v->drain_deadline_ms) < 0)
		return -EINVAL;
	rc = get_uint(x, n, path, "maglev_table_size", false, 2, CONF_MAX_MAGLEV_SIZE,
		      &v->maglev_size);
	if (rc < 0)
		return rc;
	v->port = (uint16_t)port;
	rc = get_string(x, n, path, "name", false, true, v->name, sizeof(v->name));
	if (rc < 0)
		return -EINVAL;
	if (rc == 0) {
		char ep[ENDPOINT_STRLEN];

		snprintf(v->name, sizeof(v->name), "%s/%s", endpoint(&v->addr, v->port, ep),
			 sl_proto_name(v->proto));
	}
	rc = decode_backends(x, n, path, v);
	if (rc < 0)
		return rc;
	rc = decode_local_addrs(x, n, path, v);
	if (rc < 0)
		return rc;
	rc = decode_health(x, n, path, v);
	if (rc < 0)
		return rc;
	rc = decode_backend_health(x, n, path, v);
	if (rc < 0)
		return rc;
	rc = decode_policy(x, n, path, v);
	if (rc < 0)
		return rc;
	return check_vip(x, n, path, v);
}

/* vips[i] against those before it: one service per address/port/protocol, unique names. */
static int check_vip_unique(struct ctx *x, yaml_node_t *n, const char *path, const struct conf *c,
			    size_t i)
{
	const struct conf_vip *v = &c->vips[i];

	for (size_t j = 0; j < i; j++) {
		const struct conf_vip *o = &c->vips[j];
		yaml_node_t *name_node = lookup(x, n, "name");

		if (sl_addr_eq(&o->addr, &v->addr) && o->port == v->port && o->proto == v->proto) {
			char ep[ENDPOINT_STRLEN];

			return fail(x, n, path, "duplicate VIP %s/%s (first defined at line %d)",
				    endpoint(&v->addr, v->port, ep), sl_proto_name(v->proto),
				    o->line);
		}
		if (strcmp(o->name, v->name) == 0) {
			char npath[FIELD_PATH_MAX];

			join_key(npath, path, "name");
			return fail(x, name_node != NULL ? name_node : n, npath,
				    "duplicate VIP name \"%s\" (first defined at line %d)", v->name,
				    o->line);
		}
	}
	return 0;
}

/*
 * vips[i]'s local addresses against those of the VIPs before it: at most
 * CONF_MAX_LADDRS_TOTAL different ones in all (<n_seen> counts them).
 */
static int check_laddrs_total(struct ctx *x, yaml_node_t *n, const char *path, const struct conf *c,
			      size_t i, uint32_t *n_seen)
{
	const struct conf_vip *v = &c->vips[i];
	char lpath[FIELD_PATH_MAX], ipath[FIELD_PATH_MAX];

	for (uint32_t k = 0; k < v->n_local_addrs; k++) {
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			for (uint32_t l = 0; l < c->vips[j].n_local_addrs && !seen; l++)
				seen = sl_addr_eq(&c->vips[j].local_addrs[l], &v->local_addrs[k]);
		if (seen || ++*n_seen <= CONF_MAX_LADDRS_TOTAL)
			continue;
		join_key(lpath, path, "local_addresses");
		join_index(ipath, lpath, k);
		return fail(x, seq_item(x, lookup(x, n, "local_addresses"), k), ipath,
			    "at most %d different local addresses over all VIPs (the data "
			    "plane's limit)",
			    CONF_MAX_LADDRS_TOTAL);
	}
	return 0;
}

static int decode_vips(struct ctx *x, yaml_node_t *root, struct conf *c)
{
	char path[FIELD_PATH_MAX], ipath[FIELD_PATH_MAX];
	uint32_t n_laddrs = 0;
	yaml_node_t *seq;
	size_t n;

	if (get_section(x, root, "", "vips", YAML_SEQUENCE_NODE, &seq, path) < 0)
		return -EINVAL;
	n = seq_len(seq);
	if (n == 0)
		return 0;
	if (n > CONF_MAX_VIPS)
		return fail(x, seq, path, "at most %d VIPs (the data plane's limit), got %zu",
			    CONF_MAX_VIPS, n);
	c->vips = calloc(n, sizeof(*c->vips));
	if (c->vips == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(x, seq, i);
		int rc;

		join_index(ipath, path, i);
		rc = decode_vip(x, item, ipath, &c->vips[i]);
		c->n_vips++; /* even on failure, so conf_free() releases its backends */
		if (rc < 0)
			return rc;
		if (check_vip_unique(x, item, ipath, c, i) < 0 ||
		    check_laddrs_total(x, item, ipath, c, i, &n_laddrs) < 0)
			return -EINVAL;
	}
	return 0;
}

static int decode_control(struct ctx *x, yaml_node_t *n, const char *path, struct conf_control *ctl)
{
	static const char *const keys[] = {"socket", "socket_group", "state_file", NULL};

	if (check_map(x, n, path, keys) < 0 ||
	    get_string(x, n, path, "socket", false, false, ctl->socket, sizeof(ctl->socket)) < 0 ||
	    get_string(x, n, path, "socket_group", false, true, ctl->socket_group,
		       sizeof(ctl->socket_group)) < 0 ||
	    get_string(x, n, path, "state_file", false, false, ctl->state_file,
		       sizeof(ctl->state_file)) < 0)
		return -EINVAL;
	return 0;
}

/*
 * cluster: announcement through BIRD. The next hops default to the first
 * port's addresses (decode_cluster_next_hops, once the ports are read).
 */
static int decode_cluster(struct ctx *x, yaml_node_t *n, const char *path, struct conf_cluster *cl)
{
	static const char *const keys[] = {
		"bird_include", "bird_socket",       "protocol", "next_hop4",
		"next_hop6",    "dataplane_timeout", NULL};
	struct val v;
	yaml_node_t *nh;
	char kp[FIELD_PATH_MAX];
	int rc;

	cl->enabled = true;
	snprintf(cl->bird_socket, sizeof(cl->bird_socket), "%s", DEFAULT_BIRD_SOCKET);
	snprintf(cl->protocol, sizeof(cl->protocol), "%s", DEFAULT_BIRD_PROTOCOL);
	cl->dataplane_timeout_ms = 1000;
	if (check_map(x, n, path, keys) < 0 ||
	    get_string(x, n, path, "bird_include", true, false, cl->bird_include,
		       sizeof(cl->bird_include)) < 0 ||
	    get_string(x, n, path, "bird_socket", false, false, cl->bird_socket,
		       sizeof(cl->bird_socket)) < 0 ||
	    get_ms(x, n, path, "dataplane_timeout", 60, &cl->dataplane_timeout_ms) < 0)
		return -EINVAL;
	rc = get_scalar(x, n, path, "protocol", false, &v);
	if (rc < 0)
		return -EINVAL;
	if (rc > 0) {
		/* A BIRD symbol: letters, digits and '_', not starting with a digit. */
		bool ok = v.s[0] != '\0' && !isdigit((unsigned char)v.s[0]) &&
			  strlen(v.s) < sizeof(cl->protocol) - 1;
		for (const char *c = v.s; ok && *c != '\0'; c++)
			ok = isalnum((unsigned char)*c) || *c == '_';
		if (!ok)
			return fail(x, v.node, v.path,
				    "expected a BIRD name (letters, digits, '_'; at most %zu), got "
				    "\"%s\"",
				    sizeof(cl->protocol) - 2, quoted(&v));
		memcpy(cl->protocol, v.s, strlen(v.s) + 1);
	}
	rc = get_addr(x, n, path, "next_hop4", false, &cl->next_hop4, &nh);
	if (rc < 0)
		return -EINVAL;
	if (rc > 0 && !sl_addr_is_v4(&cl->next_hop4))
		return join_key(kp, path, "next_hop4"),
		       fail(x, nh, kp, "expected an IPv4 address (the data plane's)");
	cl->has_next_hop4 = rc > 0;
	rc = get_addr(x, n, path, "next_hop6", false, &cl->next_hop6, &nh);
	if (rc < 0)
		return -EINVAL;
	if (rc > 0 && sl_addr_is_v4(&cl->next_hop6))
		return join_key(kp, path, "next_hop6"),
		       fail(x, nh, kp, "expected an IPv6 address (the data plane's)");
	cl->has_next_hop6 = rc > 0;
	return 0;
}

/* The next hops cluster: did not give: the first port's addresses. */
static void cluster_next_hops(struct conf *c)
{
	struct conf_cluster *cl = &c->cluster;

	if (!cl->enabled || c->n_ports == 0)
		return;
	if (!cl->has_next_hop4 && c->ports[0].has_ipv4) {
		cl->next_hop4 = c->ports[0].ipv4;
		cl->has_next_hop4 = true;
	}
	if (!cl->has_next_hop6 && c->ports[0].has_ipv6) {
		cl->next_hop6 = c->ports[0].ipv6;
		cl->has_next_hop6 = true;
	}
}

static int decode_root(struct ctx *x, yaml_node_t *root, struct conf *c)
{
	static const char *const keys[] = {"dataplane", "control", "cluster",
					   "ports",     "vips",    NULL};
	char sub[FIELD_PATH_MAX];
	yaml_node_t *dp;
	int rc;

	if (root->type != YAML_MAPPING_NODE)
		return fail(x, root, "",
			    "the top level must be a mapping (dataplane, control, cluster, ports, "
			    "vips), "
			    "got %s",
			    node_kind(root));
	if (check_map(x, root, "", keys) < 0)
		return -EINVAL;
	dataplane_defaults(&c->dp);
	if (get_section(x, root, "", "dataplane", YAML_MAPPING_NODE, &dp, sub) < 0 ||
	    (dp != NULL && decode_dataplane(x, dp, sub, &c->dp) < 0))
		return -EINVAL;
	snprintf(c->control.socket, sizeof(c->control.socket), "%s", DEFAULT_CONTROL_SOCKET);
	if (get_section(x, root, "", "control", YAML_MAPPING_NODE, &dp, sub) < 0 ||
	    (dp != NULL && decode_control(x, dp, sub, &c->control) < 0))
		return -EINVAL;
	if (get_section(x, root, "", "cluster", YAML_MAPPING_NODE, &dp, sub) < 0 ||
	    (dp != NULL && decode_cluster(x, dp, sub, &c->cluster) < 0))
		return -EINVAL;
	rc = decode_ports(x, root, c);
	if (rc < 0)
		return rc;
	cluster_next_hops(c);
	return decode_vips(x, root, c);
}

/* ------------------------------------------------------------------------ */
/* entry points                                                             */

static int syntax_error(struct ctx *x, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR) {
		set_err(x, "%s: out of memory while reading YAML", x->name);
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR) {
		set_err(x, "%s: YAML error at byte %zu: %s", x->name, p->problem_offset,
			p->problem != NULL ? p->problem : "unreadable input");
		return -EINVAL;
	}
	set_err(x, "%s:%zu:%zu: YAML syntax error: %s%s%s%s", x->name, p->problem_mark.line + 1,
		p->problem_mark.column + 1, p->problem != NULL ? p->problem : "malformed input",
		p->context != NULL ? " (" : "", p->context != NULL ? p->context : "",
		p->context != NULL ? ")" : "");
	return -EINVAL;
}

/* Parses the whole stream from <p> (input already set) into <c>. */
static int load(yaml_parser_t *p, const char *name, struct conf *c, char *err, size_t errlen)
{
	struct ctx x = {.name = name, .err = err, .errlen = errlen};
	yaml_document_t doc, extra;
	yaml_node_t *root, *more;
	struct conf tmp;
	int rc;

	memset(c, 0, sizeof(*c));
	memset(&tmp, 0, sizeof(tmp));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!yaml_parser_load(p, &doc))
		return syntax_error(&x, p);
	x.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || is_null(root)) {
		set_err(&x, "%s: no configuration (the file is empty)", name);
		rc = -EINVAL;
		goto out;
	}
	/* A second document would be silently ignored: refuse it. */
	if (!yaml_parser_load(p, &extra)) {
		rc = syntax_error(&x, p);
		goto out;
	}
	more = yaml_document_get_root_node(&extra);
	if (more != NULL) {
		rc = fail(&x, more, "", "only one YAML document is allowed");
		yaml_document_delete(&extra);
		goto out;
	}
	yaml_document_delete(&extra);

	rc = decode_root(&x, root, &tmp);
	if (rc == -ENOMEM)
		set_err(&x, "%s: out of memory", name);
out:
	yaml_document_delete(&doc);
	if (rc < 0) {
		conf_free(&tmp);
		return rc;
	}
	snprintf(tmp.path, sizeof(tmp.path), "%s", name);
	*c = tmp;
	return 0;
}

/*
 * Before the document is built: at most CONF_MAX_DEPTH nested mappings and
 * lists, found with libyaml's event parser, which stops at the first level
 * too deep (building the document first would take libyaml minutes on a
 * deep flow list). A syntax error is left to load(), which reports it.
 */
static int check_depth(struct ctx *x, const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t e;
	int depth = 0, rc = 0;
	bool end = false;

	if (!yaml_parser_initialize(&p)) {
		set_err(x, "%s: out of memory", x->name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!end && rc == 0 && yaml_parser_parse(&p, &e)) {
		end = e.type == YAML_STREAM_END_EVENT;
		if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT) {
			if (++depth > CONF_MAX_DEPTH) {
				set_err(x,
					"%s:%zu:%zu: nested deeper than %d levels of lists and "
					"mappings",
					x->name, e.start_mark.line + 1, e.start_mark.column + 1,
					CONF_MAX_DEPTH);
				rc = -EINVAL;
			}
		} else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		yaml_event_delete(&e);
	}
	yaml_parser_delete(&p);
	return rc;
}

int conf_load_string(const char *text, size_t len, const char *name, struct conf *c, char *err,
		     size_t errlen)
{
	struct ctx x = {.err = err, .errlen = errlen};
	yaml_parser_t p;
	int rc;

	if (name == NULL)
		name = "<string>";
	x.name = name;
	memset(c, 0, sizeof(*c));
	if (len > CONF_MAX_FILE_SIZE) {
		set_err(&x, "%s: larger than %u bytes, the most a configuration may be", name,
			CONF_MAX_FILE_SIZE);
		return -EFBIG;
	}
	rc = check_depth(&x, text, len);
	if (rc < 0)
		return rc;
	if (!yaml_parser_initialize(&p)) {
		set_err(&x, "%s: out of memory", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	rc = load(&p, name, c, err, errlen);
	yaml_parser_delete(&p);
	return rc;
}

/* The file read whole: one byte more than the limit is enough to refuse it. */
int conf_load_file(const char *path, struct conf *c, char *err, size_t errlen)
{
	size_t cap = CONF_MAX_FILE_SIZE + 1, len;
	char *text;
	FILE *f;
	int rc;

	memset(c, 0, sizeof(*c));
	f = fopen(path, "rb");
	if (f == NULL) {
		rc = -errno;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	text = malloc(cap);
	if (text == NULL) {
		fclose(f);
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	len = fread(text, 1, cap, f);
	if (ferror(f)) {
		rc = -EIO;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: read error", path);
	} else {
		rc = conf_load_string(text, len, path, c, err, errlen);
	}
	free(text);
	fclose(f);
	return rc;
}

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < c->n_vips; i++)
		free(c->vips[i].backends);
	free(c->vips);
	free(c->ports);
	memset(c, 0, sizeof(*c));
}
