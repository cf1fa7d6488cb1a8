#!/usr/bin/env bash
# Makes the issue-17 ("hard traffic") captures from real TCP stacks in two
# network namespaces (hard-srv 10.66.0.1, hard-cli 10.66.0.2, a veth pair,
# offloads off), captured with tcpdump on the client side:
#
#   http_head_too_large.pcap.gz  scripted peers (hard_peers.py): a 1.1 MB
#                     response head, then a keep-alive exchange (gzipped:
#                     the head is repetitive; the test unpacks it).
#   http_bad_length.pcap  scripted peers: Content-Length 99999999999999999999999
#                     with bytes glued to the next request line; a request
#                     line with a control byte; a response with that length.
#   http_early_final.pcap  scripted peers: Expect: 100-continue answered at
#                     once with 401, the 27,000-byte body sent anyway.
#   redis_bad_replies.pcap  scripted fake server: negative, non-numeric and
#                     2^62 bulk lengths, a reply nobody asked for.
#   redis_bad_requests.pcap  real redis-server: requests with a negative and a
#                     2^62 bulk length (Redis answers "-ERR Protocol error"
#                     and closes), after normal redis-cli traffic.
#   pgsql_on_http_port.pcap  real PostgreSQL listening on 8080 (an HTTP
#                     port) and psql, plus one curl GET to nginx-less python
#                     http.server on 8000 (a real HTTP flow beside it).
#   mysql_compressed.pcap  real MariaDB server and `mariadb --compress`:
#                     queries, a 300 KB result (many TCP segments, several
#                     compressed packets), an error.
#
# Usage (root): tests/data/make-captures-hard.sh [OUTDIR]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE}"
NS_S=hard-srv
NS_C=hard-cli
IF_S=hard-s
IF_C=hard-c
SRV=10.66.0.1
CLI=10.66.0.2

die() { echo "make-captures-hard: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in ip ethtool tcpdump python3 redis-server redis-cli mariadbd mariadb \
    mariadb-install-db psql curl gzip; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
PG_BIN="$(dirname "$(command -v postgres 2>/dev/null || find /usr/lib/postgresql -path "*/bin/postgres" | sort | head -1)")"
[[ -x $PG_BIN/initdb ]] || die "missing PostgreSQL (initdb)"

WORK="$(mktemp -d /tmp/spanlens-hard.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_C" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_s() { ip netns exec "$NS_S" "$@"; }
# Background servers: nsenter execs the program itself, so $! is its pid
# and the cleanup's kill reaches it (ip netns exec does not pass it on).
bg_s() { exec nsenter --net="/run/netns/$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

ip netns del "$NS_S" 2>/dev/null || true
ip netns del "$NS_C" 2>/dev/null || true
ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_C" netns "$NS_C"
for side in s c; do
    if [[ $side == s ]]; then ns=$NS_S dev=$IF_S addr=$SRV; else ns=$NS_C dev=$IF_C addr=$CLI; fi
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip link set "$dev" mtu 1500
    ip netns exec "$ns" ethtool -K "$dev" gro off gso off tso off tx off >/dev/null 2>&1 ||
        ip netns exec "$ns" ethtool -K "$dev" gro off gso off tso off >/dev/null
    ip netns exec "$ns" ip addr add "$addr/24" dev "$dev"
    ip netns exec "$ns" ip link set "$dev" up
done
sleep 1

TCPDUMP_PID=
capture_start() {
    rm -f "$1" "$WORK/tcpdump.err"
    # nsenter execs tcpdump itself, so $! is tcpdump's pid.
    nsenter --net="/run/netns/$NS_C" tcpdump -i "$IF_C" -s 0 -U --immediate-mode -Z root \
        -w "$1" "$2" 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    PIDS+=("$TCPDUMP_PID")
    for _ in $(seq 1 50); do
        grep -q "listening on" "$WORK/tcpdump.err" 2>/dev/null && return 0
        sleep 0.1
    done
    die "tcpdump did not start"
}
capture_stop() {
    sleep 1
    kill -TERM "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    grep -E 'captured|dropped' "$WORK/tcpdump.err" | tr '\n' ' ' >&2 || true
    echo >&2
}
wait_port() {
    for _ in $(seq 1 100); do
        in_c bash -c "exec 3<>/dev/tcp/$SRV/$1" 2>/dev/null && return 0
        sleep 0.1
    done
    die "port $1 did not open"
}

# peers CASE PORT FILE
peers() {
    bg_s python3 "$HERE/hard_peers.py" server "$1" "$SRV" "$2" >"$WORK/peer.out" &
    local spid=$!
    PIDS+=("$spid")
    for _ in $(seq 1 50); do grep -q ready "$WORK/peer.out" 2>/dev/null && break; sleep 0.1; done
    capture_start "$3" "tcp port $2"
    in_c python3 "$HERE/hard_peers.py" client "$1" "$SRV" "$2"
    wait "$spid"
    capture_stop
}

peers http_head_too_large 8080 "$WORK/http_head_too_large.pcap"
gzip -9 -n -c "$WORK/http_head_too_large.pcap" >"$OUT/http_head_too_large.pcap.gz"
peers http_bad_length 8080 "$OUT/http_bad_length.pcap"
peers http_early_final 8080 "$OUT/http_early_final.pcap"
peers redis_bad_replies 6379 "$OUT/redis_bad_replies.pcap"

# Real Redis: ordinary commands, then requests it rejects.
bg_s redis-server --bind "$SRV" --port 6379 --save '' --appendonly no \
    --protected-mode no --daemonize no --logfile "$WORK/redis.log" &
PIDS+=($!)
wait_port 6379
capture_start "$OUT/redis_bad_requests.pcap" "tcp port 6379"
in_c redis-cli -h "$SRV" SET k v >/dev/null
in_c redis-cli -h "$SRV" GET k >/dev/null
in_c python3 - "$SRV" <<'EOF'
import socket, sys, time
for bad in (b"$-5\r\n", b"$4611686018427387904\r\n"):
    s = socket.create_connection((sys.argv[1], 6379))
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    s.recv(100)
    time.sleep(0.02)
    s.sendall(b"*2\r\n$3\r\nGET\r\n" + bad + b"abc\r\n")
    while s.recv(100):
        pass
    s.close()
    time.sleep(0.1)
EOF
in_c redis-cli -h "$SRV" PING >/dev/null
capture_stop

# PostgreSQL on port 8080 (an HTTP port), and a real HTTP flow beside it.
PGDATA=$WORK/pg
mkdir -p "$PGDATA"
chown postgres "$PGDATA"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
echo "host all all 10.66.0.0/24 trust" >>"$PGDATA/pg_hba.conf"
bg_s setpriv --reuid=postgres --regid=postgres --clear-groups "$PG_BIN/postgres" -D "$PGDATA" -k "$PGDATA" \
    -c listen_addresses="$SRV" -p 8080 -c ssl=off >"$WORK/pg.log" 2>&1 &
PIDS+=($!)
wait_port 8080
mkdir -p "$WORK/www"
echo hello >"$WORK/www/index.html"
bg_s python3 -m http.server 8000 --bind "$SRV" --directory "$WORK/www" >/dev/null 2>&1 &
PIDS+=($!)
wait_port 8000
capture_start "$OUT/pgsql_on_http_port.pcap" "tcp port 8080 or tcp port 8000"
in_c env PGSSLMODE=disable psql -h "$SRV" -p 8080 -U postgres -c "SELECT 1 AS one" >/dev/null
in_c curl -sS --noproxy '*' -o /dev/null "http://$SRV:8000/index.html"
capture_stop

# MariaDB with the compressed protocol.
MY=$WORK/my
mkdir -p "$MY"
chown mysql "$MY" 2>/dev/null || true
mariadb-install-db --no-defaults --datadir="$MY/data" --user=mysql --auth-root-authentication-method=normal >/dev/null 2>&1
bg_s mariadbd --no-defaults --datadir="$MY/data" --user=mysql --socket="$MY/sock" \
    --pid-file="$MY/pid" --bind-address="$SRV" --port=3306 --skip-grant-tables \
    --skip-name-resolve >"$WORK/my.log" 2>&1 &
PIDS+=($!)
wait_port 3306
capture_start "$OUT/mysql_compressed.pcap" "tcp port 3306"
in_c mariadb --no-defaults --compress -h "$SRV" -u root --skip-ssl -e \
    "SELECT 1; SELECT @@version_comment; CREATE DATABASE IF NOT EXISTS t; USE t; \
     SELECT REPEAT(CONCAT('row-', seq, '-'), 40) AS r FROM seq_1_to_1200; \
     SELECT 2; SELECT * FROM no_such_table" >/dev/null 2>&1 || true
capture_stop
echo "wrote captures to $OUT" >&2
