package io.nodelb.agent.stream;

import io.nodelb.agent.dataplane.DesiredState.GroupRef;
import io.nodelb.agent.dataplane.DesiredState.StreamListener;
import java.net.InetSocketAddress;
import java.util.Arrays;

/**
 * A client accepted whose backend is not connected yet: the first bytes read of it (the
 * ClientHello), then where they send it, then its backend socket while it connects.
 */
final class Opening {
    final StreamListener listener;
    /** The listener's routes when it was accepted. */
    final SniRoutes<GroupRef> routes;
    final StreamSocket client;
    final long acceptedNs;
    /** The client's first bytes: {@code [0, length)}; grown as they come, up to {@link ClientHello#MAX_BYTES}. */
    byte[] first = new byte[2048];
    int length;
    ClientHello.Result hello = ClientHello.Result.NEED_MORE;
    /** Until when the current step (the whole ClientHello, then the connect) may take. */
    long deadlineNs;

    /** The client's address, and the listener's address it connected to. */
    InetSocketAddress peer;
    InetSocketAddress vip;

    // Set once routed.
    GroupRef group;
    String outcome;
    InetSocketAddress backend;
    int backendId;

    /** Null until it connects. */
    StreamSocket upstream;
    /** The relay loop that opens it, and how its sockets are polled there; null: the splice's path. */
    RelayLoop loop;
    RelayLoop.Watch clientWatch;
    RelayLoop.Watch upstreamWatch;

    Opening(StreamListeners.Serving serving, StreamSocket client, InetSocketAddress peer, InetSocketAddress vip,
            long acceptedNs) {
        this.listener = serving.listener();
        this.routes = serving.routes();
        this.client = client;
        this.peer = peer;
        this.vip = vip;
        this.acceptedNs = acceptedNs;
        this.deadlineNs = acceptedNs + StreamListeners.HELLO_WAIT.toNanos();
    }

    /**
     * Doubles {@link #first} when it is full, up to the limit (then nothing more is read): most
     * ClientHellos fit in the first 2 KiB, so a connection does not clear the whole limit's worth.
     */
    void makeRoom() {
        if (length == first.length && first.length < ClientHello.MAX_BYTES) {
            first = Arrays.copyOf(first, Math.min(2 * first.length, ClientHello.MAX_BYTES));
        }
    }
}
