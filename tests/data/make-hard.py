#!/usr/bin/env python3
"""Makes the hard-traffic test captures of tests/hard_traffic.rs.

Derived from real traffic (http_sample.pcap: nginx + curl in network
namespaces, see make-captures.sh) where the defect needs something a
real stack would not send, generated (pcaplib) where no real capture can
hold the case. Each function says what it makes; tshark's view of each
file is checked by the tests where tshark is the oracle.

Usage: tests/data/make-hard.py [NAME ...]   (default: all)
"""
import sys
from pathlib import Path

import pcaplib as pl

HERE = Path(__file__).resolve().parent


def insert_after(recs, frame_no, new_frames):
    """Inserts frames after 1-based `frame_no`, 1 µs apart after it."""
    sec, usec, _, _ = recs[frame_no - 1]
    add = []
    for i, f in enumerate(new_frames):
        u = usec + 1 + i
        add.append((sec + u // 1_000_000, u % 1_000_000, None, f))
    return recs[:frame_no] + add + recs[frame_no:]


def rst_injected_http():
    """rst_injected_http.pcap: http_sample.pcap with forged RSTs a real
    stack would ignore (RFC 5961). Stream 8 (keep-alive, 3 requests):
    after the first response, a server RST 3,000,000 bytes ahead of the
    server's sequence and a client RST 100,000 bytes behind; stream 0:
    between the SYN and the SYN-ACK, a RST|ACK whose ACK does not
    acknowledge the SYN (a stale one for an earlier connection)."""
    header, recs = pl.read_pcap(HERE / "http_sample.pcap")
    s = "10.99.0.1"
    c = "10.99.0.2"
    # Stream 8: frame 119 is the client's ACK of the first response.
    recs = insert_after(recs, 119, [
        pl.tcp_frame(s, c, 80, 51260, 2812154092 + 3_000_000, 874053891, pl.TCP_RST | pl.TCP_ACK,
                     window=0, smac=b"\x02\0\0\0\0\x01", dmac=b"\x02\0\0\0\0\x02"),
        pl.tcp_frame(c, s, 51260, 80, 874053891 - 100_000, 0, pl.TCP_RST, window=0),
    ])
    # Stream 0: frame 1 is the SYN (ISN 3569544157).
    recs = insert_after(recs, 1, [
        pl.tcp_frame(s, c, 80, 51200, 0, 12345, pl.TCP_RST | pl.TCP_ACK, window=0,
                     smac=b"\x02\0\0\0\0\x01", dmac=b"\x02\0\0\0\0\x02"),
    ])
    pl.write_pcap(HERE / "rst_injected_http.pcap", recs, header=header)


MAKERS = {
    "rst_injected_http": rst_injected_http,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(MAKERS)
    for n in names:
        MAKERS[n]()
        print(f"wrote {n}")
