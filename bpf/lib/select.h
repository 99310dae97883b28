/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Backend selection for a new flow: listener -> (source route) -> group ->
 * Maglev slot -> backend.
 *
 * The hash is MurmurHash3 x86_32 with seed 0, so every node (and the Java
 * tests) computes the same value for the same flow; it has no per-boot seed on
 * purpose: after a conntrack entry is lost, any node picks the same backend as
 * long as the table has not changed.
 *
 *   flow hash:   murmur3_32(src addr || dst addr || sport || dport || proto, 0, 0, 0)
 *                addresses 4 bytes (IPv4) or 16 bytes (IPv6), ports as on the wire
 *   source hash: murmur3_32(src addr)
 *   slot:        (hash * cfg_table_size) >> 32       ("fastrange", no division)
 *   backend id:  nlb_tables[group * cfg_table_size + slot]
 *
 * Words are read little-endian from those bytes, as in the reference
 * implementation (Guava's Hashing.murmur3_32_fixed() gives the same numbers).
 */
#ifndef NLB_SELECT_H
#define NLB_SELECT_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include "nodelb_abi.h"
#include "config.h"
#include "maps.h"
#include "parse.h"

static __always_inline __u32 rol32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 murmur3_round(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rol32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rol32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 murmur3_finish(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 murmur3_addr(__u32 h, const union nlb_addr *a, __u8 family)
{
	h = murmur3_round(h, a->v6[0]);
	if (family == NLB_FAMILY_IPV6) {
		h = murmur3_round(h, a->v6[1]);
		h = murmur3_round(h, a->v6[2]);
		h = murmur3_round(h, a->v6[3]);
	}
	return h;
}

static __always_inline __u32 addr_len(__u8 family)
{
	return family == NLB_FAMILY_IPV6 ? 16 : 4;
}

/* The flow hash of a conntrack key (see the top of this file). */
static __always_inline __u32 nlb_flow_hash(const struct nlb_ct_key *k)
{
	__u32 h = 0;

	h = murmur3_addr(h, &k->src, k->family);
	h = murmur3_addr(h, &k->dst, k->family);
	h = murmur3_round(h, *(const __u32 *)&k->sport); /* sport, dport */
	h = murmur3_round(h, k->proto);
	return murmur3_finish(h, 2 * addr_len(k->family) + 8);
}

/* The source hash: session persistence by client address. */
static __always_inline __u32 nlb_source_hash(const struct nlb_ct_key *k)
{
	return murmur3_finish(murmur3_addr(0, &k->src, k->family), addr_len(k->family));
}

/* Maps a 32-bit hash onto [0, n) by a multiply: Lemire's fastrange. */
static __always_inline __u32 fastrange32(__u32 hash, __u32 n)
{
	return ((__u64)hash * n) >> 32;
}

/* The group for a new flow of this listener: the longest source route, else the default. */
static __always_inline __u32 nlb_route_group(const struct nlb_listener *l, const struct nlb_ct_key *k)
{
	struct nlb_route_key rk;
	struct nlb_route *r;

	if (!(l->flags & NLB_LISTENER_HAS_ROUTES))
		return l->group;
	rk.prefixlen = 32 + 8 * addr_len(k->family);
	rk.listener = l->id;
	rk.addr = k->src;
	r = bpf_map_lookup_elem(&nlb_routes, &rk);
	return r ? r->group : l->group;
}

/*
 * Picks the backend of a new flow in group_id: the flow's slot, or `skip` slots
 * after it (a retry; fewer than the table's size). Returns its id in *backend_id
 * and the backend, or NULL when the group has none (or the table points to a
 * backend of another family, which only a broken table can do).
 */
static __always_inline struct nlb_backend *nlb_select_backend(__u32 group_id, const struct nlb_ct_key *k,
							      __u32 flow_hash, __u32 skip, __u32 *backend_id)
{
	struct nlb_group *g = bpf_map_lookup_elem(&nlb_groups, &group_id);
	struct nlb_backend *b;
	__u32 hash, slot, idx, *id;

	if (!g || g->backends == 0)
		return NULL;
	hash = (g->flags & NLB_GROUP_PERSIST_SOURCE) ? nlb_source_hash(k) : flow_hash;
	slot = fastrange32(hash, cfg_table_size) + skip;
	if (slot >= cfg_table_size)
		slot -= cfg_table_size;
	idx = group_id * cfg_table_size + slot;
	id = bpf_map_lookup_elem(&nlb_tables, &idx);
	if (!id)
		return NULL;
	b = bpf_map_lookup_elem(&nlb_backends, id);
	if (!b || b->family != k->family)
		return NULL;
	*backend_id = *id;
	return b;
}

#endif /* NLB_SELECT_H */
