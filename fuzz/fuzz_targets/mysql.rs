//! Fuzz target: arbitrary bytes through the MySQL parser functions and a
//! whole `MysqlSession` (split into data/gap calls on both directions by
//! the input itself). Nothing may panic; every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::event::{EventBatch, FlowContext, Transport};
use spanlens::proto::mysql::{parser, MysqlConfig, MysqlSession};
use spanlens::proto::{Dir, Session, TxSink};
use spanlens::stats::Counters;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // Pure parsers on the raw input.
    let _ = parser::parse_greeting(data);
    let _ = parser::parse_handshake_response(data);
    let _ = parser::parse_ok(data);
    let _ = parser::parse_err(data).map(|e| e.text());
    let _ = parser::parse_column_def(data);
    let _ = parser::sql_method(data);
    let _ = parser::sql_table(data);
    let mut saved = parser::StmtParamTypes::default();
    let n = data.first().copied().unwrap_or(0) as usize % 8;
    let _ = parser::parse_execute_params(data, n, &mut saved, 16, 64);

    // A session fed in chunks: each chunk's first byte picks the direction,
    // gap or data, and its length.
    let cfg = Arc::new(MysqlConfig {
        send_response: true,
        send_request: true,
        max_in_flight: 4,
        ..Default::default()
    });
    let mut s = MysqlSession::new(cfg);
    let mut flow = FlowContext::new(
        1,
        (IpAddr::V4(Ipv4Addr::LOCALHOST), 1),
        (IpAddr::V4(Ipv4Addr::LOCALHOST), 3306),
        Transport::Tcp,
        String::new(),
    );
    let mut events = EventBatch::default();
    let mut counters = Counters::new();
    let mut out = TxSink {
        flow: &mut flow,
        events: &mut events,
        counters: &mut counters,
    };
    let mut rest = data;
    let mut ts = 1_000_000_000u64;
    while let Some((&ctl, tail)) = rest.split_first() {
        let dir = if ctl & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let len = ((ctl >> 2) as usize * 3).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        if ctl & 2 != 0 && ctl > 0xf0 {
            s.gap(dir, u64::from(ctl & 0x3f), ts, &mut out);
        } else {
            s.data(dir, chunk, ts, &mut out);
        }
        ts += 1_000_000_000;
        s.tick(ts, &mut out);
        rest = next;
    }
    s.close(ts, &mut out);
    for i in 0..events.len() {
        serde_json::from_slice::<serde_json::Value>(events.json(i)).expect("valid JSON");
    }
});
