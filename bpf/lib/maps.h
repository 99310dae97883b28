/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the data plane. Both programs include this file, so both objects
 * carry identical definitions and the agent can pin the maps of one object and
 * hand them to the other (bpf_map__reuse_fd). Nothing is pinned by the object
 * itself: the agent chooses the pin path (/sys/fs/bpf/nodelb/v<N>/<map name>).
 */
#ifndef NLB_MAPS_H
#define NLB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "nodelb_abi.h"

/* Where traffic enters: (VIP, port, proto, family) -> listener. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NLB_MAX_LISTENERS);
	__type(key, struct nlb_listener_key);
	__type(value, struct nlb_listener);
} nlb_listeners SEC(".maps");

/* Idle timeouts per listener id; zeros fall back to the built-in defaults. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_MAX_LISTENERS);
	__type(key, __u32);
	__type(value, struct nlb_timeouts);
} nlb_timeouts SEC(".maps");

/* Per listener id: its new flows' rate limit (struct nlb_rate_limit); read only with NLB_LISTENER_RATE_LIMITED. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_MAX_LISTENERS);
	__type(key, __u32);
	__type(value, struct nlb_rate_limit);
} nlb_rate_limits SEC(".maps");

/*
 * The token buckets, by listener and source prefix: a fixed array of slots found by a hash of the
 * key (ratelimit.h), so a flood of sources overwrites slots instead of filling memory (a source whose
 * slot was taken starts with a full bucket again, as after an LRU eviction) and costs no map insert.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_MAX_RATE_BUCKETS);
	__type(key, __u32);
	__type(value, struct nlb_rate_slot);
} nlb_rate_buckets SEC(".maps");

/* The packet buckets of listeners with NLB_LISTENER_PACKET_LIMITED, slotted as nlb_rate_buckets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_MAX_PKT_BUCKETS);
	__type(key, __u32);
	__type(value, struct nlb_rate_slot);
} nlb_pkt_buckets SEC(".maps");

/* Source-prefix routes per listener: longest (listener id, client prefix) -> group. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NLB_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nlb_route_key);
	__type(value, struct nlb_route);
} nlb_routes SEC(".maps");

/* Target groups by id: flags and how many backends the table holds. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_MAX_GROUPS);
	__type(key, __u32);
	__type(value, struct nlb_group);
} nlb_groups SEC(".maps");

/* Maglev lookup tables, one run of cfg_table_size backend ids per group. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_MAX_GROUPS * NLB_TABLE_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} nlb_tables SEC(".maps");

/* Backends by id: the address and port new flows are sent to. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct nlb_backend);
} nlb_backends SEC(".maps");

/* Per-CPU traffic counters by backend id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct nlb_backend_stats);
} nlb_be_stats SEC(".maps");

/*
 * The new-flow bucket of each backend with a rate (struct nlb_backend), by backend id. One shared
 * entry, not per-CPU: a per-CPU bucket would hand each CPU the whole budget (a backend would take
 * up to rate x CPUs), or a share that RSS skew leaves idle on some CPUs and short on others.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct nlb_rate_bucket);
} nlb_be_buckets SEC(".maps");

/*
 * nlb_ct_embryonic's LRU lists: one per CPU (BPF_F_NO_COMMON_LRU), each max_entries / possible CPUs
 * long. A new TCP flow's insert takes a free element of its CPU's list, or evicts that list's oldest:
 * no global lock, and no pause to refill a CPU's free list from the shared one (the new-flow tail).
 * The cost, a CPU that inserts more than its share evicts its own entries while others have room,
 * is acceptable for flows that wait there milliseconds. nlb_conntrack keeps one common list: its
 * capacity is the whole table whatever CPU the flows arrive on (one RX queue, possible CPUs far above
 * the online ones), since an entry evicted there is an established connection lost (layout 6).
 * Every CPU finds every entry (one hash table).
 */
#ifndef NLB_TEST_OLD_LAYOUT
#define NLB_EMBRYONIC_LRU_FLAGS BPF_F_NO_COMMON_LRU
#else /* layout 4 and before: one LRU list for all CPUs */
#define NLB_EMBRYONIC_LRU_FLAGS 0
#endif

/* Flow table shared by all CPUs and both programs: 5-tuple -> rewrite. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NLB_MAX_CONNTRACK);
	__type(key, struct nlb_ct_key);
	__type(value, struct nlb_ct_entry);
} nlb_conntrack SEC(".maps");

/*
 * The flows whose backend has not answered yet (TCP entries in SYN or CLOSING, same key and value):
 * looked up only on a miss of nlb_conntrack, their entries move there at the backend's first answer
 * (nlb_ct_answered), so a flood of spoofed flows evicts only other unanswered ones.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NLB_MAX_EMBRYONIC);
	__uint(map_flags, NLB_EMBRYONIC_LRU_FLAGS);
	__type(key, struct nlb_ct_key);
	__type(value, struct nlb_ct_entry);
} nlb_ct_embryonic SEC(".maps");

/* The entry of key k wherever its flow is: answered in nlb_conntrack, else waiting in nlb_ct_embryonic. */
static __always_inline struct nlb_ct_entry *nlb_ct_find(const struct nlb_ct_key *k)
{
	struct nlb_ct_entry *e = bpf_map_lookup_elem(&nlb_conntrack, k);

	if (!e)
		e = bpf_map_lookup_elem(&nlb_ct_embryonic, k);
	return e;
}

/* The key of the other direction of e's flow: its translated tuple, reversed. */
static __always_inline void nlb_ct_other_key(struct nlb_ct_key *k, const struct nlb_ct_entry *e, __u8 proto,
					     __u8 family)
{
	k->src = e->nat_dst;
	k->dst = e->nat_src;
	k->sport = e->nat_dport;
	k->dport = e->nat_sport;
	k->proto = proto;
	k->family = family;
	k->pad = 0;
}

/* Per-CPU packet counters by enum nlb_stat: one reason per packet seen. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NLB_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} nlb_stats SEC(".maps");

/*
 * Ingress fast filter: bit p of word p/64 set <=> dst port p may be ours; then NLB_DADDR_WORDS
 * words of destination addresses (nodelb_abi.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
#ifndef NLB_TEST_OLD_LAYOUT
	__uint(max_entries, NLB_PORT_WORDS + NLB_DADDR_WORDS);
#else /* layout 4 and before (LayoutMigrationIT's old agent): no address words */
	__uint(max_entries, NLB_PORT_WORDS);
#endif
	__type(key, __u32);
	__type(value, __u64);
} nlb_dports SEC(".maps");

/* Egress fast filter: bit p of word p/64 set <=> src port p is a backend port. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NLB_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} nlb_sports SEC(".maps");

/* Flow events for the agent (struct nlb_event records); see lib/events.h. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NLB_EVENTS_BYTES);
} nlb_events SEC(".maps");

/* Per-CPU event budget and the counts of records not written. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nlb_event_budget);
} nlb_ev_budget SEC(".maps");

/*
 * Per-CPU scratch for lib/events.h and nlb_ct_answered (conntrack.h): the other direction's conntrack key. On the stack of its
 * global function it would take the XDP program's two frames past the 512 bytes they may have
 * together. Private to each object: never pinned, nothing for the agent to read.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nlb_ct_key);
} nlb_ev_key SEC(".maps");

/* The coarse clock as last read on this CPU (see clock.h); private to the programs. */
struct nlb_clock {
	__u64 jiffies;
	__u64 ns;
};

/* Per-CPU cache of the coarse clock, refreshed once a jiffy. Nothing for the agent to read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nlb_clock);
} nlb_clock SEC(".maps");

#endif /* NLB_MAPS_H */
