//! The aggregator every dashboard face shares (report file, live page, and
//! later a report built from Elasticsearch).
//!
//! It is fed one small typed record per transaction ([`TxSummary`]) and per
//! flow report ([`FlowSummary`]), built either from the typed data at the
//! point where a worker emits an event or from a parsed NDJSON event
//! ([`summary`]), so both paths give the same figures. (The worker's path
//! reads the typed data field by field where the fold needs it,
//! [`Emitted`], rather than building the whole summary first: the key and
//! the server only when the flow's memo misses.) Records are folded
//! into [`Stats`] keyed by [`Key`]: packet-time interval (default 10 s),
//! server group, server `ip:port` and protocol. Intervals are mergeable
//! ([`Aggregator::merge`]: workers are merged like the counters, no shared
//! lock on the hot path) and serialisable (serde; histograms as their
//! non-empty buckets).
//!
//! Every bound is configurable ([`AggConfig`], `[report]` section) and
//! counted in [`Bounds`] when hit.

mod clients;
mod hist;
pub mod summary;

pub use clients::Clients;
pub use hist::{Hist, SmallHist};

use summary::Record;
pub use summary::{Code, Emitted, FlowSummary, TcpSummary, TxSummary};

use crate::event::{AggHint, LabelsAt, TxFold};

use ahash::AHashMap;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

/// Bounds of the aggregator (`[report]` section).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AggConfig {
    /// Interval length in seconds of packet time.
    pub interval_secs: u64,
    /// Most (interval, group, server, protocol) keys held at once; records of
    /// further servers go to the server `other` of their interval
    /// (`bounds.keys`), so at most one more key per interval.
    pub max_keys: usize,
    /// Entries of each heavy-hitter sketch (URLs, queries, commands,
    /// talkers) per key; more distinct values evict the smallest
    /// (`bounds.top_evictions`).
    pub top_entries: usize,
    /// Slowest transactions kept whole per key.
    pub slowest: usize,
    /// Distinct client addresses per key (`bounds.clients`).
    pub max_clients: usize,
    /// Distinct user agents, status codes, content types and methods per
    /// key (`bounds.labels`).
    pub max_labels: usize,
    /// Live page: intervals kept in the ring (default 6 hours of 10 s).
    pub ring_intervals: usize,
    /// Servers that get a page of their own in the report (by requests).
    pub server_pages: usize,
}

impl Default for AggConfig {
    fn default() -> Self {
        AggConfig {
            interval_secs: 10,
            max_keys: 20_000,
            top_entries: 32,
            slowest: 10,
            max_clients: 256,
            max_labels: 64,
            ring_intervals: 2_160,
            server_pages: 50,
        }
    }
}

/// Counts of records that hit a bound.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bounds {
    /// Records folded into the server `other` because `max_keys` was reached.
    pub keys: u64,
    /// Heavy-hitter entries evicted (their counts live on as the estimate
    /// error of the entry that replaced them).
    pub top_evictions: u64,
    /// Records whose client address was not tracked (`max_clients`).
    pub clients: u64,
    /// Records whose label (code, type, method, agent) went to `other`.
    pub labels: u64,
    /// Intervals dropped from the live ring.
    pub ring: u64,
    /// Input lines that were not events (NDJSON path).
    pub bad_lines: u64,
}

impl Bounds {
    fn merge(&mut self, o: &Bounds) {
        self.keys += o.keys;
        self.top_evictions += o.top_evictions;
        self.clients += o.clients;
        self.labels += o.labels;
        self.ring += o.ring;
        self.bad_lines += o.bad_lines;
    }
}

/// What stats are kept under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// Interval start, seconds since the epoch (packet time).
    pub start: u64,
    /// The server group, if the server is in one.
    pub group: Option<Arc<str>>,
    /// Server `ip:port` (`other` when `max_keys` was hit).
    pub server: Arc<str>,
    /// Protocol (`http`, `mysql`, `redis`, or the transport for flows).
    pub proto: Arc<str>,
}

/// One tallied value: count, errors, latency.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tally {
    /// Occurrences (for a sketch entry: an overestimate by at most `err`).
    pub n: u64,
    /// Of which errors.
    pub errors: u64,
    /// Bytes (talkers) or 0.
    pub bytes: u64,
    /// Space-saving overestimate (0 when the count is exact).
    pub err: u64,
    /// Latency of these transactions.
    pub lat: SmallHist,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.n += o.n;
        self.errors += o.errors;
        self.bytes += o.bytes;
        self.err += o.err;
        self.lat.add(&o.lat);
    }
}

/// A fixed-seed hasher, so sketches behave the same on every run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fixed;

impl std::hash::BuildHasher for Fixed {
    type Hasher = ahash::AHasher;
    fn build_hasher(&self) -> ahash::AHasher {
        crate::flow::fixed_state().build_hasher()
    }
}

/// A bounded heavy-hitter sketch (Metwally et al.'s space-saving): at most
/// `cap` entries; a new value replaces the smallest entry (ties broken by
/// value, so the result does not depend on arrival or hash order) and
/// inherits its count as its estimate error. Weighted by count (or by
/// bytes for talkers). One hash lookup per record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TopK {
    /// The entries, in no particular order.
    pub entries: Vec<(String, Tally)>,
    /// Records not attributed to an entry's exact count (sum of evicted counts).
    pub evicted: u64,
    /// Position of each entry (rebuilt when missing, e.g. after deserialising).
    #[serde(skip)]
    index: HashMap<Box<[u8]>, usize, Fixed>,
    /// The entry hit last: runs of one value skip the hash lookup.
    #[serde(skip)]
    last: usize,
    /// How many times entries moved (evicted, merged): a position kept
    /// elsewhere ([`crate::event::LabelsAt`]) is valid while this holds.
    #[serde(skip)]
    moves: u32,
}

impl PartialEq for TopK {
    fn eq(&self, o: &TopK) -> bool {
        fn sorted(t: &TopK) -> Vec<&(String, Tally)> {
            let mut v: Vec<&(String, Tally)> = t.entries.iter().collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }
        self.evicted == o.evicted && sorted(self) == sorted(o)
    }
}

impl TopK {
    /// The weight used for ranking.
    fn weight(t: &Tally, by_bytes: bool) -> u64 {
        if by_bytes {
            t.bytes
        } else {
            t.n
        }
    }

    /// A sketch holding these entries (e.g. read back from a cluster).
    pub fn from_entries(entries: Vec<(String, Tally)>, evicted: u64) -> TopK {
        let mut t = TopK {
            entries,
            evicted,
            index: HashMap::default(),
            last: 0,
            moves: 0,
        };
        t.reindex();
        t
    }

    /// The tally of one value, if it is an entry.
    pub fn get(&self, item: &str) -> Option<&Tally> {
        self.entries.iter().find(|e| e.0 == item).map(|e| &e.1)
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, (k, _)) in self.entries.iter().enumerate() {
            self.index.insert(k.as_bytes().into(), i);
        }
    }

    /// The entry for `item`, making room when needed; `None` for a value
    /// that is not UTF-8 (not counted).
    #[inline]
    fn slot(
        &mut self,
        item: &[u8],
        cap: usize,
        by_bytes: bool,
        bounds: &mut Bounds,
    ) -> Option<&mut Tally> {
        let last = self.last;
        if self
            .entries
            .get(last)
            .is_some_and(|e| same(e.0.as_bytes(), item))
        {
            return Some(&mut self.entries[last].1);
        }
        self.slot_slow(item, cap, by_bytes, bounds)
    }

    /// [`Self::slot`] past the check of the entry hit last.
    #[inline(never)]
    fn slot_slow(
        &mut self,
        item: &[u8],
        cap: usize,
        by_bytes: bool,
        bounds: &mut Bounds,
    ) -> Option<&mut Tally> {
        if self.index.len() != self.entries.len() {
            self.reindex();
        }
        if let Some(&i) = self.index.get(item) {
            self.last = i;
            return Some(&mut self.entries[i].1);
        }
        self.new_slot(item, cap, by_bytes, bounds)
    }

    #[cold]
    fn new_slot(
        &mut self,
        item: &[u8],
        cap: usize,
        by_bytes: bool,
        bounds: &mut Bounds,
    ) -> Option<&mut Tally> {
        let item = std::str::from_utf8(item).ok()?;
        let mut t = Tally::default();
        if self.entries.len() >= cap.max(1) {
            let min = (0..self.entries.len()).min_by(|&a, &b| {
                let (ka, ta) = &self.entries[a];
                let (kb, tb) = &self.entries[b];
                Self::weight(ta, by_bytes)
                    .cmp(&Self::weight(tb, by_bytes))
                    .then_with(|| ka.cmp(kb))
            });
            if let Some(i) = min {
                self.moves = self.moves.wrapping_add(1);
                let (old_key, old) = self.entries.swap_remove(i);
                self.index.remove(old_key.as_bytes());
                if let Some((moved, _)) = self.entries.get(i) {
                    self.index.insert(moved.as_bytes().into(), i);
                }
                self.evicted += old.n;
                bounds.top_evictions += 1;
                let w = Self::weight(&old, by_bytes);
                t.err = w;
                if by_bytes {
                    t.bytes = w;
                } else {
                    t.n = w;
                }
            }
        }
        self.entries.push((item.to_owned(), t));
        let i = self.entries.len() - 1;
        self.index.insert(item.as_bytes().into(), i);
        self.last = i;
        Some(&mut self.entries[i].1)
    }

    /// Counts one transaction of `item` (`bucket`: its latency's
    /// [`SmallHist`] bucket). A run of one value takes the inline check of
    /// the entry hit last. Returns where it was counted (`u32::MAX`: not).
    #[inline(always)]
    fn count(
        &mut self,
        item: &[u8],
        error: bool,
        bucket: u16,
        cap: usize,
        bounds: &mut Bounds,
    ) -> u32 {
        let last = self.last;
        let t = match self.entries.get_mut(last) {
            Some(e) if same(e.0.as_bytes(), item) => Some(&mut e.1),
            _ => self.slot_slow(item, cap, false, bounds),
        };
        match t {
            Some(t) => {
                t.n += 1;
                t.errors += u64::from(error);
                t.lat.record_bucket(bucket);
                self.last as u32
            }
            None => u32::MAX,
        }
    }

    /// Adds bytes for `item` (talkers).
    fn bytes(&mut self, item: &[u8], bytes: u64, cap: usize, bounds: &mut Bounds) {
        if let Some(t) = self.slot(item, cap, true, bounds) {
            t.n += 1;
            t.bytes += bytes;
        }
    }

    /// Merges another sketch, keeping the `cap` heaviest.
    pub fn merge(&mut self, o: &TopK, cap: usize, by_bytes: bool, bounds: &mut Bounds) {
        let mut all: BTreeMap<String, Tally> =
            std::mem::take(&mut self.entries).into_iter().collect();
        for (k, t) in &o.entries {
            all.entry(k.clone()).or_default().add(t);
        }
        self.evicted += o.evicted;
        let mut v: Vec<(String, Tally)> = all.into_iter().collect();
        if v.len() > cap {
            v.sort_by(|a, b| {
                Self::weight(&b.1, by_bytes)
                    .cmp(&Self::weight(&a.1, by_bytes))
                    .then_with(|| a.0.cmp(&b.0))
            });
            for (_, t) in v.drain(cap..) {
                self.evicted += t.n;
                bounds.top_evictions += 1;
            }
        }
        self.entries = v;
        self.moves = self.moves.wrapping_add(1);
        self.reindex();
    }
}

/// Exact counts of a small set of labels (codes, types, methods, agents,
/// countries), bounded: labels past `cap` go to `other`. A short list
/// searched from the most recent hit: these sets hold a handful of values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Labels(pub Vec<(String, Tally)>);

impl PartialEq for Labels {
    fn eq(&self, o: &Labels) -> bool {
        fn sorted(l: &Labels) -> Vec<&(String, Tally)> {
            let mut v: Vec<&(String, Tally)> = l.0.iter().collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }
        sorted(self) == sorted(o)
    }
}

impl Labels {
    /// Adds `n` transactions (`errors` of them errors) to a label.
    pub fn add(&mut self, label: &str, n: u64, errors: u64) {
        match self.0.iter_mut().find(|e| e.0 == label) {
            Some(e) => {
                e.1.n += n;
                e.1.errors += errors;
            }
            None => self.0.push((
                label.to_owned(),
                Tally {
                    n,
                    errors,
                    ..Tally::default()
                },
            )),
        }
    }

    /// The tally of one label, if present.
    pub fn get(&self, label: &str) -> Option<&Tally> {
        self.0.iter().find(|e| e.0 == label).map(|e| &e.1)
    }

    #[inline(never)]
    fn find(
        &mut self,
        label: &[u8],
        hint: &mut u32,
        cap: usize,
        bounds: &mut Bounds,
    ) -> Option<usize> {
        match self.0.iter().position(|e| same(e.0.as_bytes(), label)) {
            Some(i) => {
                *hint = i as u32;
                Some(i)
            }
            None => self.add_label(label, hint, cap, bounds),
        }
    }

    #[cold]
    fn add_label(
        &mut self,
        label: &[u8],
        hint: &mut u32,
        cap: usize,
        bounds: &mut Bounds,
    ) -> Option<usize> {
        let label = std::str::from_utf8(label).ok()?;
        let label = if self.0.len() >= cap {
            bounds.labels += 1;
            "other"
        } else {
            label
        };
        if let Some(i) = self.0.iter().position(|e| e.0 == label) {
            return Some(i);
        }
        self.0.push((label.to_owned(), Tally::default()));
        let i = self.0.len() - 1;
        if label != "other" {
            *hint = i as u32;
        }
        Some(i)
    }

    /// Counts one transaction under `label` (`hint`: where to look first,
    /// updated on an exact hit), else under the entry it is counted under
    /// (`other` past `cap`); the latency's [`SmallHist`] bucket is recorded
    /// when given (methods). Returns where it was counted; `None` for a
    /// label that is not UTF-8 (not counted).
    #[inline(always)]
    fn count(
        &mut self,
        label: &[u8],
        hint: &mut u32,
        error: bool,
        bucket: Option<u16>,
        cap: usize,
        bounds: &mut Bounds,
    ) -> Option<usize> {
        let bump = |t: &mut Tally| {
            t.n += 1;
            t.errors += u64::from(error);
            if let Some(b) = bucket {
                t.lat.record_bucket(b);
            }
        };
        // The hint's entry counted through the reference its check took
        // (not looked up a second time by position).
        let h = *hint as usize;
        if let Some(e) = self.0.get_mut(h) {
            if same(e.0.as_bytes(), label) {
                bump(&mut e.1);
                return Some(h);
            }
        }
        let i = self.find(label, hint, cap, bounds)?;
        bump(&mut self.0.get_mut(i)?.1);
        Some(i)
    }

    fn merge(&mut self, o: &Labels) {
        for (k, t) in &o.0 {
            match self.0.iter_mut().find(|e| e.0 == *k) {
                Some(e) => e.1.add(t),
                None => self.0.push((k.clone(), t.clone())),
            }
        }
    }
}

/// One client of a key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Client {
    /// Transactions.
    pub n: u64,
    /// Of which errors.
    pub errors: u64,
    /// `client.geo.country_iso_code`, when known.
    pub country: Option<String>,
    /// `lat,lon` (0.1 degree), when known.
    pub place: Option<String>,
}

/// One slow transaction, kept whole.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Slow {
    /// `event.duration` in microseconds.
    pub us: u64,
    /// A one-line description (method and resource).
    pub what: String,
    /// The whole event as it was emitted.
    pub event: String,
}

impl Slow {
    /// The slowest first; equal durations by their event text, so the list
    /// kept is the same whichever worker saw which transaction and in what
    /// order the shards are merged.
    pub fn order(a: &Slow, b: &Slow) -> std::cmp::Ordering {
        b.us.cmp(&a.us).then_with(|| a.event.cmp(&b.event))
    }
}

/// TCP health of a server, from final flow reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TcpHealth {
    /// Final flow reports.
    pub flows: u64,
    /// Packets both ways.
    pub packets: u64,
    /// Bytes client to server.
    pub bytes_in: u64,
    /// Bytes server to client.
    pub bytes_out: u64,
    /// Retransmitted segments, both sides.
    pub retrans: u64,
    /// Out-of-order segments, both sides.
    pub ooo: u64,
    /// RST segments, both sides.
    pub resets: u64,
    /// Zero-window segments, both sides.
    pub zero_windows: u64,
    /// Bytes never captured (gaps), both sides.
    pub lost_bytes: u64,
    /// SYNs never answered.
    pub syn_unanswered: u64,
    /// SYNs answered by RST.
    pub syn_rejected: u64,
    /// Handshake RTT.
    pub rtt: Hist,
}

impl TcpHealth {
    fn merge(&mut self, o: &TcpHealth) {
        self.flows += o.flows;
        self.packets += o.packets;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.retrans += o.retrans;
        self.ooo += o.ooo;
        self.resets += o.resets;
        self.zero_windows += o.zero_windows;
        self.lost_bytes += o.lost_bytes;
        self.syn_unanswered += o.syn_unanswered;
        self.syn_rejected += o.syn_rejected;
        self.rtt.add(&o.rtt);
    }
}

/// Everything kept for one key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Transactions.
    pub requests: u64,
    /// Transactions with `status: Error`.
    pub errors: u64,
    /// Request bytes (client to server).
    pub bytes_in: u64,
    /// Response bytes (server to client).
    pub bytes_out: u64,
    /// `event.duration`, microseconds.
    pub latency: Hist,
    /// `transaction.server_us`.
    pub server_time: Hist,
    /// `transaction.network_us`.
    pub network_time: Hist,
    /// Status codes (HTTP) and error codes (MySQL, Redis).
    pub codes: Labels,
    /// Response content types.
    pub content_types: Labels,
    /// Methods and commands.
    pub methods: Labels,
    /// User agents (parsed into browser and OS when the page is built).
    pub agents: Labels,
    /// Countries (ISO code or `private` / `unknown`) of the clients past
    /// `max_clients`; tracked clients carry their own.
    pub countries: Labels,
    /// Clients by address.
    pub clients: Clients,
    /// Clients past `max_clients`: `[requests, errors]`.
    pub clients_other: [u64; 2],
    /// Locations (`lat,lon`, 0.1 degree) of the clients past `max_clients`.
    pub places: Labels,
    /// Top URLs, queries, commands.
    pub top: TopK,
    /// Slowest transactions, slowest first.
    pub slowest: Vec<Slow>,
    /// The shortest duration that may still enter `slowest` (0 while it
    /// has room, or when not known, as after reading back).
    #[serde(skip)]
    pub(crate) slow_floor: u64,
    /// TCP health from final flow reports.
    pub tcp: TcpHealth,
    /// Top talkers (client address by bytes) from final flow reports.
    pub talkers: TopK,
    /// Where the last transaction's labels were found.
    #[serde(skip)]
    pub(crate) hints: LabelHints,
    /// Transactions counted here whose events sampling left out
    /// (`sample_ok`): the counts above include them.
    #[serde(default)]
    pub sampled_out: u64,
}

/// Positions of the labels hit last in a [`Stats`]' lists (checked before
/// use: a wrong hint costs one comparison, never a wrong count).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LabelHints {
    /// The last numeric code and its exact entry in `codes`.
    code: Option<(u32, u32)>,
    codes: u32,
    content_type: u32,
    method: u32,
    agent: u32,
    country: u32,
    place: u32,
    /// Position of the last client in `clients` (the NDJSON path's memo;
    /// the worker's is the flow's [`AggHint`]).
    client: u32,
}

/// Byte equality for the short values of label lists, without a call to
/// `memcmp` for the common lengths.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if (8..=16).contains(&n) {
        let w =
            |x: &[u8], at: usize| u64::from_ne_bytes(x[at..at + 8].try_into().unwrap_or([0; 8]));
        return w(a, 0) == w(b, 0) && w(a, n - 8) == w(b, n - 8);
    }
    if (4..8).contains(&n) {
        let w =
            |x: &[u8], at: usize| u32::from_ne_bytes(x[at..at + 4].try_into().unwrap_or([0; 4]));
        return w(a, 0) == w(b, 0) && w(a, n - 4) == w(b, n - 4);
    }
    if n < 4 {
        // 0 to 3 bytes (`GET`): the first, middle and last byte cover them.
        return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
    }
    a == b
}

impl Stats {
    /// Adds another key's stats.
    pub fn merge(&mut self, o: &Stats, cfg: &AggConfig, bounds: &mut Bounds) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.latency.add(&o.latency);
        self.server_time.add(&o.server_time);
        self.network_time.add(&o.network_time);
        self.codes.merge(&o.codes);
        self.content_types.merge(&o.content_types);
        self.methods.merge(&o.methods);
        self.agents.merge(&o.agents);
        self.countries.merge(&o.countries);
        self.clients.merge(&o.clients);
        self.clients_other[0] += o.clients_other[0];
        self.clients_other[1] += o.clients_other[1];
        self.places.merge(&o.places);
        self.top.merge(&o.top, cfg.top_entries, false, bounds);
        self.slowest.extend(o.slowest.iter().cloned());
        self.slowest.sort_by(Slow::order);
        self.slowest.truncate(cfg.slowest);
        self.slow_floor = 0;
        self.tcp.merge(&o.tcp);
        self.talkers
            .merge(&o.talkers, cfg.top_entries, true, bounds);
        self.sampled_out += o.sampled_out;
    }
}

/// Nanoseconds a second.
const NANOS: u64 = 1_000_000_000;

/// Aggregator generations: a flow's [`AggHint`] names the generation its
/// slot belongs to, and every aggregator (and every re-indexing of one)
/// gets a new one.
static EPOCH: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

fn fresh_epoch() -> u32 {
    loop {
        let e = EPOCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if e != 0 {
            return e;
        }
    }
}

/// One worker's (or one file's) aggregate.
#[derive(Debug, Default)]
pub struct Aggregator {
    /// This aggregator's generation (0: none yet; see [`AggHint`]).
    epoch: u32,
    /// The bounds in force.
    pub config: AggConfig,
    /// Bounds hit.
    pub bounds: Bounds,
    /// Stats, one slot per key.
    slots: Vec<(Key, Stats)>,
    /// Slot of each key.
    by_key: AHashMap<Key, usize>,
    /// Slot by (start, server, proto): the hot path's one lookup.
    index: AHashMap<(u64, SocketAddr, &'static str), usize>,
    /// Interned strings (servers, groups, protocols), so the hot path
    /// allocates only for new keys.
    intern: AHashMap<String, Arc<str>>,
    /// The hot path's key of each slot (`None` for the `other` server and
    /// for slots only merged in so far), to check a hint or `last` against.
    fast: Vec<Option<(u64, SocketAddr, &'static str)>>,
    /// The last slot used: consecutive transactions mostly share it.
    last: Option<usize>,
}

impl Clone for Aggregator {
    fn clone(&self) -> Self {
        Aggregator {
            // A copy is another aggregator: hints into the original are not
            // hints into it.
            epoch: 0,
            config: self.config,
            bounds: self.bounds.clone(),
            slots: self.slots.clone(),
            by_key: self.by_key.clone(),
            index: self.index.clone(),
            intern: self.intern.clone(),
            fast: self.fast.clone(),
            last: self.last,
        }
    }
}

/// The serialised form: config, bounds and `[key, stats]` pairs.
#[derive(Serialize)]
struct WireRef<'a> {
    config: &'a AggConfig,
    bounds: &'a Bounds,
    stats: &'a [(Key, Stats)],
}

#[derive(Deserialize)]
struct Wire {
    config: AggConfig,
    bounds: Bounds,
    stats: Vec<(Key, Stats)>,
}

impl Serialize for Aggregator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireRef {
            config: &self.config,
            bounds: &self.bounds,
            stats: &self.slots,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Aggregator {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let mut a = Aggregator::new(w.config);
        a.bounds = w.bounds;
        for (k, v) in w.stats {
            a.insert(k, v);
        }
        Ok(a)
    }
}

/// The protocol names the report keys by, interned without allocating:
/// every registered decoder's `NAME` and the flow-level transports; any
/// other name is `other`. (A test in `proto::registry` checks that every
/// registered protocol is listed here, so a new one is never `other`.)
pub fn static_proto(p: &str) -> &'static str {
    const FLOW_LEVEL: &[&str] = &["tcp", "udp", "ipv6-icmp", "flow"];
    PROTOCOLS
        .iter()
        .chain(FLOW_LEVEL)
        .copied()
        .find(|n| *n == p)
        .unwrap_or("other")
}

/// Every registered decoder's `NAME` (a test in `proto::registry` keeps
/// the list whole), in the order of the report's tabs: HTTP, MySQL and
/// Redis, which have panels of their own, first.
pub const PROTOCOLS: &[&str] = &[
    "http",
    "mysql",
    "redis",
    "pgsql",
    "dns",
    "icmp",
    "tls",
    "memcache",
    "mongodb",
    "amqp",
    "cassandra",
    "thrift",
    "nfs",
    "sip",
    "dhcpv4",
];

impl TxFold for Aggregator {
    #[inline(never)]
    fn fold_tx<'e>(
        &mut self,
        tx: &crate::event::Transaction<'_>,
        flow: &crate::event::FlowContext,
        hint: Option<&mut AggHint>,
        kept: bool,
        times: (u64, u64),
        event: &dyn Fn() -> Option<&'e [u8]>,
    ) {
        self.add_emitted(Emitted::with_times(tx, flow, times), hint, kept, event);
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

impl Aggregator {
    /// An empty aggregate with these bounds.
    pub fn new(config: AggConfig) -> Self {
        Aggregator {
            config,
            ..Aggregator::default()
        }
    }

    fn interned(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.intern.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.intern.insert(s.to_owned(), Arc::clone(&a));
        a
    }

    /// The interval start (seconds) of a packet time (nanoseconds).
    pub fn interval_of(&self, ts: u64) -> u64 {
        let i = self.config.interval_secs.max(1);
        ts / NANOS / i * i
    }

    /// Every key and its stats (in no particular order).
    pub fn stats(&self) -> impl Iterator<Item = (&Key, &Stats)> {
        self.slots.iter().map(|(k, s)| (k, s))
    }

    /// The stats of one key.
    pub fn get(&self, k: &Key) -> Option<&Stats> {
        self.by_key.get(k).map(|&i| &self.slots[i].1)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn insert(&mut self, k: Key, v: Stats) -> usize {
        let i = self.slots.len();
        self.by_key.insert(k.clone(), i);
        self.slots.push((k, v));
        self.fast.push(None);
        i
    }

    /// The slot of a record, through `hint` (the flow's memo) or the last
    /// key when they still match, else one hash lookup on a `Copy` key,
    /// else (a new key) by name.
    #[inline(always)]
    fn slot_for<'g>(
        &mut self,
        ts: u64,
        proto: &str,
        key: impl FnOnce() -> (SocketAddr, Option<&'g str>),
        hint: Option<&mut AggHint>,
    ) -> usize {
        let name = (proto.as_ptr() as usize, proto.len());
        if let Some(h) = hint.as_deref() {
            // The flow's server and group never change: its generation,
            // interval and protocol name say the slot is still its own.
            // (`ts` in the slot's interval: `interval_of(ts) == start`
            // without dividing or multiplying: the memo holds the interval
            // in nanoseconds.)
            if h.epoch == self.epoch
                && self.epoch != 0
                && ts.wrapping_sub(h.start_ns) < h.len_ns
                && h.proto == name
            {
                return h.slot as usize;
            }
        }
        let start = self.interval_of(ts);
        let (server, group) = key();
        self.slot_for_cold(start, server, group, proto, name, hint)
    }

    #[inline(never)]
    fn slot_for_cold(
        &mut self,
        start: u64,
        server: SocketAddr,
        group: Option<&str>,
        proto: &str,
        name: (usize, usize),
        hint: Option<&mut AggHint>,
    ) -> usize {
        if self.epoch == 0 {
            self.epoch = fresh_epoch();
        }
        let proto = static_proto(proto);
        let fast = Some((start, server, proto));
        let matches = |slots: &[(Key, Stats)], i: usize| slots[i].0.group.as_deref() == group;
        let i = match self.last {
            Some(i) if self.fast[i] == fast && matches(&self.slots, i) => i,
            _ => self.slot_lookup(start, server, group, proto),
        };
        if let (Some(h), true) = (hint, self.fast[i] == fast) {
            *h = AggHint {
                epoch: self.epoch,
                slot: i as u32,
                start_ns: start.saturating_mul(NANOS),
                len_ns: self.config.interval_secs.max(1).saturating_mul(NANOS),
                proto: name,
                client: h.client,
                // Checked against the slot it names.
                labels: h.labels,
            };
        }
        i
    }

    fn slot_lookup(
        &mut self,
        start: u64,
        server: SocketAddr,
        group: Option<&str>,
        proto: &'static str,
    ) -> usize {
        if let Some(&i) = self.index.get(&(start, server, proto)) {
            if self.slots[i].0.group.as_deref() == group {
                self.last = Some(i);
                return i;
            }
        }
        let over = self.slots.len() >= self.config.max_keys;
        let server_name = if over {
            self.bounds.keys += 1;
            self.interned("other")
        } else {
            self.interned(&server.to_string())
        };
        let key = Key {
            start,
            group: group.map(|g| self.interned(g)),
            server: server_name,
            proto: self.interned(proto),
        };
        let i = match self.by_key.get(&key) {
            Some(&i) => i,
            None => self.insert(key, Stats::default()),
        };
        if !over {
            self.index.insert((start, server, proto), i);
            self.fast[i] = Some((start, server, proto));
            self.last = Some(i);
        }
        i
    }

    /// Folds one transaction in. `event` gives the whole event JSON, asked
    /// for only when the transaction is among the slowest.
    pub fn add_tx(&mut self, tx: &TxSummary<'_>, event: impl FnOnce() -> Option<String>) {
        self.add_tx_hinted(tx, None, event);
    }

    /// [`Self::add_tx`] with the flow's memo (`hint`): where consecutive
    /// transactions of a flow share their key and client.
    #[inline]
    pub fn add_tx_hinted(
        &mut self,
        tx: &TxSummary<'_>,
        hint: Option<&mut AggHint>,
        event: impl FnOnce() -> Option<String>,
    ) {
        self.fold(tx, hint, true, || {
            event().map(|e| Cow::Owned(e.into_bytes()))
        });
    }

    /// The worker's path: folds in a transaction as it is emitted, read
    /// straight from its typed data ([`Emitted`]), with the flow's memo
    /// (`hint`; `None` for a transaction not keyed by the flow's server).
    /// `kept`: false when sampling left its event out (counted as
    /// [`Self::add_sampled_out`] does). `event` gives the whole event JSON
    /// as encoded (borrowed: copied only when the transaction is kept among
    /// the slowest). Inlined into the [`TxFold`] call, which is out of
    /// line: inlined into `TxSink::emit`, the fold's registers and stack
    /// made every emit dearer, with or without an aggregator.
    #[inline(always)]
    pub fn add_emitted<'e>(
        &mut self,
        tx: Emitted<'_, '_>,
        hint: Option<&mut AggHint>,
        kept: bool,
        event: impl FnOnce() -> Option<&'e [u8]>,
    ) {
        self.fold(&tx, hint, kept, || event().map(Cow::Borrowed));
    }

    /// Folds one transaction into its key's stats.
    #[inline(always)]
    fn fold<'a, 'e>(
        &mut self,
        tx: &impl Record<'a>,
        hint: Option<&mut AggHint>,
        kept: bool,
        event: impl FnOnce() -> Option<Cow<'e, [u8]>>,
    ) {
        let mut hint = hint;
        let i = self.slot_for(
            tx.ts(),
            tx.proto(),
            || (tx.server(), tx.group()),
            hint.as_deref_mut(),
        );
        // Never 0 past `slot_for` (0: no slots handed out yet).
        let epoch = self.epoch;
        let cfg = &self.config;
        let bounds = &mut self.bounds;
        let s = &mut self.slots[i].1;
        let us = tx.duration_ns() / 1_000;
        let err = tx.error();
        let (request_bytes, response_bytes) = tx.bytes();
        s.requests += 1;
        s.errors += u64::from(err);
        s.bytes_in += request_bytes;
        s.bytes_out += response_bytes;
        s.sampled_out += u64::from(!kept);
        s.latency.record(us);
        let (server_us, network_us) = tx.split_us();
        if let Some(v) = server_us {
            s.server_time.record(v);
        }
        if let Some(v) = network_us {
            s.network_time.record(v);
        }
        // The small histograms' bucket, once for the method and the top entry.
        let bucket = SmallHist::bucket(us);
        // A transaction repeating the flow's previous one's labels counts
        // them where that one did, when those places still hold them.
        let at = match hint.as_deref() {
            Some(h) if tx.repeat() => {
                let l = &h.labels;
                (l.epoch == epoch
                    && l.slot == i as u32
                    && l.top_moves == s.top.moves
                    && l.err == err)
                    .then_some(*l)
            }
            _ => None,
        };
        if let Some(l) = at {
            let bump = |t: &mut Tally, b: Option<u16>| {
                t.n += 1;
                t.errors += u64::from(err);
                if let Some(b) = b {
                    t.lat.record_bucket(b);
                }
            };
            if let Some(e) = s.codes.0.get_mut(l.code as usize) {
                bump(&mut e.1, None);
            }
            if let Some(e) = s.content_types.0.get_mut(l.content_type as usize) {
                bump(&mut e.1, None);
            }
            if let Some(e) = s.methods.0.get_mut(l.method as usize) {
                bump(&mut e.1, Some(bucket));
            }
            if let Some(e) = s.agents.0.get_mut(l.agent as usize) {
                bump(&mut e.1, None);
            }
            if let Some(e) = s.top.entries.get_mut(l.top as usize) {
                bump(&mut e.1, Some(bucket));
            }
        } else {
            let l = Self::count_labels(s, tx, err, bucket, cfg, bounds);
            if let Some(h) = hint.as_deref_mut() {
                h.labels = LabelsAt {
                    epoch,
                    slot: i as u32,
                    ..l
                };
            }
        }
        // A client's country and place are its own: counted per client,
        // summed by country when the page is built.
        let hints = &mut s.hints;
        let memo = match hint.as_deref() {
            Some(h) => h.client,
            None => hints.client,
        };
        let client = tx.client();
        // The memo's client counted through the reference its check took.
        if let Some(c) = s.clients.hit(client, memo) {
            c.n += 1;
            c.errors += u64::from(err);
            // (A memo from the flow's hint is already there.)
            if hint.is_none() {
                hints.client = memo;
            }
        } else {
            Self::count_client(s, tx, client, memo, hint, err, cfg, bounds);
        }
        if us >= s.slow_floor && cfg.slowest > 0 {
            let d = tx.detail();
            Self::keep_slow(
                s,
                (d.method, d.resource, tx.proto()),
                us,
                cfg.slowest,
                event,
            );
        }
    }

    /// Counts a transaction's code, content type, method, user agent and
    /// top entry, found by value; returns where each was counted.
    #[inline(always)]
    fn count_labels<'a>(
        s: &mut Stats,
        tx: &impl Record<'a>,
        err: bool,
        bucket: u16,
        cfg: &AggConfig,
        bounds: &mut Bounds,
    ) -> LabelsAt {
        let cap = cfg.max_labels;
        let hints = &mut s.hints;
        let pos = |at: Option<usize>| at.map_or(u32::MAX, |at| at as u32);
        let d = tx.detail();
        let code = d.code;
        let code_at = match code {
            Code::None if err => s
                .codes
                .count(b"error", &mut hints.codes, err, None, cap, bounds),
            Code::None => None,
            Code::Num(n) => match hints.code {
                Some((c, at)) if c == n => {
                    let t = &mut s.codes.0[at as usize].1;
                    t.n += 1;
                    t.errors += u64::from(err);
                    Some(at as usize)
                }
                _ => {
                    let mut digits = [0u8; 20];
                    match code.as_str(&mut digits) {
                        Some(c) => {
                            let at = s.codes.count(
                                c.as_bytes(),
                                &mut hints.codes,
                                err,
                                None,
                                cap,
                                bounds,
                            );
                            hints.code = at
                                .filter(|&at| s.codes.0[at].0 == c)
                                .map(|at| (n, at as u32));
                            at
                        }
                        None => None,
                    }
                }
            },
            Code::Text(c) => s
                .codes
                .count(c.as_bytes(), &mut hints.codes, err, None, cap, bounds),
        };
        let content_type = d.content_type.and_then(|c| {
            s.content_types
                .count(c, &mut hints.content_type, err, None, cap, bounds)
        });
        let method = d.method.and_then(|m| {
            s.methods
                .count(m, &mut hints.method, err, Some(bucket), cap, bounds)
        });
        let agent = d
            .user_agent
            .and_then(|a| s.agents.count(a, &mut hints.agent, err, None, cap, bounds));
        let top = match d.resource {
            Some(r) => s.top.count(r, err, bucket, cfg.top_entries, bounds),
            None => u32::MAX,
        };
        LabelsAt {
            top_moves: s.top.moves,
            code: pos(code_at),
            content_type: pos(content_type),
            method: pos(method),
            agent: pos(agent),
            top,
            err,
            ..LabelsAt::default()
        }
    }

    /// Counts the client of a transaction whose memo did not hold it.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn count_client<'a>(
        s: &mut Stats,
        tx: &impl Record<'a>,
        client: std::net::IpAddr,
        memo: u32,
        hint: Option<&mut AggHint>,
        err: bool,
        cfg: &AggConfig,
        bounds: &mut Bounds,
    ) {
        let cap = cfg.max_labels;
        let hints = &mut s.hints;
        let at = s.clients.position(client, memo, cfg.max_clients, || {
            let (country, place) = tx.geo();
            Client {
                n: 0,
                errors: 0,
                country: country.map(str::to_owned),
                place: place.map(str::to_owned),
            }
        });
        if let Some(at) = at {
            hints.client = at;
            if let Some(h) = hint {
                h.client = at;
            }
        }
        match at.and_then(|at| s.clients.at(at)) {
            Some(c) => {
                c.n += 1;
                c.errors += u64::from(err);
            }
            None => {
                let (country, place) = tx.geo();
                Self::count_untracked(s, client, country, place, err, cap, bounds);
            }
        }
    }

    /// Counts a transaction of a client past `max_clients`.
    #[cold]
    #[inline(never)]
    fn count_untracked(
        s: &mut Stats,
        client: std::net::IpAddr,
        country: Option<&str>,
        place: Option<&str>,
        err: bool,
        cap: usize,
        bounds: &mut Bounds,
    ) {
        let hints = &mut s.hints;
        bounds.clients += 1;
        s.clients_other[0] += 1;
        s.clients_other[1] += u64::from(err);
        let country = country.unwrap_or_else(|| geo_label(client));
        s.countries.count(
            country.as_bytes(),
            &mut hints.country,
            err,
            None,
            cap,
            bounds,
        );
        if let Some(p) = place {
            s.places
                .count(p.as_bytes(), &mut hints.place, err, None, cap, bounds);
        }
    }

    /// Keeps `tx` among the slowest of its key.
    #[cold]
    fn keep_slow<'e>(
        s: &mut Stats,
        (method, resource, proto): (Option<&[u8]>, Option<&[u8]>, &str),
        us: u64,
        slowest: usize,
        event: impl FnOnce() -> Option<Cow<'e, [u8]>>,
    ) {
        let Some(ev) = event() else {
            return;
        };
        // A tie with the last kept that sorts after it (`Slow::order`: by
        // the event's text, bytewise) is left out before anything is
        // copied: runs of equal durations are common.
        if s.slowest.len() >= slowest
            && s.slowest
                .last()
                .is_some_and(|l| us < l.us || (us == l.us && *ev >= *l.event.as_bytes()))
        {
            return;
        }
        let Ok(ev) = String::from_utf8(ev.into_owned()) else {
            return;
        };
        fn text(b: Option<&[u8]>) -> Option<&str> {
            b.and_then(|b| std::str::from_utf8(b).ok())
        }
        let what = match (text(method), text(resource)) {
            (Some(m), Some(r)) if r.starts_with(m) => r.to_owned(),
            (Some(m), Some(r)) => format!("{m} {r}"),
            (m, r) => m.or(r).unwrap_or(proto).to_owned(),
        };
        let new = Slow {
            us,
            what,
            event: ev,
        };
        if s.slowest.len() >= slowest
            && s.slowest
                .last()
                .is_some_and(|l| Slow::order(&new, l).is_ge())
        {
            return; // a tie with the last kept, after it in the order
        }
        let at = s.slowest.partition_point(|x| Slow::order(x, &new).is_le());
        s.slowest.insert(at, new);
        s.slowest.truncate(slowest);
        s.slow_floor = match s.slowest.last() {
            Some(l) if s.slowest.len() >= slowest => l.us,
            _ => 0,
        };
    }

    /// Counts a transaction already folded in with [`Self::add_tx`] whose
    /// event sampling left out.
    pub fn add_sampled_out(&mut self, tx: &TxSummary<'_>) {
        let i = self.slot_for(tx.ts, tx.proto, || (tx.server, tx.group), None);
        self.slots[i].1.sampled_out += 1;
    }

    /// Transactions whose events sampling left out.
    pub fn sampled_out(&self) -> u64 {
        self.slots.iter().map(|(_, s)| s.sampled_out).sum()
    }

    /// Adds one key's stats (from a stored summary).
    pub fn add_stats(&mut self, k: Key, v: &Stats) {
        let cfg = self.config;
        let mut bounds = std::mem::take(&mut self.bounds);
        match self.by_key.get(&k) {
            Some(&i) => self.slots[i].1.merge(v, &cfg, &mut bounds),
            None => {
                let k = Key {
                    group: k.group.as_deref().map(|g| self.interned(g)),
                    server: self.interned(&k.server),
                    proto: self.interned(&k.proto),
                    start: k.start,
                };
                self.insert(k, v.clone());
            }
        }
        self.bounds = bounds;
    }

    /// Folds one flow report in: only final reports count (intermediate
    /// reports would count a flow's bytes again).
    pub fn add_flow(&mut self, f: &FlowSummary<'_>) {
        if !f.final_report {
            return;
        }
        let cap = self.config.top_entries;
        let i = self.slot_for(f.ts, f.proto, || (f.server, f.group), None);
        let bounds = &mut self.bounds;
        let s = &mut self.slots[i].1;
        let t = &mut s.tcp;
        t.flows += 1;
        t.packets += f.packets;
        t.bytes_in += f.bytes_in;
        t.bytes_out += f.bytes_out;
        if let Some(tcp) = &f.tcp {
            t.retrans += tcp.retrans;
            t.ooo += tcp.ooo;
            t.resets += tcp.resets;
            t.zero_windows += tcp.zero_windows;
            t.lost_bytes += tcp.lost_bytes;
            t.syn_unanswered += u64::from(tcp.syn_unanswered);
            t.syn_rejected += u64::from(tcp.syn_rejected);
            if let Some(r) = tcp.handshake_rtt_us {
                t.rtt.record(r);
            }
        }
        s.talkers.bytes(
            f.client_str().as_bytes(),
            f.bytes_in + f.bytes_out,
            cap,
            bounds,
        );
    }

    /// Adds another aggregate (another worker's, another file's).
    pub fn merge(&mut self, o: &Aggregator) {
        let cfg = self.config;
        let mut bounds = std::mem::take(&mut self.bounds);
        bounds.merge(&o.bounds);
        for (k, v) in &o.slots {
            match self.by_key.get(k) {
                Some(&i) => self.slots[i].1.merge(v, &cfg, &mut bounds),
                None => {
                    let k = Key {
                        group: k.group.as_deref().map(|g| self.interned(g)),
                        server: self.interned(&k.server),
                        proto: self.interned(&k.proto),
                        start: k.start,
                    };
                    self.insert(k, v.clone());
                }
            }
        }
        self.bounds = bounds;
    }

    /// Removes and returns the keys of intervals that start before `start`
    /// (the live page seals intervals this way); the bounds hit so far go
    /// with them.
    pub fn take_before(&mut self, start: u64) -> Aggregator {
        let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.slots)
            .into_iter()
            .partition(|(k, _)| k.start < start);
        self.by_key.clear();
        self.index.clear();
        self.fast.clear();
        self.last = None;
        // Slots move: every flow's hint is stale.
        self.epoch = 0;
        for (k, v) in keep {
            self.insert(k, v);
        }
        let mut out = Aggregator::new(self.config);
        out.bounds = std::mem::take(&mut self.bounds);
        for (k, v) in old {
            out.insert(k, v);
        }
        out
    }

    /// Drops the oldest intervals so that at most `ring_intervals` distinct
    /// interval starts remain (counted in `bounds.ring`).
    pub fn trim_ring(&mut self) {
        let starts: std::collections::BTreeSet<u64> =
            self.slots.iter().map(|(k, _)| k.start).collect();
        if starts.len() <= self.config.ring_intervals {
            return;
        }
        let cut = *starts
            .iter()
            .nth(starts.len() - self.config.ring_intervals)
            .expect("len checked");
        let dropped = self.take_before(cut);
        let n: std::collections::BTreeSet<u64> =
            dropped.slots.iter().map(|(k, _)| k.start).collect();
        self.bounds = dropped.bounds;
        self.bounds.ring += n.len() as u64;
    }

    /// Total transactions.
    pub fn requests(&self) -> u64 {
        self.slots.iter().map(|(_, s)| s.requests).sum()
    }
}

pub use crate::geoip::geo_label;

#[cfg(test)]
mod tests;
