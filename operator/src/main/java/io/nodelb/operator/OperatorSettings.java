package io.nodelb.operator;

/**
 * How the operator runs.
 *
 * @param serverSideApplyForStatus JOSDK patches status with server-side apply; Fabric8's mock API
 *     server does not support it, so tests turn it off (production keeps it on)
 * @param leaderElection one active replica at a time, through a Lease
 * @param operatorNamespace where the Lease and node BackendDrains live
 * @param checkCrds refuse to start when the CRDs are missing or differ from the classes
 * @param exitWhenLeadershipLost end the process when the Lease is lost (a replica that is no longer
 *     leader must stop writing; Kubernetes restarts it as a follower). Tests that stop the operator
 *     in-process turn it off.
 */
public record OperatorSettings(boolean serverSideApplyForStatus, boolean leaderElection, String operatorNamespace,
    boolean checkCrds, boolean exitWhenLeadershipLost) {
  public static final String LEASE_NAME = "nodelb-operator-leader";

  /** Against Fabric8's mock API server: no SSA, no CRD check, no leader election unless asked. */
  public static OperatorSettings forMockServer(boolean leaderElection, String namespace) {
    return new OperatorSettings(false, leaderElection, namespace, false, false);
  }
}
