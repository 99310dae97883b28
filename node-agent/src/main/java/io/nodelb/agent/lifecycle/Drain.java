package io.nodelb.agent.lifecycle;

import java.time.Clock;
import java.time.Instant;
import java.util.Optional;

/**
 * The node's drain, after the Drainer pattern: while draining, readiness answers 503 so whatever
 * steers traffic to this node (an upstream load balancer, a BGP speaker, a cloud health check)
 * stops sending new flows; the data plane keeps serving every flow that still arrives, and
 * liveness stays 200. Two sources, either one drains: the node's own operator (SIGUSR1 / SIGUSR2,
 * the admin endpoint) and the cluster (the snapshot says the node is drained: nodelb.io/drain on
 * the Node, or a BackendDrain of the node).
 */
public final class Drain {

    private final Clock clock;
    private Instant local;
    private Instant cluster;

    public Drain(Clock clock) {
        this.clock = clock;
    }

    public static Drain system() {
        return new Drain(Clock.systemUTC());
    }

    /** Drains by the node's own hand; a drain already on keeps its start time. @return whether it changed */
    public synchronized boolean drain() {
        if (local != null) {
            return false;
        }
        local = clock.instant();
        return true;
    }

    /** Ends the node's own drain (a drain by the cluster stays). @return whether it changed */
    public synchronized boolean undrain() {
        boolean was = local != null;
        local = null;
        return was;
    }

    /** What the cluster says, with every snapshot. @return whether it changed */
    public synchronized boolean cluster(boolean drained) {
        if (drained == (cluster != null)) {
            return false;
        }
        cluster = drained ? clock.instant() : null;
        return true;
    }

    public synchronized boolean draining() {
        return local != null || cluster != null;
    }

    /** When the drain started, while draining (the earlier of the two). */
    public synchronized Optional<Instant> since() {
        if (local == null || cluster == null) {
            return Optional.ofNullable(local != null ? local : cluster);
        }
        return Optional.of(local.isBefore(cluster) ? local : cluster);
    }

    /** Why, for readiness: "draining since T (signal or admin endpoint; the cluster)". */
    public synchronized Optional<String> reason() {
        if (!draining()) {
            return Optional.empty();
        }
        String by = local != null && cluster != null ? "by this node's operator and by the cluster"
                : local != null ? "by this node's operator (SIGUSR1 or the admin endpoint)"
                : "by the cluster (nodelb.io/drain on the Node, or a BackendDrain of the node)";
        return Optional.of("draining since " + since().orElseThrow() + ", " + by);
    }
}
