#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, builds,
# starts a real Elasticsearch node (cached download) for the integration
# tests, runs every test, stops the node, and checks formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/deps.sh --test

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets -- -D warnings

es_started=""
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    if [[ -n "$es_started" ]]; then
        tests/elasticsearch.sh stop || true
    fi
}
trap cleanup EXIT

if [[ -x tests/elasticsearch.sh && -z "${SPANLENS_ES_URL:-}" && -z "${SPANLENS_SKIP_ES:-}" ]]; then
    echo "== starting Elasticsearch" >&2
    tests/elasticsearch.sh start
    es_started=1
    SPANLENS_ES_URL="$(tests/elasticsearch.sh url)"
    export SPANLENS_ES_URL
fi

echo "== cargo test" >&2
log="$(mktemp)"
set +e
RUST_TEST_THREADS=2 cargo test --all-targets 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oE '^test result: .* ([0-9]+) passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '^test result: .* ([0-9]+) failed' "$log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
rm -f "$log"
if [[ -n "$es_started" ]]; then
    tests/elasticsearch.sh stop || true
    es_started=""
fi
echo "spanlens tests: $passed passed, $failed failed"
exit "$status"
