package io.nodelb.agent.testing;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A platform thread that has entered a named network namespace ({@code /run/netns/NAME},
 * as made by {@code ip netns add}) with setns(2). Code passed to {@link #call} runs there:
 * interface lookups, attaching, and sockets, which keep their namespace after they are
 * created, so a socket opened here may be used from any thread afterwards.
 *
 * <p>setns changes only the calling thread, which is why the thread is a dedicated platform
 * thread (a virtual thread could move between carriers) that never returns to a pool.
 */
public final class NetnsThread implements AutoCloseable {
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(20);
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int O_RDONLY_CLOEXEC = 0x80000;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(PathElement.groupElement("errno"));
    private static final MethodHandle OPEN = LINKER.downcallHandle(
            LINKER.defaultLookup().find("open").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle SETNS = LINKER.downcallHandle(
            LINKER.defaultLookup().find("setns").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.captureCallState("errno"));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(
            LINKER.defaultLookup().find("strerror").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private final String name;
    private final ExecutorService thread;

    private NetnsThread(String name) {
        this.name = name;
        this.thread = Executors.newSingleThreadExecutor(
                task -> Thread.ofPlatform().daemon().name("netns-" + name).unstarted(task));
    }

    /** Starts a thread inside the namespace {@code name}; it must exist under /run/netns. */
    public static NetnsThread enter(String name) throws Exception {
        NetnsThread netns = new NetnsThread(name);
        try {
            netns.call(() -> {
                setns(name);
                return null;
            });
            return netns;
        } catch (Exception | Error e) {
            netns.close();
            throw e;
        }
    }

    public String name() {
        return name;
    }

    /** Runs code on the thread inside the namespace, waiting at most 20 s for it. */
    public <T> T call(Callable<T> code) throws Exception {
        return call(DEFAULT_TIMEOUT, code);
    }

    /** Runs code on the thread inside the namespace, waiting at most {@code timeout}. */
    public <T> T call(Duration timeout, Callable<T> code) throws Exception {
        Future<T> result = thread.submit(code);
        try {
            return result.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            result.cancel(true);
            throw new TimeoutException("code in namespace " + name + " did not finish in " + timeout);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            if (e.getCause() instanceof Error error) {
                throw error;
            }
            throw e;
        }
    }

    /** Stops the thread; the namespace itself belongs to whoever created it. */
    @Override
    public void close() throws InterruptedException {
        thread.shutdownNow();
        thread.awaitTermination(5, TimeUnit.SECONDS);
    }

    private static void setns(String name) {
        String path = "/run/netns/" + name;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path), O_RDONLY_CLOEXEC, 0);
            if (fd < 0) {
                throw new IllegalStateException("cannot open " + path + ": " + errno(state));
            }
            try {
                if ((int) SETNS.invokeExact(state, fd, CLONE_NEWNET) != 0) {
                    throw new IllegalStateException("setns(" + path + ") failed: " + errno(state));
                }
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static String errno(MemorySegment state) throws Throwable {
        int errno = (int) ERRNO.get(state, 0L);
        MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
        return "errno " + errno + " (" + text.reinterpret(256).getString(0) + ")";
    }
}
