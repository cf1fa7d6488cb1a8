//! Micro benchmark of the HTTP session: a keep-alive connection carrying
//! pipelined browser-like GETs and their responses, cut into 1448-byte TCP
//! segments, decoded and encoded to JSON events. Reports transactions/s on
//! one core (`cargo bench --bench http`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanlens::event::{EventBatch, FlowContext, Transport};
use spanlens::proto::http::{HttpConfig, HttpSession};
use spanlens::proto::{Dir, Session, TxSink};
use spanlens::stats::Counters;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// CPU time of this thread, so the number means "per core" even on a
/// loaded machine.
fn thread_cpu_ns() -> Option<u64> {
    Some(
        cpu_time::ThreadTime::try_now()
            .ok()?
            .as_duration()
            .as_nanos() as u64,
    )
}

const PIPELINE: usize = 16;
const SEGMENT: usize = 1448;

fn exchange() -> (Vec<u8>, Vec<u8>) {
    let mut reqs = Vec::new();
    let mut resps = Vec::new();
    for i in 0..PIPELINE {
        reqs.extend_from_slice(
            format!(
                "GET /static/img/item-{i}.png HTTP/1.1\r\n\
                 Host: shop.example.com\r\n\
                 User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n\
                 Accept: image/avif,image/webp,*/*\r\n\
                 Accept-Language: en-US,en;q=0.5\r\n\
                 Accept-Encoding: gzip, deflate, br\r\n\
                 Referer: http://shop.example.com/catalog\r\n\
                 Connection: keep-alive\r\n\r\n"
            )
            .as_bytes(),
        );
        let body = vec![b'x'; 300 + 40 * i];
        resps.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\n\
                 Server: nginx/1.24.0\r\n\
                 Date: Wed, 25 Nov 2026 12:00:00 GMT\r\n\
                 Content-Type: image/png\r\n\
                 Content-Length: {}\r\n\
                 Last-Modified: Tue, 24 Nov 2026 10:00:00 GMT\r\n\
                 Connection: keep-alive\r\n\
                 ETag: \"65f1-{i}\"\r\n\
                 Accept-Ranges: bytes\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        resps.extend_from_slice(&body);
    }
    (reqs, resps)
}

fn bench(c: &mut Criterion) {
    let (reqs, resps) = exchange();
    let mut flow = FlowContext::new(
        0x1234,
        ("10.1.1.1".parse().unwrap(), 51000),
        ("10.2.2.2".parse().unwrap(), 80),
        Transport::Tcp,
        "1:abcdefghijklmnopqrstuvwxyz0=".into(),
    );
    flow.handshake_rtt_us = Some(120);
    let mut batch = EventBatch::with_capacity(1 << 20);
    let mut counters = Counters::new();
    let mut session = HttpSession::new(Arc::new(HttpConfig::default()));
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    let mut run = move || {
        batch.clear();
        let mut sink = TxSink {
            flow: &mut flow,
            events: &mut batch,
            counters: &mut counters,
        };
        for seg in reqs.chunks(SEGMENT) {
            ts += 1_000;
            session.data(Dir::ToServer, black_box(seg), ts, &mut sink);
        }
        for seg in resps.chunks(SEGMENT) {
            ts += 1_000;
            session.data(Dir::ToClient, black_box(seg), ts, &mut sink);
        }
        assert_eq!(batch.len(), PIPELINE);
    };
    g.bench_function("pipelined_keepalive_tx_wall", |b| b.iter(&mut run));
    if thread_cpu_ns().is_some() {
        g.bench_function("pipelined_keepalive_tx_cpu", |b| {
            b.iter_custom(|iters| {
                let t0 = thread_cpu_ns().unwrap_or(0);
                for _ in 0..iters {
                    run();
                }
                Duration::from_nanos(thread_cpu_ns().unwrap_or(0).saturating_sub(t0))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
