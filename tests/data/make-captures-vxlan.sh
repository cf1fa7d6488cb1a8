#!/usr/bin/env bash
# Makes the real VXLAN captures in tests/data/: two network namespaces
# joined by a veth underlay (10.98.0.0/24), a Linux vxlan device in each
# (VNI 4242, UDP 4789) carrying an overlay (10.97.0.0/24), nginx in one,
# curl in the other. tcpdump records the same requests twice: on the
# underlay (VXLAN-encapsulated) and on the overlay interface itself (plain).
# Addresses exist only inside the namespaces created here.
#
# Also, in the same namespaces, fragmented traffic on the overlay's own
# underlay: `ping -s 3000` (IPv4 and IPv6 ICMP fragments) and a 3000-byte
# UDP datagram, recorded on the underlay (fragments.pcap).
#
# Captures:
#   vxlan_underlay.pcap  the curl/nginx requests as the underlay sees them
#   vxlan_overlay.pcap   the same requests on the overlay interface
#   fragments.pcap       IPv4/IPv6 ping and UDP with fragments
#
# Usage (root; needs ip, nginx, curl, tcpdump, ping, python3):
#   tests/data/make-captures-vxlan.sh [OUTDIR]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE}"
NS_S=slvx-srv
NS_C=slvx-cli
die() { echo "make-captures-vxlan: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in ip nginx curl tcpdump ping python3; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
WORK="$(mktemp -d /tmp/spanlens-vxlan.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do if [[ -n $p ]]; then kill "$p" 2>/dev/null || true; fi; done
    if [[ -f $WORK/nginx.pid ]]; then kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
    ip netns del $NS_S 2>/dev/null || true
    ip netns del $NS_C 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns del $NS_S 2>/dev/null || true
ip netns del $NS_C 2>/dev/null || true
ip netns add $NS_S
ip netns add $NS_C
ip link add slvx-u-s type veth peer name slvx-u-c
ip link set slvx-u-s netns $NS_S
ip link set slvx-u-c netns $NS_C
S() { ip netns exec $NS_S "$@"; }
C() { ip netns exec $NS_C "$@"; }
for ns in $NS_S $NS_C; do
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
S ip addr add 10.98.0.1/24 dev slvx-u-s
C ip addr add 10.98.0.2/24 dev slvx-u-c
S ip addr add fd98::1/64 dev slvx-u-s nodad
C ip addr add fd98::2/64 dev slvx-u-c nodad
S ip link set slvx-u-s up
C ip link set slvx-u-c up
S ip link add vx0 type vxlan id 4242 local 10.98.0.1 remote 10.98.0.2 dstport 4789 dev slvx-u-s
C ip link add vx0 type vxlan id 4242 local 10.98.0.2 remote 10.98.0.1 dstport 4789 dev slvx-u-c
S ip addr add 10.97.0.1/24 dev vx0
C ip addr add 10.97.0.2/24 dev vx0
S ip link set vx0 up
C ip link set vx0 up

mkdir -p "$WORK/www" "$WORK/tmp"
echo "<html><body>spanlens over vxlan</body></html>" >"$WORK/www/index.html"
head -c 5000 /dev/zero | tr '\0' 'v' >"$WORK/www/big.txt"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    server { listen 10.97.0.1:80; root $WORK/www; }
}
EOF
S nginx -c "$WORK/nginx.conf"
sleep 0.5

S tcpdump -i slvx-u-s -U -s 0 -w "$WORK/under.pcap" udp port 4789 2>/dev/null & PIDS+=($!)
S tcpdump -i vx0 -U -s 0 -w "$WORK/over.pcap" tcp port 80 2>/dev/null & PIDS+=($!)
sleep 1
C curl -s -o /dev/null http://10.97.0.1/
C curl -s -o /dev/null -o /dev/null http://10.97.0.1/big.txt http://10.97.0.1/missing
C curl -s -o /dev/null -X POST -d 'a=1' http://10.97.0.1/index.html
sleep 1
kill "${PIDS[@]}"; wait 2>/dev/null || true
PIDS=()

S tcpdump -i slvx-u-s -U -s 0 -w "$WORK/frag.pcap" 'ip or ip6' 2>/dev/null & PIDS+=($!)
sleep 1
C ping -c 2 -s 3000 10.98.0.1 >/dev/null
C ping -6 -c 2 -s 3000 fd98::1 >/dev/null
C python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'u' * 3000, ('10.98.0.1', 9999))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.sendto(b'w' * 3000, ('fd98::1', 9999))
"
sleep 1
kill "${PIDS[@]}"; wait 2>/dev/null || true
PIDS=()
cp "$WORK/under.pcap" "$OUT/vxlan_underlay.pcap"
cp "$WORK/over.pcap" "$OUT/vxlan_overlay.pcap"
cp "$WORK/frag.pcap" "$OUT/fragments.pcap"
ls -l "$OUT"/vxlan_underlay.pcap "$OUT"/vxlan_overlay.pcap "$OUT"/fragments.pcap
