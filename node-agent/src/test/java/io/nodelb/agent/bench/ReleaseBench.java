package io.nodelb.agent.bench;

import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.dataplane.Uninstaller;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What releasing a removed backend's flows costs an apply at 1,000,000 conntrack entries
 * (method and results: docs/benchmarks.md, "Removed backends release their flows"). Run by
 * {@code bin/nodelb-bench-release}; nothing is attached, no packet is sent.
 *
 * <p>The data plane holds {@code --listeners} listeners over {@code --groups} groups of
 * {@code --backends-per-group} backends ({@link AdoptionBench#snapshot}) and a conntrack filled
 * with real-format entries spread over every backend ({@link AdoptionBench#fillConntrack}). Each
 * round applies, alternately, the baseline (one backend's weight changed: one group's table
 * rewritten, no backend removed) and a removal (another backend of a group gone: its table
 * rewritten, the backend deleted, and its flows released), then puts the base snapshot back.
 * Each removal takes a backend that still has its flows.
 */
public final class ReleaseBench {

    private ReleaseBench() {}

    /** The interfaces the snapshot names, with the bench's addresses; nothing is attached. */
    private static final DesiredState.Host HOST = name -> switch (name) {
        case "b0" -> List.of(ip("10.99.0.1"));
        case "b1" -> List.of(ip("10.99.1.1"));
        default -> null;
    };

    public static void main(String[] args) throws Exception {
        AdoptionBench.Options o;
        try {
            o = AdoptionBench.Options.parse(List.of(args));
        } catch (IllegalArgumentException e) {
            System.err.println("nodelb-bench-release: " + e.getMessage());
            System.err.println("usage: ReleaseBench --pin-path DIR --state-dir DIR [--listeners N] [--groups N]"
                    + " [--backends-per-group N] [--conntrack N] [--rounds N] [--out FILE]");
            System.exit(2);
            return;
        }
        try {
            String report = run(o);
            System.out.print(report);
            if (o.out() != null) {
                Files.createDirectories(o.out().toAbsolutePath().getParent());
                Files.writeString(o.out(), report);
                System.out.println("written to " + o.out());
            }
        } finally {
            Uninstaller.uninstall(o.pinPath(), o.stateDir());
        }
    }

    private static String run(AdoptionBench.Options o) {
        StringBuilder out = new StringBuilder();
        NodeSnapshot base = AdoptionBench.snapshot(o, 1);
        NodeSnapshot reweighted = AdoptionBench.snapshot(o, 2);
        List<Long> baseline = new ArrayList<>();
        List<Long> removal = new ArrayList<>();
        List<Long> release = new ArrayList<>();
        List<Long> released = new ArrayList<>();
        try (BpfDataPlane dataPlane = BpfDataPlane.load(o.pinPath(), o.stateDir(), AdoptionBench.LIMITS, Map.of())) {
            SnapshotApplier applier = new SnapshotApplier(dataPlane.maps(), HOST, AdoptionBench.LIMITS);
            applier.apply(base);
            int entries = AdoptionBench.fillConntrack(dataPlane, applier.applied(), o.conntrack());
            out.append(String.format(Locale.ROOT, "set-up: %,d listeners, %,d groups x %,d backends, conntrack %,d"
                            + " entries%n", applier.applied().listeners().size(), applier.applied().groups().size(),
                    o.backendsPerGroup(), entries));
            for (int round = 0; round < o.rounds(); round++) {
                long start = System.nanoTime();
                applier.apply(reweighted);
                baseline.add(System.nanoTime() - start);
                applier.apply(base);

                NodeSnapshot removed = withoutBackend(base, 1 + round % (o.groups() - 1), 1 + round / (o.groups() - 1));
                long before = countEntries(dataPlane);
                start = System.nanoTime();
                applier.apply(removed);
                removal.add(System.nanoTime() - start);
                release.add(applier.lastApply().asMap().get("release flows").toNanos());
                released.add(before - countEntries(dataPlane));
                applier.apply(base);
            }
            out.append(String.format(Locale.ROOT, "%d rounds, %d CPUs; median (min-max)%n", o.rounds(),
                    Runtime.getRuntime().availableProcessors()));
            out.append(String.format(Locale.ROOT, "apply, one weight changed (baseline):   %s ms%n", stats(baseline)));
            out.append(String.format(Locale.ROOT, "apply, one backend removed:             %s ms%n", stats(removal)));
            out.append(String.format(Locale.ROOT, "  of which: release flows (scan+delete): %s ms%n", stats(release)));
            out.append(String.format(Locale.ROOT, "entries released per removal:           %,d (median)%n",
                    median(released)));
            out.append(String.format(Locale.ROOT, "ratio removal / baseline (medians):     %.1f%n",
                    (double) median(removal) / median(baseline)));
        }
        return out.toString();
    }

    /** Group {@code group}'s backend {@code index} gone from {@code base}. */
    private static NodeSnapshot withoutBackend(NodeSnapshot base, int group, int index) {
        NodeSnapshot.Builder s = base.toBuilder();
        TargetGroup g = s.getTargetGroups(group);
        s.setTargetGroups(group, g.toBuilder().removeBackends(index % g.getBackendsCount()));
        return s.setVersion(base.getVersion() + "-without-g" + group + "b" + index).build();
    }

    private static long countEntries(BpfDataPlane dataPlane) {
        long[] n = {0};
        dataPlane.map("nlb_conntrack").forEachBatch(8192, (k, v, count) -> n[0] += count);
        return n[0];
    }

    private static String stats(List<Long> nanos) {
        return String.format(Locale.ROOT, "%.1f (%.1f-%.1f)", median(nanos) / 1e6,
                nanos.stream().mapToLong(Long::longValue).min().orElse(0) / 1e6,
                nanos.stream().mapToLong(Long::longValue).max().orElse(0) / 1e6);
    }

    private static long median(List<Long> values) {
        List<Long> sorted = values.stream().sorted().toList();
        return sorted.get(sorted.size() / 2);
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }
}
