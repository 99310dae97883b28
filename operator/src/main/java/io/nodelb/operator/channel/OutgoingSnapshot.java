package io.nodelb.operator.channel;

import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import io.nodelb.model.compiler.SerializedSnapshot;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * An {@code OperatorMessage} with a snapshot, as the snapshot server sends it: written straight from
 * the snapshot's cached part bytes ({@link SerializedSnapshot}) into gRPC's buffers, so a 1.3 MB
 * snapshot costs a copy of its parts, not a protobuf serialization of the message (about 8 ms on
 * this project's benchmark machine). On the wire it is the same message: field 1 the
 * {@code NodeSnapshot}, field 2 the nonce; agents parse it with the generated classes.
 */
record OutgoingSnapshot(SerializedSnapshot snapshot, String nonce) {
  private static final int SNAPSHOT_TAG = (OperatorMessage.SNAPSHOT_FIELD_NUMBER << 3) | 2;
  private static final int NONCE_TAG = (OperatorMessage.NONCE_FIELD_NUMBER << 3) | 2;

  /** The response marshaller of the server's {@code DataPlane.Stream}; it only writes. */
  static final MethodDescriptor.Marshaller<OutgoingSnapshot> MARSHALLER = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(OutgoingSnapshot message) {
      return new Stream(message);
    }

    @Override
    public OutgoingSnapshot parse(InputStream stream) {
      throw new UnsupportedOperationException("the snapshot server only sends OperatorMessages");
    }
  };

  /** The message's bytes (for tests and the odd reader that does not drain). */
  byte[] toByteArray() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      writeTo(out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private int size() {
    return 1 + varintSize(snapshot.size()) + snapshot.size() + nonceSize();
  }

  private int nonceSize() {
    int length = nonce.getBytes(StandardCharsets.UTF_8).length;
    return length == 0 ? 0 : 1 + varintSize(length) + length;
  }

  private int writeTo(OutputStream out) throws IOException {
    byte[] scratch = new byte[6];
    out.write(scratch, 0, header(scratch, SNAPSHOT_TAG, snapshot.size()));
    snapshot.writeTo(out);
    byte[] nonceBytes = nonce.getBytes(StandardCharsets.UTF_8);
    if (nonceBytes.length > 0) {
      out.write(scratch, 0, header(scratch, NONCE_TAG, nonceBytes.length));
      out.write(nonceBytes);
    }
    return size();
  }

  private static int header(byte[] into, int tag, int length) {
    into[0] = (byte) tag;
    int at = 1;
    while ((length & ~0x7F) != 0) {
      into[at++] = (byte) ((length & 0x7F) | 0x80);
      length >>>= 7;
    }
    into[at++] = (byte) length;
    return at;
  }

  private static int varintSize(int value) {
    int size = 1;
    while ((value & ~0x7F) != 0) {
      value >>>= 7;
      size++;
    }
    return size;
  }

  /** What gRPC reads: it drains it (one copy per part) and knows its length up front. */
  private static final class Stream extends InputStream implements Drainable, KnownLength {
    private final OutgoingSnapshot message;
    private InputStream fallback;
    private boolean drained;

    Stream(OutgoingSnapshot message) {
      this.message = message;
    }

    @Override
    public int drainTo(OutputStream target) throws IOException {
      if (drained || fallback != null) {
        throw new IllegalStateException("already read");
      }
      drained = true;
      return message.writeTo(target);
    }

    @Override
    public int available() throws IOException {
      if (drained) {
        return 0;
      }
      return fallback == null ? message.size() : fallback.available();
    }

    @Override
    public int read() throws IOException {
      return bytes().read();
    }

    @Override
    public int read(byte[] into, int offset, int length) throws IOException {
      return bytes().read(into, offset, length);
    }

    private InputStream bytes() {
      if (drained) {
        return InputStream.nullInputStream();
      }
      if (fallback == null) {
        fallback = new ByteArrayInputStream(message.toByteArray());
      }
      return fallback;
    }
  }
}
