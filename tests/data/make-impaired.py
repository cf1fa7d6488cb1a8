#!/usr/bin/env python3
"""Derives impaired_http.pcap from http_sample.pcap (real nginx/curl traffic):
in the 20 KB response of TCP stream 2 it moves data frame 32 ahead of data
frame 30 and its ACK 31 (out of order on the wire, every ACK still after the
data it acknowledges) and deletes data frame 40 (1448 bytes the client got
but the capture point missed: its ACK passes the hole). tshark is the oracle for the
result; impaired_http.expected.json records its counts.

Real loss and reordering (tc netem) cannot be produced on a kernel without
sch_netem, as on the machines this project is built on; editing a real
capture keeps the traffic real and the impairment exact."""
import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
src = here / "http_sample.pcap"
dst = here / "impaired_http.pcap"

data = src.read_bytes()
header, body = data[:24], data[24:]
records = []
off = 0
while off + 16 <= len(body):
    ts_sec, ts_frac, incl, orig = struct.unpack("<IIII", body[off:off + 16])
    records.append(body[off:off + 16 + incl])
    off += 16 + incl

MOVE = (32, 30, 31)  # new order of 1-based frames 30, 31, 32
DROP = 40
slots = [records[n - 1] for n in (30, 31, 32)]
moved = [records[n - 1] for n in MOVE]
# New order, old timestamps: time stays monotonic, as on a real wire.
for k, n in enumerate((30, 31, 32)):
    records[n - 1] = slots[k][:8] + moved[k][8:]
del records[DROP - 1]
dst.write_bytes(header + b"".join(records))


def count(flt):
    out = subprocess.run(["tshark", "-n", "-r", str(dst), "-Y", flt], capture_output=True, text=True, check=True)
    return len([l for l in out.stdout.splitlines() if l.strip()])


expected = {
    "file": dst.name,
    "derived_from": src.name,
    "reordered_frames": list(MOVE),
    "dropped_frame": DROP,
    "dropped_bytes": 1448,
    "sha256": hashlib.sha256(dst.read_bytes()).hexdigest(),
    "tshark": subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
    "packets": count("frame"),
    "http_responses": count("http.response"),
    "out_of_order": count("tcp.analysis.out_of_order"),
    "retransmissions": count("tcp.analysis.retransmission"),
    "lost_segment": count("tcp.analysis.lost_segment"),
    "ack_lost_segment": count("tcp.analysis.ack_lost_segment"),
}
(here / "impaired_http.expected.json").write_text(json.dumps(expected, indent=2) + "\n")
json.dump(expected, sys.stdout, indent=2)
