//! The neighbour table (ARP for IPv4, NDP for IPv6): which link-layer
//! address a next hop has, per worker.
//!
//! The state machine is the kernel's (`net/core/neighbour.c`:
//! `__neigh_event_send()`, `neigh_timer_handler()`, `__neigh_update()`,
//! `neigh_periodic_work()`), which implements RFC 4861 §7.3 for both
//! families, with the kernel's defaults ([`NeighParams::default`]):
//!
//! ```text
//!  (none/FAILED) --packet--> INCOMPLETE: queue it, broadcast a solicitation
//!  INCOMPLETE --reply--> REACHABLE: send the queue
//!  INCOMPLETE --3 solicitations, 1 s apart, unanswered--> FAILED: drop the queue
//!  REACHABLE --reachable_time since confirmation--> STALE (or DELAY if used
//!              within the last delay_first_probe_time)
//!  STALE --packet--> DELAY (the packet goes out with the cached address)
//!  DELAY --confirmation within 5 s--> REACHABLE, else PROBE
//!  PROBE --3 unicast solicitations unanswered--> FAILED
//!  STALE/FAILED unused for gc_stale_time --periodic gc--> removed
//! ```
//!
//! Packets waiting for resolution are held per entry in a bounded FIFO of
//! `Q` (default 3) frame handles; when it is full the oldest is dropped, as
//! the kernel does when `unres_qlen_bytes` overflows (it counts
//! `unresolved_discards`). The kernel's bound is in bytes (≈100 packets);
//! sluice holds UMEM frames, which are scarce, so the bound is small.
//!
//! The table owns no buffers and reads no clock: frames are handles of the
//! caller's type `F`, time is passed to every call, and everything to do is
//! reported as [`NeighAction`]s to a callback. Building solicitations
//! (ARP request, NS to the solicited-node address) and sending ICMP for
//! frames dropped after a failed resolution (`arp_error_report()`: host
//! unreachable) is the caller's job. The map is allocated for
//! [`NeighParams::max_entries`] up front (the kernel's `gc_thresh3`); when
//! it is full a forced gc evicts FAILED and long-STALE entries, else the
//! packet is dropped ("neighbour table overflow").

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ahash::RandomState;

use super::fib::PortId;

/// An Ethernet address.
pub type Mac = [u8; 6];

/// Neighbour states (`NUD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighState {
    /// Just created, nothing known (transient).
    None,
    /// Resolution in progress; packets queue.
    Incomplete,
    /// Address confirmed within `reachable_time`.
    Reachable,
    /// Address known but not recently confirmed; used as is.
    Stale,
    /// Used while stale: waiting `delay_first_probe_time` for a
    /// confirmation before probing.
    Delay,
    /// Unicast probes in flight; the address is still used.
    Probe,
    /// Resolution failed; the next packet starts over.
    Failed,
    /// Configured (`ip neigh add ... nud permanent`); never expires.
    Permanent,
}

impl NeighState {
    /// `NUD_VALID`: the cached address may be used.
    pub fn is_valid(self) -> bool {
        matches!(
            self,
            NeighState::Reachable
                | NeighState::Stale
                | NeighState::Delay
                | NeighState::Probe
                | NeighState::Permanent
        )
    }

    /// `NUD_CONNECTED`.
    fn is_connected(self) -> bool {
        matches!(self, NeighState::Reachable | NeighState::Permanent)
    }

    /// `NUD_IN_TIMER`.
    fn in_timer(self) -> bool {
        matches!(
            self,
            NeighState::Incomplete | NeighState::Reachable | NeighState::Delay | NeighState::Probe
        )
    }
}

/// Timers and limits (`/proc/sys/net/ipv{4,6}/neigh/*`); the defaults are
/// the kernel's, identical for ARP and NDP except `locktime`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighParams {
    /// `base_reachable_time`: 30 s.
    pub base_reachable_time: Duration,
    /// The randomised `reachable_time` in use, between 0.5 and 1.5 ×
    /// `base_reachable_time` (RFC 4861 §6.3.2); the control side draws it
    /// with [`NeighParams::random_reachable_time`]. Default: the base.
    pub reachable_time: Duration,
    /// `retrans_time`: 1 s between solicitations.
    pub retrans_time: Duration,
    /// `delay_first_probe_time`: 5 s.
    pub delay_first_probe_time: Duration,
    /// `mcast_solicit`: 3 broadcast/multicast solicitations.
    pub mcast_solicit: u8,
    /// `ucast_solicit`: 3 unicast probes.
    pub ucast_solicit: u8,
    /// `gc_stale_time`: 60 s.
    pub gc_stale_time: Duration,
    /// `locktime` (ARP): 1 s during which a reply may not change the
    /// address (the first of several proxies' replies wins).
    pub locktime: Duration,
    /// `gc_thresh3`: 1024 entries.
    pub max_entries: usize,
}

impl Default for NeighParams {
    fn default() -> Self {
        NeighParams {
            base_reachable_time: Duration::from_secs(30),
            reachable_time: Duration::from_secs(30),
            retrans_time: Duration::from_secs(1),
            delay_first_probe_time: Duration::from_secs(5),
            mcast_solicit: 3,
            ucast_solicit: 3,
            gc_stale_time: Duration::from_secs(60),
            locktime: Duration::from_secs(1),
            max_entries: 1024,
        }
    }
}

impl NeighParams {
    /// `neigh_rand_reach_time()`: `base / 2 + random * base / 2^32`, from
    /// a uniformly random `u32`.
    pub fn random_reachable_time(base: Duration, random: u32) -> Duration {
        let base_ns = base.as_nanos();
        let ns = base_ns / 2 + ((base_ns * u128::from(random)) >> 32);
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// Interval of the periodic gc (`neigh_periodic_work()`:
    /// `base_reachable_time / 2`).
    pub fn gc_interval(&self) -> Duration {
        self.base_reachable_time / 2
    }
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighDrop {
    /// The resolution queue was full; this was its oldest frame.
    QueueFull,
    /// Resolution failed; the caller may send ICMP host unreachable.
    Failed,
    /// No room for a new entry ("neighbour table overflow").
    TableFull,
}

impl NeighDrop {
    /// Per-worker counter name (`neigh.<reason>`).
    pub fn counter(self) -> &'static str {
        match self {
            NeighDrop::QueueFull => "neigh.unres_discard",
            NeighDrop::Failed => "neigh.res_failed",
            NeighDrop::TableFull => "neigh.table_full",
        }
    }
}

/// Something the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeighAction<F> {
    /// Send an ARP request / neighbour solicitation for `target` out of
    /// `port`: to `unicast` when set (a probe of a known address), else
    /// broadcast (ARP) / to the solicited-node multicast address (NDP).
    Solicit {
        port: PortId,
        target: IpAddr,
        unicast: Option<Mac>,
    },
    /// Send `frame` out of `port` to link-layer address `mac`.
    Transmit { port: PortId, mac: Mac, frame: F },
    /// `frame`, which was waiting for `target` on `port`, is dropped.
    Drop {
        port: PortId,
        target: IpAddr,
        frame: F,
        reason: NeighDrop,
    },
}

/// An ARP packet that names a sender, as `arp_process()` sorts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpInput {
    /// A request whose target is one of our addresses: the sender is
    /// created or refreshed as STALE (`neigh_event_ns()`).
    RequestToUs,
    /// A reply addressed to our MAC: confirms an existing entry
    /// (REACHABLE).
    Reply,
    /// Any other ARP packet (broadcast reply, request for another host,
    /// gratuitous ARP): refreshes an existing entry as STALE.
    Other { gratuitous: bool },
}

/// An NDP message that carries a link-layer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdInput {
    /// A neighbour solicitation with a source link-layer address option
    /// (`ndisc_recv_ns()`): created or refreshed as STALE.
    Solicitation,
    /// A neighbour advertisement with a target link-layer address option
    /// (`ndisc_recv_na()`): updates an existing entry; `solicited` (S)
    /// confirms reachability, `override_flag` (O) lets it replace a known
    /// address.
    Advertisement {
        solicited: bool,
        override_flag: bool,
    },
}

/// A neighbour as `ip neigh show` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighInfo {
    pub state: NeighState,
    /// The cached address, when the state is valid.
    pub mac: Option<Mac>,
    /// Frames waiting for resolution.
    pub queued: usize,
    /// The last change of state or address, or confirmation of
    /// reachability, whichever is later: how fresh this knowledge is
    /// (the kernel's `updated` and `confirmed`).
    pub fresh: Instant,
}

/// Per-worker counters, summed by the control side (names follow
/// `/proc/net/stat/{arp,ndisc}_cache`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighStats {
    pub lookups: u64,
    /// Solicitations asked for (broadcast and unicast).
    pub solicits: u64,
    /// Resolutions that ended in FAILED.
    pub res_failed: u64,
    /// Frames dropped because the queue was full.
    pub unres_discards: u64,
    /// Queued frames dropped because resolution failed.
    pub failed_drops: u64,
    /// Entries that could not be created.
    pub table_fulls: u64,
    /// Entries removed by gc (periodic or forced).
    pub gc_removed: u64,
}

/// FIFO of at most `Q` frames.
#[derive(Debug)]
struct Pending<F, const Q: usize> {
    slots: [Option<F>; Q],
    head: usize,
    len: usize,
}

impl<F, const Q: usize> Pending<F, Q> {
    fn new() -> Self {
        Pending {
            slots: std::array::from_fn(|_| None),
            head: 0,
            len: 0,
        }
    }

    /// Appends `f`; returns the frame that had to go (the oldest, or `f`
    /// itself when `Q` is 0).
    fn push(&mut self, f: F) -> Option<F> {
        if Q == 0 {
            return Some(f);
        }
        let evicted = if self.len == Q { self.pop() } else { None };
        let tail = (self.head + self.len) % Q;
        self.slots[tail] = Some(f);
        self.len += 1;
        evicted
    }

    fn pop(&mut self) -> Option<F> {
        if self.len == 0 {
            return None;
        }
        let f = self.slots[self.head].take();
        self.head = (self.head + 1) % Q;
        self.len -= 1;
        f
    }
}

#[derive(Debug)]
struct Entry<F, const Q: usize> {
    state: NeighState,
    mac: Mac,
    /// Solicitations sent in this INCOMPLETE/PROBE round (`neigh->probes`;
    /// INCOMPLETE starts at `ucast_solicit`).
    probes: u8,
    /// Last confirmation of reachability; `None`: long ago.
    confirmed: Option<Instant>,
    /// Last time a packet was sent through it.
    used: Instant,
    /// Last state or address change.
    updated: Instant,
    timer: Option<Instant>,
    queue: Pending<F, Q>,
}

impl<F, const Q: usize> Entry<F, Q> {
    fn new(now: Instant) -> Self {
        Entry {
            state: NeighState::None,
            mac: [0; 6],
            probes: 0,
            confirmed: None,
            used: now,
            updated: now,
            timer: None,
            queue: Pending::new(),
        }
    }

    fn info(&self) -> NeighInfo {
        NeighInfo {
            state: self.state,
            mac: self.state.is_valid().then_some(self.mac),
            queued: self.queue.len,
            fresh: self.confirmed.map_or(self.updated, |c| c.max(self.updated)),
        }
    }
}

/// Who calls back, and the counters: split from the map so entry handlers
/// can borrow both.
struct Cx<'a, F, O> {
    params: &'a NeighParams,
    stats: &'a mut NeighStats,
    port: PortId,
    target: IpAddr,
    out: &'a mut O,
    _frame: PhantomData<fn(F)>,
}

impl<F, O: FnMut(NeighAction<F>)> Cx<'_, F, O> {
    /// `neigh_probe()` / `arp_solicit()`: unicast while `probes` is below
    /// `ucast_solicit`, broadcast after.
    fn probe<const Q: usize>(&mut self, e: &mut Entry<F, Q>) {
        let unicast = (e.probes < self.params.ucast_solicit).then_some(e.mac);
        (self.out)(NeighAction::Solicit {
            port: self.port,
            target: self.target,
            unicast,
        });
        e.probes = e.probes.saturating_add(1);
        self.stats.solicits += 1;
    }

    fn transmit(&mut self, mac: Mac, frame: F) {
        (self.out)(NeighAction::Transmit {
            port: self.port,
            mac,
            frame,
        });
    }

    fn drop_frame(&mut self, frame: F, reason: NeighDrop) {
        (self.out)(NeighAction::Drop {
            port: self.port,
            target: self.target,
            frame,
            reason,
        });
    }

    /// `neigh_max_probes()` with `app_solicit` and `mcast_resolicit` 0.
    fn max_probes(&self, state: NeighState) -> u8 {
        let p = self.params;
        if state == NeighState::Probe {
            p.ucast_solicit
        } else {
            p.ucast_solicit.saturating_add(p.mcast_solicit)
        }
    }

    /// A packet goes to this neighbour (`neigh_resolve_output()`).
    fn output<const Q: usize>(&mut self, e: &mut Entry<F, Q>, frame: F, now: Instant) {
        e.used = now;
        match e.state {
            NeighState::Reachable
            | NeighState::Delay
            | NeighState::Probe
            | NeighState::Permanent => self.transmit(e.mac, frame),
            NeighState::Stale => {
                e.state = NeighState::Delay;
                e.updated = now;
                e.timer = Some(now + self.params.delay_first_probe_time);
                self.transmit(e.mac, frame);
            }
            NeighState::Incomplete => self.enqueue(e, frame),
            NeighState::None | NeighState::Failed => {
                if self.params.mcast_solicit == 0 {
                    e.state = NeighState::Failed;
                    self.stats.res_failed += 1;
                    self.stats.failed_drops += 1;
                    self.drop_frame(frame, NeighDrop::Failed);
                    return;
                }
                e.probes = self.params.ucast_solicit;
                e.state = NeighState::Incomplete;
                e.updated = now;
                e.timer = Some(now + self.params.retrans_time);
                self.enqueue(e, frame);
                self.probe(e);
            }
        }
    }

    fn enqueue<const Q: usize>(&mut self, e: &mut Entry<F, Q>, frame: F) {
        if let Some(old) = e.queue.push(frame) {
            self.stats.unres_discards += 1;
            self.drop_frame(old, NeighDrop::QueueFull);
        }
    }

    /// `neigh_timer_handler()`.
    fn on_timer<const Q: usize>(&mut self, e: &mut Entry<F, Q>, now: Instant) {
        let p = self.params;
        let next = match e.state {
            NeighState::Reachable => {
                let until = e.confirmed.map(|c| c + p.reachable_time);
                if until.is_some_and(|t| now <= t) {
                    until
                } else if now <= e.used + p.delay_first_probe_time {
                    e.state = NeighState::Delay;
                    e.updated = now;
                    Some(now + p.delay_first_probe_time)
                } else {
                    e.state = NeighState::Stale;
                    e.updated = now;
                    None
                }
            }
            NeighState::Delay => {
                if e.confirmed
                    .is_some_and(|c| now <= c + p.delay_first_probe_time)
                {
                    e.state = NeighState::Reachable;
                    e.updated = now;
                    e.confirmed.map(|c| c + p.reachable_time)
                } else {
                    e.state = NeighState::Probe;
                    e.updated = now;
                    e.probes = 0;
                    Some(now + p.retrans_time)
                }
            }
            NeighState::Incomplete | NeighState::Probe => Some(now + p.retrans_time),
            _ => None,
        };
        if matches!(e.state, NeighState::Incomplete | NeighState::Probe)
            && e.probes >= self.max_probes(e.state)
        {
            // neigh_invalidate(): every queued frame is reported.
            e.state = NeighState::Failed;
            e.updated = now;
            e.timer = None;
            self.stats.res_failed += 1;
            while let Some(f) = e.queue.pop() {
                self.stats.failed_drops += 1;
                self.drop_frame(f, NeighDrop::Failed);
            }
            return;
        }
        // The kernel never re-arms a timer less than HZ/100 ahead.
        e.timer = next.map(|t| t.max(now + Duration::from_millis(10)));
        if matches!(e.state, NeighState::Incomplete | NeighState::Probe) {
            self.probe(e);
        }
    }

    /// `__neigh_update()` without admin flags: `new` is REACHABLE or STALE.
    fn update<const Q: usize>(
        &mut self,
        e: &mut Entry<F, Q>,
        mac: Mac,
        new: NeighState,
        flags: Update,
        now: Instant,
    ) {
        let old = e.state;
        if old == NeighState::Permanent {
            return;
        }
        if new.is_connected() {
            e.confirmed = Some(now);
        }
        let (mut new, mut mac) = (new, mac);
        if old.is_valid() {
            if mac != e.mac && !flags.override_ {
                if flags.weak_override && old.is_connected() {
                    mac = e.mac;
                    new = NeighState::Stale;
                } else {
                    return;
                }
            } else if mac == e.mac && new == NeighState::Stale {
                new = old;
            }
        }
        if new != old || mac != e.mac {
            e.updated = now;
        }
        if new != old {
            e.timer = None;
            if new == NeighState::Probe {
                e.probes = 0;
            }
            if new.in_timer() {
                let after = if new == NeighState::Reachable {
                    self.params.reachable_time
                } else {
                    Duration::ZERO
                };
                e.timer = Some(now + after);
            }
            e.state = new;
        }
        if mac != e.mac {
            e.mac = mac;
            if !new.is_connected() {
                e.confirmed = None;
            }
        }
        if new == old {
            return;
        }
        if !old.is_valid() {
            while let Some(f) = e.queue.pop() {
                self.transmit(e.mac, f);
            }
        }
    }
}

/// `NEIGH_UPDATE_F_*`.
#[derive(Debug, Clone, Copy, Default)]
struct Update {
    override_: bool,
    weak_override: bool,
}

/// A per-worker neighbour table holding up to `Q` frames of type `F` per
/// unresolved neighbour.
pub struct NeighTable<F, const Q: usize = 3> {
    params: NeighParams,
    entries: HashMap<(PortId, IpAddr), Entry<F, Q>, RandomState>,
    /// Earliest entry timer.
    next_timer: Option<Instant>,
    /// Next periodic gc; `None` until the first poll.
    next_gc: Option<Instant>,
    stats: NeighStats,
}

impl<F, const Q: usize> std::fmt::Debug for NeighTable<F, Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeighTable")
            .field("entries", &self.entries.len())
            .field("next_timer", &self.next_timer)
            .field("stats", &self.stats)
            .finish()
    }
}

impl<F, const Q: usize> NeighTable<F, Q> {
    pub fn new(params: NeighParams) -> Self {
        let cap = params.max_entries;
        NeighTable {
            params,
            entries: HashMap::with_capacity_and_hasher(cap, RandomState::new()),
            next_timer: None,
            next_gc: None,
            stats: NeighStats::default(),
        }
    }

    pub fn params(&self) -> &NeighParams {
        &self.params
    }

    /// Replaces the parameters (e.g. a newly drawn `reachable_time`).
    pub fn set_params(&mut self, params: NeighParams) {
        self.params = params;
    }

    pub fn stats(&self) -> &NeighStats {
        &self.stats
    }

    /// Frames waiting in the entries' queues now (walks the table: for
    /// the control side and the counters, not the packet path).
    pub fn queued(&self) -> usize {
        self.entries.values().map(|e| e.queue.len).sum()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The neighbour `target` on `port`.
    pub fn get(&self, port: PortId, target: IpAddr) -> Option<NeighInfo> {
        self.entries.get(&(port, target)).map(Entry::info)
    }

    /// Every neighbour, as `ip neigh show` lists them (walks the table: for
    /// the control side, between batches, not the packet path). Order is
    /// the hash table's.
    pub fn entries(&self) -> impl Iterator<Item = (PortId, IpAddr, NeighInfo)> + '_ {
        self.entries
            .iter()
            .map(|(&(port, ip), e)| (port, ip, e.info()))
    }

    /// When [`NeighTable::poll`] next has work: the earliest timer or the
    /// next periodic gc.
    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.next_timer, self.next_gc) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn arm(&mut self, timer: Option<Instant>) {
        if let Some(t) = timer {
            self.next_timer = Some(self.next_timer.map_or(t, |n| n.min(t)));
        }
    }

    /// Sends `frame` to the next hop `target` on `port`: at once when the
    /// address is known, else after resolution.
    pub fn resolve(
        &mut self,
        port: PortId,
        target: IpAddr,
        frame: F,
        now: Instant,
        out: &mut impl FnMut(NeighAction<F>),
    ) {
        self.stats.lookups += 1;
        let key = (port, target);
        let e = match self.entries.get_mut(&key) {
            Some(e) => e,
            None => {
                if !self.make_room(now) {
                    self.stats.table_fulls += 1;
                    out(NeighAction::Drop {
                        port,
                        target,
                        frame,
                        reason: NeighDrop::TableFull,
                    });
                    return;
                }
                self.entries.entry(key).or_insert_with(|| Entry::new(now))
            }
        };
        let mut cx = Cx {
            params: &self.params,
            stats: &mut self.stats,
            port,
            target,
            out,
            _frame: PhantomData,
        };
        cx.output(e, frame, now);
        let timer = e.timer;
        self.arm(timer);
    }

    /// Learns from an ARP packet from `sender` (`sender_mac`) on `port`.
    pub fn arp_input(
        &mut self,
        port: PortId,
        sender: IpAddr,
        sender_mac: Mac,
        kind: ArpInput,
        now: Instant,
        out: &mut impl FnMut(NeighAction<F>),
    ) {
        let locktime_over = |e: Option<&Entry<F, Q>>, lock: Duration| match e {
            None => true,
            Some(e) => now > e.updated + lock,
        };
        let existing = self.entries.get(&(port, sender));
        let (new, flags, create) = match kind {
            ArpInput::RequestToUs => (
                NeighState::Stale,
                Update {
                    override_: true,
                    weak_override: false,
                },
                true,
            ),
            ArpInput::Reply => (
                NeighState::Reachable,
                Update {
                    override_: locktime_over(existing, self.params.locktime),
                    weak_override: false,
                },
                false,
            ),
            ArpInput::Other { gratuitous } => (
                NeighState::Stale,
                Update {
                    override_: gratuitous || locktime_over(existing, self.params.locktime),
                    weak_override: false,
                },
                false,
            ),
        };
        self.learn(port, sender, sender_mac, new, flags, create, now, out);
    }

    /// Learns from an NDP message about `target` (`mac`) on `port`.
    pub fn ndisc_input(
        &mut self,
        port: PortId,
        target: IpAddr,
        mac: Mac,
        kind: NdInput,
        now: Instant,
        out: &mut impl FnMut(NeighAction<F>),
    ) {
        let (new, flags, create) = match kind {
            NdInput::Solicitation => (
                NeighState::Stale,
                Update {
                    override_: true,
                    weak_override: true,
                },
                true,
            ),
            NdInput::Advertisement {
                solicited,
                override_flag,
            } => (
                if solicited {
                    NeighState::Reachable
                } else {
                    NeighState::Stale
                },
                Update {
                    override_: override_flag,
                    weak_override: true,
                },
                false,
            ),
        };
        self.learn(port, target, mac, new, flags, create, now, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn learn(
        &mut self,
        port: PortId,
        target: IpAddr,
        mac: Mac,
        new: NeighState,
        flags: Update,
        create: bool,
        now: Instant,
        out: &mut impl FnMut(NeighAction<F>),
    ) {
        let key = (port, target);
        if !self.entries.contains_key(&key) {
            if !create || !self.make_room(now) {
                return;
            }
            self.entries.insert(key, Entry::new(now));
        }
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        let mut cx = Cx {
            params: &self.params,
            stats: &mut self.stats,
            port,
            target,
            out,
            _frame: PhantomData,
        };
        cx.update(e, mac, new, flags, now);
        let timer = e.timer;
        self.arm(timer);
    }

    /// An upper layer saw the neighbour answer (RFC 4861 §7.3.1; the
    /// kernel's `neigh_confirm()`): a DELAY entry becomes REACHABLE at its
    /// timer instead of probing.
    pub fn confirm(&mut self, port: PortId, target: IpAddr, now: Instant) {
        if let Some(e) = self.entries.get_mut(&(port, target)) {
            e.confirmed = Some(now);
        }
    }

    /// `ip neigh replace TARGET lladdr MAC dev PORT nud permanent`: frames
    /// waiting for it are sent.
    pub fn add_permanent(
        &mut self,
        port: PortId,
        target: IpAddr,
        mac: Mac,
        now: Instant,
        out: &mut impl FnMut(NeighAction<F>),
    ) {
        let e = self
            .entries
            .entry((port, target))
            .or_insert_with(|| Entry::new(now));
        e.state = NeighState::Permanent;
        e.mac = mac;
        e.timer = None;
        e.updated = now;
        while let Some(f) = e.queue.pop() {
            out(NeighAction::Transmit {
                port,
                mac,
                frame: f,
            });
        }
    }

    /// Runs due timers (retransmissions, state changes) and the periodic
    /// gc. Cheap when nothing is due: call it once per batch.
    pub fn poll(&mut self, now: Instant, out: &mut impl FnMut(NeighAction<F>)) {
        let gc_due = match self.next_gc {
            None => true,
            Some(t) => now >= t,
        };
        let timers_due = self.next_timer.is_some_and(|t| now >= t);
        if !gc_due && !timers_due {
            return;
        }
        if gc_due {
            self.next_gc = Some(now + self.params.gc_interval());
        }
        let params = &self.params;
        let stats = &mut self.stats;
        let mut next: Option<Instant> = None;
        self.entries.retain(|&(port, target), e| {
            if timers_due && e.timer.is_some_and(|t| now >= t) {
                let mut cx = Cx {
                    params,
                    stats: &mut *stats,
                    port,
                    target,
                    out: &mut *out,
                    _frame: PhantomData,
                };
                cx.on_timer(e, now);
            }
            if gc_due && gc_expired(e, now, params) {
                stats.gc_removed += 1;
                return false;
            }
            if let Some(t) = e.timer {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            true
        });
        self.next_timer = next;
    }

    /// Makes room for one entry: `neigh_forced_gc()` when full.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.entries.len() < self.params.max_entries {
            return true;
        }
        let before = self.entries.len();
        let recent = now.checked_sub(Duration::from_secs(5));
        self.entries.retain(|_, e| {
            let removable = matches!(e.state, NeighState::Failed | NeighState::None)
                || (e.state == NeighState::Stale && recent.is_some_and(|r| e.updated < r));
            !removable
        });
        self.stats.gc_removed += (before - self.entries.len()) as u64;
        self.entries.len() < self.params.max_entries
    }
}

/// `neigh_periodic_work()`: FAILED entries, and STALE ones unused for
/// `gc_stale_time`, go. Entries in a timer state or permanent stay.
fn gc_expired<F, const Q: usize>(e: &mut Entry<F, Q>, now: Instant, p: &NeighParams) -> bool {
    if e.state == NeighState::Permanent || e.state.in_timer() {
        return false;
    }
    if let Some(c) = e.confirmed {
        if e.used < c && c <= now {
            e.used = c;
        }
    }
    e.state == NeighState::Failed || now >= e.used + p.gc_stale_time
}

#[cfg(test)]
mod tests;
