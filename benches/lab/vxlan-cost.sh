#!/usr/bin/env bash
# Decapsulation cost in the capture thread, measured in instructions with
# callgrind: a real wrk run (nginx, 128-byte responses, keep-alive, 16
# connections) over a Linux VXLAN overlay between two network namespaces,
# recorded at once on the underlay (VXLAN-wrapped) and on the overlay
# interface (the same traffic unwrapped); `spanlens replay -w 1` of each
# under callgrind, instructions of the capture thread (thread 1: libpcap
# read, decode, filter, flow hash, batching) divided by its packets.
#
# Usage (root; needs ip, nginx, wrk, tcpdump, valgrind, a release build):
#   cargo build --release && benches/lab/vxlan-cost.sh [SECONDS]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${SPANLENS_BIN:-${CARGO_TARGET_DIR:-$HERE/target}/release/spanlens}"
DUR="${1:-1}"
[[ -x $BIN ]] || { echo "build first: cargo build --release" >&2; exit 1; }
WORK="$(mktemp -d /tmp/spanlens-vxcost.XXXXXX)"
chmod 755 "$WORK"
NS_S=slvc-srv; NS_C=slvc-cli
cleanup() {
    [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    ip netns del $NS_S 2>/dev/null || true; ip netns del $NS_C 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns del $NS_S 2>/dev/null || true; ip netns del $NS_C 2>/dev/null || true
ip netns add $NS_S; ip netns add $NS_C
ip link add slvc-u-s type veth peer name slvc-u-c
ip link set slvc-u-s netns $NS_S; ip link set slvc-u-c netns $NS_C
S() { ip netns exec $NS_S "$@"; }; C() { ip netns exec $NS_C "$@"; }
S ip link set lo up; C ip link set lo up
S ip addr add 10.96.0.1/24 dev slvc-u-s; C ip addr add 10.96.0.2/24 dev slvc-u-c
S ip link set slvc-u-s up; C ip link set slvc-u-c up
S ip link add vx0 type vxlan id 77 local 10.96.0.1 remote 10.96.0.2 dstport 4789 dev slvc-u-s
C ip link add vx0 type vxlan id 77 local 10.96.0.2 remote 10.96.0.1 dstport 4789 dev slvc-u-c
S ip addr add 10.95.0.1/24 dev vx0; C ip addr add 10.95.0.2/24 dev vx0
S ip link set vx0 up; C ip link set vx0 up
for ns in $NS_S $NS_C; do
    for i in slvc-u-s slvc-u-c vx0; do ip netns exec $ns ethtool -K $i tso off gso off gro off 2>/dev/null || true; done
done
mkdir -p "$WORK/www" "$WORK/tmp"; head -c 128 /dev/zero | tr '\0' 's' >"$WORK/www/small.txt"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1; daemon on; pid $WORK/nginx.pid; error_log $WORK/error.log;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $WORK/tmp/b; proxy_temp_path $WORK/tmp/p;
  fastcgi_temp_path $WORK/tmp/f; uwsgi_temp_path $WORK/tmp/u; scgi_temp_path $WORK/tmp/s;
  server { listen 10.95.0.1:80; root $WORK/www; keepalive_requests 100000; } }
EOF
S nginx -c "$WORK/nginx.conf"; sleep 0.5
S tcpdump -i slvc-u-s -U -s 0 -w "$WORK/under.pcap" udp port 4789 2>/dev/null & P1=$!
S tcpdump -i vx0 -U -s 0 -w "$WORK/over.pcap" tcp port 80 2>/dev/null & P2=$!
sleep 1
C wrk -t1 -c16 -d"${DUR}s" http://10.95.0.1/small.txt >/dev/null
sleep 1; kill $P1 $P2; wait $P1 $P2 2>/dev/null || true
for cap in over under; do
    n=$(capinfos -c -M "$WORK/$cap.pcap" | awk '/Number of packets/ {print $NF}')
    (cd "$WORK" && valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$WORK/cg.$cap" \
        "$BIN" replay -q --no-progress -w 1 -o /dev/null "$WORK/$cap.pcap" >/dev/null 2>&1)
    ir=$(grep -h "^summary:\|^totals:" "$WORK/cg.$cap-01" | head -1 | awk '{print $2}')
    [[ -n ${KEEP:-} ]] && cp "$WORK/$cap.pcap" "$WORK/cg.$cap-01" "$KEEP/"
    echo "$cap: $n packets, capture thread $ir instructions, $((ir / n)) per packet"
done
