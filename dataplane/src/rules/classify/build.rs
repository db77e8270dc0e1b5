//! Compiling a chain's keys into a [`Classifier`] (see the module docs of
//! [`super`]).

use std::collections::HashMap;
use std::ops::{BitAnd, Not};

use super::ports::{self, PortSet};
use super::prune::{prefix_within, Prune, PRUNE_MIN_TUPLES};
use super::*;

/// A port alternative whose blocks multiply (`sport blocks x dport
/// blocks`) to more than this has one side checked on the entry instead
/// of expanded: every single range, inverted port and multiport list of
/// one side (at most 30 blocks a range) is indexed; products of two
/// unaligned ranges are not.
pub const PORT_BLOCKS_MAX: usize = 32;

/// A filter (inverted matches, large interface sets) shared by at least
/// this many rules becomes a property of their tuples; rarer ones are
/// checked on the entry (a tuple per rare filter would multiply tuples).
pub const TUPLE_FILTER_MIN: usize = 4;

/// Index or ordered scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildMode {
    /// The ordered scan when the cost model ([`COST_PROBE`],
    /// [`COST_RULE`]) estimates it cheaper on packets aimed at the chain's
    /// rules, else the index.
    Auto,
    /// Always the index.
    Indexed,
    /// Always the ordered scan (the benches' baseline).
    Ordered,
}

/// How one match is compiled.
enum Part<T> {
    /// Can never hold: the rule is dropped.
    Never,
    /// Always holds: nothing to do.
    Always,
    /// Indexed: `(field & mask) == value` in the tuple.
    Index(T, T),
    /// Tested by the rule's filter.
    Filter,
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
        Part::Filter
    } else {
        Part::Index(mask, value)
    }
}

/// An interface match resolved to the set of slots it matches.
enum IfPart {
    Never,
    Always,
    /// Indexed, one entry per id (`IF_NONE` for none).
    Ids(Vec<u16>),
    /// Tested by the filter.
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

/// Interns values, giving each distinct one an index.
struct Interner<T> {
    items: Vec<T>,
    ids: HashMap<T, u32, ahash::RandomState>,
}

impl<T: Clone + Eq + std::hash::Hash> Interner<T> {
    fn new() -> Self {
        Interner {
            items: Vec::new(),
            ids: HashMap::default(),
        }
    }

    fn id(&mut self, v: T) -> u32 {
        if let Some(&id) = self.ids.get(&v) {
            return id;
        }
        self.items.push(v.clone());
        let id = (self.items.len() - 1) as u32;
        self.ids.insert(v, id);
        id
    }
}

/// One way a rule's ports can match: the masks and values of the port
/// blocks indexed, and the sets checked on the entry (`None`: indexed).
struct PortEntry {
    l4_mask: u64,
    l4_value: u64,
    sport: Option<PortSet>,
    dport: Option<PortSet>,
    /// The alternative's sets, checked when the entry's tuple indexes
    /// shorter port blocks than the entry's.
    sset: PortSet,
    dset: PortSet,
}

/// The entries of one port alternative `(s, d)`: both sides expanded
/// into blocks when the product is small enough, else the side with fewer
/// blocks (if small enough) and the other checked.
fn port_entries(s: &PortSet, d: &PortSet, out: &mut Vec<PortEntry>) {
    let (ps, pd) = (s.prefixes(), d.prefixes());
    let fits = |n: usize| n <= PORT_BLOCKS_MAX;
    let (index_s, index_d) = if fits(ps.len() * pd.len()) {
        (true, true)
    } else if fits(ps.len()) && (ps.len() <= pd.len() || !fits(pd.len())) {
        (true, false)
    } else {
        (false, fits(pd.len()))
    };
    let any = vec![(0u16, 0u16)];
    let (ps, sv) = if index_s {
        (ps, None)
    } else {
        (any.clone(), Some(s))
    };
    let (pd, dv) = if index_d { (pd, None) } else { (any, Some(d)) };
    for &(sm, sval) in &ps {
        for &(dm, dval) in &pd {
            out.push(PortEntry {
                l4_mask: L4_HAS_PORTS
                    | (sm as u64) << L4_SPORT_SHIFT
                    | (dm as u64) << L4_DPORT_SHIFT,
                l4_value: L4_HAS_PORTS
                    | (sval as u64) << L4_SPORT_SHIFT
                    | (dval as u64) << L4_DPORT_SHIFT,
                sport: sv.filter(|s| !s.is_all()).cloned(),
                dport: dv.filter(|d| !d.is_all()).cloned(),
                sset: s.clone(),
                dset: d.clone(),
            });
        }
    }
}

/// A rule compiled: the tuple mask and masked value of its address,
/// protocol and mark matches, the interface ids to replicate over, its
/// port entries, its filter if any.
struct Compiled<A: Addr> {
    mask: Packed<A>,
    value: Packed<A>,
    iif_ids: Option<Vec<u16>>,
    oif_ids: Option<Vec<u16>>,
    /// `None`: no port match.
    ports: Option<Vec<PortEntry>>,
    filter: Option<Filter<A>>,
}

fn compile<A: Addr>(
    key: &ClassKey<A>,
    ifaces: &InterfaceTable,
    pool: &mut SetPool,
) -> Option<Compiled<A>> {
    let mut mask = Packed::<A>::default();
    let mut value = Packed::<A>::default();
    let mut filter = Filter::<A>::default();
    let mut filtered = false;

    for (m, mask_f, value_f, filter_f) in [
        (&key.src, &mut mask.src, &mut value.src, &mut filter.src),
        (&key.dst, &mut mask.dst, &mut value.dst, &mut filter.dst),
    ] {
        let Some(m) = m else { continue };
        match masked_part(m.addr, m.mask, m.invert) {
            Part::Never => return None,
            Part::Always => {}
            Part::Index(k, v) => {
                *mask_f = k;
                *value_f = v;
            }
            Part::Filter => {
                filtered = true;
                *filter_f = Cond {
                    mask: m.mask,
                    value: m.addr,
                    invert: m.invert,
                };
            }
        }
    }

    if let Some(p) = key.proto.filter(|p| p.proto != 0) {
        if p.invert {
            filtered = true;
            filter.proto = Cond {
                mask: 0xff,
                value: p.proto,
                invert: true,
            };
        } else {
            mask.l4 |= L4_PROTO;
            value.l4 |= p.proto as u64;
        }
    }

    let ports =
        match ports::alternatives(key.sport.as_ref(), key.dport.as_ref(), key.ports.as_ref()) {
            None => None,
            Some(alts) if alts.is_empty() => return None,
            Some(alts) => {
                let mut out = Vec::new();
                for (s, d) in &alts {
                    port_entries(s, d, &mut out);
                }
                Some(out)
            }
        };

    let mut ids = [None, None];
    for (i, (m, filter_f)) in [(&key.iif, &mut filter.iif), (&key.oif, &mut filter.oif)]
        .into_iter()
        .enumerate()
    {
        let Some(m) = m else { continue };
        match iface_part(m, ifaces, pool.words) {
            IfPart::Never => return None,
            IfPart::Always => {}
            IfPart::Ids(v) => {
                mask.meta |= META_IIF << (i as u32 * META_OIF_SHIFT);
                ids[i] = Some(v);
            }
            IfPart::Set(set) => {
                filtered = true;
                *filter_f = pool.intern(set);
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
            Part::Filter => {
                filtered = true;
                filter.mark = Cond {
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
        ports,
        filter: filtered.then_some(filter),
    })
}

/// A bucket is not filled beyond this many entries by rules whose
/// addresses it indexes only in part (TupleMerge's collision limit): the
/// next such rule goes to a tuple of longer prefixes.
pub const BUCKET_MAX: usize = 8;

/// A new tuple indexes address prefixes rounded down to a multiple of
/// this many bits (`/17`..`/23` as `/16`), unless such a tuple exists
/// already and its bucket is full.
pub const RELAX_BITS: u32 = 8;

/// Tuples by their mask without addresses and their filter.
type ByRest<A> = HashMap<(Packed<A>, u32), Vec<usize>, ahash::RandomState>;

/// The tuple a rule's entry with `mask` and (first) masked `value` goes
/// to (TupleMerge, Daly, Liu, Torng, ANCS 2017): an existing tuple whose
/// address masks are part of the rule's and whose bucket has room (the
/// most specific such), else a new tuple of relaxed prefixes, else (when
/// the relaxed one is full) one of the rule's own masks.
fn place<A: Addr>(
    builds: &mut Vec<TupleBuild<A>>,
    by_rest: &mut ByRest<A>,
    mask: Packed<A>,
    filter: u32,
    value: &Packed<A>,
    rule: u32,
) -> usize {
    let rest = Packed {
        src: A::zero(),
        dst: A::zero(),
        l4: mask.l4 & !L4_PORTS,
        ..mask
    };
    let list = by_rest.entry((rest, filter)).or_default();
    let within = |t: A, m: A| t & m == t;
    let bits = |m: Packed<A>| {
        m.src.prefix_len().unwrap_or(<A as Addr>::BITS)
            + m.dst.prefix_len().unwrap_or(<A as Addr>::BITS)
            + (m.l4 & L4_PORTS).count_ones()
    };
    let room = |tb: &TupleBuild<A>| {
        tb.index
            .get(&value.and(&tb.mask))
            .is_none_or(|&b| tb.buckets[b].1.len() < BUCKET_MAX || tb.mask == mask)
    };
    let pick = list
        .iter()
        .copied()
        .filter(|&t| {
            let tb = &builds[t];
            within(tb.mask.src, mask.src)
                && within(tb.mask.dst, mask.dst)
                && tb.mask.l4 & mask.l4 == tb.mask.l4
                && room(tb)
        })
        .max_by_key(|&t| bits(builds[t].mask));
    if let Some(t) = pick {
        return t;
    }
    let relax = |m: A| match m.prefix_len() {
        Some(l) => A::prefix_mask(l / RELAX_BITS * RELAX_BITS),
        None => m,
    };
    // Port blocks: exact ports stay, blocks of 2..256 ports as their
    // high byte, larger ones not indexed.
    let relax_port = |shift: u32| {
        let m = (mask.l4 >> shift) as u16;
        let relaxed: u16 = match m.leading_ones() {
            16 => 0xffff,
            8..=15 => 0xff00,
            _ => 0,
        };
        (relaxed as u64) << shift
    };
    let relaxed = Packed {
        src: relax(mask.src),
        dst: relax(mask.dst),
        l4: mask.l4 & !L4_PORTS | relax_port(L4_SPORT_SHIFT) | relax_port(L4_DPORT_SHIFT),
        ..mask
    };
    let new = if list.iter().any(|&t| builds[t].mask == relaxed) {
        mask
    } else {
        relaxed
    };
    if let Some(&t) = list.iter().find(|&&t| builds[t].mask == new) {
        return t;
    }
    builds.push(TupleBuild {
        mask: new,
        filter,
        min_rule: rule,
        max_rule: rule,
        index: HashMap::default(),
        buckets: Vec::new(),
        src: Vec::new(),
        dst: Vec::new(),
    });
    list.push(builds.len() - 1);
    builds.len() - 1
}

/// Packets (aimed at rules spread over the chain) the build estimates
/// the cost of the index and of the ordered scan with.
const SAMPLES: usize = 256;

/// The cost model of [`BuildMode::Auto`], ns, from `benches/classify.rs`
/// on the development machine (EPYC, release): one tuple looked up (mask,
/// hash, probe, bucket), one search started, one key tested in order.
pub const COST_PROBE: u64 = 30;
pub const COST_CALL: u64 = 15;
pub const COST_RULE: u64 = 4;
/// The two trie walks of tuple pruning, once per packet: acl1-10k costs
/// ~80 ns a lookup (thread CPU time) at 1.3 probes where kube 10 000, one
/// probe and no pruning, costs ~35 (`benches/classify.rs`, a loaded
/// machine), which leaves 20–30 ns for the walks.
pub const COST_PRUNE: u64 = 20;

/// A tuple while the chain is compiled.
struct TupleBuild<A: Addr> {
    mask: Packed<A>,
    filter: u32,
    min_rule: u32,
    max_rule: u32,
    /// Buckets in order of first insertion.
    index: HashMap<Packed<A>, usize, ahash::RandomState>,
    buckets: Vec<(Packed<A>, Vec<Entry>)>,
    /// The address prefixes of its rules (for tuple pruning).
    src: Vec<(A, u32)>,
    dst: Vec<(A, u32)>,
}

impl<A: Addr> Classifier<A> {
    /// Compiles the chain whose rules have `keys`, in order, resolving
    /// interface names through `ifaces`.
    ///
    /// Panics with more than `u32::MAX - 1` rules.
    pub fn build(keys: &[ClassKey<A>], ifaces: &InterfaceTable) -> Self {
        Self::build_with(keys, ifaces, BuildMode::Auto)
    }

    /// [`Classifier::build`], choosing the index or the ordered scan as
    /// `mode` says.
    pub fn build_with(keys: &[ClassKey<A>], ifaces: &InterfaceTable, mode: BuildMode) -> Self {
        Self::build_pruned(keys, ifaces, mode, None)
    }

    /// [`Classifier::build_with`]; `prune` forces tuple pruning on or off
    /// (`None`: the cost model decides).
    pub(super) fn build_pruned(
        keys: &[ClassKey<A>],
        ifaces: &InterfaceTable,
        mode: BuildMode,
        force: Option<bool>,
    ) -> Self {
        assert!(keys.len() < u32::MAX as usize, "too many rules in a chain");
        let words = (ifaces.len() + 1).div_ceil(64);
        let mut sets = SetPool {
            words,
            sets: Vec::new(),
            seen: HashMap::default(),
        };
        let compiled: Vec<Option<Compiled<A>>> =
            keys.iter().map(|k| compile(k, ifaces, &mut sets)).collect();
        let never = compiled.iter().filter(|c| c.is_none()).count();

        let mut filters = Interner::new();
        let mut uses: Vec<usize> = Vec::new();
        let filter_ids: Vec<u32> = compiled
            .iter()
            .map(|c| match c.as_ref().and_then(|c| c.filter) {
                Some(f) => {
                    let id = filters.id(f);
                    if uses.len() <= id as usize {
                        uses.push(0);
                    }
                    uses[id as usize] += 1;
                    id
                }
                None => NONE,
            })
            .collect();

        let mut checks = Interner::new();
        let mut port_sets = Interner::new();
        let mut by_rest: ByRest<A> = HashMap::default();
        let mut builds: Vec<TupleBuild<A>> = Vec::new();
        let no_ports = [PortEntry {
            l4_mask: 0,
            l4_value: 0,
            sport: None,
            dport: None,
            sset: PortSet::all(),
            dset: PortSet::all(),
        }];

        // Packets aimed at some of the rules, for the cost estimate.
        let step = (keys.len() / SAMPLES).max(1);
        let mut samples = Vec::new();
        for (i, c) in compiled.iter().enumerate() {
            let Some(c) = c else { continue };
            let rule = i as u32;
            let f = filter_ids[i];
            let (tuple_filter, entry_filter) = match uses.get(f as usize) {
                Some(&n) if n >= TUPLE_FILTER_MIN => (f, NONE),
                Some(_) => (NONE, f),
                None => (NONE, NONE),
            };
            let entries = c.ports.as_deref().unwrap_or(&no_ports);
            for pe in entries {
                let mut set = |s: &Option<PortSet>| match s {
                    Some(s) => port_sets.id(s.intervals().to_vec().into_boxed_slice()),
                    None => NONE,
                };
                let check = Check {
                    filter: entry_filter,
                    sport: set(&pe.sport),
                    dport: set(&pe.dport),
                    ..Check::exact()
                };
                let mut mask = c.mask;
                mask.l4 |= pe.l4_mask;
                let iifs = c.iif_ids.as_deref().unwrap_or(&[0]);
                let oifs = c.oif_ids.as_deref().unwrap_or(&[0]);
                let mut value = c.value;
                value.l4 |= pe.l4_value;
                let first = Packed {
                    meta: value.meta
                        | iifs.first().map_or(0, |&i| i as u64)
                        | oifs.first().map_or(0, |&o| (o as u64) << META_OIF_SHIFT),
                    ..value
                };
                if i % step == 0 && samples.last().is_none_or(|&(r, _)| r != i) {
                    let p = first.unpack();
                    samples.push((i, p));
                    // And one its inverted addresses refuse (the packets
                    // an ordered scan walks the whole chain for).
                    if let Some(f) = c.filter.filter(|f| f.src.invert || f.dst.invert) {
                        let mut q = p;
                        if f.src.invert {
                            q.src = f.src.value;
                        }
                        if f.dst.invert {
                            q.dst = f.dst.value;
                        }
                        samples.push((i, q));
                    }
                }
                let t = place(&mut builds, &mut by_rest, mask, tuple_filter, &first, rule);
                // A tuple of shorter prefixes than the rule's: the rest
                // of its addresses is checked on the entry.
                let cond = |tm: A, m: A, v: A| {
                    if tm == m {
                        Cond::default()
                    } else {
                        Cond {
                            mask: m,
                            value: v,
                            invert: false,
                        }
                    }
                };
                let tmask = builds[t].mask;
                let port_bits = |m: u64, shift: u32| (m >> shift) as u16;
                let mut check = Check {
                    src: cond(tmask.src, mask.src, value.src),
                    dst: cond(tmask.dst, mask.dst, value.dst),
                    ..check
                };
                // Shorter port blocks than the entry's: its sets checked.
                for (shift, set, f) in [
                    (L4_SPORT_SHIFT, &pe.sset, &mut check.sport),
                    (L4_DPORT_SHIFT, &pe.dset, &mut check.dport),
                ] {
                    if *f == NONE && port_bits(tmask.l4, shift) != port_bits(mask.l4, shift) {
                        *f = port_sets.id(set.intervals().to_vec().into_boxed_slice());
                    }
                }
                let check = if check == Check::exact() {
                    EXACT
                } else {
                    checks.id(check)
                };
                let t = &mut builds[t];
                t.max_rule = rule;
                for (list, m, v) in [
                    (&mut t.src, mask.src, value.src),
                    (&mut t.dst, mask.dst, value.dst),
                ] {
                    let p = prefix_within(v, m);
                    if list.last() != Some(&p) {
                        list.push(p);
                    }
                }
                for &iif in iifs {
                    for &oif in oifs {
                        let mut v = value.and(&t.mask);
                        v.meta |= iif as u64 | (oif as u64) << META_OIF_SHIFT;
                        let b = *t.index.entry(v).or_insert_with(|| {
                            t.buckets.push((v, Vec::new()));
                            t.buckets.len() - 1
                        });
                        let bucket = &mut t.buckets[b].1;
                        let e = Entry { rule, check };
                        // The same block from two alternatives of a rule.
                        if !bucket
                            .last()
                            .is_some_and(|l| l.rule == rule && l.check == check)
                        {
                            bucket.push(e);
                        }
                    }
                }
            }
        }

        // Tuples are created in order of their first rule: already sorted.
        let mut pool = Vec::new();
        let mut tuples = Vec::with_capacity(builds.len());
        let mut largest_bucket = 0;
        let prune = match force {
            Some(false) => None,
            Some(true) => Some(()),
            None => (builds.len() >= PRUNE_MIN_TUPLES && mode != BuildMode::Ordered).then_some(()),
        }
        .map(|()| {
            let src: Vec<_> = builds
                .iter_mut()
                .map(|t| std::mem::take(&mut t.src))
                .collect();
            let dst: Vec<_> = builds
                .iter_mut()
                .map(|t| std::mem::take(&mut t.dst))
                .collect();
            Prune::build(&src, &dst)
        });
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
            tuples.push(Tuple {
                mask: tb.mask,
                filter: tb.filter,
                min_rule: tb.min_rule,
                max_rule: tb.max_rule,
                lookup,
            });
        }
        pool.shrink_to_fit();
        tuples.shrink_to_fit();

        let mut c = Classifier {
            rules: keys.len(),
            ifaces: ifaces.clone(),
            tuples,
            pool,
            checks: checks.items,
            filters: filters.items,
            port_sets: port_sets.items,
            sets: sets.sets,
            prune,
            ordered: None,
            residual: keys.iter().map(|k| k.residual).collect(),
            stats: ClassifierStats::default(),
        };
        if c.prune.is_some() && force.is_none() {
            // Kept when it saves more probes than its trie walks cost.
            let (with, _) = c.estimate(keys, &samples);
            let kept = c.prune.take();
            let (without, _) = c.estimate(keys, &samples);
            if with < without {
                c.prune = kept;
            }
        }
        let ordered = match mode {
            BuildMode::Auto => {
                let (index, scan) = c.estimate(keys, &samples);
                scan < index
            }
            BuildMode::Indexed => false,
            BuildMode::Ordered => true,
        };
        if ordered {
            c.ordered = Some(keys.into());
            c.tuples = Vec::new();
            c.pool = Vec::new();
            c.prune = None;
        }
        c.stats = ClassifierStats {
            rules: keys.len(),
            never,
            tuples: c.tuples.len(),
            filtered_tuples: c.tuples.iter().filter(|t| t.filter != NONE).count(),
            entries: c.pool.len(),
            verified: c.pool.iter().filter(|e| e.check != EXACT).count(),
            largest_bucket: if ordered { 0 } else { largest_bucket },
            ordered,
            pruned: c.prune.is_some(),
            heap_bytes: c.heap_bytes(),
        };
        c
    }

    /// Estimated cost, in ns, of the index and of the ordered scan over
    /// `samples` (packets aimed at rules): tuples probed times
    /// [`COST_PROBE`] plus [`COST_CALL`] a search, against keys tested
    /// times [`COST_RULE`]; a rule with residual matches counts as failing
    /// them (the search goes on).
    fn estimate(&self, keys: &[ClassKey<A>], samples: &[(usize, PacketKey<A>)]) -> (u64, u64) {
        let (mut index, mut scan) = (0u64, 0u64);
        for (_, p) in samples {
            let mut cur = self.cursor(p);
            let mut from = 0;
            loop {
                let k = cur.first_from(from);
                index += COST_CALL;
                let upto = k.map_or(keys.len(), |k| k + 1);
                scan += (upto.saturating_sub(from)) as u64 * COST_RULE;
                match k {
                    Some(k) if self.has_residual(k) => from = k + 1,
                    _ => break,
                }
            }
            index += u64::from(cur.probes()) * COST_PROBE;
            if self.prune.is_some() {
                index += COST_PRUNE;
            }
        }
        (index, scan)
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
            + self.filters.capacity() * size_of::<Filter<A>>()
            + self
                .port_sets
                .iter()
                .map(|s| size_of::<Box<[(u16, u16)]>>() + s.len() * 4)
                .sum::<usize>()
            + self.sets.capacity() * size_of::<u64>()
            + self.residual.capacity()
            + self
                .ordered
                .as_ref()
                .map_or(0, |k| k.len() * size_of::<ClassKey<A>>())
            + self.prune.as_ref().map_or(0, |p| p.memory_bytes())
            + self.ifaces.names.capacity() * size_of::<IfName>()
    }
}
