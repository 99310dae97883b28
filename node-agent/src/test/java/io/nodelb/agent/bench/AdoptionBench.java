package io.nodelb.agent.bench;

import com.google.protobuf.ByteString;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.Phases;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.dataplane.Uninstaller;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.IdleTimeouts;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.SourceRoute;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * What an agent's restart costs on a big node: the time from a fresh JVM's start to a programmed
 * data plane when it adopts one with 10,000 listeners and 1,000,000 conntrack entries, phase by
 * phase, and its memory (method and results: docs/benchmarks.md, "Agent restart (adoption)").
 * Run by {@code bin/nodelb-bench-adoption}, which gives it a network namespace with two veths to
 * attach to and removes everything afterwards.
 *
 * <p>The driver programs the data plane the production way (a {@link NodeSnapshot} through
 * {@link NodeProgrammer}), fills the conntrack with real-format entries (forward and reply entry
 * of each flow, batch updates), and lets go of it as SIGTERM does. Then, each round, a fresh JVM
 * ({@code adopt}) does what an agent's start does: load the objects (adopting maps and links),
 * read the maps back, adopt (saved ids, saved snapshot), program its first snapshot; it prints
 * each step's time, then its RSS, then times {@link BpfDataPlane#liveFlowsByBackend()}.
 */
public final class AdoptionBench {

    static final DesiredState.Limits LIMITS = new DesiredState.Limits(4093, 16384, 1024, 65536, 61000, 65535);
    private static final String SNAT = "10.99.1.1";

    private AdoptionBench() {}

    record Options(Path pinPath, Path stateDir, int listeners, int groups, int backendsPerGroup, int conntrack,
                   int rounds, int flowScans, Path out) {
        static Options parse(List<String> args) {
            Map<String, String> values = new TreeMap<>();
            for (int i = 0; i < args.size(); i += 2) {
                if (!args.get(i).startsWith("--") || i + 1 >= args.size()) {
                    throw new IllegalArgumentException("expected --name value, got " + args.subList(i, args.size()));
                }
                values.put(args.get(i).substring(2), args.get(i + 1));
            }
            Options o = new Options(Path.of(required(values, "pin-path")), Path.of(required(values, "state-dir")),
                    number(values, "listeners", 10_000), number(values, "groups", 1_000),
                    number(values, "backends-per-group", 10), number(values, "conntrack", 1_000_000),
                    number(values, "rounds", 3), number(values, "flow-scans", 5),
                    values.containsKey("out") ? Path.of(values.remove("out")) : null);
            values.keySet().removeAll(List.of("pin-path", "state-dir", "listeners", "groups", "backends-per-group",
                    "conntrack", "rounds", "flow-scans", "out"));
            if (!values.isEmpty()) {
                throw new IllegalArgumentException("unknown options " + values.keySet());
            }
            if (o.groups < 10 || o.groups > LIMITS.maxGroups() - 1 || o.listeners < o.groups
                    || o.listeners > LIMITS.maxListeners() - 1) {
                throw new IllegalArgumentException("need 10 <= groups <= " + (LIMITS.maxGroups() - 1)
                        + " and groups <= listeners <= " + (LIMITS.maxListeners() - 1));
            }
            return o;
        }

        private static String required(Map<String, String> values, String name) {
            String v = values.get(name);
            if (v == null) {
                throw new IllegalArgumentException("--" + name + " is required");
            }
            return v;
        }

        private static int number(Map<String, String> values, String name, int otherwise) {
            return values.containsKey(name) ? Integer.parseInt(values.get(name).replace("_", "")) : otherwise;
        }
    }

    public static void main(String[] args) throws Exception {
        List<String> rest = new ArrayList<>(List.of(args));
        if (!rest.isEmpty() && rest.getFirst().equals("adopt")) {
            long main = System.nanoTime();
            adopt(Path.of(rest.get(1)), Path.of(rest.get(2)), Path.of(rest.get(3)), Integer.parseInt(rest.get(4)),
                    main);
            return;
        }
        Options options;
        try {
            options = Options.parse(rest);
        } catch (IllegalArgumentException e) {
            System.err.println("nodelb-bench-adoption: " + e.getMessage());
            System.err.println("usage: AdoptionBench --pin-path DIR --state-dir DIR [--listeners N] [--groups N]"
                    + " [--backends-per-group N] [--conntrack N] [--rounds N] [--flow-scans N] [--out FILE]");
            System.exit(2);
            return;
        }
        try {
            String report = drive(options);
            System.out.print(report);
            if (options.out() != null) {
                Files.createDirectories(options.out().toAbsolutePath().getParent());
                Files.writeString(options.out(), report);
                System.out.println("written to " + options.out());
            }
        } finally {
            Uninstaller.uninstall(options.pinPath(), options.stateDir());
        }
    }

    // ---- the driver ---------------------------------------------------------------------

    private static String drive(Options o) throws Exception {
        NodeSnapshot base = snapshot(o, 1);
        NodeSnapshot changed = snapshot(o, 2);
        Path work = Files.createTempDirectory("nodelb-bench-adoption-");
        Path baseFile = work.resolve("base.pb");
        Path changedFile = work.resolve("changed.pb");
        Files.write(baseFile, base.toByteArray());
        Files.write(changedFile, changed.toByteArray());
        StringBuilder report = new StringBuilder();
        try {
            report.append(setUp(o, base)).append('\n');
            List<Run> runs = new ArrayList<>();
            Path current = baseFile;
            for (int round = 1; round <= o.rounds(); round++) {
                runs.add(adoptInChild("same snapshot", current, o));
                current = current.equals(baseFile) ? changedFile : baseFile;
                runs.add(adoptInChild("one change", current, o));
            }
            report.append(table(runs, o));
        } finally {
            for (Path p : List.of(baseFile, changedFile, work)) {
                Files.deleteIfExists(p);
            }
        }
        return report.toString();
    }

    /** Programs {@code base} and fills the conntrack; leaves the data plane running (as SIGTERM does). */
    private static String setUp(Options o, NodeSnapshot base) {
        StringBuilder out = new StringBuilder();
        try (BpfDataPlane dataPlane = BpfDataPlane.load(o.pinPath(), o.stateDir(), LIMITS, Map.of())) {
            SnapshotApplier applier = SnapshotApplier.adopting(dataPlane.maps(), DesiredState.Host.system(), LIMITS,
                    dataPlane.programmed(), dataPlane.stateDirectory());
            long start = System.nanoTime();
            int writes = new NodeProgrammer(dataPlane, applier).program(base);
            out.append(String.format(Locale.ROOT, "set-up: programmed %,d listeners, %,d groups, %,d backends,"
                            + " %,d routes, %,d listener timeouts in %,d ms (%,d map writes; a fresh start)%n",
                    applier.applied().listeners().size(), applier.applied().groups().size(),
                    applier.applied().backends().size(), applier.applied().routes().size(),
                    applier.applied().timeouts().size(), ms(System.nanoTime() - start), writes));
            start = System.nanoTime();
            int entries = fillConntrack(dataPlane, applier.applied(), o.conntrack());
            out.append(String.format(Locale.ROOT, "set-up: conntrack holds %,d entries (%,d flows written as"
                    + " forward and reply entries in %,d ms)%n", entries, o.conntrack() / 2,
                    ms(System.nanoTime() - start)));
        }
        System.out.print(out);
        return out.toString();
    }

    /**
     * Writes {@code count / 2} DNAT flows, each as the programs would: the forward entry (client ->
     * VIP, rewritten to a backend of the listener's table) and the reply entry (backend -> client),
     * established and seen just now. Returns how many entries the map holds afterwards.
     */
    static int fillConntrack(BpfDataPlane dataPlane, DesiredState applied, int count) {
        BpfMap ct = dataPlane.map("nlb_conntrack");
        List<Map.Entry<Abi.ListenerKey, Abi.Listener>> listeners = applied.listeners().entrySet().stream()
                .filter(e -> (e.getValue().flags() & Abi.LISTENER_FULLNAT) == 0).toList();
        int batch = 8192;
        long now = System.nanoTime();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment keys = arena.allocate((long) ct.keySize() * batch, 8);
            MemorySegment values = arena.allocate((long) ct.valueSize() * batch, 8);
            int inBatch = 0;
            for (int flow = 0; flow < count / 2; flow++) {
                var listener = listeners.get(flow % listeners.size());
                Abi.ListenerKey lk = listener.getKey();
                Abi.Listener l = listener.getValue();
                int[] table = applied.tables().get(l.group());
                int backendId = table[flow % table.length];
                Abi.Backend backend = applied.backends().get(backendId);
                InetAddress client = client(lk.address(), flow);
                int clientPort = 1024 + (flow % 60_000);
                new Abi.CtKey(client, clientPort, lk.address(), lk.port(), Abi.IPPROTO_TCP)
                        .writeTo(keys.asSlice((long) inBatch * ct.keySize(), ct.keySize()));
                new Abi.CtEntry(client, backend.address(), clientPort, backend.port(), backendId, now, now, 10, 1000,
                        Abi.CT_ESTABLISHED, 0, l.id()).writeTo(values.asSlice((long) inBatch * ct.valueSize(),
                        ct.valueSize()));
                inBatch++;
                new Abi.CtKey(backend.address(), backend.port(), client, clientPort, Abi.IPPROTO_TCP)
                        .writeTo(keys.asSlice((long) inBatch * ct.keySize(), ct.keySize()));
                new Abi.CtEntry(lk.address(), client, lk.port(), clientPort, backendId, now, now, 10, 1000,
                        Abi.CT_ESTABLISHED, Abi.CT_REPLY, l.id()).writeTo(values.asSlice(
                        (long) inBatch * ct.valueSize(), ct.valueSize()));
                inBatch++;
                if (inBatch == batch) {
                    ct.updateBatch(keys, values, inBatch);
                    inBatch = 0;
                }
            }
            if (inBatch > 0) {
                ct.updateBatch(keys, values, inBatch);
            }
        }
        int[] entries = {0};
        ct.forEachEntry(8192, (k, v) -> entries[0]++);
        return entries[0];
    }

    /** A distinct client address per 60,000 flows, of the VIP's family. */
    private static InetAddress client(InetAddress vip, int flow) {
        int n = flow / 60_000;
        return ip(vip.getAddress().length == 4 ? "10.50." + (n / 256) + "." + (n % 256) + ""
                : "fd00:50::" + Integer.toHexString(n + 1));
    }

    private record Run(String kind, long spawnToReadyNanos, long mainToReadyNanos, long spawnToMainNanos,
                       Map<String, Long> phases, Map<String, Long> apply, int writes, String version,
                       long rssKb, long hwmKb, long heapUsedKb, List<Long> scans, List<Long> rawScans, long liveFlows,
                       Map<String, String> stages) {}

    private static Run adoptInChild(String kind, Path snapshot, Options o) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                // As bin/nodelb-agent runs the agent.
                "-XX:+UseSerialGC", "-Xms64m", "-Xmx512m"));
        // Extra JVM options for the adopting side only, e.g. a flight recording to see where its time goes.
        String extra = System.getenv().getOrDefault("NODELB_BENCH_CHILD_OPTS", "").strip();
        if (!extra.isEmpty()) {
            command.addAll(List.of(extra.split("\\s+")));
        }
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), AdoptionBench.class.getName(), "adopt",
                o.pinPath().toString(), o.stateDir().toString(), snapshot.toString(), Integer.toString(o.flowScans())));
        long spawn = System.nanoTime();
        Process child = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        Map<String, Long> phases = new LinkedHashMap<>();
        Map<String, Long> apply = new LinkedHashMap<>();
        long main = 0;
        long ready = 0;
        long rss = 0;
        long hwm = 0;
        long heap = 0;
        long live = 0;
        int writes = 0;
        String version = "";
        List<Long> scans = new ArrayList<>();
        List<Long> rawScans = new ArrayList<>();
        Map<String, String> stages = new LinkedHashMap<>();
        List<String> lines = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                lines.add(line);
                String[] f = line.split("\t");
                switch (f[0]) {
                    case "main" -> main = Long.parseLong(f[1]);
                    case "ready" -> ready = Long.parseLong(f[1]);
                    case "phase" -> phases.put(f[1], Long.parseLong(f[2]));
                    case "apply" -> apply.put(f[1], Long.parseLong(f[2]));
                    case "writes" -> writes = Integer.parseInt(f[1]);
                    case "version" -> version = f.length > 1 ? f[1] : "";
                    case "memory" -> {
                        rss = Long.parseLong(f[1]);
                        hwm = Long.parseLong(f[2]);
                        heap = Long.parseLong(f[3]);
                    }
                    case "stage" -> stages.put(f[1], "VmRSS " + Long.parseLong(f[2]) / 1024 + " MB, heap used "
                            + Long.parseLong(f[3]) / 1024 + " of " + Long.parseLong(f[4]) / 1024 + " MB");
                    case "rawscan" -> rawScans.add(Long.parseLong(f[1]));
                    case "scan" -> {
                        scans.add(Long.parseLong(f[1]));
                        live = Long.parseLong(f[2]);
                    }
                    default -> System.out.println("  child: " + line);
                }
            }
        }
        if (!child.waitFor(120, TimeUnit.SECONDS) || child.exitValue() != 0 || ready == 0) {
            child.destroyForcibly();
            throw new IllegalStateException("the adopting JVM failed:\n  " + String.join("\n  ", lines));
        }
        Run run = new Run(kind, ready - spawn, ready - main, main - spawn, phases, apply, writes, version, rss, hwm,
                heap, scans, rawScans, live, stages);
        System.out.printf(Locale.ROOT, "%s: spawn to ready %,d ms (JVM start %,d ms), %,d map writes, VmHWM %,d MB;"
                        + " memory %s%n", kind, ms(run.spawnToReadyNanos()), ms(run.spawnToMainNanos()), writes,
                hwm / 1024, stages);
        return run;
    }

    // ---- the adopting JVM -------------------------------------------------------------------

    /** What an agent's start does, timed; prints tab-separated lines for the driver. */
    private static void adopt(Path pinPath, Path stateDir, Path snapshotFile, int flowScans, long main)
            throws IOException {
        System.out.println("main\t" + main);
        NodeSnapshot snapshot = NodeSnapshot.parseFrom(Files.readAllBytes(snapshotFile));
        // As the agent's start does: the state directory is read while the programs load
        // (NODELB_BENCH_SEQUENTIAL=1: after the load, to see what the overlap saves).
        boolean sequential = "1".equals(System.getenv("NODELB_BENCH_SEQUENTIAL"));
        var saved = sequential ? null : SnapshotApplier.Saved.readInBackground(stateDir, DesiredState.Host.system(), LIMITS);
        try (BpfDataPlane dataPlane = BpfDataPlane.load(pinPath, stateDir, LIMITS, Map.of())) {
            stage("loaded");
            Phases phases = dataPlane.startup();
            if (sequential) {
                saved = java.util.concurrent.CompletableFuture.completedFuture(phases.time("read and plan saved state",
                        () -> SnapshotApplier.Saved.read(stateDir, DesiredState.Host.system(), LIMITS)));
            }
            SnapshotApplier applier = SnapshotApplier.adopting(dataPlane, saved, DesiredState.Host.system(), LIMITS);
            stage("adopted");
            System.out.println("version\t" + applier.appliedVersion());
            NodeProgrammer programmer = new NodeProgrammer(dataPlane, applier);
            int writes = phases.time("program the first snapshot", () -> programmer.program(snapshot));
            System.out.println("ready\t" + System.nanoTime());
            stage("ready");
            phases.asMap().forEach((step, d) -> System.out.println("phase\t" + step + "\t" + d.toNanos()));
            if (writes > 0 || !applier.lastApply().asMap().isEmpty()) {
                applier.lastApply().asMap().forEach((step, d) -> System.out.println("apply\t" + step + "\t" + d.toNanos()));
            }
            System.out.println("writes\t" + writes);
            long heap = (Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory()) / 1024;
            Map<String, Long> status = procStatus();
            System.out.println("memory\t" + status.get("VmRSS") + "\t" + status.get("VmHWM") + "\t" + heap);
            for (int i = 0; i < flowScans; i++) {
                long start = System.nanoTime();
                Map<Integer, Long> flows = dataPlane.liveFlowsByBackend();
                long took = System.nanoTime() - start;
                System.out.println("scan\t" + took + "\t" + flows.values().stream().mapToLong(Long::longValue).sum());
                // The same batches with nothing done per entry: what the kernel's copy-out costs alone.
                long[] entries = {0};
                start = System.nanoTime();
                dataPlane.map("nlb_conntrack").forEachBatch(8192, (keys, values, count) -> entries[0] += count);
                System.out.println("rawscan\t" + (System.nanoTime() - start) + "\t" + entries[0]);
            }
        }
    }

    /** VmRSS and used heap now, for the report. */
    private static void stage(String name) throws IOException {
        long heap = (Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory()) / 1024;
        System.out.println("stage\t" + name + "\t" + procStatus().get("VmRSS") + "\t" + heap + "\t"
                + Runtime.getRuntime().totalMemory() / 1024);
    }

    /** VmRSS and VmHWM of this process, in kB. */
    private static Map<String, Long> procStatus() throws IOException {
        Map<String, Long> out = new TreeMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:") || line.startsWith("VmHWM:")) {
                out.put(line.substring(0, line.indexOf(':')), Long.parseLong(line.replaceAll("[^0-9]", "")));
            }
        }
        return out;
    }

    // ---- the report -------------------------------------------------------------------------

    private static String table(List<Run> runs, Options o) {
        StringBuilder t = new StringBuilder();
        t.append(String.format(Locale.ROOT, "%n%s, %,d listeners, %,d groups x %,d backends, conntrack %,d,"
                        + " %d rounds, %d vCPUs, load average before: %s%n%n", Instant.now(), o.listeners(), o.groups(),
                o.backendsPerGroup(), o.conntrack(), o.rounds(), Runtime.getRuntime().availableProcessors(),
                loadAverage()));
        for (String kind : List.of("same snapshot", "one change")) {
            List<Run> of = runs.stream().filter(r -> r.kind().equals(kind)).toList();
            t.append("### ").append(kind).append(" (median of ").append(of.size()).append(", ms; min-max)\n\n");
            t.append("| step | median | range |\n|---|---:|---|\n");
            row(t, "JVM start to main", of.stream().map(Run::spawnToMainNanos).toList());
            for (String step : of.getFirst().phases().keySet()) {
                row(t, step, of.stream().map(r -> r.phases().getOrDefault(step, 0L)).toList());
            }
            for (String step : of.getFirst().apply().keySet()) {
                row(t, "&nbsp;&nbsp;of which apply: " + step,
                        of.stream().map(r -> r.apply().getOrDefault(step, 0L)).toList());
            }
            row(t, "**main to ready**", of.stream().map(Run::mainToReadyNanos).toList());
            row(t, "**spawn to ready**", of.stream().map(Run::spawnToReadyNanos).toList());
            t.append(String.format(Locale.ROOT, "%nmap writes: %s; adopted version believed: %s; VmRSS at ready"
                            + " %s MB, VmHWM %s MB, heap used %s MB%n%n",
                    of.stream().map(r -> Integer.toString(r.writes())).toList(),
                    of.stream().map(r -> r.version().isEmpty() ? "no" : "yes").toList(),
                    of.stream().map(r -> Long.toString(r.rssKb() / 1024)).toList(),
                    of.stream().map(r -> Long.toString(r.hwmKb() / 1024)).toList(),
                    of.stream().map(r -> Long.toString(r.heapUsedKb() / 1024)).toList()));
        }
        List<Long> scans = runs.stream().flatMap(r -> r.scans().stream()).toList();
        List<Long> raw = runs.stream().flatMap(r -> r.rawScans().stream()).toList();
        if (!scans.isEmpty()) {
            t.append(String.format(Locale.ROOT, "liveFlowsByBackend() over the conntrack: median %,.1f ms, range %s"
                            + " ms (%d scans after ready; %,d live flows counted); the same batches read with nothing"
                            + " done per entry: median %,.1f ms, range %s ms%n", median(scans) / 1e6, range(scans),
                    scans.size(), runs.getLast().liveFlows(), median(raw) / 1e6, range(raw)));
        }
        t.append("\nmemory by stage (last run of each kind): ");
        for (String kind : List.of("same snapshot", "one change")) {
            runs.stream().filter(r -> r.kind().equals(kind)).reduce((a, b) -> b)
                    .ifPresent(r -> t.append(kind).append(' ').append(r.stages()).append("; "));
        }
        t.append('\n');
        return t.toString();
    }

    private static void row(StringBuilder t, String step, List<Long> nanos) {
        t.append(String.format(Locale.ROOT, "| %s | %,.1f | %s |%n", step, median(nanos) / 1e6, range(nanos)));
    }

    private static long median(List<Long> values) {
        long[] sorted = values.stream().mapToLong(Long::longValue).sorted().toArray();
        return sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    }

    private static String range(List<Long> nanos) {
        long[] sorted = nanos.stream().mapToLong(Long::longValue).sorted().toArray();
        return String.format(Locale.ROOT, "%.1f-%.1f", sorted[0] / 1e6, sorted[sorted.length - 1] / 1e6);
    }

    private static long ms(long nanos) {
        return nanos / 1_000_000;
    }

    private static String loadAverage() {
        try {
            return String.join(" ", Arrays.copyOf(Files.readString(Path.of("/proc/loadavg")).split(" "), 3));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- the node ---------------------------------------------------------------------------

    /**
     * {@code listeners} listeners, one in ten on an IPv6 VIP, over {@code groups} target groups
     * (nine in ten IPv4) of {@code backendsPerGroup} backends each; one IPv4 listener in ten has a
     * source route to another group, one in ten its own idle timeouts, one in twenty is FullNAT.
     * Variant 2 differs from 1 by one backend's weight: one group's table changes.
     */
    static NodeSnapshot snapshot(Options o, int variant) {
        int groups6 = Math.max(1, o.groups() / 10);
        int groups4 = o.groups() - groups6;
        NodeSnapshot.Builder s = NodeSnapshot.newBuilder().setNode("bench-node");
        for (int g = 0; g < o.groups(); g++) {
            boolean v6 = g >= groups4;
            TargetGroup.Builder group = TargetGroup.newBuilder().setName("bench/g" + g);
            for (int b = 0; b < o.backendsPerGroup(); b++) {
                int n = g * o.backendsPerGroup() + b;
                String address = v6 ? "fd00:200::" + Integer.toHexString(n + 1)
                        : "10.200." + (n / 250) + "." + (n % 250 + 1);
                int weight = variant == 2 && g == 0 && b == 0 ? 2 : 1;
                group.addBackends(Backend.newBuilder().setAddress(bytes(address)).setPort(8080).setWeight(weight)
                        .setState(BackendState.ACTIVE).setOrigin("static"));
            }
            s.addTargetGroups(group);
        }
        for (int i = 0; i < o.listeners(); i++) {
            boolean v6 = i % 10 == 9;
            int j = v6 ? i / 10 : i - i / 10;
            String vip = v6 ? "fd00:100::" + Integer.toHexString(j / 100 + 1)
                    : "10.100." + (j / 100 / 250) + "." + (j / 100 % 250 + 1);
            int group = v6 ? groups4 + j % groups6 : j % groups4;
            boolean fullNat = !v6 && j % 20 == 3;
            Listener.Builder l = Listener.newBuilder().setName("bench/lb" + i / 64 + "/l" + i % 64)
                    .setAddress(bytes(vip)).setPort(1000 + j % 100).setProtocol(Protocol.TCP)
                    .setNatMode(fullNat ? NatMode.FULL_NAT : NatMode.DNAT).setTargetGroup("bench/g" + group)
                    .addInterfaces("b0");
            if (fullNat) {
                l.addInterfaces("b1").setSnatAddress(bytes(SNAT));
            }
            if (!v6 && j % 10 == 1) {
                l.addSourceRoutes(SourceRoute.newBuilder().setPrefix(bytes("192.168." + (j / 10 % 256) + ".0"))
                        .setPrefixLength(24).setTargetGroup("bench/g" + (group + 1) % groups4));
            }
            if (j % 10 == 5) {
                l.setIdleTimeouts(IdleTimeouts.newBuilder().setTcpEstablishedSeconds(600));
            }
            s.addListeners(l);
        }
        NodeSnapshot built = s.build();
        return built.toBuilder().setVersion(io.nodelb.model.compiler.Snapshots.version(built)).build();
    }

    private static ByteString bytes(String address) {
        return ByteString.copyFrom(ip(address).getAddress());
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }
}
