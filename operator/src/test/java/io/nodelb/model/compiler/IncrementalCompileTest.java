package io.nodelb.model.compiler;

import io.nodelb.operator.KubernetesInputs;
import static io.nodelb.model.compiler.Fixtures.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.nodelb.api.v1alpha1.StaticBackend;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The node views reuse their last assembly and patch changed groups in place. Whatever sequence of
 * changes arrives, the snapshots must stay exactly what a full compile of the same objects gives.
 */
class IncrementalCompileTest {
  private static final String NS = "shop";
  private static final int APPS = 6;
  private static final List<String> NODES = List.of("n1", "n2", "n3", "n4");

  private final Random random = new Random(7);
  /** The objects as the API server would hold them now, by kind/name. */
  private final Map<String, HasMetadata> cluster = new LinkedHashMap<>();

  @Test
  void everyStepOfARandomChangeSequenceMatchesAFullCompile() {
    for (String node : NODES) {
      store(node(node, Map.of("pool", pool()), Map.of()));
    }
    for (int app = 0; app < APPS; app++) {
      store(service(NS, "app" + app, servicePort("http", 80, "web")));
      store(randomSlice(app));
      store(app % 2 == 0 ? serviceGroup(NS, "app" + app, "app" + app, new IntOrString("http")) : randomStaticGroup(app));
      store(randomLoadBalancer(app));
    }
    ModelCompiler incremental = KubernetesInputs.compileAll(cluster.values());

    for (int step = 0; step < 400; step++) {
      Map<ObjectKey, Object> lbsBefore = loadBalancerOutcomes(incremental);
      Map<ObjectKey, Object> partsBefore = loadBalancerParts(incremental);
      Map<ObjectKey, Object> groupsBefore = groupOutcomes(incremental);
      change(incremental);
      ModelCompiler.Result result = incremental.compile();
      ModelCompiler full = KubernetesInputs.compileAll(cluster.values());
      // What the compile says it touched covers every change a caller tracking outcomes must see.
      Set<ObjectKey> candidates = new HashSet<>(result.reprogrammedLoadBalancers());
      result.recompiledGroups().forEach(g -> candidates.addAll(incremental.loadBalancersUsing(g)));
      Map<ObjectKey, Object> lbsAfter = loadBalancerOutcomes(incremental);
      Map<ObjectKey, Object> partsAfter = loadBalancerParts(incremental);
      for (ObjectKey lb : union(lbsBefore.keySet(), lbsAfter.keySet())) {
        if (!Objects.equals(lbsBefore.get(lb), lbsAfter.get(lb))) {
          assertThat(candidates).as("step %d: problems or nodes of %s changed", step, lb).contains(lb);
        }
        if (!Objects.equals(partsBefore.get(lb), partsAfter.get(lb))) {
          assertThat(result.reprogrammedLoadBalancers()).as("step %d: the parts of %s changed", step, lb).contains(lb);
        }
      }
      Map<ObjectKey, Object> groupsAfter = groupOutcomes(incremental);
      for (ObjectKey group : union(groupsBefore.keySet(), groupsAfter.keySet())) {
        if (!Objects.equals(groupsBefore.get(group), groupsAfter.get(group))) {
          assertThat(result.recompiledGroups()).as("step %d: group %s changed", step, group).contains(group);
        }
      }
      for (String node : NODES) {
        Set<ObjectKey> on = new HashSet<>();
        incremental.loadBalancerKeys().forEach(lb -> {
          if (incremental.nodesOf(lb).contains(node)) {
            on.add(lb);
          }
        });
        assertThat(incremental.loadBalancersOn(node)).as("step %d: on %s", step, node).isEqualTo(on);
      }
      assertThat(incremental.snapshots()).as("step %d", step).isEqualTo(full.snapshots());
      for (var snapshot : incremental.snapshots().values()) {
        assertThat(snapshot.getVersion()).as("step %d", step).isEqualTo(Snapshots.version(snapshot));
        byte[] expected = Snapshots.serialize(snapshot);
        assertThat(incremental.serializedSnapshot(snapshot.getNode())).as("step %d", step).isEqualTo(expected);
        SerializedSnapshot parts = incremental.serializedParts(snapshot.getNode());
        var written = new java.io.ByteArrayOutputStream();
        try {
          parts.writeTo(written);
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        assertThat(written.toByteArray()).as("step %d", step).isEqualTo(expected);
        assertThat(parts.size()).isEqualTo(expected.length);
        assertThat(parts.version()).isEqualTo(snapshot.getVersion());
        assertThat(SerializedSnapshot.of(snapshot).toByteArray()).as("step %d", step).isEqualTo(expected);
      }
    }
  }

  private static Map<ObjectKey, Object> loadBalancerOutcomes(ModelCompiler compiler) {
    Map<ObjectKey, Object> outcomes = new HashMap<>();
    compiler.loadBalancerKeys().forEach(lb -> outcomes.put(lb, List.of(compiler.problemsOf(lb), Set.copyOf(compiler.nodesOf(lb)))));
    return outcomes;
  }

  /** What a LoadBalancer puts into the snapshots of its nodes: its listeners and its groups, by digest, and where. */
  private static Map<ObjectKey, Object> loadBalancerParts(ModelCompiler compiler) {
    Map<ObjectKey, Object> parts = new HashMap<>();
    for (ObjectKey lb : compiler.loadBalancerKeys()) {
      CompiledLoadBalancer compiled = compiler.loadBalancer(lb);
      List<String> digests = new ArrayList<>();
      if (compiled != null) {
        compiled.listeners().forEach(l -> digests.add(l.listener().getName() + "=" + HexFormat.of().formatHex(l.digest())));
        compiled.groups().stream().sorted().forEach(g -> {
          CompiledGroup group = compiler.targetGroup(g);
          digests.add(g + "=" + (group == null || group.group() == null ? "-" : HexFormat.of().formatHex(group.digest())));
        });
      }
      parts.put(lb, List.of(digests, Set.copyOf(compiler.nodesOf(lb))));
    }
    return parts;
  }

  private static Map<ObjectKey, Object> groupOutcomes(ModelCompiler compiler) {
    Map<ObjectKey, Object> outcomes = new HashMap<>();
    compiler.targetGroupKeys().forEach(g -> {
      CompiledGroup group = compiler.targetGroup(g);
      outcomes.put(g, group == null ? "-" : List.of(group.problems(), group.counts()));
    });
    return outcomes;
  }

  private static <T> Set<T> union(Set<T> a, Set<T> b) {
    Set<T> all = new HashSet<>(a);
    all.addAll(b);
    return all;
  }

  /** One random change, applied to the cluster and told to the incremental compiler. */
  private void change(ModelCompiler compiler) {
    int app = random.nextInt(APPS);
    HasMetadata changed = switch (random.nextInt(8)) {
      case 0, 1, 2 -> randomSlice(app); // the common case: endpoints move
      case 3 -> app % 2 == 0 ? null : randomStaticGroup(app); // content changes, sometimes invalid
      case 4 -> randomLoadBalancer(app);
      case 5 -> node(NODES.get(random.nextInt(NODES.size())), Map.of("pool", pool()),
          random.nextInt(4) == 0 ? Map.of("nodelb.io/drain", "true") : Map.of());
      default -> null;
    };
    if (changed != null) {
      store(changed);
      KubernetesInputs.put(compiler, changed);
      return;
    }
    // Remove or bring back a group or a slice (listeners disappear and come back).
    String key = (random.nextBoolean() ? "TargetGroup/" : "EndpointSlice/") + "app" + app;
    HasMetadata gone = cluster.remove(key);
    if (gone != null) {
      KubernetesInputs.remove(compiler, gone);
    } else {
      HasMetadata back = key.startsWith("TargetGroup/")
          ? (app % 2 == 0 ? serviceGroup(NS, "app" + app, "app" + app, new IntOrString("http")) : randomStaticGroup(app))
          : randomSlice(app);
      store(back);
      KubernetesInputs.put(compiler, back);
    }
  }

  private void store(HasMetadata object) {
    cluster.put(object.getKind() + "/" + object.getMetadata().getName(), object);
  }

  private String pool() {
    return random.nextBoolean() ? "edge" : "batch";
  }

  private HasMetadata randomSlice(int app) {
    int count = random.nextInt(4);
    Endpoint[] endpoints = new Endpoint[count];
    for (int e = 0; e < count; e++) {
      String node = NODES.get(random.nextInt(NODES.size()));
      boolean terminating = random.nextInt(3) == 0;
      endpoints[e] = endpoint("10.0." + app + "." + (1 + random.nextInt(5)), node, "app" + app + "-" + e,
          !terminating, random.nextBoolean(), terminating);
    }
    return slice(NS, "app" + app, "app" + app, "IPv4", List.of(slicePort("http", 8080)), endpoints);
  }

  private HasMetadata randomStaticGroup(int app) {
    List<StaticBackend> backends = new ArrayList<>();
    int count = 1 + random.nextInt(3);
    for (int b = 0; b < count; b++) {
      // weight 0 everywhere makes the group invalid: its listeners leave the snapshots
      backends.add(new StaticBackend("10.9." + app + "." + (b + 1), 8080, random.nextInt(3)));
    }
    return staticGroup(NS, "app" + app, backends.toArray(StaticBackend[]::new));
  }

  private HasMetadata randomLoadBalancer(int app) {
    Map<String, String> selector = switch (random.nextInt(3)) {
      case 0 -> Map.of();
      case 1 -> Map.of("pool", "edge");
      default -> Map.of("pool", "batch");
    };
    // A few shared addresses so that listener conflicts come and go.
    String address = "10.1.1." + (1 + random.nextInt(APPS / 2));
    String other = "app" + random.nextInt(APPS);
    return loadBalancer(NS, "app" + app, selector, listener("http", address, 80, "app" + app),
        listener("alt", address, 8000 + app, other));
  }
}
