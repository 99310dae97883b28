/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP and ICMPv6 errors through the NAT (bpf/README.md, "ICMP errors").
 *
 * An error (destination unreachable, fragmentation needed / packet too big, time exceeded)
 * quotes the packet that caused it. When that packet is one the balancer translated, the error
 * names a tuple its receiver never sent; it is translated like the flow's own packets: the
 * quoted packet is a packet in the direction opposite to the error, so its tuple reversed is the
 * conntrack key of the direction that produced it, and that entry's rewrite, applied in reverse,
 * gives the quoted packet its receiver knows:
 *
 *   quoted  Q.src:sport -> Q.dst:dport   key (Q.dst:dport -> Q.src:sport) -> entry e
 *   becomes e.nat_dst:nat_dport -> e.nat_src:nat_sport
 *   outer   dst (= Q.src) -> e.nat_dst; src -> e.nat_src only when it was Q.dst (the peer itself)
 *
 * An error about a reply (VIP -> client) comes to the VIP and finds the forward entry: it goes to
 * the backend (nlb_xdp). An error about a forward packet (-> backend) finds the reply entry: it
 * goes to the client, through nlb_xdp for FullNAT (it comes to the SNAT address) and through
 * nlb_tc_egress for DNAT (it is routed toward the client). Nothing is written to conntrack: an
 * error neither creates nor refreshes a flow. Anything else passes untouched.
 *
 * The work is done inside two global functions (nlb_icmp_xdp, nlb_icmp_tc) that re-parse from
 * the context: the verifier checks them once, on their own, and the TCP/UDP path never reaches
 * them. The XDP program's frame leaves a callee little stack (512 bytes for both), so the key is
 * built in the per-CPU scratch of lib/events.h (nlb_ev_key; XDP and TC never run nested on one CPU).
 */
#ifndef NLB_ICMP_H
#define NLB_ICMP_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "nodelb_abi.h"
#include "maps.h"
#include "csum.h"
#include "parse.h"
#include "conntrack.h"

/* Per-CPU counts by enum nlb_echo. Not pinned: each loaded program has its own (not layout). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NLB_ECHO_MAX);
	__type(key, __u32);
	__type(value, __u64);
} nlb_echo_stats SEC(".maps");

/* The ICMP and ICMPv6 header (linux/icmp.h pulls in libc headers). */
struct nlb_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__u32 rest; /* unused, next-hop MTU, pointer */
};

#define NLB_ICMP_LEN 8
#define NLB_ICMP_DEST_UNREACH 3 /* also fragmentation needed (code 4) */
#define NLB_ICMP_TIME_EXCEEDED 11
#define NLB_ICMPV6_DEST_UNREACH 1
#define NLB_ICMPV6_PKT_TOOBIG 2
#define NLB_ICMPV6_TIME_EXCEED 3
#define NLB_ICMP_ECHO 8
#define NLB_ICMP_ECHO_REPLY 0
#define NLB_ICMPV6_ECHO 128
#define NLB_ICMPV6_ECHO_REPLY 129
/* The TTL / hop limit of an echo reply sent from XDP (Linux's default). */
#define NLB_ECHO_TTL 64
/*
 * nlb_icmp_xdp's result for an echo request it answered or dropped: NLB_ICMP_ACTION + the XDP
 * action (above every stat reason); nlb_xdp returns the action, already counted in nlb_echo_stats.
 */
#define NLB_ICMP_ACTION 0x100
/* The most bytes an error we translate needs in the linear area: up to the quoted TCP checksum. */
#define NLB_ICMP_MAX_LEN (NLB_ETH_LEN + NLB_IP6_LEN + NLB_ICMP_LEN + NLB_IP6_LEN + 18)

/*
 * Makes the compiler compute x here and keep only the result: it would otherwise defer the
 * comparisons to their use, holding their operands across the lookup, past the few bytes of
 * stack the XDP program's frame leaves this code.
 */
#define icmp_settle(x) asm volatile("" : "+r"(x))

/* Where the translation runs: which entries it applies. */
enum nlb_icmp_hook {
	NLB_ICMP_AT_XDP, /* forward entries (errors to the VIP) and FullNAT reply entries */
	NLB_ICMP_AT_TC, /* DNAT reply entries */
};

/*
 * The checksum work a translation leaves to TC (csum.h sums, memory order). XDP passes none: it
 * patches inline, and its frame leaves no room for this struct on its callee's stack.
 */
struct nlb_icmp_sums {
	__u64 outer; /* outer addresses: the IPv4 header, or the ICMPv6 pseudo-header */
	__u64 payload; /* the quoted bytes: ICMP checksum */
	__u32 ip_off; /* the outer IP header's offset in the frame */
	__u32 check_off; /* the ICMP checksum's offset in the frame */
};

static __always_inline int icmp4_is_error(__u8 type)
{
	return type == NLB_ICMP_DEST_UNREACH || type == NLB_ICMP_TIME_EXCEEDED;
}

static __always_inline int icmp6_is_error(__u8 type)
{
	return type == NLB_ICMPV6_DEST_UNREACH || type == NLB_ICMPV6_PKT_TOOBIG || type == NLB_ICMPV6_TIME_EXCEED;
}

/* The contribution of replacing a 16-bit field (memory order, even offset). */
static __always_inline __u64 csum_diff16(__u16 from, __u16 to)
{
	return (__u16)~from + (__u64)to;
}

/* Fills the scratch key with the quoted tuple reversed; the caller set the addresses. */
static __always_inline void icmp_key_ports(struct nlb_ct_key *k, const __u16 *qports, __u8 proto, __u8 family)
{
	k->sport = qports[1];
	k->dport = qports[0];
	k->proto = proto;
	k->family = family;
	k->pad = 0;
}

/* The entry of the quoted packet's flow that this hook may apply, or NULL. */
static __always_inline struct nlb_ct_entry *icmp_entry(const struct nlb_ct_key *k, enum nlb_icmp_hook hook)
{
	struct nlb_ct_entry *e = nlb_ct_find(k);
	__u8 flags;

	if (!e)
		return NULL;
	flags = e->flags & (NLB_CT_REPLY | NLB_CT_FULLNAT);
	if (hook == NLB_ICMP_AT_TC)
		return flags == NLB_CT_REPLY ? e : NULL;
	return flags == NLB_CT_REPLY ? NULL : e;
}

/*
 * The quoted L4 checksum field, when the quote holds it (qroom: the quoted bytes from the L4
 * header on, as the outer IP length says), else NULL: only the ports are then rewritten.
 */
static __always_inline __u16 *icmp_quoted_check(__u32 *qports, void *end, __u8 proto, __u32 qroom)
{
	if (proto == IPPROTO_UDP)
		return (void *)qports + 6; /* within the 8 bytes the caller checked */
	if (qroom >= 18 && (void *)qports + 18 <= end)
		return (void *)qports + 16;
	return NULL;
}

/*
 * Rewrites the quoted L4 ports to e's, swapped (the quote runs against the entry's direction),
 * and the checksum when the quote holds it (check; addr_diff: the quoted addresses' change);
 * returns what the ICMP checksum must take in.
 */
static __always_inline __u64 icmp_rewrite_quoted_l4(__u32 *qports, __u16 *check, const struct nlb_ct_entry *e,
						    __u64 addr_diff)
{
	__u32 to = *(const __u32 *)&e->nat_sport; /* memory order: nat_sport, nat_dport */
	__u64 diff;
	__u16 old, new;

	to = (to >> 16) | (to << 16);
	diff = csum_diff32(*qports, to);
	*qports = to;
	if (!check)
		return diff;
	old = *check;
	if (old == 0 && check == (void *)qports + 6)
		return diff; /* UDP without checksum (IPv4 only) stays so */
	new = csum_update(old, addr_diff + diff);
	if (new == 0 && check == (void *)qports + 6)
		new = 0xffff; /* UDP sends a computed 0 as all ones */
	*check = new;
	return diff + csum_diff16(old, new);
}

/*
 * IPv4: the frame [data, end) holds an IPv4 header (not yet checked) at data + NLB_ETH_LEN.
 * Returns the stat reason: a translation, or NLB_STAT_PASS_NOT_L4 with nothing changed.
 * s: NULL at XDP (checksums patched inline), else what TC's helpers must apply.
 */
static __always_inline int icmp4_translate(void *data, void *end, __u32 frame_len, enum nlb_icmp_hook hook,
					   struct nlb_ct_key *k, struct nlb_icmp_sums *s)
{
	struct iphdr *ip = data + NLB_ETH_LEN, *qip;
	struct nlb_icmphdr *icmp;
	struct nlb_ct_entry *e;
	__u32 *qports, tot_len, from, to;
	__u16 *qcheck, old_check, new_check;
	__u64 outer, qaddr, sum;
	int from_peer;
	__u8 proto;

	if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl != 5 || ip->protocol != IPPROTO_ICMP)
		return NLB_STAT_PASS_NOT_L4;
	if (ip->frag_off & bpf_htons(NLB_IP4_MF | NLB_IP4_OFFSET))
		return NLB_STAT_PASS_NOT_L4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len > frame_len - NLB_ETH_LEN)
		return NLB_STAT_PASS_NOT_L4;
	icmp = (void *)(ip + 1);
	qip = (void *)(icmp + 1);
	qports = (void *)(qip + 1);
	/* The quote: an IPv4 header without options and the 8 bytes of its L4 header with the ports. */
	if ((void *)(qports + 2) > end || tot_len < NLB_IP4_LEN + NLB_ICMP_LEN + NLB_IP4_LEN + 8)
		return NLB_STAT_PASS_NOT_L4;
	if (!icmp4_is_error(icmp->type) || qip->version != 4 || qip->ihl != 5)
		return NLB_STAT_PASS_NOT_L4;
	proto = qip->protocol;
	if (!is_l4_proto(proto) || (qip->frag_off & bpf_htons(NLB_IP4_OFFSET)))
		return NLB_STAT_PASS_NOT_L4;
	/* An error goes to the source of the packet it quotes. */
	if (ip->daddr != qip->saddr)
		return NLB_STAT_PASS_NOT_L4;
	qcheck = icmp_quoted_check(qports, end, proto, tot_len - (NLB_IP4_LEN + NLB_ICMP_LEN + NLB_IP4_LEN));
	from_peer = ip->saddr == qip->daddr; /* the quoted packet's receiver sent the error itself */
	icmp_settle(from_peer);

	__builtin_memset(&k->src, 0, sizeof(k->src));
	__builtin_memset(&k->dst, 0, sizeof(k->dst));
	k->src.v4 = qip->daddr;
	k->dst.v4 = qip->saddr;
	icmp_key_ports(k, (__u16 *)qports, proto, NLB_FAMILY_IPV4);
	e = icmp_entry(k, hook);
	if (!e)
		return NLB_STAT_PASS_NOT_L4;

	/* The outer header: to the party that can act on it (Q.src -> e's nat_dst), from e's nat_src if the peer sent it. */
	to = e->nat_dst.v4;
	outer = csum_diff32(ip->daddr, to);
	ip->daddr = to;
	if (from_peer) {
		to = e->nat_src.v4;
		outer += csum_diff32(ip->saddr, to);
		ip->saddr = to;
	}
	if (s)
		s->outer = outer;
	else
		ip->check = csum_update(ip->check, outer);

	/* The quote: addresses and their header checksum, then the L4 ports and checksum. */
	from = qip->saddr;
	to = e->nat_dst.v4;
	qaddr = csum_diff32(from, to);
	qip->saddr = to;
	from = qip->daddr;
	to = e->nat_src.v4;
	qaddr += csum_diff32(from, to);
	qip->daddr = to;
	old_check = qip->check;
	new_check = csum_update(old_check, qaddr);
	qip->check = new_check;
	sum = qaddr + csum_diff16(old_check, new_check);
	sum += icmp_rewrite_quoted_l4(qports, qcheck, e, qaddr);
	if (s) {
		s->payload = sum;
		s->ip_off = NLB_ETH_LEN;
		s->check_off = NLB_ETH_LEN + NLB_IP4_LEN + 2;
	} else {
		icmp->checksum = csum_update(icmp->checksum, sum);
	}
	return (e->flags & NLB_CT_REPLY) ? NLB_STAT_ICMP_TO_CLIENT : NLB_STAT_ICMP_TO_BACKEND;
}

/*
 * Writes a 16-byte address over another, a word at a time, and returns the checksum difference
 * (both 4-byte aligned).
 */
static __always_inline __u64 addr6_replace(__u32 *at, const __u32 *to)
{
	__u64 diff = 0;
	__u32 w;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		w = to[i];
		diff += csum_diff32(at[i], w);
		at[i] = w;
	}
	return diff;
}

static __always_inline int addr6_equal(const __u32 *a, const __u32 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

/* IPv6, as icmp4_translate. The ICMPv6 checksum also covers the outer addresses (pseudo-header). */
static __always_inline int icmp6_translate(void *data, void *end, __u32 frame_len, enum nlb_icmp_hook hook,
					   struct nlb_ct_key *k, struct nlb_icmp_sums *s)
{
	struct ipv6hdr *ip6 = data + NLB_ETH_LEN, *qip6;
	struct nlb_icmphdr *icmp6;
	struct nlb_ct_entry *e;
	__u32 *qports, plen;
	__u16 *qcheck;
	__u64 outer, qaddr, sum;
	int from_peer;
	__u8 proto;

	if ((void *)(ip6 + 1) > end || ip6->version != 6 || ip6->nexthdr != IPPROTO_ICMPV6)
		return NLB_STAT_PASS_NOT_L4;
	plen = bpf_ntohs(ip6->payload_len);
	if (NLB_IP6_LEN + plen > frame_len - NLB_ETH_LEN)
		return NLB_STAT_PASS_NOT_L4;
	icmp6 = (void *)(ip6 + 1);
	qip6 = (void *)(icmp6 + 1);
	qports = (void *)(qip6 + 1);
	if ((void *)(qports + 2) > end || plen < NLB_ICMP_LEN + NLB_IP6_LEN + 8)
		return NLB_STAT_PASS_NOT_L4;
	if (!icmp6_is_error(icmp6->type) || qip6->version != 6)
		return NLB_STAT_PASS_NOT_L4;
	proto = qip6->nexthdr;
	if (!is_l4_proto(proto))
		return NLB_STAT_PASS_NOT_L4;
	if (!addr6_equal((__u32 *)&ip6->daddr, (__u32 *)&qip6->saddr))
		return NLB_STAT_PASS_NOT_L4;
	qcheck = icmp_quoted_check(qports, end, proto, plen - (NLB_ICMP_LEN + NLB_IP6_LEN));
	from_peer = addr6_equal((__u32 *)&ip6->saddr, (__u32 *)&qip6->daddr);
	icmp_settle(from_peer);

	__builtin_memcpy(&k->src, &qip6->daddr, 16);
	__builtin_memcpy(&k->dst, &qip6->saddr, 16);
	icmp_key_ports(k, (__u16 *)qports, proto, NLB_FAMILY_IPV6);
	e = icmp_entry(k, hook);
	if (!e)
		return NLB_STAT_PASS_NOT_L4;

	outer = addr6_replace((__u32 *)&ip6->daddr, e->nat_dst.v6);
	if (from_peer)
		outer += addr6_replace((__u32 *)&ip6->saddr, e->nat_src.v6);
	qaddr = addr6_replace((__u32 *)&qip6->saddr, e->nat_dst.v6);
	qaddr += addr6_replace((__u32 *)&qip6->daddr, e->nat_src.v6);
	sum = qaddr + icmp_rewrite_quoted_l4(qports, qcheck, e, qaddr);
	if (s) {
		s->outer = outer;
		s->payload = sum;
		s->ip_off = NLB_ETH_LEN;
		s->check_off = NLB_ETH_LEN + NLB_IP6_LEN + 2;
	} else {
		icmp6->checksum = csum_update(icmp6->checksum, outer + sum);
	}
	return (e->flags & NLB_CT_REPLY) ? NLB_STAT_ICMP_TO_CLIENT : NLB_STAT_ICMP_TO_BACKEND;
}

/* Translates the error in [data, end) if it is one of ours; returns its stat reason. */
static __always_inline int icmp_translate(void *data, void *end, __u32 frame_len, enum nlb_icmp_hook hook,
					  struct nlb_icmp_sums *s)
{
	struct ethhdr *eth = data;
	struct nlb_ct_key *k;
	__u32 zero = 0;

	if ((void *)(eth + 1) > end || frame_len < NLB_ETH_LEN)
		return NLB_STAT_PASS_NOT_L4;
	k = bpf_map_lookup_elem(&nlb_ev_key, &zero);
	if (!k)
		return NLB_STAT_PASS_NOT_L4;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return icmp4_translate(data, end, frame_len, hook, k, s);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return icmp6_translate(data, end, frame_len, hook, k, s);
	return NLB_STAT_PASS_NOT_L4;
}

/* Whether a reason says the error was translated. */
static __always_inline int icmp_translated(int reason)
{
	return reason == NLB_STAT_ICMP_TO_CLIENT || reason == NLB_STAT_ICMP_TO_BACKEND;
}


/*
 * Echo requests to a VIP (bpf/README.md, "ICMP echo"): the VIP's ICMP entry in nlb_listeners
 * (port 0) says whether XDP answers or drops them; without one, or with neither flag, they go to
 * the node's stack. Only a whole, well-formed request (not a fragment, no IPv4 options or IPv6
 * extension headers, lengths within the frame) from a unicast source is answered or dropped; the
 * rest passes untouched. The reply is the request turned around: MACs and addresses swapped (the
 * checksums do not change: a swap keeps the sum, and the ICMPv6 pseudo-header with it), the type
 * and the TTL / hop limit patched incrementally. The request's checksum is not verified: a wrong
 * one stays wrong in the reply, which its receiver drops as it would have dropped the request.
 */

/* The echo flags of the entry at k (scratch, filled here with the VIP's ICMP key), or 0. */
static __always_inline __u32 echo_mode(struct nlb_listener_key *k)
{
	struct nlb_listener *l = bpf_map_lookup_elem(&nlb_listeners, k);

	return l ? l->flags & (NLB_LISTENER_ECHO_REPLY | NLB_LISTENER_ECHO_DROP) : 0;
}

/* Counts and returns the action for mode (a reply also turns the Ethernet header around). */
static __always_inline int echo_act(struct ethhdr *eth, __u32 mode)
{
	__u32 what = NLB_ECHO_DROPPED;
	__u16 *mac = (__u16 *)eth, t;
	__u64 *n;
	int i;

	if (mode & NLB_LISTENER_ECHO_REPLY) {
		what = NLB_ECHO_REPLIED;
		/* A word at a time through one register: the XDP program's frame leaves this callee little stack. */
#pragma unroll
		for (i = 0; i < ETH_ALEN / 2; i++) {
			t = mac[i];
			mac[i] = mac[i + ETH_ALEN / 2];
			mac[i + ETH_ALEN / 2] = t;
		}
	}
	n = bpf_map_lookup_elem(&nlb_echo_stats, &what);
	if (n)
		*n += 1;
	return NLB_ICMP_ACTION + (what == NLB_ECHO_REPLIED ? XDP_TX : XDP_DROP);
}

static __always_inline int echo4(void *data, void *end, __u32 frame_len, struct nlb_listener_key *k)
{
	struct iphdr *ip = data + NLB_ETH_LEN;
	struct nlb_icmphdr *icmp = (void *)(ip + 1);
	__u32 tot_len, addr, mode;
	__u16 old;

	if ((void *)(icmp + 1) > end || ip->version != 4 || ip->ihl != 5 || ip->protocol != IPPROTO_ICMP)
		return NLB_STAT_PASS_NOT_L4;
	if (ip->frag_off & bpf_htons(NLB_IP4_MF | NLB_IP4_OFFSET))
		return NLB_STAT_PASS_NOT_L4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len > frame_len - NLB_ETH_LEN || tot_len < NLB_IP4_LEN + NLB_ICMP_LEN)
		return NLB_STAT_PASS_NOT_L4;
	if (icmp->type != NLB_ICMP_ECHO || icmp->code != 0)
		return NLB_STAT_PASS_NOT_L4;
	/* Never to a broadcast or multicast source (224/4, 255.255.255.255), nor to 0.0.0.0. */
	addr = bpf_ntohl(ip->saddr);
	if (addr == 0 || (addr >> 28) >= 0xe)
		return NLB_STAT_PASS_NOT_L4;

	__builtin_memset(k, 0, sizeof(*k));
	k->addr.v4 = ip->daddr;
	k->proto = IPPROTO_ICMP;
	k->family = NLB_FAMILY_IPV4;
	mode = echo_mode(k);
	if (!mode)
		return NLB_STAT_PASS_NOT_L4;
	if (mode & NLB_LISTENER_ECHO_REPLY) {
		addr = ip->saddr;
		ip->saddr = ip->daddr;
		ip->daddr = addr;
		old = *(__u16 *)&ip->ttl; /* with the protocol: one 16-bit word of the header */
		ip->ttl = NLB_ECHO_TTL;
		ip->check = csum_update(ip->check, csum_diff16(old, *(__u16 *)&ip->ttl));
		old = *(__u16 *)icmp; /* type and code */
		icmp->type = NLB_ICMP_ECHO_REPLY;
		icmp->checksum = csum_update(icmp->checksum, csum_diff16(old, *(__u16 *)icmp));
	}
	return echo_act(data, mode);
}

static __always_inline int echo6(void *data, void *end, __u32 frame_len, struct nlb_listener_key *k)
{
	struct ipv6hdr *ip6 = data + NLB_ETH_LEN;
	struct nlb_icmphdr *icmp6 = (void *)(ip6 + 1);
	__u32 *src, *dst, w, mode;
	__u16 old;
	int i;

	if ((void *)(icmp6 + 1) > end || ip6->version != 6 || ip6->nexthdr != IPPROTO_ICMPV6)
		return NLB_STAT_PASS_NOT_L4;
	w = bpf_ntohs(ip6->payload_len);
	if (NLB_IP6_LEN + w > frame_len - NLB_ETH_LEN || w < NLB_ICMP_LEN)
		return NLB_STAT_PASS_NOT_L4;
	if (icmp6->type != NLB_ICMPV6_ECHO || icmp6->code != 0)
		return NLB_STAT_PASS_NOT_L4;
	src = (__u32 *)&ip6->saddr;
	dst = (__u32 *)&ip6->daddr;
	/* Never to a multicast (ff00::/8) or the unspecified source. */
	if ((src[0] & bpf_htonl(0xff000000)) == bpf_htonl(0xff000000) || (src[0] | src[1] | src[2] | src[3]) == 0)
		return NLB_STAT_PASS_NOT_L4;

	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(&k->addr, dst, 16);
	k->proto = IPPROTO_ICMPV6;
	k->family = NLB_FAMILY_IPV6;
	mode = echo_mode(k);
	if (!mode)
		return NLB_STAT_PASS_NOT_L4;
	if (mode & NLB_LISTENER_ECHO_REPLY) {
#pragma unroll
		for (i = 0; i < 4; i++) {
			w = src[i];
			src[i] = dst[i];
			dst[i] = w;
		}
		ip6->hop_limit = NLB_ECHO_TTL; /* outside every checksum */
		old = *(__u16 *)icmp6;
		icmp6->type = NLB_ICMPV6_ECHO_REPLY;
		icmp6->checksum = csum_update(icmp6->checksum, csum_diff16(old, *(__u16 *)icmp6));
	}
	return echo_act(data, mode);
}

/* An echo request to a VIP whose ICMP entry says Reply or Drop: NLB_ICMP_ACTION + the action; else PASS_NOT_L4. */
static __always_inline int icmp_echo(void *data, void *end, __u32 frame_len)
{
	struct ethhdr *eth = data;
	struct nlb_listener_key *k;
	__u32 zero = 0;

	if ((void *)(eth + 1) > end || frame_len < NLB_ETH_LEN)
		return NLB_STAT_PASS_NOT_L4;
	/* The listener key fits in the scratch of a conntrack key (nlb_ev_key): the frame has no room for it. */
	k = bpf_map_lookup_elem(&nlb_ev_key, &zero);
	if (!k)
		return NLB_STAT_PASS_NOT_L4;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return echo4(data, end, frame_len, k);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return echo6(data, end, frame_len, k);
	return NLB_STAT_PASS_NOT_L4;
}

/*
 * nlb_xdp, for a packet that parse.h found neither TCP nor UDP: translates an ICMP error of a
 * flow this hook serves, patching the checksums inline, and answers or drops an echo request to
 * a VIP as configured. Returns the stat reason to count, or NLB_ICMP_ACTION + an XDP action
 * (counted already).
 */
__noinline int nlb_icmp_xdp(struct xdp_md *ctx)
{
	void *data, *end;
	int reason;
	__u32 len;

	if (!ctx)
		return NLB_STAT_PASS_NOT_L4;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	len = nlb_xdp_frame_len(ctx, data, end); /* a large echo may span buffers */
	reason = icmp_translate(data, end, len, NLB_ICMP_AT_XDP, NULL);
	if (reason != NLB_STAT_PASS_NOT_L4)
		return reason;
	return icmp_echo(data, end, len);
}

/*
 * nlb_tc_egress, for a packet that parse.h found neither TCP nor UDP: pulls the headers of an
 * error into the linear area, translates it when it is a DNAT flow's, and patches the checksums
 * through the kernel helpers. Returns the stat reason (the caller counts only translations).
 */
__noinline int nlb_icmp_tc(struct __sk_buff *skb)
{
	struct nlb_icmp_sums s;
	__u32 want, pseudo;
	void *data, *end;
	int reason;

	if (!skb)
		return NLB_STAT_PASS_NOT_L4;
	want = skb->len < NLB_ICMP_MAX_LEN ? skb->len : NLB_ICMP_MAX_LEN;
	if (skb->data_end - skb->data < want)
		bpf_skb_pull_data(skb, want);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	reason = icmp_translate(data, end, skb->len, NLB_ICMP_AT_TC, &s);
	if (!icmp_translated(reason))
		return reason;
	/* The bytes are written; the helpers patch the checksums (and invalidate the packet pointers). */
	pseudo = 0;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		bpf_l3_csum_replace(skb, s.ip_off + 10, 0, csum_fold64(s.outer), 0);
	else
		pseudo = 1;
	if (pseudo)
		bpf_l4_csum_replace(skb, s.check_off, 0, csum_fold64(s.outer), BPF_F_PSEUDO_HDR);
	bpf_l4_csum_replace(skb, s.check_off, 0, csum_fold64(s.payload), 0);
	return reason;
}

#endif /* NLB_ICMP_H */
