package io.nodelb.agent.lifecycle;

import io.nodelb.agent.bpf.BpfException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * The Linux capabilities the agent needs, each with the reason, and which of them this process
 * lacks. The agent does not check them up front: the kernel is the judge, and when it refuses
 * (EPERM, EACCES) the agent names what is missing. The Helm chart grants exactly these
 * ({@code agent.securityContext.capabilities.add}; the lab's {@code LabCapabilitiesIT} proves
 * the agent runs with them and fails without each).
 */
public final class Capabilities {

    /** Name (as capabilities(7) spells it) → bit number in /proc/self/status. */
    private static final Map<String, Integer> BITS = Map.of("CAP_NET_ADMIN", 12, "CAP_SYS_ADMIN", 21,
            "CAP_PERFMON", 38, "CAP_BPF", 39);

    /** What the agent needs, and why; the order the chart lists them in. */
    public static final Map<String, String> REQUIRED = requiredInOrder();

    private Capabilities() {}

    private static Map<String, String> requiredInOrder() {
        Map<String, String> required = new LinkedHashMap<>();
        required.put("CAP_BPF", "bpf(): create the maps, load BTF and the programs, pin them in bpffs");
        required.put("CAP_NET_ADMIN", "load XDP and TC programs (network program types) and attach them to"
                + " interfaces (XDP and tcx links)");
        required.put("CAP_PERFMON", "the verifier accepts the programs' packet-pointer comparisons only with it"
                + " (without: \"pointer comparison prohibited\")");
        return java.util.Collections.unmodifiableMap(required);
    }

    /** The effective capability set of this process, from /proc/self/status; empty when unreadable. */
    static OptionalLong effective(Path status) {
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("CapEff:")) {
                    return OptionalLong.of(Long.parseUnsignedLong(line.substring(7).strip(), 16));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // unknown: say nothing rather than something wrong
        }
        return OptionalLong.empty();
    }

    /** The required capabilities missing from an effective set. */
    static List<String> missing(long effective) {
        List<String> missing = new ArrayList<>();
        for (String name : REQUIRED.keySet()) {
            if ((effective & (1L << BITS.get(name))) == 0) {
                missing.add(name);
            }
        }
        return missing;
    }

    /**
     * What to tell a person about a failure: when the kernel refused a bpf() call (EPERM or
     * EACCES anywhere in the chain of causes), which required capabilities this process lacks
     * and why each is needed; empty otherwise, or when none is missing.
     */
    public static List<String> explain(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof BpfException bpf && bpf.isPermissionDenied()) {
                return explain(effective(Path.of("/proc/self/status")));
            }
        }
        return List.of();
    }

    static List<String> explain(OptionalLong effective) {
        if (effective.isEmpty()) {
            return List.of();
        }
        List<String> missing = missing(effective.getAsLong());
        if (missing.isEmpty()) {
            return List.of();
        }
        List<String> lines = new ArrayList<>();
        lines.add("this process lacks " + String.join(", ", missing) + "; the agent needs "
                + String.join(", ", REQUIRED.keySet()) + " (the Helm chart grants exactly those):");
        missing.forEach(name -> lines.add("  " + name + ": " + REQUIRED.get(name)));
        return lines;
    }
}
