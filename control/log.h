/* SPDX-License-Identifier: BSD-3-Clause */
/* The control daemon's log: one line on stderr, after the wall-clock time. */
#ifndef SLUICE_CONTROL_LOG_H
#define SLUICE_CONTROL_LOG_H

void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
