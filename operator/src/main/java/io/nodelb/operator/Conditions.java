package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** Standard Kubernetes conditions: a transition time that only moves when the status does. */
final class Conditions {
  private Conditions() {}

  static final String TRUE = "True";
  static final String FALSE = "False";
  static final String UNKNOWN = "Unknown";

  static Condition condition(String type, String status, String reason, String message, Long generation) {
    return new ConditionBuilder().withType(type).withStatus(status).withReason(reason).withMessage(message)
        .withObservedGeneration(generation).build();
  }

  /** {@code desired} with lastTransitionTime kept from {@code previous} where the status is unchanged. */
  static List<Condition> merge(List<Condition> previous, List<Condition> desired, Instant now) {
    List<Condition> merged = new ArrayList<>();
    for (Condition want : desired) {
      Condition before = find(previous, want.getType());
      String time = before != null && Objects.equals(before.getStatus(), want.getStatus())
          && before.getLastTransitionTime() != null
          ? before.getLastTransitionTime() : now.truncatedTo(ChronoUnit.SECONDS).toString();
      merged.add(new ConditionBuilder(want).withLastTransitionTime(time).build());
    }
    return merged;
  }

  static Condition find(List<Condition> conditions, String type) {
    if (conditions == null) {
      return null;
    }
    return conditions.stream().filter(c -> type.equals(c.getType())).findFirst().orElse(null);
  }

  /** Conditions whose status differs from before (new ones included): these get an Event. */
  static List<Condition> transitions(List<Condition> previous, List<Condition> current) {
    List<Condition> changed = new ArrayList<>();
    for (Condition c : current) {
      Condition before = find(previous, c.getType());
      if (before == null || !Objects.equals(before.getStatus(), c.getStatus())
          || !Objects.equals(before.getReason(), c.getReason())) {
        changed.add(c);
      }
    }
    return changed;
  }
}
