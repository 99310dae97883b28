package io.nodelb.agent;

import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.metrics.MetricsServer;
import io.nodelb.agent.standalone.ConfigException;
import io.nodelb.agent.standalone.StandaloneAgent;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchService;
import io.nodelb.agent.cluster.ClusterAgent;
import io.nodelb.agent.cluster.ClusterOptions;
import io.nodelb.agent.dataplane.AgentLock;
import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.Uninstaller;
import io.nodelb.agent.lifecycle.AdminServer;
import io.nodelb.agent.lifecycle.Drain;
import io.nodelb.agent.lifecycle.Signals;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Map;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import sun.misc.Signal;

/** {@code nodelb-agent standalone|cluster|uninstall ...}: see {@link #USAGE}. */
public final class Main {

    static final String USAGE = """
            usage: nodelb-agent standalone --config FILE [--pin-path DIR] [--state-dir DIR] [--metrics-port N]
                                      [--node-name NAME] [--uninstall-on-stop] [--admin-address HOST:PORT]
                   nodelb-agent cluster --operator HOST:PORT --node-name NAME ...  (cluster --help: every flag)
                   nodelb-agent uninstall [--pin-path DIR] [--state-dir DIR]

              standalone         program the data plane from a file; SIGTERM leaves it running
                                 for the next agent, which adopts it
              uninstall          detach nodelb's programs, remove its pins, put back the host
                                 settings it changed (refused while an agent runs)

              --config FILE      LoadBalancer and TargetGroup documents (YAML); reloaded when the
                                 file changes or on SIGHUP
              --pin-path DIR     where maps and links are pinned (default /sys/fs/bpf/nodelb)
              --state-dir DIR    saved ids and the host's original settings (default /run/nodelb/<pin path>)
              --metrics-port N   serve Prometheus metrics on :N/metrics (default: off)
              --node-name NAME   this node's name (default: the host name)
              --uninstall-on-stop  on SIGTERM, uninstall instead of leaving the data plane running
              --admin-address HOST:PORT  serve POST /drain and /undrain there (default: none)

            SIGUSR1 drains the node (readiness 503, every flow still served), SIGUSR2 undrains it.
            """;

    private Main() {}

    public static void main(String[] args) {
        try {
            System.exit(run(args));
        } catch (UsageException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
        }
    }

    static int run(String[] args) {
        Deque<String> rest = new ArrayDeque<>(List.of(args));
        String command = rest.isEmpty() ? "" : rest.pop();
        if (command.equals("cluster")) {
            try {
                return ClusterAgent.run(ClusterOptions.parse(List.copyOf(rest), System.getenv()));
            } catch (ClusterOptions.UsageException e) {
                System.err.println("nodelb-agent: " + e.getMessage());
                System.err.print(ClusterOptions.usage());
                return 2;
            }
        }
        if (!List.of("standalone", "uninstall").contains(command)) {
            throw new UsageException(command.isEmpty() ? "no command" : "unknown command " + command);
        }
        Path config = null;
        Path pinPath = Path.of("/sys/fs/bpf/nodelb");
        Path stateDir = null;
        int metricsPort = 0;
        String nodeName = hostName();
        boolean uninstallOnStop = false;
        InetSocketAddress adminAddress = null;
        while (!rest.isEmpty()) {
            String flag = rest.pop();
            if (flag.equals("--uninstall-on-stop")) {
                uninstallOnStop = true;
                continue;
            }
            if (rest.isEmpty()) {
                throw new UsageException(flag + " needs a value");
            }
            String value = rest.pop();
            switch (flag) {
                case "--config" -> config = Path.of(value).toAbsolutePath();
                case "--pin-path" -> pinPath = Path.of(value);
                case "--state-dir" -> stateDir = Path.of(value);
                case "--metrics-port" -> metricsPort = port(value);
                case "--node-name" -> nodeName = value;
                case "--admin-address" -> adminAddress = adminAddress(value);
                default -> throw new UsageException("unknown option " + flag);
            }
        }
        Path state = stateDir == null ? BpfDataPlane.stateDirectoryFor(pinPath) : stateDir;
        if (command.equals("uninstall")) {
            return uninstall(pinPath, state);
        }
        if (config == null) {
            throw new UsageException("--config is required");
        }
        if (!Files.isReadable(config)) {
            System.err.println("nodelb-agent: cannot read " + config);
            return 1;
        }
        return standalone(config, pinPath, state, metricsPort, adminAddress, nodeName, uninstallOnStop);
    }

    /** Shutdown: removes the data plane pinned under pinPath and puts back the host settings. */
    private static int uninstall(Path pinPath, Path stateDir) {
        try {
            List<String> done = Uninstaller.uninstall(pinPath, stateDir);
            done.forEach(line -> System.out.println("nodelb-agent: " + line));
            System.out.println("nodelb-agent: uninstalled " + pinPath + (done.isEmpty() ? " (nothing was there)" : ""));
            return 0;
        } catch (AgentLock.AgentRunningException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            return 1;
        }
    }

    private static int standalone(Path config, Path pinPath, Path stateDir, int metricsPort,
                                  InetSocketAddress adminAddress, String nodeName, boolean uninstallOnStop) {
        DesiredState.Limits limits = DesiredState.Limits.defaults();
        try {
            // Refuse a bad file before anything is loaded or attached.
            StandaloneAgent.check(config, nodeName, limits);
        } catch (ConfigException e) {
            printRefusal(config, e, "");
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        // Watch before the first read: a file replaced after the read is then always seen.
        try (WatchService watch = FileSystems.getDefault().newWatchService()) {
            config.getParent().register(watch, StandardWatchEventKinds.ENTRY_MODIFY,
                    StandardWatchEventKinds.ENTRY_CREATE);
            // What the state directory holds is read and planned while the programs load.
            var saved = SnapshotApplier.Saved.readInBackground(stateDir, DesiredState.Host.system(), limits);
            try (BpfDataPlane dataPlane = BpfDataPlane.load(pinPath, stateDir, limits, Map.of())) {
                SnapshotApplier applier = SnapshotApplier.adopting(dataPlane, saved, DesiredState.Host.system(), limits);
                DesiredState found = applier.applied();
                StandaloneAgent agent = new StandaloneAgent(config, nodeName, new NodeProgrammer(dataPlane, applier));
                FileReloader reloader = new FileReloader(agent, config);
                if (!reloader.reloadIfChanged()) {
                    if (found.sameAs(DesiredState.empty())) {
                        dataPlane.uninstall(); // nothing was running before: leave nothing behind
                    }
                    return 1;
                }
                System.out.println("nodelb-agent: programmed version " + applier.appliedVersion()
                        + " from " + config + " (pinned under " + dataPlane.pinDirectory() + ", programs "
                        + dataPlane.programTags() + ")");
                System.out.flush();
                Signal.handle(new Signal("HUP"), sig -> Thread.ofPlatform().start(reloader::reloadIfChanged));
                // SIGTERM finishes: the data plane keeps running for the next agent, unless told to uninstall.
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    stopped.countDown();
                    if (uninstallOnStop) {
                        dataPlane.uninstall();
                    } else {
                        dataPlane.close();
                    }
                }, "nodelb-shutdown"));
                Drain drain = Drain.system();
                Signals.handleDrain(drain);
                try (MetricsServer metrics = metricsPort > 0
                        ? MetricsServer.start(metricsPort, dataPlane, applier, drain) : null;
                     AdminServer admin = adminAddress != null ? AdminServer.start(adminAddress, drain) : null) {
                    watchLoop(watch, config, reloader, stopped);
                }
            }
        } catch (AgentLock.AgentRunningException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            return 1;
        }
        return 0;
    }

    private static void watchLoop(WatchService watch, Path config, FileReloader reloader, CountDownLatch stopped) {
        try {
            while (stopped.getCount() > 0) {
                var key = watch.poll(500, TimeUnit.MILLISECONDS);
                if (key == null) {
                    continue;
                }
                boolean ours = key.pollEvents().stream()
                        .anyMatch(e -> config.getFileName().equals(e.context()));
                key.reset();
                if (ours) {
                    // Editors write in several steps; let the file settle.
                    Thread.sleep(200);
                    reloader.reloadIfChanged();
                }
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Reloads by content, not by event: a file whose bytes equal the ones last seen (programmed
     * or refused) is not looked at again, so an event seen twice applies nothing twice and a
     * refused file is reported once.
     */
    static final class FileReloader {
        private final StandaloneAgent agent;
        private final Path config;
        private byte[] lastSeen;

        FileReloader(StandaloneAgent agent, Path config) {
            this.agent = agent;
            this.config = config;
        }

        /** @return false when the file was refused */
        synchronized boolean reloadIfChanged() {
            byte[] content;
            try {
                content = Files.readAllBytes(config);
            } catch (IOException e) {
                System.err.println("nodelb-agent: cannot read " + config + ": " + e.getMessage());
                return false;
            }
            if (Arrays.equals(content, lastSeen)) {
                return true;
            }
            boolean first = lastSeen == null;
            lastSeen = content;
            String before = agent.applier().appliedVersion();
            String keeping = first ? "" : " (keeping version " + before + ")";
            try {
                agent.load();
                if (!first && !before.equals(agent.applier().appliedVersion())) {
                    System.out.println("nodelb-agent: programmed version " + agent.applier().appliedVersion()
                            + " from " + config);
                }
                return true;
            } catch (ConfigException e) {
                printRefusal(config, e, keeping);
                return false;
            } catch (RuntimeException e) {
                System.err.println("nodelb-agent: could not program " + config + keeping + ": " + e.getMessage());
                return false;
            } finally {
                System.out.flush();
                System.err.flush();
            }
        }
    }

    private static void printRefusal(Path config, ConfigException e, String keeping) {
        System.err.println("nodelb-agent: refusing " + config + keeping + ":");
        e.problems().forEach(p -> System.err.println("  " + p));
    }

    /** {@code HOST:PORT} of the admin endpoint, e.g. {@code 127.0.0.1:9401}. */
    static InetSocketAddress adminAddress(String value) {
        int colon = value.lastIndexOf(':');
        if (colon <= 0) {
            throw new UsageException("--admin-address must be HOST:PORT (for example 127.0.0.1:9401), got " + value);
        }
        String host = value.substring(0, colon).replace("[", "").replace("]", "");
        return new InetSocketAddress(host, port(value.substring(colon + 1)));
    }

    private static int port(String value) {
        try {
            int p = Integer.parseInt(value);
            if (p >= 1 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new UsageException("a port must be a number from 1 to 65535, got " + value);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }
}
