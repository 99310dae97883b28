package io.nodelb.agent.health;

/**
 * Weighted least-connections as a factor on a backend's Maglev weight. A backend's load is its
 * live flows per unit of weight; one at or below the group's mean keeps its whole weight, one
 * above it loses weight in proportion to how far above (none left at 1.5 times the mean plus a
 * few flows), so new flows go to the least loaded. The factor moves in quarter steps and only
 * when the raw value is a whole step away from the current one (hysteresis): a count that
 * wobbles around a boundary does not rebuild the table every interval.
 */
public final class LeastConnections {
    /** Flows added to the mean so that a few connections do not swing the weights. */
    static final double SMOOTHING_FLOWS = 2;
    static final double STEP = 0.25;

    private double level = 1.0;

    /** The factor before hysteresis, 0 to 1. */
    public static double raw(long flows, int weight, long groupFlows, long groupWeight) {
        if (weight <= 0 || groupWeight <= 0) {
            return 1.0;
        }
        double mean = (double) groupFlows / groupWeight;
        double load = (double) flows / weight;
        if (load <= mean) {
            return 1.0;
        }
        double above = (load - mean) / (mean + SMOOTHING_FLOWS);
        return Math.max(0, 1 - 2 * above);
    }

    /** Moves to the quarter step nearest {@code raw} when it is a whole step away; returns the level. */
    public double update(double raw) {
        if (Math.abs(raw - level) >= STEP) {
            level = Math.round(raw / STEP) * STEP;
        }
        return level;
    }

    public double level() {
        return level;
    }
}
