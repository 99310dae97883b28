package io.nodelb.operator.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** The operator child process ({@link OperatorProcess}) seen from the bench: its port, ACKs, publishes, stats. */
final class OperatorHandle implements AutoCloseable {
  /** One STATS answer. */
  record Stats(long heapAfterGc, long cpuNanos, long cachedPods, int threads, Map<String, Long> threadCpu) {
    /**
     * Where the CPU went between {@code before} and this, by kind of thread, in nanoseconds: JOSDK's
     * reconciler pool, the snapshot server's thread, gRPC (netty event loops and executor), the
     * Kubernetes client (Vert.x), everything else on Java threads, and the rest of the process (GC,
     * JIT, threads that ended).
     */
    Map<String, Long> breakdownSince(Stats before) {
      Map<String, Long> kinds = new java.util.LinkedHashMap<>();
      for (String kind : List.of("reconcilers", "snapshot server", "gRPC", "Kubernetes client", "other threads")) {
        kinds.put(kind, 0L);
      }
      long threadsTotal = 0;
      for (var e : threadCpu.entrySet()) {
        long delta = e.getValue() - before.threadCpu.getOrDefault(e.getKey(), 0L);
        if (delta <= 0) {
          continue;
        }
        threadsTotal += delta;
        String name = e.getKey();
        String kind = name.startsWith("pool-#-thread") || name.startsWith("ReconcilerExecutor") ? "reconcilers"
            : name.startsWith("nodelb-snapshot-server") ? "snapshot server"
            : name.startsWith("grpc") ? "gRPC"
            : name.startsWith("vert.x") ? "Kubernetes client" : "other threads";
        kinds.merge(kind, delta, Long::sum);
      }
      kinds.put("GC, JIT, ended threads", Math.max(0, cpuNanos - before.cpuNanos - threadsTotal));
      return kinds;
    }
  }

  /** One PUB line: when the model published new snapshots for these nodes. */
  record Publish(long nanos, List<String> nodes) {}

  private final Process process;
  private final Writer commands;
  private final BlockingQueue<String> ready = new LinkedBlockingQueue<>();
  private final BlockingQueue<String> answers = new LinkedBlockingQueue<>();
  /** "node|version" → when the operator's store recorded the ACK (System.nanoTime). */
  private final Map<String, Long> acks = new ConcurrentHashMap<>();
  private final ConcurrentLinkedDeque<Publish> publishes = new ConcurrentLinkedDeque<>();
  final int port;

  private OperatorHandle(Process process) throws InterruptedException {
    this.process = process;
    this.commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    Thread reader = new Thread(this::read, "operator-stdout");
    reader.setDaemon(true);
    reader.start();
    String line = ready.poll(300, TimeUnit.SECONDS);
    if (line == null || !line.startsWith("READY ")) {
      process.destroyForcibly();
      throw new IllegalStateException("the operator did not start (see its log above)");
    }
    port = Integer.parseInt(line.substring(6).trim());
  }

  /**
   * Starts {@link OperatorProcess} against {@code apiUrl} with {@code classpath} (the bench's own, or
   * another build of the operator for a "before" run) and {@code jvmArgs}.
   */
  static OperatorHandle start(String apiUrl, String namespace, String classpath, List<String> jvmArgs) {
    List<String> command = new ArrayList<>();
    command.add(ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"));
    command.addAll(jvmArgs);
    command.addAll(List.of("--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
        "-Djava.util.logging.manager=org.jboss.logmanager.LogManager", "-cp", classpath,
        OperatorProcess.class.getName(), apiUrl, namespace));
    try {
      Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      return new OperatorHandle(process);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private void read() {
    try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = in.readLine()) != null; ) {
        if (line.startsWith("ACK ")) {
          String[] f = line.split(" ");
          acks.put(f[1] + "|" + f[2], Long.parseLong(f[3]));
        } else if (line.startsWith("PUB ")) {
          String[] f = line.split(" ");
          publishes.addLast(new Publish(Long.parseLong(f[1]), f.length > 2 ? List.of(f[2].split(",")) : List.of()));
          while (publishes.size() > 10_000) {
            publishes.pollFirst();
          }
        } else if (line.startsWith("STATS ")) {
          answers.add(line);
        } else if (line.startsWith("READY ")) {
          ready.add(line);
        } else {
          System.err.println("[operator] " + line);
        }
      }
    } catch (IOException e) {
      // the process ended
    }
    ready.add("ENDED");
  }

  /** When the operator recorded {@code node}'s ACK of {@code version}; 0 if not yet. */
  long ackNanos(String node, String version) {
    return acks.getOrDefault(node + "|" + version, 0L);
  }

  /** The first publish after {@code since} that includes {@code node}; 0 if none. */
  long publishedNanos(String node, long since) {
    for (Publish p : publishes) {
      if (p.nanos() >= since && p.nodes().contains(node)) {
        return p.nanos();
      }
    }
    return 0;
  }

  /** For debugging: the publishes from {@code since}, as "+ms:nodes" relative to {@code zero}. */
  String publishesSince(long since, long zero) {
    StringBuilder text = new StringBuilder();
    for (Publish p : publishes) {
      if (p.nanos() >= since) {
        text.append(String.format(" %+.1f:%s", (p.nanos() - zero) / 1e6, p.nodes()));
      }
    }
    return text.toString();
  }

  /** The {@code top} largest classes of the operator's heap (jcmd GC.class_histogram, after a full GC). */
  String histogram(int top) {
    String output = jcmd("GC.class_histogram");
    StringBuilder text = new StringBuilder();
    int lines = 0;
    for (String line : output.split("\n")) {
      if (line.contains("num ") || line.startsWith("---")) {
        continue;
      }
      if (line.trim().startsWith("Total") || lines++ < top) {
        text.append(line).append('\n');
      }
    }
    return text.toString();
  }

  /** Runs jcmd against the operator process (JFR.start, JFR.stop, ...); failures are only logged. */
  String jcmd(String... arguments) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString());
    command.add(String.valueOf(process.pid()));
    command.addAll(List.of(arguments));
    try {
      Process jcmd = new ProcessBuilder(command).redirectErrorStream(true).start();
      String output = new String(jcmd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (jcmd.waitFor() != 0) {
        System.err.println("[bench] jcmd " + String.join(" ", arguments) + ": " + output);
      }
      return output;
    } catch (IOException e) {
      System.err.println("[bench] jcmd failed: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return "";
  }

  synchronized Stats stats() {
    try {
      commands.write("STATS\n");
      commands.flush();
      String line = answers.poll(300, TimeUnit.SECONDS);
      if (line == null || !line.startsWith("STATS ")) {
        throw new IllegalStateException("no stats from the operator: " + line);
      }
      String[] f = line.split(" ");
      Map<String, Long> threadCpu = new java.util.HashMap<>();
      if (f.length > 5 && !f[5].equals("-")) {
        for (String entry : f[5].split(";")) {
          int eq = entry.lastIndexOf('=');
          threadCpu.put(entry.substring(0, eq), Long.parseLong(entry.substring(eq + 1)));
        }
      }
      return new Stats(Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]), Integer.parseInt(f[4]), threadCpu);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    try {
      commands.write("QUIT\n");
      commands.flush();
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (IOException e) {
      process.destroyForcibly();
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
