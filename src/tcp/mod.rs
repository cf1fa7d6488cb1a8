//! TCP per connection: reassembly of both directions and network metrics.
//!
//! [`TcpConn`] takes every TCP segment of one flow (already decoded by the
//! capture thread, see [`Segment`]) and hands the protocol session in-order
//! bytes, gaps and direction ends through a [`Delivery`] callback. It also
//! measures what the mirror port can see of the network (handshake RTT,
//! retransmissions, out-of-order, zero windows, resets, gaps), written into
//! flow events as `tcp.*`.
//!
//! Reassembly (RFC 9293 sequence space: SYN and FIN consume one number,
//! numbers wrap at 2^32) lives in `reassembly.rs`, one stream per direction:
//! in-order bytes are handed out as sub-slices of the captured segment, out
//! of order bytes are buffered up to `max_ooo_bytes` and `max_holes` per
//! stream, retransmitted and overlapping bytes are trimmed (the first copy
//! wins), and a hole is given up as [`Delivery::Gap`] when the peer
//! acknowledges past it, when a bound is hit, at RST and at [`TcpConn::finish`].
//! An ACK passing bytes never seen gives them up at once when something
//! after them was seen (buffered data or the FIN), otherwise only when the
//! ACK is older than the out-of-order threshold (handshake RTT, 3 ms when
//! unknown) at the connection's next segment, because a mirror may show an
//! ACK just before the data it acknowledges. ACKs more than 2^30 bytes
//! ahead of the captured data are ignored. Keep-alives and
//! repeated zero-window probes (at most one byte at the next sequence
//! number minus one) are recognised and neither delivered nor gapped.
//! Metrics, the JSON field list and the counters live in [`metrics`].
//!
//! A RST ends the connection only when it lies in the receiver's window
//! (RFC 5961; before the SYN is answered, only when it acknowledges the
//! SYN); others are counted as `resets_ignored` and change nothing.
//!
//! What it does not do: validate checksums, honour window scaling or SACK
//! blocks, or recover bytes already handed to the session (a retransmission
//! whose bytes differ from data already delivered is not detected). A
//! connection picked up mid-stream starts at the first sequence number seen
//! carrying data, SYN or FIN; an earlier segment arriving after it is taken
//! for a retransmission.

#[cfg(test)]
mod corpus_tests;
pub mod metrics;
mod reassembly;
#[cfg(test)]
mod tests;

pub use metrics::{DirMetrics, TcpMetrics};

use crate::event::JsonWriter;
use crate::flow::Dir;
use crate::stats::Counters;
use crate::time::Timestamp;
use reassembly::{Ctx, Limits, SegIn, Stream};
use serde::{Deserialize, Serialize};

/// TCP flag bits as in the header.
pub mod flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
}

/// `[tcp]` settings: reassembly bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcpConfig {
    /// Out-of-order bytes buffered per direction before the oldest hole is
    /// given up as a gap.
    pub max_ooo_bytes: usize,
    /// Holes (ranges not yet received) per direction before the same.
    pub max_holes: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_ooo_bytes: 1 << 20,
            max_holes: 32,
        }
    }
}

/// One TCP segment as decoded by the capture thread.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (valid when `flags & ACK`).
    pub ack: u32,
    /// Flag bits ([`flags`]).
    pub flags: u8,
    /// Raw window field (not scaled).
    pub window: u16,
    /// TCP payload as captured (may be shorter than on the wire if snaplen cut it).
    pub payload: &'a [u8],
    /// Payload length on the wire (from the IP length).
    pub wire_payload_len: u32,
}

/// What the reassembler hands the session.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// In-order bytes.
    Data(&'a [u8]),
    /// This many bytes were never captured.
    Gap(u64),
    /// The direction ended (FIN or RST).
    End,
}

/// Connection state as far as the mirror port can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpState {
    /// A SYN was seen from the client.
    pub syn: bool,
    /// A SYN-ACK was seen from the server.
    pub syn_ack: bool,
    /// The handshake's final ACK was seen.
    pub established: bool,
    /// FIN seen, per [`Dir::idx`].
    pub fin: [bool; 2],
    /// RST seen, per [`Dir::idx`].
    pub rst: [bool; 2],
}

impl TcpState {
    /// Both sides sent FIN, or either sent RST: the short close timeout applies.
    pub fn closed(&self) -> bool {
        (self.fin[0] && self.fin[1]) || self.rst[0] || self.rst[1]
    }
}

/// Whether `ts` is at or after `since` by less than `span`. A packet
/// stamped before `since` (a capture whose timestamps go backwards) is
/// not within: tshark's unsigned difference is then huge.
fn within(ts: Timestamp, since: Timestamp, span: u64) -> bool {
    ts >= since && ts - since < span
}

/// Wireshark's out-of-order threshold when the handshake RTT is unknown.
const DEFAULT_OOO_THRESHOLD_NS: u64 = 3 * crate::time::MILLISECOND;

/// One TCP connection: both directions' reassembly and the metrics.
#[derive(Debug)]
pub struct TcpConn {
    max_ooo_bytes: usize,
    max_holes: usize,
    /// Per [`Dir::idx`] of the stream.
    streams: [Stream; 2],
    state: TcpState,
    metrics: TcpMetrics,
    /// Direction the (latest) SYN travelled in.
    syn_dir: Option<Dir>,
    syn_ts: Option<Timestamp>,
    /// Sequence number of the most recent SYN.
    syn_seq: u32,
    syn_ack_ts: Option<Timestamp>,
    syn_ack_seq: u32,
    /// A SYN-ACK followed the most recent SYN.
    syn_answered: bool,
    handshake_ns: Option<u64>,
    /// Last (ack number, window) each direction's sender sent (`None` after
    /// a segment without ACK).
    last_ack: [Option<(u32, u16)>; 2],
    /// When each sender's last segment was seen (tshark's `lastacktime`).
    last_ack_ts: [Timestamp; 2],
    /// Duplicate ACKs in a row per sender (reset when the ACK moves).
    dup_acks_in_row: [u16; 2],
    /// Highest sequence number plus length (SYN/FIN count one) per sender.
    next_seq: [Option<u32>; 2],
    /// When `next_seq` last advanced (tshark's `nextseqtime`).
    next_seq_ts: [Timestamp; 2],
    /// Any segment seen per direction.
    seen: [bool; 2],
}

impl TcpConn {
    /// A connection with the given bounds.
    pub fn new(config: &TcpConfig) -> Self {
        TcpConn {
            max_ooo_bytes: config.max_ooo_bytes,
            max_holes: config.max_holes,
            streams: Default::default(),
            state: TcpState::default(),
            metrics: TcpMetrics::default(),
            syn_dir: None,
            syn_ts: None,
            syn_seq: 0,
            syn_ack_ts: None,
            syn_ack_seq: 0,
            syn_answered: false,
            handshake_ns: None,
            last_ack: [None; 2],
            last_ack_ts: [0; 2],
            dup_acks_in_row: [0; 2],
            next_seq: [None; 2],
            next_seq_ts: [0; 2],
            seen: [false; 2],
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_ooo_bytes: self.max_ooo_bytes,
            max_holes: self.max_holes,
            ooo_threshold_ns: self.handshake_ns.unwrap_or(DEFAULT_OOO_THRESHOLD_NS),
        }
    }

    /// Feeds one segment of direction `dir`. In-order bytes, gaps and ends
    /// go to `deliver`; counters (`tcp.*`) go to `counters`.
    ///
    /// The ACK a segment carries is applied to the other direction first
    /// (a hole it passes is given up), then the segment's own data.
    pub fn segment(
        &mut self,
        dir: Dir,
        seg: &Segment<'_>,
        ts: Timestamp,
        counters: &mut Counters,
        deliver: &mut dyn FnMut(Dir, Delivery<'_>, Timestamp),
    ) {
        let d = dir.idx();
        let r = dir.reverse().idx();
        let syn = seg.flags & flags::SYN != 0;
        let ack = seg.flags & flags::ACK != 0;
        let fin = seg.flags & flags::FIN != 0;
        let rst = seg.flags & flags::RST != 0;
        let wire = u64::from(seg.wire_payload_len).max(seg.payload.len() as u64);
        self.seen[d] = true;

        if rst && !self.rst_acceptable(dir, seg) {
            // RFC 5961 section 3: a RST outside the receiver's window is
            // dropped by the stack (Linux answers an in-window but inexact
            // one with a challenge ACK); the connection goes on.
            self.metrics.dir_mut(d).resets_ignored =
                self.metrics.dir_mut(d).resets_ignored.saturating_add(1);
            counters.add("tcp.resets_ignored", 1);
            return;
        }

        self.analyze(dir, seg, wire, ts);
        self.handshake(dir, seg, ts, syn, ack, rst);

        if rst {
            self.state.rst[d] = true;
            self.metrics.dir_mut(d).resets = self.metrics.dir_mut(d).resets.saturating_add(1);
            if self.state.syn
                && !self.state.syn_ack
                && !self.state.established
                && self.syn_dir == Some(dir.reverse())
            {
                self.metrics.syn_rejected = true;
            }
            // The connection is gone: flush both directions, sender first.
            for i in [d, r] {
                let mut cx = Ctx {
                    dir: if i == 0 { Dir::ToServer } else { Dir::ToClient },
                    ts,
                    counters: &mut *counters,
                    metrics: self.metrics.dir_mut(i),
                    deliver: &mut *deliver,
                };
                self.streams[i].close(&mut cx);
            }
            return;
        }

        let lim = self.limits();
        if ack {
            let mut cx = Ctx {
                dir: dir.reverse(),
                ts,
                counters: &mut *counters,
                metrics: self.metrics.dir_mut(r),
                deliver: &mut *deliver,
            };
            self.streams[r].acked(seg.ack, &lim, &mut cx);
        }
        let mut cx = Ctx {
            dir,
            ts,
            counters,
            metrics: self.metrics.dir_mut(d),
            deliver,
        };
        self.streams[d].segment(
            SegIn {
                seq: seg.seq,
                syn,
                fin,
                payload: seg.payload,
                wire_len: wire,
            },
            &lim,
            &mut cx,
        );
        if fin {
            self.state.fin[d] = true;
        }
    }

    /// Whether a RST sent in `dir` would reset the receiver (RFC 5961,
    /// section 3.2, as Linux's `tcp_validate_incoming` applies it).
    ///
    /// Before the SYN was answered, the SYN's receiver resets the
    /// connection only with an ACK of the SYN (RFC 9293, SYN-SENT). Later,
    /// the RST's sequence number must lie in the receiver's window: from
    /// one below the next sequence number the receiver expects (the
    /// highest the sender sent, or the receiver's latest ACK, whichever is
    /// lower; one below for a RST after a FIN) up to that plus the
    /// receiver's advertised window (raw, unscaled: the mirror does not
    /// track window scaling, so the window it checks is the smallest the
    /// receiver can mean). A real stack always sends its RST at exactly
    /// the next sequence number, so every genuine RST passes; stale RSTs
    /// from middleboxes and blind injection attempts do not. With no
    /// sequence state for the sender at all (picked up mid-stream, the
    /// RST is its first segment), the RST is taken.
    fn rst_acceptable(&self, dir: Dir, seg: &Segment<'_>) -> bool {
        let (d, r) = (dir.idx(), dir.reverse().idx());
        let ack = seg.flags & flags::ACK != 0;
        if self.state.syn && !self.state.syn_ack && self.syn_dir == Some(dir.reverse()) {
            if ack && seg.ack == self.syn_seq.wrapping_add(1) {
                return true;
            }
            if self.next_seq[d].is_none() {
                // Only a SYN seen: a RST not acknowledging it is ignored.
                return false;
            }
        }
        let sent = self.next_seq[d];
        let acked = self.last_ack[r].map(|(a, _)| a);
        let window = u32::from(self.last_ack[r].map_or(0, |(_, w)| w));
        let lo = match (sent, acked) {
            (Some(s), Some(a)) => {
                if (a.wrapping_sub(s) as i32) < 0 {
                    a
                } else {
                    s
                }
            }
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => return true,
        };
        let hi_extra = match (sent, acked) {
            (Some(s), Some(a)) => (s.wrapping_sub(a) as i32).unsigned_abs(),
            _ => 0,
        };
        let off = seg.seq.wrapping_sub(lo.wrapping_sub(1));
        off <= 1 + hi_extra.saturating_add(window)
    }

    /// Zero windows, duplicate ACKs, retransmissions and out-of-order
    /// segments, judged as tshark's `tcp_analyze_sequence_number` does
    /// (Wireshark 4.0), before the segment is applied:
    ///
    /// - a segment carrying data, SYN or FIN that starts below the highest
    ///   sequence number this side sent (`next_seq`) "does not advance";
    ///   one of more than one byte starting exactly one below does (a
    ///   zero-window probe's follower), and a keep-alive is neither;
    /// - spurious retransmission: data entirely below the peer's latest
    ///   ACK (counted as a retransmission, as tshark's filter does);
    /// - fast retransmission: not advancing, at the sequence number two or
    ///   more duplicate ACKs asked for, within 20 ms of the peer's last ACK;
    /// - out of order: not advancing, less than the out-of-order threshold
    ///   (the handshake RTT, 3 ms when unknown) after `next_seq` last
    ///   advanced, and not ending exactly at `next_seq`;
    /// - otherwise, not advancing is a retransmission.
    ///
    /// `retransmitted_bytes` adds the bytes seen before (the whole payload
    /// when none were: a late hole filler).
    fn analyze(&mut self, dir: Dir, seg: &Segment<'_>, wire: u64, ts: Timestamp) {
        let (d, r) = (dir.idx(), dir.reverse().idx());
        let ack = seg.flags & flags::ACK != 0;
        let syn = seg.flags & flags::SYN != 0;
        let fin = seg.flags & flags::FIN != 0;
        let sfr = seg.flags & (flags::SYN | flags::FIN | flags::RST) != 0;
        let seq = seg.seq;
        let lt = |a: u32, b: u32| (a.wrapping_sub(b) as i32) < 0;
        let keep_alive = wire <= 1 && !sfr && self.next_seq[d] == Some(seq.wrapping_add(1));
        let m = self.metrics.dir_mut(d);
        if seg.window == 0 && !sfr {
            m.zero_window_segments = m.zero_window_segments.saturating_add(1);
        }
        if ack
            && wire == 0
            && !sfr
            && seg.window != 0
            && self.last_ack[d] == Some((seg.ack, seg.window))
            && self.next_seq[d] == Some(seq)
        {
            m.duplicate_acks = m.duplicate_acks.saturating_add(1);
            self.dup_acks_in_row[d] = self.dup_acks_in_row[d].saturating_add(1);
        }
        if self.last_ack[d].map(|(a, _)| a) != ack.then_some(seg.ack) {
            self.dup_acks_in_row[d] = 0;
        }

        if (wire > 0 || syn || fin) && !keep_alive {
            let mut not_advanced = self.next_seq[d].is_some_and(|n| lt(seq, n));
            if wire > 1 && self.next_seq[d] == Some(seq.wrapping_add(1)) {
                not_advanced = false;
            }
            let end = seq
                .wrapping_add(wire as u32)
                .wrapping_add(u32::from(syn) + u32::from(fin));
            let peer_ack = self.last_ack[r].map(|(a, _)| a);
            let spurious =
                wire > 0 && peer_ack.is_some_and(|a| !lt(a, seq.wrapping_add(wire as u32)));
            let fast = not_advanced
                && self.dup_acks_in_row[r] >= 2
                && peer_ack == Some(seq)
                && within(ts, self.last_ack_ts[r], 20 * crate::time::MILLISECOND);
            let threshold = self.handshake_ns.unwrap_or(DEFAULT_OOO_THRESHOLD_NS);
            let ooo = not_advanced
                && within(ts, self.next_seq_ts[d], threshold)
                && self.next_seq[d] != Some(end);
            let seen = || self.streams[d].seen_bytes(seq, syn, wire);
            if spurious || fast || (not_advanced && !ooo) {
                let bytes = match seen() {
                    0 => wire,
                    n => n,
                };
                let m = self.metrics.dir_mut(d);
                m.retransmitted_segments = m.retransmitted_segments.saturating_add(1);
                m.retransmitted_bytes += bytes;
            } else if ooo {
                self.metrics.dir_mut(d).out_of_order_segments = self
                    .metrics
                    .dir_mut(d)
                    .out_of_order_segments
                    .saturating_add(1);
            }
        }

        let end = seq
            .wrapping_add(wire as u32)
            .wrapping_add(u32::from(syn) + u32::from(fin));
        match self.next_seq[d] {
            Some(n) if !lt(n, end) => {}
            _ => {
                self.next_seq[d] = Some(end);
                self.next_seq_ts[d] = ts;
            }
        }
        self.last_ack[d] = ack.then_some((seg.ack, seg.window));
        self.last_ack_ts[d] = ts;
    }

    /// SYN, SYN-ACK and the final ACK: state and RTTs. As Wireshark's
    /// `initial_rtt`, the handshake RTT runs from the most recent SYN, so a
    /// retransmitted SYN does not inflate it; the server RTT is that SYN to
    /// the first SYN-ACK after it, the client RTT the most recent SYN-ACK to
    /// the ACK (the two add up to the handshake RTT unless the SYN-ACK was
    /// retransmitted).
    fn handshake(
        &mut self,
        dir: Dir,
        seg: &Segment<'_>,
        ts: Timestamp,
        syn: bool,
        ack: bool,
        rst: bool,
    ) {
        if syn && !ack && !rst {
            if !self.state.established && self.syn_dir != Some(dir.reverse()) {
                self.state.syn = true;
                self.syn_dir = Some(dir);
                self.syn_ts = Some(ts);
                self.syn_seq = seg.seq;
                self.syn_answered = false;
            }
        } else if syn && ack && !rst {
            if self.state.established || self.syn_dir == Some(dir) {
                return;
            }
            self.syn_dir = Some(dir.reverse());
            self.state.syn_ack = true;
            self.syn_ack_ts = Some(ts);
            self.syn_ack_seq = seg.seq;
            if let (Some(s), false) = (self.syn_ts, self.syn_answered) {
                self.metrics.server_rtt_us = Some(ts.saturating_sub(s) / 1000);
                self.syn_answered = true;
            }
        } else if ack
            && !syn
            && !rst
            && self.state.syn_ack
            && !self.state.established
            && self.syn_dir == Some(dir)
            && seg.ack.wrapping_sub(self.syn_ack_seq) as i32 >= 1
        {
            self.state.established = true;
            if let Some(sa) = self.syn_ack_ts {
                self.metrics.client_rtt_us = Some(ts.saturating_sub(sa) / 1000);
            }
            if let Some(s) = self.syn_ts {
                let ns = ts.saturating_sub(s);
                self.handshake_ns = Some(ns);
                self.metrics.handshake_rtt_us = Some(ns / 1000);
                // A completed handshake was not refused.
                self.metrics.syn_rejected = false;
            }
        }
    }

    /// A memory budget was hit: both directions hand over what they
    /// buffered out of order at once, with gaps for the holes before it.
    pub fn give_up_buffered(
        &mut self,
        ts: Timestamp,
        counters: &mut Counters,
        deliver: &mut dyn FnMut(Dir, Delivery<'_>, Timestamp),
    ) {
        for dir in [Dir::ToServer, Dir::ToClient] {
            let i = dir.idx();
            let mut cx = Ctx {
                dir,
                ts,
                counters: &mut *counters,
                metrics: self.metrics.dir_mut(i),
                deliver: &mut *deliver,
            };
            self.streams[i].give_up_buffered(&mut cx);
        }
    }

    /// The flow is ending: deliver what is still buffered (with gaps for
    /// what never came) and end both directions. Also decides
    /// `syn_unanswered`.
    pub fn finish(
        &mut self,
        ts: Timestamp,
        counters: &mut Counters,
        deliver: &mut dyn FnMut(Dir, Delivery<'_>, Timestamp),
    ) {
        for dir in [Dir::ToServer, Dir::ToClient] {
            let i = dir.idx();
            let mut cx = Ctx {
                dir,
                ts,
                counters: &mut *counters,
                metrics: self.metrics.dir_mut(i),
                deliver: &mut *deliver,
            };
            self.streams[i].close(&mut cx);
        }
        if let Some(sd) = self.syn_dir {
            if self.state.syn
                && !self.state.syn_ack
                && !self.metrics.syn_rejected
                && !self.seen[sd.reverse().idx()]
            {
                self.metrics.syn_unanswered = true;
            }
        }
    }

    /// Connection state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// The `tcp.state` summary: `reset`, `closed`, `half_closed`,
    /// `established`, `syn_received`, `syn_sent` or `unknown` (see [`metrics`]).
    pub fn state_name(&self) -> &'static str {
        let st = &self.state;
        if st.rst[0] || st.rst[1] {
            "reset"
        } else if st.fin[0] && st.fin[1] {
            "closed"
        } else if st.fin[0] || st.fin[1] {
            "half_closed"
        } else if st.established {
            "established"
        } else if st.syn_ack {
            "syn_received"
        } else if st.syn {
            let answered = self.syn_dir.is_some_and(|d| self.seen[d.reverse().idx()]);
            if answered {
                "established"
            } else {
                "syn_sent"
            }
        } else if self.streams.iter().any(Stream::started) {
            "established"
        } else {
            "unknown"
        }
    }

    /// The initial sequence number of the most recent SYN, once seen.
    pub fn syn_seq(&self) -> Option<u32> {
        self.state.syn.then_some(self.syn_seq)
    }

    /// Handshake RTT (SYN to the ACK of the SYN-ACK) in microseconds, once seen.
    pub fn handshake_rtt_us(&self) -> Option<u64> {
        self.metrics.handshake_rtt_us
    }

    /// All metrics of this connection.
    pub fn metrics(&self) -> &TcpMetrics {
        &self.metrics
    }

    /// Out-of-order bytes currently buffered in direction `dir`.
    pub fn buffered_bytes(&self, dir: Dir) -> usize {
        self.streams[dir.idx()].buffered_bytes()
    }

    /// Whether `End` was delivered for direction `dir`.
    pub fn ended(&self, dir: Dir) -> bool {
        self.streams[dir.idx()].ended()
    }

    /// Writes the `tcp` object of a flow event (fields listed in [`metrics`]).
    pub fn write_json(&self, w: &mut JsonWriter<'_>) {
        self.metrics.write_json(w, self.state_name());
    }
}

impl Default for TcpConn {
    /// A connection with the default `[tcp]` bounds.
    fn default() -> Self {
        TcpConn::new(&TcpConfig::default())
    }
}
