#!/usr/bin/env python3
"""tshark's view of a DNS/ICMP capture, as JSON (the oracle the DNS and ICMP
capture tests compare spanlens with).

  dns.messages        one row per DNS message (frame, transport, ports
                      [src, dst], id, response, rcode, truncated, qname,
                      qtype, answers, authorities, additionals, response_to,
                      answered); tshark also decodes DNS on other ports
                      (the queries to the closed port 5399)
  dns.queries / dns.responses
                      messages with dns.flags.response 0 / 1
  dns.answered        queries tshark pairs with a response (dns.response_in)
  dns.rcodes          histogram of response codes over responses
  icmp.echo_requests / icmp.echo_replies / icmp.echo_pairs
                      ICMPv4 + ICMPv6 echo requests, replies, and requests
                      with icmp(v6).resp_in; icmp.unanswered: requests with
                      no_resp; icmp.errors: unreachable / time exceeded rows
                      (frame, version, type, code)
"""
import hashlib
import json
import subprocess
import sys

path = sys.argv[1]
fields = [
    "frame.number", "udp.srcport", "tcp.srcport", "dns.id", "dns.flags.response",
    "dns.flags.rcode", "dns.flags.truncated", "dns.qry.name", "dns.qry.type",
    "dns.count.answers", "dns.count.auth_rr", "dns.count.add_rr", "dns.response_to",
    "dns.response_in", "udp.dstport", "tcp.dstport",
]
cmd = ["tshark", "-2", "-r", path, "-n", "-Y", "dns and not icmp and not icmpv6", "-T", "fields", "-E", "separator=\t",
       "-E", "occurrence=a", "-E", "aggregator=|"]
for f in fields:
    cmd += ["-e", f]
msgs = []
for line in subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines():
    v = line.split("\t")
    # A TCP segment may carry several messages: tshark aggregates with '|'.
    parts = [x.split("|") for x in v]
    n = max(len(p) for p in parts[3:5])
    for i in range(n):
        def g(k, default=""):
            p = parts[k]
            return p[i] if i < len(p) else (p[0] if len(p) == 1 and k < 3 else default)
        msgs.append({
            "frame": int(v[0]),
            "transport": "udp" if v[1] else "tcp",
            "id": int(g(3), 0) if g(3) else None,
            "response": g(4) in ("1", "True"),
            "rcode": int(g(5)) if g(5) else 0,
            "truncated": g(6) in ("1", "True"),
            "qname": g(7),
            "qtype": int(g(8)) if g(8) else None,
            "answers": int(g(9)) if g(9) else 0,
            "authorities": int(g(10)) if g(10) else 0,
            "additionals": int(g(11)) if g(11) else 0,
            "response_to": int(g(12)) if g(12) else None,
            "answered": bool(g(13)),
            "ports": [int(v[1] or v[2]), int(v[14] or v[15])],
        })
queries = [m for m in msgs if not m["response"]]
responses = [m for m in msgs if m["response"]]
rcodes = {}
for m in responses:
    rcodes[str(m["rcode"])] = rcodes.get(str(m["rcode"]), 0) + 1

icmp_fields = ["frame.number", "icmp.type", "icmp.code", "icmp.resp_in", "icmp.no_resp",
               "icmpv6.type", "icmpv6.code", "icmpv6.resp_in", "icmpv6.no_resp"]
cmd = ["tshark", "-2", "-r", path, "-n", "-Y", "icmp or icmpv6", "-T", "fields", "-E", "separator=\t",
       "-E", "occurrence=f"]
for f in icmp_fields:
    cmd += ["-e", f]
req = rep = pairs = unanswered = 0
errors = []
for line in subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines():
    v = line.split("\t")
    if v[1]:
        ver, t, c, resp_in, no_resp = 4, int(v[1]), int(v[2]), v[3], v[4]
        is_req, is_rep, is_err = t == 8, t == 0, t in (3, 11)
    else:
        ver, t, c, resp_in, no_resp = 6, int(v[5]), int(v[6]), v[7], v[8]
        is_req, is_rep, is_err = t == 128, t == 129, t in (1, 3)
    req += is_req
    rep += is_rep
    pairs += bool(is_req and resp_in)
    unanswered += bool(is_req and not resp_in)
    if is_err:
        errors.append({"frame": int(v[0]), "version": ver, "type": t, "code": c})

with open(path, "rb") as f:
    sha = hashlib.sha256(f.read()).hexdigest()
json.dump({
    "file": path.rsplit("/", 1)[-1],
    "sha256": sha,
    "dns": {
        "messages": msgs,
        "queries": len(queries),
        "responses": len(responses),
        "answered": sum(1 for m in queries if m["answered"]),
        "rcodes": rcodes,
        "truncated_responses": sum(1 for m in responses if m["truncated"]),
    },
    "icmp": {
        "echo_requests": req,
        "echo_replies": rep,
        "echo_pairs": pairs,
        "unanswered": unanswered,
        "errors": errors,
    },
}, sys.stdout, indent=1)
print()
