//! The AMQP 0-9-1 wire format: pure functions over byte slices, streaming
//! (a partial frame is [`Parsed::More`], never an error), bounded.
//!
//! Specification: *AMQP 0-9-1, Protocol Specification* (amqp0-9-1.pdf,
//! 2008-11-13) sections 2.3.5 (frames), 4.2.3 (general frame format),
//! 4.2.5 (field types), 4.2.6 (content framing), and the machine-readable
//! amqp0-9-1.xml for class and method ids; RabbitMQ's errata and
//! extensions (exchange.bind/unbind, basic.nack, confirm.select,
//! connection.blocked/unblocked/update-secret, the field-table type codes
//! of <https://www.rabbitmq.com/amqp-0-9-1-errata.html>).
//!
//! A frame is `type:u8 channel:u16 size:u32 payload[size] 0xCE`. A method
//! payload is `class:u16 method:u16 arguments`; a content header payload
//! is `class:u16 weight:u16 body-size:u64 flags:u16.. properties`; a body
//! payload is opaque. Several bit arguments in a row share one octet.

/// The frame-end octet.
pub const FRAME_END: u8 = 0xCE;
/// Frame types.
pub const METHOD: u8 = 1;
/// Content header frame.
pub const HEADER: u8 = 2;
/// Content body frame.
pub const BODY: u8 = 3;
/// Heartbeat frame (RabbitMQ and the 0-9-1 spec use 8).
pub const HEARTBEAT: u8 = 8;

/// Frame header plus frame-end.
pub const OVERHEAD: usize = 8;

/// One frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// [`METHOD`], [`HEADER`], [`BODY`] or [`HEARTBEAT`].
    pub kind: u8,
    /// Channel number (0: the connection).
    pub channel: u16,
    /// The payload, without header and frame-end.
    pub payload: &'a [u8],
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Frame type not 1, 2, 3 or 8.
    Type,
    /// Declared size above the bound.
    TooLarge,
    /// The octet after the payload is not 0xCE.
    End,
}

/// Result of [`parse_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole frame and the bytes it took.
    Frame(Frame<'a>, usize),
    /// The 8-byte protocol header (`AMQP` + version), its length.
    ProtocolHeader(usize),
    /// Not enough bytes yet.
    More,
    /// Not a frame: resync.
    Error(FrameError),
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Parses one frame (or the protocol header) from the start of `b`;
/// frames whose payload exceeds `max_payload` are errors.
pub fn parse_frame(b: &[u8], max_payload: usize) -> Parsed<'_> {
    let Some(&kind) = b.first() else {
        return Parsed::More;
    };
    if kind == b'A' {
        let n = b.len().min(4);
        if b[..n] != b"AMQP"[..n] {
            return Parsed::Error(FrameError::Type);
        }
        return if b.len() >= 8 {
            Parsed::ProtocolHeader(8)
        } else {
            Parsed::More
        };
    }
    if !matches!(kind, METHOD | HEADER | BODY | HEARTBEAT) {
        return Parsed::Error(FrameError::Type);
    }
    if b.len() < 7 {
        return Parsed::More;
    }
    let size = be32(&b[3..7]) as usize;
    if size > max_payload {
        return Parsed::Error(FrameError::TooLarge);
    }
    let total = size + OVERHEAD;
    if b.len() < total {
        return Parsed::More;
    }
    if b[total - 1] != FRAME_END {
        return Parsed::Error(FrameError::End);
    }
    Parsed::Frame(
        Frame {
            kind,
            channel: be16(&b[1..3]),
            payload: &b[7..total - 1],
        },
        total,
    )
}

/// Whether a frame header plausibly starts at `b[0]`: a known type with a
/// payload that fits the bound and agrees with the type (method: a known
/// method; header: class 60; heartbeat: empty on channel 0), and the
/// frame-end octet where the size says, when those bytes are present.
pub fn plausible_frame(b: &[u8], max_payload: usize) -> bool {
    if b.len() < 7 {
        return false;
    }
    let kind = b[0];
    let channel = be16(&b[1..3]);
    let size = be32(&b[3..7]) as usize;
    if size > max_payload {
        return false;
    }
    let payload = &b[7..];
    let ok = match kind {
        METHOD => {
            size >= 4
                && (payload.len() < 4 || method_info(be16(payload), be16(&payload[2..])).is_some())
        }
        HEADER => size >= 14 && (payload.len() < 2 || be16(payload) == 60),
        BODY => true,
        HEARTBEAT => size == 0 && channel == 0,
        _ => false,
    };
    ok && b.get(7 + size).is_none_or(|&e| e == FRAME_END)
}

/// Where a frame could start after lost bytes: the first offset with a
/// plausible frame header whose frame-end octet is confirmed (its whole
/// frame is in `b`), or failing that, the first plausible header whose end
/// lies beyond `b` (the parse after it confirms it or resyncs again).
pub fn find_frame(b: &[u8], max_payload: usize) -> Option<usize> {
    let mut tentative = None;
    for i in 0..b.len() {
        let c = b[i];
        if c == b'A' && b[i..].starts_with(b"AMQP") {
            return Some(i);
        }
        if !matches!(c, METHOD | HEADER | BODY | HEARTBEAT)
            || !plausible_frame(&b[i..], max_payload)
        {
            continue;
        }
        let size = be32(&b[i + 3..i + 7]) as usize;
        if i + 7 + size < b.len() {
            return Some(i);
        }
        if tentative.is_none() {
            tentative = Some(i);
        }
    }
    tentative
}

/// What a method does in an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A synchronous request answered by the method of this id (same
    /// class, same channel; either side may send it).
    Request(u16),
    /// The answer to a request.
    Reply,
    /// An asynchronous method that gets no answer (a one-way event).
    OneWay,
    /// Followed by a content header and body (publish, deliver, return,
    /// get-ok); reported when the content is complete.
    Content,
}

/// One method of the protocol.
#[derive(Debug, PartialEq, Eq)]
pub struct MethodInfo {
    /// Class id.
    pub class: u16,
    /// Method id.
    pub id: u16,
    /// `queue.declare`.
    pub name: &'static str,
    /// `amqp.queue.declare` (`event.action`).
    pub action: &'static str,
    /// Request, reply, one-way or content.
    pub role: Role,
    /// Connection housekeeping hidden by `hide_connection_information`.
    pub housekeeping: bool,
}

macro_rules! methods {
    ($( ($class:expr, $id:expr, $name:expr, $role:expr, $hk:expr) ),+ $(,)?) => {
        /// Every method of AMQP 0-9-1 with RabbitMQ's extensions.
        pub static METHODS: &[MethodInfo] = &[
            $( MethodInfo {
                class: $class,
                id: $id,
                name: $name,
                action: concat!("amqp.", $name),
                role: $role,
                housekeeping: $hk,
            }, )+
        ];
    };
}

use Role::{Content, OneWay, Reply, Request};
methods! {
    (10, 10, "connection.start", Request(11), true),
    (10, 11, "connection.start-ok", Reply, true),
    (10, 20, "connection.secure", Request(21), true),
    (10, 21, "connection.secure-ok", Reply, true),
    (10, 30, "connection.tune", Request(31), true),
    (10, 31, "connection.tune-ok", Reply, true),
    (10, 40, "connection.open", Request(41), true),
    (10, 41, "connection.open-ok", Reply, true),
    (10, 50, "connection.close", Request(51), false),
    (10, 51, "connection.close-ok", Reply, false),
    (10, 60, "connection.blocked", OneWay, false),
    (10, 61, "connection.unblocked", OneWay, false),
    (10, 70, "connection.update-secret", Request(71), true),
    (10, 71, "connection.update-secret-ok", Reply, true),
    (20, 10, "channel.open", Request(11), true),
    (20, 11, "channel.open-ok", Reply, true),
    (20, 20, "channel.flow", Request(21), true),
    (20, 21, "channel.flow-ok", Reply, true),
    (20, 40, "channel.close", Request(41), false),
    (20, 41, "channel.close-ok", Reply, false),
    (40, 10, "exchange.declare", Request(11), false),
    (40, 11, "exchange.declare-ok", Reply, false),
    (40, 20, "exchange.delete", Request(21), false),
    (40, 21, "exchange.delete-ok", Reply, false),
    (40, 30, "exchange.bind", Request(31), false),
    (40, 31, "exchange.bind-ok", Reply, false),
    (40, 40, "exchange.unbind", Request(51), false),
    (40, 51, "exchange.unbind-ok", Reply, false),
    (50, 10, "queue.declare", Request(11), false),
    (50, 11, "queue.declare-ok", Reply, false),
    (50, 20, "queue.bind", Request(21), false),
    (50, 21, "queue.bind-ok", Reply, false),
    (50, 30, "queue.purge", Request(31), false),
    (50, 31, "queue.purge-ok", Reply, false),
    (50, 40, "queue.delete", Request(41), false),
    (50, 41, "queue.delete-ok", Reply, false),
    (50, 50, "queue.unbind", Request(51), false),
    (50, 51, "queue.unbind-ok", Reply, false),
    (60, 10, "basic.qos", Request(11), true),
    (60, 11, "basic.qos-ok", Reply, true),
    (60, 20, "basic.consume", Request(21), false),
    (60, 21, "basic.consume-ok", Reply, false),
    (60, 30, "basic.cancel", Request(31), false),
    (60, 31, "basic.cancel-ok", Reply, false),
    (60, 40, "basic.publish", Content, false),
    (60, 50, "basic.return", Content, false),
    (60, 60, "basic.deliver", Content, false),
    (60, 70, "basic.get", Request(71), false),
    (60, 71, "basic.get-ok", Content, false),
    (60, 72, "basic.get-empty", Reply, false),
    (60, 80, "basic.ack", OneWay, false),
    (60, 90, "basic.reject", OneWay, false),
    (60, 100, "basic.recover-async", OneWay, false),
    (60, 110, "basic.recover", Request(111), false),
    (60, 111, "basic.recover-ok", Reply, false),
    (60, 120, "basic.nack", OneWay, false),
    (85, 10, "confirm.select", Request(11), false),
    (85, 11, "confirm.select-ok", Reply, false),
    (90, 10, "tx.select", Request(11), false),
    (90, 11, "tx.select-ok", Reply, false),
    (90, 20, "tx.commit", Request(21), false),
    (90, 21, "tx.commit-ok", Reply, false),
    (90, 30, "tx.rollback", Request(31), false),
    (90, 31, "tx.rollback-ok", Reply, false),
}

/// The method with these ids, if it exists.
pub fn method_info(class: u16, id: u16) -> Option<&'static MethodInfo> {
    // Few enough for a scan; the common ones are found early by class.
    METHODS.iter().find(|m| m.class == class && m.id == id)
}

/// The reply key a reply method completes: basic.get-empty and
/// basic.get-ok both answer basic.get (71).
pub fn reply_key(class: u16, id: u16) -> u16 {
    if class == 60 && id == 72 {
        71
    } else {
        id
    }
}

/// How a field is stored and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text (lossy UTF-8).
    Str,
    /// Unsigned number.
    Num,
    /// Seconds since the epoch, written as RFC 3339.
    Time,
    /// true / false.
    Bool,
    /// A field table (validated), written as an object.
    Table,
}

/// Declares the `amqp.*` fields once: the [`F`] enum (in the order they are
/// written), their names and kinds ([`FIELDS`]) and every id by index
/// ([`FIELD_IDS`]).
macro_rules! amqp_fields {
    ($($id:ident = $name:literal: $kind:ident,)*) => {
        /// The `amqp.*` fields, in the order they are written. Each has a kind
        /// that says how [`Rec`] stores it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        #[allow(missing_docs)]
        pub enum F {
            $($id,)*
        }

        /// Number of fields.
        pub const NFIELDS: usize = [$(F::$id),*].len();

        /// Name and kind of each field, indexed by [`F`].
        pub static FIELDS: [(&str, Kind); NFIELDS] = [$(($name, Kind::$kind)),*];

        /// Every [`F`] by index.
        pub static FIELD_IDS: [F; NFIELDS] = [$(F::$id),*];
    };
}

amqp_fields! {
    Queue = "queue": Str,
    Exchange = "exchange": Str,
    ExchangeType = "exchange-type": Str,
    RoutingKey = "routing-key": Str,
    ConsumerTag = "consumer-tag": Str,
    Source = "source": Str,
    Destination = "destination": Str,
    ReplyText = "reply-text": Str,
    VirtualHost = "virtual-host": Str,
    Mechanisms = "mechanisms": Str,
    Locales = "locales": Str,
    Mechanism = "mechanism": Str,
    Locale = "locale": Str,
    ContentType = "content-type": Str,
    ContentEncoding = "content-encoding": Str,
    DeliveryMode = "delivery-mode": Str,
    CorrelationId = "correlation-id": Str,
    ReplyTo = "reply-to": Str,
    Expiration = "expiration": Str,
    MessageId = "message-id": Str,
    Type = "type": Str,
    UserId = "user-id": Str,
    AppId = "app-id": Str,
    ReplyCode = "reply-code": Num,
    ClassId = "class-id": Num,
    MethodId = "method-id": Num,
    DeliveryTag = "delivery-tag": Num,
    MessageCount = "message-count": Num,
    ConsumerCount = "consumer-count": Num,
    VersionMajor = "version-major": Num,
    VersionMinor = "version-minor": Num,
    ChannelMax = "channel-max": Num,
    FrameMax = "frame-max": Num,
    Heartbeat = "heartbeat": Num,
    PrefetchSize = "prefetch-size": Num,
    PrefetchCount = "prefetch-count": Num,
    Priority = "priority": Num,
    BodySize = "body-size": Num,
    Timestamp = "timestamp": Time,
    Passive = "passive": Bool,
    Durable = "durable": Bool,
    Exclusive = "exclusive": Bool,
    AutoDelete = "auto-delete": Bool,
    Internal = "internal": Bool,
    NoWait = "no-wait": Bool,
    IfUnused = "if-unused": Bool,
    IfEmpty = "if-empty": Bool,
    Mandatory = "mandatory": Bool,
    Immediate = "immediate": Bool,
    NoLocal = "no-local": Bool,
    NoAck = "no-ack": Bool,
    Redelivered = "redelivered": Bool,
    Multiple = "multiple": Bool,
    Requeue = "requeue": Bool,
    Global = "global": Bool,
    Active = "active": Bool,
    Arguments = "arguments": Table,
    Headers = "headers": Table,
    ServerProperties = "server-properties": Table,
    ClientProperties = "client-properties": Table,
}

/// The decoded fields of one method (and its content header): a bit per
/// field present, numbers and booleans inline, strings and tables as
/// ranges into one byte store. Reused; never grows beyond a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    present: u64,
    vals: [u64; NFIELDS],
    text: Vec<u8>,
}

impl Default for Rec {
    fn default() -> Self {
        Rec {
            present: 0,
            vals: [0; NFIELDS],
            text: Vec::new(),
        }
    }
}

impl Rec {
    /// Empties the record (keeps its storage).
    pub fn clear(&mut self) {
        self.present = 0;
        self.text.clear();
    }
    /// Whether `f` is set.
    pub fn has(&self, f: F) -> bool {
        self.present & (1 << f as u8) != 0
    }
    /// Sets a number, time or boolean.
    pub fn set(&mut self, f: F, v: u64) {
        self.present |= 1 << f as u8;
        self.vals[f as usize] = v;
    }
    /// Sets a string or table from bytes.
    pub fn set_bytes(&mut self, f: F, b: &[u8]) {
        let start = self.text.len() as u64;
        self.text.extend_from_slice(b);
        self.set(f, start << 32 | b.len() as u64);
    }
    /// The number, time or boolean of `f`.
    pub fn num(&self, f: F) -> Option<u64> {
        self.has(f).then(|| self.vals[f as usize])
    }
    /// The bytes of a string or table field.
    pub fn bytes(&self, f: F) -> Option<&[u8]> {
        let v = self.num(f)?;
        let (s, n) = ((v >> 32) as usize, (v & 0xffff_ffff) as usize);
        self.text.get(s..s + n)
    }
    /// Copies every field `other` has into `self` (a reply's fields
    /// override the request's, as Packetbeat merges them).
    pub fn merge(&mut self, other: &Rec) {
        for (i, (_, kind)) in FIELDS.iter().enumerate() {
            if other.present & (1 << i) == 0 {
                continue;
            }
            let f = FIELD_IDS[i];
            match kind {
                Kind::Str | Kind::Table => {
                    if let Some(b) = other.bytes(f) {
                        self.set_bytes(f, b);
                    }
                }
                _ => self.set(f, other.vals[i]),
            }
        }
    }
    /// Fields present, in order.
    pub fn iter(&self) -> impl Iterator<Item = F> + '_ {
        FIELD_IDS
            .iter()
            .copied()
            .filter(|&f| self.present & (1 << f as u8) != 0)
    }
}

/// A bounds-checked reader over method arguments.
struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
    /// Bit arguments: the octet being read and the next bit.
    bits: Option<(u8, u8)>,
}

/// Arguments shorter than their method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl<'a> Rd<'a> {
    fn new(b: &'a [u8]) -> Self {
        Rd {
            b,
            pos: 0,
            bits: None,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        self.bits = None;
        let end = self.pos.checked_add(n).ok_or(Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Truncated> {
        Ok(be16(self.take(2)?))
    }
    fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(be32(self.take(4)?))
    }
    fn u64(&mut self) -> Result<u64, Truncated> {
        Ok(be64(self.take(8)?))
    }
    fn shortstr(&mut self) -> Result<&'a [u8], Truncated> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn longstr(&mut self) -> Result<&'a [u8], Truncated> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// A field table, whole (length included), validated.
    fn table(&mut self) -> Result<Result<&'a [u8], Truncated>, Truncated> {
        let start = self.pos;
        let n = self.u32()? as usize;
        self.take(n)?;
        let whole = &self.b[start..self.pos];
        Ok(if valid_table(&whole[4..], 0) {
            Ok(whole)
        } else {
            Err(Truncated)
        })
    }
    /// The next bit argument (consecutive bits share an octet).
    fn bit(&mut self) -> Result<bool, Truncated> {
        let (octet, n) = match self.bits {
            Some((o, n)) if n < 8 => (o, n),
            _ => {
                let o = *self.b.get(self.pos).ok_or(Truncated)?;
                self.pos += 1;
                (o, 0)
            }
        };
        self.bits = Some((octet, n + 1));
        Ok(octet & (1 << n) != 0)
    }
}

/// What [`parse_method`] found beyond the fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodNotes {
    /// An argument table was present but malformed (not kept).
    pub bad_table: bool,
    /// `frame-max` of connection.tune-ok (the connection's frame bound).
    pub frame_max: Option<u32>,
}

/// Options of [`parse_method`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opts {
    /// Keep `arguments` tables (`parse_arguments`).
    pub arguments: bool,
    /// Keep the peer-properties tables of connection.start / start-ok.
    pub properties: bool,
}

/// Decodes the arguments of method `m` into `rec`.
pub fn parse_method(
    m: &MethodInfo,
    args: &[u8],
    opts: Opts,
    rec: &mut Rec,
) -> Result<MethodNotes, Truncated> {
    use F::*;
    let mut r = Rd::new(args);
    let mut notes = MethodNotes::default();
    let str_ = |rec: &mut Rec, f: F, b: &[u8]| rec.set_bytes(f, b);
    macro_rules! bits {
        ($($f:expr),+) => {{ $( rec.set($f, r.bit()? as u64); )+ }};
    }
    macro_rules! table {
        ($f:expr, $keep:expr) => {
            match r.table()? {
                Ok(t) if $keep && t.len() > 4 => rec.set_bytes($f, t),
                Ok(_) => {}
                Err(_) => notes.bad_table = true,
            }
        };
    }
    match (m.class, m.id) {
        (10, 10) => {
            rec.set(VersionMajor, r.u8()? as u64);
            rec.set(VersionMinor, r.u8()? as u64);
            table!(ServerProperties, opts.properties);
            str_(rec, Mechanisms, r.longstr()?);
            str_(rec, Locales, r.longstr()?);
        }
        (10, 11) => {
            table!(ClientProperties, opts.properties);
            str_(rec, Mechanism, r.shortstr()?);
            r.longstr()?; // the SASL response (credentials): never kept
            str_(rec, Locale, r.shortstr()?);
        }
        (10, 20) | (10, 21) => {
            r.longstr()?; // SASL challenge / response
        }
        (10, 30) | (10, 31) => {
            rec.set(ChannelMax, r.u16()? as u64);
            let fm = r.u32()?;
            rec.set(FrameMax, fm as u64);
            rec.set(Heartbeat, r.u16()? as u64);
            if m.id == 31 {
                notes.frame_max = Some(fm);
            }
        }
        (10, 40) => {
            str_(rec, VirtualHost, r.shortstr()?);
        }
        (10, 41) | (20, 11) => {}
        (10, 50) | (20, 40) => {
            rec.set(ReplyCode, r.u16()? as u64);
            str_(rec, ReplyText, r.shortstr()?);
            rec.set(ClassId, r.u16()? as u64);
            rec.set(MethodId, r.u16()? as u64);
        }
        (10, 60) => {
            str_(rec, ReplyText, r.shortstr()?); // the reason
        }
        (10, 70) => {
            r.longstr()?; // the new secret: never kept
            str_(rec, ReplyText, r.shortstr()?);
        }
        (20, 10) => {
            r.shortstr()?; // reserved
        }
        (20, 20) | (20, 21) => bits!(Active),
        (40, 10) => {
            r.u16()?;
            str_(rec, Exchange, r.shortstr()?);
            let t = r.shortstr()?;
            str_(rec, ExchangeType, if t.is_empty() { b"direct" } else { t });
            bits!(Passive, Durable, AutoDelete, Internal, NoWait);
            table!(Arguments, opts.arguments);
        }
        (40, 20) => {
            r.u16()?;
            str_(rec, Exchange, r.shortstr()?);
            bits!(IfUnused, NoWait);
        }
        (40, 30) | (40, 40) => {
            r.u16()?;
            str_(rec, Destination, r.shortstr()?);
            str_(rec, Source, r.shortstr()?);
            str_(rec, RoutingKey, r.shortstr()?);
            bits!(NoWait);
            table!(Arguments, opts.arguments);
        }
        (50, 10) => {
            r.u16()?;
            str_(rec, Queue, r.shortstr()?);
            bits!(Passive, Durable, Exclusive, AutoDelete, NoWait);
            table!(Arguments, opts.arguments);
        }
        (50, 11) => {
            str_(rec, Queue, r.shortstr()?);
            rec.set(MessageCount, r.u32()? as u64);
            rec.set(ConsumerCount, r.u32()? as u64);
        }
        (50, 20) | (50, 50) => {
            r.u16()?;
            str_(rec, Queue, r.shortstr()?);
            let x = r.shortstr()?;
            if !x.is_empty() {
                str_(rec, Exchange, x);
            }
            str_(rec, RoutingKey, r.shortstr()?);
            if m.id == 20 {
                bits!(NoWait);
            }
            table!(Arguments, opts.arguments);
        }
        (50, 30) => {
            r.u16()?;
            str_(rec, Queue, r.shortstr()?);
            bits!(NoWait);
        }
        (50, 31) | (50, 41) => rec.set(MessageCount, r.u32()? as u64),
        (50, 40) => {
            r.u16()?;
            str_(rec, Queue, r.shortstr()?);
            bits!(IfUnused, IfEmpty, NoWait);
        }
        (60, 10) => {
            rec.set(PrefetchSize, r.u32()? as u64);
            rec.set(PrefetchCount, r.u16()? as u64);
            bits!(Global);
        }
        (60, 20) => {
            r.u16()?;
            str_(rec, Queue, r.shortstr()?);
            str_(rec, ConsumerTag, r.shortstr()?);
            bits!(NoLocal, NoAck, Exclusive, NoWait);
            table!(Arguments, opts.arguments);
        }
        (60, 21) | (60, 31) => str_(rec, ConsumerTag, r.shortstr()?),
        (60, 30) => {
            str_(rec, ConsumerTag, r.shortstr()?);
            bits!(NoWait);
        }
        (60, 40) => {
            r.u16()?;
            let x = r.shortstr()?;
            if !x.is_empty() {
                str_(rec, Exchange, x);
            }
            str_(rec, RoutingKey, r.shortstr()?);
            bits!(Mandatory, Immediate);
        }
        (60, 50) => {
            rec.set(ReplyCode, r.u16()? as u64);
            str_(rec, ReplyText, r.shortstr()?);
            str_(rec, Exchange, r.shortstr()?);
            str_(rec, RoutingKey, r.shortstr()?);
        }
        (60, 60) => {
            str_(rec, ConsumerTag, r.shortstr()?);
            rec.set(DeliveryTag, r.u64()?);
            bits!(Redelivered);
            let x = r.shortstr()?;
            if !x.is_empty() {
                str_(rec, Exchange, x);
            }
            str_(rec, RoutingKey, r.shortstr()?);
        }
        (60, 70) => {
            r.u16()?;
            str_(rec, Queue, r.shortstr()?);
            bits!(NoAck);
        }
        (60, 71) => {
            rec.set(DeliveryTag, r.u64()?);
            bits!(Redelivered);
            let x = r.shortstr()?;
            if !x.is_empty() {
                str_(rec, Exchange, x);
            }
            str_(rec, RoutingKey, r.shortstr()?);
            rec.set(MessageCount, r.u32()? as u64);
        }
        (60, 72) => {
            r.shortstr()?; // reserved cluster-id
        }
        (60, 80) => {
            rec.set(DeliveryTag, r.u64()?);
            bits!(Multiple);
        }
        (60, 90) => {
            rec.set(DeliveryTag, r.u64()?);
            bits!(Requeue);
        }
        (60, 100) | (60, 110) => bits!(Requeue),
        (60, 120) => {
            rec.set(DeliveryTag, r.u64()?);
            bits!(Multiple, Requeue);
        }
        (85, 10) => bits!(NoWait),
        _ => {} // -ok methods without arguments, tx.*
    }
    Ok(notes)
}

/// A content header: class, body size and (when asked) the basic
/// properties (content type, encoding, headers table, delivery mode,
/// priority, correlation id, reply-to, expiration, message id, timestamp,
/// type, user id, app id).
pub fn parse_content_header(
    payload: &[u8],
    properties: bool,
    headers: bool,
    rec: &mut Rec,
) -> Result<(u16, u64, bool), Truncated> {
    use F::*;
    let mut r = Rd::new(payload);
    let class = r.u16()?;
    r.u16()?; // weight
    let size = r.u64()?;
    rec.set(BodySize, size);
    let mut flags = r.u16()?;
    let first = flags;
    // Further flag words while bit 0 is set (none defined for basic).
    while flags & 1 != 0 {
        flags = r.u16()?;
    }
    let mut bad_table = false;
    if !properties || class != 60 {
        return Ok((class, size, false));
    }
    let has = |bit: u16| first & (1 << bit) != 0;
    if has(15) {
        rec.set_bytes(ContentType, r.shortstr()?);
    }
    if has(14) {
        rec.set_bytes(ContentEncoding, r.shortstr()?);
    }
    if has(13) {
        match r.table()? {
            Ok(t) if headers && t.len() > 4 => rec.set_bytes(Headers, t),
            Ok(_) => {}
            Err(_) => bad_table = true,
        }
    }
    if has(12) {
        match r.u8()? {
            1 => rec.set_bytes(DeliveryMode, b"non-persistent"),
            2 => rec.set_bytes(DeliveryMode, b"persistent"),
            _ => {}
        }
    }
    if has(11) {
        rec.set(Priority, r.u8()? as u64);
    }
    for (bit, f) in [
        (10, CorrelationId),
        (9, ReplyTo),
        (8, Expiration),
        (7, MessageId),
    ] {
        if has(bit) {
            rec.set_bytes(f, r.shortstr()?);
        }
    }
    if has(6) {
        rec.set(Timestamp, r.u64()?);
    }
    for (bit, f) in [(5, Type), (4, UserId), (3, AppId)] {
        if has(bit) {
            rec.set_bytes(f, r.shortstr()?);
        }
    }
    Ok((class, size, bad_table))
}

/// Deepest nesting of tables and arrays accepted.
pub const MAX_DEPTH: usize = 8;

/// The size of the field value of type `t` at the start of `b`, or None
/// when it does not fit or is not a known type (RabbitMQ's type codes).
fn value_len(t: u8, b: &[u8], depth: usize) -> Option<usize> {
    let fixed = match t {
        b't' | b'b' | b'B' => 1,
        b's' | b'u' | b'U' => 2,
        b'I' | b'i' | b'f' => 4,
        b'l' | b'L' | b'd' | b'T' => 8,
        b'D' => 5,
        b'V' => 0,
        b'S' | b'x' | b'A' | b'F' => {
            let n = be32(b.get(..4)?) as usize;
            let inner = b.get(4..4usize.checked_add(n)?)?;
            let ok = match t {
                b'F' => valid_table(inner, depth + 1),
                b'A' => valid_array(inner, depth + 1),
                _ => true,
            };
            return ok.then_some(4 + n);
        }
        _ => return None,
    };
    (b.len() >= fixed).then_some(fixed)
}

/// Whether `b` is a well-formed field table body (after its length).
pub fn valid_table(mut b: &[u8], depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    while !b.is_empty() {
        let n = b[0] as usize;
        let Some(&t) = b.get(1 + n) else {
            return false;
        };
        let Some(len) = value_len(t, &b[2 + n..], depth) else {
            return false;
        };
        b = &b[2 + n + len..];
    }
    true
}

fn valid_array(mut b: &[u8], depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    while let Some((&t, rest)) = b.split_first() {
        let Some(len) = value_len(t, rest, depth) else {
            return false;
        };
        b = &rest[len..];
    }
    true
}

/// Iterates the (name, type, value bytes) entries of a valid table body.
pub fn table_entries(mut b: &[u8]) -> impl Iterator<Item = (&[u8], u8, &[u8])> {
    std::iter::from_fn(move || {
        let n = *b.first()? as usize;
        let name = b.get(1..1 + n)?;
        let t = *b.get(1 + n)?;
        let len = value_len(t, b.get(2 + n..)?, 0)?;
        let v = &b[2 + n..2 + n + len];
        b = &b[2 + n + len..];
        Some((name, t, v))
    })
}

/// Iterates the (type, value bytes) elements of a valid array body.
pub fn array_elems(mut b: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&t, rest) = b.split_first()?;
        let len = value_len(t, rest, 0)?;
        let v = &rest[..len];
        b = &rest[len..];
        Some((t, v))
    })
}

/// A decoded field value (see [`value`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `t`.
    Bool(bool),
    /// Signed integers.
    Int(i64),
    /// Unsigned integers.
    Uint(u64),
    /// `f`, `d`.
    Float(f64),
    /// `D`: scale and unscaled value.
    Decimal(u8, u32),
    /// `S` (and text).
    Str(&'a [u8]),
    /// `x`.
    Bytes(&'a [u8]),
    /// `T`: seconds since the epoch.
    Time(u64),
    /// `F`: the table body.
    Table(&'a [u8]),
    /// `A`: the array body.
    Array(&'a [u8]),
    /// `V`.
    Void,
}

/// The value of type `t` from its bytes (as returned by the iterators).
pub fn value(t: u8, v: &[u8]) -> Value<'_> {
    match t {
        b't' => Value::Bool(v[0] != 0),
        b'b' => Value::Int(v[0] as i8 as i64),
        b'B' => Value::Uint(v[0] as u64),
        b's' | b'U' => Value::Int(be16(v) as i16 as i64),
        b'u' => Value::Uint(be16(v) as u64),
        b'I' => Value::Int(be32(v) as i32 as i64),
        b'i' => Value::Uint(be32(v) as u64),
        b'l' | b'L' => Value::Int(be64(v) as i64),
        b'f' => Value::Float(f32::from_bits(be32(v)) as f64),
        b'd' => Value::Float(f64::from_bits(be64(v))),
        b'D' => Value::Decimal(v[0], be32(&v[1..])),
        b'T' => Value::Time(be64(v)),
        b'S' => Value::Str(&v[4..]),
        b'x' => Value::Bytes(&v[4..]),
        b'F' => Value::Table(&v[4..]),
        b'A' => Value::Array(&v[4..]),
        _ => Value::Void,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, ch: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(&ch.to_be_bytes());
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v.push(FRAME_END);
        v
    }

    #[test]
    fn a_frame_parses_and_every_prefix_is_more() {
        let f = frame(METHOD, 1, b"\x00\x5a\x00\x0a");
        assert_eq!(
            parse_frame(&f, 1024),
            Parsed::Frame(
                Frame {
                    kind: METHOD,
                    channel: 1,
                    payload: b"\x00\x5a\x00\x0a"
                },
                f.len()
            )
        );
        for n in 0..f.len() {
            assert_eq!(parse_frame(&f[..n], 1024), Parsed::More, "prefix {n}");
        }
        assert_eq!(
            parse_frame(b"AMQP\x00\x00\x09\x01", 9),
            Parsed::ProtocolHeader(8)
        );
        assert_eq!(parse_frame(b"AMQ", 9), Parsed::More);
    }

    #[test]
    fn bad_type_end_and_size_are_errors() {
        let mut f = frame(METHOD, 1, b"\x00\x5a\x00\x0a");
        assert_eq!(parse_frame(&f, 3), Parsed::Error(FrameError::TooLarge));
        *f.last_mut().unwrap() = 0;
        assert_eq!(parse_frame(&f, 1024), Parsed::Error(FrameError::End));
        assert_eq!(
            parse_frame(b"\x05abc", 1024),
            Parsed::Error(FrameError::Type)
        );
        assert_eq!(
            parse_frame(b"AMQX1234", 1024),
            Parsed::Error(FrameError::Type)
        );
    }

    #[test]
    fn find_frame_skips_junk_to_a_confirmed_frame() {
        let mut b = b"\x01\x00junk\x03".to_vec();
        let f = frame(METHOD, 1, b"\x00\x5a\x00\x0a");
        let at = b.len();
        b.extend_from_slice(&f);
        assert_eq!(find_frame(&b, 1024), Some(at));
        assert!(plausible_frame(&frame(HEARTBEAT, 0, b""), 8));
        assert!(!plausible_frame(&frame(HEARTBEAT, 3, b""), 8));
        // An unknown method is not plausible.
        assert!(!plausible_frame(&frame(METHOD, 1, b"\x00\x5a\x00\x63"), 64));
    }

    #[test]
    fn queue_declare_bits_and_table() {
        let m = method_info(50, 10).unwrap();
        // reserved, "hello", bits durable|exclusive, table {x-max-length: I 10}
        let mut args = b"\x00\x00\x05hello\x06".to_vec();
        let entry = b"\x0cx-max-lengthI\x00\x00\x00\x0a";
        args.extend_from_slice(&(entry.len() as u32).to_be_bytes());
        args.extend_from_slice(entry);
        let mut rec = Rec::default();
        let opts = Opts {
            arguments: true,
            properties: true,
        };
        parse_method(m, &args, opts, &mut rec).unwrap();
        assert_eq!(rec.bytes(F::Queue), Some(&b"hello"[..]));
        assert_eq!(rec.num(F::Passive), Some(0));
        assert_eq!(rec.num(F::Durable), Some(1));
        assert_eq!(rec.num(F::Exclusive), Some(1));
        assert_eq!(rec.num(F::NoWait), Some(0));
        let t = rec.bytes(F::Arguments).unwrap();
        let e: Vec<_> = table_entries(&t[4..]).collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, b"x-max-length");
        assert_eq!(value(e[0].1, e[0].2), Value::Int(10));
        // Every truncation is an error, never a panic.
        for n in 0..args.len() - entry.len() - 4 {
            rec.clear();
            assert_eq!(
                parse_method(m, &args[..n], opts, &mut rec),
                Err(Truncated),
                "{n}"
            );
        }
    }

    #[test]
    fn malformed_tables_are_refused() {
        assert!(valid_table(b"\x01aS\x00\x00\x00\x01z", 0));
        assert!(!valid_table(b"\x01aS\x00\x00\x00\x05z", 0));
        assert!(!valid_table(b"\x01a?", 0));
        // Nesting beyond the bound.
        let mut t = b"\x01aV".to_vec();
        for _ in 0..MAX_DEPTH + 2 {
            let mut outer = b"\x01aF".to_vec();
            outer.extend_from_slice(&(t.len() as u32).to_be_bytes());
            outer.extend_from_slice(&t);
            t = outer;
        }
        assert!(!valid_table(&t, 0));
    }

    #[test]
    fn content_header_properties() {
        // class 60, weight 0, size 5, flags content-type|delivery-mode
        let mut p = b"\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05".to_vec();
        p.extend_from_slice(&((1u16 << 15) | (1 << 12)).to_be_bytes());
        p.extend_from_slice(b"\x0atext/plain\x02");
        let mut rec = Rec::default();
        assert_eq!(
            parse_content_header(&p, true, true, &mut rec),
            Ok((60, 5, false))
        );
        assert_eq!(rec.bytes(F::ContentType), Some(&b"text/plain"[..]));
        assert_eq!(rec.bytes(F::DeliveryMode), Some(&b"persistent"[..]));
        assert_eq!(rec.num(F::BodySize), Some(5));
        assert!(parse_content_header(&p[..p.len() - 1], true, true, &mut rec).is_err());
    }

    #[test]
    fn merge_overrides_and_keeps() {
        let mut a = Rec::default();
        a.set_bytes(F::Queue, b"");
        a.set(F::Durable, 1);
        let mut b = Rec::default();
        b.set_bytes(F::Queue, b"amq.gen-x");
        b.set(F::MessageCount, 3);
        a.merge(&b);
        assert_eq!(a.bytes(F::Queue), Some(&b"amq.gen-x"[..]));
        assert_eq!(a.num(F::Durable), Some(1));
        assert_eq!(a.num(F::MessageCount), Some(3));
        assert_eq!(FIELD_IDS.len(), FIELDS.len());
        for (i, f) in FIELD_IDS.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
    }
}
