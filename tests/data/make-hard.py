#!/usr/bin/env python3
"""Makes the hard-traffic test captures of tests/hard_traffic.rs.

Derived from real traffic (http_sample.pcap: nginx + curl in network
namespaces, see make-captures.sh) where the defect needs something a
real stack would not send, generated (pcaplib) where no real capture can
hold the case. Each function says what it makes; tshark's view of each
file is checked by the tests where tshark is the oracle.

Usage: tests/data/make-hard.py [NAME ...]   (default: all)
"""
import struct
import subprocess
import sys
import tempfile
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


def to_linux_sll(src, dst, snaplen):
    """Rewrites an Ethernet pcap as Linux cooked (SLL v1) with `snaplen`
    in its header: what `tcpdump -i any` writes."""
    _, recs = pl.read_pcap(src)
    out = []
    for sec, usec, orig, f in recs:
        # Packet type 0 (to us), ARPHRD_ETHER, address length 6.
        sll = struct.pack("!HHH", 0, 1, 6) + f[6:12] + b"\0\0" + f[12:14]
        out.append((sec, usec, orig - 14 + 16, sll + f[14:]))
    pl.write_pcap(dst, out, linktype=113, snaplen=snaplen)


def mixed_interfaces():
    """mixed_linktypes.pcapng: `mergecap` of flows_sample.pcap (Ethernet,
    snaplen 262144) and http_ipv6.pcap rewritten as Linux cooked capture
    with snaplen 65535: two interfaces that differ in link type and
    snaplen, which libpcap refuses. mixed_snaplens.pcapng: flows_sample.pcap
    and http_ipv6.pcap with its header snaplen set to 65535 (both
    Ethernet, only the snaplens differ)."""
    with tempfile.TemporaryDirectory() as tmp:
        sll = Path(tmp) / "v6_sll.pcap"
        to_linux_sll(HERE / "http_ipv6.pcap", sll, 65535)
        subprocess.run(["mergecap", "-F", "pcapng", "-w", str(HERE / "mixed_linktypes.pcapng"),
                        str(HERE / "flows_sample.pcap"), str(sll)], check=True)
        header, recs = pl.read_pcap(HERE / "http_ipv6.pcap")
        snap = Path(tmp) / "v6_65535.pcap"
        pl.write_pcap(snap, recs, header=header[:16] + struct.pack("<I", 65535) + header[20:])
        subprocess.run(["mergecap", "-F", "pcapng", "-w", str(HERE / "mixed_snaplens.pcapng"),
                        str(HERE / "flows_sample.pcap"), str(snap)], check=True)


def small_snaplen():
    """small_snaplen.pcap: http_ipv6.pcap with its header's snaplen set to
    96 while the records stay whole (up to 500 bytes), as some capture
    tools write. tshark decodes the records whole; libpcap cuts every
    record to 96 bytes."""
    header, recs = pl.read_pcap(HERE / "http_ipv6.pcap")
    pl.write_pcap(HERE / "small_snaplen.pcap", recs,
                  header=header[:16] + struct.pack("<I", 96) + header[20:])


MAKERS = {
    "rst_injected_http": rst_injected_http,
    "mixed_interfaces": mixed_interfaces,
    "small_snaplen": small_snaplen,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(MAKERS)
    for n in names:
        MAKERS[n]()
        print(f"wrote {n}")
