/* SPDX-License-Identifier: BSD-3-Clause */
/* The Prometheus text writer (lib/common/prom.c): lines and escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prom.h"

/* What <fn> writes, as a string (caller frees). */
static char *written(void (*fn)(FILE *f))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f);
	fclose(f);
	return buf;
}

static void family_and_samples(FILE *f)
{
	struct prom_labels l;

	prom_family(f, "sluice_received_packets_total", "counter", "Packets received.");
	prom_labels_init(&l);
	prom_label(&l, "lcore", "1");
	prom_sample(f, "sluice_received_packets_total", &l, 42);
	prom_sample(f, "sluice_generation", NULL, UINT64_MAX);
}

static void test_family_and_samples(void **state)
{
	(void)state;
	char *s = written(family_and_samples);

	assert_string_equal(s, "# HELP sluice_received_packets_total Packets received.\n"
			       "# TYPE sluice_received_packets_total counter\n"
			       "sluice_received_packets_total{lcore=\"1\"} 42\n"
			       "sluice_generation 18446744073709551615\n");
	free(s);
}

/* A VIP name or help text cannot break a line or a label (names come from operators). */
static void escaping(FILE *f)
{
	struct prom_labels l;

	prom_family(f, "x", "gauge", "a \\ b\nc");
	prom_labels_init(&l);
	prom_label(&l, "vip", "we\"b\\\n1");
	prom_label(&l, "backend", "10.0.0.1:80");
	prom_sample(f, "x", &l, 1);
}

static void test_escaping(void **state)
{
	(void)state;
	char *s = written(escaping);

	assert_string_equal(s, "# HELP x a \\\\ b\\nc\n"
			       "# TYPE x gauge\n"
			       "x{vip=\"we\\\"b\\\\\\n1\",backend=\"10.0.0.1:80\"} 1\n");
	free(s);
}

/* Labels too long for the buffer: the sample is left out, never cut mid-label. */
static void too_long(FILE *f)
{
	struct prom_labels l;
	char big[700];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	prom_labels_init(&l);
	prom_label(&l, "vip", big);
	assert_true(l.truncated);
	prom_sample(f, "x", &l, 1);
	prom_sample_double(f, "y", NULL, 0.25);
}

static void test_too_long(void **state)
{
	(void)state;
	char *s = written(too_long);

	assert_string_equal(s, "y 0.25\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_samples),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
