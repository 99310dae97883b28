/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking: one shared LRU hash keyed by the 5-tuple as it arrives.
 * A flow owns two entries, the forward one (client -> VIP) and the reply one
 * (backend -> client, or backend -> SNAT address in FullNAT); each counts its
 * own direction and keeps its own TCP state.
 */
#ifndef NLB_CONNTRACK_H
#define NLB_CONNTRACK_H

#include <linux/types.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "nodelb_abi.h"
#include "config.h"
#include "maps.h"
#include "parse.h"

/* The 5-tuple of a parsed packet, as a conntrack key. */
static __always_inline void nlb_ct_key_of(const struct nlb_packet *p, struct nlb_ct_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	if (p->family == NLB_FAMILY_IPV4) {
		const struct iphdr *ip = p->l3;

		k->src.v4 = ip->saddr;
		k->dst.v4 = ip->daddr;
	} else {
		const struct ipv6hdr *ip6 = p->l3;

		__builtin_memcpy(&k->src, &ip6->saddr, 16);
		__builtin_memcpy(&k->dst, &ip6->daddr, 16);
	}
	*(__u32 *)&k->sport = *(const __u32 *)p->l4; /* sport, dport */
	k->proto = p->proto;
	k->family = p->family;
}

/* The built-in idle timeout of a state. */
static __always_inline __u64 ct_default_timeout(__u8 state)
{
	switch (state) {
	case NLB_CT_SYN:
		return cfg_timeout_syn_ns;
	case NLB_CT_ESTABLISHED:
		return cfg_timeout_established_ns;
	case NLB_CT_CLOSING:
		return cfg_timeout_closing_ns;
	default:
		return cfg_timeout_udp_ns;
	}
}

/* How long this entry may stay idle: its listener's setting for the state, else the default. */
static __always_inline __u64 ct_timeout(const struct nlb_ct_entry *e)
{
	__u32 listener = e->listener;
	const struct nlb_timeouts *t = bpf_map_lookup_elem(&nlb_timeouts, &listener);
	__u64 set = 0;

	if (t && e->state == NLB_CT_ESTABLISHED)
		set = t->established_ns;
	else if (t && e->state == NLB_CT_CLOSING)
		set = t->closing_ns;
	else if (t && e->state == NLB_CT_UDP)
		set = t->udp_ns;
	return set ? set : ct_default_timeout(e->state);
}

/*
 * Whether the entry has been idle no longer than its state allows. Signed: another CPU
 * may be ahead of now. A listener's own timeouts are whole seconds (nlb_timeouts), so an
 * entry idle for under a second that the default also keeps is live without reading them:
 * the common case of a busy flow costs no lookup.
 */
static __always_inline int ct_is_live(const struct nlb_ct_entry *e, __u64 now)
{
	__s64 idle = now - e->last_seen_ns;

	if (idle <= (__s64)NLB_NS_PER_SEC && idle <= (__s64)ct_default_timeout(e->state))
		return 1;
	return idle <= (__s64)ct_timeout(e);
}

static __always_inline int tcp_is_opening_syn(__u8 tcp_flags)
{
	return (tcp_flags & (NLB_TCP_SYN | NLB_TCP_ACK)) == NLB_TCP_SYN;
}

/* A SYN on a closing flow opens a new connection that reuses the client port. */
static __always_inline int ct_is_port_reuse(const struct nlb_ct_entry *e, const struct nlb_packet *p)
{
	return e->state == NLB_CT_CLOSING && p->proto == IPPROTO_TCP && tcp_is_opening_syn(p->tcp_flags);
}

/*
 * The state a new entry starts in, from the packet that creates it. A TCP flow picked up mid-flow
 * (no opening SYN: a bare ACK, data, no flags) starts in SYN like a new one: it must earn the
 * established timeout with an answer from the backend, so a spoofed ACK holds its entries for the
 * SYN timeout, not the established one (bpf/README.md, "Conntrack flood safety").
 */
static __always_inline __u8 ct_initial_state(const struct nlb_packet *p)
{
	if (p->proto != IPPROTO_TCP)
		return NLB_CT_UDP;
	if (p->tcp_flags & (NLB_TCP_FIN | NLB_TCP_RST))
		return NLB_CT_CLOSING;
	return NLB_CT_SYN;
}

/*
 * The state after this packet on an entry with these flags: FIN or RST closes; a reply (the
 * backend's side) without SYN establishes, its SYN-ACK does not, since a backend answers a
 * spoofed SYN with one too. The client's own packets never establish: a blind spoofer can send
 * the ACK of a handshake, never the backend's answer.
 */
static __always_inline __u8 ct_next_state(__u8 state, __u8 tcp_flags, __u8 flags)
{
	if (tcp_flags & (NLB_TCP_FIN | NLB_TCP_RST))
		return NLB_CT_CLOSING;
	if (state == NLB_CT_SYN && (flags & NLB_CT_REPLY) && !(tcp_flags & NLB_TCP_SYN))
		return NLB_CT_ESTABLISHED;
	return state;
}

/* Whether two addresses are equal (all 16 bytes; IPv4 keeps the rest zero). */
static __always_inline int addr_equal(const union nlb_addr *a, const union nlb_addr *b)
{
	return ((a->v6[0] ^ b->v6[0]) | (a->v6[1] ^ b->v6[1]) | (a->v6[2] ^ b->v6[2]) | (a->v6[3] ^ b->v6[3])) == 0;
}

/*
 * The backend answered: the reply entry r, found with the reply packet's key rk, just became
 * ESTABLISHED, and the flow's forward entry follows if it still waits in SYN. Once per flow, so
 * the reply path marks the forward entry instead of the forward path looking for the answer on
 * every packet: an established hit pays nothing for it. A flow still in nlb_ct_embryonic moves to
 * nlb_conntrack here, both entries (bpf/README.md, "Conntrack flood safety"). A global function,
 * verified once on its own; the forward key is built in the per-CPU scratch nlb_ev_key (the
 * callers' frames leave no room for 40 more bytes). Returns 1 when the forward entry was
 * established here.
 */
__noinline int nlb_ct_answered(const struct nlb_ct_entry *r, const struct nlb_ct_key *rk)
{
	struct nlb_ct_entry *f;
	struct nlb_ct_key *k;
	__u32 zero = 0;
	int embryonic;

	if (!r || !rk)
		return 0;
	k = bpf_map_lookup_elem(&nlb_ev_key, &zero);
	if (!k)
		return 0;
	nlb_ct_other_key(k, r, IPPROTO_TCP, rk->family);
	/* Where r is: a reply key is held in one table at a time (new_flow reserves it across both). */
	embryonic = !bpf_map_lookup_elem(&nlb_conntrack, rk);
	f = bpf_map_lookup_elem(embryonic ? (void *)&nlb_ct_embryonic : (void *)&nlb_conntrack, k);
	if (!f || (f->flags & NLB_CT_REPLY) || f->state != NLB_CT_SYN)
		return 0;
	/* Only the forward entry whose replies come back on rk: another flow may hold k since. */
	if (f->nat_sport != rk->dport || f->nat_dport != rk->sport || !addr_equal(&f->nat_src, &rk->dst) ||
	    !addr_equal(&f->nat_dst, &rk->src))
		return 0;
	f->state = NLB_CT_ESTABLISHED;
	if (!embryonic)
		return 1;
	/* Reply entry first: a forward entry in nlb_conntrack always has its reply entry there. */
	if (bpf_map_update_elem(&nlb_conntrack, rk, r, BPF_ANY))
		return 1; /* stays embryonic, established: it may move at a later answer */
	if (bpf_map_update_elem(&nlb_conntrack, k, f, BPF_ANY)) {
		bpf_map_delete_elem(&nlb_conntrack, rk);
		return 1;
	}
	bpf_map_delete_elem(&nlb_ct_embryonic, k);
	bpf_map_delete_elem(&nlb_ct_embryonic, rk);
	return 1;
}

/*
 * Accounts one packet on a live entry. Stores only what changed: the coarse
 * clock moves once a tick, so most packets leave last_seen alone. The counters
 * are plain adds: a flow is normally handled by one CPU at a time.
 */
static __always_inline void ct_touch(struct nlb_ct_entry *e, const struct nlb_ct_key *k, const struct nlb_packet *p,
				     __u64 now)
{
	if (e->last_seen_ns != now)
		e->last_seen_ns = now;
	e->packets += 1;
	e->bytes += p->l3_len;
	if (p->proto == IPPROTO_TCP) {
		__u8 next = ct_next_state(e->state, p->tcp_flags, e->flags);

		if (next != e->state) {
			e->state = next;
			if (next == NLB_CT_ESTABLISHED) /* a reply entry: the backend answered */
				nlb_ct_answered(e, k);
		}
	}
}

#endif /* NLB_CONNTRACK_H */
