//! Thrift session tests: the generic checks on binary/compact, socket/framed
//! exchanges, pairing by sequence id, oneway calls, exceptions, bounds,
//! loss and resync, through the test kit's driver.

use super::{Thrift, ThriftConfig, ThriftSession};
use crate::flow::Transport;
use crate::proto::testkit::{
    prefix_check, random_check, split_check, AnySession, Driver, Subject, T0,
};
use crate::proto::{Dir, Protocol, Session};
use std::sync::Arc;

/// A strict binary message: type, name, seqid, then `body` (fields + STOP).
fn bin(mtype: u8, name: &str, seq: i32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 0x01, 0x00, mtype];
    v.extend_from_slice(&(name.len() as u32).to_be_bytes());
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn framed(m: &[u8]) -> Vec<u8> {
    let mut v = (m.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(m);
    v
}

/// A compact message.
fn compact(mtype: u8, name: &str, seq: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x82, (mtype << 5) | 1, seq, name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(body);
    v
}

const I32_ONE_TWO: &[u8] = &[8, 0, 1, 0, 0, 0, 1, 8, 0, 2, 0, 0, 0, 2, 0];
const RET_3: &[u8] = &[8, 0, 0, 0, 0, 0, 3, 0];

fn run_with(cfg: ThriftConfig, steps: &[(Dir, Vec<u8>)]) -> Driver {
    let mut s = ThriftSession::new(Arc::new(cfg));
    let mut d = Driver::new(Transport::Tcp, 9090);
    let mut ts = T0;
    for (dir, b) in steps {
        s.data(*dir, b, ts, &mut d.sink());
        ts += 1_000_000;
    }
    s.close(ts, &mut d.sink());
    d
}

fn run(steps: &[(Dir, Vec<u8>)]) -> Driver {
    run_with(ThriftConfig::default(), steps)
}

#[test]
fn the_generic_checks_pass_on_every_layout() {
    let subject = Subject {
        name: "thrift",
        make: &|| {
            AnySession::Stream(Box::new(ThriftSession::new(Arc::new(
                ThriftConfig::default(),
            ))))
        },
    };
    let call = bin(1, "add", 1, I32_ONE_TWO);
    let reply = bin(2, "add", 1, RET_3);
    let ccall = compact(1, "add", 1, &[0x15, 2, 0x15, 4, 0]);
    let creply = compact(2, "add", 1, &[0x05, 0, 6, 0]);
    let exchanges: Vec<Vec<(Dir, Vec<u8>)>> = vec![
        vec![
            (Dir::ToServer, call.clone()),
            (Dir::ToClient, reply.clone()),
        ],
        vec![
            (Dir::ToServer, framed(&call)),
            (Dir::ToClient, framed(&reply)),
        ],
        vec![
            (Dir::ToServer, ccall.clone()),
            (Dir::ToClient, creply.clone()),
        ],
        vec![
            (Dir::ToServer, framed(&ccall)),
            (Dir::ToClient, framed(&creply)),
        ],
    ];
    for ex in &exchanges {
        let steps: Vec<(Dir, &[u8])> = ex.iter().map(|(d, b)| (*d, b.as_slice())).collect();
        prefix_check(&subject, &steps);
        split_check(&subject, &steps);
        random_check(&subject, &steps, 11, 300);
        let ev = run(ex).events();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0]["status"], "OK");
        assert_eq!(ev[0]["method"], "add");
        assert_eq!(ev[0]["thrift"]["params"], "(1: 1, 2: 2)");
        assert_eq!(ev[0]["query"], "add(1: 1, 2: 2)");
        assert_eq!(ev[0]["thrift"]["return_value"], "3");
    }
    prefix_check(&subject, Thrift::SAMPLE);
    split_check(&subject, Thrift::SAMPLE);
}

#[test]
fn layouts_are_reported_and_compact_seqids_pair() {
    let ev = run(&[
        (
            Dir::ToServer,
            framed(&compact(1, "add", 5, &[0x15, 2, 0x15, 4, 0])),
        ),
        (
            Dir::ToClient,
            framed(&compact(2, "add", 5, &[0x05, 0, 6, 0])),
        ),
    ])
    .events();
    assert_eq!(ev[0]["thrift"]["protocol"], "compact");
    assert_eq!(ev[0]["thrift"]["transport"], "framed");
    assert_eq!(ev[0]["thrift"]["seq_id"], 5);
    assert_eq!(ev[0]["thrift"]["message_type"], "call");
    assert_eq!(ev[0]["thrift"]["reply_type"], "reply");
}

#[test]
fn replies_pair_by_seqid_out_of_order() {
    let ev = run(&[
        (
            Dir::ToServer,
            [bin(1, "a", 1, &[0]), bin(1, "b", 2, &[0])].concat(),
        ),
        (Dir::ToClient, bin(2, "b", 2, RET_3)),
        (Dir::ToClient, bin(2, "a", 1, &[0])),
    ])
    .events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["method"], "b");
    assert_eq!(ev[0]["thrift"]["return_value"], "3");
    assert_eq!(ev[1]["method"], "a");
    assert_eq!(ev[1]["thrift"]["return_value"], "");
    assert!(ev.iter().all(|e| e["status"] == "OK"));
}

#[test]
fn oneway_calls_and_calls_passed_by_a_reply_have_no_response() {
    let d = run(&[
        (Dir::ToServer, bin(4, "zip", 0, &[0])),
        (Dir::ToServer, bin(1, "zap", 0, &[0])),
        (Dir::ToServer, bin(1, "ping", 0, &[0])),
        (Dir::ToClient, bin(2, "ping", 0, &[0])),
    ]);
    let ev = d.events();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0]["method"], "zip");
    assert_eq!(ev[0]["thrift"]["message_type"], "oneway");
    assert_eq!(ev[1]["method"], "zap");
    assert!(ev[1]["thrift"].get("return_value").is_none());
    assert_eq!(ev[1]["destination"]["bytes"], 0);
    assert_eq!(ev[2]["method"], "ping");
    assert!(ev.iter().all(|e| e["status"] == "OK"));
    assert_eq!(d.counters.get("thrift.calls_without_reply"), 1);
}

#[test]
fn declared_and_application_exceptions_are_errors() {
    // calculate raises InvalidOperation(1: 4, 2: "Cannot divide by 0") as field 1.
    let mut exc = vec![12, 0, 1, 8, 0, 1, 0, 0, 0, 4, 11, 0, 2, 0, 0, 0, 18];
    exc.extend_from_slice(b"Cannot divide by 0");
    exc.extend_from_slice(&[0, 0]);
    let mut app = vec![11, 0, 1, 0, 0, 0, 7];
    app.extend_from_slice(b"no such");
    app.extend_from_slice(&[8, 0, 2, 0, 0, 0, 1, 0]);
    let cfg = ThriftConfig {
        send_request: true,
        send_response: true,
        ..ThriftConfig::default()
    };
    let ev = run_with(
        cfg,
        &[
            (Dir::ToServer, bin(1, "calculate", 0, &[0])),
            (Dir::ToClient, bin(2, "calculate", 0, &exc)),
            (Dir::ToServer, bin(1, "nope", 1, &[0])),
            (Dir::ToClient, bin(3, "nope", 1, &app)),
        ],
    )
    .events();
    assert_eq!(ev[0]["status"], "Error");
    assert_eq!(
        ev[0]["thrift"]["exceptions"],
        "(1: (1: 4, 2: \"Cannot divide by 0\"))"
    );
    assert_eq!(
        ev[0]["response"],
        "Exceptions: (1: (1: 4, 2: \"Cannot divide by 0\"))"
    );
    assert_eq!(ev[0]["request"], "calculate()");
    assert_eq!(ev[1]["status"], "Error");
    assert_eq!(ev[1]["thrift"]["reply_type"], "exception");
    assert_eq!(ev[1]["thrift"]["exception"]["message"], "no such");
    assert_eq!(ev[1]["thrift"]["exception"]["type"], "UNKNOWN_METHOD");
}

#[test]
fn idl_names_params_and_service() {
    let dir = std::env::temp_dir().join(format!("spanlens-thrift-idl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("calc.thrift");
    std::fs::write(&f, "service Calc { i32 add(1: i32 num1, 2: i32 num2) }\n").unwrap();
    let cfg = ThriftConfig {
        idl_files: vec![f],
        ..ThriftConfig::default()
    };
    crate::proto::ProtocolConfig::validate(&cfg).expect("valid IDL");
    let ev = run_with(
        cfg,
        &[
            (Dir::ToServer, bin(1, "add", 1, I32_ONE_TWO)),
            (Dir::ToClient, bin(2, "add", 1, RET_3)),
        ],
    )
    .events();
    assert_eq!(ev[0]["thrift"]["params"], "(num1: 1, num2: 2)");
    assert_eq!(ev[0]["thrift"]["service"], "Calc");
    let _ = std::fs::remove_dir_all(&dir);
    let bad = ThriftConfig {
        idl_files: vec!["/nonexistent.thrift".into()],
        ..ThriftConfig::default()
    };
    let (key, msg) = crate::proto::ProtocolConfig::validate(&bad).unwrap_err();
    assert_eq!(key, "idl_files");
    assert!(msg.contains("/nonexistent.thrift"), "{msg}");
}

#[test]
fn multiplexed_names_split_the_service() {
    let ev = run(&[
        (Dir::ToServer, bin(1, "Calc:add", 1, I32_ONE_TWO)),
        (Dir::ToClient, bin(2, "Calc:add", 1, RET_3)),
    ])
    .events();
    assert_eq!(ev[0]["method"], "add");
    assert_eq!(ev[0]["thrift"]["service"], "Calc");
}

#[test]
fn a_reply_gap_reports_waiting_calls_and_the_stream_resyncs() {
    let mut s = ThriftSession::new(Arc::new(ThriftConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 9090);
    s.data(Dir::ToServer, &bin(1, "a", 1, &[0]), T0, &mut d.sink());
    s.gap(Dir::ToClient, 100, T0 + 1, &mut d.sink());
    // The tail of the lost reply, then a whole one for the next call.
    let mut tail = vec![0, 0, 3, 0];
    tail.extend_from_slice(&bin(2, "b", 2, RET_3));
    s.data(Dir::ToServer, &bin(1, "b", 2, &[0]), T0 + 2, &mut d.sink());
    s.data(Dir::ToClient, &tail, T0 + 3, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(
        ev[0]["error"]["message"],
        "Packet loss while capturing the response"
    );
    assert_eq!(ev[1]["method"], "b");
    assert_eq!(ev[1]["status"], "OK");
    assert_eq!(d.counters.get("thrift.resyncs"), 1);
    assert_eq!(d.counters.get("thrift.resync_skipped_bytes"), 4);
}

#[test]
fn garbage_is_counted_and_calls_expire() {
    let mut s = ThriftSession::new(Arc::new(ThriftConfig::default()));
    let mut d = Driver::new(Transport::Tcp, 9090);
    s.data(Dir::ToServer, b"GET / HTTP/1.1\r\n\r\n", T0, &mut d.sink());
    assert!(d.counters.get("thrift.parse_errors") >= 1);
    assert!(s.rejected(), "not Thrift from the first byte");
    s.data(
        Dir::ToServer,
        &bin(1, "late", 1, &[0]),
        T0 + 1,
        &mut d.sink(),
    );
    s.tick(T0 + 9_000_000_000, &mut d.sink());
    assert!(d.events().is_empty());
    assert!(!s.rejected(), "a call was decoded after all");
    s.tick(T0 + 11_000_000_000, &mut d.sink());
    let ev = d.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["method"], "late");
    assert_eq!(ev[0]["error"]["message"], "Unmatched request");
}

#[test]
fn in_flight_is_bounded() {
    let cfg = ThriftConfig {
        max_in_flight: 2,
        ..ThriftConfig::default()
    };
    let calls: Vec<u8> = (0..5).flat_map(|i| bin(1, "f", i, &[0])).collect();
    let d = run_with(cfg, &[(Dir::ToServer, calls)]);
    assert_eq!(d.counters.get("thrift.in_flight_dropped"), 3);
    assert_eq!(d.events().len(), 5);
}

#[test]
fn capture_reply_off_pairs_without_values() {
    let cfg = ThriftConfig {
        capture_reply: false,
        ..ThriftConfig::default()
    };
    let ev = run_with(
        cfg,
        &[
            (Dir::ToServer, bin(1, "add", 1, I32_ONE_TWO)),
            (Dir::ToClient, bin(2, "add", 1, RET_3)),
        ],
    )
    .events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "OK");
    assert!(ev[0]["thrift"].get("return_value").is_none());
    assert!(ev[0]["destination"]["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn config_values_are_checked() {
    use crate::proto::ProtocolConfig;
    let bad = ThriftConfig {
        transport_type: "http".into(),
        ..ThriftConfig::default()
    };
    assert_eq!(bad.validate().unwrap_err().0, "transport_type");
    let bad = ThriftConfig {
        protocol_type: "json".into(),
        ..ThriftConfig::default()
    };
    assert_eq!(bad.validate().unwrap_err().0, "protocol_type");
    // A forced layout decodes what detection alone would too.
    let cfg = ThriftConfig {
        transport_type: "framed".into(),
        protocol_type: "binary".into(),
        ..ThriftConfig::default()
    };
    let ev = run_with(
        cfg,
        &[
            (Dir::ToServer, framed(&bin(1, "add", 1, I32_ONE_TWO))),
            (Dir::ToClient, framed(&bin(2, "add", 1, RET_3))),
        ],
    )
    .events();
    assert_eq!(ev[0]["thrift"]["return_value"], "3");
}
