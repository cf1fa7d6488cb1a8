//! Pure parsing of PostgreSQL frontend/backend protocol messages (v3).
//!
//! Reference: the PostgreSQL documentation, chapter "Frontend/Backend
//! Protocol" (<https://www.postgresql.org/docs/current/protocol.html>),
//! sections "Message Formats" (55.7) and "Error and Notice Message Fields"
//! (55.8). After the startup phase every message is a one-byte type, an
//! Int32 length that counts itself but not the type, and a body. The very
//! first message of a connection (StartupMessage, SSLRequest,
//! GSSENCRequest, CancelRequest) has no type byte: an Int32 length, then
//! an Int32 request code. The answer to SSLRequest / GSSENCRequest is one
//! unframed byte (`S`, `G` or `N`). All integers are big-endian.
//!
//! This module frames one message at a time ([`tagged_header`],
//! [`startup_header`]; `More` is distinct from `Error`) and reads the
//! bodies the decoder uses. Every function takes a byte slice and never
//! panics; a body that is too short gives `None` or a shorter result. Not
//! here: pairing requests with responses, the statement cache, connection
//! state (that is [`super::session`]).

/// Bytes of a tagged message header: type byte and Int32 length.
pub const HEADER_LEN: usize = 5;
/// Bytes of an untagged startup header: Int32 length and Int32 code.
pub const STARTUP_HEADER_LEN: usize = 8;
/// Largest startup packet the server accepts (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_LEN: u32 = 10_000;
/// Largest message length taken as real (the server's own limit for a
/// message is 1 GiB, `PQ_LARGE_MESSAGE_LIMIT`).
pub const MAX_MESSAGE_LEN: u32 = 1 << 30;

/// Request codes of untagged startup packets.
pub mod code {
    /// StartupMessage, protocol 3.0 (major 3 in the high 16 bits).
    pub const PROTOCOL_3: u32 = 3 << 16;
    /// CancelRequest (1234 << 16 | 5678).
    pub const CANCEL: u32 = 80_877_102;
    /// SSLRequest (1234 << 16 | 5679).
    pub const SSL: u32 = 80_877_103;
    /// GSSENCRequest (1234 << 16 | 5680).
    pub const GSSENC: u32 = 80_877_104;
}

/// Frontend (client) message types.
pub mod fe {
    /// Bind
    pub const BIND: u8 = b'B';
    /// Close (statement or portal)
    pub const CLOSE: u8 = b'C';
    /// CopyData
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone
    pub const COPY_DONE: u8 = b'c';
    /// CopyFail
    pub const COPY_FAIL: u8 = b'f';
    /// Describe (statement or portal)
    pub const DESCRIBE: u8 = b'D';
    /// Execute
    pub const EXECUTE: u8 = b'E';
    /// Flush
    pub const FLUSH: u8 = b'H';
    /// FunctionCall
    pub const FUNCTION_CALL: u8 = b'F';
    /// Parse
    pub const PARSE: u8 = b'P';
    /// PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse
    pub const PASSWORD: u8 = b'p';
    /// Query (simple query protocol)
    pub const QUERY: u8 = b'Q';
    /// Sync
    pub const SYNC: u8 = b'S';
    /// Terminate
    pub const TERMINATE: u8 = b'X';
}

/// Backend (server) message types.
pub mod be {
    /// Authentication* (Ok, CleartextPassword, MD5Password, SASL, ...)
    pub const AUTHENTICATION: u8 = b'R';
    /// BackendKeyData
    pub const BACKEND_KEY_DATA: u8 = b'K';
    /// BindComplete
    pub const BIND_COMPLETE: u8 = b'2';
    /// CloseComplete
    pub const CLOSE_COMPLETE: u8 = b'3';
    /// CommandComplete
    pub const COMMAND_COMPLETE: u8 = b'C';
    /// CopyData
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone
    pub const COPY_DONE: u8 = b'c';
    /// CopyInResponse
    pub const COPY_IN_RESPONSE: u8 = b'G';
    /// CopyOutResponse
    pub const COPY_OUT_RESPONSE: u8 = b'H';
    /// CopyBothResponse (replication)
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    /// DataRow
    pub const DATA_ROW: u8 = b'D';
    /// EmptyQueryResponse
    pub const EMPTY_QUERY: u8 = b'I';
    /// ErrorResponse
    pub const ERROR: u8 = b'E';
    /// FunctionCallResponse
    pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
    /// NegotiateProtocolVersion
    pub const NEGOTIATE_VERSION: u8 = b'v';
    /// NoData
    pub const NO_DATA: u8 = b'n';
    /// NoticeResponse
    pub const NOTICE: u8 = b'N';
    /// NotificationResponse (LISTEN/NOTIFY)
    pub const NOTIFICATION: u8 = b'A';
    /// ParameterDescription
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    /// ParameterStatus
    pub const PARAMETER_STATUS: u8 = b'S';
    /// ParseComplete
    pub const PARSE_COMPLETE: u8 = b'1';
    /// PortalSuspended
    pub const PORTAL_SUSPENDED: u8 = b's';
    /// ReadyForQuery
    pub const READY_FOR_QUERY: u8 = b'Z';
    /// RowDescription
    pub const ROW_DESCRIPTION: u8 = b'T';
}

/// True for a type byte a client sends after startup.
pub fn is_frontend_type(t: u8) -> bool {
    matches!(
        t,
        b'B' | b'C'
            | b'd'
            | b'c'
            | b'f'
            | b'D'
            | b'E'
            | b'H'
            | b'F'
            | b'P'
            | b'p'
            | b'Q'
            | b'S'
            | b'X'
    )
}

/// True for a type byte a server sends.
pub fn is_backend_type(t: u8) -> bool {
    matches!(
        t,
        b'R' | b'K'
            | b'2'
            | b'3'
            | b'C'
            | b'd'
            | b'c'
            | b'G'
            | b'H'
            | b'W'
            | b'D'
            | b'I'
            | b'E'
            | b'V'
            | b'v'
            | b'n'
            | b'N'
            | b'A'
            | b't'
            | b'S'
            | b'1'
            | b's'
            | b'Z'
    )
}

/// Why bytes cannot be a message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The length field is smaller than itself (or than a startup header).
    #[error("message length shorter than its own header")]
    LengthTooSmall,
    /// The length is beyond what a server accepts.
    #[error("message length beyond the protocol limit")]
    LengthTooLarge,
}

/// One framed message: type byte (0 for an untagged startup packet), the
/// number of header bytes before the body, and the body length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The type byte; 0 for an untagged startup packet.
    pub tag: u8,
    /// Bytes before the body: 5 for tagged messages, 4 for startup packets
    /// (whose body starts with the request code).
    pub header_len: u8,
    /// Body bytes after the header.
    pub body_len: u32,
}

impl Header {
    /// Header plus body bytes.
    pub fn total(self) -> usize {
        usize::from(self.header_len) + self.body_len as usize
    }
}

/// The result of framing the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A header was read (the body may still be incomplete).
    Msg(Header),
    /// Too few bytes for a header: a prefix, never an error.
    More,
    /// Not a message header.
    Error(ParseError),
}

fn be_u32(b: &[u8]) -> Option<u32> {
    let a = b.get(..4)?;
    Some(u32::from_be_bytes([a[0], a[1], a[2], a[3]]))
}

fn be_u16(b: &[u8]) -> Option<u16> {
    let a = b.get(..2)?;
    Some(u16::from_be_bytes([a[0], a[1]]))
}

/// Frames a tagged message at the start of `b`: type, Int32 length
/// (counting itself). The type byte is not checked here.
pub fn tagged_header(b: &[u8]) -> Head {
    let (Some(&tag), Some(len)) = (b.first(), b.get(1..).and_then(be_u32)) else {
        return Head::More;
    };
    if len < 4 {
        return Head::Error(ParseError::LengthTooSmall);
    }
    if len > MAX_MESSAGE_LEN {
        return Head::Error(ParseError::LengthTooLarge);
    }
    Head::Msg(Header {
        tag,
        header_len: 5,
        body_len: len - 4,
    })
}

/// Frames an untagged startup packet at the start of `b`: Int32 length
/// (counting itself), then at least the Int32 request code.
pub fn startup_header(b: &[u8]) -> Head {
    let Some(len) = be_u32(b) else {
        return Head::More;
    };
    if len < STARTUP_HEADER_LEN as u32 {
        return Head::Error(ParseError::LengthTooSmall);
    }
    if len > MAX_STARTUP_LEN {
        return Head::Error(ParseError::LengthTooLarge);
    }
    Head::Msg(Header {
        tag: 0,
        header_len: 4,
        body_len: len - 4,
    })
}

/// True when `b` starts like an untagged startup packet: a sane length
/// and a known request code (or protocol major version 3). Used to tell
/// a connection's first client bytes from a mid-stream pickup.
pub fn looks_like_startup(b: &[u8]) -> bool {
    let (Some(len), Some(c)) = (be_u32(b), b.get(4..).and_then(be_u32)) else {
        return false;
    };
    let len_ok = (STARTUP_HEADER_LEN as u32..=MAX_STARTUP_LEN).contains(&len);
    len_ok
        && match c {
            code::SSL | code::GSSENC => len == 8,
            code::CANCEL => (16..=264).contains(&len),
            _ => c >> 16 == 3,
        }
}

/// A NUL-terminated string at the start of `b`: the string and the rest
/// after the NUL; `None` without a NUL.
pub fn cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(0, b)?;
    Some((b.get(..end)?, b.get(end + 1..)?))
}

/// The text of a NUL-terminated string, or all of `b` when the NUL is
/// missing (a body cut short because only its prefix was buffered).
pub fn cstr_or_all(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(end) => b.get(..end).unwrap_or(b),
        None => b,
    }
}

/// An untagged first packet of a connection (its body: code and the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup<'a> {
    /// StartupMessage: protocol version and `name NUL value NUL` pairs.
    Message {
        /// Major protocol version (3).
        major: u16,
        /// Minor protocol version (0, or 2 for PostgreSQL 18's 3.2).
        minor: u16,
        /// The parameter pairs, read with [`startup_params`].
        params: &'a [u8],
    },
    /// SSLRequest: the server answers one byte, `S` or `N`.
    Ssl,
    /// GSSENCRequest: the server answers one byte, `G` or `N`.
    GssEnc,
    /// CancelRequest, sent on a new connection; no answer.
    Cancel {
        /// The backend process id to cancel.
        process_id: u32,
        /// The secret key (4 bytes up to protocol 3.1, up to 256 in 3.2).
        key: &'a [u8],
    },
    /// An unknown request code.
    Unknown(u32),
}

/// Parses the body of an untagged startup packet (after its length).
pub fn parse_startup(body: &[u8]) -> Option<Startup<'_>> {
    let c = be_u32(body)?;
    let rest = body.get(4..)?;
    Some(match c {
        code::SSL => Startup::Ssl,
        code::GSSENC => Startup::GssEnc,
        code::CANCEL => Startup::Cancel {
            process_id: be_u32(rest)?,
            key: rest.get(4..)?,
        },
        _ if c >> 16 == 3 => Startup::Message {
            major: (c >> 16) as u16,
            minor: c as u16,
            params: rest,
        },
        _ => Startup::Unknown(c),
    })
}

/// The `name, value` pairs of a StartupMessage, up to the terminating
/// empty name or the first malformed pair.
pub fn startup_params(p: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = p;
    std::iter::from_fn(move || {
        let (name, r) = cstr(rest)?;
        if name.is_empty() {
            return None;
        }
        let (value, r) = cstr(r)?;
        rest = r;
        Some((name, value))
    })
}

/// A Parse message: statement name, query text, parameter type count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseMsg<'a> {
    /// Prepared statement name ("" is the unnamed statement).
    pub name: &'a [u8],
    /// The query text (cut at the end of the buffered prefix when the
    /// message is longer than what was buffered).
    pub query: &'a [u8],
}

/// Parses a Parse body: `name NUL query NUL Int16 n, n x Int32 oid`.
pub fn parse_parse(body: &[u8]) -> Option<ParseMsg<'_>> {
    let (name, rest) = cstr(body)?;
    Some(ParseMsg {
        name,
        query: cstr_or_all(rest),
    })
}

/// A Bind message's names (parameter values are not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindMsg<'a> {
    /// Destination portal ("" is the unnamed portal).
    pub portal: &'a [u8],
    /// Source prepared statement.
    pub statement: &'a [u8],
}

/// Parses the start of a Bind body: `portal NUL statement NUL ...`.
pub fn parse_bind(body: &[u8]) -> Option<BindMsg<'_>> {
    let (portal, rest) = cstr(body)?;
    let (statement, _) = cstr(rest)?;
    Some(BindMsg { portal, statement })
}

/// Parses a Describe or Close body: `'S'|'P'` then a name. Returns the
/// kind byte and the name.
pub fn parse_target(body: &[u8]) -> Option<(u8, &[u8])> {
    let (&kind, rest) = body.split_first()?;
    if kind != b'S' && kind != b'P' {
        return None;
    }
    Some((kind, cstr(rest)?.0))
}

/// Parses an Execute body: `portal NUL Int32 max_rows` (0 = no limit).
pub fn parse_execute(body: &[u8]) -> Option<(&[u8], u32)> {
    let (portal, rest) = cstr(body)?;
    Some((portal, be_u32(rest)?))
}

/// The fields of an ErrorResponse or NoticeResponse the decoder keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields<'a> {
    /// `V` (never localised, 9.6+), else `S`: ERROR, FATAL, PANIC,
    /// WARNING, NOTICE, DEBUG, INFO, LOG.
    pub severity: &'a [u8],
    /// `C`: the SQLSTATE code, e.g. `23505`.
    pub code: &'a [u8],
    /// `M`: the primary message.
    pub message: &'a [u8],
}

/// Parses ErrorResponse / NoticeResponse fields: repeated `type-byte
/// string NUL`, ended by a zero type byte. Unknown field types are
/// skipped, as the protocol asks.
pub fn parse_fields(body: &[u8]) -> Fields<'_> {
    let mut f = Fields::default();
    let mut localised: &[u8] = &[];
    let mut rest = body;
    while let Some((&t, r)) = rest.split_first() {
        if t == 0 {
            break;
        }
        let Some((v, r)) = cstr(r) else {
            // Cut short: keep what the prefix holds.
            let v = r;
            match t {
                b'M' => f.message = v,
                b'C' => f.code = v,
                _ => {}
            }
            break;
        };
        match t {
            b'V' => f.severity = v,
            b'S' => localised = v,
            b'C' => f.code = v,
            b'M' => f.message = v,
            _ => {}
        }
        rest = r;
    }
    if f.severity.is_empty() {
        f.severity = localised;
    }
    f
}

/// The field count of a RowDescription body (Int16, then the fields).
pub fn row_description_count(body: &[u8]) -> Option<u16> {
    be_u16(body)
}

/// The column names of a RowDescription body (for `send_response`):
/// per field `name NUL` and 18 bytes of table oid, column number, type
/// oid, size, modifier, format.
pub fn row_description_names(body: &[u8], out: &mut Vec<String>, max: usize) {
    let Some(n) = be_u16(body) else { return };
    let mut rest = body.get(2..).unwrap_or(&[]);
    for _ in 0..n {
        if out.len() >= max {
            return;
        }
        let Some((name, r)) = cstr(rest) else { return };
        out.push(String::from_utf8_lossy(name).into_owned());
        rest = r.get(18..).unwrap_or(&[]);
    }
}

/// Decodes a DataRow body (`Int16 n`, then per column `Int32 len` (-1 for
/// NULL) and the bytes) into text, keeping at most `max_len` bytes in
/// total (Packetbeat's `max_row_length`). Stops at a short column.
pub fn data_row(body: &[u8], max_len: usize, out: &mut Vec<String>) {
    let Some(n) = be_u16(body) else { return };
    let mut rest = body.get(2..).unwrap_or(&[]);
    let mut used = 0usize;
    for _ in 0..n {
        let Some(len) = be_u32(rest) else { return };
        rest = rest.get(4..).unwrap_or(&[]);
        let v: &[u8] = if len == u32::MAX {
            b"NULL"
        } else {
            let l = len as usize;
            let Some(v) = rest.get(..l) else { return };
            rest = rest.get(l..).unwrap_or(&[]);
            v
        };
        if used < max_len {
            let keep = v.len().min(max_len - used);
            out.push(String::from_utf8_lossy(v.get(..keep).unwrap_or(v)).into_owned());
            used += keep;
        }
    }
}

/// A CommandComplete tag: the command word and its row count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandTag<'a> {
    /// The command: `SELECT`, `INSERT`, `UPDATE`, `CREATE TABLE`, ...
    pub command: &'a [u8],
    /// The last number of the tag: rows returned (`SELECT n`, `FETCH n`,
    /// `MOVE n`) or affected (`INSERT oid n`, `UPDATE n`, `DELETE n`,
    /// `MERGE n`, `COPY n`); `None` for tags without one.
    pub rows: Option<u64>,
}

impl CommandTag<'_> {
    /// True when the count is of rows changed, not returned.
    pub fn affects_rows(&self) -> bool {
        matches!(self.command, b"INSERT" | b"UPDATE" | b"DELETE" | b"MERGE")
    }

    /// True for `COPY n`: rows copied in or out.
    pub fn is_copy(&self) -> bool {
        self.command == b"COPY"
    }
}

/// Parses a CommandComplete body (`tag NUL`).
pub fn parse_command_tag(body: &[u8]) -> CommandTag<'_> {
    // Tags are a few bytes (`SELECT 1`): plain loops, not the vector
    // searches' set-up per call.
    let tag = match body.iter().position(|&b| b == 0) {
        Some(end) => body.get(..end).unwrap_or(body),
        None => body,
    };
    let (head, last) = match tag.iter().rposition(|&b| b == b' ') {
        Some(i) => (tag.get(..i).unwrap_or(&[]), tag.get(i + 1..).unwrap_or(&[])),
        None => (tag, &[][..]),
    };
    let rows = if !last.is_empty() && last.len() <= 20 && last.iter().all(u8::is_ascii_digit) {
        // What `str::parse::<u64>` gives: None past u64::MAX.
        last.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    } else {
        None
    };
    if rows.is_none() {
        return CommandTag { command: tag, rows };
    }
    // "INSERT oid rows": the command is the first word.
    let command = match head.iter().position(|&b| b == b' ') {
        Some(i) if head.starts_with(b"INSERT") => head.get(..i).unwrap_or(head),
        _ => head,
    };
    CommandTag { command, rows }
}

/// The transaction status of a ReadyForQuery body: `I` idle, `T` in a
/// transaction block, `E` in a failed transaction block.
pub fn ready_status(body: &[u8]) -> Option<u8> {
    body.first()
        .copied()
        .filter(|s| matches!(s, b'I' | b'T' | b'E'))
}

/// Parses a ParameterStatus body: `name NUL value NUL`.
pub fn parse_parameter_status(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, rest) = cstr(body)?;
    Some((name, cstr(rest)?.0))
}

/// The request code of an Authentication message (0 = AuthenticationOk,
/// 3 cleartext, 5 MD5, 7 GSS, 9 SSPI, 10 SASL, 11 SASLContinue, 12
/// SASLFinal).
pub fn auth_code(body: &[u8]) -> Option<u32> {
    be_u32(body)
}

/// Parses a BackendKeyData body: process id and secret key.
pub fn parse_backend_key(body: &[u8]) -> Option<(u32, &[u8])> {
    Some((be_u32(body)?, body.get(4..)?))
}

/// True when the bytes at the start of `b` (with the message framed by
/// `h`) could be the first message a client sends in a query cycle; used
/// to find sync after a gap. Lengths must fit the type; a Query or Parse
/// must start with text.
pub fn plausible_frontend(h: Header, body: &[u8]) -> bool {
    let n = h.body_len;
    match h.tag {
        fe::QUERY => {
            n >= 2
                && body
                    .first()
                    .is_none_or(|&c| c.is_ascii_graphic() || c.is_ascii_whitespace())
        }
        fe::PARSE => n >= 4,
        fe::BIND => n >= 8,
        fe::EXECUTE => n >= 5,
        fe::DESCRIBE | fe::CLOSE => n >= 2 && body.first().is_none_or(|&k| k == b'S' || k == b'P'),
        fe::SYNC | fe::FLUSH | fe::TERMINATE | fe::COPY_DONE => n == 0,
        fe::COPY_DATA | fe::COPY_FAIL => true,
        fe::FUNCTION_CALL => n >= 10,
        _ => false,
    }
}

/// The backend counterpart of [`plausible_frontend`].
pub fn plausible_backend(h: Header, body: &[u8]) -> bool {
    let n = h.body_len;
    match h.tag {
        be::READY_FOR_QUERY => {
            n == 1
                && body
                    .first()
                    .is_none_or(|&s| matches!(s, b'I' | b'T' | b'E'))
        }
        be::PARSE_COMPLETE
        | be::BIND_COMPLETE
        | be::CLOSE_COMPLETE
        | be::NO_DATA
        | be::EMPTY_QUERY
        | be::PORTAL_SUSPENDED
        | be::COPY_DONE => n == 0,
        be::DATA_ROW | be::ROW_DESCRIPTION | be::PARAMETER_DESCRIPTION => n >= 2,
        be::COMMAND_COMPLETE => n >= 2 && body.first().is_none_or(u8::is_ascii_uppercase),
        be::ERROR | be::NOTICE => n >= 2 && body.first().is_none_or(u8::is_ascii_uppercase),
        be::AUTHENTICATION | be::BACKEND_KEY_DATA => n >= 4,
        be::PARAMETER_STATUS | be::NOTIFICATION | be::NEGOTIATE_VERSION => n >= 2,
        be::COPY_DATA | be::FUNCTION_CALL_RESPONSE => true,
        be::COPY_IN_RESPONSE | be::COPY_OUT_RESPONSE | be::COPY_BOTH_RESPONSE => n >= 3,
        _ => false,
    }
}

/// Links of a message chain that are enough to trust a resync point.
const CHAIN_ENOUGH: u32 = 16;

/// True when a chain of plausible messages (frontend ones when `client`)
/// starts at `off` in `b` and runs to its end (the last one may be
/// incomplete), with at least two links, or one that ends exactly at the
/// end of `b`.
pub fn chain_at(b: &[u8], off: usize, client: bool) -> bool {
    let mut pos = off;
    let mut links = 0u32;
    loop {
        let rest = b.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return links >= 1;
        }
        let Head::Msg(h) = tagged_header(rest) else {
            // A partial header at the very end (More) or garbage.
            return links >= 2 && rest.len() < HEADER_LEN;
        };
        let body = rest.get(HEADER_LEN..).unwrap_or(&[]);
        let ok = if client {
            plausible_frontend(h, body)
        } else {
            plausible_backend(h, body)
        };
        if !ok {
            return false;
        }
        if h.total() > rest.len() {
            // Incomplete: trusted after a link, or for a long Query whose
            // first 16 bytes are text.
            return links >= 1
                || (client
                    && h.tag == fe::QUERY
                    && body.len() >= 16
                    && body
                        .get(..16)
                        .is_some_and(|t| t.iter().all(|c| c.is_ascii_graphic() || *c == b' ')));
        }
        links += 1;
        if links >= CHAIN_ENOUGH {
            return true;
        }
        pos += h.total();
    }
}
