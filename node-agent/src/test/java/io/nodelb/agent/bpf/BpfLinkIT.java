package io.nodelb.agent.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.testing.Privileged;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Attaching through BPF links to a veth pair in a namespace of the test's own, and proving
 * with real datagrams that the program runs, keeps running or has stopped: the programs
 * count the packets they see in their object's "counts" map.
 */
@Privileged
class BpfLinkIT {
    private static final int COUNT_XDP = 0;
    private static final int COUNT_TC = 1;
    private static final int PACKETS = 5;

    private VethNetns netns;
    private PinDir pins;
    private BpfObject first;
    private BpfObject second;
    private Arena arena;

    @BeforeEach
    void setUp() throws Exception {
        arena = Arena.ofConfined();
        netns = VethNetns.create();
        pins = PinDir.create();
        first = loaded();
        second = loaded();
    }

    @AfterEach
    void tearDown() throws Exception {
        try (Arena a = arena; VethNetns n = netns; PinDir p = pins;
                BpfObject f = first; BpfObject s = second) {
            // closed last-opened first: objects (and their links), pins, namespace, memory
        }
    }

    /** A program without frags on a veth of jumbo MTU: the kernel's ERANGE, with the reason it does not give. */
    @Test
    void anMtuTooLargeForTheProgramIsNamedAsTheReason() throws Exception {
        int receiver = netns.ifindex(VethNetns.RECEIVER);
        netns.ip("link", "set", VethNetns.SENDER, "mtu", "9000");
        netns.ip("link", "set", VethNetns.RECEIVER, "mtu", "9000");

        assertThatThrownBy(() -> netns.call(() -> first.program("xdp_count").attachXdp(receiver)))
                .isInstanceOfSatisfying(BpfException.class, e -> assertThat(e.errno()).isEqualTo(Errno.ERANGE))
                .hasMessageContaining("bpf_link_create(test_progs.xdp_count -> xdp of ifindex " + receiver
                        + ", whose MTU (or its veth peer's) is more than its driver takes with an XDP program)");
    }

    @Test
    void xdpLinkRunsTheProgramAndRefusesToBeReplaced() throws Exception {
        int receiver = netns.ifindex(VethNetns.RECEIVER);
        BpfLink link = netns.call(() -> first.program("xdp_count").attachXdp(receiver));

        netns.sendUdp(PACKETS);
        awaitAtLeast(() -> count(first, COUNT_XDP), PACKETS);

        assertThatThrownBy(() -> netns.call(() -> second.program("xdp_count").attachXdp(receiver)))
                .isInstanceOfSatisfying(BpfException.class, e -> {
                    assertThat(e.errno()).isEqualTo(Errno.EBUSY);
                    assertThat(e.isBusy()).isTrue();
                })
                .hasMessageContaining("bpf_link_create(test_progs.xdp_count -> xdp of ifindex "
                        + receiver + "): Device or resource busy (EBUSY)");
        long before = count(first, COUNT_XDP);
        netns.sendUdp(PACKETS);
        awaitAtLeast(() -> count(first, COUNT_XDP), before + PACKETS); // the first one still runs
        assertThat(count(second, COUNT_XDP)).isZero();

        link.close();
        link.close();
        assertThatNothingCounts(() -> count(first, COUNT_XDP));

        // Detached: now the other program may attach, in generic mode this time.
        try (BpfLink other = netns.call(() -> second.program("xdp_count")
                .attachXdp(receiver, BpfProgram.XdpMode.GENERIC))) {
            netns.sendUdp(PACKETS);
            awaitAtLeast(() -> count(second, COUNT_XDP), PACKETS);
        }
    }

    @Test
    void aPinnedLinkOutlivesItsFdUntilUnpinned() throws Exception {
        int receiver = netns.ifindex(VethNetns.RECEIVER);
        Path pin = pins.resolve("xdp_link");
        BpfLink link = netns.call(() -> first.program("xdp_count").attachXdp(receiver));
        link.pin(pin);
        link.close(); // the pin holds it

        netns.sendUdp(PACKETS);
        awaitAtLeast(() -> count(first, COUNT_XDP), PACKETS);

        try (BpfLink adopted = BpfLink.openPinned(pin)) { // what a restarted agent does
            assertThat(adopted.pinPath()).contains(pin);
            long before = count(first, COUNT_XDP);
            netns.sendUdp(PACKETS);
            awaitAtLeast(() -> count(first, COUNT_XDP), before + PACKETS);
            adopted.unpin();
            assertThat(Files.exists(pin)).isFalse();
        } // the last fd: detached
        assertThatNothingCounts(() -> count(first, COUNT_XDP));
    }

    @Test
    void tcxEgressAttachesAndDetaches() throws Exception {
        int sender = netns.ifindex(VethNetns.SENDER);
        BpfLink link = netns.call(() -> first.program("tc_count")
                .attachTcx(sender, BpfProgram.TcxDirection.EGRESS));

        netns.sendUdp(PACKETS);
        awaitAtLeast(() -> count(first, COUNT_TC), PACKETS);

        link.close();
        assertThatNothingCounts(() -> count(first, COUNT_TC));

        // detach() unhooks even a pinned link, whose fd and pin then remain as a shell.
        BpfLink again = netns.call(() -> first.program("tc_count")
                .attachTcx(sender, BpfProgram.TcxDirection.EGRESS));
        again.pin(pins.resolve("tc_link"));
        again.detach();
        assertThatNothingCounts(() -> count(first, COUNT_TC));
        again.unpin();
        again.close();
    }

    @Test
    void closingTheObjectClosesItsLinks() throws Exception {
        int sender = netns.ifindex(VethNetns.SENDER);
        BpfLink link = netns.call(() -> first.program("tc_count")
                .attachTcx(sender, BpfProgram.TcxDirection.EGRESS));

        first.close();

        assertThat(link.isClosed()).isTrue();
        // The hook is free again: nothing refuses a new program there.
        try (BpfLink other = netns.call(() -> second.program("tc_count")
                .attachTcx(sender, BpfProgram.TcxDirection.EGRESS))) {
            netns.sendUdp(PACKETS);
            awaitAtLeast(() -> count(second, COUNT_TC), PACKETS);
        }
    }

    @Test
    void openingAPinnedMapAsALinkIsRefused() throws Exception {
        Path pin = pins.resolve("counts");
        first.map("counts").pin(pin);
        assertThatThrownBy(() -> BpfLink.openPinned(pin))
                .isInstanceOfSatisfying(BpfException.class,
                        e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL))
                .hasMessageContaining("is not a BPF link");
    }

    private static BpfObject loaded() {
        BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
        try {
            object.load();
            return object;
        } catch (RuntimeException e) {
            object.close();
            throw e;
        }
    }

    private long count(BpfObject object, int slot) {
        return BpfProgramIT.counter(object.map("counts"), slot, arena);
    }

    /** XDP on veth runs in NAPI, a little after the send returns: wait, within bounds. */
    private static void awaitAtLeast(LongSupplier counter, long expected) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (counter.getAsLong() < expected && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(counter.getAsLong()).as("packets counted").isGreaterThanOrEqualTo(expected);
    }

    /** Sends packets and checks the counter does not move (given time to, had it been hooked). */
    private void assertThatNothingCounts(LongSupplier counter) throws Exception {
        long before = counter.getAsLong();
        netns.sendUdp(PACKETS);
        Thread.sleep(200);
        assertThat(counter.getAsLong()).as("packets counted after detach").isEqualTo(before);
    }
}
