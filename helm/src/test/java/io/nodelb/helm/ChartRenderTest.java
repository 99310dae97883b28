package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.Rule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What the chart renders, for the defaults and a matrix of values; each case is read back
 * strictly into Fabric8 types ({@link Chart#parse}), then single properties are asserted.
 */
class ChartRenderTest {

    private static final Chart.Rendered DEFAULTS = Chart.render();

    static Stream<Arguments> valueMatrix() {
        return Stream.of(
                Arguments.of("defaults", ""),
                Arguments.of("everything on", """
                        metrics:
                          serviceMonitor: {enabled: true, interval: 15s, labels: {release: prometheus}}
                          prometheusRule: {enabled: true, labels: {release: prometheus}, conntrackFullRatio: 0.8, drainingTooLong: 2h}
                          dashboard: {enabled: true}
                        """),
                Arguments.of("no CRDs, one replica, no PDB, no admin endpoint", """
                        crds: {enabled: false, keep: false}
                        operator: {replicas: 1, podDisruptionBudget: {enabled: false}}
                        agent: {admin: {enabled: false, port: 9445}}
                        """),
                Arguments.of("cert-manager certificates, pinned images, a private registry", """
                        imagePullSecrets: [{name: registry}]
                        operator:
                          grpc: {port: 8443, tlsSecret: nodelb-server-cm}
                          image: {repository: registry.example/nodelb/operator, digest: "sha256:%s"}
                        agent:
                          tlsSecret: nodelb-agent-cm
                          image: {repository: registry.example/nodelb/agent, tag: "0.2.0-rc1"}
                          maxBackends: 4096
                          token: {audience: nodelb-prod, expirationSeconds: 3600}
                        """.formatted("a".repeat(64))),
                Arguments.of("scheduling and extra settings", """
                        commonLabels: {team: network}
                        operator:
                          extraEnv: [{name: NODELB_CHECK_CRDS, value: "false"}]
                          tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]
                          affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: role, operator: In, values: [infra]}]}]}}}
                          priorityClassName: system-cluster-critical
                        agent:
                          extraEnv: [{name: NODELB_PIN_PATH, value: /sys/fs/bpf/lb}]
                          nodeSelector: {nodelb.io/balancer: "true"}
                          updateStrategy: {maxUnavailable: "10%"}
                          capabilities: [BPF, NET_ADMIN, PERFMON, SYS_ADMIN]
                        """));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valueMatrix")
    void rendersIntoStrictFabric8ObjectsWithTheCommonLabels(String what, String values) {
        Chart.Rendered rendered = Chart.renderWith(values);

        assertThat(rendered.objects()).as("%s: objects", what).isNotEmpty();
        for (HasMetadata object : rendered.objects()) {
            assertThat(object.getMetadata().getLabels()).as("labels of %s/%s", object.getKind(),
                    object.getMetadata().getName())
                    .containsEntry("app.kubernetes.io/name", "nodelb")
                    .containsEntry("app.kubernetes.io/instance", "nodelb")
                    .containsEntry("app.kubernetes.io/managed-by", "Helm");
            if (!(object instanceof CustomResourceDefinition || object instanceof ClusterRole
                    || object instanceof ClusterRoleBinding)) {
                assertThat(object.getMetadata().getNamespace()).as("namespace of %s/%s", object.getKind(),
                        object.getMetadata().getName()).isEqualTo(Chart.NAMESPACE);
            }
        }
        assertThat(rendered.kinds()).as("%s: nothing rendered twice", what).doesNotHaveDuplicates();
    }

    @Test
    void aFieldItsTypeDoesNotKnowIsCaughtWithItsPath() {
        String typo = """
                apiVersion: apps/v1
                kind: DaemonSet
                metadata: {name: x, namespace: nodelb-system}
                spec:
                  selector: {matchLabels: {a: b}}
                  template:
                    metadata: {labels: {a: b}}
                    spec:
                      containers:
                        - name: agent
                          image: agent
                          securityContext: {capabilities: {add: [BPF]}, privilegd: false}
                """;

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Chart.parse(typo))
                .hasMessageContaining("DaemonSet.spec.template.spec.containers[0].securityContext.privilegd");
    }

    @Test
    void theDefaultsRenderExactlyTheseObjects() {
        assertThat(DEFAULTS.kinds()).containsExactlyInAnyOrder(
                "CustomResourceDefinition/loadbalancers.nodelb.io",
                "CustomResourceDefinition/targetgroups.nodelb.io",
                "CustomResourceDefinition/backenddrains.nodelb.io",
                "ServiceAccount/nodelb-operator", "ClusterRole/nodelb-operator", "ClusterRoleBinding/nodelb-operator",
                "Role/nodelb-operator", "RoleBinding/nodelb-operator", "Deployment/nodelb-operator",
                "Service/nodelb-operator", "PodDisruptionBudget/nodelb-operator",
                "ServiceAccount/nodelb-agent", "DaemonSet/nodelb-agent", "Service/nodelb-agent");
    }

    // ---- the agent ----

    @Test
    void theAgentHasExactlyTheCapabilitiesOfValuesYamlAndIsNeverPrivileged() {
        List<String> fromValues = StreamSupport.stream(Chart.values().at("/agent/capabilities").spliterator(), false)
                .map(JsonNode::asText).toList();
        var security = agent(DEFAULTS).getSecurityContext();

        assertThat(fromValues).as("values.yaml agent.capabilities").containsExactly("BPF", "NET_ADMIN", "PERFMON");
        assertThat(security.getCapabilities().getAdd()).isEqualTo(fromValues);
        assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(security.getPrivileged()).isFalse();
        assertThat(security.getAllowPrivilegeEscalation()).isFalse();
        assertThat(security.getRunAsUser()).as("root, with only those capabilities").isZero();
        assertThat(security.getReadOnlyRootFilesystem()).isTrue();
        assertThat(security.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        assertThat(DEFAULTS.yaml()).doesNotContain("privileged: true");
    }

    @Test
    void sysAdminForAnOldRuntimeComesWithoutNoNewPrivsWhichKubernetesWouldRefuse() {
        var security = agent(Chart.renderWith("agent:\n  capabilities: [SYS_ADMIN, NET_ADMIN]\n")).getSecurityContext();

        assertThat(security.getCapabilities().getAdd()).containsExactly("SYS_ADMIN", "NET_ADMIN");
        assertThat(security.getAllowPrivilegeEscalation()).isTrue();
        assertThat(security.getPrivileged()).isFalse();
    }

    @Test
    void theAgentRunsClusterModeWithEverySettingFromTheEnvironment() {
        Container agent = agent(DEFAULTS);

        assertThat(agent.getCommand()).as("the image's entrypoint runs the agent").isEmpty();
        assertThat(agent.getArgs()).containsExactly("cluster");
        assertThat(env(agent)).containsExactlyInAnyOrderEntriesOf(Map.of(
                "NODELB_OPERATOR", "nodelb-operator.nodelb-system.svc:9443",
                "NODE_NAME", "fieldRef:spec.nodeName",
                "NODELB_CA_FILE", "/etc/nodelb/tls/ca.crt",
                "NODELB_CERT_FILE", "/etc/nodelb/tls/tls.crt",
                "NODELB_KEY_FILE", "/etc/nodelb/tls/tls.key",
                "NODELB_TOKEN_FILE", "/var/run/secrets/nodelb/token",
                "NODELB_METRICS_PORT", "9444",
                "NODELB_ADMIN_ADDRESS", "127.0.0.1:9445",
                "NODELB_PROC_SYS", "/host/proc/sys"));
    }

    @Test
    void theAdminEndpointListensOnLoopbackOnlyAndCanBeLeftOut() {
        assertThat(env(agent(DEFAULTS)).get("NODELB_ADMIN_ADDRESS")).startsWith("127.0.0.1:");
        assertThat(env(agent(Chart.render("agent.admin.enabled", "false")))).doesNotContainKey("NODELB_ADMIN_ADDRESS");
        assertThat(env(agent(Chart.render("agent.maxBackends", "4096")))).containsEntry("NODELB_MAX_BACKENDS", "4096");
    }

    @Test
    void theXdpFastPathIsOffUnlessTheValueTurnsItOn() {
        assertThat(env(agent(DEFAULTS))).doesNotContainKey("NODELB_XDP_FORWARD");
        assertThat(env(agent(Chart.render("agent.xdpFastPath", "true")))).containsEntry("NODELB_XDP_FORWARD", "auto");
    }

    @Test
    void streamListenersRelayInTheAgentUnlessTheValueTurnsTheSpliceOn() {
        assertThat(env(agent(DEFAULTS))).doesNotContainKey("NODELB_STREAM_SPLICE");
        assertThat(env(agent(Chart.render("agent.streamSplice", "true")))).containsEntry("NODELB_STREAM_SPLICE", "on");
    }

    @Test
    void theAccessLogGoesToTheContainerLogWhenEnabled() {
        assertThat(env(agent(DEFAULTS))).doesNotContainKeys("NODELB_ACCESS_LOG", "NODELB_FLOW_EVENTS_PER_SECOND");
        assertThat(env(agent(Chart.render("agent.accessLog.enabled", "true", "agent.accessLog.format", "clf",
                "agent.flowEventsPerSecond", "5000"))))
                .containsEntry("NODELB_ACCESS_LOG", "stdout")
                .containsEntry("NODELB_ACCESS_LOG_FORMAT", "clf")
                .containsEntry("NODELB_FLOW_EVENTS_PER_SECOND", "5000");
    }

    @Test
    void theAgentLeavesTheDataPlaneServingWhenItStopsUnlessAskedToRemoveIt() {
        assertThat(agent(DEFAULTS).getArgs()).doesNotContain("--uninstall-on-stop");
        assertThat(agent(Chart.render("agent.uninstallOnStop", "true")).getArgs())
                .containsExactly("cluster", "--uninstall-on-stop");
    }

    @Test
    void theAgentUsesTheHostNetworkAndMountsBpffsBtfItsStateTheSysctlsTlsAndItsToken() {
        PodSpec pod = DEFAULTS.get(DaemonSet.class, "nodelb-agent").getSpec().getTemplate().getSpec();
        Map<String, VolumeMount> mounts = agent(DEFAULTS).getVolumeMounts().stream()
                .collect(Collectors.toMap(VolumeMount::getName, m -> m));
        Map<String, Volume> volumes = pod.getVolumes().stream().collect(Collectors.toMap(Volume::getName, v -> v));

        assertThat(pod.getHostNetwork()).isTrue();
        assertThat(pod.getDnsPolicy()).as("cluster DNS with the host network").isEqualTo("ClusterFirstWithHostNet");
        assertThat(pod.getAutomountServiceAccountToken()).as("no API token").isFalse();
        assertThat(pod.getServiceAccountName()).isEqualTo("nodelb-agent");
        assertThat(volumes.get("bpffs").getHostPath().getPath()).isEqualTo("/sys/fs/bpf");
        assertThat(mounts.get("bpffs").getMountPath()).isEqualTo("/sys/fs/bpf");
        assertThat(mounts.get("bpffs").getMountPropagation()).isEqualTo("HostToContainer");
        assertThat(volumes.get("btf").getHostPath().getPath()).isEqualTo("/sys/kernel/btf");
        assertThat(mounts.get("btf").getReadOnly()).isTrue();
        assertThat(volumes.get("state").getHostPath().getPath()).isEqualTo("/run/nodelb");
        assertThat(mounts.get("state").getMountPath()).isEqualTo("/run/nodelb");
        assertThat(volumes.get("proc-sys-net").getHostPath().getPath()).isEqualTo("/proc/sys/net");
        assertThat(mounts.get("proc-sys-net").getMountPath()).isEqualTo("/host/proc/sys/net");
        assertThat(volumes.get("tls").getSecret().getSecretName()).isEqualTo("nodelb-agent-tls");
        assertThat(mounts.get("tls").getMountPath()).isEqualTo("/etc/nodelb/tls");
        var token = volumes.get("token").getProjected().getSources().getFirst().getServiceAccountToken();
        assertThat(token.getAudience()).isEqualTo("nodelb");
        assertThat(token.getExpirationSeconds()).isEqualTo(600L);
        assertThat(mounts.get("token").getMountPath() + "/" + token.getPath()).isEqualTo("/var/run/secrets/nodelb/token");
        assertThat(pod.getTolerations()).as("runs on every node, tainted or not")
                .singleElement().satisfies(t -> assertThat(t.getOperator()).isEqualTo("Exists"));
    }

    @Test
    void theAgentIsProbedOnItsMetricsPortAndRollsOneNodeAtATime() {
        DaemonSet daemonSet = DEFAULTS.get(DaemonSet.class, "nodelb-agent");
        Container agent = agent(DEFAULTS);

        assertThat(agent.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(agent.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/livez");
        assertThat(agent.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("metrics");
        assertThat(agent.getPorts()).singleElement().satisfies(p -> {
            assertThat(p.getName()).isEqualTo("metrics");
            assertThat(p.getContainerPort()).isEqualTo(9444);
        });
        assertThat(daemonSet.getSpec().getUpdateStrategy().getType()).isEqualTo("RollingUpdate");
        assertThat(daemonSet.getSpec().getUpdateStrategy().getRollingUpdate().getMaxSurge().getIntVal())
                .as("never two agents on one node").isZero();
        assertThat(daemonSet.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getIntVal())
                .isEqualTo(1);
        assertThat(daemonSet.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds()).isEqualTo(30L);
    }

    @Test
    void theTokenAudienceIsOneValueForTheAgentsTokenAndTheOperatorsReview() {
        Chart.Rendered rendered = Chart.render("agent.token.audience", "nodelb-prod");

        assertThat(rendered.get(DaemonSet.class, "nodelb-agent").getSpec().getTemplate().getSpec().getVolumes().stream()
                .filter(v -> v.getName().equals("token")).findFirst().orElseThrow()
                .getProjected().getSources().getFirst().getServiceAccountToken().getAudience()).isEqualTo("nodelb-prod");
        assertThat(env(operator(rendered))).containsEntry("NODELB_AGENT_TOKEN_AUDIENCE", "nodelb-prod");
    }

    // ---- the operator ----

    @Test
    void theOperatorHasItsNamespaceItsPortsTheAgentsIdentityAndHttpProbes() {
        Deployment deployment = DEFAULTS.get(Deployment.class, "nodelb-operator");
        Container operator = operator(DEFAULTS);

        assertThat(deployment.getSpec().getReplicas()).isEqualTo(2);
        assertThat(env(operator)).containsEntry("POD_NAMESPACE", "fieldRef:metadata.namespace")
                .containsEntry("NODELB_GRPC_PORT", "9443")
                .containsEntry("QUARKUS_HTTP_PORT", "8080")
                .containsEntry("NODELB_AGENT_SERVICE_ACCOUNT", "nodelb-agent")
                .doesNotContainKey("NODELB_GRPC_TLS_SECRET");
        assertThat(operator.getPorts()).extracting(p -> p.getName() + ":" + p.getContainerPort())
                .containsExactly("grpc:9443", "http:8080");
        assertThat(operator.getStartupProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
        assertThat(operator.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(operator.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
        for (var probe : List.of(operator.getStartupProbe(), operator.getReadinessProbe(), operator.getLivenessProbe())) {
            assertThat(probe.getHttpGet().getPort().getStrVal()).isEqualTo("http");
        }
        assertThat(operator.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(operator.getSecurityContext().getCapabilities().getAdd()).isNullOrEmpty();
        assertThat(deployment.getSpec().getTemplate().getSpec().getSecurityContext().getRunAsNonRoot()).isTrue();
        Service service = DEFAULTS.get(Service.class, "nodelb-operator");
        assertThat(service.getSpec().getPorts()).extracting(p -> p.getName() + ":" + p.getPort() + "->"
                + p.getTargetPort().getStrVal()).containsExactly("grpc:9443->grpc", "http:8080->http");
        assertThat(service.getSpec().getSelector()).containsEntry("app.kubernetes.io/component", "operator");
    }

    @Test
    void aCertManagerSecretReachesTheOperatorItsRoleAndTheAgents() {
        Chart.Rendered rendered = Chart.render("operator.grpc.tlsSecret", "nodelb-server-cm",
                "agent.tlsSecret", "nodelb-agent-cm", "operator.grpc.port", "8443");

        assertThat(env(operator(rendered))).containsEntry("NODELB_GRPC_TLS_SECRET", "nodelb-server-cm");
        assertThat(env(agent(rendered))).containsEntry("NODELB_OPERATOR", "nodelb-operator.nodelb-system.svc:8443");
        assertThat(rendered.get(Role.class, "nodelb-operator").getRules()).anySatisfy(rule -> {
            assertThat(rule.getResources()).containsExactly("secrets");
            assertThat(rule.getResourceNames()).contains("nodelb-server-cm");
        });
        assertThat(rendered.get(DaemonSet.class, "nodelb-agent").getSpec().getTemplate().getSpec().getVolumes())
                .anySatisfy(v -> assertThat(v.getSecret() == null ? null : v.getSecret().getSecretName())
                        .isEqualTo("nodelb-agent-cm"));
    }

    @Test
    void aPodDisruptionBudgetUnlessTurnedOff() {
        assertThat(DEFAULTS.get(PodDisruptionBudget.class, "nodelb-operator").getSpec().getMaxUnavailable().getIntVal())
                .isEqualTo(1);
        assertThat(Chart.render("operator.podDisruptionBudget.enabled", "false").find(PodDisruptionBudget.class,
                "nodelb-operator")).isEmpty();
    }

    // ---- RBAC ----

    @Test
    void theOperatorsClusterRoleIsExactlyWhatItUses() {
        assertThat(rules(DEFAULTS.get(ClusterRole.class, "nodelb-operator").getRules())).containsExactlyInAnyOrder(
                "core nodes get,list,watch",
                "core pods get,list,watch",
                "core services get,list,watch",
                "discovery.k8s.io endpointslices get,list,watch",
                "core events create",
                "nodelb.io loadbalancers get,list,watch,patch,update",
                "nodelb.io targetgroups get,list,watch",
                "nodelb.io backenddrains get,list,watch,create,delete,patch,update",
                "nodelb.io loadbalancers/status,targetgroups/status,backenddrains/status get,patch,update",
                "authentication.k8s.io tokenreviews create",
                "apiextensions.k8s.io customresourcedefinitions[loadbalancers.nodelb.io,targetgroups.nodelb.io,"
                        + "backenddrains.nodelb.io] get");
        assertThat(DEFAULTS.yaml()).as("no wildcard anywhere").doesNotContain("'*'").doesNotContain("\"*\"")
                .doesNotContain("[*]");
    }

    @Test
    void theOperatorsRoleCoversItsLeaseAndItsSecretsByName() {
        assertThat(rules(DEFAULTS.get(Role.class, "nodelb-operator").getRules())).containsExactlyInAnyOrder(
                "coordination.k8s.io leases create",
                "coordination.k8s.io leases[nodelb-operator-leader] get,update",
                "core secrets create",
                "core secrets[nodelb-ca,nodelb-operator-tls,nodelb-agent-tls] get,update");
        assertThat(DEFAULTS.get(RoleBinding.class, "nodelb-operator").getSubjects()).singleElement()
                .satisfies(s -> assertThat(s.getName() + "@" + s.getNamespace()).isEqualTo("nodelb-operator@nodelb-system"));
        assertThat(DEFAULTS.get(ClusterRoleBinding.class, "nodelb-operator").getSubjects()).singleElement()
                .satisfies(s -> assertThat(s.getName()).isEqualTo("nodelb-operator"));
    }

    @Test
    void theAgentsServiceAccountIsBoundToNothingAndMountsNoApiToken() {
        ServiceAccount agent = DEFAULTS.get(ServiceAccount.class, "nodelb-agent");

        assertThat(agent.getAutomountServiceAccountToken()).isFalse();
        List<String> subjects = new ArrayList<>();
        DEFAULTS.all(RoleBinding.class).forEach(b -> b.getSubjects().forEach(s -> subjects.add(s.getName())));
        DEFAULTS.all(ClusterRoleBinding.class).forEach(b -> b.getSubjects().forEach(s -> subjects.add(s.getName())));
        assertThat(subjects).doesNotContain("nodelb-agent");
    }

    // ---- CRDs ----

    @Test
    void theCrdsAreTemplatesKeptAtUninstallUnlessTold() {
        assertThat(DEFAULTS.all(CustomResourceDefinition.class)).hasSize(3).allSatisfy(crd -> assertThat(
                crd.getMetadata().getAnnotations()).containsEntry("helm.sh/resource-policy", "keep"));
        assertThat(Chart.render("crds.keep", "false").all(CustomResourceDefinition.class)).hasSize(3)
                .allSatisfy(crd -> assertThat(crd.getMetadata().getAnnotations()).isNullOrEmpty());
        assertThat(Chart.render("crds.enabled", "false").all(CustomResourceDefinition.class)).isEmpty();
    }

    // ---- monitoring ----

    @Test
    void serviceMonitorPrometheusRuleAndDashboardOnlyWhenAskedFor() {
        assertThat(DEFAULTS.all(ServiceMonitor.class)).isEmpty();
        assertThat(DEFAULTS.all(PrometheusRule.class)).isEmpty();
        assertThat(DEFAULTS.all(ConfigMap.class)).isEmpty();

        Chart.Rendered on = Chart.render("metrics.serviceMonitor.enabled", "true",
                "metrics.serviceMonitor.labels.release", "prometheus", "metrics.prometheusRule.enabled", "true",
                "metrics.dashboard.enabled", "true");

        ServiceMonitor monitor = on.get(ServiceMonitor.class, "nodelb-agent");
        assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "prometheus");
        assertThat(monitor.getSpec().getSelector().getMatchLabels())
                .isEqualTo(on.get(Service.class, "nodelb-agent").getSpec().getSelector());
        assertThat(monitor.getSpec().getEndpoints()).singleElement().satisfies(e -> {
            assertThat(e.getPort()).isEqualTo("metrics");
            assertThat(e.getRelabelings()).anySatisfy(r -> assertThat(r.getTargetLabel()).isEqualTo("node"));
        });
        assertThat(on.get(Service.class, "nodelb-agent").getSpec().getClusterIP()).isEqualTo("None");
        ServiceMonitor operatorMonitor = on.get(ServiceMonitor.class, "nodelb-operator");
        assertThat(operatorMonitor.getSpec().getSelector().getMatchLabels())
                .isEqualTo(on.get(Service.class, "nodelb-operator").getSpec().getSelector());
        assertThat(operatorMonitor.getSpec().getEndpoints()).singleElement().satisfies(e -> {
            assertThat(e.getPort()).isEqualTo("http");
            assertThat(e.getPath()).isEqualTo("/q/metrics");
        });
        var groups = on.get(PrometheusRule.class, "nodelb").getSpec().getGroups();
        List<Rule> rules = groups.getFirst().getRules();
        assertThat(rules).extracting(Rule::getAlert).containsExactly("NodelbAgentDown", "NodelbAgentNotReady",
                "NodelbAgentDisconnected", "NodelbNodeDrainingTooLong",
                "NodelbConntrackNearlyFull", "NodelbConntrackInsertsFailing", "NodelbFullNatPortsExhausted");
        assertThat(rules).allSatisfy(r ->
                assertThat(r.getExpr().getStrVal()).contains("job=\"nodelb-agent\", namespace=\"nodelb-system\""));
        List<Rule> operatorRules = groups.get(1).getRules();
        assertThat(operatorRules).extracting(Rule::getAlert).containsExactly("NodelbOperatorNotLeading",
                "NodelbNodeNacking", "NodelbLoadBalancerNotProgrammed", "NodelbBackendDrainStuck");
        assertThat(operatorRules).allSatisfy(r ->
                assertThat(r.getExpr().getStrVal()).contains("job=\"nodelb-operator\", namespace=\"nodelb-system\""));
        assertThat(groups).flatExtracting(g -> g.getRules()).allSatisfy(r -> {
            assertThat(r.getAnnotations()).containsKeys("summary", "description");
            assertThat(r.getLabels()).containsKey("severity");
        });
        assertThat(on.get(ConfigMap.class, "nodelb-dashboard").getData()).containsKey("nodelb.json");
        assertThat(on.get(ConfigMap.class, "nodelb-dashboard").getMetadata().getLabels())
                .containsEntry("grafana_dashboard", "1");
    }

    @Test
    void thresholdsOfTheAlertsComeFromValues() {
        // A values file: --set leaves 0.75 a string (Helm types only integers and booleans there).
        List<Rule> rules = Chart.renderWith("""
                metrics:
                  prometheusRule: {enabled: true, conntrackFullRatio: 0.75, drainingTooLong: 90m}
                """).get(PrometheusRule.class, "nodelb").getSpec().getGroups().getFirst().getRules();

        assertThat(rule(rules, "NodelbConntrackNearlyFull").getExpr().getStrVal()).endsWith("> 0.75");
        assertThat(rule(rules, "NodelbNodeDrainingTooLong").getFor()).isEqualTo("90m");
    }

    // ---- images ----

    @Test
    void imagesDefaultToTheAppVersionAndTakeATagOrADigest() {
        assertThat(agent(DEFAULTS).getImage()).isEqualTo("ghcr.io/nodelb/nodelb-agent:0.1.0");
        assertThat(operator(DEFAULTS).getImage()).isEqualTo("ghcr.io/nodelb/nodelb-operator:0.1.0");

        String digest = "sha256:" + "0123456789abcdef".repeat(4);
        Chart.Rendered overridden = Chart.render("agent.image.repository", "registry.example/agent",
                "agent.image.tag", "0.2.0", "agent.image.pullPolicy", "Always",
                "operator.image.repository", "registry.example/operator", "operator.image.tag", "ignored",
                "operator.image.digest", digest, "imagePullSecrets[0].name", "registry");

        assertThat(agent(overridden).getImage()).isEqualTo("registry.example/agent:0.2.0");
        assertThat(agent(overridden).getImagePullPolicy()).isEqualTo("Always");
        assertThat(operator(overridden).getImage()).as("a digest wins over a tag")
                .isEqualTo("registry.example/operator@" + digest);
        assertThat(overridden.get(DaemonSet.class, "nodelb-agent").getSpec().getTemplate().getSpec()
                .getImagePullSecrets()).singleElement().satisfies(s -> assertThat(s.getName()).isEqualTo("registry"));
    }

    // ---- helpers ----

    private static Rule rule(List<Rule> rules, String alert) {
        return rules.stream().filter(r -> alert.equals(r.getAlert())).findFirst().orElseThrow();
    }

    private static Container agent(Chart.Rendered rendered) {
        return rendered.get(DaemonSet.class, "nodelb-agent").getSpec().getTemplate().getSpec().getContainers().getFirst();
    }

    private static Container operator(Chart.Rendered rendered) {
        return rendered.get(Deployment.class, "nodelb-operator").getSpec().getTemplate().getSpec().getContainers()
                .getFirst();
    }

    /** name → value, or "fieldRef:PATH" for a downward-API variable. */
    static Map<String, String> env(Container container) {
        return container.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, e -> e.getValue() != null
                ? e.getValue() : "fieldRef:" + e.getValueFrom().getFieldRef().getFieldPath()));
    }

    /** "group resources[names] verbs", core group as "core", for readable comparisons. */
    private static List<String> rules(List<PolicyRule> rules) {
        return rules.stream().map(r -> {
            String group = String.join(",", r.getApiGroups());
            String names = r.getResourceNames() == null || r.getResourceNames().isEmpty() ? ""
                    : "[" + String.join(",", r.getResourceNames()) + "]";
            return (group.isEmpty() ? "core" : group) + " " + String.join(",", r.getResources()) + names + " "
                    + String.join(",", r.getVerbs());
        }).toList();
    }
}
