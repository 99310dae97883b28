package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A consumer of a {@code BPF_MAP_TYPE_RINGBUF} map through libbpf's {@code ring_buffer__*}:
 * {@link #poll} and {@link #consume} hand each record to the callback as a
 * {@link MemorySegment} of the record's size, valid only during the callback (the segment is
 * closed when the call that delivered it returns; copy what you keep).
 *
 * <p>One thread polls; {@link #poll}, {@link #consume} and {@link #close()} are serialised,
 * so a close from another thread waits for a running poll (at most its timeout). An
 * exception thrown by the callback stops the current poll (the record that threw counts as
 * consumed, the rest stay in the ring) and is rethrown by it. {@link #close()} is idempotent
 * and does not close the map.
 */
public final class RingBuffer implements AutoCloseable {
    private static final MethodHandle ON_SAMPLE;

    static {
        try {
            ON_SAMPLE = MethodHandles.lookup().findVirtual(RingBuffer.class, "onSample",
                    MethodType.methodType(int.class, MemorySegment.class, MemorySegment.class,
                            long.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String name;
    private final Consumer<MemorySegment> onRecord;
    private final Arena arena = Arena.ofShared(); // owns the upcall stub
    private MemorySegment rb; // NULL once closed
    private Arena records; // the scope of the segments handed out during one poll
    private RuntimeException failure; // thrown by the callback during the current poll

    private RingBuffer(BpfMap map, Consumer<MemorySegment> onRecord) {
        this.name = map.name();
        this.onRecord = Objects.requireNonNull(onRecord, "onRecord");
        if (map.type() != BpfMap.Type.RINGBUF.id()) {
            arena.close();
            throw new IllegalArgumentException(map + " is not a ring buffer");
        }
        try {
            // int (*ring_buffer_sample_fn)(void *ctx, void *data, size_t size)
            MemorySegment stub = Linker.nativeLinker().upcallStub(ON_SAMPLE.bindTo(this),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG), arena);
            this.rb = LibBpf.ringBufferNew(map.fd(), stub, name);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** A consumer of map (loaded, or opened from its pin) calling onRecord for each record. */
    public static RingBuffer open(BpfMap map, Consumer<MemorySegment> onRecord) {
        return new RingBuffer(map, onRecord);
    }

    /**
     * Waits up to timeout for records (a negative duration: forever, zero: not at all) and
     * hands each one to the callback. Returns how many were consumed, 0 on timeout or when
     * a signal interrupted the wait.
     */
    public synchronized int poll(Duration timeout) {
        long millis = timeout.isNegative() ? -1 : Math.min(timeout.toMillis(), Integer.MAX_VALUE);
        return run("ring_buffer__poll", (int) millis);
    }

    /** Hands every record already in the ring to the callback, without waiting: how many. */
    public synchronized int consume() {
        return run("ring_buffer__consume", Integer.MIN_VALUE);
    }

    /** An epoll fd that is readable when records wait (for an event loop of the caller's own). */
    public synchronized int epollFd() {
        return LibBpf.ringBufferEpollFd(open());
    }

    @Override
    public synchronized void close() {
        if (rb != null) {
            LibBpf.ringBufferFree(rb);
            rb = null;
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "RingBuffer[" + name + (rb == null ? ", closed" : "") + "]";
    }

    private int run(String operation, int timeoutMs) {
        MemorySegment current = open();
        failure = null;
        int ret;
        try (Arena scope = Arena.ofConfined()) {
            records = scope;
            ret = timeoutMs == Integer.MIN_VALUE
                    ? LibBpf.ringBufferConsume(current)
                    : LibBpf.ringBufferPoll(current, timeoutMs);
        } finally {
            records = null;
        }
        RuntimeException thrown = failure;
        failure = null;
        if (thrown != null) {
            throw thrown;
        }
        if (ret == -Errno.EINTR) {
            return 0;
        }
        return LibBpf.check(ret, operation, name);
    }

    /** The upcall: must never throw (an exception escaping an upcall ends the JVM). */
    private int onSample(MemorySegment ctx, MemorySegment data, long size) {
        try {
            onRecord.accept(data.reinterpret(size, records, null));
            return 0;
        } catch (RuntimeException | Error e) {
            failure = e instanceof RuntimeException r ? r
                    : new IllegalStateException("ring buffer " + name + " callback failed", e);
            return -Errno.ECANCELED;
        }
    }

    private MemorySegment open() {
        if (rb == null) {
            throw new IllegalStateException("ring buffer " + name + " is closed");
        }
        return rb;
    }
}
