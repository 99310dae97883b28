package io.nodelb.agent.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Enables {@link Privileged} tests where they can run; under CI a missing capability fails. */
public final class PrivilegedCondition implements ExecutionCondition {

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String missing = missingCapability();
        if (missing == null) {
            return ConditionEvaluationResult.enabled("root with BPF");
        }
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            throw new IllegalStateException(
                    "CI=true, so privileged tests must run, but " + missing);
        }
        return ConditionEvaluationResult.disabled("privileged test skipped: " + missing);
    }

    /** Why privileged tests cannot run here, or null when they can. */
    static String missingCapability() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return "the tests do not run as root";
        }
        if (!Files.exists(Path.of("/sys/kernel/btf/vmlinux"))) {
            return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
        }
        if (!Files.isDirectory(Path.of("/sys/fs/bpf"))) {
            return "bpffs is not available at /sys/fs/bpf";
        }
        return null;
    }
}
