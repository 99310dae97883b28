package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.MapReadBack;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.standalone.StandaloneAgent;
import io.nodelb.agent.testing.CanonicalState;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 16, with real processes: the agent is killed with SIGKILL at random points of an apply,
 * round after round, and every time the next agent converges and traffic is correct.
 *
 * <p>Each round: the running agent is given another file (one that rewrites thousands of map
 * entries: 256 listeners moved between 32 groups whose weights change, besides the listeners the
 * traffic checks use); it is killed at a drawn moment; then a new agent starts on one of the files
 * (the same or another) and must program it. Checked every round: the maps, read from the pins by
 * this JVM ({@link MapReadBack#readPinned}), equal without ids what a fresh start programs for
 * that file; a new connection to VIP:80 (in every file) is answered by a backend of that file's
 * group; a port whose listener that file does not have is no longer translated. One round in five
 * kills the new agent too, during its own first apply, before a third one starts.
 *
 * <p><b>How we know the kills land mid-apply.</b> The agent writes its ids file (an atomic rename,
 * so a new inode) right before the first map write of an apply. The test watches that inode; a
 * "during" kill comes a random time after it, drawn within the duration of the map writes measured
 * at the start (from the ids file's rename to the snapshot file's). Two rounds in six kill
 * elsewhere: before the ids file changes, or well after the writes. After each kill the maps are
 * read from the pins and compared with both files: equal to the old one (the kill came before the
 * first write), to the new one (after the last), or to neither (torn: mid-apply). The counts are
 * printed, and the test requires a quarter of the rounds to be torn. A second count: the rounds
 * whose next agent had to write a non-zero diff (from its "N map writes" line).
 */
@Privileged
class LabCrashIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(2);

    /** Rounds with a real kill: {@code -Dnodelb.crash.labRounds=N}; the class stays under ~3 minutes. */
    private static final int ROUNDS = Integer.getInteger("nodelb.crash.labRounds", 16);
    /** Rounds stop when this is spent (2 shared vCPUs: an agent's start takes 2 to 8 s). */
    private static final Duration BUDGET = Duration.ofSeconds(140);
    private static final InetSocketAddress CLIENT = new InetSocketAddress(address(Lab.CLIENT_V4), 0);
    private static final Pattern WRITES = Pattern.compile("programmed version \\S+: .* ([0-9,]+) map writes");
    private static final Pattern ADOPTED = Pattern.compile("data plane loaded and read back, (no version adopted|version \\S+ adopted)");
    /** The lab node's interfaces, as this JVM cannot see them (another namespace). */
    private static final DesiredState.Host LAB_NODE = name -> switch (name) {
        case "n0" -> List.of(address("10.1.0.1"), address("fd00:1:0::1"));
        case "n1" -> List.of(address("10.1.2.1"), address("fd00:1:2::1"));
        default -> null;
    };

    private static final String BEFORE = "before the first write";
    private static final String AFTER = "after the last write";
    private static final String TORN = "mid-apply (torn)";

    private final long seed = Long.getLong("nodelb.crash.seed", System.nanoTime());
    private final Random random = new Random(seed);

    /** A file: the YAML, what a fresh start programs for it, and what the traffic checks expect. */
    private record Variant(String name, String yaml, List<String> fresh, Set<String> answersOn80, Set<Integer> ports) {}

    @Test
    void killedAtRandomPointsOfAnApplyTheNextAgentConvergesAndTrafficIsCorrect() throws Exception {
        long deadline = System.nanoTime() + BUDGET.toNanos();
        List<Variant> files = List.of(variant(0), variant(1), variant(2));
        Path state = LAB.stateDirectory(LAB.pinPath());
        Path ids = state.resolve("ids.properties");
        Path snapshot = state.resolve("applied-snapshot.pb");

        Agent agent = LAB.startAgent(files.get(0).yaml());
        int current = 0;
        // How long from the new file to the first map write, and how long the writes take (three times, no kill).
        // The writes get faster as the JIT warms up, so the shortest counts; the rounds adjust it further.
        long toWrites = 0;
        long writing = Long.MAX_VALUE;
        for (int i = 1; i <= 3; i++) {
            int next = i % 2;
            int seen = agent.versions().size();
            long start = System.nanoTime();
            Object idsBefore = inode(ids);
            Object snapshotBefore = inode(snapshot);
            agent.replaceFile(files.get(next).yaml());
            long idsAt = awaitNewInode(ids, idsBefore, start);
            long snapshotAt = awaitNewInode(snapshot, snapshotBefore, start);
            agent.awaitProgrammed(seen); // and the ids file rewritten once more, with the proof
            toWrites = Math.max(toWrites, idsAt - start);
            writing = Math.min(writing, snapshotAt - idsAt);
            current = next;
        }
        System.out.printf("LabCrashIT (seed %d): a new file's first map write comes %d ms after it, the writes take"
                + " %d ms%n", seed, toWrites / 1_000_000, writing / 1_000_000);
        assertThat(writing).as("map writes of a file change, to kill in the middle of").isGreaterThan(5_000_000L);

        Map<String, Integer> landed = new TreeMap<>();
        int nonZero = 0;
        int rounds = 0;
        for (int round = 1; round <= ROUNDS && System.nanoTime() < deadline; round++, rounds++) {
            String where = "round " + round + " (seed " + seed + ")";
            int next = (current + 1 + random.nextInt(files.size() - 1)) % files.size();
            Variant from = files.get(current);
            Variant to = files.get(next);

            String kind = round % 6 == 0 ? "early" : round % 6 == 3 ? "late" : "during";
            long start = System.nanoTime();
            Object idsBefore = inode(ids);
            agent.replaceFile(to.yaml());
            if (kind.equals("early")) {
                sleepNanos((long) (random.nextDouble() * toWrites));
            } else {
                long idsAt = awaitNewInode(ids, idsBefore, start);
                double at = kind.equals("late") ? 1.5 + random.nextDouble() : random.nextDouble();
                sleepNanos(idsAt + (long) (at * writing) - System.nanoTime());
            }
            agent.kill();
            String landing = landing(from, to);
            landed.merge(kind + ": " + landing, 1, Integer::sum);
            if (kind.equals("during")) {
                // A "during" kill that missed the writes says how long they really take now.
                writing = landing.equals(AFTER) ? writing * 2 / 3 : landing.equals(BEFORE) ? writing * 4 / 3 : writing;
            }

            Variant target = files.get(random.nextInt(files.size()));
            if (round % 5 == 2) {
                // The next agent is killed too, during its first apply (after its start-up).
                Object before = inode(ids);
                Agent doomed = LAB.launchAgent(target.yaml());
                long launched = System.nanoTime();
                awaitNewInodeOrProgrammed(ids, before, launched, doomed);
                sleepNanos((long) (random.nextDouble() * writing));
                doomed.kill();
                target = files.get(random.nextInt(files.size()));
            }
            long killed = System.nanoTime();
            agent = LAB.startAgent(target.yaml());
            long started = System.nanoTime();
            int writes = writes(agent);
            nonZero += writes > 0 ? 1 : 0;

            assertConverged(where + ", programmed " + target.name(), target);
            assertTraffic(where + ", programmed " + target.name(), target, files);
            System.out.printf("LabCrashIT %s: kill %s landed %s; the next agent (%s) wrote %d entries for %s"
                            + " (round %d ms: up to the kill %d, next agent's start %d, checks %d)%n", where, kind,
                    landing, adoption(agent), writes, target.name(), (System.nanoTime() - start) / 1_000_000,
                    (killed - start) / 1_000_000, (started - killed) / 1_000_000,
                    (System.nanoTime() - started) / 1_000_000);
            current = files.indexOf(target);
        }
        System.out.printf("LabCrashIT (seed %d): %d rounds; kills landed %s; %d next agents wrote a non-zero diff%n",
                seed, rounds, landed, nonZero);
        long torn = landed.entrySet().stream().filter(e -> e.getKey().endsWith(TORN))
                .mapToLong(Map.Entry::getValue).sum();
        assertThat(torn).as("rounds killed mid-apply, of %s", landed).isGreaterThanOrEqualTo(rounds / 4);
        assertThat(rounds).as("rounds done in %s", BUDGET).isGreaterThanOrEqualTo(Math.min(ROUNDS, 6));

        // The expectation itself: a real fresh start on the last file programs what the plan says.
        assertThat(agent.stop()).isIn(0, 143);
        LAB.uninstall(LAB.pinPath());
        LAB.startAgent(files.get(current).yaml());
        assertConverged("a fresh start", files.get(current));
        LAB.stopAgents();
        LAB.uninstall(LAB.pinPath());
    }

    // ---- the checks ---------------------------------------------------------------------------

    private void assertConverged(String where, Variant file) {
        List<String> found = CanonicalState.of(MapReadBack.readPinned(LAB.pinPath().resolve("v" + Abi.LAYOUT_VERSION),
                DesiredState.Limits.defaults().tableSize()));
        assertThat(found).as("%s: the maps against a fresh start's\n%s", where,
                CanonicalState.difference(found, file.fresh(), 10)).isEqualTo(file.fresh());
    }

    private void assertTraffic(String where, Variant file, List<Variant> all) throws Exception {
        InetSocketAddress http = new InetSocketAddress(address(Lab.VIP_V4), 80);
        String answer = LAB.client().call(() -> Traffic.get(CLIENT, http, "/"));
        assertThat(answer).as("%s: a new connection to VIP:80", where).isIn(file.answersOn80());
        for (Variant other : all) {
            for (int port : other.ports()) {
                if (!file.ports().contains(port)) {
                    InetSocketAddress gone = new InetSocketAddress(address(Lab.VIP_V4), port);
                    assertThatThrownBy(() -> LAB.client().call(() -> Traffic.get(CLIENT, gone, "/")))
                            .as("%s: VIP:%d, a listener this file does not have", where, port)
                            .isInstanceOf(IOException.class);
                }
            }
        }
    }

    /** Where the maps stand after a kill. */
    private static String landing(Variant from, Variant to) {
        List<String> found = CanonicalState.of(MapReadBack.readPinned(LAB.pinPath().resolve("v" + Abi.LAYOUT_VERSION),
                DesiredState.Limits.defaults().tableSize()));
        return found.equals(from.fresh()) ? BEFORE : found.equals(to.fresh()) ? AFTER : TORN;
    }

    /**
     * The map writes of the agent's first apply, from its log. Waited for: the agent counts as started
     * at its stdout line, and its stderr, read by another thread, may not have been read that far yet.
     */
    private static int writes(Agent agent) {
        return org.awaitility.Awaitility.await(agent + " logs its \"map writes\" line").atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> agent.stderr().stream().map(WRITES::matcher).filter(Matcher::find)
                        .map(m -> Integer.parseInt(m.group(1).replace(",", ""))).findFirst(),
                        java.util.Optional::isPresent)
                .orElseThrow();
    }

    private static String adoption(Agent agent) {
        return agent.stderr().stream().map(ADOPTED::matcher).filter(Matcher::find).map(m -> m.group(1)).findFirst()
                .orElse("?");
    }

    // ---- timing -------------------------------------------------------------------------------

    /** The file's identity: a rename gives it a new inode. Null when it does not exist. */
    private static Object inode(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class).fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    /** Waits (10 s at most, polling every millisecond) until the file has a new inode; returns when. */
    private static long awaitNewInode(Path file, Object before, long since) throws InterruptedException {
        long deadline = since + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline) {
            Object now = inode(file);
            if (now != null && !now.equals(before)) {
                return System.nanoTime();
            }
            Thread.sleep(1);
        }
        throw new AssertionError(file + " was not rewritten within 10 s");
    }

    /** As {@link #awaitNewInode}, but an agent that had nothing to write (it printed its version) also ends the wait. */
    private static void awaitNewInodeOrProgrammed(Path file, Object before, long since, Agent agent)
            throws InterruptedException {
        long deadline = since + Agent.PROGRAM_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            Object now = inode(file);
            if ((now != null && !now.equals(before)) || !agent.versions().isEmpty() || !agent.isAlive()) {
                return;
            }
            Thread.sleep(1);
        }
        throw new AssertionError(agent + " neither wrote its ids nor programmed within " + Agent.PROGRAM_TIMEOUT);
    }

    private static void sleepNanos(long nanos) throws InterruptedException {
        if (nanos > 0) {
            Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
        }
    }

    // ---- the files ----------------------------------------------------------------------------

    /**
     * File {@code v}: VIP:80 to "web" (be1 / be1 and be2 / be2), one more listener to "other" on
     * port 81 or 82 (or none), and the bulk: 256 listeners on four other VIPs spread over 32
     * groups of four backends each that no traffic reaches. From one file to the next, every bulk
     * listener moves to another group and every group's weights change, so its whole table is
     * rewritten.
     */
    private static Variant variant(int v) throws Exception {
        List<String> documents = new ArrayList<>();
        Map<String, Integer> web = switch (v) {
            case 0 -> weights("be1", 1);
            case 1 -> weights("be1", 1, "be2", 1);
            default -> weights("be2", 1);
        };
        documents.add(targetGroup("web", 8080, web));
        documents.add(targetGroup("other", 8080, weights("be2", 1)));
        List<String> listeners = new ArrayList<>(List.of(listener("http", Lab.VIP_V4, 80, "TCP", "web")));
        Set<Integer> ports = new java.util.TreeSet<>(List.of(80));
        if (v != 2) {
            listeners.add(listener("alt", Lab.VIP_V4, 81 + v, "TCP", "other"));
            ports.add(81 + v);
        }
        documents.add(loadBalancer("lab", "DNAT", null, listeners.toArray(String[]::new)));
        int groups = 32;
        for (int g = 0; g < groups; g++) {
            StringBuilder tg = new StringBuilder("apiVersion: nodelb.io/v1alpha1\nkind: TargetGroup\nmetadata: {name: bulk"
                    + g + "}\nspec:\n  backends:\n");
            for (int b = 0; b < 4; b++) {
                tg.append(String.format("  - {address: 10.1.5.%d, port: %d, weight: %d}%n", 4 * g + b + 1, 7000,
                        1 + (b + g + v) % 3));
            }
            documents.add(tg.toString());
        }
        for (int lb = 0; lb < 4; lb++) {
            String[] bulk = new String[64];
            for (int i = 0; i < 64; i++) {
                bulk[i] = listener("b" + i, "10.1.4." + (lb + 1), 2000 + i, "TCP", "bulk" + ((lb * 64 + i + v) % groups));
            }
            documents.add(loadBalancer("bulk" + lb, "DNAT", null, bulk));
        }
        String yaml = file(documents.toArray(String[]::new));
        Path scratch = Files.createTempFile("lab-crash-", ".yaml");
        NodeSnapshot snapshot;
        try {
            Files.writeString(scratch, yaml);
            snapshot = StandaloneAgent.snapshotOf(scratch, "lab-node");
        } finally {
            Files.delete(scratch);
        }
        DesiredState plan = new SnapshotApplier(null, LAB_NODE, DesiredState.Limits.defaults()).plan(snapshot);
        Set<String> answers = new java.util.TreeSet<>(web.keySet());
        return new Variant("file " + "ABC".charAt(v), yaml, CanonicalState.of(plan), answers, ports);
    }
}
