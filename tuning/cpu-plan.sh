#!/usr/bin/env bash
# Plans which cores spanlens gets on a capture box and prints the settings
# for it; with --apply writes the systemd drop-in that pins the service.
#
#   tuning/cpu-plan.sh [--housekeeping N] [--apply]
#
# spanlens runs one capture thread, W workers and one exporter thread. The
# plan keeps N housekeeping cores (default 1 on up to 8 cores, else 2) for
# the kernel, NIC IRQs and everything else, gives the rest to spanlens, and
# sizes W = spanlens cores - 2 (at least 1). It prints:
#   - the kernel command line for isolation (isolcpus, nohz_full,
#     rcu_nocbs; edit GRUB_CMDLINE_LINUX yourself, then update-grub, reboot),
#   - the irq-affinity.sh command keeping NIC IRQs on the housekeeping cores,
#   - CPUAffinity= and --workers for the unit.
# --apply writes /etc/systemd/system/spanlens.service.d/cpu.conf
# (CPUAffinity and SPANLENS_ARGS=--workers W) and reloads systemd. It never
# edits the boot loader.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HK=
IFACE=eth1
while [[ $# -gt 0 ]]; do
    case $1 in
    --apply) APPLY=1 ;;
    --housekeeping)
        HK=${2:-}
        shift
        ;;
    --iface)
        IFACE=${2:-}
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option $1" ;;
    esac
    shift
done
need_root_for_apply

read -ra online <<<"$(expand_cpulist "$(cat /sys/devices/system/cpu/online)")"
n=${#online[@]}
if [[ -z $HK ]]; then
    if ((n <= 8)); then HK=1; else HK=2; fi
fi
[[ $HK =~ ^[0-9]+$ ]] || die "--housekeeping needs a number"
isolated=$(cat /sys/devices/system/cpu/isolated 2>/dev/null || true)

echo "# $n CPUs online (${online[*]}); isolated now: ${isolated:-none}"
if ((n - HK < 2)); then
    note "only $n CPUs: too few to isolate; run without CPUAffinity, --workers 1, and expect the capture thread to share a core"
    exit 0
fi
hk=("${online[@]:0:HK}")
sl=("${online[@]:HK}")
workers=$((${#sl[@]} - 2))
((workers >= 1)) || workers=1
hk_list=$(
    IFS=,
    echo "${hk[*]}"
)
sl_list=$(
    IFS=,
    echo "${sl[*]}"
)
echo "housekeeping cores (kernel, IRQs, other services): $hk_list"
echo "spanlens cores: $sl_list  -> capture ${sl[0]}, workers $workers, exporter ${sl[-1]}"
echo
echo "kernel command line (append to GRUB_CMDLINE_LINUX, update-grub, reboot):"
echo "    isolcpus=$sl_list nohz_full=$sl_list rcu_nocbs=$sl_list"
echo "NIC interrupts on the housekeeping cores:"
echo "    tuning/irq-affinity.sh $IFACE --cpus $hk_list --queues ${#hk[@]} --apply"
echo "spanlens:"
echo "    CPUAffinity=${sl[*]}"
echo "    spanlens live --workers $workers   ([pipeline] workers = $workers, pin_threads = true)"
echo

dropin=/etc/systemd/system/spanlens.service.d/cpu.conf
write_dropin() {
    mkdir -p "${dropin%/*}"
    printf '[Service]\nCPUAffinity=%s\nEnvironment=SPANLENS_ARGS=--workers %s\n' "${sl[*]}" "$workers" >"$dropin"
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
    fi
}
change "pin spanlens.service to CPUs ${sl[*]} with $workers workers ($dropin)" write_dropin
