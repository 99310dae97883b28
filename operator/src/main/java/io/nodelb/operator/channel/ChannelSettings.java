package io.nodelb.operator.channel;

import java.time.Duration;

/**
 * How the snapshot server listens and whom it trusts. Built by {@code OperatorMain} from the
 * {@code nodelb.grpc.*} and {@code nodelb.agent.*} settings (see application.properties).
 *
 * @param host address to bind ({@code 0.0.0.0}: every interface)
 * @param port TCP port; 0 picks a free one (tests), {@link SnapshotServer#port()} says which
 * @param plaintext no TLS and no token review: the Hello's node name is believed. Only for labs and
 *     tests; logged as a warning at start
 * @param tlsSecret a Secret (cert-manager style: tls.crt, tls.key, ca.crt) with the server
 *     certificate and the CA that signs agent certificates; empty: the operator runs its own CA in
 *     {@link ChannelCertificates#CA_SECRET} and friends
 * @param namespace the operator's namespace: where its Secrets live, and the agent ServiceAccount's
 *     namespace unless {@code agentServiceAccount} names another
 * @param agentServiceAccount the agents' ServiceAccount, {@code NAME} (in {@code namespace}) or
 *     {@code NAMESPACE/NAME}
 * @param tokenAudience the audience the agents' projected tokens are issued for
 * @param certificateCheck how often the certificates are looked at (renewal, a changed Secret)
 * @param leafValidity validity of the serving and agent certificates the operator issues; they are
 *     renewed when less than a third of it remains
 */
public record ChannelSettings(String host, int port, boolean plaintext, String tlsSecret, String namespace,
    String agentServiceAccount, String tokenAudience, Duration certificateCheck, Duration leafValidity) {
  public static final int DEFAULT_PORT = 9443;
  public static final String DEFAULT_AGENT_SERVICE_ACCOUNT = "nodelb-agent";
  public static final String DEFAULT_TOKEN_AUDIENCE = "nodelb";
  public static final Duration DEFAULT_CERTIFICATE_CHECK = Duration.ofHours(1);
  public static final Duration DEFAULT_LEAF_VALIDITY = Duration.ofDays(90);

  public ChannelSettings {
    tlsSecret = tlsSecret == null ? "" : tlsSecret.trim();
    if (agentServiceAccount == null || agentServiceAccount.isBlank()) {
      agentServiceAccount = DEFAULT_AGENT_SERVICE_ACCOUNT;
    }
  }

  /** Production defaults: every interface, port 9443, mutual TLS with the operator's own CA. */
  public static ChannelSettings defaults(String namespace) {
    return new ChannelSettings("0.0.0.0", DEFAULT_PORT, false, "", namespace, DEFAULT_AGENT_SERVICE_ACCOUNT,
        DEFAULT_TOKEN_AUDIENCE, DEFAULT_CERTIFICATE_CHECK, DEFAULT_LEAF_VALIDITY);
  }

  /** For in-process tests: loopback, a free port, mutual TLS with the operator's own CA. */
  public static ChannelSettings forTests(String namespace) {
    return new ChannelSettings("127.0.0.1", 0, false, "", namespace, DEFAULT_AGENT_SERVICE_ACCOUNT,
        DEFAULT_TOKEN_AUDIENCE, DEFAULT_CERTIFICATE_CHECK, DEFAULT_LEAF_VALIDITY);
  }

  public ChannelSettings withPlaintext(boolean plaintext) {
    return new ChannelSettings(host, port, plaintext, tlsSecret, namespace, agentServiceAccount, tokenAudience,
        certificateCheck, leafValidity);
  }

  public ChannelSettings withTlsSecret(String secret) {
    return new ChannelSettings(host, port, plaintext, secret, namespace, agentServiceAccount, tokenAudience,
        certificateCheck, leafValidity);
  }

  public ChannelSettings withCertificates(Duration check, Duration validity) {
    return new ChannelSettings(host, port, plaintext, tlsSecret, namespace, agentServiceAccount, tokenAudience,
        check, validity);
  }

  /** Whether the operator issues the certificates itself (no Secret configured). */
  public boolean operatorManagedCertificates() {
    return tlsSecret.isEmpty();
  }

  /** The username a TokenReview returns for the agents' tokens. */
  public String agentUsername() {
    int slash = agentServiceAccount.indexOf('/');
    String ns = slash < 0 ? namespace : agentServiceAccount.substring(0, slash);
    String name = slash < 0 ? agentServiceAccount : agentServiceAccount.substring(slash + 1);
    return "system:serviceaccount:" + ns + ":" + name;
  }
}
