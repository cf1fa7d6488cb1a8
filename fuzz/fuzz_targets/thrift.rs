//! Fuzz target: arbitrary bytes through the Thrift parser (every layout:
//! detection, whole messages, resync scan; a message found whole is found
//! again when fed in two parts), the IDL reader, and a whole
//! `ThriftSession` (segments, gaps, ticks) through the test kit's driver.
//! Nothing may panic; every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::thrift::parser::{self, Framing, Limits, Parsed, Proto};
use spanlens::proto::thrift::{idl::Idl, ThriftConfig, ThriftSession};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let lim = Limits {
        string_max: 8,
        collection_max: 3,
        max_fields: 20,
        max_depth: 8,
        max_text: 256,
        max_message: 4096,
        ..Limits::default()
    };
    let _ = parser::detect(data, lim.max_message);
    for f in [Framing::Socket, Framing::Framed] {
        for p in [Proto::Binary, Proto::Compact] {
            if let Parsed::Done(_, n) = parser::parse(data, f, p, &lim) {
                assert!(n <= data.len());
                // Every prefix of a whole message is incomplete, never bad.
                let cut = data.first().copied().unwrap_or(0) as usize % n.max(1);
                assert_eq!(parser::parse(&data[..cut], f, p, &lim), Parsed::More);
            }
            if let Some(off) = parser::find_start(data, f, p, &lim) {
                assert!(off < data.len());
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Idl::parse(s);
    }
    let cfg = Arc::new(ThriftConfig {
        string_max_size: 8,
        collection_max_size: 3,
        drop_after_n_struct_fields: 20,
        max_depth: 8,
        max_message_size: 4096,
        max_in_flight: 4,
        ..Default::default()
    });
    let mut s = ThriftSession::new(cfg);
    spanlens::proto::testkit::fuzz_stream(&mut s, 9090, data, 2, |ctl| {
        (ctl > 0xf8).then(|| u64::from(ctl & 0x1f))
    });
});
