#!/usr/bin/env bash
# Kernel network settings for a capture box, printing what it would change;
# changes them only with --apply (and writes /etc/sysctl.d/90-spanlens.conf
# with --persist).
#
#   tuning/sysctl.sh [--apply] [--persist]
#
# - net.core.rmem_max / rmem_default: the largest socket receive buffer.
#   libpcap's memory-mapped ring (capture.buffer_mb) is not bounded by it,
#   but a capture without the ring and the exporter's sockets are.
# - net.core.netdev_max_backlog: packets queued per CPU between the driver
#   and the stack; a burst beyond it is dropped before any capture sees it
#   (second column of /proc/net/softnet_stat counts those drops).
# - net.core.netdev_budget / netdev_budget_usecs: packets a softirq may
#   handle per run; more lets a busy CPU drain the ring.
# Values are only ever raised, never lowered.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PERSIST=0
for arg in "$@"; do
    case $arg in
    --apply) APPLY=1 ;;
    --persist) PERSIST=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option $arg" ;;
    esac
done
need_root_for_apply
if [[ $PERSIST -eq 1 && $APPLY -ne 1 ]]; then
    die "--persist needs --apply"
fi

declare -A WANT=(
    [net.core.rmem_max]=134217728
    [net.core.rmem_default]=33554432
    [net.core.netdev_max_backlog]=250000
    [net.core.netdev_budget]=600
    [net.core.netdev_budget_usecs]=8000
)
echo "# sysctl: $([[ $APPLY -eq 1 ]] && echo applying || echo 'dry run, add --apply to change')"
lines=()
for key in net.core.rmem_max net.core.rmem_default net.core.netdev_max_backlog \
    net.core.netdev_budget net.core.netdev_budget_usecs; do
    file=/proc/sys/${key//.//}
    want=${WANT[$key]}
    if [[ ! -r $file ]]; then
        note "$key does not exist on this kernel"
        continue
    fi
    cur=$(<"$file")
    lines+=("$key = $want")
    if ((cur >= want)); then
        ok "$key = $cur (>= $want)"
    else
        change "$key $cur -> $want" sysctl -qw "$key=$want"
    fi
done
drops=0
if [[ -r /proc/net/softnet_stat ]]; then
    while read -r _ dropped _; do
        [[ $dropped =~ ^[0-9a-fA-F]+$ ]] && drops=$((drops + 16#$dropped))
    done </proc/net/softnet_stat
fi
note "backlog drops since boot (softnet_stat): $drops"
if [[ $PERSIST -eq 1 ]]; then
    conf=/etc/sysctl.d/90-spanlens.conf
    echo "apply: write $conf"
    {
        echo "# Written by spanlens tuning/sysctl.sh: capture box settings."
        printf '%s\n' "${lines[@]}"
    } >"$conf"
fi
