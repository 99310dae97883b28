/**
 * nodelb's hand-written libbpf binding (Java FFM) and the data-plane ABI.
 *
 * <ul>
 *   <li>{@link io.nodelb.agent.bpf.LibBpf}: one MethodHandle per libbpf / libc function,
 *       called with invokeExact; libbpf's log goes to System.Logger and into exceptions.
 *   <li>{@link io.nodelb.agent.bpf.BpfObject}, {@link io.nodelb.agent.bpf.BpfMap},
 *       {@link io.nodelb.agent.bpf.BpfProgram}, {@link io.nodelb.agent.bpf.BpfLink},
 *       {@link io.nodelb.agent.bpf.Btf}: the typed wrappers. Native memory of an object lives
 *       in its Arena; close() is idempotent and undoes things in reverse order.
 *   <li>{@link io.nodelb.agent.bpf.RingBuffer}: a consumer of a BPF ring buffer map (libbpf's
 *       ring_buffer__*), one MemorySegment per record, valid during the callback.
 *   <li>{@link io.nodelb.agent.bpf.BpfException}: every failure of a native call, with the
 *       operation, what it was called on, the errno and its text (see
 *       {@link io.nodelb.agent.bpf.Errno}).
 *   <li>{@link io.nodelb.agent.bpf.Abi}: MemoryLayouts and records for every struct of
 *       nodelb_abi.h; {@link io.nodelb.agent.bpf.AbiCheck} compares them with an object's BTF.
 *   <li>{@link io.nodelb.agent.bpf.LayoutTranslation}: map entries of one layout into another,
 *       field by field by name through both BTFs (how an upgrade carries live flows).
 * </ul>
 *
 * Needs libbpf.so.1 (1.1 or newer) on x86-64 Linux, and {@code --enable-native-access}.
 */
package io.nodelb.agent.bpf;
