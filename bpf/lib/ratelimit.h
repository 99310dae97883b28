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
 * The caller takes each check only when a flag or rate it has already loaded says so, and tests the
 * result once; the checks test their condition again, so they stay correct whoever calls them. The
 * source checks (nlb_rl_refuse, nlb_pkt_refuse) are inlined and work on the key's 64-bit words: a global
 * function's call and return (on AMD each return through the SRSO return thunk) and a hash chained over
 * six words took a limit to +20-28 ns a new flow, about +10 without them (docs/benchmarks.md, "Rate
 * limits: cost per packet"), for some 48,000 more instructions verified. nlb_be_refuse is inlined
 * too (about 6 ns less, 5,000 more instructions).
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

/*
 * The bucket key of a listener's source prefix: the source with its host bits zero. Written as the three
 * 64-bit words rl_slot and rl_key_is read back (narrower stores before a wide load stall its forwarding);
 * little-endian, so family is the fifth byte and v6[0] the low half of the second word.
 */
static __always_inline void rl_key(struct nlb_rate_key *k, const struct nlb_ct_key *fk, __u32 listener,
				   const struct nlb_rate_limit *cfg)
{
	__u64 *w = (__u64 *)k;
	__u64 lo, hi = 0;
	__s32 bits;

	if (fk->family == NLB_FAMILY_IPV4) {
		lo = fk->src.v4 & rl_mask(cfg->prefix_v4);
	} else {
		bits = cfg->prefix_v6;
		lo = (fk->src.v6[0] & rl_mask(bits)) | (__u64)(fk->src.v6[1] & rl_mask(bits - 32)) << 32;
		hi = (fk->src.v6[2] & rl_mask(bits - 64)) | (__u64)(fk->src.v6[3] & rl_mask(bits - 96)) << 32;
	}
	w[0] = listener | (__u64)fk->family << 32;
	w[1] = lo;
	w[2] = hi;
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
_Static_assert(sizeof(struct nlb_rate_key) == 24, "a key is compared as three words");
_Static_assert(sizeof(struct nlb_rate_key) <= sizeof(struct nlb_ct_key), "a key is built in nlb_ev_key's scratch");
_Static_assert(__builtin_offsetof(struct nlb_rate_key, family) == 4 && __builtin_offsetof(struct nlb_rate_key, prefix) == 8,
	       "rl_key writes the key as three words");
_Static_assert(__builtin_offsetof(struct nlb_rate_slot, key) == 0 && _Alignof(struct nlb_rate_slot) == 8,
	       "a slot's key is read as 64-bit words");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "rl_key's words are little-endian");

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
 * The first of the two slots (of `slots`, a power of two) where key k's bucket may be: the key's three
 * native-order 64-bit words each multiplied by its own constant, summed (three independent multiplies, not a
 * chain of six: this runs for every limited packet), the high half folded onto the low (a multiply moves bits
 * only upward, and sources differ in their high bits), multiplied again and the high half taken, made even,
 * so the pair is (i, i + 1). Not keyed: a source that picks its address to share a pair with others only
 * gets their buckets reset to full (below), it never takes their tokens.
 */
static __always_inline __u32 rl_slot(const struct nlb_rate_key *k, __u32 slots)
{
	/* Read back from the scratch rather than kept in registers across the slots' lookups: the frame is nearly full. */
	const volatile __u64 *w = (const volatile __u64 *)k;
	__u64 h = w[0] * NLB_RL_MUL0 + w[1] * NLB_RL_MUL1 + w[2] * NLB_RL_MUL2;

	h ^= h >> 32;
	h *= NLB_RL_MUL0;
	return (__u32)(h >> 32) & (slots - 2);
}

/* Keys are compared, and copied, as three 64-bit words: a slot's key and the scratch are 8-byte aligned. */
static __always_inline int rl_key_is(const struct nlb_rate_key *a, const struct nlb_rate_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]));
}

static __always_inline void rl_key_copy(struct nlb_rate_key *to, const struct nlb_rate_key *from)
{
	__u64 *x = (__u64 *)to;
	const __u64 *y = (const __u64 *)from;

	x[0] = y[0];
	x[1] = y[1];
	x[2] = y[2];
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
	/* One rl_take for either slot: inlined in the program, each copy is verified on every path. */
	s = rl_key_is(&a->key, k) ? a : rl_key_is(&b->key, k) ? b : NULL;
	if (s)
		return rl_take(&s->bucket, rate, burst, now);
	s = a->bucket.last_ns <= b->bucket.last_ns ? a : b;
	rl_key_copy(&s->key, k);
	s->bucket.tokens = ((__u64)burst - 1) * NLB_NS_PER_SEC;
	s->bucket.last_ns = now;
	return 0;
}

/*
 * Whether a new flow (fk: its forward key) of listener `listener` must be refused: its listener
 * has NLB_LISTENER_RATE_LIMITED in listener_flags and its source prefix's bucket has no token
 * for it. exempt (a stateless RST, which starts no flow) is never refused and takes no token.
 */
static __always_inline int nlb_rl_refuse(const struct nlb_ct_key *fk, __u32 listener, __u32 listener_flags,
					 __u32 exempt, __u64 now)
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
static __always_inline int nlb_pkt_refuse(const struct nlb_ct_key *k, __u32 listener, __u32 listener_flags,
					  __u64 now)
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
static __always_inline int nlb_be_refuse(__u32 backend_id, __u64 now)
{
	struct nlb_backend *be = bpf_map_lookup_elem(&nlb_backends, &backend_id);
	struct nlb_rate_bucket *b;

	if (!be || !be->rate || !be->burst)
		return 0;
	b = bpf_map_lookup_elem(&nlb_be_buckets, &backend_id);
	return b ? rl_take(b, be->rate, be->burst, now) : 0;
}

#endif /* NLB_RATELIMIT_H */
