//! What every decoder needs and none should write again: the bounded
//! transaction queues ([`TxQueue`] in order, [`KeyedTxQueue`] by id), the
//! request/response [`Leg`] record that becomes the common `transaction.*`
//! and byte fields, the shared `error.message` texts ([`errors`]) and the
//! [`Resync`] helper that skips to the next plausible message start after
//! a loss and counts what it skipped, and [`parse_in_place`], which reads
//! whole messages straight from a segment and keeps only a partial one.
//!
//! Nothing here knows a protocol; nothing here allocates per packet (the
//! queues reuse their storage). Bounds are the caller's settings
//! (`max_in_flight`); what a bound drops is returned to the caller, which
//! counts it under its own prefix.

use crate::event::Transaction;
use crate::time::Timestamp;
use std::collections::VecDeque;

/// The `error.message` texts every protocol uses (Packetbeat's wording).
pub mod errors {
    /// A request that got no response in time (or before the flow ended).
    pub const UNMATCHED_REQUEST: &str = "Unmatched request";
    /// A response that no request explains.
    pub const UNMATCHED_RESPONSE: &str = "Unmatched response";
    /// Bytes of the request were not captured.
    pub const LOSS_REQUEST: &str = "Packet loss while capturing the request";
    /// Bytes of the response were not captured.
    pub const LOSS_RESPONSE: &str = "Packet loss while capturing the response";
    /// The request could not be decoded (captured whole, but malformed).
    pub const INVALID_REQUEST: &str = "Invalid request";
    /// The response could not be decoded (captured whole, but malformed).
    pub const INVALID_RESPONSE: &str = "Invalid response";
    /// The request declares a size beyond what the protocol allows.
    pub const REQUEST_TOO_LARGE: &str = "Request too large";
    /// The response declares a size beyond what the protocol allows.
    pub const RESPONSE_TOO_LARGE: &str = "Response too large";
}

/// One side of a transaction: when its first and last byte were seen, how
/// many bytes it had, and whether some were lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leg {
    /// Time of the first byte.
    pub start: Timestamp,
    /// Time of the last byte seen.
    pub end: Timestamp,
    /// Application bytes on the wire.
    pub bytes: u64,
    /// Bytes of this leg were not captured.
    pub lost: bool,
}

impl Leg {
    /// A leg whose first byte was seen at `ts`.
    pub fn at(ts: Timestamp) -> Leg {
        Leg {
            start: ts,
            end: ts,
            bytes: 0,
            lost: false,
        }
    }

    /// `n` more bytes seen at `ts`.
    pub fn add(&mut self, ts: Timestamp, n: u64) {
        self.end = self.end.max(ts);
        self.bytes += n;
    }

    /// The loss text for this leg as a request or a response, if it lost bytes.
    pub fn loss(&self, request: bool) -> Option<&'static str> {
        match (self.lost, request) {
            (false, _) => None,
            (true, true) => Some(errors::LOSS_REQUEST),
            (true, false) => Some(errors::LOSS_RESPONSE),
        }
    }
}

/// The common part of a `kind` transaction from its legs: start and end
/// times of each side (`transaction.*`, `event.*`) and `source.bytes` /
/// `destination.bytes`. Status and error are the caller's.
pub fn transaction<'a>(
    kind: &'static str,
    request: Option<&Leg>,
    response: Option<&Leg>,
) -> Transaction<'a> {
    Transaction {
        kind,
        request_start: request.map(|l| l.start),
        request_end: request.map(|l| l.end),
        response_start: response.map(|l| l.start),
        response_end: response.map(|l| l.end),
        request_bytes: request.map_or(0, |l| l.bytes),
        response_bytes: response.map_or(0, |l| l.bytes),
        ..Transaction::default()
    }
}

/// `b` as text, invalid UTF-8 replaced by U+FFFD: what
/// `String::from_utf8_lossy` gives, with valid text (nearly all of it)
/// checked by the faster `std::str::from_utf8`.
pub fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// What a full [`TxQueue`] does with one more transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Keep its place as an untracked slot (answers to it are consumed in
    /// order, so later pairs stay right); new transactions are kept again
    /// as soon as there is room.
    Untrack,
    /// Like `Untrack`, but once one is untracked every later one is too
    /// until all untracked ones have been answered (HTTP).
    UntrackUntilDrained,
    /// Push out the oldest kept transaction (returned to be reported).
    EvictOldest,
}

/// What [`TxQueue::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed<T> {
    /// Queued.
    Kept,
    /// Not kept: the queue holds only its place; the value is handed back.
    Untracked(T),
    /// Queued, and the oldest kept transaction was pushed out to make room.
    Evicted(T),
}

/// The oldest slot of a [`TxQueue`].
#[derive(Debug, PartialEq, Eq)]
pub enum Head<T> {
    /// A kept transaction.
    Tx(T),
    /// Transactions beyond the bound, only counted (how many).
    Untracked(u64),
}

/// Transactions waiting for their answer, oldest first, at most `max`
/// kept; answers complete them in order (pipelining).
#[derive(Debug)]
pub struct TxQueue<T> {
    slots: VecDeque<Head<T>>,
    kept: usize,
    untracked: u64,
    max: usize,
    overflow: Overflow,
}

impl<T> TxQueue<T> {
    /// A queue keeping at most `max` (at least 1) transactions.
    pub fn new(max: usize, overflow: Overflow) -> Self {
        TxQueue {
            slots: VecDeque::new(),
            kept: 0,
            untracked: 0,
            max: max.max(1),
            overflow,
        }
    }

    /// Kept transactions (not counting untracked ones).
    pub fn kept(&self) -> usize {
        self.kept
    }

    /// True when nothing (kept or untracked) waits.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Untracked transactions waiting.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Queues a new transaction, subject to the bound.
    pub fn push(&mut self, tx: T) -> Pushed<T> {
        let full = self.kept >= self.max;
        let untrack = match self.overflow {
            Overflow::Untrack => full,
            Overflow::UntrackUntilDrained => full || self.untracked > 0,
            Overflow::EvictOldest => false,
        };
        if untrack {
            self.untracked += 1;
            match self.slots.back_mut() {
                Some(Head::Untracked(n)) => *n += 1,
                _ => self.slots.push_back(Head::Untracked(1)),
            }
            return Pushed::Untracked(tx);
        }
        let evicted = if full { self.pop_tx() } else { None };
        self.kept += 1;
        self.slots.push_back(Head::Tx(tx));
        match evicted {
            Some(old) => Pushed::Evicted(old),
            None => Pushed::Kept,
        }
    }

    /// The oldest slot.
    pub fn head(&self) -> Option<Head<&T>> {
        self.slots.front().map(|s| match s {
            Head::Tx(t) => Head::Tx(t),
            Head::Untracked(n) => Head::Untracked(*n),
        })
    }

    /// The oldest slot, mutable.
    pub fn head_mut(&mut self) -> Option<Head<&mut T>> {
        self.slots.front_mut().map(|s| match s {
            Head::Tx(t) => Head::Tx(t),
            Head::Untracked(n) => Head::Untracked(*n),
        })
    }

    /// The oldest slot if it is a kept transaction.
    pub fn front(&self) -> Option<&T> {
        match self.slots.front() {
            Some(Head::Tx(t)) => Some(t),
            _ => None,
        }
    }

    /// The oldest slot if it is a kept transaction, mutable.
    pub fn front_mut(&mut self) -> Option<&mut T> {
        match self.slots.front_mut() {
            Some(Head::Tx(t)) => Some(t),
            _ => None,
        }
    }

    /// The newest slot if it is a kept transaction, mutable.
    pub fn back_mut(&mut self) -> Option<&mut T> {
        match self.slots.back_mut() {
            Some(Head::Tx(t)) => Some(t),
            _ => None,
        }
    }

    /// Removes and returns the oldest slot if it is a kept transaction.
    pub fn pop_tx(&mut self) -> Option<T> {
        match self.slots.front() {
            Some(Head::Tx(_)) => match self.slots.pop_front() {
                Some(Head::Tx(t)) => {
                    self.kept -= 1;
                    Some(t)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Removes the oldest slot, whatever it is (a run of untracked ones
    /// comes out whole).
    pub fn pop_front(&mut self) -> Option<Head<T>> {
        let s = self.slots.pop_front()?;
        match &s {
            Head::Tx(_) => self.kept -= 1,
            Head::Untracked(n) => self.untracked -= n,
        }
        Some(s)
    }

    /// One answer for the untracked transaction at the head; false when
    /// the head is not untracked.
    pub fn answer_untracked(&mut self) -> bool {
        match self.slots.front_mut() {
            Some(Head::Untracked(n)) => {
                *n -= 1;
                self.untracked -= 1;
                if *n == 0 {
                    self.slots.pop_front();
                }
                true
            }
            _ => false,
        }
    }

    /// Forgets every untracked slot; returns how many there were.
    pub fn take_untracked(&mut self) -> u64 {
        self.slots.retain(|s| matches!(s, Head::Tx(_)));
        std::mem::take(&mut self.untracked)
    }

    /// The kept transactions, oldest first.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().filter_map(|s| match s {
            Head::Tx(t) => Some(t),
            Head::Untracked(_) => None,
        })
    }
}

/// Transactions matched by an id (DNS id, memcache opaque, Kafka
/// correlation id, MongoDB `responseTo`), at most `max`, oldest first.
///
/// A full queue pushes out its oldest entry (returned, to be reported as
/// unmatched). Lookups scan the entries: per-flow queues are short (the
/// bound is the protocol's `max_in_flight`), and a scan over a few dozen
/// ids is cheaper than hashing.
#[derive(Debug)]
pub struct KeyedTxQueue<K, T> {
    entries: VecDeque<(K, T)>,
    max: usize,
}

impl<K: PartialEq, T> KeyedTxQueue<K, T> {
    /// A queue keeping at most `max` (at least 1) transactions.
    pub fn new(max: usize) -> Self {
        KeyedTxQueue {
            entries: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues `tx` under `key`; returns the entry pushed out when full.
    /// A key already waiting is kept too (a retransmitted query): `take`
    /// finds the oldest first.
    pub fn push(&mut self, key: K, tx: T) -> Option<(K, T)> {
        let evicted = if self.entries.len() >= self.max {
            self.entries.pop_front()
        } else {
            None
        };
        self.entries.push_back((key, tx));
        evicted
    }

    /// Removes and returns the oldest transaction waiting under `key`.
    pub fn take(&mut self, key: &K) -> Option<T> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        self.entries.remove(i).map(|(_, t)| t)
    }

    /// The transaction waiting under `key`, if any.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut T> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, t)| t)
    }

    /// Whether a transaction waits under `key`.
    pub fn contains(&self, key: &K) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// The waiting transactions, oldest first.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut().map(|(_, t)| t)
    }

    /// Removes and returns the oldest entry for which `pred` holds (call
    /// in a loop to remove them all).
    pub fn take_where(&mut self, pred: impl Fn(&K, &T) -> bool) -> Option<(K, T)> {
        let i = self.entries.iter().position(|(k, t)| pred(k, t))?;
        self.entries.remove(i)
    }

    /// Removes and returns the oldest entry when `expired` says so (call
    /// in a loop on `tick`), or unconditionally with `|_| true` (on close).
    pub fn pop_expired(&mut self, expired: impl Fn(&T) -> bool) -> Option<(K, T)> {
        if self.entries.front().is_some_and(|(_, t)| expired(t)) {
            self.entries.pop_front()
        } else {
            None
        }
    }
}

/// Where a direction that lost sync resumes: scans for the next plausible
/// message start and counts `<prefix>.resyncs` and
/// `<prefix>.resync_skipped_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Resync {
    /// Counter of successful resyncs.
    pub resyncs: &'static str,
    /// Counter of bytes skipped while looking.
    pub skipped: &'static str,
    /// Bytes at the end of a chunk without a start that are kept for the
    /// next scan (a start may straddle two chunks); 0 keeps nothing.
    pub keep: usize,
}

/// The result of [`Resync::scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// A message may start at this offset: parsing resumes there.
    Found(usize),
    /// No start: this many leading bytes are dropped (the rest is kept).
    NotFound(usize),
}

impl Resync {
    /// Scans `data` with `find` (the protocol's "where could a message
    /// start" test) and counts the result into `out`.
    pub fn scan(
        &self,
        data: &[u8],
        find: impl FnOnce(&[u8]) -> Option<usize>,
        out: &mut super::TxSink<'_>,
    ) -> Scan {
        match find(data) {
            Some(off) => {
                out.count(self.resyncs, 1);
                out.count(self.skipped, off as u64);
                Scan::Found(off)
            }
            None => {
                let drop = data.len() - data.len().min(self.keep);
                out.count(self.skipped, drop as u64);
                Scan::NotFound(drop)
            }
        }
    }
}

/// Runs `parse` over one direction's next bytes, reading whole messages in
/// place from `data` when nothing is held back, so only a message cut by
/// the segment's end is copied into `held`. `parse` returns how many bytes
/// it consumed (more than it was given counts as all of them).
pub fn parse_in_place(held: &mut Vec<u8>, data: &[u8], mut parse: impl FnMut(&[u8]) -> usize) {
    if held.is_empty() {
        let used = parse(data).min(data.len());
        held.extend_from_slice(&data[used..]);
    } else {
        held.extend_from_slice(data);
        let used = parse(held).min(held.len());
        held.drain(..used);
    }
}

/// Column names then rows as CSV lines (Packetbeat's `response` text).
pub fn csv(columns: &[String], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let mut line = |fields: &[String]| {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if f.contains([',', '"', '\n', '\r']) {
                out.push('"');
                out.push_str(&f.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(f);
            }
        }
        out.push('\n');
    };
    if !columns.is_empty() {
        line(columns);
    }
    for r in rows {
        line(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole messages come straight from the segment; a cut one is held
    /// and completed by the next segment, whatever the split.
    #[test]
    fn parse_in_place_holds_only_the_partial_message() {
        // Messages are "<len digit><payload>", e.g. "3abc".
        fn parse(b: &[u8], seen: &mut Vec<Vec<u8>>) -> usize {
            let mut pos = 0;
            while let Some(&n) = b.get(pos) {
                let n = (n - b'0') as usize;
                let Some(m) = b.get(pos + 1..pos + 1 + n) else {
                    break;
                };
                seen.push(m.to_vec());
                pos += 1 + n;
            }
            pos
        }
        let stream = b"3abc1x02yz4wxyz";
        for cut in 0..=stream.len() {
            let mut held = Vec::new();
            let mut seen = Vec::new();
            parse_in_place(&mut held, &stream[..cut], |b| parse(b, &mut seen));
            let held_after_first = held.len();
            parse_in_place(&mut held, &stream[cut..], |b| parse(b, &mut seen));
            let want: [&[u8]; 5] = [b"abc", b"x", b"", b"yz", b"wxyz"];
            assert_eq!(seen, want, "cut at {cut}");
            assert!(held.is_empty(), "cut at {cut}: {held:?}");
            assert!(
                held_after_first <= 5,
                "only the cut message is held (cut at {cut})"
            );
        }
        let mut held = Vec::new();
        parse_in_place(&mut held, b"abc", |b| b.len() + 10);
        assert!(
            held.is_empty(),
            "a parser claiming too much consumes everything"
        );
    }

    fn kept<T: Clone>(q: &mut TxQueue<T>) -> Vec<T> {
        q.iter_mut().map(|t| t.clone()).collect()
    }

    #[test]
    fn untrack_keeps_places_and_takes_new_ones_when_there_is_room() {
        let mut q = TxQueue::new(1, Overflow::Untrack);
        assert_eq!(q.push('a'), Pushed::Kept);
        assert_eq!(q.push('b'), Pushed::Untracked('b'));
        assert_eq!(q.pop_tx(), Some('a'));
        // Room again: 'c' is kept behind the untracked 'b'.
        assert_eq!(q.push('c'), Pushed::Kept);
        assert_eq!(q.head(), Some(Head::Untracked(1)));
        assert!(q.answer_untracked());
        assert_eq!(q.front(), Some(&'c'));
        assert_eq!((q.kept(), q.untracked()), (1, 0));
    }

    #[test]
    fn untrack_until_drained_untracks_everything_behind_the_first() {
        let mut q = TxQueue::new(1, Overflow::UntrackUntilDrained);
        assert_eq!(q.push(1), Pushed::Kept);
        assert_eq!(q.push(2), Pushed::Untracked(2));
        assert_eq!(q.pop_tx(), Some(1));
        assert_eq!(q.push(3), Pushed::Untracked(3));
        assert_eq!(q.head(), Some(Head::Untracked(2)));
        assert_eq!(q.take_untracked(), 2);
        assert!(q.is_empty());
        assert_eq!(q.push(4), Pushed::Kept);
    }

    #[test]
    fn evict_oldest_returns_what_it_pushed_out() {
        let mut q = TxQueue::new(2, Overflow::EvictOldest);
        q.push(1);
        q.push(2);
        assert_eq!(q.push(3), Pushed::Evicted(1));
        assert_eq!(kept(&mut q), vec![2, 3]);
        assert_eq!(q.kept(), 2);
    }

    #[test]
    fn keyed_queue_matches_by_id_and_evicts_the_oldest() {
        let mut q = KeyedTxQueue::new(2);
        assert!(q.push(7u16, "a").is_none());
        assert!(q.push(9, "b").is_none());
        assert_eq!(q.push(7, "c"), Some((7, "a")));
        assert_eq!(q.take(&9), Some("b"));
        assert_eq!(q.take(&9), None);
        assert_eq!(q.pop_expired(|t| *t == "x"), None);
        assert_eq!(q.pop_expired(|_| true), Some((7, "c")));
        assert!(q.is_empty());
    }

    #[test]
    fn legs_become_the_common_fields() {
        let mut req = Leg::at(10);
        req.add(12, 5);
        let mut resp = Leg::at(20);
        resp.add(25, 7);
        resp.lost = true;
        let t = transaction("x", Some(&req), Some(&resp));
        assert_eq!((t.request_start, t.request_end), (Some(10), Some(12)));
        assert_eq!((t.response_start, t.response_end), (Some(20), Some(25)));
        assert_eq!((t.request_bytes, t.response_bytes), (5, 7));
        assert_eq!(resp.loss(false), Some(errors::LOSS_RESPONSE));
        assert_eq!(req.loss(true), None);
        let t = transaction("x", None, Some(&resp));
        assert_eq!((t.request_start, t.request_bytes), (None, 0));
    }
}
