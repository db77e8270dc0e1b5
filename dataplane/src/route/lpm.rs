//! Longest-prefix match over fixed-width keys (IPv4 as `u32`, IPv6 as
//! `u128`): a multibit trie with leaf pushing and Poptrie's node
//! compression (Asai, Ohara, "Poptrie: A Compressed Trie with Population
//! Count for Fast and Scalable Software IP Routing Table Lookup", SIGCOMM
//! 2015).
//!
//! * The root is an array indexed by the top 16 bits of the key (8 bits for
//!   tables of at most [`SMALL_TABLE`] prefixes, so that a `local` table with
//!   a handful of addresses costs 1 KiB, not 256 KiB; 18 bits above
//!   [`LARGE_TABLE`] prefixes, Poptrie's "direct pointing" s = 18, where
//!   the 1 MiB root is about what the nodes of such a table take anyway
//!   and a /24 is found one node below the root instead of two), as in
//!   DIR-24-8. An entry is a value or a link to a node.
//! * Every node below covers the next 6 bits (64 children) in 24 bytes: a
//!   bitmap of which of the 64 positions are links (`vector`), a bitmap of
//!   where a new run of equal values starts (`leafvec`), and the indices of
//!   its first child and first value. Children and values of a node are
//!   stored back to back, so position `v` is found with one population count
//!   of the bitmap below `v`.
//! * Values are pushed down to the leaves (controlled prefix expansion): a
//!   lookup never backtracks; it reads one node per 6 bits until it meets a
//!   value.
//!
//! IPv4 needs at most 1 root read and 3 nodes (16 + 6 + 6 + 4, or 18 + 6 +
//! 6 + 2), IPv6 up to 19 nodes for a /128 and 8 for a /64. A lookup allocates nothing and
//! cannot panic. Compared with plain 256-entry nodes, a node with a few
//! distinct values takes ~30 bytes instead of 1 KiB, which keeps large
//! tables in cache.
//!
//! The trie is built once from the whole prefix list and never mutated:
//! routes change by building a new one on the control side.

use std::fmt;
use std::marker::PhantomData;

/// Tables with at most this many prefixes get an 8-bit root instead of a
/// 16-bit one.
pub const SMALL_TABLE: usize = 64;

/// Tables with more than this many prefixes get an 18-bit root (1 MiB)
/// instead of a 16-bit one (256 KiB).
pub const LARGE_TABLE: usize = 4096;

/// Largest value the trie can hold (values are stored `+ 1`, 0 meaning no
/// route, and the top bit of a root entry marks a link).
pub const MAX_VALUE: u32 = (1 << 31) - 2;

/// Link flag of a root entry; the low 31 bits are a node index.
const LINK: u32 = 1 << 31;
/// Bits of the key consumed by each node below the root.
const STRIDE: u32 = 6;
const FANOUT: usize = 1 << STRIDE;

/// A key the trie can index: an unsigned integer read from its most
/// significant bit down.
pub trait LpmKey: Copy + Ord + fmt::Debug {
    /// Width of the key in bits.
    const BITS: u32;
    /// The `width` bits (1..=18) that follow the first `skip` bits, as an
    /// index; bits past the end of the key read as 0. `skip < BITS`.
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

/// A node below the root: 64 positions, each a link to a child or a value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Node {
    /// Bit `v`: position `v` is a link.
    vector: u64,
    /// Bit `v`: position `v` is a value that differs from the value at the
    /// previous value position (a new run starts).
    leafvec: u64,
    /// Index in `leaves` of the first run's value.
    base0: u32,
    /// Index in `nodes` of the first child.
    base1: u32,
}

/// An immutable longest-prefix-match table from prefixes to `u32` values.
#[derive(Clone)]
pub struct Lpm<K> {
    /// Bits of the key that index the root: 8, 16 or 18.
    root_bits: u32,
    /// `value + 1`, 0 for none, or `LINK | node`.
    root: Box<[u32]>,
    nodes: Box<[Node]>,
    /// `value + 1`, 0 for none.
    leaves: Box<[u32]>,
    /// Distinct prefixes stored.
    prefixes: usize,
    _key: PhantomData<fn() -> K>,
}

impl<K: LpmKey> Lpm<K> {
    /// The value of the longest prefix that contains `key`.
    #[inline]
    pub fn lookup(&self, key: K) -> Option<u32> {
        let e = *self.root.get(key.bits(0, self.root_bits))?;
        if e & LINK == 0 {
            return e.checked_sub(1);
        }
        let mut node = self.nodes.get((e & !LINK) as usize)?;
        let mut depth = self.root_bits;
        while depth < K::BITS {
            // Positions 0..=v moved to the top: bit v is the sign bit, and
            // the ones counted are those at or below v.
            let up = 63 - key.bits(depth, STRIDE) as u32;
            let links = node.vector << up;
            // `i - 1` wrapping: 0 (never, for a well-built node) becomes
            // usize::MAX, which `get` refuses, so one check serves both.
            if (links as i64) < 0 {
                let i = node.base1 as usize + links.count_ones() as usize;
                node = self.nodes.get(i.wrapping_sub(1))?;
                depth += STRIDE;
            } else {
                let i = node.base0 as usize + (node.leafvec << up).count_ones() as usize;
                return self.leaves.get(i.wrapping_sub(1))?.checked_sub(1);
            }
        }
        None
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
        self.nodes.len()
    }

    /// Bytes held by the root, the nodes and the values.
    pub fn memory_bytes(&self) -> usize {
        (self.root.len() + self.leaves.len()) * std::mem::size_of::<u32>()
            + self.nodes.len() * std::mem::size_of::<Node>()
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
            .field("nodes", &self.nodes.len())
            .field("leaves", &self.leaves.len())
            .finish()
    }
}

/// Collects prefixes, then builds an [`Lpm`] in one pass.
///
/// Inserting is a push; [`LpmBuilder::build`] sorts the prefixes once by
/// address then length (so a prefix comes before every prefix it contains)
/// and builds each node from the slice of prefixes below it, depth first.
/// Every prefix is touched once per level on its path; nothing but the
/// result is allocated. 100k prefixes build in tens of milliseconds.
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

    pub fn build(self) -> Lpm<K> {
        self.build_with(None)
    }

    /// [`LpmBuilder::build`] with the root's width chosen by the caller
    /// (tests: every width over the same prefixes) or by the table's size.
    fn build_with(mut self, root_bits: Option<u32>) -> Lpm<K> {
        // By address, then length: a prefix precedes the prefixes it
        // contains, so expanding in this order lets longer ones overwrite
        // shorter ones. Stable, so dedup keeps the first inserted.
        self.entries.sort_by_key(|&(k, l, _)| (k, l));
        self.entries.dedup_by_key(|&mut (k, l, _)| (k, l));
        let root_bits = root_bits.unwrap_or(match self.entries.len() {
            n if n <= SMALL_TABLE => 8,
            n if n <= LARGE_TABLE => 16,
            _ => 18,
        });
        let mut b = Build {
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        let mut root = vec![0u32; 1 << root_bits];
        let e = &self.entries;
        let mut i = 0;
        while i < e.len() {
            let (key, len, value) = e[i];
            let slot = key.bits(0, root_bits);
            if u32::from(len) <= root_bits {
                let n = 1usize << (root_bits - u32::from(len));
                root[slot..slot + n].fill(value + 1);
                i += 1;
                continue;
            }
            // The run of longer prefixes below this root slot.
            let mut j = i + 1;
            while j < e.len() && e[j].0.bits(0, root_bits) == slot {
                j += 1;
            }
            let index = b.nodes.len();
            b.nodes.push(Node::default());
            let node = b.node(&e[i..j], root_bits, root[slot]);
            b.nodes[index] = node;
            assert!(index < LINK as usize, "LPM node index overflow");
            root[slot] = LINK | index as u32;
            i = j;
        }
        Lpm {
            root_bits,
            root: root.into_boxed_slice(),
            nodes: b.nodes.into_boxed_slice(),
            leaves: b.leaves.into_boxed_slice(),
            prefixes: self.entries.len(),
            _key: PhantomData,
        }
    }
}

struct Build {
    nodes: Vec<Node>,
    leaves: Vec<u32>,
}

impl Build {
    /// The node for the bits `depth..depth + 6` below a root slot or a
    /// parent position whose value is `inherited`. `prefixes` are all
    /// longer than `depth`, lie below this node, and are sorted by address
    /// then length.
    fn node<K: LpmKey>(&mut self, prefixes: &[(K, u8, u32)], depth: u32, inherited: u32) -> Node {
        let end = depth + STRIDE;
        let mut leaf = [inherited; FANOUT];
        // Child positions and their prefix ranges, ascending.
        let mut children = [(0usize, 0usize, 0usize); FANOUT];
        let mut nchildren = 0;
        let mut i = 0;
        while i < prefixes.len() {
            let (key, len, value) = prefixes[i];
            let slot = key.bits(depth, STRIDE);
            if u32::from(len) <= end {
                let n = 1usize << (end - u32::from(len));
                leaf[slot..slot + n].fill(value + 1);
                i += 1;
                continue;
            }
            // A prefix that covers `slot` sorts before every longer prefix
            // below it, so this run holds only longer prefixes.
            let mut j = i + 1;
            while j < prefixes.len() && prefixes[j].0.bits(depth, STRIDE) == slot {
                j += 1;
            }
            children[nchildren] = (slot, i, j);
            nchildren += 1;
            i = j;
        }

        let mut vector = 0u64;
        for &(slot, _, _) in &children[..nchildren] {
            vector |= 1 << slot;
        }
        let mut leafvec = 0u64;
        let base0 = self.leaves.len();
        let mut prev = None;
        for (slot, &value) in leaf.iter().enumerate() {
            if vector >> slot & 1 != 0 {
                continue;
            }
            if prev != Some(value) {
                leafvec |= 1 << slot;
                self.leaves.push(value);
                prev = Some(value);
            }
        }
        let base1 = self.nodes.len();
        self.nodes.resize(base1 + nchildren, Node::default());
        for (c, &(slot, from, to)) in children[..nchildren].iter().enumerate() {
            let child = self.node(&prefixes[from..to], end, leaf[slot]);
            self.nodes[base1 + c] = child;
        }
        Node {
            vector,
            leafvec,
            base0: u32::try_from(base0).expect("LPM value index overflow"),
            base1: u32::try_from(base1).expect("LPM node index overflow"),
        }
    }
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
            let longer = match best {
                Some((bl, _)) => l > bl,
                None => true,
            };
            if longer && key.truncate(u32::from(l)) == p.truncate(u32::from(l)) {
                best = Some((l, v));
            }
        }
        best.map(|(_, v)| v)
    }

    fn build<K: LpmKey>(prefixes: &[(K, u8, u32)]) -> Lpm<K> {
        build_root(prefixes, None)
    }

    fn build_root<K: LpmKey>(prefixes: &[(K, u8, u32)], root_bits: Option<u32>) -> Lpm<K> {
        let mut b = LpmBuilder::new();
        for &(p, l, v) in prefixes {
            b.insert(p, l, v);
        }
        b.build_with(root_bits)
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
        assert_eq!(t.root_bits, 18);
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
            for bits in [None, Some(8), Some(16), Some(18)] {
                let t = build_root(&prefixes, bits);
                for key in probes_v4(&prefixes, &random) {
                    prop_assert_eq!(t.lookup(key), oracle(&prefixes, key), "key {:#x} root {:?}", key, bits);
                }
            }
        }

        #[test]
        fn v6_matches_linear_scan(
            prefixes in prop::collection::vec(v6_prefix(), 0..200),
            random in prop::collection::vec(any::<u128>(), 0..50),
        ) {
            for bits in [None, Some(8), Some(16), Some(18)] {
                let t = build_root(&prefixes, bits);
                for key in probes_v6(&prefixes, &random) {
                    prop_assert_eq!(t.lookup(key), oracle(&prefixes, key), "key {:#x} root {:?}", key, bits);
                }
            }
        }
    }
}
