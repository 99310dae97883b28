package io.nodelb.agent.testing;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.PortFilter;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * A data plane's content without its ids: one line per listener with everything a packet to it
 * meets (flags, FullNAT source, timeouts, the backends of its table slot by slot, its source
 * routes), then what no listener reaches (left-over groups, routes, timeouts), the backends, the
 * port filters and the interfaces. Two states with equal lines forward every packet alike, so a
 * data plane an agent adopted and converged can be compared with what a fresh start programs,
 * though the ids differ. The lines are sorted; a failure shows them.
 */
public final class CanonicalState {

    private CanonicalState() {}

    public static List<String> of(DesiredState s) {
        List<String> lines = new ArrayList<>();
        Set<Integer> reachedGroups = new HashSet<>();
        Set<Integer> liveListeners = new HashSet<>();
        Map<Integer, List<String>> routesOf = new TreeMap<>();
        s.routes().forEach((key, group) -> routesOf.computeIfAbsent(key.listener(), l -> new ArrayList<>())
                .add(address(key.prefix()) + "/" + key.prefixBits() + " -> " + group(s, group)));
        s.listeners().forEach((key, l) -> {
            liveListeners.add(l.id());
            reachedGroups.add(l.group());
            Abi.Timeouts t = s.timeouts().get(l.id());
            List<String> routes = routesOf.getOrDefault(l.id(), List.of()).stream().sorted().toList();
            lines.add("listener " + address(key.address()) + ":" + key.port() + "/" + protocol(key.proto())
                    + " flags=" + l.flags()
                    + ((l.flags() & Abi.LISTENER_FULLNAT) != 0
                            ? " snat=" + address(l.snatAddress()) + ":" + l.snatPortMin() + "-" + l.snatPortMax() : "")
                    + " timeouts=" + (t == null ? "default" : t.establishedNs() + "/" + t.closingNs() + "/" + t.udpNs())
                    + " -> " + group(s, l.group()) + (routes.isEmpty() ? "" : " routes " + routes));
        });
        s.routes().forEach((key, group) -> {
            reachedGroups.add(group);
            if (!liveListeners.contains(key.listener())) {
                lines.add("left-over route of a listener that is gone: " + address(key.prefix()) + "/"
                        + key.prefixBits() + " -> " + group(s, group));
            }
        });
        s.timeouts().forEach((listener, t) -> {
            if (!liveListeners.contains(listener)) {
                lines.add("left-over timeouts of a listener that is gone: " + t);
            }
        });
        s.groups().forEach((id, g) -> {
            if (!reachedGroups.contains(id)) {
                lines.add("left-over group no listener reaches: " + group(s, id));
            }
        });
        lines.add("backends " + s.backends().values().stream().map(CanonicalState::backend).sorted().toList());
        lines.add("ingress ports " + ports(s.ingressPorts()));
        lines.add("egress ports " + ports(s.egressPorts()));
        lines.add("interfaces " + s.interfaces());
        return lines.stream().sorted().toList();
    }

    /** The lines of {@code actual} and {@code expected} that differ, for a failure message. */
    public static String difference(List<String> actual, List<String> expected, int atMost) {
        List<String> onlyActual = actual.stream().filter(l -> !expected.contains(l)).limit(atMost).toList();
        List<String> onlyExpected = expected.stream().filter(l -> !actual.contains(l)).limit(atMost).toList();
        return "only in the maps:\n    " + String.join("\n    ", onlyActual) + "\nonly in the expected state:\n    "
                + String.join("\n    ", onlyExpected);
    }

    /** A group by what it holds: flags, member count, and its table slot by slot (as a digest and a census). */
    private static String group(DesiredState s, int id) {
        Abi.Group g = s.groups().get(id);
        int[] table = s.tables().get(id);
        if (g == null && table == null) {
            return "group(missing)";
        }
        return "group(flags=" + (g == null ? "?" : g.flags()) + " members=" + (g == null ? "?" : g.backends())
                + " table=" + (table == null ? "unread" : table(s, table)) + ")";
    }

    private static String table(DesiredState s, int[] slots) {
        Map<String, Integer> census = new TreeMap<>();
        StringBuilder sequence = new StringBuilder();
        for (int id : slots) {
            String name = id == 0 ? "-" : s.backends().containsKey(id) ? backend(s.backends().get(id)) : "#" + id + "?";
            census.merge(name, 1, Integer::sum);
            sequence.append(name).append(',');
        }
        return census + "#" + digest(sequence.toString());
    }

    private static String backend(Abi.Backend b) {
        return DesiredState.backendKey(b.address(), b.port());
    }

    private static String ports(PortFilter filter) {
        List<String> ranges = new ArrayList<>();
        int start = -1;
        for (int port = 0; port <= 65536; port++) {
            boolean in = port < 65536 && filter.contains(port);
            if (in && start < 0) {
                start = port;
            } else if (!in && start >= 0) {
                ranges.add(start == port - 1 ? Integer.toString(start) : start + "-" + (port - 1));
                start = -1;
            }
        }
        return ranges.stream().collect(Collectors.joining(",", "[", "]"));
    }

    private static String address(InetAddress a) {
        return a instanceof Inet4Address ? a.getHostAddress() : "[" + a.getHostAddress() + "]";
    }

    private static String protocol(int proto) {
        return proto == Abi.IPPROTO_TCP ? "tcp" : proto == Abi.IPPROTO_UDP ? "udp" : Integer.toString(proto);
    }

    private static String digest(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8))).substring(0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
