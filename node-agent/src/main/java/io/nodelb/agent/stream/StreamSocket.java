package io.nodelb.agent.stream;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/**
 * One socket of a stream connection: its fd (for TCP_INFO and the relay loops) and how it closes.
 * A relay loop's own sockets are bare fds, closed only on that loop's thread (a closed fd's number
 * is soon another socket's); the splice's path has channels.
 */
sealed interface StreamSocket {
    /** Its fd; -1 when not known (a channel, without {@code --add-exports java.base/sun.nio.ch}). */
    int fd();

    /** Closes it, once; abortive: with a RST (SO_LINGER 0), so no side holds a half-open connection. */
    void close(boolean abortive);

    /** A socket a relay loop opened (accepted or connected), non-blocking. */
    record Fd(int fd, Sockets calls) implements StreamSocket {
        @Override
        public void close(boolean abortive) {
            calls.close(fd, abortive);
        }
    }

    /** A socket of the splice's path. */
    record Channel(SocketChannel channel, int fd) implements StreamSocket {
        static Channel of(SocketChannel channel) {
            int fd;
            try {
                fd = TcpInfo.available() ? TcpInfo.fd(channel) : -1;
            } catch (IOException e) {
                fd = -1;
            }
            return new Channel(channel, fd);
        }

        @Override
        public void close(boolean abortive) {
            try {
                if (abortive) {
                    channel.socket().setSoLinger(true, 0);
                }
                channel.close();
            } catch (IOException e) {
                // closed already
            }
        }
    }
}
