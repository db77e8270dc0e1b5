//! The packet classifier of one chain: the common matches of its rules
//! (source / destination address and mask, protocol, source / destination
//! port range, input / output interface, mark) compiled into a
//! tuple-space search with priorities, so that finding the first rule of a
//! chain whose common matches hold does not cost O(rules).
//!
//! Contract:
//!
//! * The control side turns every rule of a chain into a [`ClassKey`] and
//!   builds a [`Classifier`] once ([`Classifier::build`]) against the
//!   [`InterfaceTable`] of the appliance. It is immutable afterwards and read
//!   by every worker without a lock (`Send + Sync`, no interior mutability).
//! * [`Classifier::first_from`] returns the smallest rule index `i >= from`
//!   whose key matches a [`PacketKey`]: exactly what
//!   [`reference_first_from`], the plain ordered evaluation, returns. The
//!   evaluator checks the rest of rule `i` (its residual matches, see
//!   [`ClassKey::residual`]) and on failure, or after a `RETURN` from a
//!   chain that rule `i` jumped to, asks again from `i + 1`. A lookup
//!   allocates nothing and cannot panic.
//! * This module does not parse packets or text and knows nothing about
//!   targets, counters or the config crate.
//!
//! # Semantics (the kernel's, `net/ipv4/netfilter/ip_tables.c`
//! `ip_packet_match()`, `net/netfilter/xt_tcpudp.c`, `xt_mark.c`)
//!
//! | match        | holds when                                                   |
//! |--------------|--------------------------------------------------------------|
//! | `-s` / `-d`  | `(addr & mask) == value`, xor invert (the value is compared as given: iptables masks it when parsing) |
//! | `-p`         | protocol 0 (`all`) always, inverted or not; else `proto == p`, xor invert |
//! | ports        | only when the packet has ports (TCP/UDP header present, first fragment: `xt_tcpudp` never matches `fragoff != 0`), then `lo <= port <= hi`, xor invert |
//! | `-i` / `-o`  | `ifname_compare_aligned()` with the mask iptables builds: `eth0` the whole name and its NUL, `eth+` the prefix `eth` (so `eth` itself too), `+` (or empty) anything including no device; xor invert. A packet without that interface (`iif` in OUTPUT, `oif` before routing) has the empty name |
//! | `-m mark`    | `(mark & mask) == value`, xor invert (a value with bits outside the mask never matches, as in the kernel) |
//!
//! # How it works
//!
//! Every rule is projected on a *tuple*: the bit mask of the packet fields
//! it pins down exactly (an address prefix or any other mask, the protocol,
//! a single port or an aligned power-of-two port block, one interface id,
//! the mark bits of its mask, "has ports"). Rules with the same mask share
//! a hash table from masked packet key to the ascending list of rule
//! indices ("bucket") that have exactly those masked values (Srinivasan,
//! Suri, Varghese, "Packet Classification using Tuple Space Search",
//! SIGCOMM 1999; with priorities as in Open vSwitch's classifier, Pfaff et
//! al., NSDI 2015).
//!
//! A match the hash cannot express is left out of the mask and checked on
//! the entry instead (*verified* entry): inverted matches (`! -s`, `! -p`,
//! `! --dport`, `! --mark`), port ranges that are not one aligned block,
//! and interface sets of more than [`REPLICATE_IFACES`] interfaces (a
//! wildcard such as `veth+` or an inversion `! -o eth0` resolves at build
//! time, through the interface table, to the set of interface ids it
//! matches; a small set is indexed by inserting one entry per id). A rule
//! whose matches are all of that kind lands in the all-wildcard tuple: its
//! bucket is scanned in order, which is the ordered evaluation fallback and
//! costs only for such rules. A rule whose matches can never hold (empty
//! interface set, a value with bits outside its mask, `lo > hi`, `! -i +`)
//! is left out altogether.
//!
//! A lookup visits the tuples in the order of the first rule each holds and
//! stops as soon as that rule is not before the best match found so far; in
//! a tuple it hashes the masked key once (ahash, seeded at random per
//! build), binary-searches the bucket for the first rule `>= from` and
//! walks it, checking verified entries, until a rule matches or the best so
//! far is reached. Its cost is `O(T log B + V)`: `T` distinct match shapes
//! (masks) in the chain, bucket size `B` (1 unless rules share all their
//! indexed values), `V` verified entries skipped. It does not depend on the
//! number of rules of one shape: a kube-proxy `KUBE-SERVICES` chain
//! (`-d IP/32 -p tcp --dport P`) is one tuple, one hash probe, at 10 or
//! 50 000 services. Tuples holding one masked value (common in hand-written
//! rulesets) are compared inline without hashing.
//!
//! When many tuples differ by the prefix length of an address (a CIDR
//! block list: `-s a/17` ... `-s b/32`), *prefix tracking* (Open vSwitch)
//! keeps `T` small in practice: a longest-prefix-match trie
//! ([`crate::route::lpm`]) over the prefixes the tuples index gives, in one
//! walk, the set of prefix lengths that cover the packet's address, and
//! tuples of any other length are skipped without hashing. It is built only
//! for a field whose tuples use at least [`PRUNE_MIN_LENGTHS`] prefix
//! lengths, where the walk pays for itself.
//!
//! The worst case stays linear, as for any classifier that keeps memory
//! linear: a chain whose rules all have different shapes has `T` close to
//! the number of rules, and rules that differ only in matches that are
//! checked (inversions, ranges) share a bucket that is walked in order.
//! `bench/benches/classify.rs` measures both the common and mixed shapes.
//!
//! Addresses are generic ([`Addr`]): `u32` for IPv4 (the default) and
//! `u128` for IPv6 use the same code. Mapping `ip6tables -p` (the
//! upper-layer protocol after extension headers) to [`PacketKey::proto`] is
//! the evaluator's job.

mod model;
#[cfg(test)]
mod tests;

pub use model::*;

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::ops::{BitAnd, Not};

use crate::route::lpm::{Lpm, LpmBuilder};
// ---------------------------------------------------------------------------
// The compiled form.

/// The packet as one hashable value; a tuple's mask has the same layout.
/// `l4`: protocol bits 0..8, source port 8..24, destination port 24..40,
/// "has ports" bit 40. `meta`: input interface id 0..16, output interface
/// id 16..32, mark 32..64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
struct Packed<A: Addr> {
    src: A,
    dst: A,
    l4: u64,
    meta: u64,
}

const L4_PROTO: u64 = 0xff;
const L4_SPORT_SHIFT: u32 = 8;
const L4_DPORT_SHIFT: u32 = 24;
const L4_HAS_PORTS: u64 = 1 << 40;
const META_IIF: u64 = 0xffff;
const META_OIF_SHIFT: u32 = 16;
const META_MARK_SHIFT: u32 = 32;

impl<A: Addr> Packed<A> {
    /// `iif` / `oif` already normalised (unknown ids as [`IF_NONE`]).
    #[inline]
    fn of(pkt: &PacketKey<A>, iif: u16, oif: u16) -> Self {
        Packed {
            src: pkt.src,
            dst: pkt.dst,
            l4: pkt.proto as u64
                | (pkt.sport as u64) << L4_SPORT_SHIFT
                | (pkt.dport as u64) << L4_DPORT_SHIFT
                | if pkt.has_ports { L4_HAS_PORTS } else { 0 },
            meta: iif as u64
                | (oif as u64) << META_OIF_SHIFT
                | (pkt.mark as u64) << META_MARK_SHIFT,
        }
    }

    #[inline]
    fn and(&self, mask: &Self) -> Self {
        Packed {
            src: self.src & mask.src,
            dst: self.dst & mask.dst,
            l4: self.l4 & mask.l4,
            meta: self.meta & mask.meta,
        }
    }
}

/// `(v & mask) == value`, xor `invert`; `{0, 0, false}` always holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Cond<T> {
    mask: T,
    value: T,
    invert: bool,
}

impl<T: Copy + Eq + BitAnd<Output = T>> Cond<T> {
    #[inline]
    fn test(&self, v: T) -> bool {
        ((v & self.mask) == self.value) != self.invert
    }
}

/// The matches of a verified entry that its tuple does not index; the
/// others are "always". Equal checks are stored once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Check<A: Addr> {
    src: Cond<A>,
    dst: Cond<A>,
    proto: Cond<u8>,
    sport: PortMatch,
    dport: PortMatch,
    /// Offsets of interface sets in [`Classifier::sets`]; `NO_SET`: any.
    iif: u32,
    oif: u32,
    mark: Cond<u32>,
}

const NO_SET: u32 = u32::MAX;
const ANY_PORT: PortMatch = PortMatch {
    lo: 0,
    hi: u16::MAX,
    invert: false,
};

impl<A: Addr> Default for Check<A> {
    fn default() -> Self {
        Check {
            src: Cond::default(),
            dst: Cond::default(),
            proto: Cond::default(),
            sport: ANY_PORT,
            dport: ANY_PORT,
            iif: NO_SET,
            oif: NO_SET,
            mark: Cond::default(),
        }
    }
}

/// One rule in one bucket.
#[derive(Clone, Copy, Debug)]
struct Entry {
    rule: u32,
    /// Index in [`Classifier::checks`]; `EXACT` when the bucket's key says
    /// it all.
    check: u32,
}

const EXACT: u32 = u32::MAX;

/// A run of [`Classifier::pool`].
#[derive(Clone, Copy, Debug)]
struct Bucket {
    start: u32,
    len: u32,
}

#[derive(Clone, Debug)]
enum TupleLookup<A: Addr> {
    /// The only masked value of the tuple: compared, not hashed.
    One(Packed<A>, Bucket),
    Many(HashMap<Packed<A>, Bucket, ahash::RandomState>),
}

#[derive(Clone, Debug)]
struct Tuple<A: Addr> {
    mask: Packed<A>,
    /// The first and last rule with an entry here.
    min_rule: u32,
    max_rule: u32,
    /// Bit `len - 1` when the tuple's source / destination mask is a
    /// prefix of `len` bits and [`Classifier::src_prune`] /
    /// [`Classifier::dst_prune`] tracks it; 0 when it is not pruned.
    src_bit: u128,
    dst_bit: u128,
    lookup: TupleLookup<A>,
}

impl<A: Addr> Tuple<A> {
    /// Keys of the buckets.
    fn keys(&self) -> Vec<Packed<A>> {
        match &self.lookup {
            TupleLookup::One(k, _) => vec![*k],
            TupleLookup::Many(m) => m.keys().copied().collect(),
        }
    }
}

/// Prefix tracking (Open vSwitch, Pfaff et al., NSDI 2015): for one
/// address field, which prefix lengths some tuple indexes a prefix of that
/// covers the packet's address. A tuple whose length is not among them
/// cannot match and is not probed.
#[derive(Clone, Debug)]
struct Prune<A: Addr> {
    /// Longest indexed prefix covering the address -> index in `lens`.
    lpm: Lpm<A>,
    /// Sets of lengths (bit `len - 1`) of the indexed prefixes covering a
    /// prefix.
    lens: Vec<u128>,
}

/// Prefix tracking is used on a field when its tuples index prefixes of
/// at least this many distinct lengths: with fewer, a packet rarely skips
/// enough tuples to pay for the trie walk (measured with the `mixed`
/// benchmark: two lengths over five tuples cost more than they saved).
pub const PRUNE_MIN_LENGTHS: u32 = 3;

impl<A: Addr> Prune<A> {
    /// Tracks the prefixes that `field` reads from each tuple whose `bit`
    /// is set; `None` when not worth it.
    fn build(
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
    fn lens(&self, a: A) -> u128 {
        self.lpm
            .lookup(a)
            .and_then(|i| self.lens.get(i as usize).copied())
            .unwrap_or(0)
    }
}

/// What a lookup computes once per packet.
#[derive(Clone, Copy, Debug, Default)]
struct Prepared<A: Addr> {
    packed: Packed<A>,
    src_lens: u128,
    dst_lens: u128,
}

/// Counts describing a built classifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassifierStats {
    /// Rules in the chain.
    pub rules: usize,
    /// Rules left out because their matches can never hold.
    pub never: usize,
    /// Distinct match shapes (hash tables probed at most per lookup).
    pub tuples: usize,
    /// Entries over all buckets (a rule with a small interface set has one
    /// per interface).
    pub entries: usize,
    /// Entries checked on the entry (some match not indexed).
    pub verified: usize,
    /// Largest bucket.
    pub largest_bucket: usize,
    /// Approximate heap footprint.
    pub heap_bytes: usize,
}

/// The compiled classifier of one chain. See the module docs.
#[derive(Clone, Debug)]
pub struct Classifier<A: Addr = u32> {
    rules: usize,
    ifaces: InterfaceTable,
    /// Ordered by `min_rule`.
    tuples: Vec<Tuple<A>>,
    pool: Vec<Entry>,
    checks: Vec<Check<A>>,
    /// Interface sets, `(interfaces + 1) / 64` words each (rounded up), bit `slot` set when the
    /// interface of that slot is in the set (slot `len()`: none).
    sets: Vec<u64>,
    src_prune: Option<Prune<A>>,
    dst_prune: Option<Prune<A>>,
    residual: Vec<bool>,
    stats: ClassifierStats,
}

/// How one match is compiled.
enum Part<T> {
    /// Can never hold: the rule is dropped.
    Never,
    /// Always holds: nothing to do.
    Always,
    /// Indexed: `(field & mask) == value` in the tuple.
    Index(T, T),
    /// Checked on the entry.
    Verify,
}

/// `(field & mask) == value`, xor `invert`.
fn masked_part<T>(value: T, mask: T, invert: bool) -> Part<T>
where
    T: Copy + Eq + Default + BitAnd<Output = T> + Not<Output = T>,
{
    let zero = T::default();
    if value & !mask != zero {
        // Bits outside the mask: never equal.
        return if invert { Part::Always } else { Part::Never };
    }
    if mask == zero {
        // Always equal.
        return if invert { Part::Never } else { Part::Always };
    }
    if invert {
        Part::Verify
    } else {
        Part::Index(mask, value)
    }
}

fn port_part(m: &PortMatch) -> Part<u16> {
    if m.lo > m.hi {
        return if m.invert { Part::Always } else { Part::Never };
    }
    if m.lo == 0 && m.hi == u16::MAX {
        return if m.invert { Part::Never } else { Part::Always };
    }
    if m.invert {
        return Part::Verify;
    }
    let size = m.hi as u32 - m.lo as u32 + 1;
    if size.is_power_of_two() && m.lo as u32 & (size - 1) == 0 {
        let mask = !(size - 1) as u16;
        Part::Index(mask, m.lo)
    } else {
        Part::Verify
    }
}

/// An interface match resolved to the set of slots it matches.
enum IfPart {
    Never,
    Always,
    /// Indexed, one entry per id (`IF_NONE` for none).
    Ids(Vec<u16>),
    /// Checked against the set.
    Set(Vec<u64>),
}

fn iface_part(m: &IfaceMatch, ifaces: &InterfaceTable, words: usize) -> IfPart {
    let slots = ifaces.len() + 1;
    let mut set = vec![0u64; words];
    let mut ids = Vec::new();
    for slot in 0..slots {
        let (name, id) = match ifaces.names.get(slot) {
            Some(n) => (n, slot as u16),
            None => (&IfName::EMPTY, IF_NONE),
        };
        if m.test(name) {
            set[slot / 64] |= 1 << (slot % 64);
            ids.push(id);
        }
    }
    match ids.len() {
        0 => IfPart::Never,
        n if n == slots => IfPart::Always,
        n if n <= REPLICATE_IFACES => IfPart::Ids(ids),
        _ => IfPart::Set(set),
    }
}

/// A rule compiled: the tuple mask, the masked value (without the indexed
/// interface ids), the ids to replicate over, the check if any.
struct Compiled<A: Addr> {
    mask: Packed<A>,
    value: Packed<A>,
    iif_ids: Option<Vec<u16>>,
    oif_ids: Option<Vec<u16>>,
    check: Option<Check<A>>,
}

/// Builder of the interface-set pool, deduplicating equal sets.
struct SetPool {
    words: usize,
    sets: Vec<u64>,
    seen: HashMap<Vec<u64>, u32, ahash::RandomState>,
}

impl SetPool {
    fn intern(&mut self, set: Vec<u64>) -> u32 {
        if let Some(&off) = self.seen.get(&set) {
            return off;
        }
        let off = self.sets.len() as u32;
        self.sets.extend_from_slice(&set);
        self.seen.insert(set, off);
        off
    }
}

fn compile<A: Addr>(
    key: &ClassKey<A>,
    ifaces: &InterfaceTable,
    pool: &mut SetPool,
) -> Option<Compiled<A>> {
    let mut mask = Packed::<A>::default();
    let mut value = Packed::<A>::default();
    let mut check = Check::<A>::default();
    let mut verify = false;

    for (m, mask_f, value_f, check_f) in [
        (&key.src, &mut mask.src, &mut value.src, &mut check.src),
        (&key.dst, &mut mask.dst, &mut value.dst, &mut check.dst),
    ] {
        let Some(m) = m else { continue };
        match masked_part(m.addr, m.mask, m.invert) {
            Part::Never => return None,
            Part::Always => {}
            Part::Index(k, v) => {
                *mask_f = k;
                *value_f = v;
            }
            Part::Verify => {
                verify = true;
                *check_f = Cond {
                    mask: m.mask,
                    value: m.addr,
                    invert: m.invert,
                };
            }
        }
    }

    if let Some(p) = key.proto.filter(|p| p.proto != 0) {
        if p.invert {
            verify = true;
            check.proto = Cond {
                mask: 0xff,
                value: p.proto,
                invert: true,
            };
        } else {
            mask.l4 |= L4_PROTO;
            value.l4 |= p.proto as u64;
        }
    }

    if key.sport.is_some() || key.dport.is_some() {
        mask.l4 |= L4_HAS_PORTS;
        value.l4 |= L4_HAS_PORTS;
    }
    for (m, shift, check_f) in [
        (&key.sport, L4_SPORT_SHIFT, &mut check.sport),
        (&key.dport, L4_DPORT_SHIFT, &mut check.dport),
    ] {
        let Some(m) = m else { continue };
        match port_part(m) {
            Part::Never => return None,
            Part::Always => {}
            Part::Index(k, v) => {
                mask.l4 |= (k as u64) << shift;
                value.l4 |= (v as u64) << shift;
            }
            Part::Verify => {
                verify = true;
                *check_f = *m;
            }
        }
    }

    let mut ids = [None, None];
    for (i, (m, shift, check_f)) in [
        (&key.iif, 0, &mut check.iif),
        (&key.oif, META_OIF_SHIFT, &mut check.oif),
    ]
    .into_iter()
    .enumerate()
    {
        let Some(m) = m else { continue };
        match iface_part(m, ifaces, pool.words) {
            IfPart::Never => return None,
            IfPart::Always => {}
            IfPart::Ids(v) => {
                mask.meta |= META_IIF << shift;
                ids[i] = Some(v);
            }
            IfPart::Set(set) => {
                verify = true;
                *check_f = pool.intern(set);
            }
        }
    }

    if let Some(m) = &key.mark {
        match masked_part(m.value, m.mask, m.invert) {
            Part::Never => return None,
            Part::Always => {}
            Part::Index(k, v) => {
                mask.meta |= (k as u64) << META_MARK_SHIFT;
                value.meta |= (v as u64) << META_MARK_SHIFT;
            }
            Part::Verify => {
                verify = true;
                check.mark = Cond {
                    mask: m.mask,
                    value: m.value,
                    invert: m.invert,
                };
            }
        }
    }

    let [iif_ids, oif_ids] = ids;
    Some(Compiled {
        mask,
        value,
        iif_ids,
        oif_ids,
        check: verify.then_some(check),
    })
}

/// A tuple while the chain is compiled.
struct TupleBuild<A: Addr> {
    mask: Packed<A>,
    min_rule: u32,
    max_rule: u32,
    /// Buckets in order of first insertion.
    index: HashMap<Packed<A>, usize, ahash::RandomState>,
    buckets: Vec<(Packed<A>, Vec<Entry>)>,
}

impl<A: Addr> Classifier<A> {
    /// Compiles the chain whose rules have `keys`, in order, resolving
    /// interface names through `ifaces`.
    ///
    /// Panics with more than `u32::MAX - 1` rules.
    pub fn build(keys: &[ClassKey<A>], ifaces: &InterfaceTable) -> Self {
        assert!(keys.len() < u32::MAX as usize, "too many rules in a chain");
        let words = (ifaces.len() + 1).div_ceil(64);
        let mut sets = SetPool {
            words,
            sets: Vec::new(),
            seen: HashMap::default(),
        };
        let mut checks = Vec::new();
        let mut check_ids: HashMap<Check<A>, u32, ahash::RandomState> = HashMap::default();
        let mut tuple_of: HashMap<Packed<A>, usize, ahash::RandomState> = HashMap::default();
        let mut builds: Vec<TupleBuild<A>> = Vec::new();
        let mut never = 0;

        for (i, key) in keys.iter().enumerate() {
            let rule = i as u32;
            let Some(c) = compile(key, ifaces, &mut sets) else {
                never += 1;
                continue;
            };
            let check = match c.check {
                Some(ch) => *check_ids.entry(ch).or_insert_with(|| {
                    checks.push(ch);
                    (checks.len() - 1) as u32
                }),
                None => EXACT,
            };
            let t = *tuple_of.entry(c.mask).or_insert_with(|| {
                builds.push(TupleBuild {
                    mask: c.mask,
                    min_rule: rule,
                    max_rule: rule,
                    index: HashMap::default(),
                    buckets: Vec::new(),
                });
                builds.len() - 1
            });
            let t = &mut builds[t];
            t.max_rule = rule;
            let iifs = c.iif_ids.as_deref().unwrap_or(&[0]);
            let oifs = c.oif_ids.as_deref().unwrap_or(&[0]);
            for &iif in iifs {
                for &oif in oifs {
                    let mut v = c.value;
                    v.meta |= iif as u64 | (oif as u64) << META_OIF_SHIFT;
                    let b = *t.index.entry(v).or_insert_with(|| {
                        t.buckets.push((v, Vec::new()));
                        t.buckets.len() - 1
                    });
                    t.buckets[b].1.push(Entry { rule, check });
                }
            }
        }

        // Tuples are created in order of their first rule: already sorted.
        let mut pool = Vec::new();
        let mut tuples = Vec::with_capacity(builds.len());
        let mut largest_bucket = 0;
        for tb in builds {
            let mut place = |entries: Vec<Entry>| {
                let b = Bucket {
                    start: pool.len() as u32,
                    len: entries.len() as u32,
                };
                largest_bucket = largest_bucket.max(entries.len());
                pool.extend(entries);
                b
            };
            let lookup = if tb.buckets.len() == 1 {
                let (k, e) = tb.buckets.into_iter().next().unwrap_or_default();
                TupleLookup::One(k, place(e))
            } else {
                let mut map =
                    HashMap::with_capacity_and_hasher(tb.buckets.len(), ahash::RandomState::new());
                for (k, e) in tb.buckets {
                    map.insert(k, place(e));
                }
                TupleLookup::Many(map)
            };
            let bit = |m: A| match m.prefix_len() {
                Some(l) if l > 0 => 1u128 << (l - 1),
                _ => 0,
            };
            tuples.push(Tuple {
                mask: tb.mask,
                min_rule: tb.min_rule,
                max_rule: tb.max_rule,
                src_bit: bit(tb.mask.src),
                dst_bit: bit(tb.mask.dst),
                lookup,
            });
        }
        pool.shrink_to_fit();
        checks.shrink_to_fit();
        let src_prune = Prune::build(&tuples, |t| t.src_bit, |k| k.src);
        let dst_prune = Prune::build(&tuples, |t| t.dst_bit, |k| k.dst);
        for t in &mut tuples {
            if src_prune.is_none() {
                t.src_bit = 0;
            }
            if dst_prune.is_none() {
                t.dst_bit = 0;
            }
        }

        let mut c = Classifier {
            rules: keys.len(),
            ifaces: ifaces.clone(),
            tuples,
            pool,
            checks,
            sets: sets.sets,
            src_prune,
            dst_prune,
            residual: keys.iter().map(|k| k.residual).collect(),
            stats: ClassifierStats::default(),
        };
        c.stats = ClassifierStats {
            rules: keys.len(),
            never,
            tuples: c.tuples.len(),
            entries: c.pool.len(),
            verified: c.pool.iter().filter(|e| e.check != EXACT).count(),
            largest_bucket,
            heap_bytes: c.heap_bytes(),
        };
        c
    }

    /// Rules in the chain.
    pub fn len(&self) -> usize {
        self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Whether rule `rule` has residual matches for the evaluator.
    pub fn has_residual(&self, rule: usize) -> bool {
        self.residual.get(rule).copied().unwrap_or(false)
    }

    pub fn stats(&self) -> ClassifierStats {
        self.stats
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let maps: usize = self
            .tuples
            .iter()
            .map(|t| match &t.lookup {
                TupleLookup::One(..) => 0,
                // hashbrown: one control byte per slot, buckets of (K, V).
                TupleLookup::Many(m) => {
                    let slots = (m.capacity() * 8 / 7).next_power_of_two();
                    slots * (size_of::<(Packed<A>, Bucket)>() + 1)
                }
            })
            .sum();
        maps + self.tuples.capacity() * size_of::<Tuple<A>>()
            + self.pool.capacity() * size_of::<Entry>()
            + self.checks.capacity() * size_of::<Check<A>>()
            + self.sets.capacity() * size_of::<u64>()
            + self.residual.capacity()
            + [&self.src_prune, &self.dst_prune]
                .iter()
                .filter_map(|p| p.as_ref())
                .map(|p| p.lpm.memory_bytes() + p.lens.capacity() * size_of::<u128>())
                .sum::<usize>()
            + self.ifaces.names.capacity() * size_of::<IfName>()
    }

    /// Interface id as indexed: unknown ids count as none.
    #[inline]
    fn norm_if(&self, id: u16) -> u16 {
        if (id as usize) < self.ifaces.len() {
            id
        } else {
            IF_NONE
        }
    }

    #[inline]
    fn in_set(&self, set: u32, slot: usize) -> bool {
        set == NO_SET
            || self
                .sets
                .get(set as usize + slot / 64)
                .is_some_and(|w| w >> (slot % 64) & 1 == 1)
    }

    #[inline]
    fn verify(&self, check: u32, pkt: &PacketKey<A>) -> bool {
        let Some(c) = self.checks.get(check as usize) else {
            return check == EXACT;
        };
        c.src.test(pkt.src)
            && c.dst.test(pkt.dst)
            && c.proto.test(pkt.proto)
            && c.sport.test(pkt.sport)
            && c.dport.test(pkt.dport)
            && c.mark.test(pkt.mark)
            && self.in_set(c.iif, self.ifaces.slot(pkt.iif))
            && self.in_set(c.oif, self.ifaces.slot(pkt.oif))
    }

    /// The per-packet part of a lookup: the packed key and, with prefix
    /// tracking, the prefix lengths that may match.
    #[inline]
    fn prepare<const PRUNE: bool>(&self, pkt: &PacketKey<A>) -> Prepared<A> {
        let lens = |p: &Option<Prune<A>>, a| match p {
            Some(p) if PRUNE => p.lens(a),
            _ => 0,
        };
        Prepared {
            packed: Packed::of(pkt, self.norm_if(pkt.iif), self.norm_if(pkt.oif)),
            src_lens: lens(&self.src_prune, pkt.src),
            dst_lens: lens(&self.dst_prune, pkt.dst),
        }
    }

    /// Whether lookups use prefix tracking.
    #[inline]
    fn prunes(&self) -> bool {
        self.src_prune.is_some() || self.dst_prune.is_some()
    }

    /// The smallest rule index `i >= from` whose key matches `pkt`: the
    /// same answer as [`reference_first_from`] over the keys it was built
    /// from.
    #[inline]
    pub fn first_from(&self, pkt: &PacketKey<A>, from: usize) -> Option<usize> {
        if from >= self.rules {
            return None;
        }
        let best = if self.prunes() {
            self.search::<true>(pkt, from as u32)
        } else {
            self.search::<false>(pkt, from as u32)
        };
        (best != u32::MAX).then_some(best as usize)
    }

    /// Walks the tuples in order; the first matching rule from `from`, or
    /// `u32::MAX`.
    #[inline]
    fn search<const PRUNE: bool>(&self, pkt: &PacketKey<A>, from: u32) -> u32 {
        let prep = self.prepare::<PRUNE>(pkt);
        let mut best = u32::MAX;
        for t in &self.tuples {
            if t.min_rule >= best {
                break;
            }
            best = self.probe::<PRUNE>(t, pkt, &prep, from, best);
        }
        best
    }

    /// Looks the packet up in one tuple; returns the first matching rule in
    /// `from..best`, or `best`.
    #[inline]
    fn probe<const PRUNE: bool>(
        &self,
        t: &Tuple<A>,
        pkt: &PacketKey<A>,
        prep: &Prepared<A>,
        from: u32,
        best: u32,
    ) -> u32 {
        if t.max_rule < from
            || PRUNE && (t.src_bit & !prep.src_lens != 0 || t.dst_bit & !prep.dst_lens != 0)
        {
            return best;
        }
        let key = prep.packed.and(&t.mask);
        let bucket = match &t.lookup {
            TupleLookup::One(k, b) if *k == key => *b,
            TupleLookup::One(..) => return best,
            TupleLookup::Many(map) => match map.get(&key) {
                Some(b) => *b,
                None => return best,
            },
        };
        let start = bucket.start as usize;
        let Some(entries) = self.pool.get(start..start + bucket.len as usize) else {
            return best;
        };
        let skip = match entries.first() {
            Some(e) if e.rule >= from => 0,
            _ => entries.partition_point(|e| e.rule < from),
        };
        // Rules with the same checked matches (`! -s 10.0.0.0/8` on many
        // rules) share a check: one that failed is not evaluated again.
        let mut failed = EXACT;
        for e in &entries[skip..] {
            if e.rule >= best {
                break;
            }
            if e.check == EXACT {
                return e.rule;
            }
            if e.check != failed {
                if self.verify(e.check, pkt) {
                    return e.rule;
                }
                failed = e.check;
            }
        }
        best
    }

    /// [`Classifier::first_from`] for a batch: `out[j]` for `pkts[j]`, all
    /// from rule `from` (a batch entering the chain). The tuples are walked
    /// once for the whole batch, keeping each tuple's table hot. Only the
    /// first `min(pkts.len(), out.len())` packets are classified.
    ///
    /// Not on the pipeline's path (rule evaluation asks
    /// [`Classifier::first_from`] per packet, and the benches measure that);
    /// kept, with its property tests, for the batched evaluation the
    /// classifier issue may adopt.
    pub fn first_from_batch(&self, pkts: &[PacketKey<A>], from: usize, out: &mut [Option<usize>]) {
        let n = pkts.len().min(out.len());
        if from >= self.rules {
            out[..n].fill(None);
        } else if self.prunes() {
            self.batch::<true>(&pkts[..n], from as u32, &mut out[..n]);
        } else {
            self.batch::<false>(&pkts[..n], from as u32, &mut out[..n]);
        }
    }

    fn batch<const PRUNE: bool>(
        &self,
        pkts: &[PacketKey<A>],
        from: u32,
        out: &mut [Option<usize>],
    ) {
        const CHUNK: usize = 64;
        for (pkts, out) in pkts.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let mut prep = [Prepared::<A>::default(); CHUNK];
            let mut best = [u32::MAX; CHUNK];
            for (p, k) in prep.iter_mut().zip(pkts) {
                *p = self.prepare::<PRUNE>(k);
            }
            for t in &self.tuples {
                let mut live = false;
                for ((k, p), b) in pkts.iter().zip(&prep).zip(best.iter_mut()) {
                    if t.min_rule < *b {
                        live = true;
                        *b = self.probe::<PRUNE>(t, k, p, from, *b);
                    }
                }
                if !live {
                    break;
                }
            }
            for (o, b) in out.iter_mut().zip(best) {
                *o = (b != u32::MAX).then_some(b as usize);
            }
        }
    }
}
