package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.Shares.weights;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The agent's YAML (the custom resources' format) for the lab, written out in full so a
 * failure message shows exactly what the agent was given.
 */
final class LabConfig {
    private LabConfig() {}

    /** be1 and be2, weight 1 each. */
    static final Map<String, Integer> TWO_BACKENDS = weights("be1", 1, "be2", 1);

    /** be1 and be2 by weight 1 behind DNAT listeners: TCP :80 and UDP :9001, IPv4 and IPv6. */
    static final String DUAL_STACK_DNAT = file(
            targetGroup("web", 8080, TWO_BACKENDS),
            targetGroup("source", 9001, TWO_BACKENDS),
            loadBalancer("lab", "DNAT", null,
                    listener("http", Lab.VIP_V4, 80, "TCP", "web"),
                    listener("http6", Lab.VIP_V6, 80, "TCP", "web"),
                    listener("source", Lab.VIP_V4, 9001, "UDP", "source"),
                    listener("source6", Lab.VIP_V6, 9001, "UDP", "source")));

    /** snatAddress is one per LoadBalancer: one for each family. */
    static final String DUAL_STACK_FULL_NAT = file(
            targetGroup("web", 8080, TWO_BACKENDS),
            targetGroup("source", 9001, TWO_BACKENDS),
            loadBalancer("lab", "FullNAT", Lab.NODE_LAN_V4,
                    listener("http", Lab.VIP_V4, 80, "TCP", "web"),
                    listener("source", Lab.VIP_V4, 9001, "UDP", "source")),
            loadBalancer("lab6", "FullNAT", Lab.NODE_LAN_V6,
                    listener("http6", Lab.VIP_V6, 80, "TCP", "web"),
                    listener("source6", Lab.VIP_V6, 9001, "UDP", "source")));


    /** Documents joined into one file. */
    static String file(String... documents) {
        return String.join("---\n", documents);
    }

    /**
     * A TargetGroup of lab backends by name ("be2"), each with its weight, on {@code port},
     * with both the backend's IPv4 and IPv6 address (a listener uses those of its family).
     */
    static String targetGroup(String name, int port, Map<String, Integer> weights) {
        StringBuilder yaml = new StringBuilder(header("TargetGroup", name)).append("spec:\n  backends:\n");
        weights.forEach((backend, weight) -> {
            int k = Integer.parseInt(backend.substring(2));
            yaml.append(String.format("  - {address: %s, port: %d, weight: %d}%n", Lab.backendV4(k), port, weight));
            yaml.append(String.format("  - {address: \"%s\", port: %d, weight: %d}%n", Lab.backendV6(k), port, weight));
        });
        return yaml.toString();
    }

    /** A LoadBalancer on the node's two interfaces. {@code snatAddress} may be null. */
    static String loadBalancer(String name, String natMode, String snatAddress, String... listeners) {
        StringBuilder yaml = new StringBuilder(header("LoadBalancer", name))
                .append("spec:\n  interfaces: [n0, n1]\n  natMode: ").append(natMode).append('\n');
        if (snatAddress != null) {
            yaml.append("  snatAddress: \"").append(snatAddress).append("\"\n");
        }
        yaml.append("  listeners:\n");
        for (String listener : listeners) {
            yaml.append("  - ").append(listener).append('\n');
        }
        return yaml.toString();
    }

    /** The LoadBalancer document {@code loadBalancer} with idle timeouts, e.g. {@code {tcpClosing: 1s}}. */
    static String withIdleTimeouts(String loadBalancer, String idleTimeouts) {
        return loadBalancer.replace("  listeners:\n", "  idleTimeouts: " + idleTimeouts + "\n  listeners:\n");
    }

    /** The LoadBalancer with {@code icmpEcho} set (Pass, Reply or Drop). */
    static String withIcmpEcho(String loadBalancer, String icmpEcho) {
        return loadBalancer.replace("  listeners:\n", "  icmpEcho: " + icmpEcho + "\n  listeners:\n");
    }

    /** One listener entry; {@code routes} are pairs of client CIDR and target group. */
    static String listener(String name, String address, int port, String protocol, String targetGroup,
            String... routes) {
        List<String> sourceRoutes = new ArrayList<>();
        for (int i = 0; i < routes.length; i += 2) {
            sourceRoutes.add("{cidr: \"" + routes[i] + "\", targetGroup: " + routes[i + 1] + "}");
        }
        return "{name: " + name + ", address: \"" + address + "\", port: " + port + ", protocol: " + protocol
                + ", targetGroup: " + targetGroup
                + (sourceRoutes.isEmpty() ? "" : ", sourceRoutes: [" + String.join(", ", sourceRoutes) + "]") + "}";
    }

    private static String header(String kind, String name) {
        return "apiVersion: nodelb.io/v1alpha1\nkind: " + kind + "\nmetadata: {name: " + name + "}\n";
    }
}
