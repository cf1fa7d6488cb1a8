//! Connections that closed recently, so that their late segments do not
//! open new flows.
//!
//! After both FINs or a RST, a closed flow stays in the table for
//! `flows.tcp_close_timeout`; once it is reported and removed, a copy of
//! one of its segments (a duplicated mirror, a retransmitted FIN, a stale
//! copy stamped long ago) would otherwise start a second flow on the same
//! ports: an extra flow event and `Unmatched response` transactions.
//! [`Closed`] remembers each removed closed connection's key, when it was
//! removed and the client's initial sequence number, for
//! `flows.tcp_timeout` of packet time (as long as a peer may still send
//! on it; Linux's TIME_WAIT is 60 s). On such a key only a SYN without ACK
//! carrying another initial sequence number (the port reused) opens a new
//! flow; anything else is counted as `flows.segments_after_close` and
//! dropped.
//!
//! Bounded: at most `capacity` entries, the oldest forgotten first
//! (`flows.closed_forgotten`). An entry costs about 100 bytes (key, two
//! numbers, hash-table and queue slots).

use crate::flow::FlowKey;
use crate::time::Timestamp;
use std::collections::{HashMap, VecDeque};

/// What is remembered of a closed connection.
#[derive(Debug, Clone, Copy)]
struct Entry {
    removed: Timestamp,
    /// The client's initial sequence number, when its SYN was seen.
    isn: Option<u32>,
}

/// Recently closed TCP connections of one worker.
#[derive(Debug)]
pub(crate) struct Closed {
    map: HashMap<FlowKey, Entry, ahash::RandomState>,
    order: VecDeque<(Timestamp, FlowKey)>,
    capacity: usize,
    retention: Timestamp,
}

/// What to do with a packet for a key that has no flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Open a flow.
    Open,
    /// A late segment of a closed connection: drop it.
    Late,
}

impl Closed {
    /// Remembers up to `capacity` connections for `retention` of packet time.
    pub fn new(capacity: usize, retention: Timestamp) -> Self {
        Closed {
            map: HashMap::with_hasher(crate::flow::fixed_state()),
            order: VecDeque::new(),
            capacity,
            retention,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// A closed connection was removed at `now`. Returns how many older
    /// entries were forgotten to make room.
    pub fn insert(&mut self, key: FlowKey, now: Timestamp, isn: Option<u32>) -> u64 {
        if self.capacity == 0 {
            return 0;
        }
        let mut forgotten = 0;
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some((t, k)) => {
                    if self.map.get(&k).is_some_and(|e| e.removed == t) {
                        self.map.remove(&k);
                        forgotten += 1;
                    }
                }
                None => break,
            }
        }
        self.map.insert(key, Entry { removed: now, isn });
        self.order.push_back((now, key));
        forgotten
    }

    /// Drops entries older than the retention at packet time `now`.
    pub fn expire(&mut self, now: Timestamp) {
        while let Some(&(t, k)) = self.order.front() {
            if now.saturating_sub(t) < self.retention {
                break;
            }
            self.order.pop_front();
            if self.map.get(&k).is_some_and(|e| e.removed == t) {
                self.map.remove(&k);
            }
        }
        // The queue may hold stale slots for keys reinserted later; keep it
        // from growing past twice the map.
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(t, k)| map.get(k).is_some_and(|e| e.removed == *t));
        }
    }

    /// Decides for a TCP packet (`flags`, `seq`) on `key`, which has no flow.
    pub fn verdict(&mut self, key: &FlowKey, flags: u8, seq: u32, now: Timestamp) -> Verdict {
        let Some(e) = self.map.get(key).copied() else {
            return Verdict::Open;
        };
        if now.saturating_sub(e.removed) >= self.retention {
            self.map.remove(key);
            return Verdict::Open;
        }
        let syn = flags & crate::tcp::flags::SYN != 0;
        let ack = flags & crate::tcp::flags::ACK != 0;
        if syn && !ack && e.isn != Some(seq) {
            self.map.remove(key);
            return Verdict::Open;
        }
        Verdict::Late
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::flags::{ACK, PSH, SYN};

    fn key(port: u16) -> FlowKey {
        FlowKey::new(
            ("10.0.0.1".parse().unwrap(), port),
            ("10.0.0.2".parse().unwrap(), 80),
            6,
            [0, 0],
        )
        .0
    }

    #[test]
    fn late_segments_are_refused_and_a_new_syn_opens() {
        let mut c = Closed::new(2, 1000);
        c.insert(key(1), 100, Some(7));
        assert_eq!(c.verdict(&key(1), ACK | PSH, 8, 200), Verdict::Late);
        // A copy of the old SYN.
        assert_eq!(c.verdict(&key(1), SYN, 7, 200), Verdict::Late);
        assert_eq!(c.verdict(&key(1), SYN | ACK, 99, 200), Verdict::Late);
        assert_eq!(c.verdict(&key(2), ACK, 1, 200), Verdict::Open);
        // The port reused: a SYN with another ISN.
        assert_eq!(c.verdict(&key(1), SYN, 5000, 300), Verdict::Open);
        assert_eq!(c.verdict(&key(1), ACK, 5001, 300), Verdict::Open);
        // Retention over.
        c.insert(key(3), 100, None);
        assert_eq!(c.verdict(&key(3), ACK, 1, 1100), Verdict::Open);
    }

    #[test]
    fn bounded_oldest_first() {
        let mut c = Closed::new(2, 1000);
        assert_eq!(c.insert(key(1), 1, None), 0);
        assert_eq!(c.insert(key(2), 2, None), 0);
        assert_eq!(c.insert(key(3), 3, None), 1);
        assert_eq!(c.len(), 2);
        assert_eq!(c.verdict(&key(1), ACK, 1, 4), Verdict::Open);
        assert_eq!(c.verdict(&key(2), ACK, 1, 4), Verdict::Late);
        c.expire(1002);
        assert_eq!(c.len(), 1);
        c.expire(1003);
        assert_eq!(c.len(), 0);
    }
}
