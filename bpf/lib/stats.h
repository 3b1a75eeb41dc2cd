/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef WEFT_LIB_STATS_H
#define WEFT_LIB_STATS_H

#include "../include/maps.h"

/* Count one event of `reason` in the per-CPU stats array (no atomics needed: per-CPU slot). */
static __always_inline void weft_count(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&weft_stats, &reason);
	if (n)
		*n += 1;
}

#endif
