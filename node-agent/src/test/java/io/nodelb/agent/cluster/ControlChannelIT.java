package io.nodelb.agent.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.cluster.ClusterOptions.OperatorAddress;
import io.nodelb.agent.dataplane.SnapshotRejectedException;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.BackendFlows;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control channel against a real gRPC server over real TLS on 127.0.0.1 (no BPF): the
 * fake operator records what the agent sends, a fake sink stands in for the applier.
 */
class ControlChannelIT {

    private static final Duration WAIT = Duration.ofSeconds(5);
    private static final ControlChannel.Settings FAST = ControlChannel.Settings.defaults()
            .withBackoff(Duration.ofMillis(50), Duration.ofMillis(500))
            .withReports(Duration.ofMillis(100), Duration.ofSeconds(30));

    @TempDir
    static Path pkiDir;
    private static TestPki pki;
    private static TestPki.Issued serverCert;
    private static TestPki.Issued clientCert;

    @TempDir
    Path dir;
    private Path token;
    private final FakeSink sink = new FakeSink("v0");
    private final AtomicReference<NodeReport> report = new AtomicReference<>(NodeReport.getDefaultInstance());
    private final Deque<AutoCloseable> toClose = new ArrayDeque<>();
    private LogRecorder log;

    @BeforeAll
    static void issueCertificates() {
        pki = TestPki.create(pkiDir, "nodelb-test");
        serverCert = pki.server("operator");
        clientCert = pki.client("agent-node-1");
    }

    @BeforeEach
    void writeToken() throws Exception {
        token = Files.writeString(dir.resolve("token"), "token-1\n");
        log = new LogRecorder();
        toClose.push(log);
    }

    @AfterEach
    void closeAll() throws Exception {
        while (!toClose.isEmpty()) {
            toClose.pop().close();
        }
    }

    @Test
    void helloNamesNodeLayoutAndAppliedVersionCarriesTheTokenAndAReportFollows() throws Exception {
        FakeOperator operator = tlsOperator(0);
        ControlChannel channel = start(tlsOptions(operator.port(), clientCert));

        FakeOperator.Stream stream = operator.nextStream(WAIT);
        AgentMessage hello = stream.next(WAIT);
        AgentMessage firstReport = stream.next(WAIT);

        assertThat(stream.authorization).isEqualTo("Bearer token-1");
        assertThat(hello.hasHello()).isTrue();
        assertThat(hello.getHello().getNode()).isEqualTo("node-1");
        assertThat(hello.getHello().getLayoutVersion()).isEqualTo(Abi.LAYOUT_VERSION);
        assertThat(hello.getHello().getAppliedVersion()).isEqualTo("v0");
        assertThat(hello.getHello().getAgentVersion()).isEqualTo(ControlChannel.agentVersion()).isNotBlank();
        assertThat(firstReport.hasReport()).isTrue();
        assertThat(firstReport.getReport().getAppliedVersion()).as("filled in by the channel").isEqualTo("v0");
        await().atMost(WAIT).until(() -> channel.state().connected());
    }

    @Test
    void aSnapshotIsAppliedOnTheApplyThreadAndAckedWithItsNonceAndTheSameVersionIsNotAppliedAgain()
            throws Exception {
        FakeOperator operator = tlsOperator(0);
        ControlChannel channel = start(tlsOptions(operator.port(), clientCert));
        FakeOperator.Stream stream = helloAndReport(operator);

        stream.send(snapshot("v1"), "nonce-1");
        AgentMessage ack = stream.nextAnswer(WAIT);
        stream.send(snapshot("v1"), "nonce-2");
        AgentMessage secondAck = stream.nextAnswer(WAIT);

        assertThat(ack.getAck().getVersion()).isEqualTo("v1");
        assertThat(ack.getAck().getNonce()).isEqualTo("nonce-1");
        assertThat(secondAck.getAck().getNonce()).isEqualTo("nonce-2");
        assertThat(sink.applied).containsExactly("v1");
        assertThat(sink.threads).containsExactly("nodelb-apply");
        assertThat(channel.state()).satisfies(s -> {
            assertThat(s.appliedVersion()).isEqualTo("v1");
            assertThat(s.ackedVersion()).isEqualTo("v1");
            assertThat(s.acks()).isEqualTo(2);
            assertThat(s.nacks()).isZero();
        });
    }

    @Test
    void aRefusedSnapshotIsNackedWithTheReasonAndTheKeptVersion() throws Exception {
        sink.refusal = new SnapshotRejectedException("listener default/web/http: interface eth9 not found");
        FakeOperator operator = tlsOperator(0);
        ControlChannel channel = start(tlsOptions(operator.port(), clientCert));
        FakeOperator.Stream stream = helloAndReport(operator);

        stream.send(snapshot("v1"), "nonce-1");
        AgentMessage nack = stream.nextAnswer(WAIT);

        assertThat(nack.hasNack()).isTrue();
        assertThat(nack.getNack().getVersion()).isEqualTo("v1");
        assertThat(nack.getNack().getNonce()).isEqualTo("nonce-1");
        assertThat(nack.getNack().getError()).isEqualTo("listener default/web/http: interface eth9 not found");
        assertThat(nack.getNack().getKeptVersion()).isEqualTo("v0");
        assertThat(channel.state().nacks()).isEqualTo(1);
    }

    @Test
    void aReportGoesOutWhenItChangesAndNotBefore() throws Exception {
        FakeOperator operator = tlsOperator(0);
        start(tlsOptions(operator.port(), clientCert));
        FakeOperator.Stream stream = helloAndReport(operator);

        // Polled every 100 ms: an unchanged report stays home.
        assertThat(stream.received.poll(600, TimeUnit.MILLISECONDS)).isNull();
        NodeReport draining = NodeReport.newBuilder().setAppliedVersion("v0").setDraining(true)
                .addBackendFlows(BackendFlows.newBuilder().setPort(8080).setFlows(12)).build();
        report.set(draining);

        assertThat(stream.next(WAIT).getReport()).isEqualTo(draining);
    }

    @Test
    void afterTheOperatorRestartsItDialsAgainAndSendsTheRotatedToken() throws Exception {
        FakeOperator operator = tlsOperator(0);
        int port = operator.port();
        ControlChannel channel = start(tlsOptions(port, clientCert));
        helloAndReport(operator);
        await().atMost(WAIT).until(() -> channel.state().connected());

        // Rotated while connected (a dial already under way may still have read the old one).
        Files.writeString(token, "token-2\n");
        operator.close();
        await().atMost(WAIT).until(() -> !channel.state().connected());
        long restarted = System.nanoTime();
        FakeOperator again = tlsOperator(port);
        FakeOperator.Stream stream = again.nextStream(WAIT);

        assertThat(Duration.ofNanos(System.nanoTime() - restarted)).isLessThan(Duration.ofSeconds(5));
        assertThat(stream.authorization).isEqualTo("Bearer token-2");
        assertThat(stream.next(WAIT).getHello().getNode()).isEqualTo("node-1");
        await().atMost(WAIT).until(() -> channel.state().connected());
        assertThat(channel.state().reconnects()).isPositive();
        assertThat(channel.state().lastConnectError()).contains("127.0.0.1:" + port);
        assertThat(log.lines).anyMatch(l -> l.startsWith("WARNING ") && l.contains("dialing again in"));
    }

    @Test
    void notTheLeaderIsLoggedAsTheOperatorSaidItAndRetried() throws Exception {
        FakeOperator operator = tlsOperator(0);
        operator.refusals.add(Status.UNAVAILABLE.withDescription("not the leader"));
        operator.refusals.add(Status.PERMISSION_DENIED.withDescription("the token's pod runs on node-2, not node-1"));
        ControlChannel channel = start(tlsOptions(operator.port(), clientCert));

        FakeOperator.Stream stream = operator.nextStream(WAIT);

        assertThat(stream.next(WAIT).hasHello()).isTrue();
        assertThat(log.lines).anyMatch(l -> l.contains(": UNAVAILABLE: not the leader; dialing again in"));
        assertThat(log.lines)
                .anyMatch(l -> l.contains(": PERMISSION_DENIED: the token's pod runs on node-2, not node-1;"));
        assertThat(channel.state().reconnects()).isGreaterThanOrEqualTo(2);
    }

    @Test
    void aClientCertificateFromAnotherCaIsRefusedReadablyAndRetried() throws Exception {
        TestPki.Issued foreign = TestPki.create(Files.createDirectory(dir.resolve("other")), "other").client("agent");
        FakeOperator operator = tlsOperator(0);
        ControlChannel channel = start(tlsOptions(operator.port(), foreign));

        await("keeps retrying").atMost(WAIT).until(() -> channel.state().reconnects() >= 2);
        assertThat(operator.noStreamFor(Duration.ofMillis(100))).isTrue();
        ControlChannel.State state = channel.state();
        assertThat(state.connected()).isFalse();
        assertThat(state.lastConnectError())
                .startsWith("cannot connect to the operator at 127.0.0.1:" + operator.port() + ": UNAVAILABLE")
                .contains("the operator refused this agent's certificate (--cert-file)");
    }

    @Test
    void anOperatorCertificateFromAnotherCaIsRefusedReadably() throws Exception {
        TestPki other = TestPki.create(Files.createDirectory(dir.resolve("other")), "other");
        FakeOperator operator = track(FakeOperator.tls(0, other.server("impostor"), pki.caFile));
        ControlChannel channel = start(tlsOptions(operator.port(), clientCert));

        await().atMost(WAIT).until(() -> !channel.state().lastConnectError().isEmpty());
        assertThat(operator.noStreamFor(Duration.ofMillis(100))).isTrue();
        assertThat(channel.state().lastConnectError())
                .contains("(the operator's certificate is not signed by a CA in --ca-file)");
    }

    @Test
    void withoutItsCertificateFileItSaysSoAndConnectsOnceTheFileAppears() throws Exception {
        FakeOperator operator = tlsOperator(0);
        Path certFile = dir.resolve("not-yet.crt");
        ControlChannel channel = start(tlsOptions(operator.port(), new TestPki.Issued(certFile, clientCert.key())));

        await().atMost(WAIT).until(() -> !channel.state().lastConnectError().isEmpty());
        assertThat(channel.state().lastConnectError()).isEqualTo("cannot dial the operator at 127.0.0.1:"
                + operator.port() + ": cannot read --cert-file " + certFile + ": no such file");
        assertThat(operator.noStreamFor(Duration.ofMillis(300))).isTrue();

        Files.copy(clientCert.cert(), certFile);

        assertThat(operator.nextStream(WAIT).next(WAIT).hasHello()).isTrue();
    }

    @Test
    void plaintextWorksWhenAskedAndOnlyThen() throws Exception {
        FakeOperator plain = track(FakeOperator.plaintext(0));
        ControlChannel tlsClient = start(tlsOptions(plain.port(), clientCert));
        await().atMost(WAIT).until(() -> tlsClient.state().reconnects() >= 1);
        assertThat(plain.noStreamFor(Duration.ofMillis(100))).as("a TLS agent never talks to a plaintext server")
                .isTrue();
        assertThat(tlsClient.state().lastConnectError()).startsWith("cannot connect to the operator")
                .contains("the operator does not speak TLS");
        tlsClient.close();

        start(plaintextOptions(plain.port()));

        FakeOperator.Stream stream = plain.nextStream(WAIT);
        assertThat(stream.next(WAIT).getHello().getNode()).isEqualTo("node-1");
        assertThat(stream.authorization).isEqualTo("Bearer token-1");
    }

    @Test
    void aPlaintextAgentCannotTalkToATlsOperator() throws Exception {
        FakeOperator operator = tlsOperator(0);
        ControlChannel channel = start(plaintextOptions(operator.port()));

        await().atMost(WAIT).until(() -> channel.state().reconnects() >= 1);
        assertThat(operator.noStreamFor(Duration.ofMillis(100))).isTrue();
        assertThat(channel.state().connected()).isFalse();
        assertThat(channel.state().lastConnectError()).startsWith("cannot connect to the operator")
                .contains("does the operator expect TLS? this agent runs with --plaintext");
    }

    @Test
    void anOperatorThatGoesSilentIsNoticedByKeepalive() throws Exception {
        FakeOperator operator = tlsOperator(0);
        FreezableProxy proxy = track(new FreezableProxy(operator.port()));
        // gRPC raises the 5 s ping interval to its floor of 10 s; a 1 s ping timeout keeps the test short.
        ControlChannel channel = track(ControlChannel.start(tlsOptions(proxy.port(), clientCert), sink, report::get,
                FAST.withKeepAlive(Duration.ofSeconds(5), Duration.ofSeconds(1))));
        helloAndReport(operator);
        await().atMost(WAIT).until(() -> channel.state().connected());

        long frozen = System.nanoTime();
        proxy.freeze();
        await().atMost(Duration.ofSeconds(15)).until(() -> !channel.state().connected());

        assertThat(Duration.ofNanos(System.nanoTime() - frozen))
                .as("noticed by a ping, not by anything faster").isGreaterThan(Duration.ofSeconds(5))
                .isLessThan(Duration.ofSeconds(14));
        assertThat(channel.state().lastConnectError()).containsIgnoringCase("keepalive");
    }

    @Test
    void closeEndsTheStreamPolitelyAndStopsDialing() throws Exception {
        FakeOperator operator = tlsOperator(0);
        ControlChannel channel = start(tlsOptions(operator.port(), clientCert));
        FakeOperator.Stream stream = helloAndReport(operator);

        long before = System.nanoTime();
        channel.close();

        assertThat(Duration.ofNanos(System.nanoTime() - before)).isLessThan(Duration.ofSeconds(3));
        assertThat(stream.agentHalfClosed.await(5, TimeUnit.SECONDS)).as("half-closed by the agent").isTrue();
        assertThat(stream.cancelled.getCount()).as("not cancelled").isEqualTo(1);
        assertThat(channel.state().connected()).isFalse();
        assertThat(operator.noStreamFor(Duration.ofMillis(500))).as("no new stream after close").isTrue();
    }

    private FakeOperator.Stream helloAndReport(FakeOperator operator) throws InterruptedException {
        FakeOperator.Stream stream = operator.nextStream(WAIT);
        assertThat(stream.next(WAIT).hasHello()).isTrue();
        assertThat(stream.next(WAIT).hasReport()).isTrue();
        return stream;
    }

    private FakeOperator tlsOperator(int port) throws Exception {
        return track(FakeOperator.tls(port, serverCert, pki.caFile));
    }

    private ClusterOptions tlsOptions(int port, TestPki.Issued client) {
        return new ClusterOptions(new OperatorAddress("127.0.0.1", port), "node-1", pki.caFile, client.cert(),
                client.key(), token, false, dir.resolve("pins"), 0, null, 0, false, null, null, null);
    }

    private ClusterOptions plaintextOptions(int port) {
        return new ClusterOptions(new OperatorAddress("127.0.0.1", port), "node-1", null, null, null, token, true,
                dir.resolve("pins"), 0, null, 0, false, null, null, null);
    }

    private ControlChannel start(ClusterOptions options) {
        return track(ControlChannel.start(options, sink, report::get, FAST));
    }

    private <T extends AutoCloseable> T track(T closeable) {
        toClose.push(closeable);
        return closeable;
    }

    private static NodeSnapshot snapshot(String version) {
        return NodeSnapshot.newBuilder().setNode("node-1").setVersion(version).build();
    }

    /** Records what it applies and on which thread; refuses when told to. */
    private static final class FakeSink implements SnapshotSink {
        final List<String> applied = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();
        volatile RuntimeException refusal;
        private volatile String version;

        FakeSink(String version) {
            this.version = version;
        }

        @Override
        public String appliedVersion() {
            return version;
        }

        @Override
        public void apply(NodeSnapshot snapshot) {
            threads.add(Thread.currentThread().getName());
            if (refusal != null) {
                throw refusal;
            }
            applied.add(snapshot.getVersion());
            version = snapshot.getVersion();
        }
    }
}
