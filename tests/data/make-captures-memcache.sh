#!/usr/bin/env bash
# Makes tests/data/memcache-tools.pcap with a real server (memcached) and
# real clients (libmemcached-tools: memccp, memccat, memcexist, memctouch,
# memcrm, memcstat, memcflush) inside a private network namespace (loopback
# only), text and binary protocol over TCP and stores over UDP, and records
# tshark's memcache dissector counts in memcache-tools.expected.json, which
# tests/memcache_corpus.rs compares with spanlens' events. (tshark 4.0 does
# not dissect the text `touch` command; the test counts it on its own.)
#
# Needs root (ip netns), memcached, libmemcached-tools, tcpdump, tshark, jq.
# Usage: tests/data/make-captures-memcache.sh [OUT_DIR]
set -euo pipefail

out="$(cd "${1:-$(dirname "$0")}" && pwd)"
ns="spanlens-mc-$$"
work="$(mktemp -d)"
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for tool in ip memcached memccp memccat tcpdump tshark jq; do
    command -v "$tool" >/dev/null || { echo "make-captures-memcache: missing $tool" >&2; exit 1; }
done

ip netns add "$ns"
ip netns exec "$ns" ip link set lo mtu 1500
ip netns exec "$ns" ip link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

# Background jobs use `ip netns exec` directly (it execs the program), so
# $! is the program's own pid.
ip netns exec "$ns" memcached -u nobody -l 127.0.0.1 -p 11211 -U 11211 -m 16 &
pids+=($!)
for _ in $(seq 50); do in_ns memcstat --servers=127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done

ip netns exec "$ns" tcpdump -i lo -s 0 -U --immediate-mode -w "$work/cap.pcap" "port 11211" 2>"$work/tcpdump.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.err" && break; sleep 0.1; done

cd "$work"
printf 'small value\n' >k-small
head -c 3000 /dev/zero | tr '\0' 'v' >k-big
srv=(--servers=127.0.0.1:11211)
for mode in "" "--binary"; do
    # shellcheck disable=SC2086
    in_ns memccp "${srv[@]}" $mode --flags=7 --expire=600 k-small k-big
    # shellcheck disable=SC2086
    in_ns memccat "${srv[@]}" $mode k-small k-big >/dev/null
    # shellcheck disable=SC2086
    in_ns memccat "${srv[@]}" $mode no-such-key >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    in_ns memcexist "${srv[@]}" $mode k-small || true
    # shellcheck disable=SC2086
    in_ns memctouch "${srv[@]}" $mode --expire=900 k-small || true
    # shellcheck disable=SC2086
    in_ns memcrm "${srv[@]}" $mode k-small
    # shellcheck disable=SC2086
    in_ns memcrm "${srv[@]}" $mode k-small 2>/dev/null || true
    # shellcheck disable=SC2086
    in_ns memcstat "${srv[@]}" $mode >/dev/null
done
in_ns memcflush "${srv[@]}"
in_ns memccp "${srv[@]}" --udp k-small
in_ns memccp "${srv[@]}" --udp --binary k-small || true
sleep 1
kill "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true
cd - >/dev/null

cp "$work/cap.pcap" "$out/memcache-tools.pcap"
cap="$out/memcache-tools.pcap"
count() { tshark -r "$cap" -Y "$1" -T fields -e frame.number 2>/dev/null | wc -l; }
lines() { tshark -r "$cap" -Y "$1" -T fields -e "$2" 2>/dev/null | tr ',' '\n' | grep -v '^$' | sort | uniq -c | awk '{printf "%s\"%s\": %s", (n++ ? ", " : ""), $2, $1}'; }
{
    echo '{'
    echo "  \"sha256\": \"$(sha256sum "$cap" | cut -c1-64)\","
    echo "  \"tcp_text_commands\": {$(lines 'tcp.dstport == 11211 && memcache.command' memcache.command)},"
    echo "  \"tcp_binary_requests\": {$(lines 'tcp && memcache.magic == 0x80' memcache.opcode)},"
    echo "  \"tcp_binary_responses\": {$(lines 'tcp && memcache.magic == 0x81' memcache.status)},"
    echo "  \"udp_datagrams_to_server\": $(count 'udp.dstport == 11211'),"
    echo "  \"udp_datagrams_from_server\": $(count 'udp.srcport == 11211')"
    echo '}'
} | jq . >"$out/memcache-tools.expected.json"
echo "wrote $cap ($(stat -c %s "$cap") bytes) and memcache-tools.expected.json"
