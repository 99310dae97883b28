package io.nodelb.agent;

import io.nodelb.agent.cluster.ClusterOptions;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.HostSettings;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Unmatched;

/**
 * The agent's command line: {@code standalone}, {@code cluster}, {@code uninstall}, {@code version},
 * {@code --help}. Every option that takes a value falls back to an environment variable named after
 * it ({@code --pin-path} → {@code NODELB_PIN_PATH}; {@code --node-name} → {@code NODE_NAME}, as the
 * downward API sets it), so a DaemonSet sets everything through {@code env}; a flag wins over its variable.
 * Cluster mode's options live in {@link ClusterOptions}, which follows the same rule.
 */
@Command(name = "nodelb-agent", mixinStandardHelpOptions = true, versionProvider = AgentCommand.Version.class,
        usageHelpWidth = 100, synopsisSubcommandLabel = "COMMAND",
        description = "Programs node-local eBPF layer-4 load balancers (XDP ingress, TC egress).",
        subcommands = {AgentCommand.Standalone.class, AgentCommand.Cluster.class, AgentCommand.Uninstall.class,
            AgentCommand.VersionCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "SIGUSR1 drains the node (readiness 503, every flow still served), SIGUSR2 undrains it;"
            + " SIGTERM leaves the data plane serving for the next agent."})
public final class AgentCommand implements Callable<Integer> {

    static final Path DEFAULT_PIN_PATH = Path.of("/sys/fs/bpf/nodelb");

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "a command is required: standalone, cluster, uninstall"
                + " or version");
    }

    /**
     * Parses and runs; returns the exit code (2 for a command line to correct).
     *
     * @param env the process environment, for the options' fallbacks
     */
    public static int execute(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
        CommandLine line = commandLine(env);
        line.setOut(new PrintWriter(out, true));
        line.setErr(new PrintWriter(err, true));
        return line.execute(args);
    }

    static CommandLine commandLine(Map<String, String> env) {
        CommandLine line = new CommandLine(new AgentCommand());
        line.setDefaultValueProvider(spec -> spec instanceof OptionSpec option && option.arity().max() > 0
                ? nonBlank(env.get(environmentVariable(option.longestName()))) : null);
        line.getSubcommands().get("cluster").getCommandSpec().parser().unmatchedArgumentsAllowed(true);
        line.setParameterExceptionHandler((e, args) -> {
            PrintWriter err = e.getCommandLine().getErr();
            err.println("nodelb-agent: " + e.getMessage());
            err.println("(" + e.getCommandLine().getCommandSpec().qualifiedName() + " --help lists every option)");
            return 2;
        });
        line.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof ParameterException p) {
                throw p;
            }
            throw e;
        });
        line.setCaseInsensitiveEnumValuesAllowed(true);
        return line;
    }

    /** {@code --pin-path} → {@code NODELB_PIN_PATH}; {@code --node-name} → {@code NODE_NAME}. */
    static String environmentVariable(String option) {
        String name = option.replaceFirst("^--", "").replace('-', '_').toUpperCase(java.util.Locale.ROOT);
        return name.equals("NODE_NAME") ? name : "NODELB_" + name;
    }

    private static String nonBlank(String value) {
        return value == null || value.isBlank() ? null : value.strip();
    }

    /** Options standalone and uninstall share with cluster mode. */
    static class Common {
        @Option(names = "--pin-path", paramLabel = "DIR",
                description = "where maps and links are pinned (env NODELB_PIN_PATH; default /sys/fs/bpf/nodelb)")
        Path pinPath;

        @Option(names = "--state-dir", paramLabel = "DIR",
                description = "saved ids and the host's original settings (env NODELB_STATE_DIR; default"
                        + " /run/nodelb/<pin path>)")
        Path stateDir;

        @Option(names = "--proc-sys", paramLabel = "DIR",
                description = "the host's /proc/sys, where the sysctls the agent changes live (env NODELB_PROC_SYS;"
                        + " default /proc/sys; a container mounts the host's elsewhere)")
        Path procSys;

        Path pinPath() {
            return pinPath == null ? DEFAULT_PIN_PATH : pinPath;
        }

        Path stateDir() {
            return stateDir == null ? BpfDataPlane.stateDirectoryFor(pinPath()) : stateDir;
        }

        Path procSys() {
            return procSys == null ? HostSettings.DEFAULT_PROC_SYS : procSys;
        }

        int metricsPort() {
            return 0;
        }

        InetSocketAddress adminAddress() {
            return null;
        }

        boolean uninstallOnStop() {
            return false;
        }

        /** The flow-event settings (access log, conntrack sweep, budget) of a running agent. */
        io.nodelb.agent.events.FlowEvents.Settings events(String node) {
            return io.nodelb.agent.events.FlowEvents.Settings.defaults(node);
        }

        io.nodelb.agent.dataplane.XdpForward.Mode xdpForward() {
            return io.nodelb.agent.dataplane.XdpForward.Mode.DEFAULT;
        }

        boolean streamSplice() {
            return false;
        }
    }

    /** Options of a running agent: standalone's (cluster's are in {@link ClusterOptions}). */
    static final class Running extends Common {
        @Option(names = "--metrics-port", paramLabel = "N",
                description = "serve Prometheus metrics on :N/metrics, and /livez, /readyz (env NODELB_METRICS_PORT;"
                        + " default: off)")
        Integer metricsPort;

        @Option(names = "--admin-address", paramLabel = "HOST:PORT",
                description = "serve POST /drain and /undrain there, e.g. 127.0.0.1:9401 (env NODELB_ADMIN_ADDRESS;"
                        + " default: none)")
        String adminAddress;

        @Mixin
        io.nodelb.agent.events.EventOptions events = new io.nodelb.agent.events.EventOptions();

        @Option(names = "--xdp-forward", paramLabel = "auto|off",
                description = "send translated packets on from XDP (FIB lookup, redirect) to the interfaces the"
                        + " agent attached to whose kernel side can take redirected frames; off: always up the"
                        + " stack; it skips the node's netfilter FORWARD chain (env NODELB_XDP_FORWARD; default off)")
        String xdpForward;

        @Option(names = "--stream-splice",
                description = "splice stream listeners' sockets in the kernel (sockmap) instead of relaying in the"
                        + " agent; off by default: not faster than the relay where measured"
                        + " (docs/stream-listeners.md)")
        boolean streamSplice;

        @Option(names = "--uninstall-on-stop",
                description = "on SIGTERM, remove the data plane instead of leaving it running for the next agent")
        boolean uninstallOnStop;

        @Override
        int metricsPort() {
            return metricsPort == null ? 0 : port("--metrics-port", metricsPort);
        }

        @Override
        InetSocketAddress adminAddress() {
            if (adminAddress == null) {
                return null;
            }
            int colon = adminAddress.lastIndexOf(':');
            String host = colon <= 0 ? "" : adminAddress.substring(0, colon).replace("[", "").replace("]", "");
            int port;
            try {
                port = Integer.parseInt(adminAddress.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (host.isEmpty() || port < 1 || port > 65535) {
                throw new ClusterOptions.UsageException("--admin-address must be HOST:PORT (for example"
                        + " 127.0.0.1:9401), got '" + adminAddress + "'");
            }
            return new InetSocketAddress(host, port);
        }

        @Override
        boolean uninstallOnStop() {
            return uninstallOnStop;
        }

        @Override
        boolean streamSplice() {
            return streamSplice;
        }

        @Override
        io.nodelb.agent.events.FlowEvents.Settings events(String node) {
            return events.settings(node);
        }

        @Override
        io.nodelb.agent.dataplane.XdpForward.Mode xdpForward() {
            try {
                return xdpForward == null ? super.xdpForward() : io.nodelb.agent.dataplane.XdpForward.Mode.parse(xdpForward);
            } catch (IllegalArgumentException e) {
                throw new ClusterOptions.UsageException(e.getMessage());
            }
        }

        private static int port(String option, int port) {
            if (port < 1 || port > 65535) {
                throw new ClusterOptions.UsageException(option + " must be a port number (1-65535), got " + port);
            }
            return port;
        }
    }

    @Command(name = "standalone", mixinStandardHelpOptions = true, usageHelpWidth = 100, sortOptions = false,
            description = {"Programs the data plane from a file of LoadBalancer and TargetGroup documents (the custom"
                + " resources' format), checked whole against the CRDs' schema and rules before anything is loaded;"
                + " reloads it when it changes or on SIGHUP."})
    static final class Standalone implements Callable<Integer> {
        @Option(names = "--config", paramLabel = "FILE", required = true,
                description = "the YAML file (env NODELB_CONFIG); required")
        Path config;

        @Option(names = "--node-name", paramLabel = "NAME", description = "this node's name (env NODE_NAME; default:"
                + " the host name)")
        String nodeName;

        @Mixin
        Running running;

        @Override
        public Integer call() {
            try {
                return Main.standalone(running, config, nodeName);
            } catch (ClusterOptions.UsageException e) {
                System.err.println("nodelb-agent: " + e.getMessage());
                return 2;
            }
        }
    }

    @Command(name = "uninstall", mixinStandardHelpOptions = true, usageHelpWidth = 100,
            description = "Detaches nodelb's programs, removes its pins of every layout and puts back the host"
                    + " settings it changed; refused while an agent runs.")
    static final class Uninstall implements Callable<Integer> {
        @Mixin
        Common options;

        @Override
        public Integer call() {
            return Main.uninstall(options);
        }
    }

    @Command(name = "cluster", usageHelpWidth = 100,
            description = "Runs under the operator: dials it over mutual TLS, applies the snapshots it sends for this"
                    + " node and answers each with an ACK or NACK (cluster --help: every option).")
    static final class Cluster implements Callable<Integer> {
        @Unmatched
        List<String> args = new ArrayList<>();

        @Option(names = {"-h", "--help"}, description = "every option of cluster mode and its variable")
        boolean help;

        @Override
        public Integer call() {
            if (help) {
                System.out.print(ClusterOptions.usage());
                return 0;
            }
            return Main.cluster(args, System.getenv());
        }
    }

    @Command(name = "version", description = "Prints the agent's version and the data plane layout it programs.")
    static final class VersionCommand implements Callable<Integer> {
        @picocli.CommandLine.Spec
        picocli.CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            for (String line : new Version().getVersion()) {
                spec.commandLine().getOut().println(line);
            }
            return 0;
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = AgentCommand.class.getPackage().getImplementationVersion();
            return new String[] {"nodelb-agent " + (version == null ? "(unpackaged)" : version)
                    + ", data plane layout v" + io.nodelb.agent.bpf.Abi.LAYOUT_VERSION
                    + ", Java " + Runtime.version()};
        }
    }
}
