package io.nodelb.operator.channel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.nodelb.operator.InMemorySnapshotStore;
import io.nodelb.operator.SnapshotStore;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * An agent that reconnects to a new leader before its model is warm, saying it runs what turns out
 * to be the current version, counts as having applied it once the model is warm (nothing is sent),
 * as an agent whose Hello comes after the warm-up does.
 */
@EnableKubernetesMockClient(crud = true)
class WarmUpIT {
  private static final String NS = "nodelb-system";
  private static final Duration WAIT = Duration.ofSeconds(10);

  KubernetesClient client;
  private SnapshotServer server;
  private TestAgent agent;

  @AfterEach
  void stop() {
    if (agent != null) {
      agent.close();
    }
    if (server != null) {
      server.close();
    }
  }

  @Test
  void aHelloBeforeTheWarmUpWithTheCurrentVersionIsAcknowledgedAtTheWarmUp() {
    AtomicBoolean warm = new AtomicBoolean(false);
    InMemorySnapshotStore store = new InMemorySnapshotStore();
    ChannelSettings settings = ChannelSettings.forTests(NS);
    server = new SnapshotServer(settings, store, warm::get, AgentAuthenticator.trustingHello(),
        new ChannelCertificates(client, settings, Clock.systemUTC()), Clock.systemUTC());
    server.start();
    server.leading(true);
    // A node the model does not know gets the empty snapshot: that is the current version here.
    String current = server.snapshotFor("n1").version();

    agent = TestAgent.connect(TestAgent.tls(server.port(), ChannelCertificates.pems(client, NS,
        ChannelCertificates.AGENT_SECRET)), null, TestAgent.hello("n1").toBuilder().setAppliedVersion(current).build());
    await().atMost(WAIT).until(() -> server.connectedNodes().contains("n1"));
    assertThat(store.state("n1").answer()).as("not known to be current before the warm-up")
        .isNotEqualTo(SnapshotStore.Answer.ACKED);

    warm.set(true);
    await().atMost(WAIT).until(() -> store.state("n1").answer() == SnapshotStore.Answer.ACKED);
    assertThat(store.ackedVersion("n1")).hasValue(current);
    assertThat(agent.poll(Duration.ofMillis(500))).as("it has the current version: nothing is sent").isEmpty();
  }
}
