package io.nodelb.agent.stream;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.DesiredState.GroupRef;
import io.nodelb.agent.dataplane.DesiredState.StreamListener;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Supplier;
import io.nodelb.agent.bpf.Abi;

/**
 * Serves the stream listeners (TLS SNI routes, PROXY protocol) of the applied state: for each,
 * sockets bound to its address and port on the node, whose connections are routed by the
 * ClientHello's server name to a group, sent to a backend of that group's table (the one the XDP
 * program reads, so health, drains and weights apply), and relayed. Without the splice, the
 * {@link RelayLoop}s (one per core, non-blocking sockets) do all of it, from accept to close; with
 * the splice, virtual threads accept, read the ClientHello and connect, and the kernel relays.
 *
 * <p>Outcomes (the {@code outcome} label of {@code nodelb_stream_connections_total}):
 * {@code sni} a route matched; {@code default} a ClientHello without a name or with a name no route
 * matches, or a first byte that is not TLS: the listener's own group; {@code malformed} and
 * {@code too_large} (no whole ClientHello in {@link ClientHello#MAX_BYTES}) are closed; {@code timeout}
 * (no whole ClientHello within {@link #HELLO_WAIT}) and {@code closed} (the client closed first)
 * are closed; {@code no_backend} (the group's table is empty) and {@code connect_failed} are closed.
 */
public final class StreamListeners implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(StreamListeners.class.getName());

    /** How long a client has to send its whole ClientHello. */
    public static final Duration HELLO_WAIT = Duration.ofSeconds(5);
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    /** How long an end of stream waits for the kernel to forward what was spliced before it. */
    static final Duration FORWARD_WAIT = Duration.ofSeconds(30);
    private static final int BACKLOG = 1024;
    /** The data plane's default idle timeout of an established TCP flow (a listener's idleTimeouts.tcpEstablished overrides it). */
    static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofSeconds(900);
    static final Duration MIN_IDLE_CHECK = Duration.ofMillis(100);
    static final Duration MAX_IDLE_CHECK = Duration.ofSeconds(10);

    /** The backend id in slot {@code slot} of group {@code group}'s table; 0: none. */
    public interface Tables {
        int backendAt(int group, int slot);

        int tableSize();
    }

    private final Supplier<DesiredState> applied;
    private final Tables tables;
    private final LocalAddresses local;
    private final MeterRegistry metrics;
    private final Map<String, Bound> bound = new HashMap<>();
    /** The system calls of binding the relay loops' listening sockets (under this object's lock). */
    private final Sockets calls = new Sockets();
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();
    /** Loads the splice; called once, when the first listener binds (no stream listener, no BPF object). */
    private final Supplier<Splice> spliceLoader;
    private boolean spliceLoaded;
    /** Null: relayed in user space. */
    private volatile Splice splice;
    /** Bytes the relay copied through this process (what the splice did not take). */
    private final AtomicLong userSpaceBytes = new AtomicLong();
    private volatile boolean closed;
    /** Null: no flow events. */
    private final Consumer<Abi.Event> events;
    /** The connections relayed now (a backend connected), for the idle check and the active gauges. */
    private final Set<StreamConnection> live = ConcurrentHashMap.newKeySet();
    private final Map<String, Counter> idleCounters = new ConcurrentHashMap<>();
    private Thread idleCheck;
    /** The event loops that relay in user space, started with the first listener; the splice's fallback takes them in turn. */
    private RelayLoop[] loops = new RelayLoop[0];
    private final java.util.concurrent.atomic.AtomicInteger nextLoop = new java.util.concurrent.atomic.AtomicInteger();
    /** The shortest idle timeout of the listeners bound: it sets how often the idle check runs. */
    private volatile long shortestIdleTimeoutNs = DEFAULT_IDLE_TIMEOUT.toNanos();

    /**
     * @param applied the state programmed now: its stream listeners and its backends by id
     * @param metrics null: none
     */
    public StreamListeners(Supplier<DesiredState> applied, Tables tables, LocalAddresses local, MeterRegistry metrics,
            Supplier<Splice> spliceLoader) {
        this(applied, tables, local, metrics, spliceLoader, null);
    }

    /**
     * @param events where the flow events of listeners with {@code flowEvents} go (the agent's event
     *     consumer, as the data plane's records do); null: none
     */
    public StreamListeners(Supplier<DesiredState> applied, Tables tables, LocalAddresses local, MeterRegistry metrics,
            Supplier<Splice> spliceLoader, Consumer<Abi.Event> events) {
        this.events = events;
        this.applied = applied;
        this.tables = tables;
        this.local = local;
        this.metrics = metrics;
        this.spliceLoader = spliceLoader;
        if (metrics != null) {
            io.micrometer.core.instrument.FunctionCounter.builder("nodelb_stream_user_space_bytes", userSpaceBytes,
                    AtomicLong::doubleValue)
                    .description("Bytes of stream connections copied through the agent: the kernel splice takes the"
                            + " rest (all of it without the splice)")
                    .register(metrics);
        }
    }

    /**
     * A listener applied and its server names to groups, built once per listener applied rather
     * than for each connection.
     */
    record Serving(StreamListener listener, SniRoutes<GroupRef> routes) {
        Serving(StreamListener listener) {
            this(listener, new SniRoutes<>(listener.sniRoutes(), null));
        }
    }

    /**
     * A listener's listening socket: polled by all relay loops (which close it), or accepted from by
     * the splice's accept thread; and the listener it serves now (routes may change without a rebind).
     */
    private static final class Bound {
        /** The relay loops' socket; -1 with the splice. */
        final int fd;
        final ServerSocketChannel channel;
        volatile Serving serving;
        final boolean addedAddress;

        Bound(int fd, ServerSocketChannel channel, StreamListener listener, boolean addedAddress) {
            this.fd = fd;
            this.channel = channel;
            this.serving = new Serving(listener);
            this.addedAddress = addedAddress;
        }

        StreamListener listener() {
            return serving.listener();
        }
    }

    /** Binds the listeners of {@code state} not bound yet, closes those it no longer has. */
    public synchronized void reconcile(DesiredState state) {
        if (closed) {
            return;
        }
        Map<String, StreamListener> wanted = new HashMap<>();
        state.streams().values().forEach(s -> wanted.put(endpoint(s), s));
        bound.entrySet().removeIf(e -> {
            if (wanted.containsKey(e.getKey())) {
                return false;
            }
            unbind(e.getValue());
            return true;
        });
        wanted.forEach((endpoint, listener) -> {
            Bound b = bound.get(endpoint);
            if (b != null) {
                b.serving = new Serving(listener);
                return;
            }
            try {
                bound.put(endpoint, bind(listener));
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "stream listener " + listener.name() + " on " + endpoint
                        + " not bound: " + e.getMessage());
            }
        });
        long shortest = bound.values().stream().mapToLong(b -> idleTimeoutNs(b.listener())).min()
                .orElse(DEFAULT_IDLE_TIMEOUT.toNanos());
        if (shortest != shortestIdleTimeoutNs) {
            shortestIdleTimeoutNs = shortest;
            if (idleCheck != null) {
                java.util.concurrent.locks.LockSupport.unpark(idleCheck); // its next pass at the new interval
            }
        }
        local.releaseAllBut(bound.values().stream().map(b -> b.listener().address())
                .collect(java.util.stream.Collectors.toSet()));
    }

    private static String endpoint(StreamListener s) {
        return new InetSocketAddress(s.address(), s.port()).toString();
    }

    private Bound bind(StreamListener listener) throws IOException {
        if (!spliceLoaded) {
            spliceLoaded = true;
            splice = spliceLoader.get();
            idleCheck = Thread.ofVirtual().name("stream-idle-check").start(this::idleLoop);
            loops = startLoops(Runtime.getRuntime().availableProcessors());
        }
        boolean added = local.ensureLocal(listener.address());
        InetSocketAddress address = new InetSocketAddress(listener.address(), listener.port());
        Bound b;
        try {
            b = splice == null ? bindLoops(listener, address, added) : bindSplice(listener, address, added);
        } catch (IOException | RuntimeException e) {
            if (added) {
                local.release(listener.address());
            }
            throw e;
        }
        return b;
    }

    /**
     * Without the splice, one socket that every relay loop polls: the kernel wakes one of the loops
     * waiting per new connection (EPOLLEXCLUSIVE), which accepts it and keeps it (no hand-off), so a
     * connection goes to a loop that is free. One socket per loop in an SO_REUSEPORT group, spread by
     * hash, woke a sleeping loop while the other had work: a fifth more system time per connection
     * at 64 connections (docs/benchmarks.md).
     */
    private Bound bindLoops(StreamListener listener, InetSocketAddress address, boolean added) throws IOException {
        int fd = calls.listen(address.getAddress(), address.getPort(), BACKLOG);
        Bound b = new Bound(fd, null, listener, added);
        for (RelayLoop loop : loops) {
            loop.listen(fd, address, () -> b.serving);
        }
        return b;
    }

    private Bound bindSplice(StreamListener listener, InetSocketAddress address, boolean added) throws IOException {
        ServerSocketChannel socket = ServerSocketChannel.open();
        try {
            socket.socket().setReuseAddress(true);
            socket.bind(address, BACKLOG);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
        Bound b = new Bound(-1, socket, listener, added);
        Thread.ofVirtual().name("stream-accept-" + listener.name()).start(() -> acceptLoop(b, socket));
        return b;
    }

    private void unbind(Bound b) {
        if (b.fd >= 0) {
            // Each loop stops polling it; the last closes it, after its last accept.
            AtomicInteger pollers = new AtomicInteger(loops.length);
            for (RelayLoop loop : loops) {
                loop.unlisten(b.fd, pollers);
            }
        }
        if (b.channel != null) {
            try {
                b.channel.close();
            } catch (IOException e) {
                // closing a listening socket does not fail in a way that matters
            }
        }
        if (b.addedAddress && bound.values().stream().noneMatch(o -> o != b
                && o.listener().address().equals(b.listener().address()))) {
            local.release(b.listener().address());
        }
    }

    private void acceptLoop(Bound b, ServerSocketChannel socket) {
        while (socket.isOpen()) {
            try {
                SocketChannel client = socket.accept();
                Serving serving = b.serving;
                Thread.ofVirtual().name("stream-" + serving.listener().name()).start(() -> serve(serving, client));
            } catch (IOException e) {
                if (socket.isOpen()) {
                    LOG.log(System.Logger.Level.WARNING, "accept on " + socket.socket().getLocalSocketAddress() + ": " + e);
                }
            }
        }
    }

    private void count(StreamListener listener, String group, String outcome) {
        if (metrics == null) {
            return;
        }
        counters.computeIfAbsent(listener.name() + "\0" + group + "\0" + outcome, k -> Counter
                .builder("nodelb_stream_connections")
                .description("Connections a stream listener (TLS SNI routes, PROXY protocol) accepted, by the group"
                        + " chosen and what became of them")
                .tag("listener", listener.name()).tag("group", group).tag("outcome", outcome)
                .register(metrics)).increment();
    }

    private RelayLoop[] startLoops(int n) throws IOException {
        RelayLoop.Events done = new RelayLoop.Events() {
            @Override
            public void copied(long bytes) {
                userSpaceBytes.addAndGet(bytes);
            }

            @Override
            public void ended(StreamConnection connection) {
                StreamListeners.this.ended(connection);
            }

            @Override
            public boolean route(Opening opening) throws IOException {
                return StreamListeners.this.route(opening);
            }

            @Override
            public StreamConnection connected(Opening opening) {
                return StreamListeners.this.connected(opening);
            }

            @Override
            public ByteBuffer opening(Opening opening) {
                return StreamListeners.this.opening(opening);
            }

            @Override
            public void refused(Opening opening, String outcome) {
                count(opening.listener, opening.group == null ? "" : opening.group.name(), outcome);
            }
        };
        RelayLoop[] started = new RelayLoop[n];
        for (int i = 0; i < n; i++) {
            started[i] = new RelayLoop(done);
            Thread.ofPlatform().daemon().name("stream-relay-" + i).start(started[i]);
        }
        return started;
    }

    /**
     * One spliced listener's client: read its ClientHello, choose a group and backend, connect, send
     * the opening, then relay the ends of stream here (or, if the splice cannot take it, hand it to
     * a relay loop).
     */
    private void serve(Serving serving, SocketChannel clientChannel) {
        StreamListener listener = serving.listener();
        Opening o;
        try {
            o = new Opening(serving, StreamSocket.Channel.of(clientChannel),
                    (InetSocketAddress) clientChannel.getRemoteAddress(), (InetSocketAddress) clientChannel.getLocalAddress(),
                    System.nanoTime());
        } catch (IOException e) {
            closeQuietly(clientChannel); // it went away already
            return;
        }
        boolean handedOver = false;
        try {
            Socket client = clientChannel.socket();
            client.setTcpNoDelay(true);
            InputStream in = client.getInputStream();
            while (o.hello.status() == ClientHello.Status.NEED_MORE) {
                long left = o.deadlineNs - System.nanoTime();
                if (left <= 0) {
                    count(listener, "", "timeout");
                    return;
                }
                client.setSoTimeout((int) Math.max(1, Duration.ofNanos(left).toMillis()));
                int n;
                try {
                    o.makeRoom();
                    n = in.read(o.first, o.length, o.first.length - o.length);
                } catch (SocketTimeoutException e) {
                    count(listener, "", "timeout");
                    return;
                }
                if (n < 0) {
                    count(listener, "", "closed");
                    return;
                }
                o.length += n;
                o.hello = ClientHello.parse(o.first, o.length);
            }
            if (!route(o)) {
                return;
            }
            SocketChannel upstreamChannel = SocketChannel.open();
            o.upstream = StreamSocket.Channel.of(upstreamChannel);
            try {
                Socket upstream = upstreamChannel.socket();
                try {
                    upstream.setTcpNoDelay(true);
                    upstream.connect(o.backend, (int) CONNECT_TIMEOUT.toMillis());
                } catch (IOException e) {
                    count(listener, o.group.name(), "connect_failed");
                    return;
                }
                client.setSoTimeout(0);
                StreamConnection connection = connected(o);
                try {
                    OutputStream out = upstream.getOutputStream();
                    // The backend's bytes are spliced from its first one: joined before anything is sent to it.
                    Splice.Joined joined = null;
                    Splice splice = this.splice;
                    if (splice != null) {
                        try {
                            joined = splice.join(clientChannel, upstreamChannel);
                        } catch (IOException e) {
                            LOG.log(System.Logger.Level.DEBUG, "relayed in user space: " + e.getMessage());
                        }
                    }
                    ByteBuffer opening = opening(o);
                    out.write(opening.array(), opening.arrayOffset() + opening.position(), opening.remaining());
                    if (joined == null) {
                        nextLoop().relay(connection);
                        handedOver = true;
                        return;
                    }
                    // What the client sent meanwhile goes first, from here; the rest in the kernel.
                    long drained = joined.open(clientChannel, out);
                    if (drained > 0) {
                        connection.copied((int) drained, true);
                        userSpaceBytes.addAndGet(drained);
                    }
                    try {
                        relay(connection, joined, o.length + drained, opening.remaining() + drained);
                    } finally {
                        joined.close();
                    }
                } catch (IOException e) {
                    connection.failed();
                } finally {
                    if (!handedOver) {
                        ended(connection);
                    }
                }
            } finally {
                if (!handedOver) {
                    closeQuietly(upstreamChannel);
                }
            }
        } catch (IOException e) {
            // the client or the backend went away mid-way: nothing to answer
        } finally {
            if (!handedOver) {
                closeQuietly(clientChannel);
            }
        }
    }

    /**
     * Chooses the group of a client whose first bytes are decided, and its backend; false: closed,
     * counted (malformed, too large, no backend).
     */
    private boolean route(Opening o) throws IOException {
        StreamListener listener = o.listener;
        switch (o.hello.status()) {
            case MALFORMED, TOO_LARGE -> {
                count(listener, "", o.hello.status() == ClientHello.Status.MALFORMED ? "malformed" : "too_large");
                return false;
            }
            case NOT_TLS -> {
                o.group = listener.fallback();
                o.outcome = "default";
            }
            default -> {
                GroupRef routed = o.routes.choose(o.hello.serverName());
                o.group = routed != null ? routed : listener.fallback();
                o.outcome = routed != null ? "sni" : "default";
            }
        }
        int backendId = backendId(o.group, o.peer, o.vip);
        var chosen = backendId == 0 ? null : applied.get().backends().get(backendId);
        if (chosen == null) {
            count(listener, o.group.name(), "no_backend");
            emit(listener, () -> StreamConnection.drop(listener, o.peer, o.vip, System.nanoTime()));
            return false;
        }
        o.backendId = backendId;
        o.backend = new InetSocketAddress(chosen.address(), chosen.port());
        return true;
    }

    /** Its backend connected: counted, live (the idle check, the gauges), its new-flow record out. */
    private StreamConnection connected(Opening o) {
        count(o.listener, o.group.name(), o.outcome);
        StreamConnection connection = new StreamConnection(o.listener, o.group.name(), o.client, o.upstream, o.peer,
                o.vip, o.backend, o.backendId, o.acceptedNs, o.length, recorded(o.listener));
        connection.owner = o.loop; // before the idle check can see it
        live.add(connection);
        emit(o.listener, () -> connection.newFlow(System.nanoTime()));
        return connection;
    }

    /** One write: the PROXY header and the client's first bytes, in one segment where they fit. */
    private ByteBuffer opening(Opening o) {
        byte[] header = switch (o.listener.proxyProtocol()) {
            case 1 -> ProxyHeader.v1(o.peer, o.vip);
            case 2 -> ProxyHeader.v2(o.peer, o.vip, o.hello.serverName(), uniqueId());
            default -> null;
        };
        if (header == null) {
            return ByteBuffer.wrap(o.first, 0, o.length);
        }
        return ByteBuffer.allocate(header.length + o.length).put(header).put(o.first, 0, o.length).flip();
    }

    private RelayLoop nextLoop() {
        return loops[Math.floorMod(nextLoop.getAndIncrement(), loops.length)];
    }

    /**
     * A connection ended (both directions, a reset, or idle): its counters are taken before its
     * sockets close; its flow-end record goes out once.
     */
    private void ended(StreamConnection connection) {
        connection.finish();
        if (live.remove(connection)) {
            emit(connection.listener(), () -> connection.flowEnd(System.nanoTime()));
        }
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            // closed already
        }
    }

    /** Whether the listener's connections have flow records: the events are on, here and in the listener. */
    private boolean recorded(StreamListener listener) {
        return events != null && listener.flowEvents();
    }

    /** Hands a record to the flow events, built (its TCP_INFO read) only when it goes out. */
    private void emit(StreamListener listener, Supplier<Abi.Event> event) {
        if (recorded(listener)) {
            events.accept(event.get());
        }
    }

    /** Live stream connections by backend id: what the active-connection gauges add to the flow table's. */
    public Map<Integer, Long> liveByBackend() {
        Map<Integer, Long> out = new HashMap<>();
        live.forEach(c -> out.merge(c.backendId(), 1L, Long::sum));
        return out;
    }

    /** The listener's idle timeout, or the data plane's default for established TCP flows. */
    static long idleTimeoutNs(StreamListener listener) {
        return listener.idleTimeoutNs() > 0 ? listener.idleTimeoutNs() : DEFAULT_IDLE_TIMEOUT.toNanos();
    }

    /**
     * How often idleness is checked: a tenth of the shortest timeout of the listeners bound, between
     * {@link #MIN_IDLE_CHECK} and {@link #MAX_IDLE_CHECK}; a connection is closed at most that late.
     */
    static Duration idleCheckInterval(long shortestTimeoutNs) {
        long tenth = shortestTimeoutNs / 10;
        return Duration.ofNanos(Math.max(MIN_IDLE_CHECK.toNanos(), Math.min(MAX_IDLE_CHECK.toNanos(), tenth)));
    }

    /** Closes the connections silent both ways past their listener's idle timeout, one pass per interval. */
    private void idleLoop() {
        while (!closed) {
            java.util.concurrent.locks.LockSupport.parkNanos(idleCheckInterval(shortestIdleTimeoutNs).toNanos());
            if (Thread.interrupted()) {
                return;
            }
            long now = System.nanoTime();
            for (StreamConnection c : live) {
                try {
                    if (c.closeIfIdle(now, idleTimeoutNs(c.listener()))) {
                        countIdle(c);
                        if (c.owner == null) {
                            ended(c); // spliced: its loop reports the end of a relayed one
                        }
                    }
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "idle check: " + e);
                }
            }
        }
    }

    private void countIdle(StreamConnection c) {
        if (metrics == null) {
            return;
        }
        idleCounters.computeIfAbsent(c.listener().name() + "\0" + c.group(), k -> Counter
                .builder("nodelb_stream_idle_closed")
                .description("Stream connections closed after their listener's idle timeout passed with no data"
                        + " either way")
                .tag("listener", c.listener().name()).tag("group", c.group())
                .register(metrics)).increment();
    }

    private byte[] uniqueId() {
        byte[] id = new byte[16];
        random.nextBytes(id);
        return id;
    }

    /**
     * The backend id in the group's table at the slot of this connection's hash (0: none): the table
     * the data plane reads, with the node's health and drain weights applied.
     */
    private int backendId(GroupRef group, InetSocketAddress peer, InetSocketAddress vip) {
        int h = java.util.Arrays.hashCode(peer.getAddress().getAddress()) * 31 + peer.getPort();
        h = h * 31 + vip.getPort();
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        int slot = Integer.remainderUnsigned(h, tables.tableSize());
        return tables.backendAt(group.id(), slot);
    }

    /**
     * A spliced connection: each way on its own virtual thread, which sees the end of stream (and
     * copies what the splice did not take); an end of stream is passed on as a half-close, and the
     * connection ends when both ways have.
     */
    private void relay(StreamConnection c, Splice.Joined joined, long read, long opening) {
        var client = (StreamSocket.Channel) c.client();
        var upstream = (StreamSocket.Channel) c.upstream();
        Thread back = Thread.ofVirtual().start(() -> pump(c, upstream, client, true, 0, 0, false));
        pump(c, client, upstream, joined.clientSpliced(), read, opening, true);
        try {
            back.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * @param read bytes already read from {@code from} (the ClientHello)
     * @param written bytes already written to {@code to} (the header and the ClientHello)
     * @param spliced the kernel redirects this direction's bytes
     * @param toBackend the direction client to backend
     */
    private void pump(StreamConnection c, StreamSocket.Channel fromSocket, StreamSocket.Channel toSocket,
            boolean spliced, long read, long written, boolean toBackend) {
        Splice splice = this.splice;
        SocketChannel fromChannel = fromSocket.channel();
        SocketChannel toChannel = toSocket.channel();
        Socket from = fromChannel.socket();
        Socket to = toChannel.socket();
        try {
            // Spliced, this sees only the end of stream (the bytes before the splice were copied already).
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            byte[] buffer = new byte[16 * 1024];
            long copied = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                out.write(buffer, 0, n);
                copied += n;
                c.copied(n, toBackend);
            }
            c.ended(fromSocket);
            userSpaceBytes.addAndGet(copied);
            if (spliced && splice != null && !splice.awaitForwarded(fromChannel, toChannel, read + copied, written + copied,
                    FORWARD_WAIT)) {
                LOG.log(System.Logger.Level.WARNING, "spliced bytes not all forwarded within " + FORWARD_WAIT
                        + "; half-closing anyway");
            }
            to.shutdownOutput();
            c.halfClosed(toSocket);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            // An error on one side: close both; a reset only when the socket's state says so (an
            // error set by the splice's send work is not one).
            if (c.resetSeen(fromSocket)) {
                c.failed();
            }
            c.closeBoth(false);
        }
    }

    /** Stops accepting; connections being relayed end with the process (the relay loops stop after them). */
    @Override
    public synchronized void close() {
        closed = true;
        bound.values().forEach(this::unbind);
        bound.clear();
        for (RelayLoop loop : loops) {
            loop.close(); // after its listening sockets' unlisten: it closes them before it stops
        }
        if (idleCheck != null) {
            idleCheck.interrupt();
        }
        if (splice != null) {
            splice.close();
            splice = null;
        }
    }

    /** Makes an address local to the node so a socket binds it and the kernel delivers to it. */
    public interface LocalAddresses {
        /** @return whether this call added it (and {@link #release} should remove it) */
        boolean ensureLocal(InetAddress address) throws IOException;

        void release(InetAddress address);

        /** Removes what this agent (or one killed before it) added and no listener uses now. */
        default void releaseAllBut(java.util.Set<InetAddress> inUse) {}
    }
}
