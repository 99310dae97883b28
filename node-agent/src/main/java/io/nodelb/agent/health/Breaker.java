package io.nodelb.agent.health;

import java.time.Duration;
import java.util.ArrayDeque;

/**
 * A circuit breaker of one backend, fed with success and failure signals (health checks, and what
 * the data plane counts). CLOSED: in service. It opens after {@code consecutiveFailures} failures
 * in a row, or when at least {@code minimumVolume} signals within {@code window} hold
 * {@code errorRatePercent} % failures or more. OPEN: no new flows for {@code open}, then
 * HALF_OPEN: a quarter of its weight, to try it; {@code halfOpenSuccesses} successes in a row
 * close it, one failure opens it again. Time is given by the caller (nanoseconds, monotonic).
 */
public final class Breaker {

    public enum State { CLOSED, OPEN, HALF_OPEN }

    /** What trips it and how it recovers; errorRatePercent 0 turns the rate rule off. */
    public record Settings(int consecutiveFailures, int errorRatePercent, int minimumVolume, Duration window,
                           Duration open, int halfOpenSuccesses) {}

    /** The share of its weight a half-open backend gets. */
    public static final double HALF_OPEN_FACTOR = 0.25;

    private record Bucket(long at, long successes, long failures) {}

    private final Settings settings;
    private final ArrayDeque<Bucket> window = new ArrayDeque<>();
    private State state = State.CLOSED;
    private long openedAt;
    private int failuresInRow;
    private int successesInRow;

    public Breaker(Settings settings) {
        this.settings = settings;
    }

    /** Records signals seen at {@code now}; returns true when the state changed. */
    public boolean record(long now, long successes, long failures) {
        State before = state(now);
        if (successes == 0 && failures == 0) {
            return false;
        }
        window.addLast(new Bucket(now, successes, failures));
        trim(now);
        if (failures > 0) {
            failuresInRow += (int) Math.min(Integer.MAX_VALUE - failuresInRow, failures);
            successesInRow = 0;
        } else {
            failuresInRow = 0;
            successesInRow += (int) Math.min(Integer.MAX_VALUE - successesInRow, successes);
        }
        switch (before) {
            case CLOSED -> {
                if (failuresInRow >= settings.consecutiveFailures() || rateExceeded()) {
                    open(now);
                }
            }
            case HALF_OPEN -> {
                if (failures > 0) {
                    open(now);
                } else if (successesInRow >= settings.halfOpenSuccesses()) {
                    state = State.CLOSED;
                    window.clear();
                }
            }
            case OPEN -> { } // waits for its time; what a backend without new flows does is not judged
        }
        return state != before;
    }

    /** The state at {@code now}: an OPEN breaker turns HALF_OPEN once its time is up. */
    public State state(long now) {
        if (state == State.OPEN && now - openedAt >= settings.open().toNanos()) {
            state = State.HALF_OPEN;
            successesInRow = 0;
            failuresInRow = 0;
        }
        return state;
    }

    /** The share of its weight the backend gets: 1 closed, 0 open, a quarter half-open. */
    public double factor(long now) {
        return switch (state(now)) {
            case CLOSED -> 1.0;
            case OPEN -> 0.0;
            case HALF_OPEN -> HALF_OPEN_FACTOR;
        };
    }

    /** When an OPEN breaker turns HALF_OPEN (nanoseconds); Long.MAX_VALUE when it is not open. */
    public long nextChangeAt() {
        return state == State.OPEN ? openedAt + settings.open().toNanos() : Long.MAX_VALUE;
    }

    private void open(long now) {
        state = State.OPEN;
        openedAt = now;
        window.clear();
        failuresInRow = 0;
        successesInRow = 0;
    }

    private boolean rateExceeded() {
        if (settings.errorRatePercent() <= 0) {
            return false;
        }
        long total = 0;
        long failed = 0;
        for (Bucket b : window) {
            total += b.successes() + b.failures();
            failed += b.failures();
        }
        return total >= settings.minimumVolume() && failed * 100 >= total * settings.errorRatePercent();
    }

    private void trim(long now) {
        while (!window.isEmpty() && now - window.peekFirst().at() > settings.window().toNanos()) {
            window.removeFirst();
        }
    }
}
