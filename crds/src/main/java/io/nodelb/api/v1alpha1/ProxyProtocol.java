package io.nodelb.api.v1alpha1;

/** Version of the PROXY protocol header a stream listener writes before the client's bytes. */
public enum ProxyProtocol {
  V1,
  V2
}
