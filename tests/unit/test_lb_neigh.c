/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/lb/lb_neigh.c, the neighbour entries' state machine,
 * on a fake clock: no model, no VIPs; usability changes are counted through
 * the callback.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lb_neigh.h"

#define REACHABLE 30000u
#define RETRY     1000u

struct env {
	struct lb_model_neigh *set; /* LB_MAX_NEIGH entries */
	struct lb_neigh_table *t;
	uint32_t changes; /* callback calls */
	uint32_t last_changed;
	struct sl_addr a, b;
};

static const uint8_t mac1[6] = {0x02, 0, 0, 0, 0, 0x11};
static const uint8_t mac2[6] = {0x02, 0, 0, 0, 0, 0x22};

static void changed(void *arg, uint32_t slot)
{
	struct env *e = arg;

	e->changes++;
	e->last_changed = slot;
}

static int setup(void **state)
{
	struct env *e = test_calloc(1, sizeof(*e));

	e->set = test_calloc(LB_MAX_NEIGH, sizeof(*e->set));
	e->t = test_calloc(1, sizeof(*e->t));
	assert_int_equal(sl_addr_parse(&e->a, "10.0.0.11"), 0);
	assert_int_equal(sl_addr_parse(&e->b, "2001:db8::11"), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	test_free(e->t);
	test_free(e->set);
	test_free(e);
	return 0;
}

static uint32_t run(struct env *e, uint64_t now, uint32_t *slots, uint32_t max)
{
	return lb_neigh_run(e->set, e->t, now, REACHABLE, RETRY, slots, max, changed, e);
}

static uint32_t heard(struct env *e, uint16_t port, const struct sl_addr *a, const uint8_t *mac,
		      uint64_t now)
{
	return lb_neigh_heard(e->set, e->t, port, a, mac, now, changed, e);
}

/* Backends at one address behind one port share an entry; a static MAC has its own. */
static void test_ref_shares(void **state)
{
	struct env *e = *state;
	int s1 = lb_neigh_ref(e->set, &e->a, 0, NULL);
	int s2 = lb_neigh_ref(e->set, &e->a, 0, NULL);
	int s3 = lb_neigh_ref(e->set, &e->a, 1, NULL);
	int st = lb_neigh_ref(e->set, &e->a, 0, mac1);

	assert_true(s1 >= 0);
	assert_int_equal(s2, s1);
	assert_int_not_equal(s3, s1);
	assert_int_not_equal(st, s1);
	assert_int_equal(e->set[s1].refs, 2);
	assert_int_equal(e->set[s1].state, LB_NEIGH_INCOMPLETE);
	assert_int_equal(e->set[st].state, LB_NEIGH_STATIC);
	/* A second static MAC for the same address does not share the first. */
	assert_int_not_equal(lb_neigh_ref(e->set, &e->a, 0, mac1), st);
	lb_neigh_unref(e->set, (uint32_t)s1);
	assert_int_equal(e->set[s1].refs, 1);
	lb_neigh_unref(e->set, (uint32_t)s1);
	lb_neigh_unref(e->set, (uint32_t)s1); /* not below zero */
	assert_int_equal(e->set[s1].refs, 0);
}

static void test_ref_full(void **state)
{
	struct env *e = *state;

	for (uint32_t i = 0; i < LB_MAX_NEIGH; i++)
		assert_int_equal(lb_neigh_ref(e->set, &e->a, 0, mac1), (int)i);
	assert_int_equal(lb_neigh_ref(e->set, &e->b, 0, NULL), -ENOSPC);
	assert_int_equal(lb_neigh_ref(e->set, &e->a, 0, NULL), -ENOSPC);
}

/* Unresolved: asked at once, then every retry interval; <max> caps a run. */
static void test_incomplete_retry(void **state)
{
	struct env *e = *state;
	uint32_t slots[4];
	int s = lb_neigh_ref(e->set, &e->a, 0, NULL);
	int s6 = lb_neigh_ref(e->set, &e->b, 0, NULL);

	assert_int_equal(run(e, 5000, slots, 1), 1);
	assert_int_equal(slots[0], s);
	assert_int_equal(run(e, 5000, slots, 4), 1); /* the other one, left over */
	assert_int_equal(slots[0], s6);
	assert_int_equal(run(e, 5000 + RETRY - 1, slots, 4), 0);
	assert_int_equal(run(e, 5000 + RETRY, slots, 4), 2);
	assert_int_equal(e->t->word[s], 0); /* nothing to publish */
	assert_int_equal(e->changes, 0);
}

/* Heard: usable at once (callback), published; not for another port. */
static void test_heard(void **state)
{
	struct env *e = *state;
	uint32_t slots[4];
	int s = lb_neigh_ref(e->set, &e->a, 0, NULL);

	assert_int_equal(run(e, 0, slots, 4), 1);
	assert_int_equal(heard(e, 1, &e->a, mac1, 10), 0);
	assert_int_equal(heard(e, 0, &e->b, mac1, 10), 0);
	assert_int_equal(e->changes, 0);
	assert_int_equal(heard(e, 0, &e->a, mac1, 10), 1);
	assert_int_equal(e->changes, 1);
	assert_int_equal(e->last_changed, s);
	assert_true(lb_neigh_usable(&e->set[s]));
	assert_int_equal(e->t->word[s], lb_neigh_pack(mac1));
	/* A new MAC while usable: published, no change of usability. */
	assert_int_equal(heard(e, 0, &e->a, mac2, 20), 1);
	assert_int_equal(e->changes, 1);
	assert_int_equal(e->t->word[s], lb_neigh_pack(mac2));
	assert_int_equal(run(e, 20 + REACHABLE - 1, slots, 4), 0);
}

/* Reachable time passed: PROBE keeps the MAC while asking; unanswered, withdrawn. */
static void test_probe_then_incomplete(void **state)
{
	struct env *e = *state;
	uint32_t slots[4];
	int s = lb_neigh_ref(e->set, &e->a, 0, NULL);
	uint64_t t = REACHABLE;

	run(e, 0, slots, 4);
	heard(e, 0, &e->a, mac1, 0);
	e->changes = 0;
	for (int i = 0; i < LB_NEIGH_MAX_PROBES; i++, t += RETRY) {
		assert_int_equal(run(e, t, slots, 4), 1);
		assert_int_equal(e->set[s].state, LB_NEIGH_PROBE);
		assert_int_equal(e->t->word[s], lb_neigh_pack(mac1));
		assert_int_equal(run(e, t + RETRY - 1, slots, 4), 0);
	}
	assert_int_equal(e->changes, 0);
	assert_int_equal(run(e, t, slots, 4), 1); /* asked again, now unresolved */
	assert_int_equal(e->set[s].state, LB_NEIGH_INCOMPLETE);
	assert_int_equal(e->changes, 1);
	assert_int_equal(e->t->word[s], 0);
	/* Heard again: usable again (callback). */
	heard(e, 0, &e->a, mac1, t);
	assert_int_equal(e->changes, 2);
	/* An answer during PROBE keeps it usable: no callback. */
	assert_int_equal(run(e, t + REACHABLE, slots, 4), 1);
	assert_int_equal(heard(e, 0, &e->a, mac1, t + REACHABLE + 1), 1);
	assert_int_equal(e->changes, 2);
	assert_int_equal(e->set[s].state, LB_NEIGH_REACHABLE);
}

/* Static: published by the first run, never asked, never overridden. */
static void test_static(void **state)
{
	struct env *e = *state;
	uint32_t slots[4];
	int s = lb_neigh_ref(e->set, &e->a, 0, mac1);

	assert_int_equal(e->t->word[s], 0);
	assert_int_equal(run(e, 0, slots, 4), 0);
	assert_int_equal(e->t->word[s], lb_neigh_pack(mac1));
	assert_int_equal(heard(e, 0, &e->a, mac2, 1), 0);
	assert_int_equal(run(e, 100ull * REACHABLE, slots, 4), 0);
	assert_int_equal(e->t->word[s], lb_neigh_pack(mac1));
	assert_int_equal(e->changes, 0);
}

/* The last reference gone: the word is cleared one run later, then the slot is free. */
static void test_unref_withdrawn_late(void **state)
{
	struct env *e = *state;
	uint32_t slots[4];
	int s = lb_neigh_ref(e->set, &e->a, 0, mac1);

	run(e, 0, slots, 4);
	lb_neigh_unref(e->set, (uint32_t)s);
	run(e, 1, slots, 4);
	assert_int_equal(e->t->word[s], lb_neigh_pack(mac1)); /* the old snapshot may run */
	assert_int_equal(e->set[s].state, LB_NEIGH_NONE);
	run(e, 2, slots, 4);
	assert_int_equal(e->t->word[s], 0);
	assert_int_equal(lb_neigh_ref(e->set, &e->b, 0, NULL), s);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(lb_neigh_state_name(LB_NEIGH_INCOMPLETE), "incomplete");
	assert_string_equal(lb_neigh_state_name(LB_NEIGH_STATIC), "static");
	assert_string_equal(lb_neigh_state_name(LB_NEIGH_STATE_MAX), "?");
}

static void test_pack(void **state)
{
	uint8_t out[6];

	(void)state;
	assert_true(lb_neigh_pack(mac2) & LB_NEIGH_VALID);
	lb_neigh_unpack(lb_neigh_pack(mac2), out);
	assert_memory_equal(out, mac2, 6);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ref_shares),
		T(test_ref_full),
		T(test_incomplete_retry),
		T(test_heard),
		T(test_probe_then_incomplete),
		T(test_static),
		T(test_unref_withdrawn_late),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_pack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
