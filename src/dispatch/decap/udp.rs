//! Tunnels over UDP: VXLAN (RFC 7348), GENEVE (RFC 8926), GRE-in-UDP
//! (RFC 8086) and Teredo (RFC 4380).

use super::{be16, be32, Bad, Next};

/// A VXLAN header at `off`: the inner Ethernet frame and the VNI.
#[inline]
pub fn vxlan(b: &[u8], off: usize, end: usize) -> Result<(Next, u32), Bad> {
    let h = match b.get(off..end) {
        Some(h) if h.len() >= 8 + 14 => h,
        _ => return Err(Bad::VxlanTruncated),
    };
    if h[0] & 0x08 == 0 {
        return Err(Bad::VxlanNoVni);
    }
    Ok((
        Next::Ether(off + 8),
        u32::from_be_bytes([0, h[4], h[5], h[6]]),
    ))
}

/// Longest GENEVE options (6 bits of 4-byte words).
const GENEVE_MAX_OPTIONS: usize = 63 * 4;

/// A GENEVE header at `off`: its payload and the VNI. Options are
/// walked (each must fit the announced option length) and skipped.
pub fn geneve(b: &[u8], off: usize, end: usize) -> Result<(Next, u32), Bad> {
    if off + 8 > end {
        return Err(Bad::GeneveTruncated);
    }
    if b[off] >> 6 != 0 {
        return Err(Bad::GeneveVersion);
    }
    let opt_len = usize::from(b[off] & 0x3f) * 4;
    debug_assert!(opt_len <= GENEVE_MAX_OPTIONS);
    let proto = be16(b, off + 2);
    let vni = be32(b, off + 4) >> 8;
    let opts_end = off + 8 + opt_len;
    if opts_end > end {
        return Err(Bad::GeneveTruncated);
    }
    let mut at = off + 8;
    while at < opts_end {
        if at + 4 > opts_end {
            return Err(Bad::GeneveOptions);
        }
        at += 4 + usize::from(b[at + 3] & 0x1f) * 4;
        if at > opts_end {
            return Err(Bad::GeneveOptions);
        }
    }
    let next = match proto {
        0x6558 => Next::Ether(opts_end),
        0x0800 | 0x86dd => Next::Ip(opts_end),
        _ => Next::NotIp,
    };
    Ok((next, vni))
}

/// Teredo at `off`: the IPv6 packet after the optional authentication
/// and origin indication headers, when what follows is an IPv6 header
/// whose payload length fills the datagram exactly and one of whose
/// addresses is a Teredo address (2001:0::/32). `None`: not Teredo.
pub fn teredo(b: &[u8], off: usize, end: usize) -> Option<Next> {
    let mut at = off;
    if at + 2 <= end && be16(b, at) == 0x0001 {
        let id_len = usize::from(*b.get(at + 2)?);
        let au_len = usize::from(*b.get(at + 3)?);
        at += 4 + id_len + au_len + 8 + 1;
    }
    if at + 2 <= end && be16(b, at) == 0x0000 {
        at += 8;
    }
    if at + 40 > end || b[at] >> 4 != 6 {
        return None;
    }
    if at + 40 + usize::from(be16(b, at + 4)) != end {
        return None;
    }
    let teredo_addr = |o: usize| b[o] == 0x20 && b[o + 1] == 0x01 && b[o + 2] == 0 && b[o + 3] == 0;
    if !(teredo_addr(at + 8) || teredo_addr(at + 24)) {
        return None;
    }
    Some(Next::Ip(at))
}
