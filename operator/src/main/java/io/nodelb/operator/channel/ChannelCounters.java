package io.nodelb.operator.channel;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * Counts of the control channel, kept by the snapshot server and read by the metrics: snapshots
 * sent, and each node's ACKs and NACKs. Plain adders, so the channel knows nothing of a metrics
 * library; {@link #onNewNode} lets the metrics add a node's series when it first answers.
 */
public final class ChannelCounters {
  private final LongAdder sent = new LongAdder();
  private final Map<String, Answers> answers = new ConcurrentHashMap<>();
  private volatile Consumer<String> newNode = node -> {};

  /** A node's answers since the operator started. */
  public record Answers(LongAdder acks, LongAdder nacks) {}

  void sent() {
    sent.increment();
  }

  void acked(String node) {
    answersOf(node).acks().increment();
  }

  void nacked(String node) {
    answersOf(node).nacks().increment();
  }

  private Answers answersOf(String node) {
    Answers existing = answers.get(node);
    if (existing != null) {
      return existing;
    }
    Answers created = answers.computeIfAbsent(node, n -> new Answers(new LongAdder(), new LongAdder()));
    newNode.accept(node);
    return created;
  }

  public long snapshotsSent() {
    return sent.sum();
  }

  public long acks(String node) {
    Answers a = answers.get(node);
    return a == null ? 0 : a.acks().sum();
  }

  public long nacks(String node) {
    Answers a = answers.get(node);
    return a == null ? 0 : a.nacks().sum();
  }

  /** Called once for each node at its first answer (and now for those that answered already). */
  public void onNewNode(Consumer<String> listener) {
    newNode = listener;
    answers.keySet().forEach(listener);
  }
}
