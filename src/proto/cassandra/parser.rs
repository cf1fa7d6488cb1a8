//! The CQL native protocol's wire format, v1 to v5 (Apache Cassandra's
//! `doc/native_protocol_v3.spec`, `_v4.spec`, `_v5.spec`): pure functions
//! over byte slices.
//!
//! - Frames: a header (`version` with the direction bit, `flags`,
//!   `stream`, `opcode`, `length`; 9 bytes from v3 on, 8 before) and a
//!   body of `length` bytes ([`header`]). [`find_start`] finds the next
//!   plausible header after lost bytes (a header that is followed by
//!   another, or by the end of the data).
//! - v5 segments ([`segment`]): after the STARTUP handshake of a v5
//!   connection frames travel inside CRC-protected segments, 6-byte header
//!   (17-bit payload length, self-contained bit, CRC24) or 8-byte header
//!   with LZ4 (compressed and uncompressed lengths); a CRC32 trailer.
//! - v4 frame body compression: LZ4 with a 4-byte big-endian
//!   uncompressed-length prefix, or raw Snappy ([`decompress`]).
//! - Bodies: [`Rd`], a bounds-checked reader of the spec's notations, and
//!   the parsers of each message this decoder reports ([`request`],
//!   [`response`]). Every read is bounded by the slice; a body cut short
//!   (a frame larger than the decoder buffers) yields what it holds.

/// Frame header length, v3 and later.
pub const HEADER_LEN: usize = 9;
/// Frame header length, v1 and v2.
pub const HEADER_LEN_V2: usize = 8;
/// The spec's bound on a frame body (256 MiB).
pub const MAX_BODY: u32 = 256 << 20;

/// Opcodes.
pub mod op {
    /// ERROR (response).
    pub const ERROR: u8 = 0x00;
    /// STARTUP (request).
    pub const STARTUP: u8 = 0x01;
    /// READY (response).
    pub const READY: u8 = 0x02;
    /// AUTHENTICATE (response).
    pub const AUTHENTICATE: u8 = 0x03;
    /// OPTIONS (request).
    pub const OPTIONS: u8 = 0x05;
    /// SUPPORTED (response).
    pub const SUPPORTED: u8 = 0x06;
    /// QUERY (request).
    pub const QUERY: u8 = 0x07;
    /// RESULT (response).
    pub const RESULT: u8 = 0x08;
    /// PREPARE (request).
    pub const PREPARE: u8 = 0x09;
    /// EXECUTE (request).
    pub const EXECUTE: u8 = 0x0A;
    /// REGISTER (request).
    pub const REGISTER: u8 = 0x0B;
    /// EVENT (server push).
    pub const EVENT: u8 = 0x0C;
    /// BATCH (request).
    pub const BATCH: u8 = 0x0D;
    /// AUTH_CHALLENGE (response).
    pub const AUTH_CHALLENGE: u8 = 0x0E;
    /// AUTH_RESPONSE (request).
    pub const AUTH_RESPONSE: u8 = 0x0F;
    /// AUTH_SUCCESS (response).
    pub const AUTH_SUCCESS: u8 = 0x10;
}

/// Frame flags.
pub mod flag {
    /// The body is compressed.
    pub const COMPRESS: u8 = 0x01;
    /// Tracing requested; a response carries a tracing id first.
    pub const TRACING: u8 = 0x02;
    /// A custom payload ([bytes map]) precedes the message.
    pub const CUSTOM_PAYLOAD: u8 = 0x04;
    /// A response carries warnings ([string list]).
    pub const WARNING: u8 = 0x08;
    /// v5: the client opts in to a beta protocol version.
    pub const USE_BETA: u8 = 0x10;
}

/// The opcode's name (Packetbeat's `headers.op`).
pub fn op_name(op: u8) -> &'static str {
    match op {
        op::ERROR => "ERROR",
        op::STARTUP => "STARTUP",
        op::READY => "READY",
        op::AUTHENTICATE => "AUTHENTICATE",
        op::OPTIONS => "OPTIONS",
        op::SUPPORTED => "SUPPORTED",
        op::QUERY => "QUERY",
        op::RESULT => "RESULT",
        op::PREPARE => "PREPARE",
        op::EXECUTE => "EXECUTE",
        op::REGISTER => "REGISTER",
        op::EVENT => "EVENT",
        op::BATCH => "BATCH",
        op::AUTH_CHALLENGE => "AUTH_CHALLENGE",
        op::AUTH_RESPONSE => "AUTH_RESPONSE",
        op::AUTH_SUCCESS => "AUTH_SUCCESS",
        _ => "UNKNOWN",
    }
}

/// The opcode named `name` (case-insensitive), for `ignored_ops`.
pub fn op_by_name(name: &str) -> Option<u8> {
    (0u8..=0x10).find(|&o| o != 4 && op_name(o).eq_ignore_ascii_case(name.trim()))
}

/// Whether a client sends `op`.
pub fn is_request_op(o: u8) -> bool {
    matches!(
        o,
        op::STARTUP
            | op::OPTIONS
            | op::QUERY
            | op::PREPARE
            | op::EXECUTE
            | op::REGISTER
            | op::BATCH
            | op::AUTH_RESPONSE
    )
}

/// Whether a server sends `op`.
pub fn is_response_op(o: u8) -> bool {
    matches!(
        o,
        op::ERROR
            | op::READY
            | op::AUTHENTICATE
            | op::SUPPORTED
            | op::RESULT
            | op::EVENT
            | op::AUTH_CHALLENGE
            | op::AUTH_SUCCESS
    )
}

/// The header flags as Packetbeat names them (`Default`, `Compress`,
/// `Tracing`, `CustomPayload`, `Warning`); several flags are joined by `|`.
pub fn flags_name(f: u8) -> &'static str {
    const NAMES: [&str; 32] = [
        "Default",
        "Compress",
        "Tracing",
        "Compress|Tracing",
        "CustomPayload",
        "Compress|CustomPayload",
        "Tracing|CustomPayload",
        "Compress|Tracing|CustomPayload",
        "Warning",
        "Compress|Warning",
        "Tracing|Warning",
        "Compress|Tracing|Warning",
        "CustomPayload|Warning",
        "Compress|CustomPayload|Warning",
        "Tracing|CustomPayload|Warning",
        "Compress|Tracing|CustomPayload|Warning",
        "UseBeta",
        "Compress|UseBeta",
        "Tracing|UseBeta",
        "Compress|Tracing|UseBeta",
        "CustomPayload|UseBeta",
        "Compress|CustomPayload|UseBeta",
        "Tracing|CustomPayload|UseBeta",
        "Compress|Tracing|CustomPayload|UseBeta",
        "Warning|UseBeta",
        "Compress|Warning|UseBeta",
        "Tracing|Warning|UseBeta",
        "Compress|Tracing|Warning|UseBeta",
        "CustomPayload|Warning|UseBeta",
        "Compress|CustomPayload|Warning|UseBeta",
        "Tracing|CustomPayload|Warning|UseBeta",
        "Compress|Tracing|CustomPayload|Warning|UseBeta",
    ];
    NAMES.get(usize::from(f)).copied().unwrap_or("Unknown")
}

/// The version byte's protocol version as text (`headers.version` is a
/// string in Packetbeat).
pub fn version_name(v: u8) -> &'static str {
    match v {
        1 => "1",
        2 => "2",
        3 => "3",
        4 => "4",
        5 => "5",
        _ => "unknown",
    }
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version (1 to 5), without the direction bit.
    pub version: u8,
    /// The direction bit: a response.
    pub response: bool,
    /// Frame flags.
    pub flags: u8,
    /// Stream id (negative: server-initiated, EVENT is -1).
    pub stream: i16,
    /// Opcode.
    pub opcode: u8,
    /// Body length.
    pub length: u32,
    /// 9, or 8 for v1/v2.
    pub header_len: u8,
}

impl Header {
    /// Header plus body, on the wire.
    pub fn total(&self) -> u64 {
        u64::from(self.header_len) + u64::from(self.length)
    }
}

/// Result of [`header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A plausible header.
    Frame(Header),
    /// Fewer bytes than a header.
    More,
    /// Not a header of this direction: why.
    Error(&'static str),
}

/// Reads the frame header at the start of `b`, sent by the client
/// (`response == false`) or the server.
pub fn header(b: &[u8], response: bool) -> Head {
    let Some(&v) = b.first() else {
        return Head::More;
    };
    let version = v & 0x7f;
    if !(1..=5).contains(&version) {
        return Head::Error("unsupported protocol version");
    }
    if (v & 0x80 != 0) != response {
        return Head::Error("wrong direction bit");
    }
    let hl = if version >= 3 {
        HEADER_LEN
    } else {
        HEADER_LEN_V2
    };
    if b.len() < hl {
        return Head::More;
    }
    let flags = b[1];
    let (stream, opcode, len_at) = if version >= 3 {
        (i16::from_be_bytes([b[2], b[3]]), b[4], 5)
    } else {
        (i16::from(b[2] as i8), b[3], 4)
    };
    let ok_op = if response {
        is_response_op(opcode)
    } else {
        is_request_op(opcode)
    };
    if !ok_op {
        return Head::Error("unknown opcode for this direction");
    }
    if flags & 0xe0 != 0 {
        return Head::Error("reserved flags set");
    }
    let length = u32::from_be_bytes([b[len_at], b[len_at + 1], b[len_at + 2], b[len_at + 3]]);
    if length > MAX_BODY {
        return Head::Error("frame longer than 256 MiB");
    }
    Head::Frame(Header {
        version,
        response,
        flags,
        stream,
        opcode,
        length,
        header_len: hl as u8,
    })
}

/// Whether a frame can start at `off` of `b`: a header of this direction
/// (of protocol `version` when known) whose frame is followed by another
/// header, or by the end of `b` (needs a whole header).
pub fn chain_at(b: &[u8], off: usize, response: bool, version: Option<u8>) -> bool {
    let Some(rest) = b.get(off..) else {
        return false;
    };
    let h = match header(rest, response) {
        Head::Frame(h) if version.is_none_or(|v| v == h.version) => h,
        _ => return false,
    };
    let next = h.total() as usize;
    match rest.get(next..) {
        None | Some([]) => true,
        Some(after) => match header(after, response) {
            Head::Frame(h2) => h2.version == h.version,
            Head::More => true,
            Head::Error(_) => false,
        },
    }
}

/// The first offset of `b` where a frame can start ([`chain_at`]).
pub fn find_start(b: &[u8], response: bool, version: Option<u8>) -> Option<usize> {
    (0..b.len()).find(|&off| {
        let v = b[off] & 0x7f;
        (1..=5).contains(&v) && chain_at(b, off, response, version)
    })
}

// ------------------------------------------------------------ v5 segments

/// CRC24 of a v5 segment header (Cassandra's `Crc.crc24`: init 0x875060,
/// polynomial 0x1974F0B, bytes least significant first).
pub fn crc24(bytes: &[u8]) -> u32 {
    let mut crc: u32 = 0x87_5060;
    for &b in bytes {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x100_0000 != 0 {
                crc ^= 0x197_4F0B;
            }
        }
    }
    crc & 0xff_ffff
}

/// CRC32 of a v5 segment payload: the standard CRC32 seeded with the four
/// bytes Cassandra's `Crc.crc32` starts with.
pub fn crc32(payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[0xFA, 0x2D, 0x55, 0xCA]);
    h.update(payload);
    h.finalize()
}

/// v5 segment header lengths.
pub const SEGMENT_HEADER: usize = 6;
/// With LZ4.
pub const SEGMENT_HEADER_LZ4: usize = 8;
/// The CRC32 trailer.
pub const SEGMENT_TRAILER: usize = 4;

/// One v5 segment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Payload bytes on the wire.
    pub payload_len: usize,
    /// LZ4: the payload's uncompressed length (0: stored uncompressed).
    pub uncompressed_len: usize,
    /// The payload holds whole frames only.
    pub self_contained: bool,
    /// 6, or 8 with LZ4.
    pub header_len: usize,
}

impl Segment {
    /// Header, payload and trailer.
    pub fn total(&self) -> usize {
        self.header_len + self.payload_len + SEGMENT_TRAILER
    }
}

/// Result of [`segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg {
    /// A header whose CRC24 matches.
    Header(Segment),
    /// Fewer bytes than a header.
    More,
    /// The CRC24 does not match.
    Error,
}

/// Reads a v5 segment header (LZ4-compressed segments when `lz4`).
pub fn segment(b: &[u8], lz4: bool) -> Seg {
    let hl = if lz4 {
        SEGMENT_HEADER_LZ4
    } else {
        SEGMENT_HEADER
    };
    if b.len() < hl {
        return Seg::More;
    }
    let mut raw = [0u8; 8];
    raw[..hl].copy_from_slice(&b[..hl]);
    let v = u64::from_le_bytes(raw);
    let content = hl - 3;
    let crc = ((v >> (8 * content)) & 0xff_ffff) as u32;
    if crc24(&b[..content]) != crc {
        return Seg::Error;
    }
    let (payload_len, uncompressed_len, self_contained) = if lz4 {
        (
            (v & 0x1ffff) as usize,
            ((v >> 17) & 0x1ffff) as usize,
            v & (1 << 34) != 0,
        )
    } else {
        ((v & 0x1ffff) as usize, 0, v & (1 << 17) != 0)
    };
    Seg::Header(Segment {
        payload_len,
        uncompressed_len,
        self_contained,
        header_len: hl,
    })
}

/// The first offset of `b` where a v5 segment header with a matching
/// CRC24 starts, whose CRC32 matches too when the segment is whole.
pub fn find_segment(b: &[u8], lz4: bool) -> Option<usize> {
    (0..b.len()).find(|&off| match segment(&b[off..], lz4) {
        Seg::Header(s) => match b.get(off + s.header_len..off + s.total()) {
            Some(rest) => {
                let (payload, trailer) = rest.split_at(s.payload_len);
                crc32(payload).to_le_bytes() == trailer
            }
            None => true,
        },
        _ => false,
    })
}

/// Like [`find_segment`], for bytes not known to be segments at all: the
/// segment must be whole with its CRC32 right, or (uncompressed and
/// self-contained) begin with a v5 frame header of this direction.
pub fn find_segment_strict(b: &[u8], lz4: bool, response: bool) -> Option<usize> {
    (0..b.len()).find(|&off| match segment(&b[off..], lz4) {
        Seg::Header(s) if s.payload_len > 0 => {
            let at = off + s.header_len;
            match b.get(at..off + s.total()) {
                Some(rest) => {
                    let (payload, trailer) = rest.split_at(s.payload_len);
                    crc32(payload).to_le_bytes() == trailer
                }
                None => {
                    !lz4 && s.self_contained
                        && matches!(header(&b[at..], response), Head::Frame(h) if h.version == 5)
                }
            }
        }
        _ => false,
    })
}

// ------------------------------------------------------------ compression

/// Frame body compression (v3/v4 frames; v5 compresses segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// LZ4 block with a 4-byte big-endian uncompressed length first.
    Lz4,
    /// Raw Snappy.
    Snappy,
}

impl Compression {
    /// The STARTUP `COMPRESSION` option value (case-insensitive).
    pub fn from_name(s: &[u8]) -> Option<Compression> {
        if s.eq_ignore_ascii_case(b"lz4") {
            Some(Compression::Lz4)
        } else if s.eq_ignore_ascii_case(b"snappy") {
            Some(Compression::Snappy)
        } else {
            None
        }
    }

    /// `lz4` or `snappy`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
        }
    }
}

/// Why a body could not be decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecompressError {
    /// It would be larger than the bound.
    TooLarge,
    /// Not valid data of the algorithm.
    Corrupt,
}

/// Decompresses a frame body into `out` (cleared first), at most `max`
/// bytes; the decompressed size is read from the data before anything is
/// allocated.
pub fn decompress(
    c: Compression,
    body: &[u8],
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecompressError> {
    out.clear();
    match c {
        Compression::Lz4 => {
            let (len, block) = match body {
                [a, b, c, d, rest @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]) as usize, rest),
                _ => return Err(DecompressError::Corrupt),
            };
            lz4_block(block, len, max, out)
        }
        Compression::Snappy => {
            let len = snap::raw::decompress_len(body).map_err(|_| DecompressError::Corrupt)?;
            if len > max {
                return Err(DecompressError::TooLarge);
            }
            out.resize(len, 0);
            match snap::raw::Decoder::new().decompress(body, out) {
                Ok(n) => {
                    out.truncate(n);
                    Ok(())
                }
                Err(_) => {
                    out.clear();
                    Err(DecompressError::Corrupt)
                }
            }
        }
    }
}

/// An LZ4 block of `len` decompressed bytes into `out` (appended).
pub fn lz4_block(
    block: &[u8],
    len: usize,
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecompressError> {
    if len > max {
        return Err(DecompressError::TooLarge);
    }
    let at = out.len();
    out.resize(at + len, 0);
    match lz4_flex::block::decompress_into(block, &mut out[at..]) {
        Ok(n) if n == len => Ok(()),
        _ => {
            out.truncate(at);
            Err(DecompressError::Corrupt)
        }
    }
}

// ------------------------------------------------------------ body reader

/// A bounds-checked reader of the spec's notations (section 3). Every read
/// returns `None` past the end of the slice.
#[derive(Debug, Clone, Copy)]
pub struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Rd<'a> {
    /// A reader at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Rd { b, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.b.get(self.pos..).unwrap_or(&[])
    }

    /// `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    /// [byte]
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }

    /// [short]
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_be_bytes([s[0], s[1]]))
    }

    /// [int]
    pub fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// [string]
    pub fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// [long string]; a negative length is an error.
    pub fn long_string(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.i32()?).ok()?;
        self.take(n)
    }

    /// [long string] cut to what the slice holds (a body read from its
    /// first bytes): the bytes there are, and the declared length.
    pub fn long_string_prefix(&mut self) -> Option<(&'a [u8], usize)> {
        let n = usize::try_from(self.i32()?).ok()?;
        let avail = self.rest();
        let s = &avail[..n.min(avail.len())];
        self.pos += s.len();
        Some((s, n))
    }

    /// [short bytes]
    pub fn short_bytes(&mut self) -> Option<&'a [u8]> {
        self.string()
    }

    /// [bytes] / [value]: `Some(None)` for null (and v4's "not set").
    pub fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(None);
        }
        self.take(n as usize).map(Some)
    }

    /// [uuid]
    pub fn uuid(&mut self) -> Option<&'a [u8]> {
        self.take(16)
    }

    /// [string list]: calls `f` on each string.
    pub fn string_list(&mut self, mut f: impl FnMut(&'a [u8])) -> Option<()> {
        let n = self.u16()?;
        for _ in 0..n {
            f(self.string()?);
        }
        Some(())
    }

    /// [string map]: calls `f` on each pair.
    pub fn string_map(&mut self, mut f: impl FnMut(&'a [u8], &'a [u8])) -> Option<()> {
        let n = self.u16()?;
        for _ in 0..n {
            let k = self.string()?;
            let v = self.string()?;
            f(k, v);
        }
        Some(())
    }

    /// [bytes map]: skipped.
    pub fn skip_bytes_map(&mut self) -> Option<()> {
        let n = self.u16()?;
        for _ in 0..n {
            self.string()?;
            self.bytes()?;
        }
        Some(())
    }

    /// [inet]: the address and port.
    pub fn inet(&mut self) -> Option<(std::net::IpAddr, i32)> {
        let n = self.u8()?;
        let ip = self.inetaddr_of(n)?;
        Some((ip, self.i32()?))
    }

    /// [inetaddr]
    pub fn inetaddr(&mut self) -> Option<std::net::IpAddr> {
        let n = self.u8()?;
        self.inetaddr_of(n)
    }

    fn inetaddr_of(&mut self, n: u8) -> Option<std::net::IpAddr> {
        match n {
            4 => {
                let a = self.take(4)?;
                Some(std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).into())
            }
            16 => {
                let a: [u8; 16] = self.take(16)?.try_into().ok()?;
                Some(std::net::Ipv6Addr::from(a).into())
            }
            _ => None,
        }
    }

    /// A column type [option] (with its nested types), skipped; nesting
    /// deeper than 32 is an error.
    pub fn skip_type(&mut self, depth: u8) -> Option<()> {
        if depth > 32 {
            return None;
        }
        match self.u16()? {
            0x0000 => {
                self.string()?;
            }
            0x0020 | 0x0022 => self.skip_type(depth + 1)?,
            0x0021 => {
                self.skip_type(depth + 1)?;
                self.skip_type(depth + 1)?;
            }
            0x0030 => {
                self.string()?;
                self.string()?;
                let n = self.u16()?;
                for _ in 0..n {
                    self.string()?;
                    self.skip_type(depth + 1)?;
                }
            }
            0x0031 => {
                let n = self.u16()?;
                for _ in 0..n {
                    self.skip_type(depth + 1)?;
                }
            }
            _ => {}
        }
        Some(())
    }
}

/// A consistency level's name.
pub fn consistency_name(c: u16) -> &'static str {
    match c {
        0x0000 => "ANY",
        0x0001 => "ONE",
        0x0002 => "TWO",
        0x0003 => "THREE",
        0x0004 => "QUORUM",
        0x0005 => "ALL",
        0x0006 => "LOCAL_QUORUM",
        0x0007 => "EACH_QUORUM",
        0x0008 => "SERIAL",
        0x0009 => "LOCAL_SERIAL",
        0x000A => "LOCAL_ONE",
        _ => "UNKNOWN",
    }
}

/// An error code's type name (Packetbeat's `error.type`).
pub fn error_type(code: i32) -> &'static str {
    match code {
        0x0000 => "errServer",
        0x000A => "errProtocol",
        0x0100 => "errCredentials",
        0x1000 => "errUnavailable",
        0x1001 => "errOverloaded",
        0x1002 => "errBootstrapping",
        0x1003 => "errTruncate",
        0x1100 => "errWriteTimeout",
        0x1200 => "errReadTimeout",
        0x1300 => "errReadFailure",
        0x1400 => "errFunctionFailure",
        0x1500 => "errWriteFailure",
        0x1600 => "errCDCWriteFailure",
        0x1700 => "errCASWriteUnknown",
        0x2000 => "errSyntax",
        0x2100 => "errUnauthorized",
        0x2200 => "errInvalid",
        0x2300 => "errConfig",
        0x2400 => "errAlreadyExists",
        0x2500 => "errUnprepared",
        _ => "ErrUnknown",
    }
}

// ------------------------------------------------------------ bodies

/// What precedes a message in a body (section 4 of the v5 spec): tracing
/// id (responses), warnings (responses), custom payload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prelude<'a> {
    /// The tracing id of a traced response.
    pub trace_id: Option<&'a [u8]>,
    /// The [string list] of warnings, raw (read with [`Rd::string_list`]).
    pub warnings: Option<&'a [u8]>,
}

/// Reads the prelude a frame's flags announce; returns it and the reader
/// at the message.
pub fn prelude<'a>(h: &Header, body: &'a [u8]) -> Option<(Prelude<'a>, Rd<'a>)> {
    let mut r = Rd::new(body);
    let mut p = Prelude::default();
    if h.response && h.flags & flag::TRACING != 0 {
        p.trace_id = Some(r.uuid()?);
    }
    if h.response && h.flags & flag::WARNING != 0 {
        let before = r.rest();
        r.string_list(|_| {})?;
        p.warnings = Some(&before[..before.len() - r.rest().len()]);
    }
    if h.flags & flag::CUSTOM_PAYLOAD != 0 {
        r.skip_bytes_map()?;
    }
    Some((p, r))
}

/// A batch's kind.
pub fn batch_type(t: u8) -> &'static str {
    match t {
        0 => "LOGGED",
        1 => "UNLOGGED",
        2 => "COUNTER",
        _ => "UNKNOWN",
    }
}

/// One statement of a BATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchItem<'a> {
    /// A query string.
    Query(&'a [u8]),
    /// A prepared statement's id.
    Prepared(&'a [u8]),
}

/// A request's message, as far as this decoder reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// QUERY or PREPARE: the statement (cut to the body held) and its
    /// declared length.
    Statement(&'a [u8], usize),
    /// EXECUTE: the prepared id.
    Execute(&'a [u8]),
    /// BATCH: type and statement count; the items are read with
    /// [`batch_items`].
    Batch {
        /// LOGGED, UNLOGGED, COUNTER.
        kind: u8,
        /// Statements.
        count: u16,
    },
    /// STARTUP: the COMPRESSION option, if any.
    Startup {
        /// The option's value.
        compression: Option<&'a [u8]>,
        /// CQL_VERSION.
        cql_version: Option<&'a [u8]>,
    },
    /// Anything else, or a body that did not parse.
    Other,
}

/// Parses a request body (after its prelude).
pub fn request<'a>(h: &Header, mut r: Rd<'a>) -> Request<'a> {
    let parsed = match h.opcode {
        op::QUERY | op::PREPARE => r
            .long_string_prefix()
            .map(|(s, n)| Request::Statement(s, n)),
        op::EXECUTE => r.short_bytes().map(Request::Execute),
        op::BATCH => (|| {
            let kind = r.u8()?;
            let count = r.u16()?;
            Some(Request::Batch { kind, count })
        })(),
        op::STARTUP => {
            let (mut compression, mut cql_version) = (None, None);
            r.string_map(|k, v| {
                if k.eq_ignore_ascii_case(b"COMPRESSION") {
                    compression = Some(v);
                } else if k.eq_ignore_ascii_case(b"CQL_VERSION") {
                    cql_version = Some(v);
                }
            })
            .map(|_| Request::Startup {
                compression,
                cql_version,
            })
        }
        _ => None,
    };
    parsed.unwrap_or(Request::Other)
}

/// Calls `f` on each statement of a BATCH body (after its prelude), at
/// most `max`; stops early at a body cut short.
pub fn batch_items<'a>(h: &Header, mut r: Rd<'a>, max: usize, mut f: impl FnMut(BatchItem<'a>)) {
    let _ = (|| {
        r.u8()?;
        let n = r.u16()?;
        for _ in 0..usize::from(n).min(max) {
            let item = match r.u8()? {
                0 => BatchItem::Query(r.long_string()?),
                1 => BatchItem::Prepared(r.short_bytes()?),
                _ => return None,
            };
            f(item);
            if h.version >= 2 {
                let values = r.u16()?;
                for _ in 0..values {
                    r.bytes()?;
                }
            }
        }
        Some(())
    })();
}

/// Result metadata (rows, and both metadata of a prepared result).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meta<'a> {
    /// The flags int.
    pub flags: i32,
    /// Columns.
    pub col_count: i32,
    /// Prepared metadata (v4+): the partition key column indexes, count.
    pub pkey_count: Option<i32>,
    /// The paging state (HasMorePages).
    pub paging_state: Option<&'a [u8]>,
    /// Global table spec: keyspace.
    pub keyspace: Option<&'a [u8]>,
    /// Global table spec: table.
    pub table: Option<&'a [u8]>,
}

/// Rows metadata flags.
pub mod rows_flag {
    /// One keyspace and table for all columns.
    pub const GLOBAL_TABLES_SPEC: i32 = 0x01;
    /// A paging state follows.
    pub const HAS_MORE_PAGES: i32 = 0x02;
    /// No column specs.
    pub const NO_METADATA: i32 = 0x04;
    /// v5: a new result metadata id follows.
    pub const METADATA_CHANGED: i32 = 0x08;
}

/// The rows flags as Packetbeat names them (joined by `|`).
pub fn rows_flags_name(f: i32) -> &'static str {
    const NAMES: [&str; 16] = [
        "None",
        "GlobalTableSpec",
        "HasMorePages",
        "GlobalTableSpec|HasMorePages",
        "NoMetaData",
        "GlobalTableSpec|NoMetaData",
        "HasMorePages|NoMetaData",
        "GlobalTableSpec|HasMorePages|NoMetaData",
        "MetadataChanged",
        "GlobalTableSpec|MetadataChanged",
        "HasMorePages|MetadataChanged",
        "GlobalTableSpec|HasMorePages|MetadataChanged",
        "NoMetaData|MetadataChanged",
        "GlobalTableSpec|NoMetaData|MetadataChanged",
        "HasMorePages|NoMetaData|MetadataChanged",
        "GlobalTableSpec|HasMorePages|NoMetaData|MetadataChanged",
    ];
    usize::try_from(f)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("Unknown")
}

/// Reads result metadata (section 4.2.5.2), column specs skipped;
/// `prepared` for the prepared-statement variant (partition key indexes).
pub fn metadata<'a>(r: &mut Rd<'a>, version: u8, prepared: bool) -> Option<Meta<'a>> {
    let mut m = Meta {
        flags: r.i32()?,
        col_count: r.i32()?,
        ..Meta::default()
    };
    if prepared && version >= 4 {
        let n = r.i32()?;
        m.pkey_count = Some(n);
        r.take(usize::try_from(n).ok()?.checked_mul(2)?)?;
    }
    if !prepared && m.flags & rows_flag::HAS_MORE_PAGES != 0 {
        m.paging_state = r.bytes()?;
    }
    if !prepared && version >= 5 && m.flags & rows_flag::METADATA_CHANGED != 0 {
        r.short_bytes()?;
    }
    if m.flags & rows_flag::NO_METADATA != 0 {
        return Some(m);
    }
    let global = m.flags & rows_flag::GLOBAL_TABLES_SPEC != 0;
    if global {
        m.keyspace = Some(r.string()?);
        m.table = Some(r.string()?);
    }
    for _ in 0..m.col_count.max(0) {
        if !global {
            r.string()?;
            r.string()?;
        }
        r.string()?;
        r.skip_type(0)?;
    }
    Some(m)
}

/// A schema change (RESULT kind 5 and SCHEMA_CHANGE events).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchemaChange<'a> {
    /// CREATED, UPDATED, DROPPED.
    pub change: &'a [u8],
    /// KEYSPACE, TABLE, TYPE, FUNCTION, AGGREGATE (v3+).
    pub target: Option<&'a [u8]>,
    /// The keyspace.
    pub keyspace: &'a [u8],
    /// v1/v2: the table (empty for a keyspace change).
    pub table: Option<&'a [u8]>,
    /// TABLE and TYPE: the object's name.
    pub object: Option<&'a [u8]>,
    /// FUNCTION and AGGREGATE: the name.
    pub name: Option<&'a [u8]>,
    /// FUNCTION and AGGREGATE: the argument types, raw [string list].
    pub args: Option<&'a [u8]>,
}

/// Reads a schema change.
pub fn schema_change<'a>(r: &mut Rd<'a>, version: u8) -> Option<SchemaChange<'a>> {
    let change = r.string()?;
    if version < 3 {
        let keyspace = r.string()?;
        let table = r.string()?;
        return Some(SchemaChange {
            change,
            keyspace,
            table: Some(table),
            ..SchemaChange::default()
        });
    }
    let target = r.string()?;
    let mut s = SchemaChange {
        change,
        target: Some(target),
        keyspace: r.string()?,
        ..SchemaChange::default()
    };
    match target {
        b"TABLE" | b"TYPE" => s.object = Some(r.string()?),
        b"FUNCTION" | b"AGGREGATE" => {
            s.name = Some(r.string()?);
            let before = r.rest();
            r.string_list(|_| {})?;
            s.args = Some(&before[..before.len() - r.rest().len()]);
        }
        _ => {}
    }
    Some(s)
}

/// A RESULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CqlResult<'a> {
    /// Kind 1.
    Void,
    /// Kind 2: metadata (None when cut short) and row count.
    Rows(Option<Meta<'a>>, Option<i32>),
    /// Kind 3: the keyspace.
    SetKeyspace(&'a [u8]),
    /// Kind 4: id, request and result metadata.
    Prepared {
        /// The prepared id.
        id: &'a [u8],
        /// Bound variables' metadata.
        req: Option<Meta<'a>>,
        /// The result set's metadata.
        resp: Option<Meta<'a>>,
    },
    /// Kind 5.
    SchemaChange(Option<SchemaChange<'a>>),
    /// Another kind, or no kind at all.
    Unknown(i32),
}

/// The result kind's name (Packetbeat's `result.type`).
pub fn result_type(r: &CqlResult<'_>) -> &'static str {
    match r {
        CqlResult::Void => "void",
        CqlResult::Rows(..) => "rows",
        CqlResult::SetKeyspace(_) => "set_keyspace",
        CqlResult::Prepared { .. } => "prepared",
        CqlResult::SchemaChange(_) => "schemaChanged",
        CqlResult::Unknown(_) => "unknown",
    }
}

/// Parses a RESULT body (after its prelude).
pub fn result<'a>(version: u8, mut r: Rd<'a>) -> CqlResult<'a> {
    let Some(kind) = r.i32() else {
        return CqlResult::Unknown(-1);
    };
    match kind {
        1 => CqlResult::Void,
        2 => {
            let m = metadata(&mut r, version, false);
            let rows = m.and_then(|_| r.i32());
            CqlResult::Rows(m, rows)
        }
        3 => r
            .string()
            .map_or(CqlResult::Unknown(kind), CqlResult::SetKeyspace),
        4 => {
            let Some(id) = r.short_bytes() else {
                return CqlResult::Unknown(kind);
            };
            if version >= 5 && r.short_bytes().is_none() {
                return CqlResult::Prepared {
                    id,
                    req: None,
                    resp: None,
                };
            }
            let req = metadata(&mut r, version, true);
            let resp = if version >= 2 && req.is_some() {
                metadata(&mut r, version, false)
            } else {
                None
            };
            CqlResult::Prepared { id, req, resp }
        }
        5 => CqlResult::SchemaChange(schema_change(&mut r, version)),
        k => CqlResult::Unknown(k),
    }
}

/// The details some error codes carry (section 8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorDetails<'a> {
    /// Consistency level of the failed query.
    pub consistency: Option<u16>,
    /// Unavailable: nodes required.
    pub required: Option<i32>,
    /// Unavailable: nodes alive.
    pub alive: Option<i32>,
    /// Timeouts and failures: acknowledgements received.
    pub received: Option<i32>,
    /// Timeouts and failures: acknowledgements required.
    pub blockfor: Option<i32>,
    /// Failures: replicas that failed.
    pub num_failures: Option<i32>,
    /// Write timeouts and failures: SIMPLE, BATCH, ...
    pub write_type: Option<&'a [u8]>,
    /// Read timeouts and failures: the data replica answered.
    pub data_present: Option<bool>,
    /// Already exists, function failure: keyspace.
    pub keyspace: Option<&'a [u8]>,
    /// Already exists: table.
    pub table: Option<&'a [u8]>,
    /// Unprepared: the statement id.
    pub stmt_id: Option<&'a [u8]>,
    /// Function failure: function.
    pub function: Option<&'a [u8]>,
    /// Function failure: argument types, raw [string list].
    pub arg_types: Option<&'a [u8]>,
}

/// An ERROR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Error<'a> {
    /// The error code.
    pub code: i32,
    /// The message.
    pub msg: &'a [u8],
    /// Details, by code.
    pub details: ErrorDetails<'a>,
}

/// Parses an ERROR body (after its prelude); `None` when not even code
/// and message are there.
pub fn error<'a>(version: u8, mut r: Rd<'a>) -> Option<Error<'a>> {
    let code = r.i32()?;
    let msg = r.string()?;
    let mut d = ErrorDetails::default();
    // Details are best effort: a short body keeps what was read.
    let _ = (|| {
        match code {
            0x1000 => {
                d.consistency = Some(r.u16()?);
                d.required = Some(r.i32()?);
                d.alive = Some(r.i32()?);
            }
            0x1100 | 0x1200 | 0x1300 | 0x1500 | 0x1600 | 0x1700 => {
                d.consistency = Some(r.u16()?);
                d.received = Some(r.i32()?);
                d.blockfor = Some(r.i32()?);
                if matches!(code, 0x1300 | 0x1500) {
                    if version >= 5 {
                        // The reason map: <n> pairs of [inetaddr] [short].
                        let n = r.i32()?;
                        d.num_failures = Some(n);
                        for _ in 0..n.max(0) {
                            r.inetaddr()?;
                            r.u16()?;
                        }
                    } else {
                        d.num_failures = Some(r.i32()?);
                    }
                }
                match code {
                    0x1100 | 0x1500 => d.write_type = Some(r.string()?),
                    0x1200 | 0x1300 => d.data_present = Some(r.u8()? != 0),
                    _ => {}
                }
            }
            0x1400 => {
                d.keyspace = Some(r.string()?);
                d.function = Some(r.string()?);
                let before = r.rest();
                r.string_list(|_| {})?;
                d.arg_types = Some(&before[..before.len() - r.rest().len()]);
            }
            0x2400 => {
                d.keyspace = Some(r.string()?);
                d.table = Some(r.string()?);
            }
            0x2500 => d.stmt_id = Some(r.short_bytes()?),
            _ => {}
        }
        Some(())
    })();
    Some(Error {
        code,
        msg,
        details: d,
    })
}

/// An EVENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// TOPOLOGY_CHANGE or STATUS_CHANGE.
    Node {
        /// The event type.
        kind: &'a [u8],
        /// NEW_NODE, REMOVED_NODE, MOVED_NODE, UP, DOWN.
        change: &'a [u8],
        /// The node.
        addr: std::net::IpAddr,
        /// Its port.
        port: i32,
    },
    /// SCHEMA_CHANGE.
    Schema(SchemaChange<'a>),
    /// Another type (or a body that did not parse).
    Other(&'a [u8]),
}

/// Parses an EVENT body (after its prelude).
pub fn event<'a>(version: u8, mut r: Rd<'a>) -> Option<Event<'a>> {
    let kind = r.string()?;
    match kind {
        b"TOPOLOGY_CHANGE" | b"STATUS_CHANGE" => {
            let change = r.string()?;
            let (addr, port) = r.inet()?;
            Some(Event::Node {
                kind,
                change,
                addr,
                port,
            })
        }
        b"SCHEMA_CHANGE" => schema_change(&mut r, version).map(Event::Schema),
        _ => Some(Event::Other(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_parses_and_its_prefixes_are_more() {
        let h = b"\x04\x00\x00\x14\x07\x00\x00\x00\x7c";
        let Head::Frame(f) = header(h, false) else {
            panic!()
        };
        assert_eq!((f.version, f.stream, f.opcode, f.length), (4, 20, 7, 124));
        for n in 0..h.len() {
            assert_eq!(header(&h[..n], false), Head::More, "{n}");
        }
        // The same bytes as a response: wrong direction.
        assert!(matches!(header(h, true), Head::Error(_)));
        // A request opcode from the server, a version 6, a 300 MB frame.
        assert!(matches!(
            header(b"\x84\x00\x00\x00\x07\0\0\0\0", true),
            Head::Error(_)
        ));
        assert!(matches!(
            header(b"\x06\x00\x00\x00\x07\0\0\0\0", false),
            Head::Error(_)
        ));
        assert!(matches!(
            header(b"\x04\x00\x00\x00\x07\x12\0\0\0", false),
            Head::Error(_)
        ));
        // v2: 8 bytes, a one-byte stream id.
        let Head::Frame(f) = header(b"\x82\x00\xff\x0c\0\0\0\x05", true) else {
            panic!()
        };
        assert_eq!((f.header_len, f.stream, f.opcode), (8, -1, op::EVENT));
    }

    #[test]
    fn resync_finds_a_chain_of_headers() {
        let mut b = b"garbage!".to_vec();
        b.extend_from_slice(b"\x04\x00\x00\x01\x05\0\0\0\0");
        b.extend_from_slice(b"\x04\x00\x00\x02\x05\0\0\0\0");
        assert_eq!(find_start(&b, false, Some(4)), Some(8));
        assert_eq!(find_start(&b, false, Some(3)), None);
    }

    #[test]
    fn crc24_matches_cassandras() {
        // A 6-byte header for a 16-byte self-contained payload, as the
        // Java driver writes it (payload length | self-contained << 17).
        let v: u64 = 16 | (1 << 17);
        let b = v.to_le_bytes();
        let crc = crc24(&b[..3]);
        let mut h = b[..3].to_vec();
        h.extend_from_slice(&crc.to_le_bytes()[..3]);
        let Seg::Header(s) = segment(&h, false) else {
            panic!()
        };
        assert_eq!((s.payload_len, s.self_contained), (16, true));
        h[0] ^= 1;
        assert_eq!(segment(&h, false), Seg::Error);
        // The algorithm's own fixed point: no bytes give the init value.
        assert_eq!(crc24(&[]), 0x875060);
    }

    #[test]
    fn lz4_and_snappy_bodies_decompress_within_bounds() {
        let text = b"SELECT * FROM system.local WHERE key='local' SELECT * FROM".repeat(4);
        let mut lz = (text.len() as u32).to_be_bytes().to_vec();
        lz.extend_from_slice(&lz4_flex::block::compress(&text));
        let mut out = Vec::new();
        decompress(Compression::Lz4, &lz, 1 << 20, &mut out).unwrap();
        assert_eq!(out, text);
        assert_eq!(
            decompress(Compression::Lz4, &lz, 16, &mut out),
            Err(DecompressError::TooLarge)
        );
        let sn = snap::raw::Encoder::new().compress_vec(&text).unwrap();
        decompress(Compression::Snappy, &sn, 1 << 20, &mut out).unwrap();
        assert_eq!(out, text);
        assert_eq!(
            decompress(Compression::Snappy, &sn[..sn.len() / 2], 1 << 20, &mut out),
            Err(DecompressError::Corrupt)
        );
        assert_eq!(
            decompress(Compression::Lz4, &lz[..lz.len() - 3], 1 << 20, &mut out),
            Err(DecompressError::Corrupt)
        );
    }

    #[test]
    fn rows_metadata_skips_column_specs_to_the_row_count() {
        // flags GlobalTableSpec, 2 columns, ks "k", table "t", columns
        // "a" int and "m" map<text, list<int>>, then 3 rows.
        let mut b = vec![0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        b.extend_from_slice(b"\x00\x01k\x00\x01t");
        b.extend_from_slice(b"\x00\x01a\x00\x09");
        b.extend_from_slice(b"\x00\x01m\x00\x21\x00\x0d\x00\x20\x00\x09");
        b.extend_from_slice(&3i32.to_be_bytes());
        let CqlResult::Rows(Some(m), rows) = result(4, Rd::new(&b)) else {
            panic!()
        };
        assert_eq!(
            (m.col_count, m.keyspace, m.table),
            (2, Some(&b"k"[..]), Some(&b"t"[..]))
        );
        assert_eq!(rows, Some(3));
        // Cut anywhere: no panic, no row count made up.
        for n in 0..b.len() {
            if let CqlResult::Rows(_, Some(r)) = result(4, Rd::new(&b[..n])) {
                panic!("{n}: {r}");
            }
        }
    }

    #[test]
    fn errors_carry_their_details() {
        let mut b = 0x1100i32.to_be_bytes().to_vec();
        b.extend_from_slice(b"\x00\x07timeout\x00\x01");
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(b"\x00\x06SIMPLE");
        let e = error(4, Rd::new(&b)).unwrap();
        assert_eq!((e.code, e.msg), (0x1100, &b"timeout"[..]));
        assert_eq!(e.details.write_type, Some(&b"SIMPLE"[..]));
        assert_eq!((e.details.received, e.details.blockfor), (Some(1), Some(2)));
        assert_eq!(error_type(e.code), "errWriteTimeout");
    }

    #[test]
    fn op_names_round_trip() {
        for o in 0u8..=0x10 {
            if o != 4 {
                assert_eq!(op_by_name(op_name(o)), Some(o));
            }
        }
        assert_eq!(op_by_name(" options "), Some(op::OPTIONS));
        assert_eq!(op_by_name("NOPE"), None);
        assert_eq!(flags_name(0x02), "Tracing");
        assert_eq!(flags_name(0x03), "Compress|Tracing");
    }
}
