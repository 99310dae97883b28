package io.nodelb.agent.bpf;

import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.NetnsThread;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;

/**
 * A fresh network namespace with a veth pair, for tests that attach programs to real
 * interfaces without touching the host's:
 *
 * <pre>
 *   nlb0 10.201.0.1/24, 02:00:00:00:00:01  &lt;==veth==&gt;  nlb1 (no address), 02:00:00:00:00:02
 * </pre>
 *
 * 10.201.0.2 is a permanent neighbour at nlb1's MAC, so a datagram sent to it leaves nlb0
 * (tc egress) and arrives at nlb1 (XDP) without ARP. Code that needs the namespace (ifindex
 * lookups, attaching, sockets) runs through {@link #call} on a {@link NetnsThread}.
 * close() deletes the namespace, and with it the veth pair.
 */
final class VethNetns implements AutoCloseable {
    static final String SENDER = "nlb0";
    static final String RECEIVER = "nlb1";
    static final String SENDER_ADDRESS = "10.201.0.1";
    static final String RECEIVER_ADDRESS = "10.201.0.2";

    private final String name;
    private NetnsThread inside;

    private VethNetns(String name) {
        this.name = name;
    }

    static VethNetns create() throws Exception {
        String name = "nlbtest-" + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        Command.run("ip", "netns", "add", name);
        VethNetns netns = new VethNetns(name);
        try {
            netns.ip("link", "add", SENDER, "address", "02:00:00:00:00:01", "type", "veth",
                    "peer", "name", RECEIVER, "address", "02:00:00:00:00:02");
            netns.ip("addr", "add", SENDER_ADDRESS + "/24", "dev", SENDER);
            netns.ip("link", "set", SENDER, "up");
            netns.ip("link", "set", RECEIVER, "up");
            netns.ip("neigh", "add", RECEIVER_ADDRESS, "lladdr", "02:00:00:00:00:02",
                    "dev", SENDER, "nud", "permanent");
            netns.inside = NetnsThread.enter(name);
            return netns;
        } catch (Exception | Error e) {
            netns.close();
            throw e;
        }
    }

    String name() {
        return name;
    }

    /** Runs code on the thread that lives in the namespace. */
    <T> T call(Callable<T> code) throws Exception {
        return inside.call(code);
    }

    /** Index of an interface of the namespace. */
    int ifindex(String device) throws Exception {
        return call(() -> LibBpf.ifindex(device));
    }

    /** Sends count UDP datagrams from nlb0 to 10.201.0.2:9, through the veth to nlb1. */
    void sendUdp(int count) throws Exception {
        call(() -> {
            try (DatagramSocket socket =
                    new DatagramSocket(new InetSocketAddress(SENDER_ADDRESS, 0))) {
                byte[] payload = "nodelb".getBytes(StandardCharsets.US_ASCII);
                for (int i = 0; i < count; i++) {
                    socket.send(new DatagramPacket(payload, payload.length,
                            new InetSocketAddress(RECEIVER_ADDRESS, 9)));
                }
            }
            return null;
        });
    }

    void ip(String... args) throws IOException, InterruptedException, TimeoutException {
        List<String> command = new ArrayList<>(List.of("ip", "-n", name));
        command.addAll(List.of(args));
        Command.run(command.toArray(String[]::new));
    }

    @Override
    public void close() throws Exception {
        try {
            if (inside != null) {
                inside.close();
            }
        } finally {
            Command.run("ip", "netns", "del", name);
        }
    }
}
