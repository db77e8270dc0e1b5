//! The flow table of one shard: entries in a slab allocated once, found
//! by either direction's tuple through an open-addressing index (linear
//! probing, deletion by backward shift: no tombstones, so churn never
//! degrades it and nothing is allocated after [`Table::new`]).
//!
//! An index slot is a `u64`: the tuple hash's high 32 bits as a tag, and
//! `(entry << 1 | dir) + 1` (0 is an empty slot). The index has at least
//! four slots per entry (two keys per entry, load at most one half).

use super::entry::Entry;
use super::tuple::{Dir, Tuple};

/// How far from a key's home slot early drop looks for a victim
/// (`NF_CT_EVICTION_RANGE` in spirit: the kernel looks at 8 entries of the
/// new tuple's hash bucket).
pub const EVICTION_RANGE: usize = 8;

pub struct Table {
    pub(super) entries: Vec<Entry>,
    /// Whether the slot is in use: 0 free, 1 in use and indexed, 2 in use
    /// but taken out of the index (an unconfirmed entry an answer the box
    /// made is still attached to).
    used: Vec<u8>,
    free: Vec<u32>,
    index: Box<[u64]>,
    mask: usize,
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

impl Table {
    /// A table for at most `max` entries (at least 1), allocated now.
    pub fn new(max: usize) -> Table {
        let max = max.clamp(1, 1 << 30);
        let slots = (max * 4).next_power_of_two().max(16);
        Table {
            entries: Vec::with_capacity(max),
            used: Vec::with_capacity(max),
            free: Vec::with_capacity(max),
            index: vec![0u64; slots].into_boxed_slice(),
            mask: slots - 1,
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

    /// Bytes the table holds for `max` entries (slab, index, free list).
    pub fn footprint(&self) -> usize {
        self.max * (std::mem::size_of::<Entry>() + 1 + 4) + self.index.len() * 8
    }

    /// Entries taken out of the index and not freed yet (see
    /// [`Table::unlink`]) do not count in [`Table::len`]; this does.
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
        let s = slot as usize;
        if self.used.get(s).copied().unwrap_or(0) != 0 {
            Some(&self.entries[s])
        } else {
            None
        }
    }

    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        let s = slot as usize;
        if self.used.get(s).copied().unwrap_or(0) != 0 {
            Some(&mut self.entries[s])
        } else {
            None
        }
    }

    /// The entry and direction `t` belongs to.
    #[inline]
    pub fn find(&self, t: &Tuple) -> Option<(u32, Dir)> {
        self.find_hashed(t, self.hash(t))
    }

    #[inline]
    pub fn find_hashed(&self, t: &Tuple, h: u64) -> Option<(u32, Dir)> {
        let tag = h >> 32;
        let mut i = h as usize & self.mask;
        loop {
            let s = self.index[i];
            if s == 0 {
                return None;
            }
            if s >> 32 == tag {
                let r = (s as u32) - 1;
                let (e, dir) = (r >> 1, if r & 1 == 0 { Dir::Orig } else { Dir::Reply });
                if self.entries[e as usize].tuple[dir.index()] == *t {
                    return Some((e, dir));
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    fn index_insert(&mut self, h: u64, r: u64) {
        let mut i = h as usize & self.mask;
        while self.index[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.index[i] = ((h >> 32) << 32) | r;
    }

    fn index_remove(&mut self, h: u64, r: u64) {
        let mut i = h as usize & self.mask;
        loop {
            let s = self.index[i];
            if s == 0 {
                debug_assert!(false, "index entry missing");
                return;
            }
            if s & 0xffff_ffff == r {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward shift: move later members of the cluster whose home is
        // not between the hole and themselves into the hole.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let s = self.index[j];
            if s == 0 {
                break;
            }
            let home = self.home_of(s);
            let dist_j = j.wrapping_sub(home) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            if dist_hole <= dist_j {
                self.index[hole] = s;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.index[hole] = 0;
    }

    /// The home slot of the key an index slot refers to.
    #[inline]
    fn home_of(&self, s: u64) -> usize {
        let r = (s as u32) - 1;
        let e = &self.entries[(r >> 1) as usize];
        e.hash[(r & 1) as usize] as usize & self.mask
    }

    /// Puts `e` in the table, indexed by both its tuples; `None` when full.
    pub fn insert(&mut self, mut e: Entry) -> Option<u32> {
        if self.len >= self.max {
            return None;
        }
        let h0 = self.hash(&e.tuple[0]);
        let h1 = self.hash(&e.tuple[1]);
        e.hash = [h0, h1];
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
        self.index_insert(h0, slot_ref(slot, Dir::Orig));
        self.index_insert(h1, slot_ref(slot, Dir::Reply));
        self.len += 1;
        Some(slot)
    }

    /// Changes the reply tuple of the entry in `slot` (NAT:
    /// `nf_conntrack_alter_reply`).
    pub fn set_reply(&mut self, slot: u32, reply: Tuple) {
        let indexed = self.used[slot as usize] == 1;
        let h_old = self.entries[slot as usize].hash[1];
        if indexed {
            self.index_remove(h_old, slot_ref(slot, Dir::Reply));
        }
        let h = self.hash(&reply);
        let e = &mut self.entries[slot as usize];
        e.tuple[1] = reply;
        e.hash[1] = h;
        if indexed {
            self.index_insert(h, slot_ref(slot, Dir::Reply));
        }
    }

    /// Takes the entry in `slot` out of the index (no lookup finds it
    /// again) but keeps it for whoever holds its slot; [`Table::remove`]
    /// frees it.
    pub fn unlink(&mut self, slot: u32) {
        let s = slot as usize;
        if self.used.get(s).copied().unwrap_or(0) != 1 {
            return;
        }
        let [h0, h1] = self.entries[s].hash;
        self.index_remove(h0, slot_ref(slot, Dir::Orig));
        self.index_remove(h1, slot_ref(slot, Dir::Reply));
        self.used[s] = 2;
        self.len -= 1;
    }

    /// Removes the entry in `slot`.
    pub fn remove(&mut self, slot: u32) {
        let s = slot as usize;
        match self.used.get(s).copied().unwrap_or(0) {
            0 => return,
            1 => {
                let [h0, h1] = self.entries[s].hash;
                self.index_remove(h0, slot_ref(slot, Dir::Orig));
                self.index_remove(h1, slot_ref(slot, Dir::Reply));
                self.len -= 1;
            }
            _ => {}
        }
        self.used[s] = 0;
        self.free.push(slot);
    }

    /// The entries whose keys sit in the first [`EVICTION_RANGE`] slots
    /// from `t`'s home slot (the neighbourhood early drop searches).
    pub fn neighbourhood(&self, t: &Tuple, out: &mut [u32; EVICTION_RANGE]) -> usize {
        let h = self.hash(t);
        let mut n = 0;
        for k in 0..EVICTION_RANGE * 2 {
            let s = self.index[(h as usize + k) & self.mask];
            if s == 0 {
                continue;
            }
            let e = ((s as u32) - 1) >> 1;
            if !out[..n].contains(&e) {
                out[n] = e;
                n += 1;
                if n == EVICTION_RANGE {
                    break;
                }
            }
        }
        n
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
