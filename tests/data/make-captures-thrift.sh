#!/usr/bin/env bash
# Makes thrift-py.pcap: thriftpy2 (PyPI) servers and a client in a private
# network namespace (rpc-thrift), one server per layout: binary socket
# (9090), binary framed (9091), compact socket (9092), compact framed
# (9093). The client calls ping, add, echo (a string), divide by zero (a
# declared exception), a oneway call, and a method the server does not
# have (TApplicationException UNKNOWN_METHOD) on each. Then writes
# thrift-py.expected.json: tshark's count of calls and replies per port.
# Needs root, iproute2, tcpdump, tshark, python3 with thriftpy2.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=rpc-thrift
work=$(mktemp -d)
trap 'ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del $ns 2>/dev/null; rm -rf "$work"' EXIT
ip netns add $ns
ip -n $ns link set lo up

cat >"$work/calc.thrift" <<'IDL'
exception DivideByZero { 1: i32 code, 2: string why }
service Calc {
  void ping(),
  i32 add(1: i32 a, 2: i32 b),
  string echo(1: string s, 2: list<i16> l, 3: map<string, bool> m),
  double divide(1: double a, 2: double b) throws (1: DivideByZero err),
  oneway void note(1: string text),
}
IDL
# The client's view has one more method, which the server lacks.
sed 's/^}$/  i32 missing(1: i32 x),\n}/' "$work/calc.thrift" >"$work/calc_client.thrift"

cat >"$work/server.py" <<'PY'
import sys, thriftpy2
from thriftpy2.rpc import make_server
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.transport import TBufferedTransportFactory, TFramedTransportFactory
calc = thriftpy2.load(sys.argv[1], module_name="calc_thrift")
class H:
    def ping(self): pass
    def add(self, a, b): return a + b
    def echo(self, s, l, m): return s
    def divide(self, a, b):
        if b == 0:
            raise calc.DivideByZero(code=7, why="b is zero")
        return a / b
    def note(self, text): pass
port = int(sys.argv[2])
proto = TCompactProtocolFactory() if sys.argv[3] == "compact" else TBinaryProtocolFactory()
trans = TFramedTransportFactory() if sys.argv[4] == "framed" else TBufferedTransportFactory()
make_server(calc.Calc, H(), "127.0.0.1", port, proto_factory=proto, trans_factory=trans).serve()
PY

cat >"$work/client.py" <<'PY'
import sys, time, thriftpy2
from thriftpy2.rpc import make_client
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.transport import TBufferedTransportFactory, TFramedTransportFactory
from thriftpy2.thrift import TApplicationException
calc = thriftpy2.load(sys.argv[1], module_name="calc_thrift")
port = int(sys.argv[2])
proto = TCompactProtocolFactory() if sys.argv[3] == "compact" else TBinaryProtocolFactory()
trans = TFramedTransportFactory() if sys.argv[4] == "framed" else TBufferedTransportFactory()
c = make_client(calc.Calc, "127.0.0.1", port, proto_factory=proto, trans_factory=trans)
c.ping()
assert c.add(2, 40) == 42
c.echo("héllo", [1, -2, 3], {"x": True})
try:
    c.divide(1.0, 0.0)
except calc.DivideByZero:
    pass
c.note("fire and forget")
try:
    c.missing(1)
except TApplicationException:
    pass
assert c.divide(9.0, 3.0) == 3.0
c.close()
PY

ip netns exec $ns tcpdump -i lo -w "$work/cap.pcap" -U 'tcp portrange 9090-9093' 2>/dev/null &
sleep 1
layouts=("9090 binary socket" "9091 binary framed" "9092 compact socket" "9093 compact framed")
for l in "${layouts[@]}"; do
  # shellcheck disable=SC2086
  ip netns exec $ns python3 "$work/server.py" "$work/calc.thrift" $l &
done
sleep 2
for l in "${layouts[@]}"; do
  # shellcheck disable=SC2086
  ip netns exec $ns python3 "$work/client.py" "$work/calc_client.thrift" $l
done
sleep 1
kill %1
wait %1 2>/dev/null || true
cp "$work/cap.pcap" "$here/thrift-py.pcap"

# tshark's view: calls (CALL and ONEWAY) and replies (REPLY and EXCEPTION) per port.
python3 - "$here/thrift-py.pcap" "$here/thrift-py.expected.json" <<'PY'
import hashlib, json, subprocess, sys
pcap, out = sys.argv[1], sys.argv[2]
res = {"sha256": hashlib.sha256(open(pcap, "rb").read()).hexdigest(), "ports": {}}
for port in range(9090, 9094):
    t = subprocess.run(["tshark", "-r", pcap, "-d", f"tcp.port=={port},thrift", "-Y", f"thrift && tcp.port=={port}",
                        "-T", "fields", "-e", "thrift.mtype", "-e", "thrift.method"],
                       capture_output=True, text=True, check=True).stdout
    calls, replies, exceptions = {}, 0, 0
    for line in t.splitlines():
        types, methods = line.split("\t")
        for ty, m in zip(types.split(","), methods.split(",")):
            if ty in ("0x01", "0x04"):
                calls[m] = calls.get(m, 0) + 1
            elif ty == "0x02":
                replies += 1
            elif ty == "0x03":
                exceptions += 1
    res["ports"][str(port)] = {"calls": calls, "replies": replies, "exceptions": exceptions}
json.dump(res, open(out, "w"), indent=1, sort_keys=True)
print(json.dumps(res, indent=1))
PY
