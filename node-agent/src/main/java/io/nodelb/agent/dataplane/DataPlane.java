package io.nodelb.agent.dataplane;

import java.util.Set;

/** The loaded programs and their maps on this node. */
public interface DataPlane extends AutoCloseable {

    DataPlaneMaps maps();

    /**
     * Attaches the programs to exactly these interfaces: new ones are attached,
     * ones no longer listed are detached.
     */
    void attach(Set<String> interfaces);

    /** Per-backend counters summed over CPUs, by backend id. */
    BackendCounters backendCounters(int backendId);

    /**
     * The counters of every backend {@code applied} programs, by backend key ({@code 10.0.0.2:8080},
     * as metrics and ids name it): what health code polls, taking {@link BackendCounters#minus}
     * of two polls for a window.
     */
    default java.util.Map<String, BackendCounters> backendCounters(DesiredState applied) {
        java.util.Map<String, BackendCounters> out = new java.util.TreeMap<>();
        applied.backends().forEach((id, b) -> out.put(DesiredState.backendKey(b.address(), b.port()),
                backendCounters(id)));
        return out;
    }

    /** Packets per {@code enum nlb_stat} reason, summed over CPUs. */
    long[] packetStats();

    /**
     * Echo requests to VIPs that XDP answered or dropped, per {@code enum nlb_echo}, summed over
     * CPUs (since this agent loaded its program: the counters are not pinned).
     */
    default long[] echoStats() {
        return new long[io.nodelb.agent.bpf.Abi.Echo.values().length];
    }

    /** Entries in the flow table now: a forward and a reply entry per translated flow. */
    long conntrackEntries();

    /** The most entries the flow table holds; beyond it the kernel evicts the least recently used. */
    long conntrackCapacity();

    /** Entries in the table of unanswered TCP flows (nlb_ct_embryonic), apart from the flow table's. */
    default long embryonicEntries() {
        return 0;
    }

    /** The most entries the table of unanswered flows holds; a flood evicts there, not in the flow table. */
    default long embryonicCapacity() {
        return 0;
    }

    /**
     * What keeps this data plane from serving {@code interfaces} as this agent programmed it
     * (a program not attached, a link running other code, an interface gone); empty when ready.
     */
    java.util.List<String> problems(Set<String> interfaces);

    /** Detaches and removes every pin this data plane made. Idempotent. */
    @Override
    void close();

    /**
     * A backend's counters since the data plane was loaded. {@code resets} and {@code unansweredSyns}
     * are the passive health signals (bpf/README.md, "Passive signals"): flows the backend reset
     * after it had seen them open, and flows whose SYN the client retransmitted before the backend
     * answered; each counts a flow at most once, so against {@code newFlows} they are rates.
     */
    record BackendCounters(long packets, long bytes, long newFlows, long replyPackets, long replyBytes,
                           long resets, long unansweredSyns) {
        public static final BackendCounters ZERO = new BackendCounters(0, 0, 0, 0, 0, 0, 0);

        /** What moved since {@code earlier} (a poll of the same backend). */
        public BackendCounters minus(BackendCounters earlier) {
            return new BackendCounters(packets - earlier.packets, bytes - earlier.bytes, newFlows - earlier.newFlows,
                    replyPackets - earlier.replyPackets, replyBytes - earlier.replyBytes, resets - earlier.resets,
                    unansweredSyns - earlier.unansweredSyns);
        }
    }
}
