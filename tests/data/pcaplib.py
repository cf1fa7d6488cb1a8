"""Small pcap helpers for the generated and derived test captures
(make-hard.py): read and write classic pcap, parse and build
Ethernet/IPv4/TCP frames with valid checksums. Standard library only."""
import struct

ETH_IPV4 = 0x0800
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def read_pcap(path):
    """(header bytes, [(ts_sec, ts_usec, orig_len, frame bytes)])."""
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xA1B2C3D4, f"{path}: only little-endian microsecond pcap is handled"
    header, body, recs, off = data[:24], data[24:], [], 0
    while off + 16 <= len(body):
        sec, usec, incl, orig = struct.unpack("<IIII", body[off:off + 16])
        recs.append((sec, usec, orig, body[off + 16:off + 16 + incl]))
        off += 16 + incl
    return header, recs


def pcap_header(linktype=1, snaplen=262144):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def write_pcap(path, recs, linktype=1, snaplen=262144, header=None):
    """recs: (ts_sec, ts_usec, orig_len or None, frame)."""
    with open(path, "wb") as f:
        f.write(header or pcap_header(linktype, snaplen))
        for sec, usec, orig, frame in recs:
            f.write(struct.pack("<IIII", sec, usec, len(frame), orig or len(frame)))
            f.write(frame)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def tcp_frame(src, dst, sport, dport, seq, ack, flags, payload=b"", window=64240,
              smac=b"\x02\0\0\0\0\x02", dmac=b"\x02\0\0\0\0\x01", ip_id=0):
    """An Ethernet/IPv4/TCP frame, checksums filled in."""
    s, d = ip4(src), ip4(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, window, 0, 0)
    pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    c = checksum(pseudo + tcp + payload)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ip_id & 0xFFFF, 0x4000, 64, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dmac + smac + struct.pack("!H", ETH_IPV4) + ip + tcp + payload


class Tcp:
    """The TCP fields of an Ethernet/IPv4 frame (None when not TCP)."""

    def __init__(self, frame):
        self.frame = frame
        self.ok = len(frame) >= 54 and frame[12:14] == b"\x08\x00" and frame[23] == 6
        if not self.ok:
            return
        ihl = (frame[14] & 0x0F) * 4
        self.ip_off, self.tcp_off = 14, 14 + ihl
        t = self.tcp_off
        self.src = ".".join(str(x) for x in frame[26:30])
        self.dst = ".".join(str(x) for x in frame[30:34])
        self.sport, self.dport, self.seq, self.ack, off, self.flags, self.window = \
            struct.unpack("!HHIIBBH", frame[t:t + 16])
        self.payload_off = t + (off >> 4) * 4
        total = struct.unpack("!H", frame[16:18])[0]
        self.payload = frame[self.payload_off:14 + total]


def conversation(c, s, cport, sport, turns, t0=1_700_000_000.0, handshake=True, fin=True,
                 mss=1448, gap=0.001, isn=(1000, 5000)):
    """The frames of one TCP connection: SYN/SYN-ACK/ACK (unless
    `handshake` is False: then it starts mid-stream), then `turns`, each
    ("c" or "s", payload bytes) sent in `mss`-sized segments `gap` seconds
    apart and acknowledged, then FIN/ACK both ways. Returns pcap records."""
    cm, sm = b"\x02\0\0\0\2\x02", b"\x02\0\0\0\2\x01"
    recs, t = [], [t0]
    seq = {"c": isn[0], "s": isn[1]}

    def emit(frame):
        sec = int(t[0])
        recs.append((sec, int(round((t[0] - sec) * 1_000_000)), None, frame))
        t[0] += gap

    def seg(who, flags, payload=b""):
        other = "s" if who == "c" else "c"
        if who == "c":
            f = tcp_frame(c, s, cport, sport, seq["c"], seq["s"], flags, payload, smac=cm, dmac=sm)
        else:
            f = tcp_frame(s, c, sport, cport, seq["s"], seq["c"], flags, payload, smac=sm, dmac=cm)
        emit(f)
        seq[who] += len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        return other

    if handshake:
        emit(tcp_frame(c, s, cport, sport, seq["c"], 0, TCP_SYN, smac=cm, dmac=sm))
        seq["c"] += 1
        seg("s", TCP_SYN | TCP_ACK)
        seg("c", TCP_ACK)
    for who, data in turns:
        for i in range(0, len(data), mss):
            other = seg(who, TCP_PSH | TCP_ACK, data[i:i + mss])
        seg(other, TCP_ACK)
    if fin:
        seg("c", TCP_FIN | TCP_ACK)
        seg("s", TCP_FIN | TCP_ACK)
        seg("c", TCP_ACK)
    return recs
