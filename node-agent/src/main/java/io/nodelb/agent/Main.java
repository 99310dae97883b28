package io.nodelb.agent;

import io.nodelb.agent.cluster.ClusterAgent;
import io.nodelb.agent.cluster.ClusterOptions;
import io.nodelb.agent.dataplane.AgentLock;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.Uninstaller;
import io.nodelb.agent.lifecycle.Capabilities;
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
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import sun.misc.Signal;

/**
 * {@code nodelb-agent standalone|cluster|uninstall|version}: the command line ({@link AgentCommand}
 * parses it); this class runs what it asks for.
 */
public final class Main {

    private Main() {}

    public static void main(String[] args) {
        System.exit(AgentCommand.execute(args, System.getenv(), System.out, System.err));
    }

    /** {@code nodelb-agent cluster ...}: the arguments after {@code cluster}, with the environment's fallbacks. */
    static int cluster(List<String> args, java.util.Map<String, String> env) {
        try {
            return ClusterAgent.run(ClusterOptions.parse(args, env));
        } catch (ClusterOptions.UsageException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            System.err.println("(nodelb-agent cluster --help lists every option)");
            return 2;
        }
    }

    /** {@code nodelb-agent standalone ...} once its options are parsed. */
    static int standalone(RunOptions common, Path config, String nodeName) {
        Path state = common.stateDir();
        String node = nodeName == null ? hostName() : nodeName;
        return standalone(config.toAbsolutePath(), new AgentRuntime.Settings(common.pinPath(), state,
                common.metricsPort(), common.adminAddress(), common.uninstallOnStop(),
                DesiredState.Limits.defaults(), common.procSys(), common.events(node), common.xdpForward(),
                common.streamSplice()), node);
    }

    /** {@code nodelb-agent uninstall ...} once its options are parsed. */
    static int uninstall(HostOptions common) {
        return uninstall(common.pinPath(), common.stateDir(), common.procSys());
    }

    /** Shutdown: removes the data plane pinned under pinPath and puts back the host settings. */
    private static int uninstall(Path pinPath, Path stateDir, Path procSys) {
        try {
            List<String> done = Uninstaller.uninstall(pinPath, stateDir, procSys);
            done.forEach(line -> System.out.println("nodelb-agent: " + line));
            System.out.println("nodelb-agent: uninstalled " + pinPath + (done.isEmpty() ? " (nothing was there)" : ""));
            return 0;
        } catch (AgentLock.AgentRunningException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            return 1;
        }
    }

    private static int standalone(Path config, AgentRuntime.Settings settings, String nodeName) {
        try {
            // Refuse a bad file before anything is loaded or attached.
            StandaloneAgent.check(config, nodeName, settings.limits());
        } catch (ConfigException e) {
            printRefusal(config, e, "");
            return 1;
        }
        return AgentRuntime.run(settings, running -> {
            // Watch before the first read: a file replaced after the read is then always seen.
            try (WatchService watch = FileSystems.getDefault().newWatchService()) {
                config.getParent().register(watch, StandardWatchEventKinds.ENTRY_MODIFY,
                        StandardWatchEventKinds.ENTRY_CREATE);
                FileReloader reloader = new FileReloader(new StandaloneAgent(config, nodeName, running.programmer()),
                        config);
                if (!reloader.reloadIfChanged()) {
                    if (running.startedBare()) {
                        running.uninstall(); // nothing was running before: leave nothing behind
                    }
                    return 1;
                }
                System.out.println("nodelb-agent: programmed version " + running.applier().appliedVersion()
                        + " from " + config + " (pinned under " + running.dataPlane().pinDirectory() + ", programs "
                        + running.dataPlane().programTags() + ")");
                System.out.flush();
                Signal.handle(new Signal("HUP"), sig -> Thread.ofPlatform().start(reloader::reloadIfChanged));
                watchLoop(watch, config, reloader, running);
                return 0;
            }
        });
    }

    private static void watchLoop(WatchService watch, Path config, FileReloader reloader,
                                  AgentRuntime.Running running) {
        try {
            while (!running.isStopped()) {
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
                Capabilities.explain(e).forEach(line -> System.err.println("nodelb-agent: " + line));
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

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }
}
