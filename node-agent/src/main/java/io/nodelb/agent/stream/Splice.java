package io.nodelb.agent.stream;

import io.nodelb.agent.bpf.BpfLink;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.BpfObject;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.reflect.Method;
import java.nio.channels.SocketChannel;

/**
 * The kernel splice of relayed connections (bpf/src/stream_splice.bpf.c): both sockets of a
 * connection go into a SOCKHASH of redirect targets under their cookies, each cookie mapped to its
 * peer's, and each joins the SOCKHASH the stream-verdict program judges once its direction opens:
 * the program redirects its data to the other. The object, its maps and its
 * link belong to this process (never pinned): they go when the agent does, with its connections.
 *
 * <p>A socket's fd is read from its channel ({@code sun.nio.ch.SelChImpl.getFDVal}), which needs
 * {@code --add-exports java.base/sun.nio.ch=ALL-UNNAMED}; without it, or on a kernel without
 * sockmap links (6.10+), {@link #load} returns null and connections are relayed in user space.
 */
public final class Splice implements AutoCloseable {
    static final String OBJECT = "io/nodelb/bpf/stream_splice.bpf.o";

    private static final int SOL_SOCKET = 1;
    private static final int SO_COOKIE = 57;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final long ERRNO_AT = CALL_STATE.byteOffset(StructLayout.PathElement.groupElement("errno"));
    private static final int SO_RCVLOWAT = 18;
    private static final MethodHandle SETSOCKOPT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("setsockopt").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_INT),
            Linker.Option.captureCallState("errno"));
    private static final MethodHandle GETSOCKOPT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("getsockopt").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.ADDRESS),
            Linker.Option.captureCallState("errno"));

    /** Bytes of the client's still queued at its splice that the caller may copy itself first. */
    static final int MAX_DRAIN = 256 * 1024;

    private final BpfObject object;
    private final BpfMap judged;
    private final BpfMap targets;
    private final BpfMap peers;
    private final BpfLink link;
    private final Method fdOf;

    private Splice(BpfObject object, BpfMap judged, BpfMap targets, BpfMap peers, BpfLink link, Method fdOf) {
        this.object = object;
        this.judged = judged;
        this.targets = targets;
        this.peers = peers;
        this.link = link;
        this.fdOf = fdOf;
    }

    /** The splice, or null (with the reason logged) when this JVM or kernel cannot make one. */
    public static Splice load() {
        Method fdOf;
        try {
            fdOf = Class.forName("sun.nio.ch.SelChImpl").getMethod("getFDVal");
            try (SocketChannel probe = SocketChannel.open()) {
                fdOf.invoke(probe);
            }
        } catch (ReflectiveOperationException | IOException | RuntimeException e) {
            log("no socket fds from Java (run with --add-exports java.base/sun.nio.ch=ALL-UNNAMED): " + e);
            return null;
        }
        BpfObject object = BpfObject.openResource(OBJECT);
        try {
            object.load();
            BpfMap judged = object.map("nlb_splice_socks");
            BpfLink link = object.program("nlb_splice").attachSockmapVerdict(judged);
            return new Splice(object, judged, object.map("nlb_splice_targets"), object.map("nlb_splice_peers"), link,
                    fdOf);
        } catch (RuntimeException e) {
            object.close();
            log("no sockmap splice on this kernel: " + e.getMessage());
            return null;
        }
    }

    private static void log(String message) {
        System.getLogger(Splice.class.getName()).log(System.Logger.Level.WARNING,
                "stream listeners relay in user space: " + message);
    }

    /** A connection's two sockets in the splice; {@link #close} takes them out of the maps. */
    public final class Joined implements AutoCloseable {
        private final long client;
        private final long upstream;
        private final int clientFd;
        private boolean clientSpliced;

        private Joined(long client, long upstream, int clientFd) {
            this.client = client;
            this.upstream = upstream;
            this.clientFd = clientFd;
        }

        /**
         * Opens the direction client to backend, once the caller has written what must precede it:
         * first copies what the client's socket holds already (at most {@link #MAX_DRAIN}: a socket
         * that holds more stays relayed by the caller), then has the program judge the
         * socket, then signals it (setting SO_RCVLOWAT wakes a socket with data queued) so that
         * bytes that arrived in between are redirected in order, ahead of later ones.
         *
         * @return the bytes copied here; {@link #clientSpliced} says whether the direction opened (not
         *     when the client ended before: its socket is past ESTABLISHED, which a sockmap refuses)
         */
        public long open(SocketChannel from, java.io.OutputStream out) throws IOException {
            // Read without blocking until the socket is empty: FIONREAD (available()) counts only
            // what the splice queued, and a segment read in part would be judged again whole.
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(16 * 1024);
            long drained = 0;
            int n;
            from.configureBlocking(false);
            try {
                while ((n = from.read(buffer.clear())) > 0) {
                    out.write(buffer.array(), 0, n);
                    drained += n;
                    if (drained >= MAX_DRAIN) {
                        return drained;
                    }
                }
            } finally {
                from.configureBlocking(true);
            }
            if (n < 0) {
                return drained; // the client sent all and its FIN already: nothing left to splice
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment key = arena.allocate(ValueLayout.JAVA_LONG);
                MemorySegment value = arena.allocate(ValueLayout.JAVA_LONG);
                try {
                    put(peers, key, value, client, upstream);
                    put(judged, key, value, client, clientFd);
                } catch (RuntimeException e) {
                    // Its FIN came meanwhile: a sockmap takes established sockets only (EOPNOTSUPP).
                    return drained;
                }
                clientSpliced = true;
                MemorySegment state = arena.allocate(CALL_STATE);
                MemorySegment one = arena.allocate(ValueLayout.JAVA_INT);
                one.set(ValueLayout.JAVA_INT, 0, 1);
                int ret = (int) SETSOCKOPT.invokeExact(state, clientFd, SOL_SOCKET, SO_RCVLOWAT, one, 4);
                if (ret != 0) {
                    throw new IOException("SO_RCVLOWAT: errno " + state.get(ValueLayout.JAVA_INT, ERRNO_AT));
                }
                return drained;
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IOException("SO_RCVLOWAT: " + t, t);
            }
        }

        /** Whether the direction client to backend is spliced (else the caller relays it). */
        public boolean clientSpliced() {
            return clientSpliced;
        }

        @Override
        public void close() {
            for (long cookie : new long[] {client, upstream}) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment key = arena.allocate(ValueLayout.JAVA_LONG);
                    key.set(ValueLayout.JAVA_LONG, 0, cookie);
                    peers.delete(key);
                    judged.delete(key);
                    targets.delete(key);
                }
            }
        }
    }

    /**
     * Makes both sockets reachable by a redirect and opens the direction backend to client: what
     * arrives on {@code upstream} from now on leaves through {@code client} in the kernel. The
     * other direction opens with {@link Joined#open}: until then the client's bytes stay in its
     * socket, so the caller can write to {@code upstream} first what must precede them.
     */
    public Joined join(SocketChannel client, SocketChannel upstream) throws IOException {
        int clientFd = fd(client);
        int upstreamFd = fd(upstream);
        long c = cookie(clientFd);
        long u = cookie(upstreamFd);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment value = arena.allocate(ValueLayout.JAVA_LONG);
            Joined joined = new Joined(c, u, clientFd);
            try {
                // Targets and the peer first, then the socket the program judges.
                put(targets, key, value, c, clientFd);
                put(targets, key, value, u, upstreamFd);
                put(peers, key, value, u, c);
                put(judged, key, value, u, upstreamFd);
            } catch (RuntimeException e) {
                joined.close();
                throw new IOException("splice: " + e.getMessage(), e);
            }
            return joined;
        }
    }

    /**
     * Waits (at most {@code bound}) until everything {@code from} received before its end of
     * stream has been queued on {@code to}: the bytes the caller moved itself and those the
     * program redirected, which the kernel sends from a work queue, so later than the end of
     * stream the caller saw. A half-close passed on before would cut them off.
     *
     * @param readByCaller payload bytes the caller read from {@code from}
     * @param writtenByCaller payload bytes the caller wrote to {@code to} (headers included)
     */
    public boolean awaitForwarded(SocketChannel from, SocketChannel to, long readByCaller, long writtenByCaller,
            java.time.Duration bound) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        int fromFd = fd(from);
        int toFd = fd(to);
        while (true) {
            TcpInfo source = TcpInfo.of(fromFd);
            TcpInfo sink = TcpInfo.of(toFd);
            // The caller saw the end of stream: the FIN, which TCP counts as a byte received.
            long redirected = source.payloadReceived(true) - readByCaller;
            long queued = sink.bytesSent() - sink.bytesRetrans() + sink.notSentBytes();
            if (queued >= writtenByCaller + redirected) {
                return true;
            }
            if (sink.state() != TcpInfo.TCP_ESTABLISHED && sink.state() != TcpInfo.TCP_CLOSE_WAIT) {
                return true; // reset or closed: what is not queued yet never will be
            }
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(1);
        }
    }

    private static void put(BpfMap map, MemorySegment key, MemorySegment value, long k, long v) {
        key.set(ValueLayout.JAVA_LONG, 0, k);
        value.set(ValueLayout.JAVA_LONG, 0, v);
        map.update(key, value, BpfMap.BPF_ANY);
    }

    private int fd(SocketChannel channel) throws IOException {
        try {
            return (int) fdOf.invoke(channel);
        } catch (ReflectiveOperationException e) {
            throw new IOException("no fd for " + channel + ": " + e, e);
        }
    }

    private static long cookie(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment value = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment length = arena.allocate(ValueLayout.JAVA_INT);
            length.set(ValueLayout.JAVA_INT, 0, 8);
            int ret = (int) GETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_COOKIE, value, length);
            if (ret != 0) {
                throw new IOException("SO_COOKIE: errno " + state.get(ValueLayout.JAVA_INT, ERRNO_AT));
            }
            return value.get(ValueLayout.JAVA_LONG, 0);
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("SO_COOKIE: " + t, t);
        }
    }

    @Override
    public void close() {
        link.close();
        object.close();
    }
}
