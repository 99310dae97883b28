package io.nodelb.agent.events;

import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * The flow-event options of both modes (a picocli mixin of {@code standalone} and {@code cluster});
 * each falls back to its environment variable ({@code --access-log} → {@code NODELB_ACCESS_LOG}).
 * docs/access-log.md describes them.
 */
public final class EventOptions {

    public static final String DEFAULT_MAX_SIZE = "100MB";
    public static final int DEFAULT_MAX_FILES = 5;

    @Option(names = "--access-log", paramLabel = "off|stdout|FILE",
            description = "write a line per flow event to stdout or to FILE, rotated by size (env NODELB_ACCESS_LOG;"
                    + " default off)")
    String accessLog;

    @Option(names = "--access-log-format", paramLabel = "json|clf",
            description = "JSON lines or Common-Log-Format-like lines (env NODELB_ACCESS_LOG_FORMAT; default json)")
    String format;

    @Option(names = "--access-log-max-size", paramLabel = "SIZE",
            description = "rotate the access log file past this size, e.g. 50MB (env NODELB_ACCESS_LOG_MAX_SIZE;"
                    + " default " + DEFAULT_MAX_SIZE + ")")
    String maxSize;

    @Option(names = "--access-log-max-files", paramLabel = "N",
            description = "access log files kept, the current one included, at least 2 (env"
                    + " NODELB_ACCESS_LOG_MAX_FILES; default " + DEFAULT_MAX_FILES + ")")
    Integer maxFiles;

    @Option(names = "--conntrack-sweep-interval", paramLabel = "SECONDS",
            description = "how often flows idle past their timeout are ended and reported (env"
                    + " NODELB_CONNTRACK_SWEEP_INTERVAL; default 10)")
    Integer sweepSeconds;

    @Option(names = "--flow-events-per-second", paramLabel = "N",
            description = "flow event records each CPU may write per second; the rest are counted as lost (env"
                    + " NODELB_FLOW_EVENTS_PER_SECOND; default 20000)")
    Long eventsPerSecond;

    /**
     * @throws io.nodelb.agent.cluster.ClusterOptions.UsageException naming the option whose value is wrong
     */
    public FlowEvents.Settings settings(String node) {
        if (sweepSeconds != null && sweepSeconds < 1) {
            throw new io.nodelb.agent.cluster.ClusterOptions.UsageException("--conntrack-sweep-interval must be at least 1 (seconds), got " + sweepSeconds);
        }
        if (eventsPerSecond != null && eventsPerSecond < 0) {
            throw new io.nodelb.agent.cluster.ClusterOptions.UsageException("--flow-events-per-second must not be negative, got " + eventsPerSecond);
        }
        return new FlowEvents.Settings(accessLog(), sweepSeconds == null ? FlowEvents.Settings.DEFAULT_SWEEP_INTERVAL
                : Duration.ofSeconds(sweepSeconds), eventsPerSecond, node);
    }

    private AccessLog.Settings accessLog() {
        String destination = accessLog == null ? "off" : accessLog.strip();
        if (destination.isEmpty() || destination.equalsIgnoreCase("off")) {
            return null;
        }
        AccessLog.Format f;
        try {
            f = format == null ? AccessLog.Format.JSON : AccessLog.Format.valueOf(format.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new io.nodelb.agent.cluster.ClusterOptions.UsageException("--access-log-format must be json or clf, got '" + format + "'");
        }
        long size = parseSize(maxSize == null ? DEFAULT_MAX_SIZE : maxSize);
        int files = maxFiles == null ? DEFAULT_MAX_FILES : maxFiles;
        if (files < 2) {
            throw new io.nodelb.agent.cluster.ClusterOptions.UsageException("--access-log-max-files must be at least 2 (the current file and one rotated),"
                    + " got " + files);
        }
        return new AccessLog.Settings(destination.equalsIgnoreCase("stdout") ? "stdout" : destination, f, size, files);
    }

    /** {@code 1048576}, {@code 512KB}, {@code 100MB}, {@code 1GB} (powers of 1024). */
    static long parseSize(String value) {
        var m = java.util.regex.Pattern.compile("(\\d+)\\s*([KMG]?)B?", java.util.regex.Pattern.CASE_INSENSITIVE)
                .matcher(value.strip());
        if (!m.matches()) {
            throw new io.nodelb.agent.cluster.ClusterOptions.UsageException("--access-log-max-size must be a size such as 100MB, got '" + value + "'");
        }
        long n = Long.parseLong(m.group(1));
        long size = switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> n << 10;
            case "M" -> n << 20;
            case "G" -> n << 30;
            default -> n;
        };
        if (size < 1024) {
            throw new io.nodelb.agent.cluster.ClusterOptions.UsageException("--access-log-max-size must be at least 1KB, got '" + value + "'");
        }
        return size;
    }
}
