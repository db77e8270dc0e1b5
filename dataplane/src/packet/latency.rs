//! How long a worker's batches take: a fixed log-bucket histogram in the
//! manner of HdrHistogram (3 significant bits: every bucket spans at most
//! 12.5 % of its value), recorded by the worker without allocation
//! ([`BatchTimes::record`]: one index computation and one add) and
//! published with its counters ([`LatencyBlock`]), so the control side can
//! sum the workers' and read p50 / p99 / p99.9 ([`BatchTimes::quantile`]).
//!
//! A batch's time is from the start of the poll turn (or the end of the
//! previous batch of the turn) to the end of its pipeline run and TX
//! flush: the worker reads the clock once more per batch for it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two (3 bits).
const SUB: u64 = 8;
const SUB_BITS: u32 = 3;
/// Values are clamped below 2^40 ns (about 18 minutes).
const MAX_EXP: u32 = 40;
/// Number of buckets.
pub const BUCKETS: usize = (MAX_EXP - SUB_BITS + 1) as usize * SUB as usize;

/// The bucket of `v`.
fn index(v: u64) -> usize {
    let v = v.min((1u64 << MAX_EXP) - 1);
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let m = (v >> (e - SUB_BITS)) & (SUB - 1);
    ((e - SUB_BITS + 1) as u64 * SUB + m) as usize
}

/// The lowest value of bucket `i`, and the first value of the next.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, i + 1);
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let m = i % SUB;
    let lo = (SUB + m) << (e - SUB_BITS);
    (lo, lo + (1u64 << (e - SUB_BITS)))
}

/// Batch times in nanoseconds, bucketed.
#[derive(Clone, PartialEq, Eq)]
pub struct BatchTimes {
    counts: Box<[u64; BUCKETS]>,
}

impl Default for BatchTimes {
    fn default() -> Self {
        BatchTimes {
            counts: Box::new([0; BUCKETS]),
        }
    }
}

impl std::fmt::Debug for BatchTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchTimes")
            .field("count", &self.count())
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}

impl BatchTimes {
    /// One batch of `ns` nanoseconds (the worker).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.counts[index(ns)] += 1;
    }

    /// Batches recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds another worker's.
    pub fn merge(&mut self, other: &BatchTimes) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }

    /// The time below which a fraction `q` (0..=1) of the batches took,
    /// as the midpoint of its bucket; `None` with no batch recorded.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                return Some(lo + (hi - 1 - lo) / 2);
            }
        }
        None
    }

    /// The non-empty buckets, fastest first: (lowest value, first value of
    /// the next bucket, batches), in ns.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 0)
            .map(|(i, &c)| {
                let (lo, hi) = bounds(i);
                (lo, hi, c)
            })
    }

    /// The slowest batch's bucket's upper end.
    pub fn max(&self) -> Option<u64> {
        let i = self.counts.iter().rposition(|&c| c != 0)?;
        Some(bounds(i).1 - 1)
    }
}

/// A worker's [`BatchTimes`] as other threads read them (one writer,
/// relaxed atomics; published with the counters).
#[derive(Debug)]
pub struct LatencyBlock {
    cells: Box<[AtomicU64]>,
}

impl Default for LatencyBlock {
    fn default() -> Self {
        LatencyBlock {
            cells: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LatencyBlock {
    /// Copies `t` in (the worker, its only writer).
    pub fn publish(&self, t: &BatchTimes) {
        for (cell, &v) in self.cells.iter().zip(t.counts.iter()) {
            cell.store(v, Ordering::Relaxed);
        }
    }

    /// A copy of the last published histogram.
    pub fn read(&self) -> BatchTimes {
        let mut t = BatchTimes::default();
        for (v, cell) in t.counts.iter_mut().zip(self.cells.iter()) {
            *v = cell.load(Ordering::Relaxed);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_within_an_eighth() {
        let mut prev_hi = 0;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            assert_eq!(lo, prev_hi, "bucket {i} starts where {} ends", i.max(1) - 1);
            assert!(hi > lo);
            assert!((hi - lo) * 8 <= lo.max(8), "bucket {i}: {lo}..{hi}");
            assert_eq!(index(lo), i);
            assert_eq!(index(hi - 1), i);
            prev_hi = hi;
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_known_batches() {
        let mut t = BatchTimes::default();
        assert_eq!(t.quantile(0.5), None);
        for _ in 0..990 {
            t.record(1_000);
        }
        for _ in 0..9 {
            t.record(50_000);
        }
        t.record(1_000_000);
        let near = |v: u64, want: u64| v.abs_diff(want) * 8 <= want;
        assert!(near(t.quantile(0.5).unwrap(), 1_000));
        assert!(near(t.quantile(0.99).unwrap(), 1_000));
        assert!(near(t.quantile(0.995).unwrap(), 50_000));
        assert!(near(t.quantile(0.999).unwrap(), 50_000));
        assert!(near(t.quantile(1.0).unwrap(), 1_000_000));
        assert!(t.max().unwrap() >= 1_000_000);
        let b: Vec<(u64, u64, u64)> = t.buckets().collect();
        assert_eq!(b.iter().map(|x| x.2).collect::<Vec<_>>(), [990, 9, 1]);
        assert!(b.iter().all(|&(lo, hi, _)| lo < hi));
        assert!(b[0].0 <= 1_000 && 1_000 < b[0].1, "{b:?}");
        assert!(b[2].0 <= 1_000_000 && 1_000_000 < b[2].1, "{b:?}");
        let block = LatencyBlock::default();
        block.publish(&t);
        let mut sum = block.read();
        assert_eq!(sum, t);
        sum.merge(&t);
        assert_eq!(sum.count(), 2000);
    }
}
