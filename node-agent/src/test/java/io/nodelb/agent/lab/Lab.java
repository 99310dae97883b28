package io.nodelb.agent.lab;

import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.NetnsThread;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.opentest4j.TestAbortedException;

/**
 * One lab ({@code deploy/lab/lab.sh}) for a test class, registered as a static
 * {@code @RegisterExtension} field: built with its nginx backends before the class's own
 * {@code @BeforeAll}, torn down after its {@code @AfterAll} (and when building fails, and
 * from a shutdown hook if the JVM ends first). The id is random per run.
 *
 * <p>Agents started through {@link #startAgent} are stopped with SIGTERM at the end; their
 * output is appended to every failure of the class. After {@code lab.sh down} the extension
 * checks that nothing of the lab is left: namespaces, run directory, pins, and the BPF links
 * the agents had pinned.
 */
public final class Lab implements BeforeAllCallback, AfterAllCallback, TestExecutionExceptionHandler,
        LifecycleMethodExecutionExceptionHandler {

    public static final String CLIENT_V4 = "10.1.0.2";
    public static final String SECOND_CLIENT_V4 = "10.1.0.3";
    public static final String CLIENT_V6 = "fd00:1:0::2";
    public static final String SECOND_CLIENT_V6 = "fd00:1:0::3";
    public static final String VIP_V4 = "10.1.1.1";
    public static final String VIP_V6 = "fd00:1:1::1";
    public static final String NODE_LAN_V4 = "10.1.2.1";
    public static final String NODE_LAN_V6 = "fd00:1:2::1";
    /** The client's address on its link to node 2 (lab.sh up ID BACKENDS 2): sources there go through node 2. */
    public static final String CLIENT_NODE2_V4 = "10.1.3.2";
    public static final String NODE2_LAN_V4 = "10.1.2.2";
    static final Path RUN_DIR = Path.of("/run/nodelb-lab");

    private static final Duration LAB_TIMEOUT = Duration.ofSeconds(60);
    private static final Pattern LINK_ID = Pattern.compile("\"id\":(\\d+)");

    private final int backends;
    private final int nodes;
    private final List<Agent> agents = new ArrayList<>();
    private final List<Integer> linkIds = new ArrayList<>();
    private String id;
    private Path top;
    private NetnsThread client;
    private Thread shutdownHook;
    private volatile boolean down;

    private Lab(int backends, int nodes) {
        this.backends = backends;
        this.nodes = nodes;
    }

    public static Lab withBackends(int backends) {
        return new Lab(backends, 1);
    }

    /** Two nodes in front of the same backends (lab.sh up ID BACKENDS 2): see deploy/lab/lab.sh. */
    public static Lab withTwoNodes(int backends) {
        return new Lab(backends, 2);
    }

    // ---- names and addresses ----

    public String id() {
        return id;
    }

    public String namespace(String role) {
        return "nlb-" + id + "-" + role;
    }

    public String node() {
        return namespace("node");
    }

    public String backend(int k) {
        return namespace("be" + k);
    }

    public static String backendV4(int k) {
        return "10.1.2." + (10 + k);
    }

    public static String backendV6(int k) {
        return "fd00:1:2::" + (10 + k);
    }

    public Path pinPath() {
        return Path.of("/sys/fs/bpf/nodelb-lab-" + id);
    }

    /** The namespace of node 1 or 2. */
    public String node(int k) {
        return k == 1 ? node() : namespace("node" + k);
    }

    /** The pin path of the agent on node 1 or 2 (lab.sh down removes both). */
    public Path pinPath(int k) {
        return k == 1 ? pinPath() : Path.of(pinPath() + "-node" + k);
    }

    /** The repository root. */
    public Path top() {
        return top;
    }

    /**
     * Starts {@code bin/nodelb-agent ARGS} in node {@code k}, pinning under {@link #pinPath(int)}
     * with its state in the lab's run directory; returns at once.
     */
    public Agent launchAgentCommand(int k, String... args) throws IOException {
        String name = "agent-" + (agents.size() + 1) + "-node" + k;
        List<String> command = new ArrayList<>(List.of("nsenter", "--net=/run/netns/" + node(k),
                top.resolve("bin/nodelb-agent").toString()));
        command.addAll(List.of(args));
        command.addAll(List.of("--pin-path", pinPath(k).toString(),
                "--state-dir", stateDirectory(pinPath(k)).toString()));
        Agent agent = Agent.launch(name, command);
        agents.add(agent);
        return agent;
    }

    public Path runDir() {
        return RUN_DIR.resolve(id);
    }

    /** A thread inside the client namespace: open client sockets there. */
    public NetnsThread client() {
        return client;
    }

    // ---- commands ----

    /** {@code ip -n <namespace> args...}; fails on a non-zero exit. */
    public String ip(String namespace, String... args) throws IOException, InterruptedException, TimeoutException {
        return Command.run(Stream.concat(Stream.of("ip", "-n", namespace), Stream.of(args)).toArray(String[]::new));
    }

    /** {@code ip netns exec <namespace> command...}; fails on a non-zero exit. */
    public String exec(String namespace, String... command) throws IOException, InterruptedException, TimeoutException {
        return Command.run(Stream.concat(Stream.of("ip", "netns", "exec", namespace), Stream.of(command))
                .toArray(String[]::new));
    }

    /** The Prometheus scrape of the agent serving metrics on this port of the node. */
    public String scrape(int metricsPort) throws IOException, InterruptedException, TimeoutException {
        return exec(node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + metricsPort + "/metrics");
    }

    /** The sum of a metric's series in a scrape whose label has this value; 0 when there is none. */
    public static double sum(String scrape, String metric, String label, String value) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(metric) + "\\{([^}]*)\\} ([0-9.E+-]+)$").matcher(scrape);
        double total = 0;
        while (m.find()) {
            if (m.group(1).contains(label + "=\"" + value + "\"")) {
                total += Double.parseDouble(m.group(2));
            }
        }
        return total;
    }

    /** Whether XDP is attached to an interface of the node, as {@code ip link} shows it. */
    public boolean hasXdp(String ifname) throws IOException, InterruptedException, TimeoutException {
        return ip(node(), "link", "show", "dev", ifname).contains(" xdp");
    }

    // ---- agents ----

    /** Starts an agent on {@code yaml} and waits (20 s at most) until it has programmed it. */
    Agent startAgent(String yaml) throws IOException, InterruptedException, TimeoutException {
        Agent agent = launchAgent(yaml);
        agent.awaitProgrammed(0);
        rememberLinks();
        return agent;
    }

    /** Starts an agent on {@code yaml} without waiting for anything (e.g. a file it must refuse). */
    Agent launchAgent(String yaml) throws IOException {
        return launchAgent(yaml, pinPath());
    }

    /**
     * Starts an agent pinning under {@code pinPath}, with {@code extraArgs}. Its state
     * (saved ids, the host's original settings) lives in the lab's run directory, one per pin
     * path, so a restarted agent finds what the one before it saved.
     */
    Agent launchAgent(String yaml, Path pinPath, String... extraArgs) throws IOException {
        return launchAgentWrapped(List.of(), yaml, pinPath, extraArgs);
    }

    /**
     * As {@link #launchAgent(String, Path, String...)}, the launcher run through {@code wrapper}
     * (e.g. setpriv with fewer capabilities), inside the node's network namespace.
     */
    Agent launchAgentWrapped(List<String> wrapper, String yaml, Path pinPath, String... extraArgs) throws IOException {
        String name = "agent-" + (agents.size() + 1);
        Path config = runDir().resolve(name).resolve("lab.yaml");
        List<String> args = new ArrayList<>(List.of("--state-dir", stateDirectory(pinPath).toString()));
        args.addAll(List.of(extraArgs));
        Agent agent = Agent.start(name, top, node(), config, pinPath, yaml, wrapper, args.toArray(String[]::new));
        agents.add(agent);
        return agent;
    }

    /** {@code nodelb-agent uninstall} in the node for the data plane under {@code pinPath}; its output. */
    public String uninstall(Path pinPath) throws IOException, InterruptedException, TimeoutException {
        return Command.run("nsenter", "--net=/run/netns/" + node(), top.resolve("bin/nodelb-agent").toString(),
                "uninstall", "--pin-path", pinPath.toString(),
                "--state-dir", stateDirectory(pinPath).toString());
    }

    /** Where the lab's agents on {@code pinPath} keep their state. */
    public Path stateDirectory(Path pinPath) {
        return runDir().resolve("state-" + pinPath.getFileName());
    }

    /** SIGTERM to every agent still running (they finish: the data plane stays for the next one). */
    public void stopAgents() throws InterruptedException {
        for (Agent agent : agents) {
            agent.stop();
        }
    }

    /** The ids of the BPF links pinned under the pin path now, kept to check at the end that they are gone. */
    public List<Integer> pinnedLinkIds() throws IOException, InterruptedException, TimeoutException {
        List<Integer> ids = new ArrayList<>();
        if (!Files.isDirectory(pinPath())) {
            return ids;
        }
        List<Path> pins;
        try (Stream<Path> files = Files.walk(pinPath(), 2)) {
            pins = files.filter(p -> p.getFileName().toString().startsWith("link_")).sorted().toList();
        }
        for (Path pin : pins) {
            Matcher m = LINK_ID.matcher(Command.run("bpftool", "-j", "link", "show", "pinned", pin.toString()));
            if (m.find()) {
                ids.add(Integer.parseInt(m.group(1)));
            }
        }
        return ids;
    }

    /** Whether the kernel still has a BPF link with this id. */
    public static boolean linkExists(int linkId) throws IOException, InterruptedException, TimeoutException {
        return Command.result("bpftool", "link", "show", "id", Integer.toString(linkId)).succeeded();
    }

    /**
     * Which of these BPF links the kernel still has, after waiting up to 5 s for them to go
     * (a link is freed asynchronously once its last reference is dropped).
     */
    public static List<Integer> linksStillThere(List<Integer> ids) throws IOException, InterruptedException, TimeoutException {
        List<Integer> left = new ArrayList<>(ids);
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!left.isEmpty()) {
            List<Integer> still = new ArrayList<>();
            for (int id : left) {
                if (linkExists(id)) {
                    still.add(id);
                }
            }
            left = still;
            if (left.isEmpty() || System.nanoTime() > deadline) {
                break;
            }
            Thread.sleep(100);
        }
        return left;
    }

    private void rememberLinks() throws IOException, InterruptedException, TimeoutException {
        for (int linkId : pinnedLinkIds()) {
            if (!linkIds.contains(linkId)) {
                linkIds.add(linkId);
            }
        }
    }

    /** Everything every agent of this lab printed. */
    public String agentLogs() {
        StringBuilder logs = new StringBuilder();
        for (Agent agent : agents) {
            logs.append('\n').append(agent.log());
        }
        return logs.toString();
    }

    // ---- lifecycle ----

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        top = findTop();
        Path jar = top.resolve("node-agent/target/nodelb-node-agent.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " is missing: the lab tests run the packaged agent"
                    + " (failsafe runs them after `package`)");
        }
        id = "t" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(2);
        shutdownHook = new Thread(this::downQuietly, "lab-" + id + "-down");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        try {
            lab("up", id, Integer.toString(backends), Integer.toString(nodes));
            lab("servers", id);
            client = NetnsThread.enter(namespace("client"));
        } catch (Exception | Error e) {
            downQuietly();
            throw e;
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        if (id == null) {
            return; // nothing was built
        }
        List<String> problems = new ArrayList<>();
        try {
            for (Agent agent : agents) {
                try {
                    agent.stop();
                } catch (AssertionError e) {
                    problems.add(e.getMessage());
                }
            }
            if (client != null) {
                client.close();
            }
            lab("down", id);
            down = true;
        } finally {
            downQuietly();
            if (shutdownHook != null) {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            }
        }
        problems.addAll(leftovers());
        if (!problems.isEmpty()) {
            throw new AssertionError("lab " + id + " was not left clean:\n  " + String.join("\n  ", problems)
                    + "\n" + agentLogs());
        }
    }

    /** What of this lab still exists after it went down (nothing, when all is well). */
    List<String> leftovers() throws IOException, InterruptedException, TimeoutException {
        List<String> left = new ArrayList<>();
        String prefix = "nlb-" + id + "-";
        for (String line : Command.run("ip", "netns", "list").split("\n")) {
            if (line.startsWith(prefix)) {
                left.add("namespace " + line.split(" ")[0]);
            }
        }
        for (int k = 1; k <= nodes; k++) {
            if (Files.exists(pinPath(k))) {
                left.add("pin directory " + pinPath(k));
            }
        }
        if (Files.exists(runDir())) {
            left.add("run directory " + runDir());
        }
        List<Integer> remaining = linksStillThere(linkIds);
        remaining.forEach(l -> left.add("BPF link id " + l));
        return left;
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
        throw withAgentLogs(failure);
    }

    @Override
    public void handleBeforeAllMethodExecutionException(ExtensionContext context, Throwable failure)
            throws Throwable {
        throw withAgentLogs(failure);
    }

    @Override
    public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable failure)
            throws Throwable {
        throw withAgentLogs(failure);
    }

    @Override
    public void handleAfterEachMethodExecutionException(ExtensionContext context, Throwable failure)
            throws Throwable {
        throw withAgentLogs(failure);
    }

    @Override
    public void handleAfterAllMethodExecutionException(ExtensionContext context, Throwable failure)
            throws Throwable {
        throw withAgentLogs(failure);
    }

    /** The same failure, its message followed by every agent's output. */
    private Throwable withAgentLogs(Throwable failure) {
        if (failure instanceof TestAbortedException || agents.isEmpty()) {
            return failure;
        }
        String message = failure instanceof AssertionError ? failure.getMessage() : failure.toString();
        AssertionError withLogs = new AssertionError(message + "\n" + agentLogs());
        withLogs.setStackTrace(failure.getStackTrace());
        if (failure.getCause() != null) {
            withLogs.initCause(failure.getCause());
        }
        for (Throwable suppressed : failure.getSuppressed()) {
            withLogs.addSuppressed(suppressed);
        }
        return withLogs;
    }

    private void downQuietly() {
        if (down || id == null) {
            return;
        }
        for (Agent agent : agents) {
            try {
                agent.stop();
            } catch (InterruptedException | AssertionError e) {
                // going down anyway; the failure is reported by whoever called
            }
        }
        try {
            lab("down", id);
            down = true;
        } catch (Exception e) {
            System.err.println("lab " + id + ": down failed: " + e.getMessage());
        }
    }

    private void lab(String... args) throws IOException, InterruptedException, TimeoutException {
        String[] command = Stream.concat(Stream.of(top.resolve("deploy/lab/lab.sh").toString()), Stream.of(args))
                .toArray(String[]::new);
        Command.Result result = Command.result(LAB_TIMEOUT, command);
        if (!result.succeeded()) {
            throw new IOException(result.toString());
        }
    }

    /** The repository root: the first parent of the working directory with deploy/lab/lab.sh. */
    static Path findTop() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("deploy/lab/lab.sh"))) {
                return dir;
            }
        }
        throw new IllegalStateException("no deploy/lab/lab.sh above " + Path.of("").toAbsolutePath());
    }
}
