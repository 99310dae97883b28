package io.nodelb.agent.dataplane;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * Moves the calling thread over the CPUs it may run on, one at each {@link #next}, and back to
 * its own CPU set at {@link #close}. nlb_ct_embryonic keeps one LRU list per CPU
 * (BPF_F_NO_COMMON_LRU): an entry written from user space lands in the list of the CPU that
 * wrote it, so a copy of a whole table from one CPU would fill that CPU's share and evict its
 * own entries. When the thread cannot be moved (no permission, a CPU set of one), writes stay
 * where they are.
 */
final class CpuSpread implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(CpuSpread.class.getName());
    /** Bytes of a cpu_set_t for 8,192 CPUs. */
    private static final int MASK_BYTES = 1024;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle GET = handle("sched_getaffinity");
    private static final MethodHandle SET = handle("sched_setaffinity");

    private final Arena arena = Arena.ofConfined();
    private final MemorySegment own = arena.allocate(MASK_BYTES, 8);
    private final MemorySegment one = arena.allocate(MASK_BYTES, 8);
    private final List<Integer> cpus = new ArrayList<>();
    private int turn;
    private boolean moved;

    CpuSpread() {
        if (call(GET, own) != 0) {
            return;
        }
        for (int cpu = 0; cpu < MASK_BYTES * 8; cpu++) {
            if ((own.get(ValueLayout.JAVA_BYTE, cpu / 8) & (1 << (cpu % 8))) != 0) {
                cpus.add(cpu);
            }
        }
    }

    /** The CPUs it goes over: those this thread may run on. */
    int cpus() {
        return cpus.size();
    }

    /** Moves the thread to the next CPU of its set, in turn. */
    void next() {
        if (cpus.size() < 2) {
            return;
        }
        int cpu = cpus.get(turn++ % cpus.size());
        one.fill((byte) 0);
        one.set(ValueLayout.JAVA_BYTE, cpu / 8, (byte) (1 << (cpu % 8)));
        if (call(SET, one) == 0) {
            moved = true;
        } else if (turn == 1) {
            LOG.log(System.Logger.Level.WARNING, "cannot move the migration's thread over the CPUs: its flow"
                    + " entries land in one CPU's LRU list");
            cpus.clear();
        }
    }

    @Override
    public void close() {
        if (moved && call(SET, own) != 0) {
            LOG.log(System.Logger.Level.WARNING, "cannot give the migration's thread its CPU set back");
        }
        arena.close();
    }

    private static int call(MethodHandle h, MemorySegment mask) {
        try {
            return (int) h.invokeExact(0, (long) MASK_BYTES, mask);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private static MethodHandle handle(String name) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                        ValueLayout.ADDRESS));
    }
}
