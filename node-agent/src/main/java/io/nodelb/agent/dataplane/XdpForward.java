package io.nodelb.agent.dataplane;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.LibBpf;
import io.nodelb.agent.bpf.XdpFeatures;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.IntPredicate;

/**
 * The XDP fast path's side in the agent (bpf/lib/fastpath.h): which egress interfaces the
 * program may send translated packets to (nlb_fwd_ports), and what it did with them
 * (nlb_fwd_stats). Both maps belong to this agent's loaded program and are not pinned.
 *
 * <p>The rule ({@code --xdp-forward=auto}): an interface is safe when this agent attached its
 * programs to it and the kernel says frames redirected into it are sent ({@link XdpFeatures#NDO_XMIT}:
 * for a veth, its peer runs XDP or has GRO on; for a NIC, its driver implements ndo_xdp_xmit). Any
 * other interface gets no redirect: packets routed there go up the stack as without the fast path.
 * {@code off}: the program does not take the fast path at all (decided at load, .rodata).
 */
public final class XdpForward {

    private static final System.Logger LOG = System.getLogger(XdpForward.class.getName());
    /** The .rodata switch of the fast path in nlb_xdp (lib/fastpath.h). */
    public static final String RODATA = "cfg_xdp_forward";
    static final String PORTS_MAP = "nlb_fwd_ports";
    static final String STATS_MAP = "nlb_fwd_stats";

    /** {@code --xdp-forward}. */
    public enum Mode {
        AUTO, OFF;

        /**
         * Off unless asked for, as Cilium's XDP acceleration: fast-pathed packets skip the node's
         * netfilter FORWARD chain and qdiscs, which an admin's rules may count on.
         */
        public static final Mode DEFAULT = OFF;

        public static Mode parse(String value) {
            return switch (value.toLowerCase(Locale.ROOT)) {
                case "auto" -> AUTO;
                case "off" -> OFF;
                default -> throw new IllegalArgumentException("--xdp-forward must be auto or off, not " + value);
            };
        }

        /** The .rodata value the data plane is loaded with. */
        public long rodata() {
            return this == AUTO ? 1 : 0;
        }
    }

    private final boolean enabled;
    private final BpfMap ports;
    private final BpfMap stats;
    private final IntPredicate canReceiveRedirects;
    /** The last decision per attached interface, by name. */
    private final Map<String, Boolean> safe = new TreeMap<>();
    /** Where the per-interface gauges go; null until {@link #bindMetrics}. */
    private MeterRegistry registry;
    private final Map<String, Meter> gauges = new TreeMap<>();

    XdpForward(boolean enabled, BpfMap ports, BpfMap stats, IntPredicate canReceiveRedirects) {
        this.enabled = enabled;
        this.ports = ports;
        this.stats = stats;
        this.canReceiveRedirects = canReceiveRedirects;
    }

    static XdpForward of(Map<String, Long> rodata, BpfMap ports, BpfMap stats) {
        return new XdpForward(rodata.getOrDefault(RODATA, 0L) != 0, ports, stats, XdpFeatures::canReceiveRedirects);
    }

    /** The .rodata settings without the fast path's switch, which only the XDP object has. */
    static Map<String, Long> withoutXdpOnly(Map<String, Long> rodata) {
        Map<String, Long> out = new java.util.HashMap<>(rodata);
        out.remove(RODATA);
        return out;
    }

    /** Whether the loaded program takes the fast path at all. */
    public boolean enabled() {
        return enabled;
    }

    /**
     * Decides again for the interfaces the agent's programs are attached to (after each attach,
     * and periodically: a veth peer's GRO or XDP may change) and writes nlb_fwd_ports. Logs every
     * decision that changed. Runs in the namespace of the interfaces: names, features and the
     * device map's entries are resolved in the calling thread's.
     */
    public synchronized void sync(Set<String> attached) {
        safe.keySet().removeIf(ifname -> !attached.contains(ifname));
        gauges.entrySet().removeIf(e -> {
            if (attached.contains(e.getKey())) {
                return false;
            }
            registry.remove(e.getValue());
            return true;
        });
        for (String ifname : attached) {
            int ifindex;
            try {
                ifindex = LibBpf.ifindex(ifname);
            } catch (RuntimeException e) {
                continue; // gone: the kernel removed it from the device map too
            }
            boolean now = enabled && canReceiveRedirects.test(ifindex);
            write(ifindex, now);
            Boolean before = safe.put(ifname, now);
            gauge(ifname);
            if (before == null || before != now) {
                LOG.log(System.Logger.Level.INFO, "XDP fast path to " + ifname + ": " + reason(now));
            }
        }
    }

    private String reason(boolean now) {
        if (!enabled) {
            return "off (--xdp-forward=off): translated packets go up the stack";
        }
        return now ? "on (the kernel sends frames redirected into it)"
                : "off (the kernel would drop frames redirected into it: a veth whose peer has neither XDP nor GRO,"
                        + " or a driver without ndo_xdp_xmit); packets routed there go up the stack";
    }

    private void write(int ifindex, boolean add) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
            key.set(ValueLayout.JAVA_INT, 0, ifindex);
            if (add) {
                ports.update(key, key, BpfMap.BPF_ANY); // the value of a device map is the ifindex
            } else {
                ports.delete(key);
            }
        }
    }

    /** The last decision per attached interface: true where translated packets may be redirected to. */
    public synchronized Map<String, Boolean> safeInterfaces() {
        return Map.copyOf(safe);
    }

    /** Packets per {@link Abi.Forward} outcome, summed over CPUs, since this program was loaded. */
    public long[] outcomes() {
        return stats.sumPerCpuCounters(Abi.Forward.values().length);
    }

    /**
     * Registers {@code nodelb_xdp_forward_packets_total} by outcome and, per attached interface,
     * {@code nodelb_xdp_forward_safe} (docs/metrics.md).
     */
    public synchronized void bindMetrics(MeterRegistry metrics) {
        registry = metrics;
        for (Abi.Forward outcome : Abi.Forward.values()) {
            FunctionCounter.builder("nodelb_xdp_forward_packets", this, f -> f.outcomes()[outcome.value()])
                    .description("Translated packets by what the XDP fast path did with them: redirect and tx were"
                            + " sent from XDP, pass_* went up the stack")
                    .tag("outcome", outcome.name().toLowerCase(Locale.ROOT)).register(metrics);
        }
        safe.keySet().forEach(this::gauge);
    }

    private void gauge(String ifname) {
        if (registry != null && !gauges.containsKey(ifname)) {
            gauges.put(ifname, Gauge.builder("nodelb_xdp_forward_safe", this,
                            f -> f.safeInterfaces().getOrDefault(ifname, false) ? 1 : 0)
                    .description("1 while translated packets routed out of the interface are sent from XDP")
                    .tag("interface", ifname).register(registry));
        }
    }
}
