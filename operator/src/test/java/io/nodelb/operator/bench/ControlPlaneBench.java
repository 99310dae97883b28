package io.nodelb.operator.bench;

import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.operator.channel.CertificateAuthority;
import io.nodelb.operator.channel.ChannelCertificates;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Control-plane benchmarks of the operator, by command (not a test; method and results in
 * docs/benchmarks.md, "Control plane"): Fabric8's mock API server (CRUD, indexed: {@link
 * IndexedCrudDispatcher}) and simulated agents ({@link BenchAgent}: real grpc-java clients over
 * mutual TLS that ACK at once) in this JVM, the operator alone in a child JVM ({@link
 * OperatorProcess}) so that its CPU time and heap are its own.
 *
 * <ul>
 *   <li>{@code convergence}: 1,000 then 10,000 LoadBalancers (each with its Service, EndpointSlice
 *       and TargetGroup) on 20 nodes in pools of 5; time until every agent ACKed a snapshot with all
 *       its listeners and until every LoadBalancer is Programmed; then single EndpointSlice changes
 *       (one endpoint added or removed), one at a time: API write returned → model published →
 *       agent(s) received → ACK recorded by the operator.
 *   <li>{@code fanout}: 10,000 LoadBalancers on 500 nodes (half pinned to one node, half on pools of
 *       10), agents connected 100 at a time (heap and CPU per 100 nodes), then slice changes with
 *       the messages and bytes every agent received, checked against the nodes each change touches.
 *   <li>{@code pods}: operator heap with 0 and with N Pods in the API (a few with the drain annotation).
 * </ul>
 */
public final class ControlPlaneBench {
  static final String OPERATOR_NS = "nodelb-system";
  static final boolean DEBUG = System.getenv("NODELB_BENCH_DEBUG") != null;
  static final String AGENT_USER = "system:serviceaccount:" + OPERATOR_NS + ":nodelb-agent";

  private final Options options;
  private final StringBuilder report = new StringBuilder();

  private ControlPlaneBench(Options options) {
    this.options = options;
  }

  /** Command-line options; see {@link #usage()}. */
  record Options(List<String> scenarios, List<Integer> convergenceLoadBalancers, int convergenceNodes, int convergencePool,
      int fanoutNodes, int fanoutLoadBalancers, int fanoutPool, int changes, int endpoints, int namespaces, int pods,
      long gapMillis, Path out, String operatorTree, String operatorHeap, String label, List<String> operatorJvmArgs,
      String profileDir) {

    static Options parse(String[] args) {
      Map<String, String> values = new HashMap<>();
      for (int i = 0; i < args.length; i++) {
        if (!args[i].startsWith("--") || i + 1 >= args.length) {
          throw new IllegalArgumentException("unexpected argument " + args[i] + "\n" + usage());
        }
        values.put(args[i].substring(2), args[++i]);
      }
      List<String> jvm = new ArrayList<>();
      if (values.containsKey("operator-jvm")) {
        jvm.addAll(Arrays.asList(values.get("operator-jvm").trim().split("\\s+")));
      }
      Options o = new Options(
          List.of(values.getOrDefault("scenarios", "convergence,fanout,pods").split(",")),
          Arrays.stream(values.getOrDefault("convergence-lbs", "1000,10000").split(",")).map(Integer::parseInt).toList(),
          Integer.parseInt(values.getOrDefault("convergence-nodes", "20")),
          Integer.parseInt(values.getOrDefault("convergence-pool", "5")),
          Integer.parseInt(values.getOrDefault("fanout-nodes", "500")),
          Integer.parseInt(values.getOrDefault("fanout-lbs", "10000")),
          Integer.parseInt(values.getOrDefault("fanout-pool", "10")),
          Integer.parseInt(values.getOrDefault("changes", "200")),
          Integer.parseInt(values.getOrDefault("endpoints", "10")),
          Integer.parseInt(values.getOrDefault("namespaces", "100")),
          Integer.parseInt(values.getOrDefault("pods", "100000")),
          Long.parseLong(values.getOrDefault("gap-ms", "100")),
          Path.of(values.getOrDefault("out", "operator/target/bench/control-plane.md")),
          values.get("operator-tree"),
          values.getOrDefault("operator-heap", "4g"),
          values.getOrDefault("label", "this build"),
          jvm,
          values.get("profile-changes"));
      values.keySet().removeAll(Set.of("scenarios", "convergence-lbs", "convergence-nodes", "convergence-pool",
          "fanout-nodes", "fanout-lbs", "fanout-pool", "changes", "endpoints", "namespaces", "pods", "gap-ms", "out",
          "operator-tree", "operator-heap", "label", "operator-jvm", "profile-changes"));
      if (!values.isEmpty()) {
        throw new IllegalArgumentException("unknown options " + values.keySet() + "\n" + usage());
      }
      return o;
    }
  }

  static String usage() {
    return """
        ControlPlaneBench [--scenarios convergence,fanout,pods] [--changes 200] [--gap-ms 100]
          [--convergence-lbs 1000,10000] [--convergence-nodes 20] [--convergence-pool 5]
          [--fanout-nodes 500] [--fanout-lbs 10000] [--fanout-pool 10]
          [--endpoints 10] [--namespaces 100] [--pods 100000]
          [--operator-heap 4g] [--operator-jvm "-XX:..."] [--operator-tree DIR] [--label TEXT] [--out FILE]
          [--profile-changes DIR]  (a JFR recording of the operator during each series of changes)""";
  }

  public static void main(String[] args) throws Exception {
    if (List.of(args).contains("--help")) {
      System.out.println(usage());
      return;
    }
    quietLogging();
    Options options = Options.parse(args);
    ControlPlaneBench bench = new ControlPlaneBench(options);
    int status = 0;
    try {
      bench.header();
      for (String scenario : options.scenarios()) {
        switch (scenario.trim()) {
          case "convergence" -> bench.convergence();
          case "fanout" -> bench.fanout();
          case "pods" -> bench.pods();
          default -> throw new IllegalArgumentException("unknown scenario " + scenario + "\n" + usage());
        }
      }
    } catch (Exception | Error e) {
      e.printStackTrace();
      bench.out("\n**The run failed:** " + e + "\n");
      status = 1;
    } finally {
      Files.createDirectories(options.out().toAbsolutePath().getParent());
      Files.writeString(options.out(), bench.report.toString(), java.nio.file.StandardOpenOption.CREATE,
          java.nio.file.StandardOpenOption.APPEND);
      System.err.println("report appended to " + options.out());
      System.exit(status); // the mock server's and the agents' threads would keep the JVM alive
    }
  }

  /** Operator, JOSDK, Fabric8, gRPC and the mock: warnings and errors only. */
  static void quietLogging() {
    Logger root = Logger.getLogger("");
    root.setLevel(Level.WARNING);
    for (var handler : root.getHandlers()) {
      handler.setLevel(Level.WARNING);
    }
    for (String name : List.of("io.javaoperatorsdk", "io.fabric8", "io.nodelb", "io.grpc", "io.vertx", "io.netty")) {
      Logger.getLogger(name).setLevel(Level.WARNING);
    }
  }

  private void header() {
    var os = ManagementFactory.getOperatingSystemMXBean();
    out(String.format("%n## Control-plane benchmark, %s (%s)%n%n", Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS),
        options.label()));
    out(String.format("%d CPUs, load average %.1f at start, JDK %s; operator JVM: -Xmx%s %s%n%n", os.getAvailableProcessors(),
        os.getSystemLoadAverage(), Runtime.version(), options.operatorHeap(), String.join(" ", options.operatorJvmArgs())));
  }

  private void out(String text) {
    System.out.print(text);
    System.out.flush();
    report.append(text);
  }

  private static void log(String text) {
    System.err.printf("[%s] %s%n", Instant.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS), text);
  }

  // ---- scenarios ----

  private void convergence() throws Exception {
    BenchShape shape = new BenchShape(options.convergenceNodes(), options.convergencePool(), 0, options.endpoints(),
        options.namespaces());
    try (Cluster cluster = new Cluster(shape)) {
      cluster.preloadNodes();
      cluster.startOperator();
      cluster.connectAgents(0, shape.nodes());
      cluster.await("agents' first (empty) snapshots ACKed", Duration.ofMinutes(2), cluster::agentsCaughtUp);
      OperatorHandle.Stats idle = cluster.operator.stats();
      out(String.format("### Convergence: %d nodes in pools of %d, %d agents, %d endpoints per slice, %d namespaces%n%n",
          shape.nodes(), shape.poolSize(), shape.nodes(), shape.endpoints(), shape.namespaces()));
      out(String.format("Operator with %d agents and no LoadBalancer: heap after GC %s, CPU %.1f s since start.%n%n",
          shape.nodes(), mb(idle.heapAfterGc()), idle.cpuNanos() / 1e9));
      List<String> convergenceRows = new ArrayList<>();
      List<String> changeRows = new ArrayList<>();
      List<String> breakdownRows = new ArrayList<>();
      int created = 0;
      for (int target : options.convergenceLoadBalancers()) {
        OperatorHandle.Stats before = cluster.operator.stats();
        long start = System.nanoTime();
        cluster.preloadLoadBalancers(created, target);
        long written = System.nanoTime();
        int from = created;
        created = target;
        long agentsDone = cluster.await("agents ACK snapshots with " + target + " LoadBalancers", Duration.ofMinutes(30),
            cluster::agentsCaughtUp);
        long statusDone = cluster.awaitProgrammedStatus(target, Duration.ofMinutes(30));
        OperatorHandle.Stats after = cluster.operator.stats();
        convergenceRows.add(String.format("| %,d → %,d | %.1f s | %.1f s | %s | %.1f s | %s | %s |",
            from, target, (written - start) / 1e9, (agentsDone - start) / 1e9,
            statusDone < 0 ? "not within 30 min" : String.format("%.1f s", (statusDone - start) / 1e9),
            (after.cpuNanos() - before.cpuNanos()) / 1e9, mb(after.heapAfterGc()), mb(cluster.largestSnapshotBytes())));
        ChangeResult result = cluster.measureChanges(options.changes(), options.gapMillis(), lb -> true);
        OperatorHandle.Stats afterChanges = cluster.operator.stats();
        changeRows.add(result.row(String.format("%,d", target),
            (afterChanges.cpuNanos() - after.cpuNanos()) / 1e6 / result.samples.size()));
        breakdownRows.add(breakdown(String.format("%,d", target), afterChanges.breakdownSince(after),
            result.samples.size()));
      }
      out("| LoadBalancers | objects written | all agents ACKed | all Programmed=True | operator CPU | operator heap after GC | largest snapshot |\n");
      out("|---|---:|---:|---:|---:|---:|---:|\n");
      convergenceRows.forEach(r -> out(r + "\n"));
      out("\n(times from the first object written; objects are written straight into the mock's store, which sends"
          + " the watch events a POST would.)\n\n");
      out(ChangeResult.HEADER);
      changeRows.forEach(r -> out(r + "\n"));
      out("\n");
      out(BREAKDOWN_HEADER);
      breakdownRows.forEach(r -> out(r + "\n"));
      out("\n");
      out("Largest classes in the operator's heap at the end (jcmd GC.class_histogram):\n\n```\n"
          + cluster.operator.histogram(25) + "```\n\n");
    }
  }

  static final String BREAKDOWN_HEADER = """
      Operator CPU per change by thread (ms; the process total includes the GC of one stats call per series):

      | series | JOSDK reconcilers | snapshot server | gRPC | Kubernetes client | other threads | GC, JIT, ended threads |
      |---|---:|---:|---:|---:|---:|---:|
      """;

  private static String breakdown(String series, Map<String, Long> nanos, int changes) {
    StringBuilder row = new StringBuilder("| " + series + " |");
    nanos.values().forEach(n -> row.append(String.format(Locale.ROOT, " %.1f |", n / 1e6 / changes)));
    return row.toString();
  }

  private void fanout() throws Exception {
    BenchShape shape = new BenchShape(options.fanoutNodes(), options.fanoutPool(), 2, options.endpoints(),
        options.namespaces());
    try (Cluster cluster = new Cluster(shape)) {
      cluster.preloadNodes();
      cluster.preloadLoadBalancers(0, options.fanoutLoadBalancers());
      long started = System.nanoTime();
      cluster.startOperator();
      long ready = System.nanoTime();
      out(String.format("### Fan-out: %d nodes, %,d LoadBalancers (half pinned to one node by hostname, half on pools of %d),"
          + " %d endpoints per slice%n%n", shape.nodes(), options.fanoutLoadBalancers(), shape.poolSize(), shape.endpoints()));
      OperatorHandle.Stats previous = cluster.operator.stats();
      out(String.format("Operator started on the existing objects in %.1f s; heap after GC %s before any agent.%n%n",
          (ready - started) / 1e9, mb(previous.heapAfterGc())));
      out("| agents connected | batch: all new agents ACKed their snapshot | operator CPU for the batch | operator heap after GC | threads |\n");
      out("|---:|---:|---:|---:|---:|\n");
      for (int from = 0; from < shape.nodes(); from += 100) {
        int to = Math.min(shape.nodes(), from + 100);
        long start = System.nanoTime();
        cluster.connectAgents(from, to);
        long done = cluster.await("agents " + from + "-" + to + " ACK their snapshots", Duration.ofMinutes(10),
            cluster::agentsCaughtUp);
        OperatorHandle.Stats now = cluster.operator.stats();
        out(String.format("| %d | %.1f s | %.1f s | %s | %d |%n", to, (done - start) / 1e9,
            (now.cpuNanos() - previous.cpuNanos()) / 1e9, mb(now.heapAfterGc()), now.threads()));
        previous = now;
      }
      out("\n");
      long statusDone = cluster.awaitProgrammedStatus(options.fanoutLoadBalancers(), Duration.ofMinutes(30));
      out(String.format("Every LoadBalancer Programmed=True %s after the operator started.%n%n",
          statusDone < 0 ? "not within 30 min" : String.format("%.1f s", (statusDone - started) / 1e9)));
      OperatorHandle.Stats before = cluster.operator.stats();
      long[] messagesBefore = cluster.agents.stream().mapToLong(a -> a.messages.get()).toArray();
      long[] bytesBefore = cluster.agents.stream().mapToLong(a -> a.bytes.get()).toArray();
      ChangeResult pinned = cluster.measureChanges(options.changes() / 2, options.gapMillis(), shape::pinned);
      ChangeResult pooled = cluster.measureChanges(options.changes() - options.changes() / 2, options.gapMillis(),
          lb -> !shape.pinned(lb));
      OperatorHandle.Stats after = cluster.operator.stats();
      int changes = pinned.samples.size() + pooled.samples.size();
      double cpuPerChange = (after.cpuNanos() - before.cpuNanos()) / 1e6 / changes;
      out(ChangeResult.HEADER);
      out(pinned.row("pinned to 1 node", cpuPerChange) + "\n");
      out(pooled.row("pool of " + shape.poolSize() + " nodes", cpuPerChange) + "\n\n");
      out(BREAKDOWN_HEADER);
      out(breakdown("both series", after.breakdownSince(before), changes) + "\n\n");
      // Who got what during the changes: exactly the nodes each change touched, once per change.
      Map<String, Integer> expected = new HashMap<>();
      for (ChangeResult r : List.of(pinned, pooled)) {
        r.affected.forEach(nodes -> nodes.forEach(n -> expected.merge(n, 1, Integer::sum)));
      }
      int touched = 0;
      int untouchedWithMessages = 0;
      int mismatched = 0;
      long messages = 0;
      long bytes = 0;
      long maxBytes = 0;
      for (int i = 0; i < cluster.agents.size(); i++) {
        BenchAgent agent = cluster.agents.get(i);
        long got = agent.messages.get() - messagesBefore[i];
        long gotBytes = agent.bytes.get() - bytesBefore[i];
        int want = expected.getOrDefault(agent.node, 0);
        touched += want > 0 ? 1 : 0;
        untouchedWithMessages += want == 0 && got > 0 ? 1 : 0;
        mismatched += got != want ? 1 : 0;
        messages += got;
        bytes += gotBytes;
        maxBytes = Math.max(maxBytes, gotBytes);
      }
      out(String.format("During those %d changes: %d of %d agents were on a touched node; agents that got a message they"
              + " should not have: %d; agents whose message count differs from the number of changes touching their node:"
              + " %d; %,d messages, %s in all (%s per message; at most %s to one agent).%n%n",
          pinned.samples.size() + pooled.samples.size(), touched, cluster.agents.size(), untouchedWithMessages, mismatched,
          messages, mb(bytes), kb(messages == 0 ? 0 : bytes / messages), kb(maxBytes)));
      out(String.format("Operator at %,d LoadBalancers and %d connected agents: heap after GC %s, %d threads.%n%n",
          options.fanoutLoadBalancers(), cluster.agents.size(), mb(after.heapAfterGc()), after.threads()));
      out("Largest classes in the operator's heap then (jcmd GC.class_histogram):\n\n```\n"
          + cluster.operator.histogram(25) + "```\n\n");
    }
  }

  private void pods() throws Exception {
    BenchShape shape = new BenchShape(20, 5, 0, options.endpoints(), options.namespaces());
    out(String.format("### Pods: operator heap with Pods in the API (%s)%n%n", options.label()));
    out("| Pods in the API | with nodelb.io/drain=true | operator start (informers synced) | cached Pods | operator heap after GC | CPU until settled |\n");
    out("|---:|---:|---:|---:|---:|---:|\n");
    for (int pods : List.of(0, options.pods())) {
      try (Cluster cluster = new Cluster(shape)) {
        cluster.preloadNodes();
        int drained = 0;
        long start = System.nanoTime();
        for (int i = 0; i < pods; i++) {
          boolean drain = i % 10_000 == 0;
          drained += drain ? 1 : 0;
          String namespace = "bench-" + (i % options.namespaces());
          cluster.api.store.preload("/api/v1/namespaces/" + namespace + "/pods", BenchShape.pod(namespace, i, 20, drain));
        }
        log(String.format("%,d pods written in %.1f s", pods, (System.nanoTime() - start) / 1e9));
        long started = System.nanoTime();
        cluster.startOperator();
        long ready = System.nanoTime();
        // Settled: the watch replays every Pod after the list; wait until two stats 5 s apart differ by < 2 % CPU.
        OperatorHandle.Stats stats = cluster.operator.stats();
        while (true) {
          Thread.sleep(5_000);
          OperatorHandle.Stats next = cluster.operator.stats();
          boolean settled = next.cpuNanos() - stats.cpuNanos() < 5_000L * 1_000_000 * 2 / 100 + gcAllowance();
          stats = next;
          if (settled) {
            break;
          }
        }
        out(String.format("| %,d | %d | %.1f s | %s | %s | %.1f s |%n", pods, drained, (ready - started) / 1e9,
            stats.cachedPods() < 0 ? "(not reported)" : String.valueOf(stats.cachedPods()), mb(stats.heapAfterGc()),
            stats.cpuNanos() / 1e9));
      }
    }
    out("\n");
  }

  /** Stats itself runs System.gc() three times: allow for that CPU when judging "settled". */
  private static long gcAllowance() {
    return 300_000_000L;
  }

  // ---- one cluster: mock API server, operator process, agents ----

  private final class Cluster implements AutoCloseable {
    final BenchShape shape;
    final BenchApiServer api = BenchApiServer.start();
    final List<BenchAgent> agents = new ArrayList<>();
    final NioEventLoopGroup loop = new NioEventLoopGroup(2, new DefaultThreadFactory("bench-agents", true));
    OperatorHandle operator;
    SslContext tls;
    int loadBalancers;
    /** Per LoadBalancer: its slice as last written (resourceVersion included) and its endpoint count. */
    final List<EndpointSlice> slices = new ArrayList<>();
    final List<Integer> endpointCounts = new ArrayList<>();
    final Map<String, Integer> listenersPerNode = new HashMap<>();
    /** Where the next series of changes continues in the sequence of LoadBalancers. */
    long changeCursor;

    Cluster(BenchShape shape) {
      this.shape = shape;
    }

    void preloadNodes() {
      for (int n = 0; n < shape.nodes(); n++) {
        api.store.preload("/api/v1/nodes", shape.node(n));
        api.reviews.allow("token-" + BenchShape.nodeName(n), AGENT_USER, BenchShape.nodeName(n));
        listenersPerNode.put(BenchShape.nodeName(n), 0);
      }
    }

    void preloadLoadBalancers(int from, int to) {
      long start = System.nanoTime();
      for (int i = from; i < to; i++) {
        String ns = shape.namespace(i);
        api.store.preload("/api/v1/namespaces/" + ns + "/services", shape.service(i));
      }
      for (int i = from; i < to; i++) {
        String ns = shape.namespace(i);
        EndpointSlice slice = shape.slice(i, shape.endpoints());
        slice.getMetadata().setResourceVersion(
            api.store.preload("/apis/discovery.k8s.io/v1/namespaces/" + ns + "/endpointslices", slice));
        slices.add(slice);
        endpointCounts.add(shape.endpoints());
      }
      for (int i = from; i < to; i++) {
        api.store.preload("/apis/nodelb.io/v1alpha1/namespaces/" + shape.namespace(i) + "/targetgroups",
            shape.targetGroup(i));
      }
      for (int i = from; i < to; i++) {
        api.store.preload("/apis/nodelb.io/v1alpha1/namespaces/" + shape.namespace(i) + "/loadbalancers",
            shape.loadBalancer(i));
        shape.nodesOf(i).forEach(n -> listenersPerNode.merge(n, 1, Integer::sum));
      }
      loadBalancers = to;
      log(String.format("LoadBalancers %,d-%,d with their objects written in %.1f s", from, to,
          (System.nanoTime() - start) / 1e9));
    }

    void startOperator() {
      String classpath = System.getProperty("java.class.path");
      if (options.operatorTree() != null) {
        // Another build of the project (e.g. an older commit): its module classes replace ours.
        // Ours follow at the end, for the classes of this bench's own that the other build lacks.
        List<String> entries = new ArrayList<>();
        List<String> ours = new ArrayList<>();
        for (String entry : classpath.split(java.io.File.pathSeparator)) {
          Path path = Path.of(entry).toAbsolutePath().normalize();
          Path other = path.endsWith(Path.of("target", "classes"))
              ? Path.of(options.operatorTree(), path.getParent().getParent().getFileName().toString(), "target", "classes")
              : null;
          if (other != null && Files.isDirectory(other)) {
            entries.add(other.toString());
            ours.add(entry);
          } else {
            entries.add(entry);
          }
        }
        entries.addAll(ours);
        classpath = String.join(java.io.File.pathSeparator, entries);
      }
      List<String> jvm = new ArrayList<>(List.of("-Xmx" + options.operatorHeap()));
      jvm.addAll(options.operatorJvmArgs());
      long start = System.nanoTime();
      operator = OperatorHandle.start(api.url(), OPERATOR_NS, classpath, jvm);
      log(String.format("operator started in %.1f s (snapshot server on %d)", (System.nanoTime() - start) / 1e9,
          operator.port));
    }

    void connectAgents(int from, int to) throws GeneralSecurityException, IOException {
      if (tls == null) {
        ChannelCertificates.Pems pems = ChannelCertificates.pems(api.client, OPERATOR_NS, ChannelCertificates.AGENT_SECRET);
        tls = GrpcSslContexts.forClient()
            .trustManager(CertificateAuthority.certificates(pems.caCertificate()).toArray(X509Certificate[]::new))
            .keyManager(CertificateAuthority.privateKey(pems.privateKey()),
                CertificateAuthority.certificates(pems.certificate()).toArray(X509Certificate[]::new))
            .build();
      }
      for (int n = from; n < to; n++) {
        String node = BenchShape.nodeName(n);
        agents.add(BenchAgent.connect(node, operator.port, tls, loop, "token-" + node));
      }
    }

    /** Every connected agent has a snapshot with all its node's listeners and the operator recorded its ACK. */
    boolean agentsCaughtUp() {
      for (BenchAgent agent : agents) {
        if (agent.closed != null) {
          throw new IllegalStateException("agent " + agent.node + " stream ended: " + agent.closed);
        }
        if (agent.listeners != listenersPerNode.get(agent.node) || operator.ackNanos(agent.node, agent.version) == 0) {
          return false;
        }
      }
      return true;
    }

    /** The largest snapshot an agent received last (bytes on the wire). */
    long largestSnapshotBytes() {
      return agents.stream().mapToLong(a -> a.lastMessageBytes).max().orElse(0);
    }

    /** Polls until {@code condition} holds; returns System.nanoTime() then. */
    long await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      long lastLog = System.nanoTime();
      while (!condition.getAsBoolean()) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("timed out: " + what);
        }
        if (System.nanoTime() - lastLog > 10_000_000_000L) {
          log("waiting: " + what);
          lastLog = System.nanoTime();
        }
        Thread.sleep(20);
      }
      long done = System.nanoTime();
      log("done: " + what);
      return done;
    }

    /** Lists the LoadBalancers every 5 s until {@code count} are Programmed=True; nanoTime then, -1 on timeout. */
    long awaitProgrammedStatus(int count, Duration timeout) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < deadline) {
        long at = System.nanoTime();
        List<LoadBalancer> all = api.client.resources(LoadBalancer.class).inAnyNamespace().list().getItems();
        long programmed = all.stream().filter(lb -> lb.getStatus() != null && lb.getStatus().conditions != null
            && lb.getStatus().conditions.stream().anyMatch(c -> "Programmed".equals(c.getType())
                && "True".equals(c.getStatus()))).count();
        if (programmed >= count) {
          log("all " + count + " LoadBalancers Programmed=True");
          return at;
        }
        log(String.format("%,d of %,d LoadBalancers Programmed=True", programmed, count));
        Thread.sleep(5_000);
      }
      return -1;
    }

    /**
     * {@code count} single-endpoint changes, one at a time, each on another LoadBalancer's slice
     * (accepted by {@code which}): add an 11th endpoint, or take it away again.
     */
    ChangeResult measureChanges(int count, long gapMillis, java.util.function.IntPredicate which)
        throws InterruptedException {
      ChangeResult result = new ChangeResult();
      String recording = null;
      if (options.profileDir() != null) {
        recording = Path.of(options.profileDir(), "changes-" + shape.nodes() + "n-" + loadBalancers + "lb-"
            + System.currentTimeMillis() + ".jfr").toAbsolutePath().toString();
        operator.jcmd("JFR.start", "name=changes", "settings=profile", "filename=" + recording);
      }
      Map<String, BenchAgent> byNode = new HashMap<>();
      agents.forEach(a -> byNode.put(a.node, a));
      while (result.samples.size() < count) {
        // 7919 is prime: successive changes land on LoadBalancers spread over namespaces, pools and nodes.
        int lb = (int) Math.floorMod(changeCursor++ * 7919L, (long) loadBalancers);
        if (!which.test(lb)) {
          continue;
        }
        int now = endpointCounts.get(lb);
        int next = now == shape.endpoints() ? now + 1 : shape.endpoints();
        EndpointSlice changed = shape.slice(lb, next);
        changed.getMetadata().setResourceVersion(slices.get(lb).getMetadata().getResourceVersion());
        Set<String> nodes = shape.nodesOf(lb);
        List<String> nodeList = List.copyOf(nodes);
        List<BenchAgent.Probe> probes = new ArrayList<>();
        for (String node : nodeList) {
          BenchAgent.Probe probe = new BenchAgent.Probe(shape.groupName(lb), next);
          probes.add(probe);
          byNode.get(node).arm(probe);
        }

        long t0 = System.nanoTime();
        EndpointSlice written = api.client.resource(changed).update();
        long t1 = System.nanoTime();
        slices.set(lb, written);
        endpointCounts.set(lb, next);
        long deadline = t1 + 60_000_000_000L;
        while (true) {
          boolean done = true;
          for (int i = 0; i < probes.size(); i++) {
            BenchAgent.Probe p = probes.get(i);
            if (p.arrivedNanos == 0 || operator.ackNanos(nodeList.get(i), p.version) == 0) {
              done = false;
              break;
            }
          }
          if (done) {
            break;
          }
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("change of " + shape.groupName(lb) + " did not reach " + nodes + " in 60 s");
          }
          java.util.concurrent.locks.LockSupport.parkNanos(100_000);
        }
        nodes.forEach(n -> byNode.get(n).arm(null));
        long firstArrival = Long.MAX_VALUE;
        long lastArrival = 0;
        long lastAck = 0;
        long published = Long.MAX_VALUE;
        for (int i = 0; i < probes.size(); i++) {
          BenchAgent.Probe p = probes.get(i);
          firstArrival = Math.min(firstArrival, p.arrivedNanos);
          lastArrival = Math.max(lastArrival, p.arrivedNanos);
          lastAck = Math.max(lastAck, operator.ackNanos(nodeList.get(i), p.version));
          long pub = operator.publishedNanos(nodeList.get(i), t0);
          if (pub > 0) {
            published = Math.min(published, pub);
          }
        }
        if (DEBUG) {
          log(String.format("change %s %d→%d on %s: write %s, published %s, agents %s..%s, acks %s; publishes since: %s",
              shape.groupName(lb), now, next, nodes, ms(t1 - t0), ms(published == Long.MAX_VALUE ? -1 : published - t1),
              ms(firstArrival - t1), ms(lastArrival - t1), ms(lastAck - t1), operator.publishesSince(t0 - 1_000_000_000L, t1)));
        }
        result.add(new Sample(t1 - t0, published == Long.MAX_VALUE ? -1 : published - t1, firstArrival - t1,
            lastArrival - t1, lastAck - t1), nodes);
        Thread.sleep(gapMillis);
      }
      if (recording != null) {
        operator.jcmd("JFR.stop", "name=changes");
        log("profile of the operator during the changes: " + recording);
      }
      return result;
    }

    @Override
    public void close() {
      agents.forEach(BenchAgent::close);
      if (operator != null) {
        operator.close();
      }
      loop.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
      api.close();
    }
  }

  /** One change: nanoseconds from the API write returning (the write itself from its start). */
  record Sample(long write, long published, long firstAgent, long allAgents, long allAcks) {}

  /** The samples of one series and the nodes each change touched. */
  static final class ChangeResult {
    static final String HEADER = """
        | series | changes | API write | write → model published | → first agent has it | → all affected agents have it (p50 / p99 / max) | → all their ACKs recorded (p50 / p99 / max) | operator CPU per change |
        |---|---:|---:|---:|---:|---:|---:|---:|
        """;
    final List<Sample> samples = new ArrayList<>();
    final List<Set<String>> affected = new ArrayList<>();

    void add(Sample sample, Set<String> nodes) {
      samples.add(sample);
      affected.add(nodes);
    }

    String row(String series, double cpuMillisPerChange) {
      return String.format("| %s | %d | %s | %s | %s | %s / %s / %s | %s / %s / %s | %.1f ms |", series, samples.size(),
          ms(percentile(Sample::write, 50)), ms(percentile(Sample::published, 50)) + " (p99 " + ms(percentile(Sample::published, 99)) + ")",
          ms(percentile(Sample::firstAgent, 50)),
          ms(percentile(Sample::allAgents, 50)), ms(percentile(Sample::allAgents, 99)), ms(percentile(Sample::allAgents, 100)),
          ms(percentile(Sample::allAcks, 50)), ms(percentile(Sample::allAcks, 99)), ms(percentile(Sample::allAcks, 100)),
          cpuMillisPerChange);
    }

    private long percentile(java.util.function.ToLongFunction<Sample> metric, int p) {
      long[] values = samples.stream().mapToLong(metric).sorted().toArray();
      if (values.length == 0) {
        return 0;
      }
      int index = p >= 100 ? values.length - 1 : Math.min(values.length - 1, (int) Math.ceil(p / 100.0 * values.length) - 1);
      return values[Math.max(0, index)];
    }
  }

  static String ms(long nanos) {
    return nanos < 0 ? "n/a" : String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
  }

  static String mb(long bytes) {
    return String.format(Locale.ROOT, "%.0f MB", bytes / 1e6);
  }

  static String kb(long bytes) {
    return String.format(Locale.ROOT, "%.1f KB", bytes / 1e3);
  }

}
