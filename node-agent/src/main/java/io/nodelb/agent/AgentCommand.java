package io.nodelb.agent;

import io.nodelb.agent.cluster.ClusterOptions;
import java.io.PrintStream;
import java.io.PrintWriter;
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
        line.setDefaultValueProvider(environment(env));
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

    /**
     * Every option's fallback to its variable, in both modes (cluster mode's parser takes it too). Of the
     * switches only {@code --stream-splice} has one: {@code NODELB_STREAM_SPLICE=on}.
     */
    public static CommandLine.IDefaultValueProvider environment(Map<String, String> env) {
        return spec -> {
            if (!(spec instanceof OptionSpec option)) {
                return null;
            }
            if (option.arity().max() > 0) {
                return nonBlank(env.get(environmentVariable(option.longestName())));
            }
            return option.longestName().equals("--stream-splice") && "on".equals(env.get("NODELB_STREAM_SPLICE"))
                    ? "true" : null;
        };
    }

    /** {@code --pin-path} → {@code NODELB_PIN_PATH}; {@code --node-name} → {@code NODE_NAME}. */
    public static String environmentVariable(String option) {
        String name = option.replaceFirst("^--", "").replace('-', '_').toUpperCase(java.util.Locale.ROOT);
        return name.equals("NODE_NAME") ? name : "NODELB_" + name;
    }

    private static String nonBlank(String value) {
        return value == null || value.isBlank() ? null : value.strip();
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
        RunOptions running;

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
        HostOptions options;

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
