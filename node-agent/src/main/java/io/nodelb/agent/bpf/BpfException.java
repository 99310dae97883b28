package io.nodelb.agent.bpf;

/**
 * A failed libbpf, bpf() or libc call: which operation, on which object, map, program or
 * path, and the errno with its text. When libbpf logged something during the call (a
 * verifier rejection, a map that could not be created) that log is attached and its tail
 * is part of the message.
 */
public class BpfException extends RuntimeException {
    /** The message carries at most this much of the log; the end is kept, it holds the error. */
    private static final int MAX_LOG_IN_MESSAGE = 32 * 1024;

    private final String operation;
    private final String subject;
    private final int errno;
    private final String errnoText;
    private final String libbpfLog;

    public BpfException(String operation, String subject, int errno, String libbpfLog) {
        this(operation, subject, errno, LibBpf.strerror(errno), libbpfLog);
    }

    BpfException(String operation, String subject, int errno, String errnoText, String libbpfLog) {
        super(message(operation, subject, errno, errnoText, libbpfLog));
        this.operation = operation;
        this.subject = subject;
        this.errno = errno;
        this.errnoText = errnoText;
        this.libbpfLog = libbpfLog == null ? "" : libbpfLog;
    }

    /** The native call, e.g. "bpf_object__load". */
    public String operation() {
        return operation;
    }

    /** What it was called on: an object, map or program name, a path or an interface. */
    public String subject() {
        return subject;
    }

    /** The positive errno, e.g. {@link Errno#EBUSY}. */
    public int errno() {
        return errno;
    }

    /** strerror's text for {@link #errno()} (libbpf's own text for its 4000+ codes). */
    public String errnoText() {
        return errnoText;
    }

    /** Everything libbpf printed during the call (warnings, the verifier log), or "". */
    public String libbpfLog() {
        return libbpfLog;
    }

    public boolean isNotFound() {
        return errno == Errno.ENOENT;
    }

    public boolean isAlreadyExists() {
        return errno == Errno.EEXIST;
    }

    public boolean isBusy() {
        return errno == Errno.EBUSY;
    }

    public boolean isPermissionDenied() {
        return errno == Errno.EPERM || errno == Errno.EACCES;
    }

    private static String message(
            String operation, String subject, int errno, String errnoText, String log) {
        StringBuilder message = new StringBuilder()
                .append(operation).append('(').append(subject).append("): ")
                .append(errnoText).append(" (").append(Errno.name(errno)).append(')');
        if (log != null && !log.isBlank()) {
            String tail = log.length() <= MAX_LOG_IN_MESSAGE
                    ? log
                    : "[... " + (log.length() - MAX_LOG_IN_MESSAGE) + " chars cut]\n"
                            + log.substring(log.length() - MAX_LOG_IN_MESSAGE);
            message.append("\nlibbpf log:\n").append(tail.stripTrailing());
        }
        return message.toString();
    }
}
