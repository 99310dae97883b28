package io.nodelb.agent.health;

import java.util.BitSet;

/** Expected HTTP status codes: "200-399", "200,204", "200-299,302". */
public final class StatusCodes {
    private final BitSet codes;

    private StatusCodes(BitSet codes) {
        this.codes = codes;
    }

    /** @throws IllegalArgumentException naming the part that is not a code or range of 100-599 */
    public static StatusCodes parse(String text) {
        BitSet codes = new BitSet(600);
        for (String part : text.split(",")) {
            String p = part.trim();
            int dash = p.indexOf('-');
            try {
                int from = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).trim());
                int to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).trim());
                if (from < 100 || to > 599 || from > to) {
                    throw new IllegalArgumentException("expected codes: " + p + " is not within 100-599");
                }
                codes.set(from, to + 1);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("expected codes: " + p + " is not a status code or a range like 200-399");
            }
        }
        return new StatusCodes(codes);
    }

    public boolean contains(int code) {
        return code >= 0 && codes.get(code);
    }
}
