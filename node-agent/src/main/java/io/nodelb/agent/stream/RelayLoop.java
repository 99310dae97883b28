package io.nodelb.agent.stream;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * One event loop (a platform thread and an epoll instance) that opens and relays connections,
 * both ways, on non-blocking sockets through {@link Sockets}' system calls: each pass reads each
 * ready socket once and writes what it read to the other side at once, so connections take turns
 * (none waits behind another's bulk transfer) and a wait for data costs no thread switch. Reads go
 * through one buffer per loop; only what the other side cannot take now is kept, per direction,
 * and that direction stops reading until it is written. An end of stream is passed on as a
 * half-close; a connection ends when both ways have, or at the first error (both sockets closed).
 *
 * <p>Without the splice, the loops also open the connections: all poll a listener's one listening
 * socket, and the kernel wakes one of those waiting per new connection (EPOLLEXCLUSIVE), which
 * accepts it, reads the ClientHello, connects to the backend and sends it the opening: a
 * connection never changes thread. A step that waits past its deadline
 * ({@link StreamListeners#HELLO_WAIT}, {@link StreamListeners#CONNECT_TIMEOUT}) ends it.
 *
 * <p>The loop alone closes the sockets it polls (other threads ask it to, by a task): an fd's
 * number is reused at once, and a socket closed under the loop could be another one by its next
 * read. An event carries a token of its socket's registration, so an event of a closed socket is
 * not taken for one of a new socket with the same number.
 */
final class RelayLoop implements Runnable {
    private static final System.Logger LOG = System.getLogger(RelayLoop.class.getName());
    /** The most one read takes (then the next connection's turn). */
    static final int READ_BYTES = 64 * 1024;
    /** The most connections one readiness of a listening socket accepts. */
    private static final int ACCEPT_BATCH = 16;
    /** The most events one wait returns. */
    private static final int EVENTS = 256;

    /**
     * What the loop reports back (bytes copied by the agent, a connection that ended) and asks of
     * the listeners while it opens a connection.
     */
    interface Events {
        void copied(long bytes);

        void ended(StreamConnection connection);

        /** Its first bytes are decided: chooses its group and backend; false: closed (counted). */
        boolean route(Opening opening) throws IOException;

        /** Its backend connected: the connection from now on (counted, live, its new flow out). */
        StreamConnection connected(Opening opening);

        /** The bytes the backend gets first: the PROXY header, if any, and the client's first bytes. */
        ByteBuffer opening(Opening opening);

        /** It ended before its backend connected, with this outcome. */
        void refused(Opening opening, String outcome);
    }

    /** A socket the loop polls: what it is (an {@link Acceptor}, an {@link Opening}, a {@link Side}) and for what. */
    static final class Watch {
        final int fd;
        /** The registration: its fd and a sequence number, returned with its events. */
        final long token;
        Object target;
        /** EPOLLIN, EPOLLOUT: what it is polled for (0: not polled). */
        int events;

        Watch(int fd, long token, Object target) {
            this.fd = fd;
            this.token = token;
            this.target = target;
        }
    }

    /** A listening socket this loop accepts from, its address, and the listener it serves now. */
    private record Acceptor(int fd, InetSocketAddress address, Supplier<StreamListeners.Serving> serving) {}

    private static final Object WAKE = new Object();

    private final Sockets calls = new Sockets();
    private final int epoll;
    private final int wake;
    private final MemorySegment ready = Arena.ofAuto().allocate((long) EVENTS * Sockets.EPOLL_EVENT_SIZE, 8);
    /** The watches by fd. */
    private Watch[] watches = new Watch[1024];
    /** Sockets watched (the wake-up's eventfd not counted). */
    private int watched;
    private int registrations;
    /** Work for the loop's thread, from other threads. */
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    /** A wake-up is under way: other threads need not signal again. */
    private final AtomicBoolean signalled = new AtomicBoolean();
    /** The connections it opens now, for their deadlines. */
    private final Set<Opening> openings = new HashSet<>();
    /**
     * While there are openings, none has a deadline before this (it may be earlier than the
     * earliest: a pass then looks and sets it again), so a pass does not look at each of them.
     */
    private long firstDeadlineNs;
    private final byte[] read = new byte[READ_BYTES];
    private final Events events;
    private volatile boolean closing;

    RelayLoop(Events events) throws IOException {
        this.events = events;
        this.epoll = calls.epollCreate();
        try {
            this.wake = calls.eventFd();
            calls.poll(epoll, wake, false, Sockets.EPOLLIN, wake);
        } catch (IOException e) {
            calls.close(epoll, false);
            throw e;
        }
        watches[wake] = new Watch(wake, wake, WAKE);
    }

    /** One socket of a relayed connection and what waits to be written to it. */
    private static final class Side {
        final StreamConnection connection;
        final StreamSocket socket;
        final int fd;
        final boolean toBackend; // what is read here goes to the backend
        Side peer;
        Watch watch;
        /** Read from the peer, not written here yet: {@code pending[pendingAt, pendingEnd)}. */
        byte[] pending;
        int pendingAt;
        int pendingEnd;
        boolean ended; // end of stream read here
        boolean shut; // the peer's end of stream passed on here

        Side(StreamConnection connection, StreamSocket socket, boolean toBackend) {
            this.connection = connection;
            this.socket = socket;
            this.fd = socket.fd();
            this.toBackend = toBackend;
        }

        boolean waiting() {
            return pendingAt < pendingEnd;
        }
    }

    /** Relays {@code c} from now on: its sockets connected, the opening already sent to the backend. */
    void relay(StreamConnection c) {
        c.owner = this;
        submit(() -> register(c));
    }

    /**
     * Accepts from the listening socket {@code fd} (non-blocking) on {@code address} from now on,
     * with the other loops: of those waiting, the kernel wakes one per connection.
     */
    void listen(int fd, InetSocketAddress address, Supplier<StreamListeners.Serving> serving) {
        submit(() -> {
            try {
                poll(watch(fd, new Acceptor(fd, address, serving)), Sockets.EPOLLIN | Sockets.EPOLLEXCLUSIVE);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "listening on " + address + ": " + e.getMessage());
            }
        });
    }

    /** Stops accepting from {@code fd}; the last of its {@code pollers} to stop closes it. */
    void unlisten(int fd, AtomicInteger pollers) {
        submit(() -> {
            Watch w = fd < watches.length ? watches[fd] : null;
            if (w != null && w.target instanceof Acceptor) {
                unwatch(w);
                try {
                    calls.poll(epoll, fd, true, 0, w.token); // not woken for it while another loop closes it
                } catch (IOException e) {
                    // not polled
                }
            }
            if (pollers.decrementAndGet() == 0) {
                calls.close(fd, false);
            }
        });
    }

    /** Closes {@code c} abortively (idle) and reports its end, unless it ended meanwhile. */
    void abort(StreamConnection c) {
        submit(() -> {
            int fd = c.client().fd();
            if (fd >= 0 && fd < watches.length && watches[fd] != null && watches[fd].target instanceof Side s
                    && s.connection == c) {
                unwatch(s.watch);
                unwatch(s.peer.watch);
                c.closeBoth(true);
                events.ended(c);
            }
        });
    }

    /** Stops once the connections it relays now have ended and its listening sockets are closed. */
    void close() {
        closing = true;
        wakeup();
    }

    /** Runs {@code task} on the loop's thread, soon. */
    void submit(Runnable task) {
        tasks.add(task);
        wakeup();
    }

    private void wakeup() {
        if (signalled.compareAndSet(false, true)) {
            Sockets.signal(wake);
        }
    }

    @Override
    public void run() {
        try {
            while (!(closing && watched == 0 && tasks.isEmpty())) {
                int n = calls.epollWait(epoll, ready, EVENTS, closing ? 100 : untilDeadlineMs());
                for (int i = 0; i < n; i++) {
                    ready(Sockets.dataAt(ready, i), Sockets.eventsAt(ready, i));
                }
                for (Runnable task; (task = tasks.poll()) != null; ) {
                    task.run();
                }
                if (!openings.isEmpty() && System.nanoTime() - firstDeadlineNs >= 0) {
                    expire(System.nanoTime());
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "stream relay loop stopped: " + e);
            for (Watch w : watches) {
                switch (w == null ? null : w.target) {
                    case Side side -> fail(side);
                    case Opening o -> close(o);
                    case Acceptor a -> {
                        unwatch(w);
                        calls.close(a.fd, false);
                    }
                    case null, default -> { } // the wake-up's eventfd, closed below
                }
            }
        } finally {
            calls.close(wake, false);
            calls.close(epoll, false);
        }
    }

    private void ready(long token, int ready) {
        int fd = (int) token;
        Watch w = fd < watches.length ? watches[fd] : null;
        if (w == null || w.token != token) {
            return; // its socket was closed earlier in this pass
        }
        // An error or a hang-up is for whatever it is polled for: that call reports it.
        int ops = ready & (Sockets.EPOLLIN | Sockets.EPOLLOUT);
        if ((ready & (Sockets.EPOLLERR | Sockets.EPOLLHUP)) != 0) {
            ops |= w.events;
        }
        switch (w.target) {
            case Side side -> relayReady(side, ops);
            case Opening opening -> openReady(w, opening);
            case Acceptor acceptor -> accept(acceptor);
            default -> {
                // Drained first, then cleared: a signal written after the drain wakes the next wait,
                // and a task added before the clear runs in this pass (the tasks run after the events).
                calls.drain(wake);
                signalled.set(false);
            }
        }
    }

    private void relayReady(Side side, int ops) {
        boolean ok = ((ops & Sockets.EPOLLOUT) == 0 || flush(side)) && ((ops & Sockets.EPOLLIN) == 0 || copy(side));
        if (!ok) {
            fail(side);
        } else if (side.shut && side.peer.shut) {
            end(side);
        } else {
            try {
                interest(side);
                interest(side.peer);
            } catch (IOException e) {
                fail(side);
            }
        }
    }

    /** Accepts what waits, a bounded batch per readiness so connections being relayed get their turn. */
    private void accept(Acceptor acceptor) {
        for (int i = 0; i < ACCEPT_BATCH; i++) {
            int fd;
            try {
                fd = calls.accept(acceptor.fd);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "accept on " + acceptor.address + ": " + e.getMessage());
                return;
            }
            if (fd < 0) {
                return;
            }
            StreamSocket client = new StreamSocket.Fd(fd, calls);
            Opening o;
            try {
                // TCP_NODELAY comes from the listening socket.
                o = new Opening(acceptor.serving.get(), client, calls.peer(), acceptor.address, System.nanoTime());
            } catch (IOException | RuntimeException e) {
                client.close(false);
                continue;
            }
            o.loop = this;
            o.clientWatch = watch(fd, o);
            openings.add(o);
            deadline(o, o.deadlineNs);
            try {
                poll(o.clientWatch, Sockets.EPOLLIN);
            } catch (IOException e) {
                close(o);
            }
        }
    }

    private void openReady(Watch w, Opening o) {
        if (w == o.clientWatch) {
            try {
                if (o.upstream != null) {
                    // It sent more while its backend connects: that waits in its socket for the relay.
                    // Turned off only now, as most clients send nothing then (two epoll_ctl saved).
                    poll(w, 0);
                    return;
                }
                readHello(o);
            } catch (IOException | RuntimeException e) {
                close(o); // the client went away mid-way: nothing to count, as with a blocking read
            }
            return;
        }
        int error;
        try {
            error = calls.connectResult(o.upstream.fd());
        } catch (IOException e) {
            error = calls.errno();
        }
        if (error != 0) {
            refuse(o, "connect_failed");
        } else {
            connected(o);
        }
    }

    /** Reads what the client sent; once its first bytes are decided, routes and connects it. */
    private void readHello(Opening o) throws IOException {
        o.makeRoom();
        int n = calls.read(o.client.fd(), o.first, o.length, o.first.length - o.length);
        if (n == Sockets.WOULD_BLOCK) {
            return;
        }
        if (n == Sockets.FAILED) {
            close(o);
            return;
        }
        if (n == 0) {
            refuse(o, "closed");
            return;
        }
        o.length += n;
        o.hello = ClientHello.parse(o.first, o.length);
        if (o.hello.status() == ClientHello.Status.NEED_MORE) {
            return;
        }
        if (!events.route(o)) {
            close(o);
            return;
        }
        deadline(o, System.nanoTime() + StreamListeners.CONNECT_TIMEOUT.toNanos());
        boolean now;
        try {
            int fd = calls.socket(o.backend.getAddress() instanceof Inet4Address ? Sockets.AF_INET : Sockets.AF_INET6);
            o.upstream = new StreamSocket.Fd(fd, calls);
            calls.noDelay(fd);
            now = calls.connect(fd, o.backend);
            if (!now) {
                o.upstreamWatch = watch(fd, o);
                poll(o.upstreamWatch, Sockets.EPOLLOUT);
            }
        } catch (IOException e) {
            refuse(o, "connect_failed");
            return;
        }
        if (now) {
            connected(o);
        }
    }

    /** Sends the backend the opening and relays the connection from here, on the same watches. */
    private void connected(Opening o) {
        openings.remove(o);
        StreamConnection c = events.connected(o);
        Side client = new Side(c, o.client, true);
        Side upstream = new Side(c, o.upstream, false);
        client.peer = upstream;
        upstream.peer = client;
        client.watch = o.clientWatch;
        client.watch.target = client;
        upstream.watch = o.upstreamWatch != null ? o.upstreamWatch : watch(upstream.fd, upstream);
        upstream.watch.target = upstream;
        ByteBuffer opening = events.opening(o);
        upstream.pending = opening.array();
        upstream.pendingAt = opening.arrayOffset() + opening.position();
        upstream.pendingEnd = upstream.pendingAt + opening.remaining();
        try {
            if (!flush(upstream)) {
                throw new IOException("sending the opening failed");
            }
            interest(client);
            interest(upstream);
        } catch (IOException e) {
            c.failed();
            fail(client);
        }
    }

    /** Relays a connection opened elsewhere (the splice's path, when the splice cannot take it). */
    private void register(StreamConnection c) {
        Side client = new Side(c, c.client(), true);
        Side upstream = new Side(c, c.upstream(), false);
        client.peer = upstream;
        upstream.peer = client;
        try {
            for (Side s : new Side[] {client, upstream}) {
                if (s.fd < 0) {
                    throw new IOException("no fd");
                }
                if (s.socket instanceof StreamSocket.Channel ch) {
                    ch.channel().configureBlocking(false);
                }
                s.watch = watch(s.fd, s);
            }
            interest(client);
            interest(upstream);
        } catch (IOException | RuntimeException e) {
            fail(client); // closed meanwhile (the idle check) or not pollable
        }
    }

    private Watch watch(int fd, Object target) {
        if (fd >= watches.length) {
            watches = Arrays.copyOf(watches, Math.max(fd + 1, 2 * watches.length));
        }
        Watch w = new Watch(fd, ((long) ++registrations << 32) | fd, target);
        watches[fd] = w;
        watched++;
        return w;
    }

    /** Polls {@code w} for {@code events} from now on (0: not at all, as the JDK's selector does). */
    private void poll(Watch w, int events) throws IOException {
        if (w.events != events) {
            calls.poll(epoll, w.fd, w.events != 0, events, w.token);
            w.events = events;
        }
    }

    /**
     * Forgets {@code w}, before its socket closes. Closing an fd takes it out of the epoll set; a
     * channel's fd is taken out first, in case the JDK keeps a copy of it.
     */
    private void unwatch(Watch w) {
        if (w == null || watches[w.fd] != w) {
            return;
        }
        watches[w.fd] = null;
        watched--;
        if (w.events != 0 && w.target instanceof Side s && s.socket instanceof StreamSocket.Channel) {
            try {
                calls.poll(epoll, w.fd, true, 0, w.token);
            } catch (IOException e) {
                // not polled any more
            }
        }
    }

    /** Sets o's deadline, and the loop's first one if it comes sooner (or o is the only opening). */
    private void deadline(Opening o, long deadlineNs) {
        o.deadlineNs = deadlineNs;
        if (openings.size() == 1 || deadlineNs - firstDeadlineNs < 0) {
            firstDeadlineNs = deadlineNs;
        }
    }

    /** Ends the openings past their deadline; the earliest deadline left is the next to look at. */
    private void expire(long nowNs) {
        long first = nowNs + StreamListeners.HELLO_WAIT.toNanos() + StreamListeners.CONNECT_TIMEOUT.toNanos();
        for (Opening o : openings.toArray(new Opening[0])) {
            if (nowNs - o.deadlineNs >= 0) {
                refuse(o, o.upstream == null ? "timeout" : "connect_failed");
            } else if (o.deadlineNs - first < 0) {
                first = o.deadlineNs;
            }
        }
        firstDeadlineNs = first;
    }

    /** How long a wait may take: until the first opening's deadline; -1: no limit. */
    private int untilDeadlineMs() {
        if (openings.isEmpty()) {
            return -1;
        }
        return (int) Math.max(1, (firstDeadlineNs - System.nanoTime()) / 1_000_000 + 1);
    }

    private void refuse(Opening o, String outcome) {
        events.refused(o, outcome);
        close(o);
    }

    private void close(Opening o) {
        openings.remove(o);
        unwatch(o.clientWatch);
        unwatch(o.upstreamWatch);
        o.client.close(false);
        if (o.upstream != null) {
            o.upstream.close(false);
        }
    }

    /**
     * Reads {@code from} once and writes what it read to its peer; keeps what the peer cannot take.
     * False on an error.
     */
    private boolean copy(Side from) {
        Side to = from.peer;
        int n = calls.read(from.fd, read, 0, READ_BYTES);
        if (n == 0) {
            from.ended = true;
            from.connection.ended(from.socket);
            return to.waiting() || shut(to);
        }
        if (n < 0) {
            return n == Sockets.WOULD_BLOCK;
        }
        from.connection.copied(n, from.toBackend);
        events.copied(n);
        int written = calls.write(to.fd, read, 0, n);
        if (written < 0) {
            return false;
        }
        int left = n - written;
        if (left > 0) {
            if (to.pending == null || to.pending.length < left) {
                to.pending = new byte[Math.max(left, 16 * 1024)];
            }
            System.arraycopy(read, written, to.pending, 0, left);
            to.pendingAt = 0;
            to.pendingEnd = left;
        }
        return true;
    }

    /**
     * Writes what waits for {@code to}; once all is written, passes on an end of stream read
     * meanwhile. False on an error.
     */
    private boolean flush(Side to) {
        if (!to.waiting()) {
            return true;
        }
        int written = calls.write(to.fd, to.pending, to.pendingAt, to.pendingEnd - to.pendingAt);
        if (written < 0) {
            return false;
        }
        to.pendingAt += written;
        return to.waiting() || !to.peer.ended || shut(to);
    }

    private boolean shut(Side to) {
        if (!to.shut) {
            if (!calls.shutdownOutput(to.fd)) {
                return false;
            }
            to.shut = true;
            to.connection.halfClosed(to.socket);
        }
        return true;
    }

    /** Reads a side while its peer has nothing waiting; writes while it has something waiting. */
    private void interest(Side s) throws IOException {
        poll(s.watch, (!s.ended && !s.peer.waiting() ? Sockets.EPOLLIN : 0) | (s.waiting() ? Sockets.EPOLLOUT : 0));
    }

    /** Both ways ended: counters first, then the sockets close. */
    private void end(Side side) {
        StreamConnection c = side.connection;
        unwatch(side.watch);
        unwatch(side.peer.watch);
        c.closeBoth(false);
        events.ended(c);
    }

    /** A read or write failed: both sockets close; a reset only when a socket's state says so. */
    private void fail(Side side) {
        StreamConnection c = side.connection;
        c.failedIfReset();
        unwatch(side.watch);
        unwatch(side.peer.watch);
        c.closeBoth(false);
        events.ended(c);
    }
}
