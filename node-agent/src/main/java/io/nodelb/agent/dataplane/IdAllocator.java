package io.nodelb.agent.dataplane;

import java.util.HashMap;
import java.util.Map;

/**
 * Hands out small integer ids (array map indexes) for names that must keep their
 * id while they exist: a backend keeps its id as long as it is programmed, so its
 * counters and flows stay attributed to it. Released ids are reused only after
 * every other free id has had a turn, which keeps a just-removed backend's id
 * from being given to a new one while its last flows finish.
 */
final class IdAllocator {

    private final String what;
    private final int capacity;
    private final Map<String, Integer> ids = new HashMap<>();
    private final boolean[] used;
    private int next;

    /** Ids run from 1 to capacity - 1; 0 stays unused so a zeroed entry never looks valid. */
    IdAllocator(String what, int capacity) {
        this.what = what;
        this.capacity = capacity;
        this.used = new boolean[capacity];
        this.used[0] = true;
        this.next = 1;
    }

    Integer existing(String name) {
        return ids.get(name);
    }

    int idFor(String name) {
        Integer id = ids.get(name);
        if (id != null) {
            return id;
        }
        for (int tried = 0; tried < capacity; tried++) {
            int candidate = next;
            next = next + 1 == capacity ? 1 : next + 1;
            if (!used[candidate]) {
                used[candidate] = true;
                ids.put(name, candidate);
                return candidate;
            }
        }
        throw new SnapshotRejectedException(
                "too many " + what + "s: the data plane holds at most " + (capacity - 1));
    }

    void release(String name) {
        Integer id = ids.remove(name);
        if (id != null) {
            used[id] = false;
        }
    }

    /** Releases every name not in {@code live}. */
    void retainOnly(java.util.Set<String> live) {
        for (String name : java.util.List.copyOf(ids.keySet())) {
            if (!live.contains(name)) {
                release(name);
            }
        }
    }

    int size() {
        return ids.size();
    }

    /** Names and their ids, to persist. */
    Map<String, Integer> assigned() {
        return Map.copyOf(ids);
    }

    /** Where the search for a free id starts: saved across restarts, so freed ids keep resting. */
    int cursor() {
        return next;
    }

    /** Resumes the search where an earlier agent left it ({@link #cursor}); out of range is ignored. */
    void resumeAt(int cursor) {
        if (cursor >= 1 && cursor < capacity) {
            next = cursor;
        }
    }

    /** Gives {@code name} the id it had before a restart. */
    void assign(String name, int id) {
        if (id < 1 || id >= capacity || used[id]) {
            throw new IllegalArgumentException(what + " id " + id + " of " + name + " is out of range or taken");
        }
        used[id] = true;
        ids.put(name, id);
    }

    /**
     * Keeps an id that the maps use but no name owns (found programmed after a restart) from
     * being given out, so a new name never takes over its entries while they are replaced.
     */
    void reserve(int id) {
        if (id > 0 && id < capacity) {
            used[id] = true;
        }
    }

    /** Frees the ids reserved with {@link #reserve}: their entries are gone. */
    void releaseUnnamed() {
        java.util.Set<Integer> named = new java.util.HashSet<>(ids.values());
        for (int id = 1; id < capacity; id++) {
            if (used[id] && !named.contains(id)) {
                used[id] = false;
            }
        }
    }

    /** A copy, so that planning can allocate speculatively and be thrown away on error. */
    IdAllocator copy() {
        IdAllocator c = new IdAllocator(what, capacity);
        c.ids.putAll(ids);
        System.arraycopy(used, 0, c.used, 0, capacity);
        c.next = next;
        return c;
    }
}
