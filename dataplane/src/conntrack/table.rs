//! The flow table of one shard: entries in a slab allocated once, found
//! by either direction's tuple through an open-addressing index (linear
//! probing, deletion by backward shift: no tombstones, so churn never
//! degrades it and nothing is allocated after [`Table::new`]).
//!
//! An index slot is a `u64`: the tuple hash's high 32 bits as a tag, and
//! `(entry << 1 | dir) + 1` (0 is an empty slot). A key's home slot is
//! computed from its tag alone (`tag * slots >> 32`), so neither the
//! entries nor the index keep hashes. The index has [`SLOTS_PER_ENTRY`]
//! slots per entry (two keys each: load at most 0.77).
//!
//! A second index, *by source*, holds the entries whose source NAT is set
//! up, keyed by their original source (address, port or ICMP id,
//! protocol, zone): `find_appropriate_src` walks it so that a source keeps
//! the mapping it has (`nf_nat_bysource`). Its slots are like the main
//! index's (a tag and the entry), 1.3 per entry.

use super::entry::{status, Entry};
use super::tuple::{Dir, Tuple};

/// How far from a key's home slot early drop looks for a victim
/// (`NF_CT_EVICTION_RANGE` in spirit: the kernel looks at 8 entries of the
/// new tuple's hash bucket).
pub const EVICTION_RANGE: usize = 8;

/// Index slots per entry (in tenths).
const SLOTS_PER_ENTRY_X10: usize = 26;
/// By-source index slots per entry (in tenths).
const SRC_SLOTS_PER_ENTRY_X10: usize = 13;

/// `status` bit (not one of the kernel's) of an entry in the by-source
/// index.
pub const IN_BYSOURCE: u32 = 1 << 30;

pub struct Table {
    pub(super) entries: Vec<Entry>,
    /// 0 free, 1 in use and indexed, 2 in use but taken out of the index
    /// (an unconfirmed entry an answer the box made is still attached to).
    used: Vec<u8>,
    free: Vec<u32>,
    index: Box<[u64]>,
    /// `tag << 32 | entry + 1` per slot (the tag: the by-source key's
    /// hash, high half), 0 empty.
    bysource: Box<[u64]>,
    hasher: ahash::RandomState,
    len: usize,
    max: usize,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len)
            .field("max", &self.max)
            .finish()
    }
}

#[inline]
fn slot_ref(entry: u32, dir: Dir) -> u64 {
    ((u64::from(entry) << 1) | dir as u64) + 1
}

/// The home of a tag in `n` slots (Lemire's fast range reduction).
#[inline]
fn home(tag: u64, n: usize) -> usize {
    ((tag * n as u64) >> 32) as usize
}

/// Empties slot `i` of a linear-probing array (0 is empty) by backward
/// shift: later members of the cluster whose home (`home_of`) is not
/// between the hole and themselves move into the hole, so no tombstone is
/// left and lookups stay short under churn.
fn backward_shift<T: Copy + PartialEq + Default>(
    slots: &mut [T],
    i: usize,
    home_of: impl Fn(T) -> usize,
) {
    let n = slots.len();
    let empty = T::default();
    let mut hole = i;
    let mut j = if i + 1 == n { 0 } else { i + 1 };
    loop {
        let s = slots[j];
        if s == empty {
            break;
        }
        let k = home_of(s);
        if (hole + n - k) % n <= (j + n - k) % n {
            slots[hole] = s;
            hole = j;
        }
        j = if j + 1 == n { 0 } else { j + 1 };
    }
    slots[hole] = empty;
}

/// The by-source key of an original tuple: the source side only.
#[inline]
fn src_key(t: &Tuple) -> Tuple {
    Tuple {
        dst: [0; 16],
        dport: 0,
        ..*t
    }
}

impl Table {
    /// A table for at most `max` entries (at least 1), allocated now.
    pub fn new(max: usize) -> Table {
        let max = max.clamp(1, 1 << 30);
        let slots = (max * SLOTS_PER_ENTRY_X10 / 10).max(16);
        let src_slots = (max * SRC_SLOTS_PER_ENTRY_X10 / 10).max(16);
        Table {
            entries: Vec::with_capacity(max),
            used: Vec::with_capacity(max),
            free: Vec::with_capacity(max),
            index: vec![0u64; slots].into_boxed_slice(),
            bysource: vec![0u64; src_slots].into_boxed_slice(),
            hasher: ahash::RandomState::with_seeds(
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
                0x082e_fa98_ec4e_6c89,
            ),
            len: 0,
            max,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn max(&self) -> usize {
        self.max
    }

    /// Slots in the slab (used or not): the range [`Table::get`] takes.
    #[inline]
    pub fn slots(&self) -> usize {
        self.entries.len()
    }

    /// Bytes the table holds for `max` entries (slab, state, free list and
    /// both indexes).
    pub fn footprint(&self) -> usize {
        self.max * (std::mem::size_of::<Entry>() + 1 + 4)
            + self.index.len() * 8
            + self.bysource.len() * 8
    }

    /// Whether `slot` holds an entry (indexed or not).
    #[inline]
    pub fn in_use(&self, slot: u32) -> bool {
        self.used.get(slot as usize).copied().unwrap_or(0) != 0
    }

    #[inline]
    pub fn hash(&self, t: &Tuple) -> u64 {
        self.hasher.hash_one(t)
    }

    /// The entry in `slot`, if in use.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&Entry> {
        if self.in_use(slot) {
            Some(&self.entries[slot as usize])
        } else {
            None
        }
    }

    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        if self.in_use(slot) {
            Some(&mut self.entries[slot as usize])
        } else {
            None
        }
    }

    /// The home slot of hash `h` in the index (the warm-up pass).
    #[inline]
    pub fn home_slot(&self, h: u64) -> u64 {
        home(h >> 32, self.index.len()) as u64
    }

    /// The index slot `i` (the warm-up pass).
    #[inline]
    pub fn index_at(&self, i: usize) -> u64 {
        self.index[i]
    }

    /// The index slot of the first key with `h`'s tag from its home slot
    /// (the warm-up pass; the index line is in cache by then): 0 when a
    /// free slot comes first.
    #[inline]
    pub fn tagged_slot(&self, h: u64) -> u64 {
        let tag = h >> 32;
        let n = self.index.len();
        let mut i = home(tag, n);
        for _ in 0..16 {
            let s = self.index[i];
            if s == 0 || s >> 32 == tag {
                return s;
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
        0
    }

    /// Reads the entry an index slot names, if any (the warm-up pass).
    #[inline]
    pub fn touch_entry(&self, s: u64) -> u64 {
        if s == 0 {
            return 0;
        }
        let e = (((s as u32) - 1) >> 1) as usize;
        // Every cache line of the entry, and its slot state.
        self.entries.get(e).map_or(0, |x| {
            let p = match &x.proto {
                super::entry::ProtoState::Udp { stream_ts } => *stream_ts,
                super::entry::ProtoState::Tcp(c) => c.state() as u64,
                super::entry::ProtoState::None => 0,
            };
            u64::from(x.tuple[0].src[0]) ^ u64::from(x.expires) ^ p ^ u64::from(self.used[e])
        })
    }

    /// The entry and direction `t` belongs to.
    #[inline]
    pub fn find(&self, t: &Tuple) -> Option<(u32, Dir)> {
        self.find_hashed(t, self.hash(t))
    }

    #[inline]
    pub fn find_hashed(&self, t: &Tuple, h: u64) -> Option<(u32, Dir)> {
        self.find_other(t, h, u32::MAX)
    }

    /// The first entry other than `skip` indexed under `t`.
    #[inline]
    fn find_other(&self, t: &Tuple, h: u64, skip: u32) -> Option<(u32, Dir)> {
        let tag = h >> 32;
        let n = self.index.len();
        let mut i = home(tag, n);
        loop {
            let s = self.index[i];
            if s == 0 {
                return None;
            }
            if s >> 32 == tag {
                let r = (s as u32) - 1;
                let (e, dir) = (r >> 1, if r & 1 == 0 { Dir::Orig } else { Dir::Reply });
                if e != skip && self.entries[e as usize].tuple[dir.index()] == *t {
                    return Some((e, dir));
                }
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// Whether another entry than `slot` is indexed under `t` (a clash
    /// `__nf_conntrack_confirm` refuses).
    pub fn taken_by_other(&self, t: &Tuple, slot: u32) -> bool {
        self.find_other(t, self.hash(t), slot).is_some()
    }

    fn index_insert(&mut self, h: u64, r: u64) {
        let tag = h >> 32;
        let n = self.index.len();
        let mut i = home(tag, n);
        while self.index[i] != 0 {
            i += 1;
            if i == n {
                i = 0;
            }
        }
        self.index[i] = (tag << 32) | r;
    }

    fn index_remove(&mut self, h: u64, r: u64) {
        let n = self.index.len();
        let mut i = home(h >> 32, n);
        loop {
            let s = self.index[i];
            if s == 0 {
                debug_assert!(false, "index entry missing");
                return;
            }
            if s & 0xffff_ffff == r {
                break;
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
        backward_shift(&mut self.index, i, |s| home(s >> 32, n));
    }

    /// Puts `e` in the table, indexed by both its tuples; `None` when full.
    pub fn insert(&mut self, e: Entry) -> Option<u32> {
        if self.len >= self.max {
            return None;
        }
        let h0 = self.hash(&e.tuple[0]);
        let h1 = self.hash(&e.tuple[1]);
        let slot = match self.free.pop() {
            Some(s) => {
                self.entries[s as usize] = e;
                self.used[s as usize] = 1;
                s
            }
            None => {
                self.entries.push(e);
                self.used.push(1);
                (self.entries.len() - 1) as u32
            }
        };
        self.entries[slot as usize].status &= !IN_BYSOURCE;
        self.index_insert(h0, slot_ref(slot, Dir::Orig));
        self.index_insert(h1, slot_ref(slot, Dir::Reply));
        self.len += 1;
        Some(slot)
    }

    /// Changes the reply tuple of the entry in `slot` (NAT:
    /// `nf_conntrack_alter_reply`).
    pub fn set_reply(&mut self, slot: u32, reply: Tuple) {
        let indexed = self.used[slot as usize] == 1;
        if indexed {
            let h_old = self.hash(&self.entries[slot as usize].tuple[1]);
            self.index_remove(h_old, slot_ref(slot, Dir::Reply));
        }
        self.entries[slot as usize].tuple[1] = reply;
        if indexed {
            let h = self.hash(&reply);
            self.index_insert(h, slot_ref(slot, Dir::Reply));
        }
    }

    fn unindex(&mut self, slot: u32) {
        let e = &self.entries[slot as usize];
        let (h0, h1) = (self.hash(&e.tuple[0]), self.hash(&e.tuple[1]));
        self.index_remove(h0, slot_ref(slot, Dir::Orig));
        self.index_remove(h1, slot_ref(slot, Dir::Reply));
        self.len -= 1;
    }

    /// Takes the entry in `slot` out of the index (no lookup finds it
    /// again) but keeps it for whoever holds its slot; [`Table::remove`]
    /// frees it.
    pub fn unlink(&mut self, slot: u32) {
        if self.used.get(slot as usize).copied().unwrap_or(0) != 1 {
            return;
        }
        self.unindex(slot);
        self.bysource_remove(slot);
        self.used[slot as usize] = 2;
    }

    /// Removes the entry in `slot`.
    pub fn remove(&mut self, slot: u32) {
        let s = slot as usize;
        match self.used.get(s).copied().unwrap_or(0) {
            0 => return,
            1 => {
                self.unindex(slot);
                self.bysource_remove(slot);
            }
            _ => {}
        }
        self.used[s] = 0;
        self.free.push(slot);
    }

    /// Enters the (indexed) entry in `slot` in the by-source index (its
    /// source NAT is set up). Nothing when the index is full.
    pub fn bysource_insert(&mut self, slot: u32) {
        let s = slot as usize;
        if self.used.get(s).copied().unwrap_or(0) != 1 || self.entries[s].status & IN_BYSOURCE != 0
        {
            return;
        }
        let tag = self.hash(&src_key(&self.entries[s].tuple[0])) >> 32;
        let n = self.bysource.len();
        let mut i = home(tag, n);
        for _ in 0..n {
            if self.bysource[i] == 0 {
                self.bysource[i] = (tag << 32) | u64::from(slot + 1);
                self.entries[s].status |= IN_BYSOURCE;
                return;
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
    }

    fn bysource_remove(&mut self, slot: u32) {
        let s = slot as usize;
        if self.entries[s].status & IN_BYSOURCE == 0 {
            return;
        }
        self.entries[s].status &= !IN_BYSOURCE;
        let tag = self.hash(&src_key(&self.entries[s].tuple[0])) >> 32;
        let n = self.bysource.len();
        let mut i = home(tag, n);
        loop {
            let v = self.bysource[i];
            if v == 0 {
                debug_assert!(false, "by-source entry missing");
                return;
            }
            if v as u32 == slot + 1 {
                break;
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        backward_shift(&mut self.bysource, i, |v| home(v >> 32, n));
    }

    /// The entries in the by-source index whose original source is
    /// `orig`'s (address, port or id, protocol, zone), oldest first; at
    /// most `out.len()`.
    pub fn same_source(&self, orig: &Tuple, out: &mut [u32]) -> usize {
        let key = src_key(orig);
        let tag = self.hash(&key) >> 32;
        let n = self.bysource.len();
        let mut i = home(tag, n);
        let mut k = 0;
        for _ in 0..n {
            let v = self.bysource[i];
            if v == 0 || k == out.len() {
                break;
            }
            if v >> 32 == tag {
                let e = (v as u32) - 1;
                let x = &self.entries[e as usize];
                if src_key(&x.tuple[0]) == key && x.status & status::DYING == 0 {
                    out[k] = e;
                    k += 1;
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        k
    }

    /// The entries whose keys sit in the first slots from `t`'s home slot
    /// (the neighbourhood early drop searches), at most
    /// [`EVICTION_RANGE`].
    pub fn neighbourhood(&self, t: &Tuple, out: &mut [u32; EVICTION_RANGE]) -> usize {
        let n = self.index.len();
        let start = home(self.hash(t) >> 32, n);
        let mut c = 0;
        for k in 0..EVICTION_RANGE * 2 {
            let s = self.index[(start + k) % n];
            if s == 0 {
                continue;
            }
            let e = ((s as u32) - 1) >> 1;
            if !out[..c].contains(&e) {
                out[c] = e;
                c += 1;
                if c == EVICTION_RANGE {
                    break;
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::tuple::addr;

    fn tuple(i: u32) -> Tuple {
        Tuple {
            src: addr(std::net::IpAddr::V4(i.into())),
            dst: addr("192.0.2.1".parse().unwrap()),
            sport: (i % 60000) as u16,
            dport: 80,
            proto: 6,
            family: 4,
            zone: 0,
        }
    }

    #[test]
    fn insert_find_remove_under_churn_matches_a_model() {
        let mut t = Table::new(500);
        let mut model = std::collections::HashMap::new();
        let mut x: u64 = 7;
        for step in 0..50_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 900) as u32;
            let orig = tuple(k);
            match model.get(&k) {
                Some(&slot) if x.is_multiple_of(3) => {
                    t.remove(slot);
                    model.remove(&k);
                }
                Some(&slot) => {
                    assert_eq!(t.find(&orig), Some((slot, Dir::Orig)), "step {step}");
                    let reply = orig.invert().unwrap();
                    assert_eq!(t.find(&reply), Some((slot, Dir::Reply)));
                }
                None => {
                    assert_eq!(t.find(&orig), None, "step {step}");
                    let e = Entry::new(orig, orig.invert().unwrap(), 0);
                    match t.insert(e) {
                        Some(slot) => {
                            model.insert(k, slot);
                        }
                        None => assert_eq!(t.len(), 500),
                    }
                }
            }
            assert_eq!(t.len(), model.len());
        }
        // NAT changes the reply key.
        let (&k, &slot) = model.iter().next().unwrap();
        let mut reply = tuple(k).invert().unwrap();
        reply.dport = 4444;
        t.set_reply(slot, reply);
        assert_eq!(t.find(&reply), Some((slot, Dir::Reply)));
        assert_eq!(t.find(&tuple(k).invert().unwrap()), None);
    }
}
