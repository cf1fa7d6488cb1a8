//! Fuzz target: arbitrary bytes as one DNS message (parse strict and
//! lenient, decode every record's data and name), through the TCP framer
//! whole and split at a position given by the input (a split never changes
//! the messages), and through a `DnsSession` as UDP datagrams and as a TCP
//! stream with gaps. Nothing may panic; every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::dns::parser::{write_name, Frame, Message, TcpFramer};
use spanlens::proto::dns::{DnsConfig, DnsSession};
use std::sync::Arc;

fn frames(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut f = TcpFramer::default();
    let mut out = Vec::new();
    for p in parts {
        let mut pos = 0;
        loop {
            match f.next(p, &mut pos) {
                Frame::Input(r) => out.push(p[r].to_vec()),
                Frame::Buffered => {
                    out.push(f.message().to_vec());
                    f.clear();
                }
                Frame::More => break,
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut m = Message::default();
    let mut name = Vec::new();
    for lenient in [false, true] {
        if m.parse(data, lenient).is_ok() {
            for r in m.records.clone() {
                let _ = r.rdata(data);
                name.clear();
                let _ = write_name(data, r.name.into(), &mut name);
                assert!(name.len() <= 255 * 4 + 1);
            }
            if let Some(e) = m.edns() {
                let _ = e.options(data).count();
            }
        }
    }
    let cut = data.first().copied().unwrap_or(0) as usize % (data.len() + 1);
    assert_eq!(frames(&[data]), frames(&[&data[..cut], &data[cut..]]));

    let cfg = Arc::new(DnsConfig {
        include_authorities: true,
        include_additionals: true,
        max_in_flight: 4,
        max_query_bytes: 64,
        ..Default::default()
    });
    let mut s = DnsSession::new(Arc::clone(&cfg));
    spanlens::proto::testkit::fuzz_datagram(&mut s, 53, data);
    let mut s = DnsSession::new(cfg);
    spanlens::proto::testkit::fuzz_stream(&mut s, 53, data, 3, |ctl| {
        (ctl > 0xf8).then(|| u64::from(ctl & 0x1f))
    });
});
