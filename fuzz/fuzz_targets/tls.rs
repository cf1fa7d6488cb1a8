//! Fuzz target: arbitrary bytes through the TLS record reader (whole and
//! split at a position given by the input: the same steps), the hello and
//! certificate parsers, and a whole `TlsSession` (segments, gaps, ticks).
//! Nothing may panic; every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::tls::parser::{self, RecordReader, Step};
use spanlens::proto::tls::{TlsConfig, TlsSession};
use std::sync::Arc;

fn steps(parts: &[&[u8]]) -> Vec<(Step, Vec<u8>)> {
    let mut r = RecordReader::new(2048);
    let mut out = Vec::new();
    for part in parts {
        let mut pos = 0;
        loop {
            let (n, step) = r.feed(&part[pos..]);
            pos += n;
            if step == Step::More {
                break;
            }
            let body = match step {
                Step::Handshake(_) => r.message().to_vec(),
                _ => Vec::new(),
            };
            out.push((step, body));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().copied().unwrap_or(0) as usize % (data.len() + 1);
    // After bytes that are not TLS the reader resynchronises from what it
    // still holds, which depends on the split: compare clean streams only.
    let whole = steps(&[data]);
    let split = steps(&[&data[..cut], &data[cut..]]);
    let clean = |v: &[(Step, Vec<u8>)]| !v.iter().any(|(s, _)| *s == Step::NotTls);
    if clean(&whole) && clean(&split) {
        assert_eq!(whole, split, "a split changed the steps");
    }
    for (_, body) in &whole {
        let _ = parser::parse_client_hello(body);
        let _ = parser::parse_server_hello(body);
        if let Ok(certs) = parser::certificates(body, 4) {
            for c in certs {
                let _ = spanlens::proto::tls::cert::summarise(c, true);
            }
        }
    }
    let _ = parser::parse_client_hello(data);
    let _ = parser::parse_server_hello(data);

    let cfg = Arc::new(TlsConfig {
        max_handshake_bytes: 4096,
        include_raw_certificates: true,
        fingerprints: vec!["md5".into(), "sha1".into(), "sha256".into()],
        ..Default::default()
    });
    let mut s = TlsSession::new(cfg);
    spanlens::proto::testkit::fuzz_stream(&mut s, 443, data, 2, |ctl| {
        (ctl > 0xf8).then(|| u64::from(ctl & 0x1f))
    });
});
