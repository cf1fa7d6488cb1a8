#!/usr/bin/env bash
# Makes tests/data/tls-nginx.pcap with a real server (nginx) and real
# clients (curl, openssl s_client) inside a private network namespace
# (loopback only, MTU 1500 so handshakes span segments), and records what
# tshark and openssl say about it in tls-nginx.expected.json, which
# tests/tls_corpus.rs compares with spanlens' events.
#
# A self-signed server certificate and a client certificate are made here
# with openssl (nothing from outside). Connections, all to port 443 unless
# said otherwise:
#   1  curl, TLS 1.2 only, ALPN h2
#   2  curl, TLS 1.3, ALPN h2
#   3-4  curl, TLS 1.2, two connections in one run: the second resumes the
#        session (ticket)
#   5-6  curl, TLS 1.3, the same: the second resumes with a PSK
#   7  curl offering only a cipher the server refuses: handshake_failure alert
#   8  curl, TLS 1.2 to port 8443, where nginx asks for a client certificate
#      and curl sends one (client certificate in clear)
#   9  openssl s_client, TLS 1.2 without SNI nor ALPN, to port 8443,
#      no client certificate
#
# Needs root (ip netns), nginx, curl, openssl, tcpdump, tshark, jq.
# Usage: tests/data/make-captures-tls.sh [OUT_DIR]
set -euo pipefail

out="$(cd "${1:-$(dirname "$0")}" && pwd)"
ns="spanlens-tls-$$"
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

for tool in ip nginx curl openssl tcpdump tshark jq; do
    command -v "$tool" >/dev/null || { echo "make-captures-tls: missing $tool" >&2; exit 1; }
done

ip netns add "$ns"
ip netns exec "$ns" ip link set lo mtu 1500
ip netns exec "$ns" ip link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

# Certificates: a server certificate with two SANs, a client certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
    -keyout "$work/server.key" -out "$work/server.crt" \
    -subj "/C=US/ST=California/O=spanlens test/OU=capture/CN=tls.spanlens.test" \
    -addext "subjectAltName=DNS:tls.spanlens.test,DNS:localhost,IP:127.0.0.1" \
    -set_serial 0x5EA1F00D 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$work/client.key" -out "$work/client.crt" \
    -subj "/O=spanlens test/CN=client" -set_serial 77 2>/dev/null

mkdir -p "$work/tmp" "$work/www"
echo "hello over tls" >"$work/www/index.html"
cat >"$work/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    ssl_certificate $work/server.crt;
    ssl_certificate_key $work/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384;
    ssl_session_cache shared:tls:1m;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:443 ssl http2;
        root $work/www;
    }
    server {
        listen 127.0.0.1:8443 ssl;
        ssl_verify_client optional_no_ca;
        root $work/www;
    }
}
EOF
# Background jobs use `ip netns exec` directly (it execs the program), so
# $! is the program's own pid.
ip netns exec "$ns" nginx -c "$work/nginx.conf" &
pids+=($!)
for _ in $(seq 50); do
    in_ns curl -sk -o /dev/null https://127.0.0.1/ && break
    sleep 0.1
done

ip netns exec "$ns" tcpdump -i lo -s 0 -U --immediate-mode -w "$work/cap.pcap" "tcp port 443 or tcp port 8443" 2>"$work/tcpdump.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.err" && break; sleep 0.1; done

url=https://tls.spanlens.test
res=(--resolve tls.spanlens.test:443:127.0.0.1 --resolve tls.spanlens.test:8443:127.0.0.1 -sk -o /dev/null)
in_ns curl "${res[@]}" --http2 --tlsv1.2 --tls-max 1.2 "$url/"
in_ns curl "${res[@]}" --http2 --tlsv1.3 "$url/"
in_ns curl "${res[@]}" --http1.1 --tlsv1.2 --tls-max 1.2 -H "Connection: close" "$url/" "$url/index.html"
in_ns curl "${res[@]}" --http1.1 --tlsv1.3 -H "Connection: close" "$url/" "$url/index.html"
in_ns curl "${res[@]}" --tlsv1.2 --tls-max 1.2 --ciphers AES256-SHA256 "$url/" || true
in_ns curl "${res[@]}" --tlsv1.2 --tls-max 1.2 --cert "$work/client.crt" --key "$work/client.key" "$url:8443/"
in_ns openssl s_client -connect 127.0.0.1:8443 -tls1_2 -noservername </dev/null >/dev/null 2>&1 || true
sleep 1
kill "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true

cp "$work/cap.pcap" "$out/tls-nginx.pcap"
cap="$out/tls-nginx.pcap"

# Per TCP stream, in stream order: what tshark decodes of the handshake.
field() { # field FILTER FIELD: "stream<TAB>value" lines
    tshark -r "$cap" -Y "$1" -T fields -e tcp.stream -e "$2" 2>/dev/null
}
streams=$(tshark -r "$cap" -Y "tls.handshake.type == 1" -T fields -e tcp.stream 2>/dev/null | sort -n | uniq)
fp() { openssl x509 -in "$1" -noout -fingerprint "-$2" | sed 's/.*=//; s/://g'; }
{
    echo '{'
    echo "  \"sha256\": \"$(sha256sum "$cap" | cut -c1-64)\","
    echo "  \"client_hellos\": $(tshark -r "$cap" -Y 'tls.handshake.type == 1' 2>/dev/null | wc -l),"
    echo "  \"server_cert\": {\"sha1\": \"$(fp "$work/server.crt" sha1)\", \"sha256\": \"$(fp "$work/server.crt" sha256)\", \"serial\": \"$(openssl x509 -in "$work/server.crt" -noout -serial | sed 's/.*=//; s/^0*//')\", \"subject\": \"$(openssl x509 -in "$work/server.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')\"},"
    echo "  \"client_cert\": {\"sha1\": \"$(fp "$work/client.crt" sha1)\", \"subject\": \"$(openssl x509 -in "$work/client.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')\"},"
    echo '  "streams": ['
    first=1
    for s in $streams; do
        pick() { field "tcp.stream == $s && $1" "$2" | head -1 | cut -f2; }
        ja3=$(pick "tls.handshake.type == 1" tls.handshake.ja3)
        ja3s=$(pick "tls.handshake.type == 2" tls.handshake.ja3s)
        sni=$(pick "tls.handshake.type == 1" tls.handshake.extensions_server_name)
        port=$(pick "tls.handshake.type == 1" tcp.dstport)
        cipher=$(pick "tls.handshake.type == 2" tls.handshake.ciphersuite)
        ver=$(pick "tls.handshake.type == 2" tls.handshake.extensions.supported_version)
        alpn=$(pick "tls.handshake.type == 2" tls.handshake.extensions_alpn_str)
        alerts=$(field "tcp.stream == $s && tls.alert_message.desc" tls.alert_message.desc | cut -f2 | paste -sd, -)
        certs=$(field "tcp.stream == $s && tls.handshake.type == 11" tls.handshake.certificate_length | cut -f2 | paste -sd, -)
        [[ $first == 1 ]] || echo ','
        first=0
        printf '    {"stream": %s, "port": %s, "ja3": "%s", "ja3s": "%s", "sni": "%s", "cipher": "%s", "tls13": %s, "alpn": "%s", "alerts": [%s], "certificate_messages": "%s"}' \
            "$s" "$port" "$ja3" "$ja3s" "$sni" "$cipher" "$([[ $ver == 0x0304 ]] && echo true || echo false)" "$alpn" "$alerts" "$certs"
    done
    echo
    echo '  ]'
    echo '}'
} | jq . >"$out/tls-nginx.expected.json"
echo "wrote $cap ($(stat -c %s "$cap") bytes) and tls-nginx.expected.json"
