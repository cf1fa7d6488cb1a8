//! Fuzz target: arbitrary bytes, cut arbitrarily into request/response
//! segments, gaps, direction ends and ticks, fed to `HttpSession`
//! (see `spanlens::proto::http::fuzz_one`). Every event must be valid JSON
//! and nothing may panic.
//!
//! Run: `cargo +nightly fuzz run http_session -- -max_total_time=180`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    spanlens::proto::http::fuzz_one(data);
});
