package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import org.junit.jupiter.api.Test;

/**
 * {@link ExamplesScenario} on Fabric8's mock API server: the CRD files and deploy/examples/ reconcile
 * where no Docker engine runs. What only a real API server proves (CEL, server-side apply, Events,
 * the Lease) is in {@link K3sClusterIT}.
 */
@EnableKubernetesMockClient(crud = true)
class ExamplesIT {
  KubernetesClient client;

  @Test
  void theExamplesAreAcceptedDrainedAndReadyOnceTheAgentAcks() throws Exception {
    ExamplesScenario.createCrds(client);
    client.resource(new NodeBuilder().withNewMetadata().withName("worker-1").endMetadata().build()).create();
    ExamplesScenario scenario = new ExamplesScenario(client, "worker-1");
    scenario.createInputs();

    InMemorySnapshotStore store = new InMemorySnapshotStore();
    try (NodelbOperator operator = NodelbOperator.create(client,
        OperatorSettings.forMockServer(false, ExamplesScenario.OPERATOR_NS), store)) {
      operator.start();
      scenario.checkAcceptedAndAwaitingAgents();
      scenario.checkDrains(store);
      scenario.acknowledgeAndCheckReady(store);
    }
  }
}
