//! Micro benchmarks: MySQL transactions per second on one core, through
//! `MysqlSession` (framing, parsing, pairing and JSON encoding of the
//! event). Run: `cargo bench --bench mysql`.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanlens::proto::mysql::{MysqlConfig, MysqlSession};
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

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mysql");
    g.throughput(Throughput::Elements(1));
    for (name, (req, resp)) in [("select_10_rows", select()), ("insert_ok", insert())] {
        g.bench_function(name, |b| {
            let session = MysqlSession::new(Arc::new(MysqlConfig::default()));
            common::exchange(b, session, common::flow(3306), &req, &resp);
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
