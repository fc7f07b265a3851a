/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus text exposition format (version 0.0.4) written to a stdio
 * stream: a family's HELP and TYPE lines, then its samples, with label
 * values and help text escaped as the format requires. No I/O of its own:
 * the data plane and the control daemon serve what it writes on /metrics.
 */
#ifndef SLUICE_PROM_H
#define SLUICE_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Label pairs of one sample, built with prom_label(). */
struct prom_labels {
	char buf[512];
	size_t len;
	bool truncated; /* a value did not fit: the sample is skipped, not cut */
};

/* Starts family <name> ("sluice_..._total"): its HELP and TYPE ("counter", "gauge"). */
void prom_family(FILE *f, const char *name, const char *type, const char *help);

/* Empties <l>. */
void prom_labels_init(struct prom_labels *l);

/* Appends name="value" to <l>, <value> escaped (backslash, quote, newline). */
void prom_label(struct prom_labels *l, const char *name, const char *value);

/* One sample of family <name> (labels may be NULL). */
void prom_sample(FILE *f, const char *name, const struct prom_labels *l, uint64_t value);

/* The same for a fractional value (seconds, ratios). */
void prom_sample_double(FILE *f, const char *name, const struct prom_labels *l, double value);

#endif
