package io.nodelb.operator.channel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.nodelb.operator.InMemorySnapshotStore;
import io.nodelb.operator.SnapshotStore;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The control channel's certificates in Secrets on Fabric8's mock API server, and the snapshot
 * server using them: created once, renewed before expiry and picked up by a running server without
 * dropping its streams; a configured (cert-manager) Secret used as is.
 */
@EnableKubernetesMockClient(crud = true)
class ChannelCertificatesIT {
  private static final String NS = "nodelb-system";
  private static final Duration WAIT = Duration.ofSeconds(10);

  KubernetesClient client;
  private SnapshotServer server;
  private final List<TestAgent> agents = new java.util.ArrayList<>();

  @AfterEach
  void stop() {
    agents.forEach(TestAgent::close);
    if (server != null) {
      server.close();
    }
  }

  private SnapshotServer start(ChannelSettings settings, Clock clock) {
    SnapshotStore store = new InMemorySnapshotStore();
    server = new SnapshotServer(settings, store, () -> true, AgentAuthenticator.trustingHello(),
        new ChannelCertificates(client, settings, clock), clock);
    server.start();
    server.leading(true);
    return server;
  }

  private TestAgent agent(ChannelCertificates.Pems pems, CapturingTrust trust, String node) {
    TestAgent agent = TestAgent.connect(TestAgent.tls(server.port(), trust, pems), null, TestAgent.hello(node));
    agents.add(agent);
    return agent;
  }

  private Secret secret(String name) {
    return client.secrets().inNamespace(NS).withName(name).get();
  }

  @Test
  void theOperatorCreatesItsCaAndCertificatesOnceAndRenewsLeavesWhileStreamsStayOpen() throws Exception {
    // Certificates issued 61 days ago, valid 90 days: usable now, but less than a third is left.
    Instant now = Instant.now();
    MutableClock clock = new MutableClock(now.minus(Duration.ofDays(61)));
    ChannelSettings settings = ChannelSettings.forTests(NS);
    start(settings, clock);

    for (String name : List.of(ChannelCertificates.CA_SECRET, ChannelCertificates.SERVER_SECRET,
        ChannelCertificates.AGENT_SECRET)) {
      Secret secret = secret(name);
      assertThat(secret.getType()).isEqualTo("kubernetes.io/tls");
      assertThat(secret.getData()).containsOnlyKeys("tls.crt", "tls.key", "ca.crt");
      assertThat(decode(secret, "tls.key")).startsWith("-----BEGIN PRIVATE KEY-----");
    }
    ChannelCertificates.Pems ca = ChannelCertificates.pems(client, NS, ChannelCertificates.CA_SECRET);
    assertThat(ca.caCertificate()).isEqualTo(ca.certificate());
    String serverVersion = secret(ChannelCertificates.SERVER_SECRET).getMetadata().getResourceVersion();
    new ChannelCertificates(client, settings, clock).load();
    assertThat(secret(ChannelCertificates.SERVER_SECRET).getMetadata().getResourceVersion())
        .as("another replica finds them valid and writes nothing").isEqualTo(serverVersion);

    ChannelCertificates.Pems agentPems = ChannelCertificates.pems(client, NS, ChannelCertificates.AGENT_SECRET);
    CapturingTrust trust = new CapturingTrust(ca.caCertificate());
    TestAgent before = agent(agentPems, trust, "n1");
    before.next(WAIT);
    X509Certificate oldServerCertificate = trust.last;
    assertThat(CertificateAuthority.alternativeNames(oldServerCertificate)).contains(
        "nodelb-operator.nodelb-system.svc", "nodelb-operator.nodelb-system.svc.cluster.local", "localhost", "127.0.0.1");

    clock.set(now);
    server.checkCertificates();

    ChannelCertificates.Pems renewedAgent = ChannelCertificates.pems(client, NS, ChannelCertificates.AGENT_SECRET);
    assertThat(renewedAgent.certificate()).isNotEqualTo(agentPems.certificate());
    assertThat(ChannelCertificates.pems(client, NS, ChannelCertificates.CA_SECRET)).as("the CA stays").isEqualTo(ca);
    TestAgent after = agent(renewedAgent, trust, "n2");
    after.next(WAIT);
    assertThat(trust.last.getSerialNumber()).as("new handshakes get the renewed certificate")
        .isNotEqualTo(oldServerCertificate.getSerialNumber());
    assertThat(CertificateAuthority.needsRenewal(trust.last, now)).isFalse();
    assertThat(before.poll(Duration.ofMillis(300))).isEmpty();
    assertThat(before.isClosed()).as("the stream opened before the renewal stays").isFalse();
  }

  @Test
  void aConfiguredSecretIsUsedAsIsWithCertManagersKeyFormat() throws Exception {
    Instant now = Instant.now();
    var ca = CertificateAuthority.newCa("my-ca", now.minusSeconds(60), Duration.ofDays(30));
    var serverLeaf = CertificateAuthority.issue(ca, "nodelb-operator", CertificateAuthority.Usage.SERVER,
        List.of("localhost", "127.0.0.1"), now.minusSeconds(60), Duration.ofDays(30));
    var agentLeaf = CertificateAuthority.issue(ca, "nodelb-agent", CertificateAuthority.Usage.CLIENT, List.of(),
        now.minusSeconds(60), Duration.ofDays(30));
    String sec1 = CertificateAuthorityTest.sec1(serverLeaf.key());
    client.secrets().inNamespace(NS).resource(new SecretBuilder().withNewMetadata().withName("operator-cert").endMetadata()
        .withType("kubernetes.io/tls").withData(Map.of(
            "tls.crt", encode(serverLeaf.certificatePem()),
            "tls.key", encode(sec1),
            "ca.crt", encode(ca.certificatePem()))).build()).create();

    start(ChannelSettings.forTests(NS).withTlsSecret("operator-cert"), Clock.systemUTC());

    CapturingTrust trust = new CapturingTrust(ca.certificatePem());
    agent(new ChannelCertificates.Pems(ca.certificatePem(), agentLeaf.certificatePem(), agentLeaf.keyPem()), trust, "n1")
        .next(WAIT);
    assertThat(trust.last).isEqualTo(serverLeaf.certificate());
    assertThat(secret(ChannelCertificates.CA_SECRET)).as("no CA of its own").isNull();
  }

  @Test
  void aMissingConfiguredSecretStopsTheStartWithItsName() {
    SnapshotServer failing = new SnapshotServer(ChannelSettings.forTests(NS).withTlsSecret("nope"),
        new InMemorySnapshotStore(), () -> true, AgentAuthenticator.trustingHello(),
        new ChannelCertificates(client, ChannelSettings.forTests(NS).withTlsSecret("nope"), Clock.systemUTC()),
        Clock.systemUTC());
    assertThatThrownBy(failing::start).hasMessageContaining("nodelb-system/nope (nodelb.grpc.tls.secret) not found");
  }

  private static String encode(String pem) {
    return Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII));
  }

  private static String decode(Secret secret, String key) {
    return new String(Base64.getDecoder().decode(secret.getData().get(key)), StandardCharsets.US_ASCII);
  }

  private static final class MutableClock extends Clock {
    private volatile Instant now;

    MutableClock(Instant now) {
      this.now = now;
    }

    void set(Instant instant) {
      now = instant;
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  /** Checks the server against a CA and remembers the certificate it presented. */
  private static final class CapturingTrust extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager delegate;
    volatile X509Certificate last;

    CapturingTrust(String caPem) throws Exception {
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      int i = 0;
      for (X509Certificate c : CertificateAuthority.certificates(caPem)) {
        store.setCertificateEntry("ca" + i++, c);
      }
      TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      factory.init(store);
      delegate = (X509ExtendedTrustManager) factory.getTrustManagers()[0];
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      last = chain[0];
      delegate.checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      last = chain[0];
      delegate.checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      last = chain[0];
      delegate.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      delegate.checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      delegate.checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return delegate.getAcceptedIssuers();
    }
  }
}
