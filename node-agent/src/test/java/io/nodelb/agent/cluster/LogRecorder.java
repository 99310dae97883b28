package io.nodelb.agent.cluster;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/** Keeps the formatted lines that the cluster package logs (System.Logger goes to java.util.logging). */
final class LogRecorder extends Handler implements AutoCloseable {

    private final Logger logger = Logger.getLogger("io.nodelb.agent.cluster");
    private final SimpleFormatter formatter = new SimpleFormatter();
    final List<String> lines = new CopyOnWriteArrayList<>();

    LogRecorder() {
        logger.addHandler(this);
    }

    @Override
    public void publish(LogRecord record) {
        lines.add(record.getLevel() + " " + formatter.formatMessage(record));
    }

    @Override
    public void flush() {}

    @Override
    public void close() {
        logger.removeHandler(this);
    }
}
