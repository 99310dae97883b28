package io.nodelb.model.compiler;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.MessageLite;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Deterministic bytes and content-derived versions of snapshots.
 *
 * <p>The version is a two-level (Merkle-style) digest, so a change to one group costs hashing that
 * group and a short list of part digests, not the node's whole snapshot: the lower-case hex SHA-256
 * of the snapshot serialized deterministically with {@code version} empty and every listener and
 * target group replaced by the 32-byte SHA-256 of its own deterministic serialization (written as
 * a bytes field under the same field number). Spelled out, the digest input is
 *
 * <pre>
 *   0x0A varint(len(node)) node-UTF-8                    (left out when node is empty)
 *   0x1A 0x20 SHA-256(listener)      for each listener, in the snapshot's order
 *   0x22 0x20 SHA-256(target group)  for each target group, in the snapshot's order
 * </pre>
 *
 * The compiler keeps each part's bytes and digest, so a snapshot's version only needs the cached
 * digests; {@link #version(NodeSnapshot)} recomputes it from a message (tests check they agree).
 */
public final class Snapshots {
  private Snapshots() {}

  /** Length of a SHA-256 digest. */
  static final int DIGEST_LENGTH = 32;

  private static final int NODE_TAG = (NodeSnapshot.NODE_FIELD_NUMBER << 3) | 2;
  private static final int VERSION_TAG = (NodeSnapshot.VERSION_FIELD_NUMBER << 3) | 2;
  private static final int LISTENER_TAG = (NodeSnapshot.LISTENERS_FIELD_NUMBER << 3) | 2;
  private static final int GROUP_TAG = (NodeSnapshot.TARGET_GROUPS_FIELD_NUMBER << 3) | 2;
  /** {@code draining = true}: tag (varint wire type) and the value 1. */
  static final byte[] DRAINING_FIELD = {(byte) (NodeSnapshot.DRAINING_FIELD_NUMBER << 3), 1};

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

  /**
   * A snapshot's deterministic serialization from its parts' deterministic bytes, without
   * serializing them again: the wire format writes fields in number order and a repeated message
   * field as one length-delimited record per element, so the bytes are node, version, then each
   * listener and each group as tag, length, bytes, then {@code draining} when set. Equal to
   * {@link #serialize} of the message.
   */
  static byte[] concatenate(String node, String version, List<byte[]> listeners, List<byte[]> groups,
      boolean draining) {
    byte[] name = node.getBytes(StandardCharsets.UTF_8);
    byte[] versionBytes = version.getBytes(StandardCharsets.UTF_8);
    int size = recordSize(name) + recordSize(versionBytes);
    for (byte[] listener : listeners) {
      size += recordSize(listener);
    }
    for (byte[] group : groups) {
      size += recordSize(group);
    }
    if (draining) {
      size += DRAINING_FIELD.length;
    }
    byte[] out = new byte[size];
    int at = record(out, 0, NODE_TAG, name);
    at = record(out, at, VERSION_TAG, versionBytes);
    for (byte[] listener : listeners) {
      at = record(out, at, LISTENER_TAG, listener);
    }
    for (byte[] group : groups) {
      at = record(out, at, GROUP_TAG, group);
    }
    if (draining) {
      System.arraycopy(DRAINING_FIELD, 0, out, at, DRAINING_FIELD.length);
    }
    return out;
  }

  /** Tag (one byte for our field numbers), length varint, value; proto3 leaves out an empty string. */
  private static int recordSize(byte[] value) {
    return value.length == 0 ? 0 : 1 + CodedOutputStream.computeUInt32SizeNoTag(value.length) + value.length;
  }

  private static int record(byte[] into, int at, int tag, byte[] value) {
    if (value.length == 0) {
      return at;
    }
    into[at++] = (byte) tag;
    at = varint(into, at, value.length);
    System.arraycopy(value, 0, into, at, value.length);
    return at + value.length;
  }

  /** SHA-256 of some bytes (the digest of one part). */
  public static byte[] sha256(byte[] bytes) {
    return newSha256().digest(bytes);
  }

  /** The version a snapshot must carry (see the class comment), recomputed from its parts. */
  public static String version(NodeSnapshot snapshot) {
    List<byte[]> listeners = new ArrayList<>(snapshot.getListenersCount());
    for (Listener listener : snapshot.getListenersList()) {
      listeners.add(sha256(serialize(listener)));
    }
    List<byte[]> groups = new ArrayList<>(snapshot.getTargetGroupsCount());
    for (TargetGroup group : snapshot.getTargetGroupsList()) {
      groups.add(sha256(serialize(group)));
    }
    return version(snapshot.getNode(), listenerEntries(listeners), groupEntries(groups), snapshot.getDraining());
  }

  /** The snapshot with its version filled in. */
  public static NodeSnapshot withVersion(NodeSnapshot snapshot) {
    return snapshot.toBuilder().setVersion(version(snapshot)).build();
  }

  /** The version from the node name and the SHA-256 of each listener and group, in snapshot order. */
  static String version(String node, List<byte[]> listenerDigests, List<byte[]> groupDigests) {
    return version(node, listenerEntries(listenerDigests), groupEntries(groupDigests));
  }

  /** The version from the node name and the encoded digest entries of its listeners and groups. */
  static String version(String node, byte[] listenerEntries, byte[] groupEntries) {
    return version(node, listenerEntries, groupEntries, false);
  }

  /** As {@link #version(String, byte[], byte[])}, for a node that may be draining. */
  static String version(String node, byte[] listenerEntries, byte[] groupEntries, boolean draining) {
    byte[] name = node.getBytes(StandardCharsets.UTF_8);
    MessageDigest sha256 = newSha256();
    if (name.length > 0) {
      byte[] field = new byte[1 + CodedOutputStream.computeUInt32SizeNoTag(name.length) + name.length];
      field[0] = (byte) NODE_TAG;
      int at = varint(field, 1, name.length);
      System.arraycopy(name, 0, field, at, name.length);
      sha256.update(field);
    }
    sha256.update(listenerEntries);
    sha256.update(groupEntries);
    if (draining) {
      sha256.update(DRAINING_FIELD);
    }
    return HexFormat.of().formatHex(sha256.digest());
  }

  /** The listener digests encoded as digest-input entries: 0x1A 0x20 digest, each. */
  static byte[] listenerEntries(List<byte[]> digests) {
    return entries(LISTENER_TAG, digests);
  }

  /** The group digests encoded as digest-input entries: 0x22 0x20 digest, each. */
  static byte[] groupEntries(List<byte[]> digests) {
    return entries(GROUP_TAG, digests);
  }

  /** Replaces the digest of entry {@code index} (the part at that place changed). */
  static void setEntry(byte[] entries, int index, byte[] digest) {
    checkDigest(digest);
    System.arraycopy(digest, 0, entries, index * ENTRY_LENGTH + 2, DIGEST_LENGTH);
  }

  private static final int ENTRY_LENGTH = 2 + DIGEST_LENGTH;

  private static byte[] entries(int tag, List<byte[]> digests) {
    byte[] entries = new byte[digests.size() * ENTRY_LENGTH];
    for (int i = 0; i < digests.size(); i++) {
      entries[i * ENTRY_LENGTH] = (byte) tag; // one byte for our field numbers
      entries[i * ENTRY_LENGTH + 1] = DIGEST_LENGTH; // the length as a varint: one byte
      setEntry(entries, i, digests.get(i));
    }
    return entries;
  }

  private static void checkDigest(byte[] digest) {
    if (digest.length != DIGEST_LENGTH) {
      throw new IllegalArgumentException("a part digest must be " + DIGEST_LENGTH + " bytes, not " + digest.length);
    }
  }

  private static int varint(byte[] into, int at, int value) {
    while ((value & ~0x7F) != 0) {
      into[at++] = (byte) ((value & 0x7F) | 0x80);
      value >>>= 7;
    }
    into[at++] = (byte) value;
    return at;
  }

  private static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }
}
