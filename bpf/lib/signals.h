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

enum nlb_signal {
	NLB_SIGNAL_NONE = 0,
	NLB_SIGNAL_RESET,
	NLB_SIGNAL_UNANSWERED_SYN,
};

/* Reply entry r, packet p from the backend: whether p resets a flow the backend had seen open. */
static __always_inline int nlb_is_backend_reset(const struct nlb_ct_entry *r, const struct nlb_packet *p)
{
	return (p->tcp_flags & NLB_TCP_RST) && p->proto == IPPROTO_TCP && r->state != NLB_CT_CLOSING &&
	       !(r->flags & NLB_CT_PICKED_UP);
}

/*
 * Forward entry f, packet p from the client: whether p retransmits the SYN of a flow whose
 * reply entry has seen no packet yet. Marks f, so a flow counts once however often it retries.
 */
static __always_inline int nlb_is_unanswered_syn(struct nlb_ct_entry *f, const struct nlb_packet *p)
{
	struct nlb_ct_entry *r;
	struct nlb_ct_key rk;

	if (f->state != NLB_CT_SYN || (f->flags & NLB_CT_SYN_RETRIED) || !tcp_is_opening_syn(p->tcp_flags))
		return 0;
	__builtin_memset(&rk, 0, sizeof(rk));
	rk.src = f->nat_dst;
	rk.dst = f->nat_src;
	rk.sport = f->nat_dport;
	rk.dport = f->nat_sport;
	rk.proto = p->proto;
	rk.family = p->family;
	r = bpf_map_lookup_elem(&nlb_conntrack, &rk);
	if (!r || r->packets)
		return 0;
	f->flags |= NLB_CT_SYN_RETRIED;
	return 1;
}

/* The signal packet p of a known flow gives (read before ct_touch moves the entry's state). */
static __always_inline enum nlb_signal nlb_signal_of(struct nlb_ct_entry *e, const struct nlb_packet *p)
{
	if (p->proto != IPPROTO_TCP)
		return NLB_SIGNAL_NONE;
	if (e->flags & NLB_CT_REPLY)
		return nlb_is_backend_reset(e, p) ? NLB_SIGNAL_RESET : NLB_SIGNAL_NONE;
	return nlb_is_unanswered_syn(e, p) ? NLB_SIGNAL_UNANSWERED_SYN : NLB_SIGNAL_NONE;
}

/* Counts a signal against its backend; rare, so a lookup of its own. */
static __always_inline void nlb_count_signal(__u32 backend_id, enum nlb_signal signal)
{
	struct nlb_backend_stats *s;

	if (signal == NLB_SIGNAL_NONE)
		return;
	s = backend_stats(backend_id);
	if (!s)
		return;
	if (signal == NLB_SIGNAL_RESET)
		s->resets += 1;
	else
		s->unanswered_syns += 1;
}

#endif /* NLB_SIGNALS_H */
