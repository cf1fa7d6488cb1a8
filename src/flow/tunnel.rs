//! The tunnel record a flow keeps (`tunnel.*`): which encapsulations a
//! packet came through, its tenant id and outer addresses. Decoded by
//! `dispatch::decap`; written into events by `event`.

use std::net::IpAddr;

/// An encapsulation (`tunnel.type`, counter `decap.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Kind {
    /// MPLS label stack.
    #[default]
    Mpls,
    /// PPPoE session.
    Pppoe,
    /// GRE carrying IP, PPP or MPLS.
    Gre,
    /// GRE transparent Ethernet bridging (0x6558).
    Gretap,
    /// ERSPAN type I.
    Erspan1,
    /// ERSPAN type II.
    Erspan2,
    /// ERSPAN type III.
    Erspan3,
    /// VXLAN.
    Vxlan,
    /// GENEVE.
    Geneve,
    /// GRE in UDP.
    GreUdp,
    /// IPv4 in IPv4.
    Ip4in4,
    /// IPv6 in IPv4 (6in4, protocol 41).
    Ip6in4,
    /// IPv4 in IPv6.
    Ip4in6,
    /// IPv6 in IPv6.
    Ip6in6,
    /// Teredo (IPv6 in UDP).
    Teredo,
    /// NSH.
    Nsh,
    /// VN-Tag.
    Vntag,
    /// 802.1BR E-Tag.
    Etag,
    /// Cisco FabricPath.
    Fabricpath,
}

impl Kind {
    /// Every kind, in counter order.
    pub const ALL: [Kind; 19] = [
        Kind::Mpls,
        Kind::Pppoe,
        Kind::Gre,
        Kind::Gretap,
        Kind::Erspan1,
        Kind::Erspan2,
        Kind::Erspan3,
        Kind::Vxlan,
        Kind::Geneve,
        Kind::GreUdp,
        Kind::Ip4in4,
        Kind::Ip6in4,
        Kind::Ip4in6,
        Kind::Ip6in6,
        Kind::Teredo,
        Kind::Nsh,
        Kind::Vntag,
        Kind::Etag,
        Kind::Fabricpath,
    ];

    /// `tunnel.type`.
    pub fn name(self) -> &'static str {
        self.names().0
    }

    /// Counter of packets that had this layer.
    pub fn counter(self) -> &'static str {
        self.names().1
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Mpls => ("mpls", "decap.mpls"),
            Kind::Pppoe => ("pppoe", "decap.pppoe"),
            Kind::Gre => ("gre", "decap.gre"),
            Kind::Gretap => ("gretap", "decap.gretap"),
            Kind::Erspan1 => ("erspan1", "decap.erspan1"),
            Kind::Erspan2 => ("erspan2", "decap.erspan2"),
            Kind::Erspan3 => ("erspan3", "decap.erspan3"),
            Kind::Vxlan => ("vxlan", "decap.vxlan"),
            Kind::Geneve => ("geneve", "decap.geneve"),
            Kind::GreUdp => ("gre_udp", "decap.gre_udp"),
            Kind::Ip4in4 => ("ipv4_in_ipv4", "decap.ipv4_in_ipv4"),
            Kind::Ip6in4 => ("ipv6_in_ipv4", "decap.ipv6_in_ipv4"),
            Kind::Ip4in6 => ("ipv4_in_ipv6", "decap.ipv4_in_ipv6"),
            Kind::Ip6in6 => ("ipv6_in_ipv6", "decap.ipv6_in_ipv6"),
            Kind::Teredo => ("teredo", "decap.teredo"),
            Kind::Nsh => ("nsh", "decap.nsh"),
            Kind::Vntag => ("vntag", "decap.vntag"),
            Kind::Etag => ("etag", "decap.etag"),
            Kind::Fabricpath => ("fabricpath", "decap.fabricpath"),
        }
    }

    /// An IP-level tunnel (it has outer addresses; VLAN tags of the
    /// underlay do not belong to the inner packet).
    pub fn has_outer_ip(self) -> bool {
        !matches!(
            self,
            Kind::Mpls | Kind::Pppoe | Kind::Nsh | Kind::Vntag | Kind::Etag | Kind::Fabricpath
        )
    }
}

/// ERSPAN header fields (`tunnel.erspan.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Erspan {
    /// ERSPAN type: 1, 2 or 3.
    pub version: u8,
    /// Session id (types II and III).
    pub session: u16,
    /// The mirrored frame's original VLAN (types II and III).
    pub vlan: u16,
    /// Type III: 0 ingress, 1 egress.
    pub direction: Option<u8>,
    /// Type III: the switch's timestamp (units as its session sets them).
    pub timestamp: Option<u32>,
}

/// Layers remembered by name per packet (`tunnel.layers`).
pub const MAX_LAYERS_NAMED: usize = 4;

/// Where a tunnelled packet came from (`tunnel.*` of its flow's events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tunnel {
    /// The outermost encapsulation.
    pub kind: Kind,
    /// The first layers, outermost first (`depth` of them, at most four named).
    pub layers: [Kind; MAX_LAYERS_NAMED],
    /// Encapsulation layers peeled.
    pub depth: u8,
    /// The first id found, outermost first: VNI, ERSPAN session id, GRE key,
    /// PPPoE session id.
    pub id: Option<u32>,
    /// The id that keys flows and filters: VNI, ERSPAN session id or GRE
    /// key (0 when the tunnel has none).
    pub tenant: u32,
    /// Outer source address of the outermost IP-level tunnel.
    pub src: Option<IpAddr>,
    /// Outer destination address of the outermost IP-level tunnel.
    pub dst: Option<IpAddr>,
    /// ERSPAN header, when the packet came through ERSPAN.
    pub erspan: Option<Erspan>,
}
