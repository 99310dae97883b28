/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header parsing through a bounds-checked cursor: Ethernet -> IPv4/IPv6 ->
 * TCP/UDP. Each step either returns the next header, fully inside the packet,
 * or a pass reason (enum nlb_stat) saying why the packet is not ours.
 *
 * We only accept the shapes we can rewrite at fixed offsets: no VLAN tag, no
 * IPv4 options, no IPv6 extension headers, no fragments. Anything else is
 * passed to the kernel untouched.
 */
#ifndef NLB_PARSE_H
#define NLB_PARSE_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "nodelb_abi.h"

/* nlb_parse() result for a packet we may handle; any other value is a pass reason. */
#define NLB_PARSED NLB_STAT_MAX

#define NLB_ETH_LEN 14
#define NLB_IP4_LEN 20
#define NLB_IP6_LEN 40
#define NLB_TCP_LEN 20
#define NLB_UDP_LEN 8
/* The most header bytes a packet we handle has: Ethernet + IPv6 + TCP. */
#define NLB_MAX_HDR_LEN (NLB_ETH_LEN + NLB_IP6_LEN + NLB_TCP_LEN)

#define NLB_TCP_FIN 0x01
#define NLB_TCP_SYN 0x02
#define NLB_TCP_RST 0x04
#define NLB_TCP_ACK 0x10

#define NLB_IP4_MF 0x2000
#define NLB_IP4_OFFSET 0x1fff

/* A position in the packet and the end of what may be read directly. */
struct nlb_cursor {
	void *pos;
	void *end;
};

/* The parsed packet: pointers into the packet, all bounds-checked. */
struct nlb_packet {
	void *l3; /* struct iphdr or struct ipv6hdr */
	void *l4; /* struct tcphdr or struct udphdr; starts with sport, dport */
	__sum16 *l4_check; /* the TCP or UDP checksum field */
	__u32 l3_len; /* IP total length: the bytes counted in statistics */
	__u32 l4_off; /* offset of l4 from the start of the frame */
	__u8 family; /* enum nlb_family */
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 tcp_flags; /* byte 13 of the TCP header; 0 for UDP */
	__u8 pad;
};

/* Returns len bytes at the cursor and moves past them, or NULL if they are not all there. */
static __always_inline void *cursor_take(struct nlb_cursor *c, __u32 len)
{
	void *hdr = c->pos;

	if (hdr + len > c->end)
		return NULL;
	c->pos = hdr + len;
	return hdr;
}

static __always_inline int is_ipv6_extension(__u8 nexthdr)
{
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_ESP:
	case IPPROTO_AH:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* Shim6 */
	case 253: /* experiments, RFC 3692 */
	case 254:
		return 1;
	}
	return 0;
}

static __always_inline int is_l4_proto(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/* The smallest L4 header of proto: what must follow the IP header. */
static __always_inline __u32 l4_min_len(__u8 proto)
{
	return proto == IPPROTO_TCP ? NLB_TCP_LEN : NLB_UDP_LEN;
}

/*
 * IPv4 without options or fragments. l3_room is how many bytes the frame has
 * from the IP header on (it may exceed what the cursor can read directly).
 */
static __always_inline int parse_ipv4(struct nlb_cursor *c, __u32 l3_room, struct nlb_packet *p)
{
	struct iphdr *ip = cursor_take(c, NLB_IP4_LEN);
	__u32 tot_len;

	if (!ip || ip->version != 4 || ip->ihl < 5)
		return NLB_STAT_PASS_MALFORMED;
	if (ip->ihl != 5)
		return NLB_STAT_PASS_IP_OPTIONS;
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < NLB_IP4_LEN || tot_len > l3_room)
		return NLB_STAT_PASS_MALFORMED;
	if (ip->frag_off & bpf_htons(NLB_IP4_MF | NLB_IP4_OFFSET))
		return NLB_STAT_PASS_FRAGMENT;
	if (!is_l4_proto(ip->protocol))
		return NLB_STAT_PASS_NOT_L4;
	if (tot_len < NLB_IP4_LEN + l4_min_len(ip->protocol))
		return NLB_STAT_PASS_MALFORMED;
	p->l3 = ip;
	p->l3_len = tot_len;
	p->family = NLB_FAMILY_IPV4;
	p->proto = ip->protocol;
	return NLB_PARSED;
}

/* IPv6 whose next header is TCP or UDP itself. */
static __always_inline int parse_ipv6(struct nlb_cursor *c, __u32 l3_room, struct nlb_packet *p)
{
	struct ipv6hdr *ip6 = cursor_take(c, NLB_IP6_LEN);
	__u32 payload_len;

	if (!ip6 || ip6->version != 6)
		return NLB_STAT_PASS_MALFORMED;
	payload_len = bpf_ntohs(ip6->payload_len);
	if (NLB_IP6_LEN + payload_len > l3_room)
		return NLB_STAT_PASS_MALFORMED;
	if (!is_l4_proto(ip6->nexthdr)) {
		if (ip6->nexthdr == IPPROTO_FRAGMENT)
			return NLB_STAT_PASS_FRAGMENT;
		if (is_ipv6_extension(ip6->nexthdr))
			return NLB_STAT_PASS_IP_OPTIONS;
		return NLB_STAT_PASS_NOT_L4;
	}
	if (payload_len < l4_min_len(ip6->nexthdr))
		return NLB_STAT_PASS_MALFORMED;
	p->l3 = ip6;
	p->l3_len = NLB_IP6_LEN + payload_len;
	p->family = NLB_FAMILY_IPV6;
	p->proto = ip6->nexthdr;
	return NLB_PARSED;
}

/* TCP: the fixed header must be readable and the data offset sane. */
static __always_inline int parse_tcp(struct nlb_cursor *c, __u32 l4_len, struct nlb_packet *p)
{
	struct tcphdr *tcp = cursor_take(c, NLB_TCP_LEN);

	if (!tcp || tcp->doff < 5 || tcp->doff * 4 > l4_len)
		return NLB_STAT_PASS_MALFORMED;
	p->l4 = tcp;
	p->l4_check = &tcp->check;
	p->tcp_flags = ((__u8 *)tcp)[13];
	return NLB_PARSED;
}

/* UDP: the length covers the header and fits the IP payload; IPv6 needs a checksum. */
static __always_inline int parse_udp(struct nlb_cursor *c, __u32 l4_len, struct nlb_packet *p)
{
	struct udphdr *udp = cursor_take(c, NLB_UDP_LEN);
	__u32 len;

	if (!udp)
		return NLB_STAT_PASS_MALFORMED;
	len = bpf_ntohs(udp->len);
	if (len < NLB_UDP_LEN || len > l4_len)
		return NLB_STAT_PASS_MALFORMED;
	if (p->family == NLB_FAMILY_IPV6 && udp->check == 0)
		return NLB_STAT_PASS_MALFORMED;
	p->l4 = udp;
	p->l4_check = &udp->check;
	p->tcp_flags = 0;
	return NLB_PARSED;
}

/*
 * Parses the frame at data. end is how far it can be read directly; frame_len
 * is its full length (they differ only for non-linear skbs). Returns
 * NLB_PARSED with *p filled, or the reason the packet is passed.
 */
static __always_inline int nlb_parse(void *data, void *end, __u32 frame_len, struct nlb_packet *p)
{
	struct nlb_cursor c = { .pos = data, .end = end };
	struct ethhdr *eth = cursor_take(&c, NLB_ETH_LEN);
	__u32 l3_room, l4_len;
	int ret;

	if (!eth)
		return NLB_STAT_PASS_MALFORMED;
	l3_room = frame_len - NLB_ETH_LEN;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		ret = parse_ipv4(&c, l3_room, p);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		ret = parse_ipv6(&c, l3_room, p);
	else
		return NLB_STAT_PASS_NOT_IP; /* also VLAN-tagged frames (0x8100, 0x88a8) */
	if (ret != NLB_PARSED)
		return ret;

	p->l4_off = c.pos - data;
	l4_len = p->l3_len - (p->l4_off - NLB_ETH_LEN);
	if (p->proto == IPPROTO_TCP)
		return parse_tcp(&c, l4_len, p);
	return parse_udp(&c, l4_len, p);
}

/*
 * An XDP frame's length for nlb_parse: data_end - data, unless its IP header claims more, which
 * a frame of several buffers does (xdp.frags: jumbo frames). Only then the helper is called: on
 * this machine a helper call costs about 20 ns, more than the whole non-VIP path.
 */
static __always_inline __u32 nlb_xdp_frame_len(struct xdp_md *ctx, void *data, void *end)
{
	__u32 len = end - data, l3;
	struct ethhdr *eth = data;
	void *ip = eth + 1;

	if (ip + NLB_IP6_LEN > end) /* too short to be more than one buffer */
		return len;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		l3 = bpf_ntohs(((struct iphdr *)ip)->tot_len);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		l3 = NLB_IP6_LEN + bpf_ntohs(((struct ipv6hdr *)ip)->payload_len);
	else
		return len;
	return NLB_ETH_LEN + l3 > len ? bpf_xdp_get_buff_len(ctx) : len;
}

#endif /* NLB_PARSE_H */
