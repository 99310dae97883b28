package io.nodelb.agent.stream;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.HashSet;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Supplier;

/**
 * One event loop (a platform thread and a selector) that relays the connections handed to it, both
 * ways, with non-blocking sockets: each pass reads each ready socket once and writes what it read to
 * the other side at once, so connections take turns (none waits behind another's bulk transfer) and
 * a wait for data costs no thread switch and no re-registration. Reads go through one buffer per
 * loop; only what the other side cannot take now is kept, per direction, and that direction stops
 * reading until it is written. An end of stream is passed on as a half-close; a connection ends when
 * both ways have, or at the first error (both sockets closed).
 *
 * <p>Without the splice, the loops also open the connections: each accepts from a listening socket
 * of its own (one SO_REUSEPORT group per listener), reads the ClientHello, connects to the backend
 * and sends it the opening, all non-blocking, and relays it: a connection never changes thread. A step that
 * waits past its deadline ({@link StreamListeners#HELLO_WAIT}, {@link StreamListeners#CONNECT_TIMEOUT})
 * ends it.
 */
final class RelayLoop implements Runnable {
    private static final System.Logger LOG = System.getLogger(RelayLoop.class.getName());
    /** The most one read takes (then the next connection's turn). */
    static final int READ_BYTES = 64 * 1024;
    /** The most connections one readiness of a listening socket accepts. */
    private static final int ACCEPT_BATCH = 16;

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

    /** A listening socket this loop accepts from, and the listener it serves now. */
    private record Acceptor(ServerSocketChannel socket, Supplier<StreamListeners.Serving> serving) {}

    private final Selector selector;
    /** Work for the loop's thread: registrations handed over by other threads. */
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    /** The connections it opens now, for their deadlines. */
    private final Set<Opening> openings = new HashSet<>();
    /**
     * While there are openings, none has a deadline before this (it may be earlier than the
     * earliest: a pass then looks and sets it again), so a pass does not look at each of them.
     */
    private long firstDeadlineNs;
    private final ByteBuffer read = ByteBuffer.allocateDirect(READ_BYTES);
    private final Events events;
    private volatile boolean closing;

    RelayLoop(Events events) throws IOException {
        this.selector = Selector.open();
        this.events = events;
    }

    /** One socket of a relayed connection and what waits to be written to it. */
    private static final class Side {
        final StreamConnection connection;
        final SocketChannel channel;
        final boolean toBackend; // what is read here goes to the backend
        Side peer;
        SelectionKey key;
        /** Read from the peer, not written here yet; null or empty: nothing waits. */
        ByteBuffer pending;
        boolean ended; // end of stream read here
        boolean shut; // the peer's end of stream passed on here

        Side(StreamConnection connection, SocketChannel channel, boolean toBackend) {
            this.connection = connection;
            this.channel = channel;
            this.toBackend = toBackend;
        }

        boolean waiting() {
            return pending != null && pending.hasRemaining();
        }
    }

    /** Relays {@code c} from now on: its sockets connected, the opening already sent to the backend. */
    void relay(StreamConnection c) {
        tasks.add(() -> register(c));
        selector.wakeup();
    }

    /** Accepts from {@code socket} (non-blocking) from now on; closing it stops that. */
    void listen(ServerSocketChannel socket, Supplier<StreamListeners.Serving> serving) {
        tasks.add(() -> {
            try {
                socket.register(selector, SelectionKey.OP_ACCEPT, new Acceptor(socket, serving));
            } catch (IOException | RuntimeException e) {
                // closed meanwhile: unbound
            }
        });
        selector.wakeup();
    }

    /** Makes it select again now: sockets closed elsewhere are released then. */
    void wakeup() {
        selector.wakeup();
    }

    /** Stops once the connections it relays now have ended. */
    void close() {
        closing = true;
        selector.wakeup();
    }

    @Override
    public void run() {
        try {
            while (!(closing && selector.keys().isEmpty() && tasks.isEmpty())) {
                // Closing, the keys of ended connections leave the set only in a select: look again soon.
                selector.select(this::ready, closing ? 100 : untilDeadlineMs());
                for (Runnable task; (task = tasks.poll()) != null; ) {
                    task.run();
                }
                if (!openings.isEmpty() && System.nanoTime() - firstDeadlineNs >= 0) {
                    expire(System.nanoTime());
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "stream relay loop stopped: " + e);
            for (SelectionKey k : selector.keys()) {
                switch (k.attachment()) {
                    case Side side -> fail(side);
                    case Opening o -> close(o);
                    default -> { } // a listening socket: its listener closes it
                }
            }
        } finally {
            try {
                selector.close();
            } catch (IOException e) {
                // nothing registered is left to release
            }
        }
    }

    private void register(StreamConnection c) {
        Side client = new Side(c, c.client(), true);
        Side upstream = new Side(c, c.upstream(), false);
        client.peer = upstream;
        upstream.peer = client;
        try {
            for (Side s : new Side[] {client, upstream}) {
                s.channel.configureBlocking(false);
                s.key = s.channel.register(selector, SelectionKey.OP_READ, s);
            }
        } catch (IOException | RuntimeException e) {
            fail(client); // closed meanwhile (the idle check) or not registrable
        }
    }

    private void ready(SelectionKey key) {
        if (!key.isValid()) {
            return; // its connection ended earlier in this pass
        }
        switch (key.attachment()) {
            case Side side -> relayReady(key, side);
            case Opening opening -> openReady(key, opening);
            case Acceptor acceptor -> accept(acceptor);
            default -> throw new IllegalStateException("unknown attachment " + key.attachment());
        }
    }

    private void relayReady(SelectionKey key, Side side) {
        try {
            if (key.isWritable()) {
                flush(side);
            }
            if (key.isValid() && key.isReadable()) {
                copy(side);
            }
            if (side.shut && side.peer.shut) {
                end(side);
            } else if (key.isValid()) {
                interest(side);
                interest(side.peer);
            }
        } catch (IOException | RuntimeException e) {
            fail(side);
        }
    }

    /** Accepts what waits, a bounded batch per readiness so connections being relayed get their turn. */
    private void accept(Acceptor acceptor) {
        for (int i = 0; i < ACCEPT_BATCH; i++) {
            SocketChannel client;
            try {
                client = acceptor.socket.accept();
            } catch (IOException e) {
                if (acceptor.socket.isOpen()) {
                    LOG.log(System.Logger.Level.WARNING, "accept on " + acceptor.socket.socket().getLocalSocketAddress() + ": " + e);
                }
                return;
            }
            if (client == null) {
                return;
            }
            Opening o = new Opening(acceptor.serving.get(), client, System.nanoTime());
            try {
                client.configureBlocking(false);
                client.setOption(StandardSocketOptions.TCP_NODELAY, true);
            } catch (IOException | RuntimeException e) {
                close(o);
                continue;
            }
            open(o);
        }
    }

    private void open(Opening o) {
        try {
            o.clientKey = o.client.register(selector, SelectionKey.OP_READ, o);
            openings.add(o);
            deadline(o, o.deadlineNs);
        } catch (IOException | RuntimeException e) {
            close(o);
        }
    }

    private void openReady(SelectionKey key, Opening o) {
        if (key == o.clientKey) {
            if (o.upstream != null) {
                // It sent more while its backend connects: that waits in its socket for the relay.
                // Turned off only now, as most clients send nothing then (two epoll_ctl saved).
                key.interestOps(0);
                return;
            }
            try {
                readHello(o);
            } catch (IOException | RuntimeException e) {
                close(o); // the client went away mid-way: nothing to count, as with a blocking read
            }
            return;
        }
        boolean done;
        try {
            done = o.upstream.finishConnect();
        } catch (IOException | RuntimeException e) {
            refuse(o, "connect_failed");
            return;
        }
        if (done) {
            connected(o);
        }
    }

    /** Reads what the client sent; once its first bytes are decided, routes and connects it. */
    private void readHello(Opening o) throws IOException {
        int n = o.client.read(o.unread());
        if (n < 0) {
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
            // Of the backend's family: an IPv4 socket needs no IPV6_V6ONLY set (one system call less).
            o.upstream = SocketChannel.open(o.backend.getAddress() instanceof Inet4Address
                    ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6);
            o.upstream.configureBlocking(false);
            o.upstream.setOption(StandardSocketOptions.TCP_NODELAY, true);
            now = o.upstream.connect(o.backend);
            if (!now) {
                o.upstreamKey = o.upstream.register(selector, SelectionKey.OP_CONNECT, o);
            }
        } catch (IOException e) {
            refuse(o, "connect_failed");
            return;
        }
        if (now) {
            connected(o);
        }
    }

    /** Sends the backend the opening and relays the connection from here, on the same keys. */
    private void connected(Opening o) {
        openings.remove(o);
        StreamConnection c = events.connected(o);
        Side client = new Side(c, o.client, true);
        Side upstream = new Side(c, o.upstream, false);
        client.peer = upstream;
        upstream.peer = client;
        client.key = o.clientKey;
        client.key.attach(client);
        try {
            upstream.key = o.upstreamKey != null ? o.upstreamKey : o.upstream.register(selector, 0, upstream);
            upstream.key.attach(upstream);
            upstream.pending = events.opening(o);
            flush(upstream);
            interest(client);
            interest(upstream);
        } catch (IOException | RuntimeException e) {
            c.failed();
            fail(client);
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

    /** How long a select may wait: until the first opening's deadline; 0: no limit. */
    private long untilDeadlineMs() {
        if (openings.isEmpty()) {
            return 0;
        }
        return Math.max(1, (firstDeadlineNs - System.nanoTime()) / 1_000_000 + 1);
    }

    private void refuse(Opening o, String outcome) {
        events.refused(o, outcome);
        close(o);
    }

    private void close(Opening o) {
        openings.remove(o);
        for (SocketChannel s : new SocketChannel[] {o.client, o.upstream}) {
            if (s == null) {
                continue;
            }
            try {
                s.close(); // cancels its key
            } catch (IOException e) {
                // closed already
            }
        }
    }

    /** Reads {@code from} once and writes what it read to its peer; keeps what the peer cannot take. */
    private void copy(Side from) throws IOException {
        Side to = from.peer;
        read.clear();
        int n = from.channel.read(read);
        if (n < 0) {
            from.ended = true;
            from.connection.ended(from.channel);
            if (!to.waiting()) {
                shut(to);
            }
            return;
        }
        if (n == 0) {
            return;
        }
        from.connection.copied(n, from.toBackend);
        events.copied(n);
        read.flip();
        to.channel.write(read);
        if (read.hasRemaining()) {
            if (to.pending == null || to.pending.capacity() < read.remaining()) {
                to.pending = ByteBuffer.allocate(Math.max(read.remaining(), 16 * 1024));
            }
            to.pending.clear();
            to.pending.put(read).flip();
        }
    }

    /** Writes what waits for {@code to}; once all is written, passes on an end of stream read meanwhile. */
    private void flush(Side to) throws IOException {
        if (!to.waiting()) {
            return;
        }
        to.channel.write(to.pending);
        if (!to.waiting() && to.peer.ended) {
            shut(to);
        }
    }

    private static void shut(Side to) throws IOException {
        if (!to.shut) {
            to.channel.shutdownOutput();
            to.shut = true;
            to.connection.halfClosed(to.channel);
        }
    }

    /** Reads a side while its peer has nothing waiting; writes while it has something waiting. */
    private static void interest(Side s) {
        int ops = (!s.ended && !s.peer.waiting() ? SelectionKey.OP_READ : 0) | (s.waiting() ? SelectionKey.OP_WRITE : 0);
        if (s.key.interestOps() != ops) {
            s.key.interestOps(ops);
        }
    }

    /** Both ways ended: counters first, then the sockets close. */
    private void end(Side side) {
        StreamConnection c = side.connection;
        c.finish();
        close(side);
        events.ended(c);
    }

    /** A read or write failed: both sockets close; a reset only when a socket's state says so. */
    private void fail(Side side) {
        StreamConnection c = side.connection;
        c.failedIfReset();
        c.closeBoth(false);
        close(side);
        events.ended(c);
    }

    private static void close(Side side) {
        for (Side s : new Side[] {side, side.peer}) {
            if (s.key != null) {
                s.key.cancel();
            }
            try {
                s.channel.close();
            } catch (IOException e) {
                // closed already
            }
        }
    }
}
