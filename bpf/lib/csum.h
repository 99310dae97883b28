/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Incremental Internet checksum updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
 *
 * The one's complement sum does not depend on byte order (RFC 1071), so we add
 * words exactly as they sit in memory and fold a 64-bit accumulator at the end:
 * no byte swaps and no bpf_csum_diff() call.
 */
#ifndef NLB_CSUM_H
#define NLB_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* The contribution of replacing the 32-bit word from by to: ~from + to. */
static __always_inline __u64 csum_diff32(__u32 from, __u32 to)
{
	return (__u64)(__u32)~from + to;
}

/* The contribution of replacing a 16-byte address (four words). */
static __always_inline __u64 csum_diff128(const __u32 *from, const __u32 *to)
{
	return csum_diff32(from[0], to[0]) + csum_diff32(from[1], to[1]) +
	       csum_diff32(from[2], to[2]) + csum_diff32(from[3], to[3]);
}

/* What csum_fold64() gives for words replaced by themselves (~x + x is negative zero). */
#define CSUM_NO_CHANGE 0xffffffff

/* Folds a 64-bit sum of 32-bit words to a 32-bit one's complement sum (a __wsum). */
static __always_inline __u32 csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return (__u32)sum;
}

/* Folds a 32-bit one's complement sum to 16 bits. */
static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Applies an accumulated difference to a checksum field value. */
static __always_inline __u16 csum_update(__u16 check, __u64 diff)
{
	return ~csum_fold32(csum_fold64(diff + (__u16)~check));
}

#endif /* NLB_CSUM_H */
