/* SPDX-License-Identifier: BSD-3-Clause */
/* The management side's clock: ms since start-up, from the TSC. */
#include <rte_cycles.h>

#include "dp.h"

uint64_t dp_now_ms(void)
{
	return (rte_rdtsc() - g_dp.started_tsc) / (rte_get_tsc_hz() / 1000);
}
