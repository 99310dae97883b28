package io.nodelb.agent.health;

import io.nodelb.dataplane.v1alpha1.HealthCheck;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.PriorityQueue;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * TCP and plain HTTP checks of many backends from one platform thread: non-blocking connects,
 * request writes and status-line reads through one {@link Selector}, and one timer queue for
 * the jittered schedule and the timeouts. A thread per backend (a virtual one that sleeps,
 * connects and parks) cost a core for 10,000 checks a second; here a check is a few system
 * calls and no thread hand-off. HTTPS checks stay with {@link Probe#run} on virtual threads.
 *
 * <p>The schedule is {@link Probe#run}'s: a random start within the first interval, then the
 * next check an interval after a result, up to 15 % early and never late.
 */
final class SelectorChecks implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(SelectorChecks.class.getName());

    /** One backend's recurring check; {@link #cancel} stops it (a check under way is dropped). */
    final class Job {
        private final Probe probe;
        private final InetSocketAddress target;
        private final Supplier<InetAddress> source;
        private final Consumer<Probe.Result> onResult;
        private final long interval;
        private final byte[] request;
        private volatile boolean cancelled;
        // The rest is the selector thread's own.
        private SocketChannel channel;
        private SelectionKey key;
        private ByteBuffer out;
        private StringBuilder status;
        private long started;
        /** Bumped by every state change: queue entries of an older one are stale. */
        private long turn;

        private Job(Probe probe, InetAddress address, int port, Supplier<InetAddress> source,
                    Consumer<Probe.Result> onResult) {
            this.probe = probe;
            this.target = new InetSocketAddress(address, probe.port(port));
            this.source = source;
            this.onResult = onResult;
            this.interval = Probe.interval(probe.check()).toNanos();
            this.request = probe.check().getType() == HealthCheck.Type.HTTP ? probe.request(address, target.getPort())
                    : null;
        }

        void cancel() {
            cancelled = true;
            commands.add(this); // the loop closes a check under way
            selector.wakeup();
        }
    }

    /** When {@code job} is due (to start a check, or to time one out), as of its {@code turn}. */
    private record Due(long at, Job job, long turn) {}

    private final Selector selector;
    private final Queue<Job> commands = new ConcurrentLinkedQueue<>();
    /** How far a check may start early, or a timeout fire late, to batch the loop's wake-ups. */
    static final long SLACK = Duration.ofMillis(5).toNanos();
    /** When checks are due to start, and when those under way time out; stale entries are skipped. */
    private final PriorityQueue<Due> starts = new PriorityQueue<>((a, b) -> Long.compare(a.at, b.at));
    private final PriorityQueue<Due> deadlines = new PriorityQueue<>((a, b) -> Long.compare(a.at, b.at));
    /** Where status lines are read to; one for all, the loop is single-threaded. */
    private final ByteBuffer readBuffer = ByteBuffer.allocateDirect(Probe.STATUS_LINE_MAX);
    private final Thread thread;
    private volatile boolean closed;

    SelectorChecks() {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        thread = Thread.ofPlatform().daemon().name("nodelb-checks").start(this::loop);
    }

    /** Whether this loop runs {@code check}'s kind: TCP and HTTP, not HTTPS. */
    static boolean handles(HealthCheck check) {
        return check.getType() == HealthCheck.Type.TCP || check.getType() == HealthCheck.Type.HTTP;
    }

    /**
     * Checks {@code address:port} every interval until cancelled, bound to {@code source} (read
     * at each check; null: any); {@code onResult} runs on the loop's thread and must be quick.
     */
    Job start(Probe probe, InetAddress address, int port, Supplier<InetAddress> source,
              Consumer<Probe.Result> onResult) {
        Job job = new Job(probe, address, port, source, onResult);
        commands.add(job);
        selector.wakeup();
        return job;
    }

    private void loop() {
        while (!closed) {
            try {
                Job command;
                while ((command = commands.poll()) != null) {
                    if (command.cancelled) {
                        drop(command);
                    } else if (command.turn == 0) {
                        // New: a random start within one interval, so checks of many backends spread out.
                        command.turn = 1;
                        starts.add(new Due(System.nanoTime()
                                + ThreadLocalRandom.current().nextLong(Math.max(1, command.interval)), command, 1));
                    }
                }
                long now = System.nanoTime();
                Due due;
                // Checks start up to SLACK early (the schedule only ever brings them forward) and
                // time out up to SLACK late: the loop wakes for timers about 1/SLACK a second, not
                // once for each of thousands of checks.
                while ((due = starts.peek()) != null && due.at - now <= SLACK) {
                    starts.poll();
                    if (due.job.turn == due.turn && !due.job.cancelled) {
                        begin(due.job, now);
                    }
                }
                while ((due = deadlines.peek()) != null && due.at - now <= 0) {
                    deadlines.poll();
                    Job job = due.job;
                    if (job.turn == due.turn && !job.cancelled) {
                        end(job, now, false, "connect: " + (job.channel.isConnected() ? "Read timed out"
                                : "Connect timed out"));
                    }
                }
                long next = Long.MAX_VALUE;
                if (!starts.isEmpty()) {
                    next = starts.peek().at - SLACK;
                }
                if (!deadlines.isEmpty()) {
                    next = Math.min(next, deadlines.peek().at);
                }
                long wait = next == Long.MAX_VALUE ? 0
                        : Math.max(SLACK, next - System.nanoTime()) / 1_000_000;
                selector.select(this::ready, wait);
            } catch (IOException | RuntimeException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "health checks: " + e.getMessage(), e);
                }
            }
        }
        deadlines.forEach(d -> close(d.job));
        try {
            selector.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    /** Opens the check's connection; a loopback connect may be done at once. */
    private void begin(Job job, long now) {
        job.started = now;
        job.turn++;
        try {
            SocketChannel channel = SocketChannel.open(job.target.getAddress() instanceof Inet4Address
                    ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6);
            job.channel = channel;
            channel.configureBlocking(false);
            InetAddress from = job.source.get();
            if (from != null) {
                channel.bind(new InetSocketAddress(from, 0));
            }
            deadlines.add(new Due(now + job.probe.timeout().toNanos(), job, job.turn));
            // On loopback or a near backend the handshake is often done by the time connect
            // returns: asking at once saves registering with the selector.
            if (channel.connect(job.target) || channel.finishConnect()) {
                connected(job);
            } else {
                job.key = channel.register(selector, SelectionKey.OP_CONNECT, job);
            }
        } catch (IOException | RuntimeException e) {
            end(job, System.nanoTime(), false, "connect: " + message(e));
        }
    }

    private void ready(SelectionKey key) {
        Job job = (Job) key.attachment();
        try {
            if (job.cancelled) {
                drop(job);
            } else if (key.isConnectable()) {
                if (job.channel.finishConnect()) {
                    connected(job);
                }
            } else if (key.isWritable()) {
                write(job);
            } else if (key.isReadable()) {
                read(job);
            }
        } catch (CancelledKeyException e) {
            // closed since it was selected
        } catch (IOException | RuntimeException e) {
            end(job, System.nanoTime(), false, "connect: " + message(e));
        }
    }

    private void connected(Job job) throws IOException {
        if (job.request == null) {
            end(job, System.nanoTime(), true, "ok");
            return;
        }
        job.out = ByteBuffer.wrap(job.request);
        write(job);
    }

    private void write(Job job) throws IOException {
        job.channel.write(job.out);
        int interest = job.out.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ;
        if (job.key == null) {
            job.key = job.channel.register(selector, interest, job);
        } else {
            job.key.interestOps(interest);
        }
    }

    /** Reads the status line: up to its end of line, the end of the stream, or STATUS_LINE_MAX characters. */
    private void read(Job job) throws IOException {
        if (job.status == null) {
            job.status = new StringBuilder();
        }
        readBuffer.clear().limit(Math.max(1, Probe.STATUS_LINE_MAX - job.status.length()));
        int n = job.channel.read(readBuffer);
        if (n == 0) {
            return;
        }
        boolean complete = n < 0;
        readBuffer.flip();
        while (readBuffer.hasRemaining() && !complete) {
            char c = (char) (readBuffer.get() & 0xff);
            if (c == '\n') {
                complete = true;
            } else if (c != '\r') {
                job.status.append(c);
            }
        }
        if (complete || job.status.length() >= Probe.STATUS_LINE_MAX) {
            String reason = job.probe.judge(job.status.toString());
            end(job, System.nanoTime(), reason == null, reason == null ? "ok" : reason);
        }
    }

    /** A check's result: reported, its connection closed, the next check queued. */
    private void end(Job job, long now, boolean ok, String reason) {
        close(job);
        job.turn++;
        if (job.cancelled) {
            return;
        }
        try {
            job.onResult.accept(new Probe.Result(ok, now - job.started, reason));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "health check result for " + job.target + ": " + e.getMessage(), e);
        }
        // Up to 15 % early, never late: two checks are at most one interval apart.
        double jitter = 0.85 + 0.15 * ThreadLocalRandom.current().nextDouble();
        starts.add(new Due(now + (long) (job.interval * jitter), job, job.turn));
    }

    private void drop(Job job) {
        close(job);
        job.turn++;
    }

    private static void close(Job job) {
        SocketChannel channel = job.channel;
        job.channel = null;
        job.key = null;
        job.out = null;
        job.status = null;
        if (channel != null) {
            try {
                if (channel.isConnected()) {
                    // The check has what it wanted: reset rather than FIN, as HAProxy does, so
                    // that neither end keeps the connection in TIME_WAIT.
                    channel.setOption(StandardSocketOptions.SO_LINGER, 0);
                }
                channel.close();
            } catch (IOException e) {
                // closed anyway
            }
        }
    }

    private static String message(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** Stops every check and the loop (a second at most). */
    @Override
    public void close() {
        closed = true;
        selector.wakeup();
        try {
            thread.join(Duration.ofSeconds(1));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
