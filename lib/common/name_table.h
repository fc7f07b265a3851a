/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One name per enum value, kept in one table that every reader of the enum
 * uses: the config loader (values and its "expected one of ..." messages),
 * the data plane's API, sluicectl's usage text and every printer.
 *
 * A table is indexed by the enum value: names[v] is the name of value v,
 * NULL where a value has no name of its own. Dependency-free so that any
 * library, the hot path included, may use it.
 */
#ifndef SLUICE_NAME_TABLE_H
#define SLUICE_NAME_TABLE_H

#include <stddef.h>

struct name_table {
	const char *const *names;
	unsigned int n; /* values 0 .. n-1 */
};

/* A name_table over a static array of names (sizeof, so no count to keep in step). */
#define NAME_TABLE(arr)                                                                            \
	{                                                                                          \
		.names = (arr), .n = (unsigned int)(sizeof(arr) / sizeof((arr)[0]))                \
	}

/* The name of <v>, or "?" for a value outside the table or without a name. */
const char *name_of(const struct name_table *t, unsigned int v);

/* The value named <s> (exact, case-sensitive), or -1 (also for NULL). */
int name_parse(const struct name_table *t, const char *s);

/*
 * The names in value order, joined by <sep> (" | " in config messages, "|"
 * in usage text), into <buf>; cut after the last name that fits, always
 * terminated. Returns buf.
 */
const char *name_choices(const struct name_table *t, const char *sep, char *buf, size_t len);

/* Enough for every table in Sluice. */
#define NAME_CHOICES_MAX 128

#endif
