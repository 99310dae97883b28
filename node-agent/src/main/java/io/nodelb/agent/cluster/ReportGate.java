package io.nodelb.agent.cluster;

import io.nodelb.dataplane.v1alpha1.NodeReport;
import java.time.Duration;

/**
 * Decides when a node report goes out on one stream: the first at once, later ones when the
 * report changed since the last one sent, and at least every {@code maxInterval} so the
 * operator can tell a quiet node from a silent one.
 */
final class ReportGate {

    private final long maxIntervalNanos;
    private NodeReport lastSent;
    private long lastSentAt;

    ReportGate(Duration maxInterval) {
        this.maxIntervalNanos = maxInterval.toNanos();
    }

    /** True when {@code report} is to be sent now; it then counts as sent. */
    synchronized boolean admit(NodeReport report, long nowNanos) {
        boolean due = lastSent == null || !report.equals(lastSent) || nowNanos - lastSentAt >= maxIntervalNanos;
        if (due) {
            lastSent = report;
            lastSentAt = nowNanos;
        }
        return due;
    }
}
