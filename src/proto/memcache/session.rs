//! Memcache sessions: [`MemcacheSession`] (TCP, text or binary) and
//! [`MemcacheUdpSession`] (UDP with its 8-byte frame header).
//!
//! Text: responses answer requests in order; `noreply` requests and `quit`
//! have no answer and are reported at once. A `get` answer is its `VALUE`
//! blocks up to `END`, a `stats` answer its `STAT` lines up to `END`.
//! Binary: a response answers the request with its opaque; quiet requests
//! queued before it got no answer (memcached answers in order) and are
//! reported without a response, as Packetbeat does; a `Stat` answer is its
//! packets up to the one with an empty key.
//!
//! Bounds: `max_in_flight` requests per connection (beyond it the oldest is
//! reported as unmatched), `max_keys` keys and `max_stats` stats kept per
//! message (all counted), `max_line` per text line or binary header. Values
//! are never kept (but for the first bytes of counters, stats and
//! versions).

use super::parser::{self, Msg, Reader, Step};
use super::MemcacheConfig;
use crate::event::{Code, JsonWriter, Status, TxDetail};
use crate::proto::common::{self, errors, Leg};
use crate::proto::{DatagramSession, Dir, Session, TxSink};
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::sync::Arc;

/// One request, or a response assembled from its parts.
#[derive(Debug, Default)]
struct Side {
    msg: Msg,
    leg: Leg,
    keys: Vec<String>,
    key_count: u64,
    values: u64,
    value_bytes: u64,
    stats: Vec<(String, String)>,
}

impl Side {
    fn new(msg: Msg, ts: Timestamp) -> Side {
        let mut leg = Leg::at(ts);
        leg.add(ts, msg.wire);
        Side {
            msg,
            leg,
            ..Side::default()
        }
    }

    fn add_key(&mut self, k: String, max: usize) {
        self.key_count += 1;
        if self.keys.len() < max {
            self.keys.push(k);
        }
    }
}

fn quiet(m: &Msg) -> bool {
    m.binary && parser::opcode_name(m.opcode).1
}

fn noreply(m: &Msg) -> bool {
    !m.binary && m.args.last().is_some_and(|a| a == "noreply")
}

/// A request the server never answers: `noreply`, text `quit`, binary QuitQ.
fn no_answer(m: &Msg) -> bool {
    noreply(m) || (!m.binary && m.word == "quit") || (m.binary && m.opcode == 0x17)
}

fn request_side(m: Msg, ts: Timestamp, cfg: &MemcacheConfig) -> Side {
    let (keys, values, bytes): (Vec<String>, u64, u64) = if m.binary {
        let k = (!m.key.is_empty()).then(|| String::from_utf8_lossy(&m.key).into_owned());
        (
            k.into_iter().collect(),
            u64::from(m.value_len > 0),
            m.value_len,
        )
    } else {
        let keys = match m.word.as_str() {
            "get" | "gets" => m.args.clone(),
            "gat" | "gats" => m.args.iter().skip(1).cloned().collect(),
            "set" | "add" | "replace" | "append" | "prepend" | "cas" | "delete" | "incr"
            | "decr" | "touch" => m.args.first().cloned().into_iter().collect(),
            _ => Vec::new(),
        };
        let store = parser::is_storage(&m.word);
        (keys, u64::from(store), if store { m.value_len } else { 0 })
    };
    let mut s = Side::new(m, ts);
    for k in keys {
        s.add_key(k, cfg.max_keys);
    }
    s.values = values;
    s.value_bytes = bytes;
    s
}

/// Writes one transaction.
fn emit(
    cfg: &MemcacheConfig,
    req: Option<&Side>,
    resp: Option<&Side>,
    error: Option<&'static str>,
    out: &mut TxSink<'_>,
) {
    let failed = match resp {
        Some(r) if r.msg.binary => r.msg.status != 0,
        Some(r) => parser::text_response_type(&r.msg.word).1,
        None => false,
    };
    let lost = req.is_some_and(|r| r.leg.lost) || resp.is_some_and(|r| r.leg.lost);
    let error = error.or_else(|| {
        if req.is_some_and(|r| r.leg.lost) {
            Some(errors::LOSS_REQUEST)
        } else if lost {
            Some(errors::LOSS_RESPONSE)
        } else {
            None
        }
    });
    let tx = crate::event::Transaction {
        status: Some(if failed || error.is_some() {
            Status::Error
        } else {
            Status::Ok
        }),
        error,
        detail: detail(req, resp),
        ..common::transaction("memcache", req.map(|r| &r.leg), resp.map(|r| &r.leg))
    };
    let binary = req.or(resp).is_some_and(|s| s.msg.binary);
    out.emit(&tx, |w| {
        w.begin_obj("memcache");
        w.ascii("protocol_type", if binary { "binary" } else { "text" });
        if let Some(r) = req {
            w.begin_obj("request");
            write_request(cfg, r, w);
            w.end();
        }
        if let Some(r) = resp {
            w.begin_obj("response");
            write_response(r, w);
            w.end();
        }
        w.end();
    });
}

/// What the report counts, as the event writes it: the request's
/// `command`, its first key, and the response's `status` (binary) or
/// `command` (text; none for a counter value).
fn detail<'a>(req: Option<&'a Side>, resp: Option<&'a Side>) -> TxDetail<'a> {
    let method = req.map(|r| {
        if r.msg.binary {
            parser::opcode_command(r.msg.opcode).0
        } else {
            r.msg.word.as_str()
        }
    });
    let code = match resp {
        Some(r) if r.msg.binary => Code::Text(parser::status_name(r.msg.status)),
        Some(r) if parser::text_response_type(&r.msg.word).0 != "Counter" => {
            Code::Text(r.msg.word.as_str())
        }
        _ => Code::None,
    };
    TxDetail {
        code,
        method: method.map(str::as_bytes),
        resource: req.and_then(|r| r.keys.first()).map(String::as_bytes),
        ..TxDetail::default()
    }
}

fn keys(w: &mut JsonWriter<'_>, s: &Side) {
    if !s.keys.is_empty() {
        w.begin_arr("keys");
        for k in &s.keys {
            w.elem_str(k);
        }
        w.end_arr();
    }
    if s.key_count as usize > s.keys.len() {
        w.u64("count_keys", s.key_count);
    }
}

fn num(a: Option<&String>) -> Option<u64> {
    a.and_then(|v| v.parse().ok())
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

fn write_request(cfg: &MemcacheConfig, r: &Side, w: &mut JsonWriter<'_>) {
    let m = &r.msg;
    if m.binary {
        let (name, q) = parser::opcode_name(m.opcode);
        let (cmd, ty) = parser::opcode_command(m.opcode);
        w.ascii("opcode", name);
        w.u64("opcode_value", u64::from(m.opcode));
        w.ascii("command", cmd);
        w.ascii("type", ty);
        w.bool("quiet", q);
        w.u64("opaque", u64::from(m.opaque));
        if m.cas != 0 {
            w.u64("cas_unique", m.cas);
        }
        let e = &m.extras;
        match (m.opcode, e.len()) {
            (0x01..=0x03 | 0x11..=0x13, 8) => {
                w.u64("flags", be(&e[..4]));
                w.u64("exptime", be(&e[4..8]));
            }
            (0x05 | 0x06 | 0x15 | 0x16, 20) => {
                w.u64("delta", be(&e[..8]));
                w.u64("initial", be(&e[8..16]));
                w.u64("exptime", be(&e[16..20]));
            }
            (0x1c..=0x1e | 0x08 | 0x18, 4) => w.u64("exptime", be(e)),
            (0x1b, 4) => w.u64("verbosity", be(e)),
            _ => {}
        }
    } else {
        w.str("command", &m.word);
        w.ascii("type", parser::text_request_type(&m.word));
        w.bool("noreply", noreply(m));
        let a = &m.args;
        match m.word.as_str() {
            c if parser::is_storage(c) => {
                if let Some(f) = num(a.get(1)) {
                    w.u64("flags", f);
                }
                if let Some(e) = num(a.get(2)) {
                    w.u64("exptime", e);
                }
                if c == "cas" {
                    if let Some(v) = num(a.get(4)) {
                        w.u64("cas_unique", v);
                    }
                }
            }
            "incr" | "decr" => {
                if let Some(d) = num(a.get(1)) {
                    w.u64("delta", d);
                }
            }
            "touch" => {
                if let Some(e) = num(a.get(1)) {
                    w.u64("exptime", e);
                }
            }
            "gat" | "gats" => {
                if let Some(e) = num(a.first()) {
                    w.u64("exptime", e);
                }
            }
            "verbosity" => {
                if let Some(v) = num(a.first()) {
                    w.u64("verbosity", v);
                }
            }
            "stats" | "flush_all" => {
                let raw = a.join(" ");
                let raw: String = raw.chars().take(cfg.max_keys.max(1) * 32).collect();
                w.str("raw_args", &raw);
            }
            _ => {}
        }
    }
    keys(w, r);
    if r.values > 0 {
        w.u64("count_values", r.values);
        w.u64("bytes", r.value_bytes);
    }
}

fn write_response(r: &Side, w: &mut JsonWriter<'_>) {
    let m = &r.msg;
    if m.binary {
        let (name, _) = parser::opcode_name(m.opcode);
        let (_, ty) = parser::opcode_command(m.opcode);
        w.ascii("opcode", name);
        w.u64("opcode_value", u64::from(m.opcode));
        w.ascii("type", ty);
        w.ascii("status", parser::status_name(m.status));
        w.u64("status_code", u64::from(m.status));
        w.u64("opaque", u64::from(m.opaque));
        if m.cas != 0 {
            w.u64("cas_unique", m.cas);
        }
        if m.status == 0 {
            match m.opcode {
                0x05 | 0x06 | 0x15 | 0x16 if m.value.len() == 8 => w.u64("value", be(&m.value)),
                0x0b => w.bytes_lossy("version", &m.value),
                0x00 | 0x09 | 0x0c | 0x0d if m.extras.len() == 4 => w.u64("flags", be(&m.extras)),
                _ => {}
            }
        } else if !m.value.is_empty() {
            w.bytes_lossy("error_msg", &m.value);
        }
    } else {
        let (ty, _) = parser::text_response_type(&m.word);
        w.str("command", &m.word);
        w.ascii("type", ty);
        match ty {
            "Counter" => {
                if let Ok(v) = m.word.parse::<u64>() {
                    w.u64("value", v);
                }
            }
            "Info" if m.word == "VERSION" => w.str("version", &m.args.join(" ")),
            "Error" => w.str("error_msg", &m.args.join(" ")),
            _ => {}
        }
    }
    keys(w, r);
    if r.values > 0 || matches!(m.word.as_str(), "VALUE" | "END") {
        w.u64("count_values", r.values);
        w.u64("bytes", r.value_bytes);
    }
    if !r.stats.is_empty() {
        w.begin_arr("stats");
        for (n, v) in &r.stats {
            w.begin();
            w.str("name", n);
            w.str("value", v);
            w.end();
        }
        w.end_arr();
    }
}

/// Adds a response part to the response being assembled; returns whether
/// the response is complete.
fn add_part(resp: &mut Option<Side>, m: Msg, ts: Timestamp, cfg: &MemcacheConfig) -> bool {
    let r = resp.get_or_insert_with(|| {
        let mut s = Side::new(Msg::default(), ts);
        s.leg.bytes = 0;
        s
    });
    r.leg.add(ts, m.wire);
    if m.binary {
        if m.opcode == 0x10 && !m.key.is_empty() {
            // One statistic; the packet with an empty key ends the list.
            if r.stats.len() < cfg.max_stats {
                r.stats.push((
                    String::from_utf8_lossy(&m.key).into_owned(),
                    String::from_utf8_lossy(&m.value).into_owned(),
                ));
            }
            r.msg = m;
            return false;
        }
        let load = matches!(m.opcode, 0x00 | 0x09 | 0x0c | 0x0d | 0x1d | 0x1e) && m.status == 0;
        if load {
            r.values += 1;
            r.value_bytes += m.value_len;
            if !m.key.is_empty() {
                let k = String::from_utf8_lossy(&m.key).into_owned();
                r.add_key(k, cfg.max_keys);
            }
        }
        r.msg = m;
        return true;
    }
    match m.word.as_str() {
        "VALUE" => {
            r.values += 1;
            r.value_bytes += m.value_len;
            if let Some(k) = m.args.first() {
                r.add_key(k.clone(), cfg.max_keys);
            }
            if r.msg.word.is_empty() {
                r.msg = m;
            }
            false
        }
        "STAT" => {
            if r.stats.len() < cfg.max_stats {
                let name = m.args.first().cloned().unwrap_or_default();
                let value = m.args.get(1..).map(|v| v.join(" ")).unwrap_or_default();
                r.stats.push((name, value));
            }
            if r.msg.word.is_empty() {
                r.msg = m;
            }
            false
        }
        _ => {
            // END closes a VALUE/STAT list (keeping its first word, as
            // Packetbeat reports `STAT` for stats); anything else stands alone.
            if m.word != "END" || r.msg.word.is_empty() {
                r.msg = m;
            }
            true
        }
    }
}

/// A memcache TCP connection.
pub struct MemcacheSession {
    cfg: Arc<MemcacheConfig>,
    readers: [Reader; 2],
    pending: VecDeque<Side>,
    resp: Option<Side>,
}

impl MemcacheSession {
    /// A new session.
    pub fn new(cfg: Arc<MemcacheConfig>) -> Self {
        let max = cfg.max_line;
        MemcacheSession {
            cfg,
            readers: [Reader::new(true, max), Reader::new(false, max)],
            pending: VecDeque::new(),
            resp: None,
        }
    }

    fn on_request(&mut self, m: Msg, ts: Timestamp, out: &mut TxSink<'_>) {
        let side = request_side(m, ts, &self.cfg);
        if no_answer(&side.msg) {
            emit(&self.cfg, Some(&side), None, None, out);
            return;
        }
        if self.pending.len() >= self.cfg.max_in_flight.max(1) {
            out.count("memcache.in_flight_overflow", 1);
            if let Some(old) = self.pending.pop_front() {
                self.report_unanswered(old, out);
            }
        }
        self.pending.push_back(side);
    }

    fn report_unanswered(&self, r: Side, out: &mut TxSink<'_>) {
        if quiet(&r.msg) {
            emit(&self.cfg, Some(&r), None, None, out);
        } else {
            out.count("memcache.unmatched_requests", 1);
            emit(
                &self.cfg,
                Some(&r),
                None,
                Some(errors::UNMATCHED_REQUEST),
                out,
            );
        }
    }

    fn on_response(&mut self, m: Msg, ts: Timestamp, out: &mut TxSink<'_>) {
        if m.binary {
            // Quiet requests before the one answered got no answer.
            if self.resp.is_none() {
                while let Some(front) = self.pending.front() {
                    if front.msg.opaque == m.opaque && front.msg.binary {
                        break;
                    }
                    if !self.pending.iter().any(|r| r.msg.opaque == m.opaque) {
                        break;
                    }
                    let r = self.pending.pop_front().expect("checked");
                    self.report_unanswered(r, out);
                }
            }
        }
        let cfg = Arc::clone(&self.cfg);
        if !add_part(&mut self.resp, m, ts, &cfg) {
            return;
        }
        let resp = self.resp.take().expect("just added");
        let matched = match self.pending.front() {
            Some(r) if !resp.msg.binary || r.msg.opaque == resp.msg.opaque => {
                self.pending.pop_front()
            }
            _ => None,
        };
        match matched {
            Some(req) => emit(&self.cfg, Some(&req), Some(&resp), None, out),
            None => {
                out.count("memcache.unmatched_responses", 1);
                emit(
                    &self.cfg,
                    None,
                    Some(&resp),
                    Some(errors::UNMATCHED_RESPONSE),
                    out,
                );
            }
        }
    }

    fn drain(&mut self, out: &mut TxSink<'_>) {
        while let Some(r) = self.pending.pop_front() {
            self.report_unanswered(r, out);
        }
    }
}

impl Session for MemcacheSession {
    fn data(&mut self, dir: Dir, data: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        let i = dir.idx();
        let mut pos = 0;
        loop {
            let (n, step) = self.readers[i].feed(&data[pos..]);
            pos += n;
            match step {
                Step::More => break,
                Step::Bad(_) => out.count("memcache.parse_errors", 1),
                Step::Msg(m) => match dir {
                    Dir::ToServer => self.on_request(*m, ts, out),
                    Dir::ToClient => self.on_response(*m, ts, out),
                },
            }
        }
    }

    fn gap(&mut self, dir: Dir, len: u64, _ts: Timestamp, out: &mut TxSink<'_>) {
        out.count("memcache.gaps", 1);
        self.readers[dir.idx()].gap(len);
        match dir {
            Dir::ToServer => {
                if let Some(r) = self.pending.back_mut() {
                    r.leg.lost = true;
                }
            }
            Dir::ToClient => {
                // The answer to the oldest request may be in the gap.
                if let Some(mut r) = self.resp.take() {
                    r.leg.lost = true;
                    let req = self.pending.pop_front();
                    emit(&self.cfg, req.as_ref(), Some(&r), None, out);
                } else if let Some(mut r) = self.pending.pop_front() {
                    r.leg.lost = true;
                    emit(&self.cfg, Some(&r), None, Some(errors::LOSS_RESPONSE), out);
                }
            }
        }
    }

    fn end(&mut self, _dir: Dir, _ts: Timestamp, _out: &mut TxSink<'_>) {}

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let timeout = self.cfg.transaction_timeout.nanos();
        while self.resp.is_none() {
            match self.pending.front() {
                Some(r) if r.leg.end.saturating_add(timeout) <= now => {
                    let r = self.pending.pop_front().expect("checked");
                    self.report_unanswered(r, out);
                }
                _ => break,
            }
        }
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        if let Some(r) = self.resp.take() {
            let req = self.pending.pop_front();
            emit(&self.cfg, req.as_ref(), Some(&r), None, out);
        }
        self.drain(out);
    }
}

/// The UDP frame header (memcached `protocol.txt`, "UDP protocol").
pub const UDP_HEADER: usize = 8;

/// A memcache UDP flow: each datagram is a frame header and a message.
pub struct MemcacheUdpSession {
    cfg: Arc<MemcacheConfig>,
    /// Requests waiting for an answer, by request id.
    pending: VecDeque<(u16, Side)>,
    /// Responses being assembled, by request id (multi-datagram answers).
    partial: Vec<(u16, Side, u16)>,
}

impl MemcacheUdpSession {
    /// A new session.
    pub fn new(cfg: Arc<MemcacheConfig>) -> Self {
        MemcacheUdpSession {
            cfg,
            pending: VecDeque::new(),
            partial: Vec::new(),
        }
    }

    fn messages(&self, dir: Dir, payload: &[u8], out: &mut TxSink<'_>) -> Vec<Msg> {
        let mut r = Reader::new(dir == Dir::ToServer, self.cfg.max_line);
        let mut v = Vec::new();
        let mut pos = 0;
        loop {
            let (n, step) = r.feed(&payload[pos..]);
            pos += n;
            match step {
                Step::More => break,
                Step::Bad(_) => out.count("memcache.parse_errors", 1),
                Step::Msg(m) => v.push(*m),
            }
        }
        if r.in_message() {
            out.count("memcache.truncated_datagrams", 1);
        }
        v
    }
}

impl DatagramSession for MemcacheUdpSession {
    fn datagram(&mut self, dir: Dir, payload: &[u8], ts: Timestamp, out: &mut TxSink<'_>) {
        if payload.len() < UDP_HEADER {
            out.count("memcache.parse_errors", 1);
            return;
        }
        let id = u16::from_be_bytes([payload[0], payload[1]]);
        let seq = u16::from_be_bytes([payload[2], payload[3]]);
        let total = u16::from_be_bytes([payload[4], payload[5]]).max(1);
        let msgs = self.messages(dir, &payload[UDP_HEADER..], out);
        match dir {
            Dir::ToServer => {
                for m in msgs {
                    let side = request_side(m, ts, &self.cfg);
                    if no_answer(&side.msg) || quiet(&side.msg) {
                        emit(&self.cfg, Some(&side), None, None, out);
                    } else {
                        if self.pending.len() >= self.cfg.max_in_flight.max(1) {
                            out.count("memcache.in_flight_overflow", 1);
                            if let Some((_, old)) = self.pending.pop_front() {
                                emit(
                                    &self.cfg,
                                    Some(&old),
                                    None,
                                    Some(errors::UNMATCHED_REQUEST),
                                    out,
                                );
                            }
                        }
                        self.pending.push_back((id, side));
                    }
                }
            }
            Dir::ToClient => {
                let at = match self.partial.iter().position(|(i, _, _)| *i == id) {
                    Some(at) => at,
                    None => {
                        if self.partial.len() >= self.cfg.max_in_flight.max(1) {
                            self.partial.remove(0);
                            out.count("memcache.in_flight_overflow", 1);
                        }
                        self.partial.push((id, Side::default(), 0));
                        self.partial.len() - 1
                    }
                };
                let mut resp = Some(std::mem::take(&mut self.partial[at].1));
                if self.partial[at].2 == 0 {
                    resp = None;
                }
                let mut done = false;
                for m in msgs {
                    done = add_part(&mut resp, m, ts, &self.cfg);
                }
                let got = self.partial[at].2.saturating_add(1);
                if u32::from(seq) + 1 >= u32::from(total) || got >= total || done {
                    self.partial.remove(at);
                    let req = self
                        .pending
                        .iter()
                        .position(|(i, _)| *i == id)
                        .and_then(|p| self.pending.remove(p))
                        .map(|(_, s)| s);
                    if let Some(resp) = resp {
                        if req.is_none() {
                            out.count("memcache.unmatched_responses", 1);
                        }
                        let err = req.is_none().then_some(errors::UNMATCHED_RESPONSE);
                        emit(&self.cfg, req.as_ref(), Some(&resp), err, out);
                    }
                } else {
                    self.partial[at].1 = resp.unwrap_or_default();
                    self.partial[at].2 = got;
                }
            }
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut TxSink<'_>) {
        let timeout = self.cfg.transaction_timeout.nanos();
        while let Some((_, r)) = self.pending.front() {
            if r.leg.end.saturating_add(timeout) > now {
                break;
            }
            let (_, r) = self.pending.pop_front().expect("checked");
            out.count("memcache.unmatched_requests", 1);
            emit(
                &self.cfg,
                Some(&r),
                None,
                Some(errors::UNMATCHED_REQUEST),
                out,
            );
        }
    }

    fn close(&mut self, _now: Timestamp, out: &mut TxSink<'_>) {
        while let Some((_, r)) = self.pending.pop_front() {
            out.count("memcache.unmatched_requests", 1);
            emit(
                &self.cfg,
                Some(&r),
                None,
                Some(errors::UNMATCHED_REQUEST),
                out,
            );
        }
        self.partial.clear();
    }
}
