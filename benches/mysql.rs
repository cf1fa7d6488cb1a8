//! Micro benchmarks: MySQL transactions per second on one core, through
//! `MysqlSession` (framing, parsing, pairing and JSON encoding of the
//! event). Run: `cargo bench --bench mysql`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanlens::event::{EventBatch, FlowContext, Transport};
use spanlens::proto::mysql::{MysqlConfig, MysqlSession};
use spanlens::proto::{Dir, Session, TxSink};
use spanlens::stats::Counters;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    v.extend_from_slice(payload);
    v
}

fn lenenc(s: &[u8]) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s);
    v
}

fn column(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for s in [
        &b"def"[..],
        b"shop",
        b"items",
        b"items",
        name.as_bytes(),
        name.as_bytes(),
    ] {
        v.extend(lenenc(s));
    }
    v.extend([0x0c, 0x21, 0, 0, 1, 0, 0, 0xfd, 0, 0, 0, 0, 0]);
    v
}

/// SELECT with 3 columns and 10 rows (classic EOFs), about 600 bytes.
fn select() -> (Vec<u8>, Vec<u8>) {
    let req = pkt(0, b"\x03SELECT id, name, qty FROM items WHERE qty > 3");
    let mut resp = pkt(1, &[3]);
    let mut seq = 2;
    for c in ["id", "name", "qty"] {
        resp.extend(pkt(seq, &column(c)));
        seq += 1;
    }
    resp.extend(pkt(seq, &[0xfe, 0, 0, 2, 0]));
    seq += 1;
    for i in 0..10 {
        let mut row = lenenc(format!("{i}").as_bytes());
        row.extend(lenenc(b"a-reasonably-long-name"));
        row.extend(lenenc(b"42"));
        resp.extend(pkt(seq, &row));
        seq += 1;
    }
    resp.extend(pkt(seq, &[0xfe, 0, 0, 2, 0]));
    (req, resp)
}

/// INSERT answered by OK.
fn insert() -> (Vec<u8>, Vec<u8>) {
    (
        pkt(0, b"\x03INSERT INTO items (name, qty) VALUES ('apple', 3)"),
        pkt(1, &[0, 1, 7, 2, 0, 0, 0]),
    )
}

fn flow() -> FlowContext {
    let mut f = FlowContext::new(
        1,
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 3306),
        Transport::Tcp,
        "1:abc".into(),
    );
    f.handshake_rtt_us = Some(50);
    f
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mysql");
    g.throughput(Throughput::Elements(1));
    for (name, (req, resp)) in [("select_10_rows", select()), ("insert_ok", insert())] {
        g.bench_function(name, |b| {
            let mut s = MysqlSession::new(Arc::new(MysqlConfig::default()));
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
