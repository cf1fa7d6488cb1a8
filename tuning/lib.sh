# shellcheck shell=bash
# Shared helpers for the tuning scripts (sourced, not run).
#
# Every change goes through `change`: without --apply it prints what it would
# run; with --apply it prints and runs it. Reads never change anything.

APPLY=0

# change DESCRIPTION COMMAND...: the one place a setting is changed.
change() {
    local why=$1
    shift
    if [[ $APPLY -eq 1 ]]; then
        printf 'apply: %s\n       %s\n' "$why" "$*"
        "$@"
    else
        printf 'would: %s\n       %s\n' "$why" "$*"
    fi
}

# ok MESSAGE: a setting that is already right.
ok() { printf 'ok:    %s\n' "$*"; }

# note MESSAGE: something that cannot be checked or changed here.
note() { printf 'note:  %s\n' "$*"; }

die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

need_root_for_apply() {
    if [[ $APPLY -eq 1 && $(id -u) -ne 0 ]]; then
        die "--apply needs root"
    fi
}

# iface_exists IFACE
iface_exists() {
    [[ -n $1 && $1 != */* && -e /sys/class/net/$1 ]]
}

# expand_cpulist 0-2,5 -> "0 1 2 5"
expand_cpulist() {
    local part lo hi out=()
    IFS=',' read -ra parts <<<"$1"
    for part in "${parts[@]}"; do
        [[ -z $part ]] && continue
        if [[ $part == *-* ]]; then
            lo=${part%-*}
            hi=${part#*-}
        else
            lo=$part
            hi=$part
        fi
        [[ $lo =~ ^[0-9]+$ && $hi =~ ^[0-9]+$ && $lo -le $hi ]] || die "bad CPU list: $1"
        for ((c = lo; c <= hi; c++)); do out+=("$c"); done
    done
    echo "${out[*]}"
}
