package io.nodelb.model.compiler;

import com.google.protobuf.CodedOutputStream;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A node's snapshot as its deterministic bytes, kept as the cached bytes of its parts (listeners
 * and groups, shared with the compiler) instead of one array: writing it out costs a copy of each
 * part, not a serialization of the message, and holding it costs two lists of references. Byte for
 * byte {@code Snapshots.serialize(snapshot)}.
 *
 * @param listeners each listener's deterministic bytes, in snapshot order
 * @param groups each group's deterministic bytes, in snapshot order
 * @param draining the node is drained (field 5, written last, only when true)
 */
public record SerializedSnapshot(String node, String version, List<byte[]> listeners, List<byte[]> groups,
    boolean draining) {
  private static final byte[] DRAINING_FIELD = Snapshots.DRAINING_FIELD;
  private static final int NODE_TAG = (NodeSnapshot.NODE_FIELD_NUMBER << 3) | 2;
  private static final int VERSION_TAG = (NodeSnapshot.VERSION_FIELD_NUMBER << 3) | 2;
  private static final int LISTENER_TAG = (NodeSnapshot.LISTENERS_FIELD_NUMBER << 3) | 2;
  private static final int GROUP_TAG = (NodeSnapshot.TARGET_GROUPS_FIELD_NUMBER << 3) | 2;

  public SerializedSnapshot {
    listeners = List.copyOf(listeners);
    groups = List.copyOf(groups);
  }

  /** From a message (serializes each part once): for snapshots the compiler did not make. */
  public static SerializedSnapshot of(NodeSnapshot snapshot) {
    return new SerializedSnapshot(snapshot.getNode(), snapshot.getVersion(),
        snapshot.getListenersList().stream().map(Snapshots::serialize).toList(),
        snapshot.getTargetGroupsList().stream().map(Snapshots::serialize).toList(), snapshot.getDraining());
  }

  /** Length of the serialized NodeSnapshot. */
  public int size() {
    int size = recordSize(node.getBytes(StandardCharsets.UTF_8).length)
        + recordSize(version.getBytes(StandardCharsets.UTF_8).length);
    for (byte[] listener : listeners) {
      size += recordSize(listener.length);
    }
    for (byte[] group : groups) {
      size += recordSize(group.length);
    }
    return draining ? size + DRAINING_FIELD.length : size;
  }

  /** Writes the serialized NodeSnapshot ({@link #size()} bytes). */
  public void writeTo(OutputStream out) throws IOException {
    byte[] scratch = new byte[6];
    write(out, scratch, NODE_TAG, node.getBytes(StandardCharsets.UTF_8));
    write(out, scratch, VERSION_TAG, version.getBytes(StandardCharsets.UTF_8));
    for (byte[] listener : listeners) {
      write(out, scratch, LISTENER_TAG, listener);
    }
    for (byte[] group : groups) {
      write(out, scratch, GROUP_TAG, group);
    }
    if (draining) {
      out.write(DRAINING_FIELD);
    }
  }

  public byte[] toByteArray() {
    return Snapshots.concatenate(node, version, listeners, groups, draining);
  }

  /** Tag (one byte for these field numbers), length varint, value; proto3 leaves out an empty string. */
  private static int recordSize(int length) {
    return length == 0 ? 0 : 1 + CodedOutputStream.computeUInt32SizeNoTag(length) + length;
  }

  private static void write(OutputStream out, byte[] scratch, int tag, byte[] value) throws IOException {
    if (value.length == 0) {
      return;
    }
    scratch[0] = (byte) tag;
    int at = 1;
    int length = value.length;
    while ((length & ~0x7F) != 0) {
      scratch[at++] = (byte) ((length & 0x7F) | 0x80);
      length >>>= 7;
    }
    scratch[at++] = (byte) length;
    out.write(scratch, 0, at);
    out.write(value);
  }
}
