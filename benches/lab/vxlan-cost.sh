#!/usr/bin/env bash
# Decapsulation cost in the capture thread, measured in instructions with
# callgrind: a real wrk run (nginx, 128-byte responses, keep-alive, 16
# connections) over a Linux VXLAN overlay between two network namespaces,
# recorded at once on the underlay (VXLAN-wrapped) and on the overlay
# interface (the same traffic unwrapped); `spanlens replay -w 1` of each
# under callgrind, instructions of the capture thread (thread 1: libpcap
# read, decode, filter, flow hash, batching) divided by its packets.
#
# The figure printed is the honest one: the capture thread's instructions
# on an empty capture of the same link type (start-up) are subtracted, and
# so are those under RawVecInner::finish_grow (a batch buffer growing: how
# often a fresh batch is needed depends on when the worker hands batches
# back, i.e. on thread scheduling, not on the packets).
#
# Usage (root to record; needs ip, nginx, wrk, tcpdump, valgrind, a release build):
#   cargo build --release && benches/lab/vxlan-cost.sh [SECONDS]
# Environment:
#   KEEP=DIR      keep the two captures (under.pcap, over.pcap) and the callgrind files in DIR
#   PCAPS=DIR     measure DIR/under.pcap and DIR/over.pcap instead of recording (no root needed)
#   MAIN_BIN=BIN  also measure the unwrapped capture with BIN (e.g. main's release build)
#   FLOOR=FILE    also measure FILE (plain traffic): the capture thread per packet
#                 against the floor, `tcpdump -r FILE -w /dev/null` per packet
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${SPANLENS_BIN:-${CARGO_TARGET_DIR:-$HERE/target}/release/spanlens}"
DUR="${1:-1}"
[[ -x $BIN ]] || { echo "build first: cargo build --release" >&2; exit 1; }
WORK="$(mktemp -d /tmp/spanlens-vxcost.XXXXXX)"
chmod 755 "$WORK"
NS_S=slvc-srv; NS_C=slvc-cli
cleanup() {
    if [[ -z ${PCAPS:-} ]]; then
        if [[ -f $WORK/nginx.pid ]]; then kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
        ip netns del $NS_S 2>/dev/null || true; ip netns del $NS_C 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

record() {
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
        for i in slvc-u-s slvc-u-c vx0; do ip netns exec "$ns" ethtool -K $i tso off gso off gro off 2>/dev/null || true; done
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
    kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    ip netns del $NS_S; ip netns del $NS_C
}

if [[ -n ${PCAPS:-} ]]; then
    cp "$PCAPS/under.pcap" "$PCAPS/over.pcap" "$WORK/"
else
    record
fi
[[ -n ${KEEP:-} ]] && mkdir -p "$KEEP" && cp "$WORK/under.pcap" "$WORK/over.pcap" "$KEEP/"

packets() { capinfos -c -M "$1" | awk '/Number of packets/ {print $NF}'; }

# Thread 1's instructions of `BIN replay -w 1` of a capture, and those
# under finish_grow (inclusive).
measure() { # bin pcap tag -> "total grow"
    local bin=$1 pcap=$2 out="$WORK/cg.$3"
    (cd "$WORK" && valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
        "$bin" replay -q --no-progress -w 1 -o /dev/null "$pcap" >/dev/null 2>&1)
    local ir grow
    ir=$(grep -h "^summary:\|^totals:" "$out-01" | head -1 | awk '{print $2}')
    grow=$(callgrind_annotate --inclusive=yes --threshold=100 "$out-01" 2>/dev/null |
        awk '/RawVecInner.*finish_grow/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')
    [[ -n ${KEEP:-} ]] && cp "$out-01" "$KEEP/"
    echo "$ir $grow"
}

# Start-up: an empty capture with the same file header (link type Ethernet).
head -c 24 "$WORK/over.pcap" >"$WORK/empty.pcap"
honest() { # bin pcap tag -> per-packet figure (one decimal) and its parts
    local n ir grow e_ir e_grow
    n=$(packets "$2")
    read -r ir grow < <(measure "$1" "$2" "$3")
    read -r e_ir e_grow < <(measure "$1" "$WORK/empty.pcap" "$3.empty")
    awk -v ir="$ir" -v g="$grow" -v e="$e_ir" -v eg="$e_grow" -v n="$n" \
        'BEGIN { printf "%.1f %d %d %d %d\n", (ir - g - (e - eg)) / n, n, ir, g, e - eg }'
}

report() { # label bin pcap tag
    local per n ir g e
    read -r per n ir g e < <(honest "$2" "$3" "$4")
    printf '%-34s %8d packets, thread 1 %11d instr, growth %8d, start-up %8d: %7.1f per packet\n' \
        "$1" "$n" "$ir" "$g" "$e" "$per" >&2
    echo "$per"
}

over=$(report "unwrapped (overlay)" "$BIN" "$WORK/over.pcap" over)
under=$(report "VXLAN-wrapped (underlay)" "$BIN" "$WORK/under.pcap" under)
awk -v o="$over" -v u="$under" 'BEGIN { printf "decapsulation: %+.1f instructions per packet, %+.1f%% over unwrapped (target <= +15%%)\n", u - o, (u - o) * 100 / o }'
if [[ -n ${MAIN_BIN:-} ]]; then
    mover=$(report "unwrapped, MAIN_BIN" "$MAIN_BIN" "$WORK/over.pcap" main.over)
    awk -v o="$over" -v m="$mover" 'BEGIN { printf "plain traffic vs MAIN_BIN: %+.1f instructions per packet (%+.2f%%)\n", o - m, (o - m) * 100 / m }'
fi
if [[ -n ${FLOOR:-} ]]; then
    plain=$(report "$(basename "$FLOOR")" "$BIN" "$FLOOR" floorcap)
    n=$(packets "$FLOOR")
    (cd "$WORK" && valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.tcpdump" \
        tcpdump -Z root -r "$FLOOR" -w /dev/null >/dev/null 2>&1)
    fir=$(grep -h "^summary:\|^totals:" "$WORK/cg.tcpdump" | head -1 | awk '{print $2}')
    awk -v p="$plain" -v f="$fir" -v n="$n" 'BEGIN { printf "floor (tcpdump -r F -w /dev/null): %.1f instructions per packet; capture thread %.1f = %.2fx the floor\n", f / n, p, p * n / f }'
fi
