#!/usr/bin/env bash
# Makes the DNS and ICMP captures under tests/data/ with a real DNS server
# (unbound) and real clients (dig, ping) in two network namespaces joined by
# a veth pair, and records tshark's view of each capture in
# <name>.expected.json (tests/dns_icmp_captures.rs compares spanlens' events
# with it).
#
#   dns-dig.pcap   unbound 1.17 serving a signed local zone lab.test
#                  (ldns-signzone: DNSKEY, RRSIG, NSEC; a DS in the parent
#                  view) queried by dig over UDP and TCP: A, AAAA, CNAME,
#                  MX, NS, PTR, SOA, SRV, TXT (several strings), CAA, DS,
#                  DNSKEY, RRSIG, NSEC, ANY with EDNS client subnet, an AXFR
#                  over TCP from NSD, several queries on one TCP connection (+keepopen),
#                  NXDOMAIN, REFUSED, a query unbound never answers (its
#                  forwarder is down), a truncated (TC) UDP answer
#                  and its retry over TCP, a query to a closed port
#                  (ICMP port unreachable, v4 and v6), IPv6 transport.
#   icmp-ping.pcap ping (3 echoes) and ping6 (3 echoes), then 2 pings the
#                  server ignores (unanswered requests).
#
# Addresses 10.98.0.0/24 and fd98::/64 exist inside the namespaces only.
# Needs root, unbound, nsd, bind9-dnsutils (dig), ldnsutils, iputils-ping,
# tcpdump, tshark, python3. Usage: tests/data/make-captures-dns.sh [OUT_DIR]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$(cd "${1:-$HERE}" && pwd)"
NS_S=sldns-srv
NS_C=sldns-cli
SRV4=10.98.0.1
CLI4=10.98.0.2
SRV6=fd98::1
CLI6=fd98::2
XFR4=10.98.0.4

die() { echo "make-captures-dns: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, tcpdump)"
for tool in ip unbound nsd dig ldns-keygen ldns-signzone ping tcpdump tshark python3; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

WORK="$(mktemp -d /tmp/spanlens-dns.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_C" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

ip netns del "$NS_S" 2>/dev/null || true
ip netns del "$NS_C" 2>/dev/null || true
ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add sldns-s netns "$NS_S" type veth peer name sldns-c netns "$NS_C"
for side in s c; do
    ns=$NS_S a4=$SRV4 a6=$SRV6
    [[ $side == c ]] && ns=$NS_C a4=$CLI4 a6=$CLI6
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr add "$a4/24" dev "sldns-$side"
    ip netns exec "$ns" ip -6 addr add "$a6/64" dev "sldns-$side" nodad
    ip netns exec "$ns" ip link set "sldns-$side" up
done
sleep 1

# The zone: every record type the decoder reports, signed for real.
cat >"$WORK/lab.test.zone" <<'EOF'
$ORIGIN lab.test.
$TTL 300
@       IN SOA  ns1.lab.test. hostmaster.lab.test. 2024120101 3600 600 86400 300
@       IN NS   ns1.lab.test.
@       IN MX   10 mail.lab.test.
@       IN MX   20 mail2.lab.test.
@       IN TXT  "v=spf1 mx -all"
@       IN CAA  0 issue "ca.example.net"
@       IN CAA  128 iodef "mailto:security@lab.test"
ns1     IN A    10.98.0.1
ns1     IN AAAA fd98::1
www     IN A    192.0.2.10
www     IN A    192.0.2.11
www     IN AAAA 2001:db8::10
web     IN CNAME www.lab.test.
mail    IN A    192.0.2.25
mail2   IN A    192.0.2.26
_sip._udp IN SRV 10 60 5060 sip.lab.test.
sip     IN A    192.0.2.50
multi   IN TXT  "first string" "second string" "third; with \"quotes\""
sub     IN NS   ns1.lab.test.
sub     IN DS   12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
EOF
# A large RRset: 40 TXT records of 60 bytes, far above 512 bytes.
for i in $(seq -w 1 40); do
    printf 'big     IN TXT  "%s-%s"\n' "$i" "$(printf 'x%.0s' $(seq 1 56))" >>"$WORK/lab.test.zone"
done
(
    cd "$WORK"
    ksk=$(ldns-keygen -a ECDSAP256SHA256 -k lab.test)
    zsk=$(ldns-keygen -a ECDSAP256SHA256 lab.test)
    ldns-signzone lab.test.zone "$ksk" "$zsk" >/dev/null 2>&1 ||
        ldns-signzone lab.test.zone "$ksk" "$zsk"
    chmod a+r ./*
)

cat >"$WORK/2.0.192.zone" <<'EOF'
$ORIGIN 2.0.192.in-addr.arpa.
$TTL 300
@  IN SOA ns1.lab.test. hostmaster.lab.test. 1 3600 600 86400 300
@  IN NS  ns1.lab.test.
10 IN PTR www.lab.test.
25 IN PTR mail.lab.test.
EOF

cat >"$WORK/unbound.conf" <<EOF
server:
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: ""
    use-syslog: no
    logfile: "$WORK/unbound.log"
    verbosity: 1
    interface: $SRV4
    interface: $SRV6
    port: 53
    do-ip6: yes
    do-udp: yes
    do-tcp: yes
    access-control: 0.0.0.0/0 allow
    access-control: ::/0 allow
    access-control: 10.98.0.3/32 refuse
    do-not-query-localhost: no
    module-config: "iterator"
    harden-referral-path: no
    qname-minimisation: no
    local-zone: "test." nodefault
    local-zone: "2.0.192.in-addr.arpa." nodefault
    local-zone: "refused.test." refuse
auth-zone:
    name: "lab.test."
    zonefile: "$WORK/lab.test.zone.signed"
    for-downstream: yes
    for-upstream: yes
auth-zone:
    name: "2.0.192.in-addr.arpa."
    zonefile: "$WORK/2.0.192.zone"
    for-downstream: yes
forward-zone:
    name: "fail.example."
    forward-addr: 127.0.0.1@5399
EOF
ip netns exec "$NS_S" unbound -d -c "$WORK/unbound.conf" &
PIDS+=($!)
# NSD on a second address serves zone transfers (unbound refuses AXFR).
ip netns exec "$NS_S" ip addr add "$XFR4/24" dev sldns-s
cat >"$WORK/nsd.conf" <<EOF
server:
    ip-address: $XFR4
    port: 53
    username: ""
    chroot: ""
    zonesdir: "$WORK"
    database: ""
    zonelistfile: "$WORK/zone.list"
    xfrdfile: "$WORK/xfrd.state"
    pidfile: "$WORK/nsd.pid"
    logfile: "$WORK/nsd.log"
    server-count: 1
remote-control:
    control-enable: no
zone:
    name: lab.test
    zonefile: lab.test.zone.signed
    provide-xfr: 0.0.0.0/0 NOKEY
EOF
ip netns exec "$NS_S" nsd -d -c "$WORK/nsd.conf" &
PIDS+=($!)
for _ in $(seq 1 50); do
    in_c dig +time=1 +tries=1 @"$SRV4" lab.test SOA >/dev/null 2>&1 && break
    sleep 0.2
done

capture() { # name, then the client commands as a function name
    local name=$1 fn=$2
    ip netns exec "$NS_C" tcpdump -i sldns-c -w "$WORK/$name.pcap" -U -s 0 \
        'port 53 or port 5399 or icmp or (icmp6 and ip6[40] < 133)' 2>/dev/null &
    local tp=$!
    PIDS+=("$tp")
    sleep 1
    "$fn"
    sleep 1
    kill -TERM "$tp"
    wait "$tp" 2>/dev/null || true
    cp "$WORK/$name.pcap" "$OUT/$name.pcap"
}

q() { in_c dig +time=2 +tries=1 "$@" >/dev/null || true; }

dns_traffic() {
    local t
    for t in A AAAA MX NS SOA TXT CAA DNSKEY RRSIG NSEC; do
        q @"$SRV4" lab.test "$t" +dnssec
    done
    q @"$SRV4" sub.lab.test DS +dnssec
    q @"$SRV4" www.lab.test A
    q @"$SRV4" web.lab.test A
    q @"$SRV4" _sip._udp.lab.test SRV
    q @"$SRV4" multi.lab.test TXT
    q @"$SRV4" -x 192.0.2.10
    q @"$SRV4" www.lab.test ANY +subnet=192.0.2.0/24
    q @"$SRV4" nothing.lab.test A          # NXDOMAIN (with SOA, NSEC proofs)
    q @"$SRV4" www.refused.test A          # REFUSED
    q +time=8 @"$SRV4" www.fail.example A  # unanswered: unbound keeps retrying the dead forwarder
    q @"$SRV4" big.lab.test TXT +noedns    # TC over UDP, dig retries over TCP
    q @"$SRV4" big.lab.test TXT +noedns +ignore  # TC answer kept, no retry
    q @"$SRV4" +tcp www.lab.test AAAA
    q @"$SRV4" +tcp +keepopen lab.test MX www.lab.test A mail.lab.test A
    q @"$XFR4" lab.test AXFR               # NSD: a signed zone over TCP
    q @"$SRV6" ns1.lab.test AAAA
    q @"$SRV6" +tcp www.lab.test A
    q -p 5399 @"$SRV4" www.lab.test A     # closed port: ICMP port unreachable
    q -p 5399 @"$SRV6" www.lab.test A     # ICMPv6 port unreachable
}

icmp_traffic() {
    in_c ping -c 3 -i 0.2 "$SRV4" >/dev/null
    in_c ping -6 -c 3 -i 0.2 "$SRV6" >/dev/null
    in_s sysctl -qw net.ipv4.icmp_echo_ignore_all=1
    in_c ping -c 2 -i 0.2 -W 1 "$SRV4" >/dev/null || true
    in_s sysctl -qw net.ipv4.icmp_echo_ignore_all=0
}

capture dns-dig dns_traffic
capture icmp-ping icmp_traffic
python3 "$HERE/oracle_dns.py" "$OUT/dns-dig.pcap" >"$OUT/dns-dig.expected.json"
python3 "$HERE/oracle_dns.py" "$OUT/icmp-ping.pcap" >"$OUT/icmp-ping.expected.json"
ls -l "$OUT"/dns-dig.* "$OUT"/icmp-ping.*
