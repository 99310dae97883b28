package io.nodelb.agent.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.cluster.ClusterOptions.OperatorAddress;
import io.nodelb.agent.cluster.ClusterOptions.UsageException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The cluster command line: flags, their environment fallbacks, and what a person is told. */
class ClusterOptionsTest {

    private static final List<String> TLS = List.of("--ca-file", "/tls/ca.crt", "--cert-file", "/tls/tls.crt",
            "--key-file", "/tls/tls.key");

    private static List<String> args(String... more) {
        return List.of(more);
    }

    private static List<String> withTls(String... more) {
        return java.util.stream.Stream.concat(TLS.stream(), List.of(more).stream()).toList();
    }

    @Test
    void flagsGiveEveryOption() {
        ClusterOptions o = ClusterOptions.parse(withTls("--operator", "nodelb-operator.nodelb-system.svc:9443",
                "--node-name", "node-1", "--token-file", "/tok", "--pin-path", "/pins", "--metrics-port", "9100"),
                Map.of());

        assertThat(o.operator()).isEqualTo(new OperatorAddress("nodelb-operator.nodelb-system.svc", 9443));
        assertThat(o.nodeName()).isEqualTo("node-1");
        assertThat(o.caFile()).isEqualTo(Path.of("/tls/ca.crt"));
        assertThat(o.certFile()).isEqualTo(Path.of("/tls/tls.crt"));
        assertThat(o.keyFile()).isEqualTo(Path.of("/tls/tls.key"));
        assertThat(o.tokenFile()).isEqualTo(Path.of("/tok"));
        assertThat(o.plaintext()).isFalse();
        assertThat(o.pinPath()).isEqualTo(Path.of("/pins"));
        assertThat(o.metricsPort()).isEqualTo(9100);
    }

    @Test
    void flowEventOptionsAsInStandaloneWithTheirVariables() {
        ClusterOptions o = ClusterOptions.parse(withTls("--operator", "op:9443", "--node-name", "node-1",
                "--access-log", "stdout", "--conntrack-sweep-interval", "3"),
                Map.of("NODELB_ACCESS_LOG_FORMAT", "clf", "NODELB_FLOW_EVENTS_PER_SECOND", "1000"));

        assertThat(o.events().accessLog().stdout()).isTrue();
        assertThat(o.events().accessLog().format()).isEqualTo(io.nodelb.agent.events.AccessLog.Format.CLF);
        assertThat(o.events().sweepInterval()).hasSeconds(3);
        assertThat(o.events().eventsPerSecond()).isEqualTo(1000);
        assertThat(o.events().node()).isEqualTo("node-1");
        assertThat(ClusterOptions.parse(withTls("--operator", "op:9443", "--node-name", "n"), Map.of()).events()
                .accessLog()).as("off by default").isNull();
    }

    @Test
    void aDaemonSetCanSetEverythingThroughTheEnvironment() {
        ClusterOptions o = ClusterOptions.parse(args(), Map.of(
                "NODELB_OPERATOR", "10.96.0.10:9443",
                "NODE_NAME", "node-2",
                "NODELB_CA_FILE", "/tls/ca.crt",
                "NODELB_CERT_FILE", "/tls/tls.crt",
                "NODELB_KEY_FILE", "/tls/tls.key",
                "NODELB_TOKEN_FILE", "/tok"));

        assertThat(o.operator()).isEqualTo(new OperatorAddress("10.96.0.10", 9443));
        assertThat(o.nodeName()).isEqualTo("node-2");
        assertThat(o.keyFile()).isEqualTo(Path.of("/tls/tls.key"));
        assertThat(o.tokenFile()).isEqualTo(Path.of("/tok"));
    }

    @Test
    void theCommonFlagsHaveVariablesToo() {
        ClusterOptions o = ClusterOptions.parse(withTls(), Map.of(
                "NODELB_OPERATOR", "nodelb-operator.nodelb-system.svc:9443",
                "NODE_NAME", "node-3",
                "NODELB_PIN_PATH", "/sys/fs/bpf/other",
                "NODELB_STATE_DIR", "/run/nodelb/other",
                "NODELB_METRICS_PORT", "9444",
                "NODELB_ADMIN_ADDRESS", "127.0.0.1:9445",
                "NODELB_MAX_BACKENDS", "1000",
                "NODELB_PROC_SYS", "/host/proc/sys"));

        assertThat(o.pinPath()).isEqualTo(Path.of("/sys/fs/bpf/other"));
        assertThat(o.stateDir()).isEqualTo(Path.of("/run/nodelb/other"));
        assertThat(o.metricsPort()).isEqualTo(9444);
        assertThat(o.adminAddress()).isEqualTo(new java.net.InetSocketAddress("127.0.0.1", 9445));
        assertThat(o.maxBackends()).isEqualTo(1000);
        assertThat(o.procSys()).isEqualTo(Path.of("/host/proc/sys"));
        assertThat(o.streamSplice()).isFalse();
        assertThat(ClusterOptions.parse(withTls("--operator", "op:1", "--node-name", "n"),
                Map.of("NODELB_STREAM_SPLICE", "on")).streamSplice()).as("the switch's variable").isTrue();
    }

    @Test
    void everyFlagWithAValueHasAVariableAndTheUsageNamesIt() {
        String usage = ClusterOptions.usage();
        ClusterOptions.ENV.forEach((flag, variable) ->
                assertThat(usage).as("usage of " + flag).contains(variable));
        assertThat(ClusterOptions.ENV.keySet()).containsExactlyInAnyOrder("--operator", "--operator-server-name",
                "--node-name", "--ca-file", "--cert-file", "--key-file", "--token-file", "--pin-path",
                "--metrics-port", "--state-dir", "--max-backends", "--admin-address", "--proc-sys", "--access-log",
                "--access-log-format", "--access-log-max-size", "--access-log-max-files", "--conntrack-sweep-interval",
                "--flow-events-per-second", "--xdp-forward");
    }

    @Test
    void aBadValueFromAVariableNamesTheVariable() {
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", "op:1", "--node-name", "n"),
                Map.of("NODELB_METRICS_PORT", "metrics")))
                .isInstanceOf(UsageException.class)
                .hasMessageContaining("--metrics-port").hasMessageContaining("NODELB_METRICS_PORT");
    }

    @Test
    void procSysIsTheHostsOwnByDefault() {
        ClusterOptions o = ClusterOptions.parse(withTls("--operator", "op:9443", "--node-name", "n"), Map.of());

        assertThat(o.procSys()).isEqualTo(Path.of("/proc/sys"));
    }

    @Test
    void aFlagWinsOverItsVariable() {
        ClusterOptions o = ClusterOptions.parse(withTls("--node-name", "from-flag", "--operator", "a:1"),
                Map.of("NODE_NAME", "from-env", "NODELB_OPERATOR", "b:2"));

        assertThat(o.nodeName()).isEqualTo("from-flag");
        assertThat(o.operator()).isEqualTo(new OperatorAddress("a", 1));
    }

    @Test
    void defaultsForTokenPinPathAndMetrics() {
        ClusterOptions o = ClusterOptions.parse(withTls("--operator", "op:9443", "--node-name", "n"), Map.of());

        assertThat(o.tokenFile()).isEqualTo(Path.of("/var/run/secrets/nodelb/token"));
        assertThat(o.pinPath()).isEqualTo(Path.of("/sys/fs/bpf/nodelb"));
        assertThat(o.metricsPort()).isZero();
    }

    @Test
    void withoutTlsFilesItRefusesAndNamesTheMissingFlags() {
        assertThatThrownBy(() -> ClusterOptions.parse(
                args("--operator", "op:9443", "--node-name", "n", "--ca-file", "/ca"), Map.of()))
                .isInstanceOf(UsageException.class)
                .hasMessageContaining("--cert-file (NODELB_CERT_FILE) and --key-file (NODELB_KEY_FILE) are not given")
                .hasMessageContaining("--plaintext")
                .hasMessageNotContaining("--ca-file (");
    }

    @Test
    void plaintextOnlyWhenAskedByFlagOrVariable() {
        assertThat(ClusterOptions.parse(args("--operator", "op:1", "--node-name", "n", "--plaintext"), Map.of())
                .plaintext()).isTrue();
        assertThat(ClusterOptions.parse(args("--operator", "op:1", "--node-name", "n"),
                Map.of("NODELB_PLAINTEXT", "TRUE")).plaintext()).isTrue();
        assertThatThrownBy(() -> ClusterOptions.parse(args("--operator", "op:1", "--node-name", "n"),
                Map.of("NODELB_PLAINTEXT", "false")))
                .isInstanceOf(UsageException.class).hasMessageContaining("needs TLS");
        assertThatThrownBy(() -> ClusterOptions.parse(args("--operator", "op:1", "--node-name", "n"),
                Map.of("NODELB_PLAINTEXT", "yes")))
                .isInstanceOf(UsageException.class).hasMessage("NODELB_PLAINTEXT must be true or false, got 'yes'");
    }

    @Test
    void plaintextAndTlsFilesTogetherAreRefused() {
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", "op:1", "--node-name", "n", "--plaintext"),
                Map.of()))
                .isInstanceOf(UsageException.class)
                .hasMessageStartingWith("--plaintext contradicts --ca-file (NODELB_CA_FILE)");
    }

    @Test
    void nodeNameAndOperatorAreRequiredAndTheMessageNamesTheVariable() {
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", "op:1"), Map.of()))
                .isInstanceOf(UsageException.class).hasMessageStartingWith("--node-name NAME is required (or set NODE_NAME");
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--node-name", "n"), Map.of()))
                .isInstanceOf(UsageException.class).hasMessage("--operator HOST:PORT is required (or set NODELB_OPERATOR)");
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", "op:1"), Map.of("NODE_NAME", " ")))
                .isInstanceOf(UsageException.class).hasMessageStartingWith("--node-name NAME is required");
    }

    @ParameterizedTest
    @ValueSource(strings = {"op", "op:", ":9443", "fd00::1:9443", "op:http", "op:70000"})
    void aBadOperatorAddressIsExplained(String operator) {
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", operator, "--node-name", "n"), Map.of()))
                .isInstanceOf(UsageException.class).hasMessageStartingWith("--operator");
    }

    @Test
    void ipv6OperatorsTakeBrackets() {
        OperatorAddress a = OperatorAddress.parse("[fd00::1]:9443");

        assertThat(a).isEqualTo(new OperatorAddress("fd00::1", 9443));
        assertThat(a.toString()).isEqualTo("[fd00::1]:9443");
    }

    @Test
    void unknownFlagsAndBadNumbersAreUsageErrors() {
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", "op:1", "--node-name", "n", "--config", "x"),
                Map.of()))
                .isInstanceOf(UsageException.class).hasMessageContaining("--config");
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", "op:1", "--node-name", "n",
                "--metrics-port", "http"), Map.of()))
                .isInstanceOf(UsageException.class).hasMessageContaining("--metrics-port").hasMessageContaining("http");
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", "op:1", "--node-name", "n",
                "--metrics-port", "0"), Map.of()))
                .isInstanceOf(UsageException.class).hasMessage("--metrics-port must be a port number (1-65535), got 0");
        assertThatThrownBy(() -> ClusterOptions.parse(withTls("--operator", "op:1", "--operator", "op:2",
                "--node-name", "n"), Map.of()))
                .isInstanceOf(UsageException.class).hasMessageContaining("--operator");
    }

    @Test
    void theUsageListsEveryFlagWithItsVariable() {
        String usage = ClusterOptions.usage();

        for (String flag : List.of("--operator", "--node-name", "--ca-file", "--cert-file", "--key-file",
                "--token-file", "--plaintext", "--pin-path", "--metrics-port")) {
            assertThat(usage).contains(flag);
        }
        for (String variable : List.of("NODELB_OPERATOR", "NODE_NAME", "NODELB_CA_FILE", "NODELB_CERT_FILE",
                "NODELB_KEY_FILE", "NODELB_TOKEN_FILE", "NODELB_PLAINTEXT")) {
            assertThat(usage).contains(variable);
        }
    }

    @Test
    void theXdpFastPathIsOffUnlessTurnedOnByFlagOrVariable() {
        List<String> base = withTls("--operator", "op:9443", "--node-name", "n");
        assertThat(ClusterOptions.parse(base, Map.of()).xdpForward())
                .isEqualTo(io.nodelb.agent.dataplane.XdpForward.Mode.OFF);
        List<String> on = new java.util.ArrayList<>(base);
        on.addAll(List.of("--xdp-forward", "auto"));
        assertThat(ClusterOptions.parse(on, Map.of()).xdpForward())
                .isEqualTo(io.nodelb.agent.dataplane.XdpForward.Mode.AUTO);
        assertThat(ClusterOptions.parse(base, Map.of("NODELB_XDP_FORWARD", "AUTO")).xdpForward())
                .isEqualTo(io.nodelb.agent.dataplane.XdpForward.Mode.AUTO);
        assertThatThrownBy(() -> ClusterOptions.parse(base, Map.of("NODELB_XDP_FORWARD", "maybe")))
                .isInstanceOf(ClusterOptions.UsageException.class).hasMessageContaining("--xdp-forward must be auto or off");
    }
}
