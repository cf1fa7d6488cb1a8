//! The `sip.*` fields of an event, with Packetbeat's names (its
//! `packetbeat/protos/sip` fields): the request's start line and headers
//! at `sip.*`, the final response's `sip.code` / `sip.status`, the
//! response's own headers (the `To` tag, `Contact`, `Server`, its SDP
//! answer) under `sip.response`, the provisional responses folded into the
//! transaction under `sip.provisional`, and `user.name` from the
//! `Authorization` header (`parse_authorization`).

use super::parser::{self, Message, Span};
use super::SipConfig;
use crate::event::JsonWriter;
use crate::time::Timestamp;

/// Which parts of a message to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything (the transaction's first message).
    Full,
    /// What a response adds to its request's fields.
    Response,
}

fn uri_fields(w: &mut JsonWriter<'_>, v: &[u8]) {
    w.begin_obj("uri");
    w.bytes_lossy("original", v);
    if let Some(u) = parser::uri(v) {
        w.bytes_lossy("scheme", u.scheme);
        if !u.user.is_empty() && u.user != b"-" {
            w.bytes_lossy("username", u.user);
        }
        if !u.host.is_empty() {
            w.bytes_lossy("host", u.host);
        }
        if let Some(p) = u.port {
            w.u64("port", p.into());
        }
    }
    w.end();
}

fn name_addr(w: &mut JsonWriter<'_>, key: &str, v: &[u8], contact: bool) {
    let na = parser::name_addr(v);
    w.begin_obj(key);
    if !na.display.is_empty() {
        w.bytes_lossy("display_info", na.display);
    }
    if let Some((s, e)) = parser::param(na.params, b"tag") {
        w.bytes_lossy("tag", &na.params[s..e]);
    }
    if contact {
        if let Some((s, e)) = parser::param(na.params, b"expires").filter(|(s, e)| e > s) {
            if let Ok(n) = std::str::from_utf8(&na.params[s..e])
                .unwrap_or("")
                .parse::<u64>()
            {
                w.u64("expires", n);
            }
        }
        if let Some(u) = parser::uri(na.uri) {
            if let Some((s, e)) = parser::param(u.params, b"transport") {
                lower(w, "transport", &u.params[s..e]);
            }
            if let Some((s, e)) = parser::param(u.params, b"line") {
                w.bytes_lossy("line", &u.params[s..e]);
            }
        }
    }
    uri_fields(w, na.uri);
    w.end();
}

fn list(w: &mut JsonWriter<'_>, key: &str, v: &[u8]) {
    w.begin_arr(key);
    for p in v.split(|&b| b == b',') {
        let p = p.trim_ascii();
        if !p.is_empty() {
            w.elem_str(&String::from_utf8_lossy(p));
        }
    }
    w.end_arr();
}

fn lower(w: &mut JsonWriter<'_>, key: &str, v: &[u8]) {
    if v.iter().any(u8::is_ascii_uppercase) {
        w.str(key, &String::from_utf8_lossy(v).to_ascii_lowercase());
    } else {
        w.bytes_lossy(key, v);
    }
}

fn upper(w: &mut JsonWriter<'_>, key: &str, v: &[u8]) {
    if v.iter().any(u8::is_ascii_lowercase) {
        w.str(key, &String::from_utf8_lossy(v).to_ascii_uppercase());
    } else {
        w.bytes_lossy(key, v);
    }
}

fn sdp(w: &mut JsonWriter<'_>, body: &[u8]) {
    let s = parser::sdp(body);
    w.begin_obj("sdp");
    if !s.version.is_empty() {
        w.bytes_lossy("version", s.version);
    }
    if !s.owner_session.is_empty() {
        w.begin_obj("owner");
        if !s.owner_user.is_empty() {
            w.bytes_lossy("username", s.owner_user);
        }
        w.bytes_lossy("session_id", s.owner_session);
        w.bytes_lossy("version", s.owner_version);
        w.bytes_lossy("ip", s.owner_ip);
        w.end();
    }
    if !s.session_name.is_empty() {
        w.begin_obj("session");
        w.bytes_lossy("name", s.session_name);
        w.end();
    }
    if !s.connection_info.is_empty() {
        w.begin_obj("connection");
        w.bytes_lossy("info", s.connection_info);
        w.bytes_lossy("address", s.connection_addr);
        w.end();
    }
    if s.media_kept > 0 {
        w.begin_arr("media");
        for m in &s.media[..s.media_kept] {
            w.begin();
            w.bytes_lossy("type", m.kind);
            w.u64("port", m.port.into());
            w.bytes_lossy("protocol", m.protocol);
            w.begin_arr("codecs");
            for pt in m
                .formats
                .split(|&b| b == b' ')
                .filter(|p| !p.is_empty())
                .take(16)
            {
                match parser::codec(&s, pt) {
                    Some(c) => w.elem_str(&String::from_utf8_lossy(c)),
                    None => w.elem_str(&String::from_utf8_lossy(pt)),
                }
            }
            w.end_arr();
            w.end();
        }
        w.end_arr();
    }
    w.begin_obj("body");
    w.bytes_lossy("original", body);
    w.end();
    w.end();
}

fn body(w: &mut JsonWriter<'_>, cfg: &SipConfig, buf: &[u8], m: &Message) {
    if m.content_length.is_some() {
        w.u64("content_length", m.content_length.unwrap_or(0).into());
    }
    if !m.content_type.is_empty() {
        lower(w, "content_type", m.content_type.get(buf));
    }
    let is_sdp = m
        .content_type
        .get(buf)
        .eq_ignore_ascii_case(b"application/sdp");
    if cfg.parse_body && is_sdp && m.content_encoding.is_empty() && !m.body.is_empty() {
        sdp(w, m.body.get(buf));
    }
}

fn opt(w: &mut JsonWriter<'_>, key: &str, buf: &[u8], s: Span) {
    if !s.is_empty() {
        w.bytes_lossy(key, s.get(buf));
    }
}

/// Writes the fields of `m` (parsed from `buf`) into the open `sip` object.
pub fn message(w: &mut JsonWriter<'_>, cfg: &SipConfig, buf: &[u8], m: &Message, part: Part) {
    if part == Part::Full {
        match m.start {
            parser::Start::Request { method, uri } => {
                w.ascii("type", "request");
                upper(w, "method", method.get(buf));
                uri_fields(w, uri.get(buf));
            }
            parser::Start::Response { code, phrase } => {
                w.ascii("type", "response");
                w.u64("code", code.into());
                w.bytes_lossy("status", phrase.get(buf));
            }
        }
        opt(w, "version", buf, m.version);
        opt(w, "call_id", buf, m.call_id);
        w.begin_obj("cseq");
        w.u64("code", m.cseq_num.into());
        upper(w, "method", m.cseq_method.get(buf));
        w.end();
        if !m.from.is_empty() {
            name_addr(w, "from", m.from.get(buf), false);
        }
        if m.via_kept > 0 {
            w.begin_obj("via");
            w.begin_arr("original");
            for v in m.vias() {
                w.elem_str(&String::from_utf8_lossy(v.get(buf)));
            }
            w.end_arr();
            if !m.branch.is_empty() {
                w.bytes_lossy("branch", m.branch.get(buf));
            }
            w.u64("count", m.via_count.into());
            w.end();
        }
        if let Some(n) = m.max_forwards {
            w.u64("max_forwards", n.into());
        }
        if !m.supported.is_empty() {
            list(w, "supported", m.supported.get(buf));
        }
        if !m.allow.is_empty() {
            list(w, "allow", m.allow.get(buf));
        }
        if !m.accept.is_empty() {
            lower(w, "accept", m.accept.get(buf));
        }
        if cfg.parse_authorization && !m.authorization.is_empty() {
            if let Some(a) = parser::auth(m.authorization.get(buf)) {
                w.begin_obj("auth");
                w.bytes_lossy("scheme", a.scheme);
                if !a.realm.is_empty() {
                    w.bytes_lossy("realm", a.realm);
                }
                if !a.uri.is_empty() {
                    uri_fields(w, a.uri);
                }
                w.end();
            }
        }
    }
    if !m.to.is_empty() {
        name_addr(w, "to", m.to.get(buf), false);
    }
    if !m.contact.is_empty() {
        name_addr(w, "contact", m.contact.get(buf), true);
    }
    if !m.user_agent.is_empty() {
        w.begin_obj("user_agent");
        w.bytes_lossy("original", m.user_agent.get(buf));
        w.end();
    }
    body(w, cfg, buf, m);
}

/// `user.name` from the `Authorization` username (Packetbeat's rule).
pub fn user(w: &mut JsonWriter<'_>, cfg: &SipConfig, buf: &[u8], m: &Message) {
    if !cfg.parse_authorization || m.authorization.is_empty() {
        return;
    }
    if let Some(a) = parser::auth(m.authorization.get(buf)) {
        if !a.username.is_empty() && a.username != b"-" {
            w.begin_obj("user");
            w.bytes_lossy("name", a.username);
            w.end();
        }
    }
}

/// The provisional responses folded into a transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provisional {
    /// Codes in arrival order (at most 4; `count` counts all).
    pub codes: [u16; 4],
    /// Provisional responses seen.
    pub count: u32,
    /// Time of the first.
    pub first: Option<Timestamp>,
}

impl Provisional {
    /// One more provisional response at `ts`.
    pub fn add(&mut self, code: u16, ts: Timestamp) {
        if let Some(slot) = self.codes.get_mut(self.count as usize) {
            *slot = code;
        }
        self.count += 1;
        self.first.get_or_insert(ts);
    }

    /// Writes `provisional` (inside `sip`): codes, count and the time
    /// from the request's last byte to the first provisional response.
    pub fn write(&self, w: &mut JsonWriter<'_>, request_end: Option<Timestamp>) {
        if self.count == 0 {
            return;
        }
        w.begin_obj("provisional");
        w.begin_arr("codes");
        for c in &self.codes[..(self.count as usize).min(4)] {
            w.elem_u64((*c).into());
        }
        w.end_arr();
        w.u64("count", self.count.into());
        if let (Some(a), Some(b)) = (request_end, self.first) {
            w.u64("first_us", b.saturating_sub(a) / 1_000);
        }
        w.end();
    }
}
