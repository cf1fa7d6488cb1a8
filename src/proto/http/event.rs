//! The HTTP part of a transaction event, written straight into the batch.
//!
//! Field names are ECS where ECS has them (`http.*`, `url.*`,
//! `user_agent.original`, `user.name`) plus Packetbeat's top-level
//! `method`, `query` (`"GET /path"`) and `path`. `url.query` is built the way
//! Packetbeat builds it (Go's `url.Values.Encode`): the parameters of the
//! request target and, for `application/x-www-form-urlencoded` bodies, of the
//! body (body values win for the same name), decoded, sorted by name and
//! re-encoded, with the values of hidden parameters (`mask_passwords`: the
//! usual password and token names, plus `hide_keywords`) replaced by `xxxxx`.
//!
//! Everything is written from byte ranges of the kept heads through a
//! reused [`Scratch`]; nothing is allocated per event once it is warm.

use super::message::{errors, Message};
use super::parser::{trim, Head};
use super::HttpConfig;
use crate::aggregate::Code;
use crate::event::{DetailFill, JsonWriter, Status, Transaction, TxDetail};
use crate::proto::{common, TxSink};
use base64::Engine;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

/// Most parameters decoded for `url.query`.
const MAX_PARAMS: usize = 256;
/// What hidden parameter values become.
pub const HIDDEN: &str = "xxxxx";

/// Basic credentials: padding optional, as clients send them.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

#[derive(Debug, Clone, Copy)]
struct Pair {
    key: (usize, usize),
    value: (usize, usize),
    from_body: bool,
}

/// Reused buffers for one session's events.
#[derive(Debug, Default)]
pub struct Scratch {
    decoded: Vec<u8>,
    pairs: Vec<Pair>,
    query: Vec<u8>,
    has_query: bool,
    full: Vec<u8>,
    host: Vec<u8>,
    tmp: Vec<u8>,
    /// The previous event's HTTP fields, for the next transaction that
    /// repeats its request and the same kind of answer (a keep-alive
    /// client asking for the same thing again).
    memo: Memo,
}

/// The HTTP fields of the last event (`"http":{...}` to `"path":"..."`)
/// and what they were written from ([`memo_key`]): an event whose key is
/// the same copies the fields as one run instead of writing them again.
#[derive(Debug, Default)]
struct Memo {
    /// The key of `fields`; empty when there is none.
    key: Vec<u8>,
    fields: Vec<u8>,
    /// The key of the event being written.
    next: Vec<u8>,
    /// Where `fields`' `url.path` sits in the request target (`None`: the
    /// `/` an empty path with an authority stands for), for the report: a
    /// repeat's target is the same bytes, so its path is found without
    /// splitting the URL again.
    path: Option<(u32, u32)>,
}

/// `path`'s place in `target` (`None` when it is not a part of it).
fn path_at(target: &[u8], path: &[u8]) -> Option<(u32, u32)> {
    let off = (path.as_ptr() as usize).checked_sub(target.as_ptr() as usize)?;
    (off + path.len() <= target.len()).then_some((off as u32, path.len() as u32))
}

/// The path [`path_at`] placed in `target`.
fn path_in(target: &[u8], at: Option<(u32, u32)>) -> &[u8] {
    match at {
        Some((off, len)) => target
            .get(off as usize..(off + len) as usize)
            .unwrap_or(b"/"),
        None => b"/",
    }
}

/// Appends a length-prefixed slice to a memo key (`None` and empty differ).
fn key_part(key: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) => {
            key.extend_from_slice(&(v.len() as u32).to_le_bytes());
            key.extend_from_slice(v);
        }
        None => key.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// Everything the HTTP fields of a request/response pair are written
/// from, into `key`; false (and nothing to key on) when the fields also
/// depend on what is not in it: kept bodies (`body.content`, a form's
/// parameters in `url.query`) and the `headers` settings.
fn memo_key(
    key: &mut Vec<u8>,
    cfg: &HttpConfig,
    server: (IpAddr, u16),
    req: &Message,
    resp: &Message,
) -> bool {
    key.clear();
    if req.form
        || req.show_body
        || resp.show_body
        || cfg.send_all_headers
        || !cfg.send_headers.is_empty()
    {
        return false;
    }
    // The server names the domain when the request has no host.
    match server.0 {
        IpAddr::V4(a) => key.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => key.extend_from_slice(&a.octets()),
    }
    key.extend_from_slice(&server.1.to_le_bytes());
    let (q, s) = (&req.head, &resp.head);
    for n in [
        req.leg.bytes,
        req.body_bytes,
        resp.leg.bytes,
        resp.body_bytes,
    ] {
        key.extend_from_slice(&n.to_le_bytes());
    }
    key.extend_from_slice(&s.status.to_le_bytes());
    key.push(q.minor);
    for v in [
        Some(q.method()),
        Some(q.target()),
        q.value(q.host),
        q.value(q.user_agent),
        q.value(q.referer),
        q.value(q.content_type),
        q.value(q.content_encoding),
        q.value(q.authorization),
        Some(s.reason.get(&s.raw)),
        s.value(s.content_type),
        s.value(s.content_encoding),
    ] {
        key_part(key, v);
    }
    true
}

/// The parts of the request target and `Host` that make `url.*`.
struct UrlParts<'a> {
    scheme: &'a [u8],
    domain: &'a [u8],
    port: u16,
    path: &'a [u8],
    target_query: Option<&'a [u8]>,
}

fn split_host_port(h: &[u8]) -> (&[u8], Option<u16>) {
    let h = trim(h);
    if let Some(rest) = h.strip_prefix(b"[") {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return (h, None);
        };
        let port = rest
            .get(close + 1..)
            .and_then(|p| p.strip_prefix(b":"))
            .and_then(super::parser::parse_u64)
            .and_then(|p| u16::try_from(p).ok());
        return (&rest[..close], port);
    }
    match h.iter().position(|&b| b == b':') {
        Some(i) if !h[i + 1..].contains(&b':') => {
            let port = super::parser::parse_u64(&h[i + 1..]).and_then(|p| u16::try_from(p).ok());
            (&h[..i], port)
        }
        _ => (h, None),
    }
}

fn url_parts<'a>(req: &'a Head, server: (IpAddr, u16), host_buf: &'a mut Vec<u8>) -> UrlParts<'a> {
    let target = req.target();
    let connect = req.method() == b"CONNECT";
    let mut scheme: &[u8] = b"http";
    let mut authority = None;
    let mut rest = target;
    if connect {
        authority = Some(target);
        rest = b"";
    } else if let Some(i) = find(target, b"://") {
        if i > 0
            && target[..i]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
        {
            scheme = &target[..i];
            let after = &target[i + 3..];
            let end = after
                .iter()
                .position(|&b| b == b'/' || b == b'?' || b == b'#')
                .unwrap_or(after.len());
            authority = Some(&after[..end]);
            rest = &after[end..];
        }
    }
    let rest = match rest.iter().position(|&b| b == b'#') {
        Some(i) => &rest[..i],
        None => rest,
    };
    let (path, target_query) = match rest.iter().position(|&b| b == b'?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let path: &[u8] = if path.is_empty() && authority.is_some() && !connect {
        b"/"
    } else {
        path
    };
    let host = authority
        .filter(|a| !a.is_empty())
        .or_else(|| req.value(req.host).filter(|h| !trim(h).is_empty()));
    let (domain, port) = match host {
        Some(h) => {
            let (d, p) = split_host_port(h);
            (d, p.unwrap_or(server.1))
        }
        None => {
            host_buf.clear();
            let _ = write!(host_buf, "{}", server.0);
            (&host_buf[..], server.1)
        }
    };
    UrlParts {
        scheme,
        domain,
        port,
        path,
        target_query,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Go's `url.QueryUnescape` into `out`; false on a bad `%` escape.
fn query_unescape(s: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => return false,
            },
            b => out.push(b),
        }
        i += 1;
    }
    true
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}

impl Scratch {
    fn parse_pairs(&mut self, s: &[u8], from_body: bool) {
        for part in s.split(|&b| b == b'&') {
            if part.is_empty() || part.contains(&b';') || self.pairs.len() >= MAX_PARAMS {
                continue;
            }
            let (k, v) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            let mark = self.decoded.len();
            let ks = self.decoded.len();
            if !query_unescape(k, &mut self.decoded) {
                self.decoded.truncate(mark);
                continue;
            }
            let vs = self.decoded.len();
            if !query_unescape(v, &mut self.decoded) {
                self.decoded.truncate(mark);
                continue;
            }
            self.pairs.push(Pair {
                key: (ks, vs),
                value: (vs, self.decoded.len()),
                from_body,
            });
        }
    }

    fn slice(&self, r: (usize, usize)) -> &[u8] {
        self.decoded.get(r.0..r.1).unwrap_or(&[])
    }

    /// Builds `url.query` (sorted, re-encoded, hidden values masked).
    fn build_query(&mut self, cfg: &HttpConfig, target_query: Option<&[u8]>, body: Option<&[u8]>) {
        self.decoded.clear();
        self.pairs.clear();
        self.query.clear();
        self.has_query = target_query.is_some() || body.is_some();
        if let Some(q) = target_query {
            self.parse_pairs(q, false);
        }
        if let Some(b) = body {
            self.parse_pairs(b, true);
        }
        if self.pairs.iter().any(|p| p.from_body) {
            // Form values replace query values of the same name, as in Packetbeat.
            let mut i = 0;
            while i < self.pairs.len() {
                let p = self.pairs[i];
                let shadowed = !p.from_body
                    && self
                        .pairs
                        .iter()
                        .any(|q| q.from_body && self.slice(q.key) == self.slice(p.key));
                if shadowed {
                    self.pairs.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        let mut pairs = std::mem::take(&mut self.pairs);
        pairs.sort_by(|a, b| self.slice(a.key).cmp(self.slice(b.key)));
        for (i, p) in pairs.iter().enumerate() {
            if i > 0 {
                self.query.push(b'&');
            }
            let key = self.decoded.get(p.key.0..p.key.1).unwrap_or(&[]);
            query_escape(key, &mut self.query);
            self.query.push(b'=');
            if cfg.hides(key) {
                self.query.extend_from_slice(HIDDEN.as_bytes());
            } else {
                let v = self.decoded.get(p.value.0..p.value.1).unwrap_or(&[]);
                query_escape(v, &mut self.query);
            }
        }
        self.pairs = pairs;
    }
}

/// The first address in the `real_ip_header` value.
fn real_ip(cfg: &HttpConfig, req: &Head) -> Option<IpAddr> {
    let name = cfg.real_ip_header.as_deref()?;
    let v = req.find(name)?;
    let first = trim(v.split(|&b| b == b',').next()?);
    let s = std::str::from_utf8(first).ok()?;
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| s.trim_start_matches('[').trim_end_matches(']').parse().ok())
}

/// The user of `Authorization: Basic ...`, decoded into `buf`.
fn basic_user<'b>(auth: &[u8], buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    let auth = trim(auth);
    let scheme = auth.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    buf.clear();
    BASE64.decode_vec(trim(&auth[6..]), buf).ok()?;
    let user = match buf.iter().position(|&b| b == b':') {
        Some(i) => &buf[..i],
        None => &buf[..],
    };
    (!user.is_empty()).then_some(user)
}

fn is_auth_header(name: &[u8]) -> bool {
    name == b"authorization" || name == b"proxy-authorization"
}

/// Writes `headers: {name: value}` for the headers the settings select.
/// Repeated names are joined with `, `; `content-length` is a number.
fn write_headers(w: &mut JsonWriter<'_>, cfg: &HttpConfig, head: &Head, tmp: &mut Vec<u8>) {
    let wanted = |name: &[u8]| {
        cfg.send_all_headers
            || cfg
                .send_headers
                .iter()
                .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
    };
    if !cfg.send_all_headers && cfg.send_headers.is_empty() {
        return;
    }
    let raw = &head.raw;
    let mut open = false;
    for (i, (n, v)) in head.headers.iter().enumerate() {
        let name = n.get(raw);
        if !wanted(name) || head.headers[..i].iter().any(|(m, _)| m.get(raw) == name) {
            continue;
        }
        let Ok(key) = std::str::from_utf8(name) else {
            continue;
        };
        if key.is_empty() || key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            continue;
        }
        if !open {
            w.begin_obj("headers");
            open = true;
        }
        if cfg.redact_authorization && is_auth_header(name) {
            w.str(key, "*");
            continue;
        }
        tmp.clear();
        tmp.extend_from_slice(v.get(raw));
        for (m, v2) in &head.headers[i + 1..] {
            if m.get(raw) == name {
                tmp.extend_from_slice(b", ");
                tmp.extend_from_slice(v2.get(raw));
            }
        }
        match (name, super::parser::parse_u64(tmp)) {
            (b"content-length", Some(n)) => w.u64(key, n),
            _ => w.bytes_lossy(key, tmp),
        }
    }
    if open {
        w.end();
    }
}

/// The media type of a `Content-Type` value (without parameters).
fn mime_type(ct: &[u8]) -> &[u8] {
    trim(ct.get(..semicolon(ct)).unwrap_or(ct))
}

/// Position of the first `;` in `v` (its length when none), eight bytes at
/// a time: a media type is mostly one or two words, which a byte-by-byte
/// split took about 40 instructions to cross.
#[inline]
fn semicolon(v: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(w) = v.get(at..at + 8) {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8])) ^ (ONES * u64::from(b';'));
        // The lowest byte flagged is the first `;` (a borrow only carries
        // upwards, past a byte that is one).
        let found = x.wrapping_sub(ONES) & !x & HIGH;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    v[at..]
        .iter()
        .position(|&b| b == b';')
        .map_or(v.len(), |p| at + p)
}

/// Writes a message's `bytes`, `body`, `mime_type`, `content_encoding` and
/// `headers`, after the string value the caller left open (`method` or
/// `status_phrase`), as a template: constant runs copied whole.
/// `mime`: the message's [`mime_type`], if it has a `Content-Type`.
fn write_message_common(
    w: &mut JsonWriter<'_>,
    cfg: &HttpConfig,
    m: &Message,
    mime: Option<&[u8]>,
    body_override: Option<&[u8]>,
    tmp: &mut Vec<u8>,
) {
    w.lit(br#"","bytes":"#);
    w.num(m.leg.bytes);
    w.lit(br#","body":{"bytes":"#);
    w.num(m.body_bytes);
    if m.show_body && !m.body.is_empty() {
        w.lit(br#","content":""#);
        w.text(body_override.unwrap_or(&m.body));
        w.lit(b"\"");
    }
    w.lit(b"}");
    if let Some(mt) = mime {
        if !mt.is_empty() {
            w.lit(br#","mime_type":""#);
            w.text(mt);
            w.lit(b"\"");
        }
    }
    if let Some(ce) = m.head.value(m.head.content_encoding) {
        w.lit(br#","content_encoding":""#);
        w.text(trim(ce));
        w.lit(b"\"");
    }
    write_headers(w, cfg, &m.head, tmp);
}

/// Whether an `error.message` makes the transaction fail by itself (losses
/// and a response cut by the end of the connection do not).
fn error_fails(e: &str) -> bool {
    e != errors::LOSS_REQUEST && e != errors::LOSS_RESPONSE && e != errors::INCOMPLETE_RESPONSE
}

/// `url.full`: scheme, `://`, host (IPv6 in brackets), the port when it
/// is not the scheme's default, path (none for asterisk-form: `OPTIONS *`,
/// RFC 9112 §3.2.4, names the server itself; `url.path` keeps the `*`)
/// and `?query`. `plain`: the scheme, domain and path were written plain
/// (see [`JsonWriter::text_checked`]); then the pieces are copied again
/// instead of joined into `full` and escaped as one (the same bytes:
/// escaping plain text changes nothing, and the query is plain by
/// construction).
fn write_full(w: &mut JsonWriter<'_>, p: &UrlParts, query: &[u8], full: &mut Vec<u8>, plain: bool) {
    let v6 = p.domain.contains(&b':');
    let default_port = if p.scheme.eq_ignore_ascii_case(b"https") {
        443
    } else {
        80
    };
    if plain {
        w.text_again(p.scheme, true);
        w.lit(if v6 { b"://[" } else { b"://" });
        w.text_again(p.domain, true);
        if v6 {
            w.lit(b"]");
        }
        if p.port != default_port {
            w.lit(b":");
            w.num(p.port.into());
        }
        if p.path != b"*" {
            w.text_again(p.path, true);
        }
        if !query.is_empty() {
            w.lit(b"?");
            w.text(query);
        }
        return;
    }
    full.clear();
    full.extend_from_slice(p.scheme);
    full.extend_from_slice(b"://");
    if v6 {
        full.push(b'[');
    }
    full.extend_from_slice(p.domain);
    if v6 {
        full.push(b']');
    }
    if p.port != default_port {
        let _ = write!(full, ":{}", p.port);
    }
    if p.path != b"*" {
        full.extend_from_slice(p.path);
    }
    if !query.is_empty() {
        full.push(b'?');
        full.extend_from_slice(query);
    }
    w.text(full);
}

/// Emits one `type: http` event. `interim` is the size of `1xx` responses
/// before `resp`; `unmatched` forces `status: Error`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit(
    cfg: &HttpConfig,
    sc: &mut Scratch,
    out: &mut TxSink<'_>,
    req: Option<&Message>,
    resp: Option<&Message>,
    interim: u64,
    error: Option<&str>,
    unmatched: bool,
) {
    let server = out.flow.server;
    let code = resp.map_or(0, |r| r.head.status);
    let failed = unmatched || resp.is_none() || code >= 400 || error.is_some_and(error_fails);
    // The same fields as the previous event's: copied (see [`Memo`]).
    let mut memo = std::mem::take(&mut sc.memo);
    let keyed = match (req, resp) {
        (Some(q), Some(s)) => memo_key(&mut memo.next, cfg, server, q, s),
        _ => false,
    };
    let repeat = keyed && memo.next == memo.key;
    let mut host_buf = std::mem::take(&mut sc.host);
    // The URL pieces, for the fields unless copied (a repeat's path for
    // the report is found through the memo).
    let parts = req
        .filter(|_| !repeat)
        .map(|r| url_parts(&r.head, server, &mut host_buf));
    if let (false, Some(r), Some(p)) = (repeat, req, &parts) {
        let form_body =
            (r.form && !r.over_max && r.body.len() as u64 == r.body_bytes && r.body_bytes > 0)
                .then_some(&r.body[..]);
        sc.build_query(cfg, p.target_query, form_body);
    }
    let mut tx = Transaction {
        status: Some(if failed { Status::Error } else { Status::Ok }),
        error,
        real_client_ip: req.and_then(|r| real_ip(cfg, &r.head)),
        ..common::transaction("http", req.map(|r| &r.leg), resp.map(|r| &r.leg))
    };
    tx.response_bytes += interim;
    // The response's media type, for the body below and the report.
    let resp_mime = resp
        .and_then(|r| r.head.value(r.head.content_type))
        .map(mime_type);
    // What the report counts: the same values the body writes below.
    // Bytes: the aggregator checks UTF-8 only for values it has not seen.
    let (memo_path, path) = (memo.path, parts.as_ref().map(|p| p.path));
    let detail = out.aggregating().then_some(move || {
        let mut d = TxDetail {
            code: resp.map_or(Code::None, |r| Code::Num(r.head.status.into())),
            content_type: resp_mime.filter(|m| !m.is_empty()),
            ..TxDetail::default()
        };
        if let Some(r) = req {
            d.method = Some(r.head.method());
            d.resource = Some(path.unwrap_or_else(|| path_in(r.head.target(), memo_path)));
            d.user_agent = r.head.value(r.head.user_agent);
        }
        d
    });
    match &detail {
        // The memo key holds every input of the fields: the aggregator
        // asks for them only when it cannot count them by position.
        Some(f) if repeat => {
            tx.detail.repeat = true;
            tx.detail.fill = Some(DetailFill(f));
        }
        Some(f) => tx.detail = f(),
        None => {}
    }
    out.emit(&tx, |w| {
        if repeat {
            w.run(&memo.fields);
            return;
        }
        let start = w.begin_run();
        write_fields(w, cfg, sc, req, resp, resp_mime, parts.as_ref());
        if keyed {
            memo.fields.clear();
            memo.fields.extend_from_slice(&w.buf()[start..]);
            memo.path = req
                .zip(parts.as_ref())
                .and_then(|(r, p)| path_at(r.head.target(), p.path));
        }
    });
    if keyed && !repeat {
        std::mem::swap(&mut memo.key, &mut memo.next);
    } else if !keyed {
        memo.key.clear();
    }
    sc.memo = memo;
    sc.host = host_buf;
}

/// The HTTP fields of an event: `http`, `url`, `user_agent`, `user`,
/// `method`, `query` and `path`.
fn write_fields(
    w: &mut JsonWriter<'_>,
    cfg: &HttpConfig,
    sc: &mut Scratch,
    req: Option<&Message>,
    resp: Option<&Message>,
    resp_mime: Option<&[u8]>,
    parts: Option<&UrlParts>,
) {
    // A template: constant runs of keys and punctuation copied whole,
    // the values written between them (byte for byte what the
    // field-by-field writer gave).
    let version = req.or(resp).map_or(1, |m| m.head.minor);
    w.field(if version == 0 {
        br#""http":{"version":"1.0""#
    } else {
        br#""http":{"version":"1.1""#
    });
    // The method and the URL pieces are written more than once: the
    // copies after the first skip the escape check when it found them
    // plain.
    let mut method_plain = false;
    if let Some(r) = req {
        w.lit(br#","request":{"method":""#);
        method_plain = w.text_checked(r.head.method());
        let masked = (r.form && cfg.masks_any()).then_some(&sc.query[..]);
        let mime = r.head.value(r.head.content_type).map(mime_type);
        write_message_common(w, cfg, r, mime, masked, &mut sc.tmp);
        if let Some(referer) = r.head.value(r.head.referer) {
            w.lit(br#","referrer":""#);
            w.text(referer);
            w.lit(b"\"");
        }
        w.lit(b"}");
    }
    if let Some(r) = resp {
        w.lit(br#","response":{"status_code":"#);
        w.num(r.head.status.into());
        w.lit(br#","status_phrase":""#);
        w.text(r.head.reason.get(&r.head.raw));
        write_message_common(w, cfg, r, resp_mime, None, &mut sc.tmp);
        w.lit(b"}");
    }
    w.lit(b"}");
    let (Some(r), Some(p)) = (req, parts) else {
        return;
    };
    w.lit(br#","url":{"scheme":""#);
    let scheme_plain = w.text_checked(p.scheme);
    w.lit(br#"","domain":""#);
    let domain_plain = w.text_checked(p.domain);
    w.lit(b"\"");
    if p.port != 80 {
        w.lit(br#","port":"#);
        w.num(p.port.into());
    }
    // An empty path is plain.
    let mut path_plain = true;
    if !p.path.is_empty() {
        w.lit(br#","path":""#);
        path_plain = w.text_checked(p.path);
        w.lit(b"\"");
        if let Some(ext) = url_extension(p.path) {
            w.lit(br#","extension":""#);
            w.text(ext);
            w.lit(b"\"");
        }
    }
    if sc.has_query && !sc.query.is_empty() {
        w.lit(br#","query":""#);
        w.text(&sc.query);
        w.lit(b"\"");
    }
    w.lit(br#","full":""#);
    let plain = scheme_plain && domain_plain && path_plain;
    write_full(w, p, &sc.query, &mut sc.full, plain);
    w.lit(br#""}"#);
    if let Some(ua) = r.head.value(r.head.user_agent) {
        w.lit(br#","user_agent":{"original":""#);
        w.text(ua);
        w.lit(br#""}"#);
    }
    if let Some(user) = r
        .head
        .value(r.head.authorization)
        .and_then(|a| basic_user(a, &mut sc.tmp))
    {
        w.lit(br#","user":{"name":""#);
        w.text(user);
        w.lit(br#""}"#);
    }
    // `query` is `method path`: the two texts side by side are the
    // text of the two joined by a space (an invalid UTF-8 sequence
    // cannot run across the ASCII space, and escaping is per byte).
    w.lit(br#","method":""#);
    w.text_again(r.head.method(), method_plain);
    w.lit(br#"","query":""#);
    w.text_again(r.head.method(), method_plain);
    w.lit(b" ");
    w.text_again(p.path, path_plain);
    w.lit(br#"","path":""#);
    w.text_again(p.path, path_plain);
    w.lit(b"\"");
}

/// ECS `url.extension`: what follows the last `.` of the path's last
/// segment, without the dot (`/a/b.tar.gz` gives `gz`); none when that
/// segment has no dot, ends in one, or the extension is implausibly long.
pub fn url_extension(path: &[u8]) -> Option<&[u8]> {
    let last = path.rsplit(|b| *b == b'/').next()?;
    let dot = last.iter().rposition(|b| *b == b'.')?;
    let ext = &last[dot + 1..];
    (dot > 0 && !ext.is_empty() && ext.len() <= 16).then_some(ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolon_is_found_like_a_split() {
        // Every length across the word boundaries, `;` at every place
        // (and bytes that differ from `;` by one bit, or are 0x80+).
        for len in 0..40usize {
            for at in 0..=len {
                let mut v: Vec<u8> = (0..len).map(|i| [b':', b'{', 0xbb, b'a'][i % 4]).collect();
                if at < len {
                    v[at] = b';';
                    if at + 1 < len {
                        v[at + 1] = b';';
                    }
                }
                let want = v.iter().position(|&b| b == b';').unwrap_or(v.len());
                assert_eq!(semicolon(&v), want, "{v:?}");
            }
        }
        assert_eq!(mime_type(b" text/html ; charset=utf-8"), b"text/html");
        assert_eq!(mime_type(b"application/json"), b"application/json");
        assert_eq!(mime_type(b";x"), b"");
        assert_eq!(mime_type(b""), b"");
    }

    #[test]
    fn go_query_escaping() {
        let mut out = Vec::new();
        query_escape(b"{ \"a\": 1}\n~x-y_z.", &mut out);
        assert_eq!(out, b"%7B+%22a%22%3A+1%7D%0A~x-y_z.");
        out.clear();
        assert!(query_unescape(b"a+b%41", &mut out));
        assert_eq!(out, b"a bA");
        assert!(!query_unescape(b"%4", &mut Vec::new()));
    }

    #[test]
    fn query_params_are_sorted_and_hidden() {
        let cfg = HttpConfig {
            hide_keywords: vec!["PASS".into()],
            ..HttpConfig::default()
        };
        let mut sc = Scratch::default();
        sc.build_query(&cfg, Some(b"user=monica&pass=secret&a=1;b"), None);
        assert_eq!(sc.query, b"pass=xxxxx&user=monica");
        sc.build_query(&cfg, Some(b"x=1&user=q"), Some(b"user=monica"));
        assert_eq!(sc.query, b"user=monica&x=1");
    }

    #[test]
    fn host_and_port_split() {
        assert_eq!(
            split_host_port(b"example.com:8080"),
            (&b"example.com"[..], Some(8080))
        );
        assert_eq!(split_host_port(b"[::1]:80"), (&b"::1"[..], Some(80)));
        assert_eq!(split_host_port(b"example.com"), (&b"example.com"[..], None));
    }

    #[test]
    fn full_url_from_plain_pieces_equals_the_joined_text() {
        for (scheme, domain, port, path, query) in [
            (&b"http"[..], &b"10.0.0.1"[..], 80, &b"/a.txt"[..], &b""[..]),
            (b"https", b"::1", 443, b"/x", b"a=1&b=xxxxx"),
            (b"https", b"example.com", 80, b"/", b""),
            (b"http", b"example.com", 8080, b"*", b""),
            (b"HTTPS", b"h", 443, b"", b"q=1"),
            (b"http", b"fe80::1", 8443, b"/p/q.html", b"z=%22"),
            (
                b"ws",
                b"a-very-long-host-name.example.org",
                80,
                b"/a/rather/long/path/to/something.json",
                b"",
            ),
        ] {
            let p = UrlParts {
                scheme,
                domain,
                port,
                path,
                target_query: None,
            };
            let (mut pieces, mut joined, mut full) = (Vec::new(), Vec::new(), Vec::new());
            write_full(
                &mut JsonWriter::new(&mut pieces),
                &p,
                query,
                &mut full,
                true,
            );
            write_full(
                &mut JsonWriter::new(&mut joined),
                &p,
                query,
                &mut full,
                false,
            );
            assert_eq!(
                String::from_utf8_lossy(&pieces),
                String::from_utf8_lossy(&joined)
            );
        }
    }

    #[test]
    fn basic_auth_user() {
        let mut buf = Vec::new();
        // "simplesimon:pieman"
        let user = basic_user(b"Basic c2ltcGxlc2ltb246cGllbWFu", &mut buf);
        assert_eq!(user, Some(&b"simplesimon"[..]));
        assert_eq!(basic_user(b"Bearer abc", &mut buf), None);
    }
}
