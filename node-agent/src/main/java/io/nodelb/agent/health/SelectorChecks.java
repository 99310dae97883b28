package io.nodelb.agent.health;

import io.nodelb.dataplane.v1alpha1.HealthCheck;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * TCP and plain HTTP checks of many backends from one platform thread: non-blocking connects,
 * request writes and status-line reads through one epoll set ({@link CheckSockets}, libc through
 * FFM: half the system calls of a {@code SocketChannel} per check), and one timer queue for the
 * jittered schedule and the timeouts. A thread per backend (a virtual one that sleeps,
 * connects and parks) cost a core for 10,000 checks a second; here a check is a few system
 * calls and no thread hand-off. HTTPS checks stay with {@link Probe#run} on virtual threads.
 *
 * <p>The schedule is {@link Probe#run}'s: a random start within the first interval, then the
 * next check an interval after a result, up to 15 % early and never late. Every check opens a
 * connection of its own: one kept alive between checks would go on answering from a server
 * that no longer accepts new connections (closed its listener, or its backlog is full), which
 * is what the traffic balanced to it needs.
 */
final class SelectorChecks implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(SelectorChecks.class.getName());

    /** One backend's recurring check; {@link #cancel} stops it (a check under way is dropped). */
    final class Job {
        private final Probe probe;
        private final byte[] target;
        private final Supplier<InetAddress> source;
        private final Consumer<Probe.Result> onResult;
        private final long interval;
        private final byte[] request;
        private volatile boolean cancelled;
        // The rest is the selector thread's own.
        /** Where this job is in {@link #slots}; -1 before it is added. */
        private int slot = -1;
        private int fd = -1;
        private boolean connected;
        private int written;
        private final StringBuilder status = new StringBuilder();
        private long started;
        /** Bumped by every state change: queue entries of an older one are stale. */
        private long turn;
        /** The source address last bound, and its sockaddr. */
        private InetAddress from;
        private byte[] fromAddress;

        private Job(Probe probe, InetAddress address, int port, Supplier<InetAddress> source,
                    Consumer<Probe.Result> onResult) {
            this.probe = probe;
            this.target = CheckSockets.sockaddr(address, probe.port(port));
            this.source = source;
            this.onResult = onResult;
            this.interval = Probe.interval(probe.check()).toNanos();
            this.request = probe.check().getType() == HealthCheck.Type.HTTP ? probe.request(address, probe.port(port))
                    : null;
        }

        void cancel() {
            cancelled = true;
            commands.add(this); // the loop closes a check under way
            sockets.wakeup();
        }

        private String name() {
            return probe.check().getType() + " check of port " + (((target[2] & 0xff) << 8) | (target[3] & 0xff));
        }
    }

    /** When {@code job} is due (to start a check, or to time one out), as of its {@code turn}. */
    private record Due(long at, Job job, long turn) {}

    private final CheckSockets sockets = new CheckSockets(Math.max(Probe.STATUS_LINE_MAX, 4096));
    private final Queue<Job> commands = new ConcurrentLinkedQueue<>();
    /** How far a check may start early, or a timeout fire late, to batch the loop's wake-ups. */
    static final long SLACK = Duration.ofMillis(5).toNanos();
    /** When checks are due to start, and when those under way time out; stale entries are skipped. */
    private final PriorityQueue<Due> starts = new PriorityQueue<>((a, b) -> Long.compare(a.at, b.at));
    private final PriorityQueue<Due> deadlines = new PriorityQueue<>((a, b) -> Long.compare(a.at, b.at));
    /** Every job by slot, the epoll data of its socket (with the fd); freed slots are reused. */
    private final List<Job> slots = new ArrayList<>();
    private final ArrayDeque<Integer> freeSlots = new ArrayDeque<>();
    private final Thread thread;
    private volatile boolean closed;

    SelectorChecks() {
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
        sockets.wakeup();
        return job;
    }

    private void loop() {
        try {
            while (!closed) {
                try {
                    step();
                } catch (RuntimeException e) {
                    if (!closed) {
                        LOG.log(System.Logger.Level.WARNING, "health checks: " + e.getMessage(), e);
                    }
                }
            }
        } finally {
            slots.forEach(job -> {
                if (job != null) {
                    close(job);
                }
            });
            sockets.close();
        }
    }

    /** Commands, then due timers, then the sockets that are ready (waiting for them until the next timer). */
    private void step() {
        Job command;
        while ((command = commands.poll()) != null) {
            if (command.cancelled) {
                drop(command);
            } else if (command.turn == 0) {
                // New: a random start within one interval, so checks of many backends spread out.
                command.turn = 1;
                command.slot = freeSlots.isEmpty() ? slots.size() : freeSlots.poll();
                if (command.slot == slots.size()) {
                    slots.add(command);
                } else {
                    slots.set(command.slot, command);
                }
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
                end(job, now, false, "connect: " + (job.connected ? "Read timed out" : "Connect timed out"));
            }
        }
        long next = Long.MAX_VALUE;
        if (!starts.isEmpty()) {
            next = starts.peek().at - SLACK;
        }
        if (!deadlines.isEmpty()) {
            next = Math.min(next, deadlines.peek().at);
        }
        int wait = next == Long.MAX_VALUE ? -1
                : (int) Math.min(Integer.MAX_VALUE, Math.max(SLACK, next - System.nanoTime()) / 1_000_000);
        int n = sockets.await(wait);
        if (n == -CheckSockets.EINTR) {
            return;
        }
        if (n < 0) {
            throw new IllegalStateException("epoll_wait: " + CheckSockets.message(-n));
        }
        for (int i = 0; i < n; i++) {
            ready(sockets.data(i), sockets.flags(i));
        }
    }

    /** Opens the check's connection; the socket says in the epoll set when it is connected and answered. */
    private void begin(Job job, long now) {
        job.started = now;
        job.turn++;
        job.connected = false;
        job.written = 0;
        job.status.setLength(0);
        InetAddress from = job.source.get();
        if (from != job.from) {
            job.from = from;
            job.fromAddress = from == null ? null : CheckSockets.sockaddr(from, 0);
        }
        deadlines.add(new Due(now + job.probe.timeout().toNanos(), job, job.turn));
        // Edge-triggered: one event when the connect is done, one when the answer arrives.
        int interest = CheckSockets.EPOLLOUT | (job.request == null ? 0 : CheckSockets.EPOLLIN | CheckSockets.EPOLLET);
        int fd = sockets.open(job.target, job.fromAddress, interest, job.slot);
        if (fd < 0) {
            end(job, System.nanoTime(), false, "connect: " + CheckSockets.message(-fd));
        } else {
            job.fd = fd;
        }
    }

    /** A socket's events: connected (or not), the request written, the status line read. */
    private void ready(long data, int flags) {
        if (data == CheckSockets.WAKEUP) {
            sockets.woken();
            return;
        }
        int slot = (int) (data >>> 32);
        Job job = slot < slots.size() ? slots.get(slot) : null;
        if (job == null || job.fd != (int) data) {
            return; // a check that has ended since
        }
        if (job.cancelled) {
            drop(job);
            return;
        }
        if (!job.connected) {
            int error = (flags & (CheckSockets.EPOLLERR | CheckSockets.EPOLLHUP)) != 0 ? sockets.error(job.fd) : 0;
            if (error != 0) {
                end(job, System.nanoTime(), false, "connect: " + CheckSockets.message(error));
                return;
            }
            if ((flags & CheckSockets.EPOLLOUT) == 0) {
                return;
            }
            job.connected = true;
            if (job.request == null) {
                end(job, System.nanoTime(), true, "ok");
                return;
            }
        }
        if (job.written < job.request.length && !write(job)) {
            return;
        }
        if ((flags & (CheckSockets.EPOLLIN | CheckSockets.EPOLLHUP | CheckSockets.EPOLLERR)) != 0) {
            read(job);
        }
    }

    /** Writes what is left of the request; false when the check ended or must wait to write more. */
    private boolean write(Job job) {
        while (job.written < job.request.length) {
            int n = sockets.write(job.fd, job.request, job.written);
            if (n == -CheckSockets.EAGAIN) {
                return false; // the next edge says when there is room
            }
            if (n < 0) {
                end(job, System.nanoTime(), false, "connect: " + CheckSockets.message(-n));
                return false;
            }
            job.written += n;
        }
        return true;
    }

    /**
     * Reads the status line: up to its end of line, the end of the stream, or STATUS_LINE_MAX
     * characters. Edge-triggered: reads until the socket has no more.
     */
    private void read(Job job) {
        while (true) {
            int n = sockets.read(job.fd, Math.max(1, Probe.STATUS_LINE_MAX - job.status.length()));
            if (n == -CheckSockets.EAGAIN) {
                return;
            }
            if (n < 0) {
                end(job, System.nanoTime(), false, "connect: " + CheckSockets.message(-n));
                return;
            }
            boolean complete = n == 0;
            for (int i = 0; i < n && !complete; i++) {
                char c = (char) (sockets.readByte(i) & 0xff);
                if (c == '\n') {
                    complete = true;
                } else if (c != '\r') {
                    job.status.append(c);
                }
            }
            if (complete || job.status.length() >= Probe.STATUS_LINE_MAX) {
                String reason = job.probe.judge(job.status.toString());
                end(job, System.nanoTime(), reason == null, reason == null ? "ok" : reason);
                return;
            }
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
            LOG.log(System.Logger.Level.WARNING, "health check result of the " + job.name() + ": " + e.getMessage(), e);
        }
        // Up to 15 % early, never late: two checks are at most one interval apart.
        double jitter = 0.85 + 0.15 * ThreadLocalRandom.current().nextDouble();
        starts.add(new Due(now + (long) (job.interval * jitter), job, job.turn));
    }

    /** A cancelled job: its connection closed, its slot free for another. */
    private void drop(Job job) {
        close(job);
        job.turn++;
        if (job.slot >= 0 && slots.get(job.slot) == job) {
            slots.set(job.slot, null);
            freeSlots.add(job.slot);
        }
    }

    /** Closes the check's socket (SO_LINGER 0: a reset, as HAProxy does, so neither end keeps TIME_WAIT). */
    private void close(Job job) {
        if (job.fd >= 0) {
            sockets.close(job.fd);
            job.fd = -1;
        }
    }

    /** Stops every check and the loop (a second at most). */
    @Override
    public void close() {
        closed = true;
        sockets.wakeup();
        try {
            thread.join(Duration.ofSeconds(1));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
