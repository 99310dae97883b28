package io.nodelb.model;

/** A binary min-heap of int indices ordered by a caller's rule; no boxing. */
final class IntHeap {

    /** Whether index {@code a} comes out of the heap before index {@code b}; a strict total order. */
    @FunctionalInterface
    interface Order {
        boolean before(int a, int b);
    }

    private final int[] items;
    private final Order order;
    private int size;

    IntHeap(int capacity, Order order) {
        this.items = new int[capacity];
        this.order = order;
    }

    int size() {
        return size;
    }

    int peek() {
        return items[0];
    }

    void push(int index) {
        int at = size++;
        items[at] = index;
        while (at > 0) {
            int parent = (at - 1) >>> 1;
            if (!order.before(items[at], items[parent])) {
                break;
            }
            swap(at, parent);
            at = parent;
        }
    }

    int pop() {
        int top = items[0];
        items[0] = items[--size];
        siftDown();
        return top;
    }

    /** Re-places the top after the caller changed what orders it. */
    void topChanged() {
        siftDown();
    }

    private void siftDown() {
        int at = 0;
        while (true) {
            int left = 2 * at + 1;
            if (left >= size) {
                return;
            }
            int first = left;
            int right = left + 1;
            if (right < size && order.before(items[right], items[left])) {
                first = right;
            }
            if (!order.before(items[first], items[at])) {
                return;
            }
            swap(at, first);
            at = first;
        }
    }

    private void swap(int a, int b) {
        int t = items[a];
        items[a] = items[b];
        items[b] = t;
    }
}
