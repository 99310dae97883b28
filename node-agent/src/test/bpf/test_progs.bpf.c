// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Small programs for the binding's own tests: they count what they see in maps,
 * so a test can tell from user space that a program really ran (test run, XDP on a
 * veth, tcx egress) and that a map is really shared between two objects.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Set by the agent before load (BpfObject.setRodata). */
const volatile __u32 cfg_xdp_verdict = XDP_PASS;
const volatile __u64 cfg_marker = 0;

enum { COUNT_XDP = 0, COUNT_TC = 1, MARKER = 2, COUNT_SLOTS = 4 };

/* Shared counters: one slot per program, plus the last marker seen. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COUNT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* Same as counts[COUNT_XDP], per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu_counts SEC(".maps");

/* Deliberately small: the tests resize it before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} resizable SEC(".maps");

/* Records of xdp_ringbuf: RingBufferIT reads them back through RingBuffer. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} records SEC(".maps");

struct record {
	__u64 seq; /* 1, 2, ... : one per run */
	__u32 len; /* the packet's length */
	__u32 marker; /* cfg_marker's low half */
};

static __always_inline void count(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&counts, &slot);

	if (value)
		__sync_fetch_and_add(value, 1);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 zero = 0, marker = MARKER;
	__u64 *percpu = bpf_map_lookup_elem(&percpu_counts, &zero);
	__u64 *last = bpf_map_lookup_elem(&counts, &marker);

	count(COUNT_XDP);
	if (percpu)
		*percpu += 1;
	if (last)
		*last = cfg_marker;
	return cfg_xdp_verdict;
}

/* Writes one struct record per packet into records (nothing when the ring is full). */
SEC("xdp")
int xdp_ringbuf(struct xdp_md *ctx)
{
	__u32 slot = COUNT_XDP;
	__u64 *seq = bpf_map_lookup_elem(&counts, &slot);
	struct record *r;

	if (!seq)
		return XDP_ABORTED;
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r)
		return XDP_DROP;
	__sync_fetch_and_add(seq, 1);
	r->seq = *seq; /* the tests run one packet at a time */
	r->len = ctx->data_end - ctx->data;
	r->marker = (__u32)cfg_marker;
	bpf_ringbuf_submit(r, 0);
	return XDP_PASS;
}

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	count(COUNT_TC);
	return -1; /* TCX_NEXT (TC_ACT_UNSPEC): let the rest of the chain decide */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
