//! Community ID flow hashing, version 1
//! (<https://github.com/corelight/community-id-spec>).
//!
//! `1:` + base64(SHA-1(seed (u16 BE) . saddr . daddr . proto . 0 . sport
//! (u16 BE) . dport (u16 BE))), with the endpoints ordered so that both
//! directions give the same id. ICMP and ICMPv6 use message types as
//! "ports": request/response types map to each other, other types are
//! one-way and are not reordered.

use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// ICMP type to port equivalents: `(sport, dport, one_way)`.
pub fn icmp_ports(v6: bool, typ: u8, code: u8) -> (u16, u16, bool) {
    let pair: Option<u8> = if v6 {
        match typ {
            128 => Some(129),
            129 => Some(128),
            130 => Some(131),
            131 => Some(130),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    } else {
        match typ {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            10 => Some(9),
            9 => Some(10),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    };
    match pair {
        Some(p) => (typ.into(), p.into(), false),
        None => (typ.into(), code.into(), true),
    }
}

fn addr_bytes(ip: &IpAddr) -> ([u8; 16], usize) {
    let mut b = [0u8; 16];
    match ip {
        IpAddr::V4(a) => {
            b[..4].copy_from_slice(&a.octets());
            (b, 4)
        }
        IpAddr::V6(a) => {
            b.copy_from_slice(&a.octets());
            (b, 16)
        }
    }
}

/// Computes the Community ID of a flow. `ports` is `None` for protocols
/// without ports; for ICMP pass the type and code as the ports and set
/// `one_way` from [`icmp_ports`] (otherwise `false`).
pub fn community_id(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ports: Option<(u16, u16)>,
    one_way: bool,
) -> String {
    let (mut s, mut d) = (src, dst);
    let (mut sp, mut dp) = ports.unwrap_or((0, 0));
    let (sb, _) = addr_bytes(&s);
    let (db, _) = addr_bytes(&d);
    let is_less = sb < db || (sb == db && sp < dp);
    if !one_way && !is_less {
        std::mem::swap(&mut s, &mut d);
        std::mem::swap(&mut sp, &mut dp);
    }
    let (sb, n) = addr_bytes(&s);
    let (db, _) = addr_bytes(&d);
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&sb[..n]);
    h.update(&db[..n]);
    h.update([proto, 0]);
    if ports.is_some() {
        h.update(sp.to_be_bytes());
        h.update(dp.to_be_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(30);
    out.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(digest, &mut out);
    out
}

#[cfg(test)]
mod tests {
    //! The specification's own test vectors (pycommunityid's test suite):
    //! seed 0 and seed 1 for each tuple, in both directions.
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn check(proto: u8, a: &str, b: &str, sp: u16, dp: u16, seed0: &str, seed1: &str) {
        for (seed, want) in [(0, seed0), (1, seed1)] {
            let (sp2, dp2, one_way) = match proto {
                1 => icmp_ports(false, sp as u8, dp as u8),
                58 => icmp_ports(true, sp as u8, dp as u8),
                _ => (sp, dp, false),
            };
            let got = community_id(seed, ip(a), ip(b), proto, Some((sp2, dp2)), one_way);
            assert_eq!(got, want, "proto {proto} {a}:{sp} -> {b}:{dp} seed {seed}");
        }
    }

    #[test]
    fn tcp_vectors() {
        let (s0, s1) = (
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
        );
        check(6, "128.232.110.120", "66.35.250.204", 34855, 80, s0, s1);
        check(6, "66.35.250.204", "128.232.110.120", 80, 34855, s0, s1);
        check(
            6,
            "10.0.0.1",
            "10.0.0.2",
            10,
            11569,
            "1:SXBGMX1lBOwhhoDrZynfROxnhnM=",
            "1:HmBRGR+fUyXF4t8WEtal7Y0gEAo=",
        );
    }

    #[test]
    fn udp_vectors() {
        let (s0, s1) = (
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
            "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=",
        );
        check(17, "192.168.1.52", "8.8.8.8", 54585, 53, s0, s1);
        check(17, "8.8.8.8", "192.168.1.52", 53, 54585, s0, s1);
    }

    #[test]
    fn sctp_vectors() {
        let (s0, s1) = (
            "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ=",
            "1:Y1/0jQg6e+I3ZwZZ9LP65DNbTXU=",
        );
        check(132, "192.168.170.8", "192.168.170.56", 7, 80, s0, s1);
        check(132, "192.168.170.56", "192.168.170.8", 80, 7, s0, s1);
    }

    #[test]
    fn icmp_vectors() {
        let (s0, s1) = (
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
            "1:03g6IloqVBdcZlPyX8r0hgoE7kA=",
        );
        check(1, "192.168.0.89", "192.168.0.1", 8, 0, s0, s1);
        check(1, "192.168.0.1", "192.168.0.89", 0, 8, s0, s1);
        check(1, "192.168.0.1", "192.168.0.89", 0, 20, s0, s1);
        check(
            1,
            "192.168.0.89",
            "192.168.0.1",
            20,
            0,
            "1:3o2RFccXzUgjl7zDpqmY7yJi8rI=",
            "1:lCXHHxavE1Vq3oX9NH5ladQg02o=",
        );
        check(
            1,
            "192.168.0.89",
            "192.168.0.1",
            20,
            1,
            "1:tz/fHIDUHs19NkixVVoOZywde+I=",
            "1:Ie3wmFyxiEyikbsbcO03d2nh+PM=",
        );
    }

    #[test]
    fn icmp6_vectors() {
        let (s0, s1) = (
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
            "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=",
        );
        check(
            58,
            "fe80::200:86ff:fe05:80da",
            "fe80::260:97ff:fe07:69ea",
            135,
            0,
            s0,
            s1,
        );
        check(
            58,
            "fe80::260:97ff:fe07:69ea",
            "fe80::200:86ff:fe05:80da",
            136,
            0,
            s0,
            s1,
        );
        check(
            58,
            "3ffe:507:0:1:260:97ff:fe07:69ea",
            "3ffe:507:0:1:200:86ff:fe05:80da",
            3,
            0,
            "1:NdobDX8PQNJbAyfkWxhtL2Pqp5w=",
            "1:OlOWx9psIbBFi7lOCw/4MhlKR9M=",
        );
        check(
            58,
            "3ffe:507:0:1:200:86ff:fe05:80da",
            "3ffe:507:0:1:260:97ff:fe07:69ea",
            3,
            0,
            "1:/OGBt9BN1ofenrmSPWYicpij2Vc=",
            "1:Ij4ZxnC87/MXzhOjvH2vHu7LRmE=",
        );
    }

    #[test]
    fn ip_only_vectors() {
        for (a, b) in [("10.1.24.4", "10.1.12.1"), ("10.1.12.1", "10.1.24.4")] {
            assert_eq!(
                community_id(0, ip(a), ip(b), 46, None, false),
                "1:/nQI4Rh/TtY3mf0R2gJFBkVlgS4="
            );
            assert_eq!(
                community_id(1, ip(a), ip(b), 46, None, false),
                "1:BK3BVW3U2eemuwVQVN3zd/GULno="
            );
        }
    }
}
