package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.DUAL_STACK_DNAT;
import static io.nodelb.agent.lab.LabConfig.DUAL_STACK_FULL_NAT;
import static io.nodelb.agent.lab.LabConfig.TWO_BACKENDS;
import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.LabConfig.withIdleTimeouts;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * FullNAT to backends whose replies cannot reach the client directly: the lab's backends
 * lose their route to the client subnet, so DNAT (the client's address kept) must fail,
 * and FullNAT (the node's LAN address as source) must work, with the backends seeing the
 * node's address. HTTP {@code /source} and UDP :9001 answer the address a backend saw. And a
 * FullNAT port is not given to a new flow while its backend may still hold the last one in TIME_WAIT.
 */
@Privileged
class LabFullNatIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(2);

    private static final int CONNECTIONS = 40;
    private static final int DATAGRAMS = 40;
    private static final int DNAT_ATTEMPTS = 2;
    /** Below net.ipv4.ip_local_port_range (32768-60999), which the FullNAT connections draw from. */
    private static final int DNAT_CLIENT_PORT = 20001;
    /** FullNAT over IPv4 with a 1 s CLOSING timeout: a closed flow's port is idle a second later. */
    private static final String FULL_NAT_QUICK_CLOSE = file(
            targetGroup("web", 8080, TWO_BACKENDS),
            withIdleTimeouts(loadBalancer("lab", "FullNAT", Lab.NODE_LAN_V4,
                    listener("http", Lab.VIP_V4, 80, "TCP", "web")), "{tcpClosing: 1s}"));
    /** Past the 1 s CLOSING timeout, with a tick of the coarse clock to spare. */
    private static final long QUICK_CLOSE_IDLE_MS = 1200;
    private static final int REUSE_BATCHES = 4;
    private static final int BATCH_CONNECTIONS = 300;

    private static Agent agent;

    @BeforeAll
    static void backendsWithoutReturnRoute() throws Exception {
        for (int k = 1; k <= 2; k++) {
            LAB.exec(LAB.backend(k), "ip", "route", "del", "10.1.0.0/24");
            LAB.exec(LAB.backend(k), "ip", "-6", "route", "del", "fd00:1:0::/64");
        }
        agent = LAB.startAgent(DUAL_STACK_DNAT);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void fullNatReachesBackendsThatCannotRouteToTheClient(String family) throws Exception {
        boolean v4 = family.equals("IPv4");
        InetAddress client = address(v4 ? Lab.CLIENT_V4 : Lab.CLIENT_V6);
        InetAddress vip = address(v4 ? Lab.VIP_V4 : Lab.VIP_V6);
        String node = v4 ? Lab.NODE_LAN_V4 : Lab.NODE_LAN_V6;
        InetSocketAddress http = new InetSocketAddress(vip, 80);
        InetSocketAddress udp = new InetSocketAddress(vip, 9001);

        agent.program(DUAL_STACK_DNAT);
        for (int i = 0; i < DNAT_ATTEMPTS; i++) {
            // The SYN reaches a backend, whose SYN-ACK to the client has no route: a second is plenty.
            // Its conntrack entry stays (SYN state), so a later FullNAT connection from the same
            // client port would follow it: these attempts use ports below the ephemeral range.
            InetSocketAddress from = new InetSocketAddress(client, DNAT_CLIENT_PORT + i);
            assertThatThrownBy(() -> LAB.client().call(() ->
                            Traffic.get(from, http, "/source", Duration.ofSeconds(1))))
                    .as("DNAT connection %d to %s from %s, backends without a route back", i, http, client)
                    .isInstanceOf(IOException.class);
        }

        agent.program(DUAL_STACK_FULL_NAT);
        Map<String, Integer> sources = new TreeMap<>();
        Map<String, Integer> backends;
        Map<String, Integer> udpSources;
        try {
            backends = LAB.client().call(Duration.ofSeconds(60), () -> {
                for (int i = 0; i < CONNECTIONS; i++) {
                    sources.merge(Traffic.get(new InetSocketAddress(client, 0), http, "/source"), 1, Integer::sum);
                }
                return Traffic.countTcp(client, http, CONNECTIONS);
            });
            udpSources = LAB.client().call(Duration.ofSeconds(60), () -> Traffic.countUdp(client, udp, DATAGRAMS));
        } catch (IOException e) {
            // IPv4 FullNAT hands the kernel packets whose source is a node address: it drops them
            // unless the agent set accept_local on the interface they arrive on.
            throw new AssertionError("FullNAT " + family + " traffic failed: " + e.getMessage() + "\nnode sysctls: "
                    + LAB.exec(LAB.node(), "sysctl", "net.ipv4.conf.n0.accept_local", "net.ipv4.conf.n1.accept_local")
                            .strip().replace("\n", ", "), e);
        }

        assertThat(sources).as("client address the backends saw over TCP (FullNAT)")
                .isEqualTo(Map.of(node, CONNECTIONS));
        assertThat(udpSources).as("client address the backends saw over UDP (FullNAT)")
                .isEqualTo(Map.of(node, DATAGRAMS));
        // Both backends answer (one misses 40 connections with probability 2e-12).
        assertThat(backends).as("backends reached through FullNAT").containsOnlyKeys("be1", "be2");
    }

    /**
     * A FullNAT port goes to a new flow only after the backend's TIME_WAIT on it, while free
     * ports remain. nginx closes first, so every connection leaves a TIME_WAIT on its backend
     * for 60 s, while its FullNAT port is idle after a second. Connections alternate between two
     * client addresses, whose TCP timestamps start at unrelated offsets: a SYN on a port still
     * in TIME_WAIT fails the backend's PAWS check half the time (TcpExtPAWSTimewait), and its
     * client waits for a SYN retransmit. Before ports rested, these 1,200 connections met 28.
     */
    @Test
    void fullNatPortsRestThroughTheBackendsTimeWait() throws Exception {
        agent.program(FULL_NAT_QUICK_CLOSE);
        InetSocketAddress http = new InetSocketAddress(address(Lab.VIP_V4), 80);
        InetAddress[] clients = {address(Lab.CLIENT_V4), address(Lab.SECOND_CLIENT_V4)};
        long pawsBefore = pawsTimewait();

        for (int batch = 0; batch < REUSE_BATCHES; batch++) {
            Thread.sleep(QUICK_CLOSE_IDLE_MS); // the batches before are idle now, their backends in TIME_WAIT
            LAB.client().call(Duration.ofSeconds(60), () -> {
                for (int i = 0; i < BATCH_CONNECTIONS; i++) {
                    Traffic.get(new InetSocketAddress(clients[i % 2], 0), http, "/");
                }
                return null;
            });
        }

        assertThat(pawsTimewait() - pawsBefore).as("SYNs the backends refused in TIME_WAIT (PAWS)").isZero();
    }

    /** TcpExtPAWSTimewait summed over the backends: SYNs that met a TIME_WAIT and failed its timestamp check. */
    private static long pawsTimewait() throws Exception {
        long sum = 0;
        for (int k = 1; k <= 2; k++) {
            sum += tcpExt(LAB.exec(LAB.backend(k), "cat", "/proc/net/netstat"), "PAWSTimewait");
        }
        return sum;
    }

    /** One TcpExt counter from /proc/net/netstat: a line of names, then a line of values. */
    private static long tcpExt(String netstat, String name) {
        List<String> lines = netstat.lines().filter(line -> line.startsWith("TcpExt:")).toList();
        List<String> names = List.of(lines.get(0).split("\\s+"));
        String[] values = lines.get(1).split("\\s+");
        int at = names.indexOf(name);
        if (at < 0) {
            throw new IllegalStateException("no TcpExt " + name + " in /proc/net/netstat");
        }
        return Long.parseLong(values[at]);
    }
}
