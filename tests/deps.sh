#!/usr/bin/env bash
# Installs what spanlens needs on Debian: libpcap-dev to build, npm to
# install the report page's chart library and map (ui/package.json, pinned
# versions, into the ignored ui/node_modules that the build embeds); with
# --test also what the test suite uses (tshark as an oracle, tcpdump,
# iproute2, systemd's analyzer, shellcheck, Maven for the Elasticsearch zip,
# chromium to open the report headless); with --bench what the throughput
# benchmarks compare against or count with (tcpdump, the floor; valgrind
# for benches/lab/cost.sh; libndpi-bin's ndpiReader for
# `cargo bench --bench replay`): never needed by the test suite.
# Idempotent: installs only what is missing. Uses sudo when not root.
set -euo pipefail

pkgs=(libpcap-dev pkg-config)
# npm from Debian unless one is already installed (e.g. with Node.js from elsewhere).
command -v npm >/dev/null || pkgs+=(npm)
case "${1:-}" in
    --test) pkgs+=(tshark tcpdump iproute2 ethtool shellcheck maven curl unzip nginx-light systemd chromium) ;;
    --bench) pkgs+=(tcpdump valgrind libndpi-bin) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "deps: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
    echo "deps: cargo not found; install Rust from your distribution or rustup, then retry" >&2
    exit 1
fi

# The report's third-party code, by name and pinned version from the npm
# registry (never committed). The build embeds it; without it spanlens
# builds but --report, report and --ui say to run this script.
ui="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/ui"
if [[ ! -f "$ui/node_modules/echarts/dist/echarts.min.js" || ! -f "$ui/node_modules/world-atlas/countries-110m.json" \
      || ! -f "$ui/node_modules/topojson-client/dist/topojson-client.min.js" ]]; then
    echo "deps: installing the report's chart library and map from the npm registry into ui/node_modules" >&2
    (cd "$ui" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
