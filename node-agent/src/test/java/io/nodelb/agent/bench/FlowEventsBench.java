package io.nodelb.agent.bench;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.PortFilter;
import io.nodelb.agent.events.AccessLog;
import io.nodelb.agent.events.EventConsumer;
import io.nodelb.agent.events.FlowMetrics;
import io.nodelb.agent.events.Names;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The agent's user-space cost of flow events: records in nlb_event layout (native memory, as
 * the ring buffer hands them) decoded with Abi.Event.readFrom at a fixed rate on one thread and
 * offered to the consumer, whose writer names them and feeds the access log (JSON or CLF to a
 * size-rotated file, or none) and the metrics. Reports the process's CPU time per second of
 * run, after a warm-up: the CPU per that many events/s. The ring buffer's own poll (an epoll
 * wake-up per batch) is not in it.
 *
 * <p>{@code java -cp node-agent/target/test-classes:node-agent/target/nodelb-node-agent.jar:node-agent/target/lib/*
 * io.nodelb.agent.bench.FlowEventsBench [RATE] [SECONDS]}
 */
public final class FlowEventsBench {

    private FlowEventsBench() {}

    public static void main(String[] args) throws Exception {
        int rate = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        System.out.printf("| sinks | events/s | CPU (%% of one core) | records delivered | dropped |%n|---|---|---|---|---|%n");
        for (String sinks : List.of("none (the pacing loop alone)", "metrics", "metrics+json", "metrics+clf")) {
            run(sinks, rate, seconds);
        }
    }

    private static void run(String sinks, int rate, int seconds) throws Exception {
        Path dir = Files.createTempDirectory("nodelb-events-bench");
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Map<Integer, Abi.Backend> backends = new java.util.HashMap<>();
        for (int i = 0; i < 16; i++) {
            backends.put(i, new Abi.Backend(InetAddress.getByName("10.2.0." + (i + 1)), 8080));
        }
        DesiredState applied = new DesiredState(Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), backends,
                new PortFilter(), new PortFilter(), Set.of());
        Names names = new Names(() -> applied, Optional::empty, "bench-node");
        EventConsumer[] consumer = new EventConsumer[1];
        FlowMetrics metrics = new FlowMetrics(registry, () -> new Abi.EventBudget(0, 0, 0),
                () -> consumer[0].dropped(), 4535, () -> new double[] {1, 2});
        metrics.update(applied, Map.of(), Map.of());
        List<EventConsumer.Sink> list = new ArrayList<>(List.of(metrics));
        AccessLog log = null;
        if (sinks.contains("+")) {
            log = AccessLog.open(new AccessLog.Settings(dir.resolve("access.log").toString(),
                    sinks.endsWith("json") ? AccessLog.Format.JSON : AccessLog.Format.CLF, 50L << 20, 3));
            list.add(log::write);
        }
        consumer[0] = EventConsumer.start(EventConsumer.DEFAULT_CAPACITY, names, list);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] records = records(arena, 1024);
            var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            long warmUp = System.nanoTime() + 5_000_000_000L;
            long end = warmUp + seconds * 1_000_000_000L;
            long cpuAtStart = -1;
            long deliveredAtStart = 0;
            long tick = System.nanoTime();
            int perMs = Math.max(1, rate / 1000);
            long n = 0;
            while (System.nanoTime() < end) {
                if (cpuAtStart < 0 && System.nanoTime() >= warmUp) {
                    cpuAtStart = os.getProcessCpuTime();
                    deliveredAtStart = consumer[0].delivered();
                }
                for (int i = 0; i < perMs && !sinks.startsWith("none"); i++) {
                    consumer[0].offer(Abi.Event.readFrom(records[(int) (n++ % records.length)]));
                }
                tick += 1_000_000L;
                long wait = tick - System.nanoTime();
                if (wait > 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(wait);
                }
            }
            long cpu = os.getProcessCpuTime() - cpuAtStart;
            long delivered = consumer[0].delivered() - deliveredAtStart;
            System.out.printf("| %s | %,d | %.1f | %,d | %,d |%n", sinks, rate, 100.0 * cpu / (seconds * 1e9), delivered,
                    consumer[0].dropped());
        } finally {
            consumer[0].close();
            if (log != null) {
                log.close();
            }
            registry.close();
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Records as the XDP program writes them: a third NEW_FLOW, a third FLOW_END, a third DROP. */
    private static MemorySegment[] records(Arena arena, int n) {
        MemorySegment[] out = new MemorySegment[n];
        long now = System.nanoTime();
        for (int i = 0; i < n; i++) {
            MemorySegment r = arena.allocate(Abi.Event.LAYOUT);
            int type = i % 3 + 1;
            set(r, "time_ns", ValueLayout.JAVA_LONG, now);
            set(r, "created_ns", ValueLayout.JAVA_LONG, now - 1_000_000L * i);
            r.set(ValueLayout.JAVA_INT, off("src"), 0x0100010a + (i << 24)); // 10.1.0.x
            r.set(ValueLayout.JAVA_INT, off("dst"), 0x6400000a); // 10.0.0.100
            r.set(ValueLayout.JAVA_INT, off("backend_addr"), 0x0000020a + ((i % 16 + 1) << 24));
            r.set(ValueLayout.JAVA_SHORT, off("sport"), Short.reverseBytes((short) (40000 + i)));
            r.set(ValueLayout.JAVA_SHORT, off("dport"), Short.reverseBytes((short) 80));
            r.set(ValueLayout.JAVA_SHORT, off("backend_port"), Short.reverseBytes((short) 8080));
            r.set(ValueLayout.JAVA_BYTE, off("proto"), (byte) Abi.IPPROTO_TCP);
            r.set(ValueLayout.JAVA_BYTE, off("family"), (byte) Abi.FAMILY_IPV4);
            r.set(ValueLayout.JAVA_BYTE, off("type"), (byte) type);
            r.set(ValueLayout.JAVA_BYTE, off("reason"), (byte) (type == Abi.EVENT_FLOW_END ? Abi.END_FIN
                    : type == Abi.EVENT_DROP ? Abi.Stat.DROP_NO_BACKEND.value() : 0));
            r.set(ValueLayout.JAVA_INT, off("backend"), i % 16);
            set(r, "packets", ValueLayout.JAVA_LONG, 10);
            set(r, "bytes", ValueLayout.JAVA_LONG, 1000);
            set(r, "reply_packets", ValueLayout.JAVA_LONG, 12);
            set(r, "reply_bytes", ValueLayout.JAVA_LONG, 15000);
            out[i] = r;
        }
        return out;
    }

    private static long off(String field) {
        return Abi.Event.LAYOUT.byteOffset(PathElement.groupElement(field));
    }

    private static void set(MemorySegment r, String field, ValueLayout.OfLong layout, long value) {
        r.set(layout, off(field), value);
    }
}
