package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState.Limits;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Desired state in, minimal map diff out. Writes are ordered make-before-break,
 * so a packet arriving mid-update always finds a consistent path: backends
 * before the tables that point at them, tables before the groups and listeners
 * that lead to them; removals run in the opposite order. If a write fails, the
 * previous state is written back, so a snapshot is either applied or not at all.
 *
 * <p>After a restart the applier starts from what the maps hold ({@link #adopting}), not
 * from nothing: the first snapshot then removes whatever the previous agent programmed
 * that is no longer wanted, and rewrites nothing that is unchanged.
 *
 * <p>What survives a kill at any point, in the state directory:
 * <ol>
 *   <li>the ids of names ({@value #IDS_FILE}), written before the first map write of an apply,
 *       so an agent killed mid-apply leaves ids that the next one completes the apply with;
 *   <li>the snapshot applied ({@value #SNAPSHOT_FILE}), written after the last map write;
 *   <li>then the ids file again, now with the SHA-256 of that snapshot file
 *       ({@value #PROGRAMMED_KEY}): the proof that the maps hold exactly that snapshot under
 *       those ids. Every apply writes the ids file without it before its first map write, so
 *       an apply cut short anywhere leaves no proof.
 * </ol>
 * With the proof, the next agent takes the groups' lookup tables (by far the most entries)
 * from the saved snapshot instead of reading them back, once every other map it read back
 * matches that snapshot; without it, it reads them.
 */
public final class SnapshotApplier {

    private final DataPlaneMaps maps;
    private final DesiredState.Host host;
    private final Limits limits;
    private DesiredState.Ids ids;
    // Read by report and metrics threads while the apply thread writes them.
    private volatile DesiredState applied = DesiredState.empty();
    private volatile String appliedVersion = "";
    private volatile Phases lastApply = new Phases();
    /** The snapshot applied last (or adopted, checked against the maps); null: none. */
    private volatile NodeSnapshot appliedSnapshot;
    /** Where ids and the last applied snapshot are kept across restarts; null: nowhere. */
    private final Path stateDirectory;
    /** What this applier last wrote to the state directory, so an unchanged file is not written again. */
    private Map<String, String> idsWritten;
    private NodeSnapshot snapshotWritten;
    private String snapshotWrittenDigest;
    /** Maglev tables of the last plan: the next plan builds only those of changed groups. */
    private final DesiredState.TableCache tables;
    /** How long one scan's answer stands for the SNAT addresses in use ({@link #holdFullNatSources}). */
    static final long HOLD_RECHECK_NS = 60_000_000_000L;
    /** SNAT addresses the last scan found in use, the address bits the plan cleared then, and when. */
    private Set<java.net.InetAddress> heldSources = Set.of();
    private long[] heldFor = new long[0];
    private long heldCheckedAt;
    private java.util.function.LongSupplier clock = System::nanoTime;

    public SnapshotApplier(DataPlaneMaps maps, DesiredState.Host host, Limits limits) {
        this(maps, host, limits, null, new DesiredState.TableCache());
    }

    private SnapshotApplier(DataPlaneMaps maps, DesiredState.Host host, Limits limits, Path stateDirectory,
                            DesiredState.TableCache tables) {
        this.maps = maps;
        this.host = host;
        this.limits = limits;
        this.ids = new DesiredState.Ids(limits);
        this.stateDirectory = stateDirectory;
        this.tables = tables;
    }

    /**
     * What a restarted agent reads back from the maps, in two parts: the lookup tables are
     * most of the entries, and are read only when the saved snapshot cannot stand for them.
     */
    public interface ReadBack {
        /** Every map but the lookup tables: {@link DesiredState#tables()} is empty. */
        DesiredState withoutTables();

        /** The lookup tables of {@code groups}, by group id. */
        Map<Integer, int[]> tables(Set<Integer> groups);

        /** A read-back already made in full. */
        static ReadBack of(DesiredState programmed) {
            return new ReadBack() {
                @Override
                public DesiredState withoutTables() {
                    return programmed.withTables(Map.of());
                }

                @Override
                public Map<Integer, int[]> tables(Set<Integer> groups) {
                    Map<Integer, int[]> out = new java.util.LinkedHashMap<>();
                    groups.forEach(g -> out.put(g, programmed.tables().get(g)));
                    return out;
                }
            };
        }
    }

    /**
     * What the state directory says about the data plane: the saved ids, the snapshot applied
     * last (planned again with those ids) and whether its apply is proven complete (see the class
     * comment). It needs no kernel, so an agent reads it while its programs load
     * ({@link #readInBackground}), and {@link #adopting} compares it with the maps afterwards.
     */
    public static final class Saved {
        // Let go once adopted ({@link #release}): the agent holds its future for its whole life.
        private DesiredState.Ids ids;
        private NodeSnapshot snapshot;
        private DesiredState plan;
        private final boolean proven;
        private DesiredState.TableCache tables;
        private final Phases phases;
        /** The files as they were when read: identity, size and time, "absent" when missing. */
        private final List<String> read;

        private Saved(DesiredState.Ids ids, NodeSnapshot snapshot, DesiredState plan, boolean proven,
                      DesiredState.TableCache tables, Phases phases, List<String> read) {
            this.ids = ids;
            this.snapshot = snapshot;
            this.plan = plan;
            this.proven = proven;
            this.tables = tables;
            this.phases = phases;
            this.read = read;
        }

        /** Reads and plans what {@code stateDirectory} holds; nothing there is an empty result. */
        public static Saved read(Path stateDirectory, DesiredState.Host host, Limits limits) {
            List<String> files = identities(stateDirectory);
            Saved saved = readFiles(stateDirectory, host, limits);
            // Written meanwhile (by an agent that still held the data plane): read again.
            return files.equals(identities(stateDirectory)) ? saved.readFrom(files)
                    : readFiles(stateDirectory, host, limits).readFrom(identities(stateDirectory));
        }

        private Saved readFrom(List<String> files) {
            return new Saved(ids, snapshot, plan, proven, tables, phases, files);
        }

        /**
         * Whether the files are still those read. They are read before the agent holds the data
         * plane (while its programs load); an agent that held it until then may have written them.
         */
        boolean stillCurrent(Path stateDirectory) {
            return read.equals(identities(stateDirectory));
        }

        private static List<String> identities(Path stateDirectory) {
            List<String> out = new java.util.ArrayList<>();
            for (String name : List.of(IDS_FILE, SNAPSHOT_FILE)) {
                try {
                    var a = Files.readAttributes(stateDirectory.resolve(name),
                            java.nio.file.attribute.BasicFileAttributes.class);
                    out.add(name + " " + a.fileKey() + " " + a.size() + " " + a.lastModifiedTime().toMillis());
                } catch (IOException e) {
                    out.add(name + " absent");
                }
            }
            return out;
        }

        private static Saved readFiles(Path stateDirectory, DesiredState.Host host, Limits limits) {
            Phases phases = new Phases();
            DesiredState.Ids ids;
            String proof = null;
            try {
                Map<String, String> entries = phases.time("read saved ids",
                        () -> StateFiles.read(stateDirectory.resolve(IDS_FILE)));
                proof = entries.get(PROGRAMMED_KEY);
                ids = DesiredState.Ids.fromEntries(limits, entries);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "ignoring the saved ids (" + e.getMessage()
                        + "); every name gets a new id");
                ids = new DesiredState.Ids(limits);
                proof = null;
            }
            DesiredState.TableCache tables = new DesiredState.TableCache();
            byte[] bytes = phases.time("read saved snapshot", () -> readIfThere(stateDirectory.resolve(SNAPSHOT_FILE)));
            if (bytes == null) {
                return new Saved(ids, null, null, false, tables, phases, List.of());
            }
            try {
                NodeSnapshot snapshot = NodeSnapshot.parseFrom(bytes);
                DesiredState.Ids planIds = ids.copy();
                DesiredState plan = phases.time("plan saved snapshot",
                        () -> DesiredState.of(snapshot, host, limits, planIds, tables));
                return new Saved(ids, snapshot, plan, sha256(bytes).equals(proof), tables, phases, List.of());
            } catch (IOException | RuntimeException e) {
                // Unreadable, or no longer valid here: every map is read back, the next snapshot applied in full diff.
                LOG.log(System.Logger.Level.INFO, "not using the saved snapshot (" + e.getMessage() + ")");
                return new Saved(ids, null, null, false, tables, phases, List.of());
            }
        }

        private void release() {
            ids = null;
            snapshot = null;
            plan = null;
            tables = null;
        }

        /** {@link #read} on a thread of its own: an agent's start runs it while the programs load. */
        public static CompletableFuture<Saved> readInBackground(Path stateDirectory, DesiredState.Host host,
                                                                Limits limits) {
            CompletableFuture<Saved> saved = new CompletableFuture<>();
            Thread.ofPlatform().daemon().name("nodelb-saved-state").start(() -> {
                try {
                    saved.complete(read(stateDirectory, host, limits));
                } catch (Throwable e) {
                    saved.completeExceptionally(e);
                }
            });
            return saved;
        }

        private static byte[] readIfThere(Path file) {
            try {
                return Files.readAllBytes(file);
            } catch (java.nio.file.NoSuchFileException e) {
                return null;
            } catch (IOException e) {
                LOG.log(System.Logger.Level.INFO, "cannot read " + file + ": " + e.getMessage());
                return null;
            }
        }
    }

    /**
     * An agent's start: takes over what the maps of {@code dataPlane} hold, given what its state
     * directory holds (read while the programs loaded: {@link Saved#readInBackground}), and logs
     * what the load and the adoption took, step by step.
     */
    public static SnapshotApplier adopting(BpfDataPlane dataPlane, CompletableFuture<Saved> saved,
                                           DesiredState.Host host, Limits limits) {
        Phases startup = dataPlane.startup();
        SnapshotApplier applier = adopting(dataPlane.maps(), host, limits, dataPlane.readBack(startup),
                dataPlane.stateDirectory(), saved, startup);
        LOG.log(System.Logger.Level.INFO, "data plane loaded and read back"
                + (applier.appliedVersion().isEmpty() ? ", no version adopted"
                        : ", version " + applier.appliedVersion() + " adopted") + ": " + startup);
        return applier;
    }

    /**
     * An applier that takes over a data plane holding {@code programmed}: the ids come from
     * the state directory, and the version of the last snapshot applied there is believed
     * only when that snapshot, planned again, equals what the maps hold exactly.
     */
    public static SnapshotApplier adopting(DataPlaneMaps maps, DesiredState.Host host, Limits limits,
                                           DesiredState programmed, Path stateDirectory) {
        return adopting(maps, host, limits, ReadBack.of(programmed), stateDirectory);
    }

    /**
     * An applier that takes over the data plane {@code readBack} reads. The ids come from the
     * state directory. The version of the last snapshot applied there is believed only when
     * that snapshot, planned again with those ids, equals what the maps hold: every map read
     * back, and the lookup tables too, which are read back unless the state directory proves
     * that the apply of that snapshot completed (see the class comment).
     */
    public static SnapshotApplier adopting(DataPlaneMaps maps, DesiredState.Host host, Limits limits,
                                           ReadBack readBack, Path stateDirectory) {
        return adopting(maps, host, limits, readBack, stateDirectory, Saved.read(stateDirectory, host, limits),
                new Phases());
    }

    /** As the agent adopts: with the state directory read while it was not yet holding the data plane. */
    static SnapshotApplier adopting(DataPlaneMaps maps, DesiredState.Host host, Limits limits, ReadBack readBack,
                                    Path stateDirectory, CompletableFuture<Saved> saved, Phases phases) {
        Saved read = phases.time("wait for the saved state", saved::join);
        read.phases.asMap().forEach((step, d) -> phases.add("meanwhile: " + step, d.toNanos()));
        // Read before this agent held the data plane: believed only if no other agent wrote since.
        Saved state = read.stillCurrent(stateDirectory) ? read
                : phases.time("read the saved state again", () -> Saved.read(stateDirectory, host, limits));
        return adopting(maps, host, limits, readBack, stateDirectory, state, phases);
    }

    private static SnapshotApplier adopting(DataPlaneMaps maps, DesiredState.Host host, Limits limits,
                                            ReadBack readBack, Path stateDirectory, Saved saved, Phases phases) {
        SnapshotApplier applier = new SnapshotApplier(maps, host, limits, stateDirectory, saved.tables);
        DesiredState found = readBack.withoutTables();
        DesiredState programmed;
        if (saved.plan != null && saved.proven && phases.time("compare", () -> saved.plan.sameAsWithoutTables(found))) {
            // The last apply completed: the maps hold its snapshot, tables included.
            programmed = found.withTables(saved.plan.tables());
        } else {
            programmed = found.withTables(readBack.tables(found.groups().keySet()));
        }
        applier.applied = programmed;
        boolean believed = saved.plan != null && phases.time("compare", () -> saved.plan.sameAs(programmed));
        applier.appliedSnapshot = believed ? saved.snapshot : null;
        applier.appliedVersion = believed ? saved.snapshot.getVersion() : "";
        saved.ids.reserveProgrammed(programmed);
        applier.ids = saved.ids;
        saved.release();
        return applier;
    }

    private static final System.Logger LOG = System.getLogger(SnapshotApplier.class.getName());
    static final String IDS_FILE = "ids.properties";
    static final String SNAPSHOT_FILE = "applied-snapshot.pb";
    /** Entry of the ids file: SHA-256 of the snapshot file whose apply completed (see the class comment). */
    static final String PROGRAMMED_KEY = "programmed.sha256";

    /** Plans with the table cache; plans run on the apply thread and on callers of {@link #plan}. */
    private DesiredState planWith(NodeSnapshot snapshot, DesiredState.Ids with) {
        synchronized (tables) {
            return DesiredState.of(snapshot, host, limits, with, tables);
        }
    }

    /** Checks a snapshot against this node without changing anything. */
    public DesiredState plan(NodeSnapshot snapshot) {
        return planWith(snapshot, ids.copy());
    }

    /**
     * A plan that {@link #apply(Planned)} programs as it is, if no other apply came between.
     * {@code programmed} is {@code snapshot} with the node's own weights laid over it (the same
     * object when there are none): the maps get it, the version and the state file name
     * {@code snapshot}.
     */
    record Planned(NodeSnapshot snapshot, NodeSnapshot programmed, DesiredState state, DesiredState.Ids nextIds,
                   DesiredState.Ids base, long planNanos) {}

    /** Plans {@code snapshot} for {@link #apply(Planned)}: the check and the apply plan once. */
    Planned prepare(NodeSnapshot snapshot) {
        return prepare(snapshot, snapshot);
    }

    /** Plans {@code programmed}, {@code snapshot} with other weights, to be applied as {@code snapshot}. */
    Planned prepare(NodeSnapshot snapshot, NodeSnapshot programmed) {
        long start = System.nanoTime();
        DesiredState.Ids base = ids;
        DesiredState.Ids nextIds = base.copy();
        DesiredState state = planWith(programmed, nextIds);
        return new Planned(snapshot, programmed, state, nextIds, base, System.nanoTime() - start);
    }

    /**
     * Programs a snapshot.
     *
     * @return the number of map writes it took (0 when nothing changed)
     * @throws SnapshotRejectedException when it cannot be programmed here; nothing changed
     */
    public int apply(NodeSnapshot snapshot) {
        return apply(prepare(snapshot), new Phases());
    }

    /** Programs a plan of {@link #prepare}; planned again when the ids changed since. */
    int apply(Planned planned) {
        return apply(planned, new Phases());
    }

    private int apply(Planned given, Phases phases) {
        Planned planned = given.base() == ids ? given : prepare(given.snapshot(), given.programmed());
        phases.add("plan", planned.planNanos());
        NodeSnapshot snapshot = planned.snapshot();
        DesiredState.Ids nextIds = planned.nextIds();
        DesiredState next = holdFullNatSources(applied, planned.state());
        CountingMaps counting = new CountingMaps(maps);
        // Before the maps, and without the proof of the last apply: a killed agent's successor
        // completes this apply with the same ids, and reads every map back.
        phases.time("save ids", () -> saveIds(nextIds, null));
        try {
            phases.time("write maps", () -> transition(counting, applied, next));
        } catch (RuntimeException e) {
            // Written entries are a mix of old and new: write the old state back over them.
            try {
                transition(maps, next, applied);
                saveIds(ids, null);
            } catch (RuntimeException rollback) {
                e.addSuppressed(rollback);
            }
            throw e;
        }
        nextIds.releaseUnnamed(); // what a previous agent left is gone from the maps now
        DesiredState previous = applied;
        applied = next;
        ids = nextIds;
        appliedVersion = snapshot.getVersion();
        appliedSnapshot = snapshot;
        releaseFlowsOfRemoved(previous, next, phases);
        phases.time("save snapshot", () -> {
            String digest = saveSnapshot(snapshot);
            // The proof says the maps hold the saved snapshot's plan: not so under other weights,
            // and the next agent then reads the tables back.
            if (digest != null && planned.programmed() == snapshot) {
                saveIds(nextIds, digest);
            }
        });
        lastApply = phases;
        return counting.writes;
    }

    /**
     * The plan, with the ingress address filter still open for the SNAT addresses that FullNAT flows
     * use: when a listener's SNAT address changes or the listener goes, its flows live on and their
     * replies come back to the old address, which a cleared bit would pass untranslated. Only an
     * apply that clears address bits asks the maps (a scan of the flow tables), and while the same
     * bits stay cleared at most once per {@link #HOLD_RECHECK_NS}: a bit kept longer than needed
     * only costs foreign packets to that address a listener lookup. If the scan fails, every bit is kept.
     */
    private DesiredState holdFullNatSources(DesiredState from, DesiredState to) {
        long[] cleared = from.ingressPorts().addressBitsNotIn(to.ingressPorts());
        if (Arrays.stream(cleared).allMatch(w -> w == 0)) {
            return to;
        }
        long now = clock.getAsLong();
        if (!Arrays.equals(cleared, heldFor) || now - heldCheckedAt >= HOLD_RECHECK_NS) {
            try {
                heldSources = Set.copyOf(maps.fullNatSourcesInUse());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "could not read which SNAT addresses FullNAT flows use;"
                        + " the address filter keeps every address it had: " + e.getMessage());
                return to.withIngressPorts(PortFilter.ofWords(orWords(from.ingressPorts(), to.ingressPorts())));
            }
            heldFor = cleared;
            heldCheckedAt = now;
        }
        return heldSources.isEmpty() ? to : to.withIngressPorts(to.ingressPorts().withAddresses(heldSources));
    }

    private static long[] orWords(PortFilter a, PortFilter b) {
        long[] out = new long[PortFilter.WORDS];
        for (int w = 0; w < PortFilter.WORDS; w++) {
            out[w] = a.word(w) | b.word(w);
        }
        return out;
    }

    /** Tests move time past {@link #HOLD_RECHECK_NS}. */
    void clock(java.util.function.LongSupplier nanoClock) {
        this.clock = nanoClock;
    }

    /**
     * Removed backends (gone from the snapshot, not drained: a draining backend stays in it) release
     * their flows once no table selects them, so their clients fail fast or re-balance instead of
     * hanging until the idle timeout. A failure here leaves those flows to their timeout: the
     * snapshot itself is applied.
     */
    private void releaseFlowsOfRemoved(DesiredState from, DesiredState to, Phases phases) {
        // By address and port: a backend that only changed id (after a kill mid-apply) keeps its flows.
        Set<String> staying = new java.util.HashSet<>();
        to.backends().values().forEach(b -> staying.add(DesiredState.backendKey(b.address(), b.port())));
        Set<Integer> removed = new java.util.TreeSet<>();
        from.backends().forEach((id, b) -> {
            if (!to.backends().containsKey(id) && !staying.contains(DesiredState.backendKey(b.address(), b.port()))) {
                removed.add(id);
            }
        });
        if (removed.isEmpty()) {
            return;
        }
        List<String> names = removed.stream().map(id -> from.backends().get(id))
                .map(b -> DesiredState.backendKey(b.address(), b.port())).toList();
        try {
            long released = phases.time("release flows", () -> maps.releaseFlows(removed));
            LOG.log(System.Logger.Level.INFO, "released " + released + " conntrack entries of removed backends "
                    + names);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "could not release the flows of removed backends " + names
                    + "; they end at their idle timeout: " + e.getMessage());
        }
    }

    /** The steps of the last apply that succeeded and their durations. */
    public Phases lastApply() {
        return lastApply;
    }

    /** The ids, and {@code proof} (the digest of the snapshot file) when the maps hold that snapshot. */
    private void saveIds(DesiredState.Ids which, String proof) {
        if (stateDirectory != null) {
            Map<String, String> entries = which.toEntries();
            if (proof != null) {
                entries.put(PROGRAMMED_KEY, proof);
            }
            // The node's weight changes apply often and change no id: the file as it is stays.
            if (entries.equals(idsWritten)) {
                return;
            }
            idsWritten = null; // unknown if the write fails halfway
            StateFiles.write(stateDirectory.resolve(IDS_FILE), entries);
            idsWritten = entries;
        }
    }

    /** Saves the snapshot; returns the SHA-256 of the file written, or null when none was written. */
    private String saveSnapshot(NodeSnapshot snapshot) {
        if (stateDirectory == null) {
            return null;
        }
        if (snapshot == snapshotWritten) {
            return snapshotWrittenDigest; // the same snapshot under other weights
        }
        Path file = stateDirectory.resolve(SNAPSHOT_FILE);
        Path tmp = stateDirectory.resolve(SNAPSHOT_FILE + ".tmp");
        try {
            byte[] bytes = snapshot.toByteArray();
            Files.write(tmp, bytes);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            snapshotWritten = snapshot;
            snapshotWrittenDigest = sha256(bytes);
            return snapshotWrittenDigest;
        } catch (IOException e) {
            // Only costs a full read-back and a full diff on the next start.
            LOG.log(System.Logger.Level.WARNING, "cannot save the applied snapshot to " + file + ": " + e.getMessage());
            return null;
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }

    public DesiredState applied() {
        return applied;
    }

    public String appliedVersion() {
        return appliedVersion;
    }

    /** The snapshot programmed now, if known (after a restart: only when it matched the maps). */
    public java.util.Optional<NodeSnapshot> appliedSnapshot() {
        return java.util.Optional.ofNullable(appliedSnapshot);
    }

    /** Rewrites every map from {@code from} to {@code to}, touching only what differs. */
    static void transition(DataPlaneMaps maps, DesiredState from, DesiredState to) {
        // 1. make: backends, then tables and groups, then routes, timeouts and listeners, then the port filters.
        to.backends().forEach((id, b) -> {
            if (!b.equals(from.backends().get(id))) {
                maps.putBackend(id, b);
            }
        });
        to.tables().forEach((group, table) -> writeTableDiff(maps, group, from.tables().get(group), table));
        putChanged(to.groups(), from.groups(), maps::putGroup);
        putChanged(to.routes(), from.routes(), maps::putRoute);
        putChanged(to.timeouts(), from.timeouts(), maps::putTimeouts);
        putChanged(to.rateLimits(), from.rateLimits(), maps::putRateLimit);
        putChanged(to.listeners(), from.listeners(), maps::putListener);
        // A port stays open while either state needs it, until the break step below.
        writePorts(maps, PortFilter.Direction.INGRESS, from.ingressPorts(), to.ingressPorts(), true);
        writePorts(maps, PortFilter.Direction.EGRESS, from.egressPorts(), to.egressPorts(), true);

        // 2. break: what only the old state had, from the entry points inwards.
        from.listeners().keySet().stream().filter(k -> !to.listeners().containsKey(k)).forEach(maps::deleteListener);
        from.routes().keySet().stream().filter(k -> !to.routes().containsKey(k)).forEach(maps::deleteRoute);
        from.timeouts().keySet().stream().filter(k -> !to.timeouts().containsKey(k)).forEach(maps::deleteTimeouts);
        from.rateLimits().keySet().stream().filter(k -> !to.rateLimits().containsKey(k)).forEach(maps::deleteRateLimit);
        from.groups().keySet().stream().filter(k -> !to.groups().containsKey(k)).forEach(maps::deleteGroup);
        writePorts(maps, PortFilter.Direction.INGRESS, from.ingressPorts(), to.ingressPorts(), false);
        writePorts(maps, PortFilter.Direction.EGRESS, from.egressPorts(), to.egressPorts(), false);
        from.backends().keySet().stream().filter(k -> !to.backends().containsKey(k)).forEach(maps::deleteBackend);
    }

    private static <K, V> void putChanged(Map<K, V> to, Map<K, V> from, java.util.function.BiConsumer<K, V> put) {
        to.forEach((k, v) -> {
            if (!Objects.equals(v, from.get(k))) {
                put.accept(k, v);
            }
        });
    }

    /** Writes the runs of slots that changed, each run in one call. */
    private static void writeTableDiff(DataPlaneMaps maps, int group, int[] old, int[] next) {
        int i = 0;
        while (i < next.length) {
            if (old != null && old[i] == next[i]) {
                i++;
                continue;
            }
            int start = i;
            while (i < next.length && (old == null || old[i] != next[i])) {
                i++;
            }
            maps.putTableSlots(group, start, Arrays.copyOfRange(next, start, i));
        }
    }

    private static void writePorts(DataPlaneMaps maps, PortFilter.Direction direction,
                                   PortFilter from, PortFilter to, boolean union) {
        for (int w = 0; w < PortFilter.WORDS; w++) {
            long before = from.word(w);
            long after = to.word(w);
            if (before == after) {
                continue;
            }
            // make: open the union; break: narrow to the new set (the union was written before).
            if (union) {
                maps.putPortWord(direction, w, before | after);
            } else if ((before | after) != after) {
                maps.putPortWord(direction, w, after);
            }
        }
    }

    /** Counts writes so a caller can see that an unchanged snapshot costs nothing. */
    private static final class CountingMaps implements DataPlaneMaps {
        private final DataPlaneMaps delegate;
        int writes;

        CountingMaps(DataPlaneMaps delegate) {
            this.delegate = delegate;
        }

        @Override public void putBackend(int id, Abi.Backend b) { writes++; delegate.putBackend(id, b); }
        @Override public void deleteBackend(int id) { writes++; delegate.deleteBackend(id); }
        @Override public void putTableSlots(int g, int from, int[] ids) { writes++; delegate.putTableSlots(g, from, ids); }
        @Override public void putGroup(int id, Abi.Group g) { writes++; delegate.putGroup(id, g); }
        @Override public void deleteGroup(int id) { writes++; delegate.deleteGroup(id); }
        @Override public void putRoute(Abi.RouteKey k, int g) { writes++; delegate.putRoute(k, g); }
        @Override public void deleteRoute(Abi.RouteKey k) { writes++; delegate.deleteRoute(k); }
        @Override public void putTimeouts(int id, Abi.Timeouts t) { writes++; delegate.putTimeouts(id, t); }
        @Override public void deleteTimeouts(int id) { writes++; delegate.deleteTimeouts(id); }
        @Override public void putRateLimit(int id, Abi.RateLimit r) { writes++; delegate.putRateLimit(id, r); }
        @Override public void deleteRateLimit(int id) { writes++; delegate.deleteRateLimit(id); }
        @Override public void putListener(Abi.ListenerKey k, Abi.Listener l) { writes++; delegate.putListener(k, l); }
        @Override public void deleteListener(Abi.ListenerKey k) { writes++; delegate.deleteListener(k); }
        @Override public void putPortWord(PortFilter.Direction d, int w, long bits) { writes++; delegate.putPortWord(d, w, bits); }
        @Override public long releaseFlows(Set<Integer> backends) { return delegate.releaseFlows(backends); }
        @Override public Set<java.net.InetAddress> fullNatSourcesInUse() { return delegate.fullNatSourcesInUse(); }
    }
}
