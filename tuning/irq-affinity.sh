#!/usr/bin/env bash
# Keeps a capture NIC's interrupts (and its RSS queues) off the cores that
# run spanlens' capture thread and workers. Prints what it would change;
# changes it only with --apply.
#
#   tuning/irq-affinity.sh IFACE --cpus LIST [--queues N] [--apply]
#
# LIST: the housekeeping cores that may take the NIC's IRQs, e.g. 0-1.
# --queues N: set the NIC to N combined RX/TX queues (ethtool -L) first;
#   with RSS each queue has its own IRQ, so N = number of housekeeping
#   cores spreads the softirq load without touching the spanlens cores.
#
# Each IRQ of the interface (from /sys/class/net/IFACE/device/msi_irqs, or
# /proc/interrupts lines naming it) gets smp_affinity_list = LIST. irqbalance
# would move them back: the script says so when it runs; ban the spanlens
# cores in /etc/default/irqbalance (IRQBALANCE_BANNED_CPULIST=2-7) or stop it.
# A veth or loopback has no IRQs; the script reports that and changes nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IFACE=
CPUS=
QUEUES=
while [[ $# -gt 0 ]]; do
    case $1 in
    --apply) APPLY=1 ;;
    --cpus)
        CPUS=${2:-}
        shift
        ;;
    --queues)
        QUEUES=${2:-}
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*) die "unknown option $1" ;;
    *) IFACE=$1 ;;
    esac
    shift
done
[[ -n $IFACE && -n $CPUS ]] || die "usage: irq-affinity.sh IFACE --cpus LIST [--queues N] [--apply]"
iface_exists "$IFACE" || die "no interface $IFACE"
need_root_for_apply
cpus=$(expand_cpulist "$CPUS")
online=$(expand_cpulist "$(cat /sys/devices/system/cpu/online)")
for c in $cpus; do
    [[ " $online " == *" $c "* ]] || die "CPU $c is not online (online: $online)"
done
echo "# $IFACE IRQs -> CPUs $CPUS: $([[ $APPLY -eq 1 ]] && echo applying || echo 'dry run, add --apply to change')"

if [[ -n $QUEUES ]]; then
    [[ $QUEUES =~ ^[1-9][0-9]*$ ]] || die "--queues needs a positive number"
    if ethtool -l "$IFACE" >/dev/null 2>&1; then
        change "$QUEUES combined RSS queues" ethtool -L "$IFACE" combined "$QUEUES"
    else
        note "$IFACE does not report channel counts (ethtool -l); queues unchanged"
    fi
fi

irqs=()
if [[ -d /sys/class/net/$IFACE/device/msi_irqs ]]; then
    for f in /sys/class/net/"$IFACE"/device/msi_irqs/*; do
        irqs+=("${f##*/}")
    done
fi
if [[ ${#irqs[@]} -eq 0 ]]; then
    while read -r irq _; do
        irqs+=("${irq%:}")
    done < <(grep -E "[[:space:]]$IFACE(-|$|[[:space:]])" /proc/interrupts || true)
fi
if [[ ${#irqs[@]} -eq 0 ]]; then
    note "$IFACE has no IRQs of its own (virtual device?): nothing to pin"
    exit 0
fi
if pgrep -x irqbalance >/dev/null 2>&1; then
    note "irqbalance is running and will move these IRQs again unless it bans the spanlens cores"
fi
for irq in "${irqs[@]}"; do
    f=/proc/irq/$irq/smp_affinity_list
    [[ -e $f ]] || continue
    cur=$(<"$f")
    if [[ $(expand_cpulist "$cur") == "$cpus" ]]; then
        ok "IRQ $irq already on CPUs $cur"
    else
        change "IRQ $irq: CPUs $cur -> $CPUS" sh -c "echo $CPUS > $f"
    fi
done
