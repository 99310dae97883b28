package io.nodelb.model.compiler;

import static io.nodelb.model.compiler.Fixtures.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SnapshotsTest {
  @Test
  void versionFromCachedPiecesEqualsHashOfTheWholeSerializedSnapshot() {
    var compiler = ModelCompiler.compileAll(List.of(
        node("n1"),
        staticGroup("default", "web", new StaticBackend("10.1.2.2", 8080, 3), new StaticBackend("2001:db8::2", 8080, 1)),
        staticGroup("default", "api", new StaticBackend("10.1.4.2", 9000, 1)),
        loadBalancer("default", "web", Map.of(), listener("http", "10.1.1.1", 80, "web"),
            listener("api", "10.1.1.1", 9000, "api"))));
    NodeSnapshot snapshot = compiler.snapshot("n1");

    assertThat(snapshot.getVersion()).hasSize(64).matches("[0-9a-f]{64}");
    assertThat(snapshot.getVersion()).isEqualTo(Snapshots.version(snapshot));
  }

  @Test
  void emptySnapshotStillHasAVersionAndTheNodeName() {
    var compiler = ModelCompiler.compileAll(List.of(node("idle")));
    NodeSnapshot snapshot = compiler.snapshot("idle");

    assertThat(snapshot.getNode()).isEqualTo("idle");
    assertThat(snapshot.getListenersList()).isEmpty();
    assertThat(snapshot.getVersion()).isEqualTo(Snapshots.version(snapshot));
  }
}
