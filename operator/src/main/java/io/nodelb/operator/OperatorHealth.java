package io.nodelb.operator;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import java.util.Optional;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/**
 * The probes Quarkus serves at /q/health/ready and /q/health/live. Ready: the operator started and
 * its snapshot server listens (every replica, follower or leader: the Service may send an agent to
 * any, and a follower tells it to retry); while leading, its informers also watch. Live: while
 * leading, no informer has stopped watching (a restart starts them again); otherwise the process
 * answering is enough.
 */
@ApplicationScoped
public class OperatorHealth {
  private volatile NodelbOperator operator;

  void running(NodelbOperator operator) {
    this.operator = operator;
  }

  @Produces
  @Readiness
  HealthCheck ready() {
    return () -> {
      NodelbOperator current = operator;
      return response("nodelb-operator",
          current == null ? Optional.of("starting") : current.notReadyBecause(), current);
    };
  }

  @Produces
  @Liveness
  HealthCheck live() {
    return () -> {
      NodelbOperator current = operator;
      return response("nodelb-informers", current == null ? Optional.empty() : current.unhealthyInformers(), current);
    };
  }

  private static HealthCheckResponse response(String name, Optional<String> problem, NodelbOperator operator) {
    var builder = HealthCheckResponse.named(name).status(problem.isEmpty());
    problem.ifPresent(p -> builder.withData("reason", p));
    if (operator != null) {
      builder.withData("leader", operator.leading());
    }
    return builder.build();
  }
}
