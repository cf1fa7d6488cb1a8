//! Parser and session tests: transactions with provisional responses,
//! ACK, requests from the callee, retransmissions, timeouts, failures,
//! TCP framing, gaps and resync, and the test kit's generic checks.

use super::parser::{self, Error};
use super::*;
use crate::flow::Transport;
use crate::proto::testkit::{self, Driver, T0};
use crate::proto::{ProtocolId, ProtocolsConfig};
use crate::time::SECOND;
use serde_json::json;

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn msg(start: &str, branch: &str, cseq: &str, extra: &str, body: &str) -> Vec<u8> {
    let mut s = format!(
        "{start}\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
From: \"Alice\" <sip:alice@10.0.0.1:5060>;tag=a1\r\n\
To: <sip:bob@10.0.0.2>{extra}\r\nCall-ID: c1@10.0.0.1\r\nCSeq: {cseq}\r\n\
Contact: <sip:alice@10.0.0.1:5060;transport=udp>\r\nUser-Agent: test\r\n"
    );
    if !body.is_empty() {
        s.push_str("Content-Type: application/sdp\r\n");
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.into_bytes()
}

fn invite() -> Vec<u8> {
    msg(
        "INVITE sip:bob@10.0.0.2 SIP/2.0",
        "z9hG4bK-1",
        "1 INVITE",
        "",
        SDP,
    )
}

fn resp(code: &str, branch: &str, cseq: &str) -> Vec<u8> {
    msg(&format!("SIP/2.0 {code}"), branch, cseq, ";tag=b2", "")
}

fn udp() -> (SipSession, Driver) {
    (
        SipSession::new(Arc::new(SipConfig::default())),
        Driver::new(Transport::Udp, 5060),
    )
}

#[test]
fn a_call_is_three_transactions_with_provisionals_folded_in() {
    let (mut s, mut d) = udp();
    let ms = 1_000_000;
    s.datagram(Dir::ToServer, &invite(), T0, &mut d.sink());
    s.datagram(
        Dir::ToClient,
        &resp("100 Trying", "z9hG4bK-1", "1 INVITE"),
        T0 + ms,
        &mut d.sink(),
    );
    s.datagram(
        Dir::ToClient,
        &resp("180 Ringing", "z9hG4bK-1", "1 INVITE"),
        T0 + 2 * ms,
        &mut d.sink(),
    );
    assert!(d.events().is_empty(), "provisional responses do not end it");
    s.datagram(
        Dir::ToClient,
        &resp("200 OK", "z9hG4bK-1", "1 INVITE"),
        T0 + 5 * ms,
        &mut d.sink(),
    );
    let ack = msg(
        "ACK sip:bob@10.0.0.2 SIP/2.0",
        "z9hG4bK-2",
        "1 ACK",
        ";tag=b2",
        "",
    );
    s.datagram(Dir::ToServer, &ack, T0 + 6 * ms, &mut d.sink());
    // The callee hangs up: a request from the flow's server.
    let bye = msg(
        "BYE sip:alice@10.0.0.1 SIP/2.0",
        "z9hG4bK-3",
        "2 BYE",
        ";tag=b2",
        "",
    );
    s.datagram(Dir::ToClient, &bye, T0 + 9 * ms, &mut d.sink());
    s.datagram(
        Dir::ToServer,
        &resp("200 OK", "z9hG4bK-3", "2 BYE"),
        T0 + 10 * ms,
        &mut d.sink(),
    );
    let ev = d.events();
    assert_eq!(ev.len(), 3, "{ev:#?}");
    let inv = &ev[0];
    assert_eq!(inv["type"], "sip");
    assert_eq!(inv["status"], "OK");
    assert_eq!(inv["method"], "INVITE");
    assert_eq!(inv["event"]["action"], "sip-invite");
    let sip = &inv["sip"];
    assert_eq!(sip["method"], "INVITE");
    assert_eq!(sip["code"], 200);
    assert_eq!(sip["status"], "OK");
    assert_eq!(sip["call_id"], "c1@10.0.0.1");
    assert_eq!(sip["cseq"], json!({"code": 1, "method": "INVITE"}));
    assert_eq!(sip["from"]["display_info"], "Alice");
    assert_eq!(sip["from"]["tag"], "a1");
    assert_eq!(sip["from"]["uri"]["username"], "alice");
    assert_eq!(sip["from"]["uri"]["port"], 5060);
    assert_eq!(sip["to"]["uri"]["host"], "10.0.0.2");
    assert!(sip["to"].get("tag").is_none());
    assert_eq!(sip["response"]["to"]["tag"], "b2");
    assert_eq!(sip["uri"]["original"], "sip:bob@10.0.0.2");
    assert_eq!(sip["via"]["branch"], "z9hG4bK-1");
    assert_eq!(sip["contact"]["transport"], "udp");
    assert_eq!(sip["user_agent"]["original"], "test");
    assert_eq!(sip["content_type"], "application/sdp");
    assert_eq!(sip["content_length"], SDP.len());
    assert_eq!(sip["sdp"]["owner"]["session_id"], "53655765");
    assert_eq!(sip["sdp"]["connection"]["address"], "10.0.0.1");
    assert_eq!(
        sip["sdp"]["media"],
        json!([{"type": "audio", "port": 6000, "protocol": "RTP/AVP",
                "codecs": ["PCMU/8000", "telephone-event/8000"]}])
    );
    assert_eq!(sip["provisional"]["codes"], json!([100, 180]));
    assert_eq!(sip["provisional"]["first_us"], 1000);
    assert_eq!(inv["transaction"]["wait_us"], 5000);
    let ack_ev = &ev[1];
    assert_eq!(ack_ev["event"]["action"], "sip-ack");
    assert_eq!(ack_ev["status"], "OK");
    assert!(ack_ev.get("error").is_none());
    assert!(ack_ev["sip"].get("code").is_none());
    let bye_ev = &ev[2];
    assert_eq!(bye_ev["event"]["action"], "sip-bye");
    assert_eq!(
        bye_ev["source"]["ip"], "10.0.0.2",
        "the callee sent the BYE"
    );
    assert_eq!(bye_ev["destination"]["ip"], "10.0.0.1");
    assert_eq!(bye_ev["client"]["ip"], "10.0.0.2");
    assert_eq!(bye_ev["sip"]["code"], 200);
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn retransmissions_are_counted_not_doubled() {
    let (mut s, mut d) = udp();
    let ms = 1_000_000;
    s.datagram(Dir::ToServer, &invite(), T0, &mut d.sink());
    s.datagram(Dir::ToServer, &invite(), T0 + 500 * ms, &mut d.sink());
    let trying = resp("100 Trying", "z9hG4bK-1", "1 INVITE");
    s.datagram(Dir::ToClient, &trying, T0 + 501 * ms, &mut d.sink());
    s.datagram(Dir::ToClient, &trying, T0 + 502 * ms, &mut d.sink());
    let ok = resp("200 OK", "z9hG4bK-1", "1 INVITE");
    s.datagram(Dir::ToClient, &ok, T0 + 600 * ms, &mut d.sink());
    s.datagram(Dir::ToClient, &ok, T0 + 1100 * ms, &mut d.sink());
    s.datagram(Dir::ToServer, &invite(), T0 + 1200 * ms, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["sip"]["retransmissions"], 2);
    assert_eq!(ev[0]["sip"]["provisional"]["count"], 1);
    assert_eq!(d.counters.get("sip.retransmissions"), 4);
}

#[test]
fn a_busy_callee_is_an_error_and_silence_is_unmatched() {
    let (mut s, mut d) = udp();
    s.datagram(Dir::ToServer, &invite(), T0, &mut d.sink());
    s.datagram(
        Dir::ToClient,
        &resp("486 Busy Here", "z9hG4bK-1", "1 INVITE"),
        T0 + 1000,
        &mut d.sink(),
    );
    let opts = msg(
        "OPTIONS sip:bob@10.0.0.2 SIP/2.0",
        "z9hG4bK-9",
        "7 OPTIONS",
        "",
        "",
    );
    s.datagram(Dir::ToServer, &opts, T0 + SECOND, &mut d.sink());
    DatagramSession::tick(&mut s, T0 + 30 * SECOND, &mut d.sink());
    assert_eq!(d.events().len(), 1, "not yet expired");
    DatagramSession::tick(&mut s, T0 + 34 * SECOND, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["sip"]["code"], 486);
    assert_eq!(ev[0]["sip"]["status"], "Busy Here");
    assert_eq!(ev[1]["status"], "Error");
    assert_eq!(ev[1]["error"]["message"], "Unmatched request");
    assert_eq!(ev[1]["sip"]["method"], "OPTIONS");
    assert_eq!(d.counters.get("sip.unmatched_requests"), 1);
    // A final response nothing explains.
    s.datagram(
        Dir::ToClient,
        &resp("200 OK", "z9hG4bK-77", "3 BYE"),
        T0 + 40 * SECOND,
        &mut d.sink(),
    );
    let ev = d.events();
    assert_eq!(ev[2]["error"]["message"], "Unmatched response");
    assert_eq!(ev[2]["sip"]["code"], 200);
    assert_eq!(ev[2]["event"]["action"], "sip-bye");
}

#[test]
fn tcp_frames_by_content_length_and_resyncs_after_a_gap() {
    let mut s = SipSession::new(Arc::new(SipConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 5060);
    let inv = invite();
    let (a, b) = inv.split_at(inv.len() - 20);
    s.data(Dir::ToServer, b"\r\n\r\n", T0, &mut d.sink());
    s.data(Dir::ToServer, a, T0, &mut d.sink());
    s.data(Dir::ToServer, b, T0 + 10, &mut d.sink());
    let both = [
        resp("100 Trying", "z9hG4bK-1", "1 INVITE"),
        resp("200 OK", "z9hG4bK-1", "1 INVITE"),
    ]
    .concat();
    s.data(Dir::ToClient, &both, T0 + 100, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["sip"]["sdp"]["version"], "0");
    assert_eq!(ev[0]["source"]["bytes"], inv.len());
    // Loss in the middle of a request: the next message is found again.
    s.gap(Dir::ToServer, 100, T0 + 200, &mut d.sink());
    let opts = msg(
        "OPTIONS sip:bob@10.0.0.2 SIP/2.0",
        "z9hG4bK-5",
        "9 OPTIONS",
        "",
        "",
    );
    let mut tail = b"tent-Length: 0\r\n\r\n".to_vec();
    tail.extend_from_slice(&opts);
    s.data(Dir::ToServer, &tail, T0 + 300, &mut d.sink());
    s.data(
        Dir::ToClient,
        &resp("200 OK", "z9hG4bK-5", "9 OPTIONS"),
        T0 + 400,
        &mut d.sink(),
    );
    let ev = d.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1]["sip"]["method"], "OPTIONS");
    assert_eq!(d.counters.get("sip.resyncs"), 1);
    assert_eq!(d.counters.get("sip.gaps"), 1);
}

#[test]
fn parser_reads_compact_forms_folding_and_rfc2543_keys() {
    let m = b"BYE sip:x@h SIP/2.0\r\nv: SIP/2.0/UDP h;branch=old1\r\nv: SIP/2.0/UDP p, SIP/2.0/UDP q\r\n\
f: <sip:a@h>;tag=9\r\nt: sip:b@h\r\ni: id-1\r\nCSeq: 4\r\n BYE\r\nl: 0\r\n\r\n";
    let p = parser::parse(m, true, 4096).unwrap();
    assert_eq!(p.call_id.get(m), b"id-1");
    assert_eq!(p.cseq_num, 4);
    assert_eq!(p.cseq_method.get(m), b"BYE");
    assert_eq!((p.via_kept, p.via_count), (2, 3));
    assert_eq!(p.branch.get(m), b"old1");
    // Without the magic cookie the key is Call-ID, CSeq and From tag.
    let r = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=other\r\nFrom: <sip:a@h>;tag=9\r\nCall-ID: id-1\r\nCSeq: 4 BYE\r\n\r\n";
    let q = parser::parse(r, true, 4096).unwrap();
    assert_eq!(session::key(m, &p), session::key(r, &q));
    for bad in [
        &b"HTTP/1.1 200 OK\r\n\r\n"[..],
        b"SIP/2.0 2000 OK\r\nCSeq: 1 A\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nCSeq: 1 INVITE\r\nContent-Length: 99\r\n\r\nshort",
        b"INVITE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n",
    ] {
        assert!(matches!(parser::parse(bad, true, 4096), Err(Error::Bad(_))));
    }
    assert_eq!(
        parser::parse(b"INVITE sip:x SIP/2.0\r\nCSe", false, 4096),
        Err(Error::More)
    );
    let u = parser::uri(b"sips:[2001:db8::1]:5061;transport=tls").unwrap();
    assert_eq!((u.host, u.port), (&b"2001:db8::1"[..], Some(5061)));
}

#[test]
fn bounds_hold() {
    let cfg = Arc::new(SipConfig {
        max_in_flight: 2,
        max_message_bytes: 600,
        ..SipConfig::default()
    });
    let mut s = SipSession::new(cfg);
    let mut d = Driver::new(Transport::Udp, 5060);
    for i in 0..3 {
        let m = msg(
            "OPTIONS sip:b@h SIP/2.0",
            &format!("z9hG4bK-{i}"),
            "1 OPTIONS",
            "",
            "",
        );
        s.datagram(Dir::ToServer, &m, T0 + i, &mut d.sink());
    }
    assert_eq!(s.in_flight(), 2);
    assert_eq!(d.counters.get("sip.in_flight_evicted"), 1);
    let big = msg(
        "INVITE sip:b@h SIP/2.0",
        "z9hG4bK-x",
        "1 INVITE",
        "",
        &"x".repeat(700),
    );
    s.datagram(Dir::ToServer, &big, T0 + 9, &mut d.sink());
    assert_eq!(
        d.counters.get("sip.parse_errors"),
        1,
        "a body over max_message_bytes"
    );
    // The byte budget of waiting requests.
    let mut b = SipSession::new(Arc::new(SipConfig {
        max_message_bytes: 600,
        max_pending_bytes: 1000,
        ..SipConfig::default()
    }));
    let mut d = Driver::new(Transport::Udp, 5060);
    for i in 0..4 {
        let m = msg(
            "OPTIONS sip:b@h SIP/2.0",
            &format!("z9hG4bK-{i}"),
            "1 OPTIONS",
            "",
            "",
        );
        b.datagram(Dir::ToServer, &m, T0 + i, &mut d.sink());
    }
    assert!(b.in_flight() < 4);
    assert_eq!(
        d.counters.get("sip.pending_bytes_evicted") as usize,
        4 - b.in_flight()
    );
    assert_eq!(d.events().len(), 4 - b.in_flight());
    let mut t = SipSession::new(Arc::new(SipConfig {
        max_message_bytes: 600,
        ..SipConfig::default()
    }));
    let mut d = Driver::new(Transport::Tcp, 5060);
    let long = format!("INVITE sip:b@h SIP/2.0\r\nX: {}\r\n", "y".repeat(2000));
    t.data(Dir::ToServer, long.as_bytes(), T0, &mut d.sink());
    assert_eq!(d.counters.get("sip.parse_errors"), 1);
}

#[test]
fn generic_checks_on_a_call_over_tcp() {
    let cfg = ProtocolsConfig::default();
    let inv = invite();
    let trying = resp("100 Trying", "z9hG4bK-1", "1 INVITE");
    let ok = resp("200 OK", "z9hG4bK-1", "1 INVITE");
    let ack = msg(
        "ACK sip:bob@10.0.0.2 SIP/2.0",
        "z9hG4bK-2",
        "1 ACK",
        ";tag=b2",
        "",
    );
    let steps: &[(Dir, &[u8])] = &[
        (Dir::ToServer, &inv),
        (Dir::ToClient, &trying),
        (Dir::ToClient, &ok),
        (Dir::ToServer, &ack),
    ];
    testkit::check_every_split(ProtocolId::Sip, &cfg, steps);
    testkit::check_random_bytes(ProtocolId::Sip, &cfg, steps, 5, 200);
}
