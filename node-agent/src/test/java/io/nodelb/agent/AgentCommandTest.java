package io.nodelb.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The agent's command line, parsed without running anything. */
class AgentCommandTest {

    private static AgentCommand.Standalone standalone(Map<String, String> env, String... args) {
        CommandLine line = AgentCommand.commandLine(env);
        CommandLine.ParseResult parsed = line.parseArgs(args);
        return (AgentCommand.Standalone) parsed.subcommand().commandSpec().userObject();
    }

    @Test
    void standaloneTakesTypedOptionsWithDefaults() {
        AgentCommand.Standalone s = standalone(Map.of(), "standalone", "--config", "lab.yaml", "--metrics-port", "9400",
                "--admin-address", "127.0.0.1:9401", "--uninstall-on-stop");
        assertThat(s.config).isEqualTo(Path.of("lab.yaml"));
        assertThat(s.running.pinPath()).isEqualTo(Path.of("/sys/fs/bpf/nodelb"));
        assertThat(s.running.stateDir()).isEqualTo(Path.of("/run/nodelb/sys/fs/bpf/nodelb"));
        assertThat(s.running.metricsPort()).isEqualTo(9400);
        assertThat(s.running.adminAddress().getPort()).isEqualTo(9401);
        assertThat(s.running.uninstallOnStop()).isTrue();
    }

    @Test
    void everyOptionFallsBackToItsVariableAndAFlagWins() {
        Map<String, String> env = Map.of("NODELB_CONFIG", "/etc/nodelb/lab.yaml", "NODELB_PIN_PATH", "/sys/fs/bpf/x",
                "NODE_NAME", "node-7", "NODELB_METRICS_PORT", "9500");
        AgentCommand.Standalone s = standalone(env, "standalone", "--pin-path", "/sys/fs/bpf/y");
        assertThat(s.config).isEqualTo(Path.of("/etc/nodelb/lab.yaml"));
        assertThat(s.nodeName).isEqualTo("node-7");
        assertThat(s.running.metricsPort()).isEqualTo(9500);
        assertThat(s.running.pinPath()).as("the flag wins").isEqualTo(Path.of("/sys/fs/bpf/y"));
    }

    @Test
    void bothModesTakeTheRunningOptionsFromOneDeclaration() {
        String cluster = io.nodelb.agent.cluster.ClusterOptions.usage();
        for (OptionSpec option : AgentCommand.commandLine(Map.of()).getSubcommands().get("standalone")
                .getCommandSpec().options()) {
            if (!option.usageHelp() && !option.versionHelp() && !option.longestName().equals("--config")) {
                assertThat(cluster).as("cluster --help lists " + option.longestName()).contains(option.longestName());
            }
        }
        assertThat(standalone(Map.of("NODELB_STREAM_SPLICE", "on"), "standalone", "--config", "f")
                .running.streamSplice()).as("the switch's variable, as in cluster mode").isTrue();
        assertThat(standalone(Map.of(), "standalone", "--config", "f").running.streamSplice()).isFalse();
        assertThatThrownBy(() -> standalone(Map.of(), "standalone", "--config", "f", "--admin-address",
                "fd00::1:9401").running.adminAddress())
                .as("an IPv6 address takes brackets, as --operator's").hasMessageStartingWith("--admin-address must be");
        assertThat(standalone(Map.of(), "standalone", "--config", "f", "--admin-address", "[fd00::1]:9401")
                .running.adminAddress().getPort()).isEqualTo(9401);
    }

    @Test
    void flowEventOptionsWithTheirDefaultsAndVariables() {
        var off = standalone(Map.of(), "standalone", "--config", "f").running.events("node-1");
        assertThat(off.accessLog()).as("the access log is off by default").isNull();
        assertThat(off.sweepInterval()).hasSeconds(10);
        assertThat(off.eventsPerSecond()).isNull();
        assertThat(off.node()).isEqualTo("node-1");

        var on = standalone(Map.of("NODELB_ACCESS_LOG_FORMAT", "clf", "NODELB_ACCESS_LOG_MAX_FILES", "3"),
                "standalone", "--config", "f", "--access-log", "/var/log/nodelb/access.log",
                "--access-log-max-size", "10MB", "--conntrack-sweep-interval", "2", "--flow-events-per-second", "500")
                .running.events("n");
        assertThat(on.accessLog()).isEqualTo(new io.nodelb.agent.events.AccessLog.Settings(
                "/var/log/nodelb/access.log", io.nodelb.agent.events.AccessLog.Format.CLF, 10L << 20, 3));
        assertThat(on.sweepInterval()).hasSeconds(2);
        assertThat(on.eventsPerSecond()).isEqualTo(500);
        assertThat(standalone(Map.of("NODELB_ACCESS_LOG", "stdout"), "standalone", "--config", "f")
                .running.events("n").accessLog().stdout()).isTrue();

        assertThatThrownBy(() -> standalone(Map.of(), "standalone", "--config", "f", "--access-log", "stdout",
                "--access-log-format", "xml").running.events("n"))
                .hasMessage("--access-log-format must be json or clf, got 'xml'");
        assertThatThrownBy(() -> standalone(Map.of(), "standalone", "--config", "f", "--access-log", "a.log",
                "--access-log-max-files", "1").running.events("n"))
                .hasMessageStartingWith("--access-log-max-files must be at least 2");
        assertThatThrownBy(() -> standalone(Map.of(), "standalone", "--config", "f", "--access-log", "a.log",
                "--access-log-max-size", "lots").running.events("n"))
                .hasMessage("--access-log-max-size must be a size such as 100MB, got 'lots'");
    }

    @Test
    void everyOptionWithAValueNamesItsVariableInItsHelp() {
        for (String command : new String[] {"standalone", "uninstall"}) {
            for (OptionSpec option : AgentCommand.commandLine(Map.of()).getSubcommands().get(command)
                    .getCommandSpec().options()) {
                if (option.arity().max() > 0) {
                    assertThat(String.join(" ", option.description())).as("%s %s", command, option.longestName())
                            .contains("env " + AgentCommand.environmentVariable(option.longestName()));
                }
            }
        }
    }

    @Test
    void aWrongCommandLineExitsWith2AndSaysWhat() {
        assertThat(run("standalone")).startsWith("2|nodelb-agent: Missing required option: '--config=FILE'")
                .contains("nodelb-agent standalone --help lists every option");
        assertThat(run("standalone", "--config", "f", "--bogus")).startsWith("2|nodelb-agent: Unknown option: '--bogus'");
        assertThat(run("standalone", "--config", "f", "--metrics-port", "many"))
                .startsWith("2|nodelb-agent: Invalid value for option '--metrics-port': 'many' is not an int");
        assertThat(run("deploy")).startsWith("2|nodelb-agent: Unmatched argument at index 0: 'deploy'");
        assertThat(run()).startsWith("2|nodelb-agent: a command is required: standalone, cluster, uninstall or version");
    }

    @Test
    void helpAndVersion() {
        assertThat(run("--help")).startsWith("0|").contains("standalone", "cluster", "uninstall", "version");
        assertThat(run("standalone", "--help")).startsWith("0|").contains("--config=FILE", "env NODELB_CONFIG");
        assertThat(run("version")).startsWith("0|nodelb-agent ").contains("data plane layout v");
    }

    @Test
    void clusterGetsItsArgumentsAndRefusesWithoutAnOperator() {
        // ClusterOptions parses them (ClusterOptionsTest); here: they reach it, and a refusal exits 2.
        assertThat(run("cluster", "--node-name", "n1")).startsWith("2|");
        assertThat(run("cluster", "--help")).startsWith("0|");
    }

    /** "exit code|what it printed". */
    private static String run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code = AgentCommand.execute(args, Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(out, true, StandardCharsets.UTF_8));
        return code + "|" + out.toString(StandardCharsets.UTF_8);
    }
}
