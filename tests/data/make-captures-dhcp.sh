#!/usr/bin/env bash
# Makes tests/data/dhcp-dnsmasq.pcap: dnsmasq as the DHCP server in one
# network namespace, clients in another (veth pair, 10.65.0.0/24), and
# records tshark's DHCP counts in dhcp-dnsmasq.expected.json, which
# tests/dhcp_corpus.rs compares with spanlens' events.
#
# Traffic: busybox udhcpc takes a lease (DISCOVER, OFFER, REQUEST, ACK,
# broadcast from 0.0.0.0; the DISCOVER retransmitted), then RELEASE; from an
# address the client sets itself (10.65.0.250, outside the pool), a
# unicast REQUEST for that address (dnsmasq, authoritative, answers NAK)
# and an INFORM (answered by ACK), both sent by a few lines of Python.
#
# Needs root (ip netns), dnsmasq, busybox udhcpc, python3, tcpdump, tshark, jq.
# Usage: tests/data/make-captures-dhcp.sh [OUT_DIR]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$(cd "${1:-$here}" && pwd)"
s="sip-dhcps-$$"
c="sip-dhcpc-$$"
work="$(mktemp -d)"
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$s" 2>/dev/null || true
    ip netns del "$c" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for tool in ip dnsmasq udhcpc python3 tcpdump tshark jq; do
    command -v "$tool" >/dev/null || { echo "make-captures-dhcp: missing $tool" >&2; exit 1; }
done

ip netns add "$s"
ip netns add "$c"
ip link add "dhs$$" type veth peer name "dhc$$"
ip link set "dhs$$" netns "$s"
ip link set "dhc$$" netns "$c"
ip link set dev "dhc$$" netns "$c" address 52:54:00:65:00:02 2>/dev/null || ip -n "$c" link set "dhc$$" address 52:54:00:65:00:02
ip -n "$s" addr add 10.65.0.1/24 dev "dhs$$"
for ns in "$s" "$c"; do ip -n "$ns" link set lo up; done
ip -n "$s" link set "dhs$$" up
ip -n "$c" link set "dhc$$" up
ip netns exec "$s" ethtool -K "dhs$$" tx off >/dev/null 2>&1 || true
ip netns exec "$c" ethtool -K "dhc$$" tx off >/dev/null 2>&1 || true

ip netns exec "$s" dnsmasq --no-daemon --port=0 --interface="dhs$$" --bind-interfaces \
    --dhcp-authoritative --dhcp-range=10.65.0.50,10.65.0.60,255.255.255.0,1h \
    --dhcp-option=option:router,10.65.0.1 --dhcp-option=option:dns-server,10.65.0.1,10.65.0.2 \
    --dhcp-option=option:domain-name,lab.test --dhcp-leasefile="$work/leases" \
    --pid-file="$work/dnsmasq.pid" --log-dhcp 2>"$work/dnsmasq.log" &
pids+=($!)
sleep 1

ip netns exec "$s" tcpdump -i "dhs$$" -s 0 -U --immediate-mode -w "$work/cap.pcap" "udp port 67 or udp port 68" 2>"$work/tcpdump.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.err" && break; sleep 0.1; done

# A lease (dnsmasq pings the address before offering it, so udhcpc
# retransmits its DISCOVER and gets an OFFER for each). The script does
# not configure the interface.
ip netns exec "$c" udhcpc -i "dhc$$" -f -q -n -t 5 -T 1 -x hostname:labclient \
    -s /bin/true >"$work/udhcpc.log" 2>&1

leased="$(sed -n 's/.*lease of \([0-9.]*\) obtained.*/\1/p' "$work/udhcpc.log" | head -1)"
[ -n "$leased" ] || { echo "make-captures-dhcp: udhcpc got no lease" >&2; cat "$work/udhcpc.log" >&2; exit 1; }
ip -n "$c" addr add "$leased/24" dev "dhc$$"
ip -n "$c" addr add 10.65.0.250/24 dev "dhc$$"
ip netns exec "$c" python3 - "dhc$$" "$leased" <<'PY'
import socket, struct, sys, time
mac = bytes.fromhex("525400650002")
me = socket.inet_aton("10.65.0.250")
def msg(xid, mtype, ciaddr, opts=b""):
    h = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0,
                    ciaddr, b"\0" * 4, b"\0" * 4, b"\0" * 4, mac, b"", b"")
    return h + bytes([99, 130, 83, 99, 53, 1, mtype]) + opts + b"\xff"
def send(sock, m, wait):
    sock.sendto(m, ("10.65.0.1", 67))
    if wait:
        try:
            sock.recvfrom(1500)
        except socket.timeout:
            pass
    time.sleep(0.2)
# RELEASE of the lease udhcpc took (no reply by design).
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.setsockopt(socket.SOL_SOCKET, 25, sys.argv[1].encode())
r.bind((sys.argv[2], 68))
send(r, msg(0x7e1ea5e, 7, socket.inet_aton(sys.argv[2]), bytes([54, 4, 10, 65, 0, 1])), False)
r.close()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, 25, sys.argv[1].encode())  # SO_BINDTODEVICE
s.bind(("10.65.0.250", 68))
s.settimeout(2)
for xid, mtype, opts in [
    (0x5ca1ab1e, 3, bytes([50, 4]) + me),          # REQUEST (renewing) -> NAK
    (0x0ddba11, 8, bytes([55, 3, 1, 3, 6])),       # INFORM -> ACK
]:
    send(s, msg(xid, mtype, me, opts), True)
PY
sleep 1
kill "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true

cap="$out/dhcp-dnsmasq.pcap"
cp "$work/cap.pcap" "$cap"
types() { tshark -r "$cap" -Y dhcp -T fields -e dhcp.option.dhcp 2>/dev/null; }
jq -n \
    --arg sha "$(sha256sum "$cap" | cut -d' ' -f1)" \
    --argjson packets "$(tshark -r "$cap" 2>/dev/null | wc -l)" \
    --argjson by_type "$(types | jq -R 'tonumber' | jq -s 'group_by(.) | map({(.[0] | tostring): length}) | add // {}')" \
    --argjson xids "$(tshark -r "$cap" -Y dhcp -T fields -e dhcp.id 2>/dev/null | sort -u | wc -l)" \
    --argjson client_messages "$(tshark -r "$cap" -Y 'dhcp.type == 1' -T fields -e dhcp.id -e dhcp.option.dhcp 2>/dev/null | sort -u | wc -l)" \
    --arg mac "$(tshark -r "$cap" -Y dhcp -T fields -e dhcp.hw.mac_addr 2>/dev/null | sort -u | head -1)" \
    --argjson assigned "$(tshark -r "$cap" -Y 'dhcp.option.dhcp == 5 && dhcp.ip.your != 0.0.0.0' -T fields -e dhcp.ip.your 2>/dev/null | jq -R . | jq -s .)" \
    --argjson lease "$(tshark -r "$cap" -Y 'dhcp.option.dhcp == 5' -T fields -e dhcp.option.ip_address_lease_time 2>/dev/null | grep . | head -1 || echo null)" \
    '{sha256: $sha, packets: $packets, messages_by_type: $by_type, transaction_ids: $xids,
      distinct_client_messages: $client_messages,
      client_mac: $mac, ack_assigned: $assigned, lease_time: $lease}' \
    >"$out/dhcp-dnsmasq.expected.json"
echo "make-captures-dhcp: wrote $cap"
