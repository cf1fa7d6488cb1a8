//! DNS session tests: pairing by id over UDP and TCP, duplicates, unmatched
//! both ways, timeouts, truncation, TCP framing splits and resync, bounds,
//! and the event fields.

use super::session::{DUPLICATE_QUERY, INVALID_RESPONSE};
use super::*;
use crate::proto::common::errors;
use crate::proto::testkit::{self, Driver, T0};
use crate::proto::{DatagramSession, Dir, ProtocolId, ProtocolsConfig, Session};
use crate::time::{MILLISECOND, SECOND};
use serde_json::Value;

/// A name in wire form.
fn wire_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in name.split('.').filter(|l| !l.is_empty()) {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

/// A query: id, name, type (RD set, class IN).
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&wire_name(name));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

/// The response to `query(id, name, 1)`: rcode, `answers` A records
/// 192.0.2.<i> (owner: a pointer to the question), flags byte 2 extra bits.
fn response(id: u16, name: &str, rcode: u8, answers: u8, extra_flags: u8) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[
        0x81 | extra_flags,
        0x80 | rcode,
        0,
        1,
        0,
        answers,
        0,
        0,
        0,
        0,
    ]);
    m.extend_from_slice(&wire_name(name));
    m.extend_from_slice(&[0, 1, 0, 1]);
    for i in 0..answers {
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, i + 1]);
    }
    m
}

fn framed(msgs: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for m in msgs {
        v.extend_from_slice(&(m.len() as u16).to_be_bytes());
        v.extend_from_slice(m);
    }
    v
}

struct Udp {
    d: Driver,
    s: DnsSession,
}

impl Udp {
    fn new(cfg: DnsConfig) -> Self {
        Udp {
            d: Driver::new(crate::flow::Transport::Udp, 53),
            s: DnsSession::new(Arc::new(cfg)),
        }
    }
    fn send(&mut self, dir: Dir, m: &[u8], ts: u64) {
        DatagramSession::datagram(&mut self.s, dir, m, ts, &mut self.d.sink());
    }
    fn tick(&mut self, ts: u64) {
        DatagramSession::tick(&mut self.s, ts, &mut self.d.sink());
    }
    fn close(&mut self, ts: u64) {
        DatagramSession::close(&mut self.s, ts, &mut self.d.sink());
    }
}

#[test]
fn udp_query_and_response_make_one_event_with_packetbeat_fields() {
    let mut u = Udp::new(DnsConfig::default());
    let q = query(0x1234, "www.example.com", 1);
    let r = response(0x1234, "www.example.com", 0, 2, 0);
    u.send(Dir::ToServer, &q, T0);
    u.send(Dir::ToClient, &r, T0 + 3 * MILLISECOND);
    u.close(T0 + SECOND);
    let ev = u.d.events();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["type"], "dns");
    assert_eq!(e["status"], "OK");
    assert_eq!(e["method"], "QUERY");
    assert_eq!(e["query"], "class IN, type A, www.example.com");
    assert_eq!(e["resource"], "www.example.com");
    assert_eq!(e["event"]["duration"], 3_000_000);
    assert_eq!(e["source"]["bytes"], q.len());
    assert_eq!(e["destination"]["bytes"], r.len());
    let d = &e["dns"];
    assert_eq!(d["id"], 0x1234);
    assert_eq!(d["type"], "answer");
    assert_eq!(d["op_code"], "QUERY");
    assert_eq!(d["response_code"], "NOERROR");
    assert_eq!(d["flags"]["recursion_desired"], true);
    assert_eq!(d["flags"]["recursion_available"], true);
    assert_eq!(d["flags"]["truncated_response"], false);
    assert_eq!(d["header_flags"], serde_json::json!(["RD", "RA"]));
    assert_eq!(d["question"]["name"], "www.example.com");
    assert_eq!(d["question"]["type"], "A");
    assert_eq!(d["question"]["class"], "IN");
    assert_eq!(d["answers_count"], 2);
    assert_eq!(d["answers"][1]["data"], "192.0.2.2");
    assert_eq!(d["answers"][1]["ttl"], 60);
    assert_eq!(d["answers"][0]["name"], "www.example.com");
    assert_eq!(
        d["resolved_ip"],
        serde_json::json!(["192.0.2.1", "192.0.2.2"])
    );
    assert_eq!(d["authorities_count"], 0);
    assert_eq!(d["additionals_count"], 0);
    assert!(d.get("authorities").is_none());
    assert_eq!(u.d.counters.get("events.dns"), 1);
}

#[test]
fn nxdomain_servfail_refused_are_errors() {
    for (rcode, name) in [
        (3u8, "NXDOMAIN"),
        (2, "SERVFAIL"),
        (5, "REFUSED"),
        (0, "NOERROR"),
    ] {
        let mut u = Udp::new(DnsConfig::default());
        u.send(Dir::ToServer, &query(7, "x.test", 1), T0);
        u.send(
            Dir::ToClient,
            &response(7, "x.test", rcode, 0, 0),
            T0 + MILLISECOND,
        );
        let e = &u.d.events()[0];
        assert_eq!(e["dns"]["response_code"], name);
        assert_eq!(e["status"], if rcode == 0 { "OK" } else { "Error" });
        assert!(e.get("error").is_none());
    }
}

#[test]
fn responses_pair_by_id_not_by_order() {
    let mut u = Udp::new(DnsConfig::default());
    u.send(Dir::ToServer, &query(1, "a.test", 1), T0);
    u.send(Dir::ToServer, &query(2, "b.test", 1), T0 + MILLISECOND);
    u.send(
        Dir::ToClient,
        &response(2, "b.test", 0, 1, 0),
        T0 + 2 * MILLISECOND,
    );
    u.send(
        Dir::ToClient,
        &response(1, "a.test", 0, 1, 0),
        T0 + 5 * MILLISECOND,
    );
    let ev = u.d.events();
    let got: Vec<_> = ev
        .iter()
        .map(|e| (e["resource"].clone(), e["event"]["duration"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Value::from("b.test"), Value::from(1_000_000)),
            (Value::from("a.test"), Value::from(5_000_000))
        ]
    );
}

#[test]
fn unanswered_query_times_out_on_packet_time_and_at_close() {
    let mut u = Udp::new(DnsConfig::default());
    u.send(Dir::ToServer, &query(9, "slow.test", 28), T0);
    u.tick(T0 + 9 * SECOND);
    assert!(u.d.events().is_empty());
    u.tick(T0 + 10 * SECOND);
    let ev = u.d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["error"]["message"], errors::UNMATCHED_REQUEST);
    assert_eq!(ev[0]["dns"]["type"], "query");
    assert_eq!(ev[0]["dns"]["question"]["type"], "AAAA");
    assert_eq!(ev[0]["query"], "class IN, type AAAA, slow.test");
    // A second one is reported when the flow ends.
    u.send(Dir::ToServer, &query(10, "late.test", 1), T0 + 11 * SECOND);
    u.close(T0 + 12 * SECOND);
    assert_eq!(u.d.events().len(), 2);
    assert_eq!(u.d.counters.get("dns.unmatched_requests"), 2);
}

#[test]
fn unmatched_and_duplicate_responses() {
    let mut u = Udp::new(DnsConfig::default());
    // No query at all.
    u.send(Dir::ToClient, &response(3, "orphan.test", 0, 1, 0), T0);
    // A query answered twice (the server retransmitted).
    u.send(Dir::ToServer, &query(4, "dup.test", 1), T0 + MILLISECOND);
    let r = response(4, "dup.test", 0, 1, 0);
    u.send(Dir::ToClient, &r, T0 + 2 * MILLISECOND);
    u.send(Dir::ToClient, &r, T0 + 3 * MILLISECOND);
    let ev = u.d.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["error"]["message"], errors::UNMATCHED_RESPONSE);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["resource"], "orphan.test");
    assert_eq!(ev[0]["source"]["bytes"], 0);
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(u.d.counters.get("dns.unmatched_responses"), 1);
    assert_eq!(u.d.counters.get("dns.duplicate_responses"), 1);
}

#[test]
fn a_second_query_with_a_waiting_id_closes_the_first() {
    let mut u = Udp::new(DnsConfig::default());
    u.send(Dir::ToServer, &query(5, "one.test", 1), T0);
    u.send(Dir::ToServer, &query(5, "two.test", 1), T0 + MILLISECOND);
    u.send(
        Dir::ToClient,
        &response(5, "two.test", 0, 1, 0),
        T0 + 2 * MILLISECOND,
    );
    let ev = u.d.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["resource"], "one.test");
    assert_eq!(ev[0]["error"]["message"], DUPLICATE_QUERY);
    assert_eq!(ev[1]["resource"], "two.test");
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(u.d.counters.get("dns.duplicate_queries"), 1);
}

#[test]
fn truncated_response_cut_mid_record_is_reported_with_what_fits() {
    let mut u = Udp::new(DnsConfig::default());
    u.send(Dir::ToServer, &query(6, "big.test", 16), T0);
    let mut r = response(6, "big.test", 0, 3, 0x02); // TC
    r.truncate(r.len() - 7); // the third record is cut
    u.send(Dir::ToClient, &r, T0 + MILLISECOND);
    let e = &u.d.events()[0];
    assert_eq!(e["status"], "OK");
    assert_eq!(e["dns"]["flags"]["truncated_response"], true);
    assert_eq!(
        e["dns"]["header_flags"],
        serde_json::json!(["TC", "RD", "RA"])
    );
    assert_eq!(e["dns"]["answers_count"], 2);
}

#[test]
fn an_invalid_response_still_completes_its_query() {
    let mut u = Udp::new(DnsConfig::default());
    u.send(Dir::ToServer, &query(8, "bad.test", 1), T0);
    let mut r = response(8, "bad.test", 0, 1, 0);
    r.truncate(r.len() - 3); // no TC flag: a malformed message
    u.send(Dir::ToClient, &r, T0 + MILLISECOND);
    let ev = u.d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["error"]["message"], INVALID_RESPONSE);
    assert_eq!(ev[0]["resource"], "bad.test");
    assert_eq!(u.d.counters.get("dns.parse_errors"), 1);
    // Garbage shorter than a header is counted, never an event.
    u.send(Dir::ToServer, b"hello", T0 + 2 * MILLISECOND);
    assert_eq!(u.d.events().len(), 1);
    assert_eq!(u.d.counters.get("dns.parse_errors"), 2);
}

#[test]
fn in_flight_bound_reports_the_oldest_as_unmatched() {
    let mut u = Udp::new(DnsConfig {
        max_in_flight: 2,
        ..DnsConfig::default()
    });
    for id in 1..=3u16 {
        u.send(Dir::ToServer, &query(id, "q.test", 1), T0 + u64::from(id));
    }
    let ev = u.d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["dns"]["id"], 1);
    assert_eq!(u.d.counters.get("dns.in_flight_evicted"), 1);
    assert_eq!(u.s.in_flight(), 2);
}

#[test]
fn authorities_and_additionals_only_when_configured() {
    // Response with one NS authority and one A additional plus OPT.
    let mut r = vec![0, 11, 0x81, 0x80, 0, 1, 0, 0, 0, 1, 0, 2];
    r.extend_from_slice(&wire_name("zone.test"));
    r.extend_from_slice(&[0, 2, 0, 1]);
    r.extend_from_slice(&[
        0xc0, 12, 0, 2, 0, 1, 0, 0, 1, 0, 0, 6, 3, b'n', b's', b'1', 0xc0, 12,
    ]);
    let ns_at = (r.len() - 6) as u8;
    r.extend_from_slice(&[0xc0, ns_at, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 10, 0, 0, 53]);
    r.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0]); // OPT 4096, DO
    for include in [false, true] {
        let mut u = Udp::new(DnsConfig {
            include_authorities: include,
            include_additionals: include,
            ..DnsConfig::default()
        });
        u.send(Dir::ToServer, &query(11, "zone.test", 2), T0);
        u.send(Dir::ToClient, &r, T0 + 1);
        let d = &u.d.events()[0]["dns"];
        assert_eq!(d["authorities_count"], 1);
        assert_eq!(d["additionals_count"], 1, "OPT is not counted");
        assert_eq!(d["opt"]["udp_size"], 4096);
        assert_eq!(d["opt"]["do"], true);
        assert_eq!(d["opt"]["version"], "0");
        assert_eq!(d["opt"]["ext_rcode"], "NOERROR");
        assert_eq!(d.get("authorities").is_some(), include);
        if include {
            assert_eq!(d["authorities"][0]["data"], "ns1.zone.test");
            assert_eq!(d["additionals"].as_array().unwrap().len(), 1);
            assert_eq!(d["additionals"][0]["name"], "ns1.zone.test");
            assert_eq!(d["additionals"][0]["data"], "10.0.0.53");
        }
    }
}

fn tcp_exchange() -> (Vec<u8>, Vec<u8>) {
    let q1 = query(21, "a.test", 1);
    let q2 = query(22, "b.test", 1);
    let q3 = query(23, "c.test", 1);
    let r1 = response(21, "a.test", 0, 1, 0);
    let r2 = response(22, "b.test", 3, 0, 0);
    let r3 = response(23, "c.test", 0, 2, 0);
    (framed(&[&q1, &q2, &q3]), framed(&[&r1, &r3, &r2]))
}

#[test]
fn tcp_several_messages_per_connection_pair_by_id() {
    let (req, resp) = tcp_exchange();
    let mut d = Driver::new(crate::flow::Transport::Tcp, 53);
    let mut s = DnsSession::new(Arc::new(DnsConfig::default()));
    Session::data(&mut s, Dir::ToServer, &req, T0, &mut d.sink());
    Session::data(
        &mut s,
        Dir::ToClient,
        &resp,
        T0 + MILLISECOND,
        &mut d.sink(),
    );
    Session::close(&mut s, T0 + SECOND, &mut d.sink());
    let ev = d.events();
    let got: Vec<_> = ev
        .iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("a.test", "OK"), ("c.test", "OK"), ("b.test", "Error")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(ev[0]["network"]["transport"], "tcp");
    // TCP bytes include the two-byte length prefix.
    assert_eq!(ev[0]["source"]["bytes"], query(21, "a.test", 1).len() + 2);
}

#[test]
fn tcp_every_prefix_and_every_split_give_the_same_events() {
    let (req, resp) = tcp_exchange();
    let cfg = ProtocolsConfig::default();
    let steps: &[(Dir, &[u8])] = &[(Dir::ToServer, &req), (Dir::ToClient, &resp)];
    let one: &[(Dir, &[u8])] = &[
        (Dir::ToServer, &req[..2 + query(21, "a.test", 1).len()]),
        (
            Dir::ToClient,
            &resp[..2 + response(21, "a.test", 0, 1, 0).len()],
        ),
    ];
    testkit::check_every_prefix(ProtocolId::Dns, &cfg, one);
    testkit::check_every_split(ProtocolId::Dns, &cfg, steps);
    testkit::check_random_bytes(ProtocolId::Dns, &cfg, steps, 0x5eed, 300);
}

#[test]
fn tcp_gap_resyncs_at_the_next_whole_message() {
    let (req, resp) = tcp_exchange();
    let mut d = Driver::new(crate::flow::Transport::Tcp, 53);
    let mut s = DnsSession::new(Arc::new(DnsConfig::default()));
    Session::data(&mut s, Dir::ToServer, &req, T0, &mut d.sink());
    // The first response and half of the second are lost.
    let first = 2 + response(21, "a.test", 0, 1, 0).len();
    let cut = first + 10;
    Session::gap(&mut s, Dir::ToClient, cut as u64, T0 + 1, &mut d.sink());
    Session::data(&mut s, Dir::ToClient, &resp[cut..], T0 + 2, &mut d.sink());
    Session::close(&mut s, T0 + SECOND, &mut d.sink());
    let ev = d.events();
    let mut got: Vec<_> = ev
        .iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap().to_string(),
                e.get("error").is_some(),
            )
        })
        .collect();
    got.sort();
    // b.test's response followed the lost one; a.test and c.test are unmatched.
    assert_eq!(
        got,
        vec![
            ("a.test".into(), true),
            ("b.test".into(), false),
            ("c.test".into(), true)
        ]
    );
    assert_eq!(d.counters.get("dns.resyncs"), 1);
    assert!(d.counters.get("dns.resync_skipped_bytes") > 0);
}

#[test]
fn sample_over_udp_gives_an_ok_event() {
    let mut u = Udp::new(DnsConfig::default());
    u.send(Dir::ToServer, &Dns::SAMPLE[0].1[2..], T0);
    u.send(Dir::ToClient, &Dns::SAMPLE[1].1[2..], T0 + 1);
    let ev = u.d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["dns"]["answers"][0]["data"], "192.0.2.7");
}

#[test]
fn record_data_as_packetbeat_writes_it() {
    use super::parser::tests::sample_response;
    // The parser's sample (CNAME, A, NS authority, OPT with a cookie).
    let r = sample_response();
    let mut u = Udp::new(DnsConfig {
        include_authorities: true,
        ..DnsConfig::default()
    });
    u.send(Dir::ToServer, &query(0x1234, "www.example.com", 1), T0);
    u.send(Dir::ToClient, &r, T0 + 1);
    let d = &u.d.events()[0]["dns"];
    assert_eq!(d["answers"][0]["type"], "CNAME");
    assert_eq!(d["answers"][0]["data"], "web.example.com");
    assert_eq!(d["answers"][1]["name"], "web.example.com");
    assert_eq!(d["resolved_ip"], serde_json::json!(["192.0.2.7"]));
    assert_eq!(d["authorities"][0]["data"], "ns1.example.com");
    assert_eq!(d["flags"]["authentic_data"], true);
    assert_eq!(
        d["header_flags"],
        serde_json::json!(["RD", "RA", "AD", "DO"])
    );
    assert_eq!(d["opt"]["udp_size"], 1232);
}

#[test]
fn every_record_type_renders() {
    // One response carrying MX, SOA, SRV, TXT (2 strings), CAA, DS,
    // DNSKEY, RRSIG, NSEC, PTR and an unknown type.
    let mut r = vec![0, 1, 0x84, 0x00, 0, 1, 0, 11, 0, 0, 0, 0];
    r.extend_from_slice(&wire_name("ex.test")); // at 12
    r.extend_from_slice(&[0, 255, 0, 1]);
    let mut rr = |t: u16, rdata: &[u8]| {
        r.extend_from_slice(&[0xc0, 12]);
        r.extend_from_slice(&t.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
    };
    rr(15, &[0, 10, 2, b'm', b'x', 0xc0, 12]);
    let mut soa = vec![2, b'n', b's', 0xc0, 12, 2, b'h', b'm', 0xc0, 12];
    for v in [7u32, 3600, 600, 86400, 300] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    rr(6, &soa);
    rr(33, &[0, 1, 0, 2, 0x13, 0xc4, 3, b's', b'i', b'p', 0xc0, 12]);
    rr(16, &[3, b'o', b'n', b'e', 3, b't', b'w', b'o']);
    rr(257, b"\x00\x05issueca.test");
    rr(43, &[0x30, 0x39, 13, 2, 0xab, 0xcd]);
    rr(48, &[1, 1, 3, 13, 0xfb]);
    let mut sig = vec![0, 1, 13, 2, 0, 0, 0x0e, 0x10];
    sig.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    sig.extend_from_slice(&1_690_000_000u32.to_be_bytes());
    sig.extend_from_slice(&[0x30, 0x39]);
    sig.extend_from_slice(&wire_name("ex.test"));
    sig.extend_from_slice(&[0xff]);
    rr(46, &sig);
    rr(47, &[1, b'a', 0xc0, 12, 0, 1, 0x20]); // window 0: bit 2 (NS)
    rr(12, &[0xc0, 12]);
    rr(65280, &[0xde, 0xad]);
    let mut u = Udp::new(DnsConfig::default());
    u.send(Dir::ToServer, &query(1, "ex.test", 255), T0);
    u.send(Dir::ToClient, &r, T0 + 1);
    let e = &u.d.events()[0];
    let a = e["dns"]["answers"].as_array().unwrap();
    let data: Vec<&str> = a.iter().map(|x| x["data"].as_str().unwrap()).collect();
    assert_eq!(
        data,
        vec![
            "mx.ex.test",
            "ns.ex.test",
            "sip.ex.test",
            "one two",
            "0 issue \"ca.test\"",
            "ABCD",
            "+w==",
            "/w==",
            "a.ex.test",
            "ex.test",
            "DEAD"
        ]
    );
    assert_eq!(a[0]["preference"], 10);
    assert_eq!(a[1]["rname"], "hm.ex.test");
    assert_eq!(a[1]["serial"], 7);
    assert_eq!(a[2]["port"], 5060);
    assert_eq!(a[2]["priority"], 1);
    assert_eq!(a[2]["weight"], 2);
    assert_eq!(a[4]["caa_tag"], "issue");
    assert_eq!(a[5]["key_tag"], 12345);
    assert_eq!(a[5]["algorithm"], "ECDSAP256SHA256");
    assert_eq!(a[5]["digest_type"], "SHA256");
    assert_eq!(a[6]["flags"], 257);
    assert_eq!(a[7]["type_covered"], "A");
    assert_eq!(a[7]["expiration"], "20231114221320");
    assert_eq!(a[7]["signer_name"], "ex.test");
    assert_eq!(a[8]["type_bits"], "NS");
    assert_eq!(a[10]["type"], "TYPE65280");
    assert_eq!(e["dns"]["flags"]["authoritative"], true);
    assert_eq!(e["query"], "class IN, type ANY, ex.test");
    assert_eq!(u.d.counters.get("dns.invalid_rdata"), 0);
}
