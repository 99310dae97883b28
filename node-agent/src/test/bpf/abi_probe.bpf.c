// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Never loaded: it only makes clang emit BTF for every struct, union and enum of
 * nodelb_abi.h, so AbiLayoutTest can compare them with the Java layouts in Abi.
 * A type appears in BTF only when something uses it, hence one global of each.
 */
#include "nodelb_abi.h"

union nlb_addr probe_addr;
struct nlb_listener_key probe_listener_key;
struct nlb_listener probe_listener;
struct nlb_route_key probe_route_key;
struct nlb_route probe_route;
struct nlb_group probe_group;
struct nlb_timeouts probe_timeouts;
struct nlb_rate_limit probe_rate_limit;
struct nlb_rate_key probe_rate_key;
struct nlb_rate_bucket probe_rate_bucket;
struct nlb_rate_slot probe_rate_slot;
struct nlb_backend probe_backend;
struct nlb_backend_stats probe_backend_stats;
struct nlb_ct_key probe_ct_key;
struct nlb_ct_entry probe_ct_entry;
struct nlb_event probe_event;
struct nlb_event_budget probe_event_budget;

enum nlb_family probe_family;
enum nlb_listener_flags probe_listener_flags;
enum nlb_group_flags probe_group_flags;
enum nlb_ct_state probe_ct_state;
enum nlb_ct_flags probe_ct_flags;
enum nlb_stat probe_stat;
enum nlb_event_type probe_event_type;
enum nlb_end_reason probe_end_reason;
enum nlb_fwd probe_fwd;
enum nlb_echo probe_echo;
