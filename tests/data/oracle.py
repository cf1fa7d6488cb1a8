#!/usr/bin/env python3
"""Oracle values for a capture, computed by tshark, printed as JSON.

Usage: oracle.py FILE.pcap > FILE.expected.json

The tests compare spanlens' events against these numbers, so every value
comes from tshark (Wireshark's dissectors), never from spanlens:

- packets: frames in the file.
- tcp_conversations / udp_conversations: rows of `tshark -q -z conv,tcp`
  (and `conv,udp`). For each, frames per direction as tshark's table prints
  them, plus per direction (client = the side that sent the first SYN, or
  the first packet for UDP) exact sums computed from per-frame fields:
  frames, frame bytes (frame.len, link layer included), IP bytes (ip.len or
  40 + ipv6.plen) and payload bytes (tcp.len / udp.length - 8).
- http: responses and requests (`-Y http.response` / `http.request`), the
  status-code and method histograms, and the (method, uri, code) list in
  capture order of the responses.
- initial_rtt: `tcp.analysis.initial_rtt` per TCP stream (seconds, the
  SYN -> ACK of the SYN-ACK time seen at the capture point), absent for
  streams without a complete handshake.

tshark's conversation table rounds byte counts (kB) in Wireshark 4.x, so the
table's frame counts are checked against the per-frame sums and the exact
byte counts come from the per-frame fields.
"""

import collections
import hashlib
import json
import re
import subprocess
import sys

FIELDS = [
    "frame.number",
    "frame.len",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "ip.len",
    "ipv6.plen",
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.len",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.flags.reset",
    "tcp.flags.fin",
    "tcp.analysis.initial_rtt",
    "udp.stream",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
]


def tshark(*args):
    out = subprocess.run(
        ["tshark", "-n", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def flag(v):
    return v in ("1", "True", "true")


def conv_table(pcap, proto):
    """Rows of tshark's conversation table: (a, b, frames b->a, frames a->b)."""
    text = tshark("-r", pcap, "-q", "-z", f"conv,{proto}")
    rows = []
    pat = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+([\d,]+)\s+\S+\s+\S+\s+([\d,]+)\s+\S+\s+\S+\s+([\d,]+)\s")
    for line in text.splitlines():
        m = pat.match(line)
        if m:
            n = [int(x.replace(",", "")) for x in m.group(3, 4, 5)]
            rows.append({"a": m.group(1), "b": m.group(2), "left": n[0], "right": n[1], "total": n[2]})
    return rows


def endpoint(addr, port):
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def main():
    pcap = sys.argv[1]
    with open(pcap, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()

    args = ["-r", pcap, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for fld in FIELDS:
        args += ["-e", fld]
    frames = []
    for line in tshark(*args).splitlines():
        vals = line.split("\t")
        vals += [""] * (len(FIELDS) - len(vals))
        frames.append(dict(zip(FIELDS, vals)))

    convs = {}  # (proto, stream) -> dict
    initial_rtt = {}
    for fr in frames:
        src = fr["ip.src"] or fr["ipv6.src"]
        dst = fr["ip.dst"] or fr["ipv6.dst"]
        if fr["ip.len"]:
            ip_bytes = int(fr["ip.len"])
        elif fr["ipv6.plen"]:
            ip_bytes = 40 + int(fr["ipv6.plen"])
        else:
            ip_bytes = 0
        if fr["tcp.stream"]:
            proto, stream = "tcp", int(fr["tcp.stream"])
            sport, dport = fr["tcp.srcport"], fr["tcp.dstport"]
            payload = int(fr["tcp.len"] or 0)
            if fr["tcp.analysis.initial_rtt"] and stream not in initial_rtt:
                initial_rtt[stream] = float(fr["tcp.analysis.initial_rtt"])
        elif fr["udp.stream"]:
            proto, stream = "udp", int(fr["udp.stream"])
            sport, dport = fr["udp.srcport"], fr["udp.dstport"]
            payload = max(int(fr["udp.length"] or 8) - 8, 0)
        else:
            continue
        me = endpoint(src, sport)
        key = (proto, stream)
        c = convs.get(key)
        if c is None:
            # The client opens the connection: the first packet's sender,
            # unless that packet is a SYN-ACK (handshake start not captured).
            syn_ack = proto == "tcp" and flag(fr["tcp.flags.syn"]) and flag(fr["tcp.flags.ack"])
            client, server = (endpoint(dst, dport), me) if syn_ack else (me, endpoint(dst, dport))
            c = {
                "proto": proto,
                "stream": stream,
                "client": client,
                "server": server,
                "first_frame": int(fr["frame.number"]),
                "syn_seen": proto == "tcp" and flag(fr["tcp.flags.syn"]) and not flag(fr["tcp.flags.ack"]),
                "rst_seen": False,
                "fin_seen": False,
            }
            for d in ("client_to_server", "server_to_client"):
                c[d] = {"frames": 0, "frame_bytes": 0, "ip_bytes": 0, "payload_bytes": 0}
            convs[key] = c
        if proto == "tcp":
            c["rst_seen"] |= flag(fr["tcp.flags.reset"])
            c["fin_seen"] |= flag(fr["tcp.flags.fin"])
        d = c["client_to_server"] if me == c["client"] else c["server_to_client"]
        d["frames"] += 1
        d["frame_bytes"] += int(fr["frame.len"])
        d["ip_bytes"] += ip_bytes
        d["payload_bytes"] += payload

    out = {
        "file": pcap.rsplit("/", 1)[-1],
        "sha256": digest,
        "tshark": tshark("-v").splitlines()[0],
        "packets": len(frames),
    }
    for proto in ("tcp", "udp"):
        table = conv_table(pcap, proto)
        mine = [c for (p, _), c in sorted(convs.items()) if p == proto]
        if len(table) != len(mine):
            sys.exit(f"oracle: {proto} conversation count differs: table {len(table)}, fields {len(mine)}")
        by_pair = {}
        for c in mine:
            by_pair[frozenset((c["client"], c["server"]))] = c
        for row in table:
            # tshark prints IPv6 endpoints without brackets: addr:port.
            def norm(ep):
                addr, port = ep.rsplit(":", 1)
                return endpoint(addr, port)

            c = by_pair.get(frozenset((norm(row["a"]), norm(row["b"]))))
            if c is None:
                sys.exit(f"oracle: conversation {row['a']} <-> {row['b']} not found in per-frame data")
            a_to_b = c["client_to_server"] if norm(row["a"]) == c["client"] else c["server_to_client"]
            b_to_a = c["server_to_client"] if a_to_b is c["client_to_server"] else c["client_to_server"]
            # In tshark's table the "->" column counts A to B, "<-" B to A.
            if (row["right"], row["left"], row["total"]) != (
                a_to_b["frames"],
                b_to_a["frames"],
                a_to_b["frames"] + b_to_a["frames"],
            ):
                sys.exit(f"oracle: frame counts differ for {row}: {c}")
            c["tshark_conv"] = {"a": row["a"], "b": row["b"], "frames_a_to_b": row["right"], "frames_b_to_a": row["left"]}
        out[f"{proto}_conversations"] = len(table)
        out[f"{proto}"] = mine

    codes = []
    for line in tshark("-r", pcap, "-Y", "http.response", "-T", "fields", "-e", "tcp.stream",
                       "-e", "http.response.code", "-e", "http.request.method",
                       "-e", "http.request.uri").splitlines():
        parts = line.split("\t")
        codes.append(parts)
    methods = [
        line.split("\t")
        for line in tshark("-r", pcap, "-Y", "http.request", "-T", "fields", "-e", "tcp.stream",
                           "-e", "http.request.method", "-e", "http.request.uri").splitlines()
    ]
    if codes or methods:
        out["http"] = {
            "requests": len(methods),
            "responses": len(codes),
            "status_codes": dict(sorted(collections.Counter(c[1] for c in codes).items())),
            "methods": dict(sorted(collections.Counter(m[1] for m in methods).items())),
            "requests_in_order": [
                {"stream": int(m[0]), "method": m[1], "uri": m[2] if len(m) > 2 else ""} for m in methods
            ],
            "status_codes_in_order": [{"stream": int(c[0]), "code": int(c[1])} for c in codes],
        }
    out["initial_rtt"] = {str(k): v for k, v in sorted(initial_rtt.items())}
    json.dump(out, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
