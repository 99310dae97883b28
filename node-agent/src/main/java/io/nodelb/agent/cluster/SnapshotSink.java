package io.nodelb.agent.cluster;

import io.nodelb.agent.dataplane.SnapshotRejectedException;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Where the control channel puts the snapshots the operator sends: the agent's applier.
 *
 * <p>Its methods are called on one thread at a time, so an implementation needs no locking:
 * first on the thread that starts the {@link ControlChannel} (for the version the Hello
 * names), afterwards only on the channel's own apply thread.
 */
public interface SnapshotSink {

    /** The version programmed now; empty when nothing is. */
    String appliedVersion();

    /**
     * Programs a snapshot, all of it or nothing.
     *
     * @throws SnapshotRejectedException when it cannot be programmed on this node; the message
     *     is the reason a person reads in the operator's status
     */
    void apply(NodeSnapshot snapshot) throws SnapshotRejectedException;

    /** A sink from two functions, e.g. {@code SnapshotSink.of(applier::appliedVersion, applier::apply)}. */
    static SnapshotSink of(Supplier<String> appliedVersion, Consumer<NodeSnapshot> apply) {
        Objects.requireNonNull(appliedVersion, "appliedVersion");
        Objects.requireNonNull(apply, "apply");
        return new SnapshotSink() {
            @Override
            public String appliedVersion() {
                return appliedVersion.get();
            }

            @Override
            public void apply(NodeSnapshot snapshot) {
                apply.accept(snapshot);
            }
        };
    }
}
