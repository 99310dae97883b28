package io.nodelb.agent.health;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.ByteOrder;

/**
 * The libc calls of the TCP and HTTP checks, bound through FFM: non-blocking sockets and one
 * epoll set. A {@code SocketChannel} adds two {@code fcntl}, {@code poll}, {@code getsockopt} and
 * two {@code getsockname} calls to every connection, and a registration with a {@code Selector}
 * that is undone at close; here a TCP check is {@code socket}, {@code setsockopt},
 * {@code connect}, {@code epoll_ctl} and {@code close}, an HTTP check adds one {@code write} and
 * one {@code read}. Calls return their result, or {@code -errno}. All but {@link #wakeup} are
 * for one thread, the checks' loop.
 */
final class CheckSockets implements AutoCloseable {
    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int EINPROGRESS = 115;
    static final int EPOLLIN = 0x1;
    static final int EPOLLOUT = 0x4;
    static final int EPOLLERR = 0x8;
    static final int EPOLLHUP = 0x10;
    static final int EPOLLET = 1 << 31;
    /** The event data of the wake-up eventfd; a check's is its slot and fd, never negative. */
    static final long WAKEUP = -1;

    private static final int AF_INET = 2;
    private static final int AF_INET6 = 10;
    private static final int SOCK_STREAM_NONBLOCK_CLOEXEC = 1 | 0x800 | 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_ERROR = 4;
    private static final int SO_LINGER = 13;
    private static final int EPOLL_CTL_ADD = 1;
    private static final int CLOEXEC = 0x80000;
    private static final int EFD_NONBLOCK = 0x800;
    private static final int MAX_EVENTS = 256;
    /** struct epoll_event is packed on x86-64 (events, then data at 4); aligned elsewhere (data at 8). */
    private static final boolean PACKED = System.getProperty("os.arch").equals("amd64");
    private static final long EVENT_SIZE = PACKED ? 12 : 16;
    private static final long DATA_OFFSET = PACKED ? 4 : 8;
    private static final ValueLayout.OfLong DATA = JAVA_LONG.withByteAlignment(1);
    private static final ValueLayout.OfShort NET_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final long ERRNO = CALL_STATE.byteOffset(PathElement.groupElement("errno"));
    private static final MethodHandle socket = libc("socket", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle setsockopt = libc("setsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle getsockopt = libc("getsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle bind = libc("bind", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle connect = libc("connect", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle write = libc("write", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle read = libc("read", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle close = libc("close", JAVA_INT, JAVA_INT);
    private static final MethodHandle epoll_create1 = libc("epoll_create1", JAVA_INT, JAVA_INT);
    private static final MethodHandle epoll_ctl = libc("epoll_ctl", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle epoll_wait = libc("epoll_wait", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle eventfd = libc("eventfd", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle strerror = LINKER.downcallHandle(LIBC.find("strerror").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private final Arena arena = Arena.ofShared();
    private final MemorySegment state = arena.allocate(CALL_STATE);
    /** SO_LINGER {on, 0 s}: close resets the connection, so neither end keeps it in TIME_WAIT. */
    private final MemorySegment linger = arena.allocate(8);
    private final MemorySegment intOut = arena.allocate(8);
    private final MemorySegment address = arena.allocate(28); // sockaddr_in6, the larger
    private final MemorySegment event = arena.allocate(16);
    private final MemorySegment events = arena.allocate(EVENT_SIZE * MAX_EVENTS, 8);
    private final MemorySegment io;
    /** What {@link #wakeup} adds to the eventfd's counter. */
    private static final MemorySegment ONE = Arena.global().allocateFrom(JAVA_LONG, 1L);
    private final int epoll;
    private final int wakeupFd;
    private boolean closed;

    /** @param ioSize the largest read or write */
    CheckSockets(int ioSize) {
        io = arena.allocate(ioSize);
        linger.set(JAVA_INT, 0, 1);
        epoll = check(call(epoll_create1, CLOEXEC), "epoll_create1");
        wakeupFd = check(call(eventfd, 0, CLOEXEC | EFD_NONBLOCK), "eventfd");
        check(ctl(wakeupFd, EPOLLIN, WAKEUP), "epoll_ctl");
    }

    /**
     * A non-blocking TCP socket that resets at close, bound to {@code from} when given (a
     * sockaddr, port 0), connecting to {@code to}, and in the epoll set for {@code interest} with
     * {@code tag} and the fd as its data (see {@link #data}): its fd, or -errno (nothing left open).
     */
    int open(byte[] to, byte[] from, int interest, int tag) {
        int fd = call(socket, to.length == 16 ? AF_INET : AF_INET6, SOCK_STREAM_NONBLOCK_CLOEXEC, 0);
        if (fd < 0) {
            return fd;
        }
        int r = call(setsockopt, fd, SOL_SOCKET, SO_LINGER, linger, 8);
        if (r == 0 && from != null) {
            r = call(bind, fd, address(from), from.length);
        }
        if (r == 0) {
            r = call(connect, fd, address(to), to.length);
            r = r == -EINPROGRESS ? 0 : r;
        }
        if (r == 0) {
            r = ctl(fd, interest, ((long) tag << 32) | fd);
        }
        if (r < 0) {
            close(fd);
            return r;
        }
        return fd;
    }

    /** The socket's pending error (SO_ERROR): 0, or an errno. */
    int error(int fd) {
        intOut.set(JAVA_INT, 4, 4);
        int r = call(getsockopt, fd, SOL_SOCKET, SO_ERROR, intOut, intOut.asSlice(4));
        return r < 0 ? -r : intOut.get(JAVA_INT, 0);
    }

    /** Writes {@code bytes[from..]}: how many were written, or -errno. */
    int write(int fd, byte[] bytes, int from) {
        int n = Math.min(bytes.length - from, (int) io.byteSize());
        MemorySegment.copy(bytes, from, io, JAVA_BYTE, 0, n);
        return (int) callLong(write, fd, io, n);
    }

    /** Reads up to {@code max} bytes into {@link #readByte}'s buffer: how many, 0 at the end, or -errno. */
    int read(int fd, int max) {
        return (int) callLong(read, fd, io, Math.min(max, io.byteSize()));
    }

    byte readByte(int i) {
        return io.get(JAVA_BYTE, i);
    }

    void close(int fd) {
        call(close, fd);
    }

    /** Waits up to {@code millis} for events: how many (see {@link #data}, {@link #flags}), or -errno. */
    int await(int millis) {
        return call(epoll_wait, epoll, events, MAX_EVENTS, millis);
    }

    /** The i-th event's data: the tag given to {@link #open} in the high 32 bits, the fd in the low. */
    long data(int i) {
        return events.get(DATA, i * EVENT_SIZE + DATA_OFFSET);
    }

    int flags(int i) {
        return events.get(JAVA_INT, i * EVENT_SIZE);
    }

    /** Ends an {@link #await} under way, or the next one; from any thread, a no-op once closed. */
    synchronized void wakeup() {
        if (closed) {
            return; // the fd number may be another file's by now
        }
        try (Arena call = Arena.ofConfined()) {
            long ignored = (long) write.invokeExact(call.allocate(CALL_STATE), wakeupFd, ONE, 8L);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Takes the wake-ups that ended an {@link #await}. */
    void woken() {
        callLong(read, wakeupFd, intOut, 8L);
    }

    /** The address and port as a struct sockaddr_in or sockaddr_in6. */
    static byte[] sockaddr(InetAddress address, int port) {
        MemorySegment s = MemorySegment.ofArray(new byte[address instanceof Inet4Address ? 16 : 28]);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) (address instanceof Inet4Address ? AF_INET : AF_INET6));
        s.set(NET_SHORT, 2, (short) port);
        if (address instanceof Inet6Address v6) {
            MemorySegment.copy(MemorySegment.ofArray(v6.getAddress()), 0, s, 8, 16);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, 24, v6.getScopeId());
        } else {
            MemorySegment.copy(MemorySegment.ofArray(address.getAddress()), 0, s, 4, 4);
        }
        return s.toArray(JAVA_BYTE);
    }

    /** strerror's words for {@code errno}, as a SocketChannel's exceptions say them. */
    static String message(int errno) {
        try {
            return ((MemorySegment) strerror.invokeExact(errno)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        close(wakeupFd);
        close(epoll);
        arena.close();
    }

    private MemorySegment address(byte[] sockaddr) {
        MemorySegment.copy(sockaddr, 0, address, JAVA_BYTE, 0, sockaddr.length);
        return address;
    }

    private int ctl(int fd, int interest, long data) {
        event.set(JAVA_INT, 0, interest);
        event.set(DATA, DATA_OFFSET, data);
        return call(epoll_ctl, epoll, EPOLL_CTL_ADD, fd, event);
    }

    private static int check(int result, String what) {
        if (result < 0) {
            throw new IllegalStateException(what + ": " + message(-result));
        }
        return result;
    }

    // The calls, each returning the result or -errno.

    private int call(MethodHandle h, int a) {
        try {
            return errno((int) h.invokeExact(state, a));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int call(MethodHandle h, int a, int b) {
        try {
            return errno((int) h.invokeExact(state, a, b));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int call(MethodHandle h, int a, int b, int c) {
        try {
            return errno((int) h.invokeExact(state, a, b, c));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int call(MethodHandle h, int a, MemorySegment b, int c) {
        try {
            return errno((int) h.invokeExact(state, a, b, c));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int call(MethodHandle h, int a, MemorySegment b, int c, int d) {
        try {
            return errno((int) h.invokeExact(state, a, b, c, d));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int call(MethodHandle h, int a, int b, int c, MemorySegment d) {
        try {
            return errno((int) h.invokeExact(state, a, b, c, d));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int call(MethodHandle h, int a, int b, int c, MemorySegment d, int e) {
        try {
            return errno((int) h.invokeExact(state, a, b, c, d, e));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int call(MethodHandle h, int a, int b, int c, MemorySegment d, MemorySegment e) {
        try {
            return errno((int) h.invokeExact(state, a, b, c, d, e));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private long callLong(MethodHandle h, int a, MemorySegment b, long c) {
        try {
            long r = (long) h.invokeExact(state, a, b, c);
            return r < 0 ? -state.get(JAVA_INT, ERRNO) : r;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int errno(int result) {
        return result < 0 ? -state.get(JAVA_INT, ERRNO) : result;
    }

    private static MethodHandle libc(String name, ValueLayout result, ValueLayout... args) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError(name + " not found")),
                FunctionDescriptor.of(result, args), Linker.Option.captureCallState("errno"));
    }
}
