/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sl_addr: one 16-byte type for both families (IPv4 stored IPv4-mapped),
 * text in and out, prefixes and MAC addresses. Every parser's errors are
 * -EINVAL and leave nothing half-written that a caller could use.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sl_addr.h"

static struct sl_addr addr(const char *text)
{
	struct sl_addr a;

	assert_int_equal(sl_addr_parse(&a, text), 0);
	return a;
}

static void test_v4_is_mapped(void **state)
{
	static const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1};
	struct sl_addr a = addr("198.18.0.1");

	(void)state;
	assert_memory_equal(a.b, want, sizeof(want));
	assert_true(sl_addr_is_v4(&a));
	assert_memory_equal(sl_addr_v4_bytes(&a), &want[12], 4);
}

static void test_v6(void **state)
{
	static const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					 0,    0,    0,    0,    0, 0, 0, 1};
	struct sl_addr a = addr("2001:db8::1"), b;

	(void)state;
	assert_memory_equal(a.b, want, sizeof(want));
	assert_false(sl_addr_is_v4(&a));
	/* Written IPv4-mapped, an address is IPv4: the family is in the bytes. */
	a = addr("::ffff:10.0.0.1");
	assert_true(sl_addr_is_v4(&a));
	b = addr("10.0.0.1");
	assert_true(sl_addr_eq(&a, &b));
}

static void test_set_and_eq(void **state)
{
	const uint8_t v4[4] = {10, 1, 2, 3};
	uint8_t v6[16];
	struct sl_addr a, b;

	(void)state;
	memset(&a, 0xaa, sizeof(a));
	sl_addr_set_v4(&a, v4);
	b = addr("10.1.2.3");
	assert_true(sl_addr_eq(&a, &b));
	b = addr("10.1.2.4");
	assert_false(sl_addr_eq(&a, &b));

	b = addr("2001:db8::42");
	memcpy(v6, b.b, sizeof(v6));
	memset(&a, 0, sizeof(a));
	sl_addr_set_v6(&a, v6);
	assert_true(sl_addr_eq(&a, &b));
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"198.18.0",
		"198.18.0.256",
		"198.18.0.1 ",
		" 198.18.0.1",
		"198.18.0.1/24",
		"2001:db8:::1",
		"2001:db8::g",
		"localhost",
		"::ffff:1.2.3",
	};
	struct sl_addr a;
	size_t i;

	(void)state;
	assert_int_equal(sl_addr_parse(&a, NULL), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sl_addr_parse(&a, bad[i]) != -EINVAL)
			fail_msg("sl_addr_parse(\"%s\") accepted", bad[i]);
}

static void test_format_round_trip(void **state)
{
	static const char *const texts[] = {
		"0.0.0.0", "198.18.0.1", "255.255.255.255", "::", "::1", "2001:db8::1", "fe80::1:2",
	};
	char buf[SL_ADDR_STRLEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct sl_addr a = addr(texts[i]);

		assert_ptr_equal(sl_addr_format(&a, buf, sizeof(buf)), buf);
		assert_string_equal(buf, texts[i]);
	}
	/* IPv4-mapped text comes back as plain IPv4. */
	{
		struct sl_addr a = addr("::ffff:192.0.2.7");

		assert_string_equal(sl_addr_format(&a, buf, sizeof(buf)), "192.0.2.7");
	}
	/* The longest IPv6 text fits SL_ADDR_STRLEN. */
	{
		struct sl_addr a = addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");

		assert_string_equal(sl_addr_format(&a, buf, sizeof(buf)),
				    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	}
}

static void test_prefix_parse(void **state)
{
	struct sl_addr a;
	uint8_t plen = 0xee;

	(void)state;
	assert_int_equal(sl_prefix_parse(&a, &plen, "198.18.0.0/24"), 0);
	assert_int_equal(plen, 24);
	assert_true(sl_addr_is_v4(&a));
	assert_true(sl_addr_eq(
		&a, &(struct sl_addr){{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 0}}));
	assert_int_equal(sl_prefix_parse(&a, &plen, "10.0.0.1/32"), 0);
	assert_int_equal(plen, 32);
	assert_int_equal(sl_prefix_parse(&a, &plen, "0.0.0.0/0"), 0);
	assert_int_equal(plen, 0);
	assert_int_equal(sl_prefix_parse(&a, &plen, "2001:db8::/64"), 0);
	assert_int_equal(plen, 64);
	assert_false(sl_addr_is_v4(&a));
	assert_int_equal(sl_prefix_parse(&a, &plen, "::/128"), 0);
	assert_int_equal(plen, 128);
}

static void test_prefix_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"198.18.0.0", /* a prefix length is required */
		"198.18.0.0/",
		"/24",
		"198.18.0.0/33",
		"198.18.0.0/-1",
		"198.18.0.0/24x",
		"198.18.0.0/2 4",
		"2001:db8::/129",
		"2001:db8::/",
		"nothing/8",
		/* longer than any address before the slash */
		"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000/8",
	};
	struct sl_addr a;
	uint8_t plen = 7;
	size_t i;

	(void)state;
	assert_int_equal(sl_prefix_parse(&a, &plen, NULL), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sl_prefix_parse(&a, &plen, bad[i]) != -EINVAL)
			fail_msg("sl_prefix_parse(\"%s\") accepted", bad[i]);
	assert_int_equal(plen, 7); /* untouched on error */
}

static void test_prefix_contains(void **state)
{
	struct sl_addr net, a;
	uint8_t plen;

	(void)state;
	assert_int_equal(sl_prefix_parse(&net, &plen, "198.18.0.0/15"), 0);
	a = addr("198.19.255.255");
	assert_true(sl_prefix_contains(&net, plen, &a));
	a = addr("198.20.0.0");
	assert_false(sl_prefix_contains(&net, plen, &a));
	a = addr("198.17.255.255");
	assert_false(sl_prefix_contains(&net, plen, &a));

	/* /0 holds every address of its family, and none of the other. */
	assert_int_equal(sl_prefix_parse(&net, &plen, "0.0.0.0/0"), 0);
	a = addr("203.0.113.9");
	assert_true(sl_prefix_contains(&net, plen, &a));
	a = addr("2001:db8::1");
	assert_false(sl_prefix_contains(&net, plen, &a));
	/* ::/0 does not hold IPv4 either, though IPv4 is stored in IPv6 space. */
	assert_int_equal(sl_prefix_parse(&net, &plen, "::/0"), 0);
	assert_true(sl_prefix_contains(&net, plen, &a));
	a = addr("10.0.0.1");
	assert_false(sl_prefix_contains(&net, plen, &a));

	/* Whole bytes and a partial one. */
	assert_int_equal(sl_prefix_parse(&net, &plen, "2001:db8:ab00::/40"), 0);
	a = addr("2001:db8:abff:1::1");
	assert_true(sl_prefix_contains(&net, plen, &a));
	a = addr("2001:db8:ac00::1");
	assert_false(sl_prefix_contains(&net, plen, &a));
	assert_int_equal(sl_prefix_parse(&net, &plen, "2001:db8:8000::/33"), 0);
	a = addr("2001:db8:ffff::1");
	assert_true(sl_prefix_contains(&net, plen, &a));
	a = addr("2001:db8:7fff::1");
	assert_false(sl_prefix_contains(&net, plen, &a));

	/* /32 and /128: one address. */
	assert_int_equal(sl_prefix_parse(&net, &plen, "10.0.0.1/32"), 0);
	a = addr("10.0.0.1");
	assert_true(sl_prefix_contains(&net, plen, &a));
	a = addr("10.0.0.2");
	assert_false(sl_prefix_contains(&net, plen, &a));
	assert_int_equal(sl_prefix_parse(&net, &plen, "2001:db8::1/128"), 0);
	a = addr("2001:db8::1");
	assert_true(sl_prefix_contains(&net, plen, &a));
	a = addr("2001:db8::2");
	assert_false(sl_prefix_contains(&net, plen, &a));
}

static void test_mac_parse(void **state)
{
	static const uint8_t want[6] = {0x02, 0x00, 0x5e, 0x10, 0xab, 0xff};
	static const char *const bad[] = {
		"",
		"02:00:5e:10:ab",
		"02:00:5e:10:ab:ff:00",
		"02:00:5e:10:ab:100",
		"02:00:5e:10:ab:fg",
		"02-00-5e-10-ab-ff",
		"02:00:5e:10:ab:ff ",
	};
	uint8_t mac[6];
	size_t i;

	(void)state;
	assert_int_equal(sl_mac_parse(mac, "02:00:5e:10:ab:ff"), 0);
	assert_memory_equal(mac, want, sizeof(want));
	assert_int_equal(sl_mac_parse(mac, "02:00:5E:10:AB:FF"), 0);
	assert_memory_equal(mac, want, sizeof(want));
	assert_int_equal(sl_mac_parse(mac, "2:0:5e:10:ab:ff"), 0);
	assert_memory_equal(mac, want, sizeof(want));
	assert_int_equal(sl_mac_parse(mac, NULL), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sl_mac_parse(mac, bad[i]) != -EINVAL)
			fail_msg("sl_mac_parse(\"%s\") accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_is_mapped),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_set_and_eq),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_prefix_parse_rejects),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_mac_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
