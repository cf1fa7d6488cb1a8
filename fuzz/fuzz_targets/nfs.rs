//! Fuzz target: arbitrary bytes through the ONC RPC / NFS parsers (RPC
//! header, v2/v3/v4 call arguments, reply status, record resync scan), a
//! whole `NfsSession` (record marks across segments, gaps, ticks) and an
//! `NfsUdpSession`, through the test kit's drivers. Nothing may panic;
//! every event must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens::proto::nfs::parser;
use spanlens::proto::nfs::{NfsConfig, NfsSession, NfsUdpSession};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let _ = parser::rpc(data);
    for vers in 2..=4 {
        for proc_ in [0, 1, 3, 7] {
            for gss in [None, Some(2), Some(3)] {
                let _ = parser::nfs_call(vers, proc_, gss, data, 8);
                let _ = parser::nfs_reply_status(vers, proc_, gss, data);
            }
        }
    }
    if let Some(off) = parser::find_record(data, 1 << 16, &|x| x % 2 == 0) {
        assert!(off < data.len());
    }
    let cfg = Arc::new(NfsConfig {
        max_header_size: 512,
        max_record_size: 4096,
        max_ops: 4,
        max_in_flight: 4,
        ..Default::default()
    });
    let mut s = NfsSession::new(Arc::clone(&cfg));
    spanlens::proto::testkit::fuzz_stream(&mut s, 2049, data, 4, |ctl| {
        (ctl > 0xf8).then(|| u64::from(ctl & 0x1f))
    });
    let mut u = NfsUdpSession::new(cfg);
    spanlens::proto::testkit::fuzz_datagram(&mut u, 2049, data);
});
