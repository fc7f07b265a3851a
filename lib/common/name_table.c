/* SPDX-License-Identifier: BSD-3-Clause */
#include "name_table.h"

#include <stdio.h>
#include <string.h>

const char *name_of(const struct name_table *t, unsigned int v)
{
	return v < t->n && t->names[v] != NULL ? t->names[v] : "?";
}

int name_parse(const struct name_table *t, const char *s)
{
	for (unsigned int v = 0; s != NULL && v < t->n; v++)
		if (t->names[v] != NULL && strcmp(s, t->names[v]) == 0)
			return (int)v;
	return -1;
}

const char *name_choices(const struct name_table *t, const char *sep, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (unsigned int v = 0; v < t->n; v++) {
		if (t->names[v] == NULL)
			continue;
		int w = snprintf(buf + used, len - used, "%s%s", used > 0 ? sep : "", t->names[v]);
		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = '\0'; /* no room for this name: end at the last whole one */
			break;
		}
		used += (size_t)w;
	}
	return buf;
}
