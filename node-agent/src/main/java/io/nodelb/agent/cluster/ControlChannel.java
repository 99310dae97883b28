package io.nodelb.agent.cluster;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.DataPlaneGrpc;
import io.nodelb.dataplane.v1alpha1.Hello;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * The agent's end of the control stream ({@code DataPlane.Stream}): dials the operator, says
 * Hello, applies the snapshots it sends through a {@link SnapshotSink} and answers each with an
 * Ack or a Nack, and sends node reports. It keeps dialing, with backoff, until closed; while
 * disconnected nothing is touched and the data plane keeps forwarding what it has.
 *
 * <p>Threads: one control thread dials, waits on the stream and polls reports; one apply
 * thread runs the sink (see {@link ApplyQueue}); gRPC's threads only queue what arrives.
 */
public final class ControlChannel implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(ControlChannel.class.getName());

    /**
     * Timings; {@link #defaults()} is what the agent runs with, tests shorten them.
     *
     * @param backoffInitial     ceiling of the first wait before dialing again
     * @param backoffCap         the ceiling never grows past this
     * @param backoffResetAfter  a stream that stayed up this long starts the backoff over
     * @param reportPoll         how often the report supplier is asked
     * @param reportMaxInterval  an unchanged report is sent again after this long
     * @param keepAliveTime      ping an idle connection this often (gRPC makes it at least 10 s)
     * @param keepAliveTimeout   a ping unanswered this long ends the connection
     * @param closeTimeout       how long {@link #close()} waits for the operator to end the stream
     */
    public record Settings(
            Duration backoffInitial,
            Duration backoffCap,
            Duration backoffResetAfter,
            Duration reportPoll,
            Duration reportMaxInterval,
            Duration keepAliveTime,
            Duration keepAliveTimeout,
            Duration closeTimeout) {

        public static Settings defaults() {
            return new Settings(Duration.ofMillis(500), Duration.ofSeconds(30), Duration.ofSeconds(30),
                    Duration.ofSeconds(2), Duration.ofSeconds(30), Duration.ofSeconds(5), Duration.ofSeconds(5),
                    Duration.ofSeconds(5));
        }

        public Settings withBackoff(Duration initial, Duration cap) {
            return new Settings(initial, cap, backoffResetAfter, reportPoll, reportMaxInterval, keepAliveTime,
                    keepAliveTimeout, closeTimeout);
        }

        public Settings withKeepAlive(Duration time, Duration timeout) {
            return new Settings(backoffInitial, backoffCap, backoffResetAfter, reportPoll, reportMaxInterval, time,
                    timeout, closeTimeout);
        }

        public Settings withReports(Duration poll, Duration maxInterval) {
            return new Settings(backoffInitial, backoffCap, backoffResetAfter, poll, maxInterval, keepAliveTime,
                    keepAliveTimeout, closeTimeout);
        }
    }

    /**
     * What health checks and metrics read.
     *
     * @param connected        a stream to the operator is open now
     * @param lastConnectError how the last failed attempt or stream ended, readable; empty if none
     * @param appliedVersion   the version programmed now; empty if none
     * @param ackedVersion     the version of the last Ack sent; empty if none
     * @param acks             Acks sent
     * @param nacks            Nacks sent
     * @param reconnects       attempts after the first
     * @param refusing         the last snapshot answered could not be programmed (Nacked); an Ack ends it
     */
    public record State(boolean connected, String lastConnectError, String appliedVersion, String ackedVersion,
                        long acks, long nacks, long reconnects, boolean refusing) {}

    private final ClusterOptions options;
    private final Settings settings;
    private final Supplier<NodeReport> reports;
    private final Dialer dialer;
    private final ApplyQueue queue;
    private final ExecutorService applyThread;
    private final Backoff backoff;
    private final String agentVersion;
    private final Thread controlThread;
    private final LongAdder reconnects = new LongAdder();
    private final Object lock = new Object();
    private Session current; // guarded by lock
    private boolean closed; // guarded by lock
    private volatile boolean connected;
    private volatile String lastConnectError = "";
    private String lastReportFailure = "";

    private ControlChannel(ClusterOptions options, SnapshotSink sink, Supplier<NodeReport> reports, Settings settings) {
        this.options = Objects.requireNonNull(options, "options");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.reports = Objects.requireNonNull(reports, "reports");
        this.agentVersion = agentVersion();
        this.dialer = new Dialer(options, settings.keepAliveTime(), settings.keepAliveTimeout(), agentVersion);
        this.backoff = new Backoff(settings.backoffInitial(), settings.backoffCap(),
                () -> ThreadLocalRandom.current().nextDouble());
        this.applyThread = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("nodelb-apply").daemon().factory());
        this.queue = new ApplyQueue(options.nodeName(), sink, applyThread);
        this.controlThread = Thread.ofPlatform().name("nodelb-control").daemon().unstarted(this::run);
    }

    /** {@link #start(ClusterOptions, SnapshotSink, Supplier, Settings)} with the default timings. */
    public static ControlChannel start(ClusterOptions options, SnapshotSink sink, Supplier<NodeReport> reports) {
        return start(options, sink, reports, Settings.defaults());
    }

    /**
     * Starts dialing in the background and returns at once.
     *
     * @param sink    programs snapshots; its {@code appliedVersion()} is read here, on this thread,
     *                for the first Hello
     * @param reports the node's report, asked on the control thread every
     *                {@link Settings#reportPoll()}; an empty {@code applied_version} is filled in
     *                with the version this channel last programmed
     */
    public static ControlChannel start(ClusterOptions options, SnapshotSink sink, Supplier<NodeReport> reports,
                                       Settings settings) {
        ControlChannel channel = new ControlChannel(options, sink, reports, settings);
        channel.controlThread.start();
        return channel;
    }

    public State state() {
        return new State(connected, lastConnectError, queue.appliedVersion(), queue.ackedVersion(), queue.acks(),
                queue.nacks(), reconnects.sum(), queue.refusing());
    }

    /**
     * Ends the stream the polite way (half-close, so the operator sees the agent leave rather
     * than a broken connection), waits up to {@link Settings#closeTimeout()} for the operator to
     * end it, then shuts the channel down; an apply in progress gets the same time to finish.
     * The data plane is not touched. Idempotent.
     */
    @Override
    public void close() {
        Session session;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            session = current;
        }
        long deadline = System.nanoTime() + settings.closeTimeout().toNanos();
        if (session != null) {
            try {
                // Only a stream that is up has an operator to wait for; an attempt still
                // connecting is simply cancelled.
                if (session.connectedAt != 0) {
                    session.halfClose();
                    session.awaitEnd(remaining(deadline));
                    session.channel.shutdown();
                    session.channel.awaitTermination(remaining(deadline).toNanos(), TimeUnit.NANOSECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                session.channel.shutdownNow(); // nothing left to do if it already terminated
            }
        }
        controlThread.interrupt(); // out of a backoff wait
        applyThread.shutdown();
        try {
            controlThread.join(Math.max(1, remaining(deadline).toMillis()));
            if (!applyThread.awaitTermination(remaining(deadline).toNanos(), TimeUnit.NANOSECONDS)) {
                LOG.log(Level.WARNING, "an apply still runs after {0}; leaving it to finish", settings.closeTimeout());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        connected = false;
    }

    private void run() {
        while (!isClosed()) {
            Attempt attempt = streamOnce();
            if (attempt == null || isClosed()) {
                return;
            }
            if (attempt.connectedFor().compareTo(settings.backoffResetAfter()) > 0) {
                backoff.reset();
            }
            Duration wait = backoff.next();
            lastConnectError = attempt.failure();
            LOG.log(attempt.endedByOperator() ? Level.INFO : Level.WARNING, "{0}; dialing again in {1}",
                    attempt.failure(), seconds(wait));
            try {
                Thread.sleep(wait);
            } catch (InterruptedException e) {
                return; // closed
            }
            reconnects.increment();
        }
    }

    /** How one attempt ended. */
    private record Attempt(String failure, Duration connectedFor, boolean endedByOperator) {}

    /** One connection and its stream, from dialing to the end; null when closed meanwhile. */
    private Attempt streamOnce() {
        Metadata credentials;
        ManagedChannel channel;
        try {
            credentials = dialer.credentials();
            channel = dialer.open();
        } catch (Dialer.DialException e) {
            return new Attempt("cannot dial the operator at " + options.operator() + ": " + e.getMessage(),
                    Duration.ZERO, false);
        }
        Session session = new Session(channel);
        synchronized (lock) {
            if (closed) {
                channel.shutdownNow();
                return null;
            }
            current = session;
        }
        try {
            DataPlaneGrpc.newStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(credentials))
                    .stream(session);
            session.send(AgentMessage.newBuilder().setHello(Hello.newBuilder()
                    .setNode(options.nodeName())
                    .setLayoutVersion(Abi.LAYOUT_VERSION)
                    .setAppliedVersion(queue.appliedVersion())
                    .setAgentVersion(agentVersion)).build());
            sendReportIfDue(session); // the first right after the Hello
            while (!session.awaitEnd(settings.reportPoll())) {
                sendReportIfDue(session);
            }
            return session.outcome();
        } catch (InterruptedException e) {
            return null; // closed
        } catch (RuntimeException e) {
            // A bug, but the control thread must live on: without it the agent never reconnects.
            LOG.log(Level.ERROR, "the control stream failed unexpectedly", e);
            return new Attempt("the control stream failed unexpectedly: " + e, session.connectedFor(), false);
        } finally {
            synchronized (lock) {
                current = null;
            }
            connected = false;
            if (!isClosed()) {
                channel.shutdownNow(); // each attempt dials anew; close() shuts its own one down politely
            }
        }
    }

    private void sendReportIfDue(Session session) {
        NodeReport report;
        try {
            report = reports.get();
        } catch (RuntimeException e) {
            String failure = String.valueOf(e);
            if (!failure.equals(lastReportFailure)) {
                LOG.log(Level.WARNING, "cannot build the node report: {0}", failure);
                lastReportFailure = failure;
            }
            return;
        }
        lastReportFailure = "";
        if (report == null) {
            return; // nothing to say yet
        }
        if (report.getAppliedVersion().isEmpty()) {
            report = report.toBuilder().setAppliedVersion(queue.appliedVersion()).build();
        }
        if (session.reportGate.admit(report, System.nanoTime())) {
            session.send(AgentMessage.newBuilder().setReport(report).build());
        }
    }

    private boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    private static Duration remaining(long deadlineNanos) {
        return Duration.ofNanos(Math.max(0, deadlineNanos - System.nanoTime()));
    }

    private static String seconds(Duration d) {
        return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
    }

    /** The jar's Implementation-Version, or "dev" when run from classes. */
    static String agentVersion() {
        String version = ControlChannel.class.getPackage().getImplementationVersion();
        return version == null || version.isBlank() ? "dev" : version;
    }

    /** One stream: what arrives goes to the apply queue, what goes out is serialized here. */
    private final class Session implements ClientResponseObserver<AgentMessage, OperatorMessage>, ApplyQueue.Replies {

        final ManagedChannel channel;
        final ReportGate reportGate = new ReportGate(settings.reportMaxInterval());
        private final CompletableFuture<Throwable> ended = new CompletableFuture<>(); // null: ended by the operator
        private ClientCallStreamObserver<AgentMessage> requests;
        private volatile long connectedAt;
        private boolean halfClosed; // guarded by this

        Session(ManagedChannel channel) {
            this.channel = channel;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<AgentMessage> requestStream) {
            requests = requestStream;
            // Ready means the transport is up: TLS done both ways and the operator's HTTP/2 settings seen.
            requestStream.setOnReadyHandler(this::markConnected);
        }

        @Override
        public void onNext(OperatorMessage message) {
            markConnected();
            queue.offer(message, this);
        }

        @Override
        public void onError(Throwable t) {
            ended.complete(t);
        }

        @Override
        public void onCompleted() {
            ended.complete(null);
        }

        @Override
        public boolean isOpen() {
            synchronized (this) {
                return !halfClosed && !ended.isDone();
            }
        }

        @Override
        public synchronized void send(AgentMessage message) {
            if (isOpen()) {
                requests.onNext(message);
            }
        }

        synchronized void halfClose() {
            if (isOpen()) {
                halfClosed = true;
                requests.onCompleted();
            }
        }

        /** True once the stream has ended; waits at most {@code timeout}. */
        boolean awaitEnd(Duration timeout) throws InterruptedException {
            try {
                ended.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
                return true;
            } catch (TimeoutException e) {
                return false;
            } catch (ExecutionException e) {
                throw new AssertionError("never completed exceptionally", e);
            }
        }

        Duration connectedFor() {
            return connectedAt == 0 ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - connectedAt);
        }

        Attempt outcome() {
            Throwable failure = ended.getNow(null);
            Duration connectedFor = connectedFor();
            String how = failure == null ? "the operator ended the stream" : FailureText.of(failure, options.plaintext());
            return connectedAt == 0
                    ? new Attempt("cannot connect to the operator at " + options.operator() + ": " + how,
                            connectedFor, failure == null)
                    : new Attempt("the stream to the operator at " + options.operator() + " ended after "
                            + seconds(connectedFor) + ": " + how, connectedFor, failure == null);
        }

        private synchronized void markConnected() {
            if (connectedAt == 0 && !ended.isDone()) {
                connectedAt = System.nanoTime();
                connected = true;
                LOG.log(Level.INFO, "connected to the operator at {0} as node {1}", options.operator(),
                        options.nodeName());
            }
        }
    }
}
