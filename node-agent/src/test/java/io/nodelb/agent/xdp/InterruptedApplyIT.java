package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Snapshots.SNAT4;
import static io.nodelb.agent.xdp.Snapshots.SNAT6;
import static io.nodelb.agent.xdp.Snapshots.VIP4;
import static io.nodelb.agent.xdp.Snapshots.VIP6;
import static io.nodelb.agent.xdp.Snapshots.backend;
import static io.nodelb.agent.xdp.Snapshots.bytes;
import static io.nodelb.agent.xdp.Snapshots.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DataPlaneMaps;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.MapReadBack;
import io.nodelb.agent.dataplane.Phases;
import io.nodelb.agent.dataplane.PortFilter;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.dataplane.Transitions;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.CanonicalState;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.IdleTimeouts;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.SourceRoute;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.io.IOException;
import java.net.Inet4Address;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Crash safety in one JVM, many times over: an apply is cut off at a chosen map write (the
 * agent "dies" there: an {@link Error} leaves {@link SnapshotApplier#apply} without its rollback,
 * exactly as a SIGKILL leaves the maps and the state directory), then a new applier adopts the
 * pinned maps with the state directory and programs the next snapshot. Every round checks that
 * the maps then forward exactly as a fresh start on that snapshot would (compared without ids,
 * read from the pins), that the adopting applier believes exactly what the maps hold, and real
 * packets through the XDP program: a new flow to every listener goes to the backend the fresh
 * plan's table names, a listener removed is no longer translated, a flow opened before the crash
 * keeps its backend. The real-process variant (SIGKILL) is {@code LabCrashIT}.
 *
 * <p>Where the cuts land is chosen, not hoped for: the writes of each transition are counted
 * first ({@link Transitions#writes}) and the cut is drawn uniformly over [0, writes]; 0 is
 * "before the first write", {@code writes} is "after the last write": before the snapshot is saved
 * (the state directory is put back as it was before the first write) or after it, before the
 * proof of the completed apply is written. One round in four also cuts the adopting applier's own
 * first apply (two kills in a row); one in ten loads the programs again from the pins as a new
 * process would; one in three starts with a clean restart, which must believe the saved snapshot
 * without reading a lookup table back.
 */
@Privileged
class InterruptedApplyIT {

    /** Rounds: {@code -Dnodelb.crash.jvmRounds=N}. */
    private static final int ROUNDS = Integer.getInteger("nodelb.crash.jvmRounds", 60);
    private static final DesiredState.Limits LIMITS = LoadedDataPlane.LIMITS;
    private static final Set<String> LINKS = Set.of("eth0", "eth1");
    private static final String CLIENT4 = Snapshots.CLIENT4;
    private static final String CLIENT6 = Snapshots.CLIENT6;

    private final long seed = Long.getLong("nodelb.crash.seed", System.nanoTime());
    private final Random random = new Random(seed);
    private Path pinPath;
    private Path state;
    private BpfDataPlane dataPlane;
    private int clientPort = 10_000;

    /** The maps of the data plane now loaded (a reload replaces it), where a kill can be armed. */
    private final CuttingMaps maps = new CuttingMaps(() -> dataPlane.maps());

    @BeforeEach
    void load() throws IOException {
        pinPath = Path.of("/sys/fs/bpf", "nodelb-test-" + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(random.nextInt()));
        state = Files.createTempDirectory("nodelb-crash-");
        dataPlane = BpfDataPlane.load(pinPath, state, LIMITS, Map.of());
    }

    @AfterEach
    void remove() throws IOException {
        try {
            if (dataPlane != null) {
                dataPlane.uninstall();
            }
        } finally {
            for (Path dir : List.of(pinPath, state)) {
                if (Files.exists(dir)) {
                    try (var all = Files.walk(dir)) {
                        for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                            Files.deleteIfExists(p);
                        }
                    }
                }
            }
        }
        assertThat(pinPath).as("pins left behind").doesNotExist();
    }

    @Test
    void aNewApplierConvergesAfterAnApplyIsCutOffAtAnyWrite() throws Exception {
        List<NodeSnapshot> files = List.of(variant(0), variant(1), variant(2));
        Map<String, Integer> landed = new TreeMap<>();
        int nonZeroRecoveries = 0;
        int trustedAdoptions = 0;
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();

        SnapshotApplier running = adopt();
        int current = 0;
        running.apply(files.get(current));
        int cleanRestarts = 0;
        int rounds = 0;
        for (int round = 1; round <= ROUNDS && System.nanoTime() < deadline; round++, rounds++) {
            String where = "round " + round + " (seed " + seed + ")";
            if (round % 3 == 1) {
                // A clean restart (SIGTERM, then a new agent): the saved snapshot is believed, no table is read.
                running = adoptAfterCleanStop(where, files.get(current));
                cleanRestarts++;
            }
            Flow open = openFlow(files.get(current));
            int next = (current + 1 + random.nextInt(files.size() - 1)) % files.size();
            NodeSnapshot cut = files.get(next);
            int writes = Transitions.writes(running.applied(), running.plan(cut));
            int at = round % 10 == 0 ? 0 : round % 10 == 5 ? writes : random.nextInt(writes + 1);
            applyCutOff(running, cut, at, writes);
            landed.merge(landing(files.get(current), cut), 1, Integer::sum);

            if (round % 10 == 4) {
                reload(); // as a new process: the programs again (a second each), the maps from their pins
            }
            int target = random.nextInt(files.size());
            List<NodeSnapshot> passed = new ArrayList<>(List.of(files.get(current), cut));
            SnapshotApplier adopting = adopt();
            trustedAdoptions += adopting.appliedVersion().isEmpty() ? 0 : 1;
            if (round % 4 == 3) {
                // The adopting agent dies too, in its first apply.
                NodeSnapshot second = files.get(target);
                int secondWrites = Transitions.writes(adopting.applied(), adopting.plan(second));
                applyCutOff(adopting, second, random.nextInt(secondWrites + 1), secondWrites);
                passed.add(second);
                target = random.nextInt(files.size());
                adopting = adopt();
            }
            int recoveryWrites = adopting.apply(files.get(target));
            nonZeroRecoveries += recoveryWrites > 0 ? 1 : 0;

            assertConverged(where + ", recovering to variant " + target, adopting, files.get(target));
            assertForwarding(where, files.get(target), passed, open);
            running = adopting;
            current = target;
        }
        System.out.printf("InterruptedApplyIT: %d rounds (seed %d): cuts landed %s; %d recoveries wrote a non-zero"
                + " diff, %d adoptions after a cut believed the saved version (the maps held it); %d clean restarts"
                + " believed it without reading a table%n", rounds, seed, landed, nonZeroRecoveries,
                trustedAdoptions, cleanRestarts);
        assertThat(rounds).as("rounds done in 120 s").isGreaterThanOrEqualTo(Math.min(ROUNDS, 20));
        assertThat(landed.getOrDefault("between the first and the last write", 0))
                .as("rounds cut off mid-apply, of %s", landed).isGreaterThanOrEqualTo(rounds / 2);
        assertThat(landed).as("where the cuts landed").containsKeys("before the first write",
                "after the last write, before the proof was saved");
    }

    // ---- the agent's life ---------------------------------------------------------------------

    /** A new applier on the pinned maps and the state directory, as an agent's start makes it. */
    private SnapshotApplier adopt() {
        SnapshotApplier.ReadBack pinned = dataPlane.readBack(new Phases());
        // No links in a test-run data plane: say the interfaces are attached, as links would.
        SnapshotApplier.ReadBack withLinks = new SnapshotApplier.ReadBack() {
            @Override
            public DesiredState withoutTables() {
                return withInterfaces(pinned.withoutTables(), LINKS);
            }

            @Override
            public Map<Integer, int[]> tables(Set<Integer> groups) {
                return pinned.tables(groups);
            }
        };
        return SnapshotApplier.adopting(maps, LoadedDataPlane.HOST, LIMITS, withLinks, state);
    }

    /** A new applier after the last one stopped between applies: it must trust the saved snapshot. */
    private SnapshotApplier adoptAfterCleanStop(String where, NodeSnapshot programmed) {
        int[] tableReads = {0};
        SnapshotApplier.ReadBack pinned = dataPlane.readBack(new Phases());
        SnapshotApplier adopted = SnapshotApplier.adopting(maps, LoadedDataPlane.HOST, LIMITS,
                new SnapshotApplier.ReadBack() {
                    @Override
                    public DesiredState withoutTables() {
                        return withInterfaces(pinned.withoutTables(), LINKS);
                    }

                    @Override
                    public Map<Integer, int[]> tables(Set<Integer> groups) {
                        tableReads[0]++;
                        return pinned.tables(groups);
                    }
                }, state);
        assertThat(adopted.appliedVersion()).as("%s: a clean restart believes the saved version", where)
                .isEqualTo(programmed.getVersion());
        assertThat(tableReads[0]).as("%s: lookup tables read back after a clean stop", where).isZero();
        assertConverged(where + ", after a clean restart", adopted, programmed);
        return adopted;
    }

    /** The agent dies once {@code at} writes of this apply are done. */
    private void applyCutOff(SnapshotApplier applier, NodeSnapshot snapshot, int at, int writes) throws IOException {
        Map<Path, byte[]> beforeWrites = new LinkedHashMap<>();
        maps.arm(at, () -> beforeWrites.putAll(stateFiles()));
        try {
            applier.apply(snapshot);
        } catch (Killed expected) {
            assertThat(at).as("cut at write %d of %d", at, writes).isLessThan(writes);
            return;
        } finally {
            maps.disarm();
        }
        assertThat(maps.done).as("writes of the apply, counted beforehand").isEqualTo(writes);
        if (random.nextBoolean()) {
            // Every write made and the snapshot saved: the agent dies before the proof is written.
            Path ids = state.resolve("ids.properties");
            List<String> lines = Files.readAllLines(ids);
            assertThat(lines).as("the proof of a completed apply").anyMatch(l -> l.startsWith("programmed.sha256="));
            Files.write(ids, lines.stream().filter(l -> !l.startsWith("programmed.sha256=")).toList());
            return;
        }
        // Every write made: the agent dies before the snapshot and the proof are saved.
        for (Path file : stateFiles().keySet()) {
            if (!beforeWrites.containsKey(file)) {
                Files.delete(file);
            }
        }
        for (var file : beforeWrites.entrySet()) {
            Files.write(file.getKey(), file.getValue());
        }
    }

    /** The applier's state files, as they are now. */
    private Map<Path, byte[]> stateFiles() {
        Map<Path, byte[]> files = new LinkedHashMap<>();
        try (var list = Files.list(state)) {
            for (Path f : list.toList()) {
                if (Files.isRegularFile(f)) {
                    files.put(f, Files.readAllBytes(f));
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return files;
    }

    private void reload() {
        dataPlane.close(); // finish: pins stay
        dataPlane = BpfDataPlane.load(pinPath, state, LIMITS, Map.of());
    }

    /** Where the maps stand after the cut: the old snapshot, the new one, or a mix of both. */
    private String landing(NodeSnapshot from, NodeSnapshot to) {
        List<String> found = CanonicalState.of(MapReadBack.readPinned(dataPlane.pinDirectory(), LIMITS.tableSize()));
        if (found.equals(fresh(from))) {
            return "before the first write";
        }
        if (found.equals(fresh(to))) {
            return "after the last write, before the proof was saved";
        }
        return "between the first and the last write";
    }

    // ---- the checks ---------------------------------------------------------------------------

    private void assertConverged(String where, SnapshotApplier applier, NodeSnapshot snapshot) {
        DesiredState pinned = MapReadBack.readPinned(dataPlane.pinDirectory(), LIMITS.tableSize());
        List<String> found = CanonicalState.of(pinned);
        List<String> expected = fresh(snapshot);
        assertThat(found).as("%s: the maps, against a fresh start's plan\n%s", where,
                CanonicalState.difference(found, expected, 10)).isEqualTo(expected);
        assertThat(withInterfaces(applier.applied(), Set.of()).sameAs(pinned))
                .as("%s: what the applier believes is programmed equals the maps, ids and tables included", where)
                .isTrue();
        assertThat(applier.appliedVersion()).as(where).isEqualTo(snapshot.getVersion());
    }

    /**
     * Packets through the XDP program: a new flow to each listener goes to the backend the fresh
     * plan's table names for its hash; the listeners only {@code others} had pass untranslated;
     * {@code open}, a flow opened before the crash, keeps its backend.
     */
    private void assertForwarding(String where, NodeSnapshot snapshot, List<NodeSnapshot> others, Flow open) {
        DesiredState plan = new SnapshotApplier(null, LoadedDataPlane.HOST, LIMITS).plan(snapshot);
        plan.listeners().forEach((key, listener) -> {
            Flow flow = flow(key, clientPort++);
            TestRunResult result = dataPlane.xdpProgram().testRun(flow.first());
            assertThat(result.retval()).as("%s: verdict for %s", where, flow).isEqualTo(LoadedDataPlane.XDP_PASS);
            int[] table = plan.tables().get(listener.group());
            Abi.Backend expected = plan.backends().get(table[DataPlaneHash.fastrange(flow.hash(), LIMITS.tableSize())]);
            Packet out = Packet.parse(result.output());
            assertThat(DesiredState.backendKey(out.dst(), out.dstPort())).as("%s: backend of %s", where, flow)
                    .isEqualTo(DesiredState.backendKey(expected.address(), expected.port()));
        });
        for (NodeSnapshot other : others) {
            new SnapshotApplier(null, LoadedDataPlane.HOST, LIMITS).plan(other).listeners().keySet().stream()
                    .filter(key -> !plan.listeners().containsKey(key))
                    .forEach(key -> {
                        Flow flow = flow(key, clientPort++);
                        TestRunResult result = dataPlane.xdpProgram().testRun(flow.first());
                        assertThat(result.output()).as("%s: %s, a listener removed, passes untranslated", where, flow)
                                .isEqualTo(flow.first());
                    });
        }
        Packet before = Packet.parse(openFlowFirst);
        TestRunResult again = dataPlane.xdpProgram().testRun(open.forward(Frames.ACK));
        Packet after = Packet.parse(again.output());
        String kept = DesiredState.backendKey(before.dst(), before.dstPort());
        String now = DesiredState.backendKey(after.dst(), after.dstPort());
        // An apply on the way (even one cut off) that removed the backend may have released the flow.
        boolean removedOnTheWay = others.stream().anyMatch(other -> new SnapshotApplier(null, LoadedDataPlane.HOST, LIMITS)
                .plan(other).backends().values().stream()
                .noneMatch(b -> DesiredState.backendKey(b.address(), b.port()).equals(kept)));
        if (!removedOnTheWay
                && plan.backends().values().stream().anyMatch(b -> DesiredState.backendKey(b.address(), b.port()).equals(kept))) {
            assertThat(now).as("%s: a flow opened before the crash keeps its backend", where).isEqualTo(kept);
        } else {
            // Its backend was removed, now or on the way: released by the apply that removed it (its next packet
            // follows the table), or left to its idle timeout when the kill fell between that apply's map writes
            // and the release.
            Abi.Listener http4 = plan.listeners().get(new Abi.ListenerKey(Snapshots.ip(VIP4), 80, Abi.IPPROTO_TCP));
            Abi.Backend pick = plan.backends().get(
                    plan.tables().get(http4.group())[DataPlaneHash.fastrange(open.hash(), LIMITS.tableSize())]);
            assertThat(now).as("%s: a flow opened before the crash, its backend removed", where)
                    .isIn(kept, DesiredState.backendKey(pick.address(), pick.port()));
        }
    }

    private byte[] openFlowFirst;

    /** A TCP flow to http4, kept in every variant, opened now (its SYN translated). */
    private Flow openFlow(NodeSnapshot snapshot) {
        Flow flow = Flow.tcp(CLIENT4, clientPort++, VIP4, 80);
        TestRunResult result = dataPlane.xdpProgram().testRun(flow.first());
        assertThat(result.retval()).isEqualTo(LoadedDataPlane.XDP_PASS);
        openFlowFirst = result.output();
        assertThat(Packet.parse(openFlowFirst).dst()).as("the open flow was translated").isNotEqualTo(ip(VIP4));
        return flow;
    }

    private static Flow flow(Abi.ListenerKey key, int port) {
        boolean v4 = key.address() instanceof Inet4Address;
        return new Flow(v4 ? CLIENT4 : CLIENT6, port, key.address().getHostAddress(), key.port(), key.proto());
    }

    /** The canonical lines of what a fresh start programs for {@code snapshot} (no links: test-run). */
    private static List<String> fresh(NodeSnapshot snapshot) {
        return CanonicalState.of(withInterfaces(new SnapshotApplier(null, LoadedDataPlane.HOST, LIMITS).plan(snapshot),
                Set.of()));
    }

    private static DesiredState withInterfaces(DesiredState s, Set<String> interfaces) {
        return new DesiredState(s.listeners(), s.routes(), s.timeouts(), s.rateLimits(), s.groups(), s.tables(), s.backends(),
                s.ingressPorts(), s.egressPorts(), interfaces);
    }

    // ---- the snapshots ------------------------------------------------------------------------

    /**
     * Three nodes that differ everywhere the applier writes: listeners added and removed, listeners
     * moved to other groups, group members and weights (tables), a group replaced by another,
     * source routes, idle timeouts, FullNAT listeners (ingress port range) and backend ports
     * (egress filter).
     */
    static NodeSnapshot variant(int v) {
        List<TargetGroup> groups = new ArrayList<>();
        for (int g = 0; g < 7; g++) {
            if ((v == 2 && g == 5) || (v != 2 && g == 6)) {
                continue;
            }
            List<Backend> members = new ArrayList<>();
            int n = 3 + (g + v) % 4;
            for (int j = 1; j <= n; j++) {
                int weight = 1 + (j + v) % 3;
                int port = 8080 + (g == 4 ? v : 0);
                members.add(backend("10.0." + (g + 1) + "." + j, port, weight, BackendState.ACTIVE));
                members.add(backend("fd00:" + (g + 1) + "::" + j, port, weight, BackendState.ACTIVE));
            }
            groups.add(Snapshots.group("default/g" + g, members));
        }
        String[] groupNames = groups.stream().map(TargetGroup::getName).toArray(String[]::new);
        List<Listener> listeners = new ArrayList<>();
        for (String vip : List.of(VIP4, VIP6)) {
            boolean v4 = vip.equals(VIP4);
            String f = v4 ? "4" : "6";
            Listener.Builder http = listener("http" + f, vip, 80, Protocol.TCP, NatMode.DNAT, "default/g" + v % 3)
                    .setIdleTimeouts(IdleTimeouts.newBuilder().setTcpEstablishedSeconds(v == 1 ? 0 : 120));
            if (v == 0) {
                http.addSourceRoutes(route(v4 ? "192.0.2.128" : "2001:db8:200::", v4 ? 25 : 48, "default/g4"));
            }
            listeners.add(http.build());
            Listener.Builder https = listener("https" + f, vip, 8443, Protocol.TCP, NatMode.FULL_NAT, "default/g1");
            if (v == 1) {
                https.setIdleTimeouts(IdleTimeouts.newBuilder().setTcpEstablishedSeconds(60))
                        .addSourceRoutes(route(v4 ? "192.0.2.0" : "2001:db8:300::", v4 ? 25 : 48, "default/g3"));
            }
            listeners.add(https.build());
            listeners.add(listener("dns" + f, vip, 53, Protocol.UDP, NatMode.DNAT, "default/g2").build());
            listeners.add(listener("dnsfn" + f, vip, 5353, Protocol.UDP, NatMode.FULL_NAT, "default/g3").build());
            for (int k = 3 * v; k < 3 * v + 6; k++) {
                listeners.add(listener("extra" + k + f, vip, 1000 + k, k % 2 == 0 ? Protocol.TCP : Protocol.UDP,
                        k % 3 == 0 ? NatMode.FULL_NAT : NatMode.DNAT, groupNames[(k + v) % groupNames.length]).build());
            }
        }
        NodeSnapshot s = Snapshots.snapshot(listeners, groups);
        return s.toBuilder().setVersion(io.nodelb.model.compiler.Snapshots.version(s)).build();
    }

    private static Listener.Builder listener(String name, String vip, int port, Protocol protocol, NatMode mode,
                                             String group) {
        Listener.Builder l = Listener.newBuilder().setName("default/lb/" + name).setAddress(bytes(vip)).setPort(port)
                .setProtocol(protocol).setNatMode(mode).setTargetGroup(group).addInterfaces("eth0")
                .addInterfaces("eth1");
        if (mode == NatMode.FULL_NAT) {
            l.setSnatAddress(bytes(ip(vip) instanceof Inet4Address ? SNAT4 : SNAT6));
        }
        return l;
    }

    private static SourceRoute route(String prefix, int length, String group) {
        return Snapshots.route(prefix, length, group);
    }

    // ---- the kill -----------------------------------------------------------------------------

    /** How the agent dies: not an exception the applier handles (no rollback, no state saved after). */
    static final class Killed extends Error {
        Killed() {
            super("killed", null, false, false);
        }
    }

    /** The data plane's maps; once armed, until write number {@code at}, where the agent is killed. */
    static final class CuttingMaps implements DataPlaneMaps {
        private final java.util.function.Supplier<DataPlaneMaps> real;
        private int at = -1;
        private Runnable beforeFirstWrite = () -> { };
        int done;

        CuttingMaps(java.util.function.Supplier<DataPlaneMaps> real) {
            this.real = real;
        }

        void arm(int cutAt, Runnable beforeFirst) {
            at = cutAt;
            beforeFirstWrite = beforeFirst;
            done = 0;
        }

        void disarm() {
            at = -1;
        }

        private void write(java.util.function.Consumer<DataPlaneMaps> w) {
            if (at >= 0) {
                if (done == 0) {
                    beforeFirstWrite.run();
                }
                if (done == at) {
                    throw new Killed();
                }
                done++;
            }
            w.accept(real.get());
        }

        @Override public void putBackend(int id, Abi.Backend b) { write(m -> m.putBackend(id, b)); }
        @Override public void deleteBackend(int id) { write(m -> m.deleteBackend(id)); }
        @Override public void putTableSlots(int g, int from, int[] ids) { write(m -> m.putTableSlots(g, from, ids)); }
        @Override public void putGroup(int id, Abi.Group g) { write(m -> m.putGroup(id, g)); }
        @Override public void deleteGroup(int id) { write(m -> m.deleteGroup(id)); }
        @Override public void putRoute(Abi.RouteKey k, int g) { write(m -> m.putRoute(k, g)); }
        @Override public void deleteRoute(Abi.RouteKey k) { write(m -> m.deleteRoute(k)); }
        @Override public void putTimeouts(int id, Abi.Timeouts t) { write(m -> m.putTimeouts(id, t)); }
        @Override public void deleteTimeouts(int id) { write(m -> m.deleteTimeouts(id)); }
        @Override public void putRateLimit(int id, Abi.RateLimit r) { write(m -> m.putRateLimit(id, r)); }
        @Override public void deleteRateLimit(int id) { write(m -> m.deleteRateLimit(id)); }
        @Override public void putListener(Abi.ListenerKey k, Abi.Listener l) { write(m -> m.putListener(k, l)); }
        @Override public void deleteListener(Abi.ListenerKey k) { write(m -> m.deleteListener(k)); }
        @Override public void putPortWord(PortFilter.Direction d, int w, long bits) { write(m -> m.putPortWord(d, w, bits)); }
        @Override public long releaseFlows(java.util.Set<Integer> backends) { return real.get().releaseFlows(backends); }
        @Override public java.util.Set<java.net.InetAddress> fullNatSourcesInUse() { return real.get().fullNatSourcesInUse(); }
    }

}
