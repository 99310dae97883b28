package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Command;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Path-MTU discovery through the balancer (bpf/README.md, "ICMP errors"): a link on the way to the
 * backend gets a smaller MTU (1280) than the client's and the backend's own (1500), so the client's
 * full-size segments to the VIP need fragmentation with DF set, and a 1 MiB upload completes only if
 * the "fragmentation needed" / "packet too big" reaches the client quoting client -> VIP: without
 * the translation the client finds no socket of the quoted tuple, keeps sending full-size segments
 * and the upload stalls (checked by hand with the translation disabled: every case timed out).
 * The sink answers the bytes it got.
 *
 * <ul>
 *   <li>DNAT: the node's own link to the backends (n1) is the narrow one. The node itself sends the
 *       error to the client, quoting client -> backend; nlb_tc_egress translates it on n0.
 *   <li>FullNAT: a router beyond the node. The test puts the sink in a namespace of its own
 *       ({@code far}) behind backend 1, which forwards to it over a 1280-byte link: backend 1
 *       sends the error to the node's SNAT address, quoting SNAT -> far; nlb_xdp translates it on
 *       n1 and the node forwards it to the client. (With the node's own link the narrow one, the
 *       node's error would go to its own SNAT address and cross no program: the README's limit.)
 * </ul>
 */
@Privileged
class LabPathMtuIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(1);

    private static final int DNAT_PORT = 7000;
    private static final int FULL_NAT_PORT = 7001;
    private static final int SINK_PORT = 7000;
    private static final int NARROW_MTU = 1280;
    private static final int UPLOAD = 1 << 20;
    private static final int METRICS_PORT = 19_900 + (int) (ProcessHandle.current().pid() % 90);
    private static final String FAR_V4 = "10.1.9.2";
    private static final String FAR_V6 = "fd00:1:9::2";

    private static final String CONFIG = file(
            targetGroup("sink", SINK_PORT, weights("be1", 1)),
            "apiVersion: nodelb.io/v1alpha1\nkind: TargetGroup\nmetadata: {name: far}\nspec:\n  backends:\n"
                    + "  - {address: " + FAR_V4 + ", port: " + SINK_PORT + ", weight: 1}\n"
                    + "  - {address: \"" + FAR_V6 + "\", port: " + SINK_PORT + ", weight: 1}\n",
            loadBalancer("lab", "DNAT", null,
                    listener("sink", Lab.VIP_V4, DNAT_PORT, "TCP", "sink"),
                    listener("sink6", Lab.VIP_V6, DNAT_PORT, "TCP", "sink")),
            loadBalancer("labfn", "FullNAT", Lab.NODE_LAN_V4, listener("far", Lab.VIP_V4, FULL_NAT_PORT, "TCP", "far")),
            loadBalancer("labfn6", "FullNAT", Lab.NODE_LAN_V6,
                    listener("far6", Lab.VIP_V6, FULL_NAT_PORT, "TCP", "far")));

    private static Agent agent;
    private static NetnsThread backend;
    private static NetnsThread far;
    private static String farNamespace;

    @BeforeAll
    static void start() throws Exception {
        farNamespace = LAB.namespace("far");
        farBehindBackend1();
        agent = LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT));
        agent.awaitProgrammed(0);
        backend = NetnsThread.enter(LAB.backend(1));
        far = NetnsThread.enter(farNamespace);
    }

    /** far (10.1.9.2, fd00:1:9::2) behind backend 1, which forwards to it over a link of NARROW_MTU. */
    private static void farBehindBackend1() throws Exception {
        String be1 = LAB.backend(1);
        Command.run("ip", "netns", "add", farNamespace);
        LAB.exec(farNamespace, "ip", "link", "set", "lo", "up");
        LAB.exec(farNamespace, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
        LAB.exec(be1, "ip", "link", "add", "fw0", "type", "veth", "peer", "name", "fa0", "netns", farNamespace);
        LAB.exec(be1, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
        LAB.exec(be1, "ip", "addr", "add", "10.1.9.1/24", "dev", "fw0");
        LAB.exec(be1, "ip", "-6", "addr", "add", "fd00:1:9::1/64", "dev", "fw0", "nodad");
        LAB.exec(be1, "ip", "link", "set", "fw0", "mtu", Integer.toString(NARROW_MTU), "up");
        LAB.exec(be1, "ethtool", "-K", "fw0", "tx", "off", "tso", "off", "gso", "off", "gro", "off");
        LAB.exec(farNamespace, "ip", "addr", "add", FAR_V4 + "/24", "dev", "fa0");
        LAB.exec(farNamespace, "ip", "-6", "addr", "add", FAR_V6 + "/64", "dev", "fa0", "nodad");
        LAB.exec(farNamespace, "ip", "link", "set", "fa0", "up");
        LAB.exec(farNamespace, "ip", "route", "add", "default", "via", "10.1.9.1");
        LAB.exec(farNamespace, "ip", "-6", "route", "add", "default", "via", "fd00:1:9::1");
        LAB.exec(LAB.node(), "ip", "route", "add", "10.1.9.0/24", "via", Lab.backendV4(1));
        LAB.exec(LAB.node(), "ip", "-6", "route", "add", "fd00:1:9::/64", "via", Lab.backendV6(1));
    }

    @AfterAll
    static void stop() throws Exception {
        if (backend != null) {
            backend.close();
        }
        if (far != null) {
            far.close();
        }
        if (farNamespace != null) {
            Command.run("ip", "netns", "del", farNamespace); // lab.sh down would too: it carries the lab's id
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"DNAT, IPv4", "DNAT, IPv6", "FullNAT, IPv4", "FullNAT, IPv6"})
    void aLargeUploadLearnsThePathMtuThroughTheBalancer(String mode, String family) throws Exception {
        boolean v4 = family.equals("IPv4");
        boolean dnat = mode.equals("DNAT");
        String vip = v4 ? Lab.VIP_V4 : Lab.VIP_V6;
        String sinkAddress = dnat ? (v4 ? Lab.backendV4(1) : Lab.backendV6(1)) : (v4 ? FAR_V4 : FAR_V6);
        // The client forgets what an earlier case taught it about the VIP's path.
        LAB.exec(LAB.namespace("client"), "ip", v4 ? "-4" : "-6", "route", "flush", "cache");
        LAB.exec(LAB.node(), "ip", "link", "set", "n1", "mtu", dnat ? Integer.toString(NARROW_MTU) : "1500");
        double translatedBefore = translated("icmp_to_client");

        try (ServerSocket listening = (dnat ? backend : far).call(() -> {
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(address(sinkAddress), SINK_PORT));
            s.setSoTimeout(20_000);
            return s;
        })) {
            CompletableFuture<Long> sink = CompletableFuture.supplyAsync(() -> sink(listening));
            long answered = LAB.client().call(Duration.ofSeconds(40),
                    () -> upload(vip, dnat ? DNAT_PORT : FULL_NAT_PORT));

            assertThat(answered).as("bytes the sink received through the VIP").isEqualTo(UPLOAD);
            assertThat(sink.get(20, TimeUnit.SECONDS)).isEqualTo(UPLOAD);
        } finally {
            LAB.exec(LAB.node(), "ip", "link", "set", "n1", "mtu", "1500");
        }
        assertThat(translated("icmp_to_client") - translatedBefore).as("ICMP errors translated for the client").isPositive();
        assertThat(LAB.exec(LAB.namespace("client"), "ip", v4 ? "-4" : "-6", "route", "get", vip))
                .as("the client's path MTU to the VIP").contains("mtu " + NARROW_MTU);
    }

    /** Sends UPLOAD bytes to the VIP, half-closes, returns the count the sink answers. */
    private static long upload(String vip, int port) throws IOException {
        try (Socket socket = new Socket()) {
            socket.setSoTimeout(30_000);
            socket.bind(new InetSocketAddress(address(vip.contains(":") ? Lab.CLIENT_V6 : Lab.CLIENT_V4), 0));
            socket.connect(new InetSocketAddress(address(vip), port), 5_000);
            // A write blocks while the path black-holes: closing the socket bounds it.
            CompletableFuture.delayedExecutor(30, TimeUnit.SECONDS).execute(() -> closeQuietly(socket));
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

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closed already
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

    /** nodelb_packets_total{verdict=...} from the agent's scrape. */
    private static double translated(String verdict) throws Exception {
        return Lab.sum(LAB.scrape(METRICS_PORT), "nodelb_packets_total", "verdict", verdict);
    }
}
