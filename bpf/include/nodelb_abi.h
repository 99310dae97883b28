/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The nodelb data-plane ABI: every map key and value that the BPF programs and
 * the agent share. This is the only place these layouts are defined; the Java
 * side mirrors them as MemoryLayouts (io.nodelb.agent.bpf.Abi) and a test
 * compares both against the BTF of the compiled object.
 *
 * Conventions:
 *  - Addresses are 16 bytes; an IPv4 address sits in the first 4 bytes and the
 *    other 12 are zero. Addresses and ports are in network byte order, as they
 *    appear on the wire, so the programs never swap them.
 *  - Every struct is padded by hand with explicit fields, so the compiler never
 *    adds hidden padding: keys hash the same whoever writes them.
 *  - Change a layout => bump NLB_LAYOUT_VERSION (it is part of the pin path). A layout
 *    change is any change to a pinned map's key or value struct (a field added, removed,
 *    moved, resized, renamed or given another meaning), its type, or what its max entries
 *    mean. The next agent migrates the old data plane with its live flows: conntrack and
 *    configuration field by field by name through BTF, per-CPU counters reset. A rename or
 *    a change of meaning needs a converter (LayoutMigration.CONVERTERS in the agent). The
 *    rule in full: bpf/README.md, "Layout versions".
 */
#ifndef NODELB_ABI_H
#define NODELB_ABI_H

#include <linux/types.h>

/* Part of the pin path (/sys/fs/bpf/nodelb/v<N>/): an agent adopts maps of its own layout and migrates older ones. */
#define NLB_LAYOUT_VERSION 7

/* Default map sizes; the agent may resize before load (bpf_map__set_max_entries). */
#define NLB_MAX_LISTENERS 4096
#define NLB_MAX_ROUTES 16384
#define NLB_MAX_GROUPS 1024
#define NLB_MAX_BACKENDS 65536
#define NLB_MAX_CONNTRACK 1048576
/* Unanswered TCP flows (LRU), apart so that a flood of them churns only this table: a quarter of conntrack. */
#define NLB_MAX_EMBRYONIC 262144
/* Token buckets of rate-limited listeners (LRU): one per listener and client source prefix seen lately. */
#define NLB_MAX_RATE_BUCKETS 262144
/* Packet token buckets of listeners with a packet limit (LRU): one per listener and client source prefix seen lately. */
#define NLB_MAX_PKT_BUCKETS 262144
/* Default Maglev table size per group (prime). The table map holds MAX_GROUPS * TABLE_SIZE slots. */
#define NLB_TABLE_SIZE 4093
/* One bit per port: 65536 / 64 words. */
#define NLB_PORT_WORDS 1024
/*
 * nlb_dports holds, after its port words, a filter of destination addresses: 4,096 bits, bit
 * nlb_daddr_bit(a) set <=> address a may be ours (a listener's, or a FullNAT SNAT address). Two
 * addresses may share a bit: a collision only sends a packet down the slower path.
 * bit = (h ^ h >> 16) & 4095, h = (the address's four native-order 32-bit words xor'ed) * NLB_DADDR_MUL.
 */
#define NLB_DADDR_WORDS 64
#define NLB_DADDR_MUL 2654435761

enum nlb_family {
	NLB_FAMILY_IPV4 = 4,
	NLB_FAMILY_IPV6 = 6,
};

union nlb_addr {
	__u32 v4;
	__u32 v6[4];
	__u8 bytes[16];
};

/* nlb_listeners key: where traffic enters. */
struct nlb_listener_key {
	union nlb_addr addr; /* VIP (or one address of the interface) */
	__be16 port;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP; IPPROTO_ICMP/ICMPV6 with port 0: the VIP's echo setting */
	__u8 family; /* enum nlb_family */
};

enum nlb_listener_flags {
	NLB_LISTENER_FULLNAT = 1 << 0, /* rewrite the source to snat_addr:port too */
	NLB_LISTENER_HAS_ROUTES = 1 << 1, /* consult nlb_routes before the default group */
	/* Its flows write flow events (nlb_events). The same bit as NLB_CT_EVENTS: copied without a branch. */
	NLB_LISTENER_EVENTS = 1 << 4,
	/* Its new flows take a token from their source's bucket (nlb_rate_limits, nlb_rate_buckets). */
	NLB_LISTENER_RATE_LIMITED = 1 << 8,
	/*
	 * On the entry of a VIP's ICMP echo (port 0, proto IPPROTO_ICMP or IPPROTO_ICMPV6; lib/icmp.h):
	 * answer echo requests from XDP, or drop them. Neither bit, or no such entry: the node's stack answers.
	 */
	NLB_LISTENER_ECHO_REPLY = 1 << 9,
	NLB_LISTENER_ECHO_DROP = 1 << 10,
	/* Every packet to it takes a token from its source's packet bucket (nlb_rate_limits, nlb_pkt_buckets). */
	NLB_LISTENER_PACKET_LIMITED = 1 << 11,
};

struct nlb_listener {
	__u32 id; /* agent-assigned, used in nlb_route_key */
	__u32 group; /* default TargetGroup id */
	__u32 flags; /* enum nlb_listener_flags */
	__u16 snat_port_min; /* host order; FullNAT source ports are taken from [min, max] */
	__u16 snat_port_max;
	union nlb_addr snat_addr; /* FullNAT source address (a node address) */
};

/* nlb_routes (LPM trie) key: prefixlen counts the 32 bits of listener plus the address prefix. */
struct nlb_route_key {
	__u32 prefixlen;
	__u32 listener;
	union nlb_addr addr; /* client source prefix */
};

struct nlb_route {
	__u32 group;
	__u32 pad;
};

enum nlb_group_flags {
	NLB_GROUP_PERSIST_SOURCE = 1 << 0, /* select by client address only: session persistence */
};

/* nlb_groups (array, by group id). */
struct nlb_group {
	__u32 flags; /* enum nlb_group_flags */
	__u32 backends; /* backends in the table; 0 => new flows are dropped and counted */
};

/*
 * nlb_timeouts (array, by listener id): how long a flow of that listener may stay
 * idle, per state, in nanoseconds: whole seconds, at least one (the programs skip the
 * lookup for flows idle under a second); 0 means the built-in default (cfg_timeout_*).
 * Read whenever a flow was idle, so a change applies to the listener's open flows too.
 */
struct nlb_timeouts {
	__u64 established_ns;
	__u64 closing_ns;
	__u64 udp_ns;
};

/*
 * nlb_rate_limits (array, by listener id): the token buckets of each client source prefix of a
 * listener with NLB_LISTENER_RATE_LIMITED (new flows) or NLB_LISTENER_PACKET_LIMITED (packets)
 * (bpf/README.md, "Rate limits"). A rate of 0: no such limit.
 */
struct nlb_rate_limit {
	__u32 rate; /* new flows per second a bucket refills, 1-1000000 */
	__u32 burst; /* tokens a bucket holds, 1-1000000 */
	__u8 prefix_v4; /* IPv4 sources share a bucket per prefix of this length, 1-32 */
	__u8 prefix_v6; /* IPv6 sources: 1-128 */
	__u16 pad;
	__u32 pad2;
	__u32 packet_rate; /* packets per second a packet bucket (nlb_pkt_buckets) refills, 1-10000000 */
	__u32 packet_burst; /* packets a packet bucket holds, 1-10000000 */
};

/* The key of a source's bucket in nlb_rate_buckets and nlb_pkt_buckets: a listener's, for one source prefix (host bits zero). */
struct nlb_rate_key {
	__u32 listener;
	__u8 family; /* enum nlb_family */
	__u8 pad;
	__u16 pad2;
	union nlb_addr prefix;
};

/*
 * nlb_rate_buckets, nlb_pkt_buckets and nlb_be_buckets value. A token is NLB_NS_PER_SEC units: a second
 * refills rate tokens, rate * 1e9 units. last_ns 0: never used, full.
 */
struct nlb_rate_bucket {
	__u64 tokens; /* scaled, at most burst * NLB_NS_PER_SEC */
	__u64 last_ns; /* coarse clock of the last refill */
};

/*
 * nlb_rate_buckets and nlb_pkt_buckets value (arrays of slots, by a hash of the key): a bucket with the
 * key it belongs to. A key's bucket is in one of two neighbouring slots (ratelimit.h, rl_slot).
 */
struct nlb_rate_slot {
	struct nlb_rate_key key;
	struct nlb_rate_bucket bucket;
};
/* rl_slot's multipliers (odd, bits spread over the whole word); the agent repeats rl_slot. */
#define NLB_RL_MUL0 11400714819323198485ULL
#define NLB_RL_MUL1 13787848793156543929ULL
#define NLB_RL_MUL2 10723151780598845931ULL

/* nlb_backends (array, by backend id). */
struct nlb_backend {
	union nlb_addr addr;
	__be16 port;
	__u8 family;
	__u8 pad;
	__u32 pad2;
	/* Its TargetGroup's backendRateLimit: new flows per second its bucket (nlb_be_buckets) refills; 0: none. */
	__u32 rate;
	__u32 burst; /* tokens its bucket holds, 1-1000000 */
};

/* nlb_backend_stats (per-CPU array, by backend id). */
struct nlb_backend_stats {
	__u64 packets; /* client -> backend */
	__u64 bytes;
	__u64 new_flows;
	__u64 reply_packets; /* backend -> client */
	__u64 reply_bytes;
	/* Passive health signals (bpf/README.md, "Passive signals"), at most one of each per flow: */
	__u64 resets; /* the backend reset a flow it had seen open (a RST on the reply path) */
	__u64 unanswered_syns; /* a client retransmitted its SYN before the backend answered at all */
};

enum nlb_ct_state {
	NLB_CT_SYN = 1, /* TCP: opening, the backend has not answered past its SYN-ACK (a SYN, or a mid-flow pickup) */
	NLB_CT_ESTABLISHED = 2, /* TCP: the backend answered (a reply without SYN); the long timeout */
	NLB_CT_CLOSING = 3, /* TCP: FIN or RST seen */
	NLB_CT_UDP = 4,
};

enum nlb_ct_flags {
	NLB_CT_REPLY = 1 << 0, /* this entry translates backend -> client packets */
	NLB_CT_FULLNAT = 1 << 1,
	NLB_CT_PICKED_UP = 1 << 2, /* reply entry of a flow picked up past its SYN: the backend never saw it open */
	NLB_CT_SYN_RETRIED = 1 << 3, /* forward entry: a retransmitted SYN found no answer yet (counted once) */
	NLB_CT_EVENTS = 1 << 4, /* both entries: the flow's listener had events on when it began */
	NLB_CT_ENDED = 1 << 5, /* forward entry: its FLOW_END record was written (once per flow) */
};

#ifndef NLB_TEST_OLD_LAYOUT
/* nlb_conntrack (LRU hash): the 5-tuple as it arrives, in either direction. */
struct nlb_ct_key {
	union nlb_addr src;
	union nlb_addr dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

/*
 * A packet matching key is rewritten to (nat_src:nat_sport -> nat_dst:nat_dport).
 * A flow has two entries: the forward one (client -> VIP) and the reply one
 * (backend -> client, or backend -> snat address in FullNAT); each counts its
 * own direction. Times are CLOCK_MONOTONIC nanoseconds.
 */
struct nlb_ct_entry {
	union nlb_addr nat_src;
	union nlb_addr nat_dst;
	__be16 nat_sport;
	__be16 nat_dport;
	__u32 backend; /* backend id */
	__u64 created_ns;
	__u64 last_seen_ns;
	__u64 packets;
	__u64 bytes;
	__u8 state; /* enum nlb_ct_state */
	__u8 flags; /* enum nlb_ct_flags */
	__u16 pad;
	__u32 listener; /* listener id */
};
#else
/*
 * Test hook, never defined in a real build: node-agent's LayoutMigrationIT compiles the
 * programs a second time with it (src/test/bpf/Makefile) as "an agent of layout 0", whose
 * conntrack differs from the one above the way a real layout change would: fields in
 * another order, backend narrower, pad missing and hint extra. It proves that an upgrade
 * carries live flows across a layout change (bpf/README.md, "Layout versions").
 */
struct nlb_ct_key {
	__be16 sport; /* sport and dport stay adjacent: the programs read them as one word */
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
	union nlb_addr src;
	union nlb_addr dst;
};

struct nlb_ct_entry {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u64 packets;
	__u64 bytes;
	union nlb_addr nat_dst;
	union nlb_addr nat_src;
	__be16 nat_sport;
	__be16 nat_dport;
	__u8 state;
	__u8 flags;
	__u16 backend;
	__u32 listener;
	__u32 hint;
};
#endif /* NLB_TEST_OLD_LAYOUT */

/* nlb_stats (per-CPU array, by reason): why packets passed, dropped or were rewritten. */
enum nlb_stat {
	NLB_STAT_PASS_NOT_IP = 0, /* not IPv4/IPv6, or a VLAN tag */
	NLB_STAT_PASS_MALFORMED, /* could not be parsed safely */
	NLB_STAT_PASS_FRAGMENT,
	NLB_STAT_PASS_IP_OPTIONS, /* IPv4 options or IPv6 extension headers */
	NLB_STAT_PASS_NOT_L4, /* neither TCP nor UDP */
	NLB_STAT_PASS_NO_LISTENER, /* TCP/UDP, but not to a listener */
	NLB_STAT_CT_HIT, /* forward packet of a known flow */
	NLB_STAT_CT_REPLY, /* reply packet translated */
	NLB_STAT_NEW_FLOW,
	NLB_STAT_DROP_NO_BACKEND, /* listener's group is empty */
	NLB_STAT_DROP_NO_NAT_PORT, /* FullNAT ports exhausted for this backend */
	NLB_STAT_DROP_CT_FULL, /* conntrack insert failed */
	NLB_STAT_RST_NO_STATE, /* TCP RST of an unknown flow: sent to the selected backend, no state created */
	NLB_STAT_DROP_REPLY_BUSY, /* DNAT: every backend tried already has a live flow from this client address and port */
	NLB_STAT_ICMP_TO_CLIENT, /* ICMP error about a packet sent to a backend: translated for the client */
	NLB_STAT_ICMP_TO_BACKEND, /* ICMP error about a reply sent to a client: translated for the backend */
	NLB_STAT_DROP_RATE_LIMITED, /* a new flow whose source's token bucket was empty (the listener's rate limit) */
	NLB_STAT_DROP_BACKEND_LIMITED, /* a new flow whose backend's token bucket was empty (the group's backendRateLimit) */
	NLB_STAT_DROP_PACKET_LIMITED, /* a packet whose source's packet bucket was empty (the listener's packet limit) */
	NLB_STAT_MAX,
};

/*
 * nlb_fwd_stats (per-CPU array, by outcome; lib/fastpath.h): what the XDP fast path did with a
 * translated packet. Not pinned (each agent's program has its own), so not part of the layout.
 */
enum nlb_fwd {
	NLB_FWD_REDIRECT = 0, /* sent out another interface (bpf_redirect_map) */
	NLB_FWD_TX, /* sent back out the interface it came in on (XDP_TX) */
	NLB_FWD_PASS_NOT_SAFE, /* the route's interface is not one the agent marked safe */
	NLB_FWD_PASS_NO_NEIGH, /* no neighbour entry yet: the stack resolves it */
	NLB_FWD_PASS_MTU, /* larger than the egress MTU: the stack fragments or sends the ICMP error */
	NLB_FWD_PASS_TTL, /* TTL or hop limit would expire: the stack sends time exceeded */
	NLB_FWD_PASS_NO_ROUTE, /* any other lookup result (local, blackhole, unreachable, forwarding off) */
	NLB_FWD_PASS_FRAGS, /* a frame of several buffers (jumbo, or a veth peer's TSO segment) */
	NLB_FWD_MAX,
};

/*
 * nlb_echo_stats (per-CPU array; lib/icmp.h): echo requests to a VIP answered or dropped in XDP as
 * its ICMP entry says. Not pinned (each agent's program has its own), so not part of the layout.
 */
enum nlb_echo {
	NLB_ECHO_REPLIED = 0,
	NLB_ECHO_DROPPED,
	NLB_ECHO_MAX,
};

/*
 * Flow events (bpf/README.md, "Flow events"): struct nlb_event records in the nlb_events
 * ring buffer, NLB_EVENTS_BYTES long (a power of two, a multiple of the page size).
 */
#define NLB_EVENTS_BYTES 2097152
/* Records wake the agent only once this much, a quarter of the ring, waits (bpf/README.md, "Flow events"). */
#define NLB_EVENTS_WAKEUP_BYTES 524288

enum nlb_event_type {
	NLB_EVENT_NEW_FLOW = 1, /* a flow got its backend and its conntrack entries */
	NLB_EVENT_FLOW_END = 2, /* the flow ended: reason is an enum nlb_end_reason */
	NLB_EVENT_DROP = 3, /* a new flow's packet was dropped: reason is its enum nlb_stat */
};

enum nlb_end_reason {
	NLB_END_FIN = 1, /* both sides sent a FIN (written at the second one) */
	NLB_END_RST = 2, /* either side sent a RST */
	NLB_END_IDLE = 3, /* idle past its timeout: found by the agent's conntrack sweep, not by a program */
};

/*
 * A record of nlb_events. The tuple is the client's (src:sport -> VIP dst:dport), the
 * backend the one chosen (zero in DROP). created_ns and the counters are the flow's at the
 * moment of the record (FLOW_END; NEW_FLOW: the first packet): packets/bytes client ->
 * backend from the forward entry, reply_* backend -> client from the reply entry, bytes of
 * the IP packets (headers included). Times: CLOCK_MONOTONIC, the programs' coarse clock.
 */
struct nlb_event {
	__u64 time_ns;
	__u64 created_ns;
	union nlb_addr src;
	union nlb_addr dst;
	union nlb_addr backend_addr;
	__be16 sport;
	__be16 dport;
	__be16 backend_port;
	__u8 proto;
	__u8 family;
	__u8 type; /* enum nlb_event_type */
	__u8 reason; /* FLOW_END: enum nlb_end_reason; DROP: enum nlb_stat; NEW_FLOW: 0 */
	__u8 flags; /* the forward entry's enum nlb_ct_flags (NLB_CT_FULLNAT) */
	__u8 pad;
	__u32 listener; /* listener id */
	__u32 backend; /* backend id */
	__u32 pad2;
	__u64 packets;
	__u64 bytes;
	__u64 reply_packets;
	__u64 reply_bytes;
};

/*
 * nlb_ev_budget (per-CPU array, one entry): each CPU writes at most cfg_events_per_sec
 * records per second of the coarse clock; what it could not write is counted here.
 */
struct nlb_event_budget {
	__u64 window_ns; /* start of the current one-second window */
	__u64 window_sent; /* records written in it */
	__u64 sent; /* records written since the map was created */
	__u64 over_budget; /* not written: this CPU's budget for that second was spent */
	__u64 ring_full; /* not written: the ring buffer had no room (the agent is behind) */
};

#endif /* NODELB_ABI_H */
