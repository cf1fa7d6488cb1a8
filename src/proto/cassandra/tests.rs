//! The Cassandra decoder's tests: the test kit's generic checks on several
//! exchanges, and the session's behaviour (pairing by stream id, prepared
//! statements, batches, errors, events, compression, v5 segments, loss,
//! timeouts, bounds) through the kit's driver. Frames are built here from
//! the spec's layouts.

use super::parser::{self, op};
use super::{Cassandra, CassandraConfig, CassandraSession};
use crate::flow::Transport;
use crate::proto::testkit::{
    prefix_check, random_check, split_check, AnySession, Driver, Subject, T0,
};
use crate::proto::{Dir, Protocol, ProtocolConfig, Session};
use serde_json::Value;
use std::sync::Arc;

/// A frame of protocol `v` (9-byte header).
fn frame(v: u8, response: bool, flags: u8, stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![v | if response { 0x80 } else { 0 }, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(opcode);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut b = (s.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(s);
    b
}

fn long_string(s: &[u8]) -> Vec<u8> {
    let mut b = (s.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(s);
    b
}

/// A v4 QUERY body: the statement, consistency ONE, no flags.
fn query_body(q: &str) -> Vec<u8> {
    let mut b = long_string(q.as_bytes());
    b.extend_from_slice(&[0, 1, 0]);
    b
}

fn query(stream: i16, q: &str) -> Vec<u8> {
    frame(4, false, 0, stream, op::QUERY, &query_body(q))
}

fn void(stream: i16) -> Vec<u8> {
    frame(4, true, 0, stream, op::RESULT, &1i32.to_be_bytes())
}

/// RESULT rows: no metadata flag, `cols` columns, `rows` rows (no values).
fn rows(stream: i16, cols: i32, rows: i32) -> Vec<u8> {
    let mut b = 2i32.to_be_bytes().to_vec();
    b.extend_from_slice(&4i32.to_be_bytes());
    b.extend_from_slice(&cols.to_be_bytes());
    b.extend_from_slice(&rows.to_be_bytes());
    frame(4, true, 0, stream, op::RESULT, &b)
}

fn prepared(stream: i16, id: &[u8]) -> Vec<u8> {
    let mut b = 4i32.to_be_bytes().to_vec();
    b.extend_from_slice(&string(id));
    // Request metadata: flags 0, 1 column, 1 pk index (0), global spec.
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&string(b"ks"));
    b.extend_from_slice(&string(b"t"));
    b.extend_from_slice(&string(b"id"));
    b.extend_from_slice(&9u16.to_be_bytes());
    // Result metadata: no metadata.
    b.extend_from_slice(&4i32.to_be_bytes());
    b.extend_from_slice(&2i32.to_be_bytes());
    frame(4, true, 0, stream, op::RESULT, &b)
}

fn execute(stream: i16, id: &[u8]) -> Vec<u8> {
    let mut b = string(id);
    b.extend_from_slice(&[0, 1, 0]);
    frame(4, false, 0, stream, op::EXECUTE, &b)
}

fn error(stream: i16, code: i32, msg: &str) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(&string(msg.as_bytes()));
    frame(4, true, 0, stream, op::ERROR, &b)
}

fn status_event() -> Vec<u8> {
    let mut b = string(b"STATUS_CHANGE");
    b.extend_from_slice(&string(b"DOWN"));
    b.extend_from_slice(&[4, 10, 0, 0, 3]);
    b.extend_from_slice(&9042i32.to_be_bytes());
    frame(4, true, 0, -1, op::EVENT, &b)
}

fn startup(v: u8, compression: Option<&str>) -> Vec<u8> {
    let n: u16 = if compression.is_some() { 2 } else { 1 };
    let mut b = n.to_be_bytes().to_vec();
    b.extend_from_slice(&string(b"CQL_VERSION"));
    b.extend_from_slice(&string(b"3.0.0"));
    if let Some(c) = compression {
        b.extend_from_slice(&string(b"COMPRESSION"));
        b.extend_from_slice(&string(c.as_bytes()));
    }
    frame(v, false, 0, 0, op::STARTUP, &b)
}

/// A v5 segment (uncompressed) holding `payload`.
fn segment(payload: &[u8], self_contained: bool) -> Vec<u8> {
    let v = payload.len() as u64 | u64::from(self_contained) << 17;
    let h = v.to_le_bytes();
    let mut s = h[..3].to_vec();
    s.extend_from_slice(&parser::crc24(&h[..3]).to_le_bytes()[..3]);
    s.extend_from_slice(payload);
    s.extend_from_slice(&parser::crc32(payload).to_le_bytes());
    s
}

/// A v5 LZ4 segment holding `payload`.
fn segment_lz4(payload: &[u8]) -> Vec<u8> {
    let c = lz4_flex::block::compress(payload);
    let v = c.len() as u64 | (payload.len() as u64) << 17 | 1 << 34;
    let h = v.to_le_bytes();
    let mut s = h[..5].to_vec();
    s.extend_from_slice(&parser::crc24(&h[..5]).to_le_bytes()[..3]);
    s.extend_from_slice(&c);
    s.extend_from_slice(&parser::crc32(&c).to_le_bytes());
    s
}

fn cfg() -> CassandraConfig {
    CassandraConfig::default()
}

fn run_with(cfg: CassandraConfig, steps: &[(Dir, Vec<u8>)]) -> Driver {
    let mut s = CassandraSession::new(Arc::new(cfg));
    let mut d = Driver::new(Transport::Tcp, 9042);
    let mut ts = T0;
    for (dir, b) in steps {
        s.data(*dir, b, ts, &mut d.sink());
        ts += 1_000_000;
    }
    s.close(ts, &mut d.sink());
    d
}

fn run(steps: &[(Dir, Vec<u8>)]) -> Driver {
    run_with(cfg(), steps)
}

fn req(b: Vec<u8>) -> (Dir, Vec<u8>) {
    (Dir::ToServer, b)
}

fn resp(b: Vec<u8>) -> (Dir, Vec<u8>) {
    (Dir::ToClient, b)
}

fn cass(e: &Value) -> &Value {
    &e["cassandra"]
}

#[test]
fn the_generic_checks_pass_on_several_exchanges() {
    let session = || AnySession::Stream(Box::new(CassandraSession::new(Arc::new(cfg()))));
    let subject = Subject {
        name: "cassandra",
        make: &session,
    };
    let out_of_order: Vec<(Dir, Vec<u8>)> = vec![
        req([
            query(1, "SELECT a FROM t"),
            query(2, "INSERT INTO t (a) VALUES (1)"),
        ]
        .concat()),
        resp(void(2)),
        resp(rows(1, 1, 3)),
    ];
    let prepare: Vec<(Dir, Vec<u8>)> = vec![
        req(frame(
            4,
            false,
            0,
            3,
            op::PREPARE,
            &long_string(b"SELECT * FROM t WHERE id = ?"),
        )),
        resp(prepared(3, b"\x01\x02")),
        req(execute(4, b"\x01\x02")),
        resp(rows(4, 2, 1)),
        resp(status_event()),
    ];
    let steps: Vec<Vec<(Dir, &[u8])>> = [&out_of_order, &prepare]
        .iter()
        .map(|v| v.iter().map(|(d, b)| (*d, &b[..])).collect())
        .collect();
    for s in std::iter::once(Cassandra::SAMPLE).chain(steps.iter().map(|v| &v[..])) {
        prefix_check(&subject, s);
        split_check(&subject, s);
        random_check(&subject, s, 11, 500);
    }
}

#[test]
fn the_sample_is_one_rows_transaction() {
    let steps: Vec<_> = Cassandra::SAMPLE
        .iter()
        .map(|(d, b)| (*d, b.to_vec()))
        .collect();
    let ev = run(&steps).events();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["method"], "QUERY");
    assert_eq!(e["query"], "SELECT name FROM ks.users WHERE id = 1;");
    let r = &cass(e)["response"];
    assert_eq!(r["result"]["type"], "rows");
    assert_eq!(r["result"]["rows"]["num_rows"], 1);
    assert_eq!(r["result"]["rows"]["meta"]["keyspace"], "ks");
    assert_eq!(r["result"]["rows"]["meta"]["table"], "users");
    assert_eq!(r["result"]["rows"]["meta"]["flags"], "GlobalTableSpec");
    assert_eq!(r["headers"]["stream"], 7);
    assert_eq!(cass(e)["request"]["headers"]["version"], "4");
    assert_eq!(e["source"]["bytes"], 9 + 0x2e);
    assert_eq!(e["destination"]["bytes"], 9 + 0x2c);
}

#[test]
fn answers_pair_by_stream_id_in_any_order() {
    let ev = run(&[
        req([
            query(1, "SELECT a FROM t"),
            query(2, "INSERT INTO t (a) VALUES (1)"),
        ]
        .concat()),
        resp(void(2)),
        resp(rows(1, 1, 3)),
    ])
    .events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["query"], "INSERT INTO t (a) VALUES (1)");
    assert_eq!(cass(&ev[0])["response"]["result"]["type"], "void");
    assert_eq!(ev[1]["query"], "SELECT a FROM t");
    assert_eq!(cass(&ev[1])["response"]["result"]["rows"]["num_rows"], 3);
    assert_eq!(cass(&ev[1])["response"]["headers"]["stream"], 1);
    // 2 ms from the request to the second answer.
    assert_eq!(ev[1]["event"]["duration"], 2_000_000);
}

#[test]
fn an_execute_names_the_statement_its_prepare_gave() {
    let d = run(&[
        req(frame(
            4,
            false,
            0,
            3,
            op::PREPARE,
            &long_string(b"SELECT * FROM t WHERE id = ?"),
        )),
        resp(prepared(3, b"\xab\xcd")),
        req(execute(4, b"\xab\xcd")),
        resp(rows(4, 2, 1)),
        req(execute(5, b"\x99")),
        resp(error(5, 0x2500, "Prepared query with ID 99 not found")),
    ]);
    let ev = d.events();
    assert_eq!(ev.len(), 3);
    let p = &cass(&ev[0])["response"]["result"];
    assert_eq!(p["type"], "prepared");
    assert_eq!(p["prepared"]["prepared_id"], "abcd");
    assert_eq!(p["prepared"]["req_meta"]["col_count"], 1);
    assert_eq!(p["prepared"]["req_meta"]["pkey_columns"], 1);
    assert_eq!(p["prepared"]["req_meta"]["keyspace"], "ks");
    assert_eq!(p["prepared"]["resp_meta"]["flags"], "NoMetaData");
    assert_eq!(ev[1]["method"], "EXECUTE");
    assert_eq!(ev[1]["query"], "SELECT * FROM t WHERE id = ?");
    assert_eq!(cass(&ev[1])["request"]["prepared_id"], "abcd");
    // An id this connection never prepared: no query, counted.
    assert!(ev[2].get("query").is_none());
    assert_eq!(cass(&ev[2])["response"]["error"]["type"], "errUnprepared");
    assert_eq!(ev[2]["status"], "Error");
    assert_eq!(d.counters.get("cassandra.unknown_prepared"), 1);
}

#[test]
fn a_batch_lists_its_statements() {
    let mut b = vec![1u8]; // UNLOGGED
    b.extend_from_slice(&3u16.to_be_bytes());
    b.push(0);
    b.extend_from_slice(&long_string(b"INSERT INTO t (a) VALUES (?)"));
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&4i32.to_be_bytes());
    b.extend_from_slice(&7i32.to_be_bytes());
    b.push(1);
    b.extend_from_slice(&string(b"\x01\x02"));
    b.extend_from_slice(&0u16.to_be_bytes());
    b.push(0);
    b.extend_from_slice(&long_string(b"DELETE FROM t WHERE a = 1"));
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&[0, 1, 0]);
    let ev = run(&[req(frame(4, false, 0, 9, op::BATCH, &b)), resp(void(9))]).events();
    let batch = &cass(&ev[0])["request"]["batch"];
    assert_eq!(ev[0]["method"], "BATCH");
    assert_eq!(batch["type"], "UNLOGGED");
    assert_eq!(batch["count"], 3);
    assert_eq!(batch["queries"][0], "INSERT INTO t (a) VALUES (?)");
    assert_eq!(batch["queries"][1], "EXECUTE 0102");
    assert_eq!(batch["queries"][2], "DELETE FROM t WHERE a = 1");
}

#[test]
fn errors_carry_code_message_type_and_details() {
    let mut b = 0x1000i32.to_be_bytes().to_vec();
    b.extend_from_slice(&string(b"Cannot achieve consistency level QUORUM"));
    b.extend_from_slice(&4u16.to_be_bytes());
    b.extend_from_slice(&2i32.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    let ev = run(&[
        req(query(1, "SELECT * FROM t")),
        resp(frame(4, true, 0, 1, op::ERROR, &b)),
    ])
    .events();
    let e = &cass(&ev[0])["response"]["error"];
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(e["code"], 0x1000);
    assert_eq!(e["type"], "errUnavailable");
    assert_eq!(e["msg"], "Cannot achieve consistency level QUORUM");
    assert_eq!(e["details"]["read_consistency"], "QUORUM");
    assert_eq!(
        (
            e["details"]["required"].as_u64(),
            e["details"]["alive"].as_u64()
        ),
        (Some(2), Some(1))
    );
    // Not a kit error text: the server answered.
    assert!(ev[0].get("error").is_none());
}

#[test]
fn a_pushed_event_is_a_one_way_event() {
    let d = run(&[resp(status_event())]);
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[0]["method"], "EVENT");
    assert_eq!(cass(&ev[0])["no_request"], true);
    let e = &cass(&ev[0])["response"]["event"];
    assert_eq!(
        (e["type"].as_str(), e["change"].as_str()),
        (Some("STATUS_CHANGE"), Some("DOWN"))
    );
    assert_eq!(
        (e["host"].as_str(), e["port"].as_u64()),
        (Some("10.0.0.3"), Some(9042))
    );
    assert_eq!(d.counters.get("cassandra.pushed_events"), 1);
    assert_eq!(d.counters.get("cassandra.unmatched_responses"), 0);
}

#[test]
fn compressed_frames_are_decompressed_lz4_and_snappy() {
    for c in ["lz4", "snappy"] {
        let compress = |b: &[u8]| -> Vec<u8> {
            if c == "lz4" {
                let mut out = (b.len() as u32).to_be_bytes().to_vec();
                out.extend_from_slice(&lz4_flex::block::compress(b));
                out
            } else {
                snap::raw::Encoder::new().compress_vec(b).unwrap()
            }
        };
        let q = query_body("SELECT * FROM system.local WHERE key='local'");
        let r = rows(5, 9, 1);
        let d = run(&[
            req(startup(4, Some(c))),
            resp(frame(4, true, 0, 0, op::READY, b"")),
            req(frame(4, false, 1, 5, op::QUERY, &compress(&q))),
            resp(frame(4, true, 1, 5, op::RESULT, &compress(&r[9..]))),
        ]);
        let ev = d.events();
        assert_eq!(ev.len(), 2, "{c}");
        assert_eq!(cass(&ev[0])["request"]["compression"], c);
        assert_eq!(
            ev[1]["query"], "SELECT * FROM system.local WHERE key='local'",
            "{c}"
        );
        assert_eq!(cass(&ev[1])["request"]["headers"]["flags"], "Compress");
        let res = &cass(&ev[1])["response"]["result"]["rows"];
        assert_eq!(
            (res["num_rows"].as_u64(), res["meta"]["col_count"].as_u64()),
            (Some(1), Some(9))
        );
        assert_eq!(d.counters.get("cassandra.decompress_errors"), 0);
    }
}

#[test]
fn the_compressor_setting_decodes_connections_whose_startup_was_missed() {
    let q = query_body("SELECT 1");
    let body = snap::raw::Encoder::new().compress_vec(&q).unwrap();
    let steps = [req(frame(4, false, 1, 5, op::QUERY, &body)), resp(void(5))];
    let without = run(&steps);
    assert_eq!(without.counters.get("cassandra.compressed_unknown"), 1);
    assert_eq!(
        without.events()[0]["cassandra"]["request"]["undecoded"],
        true
    );
    let with = run_with(
        CassandraConfig {
            compressor: "snappy".into(),
            ..cfg()
        },
        &steps,
    );
    assert_eq!(with.events()[0]["query"], "SELECT 1");
}

#[test]
fn v5_connections_switch_to_segments_after_ready() {
    for lz4 in [false, true] {
        let seg = |p: &[u8]| {
            if lz4 {
                segment_lz4(p)
            } else {
                segment(p, true)
            }
        };
        let q5 = {
            let mut b = long_string(b"SELECT * FROM t");
            b.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
            frame(5, false, 0, 2, op::QUERY, &b)
        };
        let mut r5 = rows(2, 1, 4);
        r5[0] = 0x85;
        let mut void5 = void(3);
        void5[0] = 0x85;
        let mut q5b = query(3, "INSERT INTO t (a) VALUES (2)");
        q5b[0] = 0x05;
        let d = run(&[
            req(startup(5, lz4.then_some("lz4"))),
            resp(frame(5, true, 0, 0, op::READY, b"")),
            req(seg(&[q5.clone(), q5b].concat())),
            resp(seg(&[void5, r5].concat())),
        ]);
        let ev = d.events();
        assert_eq!(ev.len(), 3, "lz4 {lz4}: {ev:?}");
        assert_eq!(ev[0]["method"], "STARTUP");
        assert_eq!(ev[1]["query"], "INSERT INTO t (a) VALUES (2)");
        assert_eq!(ev[2]["query"], "SELECT * FROM t");
        assert_eq!(cass(&ev[2])["response"]["result"]["rows"]["num_rows"], 4);
        assert_eq!(cass(&ev[2])["request"]["headers"]["version"], "5");
        assert_eq!(d.counters.get("cassandra.segments"), 2);
        assert_eq!(d.counters.get("cassandra.v5_connections"), 1);
    }
}

#[test]
fn a_v5_frame_spans_segments_and_a_bad_crc_is_counted() {
    let q = query(2, &"x".repeat(300));
    let mut q5 = q.clone();
    q5[0] = 5;
    let mut r5 = void(2);
    r5[0] = 0x85;
    let (a, b) = q5.split_at(100);
    let mut bad = segment(&r5, true);
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    let d = run(&[
        req(startup(5, None)),
        resp(frame(5, true, 0, 0, op::READY, b"")),
        req([segment(a, false), segment(b, false)].concat()),
        resp(bad),
        resp(segment(&r5, true)),
    ]);
    let ev = d.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1]["query"].as_str().map(str::len), Some(300));
    assert_eq!(d.counters.get("cassandra.segment_crc_errors"), 1);
}

#[test]
fn segments_are_found_when_the_capture_starts_inside_a_v5_connection() {
    let mut q5 = query(2, "SELECT * FROM t WHERE k = 1 AND c > 100 ALLOW FILTERING");
    q5[0] = 5;
    let mut r5 = rows(2, 3, 2);
    r5[0] = 0x85;
    let d = run(&[req(segment(&q5, true)), resp(segment(&r5, true))]);
    let ev = d.events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(cass(&ev[0])["response"]["result"]["rows"]["num_rows"], 2);
    assert_eq!(d.counters.get("cassandra.v5_segments_detected"), 2);
}

#[test]
fn a_gap_in_the_responses_reports_the_waiting_requests_as_lost() {
    let mut s = CassandraSession::new(Arc::new(cfg()));
    let mut d = Driver::new(Transport::Tcp, 9042);
    s.data(
        Dir::ToServer,
        &query(1, "SELECT a FROM t"),
        T0,
        &mut d.sink(),
    );
    s.data(
        Dir::ToServer,
        &query(2, "SELECT b FROM t"),
        T0 + 1,
        &mut d.sink(),
    );
    s.gap(Dir::ToClient, 40, T0 + 2, &mut d.sink());
    // The tail of a lost frame, then a whole answer for stream 2.
    let tail = [b"\x00\x01zz".to_vec(), rows(2, 1, 1), void(9)].concat();
    s.data(Dir::ToClient, &tail, T0 + 3, &mut d.sink());
    s.close(T0 + 4, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(ev[0]["query"], "SELECT b FROM t");
    assert_eq!(ev[0]["status"], "OK");
    assert_eq!(ev[1]["error"]["message"], "Unmatched response");
    assert_eq!(ev[2]["query"], "SELECT a FROM t");
    assert_eq!(
        ev[2]["error"]["message"],
        "Packet loss while capturing the response"
    );
    assert_eq!(d.counters.get("cassandra.resyncs"), 1);
    assert_eq!(d.counters.get("cassandra.resync_skipped_bytes"), 4);
}

#[test]
fn a_request_without_an_answer_expires_on_tick() {
    let mut s = CassandraSession::new(Arc::new(cfg()));
    let mut d = Driver::new(Transport::Tcp, 9042);
    s.data(
        Dir::ToServer,
        &query(1, "SELECT a FROM t"),
        T0,
        &mut d.sink(),
    );
    s.tick(T0 + 9_000_000_000, &mut d.sink());
    assert!(d.events().is_empty());
    s.tick(T0 + 11_000_000_000, &mut d.sink());
    assert_eq!(d.events()[0]["error"]["message"], "Unmatched request");
    assert_eq!(d.counters.get("cassandra.unmatched_requests"), 1);
}

#[test]
fn a_reused_stream_id_reports_the_unanswered_request() {
    let d = run(&[
        req(query(1, "SELECT a FROM t")),
        req(query(1, "SELECT b FROM t")),
        resp(void(1)),
    ]);
    let ev = d.events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["query"], "SELECT a FROM t");
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
    assert_eq!(ev[1]["query"], "SELECT b FROM t");
    assert_eq!(d.counters.get("cassandra.stream_reused"), 1);
}

#[test]
fn ignored_ops_are_not_reported_and_headers_follow_the_options() {
    let c = CassandraConfig {
        ignored_ops: vec!["options".into(), "REGISTER".into()],
        send_response_header: false,
        ..cfg()
    };
    let d = run_with(
        c,
        &[
            req(frame(4, false, 0, 0, op::OPTIONS, b"")),
            resp(frame(4, true, 0, 0, op::SUPPORTED, &[0, 0])),
            req(query(1, "SELECT a FROM t")),
            resp(void(1)),
        ],
    );
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "QUERY");
    assert!(cass(&ev[0])["response"].get("headers").is_none());
    assert!(cass(&ev[0])["request"].get("headers").is_some());
    assert_eq!(d.counters.get("cassandra.ignored_transactions"), 1);
    let quiet = run_with(
        CassandraConfig {
            send_request: false,
            send_response: false,
            ..cfg()
        },
        &[req(query(1, "SELECT a FROM t")), resp(void(1))],
    );
    let e = &quiet.events()[0];
    assert!(cass(e).get("request").is_none() && cass(e).get("response").is_none());
    assert_eq!(e["query"], "SELECT a FROM t");
}

#[test]
fn supported_and_authenticate_are_reported() {
    let mut sup = 2u16.to_be_bytes().to_vec();
    sup.extend_from_slice(&string(b"COMPRESSION"));
    sup.extend_from_slice(&2u16.to_be_bytes());
    sup.extend_from_slice(&string(b"snappy"));
    sup.extend_from_slice(&string(b"lz4"));
    sup.extend_from_slice(&string(b"CQL_VERSION"));
    sup.extend_from_slice(&1u16.to_be_bytes());
    sup.extend_from_slice(&string(b"3.4.5"));
    let ev = run(&[
        req(frame(4, false, 0, 0, op::OPTIONS, b"")),
        resp(frame(4, true, 0, 0, op::SUPPORTED, &sup)),
        req(startup(4, None)),
        resp(frame(
            4,
            true,
            0,
            0,
            op::AUTHENTICATE,
            &string(b"org.apache.cassandra.auth.PasswordAuthenticator"),
        )),
    ])
    .events();
    let s = &cass(&ev[0])["response"]["supported"];
    assert_eq!(s["COMPRESSION"], serde_json::json!(["snappy", "lz4"]));
    assert_eq!(s["CQL_VERSION"][0], "3.4.5");
    assert_eq!(
        cass(&ev[1])["response"]["authentication"]["class"],
        "org.apache.cassandra.auth.PasswordAuthenticator"
    );
}

#[test]
fn a_frame_over_the_bound_is_read_from_its_prefix_and_ends_at_its_last_byte() {
    let c = CassandraConfig {
        max_frame_bytes: 64 * 1024,
        ..cfg()
    };
    let mut big = rows(1, 1, 5000);
    big.extend(std::iter::repeat_n(0u8, 200_000));
    let len = (big.len() - 9) as u32;
    big[5..9].copy_from_slice(&len.to_be_bytes());
    let mut s = CassandraSession::new(Arc::new(c));
    let mut d = Driver::new(Transport::Tcp, 9042);
    s.data(
        Dir::ToServer,
        &query(1, "SELECT * FROM big"),
        T0,
        &mut d.sink(),
    );
    for (i, chunk) in big.chunks(1460).enumerate() {
        s.data(Dir::ToClient, chunk, T0 + 1 + i as u64, &mut d.sink());
    }
    s.data(
        Dir::ToServer,
        &query(2, "SELECT 1"),
        T0 + 1000,
        &mut d.sink(),
    );
    s.data(Dir::ToClient, &void(2), T0 + 1001, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(cass(&ev[0])["response"]["result"]["rows"]["num_rows"], 5000);
    assert_eq!(ev[0]["destination"]["bytes"], big.len() as u64);
    // The transaction ends with the frame's last chunk (at T0 + chunks).
    let chunks = big.len().div_ceil(1460) as u64;
    assert_eq!(ev[0]["event"]["duration"], chunks);
    assert_eq!(d.counters.get("cassandra.frames_truncated"), 1);
    assert_eq!(ev[1]["query"], "SELECT 1");
}

#[test]
fn bad_settings_are_named() {
    let bad = CassandraConfig {
        ignored_ops: vec!["SELECT".into()],
        ..cfg()
    };
    assert_eq!(bad.validate().unwrap_err().0, "ignored_ops");
    let bad = CassandraConfig {
        compressor: "zstd".into(),
        ..cfg()
    };
    assert_eq!(bad.validate().unwrap_err().0, "compressor");
    assert!(cfg().validate().is_ok());
}

#[test]
fn supported_keys_from_the_wire_are_valid_json() {
    // Found by the cassandra fuzz target: a SUPPORTED key with a control
    // byte made the event invalid JSON (keys are not escaped).
    let mut sup = 1u16.to_be_bytes().to_vec();
    sup.extend_from_slice(&string(b"A\x1f\"\\B"));
    sup.extend_from_slice(&1u16.to_be_bytes());
    sup.extend_from_slice(&string(b"v\x01"));
    let ev = run(&[resp(frame(4, true, 0, 0, op::SUPPORTED, &sup))]).events();
    let s = &cass(&ev[0])["response"]["supported"];
    assert_eq!(s["A___B"][0], "v\u{1}");
}

#[test]
fn a_cut_supported_list_still_gives_valid_json() {
    // Found by the cassandra fuzz target: a list cut short left its array open.
    let mut sup = 1u16.to_be_bytes().to_vec();
    sup.extend_from_slice(&string(b"K"));
    sup.extend_from_slice(&2u16.to_be_bytes());
    sup.extend_from_slice(&string(b"v"));
    let ev = run(&[resp(frame(4, true, 0, 0, op::SUPPORTED, &sup))]).events();
    assert_eq!(cass(&ev[0])["response"]["supported"]["K"][0], "v");
}
