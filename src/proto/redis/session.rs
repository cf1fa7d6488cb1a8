//! One Redis connection: requests and replies summarised from parser
//! tokens, paired in order, pub/sub pushes reported on their own.
//!
//! Each direction has a [`RespParser`] and a [`Collector`] that turns the
//! tokens of one top-level message into a [`Message`] summary (command
//! name, key, bounded query text; reply type, bounded return value, error
//! text, first elements for pub/sub). Replies complete requests in order
//! (pipelining); at most `max_in_flight` requests are kept, beyond that
//! requests are only counted (`redis.in_flight_dropped`) so later replies
//! still pair with the right command. SUBSCRIBE-family commands expect
//! one reply per channel. Pub/sub deliveries (RESP2 `message`/`pmessage`/
//! `smessage` arrays, any RESP3 `>` push that does not answer a pending
//! (un)subscribe) become events with `redis.push: true` and no request.
//! MULTI/EXEC needs nothing special: MULTI, each queued command
//! (`QUEUED`) and EXEC (an array of the results) pair one to one.
//!
//! After a gap in replies the pending requests are reported with
//! `error.message: Packet loss while capturing the response` (after a
//! gap in requests: `... the request`, since replies to the lost commands
//! will come), the request parser resumes at the next `*<n>\r\n$` line,
//! and replies are ignored until a new request has been seen and a line
//! that starts a reply arrives: pairing never silently shifts by one (a
//! pipelining client may still lose a few more pairs, never mispair).

use super::parser::{self, Kind, RespError, RespParser, Token, Visitor};
use super::RedisConfig;
use crate::aggregate::Code;
use crate::event::{JsonWriter, Status, Transaction, TxDetail};
use crate::proto::common::errors::{
    INVALID_REQUEST, INVALID_RESPONSE, LOSS_REQUEST, LOSS_RESPONSE, REQUEST_TOO_LARGE,
    RESPONSE_TOO_LARGE, UNMATCHED_REQUEST, UNMATCHED_RESPONSE,
};
use crate::proto::common::{self, Head, Leg, Overflow, Pushed, Resync, Scan, TxQueue};
use crate::proto::{Dir, Session, TxSink};
use crate::time::Timestamp;
use std::sync::Arc;

/// Where a lost direction resumes (see [`parser::find_request_start`]).
const RESYNC: Resync = Resync {
    resyncs: "redis.resyncs",
    skipped: "redis.resync_skipped_bytes",
    keep: 0,
};
/// Bytes of each of the first elements kept (pub/sub channel, kind).
const ELEM_MAX: usize = 256;
/// Arguments of a request remembered individually.
const ARGS_KEPT: usize = 4;

/// The summary of one top-level message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// Type of the top-level value (`None` for inline commands).
    pub kind: Option<Kind>,
    /// Text: the query (requests) or return value (replies), bounded.
    pub text: String,
    /// Error text of `-`/`!` replies.
    pub error: Option<String>,
    /// The first elements of a top-level aggregate (or the words of an
    /// inline command), each bounded.
    pub elems: Vec<String>,
    /// Elements of the top-level aggregate.
    pub count: u64,
    /// Time of the first and last byte, bytes on the wire.
    pub leg: Leg,
}

/// Builds [`Message`]s from tokens.
#[derive(Debug, Default)]
pub struct Collector {
    /// Requests: text is `arg arg arg`; replies: a rendered value.
    request: bool,
    max_text: usize,
    cur: Message,
    started: bool,
    /// Open aggregates: (kind, elements written so far).
    open: Vec<(Kind, u64)>,
    /// Depth inside attributes (their content is not rendered).
    attr_depth: usize,
    /// Bulk value in progress: an element of the top level, and where
    /// it is kept.
    bulk_top_index: Option<usize>,
    bulk_is_error: bool,
    bulk_verbatim_skip: usize,
    /// An empty (or null) aggregate whose end token is due; `Some(kind)`
    /// when its closing bracket is to be rendered.
    empty_end: Option<Option<Kind>>,
    ts: Timestamp,
    /// Completed messages, oldest first.
    pub done: Vec<Message>,
    /// Emptied messages handed back ([`Collector::recycle`]), and emptied
    /// element strings: the next messages reuse their allocations, so a
    /// warm connection allocates nothing per message.
    spare: Vec<Message>,
    spare_strs: Vec<String>,
}

/// Messages and element strings kept for reuse per direction.
const SPARE_MESSAGES: usize = 4;
const SPARE_STRS: usize = 4 * ARGS_KEPT;

/// Appends `s` as text, invalid UTF-8 replaced by U+FFFD (what
/// `String::from_utf8_lossy` gives; valid text, nearly all of it, is
/// checked by the faster `from_utf8` and copied as it is).
fn push_lossy(out: &mut String, s: &[u8]) {
    match std::str::from_utf8(s) {
        Ok(t) => out.push_str(t),
        Err(_) => out.push_str(&String::from_utf8_lossy(s)),
    }
}

/// Empties `m` in place, keeping its text's allocation; its element
/// strings go (emptied) to `strs`.
fn scrub(m: &mut Message, strs: &mut Vec<String>) {
    m.kind = None;
    m.text.clear();
    m.error = None;
    for mut e in m.elems.drain(..) {
        if strs.len() < SPARE_STRS {
            e.clear();
            strs.push(e);
        }
    }
    m.count = 0;
    m.leg = Leg::default();
}

impl Collector {
    /// A collector for requests or replies with a text bound.
    pub fn new(request: bool, max_text: usize) -> Self {
        Collector {
            request,
            max_text,
            ..Default::default()
        }
    }

    /// Takes back a message that has been reported: its allocations serve
    /// the next messages.
    pub fn recycle(&mut self, mut m: Message) {
        if self.spare.len() < SPARE_MESSAGES {
            scrub(&mut m, &mut self.spare_strs);
            self.spare.push(m);
        }
    }

    /// Forgets the partial message.
    pub fn reset(&mut self) {
        scrub(&mut self.cur, &mut self.spare_strs);
        self.started = false;
        self.open.clear();
        self.attr_depth = 0;
        self.bulk_top_index = None;
        self.empty_end = None;
    }

    /// Appends `s` to the text, bounded: `s` is cut to the room left,
    /// made text (invalid UTF-8, a character cut included, becomes
    /// U+FFFD), and the text cut back to the bound at a character boundary.
    fn push_text(&mut self, s: &[u8]) {
        match std::str::from_utf8(s) {
            Ok(t) => self.push_str(t),
            Err(_) => self.push_text_lossy(s),
        }
    }

    /// [`Self::push_text`] for bytes known to be text: what fits is
    /// copied as it is (the same result without a second look).
    fn push_str(&mut self, t: &str) {
        let room = self.max_text.saturating_sub(self.cur.text.len());
        if t.len() <= room {
            self.cur.text.push_str(t);
        } else if t.is_char_boundary(room) {
            self.cur.text.push_str(&t[..room]);
        } else {
            self.push_text_lossy(t.as_bytes());
        }
    }

    fn push_text_lossy(&mut self, s: &[u8]) {
        let room = self.max_text.saturating_sub(self.cur.text.len());
        if room == 0 {
            return;
        }
        let s = s.get(..s.len().min(room)).unwrap_or(s);
        push_lossy(&mut self.cur.text, s);
        if self.cur.text.len() > self.max_text {
            let mut cut = self.max_text;
            while cut > 0 && !self.cur.text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.cur.text.truncate(cut);
        }
    }

    /// Separator before a new element of the innermost aggregate.
    fn begin_elem(&mut self) {
        if self.attr_depth > 0 {
            return;
        }
        if let Some((kind, n)) = self.open.last_mut() {
            let sep = if self.request {
                " "
            } else if *kind == Kind::Map && *n % 2 == 1 {
                ": "
            } else {
                ", "
            };
            let first = *n == 0;
            *n += 1;
            if !first {
                self.push_str(sep);
            }
        }
    }

    /// Index of the element being started at the top level, if kept.
    fn top_elem_slot(&mut self) -> Option<usize> {
        if self.open.len() == 1 && self.attr_depth == 0 {
            let idx = self
                .open
                .first()
                .map_or(0, |o| o.1 as usize)
                .saturating_sub(1);
            if idx < ARGS_KEPT && self.cur.elems.len() == idx {
                let e = self.spare_strs.pop().unwrap_or_default();
                self.cur.elems.push(e);
                return Some(idx);
            }
        }
        None
    }

    /// Appends `s` (`t` when it is known to be text) to a kept element:
    /// cut to the room left, then made text.
    fn keep_elem(&mut self, slot: Option<usize>, s: &[u8], t: Option<&str>) {
        if let Some(e) = slot.and_then(|i| self.cur.elems.get_mut(i)) {
            let room = ELEM_MAX.saturating_sub(e.len());
            match t {
                Some(t) if t.len() <= room => e.push_str(t),
                Some(t) if t.is_char_boundary(room) => e.push_str(&t[..room]),
                _ => push_lossy(e, s.get(..s.len().min(room)).unwrap_or(s)),
            }
        }
    }
}

impl Visitor for Collector {
    fn token(&mut self, t: Token<'_>) -> bool {
        if !self.started {
            self.started = true;
            self.cur.leg.start = self.ts;
        }
        match t {
            Token::Aggregate { kind, len } => {
                let is_attr = kind == Kind::Attribute;
                if !is_attr {
                    if self.open.is_empty() && self.attr_depth == 0 {
                        self.cur.kind = Some(kind);
                        self.cur.count = len.max(0) as u64;
                    }
                    self.begin_elem();
                    let _ = self.top_elem_slot();
                }
                let render = !is_attr && self.attr_depth == 0 && !self.request;
                let open = if kind == Kind::Map { "{" } else { "[" };
                if len > 0 {
                    if is_attr {
                        self.attr_depth += 1;
                    } else if render {
                        self.push_str(open);
                    }
                    self.open.push((kind, 0));
                } else {
                    self.empty_end = Some((render && len == 0).then_some(kind));
                    if render {
                        self.push_str(if len < 0 { "nil" } else { open });
                    }
                }
            }
            Token::AggregateEnd => {
                let close = |k: Kind| if k == Kind::Map { "}" } else { "]" };
                if let Some(e) = self.empty_end.take() {
                    if let Some(kind) = e {
                        self.push_str(close(kind));
                    }
                } else if let Some((kind, _)) = self.open.pop() {
                    if kind == Kind::Attribute {
                        self.attr_depth = self.attr_depth.saturating_sub(1);
                    } else if self.attr_depth == 0 && !self.request {
                        self.push_str(close(kind));
                    }
                }
            }
            Token::Line { kind, text } => {
                if self.open.is_empty() && self.attr_depth == 0 {
                    self.cur.kind = Some(kind);
                }
                self.begin_elem();
                let slot = self.top_elem_slot();
                // Checked once, for the element and the text.
                let valid = std::str::from_utf8(text).ok();
                self.keep_elem(slot, text, valid);
                if self.attr_depth == 0 {
                    match kind {
                        Kind::Error => {
                            let e = String::from_utf8_lossy(
                                text.get(..text.len().min(self.max_text)).unwrap_or(text),
                            )
                            .into_owned();
                            if self.open.is_empty() {
                                self.cur.error = Some(e);
                            }
                            self.push_text(text);
                        }
                        Kind::Null => self.push_str("nil"),
                        Kind::Boolean => self.push_str(if text == b"t" { "true" } else { "false" }),
                        _ => match valid {
                            Some(t) => self.push_str(t),
                            None => self.push_text_lossy(text),
                        },
                    }
                }
            }
            Token::BulkStart { kind, len } => {
                if self.open.is_empty() && self.attr_depth == 0 {
                    self.cur.kind = Some(kind);
                }
                self.begin_elem();
                self.bulk_top_index = self.top_elem_slot();
                self.bulk_is_error = kind == Kind::BulkError && self.open.is_empty();
                self.bulk_verbatim_skip = if kind == Kind::Verbatim { 4 } else { 0 };
                if len < 0 && self.attr_depth == 0 {
                    self.push_str("nil");
                }
                if self.bulk_is_error {
                    self.cur.error = Some(String::new());
                }
            }
            Token::BulkChunk(mut c) => {
                if self.bulk_verbatim_skip > 0 {
                    let n = self.bulk_verbatim_skip.min(c.len());
                    self.bulk_verbatim_skip -= n;
                    c = c.get(n..).unwrap_or(&[]);
                }
                // Checked once, for the element and the text.
                let valid = std::str::from_utf8(c).ok();
                self.keep_elem(self.bulk_top_index, c, valid);
                if self.attr_depth == 0 {
                    match valid {
                        Some(t) => self.push_str(t),
                        None => self.push_text_lossy(c),
                    }
                    if self.bulk_is_error {
                        if let Some(e) = self.cur.error.as_mut() {
                            let room = self.max_text.saturating_sub(e.len());
                            e.push_str(&String::from_utf8_lossy(
                                c.get(..c.len().min(room)).unwrap_or(c),
                            ));
                        }
                    }
                }
            }
            Token::BulkEnd => self.bulk_top_index = None,
            Token::Inline(line) => {
                self.cur.kind = None;
                for (i, w) in line
                    .split(|c| *c == b' ' || *c == b'\t')
                    .filter(|w| !w.is_empty())
                    .enumerate()
                {
                    if i < ARGS_KEPT {
                        let w = w.get(..w.len().min(ELEM_MAX)).unwrap_or(w);
                        let mut e = self.spare_strs.pop().unwrap_or_default();
                        push_lossy(&mut e, w);
                        self.cur.elems.push(e);
                    }
                    self.cur.count += 1;
                }
                let trimmed: &[u8] = {
                    let s = line.iter().position(|c| !c.is_ascii_whitespace());
                    s.map_or(&[][..], |s| line.get(s..).unwrap_or(&[]))
                };
                self.push_text(trimmed);
            }
            Token::End { bytes } => {
                let next = self.spare.pop().unwrap_or_default();
                let mut m = std::mem::replace(&mut self.cur, next);
                m.leg.bytes = bytes;
                m.leg.end = self.ts;
                self.done.push(m);
                self.reset();
                return false;
            }
        }
        true
    }
}

/// A request waiting for its reply (or replies).
#[derive(Debug)]
struct Request {
    msg: Message,
    method: String,
    /// Replies still expected (SUBSCRIBE a b c expects three).
    replies_left: u32,
    /// Reply bytes and times gathered so far (multi-reply commands).
    reply: Option<Message>,
    /// Why the pairing was given up (an `error.message`).
    lost: Option<&'static str>,
}

/// A Redis connection.
pub struct RedisSession {
    cfg: Arc<RedisConfig>,
    parsers: [RespParser; 2],
    collectors: [Collector; 2],
    lost: [bool; 2],
    /// After a reply gap: replies are ignored until a request is seen.
    await_request: bool,
    /// Requests beyond `max_in_flight` keep an untracked place, so later
    /// replies still pair with the right command.
    pending: TxQueue<Box<Request>>,
    /// A RESP2 SUBSCRIBE was seen: `message` arrays are pushes.
    subscribed: bool,
    /// A reply was decoded, or the reply direction had a gap or an error
    /// (the first reply no longer tells whether this is Redis).
    replies_judged: bool,
    /// The first reply was not RESP (see [`Session::rejected`]).
    not_redis: bool,
    /// Reported requests kept for reuse (box and method string): the
    /// boxes are what the queue holds, so reusing them saves an allocation.
    #[allow(clippy::vec_box)]
    free: Vec<Box<Request>>,
}

impl RedisSession {
    /// A new session with the given settings.
    pub fn new(cfg: Arc<RedisConfig>) -> Self {
        let q = cfg.max_query_length;
        let r = cfg.max_return_value_length;
        let max_in_flight = cfg.max_in_flight;
        RedisSession {
            cfg,
            parsers: [RespParser::new(true), RespParser::new(false)],
            collectors: [Collector::new(true, q), Collector::new(false, r)],
            lost: [false; 2],
            await_request: false,
            pending: TxQueue::new(max_in_flight, Overflow::Untrack),
            subscribed: false,
            replies_judged: false,
            not_redis: false,
            free: Vec::new(),
        }
    }

    fn feed(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let d = dir.idx();
        let mut rest = data;
        self.collectors[d].ts = ts;
        while !rest.is_empty() {
            if self.lost[d] {
                let found = match dir {
                    Dir::ToServer => parser::find_request_start(rest),
                    Dir::ToClient if self.await_request => None,
                    Dir::ToClient => parser::find_reply_start(rest),
                };
                match RESYNC.scan(rest, |_| found, out) {
                    Scan::Found(off) => {
                        self.lost[d] = false;
                        rest = rest.get(off..).unwrap_or(&[]);
                    }
                    Scan::NotFound(_) => return,
                }
            }
            let res = self.parsers[d].feed(rest, &mut self.collectors[d]);
            // Messages completed before an error come first.
            let mut done = std::mem::take(&mut self.collectors[d].done);
            for m in done.drain(..) {
                match dir {
                    Dir::ToServer => self.on_request(m, out),
                    Dir::ToClient => self.on_reply(m, out),
                }
            }
            // The list's allocation serves the next call.
            if self.collectors[d].done.is_empty() {
                self.collectors[d].done = done;
            }
            match res {
                Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
                Err(e) => {
                    out.count("redis.parse_errors", 1);
                    if dir == Dir::ToClient && !self.replies_judged {
                        self.not_redis = matches!(e, RespError::BadType(_));
                    }
                    if dir == Dir::ToClient {
                        self.replies_judged = true;
                    }
                    if e == RespError::TooLarge {
                        out.count("redis.too_large", 1);
                    }
                    let mut partial = std::mem::take(&mut self.collectors[d].cur);
                    if !self.collectors[d].started {
                        partial.leg = Leg::at(ts);
                    }
                    partial.leg.end = ts;
                    partial.leg.bytes = self.parsers[d].pending_bytes();
                    self.parsers[d].reset();
                    self.collectors[d].reset();
                    self.lost[d] = true;
                    // Past the bad line, so the scan does not find the same
                    // start (nor a message already decoded) again.
                    rest = rest.get(self.parsers[d].error_at()..).unwrap_or(&[]);
                    match dir {
                        Dir::ToServer => self.invalid_request(partial, e, out),
                        Dir::ToClient => self.invalid_reply(partial, e, out),
                    }
                }
            }
        }
    }

    /// A request that could not be parsed: it keeps a place in the queue
    /// (Redis answers a protocol error once, then closes), so the replies
    /// that follow still pair with the right commands.
    fn invalid_request(&mut self, partial: Message, e: RespError, out: &mut TxSink<'_>) {
        let method = partial
            .elems
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let r = Box::new(Request {
            msg: partial,
            method,
            replies_left: 1,
            reply: None,
            lost: Some(if e == RespError::TooLarge {
                REQUEST_TOO_LARGE
            } else {
                INVALID_REQUEST
            }),
        });
        self.await_request = false;
        if let Pushed::Untracked(_) = self.pending.push(r) {
            out.count("redis.in_flight_dropped", 1);
        }
    }

    /// A reply that could not be parsed answers the oldest request (which
    /// is reported with the reason); where it ends is unknown, so the
    /// requests behind it are given up the same way and replies are
    /// ignored until a new request has been seen.
    fn invalid_reply(&mut self, partial: Message, e: RespError, out: &mut TxSink<'_>) {
        let reason = if e == RespError::TooLarge {
            RESPONSE_TOO_LARGE
        } else {
            INVALID_RESPONSE
        };
        match self.pending.pop_front() {
            Some(Head::Tx(mut r)) => {
                r.lost = Some(reason);
                let reply = r.reply.get_or_insert_with(Message::default);
                if reply.leg.bytes == 0 {
                    reply.leg = partial.leg;
                } else {
                    reply.leg.bytes += partial.leg.bytes;
                    reply.leg.end = partial.leg.end;
                }
                self.finish(r, out);
            }
            Some(Head::Untracked(_)) => out.count("redis.unreported_transactions", 1),
            None => self.emit_unmatched(partial, Some(reason), out),
        }
        self.lose_replies(reason, out);
    }

    fn on_request(&mut self, m: Message, out: &mut TxSink<'_>) {
        self.await_request = false;
        // A reported request's box and method string, reused.
        let mut r = self.free.pop().unwrap_or_else(|| {
            Box::new(Request {
                msg: Message::default(),
                method: String::new(),
                replies_left: 1,
                reply: None,
                lost: None,
            })
        });
        r.method.clear();
        if let Some(first) = m.elems.first() {
            r.method.push_str(first);
            r.method.make_ascii_uppercase();
        }
        let replies_left = match r.method.as_str() {
            "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" => {
                self.subscribed = true;
                (m.count.saturating_sub(1)).clamp(1, u64::from(u32::MAX)) as u32
            }
            "UNSUBSCRIBE" | "PUNSUBSCRIBE" | "SUNSUBSCRIBE" => {
                (m.count.saturating_sub(1)).clamp(1, u64::from(u32::MAX)) as u32
            }
            _ => 1,
        };
        r.msg = m;
        r.replies_left = replies_left;
        if let Pushed::Untracked(_) = self.pending.push(r) {
            out.count("redis.in_flight_dropped", 1);
        }
    }

    fn on_reply(&mut self, m: Message, out: &mut TxSink<'_>) {
        self.replies_judged = true;
        self.not_redis = false;
        let first = m.elems.first().map_or("", String::as_str);
        let first_is = |names: &[&str]| names.iter().any(|n| first.eq_ignore_ascii_case(n));
        let aggregate = matches!(m.kind, Some(Kind::Array) | Some(Kind::Push));
        let is_delivery = aggregate && first_is(&["message", "pmessage", "smessage"]);
        let is_sub_reply = aggregate
            && first_is(&[
                "subscribe",
                "psubscribe",
                "ssubscribe",
                "unsubscribe",
                "punsubscribe",
                "sunsubscribe",
            ]);
        if (m.kind == Some(Kind::Push) || (self.subscribed && is_delivery)) && !is_sub_reply {
            self.emit_push(m, out);
            return;
        }
        let front_is_sub = self
            .pending
            .front()
            .is_some_and(|r| r.method.ends_with("SUBSCRIBE"));
        if is_sub_reply && !front_is_sub {
            // A further (un)subscribe confirmation, e.g. UNSUBSCRIBE with
            // no arguments answers once per channel.
            out.count("redis.pubsub_replies_unpaired", 1);
            return;
        }
        match self.pending.head_mut() {
            None => self.emit_unmatched(m, None, out),
            Some(Head::Untracked(_)) => {
                self.pending.answer_untracked();
                out.count("redis.unreported_transactions", 1);
            }
            Some(Head::Tx(r)) => {
                r.replies_left = r.replies_left.saturating_sub(1);
                match r.reply.as_mut() {
                    None => r.reply = Some(m),
                    Some(acc) => {
                        acc.leg.bytes += m.leg.bytes;
                        acc.leg.end = m.leg.end;
                    }
                }
                if r.replies_left == 0 {
                    if let Some(r) = self.pending.pop_tx() {
                        if r.method == "UNSUBSCRIBE" || r.method == "PUNSUBSCRIBE" {
                            self.subscribed = r
                                .reply
                                .as_ref()
                                .and_then(|m| m.elems.get(2))
                                .is_some_and(|n| n != "0");
                        }
                        self.finish(r, out);
                    }
                }
            }
        }
    }

    /// Replies were lost, or requests whose replies will come: report
    /// every pending request with `reason` and ignore replies until a new
    /// request has been seen.
    fn lose_replies(&mut self, reason: &'static str, out: &mut TxSink<'_>) {
        while let Some(s) = self.pending.pop_front() {
            if let Head::Tx(mut r) = s {
                r.lost = Some(reason);
                self.finish(r, out);
            }
        }
        self.await_request = true;
        self.lost[Dir::ToClient.idx()] = true;
        self.parsers[1].reset();
        self.collectors[1].reset();
    }

    /// Reports a request, then keeps its allocations for the next ones.
    fn finish(&mut self, mut r: Box<Request>, out: &mut TxSink<'_>) {
        self.emit(&r, out);
        self.collectors[0].recycle(std::mem::take(&mut r.msg));
        if let Some(reply) = r.reply.take() {
            self.collectors[1].recycle(reply);
        }
        r.lost = None;
        if self.free.len() < SPARE_MESSAGES {
            self.free.push(r);
        }
    }

    fn emit(&self, r: &Request, out: &mut TxSink<'_>) {
        let reply = r.reply.as_ref();
        let unmatched = reply.is_none() && r.lost.is_none();
        let error = if r.lost.is_some() {
            r.lost
        } else if unmatched {
            out.count("redis.unmatched_requests", 1);
            Some(UNMATCHED_REQUEST)
        } else {
            None
        };
        let is_err = reply.is_some_and(|m| m.error.is_some());
        let invalid = r.lost.is_some_and(|l| {
            [
                INVALID_REQUEST,
                INVALID_RESPONSE,
                REQUEST_TOO_LARGE,
                RESPONSE_TOO_LARGE,
            ]
            .contains(&l)
        });
        let status = if is_err || unmatched || invalid {
            Status::Error
        } else {
            Status::Ok
        };
        let key = resource(&r.method, &r.msg.elems);
        let t = Transaction {
            status: Some(status),
            error,
            detail: TxDetail {
                code: reply
                    .and_then(|m| m.error.as_deref())
                    .map_or(Code::None, Code::redis_error),
                method: Some(r.method.as_bytes()),
                resource: key.map(str::as_bytes),
                ..TxDetail::default()
            },
            ..common::transaction("redis", Some(&r.msg.leg), reply.map(|m| &m.leg))
        };
        out.emit(&t, |w| write_body(w, &self.cfg, r, key));
    }

    /// A reply no request explains, as an event (as HTTP reports them).
    fn emit_unmatched(&self, m: Message, reason: Option<&'static str>, out: &mut TxSink<'_>) {
        out.count("redis.unmatched_responses", 1);
        let t = Transaction {
            status: Some(Status::Error),
            error: Some(reason.unwrap_or(UNMATCHED_RESPONSE)),
            detail: TxDetail {
                code: m.error.as_deref().map_or(Code::None, Code::redis_error),
                ..TxDetail::default()
            },
            ..common::transaction("redis", None, Some(&m.leg))
        };
        let cfg = &self.cfg;
        out.emit(&t, |w| {
            if cfg.send_response {
                w.str("response", &m.text);
            }
            w.begin_obj("redis");
            match &m.error {
                Some(e) => w.str("error", e),
                None => w.str("return_value", &m.text),
            }
            w.end();
        });
    }

    fn emit_push(&self, m: Message, out: &mut TxSink<'_>) {
        out.count("redis.pushes", 1);
        let kind = m
            .elems
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        // message: [kind, channel, payload]; pmessage: [kind, pattern, channel, payload]
        let channel = if kind == "PMESSAGE" {
            m.elems.get(2)
        } else {
            m.elems.get(1)
        };
        let t = Transaction {
            status: Some(Status::Ok),
            detail: TxDetail {
                method: Some(kind.as_bytes()),
                resource: channel.map(String::as_bytes),
                ..TxDetail::default()
            },
            ..common::transaction("redis", None, Some(&m.leg))
        };
        let cfg = &self.cfg;
        out.emit(&t, |w| {
            w.str("method", &kind);
            if let Some(c) = channel {
                w.str("resource", c);
            }
            if cfg.send_response {
                w.str("response", &m.text);
            }
            w.begin_obj("redis");
            w.bool("push", true);
            w.str("return_value", &m.text);
            w.end();
        });
    }

    fn flush(&mut self, older_than: Option<Timestamp>, out: &mut TxSink<'_>) {
        while let Some(front) = self.pending.head() {
            if let (Some(limit), Head::Tx(r)) = (older_than, front) {
                if r.msg.leg.end >= limit {
                    break;
                }
            }
            match self.pending.pop_front() {
                Some(Head::Tx(r)) => self.finish(r, out),
                Some(Head::Untracked(n)) => out.count("redis.unreported_transactions", n),
                None => break,
            }
        }
    }
}

/// The `redis` part of a request's event, as a template: constant runs
/// of keys and punctuation copied whole, the values written between them
/// (byte for byte what `tests::write_body_fields`, the field-by-field
/// writer, gives; tested).
fn write_body(w: &mut JsonWriter<'_>, cfg: &RedisConfig, r: &Request, key: Option<&str>) {
    w.field(br#""method":""#);
    w.text(r.method.as_bytes());
    if let Some(key) = key {
        w.lit(br#"","resource":""#);
        w.text(key.as_bytes());
    }
    w.lit(br#"","query":""#);
    w.text(r.msg.text.as_bytes());
    if cfg.send_request {
        w.lit(br#"","request":""#);
        w.text(r.msg.text.as_bytes());
    }
    w.lit(b"\"");
    let Some(m) = &r.reply else {
        return;
    };
    if cfg.send_response {
        w.lit(br#","response":""#);
        w.text(m.text.as_bytes());
        w.lit(b"\"");
    }
    match &m.error {
        Some(e) => {
            w.lit(br#","redis":{"error":""#);
            w.text(e.as_bytes());
        }
        None => {
            w.lit(br#","redis":{"return_value":""#);
            w.text(m.text.as_bytes());
        }
    }
    w.lit(br#""}"#);
}

/// The key a command works on, when it has one.
pub fn resource<'a>(method: &str, elems: &'a [String]) -> Option<&'a str> {
    let idx = match method {
        "PING" | "ECHO" | "AUTH" | "SELECT" | "INFO" | "MULTI" | "EXEC" | "DISCARD"
        | "FLUSHALL" | "FLUSHDB" | "DBSIZE" | "CONFIG" | "CLIENT" | "COMMAND" | "HELLO"
        | "QUIT" | "SAVE" | "BGSAVE" | "BGREWRITEAOF" | "LASTSAVE" | "TIME" | "SLOWLOG"
        | "SCRIPT" | "SCAN" | "KEYS" | "RANDOMKEY" | "WAIT" | "MONITOR" | "DEBUG" | "CLUSTER"
        | "READONLY" | "READWRITE" | "SWAPDB" | "LATENCY" | "MODULE" | "ACL" | "RESET"
        | "FUNCTION" | "UNWATCH" | "SHUTDOWN" | "REPLICAOF" | "SLAVEOF" | "ROLE" | "SYNC"
        | "PSYNC" | "FAILOVER" | "PUNSUBSCRIBE" | "UNSUBSCRIBE" | "SUNSUBSCRIBE" => return None,
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
            if elems.get(2).is_some_and(|n| n != "0") {
                3
            } else {
                return None;
            }
        }
        "OBJECT" | "MEMORY" => 2,
        _ => 1,
    };
    elems.get(idx).map(String::as_str)
}

impl Session for RedisSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        self.feed(dir, data, ts, out);
    }

    fn rejected(&self) -> bool {
        self.not_redis
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("redis.gap_bytes", len);
        if dir == Dir::ToClient {
            self.replies_judged = true;
        }
        let d = dir.idx();
        match dir {
            Dir::ToServer => {
                // Lost commands will be answered: give up the pairing of
                // what is pending and restart it at the next command.
                self.parsers[d].reset();
                self.collectors[d].reset();
                self.lost[d] = true;
                self.lose_replies(LOSS_REQUEST, out);
            }
            Dir::ToClient => self.lose_replies(LOSS_RESPONSE, out),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The field-by-field writer [`write_body`] replaced (the reference).
    fn write_body_fields(
        w: &mut JsonWriter<'_>,
        cfg: &RedisConfig,
        r: &Request,
        key: Option<&str>,
    ) {
        w.str("method", &r.method);
        if let Some(key) = key {
            w.str("resource", key);
        }
        w.str("query", &r.msg.text);
        if cfg.send_request {
            w.str("request", &r.msg.text);
        }
        if let Some(m) = &r.reply {
            if cfg.send_response {
                w.str("response", &m.text);
            }
            w.begin_obj("redis");
            match &m.error {
                Some(e) => w.str("error", e),
                None => w.str("return_value", &m.text),
            }
            w.end();
        }
    }

    fn msg(text: &str, error: Option<&str>) -> Message {
        Message {
            text: text.into(),
            error: error.map(str::to_owned),
            ..Message::default()
        }
    }

    #[test]
    fn template_body_equals_the_field_by_field_writer() {
        let huge = "x\"\\\u{1}é".repeat(10_000);
        let lossy = String::from_utf8_lossy(b"GET k\xff\xfe\r\n\x7f").into_owned();
        let texts = ["", "SET k v", "a\"b\\c\n\t\u{0}", &lossy, &huge];
        let mut n = 0;
        for (i, text) in texts.iter().enumerate() {
            let reply_text = texts[(i + 1) % texts.len()];
            for reply in [
                None,
                Some(msg(reply_text, None)),
                Some(msg(reply_text, Some(""))),
                Some(msg(reply_text, Some("ERR wrong \"type\"\u{fffd}"))),
            ] {
                for key in [None, Some(""), Some(*text)] {
                    for (send_request, send_response) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        let cfg = RedisConfig {
                            send_request,
                            send_response,
                            ..RedisConfig::default()
                        };
                        let r = Request {
                            msg: msg(text, None),
                            method: text.to_ascii_uppercase(),
                            replies_left: 0,
                            reply: reply.clone(),
                            lost: None,
                        };
                        let encode =
                            |f: fn(&mut JsonWriter<'_>, &RedisConfig, &Request, Option<&str>)| {
                                let mut buf = Vec::new();
                                let mut w = JsonWriter::new(&mut buf);
                                w.begin();
                                w.u64("before", 1);
                                f(&mut w, &cfg, &r, key);
                                w.end();
                                buf
                            };
                        let fast = encode(write_body);
                        let slow = encode(write_body_fields);
                        assert_eq!(
                            String::from_utf8_lossy(&fast),
                            String::from_utf8_lossy(&slow)
                        );
                        serde_json::from_slice::<serde_json::Value>(&fast).unwrap();
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 5 * 4 * 3 * 4);
    }

    #[test]
    fn recycled_messages_start_empty() {
        let mut c = Collector::new(false, 1024);
        let mut p = RespParser::new(false);
        p.feed(b"*2\r\n$5\r\nhello\r\n-ERR x\r\n", &mut c).unwrap();
        let m = c.done.pop().unwrap();
        assert_eq!(m.elems, vec!["hello", "ERR x"]);
        c.recycle(m);
        p.feed(b":7\r\n", &mut c).unwrap();
        let m = c.done.pop().unwrap();
        assert_eq!(
            m,
            Message {
                kind: Some(Kind::Integer),
                text: "7".into(),
                leg: m.leg,
                ..Message::default()
            }
        );
        assert_eq!(m.leg.bytes, 4);
    }
}
