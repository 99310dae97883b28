package io.nodelb.agent.events;

import io.nodelb.agent.bpf.Abi;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The hand-off between the thread that reads records (the ring buffer's poller, the conntrack
 * sweep) and the sinks (access log, metrics), which run on a thread of their own so a slow disk
 * never stalls the ring buffer. The queue is bounded: a record that finds it full is dropped and
 * counted ({@link #dropped()}), never queued without bound. The writer takes what waits at once
 * (up to {@value #BATCH}) and tells the sinks which record ends the batch (the access log
 * flushes there).
 */
public final class EventConsumer implements AutoCloseable {

    /** Where named records go. Called on the writer thread only. */
    public interface Sink {
        void accept(FlowRecord record, boolean endOfBatch);
    }

    public static final int DEFAULT_CAPACITY = 65_536;
    static final int BATCH = 1024;
    private static final System.Logger LOG = System.getLogger(EventConsumer.class.getName());

    private final ArrayBlockingQueue<Abi.Event> queue;
    private final Names names;
    private final List<Sink> sinks;
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong delivered = new AtomicLong();
    private final Thread writer;
    private volatile boolean running = true;

    private EventConsumer(int capacity, Names names, List<Sink> sinks) {
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.names = names;
        this.sinks = List.copyOf(sinks);
        this.writer = Thread.ofPlatform().name("nodelb-flow-events-writer").daemon().unstarted(this::writeLoop);
    }

    public static EventConsumer start(int capacity, Names names, List<Sink> sinks) {
        EventConsumer consumer = new EventConsumer(capacity, names, sinks);
        consumer.writer.start();
        return consumer;
    }

    /** Queues a record for the sinks; false (and counted) when the queue is full. Any thread. */
    public boolean offer(Abi.Event event) {
        if (queue.offer(event)) {
            return true;
        }
        dropped.incrementAndGet();
        return false;
    }

    /** Whether a record goes anywhere: without a sink, nothing would read it. */
    public boolean hasSinks() {
        return !sinks.isEmpty();
    }

    /** Records dropped because the queue was full. */
    public long dropped() {
        return dropped.get();
    }

    /** Records handed to the sinks. */
    public long delivered() {
        return delivered.get();
    }

    /** Records waiting. */
    public int waiting() {
        return queue.size();
    }

    private void writeLoop() {
        List<Abi.Event> batch = new ArrayList<>(BATCH);
        boolean[] failing = new boolean[sinks.size()];
        while (running || !queue.isEmpty()) {
            try {
                Abi.Event first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, BATCH - 1);
            } catch (InterruptedException e) {
                if (!running) {
                    queue.drainTo(batch, BATCH);
                } else {
                    continue;
                }
            }
            for (int i = 0; i < batch.size(); i++) {
                FlowRecord record = names.name(batch.get(i));
                boolean last = i == batch.size() - 1;
                for (int s = 0; s < sinks.size(); s++) {
                    try {
                        sinks.get(s).accept(record, last);
                        failing[s] = false;
                    } catch (RuntimeException e) {
                        if (!failing[s]) { // once per run of failures, not once per record
                            LOG.log(System.Logger.Level.WARNING, "flow events: " + sinks.get(s) + " failed", e);
                        }
                        failing[s] = true;
                    }
                }
            }
            delivered.addAndGet(batch.size());
            batch.clear();
        }
    }

    /** Stops after the sinks had what was queued (waits at most a few seconds). */
    @Override
    public void close() {
        running = false;
        try {
            writer.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
