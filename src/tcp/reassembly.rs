//! One direction's byte-stream reassembly, bounded.
//!
//! A [`Stream`] turns the segments one side sent into in-order
//! [`Delivery::Data`], [`Delivery::Gap`] for bytes that were never captured,
//! and one [`Delivery::End`]. It does not look at flags beyond SYN and FIN
//! (the connection in `mod.rs` handles handshake, RST and metrics that need
//! both directions) and never interprets the payload.
//!
//! Sequence numbers are turned into 64-bit offsets relative to the first
//! data byte (ISN + 1 when the SYN was seen, else the first sequence number
//! seen carrying data or FIN), computed as a signed 32-bit distance from the
//! next expected byte, so wrap-around at 2^32 is invisible.
//!
//! Out-of-order data is copied into a `Vec` of non-overlapping,
//! non-adjacent pieces sorted by offset. Adjacent pieces are merged, so the
//! number of pieces equals the number of holes, which is bounded by
//! `max_holes` (32 by default): a linear scan of a few contiguous entries
//! beats a `BTreeMap`'s pointer chasing and per-node allocation at that
//! size, and inserting or removing in the middle moves at most a few
//! hundred bytes (the design smoltcp's assembler uses too, with a fixed
//! array). Bytes already delivered are not kept, so an overlap is compared
//! with the first copy only while that copy is still buffered.

use super::metrics::DirMetrics;
use super::Delivery;
use crate::flow::Dir;
use crate::stats::Counters;
use crate::time::Timestamp;

/// The delivery callback as the connection receives it.
pub(crate) type DeliverFn<'d> = dyn FnMut(Dir, Delivery<'_>, Timestamp) + 'd;

/// Per-call context: where deliveries, counters and this side's metrics go.
pub(crate) struct Ctx<'a, 'd> {
    /// The direction of the stream being fed.
    pub dir: Dir,
    /// Packet time of the segment being processed.
    pub ts: Timestamp,
    /// The worker's counters.
    pub counters: &'a mut Counters,
    /// Metrics of the side that sends this stream.
    pub metrics: &'a mut DirMetrics,
    /// The session callback.
    pub deliver: &'a mut DeliverFn<'d>,
}

impl Ctx<'_, '_> {
    fn data(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            (self.deliver)(self.dir, Delivery::Data(bytes), self.ts);
        }
    }

    fn gap(&mut self, n: u64) {
        if n > 0 {
            self.counters.add("tcp.gap_bytes", n);
            self.metrics.gap_bytes += n;
            (self.deliver)(self.dir, Delivery::Gap(n), self.ts);
        }
    }
}

/// Bounds and thresholds for one stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Out-of-order bytes buffered before the oldest hole is given up.
    pub max_ooo_bytes: usize,
    /// Holes before the oldest is given up.
    pub max_holes: usize,
    /// An ACK passing bytes never seen gives them up only once it is older
    /// than this (the handshake RTT, 3 ms when unknown), since a mirror may
    /// show an ACK just before the data it acknowledges.
    pub ooo_threshold_ns: u64,
}

/// The fields of a segment the stream needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegIn<'p> {
    /// Sequence number.
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// Captured payload.
    pub payload: &'p [u8],
    /// Payload length on the wire (at least `payload.len()`).
    pub wire_len: u64,
}

/// Buffered out-of-order bytes starting at relative offset `start`.
#[derive(Debug)]
struct Piece {
    start: u64,
    data: Vec<u8>,
}

impl Piece {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
}

/// `payload[a - s .. b - s]` where `payload` starts at offset `s`; empty when
/// out of bounds (never panics).
fn sub(payload: &[u8], s: i64, a: u64, b: u64) -> &[u8] {
    let lo = usize::try_from(a as i64 - s).unwrap_or(usize::MAX);
    let hi = usize::try_from(b as i64 - s).unwrap_or(0);
    payload.get(lo..hi).unwrap_or(&[])
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    /// Sequence number of relative offset 0.
    base: Option<u32>,
    /// Offset of the next byte to deliver (everything below was delivered or gapped).
    next: u64,
    /// Highest end offset seen on any segment (captured or not).
    high: u64,
    /// Buffered out-of-order data (sorted, non-overlapping, non-adjacent, all after `next`).
    pieces: Vec<Piece>,
    /// Sum of the pieces' lengths.
    ooo_bytes: usize,
    /// Offset the FIN occupies (one past the last data byte).
    fin: Option<u64>,
    /// A SYN was seen.
    syn_seen: bool,
    /// `End` was delivered.
    ended: bool,
    /// Highest offset the peer acknowledged (0 when none).
    ack_to: u64,
    /// When `ack_to` first went beyond everything seen.
    ack_ts: Timestamp,
}

/// ACKs further ahead of the captured data than this are ignored.
const MAX_ACK_AHEAD: i64 = 1 << 30;

impl Stream {
    /// Whether any data, SYN or FIN fixed this stream's sequence base.
    pub fn started(&self) -> bool {
        self.base.is_some()
    }

    /// Whether `End` was delivered.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Bytes currently buffered out of order.
    pub fn buffered_bytes(&self) -> usize {
        self.ooo_bytes
    }

    /// Relative offset of `seq`: the signed 32-bit distance from `next`.
    fn rel(&self, seq: u32) -> Option<i64> {
        let base = self.base?;
        let anchor = base.wrapping_add(self.next as u32);
        Some(self.next as i64 + i64::from(seq.wrapping_sub(anchor) as i32))
    }

    /// Feeds one segment sent on this stream.
    pub fn segment(&mut self, seg: SegIn<'_>, lim: &Limits, cx: &mut Ctx<'_, '_>) {
        let data_seq = if seg.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let wire = seg.wire_len.max(seg.payload.len() as u64);
        if self.base.is_none() {
            if !(seg.syn || seg.fin || wire > 0) {
                return;
            }
            self.base = Some(data_seq);
        }
        let Some(s) = self.rel(data_seq) else {
            return;
        };
        let mut e = s + wire as i64;
        if seg.syn {
            self.syn_seen = true;
        }
        if seg.fin && self.fin.is_none() {
            self.fin = Some(e.max(self.next as i64) as u64);
        }
        if let Some(f) = self.fin {
            // Bytes beyond the FIN cannot be part of the stream.
            e = e.min(f as i64);
        }
        if !seg.syn && !seg.fin && wire <= 1 && s == self.high as i64 - 1 {
            // Keep-alive (or a repeated zero-window probe): the byte, if any,
            // is garbage or already delivered.
            cx.metrics.keep_alives = cx.metrics.keep_alives.saturating_add(1);
            return;
        }
        if e > s {
            if e > self.high as i64 {
                self.high = e as u64;
            }
            if !self.ended && e > self.next as i64 {
                let cap_end = (s + seg.payload.len() as i64).min(e);
                if s <= self.next as i64 {
                    self.deliver_in_order(s, cap_end, e as u64, seg.payload, cx);
                } else {
                    self.insert(s as u64, cap_end, seg.payload, cx);
                    self.enforce_bounds(lim, cx);
                }
            }
        }
        self.check_acked(lim, cx);
        self.maybe_end(cx);
    }

    /// Bytes of a segment (sequence number `seq`, SYN flag, `wire` payload
    /// bytes) that were seen before: delivered (or given up) or buffered.
    /// Used for `retransmitted_bytes` before the segment is applied.
    pub fn seen_bytes(&self, seq: u32, syn: bool, wire: u64) -> u64 {
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let Some(s) = self.rel(data_seq) else {
            return 0;
        };
        let e = s + wire as i64;
        let mut seen = (e.min(self.next as i64) - s).max(0) as u64;
        for p in &self.pieces {
            let lo = s.max(p.start as i64);
            let hi = e.min(p.end() as i64);
            if hi > lo {
                seen += (hi - lo) as u64;
            }
        }
        seen
    }

    /// Delivers `[next, e)` of a segment starting at `s <= next`, interleaving
    /// buffered pieces (the first copy wins where they overlap). The hot
    /// path (nothing buffered) hands out a sub-slice of the payload.
    fn deliver_in_order(
        &mut self,
        s: i64,
        cap_end: i64,
        e: u64,
        payload: &[u8],
        cx: &mut Ctx<'_, '_>,
    ) {
        let mut cur = self.next;
        while cur < e {
            match self.pieces.first().map(|p| p.start) {
                Some(ps) if ps < e => {
                    if ps > cur {
                        Self::emit_payload(s, cap_end, cur, ps, payload, cx);
                        cur = ps;
                    }
                    let p = self.pieces.remove(0);
                    self.ooo_bytes = self.ooo_bytes.saturating_sub(p.data.len());
                    Self::compare(&p, s, cap_end, payload, cx);
                    cur = Self::deliver_piece(&p, cur, cx);
                }
                _ => {
                    Self::emit_payload(s, cap_end, cur, e, payload, cx);
                    cur = e;
                }
            }
            self.next = cur;
        }
        self.drain(cx);
    }

    /// Delivers `[a, b)` of a payload that starts at `s` and was captured up
    /// to `cap_end`; the uncaptured part (snaplen) is a gap.
    fn emit_payload(s: i64, cap_end: i64, a: u64, b: u64, payload: &[u8], cx: &mut Ctx<'_, '_>) {
        let cap = (cap_end.max(0) as u64).max(a).min(b);
        cx.data(sub(payload, s, a, cap));
        cx.gap(b - cap);
    }

    /// Counts a mismatch when the captured payload and a buffered piece
    /// disagree where they overlap.
    fn compare(p: &Piece, s: i64, cap_end: i64, payload: &[u8], cx: &mut Ctx<'_, '_>) {
        let lo = (s.max(0) as u64).max(p.start);
        let hi = (cap_end.max(0) as u64).min(p.end());
        if hi > lo && sub(payload, s, lo, hi) != sub(&p.data, p.start as i64, lo, hi) {
            cx.counters.add("tcp.overlap_mismatches", 1);
        }
    }

    /// Delivers the part of `p` at or after `cur`; returns the new `cur`.
    fn deliver_piece(p: &Piece, cur: u64, cx: &mut Ctx<'_, '_>) -> u64 {
        let end = p.end();
        if end <= cur {
            return cur;
        }
        cx.data(sub(&p.data, p.start as i64, cur.max(p.start), end));
        end
    }

    /// Delivers buffered pieces that became contiguous with `next`.
    fn drain(&mut self, cx: &mut Ctx<'_, '_>) {
        while self.pieces.first().is_some_and(|p| p.start <= self.next) {
            let p = self.pieces.remove(0);
            self.ooo_bytes = self.ooo_bytes.saturating_sub(p.data.len());
            self.next = Self::deliver_piece(&p, self.next, cx);
        }
    }

    /// Buffers the captured part `[s, cap_end)` of a segment beyond `next`,
    /// keeping pieces sorted, non-overlapping and merged when adjacent.
    fn insert(&mut self, s: u64, cap_end: i64, payload: &[u8], cx: &mut Ctx<'_, '_>) {
        if cap_end <= s as i64 {
            return;
        }
        let end = cap_end as u64;
        let si = s as i64;
        let mut cur = s;
        let mut added = false;
        let i = self.pieces.partition_point(|p| p.end() < cur);
        while cur < end {
            let covering = self.pieces.get(i).is_some_and(|p| p.start <= cur);
            if covering {
                let (pstart, pend) = match self.pieces.get(i) {
                    Some(p) => (p.start, p.end()),
                    None => break,
                };
                if pend > cur {
                    let ov_end = pend.min(end);
                    if let Some(p) = self.pieces.get(i) {
                        if sub(payload, si, cur, ov_end) != sub(&p.data, pstart as i64, cur, ov_end)
                        {
                            cx.counters.add("tcp.overlap_mismatches", 1);
                        }
                    }
                    cur = ov_end;
                    if cur >= end {
                        break;
                    }
                }
                // Piece i ends exactly at `cur`: extend it.
                let next_start = self.pieces.get(i + 1).map_or(u64::MAX, |q| q.start);
                let new_end = next_start.min(end);
                let bytes = sub(payload, si, cur, new_end);
                if let Some(p) = self.pieces.get_mut(i) {
                    p.data.extend_from_slice(bytes);
                }
                self.ooo_bytes += bytes.len();
                added = true;
                cur = new_end;
                self.merge_with_next(i);
            } else {
                let next_start = self.pieces.get(i).map_or(u64::MAX, |q| q.start);
                let new_end = next_start.min(end);
                let bytes = sub(payload, si, cur, new_end);
                self.ooo_bytes += bytes.len();
                self.pieces.insert(
                    i,
                    Piece {
                        start: cur,
                        data: bytes.to_vec(),
                    },
                );
                added = true;
                cur = new_end;
                self.merge_with_next(i);
            }
        }
        if added {
            cx.counters.add("tcp.ooo_segments_buffered", 1);
        }
    }

    /// Merges piece `i + 1` into piece `i` when they touch.
    fn merge_with_next(&mut self, i: usize) {
        let touches = match (self.pieces.get(i), self.pieces.get(i + 1)) {
            (Some(a), Some(b)) => a.end() >= b.start,
            _ => false,
        };
        if touches {
            let b = self.pieces.remove(i + 1);
            if let Some(a) = self.pieces.get_mut(i) {
                let skip = usize::try_from(a.end() - b.start).unwrap_or(usize::MAX);
                a.data.extend_from_slice(b.data.get(skip..).unwrap_or(&[]));
            }
            self.ooo_bytes = self.pieces.iter().map(|p| p.data.len()).sum();
        }
    }

    /// Gives up the oldest holes while a bound is exceeded.
    fn enforce_bounds(&mut self, lim: &Limits, cx: &mut Ctx<'_, '_>) {
        while let Some(first) = self.pieces.first().map(|p| p.start) {
            if self.pieces.len() > lim.max_holes {
                cx.counters.add("tcp.holes_bound_hits", 1);
            } else if self.ooo_bytes > lim.max_ooo_bytes {
                cx.counters.add("tcp.ooo_bytes_bound_hits", 1);
            } else {
                break;
            }
            self.release_to(first, cx);
        }
    }

    /// Gaps holes and delivers pieces until `next >= upto`, then anything
    /// contiguous, then `End` if the FIN is reached.
    fn release_to(&mut self, upto: u64, cx: &mut Ctx<'_, '_>) {
        while self.next < upto {
            match self.pieces.first().map(|p| p.start) {
                Some(ps) if ps < upto => {
                    if ps > self.next {
                        cx.gap(ps - self.next);
                        self.next = ps;
                    }
                    let p = self.pieces.remove(0);
                    self.ooo_bytes = self.ooo_bytes.saturating_sub(p.data.len());
                    self.next = Self::deliver_piece(&p, self.next, cx);
                }
                _ => {
                    cx.gap(upto - self.next);
                    self.next = upto;
                }
            }
        }
        self.drain(cx);
        self.maybe_end(cx);
    }

    /// Delivers `End` once everything before the FIN was delivered.
    fn maybe_end(&mut self, cx: &mut Ctx<'_, '_>) {
        if !self.ended && self.fin.is_some_and(|f| f <= self.next) {
            self.ended = true;
            self.pieces.clear();
            self.ooo_bytes = 0;
            (cx.deliver)(cx.dir, Delivery::End, cx.ts);
        }
    }

    /// End of what this stream is known to contain from what was captured:
    /// the FIN, else the highest segment end.
    fn seen_end(&self) -> u64 {
        self.fin.unwrap_or(self.high)
    }

    /// The peer acknowledged `ack`: bytes below it that we are still missing
    /// were lost by the capture, give them up. See [`Stream::check_acked`]
    /// for when.
    pub fn acked(&mut self, ack: u32, lim: &Limits, cx: &mut Ctx<'_, '_>) {
        if self.ended {
            return;
        }
        let Some(a) = self.rel(ack) else {
            return;
        };
        let seen = self.seen_end();
        // An ACK far beyond anything seen is not believed (no window is
        // larger than 2^30 bytes).
        if a > self.ack_to as i64 && a - (seen.max(self.next) as i64) <= MAX_ACK_AHEAD {
            if self.ack_to <= seen {
                self.ack_ts = cx.ts;
            }
            self.ack_to = a as u64;
        }
        self.check_acked(lim, cx);
    }

    /// Gives up holes below the peer's highest ACK: at once up to the
    /// highest byte (or FIN) seen after them; beyond that (the ACK is ahead
    /// of every captured segment, e.g. the tail of a response was lost)
    /// only once the ACK is older than the out-of-order threshold, since a
    /// mirror may show an ACK just before the data it acknowledges.
    fn check_acked(&mut self, lim: &Limits, cx: &mut Ctx<'_, '_>) {
        if self.ended || self.ack_to <= self.next {
            return;
        }
        let seen = self.seen_end();
        let mut upto = self.ack_to.min(seen);
        if self.ack_to > seen
            && self.fin.is_none()
            && cx.ts.saturating_sub(self.ack_ts) >= lim.ooo_threshold_ns
        {
            upto = self.ack_to;
        }
        if upto > self.next {
            self.release_to(upto, cx);
            self.high = self.high.max(self.next);
        }
    }

    /// A memory budget was hit: deliver everything buffered now, with gaps
    /// for the holes before it (the stream goes on after it).
    pub fn give_up_buffered(&mut self, cx: &mut Ctx<'_, '_>) {
        if let Some(last) = self.pieces.last().map(Piece::end) {
            self.release_to(last, cx);
        }
    }

    /// The connection is over (RST or flow end): deliver everything buffered
    /// with gaps for what is missing, then `End`.
    pub fn close(&mut self, cx: &mut Ctx<'_, '_>) {
        if self.ended {
            return;
        }
        let last = self.pieces.last().map_or(0, Piece::end);
        let limit = self
            .fin
            .unwrap_or_else(|| self.high.max(last).max(self.ack_to));
        self.release_to(limit, cx);
        if !self.ended {
            self.ended = true;
            self.pieces.clear();
            self.ooo_bytes = 0;
            (cx.deliver)(cx.dir, Delivery::End, cx.ts);
        }
    }
}
