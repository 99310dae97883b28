package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.assertFollowWeights;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.lifecycle.Capabilities;
import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The agent runs with exactly the capabilities the Helm chart grants it, and needs each one:
 * with them it programs a file, balances real HTTP through the VIP, finishes on SIGTERM leaving
 * the data plane serving, and the next agent (a rolling update's) adopts it; without any one of
 * them the kernel refuses and the agent says which capability is missing and why it needs it.
 *
 * <p>The list comes from one place, the chart's {@code helm/nodelb/values.yaml}
 * ({@code agent.capabilities}), which the chart's DaemonSet renders into its
 * {@code securityContext.capabilities.add} (the helm module's tests check that).
 *
 * <p>How the agent is started mirrors the DaemonSet's securityContext ({@code runAsUser: 0},
 * {@code capabilities: {drop: [ALL], add: LIST}}, {@code allowPrivilegeEscalation: false}): a
 * container runtime gives such a root process exactly LIST as its bounding, permitted and
 * effective sets, nothing inheritable or ambient, and no_new_privs. {@code setpriv} does the
 * same here: it clears the inheritable and ambient sets, reduces the bounding set to LIST and
 * sets no_new_privs; the launcher's exec as root then leaves permitted = effective = bounding.
 * (A non-root uid with ambient capabilities would be the other way, but Kubernetes cannot set
 * ambient capabilities, so the chart runs the agent as root.) Like a container, the agent sees
 * /proc/sys read-only and the host's /proc/sys/net at another path ({@code --proc-sys}), in a
 * mount namespace of its own.
 */
@Privileged
class LabCapabilitiesIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(2);

    private static final int METRICS_PORT = 19444;
    private static final InetSocketAddress VIP = new InetSocketAddress(address(Lab.VIP_V4), 80);
    private static final String CONFIG = file(
            targetGroup("web", 8080, weights("be1", 1, "be2", 1)),
            loadBalancer("lab", "DNAT", null, listener("http", Lab.VIP_V4, 80, "TCP", "web")));

    /** The chart's list, e.g. [BPF, NET_ADMIN, PERFMON] (Kubernetes spells them without CAP_). */
    static List<String> chartCapabilities() throws IOException {
        Path values = Lab.findTop().resolve("helm/nodelb/values.yaml");
        Map<String, Object> chart = new org.yaml.snakeyaml.Yaml().load(Files.readString(values));
        Object list = chart.get("agent") instanceof Map<?, ?> agent ? agent.get("capabilities") : null;
        assertThat(list).as("agent.capabilities in %s", values).isInstanceOf(List.class);
        return ((List<?>) list).stream().map(String::valueOf).toList();
    }

    static Stream<String> eachCapability() throws IOException {
        return chartCapabilities().stream();
    }

    @AfterEach
    void uninstall() throws Exception {
        LAB.stopAgents();
        LAB.uninstall(LAB.pinPath());
    }

    @Test
    void theChartGrantsWhatTheAgentNamesAsRequired() throws IOException {
        assertThat(chartCapabilities().stream().map(c -> "CAP_" + c).toList())
                .as("values.yaml agent.capabilities and the agent's own list (Capabilities.REQUIRED)")
                .containsExactlyElementsOf(Capabilities.REQUIRED.keySet());
    }

    @Test
    void withExactlyTheChartsCapabilitiesItProgramsBalancesFinishesAndIsAdopted() throws Exception {
        List<String> granted = chartCapabilities();
        Agent agent = LAB.launchAgentWrapped(asInAContainer(granted), CONFIG, LAB.pinPath(),
                "--metrics-port", Integer.toString(METRICS_PORT), "--proc-sys", hostProcSys().toString());
        agent.awaitProgrammed(0);

        Map<String, String> status = status(agent.pid());
        assertThat(decode(status.get("CapBnd"))).as("bounding set").isEqualTo(Set.copyOf(granted));
        assertThat(decode(status.get("CapPrm"))).as("permitted set").isEqualTo(Set.copyOf(granted));
        assertThat(decode(status.get("CapEff"))).as("effective set").isEqualTo(Set.copyOf(granted));
        assertThat(decode(status.get("CapInh"))).as("inheritable set").isEmpty();
        assertThat(decode(status.get("CapAmb"))).as("ambient set").isEmpty();
        assertThat(status.get("NoNewPrivs")).as("no_new_privs (allowPrivilegeEscalation: false)").isEqualTo("1");
        assertThat(status.get("Uid").split("\\s+")[0]).as("uid").isEqualTo("0");
        assertThat(Files.readAllLines(Path.of("/proc/" + agent.pid() + "/mountinfo")))
                .as("the agent sees /proc/sys read-only, as in a container")
                .anySatisfy(line -> {
                    String[] fields = line.split(" ");
                    assertThat(fields[4]).isEqualTo("/proc/sys");
                    assertThat(fields[5].split(",")).contains("ro");
                });

        // The host settings went through --proc-sys, the only writable way.
        assertThat(LAB.exec(LAB.node(), "sysctl", "-n", "net.ipv4.conf.n0.accept_local").strip()).isEqualTo("1");
        assertThat(LAB.exec(LAB.node(), "sysctl", "-n", "net.ipv4.ip_local_reserved_ports")).contains("61000-65535");
        assertThat(agent.stderr()).as("no sysctl refused").noneSatisfy(l -> assertThat(l).contains("cannot set"));
        assertThat(readyz()).as("/readyz on --metrics-port").isEqualTo("200");

        Map<String, Integer> answers = LAB.client().call(Duration.ofSeconds(60),
                () -> Traffic.countTcp(address(Lab.CLIENT_V4), VIP, 200));
        assertFollowWeights("HTTP through the VIP, agent with only " + granted, answers, weights("be1", 1, "be2", 1));

        assertThat(agent.stop()).as("exit code after SIGTERM").isIn(0, 143);
        assertThat(LAB.hasXdp("n0")).as("XDP on n0 after SIGTERM: the data plane keeps serving").isTrue();
        assertThat(get()).as("the VIP with no agent running").isIn("be1", "be2");

        // The next agent of a rolling update, with the same capabilities, adopts the data plane.
        Agent next = LAB.launchAgentWrapped(asInAContainer(granted), CONFIG, LAB.pinPath(),
                "--metrics-port", Integer.toString(METRICS_PORT), "--proc-sys", hostProcSys().toString());
        next.awaitProgrammed(0);
        assertThat(String.join("\n", next.stderr()) + String.join("\n", next.stdout()))
                .as("the links taken over, not re-attached").contains("adopted the links on n0")
                .contains("adopted the links on n1");
        assertThat(readyz()).isEqualTo("200");
        assertThat(get()).as("the VIP under the adopting agent").isIn("be1", "be2");
        assertThat(next.stop()).isIn(0, 143);
    }

    @ParameterizedTest(name = "without CAP_{0}")
    @MethodSource("eachCapability")
    void withoutOneOfThemItFailsAndSaysWhichAndWhy(String missing) throws Exception {
        List<String> granted = new ArrayList<>(chartCapabilities());
        granted.remove(missing);
        Agent agent = LAB.launchAgentWrapped(asInAContainer(granted), CONFIG, LAB.pinPath(),
                "--proc-sys", hostProcSys().toString());

        int exitCode = agent.awaitExit(Duration.ofSeconds(60));

        assertThat(exitCode).as("exit code without CAP_%s", missing).isNotZero();
        assertThat(agent.stderr()).as("the kernel refused")
                .anySatisfy(l -> assertThat(l).containsAnyOf("(EPERM)", "(EACCES)"));
        assertThat(agent.stderr()).as("and the agent names what is missing")
                .anySatisfy(l -> assertThat(l).startsWith("nodelb-agent: this process lacks CAP_" + missing + ";"))
                .anySatisfy(l -> assertThat(l).startsWith("nodelb-agent:   CAP_" + missing + ": "));
        assertThat(agent.stdout()).noneSatisfy(l -> assertThat(l).contains("programmed version"));
        assertThat(LAB.hasXdp("n0")).as("XDP on n0").isFalse();
        assertThat(LAB.hasXdp("n1")).as("XDP on n1").isFalse();
    }

    /**
     * The commands between nsenter and the launcher: a mount namespace where /proc/sys is
     * read-only and the host's /proc/sys/net is at {@link #hostProcSys()}/net, then setpriv with
     * exactly {@code capabilities}. Each execs the next, so the agent's pid is the JVM's.
     */
    private static List<String> asInAContainer(List<String> capabilities) throws IOException {
        Path host = hostProcSys();
        Files.createDirectories(host.resolve("net"));
        String bounding = Stream.concat(Stream.of("-all"),
                capabilities.stream().map(c -> "+" + c.toLowerCase(Locale.ROOT))).collect(Collectors.joining(","));
        return List.of(
                "unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", "mount --bind /proc/sys/net \"$0/net\" && mount --bind /proc/sys /proc/sys"
                        + " && mount -o remount,bind,ro /proc/sys && exec \"$@\"", host.toString(),
                "setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=" + bounding, "--no-new-privs",
                "--");
    }

    /** Where the "container" finds the host's /proc/sys (the chart: /host/proc/sys). */
    private static Path hostProcSys() {
        return LAB.runDir().resolve("host/proc/sys");
    }

    private static Map<String, String> status(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream().filter(l -> l.contains(":\t"))
                .collect(Collectors.toMap(l -> l.substring(0, l.indexOf(':')), l -> l.substring(l.indexOf('\t') + 1)));
    }

    /** A capability set as capsh decodes it, in Kubernetes' spelling: {NET_ADMIN, PERFMON, BPF}. */
    private static Set<String> decode(String hex) throws IOException, InterruptedException, TimeoutException {
        String decoded = Command.run("capsh", "--decode=" + hex.strip()).strip(); // 0x...=cap_a,cap_b
        String names = decoded.substring(decoded.indexOf('=') + 1);
        return names.isEmpty() ? Set.of() : Arrays.stream(names.split(","))
                .map(n -> n.replaceFirst("^cap_", "").toUpperCase(Locale.ROOT))
                .collect(Collectors.toCollection(TreeSet::new));
    }

    private static String readyz() throws Exception {
        return LAB.exec(LAB.node(), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                "http://127.0.0.1:" + METRICS_PORT + "/readyz");
    }

    private static String get() throws Exception {
        return LAB.client().call(() -> Traffic.get(new InetSocketAddress(address(Lab.CLIENT_V4), 0), VIP, "/"));
    }
}
