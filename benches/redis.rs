//! Micro benchmarks: Redis transactions per second on one core, through
//! `RedisSession` (RESP scanning, pairing and JSON encoding of the event).
//! Run: `cargo bench --bench redis`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanlens::event::{EventBatch, FlowContext, Transport};
use spanlens::proto::redis::{RedisConfig, RedisSession};
use spanlens::proto::{Dir, Session, TxSink};
use spanlens::stats::Counters;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
    }
    v
}

fn flow() -> FlowContext {
    let mut f = FlowContext::new(
        1,
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 6379),
        Transport::Tcp,
        "1:abc".into(),
    );
    f.handshake_rtt_us = Some(50);
    f
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("redis");
    let set = (
        cmd(&["SET", "key:000123", "value-of-sixteen"]),
        b"+OK\r\n".to_vec(),
        1,
    );
    let get = (
        cmd(&["GET", "key:000123"]),
        b"$16\r\nvalue-of-sixteen\r\n".to_vec(),
        1,
    );
    let mut p16 = (Vec::new(), Vec::new(), 16);
    for i in 0..16 {
        p16.0.extend(cmd(&["INCR", &format!("counter:{i}")]));
        p16.1.extend(format!(":{}\r\n", 1000 + i).bytes());
    }
    for (name, (req, resp, n)) in [("set", set), ("get", get), ("incr_pipelined_16", p16)] {
        g.throughput(Throughput::Elements(n));
        g.bench_function(name, |b| {
            let mut s = RedisSession::new(Arc::new(RedisConfig::default()));
            let mut fl = flow();
            let mut ev = EventBatch::with_capacity(1 << 20);
            let mut counters = Counters::new();
            let mut ts = 1_000_000_000u64;
            b.iter(|| {
                let mut out = TxSink {
                    flow: &mut fl,
                    events: &mut ev,
                    counters: &mut counters,
                };
                s.data(Dir::ToServer, &req, ts, &mut out);
                s.data(Dir::ToClient, &resp, ts + 1000, &mut out);
                ts += 10_000;
                if ev.len() >= 1024 {
                    ev.clear();
                }
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
