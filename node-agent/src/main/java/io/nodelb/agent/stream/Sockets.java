package io.nodelb.agent.stream;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;

/**
 * The socket system calls of the relay loops, straight to libc through FFM: what NIO adds to each
 * connection (fcntl, getsockname, poll, a shutdown and a getsockopt at close, an exception per
 * reset) costs the relay a tenth of its CPU per new connection, and HAProxy pays none of it.
 *
 * <p>An instance keeps the scratch memory its calls use (errno, addresses): one per thread. Calls
 * that only move bytes between a socket and a Java array are {@code critical}: they do not block
 * (the sockets are non-blocking) and read or write the array in place.
 */
final class Sockets {
    static final int AF_INET = 2;
    static final int AF_INET6 = 10;
    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int EINPROGRESS = 115;
    static final int EPOLLIN = 0x001;
    static final int EPOLLOUT = 0x004;
    static final int EPOLLERR = 0x008;
    static final int EPOLLHUP = 0x010;
    /** Of the epoll sets polling a socket with it, one is woken per event, not all. */
    static final int EPOLLEXCLUSIVE = 1 << 28;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_NONBLOCK = 0x800;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_REUSEADDR = 2;
    private static final int SO_ERROR = 4;
    private static final int SO_LINGER = 13;
    private static final int IPPROTO_TCP = 6;
    private static final int TCP_NODELAY = 1;
    private static final int IPPROTO_IPV6 = 41;
    private static final int IPV6_V6ONLY = 26;
    private static final int SHUT_WR = 1;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int EPOLL_CTL_ADD = 1;
    private static final int EPOLL_CTL_DEL = 2;
    private static final int EPOLL_CTL_MOD = 3;
    private static final int EFD_NONBLOCK = 0x800;
    private static final int EFD_CLOEXEC = 0x80000;
    /** struct epoll_event: packed (12 bytes) on x86-64, 16 bytes elsewhere. */
    static final int EPOLL_EVENT_SIZE = System.getProperty("os.arch").matches("amd64|x86_64") ? 12 : 16;
    static final int EPOLL_DATA_AT = EPOLL_EVENT_SIZE == 12 ? 4 : 8;
    private static final ValueLayout.OfLong EPOLL_DATA = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfShort NET_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int SOCKADDR_MAX = 28;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final long ERRNO_AT = CALL_STATE.byteOffset(StructLayout.PathElement.groupElement("errno"));
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG;
    private static final ValueLayout P = ValueLayout.ADDRESS;
    private static final MethodHandle SOCKET = call("socket", false, FunctionDescriptor.of(I, I, I, I));
    private static final MethodHandle SETSOCKOPT = call("setsockopt", true, FunctionDescriptor.of(I, I, I, I, P, I));
    private static final MethodHandle GETSOCKOPT = call("getsockopt", true, FunctionDescriptor.of(I, I, I, I, P, P));
    private static final MethodHandle BIND = call("bind", true, FunctionDescriptor.of(I, I, P, I));
    private static final MethodHandle LISTEN = call("listen", false, FunctionDescriptor.of(I, I, I));
    private static final MethodHandle ACCEPT4 = call("accept4", true, FunctionDescriptor.of(I, I, P, P, I));
    private static final MethodHandle CONNECT = call("connect", true, FunctionDescriptor.of(I, I, P, I));
    private static final MethodHandle RECV = call("recv", true, FunctionDescriptor.of(L, I, P, L, I));
    private static final MethodHandle SEND = call("send", true, FunctionDescriptor.of(L, I, P, L, I));
    private static final MethodHandle SHUTDOWN = call("shutdown", false, FunctionDescriptor.of(I, I, I));
    private static final MethodHandle CLOSE = call("close", false, FunctionDescriptor.of(I, I));
    private static final MethodHandle EPOLL_CREATE1 = call("epoll_create1", false, FunctionDescriptor.of(I, I));
    private static final MethodHandle EPOLL_CTL = call("epoll_ctl", true, FunctionDescriptor.of(I, I, I, I, P));
    private static final MethodHandle EPOLL_WAIT = call("epoll_wait", false, FunctionDescriptor.of(I, I, P, I, I));
    private static final MethodHandle EVENTFD = call("eventfd", false, FunctionDescriptor.of(I, I, I));
    /** write(2) without errno: {@link #signal} runs on any thread, with no scratch of its own. */
    private static final MethodHandle WRITE = LINKER.downcallHandle(LINKER.defaultLookup().find("write").orElseThrow(),
            FunctionDescriptor.of(L, I, P, L), Linker.Option.critical(true));
    private static final MethodHandle READ = call("read", true, FunctionDescriptor.of(L, I, P, L));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(LINKER.defaultLookup().find("strerror").orElseThrow(),
            FunctionDescriptor.of(P, I));

    /** {@code critical}: a short call that does not block, and may read and write Java arrays in place. */
    private static MethodHandle call(String name, boolean critical, FunctionDescriptor descriptor) {
        MemorySegment symbol = LINKER.defaultLookup().find(name).orElseThrow();
        return critical
                ? LINKER.downcallHandle(symbol, descriptor, Linker.Option.critical(true), Linker.Option.captureCallState("errno"))
                : LINKER.downcallHandle(symbol, descriptor, Linker.Option.captureCallState("errno"));
    }

    private final MemorySegment state = Arena.ofAuto().allocate(CALL_STATE);
    private final byte[] address = new byte[SOCKADDR_MAX];
    private final int[] length = new int[1];
    private final int[] option = new int[2];

    /** The errno of this instance's last failed call. */
    int errno() {
        return state.get(I, ERRNO_AT);
    }

    private IOException error(String what) {
        int errno = errno();
        return new IOException(what + ": " + describe(errno) + " (errno " + errno + ")");
    }

    static String describe(int errno) {
        try {
            return ((MemorySegment) STRERROR.invokeExact(errno)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "error " + errno;
        }
    }

    /** A downcall; {@link #invoke} takes the Throwable that invokeExact declares. */
    @FunctionalInterface
    private interface Downcall {
        long call() throws Throwable;
    }

    /** Runs a downcall; a failure in the JVM (not the kernel's, which is a return value) is rethrown unchecked. */
    private static long invoke(Downcall downcall) {
        try {
            return downcall.call();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * A non-blocking TCP socket listening on {@code address:port}: of the address's family (an
     * IPv6 one only for IPv6), SO_REUSEADDR, TCP_NODELAY.
     */
    int listen(InetAddress address, int port, int backlog) throws IOException {
        boolean v4 = address instanceof Inet4Address;
        int fd = socket(v4 ? AF_INET : AF_INET6);
        try {
            setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
            setInt(fd, IPPROTO_TCP, TCP_NODELAY, 1); // the accepted sockets inherit it: one call each saved
            if (!v4) {
                setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
            }
            int size = sockaddr(address, port);
            if (invoke(() -> (int) BIND.invokeExact(state, fd, MemorySegment.ofArray(this.address), size)) != 0) {
                throw error("bind " + new InetSocketAddress(address, port));
            }
            if (invoke(() -> (int) LISTEN.invokeExact(state, fd, backlog)) != 0) {
                throw error("listen " + new InetSocketAddress(address, port));
            }
            return fd;
        } catch (IOException | RuntimeException e) {
            close(fd, false);
            throw e;
        }
    }

    /** A non-blocking TCP socket of {@code family} (close-on-exec). */
    int socket(int family) throws IOException {
        int fd = (int) invoke(() -> (int) SOCKET.invokeExact(state, family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (fd < 0) {
            throw error("socket");
        }
        return fd;
    }

    /** Accepts a connection, non-blocking: its fd, or -1 when none waits; its peer then in {@link #peer}. */
    int accept(int listening) throws IOException {
        length[0] = SOCKADDR_MAX;
        int fd = (int) invoke(() -> (int) ACCEPT4.invokeExact(state, listening, MemorySegment.ofArray(address),
                MemorySegment.ofArray(length), SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd >= 0) {
            return fd;
        }
        if (errno() == EAGAIN || errno() == EINTR) {
            return -1;
        }
        throw error("accept");
    }

    /** The peer of the connection {@link #accept} returned last. */
    InetSocketAddress peer() throws UnknownHostException {
        MemorySegment a = MemorySegment.ofArray(address);
        int port = Short.toUnsignedInt(a.get(NET_SHORT, 2));
        short family = a.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0);
        byte[] ip = family == AF_INET ? java.util.Arrays.copyOfRange(address, 4, 8)
                : java.util.Arrays.copyOfRange(address, 8, 24);
        return new InetSocketAddress(InetAddress.getByAddress(ip), port);
    }

    /** Starts connecting {@code fd}: true connected now, false under way (writable when done). */
    boolean connect(int fd, InetSocketAddress to) throws IOException {
        int size = sockaddr(to.getAddress(), to.getPort());
        if (invoke(() -> (int) CONNECT.invokeExact(state, fd, MemorySegment.ofArray(address), size)) == 0) {
            return true;
        }
        if (errno() == EINPROGRESS) {
            return false;
        }
        throw error("connect " + to);
    }

    /** A connect under way ended: 0 connected, else its errno (SO_ERROR). */
    int connectResult(int fd) throws IOException {
        length[0] = 4;
        if (invoke(() -> (int) GETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_ERROR, MemorySegment.ofArray(option),
                MemorySegment.ofArray(length))) != 0) {
            throw error("SO_ERROR");
        }
        return option[0];
    }

    void noDelay(int fd) throws IOException {
        setInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    }

    private void setInt(int fd, int level, int name, int value) throws IOException {
        option[0] = value;
        if (invoke(() -> (int) SETSOCKOPT.invokeExact(state, fd, level, name, MemorySegment.ofArray(option), 4)) != 0) {
            throw error("setsockopt " + level + "/" + name);
        }
    }

    /** What {@link #read} and {@link #write} return when nothing can move now (EAGAIN). */
    static final int WOULD_BLOCK = -1;
    /** What they return on an error (its errno in {@link #errno}): no exception, as a reset is common. */
    static final int FAILED = -2;

    /** Reads into {@code to[at, at + max)}: bytes read, 0 at the end of stream, or WOULD_BLOCK or FAILED. */
    int read(int fd, byte[] to, int at, int max) {
        long n = invoke(() -> (long) RECV.invokeExact(state, fd, MemorySegment.ofArray(to).asSlice(at, max), (long) max, 0));
        return n >= 0 ? (int) n : errno() == EAGAIN || errno() == EINTR ? WOULD_BLOCK : FAILED;
    }

    /** Writes what it can of {@code from[at, at + count)} now: bytes written (0: none), or FAILED. */
    int write(int fd, byte[] from, int at, int count) {
        long n = invoke(() -> (long) SEND.invokeExact(state, fd, MemorySegment.ofArray(from).asSlice(at, count),
                (long) count, MSG_NOSIGNAL));
        return n >= 0 ? (int) n : errno() == EAGAIN || errno() == EINTR ? 0 : FAILED;
    }

    /** Sends a FIN (the peer reads an end of stream); false on an error. */
    boolean shutdownOutput(int fd) {
        return invoke(() -> (int) SHUTDOWN.invokeExact(state, fd, SHUT_WR)) == 0;
    }

    /** Closes {@code fd}; abortive: with a RST (SO_LINGER 0). Errors are not reported: the fd is gone. */
    void close(int fd, boolean abortive) {
        if (abortive) {
            option[0] = 1;
            option[1] = 0;
            invoke(() -> (int) SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_LINGER, MemorySegment.ofArray(option), 8));
        }
        invoke(() -> (int) CLOSE.invokeExact(state, fd));
    }

    int epollCreate() throws IOException {
        int fd = (int) invoke(() -> (int) EPOLL_CREATE1.invokeExact(state, 0x80000 /* EPOLL_CLOEXEC */));
        if (fd < 0) {
            throw error("epoll_create1");
        }
        return fd;
    }

    /**
     * Sets what {@code fd} is polled for in {@code epoll}: {@code events} (0: not polled), with
     * {@code data} returned with its events; {@code polled}: whether it is polled now.
     */
    void poll(int epoll, int fd, boolean polled, int events, long data) throws IOException {
        int op = events == 0 ? EPOLL_CTL_DEL : polled ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        MemorySegment event = MemorySegment.ofArray(address); // 12 or 16 bytes, this instance's scratch
        event.set(ValueLayout.JAVA_INT_UNALIGNED, 0, events);
        event.set(EPOLL_DATA, EPOLL_DATA_AT, data);
        if (invoke(() -> (int) EPOLL_CTL.invokeExact(state, epoll, op, fd, event)) != 0) {
            throw error("epoll_ctl");
        }
    }

    /** Waits for events into {@code events} (a native array of epoll_event): how many; 0 on a signal. */
    int epollWait(int epoll, MemorySegment events, int max, int timeoutMs) throws IOException {
        int n = (int) invoke(() -> (int) EPOLL_WAIT.invokeExact(state, epoll, events, max, timeoutMs));
        if (n >= 0) {
            return n;
        }
        if (errno() == EINTR) {
            return 0;
        }
        throw error("epoll_wait");
    }

    static int eventsAt(MemorySegment events, int i) {
        return events.get(ValueLayout.JAVA_INT_UNALIGNED, (long) i * EPOLL_EVENT_SIZE);
    }

    static long dataAt(MemorySegment events, int i) {
        return events.get(EPOLL_DATA, (long) i * EPOLL_EVENT_SIZE + EPOLL_DATA_AT);
    }

    /** A non-blocking eventfd: what wakes a loop from another thread. */
    int eventFd() throws IOException {
        int fd = (int) invoke(() -> (int) EVENTFD.invokeExact(state, 0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (fd < 0) {
            throw error("eventfd");
        }
        return fd;
    }

    /** Adds one to an eventfd (its poller wakes); any thread, as it uses no scratch memory. */
    static void signal(int eventFd) {
        byte[] one = {1, 0, 0, 0, 0, 0, 0, 0};
        invoke(() -> (long) WRITE.invokeExact(eventFd, MemorySegment.ofArray(one), 8L));
    }

    /** Resets an eventfd to zero. */
    void drain(int eventFd) {
        invoke(() -> (long) READ.invokeExact(state, eventFd, MemorySegment.ofArray(option), 8L));
    }

    /** Writes {@code address:port} as a sockaddr into the scratch; its size. */
    private int sockaddr(InetAddress ip, int port) {
        java.util.Arrays.fill(address, (byte) 0);
        MemorySegment a = MemorySegment.ofArray(address);
        byte[] raw = ip.getAddress();
        a.set(NET_SHORT, 2, (short) port);
        if (raw.length == 4) {
            a.set(ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) AF_INET);
            System.arraycopy(raw, 0, address, 4, 4);
            return 16;
        }
        a.set(ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) AF_INET6);
        System.arraycopy(raw, 0, address, 8, 16);
        if (ip instanceof java.net.Inet6Address v6 && v6.getScopeId() != 0) {
            a.set(ValueLayout.JAVA_INT_UNALIGNED, 24, v6.getScopeId());
        }
        return 28;
    }
}
