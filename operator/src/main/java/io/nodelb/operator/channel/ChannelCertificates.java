package io.nodelb.operator.channel;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The control channel's certificates, kept in Secrets of the operator's namespace.
 *
 * <p>With {@code nodelb.grpc.tls.secret} set, that Secret (cert-manager's keys: tls.crt, tls.key,
 * ca.crt) is read as is: the server presents tls.crt and trusts only ca.crt for agent certificates.
 * Otherwise the operator is its own CA: it creates {@value #CA_SECRET}, {@value #SERVER_SECRET}
 * and {@value #AGENT_SECRET} when they are missing and re-issues a leaf when less than a third of
 * its validity is left, when another CA signed it or when its names are not the ones wanted. Every
 * replica runs this; creates and updates are conditional, so replicas racing end up with one CA.
 * The CA itself is not rotated (10 years); a warning says when it should be.
 */
public final class ChannelCertificates {
  private static final System.Logger LOG = System.getLogger(ChannelCertificates.class.getName());

  public static final String CA_SECRET = "nodelb-ca";
  public static final String SERVER_SECRET = "nodelb-operator-tls";
  public static final String AGENT_SECRET = "nodelb-agent-tls";
  public static final String TLS_CRT = "tls.crt";
  public static final String TLS_KEY = "tls.key";
  public static final String CA_CRT = "ca.crt";
  /** The operator's Service, whose DNS names the serving certificate carries. */
  public static final String SERVICE_NAME = "nodelb-operator";
  public static final String AGENT_COMMON_NAME = "nodelb-agent";
  static final Duration CA_VALIDITY = Duration.ofDays(3650);
  /** Certificates are dated this much in the past: clocks of nodes differ a little. */
  private static final Duration BACKDATE = Duration.ofMinutes(5);
  private static final int ATTEMPTS = 3;

  private final KubernetesClient client;
  private final ChannelSettings settings;
  private final Clock clock;

  /** The server's key and chain, and the CA certificates that agent certificates must chain to. */
  public record KeyMaterial(PrivateKey key, List<X509Certificate> chain, List<X509Certificate> trusted) {
    /** Changes whenever a certificate does (for "reload only when something changed"). */
    public String fingerprint() {
      try {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        for (X509Certificate c : chain) {
          sha.update(c.getEncoded());
        }
        sha.update((byte) 0);
        for (X509Certificate c : trusted) {
          sha.update(c.getEncoded());
        }
        return HexFormat.of().formatHex(sha.digest());
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /** The three PEM texts of one of these Secrets: what an agent needs for --ca-file, --cert-file, --key-file. */
  public record Pems(String caCertificate, String certificate, String privateKey) {}

  /** Reads a Secret with tls.crt, tls.key and ca.crt, e.g. {@value #AGENT_SECRET}; null when it does not exist. */
  public static Pems pems(KubernetesClient client, String namespace, String secretName) {
    Secret secret = client.secrets().inNamespace(namespace).withName(secretName).get();
    return secret == null ? null : new Pems(text(secret, CA_CRT), text(secret, TLS_CRT), text(secret, TLS_KEY));
  }

  public ChannelCertificates(KubernetesClient client, ChannelSettings settings, Clock clock) {
    this.client = client;
    this.settings = settings;
    this.clock = clock;
  }

  /** Reads the server's key material; with operator-managed certificates, creates or renews them first. */
  public KeyMaterial load() {
    return settings.operatorManagedCertificates() ? ensureOwnCertificates() : readConfiguredSecret();
  }

  /** The names the operator's serving certificate carries. */
  public List<String> serverNames() {
    String ns = settings.namespace();
    return List.of(SERVICE_NAME + "." + ns + ".svc", SERVICE_NAME + "." + ns + ".svc.cluster.local", "localhost",
        "127.0.0.1");
  }

  private KeyMaterial readConfiguredSecret() {
    String where = settings.namespace() + "/" + settings.tlsSecret() + " (nodelb.grpc.tls.secret)";
    Secret secret = get(settings.tlsSecret());
    if (secret == null) {
      throw new IllegalStateException("Secret " + where + " not found");
    }
    try {
      String ca = text(secret, CA_CRT);
      if (ca == null) {
        throw new IllegalStateException("Secret " + where + " has no " + CA_CRT
            + ": the CA that signs agent certificates is needed to check them");
      }
      return new KeyMaterial(CertificateAuthority.privateKey(required(secret, TLS_KEY, where)),
          CertificateAuthority.certificates(required(secret, TLS_CRT, where)), CertificateAuthority.certificates(ca));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("Secret " + where + ": " + e.getMessage(), e);
    }
  }

  private KeyMaterial ensureOwnCertificates() {
    CertificateAuthority.Issued ca = ensureCa();
    CertificateAuthority.Issued server = ensureLeaf(SERVER_SECRET, ca, SERVICE_NAME, CertificateAuthority.Usage.SERVER,
        serverNames());
    ensureLeaf(AGENT_SECRET, ca, AGENT_COMMON_NAME, CertificateAuthority.Usage.CLIENT, List.of());
    return new KeyMaterial(server.key(), List.of(server.certificate()), List.of(ca.certificate()));
  }

  private CertificateAuthority.Issued ensureCa() {
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      Secret existing = get(CA_SECRET);
      if (existing != null) {
        CertificateAuthority.Issued ca = parse(existing);
        if (ca == null) {
          throw new IllegalStateException("Secret " + settings.namespace() + "/" + CA_SECRET
              + " is not a readable CA (tls.crt, tls.key); delete it to let the operator create a new one"
              + " (agents then need the new " + AGENT_SECRET + ")");
        }
        if (CertificateAuthority.needsRenewal(ca.certificate(), clock.instant())) {
          LOG.log(Level.WARNING, "The control channel CA in Secret {0}/{1} expires at {2}; rotate it: delete the"
              + " three Secrets {1}, {3}, {4} and restart the operator and the agents",
              settings.namespace(), CA_SECRET, ca.certificate().getNotAfter().toInstant(), SERVER_SECRET, AGENT_SECRET);
        }
        return ca;
      }
      CertificateAuthority.Issued ca = CertificateAuthority.newCa("nodelb-ca", clock.instant().minus(BACKDATE),
          CA_VALIDITY);
      if (create(secret(CA_SECRET, ca, ca, null))) {
        LOG.log(Level.INFO, "Created the control channel CA in Secret {0}/{1}", settings.namespace(), CA_SECRET);
        return ca;
      }
      // another replica created it first: use theirs
    }
    throw new IllegalStateException("could not create or read Secret " + settings.namespace() + "/" + CA_SECRET);
  }

  private CertificateAuthority.Issued ensureLeaf(String name, CertificateAuthority.Issued ca, String commonName,
      CertificateAuthority.Usage usage, List<String> names) {
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      Secret existing = get(name);
      CertificateAuthority.Issued current = existing == null ? null : parse(existing);
      String why = current == null ? (existing == null ? "missing" : "unreadable") : unusable(current, existing, ca, names);
      if (why == null) {
        return current;
      }
      CertificateAuthority.Issued fresh = CertificateAuthority.issue(ca, commonName, usage, names,
          clock.instant().minus(BACKDATE), settings.leafValidity());
      Secret desired = secret(name, fresh, ca, existing);
      boolean written = existing == null ? create(desired) : update(desired);
      if (written) {
        LOG.log(Level.INFO, "Issued the {0} certificate in Secret {1}/{2} ({3}), valid until {4}",
            usage == CertificateAuthority.Usage.SERVER ? "server" : "agent", settings.namespace(), name, why,
            fresh.certificate().getNotAfter().toInstant());
        return fresh;
      }
      // another replica wrote it meanwhile: look again
    }
    throw new IllegalStateException("could not write Secret " + settings.namespace() + "/" + name);
  }

  /** Why a leaf must be re-issued, or null when it is fine. */
  private String unusable(CertificateAuthority.Issued leaf, Secret secret, CertificateAuthority.Issued ca,
      List<String> names) {
    if (!CertificateAuthority.signedBy(leaf.certificate(), ca.certificate())) {
      return "signed by another CA";
    }
    if (!CertificateAuthority.pem(ca.certificate()).equals(text(secret, CA_CRT))) {
      return "its ca.crt is not the current CA";
    }
    if (CertificateAuthority.needsRenewal(leaf.certificate(), clock.instant())) {
      return "renewal: less than a third of its validity left";
    }
    if (!names.isEmpty() && !CertificateAuthority.alternativeNames(leaf.certificate()).equals(new TreeSet<>(names))) {
      return "names changed";
    }
    return null;
  }

  private CertificateAuthority.Issued parse(Secret secret) {
    try {
      String crt = text(secret, TLS_CRT);
      String key = text(secret, TLS_KEY);
      if (crt == null || key == null) {
        return null;
      }
      return new CertificateAuthority.Issued(CertificateAuthority.certificates(crt).getFirst(),
          CertificateAuthority.privateKey(key));
    } catch (GeneralSecurityException | RuntimeException e) {
      return null;
    }
  }

  private Secret secret(String name, CertificateAuthority.Issued issued, CertificateAuthority.Issued ca, Secret existing) {
    Base64.Encoder b64 = Base64.getEncoder();
    SecretBuilder builder = existing == null ? new SecretBuilder() : new SecretBuilder(existing);
    return builder.editOrNewMetadata()
          .withName(name).withNamespace(settings.namespace())
          .addToLabels("app.kubernetes.io/managed-by", "nodelb-operator")
          .addToLabels("app.kubernetes.io/part-of", "nodelb")
        .endMetadata()
        .withType("kubernetes.io/tls")
        .withStringData(null)
        .withData(Map.of(
            TLS_CRT, b64.encodeToString(issued.certificatePem().getBytes(StandardCharsets.US_ASCII)),
            TLS_KEY, b64.encodeToString(issued.keyPem().getBytes(StandardCharsets.US_ASCII)),
            CA_CRT, b64.encodeToString(ca.certificatePem().getBytes(StandardCharsets.US_ASCII))))
        .build();
  }

  private Secret get(String name) {
    return client.secrets().inNamespace(settings.namespace()).withName(name).get();
  }

  /** False when it exists already (another replica won). */
  private boolean create(Secret secret) {
    try {
      client.secrets().inNamespace(settings.namespace()).resource(secret).create();
      return true;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) {
        return false;
      }
      throw e;
    }
  }

  /** False when it changed since it was read (resourceVersion conflict). */
  private boolean update(Secret secret) {
    try {
      client.secrets().inNamespace(settings.namespace()).resource(secret).update();
      return true;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) {
        return false;
      }
      throw e;
    }
  }

  private static String required(Secret secret, String key, String where) {
    String value = text(secret, key);
    if (value == null) {
      throw new IllegalStateException("Secret " + where + " has no " + key);
    }
    return value;
  }

  /** A key's text from data (base64) or stringData (what a person may have written). */
  static String text(Secret secret, String key) {
    if (secret.getData() != null && secret.getData().get(key) != null) {
      return new String(Base64.getMimeDecoder().decode(secret.getData().get(key)), StandardCharsets.US_ASCII);
    }
    if (secret.getStringData() != null) {
      return secret.getStringData().get(key);
    }
    return null;
  }
}
