package io.nodelb.agent.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import java.io.IOException;
import java.net.ConnectException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

class FailureTextTest {

    @Test
    void theOperatorsOwnReasonIsShownAsItSaidIt() {
        assertThat(FailureText.of(Status.UNAVAILABLE.withDescription("not the leader").asRuntimeException(), false))
                .isEqualTo("UNAVAILABLE: not the leader");
        assertThat(FailureText.of(Status.PERMISSION_DENIED
                .withDescription("the token's pod runs on node b, not on node a").asRuntimeException(), false))
                .isEqualTo("PERMISSION_DENIED: the token's pod runs on node b, not on node a");
    }

    @Test
    void aTlsFailureShowsItsCauseOnceAndAHint() {
        var pkix = new SSLHandshakeException("PKIX path building failed: unable to find valid certification path"
                + " to requested target");
        pkix.initCause(new Exception("unable to find valid certification path to requested target"));
        String text = FailureText.of(Status.UNAVAILABLE.withDescription("io exception").withCause(pkix)
                .asRuntimeException(), false);

        assertThat(text).isEqualTo("UNAVAILABLE: PKIX path building failed: unable to find valid certification path"
                + " to requested target (the operator's certificate is not signed by a CA in --ca-file)");
    }

    @Test
    void aRefusedClientCertificateSaysWhichFileToCheck() {
        String text = FailureText.of(Status.UNAVAILABLE.withDescription("io exception")
                .withCause(new SSLHandshakeException("Received fatal alert: certificate_required"))
                .asRuntimeException(), false);

        assertThat(text).startsWith("UNAVAILABLE: Received fatal alert: certificate_required (")
                .contains("--cert-file");
    }

    @Test
    void connectionRefusedKeepsTheAddress() {
        var refused = new ConnectException("Connection refused: localhost/127.0.0.1:9443");
        refused.initCause(new ConnectException("Connection refused"));

        assertThat(FailureText.of(Status.UNAVAILABLE.withDescription("io exception").withCause(refused)
                .asRuntimeException(), false))
                .startsWith("UNAVAILABLE: Connection refused: localhost/127.0.0.1:9443 (nothing listens there");
    }

    @Test
    void onlyTypesLeftGiveTheInnermostType() {
        assertThat(FailureText.causeMessages(new IOException(new IllegalStateException())))
                .containsExactly("java.lang.IllegalStateException");
        assertThat(FailureText.causeMessages(new RuntimeException((String) null)))
                .containsExactly("RuntimeException");
    }

    // The texts below are what grpc-netty-shaded (BoringSSL) really produced in ControlChannelIT.

    @Test
    void boringSslErrorCodesAndClassNamesAreLeftOut() {
        var alert = new SSLHandshakeException("io.grpc.netty.shaded.io.netty.handler.ssl.ReferenceCountedOpenSslEngine"
                + "$OpenSslException: error:1000045c:SSL routines:OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED");

        assertThat(FailureText.of(Status.UNAVAILABLE.withDescription("ssl exception").withCause(alert)
                .asRuntimeException(), false))
                .isEqualTo("UNAVAILABLE: TLSV1_ALERT_CERTIFICATE_REQUIRED (the operator refused this agent's"
                        + " certificate (--cert-file): is it signed by the CA the operator trusts, and still valid?)");
    }

    @Test
    void openSslsWrapperSaysNothingOfItsOwn() {
        var pkix = new SSLHandshakeException("General OpenSslEngine problem");
        pkix.initCause(new Exception("PKIX path building failed: sun.security.provider.certpath"
                + ".SunCertPathBuilderException: unable to find valid certification path to requested target"));

        assertThat(FailureText.of(Status.UNAVAILABLE.withDescription("ssl exception").withCause(pkix)
                .asRuntimeException(), false))
                .isEqualTo("UNAVAILABLE: PKIX path building failed: unable to find valid certification path to"
                        + " requested target (the operator's certificate is not signed by a CA in --ca-file)");
    }

    @Test
    void thePipelineListingAndHexDumpsAreLeftOut() {
        var status = Status.UNAVAILABLE.withDescription("io exception\nChannel Pipeline: [SslHandler#0,"
                        + " ProtocolNegotiators$ClientTlsHandler#0, WriteBufferingAndExceptionHandler#0]")
                .withCause(new javax.net.ssl.SSLException("not an SSL/TLS record: 00001204000000000000037fffffff0004"));

        assertThat(FailureText.of(status.asRuntimeException(), false)).isEqualTo("UNAVAILABLE: not an SSL/TLS record"
                + " (the operator does not speak TLS: is it run without TLS, for a lab? then so must this agent, with"
                + " --plaintext)");
    }

    @Test
    void aPlaintextAgentWhoseConnectionIsDroppedIsAskedAboutTls() {
        var closed = Status.UNAVAILABLE.withDescription("Network closed for unknown reason").asRuntimeException();

        assertThat(FailureText.of(closed, true)).endsWith("(does the operator expect TLS? this agent runs with"
                + " --plaintext)");
        assertThat(FailureText.of(closed, false)).isEqualTo("UNAVAILABLE: Network closed for unknown reason");
    }

    @Test
    void nettysConnectPrefixIsLeftOut() {
        assertThat(FailureText.tidy("finishConnect(..) failed with error(-111): Connection refused: /127.0.0.1:9443"))
                .isEqualTo("Connection refused: /127.0.0.1:9443");
    }
}
