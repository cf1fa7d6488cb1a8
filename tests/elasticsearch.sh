#!/usr/bin/env bash
# A real, local, single-node Elasticsearch for trying and testing spanlens.
#
#   tests/elasticsearch.sh start   download (once), start, wait for health, print the URL
#   tests/elasticsearch.sh stop    stop the node and wait until it is gone
#   tests/elasticsearch.sh url     print the URL (exit 1 when the node is not running)
#   tests/elasticsearch.sh status  print the cluster health line
#   tests/elasticsearch.sh kill    SIGKILL the node (restart it with start)
#   tests/elasticsearch.sh freeze  SIGSTOP the node (a stall), thaw: SIGCONT
#
# A three-node cluster on 127.0.0.1 (same distribution, one cluster, its
# own ports so it can run next to the single node):
#
#   tests/elasticsearch.sh cluster-start       start nodes 0, 1, 2; wait for green; print the URLs
#   tests/elasticsearch.sh cluster-stop        stop every node of the cluster
#   tests/elasticsearch.sh cluster-url         print the three URLs, comma-separated
#   tests/elasticsearch.sh node-kill N         SIGKILL node N (0..2) of the cluster
#   tests/elasticsearch.sh node-start N        start node N again and wait until it joined
#
# The cluster's HTTP ports are ES_CLUSTER_PORT (default ES_PORT + 1) and the
# next two; transport ports are those plus 100.
#
# The distribution is the official `integ-test-zip` from Maven Central
# (no bundled JDK, runs on the machine's Java 17), fetched with
# `mvn dependency:copy` and cached outside the repository. The node listens
# on 127.0.0.1 only, with a 512 MiB heap, single-node discovery, relaxed
# disk watermarks and security off. Elasticsearch refuses to run as root, so
# when started as root it runs as the unprivileged user `spanlens-es`.
#
# Environment: ES_VERSION (pinned default below), ES_PORT (9250),
# SPANLENS_CACHE (${XDG_CACHE_HOME:-~/.cache}/spanlens), ES_START_TIMEOUT (120 s).
set -euo pipefail

ES_VERSION="${ES_VERSION:-8.19.21}"
ES_PORT="${ES_PORT:-9250}"
CACHE="${SPANLENS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spanlens}"
ZIP="$CACHE/elasticsearch-$ES_VERSION.zip"
HOME_DIR="$CACHE/elasticsearch-$ES_VERSION"
RUN_DIR="$CACHE/es-run-$ES_PORT"
PID_FILE="$RUN_DIR/es.pid"
LOG_FILE="$RUN_DIR/es.out"
URL="http://127.0.0.1:$ES_PORT"
ES_USER="spanlens-es"
START_TIMEOUT="${ES_START_TIMEOUT:-120}"
CLUSTER_PORT="${ES_CLUSTER_PORT:-$((ES_PORT + 1))}"

say() { echo "elasticsearch.sh: $*" >&2; }

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
    return 1
}

healthy() {
    curl -fsS --max-time 2 "$URL/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null |
        grep -Eq '"status":"(green|yellow)"'
}

download() {
    [[ -s "$ZIP" ]] && return 0
    mkdir -p "$CACHE"
    say "downloading org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION (about 100 MB) ..."
    local tmp
    tmp="$(mktemp -d)"
    # dependency:copy needs a project directory; an empty one will do.
    (cd "$tmp" && mvn -B -q dependency:copy \
        "-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
        "-DoutputDirectory=$CACHE" >"$tmp/mvn.log" 2>&1) || {
        say "mvn dependency:copy failed:"; tail -20 "$tmp/mvn.log" >&2; rm -rf "$tmp"; exit 1; }
    rm -rf "$tmp"
    [[ -s "$ZIP" ]] || { say "download did not produce $ZIP"; exit 1; }
}

unpack() {
    [[ -x "$HOME_DIR/bin/elasticsearch" ]] && return 0
    say "unpacking into $HOME_DIR"
    local tmp
    tmp="$(mktemp -d "$CACHE/unpack.XXXXXX")"
    unzip -q "$ZIP" -d "$tmp"
    mv "$tmp/elasticsearch-$ES_VERSION" "$HOME_DIR"
    rmdir "$tmp"
}

run_as() {
    # Runs "$@" as the unprivileged user when we are root, else as ourselves.
    if [[ "$(id -u)" == 0 ]]; then
        id "$ES_USER" >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
        chown -R "$ES_USER:" "$HOME_DIR" "$RUN_DIR"
        # The cache's parents must be traversable by that user.
        local d="$CACHE"
        while [[ "$d" != "/" ]]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
        runuser -u "$ES_USER" -- "$@"
    else
        "$@"
    fi
}

java_home() {
    if [[ -n "${ES_JAVA_HOME:-}" ]]; then echo "$ES_JAVA_HOME"; return; fi
    local j
    j="$(readlink -f "$(command -v java)")"
    dirname "$(dirname "$j")"
}

# launch PORT CLUSTER_NAME NODE_NAME -E... : starts one node daemonised
# (RUN_DIR, PID_FILE, LOG_FILE must point at its own directory).
launch() {
    local port="$1" cname="$2" nname="$3"
    shift 3
    if curl -fsS --max-time 2 "http://127.0.0.1:$port" >/dev/null 2>&1; then
        say "port $port already answers but was not started by this script; choose ES_PORT"
        exit 1
    fi
    download
    unpack
    mkdir -p "$RUN_DIR/data" "$RUN_DIR/logs"
    : >"$LOG_FILE"
    local jh
    jh="$(java_home)"
    # -d daemonises and writes the pid file; settings given with -E.
    run_as env ES_JAVA_HOME="$jh" ES_JAVA_OPTS="-Xms512m -Xmx512m" \
        "$HOME_DIR/bin/elasticsearch" -d -p "$PID_FILE" \
        -E cluster.name="$cname" \
        -E node.name="$nname" \
        -E network.host=127.0.0.1 \
        -E http.port="$port" \
        -E transport.port="$((port + 100))" \
        -E path.data="$RUN_DIR/data" \
        -E path.logs="$RUN_DIR/logs" \
        -E xpack.security.enabled=false \
        -E cluster.routing.allocation.disk.threshold_enabled=false \
        -E action.destructive_requires_name=false \
        "$@" \
        >>"$LOG_FILE" 2>&1 || {
        say "start failed:"; tail -30 "$LOG_FILE" >&2; exit 1; }
}

start() {
    if running_pid >/dev/null; then
        healthy && { echo "$URL"; return 0; }
    else
        launch "$ES_PORT" spanlens-test spanlens-test-node -E discovery.type=single-node
    fi
    local waited=0
    until healthy; do
        if ! running_pid >/dev/null && ((waited > 5)); then
            say "the node exited during start-up; last log lines:"
            tail -30 "$LOG_FILE" >&2
            tail -30 "$RUN_DIR/logs/spanlens-test.log" 2>/dev/null >&2 || true
            exit 1
        fi
        if ((waited >= START_TIMEOUT)); then
            say "no healthy cluster at $URL after ${START_TIMEOUT}s"; exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "healthy after ${waited}s"
    echo "$URL"
}

stop() {
    local pid
    if pid="$(running_pid)"; then
        kill "$pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$pid" 2>/dev/null; do
            if ((waited >= 60)); then kill -9 "$pid" 2>/dev/null || true; fi
            sleep 0.5
            waited=$((waited + 1))
        done
        say "stopped (pid $pid)"
    fi
    rm -f "$PID_FILE"
}

# use_node N: points RUN_DIR, PID_FILE, LOG_FILE and URL at cluster node N.
use_node() {
    local n="$1"
    [[ "$n" =~ ^[0-2]$ ]] || { say "node number must be 0, 1 or 2"; exit 2; }
    NODE_PORT=$((CLUSTER_PORT + n))
    RUN_DIR="$CACHE/es-cluster-$CLUSTER_PORT/node$n"
    PID_FILE="$RUN_DIR/es.pid"
    LOG_FILE="$RUN_DIR/es.out"
    URL="http://127.0.0.1:$NODE_PORT"
}

cluster_urls() {
    echo "http://127.0.0.1:$CLUSTER_PORT,http://127.0.0.1:$((CLUSTER_PORT + 1)),http://127.0.0.1:$((CLUSTER_PORT + 2))"
}

node_start() {
    use_node "$1"
    running_pid >/dev/null && return 0
    local t=$((CLUSTER_PORT + 100))
    launch "$NODE_PORT" "spanlens-cluster-$CLUSTER_PORT" "node$1" \
        -E discovery.seed_hosts="127.0.0.1:$t,127.0.0.1:$((t + 1)),127.0.0.1:$((t + 2))" \
        -E cluster.initial_master_nodes=node0,node1,node2 \
        -E node.processors=1
}

# Waits until the node answers and the cluster has N nodes (green: every
# replica allocated).
wait_cluster() {
    local want="$1" status="$2" waited=0
    use_node 0
    local any
    until
        for n in 0 1 2; do
            use_node "$n"
            any="$(curl -fsS --max-time 2 "$URL/_cluster/health?wait_for_nodes=$want&wait_for_status=$status&timeout=1s" 2>/dev/null || true)"
            if grep -q "\"number_of_nodes\":$want," <<<"$any" && grep -Eq "\"status\":\"($status|green)\"" <<<"$any"; then
                break
            fi
            any=""
        done
        [[ -n "$any" ]]
    do
        if ((waited >= START_TIMEOUT)); then
            say "cluster not $status with $want nodes after ${START_TIMEOUT}s"
            for n in 0 1 2; do use_node "$n"; tail -5 "$LOG_FILE" >&2 2>/dev/null || true; done
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "cluster $status with $want nodes after ${waited}s"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
kill)
    # SIGKILL the single node (an outage without a clean shutdown).
    if pid="$(running_pid)"; then
        kill -9 "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        say "killed (pid $pid)"
    fi
    rm -f "$PID_FILE"
    ;;
freeze)
    # SIGSTOP: the node keeps accepting connections but answers nothing.
    pid="$(running_pid)" || { say "not running"; exit 1; }
    kill -STOP "$pid"
    say "frozen (pid $pid)"
    ;;
thaw)
    pid="$(running_pid)" || { say "not running"; exit 1; }
    kill -CONT "$pid"
    say "thawed (pid $pid)"
    ;;
cluster-start)
    download
    unpack
    # In parallel: each node's start-up waits for the others to discover.
    pids=()
    for n in 0 1 2; do node_start "$n" & pids+=("$!"); done
    for p in "${pids[@]}"; do wait "$p" || { say "a cluster node failed to start"; exit 1; }; done
    wait_cluster 3 green
    cluster_urls
    ;;
cluster-stop)
    for n in 0 1 2; do use_node "$n"; stop; done
    ;;
cluster-url)
    for n in 0 1 2; do use_node "$n"; running_pid >/dev/null || { say "cluster node $n not running"; exit 1; }; done
    cluster_urls
    ;;
node-kill)
    use_node "${2:-}"
    if pid="$(running_pid)"; then
        kill -9 "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        say "node ${2} killed (pid $pid)"
    fi
    rm -f "$PID_FILE"
    ;;
node-start)
    node_start "${2:-}"
    wait_cluster 3 yellow
    ;;
url)
    running_pid >/dev/null || { say "not running"; exit 1; }
    echo "$URL"
    ;;
status) curl -fsS --max-time 5 "$URL/_cluster/health" && echo ;;
*)
    echo "usage: $0 start|stop|url|status|kill|freeze|thaw|cluster-start|cluster-stop|cluster-url|node-kill N|node-start N" >&2
    exit 2
    ;;
esac
