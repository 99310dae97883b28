package io.nodelb.agent.lifecycle;

import java.time.Clock;
import java.time.Instant;
import java.util.Optional;

/**
 * The node's drain, after the Drainer pattern: while draining, readiness answers 503 so whatever
 * steers traffic to this node (an upstream load balancer, a BGP speaker, a cloud health check)
 * stops sending new flows; the data plane keeps serving every flow that still arrives, and
 * liveness stays 200. Set by SIGUSR1 / SIGUSR2 or the admin endpoint.
 */
public final class Drain {

    private final Clock clock;
    private volatile Instant since;

    public Drain(Clock clock) {
        this.clock = clock;
    }

    public static Drain system() {
        return new Drain(Clock.systemUTC());
    }

    /** Starts draining; a node already draining keeps its start time. @return whether it changed */
    public synchronized boolean drain() {
        if (since != null) {
            return false;
        }
        since = clock.instant();
        return true;
    }

    /** Stops draining. @return whether it changed */
    public synchronized boolean undrain() {
        boolean was = since != null;
        since = null;
        return was;
    }

    public boolean draining() {
        return since != null;
    }

    /** When the drain started, while draining. */
    public Optional<Instant> since() {
        return Optional.ofNullable(since);
    }
}
