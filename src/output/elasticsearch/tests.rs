//! Tests of the queue, spill and counting logic that need no cluster.
//! Tests against a real node are in `tests/es_integration.rs`.

use super::*;
use crate::event::EventMeta;

fn chunk(n: u32) -> BulkChunk {
    let mut c = BulkChunk::default();
    for i in 0..n {
        let m = EventMeta {
            start: 0,
            len: 0,
            ts: 0,
            flow_id: 1,
            index: i,
        };
        c.push_event("t", &m, b"{\"a\":1}");
    }
    c
}

fn state(max: usize, spool: Option<Spool>) -> State {
    State {
        queue: VecDeque::new(),
        queue_bytes: 0,
        queue_max_bytes: max,
        spool,
        in_flight: 0,
        down: false,
        closing: false,
        stop: false,
        exited: false,
        senders: 1,
        ready: true,
        stats: Stats::default(),
        front_busy: false,
        in_flight_mem_docs: 0,
        notes: Default::default(),
        spool_error_logged: false,
        bound_logged: false,
    }
}

#[test]
fn full_queue_without_spool_drops_and_counts() {
    let c = chunk(3);
    let mut st = state(c.bytes() * 2, None);
    st.enqueue(chunk(3));
    st.enqueue(chunk(3));
    st.enqueue(chunk(3));
    assert_eq!(st.queue.len(), 2);
    assert_eq!(st.stats.dropped, 3);
    let mut counters = Counters::new();
    st.publish(&mut counters);
    assert_eq!(counters.get("output.es.dropped"), 3);
    assert_eq!(counters.get("output.es.queue_docs"), 6);
    assert_eq!(
        counters.get("output.es.queue_bytes"),
        (c.bytes() * 2) as u64
    );
    // Deltas are drained once.
    st.publish(&mut counters);
    assert_eq!(counters.get("output.es.dropped"), 3);
}

#[test]
fn full_queue_spills_oldest_to_spool_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let c = chunk(2);
    let mut st = state(
        c.bytes() * 2,
        Some(Spool::open(dir.path(), 1 << 20).unwrap()),
    );
    for n in 1..=4 {
        st.enqueue(chunk(n));
    }
    // Sizes 1,2,3,4 docs: the oldest were spilled to keep memory under the bound.
    let spooled = st.spool.as_ref().unwrap().docs();
    let queued: u64 = st.queue.iter().map(|q| q.len() as u64).sum();
    assert_eq!(spooled + queued, 10);
    assert!(st.queue_bytes <= c.bytes() * 2);
    assert_eq!(st.stats.dropped, 0);
    assert_eq!(st.stats.spooled_docs, spooled);
    // The spool holds the oldest: the 1-doc chunk first.
    let head = st.spool.as_ref().unwrap().peek().unwrap().unwrap();
    assert_eq!(head.len(), 1);
    // Everything in memory is newer than everything spooled.
    assert_eq!(st.queue.back().unwrap().len(), 4);
}

#[test]
fn down_cluster_sends_new_chunks_to_spool() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(1 << 20, Some(Spool::open(dir.path(), 1 << 20).unwrap()));
    st.enqueue(chunk(1));
    st.down = true;
    st.enqueue(chunk(2));
    assert!(st.queue.is_empty());
    let sp = st.spool.as_mut().unwrap();
    assert_eq!(sp.docs(), 3);
    assert_eq!(sp.peek().unwrap().unwrap().len(), 1);
    assert!(!st.drained());
}

#[test]
fn spool_bound_drops_the_oldest_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = chunk(2);
    let mut st = state(
        1 << 20,
        Some(Spool::open(dir.path(), c.bytes() as u64).unwrap()),
    );
    st.down = true;
    st.enqueue(chunk(2));
    st.enqueue(chunk(2));
    st.enqueue(chunk(1));
    // Only the newest fits: 4 older documents made room and are counted.
    assert_eq!(st.spool.as_ref().unwrap().docs(), 1);
    assert_eq!(st.stats.dropped, 4);
    assert_eq!(st.stats.dropped_bound, 4);
    assert_eq!(st.stats.lost, 4);
    // The entry the sender holds is never evicted under it.
    st.front_busy = true;
    st.enqueue(chunk(2));
    assert_eq!(st.spool.as_ref().unwrap().docs(), 1);
    assert_eq!(st.stats.dropped, 6);
}

#[test]
fn stats_fold_into_named_counters() {
    let mut s = Stats {
        docs_indexed: 5,
        ..Default::default()
    };
    s.fail(FailReason::Mapping, 2);
    s.fail(FailReason::Rejected, 1);
    let mut c = Counters::new();
    s.drain_into(&mut c);
    assert_eq!(c.get("output.es.docs_indexed"), 5);
    assert_eq!(c.get("output.es.docs_failed_mapping"), 2);
    assert_eq!(c.get("output.es.docs_failed_rejected"), 1);
    assert_eq!(s, Stats::default());
}

#[test]
fn unreachable_cluster_is_one_line_error_with_url() {
    // Port 1 on loopback: nothing listens there.
    let cfg = ElasticsearchConfig {
        hosts: vec!["http://127.0.0.1:1".into()],
        connect_timeout: crate::time::HumanDuration::millis(500),
        spool_dir: Some("".into()),
        dead_letter: Some("".into()),
        ..Default::default()
    };
    let e = ElasticsearchOutput::new(cfg, false)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("http://127.0.0.1:1/"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn live_mode_queues_and_spools_while_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ElasticsearchConfig {
        hosts: vec!["http://127.0.0.1:1".into()],
        connect_timeout: crate::time::HumanDuration::millis(200),
        backoff_init: crate::time::HumanDuration::millis(50),
        backoff_max: crate::time::HumanDuration::millis(100),
        close_timeout: crate::time::HumanDuration::millis(300),
        spool_dir: Some(dir.path().join("spool")),
        dead_letter: Some("".into()),
        bulk_max_docs: 2,
        ..Default::default()
    };
    let mut out = ElasticsearchOutput::new(cfg, true).unwrap();
    let mut b = EventBatch::default();
    for i in 0..5 {
        b.push(1_700_000_000_000_000_000, 9, i, |w| w.u64("n", i.into()));
    }
    let mut counters = Counters::new();
    out.write(&b, &mut counters).unwrap();
    // Spooled is not lost: close succeeds and says where they wait.
    out.close(&mut counters).unwrap();
    let w = out.warnings(&counters).join("\n");
    assert!(w.contains("5 documents wait in the spool"), "{w}");
    assert!(w.contains("spanlens spool drain"), "{w}");
    assert_eq!(counters.get("output.es.docs_accepted"), 5);
    assert_eq!(counters.get("output.es.spool_docs"), 5);
    assert_eq!(counters.get("output.es.dropped"), 0);
    assert_eq!(counters.get("output.es.lost"), 0);
    drop(out);
    // The next run finds them, in order.
    let sp = Spool::open(&dir.path().join("spool"), 1 << 20).unwrap();
    assert_eq!(sp.docs(), 5);
    let first = sp.peek().unwrap().unwrap();
    assert_eq!(first.source(0), b.json(0));
}

#[test]
fn unreadable_ca_file_is_named() {
    let cfg = ElasticsearchConfig {
        hosts: vec!["https://127.0.0.1:1".into()],
        ca_file: Some("/nonexistent/ca.pem".into()),
        spool_dir: Some("".into()),
        dead_letter: Some("".into()),
        ..Default::default()
    };
    let e = ElasticsearchOutput::new(cfg, true)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("empty.pem");
    std::fs::write(&pem, b"not a certificate\n").unwrap();
    let cfg = ElasticsearchConfig {
        hosts: vec!["https://127.0.0.1:1".into()],
        ca_file: Some(pem),
        spool_dir: Some("".into()),
        dead_letter: Some("".into()),
        ..Default::default()
    };
    let e = ElasticsearchOutput::new(cfg, true)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no PEM certificate"), "{e}");
}
