//! [`TemplateSession`]: pairs the template's request and response lines on
//! one connection, with the shared kit: a bounded in-order [`TxQueue`],
//! [`Leg`]s for the common fields, the shared error texts, [`Resync`]
//! after lost bytes and parse errors, timeouts on packet-time ticks.
//!
//! After a gap (either side) the waiting requests are reported with the
//! loss text of that side and responses are ignored until a new request
//! has been seen, so pairing never silently shifts by one.

use super::parser::{self, Line, Parsed};
use super::TemplateConfig;
use crate::event::{Status, Transaction};
use crate::proto::common::errors::{
    LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST, UNMATCHED_RESPONSE,
};
use crate::proto::common::{self, Head, Leg, Overflow, Pushed, Resync, Scan, TxQueue};
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

/// Where a lost direction resumes.
const RESYNC: Resync = Resync {
    resyncs: "template.resyncs",
    skipped: "template.resync_skipped_bytes",
    keep: 0,
};

/// A request waiting for its response.
#[derive(Debug)]
struct Request {
    verb: String,
    arg: String,
    leg: Leg,
}

/// A response line.
#[derive(Debug)]
struct Response {
    ok: bool,
    text: String,
    leg: Leg,
}

/// One template connection.
pub struct TemplateSession {
    cfg: Arc<TemplateConfig>,
    /// Partial line per direction (reused, at most `max_line` bytes).
    buf: [Vec<u8>; 2],
    /// Time of the first byte of the partial line.
    start: [Timestamp; 2],
    /// The direction lost sync and looks for the next line start.
    lost: [bool; 2],
    /// After a gap: responses are ignored until a request is seen.
    await_request: bool,
    pending: TxQueue<Request>,
}

impl TemplateSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<TemplateConfig>) -> Self {
        let pending = TxQueue::new(cfg.max_in_flight, Overflow::Untrack);
        TemplateSession {
            cfg,
            buf: [Vec::new(), Vec::new()],
            start: [0; 2],
            lost: [false; 2],
            await_request: false,
            pending,
        }
    }

    fn feed(&mut self, dir: Dir, mut data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        if self.lost[d] {
            match RESYNC.scan(data, parser::find_start, out) {
                Scan::Found(off) => {
                    self.lost[d] = false;
                    data = &data[off..];
                }
                Scan::NotFound(_) => return,
            }
        }
        let mut buf = std::mem::take(&mut self.buf[d]);
        if buf.is_empty() {
            self.start[d] = ts;
        }
        buf.extend_from_slice(data);
        let mut pos = 0;
        let mut failed_at = None;
        loop {
            match parser::parse(&buf[pos..], self.cfg.max_line) {
                Parsed::Done(line, n) => {
                    let leg = Leg {
                        start: self.start[d],
                        end: ts,
                        bytes: n as u64,
                        lost: false,
                    };
                    self.on_line(dir, line, leg, out);
                    pos += n;
                    self.start[d] = ts;
                }
                Parsed::More => break,
                Parsed::Error => {
                    out.count("template.parse_errors", 1);
                    failed_at = Some(pos + 1);
                    break;
                }
            }
        }
        match failed_at {
            None => {
                buf.drain(..pos);
                self.buf[d] = buf;
            }
            Some(at) => {
                // Resynchronise on what follows the bad byte (rare: the copy
                // is only made on this error path).
                let rest = buf[at..].to_vec();
                buf.clear();
                self.buf[d] = buf;
                self.lost[d] = true;
                if dir == Dir::ToClient {
                    self.lose_pending(LOSS_RESPONSE, out);
                }
                self.feed(dir, &rest, ts, out);
            }
        }
    }

    fn on_line(&mut self, dir: Dir, line: Line<'_>, leg: Leg, out: &mut TxSink<'_>) {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match dir {
            Dir::ToServer => {
                self.await_request = false;
                let r = Request {
                    verb: text(line.verb),
                    arg: text(line.rest),
                    leg,
                };
                if let Pushed::Untracked(_) = self.pending.push(r) {
                    out.count("template.in_flight_dropped", 1);
                }
            }
            Dir::ToClient if self.await_request => out.count("template.ignored_responses", 1),
            Dir::ToClient => {
                let resp = Response {
                    ok: line.verb == b"OK",
                    text: text(line.rest),
                    leg,
                };
                match self.pending.head() {
                    None => {
                        out.count("template.unmatched_responses", 1);
                        emit(None, Some(&resp), Some(UNMATCHED_RESPONSE), out);
                    }
                    Some(Head::Untracked(_)) => {
                        self.pending.answer_untracked();
                        out.count("template.unreported_transactions", 1);
                    }
                    Some(Head::Tx(_)) => {
                        if let Some(req) = self.pending.pop_tx() {
                            emit(Some(&req), Some(&resp), None, out);
                        }
                    }
                }
            }
        }
    }

    /// Reports every waiting request with `reason`; responses are ignored
    /// until the next request.
    fn lose_pending(&mut self, reason: &'static str, out: &mut TxSink<'_>) {
        while let Some(h) = self.pending.pop_front() {
            match h {
                Head::Tx(r) => emit(Some(&r), None, Some(reason), out),
                Head::Untracked(n) => out.count("template.unreported_transactions", n),
            }
        }
        self.await_request = true;
    }

    /// Reports the requests older than `limit` (all with `None`) as unmatched.
    fn flush(&mut self, limit: Option<Timestamp>, out: &mut TxSink<'_>) {
        while let Some(h) = self.pending.head() {
            if let (Some(limit), Head::Tx(r)) = (limit, h) {
                if r.leg.end >= limit {
                    break;
                }
            }
            match self.pending.pop_front() {
                Some(Head::Tx(r)) => {
                    out.count("template.unmatched_requests", 1);
                    emit(Some(&r), None, Some(UNMATCHED_REQUEST), out);
                }
                Some(Head::Untracked(n)) => out.count("template.unreported_transactions", n),
                None => break,
            }
        }
    }
}

/// One `type: template` event: the common fields from the legs, then the
/// protocol's own (`method`, `query`, `template.*`).
fn emit(req: Option<&Request>, resp: Option<&Response>, error: Option<&str>, out: &mut TxSink<'_>) {
    let failed = error.is_some() || resp.is_some_and(|r| !r.ok);
    let t = Transaction {
        status: Some(if failed { Status::Error } else { Status::Ok }),
        error,
        ..common::transaction("template", req.map(|r| &r.leg), resp.map(|r| &r.leg))
    };
    out.emit(&t, |w| {
        if let Some(r) = req {
            w.str("method", &r.verb);
            w.str("query", &r.arg);
        }
        if let Some(r) = resp {
            w.begin_obj("template");
            w.ascii("status", if r.ok { "OK" } else { "ERR" });
            w.str("response", &r.text);
            w.end();
        }
    });
}

impl Session for TemplateSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.feed(dir, data, ts, out);
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("template.gap_bytes", len);
        let d = dir.idx();
        self.buf[d].clear();
        self.lost[d] = true;
        let reason = match dir {
            Dir::ToServer => LOSS_REQUEST,
            Dir::ToClient => LOSS_RESPONSE,
        };
        self.lose_pending(reason, out);
    }

    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let limit = now.saturating_sub(self.cfg.transaction_timeout.nanos());
        self.flush(Some(limit), out);
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        self.flush(None, out);
    }
}
