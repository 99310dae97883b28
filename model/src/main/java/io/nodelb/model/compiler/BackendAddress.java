package io.nodelb.model.compiler;

import com.google.protobuf.ByteString;

/**
 * A backend as the data plane knows it: address (4 or 16 bytes, network order) and port. Agents
 * report live flows per backend under this key (NodeReport.backend_flows).
 */
public record BackendAddress(ByteString address, int port) {}
