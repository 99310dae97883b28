package io.nodelb.agent.cluster;

import io.nodelb.agent.AgentCommand;
import io.nodelb.agent.RunOptions;
import io.nodelb.agent.dataplane.HostSettings;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * What {@code nodelb-agent cluster} needs to reach the operator. Every flag but the common
 * ones has an environment variable as its fallback, so a DaemonSet can set everything through
 * {@code env}; a flag on the command line wins over its variable.
 *
 * <p>TLS is the default and needs all three of CA, certificate and key; running without it
 * takes an explicit {@code --plaintext}, meant for a lab.
 *
 * @param caFile   PEM CA certificates that sign the operator's certificate; null with plaintext
 * @param certFile PEM certificate chain this agent presents; null with plaintext
 * @param keyFile  unencrypted PKCS#8 PEM key of {@code certFile}; null with plaintext
 * @param tokenFile projected ServiceAccount token, read afresh on every connect
 * @param pinPath  the agent's common {@code --pin-path}, as in standalone mode
 * @param metricsPort the agent's common {@code --metrics-port}; 0 = no metrics server
 * @param stateDir the agent's common {@code --state-dir}; null: the default of the pin path
 * @param maxBackends how many backends this node's data plane may hold; 0: the default
 * @param uninstallOnStop on SIGTERM, uninstall instead of leaving the data plane running
 * @param serverName the name the operator's certificate is checked against, when it is not the
 *     host dialed (a node-local address in front of the operator's Service, a lab); null: the host
 * @param adminAddress where the admin endpoint (POST /drain, /undrain) listens; null: nowhere
 * @param procSys  the host's /proc/sys (a container mounts it elsewhere, its own being read-only);
 *     null: /proc/sys
 */
public record ClusterOptions(
        OperatorAddress operator,
        String nodeName,
        Path caFile,
        Path certFile,
        Path keyFile,
        Path tokenFile,
        boolean plaintext,
        Path pinPath,
        int metricsPort,
        Path stateDir,
        int maxBackends,
        boolean uninstallOnStop,
        String serverName,
        java.net.InetSocketAddress adminAddress,
        Path procSys,
        io.nodelb.agent.events.FlowEvents.Settings events,
        io.nodelb.agent.dataplane.XdpForward.Mode xdpForward,
        boolean streamSplice) {

    public static final Path DEFAULT_TOKEN_FILE = Path.of("/var/run/secrets/nodelb/token");

    /**
     * The flag → environment variable fallbacks: every flag that takes a value has one, named by the
     * agent's one rule ({@link AgentCommand#environmentVariable}).
     */
    static final Map<String, String> ENV = commandLine(new Flags()).getCommandSpec().options().stream()
            .filter(option -> option.arity().max() > 0)
            .collect(java.util.stream.Collectors.toUnmodifiableMap(OptionSpec::longestName,
                    option -> AgentCommand.environmentVariable(option.longestName())));

    /** With the XDP fast path off and stream listeners relayed (the defaults). */
    public ClusterOptions(OperatorAddress operator, String nodeName, Path caFile, Path certFile, Path keyFile,
                          Path tokenFile, boolean plaintext, Path pinPath, int metricsPort, Path stateDir,
                          int maxBackends, boolean uninstallOnStop, String serverName,
                          java.net.InetSocketAddress adminAddress, Path procSys,
                          io.nodelb.agent.events.FlowEvents.Settings events) {
        this(operator, nodeName, caFile, certFile, keyFile, tokenFile, plaintext, pinPath, metricsPort, stateDir,
                maxBackends, uninstallOnStop, serverName, adminAddress, procSys, events,
                io.nodelb.agent.dataplane.XdpForward.Mode.DEFAULT, false);
    }

    /** With the flow events' defaults (no access log). */
    public ClusterOptions(OperatorAddress operator, String nodeName, Path caFile, Path certFile, Path keyFile,
                          Path tokenFile, boolean plaintext, Path pinPath, int metricsPort, Path stateDir,
                          int maxBackends, boolean uninstallOnStop, String serverName,
                          java.net.InetSocketAddress adminAddress, Path procSys) {
        this(operator, nodeName, caFile, certFile, keyFile, tokenFile, plaintext, pinPath, metricsPort, stateDir,
                maxBackends, uninstallOnStop, serverName, adminAddress, procSys,
                io.nodelb.agent.events.FlowEvents.Settings.defaults(nodeName));
    }

    public ClusterOptions {
        if (operator == null) {
            throw new UsageException("--operator HOST:PORT is required (or set NODELB_OPERATOR)");
        }
        if (nodeName == null || nodeName.isBlank()) {
            throw new UsageException("--node-name NAME is required (or set NODE_NAME, in a DaemonSet from the"
                    + " pod's spec.nodeName)");
        }
        Objects.requireNonNull(tokenFile, "tokenFile");
        Objects.requireNonNull(pinPath, "pinPath");
        procSys = procSys == null ? HostSettings.DEFAULT_PROC_SYS : procSys;
        if (maxBackends < 0) {
            throw new UsageException("--max-backends must be positive, got " + maxBackends);
        }
        if (metricsPort < 0 || metricsPort > 65535) {
            throw new UsageException("--metrics-port must be a port number (1-65535), got " + metricsPort);
        }
        List<String> tlsGiven = new ArrayList<>();
        List<String> tlsMissing = new ArrayList<>();
        for (var flag : List.of(new Flag("--ca-file", caFile), new Flag("--cert-file", certFile),
                new Flag("--key-file", keyFile))) {
            (flag.value == null ? tlsMissing : tlsGiven).add(flag.name + " (" + ENV.get(flag.name) + ")");
        }
        if (plaintext && !tlsGiven.isEmpty()) {
            throw new UsageException("--plaintext contradicts " + listed(tlsGiven)
                    + ": choose TLS or plaintext");
        }
        if (!plaintext && !tlsMissing.isEmpty()) {
            throw new UsageException("the connection to the operator needs TLS, but " + listed(tlsMissing)
                    + (tlsMissing.size() == 1 ? " is" : " are") + " not given; only a lab may run without TLS,"
                    + " with --plaintext (NODELB_PLAINTEXT=true)");
        }
    }

    private record Flag(String name, Object value) {}

    /** "a", "a and b", "a, b and c". */
    private static String listed(List<String> items) {
        return items.size() == 1 ? items.getFirst()
                : String.join(", ", items.subList(0, items.size() - 1)) + " and " + items.getLast();
    }

    /**
     * Parses the arguments that follow {@code cluster} on the command line.
     *
     * @param env the process environment ({@code System.getenv()}), for the fallbacks
     * @throws UsageException with a message that names the flag and what is wrong with it
     */
    public static ClusterOptions parse(List<String> args, Map<String, String> env) {
        Flags flags = new Flags();
        CommandLine line = commandLine(flags).setDefaultValueProvider(AgentCommand.environment(env));
        try {
            line.parseArgs(args.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new UsageException(fromEnvironment(e.getMessage(), env));
        }
        RunOptions run = flags.run;
        return new ClusterOptions(
                flags.operator == null ? null : OperatorAddress.parse(flags.operator),
                flags.nodeName,
                flags.caFile, flags.certFile, flags.keyFile,
                flags.tokenFile == null ? DEFAULT_TOKEN_FILE : flags.tokenFile,
                flags.plaintext || plaintextFromEnv(env),
                run.pinPath(), run.metricsPort(), run.stateDir(),
                flags.maxBackends == null ? 0 : flags.maxBackends, run.uninstallOnStop(),
                flags.serverName, run.adminAddress(), run.procSys(), run.events(flags.nodeName), run.xdpForward(),
                run.streamSplice());
    }

    /** A bad value that came from a variable is named by its variable too: the person looks at env, not args. */
    private static String fromEnvironment(String message, Map<String, String> env) {
        for (var e : ENV.entrySet()) {
            if (message.contains("'" + e.getKey() + "'") && nonBlank(env.get(e.getValue())) != null) {
                return message + " (from " + e.getValue() + ")";
            }
        }
        return message;
    }

    /** The options and their environment variables, for a usage message. */
    public static String usage() {
        return commandLine(new Flags()).getUsageMessage(CommandLine.Help.Ansi.OFF);
    }

    private static CommandLine commandLine(Flags flags) {
        return new CommandLine(flags).setOverwrittenOptionsAllowed(false).setCaseInsensitiveEnumValuesAllowed(true);
    }

    private static boolean plaintextFromEnv(Map<String, String> env) {
        String value = nonBlank(env.get("NODELB_PLAINTEXT"));
        if (value == null) {
            return false;
        }
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new UsageException("NODELB_PLAINTEXT must be true or false, got '" + value + "'");
        };
    }

    private static String nonBlank(String value) {
        return value == null || value.isBlank() ? null : value.strip();
    }

    /** Where the operator listens: a host name or address and a port. */
    public record OperatorAddress(String host, int port) {

        public OperatorAddress {
            if (host == null || host.isBlank()) {
                throw new UsageException("--operator needs a host");
            }
            if (port < 1 || port > 65535) {
                throw new UsageException("--operator port must be 1-65535, got " + port);
            }
        }

        /** {@code host:port}, {@code 10.0.0.1:9443} or {@code [fd00::1]:9443}. */
        public static OperatorAddress parse(String value) {
            String v = value.strip();
            int colon = v.lastIndexOf(':');
            String host = colon < 0 ? "" : v.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            } else if (host.contains(":")) {
                host = ""; // an IPv6 address without brackets: its port cannot be told apart
            }
            if (host.isEmpty() || colon == v.length() - 1) {
                throw new UsageException("--operator must be HOST:PORT (for example"
                        + " nodelb-operator.nodelb-system.svc:9443, or [fd00::1]:9443), got '" + value + "'");
            }
            try {
                return new OperatorAddress(host, Integer.parseInt(v.substring(colon + 1)));
            } catch (NumberFormatException e) {
                throw new UsageException("--operator port must be a number, got '" + v.substring(colon + 1) + "'");
            }
        }

        @Override
        public String toString() {
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        }
    }

    /** A command line a person has to correct; the message says what and how. */
    public static final class UsageException extends IllegalArgumentException {
        public UsageException(String message) {
            super(message);
        }
    }

    @Command(name = "nodelb-agent cluster", sortOptions = false, usageHelpWidth = 100,
            description = "Runs the agent under the operator: dials it, applies the snapshots it sends for"
                    + " this node, answers each with an ACK or NACK and reports what the node sees.")
    private static final class Flags {
        @Option(names = "--operator", paramLabel = "HOST:PORT",
                description = "the operator's gRPC endpoint (env NODELB_OPERATOR); required")
        String operator;

        @Option(names = "--operator-server-name", paramLabel = "NAME",
                description = "the name the operator's certificate must carry when it is not the HOST of"
                        + " --operator (env NODELB_OPERATOR_SERVER_NAME)")
        String serverName;

        @Option(names = "--node-name", paramLabel = "NAME",
                description = "this node's name (env NODE_NAME); required")
        String nodeName;

        @Option(names = "--ca-file", paramLabel = "FILE",
                description = "PEM CA certificates that sign the operator's certificate (env NODELB_CA_FILE)")
        Path caFile;

        @Option(names = "--cert-file", paramLabel = "FILE",
                description = "PEM certificate chain of this agent (env NODELB_CERT_FILE)")
        Path certFile;

        @Option(names = "--key-file", paramLabel = "FILE",
                description = "its unencrypted PKCS#8 PEM key (env NODELB_KEY_FILE)")
        Path keyFile;

        @Option(names = "--token-file", paramLabel = "FILE",
                description = "projected ServiceAccount token, read at every connect (env NODELB_TOKEN_FILE;"
                        + " default /var/run/secrets/nodelb/token)")
        Path tokenFile;

        @Option(names = "--plaintext",
                description = "no TLS, for a lab only (env NODELB_PLAINTEXT=true); without it the three TLS"
                        + " files are required")
        boolean plaintext;

        @Option(names = "--max-backends", paramLabel = "N",
                description = "the most backends this node's data plane holds (env NODELB_MAX_BACKENDS; default"
                        + " 65535); a snapshot with more is refused with a NACK")
        Integer maxBackends;

        @picocli.CommandLine.Mixin
        RunOptions run = new RunOptions();
    }
}
