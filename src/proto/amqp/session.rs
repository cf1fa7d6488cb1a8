//! [`AmqpSession`]: follows one AMQP 0-9-1 connection with the shared kit:
//! a bounded [`KeyedTxQueue`] keyed by (channel, class, reply method) so
//! that a reply completes the request it answers on its own channel
//! whichever side sent the request (the server sends connection.start and
//! may close a channel), [`Leg`]s for the common fields, the shared error
//! texts, [`Resync`] after lost bytes and bad frames, timeouts on
//! packet-time ticks.
//!
//! Content-carrying methods (basic.publish, basic.deliver, basic.return,
//! basic.get-ok) are reported when their content header and body frames
//! have arrived; publish, deliver, return, ack, nack, reject and every
//! method sent with `no-wait` are one-way events, as in Packetbeat. A
//! channel.close or connection.close with a reply code of 300 or more is
//! an error event (reply code and text); the requests it aborted on that
//! channel are counted (`amqp.requests_closed`), not reported again.

use super::parser::{self, MethodInfo, Opts, Parsed, Rec, Role, Value, F};
use super::AmqpConfig;
use crate::event::{Code, JsonWriter, Status, Transaction, TxDetail};
use crate::proto::common::errors::{
    LOSS_REQUEST, LOSS_RESPONSE, UNMATCHED_REQUEST, UNMATCHED_RESPONSE,
};
use crate::proto::common::{self, KeyedTxQueue, Leg, Resync, Scan};
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::borrow::Cow;
use std::sync::Arc;

/// Where a lost direction resumes (a frame header may straddle chunks).
const RESYNC: Resync = Resync {
    resyncs: "amqp.resyncs",
    skipped: "amqp.resync_skipped_bytes",
    keep: 7,
};

/// `error.message` of a message whose content did not arrive whole.
pub const INCOMPLETE: &str = "Incomplete message content";

/// Entries written per field table (a bound on event size).
const MAX_TABLE_ENTRIES: usize = 64;

/// (channel, class id, method id of the reply).
type Key = (u16, u16, u16);

/// One method (with its content, for content methods).
#[derive(Debug)]
struct Msg {
    info: &'static MethodInfo,
    channel: u16,
    dir: Dir,
    leg: Leg,
    rec: Rec,
    /// Kept body prefix (only when the text is wanted).
    body: Vec<u8>,
    /// Body bytes seen.
    body_seen: u64,
    /// The content header arrived (content methods).
    header: bool,
    /// Not reported (`hide_connection_information`).
    hidden: bool,
}

impl Msg {
    fn body_size(&self) -> u64 {
        self.rec.num(F::BodySize).unwrap_or(0)
    }
    fn reply_code(&self) -> u64 {
        self.rec.num(F::ReplyCode).unwrap_or(0)
    }
    fn is_close(&self) -> bool {
        matches!((self.info.class, self.info.id), (10, 50) | (20, 40))
    }
}

#[derive(Debug, Default)]
struct Side {
    /// A partial frame (at most one frame's bytes).
    buf: Vec<u8>,
    /// Time of the first buffered byte.
    start: Timestamp,
    /// Looking for the next frame start.
    lost: bool,
    /// Time of the last loss (gap or bad frame) in this direction.
    lost_at: Option<Timestamp>,
}

/// One AMQP connection.
pub struct AmqpSession {
    cfg: Arc<AmqpConfig>,
    sides: [Side; 2],
    /// Content methods waiting for their header and body, oldest first.
    contents: Vec<Msg>,
    pending: KeyedTxQueue<Key, Msg>,
    /// Largest frame payload accepted (the config bound, lowered by the
    /// frame-max the peers agree in connection.tune-ok).
    max_payload: usize,
}

impl AmqpSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<AmqpConfig>) -> Self {
        let pending = KeyedTxQueue::new(cfg.max_in_flight);
        let max_payload = cfg.max_frame_size;
        AmqpSession {
            cfg,
            sides: Default::default(),
            contents: Vec::new(),
            pending,
            max_payload,
        }
    }

    fn feed(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        if self.sides[d].buf.is_empty() {
            let used = self.run(dir, data, ts, ts, out);
            if used < data.len() {
                self.sides[d].buf.extend_from_slice(&data[used..]);
                self.sides[d].start = ts;
            }
            return;
        }
        let mut buf = std::mem::take(&mut self.sides[d].buf);
        buf.extend_from_slice(data);
        let used = self.run(dir, &buf, self.sides[d].start, ts, out);
        if used < buf.len() && used > 0 {
            self.sides[d].start = ts;
        }
        buf.drain(..used);
        self.sides[d].buf = buf;
    }

    /// Parses frames from `bytes` (the first began at `first`); returns
    /// how many bytes were used (the rest is a partial frame).
    fn run(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        first: Timestamp,
        ts: Timestamp,
        out: &mut TxSink<'_>,
    ) -> usize {
        let d = dir.idx();
        let mut pos = 0;
        loop {
            if self.sides[d].lost {
                let max = self.max_payload;
                match RESYNC.scan(&bytes[pos..], |b| parser::find_frame(b, max), out) {
                    Scan::Found(off) => {
                        pos += off;
                        self.sides[d].lost = false;
                    }
                    Scan::NotFound(drop) => return pos + drop,
                }
            }
            let start = if pos == 0 { first } else { ts };
            match parser::parse_frame(&bytes[pos..], self.max_payload) {
                Parsed::Frame(f, n) => {
                    let mut leg = Leg::at(start);
                    leg.add(ts, n as u64);
                    self.on_frame(dir, f, leg, out);
                    pos += n;
                }
                Parsed::ProtocolHeader(n) => pos += n,
                Parsed::More => return pos,
                Parsed::Error(e) => {
                    out.count(
                        match e {
                            parser::FrameError::TooLarge => "amqp.oversize_frames",
                            _ => "amqp.parse_errors",
                        },
                        1,
                    );
                    self.lose(dir, ts, out);
                    pos += 1;
                }
            }
        }
    }

    /// Bytes of `dir` were lost: its unfinished contents are reported
    /// with the loss text and the direction resyncs.
    fn lose(&mut self, dir: Dir, ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        self.sides[d].lost = true;
        self.sides[d].lost_at = Some(ts);
        let mut i = 0;
        while i < self.contents.len() {
            if self.contents[i].dir == dir {
                let mut m = self.contents.remove(i);
                m.leg.lost = true;
                self.finish_content(m, true, out);
            } else {
                i += 1;
            }
        }
    }

    fn on_frame(&mut self, dir: Dir, f: parser::Frame<'_>, leg: Leg, out: &mut TxSink<'_>) {
        match f.kind {
            parser::HEARTBEAT => out.count("amqp.heartbeats", 1),
            parser::METHOD => self.on_method(dir, f.channel, f.payload, leg, out),
            parser::HEADER => self.on_header(dir, f.channel, f.payload, leg, out),
            _ => self.on_body(dir, f.channel, f.payload, leg, out),
        }
    }

    fn content_at(&self, dir: Dir, channel: u16) -> Option<usize> {
        self.contents
            .iter()
            .position(|m| m.dir == dir && m.channel == channel)
    }

    fn on_method(&mut self, dir: Dir, channel: u16, p: &[u8], leg: Leg, out: &mut TxSink<'_>) {
        if let Some(i) = self.content_at(dir, channel) {
            // A new method on a channel whose content is unfinished.
            let m = self.contents.remove(i);
            self.finish_content(m, true, out);
        }
        if p.len() < 4 {
            out.count("amqp.malformed_methods", 1);
            return;
        }
        let (class, id) = (
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        );
        let Some(info) = parser::method_info(class, id) else {
            out.count("amqp.unknown_methods", 1);
            return;
        };
        let cfg = &*self.cfg;
        let opts = Opts {
            arguments: cfg.parse_arguments,
            properties: !cfg.hide_connection_information,
        };
        let mut rec = Rec::default();
        let notes = match parser::parse_method(info, &p[4..], opts, &mut rec) {
            Ok(n) => n,
            Err(_) => {
                out.count("amqp.malformed_methods", 1);
                return;
            }
        };
        if notes.bad_table {
            out.count("amqp.bad_tables", 1);
        }
        if let Some(fm) = notes.frame_max {
            if fm >= 8 {
                self.max_payload = self.cfg.max_frame_size.min(fm as usize);
            }
        }
        let mut msg = Msg {
            info,
            channel,
            dir,
            leg,
            rec,
            body: Vec::new(),
            body_seen: 0,
            header: false,
            hidden: info.housekeeping && cfg.hide_connection_information,
        };
        match info.role {
            Role::Request(reply) => {
                if msg.is_close() {
                    let code = msg.reply_code();
                    if code < 300 {
                        msg.hidden = cfg.hide_connection_information;
                    } else {
                        self.abort_channel(class == 10, channel, out);
                    }
                }
                if msg.rec.num(F::NoWait) == Some(1) {
                    return self.emit(Some(&msg), None, None, out);
                }
                if let Some((_, old)) = self.pending.push((channel, class, reply), msg) {
                    out.count("amqp.in_flight_dropped", 1);
                    self.expire(old, out);
                }
            }
            Role::Reply => {
                let key = (channel, class, parser::reply_key(class, id));
                match self.pending.take(&key) {
                    Some(req) if req.hidden => out.count("amqp.hidden_methods", 1),
                    Some(req) => self.emit(Some(&req), Some(&msg), None, out),
                    None => self.unmatched_response(msg, out),
                }
            }
            Role::OneWay => self.emit(Some(&msg), None, None, out),
            Role::Content => {
                if self.contents.len() >= self.cfg.max_channels {
                    out.count("amqp.contents_dropped", 1);
                    let old = self.contents.remove(0);
                    self.finish_content(old, true, out);
                }
                self.contents.push(msg);
            }
        }
    }

    /// A channel (or the whole connection) was closed with an error: the
    /// requests waiting on it will never be answered.
    fn abort_channel(&mut self, connection: bool, channel: u16, out: &mut TxSink<'_>) {
        while let Some((_, m)) = self.pending.take_where(|k, _| connection || k.0 == channel) {
            out.count(
                if m.hidden {
                    "amqp.hidden_methods"
                } else {
                    "amqp.requests_closed"
                },
                1,
            );
        }
    }

    fn unmatched_response(&mut self, msg: Msg, out: &mut TxSink<'_>) {
        if msg.info.housekeeping && self.cfg.hide_connection_information {
            return out.count("amqp.hidden_methods", 1);
        }
        if msg.is_close() || matches!((msg.info.class, msg.info.id), (10, 51) | (20, 41)) {
            // A close-ok for a close we did not see (hidden or lost).
            if self.cfg.hide_connection_information {
                return out.count("amqp.hidden_methods", 1);
            }
        }
        out.count("amqp.unmatched_responses", 1);
        let other = match msg.dir {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        };
        let why = if self.sides[other.idx()].lost_at.is_some() {
            LOSS_REQUEST
        } else {
            UNMATCHED_RESPONSE
        };
        self.emit(None, Some(&msg), Some(why), out);
    }

    fn on_header(&mut self, dir: Dir, channel: u16, p: &[u8], leg: Leg, out: &mut TxSink<'_>) {
        let Some(i) = self
            .content_at(dir, channel)
            .filter(|&i| !self.contents[i].header)
        else {
            return out.count("amqp.unexpected_frames", 1);
        };
        let m = &mut self.contents[i];
        m.leg.add(leg.end, leg.bytes);
        m.header = true;
        match parser::parse_content_header(p, true, self.cfg.parse_headers, &mut m.rec) {
            Ok((_, size, bad)) => {
                if bad {
                    out.count("amqp.bad_tables", 1);
                }
                if size == 0 {
                    let m = self.contents.remove(i);
                    self.finish_content(m, false, out);
                }
            }
            Err(_) => {
                out.count("amqp.malformed_headers", 1);
                let m = self.contents.remove(i);
                self.finish_content(m, true, out);
            }
        }
    }

    fn on_body(&mut self, dir: Dir, channel: u16, p: &[u8], leg: Leg, out: &mut TxSink<'_>) {
        let Some(i) = self
            .content_at(dir, channel)
            .filter(|&i| self.contents[i].header)
        else {
            return out.count("amqp.unexpected_frames", 1);
        };
        let keep = self.wants_body(&self.contents[i]);
        let limit = self.cfg.max_body_length;
        let m = &mut self.contents[i];
        m.leg.add(leg.end, leg.bytes);
        m.body_seen += p.len() as u64;
        if keep && m.body.len() < limit {
            let n = (limit - m.body.len()).min(p.len());
            m.body.extend_from_slice(&p[..n]);
        }
        if m.body_seen >= m.body_size() {
            let m = self.contents.remove(i);
            self.finish_content(m, false, out);
        }
    }

    /// Whether a content's body text is written (`request` of a publish,
    /// `response` of a deliver, return or get).
    fn wants_body(&self, m: &Msg) -> bool {
        if m.info.id == 40 {
            self.cfg.send_request
        } else {
            self.cfg.send_response
        }
    }

    /// A content method is complete (or never will be: `incomplete`).
    fn finish_content(&mut self, m: Msg, incomplete: bool, out: &mut TxSink<'_>) {
        let error = if m.leg.lost {
            m.leg.loss(m.dir == Dir::ToServer)
        } else if incomplete {
            out.count("amqp.incomplete_contents", 1);
            Some(INCOMPLETE)
        } else {
            None
        };
        if (m.info.class, m.info.id) == (60, 71) {
            match self.pending.take(&(m.channel, 60, 71)) {
                Some(req) => self.emit(Some(&req), Some(&m), error, out),
                None => self.unmatched_response(m, out),
            }
        } else {
            self.emit(Some(&m), None, error, out);
        }
    }

    /// A request that got no reply.
    fn expire(&mut self, m: Msg, out: &mut TxSink<'_>) {
        if m.hidden {
            return out.count("amqp.hidden_methods", 1);
        }
        if m.is_close() && m.reply_code() >= 300 {
            // Packetbeat reports a failed close without close-ok too.
            out.count("amqp.unanswered_closes", 1);
            return self.emit(Some(&m), None, None, out);
        }
        out.count("amqp.unmatched_requests", 1);
        let reply_dir = match m.dir {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        };
        let lost = self.sides[reply_dir.idx()]
            .lost_at
            .is_some_and(|t| t >= m.leg.start);
        let why = if lost {
            LOSS_RESPONSE
        } else {
            UNMATCHED_REQUEST
        };
        self.emit(Some(&m), None, Some(why), out);
    }

    fn flush(&mut self, limit: Option<Timestamp>, out: &mut TxSink<'_>) {
        let old = |m: &Msg| limit.is_none_or(|l| m.leg.end < l);
        while let Some((_, m)) = self.pending.pop_expired(old) {
            self.expire(m, out);
        }
        while let Some(i) = self.contents.iter().position(old) {
            let m = self.contents.remove(i);
            self.finish_content(m, true, out);
        }
    }

    /// One `type: amqp` event. `req` is the initiator (or the one-way
    /// message), `resp` its reply. Timing follows the roles; bytes follow
    /// the directions (`source.bytes` is what the client sent).
    fn emit(
        &self,
        req: Option<&Msg>,
        resp: Option<&Msg>,
        error: Option<&str>,
        out: &mut TxSink<'_>,
    ) {
        let Some(main) = req.or(resp) else { return };
        if main.hidden {
            return out.count("amqp.hidden_methods", 1);
        }
        let cfg = &*self.cfg;
        let name = match (req, resp) {
            (_, Some(r)) if (r.info.class, r.info.id) == (60, 72) => r.info,
            (Some(q), _) => q.info,
            (None, Some(r)) if (r.info.class, r.info.id) == (60, 71) => {
                parser::method_info(60, 70).unwrap_or(r.info)
            }
            (None, Some(r)) => r.info,
            (None, None) => return,
        };
        let field = |f: F| {
            resp.filter(|r| r.rec.has(f))
                .or(req.filter(|q| q.rec.has(f)))
        };
        let code = field(F::ReplyCode)
            .and_then(|m| m.rec.num(F::ReplyCode))
            .unwrap_or(0);
        let close_error = main.is_close() && code >= 300;
        let returned = name.class == 60 && name.id == 50;
        let reply_text: Option<Cow<'_, str>> = (close_error || returned)
            .then(|| field(F::ReplyText).and_then(|m| m.rec.bytes(F::ReplyText)))
            .flatten()
            .map(String::from_utf8_lossy);
        let error = error.or(reply_text.as_deref());
        let failed =
            error.is_some() || close_error || returned || (name.class == 60 && name.id == 90);
        // A one-way message from the server takes the response slot.
        let (rq, rs) = match (req, resp) {
            (Some(q), None) if q.dir == Dir::ToClient => (None, Some(q)),
            other => other,
        };
        let mut t = Transaction {
            status: Some(if failed { Status::Error } else { Status::Ok }),
            error,
            detail: TxDetail {
                code: if code > 0 {
                    Code::Num(code as u32)
                } else {
                    Code::None
                },
                method: Some(name.name.as_bytes()),
                resource: None,
                ..TxDetail::default()
            },
            ..common::transaction("amqp", rq.map(|m| &m.leg), rs.map(|m| &m.leg))
        };
        let bytes = |d: Dir| {
            [req, resp]
                .iter()
                .flatten()
                .filter(|m| m.dir == d)
                .map(|m| m.leg.bytes)
                .sum::<u64>()
        };
        t.request_bytes = bytes(Dir::ToServer);
        t.response_bytes = bytes(Dir::ToClient);
        t.action = Some(name.action);
        let resource = field(F::Queue)
            .and_then(|m| m.rec.bytes(F::Queue))
            .filter(|q| !q.is_empty())
            .or_else(|| field(F::Exchange).and_then(|m| m.rec.bytes(F::Exchange)));
        t.detail.resource = resource;
        let content = [req, resp]
            .into_iter()
            .flatten()
            .find(|m| m.info.role == Role::Content);
        out.emit(&t, |w| {
            w.str("method", name.name);
            if cfg.send_request {
                match content.filter(|m| m.info.id == 40) {
                    Some(m) => w.str("request", &body_text(m)),
                    None => w.str("request", &request_text(name, req.unwrap_or(main))),
                }
            }
            if cfg.send_response {
                match content.filter(|m| m.info.id != 40) {
                    Some(m) => w.str("response", &body_text(m)),
                    None if resp.is_some() => w.ascii("response", "OK"),
                    None => {}
                }
            }
            w.begin_obj("amqp");
            w.u64("channel", u64::from(main.channel));
            for &f in parser::FIELD_IDS.iter() {
                if let Some(m) = field(f) {
                    write_field(w, f, &m.rec);
                }
            }
            w.end();
        });
    }
}

/// Packetbeat's request text: the method and its main argument.
fn request_text(name: &MethodInfo, m: &Msg) -> String {
    let s = |f: F| String::from_utf8_lossy(m.rec.bytes(f).unwrap_or_default()).into_owned();
    let arg = match (name.class, name.id) {
        (50, 10) | (50, 30) | (50, 40) | (60, 20) | (60, 70) => s(F::Queue),
        (50, 20) | (50, 50) => format!("{} {}", s(F::Queue), s(F::Exchange)),
        (40, 10) | (40, 20) => s(F::Exchange),
        (40, 30) | (40, 40) => format!("{} {}", s(F::Source), s(F::Destination)),
        (60, 30) => s(F::ConsumerTag),
        (60, 90) => m.rec.num(F::DeliveryTag).unwrap_or(0).to_string(),
        _ => String::new(),
    };
    if arg.is_empty() {
        name.name.to_string()
    } else {
        format!("{} {arg}", name.name)
    }
}

/// A message body as text: as it is for text and JSON content types
/// without an encoding, else its bytes in decimal; ` [...]` when cut.
fn body_text(m: &Msg) -> String {
    let ct = m.rec.bytes(F::ContentType).unwrap_or_default();
    let encoded = m
        .rec
        .bytes(F::ContentEncoding)
        .is_some_and(|e| !e.is_empty());
    let texty = |s: &[u8]| s.windows(4).any(|w| w == b"text" || w == b"json");
    let mut s = if !encoded && texty(ct) {
        String::from_utf8_lossy(&m.body).into_owned()
    } else {
        let v: Vec<String> = m.body.iter().map(|b| b.to_string()).collect();
        v.join(" ")
    };
    if (m.body.len() as u64) < m.body_seen.max(m.body_size()) {
        s.push_str(" [...]");
    }
    s
}

fn write_field(w: &mut JsonWriter<'_>, f: F, rec: &Rec) {
    let (name, kind) = parser::FIELDS[f as usize];
    match kind {
        parser::Kind::Str => w.bytes_lossy(name, rec.bytes(f).unwrap_or_default()),
        parser::Kind::Num => w.u64(name, rec.num(f).unwrap_or(0)),
        parser::Kind::Bool => w.bool(name, rec.num(f) == Some(1)),
        parser::Kind::Time => {
            let _ = w.time(name, secs(rec.num(f).unwrap_or(0)));
        }
        parser::Kind::Table => {
            let t = rec.bytes(f).unwrap_or_default();
            write_table(w, name, t.get(4..).unwrap_or_default(), 0);
        }
    }
}

fn secs(s: u64) -> Timestamp {
    s.saturating_mul(1_000_000_000)
}

/// A table key as JSON key text: printable ASCII as it is, anything else
/// escaped; dots (object paths in Elasticsearch) become `_`, an empty key
/// `_`.
fn key_text(name: &[u8]) -> Cow<'_, str> {
    let plain = !name.is_empty()
        && name
            .iter()
            .all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' && c != b'.');
    if plain {
        return String::from_utf8_lossy(name);
    }
    if name.is_empty() {
        return Cow::Borrowed("_");
    }
    let text = String::from_utf8_lossy(name).replace('.', "_");
    let mut esc = Vec::with_capacity(text.len() + 2);
    crate::event::json::escape_into(&mut esc, text.as_bytes());
    let inner = &esc[1..esc.len() - 1];
    Cow::Owned(String::from_utf8_lossy(inner).into_owned())
}

/// A field table (validated at parse time) as an object: at most
/// [`MAX_TABLE_ENTRIES`] entries, the first of duplicate keys.
fn write_table(w: &mut JsonWriter<'_>, key: &str, body: &[u8], depth: usize) {
    w.begin_obj(key);
    let mut seen: Vec<Cow<'_, str>> = Vec::new();
    for (name, t, v) in parser::table_entries(body).take(MAX_TABLE_ENTRIES) {
        let k = key_text(name);
        if seen.contains(&k) {
            continue;
        }
        write_value(w, &k, t, v, depth);
        seen.push(k);
    }
    w.end();
}

/// An array as Packetbeat writes it: an object keyed by position.
fn write_array(w: &mut JsonWriter<'_>, key: &str, body: &[u8], depth: usize) {
    w.begin_obj(key);
    for (i, (t, v)) in parser::array_elems(body)
        .take(MAX_TABLE_ENTRIES)
        .enumerate()
    {
        write_value(w, &i.to_string(), t, v, depth);
    }
    w.end();
}

fn write_value(w: &mut JsonWriter<'_>, k: &str, t: u8, v: &[u8], depth: usize) {
    match parser::value(t, v) {
        Value::Bool(b) => w.bool(k, b),
        Value::Int(n) => w.i64(k, n),
        Value::Uint(n) => w.u64(k, n),
        Value::Float(f) => w.f64(k, f),
        Value::Decimal(scale, n) => w.str(k, &decimal(scale, n)),
        Value::Str(s) => w.bytes_lossy(k, s),
        Value::Bytes(b) => {
            let v: Vec<String> = b.iter().map(|x| x.to_string()).collect();
            w.str(k, &format!("[{}]", v.join(", ")));
        }
        Value::Time(s) => {
            let _ = w.time(k, secs(s));
        }
        Value::Table(b) if depth < parser::MAX_DEPTH => write_table(w, k, b, depth + 1),
        Value::Array(b) if depth < parser::MAX_DEPTH => write_array(w, k, b, depth + 1),
        Value::Table(_) | Value::Array(_) | Value::Void => w.null(k),
    }
}

/// `D` values: the unscaled digits with a point `scale` places from the right.
fn decimal(scale: u8, n: u32) -> String {
    let digits = n.to_string();
    let scale = scale as usize;
    if scale == 0 {
        return digits;
    }
    if digits.len() <= scale {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    } else {
        let (a, b) = digits.split_at(digits.len() - scale);
        format!("{a}.{b}")
    }
}

impl Session for AmqpSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.feed(dir, data, ts, out);
    }

    fn gap(&mut self, dir: Dir, len: u64, ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("amqp.gap_bytes", len);
        self.sides[dir.idx()].buf.clear();
        self.lose(dir, ts, out);
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
