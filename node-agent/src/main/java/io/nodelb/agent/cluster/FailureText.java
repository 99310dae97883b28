package io.nodelb.agent.cluster;

import io.grpc.Status;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One line a person can act on for a stream that failed: the gRPC status and its
 * description, the causes that add something (TLS errors hide two or three levels down), and
 * a hint for the failures that have a usual reason. Netty's and BoringSSL's noise (class
 * names, pipeline listings, error codes, hex dumps) is left out.
 */
final class FailureText {

    /** Descriptions that only say a cause follows. */
    private static final List<String> PLACEHOLDERS = List.of("io exception", "ssl exception");
    private static final List<Pattern> NOISE = List.of(
            Pattern.compile("(?:[a-zA-Z_$][\\w$]*\\.)+[A-Z][\\w$]*(?:Exception|Error): "), // qualified class names
            Pattern.compile("error:[0-9a-fA-F]+:SSL routines:\\w+:"), // BoringSSL's error code
            Pattern.compile("General OpenSslEngine problem(?:: )?"),
            Pattern.compile("finishConnect\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: "));
    private static final Pattern HEX_DUMP = Pattern.compile(": [0-9a-fA-F]{16,}");
    private static final List<String> CLIENT_CERT_ALERTS = List.of("certificate_required", "bad_certificate",
            "unknown_ca", "certificate_unknown", "certificate_expired", "certificate_revoked",
            "unsupported_certificate", "access_denied");

    private FailureText() {}

    /** @param plaintext the agent dials without TLS (some failures then have another usual reason) */
    static String of(Throwable failure, boolean plaintext) {
        Status status = Status.fromThrowable(failure);
        List<String> parts = new ArrayList<>();
        parts.add(status.getCode().name());
        String description = status.getDescription() == null ? "" : tidy(Arrays.stream(status.getDescription()
                .split("\n")).filter(line -> !line.startsWith("Channel Pipeline:")).reduce((a, b) -> a + ": " + b)
                .orElse(""));
        if (!description.isEmpty() && !(status.getCause() != null && PLACEHOLDERS.contains(description))) {
            parts.add(description);
        }
        for (String cause : causeMessages(status.getCause())) {
            if (parts.stream().noneMatch(p -> p.contains(cause))) {
                parts.add(cause);
            }
        }
        String text = String.join(": ", parts);
        String hint = hint(text, plaintext);
        return hint == null ? text : text + " (" + hint + ")";
    }

    /** The messages along the cause chain, tidied, leaving out those an outer one already says. */
    static List<String> causeMessages(Throwable cause) {
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = cause; t != null && !chain.contains(t); t = t.getCause()) {
            chain.add(t);
        }
        List<String> messages = new ArrayList<>();
        for (Throwable t : chain) {
            String message = t.getMessage() == null ? "" : tidy(t.getMessage());
            if (!message.isEmpty() && messages.stream().noneMatch(m -> m.contains(message))) {
                messages.add(message);
            }
        }
        if (messages.isEmpty() && !chain.isEmpty()) {
            // Nothing but types: the innermost one is the most specific.
            messages.add(chain.getLast().getClass().getSimpleName());
        }
        return messages;
    }

    static String tidy(String message) {
        String m = message.strip().replace('\n', ' ');
        for (Pattern noise : NOISE) {
            m = noise.matcher(m).replaceAll("");
        }
        return HEX_DUMP.matcher(m).replaceAll("").strip();
    }

    /** The usual reason behind a failure text, or null. */
    static String hint(String text, boolean plaintext) {
        String t = text.toLowerCase(Locale.ROOT);
        if (t.contains("pkix path building failed") || t.contains("unable to find valid certification path")) {
            return "the operator's certificate is not signed by a CA in --ca-file";
        }
        if (t.contains("validity check failed")) {
            return "the operator's certificate has expired or is not valid yet";
        }
        if (t.contains("no subject alternative") || t.contains("no name matching")) {
            return "the operator's certificate does not name the host given in --operator";
        }
        if (t.contains("alert") && CLIENT_CERT_ALERTS.stream().anyMatch(t::contains)) {
            return "the operator refused this agent's certificate (--cert-file): is it signed by the CA the"
                    + " operator trusts, and still valid?";
        }
        if (t.contains("not an ssl/tls record")) {
            return "the operator does not speak TLS: is it run without TLS, for a lab? then so must this agent,"
                    + " with --plaintext";
        }
        if (plaintext && t.contains("network closed for unknown reason")) {
            return "does the operator expect TLS? this agent runs with --plaintext";
        }
        if (t.contains("connection refused")) {
            return "nothing listens there: is the operator running, and is --operator right?";
        }
        return null;
    }
}
