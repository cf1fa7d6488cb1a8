//! Incremental, zero-copy scanner for RESP2 and RESP3.
//!
//! Reference: the Redis serialization protocol specification
//! (<https://redis.io/docs/latest/develop/reference/protocol-spec/>).
//! [`RespParser::feed`] walks whatever bytes arrived and reports every
//! value as [`Token`]s to a [`Visitor`]: aggregate headers and their ends,
//! scalar lines, bulk strings as chunks of the input (never copied, never
//! buffered: a 500 MB value costs nothing), inline commands, and the end
//! of each top-level message with its size in bytes. The parser keeps only
//! a stack of element counts and a partial line (bounded by
//! [`MAX_LINE`]); input may be split anywhere. It does not interpret
//! commands or pair replies with requests (see [`super::session`]), and
//! it rejects RESP3 streamed strings/aggregates (`$?`, `*?`), which no
//! Redis server sends.
//!
//! Why not the `redis-protocol` crate: its slice decoders (`decode`,
//! `decode_range`) are stateless, so an incomplete frame is parsed again
//! from the start on every segment and a large bulk string must be
//! buffered whole before anything is returned; it also pulls in `nom`,
//! `bytes` and `cookie-factory`. A sniffer needs the opposite: constant
//! memory per connection and each byte looked at once.

use thiserror::Error;

/// Longest line (simple string, error, number, inline command) kept.
pub const MAX_LINE: usize = 64 * 1024;
/// Deepest nesting of aggregates accepted.
pub const MAX_DEPTH: usize = 64;

/// The RESP type of a value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `+` simple string.
    Simple,
    /// `-` simple error.
    Error,
    /// `:` integer.
    Integer,
    /// `$` bulk string.
    Bulk,
    /// `*` array.
    Array,
    /// `_` null (RESP3).
    Null,
    /// `#` boolean (RESP3).
    Boolean,
    /// `,` double (RESP3).
    Double,
    /// `(` big number (RESP3).
    BigNumber,
    /// `!` bulk error (RESP3).
    BulkError,
    /// `=` verbatim string (RESP3).
    Verbatim,
    /// `%` map (RESP3).
    Map,
    /// `~` set (RESP3).
    Set,
    /// `|` attribute (RESP3): metadata preceding the real value.
    Attribute,
    /// `>` push (RESP3): out-of-band data such as pub/sub messages.
    Push,
}

impl Kind {
    /// The type of a first byte, `None` when it is not a RESP type.
    pub fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            b'+' => Kind::Simple,
            b'-' => Kind::Error,
            b':' => Kind::Integer,
            b'$' => Kind::Bulk,
            b'*' => Kind::Array,
            b'_' => Kind::Null,
            b'#' => Kind::Boolean,
            b',' => Kind::Double,
            b'(' => Kind::BigNumber,
            b'!' => Kind::BulkError,
            b'=' => Kind::Verbatim,
            b'%' => Kind::Map,
            b'~' => Kind::Set,
            b'|' => Kind::Attribute,
            b'>' => Kind::Push,
            _ => return None,
        })
    }

    /// Aggregates hold other values.
    pub fn is_aggregate(self) -> bool {
        matches!(
            self,
            Kind::Array | Kind::Map | Kind::Set | Kind::Attribute | Kind::Push
        )
    }

    /// Bulk-style values: a length line, then that many bytes.
    pub fn is_bulk(self) -> bool {
        matches!(self, Kind::Bulk | Kind::BulkError | Kind::Verbatim)
    }
}

/// One piece of a RESP value, borrowed from the input (or from the
/// parser's partial-line buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// An aggregate header; `len` is the element count as written (`-1`
    /// for a RESP2 null array; maps and attributes hold `2 * len` values).
    Aggregate {
        /// The aggregate type.
        kind: Kind,
        /// Count as written.
        len: i64,
    },
    /// The aggregate opened last is complete.
    AggregateEnd,
    /// A one-line value (`+ - : _ # , (`); `text` is the line after the type byte.
    Line {
        /// The value type.
        kind: Kind,
        /// The text without the type byte and CRLF.
        text: &'a [u8],
    },
    /// A bulk value starts (`len == -1`: RESP2 null bulk string, no chunks follow).
    BulkStart {
        /// `Bulk`, `BulkError` or `Verbatim`.
        kind: Kind,
        /// Length as written.
        len: i64,
    },
    /// Bytes of the current bulk value (possibly one of several chunks).
    BulkChunk(&'a [u8]),
    /// The current bulk value is complete.
    BulkEnd,
    /// An inline command (request side), the whole line without CR/LF.
    Inline(&'a [u8]),
    /// The top-level message is complete; `bytes` is its size on the wire.
    End {
        /// Bytes of the message.
        bytes: u64,
    },
}

/// Receives tokens.
pub trait Visitor {
    /// One token; return `false` to make [`RespParser::feed`] stop right
    /// after it (for example after an [`Token::End`]).
    fn token(&mut self, t: Token<'_>) -> bool;
}

/// Why the bytes are not RESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RespError {
    /// A value starts with a byte that is no RESP type (and inline commands
    /// are not allowed here).
    #[error("byte {0:#04x} does not start a RESP value")]
    BadType(u8),
    /// A length or count is not a number (or negative other than `-1`).
    #[error("invalid length or count")]
    BadLength,
    /// A length or count is a number beyond what Redis allows (bulk
    /// strings are at most 512 MB; aggregates far below 2^32 elements).
    #[error("length or count too large")]
    TooLarge,
    /// A line is longer than [`MAX_LINE`].
    #[error("line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    #[error("aggregates nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A bulk value is not followed by CRLF.
    #[error("bulk value not terminated by CRLF")]
    BadBulkEnd,
    /// RESP3 streamed strings and aggregates are not supported.
    #[error("streamed RESP3 values are not supported")]
    Streamed,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    left: u64,
    attribute: bool,
}

/// Scanner state of one direction.
#[derive(Debug, Default, Clone)]
pub struct RespParser {
    stack: Vec<Frame>,
    /// Bulk payload bytes left, then the CRLF (`crlf_left`).
    bulk_left: u64,
    crlf_left: u8,
    in_bulk: bool,
    line: Vec<u8>,
    /// Inline commands are accepted at the top level (request side).
    allow_inline: bool,
    msg_bytes: u64,
    error_at: usize,
}

impl RespParser {
    /// A parser for requests (`inline = true`) or replies.
    pub fn new(inline: bool) -> Self {
        RespParser {
            allow_inline: inline,
            ..Default::default()
        }
    }

    /// Bytes of the top-level message in progress so far.
    pub fn pending_bytes(&self) -> u64 {
        self.msg_bytes
    }

    /// True between messages (nothing partial buffered or pending).
    pub fn at_boundary(&self) -> bool {
        self.stack.is_empty() && !self.in_bulk && self.line.is_empty()
    }

    /// Forgets any partial message (after a gap or an error).
    pub fn reset(&mut self) {
        self.stack.clear();
        self.in_bulk = false;
        self.bulk_left = 0;
        self.crlf_left = 0;
        self.line.clear();
        self.msg_bytes = 0;
    }

    /// Parses as much of `input` as possible, reporting tokens to `v`.
    /// Returns the bytes consumed: all of them unless `v` asked to stop.
    /// After an error the parser must be [`reset`](Self::reset).
    pub fn feed(&mut self, input: &[u8], v: &mut impl Visitor) -> Result<usize, RespError> {
        let mut pos = 0;
        let res = self.feed_at(input, v, &mut pos);
        if res.is_err() {
            self.error_at = pos.max(1).min(input.len());
        }
        res
    }

    /// After [`RespParser::feed`] failed: how many bytes of its input were
    /// consumed, the bad line included (at least one), so that a resync
    /// scan starts past it and never finds the same start again.
    pub fn error_at(&self) -> usize {
        self.error_at
    }

    fn feed_at(
        &mut self,
        input: &[u8],
        v: &mut impl Visitor,
        pos: &mut usize,
    ) -> Result<usize, RespError> {
        while *pos < input.len() {
            if self.in_bulk {
                let rest = input.get(*pos..).unwrap_or(&[]);
                if self.bulk_left > 0 {
                    let n = (self.bulk_left.min(rest.len() as u64)) as usize;
                    let chunk = rest.get(..n).unwrap_or(&[]);
                    *pos += n;
                    self.msg_bytes += n as u64;
                    self.bulk_left -= n as u64;
                    if !v.token(Token::BulkChunk(chunk)) {
                        return Ok(*pos);
                    }
                    continue;
                }
                // CRLF after the payload.
                let want = if self.crlf_left == 2 { b'\r' } else { b'\n' };
                if rest.first() != Some(&want) {
                    return Err(RespError::BadBulkEnd);
                }
                *pos += 1;
                self.msg_bytes += 1;
                self.crlf_left -= 1;
                if self.crlf_left == 0 {
                    self.in_bulk = false;
                    let go = v.token(Token::BulkEnd);
                    let go = self.element_done(v) && go;
                    if !go {
                        return Ok(*pos);
                    }
                }
                continue;
            }
            // A line: find its end.
            let rest = input.get(*pos..).unwrap_or(&[]);
            let Some(nl) = rest.iter().position(|&c| c == b'\n') else {
                if self.line.len() + rest.len() > MAX_LINE {
                    return Err(RespError::LineTooLong);
                }
                if self.line.is_empty() && self.stack.is_empty() {
                    // Fail early on garbage rather than buffering it.
                    if let Some(&b) = rest.first() {
                        if Kind::from_byte(b).is_none() && !self.allow_inline {
                            return Err(RespError::BadType(b));
                        }
                    }
                }
                self.line.extend_from_slice(rest);
                self.msg_bytes += rest.len() as u64;
                return Ok(input.len());
            };
            *pos += nl + 1;
            self.msg_bytes += (nl + 1) as u64;
            let line_buf;
            let mut line: &[u8] = rest.get(..nl).unwrap_or(&[]);
            if !self.line.is_empty() {
                if self.line.len() + line.len() > MAX_LINE {
                    return Err(RespError::LineTooLong);
                }
                self.line.extend_from_slice(line);
                line_buf = std::mem::take(&mut self.line);
                line = &line_buf;
            }
            if let Some((&b'\r', head)) = line.split_last() {
                line = head;
            }
            if !self.line_done(line, v)? {
                return Ok(*pos);
            }
        }
        Ok(*pos)
    }

    /// Handles one complete line (without CRLF); returns whether to go on.
    fn line_done(&mut self, line: &[u8], v: &mut impl Visitor) -> Result<bool, RespError> {
        let Some((&first, text)) = line.split_first() else {
            if self.stack.is_empty() && self.allow_inline {
                // Empty lines between inline commands are ignored.
                self.msg_bytes = 0;
                return Ok(true);
            }
            return Err(RespError::BadLength);
        };
        let Some(kind) = Kind::from_byte(first) else {
            if self.stack.is_empty() && self.allow_inline {
                let go = v.token(Token::Inline(line));
                let bytes = std::mem::take(&mut self.msg_bytes);
                return Ok(v.token(Token::End { bytes }) && go);
            }
            return Err(RespError::BadType(first));
        };
        if kind.is_aggregate() {
            let len = parse_len(text)?;
            if self.stack.len() >= MAX_DEPTH {
                return Err(RespError::TooDeep);
            }
            let go = v.token(Token::Aggregate { kind, len });
            let n = match kind {
                Kind::Map | Kind::Attribute => (len.max(0) as u64).saturating_mul(2),
                _ => len.max(0) as u64,
            };
            if n == 0 {
                let go = v.token(Token::AggregateEnd) && go;
                if kind == Kind::Attribute {
                    return Ok(go);
                }
                return Ok(self.element_done(v) && go);
            }
            self.stack.push(Frame {
                left: n,
                attribute: kind == Kind::Attribute,
            });
            return Ok(go);
        }
        if kind.is_bulk() {
            let len = parse_len(text)?;
            let go = v.token(Token::BulkStart { kind, len });
            if len < 0 {
                return Ok(self.element_done(v) && go);
            }
            self.in_bulk = true;
            self.bulk_left = len as u64;
            self.crlf_left = 2;
            return Ok(go);
        }
        let go = v.token(Token::Line { kind, text });
        Ok(self.element_done(v) && go)
    }

    /// One value is complete: close finished aggregates, end the message
    /// at the top level. Returns whether to go on.
    fn element_done(&mut self, v: &mut impl Visitor) -> bool {
        let mut go = true;
        loop {
            let Some(top) = self.stack.last_mut() else {
                let bytes = std::mem::take(&mut self.msg_bytes);
                return v.token(Token::End { bytes }) && go;
            };
            top.left -= 1;
            if top.left > 0 {
                return go;
            }
            let attribute = top.attribute;
            self.stack.pop();
            go = v.token(Token::AggregateEnd) && go;
            if attribute {
                // An attribute annotates the next value; it is not one.
                return go;
            }
        }
    }
}

/// Parses a length/count line: `-1` or a non-negative number.
fn parse_len(text: &[u8]) -> Result<i64, RespError> {
    if text == b"?" {
        return Err(RespError::Streamed);
    }
    if text == b"-1" {
        return Ok(-1);
    }
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(RespError::BadLength);
    }
    if text.len() > 18 {
        return Err(RespError::TooLarge);
    }
    let mut n: i64 = 0;
    for &c in text {
        n = n * 10 + i64::from(c - b'0');
    }
    // Redis caps bulk strings at 512 MB and aggregates far below 2^32.
    if n > 1 << 32 {
        return Err(RespError::TooLarge);
    }
    Ok(n)
}

/// Offset in `b` where a request can start after a gap: an array header
/// (`*<n>\r\n$`) at the start of `b` or right after a LF.
pub fn find_request_start(b: &[u8]) -> Option<usize> {
    (0..b.len()).find(|&i| {
        (i == 0 || b.get(i - 1) == Some(&b'\n')) && looks_like_request(b.get(i..).unwrap_or(&[]))
    })
}

fn looks_like_request(b: &[u8]) -> bool {
    let Some(rest) = b.strip_prefix(b"*") else {
        return false;
    };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 6 {
        return false;
    }
    let after = rest.get(digits..).unwrap_or(&[]);
    after.starts_with(b"\r\n$") || (after.len() < 3 && b"\r\n$".starts_with(after))
}

/// Offset in `b` where a reply can start after a gap: a type byte at the
/// start of `b` or after a LF, followed by a plausible line.
pub fn find_reply_start(b: &[u8]) -> Option<usize> {
    (0..b.len()).find(|&i| {
        (i == 0 || b.get(i - 1) == Some(&b'\n')) && looks_like_reply(b.get(i..).unwrap_or(&[]))
    })
}

fn looks_like_reply(b: &[u8]) -> bool {
    let Some((&first, rest)) = b.split_first() else {
        return false;
    };
    let Some(kind) = Kind::from_byte(first) else {
        return false;
    };
    // Only the start of a line is examined, so a scan stays linear.
    let head = rest.get(..rest.len().min(512)).unwrap_or(rest);
    let Some(end) = head.iter().position(|&c| c == b'\r') else {
        return false;
    };
    if rest.get(end + 1) != Some(&b'\n') {
        return false;
    }
    let text = rest.get(..end).unwrap_or(&[]);
    if kind.is_aggregate() || kind.is_bulk() {
        parse_len(text).is_ok()
    } else {
        match kind {
            Kind::Integer => {
                !text.is_empty()
                    && text
                        .iter()
                        .enumerate()
                        .all(|(i, c)| c.is_ascii_digit() || (i == 0 && *c == b'-'))
            }
            Kind::Null => text.is_empty(),
            Kind::Boolean => text == b"t" || text == b"f",
            _ => text.iter().all(|c| !c.is_ascii_control()),
        }
    }
}
