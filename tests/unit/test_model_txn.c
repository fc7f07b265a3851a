/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The API's all-or-nothing contract (lib/lb/lb_model_txn.h): each kind of
 * change an API request makes to the model, then the new snapshot's
 * allocation fails (injected below), then the checkpoint is put back. The
 * model must be as it was, pool references and member arrays included, and
 * compile to the snapshot in service.
 *
 * Without the checkpoint the failed compile leaves the change in the model,
 * and the management thread's next publish (it retries a failed one) would
 * make it live: test_compile_failure_keeps_the_change shows that.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* ---- fault injection: the snapshot's allocation in lb_model_compile() ---- */

static bool fail_snapshot;

/*
 * The injection replaces the program's calloc with one that calls glibc's.
 * Under AddressSanitizer, which owns malloc and free, that memory cannot be
 * freed: the test skips itself there (it runs in the normal build).
 */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
void *calloc(size_t n, size_t size);
void *__libc_calloc(size_t n, size_t size); /* glibc's own */

/* Every calloc of this program (the lb library's included) comes here. */
void *calloc(size_t n, size_t size)
{
	if (fail_snapshot && size == sizeof(struct lb_snapshot))
		return NULL;
	return __libc_calloc(n, size);
}
#endif

/* ---- a model in service ---- */

static const uint8_t PORT_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};

struct env {
	struct lb_model *m;
	struct lb_snapshot *live; /* the snapshot "the workers run" */
	struct model_txn txn;
	struct lb_model before;            /* a copy, to compare with */
	uint32_t members[LB_MAX_VIPS][64]; /* each VIP's member list before */
};

static struct sl_addr addr(const char *s)
{
	struct sl_addr a;

	assert_int_equal(sl_addr_parse(&a, s), 0);
	return a;
}

static struct conf_backend backend(const char *a)
{
	struct conf_backend b;

	memset(&b, 0, sizeof(b));
	b.addr = addr(a);
	b.weight = 1;
	b.has_mac = true;
	b.mac[0] = 0x02;
	b.mac[5] = 0x11;
	return b;
}

static struct conf_vip vip(const char *name, const char *a, struct conf_backend *b, uint32_t n)
{
	struct conf_vip v;

	memset(&v, 0, sizeof(v));
	snprintf(v.name, sizeof(v.name), "%s", name);
	v.addr = addr(a);
	v.port = 80;
	v.proto = IPPROTO_TCP;
	v.mode = SL_MODE_DSR;
	v.sched = SCHED_KIND_WRR;
	v.hash = SL_HASH_5TUPLE;
	v.maglev_size = 251;
	v.backends = b;
	v.n_backends = n;
	return v;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct conf_port cp;
	struct conf_backend b[2] = {backend("198.18.0.11"), backend("198.18.0.12")};
	struct conf_vip v = vip("web", "198.18.1.100", b, 2);
	char err[256] = "";

	assert_non_null(e);
	memset(&cp, 0, sizeof(cp));
	snprintf(cp.name, sizeof(cp.name), "p0");
	cp.has_ipv4 = true;
	cp.ipv4_plen = 24;
	cp.ipv4 = addr("198.18.0.2");
	e->m = lb_model_create();
	assert_non_null(e->m);
	assert_int_equal(lb_model_port_add(e->m, &cp, PORT_MAC, err, sizeof(err)), 0);
	assert_true(lb_model_vip_add(e->m, &v, err, sizeof(err)) >= 0);
	v = vip("api", "198.18.1.101", b, 1);
	assert_true(lb_model_vip_add(e->m, &v, err, sizeof(err)) >= 0);
	e->live = lb_model_compile(e->m);
	assert_non_null(e->live);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	lb_snapshot_free(e->live);
	lb_model_free(e->m);
	free(e);
	return 0;
}

/* The checkpoint, and a copy of the model to compare with after. */
static void begin(struct env *e)
{
	assert_int_equal(model_txn_begin(&e->txn, e->m), 0);
	memcpy(&e->before, e->m, sizeof(*e->m));
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		assert_true(e->m->vips[i].n_members <= 64);
		if (e->m->vips[i].n_members > 0)
			memcpy(e->members[i], e->m->vips[i].members,
			       e->m->vips[i].n_members * sizeof(uint32_t));
	}
}

/* The publish fails for memory, the checkpoint goes back: the model is as before. */
static void fail_and_roll_back(struct env *e)
{
	fail_snapshot = true;
	assert_null(lb_model_compile(e->m));
	fail_snapshot = false;
	assert_int_equal(model_txn_rollback(&e->txn, e->m), 0);

	struct lb_model *now = malloc(sizeof(*now));

	assert_non_null(now);
	memcpy(now, e->m, sizeof(*now));
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++) {
		struct lb_model_vip *v = &now->vips[i], *was = &e->before.vips[i];

		assert_int_equal(v->n_members, was->n_members);
		assert_ptr_equal(v->compiled, was->compiled);
		assert_true(v->cap_members >= v->n_members);
		if (v->n_members > 0)
			assert_memory_equal(v->members, e->members[i],
					    v->n_members * sizeof(uint32_t));
		/* Its array may be another one now: pointers aside, byte for byte. */
		v->members = was->members;
		v->cap_members = was->cap_members;
	}
	assert_memory_equal(now, &e->before, sizeof(*now));
	free(now);
}

/* The model compiles to what the workers run: same pools, same tables. */
static void compiles_to_live(struct env *e)
{
	struct lb_snapshot *s = lb_model_compile(e->m);

	assert_non_null(s);
	assert_int_equal(s->generation, e->live->generation + 1);
	s->generation = e->live->generation;
	assert_memory_equal(s, e->live, sizeof(*s));
	for (uint32_t i = 0; i < LB_MAX_VIPS; i++)
		if (e->m->vips[i].compiled != NULL)
			/* the model's, the live snapshot's and s's */
			assert_int_equal(e->m->vips[i].compiled->refcnt, 3);
	lb_snapshot_free(s);
}

static void test_compile_failure_keeps_the_change(void **state)
{
	struct env *e = *state;
	uint32_t web = (uint32_t)lb_model_vip_find(e->m, "web");

	lb_model_vip_del(e->m, web);
	fail_snapshot = true;
	assert_null(lb_model_compile(e->m));
	fail_snapshot = false;
	/* Still deleted: the next compile (the management tick's) publishes it. */
	assert_int_equal(lb_model_vip_find(e->m, "web"), -ENOENT);
}

static void test_vip_add(void **state)
{
	struct env *e = *state;
	struct conf_backend b[3] = {backend("198.18.0.21"), backend("198.18.0.22"),
				    backend("198.18.0.23")};
	struct conf_vip v = vip("new", "198.18.1.102", b, 3);
	char err[256];

	begin(e);
	assert_true(lb_model_vip_add(e->m, &v, err, sizeof(err)) >= 0);
	fail_and_roll_back(e);
	assert_int_equal(lb_model_vip_find(e->m, "new"), -ENOENT);
	compiles_to_live(e);
}

static void test_vip_del(void **state)
{
	struct env *e = *state;

	begin(e);
	assert_int_equal(lb_model_vip_del(e->m, (uint32_t)lb_model_vip_find(e->m, "web")), 0);
	fail_and_roll_back(e);
	assert_true(lb_model_vip_find(e->m, "web") >= 0);
	compiles_to_live(e);
}

static void test_vip_set(void **state)
{
	struct env *e = *state;
	struct conf_vip v = vip("web", "198.18.1.100", NULL, 0);
	char err[256];

	v.sched = SCHED_KIND_MAGLEV;
	begin(e);
	assert_int_equal(lb_model_vip_set(e->m, (uint32_t)lb_model_vip_find(e->m, "web"), &v, err,
					  sizeof(err)),
			 0);
	fail_and_roll_back(e);
	compiles_to_live(e);
}

/* Enough backends that the VIP's member array is reallocated (it starts at 8). */
static void test_backend_add_grows_members(void **state)
{
	struct env *e = *state;
	uint32_t web = (uint32_t)lb_model_vip_find(e->m, "web");
	char err[256], a[32];

	begin(e);
	for (int i = 0; i < 12; i++) {
		struct conf_backend b;

		snprintf(a, sizeof(a), "198.18.0.%d", 100 + i);
		b = backend(a);
		assert_true(lb_model_backend_add(e->m, web, &b, err, sizeof(err)) >= 0);
	}
	assert_true(e->m->vips[web].cap_members > 8);
	fail_and_roll_back(e);
	compiles_to_live(e);
}

static void test_backend_del_and_set(void **state)
{
	struct env *e = *state;
	uint32_t web = (uint32_t)lb_model_vip_find(e->m, "web");
	struct sl_addr a11 = addr("198.18.0.11"), a12 = addr("198.18.0.12");
	int b11 = lb_model_backend_find(e->m, web, &a11, 0);
	int b12 = lb_model_backend_find(e->m, web, &a12, 0);
	char err[256];

	assert_true(b11 >= 0 && b12 >= 0);
	begin(e);
	assert_int_equal(lb_model_backend_del(e->m, (uint32_t)b11), 0);
	assert_int_equal(lb_model_backend_set_weight(e->m, (uint32_t)b12, 7), 0);
	assert_int_equal(lb_model_backend_set_admin(e->m, (uint32_t)b12, SL_ADMIN_DRAIN), 0);
	assert_int_equal(lb_model_backend_set_drain_deadline(e->m, (uint32_t)b12, 5000), 0);
	lb_model_drain_tick(e->m, 1000);
	assert_int_equal(lb_model_backend_set_health(e->m, (uint32_t)b12, SL_HEALTH_DOWN), 0);
	assert_int_equal(lb_model_backend_set_control_weight(e->m, (uint32_t)b12, 3), 0);
	/* A MAC to resolve: a neighbour slot is taken. */
	assert_int_equal(lb_model_backend_set_mac(e->m, (uint32_t)b12, NULL, err, sizeof(err)), 0);
	fail_and_roll_back(e);
	compiles_to_live(e);
}

/* A vip.del's member array is gone when its publish fails: a new one is made. */
static void test_vip_del_then_changes_again(void **state)
{
	struct env *e = *state;
	uint32_t web = (uint32_t)lb_model_vip_find(e->m, "web");
	struct conf_backend b = backend("198.18.0.13");
	char err[256];

	begin(e);
	lb_model_vip_del(e->m, web);
	fail_and_roll_back(e);
	/* The VIP restored takes a backend like any other, and publishes. */
	assert_true(lb_model_backend_add(e->m, web, &b, err, sizeof(err)) >= 0);
	assert_int_equal(e->m->vips[web].n_members, 3);
	struct lb_snapshot *s = lb_model_compile(e->m);
	assert_non_null(s);
	lb_snapshot_free(e->live);
	e->live = s;
}

int main(void)
{
#ifdef UNDER_ASAN
	printf("SKIP: the allocation-failure injection replaces calloc, which ASan owns\n");
	return 77;
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_compile_failure_keeps_the_change, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vip_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vip_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vip_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_add_grows_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_del_and_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vip_del_then_changes_again, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
