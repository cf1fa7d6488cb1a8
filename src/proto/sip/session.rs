//! [`SipSession`]: SIP transactions on one flow, over UDP (one message per
//! datagram) and TCP (messages framed by `Content-Length`).
//!
//! A transaction is what RFC 3261 section 17.1.3 matches a response to:
//! the `branch` of the top `Via` plus the `CSeq` method (for an RFC 2543
//! peer without the `z9hG4bK` cookie: Call-ID, CSeq number, `From` tag and
//! method). Which message is a request comes from its start line, not the
//! direction: either side may send requests (a BYE from the callee is
//! written with the callee as `source`, `event.reversed`-style through
//! [`Transaction::reversed`](crate::event::Transaction::reversed)).
//!
//! - a provisional (1xx) response is folded into its transaction
//!   (`sip.provisional`); the final response (>= 200) completes it: one
//!   event per transaction;
//! - an `ACK` has no response by design: it is its own event at once;
//! - a request or final response seen again (UDP retransmission, a 200 OK
//!   repeated until the ACK arrives) is counted (`sip.retransmissions`, and
//!   the event's `sip.retransmissions` while it waits), never a second
//!   event;
//! - a request without a final response after `transaction_timeout`
//!   (packet time, from its last message) or when the flow ends is an
//!   event with `Unmatched request` (`sip.unmatched_requests`); a final
//!   response nothing explains is one with `Unmatched response`;
//! - more than `max_in_flight` requests waiting: the oldest is reported as
//!   unmatched (`sip.in_flight_evicted`);
//! - a message that does not parse is counted (`sip.parse_errors`, one
//!   line at debug level); over TCP the direction then resumes at the next
//!   line that starts like a SIP message (`sip.resyncs`,
//!   `sip.resync_skipped_bytes`), as it does after a gap.
//!
//! Bounds: `max_in_flight` requests, each kept whole (at most
//! `max_message_bytes`), all together at most `max_pending_bytes`; one partial TCP message per direction of at most
//! `max_message_bytes`; a ring of [`RECENT`] completed transactions.

use super::event::{self, Part, Provisional};
use super::parser::{self, Error, Message};
use super::SipConfig;
use crate::event::{Code, Status, TxDetail};
use crate::proto::common::{self, errors, KeyedTxQueue, Leg};
use crate::proto::{DatagramSession, Dir, Session, TxSink};
use crate::time::Timestamp;
use std::borrow::Cow;
use std::sync::Arc;

/// Completed transactions remembered to recognise retransmissions.
pub const RECENT: usize = 16;

/// A request waiting for its final response.
#[derive(Debug)]
struct Pending {
    leg: Leg,
    raw: Vec<u8>,
    msg: Message,
    /// Time of the transaction's last message (for the timeout).
    last: Timestamp,
    provisional: Provisional,
    retransmissions: u32,
    /// The request went from the flow's server to its client.
    reversed: bool,
}

/// The transaction key of a message (see the module docs).
pub fn key(buf: &[u8], m: &Message) -> u64 {
    let mut h = Fnv::new();
    let branch = m.branch.get(buf);
    if branch.len() > 7 && branch[..7].eq_ignore_ascii_case(b"z9hG4bK") {
        h.write(branch);
    } else {
        h.write(m.call_id.get(buf));
        h.write(&m.cseq_num.to_le_bytes());
        let from = parser::name_addr(m.from.get(buf));
        if let Some((s, e)) = parser::param(from.params, b"tag") {
            h.write(&from.params[s..e]);
        }
    }
    h.write(b"\0");
    for b in m.cseq_method.get(buf) {
        h.write(&[b.to_ascii_uppercase()]);
    }
    h.0
}

/// FNV-1a, 64 bits: keys are per-flow and compared within a short queue.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// One SIP flow (UDP or TCP).
pub struct SipSession {
    cfg: Arc<SipConfig>,
    pending: KeyedTxQueue<u64, Pending>,
    recent: [(u64, Timestamp); RECENT],
    recent_next: usize,
    /// TCP: the partial message of each direction.
    bufs: [Vec<u8>; 2],
    /// TCP: time of the first byte of the message being framed.
    starts: [Timestamp; 2],
    /// TCP: the direction looks for the next start line.
    lost_sync: [bool; 2],
    free: Vec<Vec<u8>>,
    /// Bytes of the requests waiting in `pending`.
    pending_bytes: usize,
}

impl SipSession {
    /// A session for one UDP or TCP flow.
    pub fn new(cfg: Arc<SipConfig>) -> Self {
        let max = cfg.max_in_flight;
        SipSession {
            cfg,
            pending: KeyedTxQueue::new(max),
            recent: [(0, 0); RECENT],
            recent_next: 0,
            bufs: Default::default(),
            starts: [0; 2],
            lost_sync: [false; 2],
            free: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// Requests waiting for a final response.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn recently_done(&self, key: u64, ts: Timestamp) -> bool {
        let window = self.cfg.transaction_timeout.nanos();
        self.recent
            .iter()
            .any(|&(k, at)| k == key && at != 0 && ts.saturating_sub(at) <= window)
    }

    fn remember(&mut self, key: u64, ts: Timestamp) {
        self.recent[self.recent_next] = (key, ts.max(1));
        self.recent_next = (self.recent_next + 1) % RECENT;
    }

    fn recycle(&mut self, mut raw: Vec<u8>) {
        if self.free.len() < 8 {
            raw.clear();
            self.free.push(raw);
        }
    }

    /// One whole message (`buf` holds exactly it, `m` parsed from it).
    fn message(&mut self, dir: Dir, buf: &[u8], m: Message, leg: Leg, out: &mut TxSink<'_>) {
        let k = key(buf, &m);
        if m.is_request() {
            self.request(dir, buf, m, k, leg, out);
        } else {
            self.response(buf, m, k, leg, out);
        }
    }

    fn request(
        &mut self,
        dir: Dir,
        buf: &[u8],
        m: Message,
        k: u64,
        leg: Leg,
        out: &mut TxSink<'_>,
    ) {
        if let Some(p) = self.pending.get_mut(&k) {
            p.retransmissions += 1;
            p.last = leg.end;
            out.count("sip.retransmissions", 1);
            return;
        }
        if self.recently_done(k, leg.start) {
            out.count("sip.retransmissions", 1);
            return;
        }
        let reversed = dir == Dir::ToClient;
        if m.method(buf).eq_ignore_ascii_case(b"ACK") {
            // No response by design (RFC 3261 section 17.1.1.3, 13.2.2.4).
            self.remember(k, leg.end);
            let p = Pending {
                leg,
                raw: Vec::new(),
                msg: m,
                last: leg.end,
                provisional: Provisional::default(),
                retransmissions: 0,
                reversed,
            };
            self.emit(&p, buf, None, None, out);
            return;
        }
        while self.pending_bytes + buf.len() > self.cfg.max_pending_bytes {
            let Some((_, old)) = self.pending.pop_expired(|_| true) else {
                break;
            };
            out.count("sip.pending_bytes_evicted", 1);
            self.pending_bytes -= old.raw.len();
            self.unmatched(old, out);
        }
        let mut raw = self.free.pop().unwrap_or_default();
        raw.extend_from_slice(buf);
        self.pending_bytes += raw.len();
        let p = Pending {
            leg,
            raw,
            msg: m,
            last: leg.end,
            provisional: Provisional::default(),
            retransmissions: 0,
            reversed,
        };
        if let Some((_, old)) = self.pending.push(k, p) {
            out.count("sip.in_flight_evicted", 1);
            self.pending_bytes -= old.raw.len();
            self.unmatched(old, out);
        }
    }

    fn response(&mut self, buf: &[u8], m: Message, k: u64, leg: Leg, out: &mut TxSink<'_>) {
        let code = m.code().unwrap_or(0);
        if code < 200 {
            let recent = self.recently_done(k, leg.start);
            match self.pending.get_mut(&k) {
                Some(p) => {
                    if p.provisional.codes[..(p.provisional.count as usize).min(4)].contains(&code)
                    {
                        p.retransmissions += 1;
                        out.count("sip.retransmissions", 1);
                    } else {
                        p.provisional.add(code, leg.start);
                    }
                    p.last = leg.end;
                }
                None if recent => {
                    out.count("sip.retransmissions", 1);
                }
                None => out.count("sip.unmatched_provisional", 1),
            }
            return;
        }
        match self.pending.take(&k) {
            Some(p) => {
                self.pending_bytes -= p.raw.len();
                self.remember(k, leg.end);
                self.emit(&p, &p.raw, Some((buf, &m, &leg)), None, out);
                self.recycle(p.raw);
            }
            None if self.recently_done(k, leg.start) => {
                out.count("sip.retransmissions", 1);
            }
            None => {
                self.remember(k, leg.end);
                out.count("sip.unmatched_responses", 1);
                let p = Pending {
                    leg,
                    raw: Vec::new(),
                    msg: m,
                    last: leg.end,
                    provisional: Provisional::default(),
                    retransmissions: 0,
                    reversed: false,
                };
                self.emit_response_only(&p, buf, out);
            }
        }
    }

    fn unmatched(&mut self, p: Pending, out: &mut TxSink<'_>) {
        out.count("sip.unmatched_requests", 1);
        self.emit(&p, &p.raw, None, Some(errors::UNMATCHED_REQUEST), out);
        self.recycle(p.raw);
    }

    /// A request (from `req_buf`) with its final response, or alone.
    fn emit(
        &self,
        p: &Pending,
        req_buf: &[u8],
        resp: Option<(&[u8], &Message, &Leg)>,
        error: Option<&'static str>,
        out: &mut TxSink<'_>,
    ) {
        let cfg = &*self.cfg;
        let m = &p.msg;
        let code = resp.and_then(|(_, r, _)| r.code());
        let method = std::str::from_utf8(m.method(req_buf)).unwrap_or("?");
        let action = action(method);
        let failed = error.is_some() || code.is_some_and(|c| c >= 400);
        let up = upper(method);
        // The report's resource is the request URI (`sip.uri.original`).
        let uri = match m.start {
            parser::Start::Request { uri, .. } => Some(uri.get(req_buf)),
            parser::Start::Response { .. } => None,
        };
        let tx = crate::event::Transaction {
            status: Some(if failed { Status::Error } else { Status::Ok }),
            error,
            action: Some(&action),
            reversed: p.reversed,
            detail: TxDetail {
                code: code.map_or(Code::None, |c| Code::Num(c.into())),
                method: Some(up.as_bytes()),
                resource: uri,
                ..TxDetail::default()
            },
            ..common::transaction("sip", Some(&p.leg), resp.map(|(_, _, l)| l))
        };
        out.emit(&tx, |w| {
            w.str("method", &up);
            event::user(w, cfg, req_buf, m);
            w.begin_obj("sip");
            event::message(w, cfg, req_buf, m, Part::Full);
            if let Some((rb, r, _)) = resp {
                if let parser::Start::Response { code, phrase } = r.start {
                    w.u64("code", code.into());
                    w.bytes_lossy("status", phrase.get(rb));
                }
                w.begin_obj("response");
                event::message(w, cfg, rb, r, Part::Response);
                w.end();
            }
            p.provisional.write(w, Some(p.leg.end));
            if p.retransmissions > 0 {
                w.u64("retransmissions", p.retransmissions.into());
            }
            w.end();
        });
    }

    /// A final response without its request.
    fn emit_response_only(&self, p: &Pending, buf: &[u8], out: &mut TxSink<'_>) {
        let cfg = &*self.cfg;
        let m = &p.msg;
        let method = std::str::from_utf8(m.method(buf)).unwrap_or("?");
        let action = action(method);
        let up = upper(method);
        let tx = crate::event::Transaction {
            status: Some(Status::Error),
            error: Some(errors::UNMATCHED_RESPONSE),
            action: Some(&action),
            detail: TxDetail {
                code: m.code().map_or(Code::None, |c| Code::Num(c.into())),
                method: Some(up.as_bytes()),
                ..TxDetail::default()
            },
            ..common::transaction("sip", None, Some(&p.leg))
        };
        out.emit(&tx, |w| {
            w.str("method", &up);
            w.begin_obj("sip");
            event::message(w, cfg, buf, m, Part::Full);
            w.end();
        });
    }

    fn expire(&mut self, now: Option<Timestamp>, out: &mut TxSink<'_>) {
        let timeout = self.cfg.transaction_timeout.nanos();
        while let Some((_, p)) = self
            .pending
            .pop_expired(|p| now.is_none_or(|n| p.last.saturating_add(timeout) <= n))
        {
            self.pending_bytes -= p.raw.len();
            self.unmatched(p, out);
        }
    }

    fn bad(&self, why: &'static str, out: &mut TxSink<'_>) {
        out.count("sip.parse_errors", 1);
        tracing::debug!(target: "spanlens::sip", "dropping a SIP message: {why}");
    }
}

/// `event.action`: `sip-<method>` in lower case (Packetbeat's value).
fn action(method: &str) -> Cow<'static, str> {
    const KNOWN: &[(&str, &str)] = &[
        ("INVITE", "sip-invite"),
        ("ACK", "sip-ack"),
        ("BYE", "sip-bye"),
        ("CANCEL", "sip-cancel"),
        ("REGISTER", "sip-register"),
        ("OPTIONS", "sip-options"),
        ("PRACK", "sip-prack"),
        ("SUBSCRIBE", "sip-subscribe"),
        ("NOTIFY", "sip-notify"),
        ("PUBLISH", "sip-publish"),
        ("INFO", "sip-info"),
        ("REFER", "sip-refer"),
        ("MESSAGE", "sip-message"),
        ("UPDATE", "sip-update"),
    ];
    match KNOWN.iter().find(|(m, _)| m.eq_ignore_ascii_case(method)) {
        Some((_, a)) => Cow::Borrowed(a),
        None => Cow::Owned(format!("sip-{}", method.to_ascii_lowercase())),
    }
}

/// The method in upper case (copied only when it is not already).
fn upper(method: &str) -> Cow<'_, str> {
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(method.to_ascii_uppercase())
    } else {
        Cow::Borrowed(method)
    }
}

/// Offset of the next line in `data` (from `from` on) that starts like a
/// SIP message.
fn find_start(data: &[u8], from: usize) -> Option<usize> {
    if from == 0 && parser::looks_like_start(data) {
        return Some(0);
    }
    let mut i = from;
    while let Some(nl) = memchr::memchr(b'\n', &data[i..]) {
        let s = i + nl + 1;
        if parser::looks_like_start(&data[s..]) {
            return Some(s);
        }
        i = s;
    }
    None
}

impl DatagramSession for SipSession {
    fn datagram(&mut self, dir: Dir, payload: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        if payload.iter().all(|b| b.is_ascii_whitespace()) {
            // A keep-alive (RFC 5626 section 3.5.1).
            out.count("sip.keepalives", 1);
            return;
        }
        let start = payload
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(0);
        let msg = &payload[start..];
        let mut leg = Leg::at(ts);
        leg.bytes = payload.len() as u64;
        match parser::parse(msg, true, self.cfg.max_message_bytes) {
            Ok(m) => self.message(dir, msg, m, leg, out),
            Err(Error::Bad(why)) => self.bad(why, out),
            Err(Error::More) => self.bad("incomplete SIP datagram", out),
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(Some(now), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(None, out);
    }
}

impl Session for SipSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        let mut buf = std::mem::take(&mut self.bufs[i]);
        if buf.is_empty() {
            self.starts[i] = ts;
        }
        buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            if self.lost_sync[i] {
                match find_start(&buf, pos) {
                    Some(s) => {
                        out.count("sip.resyncs", 1);
                        out.count("sip.resync_skipped_bytes", (s - pos) as u64);
                        self.lost_sync[i] = false;
                        pos = s;
                    }
                    None => {
                        // Keep a partial line: a start may straddle chunks.
                        let keep = buf.len()
                            - buf
                                .iter()
                                .rposition(|&b| b == b'\n')
                                .map_or(pos, |n| (n + 1).max(pos));
                        let keep = keep.min(64);
                        out.count("sip.resync_skipped_bytes", (buf.len() - pos - keep) as u64);
                        pos = buf.len() - keep;
                        break;
                    }
                }
            }
            // Keep-alive CRLFs between messages (RFC 5626 section 3.5.1).
            while pos < buf.len() && matches!(buf[pos], b'\r' | b'\n') {
                pos += 1;
            }
            if pos >= buf.len() {
                break;
            }
            match parser::parse(&buf[pos..], false, self.cfg.max_message_bytes) {
                Ok(m) => {
                    let end = pos + m.len;
                    let leg = Leg {
                        start: self.starts[i],
                        end: ts,
                        bytes: m.len as u64,
                        lost: false,
                    };
                    self.message(dir, &buf[pos..end], m, leg, out);
                    pos = end;
                    self.starts[i] = ts;
                }
                Err(Error::More) => break,
                Err(Error::Bad(why)) => {
                    self.bad(why, out);
                    self.lost_sync[i] = true;
                    pos += 1;
                }
            }
        }
        buf.drain(..pos);
        if buf.capacity() > 4 * self.cfg.max_message_bytes.max(4096) && buf.len() < 4096 {
            buf.shrink_to(4096);
        }
        self.bufs[i] = buf;
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        out.count("sip.gaps", 1);
        out.count("sip.gap_bytes", len);
        self.bufs[i].clear();
        self.lost_sync[i] = true;
    }

    fn end(&mut self, dir: Dir, _ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        if self.bufs[i].iter().any(|b| !b.is_ascii_whitespace()) {
            out.count("sip.incomplete_messages", 1);
        }
        self.bufs[i].clear();
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(Some(now), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.expire(None, out);
    }
}
