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
