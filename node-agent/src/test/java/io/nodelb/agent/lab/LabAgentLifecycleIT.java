package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The agent process from start to end: a file it cannot use is refused before anything is
 * loaded or attached, and a good one attaches XDP and TC to both interfaces and serves the VIP;
 * SIGTERM leaves the data plane serving for the next agent, and uninstall takes every
 * attachment, pin and host setting of ours away again.
 */
@Privileged
class LabAgentLifecycleIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(1);

    private static final InetSocketAddress VIP = new InetSocketAddress(address(Lab.VIP_V4), 80);
    private static final String GOOD = file(
            targetGroup("web", 8080, weights("be1", 1)),
            loadBalancer("lab", "DNAT", null, listener("http", Lab.VIP_V4, 80, "TCP", "web")));

    static Stream<Arguments> refusedFiles() {
        return Stream.of(
                Arguments.of("a listener port of 70000", GOOD.replace("port: 80,", "port: 70000,"),
                        "spec.listeners[0].port: Invalid value: 70000: spec.listeners[0].port in body should be less"
                                + " than or equal to 65535"),
                Arguments.of("an unknown target group", GOOD.replace("targetGroup: web}", "targetGroup: nosuch}"),
                        "spec.listeners[0].targetGroup: TargetGroup default/nosuch not found"),
                Arguments.of("a bad listener address", GOOD.replace("\"" + Lab.VIP_V4 + "\"", "\"10.1.1.x\""),
                        "spec.listeners[0].address: Invalid value: \"string\": address must be an IPv4 or IPv6 address"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusedFiles")
    void aFileWithProblemsIsRefusedAtStartWithNothingAttached(String what, String yaml, String problem)
            throws Exception {
        Agent agent = LAB.launchAgent(yaml);

        int exitCode = agent.awaitExit(Duration.ofSeconds(30));

        assertThat(exitCode).as("exit code after refusing a file with %s", what).isNotZero();
        assertThat(agent.stderr()).as("stderr")
                .anySatisfy(line -> assertThat(line).startsWith("nodelb-agent: refusing "))
                .anySatisfy(line -> assertThat(line).contains(problem));
        assertThat(agent.stdout()).as("stdout").noneSatisfy(line -> assertThat(line).contains("programmed version"));
        assertThat(LAB.hasXdp("n0")).as("XDP on n0").isFalse();
        assertThat(LAB.hasXdp("n1")).as("XDP on n1").isFalse();
        assertThat(LAB.pinPath()).as("pin directory").doesNotExist();
    }

    @Test
    void sigtermLeavesTheDataPlaneServingAndUninstallTakesEverythingAway() throws Exception {
        String reservedBefore = reservedPorts();
        // Someone else's program on the same interface: uninstall must leave it alone.
        Path foreign = Path.of(LabAgentLifecycleIT.class.getResource("/bpf/test_progs.bpf.o").toURI());
        LAB.exec(LAB.node(), "tc", "qdisc", "add", "dev", "n0", "clsact");
        LAB.exec(LAB.node(), "tc", "filter", "add", "dev", "n0", "ingress", "bpf", "da", "obj", foreign.toString(),
                "sec", "tc");
        try {
            servesThenUninstallsLeavingOthersAlone(reservedBefore);
        } finally {
            LAB.exec(LAB.node(), "tc", "qdisc", "del", "dev", "n0", "clsact");
        }
    }

    private void servesThenUninstallsLeavingOthersAlone(String reservedBefore) throws Exception {
        Agent agent = LAB.startAgent(GOOD);
        List<Integer> links = LAB.pinnedLinkIds();

        assertThat(reservedPorts()).as("the node's reserved ports while the agent runs")
                .isEqualTo(reservedBefore.isEmpty() ? "61000-65535" : reservedBefore + ",61000-65535");
        assertThat(LAB.hasXdp("n0")).as("XDP on n0").isTrue();
        assertThat(LAB.hasXdp("n1")).as("XDP on n1").isTrue();
        assertThat(links).as("pinned links: XDP and TC egress on n0 and n1").hasSize(4);
        assertThat(get()).isEqualTo("be1");

        assertThat(agent.stop()).as("exit code after SIGTERM").isIn(0, 143);

        assertThat(LAB.hasXdp("n0")).as("XDP on n0 after SIGTERM (finish)").isTrue();
        assertThat(LAB.pinnedLinkIds()).as("pinned links after SIGTERM").isEqualTo(links);
        assertThat(get()).as("the VIP with no agent running").isEqualTo("be1");

        String output = LAB.uninstall(LAB.pinPath());

        assertThat(output).contains("uninstalled " + LAB.pinPath());
        assertThat(LAB.hasXdp("n0")).as("XDP on n0 after uninstall").isFalse();
        assertThat(LAB.hasXdp("n1")).as("XDP on n1 after uninstall").isFalse();
        assertThat(LAB.pinPath()).as("pin directory after uninstall").doesNotExist();
        assertThat(LAB.stateDirectory(LAB.pinPath())).as("state directory after uninstall").doesNotExist();
        assertThat(Lab.linksStillThere(links)).as("BPF links still in the kernel after uninstall").isEmpty();
        assertThat(reservedPorts()).as("the node's reserved ports after uninstall").isEqualTo(reservedBefore);
        assertThat(LAB.exec(LAB.node(), "tc", "filter", "show", "dev", "n0", "ingress"))
                .as("the other program on n0 after uninstall").contains("tc_count");
        // Nothing translates the VIP any more: the node has no route for it.
        assertThatThrownBy(LabAgentLifecycleIT::get).isInstanceOf(IOException.class);
    }

    private static String get() throws Exception {
        return LAB.client().call(() -> Traffic.get(new InetSocketAddress(address(Lab.CLIENT_V4), 0), VIP, "/"));
    }

    /** The node namespace's net.ipv4.ip_local_reserved_ports: the agent keeps local sockets off its FullNAT ports. */
    private static String reservedPorts() throws Exception {
        return LAB.exec(LAB.node(), "sysctl", "-n", "net.ipv4.ip_local_reserved_ports").strip();
    }
}
