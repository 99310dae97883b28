package io.nodelb.agent.dataplane;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Port lists in the kernel's sysctl form, e.g. {@code 8080,61000-65535}. */
final class PortRanges {

    private PortRanges() {}

    /** Whether every port of {@code [min, max]} is in the list. */
    static boolean covers(String list, int min, int max) {
        List<int[]> ranges = new ArrayList<>();
        for (String part : list.split(",")) {
            String p = part.strip();
            if (p.isEmpty()) {
                continue;
            }
            int dash = p.indexOf('-');
            int from = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).strip());
            int to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).strip());
            ranges.add(new int[] {from, to});
        }
        ranges.sort(Comparator.comparingInt(r -> r[0]));
        int next = min; // the first port not yet known to be covered
        for (int[] r : ranges) {
            if (r[0] > next) {
                break;
            }
            next = Math.max(next, r[1] + 1);
        }
        return next > max;
    }
}
