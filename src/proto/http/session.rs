//! [`HttpSession`]: pairs HTTP/1.x requests with responses on one connection.
//!
//! Requests are queued as their heads complete (so a response can match a
//! request whose body is still arriving) and responses complete them in
//! order (pipelining). Interim `1xx` responses other than `101` are not
//! answers: their bytes are added to the final response. `101 Switching
//! Protocols` (and a `2xx` answer to `CONNECT`) ends HTTP parsing on the
//! connection. Losses: a gap inside a body keeps the transaction and says so
//! in `error.message`; a gap anywhere else makes the parser resynchronise at
//! the next start line; a response-side gap with no response in progress
//! gives up the oldest waiting request (its answer was in the gap) so later
//! responses still pair with the right requests.
//!
//! Bounds: `max_in_flight` queued requests (beyond that requests are counted
//! and their responses reported without a request), `max_head_bytes` per
//! head, `max_body_bytes` of kept body per message, `max_message_size`.
//! Nothing is allocated per transaction once the record pool is warm.

use super::event::{self, Scratch};
pub use super::message::{errors, Message};
use super::parser::{Framing, GapEffect, ParseError, Step, StreamParser, Wants};
use super::HttpConfig;
use crate::event::{EventBatch, FlowContext, Transport};
use crate::proto::common::{Overflow, Pushed, TxQueue};
use crate::proto::{Dir, Session, TxSink};
use crate::stats::Counters;
use crate::time::Timestamp;
use std::sync::Arc;

/// Who the response in progress answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// The oldest queued request.
    Front,
    /// A request beyond `max_in_flight` that was only counted.
    Untracked,
    /// No request at all.
    Unmatched,
}

/// A request answered with a final status before its body was all
/// received (`Expect: 100-continue` answered early, a `413`): the pair
/// waits until the request ends, so that its body bytes are counted.
struct Early {
    req: Message,
    resp: Message,
    interim: u64,
}

/// A HTTP connection.
pub struct HttpSession {
    cfg: Arc<HttpConfig>,
    req_parser: StreamParser,
    resp_parser: StreamParser,
    /// Requests waiting for their response, oldest first.
    /// Requests beyond `max_in_flight` are untracked, behind every kept
    /// one, until all of them are answered.
    pending: TxQueue<Message>,
    /// Recycled records.
    free: Vec<Message>,
    /// Id of the request whose body is being received.
    cur_req: Option<u64>,
    next_id: u64,
    req_start: Timestamp,
    /// The response being received.
    resp: Message,
    resp_match: Match,
    /// Bytes of interim (1xx) responses before the final one.
    interim_bytes: u64,
    upgraded: bool,
    /// The transaction whose request body is still arriving.
    early: Option<Box<Early>>,
    /// Per direction: its first message was looked at (or a gap came first).
    first_seen: [bool; 2],
    /// A head was parsed in either direction.
    seen_http: bool,
    /// A direction's first bytes were not HTTP (see [`Session::rejected`]).
    not_http_first: bool,
    scratch: Scratch,
    /// Which header fields heads keep (all of them only when some are
    /// copied into events).
    wants: Wants,
}

impl HttpSession {
    /// A new session with the given settings.
    pub fn new(config: Arc<HttpConfig>) -> Self {
        let max_head = config.max_head_bytes;
        let max_in_flight = config.max_in_flight;
        let wants = Wants::from_config(&config);
        HttpSession {
            cfg: config,
            req_parser: StreamParser::new(true, max_head),
            resp_parser: StreamParser::new(false, max_head),
            pending: TxQueue::new(max_in_flight, Overflow::UntrackUntilDrained),
            free: Vec::new(),
            cur_req: None,
            next_id: 1,
            req_start: 0,
            resp: Message::default(),
            resp_match: Match::Unmatched,
            interim_bytes: 0,
            upgraded: false,
            early: None,
            first_seen: [false; 2],
            seen_http: false,
            not_http_first: false,
            scratch: Scratch::default(),
            wants,
        }
    }

    /// Requests waiting for a response (tracked ones).
    pub fn in_flight(&self) -> usize {
        self.pending.kept()
    }

    fn new_record(&mut self) -> Message {
        let mut m = self.free.pop().unwrap_or_default();
        m.reset();
        m
    }

    fn recycle(&mut self, m: Message) {
        if self.free.len() < 8 {
            self.free.push(m);
        }
    }

    fn cur_req_mut(&mut self) -> Option<&mut Message> {
        let id = self.cur_req?;
        if let Some(e) = self.early.as_mut().filter(|e| e.req.id == id) {
            return Some(&mut e.req);
        }
        self.pending.back_mut().filter(|m| m.id == id)
    }

    /// Emits the early-answered transaction (its request ended, or waited
    /// too long, or the flow ends).
    fn emit_early(&mut self, out: &mut TxSink<'_>) {
        let Some(e) = self.early.take() else {
            return;
        };
        if self.cur_req == Some(e.req.id) {
            self.cur_req = None;
        }
        let Early { req, resp, interim } = *e;
        let error = req
            .error
            .or(resp.error)
            .or(req.leg.loss(true))
            .or(resp.leg.loss(false));
        event::emit(
            &self.cfg,
            &mut self.scratch,
            out,
            Some(&req),
            Some(&resp),
            interim,
            error,
            false,
        );
        self.recycle(req);
        self.recycle(resp);
    }

    fn on_request_data(&mut self, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let mut pos = 0;
        while pos < data.len() {
            let was = self.req_parser.in_message();
            let base = pos;
            let (n, step) = self.req_parser.feed_with(&data[pos..], &self.wants);
            pos += n;
            if !was && self.req_parser.in_message() {
                self.req_start = ts;
            }
            match step {
                Step::More => {
                    if n == 0 {
                        break;
                    }
                    self.update_req(ts);
                }
                Step::Head => {
                    self.seen_http = true;
                    self.first_seen[0] = true;
                    self.request_head(ts, out)
                }
                Step::Body { start, end, done } => {
                    self.update_req(ts);
                    let cfg = Arc::clone(&self.cfg);
                    let slice = &data[base + start..base + end];
                    if let Some(m) = self.cur_req_mut() {
                        m.keep_body(slice, &cfg);
                    }
                    self.check_size(Dir::ToServer, out);
                    if done {
                        self.request_done(out);
                    }
                }
                Step::Done => {
                    self.update_req(ts);
                    self.request_done(out);
                }
                Step::Error(e) => self.request_error(e, ts, out),
            }
        }
    }

    fn update_req(&mut self, ts: Timestamp) {
        let (bytes, body) = (self.req_parser.msg_bytes(), self.req_parser.body_bytes());
        if let Some(m) = self.cur_req_mut() {
            m.leg.end = ts;
            m.leg.bytes = bytes;
            m.body_bytes = body;
        }
    }

    fn check_size(&mut self, dir: Dir, out: &mut TxSink<'_>) {
        let max = self.cfg.max_message_size;
        let m = match dir {
            Dir::ToServer => match self.cur_req_mut() {
                Some(m) => m,
                None => return,
            },
            Dir::ToClient => &mut self.resp,
        };
        let declared = m.head.content_length.unwrap_or(0);
        if !m.over_max && (m.leg.bytes > max || declared > max) {
            m.over_max = true;
            m.capture = false;
            m.body.clear();
            out.count("http.messages_over_max_size", 1);
        }
    }

    fn request_head(&mut self, ts: Timestamp, out: &mut TxSink<'_>) {
        let mut m = self.new_record();
        let parsed = self.req_parser.take_head(&mut m.head);
        m.leg.start = self.req_start;
        m.leg.end = ts;
        m.leg.bytes = self.req_parser.msg_bytes();
        if !parsed && m.head.parse_request_for(&self.wants, false).is_err() {
            // Reported with what its start line gives (the method when it
            // is a token), so that the server's answer to it (often a 400)
            // pairs with it and not with the next request.
            out.count("http.parse_errors", 1);
            m.head.parse_request_line_only();
            m.error = Some(errors::BAD_REQUEST_HEAD);
            self.req_parser.set_body(Framing::None);
            self.req_parser.resync();
            self.enqueue(m, true, out);
            return;
        }
        if self.req_parser.truncated() {
            // The head was cut to `max_head_bytes`: reported as too large,
            // its body still delimited by the fields kept.
            out.count("http.head_too_large", 1);
            m.error = Some(errors::REQUEST_HEAD_TOO_LARGE);
        }
        m.choose_capture(&self.cfg);
        let framing = match m.head.request_framing() {
            Ok(f) => f,
            Err(_) => {
                out.count("http.parse_errors", 1);
                m.error = Some(errors::BAD_REQUEST_BODY);
                Framing::None
            }
        };
        let done = self.req_parser.set_body(framing);
        if m.error.is_some() {
            // Whatever follows is not a body we can delimit.
            self.req_parser.resync();
        }
        self.enqueue(m, done, out);
        self.check_size(Dir::ToServer, out);
    }

    fn enqueue(&mut self, mut m: Message, done: bool, out: &mut TxSink<'_>) {
        m.complete = done;
        let id = self.next_id;
        m.id = id;
        match self.pending.push(m) {
            Pushed::Untracked(m) | Pushed::Evicted(m) => {
                out.count("http.in_flight_overflow", 1);
                self.cur_req = None;
                self.recycle(m);
            }
            Pushed::Kept => {
                self.next_id += 1;
                self.cur_req = if done { None } else { Some(id) };
            }
        }
    }

    fn request_done(&mut self, out: &mut TxSink<'_>) {
        if let Some(m) = self.cur_req_mut() {
            m.complete = true;
        }
        if self.early.is_some() {
            self.emit_early(out);
        }
        self.cur_req = None;
    }

    /// A direction's first message is not HTTP (before any gap, before any
    /// head was parsed): the flow is not HTTP.
    fn not_http(&mut self, dir: Dir, out: &mut TxSink<'_>) {
        out.count("http.not_http", 1);
        let first = !std::mem::replace(&mut self.first_seen[dir.idx()], true);
        if first && !self.seen_http {
            self.not_http_first = true;
        }
    }

    fn request_error(&mut self, e: ParseError, ts: Timestamp, out: &mut TxSink<'_>) {
        if e != ParseError::NotHttp {
            self.first_seen[0] = true;
        }
        match e {
            ParseError::NotHttp => self.not_http(Dir::ToServer, out),
            ParseError::HeadTooLarge => {
                out.count("http.head_too_large", 1);
                let mut m = self.new_record();
                m.head.raw.extend_from_slice(self.req_parser.head());
                m.head.parse_request_line_only();
                m.leg.start = self.req_start;
                m.leg.end = ts;
                m.leg.bytes = self.req_parser.msg_bytes();
                m.error = Some(errors::REQUEST_HEAD_TOO_LARGE);
                self.enqueue(m, true, out);
            }
            _ => {
                out.count("http.parse_errors", 1);
                self.update_req(ts);
                if let Some(m) = self.cur_req_mut() {
                    m.error = Some(errors::BAD_REQUEST_BODY);
                }
                self.request_done(out);
            }
        }
    }

    fn on_response_data(&mut self, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let mut pos = 0;
        while pos < data.len() {
            let was = self.resp_parser.in_message();
            let base = pos;
            let (n, step) = self.resp_parser.feed_with(&data[pos..], &self.wants);
            pos += n;
            if !was && self.resp_parser.in_message() {
                self.resp.leg.start = ts;
            }
            match step {
                Step::More => {
                    if n == 0 {
                        break;
                    }
                    self.update_resp(ts);
                }
                Step::Head => {
                    self.seen_http = true;
                    self.first_seen[1] = true;
                    self.response_head(ts, out)
                }
                Step::Body { start, end, done } => {
                    self.update_resp(ts);
                    self.resp
                        .keep_body(&data[base + start..base + end], &self.cfg);
                    self.check_size(Dir::ToClient, out);
                    if done {
                        self.response_done(out);
                    }
                }
                Step::Done => {
                    self.update_resp(ts);
                    self.response_done(out);
                }
                Step::Error(e) => self.response_error(e, ts, out),
            }
            if self.upgraded {
                out.count("http.upgraded_bytes", (data.len() - pos) as u64);
                break;
            }
        }
    }

    fn update_resp(&mut self, ts: Timestamp) {
        self.resp.leg.end = ts;
        self.resp.leg.bytes = self.resp_parser.msg_bytes();
        self.resp.body_bytes = self.resp_parser.body_bytes();
    }

    fn match_response(&mut self) {
        self.resp_match = if self.pending.kept() > 0 {
            Match::Front
        } else if self.pending.untracked() > 0 {
            Match::Untracked
        } else {
            Match::Unmatched
        };
    }

    fn response_head(&mut self, ts: Timestamp, out: &mut TxSink<'_>) {
        let start = self.resp.leg.start;
        self.resp.reset();
        self.resp.leg.start = start;
        let parsed = self.resp_parser.take_head(&mut self.resp.head);
        if !parsed
            && self
                .resp
                .head
                .parse_response_for(&self.wants, false)
                .is_err()
        {
            out.count("http.parse_errors", 1);
            self.resp_parser.resync();
            return;
        }
        if self.resp_parser.truncated() {
            // Cut to `max_head_bytes`: an error, but its body is still
            // delimited, so the next response pairs with the next request.
            out.count("http.head_too_large", 1);
            self.resp.error = Some(errors::RESPONSE_HEAD_TOO_LARGE);
        }
        self.update_resp(ts);
        let status = self.resp.head.status;
        if (100..200).contains(&status) && status != 101 {
            // Interim response: not the answer (RFC 9110 section 15.2).
            out.count("http.interim_responses", 1);
            self.interim_bytes += self.resp.leg.bytes;
            self.resp_parser.set_body(Framing::None);
            return;
        }
        self.match_response();
        let (head_req, connect) = match (self.resp_match, self.pending.front()) {
            (Match::Front, Some(r)) => (r.head.method() == b"HEAD", r.head.method() == b"CONNECT"),
            _ => (false, false),
        };
        self.resp.choose_capture(&self.cfg);
        let framing = match self.resp.head.response_framing(head_req, connect) {
            Ok(f) => f,
            Err(_) => {
                out.count("http.parse_errors", 1);
                self.resp.error = Some(errors::BAD_RESPONSE_BODY);
                Framing::None
            }
        };
        let done = self.resp_parser.set_body(framing);
        self.check_size(Dir::ToClient, out);
        if done {
            if self.resp.error.is_some() {
                self.resp_parser.resync();
            }
            self.response_done(out);
            let upgrade = status == 101 || (connect && (200..300).contains(&status));
            if upgrade && !self.upgraded {
                out.count("http.upgrades", 1);
                self.upgraded = true;
                self.req_parser.turn_off();
                self.resp_parser.turn_off();
            }
        }
    }

    fn response_error(&mut self, e: ParseError, ts: Timestamp, out: &mut TxSink<'_>) {
        if e != ParseError::NotHttp {
            self.first_seen[1] = true;
        }
        match e {
            ParseError::NotHttp => self.not_http(Dir::ToClient, out),
            ParseError::HeadTooLarge => {
                out.count("http.head_too_large", 1);
                let start = self.resp.leg.start;
                self.resp.reset();
                self.resp.leg.start = start;
                self.resp
                    .head
                    .raw
                    .extend_from_slice(self.resp_parser.head());
                let _ = self.resp.head.parse_response(true);
                self.update_resp(ts);
                self.resp.error = Some(errors::RESPONSE_HEAD_TOO_LARGE);
                self.match_response();
                self.response_done(out);
            }
            _ => {
                out.count("http.parse_errors", 1);
                self.update_resp(ts);
                self.resp.error = Some(errors::BAD_RESPONSE_BODY);
                self.response_done(out);
            }
        }
    }

    /// The response in `self.resp` is complete: emit its transaction.
    fn response_done(&mut self, out: &mut TxSink<'_>) {
        self.resp.complete = true;
        let interim = std::mem::take(&mut self.interim_bytes);
        let matched = std::mem::replace(&mut self.resp_match, Match::Unmatched);
        match matched {
            Match::Front => {
                if let Some(req) = self.pending.pop_tx() {
                    if self.cur_req == Some(req.id) && !req.complete {
                        // Answered before its body arrived: wait for it.
                        let fresh = self.new_record();
                        let resp = std::mem::replace(&mut self.resp, fresh);
                        self.emit_early(out);
                        self.early = Some(Box::new(Early { req, resp, interim }));
                        return;
                    }
                    if self.cur_req == Some(req.id) {
                        self.cur_req = None;
                    }
                    let error = req
                        .error
                        .or(self.resp.error)
                        .or(req.leg.loss(true))
                        .or(self.resp.leg.loss(false));
                    event::emit(
                        &self.cfg,
                        &mut self.scratch,
                        out,
                        Some(&req),
                        Some(&self.resp),
                        interim,
                        error,
                        false,
                    );
                    self.recycle(req);
                    return;
                }
                self.emit_unmatched_response(interim, out);
            }
            Match::Untracked => {
                self.pending.answer_untracked();
                event::emit(
                    &self.cfg,
                    &mut self.scratch,
                    out,
                    None,
                    Some(&self.resp),
                    interim,
                    Some(errors::UNTRACKED_REQUEST),
                    true,
                );
            }
            Match::Unmatched => self.emit_unmatched_response(interim, out),
        }
    }

    fn emit_unmatched_response(&mut self, interim: u64, out: &mut TxSink<'_>) {
        out.count("http.unmatched_responses", 1);
        event::emit(
            &self.cfg,
            &mut self.scratch,
            out,
            None,
            Some(&self.resp),
            interim,
            Some(errors::UNMATCHED_RESPONSE),
            true,
        );
    }

    /// Reports the oldest waiting request without a response.
    fn expire_front(&mut self, error: &'static str, out: &mut TxSink<'_>) -> bool {
        let Some(req) = self.pending.pop_tx() else {
            return false;
        };
        if self.cur_req == Some(req.id) {
            self.cur_req = None;
        }
        if error == errors::UNMATCHED_REQUEST {
            out.count("http.unmatched_requests", 1);
        }
        let error = req.error.unwrap_or(error);
        event::emit(
            &self.cfg,
            &mut self.scratch,
            out,
            Some(&req),
            None,
            0,
            Some(error),
            true,
        );
        self.recycle(req);
        true
    }

    /// Ends the response direction: a close-delimited body is complete, any
    /// other started response is reported as incomplete.
    fn finish_response(&mut self, out: &mut TxSink<'_>) {
        if self.resp_parser.end() {
            self.response_done(out);
        } else if self.resp_parser.in_body() {
            self.resp.error = self.resp.error.or(Some(errors::INCOMPLETE_RESPONSE));
            self.resp_parser.resync();
            self.response_done(out);
        }
    }
}

impl Session for HttpSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        if self.upgraded {
            out.count("http.upgraded_bytes", data.len() as u64);
            return;
        }
        match dir {
            Dir::ToServer => self.on_request_data(data, ts, out),
            Dir::ToClient => self.on_response_data(data, ts, out),
        }
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        if self.upgraded {
            return;
        }
        out.count("http.gaps", 1);
        self.first_seen[dir.idx()] = true;
        match dir {
            Dir::ToServer => match self.req_parser.gap(len) {
                GapEffect::Between => {}
                GapEffect::LostHead => out.count("http.lost_heads", 1),
                GapEffect::InBody { done } => {
                    let (bytes, body) = (self.req_parser.msg_bytes(), self.req_parser.body_bytes());
                    if let Some(m) = self.cur_req_mut() {
                        m.leg.lost = true;
                        m.leg.bytes = bytes;
                        m.body_bytes = body;
                    }
                    if done {
                        self.request_done(out);
                    }
                }
                GapEffect::Truncated => {
                    if let Some(m) = self.cur_req_mut() {
                        m.leg.lost = true;
                    }
                    self.request_done(out);
                }
            },
            Dir::ToClient => match self.resp_parser.gap(len) {
                GapEffect::Between | GapEffect::LostHead => {
                    // The lost bytes held (part of) the answer to the oldest
                    // complete request: give it up so later ones stay paired.
                    if self.pending.front().is_some_and(|r| r.complete) {
                        out.count("http.lost_heads", 1);
                        self.expire_front(errors::LOSS_RESPONSE, out);
                    }
                    self.interim_bytes = 0;
                }
                GapEffect::InBody { done } => {
                    self.resp.leg.lost = true;
                    self.resp.leg.bytes = self.resp_parser.msg_bytes();
                    self.resp.body_bytes = self.resp_parser.body_bytes();
                    if done {
                        self.response_done(out);
                    }
                }
                GapEffect::Truncated => {
                    self.resp.leg.lost = true;
                    self.resp.leg.bytes = self.resp_parser.msg_bytes();
                    self.resp.body_bytes = self.resp_parser.body_bytes();
                    self.response_done(out);
                }
            },
        }
    }

    fn rejected(&self) -> bool {
        self.not_http_first && !self.seen_http
    }

    fn end(&mut self, dir: Dir, _ts: Timestamp, out: &mut TxSink<'_>) {
        if dir == Dir::ToClient && !self.upgraded {
            self.finish_response(out);
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let timeout = self.cfg.transaction_timeout.nanos();
        if self
            .early
            .as_ref()
            .is_some_and(|e| e.req.leg.end.saturating_add(timeout) <= now)
        {
            self.emit_early(out);
        }
        // A response in progress answers the oldest request: never expire it.
        while !self.resp_parser.in_message() {
            match self.pending.front() {
                Some(r) if r.leg.end.saturating_add(timeout) <= now => {
                    self.expire_front(errors::UNMATCHED_REQUEST, out);
                }
                _ => break,
            }
        }
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        if !self.upgraded {
            self.finish_response(out);
        }
        self.emit_early(out);
        while self.expire_front(errors::UNMATCHED_REQUEST, out) {}
        let untracked = self.pending.take_untracked();
        if untracked > 0 {
            out.count("http.untracked_unanswered", untracked);
        }
    }
}

/// Fuzzing harness shared by `fuzz/` and a stable test: the first bytes of
/// `data` choose how the rest is cut into segments, directions, gaps and
/// ticks; every emitted event must be valid JSON.
pub fn fuzz_one(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let cfg = HttpConfig {
        send_all_headers: ctl & 1 != 0,
        include_body_for: vec!["text".into()],
        hide_keywords: vec!["pass".into()],
        real_ip_header: Some("x-forwarded-for".into()),
        max_head_bytes: 256 + usize::from(ctl) * 8,
        max_in_flight: 1 + usize::from(ctl % 5),
        max_message_size: 64 + u64::from(ctl) * 16,
        max_body_bytes: usize::from(ctl) * 4,
        ..HttpConfig::default()
    };
    let mut flow = FlowContext::new(
        1,
        ("10.0.0.1".parse().expect("literal"), 40000),
        ("10.0.0.2".parse().expect("literal"), 80),
        Transport::Tcp,
        String::new(),
    );
    let mut batch = EventBatch::default();
    let mut counters = Counters::new();
    let mut sink = TxSink {
        flow: &mut flow,
        events: &mut batch,
        counters: &mut counters,
    };
    let mut s = HttpSession::new(Arc::new(cfg));
    let mut ts: Timestamp = 1_000_000_000;
    let mut pos = 0;
    // Each segment: one control byte (direction, kind, length), then bytes.
    while pos < rest.len() {
        let c = rest[pos];
        pos += 1;
        let len = usize::from(c >> 3) * 3 + 1;
        let end = (pos + len).min(rest.len());
        let dir = if c & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        ts += u64::from(c) * 50_000_000;
        match (c >> 1) & 3 {
            0 if c & 0x80 != 0 => s.gap(dir, u64::from(c & 0x78) + 1, ts, &mut sink),
            1 if c & 0xf0 == 0xf0 => s.end(dir, ts, &mut sink),
            2 if c & 0xf0 == 0xf0 => s.tick(ts, &mut sink),
            _ => {
                s.data(dir, &rest[pos..end], ts, &mut sink);
                pos = end;
            }
        }
    }
    s.close(ts, &mut sink);
    for i in 0..batch.len() {
        let v: Result<serde_json::Value, _> = serde_json::from_slice(batch.json(i));
        assert!(
            v.is_ok(),
            "event {i} is not JSON: {:?}",
            String::from_utf8_lossy(batch.json(i))
        );
    }
}
