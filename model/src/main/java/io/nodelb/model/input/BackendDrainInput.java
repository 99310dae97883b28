package io.nodelb.model.input;

import io.nodelb.model.compiler.ObjectKey;

/**
 * What the compiler reads of a BackendDrain: what it drains (a node, a pod of its namespace, or an
 * address and port), and whether it was cancelled (then it drains nothing).
 */
public record BackendDrainInput(ObjectKey key, Revision revision, String nodeName, String podName,
    String backendAddress, Integer backendPort, boolean cancelled) {}
