//! Prefix tracking for the classifier's tuples (see the module docs of
//! [`super`]).

use std::collections::{HashMap, HashSet};

use super::{Addr, Packed, Tuple};
use crate::route::lpm::{Lpm, LpmBuilder};

/// Prefix tracking (Open vSwitch, Pfaff et al., NSDI 2015): for one
/// address field, which prefix lengths some tuple indexes a prefix of that
/// covers the packet's address. A tuple whose length is not among them
/// cannot match and is not probed.
#[derive(Clone, Debug)]
pub(super) struct Prune<A: Addr> {
    /// Longest indexed prefix covering the address -> index in `lens`.
    pub(super) lpm: Lpm<A>,
    /// Sets of lengths (bit `len - 1`) of the indexed prefixes covering a
    /// prefix.
    pub(super) lens: Vec<u128>,
}

/// Prefix tracking is used on a field when its tuples index prefixes of
/// at least this many distinct lengths: with fewer, a packet rarely skips
/// enough tuples to pay for the trie walk (measured with the `mixed`
/// benchmark: two lengths over five tuples cost more than they saved).
pub const PRUNE_MIN_LENGTHS: u32 = 3;

impl<A: Addr> Prune<A> {
    /// Tracks the prefixes that `field` reads from each tuple whose `bit`
    /// is set; `None` when not worth it.
    pub(super) fn build(
        tuples: &[Tuple<A>],
        bit: fn(&Tuple<A>) -> u128,
        field: fn(&Packed<A>) -> A,
    ) -> Option<Self> {
        let mut prefixes: HashSet<(A, u32), ahash::RandomState> = HashSet::default();
        let mut used = 0u128;
        for t in tuples.iter().filter(|t| bit(t) != 0) {
            let len = bit(t).trailing_zeros() + 1;
            used |= bit(t);
            for k in t.keys() {
                prefixes.insert((field(&k), len));
            }
        }
        if used.count_ones() < PRUNE_MIN_LENGTHS {
            return None;
        }
        let lengths: Vec<u32> = (0..128)
            .filter(|l| used >> l & 1 == 1)
            .map(|l| l + 1)
            .collect();
        let mut lens = Vec::new();
        let mut interned: HashMap<u128, u32, ahash::RandomState> = HashMap::default();
        let mut b = LpmBuilder::with_capacity(prefixes.len());
        for &(v, len) in &prefixes {
            let set = lengths
                .iter()
                .take_while(|&&l| l <= len)
                .filter(|&&l| prefixes.contains(&(v & A::prefix_mask(l), l)))
                .fold(0u128, |s, &l| s | 1 << (l - 1));
            let id = *interned.entry(set).or_insert_with(|| {
                lens.push(set);
                (lens.len() - 1) as u32
            });
            b.insert(v, len as u8, id);
        }
        Some(Prune {
            lpm: b.build(),
            lens,
        })
    }

    /// The lengths of indexed prefixes that cover `a`.
    #[inline]
    pub(super) fn lens(&self, a: A) -> u128 {
        self.lpm
            .lookup(a)
            .and_then(|i| self.lens.get(i as usize).copied())
            .unwrap_or(0)
    }
}
