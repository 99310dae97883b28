package io.nodelb.model.compiler;

import com.google.protobuf.ByteString;
import io.nodelb.model.input.IpLiterals;
import java.net.InetAddress;
import java.util.Comparator;

/** IP addresses as the snapshot carries them: 4 or 16 bytes in network order. */
final class Addresses {
  private Addresses() {}

  /** The bytes of an IP literal, or null when it is not one. */
  static ByteString bytes(String literal) {
    InetAddress address = IpLiterals.parse(literal);
    return address == null ? null : ByteString.copyFrom(address.getAddress());
  }

  /** IPv4 before IPv6, then by unsigned bytes. */
  static final Comparator<ByteString> ORDER =
      Comparator.comparingInt(ByteString::size).thenComparing(ByteString.unsignedLexicographicalComparator());
}
