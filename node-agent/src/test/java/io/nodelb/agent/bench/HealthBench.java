package io.nodelb.agent.bench;

import com.google.protobuf.ByteString;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.dataplane.WeightOverlay;
import io.nodelb.agent.health.HealthController;
import io.nodelb.agent.health.PassiveSignals;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.HealthCheck;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import io.nodelb.model.MaglevTable;
import io.nodelb.model.Target;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What the node's health reconciliation costs (method and results: docs/benchmarks.md, "Health
 * checking"). Run by {@code bin/nodelb-bench-health} in a network namespace of its own: the real
 * data plane loaded there, one target group of N backends, served by a child process listening
 * on N loopback ports. Three figures, each against a baseline of the same run:
 * <ol>
 *   <li>a table change on a health flip: {@link NodeProgrammer#reweigh} with one backend out and
 *       back (plan, Maglev build, map writes, state files), against {@code MaglevTable.build}
 *       alone for the same members;
 *   <li>agent CPU and heap while every backend is checked (HTTP) every second, against the same
 *       JVM idle just before;
 *   <li>reaction time: from a backend's listener closing to its weight 0 written to the maps
 *       (TCP checks every second, 2 failures), against interval x threshold.
 * </ol>
 */
public final class HealthBench {
    static final DesiredState.Limits LIMITS = new DesiredState.Limits(4093, 4096, 1024, 65536, 61000, 65535);
    private static final int BASE_PORT = 20000;
    /** Backends per group: a 4093-slot table holds at most that many well. */
    private static final int PER_GROUP = 1000;
    /** The group whose backends flip (the first). */
    private static final String GROUP = "bench/web-0";

    /** {@code parts}: which of "1", "2", "2b", "3" run (all by default). */
    record Options(Path pinPath, Path stateDir, int backends, int flips, int cpuSeconds, Path out, List<String> parts) {}

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("servers")) {
            servers(Integer.parseInt(args[1]));
            return;
        }
        Options o = parse(args);
        String report = run(o);
        System.out.print(report);
        Files.createDirectories(o.out().toAbsolutePath().getParent());
        Files.writeString(o.out(), report);
    }

    private static Options parse(String[] args) {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            a.put(args[i], args[i + 1]);
        }
        return new Options(Path.of(a.get("--pin-path")), Path.of(a.get("--state-dir")),
                Integer.parseInt(a.getOrDefault("--backends", "1000")), Integer.parseInt(a.getOrDefault("--flips", "20")),
                Integer.parseInt(a.getOrDefault("--cpu-seconds", "30")),
                Path.of(a.getOrDefault("--out", "node-agent/target/bench/health.md")),
                List.of(a.getOrDefault("--parts", "1,2,2b,3").split(",")));
    }

    static String run(Options o) throws Exception {
        StringBuilder report = new StringBuilder(String.format(Locale.ROOT,
                "# Health checking, %,d backends in groups of at most %,d (%s, %d CPUs)%n%n", o.backends(), PER_GROUP,
                java.time.Instant.now().toString().substring(0, 16), Runtime.getRuntime().availableProcessors()));
        Process servers = startServers(o.backends());
        try (BpfDataPlane dataPlane = BpfDataPlane.load(o.pinPath(), o.stateDir(), LIMITS, Map.of());
             PrintWriter commands = new PrintWriter(servers.getOutputStream(), true, StandardCharsets.US_ASCII);
             BufferedReader answers = new BufferedReader(new InputStreamReader(servers.getInputStream(), StandardCharsets.US_ASCII))) {
            expect(answers, "ready");
            SnapshotApplier applier = SnapshotApplier.adopting(dataPlane.maps(), DesiredState.Host.system(), LIMITS,
                    dataPlane.programmed(), dataPlane.stateDirectory());
            NodeProgrammer programmer = new NodeProgrammer(dataPlane, applier);
            if (o.parts().contains("1")) {
                report.append(rebuild(programmer, snapshot(o.backends(), null), o));
            }
            if (System.getenv("NODELB_BENCH_ONLY_REBUILD") != null) {
                return report.toString();
            }
            if (o.parts().contains("2")) {
                report.append(cpu(programmer, snapshot(o.backends(), HealthCheck.Type.HTTP), o, "2. ", "HTTP",
                        commands, answers));
            }
            if (o.parts().contains("2b")) {
                report.append(cpu(programmer, snapshot(o.backends(), HealthCheck.Type.TCP), o, "2b. ", "TCP",
                        commands, answers));
            }
            if (o.parts().contains("3")) {
                report.append(reaction(programmer, snapshot(o.backends(), HealthCheck.Type.TCP), o, commands, answers));
            }
        } finally {
            servers.destroy();
        }
        return report.toString();
    }

    // ---- 1. a table change on a health flip ----

    private static String rebuild(NodeProgrammer programmer, NodeSnapshot snapshot, Options o) {
        programmer.program(snapshot);
        List<Target> targets = new ArrayList<>();
        Map<String, Integer> configured = new HashMap<>();
        for (Backend b : snapshot.getTargetGroups(0).getBackendsList()) { // the first group's
            targets.add(new Target(WeightOverlay.key(b), b.getWeight()));
            configured.put(WeightOverlay.key(b), b.getWeight());
        }
        int rounds = 100;
        int warmUp = 300; // the plan's code is compiled by C2 only after a few hundred flips
        long[] reweigh = new long[rounds];
        long[] build = new long[rounds];
        int writes = 0;
        long slowest = 0;
        String slowestPhases = "";
        for (int i = 0; i < rounds + warmUp; i++) {
            // Baseline: the table alone, for the members of this flip.
            String victim = targets.get(ThreadLocalRandom.current().nextInt(targets.size())).key();
            List<Target> without = targets.stream().map(t -> new Target(t.key(), t.key().equals(victim) ? 0 : 100)).toList();
            long b0 = System.nanoTime();
            MaglevTable.build(without, LIMITS.tableSize());
            long b1 = System.nanoTime();
            Map<String, Integer> weights = new HashMap<>();
            without.forEach(t -> weights.put(t.key(), t.weight()));
            long r0 = System.nanoTime();
            int w = programmer.reweigh(new WeightOverlay(Map.of(GROUP, weights)));
            long r1 = System.nanoTime();
            if (i >= warmUp && (r1 - r0) > slowest) {
                slowest = r1 - r0;
                slowestPhases = programmer.applier().lastApply().toString();
            }
            programmer.reweigh(new WeightOverlay(Map.of(GROUP, configured))); // back, not timed
            if (i >= warmUp) {
                reweigh[i - warmUp] = r1 - r0;
                build[i - warmUp] = b1 - b0;
                writes += w;
            }
        }
        return String.format(Locale.ROOT, """
                ## 1. Table change on a health flip (one backend out of a group of %,d)

                | | p50 | p99 | mean |
                |---|---|---|---|
                | reweigh (plan + Maglev build + map writes + state files) | %.2f ms | %.2f ms | %.2f ms |
                | baseline: MaglevTable.build alone, same members | %.2f ms | %.2f ms | %.2f ms |
                | ratio (p50) | %.2f | | |

                %d flips after %d untimed; %.0f map writes per flip (runs of changed slots); the slowest flip
                (%.1f ms), the applier's steps: %s

                """, Math.min(PER_GROUP, o.backends()), ms(pct(reweigh, 50)), ms(pct(reweigh, 99)), ms(mean(reweigh)),
                ms(pct(build, 50)), ms(pct(build, 99)), ms(mean(build)), (double) pct(reweigh, 50) / pct(build, 50),
                rounds, warmUp, (double) writes / rounds, ms(slowest), slowestPhases);
    }

    // ---- 2. CPU and heap while checking ----

    private static String cpu(NodeProgrammer programmer, NodeSnapshot snapshot, Options o, String section, String type,
                              PrintWriter commands, BufferedReader answers) throws Exception {
        programmer.program(snapshot);
        Duration window = Duration.ofSeconds(o.cpuSeconds());
        long heapIdle = heapAfterGc();
        double idle = cores(window.dividedBy(3));
        double busy;
        long heapBusy;
        long[] ticks0;
        long[] ticks1;
        long served;
        long passing;
        try (HealthController controller = controller(programmer, snapshot, null)) {
            Thread.sleep(8000); // every backend checked several times, threads started, the JIT done with the checks
            long served0 = served(commands, answers, type.equals("HTTP"));
            ticks0 = userSystemTicks();
            busy = cores(window);
            ticks1 = userSystemTicks();
            served = served(commands, answers, type.equals("HTTP")) - served0;
            passing = controller.status().stream().filter(b -> b.reason().equals("ok")).count();
            heapBusy = heapAfterGc();
        }
        Thread.sleep(2000); // checks under way end before the next part's idle baseline
        return String.format(Locale.ROOT, """
                ## %sAgent CPU and heap, every backend checked over %s every 1 s

                | | CPU (cores) | heap after GC |
                |---|---|---|
                | baseline: the same JVM idle (data plane loaded, %d s) | %.3f | %.1f MB |
                | %,d backends checked (%d s) | %.3f | %.1f MB |
                | difference | %.3f | %.1f MB |

                Of the checking window's CPU, user space %.3f and kernel %.3f cores (/proc/self/stat; the
                kernel part includes the loopback handshakes of both ends). The servers answered %,.0f checks
                a second (%s); the last check of %,d backends had passed at the end.

                """, section, type, window.dividedBy(3).toSeconds(), idle, heapIdle / 1e6, o.backends(), window.toSeconds(), busy,
                heapBusy / 1e6, busy - idle, (heapBusy - heapIdle) / 1e6,
                (ticks1[0] - ticks0[0]) / 100.0 / window.toSeconds(), (ticks1[1] - ticks0[1]) / 100.0 / window.toSeconds(),
                served / (double) window.toSeconds(), type.equals("TCP") ? "connections accepted" : "requests answered",
                passing);
    }

    // ---- 3. reaction time ----

    private static String reaction(NodeProgrammer programmer, NodeSnapshot snapshot, Options o, PrintWriter commands,
                                   BufferedReader answers) throws Exception {
        programmer.program(snapshot);
        AtomicReference<Map<String, Integer>> written = new AtomicReference<>(Map.of());
        long[] took = new long[o.flips()];
        try (HealthController controller = controller(programmer, snapshot, written)) {
            Thread.sleep(2500);
            for (int i = 0; i < o.flips(); i++) {
                int victim = ThreadLocalRandom.current().nextInt(Math.min(PER_GROUP, o.backends()));
                String key = "127.0.0.1:" + (BASE_PORT + victim);
                commands.println("stop " + victim);
                expect(answers, "stopped " + victim);
                long stopped = System.nanoTime();
                while (written.get().getOrDefault(key, -1) != 0) {
                    Thread.sleep(1);
                    if (System.nanoTime() - stopped > Duration.ofSeconds(30).toNanos()) {
                        throw new IllegalStateException(key + " not out after 30 s");
                    }
                }
                took[i] = System.nanoTime() - stopped;
                commands.println("start " + victim);
                expect(answers, "started " + victim);
                while (written.get().getOrDefault(key, 0) == 0) {
                    Thread.sleep(5);
                }
            }
        }
        java.util.Arrays.sort(took);
        return String.format(Locale.ROOT, """
                ## 3. Reaction: a backend's listener closes -> its weight 0 is in the maps

                TCP checks every 1 s (jitter: 0-15 %% early), timeout 500 ms, unhealthy after 2 failures; %d flips.

                | p50 | p99 | max | baseline: interval x threshold | p99 target (+50 ms) |
                |---|---|---|---|---|
                | %.0f ms | %.0f ms | %.0f ms | 2000 ms | 2050 ms |

                """, o.flips(), ms(pct(took, 50)), ms(pct(took, 99)), ms(took[took.length - 1]));
    }

    private static HealthController controller(NodeProgrammer programmer, NodeSnapshot snapshot,
                                               AtomicReference<Map<String, Integer>> written) {
        return new HealthController(() -> Optional.of(snapshot), overlay -> {
            int writes = programmer.reweigh(overlay);
            if (written != null) {
                written.set(overlay.byGroup().getOrDefault(GROUP, Map.of()));
            }
            return writes;
        }, Map::of, PassiveSignals.NONE, null).start();
    }

    /** Groups of {@link #PER_GROUP} backends, each behind a listener port of its own (80, 81, ...). */
    static NodeSnapshot snapshot(int backends, HealthCheck.Type check) {
        NodeSnapshot.Builder snapshot = NodeSnapshot.newBuilder().setVersion("bench-" + backends + "-" + check);
        for (int g = 0; g * PER_GROUP < backends; g++) {
            TargetGroup.Builder group = TargetGroup.newBuilder().setName("bench/web-" + g).setRampUpSeconds(0);
            for (int i = g * PER_GROUP; i < Math.min(backends, (g + 1) * PER_GROUP); i++) {
                group.addBackends(Backend.newBuilder()
                        .setAddress(ByteString.copyFrom(InetAddress.getLoopbackAddress().getAddress()))
                        .setPort(BASE_PORT + i).setWeight(1).setState(BackendState.ACTIVE));
            }
            if (check != null) {
                group.setHealthCheck(HealthCheck.newBuilder().setType(check).setPath("/healthz").setIntervalMillis(1000)
                        .setTimeoutMillis(500).setHealthyThreshold(1).setUnhealthyThreshold(2));
            }
            snapshot.addTargetGroups(group).addListeners(Listener.newBuilder().setName("bench/lb/http-" + g)
                    .setPort(80 + g).setProtocol(Protocol.TCP).setNatMode(NatMode.DNAT).setTargetGroup("bench/web-" + g)
                    .addInterfaces("b0").setAddress(ByteString.copyFrom(new byte[] {10, 99, 0, 1})));
        }
        return snapshot.build();
    }

    // ---- the servers: a child process, so their CPU is not the agent's ----

    private static Process startServers(int count) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        // Ahead of other work on a shared machine (nice -10; the benchmark runs as root): servers that
        // fall behind time the checks out, and the agent's figures would be those of failing checks.
        return new ProcessBuilder("nice", "-n", "-10", java, "-cp", System.getProperty("java.class.path"),
                HealthBench.class.getName(), "servers", Integer.toString(count))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** Connections accepted and requests answered by every listener of the servers' process. */
    private static final java.util.concurrent.atomic.AtomicLong ACCEPTED = new java.util.concurrent.atomic.AtomicLong();
    private static final java.util.concurrent.atomic.AtomicLong REQUESTS = new java.util.concurrent.atomic.AtomicLong();
    private static final byte[] END_OF_HEAD = {'\r', '\n', '\r', '\n'};

    /**
     * Listens on 127.0.0.1:BASE_PORT.., answers each request HTTP 200 and closes; "stop i",
     * "start i" and "served" on stdin. One selector thread serves every listener: a thread per
     * listener fell behind 10,000 checks a second on a busy 2-CPU machine, and checks that time
     * out would make the agent's figures say nothing.
     */
    private static void servers(int count) throws Exception {
        Selector selector = Selector.open();
        ServerSocketChannel[] listeners = new ServerSocketChannel[count];
        for (int i = 0; i < count; i++) {
            listeners[i] = listen(selector, BASE_PORT + i);
        }
        java.util.concurrent.BlockingQueue<Runnable> tasks = new java.util.concurrent.LinkedBlockingQueue<>();
        Thread.ofPlatform().daemon().name("servers").start(() -> serve(selector, tasks));
        System.out.println("ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.equals("served")) {
                System.out.println("served " + ACCEPTED.get() + " " + REQUESTS.get());
                System.out.flush();
                continue;
            }
            String[] parts = line.split(" ");
            int i = Integer.parseInt(parts[1]);
            java.util.concurrent.CompletableFuture<Void> done = new java.util.concurrent.CompletableFuture<>();
            tasks.add(() -> {
                try {
                    if (parts[0].equals("stop")) {
                        listeners[i].close();
                        selector.selectNow(k -> {}); // deregisters it, which releases the port
                    } else {
                        listeners[i] = listen(selector, BASE_PORT + i);
                    }
                    done.complete(null);
                } catch (IOException e) {
                    done.completeExceptionally(e);
                }
            });
            selector.wakeup();
            done.get();
            System.out.println((parts[0].equals("stop") ? "stopped " : "started ") + i);
            System.out.flush();
        }
    }

    private static ServerSocketChannel listen(Selector selector, int port) throws IOException {
        ServerSocketChannel s = ServerSocketChannel.open();
        s.setOption(java.net.StandardSocketOptions.SO_REUSEADDR, true);
        s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 128);
        s.configureBlocking(false);
        s.register(selector, SelectionKey.OP_ACCEPT);
        return s;
    }

    private static void serve(Selector selector, java.util.concurrent.BlockingQueue<Runnable> tasks) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(4096);
        byte[] response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII);
        while (true) {
            try {
                selector.select(key -> {
                    try {
                        if (key.isAcceptable()) {
                            SocketChannel c = ((ServerSocketChannel) key.channel()).accept();
                            if (c != null) {
                                ACCEPTED.incrementAndGet();
                                c.configureBlocking(false);
                                c.register(selector, SelectionKey.OP_READ, new int[1]); // bytes of END_OF_HEAD matched
                            }
                        } else if (key.isReadable()) {
                            SocketChannel c = (SocketChannel) key.channel();
                            int[] matched = (int[]) key.attachment();
                            buffer.clear();
                            if (c.read(buffer) < 0) {
                                c.close();
                                return;
                            }
                            buffer.flip();
                            while (buffer.hasRemaining() && matched[0] < 4) {
                                byte b = buffer.get();
                                matched[0] = b == END_OF_HEAD[matched[0]] ? matched[0] + 1 : (b == '\r' ? 1 : 0);
                            }
                            if (matched[0] == 4) {
                                REQUESTS.incrementAndGet();
                                c.write(ByteBuffer.wrap(response));
                                c.close();
                            }
                        }
                    } catch (IOException e) {
                        try {
                            key.channel().close(); // a check that went away (TCP checks reset)
                        } catch (IOException ignored) {
                            // closed anyway
                        }
                    }
                });
                Runnable task;
                while ((task = tasks.poll()) != null) {
                    task.run();
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    // ---- helpers ----

    /** What the servers counted so far: connections accepted (TCP) or requests answered (HTTP). */
    private static long served(PrintWriter commands, BufferedReader answers, boolean requests) throws IOException {
        commands.println("served");
        String[] got = String.valueOf(answers.readLine()).split(" ");
        if (got.length != 3 || !got[0].equals("served")) {
            throw new IllegalStateException("servers said " + String.join(" ", got) + ", expected served A R");
        }
        return Long.parseLong(got[requests ? 2 : 1]);
    }

    private static void expect(BufferedReader answers, String line) throws IOException {
        String got = answers.readLine();
        if (!line.equals(got)) {
            throw new IllegalStateException("servers said " + got + ", expected " + line);
        }
    }

    /** CPU of this process over {@code window}, in cores. */
    private static double cores(Duration window) throws InterruptedException {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        Thread.sleep(window);
        return (double) (os.getProcessCpuTime() - cpu0) / (System.nanoTime() - t0);
    }

    /** This process's user and system CPU in clock ticks (USER_HZ, 100 on Linux). */
    private static long[] userSystemTicks() throws IOException {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return new long[] {Long.parseLong(f[11]), Long.parseLong(f[12])};
    }

    private static long heapAfterGc() {
        System.gc();
        var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        return heap.getUsed();
    }

    private static long pct(long[] values, int p) {
        long[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p / 100.0 * sorted.length) - 1)];
    }

    private static double mean(long[] values) {
        return java.util.Arrays.stream(values).average().orElse(0);
    }

    private static double ms(double nanos) {
        return nanos / 1e6;
    }
}
