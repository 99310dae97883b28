#!/usr/bin/env python3
"""Where a proxied TLS connection's time goes, from two captures of the same seconds.

  sni-timeline.py CLIENT.pcap BACKEND.pcap

CLIENT.pcap holds the client's side (port 443), BACKEND.pcap the proxy's connections to the
backends (port 8443), both taken with a snap length that keeps the first 30 bytes of payload.
A client connection and its backend connection carry the same ClientHello, so they are paired by
its random (the first 19 bytes of it fit in those 30). For each pair it measures the steps the
proxy adds and prints their median, 90th and 99th percentiles in milliseconds.
"""
import re
import subprocess
import sys

HEADER = re.compile(r"(\d+\.\d+) IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\].*?length (\d+)")


def connections(pcap, service_port):
    """Each connection's packets in order: (time, towards the service, flags, payload hex or '')."""
    out = subprocess.run(["tcpdump", "-nn", "-tt", "-x", "-r", pcap], capture_output=True, text=True,
                         check=True).stdout
    packets = []
    for line in out.splitlines():
        if line.startswith("\t"):
            if packets:
                packets[-1][4].append(line.split(":", 1)[1].replace(" ", "").strip())
            continue
        m = HEADER.match(line)
        if m:
            packets.append([float(m.group(1)), (m.group(2), int(m.group(3))), (m.group(4), int(m.group(5))),
                            (m.group(6), int(m.group(7))), []])
    conns = {}  # by the client's address and port: its connections, oldest first (ports are reused)
    for t, src, dst, (flags, length), words in packets:
        towards = dst[1] == service_port
        payload = ""
        if length > 0:
            raw = "".join(words)
            ip_header = int(raw[1], 16) * 4 if raw[0] == "4" else 40
            tcp_header = int(raw[ip_header * 2 + 24], 16) * 4
            payload = raw[(ip_header + tcp_header) * 2:]
        seen = conns.setdefault(src if towards else dst, [])
        opening = towards and flags == "S"
        if not seen or (opening and any("S" == p[2] for p in seen[-1]) and seen[-1][-1][2] != "S"):
            seen.append([])
        seen[-1].append((t, towards, flags, payload))
    return [c for cs in conns.values() for c in cs]


def by_hello(conns):
    """Connections seen from their SYN, keyed by their ClientHello's random (hex)."""
    keyed = {}
    for packets in conns:
        if "S" not in packets[0][2] or "." in packets[0][2]:
            continue
        hello = next((p for p in packets if p[1] and p[3]), None)
        if hello and len(hello[3]) >= 60:
            keyed[hello[3][22:60]] = packets
    return keyed


def first(packets, test):
    return next((p[0] for p in packets if test(p)), None)


def main(client_pcap, backend_pcap):
    client = by_hello(connections(client_pcap, 443))
    backend = by_hello(connections(backend_pcap, 8443))
    steps = {
        "ClientHello in -> SYN to backend": [],
        "backend SYN-ACK -> ClientHello out": [],
        "backend's first answer -> client": [],
        "client's second flight -> backend": [],
        "backend's FIN/RST -> client": [],
        "client's whole connection": [],
    }
    for random, c in client.items():
        b = backend.get(random)
        if b is None:
            continue
        sent = lambda p: p[1] and p[3]
        answered = lambda p: not p[1] and p[3]
        ended = lambda p: not p[1] and ("F" in p[2] or "R" in p[2])
        c_sent = [p[0] for p in c if sent(p)]
        b_sent = [p[0] for p in b if sent(p)]
        pairs = [
            ("ClientHello in -> SYN to backend", c_sent[0], b[0][0]),
            ("backend SYN-ACK -> ClientHello out", first(b, lambda p: not p[1] and "S" in p[2]), b_sent[0]),
            ("backend's first answer -> client", first(b, answered), first(c, answered)),
            ("client's second flight -> backend", c_sent[1] if len(c_sent) > 1 else None,
             b_sent[1] if len(b_sent) > 1 else None),
            ("backend's FIN/RST -> client", first(b, ended), first(c, ended)),
            ("client's whole connection", c[0][0], c[-1][0]),
        ]
        for name, start, end in pairs:
            if start is not None and end is not None:
                steps[name].append((end - start) * 1000)
    paired = len(steps["client's whole connection"])
    print(f"paired {paired} of {len(client)} client connections")
    for name, values in steps.items():
        if values:
            values.sort()
            at = lambda q: values[min(len(values) - 1, int(q * len(values)))]
            print(f"  {name:36s} p50 {at(0.5):7.2f}  p90 {at(0.9):7.2f}  p99 {at(0.99):7.2f} ms")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: sni-timeline.py CLIENT.pcap BACKEND.pcap")
    main(sys.argv[1], sys.argv[2])
