//! [`DnsSession`]: pairs DNS queries with responses on one flow, over UDP
//! (one message per datagram) and TCP (length-prefixed messages, several
//! per connection, RFC 7766).
//!
//! A query waits in a [`KeyedTxQueue`] under its id (the flow is the rest
//! of Packetbeat's key: addresses, ports, transport); the response with
//! that id completes it. Which is which comes from the QR bit, not the
//! direction. Cases:
//! - a second query with an id still waiting closes the first one
//!   (`dns.duplicate_queries`, Packetbeat's text in `error.message`);
//! - a response whose id was answered moments ago on this flow is a
//!   duplicate (`dns.duplicate_responses`): counted, no second event;
//! - any other response without a query is an event with
//!   `error.message: Unmatched response` (`dns.unmatched_responses`);
//! - a query without a response after `transaction_timeout` (packet time),
//!   or when the flow ends, is an event with `Unmatched request`
//!   (`dns.unmatched_requests`);
//! - a truncated (TC) response is parsed as far as it goes;
//! - a response that does not parse still completes its query, with
//!   `error.message: Invalid DNS response` (`dns.parse_errors`);
//! - more than `max_in_flight` queries waiting: the oldest is reported as
//!   unmatched (`dns.in_flight_evicted`);
//! - a TCP gap loses the framing: the direction resumes at the next offset
//!   where a whole, valid message starts (`dns.resyncs`,
//!   `dns.resync_skipped_bytes`).
//!
//! A zone transfer answered in several messages is one transaction with the
//! first message; the later ones (same id) are counted
//! (`dns.transfer_messages`), not reported again.
//!
//! Bounds: `max_in_flight` queries per flow, each kept as at most
//! `max_query_bytes` of its message; one buffered partial TCP message per
//! direction (at most 65,537 bytes); nothing allocated per message once
//! warm (kept query buffers are recycled).

use super::event::{self, Scratch};
use super::parser::{Frame, Header, Message, TcpFramer, TYPE_AXFR, TYPE_IXFR};
use super::DnsConfig;
use crate::event::Status;
use crate::proto::common::{self, errors, KeyedTxQueue, Leg};
use crate::proto::{DatagramSession, Dir, Session, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

/// `error.message` of a query closed by another with the same id
/// (Packetbeat's wording).
pub const DUPLICATE_QUERY: &str = "Another query with the same DNS ID from this client was received so this query was closed without receiving a response";
/// `error.message` of a response that could not be parsed.
pub const INVALID_RESPONSE: &str = "Invalid DNS response";

/// Offsets tried when looking for the next message after a TCP gap.
const RESYNC_WINDOW: usize = 512;
/// Recently answered ids remembered to recognise duplicate responses.
const RECENT: usize = 8;

/// A query waiting for its response.
#[derive(Debug, Default)]
struct Pending {
    leg: Leg,
    /// The query message (at most `max_query_bytes`).
    raw: Vec<u8>,
    /// AXFR or IXFR: later messages with this id continue the answer.
    transfer: bool,
}

/// One DNS flow (UDP or TCP).
pub struct DnsSession {
    cfg: Arc<DnsConfig>,
    pending: KeyedTxQueue<u16, Pending>,
    /// TCP: one framer per direction.
    framers: [TcpFramer; 2],
    /// TCP: time of the first byte of the message being framed.
    starts: [Timestamp; 2],
    /// TCP: the direction lost its framing in a gap.
    lost_sync: [bool; 2],
    qmsg: Message,
    rmsg: Message,
    scratch: Scratch,
    /// The report's fields of the transaction being emitted.
    detail: event::DetailText,
    /// Recently answered ids with the answer's time, and whether they were
    /// zone transfers.
    recent: [(u16, Timestamp, bool); RECENT],
    recent_next: usize,
    free: Vec<Vec<u8>>,
}

impl DnsSession {
    /// A session for one UDP or TCP flow.
    pub fn new(cfg: Arc<DnsConfig>) -> Self {
        let max = cfg.max_in_flight;
        DnsSession {
            cfg,
            pending: KeyedTxQueue::new(max),
            framers: Default::default(),
            starts: [0; 2],
            lost_sync: [false; 2],
            qmsg: Message::default(),
            rmsg: Message::default(),
            scratch: Scratch::default(),
            detail: event::DetailText::default(),
            recent: [(0, 0, false); RECENT],
            recent_next: 0,
            free: Vec::new(),
        }
    }

    /// Queries waiting for a response.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn recycle(&mut self, mut p: Pending) {
        if self.free.len() < 8 {
            p.raw.clear();
            self.free.push(p.raw);
        }
    }

    /// One whole DNS message (without a TCP length prefix).
    fn message(&mut self, msg: &[u8], leg: Leg, out: &mut TxSink<'_>) {
        let Ok(h) = Header::parse(msg) else {
            out.count("dns.parse_errors", 1);
            return;
        };
        if h.is_response() {
            self.response(h, msg, leg, out);
        } else {
            self.query(h, msg, leg, out);
        }
    }

    fn query(&mut self, h: Header, msg: &[u8], leg: Leg, out: &mut TxSink<'_>) {
        if self.qmsg.parse(msg, false).is_err() {
            out.count("dns.parse_errors", 1);
            return;
        }
        if let Some(old) = self.pending.take(&h.id) {
            out.count("dns.duplicate_queries", 1);
            self.emit_request(old, DUPLICATE_QUERY, out);
        }
        let transfer = self
            .qmsg
            .question
            .is_some_and(|q| q.qtype == TYPE_AXFR || q.qtype == TYPE_IXFR);
        let mut raw = self.free.pop().unwrap_or_default();
        raw.extend_from_slice(&msg[..msg.len().min(self.cfg.max_query_bytes.max(12))]);
        let p = Pending { leg, raw, transfer };
        if let Some((_, evicted)) = self.pending.push(h.id, p) {
            out.count("dns.in_flight_evicted", 1);
            self.emit_request(evicted, errors::UNMATCHED_REQUEST, out);
        }
    }

    fn response(&mut self, h: Header, msg: &[u8], leg: Leg, out: &mut TxSink<'_>) {
        let parsed = self.rmsg.parse(msg, h.truncated()).is_ok();
        if !parsed {
            out.count("dns.parse_errors", 1);
        }
        let Some(req) = self.pending.take(&h.id) else {
            let dup = self.recent.iter().find(|(id, at, _)| {
                *id == h.id
                    && *at != 0
                    && leg.start.saturating_sub(*at) <= self.cfg.transaction_timeout.nanos()
            });
            match dup {
                Some(&(_, _, true)) => out.count("dns.transfer_messages", 1),
                Some(_) => out.count("dns.duplicate_responses", 1),
                None if parsed => {
                    out.count("dns.unmatched_responses", 1);
                    self.emit_response_only(msg, leg, out);
                }
                None => {}
            }
            return;
        };
        self.recent[self.recent_next] = (h.id, leg.end.max(1), req.transfer);
        self.recent_next = (self.recent_next + 1) % RECENT;
        let _ = self.qmsg.parse(&req.raw, true);
        let Self {
            cfg,
            qmsg,
            rmsg,
            scratch,
            detail,
            ..
        } = self;
        let error = (!parsed).then_some(INVALID_RESPONSE);
        let status = if parsed && rmsg.rcode() == 0 {
            Status::Ok
        } else {
            Status::Error
        };
        let answer = if parsed {
            (msg, &*rmsg)
        } else {
            (&req.raw[..], &*qmsg)
        };
        let tx = crate::event::Transaction {
            status: Some(status),
            error,
            detail: if out.aggregating() {
                event::detail((&req.raw, qmsg), answer, detail)
            } else {
                Default::default()
            },
            ..common::transaction("dns", Some(&req.leg), Some(&leg))
        };
        out.emit(&tx, |w| {
            event::write(w, cfg, (&req.raw, qmsg), answer, parsed, scratch)
        });
        self.count_bad_rdata(out);
        self.recycle(req);
    }

    fn count_bad_rdata(&mut self, out: &mut TxSink<'_>) {
        let n = std::mem::take(&mut self.scratch.bad_rdata);
        if n > 0 {
            out.count("dns.invalid_rdata", n);
        }
    }

    /// A query reported without a response.
    fn emit_request(&mut self, req: Pending, error: &'static str, out: &mut TxSink<'_>) {
        if error == errors::UNMATCHED_REQUEST {
            out.count("dns.unmatched_requests", 1);
        }
        let _ = self.qmsg.parse(&req.raw, true);
        let Self {
            cfg,
            qmsg,
            scratch,
            detail,
            ..
        } = self;
        let tx = crate::event::Transaction {
            status: Some(Status::Error),
            error: Some(error),
            detail: if out.aggregating() {
                event::detail((&req.raw, qmsg), (&req.raw, qmsg), detail)
            } else {
                Default::default()
            },
            ..common::transaction("dns", Some(&req.leg), None)
        };
        out.emit(&tx, |w| {
            event::write(w, cfg, (&req.raw, qmsg), (&req.raw, qmsg), false, scratch)
        });
        self.count_bad_rdata(out);
        self.recycle(req);
    }

    /// A response no query explains (`self.rmsg` holds it parsed).
    fn emit_response_only(&mut self, msg: &[u8], leg: Leg, out: &mut TxSink<'_>) {
        let Self {
            cfg,
            rmsg,
            scratch,
            detail,
            ..
        } = self;
        let tx = crate::event::Transaction {
            status: Some(Status::Error),
            error: Some(errors::UNMATCHED_RESPONSE),
            detail: if out.aggregating() {
                event::detail((msg, rmsg), (msg, rmsg), detail)
            } else {
                Default::default()
            },
            ..common::transaction("dns", None, Some(&leg))
        };
        out.emit(&tx, |w| {
            event::write(w, cfg, (msg, rmsg), (msg, rmsg), true, scratch)
        });
        self.count_bad_rdata(out);
    }

    fn expire(&mut self, now: Option<Timestamp>, out: &mut TxSink<'_>) {
        let timeout = self.cfg.transaction_timeout.nanos();
        while let Some((_, p)) = self
            .pending
            .pop_expired(|p| now.is_none_or(|n| p.leg.end.saturating_add(timeout) <= n))
        {
            self.emit_request(p, errors::UNMATCHED_REQUEST, out);
        }
    }

    /// TCP: after a gap, the offset in `data` where a whole valid message
    /// (length prefix included) starts, if one does within the window.
    fn find_message(&mut self, data: &[u8]) -> Option<usize> {
        let mut probe = Message::default();
        (0..data.len().min(RESYNC_WINDOW)).find(|&off| {
            let rest = &data[off..];
            if rest.len() < 14 {
                return false;
            }
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            len >= 12
                && rest.len() >= 2 + len
                && probe.parse(&rest[2..2 + len], false).is_ok()
                && probe.header.qdcount == 1
        })
    }
}

impl DatagramSession for DnsSession {
    fn datagram(&mut self, _dir: Dir, payload: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let mut leg = Leg::at(ts);
        leg.bytes = payload.len() as u64;
        self.message(payload, leg, out);
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(Some(now), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(None, out);
    }
}

impl Session for DnsSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        let mut pos = 0;
        if self.lost_sync[i] {
            match self.find_message(data) {
                Some(off) => {
                    out.count("dns.resyncs", 1);
                    out.count("dns.resync_skipped_bytes", off as u64);
                    self.lost_sync[i] = false;
                    pos = off;
                }
                None => {
                    out.count("dns.resync_skipped_bytes", data.len() as u64);
                    return;
                }
            }
        }
        let mut framer = std::mem::take(&mut self.framers[i]);
        loop {
            if framer.pending() == 0 {
                self.starts[i] = ts;
            }
            let frame = framer.next(data, &mut pos);
            let leg = |len: usize, start: Timestamp| Leg {
                start,
                end: ts,
                bytes: len as u64 + 2,
                lost: false,
            };
            match frame {
                Frame::Input(r) => {
                    let l = leg(r.len(), self.starts[i]);
                    self.message(&data[r], l, out);
                }
                Frame::Buffered => {
                    let l = leg(framer.message().len(), self.starts[i]);
                    self.message(framer.message(), l, out);
                    framer.clear();
                }
                Frame::More => break,
            }
        }
        self.framers[i] = framer;
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        out.count("dns.gaps", 1);
        out.count("dns.gap_bytes", len);
        self.framers[i].clear();
        self.lost_sync[i] = true;
    }

    fn end(&mut self, dir: Dir, _ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        if self.framers[i].pending() > 0 {
            out.count("dns.incomplete_messages", 1);
            self.framers[i].clear();
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(Some(now), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(None, out);
    }
}
