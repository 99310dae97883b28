package io.nodelb.operator.channel;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The control channel's own small CA, pure (no API calls): EC P-256 keys, a CA certificate, and
 * leaf certificates for the operator's server and for the agents; PEM in and out. Keys are written
 * as PKCS#8 ("PRIVATE KEY"); PKCS#1 and SEC1 keys (cert-manager's defaults) are read too.
 */
public final class CertificateAuthority {
  private CertificateAuthority() {}

  /** Leaves are renewed when less than this share of their validity remains. */
  static final double RENEW_WHEN_LEFT = 1.0 / 3;
  private static final SecureRandom RANDOM = new SecureRandom();

  /** A certificate with its key. */
  public record Issued(X509Certificate certificate, PrivateKey key) {
    public String certificatePem() {
      return pem(certificate);
    }

    public String keyPem() {
      return pem(key);
    }
  }

  /** What a leaf is for: the server presents it, or a client (agent) does. */
  public enum Usage {
    SERVER,
    CLIENT
  }

  public static Issued newCa(String commonName, Instant notBefore, Duration validity) {
    KeyPair pair = newKeyPair();
    try {
      X500Name name = new X500Name("CN=" + commonName + ",O=nodelb");
      X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, serial(), Date.from(notBefore),
          Date.from(notBefore.plus(validity)), name, pair.getPublic());
      JcaX509ExtensionUtils extensions = new JcaX509ExtensionUtils();
      builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
      builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      builder.addExtension(Extension.subjectKeyIdentifier, false, extensions.createSubjectKeyIdentifier(pair.getPublic()));
      return new Issued(sign(builder, pair.getPrivate()), pair.getPrivate());
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot create the CA certificate", e);
    }
  }

  /**
   * A leaf signed by {@code ca}.
   *
   * @param names DNS names and IP literals for the subjectAltName (a server's; may be empty for a client)
   */
  public static Issued issue(Issued ca, String commonName, Usage usage, List<String> names, Instant notBefore,
      Duration validity) {
    KeyPair pair = newKeyPair();
    try {
      X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(ca.certificate(), serial(),
          Date.from(notBefore), Date.from(notBefore.plus(validity)), new X500Name("CN=" + commonName + ",O=nodelb"),
          pair.getPublic());
      JcaX509ExtensionUtils extensions = new JcaX509ExtensionUtils();
      builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
      builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
          usage == Usage.SERVER ? KeyPurposeId.id_kp_serverAuth : KeyPurposeId.id_kp_clientAuth));
      builder.addExtension(Extension.subjectKeyIdentifier, false, extensions.createSubjectKeyIdentifier(pair.getPublic()));
      builder.addExtension(Extension.authorityKeyIdentifier, false,
          extensions.createAuthorityKeyIdentifier(ca.certificate()));
      if (!names.isEmpty()) {
        List<GeneralName> alternatives = new ArrayList<>();
        for (String name : names) {
          alternatives.add(isIpLiteral(name) ? new GeneralName(GeneralName.iPAddress, name)
              : new GeneralName(GeneralName.dNSName, name));
        }
        builder.addExtension(Extension.subjectAlternativeName, false,
            new GeneralNames(alternatives.toArray(GeneralName[]::new)));
      }
      return new Issued(sign(builder, ca.key()), pair.getPrivate());
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot issue a certificate for " + commonName, e);
    }
  }

  /** Less than a third of its validity left (or already expired, or not valid yet). */
  public static boolean needsRenewal(X509Certificate certificate, Instant now) {
    Instant notBefore = certificate.getNotBefore().toInstant();
    Instant notAfter = certificate.getNotAfter().toInstant();
    if (now.isBefore(notBefore)) {
      return true;
    }
    Duration total = Duration.between(notBefore, notAfter);
    Duration left = Duration.between(now, notAfter);
    return left.toMillis() < total.toMillis() * RENEW_WHEN_LEFT;
  }

  /** Whether {@code ca} signed {@code leaf}. */
  public static boolean signedBy(X509Certificate leaf, X509Certificate ca) {
    try {
      leaf.verify(ca.getPublicKey());
      return leaf.getIssuerX500Principal().equals(ca.getSubjectX500Principal());
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  /** The DNS names and IP addresses of the certificate's subjectAltName, as text. */
  public static Set<String> alternativeNames(X509Certificate certificate) {
    Set<String> names = new TreeSet<>();
    try {
      Collection<List<?>> entries = certificate.getSubjectAlternativeNames();
      if (entries != null) {
        entries.forEach(e -> names.add(String.valueOf(e.get(1))));
      }
    } catch (GeneralSecurityException e) {
      // unreadable: no names, so the caller re-issues
    }
    return names;
  }

  // ---- PEM ----

  public static String pem(X509Certificate certificate) {
    try {
      return pem("CERTIFICATE", certificate.getEncoded());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** PKCS#8. */
  public static String pem(PrivateKey key) {
    return pem("PRIVATE KEY", key.getEncoded());
  }

  private static String pem(String type, byte[] der) {
    String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
    return "-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n";
  }

  /** Every certificate in a PEM bundle, in order. */
  public static List<X509Certificate> certificates(String pem) throws GeneralSecurityException {
    CertificateFactory factory = CertificateFactory.getInstance("X.509");
    List<X509Certificate> certificates = new ArrayList<>();
    for (var c : factory.generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
      certificates.add((X509Certificate) c);
    }
    if (certificates.isEmpty()) {
      throw new GeneralSecurityException("no certificate in the PEM text");
    }
    return certificates;
  }

  /** The first private key of a PEM text: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). */
  public static PrivateKey privateKey(String pem) throws GeneralSecurityException {
    try (PEMParser parser = new PEMParser(new StringReader(pem))) {
      JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
      for (Object o = parser.readObject(); o != null; o = parser.readObject()) {
        if (o instanceof PEMKeyPair pair) {
          return converter.getPrivateKey(pair.getPrivateKeyInfo());
        }
        if (o instanceof PrivateKeyInfo info) {
          return converter.getPrivateKey(info);
        }
      }
    } catch (IOException e) {
      throw new GeneralSecurityException("unreadable private key: " + e.getMessage(), e);
    }
    throw new GeneralSecurityException("no private key in the PEM text");
  }

  // ---- helpers ----

  private static KeyPair newKeyPair() {
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
      generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
      return generator.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("no EC P-256 in this JDK", e);
    }
  }

  private static BigInteger serial() {
    return new BigInteger(127, RANDOM).add(BigInteger.ONE);
  }

  private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey key) throws GeneralSecurityException {
    try {
      return new JcaX509CertificateConverter().getCertificate(
          builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key)));
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(e);
    }
  }

  private static boolean isIpLiteral(String name) {
    if (name.indexOf(':') >= 0) {
      return true;
    }
    if (!name.matches("[0-9.]+")) {
      return false;
    }
    try {
      InetAddress.ofLiteral(name);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }
}
