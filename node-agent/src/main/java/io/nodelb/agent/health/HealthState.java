package io.nodelb.agent.health;

/**
 * One backend's health from its active checks: a healthy backend turns unhealthy after
 * {@code unhealthyThreshold} failures in a row, an unhealthy one healthy after
 * {@code healthyThreshold} successes in a row. A backend starts healthy: an agent that adopts a
 * running data plane, or a new backend, is not taken out before its checks say so.
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

    public boolean healthy() {
        return healthy;
    }

    /** What the last check said, e.g. "HTTP 503" or "connect: Connection refused". */
    public String reason() {
        return reason;
    }
}
