package io.nodelb.agent.health;

/**
 * One backend's health from its active checks: a healthy backend turns unhealthy after
 * {@code unhealthyThreshold} failures in a row, an unhealthy one healthy after
 * {@code healthyThreshold} successes in a row. A backend starts healthy: a new backend is not
 * taken out before its checks say so; one that was out when the agent before stopped starts
 * out ({@link #assumeOut}) until its first check passes.
 */
public final class HealthState {
    private final int healthyThreshold;
    private final int unhealthyThreshold;
    private boolean healthy = true;
    private int successes;
    private int failures;
    private String reason = "not checked yet";

    public HealthState(int healthyThreshold, int unhealthyThreshold) {
        this.healthyThreshold = Math.max(1, healthyThreshold);
        this.unhealthyThreshold = Math.max(1, unhealthyThreshold);
    }

    /** Records one check; returns true when the backend's health changed. */
    public boolean record(boolean ok, String why) {
        reason = why;
        if (ok) {
            failures = 0;
            successes++;
            if (!healthy && successes >= healthyThreshold) {
                healthy = true;
                return true;
            }
        } else {
            successes = 0;
            failures++;
            if (healthy && failures >= unhealthyThreshold) {
                healthy = false;
                return true;
            }
        }
        return false;
    }

    /**
     * Out until one check passes: what an agent believes of a backend the agent before had taken
     * out (it may have been for a breaker or least-connections, so one success is enough).
     */
    public void assumeOut(String why) {
        healthy = false;
        successes = healthyThreshold - 1;
        failures = 0;
        reason = why;
    }

    public boolean healthy() {
        return healthy;
    }

    /** What the last check said, e.g. "HTTP 503" or "connect: Connection refused". */
    public String reason() {
        return reason;
    }
}
