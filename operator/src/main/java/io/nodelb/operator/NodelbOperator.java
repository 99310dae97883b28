package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.RegisteredController;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetricsV2;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.config.MeterFilter;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.operator.channel.AgentAuthenticator;
import io.nodelb.operator.channel.ChannelCertificates;
import io.nodelb.operator.channel.ChannelSettings;
import io.nodelb.operator.channel.SnapshotServer;
import io.nodelb.operator.channel.TokenReviewAuthenticator;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Assembles the JOSDK operator: the model, the snapshot store, the five reconcilers and, when
 * given {@link ChannelSettings}, the snapshot server that agents stream from. The server follows
 * the operator's lifecycle: it binds in {@link #start}, serves while this replica leads, and
 * {@link #close} ends the streams before the operator stops.
 */
public final class NodelbOperator implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(NodelbOperator.class.getName());

  private final Operator operator;
  private final ClusterModel model;
  private final RegisteredController<TargetGroup> targetGroups;
  private final SnapshotServer server;
  private final boolean leaderElection;
  private final DrainAnnotatedPods pods;

  private NodelbOperator(Operator operator, ClusterModel model, RegisteredController<TargetGroup> targetGroups,
      SnapshotServer server, boolean leaderElection, DrainAnnotatedPods pods) {
    this.operator = operator;
    this.model = model;
    this.targetGroups = targetGroups;
    this.server = server;
    this.leaderElection = leaderElection;
    this.pods = pods;
  }

  /** The operator without a snapshot server (the store is only read by whoever holds it). */
  public static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store) {
    return create(client, settings, store, Constants.WATCH_ALL_NAMESPACE_SET, null);
  }

  /** The operator with its snapshot server, as it runs in a cluster. */
  public static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store,
      ChannelSettings channel) {
    return create(client, settings, store, Constants.WATCH_ALL_NAMESPACE_SET, channel);
  }

  /**
   * As it runs in a cluster, measured: JOSDK's reconciles and {@link OperatorMetrics} go to {@code registry}
   * (the registry Quarkus serves at /q/metrics).
   */
  public static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store,
      ChannelSettings channel, MeterRegistry registry) {
    NodelbOperator operator = create(client, settings, store, Constants.WATCH_ALL_NAMESPACE_SET, channel, registry);
    OperatorMetrics.register(registry, operator);
    return operator;
  }

  /**
   * For tests: the TargetGroup reconciler only sees {@code targetGroupNamespaces} until {@link
   * #watchTargetGroupsIn} widens it, so a test can hold it back as a slow start would.
   */
  static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store,
      Set<String> targetGroupNamespaces) {
    return create(client, settings, store, targetGroupNamespaces, null);
  }

  /** For tests: {@link #create(KubernetesClient, OperatorSettings, SnapshotStore, Set)} with a snapshot server. */
  static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store,
      Set<String> targetGroupNamespaces, ChannelSettings channel) {
    return create(client, settings, store, targetGroupNamespaces, channel, null);
  }

  private static NodelbOperator create(KubernetesClient client, OperatorSettings settings, SnapshotStore store,
      Set<String> targetGroupNamespaces, ChannelSettings channel, MeterRegistry registry) {
    ClusterModel model = new ClusterModel(store);
    SnapshotServer server = channel == null ? null : snapshotServer(client, channel, store, model);
    // The server learns of the lead from JOSDK's election (its callbacks run before JOSDK's own).
    LeaderCallbacks callbacks = new LeaderCallbacks(
        () -> {
          if (server != null) {
            server.leading(true);
          }
        },
        () -> {
          if (server != null) {
            server.leading(false);
          }
        },
        leader -> LOG.log(System.Logger.Level.INFO, "The leader is {0}", leader));
    Operator operator = new Operator(o -> {
      o.withKubernetesClient(client)
          .withUseSSAToPatchPrimaryResource(settings.serverSideApplyForStatus())
          .checkingCRDAndValidateLocalModel(settings.checkCrds())
          .withCloseClientOnStop(false);
      if (registry != null) {
        // JOSDK tags events_received with "action" only for resource events; Prometheus wants one set of tag
        // keys per name and refuses the other registration (an exception in JOSDK's event thread).
        registry.config().meterFilter(new MeterFilter() {
          @Override
          public Meter.Id map(Meter.Id id) {
            return id.getName().equals("events.received") && id.getTag("action") == null
                ? id.withTag(Tag.of("action", "none")) : id;
          }
        });
        o.withMetrics(MicrometerMetricsV2.newBuilder(registry).build());
      }
      if (settings.leaderElection()) {
        o.withLeaderElectionConfiguration(new LeaderElectionConfiguration(OperatorSettings.LEASE_NAME,
            settings.operatorNamespace(), LeaderElectionConfiguration.LEASE_DURATION_DEFAULT_VALUE,
            LeaderElectionConfiguration.RENEW_DEADLINE_DEFAULT_VALUE, LeaderElectionConfiguration.RETRY_PERIOD_DEFAULT_VALUE,
            null, callbacks, settings.exitWhenLeadershipLost()));
      }
    });
    EventRecorder events = new EventRecorder(client);
    RegisteredController<TargetGroup> targetGroups = operator.register(new TargetGroupReconciler(model),
        c -> c.settingNamespaces(targetGroupNamespaces));
    operator.register(new LoadBalancerReconciler(model, events));
    operator.register(new BackendDrainReconciler(model, events));
    // Pods: only those the drain annotation concerns are cached (DrainAnnotatedPods), not the cluster's every Pod.
    DrainAnnotatedPods pods = new DrainAnnotatedPods();
    operator.register(new PodDrainReconciler(events), c -> c
        .withItemStore(pods)
        .withInformerListLimit(DrainAnnotatedPods.LIST_PAGE)
        .withOnAddFilter(DrainAnnotations::wantsDrain)
        .withOnUpdateFilter((Pod fresh, Pod old) -> DrainAnnotations.drainAnnotationsChanged(fresh, old)));
    // Nodes are few (hundreds to a few thousand): a full cache is fine, and LoadBalancerReconciler watches them anyway.
    operator.register(new NodeDrainReconciler(events, settings.operatorNamespace()), c -> c
        .withOnAddFilter(DrainAnnotations::wantsDrain)
        .withOnUpdateFilter((Node fresh, Node old) -> DrainAnnotations.drainAnnotationsChanged(fresh, old)));
    return new NodelbOperator(operator, model, targetGroups, server, settings.leaderElection(), pods);
  }

  private static SnapshotServer snapshotServer(KubernetesClient client, ChannelSettings channel, SnapshotStore store,
      ClusterModel model) {
    Clock clock = Clock.systemUTC();
    AgentAuthenticator authenticator = channel.plaintext() ? AgentAuthenticator.trustingHello()
        : new TokenReviewAuthenticator(client, channel.agentUsername(), channel.tokenAudience(), clock);
    return new SnapshotServer(channel, store, model::warm, authenticator, new ChannelCertificates(client, channel, clock),
        clock);
  }

  /** Binds the snapshot server (certificates first: a TLS problem stops the start), then runs the operator. */
  public void start() {
    if (server != null) {
      server.start();
    }
    startOperator();
  }

  /** As {@link #start()}, the snapshot server on a socket opened elsewhere (see {@link SnapshotServer#start(java.nio.channels.ServerSocketChannel)}). */
  public void start(java.nio.channels.ServerSocketChannel socket) {
    snapshotServer().start(socket);
    startOperator();
  }

  private void startOperator() {
    operator.start();
    if (server != null && !leaderElection) {
      server.leading(true); // the only replica
    }
  }

  public boolean hasSnapshotServer() {
    return server != null;
  }

  /** The snapshot server; only for an operator created with {@link ChannelSettings}. */
  public SnapshotServer snapshotServer() {
    if (server == null) {
      throw new IllegalStateException("created without ChannelSettings: no snapshot server");
    }
    return server;
  }

  /** For tests: see {@link #create(KubernetesClient, OperatorSettings, SnapshotStore, Set)}. */
  void watchTargetGroupsIn(Set<String> namespaces) {
    targetGroups.changeNamespaces(namespaces);
  }

  /**
   * Ready to take traffic: the snapshot server listens and the operator started. While this replica
   * leads, its informers must be healthy too (a follower runs none). Empty when ready, else why not.
   */
  public Optional<String> notReadyBecause() {
    if (!operator.getRuntimeInfo().isStarted()) {
      return Optional.of("the operator has not started");
    }
    if (server != null && !server.listening()) {
      return Optional.of("the snapshot server does not listen");
    }
    return leading() ? unhealthyInformers() : Optional.empty();
  }

  /** Informers that stopped watching (while leading), by controller and event source; empty when all watch. */
  public Optional<String> unhealthyInformers() {
    if (!leading()) {
      return Optional.empty();
    }
    // Informers only: JOSDK counts the model's inbound event sources (no health of their own) as unhealthy.
    List<String> unhealthy = new ArrayList<>();
    operator.getRuntimeInfo().unhealthyInformerWrappingEventSourceHealthIndicator().forEach((controller, sources) ->
        sources.keySet().forEach(source -> unhealthy.add(controller + "/" + source)));
    return unhealthy.isEmpty() ? Optional.empty()
        : Optional.of("informers not watching: " + unhealthy);
  }

  /** Whether this replica leads (always, without leader election). */
  public boolean leading() {
    return !leaderElection || (server != null && server.leader());
  }

  /** For tests and benchmarks: how many Pods the Pod informer holds (only those the drain annotation concerns). */
  public int cachedPods() {
    return pods.size();
  }

  public ClusterModel model() {
    return model;
  }

  public SnapshotStore snapshots() {
    return model.store();
  }

  /** Stops serving first (agents go to the next leader), then the operator (which hands the Lease over). */
  @Override
  public void close() {
    if (server != null) {
      server.close();
    }
    operator.stop();
  }
}
