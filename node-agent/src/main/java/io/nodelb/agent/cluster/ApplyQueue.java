package io.nodelb.agent.cluster;

import io.nodelb.agent.dataplane.SnapshotRejectedException;
import io.nodelb.dataplane.v1alpha1.Ack;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.Nack;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import java.lang.System.Logger.Level;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.LongAdder;

/**
 * Hands the operator's snapshots to the {@link SnapshotSink} one at a time on a thread of its
 * own, so the gRPC thread that receives them never waits on the kernel, and answers each
 * snapshot exactly once:
 *
 * <ul>
 *   <li>its version is the one applied already: Ack, without applying it again;
 *   <li>applied: Ack; refused by the sink (any RuntimeException): Nack with the reason and the
 *       version that stays programmed;
 *   <li>a newer snapshot arrived while it waited: Nack "superseded by &lt;newer&gt;", never
 *       applied — the operator coalesces and keeps one in flight, so this only happens when it
 *       did not; the newer one gets its own answer;
 *   <li>its stream ended while it waited: dropped unanswered and unapplied (there is no one to
 *       answer); the operator sends the newest again after the next Hello.
 * </ul>
 */
final class ApplyQueue {

    private static final System.Logger LOG = System.getLogger(ApplyQueue.class.getName());

    /** The stream a snapshot arrived on, where its answer goes. */
    interface Replies {
        boolean isOpen();

        void send(AgentMessage answer);
    }

    private record Newest(long sequence, String version) {}

    private final String nodeName;
    private final SnapshotSink sink;
    private final Executor applyThread;
    private final LongAdder acks = new LongAdder();
    private final LongAdder nacks = new LongAdder();
    private long received; // guarded by this
    private volatile Newest newest = new Newest(0, "");
    private volatile String appliedVersion;
    private volatile String ackedVersion = "";
    /** The last snapshot answered was refused (not merely superseded); an Ack clears it. */
    private volatile boolean refusing;

    /**
     * Reads the sink's applied version on the calling thread; afterwards the sink is only used
     * on {@code applyThread}, which must run one task at a time in order.
     */
    ApplyQueue(String nodeName, SnapshotSink sink, Executor applyThread) {
        this.nodeName = Objects.requireNonNull(nodeName);
        this.sink = Objects.requireNonNull(sink);
        this.applyThread = Objects.requireNonNull(applyThread);
        this.appliedVersion = Objects.requireNonNullElse(sink.appliedVersion(), "");
    }

    /** Queues a snapshot for the apply thread; returns at once. */
    void offer(OperatorMessage message, Replies replies) {
        long sequence;
        synchronized (this) {
            sequence = ++received;
            newest = new Newest(sequence, message.getSnapshot().getVersion());
        }
        try {
            applyThread.execute(() -> handle(sequence, message, replies));
        } catch (RejectedExecutionException e) {
            LOG.log(Level.DEBUG, "snapshot {0} arrived while closing; not applied", message.getSnapshot().getVersion());
        }
    }

    /** The version programmed now, as far as this queue knows (it is the sink's only writer). */
    String appliedVersion() {
        return appliedVersion;
    }

    String ackedVersion() {
        return ackedVersion;
    }

    long acks() {
        return acks.sum();
    }

    long nacks() {
        return nacks.sum();
    }

    /**
     * Whether this node refuses the operator's snapshot now: the last snapshot answered was
     * Nacked because it could not be programmed here (or was for another node). A Nack of a
     * superseded snapshot does not count (its newer one gets its own answer); an Ack ends it.
     */
    boolean refusing() {
        return refusing;
    }

    private void handle(long sequence, OperatorMessage message, Replies replies) {
        NodeSnapshot snapshot = message.getSnapshot();
        String version = snapshot.getVersion();
        if (!replies.isOpen()) {
            LOG.log(Level.DEBUG, "snapshot {0} not applied: its stream ended before its turn", version);
            return;
        }
        Newest latest = newest;
        if (latest.sequence() != sequence) {
            nack(replies, message, "superseded by " + latest.version() + " before it was applied");
            return;
        }
        if (!message.hasSnapshot()) {
            refuse(replies, message, "the message carries no snapshot");
            return;
        }
        if (!snapshot.getNode().equals(nodeName)) {
            refuse(replies, message, "the snapshot is for node '" + snapshot.getNode() + "', this agent runs on node '"
                    + nodeName + "'");
            return;
        }
        if (version.equals(appliedVersion)) {
            ack(replies, message);
            return;
        }
        String refusal;
        try {
            sink.apply(snapshot);
            refusal = null;
        } catch (SnapshotRejectedException e) {
            refusal = Objects.requireNonNullElse(e.getMessage(), "refused without a reason");
        } catch (RuntimeException e) {
            // Not a refusal the applier foresaw: keep the stack trace for whoever debugs it.
            LOG.log(Level.WARNING, "applying snapshot " + version + " failed unexpectedly", e);
            refusal = e.getMessage() == null ? e.getClass().getName() : e.getMessage();
        } finally {
            appliedVersion = Objects.requireNonNullElse(sink.appliedVersion(), "");
        }
        if (refusal == null) {
            LOG.log(Level.INFO, "programmed version {0}", version);
            ack(replies, message);
        } else {
            LOG.log(Level.WARNING, "refused version {0} (keeping {1}): {2}", version,
                    appliedVersion.isEmpty() ? "nothing" : appliedVersion, refusal);
            refuse(replies, message, refusal);
        }
    }

    // Counted before sending, so whoever saw the answer also sees it counted.

    private void ack(Replies replies, OperatorMessage message) {
        String version = message.getSnapshot().getVersion();
        ackedVersion = version;
        refusing = false;
        acks.increment();
        replies.send(AgentMessage.newBuilder()
                .setAck(Ack.newBuilder().setVersion(version).setNonce(message.getNonce()))
                .build());
    }

    private void refuse(Replies replies, OperatorMessage message, String error) {
        refusing = true;
        nack(replies, message, error);
    }

    private void nack(Replies replies, OperatorMessage message, String error) {
        nacks.increment();
        replies.send(AgentMessage.newBuilder()
                .setNack(Nack.newBuilder()
                        .setVersion(message.getSnapshot().getVersion())
                        .setNonce(message.getNonce())
                        .setError(error)
                        .setKeptVersion(appliedVersion))
                .build());
    }
}
