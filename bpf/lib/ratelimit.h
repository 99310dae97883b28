/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rate limits (bpf/README.md, "Rate limits"), three kinds of token bucket:
 *  - new flows per listener and client source prefix (nlb_rate_buckets slots, NLB_LISTENER_RATE_LIMITED):
 *    a new flow takes a token; with none left its first packet is dropped (NLB_STAT_DROP_RATE_LIMITED).
 *    Packets of live flows never come here, so open connections are never cut;
 *  - new flows per backend (nlb_be_buckets array, a rate in struct nlb_backend): a new flow takes a
 *    token of the backend chosen for it; with none left it is dropped (NLB_STAT_DROP_BACKEND_LIMITED);
 *  - packets per listener and source prefix (nlb_pkt_buckets slots, NLB_LISTENER_PACKET_LIMITED):
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

_Static_assert((NLB_MAX_RATE_BUCKETS & (NLB_MAX_RATE_BUCKETS - 1)) == 0, "slots are found by a mask");
_Static_assert((NLB_MAX_PKT_BUCKETS & (NLB_MAX_PKT_BUCKETS - 1)) == 0, "slots are found by a mask");
_Static_assert(sizeof(struct nlb_rate_key) == 24, "a key is compared as six words");
_Static_assert(sizeof(struct nlb_rate_key) <= sizeof(struct nlb_ct_key), "a key is built in nlb_ev_key's scratch");

/*
 * Where a bucket's key is built: the per-CPU scratch of a conntrack key (nlb_ev_key, as icmp.h's listener
 * key), since the program's frame and this function's must fit 512 bytes together.
 */
static __always_inline struct nlb_rate_key *rl_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&nlb_ev_key, &zero);
}

/*
 * The first of the two slots (of `slots`, a power of two) where key k's bucket may be: each of the key's
 * six words mixed in by a multiply (the address filter's multiplier) and a shift that brings its high bits
 * down (a multiply alone moves bits only upward, and sources differ in their high bits), then made even,
 * so the pair is (i, i + 1). Not keyed: a source that picks its address to share a pair with others only
 * gets their buckets reset to full (below), it never takes their tokens.
 */
static __always_inline __u32 rl_slot(const struct nlb_rate_key *k, __u32 slots)
{
	/* Read back from the scratch, not kept from rl_key in registers: the frame has no room for their spills. */
	const volatile __u32 *w = (const volatile __u32 *)k;
	__u32 h = 0;

#pragma unroll
	for (int i = 0; i < 6; i++) {
		h = (h ^ w[i]) * NLB_DADDR_MUL;
		h ^= h >> 15;
	}
	return h & (slots - 2);
}

static __always_inline int rl_key_is(const struct nlb_rate_key *a, const struct nlb_rate_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) | (x[5] ^ y[5]));
}

/*
 * Takes a token of key k's bucket in an array of `count` slots: 1 when it had none. The bucket is in one of
 * k's two slots; a key in neither takes the one used longer ago (an unused one first) with a full bucket,
 * so a source seen for the first time, or pushed out since, starts full. No helper call and no insert: a
 * flood of sources costs what a known source costs.
 */
static __always_inline int rl_take_slot(void *slots, __u32 count, const struct nlb_rate_key *k, __u32 rate,
					__u32 burst, __u64 now)
{
	__u32 i = rl_slot(k, count);
	struct nlb_rate_slot *a, *b, *s;

	a = bpf_map_lookup_elem(slots, &i);
	i += 1; /* one stack slot for both indexes: this frame and the program's share 512 bytes */
	b = bpf_map_lookup_elem(slots, &i);
	if (!a || !b)
		return 0;
	if (rl_key_is(&a->key, k))
		return rl_take(&a->bucket, rate, burst, now);
	if (rl_key_is(&b->key, k))
		return rl_take(&b->bucket, rate, burst, now);
	s = a->bucket.last_ns <= b->bucket.last_ns ? a : b;
	s->key = *k;
	s->bucket.tokens = ((__u64)burst - 1) * NLB_NS_PER_SEC;
	s->bucket.last_ns = now;
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
	struct nlb_rate_key *k;

	if (!fk || exempt || !(listener_flags & NLB_LISTENER_RATE_LIMITED))
		return 0;
	cfg = bpf_map_lookup_elem(&nlb_rate_limits, &listener);
	k = rl_scratch();
	if (!cfg || !cfg->rate || !cfg->burst || !k)
		return 0;
	rl_key(k, fk, listener, cfg);
	return rl_take_slot(&nlb_rate_buckets, NLB_MAX_RATE_BUCKETS, k, cfg->rate, cfg->burst, now);
}

/*
 * Whether a packet (k: its key as it arrives) to listener `listener` must be refused: the listener
 * has NLB_LISTENER_PACKET_LIMITED in listener_flags and its source prefix's packet bucket is empty.
 */
__noinline int nlb_pkt_refuse(const struct nlb_ct_key *k, __u32 listener, __u32 listener_flags, __u64 now)
{
	struct nlb_rate_limit *cfg;
	struct nlb_rate_key *rk;

	if (!k || !(listener_flags & NLB_LISTENER_PACKET_LIMITED))
		return 0;
	cfg = bpf_map_lookup_elem(&nlb_rate_limits, &listener);
	rk = rl_scratch();
	if (!cfg || !cfg->packet_rate || !cfg->packet_burst || !rk)
		return 0;
	rl_key(rk, k, listener, cfg);
	return rl_take_slot(&nlb_pkt_buckets, NLB_MAX_PKT_BUCKETS, rk, cfg->packet_rate, cfg->packet_burst, now);
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
