//! Per-connection TCP metrics and their JSON form (`tcp.*` in flow events).
//!
//! Everything here is what a mirror port can observe; nothing is inferred
//! from the endpoints' internal state. Fields written by
//! [`TcpMetrics::write_json`] inside the `tcp` object:
//!
//! - `tcp.state` (string): connection state as seen on the wire:
//!   `syn_sent` (SYN only), `syn_received` (SYN-ACK seen, final ACK not yet),
//!   `established` (handshake completed, or data seen on a connection picked
//!   up mid-stream), `half_closed` (one side sent FIN), `closed` (both sides
//!   sent FIN), `reset` (either side sent RST), `unknown` (nothing but pure
//!   ACKs seen).
//! - `tcp.handshake_rtt_us` (µs): SYN to the client's ACK of the SYN-ACK,
//!   from the most recent SYN (as Wireshark's `tcp.analysis.initial_rtt`),
//!   so a retransmitted SYN does not inflate it. Absent when not seen.
//! - `tcp.server_rtt_us` (µs): that SYN to the first SYN-ACK after it
//!   (capture point to server and back). Absent when not seen.
//! - `tcp.client_rtt_us` (µs): the most recent SYN-ACK to the ACK of it
//!   (capture point to client and back). With no retransmitted SYN-ACK,
//!   server + client RTT = handshake RTT (±1 µs of rounding). Absent when
//!   not seen.
//! - `tcp.syn_unanswered` (bool): `true` when a SYN was seen but neither a
//!   SYN-ACK nor a RST answered it by the time the flow ended. Absent
//!   otherwise.
//! - `tcp.syn_rejected` (bool): `true` when a SYN was answered by RST
//!   (connection refused). Absent otherwise.
//! - `tcp.client.*` and `tcp.server.*`: per side, counting segments SENT BY
//!   that side (`client` sent the `ToServer` stream):
//!   - `retransmitted_segments` (segments): segments carrying data, SYN or
//!     FIN that start below the highest sequence number the side sent and
//!     are not out of order, plus segments whose data lies entirely below
//!     the peer's latest ACK (spurious) and fast retransmissions, exactly
//!     as tshark's `tcp.analysis.retransmission` (see `TcpConn::analyze`).
//!   - `retransmitted_bytes` (bytes): payload bytes of those segments that
//!     had been seen before (the whole payload when none had: a late hole
//!     filler).
//!   - `out_of_order_segments` (segments): segments starting below the
//!     highest sequence number sent, less than the handshake RTT (3 ms
//!     when unknown) after that highest segment, and not ending exactly at
//!     it, as tshark's `tcp.analysis.out_of_order`; re-segmented copies of
//!     data within the RTT are out of order, not retransmissions.
//!   - `duplicate_acks` (segments): pure ACKs repeating the previous ACK
//!     number with the same non-zero window and sequence number, as
//!     Wireshark's `tcp.analysis.duplicate_ack`.
//!   - `zero_window_segments` (segments): segments advertising a zero
//!     receive window (SYN/FIN/RST excluded).
//!   - `keep_alives` (segments): segments of at most one byte sent one
//!     below the next sequence number (keep-alives and repeated zero-window
//!     probes); never delivered, never counted as retransmissions.
//!   - `resets` (segments): RST segments sent that ended the connection
//!     (in the receiver's window, see `TcpConn::segment`).
//!   - `resets_ignored` (segments): RST segments sent outside the
//!     receiver's window (RFC 5961): a real stack drops them, so the
//!     connection and its decoding go on.
//!   - `gap_bytes` (bytes): bytes of this side's stream that were never
//!     captured and were handed to the protocol decoder as a gap.
//!
//! Worker counters (`Counters`, summed over all connections):
//!
//! - `tcp.gap_bytes` (bytes): all bytes delivered as gaps.
//! - `tcp.ooo_segments_buffered` (segments): segments whose bytes had to be
//!   copied into an out-of-order buffer.
//! - `tcp.holes_bound_hits` (holes): holes given up because a stream had
//!   more than `[tcp] max_holes` holes.
//! - `tcp.ooo_bytes_bound_hits` (holes): holes given up because a stream
//!   buffered more than `[tcp] max_ooo_bytes` out-of-order bytes.
//! - `tcp.resets_ignored` (segments): out-of-window RSTs ignored.
//! - `tcp.overlap_mismatches` (overlaps): a retransmitted or overlapping
//!   segment disagreed with the buffered first copy (the first copy wins).

use crate::event::JsonWriter;

/// Counters for the segments one side sent (segment counts are `u32`,
/// saturating, to keep a flow small; byte counts `u64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirMetrics {
    /// Segments carrying already-seen data, SYN or FIN (or late hole fillers).
    pub retransmitted_segments: u32,
    /// Already-seen payload bytes in those segments.
    pub retransmitted_bytes: u64,
    /// Segments that filled a hole shortly after it opened.
    pub out_of_order_segments: u32,
    /// Duplicate ACKs sent.
    pub duplicate_acks: u32,
    /// Segments advertising a zero window.
    pub zero_window_segments: u32,
    /// Keep-alives (and repeated zero-window probes) sent.
    pub keep_alives: u32,
    /// RST segments sent that ended the connection.
    pub resets: u32,
    /// RST segments sent outside the receiver's window (ignored).
    pub resets_ignored: u32,
    /// Stream bytes never captured (delivered as gaps).
    pub gap_bytes: u64,
}

impl DirMetrics {
    fn write_json(&self, w: &mut JsonWriter<'_>, key: &str) {
        w.begin_obj(key);
        w.u64("retransmitted_segments", self.retransmitted_segments.into());
        w.u64("retransmitted_bytes", self.retransmitted_bytes);
        w.u64("out_of_order_segments", self.out_of_order_segments.into());
        w.u64("duplicate_acks", self.duplicate_acks.into());
        w.u64("zero_window_segments", self.zero_window_segments.into());
        w.u64("keep_alives", self.keep_alives.into());
        w.u64("resets", self.resets.into());
        w.u64("resets_ignored", self.resets_ignored.into());
        w.u64("gap_bytes", self.gap_bytes);
        w.end();
    }
}

/// Everything written into a flow event's `tcp` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpMetrics {
    /// SYN to the ACK of the SYN-ACK, microseconds.
    pub handshake_rtt_us: Option<u64>,
    /// SYN to SYN-ACK, microseconds.
    pub server_rtt_us: Option<u64>,
    /// SYN-ACK to its ACK, microseconds.
    pub client_rtt_us: Option<u64>,
    /// A SYN was never answered (set by `TcpConn::finish`).
    pub syn_unanswered: bool,
    /// A SYN was answered by RST.
    pub syn_rejected: bool,
    /// Segments sent by the client (the `ToServer` stream).
    pub client: DirMetrics,
    /// Segments sent by the server (the `ToClient` stream).
    pub server: DirMetrics,
}

impl TcpMetrics {
    /// Per-side counters by [`crate::proto::Dir::idx`] of the stream that side sends.
    pub(crate) fn dir_mut(&mut self, idx: usize) -> &mut DirMetrics {
        if idx == 0 {
            &mut self.client
        } else {
            &mut self.server
        }
    }

    /// Writes the `tcp` object; `state` is the summary string.
    pub fn write_json(&self, w: &mut JsonWriter<'_>, state: &str) {
        w.begin_obj("tcp");
        w.str("state", state);
        if let Some(v) = self.handshake_rtt_us {
            w.u64("handshake_rtt_us", v);
        }
        if let Some(v) = self.server_rtt_us {
            w.u64("server_rtt_us", v);
        }
        if let Some(v) = self.client_rtt_us {
            w.u64("client_rtt_us", v);
        }
        if self.syn_unanswered {
            w.bool("syn_unanswered", true);
        }
        if self.syn_rejected {
            w.bool("syn_rejected", true);
        }
        self.client.write_json(w, "client");
        self.server.write_json(w, "server");
        w.end();
    }
}
