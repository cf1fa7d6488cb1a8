//! Fuzz target: arbitrary bytes through the RESP scanner (whole and split
//! at every position given by the input) and a whole `RedisSession`.
//! Nothing may panic; a split never changes the tokens; every event must
//! be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::redis::parser::{RespParser, Token, Visitor};
use spanlens::proto::redis::{RedisConfig, RedisSession};
use std::sync::Arc;

#[derive(Default)]
struct Count {
    ends: u64,
    bulk: u64,
    other: u64,
}

impl Visitor for Count {
    fn token(&mut self, t: Token<'_>) -> bool {
        match t {
            Token::End { .. } => self.ends += 1,
            Token::BulkChunk(c) => self.bulk += c.len() as u64,
            _ => self.other += 1,
        }
        true
    }
}

fn scan(parts: &[&[u8]], inline: bool) -> Option<(u64, u64, u64)> {
    let mut p = RespParser::new(inline);
    let mut c = Count::default();
    for part in parts {
        p.feed(part, &mut c).ok()?;
    }
    Some((c.ends, c.bulk, c.other))
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().copied().unwrap_or(0) as usize % (data.len() + 1);
    for inline in [false, true] {
        let whole = scan(&[data], inline);
        let split = scan(&[&data[..cut], &data[cut..]], inline);
        if let (Some(w), Some(s)) = (whole, split) {
            assert_eq!(w, s, "a split changed the tokens");
        }
    }

    let cfg = Arc::new(RedisConfig {
        send_response: true,
        send_request: true,
        max_in_flight: 4,
        max_query_length: 32,
        max_return_value_length: 32,
        ..Default::default()
    });
    let mut s = RedisSession::new(cfg);
    spanlens::proto::testkit::fuzz_stream(&mut s, 6379, data, 2, |ctl| {
        (ctl > 0xf8).then(|| u64::from(ctl & 0x1f))
    });
});
