package io.nodelb.operator.bench;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.model.compiler.SerializedSnapshot;
import io.nodelb.operator.InMemorySnapshotStore;
import io.nodelb.operator.NodelbOperator;
import io.nodelb.operator.OperatorSettings;
import io.nodelb.operator.SnapshotStore;
import io.nodelb.operator.channel.ChannelSettings;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The operator alone in its own JVM, for {@link ControlPlaneBench}: its CPU time and heap are then
 * the operator's, not the mock API server's or the simulated agents'. It runs {@link NodelbOperator}
 * exactly as the tests do (mock-server settings: no server-side apply, no CRD check, no leader
 * election; snapshot server with mutual TLS on 127.0.0.1, a free port) against the API server at
 * {@code args[0]}.
 *
 * <p>Protocol on stdout (one line each): {@code READY <port>} once serving; {@code ACK <node>
 * <version> <nanoTime>} when the store records an agent's ACK (System.nanoTime is CLOCK_MONOTONIC,
 * the same clock in both processes); {@code PUB <nanoTime> <node,...>} when the model publishes new
 * snapshots; {@code STATS <heapAfterGc> <processCpuNanos> <cachedPods> <threads> <name=cpuNanos;...>} after a line
 * {@code STATS} on stdin. {@code QUIT} on stdin stops it. Only public API of the operator is used,
 * so an older build of the operator can run behind this class (the "before" runs).
 */
public final class OperatorProcess {
  private OperatorProcess() {}

  public static void main(String[] args) throws Exception {
    ControlPlaneBench.quietLogging();
    String url = args[0];
    String namespace = args.length > 1 ? args[1] : "nodelb-system";
    PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
    System.setOut(System.err); // anything else printed goes to the log, not the protocol
    KubernetesClient client = new KubernetesClientBuilder()
        .withConfig(new ConfigBuilder().withMasterUrl(url).withTrustCerts(true).withNamespace("default").build())
        .build();
    SnapshotStore store = new RecordingStore(new InMemorySnapshotStore(), out);
    NodelbOperator operator = NodelbOperator.create(client, OperatorSettings.forMockServer(false, namespace), store,
        ChannelSettings.forTests(namespace));
    operator.start();
    out.println("READY " + operator.snapshotServer().port());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) {
      if (line.equals("STATS")) {
        long cpu = processCpuNanos(); // before the GCs below
        out.println("STATS " + heapAfterGc() + " " + cpu + " " + cachedPods(operator) + " "
            + Thread.activeCount() + " " + threadCpu());
      } else if (line.equals("QUIT")) {
        break;
      }
    }
    operator.close();
    client.close();
    System.exit(0);
  }

  /** CPU time of the live threads, summed by name with digits made '#': "name=nanos;name=nanos". */
  static String threadCpu() {
    java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    Map<String, Long> byName = new java.util.TreeMap<>();
    for (java.lang.management.ThreadInfo info : threads.getThreadInfo(threads.getAllThreadIds())) {
      if (info == null) {
        continue;
      }
      long nanos = threads.getThreadCpuTime(info.getThreadId());
      if (nanos > 0) {
        byName.merge(info.getThreadName().replaceAll("[0-9]+", "#").replaceAll("[\\s;=]", "_"), nanos, Long::sum);
      }
    }
    StringBuilder text = new StringBuilder();
    byName.forEach((name, nanos) -> text.append(text.isEmpty() ? "" : ";").append(name).append('=').append(nanos));
    return text.isEmpty() ? "-" : text.toString();
  }

  static long heapAfterGc() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  /** -1 where the operator does not say (builds before the Pod item store). */
  private static long cachedPods(NodelbOperator operator) {
    try {
      return ((Number) NodelbOperator.class.getMethod("cachedPods").invoke(operator)).longValue();
    } catch (ReflectiveOperationException e) {
      return -1;
    }
  }

  /** The operator's store, telling the bench when ACKs are recorded and snapshots published. */
  private record RecordingStore(SnapshotStore delegate, PrintStream out) implements SnapshotStore {
    @Override
    public void publish(Map<String, NodeSnapshot> changed, Map<String, SerializedSnapshot> serialized,
        Set<String> removed) {
      published(changed);
      delegate.publish(changed, serialized, removed);
    }

    /** The operator before the serialized snapshots (a "before" run) calls this one. */
    @Override
    public void publish(Map<String, NodeSnapshot> changed, Set<String> removed) {
      published(changed);
      delegate.publish(changed, removed);
    }

    private void published(Map<String, NodeSnapshot> changed) {
      long now = System.nanoTime();
      if (!changed.isEmpty() && changed.size() <= 50) {
        out.println("PUB " + now + " " + String.join(",", changed.keySet()));
      }
    }

    @Override
    public Optional<SerializedSnapshot> serialized(String node) {
      return delegate.serialized(node);
    }

    @Override
    public void acknowledge(String node, String version) {
      out.println("ACK " + node + " " + version + " " + System.nanoTime());
      delegate.acknowledge(node, version);
    }

    @Override
    public Optional<NodeSnapshot> snapshot(String node) {
      return delegate.snapshot(node);
    }

    @Override
    public Map<String, String> versions() {
      return delegate.versions();
    }

    @Override
    public void reject(String node, String version, String error) {
      out.println("NACK " + node + " " + version + " " + System.nanoTime());
      delegate.reject(node, version, error);
    }

    @Override
    public NodeState state(String node) {
      return delegate.state(node);
    }

    @Override
    public Optional<String> ackedVersion(String node) {
      return delegate.ackedVersion(node);
    }

    @Override
    public void beginTerm(Instant now) {
      delegate.beginTerm(now);
    }

    @Override
    public void agentConnected(String node, String agentVersion, Instant at) {
      delegate.agentConnected(node, agentVersion, at);
    }

    @Override
    public void agentDisconnected(String node, String reason, Instant at) {
      delegate.agentDisconnected(node, reason, at);
    }

    @Override
    public void report(String node, NodeReport report, Instant at) {
      delegate.report(node, report, at);
    }

    @Override
    public Optional<Agent> agent(String node) {
      return delegate.agent(node);
    }

    @Override
    public void addListener(NodeListener listener) {
      delegate.addListener(listener);
    }

    @Override
    public void addSnapshotListener(Consumer<Set<String>> changedNodes) {
      delegate.addSnapshotListener(changedNodes);
    }
  }
}
