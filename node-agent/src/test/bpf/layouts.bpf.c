// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Never loaded: two layouts of one map entry, as an old and a new data plane would
 * describe them in BTF, for LayoutTranslationTest (the rule by name of a layout
 * migration). One global of each type, so clang emits its BTF.
 */
#include <linux/types.h>

union lt_addr {
	__u32 v4;
	__u8 bytes[16];
};

struct lt_inner_v1 {
	__u32 a;
	__u16 b;
	__u16 pad;
};

struct lt_inner_v2 {
	__u16 b;
	__u16 pad;
	__u32 a;
	__u32 c; /* new */
};

struct lt_entry_v1 {
	__u64 stamp;
	__u16 id; /* widened in v2 */
	__be16 port;
	__u32 gone; /* dropped in v2 */
	union lt_addr addr;
	struct lt_inner_v1 inner;
	__u32 old_name; /* renamed new_name in v2: a converter's job */
	__u32 pad;
};

struct lt_entry_v2 {
	union lt_addr addr;
	__be16 port;
	__u16 pad;
	__u32 id;
	__u32 new_name;
	__u32 fresh; /* new */
	struct lt_inner_v2 inner;
	__u64 stamp;
};

/* Changes the rule by name refuses. */
struct lt_bad_v1 {
	__u32 narrowed;
	__u16 order;
	__s8 sign;
	__u8 pad;
	__u8 bytes[4];
	__u32 kind;
	__u32 bits : 8;
	__u32 more : 24;
};

struct lt_bad_v2 {
	__u16 narrowed;
	__be16 order;
	__s16 sign;
	__u8 bytes[8];
	__u8 kind[4];
	__u32 bits : 8;
	__u32 more : 24;
};

struct lt_entry_v1 lt_probe_entry_v1;
struct lt_entry_v2 lt_probe_entry_v2;
struct lt_bad_v1 lt_probe_bad_v1;
struct lt_bad_v2 lt_probe_bad_v2;
__u32 lt_probe_u32;
__u64 lt_probe_u64;
