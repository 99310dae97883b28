package io.nodelb.images;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The images as a container runtime would run them, without one: each OCI tarball is unpacked
 * (index, manifest, config, layers in order) into a root file system, and its entrypoint runs
 * there under chroot in new mount and PID namespaces, with /proc and a read-only /sys as a container
 * runtime gives them (nothing outlives the test). Root is needed for chroot and the namespaces.
 */
@Privileged
@EnableKubernetesMockClient(crud = true, https = false)
class ImagesIT {
    private static final Path TARGET = Path.of("target");
    private static final ObjectMapper JSON = new ObjectMapper();

    KubernetesClient client;
    private final List<Path> unpacked = new ArrayList<>();

    @AfterEach
    void removeRootFileSystems() throws IOException {
        for (Path root : unpacked) {
            try (Stream<Path> files = Files.walk(root)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    @Test
    void theAgentImagePrintsItsUsageAndItsLibbpfOpensItsBpfObjects() throws Exception {
        Image image = unpack("nodelb-agent-image.tar");
        assertThat(image.user()).isEqualTo("0");

        Run refused = run(image, image.entrypoint(), List.of(), Duration.ofSeconds(60));
        assertThat(refused.exitCode()).as("the entrypoint without a command:%n%s", refused.output()).isNotZero();
        assertThat(refused.output()).as("the entrypoint without a command")
                .contains("a command is required: standalone, cluster, uninstall");

        List<String> help = new ArrayList<>(image.entrypoint());
        help.add("--help");
        Run usage = run(image, help, List.of(), Duration.ofSeconds(60));
        assertThat(usage.exitCode()).as("--help:%n%s", usage.output()).isZero();
        assertThat(usage.output()).as("--help").contains("Usage: nodelb-agent", "standalone", "cluster", "uninstall");

        // The image's own java and jars, plus ImageCheck copied in.
        Path check = image.root().resolve("check/io/nodelb/images");
        Files.createDirectories(check);
        Files.copy(TARGET.resolve("test-classes/io/nodelb/images/ImageCheck.class"), check.resolve("ImageCheck.class"));
        List<String> command = new ArrayList<>(image.entrypoint());
        int classPath = command.indexOf("-cp") + 1;
        command.set(classPath, command.get(classPath) + ":/check");
        command.set(command.size() - 1, "io.nodelb.images.ImageCheck");
        Run opened = run(image, command, List.of(), Duration.ofSeconds(60));
        assertThat(opened.exitCode()).as("ImageCheck in the image:%n%s", opened.output()).isZero();
        assertThat(opened.output()).contains("libbpf opened xdp_lb from io/nodelb/bpf/xdp_lb.bpf.o",
                "libbpf opened tc_lb from io/nodelb/bpf/tc_lb.bpf.o");
    }

    @Test
    void theOperatorImageRunsAsNonRootAndBecomesReadyAgainstAnApiServer() throws Exception {
        Image image = unpack("nodelb-operator-image.tar");
        assertThat(image.user()).isEqualTo("65532");
        Files.writeString(image.root().resolve("tmp/kubeconfig"), """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster: {server: "%s"}
                users:
                - name: tester
                  user: {token: not-checked}
                contexts:
                - name: mock
                  context: {cluster: mock, user: tester, namespace: default}
                current-context: mock
                """.formatted(client.getMasterUrl()));
        int http = freePort();
        List<String> env = List.of("KUBECONFIG=/tmp/kubeconfig", "QUARKUS_HTTP_PORT=" + http,
                "NODELB_GRPC_PORT=" + freePort(), "NODELB_GRPC_PLAINTEXT=true",
                // What the mock API server cannot do:
                "NODELB_LEADER_ELECTION_ENABLED=false", "NODELB_STATUS_SERVER_SIDE_APPLY=false", "NODELB_CHECK_CRDS=false");
        Path log = TARGET.resolve("operator-image-it.log");
        Process operator = start(image, image.entrypoint(), env, log);
        try (HttpClient httpClient = HttpClient.newHttpClient()) {
            Instant deadline = Instant.now().plusSeconds(90);
            int status = 0;
            while (Instant.now().isBefore(deadline) && operator.isAlive()) {
                try {
                    status = httpClient.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http + "/q/health/ready"))
                            .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).statusCode();
                    if (status == 200) {
                        break;
                    }
                } catch (IOException notYet) {
                    // not listening yet
                }
                Thread.sleep(500);
            }
            assertThat(status).as("/q/health/ready of the operator in its image; log %s:%n%s", log,
                    Files.readString(log)).isEqualTo(200);
        } finally {
            stop(operator);
        }
    }

    record Image(Path root, List<String> entrypoint, String user) {}

    record Run(int exitCode, String output) {}

    /** Unpacks target/NAME (an OCI image layout in a tar) into a fresh root file system. */
    private Image unpack(String name) throws Exception {
        Path tarball = TARGET.resolve(name);
        assertThat(tarball).as("the image tarball: built by `package` of module images").exists();
        Path layout = Files.createTempDirectory(TARGET, "oci-");
        unpacked.add(layout);
        exec(List.of("tar", "--warning=no-unknown-keyword", "-xf", tarball.toString(), "-C", layout.toString()));
        JsonNode index = JSON.readTree(layout.resolve("index.json").toFile());
        JsonNode manifest = JSON.readTree(blob(layout, index.get("manifests").get(0).get("digest").asText()).toFile());
        JsonNode config = JSON.readTree(blob(layout, manifest.get("config").get("digest").asText()).toFile());
        Path root = layout.resolve("rootfs");
        Files.createDirectories(root);
        for (JsonNode layer : manifest.get("layers")) {
            assertThat(layer.get("mediaType").asText()).endsWith("tar+gzip");
            exec(List.of("tar", "--warning=no-unknown-keyword", "-xzf", blob(layout, layer.get("digest").asText()).toString(), "-C", root.toString()));
        }
        Files.createDirectories(root.resolve("proc"));
        Files.createDirectories(root.resolve("sys"));
        List<String> entrypoint = new ArrayList<>();
        config.get("config").get("Entrypoint").forEach(e -> entrypoint.add(e.asText()));
        JsonNode user = config.get("config").get("User");
        return new Image(root, entrypoint, user == null ? "0" : user.asText());
    }

    private static Path blob(Path layout, String digest) {
        return layout.resolve("blobs").resolve(digest.replace(':', '/'));
    }

    private static Run run(Image image, List<String> command, List<String> env, Duration timeout) throws Exception {
        Path log = Files.createTempFile(TARGET, "run-", ".log");
        try {
            Process p = start(image, command, env, log);
            if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
                stop(p);
                throw new AssertionError(command + " did not end in " + timeout + ":\n" + Files.readString(log));
            }
            return new Run(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /**
     * chroot into the image as its user, in new mount and PID namespaces with a /proc of their own and
     * sysfs read-only (libbpf reads the possible CPUs there);
     * --kill-child ends the image's processes with unshare.
     */
    private static Process start(Image image, List<String> command, List<String> env, Path log) throws IOException {
        // sh -c SCRIPT ROOT USER COMMAND...: $0 is the root, $1 the user, the rest the command.
        List<String> argv = new ArrayList<>(List.of("unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c",
                "mount -t proc proc \"$0/proc\" && mount -t sysfs -o ro sysfs \"$0/sys\" && root=\"$0\" user=\"$1\" && shift"
                        + " && exec chroot --userspec=\"$user:$user\" \"$root\" \"$@\""));
        argv.add(image.root().toAbsolutePath().toString());
        argv.add(image.user());
        argv.addAll(command);
        ProcessBuilder builder = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().clear();
        builder.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String e : env) {
            int eq = e.indexOf('=');
            builder.environment().put(e.substring(0, eq), e.substring(eq + 1));
        }
        return builder.start();
    }

    private static void stop(Process p) throws InterruptedException {
        // The entrypoint runs under the image's uid, and a change of uid clears the parent-death signal
        // behind unshare's --kill-child: it would outlive unshare. So the whole tree is stopped.
        List<ProcessHandle> tree = p.descendants().toList();
        tree.forEach(ProcessHandle::destroy);
        p.destroy();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        for (ProcessHandle h : tree) {
            try {
                h.onExit().get(10, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                h.destroyForcibly();
            }
        }
    }

    private static void exec(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("%s: %s", command, output).isZero();
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
