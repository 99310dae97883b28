package io.nodelb.validation;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Nothing accepted that is ignored: every field of every CRD's spec is either implemented, with the
 * test that proves it named here (the test must mention the field), or refused with reason
 * Unsupported (the compiler must say so). A new field fails this test until someone decides.
 */
class ApiFieldsTest {
    private static final String MODEL = "../operator/src/test/java/io/nodelb/model/compiler/";
    private static final String AGENT = "../node-agent/src/test/java/io/nodelb/agent/";
    private static final String OPERATOR = "../operator/src/test/java/io/nodelb/operator/";
    private static final String UNSUPPORTED = "Unsupported";
    /** A field being built on a branch of its own. */
    private static final String IN_PROGRESS = "in progress";

    /** Field (or subtree) → the test proving it, or UNSUPPORTED, or IN_PROGRESS. Longest prefix wins. */
    private static final Map<String, String> FIELDS = Map.ofEntries(
            Map.entry("LoadBalancer spec.idleTimeouts", AGENT + "standalone/StandaloneConfigTest.java"),
            Map.entry("LoadBalancer spec.idleTimeouts.tcpClosing", AGENT + "lab/LabFullNatIT.java"),
            Map.entry("LoadBalancer spec.idleTimeouts.tcpEstablished", AGENT + "standalone/StandaloneConfigTest.java"),
            Map.entry("LoadBalancer spec.idleTimeouts.udp", AGENT + "standalone/StandaloneConfigTest.java"),
            Map.entry("LoadBalancer spec.icmpEcho", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.interfaces", MODEL + "StandaloneCompileTest.java"),
            Map.entry("LoadBalancer spec.listeners", AGENT + "standalone/StandaloneConfigTest.java"),
            Map.entry("LoadBalancer spec.listeners.sourceRoutes", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.sourceRoutes.cidr", AGENT + "lab/LabConfig.java"),
            Map.entry("LoadBalancer spec.listeners.sourceRoutes.targetGroup", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.flowEvents", AGENT + "lab/LabFlowEventsIT.java"),
            Map.entry("LoadBalancer spec.listeners.rateLimit", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.rateLimit.newConnectionsPerSecond", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.rateLimit.burst", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.rateLimit.sourcePrefixLength", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.rateLimit.sourcePrefixLengthV6", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.rateLimit.packetsPerSecond", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.rateLimit.packetBurst", MODEL + "ModelCompilerTest.java"),
            Map.entry("TargetGroup spec.backendRateLimit", MODEL + "ModelCompilerTest.java"),
            Map.entry("TargetGroup spec.backendRateLimit.newConnectionsPerSecond", MODEL + "ModelCompilerTest.java"),
            Map.entry("TargetGroup spec.backendRateLimit.burst", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.tls", AGENT + "lab/LabStreamIT.java"),
            Map.entry("LoadBalancer spec.listeners.tls.sniRoutes", AGENT + "lab/LabStreamIT.java"),
            Map.entry("LoadBalancer spec.listeners.tls.sniRoutes.serverNames", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.tls.sniRoutes.targetGroup", MODEL + "ModelCompilerTest.java"),
            Map.entry("LoadBalancer spec.listeners.proxyProtocol", AGENT + "lab/LabStreamIT.java"),
            Map.entry("LoadBalancer spec.natMode", AGENT + "standalone/StandaloneConfigTest.java"),
            Map.entry("LoadBalancer spec.nodeSelector", OPERATOR + "OperatorIT.java"),
            Map.entry("LoadBalancer spec.snatAddress", OPERATOR + "OperatorIT.java"),
            Map.entry("TargetGroup spec.algorithm", AGENT + "lab/LabHealthIT.java"),
            Map.entry("TargetGroup spec.healthCheck", AGENT + "lab/LabHealthIT.java"),
            Map.entry("TargetGroup spec.healthCheck.expectedCodes", AGENT + "health/ProbeTest.java"),
            Map.entry("TargetGroup spec.healthCheck.host", AGENT + "health/ProbeTest.java"),
            Map.entry("TargetGroup spec.circuitBreaker", AGENT + "lab/LabHealthIT.java"),
            Map.entry("TargetGroup spec.circuitBreaker.maxConnections", AGENT + "health/GroupReconcilerTest.java"),
            Map.entry("TargetGroup spec.circuitBreaker.errorRatePercent", AGENT + "health/BreakerTest.java"),
            Map.entry("TargetGroup spec.circuitBreaker.minimumVolume", AGENT + "health/BreakerTest.java"),
            Map.entry("TargetGroup spec.circuitBreaker.window", AGENT + "health/BreakerTest.java"),
            Map.entry("TargetGroup spec.rampUpWindow", AGENT + "lab/LabHealthIT.java"),
            Map.entry("TargetGroup spec.leastConnectionsInterval", AGENT + "lab/LabHealthIT.java"),
            Map.entry("TargetGroup spec.backends", AGENT + "standalone/StandaloneConfigTest.java"),
            Map.entry("TargetGroup spec.drainTimeout", UNSUPPORTED),
            Map.entry("TargetGroup spec.services", MODEL + "ModelCompilerTest.java"),
            Map.entry("TargetGroup spec.services.weight", MODEL + "IncrementalCompileTest.java"),
            Map.entry("TargetGroup spec.sessionPersistence", MODEL + "StandaloneCompileTest.java"),
            Map.entry("BackendDrain spec", OPERATOR + "OperatorIT.java"));

    @Test
    void everyFieldIsImplementedWithItsTestOrRefusedAsUnsupported() throws IOException {
        List<String> undecided = new ArrayList<>();
        List<String> unproven = new ArrayList<>();
        for (String field : specFields()) {
            String decision = FIELDS.entrySet().stream()
                    .filter(e -> field.equals(e.getKey()) || field.startsWith(e.getKey() + "."))
                    .max(java.util.Comparator.comparingInt(e -> e.getKey().length()))
                    .map(Map.Entry::getValue).orElse(null);
            String name = field.substring(field.lastIndexOf('.') + 1);
            if (decision == null) {
                undecided.add(field);
            } else if (decision.equals(UNSUPPORTED)) {
                String compiler = Files.readString(Path.of("../model/src/main/java/io/nodelb/model/compiler/"
                        + field.split(" ")[0] + "Compiler.java"));
                if (!compiler.contains("\"spec." + name + "\", Problem.UNSUPPORTED")) {
                    unproven.add(field + ": the compiler does not report it as Unsupported");
                }
            } else if (!decision.equals(IN_PROGRESS)) {
                Path test = Path.of(decision);
                if (!Files.exists(test) || !Pattern.compile("\\b" + name + "\\b").matcher(Files.readString(test)).find()) {
                    unproven.add(field + ": " + decision + " does not mention " + name);
                }
            }
        }
        assertThat(undecided).as("fields nobody decided about (implement and name the test, or refuse)").isEmpty();
        assertThat(unproven).isEmpty();
    }

    /** "Kind spec.a.b" for every property under spec, list items folded into their list. */
    @SuppressWarnings("unchecked")
    private static List<String> specFields() {
        List<String> fields = new ArrayList<>();
        CrdRules.forEachSchema((kind, path, node) -> {
            if (path.startsWith("spec.") && !path.endsWith("[*]")) {
                fields.add(kind + " " + path.replace("[*]", ""));
            }
        });
        return fields;
    }
}
