//! `-m recent`: named lists of recently seen addresses
//! (`net/netfilter/xt_recent.c` of Linux 6.x, revision 1 of the match).
//!
//! Contract:
//!
//! * The control side registers every `-m recent` rule of a ruleset with a
//!   [`RecentBuilder`] (in the order the kernel would check them: table by
//!   table, chain by chain, rule by rule), which gives each rule a compiled
//!   [`RecentRule`] naming its list by [`RecentTableId`], then builds the
//!   immutable [`RecentConfig`] that goes into the snapshot.
//! * Each worker owns one [`RecentState`] (all lists, preallocated to their
//!   fixed capacity) made from the config; [`RecentRule::matches`] is the
//!   per-packet call. It takes the packet's addresses and TTL and the batch
//!   time in nanoseconds, reads no clock and allocates nothing.
//!
//! # Kernel behaviour reproduced
//!
//! * Lists are shared by name between rules. The list's address mask is the
//!   `--mask` of the rule that created it (the first one checked); later
//!   rules naming the same list use that mask, whatever their own says.
//! * A list holds at most `ip_list_tot` addresses (module parameter, 100 by
//!   default). Adding to a full list first evicts the least recently
//!   *updated* entry (`--set` and a matching `--update` refresh it; a plain
//!   `--rcheck` does not).
//! * Each entry keeps a ring of arrival times whose size is a power of two:
//!   `roundup_pow_of_two(ip_pkt_list_tot)` when that module parameter is set
//!   and above the rule's `--hitcount`, else `roundup_pow_of_two(hitcount)`,
//!   else 32 — the largest over the rules of the list (the kernel flushes a
//!   list whose ring grows; a list built here starts empty anyway).
//! * `--set`: adds the address (one time stamp, TTL remembered) or adds a
//!   time stamp to it; always matches. `--remove`: matches when the address
//!   is listed and removes it. `--rcheck` / `--update`: match when the
//!   address is listed and, with `--seconds S`, has a stamp no older than S
//!   seconds (`stamp >= jiffies - S*HZ`), and with `--hitcount N`, at least
//!   N such stamps. `--update` then adds a stamp — when the *result* is
//!   true, so `! --update` stamps the addresses that did not match, as in
//!   the kernel. `--rttl`: the entry is found only when the packet's TTL
//!   equals the one remembered (or either is 0). `--reap`: after the check,
//!   the least recently updated entry of the list is removed when its last
//!   stamp is older than S seconds — unless it is the entry about to be
//!   updated.
//! * The TTL used is the packet's, plus one when the packet is on its way
//!   out of a forwarding path (the kernel's "TTL as seen before
//!   forwarding": an output device and no local socket), see
//!   [`RecentPacket::before_forward`].
//! * Time is in jiffies (`HZ`, [`super::limit::DEFAULT_HZ`] by default); the
//!   `--seconds * HZ` product is taken in 32 bits as the kernel does.
//!
//! Checked against Linux 6.18 (`/proc/net/xt_recent`): six packets through
//! `--set` + `--update --seconds 60 --hitcount 4` give three matching
//! updates and nine stamps; `! --update` stamps a stale address and not a
//! fresh one.
//!
//! Both families, as `xt_recent` keeps them: a list is one per name for
//! iptables and ip6tables rules alike, its entries carry (address, family),
//! so an IPv4 source and an IPv6 source never collide, and `ip_list_tot`
//! and the LRU order count the entries of both families together. The
//! list's mask is 128 bits (the kernel's `union nf_inet_addr`,
//! [`Recent::table_mask`]) applied to every address, IPv4 ones in its
//! first word: a list created by an iptables rule with `--mask` masks the
//! IPv6 addresses to their first 32 bits, one created by an ip6tables rule
//! masks IPv4 addresses with the first 32 bits of its mask. The TTL of an
//! IPv6 packet is its hop limit. The iptables ruleset is registered before
//! the ip6tables one (as `iptables-restore` then `ip6tables-restore`), so
//! a list named by both takes the iptables rule's mask.
//!
//! Differences from the kernel:
//! sluice's lists are per worker (the kernel's are global): an address seen
//! by two workers is counted in two lists, so hit counts are per worker.
//! With `--hitcount` above 32768 (a 65536-stamp ring) the kernel's 16-bit
//! index wraps and stops counting one stamp; here all 65536 count.
//! Memory: every entry preallocates its ring, `8 * ring` bytes, so a list
//! used with `--hitcount 65535` takes `ip_list_tot * 512 KiB` per worker.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sluice_config::iptables::ext::recent::{Recent, RecentCommand, RecentSide};

use super::limit::{JiffyClock, LimitError, DEFAULT_HZ};

/// The kernel's `ip_list_tot` default.
pub const DEFAULT_IP_LIST_TOT: u32 = 100;
/// `XT_RECENT_MAX_NSTAMPS`: rings hold at most this many stamps.
pub const MAX_NSTAMPS: u32 = 65_536;

const NIL: u32 = u32::MAX;

/// The module parameters of `xt_recent` that change behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentParams {
    /// `ip_list_tot`: addresses per list (default 100).
    pub ip_list_tot: u32,
    /// `ip_pkt_list_tot`: 0 (the default) lets the rules size the rings.
    pub ip_pkt_list_tot: u32,
    /// The kernel's tick rate.
    pub hz: u32,
}

impl Default for RecentParams {
    fn default() -> RecentParams {
        RecentParams {
            ip_list_tot: DEFAULT_IP_LIST_TOT,
            ip_pkt_list_tot: 0,
            hz: DEFAULT_HZ,
        }
    }
}

/// Why a `-m recent` setup is refused (control side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecentError {
    /// `ip_list_tot` must be at least 1 (`recent_mt_init`).
    #[error("ip_list_tot must be at least 1")]
    ZeroListSize,
    /// `ip_pkt_list_tot` must be below 65536 (`recent_mt_init`).
    #[error("ip_pkt_list_tot {0} is not below {MAX_NSTAMPS}")]
    PktListTooLarge(u32),
    #[error(transparent)]
    Hz(#[from] LimitError),
    /// The rule has no command (the config parser never produces this).
    #[error("-m recent without --set, --rcheck, --update or --remove")]
    NoCommand,
    /// `--hitcount` of 65536 or more (`recent_mt_check`).
    #[error("hitcount ({0}) is larger than allowed maximum ({max})", max = MAX_NSTAMPS - 1)]
    HitCount(u32),
}

/// Which list a rule uses: an index into [`RecentConfig`] / [`RecentState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecentTableId(pub u32);

/// One list as the control side sizes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentTableSpec {
    pub name: String,
    /// The address mask (of the rule that created the list,
    /// [`Recent::table_mask`]: 128 bits, an IPv4 address in the top 32).
    pub mask: u128,
    /// Time stamps per entry, minus one (a power of two minus one).
    pub nstamps_mask: u32,
}

/// Collects the rules of a ruleset and sizes their lists.
#[derive(Debug, Clone)]
pub struct RecentBuilder {
    params: RecentParams,
    tables: Vec<RecentTableSpec>,
    by_name: HashMap<String, RecentTableId>,
    previous: Vec<RecentTableSpec>,
}

/// The lists of a snapshot: immutable, shared by the workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentConfig {
    params: RecentParams,
    clock: JiffyClock,
    tables: Vec<RecentTableSpec>,
}

/// A compiled `-m recent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentRule {
    pub table: RecentTableId,
    pub command: RecentCommand,
    pub invert: bool,
    /// `--seconds` (0: any age).
    pub seconds: u32,
    pub reap: bool,
    /// `--hitcount` (0: no condition).
    pub hit_count: u32,
    pub rttl: bool,
    pub side: RecentSide,
}

/// What `-m recent` reads from a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentPacket {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// True when the hook has an output interface and the packet has no
    /// local socket (FORWARD and POSTROUTING of forwarded packets): the
    /// kernel then adds one to the TTL (wrapping) to get the TTL "as seen
    /// before forwarding".
    pub before_forward: bool,
}

/// Every list of one worker.
#[derive(Debug, Clone)]
pub struct RecentState {
    clock: JiffyClock,
    tables: Vec<RecentTable>,
}

/// An entry as the control side lists it (as `/proc/net/xt_recent/NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEntry {
    pub addr: IpAddr,
    pub ttl: u8,
    /// Jiffies of the last stamp.
    pub last_seen: u64,
    /// The stamps kept, in ring order.
    pub stamps: Vec<u64>,
}

/// `roundup_pow_of_two(n) - 1` for `n >= 1`.
fn pow2_mask(n: u32) -> u32 {
    n.next_power_of_two() - 1
}

impl RecentBuilder {
    pub fn new(params: RecentParams) -> Result<RecentBuilder, RecentError> {
        if params.ip_list_tot == 0 {
            return Err(RecentError::ZeroListSize);
        }
        if params.ip_pkt_list_tot >= MAX_NSTAMPS {
            return Err(RecentError::PktListTooLarge(params.ip_pkt_list_tot));
        }
        JiffyClock::new(params.hz)?;
        Ok(RecentBuilder {
            params,
            tables: Vec::new(),
            by_name: HashMap::new(),
            previous: Vec::new(),
        })
    }

    /// For a ruleset that replaces `previous` (an `iptables-restore`): a
    /// list that exists in both keeps the old list's mask and ring size (it
    /// only grows), as the kernel's table outlives the swap;
    /// [`RecentState::carry_over`] then keeps its entries.
    pub fn replacing(
        params: RecentParams,
        previous: &RecentConfig,
    ) -> Result<RecentBuilder, RecentError> {
        let mut b = RecentBuilder::new(params)?;
        b.previous = previous.tables.clone();
        Ok(b)
    }

    /// `recent_mt_check` for one rule: finds or creates its list and grows
    /// the list's ring for the rule's `--hitcount`.
    pub fn add_rule(&mut self, cfg: &Recent) -> Result<RecentRule, RecentError> {
        let command = cfg.command.ok_or(RecentError::NoCommand)?;
        if cfg.hit_count >= MAX_NSTAMPS {
            return Err(RecentError::HitCount(cfg.hit_count));
        }
        let p = self.params.ip_pkt_list_tot;
        let nstamps_mask = if p != 0 && cfg.hit_count < p {
            pow2_mask(p)
        } else if cfg.hit_count != 0 {
            pow2_mask(cfg.hit_count)
        } else {
            31
        };
        let id = match self.by_name.get(&cfg.name) {
            Some(&id) => id,
            None => {
                let spec = self
                    .previous
                    .iter()
                    .find(|t| t.name == cfg.name)
                    .cloned()
                    .unwrap_or(RecentTableSpec {
                        name: cfg.name.clone(),
                        mask: cfg.table_mask(),
                        nstamps_mask,
                    });
                let id = RecentTableId(self.tables.len() as u32);
                self.tables.push(spec);
                self.by_name.insert(cfg.name.clone(), id);
                id
            }
        };
        let t = &mut self.tables[id.0 as usize];
        t.nstamps_mask = t.nstamps_mask.max(nstamps_mask);
        Ok(RecentRule {
            table: id,
            command,
            invert: cfg.invert,
            seconds: cfg.seconds,
            reap: cfg.reap,
            hit_count: cfg.hit_count,
            rttl: cfg.rttl,
            side: cfg.side,
        })
    }

    pub fn build(self) -> RecentConfig {
        RecentConfig {
            params: self.params,
            // Checked in `new`.
            clock: JiffyClock::new(self.params.hz).unwrap_or_default(),
            tables: self.tables,
        }
    }
}

impl RecentConfig {
    pub fn params(&self) -> RecentParams {
        self.params
    }

    pub fn tables(&self) -> &[RecentTableSpec] {
        &self.tables
    }

    pub fn table(&self, name: &str) -> Option<RecentTableId> {
        self.tables
            .iter()
            .position(|t| t.name == name)
            .map(|i| RecentTableId(i as u32))
    }

    /// Empty lists for one worker, every entry preallocated.
    pub fn new_state(&self) -> RecentState {
        RecentState {
            clock: self.clock,
            tables: self
                .tables
                .iter()
                .map(|t| RecentTable::new(t, self.params.ip_list_tot))
                .collect(),
        }
    }
}

impl RecentState {
    /// The lists of `config` for a worker that had `old` under the
    /// previous snapshot: a list of the same name keeps its entries (in LRU
    /// order) when its ring did not grow; a grown ring starts empty, as the
    /// kernel flushes it.
    pub fn carry_over(config: &RecentConfig, old: &RecentState) -> RecentState {
        let mut st = config.new_state();
        for t in &mut st.tables {
            let Some(o) = old.tables.iter().find(|o| o.name == t.name) else {
                continue;
            };
            if o.nstamps_mask != t.nstamps_mask {
                continue;
            }
            let mut e = o.lru_head;
            while e != NIL {
                let src = &o.entries[e as usize];
                if let Some(slot) = t.insert(src.addr, src.v6, src.ttl) {
                    let n = (t.nstamps_mask + 1) as usize;
                    let (from, to) = (e as usize * n, slot as usize * n);
                    t.stamps[to..to + n].copy_from_slice(&o.stamps[from..from + n]);
                    let dst = &mut t.entries[slot as usize];
                    dst.index = src.index;
                    dst.nstamps = src.nstamps;
                }
                e = src.lru_next;
            }
        }
        st
    }

    /// How many addresses a list holds.
    pub fn len(&self, table: RecentTableId) -> usize {
        self.tables
            .get(table.0 as usize)
            .map_or(0, |t| t.len as usize)
    }

    /// True when every list is empty.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.len == 0)
    }

    /// A list's entries, least recently updated first (control side).
    pub fn entries(&self, table: RecentTableId) -> Vec<RecentEntry> {
        let Some(t) = self.tables.get(table.0 as usize) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(t.len as usize);
        let mut e = t.lru_head;
        while e != NIL {
            let en = &t.entries[e as usize];
            let n = (t.nstamps_mask + 1) as usize;
            let ring = &t.stamps[e as usize * n..e as usize * n + n];
            out.push(RecentEntry {
                addr: if en.v6 {
                    IpAddr::V6(Ipv6Addr::from(en.addr))
                } else {
                    IpAddr::V4(Ipv4Addr::from((en.addr >> 96) as u32))
                },
                ttl: en.ttl,
                last_seen: ring[(en.index.wrapping_sub(1) & t.nstamps_mask) as usize],
                stamps: ring[..en.nstamps as usize].to_vec(),
            });
            e = en.lru_next;
        }
        out
    }

    /// Empties one list (`echo / > /proc/net/xt_recent/NAME`).
    pub fn flush(&mut self, table: RecentTableId) {
        if let Some(t) = self.tables.get_mut(table.0 as usize) {
            while t.lru_head != NIL {
                t.remove(t.lru_head);
            }
        }
    }
}

/// An address as the kernel's `union nf_inet_addr` (an IPv4 address in the
/// first word), and whether it is IPv6.
#[inline]
fn inet_addr(a: IpAddr) -> (u128, bool) {
    match a {
        IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, false),
        IpAddr::V6(a) => (u128::from(a), true),
    }
}

/// `time_after(a, b)`: `a` is later than `b` (wrapping jiffies).
#[inline]
fn time_after(a: u64, b: u64) -> bool {
    (b.wrapping_sub(a) as i64) < 0
}

impl RecentRule {
    /// `recent_mt`: the match result for one packet at `now_ns`, with the
    /// list updated as the kernel updates it. Never drops (the kernel's
    /// `hotdrop` happens only when it cannot allocate an entry; here they
    /// are preallocated).
    pub fn matches(&self, state: &mut RecentState, pkt: &RecentPacket, now_ns: u64) -> bool {
        let jiffies = state.clock.jiffies(now_ns);
        let hz = state.clock.hz();
        let Some(t) = state.tables.get_mut(self.table.0 as usize) else {
            return self.invert;
        };
        let mut ret = self.invert;
        let ttl = if pkt.before_forward {
            pkt.ttl.wrapping_add(1)
        } else {
            pkt.ttl
        };
        let addr = match self.side {
            RecentSide::Source => pkt.src,
            RecentSide::Dest => pkt.dst,
        };
        let (addr, v6) = inet_addr(addr);
        let addr = addr & t.mask;
        let Some(e) = t.lookup(addr, v6, if self.rttl { ttl } else { 0 }) else {
            if self.command != RecentCommand::Set {
                return ret;
            }
            if let Some(slot) = t.insert(addr, v6, ttl) {
                t.stamps[(slot * (t.nstamps_mask + 1)) as usize] = jiffies;
            }
            return !ret;
        };
        match self.command {
            RecentCommand::Set => ret = !ret,
            RecentCommand::Remove => {
                t.remove(e);
                return !ret;
            }
            RecentCommand::Check | RecentCommand::Update => {
                let time = jiffies.wrapping_sub(u64::from(self.seconds.wrapping_mul(hz)));
                let n = t.nstamps_mask + 1;
                let en = t.entries[e as usize];
                let ring = &t.stamps[(e * n) as usize..(e * n + en.nstamps) as usize];
                let mut hits = 0u32;
                for &stamp in ring {
                    if self.seconds != 0 && time_after(time, stamp) {
                        continue;
                    }
                    hits += 1;
                    if self.hit_count == 0 || hits >= self.hit_count {
                        ret = !ret;
                        break;
                    }
                }
                if self.reap {
                    let update = self.command == RecentCommand::Update && ret;
                    t.reap(time, e, update);
                }
            }
        }
        if self.command == RecentCommand::Set || (self.command == RecentCommand::Update && ret) {
            t.update(e, jiffies);
            t.entries[e as usize].ttl = ttl;
        }
        ret
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// The masked address, an IPv4 one in the top 32 bits.
    addr: u128,
    /// The family (`e->family`): entries of the two never match.
    v6: bool,
    ttl: u8,
    /// Next ring slot to write, 1-based as the kernel's (`stamps[index-1]`
    /// is the latest).
    index: u32,
    /// Stamps written so far (up to the ring size).
    nstamps: u32,
    lru_prev: u32,
    lru_next: u32,
}

/// One list: `cap` preallocated entries, an open-addressing index over
/// their addresses (linear probing, deletion by backward shift), an LRU
/// list through the entries, and each entry's ring of stamps.
#[derive(Debug, Clone)]
struct RecentTable {
    name: String,
    mask: u128,
    nstamps_mask: u32,
    cap: u32,
    len: u32,
    entries: Vec<Entry>,
    stamps: Vec<u64>,
    free: Vec<u32>,
    lru_head: u32,
    lru_tail: u32,
    /// Entry index + 1; 0 is an empty slot. Length a power of two, at
    /// least twice `cap`.
    index: Vec<u32>,
    index_bits: u32,
}

impl RecentTable {
    fn new(spec: &RecentTableSpec, cap: u32) -> RecentTable {
        let slots = (cap as usize * 2).next_power_of_two().max(2);
        RecentTable {
            name: spec.name.clone(),
            mask: spec.mask,
            nstamps_mask: spec.nstamps_mask,
            cap,
            len: 0,
            entries: vec![Entry::default(); cap as usize],
            stamps: vec![0; cap as usize * (spec.nstamps_mask as usize + 1)],
            free: (0..cap).rev().collect(),
            lru_head: NIL,
            lru_tail: NIL,
            index: vec![0; slots],
            index_bits: slots.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, addr: u128, v6: bool) -> usize {
        // Fibonacci hashing of the folded address on the top bits.
        let folded = (addr >> 64) as u64 ^ addr as u64 ^ u64::from(v6);
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.index_bits.min(63))) as usize
            & (self.index.len() - 1)
    }

    /// `recent_entry_lookup`: the entry of `addr`, if its TTL agrees (`ttl`
    /// 0 or the entry's 0 agree with anything).
    fn lookup(&self, addr: u128, v6: bool, ttl: u8) -> Option<u32> {
        let m = self.index.len() - 1;
        let mut i = self.home(addr, v6);
        loop {
            let v = self.index[i];
            if v == 0 {
                return None;
            }
            let e = &self.entries[(v - 1) as usize];
            if e.addr == addr && e.v6 == v6 {
                // (address, family) is unique in a list.
                return (ttl == e.ttl || ttl == 0 || e.ttl == 0).then_some(v - 1);
            }
            i = (i + 1) & m;
        }
    }

    /// `recent_entry_init` without the stamp: evicts the LRU entry when
    /// full, takes a slot, links it at the LRU tail. `addr` is not listed.
    fn insert(&mut self, addr: u128, v6: bool, ttl: u8) -> Option<u32> {
        if self.len >= self.cap && self.lru_head != NIL {
            self.remove(self.lru_head);
        }
        let slot = self.free.pop()?;
        self.entries[slot as usize] = Entry {
            addr,
            v6,
            ttl,
            index: 1,
            nstamps: 1,
            lru_prev: self.lru_tail,
            lru_next: NIL,
        };
        if self.lru_tail != NIL {
            self.entries[self.lru_tail as usize].lru_next = slot;
        } else {
            self.lru_head = slot;
        }
        self.lru_tail = slot;
        let m = self.index.len() - 1;
        let mut i = self.home(addr, v6);
        while self.index[i] != 0 {
            i = (i + 1) & m;
        }
        self.index[i] = slot + 1;
        self.len += 1;
        Some(slot)
    }

    fn unlink(&mut self, e: u32) {
        let Entry {
            lru_prev, lru_next, ..
        } = self.entries[e as usize];
        if lru_prev != NIL {
            self.entries[lru_prev as usize].lru_next = lru_next;
        } else {
            self.lru_head = lru_next;
        }
        if lru_next != NIL {
            self.entries[lru_next as usize].lru_prev = lru_prev;
        } else {
            self.lru_tail = lru_prev;
        }
    }

    /// `recent_entry_remove`.
    fn remove(&mut self, e: u32) {
        self.unlink(e);
        let m = self.index.len() - 1;
        let en = &self.entries[e as usize];
        let mut i = self.home(en.addr, en.v6);
        while self.index[i] != e + 1 {
            i = (i + 1) & m;
        }
        // Backward-shift deletion keeps every probe chain unbroken.
        let mut j = i;
        loop {
            j = (j + 1) & m;
            let v = self.index[j];
            if v == 0 {
                break;
            }
            let o = &self.entries[(v - 1) as usize];
            let h = self.home(o.addr, o.v6);
            // Move v back to i unless its home lies cyclically in (i, j].
            let in_range = if i <= j {
                i < h && h <= j
            } else {
                i < h || h <= j
            };
            if !in_range {
                self.index[i] = v;
                i = j;
            }
        }
        self.index[i] = 0;
        self.free.push(e);
        self.len -= 1;
    }

    /// `recent_entry_update`: a new stamp, and the entry becomes the most
    /// recently used.
    fn update(&mut self, e: u32, jiffies: u64) {
        let n = self.nstamps_mask + 1;
        let en = &mut self.entries[e as usize];
        en.index &= self.nstamps_mask;
        self.stamps[(e * n + en.index) as usize] = jiffies;
        en.index += 1;
        en.nstamps = en.nstamps.max(en.index);
        if self.lru_tail != e {
            self.unlink(e);
            let en = &mut self.entries[e as usize];
            en.lru_prev = self.lru_tail;
            en.lru_next = NIL;
            self.entries[self.lru_tail as usize].lru_next = e;
            self.lru_tail = e;
        }
    }

    /// `recent_entry_reap`: removes the least recently used entry when its
    /// latest stamp is older than `time`, unless it is `working` and about
    /// to be updated.
    fn reap(&mut self, time: u64, working: u32, update: bool) {
        let head = self.lru_head;
        if head == NIL || (head == working && update) {
            return;
        }
        let en = self.entries[head as usize];
        let n = self.nstamps_mask + 1;
        let last =
            self.stamps[(head * n + (en.index.wrapping_sub(1) & self.nstamps_mask)) as usize];
        if time_after(time, last) {
            self.remove(head);
        }
    }
}

#[cfg(test)]
mod tests;
