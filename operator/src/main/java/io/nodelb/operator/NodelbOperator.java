package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.RegisteredController;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.nodelb.api.v1alpha1.TargetGroup;
import java.util.Set;

/** Assembles the JOSDK operator: the model, the snapshot store and the five reconcilers. */
public final class NodelbOperator implements AutoCloseable {
  private final Operator operator;
  private final ClusterModel model;
  private final RegisteredController<TargetGroup> targetGroups;

  private NodelbOperator(Operator operator, ClusterModel model, RegisteredController<TargetGroup> targetGroups) {
    this.operator = operator;
    this.model = model;
    this.targetGroups = targetGroups;
  }

  public static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store) {
    return create(client, settings, store, Constants.WATCH_ALL_NAMESPACE_SET);
  }

  /**
   * For tests: the TargetGroup reconciler only sees {@code targetGroupNamespaces} until {@link
   * #watchTargetGroupsIn} widens it, so a test can hold it back as a slow start would.
   */
  static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store,
      Set<String> targetGroupNamespaces) {
    Operator operator = new Operator(o -> {
      o.withKubernetesClient(client)
          .withUseSSAToPatchPrimaryResource(settings.serverSideApplyForStatus())
          .checkingCRDAndValidateLocalModel(settings.checkCrds())
          .withCloseClientOnStop(false);
      if (settings.leaderElection()) {
        o.withLeaderElectionConfiguration(new LeaderElectionConfiguration(OperatorSettings.LEASE_NAME,
            settings.operatorNamespace(), LeaderElectionConfiguration.LEASE_DURATION_DEFAULT_VALUE,
            LeaderElectionConfiguration.RENEW_DEADLINE_DEFAULT_VALUE, LeaderElectionConfiguration.RETRY_PERIOD_DEFAULT_VALUE,
            null, null, settings.exitWhenLeadershipLost()));
      }
    });
    ClusterModel model = new ClusterModel(store);
    EventRecorder events = new EventRecorder(client);
    RegisteredController<TargetGroup> targetGroups = operator.register(new TargetGroupReconciler(model),
        c -> c.settingNamespaces(targetGroupNamespaces));
    operator.register(new LoadBalancerReconciler(model, events));
    operator.register(new BackendDrainReconciler(model, events));
    operator.register(new PodDrainReconciler(events), c -> c
        .withOnAddFilter(DrainAnnotations::wantsDrain)
        .withOnUpdateFilter((Pod fresh, Pod old) -> DrainAnnotations.drainAnnotationsChanged(fresh, old)));
    operator.register(new NodeDrainReconciler(events, settings.operatorNamespace()), c -> c
        .withOnAddFilter(DrainAnnotations::wantsDrain)
        .withOnUpdateFilter((Node fresh, Node old) -> DrainAnnotations.drainAnnotationsChanged(fresh, old)));
    return new NodelbOperator(operator, model, targetGroups);
  }

  public void start() {
    operator.start();
  }

  /** For tests: see {@link #create(KubernetesClient, OperatorSettings, SnapshotStore, Set)}. */
  void watchTargetGroupsIn(Set<String> namespaces) {
    targetGroups.changeNamespaces(namespaces);
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
