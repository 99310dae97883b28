package io.nodelb.model.input;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.regex.Pattern;

/** Parses IP literals and prefixes strictly, without ever asking DNS. */
public final class IpLiterals {
  private IpLiterals() {}

  private static final Pattern IPV4 =
      Pattern.compile("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$");
  /** The schema's own pattern for an IP (ApiPatterns.IP in crds): IPv4 or something shaped like IPv6. */
  private static final Pattern LOOSE_IP = Pattern.compile("^(" + IPV4.pattern().substring(1, IPV4.pattern().length() - 1)
      + "|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$");

  /** The address, or null when {@code text} is not an IPv4 dotted quad or an IPv6 literal. */
  public static InetAddress parse(String text) {
    if (text == null || !LOOSE_IP.matcher(text).matches()) {
      return null;
    }
    try {
      if (IPV4.matcher(text).matches()) {
        return Inet4Address.ofLiteral(text);
      }
      return Inet6Address.ofLiteral(text);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /**
   * The address as people write it: IPv4 dotted, IPv6 in the short form of RFC 5952 (lower
   * case, no leading zeros, the longest run of two or more zero groups as "::").
   * {@link InetAddress#getHostAddress()} gives the long form, fd00:1:0:0:0:0:0:11.
   */
  public static String format(InetAddress address) {
    if (!(address instanceof Inet6Address)) {
      return address.getHostAddress();
    }
    byte[] b = address.getAddress();
    int[] groups = new int[8];
    for (int i = 0; i < 8; i++) {
      groups[i] = ((b[2 * i] & 0xff) << 8) | (b[2 * i + 1] & 0xff);
    }
    int bestStart = -1;
    int bestLength = 1; // a single zero group stays "0"
    for (int i = 0; i < 8; ) {
      int j = i;
      while (j < 8 && groups[j] == 0) {
        j++;
      }
      if (j - i > bestLength) {
        bestStart = i;
        bestLength = j - i;
      }
      i = j == i ? i + 1 : j;
    }
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < 8; i++) {
      if (i == bestStart) {
        out.append("::");
        i += bestLength - 1;
        continue;
      }
      if (!out.isEmpty() && out.charAt(out.length() - 1) != ':') {
        out.append(':');
      }
      out.append(Integer.toHexString(groups[i]));
    }
    return out.toString();
  }

  /** A parsed prefix; {@code network} has every bit past {@code length} cleared. */
  public record Prefix(byte[] network, int length) {
    public boolean isIpv6() {
      return network.length == 16;
    }
  }

  /** The prefix, or null when {@code text} is not "address/length" with a length that fits the family. */
  public static Prefix parseCidr(String text) {
    if (text == null) {
      return null;
    }
    int slash = text.indexOf('/');
    if (slash < 0 || slash == text.length() - 1) {
      return null;
    }
    InetAddress address = parse(text.substring(0, slash));
    String lengthText = text.substring(slash + 1);
    if (address == null || !lengthText.matches("[0-9]{1,3}")) {
      return null;
    }
    int length = Integer.parseInt(lengthText);
    byte[] bytes = address.getAddress();
    if (length > bytes.length * 8) {
      return null;
    }
    for (int bit = length; bit < bytes.length * 8; bit++) {
      bytes[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
    }
    return new Prefix(bytes, length);
  }
}
