//! The AMQP decoder's tests: the test kit's generic checks on richer
//! exchanges than the sample, and the session's behaviour (pairing per
//! channel, one-way events, closes with reply codes, hidden housekeeping,
//! content assembly, loss, resync, timeouts, bounds) through its driver.

use super::parser::{BODY, FRAME_END, HEADER, HEARTBEAT, METHOD};
use super::{AmqpConfig, AmqpSession};
use crate::flow::Transport;
use crate::proto::testkit::{
    prefix_check, random_check, split_check, AnySession, Driver, Subject, T0,
};
use crate::proto::{Dir, Session};
use serde_json::Value;
use std::sync::Arc;

const C: Dir = Dir::ToServer;
const S: Dir = Dir::ToClient;

pub(crate) fn frame(kind: u8, ch: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&ch.to_be_bytes());
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v.push(FRAME_END);
    v
}

pub(crate) fn method(ch: u16, class: u16, id: u16, args: &[u8]) -> Vec<u8> {
    let mut p = class.to_be_bytes().to_vec();
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(args);
    frame(METHOD, ch, &p)
}

pub(crate) fn ss(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

fn table(entries: &[u8]) -> Vec<u8> {
    let mut v = (entries.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(entries);
    v
}

/// A content header of class 60 with content type `ct` (when given).
pub(crate) fn header(ch: u16, size: u64, ct: Option<&str>) -> Vec<u8> {
    let mut p = vec![0, 60, 0, 0];
    p.extend_from_slice(&size.to_be_bytes());
    match ct {
        Some(ct) => {
            p.extend_from_slice(&0x8000u16.to_be_bytes());
            p.extend_from_slice(&ss(ct));
        }
        None => p.extend_from_slice(&[0, 0]),
    }
    frame(HEADER, ch, &p)
}

fn body(ch: u16, b: &[u8]) -> Vec<u8> {
    frame(BODY, ch, b)
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn queue_declare(ch: u16, q: &str, bits: u8) -> Vec<u8> {
    let mut a = vec![0, 0];
    a.extend_from_slice(&ss(q));
    a.push(bits);
    a.extend_from_slice(&table(b""));
    method(ch, 50, 10, &a)
}

fn declare_ok(ch: u16, q: &str, msgs: u32, consumers: u32) -> Vec<u8> {
    let mut a = ss(q);
    a.extend_from_slice(&msgs.to_be_bytes());
    a.extend_from_slice(&consumers.to_be_bytes());
    method(ch, 50, 11, &a)
}

fn close(ch: u16, class: u16, code: u16, text: &str, fc: u16, fm: u16) -> Vec<u8> {
    let mut a = code.to_be_bytes().to_vec();
    a.extend_from_slice(&ss(text));
    a.extend_from_slice(&fc.to_be_bytes());
    a.extend_from_slice(&fm.to_be_bytes());
    method(ch, class, if class == 10 { 50 } else { 40 }, &a)
}

fn publish(ch: u16, x: &str, rk: &str, body_: &[u8], ct: Option<&str>) -> Vec<u8> {
    let mut a = vec![0, 0];
    a.extend_from_slice(&ss(x));
    a.extend_from_slice(&ss(rk));
    a.push(0);
    cat(&[
        method(ch, 60, 40, &a),
        header(ch, body_.len() as u64, ct),
        body(ch, body_),
    ])
}

fn deliver(ch: u16, tag: &str, dtag: u64, x: &str, rk: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut a = ss(tag);
    a.extend_from_slice(&dtag.to_be_bytes());
    a.push(0);
    a.extend_from_slice(&ss(x));
    a.extend_from_slice(&ss(rk));
    let size: usize = parts.iter().map(|p| p.len()).sum();
    let mut v = cat(&[
        method(ch, 60, 60, &a),
        header(ch, size as u64, Some("text/plain")),
    ]);
    for p in parts {
        v.extend_from_slice(&body(ch, p));
    }
    v
}

fn cfg_with(f: impl FnOnce(&mut AmqpConfig)) -> Arc<AmqpConfig> {
    let mut c = AmqpConfig::default();
    f(&mut c);
    Arc::new(c)
}

fn run_with(cfg: Arc<AmqpConfig>, steps: &[(Dir, Vec<u8>)]) -> Driver {
    let mut s = AmqpSession::new(cfg);
    let mut d = Driver::new(Transport::Tcp, 5672);
    let mut ts = T0;
    for (dir, b) in steps {
        s.data(*dir, b, ts, &mut d.sink());
        ts += 1_000_000;
    }
    s.close(ts, &mut d.sink());
    d
}

fn run(steps: &[(Dir, Vec<u8>)]) -> Driver {
    run_with(Arc::new(AmqpConfig::default()), steps)
}

fn opening() -> Vec<(Dir, Vec<u8>)> {
    let mut start = vec![0, 9];
    start.extend_from_slice(&table(&cat(&[
        ss("product"),
        b"S".to_vec(),
        8u32.to_be_bytes().to_vec(),
        b"RabbitMQ".to_vec(),
    ])));
    start.extend_from_slice(&5u32.to_be_bytes());
    start.extend_from_slice(b"PLAIN");
    start.extend_from_slice(&5u32.to_be_bytes());
    start.extend_from_slice(b"en_US");
    let mut start_ok = table(b"");
    start_ok.extend_from_slice(&ss("PLAIN"));
    start_ok.extend_from_slice(&12u32.to_be_bytes());
    start_ok.extend_from_slice(b"\0guest\0guest");
    start_ok.extend_from_slice(&ss("en_US"));
    let tune = |id| {
        let mut a = 2047u16.to_be_bytes().to_vec();
        a.extend_from_slice(&131072u32.to_be_bytes());
        a.extend_from_slice(&60u16.to_be_bytes());
        method(0, 10, id, &a)
    };
    vec![
        (C, b"AMQP\x00\x00\x09\x01".to_vec()),
        (S, method(0, 10, 10, &start)),
        (C, method(0, 10, 11, &start_ok)),
        (S, tune(30)),
        (C, tune(31)),
        (C, method(0, 10, 40, &cat(&[ss("/"), ss(""), vec![0]]))),
        (S, method(0, 10, 41, &ss(""))),
        (C, method(1, 20, 10, &ss(""))),
        (S, method(1, 20, 11, &table(b""))),
    ]
}

fn closing() -> Vec<(Dir, Vec<u8>)> {
    vec![
        (C, close(1, 20, 200, "Normal shutdown", 0, 0)),
        (S, method(1, 20, 41, b"")),
        (C, close(0, 10, 200, "kthxbai", 0, 0)),
        (S, method(0, 10, 51, b"")),
    ]
}

fn steps_ref(v: &[(Dir, Vec<u8>)]) -> Vec<(Dir, &[u8])> {
    v.iter().map(|(d, b)| (*d, b.as_slice())).collect()
}

fn session() -> AnySession {
    AnySession::Stream(Box::new(AmqpSession::new(cfg_with(|c| {
        c.send_request = true;
        c.send_response = true;
    }))))
}

/// A whole connection: opening, declare, publish, consume, deliver, ack,
/// get-empty, a failing passive declare, closing.
fn conversation() -> Vec<(Dir, Vec<u8>)> {
    let mut v = opening();
    let mut consume = vec![0, 0];
    consume.extend_from_slice(&ss("hello"));
    consume.extend_from_slice(&ss(""));
    consume.push(0);
    consume.extend_from_slice(&table(b""));
    let mut ack = 1u64.to_be_bytes().to_vec();
    ack.push(0);
    let mut get = vec![0, 0];
    get.extend_from_slice(&ss("hello"));
    get.push(1);
    v.extend([
        (C, queue_declare(1, "hello", 0)),
        (S, declare_ok(1, "hello", 0, 0)),
        (
            C,
            publish(1, "", "hello", b"hello world", Some("text/plain")),
        ),
        (C, method(1, 60, 20, &consume)),
        (S, method(1, 60, 21, &ss("ctag-1"))),
        (
            S,
            deliver(1, "ctag-1", 1, "", "hello", &[b"hello ", b"world"]),
        ),
        (C, method(1, 60, 80, &ack)),
        (C, method(1, 60, 70, &get)),
        (S, method(1, 60, 72, &ss(""))),
        (C, method(2, 20, 10, &ss(""))),
        (S, method(2, 20, 11, &table(b""))),
        (C, queue_declare(2, "missing", 1)),
        (
            S,
            close(
                2,
                20,
                404,
                "NOT_FOUND - no queue 'missing' in vhost '/'",
                50,
                10,
            ),
        ),
        (C, method(2, 20, 41, b"")),
        (S, vec![HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]),
    ]);
    v.extend(closing());
    v
}

#[test]
fn the_generic_checks_pass_on_a_whole_conversation() {
    let subject = Subject {
        name: "amqp",
        make: &session,
    };
    let conv = conversation();
    let steps = steps_ref(&conv);
    prefix_check(&subject, &steps);
    split_check(&subject, &steps);
    random_check(&subject, &steps, 11, 1500);
}

fn methods(ev: &[Value]) -> Vec<&str> {
    ev.iter()
        .map(|e| e["method"].as_str().unwrap_or("?"))
        .collect()
}

#[test]
fn a_conversation_gives_packetbeats_events() {
    let d = run_with(
        cfg_with(|c| {
            c.send_request = true;
            c.send_response = true;
        }),
        &conversation(),
    );
    let ev = d.events();
    assert_eq!(
        methods(&ev),
        [
            "queue.declare",
            "basic.publish",
            "basic.consume",
            "basic.deliver",
            "basic.ack",
            "basic.get-empty",
            "channel.close",
        ],
        "{ev:#?}"
    );
    let declare = &ev[0];
    assert_eq!(declare["status"], "OK");
    assert_eq!(declare["event"]["action"], "amqp.queue.declare");
    assert_eq!(declare["amqp"]["queue"], "hello");
    assert_eq!(declare["amqp"]["durable"], false);
    assert_eq!(declare["amqp"]["message-count"], 0);
    assert_eq!(declare["request"], "queue.declare hello");
    assert_eq!(declare["response"], "OK");
    assert_eq!(declare["transaction"]["wait_us"], 1000);

    let publish = &ev[1];
    assert_eq!(publish["request"], "hello world");
    assert_eq!(publish["amqp"]["routing-key"], "hello");
    assert_eq!(publish["amqp"]["content-type"], "text/plain");
    assert_eq!(publish["amqp"]["body-size"], 11);
    assert!(publish["amqp"].get("exchange").is_none());
    assert_eq!(publish["destination"]["bytes"], 0);
    // Method (22) + header (33) + body (19) frames.
    assert_eq!(publish["source"]["bytes"], 22 + 33 + 19);

    let deliver = &ev[3];
    assert_eq!(deliver["response"], "hello world");
    assert_eq!(deliver["amqp"]["delivery-tag"], 1);
    assert_eq!(deliver["amqp"]["redelivered"], false);
    assert_eq!(deliver["source"]["bytes"], 0);
    assert!(deliver["destination"]["bytes"].as_u64().unwrap() > 11);

    assert_eq!(ev[5]["status"], "OK");
    assert_eq!(ev[5]["amqp"]["queue"], "hello");

    let err = &ev[6];
    assert_eq!(err["status"], "Error");
    assert_eq!(err["amqp"]["reply-code"], 404);
    assert_eq!(err["amqp"]["class-id"], 50);
    assert_eq!(err["amqp"]["method-id"], 10);
    assert_eq!(err["amqp"]["channel"], 2);
    assert_eq!(
        err["error"]["message"],
        "NOT_FOUND - no queue 'missing' in vhost '/'"
    );
    // The declare the close answered is counted, not reported twice.
    assert_eq!(d.counters.get("amqp.requests_closed"), 1);
    assert_eq!(d.counters.get("amqp.heartbeats"), 1);
    // start, tune, open, two channel.open, channel.close 200, connection.close 200.
    assert_eq!(d.counters.get("amqp.hidden_methods"), 7);
    assert_eq!(d.counters.get("amqp.unmatched_responses"), 0);
    assert_eq!(d.counters.get("amqp.unmatched_requests"), 0);
}

#[test]
fn connection_information_is_reported_when_not_hidden() {
    let mut steps = opening();
    steps.extend(closing());
    let d = run_with(cfg_with(|c| c.hide_connection_information = false), &steps);
    let ev = d.events();
    assert_eq!(
        methods(&ev),
        [
            "connection.start",
            "connection.tune",
            "connection.open",
            "channel.open",
            "channel.close",
            "connection.close",
        ]
    );
    assert_eq!(ev[0]["amqp"]["version-major"], 0);
    assert_eq!(ev[0]["amqp"]["version-minor"], 9);
    assert_eq!(ev[0]["amqp"]["server-properties"]["product"], "RabbitMQ");
    assert_eq!(ev[0]["amqp"]["mechanism"], "PLAIN");
    assert_eq!(ev[0]["amqp"]["locale"], "en_US");
    // The server sent connection.start: its bytes are the destination's.
    assert!(
        ev[0]["destination"]["bytes"].as_u64().unwrap()
            > ev[0]["source"]["bytes"].as_u64().unwrap()
    );
    assert_eq!(ev[1]["amqp"]["frame-max"], 131072);
    assert_eq!(ev[2]["amqp"]["virtual-host"], "/");
    assert_eq!(ev[5]["amqp"]["reply-text"], "kthxbai");
    assert_eq!(ev[5]["status"], "OK");
    // The SASL response (the password) is never written.
    for e in &ev {
        assert!(!e.to_string().contains("guest"), "{e}");
    }
    // Hidden (the default): nothing at all.
    let d = run(&steps);
    assert!(d.events().is_empty());
}

#[test]
fn a_server_named_queue_takes_its_name_from_declare_ok() {
    let ev = run(&[
        (C, queue_declare(1, "", 0b0000_0100)),
        (S, declare_ok(1, "amq.gen-Iq95", 0, 0)),
    ])
    .events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["amqp"]["queue"], "amq.gen-Iq95");
    assert_eq!(ev[0]["amqp"]["exclusive"], true);
}

#[test]
fn replies_pair_per_channel_not_in_connection_order() {
    let ev = run(&[
        (
            C,
            cat(&[queue_declare(1, "a", 0), queue_declare(2, "b", 0)]),
        ),
        (
            S,
            cat(&[declare_ok(2, "b", 7, 0), declare_ok(1, "a", 3, 0)]),
        ),
    ])
    .events();
    assert_eq!(ev.len(), 2);
    let by_q = |q: &str| ev.iter().find(|e| e["amqp"]["queue"] == q).unwrap();
    assert_eq!(by_q("a")["amqp"]["message-count"], 3);
    assert_eq!(by_q("b")["amqp"]["message-count"], 7);
    assert_eq!(by_q("b")["amqp"]["channel"], 2);
}

#[test]
fn no_wait_methods_are_one_way_events() {
    let mut a = vec![0, 0];
    a.extend_from_slice(&ss("titres"));
    a.extend_from_slice(&ss("fanout"));
    a.push(0b0001_0010); // durable, no-wait
    a.extend_from_slice(&table(b""));
    let d = run(&[(C, method(1, 40, 10, &a))]);
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "exchange.declare");
    assert_eq!(ev[0]["amqp"]["exchange-type"], "fanout");
    assert_eq!(ev[0]["amqp"]["durable"], true);
    assert_eq!(ev[0]["amqp"]["no-wait"], true);
    assert!(ev[0].get("error").is_none());
}

#[test]
fn basic_get_ok_completes_the_get_with_its_content() {
    let mut get = vec![0, 0];
    get.extend_from_slice(&ss("jobs"));
    get.push(0);
    let mut ok = 5u64.to_be_bytes().to_vec();
    ok.push(1); // redelivered
    ok.extend_from_slice(&ss("x"));
    ok.extend_from_slice(&ss("rk"));
    ok.extend_from_slice(&2u32.to_be_bytes());
    let d = run_with(
        cfg_with(|c| c.send_response = true),
        &[
            (C, method(1, 60, 70, &get)),
            (
                S,
                cat(&[
                    method(1, 60, 71, &ok),
                    header(1, 3, None),
                    body(1, b"\x01\x02\x03"),
                ]),
            ),
        ],
    );
    let ev = d.events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["method"], "basic.get");
    assert_eq!(ev[0]["amqp"]["queue"], "jobs");
    assert_eq!(ev[0]["amqp"]["exchange"], "x");
    assert_eq!(ev[0]["amqp"]["redelivered"], true);
    assert_eq!(ev[0]["amqp"]["message-count"], 2);
    // Not text: the bytes in decimal, as Packetbeat writes them.
    assert_eq!(ev[0]["response"], "1 2 3");
}

#[test]
fn returns_and_rejects_are_errors_acks_are_not() {
    let mut ret = 312u16.to_be_bytes().to_vec();
    ret.extend_from_slice(&ss("NO_ROUTE"));
    ret.extend_from_slice(&ss("x"));
    ret.extend_from_slice(&ss("nowhere"));
    let mut reject = 9u64.to_be_bytes().to_vec();
    reject.push(1);
    let mut nack = 10u64.to_be_bytes().to_vec();
    nack.push(0b11);
    let ev = run(&[
        (S, cat(&[method(1, 60, 50, &ret), header(1, 0, None)])),
        (C, method(1, 60, 90, &reject)),
        (C, method(1, 60, 120, &nack)),
    ])
    .events();
    assert_eq!(methods(&ev), ["basic.return", "basic.reject", "basic.nack"]);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["error"]["message"], "NO_ROUTE");
    assert_eq!(ev[0]["amqp"]["reply-code"], 312);
    assert_eq!(ev[1]["status"], "Error");
    assert_eq!(ev[1]["amqp"]["requeue"], true);
    assert_eq!(ev[2]["status"], "OK");
    assert_eq!(ev[2]["amqp"]["multiple"], true);
    assert_eq!(ev[2]["amqp"]["requeue"], true);
}

#[test]
fn tx_and_confirm_pair_with_their_ok() {
    let ev = run(&[
        (C, method(1, 90, 10, b"")),
        (S, method(1, 90, 11, b"")),
        (C, method(1, 90, 20, b"")),
        (S, method(1, 90, 21, b"")),
        (C, method(2, 85, 10, &[0])),
        (S, method(2, 85, 11, b"")),
    ])
    .events();
    assert_eq!(methods(&ev), ["tx.select", "tx.commit", "confirm.select"]);
    assert!(ev
        .iter()
        .all(|e| e["status"] == "OK" && e.get("error").is_none()));
}

#[test]
fn a_connection_error_aborts_every_channel() {
    let d = run(&[
        (
            C,
            cat(&[queue_declare(1, "a", 0), queue_declare(3, "b", 0)]),
        ),
        (S, close(0, 10, 541, "INTERNAL_ERROR", 0, 0)),
        (C, method(0, 10, 51, b"")),
    ]);
    let ev = d.events();
    assert_eq!(methods(&ev), ["connection.close"]);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["amqp"]["reply-code"], 541);
    assert_eq!(d.counters.get("amqp.requests_closed"), 2);
}

#[test]
fn a_failed_close_without_close_ok_is_still_reported() {
    let d = run(&[(S, close(1, 20, 406, "PRECONDITION_FAILED", 60, 80))]);
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[0]["error"]["message"], "PRECONDITION_FAILED");
    assert_eq!(d.counters.get("amqp.unanswered_closes"), 1);
}

#[test]
fn a_request_without_reply_expires_on_tick() {
    let mut s = AmqpSession::new(Arc::new(AmqpConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 5672);
    s.data(C, &queue_declare(1, "q", 0), T0, &mut d.sink());
    s.tick(T0 + 9_000_000_000, &mut d.sink());
    assert!(d.events().is_empty());
    s.tick(T0 + 11_000_000_000, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
    assert_eq!(d.counters.get("amqp.unmatched_requests"), 1);
}

#[test]
fn a_gap_reports_the_unfinished_message_and_decoding_resumes() {
    let mut s = AmqpSession::new(Arc::new(AmqpConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 5672);
    let msg = publish(1, "", "q", &[b'x'; 100], Some("text/plain"));
    // The method and header arrive, the body is lost in a gap.
    let cut = msg.len() - 60;
    s.data(C, &msg[..cut], T0, &mut d.sink());
    s.gap(C, 30, T0 + 1, &mut d.sink());
    // The tail of the lost body, then a whole declare.
    let mut rest = msg[cut + 30..].to_vec();
    rest.extend_from_slice(&queue_declare(1, "after", 0));
    s.data(C, &rest, T0 + 2, &mut d.sink());
    s.data(S, &declare_ok(1, "after", 0, 0), T0 + 3, &mut d.sink());
    let ev = d.events();
    assert_eq!(methods(&ev), ["basic.publish", "queue.declare"], "{ev:#?}");
    assert_eq!(
        ev[0]["error"]["message"],
        "Packet loss while capturing the request"
    );
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(ev[1]["amqp"]["queue"], "after");
    assert_eq!(d.counters.get("amqp.resyncs"), 1);
    assert_eq!(d.counters.get("amqp.resync_skipped_bytes"), 30);
}

#[test]
fn a_lost_reply_is_reported_as_loss_not_unmatched() {
    let mut s = AmqpSession::new(Arc::new(AmqpConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 5672);
    s.data(C, &queue_declare(1, "q", 0), T0, &mut d.sink());
    s.gap(S, 26, T0 + 1, &mut d.sink());
    s.close(T0 + 2, &mut d.sink());
    assert_eq!(
        d.events()[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
}

#[test]
fn bad_frames_resync_at_the_next_plausible_frame() {
    let mut junk = queue_declare(1, "bad", 0);
    *junk.last_mut().unwrap() = 0x00; // no frame end
    let d = run(&[
        (C, cat(&[junk, queue_declare(1, "good", 0)])),
        (S, declare_ok(1, "good", 0, 0)),
    ]);
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["amqp"]["queue"], "good");
    assert_eq!(d.counters.get("amqp.parse_errors"), 1);
    assert_eq!(d.counters.get("amqp.resyncs"), 1);
}

#[test]
fn frames_beyond_the_bound_are_refused_and_counted() {
    let big = publish(1, "", "q", &vec![b'a'; 5000], Some("text/plain"));
    let d = run_with(
        cfg_with(|c| c.max_frame_size = 4096),
        &[
            (C, big),
            (C, queue_declare(1, "next", 0)),
            (S, declare_ok(1, "next", 0, 0)),
        ],
    );
    assert_eq!(d.counters.get("amqp.oversize_frames"), 1);
    let ev = d.events();
    // The publish is reported incomplete; the next request decodes.
    assert_eq!(methods(&ev), ["basic.publish", "queue.declare"], "{ev:#?}");
    assert!(ev[0]["error"]["message"].is_string());
    assert_eq!(ev[1]["status"], "OK");
}

#[test]
fn interleaved_channels_and_split_bodies_assemble() {
    let a = deliver(1, "t1", 1, "x", "a", &[b"aa", b"aa"]);
    let b = deliver(2, "t2", 1, "x", "b", &[b"bbb"]);
    // Channel 1's method and header, all of channel 2, then channel 1's bodies.
    let a_head = a.len() - 2 * (2 + 8);
    let steps = vec![(S, cat(&[a[..a_head].to_vec(), b, a[a_head..].to_vec()]))];
    let ev = run_with(cfg_with(|c| c.send_response = true), &steps).events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["amqp"]["routing-key"], "b");
    assert_eq!(ev[0]["response"], "bbb");
    assert_eq!(ev[1]["response"], "aaaa");
}

#[test]
fn long_bodies_are_cut_at_max_body_length() {
    let ev = run_with(
        cfg_with(|c| {
            c.send_request = true;
            c.max_body_length = 4;
        }),
        &[(
            C,
            publish(1, "", "q", b"0123456789", Some("application/json")),
        )],
    )
    .events();
    assert_eq!(ev[0]["request"], "0123 [...]");
    assert_eq!(ev[0]["amqp"]["body-size"], 10);
}

#[test]
fn headers_and_arguments_tables_are_objects() {
    // headers: {a: S "x", n: I -2, t: t 1, d: D 2/12345, arr: A [I 1, S "z"],
    //           inner: F {k: V}, a: S "dup", "x.y": b 7}
    let arr = cat(&[
        b"I".to_vec(),
        1i32.to_be_bytes().to_vec(),
        b"S".to_vec(),
        1u32.to_be_bytes().to_vec(),
        b"z".to_vec(),
    ]);
    let inner = cat(&[ss("k"), b"V".to_vec()]);
    let entries = cat(&[
        ss("a"),
        b"S".to_vec(),
        1u32.to_be_bytes().to_vec(),
        b"x".to_vec(),
        ss("n"),
        b"I".to_vec(),
        (-2i32).to_be_bytes().to_vec(),
        ss("t"),
        b"t\x01".to_vec(),
        ss("d"),
        b"D\x02".to_vec(),
        12345u32.to_be_bytes().to_vec(),
        ss("arr"),
        b"A".to_vec(),
        (arr.len() as u32).to_be_bytes().to_vec(),
        arr,
        ss("inner"),
        b"F".to_vec(),
        table(&inner),
        ss("a"),
        b"S".to_vec(),
        3u32.to_be_bytes().to_vec(),
        b"dup".to_vec(),
        ss("x.y"),
        b"b\x07".to_vec(),
    ]);
    let mut p = vec![0, 60, 0, 0];
    p.extend_from_slice(&0u64.to_be_bytes());
    p.extend_from_slice(&((1u16 << 15) | (1 << 13) | (1 << 6)).to_be_bytes());
    p.extend_from_slice(&ss("text/plain"));
    p.extend_from_slice(&table(&entries));
    p.extend_from_slice(&1_600_000_000u64.to_be_bytes());
    let mut a = vec![0, 0];
    a.extend_from_slice(&ss(""));
    a.extend_from_slice(&ss("q"));
    a.push(0);
    let steps = vec![(C, cat(&[method(1, 60, 40, &a), frame(HEADER, 1, &p)]))];
    let ev = run(&steps).events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    let h = &ev[0]["amqp"]["headers"];
    assert_eq!(h["a"], "x", "the first of duplicate keys: {h}");
    assert_eq!(h["n"], -2);
    assert_eq!(h["t"], true);
    assert_eq!(h["d"], "123.45");
    assert_eq!(h["arr"]["0"], 1);
    assert_eq!(h["arr"]["1"], "z");
    assert!(h["inner"]["k"].is_null());
    assert_eq!(h["x_y"], 7);
    assert_eq!(ev[0]["amqp"]["timestamp"], "2020-09-13T12:26:40.000000Z");
    // parse_headers off: no headers object.
    let ev = run_with(cfg_with(|c| c.parse_headers = false), &steps).events();
    assert!(ev[0]["amqp"].get("headers").is_none());
    assert_eq!(ev[0]["amqp"]["content-type"], "text/plain");
}

#[test]
fn in_flight_and_content_bounds_hold() {
    let mut reqs = Vec::new();
    for i in 0..5u16 {
        reqs.push(queue_declare(i + 1, "q", 0));
    }
    let d = run_with(cfg_with(|c| c.max_in_flight = 2), &[(C, reqs.concat())]);
    assert_eq!(d.counters.get("amqp.in_flight_dropped"), 3);
    assert_eq!(d.events().len(), 5, "every request is reported");
    let mut pubs = Vec::new();
    for ch in 1..=4u16 {
        let mut a = vec![0, 0, 0];
        a.extend_from_slice(&ss("q"));
        a.push(0);
        pubs.push(method(ch, 60, 40, &a));
    }
    let d = run_with(cfg_with(|c| c.max_channels = 2), &[(C, pubs.concat())]);
    assert_eq!(d.counters.get("amqp.contents_dropped"), 2);
    assert_eq!(d.events().len(), 4);
}

#[test]
fn the_agreed_frame_max_bounds_frames_and_unknown_methods_are_skipped() {
    let mut tune_ok = 0u16.to_be_bytes().to_vec();
    tune_ok.extend_from_slice(&4096u32.to_be_bytes());
    tune_ok.extend_from_slice(&0u16.to_be_bytes());
    let d = run(&[
        (C, method(0, 10, 31, &tune_ok)),
        // An unknown method on a well-formed frame: skipped, counted.
        (C, method(1, 60, 99, b"??")),
        // A body frame larger than the agreed frame-max.
        (C, publish(1, "", "q", &[b'z'; 5000], None)),
        (C, queue_declare(1, "after", 0)),
        (S, declare_ok(1, "after", 0, 0)),
        // A header frame with no method before it.
        (S, header(3, 0, None)),
    ]);
    assert_eq!(d.counters.get("amqp.unknown_methods"), 1);
    assert_eq!(d.counters.get("amqp.oversize_frames"), 1);
    assert_eq!(d.counters.get("amqp.unexpected_frames"), 1);
    let ev = d.events();
    assert_eq!(methods(&ev), ["basic.publish", "queue.declare"], "{ev:#?}");
    assert_eq!(ev[1]["status"], "OK");
}

#[test]
fn a_get_ok_without_its_get_is_an_unmatched_response() {
    let mut ok = 5u64.to_be_bytes().to_vec();
    ok.push(0);
    ok.extend_from_slice(&ss(""));
    ok.extend_from_slice(&ss("rk"));
    ok.extend_from_slice(&0u32.to_be_bytes());
    let d = run(&[(
        S,
        cat(&[method(1, 60, 71, &ok), header(1, 1, None), body(1, b"x")]),
    )]);
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "basic.get");
    assert_eq!(ev[0]["error"]["message"], "Unmatched response");
    assert_eq!(d.counters.get("amqp.unmatched_responses"), 1);
}
