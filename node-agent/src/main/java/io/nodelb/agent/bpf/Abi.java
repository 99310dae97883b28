package io.nodelb.agent.bpf;

import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.UnionLayout;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The Java mirror of bpf/include/nodelb_abi.h: one {@link MemoryLayout} per C struct (named
 * like it, members named like its fields), the enum values and the #defines, and one record
 * per struct that writes itself into, and reads itself from, a map key or value segment.
 *
 * <p>Conventions, as in the header: addresses take 16 bytes, an IPv4 one in the first 4
 * with the rest zero; addresses and {@code __be16} ports are in network byte order, which
 * the layouts say with {@link #BE16} (big-endian); every other field is in host order.
 * Writers clear the whole struct first, so padding is always zero and keys hash alike.
 * {@code AbiLayoutTest} compares all of this with the BTF of the compiled C.
 */
public final class Abi {
    private Abi() {}

    // --- #defines ------------------------------------------------------------------------

    /** Part of the pin path (/sys/fs/bpf/nodelb/v&lt;N&gt;/): bump it with any layout change. */
    public static final int LAYOUT_VERSION = 7;
    public static final int MAX_LISTENERS = 4096;
    public static final int MAX_ROUTES = 16384;
    public static final int MAX_GROUPS = 1024;
    public static final int MAX_BACKENDS = 65536;
    public static final int MAX_CONNTRACK = 1048576;
    /** Unanswered TCP flows (an LRU apart from conntrack, so a flood churns only it). */
    public static final int MAX_EMBRYONIC = 262144;
    /** Token buckets of rate-limited listeners (an LRU): one per listener and source prefix seen lately. */
    public static final int MAX_RATE_BUCKETS = 262144;
    /** Packet token buckets of packet-limited listeners (an LRU), keyed as the rate buckets. */
    public static final int MAX_PKT_BUCKETS = 262144;
    /** Maglev slots per group (prime); the table map holds MAX_GROUPS * TABLE_SIZE. */
    public static final int TABLE_SIZE = 4093;
    /** 64-bit words of a port bitmap. */
    public static final int PORT_WORDS = 1024;
    /** The address words after the port words of nlb_dports, and their hash's multiplier (nodelb_abi.h). */
    public static final int DADDR_WORDS = 64;
    public static final int DADDR_MUL = 0x9e3779b1;
    /** Bytes of the nlb_events ring buffer. */
    public static final int EVENTS_BYTES = 2 * 1024 * 1024;
    /** Records wake the reader only once this much waits in the ring: a quarter of it. */
    public static final int EVENTS_WAKEUP_BYTES = EVENTS_BYTES / 4;
    /** The rate-limit slot hash's multipliers ({@link RateSlot#firstOf}, bpf/lib/ratelimit.h rl_slot). */
    public static final long RL_MUL0 = 0x9e3779b97f4a7c15L;
    public static final long RL_MUL1 = 0xbf58476d1ce4e5b9L;
    public static final long RL_MUL2 = 0x94d049bb133111ebL;

    /** Every #define of the header, by its C name. */
    public static final Map<String, Long> DEFINES = ordered(
            "NLB_LAYOUT_VERSION", LAYOUT_VERSION,
            "NLB_MAX_LISTENERS", MAX_LISTENERS,
            "NLB_MAX_ROUTES", MAX_ROUTES,
            "NLB_MAX_GROUPS", MAX_GROUPS,
            "NLB_MAX_BACKENDS", MAX_BACKENDS,
            "NLB_MAX_CONNTRACK", MAX_CONNTRACK,
            "NLB_MAX_EMBRYONIC", MAX_EMBRYONIC,
            "NLB_MAX_RATE_BUCKETS", MAX_RATE_BUCKETS,
            "NLB_MAX_PKT_BUCKETS", MAX_PKT_BUCKETS,
            "NLB_TABLE_SIZE", TABLE_SIZE,
            "NLB_PORT_WORDS", PORT_WORDS,
            "NLB_DADDR_WORDS", DADDR_WORDS,
            "NLB_DADDR_MUL", Integer.toUnsignedLong(DADDR_MUL),
            "NLB_EVENTS_BYTES", EVENTS_BYTES,
            "NLB_EVENTS_WAKEUP_BYTES", EVENTS_WAKEUP_BYTES,
            "NLB_RL_MUL0", RL_MUL0,
            "NLB_RL_MUL1", RL_MUL1,
            "NLB_RL_MUL2", RL_MUL2);

    // --- enums ---------------------------------------------------------------------------

    /** enum nlb_family: the values are the IP versions. */
    public static final int FAMILY_IPV4 = 4;
    public static final int FAMILY_IPV6 = 6;

    /** enum nlb_listener_flags */
    public static final int LISTENER_FULLNAT = 1 << 0;
    public static final int LISTENER_HAS_ROUTES = 1 << 1;
    /** Its flows write flow events; the same bit as {@link #CT_EVENTS}. */
    public static final int LISTENER_EVENTS = 1 << 4;
    /** Its new flows take a token from their source's bucket (nlb_rate_limits has its entry). */
    public static final int LISTENER_RATE_LIMITED = 1 << 8;
    /** On a VIP's ICMP entry ({@link ListenerKey#echo}): XDP answers its echo requests. */
    public static final int LISTENER_ECHO_REPLY = 1 << 9;
    /** On a VIP's ICMP entry: XDP drops its echo requests. Neither bit: the node's stack answers. */
    public static final int LISTENER_ECHO_DROP = 1 << 10;
    /** Every packet to it takes a token from its source's packet bucket (nlb_rate_limits has its entry). */
    public static final int LISTENER_PACKET_LIMITED = 1 << 11;

    /** enum nlb_group_flags */
    public static final int GROUP_PERSIST_SOURCE = 1 << 0;

    /** enum nlb_ct_state */
    public static final int CT_SYN = 1;
    public static final int CT_ESTABLISHED = 2;
    public static final int CT_CLOSING = 3;
    public static final int CT_UDP = 4;

    /** enum nlb_ct_flags */
    public static final int CT_REPLY = 1 << 0;
    public static final int CT_FULLNAT = 1 << 1;
    /** Reply entry of a flow picked up past its SYN: a RST from the backend is no health signal. */
    public static final int CT_PICKED_UP = 1 << 2;
    /** Forward entry: a retransmitted SYN found no answer yet (counted once in unanswered_syns). */
    public static final int CT_SYN_RETRIED = 1 << 3;
    /** Both entries: the flow's listener had events on when it began. */
    public static final int CT_EVENTS = 1 << 4;
    /** Forward entry: its FLOW_END record was written. */
    public static final int CT_ENDED = 1 << 5;

    /** enum nlb_event_type */
    public static final int EVENT_NEW_FLOW = 1;
    public static final int EVENT_FLOW_END = 2;
    public static final int EVENT_DROP = 3;

    /** enum nlb_end_reason */
    public static final int END_FIN = 1;
    public static final int END_RST = 2;
    /** Idle past its timeout: written by the agent's conntrack sweep, never by a program. */
    public static final int END_IDLE = 3;

    /** enum nlb_stat: why a packet passed, was dropped or rewritten; the index of nlb_stats. */
    public enum Stat {
        PASS_NOT_IP,
        PASS_MALFORMED,
        PASS_FRAGMENT,
        PASS_IP_OPTIONS,
        PASS_NOT_L4,
        PASS_NO_LISTENER,
        CT_HIT,
        CT_REPLY,
        NEW_FLOW,
        DROP_NO_BACKEND,
        DROP_NO_NAT_PORT,
        DROP_CT_FULL,
        RST_NO_STATE,
        DROP_REPLY_BUSY,
        ICMP_TO_CLIENT,
        ICMP_TO_BACKEND,
        /** A new flow whose source's token bucket was empty (the listener's rate limit). */
        DROP_RATE_LIMITED,
        /** A new flow whose backend's token bucket was empty (the group's backend rate limit). */
        DROP_BACKEND_LIMITED,
        /** A packet whose source's packet bucket was empty (the listener's packet limit). */
        DROP_PACKET_LIMITED;

        /** The C value, the index into nlb_stats. */
        public int value() {
            return ordinal();
        }
    }

    /** NLB_STAT_MAX: the number of reasons, the size of nlb_stats. */
    public static final int STAT_MAX = Stat.values().length;

    /**
     * enum nlb_fwd: what the XDP fast path did with a translated packet, the index into nlb_fwd_stats
     * (a map of each loaded program, not pinned: not part of the layout).
     */
    public enum Forward {
        REDIRECT,
        TX,
        PASS_NOT_SAFE,
        PASS_NO_NEIGH,
        PASS_MTU,
        PASS_TTL,
        PASS_NO_ROUTE,
        PASS_FRAGS;

        /** The C value, the index into nlb_fwd_stats. */
        public int value() {
            return ordinal();
        }
    }

    /**
     * enum nlb_echo: echo requests to a VIP that XDP answered or dropped, the index into
     * nlb_echo_stats (a map of each loaded program, not pinned: not part of the layout).
     */
    public enum Echo {
        REPLIED,
        DROPPED;

        /** The C value, the index into nlb_echo_stats. */
        public int value() {
            return ordinal();
        }
    }

    /** IPPROTO_* of the listener and conntrack protocol fields. */
    public static final int IPPROTO_TCP = 6;
    public static final int IPPROTO_UDP = 17;
    /** Only in a VIP's echo entry of nlb_listeners (port 0). */
    public static final int IPPROTO_ICMP = 1;
    public static final int IPPROTO_ICMPV6 = 58;

    /** Every enum of the header by its C name, with its enumerators by their C names. */
    public static final Map<String, Map<String, Long>> ENUMS = Map.of(
            "nlb_family", ordered("NLB_FAMILY_IPV4", FAMILY_IPV4, "NLB_FAMILY_IPV6", FAMILY_IPV6),
            "nlb_listener_flags", ordered("NLB_LISTENER_FULLNAT", LISTENER_FULLNAT,
                    "NLB_LISTENER_HAS_ROUTES", LISTENER_HAS_ROUTES, "NLB_LISTENER_EVENTS", LISTENER_EVENTS,
                    "NLB_LISTENER_RATE_LIMITED", LISTENER_RATE_LIMITED, "NLB_LISTENER_ECHO_REPLY", LISTENER_ECHO_REPLY,
                    "NLB_LISTENER_ECHO_DROP", LISTENER_ECHO_DROP, "NLB_LISTENER_PACKET_LIMITED",
                    LISTENER_PACKET_LIMITED),
            "nlb_group_flags", ordered("NLB_GROUP_PERSIST_SOURCE", GROUP_PERSIST_SOURCE),
            "nlb_ct_state", ordered("NLB_CT_SYN", CT_SYN, "NLB_CT_ESTABLISHED", CT_ESTABLISHED,
                    "NLB_CT_CLOSING", CT_CLOSING, "NLB_CT_UDP", CT_UDP),
            "nlb_ct_flags", ordered("NLB_CT_REPLY", CT_REPLY, "NLB_CT_FULLNAT", CT_FULLNAT,
                    "NLB_CT_PICKED_UP", CT_PICKED_UP, "NLB_CT_SYN_RETRIED", CT_SYN_RETRIED,
                    "NLB_CT_EVENTS", CT_EVENTS, "NLB_CT_ENDED", CT_ENDED),
            "nlb_event_type", ordered("NLB_EVENT_NEW_FLOW", EVENT_NEW_FLOW, "NLB_EVENT_FLOW_END", EVENT_FLOW_END,
                    "NLB_EVENT_DROP", EVENT_DROP),
            "nlb_end_reason", ordered("NLB_END_FIN", END_FIN, "NLB_END_RST", END_RST, "NLB_END_IDLE", END_IDLE),
            "nlb_stat", statEnumerators(),
            "nlb_fwd", forwardEnumerators(),
            "nlb_echo", ordered("NLB_ECHO_REPLIED", Echo.REPLIED.value(), "NLB_ECHO_DROPPED", Echo.DROPPED.value(),
                    "NLB_ECHO_MAX", Echo.values().length));

    // --- layouts -------------------------------------------------------------------------

    /** A {@code __be16}: network byte order. */
    public static final ValueLayout.OfShort BE16 = JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN);

    /** union nlb_addr: 16 bytes, network order. */
    public static final UnionLayout ADDR = MemoryLayout.unionLayout(
            JAVA_INT.withName("v4"),
            sequenceLayout(4, JAVA_INT).withName("v6"),
            sequenceLayout(16, JAVA_BYTE).withName("bytes")).withName("nlb_addr");

    // The accessors use unaligned views so heap segments work too; the layouts stay aligned.
    private static final ValueLayout.OfShort BE16_ACCESS =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    /** struct nlb_listener_key: key of nlb_listeners, where traffic enters. */
    public record ListenerKey(InetAddress address, int port, int proto) {
        public static final StructLayout LAYOUT = structLayout(
                ADDR.withName("addr"),
                BE16.withName("port"),
                JAVA_BYTE.withName("proto"),
                JAVA_BYTE.withName("family")).withName("nlb_listener_key");
        private static final long ADDR_AT = at(LAYOUT, "addr");
        private static final long PORT_AT = at(LAYOUT, "port");
        private static final long PROTO_AT = at(LAYOUT, "proto");
        private static final long FAMILY_AT = at(LAYOUT, "family");

        public ListenerKey {
            Objects.requireNonNull(address, "address");
            checkPort(port);
            if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
                if (port != 0 || proto != (address instanceof Inet6Address ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) {
                    throw new IllegalArgumentException("an echo entry has port 0 and the address family's ICMP, not "
                            + proto + " port " + port);
                }
            } else {
                checkTransport(proto);
            }
        }

        /** The key of a VIP's echo setting: port 0, ICMP or ICMPv6 by the address's family. */
        public static ListenerKey echo(InetAddress address) {
            return new ListenerKey(address, 0, address instanceof Inet6Address ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
        }

        /** Whether this is a VIP's echo entry rather than a listener. */
        public boolean isEcho() {
            return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
        }

        /** Writes the key of a listener on address:port for TCP or UDP. */
        public static void write(MemorySegment key, InetAddress address, int port, int proto) {
            new ListenerKey(address, port, proto).writeTo(key);
        }

        public int family() {
            return familyOf(address);
        }

        public void writeTo(MemorySegment key) {
            clear(key, LAYOUT);
            writeAddress(key, ADDR_AT, address);
            key.set(BE16_ACCESS, PORT_AT, (short) port);
            key.set(JAVA_BYTE, PROTO_AT, (byte) proto);
            key.set(JAVA_BYTE, FAMILY_AT, (byte) family());
        }

        public static ListenerKey readFrom(MemorySegment key) {
            int family = u8(key, FAMILY_AT);
            return new ListenerKey(readAddress(key, ADDR_AT, family, "nlb_listener_key"),
                    Short.toUnsignedInt(key.get(BE16_ACCESS, PORT_AT)), u8(key, PROTO_AT));
        }
    }

    /**
     * struct nlb_listener: value of nlb_listeners.
     *
     * @param snatAddress the FullNAT source address, or null for none (written as zeros)
     */
    public record Listener(int id, int group, int flags, int snatPortMin, int snatPortMax,
            InetAddress snatAddress) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_INT.withName("id"),
                JAVA_INT.withName("group"),
                JAVA_INT.withName("flags"),
                JAVA_SHORT.withName("snat_port_min"),
                JAVA_SHORT.withName("snat_port_max"),
                ADDR.withName("snat_addr")).withName("nlb_listener");
        private static final long ID_AT = at(LAYOUT, "id");
        private static final long GROUP_AT = at(LAYOUT, "group");
        private static final long FLAGS_AT = at(LAYOUT, "flags");
        private static final long PORT_MIN_AT = at(LAYOUT, "snat_port_min");
        private static final long PORT_MAX_AT = at(LAYOUT, "snat_port_max");
        private static final long SNAT_ADDR_AT = at(LAYOUT, "snat_addr");

        public Listener {
            checkPort(snatPortMin);
            checkPort(snatPortMax);
            if (snatPortMin > snatPortMax) {
                throw new IllegalArgumentException(
                        "snat port range " + snatPortMin + "-" + snatPortMax + " is empty");
            }
        }

        public void writeTo(MemorySegment value) {
            clear(value, LAYOUT);
            value.set(U32, ID_AT, id);
            value.set(U32, GROUP_AT, group);
            value.set(U32, FLAGS_AT, flags);
            value.set(U16, PORT_MIN_AT, (short) snatPortMin);
            value.set(U16, PORT_MAX_AT, (short) snatPortMax);
            if (snatAddress != null) {
                writeAddress(value, SNAT_ADDR_AT, snatAddress);
            }
        }

        /** family: the listener key's; an all-zero snat_addr reads as null. */
        public static Listener readFrom(MemorySegment value, int family) {
            return new Listener(value.get(U32, ID_AT), value.get(U32, GROUP_AT),
                    value.get(U32, FLAGS_AT), Short.toUnsignedInt(value.get(U16, PORT_MIN_AT)),
                    Short.toUnsignedInt(value.get(U16, PORT_MAX_AT)),
                    isZero(value, SNAT_ADDR_AT)
                            ? null
                            : readAddress(value, SNAT_ADDR_AT, family, "nlb_listener"));
        }
    }

    /**
     * struct nlb_route_key: key of the nlb_routes LPM trie, a client source prefix of a
     * listener. The trie's prefixlen counts the listener's 32 bits plus prefixBits.
     */
    public record RouteKey(int listener, InetAddress prefix, int prefixBits) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_INT.withName("prefixlen"),
                JAVA_INT.withName("listener"),
                ADDR.withName("addr")).withName("nlb_route_key");
        private static final long PREFIXLEN_AT = at(LAYOUT, "prefixlen");
        private static final long LISTENER_AT = at(LAYOUT, "listener");
        private static final long ADDR_AT = at(LAYOUT, "addr");
        private static final int LISTENER_BITS = 32;

        public RouteKey {
            Objects.requireNonNull(prefix, "prefix");
            int max = prefix.getAddress().length * 8;
            if (prefixBits < 0 || prefixBits > max) {
                throw new IllegalArgumentException(
                        "prefix length " + prefixBits + " is not in 0.." + max);
            }
            prefix = masked(prefix, prefixBits); // equal prefixes make equal keys
        }

        /** Writes the key for listener and prefix/prefixBits (host bits cleared). */
        public static void write(MemorySegment key, int listener, InetAddress prefix,
                int prefixBits) {
            new RouteKey(listener, prefix, prefixBits).writeTo(key);
        }

        public void writeTo(MemorySegment key) {
            clear(key, LAYOUT);
            key.set(U32, PREFIXLEN_AT, LISTENER_BITS + prefixBits);
            key.set(U32, LISTENER_AT, listener);
            writeAddress(key, ADDR_AT, prefix);
        }

        public static RouteKey readFrom(MemorySegment key, int family) {
            return new RouteKey(key.get(U32, LISTENER_AT),
                    readAddress(key, ADDR_AT, family, "nlb_route_key"),
                    key.get(U32, PREFIXLEN_AT) - LISTENER_BITS);
        }
    }

    /** struct nlb_route: value of nlb_routes, the TargetGroup for a matching client. */
    public record Route(int group) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_INT.withName("group"),
                JAVA_INT.withName("pad")).withName("nlb_route");
        private static final long GROUP_AT = at(LAYOUT, "group");

        public void writeTo(MemorySegment value) {
            clear(value, LAYOUT);
            value.set(U32, GROUP_AT, group);
        }

        public static Route readFrom(MemorySegment value) {
            return new Route(value.get(U32, GROUP_AT));
        }
    }

    /** struct nlb_group: value of nlb_groups (array by group id). */
    public record Group(int flags, int backends) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_INT.withName("flags"),
                JAVA_INT.withName("backends")).withName("nlb_group");
        private static final long FLAGS_AT = at(LAYOUT, "flags");
        private static final long BACKENDS_AT = at(LAYOUT, "backends");

        public void writeTo(MemorySegment value) {
            clear(value, LAYOUT);
            value.set(U32, FLAGS_AT, flags);
            value.set(U32, BACKENDS_AT, backends);
        }

        public static Group readFrom(MemorySegment value) {
            return new Group(value.get(U32, FLAGS_AT), value.get(U32, BACKENDS_AT));
        }
    }

    /**
     * struct nlb_timeouts: value of nlb_timeouts (array by listener id), idle times in
     * nanoseconds, whole seconds of at least one (the programs rely on it); 0 leaves that
     * state at the built-in default.
     */
    public record Timeouts(long establishedNs, long closingNs, long udpNs) {
        public static final Timeouts DEFAULTS = new Timeouts(0, 0, 0);
        public static final StructLayout LAYOUT = structLayout(
                JAVA_LONG.withName("established_ns"),
                JAVA_LONG.withName("closing_ns"),
                JAVA_LONG.withName("udp_ns")).withName("nlb_timeouts");
        private static final long ESTABLISHED_AT = at(LAYOUT, "established_ns");
        private static final long CLOSING_AT = at(LAYOUT, "closing_ns");
        private static final long UDP_AT = at(LAYOUT, "udp_ns");

        public void writeTo(MemorySegment value) {
            value.set(U64, ESTABLISHED_AT, establishedNs);
            value.set(U64, CLOSING_AT, closingNs);
            value.set(U64, UDP_AT, udpNs);
        }

        public static Timeouts readFrom(MemorySegment value) {
            return new Timeouts(value.get(U64, ESTABLISHED_AT), value.get(U64, CLOSING_AT), value.get(U64, UDP_AT));
        }
    }

    /**
     * struct nlb_rate_limit: value of nlb_rate_limits (array by listener id), the token buckets of each
     * client source prefix of a listener with {@link #LISTENER_RATE_LIMITED} (rate, burst: new flows)
     * or {@link #LISTENER_PACKET_LIMITED} (packetRate, packetBurst). A rate of 0: no such limit.
     */
    public record RateLimit(int rate, int burst, int prefixV4, int prefixV6, int packetRate, int packetBurst) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_INT.withName("rate"),
                JAVA_INT.withName("burst"),
                JAVA_BYTE.withName("prefix_v4"),
                JAVA_BYTE.withName("prefix_v6"),
                JAVA_SHORT.withName("pad"),
                JAVA_INT.withName("pad2"),
                JAVA_INT.withName("packet_rate"),
                JAVA_INT.withName("packet_burst")).withName("nlb_rate_limit");
        private static final long RATE_AT = at(LAYOUT, "rate");
        private static final long BURST_AT = at(LAYOUT, "burst");
        private static final long PREFIX_V4_AT = at(LAYOUT, "prefix_v4");
        private static final long PREFIX_V6_AT = at(LAYOUT, "prefix_v6");
        private static final long PACKET_RATE_AT = at(LAYOUT, "packet_rate");
        private static final long PACKET_BURST_AT = at(LAYOUT, "packet_burst");

        public RateLimit {
            if (!bucket(rate, burst) || !bucket(packetRate, packetBurst)
                    || (rate == 0 && packetRate == 0) || prefixV4 < 1 || prefixV4 > 32 || prefixV6 < 1
                    || prefixV6 > 128) {
                throw new IllegalArgumentException("rate limit " + rate + "/s burst " + burst + ", packets "
                        + packetRate + "/s burst " + packetBurst + ", /" + prefixV4 + " /" + prefixV6
                        + ": a limit of new flows or of packets, each with a rate and burst of 1-" + Integer.MAX_VALUE
                        + ", prefixes 1-32 and 1-128");
            }
        }

        /** A limit of new flows only. */
        public RateLimit(int rate, int burst, int prefixV4, int prefixV6) {
            this(rate, burst, prefixV4, prefixV6, 0, 0);
        }

        /**
         * Both 0 (no limit), or both 1-2^31-1: what the data plane's arithmetic holds (ratelimit.h). The
         * API's bounds are lower; the benchmark sets limits out of reach beyond them.
         */
        private static boolean bucket(int rate, int burst) {
            return (rate == 0 && burst == 0) || (rate >= 1 && burst >= 1);
        }

        /** The listener flags it calls for. */
        public int listenerFlags() {
            return (rate > 0 ? LISTENER_RATE_LIMITED : 0) | (packetRate > 0 ? LISTENER_PACKET_LIMITED : 0);
        }

        public void writeTo(MemorySegment value) {
            clear(value, LAYOUT);
            value.set(U32, RATE_AT, rate);
            value.set(U32, BURST_AT, burst);
            value.set(JAVA_BYTE, PREFIX_V4_AT, (byte) prefixV4);
            value.set(JAVA_BYTE, PREFIX_V6_AT, (byte) prefixV6);
            value.set(U32, PACKET_RATE_AT, packetRate);
            value.set(U32, PACKET_BURST_AT, packetBurst);
        }

        public static RateLimit readFrom(MemorySegment value) {
            return new RateLimit(value.get(U32, RATE_AT), value.get(U32, BURST_AT),
                    Byte.toUnsignedInt(value.get(JAVA_BYTE, PREFIX_V4_AT)),
                    Byte.toUnsignedInt(value.get(JAVA_BYTE, PREFIX_V6_AT)),
                    value.get(U32, PACKET_RATE_AT), value.get(U32, PACKET_BURST_AT));
        }
    }

    /** struct nlb_rate_key: key of nlb_rate_buckets, a listener's bucket for one source prefix. */
    public record RateKey(int listener, InetAddress prefix) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_INT.withName("listener"),
                JAVA_BYTE.withName("family"),
                JAVA_BYTE.withName("pad"),
                JAVA_SHORT.withName("pad2"),
                ADDR.withName("prefix")).withName("nlb_rate_key");
        private static final long LISTENER_AT = at(LAYOUT, "listener");
        private static final long FAMILY_AT = at(LAYOUT, "family");
        private static final long PREFIX_AT = at(LAYOUT, "prefix");

        public void writeTo(MemorySegment key) {
            clear(key, LAYOUT);
            key.set(U32, LISTENER_AT, listener);
            key.set(JAVA_BYTE, FAMILY_AT, (byte) familyOf(prefix));
            writeAddress(key, PREFIX_AT, prefix);
        }

        public static RateKey readFrom(MemorySegment key) {
            int family = Byte.toUnsignedInt(key.get(JAVA_BYTE, FAMILY_AT));
            return new RateKey(key.get(U32, LISTENER_AT), readAddress(key, PREFIX_AT, family));
        }
    }

    /** struct nlb_rate_bucket: value of nlb_rate_buckets; tokens scaled by 10^9 (one token per 10^9). */
    public record RateBucket(long tokens, long lastNs) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_LONG.withName("tokens"),
                JAVA_LONG.withName("last_ns")).withName("nlb_rate_bucket");
        private static final long TOKENS_AT = at(LAYOUT, "tokens");
        private static final long LAST_AT = at(LAYOUT, "last_ns");

        public void writeTo(MemorySegment value) {
            value.set(U64, TOKENS_AT, tokens);
            value.set(U64, LAST_AT, lastNs);
        }

        public static RateBucket readFrom(MemorySegment value) {
            return new RateBucket(value.get(U64, TOKENS_AT), value.get(U64, LAST_AT));
        }
    }

    /**
     * struct nlb_rate_slot: value of nlb_rate_buckets and nlb_pkt_buckets (arrays of slots), a bucket and
     * the key it belongs to; a key's bucket is in slot {@link #firstOf} or the one after it.
     */
    public record RateSlot(RateKey key, RateBucket bucket) {
        public static final StructLayout LAYOUT = structLayout(
                RateKey.LAYOUT.withName("key"),
                RateBucket.LAYOUT.withName("bucket")).withName("nlb_rate_slot");
        private static final long KEY_AT = at(LAYOUT, "key");
        private static final long BUCKET_AT = at(LAYOUT, "bucket");

        public void writeTo(MemorySegment value) {
            key.writeTo(value.asSlice(KEY_AT, RateKey.LAYOUT.byteSize()));
            bucket.writeTo(value.asSlice(BUCKET_AT, RateBucket.LAYOUT.byteSize()));
        }

        /** Whether a slot holds a bucket (last_ns is 0 only in a slot never used). */
        public static boolean inUse(MemorySegment value) {
            return value.get(U64, BUCKET_AT + RateBucket.LAST_AT) != 0;
        }

        /** A slot {@link #inUse in use}. */
        public static RateSlot readFrom(MemorySegment value) {
            return new RateSlot(RateKey.readFrom(value.asSlice(KEY_AT, RateKey.LAYOUT.byteSize())),
                    RateBucket.readFrom(value.asSlice(BUCKET_AT, RateBucket.LAYOUT.byteSize())));
        }

        /** rl_slot (bpf/lib/ratelimit.h): the first of key's two slots among {@code slots} (a power of two). */
        public static int firstOf(RateKey key, int slots) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment k = arena.allocate(RateKey.LAYOUT);
                key.writeTo(k);
                long h = k.get(U64, 0) * RL_MUL0 + k.get(U64, 8) * RL_MUL1 + k.get(U64, 16) * RL_MUL2;
                h ^= h >>> 32;
                h *= RL_MUL0;
                return (int) (h >>> 32) & (slots - 2);
            }
        }
    }

    /** struct nlb_backend: value of nlb_backends (array by backend id). */
    public record Backend(InetAddress address, int port, int rate, int burst) {
        public static final StructLayout LAYOUT = structLayout(
                ADDR.withName("addr"),
                BE16.withName("port"),
                JAVA_BYTE.withName("family"),
                JAVA_BYTE.withName("pad"),
                JAVA_INT.withName("pad2"),
                JAVA_INT.withName("rate"),
                JAVA_INT.withName("burst")).withName("nlb_backend");
        private static final long ADDR_AT = at(LAYOUT, "addr");
        private static final long PORT_AT = at(LAYOUT, "port");
        private static final long FAMILY_AT = at(LAYOUT, "family");
        private static final long RATE_AT = at(LAYOUT, "rate");
        private static final long BURST_AT = at(LAYOUT, "burst");

        public Backend {
            Objects.requireNonNull(address, "address");
            checkPort(port);
            if (!RateLimit.bucket(rate, burst)) {
                throw new IllegalArgumentException("backend rate limit " + rate + "/s burst " + burst
                        + ": both 0 (none), or 1-" + Integer.MAX_VALUE);
            }
        }

        /** A backend without a rate limit. */
        public Backend(InetAddress address, int port) {
            this(address, port, 0, 0);
        }

        public int family() {
            return familyOf(address);
        }

        public void writeTo(MemorySegment value) {
            clear(value, LAYOUT);
            writeAddress(value, ADDR_AT, address);
            value.set(BE16_ACCESS, PORT_AT, (short) port);
            value.set(JAVA_BYTE, FAMILY_AT, (byte) family());
            value.set(U32, RATE_AT, rate);
            value.set(U32, BURST_AT, burst);
        }

        public static Backend readFrom(MemorySegment value) {
            return new Backend(
                    readAddress(value, ADDR_AT, u8(value, FAMILY_AT), "nlb_backend"),
                    Short.toUnsignedInt(value.get(BE16_ACCESS, PORT_AT)), value.get(U32, RATE_AT),
                    value.get(U32, BURST_AT));
        }
    }

    /**
     * struct nlb_backend_stats: value of the per-CPU nlb_be_stats array. {@code resets} and
     * {@code unansweredSyns} are the passive health signals, each at most once per flow.
     */
    public record BackendStats(long packets, long bytes, long newFlows, long replyPackets,
            long replyBytes, long resets, long unansweredSyns) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_LONG.withName("packets"),
                JAVA_LONG.withName("bytes"),
                JAVA_LONG.withName("new_flows"),
                JAVA_LONG.withName("reply_packets"),
                JAVA_LONG.withName("reply_bytes"),
                JAVA_LONG.withName("resets"),
                JAVA_LONG.withName("unanswered_syns")).withName("nlb_backend_stats");
        private static final int FIELDS = 7;

        public void writeTo(MemorySegment value) {
            clear(value, LAYOUT);
            long[] fields = {packets, bytes, newFlows, replyPackets, replyBytes, resets, unansweredSyns};
            for (int i = 0; i < FIELDS; i++) {
                value.set(U64, i * 8L, fields[i]);
            }
        }

        public static BackendStats readFrom(MemorySegment value) {
            return sumPerCpu(value, 1);
        }

        /** Adds up the values of cpus CPUs in a per-CPU lookup buffer. */
        public static BackendStats sumPerCpu(MemorySegment values, int cpus) {
            long stride = (LAYOUT.byteSize() + 7) & ~7L;
            long[] sums = new long[FIELDS];
            for (int cpu = 0; cpu < cpus; cpu++) {
                for (int field = 0; field < sums.length; field++) {
                    sums[field] += values.get(U64, cpu * stride + field * 8L);
                }
            }
            return new BackendStats(sums[0], sums[1], sums[2], sums[3], sums[4], sums[5], sums[6]);
        }
    }

    /** struct nlb_ct_key: key of nlb_conntrack, a 5-tuple as it arrives. */
    public record CtKey(InetAddress source, int sourcePort, InetAddress destination,
            int destinationPort, int proto) {
        public static final StructLayout LAYOUT = structLayout(
                ADDR.withName("src"),
                ADDR.withName("dst"),
                BE16.withName("sport"),
                BE16.withName("dport"),
                JAVA_BYTE.withName("proto"),
                JAVA_BYTE.withName("family"),
                JAVA_SHORT.withName("pad")).withName("nlb_ct_key");
        private static final long SRC_AT = at(LAYOUT, "src");
        private static final long DST_AT = at(LAYOUT, "dst");
        private static final long SPORT_AT = at(LAYOUT, "sport");
        private static final long DPORT_AT = at(LAYOUT, "dport");
        private static final long PROTO_AT = at(LAYOUT, "proto");
        private static final long FAMILY_AT = at(LAYOUT, "family");

        /** The family of the key that starts at byte {@code at} of {@code keys}, read in place. */
        public static int familyAt(MemorySegment keys, long at) {
            return u8(keys, at + FAMILY_AT);
        }

        public CtKey {
            Objects.requireNonNull(source, "source");
            Objects.requireNonNull(destination, "destination");
            if (familyOf(source) != familyOf(destination)) {
                throw new IllegalArgumentException(
                        "mixed families in a flow: " + source + " -> " + destination);
            }
            checkPort(sourcePort);
            checkPort(destinationPort);
            checkTransport(proto);
        }

        /** Writes the key of the flow source:sport -> destination:dport. */
        public static void write(MemorySegment key, InetAddress source, int sourcePort,
                InetAddress destination, int destinationPort, int proto) {
            new CtKey(source, sourcePort, destination, destinationPort, proto).writeTo(key);
        }

        public int family() {
            return familyOf(source);
        }

        public void writeTo(MemorySegment key) {
            clear(key, LAYOUT);
            writeAddress(key, SRC_AT, source);
            writeAddress(key, DST_AT, destination);
            key.set(BE16_ACCESS, SPORT_AT, (short) sourcePort);
            key.set(BE16_ACCESS, DPORT_AT, (short) destinationPort);
            key.set(JAVA_BYTE, PROTO_AT, (byte) proto);
            key.set(JAVA_BYTE, FAMILY_AT, (byte) family());
        }

        public static CtKey readFrom(MemorySegment key) {
            int family = u8(key, FAMILY_AT);
            return new CtKey(readAddress(key, SRC_AT, family, "nlb_ct_key"),
                    Short.toUnsignedInt(key.get(BE16_ACCESS, SPORT_AT)),
                    readAddress(key, DST_AT, family, "nlb_ct_key"),
                    Short.toUnsignedInt(key.get(BE16_ACCESS, DPORT_AT)), u8(key, PROTO_AT));
        }
    }

    /**
     * struct nlb_ct_entry: value of nlb_conntrack. A packet matching the key is rewritten to
     * natSource:natSourcePort -> natDestination:natDestinationPort. Times are
     * CLOCK_MONOTONIC nanoseconds; state is a CT_* state, flags CT_REPLY / CT_FULLNAT.
     */
    public record CtEntry(InetAddress natSource, InetAddress natDestination, int natSourcePort,
            int natDestinationPort, int backend, long createdNs, long lastSeenNs, long packets,
            long bytes, int state, int flags, int listener) {
        public static final StructLayout LAYOUT = structLayout(
                ADDR.withName("nat_src"),
                ADDR.withName("nat_dst"),
                BE16.withName("nat_sport"),
                BE16.withName("nat_dport"),
                JAVA_INT.withName("backend"),
                JAVA_LONG.withName("created_ns"),
                JAVA_LONG.withName("last_seen_ns"),
                JAVA_LONG.withName("packets"),
                JAVA_LONG.withName("bytes"),
                JAVA_BYTE.withName("state"),
                JAVA_BYTE.withName("flags"),
                JAVA_SHORT.withName("pad"),
                JAVA_INT.withName("listener")).withName("nlb_ct_entry");
        private static final long NAT_SRC_AT = at(LAYOUT, "nat_src");
        private static final long NAT_DST_AT = at(LAYOUT, "nat_dst");
        private static final long NAT_SPORT_AT = at(LAYOUT, "nat_sport");
        private static final long NAT_DPORT_AT = at(LAYOUT, "nat_dport");
        private static final long BACKEND_AT = at(LAYOUT, "backend");
        private static final long CREATED_AT = at(LAYOUT, "created_ns");
        private static final long LAST_SEEN_AT = at(LAYOUT, "last_seen_ns");
        private static final long PACKETS_AT = at(LAYOUT, "packets");
        private static final long BYTES_AT = at(LAYOUT, "bytes");
        private static final long STATE_AT = at(LAYOUT, "state");
        private static final long FLAGS_AT = at(LAYOUT, "flags");
        private static final long LISTENER_AT = at(LAYOUT, "listener");

        public CtEntry {
            Objects.requireNonNull(natSource, "natSource");
            Objects.requireNonNull(natDestination, "natDestination");
            checkPort(natSourcePort);
            checkPort(natDestinationPort);
            checkByte("state", state);
            checkByte("flags", flags);
        }

        public void writeTo(MemorySegment value) {
            clear(value, LAYOUT);
            writeAddress(value, NAT_SRC_AT, natSource);
            writeAddress(value, NAT_DST_AT, natDestination);
            value.set(BE16_ACCESS, NAT_SPORT_AT, (short) natSourcePort);
            value.set(BE16_ACCESS, NAT_DPORT_AT, (short) natDestinationPort);
            value.set(U32, BACKEND_AT, backend);
            value.set(U64, CREATED_AT, createdNs);
            value.set(U64, LAST_SEEN_AT, lastSeenNs);
            value.set(U64, PACKETS_AT, packets);
            value.set(U64, BYTES_AT, bytes);
            value.set(JAVA_BYTE, STATE_AT, (byte) state);
            value.set(JAVA_BYTE, FLAGS_AT, (byte) flags);
            value.set(U32, LISTENER_AT, listener);
        }

        /**
         * The fields a scan of the whole conntrack needs, read in place from the entry that
         * starts at byte {@code at} of {@code values} (no record, no address made per entry).
         */
        public static int backendAt(MemorySegment values, long at) {
            return values.get(U32, at + BACKEND_AT);
        }

        public static long lastSeenNsAt(MemorySegment values, long at) {
            return values.get(U64, at + LAST_SEEN_AT);
        }

        public static int stateAt(MemorySegment values, long at) {
            return u8(values, at + STATE_AT);
        }

        public static int flagsAt(MemorySegment values, long at) {
            return u8(values, at + FLAGS_AT);
        }

        public static int listenerAt(MemorySegment values, long at) {
            return values.get(U32, at + LISTENER_AT);
        }

        /** family: the key's. */
        public static InetAddress natSourceAt(MemorySegment values, long at, int family) {
            return readAddress(values, at + NAT_SRC_AT, family, "nlb_ct_entry");
        }

        /** family: the key's (the entry does not repeat it). */
        public static CtEntry readFrom(MemorySegment value, int family) {
            return new CtEntry(readAddress(value, NAT_SRC_AT, family, "nlb_ct_entry"),
                    readAddress(value, NAT_DST_AT, family, "nlb_ct_entry"),
                    Short.toUnsignedInt(value.get(BE16_ACCESS, NAT_SPORT_AT)),
                    Short.toUnsignedInt(value.get(BE16_ACCESS, NAT_DPORT_AT)),
                    value.get(U32, BACKEND_AT), value.get(U64, CREATED_AT),
                    value.get(U64, LAST_SEEN_AT), value.get(U64, PACKETS_AT),
                    value.get(U64, BYTES_AT), u8(value, STATE_AT), u8(value, FLAGS_AT),
                    value.get(U32, LISTENER_AT));
        }
    }

    /**
     * struct nlb_event: a record of the nlb_events ring buffer (read only: the programs write
     * it, and the agent's conntrack sweep builds IDLE ends with the same fields). Counters:
     * packets and bytes (IP packets, headers included) client -&gt; backend, then backend -&gt;
     * client. {@code backend} is null in a DROP.
     */
    public record Event(long timeNs, long createdNs, InetAddress source, int sourcePort,
            InetAddress destination, int destinationPort, InetAddress backend, int backendPort,
            int proto, int type, int reason, int flags, int listenerId, int backendId,
            long packets, long bytes, long replyPackets, long replyBytes) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_LONG.withName("time_ns"),
                JAVA_LONG.withName("created_ns"),
                ADDR.withName("src"),
                ADDR.withName("dst"),
                ADDR.withName("backend_addr"),
                BE16.withName("sport"),
                BE16.withName("dport"),
                BE16.withName("backend_port"),
                JAVA_BYTE.withName("proto"),
                JAVA_BYTE.withName("family"),
                JAVA_BYTE.withName("type"),
                JAVA_BYTE.withName("reason"),
                JAVA_BYTE.withName("flags"),
                JAVA_BYTE.withName("pad"),
                JAVA_INT.withName("listener"),
                JAVA_INT.withName("backend"),
                JAVA_INT.withName("pad2"),
                JAVA_LONG.withName("packets"),
                JAVA_LONG.withName("bytes"),
                JAVA_LONG.withName("reply_packets"),
                JAVA_LONG.withName("reply_bytes")).withName("nlb_event");
        private static final long TIME_AT = at(LAYOUT, "time_ns");
        private static final long CREATED_AT = at(LAYOUT, "created_ns");
        private static final long SRC_AT = at(LAYOUT, "src");
        private static final long DST_AT = at(LAYOUT, "dst");
        private static final long BACKEND_ADDR_AT = at(LAYOUT, "backend_addr");
        private static final long SPORT_AT = at(LAYOUT, "sport");
        private static final long DPORT_AT = at(LAYOUT, "dport");
        private static final long BACKEND_PORT_AT = at(LAYOUT, "backend_port");
        private static final long PROTO_AT = at(LAYOUT, "proto");
        private static final long FAMILY_AT = at(LAYOUT, "family");
        private static final long TYPE_AT = at(LAYOUT, "type");
        private static final long REASON_AT = at(LAYOUT, "reason");
        private static final long FLAGS_AT = at(LAYOUT, "flags");
        private static final long LISTENER_AT = at(LAYOUT, "listener");
        private static final long BACKEND_AT = at(LAYOUT, "backend");
        private static final long PACKETS_AT = at(LAYOUT, "packets");
        private static final long BYTES_AT = at(LAYOUT, "bytes");
        private static final long REPLY_PACKETS_AT = at(LAYOUT, "reply_packets");
        private static final long REPLY_BYTES_AT = at(LAYOUT, "reply_bytes");

        public static Event readFrom(MemorySegment record) {
            int family = u8(record, FAMILY_AT);
            int type = u8(record, TYPE_AT);
            return new Event(record.get(U64, TIME_AT), record.get(U64, CREATED_AT),
                    readAddress(record, SRC_AT, family, "nlb_event"),
                    Short.toUnsignedInt(record.get(BE16_ACCESS, SPORT_AT)),
                    readAddress(record, DST_AT, family, "nlb_event"),
                    Short.toUnsignedInt(record.get(BE16_ACCESS, DPORT_AT)),
                    type == EVENT_DROP ? null : readAddress(record, BACKEND_ADDR_AT, family, "nlb_event"),
                    Short.toUnsignedInt(record.get(BE16_ACCESS, BACKEND_PORT_AT)),
                    u8(record, PROTO_AT), type, u8(record, REASON_AT), u8(record, FLAGS_AT),
                    record.get(U32, LISTENER_AT), record.get(U32, BACKEND_AT),
                    record.get(U64, PACKETS_AT), record.get(U64, BYTES_AT),
                    record.get(U64, REPLY_PACKETS_AT), record.get(U64, REPLY_BYTES_AT));
        }
    }

    /** struct nlb_event_budget: value of the per-CPU nlb_ev_budget array (one entry). */
    public record EventBudget(long sent, long overBudget, long ringFull) {
        public static final StructLayout LAYOUT = structLayout(
                JAVA_LONG.withName("window_ns"),
                JAVA_LONG.withName("window_sent"),
                JAVA_LONG.withName("sent"),
                JAVA_LONG.withName("over_budget"),
                JAVA_LONG.withName("ring_full")).withName("nlb_event_budget");
        private static final long SENT_AT = at(LAYOUT, "sent");
        private static final long OVER_BUDGET_AT = at(LAYOUT, "over_budget");
        private static final long RING_FULL_AT = at(LAYOUT, "ring_full");

        /** Adds up the values of cpus CPUs in a per-CPU lookup buffer. */
        public static EventBudget sumPerCpu(MemorySegment values, int cpus) {
            long stride = (LAYOUT.byteSize() + 7) & ~7L;
            long sent = 0, overBudget = 0, ringFull = 0;
            for (int cpu = 0; cpu < cpus; cpu++) {
                sent += values.get(U64, cpu * stride + SENT_AT);
                overBudget += values.get(U64, cpu * stride + OVER_BUDGET_AT);
                ringFull += values.get(U64, cpu * stride + RING_FULL_AT);
            }
            return new EventBudget(sent, overBudget, ringFull);
        }
    }

    /**
     * Every struct and union of the header, named by their C names. (A method: a constant
     * here would close a class-initialisation cycle with the nested records.)
     */
    public static List<GroupLayout> structs() {
        return List.of(
                ADDR,
                ListenerKey.LAYOUT,
                Listener.LAYOUT,
                RouteKey.LAYOUT,
                Route.LAYOUT,
                Group.LAYOUT,
                Timeouts.LAYOUT,
                RateLimit.LAYOUT,
                RateKey.LAYOUT,
                RateBucket.LAYOUT,
                RateSlot.LAYOUT,
                Backend.LAYOUT,
                BackendStats.LAYOUT,
                CtKey.LAYOUT,
                CtEntry.LAYOUT,
                Event.LAYOUT,
                EventBudget.LAYOUT);
    }

    // --- addresses -----------------------------------------------------------------------

    /** FAMILY_IPV4 or FAMILY_IPV6. */
    public static int familyOf(InetAddress address) {
        return switch (address) {
            case Inet4Address a -> FAMILY_IPV4;
            case Inet6Address a -> FAMILY_IPV6;
            default -> throw new IllegalArgumentException("not an IP address: " + address);
        };
    }

    /** Writes an address as a union nlb_addr at offset: its bytes, then zeros up to 16. */
    public static void writeAddress(MemorySegment segment, long offset, InetAddress address) {
        byte[] bytes = address.getAddress();
        MemorySegment slot = segment.asSlice(offset, ADDR.byteSize());
        slot.fill((byte) 0);
        MemorySegment.copy(bytes, 0, slot, JAVA_BYTE, 0, bytes.length);
    }

    /** Reads the union nlb_addr at offset as an address of family (FAMILY_IPV4 or _IPV6). */
    public static InetAddress readAddress(MemorySegment segment, long offset, int family) {
        return readAddress(segment, offset, family, "address");
    }

    private static InetAddress readAddress(
            MemorySegment segment, long offset, int family, String where) {
        int length = switch (family) {
            case FAMILY_IPV4 -> 4;
            case FAMILY_IPV6 -> 16;
            default -> throw new IllegalArgumentException(
                    "unknown address family " + family + " in " + where);
        };
        byte[] bytes = segment.asSlice(offset, length).toArray(JAVA_BYTE);
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("a " + length + "-byte address is always valid", e);
        }
    }

    // --- plumbing ------------------------------------------------------------------------

    private static InetAddress masked(InetAddress address, int prefixBits) {
        byte[] bytes = address.getAddress();
        for (int bit = prefixBits; bit < bytes.length * 8; bit++) {
            bytes[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean isZero(MemorySegment segment, long offset) {
        byte[] bytes = segment.asSlice(offset, ADDR.byteSize()).toArray(JAVA_BYTE);
        return Arrays.equals(bytes, new byte[bytes.length]);
    }

    private static void clear(MemorySegment segment, StructLayout layout) {
        if (segment.byteSize() < layout.byteSize()) {
            throw new IllegalArgumentException(layout.name().orElseThrow() + " needs "
                    + layout.byteSize() + " bytes, the segment has " + segment.byteSize());
        }
        segment.asSlice(0, layout.byteSize()).fill((byte) 0);
    }

    private static int u8(MemorySegment segment, long offset) {
        return Byte.toUnsignedInt(segment.get(JAVA_BYTE, offset));
    }

    private static long at(StructLayout layout, String member) {
        return layout.byteOffset(MemoryLayout.PathElement.groupElement(member));
    }

    private static void checkPort(int port) {
        if (port < 0 || port > 0xffff) {
            throw new IllegalArgumentException("port " + port + " is not in 0..65535");
        }
    }

    private static void checkTransport(int proto) {
        if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
            throw new IllegalArgumentException(
                    "protocol " + proto + " is neither TCP (6) nor UDP (17)");
        }
    }

    private static void checkByte(String what, int value) {
        if (value < 0 || value > 0xff) {
            throw new IllegalArgumentException(what + " " + value + " does not fit a byte");
        }
    }

    private static Map<String, Long> statEnumerators() {
        Map<String, Long> values = new LinkedHashMap<>();
        for (Stat stat : Stat.values()) {
            values.put("NLB_STAT_" + stat.name(), (long) stat.value());
        }
        values.put("NLB_STAT_MAX", (long) STAT_MAX);
        return Collections.unmodifiableMap(values);
    }

    private static Map<String, Long> forwardEnumerators() {
        Map<String, Long> values = new LinkedHashMap<>();
        for (Forward f : Forward.values()) {
            values.put("NLB_FWD_" + f.name(), (long) f.value());
        }
        values.put("NLB_FWD_MAX", (long) Forward.values().length);
        return Collections.unmodifiableMap(values);
    }

    private static Map<String, Long> ordered(Object... namesAndValues) {
        Map<String, Long> values = new LinkedHashMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            values.put((String) namesAndValues[i], ((Number) namesAndValues[i + 1]).longValue());
        }
        return Collections.unmodifiableMap(values);
    }
}
