//! The aggregator's latency histograms: [`Hist`] (HdrHistogram's layout,
//! for every key's latency) and [`SmallHist`] (8 buckets per octave, for
//! each heavy-hitter entry and method).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latency histograms hold microseconds up to one hour.
pub(super) const HIST_MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds (HdrHistogram, 2 significant
/// digits), serialised as its non-empty buckets.
///
/// The hot path only bumps a counter: values are counted in HdrHistogram's
/// own bucket layout (the index arithmetic of `hdrhistogram` for these
/// bounds, tested value by value against the crate), and the crate's
/// `Histogram` is built from the counts when a figure is asked for
/// ([`Hist::hdr`]). Recording through the crate cost about 60
/// instructions a value, three values a transaction.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    /// Counts by HdrHistogram index (empty until the first value).
    pub(super) counts: Vec<u32>,
    /// Values recorded.
    total: u64,
}

/// `hdrhistogram`'s layout for 1 to [`HIST_MAX_US`] at 2 significant
/// digits: 256 sub-buckets (half of them per bucket past the first).
const SUB_BUCKET_MAGNITUDE: u32 = 8;
const SUB_BUCKET_HALF_MAGNITUDE: u32 = SUB_BUCKET_MAGNITUDE - 1;
const SUB_BUCKET_MASK: u64 = (1 << SUB_BUCKET_MAGNITUDE) - 1;

/// The HdrHistogram counts index of `v` (1 ..= [`HIST_MAX_US`]).
#[inline(always)]
const fn hdr_index(v: u64) -> usize {
    let bucket = (64 - SUB_BUCKET_MAGNITUDE) - (v | SUB_BUCKET_MASK).leading_zeros();
    let sub = (v >> bucket) as usize;
    ((bucket as usize + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub - (1 << SUB_BUCKET_HALF_MAGNITUDE)
}

/// The lowest value counted at index `i`.
const fn hdr_value(i: usize) -> u64 {
    let half = 1usize << SUB_BUCKET_HALF_MAGNITUDE;
    let bucket = (i >> SUB_BUCKET_HALF_MAGNITUDE) as i64 - 1;
    let mut sub = (i & (half - 1)) + half;
    let bucket = if bucket < 0 {
        sub -= half;
        0
    } else {
        bucket as u32
    };
    (sub as u64) << bucket
}

/// Length of the counts.
const HIST_LEN: usize = hdr_index(HIST_MAX_US) + 1;

impl Hist {
    /// Records one value (clamped into range).
    #[inline(always)]
    pub fn record(&mut self, us: u64) {
        // Past HIST_MAX_US the index is that of HIST_MAX_US (its bucket)
        // or past the counts (then `record_n` clamps): no upper clamp here.
        let i = hdr_index(us.max(1));
        match self.counts.get_mut(i) {
            Some(c) => {
                *c = c.saturating_add(1);
                self.total += 1;
            }
            // Before the first value, or past HIST_MAX_US.
            None => self.record_n(us, 1),
        }
    }

    /// Adds `n` at the bucket of `value`.
    pub fn record_n(&mut self, value: u64, n: u32) {
        if self.counts.is_empty() {
            self.counts = vec![0; HIST_LEN];
        }
        let i = hdr_index(value.clamp(1, HIST_MAX_US));
        if let Some(c) = self.counts.get_mut(i) {
            *c = c.saturating_add(n);
        }
        self.total += u64::from(n);
    }

    /// Adds another histogram.
    pub fn add(&mut self, o: &Hist) {
        if o.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; HIST_LEN];
        }
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += o.total;
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The counts as an `hdrhistogram` histogram (what every figure is
    /// computed with).
    pub fn hdr(&self) -> Histogram<u32> {
        let mut h = Histogram::new_with_bounds(1, HIST_MAX_US, 2).expect("static histogram bounds");
        for (i, &n) in self.counts.iter().enumerate() {
            if n > 0 {
                let _ = h.record_n(hdr_value(i), n);
            }
        }
        h
    }

    /// The non-empty buckets as `(highest value of the bucket, count)`,
    /// lowest first: `hdrhistogram`'s `iter_recorded` with
    /// `value_iterated_to`, without building the histogram.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (hdr_highest(hdr_value(i)), u64::from(n)))
    }

    /// The value at quantile `q` (0 when empty): `hdrhistogram`'s
    /// `value_at_quantile` over the same counts.
    pub fn q(&self, q: f64) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let quantile = if q > 1.0 { 1.0 } else { q };
        let want = ((quantile * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += u64::from(n);
            if seen >= want {
                let v = hdr_value(i);
                return if quantile == 0.0 { v } else { hdr_highest(v) };
            }
        }
        0
    }
}

/// The highest value in the bucket of `v`.
const fn hdr_highest(v: u64) -> u64 {
    let bucket = (64 - SUB_BUCKET_MAGNITUDE) - (v | SUB_BUCKET_MASK).leading_zeros();
    v.saturating_add(1 << bucket) - 1
}

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v: Vec<(u64, u64)> = self.buckets().collect();
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<(u64, u64)> = Vec::deserialize(d)?;
        let mut h = Hist::default();
        for (value, n) in v {
            h.record_n(value, u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(h)
    }
}

/// A small latency histogram for heavy-hitter entries: log buckets with 8
/// per octave (about 9% wide), serialised as the `(bucket, count)` pairs of
/// its non-empty buckets, lowest first.
///
/// Counts are kept dense over the window of buckets seen so far (`lo` and
/// up), so recording is an index and an add rather than a search; the
/// window spans at most [`SmallHist::BUCKETS`] buckets (2 KiB, less than a
/// sparse list of every bucket).
#[derive(Debug, Clone, Default)]
pub struct SmallHist {
    /// The first bucket of the window.
    lo: u16,
    /// Counts of buckets `lo ..` (empty until the first value).
    counts: Vec<u32>,
}

impl SmallHist {
    /// Number of buckets (the bucket of `u64::MAX` is the last).
    pub const BUCKETS: usize = 496;

    #[inline(always)]
    pub(super) fn bucket(us: u64) -> u16 {
        if us < 8 {
            return us as u16;
        }
        let octave = 63 - us.leading_zeros() as u64; // >= 3
        let sub = (us >> (octave - 3)) & 7;
        ((octave - 2) * 8 + sub) as u16
    }

    /// The upper edge of a bucket, microseconds.
    pub fn upper(b: u16) -> u64 {
        let b = u64::from(b);
        if b < 8 {
            return b;
        }
        let octave = b / 8 + 2;
        let sub = b % 8;
        // The last bucket's edge is 2^64 - 1: computed wide, it cannot wrap.
        let edge = (u128::from(8 + sub + 1) << (octave - 3)) - 1;
        u64::try_from(edge).unwrap_or(u64::MAX)
    }

    /// Records one value.
    #[inline(always)]
    pub fn record(&mut self, us: u64) {
        let b = Self::bucket(us);
        match self.counts.get_mut(usize::from(b.wrapping_sub(self.lo))) {
            Some(c) => *c = c.saturating_add(1),
            None => self.grow_add(b, 1),
        }
    }

    /// Records one value by its bucket ([`SmallHist::bucket`]).
    #[inline(always)]
    pub(super) fn record_bucket(&mut self, b: u16) {
        match self.counts.get_mut(usize::from(b.wrapping_sub(self.lo))) {
            Some(c) => *c = c.saturating_add(1),
            None => self.grow_add(b, 1),
        }
    }

    /// Records `n` values of `us` microseconds.
    pub fn record_n(&mut self, us: u64, n: u32) {
        self.add_bucket(Self::bucket(us), n);
    }

    fn add_bucket(&mut self, b: u16, n: u32) {
        match self.counts.get_mut(usize::from(b.wrapping_sub(self.lo))) {
            Some(c) => *c = c.saturating_add(n),
            None => self.grow_add(b, n),
        }
    }

    /// Widens the window to hold bucket `b` (outside it), then adds `n`.
    #[cold]
    #[inline(never)]
    fn grow_add(&mut self, b: u16, n: u32) {
        if n == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.lo = b;
            self.counts.push(n);
            return;
        }
        if b < self.lo {
            let more = usize::from(self.lo - b);
            self.counts.splice(0..0, std::iter::repeat_n(0, more));
            self.lo = b;
            self.counts[0] = n;
        } else {
            let at = usize::from(b - self.lo);
            self.counts.resize(at + 1, 0);
            self.counts[at] = n;
        }
    }

    /// The non-empty buckets as `(bucket, count)`, lowest first.
    pub fn buckets(&self) -> impl Iterator<Item = (u16, u32)> + '_ {
        let lo = self.lo;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(move |(i, &n)| (lo + i as u16, n))
    }

    /// Adds another.
    pub fn add(&mut self, o: &SmallHist) {
        for (b, n) in o.buckets() {
            self.add_bucket(b, n);
        }
    }

    /// The upper edge of the bucket holding quantile `q` (0 when empty).
    pub fn q(&self, q: f64) -> u64 {
        let total: u64 = self.counts.iter().map(|&n| u64::from(n)).sum();
        if total == 0 {
            return 0;
        }
        let want = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, n) in self.buckets() {
            seen += u64::from(n);
            if seen >= want {
                return Self::upper(b);
            }
        }
        0
    }
}

impl PartialEq for SmallHist {
    fn eq(&self, o: &SmallHist) -> bool {
        self.buckets().eq(o.buckets())
    }
}

impl Eq for SmallHist {}

impl Serialize for SmallHist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.buckets())
    }
}

impl<'de> Deserialize<'de> for SmallHist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<(u16, u32)> = Vec::deserialize(d)?;
        let mut h = SmallHist::default();
        for (b, n) in v {
            // A bucket past the last (not written by spanlens) counts in it.
            h.add_bucket(b.min(Self::BUCKETS as u16 - 1), n);
        }
        Ok(h)
    }
}
