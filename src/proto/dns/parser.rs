//! DNS message parsing: pure, bounded, no events, no allocation per record.
//!
//! Wire format of RFC 1035 section 4 (header, question, resource records,
//! name compression of section 4.1.4), with the record types of RFC 3596
//! (AAAA), RFC 2782 (SRV), RFC 6891 (OPT / EDNS(0) and its options), RFC
//! 4034 (DNSKEY, RRSIG, NSEC, DS), RFC 6844 / 8659 (CAA) and RFC 7871 (the
//! client-subnet option). Over TCP every message is preceded by a two-byte
//! length (RFC 1035 section 4.2.2, RFC 7766): [`TcpFramer`] cuts a byte
//! stream into messages, any split of the stream giving the same messages.
//!
//! [`Message::parse`] walks a complete message once and records where each
//! resource record sits ([`Record`]: owner name offset, type, class, TTL,
//! rdata range); names and rdata are decoded only when an event is written
//! ([`Message::name`], [`Record::rdata`]). Every read is bounds-checked: a
//! malformed message is a [`ParseError`], never a panic. Name decoding
//! follows compression pointers only strictly backwards (each pointer must
//! point before the label that holds it), so a pointer loop cannot exist,
//! and stops at 255 bytes of name (RFC 1035 section 2.3.4) and 127 labels.
//!
//! Not here: pairing queries with responses, timeouts, event fields (see
//! `session.rs` and `event.rs`), DNS over TLS/HTTPS, TSIG verification.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Size of the fixed header (RFC 1035 section 4.1.1).
pub const HEADER_LEN: usize = 12;
/// Longest name on the wire (RFC 1035 section 2.3.4).
pub const MAX_NAME_WIRE: usize = 255;
/// Most labels a name can have (255 bytes of one-byte labels).
const MAX_LABELS: usize = 127;
/// Record type of the EDNS(0) pseudo-record (RFC 6891 section 6.1.1).
pub const TYPE_OPT: u16 = 41;
/// Record type of SOA (ends an AXFR, RFC 5936 section 2.2).
pub const TYPE_SOA: u16 = 6;
/// Zone transfer query types (RFC 5936, RFC 1995).
pub const TYPE_AXFR: u16 = 252;
/// Incremental zone transfer.
pub const TYPE_IXFR: u16 = 251;

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer than 12 bytes: no header.
    #[error("shorter than a DNS header")]
    ShortHeader,
    /// A name runs past the end, has a bad label type, a forward or
    /// looping pointer, or is longer than 255 bytes.
    #[error("invalid domain name")]
    BadName,
    /// A question or record is cut short by the end of the message.
    #[error("record runs past the end of the message")]
    Truncated,
}

/// The fixed header (RFC 1035 section 4.1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header {
    /// Transaction id chosen by the client.
    pub id: u16,
    /// QR, Opcode, AA, TC, RD, RA, Z, AD, CD, RCODE (RFC 1035, RFC 4035
    /// section 3.2 for AD and CD).
    pub flags: u16,
    /// Entries in the question section.
    pub qdcount: u16,
    /// Records in the answer section.
    pub ancount: u16,
    /// Records in the authority section.
    pub nscount: u16,
    /// Records in the additional section.
    pub arcount: u16,
}

impl Header {
    /// Reads the first 12 bytes.
    pub fn parse(buf: &[u8]) -> Result<Header, ParseError> {
        if buf.len() < HEADER_LEN {
            return Err(ParseError::ShortHeader);
        }
        let w = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        Ok(Header {
            id: w(0),
            flags: w(2),
            qdcount: w(4),
            ancount: w(6),
            nscount: w(8),
            arcount: w(10),
        })
    }

    /// QR: this is a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// Opcode (0 QUERY, 1 IQUERY, 2 STATUS, 4 NOTIFY, 5 UPDATE).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    /// AA: authoritative answer.
    pub fn authoritative(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    /// TC: the message was truncated (retry over TCP).
    pub fn truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    /// RD: recursion desired.
    pub fn recursion_desired(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    /// RA: recursion available.
    pub fn recursion_available(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    /// AD: authentic data (RFC 4035 section 3.2.3).
    pub fn authentic_data(&self) -> bool {
        self.flags & 0x0020 != 0
    }
    /// CD: checking disabled (RFC 4035 section 3.2.2).
    pub fn checking_disabled(&self) -> bool {
        self.flags & 0x0010 != 0
    }
    /// The 4-bit RCODE of the header (EDNS adds 8 high bits in OPT).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// The first question of a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Question {
    /// Offset of QNAME in the message.
    pub name: u16,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// Which section a record is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Answer.
    Answer,
    /// Authority.
    Authority,
    /// Additional.
    Additional,
}

/// Where one resource record sits in its message (RFC 1035 section 4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Offset of the owner name.
    pub name: u16,
    /// TYPE.
    pub rtype: u16,
    /// CLASS (for OPT: the requestor's UDP payload size).
    pub class: u16,
    /// TTL (for OPT: extended RCODE, version, DO flag).
    pub ttl: u32,
    /// Offset of RDATA.
    pub rdata: u16,
    /// RDLENGTH.
    pub rdlen: u16,
}

/// One parsed message: the header, the first question and every record,
/// as offsets into the caller's bytes. Reused across messages (`parse`
/// clears it) so that parsing allocates nothing once warm.
#[derive(Debug, Default, Clone)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The first question, when there is one.
    pub question: Option<Question>,
    /// Answer, authority and additional records, in wire order.
    pub records: Vec<Record>,
    /// Records in the answer and authority sections (the rest are additional).
    pub an: usize,
    /// Records in the authority section.
    pub ns: usize,
    /// Index in `records` of the OPT pseudo-record, if any.
    pub opt: Option<usize>,
    /// Length of the message parsed.
    pub len: usize,
}

impl Message {
    /// Parses a complete message. Sections are walked to their declared
    /// counts; a count larger than what the bytes hold is `Truncated` unless
    /// `lenient` (what fits is kept: a TC response may be cut mid-record,
    /// and a kept query may have been cut to `max_query_bytes`).
    pub fn parse(&mut self, buf: &[u8], lenient: bool) -> Result<(), ParseError> {
        self.header = Header::parse(buf)?;
        self.question = None;
        self.records.clear();
        self.an = 0;
        self.ns = 0;
        self.opt = None;
        self.len = buf.len();
        if buf.len() > usize::from(u16::MAX) {
            return Err(ParseError::Truncated);
        }
        let h = self.header;
        let mut pos = HEADER_LEN;
        for i in 0..h.qdcount {
            let name = pos;
            let r = skip_name(buf, pos).and_then(|p| {
                let f = buf.get(p..p + 4).ok_or(ParseError::Truncated)?;
                Ok((p + 4, be16(f, 0), be16(f, 2)))
            });
            match r {
                Ok((next, qtype, qclass)) => {
                    if i == 0 {
                        self.question = Some(Question {
                            name: name as u16,
                            qtype,
                            qclass,
                        });
                    }
                    pos = next;
                }
                Err(e) if lenient => return self.cut_short(e),
                Err(e) => return Err(e),
            }
        }
        let counts = [
            (Section::Answer, h.ancount),
            (Section::Authority, h.nscount),
            (Section::Additional, h.arcount),
        ];
        for (section, n) in counts {
            for _ in 0..n {
                match read_record(buf, pos) {
                    Ok((rec, next)) => {
                        if rec.rtype == TYPE_OPT && section == Section::Additional {
                            self.opt.get_or_insert(self.records.len());
                        }
                        self.records.push(rec);
                        pos = next;
                    }
                    Err(e) if lenient => return self.cut_short(e),
                    Err(e) => return Err(e),
                }
            }
            match section {
                Section::Answer => self.an = self.records.len(),
                Section::Authority => self.ns = self.records.len() - self.an,
                Section::Additional => {}
            }
        }
        Ok(())
    }

    /// A truncated message ended inside a section: keep what was read.
    fn cut_short(&mut self, _e: ParseError) -> Result<(), ParseError> {
        let n = self.records.len();
        let an = usize::from(self.header.ancount).min(n);
        self.an = an;
        self.ns = usize::from(self.header.nscount).min(n - an);
        Ok(())
    }

    /// Answer records.
    pub fn answers(&self) -> &[Record] {
        &self.records[..self.an]
    }

    /// Authority records.
    pub fn authorities(&self) -> &[Record] {
        &self.records[self.an..self.an + self.ns]
    }

    /// Additional records (the OPT pseudo-record included).
    pub fn additionals(&self) -> &[Record] {
        &self.records[self.an + self.ns..]
    }

    /// The EDNS(0) pseudo-record.
    pub fn edns(&self) -> Option<Edns> {
        let r = self.records.get(self.opt?)?;
        Some(Edns {
            udp_size: r.class,
            ext_rcode: (r.ttl >> 24) as u8,
            version: (r.ttl >> 16) as u8,
            dnssec_ok: r.ttl & 0x8000 != 0,
            rdata: r.rdata,
            rdlen: r.rdlen,
        })
    }

    /// The full 12-bit response code: the header's 4 bits, plus the high 8
    /// bits from OPT (RFC 6891 section 6.1.3).
    pub fn rcode(&self) -> u16 {
        let high = self.edns().map_or(0, |e| u16::from(e.ext_rcode));
        (high << 4) | u16::from(self.header.rcode())
    }
}

/// The OPT pseudo-record's fields (RFC 6891 section 6.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Requestor's UDP payload size.
    pub udp_size: u16,
    /// Upper 8 bits of the extended RCODE.
    pub ext_rcode: u8,
    /// EDNS version.
    pub version: u8,
    /// DO: DNSSEC answer OK (RFC 3225).
    pub dnssec_ok: bool,
    rdata: u16,
    rdlen: u16,
}

impl Edns {
    /// The options: (code, data) pairs; stops at the first malformed one.
    pub fn options<'a>(&self, buf: &'a [u8]) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let s = usize::from(self.rdata);
        let data = buf.get(s..s + usize::from(self.rdlen)).unwrap_or(&[]);
        let mut pos = 0;
        std::iter::from_fn(move || {
            let h = data.get(pos..pos + 4)?;
            let (code, len) = (be16(h, 0), usize::from(be16(h, 2)));
            let v = data.get(pos + 4..pos + 4 + len)?;
            pos += 4 + len;
            Some((code, v))
        })
    }
}

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Reads one resource record at `pos`: (record, offset after it).
fn read_record(buf: &[u8], pos: usize) -> Result<(Record, usize), ParseError> {
    let name = pos;
    let p = skip_name(buf, pos)?;
    let f = buf.get(p..p + 10).ok_or(ParseError::Truncated)?;
    let rdlen = be16(f, 8);
    let rdata = p + 10;
    let end = rdata + usize::from(rdlen);
    if end > buf.len() {
        return Err(ParseError::Truncated);
    }
    Ok((
        Record {
            name: name as u16,
            rtype: be16(f, 0),
            class: be16(f, 2),
            ttl: be32(f, 4),
            rdata: rdata as u16,
            rdlen,
        },
        end,
    ))
}

/// Validates the name at `pos` (following pointers) and returns the offset
/// just after it in place (after its first pointer, or its root label).
pub fn skip_name(buf: &[u8], pos: usize) -> Result<usize, ParseError> {
    let mut after = None;
    walk_name(buf, pos, |_| {}, &mut after)?;
    after.ok_or(ParseError::BadName)
}

/// Walks the labels of the name at `pos`, calling `label` for each; sets
/// `after` to the offset following the name in place.
fn walk_name(
    buf: &[u8],
    mut pos: usize,
    mut label: impl FnMut(&[u8]),
    after: &mut Option<usize>,
) -> Result<(), ParseError> {
    // Pointers must point before the smallest offset seen so far: the walk
    // moves strictly backwards through the message, so it ends.
    let mut limit = pos;
    let mut wire = 0usize;
    let mut labels = 0usize;
    loop {
        let len = *buf.get(pos).ok_or(ParseError::BadName)?;
        match len & 0xc0 {
            0x00 => {
                wire += usize::from(len) + 1;
                if wire > MAX_NAME_WIRE {
                    return Err(ParseError::BadName);
                }
                if len == 0 {
                    after.get_or_insert(pos + 1);
                    return Ok(());
                }
                labels += 1;
                if labels > MAX_LABELS {
                    return Err(ParseError::BadName);
                }
                let s = pos + 1;
                let l = buf
                    .get(s..s + usize::from(len))
                    .ok_or(ParseError::BadName)?;
                label(l);
                pos = s + usize::from(len);
            }
            0xc0 => {
                let lo = *buf.get(pos + 1).ok_or(ParseError::BadName)?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                after.get_or_insert(pos + 2);
                if target >= limit {
                    return Err(ParseError::BadName);
                }
                limit = target;
                pos = target;
            }
            // 0x40 (extended label types, RFC 6891 section 5) and 0x80 are
            // not in use.
            _ => return Err(ParseError::BadName),
        }
    }
}

/// Appends the name at `pos` in presentation form (RFC 1035 section 5.1)
/// without the trailing dot, as Packetbeat writes names; the root is `.`.
/// Dots and backslashes inside labels are escaped with `\`, other bytes
/// outside printable ASCII as `\DDD`.
pub fn write_name(buf: &[u8], pos: usize, out: &mut Vec<u8>) -> Result<(), ParseError> {
    let start = out.len();
    let mut after = None;
    let r = walk_name(
        buf,
        pos,
        |l| {
            if out.len() > start {
                out.push(b'.');
            }
            for &b in l {
                match b {
                    b'.' | b'\\' | b'"' | b' ' | b'(' | b')' | b';' | b'@' | b'$' => {
                        out.push(b'\\');
                        out.push(b);
                    }
                    0x21..=0x7e => out.push(b),
                    _ => push_ddd(out, b),
                }
            }
        },
        &mut after,
    );
    if r.is_err() {
        out.truncate(start);
        return r;
    }
    if out.len() == start {
        out.push(b'.');
    }
    Ok(())
}

fn push_ddd(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[b'\\', b'0' + b / 100, b'0' + (b / 10) % 10, b'0' + b % 10]);
}

/// A record's RDATA, decoded by type. Names are offsets for [`write_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rdata<'a> {
    /// A (RFC 1035 section 3.4.1).
    A(Ipv4Addr),
    /// AAAA (RFC 3596 section 2.2).
    Aaaa(Ipv6Addr),
    /// CNAME, NS, PTR, DNAME: one name.
    Name(u16),
    /// MX (RFC 1035 section 3.3.9).
    Mx {
        /// PREFERENCE.
        preference: u16,
        /// EXCHANGE.
        exchange: u16,
    },
    /// SOA (RFC 1035 section 3.3.13).
    Soa {
        /// MNAME: the primary server.
        mname: u16,
        /// RNAME: the responsible mailbox.
        rname: u16,
        /// SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
        serial: u32,
        /// REFRESH.
        refresh: u32,
        /// RETRY.
        retry: u32,
        /// EXPIRE.
        expire: u32,
        /// MINIMUM.
        minimum: u32,
    },
    /// SRV (RFC 2782).
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target.
        target: u16,
    },
    /// TXT (RFC 1035 section 3.3.14): the character-strings, each a length
    /// byte and its bytes.
    Txt(&'a [u8]),
    /// CAA (RFC 8659 section 4.1).
    Caa {
        /// Flags (bit 128: critical).
        flags: u8,
        /// Property tag.
        tag: &'a [u8],
        /// Property value.
        value: &'a [u8],
    },
    /// DS (RFC 4034 section 5.1).
    Ds {
        /// Key tag.
        key_tag: u16,
        /// Algorithm.
        algorithm: u8,
        /// Digest type.
        digest_type: u8,
        /// Digest.
        digest: &'a [u8],
    },
    /// DNSKEY (RFC 4034 section 2.1).
    Dnskey {
        /// Flags (256 zone key, 257 with SEP).
        flags: u16,
        /// Protocol (always 3).
        protocol: u8,
        /// Algorithm.
        algorithm: u8,
        /// Public key.
        key: &'a [u8],
    },
    /// RRSIG (RFC 4034 section 3.1).
    Rrsig {
        /// Type covered.
        type_covered: u16,
        /// Algorithm.
        algorithm: u8,
        /// Labels.
        labels: u8,
        /// Original TTL.
        original_ttl: u32,
        /// Signature expiration (seconds since 1970, modulo 2^32).
        expiration: u32,
        /// Signature inception.
        inception: u32,
        /// Key tag.
        key_tag: u16,
        /// Signer's name (never compressed, RFC 4034 section 3.1.7).
        signer: u16,
        /// Signature.
        signature: &'a [u8],
    },
    /// NSEC (RFC 4034 section 4.1).
    Nsec {
        /// Next domain name.
        next: u16,
        /// Type bit maps.
        bitmap: &'a [u8],
    },
    /// OPT: options (RFC 6891); see [`Message::edns`].
    Opt(&'a [u8]),
    /// Any other type, or a known type whose RDATA is malformed.
    Other(&'a [u8]),
}

impl Record {
    /// This record's RDATA bytes.
    pub fn raw<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let s = usize::from(self.rdata);
        buf.get(s..s + usize::from(self.rdlen)).unwrap_or(&[])
    }

    /// Decodes the RDATA. Malformed RDATA of a known type (wrong length, a
    /// bad name) is returned as [`Rdata::Other`] with `Err` so the caller
    /// can count it.
    pub fn rdata<'a>(&self, buf: &'a [u8]) -> Result<Rdata<'a>, Rdata<'a>> {
        let d = self.raw(buf);
        let s = usize::from(self.rdata);
        let end = s + d.len();
        // A name inside RDATA must end inside RDATA.
        let name_at = |off: usize| -> Option<(u16, usize)> {
            let after = skip_name(buf, s + off).ok()?;
            (after <= end).then_some(((s + off) as u16, after - s))
        };
        let r = match self.rtype {
            1 if d.len() == 4 => Some(Rdata::A(Ipv4Addr::new(d[0], d[1], d[2], d[3]))),
            28 if d.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(d);
                Some(Rdata::Aaaa(Ipv6Addr::from(a)))
            }
            2 | 5 | 12 | 39 => name_at(0)
                .filter(|&(_, n)| n == d.len())
                .map(|(n, _)| Rdata::Name(n)),
            15 if d.len() >= 3 => {
                name_at(2)
                    .filter(|&(_, n)| n == d.len())
                    .map(|(n, _)| Rdata::Mx {
                        preference: be16(d, 0),
                        exchange: n,
                    })
            }
            6 => (|| {
                let (mname, a) = name_at(0)?;
                let (rname, b) = name_at(a)?;
                (d.len() == b + 20).then(|| Rdata::Soa {
                    mname,
                    rname,
                    serial: be32(d, b),
                    refresh: be32(d, b + 4),
                    retry: be32(d, b + 8),
                    expire: be32(d, b + 12),
                    minimum: be32(d, b + 16),
                })
            })(),
            33 if d.len() >= 7 => {
                name_at(6)
                    .filter(|&(_, n)| n == d.len())
                    .map(|(n, _)| Rdata::Srv {
                        priority: be16(d, 0),
                        weight: be16(d, 2),
                        port: be16(d, 4),
                        target: n,
                    })
            }
            16 => txt_ok(d).then_some(Rdata::Txt(d)),
            257 if d.len() >= 2 && d.len() >= 2 + usize::from(d[1]) => {
                let tl = usize::from(d[1]);
                Some(Rdata::Caa {
                    flags: d[0],
                    tag: &d[2..2 + tl],
                    value: &d[2 + tl..],
                })
            }
            43 if d.len() >= 4 => Some(Rdata::Ds {
                key_tag: be16(d, 0),
                algorithm: d[2],
                digest_type: d[3],
                digest: &d[4..],
            }),
            48 if d.len() >= 4 => Some(Rdata::Dnskey {
                flags: be16(d, 0),
                protocol: d[2],
                algorithm: d[3],
                key: &d[4..],
            }),
            46 if d.len() >= 19 => name_at(18).map(|(n, after)| Rdata::Rrsig {
                type_covered: be16(d, 0),
                algorithm: d[2],
                labels: d[3],
                original_ttl: be32(d, 4),
                expiration: be32(d, 8),
                inception: be32(d, 12),
                key_tag: be16(d, 16),
                signer: n,
                signature: &d[after..],
            }),
            47 => name_at(0).map(|(n, after)| Rdata::Nsec {
                next: n,
                bitmap: &d[after..],
            }),
            41 => Some(Rdata::Opt(d)),
            1 | 28 | 15 | 33 | 257 | 43 | 48 | 46 => None,
            _ => Some(Rdata::Other(d)),
        };
        r.ok_or(Rdata::Other(d))
    }
}

/// A TXT RDATA is a sequence of length-prefixed strings filling it exactly.
fn txt_ok(d: &[u8]) -> bool {
    let mut p = 0;
    while p < d.len() {
        p += 1 + usize::from(d[p]);
    }
    p == d.len()
}

/// The character-strings of a TXT RDATA (validated by [`Record::rdata`]).
pub fn txt_strings(d: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut p = 0;
    std::iter::from_fn(move || {
        let len = usize::from(*d.get(p)?);
        let s = d.get(p + 1..p + 1 + len)?;
        p += 1 + len;
        Some(s)
    })
}

/// The types present in an NSEC type bit map (RFC 4034 section 4.1.2),
/// in order; stops at a malformed window.
pub fn nsec_types(bitmap: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let mut p = 0;
    let mut window: Option<(u16, &[u8], usize)> = None;
    std::iter::from_fn(move || loop {
        if let Some((base, bits, i)) = window.as_mut() {
            while *i < bits.len() * 8 {
                let k = *i;
                *i += 1;
                if bits[k / 8] & (0x80 >> (k % 8)) != 0 {
                    return Some(*base + k as u16);
                }
            }
            window = None;
        }
        let h = bitmap.get(p..p + 2)?;
        let len = usize::from(h[1]);
        if len == 0 || len > 32 {
            return None;
        }
        let bits = bitmap.get(p + 2..p + 2 + len)?;
        window = Some((u16::from(h[0]) << 8, bits, 0));
        p += 2 + len;
    })
}

/// Mnemonic of a record type (IANA "Resource Record (RR) TYPEs"), else
/// `None` (written as `TYPE<n>`, RFC 3597 section 5).
pub fn type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        32768 => "TA",
        32769 => "DLV",
        _ => return None,
    })
}

/// Mnemonic of a class (RFC 1035 section 3.2.4, RFC 2136), else `None`
/// (written as `CLASS<n>`).
pub fn class_name(c: u16) -> Option<&'static str> {
    Some(match c {
        1 => "IN",
        3 => "CH",
        4 => "HS",
        254 => "NONE",
        255 => "ANY",
        _ => return None,
    })
}

/// Opcode name as Packetbeat writes it (`dns.op_code`, `method`).
pub fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        0 => "QUERY",
        1 => "IQUERY",
        2 => "STATUS",
        4 => "NOTIFY",
        5 => "UPDATE",
        6 => "DSO",
        _ => return None,
    })
}

/// Response code name (IANA "DNS RCODEs"), else `None`.
pub fn rcode_name(rc: u16) -> Option<&'static str> {
    Some(match rc {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return None,
    })
}

/// DNSSEC algorithm mnemonic (IANA "DNS Security Algorithm Numbers").
pub fn algorithm_name(a: u8) -> Option<&'static str> {
    Some(match a {
        1 => "RSAMD5",
        2 => "DH",
        3 => "DSA",
        5 => "RSASHA1",
        6 => "DSA-NSEC3-SHA1",
        7 => "RSASHA1-NSEC3-SHA1",
        8 => "RSASHA256",
        10 => "RSASHA512",
        12 => "ECC-GOST",
        13 => "ECDSAP256SHA256",
        14 => "ECDSAP384SHA384",
        15 => "ED25519",
        16 => "ED448",
        252 => "INDIRECT",
        253 => "PRIVATEDNS",
        254 => "PRIVATEOID",
        _ => return None,
    })
}

/// DS digest type mnemonic (IANA "Delegation Signer Digest Algorithms").
pub fn digest_name(d: u8) -> Option<&'static str> {
    Some(match d {
        1 => "SHA1",
        2 => "SHA256",
        3 => "GOST94",
        4 => "SHA384",
        _ => return None,
    })
}

/// Cuts a TCP byte stream into DNS messages (RFC 1035 section 4.2.2: each
/// message is preceded by its two-byte length). A message lying whole in
/// the input is handed back as a range of it; only a message split across
/// segments is copied, into a buffer bounded by the largest possible
/// message (65,537 bytes with its prefix).
#[derive(Debug, Default)]
pub struct TcpFramer {
    buf: Vec<u8>,
}

/// What [`TcpFramer::next`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete message at this range of the input.
    Input(std::ops::Range<usize>),
    /// A complete message in the buffer: [`TcpFramer::message`], then
    /// [`TcpFramer::clear`].
    Buffered,
    /// The input is used up; a partial message is kept.
    More,
}

impl TcpFramer {
    /// Bytes of an unfinished message held (length prefix included).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Forgets a partial or buffered message.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The buffered message (after [`Frame::Buffered`]).
    pub fn message(&self) -> &[u8] {
        self.buf.get(2..).unwrap_or(&[])
    }

    fn wanted(&self) -> usize {
        if self.buf.len() < 2 {
            2
        } else {
            2 + usize::from(be16(&self.buf, 0))
        }
    }

    /// Finds the next message in `data[*pos..]`, advancing `*pos`. Call
    /// until it returns `More`.
    pub fn next(&mut self, data: &[u8], pos: &mut usize) -> Frame {
        if self.buf.is_empty() {
            let rest = &data[*pos..];
            if rest.len() >= 2 {
                let len = usize::from(be16(rest, 0));
                if rest.len() >= 2 + len {
                    let start = *pos + 2;
                    *pos = start + len;
                    return Frame::Input(start..start + len);
                }
            }
        }
        loop {
            let want = self.wanted();
            if self.buf.len() >= want {
                return Frame::Buffered;
            }
            let rest = &data[*pos..];
            if rest.is_empty() {
                return Frame::More;
            }
            let take = (want - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            *pos += take;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A response to `www.example.com IN A` with a CNAME and an A answer,
    /// names compressed, an authority NS and an EDNS OPT with a cookie.
    pub(crate) fn sample_response() -> Vec<u8> {
        let mut m = vec![
            0x12, 0x34, // id 0x1234
            0x81, 0xa0, // QR=1 opcode 0 AA=0 TC=0 RD=1 | RA=1 AD=1 rcode 0
            0x00, 0x01, // qdcount 1
            0x00, 0x02, // ancount 2
            0x00, 0x01, // nscount 1
            0x00, 0x01, // arcount 1
            // question at 12: www.example.com IN A
            3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm',
            0, // root
            0x00, 0x01, // qtype A
            0x00, 0x01, // qclass IN
            // answer 1: www.example.com (pointer to 12) CNAME web.example.com
            0xc0, 12, // name: pointer to offset 12
            0x00, 0x05, // type CNAME
            0x00, 0x01, // class IN
            0x00, 0x00, 0x0e, 0x10, // ttl 3600
            0x00, 0x06, // rdlength 6
            3, b'w', b'e', b'b', 0xc0, 16, // "web" + pointer to example.com (16)
        ];
        // answer 2 at 51: web.example.com (pointer to the CNAME target at 45) A 192.0.2.7
        m.extend_from_slice(&[
            0xc0, 45, // name: pointer to the CNAME's target
            0x00, 0x01, // type A
            0x00, 0x01, // class IN
            0x00, 0x00, 0x00, 0x3c, // ttl 60
            0x00, 0x04, // rdlength 4
            192, 0, 2, 7, // address
        ]);
        // authority: example.com NS ns1.example.com
        m.extend_from_slice(&[
            0xc0, 16, // name: example.com
            0x00, 0x02, // type NS
            0x00, 0x01, // class IN
            0x00, 0x01, 0x51, 0x80, // ttl 86400
            0x00, 0x06, // rdlength 6
            3, b'n', b's', b'1', 0xc0, 16, // ns1 + pointer
        ]);
        // additional: OPT, udp 1232, ext rcode 0, version 0, DO, cookie option
        m.extend_from_slice(&[
            0, // root name
            0x00, 41, // type OPT
            0x04, 0xd0, // udp payload size 1232
            0x00, 0x00, 0x80, 0x00, // ext rcode 0, version 0, DO=1
            0x00, 12, // rdlength 12
            0x00, 10, // option code 10 (COOKIE)
            0x00, 8, // option length 8
            1, 2, 3, 4, 5, 6, 7, 8, // client cookie
        ]);
        m
    }

    fn name(buf: &[u8], pos: usize) -> Result<String, ParseError> {
        let mut out = Vec::new();
        write_name(buf, pos, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn header_flags_and_counts() {
        let m = sample_response();
        let h = Header::parse(&m).unwrap();
        assert_eq!(h.id, 0x1234);
        assert!(h.is_response());
        assert_eq!(h.opcode(), 0);
        assert!(!h.authoritative() && !h.truncated() && !h.checking_disabled());
        assert!(h.recursion_desired() && h.recursion_available() && h.authentic_data());
        assert_eq!(h.rcode(), 0);
        assert_eq!((h.qdcount, h.ancount, h.nscount, h.arcount), (1, 2, 1, 1));
        assert_eq!(Header::parse(&m[..11]), Err(ParseError::ShortHeader));
    }

    #[test]
    fn sections_records_and_compressed_names() {
        let buf = sample_response();
        let mut m = Message::default();
        m.parse(&buf, false).unwrap();
        let q = m.question.unwrap();
        assert_eq!(name(&buf, q.name.into()).unwrap(), "www.example.com");
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!((m.answers().len(), m.authorities().len()), (2, 1));
        assert_eq!(m.additionals().len(), 1);
        let cname = m.answers()[0];
        assert_eq!((cname.rtype, cname.class, cname.ttl), (5, 1, 3600));
        assert_eq!(name(&buf, cname.name.into()).unwrap(), "www.example.com");
        let Ok(Rdata::Name(t)) = cname.rdata(&buf) else {
            panic!("cname")
        };
        assert_eq!(name(&buf, t.into()).unwrap(), "web.example.com");
        let a = m.answers()[1];
        assert_eq!(name(&buf, a.name.into()).unwrap(), "web.example.com");
        assert_eq!(a.rdata(&buf), Ok(Rdata::A(Ipv4Addr::new(192, 0, 2, 7))));
        let e = m.edns().unwrap();
        assert_eq!(
            (e.udp_size, e.version, e.ext_rcode, e.dnssec_ok),
            (1232, 0, 0, true)
        );
        let opts: Vec<_> = e.options(&buf).collect();
        assert_eq!(opts, vec![(10, &[1u8, 2, 3, 4, 5, 6, 7, 8][..])]);
        assert_eq!(m.rcode(), 0);
    }

    #[test]
    fn every_prefix_of_a_message_is_an_error_never_a_panic() {
        let buf = sample_response();
        let mut m = Message::default();
        for n in 0..buf.len() {
            assert!(m.parse(&buf[..n], false).is_err(), "prefix {n}");
            // A truncated (TC) view of the prefix keeps what fits.
            let mut tc = buf[..n].to_vec();
            if n >= 4 {
                tc[2] |= 0x02;
                let _ = m.parse(&tc, true);
                assert!(m.records.len() <= 4);
            }
        }
        m.parse(&buf, false).unwrap();
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_errors() {
        // A name that points at itself.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xc0, 12]);
        assert_eq!(skip_name(&m, 12), Err(ParseError::BadName));
        // Two names pointing at each other: 12 -> 14, 14 -> 12.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xc0, 14, 0xc0, 12]);
        assert_eq!(skip_name(&m, 12), Err(ParseError::BadName));
        assert_eq!(skip_name(&m, 14), Err(ParseError::BadName));
        // A label then a pointer back to that label.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[1, b'a', 0xc0, 12]);
        assert_eq!(skip_name(&m, 12), Err(ParseError::BadName));
        // A chain of backward pointers is fine.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[1, b'a', 0, 1, b'b', 0xc0, 12, 1, b'c', 0xc0, 15]);
        assert_eq!(name(&m, 19).unwrap(), "c.b.a");
        assert_eq!(skip_name(&m, 19), Ok(23));
        // Reserved label types 0x40 and 0x80.
        assert_eq!(skip_name(&[0x40, 0], 0), Err(ParseError::BadName));
        assert_eq!(skip_name(&[0x80, 0], 0), Err(ParseError::BadName));
    }

    #[test]
    fn names_longer_than_255_bytes_are_errors() {
        let mut m = Vec::new();
        for _ in 0..4 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.push(0);
        // 4 * 64 + 1 = 257 bytes on the wire.
        assert_eq!(skip_name(&m, 0), Err(ParseError::BadName));
        // 3 labels of 63 plus one of 61: 255 bytes, the longest allowed.
        let mut m = Vec::new();
        for l in [63u8, 63, 63, 61] {
            m.push(l);
            m.extend(std::iter::repeat_n(b'y', usize::from(l)));
        }
        m.push(0);
        assert_eq!(m.len(), 255);
        assert_eq!(skip_name(&m, 0), Ok(255));
    }

    #[test]
    fn root_and_escaped_names() {
        assert_eq!(name(&[0], 0).unwrap(), ".");
        let m = [3, b'a', b'.', 0xff, 1, b'\\', 0];
        assert_eq!(name(&m, 0).unwrap(), "a\\.\\255.\\\\");
    }

    /// Wraps one RDATA in a record at offset 12 of a message whose bytes
    /// 12.. are `prefix` (names for pointers to use).
    fn record(rtype: u16, prefix: &[u8], rdata: &[u8]) -> (Vec<u8>, Record) {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(prefix);
        let at = m.len();
        m.push(0); // owner: root
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 5]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
        let (r, end) = read_record(&m, at).unwrap();
        assert_eq!(end, m.len());
        (m, r)
    }

    #[test]
    fn rdata_of_every_reported_type() {
        let zone = [7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0]; // at 12
                                                                     // MX 10 mail.example
        let (m, r) = record(15, &zone, &[0, 10, 4, b'm', b'a', b'i', b'l', 0xc0, 12]);
        let Ok(Rdata::Mx {
            preference,
            exchange,
        }) = r.rdata(&m)
        else {
            panic!()
        };
        assert_eq!(
            (preference, name(&m, exchange.into()).unwrap().as_str()),
            (10, "mail.example")
        );
        // SOA ns.example hostmaster.example 2024 3600 600 86400 300
        let mut soa = vec![2, b'n', b's', 0xc0, 12, 10];
        soa.extend_from_slice(b"hostmaster");
        soa.extend_from_slice(&[0xc0, 12]);
        for v in [2024u32, 3600, 600, 86400, 300] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        let (m, r) = record(6, &zone, &soa);
        let Ok(Rdata::Soa {
            mname,
            rname,
            serial,
            minimum,
            ..
        }) = r.rdata(&m)
        else {
            panic!()
        };
        assert_eq!(name(&m, mname.into()).unwrap(), "ns.example");
        assert_eq!(name(&m, rname.into()).unwrap(), "hostmaster.example");
        assert_eq!((serial, minimum), (2024, 300));
        // SRV 1 2 5060 sip.example
        let (m, r) = record(
            33,
            &zone,
            &[0, 1, 0, 2, 0x13, 0xc4, 3, b's', b'i', b'p', 0xc0, 12],
        );
        let Ok(Rdata::Srv {
            priority,
            weight,
            port,
            target,
        }) = r.rdata(&m)
        else {
            panic!()
        };
        assert_eq!((priority, weight, port), (1, 2, 5060));
        assert_eq!(name(&m, target.into()).unwrap(), "sip.example");
        // TXT "v=spf1" "-all"
        let (m, r) = record(
            16,
            &[],
            &[
                6, b'v', b'=', b's', b'p', b'f', b'1', 4, b'-', b'a', b'l', b'l',
            ],
        );
        let Ok(Rdata::Txt(d)) = r.rdata(&m) else {
            panic!()
        };
        let s: Vec<&[u8]> = txt_strings(d).collect();
        assert_eq!(s, vec![&b"v=spf1"[..], b"-all"]);
        // TXT whose string length runs past RDATA: malformed.
        let (m, r) = record(16, &[], &[9, b'x']);
        assert!(r.rdata(&m).is_err());
        // CAA 0 issue "ca.example"
        let mut caa = vec![0, 5];
        caa.extend_from_slice(b"issueca.example");
        let (m, r) = record(257, &[], &caa);
        assert_eq!(
            r.rdata(&m),
            Ok(Rdata::Caa {
                flags: 0,
                tag: b"issue",
                value: b"ca.example"
            })
        );
        // DS 60485 RSASHA1 SHA1 <digest>
        let (m, r) = record(43, &[], &[0xec, 0x45, 5, 1, 0xde, 0xad]);
        assert_eq!(
            r.rdata(&m),
            Ok(Rdata::Ds {
                key_tag: 60485,
                algorithm: 5,
                digest_type: 1,
                digest: &[0xde, 0xad]
            })
        );
        // DNSKEY 257 3 ECDSAP256SHA256 <key>
        let (m, r) = record(48, &[], &[1, 1, 3, 13, 0xab]);
        assert_eq!(
            r.rdata(&m),
            Ok(Rdata::Dnskey {
                flags: 257,
                protocol: 3,
                algorithm: 13,
                key: &[0xab]
            })
        );
        // RRSIG A 13 2 300 exp inc 12345 example. <sig>
        let mut sig = vec![0, 1, 13, 2, 0, 0, 1, 44];
        sig.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        sig.extend_from_slice(&1_690_000_000u32.to_be_bytes());
        sig.extend_from_slice(&[0x30, 0x39]);
        sig.extend_from_slice(&[7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0x01, 0x02]);
        let (m, r) = record(46, &[], &sig);
        let Ok(Rdata::Rrsig {
            type_covered,
            original_ttl,
            expiration,
            key_tag,
            signer,
            signature,
            ..
        }) = r.rdata(&m)
        else {
            panic!()
        };
        assert_eq!(
            (type_covered, original_ttl, expiration, key_tag),
            (1, 300, 1_700_000_000, 12345)
        );
        assert_eq!(name(&m, signer.into()).unwrap(), "example");
        assert_eq!(signature, &[1, 2]);
        // NSEC host.example A MX RRSIG NSEC TYPE1234
        let mut nsec = vec![4, b'h', b'o', b's', b't', 0xc0, 12];
        nsec.extend_from_slice(&[0, 6, 0x40, 0x01, 0, 0, 0, 0x03]); // window 0: A(1) MX(15) RRSIG(46) NSEC(47)
        nsec.extend_from_slice(&[
            4, 27, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0x20,
        ]);
        let (m, r) = record(47, &zone, &nsec);
        let Ok(Rdata::Nsec { next, bitmap }) = r.rdata(&m) else {
            panic!()
        };
        assert_eq!(name(&m, next.into()).unwrap(), "host.example");
        assert_eq!(
            nsec_types(bitmap).collect::<Vec<_>>(),
            vec![1, 15, 46, 47, 1234]
        );
        // AAAA 2001:db8::1
        let mut a6 = [0u8; 16];
        a6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a6[15] = 1;
        let (m, r) = record(28, &[], &a6);
        assert_eq!(r.rdata(&m), Ok(Rdata::Aaaa("2001:db8::1".parse().unwrap())));
        // A with 5 bytes, CNAME whose name runs past RDATA: malformed.
        let (m, r) = record(1, &[], &[1, 2, 3, 4, 5]);
        assert_eq!(r.rdata(&m), Err(Rdata::Other(&[1, 2, 3, 4, 5])));
        let (m, r) = record(5, &zone, &[3, b'a', b'b']);
        assert!(r.rdata(&m).is_err());
        // An unknown type is kept as raw bytes.
        let (m, r) = record(65280, &[], &[9, 9]);
        assert_eq!(r.rdata(&m), Ok(Rdata::Other(&[9, 9])));
    }

    #[test]
    fn tc_response_cut_mid_record_keeps_what_fits() {
        let mut buf = sample_response();
        buf[3] |= 0; // flags byte 2
        buf[2] |= 0x02; // TC
        let cut = &buf[..buf.len() - 30];
        let mut m = Message::default();
        assert_eq!(m.parse(cut, false), Err(ParseError::Truncated));
        m.parse(cut, true).unwrap();
        assert_eq!(m.answers().len(), 2);
        assert!(m.header.truncated());
    }

    #[test]
    fn tcp_framing_any_split_gives_the_same_messages() {
        let a = sample_response();
        let b = vec![0xab; 12];
        let mut stream = Vec::new();
        for m in [&a, &b, &a] {
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(m);
        }
        let collect = |pieces: &[&[u8]]| {
            let mut f = TcpFramer::default();
            let mut got: Vec<Vec<u8>> = Vec::new();
            for p in pieces {
                let mut pos = 0;
                loop {
                    match f.next(p, &mut pos) {
                        Frame::Input(r) => got.push(p[r].to_vec()),
                        Frame::Buffered => {
                            got.push(f.message().to_vec());
                            f.clear();
                        }
                        Frame::More => break,
                    }
                }
            }
            (got, f.pending())
        };
        let whole = collect(&[&stream]);
        assert_eq!(whole, (vec![a.clone(), b.clone(), a.clone()], 0));
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let parts = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(collect(&parts), whole, "split at {i}, {j}");
            }
        }
        // A prefix leaves a partial message pending, never a message.
        for n in 1..a.len() + 2 {
            let (got, pending) = collect(&[&stream[..n]]);
            assert!(got.is_empty());
            assert_eq!(pending, n);
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut m = Message::default();
        let mut out = Vec::new();
        for _ in 0..20_000 {
            let len = (crate::test_support::xorshift64(&mut x) % 120) as usize;
            let mut buf: Vec<u8> = (0..len)
                .map(|_| crate::test_support::xorshift64(&mut x) as u8)
                .collect();
            if buf.len() > 12 {
                buf[4] = 0;
                buf[5] = 1; // mostly one question, so records are reached
            }
            if m.parse(&buf, x & 1 == 0).is_ok() {
                for r in m.records.clone() {
                    let _ = r.rdata(&buf);
                    out.clear();
                    let _ = write_name(&buf, r.name.into(), &mut out);
                }
            }
        }
    }
}
