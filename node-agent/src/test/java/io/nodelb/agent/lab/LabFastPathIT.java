package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.DUAL_STACK_DNAT;
import static io.nodelb.agent.lab.LabConfig.DUAL_STACK_FULL_NAT;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Privileged;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The XDP fast path (bpf/lib/fastpath.h) in the lab: real TCP connections and UDP exchanges through
 * DNAT and FullNAT, IPv4 and IPv6, with {@code --xdp-forward=auto}, the
 * translated packets leaving from XDP (the redirect counter grows by at least one packet per
 * connection); then the same traffic with {@code --xdp-forward=off} (the default): the counter stays at 0 and
 * every answer is the same. The lab's node peers have GRO on (lab.sh), so the agent finds both node
 * interfaces safe, and says so in its gauges.
 */
@Privileged
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LabFastPathIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(2);

    private static final int CONNECTIONS = 20;
    private static final int DATAGRAMS = 20;
    private static final int METRICS_PORT = 19_500 + (int) (ProcessHandle.current().pid() % 400);
    /** What the client saw in one case, comparable between runs: sources exactly, backends as a set and a total. */
    private record Seen(Map<String, Integer> tcpSources, Map<String, Integer> udpSources, List<String> backends,
                        int answers) {}

    /** By case ("DNAT IPv4"...), with the fast path on. */
    private static final Map<String, Seen> WITH_FAST_PATH = new LinkedHashMap<>();

    /**
     * The client address of a mode: DNAT and FullNAT send from different ones, so that no flow of one
     * mode meets a live conntrack entry the other left on the same address and port (it would keep
     * that entry's translation, whatever the fast path does).
     */
    private static String client(String mode, boolean v4) {
        return mode.equals("DNAT") ? (v4 ? Lab.CLIENT_V4 : Lab.CLIENT_V6)
                : (v4 ? Lab.SECOND_CLIENT_V4 : Lab.SECOND_CLIENT_V6);
    }

    private static Seen traffic(String mode, String family) throws Exception {
        boolean v4 = family.equals("IPv4");
        InetAddress client = address(client(mode, v4));
        InetAddress vip = address(v4 ? Lab.VIP_V4 : Lab.VIP_V6);
        InetSocketAddress http = new InetSocketAddress(vip, 80);
        InetSocketAddress udp = new InetSocketAddress(vip, 9001);
        return LAB.client().call(Duration.ofSeconds(90), () -> {
            Map<String, Integer> sources = new TreeMap<>();
            for (int i = 0; i < CONNECTIONS; i++) {
                sources.merge(Traffic.get(new InetSocketAddress(client, 0), http, "/source"), 1, Integer::sum);
            }
            Map<String, Integer> backends = Traffic.countTcp(client, http, CONNECTIONS);
            Map<String, Integer> udpSources = Traffic.countUdp(client, udp, DATAGRAMS);
            return new Seen(sources, udpSources, List.copyOf(backends.keySet()),
                    backends.values().stream().mapToInt(Integer::intValue).sum());
        });
    }

    private static String scrape() throws Exception {
        return LAB.scrape(METRICS_PORT);
    }

    private static double redirected() throws Exception {
        return Lab.sum(scrape(), "nodelb_xdp_forward_packets_total", "outcome", "redirect");
    }

    @Test
    @Order(1)
    void withTheFastPathTranslatedPacketsLeaveFromXdp() throws Exception {
        Agent agent = LAB.launchAgent(DUAL_STACK_DNAT, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT),
                "--xdp-forward", "auto");
        agent.awaitProgrammed(0);
        String scrape = scrape();
        assertThat(Lab.sum(scrape, "nodelb_xdp_forward_safe", "interface", "n0")).as("n0 safe").isEqualTo(1);
        assertThat(Lab.sum(scrape, "nodelb_xdp_forward_safe", "interface", "n1")).as("n1 safe").isEqualTo(1);
        assertThat(agent.log()).contains("XDP fast path to n0: on", "XDP fast path to n1: on");

        for (String mode : List.of("DNAT", "FullNAT")) {
            agent.program(mode.equals("DNAT") ? DUAL_STACK_DNAT : DUAL_STACK_FULL_NAT);
            for (String family : List.of("IPv4", "IPv6")) {
                double before = redirected();
                Seen seen = traffic(mode, family);
                double sent = redirected() - before;
                String name = mode + " " + family;
                System.out.printf("%s: %.0f packets redirected from XDP for %d connections and %d datagrams%n",
                        name, sent, 2 * CONNECTIONS, DATAGRAMS);
                // Every connection has more forward packets (SYN, ACK, request, FIN...) than a neighbour lookup can miss.
                assertThat(sent).as("packets redirected from XDP, %s", name).isGreaterThanOrEqualTo(2 * CONNECTIONS);
                assertSeen(name, seen, mode, family);
                WITH_FAST_PATH.put(name, seen);
            }
        }
        LAB.stopAgents();
    }

    @Test
    @Order(2)
    void withTheFastPathOffNothingLeavesFromXdpAndTheTrafficIsTheSame() throws Exception {
        assertThat(WITH_FAST_PATH).as("the run with the fast path").hasSize(4);
        Agent agent = LAB.launchAgent(DUAL_STACK_DNAT, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT),
                "--xdp-forward", "off");
        agent.awaitProgrammed(0);
        String scrape = scrape();
        assertThat(Lab.sum(scrape, "nodelb_xdp_forward_safe", "interface", "n0")).as("n0 safe").isZero();
        assertThat(Lab.sum(scrape, "nodelb_xdp_forward_safe", "interface", "n1")).as("n1 safe").isZero();

        for (String mode : List.of("DNAT", "FullNAT")) {
            agent.program(mode.equals("DNAT") ? DUAL_STACK_DNAT : DUAL_STACK_FULL_NAT);
            for (String family : List.of("IPv4", "IPv6")) {
                String name = mode + " " + family;
                Seen seen = traffic(mode, family);
                assertSeen(name, seen, mode, family);
                assertThat(seen).as("what the client saw, %s, fast path off vs on", name)
                        .isEqualTo(WITH_FAST_PATH.get(name));
            }
        }
        scrape = scrape();
        for (String outcome : List.of("redirect", "tx", "pass_not_safe", "pass_no_neigh")) {
            assertThat(Lab.sum(scrape, "nodelb_xdp_forward_packets_total", "outcome", outcome))
                    .as("fast path outcome %s with --xdp-forward=off", outcome).isZero();
        }
    }

    /** Answers keyed by address in one spelling (nginx writes IPv6 compressed). */
    private static Map<String, Integer> canonical(Map<String, Integer> byAddress) {
        Map<String, Integer> out = new TreeMap<>();
        byAddress.forEach((a, n) -> out.merge(address(a.replace("[", "").replace("]", "")).getHostAddress(), n,
                Integer::sum));
        return out;
    }

    /** Every request answered, by both backends, each seeing the client (DNAT) or the node (FullNAT). */
    private static void assertSeen(String name, Seen seen, String mode, String family) {
        boolean v4 = family.equals("IPv4");
        String source = mode.equals("DNAT") ? client(mode, v4) : (v4 ? Lab.NODE_LAN_V4 : Lab.NODE_LAN_V6);
        String expected = address(source).getHostAddress();
        assertThat(canonical(seen.tcpSources())).as("addresses the backends saw over TCP, %s", name)
                .isEqualTo(Map.of(expected, CONNECTIONS));
        assertThat(canonical(seen.udpSources())).as("addresses the backends saw over UDP, %s", name)
                .isEqualTo(Map.of(expected, DATAGRAMS));
        assertThat(seen.backends()).as("backends reached, %s", name).containsExactly("be1", "be2");
        assertThat(seen.answers()).isEqualTo(CONNECTIONS);
    }
}
