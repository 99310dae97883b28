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
        assertThat(FailureText.of(Status.UNAVAILABLE.withDescription("not the leader").asRuntimeException()))
                .isEqualTo("UNAVAILABLE: not the leader");
        assertThat(FailureText.of(Status.PERMISSION_DENIED
                .withDescription("the token's pod runs on node b, not on node a").asRuntimeException()))
                .isEqualTo("PERMISSION_DENIED: the token's pod runs on node b, not on node a");
    }

    @Test
    void aTlsFailureShowsItsCauseOnceAndAHint() {
        var pkix = new SSLHandshakeException("PKIX path building failed: unable to find valid certification path"
                + " to requested target");
        pkix.initCause(new Exception("unable to find valid certification path to requested target"));
        String text = FailureText.of(Status.UNAVAILABLE.withDescription("io exception").withCause(pkix)
                .asRuntimeException());

        assertThat(text).isEqualTo("UNAVAILABLE: PKIX path building failed: unable to find valid certification path"
                + " to requested target (the operator's certificate is not signed by a CA in --ca-file)");
    }

    @Test
    void aRefusedClientCertificateSaysWhichFileToCheck() {
        String text = FailureText.of(Status.UNAVAILABLE.withDescription("io exception")
                .withCause(new SSLHandshakeException("Received fatal alert: certificate_required")).asRuntimeException());

        assertThat(text).startsWith("UNAVAILABLE: Received fatal alert: certificate_required (")
                .contains("--cert-file");
    }

    @Test
    void connectionRefusedKeepsTheAddress() {
        var refused = new ConnectException("Connection refused: localhost/127.0.0.1:9443");
        refused.initCause(new ConnectException("Connection refused"));

        assertThat(FailureText.of(Status.UNAVAILABLE.withDescription("io exception").withCause(refused)
                .asRuntimeException()))
                .startsWith("UNAVAILABLE: Connection refused: localhost/127.0.0.1:9443 (nothing listens there");
    }

    @Test
    void onlyTypesLeftGiveTheInnermostType() {
        assertThat(FailureText.causeMessages(new IOException(new IllegalStateException())))
                .containsExactly("java.lang.IllegalStateException");
        assertThat(FailureText.causeMessages(new RuntimeException((String) null)))
                .containsExactly("RuntimeException");
    }
}
