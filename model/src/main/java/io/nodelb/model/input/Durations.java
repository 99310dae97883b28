package io.nodelb.model.input;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses the Go-style durations of the API ("5s", "1m30s", "250ms"), as CEL's duration() does. */
public final class Durations {
  private Durations() {}

  // The schema's pattern (ApiPatterns.DURATION in crds).
  private static final Pattern WHOLE = Pattern.compile("^([0-9]+(ms|s|m|h))+$");
  private static final Pattern PART = Pattern.compile("([0-9]+)(ms|s|m|h)");

  /** @throws IllegalArgumentException with a message naming the accepted form */
  public static Duration parse(String text) {
    if (text == null || !WHOLE.matcher(text).matches()) {
      throw new IllegalArgumentException(
          "\"" + text + "\" is not a duration; use a number with a unit ms, s, m or h, e.g. 5s or 1m30s");
    }
    Duration total = Duration.ZERO;
    Matcher part = PART.matcher(text);
    while (part.find()) {
      long amount = Long.parseLong(part.group(1));
      total = total.plus(switch (part.group(2)) {
        case "ms" -> Duration.ofMillis(amount);
        case "s" -> Duration.ofSeconds(amount);
        case "m" -> Duration.ofMinutes(amount);
        default -> Duration.ofHours(amount);
      });
    }
    return total;
  }

  /** Whole seconds, rounded up so a sub-second setting never becomes "the default" (zero). */
  public static int toSecondsCeil(String text) {
    Duration d = parse(text);
    long seconds = d.getSeconds() + (d.getNano() > 0 ? 1 : 0);
    return (int) Math.min(Integer.MAX_VALUE, seconds);
  }
}
