/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The XDP fast path: a packet nlb_xdp translated is routed by the kernel's FIB from XDP
 * and sent out from here (XDP_REDIRECT through nlb_fwd_ports, or XDP_TX back out the
 * interface it came in on) instead of going up the stack to be forwarded.
 *
 * Only when the answer is complete and the egress interface is one the agent put in
 * nlb_fwd_ports (it can take redirected frames: bpf/README.md, "XDP fast path"). Anything
 * else goes up the stack untouched, exactly as without the fast path, so the kernel resolves
 * neighbours, fragments, and sends ICMP errors (time exceeded, fragmentation needed).
 *
 * Included by the XDP program only: the TC object must not create the maps too.
 */
#ifndef NLB_FASTPATH_H
#define NLB_FASTPATH_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "nodelb_abi.h"

#define NLB_AF_INET 2
#define NLB_AF_INET6 10

/* Non-zero: translated packets take the fast path (the agent sets it unless --xdp-forward=off). */
const volatile __u32 cfg_xdp_forward = 0;

/*
 * The egress interfaces the fast path may send to, by ifindex (value: the ifindex again). Filled
 * by the agent that loaded this program; not pinned (process-lifetime, not layout): a later
 * agent loads its own program with its own map. The kernel removes an interface that goes away.
 */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} nlb_fwd_ports SEC(".maps");

/* Per-CPU counts by enum nlb_fwd: what the fast path did with each translated packet. Not pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NLB_FWD_MAX);
	__type(key, __u32);
	__type(value, __u64);
} nlb_fwd_stats SEC(".maps");

/*
 * Per-CPU scratch for the FIB lookup's parameters: on the global function's stack they would take
 * nlb_xdp's two frames past the 512 bytes they may have together. Private, never read by the agent.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_fib_lookup);
} nlb_fwd_fib SEC(".maps");

static __always_inline int fwd_count(__u32 outcome, int action)
{
	__u64 *n = bpf_map_lookup_elem(&nlb_fwd_stats, &outcome);

	if (n)
		*n += 1;
	return action;
}

/* The FIB's answer as an outcome; NLB_FWD_MAX when the packet may be sent from XDP. */
static __always_inline __u32 fib_outcome(int rc)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		return NLB_FWD_MAX;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return NLB_FWD_PASS_NO_NEIGH;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return NLB_FWD_PASS_MTU;
	default:
		return NLB_FWD_PASS_NO_ROUTE;
	}
}

/*
 * nlb_xdp, for a packet it translated: the XDP action that sends it on. A global function so
 * the verifier checks it once, not on every path of the balancer that reaches it.
 */
__noinline int nlb_fwd_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup *fib;
	struct ipv6hdr *ip6 = NULL;
	struct iphdr *ip4 = NULL;
	__u32 outcome, check, zero = 0;
	int rc;

	fib = bpf_map_lookup_elem(&nlb_fwd_fib, &zero);
	if (!fib || (void *)(eth + 1) > end)
		return fwd_count(NLB_FWD_PASS_NO_ROUTE, XDP_PASS);
	__builtin_memset(fib, 0, sizeof(*fib));
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		ip4 = (void *)(eth + 1);
		if ((void *)(ip4 + 1) > end)
			return fwd_count(NLB_FWD_PASS_NO_ROUTE, XDP_PASS);
		if (ip4->ttl <= 1)
			return fwd_count(NLB_FWD_PASS_TTL, XDP_PASS);
		fib->family = NLB_AF_INET;
		fib->tos = ip4->tos;
		fib->l4_protocol = ip4->protocol;
		fib->tot_len = bpf_ntohs(ip4->tot_len);
		fib->ipv4_src = ip4->saddr;
		fib->ipv4_dst = ip4->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return fwd_count(NLB_FWD_PASS_NO_ROUTE, XDP_PASS);
		if (ip6->hop_limit <= 1)
			return fwd_count(NLB_FWD_PASS_TTL, XDP_PASS);
		fib->family = NLB_AF_INET6;
		fib->flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
		fib->l4_protocol = ip6->nexthdr;
		fib->tot_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		__builtin_memcpy(fib->ipv6_src, &ip6->saddr, sizeof(fib->ipv6_src));
		__builtin_memcpy(fib->ipv6_dst, &ip6->daddr, sizeof(fib->ipv6_dst));
	} else {
		return fwd_count(NLB_FWD_PASS_NO_ROUTE, XDP_PASS);
	}
	/*
	 * Longer than its first buffer (the parser checked the IP length against the whole frame): a
	 * frame of several buffers, which not every driver can send from XDP; the stack can.
	 */
	if (fib->tot_len + sizeof(*eth) > end - data)
		return fwd_count(NLB_FWD_PASS_FRAGS, XDP_PASS);
	/*
	 * An input lookup from the interface the packet came in on: what the stack would have done
	 * with it (policy rules on the ingress interface, forwarding enabled there), MTU checked.
	 */
	fib->ifindex = ctx->ingress_ifindex;
	rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	outcome = fib_outcome(rc);
	if (outcome != NLB_FWD_MAX)
		return fwd_count(outcome, XDP_PASS);
	if (!bpf_map_lookup_elem(&nlb_fwd_ports, &fib->ifindex))
		return fwd_count(NLB_FWD_PASS_NOT_SAFE, XDP_PASS);

	/* From here the packet leaves from XDP: do what the stack's forwarding would. */
	if (ip4) {
		/* RFC 1624 incremental update for TTL - 1, as the kernel's ip_decrease_ttl. */
		check = ip4->check;
		check += bpf_htons(0x0100);
		ip4->check = (__sum16)(check + (check >= 0xffff));
		ip4->ttl--;
	} else if (ip6) {
		ip6->hop_limit--;
	}
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	if (fib->ifindex == ctx->ingress_ifindex)
		return fwd_count(NLB_FWD_TX, XDP_TX);
	/* The entry was just found; should it go meanwhile, the frame is dropped rather than sent up rewritten. */
	return fwd_count(NLB_FWD_REDIRECT, bpf_redirect_map(&nlb_fwd_ports, fib->ifindex, XDP_DROP));
}

#endif /* NLB_FASTPATH_H */
