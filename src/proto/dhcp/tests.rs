//! Parser and session tests: a lease as two transactions, NAK, RELEASE,
//! retransmissions, second offers, unmatched messages, timeouts, bounds,
//! and the flow key that puts a request and its reply in one flow.

use super::parser::{self, msg};
use super::*;
use crate::flow::Transport;
use crate::proto::testkit::{self, Driver, T0};
use crate::proto::{ProtocolId, ProtocolsConfig};
use crate::time::SECOND;
use serde_json::json;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// A message: op, xid, message type, yiaddr, options after the type.
fn dhcp(op: u8, xid: u32, t: u8, yiaddr: [u8; 4], opts: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 236];
    b[0] = op;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&xid.to_be_bytes());
    b[16..20].copy_from_slice(&yiaddr);
    b[28..34].copy_from_slice(&MAC);
    b.extend_from_slice(&parser::COOKIE);
    b.extend_from_slice(&[53, 1, t]);
    b.extend_from_slice(opts);
    b.push(255);
    b
}

const LEASE: &[u8] = &[
    54, 4, 10, 65, 0, 1, // server id
    51, 4, 0, 0, 0x0e, 0x10, // 3600 s
    1, 4, 255, 255, 255, 0, // mask
    3, 4, 10, 65, 0, 1, // router
    6, 8, 10, 65, 0, 1, 9, 9, 9, 9, // DNS servers
    12, 3, b'c', b'l', b'i', // hostname
];

fn session() -> (DhcpSession, Driver) {
    (
        DhcpSession::new(Arc::new(DhcpConfig::default())),
        Driver::new(Transport::Udp, 67),
    )
}

#[test]
fn a_lease_is_two_transactions() {
    let (mut s, mut d) = session();
    let ms = 1_000_000;
    let discover = dhcp(1, 7, msg::DISCOVER, [0; 4], &[55, 3, 1, 3, 6]);
    s.datagram(Dir::ToServer, &discover, T0, &mut d.sink());
    s.datagram(
        Dir::ToClient,
        &dhcp(2, 7, msg::OFFER, [10, 65, 0, 50], LEASE),
        T0 + 2 * ms,
        &mut d.sink(),
    );
    let request = dhcp(
        1,
        7,
        msg::REQUEST,
        [0; 4],
        &[50, 4, 10, 65, 0, 50, 54, 4, 10, 65, 0, 1],
    );
    s.datagram(Dir::ToServer, &request, T0 + 3 * ms, &mut d.sink());
    s.datagram(
        Dir::ToClient,
        &dhcp(2, 7, msg::ACK, [10, 65, 0, 50], LEASE),
        T0 + 4 * ms,
        &mut d.sink(),
    );
    let ev = d.events();
    assert_eq!(ev.len(), 2, "{ev:#?}");
    let (a, b) = (&ev[0], &ev[1]);
    assert_eq!(a["type"], "dhcpv4");
    assert_eq!(a["method"], "DISCOVER");
    assert_eq!(a["status"], "OK");
    let d4 = &a["dhcpv4"];
    assert_eq!(d4["op_code"], "bootrequest");
    assert_eq!(d4["transaction_id"], "0x00000007");
    assert_eq!(d4["client_mac"], "52-54-00-12-34-56");
    assert_eq!(d4["hardware_type"], "Ethernet");
    assert_eq!(d4["flags"], "unicast");
    assert_eq!(d4["option"]["message_type"], "discover");
    assert_eq!(
        d4["option"]["parameter_request_list"],
        json!(["Subnet Mask", "Router", "Domain Name Server"])
    );
    assert_eq!(d4["assigned_ip"], "10.65.0.50");
    let r = &d4["reply"];
    assert_eq!(r["op_code"], "bootreply");
    assert_eq!(r["option"]["message_type"], "offer");
    assert_eq!(r["option"]["server_identifier"], "10.65.0.1");
    assert_eq!(r["option"]["ip_address_lease_time_sec"], 3600);
    assert_eq!(r["option"]["subnet_mask"], "255.255.255.0");
    assert_eq!(r["option"]["router"], json!(["10.65.0.1"]));
    assert_eq!(r["option"]["dns_servers"], json!(["10.65.0.1", "9.9.9.9"]));
    assert_eq!(r["option"]["hostname"], "cli");
    assert_eq!(a["transaction"]["wait_us"], 2000);
    assert_eq!(a["source"]["bytes"], discover.len());
    assert_eq!(b["method"], "REQUEST");
    assert_eq!(b["dhcpv4"]["option"]["requested_ip_address"], "10.65.0.50");
    assert_eq!(b["dhcpv4"]["reply"]["option"]["message_type"], "ack");
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn nak_release_retransmissions_and_strays() {
    let (mut s, mut d) = session();
    let req = dhcp(1, 9, msg::REQUEST, [0; 4], &[50, 4, 10, 0, 0, 9]);
    s.datagram(Dir::ToServer, &req, T0, &mut d.sink());
    s.datagram(Dir::ToServer, &req, T0 + SECOND, &mut d.sink());
    let nak = dhcp(
        2,
        9,
        msg::NAK,
        [0; 4],
        &[56, 5, b'w', b'r', b'o', b'n', b'g'],
    );
    s.datagram(Dir::ToClient, &nak, T0 + SECOND + 5, &mut d.sink());
    s.datagram(Dir::ToClient, &nak, T0 + SECOND + 9, &mut d.sink());
    s.datagram(
        Dir::ToServer,
        &dhcp(1, 10, msg::RELEASE, [0; 4], &[]),
        T0 + 2 * SECOND,
        &mut d.sink(),
    );
    s.datagram(
        Dir::ToClient,
        &dhcp(2, 11, msg::ACK, [10, 0, 0, 3], &[]),
        T0 + 3 * SECOND,
        &mut d.sink(),
    );
    s.datagram(
        Dir::ToServer,
        &dhcp(1, 12, msg::DISCOVER, [0; 4], &[]),
        T0 + 4 * SECOND,
        &mut d.sink(),
    );
    s.tick(T0 + 13 * SECOND, &mut d.sink());
    assert_eq!(d.events().len(), 3, "the DISCOVER has not expired yet");
    s.tick(T0 + 15 * SECOND, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 4);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["dhcpv4"]["reply"]["option"]["message"], "wrong");
    assert_eq!(ev[1]["method"], "RELEASE");
    assert_eq!(ev[1]["status"], "OK");
    assert!(ev[1]["dhcpv4"].get("reply").is_none());
    assert_eq!(ev[2]["error"]["message"], "Unmatched response");
    assert_eq!(ev[2]["dhcpv4"]["reply"]["assigned_ip"], "10.0.0.3");
    assert_eq!(ev[3]["error"]["message"], "Unmatched request");
    assert_eq!(ev[3]["method"], "DISCOVER");
    assert_eq!(d.counters.get("dhcpv4.retransmissions"), 1);
    assert_eq!(d.counters.get("dhcpv4.additional_replies"), 1);
}

#[test]
fn parser_bounds() {
    let ok = dhcp(1, 1, msg::DISCOVER, [0; 4], &[12, 2, b'h', b'i']);
    assert!(parser::parse(&ok).is_ok());
    let mut cut = ok.clone();
    cut.truncate(ok.len() - 3); // the hostname option runs past the end
    assert!(parser::parse(&cut).is_err());
    assert!(parser::parse(&ok[..100]).is_err());
    let mut bad = ok.clone();
    bad[236] = 0;
    assert!(parser::parse(&bad).is_err(), "no magic cookie");
    let mut op = ok;
    op[0] = 3;
    assert!(parser::parse(&op).is_err());
    let (mut s, mut d) = session();
    s.datagram(Dir::ToServer, &[1u8; 300], T0, &mut d.sink());
    assert_eq!(d.counters.get("dhcpv4.parse_errors"), 1);
    let mut s = DhcpSession::new(Arc::new(DhcpConfig {
        max_in_flight: 2,
        ..DhcpConfig::default()
    }));
    for x in 0..3 {
        s.datagram(
            Dir::ToServer,
            &dhcp(1, x, msg::DISCOVER, [0; 4], &[]),
            T0,
            &mut d.sink(),
        );
    }
    assert_eq!(s.in_flight(), 2);
    assert_eq!(d.counters.get("dhcpv4.in_flight_evicted"), 1);
}

#[test]
fn request_and_reply_between_other_addresses_share_one_flow() {
    let ep = |s: &str, p: u16| (s.parse::<std::net::IpAddr>().unwrap(), p);
    let (k1, s1) = FlowKey::new(ep("0.0.0.0", 68), ep("255.255.255.255", 67), 17, [5, 0]);
    let (k2, s2) = FlowKey::new(ep("192.168.0.1", 67), ep("192.168.0.10", 68), 17, [5, 0]);
    let (a, sa) = exchange_key(&k1, s1).unwrap();
    let (b, sb) = exchange_key(&k2, s2).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.vlan, [5, 0]);
    assert_ne!(sa, sb, "a request and a reply go opposite ways");
    assert_eq!(sa, Side::LoToHi);
    let (relay, rs) = FlowKey::new(ep("10.0.0.1", 67), ep("10.0.0.2", 67), 17, [0, 0]);
    assert!(exchange_key(&relay, rs).is_none());
    let (dns, ds) = FlowKey::new(ep("10.0.0.1", 68), ep("10.0.0.2", 67), 6, [0, 0]);
    assert!(exchange_key(&dns, ds).is_none(), "TCP is not DHCP");
}

#[test]
fn generic_checks_on_a_lease() {
    let cfg = ProtocolsConfig::default();
    let d1 = dhcp(1, 7, msg::DISCOVER, [0; 4], &[55, 2, 1, 3]);
    let o1 = dhcp(2, 7, msg::OFFER, [10, 65, 0, 50], LEASE);
    let steps: &[(Dir, &[u8])] = &[(Dir::ToServer, &d1), (Dir::ToClient, &o1)];
    testkit::check_random_bytes(ProtocolId::Dhcpv4, &cfg, steps, 3, 200);
}
