/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for lib/common/name_table.c and the name tables of sl_types.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>

#include "sl_types.h"
#include "name_table.h"

static const char *const sparse[] = {[0] = "zero", [2] = "two", [3] = "three"};
static const struct name_table sparse_names = NAME_TABLE(sparse);

static void test_name_of(void **state)
{
	(void)state;
	assert_int_equal(sparse_names.n, 4);
	assert_string_equal(name_of(&sparse_names, 0), "zero");
	assert_string_equal(name_of(&sparse_names, 3), "three");
	assert_string_equal(name_of(&sparse_names, 1), "?"); /* no name of its own */
	assert_string_equal(name_of(&sparse_names, 4), "?"); /* out of range */
	assert_string_equal(name_of(&sparse_names, (unsigned int)-1), "?");
}

static void test_name_parse(void **state)
{
	(void)state;
	assert_int_equal(name_parse(&sparse_names, "two"), 2);
	assert_int_equal(name_parse(&sparse_names, "Two"), -1); /* case-sensitive */
	assert_int_equal(name_parse(&sparse_names, "tw"), -1);
	assert_int_equal(name_parse(&sparse_names, ""), -1);
	assert_int_equal(name_parse(&sparse_names, NULL), -1);
}

static void test_name_choices(void **state)
{
	char buf[NAME_CHOICES_MAX];
	char small[9];

	(void)state;
	assert_string_equal(name_choices(&sparse_names, " | ", buf, sizeof(buf)),
			    "zero | two | three");
	assert_string_equal(name_choices(&sparse_names, "|", buf, sizeof(buf)), "zero|two|three");
	/* Truncated at a whole name, always terminated. */
	assert_string_equal(name_choices(&sparse_names, "|", small, sizeof(small)), "zero|two");
	assert_string_equal(name_choices(&sparse_names, "|", small, 3), "");
}

/* Every value of every table parses back to itself. */
static void round_trip(const struct name_table *t)
{
	for (unsigned int v = 0; v < t->n; v++)
		if (t->names[v] != NULL)
			assert_int_equal(name_parse(t, name_of(t, v)), (int)v);
}

static void test_tables_round_trip(void **state)
{
	(void)state;
	round_trip(&sl_mode_names);
	round_trip(&sl_admin_names);
	round_trip(&sl_hash_names);
	round_trip(&sl_empty_names);
	round_trip(&sl_down_flows_names);
	round_trip(&sl_health_names);
	round_trip(&sl_proto_names);
	round_trip(&sl_redispatch_names);
	assert_int_equal(sl_mode_names.n, SL_MODE_MAX);
	assert_int_equal(sl_admin_names.n, SL_ADMIN_MAX);
	assert_int_equal(sl_down_flows_names.n, SL_DOWN_MAX);
}

/* The names are the file format and the API: these must not change. */
static void test_wrappers(void **state)
{
	char buf[NAME_CHOICES_MAX];

	(void)state;
	assert_string_equal(sl_mode_name(SL_MODE_FNAT), "fnat");
	assert_int_equal(sl_mode_parse("tunnel"), SL_MODE_TUNNEL);
	assert_string_equal(sl_mode_name(SL_MODE_MAX), "?");
	assert_int_equal(sl_admin_parse("maint"), SL_ADMIN_MAINT);
	assert_string_equal(sl_admin_name(SL_ADMIN_DRAIN), "drain");
	assert_int_equal(sl_hash_parse("source-ip"), SL_HASH_SRC_IP);
	assert_string_equal(sl_hash_name(SL_HASH_5TUPLE), "5-tuple");
	assert_int_equal(sl_empty_parse("reset"), SL_EMPTY_RESET);
	assert_string_equal(sl_empty_name(SL_EMPTY_DROP), "drop");
	assert_int_equal(sl_down_flows_parse("keep"), SL_DOWN_KEEP);
	assert_string_equal(sl_down_flows_name(SL_DOWN_RESCHEDULE), "reschedule");
	assert_int_equal(sl_health_parse("down"), SL_HEALTH_DOWN);
	assert_int_equal(sl_health_parse("auto"), -1);
	assert_int_equal(sl_proto_parse("udp"), IPPROTO_UDP);
	assert_int_equal(sl_proto_parse("tcp"), IPPROTO_TCP);
	assert_int_equal(sl_proto_parse("sctp"), -1);
	assert_string_equal(sl_proto_name(IPPROTO_UDP), "udp");
	assert_string_equal(sl_proto_name(0), "tcp");
	assert_string_equal(name_choices(&sl_proto_names, " | ", buf, sizeof(buf)), "tcp | udp");
	assert_string_equal(name_choices(&sl_mode_names, " | ", buf, sizeof(buf)),
			    "dsr | tunnel | fnat | nat");
	assert_int_equal(name_parse(&sl_redispatch_names, "off"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_of),      cmocka_unit_test(test_name_parse),
		cmocka_unit_test(test_name_choices), cmocka_unit_test(test_tables_round_trip),
		cmocka_unit_test(test_wrappers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
