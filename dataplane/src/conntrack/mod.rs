//! Connection tracking (`nf_conntrack`): one flow table shard per worker,
//! run at the conntrack points of PREROUTING and OUTPUT (priority −200)
//! and confirmed at the end of INPUT and POSTROUTING
//! ([`crate::pipeline::hooks`]).
//!
//! A packet's entry is found by its tuple in either direction
//! ([`table::Table`]); the packet's conntrack slot
//! ([`crate::packet::CtState`]) then names the entry and how the packet
//! relates to it (`ctinfo`), which is what `--ctstate`, CONNMARK, the NAT
//! targets and confirm read.
//!
//! What `nf_conntrack_in` does, and where it is here:
//!
//! | kernel | here |
//! |---|---|
//! | untracked / already attached: skip | [`Shard::input`] skips `Untracked` and `Tracked` |
//! | `nf_ct_get_tuple` fails (truncated, non-first fragment) → no ct | INVALID (`conntrack.invalid`) |
//! | `nf_conntrack_checksum` at PREROUTING | [`Config::checksum`]: a bad TCP/UDP/ICMP checksum is INVALID |
//! | `icmp_error` / `icmpv6_error`: an error quoting a tracked flow | RELATED / RELATED_REPLY, the entry not refreshed |
//! | `resolve_normal_ct`: lookup, else `init_conntrack` (unconfirmed) | [`Shard::input`]; a full table evicts a non-assured entry near the new one's slot (`early_drop`) or drops the packet |
//! | `ctinfo`: reply → ESTABLISHED_REPLY; SEEN_REPLY → ESTABLISHED; else NEW | the same |
//! | the protocol's `packet`: state, timeout, ASSURED | TCP [`tcp`], UDP, ICMP/ICMPv6 echo, generic |
//! | `nf_confirm`: insert into the hash | [`Shard::confirm`] marks the entry CONFIRMED |
//!
//! **Batches and order.** The kernel runs one packet through every hook
//! before the next; sluice runs a batch through one point at a time. The
//! only place where that could show is a new flow with two packets in one
//! batch: the kernel's second packet finds the first one's entry
//! confirmed (or, if the first was dropped, none). Here a new entry is
//! findable at once but unconfirmed, and a later packet of the batch that
//! finds an unconfirmed entry is *deferred* ([`Shard::input`] returns it):
//! the pipeline runs it again from the conntrack point once the batch is
//! done, after [`Shard::end_batch`] has removed the entries of packets
//! that were dropped before confirm. So every packet sees exactly what it
//! would have seen in the kernel.
//!
//! Not here: connection tracking helpers (FTP, SIP, ...) and expectations;
//! SCTP, DCCP and GRE are tracked by the generic tracker. IPv6 fragments
//! are reassembled before conntrack sees them, as `nf_defrag_ipv6` does
//! ([`defrag6`], called at the pipeline's defrag point when IPv6 is
//! tracked: `crate::pipeline::defrag`). IPv4 fragments are not
//! (`nf_defrag_ipv4`): a first fragment is tracked by its own header; the
//! later fragments of an IPv4 datagram follow its entry (same state, NAT'd
//! addresses) when they come after it ([`track::FragMap`], keyed on IPv4
//! addresses only), and every other later IPv4 fragment is INVALID. The
//! kernel instead holds the fragments until the datagram is whole: it
//! forwards nothing of an incomplete datagram, and its rules count a
//! datagram once.

pub mod defrag6;
pub mod entry;
pub mod table;
pub mod tcp;
pub mod track;
pub mod tuple;
pub mod view;

#[cfg(test)]
mod tests;

use std::time::Instant;

use crate::packet::{Batch, Bits, Counter, CtInfo, CtState, BATCH};
pub use entry::{status, Acct, Entry, ProtoState};
pub use table::Table;
pub use tuple::{Dir, Tuple};

/// Which IP versions a ruleset tracks connections of: an iptables
/// ruleset IPv4, an ip6tables one IPv6 (each when a rule needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
}

impl Families {
    /// IPv4 only.
    pub const V4: Families = Families {
        v4: true,
        v6: false,
    };

    /// Whether packets of IP version `version` are tracked.
    #[inline]
    pub fn has(self, version: u8) -> bool {
        match version {
            4 => self.v4,
            6 => self.v6,
            _ => false,
        }
    }

    /// Whether any version is.
    #[inline]
    pub fn any(self) -> bool {
        self.v4 || self.v6
    }
}

/// Timeouts and knobs: the `nf_conntrack_*` sysctls (`[conntrack]` in the
/// appliance TOML), the kernel's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `udp_timeout`: an unreplied UDP flow (s).
    pub udp_timeout: u32,
    /// `udp_timeout_stream`: a replied flow seen for more than 2 s (s).
    pub udp_timeout_stream: u32,
    pub icmp_timeout: u32,
    pub icmpv6_timeout: u32,
    pub generic_timeout: u32,
    pub tcp: tcp::TcpConfig,
    /// `acct`: per-entry packet and byte counters.
    pub acct: bool,
    /// `checksum`: verify transport checksums at PREROUTING before
    /// tracking (a bad one is INVALID).
    pub checksum: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            udp_timeout: 30,
            udp_timeout_stream: 120,
            icmp_timeout: 30,
            icmpv6_timeout: 30,
            generic_timeout: 600,
            tcp: tcp::TcpConfig::default(),
            acct: false,
            checksum: true,
        }
    }
}

impl Config {
    /// From the appliance's `[conntrack]` table.
    pub fn from_conf(c: &sluice_config::appliance::ConntrackConf) -> Config {
        let mut timeouts = [0u32; 10];
        timeouts[1] = c.tcp_timeout_syn_sent;
        timeouts[2] = c.tcp_timeout_syn_recv;
        timeouts[3] = c.tcp_timeout_established;
        timeouts[4] = c.tcp_timeout_fin_wait;
        timeouts[5] = c.tcp_timeout_close_wait;
        timeouts[6] = c.tcp_timeout_last_ack;
        timeouts[7] = c.tcp_timeout_time_wait;
        timeouts[8] = c.tcp_timeout_close;
        // SYN_SENT2 shares SYN_SENT's timeout, as in the kernel.
        timeouts[9] = c.tcp_timeout_syn_sent;
        Config {
            udp_timeout: c.udp_timeout,
            udp_timeout_stream: c.udp_timeout_stream,
            icmp_timeout: c.icmp_timeout,
            icmpv6_timeout: c.icmpv6_timeout,
            generic_timeout: c.generic_timeout,
            tcp: tcp::TcpConfig {
                timeouts,
                retrans: c.tcp_timeout_max_retrans,
                unack: c.tcp_timeout_unacknowledged,
                loose: c.tcp_loose,
                be_liberal: c.tcp_be_liberal,
                max_retrans: c.tcp_max_retrans,
                ignore_invalid_rst: c.tcp_ignore_invalid_rst,
            },
            acct: c.acct,
            checksum: c.checksum,
        }
    }
}

const NS: u64 = 1_000_000_000;

/// The shard's clock (ns) in the ms entries keep, wrapping.
#[inline]
pub fn ms(ns: u64) -> u32 {
    (ns / 1_000_000) as u32
}

/// How many slab slots the sweep looks at per batch.
const SWEEP_PER_BATCH: usize = 32;
/// How many per idle poll turn ([`Shard::tick`]).
const SWEEP_PER_TICK: usize = 64;

/// One worker's flow table. See the module docs.
pub struct Shard {
    pub(crate) table: Table,
    pub(crate) cfg: Config,
    /// Per-entry counters when `acct` is on (one per slab slot).
    acct: Vec<Acct>,
    epoch: Instant,
    /// Entries created in this batch, not confirmed yet.
    pending: Vec<u32>,
    /// Unconfirmed entries out of the index that an answer the box made
    /// still holds ([`Shard::end_batch`]); freed by [`Shard::free_unlinked`].
    unlinked: Vec<u32>,
    /// Where the incremental sweep goes on.
    sweep_at: usize,
    /// This worker and how many there are (see [`Shard::owner_on_miss`]).
    worker: u32,
    workers: u32,
    /// Packets of the last [`Shard::input`] to hand to another worker:
    /// (index in the batch, worker, hop).
    handoffs: Vec<(u8, u32, u8)>,
    /// The warm-up pass's tuples and hashes, by index in the batch.
    warm: [u64; BATCH],
    warm_t: [Tuple; BATCH],
    /// The packet being tracked: its tuple and hash from the warm-up.
    pub(crate) prehashed: Option<(Tuple, u64)>,
    /// Fragmented datagrams whose first fragment was tracked: the rest
    /// follow its entry ([`track::FragMap`]).
    pub(crate) frags: track::FragMap,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard").field("table", &self.table).finish()
    }
}

impl Shard {
    /// A shard for at most `max` entries, allocated now.
    pub fn new(max: usize, cfg: Config) -> Shard {
        let table = Table::new(max);
        let acct = if cfg.acct {
            vec![Acct::default(); table.max()]
        } else {
            Vec::new()
        };
        Shard {
            table,
            cfg,
            acct,
            epoch: Instant::now(),
            pending: Vec::with_capacity(4 * BATCH),
            unlinked: Vec::with_capacity(4 * BATCH),
            sweep_at: 0,
            worker: 0,
            workers: 1,
            handoffs: Vec::with_capacity(BATCH),
            warm: [0; BATCH],
            warm_t: [Tuple::default(); BATCH],
            prehashed: None,
            frags: track::FragMap::new(),
        }
    }

    /// Makes this the shard of worker `worker` of `workers`: a flow whose
    /// packet misses here may belong to another one ([`Shard::owner_on_miss`]).
    pub fn set_workers(&mut self, worker: u32, workers: u32) {
        self.workers = workers.max(1);
        self.worker = worker % self.workers;
    }

    /// Where a packet whose lookup tuple `t` missed here goes next, with
    /// its new hop, or `None` to create the flow here. Both directions of
    /// a flow meet at its owner:
    ///
    /// * the *flow owner*, a symmetric hash of the tuple's two ends (the
    ///   same for both directions of a flow NAT did not change): flows
    ///   are created there;
    /// * the *port owner* of its destination port (or ICMP id,
    ///   [`crate::nat::PortSlice`]): NAT chooses a translated port among
    ///   its worker's own, so a reply to a translated flow names the
    ///   worker that created it.
    ///
    /// A fresh miss (hop 0) goes to the port owner first (hop 1), and a
    /// miss there to the flow owner (hop 2), which creates it. With
    /// symmetric RSS most packets never leave their worker.
    pub fn owner_on_miss(&self, t: &Tuple, hop: u8) -> Option<(u32, u8)> {
        if self.workers <= 1 || hop >= 2 {
            return None;
        }
        let me = self.worker;
        let flow = self.flow_owner(t);
        if hop == 0 {
            if let Some(p) = self.port_owner(t) {
                if p != me {
                    return Some((p, 1));
                }
            }
        }
        (flow != me).then_some((flow, 2))
    }

    /// The symmetric hash of the tuple's ends, modulo the workers.
    fn flow_owner(&self, t: &Tuple) -> u32 {
        let mut c = *t;
        if tuple::is_icmp(t.family, t.proto) {
            // The id at both ends (the type differs between directions).
            c.dport = c.sport;
        }
        let (a, b) = ((c.src, c.sport), (c.dst, c.dport));
        if a > b {
            (c.src, c.sport, c.dst, c.dport) = (b.0, b.1, a.0, a.1);
        }
        (self.table.hash(&c) % u64::from(self.workers)) as u32
    }

    fn port_owner(&self, t: &Tuple) -> Option<u32> {
        let port = if tuple::is_icmp(t.family, t.proto) {
            t.sport
        } else if tuple::has_ports(t.proto) {
            t.dport
        } else {
            return None;
        };
        Some(u32::from(port) % self.workers)
    }

    /// The packets the last [`Shard::input`] handed off: (index, worker,
    /// hop). The caller takes them out of the batch.
    pub fn handoffs(&mut self) -> &mut Vec<(u8, u32, u8)> {
        &mut self.handoffs
    }

    /// The most entries the shard holds.
    pub fn max(&self) -> usize {
        self.table.max()
    }

    /// Entries now (confirmed or not, expired ones not swept yet included).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Replaces the timeouts and knobs (a new configuration); entries keep
    /// their current expiry, as when a sysctl is written.
    pub fn set_config(&mut self, cfg: Config) {
        if cfg.acct && self.acct.is_empty() {
            self.acct = vec![Acct::default(); self.table.max()];
        }
        self.cfg = cfg;
    }

    /// The shard's clock (ns) at `now`.
    #[inline]
    pub fn clock(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The entry in `slot`.
    #[inline]
    pub fn entry(&self, slot: u32) -> Option<&Entry> {
        self.table.get(slot)
    }

    #[inline]
    pub fn entry_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        self.table.get_mut(slot)
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn table_mut(&mut self) -> &mut Table {
        &mut self.table
    }

    /// The counters of the entry in `slot` (zero without `acct`).
    pub fn acct(&self, slot: u32) -> Acct {
        self.acct.get(slot as usize).copied().unwrap_or_default()
    }

    /// Seconds left before the entry in `slot` expires at `now`.
    pub fn remaining(&self, slot: u32, now: Instant) -> Option<u64> {
        let e = self.table.get(slot)?;
        Some(u64::from(e.left_ms(ms(self.clock(now)))) / 1000)
    }

    /// `nf_conntrack_in` for the packets of `batch` (the conntrack point
    /// of PREROUTING, `pre` true, or OUTPUT) of the families `families`
    /// tracks ([`Families`]). Returns the packets to run again from this
    /// point after the batch (see the module docs).
    pub fn input(&mut self, batch: &mut Batch<'_>, pre: bool, families: Families) -> u64 {
        let now = self.clock(batch.now());
        self.sweep(now, SWEEP_PER_BATCH, batch);
        self.handoffs.clear();
        let warm = self.warm_up(batch, families);
        let mut deferred = 0u64;
        for i in batch.indices() {
            // An iptables ruleset turns on IPv4 tracking, an ip6tables
            // one IPv6 tracking (`nf_ct_netns_get(net, NFPROTO_IPV4)`,
            // `NFPROTO_IPV6`).
            if !families.has(batch.meta(i).ip_version) {
                continue;
            }
            let zone = match batch.ct(i) {
                CtState::None => 0,
                CtState::Template { zone } => zone,
                CtState::Untracked | CtState::Tracked { .. } => continue,
            };
            self.prehashed = (warm & (1u64 << i) != 0).then(|| (self.warm_t[i], self.warm[i]));
            let outcome = track::packet(self, batch, i, zone, now, pre);
            self.prehashed = None;
            if let track::Outcome::Tracked(slot, info) = outcome {
                let m = batch.meta(i);
                if m.more_frags && m.frag_offset == 0 && !info.is_related() {
                    let dir = if info.is_reply() {
                        Dir::Reply
                    } else {
                        Dir::Orig
                    };
                    self.frags.remember(m, zone, slot, dir, now);
                }
            }
            match outcome {
                track::Outcome::Tracked(slot, info) => {
                    batch.set_ct(i, CtState::Tracked { slot, info });
                    if self.cfg.acct {
                        let len = u64::from(batch.meta(i).ip_len);
                        let a = &mut self.acct[slot as usize];
                        let d = usize::from(info.is_reply());
                        a.packets[d] += 1;
                        a.bytes[d] += len;
                    }
                }
                track::Outcome::Invalid => {
                    batch.set_ct(i, CtState::None);
                    batch.count(Counter::CtInvalid);
                }
                track::Outcome::Untracked => batch.set_ct(i, CtState::Untracked),
                track::Outcome::Defer => {
                    deferred |= 1u64 << i;
                    batch.count(Counter::CtDeferred);
                }
                track::Outcome::Handoff(w, hop) => {
                    self.handoffs.push((i as u8, w, hop));
                    batch.count(Counter::CtHandoff);
                }
                track::Outcome::Drop(c) => batch.drop(i, c),
            }
        }
        deferred
    }

    /// Hashes the tuples of the batch's packets and touches their index
    /// slots, then the entries those name, in two tight passes: the loads
    /// of all packets overlap instead of each packet waiting for its own
    /// two cache misses in turn. Returns the packets it hashed.
    fn warm_up(&mut self, batch: &Batch<'_>, families: Families) -> u64 {
        let mut warm = 0u64;
        let mut slots = [0u64; BATCH];
        for i in batch.indices() {
            let m = batch.meta(i);
            let zone = match batch.ct(i) {
                CtState::None => 0,
                CtState::Template { zone } => zone,
                _ => continue,
            };
            if !families.has(m.ip_version) {
                continue;
            }
            if let Some(t) = track::packet_tuple(m, zone) {
                let h = self.table.hash(&t);
                self.warm[i] = h;
                self.warm_t[i] = t;
                slots[i] = self.table.home_slot(h);
                warm |= 1u64 << i;
            }
        }
        let mut acc = 0u64;
        for i in Bits(warm) {
            acc = acc.wrapping_add(self.table.index_at(slots[i] as usize));
        }
        for i in Bits(warm) {
            slots[i] = self.table.tagged_slot(self.warm[i]);
        }
        for i in Bits(warm) {
            acc = acc.wrapping_add(self.table.touch_entry(slots[i]));
        }
        std::hint::black_box(acc);
        warm
    }

    /// `nf_confirm` for the packets of `batch` that made it through: their
    /// new entries become CONFIRMED (findable by the next batch).
    pub fn confirm(&mut self, batch: &mut Batch<'_>) {
        for i in batch.indices() {
            if let CtState::Tracked { slot, info } = batch.ct(i) {
                if info.is_related() {
                    continue;
                }
                let Some(e) = self.table.get(slot) else {
                    continue;
                };
                if e.status & status::CONFIRMED != 0 {
                    continue;
                }
                // `__nf_conntrack_confirm`: a tuple another entry has
                // (NAT could only find a taken one) fails the insert and
                // the packet is dropped.
                let [o, r] = e.tuple;
                if self.table.taken_by_other(&o, slot) || self.table.taken_by_other(&r, slot) {
                    batch.drop(i, Counter::CtInsertFailed);
                    continue;
                }
                if let Some(e) = self.table.get_mut(slot) {
                    e.status |= status::CONFIRMED;
                    batch.count(Counter::CtNew);
                }
            }
        }
    }

    /// After a batch: the entries its packets created but never confirmed
    /// (dropped on the way) go, as the kernel frees an unconfirmed entry
    /// with its packet. One an answer the box made is attached to
    /// (`held(slot)`: a REJECT reset, an ICMP error, waiting for the
    /// output pass) leaves the index but lives until
    /// [`Shard::free_unlinked`], as the kernel's lives with the answer's
    /// reference. Returns how many went.
    pub fn end_batch(&mut self, held: &dyn Fn(u32) -> bool) -> usize {
        let mut n = 0;
        for k in 0..self.pending.len() {
            let slot = self.pending[k];
            if let Some(e) = self.table.get(slot) {
                if e.status & status::CONFIRMED == 0 {
                    if held(slot) {
                        self.table.unlink(slot);
                        self.unlinked.push(slot);
                    } else {
                        self.table.remove(slot);
                    }
                    n += 1;
                }
            }
        }
        self.pending.clear();
        n
    }

    /// Frees the entries [`Shard::end_batch`] kept for the answers (once
    /// they went through the output path).
    pub fn free_unlinked(&mut self) {
        for k in 0..self.unlinked.len() {
            self.table.remove(self.unlinked[k]);
        }
        self.unlinked.clear();
    }

    /// Removes the entry in `slot` now (`nf_ct_kill`).
    pub fn kill(&mut self, slot: u32) {
        self.table.remove(slot);
        if let Some(a) = self.acct.get_mut(slot as usize) {
            *a = Acct::default();
        }
    }

    /// The sweep between batches (once per poll turn): entries expire
    /// even when no traffic comes. Returns how many went.
    pub fn tick(&mut self, now: Instant) -> u64 {
        let now = self.clock(now);
        self.sweep_slots(now, SWEEP_PER_TICK)
    }

    /// Looks at up to `budget` slab slots from where the last sweep
    /// stopped and removes the confirmed entries that expired.
    fn sweep(&mut self, now: u64, budget: usize, batch: &mut Batch<'_>) {
        let n = self.sweep_slots(now, budget);
        if n != 0 {
            batch.count_n(Counter::CtExpired, n);
        }
    }

    fn sweep_slots(&mut self, now: u64, budget: usize) -> u64 {
        let n = self.table.slots();
        let mut expired = 0;
        if n == 0 {
            return 0;
        }
        for _ in 0..budget.min(n) {
            if self.sweep_at >= n {
                self.sweep_at = 0;
            }
            let slot = self.sweep_at as u32;
            self.sweep_at += 1;
            if let Some(e) = self.table.get(slot) {
                if e.status & status::CONFIRMED != 0 && e.expired(ms(now)) {
                    self.kill(slot);
                    expired += 1;
                }
            }
        }
        expired
    }

    /// Removes every entry (`conntrack -F`).
    pub fn flush(&mut self) {
        for slot in 0..self.table.slots() as u32 {
            self.kill(slot);
        }
        self.pending.clear();
    }

    /// Removes the entries `pred` selects; returns how many.
    pub fn delete_where(&mut self, mut pred: impl FnMut(&Entry) -> bool) -> usize {
        let mut n = 0;
        for slot in 0..self.table.slots() as u32 {
            if self.table.get(slot).is_some_and(&mut pred) {
                self.kill(slot);
                n += 1;
            }
        }
        n
    }

    /// Every live entry with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> {
        (0..self.table.slots() as u32).filter_map(|s| self.table.get(s).map(|e| (s, e)))
    }
}

/// The `ctinfo` of a packet of direction `dir` on an entry with `status`
/// (`resolve_normal_ct`).
#[inline]
pub fn ctinfo(dir: Dir, status: u32) -> CtInfo {
    match dir {
        Dir::Reply => CtInfo::EstablishedReply,
        Dir::Orig if status & status::SEEN_REPLY != 0 => CtInfo::Established,
        Dir::Orig => CtInfo::New,
    }
}
