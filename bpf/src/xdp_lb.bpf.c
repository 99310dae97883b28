// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * nlb_xdp: the ingress load balancer.
 *
 *   parse -> port filter -> address filter -> listener (or FullNAT port range) -> conntrack
 *   -> (miss) route -> Maglev -> conntrack insert -> DNAT / FullNAT rewrite
 *   -> fast path (lib/fastpath.h: FIB lookup, XDP_REDIRECT / XDP_TX) or XDP_PASS
 *
 * The rewritten packet is sent on from XDP when the fast path can, else it goes up to the
 * kernel, which routes it to the backend.
 * Every packet is counted under exactly one enum nlb_stat reason.
 */
#include <linux/bpf.h>
#include <linux/in.h>
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
#include "select.h"
#include "nat.h"
#include "signals.h"
#include "events.h"
#include "icmp.h"
#include "ratelimit.h"
#include "fastpath.h"

#define EEXIST 17
/*
 * A new DNAT flow whose reply key a live flow holds tries the next table slots
 * (reserve_dnat_reply): up to NLB_DNAT_SLOTS slots, inserting at NLB_DNAT_ATTEMPTS
 * backends at most. Slots of the first backend found busy cost only a table read.
 */
#define NLB_DNAT_SLOTS 16
#define NLB_DNAT_ATTEMPTS 4
/* How many FullNAT source ports a new flow tries before it is dropped. */
#define NLB_NAT_PORT_PROBES 8

static __always_inline int pass(__u32 reason)
{
	nlb_count(reason);
	return XDP_PASS;
}

/* balance() result for a packet it translated: nlb_xdp decides how it leaves (not an XDP action). */
#define NLB_TRANSLATED 0x7f

/* Counts a translated packet under reason; nlb_xdp sends it on. */
static __always_inline int translated(__u32 reason)
{
	nlb_count(reason);
	return NLB_TRANSLATED;
}

static __always_inline int drop(__u32 reason)
{
	nlb_count(reason);
	return XDP_DROP;
}

/* Counts a packet sent to a backend (forward) or coming back from it (reply). */
static __always_inline void count_backend(__u32 backend_id, const struct nlb_packet *p, int reply, int new_flow)
{
	struct nlb_backend_stats *s = backend_stats(backend_id);

	if (!s)
		return;
	if (reply) {
		s->reply_packets += 1;
		s->reply_bytes += p->l3_len;
		return;
	}
	s->packets += 1;
	s->bytes += p->l3_len;
	s->new_flows += new_flow;
}

/* A packet of a known flow: rewrite per the entry, account, let the kernel route it. */
static __always_inline int forward_known(const struct nlb_packet *p, const struct nlb_ct_key *k,
					 struct nlb_ct_entry *e, __u64 now)
{
	int reply = e->flags & NLB_CT_REPLY;

	if (nlb_may_signal(p))
		nlb_count_signal(e, p->tcp_flags, p->family);
	nlb_rewrite_xdp(p, e);
	/* Before the touch: a FullNAT flow's first answer may move it out of nlb_ct_embryonic, freeing e. */
	count_backend(e->backend, p, reply, 0);
	ct_touch(e, k, p, now);
	if (nlb_may_end(p, e)) /* never on the packet that moved the flow: a FIN or RST does not establish */
		nlb_ev_end(e, k, p->tcp_flags, now); /* after the touch: its counters include this packet */
	return translated(reply ? NLB_STAT_CT_REPLY : NLB_STAT_CT_HIT);
}

/* Whether the forward entry f is the flow whose replies come back on key rk (FullNAT or DNAT). */
static __always_inline int forward_uses(const struct nlb_ct_entry *f, const struct nlb_ct_key *rk)
{
	return f->nat_sport == rk->dport && f->nat_dport == rk->sport && addr_equal(&f->nat_src, &rk->dst) &&
	       addr_equal(&f->nat_dst, &rk->src);
}

/* Whether the reply entry r translates back to the flow whose forward key is fk. */
static __always_inline int reply_belongs_to(const struct nlb_ct_entry *r, const struct nlb_ct_key *fk)
{
	return r->nat_dport == fk->sport && r->nat_sport == fk->dport && addr_equal(&r->nat_dst, &fk->src) &&
	       addr_equal(&r->nat_src, &fk->dst);
}

enum reply_key_use {
	REPLY_KEY_FREE, /* no entry, an idle one past its rest, or this very flow's own */
	REPLY_KEY_RESTING, /* idle, but its TCP flow went quiet less than cfg_nat_port_rest_ns ago */
	REPLY_KEY_BUSY, /* a live flow's replies come back through it */
};

/* The conntrack table a flow's entries are in: nlb_ct_embryonic until its backend answers. */
static __always_inline struct nlb_ct_entry *ct_lookup_in(__u32 embryonic, const struct nlb_ct_key *k)
{
	if (embryonic)
		return bpf_map_lookup_elem(&nlb_ct_embryonic, k);
	return bpf_map_lookup_elem(&nlb_conntrack, k);
}

static __always_inline int ct_update_in(__u32 embryonic, const struct nlb_ct_key *k, const struct nlb_ct_entry *v,
					__u64 flags)
{
	if (embryonic)
		return bpf_map_update_elem(&nlb_ct_embryonic, k, v, flags);
	return bpf_map_update_elem(&nlb_conntrack, k, v, flags);
}

/* Inserts or deletes in one of the two tables; global, so the callers' paths do not split on the table. */
__noinline int nlb_ct_put(const struct nlb_ct_key *k, const struct nlb_ct_entry *v, __u32 embryonic)
{
	if (!k || !v)
		return -22;
	return ct_update_in(embryonic, k, v, BPF_ANY);
}

__noinline int nlb_ct_del(const struct nlb_ct_key *k, __u32 embryonic)
{
	if (!k)
		return -22;
	if (embryonic)
		return bpf_map_delete_elem(&nlb_ct_embryonic, k);
	return bpf_map_delete_elem(&nlb_conntrack, k);
}

/*
 * What the reply entry r already at rk means for a new flow that wants that key
 * (backend -> FullNAT address and port, or backend -> client in DNAT). It is free
 * when it belongs to the very flow we are creating (its forward entry was lost,
 * expired, or is reopened by a SYN on the same client port: the backend sees the
 * same connection again), busy while another flow behind it lives, and free again
 * once that flow is idle. An idle TCP key rests first: the backend may still hold
 * the old connection in TIME_WAIT, and refuses a SYN on it from a client whose
 * timestamps are behind the old one's. The flow behind it is in either table.
 */
static __always_inline enum reply_key_use reply_key_use(const struct nlb_ct_entry *r, const struct nlb_ct_key *rk,
							const struct nlb_ct_key *fk, __u64 now)
{
	struct nlb_ct_entry *f;
	struct nlb_ct_key *owner;
	__u64 last_seen;
	__u32 zero = 0;

	if (!r || reply_belongs_to(r, fk))
		return REPLY_KEY_FREE;
	/* In the per-CPU scratch: with it on the stack, nlb_xdp's frames pass 512 bytes. */
	owner = bpf_map_lookup_elem(&nlb_ev_key, &zero);
	if (!owner)
		return REPLY_KEY_BUSY;
	nlb_ct_other_key(owner, r, rk->proto, rk->family);
	f = nlb_ct_find(owner);
	if (f && !forward_uses(f, rk))
		f = NULL;
	if (f && ct_is_live(f, now))
		return REPLY_KEY_BUSY;
	if (ct_is_live(r, now))
		return REPLY_KEY_BUSY;
	last_seen = r->last_seen_ns;
	if (f && f->last_seen_ns > last_seen)
		last_seen = f->last_seen_ns;
	if (rk->proto == IPPROTO_TCP && (__s64)(now - last_seen) < (__s64)cfg_nat_port_rest_ns)
		return REPLY_KEY_RESTING;
	return REPLY_KEY_FREE;
}

/* How nlb_ct_insert_reply inserts (its arguments are five at most): its `how`. */
#define CT_OWN 0x1 /* the flow's own forward entry is still there and names rk */
#define CT_EMBRYONIC 0x2 /* into nlb_ct_embryonic, else nlb_conntrack */
#define CT_TAKE_SHIFT 8 /* the most held use taken over (enum reply_key_use) */
/* Its result for a key held: CT_HELD + the use. */
#define CT_HELD 0x100

/*
 * Inserts a new flow's reply entry at rk, in nlb_ct_embryonic or nlb_conntrack. Returns 0 once it
 * is in, a negative error, or CT_HELD + the use of the key held: it is taken over when its use is at
 * most take. A key is held in one table at a time: one the other table holds is taken over on the
 * same rule, and leaves it. CT_OWN: the flow's own forward entry is still there (lost its life, or
 * reopened) and names rk: when the reply entry there is still its own, the key is rewritten at
 * once, since an LRU insert that finds its key already there costs as much as one that succeeds.
 * A global function: the port and slot searches call it in their loops.
 */
__noinline int nlb_ct_insert_reply(const struct nlb_ct_key *rk, const struct nlb_ct_entry *reply,
				   const struct nlb_ct_key *fk, __u64 now, __u32 how)
{
	__u32 embryonic = !!(how & CT_EMBRYONIC), take = how >> CT_TAKE_SHIFT, use;
	struct nlb_ct_entry *r;
	int err;

	if (!rk || !reply || !fk)
		return -22;
	if (how & CT_OWN) {
		r = ct_lookup_in(embryonic, rk);
		if (r && reply_belongs_to(r, fk))
			return ct_update_in(embryonic, rk, reply, BPF_ANY);
	}
	r = ct_lookup_in(!embryonic, rk);
	if (r) {
		use = reply_key_use(r, rk, fk, now);
		if (use > take)
			return CT_HELD + use;
		nlb_ct_del(rk, !embryonic);
	}
	err = ct_update_in(embryonic, rk, reply, BPF_NOEXIST);
	if (err != -EEXIST)
		return err;
	use = reply_key_use(ct_lookup_in(embryonic, rk), rk, fk, now);
	if (use <= take)
		return ct_update_in(embryonic, rk, reply, BPF_ANY);
	return CT_HELD + use;
}

/*
 * Finds a FullNAT source port for a new flow and inserts its reply entry
 * there: starts at a port derived from the flow hash and probes the next ones,
 * taking the first free one, else the first resting one.
 * Returns NLB_PARSED with rk->dport set, or the drop reason.
 */
static __always_inline int reserve_nat_port(const struct nlb_listener *l, struct nlb_ct_key *rk,
					    const struct nlb_ct_entry *reply, const struct nlb_ct_key *fk,
					    const struct nlb_ct_entry *stale, __u32 flow_hash, __u64 now, __u32 embryonic)
{
	__u32 min = l->snat_port_min, max = l->snat_port_max;
	__u32 range = max >= min ? max - min + 1 : 0;
	__u32 off = fastrange32(rol32(flow_hash, 16), range);
	__u32 how = (embryonic ? CT_EMBRYONIC : 0) | (REPLY_KEY_FREE << CT_TAKE_SHIFT);
	__be16 resting = 0;
	int i, err;

	for (i = 0; i < NLB_NAT_PORT_PROBES && i < range; i++) {
		rk->dport = bpf_htons(min + off);
		err = nlb_ct_insert_reply(rk, reply, fk, now, how | (stale && forward_uses(stale, rk) ? CT_OWN : 0));
		if (err == CT_HELD + REPLY_KEY_RESTING && !resting)
			resting = rk->dport;
		if (err == 0)
			return NLB_PARSED;
		if (err < 0)
			return NLB_STAT_DROP_CT_FULL;
		if (++off == range)
			off = 0;
	}
	if (!resting)
		return NLB_STAT_DROP_NO_NAT_PORT;
	rk->dport = resting;
	err = nlb_ct_insert_reply(rk, reply, fk, now, (how & CT_EMBRYONIC) | (REPLY_KEY_RESTING << CT_TAKE_SHIFT));
	if (err > 0) /* taken meanwhile */
		return NLB_STAT_DROP_NO_NAT_PORT;
	return err ? NLB_STAT_DROP_CT_FULL : NLB_PARSED;
}

/* Points a new flow's entries and reply key at backend b. */
static __always_inline void use_backend(const struct nlb_backend *b, __u32 backend_id, struct nlb_ct_entry *fwd,
					struct nlb_ct_entry *rev, struct nlb_ct_key *rk)
{
	fwd->nat_dst = b->addr;
	fwd->nat_dport = b->port;
	fwd->backend = backend_id;
	rev->backend = backend_id;
	rk->src = b->addr;
	rk->sport = b->port;
}

/*
 * Inserts a new DNAT flow's reply entry (backend -> client address and port). A live
 * flow from the same client address and port to another listener with this backend
 * owns that key already, and taking it would send that flow's replies from our VIP:
 * then the flow tries the backends of the next table slots (see NLB_DNAT_SLOTS).
 * Returns NLB_PARSED with fwd, rev, rk and *backend_id set, or the drop reason.
 */
static __always_inline int reserve_dnat_reply(__u32 group, const struct nlb_ct_key *fk,
					      const struct nlb_ct_entry *stale, __u32 flow_hash, __u64 now,
					      struct nlb_ct_entry *fwd, struct nlb_ct_entry *rev, struct nlb_ct_key *rk,
					      __u32 *backend_id, __u32 embryonic)
{
	__u32 how = (embryonic ? CT_EMBRYONIC : 0) | (REPLY_KEY_RESTING << CT_TAKE_SHIFT);
	struct nlb_backend *b;
	__u32 id, busy = *backend_id;
	int i, tried = 0, err;

	for (i = 0; i < NLB_DNAT_SLOTS; i++) {
		if (i > 0) {
			b = nlb_select_backend(group, fk, flow_hash, i, &id);
			if (!b)
				return NLB_STAT_DROP_NO_BACKEND;
			if (id == busy)
				continue;
			*backend_id = id;
			use_backend(b, id, fwd, rev, rk);
		}
		/* A resting key is taken: a DNAT flow cannot choose its client port. */
		err = nlb_ct_insert_reply(rk, rev, fk, now, how | (stale && forward_uses(stale, rk) ? CT_OWN : 0));
		if (err == 0)
			return NLB_PARSED;
		if (err < 0)
			return NLB_STAT_DROP_CT_FULL;
		if (++tried == NLB_DNAT_ATTEMPTS)
			break;
	}
	return NLB_STAT_DROP_REPLY_BUSY;
}

/* The first FullNAT port a flow tries: where a stateless RST is sent from. */
static __always_inline __be16 first_nat_port(const struct nlb_listener *l, __u32 flow_hash)
{
	__u32 min = l->snat_port_min, max = l->snat_port_max;
	__u32 range = max >= min ? max - min + 1 : 0;

	return bpf_htons(min + fastrange32(rol32(flow_hash, 16), range));
}

/*
 * Drops the first packet of a flow, with its DROP record when its listener has events (ct_flags:
 * what its entries would have had, ct_listener_flags).
 */
static __always_inline int drop_first(const struct nlb_ct_key *fk, __u32 listener, __u32 ct_flags, __u32 reason,
				      __u64 now)
{
	nlb_ev_drop(fk, listener, ct_flags, reason, now);
	return drop(reason);
}

/* The listener a packet is addressed to, if any. */
static __always_inline struct nlb_listener *listener_of(const struct nlb_ct_key *k)
{
	struct nlb_listener_key lk;

	__builtin_memset(&lk, 0, sizeof(lk));
	lk.addr = k->dst;
	lk.port = k->dport;
	lk.proto = k->proto;
	lk.family = k->family;
	return bpf_map_lookup_elem(&nlb_listeners, &lk);
}

/*
 * A packet to a listener with no live conntrack entry (stale: its forward entry, if one
 * is left): select a backend, record the flow, rewrite.
 */
static __always_inline int new_flow(const struct nlb_packet *p, const struct nlb_ct_key *fk,
				    const struct nlb_ct_entry *stale, __u32 stale_established, __u64 now)
{
	/* Looked up again: a listener pointer kept across the conntrack path costs verifier states. */
	struct nlb_listener *l = listener_of(fk);
	struct nlb_backend *b;
	struct nlb_ct_entry fwd, rev;
	struct nlb_ct_key rk;
	__u32 flow_hash, group, backend_id = 0, be_limited;
	int stateless_rst = p->proto == IPPROTO_TCP && (p->tcp_flags & NLB_TCP_RST);
	/*
	 * A TCP flow waits for its backend's answer in nlb_ct_embryonic; one that reopens or outlived
	 * entries of nlb_conntrack is written over them there.
	 */
	__u32 embryonic = p->proto == IPPROTO_TCP && !stale_established;
	int ret;

	if (!l) /* removed since the first lookup */
		return pass(NLB_STAT_PASS_NO_LISTENER);
	/*
	 * Before anything is selected or inserted. A listener without a limit pays the test of a flag
	 * already loaded; the check itself is inlined (ratelimit.h).
	 */
	if ((l->flags & NLB_LISTENER_RATE_LIMITED) && nlb_rl_refuse(fk, l->id, l->flags, stateless_rst, now))
		return drop_first(fk, l->id, ct_listener_flags(l->flags), NLB_STAT_DROP_RATE_LIMITED, now);
	flow_hash = nlb_flow_hash(fk);
	group = nlb_route_group(l, fk);
	b = nlb_select_backend(group, fk, flow_hash, 0, &backend_id);
	if (!b)
		return drop_first(fk, l->id, ct_listener_flags(l->flags), NLB_STAT_DROP_NO_BACKEND, now);
	/* A group's backends share its backendRateLimit: a DNAT retry below picks one of the same rate. */
	be_limited = b->rate;

	/*
	 * Forward: client -> VIP becomes client (or SNAT) -> backend. Built after the selection: built
	 * before it (for the NO_BACKEND drop's record), its stack slots lived across the selection's
	 * paths and took the verifier past its limit.
	 */
	__builtin_memset(&fwd, 0, sizeof(fwd));
	fwd.nat_src = fk->src;
	fwd.nat_sport = fk->sport;
	fwd.created_ns = now;
	fwd.last_seen_ns = now;
	fwd.packets = 1;
	fwd.bytes = p->l3_len;
	fwd.state = ct_initial_state(p);
	fwd.listener = l->id;
	/* NLB_CT_EVENTS and NLB_CT_FULLNAT, without a branch. After listener: 0.59M instructions verified, before it 0.90M. */
	fwd.flags = ct_listener_flags(l->flags);

	/* Reply: backend -> client (or SNAT) becomes VIP -> client. */
	__builtin_memset(&rev, 0, sizeof(rev));
	rev.nat_src = fk->dst;
	rev.nat_sport = fk->dport;
	rev.nat_dst = fk->src;
	rev.nat_dport = fk->sport;
	rev.created_ns = now;
	rev.last_seen_ns = now;
	rev.state = fwd.state;
	rev.flags = NLB_CT_REPLY | ct_picked_up(p) | fwd.flags;
	rev.listener = l->id;

	__builtin_memset(&rk, 0, sizeof(rk));
	rk.dst = fk->src;
	rk.dport = fk->sport;
	rk.proto = fk->proto;
	rk.family = fk->family;
	use_backend(b, backend_id, &fwd, &rev, &rk);

	if (l->flags & NLB_LISTENER_FULLNAT) {
		fwd.nat_src = l->snat_addr;
		rk.dst = l->snat_addr;
		if (stateless_rst) {
			fwd.nat_sport = first_nat_port(l, flow_hash);
		} else {
			ret = reserve_nat_port(l, &rk, &rev, fk, stale, flow_hash, now, embryonic);
			if (ret != NLB_PARSED)
				return drop_first(fk, fwd.listener, fwd.flags, ret, now);
			fwd.nat_sport = rk.dport;
		}
	} else if (!stateless_rst) {
		ret = reserve_dnat_reply(group, fk, stale, flow_hash, now, &fwd, &rev, &rk, &backend_id, embryonic);
		if (ret != NLB_PARSED)
			return drop_first(fk, fwd.listener, fwd.flags, ret, now);
	}
	/*
	 * The reply entry is in: now the backend's token and the forward entry, or neither. Over its
	 * budget the flow is refused, not sent to another backend (bpf/README.md, "Rate limits").
	 */
	if (!stateless_rst) {
		if (be_limited && nlb_be_refuse(backend_id, now))
			ret = NLB_STAT_DROP_BACKEND_LIMITED;
		else
			ret = nlb_ct_put(fk, &fwd, embryonic) ? NLB_STAT_DROP_CT_FULL : NLB_PARSED;
		if (ret != NLB_PARSED) {
			nlb_ct_del(&rk, embryonic);
			return drop_first(fk, fwd.listener, fwd.flags, ret, now);
		}
	}

	nlb_rewrite_xdp(p, &fwd);
	count_backend(backend_id, p, 0, !stateless_rst);
	nlb_ev_new_flow(fk, &fwd, !stateless_rst); /* a stateless RST starts no flow */
	return translated(stateless_rst ? NLB_STAT_RST_NO_STATE : NLB_STAT_NEW_FLOW);
}

/* Whether a destination port (network order) is one FullNAT replies come back to. */
static __always_inline int is_nat_port(__be16 port)
{
	__u16 p = bpf_ntohs(port);

	return p >= cfg_nat_port_min && p <= cfg_nat_port_max;
}

/* A packet to a NAT port that no listener takes: ours only as the reply of a FullNAT flow. */
static __always_inline int fullnat_reply(const struct nlb_packet *p, const struct nlb_ct_key *k)
{
	struct nlb_ct_entry *e = nlb_ct_find(k); /* an unanswered flow's too: this may be the answer */

	if (!e || (e->flags & (NLB_CT_REPLY | NLB_CT_FULLNAT)) != (NLB_CT_REPLY | NLB_CT_FULLNAT))
		return pass(NLB_STAT_PASS_NO_LISTENER);
	return forward_known(p, k, e, nlb_now());
}

/* The balancer: an XDP action, or NLB_TRANSLATED for a packet it rewrote. */
static __always_inline int balance(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct nlb_packet p;
	struct nlb_ct_key key;
	struct nlb_listener *l;
	struct nlb_ct_entry *e;
	__u32 established = 1;
	__u64 now;
	int ret;

	ret = nlb_parse(data, data_end, nlb_xdp_frame_len(ctx, data, data_end), &p);
	if (ret != NLB_PARSED) { /* neither TCP nor UDP: maybe an ICMP error of a flow, or an echo (lib/icmp.h) */
		if (ret == NLB_STAT_PASS_NOT_L4)
			ret = nlb_icmp_xdp(ctx);
		return ret >= NLB_ICMP_ACTION ? ret - NLB_ICMP_ACTION : pass(ret);
	}
	if (!port_in_set(&nlb_dports, bpf_ntohs(((struct udphdr *)p.l4)->dest)))
		return pass(NLB_STAT_PASS_NO_LISTENER);

	/*
	 * Ours only if addressed to a listener or, for a FullNAT reply, to a NAT port:
	 * anything else (another address of the node on a listener port) is passed
	 * before it costs a lookup in the large conntrack, most of it at the address filter,
	 * a bit test like the port filter's.
	 */
	nlb_ct_key_of(&p, &key);
	if (!daddr_in_set(&key.dst))
		return pass(NLB_STAT_PASS_NO_LISTENER);
	l = listener_of(&key);
	if (!l)
		return is_nat_port(key.dport) ? fullnat_reply(&p, &key) : pass(NLB_STAT_PASS_NO_LISTENER);

	now = nlb_now();
	/* Every packet to a listener with a packet limit, open flows' too, before conntrack (ratelimit.h). */
	if ((l->flags & NLB_LISTENER_PACKET_LIMITED) && nlb_pkt_refuse(&key, l->id, l->flags, now))
		return drop(NLB_STAT_DROP_PACKET_LIMITED);
	e = bpf_map_lookup_elem(&nlb_conntrack, &key);
	if (!e) { /* the new-flow path: an unanswered flow's entries wait apart */
		e = bpf_map_lookup_elem(&nlb_ct_embryonic, &key);
		established = 0;
	}
	if (e) {
		if (e->flags & NLB_CT_REPLY) {
			/* FullNAT replies come back to the node and are ours; DNAT replies are the egress program's. */
			if (e->flags & NLB_CT_FULLNAT)
				return forward_known(&p, &key, e, now);
			return pass(NLB_STAT_PASS_NO_LISTENER);
		}
		if (ct_is_live(e, now) && !ct_is_port_reuse(e, &p))
			return forward_known(&p, &key, e, now);
	}
	return new_flow(&p, &key, e, e && established, now);
}

/*
 * xdp.frags: the program takes frames that span several buffers (jumbo MTUs, and on a veth the
 * peer's TSO segments, which a program without frags makes the kernel turn off on the peer).
 * It reads and writes headers only, which are always in the first buffer.
 */
SEC("xdp.frags")
int nlb_xdp(struct xdp_md *ctx)
{
	int ret = balance(ctx);

	if (ret != NLB_TRANSLATED)
		return ret;
	return cfg_xdp_forward ? nlb_fwd_xdp(ctx) : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
