package io.nodelb.agent.stream;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One event loop (a platform thread and a selector) that relays the connections handed to it, both
 * ways, with non-blocking sockets: each pass reads each ready socket once and writes what it read to
 * the other side at once, so connections take turns (none waits behind another's bulk transfer) and
 * a wait for data costs no thread switch and no re-registration. Reads go through one buffer per
 * loop; only what the other side cannot take now is kept, per direction, and that direction stops
 * reading until it is written. An end of stream is passed on as a half-close; a connection ends when
 * both ways have, or at the first error (both sockets closed).
 */
final class RelayLoop implements Runnable {
    private static final System.Logger LOG = System.getLogger(RelayLoop.class.getName());
    /** The most one read takes (then the next connection's turn). */
    static final int READ_BYTES = 64 * 1024;

    /** What the loop reports back: bytes copied by the agent, and a connection that ended. */
    interface Events {
        void copied(long bytes);

        void ended(StreamConnection connection);
    }

    private final Selector selector;
    private final Queue<StreamConnection> handedOver = new ConcurrentLinkedQueue<>();
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
        handedOver.add(c);
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
            while (!(closing && selector.keys().isEmpty() && handedOver.isEmpty())) {
                // Closing, the keys of ended connections leave the set only in a select: look again soon.
                selector.select(this::ready, closing ? 100 : 0);
                for (StreamConnection c; (c = handedOver.poll()) != null; ) {
                    register(c);
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "stream relay loop stopped: " + e);
            selector.keys().forEach(k -> fail((Side) k.attachment()));
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
        Side side = (Side) key.attachment();
        if (!key.isValid()) {
            return; // its connection ended earlier in this pass
        }
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
        if (c.resetSeen(c.client()) || c.resetSeen(c.upstream())) {
            c.failed();
        }
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
