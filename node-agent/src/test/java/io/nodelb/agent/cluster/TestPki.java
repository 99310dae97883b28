package io.nodelb.agent.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
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
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** A throwaway CA that issues PEM certificates and PKCS#8 keys for the TLS tests (EC P-256, valid one day). */
public final class TestPki {

    /** A certificate and its key, as PEM files. */
    public record Issued(Path cert, Path key) {}

    private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

    private final X500Name name;
    private final KeyPair keys;
    private final Path dir;
    public final Path caFile;

    private TestPki(String name, Path dir) {
        this.name = new X500Name("CN=" + name);
        this.keys = newKeys();
        this.dir = dir;
        this.caFile = dir.resolve(name + "-ca.crt");
        X509v3CertificateBuilder ca = new JcaX509v3CertificateBuilder(this.name, serial(), notBefore(), notAfter(),
                this.name, keys.getPublic());
        try {
            ca.addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        write(caFile, pem("CERTIFICATE", sign(ca)));
    }

    public static TestPki create(Path dir, String name) {
        return new TestPki(name, dir);
    }

    /** A server certificate for localhost, 127.0.0.1 and ::1. */
    public Issued server(String cn) {
        return issue(cn, KeyPurposeId.id_kp_serverAuth, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.dNSName, "localhost"),
                new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
                new GeneralName(GeneralName.iPAddress, "::1")}));
    }

    Issued client(String cn) {
        return issue(cn, KeyPurposeId.id_kp_clientAuth, new GeneralNames(new GeneralName(GeneralName.dNSName, cn)));
    }

    private Issued issue(String cn, KeyPurposeId purpose, GeneralNames names) {
        KeyPair leafKeys = newKeys();
        X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, serial(), notBefore(), notAfter(),
                new X500Name("CN=" + cn), leafKeys.getPublic());
        try {
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purpose))
                    .addExtension(Extension.subjectAlternativeName, false, names);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Issued issued = new Issued(dir.resolve(cn + ".crt"), dir.resolve(cn + ".key"));
        write(issued.cert(), pem("CERTIFICATE", sign(builder)));
        write(issued.key(), pem("PRIVATE KEY", leafKeys.getPrivate().getEncoded())); // JDK keys encode as PKCS#8
        return issued;
    }

    private byte[] sign(X509v3CertificateBuilder builder) {
        return sign(builder, keys.getPrivate());
    }

    /** TLS for a server that presents {@code issued} (its PKCS#8 EC key and certificate). */
    public static javax.net.ssl.SSLContext serverContext(Issued issued) {
        try {
            String keyPem = Files.readString(issued.key()).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
            PrivateKey key = java.security.KeyFactory.getInstance("EC")
                    .generatePrivate(new java.security.spec.PKCS8EncodedKeySpec(Base64.getDecoder().decode(keyPem)));
            java.security.cert.Certificate cert;
            try (var in = Files.newInputStream(issued.cert())) {
                cert = java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in);
            }
            java.security.KeyStore store = java.security.KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("server", key, new char[0], new java.security.cert.Certificate[] {cert});
            var keys = javax.net.ssl.KeyManagerFactory.getInstance(javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
            keys.init(store, new char[0]);
            var context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(keys.getKeyManagers(), null, null);
            return context;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] sign(X509v3CertificateBuilder builder, PrivateKey issuerKey) {
        try {
            X509Certificate cert = new JcaX509CertificateConverter()
                    .getCertificate(builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey)));
            return cert.getEncoded();
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static KeyPair newKeys() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static BigInteger serial() {
        return BigInteger.valueOf(SERIAL.incrementAndGet());
    }

    private static Date notBefore() {
        return Date.from(Instant.now().minus(Duration.ofMinutes(5)));
    }

    private static Date notAfter() {
        return Date.from(Instant.now().plus(Duration.ofDays(1)));
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    private static void write(Path file, String content) {
        try {
            Files.writeString(file, content);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
