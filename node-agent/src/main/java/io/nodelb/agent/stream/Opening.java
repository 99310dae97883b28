package io.nodelb.agent.stream;

import io.nodelb.agent.dataplane.DesiredState.GroupRef;
import io.nodelb.agent.dataplane.DesiredState.StreamListener;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

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
    final byte[] first = new byte[ClientHello.MAX_BYTES];
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

    /** The client's bytes read so far as a buffer to read more into. */
    ByteBuffer unread() {
        return ByteBuffer.wrap(first, length, first.length - length);
    }
}
