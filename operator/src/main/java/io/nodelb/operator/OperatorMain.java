package io.nodelb.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.QuarkusApplication;
import io.quarkus.runtime.annotations.QuarkusMain;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Quarkus glue: the Kubernetes client comes from quarkus-kubernetes-client (in-cluster service
 * account, or the current kubeconfig context), the operator runs until the process is told to stop.
 */
@QuarkusMain
public class OperatorMain implements QuarkusApplication {
  @Inject
  KubernetesClient client;

  @ConfigProperty(name = "nodelb.operator.namespace", defaultValue = "nodelb-system")
  String namespace;

  @ConfigProperty(name = "nodelb.leader-election.enabled", defaultValue = "true")
  boolean leaderElection;

  @ConfigProperty(name = "nodelb.status.server-side-apply", defaultValue = "true")
  boolean serverSideApply;

  @ConfigProperty(name = "nodelb.check-crds", defaultValue = "true")
  boolean checkCrds;

  public static void main(String... args) {
    Quarkus.run(OperatorMain.class, args);
  }

  @Override
  public int run(String... args) {
    var settings = new OperatorSettings(serverSideApply, leaderElection, namespace, checkCrds);
    try (NodelbOperator operator = NodelbOperator.create(client, settings, new InMemorySnapshotStore())) {
      operator.start();
      Quarkus.waitForExit();
    }
    return 0;
  }
}
