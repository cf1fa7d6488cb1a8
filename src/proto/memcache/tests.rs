//! Session tests: binary quiet pairing, text multi-get, UDP frames, losses,
//! bounds, and the test kit's generic checks on richer exchanges.

use super::*;
use crate::flow::Transport;
use crate::proto::testkit::{self, Driver};
use crate::proto::{ProtocolId, ProtocolsConfig};
use crate::time::SECOND;

/// A binary packet: magic, opcode, key, extras, value, opaque, status.
fn bin(
    magic: u8,
    op: u8,
    key: &[u8],
    extras: &[u8],
    value: &[u8],
    opaque: u32,
    status: u16,
) -> Vec<u8> {
    let mut v = vec![magic, op];
    v.extend_from_slice(&(key.len() as u16).to_be_bytes()); // key length
    v.push(extras.len() as u8); // extras length
    v.push(0); // data type
    v.extend_from_slice(&status.to_be_bytes()); // vbucket / status
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes()); // total body
    v.extend_from_slice(&opaque.to_be_bytes()); // opaque
    v.extend_from_slice(&if magic == 0x81 { 9u64 } else { 0 }.to_be_bytes()); // cas
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}

const T0: crate::time::Timestamp = 1_700_000_000 * SECOND;

fn tcp_session() -> (MemcacheSession, Driver) {
    (
        MemcacheSession::new(Arc::new(MemcacheConfig::default())),
        Driver::new(Transport::Tcp, 11211),
    )
}

#[test]
fn binary_quiet_gets_end_at_the_noop() {
    let req = [
        bin(0x80, 0x0d, b"a", &[], &[], 1, 0), // GetKQ a (miss: no answer)
        bin(0x80, 0x0d, b"b", &[], &[], 2, 0), // GetKQ b (hit)
        bin(0x80, 0x0a, b"", &[], &[], 3, 0),  // No-op
    ]
    .concat();
    let hit = bin(0x81, 0x0d, b"b", &[0, 0, 0, 5], b"vv", 2, 0); // b's value, flags 5
    let done = bin(0x81, 0x0a, b"", &[], &[], 3, 0); // No-op answer
    let resp = [hit.clone(), done.clone()].concat();
    let (mut s, mut d) = tcp_session();
    s.data(Dir::ToServer, &req, T0, &mut d.sink());
    s.data(Dir::ToClient, &resp, T0 + 1000, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 3);
    let m = |i: usize| &ev[i]["memcache"];
    assert_eq!(m(0)["request"]["keys"], serde_json::json!(["a"]));
    assert!(m(0).get("response").is_none());
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(m(1)["response"]["keys"], serde_json::json!(["b"]));
    assert_eq!(m(1)["response"]["bytes"], 2);
    assert_eq!(m(1)["response"]["flags"], 5);
    assert_eq!(m(2)["request"]["opcode"], "No-op");
    assert_eq!(m(2)["response"]["opaque"], 3);
    // The generic checks on the same exchange.
    let cfg = ProtocolsConfig::default();
    // One answer per step: a cut after a whole answer rightly emits.
    let steps: &[(Dir, &[u8])] = &[
        (Dir::ToServer, &req),
        (Dir::ToClient, &hit),
        (Dir::ToClient, &done),
    ];
    testkit::check_every_prefix(ProtocolId::Memcache, &cfg, steps);
    testkit::check_every_split(ProtocolId::Memcache, &cfg, steps);
    testkit::check_random_bytes(ProtocolId::Memcache, &cfg, steps, 11, 200);
}

#[test]
fn text_exchange_generic_checks() {
    let cfg = ProtocolsConfig::default();
    let steps: &[(Dir, &[u8])] = &[
        (Dir::ToServer, b"get x k1 k2\r\n"),
        (
            Dir::ToClient,
            b"VALUE k1 0 3\r\nabc\r\nVALUE k2 7 2 99\r\nde\r\nEND\r\n",
        ),
        (Dir::ToServer, b"incr n 5\r\n"),
        (Dir::ToClient, b"12\r\n"),
        (Dir::ToServer, b"stats\r\n"),
        (Dir::ToClient, b"STAT pid 1\r\nSTAT uptime 20\r\nEND\r\n"),
        (Dir::ToServer, b"bogus\r\n"),
        (Dir::ToClient, b"ERROR\r\n"),
    ];
    testkit::check_every_prefix(ProtocolId::Memcache, &cfg, steps);
    testkit::check_every_split(ProtocolId::Memcache, &cfg, steps);
    let (mut s, mut d) = tcp_session();
    for (dir, b) in steps {
        s.data(*dir, b, T0, &mut d.sink());
    }
    let ev = d.events();
    assert_eq!(ev.len(), 4);
    let r = &ev[0]["memcache"]["response"];
    assert_eq!(r["keys"], serde_json::json!(["k1", "k2"]));
    assert_eq!(r["count_values"], 2);
    assert_eq!(r["bytes"], 5);
    assert_eq!(ev[1]["memcache"]["response"]["value"], 12);
    assert_eq!(ev[1]["memcache"]["request"]["delta"], 5);
    assert_eq!(ev[2]["memcache"]["response"]["stats"][1]["value"], "20");
    assert_eq!(ev[3]["status"], "Error");
    assert_eq!(ev[3]["memcache"]["response"]["type"], "Error");
}

#[test]
fn a_big_value_is_counted_not_kept() {
    let mut req = b"set big 0 0 1000000\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'z', 1_000_000));
    req.extend_from_slice(b"\r\n");
    let (mut s, mut d) = tcp_session();
    for chunk in req.chunks(1448) {
        s.data(Dir::ToServer, chunk, T0, &mut d.sink());
    }
    s.data(Dir::ToClient, b"STORED\r\n", T0 + 1, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["memcache"]["request"]["bytes"], 1_000_000);
    assert_eq!(ev[0]["source"]["bytes"], req.len());
    assert_eq!(d.counters.get("memcache.parse_errors"), 0);
}

#[test]
fn unanswered_requests_expire_and_a_response_gap_is_reported() {
    let (mut s, mut d) = tcp_session();
    s.data(Dir::ToServer, b"get a\r\n", T0, &mut d.sink());
    s.tick(T0 + 9 * SECOND, &mut d.sink());
    assert!(d.events().is_empty());
    s.tick(T0 + 10 * SECOND, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
    s.data(Dir::ToServer, b"get b\r\n", T0 + 11 * SECOND, &mut d.sink());
    s.gap(Dir::ToClient, 100, T0 + 11 * SECOND, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(
        ev[1]["error"]["message"],
        "Packet loss while capturing the response"
    );
    assert_eq!(d.counters.get("memcache.gaps"), 1);
}

#[test]
fn udp_frames_pair_by_request_id() {
    let mut s = MemcacheUdpSession::new(Arc::new(MemcacheConfig::default()));
    let mut d = Driver::new(Transport::Udp, 11211);
    // Frame header: request id 7, sequence 0, 1 datagram, reserved.
    let hdr = |id: u16| [&id.to_be_bytes()[..], &[0, 0, 0, 1, 0, 0]].concat();
    let q = [&hdr(7)[..], b"get k\r\n"].concat();
    let a = [&hdr(7)[..], b"VALUE k 0 1\r\nx\r\nEND\r\n"].concat();
    s.datagram(Dir::ToServer, &q, T0, &mut d.sink());
    s.datagram(
        Dir::ToServer,
        &[&hdr(8)[..], b"delete j noreply\r\n"].concat(),
        T0,
        &mut d.sink(),
    );
    s.datagram(Dir::ToClient, &a, T0 + 1000, &mut d.sink());
    s.datagram(
        Dir::ToClient,
        &[&hdr(9)[..], b"END\r\n"].concat(),
        T0 + 2000,
        &mut d.sink(),
    );
    s.datagram(Dir::ToServer, b"short", T0 + 3000, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0]["memcache"]["request"]["noreply"], true);
    assert_eq!(
        ev[1]["memcache"]["response"]["keys"],
        serde_json::json!(["k"])
    );
    assert_eq!(ev[1]["network"]["transport"], "udp");
    assert_eq!(ev[2]["error"]["message"], "Unmatched response");
    assert_eq!(d.counters.get("memcache.parse_errors"), 1);
}

#[test]
fn in_flight_bound_reports_the_oldest() {
    let cfg = MemcacheConfig {
        max_in_flight: 2,
        ..MemcacheConfig::default()
    };
    let mut s = MemcacheSession::new(Arc::new(cfg));
    let mut d = Driver::new(Transport::Tcp, 11211);
    s.data(
        Dir::ToServer,
        b"get a\r\nget b\r\nget c\r\n",
        T0,
        &mut d.sink(),
    );
    assert_eq!(d.events().len(), 1);
    assert_eq!(d.counters.get("memcache.in_flight_overflow"), 1);
    s.data(Dir::ToClient, b"END\r\nEND\r\n", T0 + 1, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[2]["memcache"]["request"]["keys"][0], "c");
}

/// Found by the fuzz target: the last sequence number must not overflow.
#[test]
fn a_udp_frame_with_the_last_sequence_number() {
    let mut s = MemcacheUdpSession::new(Arc::new(MemcacheConfig::default()));
    let mut d = Driver::new(Transport::Udp, 11211);
    let frame = [&[0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0][..], b"END\r\n"].concat();
    s.datagram(Dir::ToClient, &frame, T0, &mut d.sink());
    assert_eq!(d.events().len(), 1);
}
