package io.nodelb.agent.bpf;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

/** The test-only BPF objects, built from src/test/bpf by clang into the test class path. */
final class SampleObjects {
    static final String ABI_PROBE = "abi_probe";
    static final String TEST_PROGS = "test_progs";
    static final String VERIFIER_REJECT = "verifier_reject";
    /** The production floor program, from the nodelb-bpf module. */
    static final String XDP_PASS_RESOURCE = "io/nodelb/bpf/xdp_pass.bpf.o";

    private SampleObjects() {}

    static Path path(String name) {
        URL url = SampleObjects.class.getClassLoader().getResource("bpf/" + name + ".bpf.o");
        if (url == null) {
            throw new IllegalStateException("bpf/" + name + ".bpf.o is not on the test class path:"
                    + " it is built by make in src/test/bpf during generate-test-resources");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
