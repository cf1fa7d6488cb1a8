//! Micro benchmark of TCP reassembly: segments/s and bytes/s through
//! `TcpConn::segment` for in-order data (the zero-copy hot path), in-order
//! data interleaved with the peer's ACKs, and pairwise swapped segments
//! (the buffering path).
//!
//! Run: `cargo bench --bench reassembly`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanlens::proto::Dir;
use spanlens::stats::Counters;
use spanlens::tcp::{flags, Delivery, Segment, TcpConfig, TcpConn};
use std::hint::black_box;
use std::time::Duration;

const MSS: usize = 1448;
const BATCH: u32 = 1000;

fn seg(seq: u32, ack: u32, fl: u8, payload: &[u8]) -> Segment<'_> {
    Segment {
        seq,
        ack,
        flags: fl,
        window: 502,
        payload,
        wire_payload_len: payload.len() as u32,
    }
}

/// Feeds `BATCH` data segments per iteration on one long-lived connection
/// (sequence numbers keep growing and wrap), optionally with an ACK from
/// the peer after every second segment, optionally swapping each pair.
fn run(c: &mut Criterion, name: &str, with_acks: bool, swap: bool) {
    let payload = vec![0x5au8; MSS];
    let mut conn = TcpConn::new(&TcpConfig::default());
    let mut counters = Counters::new();
    let mut seq: u32 = 1;
    let mut delivered = 0u64;
    let mut sink = |_: Dir, d: Delivery<'_>, _: u64| {
        if let Delivery::Data(b) = d {
            delivered += b.len() as u64;
        }
    };
    // Establish the peer's stream so ACKs are interpreted.
    conn.segment(
        Dir::ToClient,
        &seg(7, 1, flags::ACK, b"x"),
        0,
        &mut counters,
        &mut sink,
    );
    let mut g = c.benchmark_group(name);
    for (label, tp) in [
        ("segments", Throughput::Elements(u64::from(BATCH))),
        ("bytes", Throughput::Bytes(u64::from(BATCH) * MSS as u64)),
    ] {
        g.throughput(tp);
        g.bench_function(label, |b| {
            b.iter(|| {
                let mut i = 0;
                while i < BATCH {
                    let s0 = seq;
                    let s1 = seq.wrapping_add(MSS as u32);
                    let (first, second) = if swap { (s1, s0) } else { (s0, s1) };
                    for s in [first, second] {
                        conn.segment(
                            Dir::ToServer,
                            &seg(s, 8, flags::ACK | flags::PSH, black_box(&payload)),
                            1,
                            &mut counters,
                            &mut sink,
                        );
                    }
                    seq = seq.wrapping_add(2 * MSS as u32);
                    if with_acks {
                        conn.segment(
                            Dir::ToClient,
                            &seg(8, seq, flags::ACK, b""),
                            1,
                            &mut counters,
                            &mut sink,
                        );
                    }
                    i += 2;
                }
            })
        });
    }
    g.finish();
    black_box(delivered);
}

fn benches(c: &mut Criterion) {
    run(c, "in_order", false, false);
    run(c, "in_order_with_acks", true, false);
    run(c, "swapped_pairs", false, true);
}

criterion_group! {
    name = reassembly;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(reassembly);
