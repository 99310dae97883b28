// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * nlb_tc_egress: reverse NAT for DNAT flows, on the egress of the interface
 * that leads to the clients. A backend's reply (backend -> client) leaves the
 * node with the VIP as its source again. FullNAT replies are handled at
 * ingress by nlb_xdp, so they never match here.
 *
 * This program never drops or redirects: every packet leaves with TC_ACT_OK,
 * and only packets that match a DNAT reply entry are changed. It counts only
 * what it translates (NLB_STAT_CT_REPLY): the other nlb_stats reasons describe
 * ingress traffic.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "nodelb_abi.h"
#include "config.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "csum.h"
#include "clock.h"
#include "conntrack.h"
#include "nat.h"
#include "signals.h"
#include "events.h"
#include "icmp.h"

/* Makes the headers readable directly when the skb keeps them in fragments. */
static __always_inline void pull_headers(struct __sk_buff *skb)
{
	__u32 linear = skb->data_end - skb->data;
	__u32 want = skb->len < NLB_MAX_HDR_LEN ? skb->len : NLB_MAX_HDR_LEN;

	if (linear < want)
		bpf_skb_pull_data(skb, want);
}

SEC("tc")
int nlb_tc_egress(struct __sk_buff *skb)
{
	struct nlb_packet p;
	struct nlb_ct_key key;
	struct nlb_ct_entry *e;
	struct nlb_backend_stats *s;
	__u64 now;
	int ret;

	pull_headers(skb);
	ret = nlb_parse((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, &p);
	if (ret != NLB_PARSED) {
		/* Neither TCP nor UDP: maybe an ICMP error of a DNAT flow, for the client (lib/icmp.h). */
		if (ret == NLB_STAT_PASS_NOT_L4) {
			ret = nlb_icmp_tc(skb);
			if (icmp_translated(ret))
				nlb_count(ret);
		}
		return TC_ACT_OK;
	}
	if (!port_in_set(&nlb_sports, bpf_ntohs(((struct udphdr *)p.l4)->source)))
		return TC_ACT_OK;

	nlb_ct_key_of(&p, &key);
	e = nlb_ct_find(&key); /* an unanswered flow's too: this may be the answer */
	if (!e || (e->flags & (NLB_CT_REPLY | NLB_CT_FULLNAT)) != NLB_CT_REPLY)
		return TC_ACT_OK;

	/*
	 * Applied even when idle past its timeout: the reply path must keep
	 * working while the forward entry pins the flow to this backend.
	 */
	now = nlb_now();
	if (nlb_may_signal(&p))
		nlb_count_signal(e, p.tcp_flags, p.family); /* before the touch closes the entry */
	s = backend_stats(e->backend);
	/*
	 * Before the touch: a backend's first answer moves an unanswered flow out of nlb_ct_embryonic
	 * (nlb_ct_answered), and the LRU may hand e's memory to another CPU's insert at once. The
	 * rewrite invalidates the packet pointers in p: only its scalars are read after it.
	 */
	nlb_rewrite_skb(skb, &p, e);
	ct_touch(e, &key, &p, now);
	if (s) {
		s->reply_packets += 1;
		s->reply_bytes += p.l3_len;
	}
	nlb_count(NLB_STAT_CT_REPLY);
	if (nlb_may_end(&p, e)) /* never on the packet that moved the flow: a FIN or RST does not establish */
		nlb_ev_end(e, &key, p.tcp_flags, now); /* after the touch: its counters include this packet */
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
