package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.LabConfig.withIcmpEcho;
import static io.nodelb.agent.lab.Shares.weights;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.Privileged;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Real {@code ping} and {@code ping -6} from the lab's client to VIPs that are no address of the
 * node, as each LoadBalancer's icmpEcho says (bpf/README.md, "ICMP echo"): Reply is answered by
 * the XDP program from the VIP, Drop gets no answer and is counted, Pass goes to the node's stack
 * (which answers only once the address is its own, and XDP counts nothing). The client's veth runs
 * {@code xdp_pass} so that the XDP_TX replies reach it at once (see {@link #startAgent}).
 */
@Privileged
class LabIcmpEchoIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(1);

    private static final int METRICS_PORT = 19_700 + (int) (ProcessHandle.current().pid() % 90);
    private static final int PINGS = 3;
    private static final String DROP_V4 = "10.1.1.2";
    private static final String DROP_V6 = "fd00:1:1::2";
    private static final String PASS_V4 = "10.1.1.3";
    private static final String PASS_V6 = "fd00:1:1::3";

    private static final String CONFIG = file(
            targetGroup("web", 8080, weights("be1", 1)),
            withIcmpEcho(loadBalancer("reply", "DNAT", null,
                    listener("http", Lab.VIP_V4, 80, "TCP", "web"),
                    listener("http6", Lab.VIP_V6, 80, "TCP", "web")), "Reply"),
            withIcmpEcho(loadBalancer("drop", "DNAT", null,
                    listener("http", DROP_V4, 80, "TCP", "web"),
                    listener("http6", DROP_V6, 80, "TCP", "web")), "Drop"),
            loadBalancer("pass", "DNAT", null,
                    listener("http", PASS_V4, 80, "TCP", "web"),
                    listener("http6", PASS_V6, 80, "TCP", "web")));

    @BeforeAll
    static void startAgent() throws Exception {
        // A veth wakes its peer for XDP_TX frames only when the peer runs XDP itself (drivers/net/veth.c,
        // veth_xdp_flush): without a program on c0 the replies wait there for the next frame the node sends.
        LAB.ip(LAB.namespace("client"), "link", "set", "dev", "c0", "xdpdrv", "obj",
                LAB.top().resolve("bpf/target/classes/io/nodelb/bpf/xdp_pass.bpf.o").toString(), "sec", "xdp.frags");
        LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT)).awaitProgrammed(0);
        String nodeAddresses = LAB.ip(LAB.node(), "addr");
        for (String vip : new String[] {Lab.VIP_V4, Lab.VIP_V6, DROP_V4, DROP_V6, PASS_V4, PASS_V6}) {
            assertThat(nodeAddresses).as("the VIPs are no address of the node").doesNotContain(vip + "/");
        }
    }

    @AfterAll
    static void detachClientXdp() throws Exception {
        LAB.ip(LAB.namespace("client"), "link", "set", "dev", "c0", "xdpdrv", "off");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void replyIsAnsweredFromTheVip(String family) throws Exception {
        String vip = v4(family) ? Lab.VIP_V4 : Lab.VIP_V6;
        double before = echoes("reply");

        Command.Result ping = ping(family, vip);

        assertThat(echoes("reply") - before).as("answered by XDP").isEqualTo(PINGS);
        assertThat(answersFrom(ping.stdout(), vip)).as("echo replies from %s: %s", vip, ping).isEqualTo(PINGS);
        assertThat(ping.succeeded()).as("%s", ping).isTrue();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void dropGetsNoAnswerAndIsCounted(String family) throws Exception {
        String vip = v4(family) ? DROP_V4 : DROP_V6;
        double before = echoes("drop");

        Command.Result ping = ping(family, vip);

        assertThat(ping.succeeded()).as("%s", ping).isFalse();
        assertThat(answersFrom(ping.stdout(), vip)).isZero();
        assertThat(echoes("drop") - before).as("dropped by XDP").isEqualTo(PINGS);
    }

    /** Pass: the node's stack decides, as without nodelb; it answers once the VIP is its own address. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void passLeavesTheRequestToTheNodesStack(String family) throws Exception {
        String vip = v4(family) ? PASS_V4 : PASS_V6;
        double replied = echoes("reply");
        double dropped = echoes("drop");

        Command.Result notOurs = ping(family, vip);
        assertThat(answersFrom(notOurs.stdout(), vip)).as("no address of the node: %s", notOurs).isZero();

        String prefix = v4(family) ? "/32" : "/128";
        LAB.ip(LAB.node(), "addr", "add", vip + prefix, "dev", "lo");
        try {
            Command.Result stack = ping(family, vip);
            assertThat(answersFrom(stack.stdout(), vip)).as("answered by the node's stack: %s", stack).isEqualTo(PINGS);
        } finally {
            LAB.ip(LAB.node(), "addr", "del", vip + prefix, "dev", "lo");
        }
        assertThat(echoes("reply")).as("XDP answered nothing").isEqualTo(replied);
        assertThat(echoes("drop")).as("XDP dropped nothing").isEqualTo(dropped);
    }

    private static boolean v4(String family) {
        return family.equals("IPv4");
    }

    /** PINGS echo requests, 0.2 s apart, waiting up to 2 s for the last answer. */
    private static Command.Result ping(String family, String vip) throws Exception {
        return Command.result(Duration.ofSeconds(20), "ip", "netns", "exec", LAB.namespace("client"), "ping",
                v4(family) ? "-4" : "-6", "-n", "-c", Integer.toString(PINGS), "-i", "0.2", "-W", "2",
                "-I", v4(family) ? Lab.CLIENT_V4 : Lab.CLIENT_V6, vip);
    }

    private static int answersFrom(String pingOutput, String vip) {
        Matcher m = Pattern.compile("(?m)^\\d+ bytes from " + Pattern.quote(vip) + ": icmp_seq=").matcher(pingOutput);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    private static double echoes(String action) throws Exception {
        String scrape = LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics");
        Matcher m = Pattern.compile("(?m)^nodelb_icmp_echo_requests_total\\{action=\"" + action + "\"[^}]*\\} ([0-9.E+-]+)$")
                .matcher(scrape);
        assertThat(m.find()).as("nodelb_icmp_echo_requests_total{action=%s} in the scrape", action).isTrue();
        return Double.parseDouble(m.group(1));
    }
}
