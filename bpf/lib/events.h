/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow events (bpf/README.md, "Flow events"): struct nlb_event records in the nlb_events ring
 * buffer, for flows of listeners with NLB_LISTENER_EVENTS (copied into both conntrack entries
 * as NLB_CT_EVENTS, the same bit, without a branch).
 *
 * Every decision is taken inside the three global functions below (nlb_ev_new_flow, nlb_ev_drop,
 * nlb_ev_end), which the verifier checks once, on their own, whatever the state of their caller:
 * a branch in new_flow's paths multiplies the states of the searches that follow it (a first
 * attempt took the defaults from 0.58 to 0.86 million instructions processed). Callers pass
 * scalars and pointers to their keys and entries, and ignore the result.
 *
 * Budget: each CPU writes at most cfg_events_per_sec records per second of the coarse clock
 * (a window opens at the first record past the previous one's second); the records it may not
 * write are counted in nlb_ev_budget (over_budget, or ring_full when the agent is behind).
 */
#ifndef NLB_EVENTS_H
#define NLB_EVENTS_H

#include <linux/types.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "nodelb_abi.h"
#include "config.h"
#include "maps.h"
#include "parse.h"

_Static_assert(NLB_LISTENER_EVENTS == NLB_CT_EVENTS, "the listener's event bit is copied as is");
_Static_assert(NLB_LISTENER_FULLNAT << 1 == NLB_CT_FULLNAT, "the listener's FullNAT bit is shifted into place");

/* The conntrack flags a new flow's entries take from its listener: NLB_CT_EVENTS and NLB_CT_FULLNAT. */
static __always_inline __u8 ct_listener_flags(__u32 listener_flags)
{
	return (listener_flags & NLB_LISTENER_EVENTS) | ((listener_flags & NLB_LISTENER_FULLNAT) << 1);
}

/*
 * Room for one record, within this CPU's budget for the second of now; NULL (and counted)
 * when the budget is spent or the ring is full.
 */
static __always_inline struct nlb_event *ev_reserve(__u64 now)
{
	__u32 zero = 0;
	struct nlb_event_budget *b = bpf_map_lookup_elem(&nlb_ev_budget, &zero);
	struct nlb_event *ev;

	if (!b)
		return NULL;
	if (now - b->window_ns >= NLB_NS_PER_SEC) {
		b->window_ns = now;
		b->window_sent = 0;
	}
	if (b->window_sent >= cfg_events_per_sec) {
		b->over_budget += 1;
		return NULL;
	}
	ev = bpf_ringbuf_reserve(&nlb_events, sizeof(*ev), 0);
	if (!ev) {
		b->ring_full += 1;
		return NULL;
	}
	b->window_sent += 1;
	b->sent += 1;
	return ev;
}

/*
 * Hands a filled record to the agent without waking it, unless a quarter of the ring waits:
 * the agent reads on a timer as well (at least every 100 ms), so a busy node pays one wakeup
 * per thousands of records instead of one per record (each a cross-CPU interrupt, a thread
 * woken and switched to: most of what events cost a new connection).
 */
static __always_inline void ev_submit(struct nlb_event *ev)
{
	__u64 waiting = bpf_ringbuf_query(&nlb_events, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(ev, waiting >= NLB_EVENTS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* The client's tuple (fk: the flow's forward key) and the record's type and reason. */
static __always_inline void ev_fill_tuple(struct nlb_event *ev, const struct nlb_ct_key *fk, __u8 type, __u8 reason)
{
	ev->src = fk->src;
	ev->dst = fk->dst;
	ev->sport = fk->sport;
	ev->dport = fk->dport;
	ev->proto = fk->proto;
	ev->family = fk->family;
	ev->type = type;
	ev->reason = reason;
	ev->pad = 0;
	ev->pad2 = 0;
}

/* What the forward entry says of the flow: backend, listener, start and the client's counters. */
static __always_inline void ev_fill_flow(struct nlb_event *ev, const struct nlb_ct_entry *fwd)
{
	ev->created_ns = fwd->created_ns;
	ev->backend_addr = fwd->nat_dst;
	ev->backend_port = fwd->nat_dport;
	ev->backend = fwd->backend;
	ev->flags = fwd->flags;
	ev->listener = fwd->listener;
	ev->packets = fwd->packets;
	ev->bytes = fwd->bytes;
}

/*
 * A new flow whose entries are in (fk: its forward key, fwd: its forward entry as inserted):
 * its NLB_EVENT_NEW_FLOW, when fwd has NLB_CT_EVENTS and write is not 0 (0: a stateless RST,
 * which starts no flow). Returns 1 when written.
 */
__noinline int nlb_ev_new_flow(const struct nlb_ct_key *fk, const struct nlb_ct_entry *fwd, __u32 write)
{
	struct nlb_event *ev;

	if (!fk || !fwd || !write || !(fwd->flags & NLB_CT_EVENTS))
		return 0;
	ev = ev_reserve(fwd->created_ns);
	if (!ev)
		return 0;
	ev_fill_tuple(ev, fk, NLB_EVENT_NEW_FLOW, 0);
	ev_fill_flow(ev, fwd);
	ev->time_ns = fwd->created_ns;
	ev->reply_packets = 0;
	ev->reply_bytes = 0;
	ev_submit(ev);
	return 1;
}

/*
 * The first packet of a flow was dropped (reason: its enum nlb_stat): its NLB_EVENT_DROP, when
 * ct_flags (the flags its entries would have had, ct_listener_flags) has NLB_CT_EVENTS. No
 * backend, no counters. Returns 1 when written.
 */
__noinline int nlb_ev_drop(const struct nlb_ct_key *fk, __u32 listener, __u32 ct_flags, __u32 reason, __u64 now)
{
	struct nlb_event *ev;

	if (!fk || !(ct_flags & NLB_CT_EVENTS))
		return 0;
	ev = ev_reserve(now);
	if (!ev)
		return 0;
	ev_fill_tuple(ev, fk, NLB_EVENT_DROP, reason);
	ev->time_ns = now;
	ev->created_ns = now;
	__builtin_memset(&ev->backend_addr, 0, sizeof(ev->backend_addr));
	ev->backend_port = 0;
	ev->backend = 0;
	ev->flags = ct_flags;
	ev->listener = listener;
	ev->packets = 0;
	ev->bytes = 0;
	ev->reply_packets = 0;
	ev->reply_bytes = 0;
	ev_submit(ev);
	return 1;
}

/*
 * A TCP packet with FIN or RST of a known flow, after it was counted in e (its entry, either
 * direction; pk: the packet's key). A RST closes the other direction's entry too, events or not:
 * the connection is gone both ways, so a SYN that reuses the client port is a new flow, not one
 * sent again to the backend that reset it. With events, ends the flow once (NLB_CT_ENDED on the
 * forward entry) at a RST from either side, or at the FIN that finds the other direction already
 * CLOSING, and writes its NLB_EVENT_FLOW_END with both directions' counters (within the budget).
 * Returns 1 when the flow ended here.
 */
__noinline int nlb_ev_end(struct nlb_ct_entry *e, const struct nlb_ct_key *pk, __u32 tcp_flags, __u64 now)
{
	struct nlb_ct_entry *peer, *fwd, *rev;
	const struct nlb_ct_key *fk;
	struct nlb_event *ev;
	struct nlb_ct_key *k;
	__u32 zero = 0;
	__u8 reason;

	if (!e || !pk || pk->proto != IPPROTO_TCP || !(tcp_flags & (NLB_TCP_FIN | NLB_TCP_RST)))
		return 0;
	if (!(e->flags & NLB_CT_EVENTS) && !(tcp_flags & NLB_TCP_RST))
		return 0;
	k = bpf_map_lookup_elem(&nlb_ev_key, &zero);
	if (!k)
		return 0;
	/* The other direction's key, from either entry. */
	nlb_ct_other_key(k, e, IPPROTO_TCP, pk->family);
	peer = nlb_ct_find(k);
	if (peer && !((peer->flags ^ e->flags) & NLB_CT_REPLY))
		peer = NULL; /* not this flow's other direction */
	if ((tcp_flags & NLB_TCP_RST) && peer && peer->state != NLB_CT_CLOSING)
		peer->state = NLB_CT_CLOSING;
	if (!(e->flags & NLB_CT_EVENTS))
		return 0;
	if (e->flags & NLB_CT_REPLY) {
		fwd = peer;
		rev = e;
		fk = k;
	} else {
		fwd = e;
		rev = peer;
		fk = pk;
	}
	if (!fwd || (fwd->flags & NLB_CT_ENDED))
		return 0;
	if (tcp_flags & NLB_TCP_RST)
		reason = NLB_END_RST;
	else if (peer && peer->state == NLB_CT_CLOSING)
		reason = NLB_END_FIN;
	else
		return 0;
	fwd->flags |= NLB_CT_ENDED; /* once per flow, written or not */

	ev = ev_reserve(now);
	if (!ev)
		return 1;
	ev_fill_tuple(ev, fk, NLB_EVENT_FLOW_END, reason);
	ev_fill_flow(ev, fwd);
	ev->time_ns = now;
	ev->reply_packets = rev ? rev->packets : 0;
	ev->reply_bytes = rev ? rev->bytes : 0;
	ev_submit(ev);
	return 1;
}

/* Whether a packet of a known flow may end it: a RST, or a FIN on a flow with events (tcp_flags is 0 for UDP). */
static __always_inline int nlb_may_end(const struct nlb_packet *p, const struct nlb_ct_entry *e)
{
	return (p->tcp_flags & (NLB_TCP_FIN | NLB_TCP_RST)) && ((e->flags & NLB_CT_EVENTS) | (p->tcp_flags & NLB_TCP_RST));
}

#endif /* NLB_EVENTS_H */
