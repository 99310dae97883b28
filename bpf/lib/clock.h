/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The time stamps of conntrack entries: CLOCK_MONOTONIC at tick resolution,
 * exactly what bpf_ktime_get_coarse_ns() returns.
 *
 * A helper call is not cheap (a call and a return through the kernel's
 * return thunks: ~15-20 ns on a mitigated CPU), while bpf_jiffies64() is
 * inlined by the JIT into a single load. The coarse clock only moves when the
 * tick advances jiffies, so each CPU keeps the last value it read and asks the
 * kernel again only when jiffies changed: one helper call per tick, not per packet.
 */
#ifndef NLB_CLOCK_H
#define NLB_CLOCK_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"

static __always_inline __u64 nlb_now(void)
{
	__u32 zero = 0;
	struct nlb_clock *c = bpf_map_lookup_elem(&nlb_clock, &zero);
	__u64 jiffies = bpf_jiffies64();

	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->jiffies != jiffies) {
		c->jiffies = jiffies;
		c->ns = bpf_ktime_get_coarse_ns();
	}
	return c->ns;
}

#endif /* NLB_CLOCK_H */
