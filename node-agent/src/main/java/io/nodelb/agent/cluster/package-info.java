/**
 * Cluster mode: the agent's end of the control stream to the operator
 * ({@code nodelb.dataplane.v1alpha1.DataPlane/Stream}).
 *
 * <ul>
 *   <li>{@link io.nodelb.agent.cluster.ClusterOptions}: {@code nodelb-agent cluster} flags, with
 *       environment fallbacks for a DaemonSet; TLS unless {@code --plaintext}.
 *   <li>{@link io.nodelb.agent.cluster.SnapshotSink}: where snapshots go, the applier.
 *   <li>{@link io.nodelb.agent.cluster.ControlChannel}: dials (TLS, client certificate, bearer
 *       token read at every connect), says Hello, applies and answers each snapshot once, sends
 *       node reports, reconnects with jittered backoff until closed; its
 *       {@link io.nodelb.agent.cluster.ControlChannel.State} is for health checks and metrics.
 * </ul>
 *
 * Wiring, in short:
 * <pre>{@code
 * ClusterOptions options = ClusterOptions.parse(args, System.getenv()); // UsageException: print it and usage()
 * SnapshotApplier applier = ...;                                        // on BpfDataPlane.load(options.pinPath(), ...)
 * try (ControlChannel channel = ControlChannel.start(options,
 *         SnapshotSink.of(applier::appliedVersion, applier::apply),
 *         () -> NodeReport.newBuilder()...build())) {                   // applied_version left empty: filled in
 *     // wait for SIGTERM; close() half-closes the stream, the data plane stays as it is
 * }
 * }</pre>
 */
package io.nodelb.agent.cluster;
