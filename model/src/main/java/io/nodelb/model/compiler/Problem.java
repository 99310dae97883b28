package io.nodelb.model.compiler;

/**
 * Something in the inputs that keeps part of the model from being programmed.
 *
 * @param kind the kind of the object to fix, e.g. "LoadBalancer"
 * @param name "namespace/name" of that object
 * @param field where in it, e.g. "spec.listeners[0].targetGroup"
 * @param reason CamelCase, stable, for conditions: e.g. "TargetGroupNotFound"
 * @param message what is wrong and what to do, for people
 */
public record Problem(String kind, String name, String field, String reason, String message) {
  /** Reasons the compiler uses; conditions carry them unchanged. */
  public static final String INVALID = "Invalid";
  /** A field the API defines but no component implements yet: refused, never silently ignored. */
  public static final String UNSUPPORTED = "Unsupported";
  public static final String TARGET_GROUP_NOT_FOUND = "TargetGroupNotFound";
  public static final String TARGET_GROUP_INVALID = "TargetGroupInvalid";
  /** A listener's group of static backends has none of the listener address's family: every flow would be lost. */
  public static final String NO_BACKEND_OF_FAMILY = "NoBackendOfFamily";
  /** A listener's group of Services has no endpoint of the listener address's family now: programmed, flows dropped. */
  public static final String NO_ENDPOINT_OF_FAMILY = "NoEndpointOfFamily";
  public static final String SERVICE_NOT_FOUND = "ServiceNotFound";
  public static final String SERVICE_PORT_NOT_FOUND = "ServicePortNotFound";
  public static final String NEEDS_CLUSTER = "NeedsCluster";
  public static final String LISTENER_CONFLICT = "ListenerConflict";
  /** LoadBalancers that share an address ask for different icmpEcho settings: the first by name decides. */
  public static final String ICMP_ECHO_CONFLICT = "IcmpEchoConflict";

  @Override
  public String toString() {
    return kind + " " + name + " " + field + ": " + message + " (" + reason + ")";
  }
}
