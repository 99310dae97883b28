package io.nodelb.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.QuarkusApplication;
import io.quarkus.runtime.annotations.QuarkusMain;
import io.nodelb.operator.channel.ChannelSettings;
import jakarta.inject.Inject;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Quarkus glue: the Kubernetes client comes from quarkus-kubernetes-client (in-cluster service
 * account, or the current kubeconfig context), the operator and its snapshot server run until the
 * process is told to stop. Settings: application.properties.
 */
@QuarkusMain
public class OperatorMain implements QuarkusApplication {
  @Inject
  KubernetesClient client;

  @Inject
  MeterRegistry registry;

  @Inject
  OperatorHealth health;

  @ConfigProperty(name = "nodelb.operator.namespace", defaultValue = "nodelb-system")
  String namespace;

  @ConfigProperty(name = "nodelb.leader-election.enabled", defaultValue = "true")
  boolean leaderElection;

  @ConfigProperty(name = "nodelb.status.server-side-apply", defaultValue = "true")
  boolean serverSideApply;

  @ConfigProperty(name = "nodelb.check-crds", defaultValue = "true")
  boolean checkCrds;

  @ConfigProperty(name = "nodelb.grpc.host", defaultValue = "0.0.0.0")
  String grpcHost;

  @ConfigProperty(name = "nodelb.grpc.port", defaultValue = "9443")
  int grpcPort;

  @ConfigProperty(name = "nodelb.grpc.plaintext", defaultValue = "false")
  boolean plaintext;

  @ConfigProperty(name = "nodelb.grpc.tls.secret")
  Optional<String> tlsSecret;

  @ConfigProperty(name = "nodelb.grpc.tls.check-interval", defaultValue = "1h")
  Duration certificateCheck;

  @ConfigProperty(name = "nodelb.grpc.tls.leaf-validity", defaultValue = "90d")
  Duration leafValidity;

  @ConfigProperty(name = "nodelb.agent.service-account", defaultValue = ChannelSettings.DEFAULT_AGENT_SERVICE_ACCOUNT)
  String agentServiceAccount;

  @ConfigProperty(name = "nodelb.agent.token-audience", defaultValue = ChannelSettings.DEFAULT_TOKEN_AUDIENCE)
  String tokenAudience;

  @ConfigProperty(name = "nodelb.agent.connect-grace", defaultValue = "60s")
  Duration connectGrace;

  public static void main(String... args) {
    Quarkus.run(OperatorMain.class, args);
  }

  @Override
  public int run(String... args) {
    var settings = new OperatorSettings(serverSideApply, leaderElection, namespace, checkCrds, true);
    var channel = new ChannelSettings(grpcHost, grpcPort, plaintext, tlsSecret.orElse(""), namespace,
        agentServiceAccount, tokenAudience, certificateCheck, leafValidity);
    var store = new InMemorySnapshotStore(connectGrace, Clock.systemUTC());
    try (NodelbOperator operator = NodelbOperator.create(client, settings, store, channel, registry)) {
      health.running(operator);
      operator.start();
      Quarkus.waitForExit();
    }
    return 0;
  }
}
