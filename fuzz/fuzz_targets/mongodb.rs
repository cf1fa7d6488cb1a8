//! Fuzz target: arbitrary bytes through the MongoDB pieces: the BSON
//! walker and renderer, every opcode's request and response reader, the
//! resync scan, and a whole `MongodbSession` (chunks, gaps, ticks on both
//! directions chosen by the input, small bounds so the over-long and
//! decompression paths run). Nothing may panic; every event must be valid
//! JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::mongodb::bson::{self, Bounded};
use spanlens::proto::mongodb::parser::{self, Opts};
use spanlens::proto::mongodb::{MongodbConfig, MongodbSession};
use std::sync::Arc;

const OPS: [i32; 9] = [1, 2001, 2002, 2004, 2005, 2006, 2007, 2012, 2013];

fuzz_target!(|data: &[u8]| {
    if let Some((d, _)) = bson::doc(data) {
        let mut s = String::new();
        bson::render(d, &mut Bounded::new(&mut s, 256), &|_| false);
        let _ = d.iter().count();
    }
    let o = Opts {
        send_request: true,
        send_response: true,
        max_docs: 3,
        max_doc_length: 40,
        max_query_length: 200,
    };
    for op in OPS {
        let _ = parser::request(op, data, &o);
        let _ = parser::response(op, data, op % 2 == 0, &o);
    }
    let _ = parser::find_start(data, 4096);

    let cfg = Arc::new(MongodbConfig {
        send_request: true,
        send_response: true,
        max_docs: 3,
        max_doc_length: 40,
        max_in_flight: 4,
        max_message_buffer: 1024,
        max_message_size: 8192,
        ..Default::default()
    });
    let mut s = MongodbSession::new(cfg);
    spanlens::proto::testkit::fuzz_stream(&mut s, 27017, data, 4, |ctl| {
        (ctl > 0xf4).then(|| u64::from(ctl & 0x3f))
    });
});
