package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;

/** Assembles the JOSDK operator: the model, the snapshot store and the five reconcilers. */
public final class NodelbOperator implements AutoCloseable {
  private final Operator operator;
  private final ClusterModel model;

  private NodelbOperator(Operator operator, ClusterModel model) {
    this.operator = operator;
    this.model = model;
  }

  public static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store) {
    Operator operator = new Operator(o -> {
      o.withKubernetesClient(client)
          .withUseSSAToPatchPrimaryResource(settings.serverSideApplyForStatus())
          .checkingCRDAndValidateLocalModel(settings.checkCrds())
          .withCloseClientOnStop(false);
      if (settings.leaderElection()) {
        o.withLeaderElectionConfiguration(
            new LeaderElectionConfiguration(OperatorSettings.LEASE_NAME, settings.operatorNamespace()));
      }
    });
    ClusterModel model = new ClusterModel(store);
    EventRecorder events = new EventRecorder(client);
    operator.register(new TargetGroupReconciler(model));
    operator.register(new LoadBalancerReconciler(model, events));
    operator.register(new BackendDrainReconciler(model, events));
    operator.register(new PodDrainReconciler(events), c -> c
        .withOnAddFilter(DrainAnnotations::wantsDrain)
        .withOnUpdateFilter((Pod fresh, Pod old) -> DrainAnnotations.drainAnnotationsChanged(fresh, old)));
    operator.register(new NodeDrainReconciler(events, settings.operatorNamespace()), c -> c
        .withOnAddFilter(DrainAnnotations::wantsDrain)
        .withOnUpdateFilter((Node fresh, Node old) -> DrainAnnotations.drainAnnotationsChanged(fresh, old)));
    return new NodelbOperator(operator, model);
  }

  public void start() {
    operator.start();
  }

  public ClusterModel model() {
    return model;
  }

  public SnapshotStore snapshots() {
    return model.store();
  }

  @Override
  public void close() {
    operator.stop();
  }
}
