// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The floor for benchmarks: the cheapest XDP program there is. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp.frags") /* as nlb_xdp: a veth peer keeps its TSO */
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
