#!/usr/bin/env bash
# Prepares a capture NIC on a SPAN/TAP box, printing what it would change;
# changes it only with --apply.
#
#   tuning/nic.sh IFACE [--apply]
#
# - RX ring to the driver's maximum (ethtool -G): a mirror port delivers
#   bursts from many hosts at once; a short ring overflows (rx_missed_errors).
# - Offloads off (GRO, LRO, hardware GRO, TSO, GSO) so the capture sees the
#   segments that were on the wire, not merged super-segments: packet
#   counts, segment sizes, retransmission and RTT metrics depend on it.
# - Promiscuous mode on: mirrored frames are addressed to other hosts.
# - The link up.
# What the driver does not support (a veth has no ring settings) is reported
# and skipped. Settings do not survive a reboot: use a udev rule or the
# systemd-networkd/NetworkManager equivalents (tuning/README.md).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IFACE=
for arg in "$@"; do
    case $arg in
    --apply) APPLY=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*) die "unknown option $arg" ;;
    *) IFACE=$arg ;;
    esac
done
[[ -n $IFACE ]] || die "usage: nic.sh IFACE [--apply]"
iface_exists "$IFACE" || die "no interface $IFACE (have: $(cd /sys/class/net && echo *))"
need_root_for_apply
command -v ethtool >/dev/null || die "ethtool is not installed (apt-get install ethtool)"

echo "# $IFACE: $([[ $APPLY -eq 1 ]] && echo applying || echo 'dry run, add --apply to change')"

# Link.
state=$(cat "/sys/class/net/$IFACE/operstate" 2>/dev/null || echo unknown)
flags=$(cat "/sys/class/net/$IFACE/flags")
if ((flags & 0x1)); then
    ok "link administratively up (operstate $state)"
else
    change "bring the link up" ip link set "$IFACE" up
fi

# Promiscuous mode.
if ((flags & 0x100)); then
    ok "promiscuous mode on"
else
    change "promiscuous mode on (mirrored frames are addressed to other hosts)" ip link set "$IFACE" promisc on
fi

# Rings.
if rings=$(ethtool -g "$IFACE" 2>&1); then
    max=$(awk '/^Pre-set maximums/ {s=1} /^Current hardware/ {s=2} /^RX:/ { if (s==1) print $2 }' <<<"$rings")
    cur=$(awk '/^Pre-set maximums/ {s=1} /^Current hardware/ {s=2} /^RX:/ { if (s==2) print $2 }' <<<"$rings")
    if [[ $max =~ ^[0-9]+$ && $cur =~ ^[0-9]+$ ]]; then
        if ((cur < max)); then
            change "RX ring $cur -> $max descriptors (absorbs bursts)" ethtool -G "$IFACE" rx "$max"
        else
            ok "RX ring at its maximum ($cur)"
        fi
    else
        note "ring sizes not reported by the driver"
    fi
else
    note "ring sizes cannot be read or set on $IFACE: ${rings%%$'\n'*}"
fi

# Offloads: ethtool long name -> short name for -K.
features=$(ethtool -k "$IFACE")
want_off=()
for pair in generic-receive-offload:gro large-receive-offload:lro rx-gro-hw:rx-gro-hw \
    tcp-segmentation-offload:tso generic-segmentation-offload:gso; do
    long=${pair%%:*}
    short=${pair#*:}
    line=$(grep -E "^$long:" <<<"$features" || true)
    if [[ -z $line ]]; then
        continue
    elif [[ $line == *": on"* ]]; then
        if [[ $line == *"[fixed]"* ]]; then
            note "$long is on and fixed by the driver: cannot be turned off"
        else
            want_off+=("$short" off)
        fi
    else
        ok "$long off"
    fi
done
if [[ ${#want_off[@]} -gt 0 ]]; then
    change "offloads off so the capture sees wire segments" ethtool -K "$IFACE" "${want_off[@]}"
fi
