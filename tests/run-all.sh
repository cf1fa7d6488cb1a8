#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, builds,
# starts a real Elasticsearch node and a three-node cluster (cached
# download; ES_PORT, default 9250, and the three ports after it) for the
# integration and outage tests, runs every test, stops the nodes, and checks
# formatting and lints.
#
# The closing line is `spanlens tests: N passed, N failed, N skipped`; a
# skipped test is one that printed `SKIPPED: <test>: <reason>` (collected
# through SPANLENS_SKIP_LOG), and every reason is listed above that line.
# SPANLENS_SKIP_ES=1 runs without Elasticsearch (those tests are skipped and
# counted); SPANLENS_ES_URL / SPANLENS_ES_CLUSTER use nodes started elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/deps.sh --test

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets -- -D warnings

es_started=""
cluster_started=""
skip_log="$(mktemp)"
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    if [[ -n "$es_started" ]]; then
        tests/elasticsearch.sh stop || true
    fi
    if [[ -n "$cluster_started" ]]; then
        tests/elasticsearch.sh cluster-stop || true
    fi
    rm -f "$skip_log"
}
trap cleanup EXIT

if [[ -x tests/elasticsearch.sh && -z "${SPANLENS_ES_URL:-}" && -z "${SPANLENS_SKIP_ES:-}" ]]; then
    echo "== starting Elasticsearch (node on port ${ES_PORT:-9250}, cluster on the next three)" >&2
    cluster_started=1
    tests/elasticsearch.sh cluster-start >"$skip_log.cluster" 2>&1 &
    cluster_pid=$!
    tests/elasticsearch.sh start
    es_started=1
    SPANLENS_ES_URL="$(tests/elasticsearch.sh url)"
    export SPANLENS_ES_URL
    if wait "$cluster_pid"; then
        SPANLENS_ES_CLUSTER="$(tests/elasticsearch.sh cluster-url)"
        export SPANLENS_ES_CLUSTER
    else
        echo "== the three-node cluster did not start; the cluster test will be skipped:" >&2
        tail -5 "$skip_log.cluster" >&2
    fi
    rm -f "$skip_log.cluster"
fi

echo "== cargo test" >&2
log="$(mktemp)"
export SPANLENS_SKIP_LOG="$skip_log"
set +e
RUST_TEST_THREADS=2 cargo test --all-targets --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oE '^test result: .* ([0-9]+) passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '^test result: .* ([0-9]+) failed' "$log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
rm -f "$log"
if [[ -n "$es_started" ]]; then
    tests/elasticsearch.sh stop || true
    es_started=""
fi
if [[ -n "$cluster_started" ]]; then
    tests/elasticsearch.sh cluster-stop || true
    cluster_started=""
fi
# A skipped test returned early and so "passed" for cargo: it is counted
# as skipped, not passed (a test that skips twice counts once).
skipped=$(sed -nE 's/^SKIPPED: ([^ ]+): .*/\1/p' "$skip_log" | sort -u | wc -l)
passed=$((passed - skipped))
if ((skipped > 0)); then
    echo "skipped tests, by reason:"
    sed -nE 's/^SKIPPED: [^ ]+: //p' "$skip_log" | sort | uniq -c | sed 's/^/  /'
fi
echo "spanlens tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
