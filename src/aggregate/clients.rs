//! The clients of one key, by address.

use super::Client;
use ahash::AHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The clients of one key by address: entries in arrival order with an
/// index beside, so that a flow's memo (or the key's last hit) finds its
/// client with one comparison; read in address order (what a `BTreeMap`
/// gives) and serialised as a map in that order.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    entries: Vec<(IpAddr, Client)>,
    /// Position of each address in `entries`.
    index: AHashMap<IpAddr, u32>,
}

impl Clients {
    /// Number of clients.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The client at `ip`, if present.
    pub fn get(&self, ip: &IpAddr) -> Option<&Client> {
        self.index.get(ip).map(|&i| &self.entries[i as usize].1)
    }

    /// Sets the client at `ip` (replacing one already there).
    pub fn insert(&mut self, ip: IpAddr, c: Client) {
        match self.index.get(&ip) {
            Some(&i) => self.entries[i as usize].1 = c,
            None => {
                self.index.insert(ip, self.entries.len() as u32);
                self.entries.push((ip, c));
            }
        }
    }

    /// The clients in address order.
    pub fn iter(&self) -> std::vec::IntoIter<(&IpAddr, &Client)> {
        let mut v: Vec<(&IpAddr, &Client)> = self.entries.iter().map(|(k, c)| (k, c)).collect();
        v.sort_unstable_by_key(|e| e.0);
        v.into_iter()
    }

    /// The clients' tallies in address order.
    pub fn values(&self) -> impl Iterator<Item = &Client> {
        self.iter().map(|e| e.1)
    }

    /// The position of `ip`: `hint` when it holds it (one comparison),
    /// else by the index; a new client is added with `new()` while there
    /// are fewer than `cap`. `None` for a new client past `cap`.
    #[inline(always)]
    pub(super) fn position(
        &mut self,
        ip: IpAddr,
        hint: u32,
        cap: usize,
        new: impl FnOnce() -> Client,
    ) -> Option<u32> {
        if self.entries.get(hint as usize).is_some_and(|e| e.0 == ip) {
            return Some(hint);
        }
        self.find(ip, cap, new)
    }

    #[inline(never)]
    fn find(&mut self, ip: IpAddr, cap: usize, new: impl FnOnce() -> Client) -> Option<u32> {
        if let Some(&i) = self.index.get(&ip) {
            return Some(i);
        }
        if self.entries.len() >= cap {
            return None;
        }
        let i = self.entries.len() as u32;
        self.index.insert(ip, i);
        self.entries.push((ip, new()));
        Some(i)
    }

    /// The client at `hint` when it is `ip` (one comparison).
    #[inline(always)]
    pub(super) fn hit(&mut self, ip: IpAddr, hint: u32) -> Option<&mut Client> {
        match self.entries.get_mut(hint as usize) {
            Some(e) if e.0 == ip => Some(&mut e.1),
            _ => None,
        }
    }

    /// The client at a position [`Self::position`] gave.
    #[inline(always)]
    pub(super) fn at(&mut self, i: u32) -> Option<&mut Client> {
        self.entries.get_mut(i as usize).map(|e| &mut e.1)
    }

    /// Adds another key's clients (unbounded, like the map it replaces).
    pub(super) fn merge(&mut self, o: &Clients) {
        for (ip, c) in &o.entries {
            let i = match self.index.get(ip) {
                Some(&i) => i as usize,
                None => {
                    self.index.insert(*ip, self.entries.len() as u32);
                    self.entries.push((
                        *ip,
                        Client {
                            n: 0,
                            errors: 0,
                            ..c.clone()
                        },
                    ));
                    self.entries.len() - 1
                }
            };
            let e = &mut self.entries[i].1;
            e.n += c.n;
            e.errors += c.errors;
        }
    }
}

impl<'a> IntoIterator for &'a Clients {
    type Item = (&'a IpAddr, &'a Client);
    type IntoIter = std::vec::IntoIter<(&'a IpAddr, &'a Client)>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Clients {
    fn eq(&self, o: &Clients) -> bool {
        self.len() == o.len() && self.iter().eq(o.iter())
    }
}

impl Serialize for Clients {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Clients {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m: BTreeMap<IpAddr, Client> = BTreeMap::deserialize(d)?;
        let mut c = Clients::default();
        for (ip, v) in m {
            c.insert(ip, v);
        }
        Ok(c)
    }
}
