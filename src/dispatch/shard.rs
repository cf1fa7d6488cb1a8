//! Which worker owns a flow.
//!
//! `hash % workers` spreads flows at random, and a random split of a few
//! dozen long connections is rarely even: the 64 keep-alive connections of
//! the wrk lab capture went 58/42 to two workers, the six of the pgbench
//! capture 18/82 (binomial luck: with 64 equal flows the busier of two
//! workers carries 53% in the median run and 59% one run in ten), and the
//! run takes as long as its busiest worker.
//!
//! [`Owners`] splits the flow hash's top [`OWNER_BITS`] bits into buckets
//! and gives each bucket, the first time a packet falls in it, to the
//! worker that owns the fewest buckets so far (the lowest-numbered among
//! equals). A bucket never changes owner, so every packet of a flow goes
//! to the same worker for the whole run, as before; flows sharing a bucket
//! share a worker. While the flows are fewer than the buckets, each new
//! flow goes to the worker with the fewest flows: N equal connections
//! split as evenly as N allows, whatever their ports (Linux gives connect()
//! even ports with random gaps, so nothing port-based can be counted on).
//! Once every bucket is owned the map is fixed, with the same number of
//! buckets per worker. The owners follow from the order in which flows
//! appear, so a replay is still deterministic, and the NDJSON never
//! depended on which worker owns a flow.

/// Bits of the flow hash that pick a bucket (65,536 buckets, 128 KiB:
/// the 65 flows of the wrk capture then all have buckets of their own,
/// where 16,384 buckets put two of them in one and split them 48/52).
pub const OWNER_BITS: u32 = 16;

/// The worker of each bucket of flow hashes.
#[derive(Debug)]
pub struct Owners {
    /// 0: no owner yet; else 1 + the worker.
    owner: Box<[u16]>,
    /// Buckets owned, per worker.
    owned: Vec<u64>,
}

impl Owners {
    /// Buckets for `workers` workers (1 to 256).
    pub fn new(workers: usize) -> Self {
        let workers = workers.clamp(1, usize::from(u16::MAX) - 1);
        Owners {
            // One worker needs no map.
            owner: if workers > 1 {
                vec![0; 1 << OWNER_BITS].into_boxed_slice()
            } else {
                Box::default()
            },
            owned: vec![0; workers],
        }
    }

    /// The worker of the flow with this hash.
    #[inline]
    pub fn of(&mut self, hash: u64) -> usize {
        if self.owner.is_empty() {
            return 0;
        }
        let i = (hash >> (64 - OWNER_BITS)) as usize;
        match self.owner.get(i) {
            Some(&o) if o != 0 => usize::from(o - 1),
            _ => self.assign(i),
        }
    }

    #[cold]
    fn assign(&mut self, i: usize) -> usize {
        let w = self
            .owned
            .iter()
            .enumerate()
            .min_by_key(|&(w, &n)| (n, w))
            .map_or(0, |(w, _)| w);
        self.owned[w] += 1;
        if let Some(slot) = self.owner.get_mut(i) {
            *slot = (w + 1) as u16;
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(bucket: u64, low: u64) -> u64 {
        bucket << (64 - OWNER_BITS) | low
    }

    #[test]
    fn one_worker_owns_everything() {
        let mut o = Owners::new(1);
        for x in [0, 1, u64::MAX, 0x8000_0000_0000_0000] {
            assert_eq!(o.of(x), 0);
        }
    }

    #[test]
    fn new_buckets_go_to_the_worker_with_fewest_and_stay() {
        let mut o = Owners::new(3);
        // Buckets in order of first appearance: 0, 1, 2, 0, 1, 2, ...
        let got: Vec<usize> = [7, 3, 9, 100, 5, 6, 8]
            .iter()
            .map(|&b| o.of(h(b, 0)))
            .collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2, 0]);
        // The same bucket (any low bits): the same worker, for ever.
        for b in [7, 3, 9, 100, 5, 6, 8] {
            let first = o.of(h(b, 0));
            assert_eq!(o.of(h(b, 12345)), first);
        }
        assert_eq!(o.owned, vec![3, 2, 2]);
        // The next new bucket goes to a worker with two.
        assert_eq!(o.of(h(200, 0)), 1);
    }

    #[test]
    fn every_bucket_owned_is_an_even_fixed_map() {
        let mut o = Owners::new(4);
        let mut per = [0u32; 4];
        for b in 0..(1u64 << OWNER_BITS) {
            per[o.of(h(b, 1))] += 1;
        }
        assert_eq!(per, [1 << (OWNER_BITS - 2); 4]);
        for b in (0..(1u64 << OWNER_BITS)).step_by(97) {
            assert_eq!(o.of(h(b, 2)), (b % 4) as usize);
        }
    }

    #[test]
    fn the_most_workers_fit() {
        let mut o = Owners::new(256);
        let w: Vec<usize> = (0..300).map(|b| o.of(h(b, 0))).collect();
        assert_eq!(w[255], 255);
        assert_eq!(w[256], 0);
        assert!(w.iter().all(|&x| x < 256));
    }
}
