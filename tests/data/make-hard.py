#!/usr/bin/env python3
"""Makes the hard-traffic test captures of tests/hard_traffic.rs.

Derived from real traffic (http_sample.pcap: nginx + curl in network
namespaces, see make-captures.sh) where the defect needs something a
real stack would not send, generated (pcaplib) where no real capture can
hold the case. Each function says what it makes; tshark's view of each
file is checked by the tests where tshark is the oracle.

Usage: tests/data/make-hard.py [NAME ...]   (default: all)
"""
import hashlib
import json
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


def resegmented_http():
    """resegmented_http.pcap (generated; a real stack's re-segmented
    retransmissions need loss we cannot make here): one HTTP GET and a
    40,000-byte response in 1000-byte segments, handshake RTT 10 ms, the
    client's ACKs four segments behind. Copies of response data, cut
    differently from the originals, are interleaved:
    - at segments 10, 12, 14, 16, 18: pieces of segments two back, 0.1 ms
      after the highest segment and not yet acknowledged (out of order
      for tshark: within the RTT of the highest segment);
    - at segment 15: segment 15 again (ends at the highest sequence
      number: a retransmission);
    - at segment 20: segment 5 again, long acknowledged (spurious
      retransmission);
    - after segment 25, a 15 ms pause, then segment 22 in three pieces
      (retransmissions: later than the RTT);
    - at segment 32: three ACKs asking for segment 30, and segment 30
      again 0.1 ms later (fast retransmission).
    resegmented_http.expected.json holds tshark's counts."""
    c, s = "10.99.1.2", "10.99.1.1"
    cm, sm = b"\x02\0\0\0\1\x02", b"\x02\0\0\0\1\x01"
    cp, sp = 40000, 80
    t0 = 1_764_600_000_000_000  # µs
    recs = []

    def put(t_us, frame):
        recs.append(((t0 + t_us) // 1_000_000, (t0 + t_us) % 1_000_000, None, frame))

    ids = {"c": 0x1000, "s": 0x8000}

    def ip_id(side):
        # A real stack's IP ID moves on with every packet, copies included.
        ids[side] += 1
        return ids[side]

    def cli(t, seq, ack, fl, pay=b""):
        put(t, pl.tcp_frame(c, s, cp, sp, seq, ack, fl, pay, window=502, smac=cm, dmac=sm,
                            ip_id=ip_id("c")))

    def srv(t, seq, ack, fl, pay=b""):
        put(t, pl.tcp_frame(s, c, sp, cp, seq, ack, fl, pay, window=509, smac=sm, dmac=cm,
                            ip_id=ip_id("s")))

    A, PA = pl.TCP_ACK, pl.TCP_ACK | pl.TCP_PSH
    cisn, sisn = 1000, 5000
    req = b"GET /data HTTP/1.1\r\nHost: 10.99.1.1\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
    body_len = 40000 - 64
    head = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: %d\r\n\r\n" % body_len
    head = head + b" " * (64 - len(head))  # exactly 64 bytes of head
    resp = head + bytes((i * 7 + 3) % 251 for i in range(body_len))
    assert len(resp) == 40000
    cnext = cisn + 1 + len(req)
    cli(0, cisn, 0, pl.TCP_SYN)
    srv(5000, sisn, cisn + 1, pl.TCP_SYN | A)
    cli(10000, cisn + 1, sisn + 1, A)
    cli(10100, cisn + 1, sisn + 1, PA, req)
    srv(15000, sisn + 1, cnext, A)
    base = sisn + 1
    seg = lambda i: (base + (i - 1) * 1000, resp[(i - 1) * 1000:i * 1000])
    t = 20000
    acked = base
    for i in range(1, 41):
        sq, pay = seg(i)
        srv(t, sq, cnext, PA if i == 40 else A, pay)
        if i in (10, 12, 14, 16, 18):
            q, p = seg(i - 2)
            srv(t + 100, q + 300, cnext, A, p[300:800])
        if i == 15:
            srv(t + 100, sq, cnext, A, pay)
        if i == 20:
            q, p = seg(5)
            srv(t + 100, q, cnext, A, p)
        if i == 25:
            t += 15000
            q, p = seg(22)
            for a, b in ((0, 400), (400, 800), (800, 1000)):
                srv(t, q + a, cnext, A, p[a:b])
                t += 50
        if i == 32:
            q, _ = seg(30)
            for k in range(3):
                cli(t + 50 + 10 * k, cnext, q, A)
            acked = q
            srv(t + 150, q, cnext, A, seg(30)[1])
            t += 200
            cli(t, cnext, base + 32 * 1000, A)
            acked = base + 32 * 1000
        if i % 2 == 0 and i > 4 and i != 32:
            new = base + (i - 4) * 1000
            if new > acked:
                acked = new
                cli(t + 50, cnext, acked, A)
        t += 200
    end = base + 40000
    cli(t, cnext, end, A)
    cli(t + 100, cnext, end, pl.TCP_FIN | A)
    srv(t + 5000, end, cnext + 1, pl.TCP_FIN | A)
    cli(t + 10000, cnext + 1, end + 1, A)
    recs.sort(key=lambda r: (r[0], r[1]))
    out = HERE / "resegmented_http.pcap"
    pl.write_pcap(out, recs)

    def count(flt):
        r = subprocess.run(["tshark", "-n", "-r", str(out), "-Y", flt], capture_output=True,
                           text=True, check=True)
        return len([x for x in r.stdout.splitlines() if x.strip()])

    srv_f = "ip.src==%s && " % s
    expected = {
        "file": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "tshark": subprocess.run(["tshark", "--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0],
        "packets": count("frame"),
        "server": {k: count(srv_f + "tcp.analysis." + k) for k in
                   ("retransmission", "out_of_order", "spurious_retransmission",
                    "fast_retransmission")},
        "client": {k: count("ip.src==%s && tcp.analysis.%s" % (c, k)) for k in
                   ("retransmission", "out_of_order", "duplicate_ack")},
        "http_body_bytes": body_len,
    }
    (HERE / "resegmented_http.expected.json").write_text(json.dumps(expected, indent=2) + "\n")


def duplicated_http():
    """duplicated_http.pcap: http_sample.pcap as a SPAN session mirroring
    both directions of two ports shows it: every frame twice, the copy 1 to
    6 µs later (every fifth copy 2 µs earlier: the copy's timestamp is not
    always later). Then, 10 s after the last frame (all connections closed
    and reported), copies of stream 0's response and FIN (a late
    retransmission) and a stale copy of stream 1's SYN (its original
    timestamp); and at 12 s stream 0's exchange again on stream 2's client
    port with new sequence numbers (the port reused: a new connection)."""
    header, recs = pl.read_pcap(HERE / "http_sample.pcap")
    out = []
    for n, (sec, usec, orig, f) in enumerate(recs):
        out.append((sec, usec, orig, f))
        d = -2 if n % 5 == 4 else 1 + n % 6
        t = sec * 1_000_000 + usec + d
        out.append((t // 1_000_000, t % 1_000_000, orig, f))
    last = recs[-1][0] * 1_000_000 + recs[-1][1]

    def at(t, f):
        return (t // 1_000_000, t % 1_000_000, None, f)

    # Stream 0 is frames 1-10: SYN, SYN-ACK, ACK, GET, ACK, response, ACK, FIN, FIN, ACK.
    out.append(at(last + 10_000_000, recs[5][3]))
    out.append(at(last + 10_000_100, recs[8][3]))
    out.append((recs[10][0], recs[10][1], None, recs[10][3]))  # stream 1's SYN, stale
    # Stream 0 again from stream 2's client port (51214), ISNs moved.
    old_port = pl.Tcp(recs[0][3]).sport
    new_port = pl.Tcp(recs[20][3]).sport
    for k, (sec, usec, orig, f) in enumerate(recs[:10]):
        t = pl.Tcp(f)
        c2s = t.sport == old_port
        sp, dp = (new_port, t.dport) if c2s else (t.sport, new_port)
        seq = t.seq + (77_777 if c2s else 99_999)
        ack = (t.ack + (99_999 if c2s else 77_777)) if t.flags & pl.TCP_ACK else 0
        smac, dmac = f[6:12], f[0:6]
        frame = pl.tcp_frame(t.src, t.dst, sp, dp, seq, ack, t.flags, t.payload,
                             window=t.window, smac=smac, dmac=dmac, ip_id=k)
        ts = sec * 1_000_000 + usec - (recs[0][0] * 1_000_000 + recs[0][1]) + last + 12_000_000
        out.append(at(ts, frame))
    pl.write_pcap(HERE / "duplicated_http.pcap", out, header=header)


# MySQL capability bits (MySQL client/server protocol, "Capabilities Flags").
CLIENT_LONG_PASSWORD, CLIENT_PROTOCOL_41, CLIENT_TRANSACTIONS = 1, 1 << 9, 1 << 13
CLIENT_SECURE_CONNECTION, CLIENT_PLUGIN_AUTH, CLIENT_PLUGIN_AUTH_LENENC = 1 << 15, 1 << 19, 1 << 21
CLIENT_DEPRECATE_EOF, CLIENT_QUERY_ATTRIBUTES = 1 << 24, 1 << 27
CLIENT_COMPRESS, CLIENT_ZSTD = 1 << 5, 1 << 26


def my_packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def lenenc(n):
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenstr(b):
    return lenenc(len(b)) + b


def my_greeting(version, caps):
    """Protocol::HandshakeV10."""
    return (b"\x0a" + version + b"\0" + struct.pack("<I", 11) + b"abcdefgh" + b"\0"
            + struct.pack("<H", caps & 0xFFFF) + b"\xff" + struct.pack("<H", 2)
            + struct.pack("<H", caps >> 16) + bytes([21]) + b"\0" * 10
            + b"ijklmnopqrst\0" + b"caching_sha2_password\0")


def my_login(caps, user=b"app"):
    """Protocol::HandshakeResponse41 (auth data lenenc, plugin name)."""
    return (struct.pack("<IIB", caps, 1 << 24, 255) + b"\0" * 23 + user + b"\0"
            + lenstr(b"\x01" * 32) + b"caching_sha2_password\0")


MY_OK = b"\x00\x00\x00\x02\x00\x00\x00"
MY_EOF_OK = b"\xfe\x00\x00\x02\x00\x00\x00"


def my_column(name, ty=0x08):
    """Protocol::ColumnDefinition41."""
    return (lenstr(b"def") + lenstr(b"") + lenstr(b"") + lenstr(b"") + lenstr(name)
            + lenstr(b"") + b"\x0c" + struct.pack("<HIBHB", 63, 21, ty, 0x81, 0) + b"\0\0")


def my_result(value, name=b"v"):
    """A one-column, one-row text result set, CLIENT_DEPRECATE_EOF style."""
    return (my_packet(1, b"\x01") + my_packet(2, my_column(name, 0xfd))
            + my_packet(3, lenstr(value)) + my_packet(4, MY_EOF_OK))


def com_query_with_attributes(attrs, sql):
    """COM_QUERY with CLIENT_QUERY_ATTRIBUTES, field by field as the MySQL
    documentation lays it out: parameter_count, parameter_set_count (1);
    if parameter_count > 0: null_bitmap ((count + 7) / 8 bytes),
    new_params_bind_flag (1), per parameter param_type_and_flag (2 bytes)
    and parameter name (lenenc string), then the values (binary protocol);
    then the query text. attrs: (name, type, value bytes or None for NULL)."""
    body = b"\x03" + lenenc(len(attrs)) + lenenc(1)
    if attrs:
        bitmap = bytearray((len(attrs) + 7) // 8)
        for i, (_, _, v) in enumerate(attrs):
            if v is None:
                bitmap[i // 8] |= 1 << (i % 8)
        body += bytes(bitmap) + b"\x01"
        for name, ty, _ in attrs:
            body += bytes([ty, 0]) + lenstr(name)
        for _, _, v in attrs:
            if v is not None:
                body += v
    return body + sql


def mysql_query_attributes():
    """mysql_query_attributes.pcap (generated: MariaDB has no query
    attributes and no MySQL 8 server is at hand): a MySQL 8.0.36 handshake
    negotiating CLIENT_QUERY_ATTRIBUTES, then COM_QUERY with two string
    attributes (`trace_id`, `service`: tshark 4.0 decodes attribute values
    as strings only, so the capture stays within what it checks), a
    COM_QUERY with zero attributes (the `\\0\\1SELECT` of issue 17), and a
    plain COM_PING; the same two queries again on a connection picked up
    mid-stream (no handshake in the capture). Ports 3306."""
    c, s = "10.66.1.2", "10.66.1.1"
    caps = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC
            | CLIENT_DEPRECATE_EOF | CLIENT_QUERY_ATTRIBUTES)
    q1 = com_query_with_attributes([
        (b"trace_id", 0xfe, lenstr(b"4bf92f3577b34da6")),
        (b"service", 0xfe, lenstr(b"billing")),
    ], b"SELECT name FROM users WHERE id = 7")
    q2 = com_query_with_attributes([], b"SELECT 1")
    queries = [
        ("c", my_packet(0, q1)), ("s", my_result(b"alice", b"name")),
        ("c", my_packet(0, q2)), ("s", my_result(b"1", b"1")),
    ]
    turns = [
        ("s", my_packet(0, my_greeting(b"8.0.36", caps | CLIENT_COMPRESS))),
        ("c", my_packet(1, my_login(caps))),
        ("s", my_packet(2, MY_OK)),
    ] + queries + [("c", my_packet(0, b"\x0e")), ("s", my_packet(1, MY_OK))]
    recs = pl.conversation(c, s, 50001, 3306, turns, t0=1_700_000_000.0)
    recs += pl.conversation(c, s, 50002, 3306, queries, t0=1_700_000_010.0, handshake=False)
    pl.write_pcap(HERE / "mysql_query_attributes.pcap", recs)


def mysql_compressed_midstream():
    """mysql_compressed_midstream.pcap: mysql_compressed.pcap (real MariaDB
    and `mariadb --compress`, make-captures-hard.sh) from its first query
    on: the handshake (SYN to the login's OK, frames 1-8) is cut, so the
    compressed protocol must be recognised from its 7-byte headers."""
    header, recs = pl.read_pcap(HERE / "mysql_compressed.pcap")
    first_query = next(i for i, r in enumerate(recs)
                       if pl.Tcp(r[3]).ok and pl.Tcp(r[3]).dport == 3306
                       and len(pl.Tcp(r[3]).payload) > 0 and i > 5)
    pl.write_pcap(HERE / "mysql_compressed_midstream.pcap", recs[first_query:], header=header)


def zstd_frame(b):
    """One zstd frame of `b` (the zstd command line tool, level 3)."""
    return subprocess.run(["zstd", "-3", "-q", "-c", "--no-check"], input=b,
                          stdout=subprocess.PIPE, check=True).stdout


def my_compressed(seq, plain, compress=None):
    """A compressed-protocol packet: int<3> compressed length, int<1>
    sequence id, int<3> length before compression (0: sent as is)."""
    body, ulen = (compress(plain), len(plain)) if compress else (plain, 0)
    return struct.pack("<I", len(body))[:3] + bytes([seq]) + struct.pack("<I", ulen)[:3] + body


def mysql_zstd():
    """mysql_zstd.pcap (generated: MariaDB has no zstd protocol compression
    and no MySQL 8 server is at hand; the frames come from the zstd tool):
    a MySQL 8.0.36 handshake negotiating CLIENT_ZSTD_COMPRESSION_ALGORITHM
    (the login ends with the zstd level byte), then, compressed: `SELECT 1`
    (sent as is, too short to compress) and a 500-row result split over two
    zstd-compressed packets; the same exchange again on a connection picked
    up mid-stream."""
    c, s = "10.66.2.2", "10.66.2.1"
    caps = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC
            | CLIENT_DEPRECATE_EOF | CLIENT_ZSTD)
    rows = my_packet(1, b"\x01") + my_packet(2, my_column(b"r", 0xfd))
    for i in range(500):
        rows += my_packet((3 + i) % 256, lenstr(b"row-%04d-" % i * 8))
    rows += my_packet((3 + 500) % 256, MY_EOF_OK)
    half = len(rows) // 2
    queries = [
        ("c", my_compressed(0, my_packet(0, b"\x03SELECT r FROM t"))),
        ("s", my_compressed(1, rows[:half], zstd_frame) + my_compressed(2, rows[half:], zstd_frame)),
        ("c", my_compressed(0, my_packet(0, b"\x03SELECT 1"))),
        ("s", my_compressed(1, my_result(b"1", b"1"))),
    ]
    turns = [
        ("s", my_packet(0, my_greeting(b"8.0.36", caps | CLIENT_COMPRESS))),
        ("c", my_packet(1, my_login(caps) + b"\x03")),
        ("s", my_packet(2, MY_OK)),
    ] + queries
    recs = pl.conversation(c, s, 50011, 3306, turns, t0=1_700_000_100.0)
    recs += pl.conversation(c, s, 50012, 3306, queries, t0=1_700_000_110.0, handshake=False)
    pl.write_pcap(HERE / "mysql_zstd.pcap", recs)


MAKERS = {
    "mysql_zstd": mysql_zstd,
    "mysql_compressed_midstream": mysql_compressed_midstream,
    "mysql_query_attributes": mysql_query_attributes,
    "duplicated_http": duplicated_http,
    "resegmented_http": resegmented_http,
    "rst_injected_http": rst_injected_http,
    "mixed_interfaces": mixed_interfaces,
    "small_snaplen": small_snaplen,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(MAKERS)
    for n in names:
        MAKERS[n]()
        print(f"wrote {n}")
