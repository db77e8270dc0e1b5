//! Longest-prefix match over fixed-width keys (IPv4 as `u32`, IPv6 as
//! `u128`): a multibit trie with controlled prefix expansion and leaf
//! pushing, the structure of DIR-24-8 (Gupta, Lin, McKeown, "Routing lookups
//! in hardware at memory access speeds", 1998) with strides sized for memory.
//!
//! * The root is an array indexed by the top 16 bits of the key (8 bits for
//!   tables of at most [`SMALL_TABLE`] prefixes, so that a `local` table with
//!   a handful of addresses costs 1 KiB, not 256 KiB).
//! * Every further level is a node of 256 entries indexed by the next byte.
//! * An entry is either empty, a value, or a link to a child node. Values
//!   are pushed down to the leaves: a lookup never backtracks, it reads one
//!   entry per level until it meets a non-link.
//!
//! IPv4 needs at most 3 reads (16-8-8), IPv6 at most 15 (16 + 14 × 8) and 7
//! for prefixes up to /64. A lookup allocates nothing and cannot panic.
//!
//! The trie is built once from the whole prefix list and never mutated:
//! routes change by building a new one on the control side.

use std::fmt;
use std::marker::PhantomData;

/// Tables with at most this many prefixes get an 8-bit root instead of a
/// 16-bit one.
pub const SMALL_TABLE: usize = 64;

/// Largest value an entry can hold (values are stored `+ 1`, with the top
/// bit marking links).
pub const MAX_VALUE: u32 = (1 << 31) - 2;

/// Link flag of an entry; the low 31 bits are the child node's index.
const LINK: u32 = 1 << 31;
/// Bits of the key consumed by each node below the root.
const STRIDE: u32 = 8;
const NODE: usize = 1 << STRIDE;

/// A key the trie can index: an unsigned integer read from its most
/// significant bit down.
pub trait LpmKey: Copy + Ord + fmt::Debug {
    /// Width of the key in bits (a multiple of 8, at least 16).
    const BITS: u32;
    /// The `width` bits (1..=16) that follow the first `skip` bits, as an
    /// index. `skip + width <= BITS`.
    fn bits(self, skip: u32, width: u32) -> usize;
    /// The key with all but its first `len` bits cleared.
    fn truncate(self, len: u32) -> Self;
}

impl LpmKey for u32 {
    const BITS: u32 = 32;
    #[inline(always)]
    fn bits(self, skip: u32, width: u32) -> usize {
        ((self << skip) >> (Self::BITS - width)) as usize
    }
    #[inline]
    fn truncate(self, len: u32) -> Self {
        if len == 0 {
            0
        } else {
            self & (u32::MAX << (Self::BITS - len.min(Self::BITS)))
        }
    }
}

impl LpmKey for u128 {
    const BITS: u32 = 128;
    #[inline(always)]
    fn bits(self, skip: u32, width: u32) -> usize {
        ((self << skip) >> (Self::BITS - width)) as usize
    }
    #[inline]
    fn truncate(self, len: u32) -> Self {
        if len == 0 {
            0
        } else {
            self & (u128::MAX << (Self::BITS - len.min(Self::BITS)))
        }
    }
}

/// An immutable longest-prefix-match table from prefixes to `u32` values.
#[derive(Clone)]
pub struct Lpm<K> {
    /// Bits of the key that index the root: 8 or 16.
    root_bits: u32,
    root: Box<[u32]>,
    /// All nodes below the root, 256 entries each, back to back.
    nodes: Box<[u32]>,
    /// Distinct prefixes stored.
    prefixes: usize,
    _key: PhantomData<fn() -> K>,
}

impl<K: LpmKey> Lpm<K> {
    /// The value of the longest prefix that contains `key`.
    #[inline]
    pub fn lookup(&self, key: K) -> Option<u32> {
        let mut e = self
            .root
            .get(key.bits(0, self.root_bits))
            .copied()
            .unwrap_or(0);
        let mut depth = self.root_bits;
        // Links only ever point to nodes that cover bits below K::BITS.
        while e & LINK != 0 && depth < K::BITS {
            let base = ((e & !LINK) as usize) << STRIDE;
            e = self
                .nodes
                .get(base + key.bits(depth, STRIDE))
                .copied()
                .unwrap_or(0);
            depth += STRIDE;
        }
        if e & LINK != 0 {
            return None;
        }
        e.checked_sub(1)
    }

    /// Distinct prefixes stored.
    pub fn len(&self) -> usize {
        self.prefixes
    }

    /// Whether no prefix is stored.
    pub fn is_empty(&self) -> bool {
        self.prefixes == 0
    }

    /// Nodes below the root.
    pub fn nodes(&self) -> usize {
        self.nodes.len() / NODE
    }

    /// Bytes held by the entries (root and nodes).
    pub fn memory_bytes(&self) -> usize {
        (self.root.len() + self.nodes.len()) * std::mem::size_of::<u32>()
    }
}

impl<K: LpmKey> Default for Lpm<K> {
    fn default() -> Self {
        LpmBuilder::new().build()
    }
}

impl<K> fmt::Debug for Lpm<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lpm")
            .field("prefixes", &self.prefixes)
            .field("root_bits", &self.root_bits)
            .field("nodes", &(self.nodes.len() / NODE))
            .finish()
    }
}

/// Collects prefixes, then builds an [`Lpm`] in one pass.
///
/// Inserting is a push; [`LpmBuilder::build`] sorts the prefixes by length
/// and expands each into the entries it covers, shortest first, so a longer
/// prefix always overwrites a shorter one and no entry is written twice by
/// prefixes of the same length. Building 100k prefixes takes milliseconds.
#[derive(Debug, Clone)]
pub struct LpmBuilder<K> {
    entries: Vec<(K, u8, u32)>,
}

impl<K: LpmKey> Default for LpmBuilder<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: LpmKey> LpmBuilder<K> {
    pub fn new() -> Self {
        LpmBuilder {
            entries: Vec::new(),
        }
    }

    pub fn with_capacity(n: usize) -> Self {
        LpmBuilder {
            entries: Vec::with_capacity(n),
        }
    }

    /// Adds `prefix/len -> value`. Host bits of `prefix` are ignored. When
    /// the same prefix is inserted twice, the first value is kept.
    ///
    /// # Panics
    /// When `len > K::BITS` or `value > MAX_VALUE` (caller bugs: the FIB
    /// passes prefix lengths from `IpNet` and next-hop indices).
    pub fn insert(&mut self, prefix: K, len: u8, value: u32) {
        assert!(u32::from(len) <= K::BITS, "prefix length {len} too long");
        assert!(value <= MAX_VALUE, "LPM value {value} out of range");
        self.entries
            .push((prefix.truncate(u32::from(len)), len, value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn build(mut self) -> Lpm<K> {
        // Shortest first; among equal prefixes the first inserted stays
        // first (stable sort) and dedup keeps it.
        self.entries.sort_by_key(|&(k, l, _)| (l, k));
        self.entries.dedup_by_key(|&mut (k, l, _)| (l, k));
        let root_bits = if self.entries.len() <= SMALL_TABLE {
            8
        } else {
            16
        };
        let mut t = Builder {
            root_bits,
            root: vec![0; 1 << root_bits],
            nodes: Vec::new(),
        };
        for &(key, len, value) in &self.entries {
            t.insert(key, u32::from(len), value + 1);
        }
        Lpm {
            root_bits,
            root: t.root.into_boxed_slice(),
            nodes: t.nodes.into_boxed_slice(),
            prefixes: self.entries.len(),
            _key: PhantomData,
        }
    }
}

struct Builder {
    root_bits: u32,
    root: Vec<u32>,
    nodes: Vec<u32>,
}

impl Builder {
    /// Expands `key/len` into its entries. Every prefix inserted before has
    /// a length <= `len`, so the covered entries hold values, never links.
    fn insert<K: LpmKey>(&mut self, key: K, len: u32, leaf: u32) {
        if len <= self.root_bits {
            let start = key.bits(0, self.root_bits);
            let n = 1usize << (self.root_bits - len);
            fill(&mut self.root[start..start + n], leaf);
            return;
        }
        let slot = key.bits(0, self.root_bits);
        let mut node = match self.root[slot] {
            e if e & LINK != 0 => (e & !LINK) as usize,
            e => {
                let n = self.push_node(e);
                self.root[slot] = LINK | n as u32;
                n
            }
        };
        let mut depth = self.root_bits;
        loop {
            let base = node * NODE;
            if len <= depth + STRIDE {
                let start = base + key.bits(depth, STRIDE);
                let n = 1usize << (depth + STRIDE - len);
                fill(&mut self.nodes[start..start + n], leaf);
                return;
            }
            let slot = base + key.bits(depth, STRIDE);
            node = match self.nodes[slot] {
                e if e & LINK != 0 => (e & !LINK) as usize,
                e => {
                    let n = self.push_node(e);
                    self.nodes[slot] = LINK | n as u32;
                    n
                }
            };
            depth += STRIDE;
        }
    }

    /// A new node whose entries all inherit `leaf` (leaf pushing).
    fn push_node(&mut self, leaf: u32) -> usize {
        let n = self.nodes.len() / NODE;
        assert!(n < LINK as usize, "LPM node index overflow");
        self.nodes.resize(self.nodes.len() + NODE, leaf);
        n
    }
}

fn fill(entries: &mut [u32], leaf: u32) {
    debug_assert!(entries.iter().all(|e| e & LINK == 0));
    entries.fill(leaf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: a linear scan for the longest containing prefix,
    /// first inserted among equals.
    fn oracle<K: LpmKey>(prefixes: &[(K, u8, u32)], key: K) -> Option<u32> {
        let mut best: Option<(u8, u32)> = None;
        for &(p, l, v) in prefixes {
            if key.truncate(u32::from(l)) == p.truncate(u32::from(l))
                && best.map_or(true, |(bl, _)| l > bl)
            {
                best = Some((l, v));
            }
        }
        best.map(|(_, v)| v)
    }

    fn build<K: LpmKey>(prefixes: &[(K, u8, u32)]) -> Lpm<K> {
        let mut b = LpmBuilder::new();
        for &(p, l, v) in prefixes {
            b.insert(p, l, v);
        }
        b.build()
    }

    /// Probes: each prefix's first and last address and their neighbours,
    /// plus the given random keys.
    fn probes_v4(prefixes: &[(u32, u8, u32)], random: &[u32]) -> Vec<u32> {
        let mut out = random.to_vec();
        for &(p, l, _) in prefixes {
            let first = p.truncate(u32::from(l));
            let last = first | (u32::MAX.checked_shr(u32::from(l)).unwrap_or(0));
            out.extend([first, last, first.wrapping_sub(1), last.wrapping_add(1)]);
        }
        out
    }

    fn probes_v6(prefixes: &[(u128, u8, u32)], random: &[u128]) -> Vec<u128> {
        let mut out = random.to_vec();
        for &(p, l, _) in prefixes {
            let first = p.truncate(u32::from(l));
            let last = first | (u128::MAX.checked_shr(u32::from(l)).unwrap_or(0));
            out.extend([first, last, first.wrapping_sub(1), last.wrapping_add(1)]);
        }
        out
    }

    #[test]
    fn empty() {
        let t: Lpm<u32> = LpmBuilder::new().build();
        assert_eq!(t.lookup(0), None);
        assert_eq!(t.lookup(u32::MAX), None);
        assert!(t.is_empty());
        let t: Lpm<u128> = Lpm::default();
        assert_eq!(t.lookup(1), None);
    }

    #[test]
    fn default_route_and_host_routes() {
        let t = build(&[
            (0u32, 0, 7),
            (0x0a00_0000, 8, 1),
            (0x0a01_0200, 24, 2),
            (0x0a01_0203, 32, 3),
            (0x0a01_0280, 25, 4),
        ]);
        assert_eq!(t.lookup(0x0b00_0000), Some(7));
        assert_eq!(t.lookup(0x0a00_0001), Some(1));
        assert_eq!(t.lookup(0x0a01_0201), Some(2));
        assert_eq!(t.lookup(0x0a01_0203), Some(3));
        assert_eq!(t.lookup(0x0a01_0204), Some(2));
        assert_eq!(t.lookup(0x0a01_02ff), Some(4));
        assert_eq!(t.lookup(0x0a01_0300), Some(1));
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn host_bits_ignored_and_first_duplicate_wins() {
        let t = build(&[(0x0a01_02ffu32, 24, 1), (0x0a01_0200, 24, 2)]);
        assert_eq!(t.lookup(0x0a01_0277), Some(1));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn ipv6_deep_prefixes() {
        let p = |s: &str| u128::from(s.parse::<std::net::Ipv6Addr>().unwrap());
        let t = build(&[
            (p("2001:db8::"), 32, 1),
            (p("2001:db8:1::"), 48, 2),
            (p("2001:db8:1:2::"), 64, 3),
            (p("2001:db8:1:2::5"), 128, 4),
            (p("2001:db8:1:2::4"), 127, 5),
        ]);
        assert_eq!(t.lookup(p("2001:db8:ffff::1")), Some(1));
        assert_eq!(t.lookup(p("2001:db8:1:3::1")), Some(2));
        assert_eq!(t.lookup(p("2001:db8:1:2::1")), Some(3));
        assert_eq!(t.lookup(p("2001:db8:1:2::5")), Some(4));
        assert_eq!(t.lookup(p("2001:db8:1:2::4")), Some(5));
        assert_eq!(t.lookup(p("2001:db8:1:2::6")), Some(3));
        assert_eq!(t.lookup(p("2001:db9::")), None);
    }

    #[test]
    fn large_table_uses_wide_root() {
        let mut b = LpmBuilder::with_capacity(20_000);
        for i in 0..20_000u32 {
            // 10.x.y.0/24 and a few /28s below.
            b.insert(0x0a00_0000 | (i << 8), 24, i);
        }
        for i in 0..1_000u32 {
            b.insert(0x0a00_0000 | (i << 8) | 0x40, 28, 100_000 + i);
        }
        let t = b.build();
        assert_eq!(t.root_bits, 16);
        assert_eq!(t.lookup(0x0a00_0305), Some(3));
        assert_eq!(t.lookup(0x0a00_0345), Some(100_003));
        assert_eq!(t.lookup(0x0a00_0355), Some(3));
        assert_eq!(t.lookup(0x0b00_0000), None);
    }

    fn v4_prefix() -> impl Strategy<Value = (u32, u8, u32)> {
        // Cluster keys so that prefixes overlap often.
        (
            prop_oneof![Just(0x0a00_0000u32), Just(0xc0a8_0000), any::<u32>()],
            any::<u32>(),
            prop_oneof![0u8..=32, 16u8..=32, 20u8..=28],
            0u32..1000,
        )
            .prop_map(|(base, r, len, v)| (base ^ (r & 0x00ff_ffff), len, v))
    }

    fn v6_prefix() -> impl Strategy<Value = (u128, u8, u32)> {
        (
            prop_oneof![
                Just(0x2001_0db8u128 << 96),
                Just(0xfd00u128 << 112),
                any::<u128>()
            ],
            any::<u128>(),
            prop_oneof![0u8..=128, 16u8..=64, 60u8..=128],
            0u32..1000,
        )
            .prop_map(|(base, r, len, v)| (base ^ (r >> 32), len, v))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn v4_matches_linear_scan(
            prefixes in prop::collection::vec(v4_prefix(), 0..200),
            random in prop::collection::vec(any::<u32>(), 0..50),
        ) {
            let t = build(&prefixes);
            for key in probes_v4(&prefixes, &random) {
                prop_assert_eq!(t.lookup(key), oracle(&prefixes, key), "key {:#x}", key);
            }
        }

        #[test]
        fn v6_matches_linear_scan(
            prefixes in prop::collection::vec(v6_prefix(), 0..200),
            random in prop::collection::vec(any::<u128>(), 0..50),
        ) {
            let t = build(&prefixes);
            for key in probes_v6(&prefixes, &random) {
                prop_assert_eq!(t.lookup(key), oracle(&prefixes, key), "key {:#x}", key);
            }
        }
    }
}
