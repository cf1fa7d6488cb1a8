//! Exporter benchmark: documents per second from `Output::write` into a
//! real Elasticsearch node, delivery included (the clock stops when
//! `close` returns with everything indexed).
//!
//! `SPANLENS_ES_URL=$(tests/elasticsearch.sh start) cargo bench --bench exporter`
//! Environment: `BENCH_DOCS` (default 200000), `BENCH_GZIP` (`1` or `0`,
//! default both), `BENCH_BULK_DOCS` (default 2000). Events are shaped like
//! spanlens flow events (about 700 bytes) with distinct ids.
//!
//! Measured 2026-11-25 on the 2-core shared machine (load ~6), one
//! Elasticsearch 8.19.21 node with a 512 MiB heap, 100000 docs: 3328 docs/s
//! without gzip, 5105 docs/s with gzip level 1; the node is the bottleneck
//! (`write()` encodes at ~200k docs/s when it does not wait for room).

use spanlens::config::HumanDuration;
use spanlens::event::EventBatch;
use spanlens::output::elasticsearch::{ElasticsearchConfig, ElasticsearchOutput};
use spanlens::output::Output;
use spanlens::stats::Counters;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn batches(docs: u64, run: u64) -> Vec<EventBatch> {
    let base: u64 = 1_700_000_000_000_000_000;
    let mut out = Vec::new();
    let mut b = EventBatch::with_capacity(256 * 700);
    for i in 0..docs {
        let ts = base + i * 1_000_000;
        let flow = (run << 40) | i;
        b.push(ts, flow, 0, |w| {
            w.time("@timestamp", ts);
            w.str("type", "flow");
            w.begin_obj("event");
            w.str("kind", "event");
            w.str("category", "network");
            w.str("dataset", "flow");
            w.str("action", "network_flow_end");
            w.time("start", ts - 2_000_000);
            w.time("end", ts);
            w.u64("duration", 2_000_000);
            w.end();
            w.begin_obj("flow");
            w.str("id", &format!("{flow:016x}"));
            w.bool("final", true);
            w.end();
            let c = IpAddr::V4(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8));
            let s = IpAddr::V4(Ipv4Addr::new(192, 168, 1, (i % 50) as u8));
            for (name, ip, port) in [("source", c, 40000 + i % 20000), ("destination", s, 80)] {
                w.begin_obj(name);
                w.ip("ip", ip);
                w.u64("port", port);
                w.u64("packets", 10 + i % 7);
                w.u64("bytes", 1000 + i % 5000);
                w.end();
            }
            w.begin_obj("client");
            w.ip("ip", c);
            w.u64("port", 40000 + i % 20000);
            w.end();
            w.begin_obj("server");
            w.ip("ip", s);
            w.u64("port", 80);
            w.end();
            w.begin_obj("network");
            w.str("transport", "tcp");
            w.str("type", "ipv4");
            w.str("community_id", "1:BFDmIrlWCkVG6X9fdbIvDZQaZCw=");
            w.str("protocol", "http");
            w.u64("bytes", 6000);
            w.u64("packets", 17);
            w.end();
            w.begin_obj("tcp");
            w.u64("handshake_rtt_us", 120 + i % 300);
            w.u64("server_rtt_us", 9);
            w.u64("client_rtt_us", 111);
            w.end();
        });
        if b.len() == 256 {
            out.push(std::mem::take(&mut b));
        }
    }
    if !b.is_empty() {
        out.push(b);
    }
    out
}

fn main() {
    // Only under `cargo bench` (which passes `--bench`), never as part of
    // `cargo test --all-targets`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("exporter bench: run with cargo bench --bench exporter");
        return;
    }
    let Ok(es) = std::env::var("SPANLENS_ES_URL") else {
        eprintln!("skipped: set SPANLENS_ES_URL (tests/elasticsearch.sh start)");
        return;
    };
    let docs = env_u64("BENCH_DOCS", 200_000);
    let bulk = env_u64("BENCH_BULK_DOCS", 2000) as usize;
    let modes: Vec<bool> = match std::env::var("BENCH_GZIP").as_deref() {
        Ok("1") => vec![true],
        Ok("0") => vec![false],
        _ => vec![false, true],
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for (run, gzip) in modes.into_iter().enumerate() {
        let _ = agent.delete(format!("{es}/benchexp*")).call();
        let input = batches(docs, run as u64 + 1);
        let bytes: usize = input.iter().map(|b| b.buf.len()).sum();
        let cfg = ElasticsearchConfig {
            hosts: vec![es.clone()],
            index: "benchexp-%{+yyyy.MM.dd}".into(),
            template_name: "benchexp".into(),
            replicas: 0,
            compression: gzip,
            bulk_max_docs: bulk,
            close_timeout: HumanDuration::secs(600),
            ..Default::default()
        };
        let mut out = ElasticsearchOutput::new(cfg, false).expect("cluster");
        let mut c = Counters::new();
        let start = Instant::now();
        let mut write_time = Duration::ZERO;
        for b in &input {
            let t = Instant::now();
            out.write(b, &mut c).expect("write");
            write_time += t.elapsed();
        }
        out.close(&mut c).expect("close");
        let secs = start.elapsed().as_secs_f64();
        let indexed = c.get("output.es.docs_indexed");
        let requests = c.get("output.es.bulk_requests").max(1);
        println!(
            "exporter gzip={gzip} bulk_max_docs={bulk}: {indexed} docs ({:.0} MB JSON) in {secs:.2}s = {:.0} docs/s; write() total {:.2}s; {} bulk requests, mean latency {:.1} ms, retried {}",
            bytes as f64 / 1e6,
            indexed as f64 / secs,
            write_time.as_secs_f64(),
            requests,
            c.get("output.es.bulk_latency_us_total") as f64 / requests as f64 / 1000.0,
            c.get("output.es.docs_retried"),
        );
        assert_eq!(indexed, docs, "{c:?}");
        let _ = agent.delete(format!("{es}/benchexp*")).call();
    }
    let _ = agent
        .delete(format!("{es}/_index_template/benchexp"))
        .call();
}
