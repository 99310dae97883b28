package io.nodelb.agent.stream;

import io.nodelb.agent.dataplane.DesiredState.GroupRef;
import io.nodelb.agent.dataplane.DesiredState.StreamListener;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.Arrays;

/**
 * A client accepted whose backend is not connected yet: the first bytes read of it (the
 * ClientHello), then where they send it, then its backend socket while it connects.
 */
final class Opening {
    final StreamListener listener;
    /** The listener's routes when it was accepted. */
    final SniRoutes<GroupRef> routes;
    final SocketChannel client;
    final long acceptedNs;
    /** The client's first bytes: {@code [0, length)}; grown as they come, up to {@link ClientHello#MAX_BYTES}. */
    byte[] first = new byte[2048];
    int length;
    ClientHello.Result hello = ClientHello.Result.NEED_MORE;
    /** Until when the current step (the whole ClientHello, then the connect) may take. */
    long deadlineNs;

    // Set once routed.
    GroupRef group;
    String outcome;
    InetSocketAddress peer;
    InetSocketAddress vip;
    InetSocketAddress backend;
    int backendId;

    /** Null until it connects. */
    SocketChannel upstream;
    SelectionKey clientKey;
    SelectionKey upstreamKey;

    Opening(StreamListeners.Serving serving, SocketChannel client, long acceptedNs) {
        this.listener = serving.listener();
        this.routes = serving.routes();
        this.client = client;
        this.acceptedNs = acceptedNs;
        this.deadlineNs = acceptedNs + StreamListeners.HELLO_WAIT.toNanos();
    }

    /**
     * The room after the bytes read so far, as a buffer to read more into: most ClientHellos fit in
     * the first 2 KiB, so a connection does not clear the whole limit's worth of memory.
     */
    ByteBuffer unread() {
        makeRoom();
        return ByteBuffer.wrap(first, length, first.length - length);
    }

    /** Doubles {@link #first} when it is full, up to the limit (then nothing more is read). */
    void makeRoom() {
        if (length == first.length && first.length < ClientHello.MAX_BYTES) {
            first = Arrays.copyOf(first, Math.min(2 * first.length, ClientHello.MAX_BYTES));
        }
    }
}
