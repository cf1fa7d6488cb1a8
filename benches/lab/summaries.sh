#!/usr/bin/env bash
# What summaries and sampling save a busy link's Elasticsearch, and what the
# report built from the cluster costs (README, "A farm of sensors").
#
#   benches/lab/summaries.sh [CAPTURE]
#
# CAPTURE is lab wrk traffic (default benches/captures/http_wrk_small.pcap
# from benches/lab/make-captures.sh; when absent this script records its
# own: nginx + wrk, 64 keep-alive connections, WRK_SECONDS (default 5) in two
# network namespaces es-bsrv/es-bcli, 10.213.0.0/24, root needed).
# It replays the capture into a real node (ES_URL, else one started with
# ES_PORT=9270 tests/elasticsearch.sh start and stopped at the end) twice:
#   full      every event indexed
#   farm      summaries = true, sample_ok = 0.1 (errors and >= 500 ms kept)
# and prints documents and bytes indexed (primary store after a refresh and
# force-merge) per hour of the capture's traffic, the time of the report
# built from the cluster (from the events' aggregations and from the
# summaries), and the time of the report from summaries over one day
# (8,640 ten-second intervals: the farm run's summary documents copied to
# every interval of a day, then `spanlens report --es --source summaries`).
# Release build: cargo build --release (the script builds it).
set -euo pipefail
cd "$(dirname "$0")/../.."

CAP="${1:-benches/captures/http_wrk_small.pcap}"
ES_PORT="${ES_PORT:-9270}"
BIN="${CARGO_TARGET_DIR:-target}/release/spanlens"
WORK="$(mktemp -d)"
started_es=""
say() { echo "summaries.sh: $*" >&2; }

cleanup() {
    ip netns del es-bsrv 2>/dev/null || true
    ip netns del es-bcli 2>/dev/null || true
    if [[ -n "${NGINX_PID:-}" ]]; then kill "$NGINX_PID" 2>/dev/null || true; fi
    if [[ -n "$started_es" ]]; then ES_PORT="$ES_PORT" tests/elasticsearch.sh stop || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

record() {
    # nginx in es-bsrv (10.213.0.1), wrk in es-bcli (10.213.0.2), tcpdump on the client side.
    [[ "$(id -u)" == 0 ]] || { say "recording a capture needs root"; exit 1; }
    ip netns add es-bsrv
    ip netns add es-bcli
    ip link add es-bs type veth peer name es-bc
    ip link set es-bs netns es-bsrv
    ip link set es-bc netns es-bcli
    ip -n es-bsrv addr add 10.213.0.1/24 dev es-bs
    ip -n es-bcli addr add 10.213.0.2/24 dev es-bc
    for ns in es-bsrv es-bcli; do ip -n "$ns" link set lo up; done
    ip -n es-bsrv link set es-bs up mtu 1500
    ip -n es-bcli link set es-bc up mtu 1500
    ip netns exec es-bsrv ethtool -K es-bs gro off gso off tso off tx off >/dev/null 2>&1 || true
    ip netns exec es-bcli ethtool -K es-bc gro off gso off tso off tx off >/dev/null 2>&1 || true
    mkdir -p "$WORK/www" "$WORK/nginx"
    head -c 128 /dev/zero | tr '\0' 'a' >"$WORK/www/index.html"
    chmod 755 "$WORK" "$WORK/www"
    chmod 644 "$WORK/www/index.html"
    cat >"$WORK/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $WORK/nginx/pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 10.213.0.1:80; root $WORK/www; }
}
EOF
    ip netns exec es-bsrv nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
    NGINX_PID=$!
    sleep 1
    mkdir -p "$(dirname "$CAP")"
    ip netns exec es-bcli tcpdump -q -i es-bc -s 0 -w "$CAP" tcp port 80 2>/dev/null &
    local td=$!
    sleep 1
    ip netns exec es-bcli wrk -t 2 -c 64 -d "${WRK_SECONDS:-5}s" http://10.213.0.1/ >"$WORK/wrk.txt"
    sleep 1
    kill "$td"; wait "$td" 2>/dev/null || true
    kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
    say "recorded $CAP: $(grep -E 'Requests/sec' "$WORK/wrk.txt")"
}

[[ -s "$CAP" ]] || record
cargo build --release -q
if [[ -z "${ES_URL:-}" ]]; then
    ES_URL="$(ES_PORT="$ES_PORT" tests/elasticsearch.sh start)"
    started_es=1
fi
ES_URL="${ES_URL%/}"
j() { curl -fsS -H 'Content-Type: application/json' "$@"; }

# Seconds of traffic in the capture (first to last packet).
secs="$(capinfos -aeTS "$CAP" | awk -F'\t' 'NR==2 {print $3 - $2}')"
say "capture $CAP: ${secs}s of traffic"

run() {
    local name="$1" extra="$2"
    curl -fsS -X DELETE "$ES_URL/bs-$name-*" >/dev/null || true
    cat >"$WORK/$name.toml" <<EOF
[observer]
name = "lab"
[output.elasticsearch]
index = "bs-$name-ev-%{+yyyy.MM.dd}"
summaries_index = "bs-$name-sum-%{+yyyy.MM.dd}"
template_name = "bs-$name"
replicas = 0
spool_dir = ""
dead_letter = ""
$extra
EOF
    local t0 t1
    t0=$(date +%s.%N)
    "$BIN" replay -q --no-progress -c "$WORK/$name.toml" --es "$ES_URL" --stats-json "$WORK/$name.json" "$CAP"
    t1=$(date +%s.%N)
    j -X POST "$ES_URL/bs-$name-*/_refresh" >/dev/null
    j -X POST "$ES_URL/bs-$name-*/_forcemerge?max_num_segments=1" >/dev/null
    local docs bytes
    docs=$(j "$ES_URL/bs-$name-*/_count" | sed -E 's/.*"count":([0-9]+).*/\1/')
    bytes=$(j "$ES_URL/bs-$name-*/_stats/store" | python3 -c 'import json,sys; print(json.load(sys.stdin)["_all"]["primaries"]["store"]["size_in_bytes"])')
    python3 - "$name" "$docs" "$bytes" "$secs" "$t0" "$t1" <<'EOF'
import sys
name, docs, b, secs, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
h = 3600.0 / secs
print(f"{name:5s}: {docs:,} documents, {b:,} bytes on disk; per hour of this traffic: {docs*h:,.0f} documents, {b*h/1e9:,.2f} GB (replay {t1-t0:.2f}s)")
EOF
}

run full ""
run farm "summaries = true
sample_ok = 0.1
sample_slow = \"500ms\""

report() {
    local name="$1" source="$2" t0 t1
    t0=$(date +%s.%N)
    "$BIN" report --es "$ES_URL" --index "bs-$name-ev-*" --summaries-index "bs-$name-sum-*" \
        --source "$source" -o "$WORK/$name-$source.html" 2>"$WORK/report.log"
    t1=$(date +%s.%N)
    echo "report from $source ($name run): $(python3 -c "print(f'{$t1-$t0:.2f}')")s; $(cat "$WORK/report.log")"
}
report full events
report farm summaries
report farm events

# One day of summaries: every summary document of the farm run copied to
# each 10 s interval of a day (8,640 intervals), bulk-indexed, then reported.
python3 - "$ES_URL" <<'EOF'
import json, sys, urllib.request, urllib.error
es = sys.argv[1]
import time
def call(method, path, body=None, ctype="application/json"):
    for attempt in range(20):
        req = urllib.request.Request(es + path, data=body, method=method, headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code != 429:
                raise
            time.sleep(1 + attempt)
    raise SystemExit("bulk: still 429 after 20 tries")
t = call("GET", "/_index_template/bs-farm-summary")["index_templates"][0]["index_template"]
t["index_patterns"] = ["bs-day-sum-*"]
t.pop("composed_of", None)
call("PUT", "/_index_template/bs-day-summary", json.dumps(t).encode())
hits = call("POST", "/bs-farm-sum-*/_search", json.dumps({"size": 1000}).encode())["hits"]["hits"]
docs = [h["_source"] for h in hits]
t0 = 1767225600  # 2026-01-01T00:00:00Z
import datetime
lines = []
n = 0
for i in range(8640):
    ts = datetime.datetime.fromtimestamp(t0 + 10 * i, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    for d in docs:
        d = dict(d)
        d["@timestamp"] = ts
        lines.append(json.dumps({"index": {"_index": "bs-day-sum-2026.01.01"}}))
        lines.append(json.dumps(d))
        n += 1
    if len(lines) >= 400 or i == 8639:
        call("POST", "/_bulk", ("\n".join(lines) + "\n").encode(), "application/x-ndjson")
        lines = []
call("POST", "/bs-day-sum-*/_refresh", b"")
print(f"day: {n:,} summary documents ({len(docs)} per interval) indexed", file=sys.stderr)
EOF
t0=$(date +%s.%N)
"$BIN" report --es "$ES_URL" --index "bs-day-ev-*" --summaries-index "bs-day-sum-*" --source summaries \
    -o "$WORK/day.html" 2>"$WORK/report.log"
t1=$(date +%s.%N)
echo "report over one day of summaries: $(python3 -c "print(f'{$t1-$t0:.2f}')")s; $(cat "$WORK/report.log")"
curl -fsS -X DELETE "$ES_URL/bs-*" >/dev/null || true
for t in bs-full bs-full-summary bs-farm bs-farm-summary bs-day-summary; do
    curl -fsS -X DELETE "$ES_URL/_index_template/$t" >/dev/null 2>&1 || true
done
