#!/usr/bin/env bash
# Makes the small committed test captures in tests/data/ from real servers
# and real clients, and writes an oracle file (<name>.expected.json) beside
# each capture with the values tshark computes from it.
#
# Two network namespaces (server and client) are joined by a veth pair with
# MTU 1500 and segmentation/receive offloads off, so the capture holds wire
# sized segments with valid checksums. Addresses: 10.99.0.0/24 and fd99::/64,
# inside the namespaces only; nothing touches the host's own interfaces.
#
# Captures:
#   http_sample.pcap  nginx + curl: GET, HEAD, POST, 404, 405, 301, 304,
#                     a 20 KB body, gzip (chunked) and keep-alive
#                     connections carrying several requests. The README's
#                     bundled sample: kept under 100 KB.
#   flows_sample.pcap a few TCP connections on port 9000 (socat echo server,
#                     data both ways, one multi-segment), one refused
#                     connection (SYN, RST) on port 9001, one IPv6 TCP
#                     connection on port 9000 and a UDP exchange on port 9999.
#   http_ipv6.pcap    nginx + curl over IPv6: two requests on one connection.
#
# Usage (root; needs ip, ethtool, nginx, curl, socat, tcpdump, tshark,
# capinfos, python3):
#   tests/data/make-captures.sh [OUTDIR]     # default: the script's directory
#
# FIXTURE_HOLD=SECONDS pauses after the servers start (for debugging with
# `ip netns exec slfx-cli ...`).
#
# Idempotent: leftover namespaces from an earlier run are removed first, and
# a trap removes namespaces, servers and temporary files on every exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE}"
NS_S=slfx-srv
NS_C=slfx-cli
IF_S=slfx-s
IF_C=slfx-c
SRV4=10.99.0.1
CLI4=10.99.0.2
SRV6=fd99::1
CLI6=fd99::2

die() { echo "make-captures: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, tcpdump)"
for tool in ip ethtool nginx curl socat tcpdump tshark capinfos python3; do
    command -v "$tool" >/dev/null || die "missing tool: $tool (apt-get install ${tool})"
done

# One run at a time: a second run would delete this run's namespaces.
exec 9>/run/lock/spanlens-test-captures.lock
flock -n 9 || die "another make-captures.sh run holds /run/lock/spanlens-test-captures.lock"

WORK="$(mktemp -d /tmp/spanlens-fixtures.XXXXXX)"
chmod 755 "$WORK"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -f $WORK/nginx.pid ]]; then
        kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    fi
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_C" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

setup_netns() {
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_C" 2>/dev/null || true
    ip netns add "$NS_S"
    ip netns add "$NS_C"
    ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_C" netns "$NS_C"
    local ns dev addr4 addr6
    for ns in "$NS_S" "$NS_C"; do
        if [[ $ns == "$NS_S" ]]; then dev=$IF_S addr4=$SRV4 addr6=$SRV6; else dev=$IF_C addr4=$CLI4 addr6=$CLI6; fi
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ip netns exec "$ns" ip link set lo up
        ip netns exec "$ns" ip link set "$dev" mtu 1500
        # Wire-sized segments and software checksums: what a SPAN port sees.
        ip netns exec "$ns" ethtool -K "$dev" gro off gso off tso off tx off >/dev/null 2>&1 ||
            ip netns exec "$ns" ethtool -K "$dev" gro off gso off tso off >/dev/null
        ip netns exec "$ns" ip addr add "$addr4/24" dev "$dev"
        ip netns exec "$ns" ip -6 addr add "$addr6/64" dev "$dev" nodad
        ip netns exec "$ns" ip link set "$dev" up
    done
    # Wait for both ends to report carrier (no ping needed).
    local _
    for _ in $(seq 1 50); do
        if in_s cat "/sys/class/net/$IF_S/operstate" | grep -qx up &&
            in_c cat "/sys/class/net/$IF_C/operstate" | grep -qx up; then
            return 0
        fi
        sleep 0.1
    done
    die "veth link did not come up"
}

start_nginx() {
    local root=$WORK/www
    mkdir -p "$root/api" "$WORK/nginx-tmp"
    cat >"$root/index.html" <<'EOF'
<!DOCTYPE html>
<html><head><title>spanlens sample</title><link rel="stylesheet" href="/style.css"></head>
<body><h1>spanlens</h1><p>A small page served by nginx for the bundled capture.</p>
<script src="/app.js"></script></body></html>
EOF
    cat >"$root/style.css" <<'EOF'
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; }
EOF
    # Repetitive, so gzip shrinks it and the response is chunked.
    awk 'BEGIN { for (i = 0; i < 60; i++) printf "function f%d(x) { return x + %d; }\n", i, i }' >"$root/app.js"
    # Exactly 20480 bytes: 320 lines of 64 bytes.
    awk 'BEGIN { for (i = 0; i < 320; i++) { s = sprintf("%05d spanlens sample payload line ", i); while (length(s) < 63) s = s "."; print s } }' >"$root/big.txt"
    chmod -R a+rX "$root"
    cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $WORK/nginx-tmp/body;
    proxy_temp_path $WORK/nginx-tmp/proxy;
    fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
    scgi_temp_path $WORK/nginx-tmp/scgi;
    types { text/html html; text/css css; application/javascript js; text/plain txt; }
    default_type application/octet-stream;
    keepalive_timeout 30s;
    if_modified_since before;
    gzip on;
    gzip_min_length 100;
    gzip_types application/javascript text/css;
    server {
        listen $SRV4:80;
        listen [$SRV6]:80;
        root $root;
        location = /old-page { return 301 /index.html; }
        location = /api/login {
            default_type application/json;
            return 200 '{"ok":true,"user":"alice"}\n';
        }
    }
}
EOF
    ip netns exec "$NS_S" nginx -c "$WORK/nginx.conf" &
    PIDS+=($!)
    local _
    for _ in $(seq 1 50); do
        in_c curl -s --noproxy '*' -o /dev/null "http://$SRV4/index.html" && return 0
        sleep 0.1
    done
    die "nginx did not start (see $WORK/nginx-error.log)"
}

start_socat() {
    # `ip netns exec` execs its command, so $! is the server's own pid
    # (a function run in the background would be a subshell instead).
    ip netns exec "$NS_S" socat TCP4-LISTEN:9000,bind=$SRV4,reuseaddr,fork EXEC:cat &
    PIDS+=($!)
    ip netns exec "$NS_S" socat "TCP6-LISTEN:9000,bind=[$SRV6],reuseaddr,fork,ipv6only=1" EXEC:cat &
    PIDS+=($!)
    ip netns exec "$NS_S" socat UDP4-RECVFROM:9999,bind=$SRV4,reuseaddr,fork EXEC:cat &
    PIDS+=($!)
    sleep 0.3
}

# capture_start FILE FILTER: tcpdump on the client side of the pair.
TCPDUMP_PID=
capture_start() {
    local file=$1 filter=$2
    rm -f "$file" "$WORK/tcpdump.err"
    ip netns exec "$NS_C" tcpdump -i "$IF_C" -s 0 -U --immediate-mode -Z root -w "$file" "$filter" 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    PIDS+=("$TCPDUMP_PID")
    local _
    for _ in $(seq 1 50); do
        grep -q "listening on" "$WORK/tcpdump.err" 2>/dev/null && return 0
        sleep 0.1
    done
    die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"
}

capture_stop() {
    # Let the last ACKs and FINs arrive. Without --immediate-mode packets
    # would wait in a kernel ring block that SIGTERM does not drain.
    sleep 1
    # SIGTERM, not SIGINT: background jobs of a script ignore SIGINT.
    kill -TERM "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    grep -E 'captured|dropped' "$WORK/tcpdump.err" | tr '\n' ' ' >&2
    echo >&2
}

# Bodies are not kept: -o /dev/null covers the first URL, and the redirect in
# fetch() the later ones on a keep-alive connection.
CURL=(curl -sS --noproxy '*' -o /dev/null)
fetch() { ip netns exec "$NS_C" "${CURL[@]}" "$@" >/dev/null; }

http_traffic() {
    local u="http://$SRV4"
    fetch "$u/"                                      # GET / -> 200
    fetch -I "$u/index.html"                         # HEAD -> 200
    fetch "$u/big.txt"                               # 20 KB body -> 200
    fetch "$u/missing.html"                          # -> 404
    fetch -d 'user=alice&pass=secret' "$u/api/login" # POST form -> 200
    fetch "$u/index.html" "$u/style.css"             # keep-alive: 2 on 1 conn
    fetch "$u/old-page"                              # -> 301
    fetch -X POST -d 'x=1' "$u/index.html"           # POST to a file -> 405
    fetch "$u/app.js" "$u/nope.js" "$u/big.txt"      # keep-alive: 200, 404, 200
    fetch "$u/index.html?user=alice&lang=en"         # query string -> 200
    fetch -H 'If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT' "$u/style.css" # -> 304
    fetch --compressed "$u/app.js"                   # gzip, chunked -> 200
}

flow_traffic() {
    # Three IPv4 connections with data both ways (echoed); the second spans
    # several segments.
    printf 'hello from flow one\n' | in_c socat -t 0.3 - "TCP4:$SRV4:9000" >/dev/null
    head -c 4000 /dev/zero | tr '\0' 'a' | in_c socat -t 0.3 - "TCP4:$SRV4:9000" >/dev/null
    printf 'third\n' | in_c socat -t 0.3 - "TCP4:$SRV4:9000" >/dev/null
    # A refused connection: SYN answered by RST.
    in_c socat -T 1 /dev/null "TCP4:$SRV4:9001" 2>/dev/null || true
    # IPv6.
    printf 'hello over ipv6\n' | in_c socat -t 0.3 - "TCP6:[$SRV6]:9000" >/dev/null
    # UDP request and echoed reply.
    printf 'udp ping\n' | in_c socat -t 0.3 - "UDP4:$SRV4:9999" >/dev/null
}

http6_traffic() {
    fetch -g "http://[$SRV6]/index.html" "http://[$SRV6]/missing6.html"
}

write_oracle() {
    local pcap=$1
    python3 "$HERE/oracle.py" "$pcap" >"${pcap%.pcap}.expected.json"
}

main() {
    mkdir -p "$OUT"
    setup_netns
    start_nginx
    start_socat
    if [[ -n ${FIXTURE_HOLD:-} ]]; then echo "holding for debugging"; sleep "$FIXTURE_HOLD"; fi

    capture_start "$WORK/http_sample.pcap" "tcp port 80"
    http_traffic
    capture_stop

    capture_start "$WORK/flows_sample.pcap" "tcp or (udp port 9999)"
    flow_traffic
    capture_stop

    capture_start "$WORK/http_ipv6.pcap" "tcp port 80"
    http6_traffic
    capture_stop

    local f
    for f in http_sample flows_sample http_ipv6; do
        cp "$WORK/$f.pcap" "$OUT/$f.pcap"
        write_oracle "$OUT/$f.pcap"
        echo "$OUT/$f.pcap: $(capinfos -c -M "$OUT/$f.pcap" | awk -F': *' '/Number of packets/ {print $2}') packets, $(stat -c %s "$OUT/$f.pcap") bytes"
    done
    local size
    size=$(stat -c %s "$OUT/http_sample.pcap")
    [[ $size -lt 102400 ]] || die "http_sample.pcap is $size bytes, over the 100 KB budget"
}

main "$@"
