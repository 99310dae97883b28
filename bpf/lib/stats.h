/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters (plain increments are exact) and the port-bitmap filters. */
#ifndef NLB_STATS_H
#define NLB_STATS_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include "nodelb_abi.h"
#include "maps.h"

/* Counts one packet under reason (enum nlb_stat). */
static __always_inline void nlb_count(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&nlb_stats, &reason);

	if (n)
		*n += 1;
}

static __always_inline struct nlb_backend_stats *backend_stats(__u32 backend_id)
{
	return bpf_map_lookup_elem(&nlb_be_stats, &backend_id);
}

/* Whether port (host order) is set in a port bitmap (nlb_dports or nlb_sports). */
static __always_inline int port_in_set(void *set, __u16 port)
{
	__u32 word = port >> 6;
	__u64 *bits = bpf_map_lookup_elem(set, &word);

	return bits && (*bits & (1ULL << (port & 63)));
}

/* Whether destination address a may be ours: its bit in the address words of nlb_dports (nodelb_abi.h). */
static __always_inline int daddr_in_set(const union nlb_addr *a)
{
#ifdef NLB_TEST_OLD_LAYOUT /* layout 4 and before: no address filter */
	return 1;
#endif
	__u32 h = (a->v6[0] ^ a->v6[1] ^ a->v6[2] ^ a->v6[3]) * (__u32)NLB_DADDR_MUL;
	__u32 bit = (h ^ (h >> 16)) & (NLB_DADDR_WORDS * 64 - 1);
	__u32 word = NLB_PORT_WORDS + (bit >> 6);
	__u64 *bits = bpf_map_lookup_elem(&nlb_dports, &word);

	return bits && (*bits & (1ULL << (bit & 63)));
}

#endif /* NLB_STATS_H */
