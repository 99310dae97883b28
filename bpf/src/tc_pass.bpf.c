// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The floor for benchmarks at the tc hook: the cheapest tc program there is. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int tc_pass(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
