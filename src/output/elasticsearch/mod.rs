//! The Elasticsearch output: `_bulk` indexing with retries, a bounded
//! memory queue, an on-disk spool and a dead-letter file.
//!
//! Pipeline, top to bottom: [`ElasticsearchOutput::write`] (exporter thread)
//! appends each encoded event to an open [`BulkChunk`] ([`encoder`]) with a
//! `create` action naming the daily index and the event's deterministic id;
//! a full or old chunk is sealed into a queue bounded in bytes. When the
//! queue is full while the cluster is up, `write` waits for room at most one
//! request timeout (back-pressure instead of loss); it never waits on a
//! cluster that is down. A small pool of sender threads owned by the output
//! (`max_in_flight`, each with its own keep-alive connection) takes the
//! oldest chunks (spool first, then memory) so that up to `max_in_flight`
//! bulk requests are in flight at once; one sender at a time works on the
//! spool's front. Each sends with
//! [`client::EsClient`], and lets the pure [`retry`] classifier sort the
//! response: indexed, duplicate (409 on create: already there), retry (429
//! and 5xx items or whole requests, with exponential backoff and jitter up
//! to `max_retries`), or dead letter (mapping/parsing rejections, written
//! with the reason to `dead_letter`). What still fails goes to the
//! [`spool`] in order and is replayed when the cluster answers again; while
//! the cluster is down new chunks go straight to the spool. Only what does
//! not fit in the spool is dropped, and it is counted (`output.es.dropped`).
//!
//! Counters (`output.es.*`): `docs_accepted`, `docs_sent`, `docs_indexed`,
//! `docs_duplicate`, `docs_retried`, `docs_failed_{rejected,server,mapping,other}`,
//! `dead_lettered`, `dropped`, `bulk_requests`, `bulk_failed`,
//! `bulk_latency_us_total`, `spooled_docs`, `spool_errors`,
//! `write_blocked_us_total` (back-pressure waits in `write`), and the gauges
//! `queue_bytes`, `queue_docs`, `spool_bytes`, `spool_docs`.
//!
//! Not here: encoding events (workers do it), the CLI (`--es`, `-o
//! elasticsearch` map onto [`ElasticsearchConfig`]).

pub mod client;
pub mod config;
pub mod encoder;
pub mod retry;
pub mod spool;
pub mod template;

pub use config::ElasticsearchConfig;

use crate::event::EventBatch;
use crate::output::{Output, OutputError};
use crate::stats::Counters;
use client::EsClient;
use encoder::{BulkChunk, IndexPattern};
use retry::{FailReason, RequestVerdict};
use spool::Spool;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Counter deltas gathered by the sender thread, folded into the
/// exporter's [`Counters`] on every call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Stats {
    docs_sent: u64,
    docs_indexed: u64,
    docs_duplicate: u64,
    docs_retried: u64,
    failed: [u64; 6],
    dead_lettered: u64,
    dropped: u64,
    dropped_bound: u64,
    lost: u64,
    bulk_requests: u64,
    bulk_failed: u64,
    latency_us: u64,
    spooled_docs: u64,
    spool_errors: u64,
    blocked_us: u64,
}

impl Stats {
    fn fail(&mut self, r: FailReason, n: u64) {
        self.failed[r.index()] += n;
    }

    /// Documents that could not be kept: counted as dropped and as lost.
    fn drop_docs(&mut self, n: u64) {
        self.dropped += n;
        self.lost += n;
    }

    fn drain_into(&mut self, c: &mut Counters) {
        let s = std::mem::take(self);
        for r in FailReason::ALL {
            if s.failed[r.index()] > 0 {
                c.add(r.counter(), s.failed[r.index()]);
            }
        }
        let pairs = [
            ("output.es.docs_sent", s.docs_sent),
            ("output.es.docs_indexed", s.docs_indexed),
            ("output.es.docs_duplicate", s.docs_duplicate),
            ("output.es.docs_retried", s.docs_retried),
            ("output.es.dead_lettered", s.dead_lettered),
            ("output.es.dropped", s.dropped),
            ("output.es.dropped_spool_bound", s.dropped_bound),
            ("output.es.lost", s.lost),
            ("output.es.bulk_requests", s.bulk_requests),
            ("output.es.bulk_failed", s.bulk_failed),
            ("output.es.bulk_latency_us_total", s.latency_us),
            ("output.es.spooled_docs", s.spooled_docs),
            ("output.es.spool_errors", s.spool_errors),
            ("output.es.write_blocked_us_total", s.blocked_us),
        ];
        for (name, v) in pairs {
            if v > 0 {
                c.add(name, v);
            }
        }
    }
}

/// What the exporter side and the sender thread share.
struct State {
    queue: VecDeque<BulkChunk>,
    queue_bytes: usize,
    queue_max_bytes: usize,
    spool: Option<Spool>,
    /// Chunks the senders hold (older than everything queued).
    in_flight: usize,
    /// The last delivery failed for good (or the cluster was never reached).
    down: bool,
    /// No more input; the sender exits once everything is delivered.
    closing: bool,
    /// Give up: the sender parks what it holds and exits.
    stop: bool,
    /// Every sender thread has returned.
    exited: bool,
    /// Sender threads still running.
    senders: usize,
    /// The cluster was reached and the template installed: every sender
    /// may send (the first one does the start-up work alone).
    ready: bool,
    stats: Stats,
    /// A sender holds the spool's oldest entry (eviction must skip it, and
    /// no other sender takes or pushes in front of it).
    front_busy: bool,
    /// Documents the senders hold that came from memory (not on disk).
    in_flight_mem_docs: u64,
    /// The last message seen per [`FailReason`], for warnings.
    notes: [Option<String>; 6],
    spool_error_logged: bool,
    bound_logged: bool,
}

impl State {
    fn note_spool_error(&mut self, e: &spool::SpoolError) {
        self.stats.spool_errors += 1;
        if !self.spool_error_logged {
            self.spool_error_logged = true;
            tracing::warn!("elasticsearch output: {e}; documents that cannot be spooled are counted as lost (output.es.lost) and the run goes on");
        }
    }

    fn note(&mut self, r: FailReason, n: u64, msg: &str) {
        self.stats.fail(r, n);
        let first = self.notes[r.index()].is_none();
        self.notes[r.index()] = Some(msg.chars().take(300).collect());
        if first && matches!(r, FailReason::ReadOnly | FailReason::Auth) {
            tracing::warn!(
                "elasticsearch output: documents refused: {}: {msg}; they are retried and spooled until this is fixed",
                r.name()
            );
        }
    }

    /// Stores a chunk on disk (at the back, or in front when it is older
    /// than everything spooled), else counts it as lost. At the bound the
    /// oldest entries make room for a new one.
    fn spool_chunk(&mut self, c: &BulkChunk, front: bool) {
        let n = c.len() as u64;
        let Some(sp) = self.spool.as_mut() else {
            self.stats.drop_docs(n);
            return;
        };
        let r = if front {
            sp.push_front(c)
        } else {
            let evicted = sp.evict_for(c.bytes() as u64, self.front_busy);
            if evicted > 0 {
                self.stats.drop_docs(evicted);
                self.stats.dropped_bound += evicted;
                if !self.bound_logged {
                    self.bound_logged = true;
                    tracing::warn!(
                        "elasticsearch output: the spool {} reached spool_max_bytes ({} bytes): the oldest documents are dropped to make room and counted (output.es.dropped_spool_bound)",
                        sp.dir().display(),
                        sp.bytes()
                    );
                }
            }
            let Some(sp) = self.spool.as_mut() else {
                return;
            };
            sp.push_back(c)
        };
        match r {
            Ok(true) => self.stats.spooled_docs += n,
            Ok(false) => {
                self.stats.drop_docs(n);
                self.stats.dropped_bound += n;
            }
            Err(e) => {
                self.stats.drop_docs(n);
                self.note_spool_error(&e);
            }
        }
    }

    /// Moves every queued chunk to the spool, oldest first.
    fn spill_all(&mut self) {
        while let Some(c) = self.queue.pop_front() {
            self.queue_bytes -= c.bytes();
            self.spool_chunk(&c, false);
        }
    }

    /// Queues a sealed chunk, spilling to the spool when the cluster is down
    /// or the memory bound is reached.
    fn enqueue(&mut self, c: BulkChunk) {
        if self.down && self.spool.is_some() {
            self.spill_all();
            self.spool_chunk(&c, false);
            return;
        }
        if self.spool.is_some() {
            while self.queue_bytes + c.bytes() > self.queue_max_bytes {
                let Some(old) = self.queue.pop_front() else {
                    break;
                };
                self.queue_bytes -= old.bytes();
                self.spool_chunk(&old, false);
            }
        } else if self.queue_bytes + c.bytes() > self.queue_max_bytes {
            self.stats.drop_docs(c.len() as u64);
            return;
        }
        self.queue_bytes += c.bytes();
        self.queue.push_back(c);
    }

    fn publish(&mut self, c: &mut Counters) {
        self.stats.drain_into(c);
        c.set("output.es.queue_bytes", self.queue_bytes as u64);
        c.set(
            "output.es.queue_docs",
            self.queue.iter().map(|q| q.len() as u64).sum(),
        );
        let (sb, sd) = self
            .spool
            .as_ref()
            .map_or((0, 0), |s| (s.bytes(), s.docs()));
        c.set("output.es.spool_bytes", sb);
        c.set("output.es.spool_docs", sd);
    }

    fn drained(&self) -> bool {
        let spool_empty = match &self.spool {
            Some(s) => s.is_empty(),
            None => true,
        };
        self.queue.is_empty() && self.in_flight == 0 && spool_empty
    }
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the sender (new work, closing, stop).
    wake: Condvar,
    /// Wakes `close` (a delivery finished, the sender exited).
    progress: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means the other thread panicked; the data is
        // still consistent enough to count and spool.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits on `progress` while `waiting` holds, but not past `deadline`.
    fn wait_progress<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        deadline: Instant,
        waiting: impl Fn(&State) -> bool,
    ) -> MutexGuard<'a, State> {
        while waiting(&st) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .progress
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        st
    }
}

/// The dead-letter file, shared by the senders (one line at a time).
struct DeadLetters {
    out: Option<BufWriter<File>>,
    path: Option<std::path::PathBuf>,
    logged: bool,
    write_logged: bool,
}

/// The Elasticsearch [`Output`].
pub struct ElasticsearchOutput {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    open: BulkChunk,
    open_since: Option<Instant>,
    index: IndexPattern,
    bulk_max_docs: usize,
    bulk_max_bytes: usize,
    flush_interval: Duration,
    close_timeout: Duration,
    request_timeout: Duration,
    /// Longest one bulk attempt can take (every host timing out).
    attempt_timeout: Duration,
    spool_dir: Option<std::path::PathBuf>,
    dead_letter_path: Option<std::path::PathBuf>,
    /// `close` ran out of `close_timeout`.
    closed_late: bool,
}

fn err(msg: String) -> OutputError {
    OutputError::Other(msg)
}

impl ElasticsearchOutput {
    /// Validates `cfg`, opens the spool and the dead-letter file, and starts
    /// the sender thread.
    ///
    /// With `wait_for_cluster = false` (replay) the cluster must answer now:
    /// the error is one line naming the URL and the reason, and the index
    /// template is installed before this returns. With `true` (live
    /// capture) this returns at once; the sender keeps trying to reach the
    /// cluster (and then installs the template) while events queue and spill.
    pub fn new(cfg: ElasticsearchConfig, wait_for_cluster: bool) -> Result<Self, OutputError> {
        let valid = cfg
            .validate()
            .map_err(|(k, m)| err(format!("invalid setting {k}: {m}")))?;
        let raw = &valid.raw;
        if !raw.ssl_verification {
            tracing::warn!("elasticsearch output: ssl_verification = false, server certificates are NOT checked");
        }
        let mut client =
            EsClient::new(&valid).map_err(|e| err(format!("elasticsearch output: {e}")))?;
        let spool_dir = raw.spool_path();
        let spool = match &spool_dir {
            Some(d) => {
                let sp = Spool::open(d, raw.spool_max_bytes)
                    .map_err(|e| err(format!("elasticsearch output: {e} (output.elasticsearch.spool_dir; \"\" turns the spool off)")))?;
                sp.set_cluster(&client.hosts());
                if !sp.is_empty() {
                    tracing::info!(
                        "elasticsearch output: {} documents spooled by an earlier run in {} are delivered first",
                        sp.docs(),
                        d.display()
                    );
                }
                Some(sp)
            }
            None => None,
        };
        let dead_letter_path = raw.dead_letter_path();
        let dead_letter = match &dead_letter_path {
            Some(p) => {
                if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let _ = std::fs::create_dir_all(parent);
                }
                Some(BufWriter::new(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .map_err(|source| OutputError::Io {
                            path: format!(
                                "{} (output.elasticsearch.dead_letter; \"\" keeps no file)",
                                p.display()
                            ),
                            source,
                        })?,
                ))
            }
            None => None,
        };
        let setup = Setup {
            template: raw.template,
            template_name: raw.template_name.clone(),
            pattern: valid.index.wildcard(),
            settings: template::IndexSettings {
                shards: raw.shards,
                replicas: raw.replicas,
                refresh_interval: raw.refresh_interval.clone(),
            },
        };
        if !wait_for_cluster {
            setup
                .run(&mut client)
                .map_err(|e| err(format!("elasticsearch output: {e}")))?;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queue_bytes: 0,
                queue_max_bytes: raw.queue_max_bytes,
                spool,
                in_flight: 0,
                down: wait_for_cluster,
                closing: false,
                stop: false,
                exited: false,
                senders: raw.max_in_flight,
                ready: !wait_for_cluster,
                stats: Stats::default(),
                front_busy: false,
                in_flight_mem_docs: 0,
                notes: Default::default(),
                spool_error_logged: false,
                bound_logged: false,
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
        });
        let dead_letters = Arc::new(Mutex::new(DeadLetters {
            out: dead_letter,
            path: dead_letter_path.clone(),
            logged: false,
            write_logged: false,
        }));
        // One sender per request in flight, each with its own connection;
        // the first does the start-up work (live mode) before the others send.
        let mut clients = vec![client];
        for i in 1..raw.max_in_flight {
            let mut c =
                EsClient::new(&valid).map_err(|e| err(format!("elasticsearch output: {e}")))?;
            c.start_at(i);
            clients.push(c);
        }
        let mut setup = wait_for_cluster.then_some(setup);
        let mut threads = Vec::with_capacity(clients.len());
        for (i, client) in clients.into_iter().enumerate() {
            let sender = Sender {
                client,
                shared: Arc::clone(&shared),
                dead_letters: Arc::clone(&dead_letters),
                announced_down: false,
                max_retries: raw.max_retries,
                backoff_init: raw.backoff_init.0,
                backoff_max: raw.backoff_max.0,
                rng: seed() ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                setup: setup.take(),
            };
            let spawned = std::thread::Builder::new()
                .name("spanlens-es".into())
                .spawn(move || sender.run());
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // Stop those already started; they exit at once.
                    let mut st = shared.lock();
                    st.stop = true;
                    st.senders -= raw.max_in_flight - i;
                    drop(st);
                    shared.wake.notify_all();
                    return Err(err(format!(
                        "elasticsearch output: cannot start sender thread: {e}"
                    )));
                }
            }
        }
        Ok(ElasticsearchOutput {
            shared,
            threads,
            open: BulkChunk::with_capacity(raw.bulk_max_bytes + 4096),
            open_since: None,
            index: valid.index,
            bulk_max_docs: raw.bulk_max_docs,
            bulk_max_bytes: raw.bulk_max_bytes,
            flush_interval: raw.flush_interval.0,
            close_timeout: raw.close_timeout.0,
            request_timeout: raw.timeout.0 + raw.connect_timeout.0,
            attempt_timeout: (raw.timeout.0 + raw.connect_timeout.0)
                .saturating_mul(valid.hosts.len().max(1) as u32),
            spool_dir,
            dead_letter_path,
            closed_late: false,
        })
    }

    /// `spanlens spool drain`: like `close`, but the wait goes on as long
    /// as documents keep being delivered; it ends when everything is
    /// delivered or nothing moved for `close_timeout`.
    pub fn drain(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        self.finish(counters, true)
    }

    fn finish(&mut self, counters: &mut Counters, while_moving: bool) -> Result<(), OutputError> {
        self.seal();
        let mut st = self.shared.lock();
        st.closing = true;
        self.shared.wake.notify_all();
        let left = |st: &State| {
            st.queue.iter().map(|c| c.len() as u64).sum::<u64>()
                + st.spool.as_ref().map_or(0, |s| s.docs())
                + st.in_flight_mem_docs
        };
        let mut before = left(&st);
        loop {
            let deadline = Instant::now() + self.close_timeout;
            // The sender exits once everything is delivered (closing is
            // set); waiting for the exit, not only for the drain, lets the
            // join below release the spool's lock before close returns.
            st = self.shared.wait_progress(st, deadline, |st| {
                !st.exited && (!while_moving || left(st) >= before)
            });
            let now_left = left(&st);
            if !while_moving || st.exited || now_left >= before {
                break;
            }
            before = now_left;
        }
        let delivered = st.drained();
        if !delivered {
            // Out of time: everything still in memory goes to the spool
            // (or is counted as dropped without one).
            st.stop = true;
            st.spill_all();
            self.shared.wake.notify_all();
            // The sender finishes its current attempt (bounded by the
            // request timeout) and parks what it holds.
            let limit = Instant::now() + self.attempt_timeout + Duration::from_secs(1);
            while !st.exited && Instant::now() < limit {
                st = self
                    .shared
                    .progress
                    .wait_timeout(st, Duration::from_millis(100))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        let exited = st.exited;
        if !exited {
            // Senders still stuck in a request: do not join them.
            self.threads.clear();
        }
        // Without a spool, what is still queued is lost: count it.
        if st.spool.is_none() {
            let n: u64 = st.queue.iter().map(|c| c.len() as u64).sum();
            st.stats.drop_docs(n);
            st.queue.clear();
            st.queue_bytes = 0;
        }
        if !exited && st.in_flight_mem_docs > 0 {
            // The sender is stuck in a request past every timeout: what it
            // holds from memory is not in the spool. Count it lost (a spooled
            // entry it holds stays on disk and is replayed).
            let n = std::mem::take(&mut st.in_flight_mem_docs);
            st.stats.drop_docs(n);
            tracing::warn!("elasticsearch output: the sender did not finish its request in time; {n} documents it held are lost");
        }
        st.publish(counters);
        drop(st);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.closed_late = !delivered;
        Ok(())
    }

    /// Hands the open chunk to the queue.
    fn seal(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let c = std::mem::replace(
            &mut self.open,
            BulkChunk::with_capacity(self.bulk_max_bytes + 4096),
        );
        self.open_since = None;
        // Back-pressure: while the cluster is up but slower than the input,
        // wait (bounded) for the sender to take a chunk rather than spill
        // or drop. When it is down, or the wait runs out, spill at once.
        let started = Instant::now();
        let mut st =
            self.shared
                .wait_progress(self.shared.lock(), started + self.request_timeout, |st| {
                    !st.down
                        && !st.exited
                        && !st.queue.is_empty()
                        && st.queue_bytes + c.bytes() > st.queue_max_bytes
                });
        st.stats.blocked_us += started.elapsed().as_micros() as u64;
        st.enqueue(c);
        drop(st);
        self.shared.wake.notify_all();
    }

    fn publish(&self, counters: &mut Counters) {
        self.shared.lock().publish(counters);
    }
}

impl Output for ElasticsearchOutput {
    fn write(&mut self, batch: &EventBatch, counters: &mut Counters) -> Result<(), OutputError> {
        let mut accepted = 0u64;
        for m in &batch.events {
            let Some(json) = batch
                .buf
                .get(m.start as usize..(m.start as usize).saturating_add(m.len as usize))
            else {
                counters.add("output.es.bad_events", 1);
                continue;
            };
            if self.open_since.is_none() {
                self.open_since = Some(Instant::now());
            }
            let index = self.index.render(m.ts);
            self.open.push_event(index, m, json);
            accepted += 1;
            if self.open.len() >= self.bulk_max_docs || self.open.bytes() >= self.bulk_max_bytes {
                self.seal();
            }
        }
        counters.add("output.es.docs_accepted", accepted);
        self.idle(counters)
    }

    fn idle(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        if self
            .open_since
            .is_some_and(|t| t.elapsed() >= self.flush_interval)
        {
            self.seal();
        }
        self.publish(counters);
        Ok(())
    }

    fn close(&mut self, counters: &mut Counters) -> Result<(), OutputError> {
        self.finish(counters, false)
    }

    fn warnings(&self, c: &Counters) -> Vec<String> {
        let mut w = Vec::new();
        let st = self.shared.lock();
        let g = |k: &str| c.get(k);
        if g("output.es.dead_lettered") > 0 {
            let last = [FailReason::Mapping, FailReason::Other]
                .iter()
                .find_map(|r| st.notes[r.index()].clone())
                .unwrap_or_default();
            match &self.dead_letter_path {
                Some(p) => w.push(format!(
                    "elasticsearch output: {} documents were rejected for good and written to the dead-letter file {} (last: {last})",
                    g("output.es.dead_lettered"),
                    p.display()
                )),
                None => w.push(format!(
                    "elasticsearch output: {} documents were rejected for good and are lost: dead_letter = \"\" keeps no file (last: {last})",
                    g("output.es.dead_lettered")
                )),
            }
        }
        for r in [
            FailReason::ReadOnly,
            FailReason::Auth,
            FailReason::Rejected,
            FailReason::Server,
        ] {
            let n = g(r.counter());
            if let (true, Some(m)) = (n > 0, &st.notes[r.index()]) {
                w.push(format!(
                    "elasticsearch output: {n} document refusals ({}), retried: {m}",
                    r.name()
                ));
            }
        }
        let spooled = g("output.es.spool_docs");
        if spooled > 0 {
            w.push(format!(
                "elasticsearch output: {spooled} documents wait in the spool {}{}; they are delivered at the start of the next run, or now with `spanlens spool drain`",
                self.spool_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default(),
                if self.closed_late {
                    format!(" (not delivered within close_timeout, {}s)", self.close_timeout.as_secs_f64())
                } else {
                    String::new()
                }
            ));
        }
        if g("output.es.lost") > 0 {
            w.push(format!(
                "elasticsearch output: {} documents LOST (neither delivered, spooled nor dead-lettered): {} dropped at the spool bound, {} for lack of a spool or a writable one, {} rejected without a dead-letter file",
                g("output.es.lost"),
                g("output.es.dropped_spool_bound"),
                g("output.es.dropped") - g("output.es.dropped_spool_bound"),
                g("output.es.lost") - g("output.es.dropped")
            ));
        }
        w
    }
}

impl Drop for ElasticsearchOutput {
    fn drop(&mut self) {
        // Stop the sender if close() was not called; it parks what it holds.
        let mut st = self.shared.lock();
        st.stop = true;
        st.closing = true;
        drop(st);
        self.shared.wake.notify_all();
    }
}

/// Start-up work: cluster check and template.
struct Setup {
    template: bool,
    template_name: String,
    pattern: String,
    settings: template::IndexSettings,
}

impl Setup {
    fn run(&self, client: &mut EsClient) -> Result<(), client::ClientError> {
        let info = client.cluster_info()?;
        let what = if self.template {
            client.install_template(&info, &self.template_name, &self.pattern, &self.settings)?
        } else {
            "not managed"
        };
        tracing::info!(
            "elasticsearch output: {} {} at {}, index template {}: {}",
            if info.opensearch {
                "OpenSearch"
            } else {
                "Elasticsearch"
            },
            info.version,
            client.hosts(),
            self.template_name,
            what
        );
        Ok(())
    }
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    (t ^ (std::process::id() as u64).rotate_left(32)) | 1
}

/// Where the sender's current chunk came from.
enum Work {
    Spooled(BulkChunk),
    Memory(BulkChunk),
}

/// A sender thread: delivers chunks, oldest first.
struct Sender {
    client: EsClient,
    shared: Arc<Shared>,
    dead_letters: Arc<Mutex<DeadLetters>>,
    announced_down: bool,
    max_retries: u32,
    backoff_init: Duration,
    backoff_max: Duration,
    rng: u64,
    /// Start-up still to do (live mode).
    setup: Option<Setup>,
}

impl Sender {
    fn jitter(&mut self) -> f64 {
        // xorshift64: jitter needs no quality, only spread.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sleeps up to `d`; returns false when asked to stop meanwhile.
    /// Longest pause while `close` waits: the cluster may come back any
    /// moment, and the time left is short.
    const CLOSING_PAUSE: Duration = Duration::from_secs(2);

    fn pause(&self, d: Duration) -> bool {
        let start = Instant::now();
        let mut st = self.shared.lock();
        loop {
            if st.stop {
                return false;
            }
            let until = start
                + if st.closing {
                    d.min(Self::CLOSING_PAUSE)
                } else {
                    d
                };
            let now = Instant::now();
            if now >= until {
                return true;
            }
            st = self
                .shared
                .wake
                .wait_timeout(st, until - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn stopping(&self) -> bool {
        self.shared.lock().stop
    }

    fn run(mut self) {
        self.work();
        self.flush_dead_letters();
        let mut st = self.shared.lock();
        st.senders = st.senders.saturating_sub(1);
        st.exited = st.senders == 0;
        drop(st);
        self.shared.progress.notify_all();
        // A sender waiting for `ready` must not wait for a first that gave up.
        self.shared.wake.notify_all();
    }

    fn connect(&mut self) -> bool {
        let Some(setup) = self.setup.take() else {
            return true;
        };
        let ok = self.connect_with(&setup);
        if ok {
            self.shared.lock().ready = true;
            self.shared.wake.notify_all();
        }
        ok
    }

    fn connect_with(&mut self, setup: &Setup) -> bool {
        let mut failures = 0u32;
        loop {
            match setup.run(&mut self.client) {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!("elasticsearch output: cluster reached");
                    }
                    return true;
                }
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!("elasticsearch output: {e}; events are queued (and spooled) while retrying");
                    }
                    failures = failures.saturating_add(1);
                    let j = self.jitter();
                    let d =
                        retry::backoff_delay(failures - 1, self.backoff_init, self.backoff_max, j);
                    if !self.pause(d) {
                        return false;
                    }
                }
            }
        }
    }

    fn take_work(&mut self) -> Option<Work> {
        let mut st = self.shared.lock();
        loop {
            if st.stop {
                return None;
            }
            if !st.ready {
                st = self.shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let front_free = !st.front_busy;
            if let Some(sp) = st.spool.as_mut().filter(|_| front_free) {
                if !sp.is_empty() {
                    match sp.peek() {
                        Ok(Some(c)) => {
                            st.in_flight += 1;
                            st.front_busy = true;
                            return Some(Work::Spooled(c));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            // Corrupt or unreadable: it cannot be sent; count and skip it.
                            let before = sp.docs();
                            let popped = sp.pop();
                            let lost = before - sp.docs();
                            st.stats.drop_docs(lost);
                            st.note_spool_error(&e);
                            if let Err(e) = popped {
                                st.note_spool_error(&e);
                                return None;
                            }
                            continue;
                        }
                    }
                }
            }
            if let Some(c) = st.queue.pop_front() {
                st.queue_bytes -= c.bytes();
                st.in_flight += 1;
                st.in_flight_mem_docs += c.len() as u64;
                // Room in the queue: a blocked write() may go on.
                self.shared.progress.notify_all();
                return Some(Work::Memory(c));
            }
            // Closing and nothing this sender may take: what another
            // sender holds comes back to that sender if it fails.
            if st.closing {
                return None;
            }
            st = self.shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn work(&mut self) {
        if !self.connect() {
            return;
        }
        let mut failures = 0u32;
        while let Some(work) = self.take_work() {
            let (chunk, from_spool) = match work {
                Work::Spooled(c) => (c, true),
                Work::Memory(c) => (c, false),
            };
            let mem_docs = if from_spool { 0 } else { chunk.len() as u64 };
            let rest = self.deliver(chunk);
            let mut st = self.shared.lock();
            if from_spool {
                if let Some(sp) = st.spool.as_mut() {
                    if let Err(e) = sp.replace_front(&rest) {
                        st.note_spool_error(&e);
                    }
                }
            } else if !rest.is_empty() {
                if st.spool.is_some() {
                    // In front (it is older than what is spooled), unless
                    // another sender holds the front entry: then behind it.
                    let front = !st.front_busy;
                    st.spool_chunk(&rest, front);
                } else {
                    st.queue_bytes += rest.bytes();
                    st.queue.push_front(rest.clone());
                }
            }
            st.in_flight = st.in_flight.saturating_sub(1);
            if from_spool {
                st.front_busy = false;
            }
            // `finish` may have counted them lost already (a sender stuck
            // past every timeout): saturate.
            st.in_flight_mem_docs = st.in_flight_mem_docs.saturating_sub(mem_docs);
            let failed = !rest.is_empty();
            if failed && !self.announced_down {
                self.announced_down = true;
                tracing::warn!("elasticsearch output: cluster unreachable or refusing documents; spooling and retrying");
            } else if !failed && self.announced_down {
                self.announced_down = false;
                tracing::info!("elasticsearch output: delivering again");
            }
            st.down = failed;
            drop(st);
            self.shared.progress.notify_all();
            // The spool's front may be free for another sender now.
            self.shared.wake.notify_all();
            if failed {
                failures = failures.saturating_add(1);
                let j = self.jitter();
                let d = retry::backoff_delay(failures, self.backoff_init, self.backoff_max, j);
                if !self.pause(d) {
                    return;
                }
            } else {
                failures = 0;
            }
        }
    }

    /// Sends a chunk until every document is indexed, a duplicate or dead,
    /// or retries run out; returns the documents still to deliver.
    fn deliver(&mut self, chunk: BulkChunk) -> BulkChunk {
        let mut pending = chunk;
        let mut attempt = 0u32;
        loop {
            if pending.is_empty() {
                return pending;
            }
            let n = pending.len() as u64;
            let result = self.client.bulk(pending.body());
            {
                let mut st = self.shared.lock();
                st.stats.bulk_requests += 1;
                st.stats.docs_sent += n;
                if attempt > 0 {
                    st.stats.docs_retried += n;
                }
            }
            match result {
                Err(e) => {
                    // Refused, reset or timed out (a stalled node): an
                    // outage. New chunks go to the spool at once instead of
                    // waiting behind this one while it is retried.
                    let mut st = self.shared.lock();
                    st.stats.bulk_failed += 1;
                    st.note(FailReason::Server, n, &e.to_string());
                    st.down = true;
                }
                Ok((reply, latency)) => {
                    let mut st = self.shared.lock();
                    st.stats.latency_us += latency.as_micros() as u64;
                    drop(st);
                    match retry::classify_status(reply.status) {
                        RequestVerdict::ReadItems => {
                            match retry::parse_bulk_response(&reply.body, pending.len()) {
                                Ok(outcomes) => {
                                    let plan = retry::plan(outcomes);
                                    let mut st = self.shared.lock();
                                    st.stats.docs_indexed += plan.indexed as u64;
                                    st.stats.docs_duplicate += plan.duplicates as u64;
                                    for (_, r) in &plan.retry {
                                        st.stats.fail(*r, 1);
                                    }
                                    let mut seen = [false; 6];
                                    for (_, r) in &plan.retry {
                                        if !std::mem::replace(&mut seen[r.index()], true) {
                                            st.note(*r, 0, &retry::item_message(&reply.body, r));
                                        }
                                    }
                                    drop(st);
                                    for (i, reason, status, msg) in &plan.dead {
                                        self.dead_letter(&pending, *i, *reason, *status, msg);
                                    }
                                    if plan.retry.is_empty() {
                                        self.flush_dead_letters();
                                        return BulkChunk::default();
                                    }
                                    let idx: Vec<usize> =
                                        plan.retry.iter().map(|(i, _)| *i).collect();
                                    pending = pending.subset(&idx);
                                }
                                Err(_) => self.shared.lock().stats.bulk_failed += 1,
                            }
                        }
                        RequestVerdict::Retry => {
                            let mut st = self.shared.lock();
                            st.stats.bulk_failed += 1;
                            let r = FailReason::of_request(reply.status, &reply.body);
                            let body = String::from_utf8_lossy(&reply.body);
                            st.note(r, n, &format!("HTTP {} {}", reply.status, body.trim()));
                        }
                        RequestVerdict::Split => {
                            self.shared.lock().stats.bulk_failed += 1;
                            if pending.len() > 1 {
                                let (a, b) = pending.halves();
                                let mut rest = self.deliver(a);
                                rest.extend_from(&self.deliver(b));
                                return rest;
                            }
                            self.dead_letter(
                                &pending,
                                0,
                                FailReason::Other,
                                413,
                                "request too large for the cluster (http.max_content_length)",
                            );
                            self.flush_dead_letters();
                            return BulkChunk::default();
                        }
                        RequestVerdict::Reject => {
                            self.shared.lock().stats.bulk_failed += 1;
                            let body = String::from_utf8_lossy(&reply.body);
                            let msg = format!(
                                "bulk request rejected: {}",
                                body.chars().take(300).collect::<String>()
                            );
                            for i in 0..pending.len() {
                                self.dead_letter(
                                    &pending,
                                    i,
                                    FailReason::Other,
                                    reply.status,
                                    &msg,
                                );
                            }
                            self.flush_dead_letters();
                            return BulkChunk::default();
                        }
                    }
                }
            }
            self.flush_dead_letters();
            if attempt >= self.max_retries || self.stopping() {
                return pending;
            }
            let j = self.jitter();
            let d = retry::backoff_delay(attempt, self.backoff_init, self.backoff_max, j);
            attempt += 1;
            if !self.pause(d) {
                return pending;
            }
        }
    }

    fn dead_letter(&mut self, c: &BulkChunk, i: usize, reason: FailReason, status: u16, msg: &str) {
        let mut dl = self.dead_letters.lock().unwrap_or_else(|p| p.into_inner());
        let dl = &mut *dl;
        {
            let mut st = self.shared.lock();
            st.stats.dead_lettered += 1;
            st.note(reason, 1, msg);
            if dl.out.is_none() {
                st.stats.lost += 1;
            }
        }
        let Some(out) = dl.out.as_mut() else {
            if !dl.logged {
                dl.logged = true;
                tracing::warn!("elasticsearch output: a document was rejected for good ({msg}) and is lost: set output.elasticsearch.dead_letter to keep such documents");
            }
            return;
        };
        if !dl.logged {
            dl.logged = true;
            tracing::warn!(
                "elasticsearch output: a document was rejected for good ({msg}); such documents are written to the dead-letter file {}",
                dl.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
        let mut line = Vec::with_capacity(c.source(i).len() + msg.len() + 128);
        line.extend_from_slice(b"{\"@timestamp\":\"");
        crate::time::write_rfc3339(
            &mut line,
            crate::time::from_duration(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default(),
            ),
        );
        line.extend_from_slice(b"\",\"status\":");
        line.extend_from_slice(status.to_string().as_bytes());
        line.extend_from_slice(b",\"reason\":");
        line.extend_from_slice(
            serde_json::to_string(match reason {
                FailReason::Mapping => "mapping",
                FailReason::Rejected => "rejected",
                FailReason::Server => "server",
                FailReason::ReadOnly => "readonly",
                FailReason::Auth => "auth",
                FailReason::Other => "other",
            })
            .unwrap_or_default()
            .as_bytes(),
        );
        line.extend_from_slice(b",\"error\":");
        line.extend_from_slice(serde_json::to_string(msg).unwrap_or_default().as_bytes());
        line.extend_from_slice(b",\"action\":");
        line.extend_from_slice(c.action(i));
        line.extend_from_slice(b",\"document\":");
        line.extend_from_slice(c.source(i));
        line.extend_from_slice(b"}\n");
        if let Err(e) = out.write_all(&line) {
            self.shared.lock().stats.lost += 1;
            if !dl.write_logged {
                dl.write_logged = true;
                tracing::warn!(
                    "elasticsearch output: cannot write the dead-letter file {}: {e}; rejected documents are counted as lost",
                    dl.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
                );
            }
        }
    }

    fn flush_dead_letters(&mut self) {
        let mut dl = self.dead_letters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = dl.out.as_mut() {
            let _ = d.flush();
        }
    }
}

#[cfg(test)]
mod tests;
