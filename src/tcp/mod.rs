//! TCP per connection: reassembly of both directions and network metrics.
//!
//! [`TcpConn`] takes every TCP segment of one flow (already decoded by the
//! capture thread, see [`Segment`]) and hands the protocol session in-order
//! bytes, gaps and direction ends through a [`Delivery`] callback. It also
//! measures what the mirror port can see of the network (handshake RTT,
//! retransmissions, out-of-order, zero windows, resets, gaps), written into
//! flow events as `tcp.*`.
//!
//! PLACEHOLDER: this version delivers in-order data only and reports any
//! sequence jump as a gap; the TCP issue replaces it with bounded
//! out-of-order reassembly behind the same API.

use crate::event::JsonWriter;
use crate::proto::Dir;
use crate::stats::Counters;
use crate::time::Timestamp;
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

#[derive(Debug, Default)]
struct Stream {
    next: Option<u32>,
    ended: bool,
}

/// One TCP connection: both directions' reassembly and the metrics.
#[derive(Debug, Default)]
pub struct TcpConn {
    streams: [Stream; 2],
    state: TcpState,
    syn_ts: Option<Timestamp>,
    syn_ack_ts: Option<Timestamp>,
    rtt: Option<(u64, u64)>,
}

impl TcpConn {
    /// A connection with the given bounds.
    pub fn new(_config: &TcpConfig) -> Self {
        TcpConn::default()
    }

    /// Feeds one segment of direction `dir`. In-order bytes, gaps and ends
    /// go to `deliver`; counters (`tcp.*`) go to `counters`.
    pub fn segment(
        &mut self,
        dir: Dir,
        seg: &Segment<'_>,
        ts: Timestamp,
        counters: &mut Counters,
        deliver: &mut dyn FnMut(Dir, Delivery<'_>, Timestamp),
    ) {
        let syn = seg.flags & flags::SYN != 0;
        let ack = seg.flags & flags::ACK != 0;
        if syn && !ack {
            self.state.syn = true;
            self.syn_ts.get_or_insert(ts);
        } else if syn && ack {
            self.state.syn_ack = true;
            self.syn_ack_ts.get_or_insert(ts);
        } else if ack && self.state.syn_ack && !self.state.established && dir == Dir::ToServer {
            self.state.established = true;
            if let (Some(s), Some(sa)) = (self.syn_ts, self.syn_ack_ts) {
                self.rtt = Some(((sa - s) / 1000, ts.saturating_sub(sa) / 1000));
            }
        }
        let st = &mut self.streams[dir.idx()];
        if st.ended {
            return;
        }
        let mut seq = seg.seq;
        if syn {
            seq = seq.wrapping_add(1);
        }
        let next = *st.next.get_or_insert(seq);
        let data = seg.payload;
        if !data.is_empty() {
            let off = seq.wrapping_sub(next) as i32;
            if off > 0 {
                counters.add("tcp.gap_bytes", off as u64);
                deliver(dir, Delivery::Gap(off as u64), ts);
                deliver(dir, Delivery::Data(data), ts);
                st.next = Some(seq.wrapping_add(data.len() as u32));
            } else if (-off) < data.len() as i32 {
                let skip = (-off) as usize;
                deliver(dir, Delivery::Data(&data[skip..]), ts);
                st.next = Some(seq.wrapping_add(data.len() as u32));
            }
        }
        if seg.flags & flags::FIN != 0 {
            self.state.fin[dir.idx()] = true;
        }
        if seg.flags & flags::RST != 0 {
            self.state.rst[dir.idx()] = true;
        }
        if seg.flags & (flags::FIN | flags::RST) != 0 {
            st.ended = true;
            deliver(dir, Delivery::End, ts);
        }
    }

    /// The flow is ending: deliver what is still buffered and end both directions.
    pub fn finish(
        &mut self,
        ts: Timestamp,
        _counters: &mut Counters,
        deliver: &mut dyn FnMut(Dir, Delivery<'_>, Timestamp),
    ) {
        for dir in [Dir::ToServer, Dir::ToClient] {
            let st = &mut self.streams[dir.idx()];
            if !st.ended {
                st.ended = true;
                deliver(dir, Delivery::End, ts);
            }
        }
    }

    /// Connection state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// Handshake RTT (SYN to the ACK of the SYN-ACK) in microseconds, once seen.
    pub fn handshake_rtt_us(&self) -> Option<u64> {
        self.rtt.map(|(s, c)| s + c)
    }

    /// Writes the `tcp` object of a flow event.
    pub fn write_json(&self, w: &mut JsonWriter<'_>) {
        w.begin_obj("tcp");
        if let Some((s, c)) = self.rtt {
            w.u64("handshake_rtt_us", s + c);
            w.u64("server_rtt_us", s);
            w.u64("client_rtt_us", c);
        }
        w.end();
    }
}
