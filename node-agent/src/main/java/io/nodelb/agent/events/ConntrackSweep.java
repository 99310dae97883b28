package io.nodelb.agent.events;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.dataplane.FlowTimeouts;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Ends idle flows: a UDP flow, or a TCP flow that went quiet without FIN or RST, has no last
 * packet for the data plane to report. One sweep reads the flow table once and, for each flow
 * whose listener had events on (NLB_CT_EVENTS), not yet ended (NLB_CT_ENDED) and whose entries
 * are both idle past their timeout (the data plane's rule, {@code ct_is_live}: the listener's
 * timeouts, else the defaults), hands a FLOW_END record with reason IDLE and both directions'
 * counters to the caller, then deletes the two entries (a next packet starts a new flow, as it
 * would anyway). Expired entries of flows whose end was written already are deleted too.
 *
 * <p>The same scan counts the live flows per backend and the live FullNAT flows per SNAT
 * address (the active-connection and FullNAT-port gauges) with the rule
 * {@code BpfDataPlane.liveFlowsByBackend} uses. At most {@code maxEnds} flows are ended per
 * sweep; the rest wait for the next one.
 *
 * <p>A flow's two entries are in one table: nlb_conntrack, or nlb_ct_embryonic while its backend
 * has not answered (bpf/README.md, "Conntrack flood safety"); the sweep reads each table given.
 */
public final class ConntrackSweep {

    /**
     * What one sweep found and did.
     *
     * @param entries entries read
     * @param ended flows ended as idle (a record each)
     * @param deleted entries deleted (ended flows' and expired ended ones')
     * @param liveByBackend live forward entries per backend id (not CLOSING, within the timeout)
     * @param fullNatByAddress live FullNAT flows per SNAT address (each holds one port of it)
     */
    public record Result(long entries, int ended, int deleted, Map<Integer, Long> liveByBackend,
                         Map<InetAddress, Long> fullNatByAddress) {}

    private static final int BATCH = 8192;
    private static final long KEY_FAMILY_AT = Abi.CtKey.LAYOUT.byteOffset(PathElement.groupElement("family"));
    private static final long NAT_SRC_AT = Abi.CtEntry.LAYOUT.byteOffset(PathElement.groupElement("nat_src"));

    private final List<BpfMap> tables;
    private final BpfMap timeouts;
    private final FlowTimeouts defaults;
    private final int maxEnds;

    /**
     * @param conntrack nlb_conntrack
     * @param timeouts nlb_timeouts (per listener id)
     * @param maxEnds the most flows ended (and records written) per sweep
     */
    public ConntrackSweep(BpfMap conntrack, BpfMap timeouts, FlowTimeouts defaults, int maxEnds) {
        this(List.of(conntrack), timeouts, defaults, maxEnds);
    }

    /**
     * @param tables the flow tables, each holding both entries of its flows (nlb_conntrack, nlb_ct_embryonic)
     * @param timeouts nlb_timeouts (per listener id)
     * @param maxEnds the most flows ended (and records written) per sweep, over all tables
     */
    public ConntrackSweep(List<BpfMap> tables, BpfMap timeouts, FlowTimeouts defaults, int maxEnds) {
        this.tables = List.copyOf(tables);
        this.timeouts = timeouts;
        this.defaults = defaults;
        this.maxEnds = maxEnds;
    }

    /** A forward entry found expired in the scan: its key and value bytes, copied. */
    private record Candidate(byte[] key, byte[] value, boolean ended) {}

    /** An SNAT address's bytes with its family (the map key of the FullNAT count). */
    private record Address(int family, long high, long low) {}

    /**
     * One sweep.
     *
     * @param nowNs CLOCK_MONOTONIC now ({@link System#nanoTime()} on Linux)
     * @param ends receives each idle end, after its entries are deleted
     */
    public Result sweep(long nowNs, Consumer<Abi.Event> ends) {
        Abi.Timeouts[] perListener = FlowTimeouts.perListener(timeouts);
        Map<Integer, Long> live = new HashMap<>();
        Map<Address, Long> fullNat = new HashMap<>();
        long entries = 0;
        int[] ended = {0};
        int deleted = 0;
        for (BpfMap table : tables) {
            long[] counts = sweep(table, perListener, nowNs, ends, maxEnds - ended[0], live, fullNat, ended);
            entries += counts[0];
            deleted += (int) counts[1];
        }
        return new Result(entries, ended[0], deleted, live, addresses(fullNat));
    }

    /** Sweeps one table; returns {entries read, entries deleted} and adds its ends to ended[0]. */
    private long[] sweep(BpfMap conntrack, Abi.Timeouts[] perListener, long nowNs, Consumer<Abi.Event> ends,
                         int maxEnds, Map<Integer, Long> live, Map<Address, Long> fullNat, int[] endedOut) {
        int keySize = conntrack.keySize();
        long stride = conntrack.valueBufferSize();
        int valueSize = conntrack.valueSize();
        List<Candidate> candidates = new ArrayList<>();
        long[] entries = {0};
        conntrack.forEachBatch(BATCH, (keys, values, count) -> {
            entries[0] += count;
            for (int i = 0; i < count; i++) {
                long at = i * stride;
                int flags = Abi.CtEntry.flagsAt(values, at);
                if ((flags & Abi.CT_REPLY) != 0) {
                    continue;
                }
                boolean expired = expired(values, at, perListener, nowNs);
                if (!expired && Abi.CtEntry.stateAt(values, at) != Abi.CT_CLOSING) {
                    live.merge(Abi.CtEntry.backendAt(values, at), 1L, Long::sum);
                    if ((flags & Abi.CT_FULLNAT) != 0) {
                        fullNat.merge(new Address(keys.get(ValueLayout.JAVA_BYTE, (long) i * keySize + KEY_FAMILY_AT),
                                values.get(ValueLayout.JAVA_LONG_UNALIGNED, at + NAT_SRC_AT),
                                values.get(ValueLayout.JAVA_LONG_UNALIGNED, at + NAT_SRC_AT + 8)), 1L, Long::sum);
                    }
                }
                if (expired && (flags & Abi.CT_EVENTS) != 0 && candidates.size() < maxEnds) {
                    byte[] key = keys.asSlice((long) i * keySize, keySize).toArray(ValueLayout.JAVA_BYTE);
                    byte[] value = values.asSlice(at, valueSize).toArray(ValueLayout.JAVA_BYTE);
                    candidates.add(new Candidate(key, value, (flags & Abi.CT_ENDED) != 0));
                }
            }
        });
        int ended = 0;
        int deleted = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = conntrack.allocateKey(arena);
            MemorySegment replyKey = conntrack.allocateKey(arena);
            MemorySegment value = conntrack.allocateValue(arena);
            MemorySegment replyValue = conntrack.allocateValue(arena);
            MemorySegment seen = conntrack.allocateValue(arena);
            for (Candidate c : candidates) {
                MemorySegment.copy(c.key, 0, key, ValueLayout.JAVA_BYTE, 0, c.key.length);
                Abi.CtKey forwardKey = Abi.CtKey.readFrom(key);
                MemorySegment.copy(c.value, 0, seen, ValueLayout.JAVA_BYTE, 0, c.value.length);
                Abi.CtEntry forward = Abi.CtEntry.readFrom(seen, forwardKey.family());
                new Abi.CtKey(forward.natDestination(), forward.natDestinationPort(), forward.natSource(),
                        forward.natSourcePort(), forwardKey.proto()).writeTo(replyKey);
                boolean hasReply = conntrack.lookup(replyKey, replyValue);
                Abi.CtEntry reply = hasReply ? Abi.CtEntry.readFrom(replyValue, forwardKey.family()) : null;
                if (reply != null && (reply.flags() & Abi.CT_REPLY) == 0) {
                    hasReply = false; // that key is another flow's forward entry: not ours to delete
                    reply = null;
                }
                if (reply != null && !c.ended && !expired(replyValue, 0, perListener, nowNs)) {
                    continue; // the backend still sends: the flow is not idle
                }
                // Just before deleting: has a packet come since the scan?
                if (!conntrack.lookup(key, value)
                        || Abi.CtEntry.lastSeenNsAt(value, 0) != forward.lastSeenNs()) {
                    continue;
                }
                if (hasReply) {
                    deleted += conntrack.delete(replyKey) ? 1 : 0;
                }
                deleted += conntrack.delete(key) ? 1 : 0;
                if (!c.ended) {
                    ends.accept(idleEnd(forwardKey, forward, reply));
                    ended++;
                }
            }
        }
        endedOut[0] += ended;
        return new long[] {entries[0], deleted};
    }

    /** The FLOW_END record of an idle flow: its time is its last packet's. */
    static Abi.Event idleEnd(Abi.CtKey key, Abi.CtEntry forward, Abi.CtEntry reply) {
        long last = reply == null ? forward.lastSeenNs() : Math.max(forward.lastSeenNs(), reply.lastSeenNs());
        return new Abi.Event(last, forward.createdNs(), key.source(), key.sourcePort(), key.destination(),
                key.destinationPort(), forward.natDestination(), forward.natDestinationPort(), key.proto(),
                Abi.EVENT_FLOW_END, Abi.END_IDLE, forward.flags(), forward.listener(), forward.backend(),
                forward.packets(), forward.bytes(), reply == null ? 0 : reply.packets(),
                reply == null ? 0 : reply.bytes());
    }

    /** ct_is_live's negation: idle longer than the entry's state allows (signed: another CPU may be ahead). */
    private boolean expired(MemorySegment values, long at, Abi.Timeouts[] perListener, long nowNs) {
        long idle = nowNs - Abi.CtEntry.lastSeenNsAt(values, at);
        return idle > defaults.timeoutNs(Abi.CtEntry.stateAt(values, at), Abi.CtEntry.listenerAt(values, at),
                perListener);
    }

    private static Map<InetAddress, Long> addresses(Map<Address, Long> counts) {
        Map<InetAddress, Long> out = new HashMap<>();
        counts.forEach((a, n) -> {
            byte[] bytes = new byte[16];
            MemorySegment s = MemorySegment.ofArray(bytes);
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, a.high());
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, a.low());
            try {
                out.put(InetAddress.getByAddress(a.family() == Abi.FAMILY_IPV4 ? Arrays.copyOf(bytes, 4) : bytes), n);
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e);
            }
        });
        return out;
    }
}
