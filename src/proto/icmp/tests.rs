//! ICMP session tests: echo pairs, unanswered and duplicate requests,
//! unmatched replies, errors with their quoted flow, and the fields.

use super::session::DUPLICATE_REQUEST;
use super::*;
use crate::event::FlowContext;
use crate::flow::Transport;
use crate::proto::common::errors;
use crate::proto::testkit::{Driver, T0};
use crate::time::{MILLISECOND, SECOND};

fn echo(typ: u8, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![typ, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    m
}

struct H {
    d: Driver,
    s: IcmpSession,
}

impl H {
    fn new(v6: bool) -> Self {
        let mut d = Driver::new(Transport::Udp, 0);
        let (c, s) = if v6 {
            ("fd00::1", "fd00::2")
        } else {
            ("10.0.0.1", "10.0.0.2")
        };
        d.flow = FlowContext::new(
            9,
            (c.parse().unwrap(), 8),
            (s.parse().unwrap(), 0),
            Transport::Other(if v6 { 58 } else { 1 }),
            "1:icmp".into(),
        );
        H {
            d,
            s: IcmpSession::new(Arc::new(IcmpConfig::default())),
        }
    }
    fn send(&mut self, dir: Dir, m: &[u8], ts: u64) {
        self.s.datagram(dir, m, ts, &mut self.d.sink());
    }
}

#[test]
fn echo_request_and_reply_are_one_transaction_with_the_round_trip_time() {
    for v6 in [false, true] {
        let (req, rep) = if v6 { (128, 129) } else { (8, 0) };
        let mut h = H::new(v6);
        h.send(Dir::ToServer, &echo(req, 5, 1, b"abcd"), T0);
        h.send(
            Dir::ToClient,
            &echo(rep, 5, 1, b"abcd"),
            T0 + 20 * MILLISECOND,
        );
        let ev = h.d.events();
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(e["type"], "icmp");
        assert_eq!(e["status"], "OK");
        assert_eq!(e["event"]["duration"], 20_000_000);
        assert_eq!(
            e["network"]["transport"],
            if v6 { "ipv6-icmp" } else { "icmp" }
        );
        assert_eq!(e["icmp"]["version"], if v6 { 6 } else { 4 });
        assert_eq!(e["icmp"]["request"]["message"], "EchoRequest");
        assert_eq!(e["icmp"]["request"]["type"], req);
        assert_eq!(e["icmp"]["response"]["message"], "EchoReply");
        assert_eq!(e["icmp"]["response"]["code"], 0);
        assert_eq!(e["source"]["bytes"], 4);
        assert_eq!(e["destination"]["bytes"], 4);
        assert_eq!(e["path"], if v6 { "fd00::2" } else { "10.0.0.2" });
        assert!(e["server"].get("port").is_none(), "ICMP has no ports");
        assert!(e["client"].get("port").is_none());
    }
}

#[test]
fn replies_pair_by_id_and_sequence() {
    let mut h = H::new(false);
    h.send(Dir::ToServer, &echo(8, 5, 1, b""), T0);
    h.send(Dir::ToServer, &echo(8, 5, 2, b""), T0 + MILLISECOND);
    h.send(Dir::ToClient, &echo(0, 5, 2, b""), T0 + 3 * MILLISECOND);
    h.send(Dir::ToClient, &echo(0, 5, 1, b""), T0 + 9 * MILLISECOND);
    let d: Vec<_> =
        h.d.events()
            .iter()
            .map(|e| e["event"]["duration"].clone())
            .collect();
    assert_eq!(d, vec![2_000_000, 9_000_000]);
}

#[test]
fn unanswered_requests_time_out_and_orphan_replies_are_reported() {
    let mut h = H::new(false);
    h.send(Dir::ToServer, &echo(8, 7, 1, b"x"), T0);
    h.s.tick(T0 + 9 * SECOND, &mut h.d.sink());
    assert!(h.d.events().is_empty());
    h.s.tick(T0 + 10 * SECOND, &mut h.d.sink());
    h.send(Dir::ToClient, &echo(0, 7, 9, b"x"), T0 + 11 * SECOND);
    h.send(Dir::ToServer, &echo(8, 7, 2, b"x"), T0 + 12 * SECOND);
    h.s.close(T0 + 13 * SECOND, &mut h.d.sink());
    let ev = h.d.events();
    let errs: Vec<_> = ev.iter().map(|e| e["error"]["message"].clone()).collect();
    assert_eq!(
        errs,
        vec![
            errors::UNMATCHED_REQUEST,
            errors::UNMATCHED_RESPONSE,
            errors::UNMATCHED_REQUEST
        ]
    );
    assert!(ev.iter().all(|e| e["status"] == "Error"));
    assert!(ev[1]["icmp"].get("request").is_none());
    assert_eq!(h.d.counters.get("icmp.unmatched_requests"), 2);
    assert_eq!(h.d.counters.get("icmp.unmatched_responses"), 1);
}

#[test]
fn a_repeated_request_closes_the_first() {
    let mut h = H::new(false);
    h.send(Dir::ToServer, &echo(8, 1, 1, b""), T0);
    h.send(Dir::ToServer, &echo(8, 1, 1, b""), T0 + SECOND);
    h.send(
        Dir::ToClient,
        &echo(0, 1, 1, b""),
        T0 + SECOND + 5 * MILLISECOND,
    );
    let ev = h.d.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["error"]["message"], DUPLICATE_REQUEST);
    assert_eq!(ev[1]["event"]["duration"], 5_000_000);
    assert_eq!(h.d.counters.get("icmp.duplicate_requests"), 1);
}

#[test]
fn an_error_names_the_flow_it_quotes() {
    let mut h = H::new(false);
    let mut m = vec![3, 3, 0, 0, 0, 0, 0, 0]; // DestinationUnreachable(Port)
    m.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 17, 0, 0, // IPv4, UDP
        10, 0, 0, 2, 10, 0, 0, 1, // 10.0.0.2 -> 10.0.0.1
        0x9c, 0x40, 0, 53, 0, 20, 0, 0, // 40000 -> 53
    ]);
    h.send(Dir::ToServer, &m, T0);
    let ev = h.d.events();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["status"], "Error");
    assert_eq!(
        e["icmp"]["request"]["message"],
        "DestinationUnreachable(Port)"
    );
    let q = &e["icmp"]["quoted"];
    assert_eq!(q["source_ip"], "10.0.0.2");
    assert_eq!(q["destination_ip"], "10.0.0.1");
    assert_eq!(q["iana_number"], 17);
    assert_eq!(q["source_port"], 40000);
    assert_eq!(q["destination_port"], 53);
    let want = crate::flow::community_id::community_id(
        0,
        "10.0.0.2".parse().unwrap(),
        "10.0.0.1".parse().unwrap(),
        17,
        Some((40000, 53)),
        false,
    );
    assert_eq!(q["community_id"], want.as_str());
    assert_eq!(h.d.counters.get("icmp.errors"), 1);
}

#[test]
fn other_types_are_reported_alone_and_short_messages_counted() {
    let mut h = H::new(true);
    h.send(Dir::ToServer, &[135, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3], T0); // neighbour solicitation
    h.send(Dir::ToServer, &[128, 0, 0], T0 + 1);
    let ev = h.d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["icmp"]["request"]["message"], "NeighborSolicitation");
    assert_eq!(h.d.counters.get("icmp.parse_errors"), 1);
}
