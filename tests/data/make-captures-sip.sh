#!/usr/bin/env bash
# Makes tests/data/sip-sipp-udp.pcap and sip-sipp-tcp.pcap with sipp
# (Debian sip-tester): a UAC in one network namespace calling a UAS in
# another (veth pair, 10.65.0.1 -> 10.65.0.2:5060), and records tshark's
# SIP counts in sip-sipp-{udp,tcp}.expected.json, which tests/sip_corpus.rs
# compares with spanlens' events.
#
# UDP: 3 calls with sipp's built-in uac/uas scenarios (INVITE, 100, 180,
# 200, ACK, BYE, 200), 1 call answered 486 Busy Here (tests/data/sip/
# uac-busy.xml, uas-busy.xml), 1 OPTIONS never answered, retransmitted
# until the UAC gives up (uac-unanswered.xml, uas-silent.xml).
# TCP: 2 built-in calls and 1 busy call over one connection each.
#
# Needs root (ip netns), sipp, tcpdump, tshark, jq.
# Usage: tests/data/make-captures-sip.sh [OUT_DIR]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$(cd "${1:-$here}" && pwd)"
a="sip-uac-$$"
b="sip-uas-$$"
work="$(mktemp -d)"
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for tool in ip sipp tcpdump tshark jq; do
    command -v "$tool" >/dev/null || { echo "make-captures-sip: missing $tool" >&2; exit 1; }
done

ip netns add "$a"
ip netns add "$b"
ip link add "sipa$$" type veth peer name "sipb$$"
ip link set "sipa$$" netns "$a"
ip link set "sipb$$" netns "$b"
ip -n "$a" addr add 10.65.0.1/24 dev "sipa$$"
ip -n "$b" addr add 10.65.0.2/24 dev "sipb$$"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "sipa$$" up
ip -n "$b" link set "sipb$$" up
ip netns exec "$a" ethtool -K "sipa$$" tx off gso off gro off tso off >/dev/null 2>&1 || true
ip netns exec "$b" ethtool -K "sipb$$" tx off gso off gro off tso off >/dev/null 2>&1 || true

uac() { # transport scenario-args...
    local t="$1"; shift
    ip netns exec "$a" timeout 30 sipp 10.65.0.2:5060 -t "$t" -i 10.65.0.1 -p 5070 -nostdin \
        -trace_err -error_file "$work/err.log" "$@" >/dev/null 2>&1 || true
}

capture() { # name
    ip netns exec "$b" tcpdump -i "sipb$$" -s 0 -U --immediate-mode -w "$work/$1.pcap" "port 5060" 2>"$work/$1.err" &
    pids+=($!)
    for _ in $(seq 50); do grep -q "listening on" "$work/$1.err" && break; sleep 0.1; done
}
stop_capture() {
    sleep 1
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
    unset 'pids[-1]'
}

cd "$work"
# Each UAS exits after its calls (-m).
capture udp
ip netns exec "$b" timeout 60 sipp -sn uas -t u1 -i 10.65.0.2 -p 5060 -m 3 -nostdin >/dev/null 2>&1 &
sleep 0.5
uac u1 -sn uac -m 3 -d 200 -l 1
wait $! 2>/dev/null || true
ip netns exec "$b" timeout 20 sipp -sf "$here/sip/uas-busy.xml" -t u1 -i 10.65.0.2 -p 5060 -m 1 -nostdin >/dev/null 2>&1 &
sleep 0.5
uac u1 -sf "$here/sip/uac-busy.xml" -m 1
wait $! 2>/dev/null || true
ip netns exec "$b" timeout 20 sipp -sf "$here/sip/uas-silent.xml" -t u1 -i 10.65.0.2 -p 5060 -m 1 -nostdin >/dev/null 2>&1 &
sleep 0.5
uac u1 -sf "$here/sip/uac-unanswered.xml" -m 1
wait $! 2>/dev/null || true
stop_capture

capture tcp
ip netns exec "$b" timeout 60 sipp -sn uas -t t1 -i 10.65.0.2 -p 5060 -m 2 -nostdin >/dev/null 2>&1 &
sleep 0.5
uac t1 -sn uac -m 2 -d 200 -l 1
wait $! 2>/dev/null || true
ip netns exec "$b" timeout 20 sipp -sf "$here/sip/uas-busy.xml" -t t1 -i 10.65.0.2 -p 5060 -m 1 -nostdin >/dev/null 2>&1 &
sleep 0.5
uac t1 -sf "$here/sip/uac-busy.xml" -m 1
wait $! 2>/dev/null || true
stop_capture
cd - >/dev/null

for t in udp tcp; do
    cap="$out/sip-sipp-$t.pcap"
    cp "$work/$t.pcap" "$cap"
    fields() { local f="$1"; shift; tshark -r "$cap" -Y "$f" -T fields "$@" 2>/dev/null; }
    # Requests by method (first transmissions), final responses by code,
    # provisional responses, retransmissions (tshark's sip.resend).
    jq -n \
        --arg sha "$(sha256sum "$cap" | cut -d' ' -f1)" \
        --argjson packets "$(tshark -r "$cap" 2>/dev/null | wc -l)" \
        --argjson methods "$(fields 'sip.Method && sip.resend == 0' -e sip.Method | jq -R . | jq -s 'group_by(.) | map({(.[0]): length}) | add // {}')" \
        --argjson finals "$(fields 'sip.Status-Code >= 200 && sip.resend == 0' -e sip.Status-Code | jq -R . | jq -s 'group_by(.) | map({(.[0]): length}) | add // {}')" \
        --argjson provisional "$(tshark -r "$cap" -Y 'sip.Status-Code < 200 && sip.resend == 0' 2>/dev/null | wc -l)" \
        --argjson resent "$(tshark -r "$cap" -Y 'sip.resend == 1' 2>/dev/null | wc -l)" \
        --argjson call_ids "$(fields 'sip.Method == "INVITE" && sip.resend == 0' -e sip.Call-ID | sort -u | wc -l)" \
        '{sha256: $sha, packets: $packets, requests_by_method: $methods, final_responses_by_code: $finals,
          provisional_responses: $provisional, retransmissions: $resent, invite_call_ids: $call_ids}' \
        >"$out/sip-sipp-$t.expected.json"
done
echo "make-captures-sip: wrote $out/sip-sipp-udp.pcap and $out/sip-sipp-tcp.pcap"
