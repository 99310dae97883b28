package io.nodelb.agent.health;

import java.util.Map;

/**
 * Failure signals the data plane counts per backend (resets from the backend, SYNs left
 * unanswered) and their successes, cumulative since some start; the breaker takes differences.
 * Health-check results reach the breaker directly.
 */
public interface PassiveSignals {
    /** @param successes e.g. flows the backend answered; @param failures e.g. resets and unanswered SYNs */
    record Counts(long successes, long failures) {}

    /** Per backend key ({@code 10.0.0.2:8080}), the counts so far. */
    Map<String, Counts> read();

    /** While the data plane counts nothing of the kind: the breaker sees health checks only. */
    PassiveSignals NONE = Map::of;
}
