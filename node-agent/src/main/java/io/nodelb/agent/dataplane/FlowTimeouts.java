package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import java.lang.foreign.ValueLayout;
import java.util.Map;

/**
 * How long a conntrack entry may stay idle, by the data plane's rule ({@code ct_timeout},
 * bpf/lib/conntrack.h): its listener's timeout for the entry's state when set (nlb_timeouts), else
 * the data plane's default (its .rodata). The agent's scans of the flow tables judge entries by it.
 * Nanoseconds.
 */
public record FlowTimeouts(long synNs, long establishedNs, long closingNs, long udpNs) {
    public static final FlowTimeouts DATA_PLANE = new FlowTimeouts(30_000_000_000L, 900_000_000_000L,
            10_000_000_000L, 60_000_000_000L);

    /** The defaults with the .rodata overrides a data plane was loaded with (tests shorten them). */
    public static FlowTimeouts of(Map<String, Long> rodata) {
        return new FlowTimeouts(rodata.getOrDefault("cfg_timeout_syn_ns", DATA_PLANE.synNs),
                rodata.getOrDefault("cfg_timeout_established_ns", DATA_PLANE.establishedNs),
                rodata.getOrDefault("cfg_timeout_closing_ns", DATA_PLANE.closingNs),
                rodata.getOrDefault("cfg_timeout_udp_ns", DATA_PLANE.udpNs));
    }

    /** The listeners' timeouts, by listener id (nlb_timeouts); null where a listener has none. */
    public static Abi.Timeouts[] perListener(BpfMap timeouts) {
        Abi.Timeouts[] out = new Abi.Timeouts[timeouts.maxEntries()];
        timeouts.forEachEntry(4096, (k, v) -> {
            int listener = k.get(ValueLayout.JAVA_INT, 0);
            if (listener >= 0 && listener < out.length) {
                out[listener] = Abi.Timeouts.readFrom(v);
            }
        });
        return out;
    }

    /** The idle timeout of an entry in {@code state} of {@code listener}, given {@link #perListener}. */
    public long timeoutNs(int state, int listener, Abi.Timeouts[] perListener) {
        Abi.Timeouts t = listener >= 0 && listener < perListener.length ? perListener[listener] : null;
        long set = t == null ? 0 : switch (state) {
            case Abi.CT_ESTABLISHED -> t.establishedNs();
            case Abi.CT_CLOSING -> t.closingNs();
            case Abi.CT_UDP -> t.udpNs();
            default -> 0;
        };
        if (set != 0) {
            return set;
        }
        return switch (state) {
            case Abi.CT_SYN -> synNs;
            case Abi.CT_ESTABLISHED -> establishedNs;
            case Abi.CT_CLOSING -> closingNs;
            default -> udpNs;
        };
    }
}
