//! Tuple pruning for the classifier (see the module docs of [`super`]).

use std::collections::HashMap;

use super::Addr;
use crate::route::lpm::{Lpm, LpmBuilder};

/// Tuple pruning (Srinivasan, Suri, Varghese, "Packet Classification
/// using Tuple Space Search", SIGCOMM 1999, section 4): for the source
/// and for the destination address, a longest-prefix-match trie over the
/// prefixes the rules of the chain name gives the set of tuples holding a
/// rule whose prefix covers the packet's address (a bitmap, bit `j` for
/// tuple `j`). A tuple outside the intersection of the two sets holds no
/// rule that can match and is not probed.
///
/// The prefixes are the rules' own, not their tuple's (a `/13` in a tuple
/// of `/8` is tracked as the `/13`), so a tuple merged from many rules is
/// pruned as precisely as if each rule had its own.
#[derive(Clone, Debug)]
pub(super) struct Prune<A: Addr> {
    /// `u64` words per set.
    words: usize,
    src: FieldPrune<A>,
    dst: FieldPrune<A>,
    /// The sets of both fields, `words` each, interned.
    sets: Vec<u64>,
}

#[derive(Clone, Debug)]
struct FieldPrune<A: Addr> {
    /// Longest tracked prefix covering the address -> offset in `sets`.
    lpm: Lpm<A>,
    /// The set of an address no tracked prefix covers: the tuples with a
    /// rule that does not index the field.
    none: u32,
}

/// The tuple pruning of a chain is built when it has at least this many
/// tuples (with fewer, the walk over the tuples costs about what the two
/// trie walks would), and kept when the build's cost model says it saves
/// probes (see [`super::BuildMode::Auto`]).
pub const PRUNE_MIN_TUPLES: usize = 4;

/// Interns sets of `words` words in one pool.
struct SetPool<'a> {
    words: usize,
    sets: &'a mut Vec<u64>,
    seen: HashMap<Vec<u64>, u32, ahash::RandomState>,
}

impl SetPool<'_> {
    fn intern(&mut self, set: &[u64]) -> u32 {
        if let Some(&off) = self.seen.get(set) {
            return off;
        }
        let off = self.sets.len() as u32;
        self.sets.extend_from_slice(set);
        self.seen.insert(set.to_vec(), off);
        off
    }
}

/// The longest prefix within `mask` (all of it for a prefix mask; a
/// non-contiguous mask such as `255.0.255.0` tracks its leading ones).
pub(super) fn prefix_within<A: Addr>(value: A, mask: A) -> (A, u32) {
    let len = mask.prefix_len().unwrap_or_else(|| {
        (0..<A as Addr>::BITS)
            .rev()
            .find(|&l| mask & A::prefix_mask(l) == A::prefix_mask(l))
            .unwrap_or(0)
    });
    (value & A::prefix_mask(len), len)
}

impl<A: Addr> Prune<A> {
    /// `src[j]` / `dst[j]`: the prefixes `(value, len)` of the rules of
    /// tuple `j` on that field (`len` 0: the field is not indexed by some
    /// rule of the tuple).
    pub(super) fn build(src: &[Vec<(A, u32)>], dst: &[Vec<(A, u32)>]) -> Self {
        let words = src.len().max(dst.len()).div_ceil(64).max(1);
        let mut sets = Vec::new();
        let mut pool = SetPool {
            words,
            sets: &mut sets,
            seen: HashMap::default(),
        };
        let src = FieldPrune::build(src, &mut pool);
        let dst = FieldPrune::build(dst, &mut pool);
        sets.shrink_to_fit();
        Prune {
            words,
            src,
            dst,
            sets,
        }
    }

    /// The offsets of the packet's source and destination sets.
    #[inline]
    pub(super) fn sets(&self, src: A, dst: A) -> (u32, u32) {
        (self.src.lookup(src), self.dst.lookup(dst))
    }

    /// `u64` words per set.
    #[inline]
    pub(super) fn words(&self) -> usize {
        self.words
    }

    /// Word `w` of the intersection of the sets at `s` and `d`.
    #[inline]
    pub(super) fn word(&self, (s, d): (u32, u32), w: usize) -> u64 {
        let at = |off: u32| self.sets.get(off as usize + w).copied().unwrap_or_default();
        at(s) & at(d)
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.src.lpm.memory_bytes()
            + self.dst.lpm.memory_bytes()
            + self.sets.capacity() * std::mem::size_of::<u64>()
    }
}

impl<A: Addr> FieldPrune<A> {
    fn build(tuples: &[Vec<(A, u32)>], pool: &mut SetPool) -> Self {
        let words = pool.words;
        let mut direct: HashMap<(A, u32), Vec<u64>, ahash::RandomState> = HashMap::default();
        let mut none = vec![0u64; words];
        let mut used = 0u128;
        for (j, prefixes) in tuples.iter().enumerate() {
            for &(v, len) in prefixes {
                let set = if len == 0 {
                    &mut none
                } else {
                    used |= 1 << (len - 1);
                    direct.entry((v, len)).or_insert_with(|| vec![0; words])
                };
                set[j / 64] |= 1 << (j % 64);
            }
        }
        let lengths: Vec<u32> = (1..=<A as Addr>::BITS)
            .filter(|l| used >> (l - 1) & 1 == 1)
            .collect();
        let mut b = LpmBuilder::with_capacity(direct.len());
        let mut covering = vec![0u64; words];
        for &(v, len) in direct.keys() {
            covering.copy_from_slice(&none);
            for &l in lengths.iter().take_while(|&&l| l <= len) {
                if let Some(s) = direct.get(&(v & A::prefix_mask(l), l)) {
                    covering.iter_mut().zip(s).for_each(|(c, s)| *c |= s);
                }
            }
            b.insert(v, len as u8, pool.intern(&covering));
        }
        FieldPrune {
            lpm: b.build(),
            none: pool.intern(&none),
        }
    }

    #[inline]
    fn lookup(&self, a: A) -> u32 {
        self.lpm.lookup(a).unwrap_or(self.none)
    }
}
