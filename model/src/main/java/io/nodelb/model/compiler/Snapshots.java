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
  static String version(String node, Iterable<byte[]> listeners, Iterable<byte[]> groups) {
    MessageDigest digest = sha256();
    byte[] scratch = new byte[10];
    if (!node.isEmpty()) {
      byte[] name = node.getBytes(StandardCharsets.UTF_8);
      field(digest, scratch, NODE_TAG, name);
    }
    for (byte[] listener : listeners) {
      field(digest, scratch, LISTENER_TAG, listener);
    }
    for (byte[] group : groups) {
      field(digest, scratch, GROUP_TAG, group);
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  private static void field(MessageDigest digest, byte[] scratch, int tag, byte[] value) {
    digest.update(scratch, 0, varint(scratch, tag));
    digest.update(scratch, 0, varint(scratch, value.length));
    digest.update(value);
  }

  private static int varint(byte[] into, int value) {
    int n = 0;
    while ((value & ~0x7F) != 0) {
      into[n++] = (byte) ((value & 0x7F) | 0x80);
      value >>>= 7;
    }
    into[n++] = (byte) value;
    return n;
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }
}
