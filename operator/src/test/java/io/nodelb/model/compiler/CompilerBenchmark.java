package io.nodelb.model.compiler;

import io.nodelb.operator.KubernetesInputs;
import static io.nodelb.model.compiler.Fixtures.*;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Compiler at scale: N LoadBalancers, each with its own Service-backed TargetGroup, E endpoints in
 * all, nodes in pools. Measures a full compile and one EndpointSlice change (incremental), and the
 * heap the compiled model keeps. A plain main with warm-up (not part of `verify`):
 *
 * <pre>
 * ./mvnw -B -q test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test -pl operator -am
 * java -Xmx4g -XX:+UseParallelGC -cp "$(cat operator/target/bench.cp):operator/target/classes:operator/target/test-classes" \
 *     io.nodelb.model.compiler.CompilerBenchmark [loadBalancers] [endpoints] [nodes] [pools] [resultFile]
 * </pre>
 */
public final class CompilerBenchmark {
  private CompilerBenchmark() {}

  public static void main(String[] args) throws IOException {
    int loadBalancers = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    int endpoints = args.length > 1 ? Integer.parseInt(args[1]) : 100_000;
    int nodes = args.length > 2 ? Integer.parseInt(args[2]) : 20;
    int pools = args.length > 3 ? Integer.parseInt(args[3]) : 4;
    Path resultFile = Path.of(args.length > 4 ? args[4] : "operator/target/compiler-benchmark.txt");
    int perGroup = endpoints / loadBalancers;

    List<HasMetadata> inputs = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      inputs.add(node("node-" + n, Map.of("pool", "p" + (n % pools)), Map.of()));
    }
    List<EndpointSlice> slices = new ArrayList<>();
    for (int i = 0; i < loadBalancers; i++) {
      String name = "app-" + i;
      inputs.add(service("bench", name, servicePort("http", 80, "web")));
      EndpointSlice slice = slice("bench", name + "-1", name, "IPv4", List.of(slicePort("http", 8080)),
          endpointsFor(i, perGroup, nodes, 0));
      slices.add(slice);
      inputs.add(slice);
      inputs.add(serviceGroup("bench", name, name, new IntOrString("http")));
      int octet3 = i / 250;
      int octet4 = i % 250 + 1;
      inputs.add(loadBalancer("bench", name, Map.of("pool", "p" + (i % pools)),
          listener("http", "10.200." + octet3 + "." + octet4, 80, name)));
    }

    StringBuilder report = new StringBuilder();
    report.append(String.format("nodelb model compiler benchmark (%s, %d cores, JDK %s)%n",
        java.time.Instant.now(), Runtime.getRuntime().availableProcessors(), Runtime.version()));
    report.append(String.format("inputs: %d LoadBalancers, %d TargetGroups/Services/EndpointSlices, %d endpoints, "
        + "%d nodes in %d pools (%d LoadBalancers per node)%n",
        loadBalancers, loadBalancers, perGroup * loadBalancers, nodes, pools, loadBalancers / pools));

    long heapInputs = usedHeap();
    // Full compile: warm up, then measure.
    long[] full = new long[5];
    ModelCompiler compiler = null;
    for (int round = -3; round < full.length; round++) {
      compiler = null;
      long start = System.nanoTime();
      compiler = KubernetesInputs.compileAll(inputs);
      if (round >= 0) {
        full[round] = System.nanoTime() - start;
      }
    }
    long heapCompiled = usedHeap();
    long snapshotBytes = compiler.snapshots().values().stream().mapToLong(s -> s.getSerializedSize()).max().orElse(0);

    // Incremental: one EndpointSlice changes (an endpoint flips between ready and terminating).
    int rounds = 2_000;
    long[] incremental = new long[rounds];
    int changedNodes = 0;
    for (int round = -1_000; round < rounds; round++) {
      int group = Math.floorMod(round * 7919, loadBalancers);
      int flip = Math.floorMod(round, 2);
      EndpointSlice changed = slice("bench", "app-" + group + "-1", "app-" + group, "IPv4",
          List.of(slicePort("http", 8080)), endpointsFor(group, perGroup, nodes, flip));
      long start = System.nanoTime();
      compiler.putEndpointSlice(KubernetesInputs.of(changed));
      ModelCompiler.Result result = compiler.compile();
      long elapsed = System.nanoTime() - start;
      if (round >= 0) {
        incremental[round] = elapsed;
        changedNodes = result.changed().size();
      }
    }

    // What the old rule (SHA-256 of the whole serialized snapshot) cost per node, and what a sender
    // pays to serialize the largest snapshot; neither is on the compile path any more.
    var largest = compiler.snapshots().values().stream()
        .max(java.util.Comparator.comparingInt(s -> s.getSerializedSize())).orElseThrow();
    long[] serializeOnly = new long[200];
    long[] wholeHash = new long[200];
    long[] concatenated = new long[200];
    for (int round = -200; round < serializeOnly.length; round++) {
      long start = System.nanoTime();
      byte[] bytes = Snapshots.serialize(largest);
      long serialized = System.nanoTime();
      Snapshots.sha256(bytes);
      long hashed = System.nanoTime();
      byte[] fromParts = compiler.serializedSnapshot(largest.getNode());
      long joined = System.nanoTime();
      if (round >= 0) {
        serializeOnly[round] = serialized - start;
        wholeHash[round] = hashed - serialized;
        concatenated[round] = joined - hashed;
      }
      if (round == 0 && !Arrays.equals(bytes, fromParts)) {
        throw new IllegalStateException("serializedSnapshot differs from serializing the message");
      }
    }
    Arrays.sort(serializeOnly);
    Arrays.sort(wholeHash);
    Arrays.sort(concatenated);
    Arrays.sort(full);
    Arrays.sort(incremental);
    report.append(String.format("full compile:        median %.1f ms, min %.1f ms, max %.1f ms (%d runs after 3 warm-up)%n",
        ms(full[full.length / 2]), ms(full[0]), ms(full[full.length - 1]), full.length));
    report.append(String.format("one slice change:    median %.3f ms, p99 %.3f ms, max %.3f ms (%d runs after 1000 warm-up;"
        + " %d node snapshots re-versioned per change)%n",
        ms(incremental[rounds / 2]), ms(incremental[rounds * 99 / 100]), ms(incremental[rounds - 1]), rounds, changedNodes));
    report.append(String.format("largest snapshot:    %.1f MB serialized; serializing the message: median %.3f ms;"
        + " concatenating cached part bytes (serializedSnapshot): median %.3f ms;"
        + " SHA-256 over the whole bytes (the old version rule): median %.3f ms%n",
        snapshotBytes / 1e6, ms(serializeOnly[serializeOnly.length / 2]), ms(concatenated[concatenated.length / 2]),
        ms(wholeHash[wholeHash.length / 2])));
    report.append(String.format("heap: inputs %.0f MB; inputs + compiled model %.0f MB (model alone ~%.0f MB)%n",
        heapInputs / 1e6, heapCompiled / 1e6, (heapCompiled - heapInputs) / 1e6));
    System.out.print(report);
    Files.createDirectories(resultFile.toAbsolutePath().getParent());
    Files.writeString(resultFile, report.toString(),
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    if (slices.isEmpty()) {
      throw new IllegalStateException("no inputs");
    }
  }

  private static Endpoint[] endpointsFor(int group, int count, int nodes, int terminatingIndexPlusOne) {
    Endpoint[] result = new Endpoint[count];
    for (int e = 0; e < count; e++) {
      int id = group * count + e;
      String address = "10." + (id >> 16 & 0xff) + "." + (id >> 8 & 0xff) + "." + (id & 0xff);
      boolean terminating = terminatingIndexPlusOne == 1 && e == 0;
      result[e] = endpoint(address, "node-" + (id % nodes), "pod-" + id, !terminating, true, terminating);
    }
    return result;
  }

  private static long usedHeap() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  private static double ms(long nanos) {
    return nanos / 1e6;
  }
}
