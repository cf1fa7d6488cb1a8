//! The Thrift wire formats: pure, bounded functions over byte slices.
//!
//! Specifications: Apache Thrift `doc/specs/thrift-binary-protocol.md`
//! (strict and old non-strict message headers), `thrift-compact-protocol.md`
//! (zigzag varints, field id deltas, booleans in the field header) and
//! `thrift-rpc.md` (message types, framed transport: a 4-byte big-endian
//! length before each message, TApplicationException's fields).
//!
//! A message is decoded whole or not at all: [`parse`] returns
//! [`Parsed::More`] while any byte of it is missing (a prefix is never an
//! error) and [`Parsed::Bad`] when the bytes cannot be a message. Values are
//! rendered the way Packetbeat renders them (`(1: 1, 2: "x")`, `[a, b]`,
//! `{a, b}`, `{k: v}`, strings quoted or hex when not UTF-8), within the
//! bounds of [`Limits`]: strings cut at `string_max_size`, collections and
//! structs at `collection_max_size` items (`...` follows), at most
//! `drop_after_n_struct_fields` fields per struct (more is an error, as in
//! Packetbeat), a nesting depth, and a budget on the whole rendered text.

use std::fmt::Write as _;

/// The byte layouts of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TBinaryProtocol (strict or old non-strict header).
    Binary,
    /// TCompactProtocol.
    Compact,
}

impl Proto {
    /// `binary` or `compact`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Binary => "binary",
            Proto::Compact => "compact",
        }
    }
}

/// The transport around messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Messages back to back (TSocket / buffered transport).
    Socket,
    /// A 4-byte big-endian length before each message (TFramedTransport).
    Framed,
}

impl Framing {
    /// `socket` or `framed` (Packetbeat's `transport_type` words).
    pub fn name(self) -> &'static str {
        match self {
            Framing::Socket => "socket",
            Framing::Framed => "framed",
        }
    }
}

/// The message types of `thrift-rpc.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    /// A call that expects a reply.
    Call,
    /// A normal reply (its field 0 is the return value, others exceptions
    /// declared by the IDL).
    Reply,
    /// A TApplicationException (the server could not run the call).
    Exception,
    /// A call that expects no reply.
    Oneway,
}

impl MsgType {
    fn from(v: u8) -> Option<MsgType> {
        Some(match v {
            1 => MsgType::Call,
            2 => MsgType::Reply,
            3 => MsgType::Exception,
            4 => MsgType::Oneway,
            _ => return None,
        })
    }

    /// `call`, `reply`, `exception`, `oneway`.
    pub fn name(self) -> &'static str {
        match self {
            MsgType::Call => "call",
            MsgType::Reply => "reply",
            MsgType::Exception => "exception",
            MsgType::Oneway => "oneway",
        }
    }

    /// Sent by the client.
    pub fn is_request(self) -> bool {
        matches!(self, MsgType::Call | MsgType::Oneway)
    }
}

/// The bounds a decode respects (from `[protocols.thrift]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of a string value shown (then `...`).
    pub string_max: usize,
    /// Items of a list, set, map or struct shown (then `...`).
    pub collection_max: usize,
    /// A struct with more fields than this is an error.
    pub max_fields: usize,
    /// Nesting depth of structs and collections.
    pub max_depth: usize,
    /// Bytes of one rendered summary (params, return value).
    pub max_text: usize,
    /// Bytes of one message (with its frame header).
    pub max_message: usize,
    /// Strings shown as `"*"`.
    pub obfuscate: bool,
    /// Render the fields (false: only walk over them, for `capture_reply = false`).
    pub render: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            string_max: 200,
            collection_max: 15,
            max_fields: 500,
            max_depth: 32,
            max_text: 4096,
            max_message: 1 << 20,
            obfuscate: false,
            render: true,
        }
    }
}

/// The raw value of a top-level field, kept for the fields that are read
/// by name (TApplicationException's message and type).
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// Not kept.
    None,
    /// A string (cut at `string_max`).
    Str(String),
    /// An integer.
    Int(i64),
}

/// One top-level field of a message body.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field id.
    pub id: i16,
    /// The rendered value.
    pub text: String,
    /// The value itself for strings and integers.
    pub raw: Raw,
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its layout.
    pub proto: Proto,
    /// Its message type.
    pub mtype: MsgType,
    /// The method name (lossy UTF-8).
    pub method: String,
    /// The sequence id.
    pub seqid: i32,
    /// The first `collection_max` top-level fields.
    pub fields: Vec<Field>,
    /// More top-level fields than were kept.
    pub more_fields: bool,
}

/// What [`parse`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A whole message and the bytes it took (frame header included).
    Done(Message, usize),
    /// Not enough bytes yet.
    More,
    /// Not a message; the reason.
    Bad(&'static str),
}

/// Why a read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    More,
    Bad(&'static str),
}

type R<T> = Result<T, Stop>;

/// The value types common to both layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Bool,
    Byte,
    Double,
    I16,
    I32,
    I64,
    Str,
    Struct,
    Map,
    Set,
    List,
    Uuid,
}

fn binary_ty(t: u8) -> R<Ty> {
    Ok(match t {
        2 => Ty::Bool,
        3 => Ty::Byte,
        4 => Ty::Double,
        6 => Ty::I16,
        8 => Ty::I32,
        10 => Ty::I64,
        11 => Ty::Str,
        12 => Ty::Struct,
        13 => Ty::Map,
        14 => Ty::Set,
        15 => Ty::List,
        16 => Ty::Uuid,
        _ => return Err(Stop::Bad("unknown field type")),
    })
}

fn compact_ty(t: u8) -> R<Ty> {
    Ok(match t {
        1 | 2 => Ty::Bool,
        3 => Ty::Byte,
        4 => Ty::I16,
        5 => Ty::I32,
        6 => Ty::I64,
        7 => Ty::Double,
        8 => Ty::Str,
        9 => Ty::List,
        10 => Ty::Set,
        11 => Ty::Map,
        12 => Ty::Struct,
        13 => Ty::Uuid,
        _ => return Err(Stop::Bad("unknown field type")),
    })
}

/// A read position in one message.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    proto: Proto,
    /// `b` is the whole message (framed).
    whole: bool,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(Stop::Bad("length overflow"))?;
        if end > self.b.len() {
            return Err(Stop::More);
        }
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn be32(&mut self) -> R<i32> {
        let s = self.take(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn varint(&mut self) -> R<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let c = self.u8()?;
            v |= u64::from(c & 0x7f) << (7 * i);
            if c & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Stop::Bad("varint longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> R<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// A length prefix, checked against what the message can still hold
    /// (so a huge declared length is an error at once when the message
    /// size is known, and never an allocation).
    fn len(&mut self) -> R<usize> {
        let n: i64 = match self.proto {
            Proto::Binary => i64::from(self.be32()?),
            Proto::Compact => self.varint()?.min(i64::MAX as u64) as i64,
        };
        if n < 0 {
            return Err(Stop::Bad("negative length"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    /// The next field header of a struct: `None` at STOP; the compact
    /// layout's booleans carry their value in the header.
    fn field(&mut self, last: &mut i16) -> R<Option<(i16, Ty, Option<bool>)>> {
        let h = self.u8()?;
        if h == 0 {
            return Ok(None);
        }
        match self.proto {
            Proto::Binary => {
                let ty = binary_ty(h)?;
                let s = self.take(2)?;
                Ok(Some((i16::from_be_bytes([s[0], s[1]]), ty, None)))
            }
            Proto::Compact => {
                let t = h & 0x0f;
                let ty = compact_ty(t)?;
                let delta = h >> 4;
                let id = if delta == 0 {
                    let v = self.zigzag()?;
                    i16::try_from(v).map_err(|_| Stop::Bad("field id out of range"))?
                } else {
                    last.wrapping_add(i16::from(delta))
                };
                *last = id;
                let b = (ty == Ty::Bool).then_some(t == 1);
                Ok(Some((id, ty, b)))
            }
        }
    }

    /// A list or set header: element type and count.
    fn list(&mut self) -> R<(Ty, usize)> {
        match self.proto {
            Proto::Binary => {
                let t = binary_ty(self.u8()?)?;
                Ok((t, self.len()?))
            }
            Proto::Compact => {
                let h = self.u8()?;
                let t = compact_ty(h & 0x0f)?;
                let n = if h >> 4 == 15 {
                    self.len()?
                } else {
                    usize::from(h >> 4)
                };
                Ok((t, n))
            }
        }
    }

    /// A map header: key type, value type and count.
    fn map(&mut self) -> R<(Ty, Ty, usize)> {
        match self.proto {
            Proto::Binary => {
                let k = binary_ty(self.u8()?)?;
                let v = binary_ty(self.u8()?)?;
                Ok((k, v, self.len()?))
            }
            Proto::Compact => {
                let n = self.len()?;
                if n == 0 {
                    return Ok((Ty::Bool, Ty::Bool, 0));
                }
                let h = self.u8()?;
                Ok((compact_ty(h >> 4)?, compact_ty(h & 0x0f)?, n))
            }
        }
    }

    fn int(&mut self, ty: Ty) -> R<i64> {
        Ok(match (self.proto, ty) {
            (_, Ty::Byte) => i64::from(self.u8()? as i8),
            (Proto::Binary, Ty::I16) => {
                let s = self.take(2)?;
                i64::from(i16::from_be_bytes([s[0], s[1]]))
            }
            (Proto::Binary, Ty::I32) => i64::from(self.be32()?),
            (Proto::Binary, _) => {
                let s = self.take(8)?;
                i64::from_be_bytes(s.try_into().map_err(|_| Stop::More)?)
            }
            (Proto::Compact, _) => self.zigzag()?,
        })
    }

    fn double(&mut self) -> R<f64> {
        let s: [u8; 8] = self.take(8)?.try_into().map_err(|_| Stop::More)?;
        Ok(match self.proto {
            Proto::Binary => f64::from_be_bytes(s),
            Proto::Compact => f64::from_le_bytes(s),
        })
    }
}

/// The rendered text, bounded by `max_text` (the walk goes on when it is
/// full; the text then ends with `...`).
struct Out {
    s: String,
    max: usize,
    cut: bool,
}

impl Out {
    fn new(max: usize) -> Out {
        Out {
            s: String::new(),
            max,
            cut: false,
        }
    }

    fn push(&mut self, show: bool, t: &str) {
        if !show || self.cut {
            return;
        }
        if self.s.len() + t.len() > self.max {
            self.cut = true;
            return;
        }
        self.s.push_str(t);
    }

    fn fmt(&mut self, show: bool, a: std::fmt::Arguments<'_>) {
        if !show || self.cut {
            return;
        }
        let before = self.s.len();
        let _ = self.s.write_fmt(a);
        if self.s.len() > self.max {
            self.s.truncate(before);
            self.cut = true;
        }
    }

    fn finish(mut self) -> String {
        if self.cut {
            self.s.push_str("...");
        }
        self.s
    }
}

/// Appends `b` as Packetbeat shows a string: `""` when empty, quoted when
/// UTF-8 (cut at `max` bytes, on a character boundary, then `...`), hex
/// otherwise.
fn string(b: &[u8], lim: &Limits, show: bool, out: &mut Out) {
    if !show {
        return;
    }
    if b.is_empty() {
        out.push(true, "\"\"");
        return;
    }
    if lim.obfuscate {
        out.push(true, "\"*\"");
        return;
    }
    let cut = b.len() > lim.string_max;
    let kept = &b[..b.len().min(lim.string_max)];
    let text = match std::str::from_utf8(kept) {
        Ok(s) => Some(s),
        // Cut inside a character: keep the whole characters before it.
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&kept[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(s) => {
            let mut q = String::with_capacity(s.len() + 5);
            q.push('"');
            for c in s.chars() {
                match c {
                    '"' => q.push_str("\\\""),
                    '\\' => q.push_str("\\\\"),
                    '\n' => q.push_str("\\n"),
                    '\r' => q.push_str("\\r"),
                    '\t' => q.push_str("\\t"),
                    c if (c as u32) < 0x20 || c == '\u{7f}' => {
                        let _ = write!(q, "\\x{:02x}", c as u32);
                    }
                    c => q.push(c),
                }
            }
            if cut {
                q.push_str("...");
            }
            q.push('"');
            out.push(true, &q);
        }
        None => {
            let mut h = String::with_capacity(kept.len() * 2 + 3);
            for x in kept {
                let _ = write!(h, "{x:02x}");
            }
            if cut {
                h.push_str("...");
            }
            out.push(true, &h);
        }
    }
}

/// Walks one value of type `ty`, rendering it into `out` when `show`.
fn value(
    c: &mut Cur<'_>,
    ty: Ty,
    pending: Option<bool>,
    depth: usize,
    lim: &Limits,
    show: bool,
    out: &mut Out,
) -> R<()> {
    match ty {
        Ty::Bool => {
            let v = match pending {
                Some(v) => v,
                None => match c.proto {
                    Proto::Binary => c.u8()? != 0,
                    Proto::Compact => c.u8()? == 1,
                },
            };
            out.push(show, if v { "true" } else { "false" });
        }
        Ty::Byte | Ty::I16 | Ty::I32 | Ty::I64 => {
            let v = c.int(ty)?;
            out.fmt(show, format_args!("{v}"));
        }
        Ty::Double => {
            let v = c.double()?;
            out.fmt(show, format_args!("{v}"));
        }
        Ty::Str => {
            let b = c.bytes()?;
            string(b, lim, show, out);
        }
        Ty::Uuid => {
            let b = c.take(16)?;
            if show {
                let mut h = String::with_capacity(36);
                for (i, x) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        h.push('-');
                    }
                    let _ = write!(h, "{x:02x}");
                }
                out.push(true, &h);
            }
        }
        Ty::Struct => {
            if depth >= lim.max_depth {
                return Err(Stop::Bad("nesting too deep"));
            }
            out.push(show, "(");
            let mut last = 0i16;
            let mut i = 0usize;
            while let Some((id, t, b)) = c.field(&mut last)? {
                if i >= lim.max_fields {
                    return Err(Stop::Bad("too many fields in a struct"));
                }
                let shown = show && i < lim.collection_max;
                if show && i == lim.collection_max {
                    out.push(true, ", ...");
                }
                if shown {
                    if i > 0 {
                        out.push(true, ", ");
                    }
                    out.fmt(true, format_args!("{id}: "));
                }
                value(c, t, b, depth + 1, lim, shown, out)?;
                i += 1;
            }
            out.push(show, ")");
        }
        Ty::List | Ty::Set => {
            if depth >= lim.max_depth {
                return Err(Stop::Bad("nesting too deep"));
            }
            let (t, n) = c.list()?;
            check_count(c, n)?;
            let (open, close) = if ty == Ty::List {
                ("[", "]")
            } else {
                ("{", "}")
            };
            if n > 0 {
                out.push(show, open);
            }
            for i in 0..n {
                let shown = show && i < lim.collection_max;
                if show && i == lim.collection_max {
                    out.push(true, ", ...");
                }
                if shown && i > 0 {
                    out.push(true, ", ");
                }
                value(c, t, None, depth + 1, lim, shown, out)?;
            }
            if n > 0 {
                out.push(show, close);
            }
        }
        Ty::Map => {
            if depth >= lim.max_depth {
                return Err(Stop::Bad("nesting too deep"));
            }
            let (k, v, n) = c.map()?;
            check_count(c, n)?;
            out.push(show, "{");
            for i in 0..n {
                let shown = show && i < lim.collection_max;
                if show && i == lim.collection_max {
                    out.push(true, ", ...");
                }
                if shown && i > 0 {
                    out.push(true, ", ");
                }
                value(c, k, None, depth + 1, lim, shown, out)?;
                out.push(shown, ": ");
                value(c, v, None, depth + 1, lim, shown, out)?;
            }
            out.push(show, "}");
        }
    }
    Ok(())
}

/// Every collection element takes at least one byte: in a message of known
/// size (framed) a larger count is an error at once. (Unframed, the walk
/// stops with `More` when the bytes run out, so it is bounded either way.)
fn check_count(c: &Cur<'_>, n: usize) -> R<()> {
    if c.whole && n > c.b.len().saturating_sub(c.pos) {
        return Err(Stop::Bad("collection larger than the message"));
    }
    Ok(())
}

/// The message header: type, method, sequence id.
fn header(c: &mut Cur<'_>, lim: &Limits) -> R<(MsgType, String, i32)> {
    let name = |b: &[u8]| -> R<String> {
        if b.is_empty() || b.len() > 1024 {
            return Err(Stop::Bad("implausible method name length"));
        }
        if b.iter().any(|&x| x < 0x20 || x == 0x7f) {
            return Err(Stop::Bad("control bytes in the method name"));
        }
        let s = String::from_utf8_lossy(&b[..b.len().min(lim.string_max.max(64))]);
        Ok(s.into_owned())
    };
    match c.proto {
        Proto::Binary => {
            let v = c.be32()?;
            if v < 0 {
                if (v as u32) & 0xffff_0000 != 0x8001_0000 {
                    return Err(Stop::Bad("unknown binary protocol version"));
                }
                let t = MsgType::from((v & 0xff) as u8).ok_or(Stop::Bad("unknown message type"))?;
                let n = v_len(c)?;
                let m = name(c.take(n)?)?;
                Ok((t, m, c.be32()?))
            } else {
                // Old non-strict header: name, type byte, seqid.
                let n = v as usize;
                if n == 0 || n > 1024 {
                    return Err(Stop::Bad("implausible method name length"));
                }
                let m = name(c.take(n)?)?;
                let t = MsgType::from(c.u8()?).ok_or(Stop::Bad("unknown message type"))?;
                Ok((t, m, c.be32()?))
            }
        }
        Proto::Compact => {
            if c.u8()? != 0x82 {
                return Err(Stop::Bad("not a compact protocol message"));
            }
            let vt = c.u8()?;
            if vt & 0x1f != 1 {
                return Err(Stop::Bad("unknown compact protocol version"));
            }
            let t = MsgType::from(vt >> 5).ok_or(Stop::Bad("unknown message type"))?;
            let seq = c.varint()?;
            let seq = u32::try_from(seq).map_err(|_| Stop::Bad("sequence id out of range"))? as i32;
            let n = v_len(c)?;
            if n == 0 || n > 1024 {
                return Err(Stop::Bad("implausible method name length"));
            }
            let m = name(c.take(n)?)?;
            Ok((t, m, seq))
        }
    }
}

fn v_len(c: &mut Cur<'_>) -> R<usize> {
    let n = c.len()?;
    if n == 0 || n > 1024 {
        return Err(Stop::Bad("implausible method name length"));
    }
    Ok(n)
}

/// The message at the start of `b` (its body whole).
fn message(b: &[u8], proto: Proto, whole: bool, lim: &Limits) -> R<(Message, usize)> {
    let mut c = Cur {
        b,
        pos: 0,
        proto,
        whole,
    };
    let (mtype, method, seqid) = header(&mut c, lim)?;
    let mut fields = Vec::new();
    let mut more_fields = false;
    let mut last = 0i16;
    let mut i = 0usize;
    while let Some((id, t, pb)) = c.field(&mut last)? {
        if i >= lim.max_fields {
            return Err(Stop::Bad("too many fields in a struct"));
        }
        let keep = i < lim.collection_max;
        let show = lim.render && keep;
        let mut out = Out::new(lim.max_text);
        let start = c.pos;
        value(&mut c, t, pb, 1, lim, show, &mut out)?;
        if keep && !show {
            fields.push(Field {
                id,
                text: String::new(),
                raw: Raw::None,
            });
        } else if show {
            let raw = match t {
                Ty::Str => {
                    let mut r = Cur {
                        b: &c.b[start..c.pos],
                        pos: 0,
                        proto,
                        whole: true,
                    };
                    let s = r.bytes().unwrap_or_default();
                    Raw::Str(
                        String::from_utf8_lossy(&s[..s.len().min(lim.string_max)]).into_owned(),
                    )
                }
                Ty::Byte | Ty::I16 | Ty::I32 | Ty::I64 => {
                    let mut r = Cur {
                        b: &c.b[start..c.pos],
                        pos: 0,
                        proto,
                        whole: true,
                    };
                    r.int(t).map(Raw::Int).unwrap_or(Raw::None)
                }
                _ => Raw::None,
            };
            fields.push(Field {
                id,
                text: out.finish(),
                raw,
            });
        } else {
            more_fields = true;
        }
        i += 1;
    }
    Ok((
        Message {
            proto,
            mtype,
            method,
            seqid,
            fields,
            more_fields,
        },
        c.pos,
    ))
}

/// What the first bytes of a direction say about its layout: `Ok(None)`
/// when more bytes are needed to tell.
pub fn detect(b: &[u8], max_message: usize) -> Result<Option<(Framing, Proto)>, &'static str> {
    let strict = |b: &[u8]| b.len() >= 2 && b[0] == 0x80 && b[1] == 0x01;
    let compact = |b: &[u8]| {
        b.len() >= 2 && b[0] == 0x82 && b[1] & 0x1f == 1 && (1..=4).contains(&(b[1] >> 5))
    };
    if b.len() < 2 {
        return Ok(None);
    }
    if strict(b) {
        return Ok(Some((Framing::Socket, Proto::Binary)));
    }
    if compact(b) {
        return Ok(Some((Framing::Socket, Proto::Compact)));
    }
    if b.len() < 6 {
        return Ok(None);
    }
    let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if l >= 6 && l <= max_message {
        if strict(&b[4..]) {
            return Ok(Some((Framing::Framed, Proto::Binary)));
        }
        if compact(&b[4..]) {
            return Ok(Some((Framing::Framed, Proto::Compact)));
        }
    }
    // Old non-strict binary: a name length, then printable name bytes.
    let printable = |s: &[u8]| s.iter().all(|&x| (0x21..0x7f).contains(&x));
    if (1..=255).contains(&l) && printable(&b[4..b.len().min(4 + l)]) {
        return Ok(Some((Framing::Socket, Proto::Binary)));
    }
    if b.len() < 9 {
        return Ok(None);
    }
    let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if l > 8
        && l <= max_message
        && (1..=255).contains(&n)
        && n < l
        && printable(&b[8..b.len().min(8 + n)])
    {
        return Ok(Some((Framing::Framed, Proto::Binary)));
    }
    Err("not a Thrift message start")
}

/// Parses one message (with its frame header when framed) at the start of `b`.
pub fn parse(b: &[u8], framing: Framing, proto: Proto, lim: &Limits) -> Parsed {
    match framing {
        Framing::Framed => {
            if b.len() < 4 {
                return Parsed::More;
            }
            let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            if l < 2 || l > lim.max_message {
                return Parsed::Bad("frame size out of bounds");
            }
            if b.len() < 4 + l {
                // A header that cannot start a message fails before the
                // whole frame has arrived.
                let mut c = Cur {
                    b: &b[4..],
                    pos: 0,
                    proto,
                    whole: false,
                };
                if let Err(Stop::Bad(why)) = header(&mut c, lim) {
                    return Parsed::Bad(why);
                }
                return Parsed::More;
            }
            match message(&b[4..4 + l], proto, true, lim) {
                Ok((m, _)) => Parsed::Done(m, 4 + l),
                Err(Stop::More) => Parsed::Bad("message longer than its frame"),
                Err(Stop::Bad(why)) => Parsed::Bad(why),
            }
        }
        Framing::Socket => match message(b, proto, false, lim) {
            Ok((_, n)) if n > lim.max_message => {
                Parsed::Bad("message larger than max_message_size")
            }
            Ok((m, n)) => Parsed::Done(m, n),
            Err(Stop::More) if b.len() >= lim.max_message => {
                Parsed::Bad("message larger than max_message_size")
            }
            Err(Stop::More) => Parsed::More,
            Err(Stop::Bad(why)) => Parsed::Bad(why),
        },
    }
}

/// Where a message could start after lost bytes: a strict binary or a
/// compact header with a plausible type and method name (with its frame
/// length in front when framed).
pub fn find_start(b: &[u8], framing: Framing, proto: Proto, lim: &Limits) -> Option<usize> {
    let lead = match framing {
        Framing::Framed => 4,
        Framing::Socket => 0,
    };
    let marker = match proto {
        Proto::Binary => 0x80,
        Proto::Compact => 0x82,
    };
    let mut from = lead;
    while from < b.len() {
        let i = from + memchr::memchr(marker, &b[from..])?;
        let at = i - lead;
        let mut c = Cur {
            b: &b[i..],
            pos: 0,
            proto,
            whole: false,
        };
        let ok = match header(&mut c, lim) {
            Ok(_) => true,
            // A plausible start cut off by the end of the chunk: resume there.
            Err(Stop::More) => c.b.len() >= 2 && (c.b[1] == 0x01 || c.b[0] == 0x82),
            Err(Stop::Bad(_)) => false,
        };
        let frame_ok = lead == 0 || {
            let l = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
            (6..=lim.max_message).contains(&l)
        };
        if ok && frame_ok {
            return Some(at);
        }
        from = i + 1;
    }
    None
}

/// TApplicationException's `type` names (thrift-rpc.md).
pub fn application_exception(t: i64) -> &'static str {
    match t {
        0 => "UNKNOWN",
        1 => "UNKNOWN_METHOD",
        2 => "INVALID_MESSAGE_TYPE",
        3 => "WRONG_METHOD_NAME",
        4 => "BAD_SEQUENCE_ID",
        5 => "MISSING_RESULT",
        6 => "INTERNAL_ERROR",
        7 => "PROTOCOL_ERROR",
        8 => "INVALID_TRANSFORM",
        9 => "INVALID_PROTOCOL",
        10 => "UNSUPPORTED_CLIENT_TYPE",
        _ => "UNKNOWN",
    }
}

/// `(1: a, 2: b)` from top-level fields, with names where `names` has one
/// for an id (from the IDL).
pub fn format_struct(
    fields: &[Field],
    more: bool,
    names: &dyn Fn(i16) -> Option<String>,
) -> String {
    let mut s = String::from("(");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        match names(f.id) {
            Some(n) => s.push_str(&n),
            None => {
                let _ = write!(s, "{}", f.id);
            }
        }
        s.push_str(": ");
        s.push_str(&f.text);
    }
    if more {
        s.push_str(", ...");
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strict binary call `add(1: i32 1, 2: i32 1)`, seqid 7.
    pub(crate) fn add_call() -> Vec<u8> {
        let mut v = vec![0x80, 0x01, 0x00, 0x01, 0, 0, 0, 3];
        v.extend_from_slice(b"add");
        v.extend_from_slice(&7i32.to_be_bytes());
        v.extend_from_slice(&[8, 0, 1, 0, 0, 0, 1, 8, 0, 2, 0, 0, 0, 1, 0]);
        v
    }

    fn lim() -> Limits {
        Limits::default()
    }

    #[test]
    fn a_binary_call_parses_and_every_prefix_is_more() {
        let b = add_call();
        let Parsed::Done(m, n) = parse(&b, Framing::Socket, Proto::Binary, &lim()) else {
            panic!("not parsed");
        };
        assert_eq!(n, b.len());
        assert_eq!(
            (m.mtype, m.method.as_str(), m.seqid),
            (MsgType::Call, "add", 7)
        );
        assert_eq!(format_struct(&m.fields, false, &|_| None), "(1: 1, 2: 1)");
        for i in 0..b.len() {
            assert_eq!(
                parse(&b[..i], Framing::Socket, Proto::Binary, &lim()),
                Parsed::More,
                "{i}"
            );
        }
        let mut f = (b.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&b);
        assert_eq!(
            detect(&f, 1 << 20),
            Ok(Some((Framing::Framed, Proto::Binary)))
        );
        assert!(
            matches!(parse(&f, Framing::Framed, Proto::Binary, &lim()), Parsed::Done(_, n) if n == f.len())
        );
        for i in 0..f.len() {
            assert_eq!(
                parse(&f[..i], Framing::Framed, Proto::Binary, &lim()),
                Parsed::More,
                "{i}"
            );
        }
    }

    #[test]
    fn compact_values_render_like_binary_ones() {
        // Compact call "echo", seqid 300: field 1 string "hi", field 2 bool
        // true (in the header), field 5 list<i32> [1, -1], field 6 map
        // {1: "a"}, field 7 double 2.5.
        let mut b = vec![0x82, 0x21, 0xac, 0x02, 4];
        b.extend_from_slice(b"echo");
        b.extend_from_slice(&[0x18, 2, b'h', b'i']);
        b.push(0x11);
        b.extend_from_slice(&[0x39, 0x25, 2, 1]);
        b.extend_from_slice(&[0x1b, 1, 0x58, 2, 1, b'a']);
        b.push(0x17);
        b.extend_from_slice(&2.5f64.to_le_bytes());
        b.push(0);
        assert_eq!(
            detect(&b, 1 << 20),
            Ok(Some((Framing::Socket, Proto::Compact)))
        );
        let Parsed::Done(m, n) = parse(&b, Framing::Socket, Proto::Compact, &lim()) else {
            panic!("not parsed");
        };
        assert_eq!(n, b.len());
        assert_eq!((m.mtype, m.seqid), (MsgType::Call, 300));
        assert_eq!(
            format_struct(&m.fields, false, &|_| None),
            "(1: \"hi\", 2: true, 5: [1, -1], 6: {1: \"a\"}, 7: 2.5)"
        );
        for i in 0..b.len() {
            assert_eq!(
                parse(&b[..i], Framing::Socket, Proto::Compact, &lim()),
                Parsed::More,
                "{i}"
            );
        }
    }

    #[test]
    fn bounds_cut_strings_collections_and_reject_deep_or_wide_structs() {
        let l = Limits {
            string_max: 4,
            collection_max: 2,
            ..lim()
        };
        // reply, field 0 list<string> of 3: "abcdef", "", "x"
        let mut b = vec![
            0x80, 0x01, 0x00, 0x02, 0, 0, 0, 1, b'f', 0, 0, 0, 0, 15, 0, 0, 11, 0, 0, 0, 3,
        ];
        for s in [&b"abcdef"[..], b"", b"x"] {
            b.extend_from_slice(&(s.len() as u32).to_be_bytes());
            b.extend_from_slice(s);
        }
        b.push(0);
        let Parsed::Done(m, _) = parse(&b, Framing::Socket, Proto::Binary, &l) else {
            panic!()
        };
        assert_eq!(m.fields[0].text, "[\"abcd...\", \"\", ...]");
        // Nested structs beyond max_depth.
        let mut d = vec![0x80, 0x01, 0x00, 0x01, 0, 0, 0, 1, b'f', 0, 0, 0, 0];
        for _ in 0..40 {
            d.extend_from_slice(&[12, 0, 1]);
        }
        assert_eq!(
            parse(&d, Framing::Socket, Proto::Binary, &l),
            Parsed::Bad("nesting too deep")
        );
        let l = Limits {
            max_fields: 3,
            ..lim()
        };
        let mut w = vec![0x80, 0x01, 0x00, 0x01, 0, 0, 0, 1, b'f', 0, 0, 0, 0];
        for i in 0..4u8 {
            w.extend_from_slice(&[3, 0, i, 9]);
        }
        w.push(0);
        assert_eq!(
            parse(&w, Framing::Socket, Proto::Binary, &l),
            Parsed::Bad("too many fields in a struct")
        );
    }

    #[test]
    fn binary_strings_are_hex_and_unknown_types_are_bad() {
        let mut b = vec![
            0x80, 0x01, 0x00, 0x02, 0, 0, 0, 1, b'f', 0, 0, 0, 0, 11, 0, 0, 0, 0, 0, 3, 0xab, 0xff,
            0x00, 0,
        ];
        let Parsed::Done(m, _) = parse(&b, Framing::Socket, Proto::Binary, &lim()) else {
            panic!()
        };
        assert_eq!(m.fields[0].text, "abff00");
        b[13] = 99;
        assert_eq!(
            parse(&b, Framing::Socket, Proto::Binary, &lim()),
            Parsed::Bad("unknown field type")
        );
        assert_eq!(
            detect(b"GET / HTTP/1.1\r\n", 1 << 20),
            Err("not a Thrift message start")
        );
    }

    #[test]
    fn old_non_strict_headers_are_detected_and_parsed() {
        // name length, name, type, seqid, then field 1 i32 5.
        let mut b = vec![0, 0, 0, 4];
        b.extend_from_slice(b"ping");
        b.push(1);
        b.extend_from_slice(&9i32.to_be_bytes());
        b.extend_from_slice(&[8, 0, 1, 0, 0, 0, 5, 0]);
        assert_eq!(
            detect(&b, 1 << 20),
            Ok(Some((Framing::Socket, Proto::Binary)))
        );
        let Parsed::Done(m, n) = parse(&b, Framing::Socket, Proto::Binary, &lim()) else {
            panic!("not parsed")
        };
        assert_eq!((m.method.as_str(), m.seqid, n), ("ping", 9, b.len()));
        assert_eq!(m.fields[0].raw, Raw::Int(5));
        let mut f = (b.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&b);
        assert_eq!(
            detect(&f, 1 << 20),
            Ok(Some((Framing::Framed, Proto::Binary)))
        );
    }

    #[test]
    fn resync_finds_the_next_header() {
        let call = add_call();
        let mut b = vec![0x80, 0x00, 1, 2, 3];
        b.extend_from_slice(&call);
        assert_eq!(
            find_start(&b, Framing::Socket, Proto::Binary, &lim()),
            Some(5)
        );
        let mut f = vec![9, 9, 9];
        f.extend_from_slice(&(call.len() as u32).to_be_bytes());
        f.extend_from_slice(&call);
        assert_eq!(
            find_start(&f, Framing::Framed, Proto::Binary, &lim()),
            Some(3)
        );
        assert_eq!(
            find_start(b"\x80\x00\x00", Framing::Socket, Proto::Binary, &lim()),
            None
        );
    }
}
