//! Fuzz target: arbitrary bytes through the memcache reader (requests and
//! responses, whole and split at a position given by the input: the same
//! messages when nothing was bad), a whole `MemcacheSession` (segments,
//! gaps, ticks) and a `MemcacheUdpSession`. Nothing may panic; every event
//! must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::memcache::parser::{Reader, Step};
use spanlens::proto::memcache::{MemcacheConfig, MemcacheSession, MemcacheUdpSession};
use std::sync::Arc;

fn steps(requests: bool, parts: &[&[u8]]) -> Vec<Step> {
    let mut r = Reader::new(requests, 512);
    let mut out = Vec::new();
    for part in parts {
        let mut pos = 0;
        loop {
            let (n, step) = r.feed(&part[pos..]);
            pos += n;
            if step == Step::More {
                break;
            }
            out.push(step);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().copied().unwrap_or(0) as usize % (data.len() + 1);
    for requests in [true, false] {
        let whole = steps(requests, &[data]);
        let split = steps(requests, &[&data[..cut], &data[cut..]]);
        let clean = |v: &[Step]| !v.iter().any(|s| matches!(s, Step::Bad(_)));
        if clean(&whole) && clean(&split) {
            assert_eq!(whole, split, "a split changed the messages");
        }
    }
    let cfg = Arc::new(MemcacheConfig {
        max_keys: 3,
        max_stats: 3,
        max_line: 512,
        max_in_flight: 4,
        ..Default::default()
    });
    let mut s = MemcacheSession::new(Arc::clone(&cfg));
    spanlens::proto::testkit::fuzz_stream(&mut s, 11211, data, 2, |ctl| {
        (ctl > 0xf8).then(|| u64::from(ctl & 0x1f))
    });
    let mut u = MemcacheUdpSession::new(cfg);
    spanlens::proto::testkit::fuzz_datagram(&mut u, 11211, data);
});
