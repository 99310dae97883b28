package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
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
}
