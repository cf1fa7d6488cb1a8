//! Fuzz target: arbitrary bytes through the Cassandra parser functions
//! (frame headers, v5 segment headers, body readers, decompression with
//! small bounds) and whole `CassandraSession`s (plain, and with the
//! Snappy default so compressed frames are decompressed), split into
//! data/gap calls on both directions by the input itself. Nothing may
//! panic; every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::cassandra::parser::{self, Compression, Rd};
use spanlens::proto::cassandra::{CassandraConfig, CassandraSession};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    for response in [false, true] {
        if let parser::Head::Frame(h) = parser::header(data, response) {
            let body = data.get(usize::from(h.header_len)..).unwrap_or(&[]);
            if let Some((_, r)) = parser::prelude(&h, body) {
                let _ = parser::request(&h, r);
                parser::batch_items(&h, r, 8, |_| {});
                let _ = parser::result(h.version, r);
                let _ = parser::error(h.version, r);
                let _ = parser::event(h.version, r);
            }
        }
        let _ = parser::find_start(data, response, None);
        let _ = parser::find_segment_strict(data, false, response);
    }
    for lz4 in [false, true] {
        let _ = parser::segment(data, lz4);
        let _ = parser::find_segment(data, lz4);
    }
    let mut out = Vec::new();
    for c in [Compression::Lz4, Compression::Snappy] {
        let _ = parser::decompress(c, data, 1 << 16, &mut out);
    }
    let _ = Rd::new(data).skip_type(0);

    for compressor in ["", "snappy"] {
        let cfg = Arc::new(CassandraConfig {
            compressor: compressor.into(),
            max_in_flight: 4,
            max_prepared_statements: 4,
            max_query_length: 64,
            max_frame_bytes: 64 * 1024,
            ..Default::default()
        });
        let mut s = CassandraSession::new(cfg);
        spanlens::proto::testkit::fuzz_stream(&mut s, 9042, data, 3, |ctl| {
            (ctl & 2 != 0 && ctl > 0xf0).then(|| u64::from(ctl & 0x3f))
        });
    }
});
