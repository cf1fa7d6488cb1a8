#!/usr/bin/env python3
"""Scripted peers for make-captures-hard.sh: real sockets on real kernel
TCP stacks (in network namespaces) that send the byte sequences the
issue-17 cases need, which no ordinary client or server sends on purpose.

Usage: hard_peers.py server|client CASE HOST PORT

Each case is a list of turns ("c", bytes) sent by the client and
("s", bytes) sent by the server; a peer sends its own turns and, before
each, reads until it has the bytes the other side sent before it (so
every turn is one exchange on the wire, in order). Several connections
per case are made one after the other.
"""
import socket
import sys
import time

MIB_HEAD_LINES = 22000  # ~1.1 MB of header lines


def big_head():
    lines = [b"HTTP/1.1 200 OK\r\n", b"Content-Type: text/plain\r\n"]
    for i in range(MIB_HEAD_LINES):
        lines.append(b"X-Filler-%05d: %s\r\n" % (i, b"f" * 32))
    # The framing field after the cut: the body must still be skipped.
    lines.append(b"Content-Length: 10\r\n\r\n")
    return b"".join(lines) + b"0123456789"


def hdr(method, path, extra=b""):
    return b"%s %s HTTP/1.1\r\nHost: hard.test\r\nUser-Agent: hard-peers\r\n%s\r\n" % (
        method, path, extra)


def ok(body=b"ok", code=b"200 OK"):
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (code, len(body), body)


BODY_27K = b"".join(b"%05d-payload-line-of-the-early-answered-post.\n" % i for i in range(600))[:27000]

CASES = {
    # Item 7: a response head over 1 MiB, then a keep-alive exchange.
    "http_head_too_large": [[
        ("c", hdr(b"GET", b"/big")),
        ("s", big_head()),
        ("c", hdr(b"GET", b"/next")),
        ("s", ok(b"hello")),
    ]],
    # Item 7: an unparsable Content-Length; the "body" is glued to the
    # next request line. A request line httparse rejects (a control
    # byte in the target), then a good request.
    "http_bad_length": [[
        ("c", hdr(b"POST", b"/upload", b"Content-Length: 99999999999999999999999\r\n") + b"abc"
         + hdr(b"GET", b"/after-length")),
        ("s", ok(b"", b"400 Bad Request") + ok(b"fine")),
    ], [
        ("c", hdr(b"GET", b"/bad\x01target")),
        ("s", ok(b"", b"400 Bad Request")),
        ("c", hdr(b"GET", b"/good")),
        ("s", ok(b"good")),
    ], [
        ("c", hdr(b"GET", b"/resp-bad-length")),
        ("s", b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nxyz"),
        ("c", hdr(b"GET", b"/resp-after")),
        ("s", ok(b"after")),
    ]],
    # Item 11: Expect: 100-continue answered at once with a final status;
    # the client sends its 27,000-byte body anyway, then another request.
    "http_early_final": [[
        ("c", hdr(b"POST", b"/upload", b"Content-Type: application/octet-stream\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n" % len(BODY_27K))),
        ("s", b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"),
        ("c", BODY_27K),
        ("c", hdr(b"GET", b"/after")),
        ("s", ok(b"after")),
    ]],
    # Item 8: replies a Redis server never sends (a fake server).
    "redis_bad_replies": [[
        ("c", b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n"),
        ("s", b"$-5\r\nhello\r\n"),
        ("c", b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"),
        ("s", b"$3\r\nbbb\r\n"),
        ("c", b"*1\r\n$4\r\nPING\r\n"),
        ("s", b"+PONG\r\n"),
        ("c", b"*2\r\n$3\r\nGET\r\n$1\r\nc\r\n"),
        ("s", b"$4611686018427387904\r\nccc\r\n"),
        ("c", b"*2\r\n$3\r\nGET\r\n$1\r\nd\r\n"),
        ("s", b"$1\r\nd\r\n"),
    ], [
        # Pipelined: the bad length answers the first GET; the two
        # replies behind it cannot be told from its payload.
        ("c", b"*2\r\n$3\r\nGET\r\n$1\r\ne\r\n*2\r\n$3\r\nGET\r\n$1\r\nf\r\n*1\r\n$4\r\nPING\r\n"),
        ("s", b"$abc\r\neee\r\n$1\r\nf\r\n+PONG\r\n"),
        ("c", b"*1\r\n$4\r\nPING\r\n"),
        ("s", b"+PONG\r\n"),
    ], [
        # A reply nobody asked for, then a normal exchange.
        ("s", b"+SURPRISE\r\n"),
        ("c", b"*1\r\n$4\r\nPING\r\n"),
        ("s", b"+PONG\r\n"),
    ]],
}


def recv_exact(sock, n):
    got = b""
    while len(got) < n:
        chunk = sock.recv(min(65536, n - len(got)))
        if not chunk:
            break
        got += chunk
    return got


def run_conn(sock, turns, me):
    for who, data in turns:
        if who == me:
            sock.sendall(data)
        else:
            recv_exact(sock, len(data))
        time.sleep(0.02)


def main():
    role, case, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conns = CASES[case]
    me = "s" if role == "server" else "c"
    if role == "server":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, port))
        ls.listen(4)
        print("ready", flush=True)
        for turns in conns:
            s, _ = ls.accept()
            run_conn(s, turns, me)
            # The client closes first (no TIME_WAIT here to matter).
            recv_exact(s, 1)
            s.close()
        ls.close()
    else:
        for turns in conns:
            s = socket.create_connection((host, port))
            run_conn(s, turns, me)
            time.sleep(0.05)
            s.close()
            time.sleep(0.1)


if __name__ == "__main__":
    main()
