package io.nodelb.operator.channel;

import io.grpc.Status;
import io.grpc.StatusException;

/**
 * Decides whether the caller of a stream may speak for the node its Hello names. The TLS client
 * certificate only says "an agent" (all agents share it); the node comes from the caller's
 * ServiceAccount token, reviewed by the API server, so a compromised node cannot pose as another.
 */
public interface AgentAuthenticator {
  /** Who the caller is, for logs: e.g. "pod nodelb-system/nodelb-agent-x2k9p on node worker-1". */
  record Identity(String description) {}

  /**
   * @param bearerToken the token from the "authorization: Bearer ..." metadata, null if none
   * @param claimedNode the node the Hello names
   * @throws StatusException UNAUTHENTICATED (no or bad token), PERMISSION_DENIED (a valid token that
   *     may not claim that node), UNAVAILABLE (the review could not be done now)
   */
  Identity authenticate(String bearerToken, String claimedNode) throws StatusException;

  /** Plain text only (labs, tests): the Hello's node is believed. */
  static AgentAuthenticator trustingHello() {
    return (token, node) -> {
      if (node == null || node.isEmpty()) {
        throw Status.INVALID_ARGUMENT.withDescription("Hello.node is empty").asException();
      }
      return new Identity("unverified agent claiming node " + node + " (plaintext)");
    };
  }
}
