package io.nodelb.agent.events;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import java.net.InetAddress;
import java.time.Instant;
import java.util.Locale;

/**
 * A flow event with its names: what the access log writes and the metrics count.
 *
 * @param event the record as the data plane (or the conntrack sweep) wrote it
 * @param time the record's time on the wall clock (the record's is CLOCK_MONOTONIC)
 * @param listener the listener's name ({@code namespace/loadbalancer/listener}); null when no
 *     applied listener has the record's id (removed since)
 * @param backendKey the backend id's key ({@code 10.0.0.2:8080}, the {@code backend} label of the
 *     metrics); null in a DROP or when no applied backend has the record's id (removed since)
 * @param backendName where the backend came from, as the snapshot says ({@code pod/<namespace>/<name>}
 *     or {@code static}); null when unknown
 * @param node this node's name
 */
public record FlowRecord(Abi.Event event, Instant time, String listener, String backendKey,
                         String backendName, String node) {

    public String type() {
        return switch (event.type()) {
            case Abi.EVENT_NEW_FLOW -> "NEW_FLOW";
            case Abi.EVENT_FLOW_END -> "FLOW_END";
            case Abi.EVENT_DROP -> "DROP";
            default -> "TYPE_" + event.type();
        };
    }

    public String protocol() {
        return switch (event.proto()) {
            case Abi.IPPROTO_TCP -> "TCP";
            case Abi.IPPROTO_UDP -> "UDP";
            default -> "PROTO_" + event.proto();
        };
    }

    /** {@code fullnat} or {@code dnat}: the forward entry's NLB_CT_FULLNAT flag. */
    public String natMode() {
        return (event.flags() & Abi.CT_FULLNAT) != 0 ? "fullnat" : "dnat";
    }

    /** FLOW_END: {@code fin}, {@code rst} or {@code idle}; otherwise null. */
    public String endReason() {
        if (event.type() != Abi.EVENT_FLOW_END) {
            return null;
        }
        return switch (event.reason()) {
            case Abi.END_FIN -> "fin";
            case Abi.END_RST -> "rst";
            case Abi.END_IDLE -> "idle";
            default -> "reason_" + event.reason();
        };
    }

    /** DROP: the enum nlb_stat name in lower case ({@code drop_no_backend}); otherwise null. */
    public String dropReason() {
        if (event.type() != Abi.EVENT_DROP) {
            return null;
        }
        Abi.Stat[] stats = Abi.Stat.values();
        return event.reason() < stats.length ? stats[event.reason()].name().toLowerCase(Locale.ROOT)
                : "stat_" + event.reason();
    }

    /** FLOW_END: the flow's age at the record, in seconds; otherwise -1. */
    public double durationSeconds() {
        return event.type() == Abi.EVENT_FLOW_END ? Math.max(0, event.timeNs() - event.createdNs()) / 1e9 : -1;
    }

    public String client() {
        return endpoint(event.source(), event.sourcePort());
    }

    public String vip() {
        return endpoint(event.destination(), event.destinationPort());
    }

    /** The chosen backend's address; null in a DROP. */
    public String backend() {
        return event.backend() == null ? null : endpoint(event.backend(), event.backendPort());
    }

    static String endpoint(InetAddress address, int port) {
        return DesiredState.backendKey(address, port);
    }
}
