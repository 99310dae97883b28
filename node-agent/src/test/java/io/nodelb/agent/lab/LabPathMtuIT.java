package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.NetnsThread;
import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Path-MTU discovery through DNAT (bpf/README.md, "ICMP errors"): the node's link to the backends
 * gets a smaller MTU (1280) than the client's and the backend's own (1500), so the client's full-size
 * segments to the VIP, DNATed to the backend, need fragmentation with DF set. The node itself sends
 * "fragmentation needed" / "packet too big" to the client, quoting client -> backend: without the
 * translation the client finds no socket of that tuple, keeps sending full-size segments and the
 * upload stalls; with it (nlb_tc_egress) the error quotes client -> VIP, the client learns the path
 * MTU of the VIP, and a 1 MiB upload completes. The sink on the backend answers the bytes it got.
 *
 * <p>FullNAT is covered by the BPF tier only: with the node's own link the narrow one, the node's
 * error goes to its own SNAT address and never crosses a program (the README's limit); a router
 * beyond the node, which this lab has not, would be translated by nlb_xdp.
 */
@Privileged
class LabPathMtuIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(1);

    private static final int SINK_PORT = 7000;
    private static final int NARROW_MTU = 1280;
    private static final int UPLOAD = 1 << 20;
    private static final int METRICS_PORT = 19_900 + (int) (ProcessHandle.current().pid() % 90);

    private static final String CONFIG = file(
            targetGroup("sink", SINK_PORT, weights("be1", 1)),
            loadBalancer("lab", "DNAT", null,
                    listener("sink", Lab.VIP_V4, SINK_PORT, "TCP", "sink"),
                    listener("sink6", Lab.VIP_V6, SINK_PORT, "TCP", "sink")));

    private static Agent agent;
    private static NetnsThread backend;

    @BeforeAll
    static void narrowLinkToTheBackends() throws Exception {
        LAB.exec(LAB.node(), "ip", "link", "set", "n1", "mtu", Integer.toString(NARROW_MTU));
        agent = LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT));
        agent.awaitProgrammed(0);
        backend = NetnsThread.enter(LAB.backend(1));
    }

    @AfterAll
    static void closeBackendThread() throws InterruptedException {
        if (backend != null) {
            backend.close();
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void aLargeUploadThroughDnatLearnsThePathMtu(String family) throws Exception {
        boolean v4 = family.equals("IPv4");
        String vip = v4 ? Lab.VIP_V4 : Lab.VIP_V6;
        double translatedBefore = icmpToClient();

        try (ServerSocket listening = backend.call(() -> {
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(address(v4 ? Lab.backendV4(1) : Lab.backendV6(1)), SINK_PORT));
            s.setSoTimeout(20_000);
            return s;
        })) {
            CompletableFuture<Long> sink = CompletableFuture.supplyAsync(() -> sink(listening));
            long answered = LAB.client().call(Duration.ofSeconds(40), () -> upload(vip));

            assertThat(answered).as("bytes the backend received through the VIP").isEqualTo(UPLOAD);
            assertThat(sink.get(20, TimeUnit.SECONDS)).isEqualTo(UPLOAD);
        }
        assertThat(icmpToClient() - translatedBefore).as("ICMP errors translated for the client").isPositive();
        assertThat(LAB.exec(LAB.namespace("client"), "ip", v4 ? "-4" : "-6", "route", "get", vip))
                .as("the client's path MTU to the VIP").contains("mtu " + NARROW_MTU);
    }

    /** Sends UPLOAD bytes to the VIP, half-closes, returns the count the sink answers. */
    private static long upload(String vip) throws IOException {
        try (Socket socket = new Socket()) {
            socket.setSoTimeout(30_000);
            socket.bind(new InetSocketAddress(address(vip.contains(":") ? Lab.CLIENT_V6 : Lab.CLIENT_V4), 0));
            socket.connect(new InetSocketAddress(address(vip), SINK_PORT), 5_000);
            OutputStream out = socket.getOutputStream();
            byte[] chunk = new byte[64 * 1024];
            for (int sent = 0; sent < UPLOAD; sent += chunk.length) {
                out.write(chunk);
            }
            socket.shutdownOutput();
            String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
            return Long.parseLong(answer);
        }
    }

    /** Accepts one connection, reads it to its end, answers the byte count. */
    private static long sink(ServerSocket listening) {
        try (Socket s = listening.accept()) {
            s.setSoTimeout(30_000);
            InputStream in = s.getInputStream();
            byte[] buffer = new byte[64 * 1024];
            long total = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                total += n;
            }
            s.getOutputStream().write((total + "\n").getBytes(StandardCharsets.US_ASCII));
            return total;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** nodelb_packets_total{verdict="icmp_to_client"} from the agent's scrape. */
    private static double icmpToClient() throws Exception {
        String scrape = LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics");
        Matcher m = Pattern.compile("(?m)^nodelb_packets_total\\{[^}]*verdict=\"icmp_to_client\"[^}]*\\} ([0-9.E+-]+)$")
                .matcher(scrape);
        double total = 0;
        while (m.find()) {
            total += Double.parseDouble(m.group(1));
        }
        return total;
    }
}
