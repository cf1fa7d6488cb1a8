#!/usr/bin/env bash
# Live capture benchmark: tcpreplay replays a capture onto one end of a veth
# pair at set rates while `spanlens live` captures the other end (inside a
# network namespace); for each rate and worker count it prints what was
# sent, what spanlens saw, and the kernel and queue drops.
#
#   sudo benches/live.sh [CAPTURE]            (default benches/captures/http_wrk_small.pcap)
#   RATES="100 500 1000 topspeed" WORKERS="1 2" sudo benches/live.sh
#
# Needs root, iproute2 and tcpreplay (installed with apt-get when missing),
# and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."

pcap="${1:-benches/captures/http_wrk_small.pcap}"
rates="${RATES:-100 300 1000 topspeed}"
workers="${WORKERS:-1 2}"
bin="${BIN:-target/release/spanlens}"
ns="slbench$$"
out="$(mktemp -d)"

[[ $(id -u) -eq 0 ]] || { echo "live.sh: needs root (network namespaces)" >&2; exit 1; }
[[ -f "$pcap" ]] || { echo "live.sh: no capture $pcap (run benches/lab/make-captures.sh)" >&2; exit 1; }
[[ -x "$bin" ]] || { echo "live.sh: no $bin (run cargo build --release)" >&2; exit 1; }
command -v tcpreplay >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpreplay >/dev/null

cleanup() {
    ip link del slb0 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$out"
}
trap cleanup EXIT

ip netns add "$ns"
ip link add slb0 type veth peer name slb1
ip link set slb1 netns "$ns"
ip link set slb0 up
ip -n "$ns" link set slb1 up

printf '%-8s %-9s %10s %10s %12s %10s %10s\n' workers rate sent seen kernel_drop queue_drop Mbit/s
for w in $workers; do
    for r in $rates; do
        ip netns exec "$ns" "$bin" live -i slb1 -q -w "$w" -o /dev/null --stats-interval 0s \
            --stats-json "$out/stats.json" &
        pid=$!
        sleep 1
        if [[ "$r" == topspeed ]]; then
            rate_arg=(--topspeed)
        else
            rate_arg=("--mbps=$r")
        fi
        tcpreplay -q -i slb0 "${rate_arg[@]}" "$pcap" >"$out/replay.txt" 2>&1 || true
        sleep 2
        kill -TERM "$pid"
        wait "$pid" || true
        sent=$(grep -oE 'Actual: [0-9]+ packets' "$out/replay.txt" | grep -oE '[0-9]+' || echo "?")
        mbps=$(grep -oE '[0-9.]+ Mbps' "$out/replay.txt" | head -1 | grep -oE '[0-9.]+' || echo "?")
        read -r seen kdrop qdrop < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
c = s.get("capture", {})
print(c.get("packets", 0), c.get("kernel_dropped", 0), c.get("queue_dropped_packets", 0))' "$out/stats.json")
        printf '%-8s %-9s %10s %10s %12s %10s %10s\n' "$w" "$r" "$sent" "$seen" "$kdrop" "$qdrop" "$mbps"
    done
done
