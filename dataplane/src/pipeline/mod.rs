//! The hook order: what happens to a batch of frames between a port's RX
//! and the ports' TX, in the kernel's order (`net/ipv4/ip_input.c`,
//! `ip_forward.c`, `ip_output.c`, `route.c`, and their IPv6 twins).
//!
//! Owns: the stage order (`run_input`, `run_output` below; the hook points
//! and their priorities are data, in [`hooks`]),
//! the routing decision and its re-routing, forwarding (TTL / hop limit,
//! MTU, fragmentation), the ICMP errors those send, the link-layer rewrite
//! and neighbour resolution on output, and the per-worker state
//! ([`WorkerState`]: rule state, the conntrack shard, the NAT port slice,
//! neighbours) that the hook points share. The packet vocabulary is
//! [`crate::packet`]'s, local delivery [`crate::local`]'s. Touches no I/O:
//! frames come in as descriptors of a [`Umem`] and leave on per-port TX
//! queues the worker flushes ([`Pipeline::flush_tx`]). Nothing here
//! allocates, locks or logs per packet; time is passed in.
//!
//! ## The stages
//!
//! Received frames (one batch of up to 64, from one port):
//!
//! | stage              | kernel                                   | hook, priority        |
//! |--------------------|------------------------------------------|-----------------------|
//! | `load`             | `eth_type_trans`, `ip_rcv_core`, `ipv6_rcv`, `arp_rcv` → `arp_process` | before the hooks |
//! | raw                | `iptable_raw`                            | PREROUTING −300       |
//! | (conntrack)        | `nf_conntrack_in` — a shell until the conntrack issue | PREROUTING −200 |
//! | mangle             | `iptable_mangle`                         | PREROUTING −150       |
//! | nat                | DNAT, `nf_nat_ipv4_pre_routing`          | PREROUTING −100       |
//! | `route_input`      | `ip_route_input_slow` (martians, FIB), `ip_error`, `ip6_route_input`, `ip6_pkt_drop` | after PREROUTING |
//! | `forward`          | `ip_forward` / `ip6_forward`: TTL, MTU, TTL decrement | before FORWARD |
//! | mangle, filter, security | `iptable_*`                        | FORWARD −150, 0, 50   |
//! | mangle, filter, security, nat | `iptable_*`, SNAT             | INPUT −150, 0, 50, 100 |
//! | (conntrack confirm) | `nf_confirm` — a shell until the conntrack issue | INPUT last  |
//! | `local_deliver`    | `ip_local_deliver_finish`: `icmp_echo`, `ndisc_rcv`, else the punt queue, which the worker drains into the port's TAP (`sl-<port>`) to the host kernel | after INPUT |
//! | mangle, nat        | `iptable_mangle`, SNAT                   | POSTROUTING −150, 100 |
//! | (conntrack confirm) | `nf_confirm` — a shell until the conntrack issue | POSTROUTING last |
//! | `neigh_output`     | `ip_finish_output` (`ip_do_fragment`), `neigh_output`, `dev_queue_xmit` | after POSTROUTING |
//!
//! Packets the box generates (echo replies, ICMP errors, neighbour
//! solicitations and advertisements, and the answers hook stages send with
//! [`Batch::emit`], e.g. REJECT's), in a second pass per batch; the frames
//! the host kernel writes into a TAP ([`Pipeline::rx_host`]) are the
//! host's locally generated packets and take the same pass:
//!
//! | stage              | kernel                                   | hook, priority        |
//! |--------------------|------------------------------------------|-----------------------|
//! | `host_output`      | (frames from a TAP) what the host's stack sent: ARP, NDP, MLD dropped (`local.host_l2`), IP queued for this pass; group destinations fixed to the TAP's port | |
//! | `route_output`     | `ip_route_output_key` (the socket's lookup, before the hooks); NDP has its port fixed (`icmp6_dst_alloc`) | |
//! | raw, mangle, nat, filter, security | re-routed after mangle when the mark or destination changed (`ip_route_me_harder`), after nat when the destination changed | OUTPUT −300, −150, −100, 0, 50 |
//! | `loop_back`        | `ip_mc_output` (IPv4 broadcast routes): a copy runs POSTROUTING, then is received on the egress port: PREROUTING, INPUT, used up (`output.loopback`, `local.loopback`) | POSTROUTING, PREROUTING, INPUT |
//! | mangle, nat        |                                          | POSTROUTING −150, 100 |
//! | `neigh_output`     | as above                                 |                       |
//!
//! ARP never meets a hook (the kernel's ARP is not IP): requests for our
//! addresses are answered in `load`, straight out of the ingress port.
//!
//! With no ruleset and no stage registered every hook accepts everything:
//! the kernel's behaviour with empty tables.
//!
//! The files follow the stages: [`input`](self) `load`, `route` (input and
//! output routing), `forward`, `deliver`, `output` (`neigh_output`),
//! `fragment`, `defrag` (IPv6 reassembly for conntrack), `options` (IPv4 options), `emit` (generated packets, ICMP errors), `host` (frames
//! from the host's TAPs), `loopback`, and
//! [`hooks`] (the points and what runs at each).
//!
//! ## Differences from the kernel (Linux 6.x, default sysctls)
//!
//! * ICMP redirects as the kernel's defaults (`send_redirects` 1,
//!   `shared_media` 1), for a source on the ingress port's link; IPv6
//!   sends none (the kernel's `ndisc_send_redirect` does). No
//!   reverse-path filter (the kernel default `rp_filter` 0 is the same).
//! * IPv4 options ([`options`]): compiled after routing as
//!   `ip_rcv_options` does (a parameter problem for a bad one, source
//!   routes dropped), record route and timestamp filled in when
//!   forwarding, echoed in the ICMP errors and echo replies the pipeline
//!   sends (`ip_options_echo`); but not in REJECT's answers, a source
//!   route is never echoed (the kernel reverses it),
//!   and options of packets for the box are left to the host stack.
//! * ICMP rate limits: see [`icmp`] (deterministic global credit, a
//!   bounded peer table, no prefix-length scaling for IPv6). Generated
//!   IPv4 packets take their identification from a per-worker counter
//!   (the kernel hashes per destination); IPv6 ones have flow label 0 (the
//!   kernel's auto flow labels hash the flow).
//! * IPv6 to or from link-local addresses is never forwarded; ports have no
//!   link-local addresses (the configuration gives none), so neighbour
//!   solicitations come from a global address of the port.
//! * Multicast: the groups a port joins are the kernel's defaults
//!   (224.0.0.1; all-nodes, all-routers, solicited-node); nothing is
//!   multicast-routed.
//! * Fragments for the box are punted as they are (the kernel reassembles
//!   before INPUT, so INPUT rules see the whole packet there); with IPv6
//!   conntrack on, IPv6 ones are reassembled at PREROUTING ([`defrag`])
//!   and the whole datagram is punted.
//! * Generated packets routed to the box itself are dropped
//!   (`output.local`; the kernel loops them back), host frames from a TAP
//!   included (the host owns the box's addresses: it never sends such a
//!   packet into the TAP); generated IPv6 packets
//!   over the MTU, or IPv4 ones with DF, are dropped (`output.too_big`).
//! * ARP requests name the port's address on the target's network as
//!   sender (the kernel prefers the waiting packet's source when it is
//!   local); at most 3 frames wait per unresolved neighbour (the kernel
//!   bounds the queue in bytes).
//! * VLANs: no sub-interfaces yet, so, as the kernel without VLAN devices,
//!   tagged frames (VID ≠ 0) are dropped (`l2.vlan`); priority-tagged
//!   frames (VID 0) are handled as untagged and leave untagged.

pub mod defrag;
mod deliver;
mod emit;
mod forward;
mod fragment;
pub mod hooks;
mod host;
pub(crate) mod icmp;
mod input;
mod loopback;
mod options;
mod output;
mod route;
mod state;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use sluice_config::iptables::Hook;

pub use crate::packet::{
    Batch, Bits, Counter, CounterBlock, Counters, CtState, EmitKind, Kind, Ledger, Pkt, Verdict,
    BATCH,
};
pub use crate::snapshot::Snapshot;
pub use hooks::{HookCx, HookStage, Point, Stage};
pub use state::WorkerState;

use crate::packet::{BatchBuf, Dest, L2Class};
use fragment::fragment;
use hooks::Hooks;
use icmp::{ErrorKind, IcmpLimiter, Offender};
use output::{l2_prepare, NeighMemo};
pub(crate) use route::{route_packet, Failure};

use crate::io::{Desc, Port, PortId, Umem};
use crate::local::{self, PuntQueue};
use crate::route::neigh::{NeighAction, NeighDrop, NeighParams, NeighTable};
use crate::route::{FlowKey, RouteResult};
use crate::wire::{self, ethernet, EtherType, MacAddr, PacketMeta};

/// A frame waiting in the neighbour table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighFrame {
    pub desc: Desc,
    /// Generated by the box: no ICMP error when resolution fails.
    pub generated: bool,
}

/// Sizes of the pipeline's pre-allocated queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineParams {
    pub neigh: NeighParams,
    /// Frames the punt queue holds.
    pub punt_capacity: usize,
    /// Frames each port's TX staging queue holds between flushes.
    pub tx_capacity: usize,
    /// Generated packets waiting for the output pass.
    pub output_capacity: usize,
    /// Entries of the worker's conntrack shard (`[dataplane]
    /// conntrack_max` divided among the workers).
    pub conntrack_max: usize,
    /// Workers in all (the NAT port space is split among them).
    pub workers: u32,
}

impl Default for PipelineParams {
    fn default() -> Self {
        PipelineParams {
            neigh: NeighParams::default(),
            punt_capacity: 1024,
            tx_capacity: 1024,
            output_capacity: 256,
            conntrack_max: 262_144,
            workers: 1,
        }
    }
}

impl PipelineParams {
    /// Default sizes with the appliance's `[dataplane]` settings: its
    /// workers, and `conntrack_max` divided among them.
    pub fn for_appliance(a: &sluice_config::appliance::Appliance) -> PipelineParams {
        let workers = a.dataplane.workers.max(1);
        PipelineParams {
            conntrack_max: (a.dataplane.conntrack_max / workers).max(1) as usize,
            workers,
            ..PipelineParams::default()
        }
    }
}

/// How many output passes one call runs at most (an echo reply may need a
/// neighbour solicitation, which is generated in turn).
const MAX_OUTPUT_ROUNDS: usize = 8;

/// Most fragments one packet is split into.
pub(super) const MAX_FRAGS: usize = 64;

/// What the output side owns: borrowed apart from the neighbour table so
/// neighbour callbacks can use it.
struct Out {
    pub counters: Counters,
    /// Per-port TX staging queues.
    pub tx: Vec<Vec<Desc>>,
    pub(super) tx_capacity: usize,
    /// Generated packets waiting for the output pass.
    pub gen: VecDeque<Pkt>,
    pub(super) gen_capacity: usize,
    pub icmp: IcmpLimiter,
    /// IPv4 identification of generated packets.
    pub(super) ident: u16,
    /// Next hops resolved at once in this output pass (see `l2_resolve`).
    pub(super) memo: NeighMemo,
    /// The IPv4 options ICMP errors about recent packets echo.
    pub(super) echo: options::EchoRing,
}

/// One worker's pipeline: the snapshot it runs with and everything it
/// owns. See the module docs.
pub struct Pipeline {
    snap: Arc<Snapshot>,
    core: Core,
    bufs: Bufs,
}

/// The batch buffers, apart from [`Core`] so that a stage method can work
/// on one while borrowing the rest of the pipeline: allocated once, reused
/// for every batch.
struct Bufs {
    /// Received frames.
    main: Box<BatchBuf>,
    /// Generated packets, one output pass at a time.
    chunk: Box<BatchBuf>,
    /// Looped-back copies of the broadcasts of one output batch.
    looped: Box<BatchBuf>,
}

/// The pipeline without its snapshot: every stage is a method of `Core`
/// that borrows the snapshot as a parameter, so a batch borrows it once
/// and nothing touches its reference count.
struct Core {
    macs: Box<[MacAddr]>,
    /// Extra stages registered at table points (tests, benches).
    hooks: Hooks,
    st: WorkerState,
    out: Out,
    punt: PuntQueue,
    /// The DHCPv4 client's link ([`local::dhcp`]); `None`: DHCP answers
    /// take the normal path.
    dhcp: Option<local::dhcp::DhcpLink>,
    /// Packets conntrack deferred to after the batch (see
    /// [`crate::conntrack`]): they run again from the conntrack point.
    held: Vec<Pkt>,
    /// Packets whose flow another worker owns: (worker, packet), their
    /// frames still in this worker's arena ([`Pipeline::handoffs`]).
    outbox: Vec<(u32, Pkt)>,
    /// IPv4 option slots `route_input` found for `forward` to fill.
    opt_fill: OptFill,
}

/// The record-route and timestamp address slots of the forwarded packets
/// of one batch (by batch index), from `route_input` to `forward`.
struct OptFill {
    /// Batch indices with slots to fill.
    pending: u64,
    /// (record route, timestamp address) offsets from the IP header.
    slots: [(u8, u8); BATCH],
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("generation", &self.snap.generation)
            .field("counters", &self.core.out.counters)
            .finish()
    }
}

impl Pipeline {
    /// A pipeline for ports whose MAC addresses are `macs` (port `i` is
    /// `PortId(i)` of the snapshot), with default sizes.
    pub fn new(snapshot: Arc<Snapshot>, macs: Vec<MacAddr>, now: Instant) -> Pipeline {
        Pipeline::with_params(snapshot, macs, PipelineParams::default(), now)
    }

    /// As [`Pipeline::new`], worker 0, with `params`.
    pub fn with_params(
        snapshot: Arc<Snapshot>,
        macs: Vec<MacAddr>,
        params: PipelineParams,
        now: Instant,
    ) -> Pipeline {
        Pipeline::for_worker(snapshot, macs, params, 0, now)
    }

    /// The pipeline of worker `worker` (its index: the random seed of
    /// `-m statistic`, its NAT port slice).
    pub fn for_worker(
        snapshot: Arc<Snapshot>,
        macs: Vec<MacAddr>,
        params: PipelineParams,
        worker: u32,
        now: Instant,
    ) -> Pipeline {
        let ports = macs.len();
        let st = WorkerState::new(&snapshot, &params, worker);
        Pipeline {
            snap: snapshot,
            core: Core {
                macs: macs.into_boxed_slice(),
                hooks: Hooks::default(),
                st,
                out: Out {
                    counters: Counters::default(),
                    tx: (0..ports)
                        .map(|_| Vec::with_capacity(params.tx_capacity))
                        .collect(),
                    tx_capacity: params.tx_capacity,
                    gen: VecDeque::with_capacity(params.output_capacity),
                    gen_capacity: params.output_capacity,
                    icmp: IcmpLimiter::new(now),
                    ident: 0,
                    memo: NeighMemo::new(),
                    echo: options::EchoRing::new(),
                },
                punt: PuntQueue::new(params.punt_capacity),
                dhcp: None,
                held: Vec::with_capacity(BATCH),
                outbox: Vec::with_capacity(4 * BATCH),
                opt_fill: OptFill {
                    pending: 0,
                    slots: [(0, 0); BATCH],
                },
            },
            bufs: Bufs {
                main: BatchBuf::new(),
                chunk: BatchBuf::new(),
                looped: BatchBuf::new(),
            },
        }
    }

    /// Adds a stage at the (hook, table) points it declares; it runs after
    /// the ruleset's table there.
    pub fn register(&mut self, stage: Box<dyn HookStage>) {
        self.core.hooks.register(stage);
    }

    /// Switches to a new configuration (call between batches): the worker
    /// state follows it ([`WorkerState::follow`]: rule counters of
    /// unchanged rules carry over; conntrack entries and neighbours stay).
    pub fn set_snapshot(&mut self, s: Arc<Snapshot>) {
        self.core.st.follow(&self.snap, &s);
        self.snap = s;
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// The generation of the snapshot in use.
    pub fn generation(&self) -> u64 {
        self.snap.generation
    }

    /// This worker's counters, with the `neigh.queued` gauge read from
    /// the neighbour table itself (frames waiting for resolution now).
    pub fn counters(&self) -> Counters {
        let mut c = self.core.out.counters.clone();
        c.set_neigh_queued(self.core.st.neigh.queued() as u64);
        c
    }

    /// Adds `n` to counter `c` (the worker's own events: handoffs).
    pub fn count(&mut self, c: Counter, n: u64) {
        self.core.out.counters.add(c, n);
    }

    /// The per-worker state the hook points share.
    pub fn state(&self) -> &WorkerState {
        &self.core.st
    }

    pub fn state_mut(&mut self) -> &mut WorkerState {
        &mut self.core.st
    }

    /// This worker's rule counters, for the ruleset in use (empty without
    /// one).
    pub fn rule_counters(&self) -> crate::rules::RuleCounters {
        match (&self.snap.rules, &self.core.st.rules) {
            (Some(p), Some(st)) => st.counters(p),
            _ => crate::rules::RuleCounters::default(),
        }
    }

    /// A reader of this worker's rule counters and LOG records for another
    /// thread; `None` without a ruleset. A new one is needed after a
    /// snapshot with another ruleset (its counters are new cells).
    pub fn rules_reader(&self) -> Option<crate::rules::RulesReader> {
        match (&self.snap.rules, &self.core.st.rules) {
            (Some(p), Some(st)) => Some(st.reader(Arc::clone(p))),
            _ => None,
        }
    }

    pub fn neigh(&self) -> &NeighTable<NeighFrame> {
        &self.core.st.neigh
    }

    /// Frames for the host stack.
    pub fn punt(&mut self) -> &mut PuntQueue {
        &mut self.core.punt
    }

    /// Connects the DHCPv4 client ([`local::dhcp`]): from now on the DHCP
    /// answers on a DHCP port go to it.
    pub fn set_dhcp(&mut self, link: local::dhcp::DhcpLink) {
        self.core.dhcp = Some(link);
    }

    /// Sends the frames the DHCPv4 client queued, each out of its port as
    /// it is (no hook: a packet socket's frames); between batches.
    pub fn send_dhcp(&mut self, umem: &mut Umem) {
        let Some(link) = &self.core.dhcp else { return };
        while let Some(f) = link.to_send() {
            let mut sent = false;
            if f.port.index() < self.core.macs.len() {
                if let Some(mut d) = umem.alloc() {
                    if umem.set_len(&mut d, f.bytes().len()) {
                        umem.bytes_mut(d).copy_from_slice(f.bytes());
                        self.core.out.counters.inc(Counter::LocalDhcpTx);
                        self.core.out.tx_push(umem, f.port, d);
                        sent = true;
                    } else {
                        umem.free(d);
                    }
                }
            }
            if !sent {
                self.core.out.counters.inc(Counter::LocalDhcpTxLost);
            }
            link.sent(f);
        }
    }

    /// The MAC address of port `p`.
    pub fn mac(&self, p: PortId) -> Option<MacAddr> {
        self.core.macs.get(p.index()).copied()
    }

    /// `ip neigh replace IP lladdr MAC dev PORT nud permanent`.
    pub fn add_permanent_neighbour(
        &mut self,
        umem: &mut Umem,
        port: PortId,
        ip: IpAddr,
        mac: MacAddr,
        now: Instant,
    ) {
        let Pipeline { snap, core, bufs } = self;
        let snap: &Snapshot = snap;
        let (out, macs) = (&mut core.out, &core.macs);
        core.st.neigh.add_permanent(port, ip, mac.0, now, &mut |a| {
            out.on_neigh(umem, snap, macs, a, now)
        });
        core.drain_output(snap, umem, bufs, now);
    }

    /// Runs the frames `frames` received on `iif` through the pipeline, in
    /// batches of [`BATCH`]. The frames belong to the pipeline from here.
    pub fn rx(&mut self, umem: &mut Umem, iif: PortId, frames: &[Desc], now: Instant) {
        let Pipeline { snap, core, bufs } = self;
        let snap: &Snapshot = snap;
        for chunk in frames.chunks(BATCH) {
            let b = &mut bufs.main;
            core.load(snap, umem, b, iif, chunk, now);
            core.run_input(snap, umem, b, now, 0);
            core.settle(umem, b);
            core.end_batch();
            while !core.held.is_empty() {
                core.reload_held(b);
                let from = hooks::conntrack_point(Hook::Prerouting);
                core.run_input(snap, umem, b, now, from);
                core.settle(umem, b);
                core.end_batch();
            }
            core.drain_output(snap, umem, bufs, now);
        }
    }

    /// Runs the frames the host kernel wrote into the TAP of port
    /// `tap_port` as packets the box generates (the module docs' second
    /// table; `host_output` in `host.rs`), in batches of [`BATCH`]. The
    /// frames belong to the pipeline from here.
    pub fn rx_host(&mut self, umem: &mut Umem, tap_port: PortId, frames: &[Desc], now: Instant) {
        let Pipeline { snap, core, bufs } = self;
        let snap: &Snapshot = snap;
        for chunk in frames.chunks(BATCH) {
            for &d in chunk {
                core.host_frame(umem, tap_port, d);
            }
            core.drain_output(snap, umem, bufs, now);
        }
    }

    /// The packets handed to other workers since the last call: (worker,
    /// packet); their frames are in this worker's arena, the caller passes
    /// them on and frees them.
    pub fn handoffs(&mut self) -> &mut Vec<(u32, Pkt)> {
        &mut self.core.outbox
    }

    /// Runs packets another worker handed to this one (their frames
    /// copied into this worker's arena, parsed, with the mark, ports and
    /// hop they had) from the PREROUTING conntrack point on, as the owner
    /// of their flow.
    pub fn rx_handoff(&mut self, umem: &mut Umem, pkts: &[Pkt], now: Instant) {
        let Pipeline { snap, core, bufs } = self;
        let snap: &Snapshot = snap;
        let from = hooks::conntrack_point(Hook::Prerouting);
        for chunk in pkts.chunks(BATCH) {
            let b = &mut bufs.main;
            b.clear();
            for (slot, p) in b.pkts.iter_mut().zip(chunk) {
                *slot = *p;
            }
            b.len = chunk.len();
            b.live = mask(chunk.len());
            core.run_input(snap, umem, b, now, from);
            core.settle(umem, b);
            core.end_batch();
            while !core.held.is_empty() {
                core.reload_held(b);
                core.run_input(snap, umem, b, now, from);
                core.settle(umem, b);
                core.end_batch();
            }
            core.drain_output(snap, umem, bufs, now);
        }
    }

    /// Timers: conntrack expiry, reassembly timeouts, neighbour
    /// retransmissions and failures. Once per poll loop turn.
    pub fn poll(&mut self, umem: &mut Umem, now: Instant) {
        let Pipeline { snap, core, bufs } = self;
        let snap: &Snapshot = snap;
        let expired = core.st.conntrack.tick(now);
        if expired != 0 {
            core.out.counters.add(Counter::CtExpired, expired);
        }
        core.defrag_expire(snap, umem, now);
        let (out, macs) = (&mut core.out, &core.macs);
        core.st
            .neigh
            .poll(now, &mut |a| out.on_neigh(umem, snap, macs, a, now));
        core.drain_output(snap, umem, bufs, now);
    }

    /// Hands the staged TX frames to the ports; frames a port refuses are
    /// dropped (`tx.ring_full`).
    pub fn flush_tx<P: Port>(&mut self, umem: &mut Umem, ports: &mut [P]) {
        let out = &mut self.core.out;
        for (i, q) in out.tx.iter_mut().enumerate() {
            if q.is_empty() {
                continue;
            }
            let Some(port) = ports.get_mut(i) else {
                for d in q.drain(..) {
                    umem.free(d);
                    out.counters.inc(Counter::TxRingFull);
                }
                continue;
            };
            let n = port.tx(umem, q);
            out.counters.add(Counter::TxFrames, n as u64);
            // The refused tail, without stepping over the sent ones.
            for &d in q.get(n..).unwrap_or_default() {
                umem.free(d);
                out.counters.inc(Counter::TxRingFull);
            }
            q.clear();
        }
    }
}

impl Core {
    /// The receive path, in the kernel's order (the table in the module
    /// docs).
    fn run_input(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        now: Instant,
        from: usize,
    ) {
        let all = b.live;
        self.hook_from(snap, umem, b, Hook::Prerouting, all, now, from);
        self.route_input(snap, umem, b, now);
        self.forward(snap, umem, b, now);
        self.hook(snap, umem, b, Hook::Forward, b.forward, now);
        self.out.counters.add(
            Counter::ForwardPackets,
            (b.live & b.forward).count_ones() as u64,
        );
        self.hook(snap, umem, b, Hook::Input, b.input, now);
        self.local_deliver(snap, umem, b, now);
        self.hook(snap, umem, b, Hook::Postrouting, b.forward, now);
        self.neigh_output(snap, umem, b, now);
    }

    /// The path of packets the box generated.
    fn run_output(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        looped: &mut BatchBuf,
        now: Instant,
        from: usize,
    ) {
        self.route_output(snap, b, b.live);
        self.hook_from(snap, umem, b, Hook::Output, b.output, now, from);
        self.out.counters.add(
            Counter::OutputPackets,
            (b.live & b.output).count_ones() as u64,
        );
        self.loop_back(snap, umem, b, looped, now);
        self.hook(snap, umem, b, Hook::Postrouting, b.output, now);
        self.neigh_output(snap, umem, b, now);
    }

    /// Frees what the batch dropped and counts why; counts steals.
    fn settle(&mut self, umem: &mut Umem, b: &mut BatchBuf) {
        // Only finished packets can hold a drop or a steal: the others'
        // verdict is the Accept `load` (or the packet's earlier round,
        // where it was live) gave them.
        for i in Bits(b.finished) {
            let p = &b.pkts[i];
            match p.verdict {
                Verdict::Accept => {}
                Verdict::Drop(reason) => {
                    self.out.counters.inc(reason);
                    umem.free(p.desc);
                }
                Verdict::Stolen => self.out.counters.inc(Counter::HookStolen),
            }
        }
        debug_assert_eq!(b.live, 0, "packets left in the batch");
        b.clear();
    }

    /// After a batch: conntrack forgets the entries of packets dropped
    /// before confirm.
    fn end_batch(&mut self) {
        let gen = &self.out.gen;
        let held = |slot: u32| {
            gen.iter()
                .any(|p| matches!(p.ct, CtState::Tracked { slot: s, .. } if s == slot))
        };
        let n = self.st.conntrack.end_batch(&held);
        if n != 0 {
            self.out.counters.add(Counter::CtUnconfirmed, n as u64);
        }
    }

    /// Puts the deferred packets in `b` as a batch of their own.
    fn reload_held(&mut self, b: &mut BatchBuf) {
        b.clear();
        let n = self.held.len();
        for (slot, p) in b.pkts.iter_mut().zip(self.held.drain(..)) {
            *slot = p;
        }
        b.len = n;
        b.live = mask(n);
    }

    /// Runs generated packets through the output path, 64 at a time.
    fn drain_output(&mut self, snap: &Snapshot, umem: &mut Umem, bufs: &mut Bufs, now: Instant) {
        let Bufs {
            chunk: b, looped, ..
        } = bufs;
        let mut rounds = 0;
        while !self.out.gen.is_empty() {
            rounds += 1;
            if rounds > MAX_OUTPUT_ROUNDS {
                for p in self.out.gen.drain(..) {
                    umem.free(p.desc);
                    self.out.counters.inc(Counter::OutputQueueFull);
                }
                break;
            }
            let pending = self.out.gen.len();
            let mut done = 0;
            while done < pending {
                let n = (pending - done).min(BATCH);
                for (slot, p) in b.pkts.iter_mut().zip(self.out.gen.drain(..n)) {
                    *slot = p;
                }
                b.len = n;
                b.live = mask(n);
                b.output = b.live;
                self.run_output(snap, umem, b, looped, now, 0);
                self.settle(umem, b);
                self.end_batch();
                while !self.held.is_empty() {
                    self.reload_held(b);
                    b.output = b.live;
                    let from = hooks::conntrack_point(Hook::Output);
                    self.run_output(snap, umem, b, looped, now, from);
                    self.settle(umem, b);
                    self.end_batch();
                }
                done += n;
            }
        }
        // The answers have gone through: the unconfirmed entries they held
        // go now.
        self.st.conntrack.free_unlinked();
    }
}

#[inline]
fn mask(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}
