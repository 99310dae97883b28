package io.nodelb.model.compiler;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.MessageLite;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * Deterministic bytes and content-derived versions of snapshots. The version is the lower-case hex
 * SHA-256 of the snapshot serialized deterministically with {@code version} empty. The compiler
 * hashes the cached bytes of each listener and group instead of re-serializing the whole snapshot;
 * the result is byte-for-byte the same stream (checked by a test against {@link #version}).
 */
public final class Snapshots {
  private Snapshots() {}

  private static final int NODE_TAG = (NodeSnapshot.NODE_FIELD_NUMBER << 3) | 2;
  private static final int LISTENER_TAG = (NodeSnapshot.LISTENERS_FIELD_NUMBER << 3) | 2;
  private static final int GROUP_TAG = (NodeSnapshot.TARGET_GROUPS_FIELD_NUMBER << 3) | 2;

  /** The message serialized deterministically. */
  public static byte[] serialize(MessageLite message) {
    byte[] out = new byte[message.getSerializedSize()];
    CodedOutputStream stream = CodedOutputStream.newInstance(out);
    stream.useDeterministicSerialization();
    try {
      message.writeTo(stream);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    stream.checkNoSpaceLeft();
    return out;
  }

  /** The version a snapshot must carry: SHA-256 of its deterministic bytes with version empty. */
  public static String version(NodeSnapshot snapshot) {
    return HexFormat.of().formatHex(sha256().digest(serialize(snapshot.toBuilder().clearVersion().build())));
  }

  /** The snapshot with its version filled in. */
  public static NodeSnapshot withVersion(NodeSnapshot snapshot) {
    return snapshot.toBuilder().setVersion(version(snapshot)).build();
  }

  /** Same result as {@link #version}, from the already serialized listeners and groups in order. */
  static String version(String node, List<byte[]> listeners, List<byte[]> groups) {
    byte[] name = node.getBytes(StandardCharsets.UTF_8);
    int size = name.length == 0 ? 0 : fieldSize(name.length);
    for (byte[] listener : listeners) {
      size += fieldSize(listener.length);
    }
    for (byte[] group : groups) {
      size += fieldSize(group.length);
    }
    // One contiguous buffer and one digest call: far faster than thousands of small updates.
    byte[] stream = new byte[size];
    int at = name.length == 0 ? 0 : field(stream, 0, NODE_TAG, name);
    for (byte[] listener : listeners) {
      at = field(stream, at, LISTENER_TAG, listener);
    }
    for (byte[] group : groups) {
      at = field(stream, at, GROUP_TAG, group);
    }
    return HexFormat.of().formatHex(sha256().digest(stream));
  }

  /** Tag (one byte for our field numbers), length varint, value. */
  private static int fieldSize(int length) {
    return 1 + CodedOutputStream.computeUInt32SizeNoTag(length) + length;
  }

  private static int field(byte[] into, int at, int tag, byte[] value) {
    into[at++] = (byte) tag;
    int length = value.length;
    while ((length & ~0x7F) != 0) {
      into[at++] = (byte) ((length & 0x7F) | 0x80);
      length >>>= 7;
    }
    into[at++] = (byte) length;
    System.arraycopy(value, 0, into, at, value.length);
    return at + value.length;
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }
}
