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

pub use super::scan::Wants;
use super::scan::{classify, request_line, scan_fields, status_line, Field, MAX_METHOD};
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
/// Header fields parsed per head; more is an invalid head.
pub const MAX_HEADERS: usize = 100;
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

/// A byte range inside a [`Head`]'s buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    /// The bytes of this span in `buf` (empty when out of range).
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let s = self.start as usize;
        buf.get(s..s + self.len as usize).unwrap_or(&[])
    }

    fn of(base: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        if start > base.len() || part.len() > base.len() - start {
            return Span::default();
        }
        Span {
            start: start as u32,
            len: part.len() as u32,
        }
    }
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
        scan_fields(b, next, |n, v| {
            self.note(b, n, v, wants, &mut extra_done);
            true
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
mod tests {
    use super::*;

    /// A request head, field by field.
    const GET_HEAD: &[u8] = concat!(
        "GET /index.html?q=1 HTTP/1.1\r\n", // method SP target SP version
        "Host: www.example.com\r\n",        // host -> url.domain
        "User-Agent: curl/8.0\r\n",         // user_agent.original
        "Accept: */*\r\n",                  // not kept unless asked
        "\r\n",                             // end of head
    )
    .as_bytes();

    #[test]
    fn request_head_fields_are_ranges_into_the_buffer() {
        let mut h = Head {
            raw: GET_HEAD.to_vec(),
            ..Head::default()
        };
        h.parse_request(false).unwrap();
        assert_eq!(h.method(), b"GET");
        assert_eq!(h.target(), b"/index.html?q=1");
        assert_eq!(h.minor, 1);
        assert_eq!(h.value(h.host), Some(&b"www.example.com"[..]));
        assert_eq!(h.value(h.user_agent), Some(&b"curl/8.0"[..]));
        assert_eq!(h.request_framing(), Ok(Framing::None));
    }

    #[test]
    fn header_names_are_lower_cased_and_reason_too() {
        let mut h = Head {
            raw: b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nX-Thing: A\r\n\r\n".to_vec(),
            ..Head::default()
        };
        h.parse_response(false).unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.minor, 0);
        assert_eq!(h.reason.get(&h.raw), b"ok");
        assert_eq!(h.find("x-thing"), Some(&b"A"[..]));
        assert_eq!(h.response_framing(false, false), Ok(Framing::Length(5)));
        assert_eq!(h.response_framing(true, false), Ok(Framing::None));
    }

    /// Every parsed field of a head, as bytes, for comparing two parses.
    fn fields(h: &Head) -> String {
        let hdrs: Vec<_> = h
            .headers
            .iter()
            .map(|(n, v)| (n.get(&h.raw).to_vec(), v.get(&h.raw).to_vec()))
            .collect();
        format!(
            "{:?} {:?} {} {} {:?} {:?} {:?} {} {} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            h.method(),
            h.target(),
            h.minor,
            h.status,
            h.reason.get(&h.raw),
            hdrs,
            h.content_length,
            h.bad_content_length,
            h.transfer_encoding,
            h.chunked,
            h.expect_continue,
            h.host,
            h.user_agent,
            h.referer,
            h.content_type,
            h.content_encoding,
            h.authorization,
            h.raw,
        )
    }

    /// The fast path and httparse alone give the same head (fields, errors
    /// and the lower-cased buffer) on common and on odd heads; the odd ones
    /// go to httparse.
    #[test]
    fn fast_path_and_httparse_agree() {
        let requests: &[&[u8]] = &[
            GET_HEAD,
            b"GET / HTTP/1.0\r\n\r\n",
            b"POST /a?b=c HTTP/1.1\r\nHost: h:8080\r\nContent-Length:  12  \r\nContent-Type: application/x-www-form-urlencoded\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nEmpty:\r\nSpaces:   \r\n\r\n",
            b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\nAUTHORIZATION: Basic dXNlcjpwYXNz\r\nReferer: http://r/\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET  /  HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"GET / HTTP/1.1\r\nHost:\ta\t\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\nUser-Agent: u\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad\x01: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\x01b\r\nUser-Agent: u\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\xc3\xa9\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /\xe2 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",
            b"GET / HTTP/1.1\r\n:x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY",
        ];
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        let mut too_many = many.clone();
        too_many.extend_from_slice(b"Last: v\r\n\r\n");
        many.extend_from_slice(b"\r\n");
        let mut all: Vec<Vec<u8>> = requests.iter().map(|r| r.to_vec()).collect();
        all.push(many);
        all.push(too_many);
        for raw in &all {
            for partial in [false, true] {
                let mut fast = Head {
                    raw: raw.clone(),
                    ..Head::default()
                };
                let mut slow = fast.clone();
                let a = fast.parse_request(partial);
                let b = slow.parse_request_httparse(&Wants::ALL, partial);
                let what = String::from_utf8_lossy(raw);
                assert_eq!(a, b, "{what:?}");
                assert_eq!(fields(&fast), fields(&slow), "{what:?}");
            }
        }
        let responses: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n",
            b"HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n",
            b"HTTP/1.1 204\r\n\r\n",
            b"HTTP/1.1 204 \r\n\r\n",
            b"HTTP/1.1 200  OK\r\n\r\n",
            b"HTTP/1.1  200 OK\r\n\r\n",
            b"HTTP/1.1 200 \xc3\xa9\r\n\r\n",
            b"HTTP/1.1 200 O\tK\r\n\r\n",
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/1.2 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 1\n\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
            b"HTTP/1.1 200 OK\r\nA\x01: 1\r\nContent-Length: 2\r\n\r\n",
        ];
        for raw in responses {
            for partial in [false, true] {
                let mut fast = Head {
                    raw: raw.to_vec(),
                    ..Head::default()
                };
                let mut slow = fast.clone();
                let a = fast.parse_response(partial);
                let b = slow.parse_response_httparse(&Wants::ALL, partial);
                let what = String::from_utf8_lossy(raw);
                assert_eq!(a, b, "{what:?}");
                assert_eq!(fields(&fast), fields(&slow), "{what:?}");
            }
        }
    }

    /// What the session and the event read from a head, whatever its
    /// table holds: the lean and the full table must give the same.
    fn view(h: &Head, extra: Option<&str>) -> String {
        format!(
            "{:?} {:?} {} {} {:?} {:?} {} {} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            h.method(),
            h.target(),
            h.minor,
            h.status,
            h.reason.get(&h.raw),
            h.content_length,
            h.bad_content_length,
            h.transfer_encoding,
            h.chunked,
            h.expect_continue,
            h.value(h.host),
            h.value(h.user_agent),
            h.value(h.referer),
            h.value(h.content_type),
            h.value(h.content_encoding),
            h.value(h.authorization),
            extra.map(|e| h.find(e)),
        )
    }

    /// Many heads of many shapes: start lines and header lines (names in
    /// any case, repeated, odd bytes, bare LF, obs-fold, tabs) drawn from a
    /// fixed sequence.
    fn many_heads(request: bool) -> Vec<Vec<u8>> {
        let starts: &[&[u8]] = if request {
            &[
                b"GET /a?b=c HTTP/1.1\r\n",
                b"POST / HTTP/1.0\r\n",
                b"PUT  /x HTTP/1.1\r\n",
                b"GET /\xc3\xa9 HTTP/1.1\r\n",
                b"GET / HTTP/1.1\n",
                b"THISMETHODISMUCHLONGERTHANUSUAL / HTTP/1.1\r\n",
            ]
        } else {
            &[
                b"HTTP/1.1 200 OK\r\n",
                b"HTTP/1.0 404 Not Found\r\n",
                b"HTTP/1.1 204\r\n",
                b"HTTP/1.1 200  OK\r\n",
                b"HTTP/1.1 200 O\tK\r\n",
                b"HTTP/1.1 100 Continue\n",
            ]
        };
        let lines: &[&[u8]] = &[
            b"Host: www.example.com\r\n",
            b"HOST: other\r\n",
            b"host:bare\r\n",
            b"Content-Length: 5\r\n",
            b"content-length:  5 \r\n",
            b"Content-Length: 6\r\n",
            b"CONTENT-LENGTH: x\r\n",
            b"Transfer-Encoding: gzip, chunked\r\n",
            b"transfer-encoding: gzip\r\n",
            b"Expect: 100-continue\r\n",
            b"expect: 100-CONTINUE \r\n",
            b"Expect: nothing\r\n",
            b"User-Agent: curl/8.0\r\n",
            b"user-agent: second\r\n",
            b"Referer: http://r/\r\n",
            b"Content-Type: text/html; charset=UTF-8\r\n",
            b"content-type: application/x-www-form-urlencoded\r\n",
            b"Content-Encoding: gzip\r\n",
            b"Authorization: Basic dXNlcjpwYXNz\r\n",
            b"X-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n",
            b"x-forwarded-for: 9.9.9.9\r\n",
            b"X-Real-IP: 10.0.0.1\r\n",
            b"Connection: keep-alive\r\n",
            b"Last-Modified: Wed, 02 Dec 2026 03:38:31 GMT\r\n",
            b"Empty:\r\n",
            b"Spaces:    \r\n",
            b"Ho st: z\r\n",
            b"Bad(: 1\r\n",
            b"Host : spaced\r\n",
            b"Tab:\tv\r\n",
            b"Obs: caf\xc3\xa9\r\n",
            b"Ctl: a\x01b\r\n",
            b"Del: a\x7fb\r\n",
            b"Fold: a\r\n b\r\n",
            b"NoColon\r\n",
            b"Lf: only\n",
            b"Cr: a\rb\r\n",
            b":novalue\r\n",
        ];
        let mut heads = Vec::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        for i in 0..3000 {
            // Mostly clean heads (the fast path), some with an odd line.
            let start = if i % 4 == 0 {
                starts[next(starts.len())]
            } else {
                starts[i % 2]
            };
            let mut h = start.to_vec();
            let count = next(9);
            for _ in 0..count {
                let pick = if i % 3 == 0 {
                    next(lines.len())
                } else {
                    next(26)
                };
                h.extend_from_slice(lines[pick]);
            }
            h.extend_from_slice(if i % 17 == 0 { b"\n" } else { b"\r\n" });
            heads.push(h);
        }
        heads
    }

    const EXTRAS: [Option<&str>; 5] = [
        None,
        Some("X-Forwarded-For"),
        Some("host"),
        Some("Content-Length"),
        Some("x-real-ip"),
    ];

    /// The lean table (only the fields read) and the full table give the
    /// session and the event the same values, on the fast path and on
    /// httparse, for every extra name; and the lean fast path agrees with
    /// lean httparse.
    #[test]
    fn lean_and_full_tables_agree_over_many_heads() {
        let mut fast_lean = 0;
        for request in [true, false] {
            for raw in many_heads(request) {
                for partial in [false, true] {
                    let mut full = Head {
                        raw: raw.clone(),
                        ..Head::default()
                    };
                    let a = if request {
                        full.parse_request(partial)
                    } else {
                        full.parse_response(partial)
                    };
                    for extra in EXTRAS {
                        let wants = Wants::lean(extra);
                        let mut lean = Head {
                            raw: raw.clone(),
                            ..Head::default()
                        };
                        let mut slow = lean.clone();
                        let (b, c) = if request {
                            (
                                lean.parse_request_for(&wants, partial),
                                slow.parse_request_httparse(&wants, partial),
                            )
                        } else {
                            (
                                lean.parse_response_for(&wants, partial),
                                slow.parse_response_httparse(&wants, partial),
                            )
                        };
                        let what = String::from_utf8_lossy(&raw);
                        assert_eq!(a, b, "{what:?} {extra:?}");
                        assert_eq!(b, c, "{what:?} {extra:?}");
                        assert_eq!(view(&full, extra), view(&lean, extra), "{what:?} {extra:?}");
                        assert_eq!(view(&lean, extra), view(&slow, extra), "{what:?} {extra:?}");
                        assert!(lean.headers.len() <= 7, "{what:?}");
                        let mut probe = Head::default();
                        if probe
                            .scan(&raw, request, &wants, DEFAULT_MAX_HEAD)
                            .is_some()
                        {
                            fast_lean += 1;
                        }
                    }
                }
            }
        }
        assert!(
            fast_lean > 10_000,
            "the fast path was taken {fast_lean} times"
        );
    }

    /// A head parsed in place from the input (one whole input) gives the
    /// same bytes, fields, consumed count and message size as the same
    /// head buffered a byte at a time and parsed afterwards, with the full
    /// and the lean table, body bytes following or not.
    #[test]
    fn heads_parsed_in_place_match_buffered_heads() {
        let mut in_place = 0;
        for request in [true, false] {
            for (i, raw) in many_heads(request).into_iter().enumerate() {
                let mut input = b"\r\n".repeat(i % 2);
                input.extend_from_slice(&raw);
                input.extend_from_slice(b"BODY");
                for extra in EXTRAS {
                    let wants = if i % 5 == 0 {
                        Wants::ALL
                    } else {
                        Wants::lean(extra)
                    };
                    let parse = |h: &mut Head| {
                        if request {
                            h.parse_request_for(&wants, false)
                        } else {
                            h.parse_response_for(&wants, false)
                        }
                    };
                    let mut whole = StreamParser::new(request, DEFAULT_MAX_HEAD);
                    let (n, step) = whole.feed_with(&input, &wants);
                    let mut bytewise = StreamParser::new(request, DEFAULT_MAX_HEAD);
                    let mut m = 0;
                    let mut last = Step::More;
                    while m < input.len() && matches!(last, Step::More) {
                        let (k, s) = bytewise.feed(&input[m..=m]);
                        m += k.max(1);
                        last = s;
                    }
                    let what = String::from_utf8_lossy(&input);
                    if step != Step::Head {
                        assert_ne!(last, Step::Head, "{what:?}");
                        continue;
                    }
                    assert_eq!(last, Step::Head, "{what:?}");
                    assert_eq!(
                        (n, whole.msg_bytes()),
                        (m, bytewise.msg_bytes()),
                        "{what:?}"
                    );
                    let mut a = Head::default();
                    let pre = whole.take_head(&mut a);
                    let ra = if pre { Ok(()) } else { parse(&mut a) };
                    let mut b = Head::default();
                    assert!(!bytewise.take_head(&mut b), "a head in pieces is buffered");
                    let rb = parse(&mut b);
                    assert_eq!(ra, rb, "{what:?}");
                    assert_eq!(a.raw, b.raw, "{what:?}");
                    assert_eq!(view(&a, extra), view(&b, extra), "{what:?}");
                    if wants.all {
                        assert_eq!(fields(&a), fields(&b), "{what:?}");
                    }
                    in_place += usize::from(pre);
                }
            }
        }
        assert!(in_place > 5_000, "parsed in place {in_place} times");
    }

    /// A head parsed in place is the parser's until taken: `head()` shows
    /// it, and a resync or a gap forgets it.
    #[test]
    fn a_head_parsed_in_place_is_forgotten_on_resync() {
        let mut p = StreamParser::new(true, DEFAULT_MAX_HEAD);
        let (n, s) = p.feed_with(GET_HEAD, &Wants::lean(None));
        assert_eq!((n, s), (GET_HEAD.len(), Step::Head));
        assert_eq!(p.head(), GET_HEAD);
        p.resync();
        let mut h = Head::default();
        assert!(!p.take_head(&mut h));
        assert!(h.raw.is_empty());
        let (_, s) = p.feed(GET_HEAD);
        assert_eq!(
            s,
            Step::More,
            "resynchronising: the line is looked at first"
        );
    }

    #[test]
    fn framing_rules_follow_rfc_9112() {
        let resp = |s: &str| {
            let mut h = Head {
                raw: s.as_bytes().to_vec(),
                ..Head::default()
            };
            h.parse_response(false).unwrap();
            h.response_framing(false, false)
        };
        assert_eq!(
            resp("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"),
            Ok(Framing::None)
        );
        assert_eq!(resp("HTTP/1.1 304 Not Modified\r\n\r\n"), Ok(Framing::None));
        assert_eq!(resp("HTTP/1.1 100 Continue\r\n\r\n"), Ok(Framing::None));
        assert_eq!(resp("HTTP/1.0 200 OK\r\n\r\n"), Ok(Framing::Close));
        assert_eq!(
            resp(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n"
            ),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            Err(ParseError::InvalidContentLength)
        );
    }

    #[test]
    fn start_line_probes() {
        assert!(looks_like_request_line(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_request_line(b"M-SEARCH * HTTP/1.1\n"));
        assert!(!looks_like_request_line(b"GET / HTTP/2.0\r\n"));
        assert!(!looks_like_request_line(b"GET HTTP/1.1\r\n"));
        assert!(!looks_like_request_line(b"{\"a\": 1} HTTP/1.1\r\n"));
        assert!(looks_like_status_line(b"HTTP/1.1 200 OK\r\n"));
        assert!(looks_like_status_line(b"HTTP/1.1 200\r\n"));
        assert!(!looks_like_status_line(b"HTTP/1.1 20x OK\r\n"));
        assert!(!looks_like_status_line(b"HTTP/1.12000 OK\r\n"));
    }

    fn run(p: &mut StreamParser, input: &[u8]) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            let (n, s) = p.feed(&input[pos..]);
            pos += n;
            if s == Step::Head {
                let mut h = Head::default();
                if !p.take_head(&mut h) {
                    h.parse_response(false).unwrap();
                }
                if p.set_body(h.response_framing(false, false).unwrap()) {
                    steps.push(Step::Done);
                }
                continue;
            }
            if s != Step::More {
                steps.push(s);
            }
        }
        steps
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let msg = concat!(
            "HTTP/1.1 200 OK\r\n",
            "Transfer-Encoding: chunked\r\n",
            "\r\n",
            "5;name=value\r\n",   // size 5 with a chunk extension
            "hello\r\n",          // data + CRLF
            "7\r\n",              // size 7
            ", world\r\n",        // data
            "0\r\n",              // last chunk
            "Expires: never\r\n", // trailer field
            "\r\n",               // end of trailers
        )
        .as_bytes();
        let mut p = StreamParser::new(false, DEFAULT_MAX_HEAD);
        let steps = run(&mut p, msg);
        assert_eq!(steps.last(), Some(&Step::Done));
        assert_eq!(p.body_bytes(), 12);
        assert_eq!(p.msg_bytes(), msg.len() as u64);
        assert!(!p.in_message());
    }

    #[test]
    fn bad_chunk_size_is_an_error_then_resync_finds_the_next_response() {
        let msg = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let mut p = StreamParser::new(false, DEFAULT_MAX_HEAD);
        let steps = run(&mut p, msg);
        assert_eq!(
            steps,
            vec![Step::Error(ParseError::InvalidChunk), Step::Done]
        );
    }

    #[test]
    fn every_prefix_of_a_message_is_incomplete_never_an_error() {
        let msg = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: x\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n";
        for cut in 0..msg.len() {
            let mut p = StreamParser::new(false, DEFAULT_MAX_HEAD);
            let steps = run(&mut p, &msg[..cut]);
            assert!(
                steps
                    .iter()
                    .all(|s| matches!(s, Step::Body { done: false, .. })),
                "prefix {cut}: {steps:?}"
            );
            assert!(p.in_message() || cut == 0, "prefix {cut}");
        }
    }

    /// The vectorised head-end search (whole head in one input) and the
    /// line-by-line loop (one byte per input) end heads at the same byte.
    #[test]
    fn head_end_is_the_first_empty_line_whatever_the_line_ends() {
        let heads: [&[u8]; 6] = [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\n\nX: not a header\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\nnext\n\n",
            b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\n\nC: 3\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",
        ];
        for msg in heads {
            // Lean: a head parsed in place keeps its names as received.
            let mut whole = StreamParser::new(true, DEFAULT_MAX_HEAD);
            let (n, step) = whole.feed_with(msg, &Wants::lean(None));
            assert_eq!(step, Step::Head, "{:?}", String::from_utf8_lossy(msg));
            let mut bytewise = StreamParser::new(true, DEFAULT_MAX_HEAD);
            let mut m = 0;
            loop {
                let (k, step) = bytewise.feed(&msg[m..=m]);
                m += k;
                if step == Step::Head {
                    break;
                }
            }
            assert_eq!(
                (n, whole.head()),
                (m, bytewise.head()),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn head_over_the_bound_is_skipped_to_its_end_keeping_the_framing() {
        let mut p = StreamParser::new(true, 128);
        let mut msg = b"POST / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..20 {
            msg.extend_from_slice(format!("X-Header-{i}: some value\r\n").as_bytes());
        }
        msg.extend_from_slice(b"Content-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\n\r\n");
        // Whole, and a byte at a time: the same head.
        for step in [msg.len(), 1] {
            let mut p2 = p.clone();
            let mut pos = 0;
            let head = loop {
                let end = (pos + step).min(msg.len());
                let (k, s) = p2.feed(&msg[pos..end]);
                pos += k;
                assert!(!matches!(s, Step::Error(_)), "{s:?}");
                if s == Step::Head {
                    break p2.head().to_vec();
                }
            };
            assert!(p2.truncated());
            assert_eq!(
                head,
                b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n".to_vec(),
                "{}",
                String::from_utf8_lossy(&head)
            );
            let tail = b"abcGET /next HTTP/1.1\r\n\r\n".len();
            assert_eq!(p2.msg_bytes(), (msg.len() - tail) as u64);
            let mut h = Head::default();
            assert!(
                !p2.take_head(&mut h),
                "a truncated head is parsed by the caller"
            );
            h.parse_request(false).unwrap();
            assert!(!p2.set_body(h.request_framing().unwrap()));
            let (k, s) = p2.feed(&msg[pos..]);
            assert_eq!(
                (k, s),
                (
                    3,
                    Step::Body {
                        start: 0,
                        end: 3,
                        done: true
                    }
                )
            );
            let (_, s) = p2.feed(&msg[pos + 3..]);
            assert_eq!(s, Step::Head, "the next request follows the body");
            assert!(!p2.truncated());
        }
        p.feed(b"GET ");
        assert!(p.in_message());
    }

    #[test]
    fn a_start_line_over_the_bound_is_an_error_then_resync() {
        let mut p = StreamParser::new(true, 128);
        let mut msg = b"GET /".to_vec();
        msg.extend(std::iter::repeat_n(b'a', 300));
        msg.extend_from_slice(b" HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
        let (n, s) = p.feed(&msg);
        assert_eq!(s, Step::Error(ParseError::HeadTooLarge));
        let mut pos = n;
        let mut found = false;
        while pos < msg.len() {
            let (k, s) = p.feed(&msg[pos..]);
            pos += k;
            found |= s == Step::Head;
        }
        assert!(found, "resynced at the next request line");
    }

    #[test]
    fn resync_finds_a_start_line_glued_to_undelimited_bytes() {
        assert_eq!(request_line_start(b"abcGET / HTTP/1.1\r\n"), Some(3));
        assert_eq!(request_line_start(b"GET / HTTP/1.1\r\n"), Some(0));
        assert_eq!(request_line_start(b"xOPTIONS * HTTP/1.1\r\n"), Some(1));
        assert_eq!(request_line_start(b"M-SEARCH * HTTP/1.1\r\n"), Some(0));
        assert_eq!(request_line_start(b"abc def\r\n"), None);
        assert_eq!(status_line_start(b"xyzHTTP/1.1 200 OK\r\n"), Some(3));
        assert_eq!(status_line_start(b"HTTP/1.1 200 OK\r\n"), Some(0));
        assert_eq!(status_line_start(b"HTTP/1.1 2x0 OK\r\n"), None);
        let mut p = StreamParser::new(true, DEFAULT_MAX_HEAD);
        p.resync();
        let (n, s) = p.feed(b"abcGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(s, Step::More);
        let (_, s) = p.feed(&b"abcGET /b HTTP/1.1\r\nHost: h\r\n\r\n"[n..]);
        assert_eq!(s, Step::Head);
        assert!(p.head().starts_with(b"GET /b HTTP/1.1"));
        assert_eq!(p.skipped(), 3);
    }

    #[test]
    fn binary_first_bytes_are_not_http_before_any_line_end() {
        let mut p = StreamParser::new(true, DEFAULT_MAX_HEAD);
        // A PostgreSQL StartupMessage: no LF anywhere.
        let (_, s) = p.feed(b"\x00\x00\x00\x08\x04\xd2\x16\x2f");
        assert_eq!(s, Step::Error(ParseError::NotHttp));
        let mut r = StreamParser::new(false, DEFAULT_MAX_HEAD);
        assert_eq!(r.feed(b"HTTP/1.").1, Step::More, "a prefix is no error");
        let mut r = StreamParser::new(false, DEFAULT_MAX_HEAD);
        assert_eq!(r.feed(b"R\x00\x00\x00").1, Step::Error(ParseError::NotHttp));
        let mut q = StreamParser::new(true, DEFAULT_MAX_HEAD);
        assert_eq!(q.feed(b"PROPFIND /d").1, Step::More);
    }

    #[test]
    fn gap_in_a_length_body_keeps_the_message() {
        let mut p = StreamParser::new(false, DEFAULT_MAX_HEAD);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        assert_eq!(run(&mut p, head), vec![]);
        assert_eq!(
            p.feed(&[0u8; 10]).1,
            Step::Body {
                start: 0,
                end: 10,
                done: false
            }
        );
        assert_eq!(p.gap(50), GapEffect::InBody { done: false });
        assert_eq!(
            p.feed(&[0u8; 40]).1,
            Step::Body {
                start: 0,
                end: 40,
                done: true
            }
        );
        assert_eq!(p.msg_bytes(), head.len() as u64 + 100);
    }
}
