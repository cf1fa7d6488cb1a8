#!/usr/bin/env bash
# Elasticsearch ingest: spanlens against a plain bulk loader sending the same
# documents into the same node (issue 18, target 3; README "Into
# Elasticsearch").
#
#   benches/lab/es-ingest.sh [CAPTURE]
#
# CAPTURE defaults to /work/perf-captures/http_wrk_small.pcap (lab nginx/wrk
# traffic from benches/lab/make-captures.sh, about 150k transactions).
#
# 1. The documents: `spanlens replay CAPTURE --es` into a stand-in node
#    (benches/lab/es_capture_server.py on 127.0.0.1:CAPTURE_PORT) that
#    records the `_bulk` bodies, so the loader sends exactly spanlens's
#    bytes: action lines with spanlens's deterministic `_id`s, and sources.
# 2. Interleaved runs (loader, spanlens, loader, spanlens, ...), RUNS times
#    per setting, so both see the same machine load:
#    loader    the documents cut into bulks of BULK, sent by curl with
#              INFLIGHT requests in flight (xargs -P), gzipped (level 1,
#              before the clock starts) or not, with spanlens's `_id`s or
#              none (auto ids); time from the first request to the last
#              answer.
#    spanlens  `spanlens replay CAPTURE` with bulk_max_docs = BULK,
#              max_in_flight = INFLIGHT, compression, refresh_interval and
#              replicas = 0; wall time of the whole process (start-up,
#              decoding and the template check included).
#    Before each run the indices are deleted and the index template (the
#    one spanlens installs, with the setting's refresh_interval and
#    replicas = 0) is put back; after it the index is refreshed and its
#    count must equal the documents sent, else the run is reported FAILED.
# 3. A table: per setting, the loader's and spanlens's documents per
#    second (median and range of RUNS runs) and spanlens / loader.
#
# Settings: GRID=sweep (default: one knob at a time around 5,000 per bulk, 4
# in flight, gzip, default refresh) or GRID=full (every combination of bulk
# 1k/2k/5k/10k, 1/2/4/8 in flight, gzip on/off, refresh default/30s/-1,
# spanlens ids/auto ids: long), or POINTS="B:P:G:R:I ..." (bulk, in flight,
# gzip 1/0, refresh `default`/30s/-1, ids `own`/`auto`).
# Environment: ES_URL (a node to use; else one is started with
# ES_PORT=${ES_PORT:-9270} tests/elasticsearch.sh start and stopped at the
# end), RUNS (3), BIN (target/release/spanlens, or CARGO_TARGET_DIR's),
# CAPTURE_PORT (9279), OUT (a results file; default under the work dir).
# The indices (eslab-*) and the template (eslab) are removed at the end.
# No credentials: the node runs with security off on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."

CAP="${1:-/work/perf-captures/http_wrk_small.pcap}"
RUNS="${RUNS:-3}"
GRID="${GRID:-sweep}"
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/spanlens}"
CAPTURE_PORT="${CAPTURE_PORT:-9279}"
WORK="$(mktemp -d /tmp/es-ingest.XXXXXX)"
OUT="${OUT:-$WORK/results.tsv}"
PREFIX="eslab"
started_es=""
fake_pid=""
say() { echo "es-ingest.sh: $*" >&2; }

cleanup() {
    if [[ -n "$fake_pid" ]]; then kill "$fake_pid" 2>/dev/null || true; fi
    if [[ -n "${ES:-}" ]]; then
        curl -s -o /dev/null -X DELETE "$ES/$PREFIX-*" || true
        curl -s -o /dev/null -X DELETE "$ES/_index_template/$PREFIX" || true
    fi
    if [[ -n "$started_es" ]]; then ES_PORT="${ES_PORT:-9270}" tests/elasticsearch.sh stop || true; fi
    rm -rf "$WORK/chunks" "$WORK/spool" "$WORK"/*.ndjson
}
trap cleanup EXIT

[[ -x "$BIN" ]] || { say "no $BIN: cargo build --release --bin spanlens"; exit 1; }
[[ -r "$CAP" ]] || { say "no capture $CAP (benches/lab/make-captures.sh)"; exit 1; }

if [[ -n "${ES_URL:-}" ]]; then
    ES="$ES_URL"
elif ES="$(ES_PORT="${ES_PORT:-9270}" tests/elasticsearch.sh url 2>/dev/null)"; then
    say "using the node already running at $ES (left running)"
else
    ES="$(ES_PORT="${ES_PORT:-9270}" tests/elasticsearch.sh start)"
    started_es=1
fi

# spanlens config for one setting: cfg FILE HOST BULK INFLIGHT GZIP REFRESH
cfg() {
    local refresh_line=""
    [[ "$6" != default ]] && refresh_line="refresh_interval = \"$6\""
    cat >"$1" <<EOF
[output.elasticsearch]
hosts = ["$2"]
index = "$PREFIX-%{+yyyy.MM.dd}"
template_name = "$PREFIX"
replicas = 0
$refresh_line
bulk_max_docs = $3
bulk_max_bytes = 67108864
queue_max_bytes = 268435456
max_in_flight = $4
compression = $([[ "$5" == 1 ]] && echo true || echo false)
spool_dir = "$WORK/spool"
dead_letter = "$WORK/dead-letter.ndjson"
EOF
}

# 1. The documents, as spanlens sends them.
python3 benches/lab/es_capture_server.py "$CAPTURE_PORT" "$WORK/docs.ndjson" &
fake_pid=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$CAPTURE_PORT/" && break; sleep 0.1; done
cfg "$WORK/capture.toml" "http://127.0.0.1:$CAPTURE_PORT" 5000 1 0 default
"$BIN" replay -q -c "$WORK/capture.toml" -o elasticsearch "$CAP"
kill "$fake_pid"; wait "$fake_pid" 2>/dev/null || true; fake_pid=""
DOCS=$(($(wc -l <"$WORK/docs.ndjson") / 2))
INDEX="$(head -1 "$WORK/docs.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["create"]["_index"])')"
say "$DOCS documents of $CAP, $(du -m "$WORK/docs.ndjson" | cut -f1) MiB of bulk NDJSON, index $INDEX"
if [[ "$(grep -c '^{"create":{"_index":"'"$INDEX"'"' "$WORK/docs.ndjson")" != "$DOCS" ]]; then
    say "the capture spans more than one daily index; this script assumes one"
    exit 1
fi

# The template spanlens installs, kept to be put back with each setting.
curl -fsS -o /dev/null -X DELETE "$ES/_index_template/$PREFIX" 2>/dev/null || true
cfg "$WORK/tpl.toml" "$ES" 5000 1 1 default
"$BIN" replay -q -c "$WORK/tpl.toml" -o elasticsearch tests/data/http_sample.pcap >/dev/null
curl -fsS "$ES/_index_template/$PREFIX" >"$WORK/template.json"

# put_template REFRESH: the template with replicas 0 and REFRESH.
put_template() {
    python3 - "$WORK/template.json" "$1" >"$WORK/template-put.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["index_templates"][0]["index_template"]
idx = t["template"]["settings"].setdefault("index", {})
idx["number_of_replicas"] = "0"
idx.pop("refresh_interval", None)
if sys.argv[2] != "default":
    idx["refresh_interval"] = sys.argv[2]
print(json.dumps(t))
EOF
    curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/json' \
        --data-binary @"$WORK/template-put.json" "$ES/_index_template/$PREFIX"
}

reset_index() {
    curl -s -o /dev/null -X DELETE "$ES/$PREFIX-*"
    put_template "$1"
}

# count_docs: refreshes the index, prints its document count.
count_docs() {
    curl -s -o /dev/null -X POST "$ES/$INDEX/_refresh"
    curl -fsS "$ES/$INDEX/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}

# prepare BULK GZIP IDS: chunk files for the loader (outside the clock).
prepare() {
    local dir="$WORK/chunks/$1-$2-$3"
    [[ -d "$dir" ]] && { echo "$dir"; return; }
    mkdir -p "$dir"
    python3 - "$WORK/docs.ndjson" "$dir" "$1" "$2" "$3" "$INDEX" <<'EOF'
import gzip, sys
src, out, bulk, gz, ids, index = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5], sys.argv[6]
lines = open(src, "rb").read().split(b"\n")
auto = ('{"create":{"_index":"%s"}}' % index).encode()
pairs = [(lines[i] if ids == "own" else auto, lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
for n, s in enumerate(range(0, len(pairs), bulk)):
    body = b"".join(a + b"\n" + d + b"\n" for a, d in pairs[s:s + bulk])
    if gz:
        body = gzip.compress(body, 1)
    open("%s/%06d" % (out, n), "wb").write(body)
EOF
    echo "$dir"
}

now() { date +%s.%N; }

# run_loader BULK INFLIGHT GZIP REFRESH IDS: prints docs/s or FAILED.
run_loader() {
    local dir
    dir="$(prepare "$1" "$3" "$5")"
    reset_index "$4"
    local enc=()
    [[ "$3" == 1 ]] && enc=(-H 'Content-Encoding: gzip')
    local t0 t1
    t0="$(now)"
    find "$dir" -type f | sort | xargs -P "$2" -I{} curl -s -H 'Content-Type: application/x-ndjson' \
        "${enc[@]}" --data-binary @{} -w '\n' "$ES/_bulk?filter_path=errors" >"$WORK/loader.out"
    t1="$(now)"
    local n
    n="$(count_docs)"
    if [[ "$n" != "$DOCS" ]] || grep -q '"errors":true' "$WORK/loader.out"; then
        say "loader $*: $n of $DOCS indexed"; echo FAILED; return
    fi
    python3 -c "print(round($DOCS / ($t1 - $t0)))"
}

# run_spanlens BULK INFLIGHT GZIP REFRESH: prints docs/s or FAILED.
run_spanlens() {
    # The template is in place, as on a running sensor's cluster: spanlens
    # checks it (in the clock) and finds it current.
    reset_index "$4"
    rm -rf "$WORK/spool"
    cfg "$WORK/run.toml" "$ES" "$1" "$2" "$3" "$4"
    local t0 t1 rc=0
    t0="$(now)"
    "$BIN" replay -q -c "$WORK/run.toml" -o elasticsearch --stats-json "$WORK/stats.json" "$CAP" || rc=$?
    t1="$(now)"
    local n
    n="$(count_docs)"
    if [[ "$rc" != 0 || "$n" != "$DOCS" ]]; then
        say "spanlens $*: exit $rc, $n of $DOCS indexed"; echo FAILED; return
    fi
    python3 -c "print(round($DOCS / ($t1 - $t0)))"
}

case "$GRID" in
sweep)
    POINTS="${POINTS:-5000:4:1:default:own 1000:4:1:default:own 2000:4:1:default:own 10000:4:1:default:own
        5000:1:1:default:own 5000:2:1:default:own 5000:8:1:default:own 5000:4:0:default:own
        5000:4:1:30s:own 5000:4:1:-1:own 5000:4:1:default:auto}"
    ;;
full)
    POINTS=""
    for b in 1000 2000 5000 10000; do for p in 1 2 4 8; do for g in 1 0; do
        for r in default 30s -1; do for i in own auto; do POINTS+="$b:$p:$g:$r:$i "; done; done
    done; done; done
    ;;
*) say "GRID is sweep or full"; exit 2 ;;
esac

: >"$OUT"
for run in $(seq "$RUNS"); do
    for p in $POINTS; do
        IFS=: read -r b f g r i <<<"$p"
        l="$(run_loader "$b" "$f" "$g" "$r" "$i")"
        if [[ "$i" == own ]]; then s="$(run_spanlens "$b" "$f" "$g" "$r")"; else s="-"; fi
        printf '%s\t%s\t%s\t%s\n' "$run" "$p" "$l" "$s" | tee -a "$OUT" >&2
    done
done

python3 - "$OUT" "$DOCS" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {}
for run, point, l, s in rows:
    by.setdefault(point, ([], []))
    if l.isdigit(): by[point][0].append(int(l))
    if s.isdigit(): by[point][1].append(int(s))
def fmt(v):
    if not v: return "-"
    return "%6.1fk (%.1f-%.1f)" % (statistics.median(v) / 1e3, min(v) / 1e3, max(v) / 1e3)
print("%s documents per setting; docs/s, median (range) of the runs" % sys.argv[2])
print("%-7s %-9s %-5s %-8s %-5s %-22s %-22s %s" % ("bulk", "in flight", "gzip", "refresh", "_id", "loader", "spanlens", "spanlens/loader"))
for point, (l, s) in by.items():
    b, f, g, r, i = point.split(":")
    ratio = "%.0f%%" % (100 * statistics.median(s) / statistics.median(l)) if l and s else "-"
    print("%-7s %-9s %-5s %-8s %-5s %-22s %-22s %s" % (b, f, "on" if g == "1" else "off", r, i, fmt(l), fmt(s), ratio))
best = max((statistics.median(l), p) for p, (l, s) in by.items() if l)
print("loader ceiling: %.1fk docs/s at %s" % (best[0] / 1e3, best[1]))
EOF
say "raw runs in $OUT"
