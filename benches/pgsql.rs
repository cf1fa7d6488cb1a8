//! Micro benchmarks: PostgreSQL transactions per second on one core,
//! through `PgsqlSession` (framing, parsing, pairing, the statement cache
//! and JSON encoding of the event). The same shapes as `benches/mysql.rs`
//! (a 10-row SELECT, an INSERT) plus a named prepared statement executed
//! through the extended protocol. Run: `cargo bench --bench pgsql`.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanlens::event::EventBatch;
use spanlens::proto::pgsql::{PgsqlConfig, PgsqlSession};
use spanlens::proto::{Dir, Session, TxSink};
use spanlens::stats::Counters;
use std::sync::Arc;

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn cs(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// RowDescription (id, name, qty), 10 DataRows, CommandComplete,
/// ReadyForQuery: about 600 bytes, like the MySQL benchmark's result.
fn rows() -> Vec<u8> {
    let mut t = 3u16.to_be_bytes().to_vec();
    for (name, oid) in [("id", 23u32), ("name", 25), ("qty", 23)] {
        t.extend(cs(name));
        t.extend(16_400u32.to_be_bytes()); // table oid
        t.extend(1u16.to_be_bytes()); // column number
        t.extend(oid.to_be_bytes()); // type oid
        t.extend((-1i16).to_be_bytes()); // size
        t.extend((-1i32).to_be_bytes()); // modifier
        t.extend(0u16.to_be_bytes()); // text format
    }
    let mut resp = msg(b'T', &t);
    for i in 0..10 {
        let mut d = 3u16.to_be_bytes().to_vec();
        for v in [format!("{i}"), "a-reasonably-long-name".into(), "42".into()] {
            d.extend((v.len() as u32).to_be_bytes());
            d.extend(v.as_bytes());
        }
        resp.extend(msg(b'D', &d));
    }
    resp.extend(msg(b'C', &cs("SELECT 10")));
    resp
}

/// Simple Query SELECT with 3 columns and 10 rows.
fn select() -> (Vec<u8>, Vec<u8>) {
    let req = msg(b'Q', &cs("SELECT id, name, qty FROM items WHERE qty > 3"));
    let mut resp = rows();
    resp.extend(msg(b'Z', b"I"));
    (req, resp)
}

/// Simple Query INSERT answered by CommandComplete.
fn insert() -> (Vec<u8>, Vec<u8>) {
    let req = msg(
        b'Q',
        &cs("INSERT INTO items (name, qty) VALUES ('apple', 3)"),
    );
    let mut resp = msg(b'C', &cs("INSERT 0 1"));
    resp.extend(msg(b'Z', b"I"));
    (req, resp)
}

/// Bind/Describe/Execute/Sync of statement "s1" (prepared once, before
/// the loop), answered by BindComplete, the 10 rows and ReadyForQuery.
fn prepared() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut p = cs("s1");
    p.extend(cs("SELECT id, name, qty FROM items WHERE qty > $1"));
    p.extend(1u16.to_be_bytes());
    p.extend(23u32.to_be_bytes());
    let mut prep = msg(b'P', &p);
    prep.extend(msg(b'S', &[]));
    let mut prep_resp = msg(b'1', &[]);
    prep_resp.extend(msg(b'Z', b"I"));
    let mut b = cs("");
    b.extend(cs("s1"));
    b.extend(0u16.to_be_bytes()); // parameter formats
    b.extend(1u16.to_be_bytes()); // one parameter
    b.extend(1u32.to_be_bytes());
    b.push(b'3');
    b.extend(0u16.to_be_bytes()); // result formats
    let mut req = msg(b'B', &b);
    req.extend(msg(b'D', b"P\0"));
    let mut e = cs("");
    e.extend(0u32.to_be_bytes());
    req.extend(msg(b'E', &e));
    req.extend(msg(b'S', &[]));
    let mut resp = msg(b'2', &[]);
    resp.extend(rows());
    resp.extend(msg(b'Z', b"I"));
    (prep, prep_resp, req, resp)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pgsql");
    g.throughput(Throughput::Elements(1));
    for (name, (req, resp)) in [("select_10_rows", select()), ("insert_ok", insert())] {
        g.bench_function(name, |b| {
            let session = PgsqlSession::new(Arc::new(PgsqlConfig::default()));
            common::exchange(b, session, common::flow(5432), &req, &resp);
        });
    }
    let (prep, prep_resp, req, resp) = prepared();
    g.bench_function("prepared_select_10_rows", |b| {
        let mut session = PgsqlSession::new(Arc::new(PgsqlConfig::default()));
        let mut flow = common::flow(5432);
        let mut ev = EventBatch::default();
        let mut counters = Counters::new();
        let mut out = TxSink {
            flow: &mut flow,
            events: &mut ev,
            counters: &mut counters,
        };
        session.data(Dir::ToServer, &prep, 1, &mut out);
        session.data(Dir::ToClient, &prep_resp, 2, &mut out);
        common::exchange(b, session, common::flow(5432), &req, &resp);
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
