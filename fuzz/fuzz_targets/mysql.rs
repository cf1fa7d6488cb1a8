//! Fuzz target: arbitrary bytes through the MySQL parser functions and a
//! whole `MysqlSession` (split into data/gap calls on both directions by
//! the input itself). Nothing may panic; every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::mysql::{parser, MysqlConfig, MysqlSession};
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
    spanlens::proto::testkit::fuzz_stream(&mut s, 3306, data, 3, |ctl| {
        (ctl & 2 != 0 && ctl > 0xf0).then(|| u64::from(ctl & 0x3f))
    });
});
