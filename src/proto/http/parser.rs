//! HTTP/1.x message framing and head parsing: pure, streaming, no events.
//!
//! Follows RFC 9112 (HTTP/1.1 message syntax and framing): a message is a
//! head (start line, header fields, empty line) and a body delimited by
//! `Content-Length`, the `chunked` transfer coding (section 7.1, with
//! trailer fields) or, for responses only, the end of the connection.
//!
//! [`StreamParser`] follows one direction of a connection. It takes input in
//! arbitrary pieces, buffers only the head (bounded by `max_head`), and hands
//! the body back as slices of the caller's input without copying it. It
//! never errors on a prefix of a valid message: it says "need more"
//! ([`Step::More`]) until the message is complete. After a gap or garbage it
//! resynchronises at the next line that looks like a request line
//! (`METHOD SP target SP HTTP/1.x`) or status line (`HTTP/1.x NNN`).
//!
//! [`Head`] parses a complete head with `httparse` and keeps byte ranges into
//! its own buffer (no per-header allocation). Which body a message has is
//! decided by the caller from the head (it needs the request method to frame
//! a response) through [`StreamParser::set_body`].
//!
//! Not here: pairing requests with responses, timeouts, event fields (see
//! `session.rs` and `event.rs`), HTTP/2, content decoding.

use super::scan::{
    classify, request_line, scan_fields, scan_lean_fields, status_line, Field, MAX_METHOD,
};
pub use super::scan::{Span, Wants, MAX_HEADERS};
use memchr::memchr;
use memchr::memmem::Finder;
use std::mem::MaybeUninit;
use std::sync::LazyLock;

/// An empty line after a CRLF or LF line: the usual end of a head.
static CRLF_EMPTY_LINE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n\r\n"));
/// An empty line after an LF line (bare LF line ends, tolerated).
static LF_EMPTY_LINE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n\n"));

/// Default bound on the size of a message head (start line and headers).
pub const DEFAULT_MAX_HEAD: usize = 64 * 1024;
/// Longest line considered while resynchronising.
const MAX_RESYNC_LINE: usize = 8 * 1024;
/// Longest chunk-size line (with extensions).
const MAX_CHUNK_LINE: u32 = 4 * 1024;
/// Head bytes skipped past `max_head` while looking for the end of an
/// oversized head; beyond it the parser gives up and resynchronises.
const MAX_SKIPPED_HEAD: u64 = 16 * 1024 * 1024;
/// Longest header line kept from an oversized head.
const MAX_KEPT_LINE: usize = 1024;
/// Header fields kept from an oversized head: what frames its body and
/// names its host.
const KEPT_FIELDS: [&[u8]; 3] = [b"content-length", b"transfer-encoding", b"host"];
/// Methods recognised inside a line while resynchronising, when bytes that
/// could not be delimited precede them (RFC 9110 section 9 and PATCH).
const KNOWN_METHODS: [&[u8]; 9] = [
    b"OPTIONS", b"CONNECT", b"DELETE", b"PATCH", b"TRACE", b"POST", b"HEAD", b"GET", b"PUT",
];

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The first line is not an HTTP/1.x request or status line.
    #[error("not an HTTP/1.x start line")]
    NotHttp,
    /// The head grew past the configured bound before its empty line.
    #[error("message head larger than the limit")]
    HeadTooLarge,
    /// httparse rejected the head (bad token, too many headers, ...).
    #[error("invalid message head")]
    InvalidHead,
    /// `Content-Length` is not a number, or two differ.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// A chunk-size line or the CRLF after chunk data is malformed.
    #[error("invalid chunked encoding")]
    InvalidChunk,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the direction ends (responses only).
    Close,
}

/// A parsed message head. With [`Wants::ALL`] every header field is in
/// `headers` and names are lower-cased in place; otherwise `headers` holds
/// only the fields the decoder and the event read (the indexed ones and the
/// extra name), names as received.
#[derive(Debug, Default, Clone)]
pub struct Head {
    /// The head bytes as received (header names lower-cased with [`Wants::ALL`]).
    pub raw: Vec<u8>,
    /// Request method.
    pub method: Span,
    /// Request target as sent.
    pub target: Span,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Response status code (0 for requests).
    pub status: u16,
    /// Response reason phrase, lower-cased (as Packetbeat reports it).
    pub reason: Span,
    /// The header fields kept: (name, value).
    pub headers: Vec<(Span, Span)>,
    /// `Content-Length`, when present and valid.
    pub content_length: Option<u64>,
    /// `Content-Length` present but invalid or contradictory.
    pub bad_content_length: bool,
    /// `Transfer-Encoding` present.
    pub transfer_encoding: bool,
    /// The final transfer coding is `chunked`.
    pub chunked: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// Index in `headers` of `host`.
    pub host: Option<u16>,
    /// Index of `user-agent`.
    pub user_agent: Option<u16>,
    /// Index of `referer`.
    pub referer: Option<u16>,
    /// Index of `content-type`.
    pub content_type: Option<u16>,
    /// Index of `content-encoding`.
    pub content_encoding: Option<u16>,
    /// Index of `authorization`.
    pub authorization: Option<u16>,
}

fn parser_config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    c
}

impl Head {
    /// Forgets the parsed fields and the bytes, keeping the allocations.
    pub fn clear(&mut self) {
        let raw = std::mem::take(&mut self.raw);
        let headers = std::mem::take(&mut self.headers);
        *self = Head {
            raw,
            headers,
            ..Head::default()
        };
        self.raw.clear();
        self.headers.clear();
    }

    /// The value of header number `i`.
    pub fn value(&self, i: Option<u16>) -> Option<&[u8]> {
        let (_, v) = self.headers.get(usize::from(i?))?;
        Some(v.get(&self.raw))
    }

    /// The value of the first header called `name` (any case) in the table.
    pub fn find(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.get(&self.raw).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.get(&self.raw))
    }

    /// Method bytes.
    pub fn method(&self) -> &[u8] {
        self.method.get(&self.raw)
    }

    /// Request target bytes.
    pub fn target(&self) -> &[u8] {
        self.target.get(&self.raw)
    }

    /// Parses `raw` as a request head with every header field in the table
    /// ([`Wants::ALL`]). With `partial`, a head cut short (too large) still
    /// yields whatever its first line gave.
    pub fn parse_request(&mut self, partial: bool) -> Result<(), ParseError> {
        self.parse_request_for(&Wants::ALL, partial)
    }

    /// [`Head::parse_request`] keeping the header fields `wants` says.
    pub fn parse_request_for(&mut self, wants: &Wants, partial: bool) -> Result<(), ParseError> {
        self.reset_fields();
        let raw = std::mem::take(&mut self.raw);
        let fast = self.fast_request(&raw, wants);
        self.raw = raw;
        if fast.is_some() {
            return self.index_headers_for(wants);
        }
        self.parse_request_httparse(wants, partial)
    }

    /// [`Head::parse_request`] with httparse alone.
    fn parse_request_httparse(&mut self, wants: &Wants, partial: bool) -> Result<(), ParseError> {
        self.reset_fields();
        let raw = std::mem::take(&mut self.raw);
        let res = self.request_httparse(&raw, wants, partial);
        self.raw = raw;
        res?;
        self.index_headers_for(wants)
    }

    fn request_httparse(
        &mut self,
        base: &[u8],
        wants: &Wants,
        partial: bool,
    ) -> Result<(), ParseError> {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let res = parser_config().parse_request_with_uninit_headers(&mut req, base, &mut slots);
        self.method = req
            .method
            .map(|m| Span::of(base, m.as_bytes()))
            .unwrap_or_default();
        self.target = req
            .path
            .map(|p| Span::of(base, p.as_bytes()))
            .unwrap_or_default();
        self.minor = req.version.unwrap_or(1);
        match res {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) | Err(_) if partial => return Ok(()),
            _ => return Err(ParseError::InvalidHead),
        }
        let mut extra_done = false;
        for h in req.headers.iter() {
            let (n, v) = (Span::of(base, h.name.as_bytes()), Span::of(base, h.value));
            self.note(base, n, v, wants, &mut extra_done);
        }
        Ok(())
    }

    /// After a failed parse of `raw` as a request: keeps what its start
    /// line gives, the method when it is a token (RFC 9110 section 9.1) and
    /// the target when httparse got that far; no header fields.
    pub fn parse_request_line_only(&mut self) {
        let _ = self.parse_request(true);
        self.headers.clear();
        if self.method.len == 0 {
            let line = self.raw.split(|&b| b == b'\n').next().unwrap_or(&[]);
            let token = line
                .iter()
                .position(|&b| b == b' ')
                .map_or(&[][..], |sp| &line[..sp]);
            if !token.is_empty() && token.len() <= 24 && token.iter().all(|&b| is_tchar(b)) {
                self.method = Span {
                    start: 0,
                    len: token.len() as u32,
                };
            }
        }
    }

    /// Parses `raw` as a response head (see [`Head::parse_request`]).
    pub fn parse_response(&mut self, partial: bool) -> Result<(), ParseError> {
        self.parse_response_for(&Wants::ALL, partial)
    }

    /// [`Head::parse_response`] keeping the header fields `wants` says.
    pub fn parse_response_for(&mut self, wants: &Wants, partial: bool) -> Result<(), ParseError> {
        self.reset_fields();
        let raw = std::mem::take(&mut self.raw);
        let fast = self.fast_response(&raw, wants);
        self.raw = raw;
        if fast.is_some() {
            self.lowercase_reason();
            return self.index_headers_for(wants);
        }
        self.parse_response_httparse(wants, partial)
    }

    /// [`Head::parse_response`] with httparse alone.
    fn parse_response_httparse(&mut self, wants: &Wants, partial: bool) -> Result<(), ParseError> {
        self.reset_fields();
        let raw = std::mem::take(&mut self.raw);
        let res = self.response_httparse(&raw, wants, partial);
        self.raw = raw;
        match res {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(e),
        }
        self.lowercase_reason();
        self.index_headers_for(wants)
    }

    /// `Ok(false)`: a partial head, taken as far as it goes.
    fn response_httparse(
        &mut self,
        base: &[u8],
        wants: &Wants,
        partial: bool,
    ) -> Result<bool, ParseError> {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let res = parser_config().parse_response_with_uninit_headers(&mut resp, base, &mut slots);
        self.minor = resp.version.unwrap_or(1);
        self.status = resp.code.unwrap_or(0);
        self.reason = resp
            .reason
            .map(|r| Span::of(base, r.as_bytes()))
            .unwrap_or_default();
        match res {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) | Err(_) if partial => return Ok(false),
            _ => return Err(ParseError::InvalidHead),
        }
        let mut extra_done = false;
        for h in resp.headers.iter() {
            let (n, v) = (Span::of(base, h.name.as_bytes()), Span::of(base, h.value));
            self.note(base, n, v, wants, &mut extra_done);
        }
        Ok(true)
    }

    /// Parses the head at the start of `input` when all of it is there, at
    /// most `max` bytes, and of the strict shape of the fast path: then
    /// copies it into `raw` and returns its length. `None` otherwise (the
    /// fields are then left half set; the next parse resets them).
    pub fn scan(
        &mut self,
        input: &[u8],
        request: bool,
        wants: &Wants,
        max: usize,
    ) -> Option<usize> {
        self.reset_fields();
        let input = input.get(..max.min(input.len()))?;
        let end = if request {
            self.fast_request(input, wants)?
        } else {
            self.fast_response(input, wants)?
        };
        if request && self.method.len as usize > MAX_METHOD {
            return None;
        }
        self.raw.clear();
        self.raw.extend_from_slice(&input[..end]);
        if !request {
            self.lowercase_reason();
        }
        self.index_headers_for(wants).ok()?;
        Some(end)
    }

    fn lowercase_reason(&mut self) {
        let r = self.reason;
        if let Some(b) = self
            .raw
            .get_mut(r.start as usize..(r.start + r.len) as usize)
        {
            b.make_ascii_lowercase();
        }
    }

    /// The common request head in `b`, parsed without httparse (see
    /// [`scan`](super::scan)); the end of the head, or `None` and
    /// httparse decides, so the result is always the one httparse gives.
    fn fast_request(&mut self, b: &[u8], wants: &Wants) -> Option<usize> {
        let (method, target, minor, next) = request_line(b)?;
        self.method = method;
        self.target = target;
        self.minor = minor;
        self.fast_fields(b, next, wants)
    }

    /// [`Head::fast_request`] for a status line.
    fn fast_response(&mut self, b: &[u8], wants: &Wants) -> Option<usize> {
        let (minor, status, reason, next) = status_line(b)?;
        self.minor = minor;
        self.status = status;
        self.reason = reason;
        self.fast_fields(b, next, wants)
    }

    fn fast_fields(&mut self, b: &[u8], next: usize, wants: &Wants) -> Option<usize> {
        if wants.all {
            let headers = &mut self.headers;
            return scan_fields(b, next, |n, v| {
                headers.push((n, v));
                true
            });
        }
        let mut extra_done = false;
        scan_lean_fields(b, next, wants, |field, n, v| {
            self.note_field(field, n.get(b), v.get(b), (n, v), wants, &mut extra_done);
        })
    }

    /// One header field of `base`: every field into the table with
    /// [`Wants::ALL`] (indexed afterwards), else only what the decoder and
    /// the event read, the first of each indexed name and of the extra one.
    #[inline(always)]
    fn note(&mut self, base: &[u8], n: Span, v: Span, wants: &Wants, extra_done: &mut bool) {
        if wants.all {
            self.headers.push((n, v));
            return;
        }
        let name = n.get(base);
        let field = classify(name);
        if field == Field::Other && (*extra_done || !wants.has_extra()) {
            return;
        }
        self.note_field(field, name, v.get(base), (n, v), wants, extra_done);
    }

    /// [`Head::note`] for a field that is kept or read.
    fn note_field(
        &mut self,
        field: Field,
        name: &[u8],
        value: &[u8],
        entry: (Span, Span),
        wants: &Wants,
        extra_done: &mut bool,
    ) {
        let next = Some(self.headers.len() as u16);
        let slot = match field {
            Field::Other => None,
            Field::ContentLength => {
                self.note_length(parse_u64(value));
                None
            }
            Field::TransferEncoding => {
                self.transfer_encoding = true;
                self.chunked = last_coding_chunked(value);
                None
            }
            Field::Expect => {
                self.expect_continue = trim(value).eq_ignore_ascii_case(b"100-continue");
                None
            }
            Field::Host => Some(&mut self.host),
            Field::UserAgent => Some(&mut self.user_agent),
            Field::Referer => Some(&mut self.referer),
            Field::ContentType => Some(&mut self.content_type),
            Field::ContentEncoding => Some(&mut self.content_encoding),
            Field::Authorization => Some(&mut self.authorization),
        };
        let mut pushed = false;
        if let Some(slot) = slot.filter(|s| s.is_none()) {
            *slot = next;
            pushed = true;
        }
        if !*extra_done && wants.is_extra(name) {
            *extra_done = true;
            pushed = true;
        }
        if pushed {
            self.headers.push(entry);
        }
    }

    /// A `Content-Length` value (parsed): kept, or the head's lengths are bad.
    fn note_length(&mut self, len: Option<u64>) {
        match len {
            Some(len) if self.content_length.is_none_or(|l| l == len) => {
                self.content_length = Some(len)
            }
            _ => self.bad_content_length = true,
        }
    }

    fn reset_fields(&mut self) {
        self.headers.clear();
        self.method = Span::default();
        self.target = Span::default();
        self.reason = Span::default();
        self.minor = 1;
        self.status = 0;
        self.content_length = None;
        self.bad_content_length = false;
        self.transfer_encoding = false;
        self.chunked = false;
        self.expect_continue = false;
        self.host = None;
        self.user_agent = None;
        self.referer = None;
        self.content_type = None;
        self.content_encoding = None;
        self.authorization = None;
    }

    /// With [`Wants::ALL`]: lower-cases names and notes the fields the
    /// session needs ([`Head::note`] did it for the lean table).
    fn index_headers_for(&mut self, wants: &Wants) -> Result<(), ParseError> {
        if wants.all {
            self.index_headers()
        } else {
            Ok(())
        }
    }

    /// Lower-cases names and notes the headers the session needs.
    fn index_headers(&mut self) -> Result<(), ParseError> {
        for i in 0..self.headers.len() {
            let (n, v) = self.headers[i];
            let range = n.start as usize..(n.start + n.len) as usize;
            if let Some(name) = self.raw.get_mut(range) {
                name.make_ascii_lowercase();
            }
            let idx = Some(i as u16);
            let value = v.get(&self.raw);
            match n.get(&self.raw) {
                b"content-length" => {
                    let len = parse_u64(value);
                    self.note_length(len)
                }
                b"transfer-encoding" => {
                    self.transfer_encoding = true;
                    self.chunked = last_coding_chunked(value);
                }
                b"expect" => {
                    self.expect_continue = trim(value).eq_ignore_ascii_case(b"100-continue")
                }
                b"host" => self.host = self.host.or(idx),
                b"user-agent" => self.user_agent = self.user_agent.or(idx),
                b"referer" => self.referer = self.referer.or(idx),
                b"content-type" => self.content_type = self.content_type.or(idx),
                b"content-encoding" => self.content_encoding = self.content_encoding.or(idx),
                b"authorization" => self.authorization = self.authorization.or(idx),
                _ => {}
            }
        }
        Ok(())
    }

    /// How the body of this request is delimited (RFC 9112 section 6.3).
    pub fn request_framing(&self) -> Result<Framing, ParseError> {
        if self.transfer_encoding {
            // A request with a transfer coding other than chunked cannot be framed.
            return if self.chunked {
                Ok(Framing::Chunked)
            } else {
                Err(ParseError::InvalidContentLength)
            };
        }
        if self.bad_content_length {
            return Err(ParseError::InvalidContentLength);
        }
        Ok(match self.content_length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        })
    }

    /// How the body of this response is delimited, given the request it
    /// answers (`HEAD` and `CONNECT` change the rules).
    pub fn response_framing(
        &self,
        head_request: bool,
        connect: bool,
    ) -> Result<Framing, ParseError> {
        let s = self.status;
        if head_request || (100..200).contains(&s) || s == 204 || s == 304 {
            return Ok(Framing::None);
        }
        if connect && (200..300).contains(&s) {
            return Ok(Framing::None);
        }
        if self.transfer_encoding {
            return Ok(if self.chunked {
                Framing::Chunked
            } else {
                Framing::Close
            });
        }
        if self.bad_content_length {
            return Err(ParseError::InvalidContentLength);
        }
        Ok(match self.content_length {
            Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        })
    }
}

/// The final coding of a `Transfer-Encoding` value is `chunked`.
fn last_coding_chunked(value: &[u8]) -> bool {
    let last = value.rsplit(|&b| b == b',').next().unwrap_or(&[]);
    trim(last).eq_ignore_ascii_case(b"chunked")
}

/// ASCII decimal to u64 (optional surrounding blanks); `None` on anything else.
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

/// Strips ASCII blanks at both ends.
pub fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or(&[])
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `METHOD SP target SP HTTP/1.d` (the line may end in CRLF or LF).
pub fn looks_like_request_line(line: &[u8]) -> bool {
    let line = strip_eol(line);
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return false;
    };
    let method = &line[..sp];
    if method.is_empty() || method.len() > 24 || !method.iter().all(|&b| is_tchar(b)) {
        return false;
    }
    let Some(v) = line.len().checked_sub(8).and_then(|i| line.get(i..)) else {
        return false;
    };
    line.len() > sp + 9
        && v.starts_with(b"HTTP/1.")
        && v[7].is_ascii_digit()
        && line[line.len() - 9] == b' '
}

/// `part`, the start of a line without its end yet, can begin a request
/// line: a method token (as [`looks_like_request_line`] wants it) up to
/// the first space.
fn could_start_request_line(part: &[u8]) -> bool {
    let token = part.iter().position(|&b| b == b' ').unwrap_or(part.len());
    token <= 24 && part[..token].iter().all(|&b| is_tchar(b)) && (token > 0 || part.is_empty())
}

/// `part`, the start of a line without its end yet, can begin a status
/// line (`HTTP/1.d NNN`).
fn could_start_status_line(part: &[u8]) -> bool {
    let n = part.len().min(7);
    part[..n] == b"HTTP/1."[..n]
        && part.get(7).is_none_or(u8::is_ascii_digit)
        && part.get(8).is_none_or(|&b| b == b' ')
        && part.iter().skip(9).take(3).all(u8::is_ascii_digit)
}

/// Where a request line starts in `line` while resynchronising: at 0 when
/// the line is one, or where a known method begins when undelimited bytes
/// (a body whose length could not be parsed) precede it (`abcGET / HTTP/1.1`).
pub fn request_line_start(line: &[u8]) -> Option<usize> {
    if !looks_like_request_line(line) {
        return None;
    }
    let sp = line.iter().position(|&b| b == b' ')?;
    let method = &line[..sp];
    if KNOWN_METHODS.contains(&method) {
        return Some(0);
    }
    KNOWN_METHODS
        .iter()
        .find(|m| method.ends_with(m))
        .map_or(Some(0), |m| Some(sp - m.len()))
}

/// Where a status line starts in `line` while resynchronising: at 0, or
/// after undelimited bytes that precede `HTTP/1.d NNN`.
pub fn status_line_start(line: &[u8]) -> Option<usize> {
    memchr::memmem::find_iter(line, b"HTTP/1.").find(|&i| looks_like_status_line(&line[i..]))
}

/// `HTTP/1.d SP NNN` followed by a space or the end of the line.
pub fn looks_like_status_line(line: &[u8]) -> bool {
    let line = strip_eol(line);
    line.len() >= 12
        && line.starts_with(b"HTTP/1.")
        && line[7].is_ascii_digit()
        && line[8] == b' '
        && line[9..12].iter().all(u8::is_ascii_digit)
        && (line.len() == 12 || line[12] == b' ')
}

/// What [`StreamParser::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing to report; feed the rest of the input (if any).
    More,
    /// A complete head is buffered: take it ([`StreamParser::take_head`]),
    /// parse it and call [`StreamParser::set_body`].
    Head,
    /// Body payload (chunk data without framing) at `input[start..end]` of
    /// the slice just fed; `done` when it ends the message.
    Body {
        /// Start offset in the fed slice.
        start: usize,
        /// End offset in the fed slice.
        end: usize,
        /// The message is complete.
        done: bool,
    },
    /// The message is complete (end of chunked trailers).
    Done,
    /// The current message (if any) is abandoned; the parser resynchronises.
    Error(ParseError),
}

/// What a gap did to the message in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapEffect {
    /// No message was in progress; the parser resynchronises.
    Between,
    /// A head was cut; that message is lost and the parser resynchronises.
    LostHead,
    /// The gap fell inside a body of known length; `done` when it ended it.
    InBody {
        /// The message is complete.
        done: bool,
    },
    /// The gap covered the end of the body; the message ends with loss and
    /// the parser resynchronises.
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size {
        value: u64,
        digits: u8,
        ext: bool,
        len: u32,
    },
    Data(u64),
    DataEnd {
        cr: bool,
    },
    Trailer {
        line: u32,
        total: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    AwaitBody,
    Length(u64),
    Chunked(Chunk),
    Close,
    /// Past `max_head` in a head: header lines are skipped (keeping the
    /// [`KEPT_FIELDS`] ones) until the empty line; `keep` is `None` while
    /// the current line's name is not known yet.
    SkipHead {
        keep: Option<bool>,
    },
    Resync {
        line_start: bool,
    },
    Off,
}

/// Streaming framer for one direction of an HTTP/1.x connection.
#[derive(Debug, Clone)]
pub struct StreamParser {
    request: bool,
    state: State,
    buf: Vec<u8>,
    lines: u32,
    max_head: usize,
    msg_bytes: u64,
    body_bytes: u64,
    skipped: u64,
    /// Where the current line of an oversized head starts in `buf`.
    mark: usize,
    /// Head bytes skipped past `max_head`.
    head_skipped: u64,
    /// The head just completed was cut to `max_head` (see [`StreamParser::truncated`]).
    truncated: bool,
    /// A head found whole in one input and parsed there (see
    /// [`StreamParser::take_head`]), valid while `pre` is set; boxed so
    /// that an idle connection stays small.
    parsed: Option<Box<Head>>,
    pre: bool,
}

impl StreamParser {
    /// A parser for requests (`request`) or responses, with a head bound.
    pub fn new(request: bool, max_head: usize) -> Self {
        StreamParser {
            request,
            state: State::Head,
            buf: Vec::new(),
            lines: 0,
            max_head: max_head.max(64),
            msg_bytes: 0,
            body_bytes: 0,
            skipped: 0,
            mark: 0,
            head_skipped: 0,
            truncated: false,
            parsed: None,
            pre: false,
        }
    }

    /// The head just returned by [`Step::Head`] was larger than `max_head`:
    /// it holds the start line and only the header fields that frame the
    /// body or name the host; the rest was skipped.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Wire bytes of the current (or just finished) message: head, body and framing.
    pub fn msg_bytes(&self) -> u64 {
        self.msg_bytes
    }

    /// Payload bytes of the current (or just finished) message body.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Bytes skipped outside messages (resync, blank lines, after an upgrade).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The buffered head so far (also after [`ParseError::HeadTooLarge`],
    /// until the next `feed`); after [`Step::Head`] for a head parsed in
    /// place, that head as parsed (names lower-cased with [`Wants::ALL`]).
    pub fn head(&self) -> &[u8] {
        match &self.parsed {
            Some(p) if self.pre => &p.raw,
            _ => &self.buf,
        }
    }

    /// A message has started and is not finished.
    pub fn in_message(&self) -> bool {
        match self.state {
            State::Head => !self.buf.is_empty(),
            State::AwaitBody
            | State::Length(_)
            | State::Chunked(_)
            | State::Close
            | State::SkipHead { .. } => true,
            State::Resync { .. } | State::Off => false,
        }
    }

    /// A head has been parsed and the body is in progress.
    pub fn in_body(&self) -> bool {
        matches!(
            self.state,
            State::AwaitBody | State::Length(_) | State::Chunked(_) | State::Close
        )
    }

    /// The parser is skipping bytes until a start line.
    pub fn resyncing(&self) -> bool {
        matches!(self.state, State::Resync { .. })
    }

    /// Moves the head just completed into `dst` (swapping allocations).
    /// True when it is parsed already, with the header fields of
    /// [`StreamParser::feed_with`]: a head of the common shape that came
    /// whole in one input is parsed straight from it, never buffered. False
    /// when only `dst.raw` is set and the caller parses it.
    pub fn take_head(&mut self, dst: &mut Head) -> bool {
        if let Some(p) = self.parsed.as_deref_mut().filter(|_| self.pre) {
            self.pre = false;
            std::mem::swap(dst, p);
            return true;
        }
        dst.raw.clear();
        std::mem::swap(&mut dst.raw, &mut self.buf);
        false
    }

    /// Sets the body framing after a [`Step::Head`]; true when the message is
    /// already complete (no body).
    pub fn set_body(&mut self, framing: Framing) -> bool {
        self.buf.clear();
        self.pre = false;
        self.lines = 0;
        self.state = match framing {
            Framing::None | Framing::Length(0) => {
                self.state = State::Head;
                return true;
            }
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
                ext: false,
                len: 0,
            }),
            Framing::Close => State::Close,
        };
        false
    }

    /// Abandons the current message and skips to the next start line.
    pub fn resync(&mut self) {
        self.buf.clear();
        self.pre = false;
        self.lines = 0;
        self.state = State::Resync { line_start: true };
    }

    /// Stops parsing for good (after a protocol upgrade); later bytes are skipped.
    pub fn turn_off(&mut self) {
        self.buf.clear();
        self.pre = false;
        self.state = State::Off;
    }

    /// The direction ended: true when that completed a close-delimited body.
    pub fn end(&mut self) -> bool {
        if self.state == State::Close {
            self.state = State::Head;
            return true;
        }
        false
    }

    /// `len` bytes were never captured.
    pub fn gap(&mut self, len: u64) -> GapEffect {
        self.pre = false;
        let after = State::Resync { line_start: true };
        match self.state {
            State::Head | State::AwaitBody | State::SkipHead { .. } => {
                let lost = self.in_message();
                self.buf.clear();
                self.lines = 0;
                self.state = after;
                if lost {
                    GapEffect::LostHead
                } else {
                    GapEffect::Between
                }
            }
            State::Length(rem) => {
                let n = len.min(rem);
                self.msg_bytes += n;
                self.body_bytes += n;
                if len < rem {
                    self.state = State::Length(rem - len);
                    GapEffect::InBody { done: false }
                } else if len == rem {
                    self.state = State::Head;
                    GapEffect::InBody { done: true }
                } else {
                    self.state = after;
                    GapEffect::Truncated
                }
            }
            State::Chunked(Chunk::Data(rem)) if len < rem => {
                self.msg_bytes += len;
                self.body_bytes += len;
                self.state = State::Chunked(Chunk::Data(rem - len));
                GapEffect::InBody { done: false }
            }
            State::Chunked(_) => {
                self.state = after;
                GapEffect::Truncated
            }
            State::Close => {
                self.msg_bytes += len;
                self.body_bytes += len;
                GapEffect::InBody { done: false }
            }
            State::Resync { .. } => {
                self.buf.clear();
                self.state = after;
                GapEffect::Between
            }
            State::Off => GapEffect::Between,
        }
    }

    /// Consumes a prefix of `input`; returns how many bytes and what was found.
    /// Either the count is positive or the step is not [`Step::More`].
    /// A head parsed here keeps every header field.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Step) {
        self.feed_with(input, &Wants::ALL)
    }

    /// [`StreamParser::feed`]; a head parsed here keeps the header fields
    /// `wants` says.
    pub fn feed_with(&mut self, input: &[u8], wants: &Wants) -> (usize, Step) {
        match self.state {
            State::Head => self.feed_head(input, wants),
            State::AwaitBody => {
                // The caller did not frame the body: treat it as absent.
                self.set_body(Framing::None);
                (0, Step::Done)
            }
            State::Length(rem) => {
                let n = (input.len() as u64).min(rem) as usize;
                let rem = rem - n as u64;
                self.msg_bytes += n as u64;
                self.body_bytes += n as u64;
                let done = rem == 0;
                self.state = if done {
                    State::Head
                } else {
                    State::Length(rem)
                };
                (
                    n,
                    Step::Body {
                        start: 0,
                        end: n,
                        done,
                    },
                )
            }
            State::Close => {
                let n = input.len();
                self.msg_bytes += n as u64;
                self.body_bytes += n as u64;
                (
                    n,
                    Step::Body {
                        start: 0,
                        end: n,
                        done: false,
                    },
                )
            }
            State::Chunked(c) => self.feed_chunked(c, input),
            State::SkipHead { keep } => self.feed_skip_head(keep, input),
            State::Resync { line_start } => self.feed_resync(line_start, input),
            State::Off => {
                self.skipped += input.len() as u64;
                (input.len(), Step::More)
            }
        }
    }

    fn start_message(&mut self) {
        self.msg_bytes = 0;
        self.body_bytes = 0;
        self.lines = 0;
        self.truncated = false;
    }

    fn feed_head(&mut self, input: &[u8], wants: &Wants) -> (usize, Step) {
        let mut from = 0;
        if self.buf.is_empty() {
            // Blank lines between messages are tolerated (RFC 9112 section 2.2).
            from = input
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(input.len());
            self.skipped += from as u64;
            if from == input.len() {
                return (from, Step::More);
            }
            self.start_message();
            // The whole head in this input, of the common shape: parsed in
            // place, one copy, no second search for its end.
            let rest = &input[from..];
            let parsed = self.parsed.get_or_insert_with(Box::default);
            if let Some(end) = parsed.scan(rest, self.request, wants, self.max_head) {
                self.msg_bytes += end as u64;
                self.state = State::AwaitBody;
                self.pre = true;
                return (from + end, Step::Head);
            }
        }
        if self.lines == 0 {
            // The start line is checked as soon as it is complete, so that
            // non-HTTP bytes are given up early.
            let rest = input.get(from..).unwrap_or(&[]);
            let (piece, line_end) = match memchr(b'\n', rest) {
                Some(k) => (&rest[..=k], true),
                None => (rest, false),
            };
            if self.buf.len() + piece.len() > self.max_head {
                return self.head_too_large(input, piece, from, line_end);
            }
            self.buf.extend_from_slice(piece);
            self.msg_bytes += piece.len() as u64;
            from += piece.len();
            if !line_end {
                let ok = if self.request {
                    could_start_request_line(&self.buf)
                } else {
                    could_start_status_line(&self.buf)
                };
                if !ok {
                    // Given up as soon as the bytes cannot begin a start
                    // line (binary protocols may send no LF for a while).
                    self.skipped += self.buf.len() as u64;
                    self.msg_bytes = 0;
                    self.buf.clear();
                    self.state = State::Resync { line_start: false };
                    return (from, Step::Error(ParseError::NotHttp));
                }
                return (from, Step::More);
            }
            let ok = if self.request {
                looks_like_request_line(&self.buf)
            } else {
                looks_like_status_line(&self.buf)
            };
            if !ok {
                self.skipped += self.buf.len() as u64;
                self.msg_bytes = 0;
                self.buf.clear();
                self.state = State::Resync { line_start: true };
                return (from, Step::Error(ParseError::NotHttp));
            }
            self.lines = 1;
        }
        // Header lines: find the empty line first, then copy once.
        let start = from;
        if let Some(end) = self.head_end_in(input.get(start..).unwrap_or(&[])) {
            return (start + end, self.head_complete(&input[start..start + end]));
        }
        let mut pos = from;
        loop {
            let rest = input.get(pos..).unwrap_or(&[]);
            let Some(k) = memchr(b'\n', rest) else {
                let piece = &input[start..];
                if self.buf.len() + piece.len() > self.max_head {
                    return self.head_too_large(input, piece, start, false);
                }
                self.buf.extend_from_slice(piece);
                self.msg_bytes += piece.len() as u64;
                return (input.len(), Step::More);
            };
            let nl = pos + k;
            let piece = &input[start..=nl];
            if self.buf.len() + piece.len() > self.max_head {
                return self.head_too_large(input, piece, start, true);
            }
            self.lines += 1;
            // The byte `back` places before the newline, across buf and input.
            let before = |back: usize| -> Option<u8> {
                match nl.checked_sub(back) {
                    Some(i) if i >= start => input.get(i).copied(),
                    _ => {
                        let from_end = back - (nl - start);
                        self.buf
                            .len()
                            .checked_sub(from_end)
                            .and_then(|i| self.buf.get(i).copied())
                    }
                }
            };
            let empty_line =
                before(1) == Some(b'\n') || (before(1) == Some(b'\r') && before(2) == Some(b'\n'));
            if empty_line {
                return (nl + 1, self.head_complete(piece));
            }
            pos = nl + 1;
        }
    }

    /// Keeps `piece`, the rest of a head up to and with its empty line.
    fn head_complete(&mut self, piece: &[u8]) -> Step {
        self.buf.extend_from_slice(piece);
        self.msg_bytes += piece.len() as u64;
        self.state = State::AwaitBody;
        Step::Head
    }

    /// Where the head ends in `rest` (just past its empty line) when that
    /// can be told with two vectorised searches: `buf` ends at a line
    /// boundary, `rest` does not start with an empty line (which would need
    /// `buf` to tell), and the head fits in `max_head`. Otherwise `None`, and
    /// the line-by-line loop of `feed_head` decides, with the same result.
    fn head_end_in(&self, rest: &[u8]) -> Option<usize> {
        if self.buf.last() != Some(&b'\n') || rest.first().is_none_or(|&b| b == b'\r' || b == b'\n')
        {
            return None;
        }
        let crlf = CRLF_EMPTY_LINE.find(rest).map(|q| q + 3);
        let window = &rest[..crlf.map_or(rest.len(), |e| e - 1)];
        let lf = LF_EMPTY_LINE.find(window).map(|q| q + 2);
        let end = match (crlf, lf) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        (self.buf.len() + end <= self.max_head).then_some(end)
    }

    /// The head in `buf` plus `input[at..]` is larger than `max_head`.
    /// With its start line complete, the rest of the head is skipped up to
    /// its empty line keeping only the fields that frame the body, so that
    /// the message (and the next one) stay delimited; a start line alone
    /// larger than the bound is an error and the parser resynchronises.
    fn head_too_large(
        &mut self,
        input: &[u8],
        piece: &[u8],
        at: usize,
        line_end: bool,
    ) -> (usize, Step) {
        if self.lines > 0 {
            let old = std::mem::take(&mut self.buf);
            let first = memchr(b'\n', &old).map_or(old.len(), |k| k + 1);
            self.buf.extend_from_slice(&old[..first]);
            self.mark = self.buf.len();
            self.head_skipped = 0;
            // Bytes already counted: filter them as header lines (they
            // hold no empty line, or the head would have ended).
            let (_, step) = self.skip_lines(None, &old[first..]);
            debug_assert_eq!(step, Step::More);
            let keep = match self.state {
                State::SkipHead { keep } => keep,
                _ => None,
            };
            let (n, step) = self.feed_skip_head(keep, &input[at..]);
            return (at + n, step);
        }
        let room = self
            .max_head
            .saturating_sub(self.buf.len())
            .min(piece.len());
        self.buf.extend_from_slice(&piece[..room]);
        self.msg_bytes += piece.len() as u64;
        self.state = State::Resync {
            line_start: line_end,
        };
        self.lines = 0;
        (at + piece.len(), Step::Error(ParseError::HeadTooLarge))
    }
    fn feed_chunked(&mut self, mut c: Chunk, input: &[u8]) -> (usize, Step) {
        let mut i = 0;
        let result = loop {
            if let Chunk::Data(rem) = c {
                let n = ((input.len() - i) as u64).min(rem) as usize;
                let rem = rem - n as u64;
                c = if rem == 0 {
                    Chunk::DataEnd { cr: false }
                } else {
                    Chunk::Data(rem)
                };
                self.body_bytes += n as u64;
                let start = i;
                i += n;
                if n > 0 || i >= input.len() {
                    break Step::Body {
                        start,
                        end: i,
                        done: false,
                    };
                }
                continue;
            }
            let Some(&b) = input.get(i) else {
                break Step::More;
            };
            i += 1;
            match &mut c {
                Chunk::Size {
                    value,
                    digits,
                    ext,
                    len,
                } => {
                    *len += 1;
                    if *len > MAX_CHUNK_LINE {
                        break Step::Error(ParseError::InvalidChunk);
                    }
                    match b {
                        b'\n' => {
                            if *digits == 0 {
                                break Step::Error(ParseError::InvalidChunk);
                            }
                            c = if *value == 0 {
                                Chunk::Trailer { line: 0, total: 0 }
                            } else {
                                Chunk::Data(*value)
                            };
                        }
                        _ if *ext => {}
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            if *digits >= 15 {
                                break Step::Error(ParseError::InvalidChunk);
                            }
                            let d = (b as char).to_digit(16).unwrap_or(0);
                            *value = *value * 16 + u64::from(d);
                            *digits += 1;
                        }
                        b';' | b' ' | b'\t' | b'\r' if *digits > 0 => *ext = true,
                        _ => break Step::Error(ParseError::InvalidChunk),
                    }
                }
                Chunk::DataEnd { cr } => match b {
                    b'\n' => {
                        c = Chunk::Size {
                            value: 0,
                            digits: 0,
                            ext: false,
                            len: 0,
                        }
                    }
                    b'\r' if !*cr => *cr = true,
                    _ => break Step::Error(ParseError::InvalidChunk),
                },
                Chunk::Trailer { line, total } => {
                    *total += 1;
                    if *total as usize > self.max_head {
                        break Step::Error(ParseError::InvalidChunk);
                    }
                    match b {
                        b'\n' if *line == 0 => break Step::Done,
                        b'\n' => *line = 0,
                        b'\r' => {}
                        _ => *line += 1,
                    }
                }
                Chunk::Data(_) => {}
            }
        };
        self.msg_bytes += i as u64;
        self.state = match result {
            Step::Done => State::Head,
            Step::Error(_) => State::Resync { line_start: false },
            _ => State::Chunked(c),
        };
        (i, result)
    }

    /// Skips the header lines of an oversized head (counting them) up to
    /// its empty line; see [`State::SkipHead`].
    fn feed_skip_head(&mut self, keep: Option<bool>, input: &[u8]) -> (usize, Step) {
        let (n, step) = self.skip_lines(keep, input);
        self.msg_bytes += n as u64;
        self.head_skipped += n as u64;
        if step == Step::More && self.head_skipped > MAX_SKIPPED_HEAD {
            self.buf.truncate(self.mark);
            self.state = State::Resync { line_start: false };
            return (n, Step::Error(ParseError::HeadTooLarge));
        }
        (n, step)
    }

    /// The line walk of [`StreamParser::feed_skip_head`] (no byte counts).
    fn skip_lines(&mut self, mut keep: Option<bool>, input: &[u8]) -> (usize, Step) {
        let mut pos = 0;
        while pos < input.len() {
            let rest = &input[pos..];
            let (piece, line_end) = match memchr(b'\n', rest) {
                Some(k) => (&rest[..=k], true),
                None => (rest, false),
            };
            pos += piece.len();
            if keep != Some(false) {
                if self.buf.len() - self.mark + piece.len() > MAX_KEPT_LINE
                    || self.buf.len() + piece.len() > self.max_head
                {
                    self.buf.truncate(self.mark);
                    keep = Some(false);
                } else {
                    self.buf.extend_from_slice(piece);
                }
            }
            if keep.is_none() {
                let line = &self.buf[self.mark..];
                if let Some(colon) = memchr(b':', line) {
                    let name = trim(&line[..colon]);
                    let wanted = KEPT_FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f));
                    keep = Some(wanted);
                    if !wanted {
                        self.buf.truncate(self.mark);
                    }
                } else if line_end && matches!(line, b"\r\n" | b"\n") {
                    // The empty line: the head is complete.
                    self.truncated = true;
                    self.mark = 0;
                    self.state = State::AwaitBody;
                    return (pos, Step::Head);
                } else if line.len() > 24 || line_end {
                    self.buf.truncate(self.mark);
                    keep = Some(false);
                }
            }
            if line_end {
                self.mark = self.buf.len();
                keep = None;
            }
        }
        self.state = State::SkipHead { keep };
        (pos, Step::More)
    }

    fn feed_resync(&mut self, line_start: bool, input: &[u8]) -> (usize, Step) {
        if !line_start {
            self.buf.clear();
            return match memchr(b'\n', input) {
                Some(k) => {
                    self.skipped += k as u64 + 1;
                    self.state = State::Resync { line_start: true };
                    (k + 1, Step::More)
                }
                None => {
                    self.skipped += input.len() as u64;
                    (input.len(), Step::More)
                }
            };
        }
        let (piece, line_end) = match memchr(b'\n', input) {
            Some(k) => (&input[..=k], true),
            None => (input, false),
        };
        if self.buf.len() + piece.len() > MAX_RESYNC_LINE {
            self.skipped += (self.buf.len() + piece.len()) as u64;
            self.buf.clear();
            self.state = State::Resync {
                line_start: line_end,
            };
            return (piece.len(), Step::More);
        }
        self.buf.extend_from_slice(piece);
        if !line_end {
            return (piece.len(), Step::More);
        }
        let start = if self.request {
            request_line_start(&self.buf)
        } else {
            status_line_start(&self.buf)
        };
        if let Some(off) = start {
            self.skipped += off as u64;
            self.buf.drain(..off);
            self.start_message();
            self.msg_bytes = self.buf.len() as u64;
            self.lines = 1;
            self.state = State::Head;
        } else {
            self.skipped += self.buf.len() as u64;
            self.buf.clear();
        }
        (piece.len(), Step::More)
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
