//! [`ThriftSession`]: one Thrift connection.
//!
//! Each direction detects its layout from its first bytes (or takes the
//! configured `transport_type` / `protocol_type`) and decodes whole
//! messages. Calls wait in a [`KeyedTxQueue`] by sequence id; a reply takes
//! the oldest call with its sequence id and method name. Older calls with
//! the same sequence id that a later call's reply passed were not answered:
//! clients that reuse sequence ids (the Python and old C++ ones send 0
//! every time) send the next call only after the reply, so those calls
//! were one-way calls sent with the CALL type, as old generators do; they
//! are reported without a reply (`status: OK`, `thrift.calls_without_reply`),
//! as Packetbeat does, and so are calls still waiting when the server ends
//! its side of the connection. Calls of type ONEWAY are reported at once.
//! A call whose reply never came before `transaction_timeout` (packet
//! time), or before the flow is dropped, is `Unmatched request`.
//!
//! After lost bytes the direction resumes at the next plausible message
//! header (counted as `thrift.resyncs`); a lost reply marks the calls
//! waiting with the response loss text, a lost call marks the next
//! unmatched reply with the request loss text.

use super::parser::{self, Field, Framing, Limits, Message, MsgType, Parsed, Proto, Raw};
use super::ThriftConfig;
use crate::event::{Code, Status, Transaction, TxDetail};
use crate::proto::common::errors::{
    LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST, UNMATCHED_RESPONSE,
};
use crate::proto::common::{self, KeyedTxQueue, Leg, Resync, Scan};
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

/// Where a lost direction resumes (a header straddling two chunks is kept).
const RESYNC: Resync = Resync {
    resyncs: "thrift.resyncs",
    skipped: "thrift.resync_skipped_bytes",
    keep: 1100,
};

/// A decoded message with its leg and layout.
#[derive(Debug)]
struct Msg {
    m: Message,
    framing: Framing,
    leg: Leg,
}

/// One direction's reassembly state.
#[derive(Debug, Default)]
struct Side {
    /// Bytes of the message being received (at most `max_message_size`
    /// plus one chunk; while lost, what the resync scan keeps).
    buf: Vec<u8>,
    /// Time of the first byte in `buf`.
    start: Timestamp,
    /// Looking for the next message start.
    lost: bool,
    /// The detected (or configured) layout.
    layout: Option<(Framing, Proto)>,
}

/// One Thrift connection.
pub struct ThriftSession {
    cfg: Arc<ThriftConfig>,
    lim: Limits,
    reply_lim: Limits,
    force: (Option<Framing>, Option<Proto>),
    side: [Side; 2],
    pending: KeyedTxQueue<i32, Msg>,
    /// Calls lost in a request gap whose replies may still come.
    lost_calls: u32,
    /// A message was decoded on this connection.
    decoded: bool,
    /// The first bytes were not Thrift and nothing was decoded.
    rejected: bool,
}

impl ThriftSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<ThriftConfig>) -> Self {
        let lim = cfg.limits();
        let reply_lim = Limits {
            render: cfg.capture_reply,
            ..lim
        };
        let force = (
            match cfg.transport_type.as_str() {
                "socket" => Some(Framing::Socket),
                "framed" => Some(Framing::Framed),
                _ => None,
            },
            match cfg.protocol_type.as_str() {
                "binary" => Some(Proto::Binary),
                "compact" => Some(Proto::Compact),
                _ => None,
            },
        );
        let pending = KeyedTxQueue::new(cfg.max_in_flight);
        ThriftSession {
            cfg,
            lim,
            reply_lim,
            force,
            side: [Side::default(), Side::default()],
            pending,
            lost_calls: 0,
            decoded: false,
            rejected: false,
        }
    }

    fn layout(&self, b: &[u8]) -> Result<Option<(Framing, Proto)>, &'static str> {
        if let (Some(f), Some(p)) = self.force {
            return Ok(Some((f, p)));
        }
        let d = parser::detect(b, self.lim.max_message)?;
        Ok(d.map(|(f, p)| (self.force.0.unwrap_or(f), self.force.1.unwrap_or(p))))
    }

    /// The next plausible message start in `b`, for the known layout or
    /// for any (the earliest).
    fn find(&self, layout: Option<(Framing, Proto)>, b: &[u8]) -> Option<usize> {
        let all = [
            (Framing::Socket, Proto::Binary),
            (Framing::Framed, Proto::Binary),
            (Framing::Socket, Proto::Compact),
            (Framing::Framed, Proto::Compact),
        ];
        let one = layout.map(|l| [l]);
        let cands: &[(Framing, Proto)] = match &one {
            Some(l) => l,
            None => &all,
        };
        cands
            .iter()
            .filter_map(|&(f, p)| parser::find_start(b, f, p, &self.lim))
            .min()
    }

    fn feed(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        let mut buf = std::mem::take(&mut self.side[d].buf);
        if buf.is_empty() {
            self.side[d].start = ts;
        }
        buf.extend_from_slice(data);
        let mut pos = 0;
        while pos < buf.len() {
            if self.side[d].lost {
                // Both directions of a connection share a layout: the
                // peer's tells where a message can start before ours is known.
                let layout = self.side[d].layout.or(self.side[1 - d].layout);
                match RESYNC.scan(&buf[pos..], |b| self.find(layout, b), out) {
                    Scan::Found(off) => {
                        pos += off;
                        self.side[d].lost = false;
                        self.side[d].start = ts;
                    }
                    Scan::NotFound(drop) => {
                        pos += drop;
                        break;
                    }
                }
            }
            let layout = match self.side[d].layout {
                Some(l) => l,
                None => match self.layout(&buf[pos..]) {
                    Ok(Some(l)) => {
                        self.side[d].layout = Some(l);
                        l
                    }
                    Ok(None) => break,
                    Err(_) => {
                        if !self.decoded && pos == 0 {
                            self.rejected = true;
                        }
                        out.count("thrift.parse_errors", 1);
                        self.side[d].lost = true;
                        pos += 1;
                        continue;
                    }
                },
            };
            let lim = if dir == Dir::ToClient {
                &self.reply_lim
            } else {
                &self.lim
            };
            match parser::parse(&buf[pos..], layout.0, layout.1, lim) {
                Parsed::Done(m, n) => {
                    let leg = Leg {
                        start: self.side[d].start,
                        end: ts,
                        bytes: n as u64,
                        lost: false,
                    };
                    pos += n;
                    self.side[d].start = ts;
                    self.decoded = true;
                    self.on_message(
                        Msg {
                            m,
                            framing: layout.0,
                            leg,
                        },
                        out,
                    );
                }
                Parsed::More => break,
                Parsed::Bad(_) => {
                    out.count("thrift.parse_errors", 1);
                    self.side[d].lost = true;
                    if dir == Dir::ToClient {
                        self.lose_pending(LOSS_RESPONSE, out);
                    }
                    pos += 1;
                }
            }
        }
        buf.drain(..pos.min(buf.len()));
        self.side[d].buf = buf;
    }

    fn on_message(&mut self, msg: Msg, out: &mut TxSink<'_>) {
        match msg.m.mtype {
            MsgType::Oneway => self.emit(Some(&msg), None, None, out),
            MsgType::Call => {
                if let Some((_, old)) = self.pending.push(msg.m.seqid, msg) {
                    out.count("thrift.in_flight_dropped", 1);
                    self.emit(Some(&old), None, Some(UNMATCHED_REQUEST), out);
                }
            }
            MsgType::Reply | MsgType::Exception => loop {
                match self.pending.take(&msg.m.seqid) {
                    Some(call) if call.m.method == msg.m.method => {
                        self.emit(Some(&call), Some(&msg), None, out);
                        break;
                    }
                    Some(call) => {
                        out.count("thrift.calls_without_reply", 1);
                        self.emit(Some(&call), None, None, out);
                    }
                    None => {
                        let why = if self.lost_calls > 0 {
                            self.lost_calls -= 1;
                            LOSS_REQUEST
                        } else {
                            out.count("thrift.unmatched_responses", 1);
                            UNMATCHED_RESPONSE
                        };
                        self.emit(None, Some(&msg), Some(why), out);
                        break;
                    }
                }
            },
        }
    }

    /// Reports every waiting call with `reason`.
    fn lose_pending(&mut self, reason: &'static str, out: &mut TxSink<'_>) {
        while let Some((_, c)) = self.pending.pop_expired(|_| true) {
            self.emit(Some(&c), None, Some(reason), out);
        }
    }

    /// One `type: thrift` event.
    fn emit(
        &self,
        call: Option<&Msg>,
        reply: Option<&Msg>,
        error: Option<&str>,
        out: &mut TxSink<'_>,
    ) {
        let cfg = &*self.cfg;
        let full = call.or(reply).map_or("", |m| m.m.method.as_str());
        // TMultiplexedProtocol: `service:method`.
        let (svc, method) = match full.split_once(':') {
            Some((s, m)) => (Some(s), m),
            None => (None, full),
        };
        let func = cfg.idl().and_then(|i| i.function(method));
        let service = func.map(|f| f.service.as_str()).or(svc);
        let params = call.map(|c| {
            parser::format_struct(&c.m.fields, c.m.more_fields, &|id| {
                func.and_then(|f| f.param(id)).map(str::to_string)
            })
        });
        let mut return_value = None;
        let mut exceptions = None;
        let mut app_exc: Option<(Option<&str>, Option<i64>)> = None;
        if let Some(r) = reply {
            match r.m.mtype {
                MsgType::Exception => {
                    exceptions = Some(parser::format_struct(&r.m.fields, r.m.more_fields, &|_| {
                        None
                    }));
                    let s =
                        r.m.fields
                            .iter()
                            .find(|f| f.id == 1)
                            .and_then(|f| match &f.raw {
                                Raw::Str(s) => Some(s.as_str()),
                                _ => None,
                            });
                    let t =
                        r.m.fields
                            .iter()
                            .find(|f| f.id == 2)
                            .and_then(|f| match f.raw {
                                Raw::Int(i) => Some(i),
                                _ => None,
                            });
                    app_exc = Some((s, t));
                }
                _ => match r.m.fields.first() {
                    Some(Field { id: 0, text, .. }) => return_value = Some(text.clone()),
                    Some(_) => {
                        exceptions =
                            Some(parser::format_struct(&r.m.fields, r.m.more_fields, &|id| {
                                func.and_then(|f| f.exception(id)).map(str::to_string)
                            }))
                    }
                    None => return_value = Some(String::new()),
                },
            }
        }
        let lost = call.is_some_and(|c| c.leg.lost) || reply.is_some_and(|r| r.leg.lost);
        let failed = error.is_some() || exceptions.is_some() || lost;
        let app_type = app_exc
            .and_then(|(_, t)| t)
            .map(parser::application_exception);
        let query = params.as_ref().map(|p| format!("{method}{p}"));
        let t = Transaction {
            status: Some(if failed { Status::Error } else { Status::Ok }),
            error,
            detail: TxDetail {
                code: app_type.map_or(Code::None, Code::Text),
                method: Some(method.as_bytes()),
                resource: Some(method.as_bytes()),
                ..TxDetail::default()
            },
            ..common::transaction("thrift", call.map(|c| &c.leg), reply.map(|r| &r.leg))
        };
        out.emit(&t, |w| {
            w.str("method", method);
            if let Some(q) = &query {
                w.str("query", q);
                if cfg.send_request {
                    w.str("request", q);
                }
            }
            if cfg.send_response && cfg.capture_reply {
                if let Some(e) = &exceptions {
                    w.str("response", &format!("Exceptions: {e}"));
                } else if let Some(v) = &return_value {
                    w.str("response", v);
                }
            }
            w.begin_obj("thrift");
            if let Some(s) = service {
                w.str("service", s);
            }
            if let Some(p) = &params {
                w.str("params", p);
            }
            if cfg.capture_reply {
                if let Some(v) = &return_value {
                    w.str("return_value", v);
                }
                if let Some(e) = &exceptions {
                    w.str("exceptions", e);
                }
            }
            if let Some((msg, _)) = app_exc {
                w.begin_obj("exception");
                if let Some(m) = msg {
                    w.str("message", m);
                }
                if let Some(t) = app_type {
                    w.ascii("type", t);
                }
                w.end();
            }
            let any = call.or(reply).expect("a message");
            w.i64("seq_id", i64::from(any.m.seqid));
            if let Some(c) = call {
                w.ascii("message_type", c.m.mtype.name());
            }
            if let Some(r) = reply {
                w.ascii("reply_type", r.m.mtype.name());
            }
            w.ascii("protocol", any.m.proto.name());
            w.ascii("transport", any.framing.name());
            w.end();
        });
    }
}

impl Session for ThriftSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.feed(dir, data, ts, out);
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("thrift.gap_bytes", len);
        let s = &mut self.side[dir.idx()];
        let partial = !s.buf.is_empty();
        s.buf.clear();
        s.lost = true;
        match dir {
            Dir::ToClient => self.lose_pending(LOSS_RESPONSE, out),
            Dir::ToServer => {
                // At least one call (the one in progress, or one in the
                // lost bytes) may be answered without being seen.
                let _ = partial;
                self.lost_calls = self
                    .lost_calls
                    .saturating_add(1)
                    .min(self.cfg.max_in_flight as u32);
            }
        }
    }

    fn end(&mut self, dir: Dir, _ts: Timestamp, out: &mut TxSink<'_>) {
        if dir == Dir::ToClient {
            // The server sends nothing more: waiting calls get no reply.
            while let Some((_, c)) = self.pending.pop_expired(|_| true) {
                out.count("thrift.calls_without_reply", 1);
                self.emit(Some(&c), None, None, out);
            }
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let limit = now.saturating_sub(self.cfg.transaction_timeout.nanos());
        while let Some((_, c)) = self.pending.pop_expired(|c| c.leg.end < limit) {
            out.count("thrift.unmatched_requests", 1);
            self.emit(Some(&c), None, Some(UNMATCHED_REQUEST), out);
        }
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        while let Some((_, c)) = self.pending.pop_expired(|_| true) {
            out.count("thrift.unmatched_requests", 1);
            self.emit(Some(&c), None, Some(UNMATCHED_REQUEST), out);
        }
    }

    fn rejected(&self) -> bool {
        self.rejected && !self.decoded
    }
}
