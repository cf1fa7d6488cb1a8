//! The MongoDB decoder's BSON choice, measured: what one transaction
//! reads from its two documents (the request's command name, `$db` and
//! collection; the reply's `ok`, cursor id and batch length), through the
//! decoder's bounded in-place walker and through the `bson` crate's
//! zero-copy `RawDocument`; and the optional response text, rendered by
//! the walker's renderer and by `bson`'s `Document` + relaxed Extended
//! JSON.
//!
//! Run: `cargo bench --bench mongodb_bson`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use spanlens::proto::mongodb::bson::{self as walker, Bounded};
use spanlens::proto::mongodb::Mongodb;
use spanlens::proto::Protocol;

/// The body documents of the sample's request and reply (after the
/// header, the flag bits and the section kind).
fn docs() -> (&'static [u8], &'static [u8]) {
    let s = Mongodb::SAMPLE;
    (&s[0].1[21..], &s[1].1[21..])
}

fn with_walker(req: &[u8], rep: &[u8]) -> (usize, i64, u64) {
    let (q, _) = walker::doc(req).unwrap();
    let first = q.first().unwrap();
    let db = q.get("$db").and_then(|e| e.str()).unwrap();
    let coll = first.str().unwrap();
    let (r, _) = walker::doc(rep).unwrap();
    let mut ok = 0.0;
    let mut id = 0;
    let mut n = 0;
    for e in r.iter() {
        match e.key {
            b"ok" => ok = e.float().unwrap(),
            b"cursor" => {
                let c = e.doc().unwrap();
                id = c.get("id").and_then(|x| x.int()).unwrap();
                n = c.get("firstBatch").and_then(|x| x.doc()).unwrap().count();
            }
            _ => {}
        }
    }
    (first.key.len() + db.len() + coll.len() + ok as usize, id, n)
}

fn with_bson(req: &[u8], rep: &[u8]) -> (usize, i64, u64) {
    let q = bson::RawDocument::from_bytes(req).unwrap();
    let (name, value) = q.iter().next().unwrap().unwrap();
    let coll = value.as_str().unwrap();
    let db = q.get_str("$db").unwrap();
    let r = bson::RawDocument::from_bytes(rep).unwrap();
    let ok = r.get_f64("ok").unwrap();
    let c = r.get_document("cursor").unwrap();
    let id = c.get_i64("id").unwrap();
    let n = c.get_array("firstBatch").unwrap().into_iter().count() as u64;
    (name.len() + db.len() + coll.len() + ok as usize, id, n)
}

fn render_walker(rep: &[u8], out: &mut String) {
    out.clear();
    let (d, _) = walker::doc(rep).unwrap();
    walker::render(d, &mut Bounded::new(out, 5000), &|_| false);
}

fn render_bson(rep: &[u8], out: &mut String) {
    out.clear();
    let d = bson::Document::try_from(bson::RawDocument::from_bytes(rep).unwrap()).unwrap();
    out.push_str(&bson::Bson::Document(d).into_relaxed_extjson().to_string());
}

fn bench(c: &mut Criterion) {
    let (req, rep) = docs();
    assert_eq!(with_walker(req, rep), with_bson(req, rep));
    let mut g = c.benchmark_group("mongodb_bson");
    g.bench_function("fields/walker", |b| {
        b.iter(|| with_walker(black_box(req), black_box(rep)))
    });
    g.bench_function("fields/bson_raw", |b| {
        b.iter(|| with_bson(black_box(req), black_box(rep)))
    });
    let mut s = String::new();
    g.bench_function("render/walker", |b| {
        b.iter(|| render_walker(black_box(rep), &mut s))
    });
    g.bench_function("render/bson_extjson", |b| {
        b.iter(|| render_bson(black_box(rep), &mut s))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
