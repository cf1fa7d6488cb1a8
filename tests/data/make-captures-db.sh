#!/usr/bin/env bash
# Makes the MySQL/Redis captures under tests/data/ with real servers and
# clients inside a private network namespace (loopback only), and records
# the oracle values tshark computes from each capture in
# <name>.expected.json, which tests/mysql_redis_corpus.rs compares with
# spanlens' events.
#
#   mariadb-client.pcap       mariadb CLI: DDL, inserts, updates, selects, 2 errors
#   mysqlslap.pcap            mysqlslap, 2 clients, 40 auto-generated queries
#   redis-cli.pcap            redis-cli: strings, lists, hashes, an error, MULTI/EXEC, RESP3 (HELLO 3)
#   redis-benchmark.pcap      redis-benchmark -n 200 -t set,get,incr,lpush -c 2
#   redis-benchmark-p16.pcap  the same with -P 16 (pipelining)
#
# Needs root (ip netns), mariadb-server/client, redis-server/tools,
# tcpdump, tshark, jq. Usage: tests/data/make-captures-db.sh [OUT_DIR]
# REDIS_N and SLAP_QUERIES make bigger captures for throughput runs
# (for example REDIS_N=200000 SLAP_QUERIES=20000 ... /tmp/big); the
# committed ones use the defaults.
set -euo pipefail
redis_n="${REDIS_N:-200}"
slap_queries="${SLAP_QUERIES:-40}"

out="$(cd "${1:-$(dirname "$0")}" && pwd)"
ns="spanlens-db-$$"
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

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
# Background jobs use `ip netns exec` directly (it execs the program), so
# that $! is the program's pid and not a subshell's.
inns() { ip netns exec "$ns" "$@"; }

capture() { # name port -> starts tcpdump (not in a subshell), sets $tp
    ip netns exec "$ns" tcpdump -i lo -U -s 0 -w "$work/$1.pcap" "tcp port $2" >/dev/null 2>&1 &
    tp=$!
    pids+=("$tp")
}
stop_capture() { # pid
    sleep 0.5
    kill -TERM "$1" # async jobs of a script ignore SIGINT
    while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
}

# ---------------------------------------------------------------- MariaDB
mkdir -p "$work/db" "$work/run" "$work/tmp"
cat >"$work/my.cnf" <<CNF
[mysqld]
datadir=$work/db
tmpdir=$work/tmp
socket=$work/run/sock
pid-file=$work/run/pid
user=root
CNF
mariadb-install-db --defaults-file="$work/my.cnf" \
    --auth-root-authentication-method=normal --skip-test-db >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; exit 1; }
ip netns exec "$ns" mariadbd --defaults-file="$work/my.cnf" --bind-address=127.0.0.1 --port=3306 --skip-ssl --skip-log-error \
    >"$work/mariadb.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    inns mariadb --no-defaults -h 127.0.0.1 -P 3306 -u root --skip-ssl -e 'select 1' \
        >/dev/null 2>&1 && break
    sleep 0.2
done

sql() { inns mariadb --no-defaults -h 127.0.0.1 -P 3306 -u root --skip-ssl "$@"; }

capture mariadb-client 3306
sleep 0.5
sql -e 'CREATE DATABASE shop'
sql shop <<'SQL' || true
CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40), qty INT);
INSERT INTO items (name, qty) VALUES ('apple', 3), ('pear', 5), ('plum', 7);
UPDATE items SET qty = qty + 1 WHERE qty > 4;
SELECT * FROM items;
SELECT name FROM items WHERE id = 2;
DELETE FROM items WHERE name = 'plum';
SELECT COUNT(*) FROM items;
SQL
sql shop -e 'SELECT * FROM no_such_table' || true
sql -e 'SELEC 1' || true
stop_capture "$tp"

capture mysqlslap 3306
sleep 0.5
inns mariadb-slap --no-defaults -h 127.0.0.1 -P 3306 -u root --skip-ssl \
    --auto-generate-sql --auto-generate-sql-write-number=10 \
    --concurrency=2 --number-of-queries="$slap_queries" \
    --iterations=1 >/dev/null
stop_capture "$tp"

# ---------------------------------------------------------------- Redis
ip netns exec "$ns" redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do inns redis-cli ping >/dev/null 2>&1 && break; sleep 0.2; done

capture redis-cli 6379
sleep 0.5
inns redis-cli set greeting hello >/dev/null
inns redis-cli get greeting >/dev/null
inns redis-cli llen greeting >/dev/null || true
inns redis-cli rpush queue a b c >/dev/null
inns redis-cli lrange queue 0 -1 >/dev/null
inns redis-cli hset user:1 name ada lang rust >/dev/null
inns redis-cli hgetall user:1 >/dev/null
inns redis-cli get missing >/dev/null
printf 'MULTI\nINCR counter\nINCR counter\nEXEC\n' | inns redis-cli >/dev/null
inns redis-cli -3 hgetall user:1 >/dev/null
stop_capture "$tp"

capture redis-benchmark 6379
sleep 0.5
inns redis-benchmark -q -n "$redis_n" -c 2 -d 8 -t set,get,incr,lpush >/dev/null
stop_capture "$tp"

capture redis-benchmark-p16 6379
sleep 0.5
inns redis-benchmark -q -n "$redis_n" -c 2 -d 8 -t set,get,incr,lpush -P 16 >/dev/null
stop_capture "$tp"

# ---------------------------------------------------------------- oracle
# MySQL: one transaction per client command (tshark mysql.command), minus
# COM_STMT_CLOSE/COM_STMT_SEND_LONG_DATA which have no response and are not
# reported; errors are ERR packets (mysql.error_code).
mysql_expected() { # name
    local f="$work/$1.pcap"
    local cmds closes errs methods
    cmds=$(tshark -r "$f" -Y 'mysql.command' -T fields -e mysql.command | tr ',' '\n' | grep -c . || true)
    closes=$(tshark -r "$f" -Y 'mysql.command' -T fields -e mysql.command | tr ',' '\n' | grep -cE '^(25|24)$' || true)
    errs=$(tshark -r "$f" -Y 'mysql.error_code' -T fields -e mysql.error_code | tr ',' '\n' | grep -c . || true)
    methods=$(tshark -r "$f" -Y 'mysql.query' -T fields -e mysql.query |
        awk '{ m = toupper($1); gsub(/[^A-Z_]/, "", m); if (m != "") c[m]++ }
             END { s = ""; for (k in c) s = s sprintf("%s\"%s\":%d", (s == "" ? "" : ","), k, c[k]); print "{" s "}" }')
    jq -n --argjson t "$((cmds - closes))" --argjson e "$errs" --argjson m "$methods" \
        '{type: "mysql", transactions: $t, errors: $e, methods: $m,
          oracle: "tshark -Y mysql.command (minus STMT_CLOSE/SEND_LONG_DATA); errors: -Y mysql.error_code"}' \
        >"$out/$1.expected.json"
}

# Redis: clients send every command as an array of bulk strings, so the
# commands are the top-level arrays towards port 6379 (tshark dissects
# every PDU of a frame; its Info column shows only the first of a
# pipelined frame, so it is not used). Errors are replies with resp.error.
redis_expected() { # name
    local f="$work/$1.pcap"
    local reqs errs
    reqs=$(tshark -r "$f" -Y 'resp && tcp.dstport == 6379' -T fields -e resp.array.length |
        tr ',' '\n' | grep -c . || true)
    errs=$(tshark -r "$f" -Y 'resp.error && tcp.srcport == 6379' -T fields -e resp.error |
        tr ',' '\n' | grep -c . || true)
    jq -n --argjson t "$reqs" --argjson e "$errs" \
        '{type: "redis", transactions: $t, errors: $e,
          oracle: "tshark: resp.array.length values towards 6379 (one array per command); errors: resp.error from 6379"}' \
        >"$out/$1.expected.json"
}

for n in mariadb-client mysqlslap; do
    cp "$work/$n.pcap" "$out/$n.pcap"
    mysql_expected "$n"
done
for n in redis-cli redis-benchmark redis-benchmark-p16; do
    cp "$work/$n.pcap" "$out/$n.pcap"
    redis_expected "$n"
done
ls -l "$out"/*.pcap
