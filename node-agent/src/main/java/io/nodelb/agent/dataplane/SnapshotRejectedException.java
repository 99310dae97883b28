package io.nodelb.agent.dataplane;

/** A snapshot that cannot be programmed on this node; nothing of it was applied. */
public final class SnapshotRejectedException extends RuntimeException {
    public SnapshotRejectedException(String message) {
        super(message);
    }
}
