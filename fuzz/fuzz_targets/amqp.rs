//! Fuzz target: arbitrary bytes through the AMQP 0-9-1 parser functions
//! (frames, resync scan, every method's arguments, content headers, field
//! tables) and a whole `AmqpSession` (split into data/gap calls on both
//! directions by the input itself). Nothing may panic; every event must be
//! valid JSON.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run amqp -- -max_total_time=60`
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::amqp::parser::{self, Opts, Rec};
use spanlens::proto::amqp::{AmqpConfig, AmqpSession};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // Pure parsers on the raw input.
    let _ = parser::parse_frame(data, 4096);
    let _ = parser::find_frame(data, 4096);
    let _ = parser::plausible_frame(data, 4096);
    let mut rec = Rec::default();
    let opts = Opts {
        arguments: true,
        properties: true,
    };
    for m in parser::METHODS {
        rec.clear();
        let _ = parser::parse_method(m, data, opts, &mut rec);
    }
    rec.clear();
    let _ = parser::parse_content_header(data, true, true, &mut rec);
    if parser::valid_table(data, 0) {
        for (_, t, v) in parser::table_entries(data) {
            let _ = parser::value(t, v);
        }
    }

    // A session fed in chunks: each chunk's first byte picks the
    // direction, gap or data, and its length.
    let cfg = Arc::new(AmqpConfig {
        send_request: true,
        send_response: true,
        hide_connection_information: data.first().is_some_and(|b| b & 1 == 0),
        max_in_flight: 4,
        max_channels: 2,
        max_body_length: 16,
        max_frame_size: 4096,
        ..Default::default()
    });
    let mut s = AmqpSession::new(cfg);
    spanlens::proto::testkit::fuzz_stream(&mut s, 5672, data, 3, |ctl| {
        (ctl & 2 != 0 && ctl > 0xf0).then(|| u64::from(ctl & 0x3f))
    });
});
