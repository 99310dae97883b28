package io.nodelb.agent.stream;

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
 * What a stream connection's flow events and idle check read of a socket: {@code struct tcp_info}
 * (linux/tcp.h) through getsockopt(TCP_INFO). The socket's fd comes from its channel
 * ({@code sun.nio.ch.SelChImpl.getFDVal}, with {@code --add-exports java.base/sun.nio.ch=ALL-UNNAMED});
 * {@link #available} is false without it.
 *
 * @param state the TCP state (1 established, 8 close-wait)
 * @param lastDataSentMs milliseconds since the socket last sent data
 * @param lastDataRecvMs milliseconds since it last received data
 * @param bytesAcked bytes it sent that the peer acknowledged, its FIN counted as one
 * @param bytesReceived bytes it received, the peer's FIN counted as one
 * @param segsOut segments it sent (handshake, pure ACKs and FIN included)
 * @param segsIn segments it received
 * @param notSentBytes bytes queued, not yet sent
 * @param bytesSent payload bytes sent, retransmissions included
 * @param bytesRetrans payload bytes retransmitted
 */
public record TcpInfo(int state, long lastDataSentMs, long lastDataRecvMs, long bytesAcked, long bytesReceived,
                      long segsOut, long segsIn, long notSentBytes, long bytesSent, long bytesRetrans) {

    static final int TCP_ESTABLISHED = 1;
    static final int TCP_CLOSE_WAIT = 8;
    static final int TCP_CLOSE = 7;
    /** Offsets in struct tcp_info; the struct grew over time: 232 bytes since Linux 5.x. */
    private static final int STATE_AT = 0;
    private static final int LAST_DATA_SENT_AT = 44;
    private static final int LAST_DATA_RECV_AT = 52;
    private static final int BYTES_ACKED_AT = 120;
    private static final int BYTES_RECEIVED_AT = 128;
    private static final int SEGS_OUT_AT = 136;
    private static final int SEGS_IN_AT = 140;
    private static final int NOTSENT_BYTES_AT = 144;
    private static final int BYTES_SENT_AT = 200;
    private static final int BYTES_RETRANS_AT = 208;
    static final int SIZE = 232;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final long ERRNO_AT = CALL_STATE.byteOffset(StructLayout.PathElement.groupElement("errno"));
    private static final MethodHandle GETSOCKOPT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("getsockopt").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.ADDRESS),
            Linker.Option.captureCallState("errno"));
    private static final Method FD_OF = fdMethod();

    private static Method fdMethod() {
        try {
            Method m = Class.forName("sun.nio.ch.SelChImpl").getMethod("getFDVal");
            try (SocketChannel probe = SocketChannel.open()) {
                m.invoke(probe);
            }
            return m;
        } catch (ReflectiveOperationException | IOException | RuntimeException e) {
            return null;
        }
    }

    /** A state after the peer's FIN (close-wait 8, last-ack 9, closing 11, time-wait 6), not after a reset (close 7). */
    static boolean finishedByPeer(int state) {
        return state == TCP_CLOSE_WAIT || state == 9 || state == 11 || state == 6;
    }

    /**
     * Payload bytes received: {@link #bytesReceived} without the peer's FIN, counted when the
     * reader saw the end of stream or the state says a FIN came.
     */
    long payloadReceived(boolean endOfStream) {
        boolean fin = endOfStream || finishedByPeer(state);
        return Math.max(0, bytesReceived - (fin ? 1 : 0));
    }

    /** Payload bytes the peer acknowledged: {@link #bytesAcked} without this socket's FIN. */
    long payloadAcked() {
        return Math.min(bytesAcked, bytesSent - bytesRetrans);
    }

    /** Whether sockets' fds, hence their TCP_INFO, can be read in this JVM. */
    public static boolean available() {
        return FD_OF != null;
    }

    /** The fd of a socket channel. */
    static int fd(SocketChannel channel) throws IOException {
        if (FD_OF == null) {
            throw new IOException("no socket fds from Java (run with --add-exports java.base/sun.nio.ch=ALL-UNNAMED)");
        }
        try {
            return (int) FD_OF.invoke(channel);
        } catch (ReflectiveOperationException e) {
            throw new IOException("no fd for " + channel + ": " + e, e);
        }
    }

    /** The socket's TCP_INFO now. */
    public static TcpInfo of(SocketChannel channel) throws IOException {
        return of(fd(channel));
    }

    static TcpInfo of(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment info = arena.allocate(SIZE, 8);
            MemorySegment length = arena.allocate(ValueLayout.JAVA_INT);
            length.set(ValueLayout.JAVA_INT, 0, SIZE);
            int ret = (int) GETSOCKOPT.invokeExact(state, fd, 6 /* IPPROTO_TCP */, 11 /* TCP_INFO */, info, length);
            if (ret != 0) {
                throw new IOException("TCP_INFO: errno " + state.get(ValueLayout.JAVA_INT, ERRNO_AT));
            }
            if (length.get(ValueLayout.JAVA_INT, 0) < BYTES_RETRANS_AT + 8) {
                throw new IOException("TCP_INFO: this kernel's struct is too short");
            }
            return new TcpInfo(info.get(ValueLayout.JAVA_BYTE, STATE_AT) & 0xff,
                    u32(info, LAST_DATA_SENT_AT), u32(info, LAST_DATA_RECV_AT),
                    info.get(ValueLayout.JAVA_LONG, BYTES_ACKED_AT), info.get(ValueLayout.JAVA_LONG, BYTES_RECEIVED_AT),
                    u32(info, SEGS_OUT_AT), u32(info, SEGS_IN_AT), u32(info, NOTSENT_BYTES_AT),
                    info.get(ValueLayout.JAVA_LONG, BYTES_SENT_AT), info.get(ValueLayout.JAVA_LONG, BYTES_RETRANS_AT));
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("TCP_INFO: " + t, t);
        }
    }

    private static long u32(MemorySegment info, long at) {
        return info.get(ValueLayout.JAVA_INT, at) & 0xffffffffL;
    }
}
