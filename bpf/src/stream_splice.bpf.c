// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The splice of a stream listener's two sockets (docs/stream-listeners.md). Every socket of a
 * spliced connection sits in nlb_splice_targets (a SOCKHASH without programs: what a redirect
 * can reach) under its socket cookie, and nlb_splice_peers maps a cookie to its peer's. A socket
 * joins nlb_splice_socks, the SOCKHASH this program is attached to, only once its direction opens:
 * until then its bytes stay in its own receive queue, for the agent. Data arriving on a judged
 * socket is redirected to its peer's send side in the kernel, so the payload never crosses user
 * space. Both maps live with the agent process (never pinned): not layout.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Socket cookie -> socket: the sockets whose arriving data this program judges. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} nlb_splice_socks SEC(".maps");

/* Socket cookie -> socket: where bpf_sk_redirect_hash sends (no program attached). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} nlb_splice_targets SEC(".maps");

/* Socket cookie -> the cookie of the socket its data goes to. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} nlb_splice_peers SEC(".maps");

SEC("sk_skb/stream_verdict")
int nlb_splice(struct __sk_buff *skb)
{
	__u64 cookie;
	__u64 *peer;

	/*
	 * A segment without payload (a bare FIN) stays with its own socket, whose reader then sees
	 * the end of stream: redirected, the peer's send work would take its 0 bytes for a hard
	 * error, set EPIPE on the peer and stop sending.
	 */
	if (skb->len == 0)
		return SK_PASS;
	cookie = bpf_get_socket_cookie(skb);
	peer = bpf_map_lookup_elem(&nlb_splice_peers, &cookie);
	if (!peer)
		return SK_PASS;
	return bpf_sk_redirect_hash(skb, &nlb_splice_targets, peer, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
