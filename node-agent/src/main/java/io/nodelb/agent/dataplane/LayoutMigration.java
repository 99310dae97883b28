package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfException;
import io.nodelb.agent.bpf.BpfLink;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.BpfObject;
import io.nodelb.agent.bpf.BpfProgram;
import io.nodelb.agent.bpf.Btf;
import io.nodelb.agent.bpf.Errno;
import io.nodelb.agent.bpf.LayoutTranslation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * An upgrade across data-plane layouts that keeps live flows (bpf/README.md, "Layout versions").
 * The pin path holds the data plane of an older layout, {@code v<old>/} (maps and links an agent
 * of that layout pinned; this agent's {@code v<new>/} beside it only after an interrupted
 * migration). Then {@link BpfDataPlane#load}:
 *
 * <ol>
 *   <li>{@link #plan}s before it creates anything: each pinned map of {@code v<old>} against the
 *       map of the same name in this agent's objects, through both BTFs (the old one from the
 *       kernel), by the rule of {@link LayoutTranslation}. What cannot be carried is
 *       {@link Refused} with a message, and nothing changes;
 *   <li>loads its objects with fresh maps under {@code v<new>/};
 *   <li>{@link #run}s: copies the configuration maps and conntrack (the first pass), moves every
 *       link to the new programs, copies conntrack again (what the old programs wrote meanwhile),
 *       then unpins the old maps and removes {@code v<old>/}.
 * </ol>
 *
 * The configuration is carried, not only conntrack: from the link swap on, the new programs
 * serve every packet, and with empty configuration maps the port filter would pass the packets
 * of every live flow to the host's stack (which answers TCP with a RST) until the first snapshot,
 * which in a cluster comes only once the operator answers. Carried, the maps hold exactly what
 * the previous agent programmed, so the first snapshot is a diff, as after any restart.
 *
 * <p>Interrupted (the agent killed midway), the migration is finished by the next start: the
 * links still under {@code v<old>/} are moved, the copies are repeated (an entry the new programs
 * have touched since is never overwritten by an older one), then {@code v<old>/} goes.
 */
public final class LayoutMigration implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(LayoutMigration.class.getName());

    static final String CONNTRACK = "nlb_conntrack";
    /**
     * The flow tables, carried as conntrack is (two passes, merged with what the new programs wrote):
     * nlb_conntrack and the table of unanswered flows. A layout without the second has none to carry.
     */
    static final List<String> FLOW_TABLES = List.of(CONNTRACK, BpfDataPlane.EMBRYONIC_MAP);
    /**
     * Maps that start again empty. Per-CPU counters at zero: nlb_stats is indexed by enum nlb_stat, whose
     * values a layout change may renumber, and Prometheus takes a counter that goes back as a reset (so do
     * the flow event budget's counts). The flow events' ring buffer cannot be copied: records not read by
     * the old agent are lost. Rate limit buckets start full again: every source (and, from layout 5, every
     * backend) gets its burst once more. Layout 5's new fields (nlb_backend rate and burst, nlb_rate_limit
     * packet_rate and packet_burst) need no converter: carried by name they start at 0, no limit, until
     * the first snapshot writes them.
     */
    static final Set<String> RESET = Set.of("nlb_stats", "nlb_be_stats", "nlb_events", "nlb_ev_budget",
            "nlb_rate_buckets",
            "nlb_pkt_buckets",
            "nlb_be_buckets");
    /** Where the Maglev slots of group g start depends on the table size: the map cannot change size. */
    private static final String TABLES = "nlb_tables";
    /** The conntrack field that says which copy of an entry is newer. */
    private static final String LAST_SEEN = "last_seen_ns";
    /** How far the coarse clock of the programs may lag CLOCK_MONOTONIC, generously. */
    private static final long CLOCK_SLACK_NS = 1_000_000_000L;
    private static final int BATCH = 4096;
    /**
     * Flow entries written from one CPU before the copy moves to the next (CpuSpread): small, so that
     * no CPU's share of a per-CPU LRU list gets more than its part of the table.
     */
    private static final int SPREAD = 256;

    /**
     * Converters by old layout, then map name: what a layout change needs beyond the rule by
     * name (a renamed field, a field whose meaning changed, a narrowed one). The change that
     * needs one adds it here, next to its NLB_LAYOUT_VERSION bump. None yet: layout 1 is the
     * first that migrates.
     */
    private static final Map<Integer, Map<String, Converter>> CONVERTERS = Map.of();

    /**
     * Completes the entries of one map that the rule by name cannot carry alone. Called for each
     * entry after the copy by name, with both translations to read old fields and write new ones
     * by name ({@link LayoutTranslation#readFrom}, {@link LayoutTranslation#writeTo}).
     */
    public interface Converter {
        /** Fields of the new key it writes itself: the rule by name leaves them alone. */
        default Set<String> keyFields() {
            return Set.of();
        }

        /** Fields of the new value it writes itself. */
        default Set<String> valueFields() {
            return Set.of();
        }

        /** Completes newKey and newValue; returns null to keep the entry, or why it is dropped. */
        String convert(LayoutTranslation key, LayoutTranslation value, MemorySegment oldKey, MemorySegment oldValue,
                       MemorySegment newKey, MemorySegment newValue);
    }

    /** The moments of a migration when only the old programs, or only the new ones, run: tests act there. */
    public interface Observer {
        Observer NONE = new Observer() {};

        /** After the first conntrack copy; the old programs still run. */
        default void beforeLinkSwap() {}

        /** Every link runs the new programs; the second conntrack copy comes next. */
        default void afterLinkSwap() {}
    }

    /** A data plane this agent will not migrate; nothing was changed. */
    public static final class Refused extends IllegalStateException {
        Refused(String message) {
            super(message);
        }
    }

    /**
     * What a migration did.
     *
     * @param migrated flow table entries (nlb_conntrack's and nlb_ct_embryonic's) this start carried into the new maps (one refreshed by the
     *     second pass counts once; after an interrupted migration, those carried before and unchanged
     *     since are not counted again)
     * @param converted of those, how many were translated field by field (the layouts differ)
     * @param afterSwap conntrack entries the second pass wrote: created, or touched last, by the old
     *     programs between the first copy and the link swap
     * @param keptNewer conntrack entries the new programs had already written, kept as they were
     * @param dropped conntrack entries left behind, by reason
     * @param configuration entries of the configuration maps carried
     * @param links links moved to the new programs
     * @param defunctLinks links whose interface is gone: moved, and let go like any such link
     * @param notes what changed besides: maps reset, new, or gone; fields dropped, zeroed or widened
     */
    public record Report(int fromLayout, int toLayout, long migrated, long converted, long afterSwap, long keptNewer,
                         Map<String, Long> dropped, long configuration, int links, int defunctLinks,
                         List<String> notes) {}

    /** One map's way across: its key and value translations, and its converter if it needs one. */
    record MapPlan(String name, BpfMap old, LayoutTranslation key, LayoutTranslation value, Converter converter) {

        boolean isIdentity() {
            return converter == null && key.isIdentity() && value.isIdentity();
        }

        /** Writes the entry in the new layout into newKey and newValue; returns null, or why it is dropped. */
        String translate(MemorySegment oldKey, MemorySegment oldValue, MemorySegment newKey, MemorySegment newValue) {
            key.apply(oldKey, newKey);
            value.apply(oldValue, newValue);
            return converter == null ? null : converter.convert(key, value, oldKey, oldValue, newKey, newValue);
        }
    }

    private final Path pinPath;
    private final int fromLayout;
    private final int toLayout;
    private final Path oldDirectory;
    private final Path newDirectory;
    private final Map<String, MapPlan> plans;
    private final List<BpfMap> opened;
    private final List<Btf> btfs;
    private final List<String> notes;
    /** Links of a previous, interrupted attempt already run the new programs: copies must merge. */
    private final boolean newProgramsRun;
    private boolean linksTouched;

    private LayoutMigration(Path pinPath, int fromLayout, int toLayout, Map<String, MapPlan> plans, List<BpfMap> opened,
                            List<Btf> btfs, List<String> notes) {
        this.pinPath = pinPath;
        this.fromLayout = fromLayout;
        this.toLayout = toLayout;
        this.oldDirectory = layoutDirectory(pinPath, fromLayout);
        this.newDirectory = layoutDirectory(pinPath, toLayout);
        this.plans = plans;
        this.opened = opened;
        this.btfs = btfs;
        this.notes = notes;
        this.newProgramsRun = !links(newDirectory).isEmpty();
    }

    static Path layoutDirectory(Path pinPath, int layout) {
        return pinPath.resolve("v" + layout);
    }

    /**
     * The older layout whose data plane is pinned under pinPath and must be migrated to layout
     * current, or empty when there is none (a first start, or a restart of the same layout).
     *
     * @throws Refused when a newer layout is pinned there, or more than one older layout
     */
    static OptionalInt olderLayout(Path pinPath, int current) {
        List<Integer> older = new ArrayList<>();
        for (int layout : pinnedLayouts(pinPath)) {
            if (layout > current) {
                throw new Refused("the data plane pinned under " + pinPath + " has layout v" + layout
                        + ", newer than this agent's v" + current + ", and flows cannot be migrated to an older"
                        + " layout: run an agent of layout v" + layout + " or newer there, or end its flows with"
                        + " `nodelb-agent uninstall --pin-path " + pinPath + "` and start this agent again");
            }
            if (layout < current) {
                older.add(layout);
            }
        }
        if (older.size() > 1) {
            throw new Refused("the pin path " + pinPath + " holds data planes of several older layouts ("
                    + older.stream().map(l -> "v" + l).toList() + "): which one carries the live flows is"
                    + " unknown; run `nodelb-agent uninstall --pin-path " + pinPath + "` (it ends the flows)"
                    + " and start this agent again");
        }
        return older.isEmpty() ? OptionalInt.empty() : OptionalInt.of(older.getFirst());
    }

    /** The layouts with something pinned under pinPath ({@code v<N>} directories that are not empty). */
    private static List<Integer> pinnedLayouts(Path pinPath) {
        if (!Files.isDirectory(pinPath)) {
            return List.of();
        }
        List<Integer> layouts = new ArrayList<>();
        for (Path dir : list(pinPath)) {
            String name = dir.getFileName().toString();
            if (Files.isDirectory(dir) && name.matches("v\\d{1,9}") && !list(dir).isEmpty()) {
                layouts.add(Integer.parseInt(name.substring(1)));
            }
        }
        layouts.sort(null);
        return layouts;
    }

    /** Plans the migration from the data plane of layout from under pinPath into newXdp's maps (opened, not loaded). */
    static LayoutMigration plan(Path pinPath, int from, BpfObject newXdp, int to) {
        return plan(pinPath, from, newXdp, to, CONVERTERS.getOrDefault(from, Map.of()));
    }

    static LayoutMigration plan(Path pinPath, int from, BpfObject newXdp, int to, Map<String, Converter> converters) {
        Path oldDirectory = layoutDirectory(pinPath, from);
        Map<String, MapPlan> plans = new LinkedHashMap<>();
        List<BpfMap> opened = new ArrayList<>();
        Map<Integer, Btf> btfs = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        try {
            List<String> oldMaps = new ArrayList<>();
            for (Path pin : list(oldDirectory)) {
                String name = pin.getFileName().toString();
                if (name.startsWith(BpfDataPlane.XDP_LINK_PREFIX) || name.startsWith(BpfDataPlane.TC_LINK_PREFIX)) {
                    continue;
                }
                oldMaps.add(name);
                if (RESET.contains(name)) {
                    notes.add(name + " reset");
                } else if (!BpfDataPlane.MAPS.contains(name)) {
                    notes.add(name + " not in layout v" + to + ": dropped");
                } else {
                    BpfMap old = BpfMap.openPinned(pin);
                    opened.add(old);
                    MapPlan plan = planMap(name, old, newXdp, converters.get(name), btfs, problems);
                    if (plan != null) {
                        plans.put(name, plan);
                    }
                }
            }
            BpfDataPlane.MAPS.stream().filter(m -> !oldMaps.contains(m))
                    .forEach(m -> notes.add(m + " new in layout v" + to + ": starts empty"));
            if (!problems.isEmpty()) {
                throw refusal(pinPath, from, to, problems);
            }
            for (MapPlan plan : plans.values()) {
                for (LayoutTranslation t : List.of(plan.key(), plan.value())) {
                    t.dropped().forEach(f -> notes.add(f + " dropped"));
                    t.zeroed().forEach(f -> notes.add(f + " zeroed"));
                    t.widened().forEach(f -> notes.add(f + " widened"));
                }
                if (plan.converter() != null) {
                    notes.add(plan.name() + " converted by " + plan.converter().getClass().getSimpleName());
                }
            }
            return new LayoutMigration(pinPath, from, to, plans, opened, List.copyOf(btfs.values()), notes);
        } catch (RuntimeException e) {
            opened.forEach(BpfMap::close);
            btfs.values().forEach(Btf::close);
            throw e;
        }
    }

    private static Refused refusal(Path pinPath, int from, int to, List<String> problems) {
        return new Refused("cannot migrate the data plane pinned under " + layoutDirectory(pinPath, from)
                + " to layout v" + to + ":\n  " + String.join("\n  ", problems) + "\nIts flows stay served by the"
                + " programs of layout v" + from + ". Either run an agent of layout v" + from + " on this pin path,"
                + " or give the change a converter (LayoutMigration.CONVERTERS; see bpf/README.md, \"Layout"
                + " versions\"), or end the flows with `nodelb-agent uninstall --pin-path " + pinPath
                + "` and start this agent again.");
    }

    private static MapPlan planMap(String name, BpfMap old, BpfObject newXdp, Converter converter,
                                   Map<Integer, Btf> btfs, List<String> problems) {
        BpfMap.Info info = old.info();
        BpfMap current = newXdp.map(name);
        if (info.btfId() == 0 || info.btfValueTypeId() == 0) {
            problems.add(name + ": the pinned map carries no BTF, so its fields are unknown");
            return null;
        }
        if (old.isPerCpu() != current.isPerCpu()) {
            problems.add(name + ": was " + (old.isPerCpu() ? "" : "not ") + "per-CPU, is "
                    + (current.isPerCpu() ? "" : "not ") + "per-CPU now");
            return null;
        }
        if (name.equals(TABLES) && info.maxEntries() != current.maxEntries()) {
            problems.add(name + ": " + info.maxEntries() + " slots pinned, " + current.maxEntries() + " now: the table"
                    + " geometry (groups x slots per group) changed, and a slot's index with it");
            return null;
        }
        Btf oldBtf = btfs.computeIfAbsent(info.btfId(), Btf::fromKernel);
        Btf newBtf = newXdp.btf();
        LayoutTranslation key = info.btfKeyTypeId() == 0 || current.btfKeyTypeId() == 0
                ? null
                : LayoutTranslation.between(oldBtf, info.btfKeyTypeId(), newBtf, current.btfKeyTypeId(), name + " key",
                        converter == null ? Set.of() : converter.keyFields());
        if (key == null) {
            problems.add(name + ": the key has no BTF type");
            return null;
        }
        LayoutTranslation value = LayoutTranslation.between(oldBtf, info.btfValueTypeId(), newBtf,
                current.btfValueTypeId(), name + " value", converter == null ? Set.of() : converter.valueFields());
        problems.addAll(key.problems());
        problems.addAll(value.problems());
        return key.problems().isEmpty() && value.problems().isEmpty()
                ? new MapPlan(name, old, key, value, converter)
                : null;
    }

    /**
     * Carries the data plane across: configuration and conntrack into newMaps, the links to the
     * new programs, then conntrack again; then removes the old layout's pins.
     *
     * @param observer told before and after the link swap (tests create flows there)
     */
    Report run(Map<String, BpfMap> newMaps, BpfProgram xdp, BpfProgram tc, Observer observer) {
        long started = System.nanoTime();
        long configuration = 0;
        Pass first = new Pass();
        try {
            for (MapPlan plan : plans.values()) {
                if (!FLOW_TABLES.contains(plan.name())) {
                    configuration += copyConfiguration(plan, newMaps.get(plan.name()));
                }
            }
            configuration += openAddressFilter(newMaps);
            for (String table : FLOW_TABLES) {
                MapPlan plan = plans.get(table);
                if (plan != null) {
                    first.add(copyConntrack(plan, newMaps.get(table), newProgramsRun, Long.MIN_VALUE));
                }
            }
            observer.beforeLinkSwap();
        } catch (Refused e) {
            throw refusal(pinPath, fromLayout, toLayout, List.of(e.getMessage()));
        } catch (RuntimeException e) {
            throw new IllegalStateException("the migration from layout v" + fromLayout + " to v" + toLayout + " under "
                    + pinPath + " failed before any link moved, and the old data plane serves as before: "
                    + e.getMessage(), e);
        }
        int[] moved;
        Pass second = new Pass();
        try {
            moved = moveLinks(xdp, tc);
            observer.afterLinkSwap();
            // The old programs ran until their links were swapped: flows they created (or entries they
            // touched) after the first pass started are only in the old map, and the old programs no
            // longer write it. A second pass copies exactly those, merging with what the new programs
            // wrote since the swap.
            for (String table : FLOW_TABLES) {
                MapPlan plan = plans.get(table);
                if (plan != null) {
                    second.add(copyConntrack(plan, newMaps.get(table), true, started - CLOCK_SLACK_NS));
                }
            }
            removeOldLayout();
        } catch (RuntimeException e) {
            throw new IllegalStateException("the migration from layout v" + fromLayout + " to v" + toLayout + " under "
                    + pinPath + " stopped after it began moving links (those moved run the new programs, the others"
                    + " the old ones; no flow was cleared): start this agent again to finish it", e);
        }
        Map<String, Long> dropped = new TreeMap<>(first.dropped);
        second.dropped.forEach((reason, n) -> dropped.merge(reason, n, Long::sum));
        boolean converting = FLOW_TABLES.stream().map(plans::get)
                .anyMatch(plan -> plan != null && !plan.isIdentity());
        long migrated = first.written + first.inserted + first.refreshed + second.inserted;
        Report report = new Report(fromLayout, toLayout, migrated, converting ? migrated : 0,
                second.inserted + second.refreshed, first.keptNewer + second.keptNewer, Map.copyOf(dropped),
                configuration, moved[0], moved[1], List.copyOf(notes));
        LOG.log(System.Logger.Level.INFO, line(report, (System.nanoTime() - started) / 1_000_000));
        return report;
    }

    private String line(Report r, long millis) {
        return "migrated the data plane under " + pinPath + " from layout v" + r.fromLayout() + " to v" + r.toLayout()
                + " in " + millis + " ms: conntrack " + r.migrated() + " entries (" + r.converted()
                + " converted field by field, " + r.afterSwap() + " written after the link swap, " + r.keptNewer()
                + " kept as the new programs had them, dropped " + (r.dropped().isEmpty() ? "none" : r.dropped())
                + "), configuration " + r.configuration() + " entries, " + r.links() + " links moved ("
                + r.defunctLinks() + " defunct); " + String.join(", ", r.notes());
    }

    /** Counts of one conntrack pass. */
    private static final class Pass {
        long written;
        long inserted;
        long refreshed;
        long keptNewer;
        final Map<String, Long> dropped = new TreeMap<>();

        /** Adds another flow table's pass. */
        void add(Pass other) {
            written += other.written;
            inserted += other.inserted;
            refreshed += other.refreshed;
            keptNewer += other.keptNewer;
            other.dropped.forEach((reason, n) -> dropped.merge(reason, n, Long::sum));
        }
    }

    /**
     * Sets the address words of the ingress filter (nlb_dports) for the listeners carried, before any
     * link moves: a layout without them carried none, and the new programs pass every packet to an
     * address whose bit is clear. Only adds bits. Returns the words written.
     */
    private static long openAddressFilter(Map<String, BpfMap> newMaps) {
        DesiredState carried = MapReadBack.readWithoutTables(newMaps::get, Set.of(), new Phases());
        PortFilter wanted = new PortFilter();
        wanted.addAddresses(carried.listeners());
        BpfMap dports = newMaps.get("nlb_dports");
        long written = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = dports.allocateKey(arena);
            MemorySegment value = dports.allocateValue(arena);
            for (int w = Abi.PORT_WORDS; w < PortFilter.WORDS; w++) {
                long has = carried.ingressPorts().word(w);
                if ((has | wanted.word(w)) != has) {
                    key.set(ValueLayout.JAVA_INT, 0, w);
                    value.set(ValueLayout.JAVA_LONG, 0, has | wanted.word(w));
                    dports.update(key, value, BpfMap.BPF_ANY);
                    written++;
                }
            }
        }
        return written;
    }

    /**
     * Copies the configuration entries (array slots that are not all zero: zero is how the agent
     * empties a slot). Only the agent writes these maps and no agent runs: one pass is exact.
     */
    private long copyConfiguration(MapPlan plan, BpfMap target) {
        boolean array = plan.old().type() == BpfMap.Type.ARRAY.id();
        long[] count = {0};
        try (Arena arena = Arena.ofConfined(); Writer writer = new Writer(target, arena)) {
            MemorySegment key = arena.allocate(target.keySize(), 8);
            MemorySegment value = arena.allocate(target.valueBufferSize(), 8);
            plan.old().forEachEntry(BATCH, (k, v) -> {
                if (array && isZero(v)) {
                    return;
                }
                String dropped = plan.translate(k, v, key, value);
                if (dropped != null) {
                    throw new Refused(plan.name() + ": an entry cannot be carried (" + dropped + "), and the new"
                            + " programs would serve another configuration than the old ones");
                }
                if (array && Integer.toUnsignedLong(key.get(ValueLayout.JAVA_INT, 0)) >= target.maxEntries()) {
                    throw new Refused(plan.name() + ": slot " + Integer.toUnsignedLong(key.get(ValueLayout.JAVA_INT, 0))
                            + " is in use, and the map of layout v" + toLayout + " has " + target.maxEntries());
                }
                writer.add(key, value);
                count[0]++;
            });
        }
        return count[0];
    }

    /**
     * One pass over the old conntrack. Without merge (no new program runs yet) entries are written in
     * batches. With merge, an entry is only written where the new map has none (inserted), or has an
     * older copy: one whose last_seen_ns is before the old one's, so the new programs have not seen a
     * packet of it since (refreshed). An entry touched by both within one clock tick keeps the new
     * programs' copy. touchedSince skips entries idle since before then (their copy is current).
     */
    private Pass copyConntrack(MapPlan plan, BpfMap target, boolean merge, long touchedSince) {
        Pass pass = new Pass();
        boolean fresh = plan.value().fromField(LAST_SEEN).isPresent() && plan.value().toField(LAST_SEEN).isPresent();
        long[] written = {0};
        // nlb_ct_embryonic keeps one LRU list per CPU: the writes go over the CPUs, SPREAD entries on each
        // (harmless for nlb_conntrack's common list).
        try (CpuSpread spread = new CpuSpread(); Arena arena = Arena.ofConfined();
                Writer writer = new Writer(target, arena, SPREAD)) {
            MemorySegment key = arena.allocate(target.keySize(), 8);
            MemorySegment value = arena.allocate(target.valueBufferSize(), 8);
            MemorySegment theirs = arena.allocate(target.valueBufferSize(), 8);
            plan.old().forEachEntry(BATCH, (k, v) -> {
                if (fresh && touchedSince != Long.MIN_VALUE && plan.value().readFrom(v, LAST_SEEN) < touchedSince) {
                    return;
                }
                String dropped = plan.translate(k, v, key, value);
                if (dropped != null) {
                    pass.dropped.merge(dropped, 1L, Long::sum);
                    return;
                }
                if (written[0]++ % SPREAD == 0) { // before the first add of each writer batch
                    spread.next();
                }
                if (!merge) {
                    writer.add(key, value);
                    pass.written++;
                } else if (!target.lookup(key, theirs)) {
                    if (put(target, key, value, BpfMap.BPF_NOEXIST)) {
                        pass.inserted++;
                    } else {
                        pass.keptNewer++; // the new programs created it a moment ago
                    }
                } else if (MemorySegment.mismatch(value, 0, plan.value().toSize(), theirs, 0,
                        plan.value().toSize()) == -1) {
                    return; // copied before, unchanged since
                } else if (fresh && plan.value().readFrom(v, LAST_SEEN) > plan.value().readTo(theirs, LAST_SEEN)
                        && put(target, key, value, BpfMap.BPF_EXIST)) {
                    pass.refreshed++;
                } else {
                    pass.keptNewer++;
                }
            });
        }
        return pass;
    }

    /** An update that tells "already there" (NOEXIST) or "gone" (EXIST) from a failure. */
    private static boolean put(BpfMap map, MemorySegment key, MemorySegment value, long flags) {
        try {
            map.update(key, value, flags);
            return true;
        } catch (BpfException e) {
            if (e.errno() == Errno.EEXIST || e.errno() == Errno.ENOENT) {
                return false;
            }
            throw e;
        }
    }

    /**
     * Moves each link of the old layout: switched to the new program with one atomic link update (no
     * packet meets a detached hook), pinned under the new layout, unpinned from the old one. XDP
     * links go first: from then on new flows are written to the new conntrack, which the TC links
     * read a moment later; the other way round, DNAT replies of flows created since the first pass
     * would meet a TC program that does not know them until the second pass.
     *
     * @return links moved, and of those defunct (their interface is gone: nothing to update)
     */
    private int[] moveLinks(BpfProgram xdp, BpfProgram tc) {
        List<Path> pins = links(oldDirectory);
        pins.sort(Comparator.comparing((Path p) -> !p.getFileName().toString().startsWith(BpfDataPlane.XDP_LINK_PREFIX))
                .thenComparing(Path::toString));
        int moved = 0;
        int defunct = 0;
        for (Path pin : pins) {
            linksTouched = true;
            String name = pin.getFileName().toString();
            Path target = newDirectory.resolve(name);
            try (BpfLink link = BpfLink.openPinned(pin)) {
                if (link.ifindex() == 0) {
                    defunct++; // BpfDataPlane.adoptLinks lets it go, with its interface's host settings
                } else {
                    link.update(name.startsWith(BpfDataPlane.XDP_LINK_PREFIX) ? xdp : tc);
                }
                // Pinned under the new layout before the old pin goes: the link is never without a pin.
                if (!Files.exists(target)) {
                    link.pin(target);
                }
                Files.delete(pin);
                moved++;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot unpin " + pin, e);
            }
        }
        return new int[] {moved, defunct};
    }

    /** The old maps' pins (they go with the last fd), then the directory. */
    private void removeOldLayout() {
        opened.forEach(BpfMap::close);
        for (Path pin : list(oldDirectory)) {
            try {
                Files.delete(pin);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot unpin " + pin, e);
            }
        }
        try {
            Files.deleteIfExists(oldDirectory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + oldDirectory, e);
        }
    }

    /**
     * After a failure before any link moved: removes what this attempt pinned under the new layout
     * (no program of it ever ran), so the old data plane is exactly as it was.
     */
    void abandon() {
        if (linksTouched || !links(newDirectory).isEmpty() || !Files.isDirectory(newDirectory)) {
            return;
        }
        try {
            for (Path pin : list(newDirectory)) {
                Files.deleteIfExists(pin);
            }
            Files.deleteIfExists(newDirectory);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + newDirectory + ": " + e.getMessage());
        }
    }

    @Override
    public void close() {
        opened.forEach(BpfMap::close);
        btfs.forEach(Btf::close);
    }

    private static List<Path> links(Path dir) {
        if (!Files.isDirectory(dir)) {
            return new ArrayList<>();
        }
        List<Path> links = new ArrayList<>();
        for (Path pin : list(dir)) {
            String name = pin.getFileName().toString();
            if (name.startsWith(BpfDataPlane.XDP_LINK_PREFIX) || name.startsWith(BpfDataPlane.TC_LINK_PREFIX)) {
                links.add(pin);
            }
        }
        return links;
    }

    private static List<Path> list(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    private static boolean isZero(MemorySegment v) {
        for (long i = 0; i < v.byteSize(); i++) {
            if (v.get(ValueLayout.JAVA_BYTE, i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** Batched writes (maps without batch support, such as LPM tries, element by element). */
    private static final class Writer implements AutoCloseable {
        private final BpfMap map;
        private final MemorySegment keys;
        private final MemorySegment values;
        private final long valueSize;
        private int count;
        private boolean byElement;

        private final int batch;

        Writer(BpfMap map, Arena arena) {
            this(map, arena, BATCH);
        }

        Writer(BpfMap map, Arena arena, int batch) {
            this.map = map;
            this.batch = batch;
            this.valueSize = map.valueBufferSize();
            this.keys = arena.allocate((long) map.keySize() * batch, 8);
            this.values = arena.allocate(valueSize * batch, 8);
        }

        void add(MemorySegment key, MemorySegment value) {
            MemorySegment.copy(key, 0, keys, (long) count * map.keySize(), map.keySize());
            MemorySegment.copy(value, 0, values, count * valueSize, valueSize);
            if (++count == batch) {
                flush();
            }
        }

        void flush() {
            if (count == 0) {
                return;
            }
            if (!byElement) {
                try {
                    map.updateBatch(keys, values, count);
                    count = 0;
                    return;
                } catch (BpfException e) {
                    if (e.errno() != Errno.ENOTSUPP && e.errno() != Errno.EOPNOTSUPP) {
                        throw e;
                    }
                    byElement = true;
                }
            }
            for (int i = 0; i < count; i++) {
                map.update(keys.asSlice((long) i * map.keySize(), map.keySize()),
                        values.asSlice(i * valueSize, valueSize), BpfMap.BPF_ANY);
            }
            count = 0;
        }

        @Override
        public void close() {
            flush();
        }
    }
}
