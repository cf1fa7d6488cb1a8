#!/usr/bin/env bash
# Makes the PostgreSQL captures under tests/data/ with a real server and
# real clients inside a private network namespace (loopback only), and
# records the oracle values tshark computes from each capture in
# <name>.expected.json, which tests/pgsql_corpus.rs compares with
# spanlens' events.
#
#   pgsql-psql.pcap          psql: DDL, inserts, a multi-statement query, a
#                            NOTICE, an error, COPY FROM STDIN and COPY TO
#                            STDOUT, a failed login, a cancelled pg_sleep
#                            (CancelRequest), SSLRequest answered N
#   pgsql-tls.pcap           psql with sslmode=require: SSLRequest answered S,
#                            then TLS (not decoded, counted)
#   pgbench-simple.pcap      pgbench -M simple   -c 2 -t 10 (TPC-B like)
#   pgbench-extended.pcap    pgbench -M extended -c 2 -t 10 (unnamed statements)
#   pgbench-prepared.pcap    pgbench -M prepared -c 2 -t 10 (named statements,
#                            prepared once, executed many times)
#
# Needs root (ip netns), postgresql (15), postgresql-client, pgbench,
# openssl, tcpdump, tshark, jq. Usage:
#   tests/data/make-captures-pgsql.sh [OUT_DIR]
# PGBENCH_T makes bigger pgbench captures (the committed ones use 10).
set -euo pipefail
pgbench_t="${PGBENCH_T:-10}"

out="$(cd "${1:-$(dirname "$0")}" && pwd)"
ns="spanlens-pg-$$"
work="$(mktemp -d)"
chmod 755 "$work"
pids=()
bin=/usr/lib/postgresql/15/bin

cleanup() {
    ip netns exec "$ns" runuser -u postgres -- "$bin/pg_ctl" -D "$work/db" -m immediate stop \
        >/dev/null 2>&1 || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
inns() { ip netns exec "$ns" "$@"; }

capture() { # name -> starts tcpdump, sets $tp
    ip netns exec "$ns" tcpdump -i lo -U -s 0 -w "$work/$1.pcap" "tcp port 5432" >/dev/null 2>&1 &
    tp=$!
    pids+=("$tp")
    sleep 0.5
}
stop_capture() { # pid
    sleep 0.5
    kill -TERM "$1"
    while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
}

# ---------------------------------------------------------------- server
mkdir -p "$work/db" "$work/run"
chown postgres: "$work/db" "$work/run"
echo secret >"$work/pw"
chown postgres: "$work/pw"
runuser -u postgres -- "$bin/initdb" -D "$work/db" -U postgres --auth=trust \
    >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 1; }
# One role with a password (md5 / scram) so that a wrong password fails a login.
cat >"$work/db/pg_hba.conf" <<'HBA'
local all all trust
host all alice 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA
openssl req -new -x509 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/db/server.key" -out "$work/db/server.crt" >/dev/null 2>&1
chown postgres: "$work/db/server.key" "$work/db/server.crt"
chmod 600 "$work/db/server.key"

pg_start() { # extra -o options
    inns runuser -u postgres -- "$bin/pg_ctl" -D "$work/db" -l "$work/run/pg.log" -w \
        -o "-c listen_addresses=127.0.0.1 -c port=5432 -c unix_socket_directories=$work/run $1" start >/dev/null
}
pg_stop() {
    inns runuser -u postgres -- "$bin/pg_ctl" -D "$work/db" -m fast -w stop >/dev/null
}
pg_start "-c ssl=off"

export PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres
sql() { inns psql -X -q "$@"; }
sql -d postgres -c "CREATE ROLE alice LOGIN PASSWORD 'wonderland'" >/dev/null
sql -d postgres -c 'CREATE DATABASE shop' >/dev/null
inns pgbench -q -i -s 1 shop >/dev/null 2>&1

# ---------------------------------------------------------------- psql
capture pgsql-psql
# sslmode=prefer: SSLRequest, answered N (ssl=off), then startup in clear.
export PGSSLMODE=prefer PGAPPNAME=spanlens-test
sql -d shop <<'SQL' >/dev/null 2>&1 || true
CREATE TABLE items (id serial PRIMARY KEY, name text, qty int);
INSERT INTO items (name, qty) VALUES ('apple', 3), ('pear', 5), ('plum', 7);
UPDATE items SET qty = qty + 1 WHERE qty > 4;
SELECT * FROM items ORDER BY id;
DROP TABLE IF EXISTS no_such_table;
SELECT * FROM no_such_table;
COPY items (name, qty) FROM STDIN;
fig	1
kiwi	2
lime	4
\.
COPY items TO STDOUT;
DELETE FROM items WHERE qty < 3;
SQL
# One Query message with three statements.
sql -d shop -c 'SELECT 1; SELECT count(*) FROM items; UPDATE items SET qty = 0 WHERE id = 1' >/dev/null
# A login that fails (wrong password): FATAL ErrorResponse during startup.
PGPASSWORD=wrong inns psql -X -w -h 127.0.0.1 -U alice -d shop -c 'SELECT 1' >/dev/null 2>&1 || true
# A cancelled statement: psql sends a CancelRequest on a new connection.
ip netns exec "$ns" psql -X -d shop -c 'SELECT pg_sleep(5)' >/dev/null 2>&1 &
sp=$!
sleep 1
kill -INT "$sp"
wait "$sp" || true
stop_capture "$tp"
unset PGAPPNAME

# ---------------------------------------------------------------- pgbench
export PGSSLMODE=disable
for mode in simple extended prepared; do
    capture "pgbench-$mode"
    inns pgbench -n -M "$mode" -c 2 -t "$pgbench_t" shop >/dev/null 2>&1
    stop_capture "$tp"
done

# ---------------------------------------------------------------- TLS
pg_stop
pg_start "-c ssl=on"
capture pgsql-tls
PGSSLMODE=require sql -d shop -c 'SELECT 1' >/dev/null
stop_capture "$tp"

# ---------------------------------------------------------------- oracle
# Transactions: one per Simple query and one per Execute (tshark's
# pgsql.type, every PDU of every frame), plus one per Cancel request and
# one per failed login (an ErrorResponse before the first ReadyForQuery).
count_type() { # file type
    tshark -r "$1" -d tcp.port==5432,pgsql -T fields -e pgsql.type 2>/dev/null |
        tr ',' '\n' | grep -cx "$2" || true
}
pg_expected() { # name
    local f="$work/$1.pcap"
    local q e c err ssl copyin copyout
    q=$(count_type "$f" 'Simple query')
    e=$(count_type "$f" 'Execute')
    c=$(count_type "$f" 'Cancel request')
    ssl=$(count_type "$f" 'SSL request')
    err=$(count_type "$f" 'Error')
    copyin=$(count_type "$f" 'CopyIn response')
    copyout=$(count_type "$f" 'CopyOut response')
    jq -n --argjson q "$q" --argjson e "$e" --argjson c "$c" --argjson err "$err" \
        --argjson ssl "$ssl" --argjson ci "$copyin" --argjson co "$copyout" \
        --arg sha "$(sha256sum "$f" | cut -d' ' -f1)" \
        '{type: "pgsql", simple_queries: $q, executes: $e, cancel_requests: $c,
          errors: $err, ssl_requests: $ssl, copy_in: $ci, copy_out: $co, sha256: $sha,
          oracle: "tshark -d tcp.port==5432,pgsql -T fields -e pgsql.type: counts of Simple query, Execute, Cancel request, Error, SSL request, CopyIn/CopyOut response"}' \
        >"$out/$1.expected.json"
}
for n in pgsql-psql pgsql-tls pgbench-simple pgbench-extended pgbench-prepared; do
    cp "$work/$n.pcap" "$out/$n.pcap"
    pg_expected "$n"
done
ls -l "$out"/pg*.pcap
