package io.nodelb.agent.testing;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Runs a command line to completion within a time limit, keeping what it printed. */
public final class Command {
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    /** How a command ended: its exit code and what it printed on stdout and stderr. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean succeeded() {
            return exitCode == 0;
        }

        @Override
        public String toString() {
            return String.join(" ", command) + " exited " + exitCode
                    + (stdout.isBlank() ? "" : "\nstdout: " + stdout.strip())
                    + (stderr.isBlank() ? "" : "\nstderr: " + stderr.strip());
        }
    }

    private Command() {}

    /** Runs the command (10 s at most) and returns its stdout; a non-zero exit is an IOException. */
    public static String run(String... command) throws IOException, InterruptedException, TimeoutException {
        Result result = result(DEFAULT_TIMEOUT, command);
        if (!result.succeeded()) {
            throw new IOException(result.toString());
        }
        return result.stdout();
    }

    /** Runs the command (10 s at most) whatever its exit code. */
    public static Result result(String... command) throws IOException, InterruptedException, TimeoutException {
        return result(DEFAULT_TIMEOUT, command);
    }

    /** Runs the command, killing it and throwing TimeoutException after {@code timeout}. */
    public static Result result(Duration timeout, String... command)
            throws IOException, InterruptedException, TimeoutException {
        // Output goes to files, not pipes: a daemon the command starts (nginx) may keep them open.
        Path out = Files.createTempFile("nodelb-cmd", ".out");
        Path err = Files.createTempFile("nodelb-cmd", ".err");
        try {
            Process process = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
                throw new TimeoutException(String.join(" ", command) + " did not finish in " + timeout);
            }
            return new Result(List.of(command), process.exitValue(),
                    Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
