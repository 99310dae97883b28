/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Load-time configuration. The agent writes these into the object's .rodata
 * before load (the skeleton-less way: bpf_map__initial_value / set_initial_value
 * on the ".rodata" map); the verifier then treats them as constants.
 */
#ifndef NLB_CONFIG_H
#define NLB_CONFIG_H

#include <linux/types.h>
#include "nodelb_abi.h"

#define NLB_NS_PER_SEC 1000000000ULL

/* Slots per group in nlb_tables; must match the tables the agent writes. */
const volatile __u32 cfg_table_size = NLB_TABLE_SIZE;

/*
 * Idle time after which a forward conntrack entry no longer pins its backend: the
 * defaults for listeners that set none in nlb_timeouts (SYN is never per listener).
 */
const volatile __u64 cfg_timeout_syn_ns = 30 * NLB_NS_PER_SEC;
const volatile __u64 cfg_timeout_established_ns = 900 * NLB_NS_PER_SEC;
const volatile __u64 cfg_timeout_closing_ns = 10 * NLB_NS_PER_SEC;
const volatile __u64 cfg_timeout_udp_ns = 60 * NLB_NS_PER_SEC;

/*
 * How long an idle FullNAT port rests after its TCP flow went quiet before a new
 * flow prefers it: the time the closing side keeps TIME_WAIT (60 s in Linux).
 */
const volatile __u64 cfg_nat_port_rest_ns = 60 * NLB_NS_PER_SEC;

/*
 * The node's FullNAT source ports (host order), the same range for every listener: a
 * packet to a port outside it that no listener takes cannot be a FullNAT reply, so it
 * is passed without a conntrack lookup. The agent sets its own range.
 */
const volatile __u16 cfg_nat_port_min = 61000;
const volatile __u16 cfg_nat_port_max = 65535;

/*
 * Flow event records each CPU may write per second (lib/events.h); the rest are counted,
 * not written, so a flood costs the data plane and the agent a bounded amount.
 */
const volatile __u64 cfg_events_per_sec = 20000;

#endif /* NLB_CONFIG_H */
