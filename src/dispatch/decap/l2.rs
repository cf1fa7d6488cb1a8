//! Link-layer encapsulations and tags: MPLS label stacks (IP payload or an
//! Ethernet pseudowire with or without control word), PPPoE sessions, NSH
//! (RFC 8300), VN-Tag (802.1Qbh), 802.1BR E-Tag and Cisco FabricPath.
//! 802.1Q and 802.1ad tags are VLAN ids, handled by the walker.

use super::{be16, Bad, Next};

/// Most MPLS labels in one stack before it counts as having no bottom.
pub const MAX_MPLS_LABELS: usize = 16;

/// An MPLS stack at `off`: what follows its bottom label.
pub fn mpls(b: &[u8], off: usize, end: usize) -> Result<Next, Bad> {
    let mut at = off;
    for _ in 0..MAX_MPLS_LABELS {
        if at + 4 > end {
            return Err(Bad::MplsTruncated);
        }
        let bottom = b[at + 2] & 1 != 0;
        at += 4;
        if bottom {
            let Some(&first) = b.get(at) else {
                return Err(Bad::MplsTruncated);
            };
            return Ok(match first >> 4 {
                4 | 6 if looks_like_ip(b, at, end) => Next::Ip(at),
                // Pseudowire control word (RFC 4385: first nibble 0), then Ethernet.
                0 => Next::Ether(at + 4),
                // An Ethernet pseudowire without control word.
                _ => Next::Ether(at),
            });
        }
    }
    Err(Bad::MplsNoBottom)
}

/// Whether the bytes after a bottom label are an IP packet rather than an
/// Ethernet pseudowire without control word whose destination MAC starts
/// with a 4 or a 6: the IP length must match what is there.
fn looks_like_ip(b: &[u8], at: usize, end: usize) -> bool {
    let rest = end - at;
    // Up to 46 bytes of Ethernet padding may follow a short packet.
    let fits = |len: usize| len <= rest && rest - len <= 46;
    match b[at] >> 4 {
        4 => rest >= 20 && b[at] & 0x0f >= 5 && fits(usize::from(be16(b, at + 2))),
        6 => rest >= 40 && fits(40 + usize::from(be16(b, at + 4))),
        _ => false,
    }
}

/// A PPPoE session header at `off`: the PPP payload and the session id.
pub fn pppoe(b: &[u8], off: usize, end: usize) -> Result<(Next, u16, usize), Bad> {
    if off + 7 > end {
        return Err(Bad::PppoeTruncated);
    }
    if b[off] != 0x11 || b[off + 1] != 0 {
        return Err(Bad::PppoeHeader);
    }
    let session = be16(b, off + 2);
    let len = usize::from(be16(b, off + 4));
    let region_end = (off + 6 + len).min(end);
    let next = ppp(b, off + 6, region_end)?;
    Ok((next, session, region_end))
}

/// A PPP frame at `off` (address/control optional, 1- or 2-byte protocol).
pub fn ppp(b: &[u8], off: usize, end: usize) -> Result<Next, Bad> {
    let mut at = off;
    if at + 2 <= end && b[at] == 0xff && b[at + 1] == 0x03 {
        at += 2;
    }
    let Some(&p0) = b.get(at).filter(|_| at < end) else {
        return Err(Bad::PppoeTruncated);
    };
    let (proto, hl) = if p0 & 1 == 1 {
        (u16::from(p0), 1)
    } else {
        if at + 2 > end {
            return Err(Bad::PppoeTruncated);
        }
        (be16(b, at), 2)
    };
    Ok(match proto {
        0x21 | 0x57 => Next::Ip(at + hl),
        _ => Next::NotIp,
    })
}

/// An NSH header at `off`.
pub fn nsh(b: &[u8], off: usize, end: usize) -> Result<Next, Bad> {
    if off + 8 > end {
        return Err(Bad::NshTruncated);
    }
    if b[off] >> 6 != 0 {
        return Err(Bad::NshHeader);
    }
    let len = usize::from(b[off + 1] & 0x3f) * 4;
    let md = b[off + 2] & 0x0f;
    if len < 8 || (md == 1 && len != 24) {
        return Err(Bad::NshHeader);
    }
    let at = off + len;
    if at > end {
        return Err(Bad::NshTruncated);
    }
    Ok(match b[off + 3] {
        1 | 2 => Next::Ip(at),
        3 => Next::Ether(at),
        4 => Next::EtherType(0x894f, at),
        5 => Next::EtherType(0x8847, at),
        _ => return Err(Bad::NshNextProtocol),
    })
}

/// A VN-Tag (4 bytes, then the ether type).
pub fn vntag(b: &[u8], off: usize, end: usize) -> Result<Next, Bad> {
    if off + 6 > end {
        return Err(Bad::TagTruncated);
    }
    Ok(Next::EtherType(be16(b, off + 4), off + 6))
}

/// An 802.1BR E-Tag (6 bytes, then the ether type).
pub fn etag(b: &[u8], off: usize, end: usize) -> Result<Next, Bad> {
    if off + 8 > end {
        return Err(Bad::TagTruncated);
    }
    Ok(Next::EtherType(be16(b, off + 6), off + 8))
}

/// Cisco FabricPath: a 16-byte outer header (outer addresses with switch
/// ids, ether type 0x8903, FTAG and TTL) at `frame_off`, then the
/// original Ethernet frame.
pub fn fabricpath(frame_off: usize, end: usize) -> Result<Next, Bad> {
    if frame_off + 16 + 14 > end {
        return Err(Bad::TagTruncated);
    }
    Ok(Next::Ether(frame_off + 16))
}
