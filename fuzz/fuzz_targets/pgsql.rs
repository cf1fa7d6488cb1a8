//! Fuzz target: arbitrary bytes through the PostgreSQL parser functions and
//! a whole `PgsqlSession` (split into data/gap calls on both directions by
//! the input itself). Nothing may panic; every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::pgsql::{parser, PgsqlConfig, PgsqlSession};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // Pure parsers on the raw input.
    let _ = parser::tagged_header(data);
    let _ = parser::startup_header(data);
    let _ = parser::looks_like_startup(data);
    if let Some(parser::Startup::Message { params, .. }) = parser::parse_startup(data) {
        let _ = parser::startup_params(params).count();
    }
    let _ = parser::parse_parse(data);
    let _ = parser::parse_bind(data);
    let _ = parser::parse_execute(data);
    let _ = parser::parse_target(data);
    let _ = parser::parse_fields(data);
    let _ = parser::parse_command_tag(data);
    let mut row = Vec::new();
    parser::data_row(data, 64, &mut row);
    parser::row_description_names(data, &mut row, 16);
    let _ = (0..data.len().min(64)).filter(|&o| parser::chain_at(data, o, o % 2 == 0)).count();

    // A session fed in chunks: each chunk's first byte picks the direction,
    // gap or data, and its length.
    let cfg = Arc::new(PgsqlConfig {
        send_response: true,
        send_request: true,
        max_in_flight: 4,
        max_prepared_statements: 4,
        ..Default::default()
    });
    let mut s = PgsqlSession::new(cfg);
    spanlens::proto::testkit::fuzz_stream(&mut s, 5432, data, 3, |ctl| {
        (ctl & 2 != 0 && ctl > 0xf0).then(|| u64::from(ctl & 0x3f))
    });
});
