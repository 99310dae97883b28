package io.nodelb.agent.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.dataplane.SnapshotRejectedException;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.Executor;
import org.junit.jupiter.api.Test;

/** Each snapshot answered exactly once, applies one at a time, the newest wins. */
class ApplyQueueTest {

    /** The apply thread, stepped by hand. */
    private final Queue<Runnable> tasks = new ArrayDeque<>();
    private final Executor applyThread = tasks::add;
    private final FakeSink sink = new FakeSink("v0");
    private final Stream stream = new Stream();
    private final ApplyQueue queue = new ApplyQueue("node-1", sink, applyThread);

    @Test
    void appliesAndAcksWithTheNonce() {
        queue.offer(snapshot("v1", "n1"), stream);
        runAll();

        assertThat(sink.applied).containsExactly("v1");
        assertThat(stream.sent).singleElement().satisfies(m -> {
            assertThat(m.getAck().getVersion()).isEqualTo("v1");
            assertThat(m.getAck().getNonce()).isEqualTo("n1");
        });
        assertThat(queue.appliedVersion()).isEqualTo("v1");
        assertThat(queue.ackedVersion()).isEqualTo("v1");
        assertThat(queue.acks()).isEqualTo(1);
    }

    @Test
    void theGrpcThreadOnlyQueues() {
        queue.offer(snapshot("v1", "n1"), stream);

        assertThat(sink.applied).isEmpty();
        assertThat(tasks).hasSize(1);
    }

    @Test
    void theAppliedVersionIsAckedWithoutApplying() {
        queue.offer(snapshot("v0", "n1"), stream);
        runAll();

        assertThat(sink.applied).isEmpty();
        assertThat(stream.sent).singleElement().satisfies(m -> assertThat(m.getAck().getNonce()).isEqualTo("n1"));
    }

    @Test
    void aRefusalIsNackedWithTheReasonAndTheKeptVersion() {
        sink.refusal = new SnapshotRejectedException("listener default/web/http: interface eth9 not found");
        queue.offer(snapshot("v1", "n1"), stream);
        runAll();

        assertThat(stream.sent).singleElement().satisfies(m -> {
            assertThat(m.hasNack()).isTrue();
            assertThat(m.getNack().getVersion()).isEqualTo("v1");
            assertThat(m.getNack().getNonce()).isEqualTo("n1");
            assertThat(m.getNack().getError()).isEqualTo("listener default/web/http: interface eth9 not found");
            assertThat(m.getNack().getKeptVersion()).isEqualTo("v0");
        });
        assertThat(queue.nacks()).isEqualTo(1);
        assertThat(queue.appliedVersion()).isEqualTo("v0");
    }

    @Test
    void aRefusalLastsUntilTheNextAckAndASupersededSnapshotIsNoRefusal() {
        sink.refusal = new SnapshotRejectedException("too many backends");
        queue.offer(snapshot("v1", "n1"), stream);
        runAll();
        assertThat(queue.refusing()).as("after a refusal").isTrue();

        sink.refusal = null;
        queue.offer(snapshot("v2", "n2"), stream);
        queue.offer(snapshot("v3", "n3"), stream);
        tasks.poll().run(); // v2: superseded by v3
        assertThat(queue.refusing()).as("a superseded snapshot changes nothing").isTrue();
        runAll();

        assertThat(queue.refusing()).as("after v3 was programmed and acked").isFalse();
        assertThat(queue.nacks()).isEqualTo(2);
        assertThat(queue.acks()).isEqualTo(1);
    }

    @Test
    void anyOtherRuntimeExceptionIsANackToo() {
        sink.refusal = new IllegalStateException("map nlb_backends is full");
        queue.offer(snapshot("v1", "n1"), stream);
        runAll();

        assertThat(stream.sent).singleElement()
                .satisfies(m -> assertThat(m.getNack().getError()).isEqualTo("map nlb_backends is full"));
    }

    @Test
    void aWaitingSnapshotIsSupersededByANewerOneAndBothAreAnswered() {
        queue.offer(snapshot("v1", "n1"), stream);
        queue.offer(snapshot("v2", "n2"), stream);
        queue.offer(snapshot("v3", "n3"), stream);
        runAll();

        assertThat(sink.applied).containsExactly("v3");
        assertThat(stream.sent).hasSize(3);
        assertThat(stream.sent.get(0).getNack().getNonce()).isEqualTo("n1");
        assertThat(stream.sent.get(0).getNack().getError()).isEqualTo("superseded by v3 before it was applied");
        assertThat(stream.sent.get(0).getNack().getKeptVersion()).isEqualTo("v0");
        assertThat(stream.sent.get(1).getNack().getNonce()).isEqualTo("n2");
        assertThat(stream.sent.get(2).getAck().getNonce()).isEqualTo("n3");
    }

    @Test
    void aSnapshotWhoseStreamEndedIsNeitherAppliedNorAnswered() {
        queue.offer(snapshot("v1", "n1"), stream);
        stream.open = false;
        runAll();

        assertThat(sink.applied).isEmpty();
        assertThat(stream.sent).isEmpty();
    }

    @Test
    void aSnapshotForAnotherNodeIsRefused() {
        queue.offer(OperatorMessage.newBuilder().setNonce("n1")
                .setSnapshot(NodeSnapshot.newBuilder().setNode("node-2").setVersion("v1")).build(), stream);
        runAll();

        assertThat(sink.applied).isEmpty();
        assertThat(stream.sent).singleElement().satisfies(m -> assertThat(m.getNack().getError())
                .isEqualTo("the snapshot is for node 'node-2', this agent runs on node 'node-1'"));
    }

    private void runAll() {
        while (!tasks.isEmpty()) {
            tasks.poll().run();
        }
    }

    private static OperatorMessage snapshot(String version, String nonce) {
        return OperatorMessage.newBuilder().setNonce(nonce)
                .setSnapshot(NodeSnapshot.newBuilder().setNode("node-1").setVersion(version)).build();
    }

    private static final class Stream implements ApplyQueue.Replies {
        final List<AgentMessage> sent = new ArrayList<>();
        boolean open = true;

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void send(AgentMessage answer) {
            sent.add(answer);
        }
    }

    private static final class FakeSink implements SnapshotSink {
        final List<String> applied = new ArrayList<>();
        RuntimeException refusal;
        String version;

        FakeSink(String version) {
            this.version = version;
        }

        @Override
        public String appliedVersion() {
            return version;
        }

        @Override
        public void apply(NodeSnapshot snapshot) {
            if (refusal != null) {
                throw refusal;
            }
            applied.add(snapshot.getVersion());
            version = snapshot.getVersion();
        }
    }
}
