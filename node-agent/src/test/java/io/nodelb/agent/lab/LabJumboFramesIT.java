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
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A node whose links have a jumbo MTU (9000): the kernel refuses an XDP program without frags
 * support on such a veth ("Peer MTU is too large to set XDP"), and a frame of 9000 bytes spans
 * several buffers (bpf/README.md, "Frames of several buffers"). The agent attaches, and 1 MiB goes
 * to a backend and back through DNAT and FullNAT, IPv4 and IPv6, in full-size segments (a veth
 * with XDP turns its peer's TSO off, so the client sends frames of the MTU), byte for byte; the
 * fast path hands the frames of several buffers to the stack (outcome pass_frags).
 */
@Privileged
class LabJumboFramesIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(1);

    private static final int MTU = 9000;
    private static final int DNAT_PORT = 7100;
    private static final int FULL_NAT_PORT = 7101;
    private static final int ECHO_PORT = 7100;
    private static final int SIZE = 1 << 20;
    private static final int METRICS_PORT = 19_800 + (int) (ProcessHandle.current().pid() % 90);

    private static final String CONFIG = file(
            targetGroup("echo", ECHO_PORT, weights("be1", 1)),
            loadBalancer("lab", "DNAT", null,
                    listener("echo", Lab.VIP_V4, DNAT_PORT, "TCP", "echo"),
                    listener("echo6", Lab.VIP_V6, DNAT_PORT, "TCP", "echo")),
            loadBalancer("labfn", "FullNAT", Lab.NODE_LAN_V4, listener("fn", Lab.VIP_V4, FULL_NAT_PORT, "TCP", "echo")),
            loadBalancer("labfn6", "FullNAT", Lab.NODE_LAN_V6,
                    listener("fn6", Lab.VIP_V6, FULL_NAT_PORT, "TCP", "echo")));

    /**
     * The echo and the client's reader each block on a socket: threads of their own. In the common
     * pool (one thread on 2 CPUs) one waited behind the other and the exchange stalled.
     */
    private static final ExecutorService THREADS = Executors.newVirtualThreadPerTaskExecutor();

    private static NetnsThread backend;

    @BeforeAll
    static void start() throws Exception {
        // Every link on the way, bridge ports before the bridge (it takes the smallest of theirs).
        LAB.exec(LAB.namespace("client"), "ip", "link", "set", "c0", "mtu", Integer.toString(MTU));
        for (String link : new String[] {"n0", "n1"}) {
            LAB.exec(LAB.node(), "ip", "link", "set", link, "mtu", Integer.toString(MTU));
        }
        for (String link : new String[] {"up0", "p1", "br0"}) {
            LAB.exec(LAB.namespace("lan"), "ip", "link", "set", link, "mtu", Integer.toString(MTU));
        }
        LAB.exec(LAB.backend(1), "ip", "link", "set", "eth0", "mtu", Integer.toString(MTU));
        Agent agent = LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT),
                "--xdp-forward", "auto");
        agent.awaitProgrammed(0);
        assertThat(agent.log()).contains("XDP fast path to n0: on", "XDP fast path to n1: on");
        backend = NetnsThread.enter(LAB.backend(1));
    }

    @AfterAll
    static void stop() throws Exception {
        THREADS.close();
        if (backend != null) {
            backend.close();
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"DNAT, IPv4", "DNAT, IPv6", "FullNAT, IPv4", "FullNAT, IPv6"})
    void aMegabyteGoesThereAndBackInJumboFrames(String mode, String family) throws Exception {
        boolean v4 = family.equals("IPv4");
        String vip = v4 ? Lab.VIP_V4 : Lab.VIP_V6;
        int port = mode.equals("DNAT") ? DNAT_PORT : FULL_NAT_PORT;
        byte[] sent = new byte[SIZE];
        new Random(port * 31L + (v4 ? 4 : 6)).nextBytes(sent);
        double handedToStack = fastPath("pass_frags");

        try (ServerSocket listening = backend.call(() -> {
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(address(v4 ? Lab.backendV4(1) : Lab.backendV6(1)), ECHO_PORT));
            s.setSoTimeout(20_000);
            return s;
        })) {
            CompletableFuture<Void> echo = CompletableFuture.runAsync(() -> echoOnce(listening), THREADS);
            byte[] received = LAB.client().call(Duration.ofSeconds(40), () -> exchange(vip, port, sent));

            echo.get(20, TimeUnit.SECONDS);
            assertThat(received).as("the bytes that came back through the VIP").isEqualTo(sent);
        }
        assertThat(fastPath("pass_frags") - handedToStack)
                .as("frames of several buffers the fast path handed to the stack").isPositive();
        assertThat(LAB.exec(LAB.namespace("client"), "ip", "-d", "link", "show", "c0"))
                .as("the client's link").contains("mtu " + MTU);
    }

    /** Sends all of data to the VIP, half-closes, returns what comes back. */
    private static byte[] exchange(String vip, int port, byte[] data) throws IOException {
        try (Socket socket = new Socket()) {
            socket.setSoTimeout(30_000);
            socket.bind(new InetSocketAddress(address(vip.contains(":") ? Lab.CLIENT_V6 : Lab.CLIENT_V4), 0));
            socket.connect(new InetSocketAddress(address(vip), port), 5_000);
            // A write blocks if the path black-holes: closing the socket bounds it.
            CompletableFuture.delayedExecutor(30, TimeUnit.SECONDS).execute(() -> closeQuietly(socket));
            CompletableFuture<byte[]> answer = CompletableFuture.supplyAsync(() -> {
                try {
                    return socket.getInputStream().readAllBytes();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, THREADS);
            socket.getOutputStream().write(data);
            socket.shutdownOutput();
            return answer.join();
        }
    }

    /** Accepts one connection and writes back what it reads, until the client's end of stream. */
    private static void echoOnce(ServerSocket listening) {
        try (Socket s = listening.accept()) {
            s.setSoTimeout(30_000);
            s.getInputStream().transferTo(s.getOutputStream());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closed already
        }
    }

    /** nodelb_xdp_forward_packets_total{outcome=...} from the agent's scrape. */
    private static double fastPath(String outcome) throws Exception {
        return Lab.sum(LAB.scrape(METRICS_PORT), "nodelb_xdp_forward_packets_total", "outcome", outcome);
    }
}
