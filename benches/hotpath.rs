//! Micro benchmarks of the capture thread's and the encoder's hot parts:
//! L2-L4 decode, flow key and symmetric shard hash, prefix match (include
//! and exclude lists, server groups), batch hand-off between two threads at
//! several batch sizes, and JSON encoding of one transaction.
//!
//! Run: `cargo bench --bench hotpath` (criterion reports time per element
//! and elements/s or bytes/s).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_channel::bounded;
use etherparse::PacketBuilder;
use spanlens::dispatch::decap::Decoder;
use spanlens::dispatch::decode::{decode, linktype};
use spanlens::dispatch::filter::{Filter, GroupMap};
use spanlens::dispatch::{PacketBatch, PacketRec};
use spanlens::event::{EventBatch, FlowContext, FlowJson, Transaction, Transport};
use spanlens::flow::{fixed_state, FlowKey};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// A 200-byte TCP payload in Ethernet/IPv4, as the wire carries it.
fn frame() -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 123_456, 65535)
        .ack(654_321)
        .psh();
    let payload = vec![b'x'; 200];
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, &payload).expect("build frame");
    out
}

/// `inner` in Ethernet/IPv4/UDP 4789/VXLAN (VNI 42).
fn vxlan(inner: &[u8]) -> Vec<u8> {
    let mut p = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    p.extend_from_slice(inner);
    let b = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 7], [7, 5, 4, 3, 2, 1])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(49152, 4789);
    let mut out = Vec::with_capacity(b.size(p.len()));
    b.write(&mut out, &p).expect("build frame");
    out
}

/// The capture thread's per-packet work but the channel: decode, filter,
/// flow key and shard hash, payload copied into a batch (cleared every 256
/// packets), over every frame of a capture.
fn capture_work(
    dec: &mut Decoder,
    frames: &[Vec<u8>],
    filter: &Filter,
    batch: &mut Vec<u8>,
) -> u64 {
    let state = fixed_state();
    let mut sum = 0u64;
    for (i, f) in frames.iter().enumerate() {
        let Ok(d) = dec.decode(linktype::ETHERNET, i as u64, f.len() as u32, f) else {
            continue;
        };
        if !filter.keep(d.src, d.dst) {
            continue;
        }
        let (mut key, _) = FlowKey::new((d.src, d.sport), (d.dst, d.dport), d.proto, d.vlan);
        if let Some(t) = dec.tunnel() {
            key = key.in_tunnel(t.tenant);
        }
        sum = sum.wrapping_add(key.shard_hash(&state) % 8);
        if i % 256 == 0 {
            batch.clear();
        }
        batch.extend_from_slice(dec.payload(f, &d));
    }
    sum
}

/// The nginx/curl sample (real traffic), plain and wrapped in VXLAN: the
/// capture thread's cost per packet for each.
fn capture_per_packet(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/http_sample.pcap");
    let mut cap = pcap::Capture::from_file(path).expect("sample capture");
    let mut plain = Vec::new();
    while let Ok(p) = cap.next_packet() {
        plain.push(p.data.to_vec());
    }
    let wrapped: Vec<Vec<u8>> = plain.iter().map(|f| vxlan(f)).collect();
    let filter = Filter::new(&[], &[]).expect("empty filter");
    let mut g = c.benchmark_group("capture_per_packet");
    g.throughput(Throughput::Elements(plain.len() as u64));
    let mut dec = Decoder::with_defaults();
    let mut batch = Vec::with_capacity(1 << 20);
    for (name, frames) in [
        ("http_sample_plain", &plain),
        ("http_sample_vxlan", &wrapped),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| capture_work(&mut dec, black_box(frames), &filter, &mut batch))
        });
    }
    g.finish();
}

/// Deterministic pseudo-random addresses (xorshift), no extra crate.
fn addrs(n: usize) -> Vec<IpAddr> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            IpAddr::V4(Ipv4Addr::from((x >> 16) as u32))
        })
        .collect()
}

fn capture_thread(c: &mut Criterion) {
    let f = frame();
    let mut g = c.benchmark_group("capture");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_eth_ipv4_tcp", |b| {
        b.iter(|| decode(linktype::ETHERNET, black_box(&f)).expect("decodes"))
    });
    let mut dec = Decoder::with_defaults();
    g.bench_function("decoder_eth_ipv4_tcp", |b| {
        b.iter(|| {
            dec.decode(linktype::ETHERNET, 0, 0, black_box(&f))
                .expect("decodes")
        })
    });
    let vx = vxlan(&f);
    g.bench_function("decoder_vxlan_eth_ipv4_tcp", |b| {
        b.iter(|| {
            dec.decode(linktype::ETHERNET, 0, 0, black_box(&vx))
                .expect("decodes")
        })
    });
    let state = fixed_state();
    let v4: (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    let v6: (IpAddr, IpAddr) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8:ffff::2".parse().unwrap(),
    );
    for (name, (a, b2)) in [("v4", v4), ("v6", v6)] {
        g.bench_function(format!("flow_key_and_shard_hash_{name}"), |b| {
            b.iter(|| {
                let (key, side) =
                    FlowKey::new(black_box((a, 40000)), black_box((b2, 80)), 6, [0, 0]);
                (key.shard_hash(&state), side)
            })
        });
    }

    // 4096 /24 includes and 64 /28 excludes inside them; lookups of random
    // addresses (mostly misses: the whole trie depth is walked).
    let nets = addrs(4096);
    let net = |a: &IpAddr, len: u32| match a {
        IpAddr::V4(v) => format!(
            "{}/{len}",
            Ipv4Addr::from(u32::from(*v) & (!0u32 << (32 - len)))
        ),
        IpAddr::V6(_) => unreachable!("addrs() makes IPv4 only"),
    };
    let include: Vec<String> = nets.iter().map(|a| net(a, 24)).collect();
    let exclude: Vec<String> = nets.iter().take(64).map(|a| net(a, 28)).collect();
    let filter = Filter::new(&include, &exclude).expect("valid prefixes");
    let mut groups = GroupMap::default();
    for (i, n) in include.iter().enumerate() {
        groups
            .insert(if i % 2 == 0 { "web" } else { "db" }, n)
            .expect("valid group prefix");
    }
    let probe = addrs(1 << 12);
    let mut i = 0usize;
    g.bench_function("prefix_filter_keep_4096_prefixes", |b| {
        b.iter(|| {
            i = (i + 2) & (probe.len() - 2);
            filter.keep(black_box(probe[i]), black_box(probe[i + 1]))
        })
    });
    g.bench_function("server_group_lookup_4096_prefixes", |b| {
        b.iter(|| {
            i = (i + 1) & (probe.len() - 1);
            groups.lookup(black_box(probe[i]))
        })
    });
    g.finish();
}

/// Packets handed from one thread to another in batches of `size`, with
/// the batches recycled as the pipeline does: time per packet.
fn handoff(size: usize, packets: u64, rec: PacketRec) -> Duration {
    let (tx, rx) = bounded::<PacketBatch>(16);
    let (back_tx, back_rx) = bounded::<PacketBatch>(32);
    let consumer = std::thread::spawn(move || {
        let mut sum = 0u64;
        while let Ok(mut b) = rx.recv() {
            for r in &b.pkts {
                sum = sum.wrapping_add(r.ts);
            }
            b.pkts.clear();
            b.data.clear();
            let _ = back_tx.try_send(b);
        }
        sum
    });
    let t = Instant::now();
    let mut left = packets;
    while left > 0 {
        let mut b = back_rx.try_recv().unwrap_or_default();
        let n = (size as u64).min(left);
        for k in 0..n {
            let mut r = rec;
            r.ts = k;
            b.pkts.push(r);
        }
        left -= n;
        tx.send(b).expect("consumer alive");
    }
    drop(tx);
    black_box(consumer.join().expect("consumer"));
    t.elapsed()
}

fn batch_handoff(c: &mut Criterion) {
    let f = frame();
    let dec = decode(linktype::ETHERNET, &f).expect("decodes");
    let (key, side) = FlowKey::new((dec.src, dec.sport), (dec.dst, dec.dport), 6, [0, 0]);
    let rec = PacketRec {
        ts: 0,
        wire_len: f.len() as u32,
        key,
        hash: key.shard_hash(&spanlens::flow::fixed_state()),
        side,
        dec,
        data_off: 0,
        frame: 1,
        tunnel: 0,
        mac: None,
    };
    let mut g = c.benchmark_group("handoff");
    g.throughput(Throughput::Elements(1));
    for size in [1usize, 16, 64, 256, 1024] {
        g.bench_with_input(
            BenchmarkId::new("packets_per_batch", size),
            &size,
            |b, &s| b.iter_custom(|iters| handoff(s, iters, rec)),
        );
    }
    g.finish();
}

fn json(c: &mut Criterion) {
    let mut flow = FlowContext::new(
        0x7b12_1e83_9821_bc6d,
        ("10.99.0.2".parse().unwrap(), 53792),
        ("10.99.0.1".parse().unwrap(), 80),
        Transport::Tcp,
        "1:c7NRmOdS7L6LgLw2bFmTOCbMqho=".into(),
    );
    flow.handshake_rtt_us = Some(18);
    let tx = Transaction {
        kind: "http",
        request_start: Some(1_764_089_728_607_618_000),
        request_end: Some(1_764_089_728_607_618_000),
        response_start: Some(1_764_089_728_608_091_000),
        response_end: Some(1_764_089_728_608_091_000),
        request_bytes: 44,
        response_bytes: 359,
        ..Transaction::default()
    };
    // The HTTP namespace of the README's sample event.
    let body = |w: &mut spanlens::event::JsonWriter<'_>| {
        w.begin_obj("http");
        w.str("version", "1.1");
        w.begin_obj("request");
        w.bytes_lossy("method", b"GET");
        w.u64("bytes", 44);
        w.begin_obj("body");
        w.u64("bytes", 0);
        w.end();
        w.end();
        w.begin_obj("response");
        w.u64("status_code", 200);
        w.bytes_lossy("status_phrase", b"ok");
        w.u64("bytes", 359);
        w.begin_obj("body");
        w.u64("bytes", 128);
        w.end();
        w.bytes_lossy("mime_type", b"text/plain");
        w.end();
        w.end();
        w.begin_obj("url");
        w.bytes_lossy("scheme", b"http");
        w.bytes_lossy("domain", b"10.99.0.1");
        w.bytes_lossy("path", b"/small.txt");
        w.bytes_lossy("full", b"http://10.99.0.1/small.txt");
        w.end();
        w.bytes_lossy("method", b"GET");
        w.bytes_lossy("query", b"GET /small.txt");
        w.bytes_lossy("path", b"/small.txt");
    };
    let mut batch = EventBatch::with_capacity(1 << 20);
    let encode = |flow: &FlowContext, batch: &mut EventBatch| {
        if batch.buf.len() > (1 << 20) - 4096 {
            batch.clear();
        }
        batch.push(tx.start(), flow.flow_id, 0, |w| tx.encode(flow, w, body));
    };
    encode(&flow, &mut batch);
    let size = batch.buf.len() as u64;
    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Bytes(size));
    g.bench_function("http_event_field_by_field", |b| {
        b.iter(|| encode(black_box(&flow), &mut batch))
    });
    FlowJson::prepare(&mut flow, "http");
    g.bench_function("http_event_prerendered_flow", |b| {
        b.iter(|| encode(black_box(&flow), &mut batch))
    });
    g.finish();
}

criterion_group!(
    benches,
    capture_thread,
    capture_per_packet,
    batch_handoff,
    json
);
criterion_main!(benches);
