package io.nodelb.agent.health;

import java.time.Duration;

/**
 * A backend that comes back (healthy again, breaker closed) gets its weight in four steps over
 * the window: 25 % in the first quarter, 50 % in the second, 75 % in the third, then 100 %.
 * Steps rather than a slope: each step is one table rebuild, not one per tick.
 */
public final class RampUp {
    private RampUp() {}

    /** The share of its weight a backend back since {@code elapsed} gets, 0.25 to 1. */
    public static double factor(Duration elapsed, Duration window) {
        if (window.isZero() || elapsed.compareTo(window) >= 0) {
            return 1.0;
        }
        long step = 1 + Math.max(0, elapsed.toNanos()) * 4 / window.toNanos();
        return Math.min(4, step) / 4.0;
    }

    /** How long after {@code elapsed} the factor changes next; null when it is at 100 %. */
    public static Duration untilNextStep(Duration elapsed, Duration window) {
        if (window.isZero() || elapsed.compareTo(window) >= 0) {
            return null;
        }
        long quarter = window.toNanos() / 4;
        long step = Math.max(0, elapsed.toNanos()) / quarter;
        return Duration.ofNanos((step + 1) * quarter - elapsed.toNanos());
    }
}
