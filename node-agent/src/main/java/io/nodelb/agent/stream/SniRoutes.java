package io.nodelb.agent.stream;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Chooses a group by server name: an exact name first, then the wildcard with the longest suffix
 * ({@code *.example.com} matches {@code a.example.com} and {@code a.b.example.com}, not
 * {@code example.com}), then the default. Names compare without regard to case.
 */
public final class SniRoutes<G> {
    private final Map<String, G> exact = new HashMap<>();
    /** By the suffix a wildcard matches, with its dot: ".example.com". */
    private final Map<String, G> wildcards = new HashMap<>();
    private final G fallback;

    public SniRoutes(Map<String, G> routes, G fallback) {
        routes.forEach((name, group) -> {
            String n = name.toLowerCase(Locale.ROOT);
            if (n.startsWith("*.")) {
                wildcards.put(n.substring(1), group);
            } else {
                exact.put(n, group);
            }
        });
        this.fallback = fallback;
    }

    /** The group for a name; null (no SNI) gets the default. */
    public G choose(String serverName) {
        if (serverName == null) {
            return fallback;
        }
        String name = serverName.toLowerCase(Locale.ROOT);
        G group = exact.get(name);
        if (group != null) {
            return group;
        }
        // The longest suffix is the one after the first dot, then after the second, ...
        for (int dot = name.indexOf('.'); dot > 0; dot = name.indexOf('.', dot + 1)) {
            group = wildcards.get(name.substring(dot));
            if (group != null) {
                return group;
            }
        }
        return fallback;
    }
}
