/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rate limits (bpf/README.md, "Rate limits"), three kinds of token bucket:
 *  - new flows per listener and client source prefix (nlb_rate_buckets LRU, NLB_LISTENER_RATE_LIMITED):
 *    a new flow takes a token; with none left its first packet is dropped (NLB_STAT_DROP_RATE_LIMITED).
 *    Packets of live flows never come here, so open connections are never cut;
 *  - new flows per backend (nlb_be_buckets array, a rate in struct nlb_backend): a new flow takes a
 *    token of the backend chosen for it; with none left it is dropped (NLB_STAT_DROP_BACKEND_LIMITED);
 *  - packets per listener and source prefix (nlb_pkt_buckets LRU, NLB_LISTENER_PACKET_LIMITED):
 *    every packet to the listener, of new and open flows alike (NLB_STAT_DROP_PACKET_LIMITED).
 *
 * Every decision is taken inside global functions the verifier checks once on their own (as the
 * flow events' functions, events.h): the caller calls them only when a flag or rate it has already
 * loaded says so, with scalars and keys, and tests the result once, so its own paths do not
 * multiply. The functions test their condition again: they stay correct whoever calls them.
 *
 * Integer arithmetic: a token is NLB_NS_PER_SEC units, and a nanosecond refills rate units, so
 * no division by the rate but one, the time a bucket takes to fill from empty, and that only for a
 * bucket idle more than 2^32 ns. With rates and
 * bursts at most 10,000,000 (the API's bounds) every value stays below 2^55; at the agent's own
 * bound, 2^31 - 1 (the benchmark's limits out of reach), below 2^63.
 *
 * Concurrency: a bucket is read and written without a lock, so two CPUs taking a token from the
 * same bucket at the same instant may both succeed with one token left: a source may open a few
 * more flows than its budget under concurrency (at most one per CPU per race), never fewer. The
 * same holds for a backend's bucket, which every CPU shares: an atomic or locked update would cost
 * every limited new flow more than the few flows a race lets through.
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

/* The bucket key of a listener's source prefix: the source with its host bits zero. */
static __always_inline void rl_key(struct nlb_rate_key *k, const struct nlb_ct_key *fk, __u32 listener,
				   const struct nlb_rate_limit *cfg)
{
	__s32 bits;

	__builtin_memset(k, 0, sizeof(*k));
	k->listener = listener;
	k->family = fk->family;
	if (fk->family == NLB_FAMILY_IPV4) {
		k->prefix.v4 = fk->src.v4 & rl_mask(cfg->prefix_v4);
	} else {
		bits = cfg->prefix_v6;
		k->prefix.v6[0] = fk->src.v6[0] & rl_mask(bits);
		k->prefix.v6[1] = fk->src.v6[1] & rl_mask(bits - 32);
		k->prefix.v6[2] = fk->src.v6[2] & rl_mask(bits - 64);
		k->prefix.v6[3] = fk->src.v6[3] & rl_mask(bits - 96);
	}
}

/* Refills bucket b (rate per second, burst tokens) to now and takes a token: 1 when it had none. */
static __always_inline int rl_take(struct nlb_rate_bucket *b, __u32 rate, __u32 burst, __u64 now)
{
	__u64 cap = (__u64)burst * NLB_NS_PER_SEC, tokens = b->tokens, elapsed;

	elapsed = (__s64)(now - b->last_ns) > 0 ? now - b->last_ns : 0;
	/*
	 * Never used, or idle long enough to be full. Within 2^32 ns (4.3 s) of its last use the refill
	 * elapsed * rate fits (rate < 2^31) and the clamp below decides: the division, tens of cycles,
	 * runs only for a bucket idle longer, not for every packet of a busy one.
	 */
	if (!b->last_ns || ((elapsed >> 32) && elapsed >= cap / rate))
		tokens = cap;
	else
		tokens += elapsed * rate;
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

/*
 * Takes a token of the bucket at k in an LRU of buckets: 1 when it had none. A source seen for the
 * first time (or evicted since) starts with a full bucket.
 */
static __always_inline int rl_take_lru(void *buckets, const struct nlb_rate_key *k, __u32 rate, __u32 burst,
				       __u64 now)
{
	struct nlb_rate_bucket *b = bpf_map_lookup_elem(buckets, k), fresh;

	if (b)
		return rl_take(b, rate, burst, now);
	fresh.tokens = ((__u64)burst - 1) * NLB_NS_PER_SEC;
	fresh.last_ns = now;
	bpf_map_update_elem(buckets, k, &fresh, BPF_ANY);
	return 0;
}

/*
 * Whether a new flow (fk: its forward key) of listener `listener` must be refused: its listener
 * has NLB_LISTENER_RATE_LIMITED in listener_flags and its source prefix's bucket has no token
 * for it. exempt (a stateless RST, which starts no flow) is never refused and takes no token.
 */
__noinline int nlb_rl_refuse(const struct nlb_ct_key *fk, __u32 listener, __u32 listener_flags, __u32 exempt,
			     __u64 now)
{
	struct nlb_rate_limit *cfg;
	struct nlb_rate_key k;

	if (!fk || exempt || !(listener_flags & NLB_LISTENER_RATE_LIMITED))
		return 0;
	cfg = bpf_map_lookup_elem(&nlb_rate_limits, &listener);
	if (!cfg || !cfg->rate || !cfg->burst)
		return 0;
	rl_key(&k, fk, listener, cfg);
	return rl_take_lru(&nlb_rate_buckets, &k, cfg->rate, cfg->burst, now);
}

/*
 * Whether a packet (k: its key as it arrives) to listener `listener` must be refused: the listener
 * has NLB_LISTENER_PACKET_LIMITED in listener_flags and its source prefix's packet bucket is empty.
 */
__noinline int nlb_pkt_refuse(const struct nlb_ct_key *k, __u32 listener, __u32 listener_flags, __u64 now)
{
	struct nlb_rate_limit *cfg;
	struct nlb_rate_key rk;

	if (!k || !(listener_flags & NLB_LISTENER_PACKET_LIMITED))
		return 0;
	cfg = bpf_map_lookup_elem(&nlb_rate_limits, &listener);
	if (!cfg || !cfg->packet_rate || !cfg->packet_burst)
		return 0;
	rl_key(&rk, k, listener, cfg);
	return rl_take_lru(&nlb_pkt_buckets, &rk, cfg->packet_rate, cfg->packet_burst, now);
}

/*
 * Whether a new flow must be refused because its backend (by id) has a rate and its bucket is
 * empty. Refused, not sent to another backend: see bpf/README.md, "Rate limits".
 */
__noinline int nlb_be_refuse(__u32 backend_id, __u64 now)
{
	struct nlb_backend *be = bpf_map_lookup_elem(&nlb_backends, &backend_id);
	struct nlb_rate_bucket *b;

	if (!be || !be->rate || !be->burst)
		return 0;
	b = bpf_map_lookup_elem(&nlb_be_buckets, &backend_id);
	return b ? rl_take(b, be->rate, be->burst, now) : 0;
}

#endif /* NLB_RATELIMIT_H */
