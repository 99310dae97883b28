#!/usr/bin/env bash
# Makes a fresh machine ready to build, test and run nodelb: system packages,
# bpffs, and a JDK 25 check. Idempotent; run as root.
set -euo pipefail

PACKAGES=(clang llvm libbpf-dev bpftool iproute2 iptables nftables ipvsadm ethtool curl wrk haproxy socat make nginx libnginx-mod-stream util-linux iputils-ping tcpdump python3)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (BPF programs, network namespaces and apt need it)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The haproxy package starts a system service where systemd runs; the benchmark runs its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet haproxy 2>/dev/null; then
  systemctl disable --now haproxy >/dev/null 2>&1 || true
fi

if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi
if [ ! -e /sys/kernel/btf/vmlinux ]; then
  echo "setup: this kernel has no BTF (/sys/kernel/btf/vmlinux); nodelb needs CONFIG_DEBUG_INFO_BTF" >&2
  exit 1
fi

JDK=${NODELB_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
if [ ! -x "$JDK/bin/java" ] || ! "$JDK/bin/java" -version 2>&1 | grep -q 'version "25'; then
  echo "setup: no JDK 25 at $JDK; install Temurin 25 there or set NODELB_JAVA_HOME" >&2
  exit 1
fi
