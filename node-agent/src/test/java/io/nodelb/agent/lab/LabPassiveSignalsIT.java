package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The passive signals with real servers that fail: be1 answers every SYN on 8080 with a reset
 * (an iptables REJECT in its own namespace), be2 drops every SYN (a black hole), be3 serves.
 * What the clients saw is what {@code nodelb_backend_resets_total} and
 * {@code nodelb_backend_unanswered_syns_total} count, flow for flow, through DNAT (resets seen by
 * the TC program) and FullNAT (by the XDP program).
 */
@Privileged
class LabPassiveSignalsIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(3);

    private static final int CONNECTIONS = 16;
    /**
     * Well past the client's first SYN retransmission (1 s), which is what counts a flow (once, so
     * the second, at 3 s, changes nothing): with 1.5 s, one flow of twelve went uncounted once under
     * the whole suite's load.
     */
    private static final Duration CONNECT_TIMEOUT = Duration.ofMillis(2500);
    private static final int METRICS_PORT = 19_500 + (int) (ProcessHandle.current().pid() % 400);
    private static final String CONFIG = file(
            targetGroup("resets", 8080, weights("be1", 1, "be3", 1)),
            targetGroup("silent", 8080, weights("be2", 1, "be3", 1)),
            loadBalancer("lab", "DNAT", null,
                    listener("resets", Lab.VIP_V4, 80, "TCP", "resets"),
                    listener("silent", Lab.VIP_V4, 81, "TCP", "silent")),
            loadBalancer("labfn", "FullNAT", Lab.NODE_LAN_V4,
                    listener("resets-fn", Lab.VIP_V4, 82, "TCP", "resets")));

    @BeforeAll
    static void startAgentAndBreakTwoBackends() throws Exception {
        LAB.exec(LAB.backend(1), "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "8080",
                "-j", "REJECT", "--reject-with", "tcp-reset");
        LAB.exec(LAB.backend(2), "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "8080", "--syn", "-j", "DROP");
        LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT)).awaitProgrammed(0);
    }

    private record Outcomes(int served, int refused, int timedOut) {}

    /** CONNECTIONS connections to {@code port} of the VIP, one after the other; what each met. */
    private static Outcomes connect(int port) throws Exception {
        InetSocketAddress vip = new InetSocketAddress(address(Lab.VIP_V4), port);
        return LAB.client().call(Duration.ofSeconds(60), () -> {
            int served = 0;
            int refused = 0;
            int timedOut = 0;
            for (int i = 0; i < CONNECTIONS; i++) {
                try (Socket s = new Socket()) {
                    s.bind(new InetSocketAddress(address(Lab.CLIENT_V4), 0));
                    s.connect(vip, (int) CONNECT_TIMEOUT.toMillis());
                    served++;
                } catch (ConnectException e) {
                    refused++;
                } catch (SocketTimeoutException e) {
                    timedOut++;
                } catch (IOException e) {
                    throw new AssertionError("connection " + i + " to " + vip + ": " + e, e);
                }
            }
            return new Outcomes(served, refused, timedOut);
        });
    }

    private static long metric(String name, int backend) throws Exception {
        String scrape = LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics");
        Matcher m = Pattern.compile(Pattern.quote(name + "{backend=\"" + Lab.backendV4(backend) + ":8080\"} ")
                + "([0-9.E]+)").matcher(scrape);
        assertThat(m.find()).as("%s of be%d in the scrape", name, backend).isTrue();
        return (long) Double.parseDouble(m.group(1));
    }

    private record Signals(long resets, long unansweredSyns) {}

    private static Signals signals(int backend) throws Exception {
        return new Signals(metric("nodelb_backend_resets_total", backend),
                metric("nodelb_backend_unanswered_syns_total", backend));
    }

    private static Signals minus(Signals a, Signals b) {
        return new Signals(a.resets() - b.resets(), a.unansweredSyns() - b.unansweredSyns());
    }

    @Test
    void aBackendThatResetsEveryConnectionCountsOneResetPerRefusedClient() throws Exception {
        for (int port : new int[] {80, 82}) { // DNAT, FullNAT
            Signals be1 = signals(1);
            Signals be3 = signals(3);

            Outcomes outcomes = connect(port);

            assertThat(outcomes.refused()).as("clients refused through port %d", port).isPositive();
            assertThat(outcomes.timedOut()).as("clients that timed out through port %d", port).isZero();
            assertThat(minus(signals(1), be1)).as("be1 (resets) after port %d", port)
                    .isEqualTo(new Signals(outcomes.refused(), 0));
            assertThat(minus(signals(3), be3)).as("be3 (serves) after port %d", port).isEqualTo(new Signals(0, 0));
        }
    }

    @Test
    void aBackendThatDropsSynsCountsOneUnansweredSynPerClientThatTimedOut() throws Exception {
        Signals be2 = signals(2);
        Signals be3 = signals(3);

        Outcomes outcomes = connect(81);

        assertThat(outcomes.timedOut()).as("clients that timed out").isPositive();
        assertThat(outcomes.refused()).as("clients refused").isZero();
        assertThat(outcomes.served()).as("clients served by be3").isPositive();
        assertThat(minus(signals(2), be2)).as("be2 (black hole)").isEqualTo(new Signals(0, outcomes.timedOut()));
        assertThat(minus(signals(3), be3)).as("be3 (serves)").isEqualTo(new Signals(0, 0));
    }
}
