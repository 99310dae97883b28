package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The relay loops' system calls on loopback sockets: results, errors as values, and their messages. */
class SocketsTest {
    private final Sockets calls = new Sockets();
    private final List<Integer> fds = new ArrayList<>();

    @AfterEach
    void closeAll() {
        fds.forEach(fd -> calls.close(fd, false));
    }

    private int track(int fd) {
        fds.add(fd);
        return fd;
    }

    private int listen(InetAddress address) throws IOException {
        return track(calls.listen(address, 0, 16));
    }

    /** What the test reads of a socket that the relay loops never need to: its port, TCP_NODELAY. */
    private static final class Probe {
        private static final Linker LINKER = Linker.nativeLinker();
        private static final MethodHandle GETSOCKNAME = LINKER.downcallHandle(
                LINKER.defaultLookup().find("getsockname").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        private static final MethodHandle GETSOCKOPT = LINKER.downcallHandle(
                LINKER.defaultLookup().find("getsockopt").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.ADDRESS, ValueLayout.ADDRESS));

        static int port(int fd) throws Throwable {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment address = arena.allocate(28);
                MemorySegment length = arena.allocate(ValueLayout.JAVA_INT);
                length.set(ValueLayout.JAVA_INT, 0, 28);
                assertThat((int) GETSOCKNAME.invokeExact(fd, address, length)).isZero();
                return Short.toUnsignedInt(address.get(ValueLayout.JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN), 2));
            }
        }

        static boolean noDelay(int fd) throws Throwable {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
                MemorySegment length = arena.allocate(ValueLayout.JAVA_INT);
                length.set(ValueLayout.JAVA_INT, 0, 4);
                assertThat((int) GETSOCKOPT.invokeExact(fd, 6 /* IPPROTO_TCP */, 1 /* TCP_NODELAY */, value, length))
                        .isZero();
                return value.get(ValueLayout.JAVA_INT, 0) != 0;
            }
        }
    }

    @Test
    void acceptsReadsWritesAndTellsAnEndOfStreamFromNothingYet() throws Exception {
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        try (ServerSocket backend = new ServerSocket(0, 1, loopback)) {
            int listening = listen(loopback);
            assertThat(calls.accept(listening)).as("nothing waits").isEqualTo(-1);

            int upstream = track(calls.socket(Sockets.AF_INET));
            boolean now = calls.connect(upstream, (InetSocketAddress) backend.getLocalSocketAddress());
            try (Socket accepted = backend.accept()) {
                if (!now) {
                    awaitWritable(upstream);
                }
                assertThat(calls.connectResult(upstream)).isZero();
                byte[] buffer = new byte[64];
                assertThat(calls.read(upstream, buffer, 0, buffer.length)).isEqualTo(Sockets.WOULD_BLOCK);
                byte[] hello = "hello".getBytes(StandardCharsets.US_ASCII);
                assertThat(calls.write(upstream, hello, 0, hello.length)).isEqualTo(5);
                InputStream in = accepted.getInputStream();
                assertThat(in.readNBytes(5)).isEqualTo(hello);
                OutputStream out = accepted.getOutputStream();
                out.write("back".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                int n = awaitRead(upstream, buffer, 10);
                assertThat(new String(buffer, 10, n, StandardCharsets.US_ASCII)).isEqualTo("back");
                assertThat(calls.shutdownOutput(upstream)).isTrue();
                assertThat(in.read()).as("the FIN").isEqualTo(-1);
                accepted.shutdownOutput();
                assertThat(awaitRead(upstream, buffer, 0)).as("end of stream").isZero();
            }
        }
    }

    @Test
    void aResetIsAFailedReadNotAnException() throws Exception {
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        try (ServerSocket backend = new ServerSocket(0, 1, loopback)) {
            int upstream = track(calls.socket(Sockets.AF_INET));
            if (!calls.connect(upstream, (InetSocketAddress) backend.getLocalSocketAddress())) {
                awaitWritable(upstream);
            }
            try (Socket accepted = backend.accept()) {
                accepted.setSoLinger(true, 0); // close with a RST
            }
            byte[] buffer = new byte[16];
            assertThat(awaitRead(upstream, buffer, 0)).isEqualTo(Sockets.FAILED);
            assertThat(Sockets.describe(calls.errno())).containsIgnoringCase("reset");
        }
    }

    @Test
    void theAcceptedPeerIsDecodedForBothFamiliesAndNoDelayIsInherited() throws Throwable {
        for (InetAddress address : List.of(InetAddress.getByName("127.0.0.1"), InetAddress.getByName("::1"))) {
            int listening = listen(address);
            try (Socket client = new Socket(address, Probe.port(listening))) {
                int fd = -1;
                for (int i = 0; i < 200 && fd < 0; i++) {
                    fd = calls.accept(listening);
                    if (fd < 0) {
                        Thread.sleep(5);
                    }
                }
                track(fd);
                InetSocketAddress peer = calls.peer();
                assertThat(peer.getAddress()).isEqualTo(address);
                assertThat(peer.getPort()).isEqualTo(client.getLocalPort());
                assertThat(peer.getAddress() instanceof Inet6Address).isEqualTo(address instanceof Inet6Address);
                assertThat(Probe.noDelay(fd)).as("TCP_NODELAY from the listening socket").isTrue();
            }
        }
    }

    @Test
    void aPortInUseIsRefusedWithTheKernelsReason() throws Exception {
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        try (ServerSocket taken = new ServerSocket(0, 1, loopback)) {
            assertThatThrownBy(() -> calls.listen(loopback, taken.getLocalPort(), 16))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("bind /127.0.0.1:" + taken.getLocalPort())
                    .hasMessageContaining("Address already in use (errno 98)");
        }
    }

    @Test
    void anEventFdSignalledFromAnotherThreadWakesAWait() throws Exception {
        int epoll = track(calls.epollCreate());
        int wake = track(calls.eventFd());
        calls.poll(epoll, wake, false, Sockets.EPOLLIN, 42);
        MemorySegment events = Arena.ofAuto().allocate(4L * Sockets.EPOLL_EVENT_SIZE, 8);
        assertThat(calls.epollWait(epoll, events, 4, 0)).as("nothing yet").isZero();
        Thread.ofPlatform().start(() -> Sockets.signal(wake)).join();
        assertThat(calls.epollWait(epoll, events, 4, 1000)).isEqualTo(1);
        assertThat(Sockets.dataAt(events, 0)).isEqualTo(42);
        assertThat(Sockets.eventsAt(events, 0) & Sockets.EPOLLIN).isNotZero();
        calls.drain(wake);
        assertThat(calls.epollWait(epoll, events, 4, 0)).as("drained").isZero();
    }

    private void awaitWritable(int fd) throws IOException {
        int epoll = track(calls.epollCreate());
        calls.poll(epoll, fd, false, Sockets.EPOLLOUT, fd);
        MemorySegment events = Arena.ofAuto().allocate(Sockets.EPOLL_EVENT_SIZE, 8);
        assertThat(calls.epollWait(epoll, events, 1, 2000)).isEqualTo(1);
    }

    private int awaitRead(int fd, byte[] buffer, int at) throws InterruptedException {
        for (int i = 0; i < 400; i++) {
            int n = calls.read(fd, buffer, at, buffer.length - at);
            if (n != Sockets.WOULD_BLOCK) {
                return n;
            }
            Thread.sleep(5);
        }
        throw new AssertionError("nothing to read within 2 s");
    }
}
