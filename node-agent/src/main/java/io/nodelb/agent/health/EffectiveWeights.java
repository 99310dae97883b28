package io.nodelb.agent.health;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one place where what a node knows about its backends becomes the weights of a group's
 * Maglev table. Each backend's factors (health, ramp-up, drain, breaker, least-connections,
 * each 0 to 1) multiply its configured weight. While every factor of the group is 1 the
 * configured weights are kept as they are (the table is the one without health checking);
 * otherwise weights are scaled by {@link #SCALE} first, so a ramp step of 25 % of weight 1 is
 * still a weight. A backend with a factor above 0 keeps at least weight 1 (it stays in service).
 *
 * <p>Fail open: when no backend that may serve (not draining, configured weight above 0) has a
 * factor above 0, the group keeps its configured weights, as Envoy's panic threshold does: a
 * health checker that sees everything down is more often wrong than the backends.
 */
public final class EffectiveWeights {
    /** Weights are multiplied by this when a factor is below 1. */
    public static final int SCALE = 100;

    private EffectiveWeights() {}

    /**
     * One backend's inputs.
     *
     * @param serving false while it drains (its drain factor is 0)
     */
    public record Input(String key, int configured, boolean serving, boolean healthy, double ramp, double breaker,
                        double leastConnections) {
        double factor() {
            return serving && healthy ? ramp * breaker * leastConnections : 0;
        }
    }

    /** The weights, in input order, and whether the group fails open. */
    public record Result(Map<String, Integer> weights, boolean failOpen) {}

    public static Result combine(List<Input> inputs) {
        boolean anyCandidate = false;
        boolean anyServing = false;
        boolean allWhole = true;
        for (Input in : inputs) {
            if (in.serving() && in.configured() > 0) {
                anyCandidate = true;
                anyServing |= in.factor() > 0;
                allWhole &= in.factor() == 1.0;
            }
        }
        Map<String, Integer> weights = new LinkedHashMap<>();
        boolean failOpen = anyCandidate && !anyServing;
        for (Input in : inputs) {
            int weight;
            if (failOpen || allWhole || !in.serving()) {
                weight = in.configured();
            } else {
                double factor = in.factor();
                long scaled = Math.round(in.configured() * (double) SCALE * factor);
                weight = factor > 0 && in.configured() > 0 ? (int) Math.max(1, Math.min(Integer.MAX_VALUE, scaled)) : 0;
            }
            weights.put(in.key(), weight);
        }
        return new Result(weights, failOpen);
    }
}
