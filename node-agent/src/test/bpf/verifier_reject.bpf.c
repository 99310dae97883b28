// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Compiles, but the verifier must refuse it: it reads the packet without a bounds check. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_unchecked_read(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	return *(volatile __u8 *)(data + 14) == 0x45 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
