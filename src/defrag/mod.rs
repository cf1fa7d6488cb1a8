//! IPv4 and IPv6 fragment reassembly in the capture thread.
//!
//! Fragments are collected per datagram (source, destination,
//! identification, IPv4 protocol, and the tunnel id they arrived in) and,
//! once every byte from 0 to the end announced by the last fragment is
//! there, turned back into one unfragmented IP packet: the first fragment's
//! header with its length fixed and its fragment fields cleared (IPv6: the
//! fixed header with the fragment header removed), followed by the payload.
//! The capture thread then decodes that packet as if it had arrived whole,
//! tunnels inside it included.
//!
//! Overlaps are handled the way Linux does since 4.19 (`inet_frag_queue_insert`,
//! RFC 5722 with erratum 3089 for IPv6, the same rule for IPv4): a fragment
//! that lies entirely within bytes already received is a duplicate and is
//! ignored; one that partly overlaps them discards the whole datagram.
//!
//! Bounds, all in packet time and counted when hit: a datagram not
//! complete `timeout` after its first fragment is given up
//! (`defrag.timeouts`); at most `max_datagrams` datagrams and `max_bytes`
//! buffered payload bytes are held at once, the oldest datagram making way
//! (`defrag.evicted`); a datagram of more than `max_fragments` fragments or
//! longer than 65,535 bytes is dropped (`defrag.too_many_fragments`,
//! `defrag.too_big`).
//!
//! Why not etherparse's `defrag` module: it has no memory bound (its own
//! documentation says it is not safe against memory exhaustion), merges
//! overlaps by overwriting instead of following RFC 5722, has no timeout,
//! and works on a whole `SlicedPacket` rather than on an IP header found
//! inside a tunnel.

use crate::stats::Counters;
use crate::time::HumanDuration;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

/// `[defrag]`: IP fragment reassembly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefragConfig {
    /// Reassemble fragments (`false`: count them as `decode.ip_fragment` and skip them).
    pub enabled: bool,
    /// Packet time after a datagram's first fragment before it is given up.
    pub timeout: HumanDuration,
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Payload bytes buffered for all datagrams together.
    pub max_bytes: usize,
    /// Fragments one datagram may have.
    pub max_fragments: usize,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            enabled: true,
            timeout: HumanDuration::secs(30),
            max_datagrams: 4096,
            max_bytes: 16 << 20,
            max_fragments: 4096,
        }
    }
}

impl DefragConfig {
    /// Checks the bounds; the error is `(key, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((format!("defrag.{k}"), m.to_string()));
        if self.timeout.0.is_zero() {
            return bad("timeout", "must be more than 0s (Linux uses 30s)");
        }
        if self.max_datagrams == 0 {
            return bad("max_datagrams", "must be at least 1");
        }
        if self.max_bytes < 65_535 {
            return bad("max_bytes", "must be at least 65535 (one whole datagram)");
        }
        if self.max_fragments < 2 {
            return bad("max_fragments", "must be at least 2");
        }
        Ok(())
    }
}

/// Which datagram a fragment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    /// IPv4 protocol (0 for IPv6, whose key has none).
    proto: u8,
    /// The tunnel id the fragment came in (two tenants never mix).
    tenant: u32,
}

#[derive(Debug)]
struct Datagram {
    first_ts: Timestamp,
    /// The header the reassembled packet starts with, once offset 0 came.
    head: Vec<u8>,
    /// Payload bytes, by offset.
    data: Vec<u8>,
    /// Received byte ranges, sorted, adjacent ones merged.
    runs: Vec<(u32, u32)>,
    /// End of the payload, known once the last fragment (MF clear) came.
    total: Option<u32>,
    fragments: usize,
    wire_len: u64,
}

/// What one fragment led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept, waiting for the rest (or a duplicate, or a datagram dropped:
    /// the counters tell).
    Held,
    /// The datagram is whole: the rebuilt packet (use it, then hand it back
    /// with [`Defrag::recycle`]) and the wire length of all its fragments.
    Complete(Vec<u8>, u64),
}

/// Per-reason counts, plain integers folded into the counters at publish.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    fragments: u64,
    reassembled: u64,
    duplicates: u64,
    overlaps: u64,
    timeouts: u64,
    evicted: u64,
    too_big: u64,
    too_many_fragments: u64,
    inconsistent: u64,
}

/// The reassembly tables (one per capture thread).
#[derive(Debug)]
pub struct Defrag {
    cfg: DefragConfig,
    timeout: u64,
    table: HashMap<Key, Datagram, ahash::RandomState>,
    bytes: usize,
    spare: Vec<Vec<u8>>,
    n: Counts,
}

/// Largest IP datagram (IPv4 total length, IPv6 payload length).
const MAX_DATAGRAM: u32 = 65_535;

impl Defrag {
    /// Empty tables with these bounds.
    pub fn new(cfg: &DefragConfig) -> Self {
        Defrag {
            timeout: cfg.timeout.nanos(),
            cfg: cfg.clone(),
            table: HashMap::with_hasher(crate::flow::fixed_state()),
            bytes: 0,
            spare: Vec::new(),
            n: Counts::default(),
        }
    }

    /// Whether reassembly is on.
    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    /// Datagrams being reassembled.
    pub fn pending(&self) -> usize {
        self.table.len()
    }

    /// Payload bytes held.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// An IPv4 fragment: `header` is its whole IPv4 header (options
    /// included), `payload` what follows it up to the total length.
    pub fn ipv4(
        &mut self,
        ts: Timestamp,
        wire_len: u32,
        header: &[u8],
        payload: &[u8],
        tenant: u32,
    ) -> Outcome {
        let frag = u16::from_be_bytes([header[6], header[7]]);
        let key = Key {
            src: IpAddr::from([header[12], header[13], header[14], header[15]]),
            dst: IpAddr::from([header[16], header[17], header[18], header[19]]),
            id: u16::from_be_bytes([header[4], header[5]]).into(),
            proto: header[9],
            tenant,
        };
        let offset = u32::from(frag & 0x1fff) * 8;
        let more = frag & 0x2000 != 0;
        // The rebuilt header: same bytes, fragment fields cleared, length
        // fixed when complete.
        let head = (offset == 0).then_some(header);
        let out = self.add(
            ts,
            wire_len,
            key,
            offset,
            more,
            payload,
            head,
            header.len() as u32,
        );
        match out {
            Outcome::Complete(mut pkt, w) => {
                let total = pkt.len() as u16;
                pkt[2..4].copy_from_slice(&total.to_be_bytes());
                pkt[6] = 0;
                pkt[7] = 0;
                Outcome::Complete(pkt, w)
            }
            held => held,
        }
    }

    /// An IPv6 fragment: `fixed` is the 40-byte IPv6 header, `next` the
    /// fragment header's next header, `frag` its 8 bytes, `payload` what
    /// follows the fragment header.
    pub fn ipv6(
        &mut self,
        ts: Timestamp,
        wire_len: u32,
        fixed: &[u8],
        frag: &[u8],
        payload: &[u8],
        tenant: u32,
    ) -> Outcome {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&fixed[8..24]);
        dst.copy_from_slice(&fixed[24..40]);
        let key = Key {
            src: IpAddr::from(src),
            dst: IpAddr::from(dst),
            id: u32::from_be_bytes([frag[4], frag[5], frag[6], frag[7]]),
            proto: 0,
            tenant,
        };
        let off_m = u16::from_be_bytes([frag[2], frag[3]]);
        let offset = u32::from(off_m >> 3) * 8;
        let more = off_m & 1 != 0;
        let mut head = [0u8; 40];
        head.copy_from_slice(&fixed[..40]);
        head[6] = frag[0];
        let head = (offset == 0).then_some(&head[..]);
        match self.add(ts, wire_len, key, offset, more, payload, head, 0) {
            Outcome::Complete(mut pkt, w) => {
                let plen = (pkt.len() - 40) as u16;
                pkt[4..6].copy_from_slice(&plen.to_be_bytes());
                Outcome::Complete(pkt, w)
            }
            held => held,
        }
    }

    /// Gives a rebuilt packet's buffer back for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < 8 {
            buf.clear();
            self.spare.push(buf);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        ts: Timestamp,
        wire_len: u32,
        key: Key,
        offset: u32,
        more: bool,
        payload: &[u8],
        head: Option<&[u8]>,
        head_len_v4: u32,
    ) -> Outcome {
        self.n.fragments += 1;
        let len = payload.len() as u32;
        let end = offset + len;
        // IPv4: header plus payload must fit the 16-bit total length; IPv6:
        // the payload must fit the 16-bit payload length.
        if end + head_len_v4 > MAX_DATAGRAM || (more && len % 8 != 0) || (more && len == 0) {
            self.n.too_big += u64::from(end + head_len_v4 > MAX_DATAGRAM);
            self.n.inconsistent += u64::from(end + head_len_v4 <= MAX_DATAGRAM);
            self.drop_datagram(&key);
            return Outcome::Held;
        }
        if !self.table.contains_key(&key) {
            while self.table.len() >= self.cfg.max_datagrams {
                self.evict_oldest();
            }
            let data = self.spare.pop().unwrap_or_default();
            self.table.insert(
                key,
                Datagram {
                    first_ts: ts,
                    head: Vec::new(),
                    data,
                    runs: Vec::new(),
                    total: None,
                    fragments: 0,
                    wire_len: 0,
                },
            );
        }
        let Some(d) = self.table.get_mut(&key) else {
            return Outcome::Held;
        };
        // The end of the datagram: set by the last fragment, never contradicted.
        let max_end = d.runs.last().map_or(0, |r| r.1);
        let inconsistent = match d.total {
            Some(t) => end > t || (!more && end != t),
            None => !more && end < max_end,
        };
        if inconsistent {
            self.n.inconsistent += 1;
            self.drop_datagram(&key);
            return Outcome::Held;
        }
        // Linux's rule: inside one received run is a duplicate, any other
        // overlap discards the datagram.
        let mut dup = false;
        let mut overlap = false;
        for &(s, e) in &d.runs {
            if end <= s || offset >= e {
                continue;
            }
            if offset >= s && end <= e {
                dup = true;
            } else {
                overlap = true;
            }
            break;
        }
        if len == 0 && !more && offset == max_end {
            // An empty last fragment only announces the end.
        } else if dup {
            self.n.duplicates += 1;
            d.wire_len += u64::from(wire_len);
            return Outcome::Held;
        } else if overlap {
            self.n.overlaps += 1;
            self.drop_datagram(&key);
            return Outcome::Held;
        }
        d.fragments += 1;
        if d.fragments > self.cfg.max_fragments {
            self.n.too_many_fragments += 1;
            self.drop_datagram(&key);
            return Outcome::Held;
        }
        let grow = (end as usize).saturating_sub(d.data.len());
        if grow > 0 {
            if self.bytes + grow > self.cfg.max_bytes {
                // Make room by giving up the oldest others; this one stays.
                while self.bytes + grow > self.cfg.max_bytes && self.table.len() > 1 {
                    if !self.evict_oldest_except(&key) {
                        break;
                    }
                }
            }
            let Some(d) = self.table.get_mut(&key) else {
                return Outcome::Held;
            };
            d.data.resize(end as usize, 0);
            self.bytes += grow;
        }
        let Some(d) = self.table.get_mut(&key) else {
            return Outcome::Held;
        };
        d.data[offset as usize..end as usize].copy_from_slice(payload);
        d.wire_len += u64::from(wire_len);
        if let Some(h) = head {
            d.head.clear();
            d.head.extend_from_slice(h);
        }
        if !more {
            d.total = Some(end);
        }
        if len > 0 {
            insert_run(&mut d.runs, (offset, end));
        }
        let complete = match d.total {
            Some(t) => !d.head.is_empty() && (t == 0 || (d.runs.len() == 1 && d.runs[0] == (0, t))),
            None => false,
        };
        if !complete {
            return Outcome::Held;
        }
        let Some(d) = self.table.remove(&key) else {
            return Outcome::Held;
        };
        self.bytes = self.bytes.saturating_sub(d.data.len());
        self.n.reassembled += 1;
        let mut pkt = self.spare.pop().unwrap_or_default();
        pkt.clear();
        pkt.extend_from_slice(&d.head);
        pkt.extend_from_slice(&d.data);
        let wire = d.wire_len;
        self.recycle(d.data);
        Outcome::Complete(pkt, wire)
    }

    fn drop_datagram(&mut self, key: &Key) {
        if let Some(d) = self.table.remove(key) {
            self.bytes = self.bytes.saturating_sub(d.data.len());
            self.recycle(d.data);
        }
    }

    fn evict_oldest(&mut self) -> bool {
        let oldest = self
            .table
            .iter()
            .min_by_key(|(_, d)| d.first_ts)
            .map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.n.evicted += 1;
                self.drop_datagram(&k);
                true
            }
            None => false,
        }
    }

    fn evict_oldest_except(&mut self, keep: &Key) -> bool {
        let oldest = self
            .table
            .iter()
            .filter(|(k, _)| *k != keep)
            .min_by_key(|(_, d)| d.first_ts)
            .map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.n.evicted += 1;
                self.drop_datagram(&k);
                true
            }
            None => false,
        }
    }

    /// Gives up datagrams whose first fragment is older than the timeout at
    /// packet time `now`.
    pub fn expire(&mut self, now: Timestamp) {
        if self.table.is_empty() {
            return;
        }
        let timeout = self.timeout;
        let old: Vec<Key> = self
            .table
            .iter()
            .filter(|(_, d)| now.saturating_sub(d.first_ts) >= timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.n.timeouts += 1;
            self.drop_datagram(&k);
        }
    }

    /// Writes the `defrag.*` counters (totals so far) into `c`.
    pub fn fold(&self, c: &mut Counters) {
        let n = &self.n;
        if n.fragments == 0 {
            return;
        }
        for (name, v) in [
            ("defrag.fragments", n.fragments),
            ("defrag.reassembled", n.reassembled),
            ("defrag.duplicates", n.duplicates),
            ("defrag.overlaps", n.overlaps),
            ("defrag.timeouts", n.timeouts),
            ("defrag.evicted", n.evicted),
            ("defrag.too_big", n.too_big),
            ("defrag.too_many_fragments", n.too_many_fragments),
            ("defrag.inconsistent", n.inconsistent),
            ("defrag.pending", self.table.len() as u64),
        ] {
            c.set(name, v);
        }
    }
}

/// Inserts a non-overlapping range and merges it with adjacent ones.
fn insert_run(runs: &mut Vec<(u32, u32)>, r: (u32, u32)) {
    let i = runs.partition_point(|x| x.0 < r.0);
    runs.insert(i, r);
    // Merge with the next, then with the previous.
    if i + 1 < runs.len() && runs[i].1 == runs[i + 1].0 {
        runs[i].1 = runs[i + 1].1;
        runs.remove(i + 1);
    }
    if i > 0 && runs[i - 1].1 == runs[i].0 {
        runs[i - 1].1 = runs[i].1;
        runs.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header for a fragment of `len` payload bytes at `offset`.
    fn v4(id: u16, offset: u32, more: bool, len: usize) -> Vec<u8> {
        let mut h = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let total = (20 + len) as u16;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        let f = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&f.to_be_bytes());
        h
    }

    fn feed(d: &mut Defrag, id: u16, offset: u32, more: bool, data: &[u8]) -> Outcome {
        d.ipv4(0, 100, &v4(id, offset, more, data.len()), data, 0)
    }

    #[test]
    fn in_any_order_gives_the_whole_datagram_with_a_plain_header() {
        let payload: Vec<u8> = (0..40u8).collect();
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut d = Defrag::new(&DefragConfig::default());
            let parts = [(0, true), (16, true), (32, false)];
            let mut out = None;
            for i in order {
                let (off, more) = parts[i];
                let end = if more { off as usize + 16 } else { 40 };
                if let Outcome::Complete(p, w) =
                    feed(&mut d, 7, off, more, &payload[off as usize..end])
                {
                    out = Some((p, w));
                }
            }
            let (p, w) = out.expect("complete");
            assert_eq!(w, 300);
            assert_eq!(&p[20..], &payload[..]);
            assert_eq!(u16::from_be_bytes([p[2], p[3]]), 60);
            assert_eq!(&p[6..8], &[0, 0]);
            assert_eq!(d.pending(), 0);
            assert_eq!(d.held_bytes(), 0);
        }
    }

    #[test]
    fn contained_duplicate_is_ignored_partial_overlap_drops_the_datagram() {
        let mut d = Defrag::new(&DefragConfig::default());
        let p = [1u8; 48];
        assert_eq!(feed(&mut d, 1, 0, true, &p[..24]), Outcome::Held);
        assert_eq!(feed(&mut d, 1, 8, true, &p[..8]), Outcome::Held);
        assert_eq!(d.n.duplicates, 1);
        assert!(matches!(
            feed(&mut d, 1, 24, false, &p[..24]),
            Outcome::Complete(..)
        ));
        // Overlap: 0..24 then 16..40.
        assert_eq!(feed(&mut d, 2, 0, true, &p[..24]), Outcome::Held);
        assert_eq!(feed(&mut d, 2, 16, true, &p[..24]), Outcome::Held);
        assert_eq!(d.n.overlaps, 1);
        assert_eq!(d.pending(), 0);
        // The rest of the discarded datagram does not complete it.
        assert_eq!(feed(&mut d, 2, 24, false, &p[..8]), Outcome::Held);
    }

    #[test]
    fn bounds_timeouts_and_sizes_are_counted() {
        let cfg = DefragConfig {
            max_datagrams: 2,
            ..DefragConfig::default()
        };
        let mut d = Defrag::new(&cfg);
        let p = [0u8; 16];
        for id in 0..3 {
            d.ipv4(id.into(), 1, &v4(id, 0, true, 16), &p, 0);
        }
        assert_eq!(d.n.evicted, 1);
        assert_eq!(d.pending(), 2);
        d.expire(cfg.timeout.nanos() + 10);
        assert_eq!(d.n.timeouts, 2);
        assert_eq!(d.pending(), 0);
        assert_eq!(d.held_bytes(), 0);
        // Past 65,535 bytes.
        assert_eq!(feed(&mut d, 9, 65_528, false, &p), Outcome::Held);
        assert_eq!(d.n.too_big, 1);
        // A last fragment that ends before bytes already seen.
        feed(&mut d, 10, 32, true, &p);
        feed(&mut d, 10, 0, false, &p);
        assert_eq!(d.n.inconsistent, 1);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn memory_budget_gives_up_the_oldest() {
        let cfg = DefragConfig {
            max_bytes: 65_535,
            ..DefragConfig::default()
        };
        let mut d = Defrag::new(&cfg);
        let big = vec![0u8; 40_000];
        d.ipv4(1, 1, &v4(1, 0, true, big.len()), &big, 0);
        d.ipv4(2, 1, &v4(2, 0, true, big.len()), &big, 0);
        assert_eq!(d.n.evicted, 1);
        assert!(d.held_bytes() <= 65_535);
    }

    #[test]
    fn ipv6_fragments_rebuild_a_packet_without_the_fragment_header() {
        let mut fixed = [0u8; 40];
        fixed[0] = 0x60;
        fixed[6] = 44;
        fixed[8] = 0xfd;
        fixed[24] = 0xfd;
        let payload: Vec<u8> = (0..24u8).collect();
        let mut d = Defrag::new(&DefragConfig::default());
        let frag = |off: u16, more: bool| {
            let v = (off / 8) << 3 | u16::from(more);
            let mut f = [17u8, 0, 0, 0, 0, 0, 0, 9];
            f[2..4].copy_from_slice(&v.to_be_bytes());
            f
        };
        assert_eq!(
            d.ipv6(0, 1, &fixed, &frag(16, false), &payload[16..], 0),
            Outcome::Held
        );
        let Outcome::Complete(p, _) = d.ipv6(0, 1, &fixed, &frag(0, true), &payload[..16], 0)
        else {
            panic!("not complete")
        };
        assert_eq!(p[6], 17);
        assert_eq!(u16::from_be_bytes([p[4], p[5]]), 24);
        assert_eq!(&p[40..], &payload[..]);
    }
}
