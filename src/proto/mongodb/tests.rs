//! The MongoDB session's tests: the test kit's generic checks on OP_MSG,
//! legacy, compressed and exhaust exchanges, then pairing, one-way
//! operations, errors, bounds, loss and resync through the kit's driver.

use super::bson::build::{d, msg, op_msg, V};
use super::parser::{OP_COMPRESSED, OP_INSERT, OP_MSG, OP_QUERY, OP_REPLY};
use super::{Mongodb, MongodbConfig, MongodbSession};
use crate::flow::Transport;
use crate::proto::testkit::{
    prefix_check, random_check, split_check, AnySession, Driver, Subject, T0,
};
use crate::proto::{Dir, Protocol, Session};
use std::sync::Arc;

fn find(id: i32, coll: &str) -> Vec<u8> {
    let body = d(&[
        ("find", V::S(coll)),
        ("filter", V::D(d(&[("x", V::I(1))]))),
        ("$db", V::S("shop")),
    ]);
    op_msg(id, 0, 0, &body, &[])
}

fn cursor_reply(id: i32, to: i32, docs: usize) -> Vec<u8> {
    let batch = (0..docs)
        .map(|i| d(&[("_id", V::I(i as i32)), ("name", V::S("someone"))]))
        .collect();
    let body = d(&[
        (
            "cursor",
            V::D(d(&[
                ("firstBatch", V::A(batch)),
                ("id", V::L(0)),
                ("ns", V::S("shop.items")),
            ])),
        ),
        ("ok", V::F(1.0)),
    ]);
    op_msg(id, to, 0, &body, &[])
}

fn op_query(id: i32, ns: &str, query: &[u8]) -> Vec<u8> {
    let mut b = 0i32.to_le_bytes().to_vec();
    b.extend_from_slice(ns.as_bytes());
    b.push(0);
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&(-1i32).to_le_bytes());
    b.extend_from_slice(query);
    msg(id, 0, OP_QUERY, &b)
}

fn op_reply(id: i32, to: i32, docs: &[Vec<u8>]) -> Vec<u8> {
    let mut b = 0i32.to_le_bytes().to_vec();
    b.extend_from_slice(&0i64.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&(docs.len() as i32).to_le_bytes());
    for x in docs {
        b.extend_from_slice(x);
    }
    msg(id, to, OP_REPLY, &b)
}

fn snappy(m: &[u8]) -> Vec<u8> {
    let orig = i32::from_le_bytes([m[12], m[13], m[14], m[15]]);
    let mut b = orig.to_le_bytes().to_vec();
    b.extend_from_slice(&((m.len() - 16) as i32).to_le_bytes());
    b.push(1);
    b.extend_from_slice(&snap::raw::Encoder::new().compress_vec(&m[16..]).unwrap());
    let id = i32::from_le_bytes([m[4], m[5], m[6], m[7]]);
    let to = i32::from_le_bytes([m[8], m[9], m[10], m[11]]);
    msg(id, to, OP_COMPRESSED, &b)
}

fn cfg() -> MongodbConfig {
    MongodbConfig::default()
}

fn run_with(c: MongodbConfig, steps: &[(Dir, &[u8])]) -> Driver {
    let mut s = MongodbSession::new(Arc::new(c));
    let mut d = Driver::new(Transport::Tcp, 27017);
    let mut ts = T0;
    for (dir, b) in steps {
        s.data(*dir, b, ts, &mut d.sink());
        ts += 1_000_000;
    }
    s.close(ts, &mut d.sink());
    d
}

fn run(steps: &[(Dir, &[u8])]) -> Driver {
    run_with(cfg(), steps)
}

#[test]
fn the_generic_checks_pass_on_several_exchanges() {
    let legacy_q = op_query(7, "test.restaurants", &d(&[("borough", V::S("Bronx"))]));
    let legacy_r = op_reply(8, 7, &[d(&[("name", V::S("Morris Park"))])]);
    let f1 = find(3, "items");
    let r1 = cursor_reply(4, 3, 3);
    let zq = snappy(&find(5, "a"));
    let zr = snappy(&cursor_reply(6, 5, 2));
    let ins = msg(9, 0, OP_INSERT, &{
        let mut b = 0i32.to_le_bytes().to_vec();
        b.extend_from_slice(b"shop.items\0");
        b.extend_from_slice(&d(&[("a", V::I(1))]));
        b
    });
    let exchanges: Vec<Vec<(Dir, &[u8])>> = vec![
        Mongodb::SAMPLE.to_vec(),
        vec![(Dir::ToServer, &legacy_q), (Dir::ToClient, &legacy_r)],
        vec![(Dir::ToServer, &f1), (Dir::ToClient, &r1)],
        vec![(Dir::ToServer, &zq), (Dir::ToClient, &zr)],
        vec![(Dir::ToServer, &ins)],
    ];
    for send in [false, true] {
        let make = move || {
            AnySession::Stream(Box::new(MongodbSession::new(Arc::new(MongodbConfig {
                send_request: send,
                send_response: send,
                max_docs: 2,
                max_doc_length: 12,
                max_message_buffer: 1024,
                ..cfg()
            }))))
        };
        let subject = Subject {
            name: "mongodb",
            make: &make,
        };
        for steps in &exchanges {
            prefix_check(&subject, steps);
            split_check(&subject, steps);
            random_check(&subject, steps, 11, 300);
        }
    }
}

#[test]
fn the_sample_is_an_op_msg_find_with_one_document() {
    let ev = run(Mongodb::SAMPLE).events();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["method"], "find");
    assert_eq!(e["resource"], "test.users");
    assert_eq!(e["query"], r#"test.users.find({"filter":{"age":42}})"#);
    assert_eq!(e["mongodb"]["database"], "test");
    assert_eq!(e["mongodb"]["collection"], "users");
    assert_eq!(e["mongodb"]["numberReturned"], 1);
    assert_eq!(e["mongodb"]["cursorId"], 0);
    assert_eq!(e["mongodb"]["opcode"], "OP_MSG");
    assert_eq!(e["source"]["bytes"], 78);
    assert_eq!(e["destination"]["bytes"], 132);
    assert_eq!(e["transaction"]["wait_us"], 1000);
    assert!(e.get("request").is_none() && e.get("response").is_none());
}

#[test]
fn replies_pair_by_response_to_not_by_order() {
    let (a, b) = (find(10, "a"), find(11, "b"));
    let (rb, ra) = (cursor_reply(20, 11, 2), cursor_reply(21, 10, 5));
    let ev = run(&[
        (Dir::ToServer, &a),
        (Dir::ToServer, &b),
        (Dir::ToClient, &rb),
        (Dir::ToClient, &ra),
    ])
    .events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["mongodb"]["collection"], "b");
    assert_eq!(ev[0]["mongodb"]["numberReturned"], 2);
    assert_eq!(ev[1]["mongodb"]["collection"], "a");
    assert_eq!(ev[1]["mongodb"]["numberReturned"], 5);
}

#[test]
fn one_way_operations_are_reported_at_once() {
    let ins = msg(9, 0, OP_INSERT, &{
        let mut b = 0i32.to_le_bytes().to_vec();
        b.extend_from_slice(b"shop.items\0");
        b.extend_from_slice(&d(&[("a", V::I(1))]));
        b.extend_from_slice(&d(&[("a", V::I(2))]));
        b
    });
    let w0 = op_msg(
        3,
        0,
        super::parser::MORE_TO_COME,
        &d(&[("insert", V::S("logs")), ("$db", V::S("app"))]),
        &[("documents", vec![d(&[("m", V::S("x"))])])],
    );
    let mut s = MongodbSession::new(Arc::new(cfg()));
    let mut dr = Driver::new(Transport::Tcp, 27017);
    s.data(Dir::ToServer, &ins, T0, &mut dr.sink());
    s.data(Dir::ToServer, &w0, T0 + 1, &mut dr.sink());
    let ev = dr.events();
    assert_eq!(ev.len(), 2, "before any reply or close");
    assert_eq!(ev[0]["method"], "insert");
    assert_eq!(ev[0]["mongodb"]["fullCollectionName"], "shop.items");
    assert_eq!(ev[0]["mongodb"]["documents"], 2);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["mongodb"]["one_way"], true);
    assert_eq!(ev[1]["resource"], "app.logs");
    assert_eq!(ev[1]["mongodb"]["documents"], 1);
    assert_eq!(dr.counters.get("mongodb.one_way"), 2);
}

#[test]
fn a_duplicate_key_is_an_error_with_its_code() {
    let req = op_msg(
        1,
        0,
        0,
        &d(&[("insert", V::S("users")), ("$db", V::S("t"))]),
        &[("documents", vec![d(&[("_id", V::I(1))])])],
    );
    let we = V::A(vec![d(&[
        ("index", V::I(0)),
        ("code", V::I(11000)),
        (
            "errmsg",
            V::S("E11000 duplicate key error collection: t.users"),
        ),
    ])]);
    let rep = op_msg(
        2,
        1,
        0,
        &d(&[("n", V::I(0)), ("writeErrors", we), ("ok", V::F(1.0))]),
        &[],
    );
    let dr = run(&[(Dir::ToServer, &req), (Dir::ToClient, &rep)]);
    let e = &dr.events()[0];
    assert_eq!(e["status"], "Error");
    assert_eq!(e["mongodb"]["error_code"], 11000);
    assert_eq!(e["mongodb"]["write_errors"], 1);
    assert!(e["mongodb"]["error"]
        .as_str()
        .unwrap()
        .starts_with("E11000"));
    assert!(
        e.get("error").is_none(),
        "a server error is not a capture error"
    );
    assert_eq!(dr.counters.get("mongodb.errors"), 1);
}

#[test]
fn response_text_follows_max_docs_and_max_doc_length() {
    let q = find(1, "items");
    let r = cursor_reply(2, 1, 5);
    let c = MongodbConfig {
        send_request: true,
        send_response: true,
        max_docs: 3,
        max_doc_length: 10,
        ..cfg()
    };
    let e = &run_with(c, &[(Dir::ToServer, &q), (Dir::ToClient, &r)]).events()[0];
    let text = e["response"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[3], "[...]");
    assert!(
        lines[..3]
            .iter()
            .all(|l| l.len() <= 14 && l.ends_with(" ...")),
        "{text}"
    );
    assert_eq!(
        e["request"], r#"shop.items.find({"filter":{"x":1}})"#,
        "the request without $db"
    );
}

#[test]
fn compressed_messages_are_decoded_and_counted() {
    let (q, r) = (snappy(&find(1, "items")), snappy(&cursor_reply(2, 1, 4)));
    let dr = run(&[(Dir::ToServer, &q), (Dir::ToClient, &r)]);
    let e = &dr.events()[0];
    assert_eq!(e["method"], "find");
    assert_eq!(e["mongodb"]["numberReturned"], 4);
    assert_eq!(e["mongodb"]["compressor"], "snappy");
    assert_eq!(e["mongodb"]["opcode"], "OP_MSG");
    assert_eq!(e["source"]["bytes"], q.len());
    assert_eq!(dr.counters.get("mongodb.compressed_messages"), 2);
    assert_eq!(dr.counters.get("mongodb.compressed_undecoded"), 0);
    // A payload that does not match its stated size is counted; the pair
    // still matches by id.
    let mut bad = q.clone();
    bad[20] = bad[20].wrapping_add(1);
    let dr = run(&[(Dir::ToServer, &bad), (Dir::ToClient, &r)]);
    let e = &dr.events()[0];
    assert_eq!(dr.counters.get("mongodb.compressed_undecoded"), 1);
    assert_eq!(e["method"], "compressed");
    assert_eq!(e["status"], "OK");
}

#[test]
fn an_exhaust_stream_pairs_each_reply_with_the_one_before() {
    let q = find(1, "oplog");
    let body = |n| {
        d(&[
            (
                "cursor",
                V::D(d(&[
                    (
                        "nextBatch",
                        V::A((0..n).map(|i| d(&[("i", V::I(i))])).collect()),
                    ),
                    ("id", V::L(5)),
                ])),
            ),
            ("ok", V::F(1.0)),
        ])
    };
    let r1 = op_msg(2, 1, super::parser::MORE_TO_COME, &body(1), &[]);
    let r2 = op_msg(3, 2, super::parser::MORE_TO_COME, &body(2), &[]);
    let r3 = op_msg(4, 3, 0, &body(3), &[]);
    let dr = run(&[
        (Dir::ToServer, &q),
        (Dir::ToClient, &r1),
        (Dir::ToClient, &r2),
        (Dir::ToClient, &r3),
    ]);
    let ev = dr.events();
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert!(ev
        .iter()
        .all(|e| e["method"] == "find" && e["status"] == "OK"));
    assert_eq!(ev[2]["mongodb"]["numberReturned"], 3);
    assert_eq!(ev[1]["mongodb"]["exhaust"], true);
    assert_eq!(ev[1]["source"]["bytes"], 0);
    assert_eq!(dr.counters.get("mongodb.unmatched_responses"), 0);
}

#[test]
fn a_legacy_query_failure_and_a_command_error() {
    let q = op_query(1, "db.$cmd", &d(&[("drop", V::S("nothere"))]));
    let r = op_reply(
        2,
        1,
        &[d(&[
            ("ok", V::F(0.0)),
            ("errmsg", V::S("ns not found")),
            ("code", V::I(26)),
        ])],
    );
    let e = &run(&[(Dir::ToServer, &q), (Dir::ToClient, &r)]).events()[0];
    assert_eq!(e["method"], "drop");
    assert_eq!(e["resource"], "db.nothere");
    assert_eq!(e["status"], "Error");
    assert_eq!(e["mongodb"]["error"], "ns not found");
    assert_eq!(e["mongodb"]["error_code"], 26);
}

#[test]
fn a_response_gap_reports_the_waiting_request_and_decoding_resumes() {
    let (q1, q2) = (find(1, "a"), find(2, "b"));
    let r2 = cursor_reply(9, 2, 1);
    let mut s = MongodbSession::new(Arc::new(cfg()));
    let mut dr = Driver::new(Transport::Tcp, 27017);
    s.data(Dir::ToServer, &q1, T0, &mut dr.sink());
    s.gap(Dir::ToClient, 40, T0 + 1, &mut dr.sink());
    // The tail of the lost reply, then a whole one.
    let mut tail = vec![0x55u8; 23];
    tail.extend_from_slice(&cursor_reply(8, 1, 1)[..10]);
    s.data(Dir::ToClient, &tail, T0 + 2, &mut dr.sink());
    s.data(Dir::ToServer, &q2, T0 + 3, &mut dr.sink());
    s.data(Dir::ToClient, &r2, T0 + 4, &mut dr.sink());
    let ev = dr.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(
        ev[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(ev[1]["mongodb"]["collection"], "b");
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(dr.counters.get("mongodb.resyncs"), 1);
    assert_eq!(dr.counters.get("mongodb.gap_bytes"), 40);
}

#[test]
fn garbage_is_skipped_and_unknown_opcodes_counted() {
    let junk = msg(1, 0, 2269, &[7u8; 77]);
    let q = find(2, "a");
    let r = cursor_reply(3, 2, 1);
    let mut bad = vec![0xffu8, 0xff, 0xff, 0x7f];
    bad.extend_from_slice(&[1u8; 30]);
    let dr = run(&[
        (Dir::ToServer, &junk),
        (Dir::ToServer, &bad),
        (Dir::ToServer, &q),
        (Dir::ToClient, &r),
    ]);
    let ev = dr.events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["method"], "find");
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(dr.counters.get("mongodb.unknown_opcodes"), 1);
    assert_eq!(dr.counters.get("mongodb.bad_headers"), 1);
    assert_eq!(dr.counters.get("mongodb.resyncs"), 1);
}

#[test]
fn an_over_long_reply_is_read_from_its_start_and_skipped_by_length() {
    let c = MongodbConfig {
        max_message_buffer: 1024,
        ..cfg()
    };
    let q = find(1, "big");
    let r = cursor_reply(2, 1, 100);
    assert!(r.len() > 3000);
    let (q2, r2) = (find(3, "small"), cursor_reply(4, 3, 1));
    let mut s = MongodbSession::new(Arc::new(c));
    let mut dr = Driver::new(Transport::Tcp, 27017);
    s.data(Dir::ToServer, &q, T0, &mut dr.sink());
    s.data(Dir::ToClient, &r[..1500], T0 + 1, &mut dr.sink());
    assert!(dr.events().is_empty(), "reported at its last byte");
    s.gap(Dir::ToClient, 1000, T0 + 2, &mut dr.sink());
    s.data(Dir::ToClient, &r[2500..], T0 + 3, &mut dr.sink());
    s.data(Dir::ToServer, &q2, T0 + 4, &mut dr.sink());
    s.data(Dir::ToClient, &r2, T0 + 5, &mut dr.sink());
    let ev = dr.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0]["destination"]["bytes"], r.len());
    assert_eq!(
        ev[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
    assert_eq!(ev[1]["mongodb"]["collection"], "small");
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(dr.counters.get("mongodb.messages_truncated"), 1);
    assert_eq!(dr.counters.get("mongodb.resyncs"), 0, "stayed in sync");
}

#[test]
fn the_in_flight_bound_and_the_timeout_report_unmatched_requests() {
    let c = MongodbConfig {
        max_in_flight: 2,
        ..cfg()
    };
    let mut s = MongodbSession::new(Arc::new(c));
    let mut dr = Driver::new(Transport::Tcp, 27017);
    for i in 0..3 {
        s.data(Dir::ToServer, &find(i, "a"), T0, &mut dr.sink());
    }
    assert_eq!(dr.events().len(), 1);
    assert_eq!(dr.counters.get("mongodb.in_flight_overflow"), 1);
    s.tick(T0 + 9_000_000_000, &mut dr.sink());
    assert_eq!(dr.events().len(), 1);
    s.tick(T0 + 11_000_000_000, &mut dr.sink());
    let ev = dr.events();
    assert_eq!(ev.len(), 3);
    assert!(ev
        .iter()
        .all(|e| e["error"]["message"] == "Unmatched request"));
    assert_eq!(dr.counters.get("mongodb.unmatched_requests"), 3);
}

#[test]
fn a_reply_without_request_is_reported_unmatched() {
    let r = op_reply(5, 99, &[d(&[("ismaster", V::B(true)), ("ok", V::F(1.0))])]);
    let dr = run(&[(Dir::ToClient, &r)]);
    let e = &dr.events()[0];
    assert_eq!(e["error"]["message"], "Unmatched response");
    assert_eq!(e["mongodb"]["opcode"], "OP_REPLY");
    assert!(e["event"]["duration"].as_u64().is_some());
    let _ = OP_MSG;
}

/// What fuzz/fuzz_targets/mongodb.rs runs on one input.
fn fuzz_one(data: &[u8], unit: usize) {
    use super::bson::{self, Bounded};
    use super::parser::{self, Opts};
    if let Some((d, _)) = bson::doc(data) {
        let mut s = String::new();
        bson::render(d, &mut Bounded::new(&mut s, 256), &|_| false);
    }
    let o = Opts {
        send_request: true,
        send_response: true,
        max_docs: 3,
        max_doc_length: 40,
        max_query_length: 200,
    };
    for op in [1, 2001, 2002, 2004, 2005, 2006, 2007, 2012, 2013] {
        let _ = parser::request(op, data, &o);
        let _ = parser::response(op, data, op % 2 == 0, &o);
    }
    let _ = parser::find_start(data, 4096);
    let mut s = MongodbSession::new(Arc::new(MongodbConfig {
        send_request: true,
        send_response: true,
        max_docs: 3,
        max_doc_length: 40,
        max_in_flight: 4,
        max_message_buffer: 1024,
        max_message_size: 8192,
        ..cfg()
    }));
    crate::proto::testkit::fuzz_stream(&mut s, 27017, data, unit, |ctl| {
        (ctl > 0xf4).then(|| u64::from(ctl & 0x3f))
    });
}

/// The fuzz target's work on generated inputs, for machines without
/// cargo-fuzz: real messages (OP_MSG, legacy, compressed, exhaust, an
/// over-long reply) framed in the fuzz driver's chunk format, then
/// mutated. `MONGODB_FUZZ_ITERATIONS` (default 2000) inputs; run with
/// `cargo test --release --lib mongodb::tests::fuzz_driver -- --ignored --nocapture`.
#[test]
#[ignore = "long: run by hand with MONGODB_FUZZ_ITERATIONS"]
fn fuzz_driver_on_mutated_exchanges() {
    let n: u64 = std::env::var("MONGODB_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let msgs: Vec<(bool, Vec<u8>)> = vec![
        (false, find(1, "a")),
        (true, cursor_reply(2, 1, 3)),
        (false, snappy(&find(3, "b"))),
        (true, snappy(&cursor_reply(4, 3, 2))),
        (false, op_query(5, "db.$cmd", &d(&[("count", V::S("c"))]))),
        (
            true,
            op_reply(6, 5, &[d(&[("ok", V::F(0.0)), ("errmsg", V::S("x"))])]),
        ),
        (
            true,
            op_msg(
                7,
                1,
                super::parser::MORE_TO_COME,
                &d(&[("ok", V::F(1.0))]),
                &[],
            ),
        ),
        (true, cursor_reply(8, 3, 60)),
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut total = 0u64;
    for _ in 0..n {
        let mut input = Vec::new();
        for _ in 0..(crate::proto::testkit::xorshift64(&mut x) % 6 + 1) {
            let (to_client, m) =
                &msgs[(crate::proto::testkit::xorshift64(&mut x) % msgs.len() as u64) as usize];
            // Chunks of 1 to 60 bytes in the message's direction (the
            // driver's control byte with a length unit of 1), sometimes a
            // gap instead.
            let size = 1 + (crate::proto::testkit::xorshift64(&mut x) % 60) as usize;
            for chunk in m.chunks(size) {
                input.push(((chunk.len() as u8) << 2) | u8::from(*to_client));
                input.extend_from_slice(chunk);
            }
            if crate::proto::testkit::xorshift64(&mut x) % 16 == 0 {
                input.push(0xf8 | u8::from(*to_client));
            }
        }
        for _ in 0..(crate::proto::testkit::xorshift64(&mut x) % 8) {
            let at = (crate::proto::testkit::xorshift64(&mut x) % input.len() as u64) as usize;
            input[at] = crate::proto::testkit::xorshift64(&mut x) as u8;
        }
        fuzz_one(&input, 1);
        total += 1;
    }
    println!("mongodb fuzz driver: {total} inputs, no panic");
}

#[test]
fn the_fuzz_driver_runs_a_few_inputs() {
    fuzz_one(&[0x10, 1, 2, 3, 4, 0xf9], 4);
    let mut input = vec![(find(1, "a").len() as u8) << 2];
    input.extend_from_slice(&find(1, "a"));
    fuzz_one(&input, 1);
}
