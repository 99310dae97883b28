package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
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
 * lookups, attaching, sockets) runs through {@link #call} on a thread that entered it with
 * setns(2). close() deletes the namespace, and with it the veth pair.
 */
final class VethNetns implements AutoCloseable {
    static final String SENDER = "nlb0";
    static final String RECEIVER = "nlb1";
    static final String SENDER_ADDRESS = "10.201.0.1";
    static final String RECEIVER_ADDRESS = "10.201.0.2";

    private static final int CLONE_NEWNET = 0x40000000;
    private static final int O_RDONLY_CLOEXEC = 0x80000;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle OPEN = LINKER.downcallHandle(
            LINKER.defaultLookup().find("open").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle SETNS = LINKER.downcallHandle(
            LINKER.defaultLookup().find("setns").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private final String name;
    private final ExecutorService inside;

    private VethNetns(String name) {
        this.name = name;
        this.inside = Executors.newSingleThreadExecutor(
                task -> Thread.ofPlatform().daemon().name("netns-" + name).unstarted(task));
    }

    static VethNetns create() throws Exception {
        String name = "nlbtest-" + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        run("ip", "netns", "add", name);
        VethNetns netns = new VethNetns(name);
        try {
            netns.ip("link", "add", SENDER, "address", "02:00:00:00:00:01", "type", "veth",
                    "peer", "name", RECEIVER, "address", "02:00:00:00:00:02");
            netns.ip("addr", "add", SENDER_ADDRESS + "/24", "dev", SENDER);
            netns.ip("link", "set", SENDER, "up");
            netns.ip("link", "set", RECEIVER, "up");
            netns.ip("neigh", "add", RECEIVER_ADDRESS, "lladdr", "02:00:00:00:00:02",
                    "dev", SENDER, "nud", "permanent");
            netns.call(() -> {
                enter(name);
                return null;
            });
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
        try {
            return inside.submit(code).get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw e;
        }
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
        run(command.toArray(String[]::new));
    }

    @Override
    public void close() throws Exception {
        inside.shutdownNow();
        inside.awaitTermination(5, TimeUnit.SECONDS);
        run("ip", "netns", "del", name);
    }

    private static void enter(String name) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment path = arena.allocateFrom("/run/netns/" + name);
            int fd = (int) OPEN.invokeExact(path, O_RDONLY_CLOEXEC, 0);
            if (fd < 0) {
                throw new IllegalStateException("cannot open /run/netns/" + name);
            }
            try {
                if ((int) SETNS.invokeExact(fd, CLONE_NEWNET) != 0) {
                    throw new IllegalStateException("setns into " + name + " failed");
                }
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd);
            }
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void run(String... command)
            throws IOException, InterruptedException, TimeoutException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new TimeoutException(String.join(" ", command) + " did not finish");
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (process.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed (" + process.exitValue()
                    + "): " + output.strip());
        }
    }
}
