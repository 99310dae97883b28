package io.nodelb.agent.stream;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState.StreamListener;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One relayed stream connection (its backend connected): what its flow events say and what the
 * idle check reads. Its counters are the client socket's, from TCP_INFO taken before the sockets
 * close (the same whether the kernel splices or the agent relays); without socket fds, what the
 * agent's relay copied. Every TCP_INFO read and every close of its sockets happens under its lock,
 * once: a closed fd's number may already be another socket's. A relay loop's connection is closed
 * on that loop's thread only: the idle check asks the loop ({@link #owner}).
 */
final class StreamConnection {
    private final StreamListener listener;
    private final String group;
    private final StreamSocket client;
    private final StreamSocket upstream;
    private final InetSocketAddress peer;
    private final InetSocketAddress vip;
    private final InetSocketAddress backend;
    private final int backendId;
    private final long createdNs;
    /** Bytes the agent read of the client before the backend was chosen (the ClientHello). */
    private final long firstBytes;
    /** Its flow records go out: its end's counters are read (TCP_INFO) before its sockets close. */
    private final boolean recorded;
    private final AtomicLong copiedToBackend = new AtomicLong();
    private final AtomicLong copiedToClient = new AtomicLong();
    private volatile long lastCopyNs;
    private volatile boolean reset;
    private volatile boolean halfClosedClient;
    private volatile boolean halfClosedUpstream;
    /** The agent read the client's end of stream: its FIN, which TCP_INFO counts as a byte. */
    private volatile boolean clientEnded;
    private boolean idle;
    private boolean closed;
    private TcpInfo last;
    /** The relay loop that relays it and alone closes its sockets; null: spliced, closed by any thread. */
    volatile RelayLoop owner;

    StreamConnection(StreamListener listener, String group, StreamSocket client, StreamSocket upstream,
            InetSocketAddress peer, InetSocketAddress vip, InetSocketAddress backend, int backendId, long createdNs,
            long firstBytes, boolean recorded) {
        this.listener = listener;
        this.group = group;
        this.client = client;
        this.upstream = upstream;
        this.peer = peer;
        this.vip = vip;
        this.backend = backend;
        this.backendId = backendId;
        this.createdNs = createdNs;
        this.firstBytes = firstBytes;
        this.recorded = recorded;
        this.lastCopyNs = createdNs;
    }

    StreamListener listener() {
        return listener;
    }

    String group() {
        return group;
    }

    StreamSocket client() {
        return client;
    }

    StreamSocket upstream() {
        return upstream;
    }

    int backendId() {
        return backendId;
    }

    /** Whether its sockets' TCP_INFO can be read: their fds are known. */
    private boolean infoAvailable() {
        return client.fd() >= 0 && upstream.fd() >= 0;
    }

    /** The relay copied {@code n} bytes itself. */
    void copied(int n, boolean toBackend) {
        (toBackend ? copiedToBackend : copiedToClient).addAndGet(n);
        lastCopyNs = System.nanoTime();
    }

    /** The agent read the end of stream of {@code socket}. */
    void ended(StreamSocket socket) {
        if (socket == client) {
            clientEnded = true;
        }
    }

    /** A read or write failed: a reset, unless the idle check closed it. */
    void failed() {
        reset = true;
    }

    /**
     * A read or write failed: a reset if either socket's state says so. Read only for a connection
     * whose flow-end record tells it: clients that close with a reset are common (an HTTPS client
     * that does not read the server's close_notify), and nothing else needs it.
     */
    void failedIfReset() {
        if (recorded && (resetSeen(client) || resetSeen(upstream))) {
            failed();
        }
    }

    /**
     * Whether {@code socket} was reset: closed (TCP_CLOSE) without the agent's half-close before
     * (after one, a closed socket went through time-wait and the peer's FIN looks the same). False
     * when the connection was closed already (by the other direction or the idle check), or without
     * TCP_INFO, where an error counts as a reset.
     */
    synchronized boolean resetSeen(StreamSocket socket) {
        if (closed) {
            return false;
        }
        if (!infoAvailable()) {
            return true;
        }
        try {
            boolean halfClosed = socket == client ? halfClosedClient : halfClosedUpstream;
            return TcpInfo.of(socket.fd()).state() == TcpInfo.TCP_CLOSE && !halfClosed;
        } catch (IOException e) {
            return true;
        }
    }

    /** Whether its sockets were closed (or its counters taken at its end). */
    synchronized boolean closed() {
        return closed;
    }

    /** The agent half-closed {@code socket} (passed the other side's FIN on). */
    void halfClosed(StreamSocket socket) {
        if (socket == client) {
            halfClosedClient = true;
        } else {
            halfClosedUpstream = true;
        }
    }

    /** Both directions are done: the counters are taken now, before the caller closes the sockets. */
    synchronized void finish() {
        snapshot();
        closed = true;
    }

    /**
     * Closes both sockets (the counters taken first); {@code abortive}: with a RST (SO_LINGER 0),
     * so neither side holds a half-open connection or the node a TIME_WAIT.
     */
    synchronized void closeBoth(boolean abortive) {
        if (closed) {
            return;
        }
        snapshot();
        closed = true;
        client.close(abortive);
        upstream.close(abortive);
    }

    /**
     * Closes it when nothing was sent or received either way for {@code timeoutNs}; true if it did
     * (a relay loop's connection: if it asked its loop to, which then reports its end).
     */
    synchronized boolean closeIfIdle(long nowNs, long timeoutNs) {
        if (closed) {
            return false;
        }
        long idleMs = (nowNs - lastCopyNs) / 1_000_000;
        if (infoAvailable()) {
            try {
                idleMs = idleMs(idleMs, TcpInfo.of(client.fd()), TcpInfo.of(upstream.fd()));
            } catch (IOException e) {
                return false; // going away on its own
            }
        }
        if (idleMs * 1_000_000 < timeoutNs) {
            return false;
        }
        idle = true;
        RelayLoop loop = owner;
        if (loop != null) {
            loop.abort(this); // its loop closes it and reports its end
        } else {
            closeBoth(true);
        }
        return true;
    }

    /** The time since the last data either way on either socket, and since the relay last copied. */
    static long idleMs(long sinceCopyMs, TcpInfo client, TcpInfo upstream) {
        return Math.min(sinceCopyMs, Math.min(Math.min(client.lastDataRecvMs(), client.lastDataSentMs()),
                Math.min(upstream.lastDataRecvMs(), upstream.lastDataSentMs())));
    }

    private void snapshot() {
        if (recorded && last == null && !closed && infoAvailable()) {
            try {
                last = TcpInfo.of(client.fd());
            } catch (IOException e) {
                // counters of the relay instead
            }
        }
    }

    Abi.Event newFlow(long nowNs) {
        TcpInfo info = null;
        if (infoAvailable()) {
            synchronized (this) {
                try {
                    info = closed ? null : TcpInfo.of(client.fd());
                } catch (IOException e) {
                    // no counters
                }
            }
        }
        return event(Abi.EVENT_NEW_FLOW, 0, nowNs, info);
    }

    Abi.Event flowEnd(long nowNs) {
        TcpInfo info;
        boolean wasIdle;
        synchronized (this) {
            info = last;
            wasIdle = idle;
        }
        int reason = wasIdle ? Abi.END_IDLE : reset ? Abi.END_RST : Abi.END_FIN;
        return event(Abi.EVENT_FLOW_END, reason, nowNs, info);
    }

    private Abi.Event event(int type, int reason, long nowNs, TcpInfo info) {
        Counters c = counters(info, clientEnded, firstBytes, copiedToBackend.get(), copiedToClient.get());
        return new Abi.Event(nowNs, createdNs, peer.getAddress(), peer.getPort(), vip.getAddress(), vip.getPort(),
                backend.getAddress(), backend.getPort(), Abi.IPPROTO_TCP, type, reason, flags(listener), listener.id(),
                backendId, c.packetsToBackend, c.bytesToBackend, c.packetsToClient, c.bytesToClient);
    }

    /** A connection refused for want of a backend: the data plane's {@code drop_no_backend}. */
    static Abi.Event drop(StreamListener listener, InetSocketAddress peer, InetSocketAddress vip, long nowNs) {
        return new Abi.Event(nowNs, nowNs, peer.getAddress(), peer.getPort(), vip.getAddress(), vip.getPort(), null, 0,
                Abi.IPPROTO_TCP, Abi.EVENT_DROP, Abi.Stat.DROP_NO_BACKEND.ordinal(), flags(listener), listener.id(), 0,
                0, 0, 0, 0);
    }

    private static int flags(StreamListener listener) {
        return listener.fullNat() ? Abi.CT_FULLNAT : 0;
    }

    record Counters(long packetsToBackend, long bytesToBackend, long packetsToClient, long bytesToClient) {}

    /**
     * The client socket's view: payload bytes it received (what the client sent, the ClientHello
     * included) and payload bytes the client acknowledged, segments in and out, FINs not counted
     * as bytes; without TCP_INFO, the bytes the agent read and copied, and no packets.
     *
     * @param clientEnded the agent read the client's end of stream
     */
    static Counters counters(TcpInfo client, boolean clientEnded, long firstBytes, long copiedToBackend,
            long copiedToClient) {
        if (client == null) {
            return new Counters(0, firstBytes + copiedToBackend, 0, copiedToClient);
        }
        return new Counters(client.segsIn(), client.payloadReceived(clientEnded), client.segsOut(),
                client.payloadAcked());
    }
}
