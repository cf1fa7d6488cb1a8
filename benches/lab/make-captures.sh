#!/usr/bin/env bash
# Makes realistic benchmark captures from real servers and real clients.
#
# Two network namespaces (server, client) are joined by a veth pair with MTU
# 1500 and segmentation/receive offloads off, so tcpdump on the client end
# records wire-sized segments, as a SPAN port would. Addresses are
# 10.99.0.0/24, inside the namespaces only (LAB_NET=10.67.0 and
# LAB_PREFIX=perf give other addresses and namespace names, so two runs on
# one machine do not collide).
#
#   http_wrk_small.pcap   nginx + wrk, keep-alive, 128-byte responses
#   http_wrk_large.pcap   nginx + wrk, keep-alive, 64 KiB responses
#   http_curl.pcap        nginx + curl, one connection per request, mixed codes
#   redis_plain.pcap      redis-server + redis-benchmark
#   redis_pipelined.pcap  redis-server + redis-benchmark -P 16
#   mysql_slap.pcap       mariadb + mysqlslap (mixed auto-generated SQL)
#   pgsql_bench.pcap      postgresql + pgbench (TPC-B-like, includes pgbench -i)
#   mixed.pcap            all of the above merged by time (mergecap)
#
# Usage (root):
#   SCALE=small benches/lab/make-captures.sh [OUTDIR]
# SCALE scales durations and request counts: small (default, multiplier 1:
# ~235 MB of captures plus a mixed.pcap of the same size, ~1 min on 2 cores),
# medium (2), large (5: ~1.2 GB of captures plus ~1.2 GB mixed.pcap), or a
# number used as the multiplier. The 64 KiB wrk run dominates the bytes,
# redis-benchmark the packet count.
# ONLY="http_wrk_small redis_plain" makes just those captures (no mixed.pcap).
# OUTDIR defaults to benches/captures/ (gitignored). Missing tools are
# installed with apt-get. Namespaces, servers and temporary files are removed
# on every exit; a lock keeps two runs apart.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/../captures}"
SCALE="${SCALE:-small}"
PFX="${LAB_PREFIX:-slab}"
NET="${LAB_NET:-10.99.0}"
ONLY="${ONLY:-}"
NS_S=$PFX-srv
NS_C=$PFX-cli
IF_S=$PFX-s
IF_C=$PFX-c
SRV=$NET.1
CLI=$NET.2

die() { echo "make-captures: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

case "$SCALE" in
small) MULT=1 ;;
medium) MULT=2 ;;
large) MULT=5 ;;
'' | *[!0-9]*) die "SCALE must be small, medium, large or a number (got '$SCALE')" ;;
*) MULT=$SCALE ;;
esac
[[ $MULT -ge 1 ]] || die "SCALE must be at least 1"

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, tcpdump, servers)"

# tool:package pairs; apt-get only runs when something is missing.
need_packages() {
    local missing=() pair
    for pair in ip:iproute2 ethtool:ethtool tcpdump:tcpdump mergecap:wireshark-common \
        capinfos:wireshark-common editcap:wireshark-common nginx:nginx-light wrk:wrk curl:curl \
        redis-server:redis-server redis-benchmark:redis-tools mariadbd:mariadb-server \
        mysqlslap:mariadb-client pgbench:postgresql-contrib runuser:util-linux; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
    fi
}
need_packages
PGBIN="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -1)"
[[ -x $PGBIN/initdb ]] || die "postgresql initdb not found under /usr/lib/postgresql"

exec 9>"/run/lock/spanlens-bench-captures-$PFX.lock"
flock -n 9 || die "another benches/lab/make-captures.sh run is active"

WORK="$(mktemp -d /tmp/spanlens-lab.XXXXXX)"
chmod 755 "$WORK"
PIDS=()

cleanup() {
    local pid
    if [[ -d $WORK/pg ]]; then
        ip netns exec "$NS_S" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    fi
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_C" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_c() { ip netns exec "$NS_C" "$@"; }
in_s() { ip netns exec "$NS_S" "$@"; }

setup_netns() {
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_C" 2>/dev/null || true
    ip netns add "$NS_S"
    ip netns add "$NS_C"
    ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_C" netns "$NS_C"
    local ns dev addr
    for ns in "$NS_S" "$NS_C"; do
        if [[ $ns == "$NS_S" ]]; then dev=$IF_S addr=$SRV; else dev=$IF_C addr=$CLI; fi
        ip netns exec "$ns" ip link set lo up
        ip netns exec "$ns" ip link set "$dev" mtu 1500
        ip netns exec "$ns" ethtool -K "$dev" gro off gso off tso off tx off >/dev/null 2>&1 ||
            ip netns exec "$ns" ethtool -K "$dev" gro off gso off tso off >/dev/null
        ip netns exec "$ns" ip addr add "$addr/24" dev "$dev"
        ip netns exec "$ns" ip link set "$dev" up
    done
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

# wait_for DESCRIPTION COMMAND...: retries for 30 s.
wait_for() {
    local what=$1 _
    shift
    for _ in $(seq 1 300); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$what did not come up"
}

start_nginx() {
    local root=$WORK/www
    mkdir -p "$root" "$WORK/nginx-tmp"
    head -c 128 /dev/zero | tr '\0' 's' >"$root/small.txt"
    awk 'BEGIN { for (i = 0; i < 1024; i++) { s = sprintf("%06d large body line ", i); while (length(s) < 63) s = s "-"; print s } }' >"$root/large.txt"
    printf '<html><body>index</body></html>\n' >"$root/index.html"
    chmod -R a+rX "$root"
    cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $WORK/nginx-tmp/body;
    proxy_temp_path $WORK/nginx-tmp/proxy;
    fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
    scgi_temp_path $WORK/nginx-tmp/scgi;
    types { text/html html; text/plain txt; }
    keepalive_requests 100000;
    server {
        listen $SRV:80;
        root $root;
        location = /api/echo { return 200 'ok\n'; }
    }
}
EOF
    ip netns exec "$NS_S" nginx -c "$WORK/nginx.conf" &
    PIDS+=($!)
    wait_for nginx in_c curl -sf --noproxy '*' -o /dev/null "http://$SRV/index.html"
}

start_redis() {
    ip netns exec "$NS_S" redis-server --bind "$SRV" --port 6379 --save '' --appendonly no \
        --protected-mode no --dir "$WORK" --logfile "$WORK/redis.log" &
    PIDS+=($!)
    wait_for redis in_c redis-cli -h "$SRV" ping
}

start_mariadb() {
    mkdir -p "$WORK/mysql"
    mariadb-install-db --no-defaults --user=root --datadir="$WORK/mysql" \
        --auth-root-authentication-method=socket >"$WORK/mysql-install.log" 2>&1 ||
        die "mariadb-install-db failed: $(grep -i -m5 error "$WORK/mysql-install.log")"
    ip netns exec "$NS_S" mariadbd --no-defaults --user=root --datadir="$WORK/mysql" \
        --socket="$WORK/mysql.sock" --bind-address="$SRV" --port=3306 --skip-log-bin \
        --pid-file="$WORK/mysql.pid" --log-error="$WORK/mysql.err" &
    PIDS+=($!)
    wait_for mariadb mariadb --no-defaults -S "$WORK/mysql.sock" -u root -e 'SELECT 1'
    mariadb --no-defaults -S "$WORK/mysql.sock" -u root -e \
        "CREATE USER IF NOT EXISTS bench@'%' IDENTIFIED BY 'bench'; GRANT ALL ON *.* TO bench@'%';"
}

start_postgres() {
    mkdir -p "$WORK/pg" "$WORK/pgsock"
    chown postgres: "$WORK/pg" "$WORK/pgsock"
    runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" --auth=trust -U postgres >"$WORK/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -5 "$WORK/initdb.log")"
    printf 'host all all %s.0/24 trust\n' "$NET" >>"$WORK/pg/pg_hba.conf"
    ip netns exec "$NS_S" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pgsock/pg.log" -w \
        -o "-c listen_addresses=$SRV -c unix_socket_directories=$WORK/pgsock -c fsync=off -c synchronous_commit=off" \
        start >/dev/null
    wait_for postgresql in_c "$PGBIN/pg_isready" -h "$SRV" -U postgres
}

TCPDUMP_PID=
capture_start() {
    local file=$1 filter=$2
    rm -f "$file" "$WORK/tcpdump.err"
    # A 64 MiB kernel buffer so the capture itself does not drop.
    ip netns exec "$NS_C" tcpdump -i "$IF_C" -s 0 -B 65536 -Z root -w "$file" "$filter" 2>"$WORK/tcpdump.err" &
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
    # Longer than libpcap's 1 s ring-block timeout, so every packet has been
    # handed to tcpdump before SIGTERM (which does not drain the ring).
    sleep 2
    kill -TERM "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    local dropped
    dropped=$(awk '/dropped by kernel/ {print $1}' "$WORK/tcpdump.err")
    [[ ${dropped:-0} -eq 0 ]] || echo "warning: tcpdump dropped $dropped packets" >&2
}

# capture NAME FILTER FUNCTION: runs FUNCTION while capturing OUT/NAME.pcap.
capture() {
    local name=$1 filter=$2 fn=$3
    log "$name"
    capture_start "$OUT/$name.pcap" "$filter"
    "$fn"
    capture_stop
}

DUR=$((2 * MULT))
# Connections: a farm's traffic has many flows, and flows are what the
# workers are sharded by; a handful of connections would measure how the
# hash happened to split them rather than the pipeline.
http_wrk_small() { in_c wrk -t1 -c64 -d"${DUR}s" "http://$SRV/small.txt" >&2; }
http_wrk_large() { in_c wrk -t1 -c16 -d"${DUR}s" "http://$SRV/large.txt" >&2; }
http_curl() {
    local i
    for ((i = 0; i < 50 * MULT; i++)); do
        case $((i % 5)) in
        0) in_c curl -s --noproxy '*' -o /dev/null "http://$SRV/index.html" ;;
        1) in_c curl -s --noproxy '*' -o /dev/null "http://$SRV/missing-$i" ;;
        2) in_c curl -s --noproxy '*' -o /dev/null -d "item=$i" "http://$SRV/api/echo" ;;
        3) in_c curl -s --noproxy '*' -o /dev/null -I "http://$SRV/large.txt" ;;
        4) in_c curl -s --noproxy '*' -o /dev/null "http://$SRV/small.txt?n=$i" ;;
        esac
    done
}
redis_plain() { in_c redis-benchmark -h "$SRV" -q -c 8 -n $((20000 * MULT)) -t set,get,incr,lpush,lpop,mset >&2; }
redis_pipelined() { in_c redis-benchmark -h "$SRV" -q -c 8 -P 16 -n $((100000 * MULT)) -t set,get,incr,lpush,lpop >&2; }
mysql_slap() {
    in_c mysqlslap --no-defaults -h "$SRV" -u bench -pbench --concurrency=4 --iterations=1 \
        --number-of-queries=$((2000 * MULT)) --auto-generate-sql --auto-generate-sql-load-type=mixed \
        --auto-generate-sql-add-autoincrement --create-schema=slap >&2
}
pgsql_bench() {
    in_c "$PGBIN/pgbench" -h "$SRV" -U postgres -i -s 1 -q postgres >&2 2>"$WORK/pgbench-init.log"
    in_c "$PGBIN/pgbench" -h "$SRV" -U postgres -c 4 -j 1 -T "$DUR" postgres >&2
}

# wanted NAME: whether ONLY (empty: everything) names this capture.
wanted() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }

main() {
    mkdir -p "$OUT"
    local parts=(http_wrk_small http_wrk_large http_curl redis_plain redis_pipelined mysql_slap pgsql_bench)
    local p filter
    for p in $ONLY; do
        [[ " ${parts[*]} " == *" $p "* ]] || die "ONLY: no capture named '$p' (${parts[*]})"
    done
    setup_netns
    if wanted http_wrk_small || wanted http_wrk_large || wanted http_curl; then start_nginx; fi
    if wanted redis_plain || wanted redis_pipelined; then start_redis; fi
    if wanted mysql_slap; then start_mariadb; fi
    if wanted pgsql_bench; then start_postgres; fi

    for p in "${parts[@]}"; do
        wanted "$p" || continue
        case $p in
        http_*) filter="tcp port 80" ;;
        redis_*) filter="tcp port 6379" ;;
        mysql_*) filter="tcp port 3306" ;;
        pgsql_*) filter="tcp port 5432" ;;
        esac
        capture "$p" "$filter" "$p"
    done

    local made=()
    for p in "${parts[@]}"; do
        if wanted "$p"; then made+=("$p"); fi
    done
    if [[ -z $ONLY ]]; then
        log mixed
        # The captures were taken one after another; shift each to start at the
        # first one's start time so the merge interleaves them as concurrent
        # traffic on one link.
        local files=() base start
        base=$(capinfos -T -r -S -a "$OUT/${parts[0]}.pcap" | awk '{print $2}')
        for p in "${parts[@]}"; do
            start=$(capinfos -T -r -S -a "$OUT/$p.pcap" | awk '{print $2}')
            editcap -F pcap -t "$(awk -v b="$base" -v s="$start" 'BEGIN { printf "%.6f", b - s }')" \
                "$OUT/$p.pcap" "$WORK/$p.shifted.pcap"
            files+=("$WORK/$p.shifted.pcap")
        done
        mergecap -F pcap -w "$OUT/mixed.pcap" "${files[@]}"
        rm -f "${files[@]}"
        made+=(mixed)
    fi

    log "summary (SCALE=$SCALE, multiplier $MULT)"
    {
        printf '%-22s %12s %14s\n' capture packets bytes
        local f
        for f in "${made[@]}"; do
            printf '%-22s %12s %14s\n' "$f.pcap" \
                "$(capinfos -M -c "$OUT/$f.pcap" | awk -F': *' '/Number of packets/ {print $2}')" \
                "$(stat -c %s "$OUT/$f.pcap")"
        done
    } | tee "$OUT/SUMMARY${ONLY:+-partial}.txt"
}

main "$@"
