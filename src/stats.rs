//! Counters and the end-of-run summary.
//!
//! Each thread owns a [`Counters`] value and bumps it without any
//! synchronisation; it publishes a copy into its own [`Published`] slot at
//! ticks and at exit, so readers (the summary, `--stats-json`) never touch a
//! counter another thread is writing. Counter names are dotted
//! (`capture.packets`, `tcp.gap_bytes`, ...) and documented in the README.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Slots of [`Counters`]' cache of recently added names.
const RECENT: usize = 32;

/// A set of named counters, owned by one thread.
///
/// Counters are bumped on every packet and transaction, so `add` avoids
/// the name comparisons of a map lookup: names are string literals, one
/// call site always passes the same address, and a small cache keyed by
/// the name's address and length gives the counter's index at once. A
/// name at another address with the same text (or a cache miss) takes the
/// map, which keeps one counter per name, in name order.
#[derive(Default, Clone)]
pub struct Counters {
    /// Names, in name order, to their index in `values`.
    index: BTreeMap<&'static str, u32>,
    values: Vec<u64>,
    /// Recently added names: (address, length, index).
    recent: [(usize, usize, u32); RECENT],
}

impl PartialEq for Counters {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Counters {}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The cache slot of a name (by its address and length).
#[inline]
fn recent_slot(name: &str) -> usize {
    let a = name.as_ptr() as usize as u64 ^ name.len() as u64;
    (a.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - RECENT.trailing_zeros())) as usize
}

impl Counters {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of counter `name` in `values` (created at zero).
    #[inline]
    fn slot(&mut self, name: &'static str) -> usize {
        let r = recent_slot(name);
        match self.recent.get(r) {
            Some(&(a, l, i)) if a == name.as_ptr() as usize && l == name.len() => i as usize,
            _ => self.slot_slow(name, r),
        }
    }

    #[cold]
    #[inline(never)]
    fn slot_slow(&mut self, name: &'static str, r: usize) -> usize {
        let next = self.values.len() as u32;
        let i = *self.index.entry(name).or_insert(next);
        if i == next {
            self.values.push(0);
        }
        if let Some(e) = self.recent.get_mut(r) {
            *e = (name.as_ptr() as usize, name.len(), i);
        }
        i as usize
    }

    /// Adds `n` to counter `name` (creating it at zero). Not inlined: it
    /// is called from many places, and a copy in each made the hot
    /// functions around it bigger and slower.
    #[inline(never)]
    pub fn add(&mut self, name: &'static str, n: u64) {
        let i = self.slot(name);
        if let Some(v) = self.values.get_mut(i) {
            *v += n;
        }
    }

    /// Sets a gauge-like counter (queue depth, flows in table).
    pub fn set(&mut self, name: &'static str, v: u64) {
        let i = self.slot(name);
        if let Some(x) = self.values.get_mut(i) {
            *x = v;
        }
    }

    /// Current value (0 when never touched).
    pub fn get(&self, name: &str) -> u64 {
        self.index
            .get(name)
            .and_then(|&i| self.values.get(i as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Adds every counter of `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in other.iter() {
            self.add(k, v);
        }
    }

    /// Iterates in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.index
            .iter()
            .map(|(k, &i)| (*k, self.values.get(i as usize).copied().unwrap_or(0)))
    }

    /// Nested JSON object: `capture.packets` becomes `{"capture":{"packets":N}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut root = serde_json::Map::new();
        for (name, v) in self.iter() {
            let mut node = &mut root;
            let mut parts = name.split('.').peekable();
            while let Some(p) = parts.next() {
                if parts.peek().is_none() {
                    node.insert(p.to_string(), serde_json::Value::from(v));
                } else {
                    let e = node
                        .entry(p.to_string())
                        .or_insert_with(|| serde_json::Value::Object(Default::default()));
                    if !e.is_object() {
                        *e = serde_json::Value::Object(Default::default());
                    }
                    node = e.as_object_mut().expect("object just ensured");
                }
            }
        }
        serde_json::Value::Object(root)
    }
}

/// A thread's published snapshot, read by the reporter.
#[derive(Debug, Default, Clone)]
pub struct Published(Arc<Mutex<Counters>>);

impl Published {
    /// Replaces the snapshot.
    pub fn publish(&self, c: &Counters) {
        if let Ok(mut g) = self.0.lock() {
            g.clone_from(c);
        }
    }

    /// A copy of the latest snapshot.
    pub fn snapshot(&self) -> Counters {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// The published slots of every thread of a run.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    slots: Arc<Mutex<Vec<Published>>>,
}

impl Registry {
    /// Creates a new slot for one thread.
    pub fn slot(&self) -> Published {
        let p = Published::default();
        if let Ok(mut s) = self.slots.lock() {
            s.push(p.clone());
        }
        p
    }

    /// Sum of every thread's latest snapshot.
    pub fn total(&self) -> Counters {
        let mut total = Counters::new();
        if let Ok(s) = self.slots.lock() {
            for p in s.iter() {
                total.merge(&p.snapshot());
            }
        }
        total
    }
}

/// Names `<prefix>0` .. `<prefix>7` for per-worker gauges (counter names
/// are `&'static str`, so they are spelled out at compile time).
macro_rules! per_worker_names {
    ($prefix:literal) => {
        [
            concat!($prefix, "0"),
            concat!($prefix, "1"),
            concat!($prefix, "2"),
            concat!($prefix, "3"),
            concat!($prefix, "4"),
            concat!($prefix, "5"),
            concat!($prefix, "6"),
            concat!($prefix, "7"),
        ]
    };
}

/// `flows.active_worker<N>`: flows in worker N's table.
pub const FLOWS_ACTIVE_WORKER: [&str; 8] = per_worker_names!("flows.active_worker");
/// `pipeline.queue_depth_worker<N>`: batches waiting in worker N's queue.
pub const QUEUE_DEPTH_WORKER: [&str; 8] = per_worker_names!("pipeline.queue_depth_worker");

/// Events that were neither delivered, nor spooled, nor dead-lettered:
/// NDJSON write failures, events lost with the exporter, and the
/// Elasticsearch output's `output.es.lost`. A run with any exits non-zero.
pub fn lost_events(c: &Counters) -> u64 {
    c.get("output.events_failed")
        + c.get("output.events_lost_exporter_gone")
        + c.get("output.es.lost")
}

/// The end-of-run summary (logged line by line at the end of a run).
pub fn summary_text(c: &Counters, elapsed: std::time::Duration) -> String {
    use std::fmt::Write;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let pkts = c.get("capture.packets");
    let bytes = c.get("capture.bytes");
    let mut s = String::new();
    let _ = writeln!(
        s,
        "spanlens: {pkts} packets, {bytes} bytes in {:.3}s ({:.0} packets/s, {:.1} Mbit/s)",
        secs,
        pkts as f64 / secs,
        bytes as f64 * 8.0 / secs / 1e6
    );
    let decode: Vec<String> = c
        .iter()
        .filter(|(k, v)| k.starts_with("decode.") && *v > 0)
        .map(|(k, v)| format!("{} {v}", &k[7..]))
        .collect();
    let _ = writeln!(
        s,
        "  filtered out {}, not decodable {} [{}]",
        c.get("capture.filtered_out"),
        c.iter()
            .filter(|(k, _)| k.starts_with("decode."))
            .map(|(_, v)| v)
            .sum::<u64>(),
        decode.join(", ")
    );
    let _ = writeln!(
        s,
        "  drops: kernel {}, interface {}, queue {}; truncated files {}; duplicates {}",
        c.get("capture.kernel_dropped"),
        c.get("capture.interface_dropped"),
        c.get("capture.queue_dropped_packets"),
        c.get("capture.truncated_files"),
        c.get("capture.duplicates")
    );
    let _ = writeln!(
        s,
        "  flows {} (expired {}, evicted {}); segments after close {}",
        c.get("flows.created"),
        c.get("flows.expired"),
        c.get("flows.evicted"),
        c.get("flows.segments_after_close")
    );
    let _ = writeln!(
        s,
        "  memcap hits: flow table {}, reassembly {}, protocol state {}, exporter queue {}; evicted embryonic {}, no state {}, with state {}",
        c.get("memcap.flow_table_hits"),
        c.get("memcap.reassembly_hits"),
        c.get("memcap.protocol_state_hits"),
        c.get("memcap.exporter_queue_hits"),
        c.get("flows.evicted_embryonic"),
        c.get("flows.evicted_no_state"),
        c.get("flows.evicted_with_state")
    );
    let events: Vec<String> = c
        .iter()
        .filter(|(k, v)| k.starts_with("events.") && *v > 0)
        .map(|(k, v)| format!("{} {v}", &k[7..]))
        .collect();
    let _ = writeln!(
        s,
        "  events {} [{}]; output written {}, lost {}",
        c.get("output.events"),
        events.join(", "),
        c.get("output.events_written"),
        lost_events(c)
    );
    if c.iter().any(|(k, _)| k.starts_with("output.es.")) {
        let g = |k: &str| c.get(&format!("output.es.{k}"));
        let _ = writeln!(
            s,
            "  elasticsearch: delivered {}, already present {}, retried {}, spooled {} (waiting in the spool {}), dead-lettered {}",
            g("docs_indexed"),
            g("docs_duplicate"),
            g("docs_retried"),
            g("spooled_docs"),
            g("spool_docs"),
            g("dead_lettered"),
        );
        let _ = writeln!(
            s,
            "  elasticsearch refusals: mapping {}, read-only or disk full {}, auth {}, busy {}, server or no answer {}, other {}; dropped at the spool bound {}, lost {}",
            g("docs_failed_mapping"),
            g("docs_failed_readonly"),
            g("docs_failed_auth"),
            g("docs_failed_rejected"),
            g("docs_failed_server"),
            g("docs_failed_other"),
            g("dropped_spool_bound"),
            g("lost"),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_json_and_merge() {
        let mut a = Counters::new();
        a.add("capture.packets", 3);
        a.add("tcp.gap_bytes", 10);
        let mut b = Counters::new();
        b.add("capture.packets", 4);
        a.merge(&b);
        let j = a.to_json();
        assert_eq!(j["capture"]["packets"], 7);
        assert_eq!(j["tcp"]["gap_bytes"], 10);
    }

    #[test]
    fn summary_shows_elasticsearch_fates_and_losses() {
        let mut c = Counters::new();
        c.add("output.events", 30);
        c.add("output.es.docs_indexed", 12);
        c.add("output.es.docs_duplicate", 3);
        c.add("output.es.spooled_docs", 10);
        c.set("output.es.spool_docs", 10);
        c.add("output.es.dead_lettered", 4);
        c.add("output.es.docs_failed_mapping", 4);
        c.add("output.es.lost", 1);
        c.add("output.es.dropped_spool_bound", 1);
        let t = summary_text(&c, std::time::Duration::from_secs(1));
        assert!(t.contains("output written 0, lost 1"), "{t}");
        assert!(t.contains("delivered 12, already present 3, retried 0, spooled 10 (waiting in the spool 10), dead-lettered 4"), "{t}");
        assert!(
            t.contains("mapping 4,") && t.contains("dropped at the spool bound 1, lost 1"),
            "{t}"
        );
        assert_eq!(lost_events(&c), 1);
        let plain = summary_text(&Counters::new(), std::time::Duration::from_secs(1));
        assert!(!plain.contains("elasticsearch"), "{plain}");
    }

    #[test]
    fn per_worker_names_are_spelled_out() {
        assert_eq!(FLOWS_ACTIVE_WORKER[0], "flows.active_worker0");
        assert_eq!(QUEUE_DEPTH_WORKER[7], "pipeline.queue_depth_worker7");
    }

    #[test]
    fn registry_sums_slots() {
        let r = Registry::default();
        let s1 = r.slot();
        let s2 = r.slot();
        let mut c = Counters::new();
        c.add("x", 2);
        s1.publish(&c);
        s2.publish(&c);
        assert_eq!(r.total().get("x"), 4);
    }

    #[test]
    fn one_counter_per_name_whatever_its_address() {
        // The same text at another address (not a literal) is the same
        // counter, and it counts from wherever it is added.
        let other: &'static str = Box::leak(String::from("tcp.gap_bytes").into_boxed_str());
        let mut c = Counters::new();
        c.add("tcp.gap_bytes", 2);
        c.add(other, 3);
        c.add("tcp.gap_bytes", 4);
        assert_eq!(c.get("tcp.gap_bytes"), 9);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![("tcp.gap_bytes", 9)]);
    }

    #[test]
    fn many_names_keep_their_own_values_in_name_order() {
        // More names than cache slots, so slots are shared and overwritten:
        // every value must still match a plain map's.
        let names: Vec<&'static str> = (0..200)
            .map(|i| &*Box::leak(format!("n.{:03}", (i * 37) % 200).into_boxed_str()))
            .collect();
        let mut c = Counters::new();
        let mut model = BTreeMap::new();
        for round in 0..3u64 {
            for (i, n) in names.iter().enumerate() {
                let v = (i as u64 * 7 + round) % 5;
                c.add(n, v);
                *model.entry(*n).or_insert(0) += v;
            }
        }
        c.set(names[5], 1234);
        model.insert(names[5], 1234);
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            model.into_iter().collect::<Vec<_>>()
        );
        // Adding zero creates the counter (it is listed, at zero).
        c.add("z.zero", 0);
        assert_eq!(c.iter().last(), Some(("z.zero", 0)));
        // Equality is by names and values, not by the cache's state.
        let mut d = Counters::new();
        for (k, v) in c.iter().collect::<Vec<_>>().into_iter().rev() {
            d.set(k, v);
        }
        assert_eq!(c, d);
        d.add("z.zero", 1);
        assert_ne!(c, d);
    }
}
