#!/usr/bin/env bash
# Installs what spanlens needs on Debian: libpcap-dev to build; with --test
# also what the test suite uses (tshark as an oracle, tcpdump, iproute2,
# systemd's analyzer, shellcheck, Maven for the Elasticsearch zip).
# Idempotent: installs only what is missing. Uses sudo when not root.
set -euo pipefail

pkgs=(libpcap-dev pkg-config)
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=(tshark tcpdump iproute2 ethtool shellcheck maven curl unzip nginx-light systemd)
fi

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
