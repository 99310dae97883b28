package io.nodelb.agent.cluster;

import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One line a person can act on for a stream that failed: the gRPC status and its
 * description, the causes that add something (TLS errors hide two or three levels down), and
 * a hint for the failures that have a usual reason.
 */
final class FailureText {

    private FailureText() {}

    static String of(Throwable failure) {
        Status status = Status.fromThrowable(failure);
        List<String> parts = new ArrayList<>();
        parts.add(status.getCode().name());
        String description = status.getDescription();
        boolean hasCause = status.getCause() != null;
        // "io exception" and the like only say that a cause follows.
        if (description != null && !(hasCause && description.equals("io exception"))) {
            parts.add(description);
        }
        parts.addAll(causeMessages(status.getCause()));
        String text = String.join(": ", parts);
        String hint = hint(text);
        return hint == null ? text : text + " (" + hint + ")";
    }

    /** The messages along the cause chain, leaving out those an outer one already says. */
    static List<String> causeMessages(Throwable cause) {
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = cause; t != null && !chain.contains(t); t = t.getCause()) {
            chain.add(t);
        }
        List<String> messages = new ArrayList<>();
        for (Throwable t : chain) {
            String message = t.getMessage() == null ? "" : t.getMessage().strip();
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

    /** The usual reason behind a failure text, or null. */
    static String hint(String text) {
        String t = text.toLowerCase(Locale.ROOT);
        if (t.contains("pkix path") || t.contains("unable to find valid certification path")) {
            return "the operator's certificate is not signed by a CA in --ca-file";
        }
        if (t.contains("no subject alternative") || t.contains("no name matching")) {
            return "the operator's certificate does not name the host given in --operator";
        }
        if (t.contains("received fatal alert: bad_certificate") || t.contains("received fatal alert: unknown_ca")
                || t.contains("received fatal alert: certificate_required")
                || t.contains("received fatal alert: certificate_unknown")
                || t.contains("received fatal alert: access_denied")) {
            return "the operator refused this agent's certificate (--cert-file): is it signed by the CA the"
                    + " operator trusts, and still valid?";
        }
        if (t.contains("not an ssl/tls record")) {
            return "the two ends disagree about TLS: is one of them run with --plaintext?";
        }
        if (t.contains("connection refused")) {
            return "nothing listens there: is the operator running, and is --operator right?";
        }
        return null;
    }
}
