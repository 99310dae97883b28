package io.nodelb.api.v1alpha1;

/**
 * Regular expressions of the OpenAPI schema (through {@code @Pattern}). The IPv6 forms are
 * deliberately loose: the CEL rules {@code isIP}/{@code isCIDR} check the exact syntax (evaluated
 * by the API server, and by crd-validation everywhere else).
 */
public final class ApiPatterns {
  private ApiPatterns() {}

  private static final String IPV4_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  private static final String IPV4 = "(" + IPV4_OCTET + "\\.){3}" + IPV4_OCTET;
  private static final String IPV6_LOOSE = "[0-9a-fA-F:.]*:[0-9a-fA-F:.]*";

  /** An IPv4 dotted quad or something shaped like an IPv6 literal. */
  public static final String IP = "^(" + IPV4 + "|" + IPV6_LOOSE + ")$";

  /** An IPv4 or IPv6 prefix, e.g. 10.0.0.0/8 or 2001:db8::/32. */
  public static final String CIDR =
      "^(" + IPV4 + "/(3[0-2]|[12]?[0-9])|" + IPV6_LOOSE + "/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$";

  /** An RFC 1123 DNS label: what Kubernetes accepts as a port or listener name. */
  public static final String DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

  /** An RFC 1123 subdomain: what Kubernetes accepts as an object name. */
  public static final String DNS_SUBDOMAIN =
      "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

  /** A lower-case DNS name, or a wildcard whose whole first label is {@code *}: api.example.com, *.example.com. */
  public static final String SERVER_NAME =
      "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

  /** A Go-style duration with units ms, s, m, h, e.g. 5s, 1m30s, 250ms. */
  public static final String DURATION = "^([0-9]+(ms|s|m|h))+$";

  /** Expected HTTP status codes: codes and ranges separated by commas, e.g. 200-399,404. */
  public static final String STATUS_CODES =
      "^[1-5][0-9][0-9](-[1-5][0-9][0-9])?(,[1-5][0-9][0-9](-[1-5][0-9][0-9])?)*$";

  /**
   * The message of the rule that refuses addresses no packet should be balanced to or from (Go's
   * IsGlobalUnicast, as Kubernetes' CEL ip() has it): private ranges such as 10.0.0.0/8 are unicast.
   */
  public static final String NOT_UNICAST = "address must be a unicast address another host can reach: loopback"
      + " (127.0.0.0/8, ::1), link-local (169.254.0.0/16, which holds the cloud metadata address, and fe80::/10),"
      + " unspecified (0.0.0.0, ::), multicast and broadcast addresses are refused";

  /** A Linux interface name: 1-15 characters, no slash, whitespace or colon. */
  public static final String INTERFACE_NAME = "^[^/\\s:]{1,15}$";
}
