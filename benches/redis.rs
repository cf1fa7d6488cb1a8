//! Micro benchmarks: Redis transactions per second on one core, through
//! `RedisSession` (RESP scanning, pairing and JSON encoding of the event).
//! Run: `cargo bench --bench redis`.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanlens::proto::redis::{RedisConfig, RedisSession};
use std::sync::Arc;

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
    }
    v
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
            let session = RedisSession::new(Arc::new(RedisConfig::default()));
            common::exchange(b, session, common::flow(6379), &req, &resp);
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
