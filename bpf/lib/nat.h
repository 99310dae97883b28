/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The rewrite: a packet matching a conntrack entry becomes
 * (nat_src:nat_sport -> nat_dst:nat_dport), with every checksum patched
 * incrementally. All four fields are rewritten every time: writing an
 * unchanged field adds a zero difference and saves a branch per field.
 *
 * XDP sees complete checksums and patches them inline (csum.h). On the skb
 * path the packet may be CHECKSUM_PARTIAL (the checksum field then holds only
 * the pseudo-header sum), so there the kernel helpers decide what to patch.
 */
#ifndef NLB_NAT_H
#define NLB_NAT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include "nodelb_abi.h"
#include "csum.h"
#include "parse.h"

/* Offset of the TCP or UDP checksum field inside its header. */
static __always_inline __u32 l4_check_off(__u8 proto)
{
	return proto == IPPROTO_TCP ? 16 : 6;
}

/*
 * Writes the entry's addresses into the IP header and returns the checksum
 * difference, which the IPv4 header and the L4 pseudo header share.
 */
static __always_inline __u64 rewrite_addrs(const struct nlb_packet *p, const struct nlb_ct_entry *e)
{
	__u64 diff;

	if (p->family == NLB_FAMILY_IPV4) {
		struct iphdr *ip = p->l3;

		diff = csum_diff32(ip->saddr, e->nat_src.v4) + csum_diff32(ip->daddr, e->nat_dst.v4);
		ip->saddr = e->nat_src.v4;
		ip->daddr = e->nat_dst.v4;
	} else {
		struct ipv6hdr *ip6 = p->l3;
		__u32 *saddr = (__u32 *)&ip6->saddr;
		__u32 *daddr = (__u32 *)&ip6->daddr;

		diff = csum_diff128(saddr, e->nat_src.v6) + csum_diff128(daddr, e->nat_dst.v6);
		__builtin_memcpy(saddr, e->nat_src.v6, 16);
		__builtin_memcpy(daddr, e->nat_dst.v6, 16);
	}
	return diff;
}

/* Writes the entry's ports (one 32-bit word: sport, dport) and returns the checksum difference. */
static __always_inline __u64 rewrite_ports(const struct nlb_packet *p, const struct nlb_ct_entry *e)
{
	__u32 *ports = p->l4;
	__u32 to = *(const __u32 *)&e->nat_sport;
	__u64 diff = csum_diff32(*ports, to);

	*ports = to;
	return diff;
}

/* XDP: rewrites the packet per the entry, patching the checksums inline. */
static __always_inline void nlb_rewrite_xdp(const struct nlb_packet *p, const struct nlb_ct_entry *e)
{
	__u64 addr_diff = rewrite_addrs(p, e);
	__u64 l4_diff = addr_diff + rewrite_ports(p, e);
	__u16 check;

	if (p->family == NLB_FAMILY_IPV4) {
		struct iphdr *ip = p->l3;

		ip->check = csum_update(ip->check, addr_diff);
	}
	check = *p->l4_check;
	if (p->proto == IPPROTO_UDP) {
		if (check == 0)
			return; /* IPv4 UDP without checksum stays so (parse refused it on IPv6) */
		check = csum_update(check, l4_diff);
		*p->l4_check = check ? check : 0xffff; /* a computed 0 is sent as all ones */
		return;
	}
	*p->l4_check = csum_update(check, l4_diff);
}

/*
 * TC: rewrites the skb per the entry. The header bytes are written directly,
 * then the L4 checksum helpers apply the differences: BPF_F_PSEUDO_HDR for the
 * addresses (also right for CHECKSUM_PARTIAL), plain for the ports (which
 * CHECKSUM_PARTIAL leaves to the device). The helpers invalidate every packet
 * pointer, so p must not be used afterwards.
 */
static __always_inline void nlb_rewrite_skb(struct __sk_buff *skb, const struct nlb_packet *p,
					    const struct nlb_ct_entry *e)
{
	__u64 addr_sum = rewrite_addrs(p, e);
	__u32 addr_diff = csum_fold64(addr_sum);
	__u32 port_diff = csum_fold64(rewrite_ports(p, e));
	__u32 check_off = p->l4_off + l4_check_off(p->proto);
	__u64 mangled0 = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (p->family == NLB_FAMILY_IPV4) {
		/* The IPv4 header checksum is always complete: patch it inline, saving a helper call. */
		struct iphdr *ip = p->l3;

		ip->check = csum_update(ip->check, addr_sum);
	}
	bpf_l4_csum_replace(skb, check_off, 0, addr_diff, BPF_F_PSEUDO_HDR | mangled0);
	if (port_diff != CSUM_NO_CHANGE) /* each helper call costs; ports often stay */
		bpf_l4_csum_replace(skb, check_off, 0, port_diff, mangled0);
}

#endif /* NLB_NAT_H */
