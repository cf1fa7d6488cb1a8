#!/usr/bin/env bash
# Makes the AMQP 0-9-1 capture under tests/data/ with the real Debian
# rabbitmq-server and a real client (python3-pika) inside a private network
# namespace (loopback only), and records the oracle values tshark computes
# from it in amqp-rabbitmq.expected.json, which tests/amqp_corpus.rs
# compares with spanlens' events.
#
#   amqp-rabbitmq.pcap   pika on one connection: exchange and queue
#                        declares (one no-wait), bind, publish (text and
#                        binary bodies, headers table, persistent), basic.get
#                        (get-ok and get-empty), consume, deliver, ack, nack,
#                        reject, qos, cancel, tx.select/commit/rollback,
#                        confirm.select with the broker's acks, a mandatory
#                        publish returned 312 NO_ROUTE, a passive declare of a
#                        missing queue (channel.close 404), a queue.bind to a
#                        missing exchange (channel.close 404), unbind, purge,
#                        delete; then amqp-tools on four more connections
#                        (a login to a missing vhost: connection.close 530;
#                        amqp-declare-queue, amqp-publish, amqp-get).
#
# Needs root (ip netns), rabbitmq-server, python3-pika, amqp-tools,
# tcpdump, tshark, jq. Usage:
#   tests/data/make-captures-amqp.sh [OUT_DIR]
set -euo pipefail

out="$(cd "${1:-$(dirname "$0")}" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
ns="amqp-lab-$$"
work="$(mktemp -d)"
chmod 755 "$work"
pids=()

cleanup() {
    ip netns exec "$ns" env HOME="$work/home" RABBITMQ_NODENAME=rabbit@localhost \
        rabbitmqctl -n rabbit@localhost stop >/dev/null 2>&1 || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    ip netns pids "$ns" 2>/dev/null | while read -r p; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
inns() { ip netns exec "$ns" "$@"; }

# ---------------------------------------------------------------- server
mkdir -p "$work/home" "$work/mnesia" "$work/log"
echo "spanlens-amqp-cookie" >"$work/home/.erlang.cookie"
chmod 400 "$work/home/.erlang.cookie"
: >"$work/enabled_plugins"
cat >"$work/rabbitmq.conf" <<'CONF'
listeners.tcp.default = 127.0.0.1:5672
loopback_users = none
heartbeat = 0
CONF
export HOME="$work/home" RABBITMQ_NODENAME=rabbit@localhost \
    RABBITMQ_MNESIA_BASE="$work/mnesia" RABBITMQ_LOG_BASE="$work/log" \
    RABBITMQ_CONFIG_FILE="$work/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$work/enabled_plugins" \
    RABBITMQ_PID_FILE="$work/rabbit.pid" RABBITMQ_DIST_PORT=25672
inns /usr/lib/rabbitmq/bin/rabbitmq-server >"$work/server.log" 2>&1 &
pids+=("$!")
up=""
for _ in $(seq 120); do
    if inns /usr/lib/rabbitmq/bin/rabbitmqctl -n rabbit@localhost await_startup \
        >/dev/null 2>&1; then
        up=1
        break
    fi
    sleep 1
done
if [ -z "$up" ]; then
    echo "rabbitmq-server did not start:" >&2
    tail -30 "$work/server.log" >&2
    exit 1
fi

# ---------------------------------------------------------------- capture
inns tcpdump -i lo -U -s 0 -w "$work/amqp-rabbitmq.pcap" "tcp port 5672" >/dev/null 2>&1 &
tp=$!
pids+=("$tp")
sleep 0.5

inns /usr/bin/python3 "$here/amqp_client.py"
# A login to a missing vhost: the server closes the connection with 530.
inns amqp-publish -u amqp://guest:guest@127.0.0.1:5672/no-such-vhost -r tools -b "lost" \
    -C text/plain 2>/dev/null || true
url=amqp://guest:guest@127.0.0.1:5672
inns amqp-declare-queue -u "$url" -q tools >/dev/null
inns amqp-publish -u "$url" -r tools -b "from amqp-tools" -C text/plain
inns amqp-get -u "$url" -q tools >/dev/null

sleep 0.5
kill -TERM "$tp"
while kill -0 "$tp" 2>/dev/null; do sleep 0.1; done

# ---------------------------------------------------------------- oracle
# Every AMQP method tshark decodes (class.method, all PDUs of all frames)
# and the reply codes of channel.close / connection.close.
f="$work/amqp-rabbitmq.pcap"
tshark -r "$f" -d tcp.port==5672,amqp -Y amqp -T fields \
    -e amqp.method.class -e amqp.method.method -e amqp.method.arguments.reply_code \
    2>/dev/null >"$work/methods.tsv"
methods=$(awk -F'\t' '$1 != "" {
    n = split($1, c, ","); split($2, m, ",");
    for (i = 1; i <= n; i++) print c[i] "." m[i] }' "$work/methods.tsv" |
    sort | uniq -c | awk '{ printf "%s\"%s\": %s", (NR > 1 ? ", " : ""), $2, $1 }')
codes=$(awk -F'\t' '$3 != "" { n = split($3, r, ","); for (i = 1; i <= n; i++) print r[i] }' \
    "$work/methods.tsv" | sort -n | paste -sd, -)
jq -n --argjson m "{$methods}" --argjson c "[$codes]" \
    --arg sha "$(sha256sum "$f" | cut -d' ' -f1)" \
    '{type: "amqp", methods: $m, reply_codes: $c, sha256: $sha,
      oracle: "tshark -d tcp.port==5672,amqp -Y amqp -T fields -e amqp.method.class -e amqp.method.method -e amqp.method.arguments.reply_code: count of every class.method PDU, and the reply codes of every close and return"}' \
    >"$out/amqp-rabbitmq.expected.json"
cp "$f" "$out/amqp-rabbitmq.pcap"
ls -l "$out/amqp-rabbitmq.pcap"
cat "$out/amqp-rabbitmq.expected.json"
