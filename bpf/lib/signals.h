/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Passive health signals, counted per backend in nlb_be_stats on the packet path, each at
 * most once per flow (bpf/README.md, "Passive signals"):
 *  - resets: the first RST a backend sends on a flow whose reply direction was still open.
 *    Not on a flow picked up past its SYN (NLB_CT_PICKED_UP): a backend that never saw the
 *    connection open must reset it, which says nothing about its health.
 *  - unanswered SYNs: the client retransmits the SYN of a flow the backend has not answered
 *    with a single packet. The client's retransmission timer is the bound (1 s for the first
 *    retry on Linux, RFC 6298): no timer and no scan here, and a lookup only on a retransmission.
 */
#ifndef NLB_SIGNALS_H
#define NLB_SIGNALS_H

#include <linux/types.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "nodelb_abi.h"
#include "maps.h"
#include "parse.h"
#include "conntrack.h"
#include "stats.h"

/*
 * NLB_CT_PICKED_UP for the reply entry of a flow whose first packet is p: set for TCP flows that
 * did not start with an opening SYN (SYN without ACK), so a RST from the backend is no signal.
 * Without a branch: one in new_flow split the verifier's states of the reply-key searches that
 * follow it (0.57 to 0.84 million instructions processed). p->proto is TCP (6) or UDP (17, bit 4).
 */
static __always_inline __u8 ct_picked_up(const struct nlb_packet *p)
{
	__u32 f = p->tcp_flags;
	__u32 opening = (f >> 1) & ~(f >> 4) & 1; /* SYN without ACK */
	__u32 tcp = ~((__u32)p->proto >> 4) & 1;

	return (tcp & (opening ^ 1)) * NLB_CT_PICKED_UP;
}

_Static_assert(NLB_TCP_SYN == 1 << 1 && NLB_TCP_ACK == 1 << 4, "ct_picked_up reads SYN and ACK by position");
_Static_assert(IPPROTO_TCP == 6 && IPPROTO_UDP == 17, "ct_picked_up tells TCP from UDP by bit 4");

/* Whether a packet of a known flow may signal: TCP with SYN or RST, rare past the handshake. */
static __always_inline int nlb_may_signal(const struct nlb_packet *p)
{
	return (p->tcp_flags & (NLB_TCP_SYN | NLB_TCP_RST)) && p->proto == IPPROTO_TCP;
}

/*
 * Counts the signal a TCP packet of a known flow gives, if any: e is its entry, before
 * ct_touch moves the entry's state. Called only when nlb_may_signal, so a hit pays one test.
 * Inlined: as a global function its 40-byte key on a stack of its own took the old-layout
 * build past the 512 bytes two frames may have together.
 */
static __always_inline int nlb_count_signal(struct nlb_ct_entry *e, __u32 tcp_flags, __u32 family)
{
	struct nlb_backend_stats *s;
	struct nlb_ct_entry *r;
	struct nlb_ct_key rk;
	__u32 backend;

	if (!e)
		return 0;
	backend = e->backend;
	if (e->flags & NLB_CT_REPLY) {
		/* The backend resets a flow whose reply direction was open, and had seen it open. */
		if (!(tcp_flags & NLB_TCP_RST) || e->state == NLB_CT_CLOSING || (e->flags & NLB_CT_PICKED_UP))
			return 0;
		s = bpf_map_lookup_elem(&nlb_be_stats, &backend);
		if (s)
			s->resets += 1;
		return 0;
	}
	/* The client retries the SYN of a flow whose reply entry has seen no packet yet. */
	if (e->state != NLB_CT_SYN || (e->flags & NLB_CT_SYN_RETRIED) || !tcp_is_opening_syn(tcp_flags))
		return 0;
	__builtin_memset(&rk, 0, sizeof(rk));
	nlb_ct_other_key(&rk, e, IPPROTO_TCP, family);
	r = bpf_map_lookup_elem(&nlb_ct_embryonic, &rk); /* a flow in SYN waits there, mostly */
	if (!r)
		r = bpf_map_lookup_elem(&nlb_conntrack, &rk);
	if (!r || r->packets)
		return 0;
	e->flags |= NLB_CT_SYN_RETRIED; /* once per flow */
	s = bpf_map_lookup_elem(&nlb_be_stats, &backend);
	if (s)
		s->unanswered_syns += 1;
	return 0;
}

#endif /* NLB_SIGNALS_H */
