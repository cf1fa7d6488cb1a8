//! IP/CIDR include and exclude filters and named server groups.
//!
//! Prefixes live in compressed multi-bit tries (`prefix-trie`), one per
//! address family, so a lookup costs a bounded number of node visits (at
//! most 32 or 128 bits deep) however many prefixes are configured.

use prefix_trie::{PrefixMap, PrefixSet};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// A text that is not an address or CIDR.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{text}' is not an IP address or CIDR ({why}); write e.g. 10.0.0.0/24, 10.0.1.5 or 2001:db8::/32")]
pub struct CidrError {
    /// The offending text.
    pub text: String,
    /// Why.
    pub why: &'static str,
}

/// A parsed prefix: the network address as a u128 (IPv4 in the low 32
/// bits) and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    /// IPv4 network and length.
    V4(u32, u8),
    /// IPv6 network and length.
    V6(u128, u8),
}

/// Parses `10.0.0.0/24`, `10.0.0.1` (a /32), `2001:db8::/32`, `::1`.
pub fn parse_cidr(text: &str) -> Result<Cidr, CidrError> {
    let t = text.trim();
    let err = |why| CidrError {
        text: text.to_string(),
        why,
    };
    let (addr, len) = match t.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (t, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| err("bad address"))?;
    match ip {
        IpAddr::V4(v4) => {
            let len = match len {
                Some(l) => l.parse::<u8>().map_err(|_| err("bad prefix length"))?,
                None => 32,
            };
            if len > 32 {
                return Err(err("IPv4 prefix length is at most 32"));
            }
            let bits = u32::from(v4);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            if bits & !mask != 0 {
                return Err(err("host bits set beyond the prefix length"));
            }
            Ok(Cidr::V4(bits, len))
        }
        IpAddr::V6(v6) => {
            let len = match len {
                Some(l) => l.parse::<u8>().map_err(|_| err("bad prefix length"))?,
                None => 128,
            };
            if len > 128 {
                return Err(err("IPv6 prefix length is at most 128"));
            }
            let bits = u128::from(v6);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            if bits & !mask != 0 {
                return Err(err("host bits set beyond the prefix length"));
            }
            Ok(Cidr::V6(bits, len))
        }
    }
}

/// A set of prefixes with a cheap "is this address covered" query.
#[derive(Debug, Clone, Default)]
pub struct PrefixList {
    v4: PrefixSet<(u32, u8)>,
    v6: PrefixSet<(u128, u8)>,
    len: usize,
}

impl PrefixList {
    /// Adds a prefix.
    pub fn insert(&mut self, c: Cidr) {
        match c {
            Cidr::V4(a, l) => self.v4.insert((a, l)),
            Cidr::V6(a, l) => self.v6.insert((a, l)),
        };
        self.len += 1;
    }

    /// True when no prefix was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` falls in any prefix.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.get_spm(&(u32::from(a), 32)).is_some(),
            IpAddr::V6(a) => self.v6.get_spm(&(u128::from(a), 128)).is_some(),
        }
    }
}

/// The capture-time filter: keep a packet when either endpoint matches an
/// include (or there is none) and no endpoint matches an exclude.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: PrefixList,
    exclude: PrefixList,
}

impl Filter {
    /// Builds the filter; the error says which list (0 include, 1 exclude) was bad.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter, (usize, CidrError)> {
        let mut f = Filter::default();
        for t in include {
            f.include.insert(parse_cidr(t).map_err(|e| (0, e))?);
        }
        for t in exclude {
            f.exclude.insert(parse_cidr(t).map_err(|e| (1, e))?);
        }
        Ok(f)
    }

    /// True when the filter keeps every packet.
    pub fn is_pass_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether a packet between `a` and `b` is analysed.
    #[inline]
    pub fn keep(&self, a: IpAddr, b: IpAddr) -> bool {
        if !self.include.is_empty() && !self.include.contains(a) && !self.include.contains(b) {
            return false;
        }
        self.exclude.is_empty() || !(self.exclude.contains(a) || self.exclude.contains(b))
    }
}

/// Named server groups: the longest configured prefix that covers an
/// address names its group.
#[derive(Debug, Clone, Default)]
pub struct GroupMap {
    v4: PrefixMap<(u32, u8), Arc<str>>,
    v6: PrefixMap<(u128, u8), Arc<str>>,
    empty: bool,
    /// Groups that hold only inside one tunnel (`tunnel_id = N`).
    tenants: BTreeMap<u32, GroupMap>,
}

impl GroupMap {
    /// Adds `cidr` to group `name`.
    pub fn insert(&mut self, name: &str, cidr: &str) -> Result<(), CidrError> {
        let name: Arc<str> = Arc::from(name);
        match parse_cidr(cidr)? {
            Cidr::V4(a, l) => self.v4.insert((a, l), name),
            Cidr::V6(a, l) => self.v6.insert((a, l), name),
        };
        self.empty = false;
        Ok(())
    }

    /// Adds `cidr` to group `name` for packets from tunnel `tunnel_id` only.
    pub fn insert_in_tunnel(
        &mut self,
        tunnel_id: u32,
        name: &str,
        cidr: &str,
    ) -> Result<(), CidrError> {
        self.tenants
            .entry(tunnel_id)
            .or_default()
            .insert(name, cidr)
    }

    /// The group of an address seen in tunnel `id`: the tunnel's own groups
    /// first, then the groups for every packet.
    pub fn lookup_in_tunnel(&self, ip: IpAddr, id: Option<u32>) -> Option<Arc<str>> {
        id.and_then(|id| self.tenants.get(&id))
            .and_then(|g| g.lookup(ip))
            .or_else(|| self.lookup(ip))
    }

    /// The group of an address (longest prefix wins).
    pub fn lookup(&self, ip: IpAddr) -> Option<Arc<str>> {
        match ip {
            IpAddr::V4(a) => self.v4.get_lpm(&(u32::from(a), 32)).map(|(_, g)| g.clone()),
            IpAddr::V6(a) => self
                .v6
                .get_lpm(&(u128::from(a), 128))
                .map(|(_, g)| g.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            parse_cidr("10.0.0.0/24").unwrap(),
            Cidr::V4(0x0a00_0000, 24)
        );
        assert_eq!(parse_cidr("10.0.1.5").unwrap(), Cidr::V4(0x0a00_0105, 32));
        assert!(matches!(
            parse_cidr("2001:db8::/32").unwrap(),
            Cidr::V6(_, 32)
        ));
        assert_eq!(parse_cidr("0.0.0.0/0").unwrap(), Cidr::V4(0, 0));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("10.0.0.1/24")
            .unwrap_err()
            .why
            .contains("host bits"));
        assert!(parse_cidr("300.1.1.1").is_err());
        assert!(parse_cidr("web").is_err());
        assert!(parse_cidr("::/129").is_err());
    }

    #[test]
    fn empty_filter_keeps_everything() {
        let f = Filter::new(&[], &[]).unwrap();
        assert!(f.keep(ip("1.2.3.4"), ip("5.6.7.8")));
        assert!(f.is_pass_all());
    }

    #[test]
    fn include_matches_either_endpoint_v4_and_v6() {
        let f = Filter::new(&strs(&["10.0.0.0/24", "2001:db8::/32"]), &[]).unwrap();
        assert!(f.keep(ip("10.0.0.7"), ip("8.8.8.8")));
        assert!(f.keep(ip("8.8.8.8"), ip("10.0.0.7")));
        assert!(!f.keep(ip("10.0.1.7"), ip("8.8.8.8")));
        assert!(f.keep(ip("2001:db8::1"), ip("::1")));
        assert!(!f.keep(ip("2001:db9::1"), ip("::1")));
        // An IPv4 prefix never matches an IPv6 address.
        assert!(!f.keep(ip("::ffff:10.0.0.7"), ip("::1")));
    }

    #[test]
    fn exclude_wins_over_nested_include() {
        let f = Filter::new(&strs(&["10.0.0.0/8"]), &strs(&["10.1.0.0/16", "10.2.3.4"])).unwrap();
        assert!(f.keep(ip("10.0.0.1"), ip("1.1.1.1")));
        assert!(!f.keep(ip("10.1.2.3"), ip("1.1.1.1")));
        assert!(!f.keep(ip("10.0.0.1"), ip("10.2.3.4")));
        assert!(f.keep(ip("10.2.3.5"), ip("1.1.1.1")));
    }

    #[test]
    fn exclude_only() {
        let f = Filter::new(&[], &strs(&["192.168.0.0/16"])).unwrap();
        assert!(f.keep(ip("10.0.0.1"), ip("1.1.1.1")));
        assert!(!f.keep(ip("10.0.0.1"), ip("192.168.4.4")));
    }

    #[test]
    fn bad_list_is_reported_by_index() {
        assert_eq!(Filter::new(&strs(&["x"]), &[]).unwrap_err().0, 0);
        assert_eq!(Filter::new(&[], &strs(&["x"])).unwrap_err().0, 1);
    }

    #[test]
    fn thousands_of_prefixes_still_match_exactly() {
        let nets: Vec<String> = (0..4096)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
            .collect();
        let f = Filter::new(&nets, &[]).unwrap();
        assert!(f.keep(ip("10.15.255.9"), ip("1.1.1.1")));
        assert!(!f.keep(ip("10.16.0.9"), ip("1.1.1.1")));
    }

    #[test]
    fn groups_use_longest_prefix() {
        let mut g = GroupMap::default();
        g.insert("farm", "10.0.0.0/16").unwrap();
        g.insert("web", "10.0.0.0/24").unwrap();
        g.insert("db", "10.0.1.5").unwrap();
        g.insert("v6", "fd00::/8").unwrap();
        assert_eq!(g.lookup(ip("10.0.0.9")).as_deref(), Some("web"));
        assert_eq!(g.lookup(ip("10.0.1.5")).as_deref(), Some("db"));
        assert_eq!(g.lookup(ip("10.0.1.6")).as_deref(), Some("farm"));
        assert_eq!(g.lookup(ip("fd12::1")).as_deref(), Some("v6"));
        assert_eq!(g.lookup(ip("11.0.0.1")), None);
    }

    #[test]
    fn tenant_groups_hold_only_in_their_tunnel() {
        let mut g = GroupMap::default();
        g.insert("farm", "10.0.0.0/16").unwrap();
        g.insert_in_tunnel(42, "tenant_a", "10.0.0.0/24").unwrap();
        g.insert_in_tunnel(43, "tenant_b", "10.0.0.0/24").unwrap();
        let a = ip("10.0.0.9");
        assert_eq!(g.lookup_in_tunnel(a, Some(42)).as_deref(), Some("tenant_a"));
        assert_eq!(g.lookup_in_tunnel(a, Some(43)).as_deref(), Some("tenant_b"));
        assert_eq!(g.lookup_in_tunnel(a, Some(44)).as_deref(), Some("farm"));
        assert_eq!(g.lookup_in_tunnel(a, None).as_deref(), Some("farm"));
        assert_eq!(g.lookup(a).as_deref(), Some("farm"));
    }
}
