//! Header decoding in the capture thread: link layer to transport, just
//! enough to key, filter and shard a packet.
//!
//! Link types: Ethernet (with 802.1Q / QinQ), Linux cooked capture (SLL and
//! SLL2), BSD loopback (NULL and LOOP) and raw IP. Parsing is lax
//! (etherparse `LaxSlicedPacket`): a packet cut by the snaplen is still
//! keyed from the headers it has. This is the plain-frame part: the capture
//! thread calls [`crate::dispatch::decap::Decoder`], which uses the fast path here for
//! plain frames (and for both levels of VXLAN), walks tunnels itself, hands
//! IP fragments to [`crate::defrag`], and falls back to the lax path here for
//! the innermost packet. [`decode`] alone (no tunnels, no reassembly) reports
//! a fragment as [`Undecodable::Fragment`].

use crate::flow::community_id::icmp_ports;
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use std::net::IpAddr;

pub use crate::capture::linktype;

/// Why a packet could not be keyed (each is a counter `decode.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecodable {
    /// Shorter than its link or IP header.
    Truncated,
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// An IP fragment: spanlens does not reassemble fragments.
    Fragment,
    /// A transport header cut short.
    TruncatedTransport,
    /// An IP fragment held for reassembly (not counted here: `defrag.*`
    /// counts fragments).
    FragmentHeld,
    /// A malformed encapsulation header, or too many layers.
    Tunnel(Bad),
}

impl Undecodable {
    /// Counter name.
    pub fn counter(self) -> &'static str {
        match self {
            Undecodable::Truncated => "decode.truncated",
            Undecodable::NotIp => "decode.not_ip",
            Undecodable::Fragment => "decode.ip_fragment",
            Undecodable::TruncatedTransport => "decode.truncated_transport",
            Undecodable::FragmentHeld => "defrag.held",
            Undecodable::Tunnel(b) => b.counter(),
        }
    }
}

/// TCP header fields the worker needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFields {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits (FIN 0x01 ... ACK 0x10).
    pub flags: u8,
    /// Raw window.
    pub window: u16,
}

/// What the capture thread learns about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (ICMP: Community ID port equivalent of the type).
    pub sport: u16,
    /// Destination port (ICMP: the paired type, or the code).
    pub dport: u16,
    /// IP protocol number.
    pub proto: u8,
    /// VLAN ids, outer first, 0 when absent.
    pub vlan: [u16; 2],
    /// TCP fields (zero for other transports).
    pub tcp: TcpFields,
    /// Offset of the transport payload in the frame.
    pub payload_off: usize,
    /// Captured payload length.
    pub payload_len: usize,
    /// Payload length the IP header announces (>= `payload_len` when the snaplen cut it).
    pub payload_wire_len: usize,
    /// ICMP one-way message (Community ID must not reorder it).
    pub icmp_one_way: bool,
}

impl Decoded {
    /// Nothing decoded yet (unspecified IPv4 addresses, every field zero).
    pub const NONE: Decoded = Decoded {
        src: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        sport: 0,
        dport: 0,
        proto: 0,
        vlan: [0, 0],
        tcp: TcpFields {
            seq: 0,
            ack: 0,
            flags: 0,
            window: 0,
        },
        payload_off: 0,
        payload_len: 0,
        payload_wire_len: 0,
        icmp_one_way: false,
    };

    /// The network layer's fields; ports, TCP fields and payload still zero.
    pub(crate) fn addresses(src: IpAddr, dst: IpAddr, proto: u8, vlan: [u16; 2]) -> Self {
        Decoded {
            src,
            dst,
            sport: 0,
            dport: 0,
            proto,
            vlan,
            tcp: TcpFields::default(),
            payload_off: 0,
            payload_len: 0,
            payload_wire_len: 0,
            icmp_one_way: false,
        }
    }
}

fn offset_in(frame: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize)
}

/// Decodes one frame of link type `lt`.
#[inline]
pub fn decode(lt: i32, frame: &[u8]) -> Result<Decoded, Undecodable> {
    match decode_common(lt, frame, frame) {
        Some(d) => Ok(d),
        None => decode_lax(lt, frame),
    }
}

/// The common case, a small fraction of the cost of the lax path (`cargo
/// bench --bench hotpath`): Ethernet with at most two VLAN tags, a whole
/// unfragmented IPv4 packet or IPv6 packet without extension headers, and
/// a whole TCP header or UDP datagram. It reads the few header fields it
/// needs directly, with the checks etherparse's header slices make
/// (versions, lengths), instead of building a whole lax packet. Anything else (cut by
/// the snaplen, fragments, ICMP, extension headers, other link types) is
/// `None` and goes to [`decode_lax`]; where both apply they agree (tested
/// frame by frame on every capture).
///
/// `frame` lies inside `base` (the whole captured frame, when `frame` is a
/// frame inside a tunnel); offsets are relative to `base`.
#[inline(always)]
pub(crate) fn decode_common(lt: i32, base: &[u8], frame: &[u8]) -> Option<Decoded> {
    let mut d = Decoded::NONE;
    decode_into(lt, base, frame, &mut d).then_some(d)
}

/// [`decode_common`] into `out`: `true` when it took the packet, and then
/// every field of `out` is written; `false` leaves `out` as it was. Always
/// inlined, and the result written once where the caller keeps it, so the
/// headers are not copied from one `Decoded` to the next on the way out
/// (callgrind: the copies cost about 30 instructions a packet, twice that
/// for a VXLAN packet).
#[inline(always)]
pub(crate) fn decode_into(lt: i32, base: &[u8], frame: &[u8], out: &mut Decoded) -> bool {
    if lt != linktype::ETHERNET {
        return false;
    }
    let be16 = |b: &[u8], i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let Some(eth) = frame.get(..14) else {
        return false;
    };
    let mut ether_type = be16(eth, 12);
    let mut off = 14;
    let mut vlan = [0u16; 2];
    let mut tags = 0;
    while matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
        let Some(tag) = frame.get(off..off + 4) else {
            return false;
        };
        let Some(slot) = vlan.get_mut(tags) else {
            return false;
        };
        *slot = be16(tag, 0) & 0x0fff;
        tags += 1;
        ether_type = be16(tag, 2);
        off += 4;
    }
    let (src, dst, proto, l4) = match ether_type {
        0x0800 => {
            let Some(h) = frame.get(off..off + 20) else {
                return false;
            };
            let ihl = usize::from(h[0] & 0x0f) * 4;
            let total = usize::from(be16(h, 2));
            // Version 4, a whole header, not a fragment.
            if h[0] >> 4 != 4 || ihl < 20 || total < ihl || be16(h, 6) & 0x3fff != 0 {
                return false;
            }
            let Some(l4) = frame.get(off + ihl..off + total) else {
                return false;
            };
            (
                IpAddr::from([h[12], h[13], h[14], h[15]]),
                IpAddr::from([h[16], h[17], h[18], h[19]]),
                h[9],
                l4,
            )
        }
        0x86dd => {
            let Some(h) = frame.get(off..off + 40) else {
                return false;
            };
            let len = usize::from(be16(h, 4));
            if h[0] >> 4 != 6 || len == 0 {
                return false;
            }
            let Some(l4) = frame.get(off + 40..off + 40 + len) else {
                return false;
            };
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&h[8..24]);
            d.copy_from_slice(&h[24..40]);
            (IpAddr::from(s), IpAddr::from(d), h[6], l4)
        }
        _ => return false,
    };
    let (sport, dport, tcp, hl) = match proto {
        6 => {
            let Some(t) = l4.get(..20) else {
                return false;
            };
            let hl = usize::from(t[12] >> 4) * 4;
            if hl < 20 || hl > l4.len() {
                return false;
            }
            let tcp = TcpFields {
                seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
                ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
                flags: t[13],
                window: be16(t, 14),
            };
            (be16(t, 0), be16(t, 2), tcp, hl)
        }
        17 => {
            let Some(u) = l4.get(..8) else {
                return false;
            };
            if usize::from(be16(u, 4)) != l4.len() {
                return false;
            }
            (be16(u, 0), be16(u, 2), TcpFields::default(), 8)
        }
        _ => return false,
    };
    let payload_len = l4.len() - hl;
    *out = Decoded {
        src,
        dst,
        sport,
        dport,
        proto,
        vlan,
        tcp,
        payload_off: offset_in(base, l4) + hl,
        payload_len,
        payload_wire_len: payload_len,
        icmp_one_way: false,
    };
    true
}

/// Any frame of a supported link type, through etherparse's lax slicing.
pub(crate) fn decode_lax(lt: i32, frame: &[u8]) -> Result<Decoded, Undecodable> {
    use linktype::*;
    let sliced = match lt {
        ETHERNET => LaxSlicedPacket::from_ethernet(frame).map_err(|_| Undecodable::Truncated)?,
        LINUX_SLL => {
            let hdr = frame.get(..16).ok_or(Undecodable::Truncated)?;
            let proto = u16::from_be_bytes([hdr[14], hdr[15]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &frame[16..])
        }
        LINUX_SLL2 => {
            let hdr = frame.get(..20).ok_or(Undecodable::Truncated)?;
            let proto = u16::from_be_bytes([hdr[0], hdr[1]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &frame[20..])
        }
        NULL | LOOP => {
            let ip = frame.get(4..).ok_or(Undecodable::Truncated)?;
            LaxSlicedPacket::from_ip(ip).map_err(|_| Undecodable::NotIp)?
        }
        _ => LaxSlicedPacket::from_ip(frame).map_err(|_| Undecodable::NotIp)?,
    };
    from_lax(frame, &sliced)
}

/// The headers of a lax-sliced packet; offsets relative to `frame`, which
/// holds every slice of `sliced`.
pub(crate) fn from_lax(frame: &[u8], sliced: &LaxSlicedPacket<'_>) -> Result<Decoded, Undecodable> {
    let mut vlan = [0u16; 2];
    for (i, v) in sliced.vlan_ids().iter().take(2).enumerate() {
        vlan[i] = v.value();
    }
    let (src, dst, payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Err(Undecodable::NotIp),
        None => {
            return Err(match sliced.stop_err {
                Some(_) if sliced.link.is_some() || !sliced.link_exts.is_empty() => {
                    // Stopped inside an IP header, or a non-IP ether type.
                    if is_ip_ether_type(sliced) {
                        Undecodable::Truncated
                    } else {
                        Undecodable::NotIp
                    }
                }
                Some(_) => Undecodable::Truncated,
                None => Undecodable::NotIp,
            });
        }
    };
    if payload.fragmented {
        return Err(Undecodable::Fragment);
    }
    let proto = payload.ip_number.0;
    let announced = payload.payload.len();
    let mut d = Decoded {
        payload_off: offset_in(frame, payload.payload),
        payload_len: payload.payload.len(),
        payload_wire_len: announced,
        ..Decoded::addresses(src, dst, proto, vlan)
    };
    match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            d.sport = t.source_port();
            d.dport = t.destination_port();
            let hl = t.header_slice().len();
            d.tcp = TcpFields {
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                flags: t.header_slice()[13],
                window: t.window_size(),
            };
            d.payload_off = offset_in(frame, t.payload());
            d.payload_len = t.payload().len();
            d.payload_wire_len = announced.saturating_sub(hl).max(d.payload_len);
        }
        Some(TransportSlice::Udp(u)) => {
            d.sport = u.source_port();
            d.dport = u.destination_port();
            d.payload_off = offset_in(frame, u.payload());
            d.payload_len = u.payload().len();
            d.payload_wire_len = announced.saturating_sub(8).max(d.payload_len);
        }
        _ if proto == 6 || proto == 17 => return Err(Undecodable::TruncatedTransport),
        _ if proto == 1 || proto == 58 => {
            let p = payload.payload;
            if p.len() < 2 {
                return Err(Undecodable::TruncatedTransport);
            }
            let (sp, dp, one_way) = icmp_ports(proto == 58, p[0], p[1]);
            d.sport = sp;
            d.dport = dp;
            d.icmp_one_way = one_way;
        }
        _ => {}
    }
    Ok(d)
}

fn is_ip_ether_type(s: &LaxSlicedPacket<'_>) -> bool {
    match s.ether_payload() {
        Some(p) => p.ether_type == EtherType::IPV4 || p.ether_type == EtherType::IPV6,
        None => false,
    }
}

/// A malformed encapsulation header (counter `decode.<reason>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// GRE header shorter than its flags say.
    GreTruncated,
    /// GRE version other than 0, or version 1 that is not PPTP.
    GreVersion,
    /// GRE with the (deprecated) routing bit.
    GreRouting,
    /// ERSPAN header cut short.
    ErspanTruncated,
    /// ERSPAN version field that does not match its GRE protocol.
    ErspanVersion,
    /// ERSPAN type III frame type other than Ethernet or IP.
    ErspanFrameType,
    /// VXLAN header or inner Ethernet cut short.
    VxlanTruncated,
    /// VXLAN with the I (valid VNI) flag clear.
    VxlanNoVni,
    /// GENEVE header or options cut short.
    GeneveTruncated,
    /// GENEVE version other than 0.
    GeneveVersion,
    /// GENEVE options that do not add up to the option length.
    GeneveOptions,
    /// MPLS label cut short.
    MplsTruncated,
    /// MPLS stack without a bottom label within 16 labels.
    MplsNoBottom,
    /// PPPoE header cut short.
    PppoeTruncated,
    /// PPPoE session header with a wrong version, type or code.
    PppoeHeader,
    /// NSH header cut short.
    NshTruncated,
    /// NSH version or length invalid.
    NshHeader,
    /// NSH next protocol unknown.
    NshNextProtocol,
    /// VN-Tag, E-Tag or FabricPath header cut short.
    TagTruncated,
    /// The packet inside an IP-in-IP tunnel is not of the announced IP version.
    InnerIpVersion,
    /// More encapsulation layers than `decap.max_depth`.
    TooManyLayers,
}

impl Bad {
    /// Counter name.
    pub fn counter(self) -> &'static str {
        match self {
            Bad::GreTruncated => "decode.gre_truncated",
            Bad::GreVersion => "decode.gre_bad_version",
            Bad::GreRouting => "decode.gre_routing",
            Bad::ErspanTruncated => "decode.erspan_truncated",
            Bad::ErspanVersion => "decode.erspan_bad_version",
            Bad::ErspanFrameType => "decode.erspan_bad_frame_type",
            Bad::VxlanTruncated => "decode.vxlan_truncated",
            Bad::VxlanNoVni => "decode.vxlan_no_vni_flag",
            Bad::GeneveTruncated => "decode.geneve_truncated",
            Bad::GeneveVersion => "decode.geneve_bad_version",
            Bad::GeneveOptions => "decode.geneve_bad_options",
            Bad::MplsTruncated => "decode.mpls_truncated",
            Bad::MplsNoBottom => "decode.mpls_no_bottom_label",
            Bad::PppoeTruncated => "decode.pppoe_truncated",
            Bad::PppoeHeader => "decode.pppoe_bad_header",
            Bad::NshTruncated => "decode.nsh_truncated",
            Bad::NshHeader => "decode.nsh_bad_header",
            Bad::NshNextProtocol => "decode.nsh_unknown_next_protocol",
            Bad::TagTruncated => "decode.tag_truncated",
            Bad::InnerIpVersion => "decode.tunnel_inner_ip_version",
            Bad::TooManyLayers => "decode.too_many_layers",
        }
    }
}

impl From<Bad> for Undecodable {
    fn from(b: Bad) -> Self {
        Undecodable::Tunnel(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + 802.1Q (VLAN 10) + IPv4 + TCP SYN 10.0.0.1:40000 -> 10.0.0.2:80.
    static VLAN_TCP_SYN: &[u8] = &[
        // Ethernet: dst, src MACs
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x81,
        0x00, // TPID 802.1Q
        0x00, 0x0a, // TCI: VLAN 10
        0x08, 0x00, // ether type IPv4
        // IPv4: version/IHL, TOS, total length 40, id, flags/frag, TTL 64, proto 6, checksum
        0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0,
        1, // source
        10, 0, 0, 2, // destination
        // TCP: ports 40000 -> 80, seq 1000, ack 0, offset 5, flags SYN, window 65535
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn vlan_tcp_syn() {
        let d = decode(linktype::ETHERNET, VLAN_TCP_SYN).unwrap();
        assert_eq!(d.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(d.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((d.sport, d.dport, d.proto), (40000, 80, 6));
        assert_eq!(d.vlan, [10, 0]);
        assert_eq!(d.tcp.seq, 1000);
        assert_eq!(d.tcp.flags, 0x02);
        assert_eq!(d.payload_len, 0);
        assert_eq!(d.payload_off, VLAN_TCP_SYN.len());
    }

    #[test]
    fn truncated_and_non_ip_are_classified() {
        assert_eq!(
            decode(linktype::ETHERNET, &VLAN_TCP_SYN[..10]),
            Err(Undecodable::Truncated)
        );
        let mut arp = VLAN_TCP_SYN[..18].to_vec();
        arp[16] = 0x08;
        arp[17] = 0x06;
        arp.extend_from_slice(&[0u8; 28]);
        assert!(matches!(
            decode(linktype::ETHERNET, &arp),
            Err(Undecodable::NotIp)
        ));
    }

    #[test]
    fn every_prefix_of_a_frame_decodes_or_errors_without_panic() {
        for n in 0..VLAN_TCP_SYN.len() {
            let _ = decode(linktype::ETHERNET, &VLAN_TCP_SYN[..n]);
            let _ = decode(linktype::LINUX_SLL, &VLAN_TCP_SYN[..n]);
            let _ = decode(linktype::NULL, &VLAN_TCP_SYN[..n]);
            let _ = decode(linktype::RAW, &VLAN_TCP_SYN[..n]);
        }
    }

    #[test]
    fn raw_ip_and_null_loopback() {
        let ip = &VLAN_TCP_SYN[18..];
        let d = decode(linktype::RAW, ip).unwrap();
        assert_eq!((d.sport, d.dport), (40000, 80));
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(ip);
        let d = decode(linktype::NULL, &null).unwrap();
        assert_eq!(d.vlan, [0, 0]);
        assert_eq!(d.dport, 80);
    }

    /// Both paths on every frame of every capture at hand: where the common
    /// path answers, the lax path answers the same.
    #[test]
    fn common_path_agrees_with_the_lax_path_on_every_captured_frame() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut files: Vec<_> = std::iter::once(data)
            .chain(crate::test_support::corpus_dir())
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        files.sort();
        let (mut common, mut total) = (0, 0);
        for f in &files {
            let Ok(mut cap) = pcap::Capture::from_file(f) else {
                continue;
            };
            let lt = cap.get_datalink().0;
            while let Ok(p) = cap.next_packet() {
                total += 1;
                if let Some(d) = decode_common(lt, p.data, p.data) {
                    common += 1;
                    assert_eq!(Ok(d), decode_lax(lt, p.data), "{}", f.display());
                }
            }
        }
        assert!(total > 1000, "too few frames to compare: {total}");
        assert!(common * 2 > total, "common path took {common} of {total}");
    }

    #[test]
    fn common_path_leaves_the_unusual_to_the_lax_path() {
        // VLAN-tagged TCP SYN: common.
        assert!(decode_common(linktype::ETHERNET, VLAN_TCP_SYN, VLAN_TCP_SYN).is_some());
        // Cut inside the TCP header, a fragment, a raw IP link: lax.
        assert!(decode_common(
            linktype::ETHERNET,
            VLAN_TCP_SYN,
            &VLAN_TCP_SYN[..VLAN_TCP_SYN.len() - 1]
        )
        .is_none());
        let mut frag = VLAN_TCP_SYN.to_vec();
        frag[24] = 0x20;
        assert!(decode_common(linktype::ETHERNET, &frag, &frag).is_none());
        assert_eq!(
            decode(linktype::ETHERNET, &frag),
            Err(Undecodable::Fragment)
        );
        assert!(decode_common(linktype::RAW, &VLAN_TCP_SYN[18..], &VLAN_TCP_SYN[18..]).is_none());
        // Ethernet padding after the IP packet is not payload.
        let mut padded = VLAN_TCP_SYN.to_vec();
        padded.extend_from_slice(&[0; 6]);
        let d = decode_common(linktype::ETHERNET, &padded, &padded).unwrap();
        assert_eq!(d.payload_len, 0);
        assert_eq!(Ok(d), decode_lax(linktype::ETHERNET, &padded));
    }

    #[test]
    fn fragment_is_reported() {
        let mut f = VLAN_TCP_SYN[18..].to_vec();
        f[6] = 0x20; // more fragments
        assert_eq!(decode(linktype::RAW, &f), Err(Undecodable::Fragment));
    }
}
