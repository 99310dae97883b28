package io.nodelb.operator;

/**
 * How the operator runs.
 *
 * @param serverSideApplyForStatus JOSDK patches status with server-side apply; Fabric8's mock API
 *     server does not support it, so tests turn it off (production keeps it on)
 * @param leaderElection one active replica at a time, through a Lease
 * @param operatorNamespace where the Lease and node BackendDrains live
 * @param checkCrds refuse to start when the CRDs are missing or differ from the classes
 */
public record OperatorSettings(boolean serverSideApplyForStatus, boolean leaderElection, String operatorNamespace,
    boolean checkCrds) {
  public static final String LEASE_NAME = "nodelb-operator-leader";

  public static OperatorSettings production(String namespace) {
    return new OperatorSettings(true, true, namespace, true);
  }
}
