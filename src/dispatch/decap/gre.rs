//! GRE (RFC 2784/2890, and PPTP's enhanced GRE version 1) and ERSPAN
//! types I, II and III carried in it.

use super::{be16, be32, Bad, Erspan, Kind, Next};

/// What a GRE header at `off` leads to.
#[derive(Debug, Clone, Copy)]
pub struct Gre {
    /// The payload.
    pub next: Next,
    /// The encapsulation, for counters and `tunnel.type`.
    pub kind: Kind,
    /// GRE key, else the ERSPAN session id.
    pub id: Option<u32>,
    /// ERSPAN header fields.
    pub erspan: Option<Erspan>,
}

/// Parses the GRE header (and an ERSPAN header after it).
pub fn gre(b: &[u8], off: usize, end: usize, erspan_on: bool) -> Result<Gre, Bad> {
    if off + 4 > end {
        return Err(Bad::GreTruncated);
    }
    let flags = be16(b, off);
    let proto = be16(b, off + 2);
    let (c, r, k, s) = (
        flags & 0x8000 != 0,
        flags & 0x4000 != 0,
        flags & 0x2000 != 0,
        flags & 0x1000 != 0,
    );
    let mut at = off + 4;
    let mut key = None;
    match flags & 7 {
        0 => {
            if r {
                return Err(Bad::GreRouting);
            }
            if c {
                at += 4;
            }
            if k {
                if at + 4 > end {
                    return Err(Bad::GreTruncated);
                }
                key = Some(be32(b, at));
                at += 4;
            }
            if s {
                at += 4;
            }
        }
        1 => {
            // PPTP: key (payload length, call id) mandatory, PPP inside.
            if proto != 0x880b || !k {
                return Err(Bad::GreVersion);
            }
            at += 4;
            if s {
                at += 4;
            }
            if flags & 0x0080 != 0 {
                at += 4;
            }
        }
        _ => return Err(Bad::GreVersion),
    }
    if at > end {
        return Err(Bad::GreTruncated);
    }
    let plain = |next, kind| {
        Ok(Gre {
            next,
            kind,
            id: key,
            erspan: None,
        })
    };
    match proto {
        0x0800 | 0x86dd => plain(Next::Ip(at), Kind::Gre),
        0x6558 => plain(Next::Ether(at), Kind::Gretap),
        0x8847 | 0x8848 => plain(Next::EtherType(proto, at), Kind::Gre),
        0x880b => plain(super::l2::ppp(b, at, end)?, Kind::Gre),
        0x88be | 0x22eb if erspan_on => erspan(b, at, end, proto == 0x22eb, s),
        _ => plain(Next::NotIp, Kind::Gre),
    }
}

/// ERSPAN: type I (0x88BE without GRE sequence number: no header), type II
/// (0x88BE, version 1, 8 bytes) or type III (0x22EB, version 2, 12 bytes
/// plus an optional 8-byte platform sub-header).
fn erspan(b: &[u8], at: usize, end: usize, type3: bool, seq: bool) -> Result<Gre, Bad> {
    if !type3 && !seq {
        return Ok(Gre {
            next: Next::Ether(at),
            kind: Kind::Erspan1,
            id: None,
            erspan: Some(Erspan {
                version: 1,
                ..Erspan::default()
            }),
        });
    }
    let hl = if type3 { 12 } else { 8 };
    if at + hl > end {
        return Err(Bad::ErspanTruncated);
    }
    let version = b[at] >> 4;
    if version != if type3 { 2 } else { 1 } {
        return Err(Bad::ErspanVersion);
    }
    let vlan = be16(b, at) & 0x0fff;
    let session = be16(b, at + 2) & 0x03ff;
    let mut e = Erspan {
        version: if type3 { 3 } else { 2 },
        session,
        vlan,
        direction: None,
        timestamp: None,
    };
    let mut next_at = at + hl;
    let mut next = Next::Ether(next_at);
    if type3 {
        e.timestamp = Some(be32(b, at + 4));
        let w = be16(b, at + 10);
        e.direction = Some((w >> 3 & 1) as u8);
        if w & 1 != 0 {
            next_at += 8;
            if next_at > end {
                return Err(Bad::ErspanTruncated);
            }
        }
        next = match (w >> 10) & 0x1f {
            0 => Next::Ether(next_at),
            2 => Next::Ip(next_at),
            _ => return Err(Bad::ErspanFrameType),
        };
    }
    Ok(Gre {
        next,
        kind: if type3 { Kind::Erspan3 } else { Kind::Erspan2 },
        id: Some(u32::from(session)),
        erspan: Some(e),
    })
}
