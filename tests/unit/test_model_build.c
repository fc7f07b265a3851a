/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The model's pools built in slices (lb_model_build_start/step, lb_model.h):
 * what is published is what lb_model_compile() alone builds, byte for byte;
 * the snapshot in service is untouched until the builds are complete; a
 * change during a build supersedes it; a change put back (lb_model_txn.h)
 * drops the build it started.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lb.h"
#include "lb_model.h"
#include "maglev.h"
#include "scheduler.h"
#include "lb_model_txn.h"

#define N_BACKENDS 9
#define SLICE      20000 /* work units: a table of 131071 takes tens of slices */

static const uint8_t PORT_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};

static struct sl_addr addr(const char *s)
{
	struct sl_addr a;

	assert_int_equal(sl_addr_parse(&a, s), 0);
	return a;
}

/* A model with one port and a maglev VIP of <m> entries, backends weighted 1..N_BACKENDS. */
static struct lb_model *model_new(uint32_t m, const uint32_t *weights)
{
	struct lb_model *md = lb_model_create();
	struct conf_backend b[N_BACKENDS];
	struct conf_port cp;
	struct conf_vip v;
	char err[256] = "";

	assert_non_null(md);
	memset(&cp, 0, sizeof(cp));
	snprintf(cp.name, sizeof(cp.name), "p0");
	cp.has_ipv4 = true;
	cp.ipv4_plen = 24;
	cp.ipv4 = addr("198.18.0.2");
	assert_int_equal(lb_model_port_add(md, &cp, PORT_MAC, err, sizeof(err)), 0);
	memset(b, 0, sizeof(b));
	for (uint32_t i = 0; i < N_BACKENDS; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.18.0.%u", 11 + i);
		b[i].addr = addr(a);
		b[i].weight = weights[i];
		b[i].has_mac = true;
		b[i].mac[0] = 0x02;
		b[i].mac[5] = (uint8_t)(0x10 + i);
	}
	memset(&v, 0, sizeof(v));
	snprintf(v.name, sizeof(v.name), "web");
	v.addr = addr("198.18.1.100");
	v.port = 80;
	v.proto = IPPROTO_TCP;
	v.mode = SL_MODE_DSR;
	v.sched = SCHED_KIND_MAGLEV;
	v.hash = SL_HASH_5TUPLE;
	v.maglev_size = m;
	v.backends = b;
	v.n_backends = N_BACKENDS;
	assert_int_equal(lb_model_vip_add(md, &v, err, sizeof(err)), 0);
	return md;
}

/* The pool of VIP 0 in <s> is the one a model built whole from <weights> has. */
static void assert_pool_of(const struct lb_snapshot *s, uint32_t m, const uint32_t *weights)
{
	struct lb_model *ref = model_new(m, weights);
	struct lb_snapshot *r = lb_model_compile(ref);
	const struct lb_members *a = s->vips[0].members, *b;

	assert_non_null(r);
	b = r->vips[0].members;
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->maglev_size, b->maglev_size);
	assert_memory_equal(a->slot, b->slot, a->n * sizeof(*a->slot));
	assert_memory_equal(a->weight, b->weight, a->n * sizeof(*a->weight));
	assert_memory_equal(a->maglev, b->maglev, m * sizeof(*a->maglev));
	lb_snapshot_free(r);
	lb_model_free(ref);
}

/* Slices until the builds are complete; how many it took. */
static uint32_t build_all(struct lb_model *md)
{
	uint32_t slices = 1;

	assert_true(lb_model_build_start(md) >= 0);
	while (!lb_model_build_step(md, SLICE))
		slices++;
	assert_false(lb_model_build_pending(md));
	return slices;
}

static const uint32_t W0[N_BACKENDS] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

/* Built in slices or at once, for several sizes and weights: the same pool. */
static void test_sliced_equals_one_shot(void **state)
{
	static const uint32_t sizes[] = {251, MAGLEV_DEFAULT_SIZE, 131071};
	static const uint32_t w1[N_BACKENDS] = {5, 0, 5, 1, 65535, 5, 0, 2, 5};
	static const uint32_t w2[N_BACKENDS] = {0, 0, 0, 0, 0, 0, 0, 0, 0};

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		const uint32_t *ws[] = {W0, w1, w2};

		for (size_t j = 0; j < 3; j++) {
			struct lb_model *md = model_new(sizes[k], W0);
			struct lb_snapshot *s;
			uint32_t slices;

			/* The first snapshot in slices too, then a change of every weight. */
			build_all(md);
			s = lb_model_compile(md);
			assert_non_null(s);
			assert_pool_of(s, sizes[k], W0);
			lb_snapshot_free(s);
			for (uint32_t i = 0; i < N_BACKENDS; i++)
				assert_int_equal(lb_model_backend_set_weight(md, i, ws[j][i]), 0);
			slices = build_all(md);
			if (sizes[k] == 131071 && j == 0)
				assert_true(slices > 5);
			s = lb_model_compile(md);
			assert_non_null(s);
			assert_pool_of(s, sizes[k], ws[j]);
			lb_snapshot_free(s);
			lb_model_free(md);
		}
	}
}

/* A change during a build: the build restarts from it; the old one is never published. */
static void test_change_supersedes_build(void **state)
{
	static const uint32_t w1[N_BACKENDS] = {1, 2, 3, 4, 5, 6, 7, 8, 50};
	static const uint32_t w2[N_BACKENDS] = {1, 2, 3, 4, 5, 6, 7, 8, 0};
	struct lb_model *md = model_new(131071, W0);
	struct lb_snapshot *live = lb_model_compile(md), *s;
	const struct lb_members *was;

	(void)state;
	assert_non_null(live);
	was = md->vips[0].compiled;
	assert_int_equal(lb_model_backend_set_weight(md, 8, 50), 0);
	assert_int_equal(lb_model_build_start(md), 131071); /* the entries under way */
	assert_false(lb_model_build_step(md, SLICE));
	assert_true(lb_model_build_pending(md));
	/* Nothing published meanwhile: the VIP keeps its pool. */
	assert_ptr_equal(md->vips[0].compiled, was);
	assert_ptr_equal(live->vips[0].members, was);
	assert_true(md->vips[0].dirty);

	/* The newer change: the half-built table is dropped, the new one starts. */
	assert_int_equal(lb_model_backend_set_weight(md, 8, 0), 0);
	build_all(md);
	s = lb_model_compile(md);
	assert_non_null(s);
	assert_false(md->vips[0].dirty);
	assert_pool_of(s, 131071, w2);
	lb_snapshot_free(s);

	/* And the one in between, had it been published, was another table. */
	assert_int_equal(lb_model_backend_set_weight(md, 8, 50), 0);
	s = lb_model_compile(md);
	assert_non_null(s);
	assert_pool_of(s, 131071, w1);
	lb_snapshot_free(s);
	lb_snapshot_free(live);
	lb_model_free(md);
}

/* A deleted VIP's build is dropped; a change put back drops the build it started. */
static void test_build_dropped(void **state)
{
	static struct model_txn txn;
	struct lb_model *md = model_new(131071, W0);
	struct lb_snapshot *live = lb_model_compile(md), *s;
	const struct lb_members *was;

	(void)state;
	assert_non_null(live);
	was = md->vips[0].compiled;
	assert_int_equal(model_txn_begin(&txn, md), 0);
	assert_int_equal(lb_model_backend_set_weight(md, 3, 9), 0);
	assert_true(lb_model_build_start(md) >= 0);
	assert_false(lb_model_build_step(md, SLICE));
	assert_int_equal(model_txn_rollback(&txn, md), 0);
	/* The model is as before: nothing to build, the pool in service stays. */
	assert_true(lb_model_build_start(md) >= 0);
	assert_false(lb_model_build_pending(md));
	s = lb_model_compile(md);
	assert_non_null(s);
	assert_ptr_equal(s->vips[0].members, was);
	lb_snapshot_free(s);

	assert_int_equal(lb_model_backend_set_weight(md, 3, 9), 0);
	assert_true(lb_model_build_start(md) >= 0);
	assert_true(lb_model_build_pending(md));
	assert_int_equal(lb_model_vip_del(md, 0), 0);
	assert_true(lb_model_build_start(md) >= 0);
	assert_false(lb_model_build_pending(md));
	s = lb_model_compile(md);
	assert_non_null(s);
	assert_int_equal(s->vips[0].uid, 0);
	lb_snapshot_free(s);
	lb_snapshot_free(live);
	lb_model_free(md);
}

/* A model freed with a build under way frees it (LeakSanitizer under test-sanitize.sh). */
static void test_free_during_build(void **state)
{
	struct lb_model *md = model_new(131071, W0);

	(void)state;
	assert_true(lb_model_build_start(md) >= 0);
	assert_false(lb_model_build_step(md, SLICE));
	lb_model_free(md);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sliced_equals_one_shot),
		cmocka_unit_test(test_change_supersedes_build),
		cmocka_unit_test(test_build_dropped),
		cmocka_unit_test(test_free_during_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
