// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The splice of a stream listener's two sockets (docs/stream-listeners.md): each socket of a
 * relayed connection sits in nlb_splice_socks under its socket cookie, and nlb_splice_peers maps
 * each cookie to its peer's. Data arriving on one is redirected to the other's send side in the
 * kernel, so the payload never crosses user space. A socket without a peer entry keeps its data
 * (SK_PASS): the agent reads it. Both maps live with the agent process (never pinned): not layout.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Socket cookie -> socket, for bpf_sk_redirect_hash. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} nlb_splice_socks SEC(".maps");

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
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u64 *peer = bpf_map_lookup_elem(&nlb_splice_peers, &cookie);

	if (!peer)
		return SK_PASS;
	return bpf_sk_redirect_hash(skb, &nlb_splice_socks, peer, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
