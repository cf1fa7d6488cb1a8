#!/usr/bin/env bash
# Instruction cost of spanlens against the floor of any libpcap reader
# (issue 18, targets 1 and 4), counted with callgrind: repeatable on a
# shared machine where wall time is not.
#
# For each capture:
#   floor     valgrind --tool=callgrind tcpdump -Z root -r F -w /dev/null
#   spanlens  valgrind --tool=callgrind --separate-threads=yes \
#               spanlens replay -q --no-progress -w N -o /dev/null F
# and prints the floor's and spanlens's instructions, their ratio, spanlens's
# instructions per transaction, and the per-thread split: the capture thread
# per packet against the floor per packet, each worker, the exporter per
# event. Transactions are spanlens's own counters (`--stats-json` of a
# native run of the same file: every event type but `flow`). Then a
# projection of throughput with more workers on a machine with more cores
# (from the split), and wall-time runs of -w 1 and -w 2 here beside it.
# Output ends with markdown tables ready for the README.
#
# Usage:
#   benches/lab/cost.sh [options] [CAPTURE...]
#     --dir DIR      lab captures (default benches/captures, or $SPANLENS_CAPTURES)
#     --full         the whole lab captures instead of 100,000-packet cuts
#     --bin PATH     spanlens binary (default: cargo build --release, then target/release/spanlens)
#     --workers LIST callgrind runs with these worker counts (default "1 2")
#     --runs N       wall-time runs of -w 1 and -w 2, interleaved (default 5; 0 skips them)
#     --keep DIR     keep the callgrind files there (for callgrind_annotate)
# Default captures: http_wrk_small, redis_plain, mysql_slap, pgsql_bench
# (benches/lab/make-captures.sh); http_wrk_small and redis_plain are cut to
# their first 100,000 packets (an existing NAME_100k.pcap is used, else the
# cut is made in a temporary directory) unless --full. About 2 minutes
# with the cuts on a quiet 2-core machine, about 5 with --full (16 with
# --full at a load average of 25).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${SPANLENS_CAPTURES:-$ROOT/benches/captures}"
FULL=0
BIN=""
WORKERS="1 2"
RUNS=5
KEEP=""
CAPS=()

die() { echo "cost.sh: $*" >&2; exit 1; }
usage() { sed -n '/^# Usage:/,/^# --full at a load/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case "$1" in
        --dir) DIR="${2:?--dir needs a directory}"; shift 2 ;;
        --full) FULL=1; shift ;;
        --bin) BIN="${2:?--bin needs a path}"; shift 2 ;;
        --workers) WORKERS="${2:?--workers needs a list, e.g. \"1 2\"}"; shift 2 ;;
        --runs) RUNS="${2:?--runs needs a number}"; shift 2 ;;
        --keep) KEEP="${2:?--keep needs a directory}"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) CAPS+=("$1"); shift ;;
    esac
done
WORKERS="${WORKERS//,/ }"
[[ $RUNS =~ ^[0-9]+$ ]] || die "--runs needs a number, got '$RUNS'"
for w in $WORKERS; do
    [[ $w =~ ^[1-9][0-9]*$ ]] || die "--workers needs positive numbers, got '$w'"
done

command -v valgrind >/dev/null || die "valgrind not installed: apt-get install valgrind"
command -v tcpdump >/dev/null || die "tcpdump not installed: apt-get install tcpdump"

WORK="$(mktemp -d /tmp/spanlens-cost.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
if [[ -n $KEEP ]]; then
    mkdir -p "$KEEP" || die "cannot create $KEEP"
fi

# The default captures, cut to 100,000 packets unless --full.
if ((${#CAPS[@]} == 0)); then
    [[ -d $DIR ]] || die "no capture directory $DIR: run benches/lab/make-captures.sh or pass --dir DIR"
    for name in http_wrk_small redis_plain mysql_slap pgsql_bench; do
        f="$DIR/$name.pcap"
        [[ -f $f ]] || die "missing $f: run benches/lab/make-captures.sh or pass --dir DIR"
        if ((FULL == 0)) && [[ $name == http_wrk_small || $name == redis_plain ]]; then
            if [[ -f $DIR/${name}_100k.pcap ]]; then
                f="$DIR/${name}_100k.pcap"
            else
                tcpdump -r "$f" -c 100000 -w "$WORK/${name}_100k.pcap" 2>/dev/null ||
                    die "cannot cut $f to 100,000 packets"
                f="$WORK/${name}_100k.pcap"
            fi
        fi
        CAPS+=("$f")
    done
fi
for f in "${CAPS[@]}"; do
    [[ -r $f ]] || die "cannot read capture $f"
done

if [[ -z $BIN ]]; then
    command -v cargo >/dev/null || die "cargo not found (or pass --bin PATH)"
    echo "cost.sh: cargo build --release --bin spanlens" >&2
    (cd "$ROOT" && cargo build --release --bin spanlens -q) || die "cargo build --release --bin spanlens failed"
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/spanlens"
fi
[[ -x $BIN ]] || die "no spanlens binary at $BIN"
# Absolute: the callgrind runs start in a scratch directory.
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# stat FILE SECTION KEY: one counter of a `--stats-json` file (pretty JSON,
# sections of flat "key": number lines); 0 when absent.
stat() {
    awk -v s="$2" -v k="$3" '
        /^  "[^"]*": \{/ { sec = $1; gsub(/[":]/, "", sec); next }
        /^  \}/ { sec = "" }
        sec == s { key = $1; gsub(/[":]/, "", key); v = $2; gsub(/,/, "", v); if (key == k) { print v; found = 1 } }
        END { if (!found) print 0 }' "$1"
}
# transactions FILE: every event but flow records.
transactions() {
    awk '
        /^  "events": \{/ { on = 1; next }
        on && /^  \}/ { on = 0 }
        on { key = $1; gsub(/[":]/, "", key); v = $2; gsub(/,/, "", v); if (key != "flow") n += v }
        END { print n + 0 }' "$1"
}
# totals FILE...: instructions in callgrind files.
totals() { awk '/^totals:/ { n += $2 } END { print n + 0 }' "$@"; }
# role FILE: which spanlens thread a --separate-threads file belongs to.
role() {
    if grep -q 'spanlens::dispatch::Dispatcher::run' "$1"; then
        echo capture
    elif grep -q 'spanlens::worker::Worker::run' "$1"; then
        echo worker
    elif grep -q 'spanlens::output::Output>::write\|spanlens::pipeline::export_loop\|spanlens::pipeline::idle_and_publish' "$1"; then
        echo exporter
    elif grep -qx 'thread: 1' "$1"; then
        echo capture # the pipeline reads packets in the thread that starts it
    else
        echo other
    fi
}
div() { awk -v a="$1" -v b="$2" -v p="${3:-0}" 'BEGIN { if (b == 0) print "-"; else printf "%.*f\n", p, a / b }'; }
mill() { awk -v a="$1" 'BEGIN { printf "%.1f\n", a / 1e6 }'; }
group() { awk -v a="$1" 'BEGIN { s = sprintf("%.0f", a); n = length(s); o = ""; for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o "," } print o }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f-%.3f\n", lo, hi }'; }

cost_rows=()
split_rows=()
proj_rows=()
wall_rows=()
echo "spanlens: $BIN"
echo "floor: valgrind --tool=callgrind tcpdump -Z root -r F -w /dev/null"
echo "spanlens: valgrind --tool=callgrind --separate-threads=yes spanlens replay -q --no-progress -w N -o /dev/null F"
for f in "${CAPS[@]}"; do
    name="$(basename "$f" .pcap)"
    "$BIN" replay -q --no-progress -w 1 -o /dev/null --stats-json "$WORK/stats.json" "$f" 2>"$WORK/err" ||
        die "spanlens replay failed on $f: $(head -1 "$WORK/err")"
    pkts=$(stat "$WORK/stats.json" capture packets)
    tx=$(transactions "$WORK/stats.json")
    events=$(stat "$WORK/stats.json" output events_written)
    ((pkts > 1)) || die "fewer than 2 packets counted in $f (is --stats-json still pretty JSON with a capture.packets counter?)"

    (cd "$WORK" && valgrind --tool=callgrind --callgrind-out-file="$WORK/floor.out" \
        tcpdump -Z root -r "$f" -w /dev/null >/dev/null 2>"$WORK/vg.log") ||
        die "callgrind of tcpdump failed on $f: $(grep -m1 -i error "$WORK/vg.log" || tail -1 "$WORK/vg.log")"
    floor=$(totals "$WORK/floor.out")

    # Start-up cost (fixed, whatever the capture's size): the same commands
    # on the capture's first packet; subtracted for the "net" figures.
    tcpdump -r "$f" -c 1 -w "$WORK/one.pcap" 2>/dev/null || die "cannot cut the first packet of $f"
    (cd "$WORK" && valgrind --tool=callgrind --callgrind-out-file="$WORK/floor1.out" \
        tcpdump -Z root -r "$WORK/one.pcap" -w /dev/null >/dev/null 2>&1) || die "callgrind of tcpdump failed on one packet"
    floor1=$(totals "$WORK/floor1.out")
    rm -f "$WORK"/sl1.*
    (cd "$WORK" && valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$WORK/sl1.%p" \
        "$BIN" replay -q --no-progress -w 1 -o /dev/null "$WORK/one.pcap" >/dev/null 2>&1) ||
        die "callgrind of spanlens failed on one packet"
    total1=$(totals "$WORK"/sl1.*-*)
    capt1=0
    for t in "$WORK"/sl1.*-*; do
        [[ $(role "$t") == capture ]] && capt1=$((capt1 + $(totals "$t")))
    done
    fnet=$((floor - floor1))
    [[ -n $KEEP ]] && cp "$WORK/floor.out" "$KEEP/$name.floor.callgrind"
    echo
    echo "$name: $(group "$pkts") packets, $(group "$tx") transactions, $(group "$events") events"
    echo "  floor (tcpdump)     $(mill "$floor") M instructions, $(div "$floor" "$pkts") per packet; start-up $(mill "$floor1") M, $(div "$fnet" "$((pkts - 1))") per packet net of it"
    echo "  spanlens start-up   $(mill "$total1") M (capture thread $(mill "$capt1") M)"

    # Per worker count: the thread split; the 1-worker run is target 1's figure.
    declare -A cap_pp=() work_pp=() exp_pp=() busiest=()
    for w in $WORKERS; do
        rm -f "$WORK"/sl.*
        (cd "$WORK" && valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$WORK/sl.%p" \
            "$BIN" replay -q --no-progress -w "$w" -o /dev/null "$f" >/dev/null 2>"$WORK/vg.log") ||
            die "callgrind of spanlens -w $w failed on $f: $(grep -m1 -i error "$WORK/vg.log" || tail -1 "$WORK/vg.log")"
        files=("$WORK"/sl.*-*)
        [[ -f ${files[0]} ]] || die "callgrind wrote no per-thread files for $f"
        total=$(totals "${files[@]}")
        capt=0 exp=0 oth=0 wsum=0
        wlist=()
        wshare=()
        for t in "${files[@]}"; do
            n=$(totals "$t")
            case "$(role "$t")" in
                capture) capt=$((capt + n)) ;;
                worker) wlist+=("$n"); wsum=$((wsum + n)) ;;
                exporter) exp=$((exp + n)) ;;
                *) oth=$((oth + n)) ;;
            esac
        done
        if [[ -n $KEEP ]]; then
            for t in "${files[@]}"; do cp "$t" "$KEEP/$name.w$w.${t##*-}.callgrind"; done
        fi
        wmax=0
        for n in "${wlist[@]}"; do
            wshare+=("$(div "$((n * 100))" "$wsum")%")
            ((n > wmax)) && wmax=$n
        done
        busiest[$w]=$(div "$wmax" "$pkts" 1)
        cap_pp[$w]=$(div "$((capt - capt1))" "$((pkts - 1))" 1)
        work_pp[$w]=$(div "$wsum" "$pkts" 1)
        exp_pp[$w]=$(div "$exp" "$pkts" 1)
        echo "  spanlens -w $w         $(mill "$total") M instructions, $(div "$total" "$floor" 2)x the floor, $(group "$(div "$total" "$tx")") per transaction"
        cnet=$((capt - capt1))
        echo "    capture thread    $(mill "$capt") M, $(div "$capt" "$pkts") per packet ($(div "$capt" "$floor" 2)x the floor's); net of start-up $(div "$cnet" "$((pkts - 1))") ($(div "$cnet" "$fnet" 2)x)"
        echo "    workers (${#wlist[@]})       $(mill "$wsum") M, $(group "$(div "$wsum" "$tx")") per transaction, shares ${wshare[*]}"
        echo "    exporter          $(mill "$exp") M, $(div "$exp" "$events" 1) per event"
        echo "    other threads     $(mill "$oth") M"
        if [[ $w == 1 ]]; then
            cost_rows+=("| $name | $(group "$pkts") | $(group "$tx") | $(mill "$floor") | $(mill "$total") | $(div "$total" "$floor" 2) | $(div "$((total - total1))" "$fnet" 2) | $(group "$(div "$total" "$tx")") |")
        fi
        split_rows+=("| $name | $w | $(group "$(div "$cnet" "$((pkts - 1))")") | $(group "$(div "$fnet" "$((pkts - 1))")") | $(div "$cnet" "$fnet" 2) | $(group "$(div "$wsum" "$tx")") (${wshare[*]}) | $(div "$exp" "$events" 1) | $(mill "$oth") |")
    done

    # Projection from the first worker count's split (per packet, in
    # instructions): with a core per thread, packets/s ~ 1 / max(capture,
    # workers / N, exporter); capture-bound from N = workers / capture.
    w0="${WORKERS%% *}"
    c=${cap_pp[$w0]} wk=${work_pp[$w0]} e=${exp_pp[$w0]}
    proj=$(awk -v c="$c" -v w="$wk" -v e="$e" -v b2="${busiest[2]:-}" 'BEGIN {
        m = (c > e ? c : e); base = (w > m ? w : m); out = ""
        for (n = 1; n <= 16; n *= 2) { b = w / n; if (m > b) b = m; out = out sprintf("%s%.2f", (n > 1 ? " | " : ""), base / b) }
        # N = 2 with the shards as the -w 2 run split them: its busier worker.
        if (b2 == "") out = out " | -"; else { b = (b2 > m ? b2 : m); out = out sprintf(" | %.2f", base / b) }
        # On 2 cores: -w 1 is bound by the worker or by half of all the work;
        # -w 2 by half of all the work (or one thread, whichever is larger).
        t1 = w; if ((c + w + e) / 2 > t1) t1 = (c + w + e) / 2
        t2 = (c + w + e) / 2; if (c > t2) t2 = c; if (w / 2 > t2) t2 = w / 2; if (b2 != "" && b2 > t2) t2 = b2
        printf "%.1f | %s | %.2f\n", w / m, out, t1 / t2 }')
    proj_rows+=("| $name | $(group "$c") | $(group "$wk") | $(group "$e") | $proj |")

    if ((RUNS > 0)); then
        w1=() w2=() c1=() c2=()
        TIMEFORMAT='%R %U %S'
        for ((i = 0; i < RUNS; i++)); do
            for w in 1 2; do
                { time "$BIN" replay -q --no-progress -w "$w" -o /dev/null "$f" >/dev/null 2>&1; } 2>"$WORK/time" ||
                    die "spanlens replay -w $w failed on $f"
                read -r real user sys <"$WORK/time"
                cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
                if [[ $w == 1 ]]; then w1+=("$real"); c1+=("$cpu"); else w2+=("$real"); c2+=("$cpu"); fi
            done
        done
        m1=$(printf '%s\n' "${w1[@]}" | median)
        m2=$(printf '%s\n' "${w2[@]}" | median)
        wall_rows+=("| $name | $(printf '%s\n' "${w1[@]}" | minmax) (median $m1) | $(printf '%s\n' "${c1[@]}" | median) | $(printf '%s\n' "${w2[@]}" | minmax) (median $m2) | $(printf '%s\n' "${c2[@]}" | median) | $(div "$m1" "$m2" 2) | ${proj##*| } |")
        echo "  wall, $RUNS runs interleaved: -w 1 median $m1 s, -w 2 median $m2 s (speed-up $(div "$m1" "$m2" 2), 2-core projection ${proj##*| })"
    fi
    unset cap_pp work_pp exp_pp busiest
done

echo
echo "Target 1: instructions, spanlens -w 1 against the floor (callgrind):"
echo
echo "| capture | packets | transactions | floor (tcpdump), M instructions | spanlens -w 1, M | x floor | x floor, net of start-up | per transaction |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${cost_rows[@]}"
echo
echo "Target 4: per-thread split (instructions; per packet net of each program's start-up; workers' shares of the workers' total):"
echo
echo "| capture | workers | capture thread per packet | floor per packet | capture / floor | workers per transaction (shares) | exporter per event | other threads, M |"
echo "|---|---:|---:|---:|---:|---|---:|---:|"
printf '%s\n' "${split_rows[@]}"
echo
echo "Scaling projection from the -w ${WORKERS%% *} split (instructions per packet; a core per thread, even shards unless said):"
echo
echo "| capture | capture thread | workers | exporter | capture-bound from N workers | speed-up N=1 | N=2 | N=4 | N=8 | N=16 | N=2, shards as measured | this 2-core machine, -w 2 over -w 1 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${proj_rows[@]}"
if ((${#wall_rows[@]})); then
    echo
    echo "Wall time here, spanlens replay -o /dev/null, $RUNS runs of each interleaved (seconds min-max, CPU s median):"
    echo
    echo "| capture | -w 1 s | -w 1 CPU s | -w 2 s | -w 2 CPU s | measured speed-up | projected (2 cores) |"
    echo "|---|---|---:|---|---:|---:|---:|"
    printf '%s\n' "${wall_rows[@]}"
fi
