//! Flow identity: the canonical 5-tuple key, the symmetric shard hash, the
//! deterministic flow id and the Community ID.
//!
//! A [`FlowKey`] stores the lower endpoint first, so both directions of a
//! conversation produce the same key and the same hash; [`Side`] says which
//! way one packet went. Hashes use fixed keys so that runs are
//! reproducible: [`FlowKey::shard_hash`] (the capture thread's, which the
//! workers' flow tables reuse) folds the key's words with three 64-bit
//! multiplies; flow ids are ahash over the key's fields. The small vocabulary every
//! later stage shares lives here too: [`Dir`] (client to server or back)
//! and [`Transport`].

pub mod community_id;
pub mod tunnel;

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;

/// Fixed seeds: shard assignment and flow ids are the same on every run.
const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// The hasher used for shard selection, flow tables and flow ids.
pub fn fixed_state() -> ahash::RandomState {
    ahash::RandomState::with_seeds(SEEDS[0], SEEDS[1], SEEDS[2], SEEDS[3])
}

/// Direction of application bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client to server (requests).
    ToServer,
    /// Server to client (responses).
    ToClient,
}

impl Dir {
    /// The other direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }

    /// 0 for `ToServer`, 1 for `ToClient` (index into per-direction arrays).
    pub fn idx(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }
}

/// The transport of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// Any other IP protocol, by number.
    Other(u8),
}

impl Transport {
    /// From an IP protocol number.
    pub fn from_ip_proto(p: u8) -> Self {
        match p {
            6 => Transport::Tcp,
            17 => Transport::Udp,
            n => Transport::Other(n),
        }
    }

    /// The IP protocol number.
    pub fn ip_proto(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Other(n) => n,
        }
    }

    /// ECS `network.transport` value.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Other(1) => "icmp",
            Transport::Other(58) => "ipv6-icmp",
            Transport::Other(_) => "other",
        }
    }
}

/// One endpoint: address and port (ICMP: the Community ID port equivalents).
pub type Endpoint = (IpAddr, u16);

/// Canonical flow key: `lo <= hi`, plus transport and VLAN ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// The lower endpoint.
    pub lo: Endpoint,
    /// The higher endpoint.
    pub hi: Endpoint,
    /// IP protocol number.
    pub proto: u8,
    /// Outer and inner VLAN id (0 when absent).
    pub vlan: [u16; 2],
    /// Tunnel id (VNI, ERSPAN session id, GRE key) when `decap.tunnel_id_in_flow_key`, else 0.
    pub tunnel: u32,
}

/// Which way a packet went relative to its [`FlowKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// From `lo` to `hi`.
    LoToHi,
    /// From `hi` to `lo`.
    HiToLo,
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and its direction.
    #[inline(always)]
    pub fn new(src: Endpoint, dst: Endpoint, proto: u8, vlan: [u16; 2]) -> (FlowKey, Side) {
        // `src <= dst`: over IPv4 the address (big-endian, as `Ipv4Addr`
        // orders) and port as one integer.
        let lower = match (src.0, dst.0) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u64::from(u32::from(a)) << 16 | u64::from(src.1))
                    <= (u64::from(u32::from(b)) << 16 | u64::from(dst.1))
            }
            _ => src <= dst,
        };
        if lower {
            (
                FlowKey {
                    lo: src,
                    hi: dst,
                    proto,
                    vlan,
                    tunnel: 0,
                },
                Side::LoToHi,
            )
        } else {
            (
                FlowKey {
                    lo: dst,
                    hi: src,
                    proto,
                    vlan,
                    tunnel: 0,
                },
                Side::HiToLo,
            )
        }
    }

    /// The same key in tunnel `id` (tenants never share a flow).
    #[inline]
    pub fn in_tunnel(mut self, id: u32) -> FlowKey {
        self.tunnel = id;
        self
    }

    /// The symmetric hash used to pick a shard and to find the flow in a
    /// worker's table (symmetric as the key is: both directions have the
    /// same key). Every field is folded into 64-bit words, mixed by three
    /// 128-bit multiplies (the folded multiply of ahash's fallback), about
    /// 30 instructions where hashing the derived `Hash` fields one by one
    /// with ahash took about 55 (callgrind). `_state` is kept for the callers' sake:
    /// the keys are fixed.
    #[inline]
    pub fn shard_hash(&self, _state: &ahash::RandomState) -> u64 {
        #[inline(always)]
        fn mix(a: u64, b: u64) -> u64 {
            let p = u128::from(a) * u128::from(b);
            (p as u64) ^ ((p >> 64) as u64)
        }
        #[inline(always)]
        fn words(ip: IpAddr) -> (u64, u64) {
            match ip {
                IpAddr::V4(a) => (u64::from(u32::from(a)), 0),
                IpAddr::V6(a) => {
                    let x = u128::from(a);
                    (x as u64, ((x >> 64) as u64) ^ 0x6a09_e667_f3bc_c908)
                }
            }
        }
        let (a0, a1) = words(self.lo.0);
        let (b0, b1) = words(self.hi.0);
        let ports = u64::from(self.lo.1) << 48 | u64::from(self.hi.1) << 32 | u64::from(self.proto);
        let tags =
            u64::from(self.vlan[0]) << 48 | u64::from(self.vlan[1]) << 32 | u64::from(self.tunnel);
        let x =
            mix(a0 ^ SEEDS[0], b0 ^ SEEDS[1]) ^ mix(a1 ^ ports ^ SEEDS[2], b1 ^ tags ^ SEEDS[3]);
        mix(x ^ SEEDS[1], SEEDS[2] | 1)
    }

    /// A deterministic id for one flow: the key plus its first packet's
    /// time and frame number in the input (so a port reused later, even
    /// within the same timestamp, gives another id).
    pub fn flow_id(&self, first_ts: u64, frame: u64, state: &ahash::RandomState) -> u64 {
        let mut h = state.build_hasher();
        std::hash::Hasher::write_u64(&mut h, first_ts);
        std::hash::Hasher::write_u64(&mut h, frame);
        self.hash(&mut h);
        std::hash::Hasher::finish(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str, p: u16) -> Endpoint {
        (s.parse().unwrap(), p)
    }

    #[test]
    fn both_directions_share_key_and_hash() {
        let st = fixed_state();
        let pairs = [
            (ep("10.0.0.1", 40000), ep("10.0.0.2", 80)),
            (ep("10.0.0.2", 80), ep("10.0.0.2", 81)),
            (ep("::1", 5), ep("2001:db8::1", 5)),
            (ep("192.168.1.1", 0), ep("192.168.1.1", 0)),
        ];
        for (a, b) in pairs {
            let (k1, s1) = FlowKey::new(a, b, 6, [10, 0]);
            let (k2, s2) = FlowKey::new(b, a, 6, [10, 0]);
            assert_eq!(k1, k2);
            assert_eq!(k1.shard_hash(&st), k2.shard_hash(&st));
            if a != b {
                assert_ne!(s1, s2);
            }
        }
    }

    #[test]
    fn hash_is_stable_across_states_with_fixed_seeds() {
        let (k, _) = FlowKey::new(ep("10.0.0.1", 1), ep("10.0.0.2", 2), 17, [0, 0]);
        assert_eq!(k.shard_hash(&fixed_state()), k.shard_hash(&fixed_state()));
        // Different protocol or VLAN: a different flow.
        let (k2, _) = FlowKey::new(ep("10.0.0.1", 1), ep("10.0.0.2", 2), 6, [0, 0]);
        let (k3, _) = FlowKey::new(ep("10.0.0.1", 1), ep("10.0.0.2", 2), 17, [5, 0]);
        assert_ne!(k, k2);
        assert_ne!(k, k3);
    }

    #[test]
    fn the_shard_hash_sees_every_field_and_ipv4_order_is_the_tuple_order() {
        let st = fixed_state();
        let base = FlowKey::new(ep("10.0.0.1", 1000), ep("10.0.0.2", 80), 6, [0, 0]).0;
        let variants = [
            FlowKey::new(ep("10.0.0.3", 1000), ep("10.0.0.2", 80), 6, [0, 0]).0,
            FlowKey::new(ep("10.0.0.1", 1001), ep("10.0.0.2", 80), 6, [0, 0]).0,
            FlowKey::new(ep("10.0.0.1", 1000), ep("10.0.0.2", 81), 6, [0, 0]).0,
            FlowKey::new(ep("10.0.0.1", 1000), ep("10.0.0.2", 80), 17, [0, 0]).0,
            FlowKey::new(ep("10.0.0.1", 1000), ep("10.0.0.2", 80), 6, [1, 0]).0,
            FlowKey::new(ep("10.0.0.1", 1000), ep("10.0.0.2", 80), 6, [0, 1]).0,
            base.in_tunnel(7),
            FlowKey::new(
                ep("::ffff:10.0.0.1", 1000),
                ep("::ffff:10.0.0.2", 80),
                6,
                [0, 0],
            )
            .0,
            FlowKey::new(ep("::10.0.0.1", 1000), ep("::10.0.0.2", 80), 6, [0, 0]).0,
        ];
        let h = base.shard_hash(&st);
        for v in variants {
            assert_ne!(v.shard_hash(&st), h, "{v:?}");
        }
        // The IPv4 shortcut orders endpoints as the tuple comparison does.
        let eps = [
            ep("10.0.0.1", 80),
            ep("10.0.0.1", 81),
            ep("10.0.0.2", 1),
            ep("9.255.255.255", 65535),
            ep("200.1.1.1", 0),
            ep("1.2.3.4", 5),
        ];
        for a in eps {
            for b in eps {
                let (k, side) = FlowKey::new(a, b, 6, [0, 0]);
                assert_eq!(side == Side::LoToHi, a <= b, "{a:?} {b:?}");
                assert_eq!((k.lo, k.hi), if a <= b { (a, b) } else { (b, a) });
            }
        }
        // Low and high bits both spread (table index, tag, shard buckets).
        let mut low = std::collections::HashSet::new();
        let mut high = std::collections::HashSet::new();
        for port in 40000..40256u16 {
            let k = FlowKey::new(ep("10.99.0.2", port), ep("10.99.0.1", 80), 6, [0, 0]).0;
            let h = k.shard_hash(&st);
            low.insert(h & 0xff);
            high.insert(h >> 56);
        }
        assert!(
            low.len() > 140 && high.len() > 140,
            "{} {}",
            low.len(),
            high.len()
        );
    }

    #[test]
    fn flow_id_depends_on_start_time() {
        let st = fixed_state();
        let (k, _) = FlowKey::new(ep("10.0.0.1", 1), ep("10.0.0.2", 2), 6, [0, 0]);
        assert_eq!(k.flow_id(5, 1, &st), k.flow_id(5, 1, &st));
        assert_ne!(k.flow_id(5, 1, &st), k.flow_id(6, 1, &st));
        // Same key and time (a port reused within one timestamp): another id.
        assert_ne!(k.flow_id(5, 1, &st), k.flow_id(5, 2, &st));
    }
}
