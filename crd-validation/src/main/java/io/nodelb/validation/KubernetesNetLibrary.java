package io.nodelb.validation;

import dev.cel.common.CelFunctionDecl;
import dev.cel.common.CelOverloadDecl;
import dev.cel.common.types.OpaqueType;
import dev.cel.common.types.SimpleType;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelFunctionBinding;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The Kubernetes CEL IP and CIDR libraries ({@code isIP}, {@code ip()}, {@code isCIDR},
 * {@code cidr()} and their methods), written to their published semantics: an IPv4 address is a
 * dotted quad without leading zeros, an IPv6 address has no zone and is not IPv4-mapped; a CIDR
 * may have host bits set ({@code masked()} clears them).
 */
final class KubernetesNetLibrary {
    private KubernetesNetLibrary() {}

    static final OpaqueType IP = OpaqueType.create("net.IP");
    static final OpaqueType CIDR = OpaqueType.create("net.CIDR");

    /** An address as CEL sees it; equal when the bytes are. */
    record Ip(InetAddress address) {
        int family() {
            return address instanceof Inet4Address ? 4 : 6;
        }

        byte[] bytes() {
            return address.getAddress();
        }

        @Override
        public String toString() {
            return address instanceof Inet4Address ? address.getHostAddress() : Ipv6Text.canonical(bytes());
        }
    }

    /** A prefix as written: its address may have host bits set. */
    record Cidr(Ip ip, int prefixLength) {
        Cidr masked() {
            byte[] b = ip.bytes();
            for (int bit = prefixLength; bit < b.length * 8; bit++) {
                b[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
            }
            return new Cidr(new Ip(toAddress(b)), prefixLength);
        }

        boolean containsIp(Ip other) {
            return other.family() == ip.family()
                    && new Cidr(other, prefixLength).masked().equals(masked());
        }

        boolean containsCidr(Cidr other) {
            return other.prefixLength >= prefixLength && containsIp(other.ip);
        }

        @Override
        public String toString() {
            return ip + "/" + prefixLength;
        }
    }

    private static final Pattern IPV4 =
            Pattern.compile("((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])");
    private static final Pattern IPV6_CHARS = Pattern.compile("[0-9a-fA-F:.]+");

    /** The address, or null when {@code text} is not one by the library's rules. */
    static Ip parseIp(String text) {
        if (text == null) {
            return null;
        }
        try {
            if (IPV4.matcher(text).matches()) {
                return new Ip(Inet4Address.ofLiteral(text));
            }
            if (!text.contains(":") || !IPV6_CHARS.matcher(text).matches()) {
                return null; // also refuses a zone (fe80::1%eth0)
            }
            int lastColon = text.lastIndexOf(':');
            String tail = text.substring(lastColon + 1);
            if (tail.contains(".") && !IPV4.matcher(tail).matches()) {
                return null; // an embedded IPv4 part follows the IPv4 rules
            }
            InetAddress address = Inet6Address.ofLiteral(text);
            // Java turns ::ffff:a.b.c.d into an IPv4 address: the library refuses IPv4-mapped IPv6.
            return address instanceof Inet6Address ? new Ip(address) : null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static Cidr parseCidr(String text) {
        if (text == null) {
            return null;
        }
        int slash = text.indexOf('/');
        if (slash < 0) {
            return null;
        }
        Ip ip = parseIp(text.substring(0, slash));
        String length = text.substring(slash + 1);
        if (ip == null || !length.matches("0|[1-9][0-9]{0,2}")) {
            return null;
        }
        int prefix = Integer.parseInt(length);
        return prefix > ip.bytes().length * 8 ? null : new Cidr(ip, prefix);
    }

    static List<CelFunctionDecl> declarations() {
        return List.of(
                fn("isIP", CelOverloadDecl.newGlobalOverload("is_ip", SimpleType.BOOL, SimpleType.STRING)),
                fn("ip", CelOverloadDecl.newGlobalOverload("string_to_ip", IP, SimpleType.STRING)),
                fn("ip.isCanonical", CelOverloadDecl.newGlobalOverload("ip_is_canonical", SimpleType.BOOL,
                        SimpleType.STRING)),
                fn("family", CelOverloadDecl.newMemberOverload("ip_family", SimpleType.INT, IP)),
                fn("isUnspecified", CelOverloadDecl.newMemberOverload("ip_is_unspecified", SimpleType.BOOL, IP)),
                fn("isLoopback", CelOverloadDecl.newMemberOverload("ip_is_loopback", SimpleType.BOOL, IP)),
                fn("isLinkLocalMulticast", CelOverloadDecl.newMemberOverload("ip_is_link_local_multicast",
                        SimpleType.BOOL, IP)),
                fn("isLinkLocalUnicast", CelOverloadDecl.newMemberOverload("ip_is_link_local_unicast",
                        SimpleType.BOOL, IP)),
                fn("isGlobalUnicast", CelOverloadDecl.newMemberOverload("ip_is_global_unicast", SimpleType.BOOL, IP)),
                fn("isCIDR", CelOverloadDecl.newGlobalOverload("is_cidr", SimpleType.BOOL, SimpleType.STRING)),
                fn("cidr", CelOverloadDecl.newGlobalOverload("string_to_cidr", CIDR, SimpleType.STRING)),
                fn("containsIP",
                        CelOverloadDecl.newMemberOverload("cidr_contains_ip_ip", SimpleType.BOOL, CIDR, IP),
                        CelOverloadDecl.newMemberOverload("cidr_contains_ip_string", SimpleType.BOOL, CIDR,
                                SimpleType.STRING)),
                fn("containsCIDR",
                        CelOverloadDecl.newMemberOverload("cidr_contains_cidr", SimpleType.BOOL, CIDR, CIDR),
                        CelOverloadDecl.newMemberOverload("cidr_contains_cidr_string", SimpleType.BOOL, CIDR,
                                SimpleType.STRING)),
                fn("ip", CelOverloadDecl.newMemberOverload("cidr_ip", IP, CIDR)),
                fn("masked", CelOverloadDecl.newMemberOverload("cidr_masked", CIDR, CIDR)),
                fn("prefixLength", CelOverloadDecl.newMemberOverload("cidr_prefix_length", SimpleType.INT, CIDR)),
                fn("string",
                        CelOverloadDecl.newGlobalOverload("ip_to_string", SimpleType.STRING, IP),
                        CelOverloadDecl.newGlobalOverload("cidr_to_string", SimpleType.STRING, CIDR)));
    }

    static List<CelFunctionBinding> bindings() {
        return List.of(
                CelFunctionBinding.from("is_ip", String.class, s -> parseIp(s) != null),
                CelFunctionBinding.from("string_to_ip", String.class, KubernetesNetLibrary::ip),
                CelFunctionBinding.from("ip_is_canonical", String.class, s -> ip(s).toString().equals(s)),
                CelFunctionBinding.from("ip_family", Ip.class, ip -> (long) ip.family()),
                CelFunctionBinding.from("ip_is_unspecified", Ip.class, ip -> ip.address().isAnyLocalAddress()),
                CelFunctionBinding.from("ip_is_loopback", Ip.class, ip -> ip.address().isLoopbackAddress()),
                CelFunctionBinding.from("ip_is_link_local_multicast", Ip.class, KubernetesNetLibrary::linkLocalMulticast),
                CelFunctionBinding.from("ip_is_link_local_unicast", Ip.class, ip -> ip.address().isLinkLocalAddress()),
                CelFunctionBinding.from("ip_is_global_unicast", Ip.class, KubernetesNetLibrary::globalUnicast),
                CelFunctionBinding.from("is_cidr", String.class, s -> parseCidr(s) != null),
                CelFunctionBinding.from("string_to_cidr", String.class, KubernetesNetLibrary::cidr),
                CelFunctionBinding.from("cidr_contains_ip_ip", Cidr.class, Ip.class, Cidr::containsIp),
                CelFunctionBinding.from("cidr_contains_ip_string", Cidr.class, String.class,
                        (c, s) -> c.containsIp(ip(s))),
                CelFunctionBinding.from("cidr_contains_cidr", Cidr.class, Cidr.class, Cidr::containsCidr),
                CelFunctionBinding.from("cidr_contains_cidr_string", Cidr.class, String.class,
                        (c, s) -> c.containsCidr(cidr(s))),
                CelFunctionBinding.from("cidr_ip", Cidr.class, Cidr::ip),
                CelFunctionBinding.from("cidr_masked", Cidr.class, Cidr::masked),
                CelFunctionBinding.from("cidr_prefix_length", Cidr.class, c -> (long) c.prefixLength()),
                CelFunctionBinding.from("ip_to_string", Ip.class, Ip::toString),
                CelFunctionBinding.from("cidr_to_string", Cidr.class, Cidr::toString));
    }

    private static Ip ip(String text) throws CelEvaluationException {
        Ip ip = parseIp(text);
        if (ip == null) {
            throw new CelEvaluationException("IP Address \"" + text + "\" parse error during conversion from string");
        }
        return ip;
    }

    private static Cidr cidr(String text) throws CelEvaluationException {
        Cidr cidr = parseCidr(text);
        if (cidr == null) {
            throw new CelEvaluationException("network address parse error during conversion from string: \""
                    + text + "\"");
        }
        return cidr;
    }

    /** 224.0.0.0/24 and ff02::/16, as Go's netip. */
    private static boolean linkLocalMulticast(Ip ip) {
        byte[] b = ip.bytes();
        return ip.family() == 4 ? (b[0] & 0xff) == 224 && b[1] == 0 && b[2] == 0
                : (b[0] & 0xff) == 0xff && b[1] == 0x02;
    }

    /** Go's netip IsGlobalUnicast: not unspecified, loopback, multicast, link-local or the IPv4 broadcast. */
    private static boolean globalUnicast(Ip ip) {
        InetAddress a = ip.address();
        boolean broadcast = ip.family() == 4 && a.getHostAddress().equals("255.255.255.255");
        return !(a.isAnyLocalAddress() || a.isLoopbackAddress() || a.isMulticastAddress()
                || a.isLinkLocalAddress() || broadcast);
    }

    private static InetAddress toAddress(byte[] bytes) {
        try {
            return InetAddress.getByAddress(bytes);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e); // a 4- or 16-byte array is always an address
        }
    }

    private static CelFunctionDecl fn(String name, CelOverloadDecl... overloads) {
        return CelFunctionDecl.newFunctionDeclaration(name, overloads);
    }

    /** RFC 5952 text of an IPv6 address: lower case, the longest run of zero groups as "::". */
    static final class Ipv6Text {
        private Ipv6Text() {}

        static String canonical(byte[] b) {
            int[] groups = new int[8];
            for (int i = 0; i < 8; i++) {
                groups[i] = ((b[2 * i] & 0xff) << 8) | (b[2 * i + 1] & 0xff);
            }
            int bestStart = -1;
            int bestLength = 1;
            for (int i = 0; i < 8; i++) {
                int j = i;
                while (j < 8 && groups[j] == 0) {
                    j++;
                }
                if (j - i > bestLength) {
                    bestStart = i;
                    bestLength = j - i;
                }
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
    }
}
