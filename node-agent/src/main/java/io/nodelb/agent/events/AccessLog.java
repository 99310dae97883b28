package io.nodelb.agent.events;

import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.builder.api.AppenderComponentBuilder;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilder;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory;
import org.apache.logging.log4j.core.config.builder.api.LayoutComponentBuilder;
import org.apache.logging.log4j.core.config.builder.impl.BuiltConfiguration;
import org.apache.logging.log4j.core.impl.Log4jLogEvent;
import org.apache.logging.log4j.message.MapMessage;

/**
 * The access log: one line per flow event, JSON or a Common-Log-Format-like line, to stdout or
 * to a file rotated by size (docs/access-log.md lists the fields and the grammar). Log4j 2 does
 * the formatting and the rotation in a LoggerContext of its own, configured here in code; the
 * agent's own logging (java.util.logging) is not touched. Lines are flushed at the end of each
 * batch the consumer hands over, not one write per line.
 */
public final class AccessLog implements AutoCloseable {

    public enum Format { JSON, CLF }

    /**
     * @param destination {@code stdout}, or the path of the log file
     * @param maxSizeBytes a file is rotated once it is larger
     * @param maxFiles the most files kept: the current one and {@code maxFiles - 1} rotated ones
     *     ({@code FILE.1} the newest)
     */
    public record Settings(String destination, Format format, long maxSizeBytes, int maxFiles) {
        public Settings {
            if (maxFiles < 2) {
                throw new IllegalArgumentException("the access log keeps at least two files (the current one and"
                        + " one rotated), got " + maxFiles);
            }
            if (maxSizeBytes < 1) {
                throw new IllegalArgumentException("the access log's size limit must be positive, got " + maxSizeBytes);
            }
        }

        public boolean stdout() {
            return destination.equals("stdout");
        }
    }

    /**
     * The JSON line's template (log4j-layout-template-json): every field from the record's map
     * (a field that does not apply to the event is null). Documented in docs/access-log.md.
     */
    static final List<String> JSON_FIELDS = List.of("time", "type", "node", "listener", "protocol", "client", "vip",
            "backend", "backend_name", "nat", "duration_seconds", "packets_to_backend", "bytes_to_backend",
            "packets_to_client", "bytes_to_client", "end_reason", "drop_reason");

    /** The CLF-like line (docs/access-log.md, "CLF"): absent fields are "-". */
    static final String CLF_PATTERN = "%K{client} %K{node} %K{listener} [%K{clf_time}] \"%K{type} %K{protocol}"
            + " %K{vip}\" %K{backend} %K{backend_name} %K{nat} %K{reason} %K{duration_ms} %K{packets_to_backend}"
            + " %K{bytes_to_backend} %K{packets_to_client} %K{bytes_to_client}%n";

    private static final DateTimeFormatter ISO = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'")
            .withZone(ZoneOffset.UTC);
    private static final DateTimeFormatter CLF_TIME = DateTimeFormatter.ofPattern("dd/MMM/uuuu:HH:mm:ss.SSS Z",
            Locale.ROOT).withZone(ZoneOffset.UTC);

    private final Settings settings;
    private final LoggerContext context;
    private final LoggerConfig logger;

    private AccessLog(Settings settings) {
        this.settings = settings;
        this.context = new LoggerContext("nodelb-access-log");
        context.start(configuration(settings, context));
        this.logger = context.getConfiguration().getRootLogger();
    }

    public static AccessLog open(Settings settings) {
        return new AccessLog(settings);
    }

    private static Configuration configuration(Settings settings, LoggerContext context) {
        ConfigurationBuilder<BuiltConfiguration> b = ConfigurationBuilderFactory.newConfigurationBuilder();
        b.setConfigurationName("nodelb-access-log").setStatusLevel(Level.WARN).setLoggerContext(context);
        LayoutComponentBuilder layout = settings.format() == Format.JSON
                ? b.newLayout("JsonTemplateLayout").addAttribute("eventTemplate", jsonTemplate())
                : b.newLayout("PatternLayout").addAttribute("pattern", CLF_PATTERN);
        AppenderComponentBuilder appender;
        if (settings.stdout()) {
            appender = b.newAppender("access", "Console").addAttribute("target", "SYSTEM_OUT");
        } else {
            String file = Path.of(settings.destination()).toAbsolutePath().toString();
            appender = b.newAppender("access", "RollingFile")
                    .addAttribute("fileName", file)
                    .addAttribute("filePattern", file + ".%i")
                    .addAttribute("bufferSize", 64 * 1024)
                    .addComponent(b.newComponent("Policies").addComponent(b.newComponent("SizeBasedTriggeringPolicy")
                            .addAttribute("size", Long.toString(settings.maxSizeBytes()))))
                    .addComponent(b.newComponent("DefaultRolloverStrategy")
                            .addAttribute("max", Integer.toString(settings.maxFiles() - 1))
                            .addAttribute("min", "1")
                            .addAttribute("fileIndex", "min"));
        }
        appender.addAttribute("immediateFlush", false).add(layout);
        b.add(appender);
        b.add(b.newRootLogger(Level.INFO).add(b.newAppenderRef("access")));
        return b.build(false);
    }

    static String jsonTemplate() {
        StringBuilder template = new StringBuilder("{");
        for (String field : JSON_FIELDS) {
            if (template.length() > 1) {
                template.append(',');
            }
            template.append('"').append(field).append("\":{\"$resolver\":\"map\",\"key\":\"").append(field).append("\"}");
        }
        return template.append('}').toString();
    }

    /**
     * Writes one record.
     *
     * @param endOfBatch the last record of what the consumer took at once: the buffer is flushed after it
     */
    public void write(FlowRecord record, boolean endOfBatch) {
        MapMessage<?, Object> message = settings.format() == Format.JSON ? json(record) : clf(record);
        logger.log(Log4jLogEvent.newBuilder().setLoggerName("access").setLevel(Level.INFO).setMessage(message)
                .setTimeMillis(record.time().toEpochMilli()).setEndOfBatch(endOfBatch).build());
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    static MapMessage<?, Object> json(FlowRecord r) {
        MapMessage m = new MapMessage(JSON_FIELDS.size());
        var e = r.event();
        m.with("time", ISO.format(r.time()));
        m.with("type", r.type());
        put(m, "node", r.node());
        put(m, "listener", r.listener());
        m.with("protocol", r.protocol());
        m.with("client", r.client());
        m.with("vip", r.vip());
        put(m, "backend", r.backend());
        put(m, "backend_name", r.backendName());
        m.with("nat", r.natMode());
        if (r.durationSeconds() >= 0) {
            m.with("duration_seconds", r.durationSeconds());
        }
        m.with("packets_to_backend", e.packets());
        m.with("bytes_to_backend", e.bytes());
        m.with("packets_to_client", e.replyPackets());
        m.with("bytes_to_client", e.replyBytes());
        put(m, "end_reason", r.endReason());
        put(m, "drop_reason", r.dropReason());
        return m;
    }

    /** A field that does not apply is left out of the map: the template writes it as null. */
    @SuppressWarnings("rawtypes")
    private static void put(MapMessage m, String key, String value) {
        if (value != null) {
            m.with(key, value);
        }
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    static MapMessage<?, Object> clf(FlowRecord r) {
        MapMessage m = new MapMessage(16);
        var e = r.event();
        m.with("client", r.client());
        m.with("node", dash(r.node()));
        m.with("listener", dash(r.listener()));
        m.with("clf_time", CLF_TIME.format(r.time()));
        m.with("type", r.type());
        m.with("protocol", r.protocol());
        m.with("vip", r.vip());
        m.with("backend", dash(r.backend()));
        m.with("backend_name", dash(r.backendName()));
        m.with("nat", r.natMode());
        String reason = r.endReason() != null ? r.endReason() : r.dropReason();
        m.with("reason", dash(reason));
        m.with("duration_ms", r.durationSeconds() < 0 ? "-" : Long.toString(Math.round(r.durationSeconds() * 1000)));
        m.with("packets_to_backend", Long.toString(e.packets()));
        m.with("bytes_to_backend", Long.toString(e.bytes()));
        m.with("packets_to_client", Long.toString(e.replyPackets()));
        m.with("bytes_to_client", Long.toString(e.replyBytes()));
        return m;
    }

    /** "-" for an absent field, and no blank inside one: a CLF field is one token. */
    private static String dash(String value) {
        return value == null || value.isEmpty() ? "-" : value.replace(' ', '_');
    }

    @Override
    public void close() {
        context.stop();
    }
}
