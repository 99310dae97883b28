package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An agent that dies (kill -9) leaves a data plane that keeps forwarding, and the next agent
 * takes it over: it installs its own programs on the same links, removes what the file no
 * longer asks for, and puts every host setting back exactly as the host had it.
 */
@Privileged
class LabRestartIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(2);

    private static final InetSocketAddress HTTP = new InetSocketAddress(address(Lab.VIP_V4), 80);
    private static final InetSocketAddress ALT = new InetSocketAddress(address(Lab.VIP_V4), 81);
    private static final InetSocketAddress CLIENT = new InetSocketAddress(address(Lab.CLIENT_V4), 0);
    private static final Pattern PROG_ID = Pattern.compile("\"prog_id\":(\\d+)");

    /** Two listeners, each to its own group, on both interfaces. */
    private static final String BEFORE = file(
            targetGroup("web", 8080, weights("be1", 1)),
            targetGroup("other", 8080, weights("be2", 1)),
            loadBalancer("lab", "DNAT", null,
                    listener("http", Lab.VIP_V4, 80, "TCP", "web"),
                    listener("alt", Lab.VIP_V4, 81, "TCP", "other")));
    /** While the agent was down: listener alt and group other gone, be2 added to web, n1 dropped. */
    private static final String AFTER = file(
            targetGroup("web", 8080, weights("be1", 1, "be2", 1)),
            loadBalancer("lab", "DNAT", null, listener("http", Lab.VIP_V4, 80, "TCP", "web")))
            .replace("interfaces: [n0, n1]", "interfaces: [n0]");

    @AfterEach
    void stopAgents() throws Exception {
        LAB.stopAgents();
        LAB.uninstall(LAB.pinPath());
    }

    @Test
    void aRestartAfterTheFileChangedConvergesAndRunsTheNewPrograms() throws Exception {
        Agent first = LAB.startAgent(BEFORE);
        assertThat(get(HTTP)).isEqualTo("be1");
        assertThat(get(ALT)).as("the listener that is removed while no agent runs").isEqualTo("be2");
        Map<String, Integer> programsBefore = runningPrograms();
        Traffic.HttpConnection open = LAB.client().call(() -> Traffic.HttpConnection.open(CLIENT, HTTP));
        assertThat(LAB.client().call(() -> open.get("/"))).isEqualTo("be1");
        first.kill();

        // With no agent, the pinned data plane keeps forwarding, old flows and new ones.
        assertThat(LAB.client().call(() -> open.get("/"))).as("an open connection after kill -9").isEqualTo("be1");
        assertThat(get(HTTP)).as("a new connection to VIP:80 with no agent running").isEqualTo("be1");

        Agent second = LAB.launchAgent(AFTER);
        second.awaitProgrammed(0);
        assertThat(LAB.client().call(() -> open.get("/"))).as("the same connection after the restart")
                .isEqualTo("be1");
        open.close();
        Map<String, Integer> programsAfter = runningPrograms();

        assertThat(programsAfter.keySet()).as("pinned links after the restart: n1 was let go")
                .containsExactlyInAnyOrder("link_xdp_n0", "link_tc_n0");
        assertThat(programsAfter.get("link_xdp_n0")).as("program on the adopted XDP link")
                .isNotEqualTo(programsBefore.get("link_xdp_n0"));
        assertThat(programsAfter.get("link_tc_n0")).as("program on the adopted TC link")
                .isNotEqualTo(programsBefore.get("link_tc_n0"));
        assertThat(LAB.hasXdp("n1")).as("XDP on n1, no longer in the file").isFalse();
        assertThatThrownBy(() -> get(ALT)).as("VIP:81, removed while no agent ran, is no longer translated")
                .isInstanceOf(IOException.class);
        Map<String, Integer> answers = LAB.client().call(() -> Traffic.countTcp(address(Lab.CLIENT_V4), HTTP, 60));
        assertThat(answers).as("new connections to VIP:80 after the restart").containsOnlyKeys("be1", "be2");

        // What the adopting agent programmed equals what a fresh start programs.
        Map<String, String> adopted = listenersAndPorts();
        assertThat(second.stop()).isIn(0, 143);
        LAB.uninstall(LAB.pinPath());
        LAB.startAgent(AFTER);
        assertThat(listenersAndPorts()).as("maps after a fresh start").isEqualTo(adopted);
    }

    @Test
    void hostSettingsComeBackExactlyAfterAKillAndARestart() throws Exception {
        LAB.exec(LAB.node(), "sysctl", "-q", "-w", "net.ipv4.ip_local_reserved_ports=30000-32767",
                "net.ipv4.conf.n0.accept_local=0", "net.ipv4.conf.n1.rp_filter=1", "net.ipv4.conf.n0.rp_filter=0");
        Map<String, String> admins = settings();

        Agent first = LAB.startAgent(BEFORE);
        Map<String, String> running = settings();
        assertThat(running).as("while the agent runs").containsEntry("net.ipv4.ip_local_reserved_ports",
                "30000-32767,61000-65535").containsEntry("net.ipv4.conf.n0.accept_local", "1")
                .containsEntry("net.ipv4.conf.n1.rp_filter", "2").containsEntry("net.ipv4.conf.n0.rp_filter", "0");
        first.kill();
        assertThat(settings()).as("after kill -9: nothing put them back yet").isEqualTo(running);

        Agent second = LAB.startAgent(BEFORE);
        assertThat(settings()).as("while the restarted agent runs").isEqualTo(running);
        assertThat(second.stop()).isIn(0, 143);
        assertThat(settings()).as("after SIGTERM: the data plane still runs and needs them").isEqualTo(running);

        LAB.uninstall(LAB.pinPath());
        assertThat(settings()).as("after uninstall: the admin's values").isEqualTo(admins);
    }

    @Test
    void aSecondAgentIsRefusedWithAMessage() throws Exception {
        Agent first = LAB.startAgent(BEFORE);

        Agent samePins = LAB.launchAgent(BEFORE);
        assertThat(samePins.awaitExit(Duration.ofSeconds(30))).isNotZero();
        assertThat(samePins.stderr()).as("stderr of an agent on the same pin path")
                .anySatisfy(line -> assertThat(line).contains("another nodelb agent is running on the data plane"
                        + " pinned under " + LAB.pinPath()))
                .noneSatisfy(line -> assertThat(line).contains("Exception"));

        Path otherPins = Path.of(LAB.pinPath() + "-other");
        try {
            Agent otherPinsAgent = LAB.launchAgent(BEFORE, otherPins);
            assertThat(otherPinsAgent.awaitExit(Duration.ofSeconds(30))).isNotZero();
            assertThat(otherPinsAgent.stderr()).as("stderr of an agent on the same interfaces")
                    .anySatisfy(line -> assertThat(line).contains("already runs an XDP program that is not this agent's"))
                    .noneSatisfy(line -> assertThat(line).startsWith("\tat "));
            assertThat(otherPins).as("the refused agent's pin directory").doesNotExist();
        } finally {
            Command.run("rm", "-rf", otherPins.toString());
        }
        assertThat(get(HTTP)).as("the first agent still serves").isEqualTo("be1");
        assertThat(first.isAlive()).isTrue();
    }

    @Test
    void readinessSaysWhenTheProgramsAreNoLongerAttached() throws Exception {
        int port = 19_000 + (int) (ProcessHandle.current().pid() % 1000);
        Agent agent = LAB.launchAgent(BEFORE, LAB.pinPath(), "--metrics-port", Integer.toString(port));
        agent.awaitProgrammed(0);
        assertThat(probe(port, "/readyz")).isEqualTo(200);

        String pin = LAB.pinPath().resolve("v" + Abi.LAYOUT_VERSION + "/link_xdp_n1").toString();
        Matcher id = Pattern.compile("\"id\":(\\d+)").matcher(Command.run("bpftool", "-j", "link", "show", "pinned", pin));
        assertThat(id.find()).isTrue();
        Command.run("bpftool", "link", "detach", "id", id.group(1));

        assertThat(probe(port, "/readyz")).as("readiness with n1's XDP link detached by someone").isEqualTo(503);
        assertThat(probe(port, "/livez")).as("liveness meanwhile").isEqualTo(200);
        assertThat(agent.stop()).isIn(0, 143);
    }

    @Test
    void aDrainedNodeIsNotReadyAndStillServesOldAndNewFlows() throws Exception {
        int port = 19_000 + (int) (ProcessHandle.current().pid() % 1000);
        int admin = port + 1;
        Agent agent = LAB.launchAgent(BEFORE, LAB.pinPath(), "--metrics-port", Integer.toString(port),
                "--admin-address", "127.0.0.1:" + admin);
        agent.awaitProgrammed(0);
        Traffic.HttpConnection open = LAB.client().call(() -> Traffic.HttpConnection.open(CLIENT, HTTP));
        assertThat(LAB.client().call(() -> open.get("/"))).isEqualTo("be1");
        assertThat(probe(port, "/readyz")).isEqualTo(200);

        Command.run("kill", "-USR1", Long.toString(agent.pid()));

        assertThat(probeUntil(port, "/readyz", 503)).as("readiness while draining").isEqualTo(503);
        assertThat(probe(port, "/livez")).as("liveness while draining").isEqualTo(200);
        assertThat(LAB.client().call(() -> open.get("/"))).as("an open connection while draining").isEqualTo("be1");
        assertThat(get(HTTP)).as("a new connection while draining").isEqualTo("be1");
        assertThat(LAB.exec(LAB.node(), "curl", "-s", "http://" + Lab.NODE_LAN_V4 + ":" + port + "/metrics"))
                .contains("nodelb_draining 1.0");
        assertThat(Command.result("ip", "netns", "exec", LAB.node(), "curl", "-s", "-m", "2",
                "http://" + Lab.NODE_LAN_V4 + ":" + admin + "/drain").succeeded())
                .as("the admin endpoint on another address than the one given").isFalse();

        assertThat(LAB.exec(LAB.node(), "curl", "-s", "-X", "POST", "http://127.0.0.1:" + admin + "/undrain"))
                .isEqualTo("serving\n");
        assertThat(probe(port, "/readyz")).as("readiness after undrain").isEqualTo(200);
        open.close();
    }

    private static String get(InetSocketAddress vip) throws Exception {
        return LAB.client().call(() -> Traffic.get(CLIENT, vip, "/"));
    }

    /** Program id per pinned link. */
    private static Map<String, Integer> runningPrograms() throws Exception {
        Map<String, Integer> out = new java.util.TreeMap<>();
        try (var pins = Files.list(LAB.pinPath().resolve("v" + Abi.LAYOUT_VERSION))) {
            for (Path pin : pins.filter(p -> p.getFileName().toString().startsWith("link_")).toList()) {
                Matcher m = PROG_ID.matcher(Command.run("bpftool", "-j", "link", "show", "pinned", pin.toString()));
                assertThat(m.find()).as("prog_id of %s", pin).isTrue();
                out.put(pin.getFileName().toString(), Integer.parseInt(m.group(1)));
            }
        }
        return out;
    }

    /** The listener keys and the port filters as bpftool dumps them: ids aside, what a packet meets. */
    private static Map<String, String> listenersAndPorts() throws Exception {
        Map<String, String> out = new java.util.TreeMap<>();
        Path maps = LAB.pinPath().resolve("v" + Abi.LAYOUT_VERSION);
        out.put("listener keys", new TreeSet<>(List.of(Pattern.compile("\"key\":\\[[^]]*]")
                .matcher(Command.run("bpftool", "-j", "map", "dump", "pinned", maps.resolve("nlb_listeners").toString()))
                .results().map(r -> r.group()).toArray(String[]::new))).toString());
        for (String ports : List.of("nlb_dports", "nlb_sports")) {
            out.put(ports, Pattern.compile("\"value\":\\[[^]]*]").matcher(
                    Command.run("bpftool", "-j", "map", "dump", "pinned", maps.resolve(ports).toString()))
                    .results().map(r -> r.group()).filter(v -> v.matches(".*0x[1-9a-f].*")).toList().toString());
        }
        return out;
    }

    private static Map<String, String> settings() throws Exception {
        Map<String, String> out = new java.util.TreeMap<>();
        for (String key : List.of("net.ipv4.ip_local_reserved_ports", "net.ipv4.conf.n0.accept_local",
                "net.ipv4.conf.n1.accept_local", "net.ipv4.conf.n0.rp_filter", "net.ipv4.conf.n1.rp_filter")) {
            out.put(key, LAB.exec(LAB.node(), "sysctl", "-n", key).strip());
        }
        return out;
    }

    /** Probes until the endpoint answers {@code wanted} (a signal is handled asynchronously), at most 5 s. */
    private static int probeUntil(int port, String path, int wanted) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        int status;
        do {
            status = probe(port, path);
        } while (status != wanted && System.nanoTime() < deadline && sleep());
        return status;
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(100);
        return true;
    }

    /** The HTTP status of the agent's endpoint, asked from inside the node namespace (it may still be starting). */
    private static int probe(int port, String path) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (true) {
            var result = Command.result("ip", "netns", "exec", LAB.node(), "curl", "-s", "-o", "/dev/null",
                    "-w", "%{http_code}", "-m", "2", "http://" + Lab.NODE_LAN_V4 + ":" + port + path);
            if (result.succeeded() || System.nanoTime() > deadline) {
                return Integer.parseInt(result.stdout().strip());
            }
            Thread.sleep(100);
        }
    }
}
