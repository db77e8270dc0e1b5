//! Port conditions as sets of intervals, and their expansion into aligned
//! power-of-two blocks (prefixes of the 16-bit port) that a tuple can
//! index: a range `lo:hi` is at most 30 blocks (`2 * 16 - 2`), its
//! inversion at most 30 more.

use super::model::{PortList, PortMatch, PortSide};

/// Sorted, disjoint, non-adjacent inclusive intervals of ports.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct PortSet(Vec<(u16, u16)>);

impl PortSet {
    pub fn all() -> Self {
        PortSet(vec![(0, u16::MAX)])
    }

    /// The union of `items` (an item with `lo > hi` is empty).
    pub fn union(items: impl IntoIterator<Item = (u16, u16)>) -> Self {
        let mut v: Vec<(u16, u16)> = items.into_iter().filter(|(l, h)| l <= h).collect();
        v.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(v.len());
        for (l, h) in v {
            match out.last_mut() {
                Some(last) if u32::from(l) <= u32::from(last.1) + 1 => last.1 = last.1.max(h),
                _ => out.push((l, h)),
            }
        }
        PortSet(out)
    }

    /// The ports `m` holds for.
    pub fn of(m: &PortMatch) -> Self {
        let s = Self::union([(m.lo, m.hi)]);
        if m.invert {
            s.complement()
        } else {
            s
        }
    }

    pub fn complement(&self) -> Self {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut next = 0u32;
        for &(l, h) in &self.0 {
            if u32::from(l) > next {
                out.push((next as u16, l - 1));
            }
            next = u32::from(h) + 1;
        }
        if next <= u32::from(u16::MAX) {
            out.push((next as u16, u16::MAX));
        }
        PortSet(out)
    }

    pub fn intersect(&self, o: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while let (Some(&(a0, a1)), Some(&(b0, b1))) = (self.0.get(i), o.0.get(j)) {
            let (lo, hi) = (a0.max(b0), a1.min(b1));
            if lo <= hi {
                out.push((lo, hi));
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        PortSet(out)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_all(&self) -> bool {
        self.0 == [(0, u16::MAX)]
    }

    pub fn intervals(&self) -> &[(u16, u16)] {
        &self.0
    }

    /// The aligned blocks covering the set exactly, as `(mask, value)`;
    /// the whole port space is one block of mask 0.
    pub fn prefixes(&self) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.0 {
            let (mut lo, hi) = (u32::from(lo), u32::from(hi));
            while lo <= hi {
                let mut size = if lo == 0 {
                    1u32 << 16
                } else {
                    1 << lo.trailing_zeros()
                };
                while lo + size - 1 > hi {
                    size >>= 1;
                }
                out.push(((!(size - 1) & 0xffff) as u16, lo as u16));
                lo += size;
            }
        }
        out
    }
}

/// A rule's port condition: it holds when one of the alternatives does,
/// an alternative `(S, D)` when the source port is in `S` and the
/// destination port in `D`. `None`: the rule has no port match (packets
/// without ports match too); `Some(vec![])`: it never holds.
pub(super) fn alternatives(
    sport: Option<&PortMatch>,
    dport: Option<&PortMatch>,
    list: Option<&PortList>,
) -> Option<Vec<(PortSet, PortSet)>> {
    if sport.is_none() && dport.is_none() && list.is_none() {
        return None;
    }
    let s = sport.map_or_else(PortSet::all, PortSet::of);
    let d = dport.map_or_else(PortSet::all, PortSet::of);
    let mut alts = match list {
        None => vec![(s, d)],
        Some(l) => {
            let x = PortSet::union(l.items().iter().copied());
            let x = if l.invert { x.complement() } else { x };
            match (l.side, l.invert) {
                (PortSide::Src, _) => vec![(s.intersect(&x), d)],
                (PortSide::Dst, _) => vec![(s, d.intersect(&x))],
                // Neither port in the list: both in its complement.
                (PortSide::Either, true) => vec![(s.intersect(&x), d.intersect(&x))],
                (PortSide::Either, false) => {
                    vec![(s.intersect(&x), d.clone()), (s, d.intersect(&x))]
                }
            }
        }
    };
    alts.retain(|(s, d)| !s.is_empty() && !d.is_empty());
    Some(alts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contains(set: &PortSet, p: u16) -> bool {
        set.intervals().iter().any(|&(lo, hi)| lo <= p && p <= hi)
    }

    fn in_blocks(blocks: &[(u16, u16)], p: u16) -> usize {
        blocks.iter().filter(|&&(m, v)| p & m == v).count()
    }

    #[test]
    fn blocks_of_ranges() {
        assert_eq!(PortSet::all().prefixes(), vec![(0, 0)]);
        assert_eq!(PortSet::union([(80, 80)]).prefixes(), vec![(0xffff, 80)]);
        // 1024:65535 is six blocks; 1:65534 the most a range needs, 30.
        assert_eq!(PortSet::union([(1024, u16::MAX)]).prefixes().len(), 6);
        assert_eq!(PortSet::union([(1, u16::MAX - 1)]).prefixes().len(), 30);
        assert!(PortSet::union([(5, 4)]).is_empty());
        assert!(PortSet::of(&PortMatch::range(5, 4).inverted()).is_all());
        assert!(PortSet::of(&PortMatch::range(0, u16::MAX).inverted()).is_empty());
    }

    proptest! {
        /// Union, complement, intersection and the blocks agree with
        /// membership, port by port at the edges; every port is in at
        /// most one block.
        #[test]
        fn sets_and_blocks(
            a in prop::collection::vec((any::<u16>(), any::<u16>()), 0..5),
            b in prop::collection::vec((any::<u16>(), any::<u16>()), 0..5),
            probes in prop::collection::vec(any::<u16>(), 16),
        ) {
            let sa = PortSet::union(a.iter().copied());
            let sb = PortSet::union(b.iter().copied());
            let (c, i) = (sa.complement(), sa.intersect(&sb));
            let blocks = sa.prefixes();
            let edges = a.iter().chain(&b).flat_map(|&(l, h)| {
                [l, h, l.wrapping_sub(1), h.wrapping_add(1)]
            });
            for p in edges.chain(probes).chain([0, u16::MAX]) {
                let in_a = a.iter().any(|&(l, h)| l <= p && p <= h);
                let in_b = b.iter().any(|&(l, h)| l <= p && p <= h);
                prop_assert_eq!(contains(&sa, p), in_a);
                prop_assert_eq!(contains(&c, p), !in_a);
                prop_assert_eq!(contains(&i, p), in_a && in_b);
                prop_assert_eq!(in_blocks(&blocks, p), usize::from(in_a));
            }
        }
    }
}
