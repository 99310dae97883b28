package io.nodelb.operator.channel;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.StringWriter;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPrivateKey;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.util.io.pem.PemObject;
import org.junit.jupiter.api.Test;

class CertificateAuthorityTest {
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

  @Test
  void aServerLeafCarriesTheServiceNamesAndChainsToTheCa() throws Exception {
    var ca = CertificateAuthority.newCa("nodelb-ca", T0, Duration.ofDays(3650));
    var server = CertificateAuthority.issue(ca, "nodelb-operator", CertificateAuthority.Usage.SERVER,
        List.of("nodelb-operator.nodelb-system.svc", "localhost", "127.0.0.1"), T0, Duration.ofDays(90));

    X509Certificate leaf = server.certificate();
    assertThat(CertificateAuthority.signedBy(leaf, ca.certificate())).isTrue();
    assertThat(CertificateAuthority.alternativeNames(leaf))
        .containsExactlyInAnyOrder("nodelb-operator.nodelb-system.svc", "localhost", "127.0.0.1");
    assertThat(leaf.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1"); // serverAuth
    assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
    assertThat(ca.certificate().getBasicConstraints()).isEqualTo(0);
    assertThat(server.key()).isInstanceOf(ECPrivateKey.class);
    assertThat(((ECPrivateKey) server.key()).getParams().getCurve().getField().getFieldSize()).isEqualTo(256);

    var other = CertificateAuthority.newCa("nodelb-ca", T0, Duration.ofDays(3650));
    assertThat(CertificateAuthority.signedBy(leaf, other.certificate())).as("same name, another key").isFalse();
  }

  @Test
  void pemRoundTripsAndKeysArePkcs8() throws Exception {
    var ca = CertificateAuthority.newCa("nodelb-ca", T0, Duration.ofDays(1));
    var agent = CertificateAuthority.issue(ca, "nodelb-agent", CertificateAuthority.Usage.CLIENT, List.of(), T0,
        Duration.ofDays(1));

    assertThat(agent.keyPem()).startsWith("-----BEGIN PRIVATE KEY-----\n");
    assertThat(CertificateAuthority.privateKey(agent.keyPem())).isEqualTo(agent.key());
    assertThat(CertificateAuthority.certificates(agent.certificatePem() + ca.certificatePem()))
        .containsExactly(agent.certificate(), ca.certificate());
    assertThat(agent.certificate().getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.2"); // clientAuth
  }

  @Test
  void secOneKeysAsCertManagerWritesThemAreRead() throws Exception {
    var ca = CertificateAuthority.newCa("nodelb-ca", T0, Duration.ofDays(1));
    String sec1 = sec1(ca.key());
    assertThat(sec1).startsWith("-----BEGIN EC PRIVATE KEY-----");
    assertThat(((ECPrivateKey) CertificateAuthority.privateKey(sec1)).getS()).isEqualTo(((ECPrivateKey) ca.key()).getS());
  }

  /** An EC key as SEC1 with its named curve, the way cert-manager (Go) writes ECDSA keys by default. */
  static String sec1(PrivateKey key) throws Exception {
    PrivateKeyInfo info = PrivateKeyInfo.getInstance(key.getEncoded());
    var inner = org.bouncycastle.asn1.sec.ECPrivateKey.getInstance(info.parsePrivateKey());
    var sec1 = new org.bouncycastle.asn1.sec.ECPrivateKey(256, inner.getKey(), info.getPrivateKeyAlgorithm().getParameters());
    StringWriter out = new StringWriter();
    try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
      writer.writeObject(new PemObject("EC PRIVATE KEY", sec1.getEncoded()));
    }
    return out.toString();
  }

  @Test
  void aLeafIsRenewedWhenLessThanAThirdOfItsValidityIsLeft() {
    var ca = CertificateAuthority.newCa("nodelb-ca", T0, Duration.ofDays(3650));
    X509Certificate leaf = CertificateAuthority.issue(ca, "x", CertificateAuthority.Usage.SERVER, List.of("localhost"),
        T0, Duration.ofDays(90)).certificate();

    assertThat(CertificateAuthority.needsRenewal(leaf, T0.plus(Duration.ofDays(59)))).isFalse();
    assertThat(CertificateAuthority.needsRenewal(leaf, T0.plus(Duration.ofDays(61)))).isTrue();
    assertThat(CertificateAuthority.needsRenewal(leaf, T0.minusSeconds(60))).as("not valid yet").isTrue();
    assertThat(CertificateAuthority.needsRenewal(leaf, T0.plus(Duration.ofDays(91)))).as("expired").isTrue();
  }
}
