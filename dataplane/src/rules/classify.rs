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
//!   chain that rule `i` jumped to, asks again from `i + 1` — on the same
//!   [`Cursor`] ([`Classifier::cursor`]), which resumes the search. A
//!   lookup allocates nothing and cannot panic.
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
//! | `-m multiport` | only when the packet has ports; the source, destination or either port in one of the items, xor invert (`xt_multiport.c` `ports_match_v1`) |
//!
//! # How it works
//!
//! Every rule is projected on a *tuple*: the bit mask of the packet fields
//! it pins down (address prefixes, the protocol, port blocks, one
//! interface id, the mark bits of its mask, "has ports"). Rules with the
//! same mask share a hash table from masked packet key to the ascending
//! list of rule indices ("bucket") with those masked values (Srinivasan,
//! Suri, Varghese, "Packet Classification using Tuple Space Search",
//! SIGCOMM 1999; priorities as in Open vSwitch's classifier, Pfaff et
//! al., NSDI 2015).
//!
//! What a tuple cannot hash is made indexable or cheap:
//!
//! * Port ranges, `!` port ranges and `-m multiport` lists (lifted from
//!   the rule by the compiler as a [`PortList`] for `-p tcp|udp`) become
//!   sets of intervals (`classify/ports.rs`), then aligned power-of-two blocks, one
//!   entry per block (`--ports` is two alternatives, source or
//!   destination). A port alternative of more than [`PORT_BLOCKS_MAX`]
//!   blocks (two unaligned ranges) has one side checked on the entry.
//! * Inverted addresses, protocol and mark and interface sets of more than
//!   [`REPLICATE_IFACES`] interfaces form the rule's *filter*. A filter
//!   shared by [`TUPLE_FILTER_MIN`] rules or more (`! -s 10.0.0.0/8` on
//!   every rule) is a property of the tuple, tested once per tuple and
//!   lookup; a rarer one is checked on the entry. Small interface sets are
//!   indexed one entry per interface id.
//! * *Tuple merging* (TupleMerge, Daly, Liu, Torng, ANCS 2017) keeps the
//!   number of tuples small: a rule joins an existing tuple whose masks
//!   are part of its own (shorter prefixes, coarser port blocks) when the
//!   bucket it lands in has fewer than [`BUCKET_MAX`] entries, and the rest
//!   of its addresses and ports is checked on the entry; otherwise a new
//!   tuple is made with prefixes rounded down to [`RELAX_BITS`] bits and
//!   port blocks to an exact port, a high byte or nothing (or, when that
//!   tuple's bucket is full, its own masks). Without merging the mixed
//!   shape had 320 tuples at 10 000 rules and ClassBench fw1-10k 546; with
//!   it 12 and 60 (`benches/classify.rs`).
//!
//! A lookup is a [`Cursor`]: the packed key is computed once; tuples are
//! visited in the order of the first rule each holds and the walk stops
//! as soon as that rule is not before the best match found so far; a
//! tuple whose filter fails is skipped, else the masked key is hashed
//! (ahash, seeded at random per build) and the bucket walked from the
//! first rule `>= from`, checking entries that need it, until a rule
//! matches or the best so far is reached. When the evaluator finds the
//! proposed rule's residual matches false (`--ctstate NEW` and the like),
//! it resumes the same cursor from the next rule: the buckets found in the
//! first 16 tuples are remembered, not hashed again.
//!
//! *Tuple pruning* (Srinivasan, Suri, Varghese, SIGCOMM 1999, section 4)
//! keeps a packet from probing tuples that cannot match: for the source
//! and for the destination address, a longest-prefix-match trie
//! ([`crate::route::lpm`]) over the prefixes the rules name (each rule's
//! own prefix, not its tuple's shorter one) gives the bitmap of tuples
//! holding a rule whose prefix covers the packet's address; the search
//! walks only the tuples in the intersection of the two bitmaps, in the
//! same order, with the same early stop. The sets are found once per
//! cursor. The build makes them for chains of [`PRUNE_MIN_TUPLES`] tuples
//! or more and keeps them when the cost model below says they save more
//! probes than the two trie walks ([`COST_PRUNE`]) cost: on ClassBench's
//! 10k sets a packet probes 1.1–1.5 tuples instead of tens
//! (`benches/classify.rs`, column `probes`).
//!
//! *Never slower than ordered evaluation*: the build estimates, for
//! packets aimed at up to 256 rules spread over the chain (and, for rules
//! with inverted addresses, packets those refuse), the cost of the index
//! (tuples probed × [`COST_PROBE`] + searches × [`COST_CALL`], plus
//! [`COST_PRUNE`] a packet with tuple pruning) and of the
//! ordered scan (keys tested × [`COST_RULE`]), the constants measured with
//! `benches/classify.rs`, and keeps the cheaper ([`BuildMode::Auto`];
//! [`ClassifierStats::ordered`]). Short chains and chains of wide,
//! overlapping port ranges, where the scan stops after a few rules, are
//! scanned in order.
//!
//! The worst case stays linear, as for any classifier that keeps memory
//! linear: rules that differ only in matches that are checked share a
//! bucket that is walked in order. `bench/benches/classify.rs` (classifier
//! alone) and `bench/benches/shapes.rs` (whole pipeline) measure the
//! shapes of issue 15 and ClassBench.
//!
//! Addresses are generic ([`Addr`]): `u32` for IPv4 (the default) and
//! `u128` for IPv6 use the same code. Mapping `ip6tables -p` (the
//! upper-layer protocol after extension headers) to [`PacketKey::proto`] is
//! the evaluator's job.

mod build;
mod model;
mod ports;
mod prune;
#[cfg(test)]
mod tests;

pub use build::{
    BuildMode, BUCKET_MAX, COST_CALL, COST_PROBE, COST_PRUNE, COST_RULE, PORT_BLOCKS_MAX,
    RELAX_BITS, TUPLE_FILTER_MIN,
};
pub use model::*;
pub use prune::PRUNE_MIN_TUPLES;

use std::collections::HashMap;
use std::ops::BitAnd;

use prune::Prune;

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
/// Both port fields.
const L4_PORTS: u64 = 0xffff << L4_SPORT_SHIFT | 0xffff << L4_DPORT_SHIFT;
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

    /// The packet whose packed form is `self`.
    fn unpack(&self) -> PacketKey<A> {
        PacketKey {
            src: self.src,
            dst: self.dst,
            proto: (self.l4 & L4_PROTO) as u8,
            sport: (self.l4 >> L4_SPORT_SHIFT) as u16,
            dport: (self.l4 >> L4_DPORT_SHIFT) as u16,
            has_ports: self.l4 & L4_HAS_PORTS != 0,
            iif: (self.meta & META_IIF) as u16,
            oif: (self.meta >> META_OIF_SHIFT) as u16,
            mark: (self.meta >> META_MARK_SHIFT) as u32,
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

/// The matches no tuple can index — inverted addresses, protocol and
/// mark, interface sets too large to replicate — as one test. A filter
/// that many rules share is a property of their tuples (tested once per
/// tuple, not per entry); others are checked on the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Filter<A: Addr> {
    src: Cond<A>,
    dst: Cond<A>,
    proto: Cond<u8>,
    /// Offsets of interface sets in [`Classifier::sets`]; `NO_SET`: any.
    iif: u32,
    oif: u32,
    mark: Cond<u32>,
}

const NO_SET: u32 = u32::MAX;

impl<A: Addr> Default for Filter<A> {
    fn default() -> Self {
        Filter {
            src: Cond::default(),
            dst: Cond::default(),
            proto: Cond::default(),
            iif: NO_SET,
            oif: NO_SET,
            mark: Cond::default(),
        }
    }
}

/// What an entry checks besides its bucket's key: a filter (index in
/// [`Classifier::filters`]), port sets (indices in
/// [`Classifier::port_sets`]) that were not expanded into blocks, and the
/// address bits its tuple does not index (a tuple of shorter prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Check<A: Addr> {
    filter: u32,
    sport: u32,
    dport: u32,
    src: Cond<A>,
    dst: Cond<A>,
}

impl<A: Addr> Check<A> {
    /// Nothing to check.
    fn exact() -> Self {
        Check {
            filter: NONE,
            sport: NONE,
            dport: NONE,
            src: Cond::default(),
            dst: Cond::default(),
        }
    }
}

/// "None" for the fields of [`Check`] and [`Tuple::filter`].
const NONE: u32 = u32::MAX;

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
#[derive(Clone, Copy, Debug, Default)]
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
    /// The filter every entry of the tuple needs (index in
    /// [`Classifier::filters`]), or `NONE`.
    filter: u32,
    /// The first and last rule with an entry here.
    min_rule: u32,
    max_rule: u32,
    lookup: TupleLookup<A>,
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
    /// Tuples whose entries share a filter (inverted matches) tested
    /// once for the tuple.
    pub filtered_tuples: usize,
    /// Entries over all buckets (a rule with a small interface set, a
    /// port range or a multiport list has one per interface and port
    /// block).
    pub entries: usize,
    /// Entries checked on the entry (some match not indexed).
    pub verified: usize,
    /// Largest bucket.
    pub largest_bucket: usize,
    /// The chain is evaluated in order (the build's cost model found the
    /// index dearer, see [`BuildMode::Auto`]).
    pub ordered: bool,
    /// Tuple pruning is used (the build's cost model found it cheaper).
    pub pruned: bool,
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
    filters: Vec<Filter<A>>,
    port_sets: Vec<Box<[(u16, u16)]>>,
    /// Interface sets, `(interfaces + 1) / 64` words each (rounded up), bit `slot` set when the
    /// interface of that slot is in the set (slot `len()`: none).
    sets: Vec<u64>,
    /// Tuple pruning, when the build found it worth it.
    prune: Option<Prune<A>>,
    /// The keys, when the chain is evaluated in order instead.
    ordered: Option<Box<[ClassKey<A>]>>,
    residual: Vec<bool>,
    stats: ClassifierStats,
}

/// Tuples whose buckets a [`Cursor`] remembers between searches.
const MEMO: usize = 16;

/// A cursor's memo before any search (a constant: one block copy).
const NO_MEMO: [Bucket; MEMO] = [Bucket { start: 0, len: 0 }; MEMO];

/// One packet's lookups in one chain: the packet key is computed once,
/// and a search resumed after a rule whose residual matches failed
/// ([`Cursor::first_from`] with a larger `from`) reuses the buckets the
/// earlier searches found in the first `MEMO` (16) tuples instead of hashing
/// again. Allocates nothing.
pub struct Cursor<'c, A: Addr = u32> {
    cl: &'c Classifier<A>,
    pkt: &'c PacketKey<A>,
    packed: Packed<A>,
    /// Tuple pruning's sets for the packet's addresses, computed by the
    /// first search.
    cand: Option<(u32, u32)>,
    /// Bit `j`: `memo[j]` holds tuple `j`'s bucket (`len` 0: no bucket).
    probed: u32,
    memo: [Bucket; MEMO],
    /// Tuples looked up (hashed or compared) so far.
    probes: u32,
}

impl<A: Addr> Classifier<A> {
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
    fn filter_holds(&self, filter: u32, pkt: &PacketKey<A>) -> bool {
        let Some(f) = self.filters.get(filter as usize) else {
            return filter == NONE;
        };
        f.src.test(pkt.src)
            && f.dst.test(pkt.dst)
            && f.proto.test(pkt.proto)
            && f.mark.test(pkt.mark)
            && self.in_set(f.iif, self.ifaces.slot(pkt.iif))
            && self.in_set(f.oif, self.ifaces.slot(pkt.oif))
    }

    #[inline]
    fn in_ports(&self, set: u32, port: u16) -> bool {
        set == NONE
            || self
                .port_sets
                .get(set as usize)
                .is_some_and(|s| s.iter().any(|&(lo, hi)| lo <= port && port <= hi))
    }

    #[inline]
    fn verify(&self, check: u32, pkt: &PacketKey<A>) -> bool {
        let Some(c) = self.checks.get(check as usize) else {
            return check == EXACT;
        };
        c.src.test(pkt.src)
            && c.dst.test(pkt.dst)
            && self.in_ports(c.sport, pkt.sport)
            && self.in_ports(c.dport, pkt.dport)
            && self.filter_holds(c.filter, pkt)
    }

    /// A lookup of `pkt` in this chain, for one or more
    /// [`Cursor::first_from`] calls.
    #[inline]
    pub fn cursor<'c>(&'c self, pkt: &'c PacketKey<A>) -> Cursor<'c, A> {
        Cursor {
            cl: self,
            pkt,
            packed: Packed::of(pkt, self.norm_if(pkt.iif), self.norm_if(pkt.oif)),
            cand: None,
            probed: 0,
            probes: 0,
            memo: NO_MEMO,
        }
    }

    /// The smallest rule index `i >= from` whose key matches `pkt`: the
    /// same answer as [`reference_first_from`] over the keys it was built
    /// from. One [`Cursor`] search; a caller that may resume keeps the
    /// cursor instead.
    #[inline]
    pub fn first_from(&self, pkt: &PacketKey<A>, from: usize) -> Option<usize> {
        self.cursor(pkt).first_from(from)
    }
}

impl<A: Addr> Cursor<'_, A> {
    /// The smallest rule index `i >= from` whose key matches the packet.
    #[inline]
    pub fn first_from(&mut self, from: usize) -> Option<usize> {
        let cl = self.cl;
        if from >= cl.rules {
            return None;
        }
        if let Some(keys) = &cl.ordered {
            return reference_first_from(keys, &cl.ifaces, self.pkt, from);
        }
        let from = from as u32;
        let mut best = u32::MAX;
        if let Some(p) = &cl.prune {
            let (src, dst) = (self.pkt.src, self.pkt.dst);
            let cand = *self.cand.get_or_insert_with(|| p.sets(src, dst));
            'words: for w in 0..p.words() {
                let mut bits = p.word(cand, w);
                while bits != 0 {
                    let j = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let Some(t) = cl.tuples.get(j) else {
                        break 'words;
                    };
                    if t.min_rule >= best {
                        break 'words;
                    }
                    if t.max_rule >= from {
                        best = self.probe(j, t, from, best);
                    }
                }
            }
        } else {
            for (j, t) in cl.tuples.iter().enumerate() {
                if t.min_rule >= best {
                    break;
                }
                if t.max_rule >= from {
                    best = self.probe(j, t, from, best);
                }
            }
        }
        (best != u32::MAX).then_some(best as usize)
    }

    /// Tuples looked up so far (the build's cost estimate counts them).
    pub fn probes(&self) -> u32 {
        self.probes
    }

    /// Looks the packet up in tuple `j` (`t`); the first matching rule in
    /// `from..best`, or `best`.
    #[inline]
    fn probe(&mut self, j: usize, t: &Tuple<A>, from: u32, best: u32) -> u32 {
        let cl = self.cl;
        let bucket = if j < MEMO && self.probed >> j & 1 == 1 {
            self.memo[j]
        } else {
            let b = if t.filter != NONE && !cl.filter_holds(t.filter, self.pkt) {
                Bucket::default()
            } else {
                self.probes += 1;
                let key = self.packed.and(&t.mask);
                match &t.lookup {
                    TupleLookup::One(k, b) if *k == key => *b,
                    TupleLookup::One(..) => Bucket::default(),
                    TupleLookup::Many(map) => map.get(&key).copied().unwrap_or_default(),
                }
            };
            if j < MEMO {
                self.memo[j] = b;
                self.probed |= 1 << j;
            }
            b
        };
        let start = bucket.start as usize;
        let Some(entries) = cl.pool.get(start..start + bucket.len as usize) else {
            return best;
        };
        let skip = match entries.first() {
            Some(e) if e.rule >= from => 0,
            _ => entries.partition_point(|e| e.rule < from),
        };
        // Rules with the same checked matches share a check: one that
        // failed is not evaluated again.
        let mut failed = EXACT;
        for e in &entries[skip..] {
            if e.rule >= best {
                break;
            }
            if e.check == EXACT {
                return e.rule;
            }
            if e.check != failed {
                if cl.verify(e.check, self.pkt) {
                    return e.rule;
                }
                failed = e.check;
            }
        }
        best
    }
}
