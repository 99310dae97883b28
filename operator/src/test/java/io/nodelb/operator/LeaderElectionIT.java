package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.nodelb.operator.channel.ChannelCertificates;
import io.nodelb.operator.channel.ChannelSettings;
import io.nodelb.operator.channel.MockTokenReviews;
import io.nodelb.operator.channel.TestAgent;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** With leader election on, the operator takes a Lease before it reconciles. */
@EnableKubernetesMockClient(crud = true)
class LeaderElectionIT {
  KubernetesClient client;
  KubernetesMockServer server;

  @Test
  void theOperatorHoldsTheLeaseWhileItRuns() {
    // JOSDK asks whether it may use Leases; the mock server cannot answer that in CRUD mode.
    server.expect().post().withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
        .andReturn(201, new SelfSubjectRulesReviewBuilder().withNewMetadata().endMetadata().withNewStatus()
            .addNewResourceRule().withVerbs("*").withApiGroups("*").withResources("*").endResourceRule()
            .withIncomplete(false).endStatus().build())
        .always();
    client.resource(new NamespaceBuilder().withNewMetadata().withName("nodelb-system").endMetadata().build()).create();
    try (NodelbOperator operator = NodelbOperator.create(client,
        OperatorSettings.forMockServer(true, "nodelb-system"), new InMemorySnapshotStore())) {
      operator.start();

      await().atMost(Duration.ofSeconds(20)).ignoreExceptions().untilAsserted(() -> {
        Lease lease = client.leases().inNamespace("nodelb-system").withName(OperatorSettings.LEASE_NAME).get();
        assertThat(lease.getSpec().getHolderIdentity()).isNotBlank();
      });
    }
  }

  @Test
  void theSnapshotServerServesOnceThisReplicaLeads() {
    server.expect().post().withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
        .andReturn(201, new SelfSubjectRulesReviewBuilder().withNewMetadata().endMetadata().withNewStatus()
            .addNewResourceRule().withVerbs("*").withApiGroups("*").withResources("*").endResourceRule()
            .withIncomplete(false).endStatus().build())
        .always();
    MockTokenReviews.install(server).allow("token-n1", "system:serviceaccount:nodelb-system:nodelb-agent", "n1");
    try (NodelbOperator operator = NodelbOperator.create(client, OperatorSettings.forMockServer(true, "nodelb-system"),
        new InMemorySnapshotStore(), ChannelSettings.forTests("nodelb-system"))) {
      operator.start();
      await().atMost(Duration.ofSeconds(20)).ignoreExceptions().until(() ->
          client.leases().inNamespace("nodelb-system").withName(OperatorSettings.LEASE_NAME).get() != null);

      var pems = ChannelCertificates.pems(client, "nodelb-system", ChannelCertificates.AGENT_SECRET);
      await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
        try (TestAgent agent = TestAgent.connect(TestAgent.tls(operator.snapshotServer().port(), pems), "token-n1",
            TestAgent.hello("n1"))) {
          assertThat(agent.next(Duration.ofSeconds(2)).getSnapshot().getNode()).isEqualTo("n1");
        }
      });
    }
  }
}
