//! Fuzz target: arbitrary bytes through the SIP message parser (as a
//! datagram and as a stream prefix: a stream parse that succeeds must
//! agree with the datagram parse of the same bytes when both see a
//! Content-Length), a whole `SipSession` over TCP (segments, gaps, ticks)
//! and over UDP. Nothing may panic; every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::sip::parser::{self, Error};
use spanlens::proto::sip::{SipConfig, SipSession};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let dgram = parser::parse(data, true, 2048);
    let stream = parser::parse(data, false, 2048);
    if let (Ok(d), Ok(s)) = (&dgram, &stream) {
        if d.content_length.is_some() {
            assert_eq!(d, s, "datagram and stream parses differ");
        }
    }
    if let Ok(m) = &stream {
        // A complete stream message parses the same with bytes after it.
        let mut more = data[..m.len].to_vec();
        more.extend_from_slice(b"INVITE sip:x SIP/2.0\r\n");
        assert_eq!(parser::parse(&more, false, 2048).as_ref(), Ok(m));
    }
    let _ = matches!(stream, Err(Error::More));
    let _ = parser::sdp(data);
    let _ = parser::auth(data);
    let _ = parser::uri(data);
    let _ = parser::name_addr(data);
    let cfg = Arc::new(SipConfig {
        max_in_flight: 4,
        max_message_bytes: 2048,
        ..Default::default()
    });
    let mut s = SipSession::new(Arc::clone(&cfg));
    spanlens::proto::testkit::fuzz_stream(&mut s, 5060, data, 4, |ctl| {
        (ctl > 0xf8).then(|| u64::from(ctl & 0x1f))
    });
    let mut u = SipSession::new(cfg);
    spanlens::proto::testkit::fuzz_datagram(&mut u, 5060, data);
});
