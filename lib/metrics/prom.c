/* SPDX-License-Identifier: BSD-3-Clause */
/* Prometheus text exposition format: prom.h. */
#include "prom.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* HELP text: backslash and newline escaped. */
static void put_help(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void prom_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	put_help(f, help);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

void prom_labels_init(struct prom_labels *l)
{
	l->len = 0;
	l->buf[0] = '\0';
	l->truncated = false;
}

static void put_c(struct prom_labels *l, char c)
{
	if (l->len + 1 >= sizeof(l->buf)) {
		l->truncated = true;
		return;
	}
	l->buf[l->len++] = c;
	l->buf[l->len] = '\0';
}

void prom_label(struct prom_labels *l, const char *name, const char *value)
{
	if (l->len > 0)
		put_c(l, ',');
	for (const char *p = name; *p != '\0'; p++)
		put_c(l, *p);
	put_c(l, '=');
	put_c(l, '"');
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"') {
			put_c(l, '\\');
			put_c(l, *p);
		} else if (*p == '\n') {
			put_c(l, '\\');
			put_c(l, 'n');
		} else {
			put_c(l, *p);
		}
	}
	put_c(l, '"');
}

static bool put_name(FILE *f, const char *name, const struct prom_labels *l)
{
	if (l != NULL && l->truncated)
		return false;
	fputs(name, f);
	if (l != NULL && l->len > 0)
		fprintf(f, "{%s}", l->buf);
	return true;
}

void prom_sample(FILE *f, const char *name, const struct prom_labels *l, uint64_t value)
{
	if (put_name(f, name, l))
		fprintf(f, " %" PRIu64 "\n", value);
}

void prom_sample_double(FILE *f, const char *name, const struct prom_labels *l, double value)
{
	if (!put_name(f, name, l))
		return;
	if (isnan(value))
		fputs(" NaN\n", f);
	else if (isinf(value))
		fputs(value > 0 ? " +Inf\n" : " -Inf\n", f);
	else
		fprintf(f, " %.17g\n", value);
}
