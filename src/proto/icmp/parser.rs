//! ICMPv4 and ICMPv6 message parsing: pure, bounded, no events.
//!
//! ICMPv4 is RFC 792 (with RFC 950 address mask and RFC 1122 section
//! 3.2.2); ICMPv6 is RFC 4443 (echo and errors) and RFC 4861 (neighbour
//! discovery, named only). Every message starts with type, code and
//! checksum; echo messages (and the other query/reply pairs Packetbeat
//! tracks) carry an identifier and a sequence number in the next four
//! bytes. Error messages (destination unreachable, time exceeded,
//! parameter problem, packet too big, source quench, redirect) quote the
//! start of the datagram that caused them: its IP header and at least the
//! first 8 bytes of its transport header, enough for the 5-tuple
//! ([`Quoted`]), which links the error to the flow it is about.
//!
//! Names ([`type_code_text`]) are the ones gopacket prints, which is what
//! Packetbeat writes in `icmp.request.message` / `icmp.response.message`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Bytes of the fixed ICMP header Packetbeat does not count as payload
/// (type, code, checksum and the 4-byte rest of header).
pub const HEADER_LEN: usize = 8;

/// ICMP for IPv4 or ICMPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// ICMP (IP protocol 1).
    V4,
    /// ICMPv6 (IPv6 next header 58).
    V6,
}

impl Version {
    /// `icmp.version`.
    pub fn number(self) -> u8 {
        match self {
            Version::V4 => 4,
            Version::V6 => 6,
        }
    }
}

/// What role a message plays in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Expects a reply with the same id and sequence (echo, timestamp,
    /// information, address mask requests).
    Request,
    /// Answers a request.
    Reply,
    /// An error about another datagram (it quotes that datagram).
    Error,
    /// Anything else (router and neighbour discovery, ...): reported alone.
    Other,
}

/// One ICMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// v4 or v6.
    pub version: Version,
    /// Type.
    pub typ: u8,
    /// Code.
    pub code: u8,
    /// Identifier of a query/reply message (0 otherwise).
    pub id: u16,
    /// Sequence number of a query/reply message (0 otherwise).
    pub seq: u16,
    /// Bytes after the 8-byte header (the echo data, or the quoted datagram).
    pub payload: &'a [u8],
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer than the 8 bytes of an ICMP header.
    #[error("shorter than an ICMP header")]
    Short,
}

impl<'a> Message<'a> {
    /// Parses the ICMP message that is the payload of an IP packet.
    pub fn parse(version: Version, b: &'a [u8]) -> Result<Message<'a>, ParseError> {
        if b.len() < HEADER_LEN {
            return Err(ParseError::Short);
        }
        let (typ, code) = (b[0], b[1]);
        let mut m = Message {
            version,
            typ,
            code,
            id: 0,
            seq: 0,
            payload: &b[HEADER_LEN..],
        };
        if matches!(m.role(), Role::Request | Role::Reply) {
            m.id = u16::from_be_bytes([b[4], b[5]]);
            m.seq = u16::from_be_bytes([b[6], b[7]]);
        }
        Ok(m)
    }

    /// The message's role, from its type (Packetbeat's tables).
    pub fn role(&self) -> Role {
        match (self.version, self.typ) {
            // Echo, timestamp, information, address mask (RFC 792, 950).
            (Version::V4, 8 | 13 | 15 | 17) => Role::Request,
            (Version::V4, 0 | 14 | 16 | 18) => Role::Reply,
            // Unreachable, source quench, redirect, time exceeded, parameter problem.
            (Version::V4, 3 | 4 | 5 | 11 | 12) => Role::Error,
            (Version::V6, 128) => Role::Request,
            (Version::V6, 129) => Role::Reply,
            // Unreachable, packet too big, time exceeded, parameter problem.
            (Version::V6, 1..=4) => Role::Error,
            _ => Role::Other,
        }
    }

    /// The reply type that answers this request type.
    pub fn reply_type(&self) -> Option<u8> {
        match (self.version, self.typ) {
            (Version::V4, 8) => Some(0),
            (Version::V4, 13 | 15 | 17) => Some(self.typ + 1),
            (Version::V6, 128) => Some(129),
            _ => None,
        }
    }

    /// For an error message, the datagram it quotes.
    pub fn quoted(&self) -> Option<Quoted> {
        if self.role() != Role::Error {
            return None;
        }
        // Redirect (v4 type 5) carries a gateway address in the rest of
        // header; the quoted datagram still starts at byte 8.
        Quoted::parse(self.version, self.payload)
    }
}

/// The start of the datagram an ICMP error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// Its source (the host that sent the failed datagram).
    pub src: IpAddr,
    /// Its destination.
    pub dst: IpAddr,
    /// Its IP protocol (6 TCP, 17 UDP, 1 or 58 ICMP, ...).
    pub proto: u8,
    /// TCP/UDP source port (0 for other protocols or when not quoted).
    pub sport: u16,
    /// TCP/UDP destination port.
    pub dport: u16,
}

impl Quoted {
    /// Parses a quoted IPv4 (RFC 792) or IPv6 (RFC 4443 section 3) datagram
    /// start. The ports need the first 4 bytes of the transport header.
    pub fn parse(version: Version, b: &[u8]) -> Option<Quoted> {
        let (src, dst, proto, rest): (IpAddr, IpAddr, u8, &[u8]) = match version {
            Version::V4 => {
                let h = b.get(..20)?;
                if h[0] >> 4 != 4 {
                    return None;
                }
                let ihl = usize::from(h[0] & 0xf) * 4;
                if ihl < 20 {
                    return None;
                }
                let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
                let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
                // A non-first fragment has no transport header.
                let frag_off = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
                let rest = if frag_off == 0 {
                    b.get(ihl..).unwrap_or(&[])
                } else {
                    &[]
                };
                (src.into(), dst.into(), h[9], rest)
            }
            Version::V6 => {
                let h = b.get(..40)?;
                if h[0] >> 4 != 6 {
                    return None;
                }
                let mut a = [0u8; 16];
                a.copy_from_slice(&h[8..24]);
                let src = Ipv6Addr::from(a);
                a.copy_from_slice(&h[24..40]);
                let dst = Ipv6Addr::from(a);
                // Walk a bounded number of extension headers (RFC 8200 4.1).
                let (mut next, mut pos) = (h[6], 40usize);
                let mut rest: &[u8] = &[];
                for _ in 0..8 {
                    match next {
                        0 | 43 | 60 => {
                            let e = b.get(pos..pos + 2)?;
                            next = e[0];
                            pos += (usize::from(e[1]) + 1) * 8;
                        }
                        44 => {
                            let e = b.get(pos..pos + 8)?;
                            next = e[0];
                            let off = u16::from_be_bytes([e[2], e[3]]) >> 3;
                            pos += 8;
                            if off != 0 {
                                return Some(Quoted {
                                    src: src.into(),
                                    dst: dst.into(),
                                    proto: next,
                                    sport: 0,
                                    dport: 0,
                                });
                            }
                        }
                        _ => {
                            rest = b.get(pos..).unwrap_or(&[]);
                            break;
                        }
                    }
                }
                (src.into(), dst.into(), next, rest)
            }
        };
        let (sport, dport) = match (proto, rest.get(..4)) {
            (6 | 17 | 132 | 136, Some(p)) => (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            ),
            _ => (0, 0),
        };
        Some(Quoted {
            src,
            dst,
            proto,
            sport,
            dport,
        })
    }
}

/// The gopacket text of a type and code, as Packetbeat writes it
/// (`EchoRequest`, `DestinationUnreachable(Port)`, `TimeExceeded(TTLExceeded)`).
/// Written into `out` so that no string is allocated.
pub fn type_code_text(version: Version, typ: u8, code: u8, out: &mut String) {
    use std::fmt::Write;
    let (name, codes): (&str, &[&str]) = match version {
        Version::V4 => match typ {
            0 => ("EchoReply", &[]),
            3 => (
                "DestinationUnreachable",
                &[
                    "Net",
                    "Host",
                    "Protocol",
                    "Port",
                    "FragmentationNeeded",
                    "SourceRoutingFailed",
                    "NetUnknown",
                    "HostUnknown",
                    "SourceIsolated",
                    "NetAdminProhibited",
                    "HostAdminProhibited",
                    "NetTOS",
                    "HostTOS",
                    "CommAdminProhibited",
                    "HostPrecedence",
                    "PrecedenceCutoff",
                ],
            ),
            4 => ("SourceQuench", &[]),
            5 => ("Redirect", &["Network", "Host", "TOS+Network", "TOS+Host"]),
            8 => ("EchoRequest", &[]),
            9 => ("RouterAdvertisement", &[]),
            10 => ("RouterSolicitation", &[]),
            11 => (
                "TimeExceeded",
                &["TTLExceeded", "FragmentReassemblyTimeExceeded"],
            ),
            12 => (
                "ParameterProblem",
                &["PointerIndicatesError", "MissingOption", "BadLength"],
            ),
            13 => ("TimestampRequest", &[]),
            14 => ("TimestampReply", &[]),
            15 => ("InfoRequest", &[]),
            16 => ("InfoReply", &[]),
            17 => ("AddressMaskRequest", &[]),
            18 => ("AddressMaskReply", &[]),
            _ => {
                let _ = write!(out, "{typ}({code})");
                return;
            }
        },
        Version::V6 => match typ {
            1 => (
                "DestinationUnreachable",
                &[
                    "NoRouteToDst",
                    "AdminProhibited",
                    "BeyondScopeOfSrc",
                    "AddressUnreachable",
                    "PortUnreachable",
                    "SrcAddressFailedPolicy",
                    "RejectRouteToDst",
                ],
            ),
            2 => ("PacketTooBig", &[]),
            3 => (
                "TimeExceeded",
                &["HopLimitExceeded", "FragmentReassemblyTimeExceeded"],
            ),
            4 => (
                "ParameterProblem",
                &[
                    "ErroneousHeaderField",
                    "UnrecognizedNextHeader",
                    "UnrecognizedIPv6Option",
                ],
            ),
            128 => ("EchoRequest", &[]),
            129 => ("EchoReply", &[]),
            130 => ("MLDv1MulticastListenerQuery", &[]),
            131 => ("MLDv1MulticastListenerReport", &[]),
            132 => ("MLDv1MulticastListenerDone", &[]),
            133 => ("RouterSolicitation", &[]),
            134 => ("RouterAdvertisement", &[]),
            135 => ("NeighborSolicitation", &[]),
            136 => ("NeighborAdvertisement", &[]),
            137 => ("Redirect", &[]),
            143 => ("MLDv2MulticastListenerReport", &[]),
            _ => {
                let _ = write!(out, "{typ}({code})");
                return;
            }
        },
    };
    out.push_str(name);
    if codes.is_empty() {
        if code != 0 {
            let _ = write!(out, "(Code: {code})");
        }
    } else if let Some(c) = codes.get(usize::from(code)) {
        let _ = write!(out, "({c})");
    } else {
        let _ = write!(out, "(Code: {code})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_and_reply() {
        let req = [
            8, 0, // type 8 EchoRequest, code 0
            0xf7, 0xf9, // checksum
            0x00, 0x05, // identifier 5
            0x00, 0x01, // sequence 1
            b'a', b'b', b'c', b'd', // data: 4 bytes
        ];
        let m = Message::parse(Version::V4, &req).unwrap();
        assert_eq!((m.typ, m.code, m.id, m.seq), (8, 0, 5, 1));
        assert_eq!(m.role(), Role::Request);
        assert_eq!(m.reply_type(), Some(0));
        assert_eq!(m.payload, b"abcd");
        let mut rep = req;
        rep[0] = 0; // EchoReply
        let r = Message::parse(Version::V4, &rep).unwrap();
        assert_eq!((r.role(), r.id, r.seq), (Role::Reply, 5, 1));
        let v6 = [128, 0, 0, 0, 0x12, 0x34, 0, 9];
        let m = Message::parse(Version::V6, &v6).unwrap();
        assert_eq!(
            (m.role(), m.id, m.seq, m.reply_type()),
            (Role::Request, 0x1234, 9, Some(129))
        );
        assert!(m.payload.is_empty());
    }

    #[test]
    fn every_prefix_shorter_than_the_header_is_an_error() {
        let req = [8u8, 0, 0, 0, 0, 5, 0, 1, 1, 2];
        for n in 0..HEADER_LEN {
            assert_eq!(
                Message::parse(Version::V4, &req[..n]),
                Err(ParseError::Short)
            );
            assert_eq!(
                Message::parse(Version::V6, &req[..n]),
                Err(ParseError::Short)
            );
        }
        for n in HEADER_LEN..=req.len() {
            assert_eq!(
                Message::parse(Version::V4, &req[..n])
                    .unwrap()
                    .payload
                    .len(),
                n - 8
            );
        }
    }

    /// Destination unreachable (port) about a UDP datagram 10.0.0.1:40000 -> 10.0.0.2:53.
    fn port_unreachable_v4() -> Vec<u8> {
        let mut m = vec![
            3, 3, // type 3 DestinationUnreachable, code 3 Port
            0, 0, // checksum
            0, 0, 0, 0, // unused
        ];
        m.extend_from_slice(&[
            0x45, 0, 0, 40, // IPv4, IHL 5, total length 40
            0, 1, 0x40, 0, // id 1, DF, fragment offset 0
            64, 17, 0, 0, // TTL 64, protocol UDP, checksum
            10, 0, 0, 1, // source
            10, 0, 0, 2, // destination
            0x9c, 0x40, 0, 53, // UDP source port 40000, destination port 53
            0, 20, 0, 0, // UDP length, checksum
        ]);
        m
    }

    #[test]
    fn errors_quote_the_flow_they_are_about() {
        let b = port_unreachable_v4();
        let m = Message::parse(Version::V4, &b).unwrap();
        assert_eq!(m.role(), Role::Error);
        let q = m.quoted().unwrap();
        assert_eq!(q.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(q.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((q.proto, q.sport, q.dport), (17, 40000, 53));
        // Every cut of the quote: never a panic; ports only when present.
        for n in 0..b.len() {
            let m = Message::parse(Version::V4, &b[..n]);
            if let Ok(m) = m {
                if let Some(q) = m.quoted() {
                    assert!(n >= 28);
                    assert_eq!(q.dport != 0, n >= 32);
                }
            }
        }
        // ICMPv6 time exceeded about TCP [2001:db8::1]:5000 -> [2001:db8::2]:443.
        let mut v6 = vec![3, 0, 0, 0, 0, 0, 0, 0]; // TimeExceeded(HopLimitExceeded), unused
        v6.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 1]); // version 6, payload 20, next TCP, hop 1
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = 1;
        v6.extend_from_slice(&a);
        a[15] = 2;
        v6.extend_from_slice(&a);
        v6.extend_from_slice(&[0x13, 0x88, 0x01, 0xbb, 0, 0, 0, 0]); // ports 5000, 443
        let q = Message::parse(Version::V6, &v6).unwrap().quoted().unwrap();
        assert_eq!((q.proto, q.sport, q.dport), (6, 5000, 443));
        assert_eq!(q.dst, "2001:db8::2".parse::<IpAddr>().unwrap());
        // An echo has no quote.
        let e = Message::parse(Version::V4, &[8, 0, 0, 0, 0, 1, 0, 1]).unwrap();
        assert_eq!(e.quoted(), None);
    }

    #[test]
    fn gopacket_texts() {
        let t = |v, ty, c| {
            let mut s = String::new();
            type_code_text(v, ty, c, &mut s);
            s
        };
        assert_eq!(t(Version::V4, 8, 0), "EchoRequest");
        assert_eq!(t(Version::V4, 0, 0), "EchoReply");
        assert_eq!(t(Version::V4, 3, 3), "DestinationUnreachable(Port)");
        assert_eq!(t(Version::V4, 11, 0), "TimeExceeded(TTLExceeded)");
        assert_eq!(t(Version::V4, 3, 99), "DestinationUnreachable(Code: 99)");
        assert_eq!(t(Version::V6, 128, 0), "EchoRequest");
        assert_eq!(
            t(Version::V6, 1, 4),
            "DestinationUnreachable(PortUnreachable)"
        );
        assert_eq!(t(Version::V6, 200, 1), "200(1)");
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..20_000 {
            let len = (crate::test_support::xorshift64(&mut x) % 90) as usize;
            let mut b: Vec<u8> = (0..len)
                .map(|_| crate::test_support::xorshift64(&mut x) as u8)
                .collect();
            if b.len() > 8 {
                b[0] = [3, 11, 1, 3, 8, 0][(x % 6) as usize];
                b[8] = if x & 1 == 0 { 0x45 } else { 0x60 };
            }
            for v in [Version::V4, Version::V6] {
                if let Ok(m) = Message::parse(v, &b) {
                    let _ = m.quoted();
                }
            }
        }
    }
}
