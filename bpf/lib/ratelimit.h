/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rate limits of new flows (bpf/README.md, "Rate limits"): a token bucket per listener and client
 * source prefix, in the nlb_rate_buckets LRU, for listeners with NLB_LISTENER_RATE_LIMITED. A new
 * flow takes a token; with none left its first packet is dropped (NLB_STAT_DROP_RATE_LIMITED).
 * Packets of live flows never come here, so open connections are never cut.
 *
 * Every decision is taken inside nlb_rl_refuse, a global function the verifier checks once on its
 * own (as the flow events' functions, events.h): new_flow calls it only for a listener with
 * NLB_LISTENER_RATE_LIMITED, with scalars and its key, and tests the result once, so its own paths
 * do not multiply. The function tests the flag again: it stays correct whoever calls it.
 *
 * Integer arithmetic: a token is NLB_NS_PER_SEC units, and a nanosecond refills rate units, so
 * no division by the rate but one, the time a bucket takes to fill from empty. With rate and
 * burst at most 1,000,000 (the API's bounds) every value stays below 2^50.
 *
 * Concurrency: a bucket is read and written without a lock, so two CPUs taking a token from the
 * same bucket at the same instant may both succeed with one token left: a source may open a few
 * more flows than its budget under concurrency (at most one per CPU per race), never fewer.
 */
#ifndef NLB_RATELIMIT_H
#define NLB_RATELIMIT_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "nodelb_abi.h"
#include "config.h"
#include "maps.h"

/* The first `bits` bits of a 32-bit word in network order (bits below 0 count as 0, above 32 as 32). */
static __always_inline __u32 rl_mask(__s32 bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return 0xffffffff;
	return bpf_htonl(~0U << (32 - bits));
}

/*
 * Whether a new flow (fk: its forward key) of listener `listener` must be refused: its listener
 * has NLB_LISTENER_RATE_LIMITED in listener_flags and its source prefix's bucket has no token
 * for it. exempt (a stateless RST, which starts no flow) is never refused and takes no token.
 * A source seen for the first time (or evicted since) starts with a full bucket.
 */
__noinline int nlb_rl_refuse(const struct nlb_ct_key *fk, __u32 listener, __u32 listener_flags, __u32 exempt,
			     __u64 now)
{
	struct nlb_rate_bucket *b, fresh;
	struct nlb_rate_limit *cfg;
	struct nlb_rate_key k;
	__u64 cap, tokens, elapsed;
	__s32 bits;

	if (!fk || exempt || !(listener_flags & NLB_LISTENER_RATE_LIMITED))
		return 0;
	cfg = bpf_map_lookup_elem(&nlb_rate_limits, &listener);
	if (!cfg || !cfg->rate || !cfg->burst)
		return 0;
	__builtin_memset(&k, 0, sizeof(k));
	k.listener = listener;
	k.family = fk->family;
	if (fk->family == NLB_FAMILY_IPV4) {
		k.prefix.v4 = fk->src.v4 & rl_mask(cfg->prefix_v4);
	} else {
		bits = cfg->prefix_v6;
		k.prefix.v6[0] = fk->src.v6[0] & rl_mask(bits);
		k.prefix.v6[1] = fk->src.v6[1] & rl_mask(bits - 32);
		k.prefix.v6[2] = fk->src.v6[2] & rl_mask(bits - 64);
		k.prefix.v6[3] = fk->src.v6[3] & rl_mask(bits - 96);
	}
	cap = (__u64)cfg->burst * NLB_NS_PER_SEC;
	b = bpf_map_lookup_elem(&nlb_rate_buckets, &k);
	if (!b) {
		fresh.tokens = cap - NLB_NS_PER_SEC;
		fresh.last_ns = now;
		bpf_map_update_elem(&nlb_rate_buckets, &k, &fresh, BPF_ANY);
		return 0;
	}
	tokens = b->tokens;
	elapsed = (__s64)(now - b->last_ns) > 0 ? now - b->last_ns : 0;
	if (elapsed >= cap / cfg->rate)
		tokens = cap;
	else
		tokens += elapsed * cfg->rate;
	if (tokens > cap)
		tokens = cap;
	b->last_ns = now;
	if (tokens < NLB_NS_PER_SEC) {
		b->tokens = tokens;
		return 1;
	}
	b->tokens = tokens - NLB_NS_PER_SEC;
	return 0;
}

#endif /* NLB_RATELIMIT_H */
