package io.nodelb.agent.standalone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The standalone file: read, checked and compiled without a kernel. */
class StandaloneConfigTest {

    private static final String GROUP = """
            apiVersion: nodelb.io/v1alpha1
            kind: TargetGroup
            metadata: {name: web}
            spec:
              backends:
              - {address: 10.1.2.2, port: 8080, weight: 3}
              - {address: 10.1.3.2, port: 8080, weight: 1}
            """;
    private static final String BALANCER = """
            apiVersion: nodelb.io/v1alpha1
            kind: LoadBalancer
            metadata: {name: web}
            spec:
              interfaces: [eth0]
              natMode: FullNAT
              listeners:
              - {name: http, address: 10.1.1.1, port: 80, protocol: TCP, targetGroup: web}
            """;

    @TempDir
    Path dir;

    @Test
    void theIssueExampleCompilesToASnapshot() throws Exception {
        NodeSnapshot s = StandaloneAgent.snapshotOf(write(GROUP + "---\n" + BALANCER), "node-1");

        assertThat(s.getNode()).isEqualTo("node-1");
        assertThat(s.getVersion()).hasSize(64);
        assertThat(s.getListenersList()).singleElement().satisfies(l -> {
            assertThat(l.getName()).isEqualTo("default/web/http");
            assertThat(l.getPort()).isEqualTo(80);
            assertThat(l.getNatMode()).isEqualTo(NatMode.FULL_NAT);
            assertThat(l.getInterfacesList()).containsExactly("eth0");
        });
        assertThat(s.getTargetGroupsList()).singleElement()
                .satisfies(g -> assertThat(g.getBackendsList()).hasSize(2));
    }

    @Test
    void idleTimeoutsReachTheListenerInWholeSecondsAndUnsetStaysZero() throws Exception {
        String withTimeouts = BALANCER.replace("  natMode: FullNAT\n",
                "  natMode: FullNAT\n  idleTimeouts: {tcpEstablished: 2h, udp: 1500ms}\n");
        assertThat(withTimeouts).isNotEqualTo(BALANCER);
        NodeSnapshot s = StandaloneAgent.snapshotOf(write(GROUP + "---\n" + withTimeouts), "node-1");

        assertThat(s.getListenersList()).singleElement().satisfies(l -> {
            assertThat(l.getIdleTimeouts().getTcpEstablishedSeconds()).isEqualTo(7200);
            assertThat(l.getIdleTimeouts().getTcpClosingSeconds()).isZero();
            assertThat(l.getIdleTimeouts().getUdpSeconds()).as("rounded up").isEqualTo(2);
        });
    }

    @Test
    void rateLimitsOfPacketsAndOfBackendsReachTheSnapshot() throws Exception {
        String group = GROUP + "  backendRateLimit: {newConnectionsPerSecond: 300}\n";
        String balancer = BALANCER.replace("targetGroup: web}",
                "targetGroup: web, rateLimit: {packetsPerSecond: 2000, packetBurst: 4000}}");
        assertThat(balancer).isNotEqualTo(BALANCER);
        NodeSnapshot s = StandaloneAgent.snapshotOf(write(group + "---\n" + balancer), "node-1");

        assertThat(s.getListenersList()).singleElement().satisfies(l -> {
            assertThat(l.getRateLimit().getPacketsPerSecond()).isEqualTo(2000);
            assertThat(l.getRateLimit().getPacketBurst()).isEqualTo(4000);
            assertThat(l.getRateLimit().getNewConnectionsPerSecond()).as("no limit of new connections").isZero();
        });
        assertThat(s.getTargetGroupsList()).singleElement().satisfies(g -> {
            assertThat(g.getBackendRateLimit().getNewConnectionsPerSecond()).isEqualTo(300);
            assertThat(g.getBackendRateLimit().getBurst()).as("the rate, by default").isEqualTo(300);
        });
        // A packet burst without its rate is refused with the rule's words.
        String bad = BALANCER.replace("targetGroup: web}", "targetGroup: web, rateLimit: {packetBurst: 10}}");
        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(write(GROUP + "---\n" + bad), "n"))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).anySatisfy(
                        p -> assertThat(p).contains("packetBurst sizes the bucket of packetsPerSecond: set that too")));
    }

    @Test
    void theSameFileGivesTheSameVersion() throws Exception {
        Path a = write(GROUP + "---\n" + BALANCER);
        Path b = dir.resolve("reordered.yaml");
        Files.writeString(b, BALANCER + "---\n" + GROUP);
        assertThat(StandaloneAgent.snapshotOf(a, "n").getVersion())
                .isEqualTo(StandaloneAgent.snapshotOf(b, "n").getVersion());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            port out of range     | 'port: 80,'                    | 'port: 70000,'                   | document 2 (LoadBalancer web, line 9): spec.listeners[0].port: Invalid value: 70000: spec.listeners[0].port in body should be less than or equal to 65535
            unknown field         | 'natMode: FullNAT'             | 'natMod: FullNAT'                | document 2 (LoadBalancer web, line 9): spec.natMod: unknown field "spec.natMod"
            bad address           | 'address: 10.1.1.1,'           | 'address: 10.1.1.300,'           | spec.listeners[0].address: Invalid value: "string": address must be an IPv4 or IPv6 address
            unknown target group  | 'targetGroup: web}'            | 'targetGroup: api}'              | document 2 (LoadBalancer web, line 9): spec.listeners[0].targetGroup: TargetGroup default/api not found; create it or fix the name (TargetGroupNotFound)
            bad NAT mode          | 'natMode: FullNAT'             | 'natMode: SNAT'                  | spec.natMode: Unsupported value: "SNAT": supported values: "DNAT", "FullNAT"
            wrong apiVersion      | 'apiVersion: nodelb.io/v1alpha1\\nkind: LoadBalancer' | 'apiVersion: nodelb.io/v2\\nkind: LoadBalancer' | document 2 (LoadBalancer web, line 9): apiVersion: must be nodelb.io/v1alpha1
            fractional weight     | 'port: 80,'                    | 'port: 80.5,'                    | spec.listeners[0].port: Invalid value: "number": spec.listeners[0].port in body must be of type integer: "number"
            node selector         | 'natMode: FullNAT'             | 'natMode: FullNAT\\n  nodeSelector: {zone: a}' | spec.nodeSelector: Forbidden: a standalone agent programs every LoadBalancer of its file
            no backend of family  | 'address: 10.1.1.1,'           | 'address: "2001:db8::1",'        | document 2 (LoadBalancer web, line 9): spec.listeners[0].targetGroup: TargetGroup default/web has no IPv6 backend, so every connection to the IPv6 listener address 2001:db8::1 would be lost; add an IPv6 backend to it or name a TargetGroup that has one (NoBackendOfFamily)
            loopback VIP          | 'address: 10.1.1.1,'           | 'address: 127.0.0.1,'            | spec.listeners[0].address: Invalid value: "string": address must be a unicast address another host can reach
            """)
    void aBadFileIsRefusedWithDocumentFieldAndReason(String name, String from, String to, String expected)
            throws Exception {
        String bad = BALANCER.replace(from.replace("\\n", "\n"), to.replace("\\n", "\n"));
        assertThat(bad).as("the case must change the document").isNotEqualTo(BALANCER);
        Path file = write(GROUP + "---\n" + bad);

        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(file, "n"))
                .isInstanceOf(ConfigException.class)
                .satisfies(e -> assertThat(((ConfigException) e).problems())
                        .anySatisfy(p -> assertThat(p).startsWith("lab.yaml").contains(expected)));
    }

    @Test
    void everyProblemOfAFileIsInOneRefusal() throws Exception {
        // A field error in each document: both at once (a document with a field error is not compiled).
        String group = GROUP.replace("weight: 3}", "weight: 3}\n  - {address: 10.1.4.2, port: 0}");
        String balancer = BALANCER.replace("port: 80,", "port: 0,") + "  - {name: api, port: 81, targetGroup: nosuch}\n";
        Path file = write(group + "---\n" + balancer);

        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(file, "n"))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
                        "lab.yaml document 1 (TargetGroup web, line 1): spec.backends[1].port: Invalid value: 0:"
                                + " spec.backends[1].port in body should be greater than or equal to 1",
                        "lab.yaml document 2 (LoadBalancer web, line 10): spec.listeners[0].port: Invalid value: 0:"
                                + " spec.listeners[0].port in body should be greater than or equal to 1"));
        // With the ports fixed, the wrong name is the one problem left, named with its document.
        Path fixed = write(GROUP + "---\n" + BALANCER + "  - {name: api, port: 81, targetGroup: nosuch}\n");
        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(fixed, "n"))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
                        "lab.yaml document 2 (LoadBalancer web, line 9): spec.listeners[1].targetGroup: TargetGroup"
                                + " default/nosuch not found; create it or fix the name (TargetGroupNotFound)"));
    }

    @Test
    void aWrongGroupNameIsListedBesideFieldErrorsOfOtherDocuments() throws Exception {
        String badGroup = GROUP.replace("port: 8080, weight: 1}", "port: 8080, weight: 1.5}");
        String other = BALANCER.replace("name: web}", "name: other}").replace("targetGroup: web}", "targetGroup: nosuch}");
        Path file = write(badGroup + "---\n" + other);
        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(file, "n"))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems())
                        .anySatisfy(p -> assertThat(p).contains("spec.backends[1].weight: Invalid value: \"number\""))
                        .anySatisfy(p -> assertThat(p).contains("TargetGroup default/nosuch not found")));
    }

    @Test
    void aDrainTimeoutIsRefusedAsUnsupported() throws Exception {
        Path file = write(GROUP + "  drainTimeout: 30s\n---\n" + BALANCER);
        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(file, "n"))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).anySatisfy(p ->
                        assertThat(p).contains("spec.drainTimeout: drainTimeout is not implemented yet")
                                .endsWith("(Unsupported)")));
    }

    @Test
    void aFileWithoutLoadBalancersHasNothingToProgram() throws Exception {
        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(write(GROUP), "n"))
                .hasMessageContaining("no LoadBalancer document");
    }

    @Test
    void aYamlSyntaxErrorNamesItsLineAndColumn() throws Exception {
        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(write(GROUP + "---\n" + BALANCER.replace(
                "  natMode: FullNAT", "  natMode: FullNAT\n   bad: indent")), "n"))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("lab.yaml is not valid YAML: line 15, column 7: ");
    }

    @Test
    void aMissingFileSaysWhy() {
        assertThatThrownBy(() -> StandaloneAgent.snapshotOf(dir.resolve("nope.yaml"), "n"))
                .isInstanceOf(ConfigException.class)
                .hasMessage("cannot read " + dir.resolve("nope.yaml").toAbsolutePath() + ": no such file");
    }

    private Path write(String yaml) throws Exception {
        Path file = dir.resolve("lab.yaml");
        Files.writeString(file, yaml);
        return file;
    }
}
