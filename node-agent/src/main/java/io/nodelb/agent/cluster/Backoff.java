package io.nodelb.agent.cluster;

import java.time.Duration;
import java.util.function.DoubleSupplier;

/**
 * Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, initial·2ⁿ)),
 * so agents that lost the operator together do not all come back in the same instant.
 */
final class Backoff {

    private final long initialNanos;
    private final long capNanos;
    private final DoubleSupplier random;
    private int failures;

    /** @param random uniform in [0, 1) */
    Backoff(Duration initial, Duration cap, DoubleSupplier random) {
        if (initial.isNegative() || initial.isZero() || cap.compareTo(initial) < 0) {
            throw new IllegalArgumentException("backoff needs 0 < initial <= cap, got " + initial + ", " + cap);
        }
        this.initialNanos = initial.toNanos();
        this.capNanos = cap.toNanos();
        this.random = random;
    }

    /** The wait before the next attempt; each call doubles the ceiling until it reaches the cap. */
    Duration next() {
        long ceiling = ceilingNanos();
        if (ceiling < capNanos) {
            failures++;
        }
        return Duration.ofNanos((long) (random.getAsDouble() * ceiling));
    }

    /** The ceiling of the next wait. */
    Duration ceiling() {
        return Duration.ofNanos(ceilingNanos());
    }

    /** After a connection that held: the next wait is short again. */
    void reset() {
        failures = 0;
    }

    private long ceilingNanos() {
        // Shift only while it cannot overflow; past 2^30 the cap has long been reached.
        return failures >= 30 ? capNanos : Math.min(capNanos, initialNanos << failures);
    }
}
