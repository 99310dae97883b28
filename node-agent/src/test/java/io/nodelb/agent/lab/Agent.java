package io.nodelb.agent.lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The real node agent ({@code bin/nodelb-agent standalone}) running in the lab's node
 * namespace, entered with nsenter so the agent sees the host's bpffs (ip netns exec would
 * remount /sys). Its stdout and stderr are kept line by line: the tests wait for
 * "programmed version" and "refusing" lines, and failures show the whole output.
 */
public final class Agent {
    /**
     * The longest wait for the agent to program a file or to refuse it: a wait, not a speed check
     * (20 s ran out once with the verifier alone taking 5.5 s on a loaded machine).
     */
    static final Duration PROGRAM_TIMEOUT = Duration.ofSeconds(45);

    private static final Pattern PROGRAMMED = Pattern.compile("^nodelb-agent: programmed version (\\S+) from ");
    private static final String REFUSING = "nodelb-agent: refusing ";

    private final String name;
    private final Path config;
    private final Process process;
    private final List<String> stdout = new ArrayList<>();
    private final List<String> stderr = new ArrayList<>();
    private final List<String> log = new ArrayList<>();
    /** The text last written to the file, and the last one the agent programmed. */
    private String written;
    private String programmed;
    private int readersDone;

    private Agent(String name, Path config, Process process, String written) {
        this.name = name;
        this.config = config;
        this.process = process;
        this.written = written;
    }

    /**
     * Writes {@code yaml} to {@code config} and starts the agent on it in the namespace
     * {@code nodeNamespace}, pinning under {@code pinPath}. Returns at once: use
     * {@link #awaitProgrammed} or {@link #awaitExit}.
     */
    static Agent start(String name, Path top, String nodeNamespace, Path config, Path pinPath, String yaml,
            String... extraArgs) throws IOException {
        return start(name, top, nodeNamespace, config, pinPath, yaml, List.of(), extraArgs);
    }

    /**
     * As {@link #start(String, Path, String, Path, Path, String, String...)}, with {@code wrapper}
     * between nsenter and the launcher: commands that exec the next one (setpriv, unshare), so
     * the agent runs as a container would run it. Each must exec, so {@link #pid()} stays the JVM's.
     */
    static Agent start(String name, Path top, String nodeNamespace, Path config, Path pinPath, String yaml,
            List<String> wrapper, String... extraArgs) throws IOException {
        Files.createDirectories(config.getParent());
        Files.writeString(config, yaml);
        List<String> command = new ArrayList<>(List.of("nsenter", "--net=/run/netns/" + nodeNamespace));
        command.addAll(wrapper);
        command.addAll(List.of(top.resolve("bin/nodelb-agent").toString(), "standalone",
                "--config", config.toString(), "--pin-path", pinPath.toString(), "--node-name", "lab-node"));
        command.addAll(List.of(extraArgs));
        ProcessBuilder builder = new ProcessBuilder(command);
        // The launcher runs the JDK these tests run on.
        builder.environment().put("NODELB_JAVA_HOME", System.getProperty("java.home"));
        builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Agent agent = new Agent(name, config, builder.start(), yaml);
        agent.programmed = yaml; // once the first "programmed version" line is out
        agent.keep(agent.process.getInputStream(), agent.stdout, "out");
        agent.keep(agent.process.getErrorStream(), agent.stderr, "err");
        agent.process.onExit().thenRun(agent::wakeUp);
        return agent;
    }

    /**
     * Runs {@code command} (already wrapped in nsenter by the caller) as an agent named
     * {@code name} whose output is kept; for cluster mode, which has no file to program.
     */
    public static Agent launch(String name, List<String> command) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().put("NODELB_JAVA_HOME", System.getProperty("java.home"));
        builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Agent agent = new Agent(name, null, builder.start(), null);
        agent.keep(agent.process.getInputStream(), agent.stdout, "out");
        agent.keep(agent.process.getErrorStream(), agent.stderr, "err");
        agent.process.onExit().thenRun(agent::wakeUp);
        return agent;
    }

    public String name() {
        return name;
    }

    /** The agent's PID: nsenter and the launcher exec, so this is the JVM's. */
    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Versions programmed so far, in order: the start and every reload that changed something. */
    public synchronized List<String> versions() {
        return stdout.stream().map(PROGRAMMED::matcher).filter(Matcher::find).map(m -> m.group(1)).toList();
    }

    /** The version programmed last. */
    public String version() {
        List<String> versions = versions();
        if (versions.isEmpty()) {
            throw new AssertionError(name + " has not programmed anything yet");
        }
        return versions.getLast();
    }

    /** Waits until the agent has programmed more than {@code seen} versions; returns the newest. */
    public String awaitProgrammed(int seen) throws InterruptedException {
        awaitLine(stdout, seen == 0 ? 0 : indexAfterVersions(seen), line -> PROGRAMMED.matcher(line).find(),
                "a \"programmed version\" line");
        return version();
    }

    /**
     * Replaces the file with {@code yaml} (one atomic rename, so the agent reloads once)
     * and waits until the agent has programmed it. Returns the new version. The text the
     * agent runs already (e.g. after a refused file) is only written back: it programs
     * the same version, which the agent does not announce.
     */
    String program(String yaml) throws IOException, InterruptedException {
        if (yaml.equals(programmed)) {
            if (!yaml.equals(written)) {
                write(yaml);
            }
            return version();
        }
        int seen = versions().size();
        write(yaml);
        String version = awaitProgrammed(seen);
        programmed = yaml;
        return version;
    }

    /** Replaces the file with {@code yaml} (one atomic rename) and returns at once. */
    void replaceFile(String yaml) throws IOException {
        write(yaml);
    }

    /**
     * Replaces the file with {@code yaml}, which the agent must refuse, and waits until it
     * printed the refusal and a problem line containing {@code expectedProblem}. Returns the
     * refusal's lines (header and problems).
     */
    List<String> refuse(String yaml, String expectedProblem) throws IOException, InterruptedException {
        int from;
        synchronized (this) {
            from = stderr.size();
        }
        write(yaml);
        int header = awaitLine(stderr, from, line -> line.startsWith(REFUSING), "a \"refusing\" line");
        int problem = awaitLine(stderr, header + 1, line -> line.contains(expectedProblem),
                "a problem line containing \"" + expectedProblem + "\"");
        synchronized (this) {
            return List.copyOf(stderr.subList(header, problem + 1));
        }
    }

    /** Waits for the process to end (it must, e.g. after refusing its file); returns its exit code. */
    public int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError(name + " still runs after " + timeout);
        }
        return process.exitValue();
    }

    /**
     * SIGTERM to the agent's PID (what {@link Process#destroy} sends on Linux), then waits
     * up to 15 s for it to detach and exit; SIGKILL if it does not. Returns the exit code.
     */
    public int stop() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
                throw new AssertionError(name + " (pid " + pid() + ") ignored SIGTERM for 15 s; killed");
            }
        }
        return process.exitValue();
    }

    /** SIGKILL to the agent's PID, as an OOM kill or a crash would end it; waits for the exit. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            throw new AssertionError(name + " (pid " + pid() + ") still runs 10 s after SIGKILL");
        }
    }

    public synchronized List<String> stderr() {
        return List.copyOf(stderr);
    }

    public synchronized List<String> stdout() {
        return List.copyOf(stdout);
    }

    /** Everything the agent printed, stdout and stderr interleaved as read. */
    public synchronized String log() {
        String state = process.isAlive() ? "running" : "exited " + process.exitValue();
        return "--- " + name + " (pid " + pid() + ", " + state + ") ---\n" + String.join("\n", log);
    }

    private void write(String yaml) throws IOException {
        Path temporary = config.resolveSibling("." + config.getFileName() + ".new");
        Files.writeString(temporary, yaml);
        Files.move(temporary, config, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        written = yaml;
    }

    /** Index in stdout just past the line that announced version number {@code count}. */
    private synchronized int indexAfterVersions(int count) {
        int found = 0;
        for (int i = 0; i < stdout.size(); i++) {
            if (PROGRAMMED.matcher(stdout.get(i)).find() && ++found == count) {
                return i + 1;
            }
        }
        return stdout.size();
    }

    /** Waits (at most {@link #PROGRAM_TIMEOUT}) for a line at or after {@code from}; returns its index. */
    private int awaitLine(List<String> lines, int from, Predicate<String> wanted, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + PROGRAM_TIMEOUT.toNanos();
        synchronized (this) {
            while (true) {
                for (int i = from; i < lines.size(); i++) {
                    if (wanted.test(lines.get(i))) {
                        return i;
                    }
                }
                long left = deadline - System.nanoTime();
                if (!process.isAlive() && readersDone == 2) {
                    throw new AssertionError(name + " exited before printing " + what);
                }
                if (left <= 0) {
                    throw new AssertionError(name + " did not print " + what + " in " + PROGRAM_TIMEOUT);
                }
                wait(Math.max(1, left / 1_000_000));
            }
        }
    }

    private void keep(InputStream stream, List<String> lines, String tag) {
        Thread.ofPlatform().daemon().name(name + "-" + tag).start(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    synchronized (this) {
                        lines.add(line);
                        log.add(tag + "| " + line);
                        notifyAll();
                    }
                }
            } catch (IOException e) {
                synchronized (this) {
                    log.add(tag + "| (reading failed: " + e + ")");
                }
            } finally {
                synchronized (this) {
                    readersDone++;
                    notifyAll();
                }
            }
        });
    }

    private synchronized void wakeUp() {
        notifyAll();
    }

    @Override
    public String toString() {
        return name + " (pid " + pid() + ")";
    }
}
