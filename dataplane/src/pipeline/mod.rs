//! The hook order: what happens to a batch of frames between a port's RX
//! and the ports' TX, in the kernel's order (`net/ipv4/ip_input.c`,
//! `ip_forward.c`, `ip_output.c`, `route.c`, and their IPv6 twins).
//!
//! Owns: the stage order ([`Pipeline::run_input`], [`Pipeline::run_output`]),
//! the routing decision and its re-routing, forwarding (TTL / hop limit,
//! MTU, fragmentation), the ICMP errors those send, the link-layer rewrite
//! and neighbour resolution on output, the per-worker [`Counters`], and the
//! hook interface ([`HookStage`], [`Batch`]) that rules/, conntrack/ and
//! nat/ plug into. Local delivery is [`crate::local`]'s. Touches no I/O:
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
//! | (conntrack)        | `nf_conntrack_in` — later issue          | PREROUTING −200       |
//! | mangle             | `iptable_mangle`                         | PREROUTING −150       |
//! | nat                | DNAT, `nf_nat_ipv4_pre_routing`          | PREROUTING −100       |
//! | `route_input`      | `ip_route_input_slow` (martians, FIB), `ip_error`, `ip6_route_input`, `ip6_pkt_drop` | after PREROUTING |
//! | `forward`          | `ip_forward` / `ip6_forward`: TTL, MTU, TTL decrement | before FORWARD |
//! | mangle, filter, security | `iptable_*`                        | FORWARD −150, 0, 50   |
//! | mangle, filter, security, nat | `iptable_*`, SNAT             | INPUT −150, 0, 50, 100 |
//! | (conntrack confirm) | `nf_confirm` — later issue              | INPUT last            |
//! | `local_deliver`    | `ip_local_deliver_finish`: `icmp_echo`, `ndisc_rcv`, else the punt | after INPUT |
//! | mangle, nat        | `iptable_mangle`, SNAT                   | POSTROUTING −150, 100 |
//! | (conntrack confirm) | `nf_confirm` — later issue              | POSTROUTING last      |
//! | `neigh_output`     | `ip_finish_output` (`ip_do_fragment`), `neigh_output`, `dev_queue_xmit` | after POSTROUTING |
//!
//! Packets the box generates (echo replies, ICMP errors, neighbour
//! solicitations and advertisements, and the answers hook stages send with
//! [`Batch::emit`], e.g. REJECT's), in a second pass per batch:
//!
//! | stage              | kernel                                   | hook, priority        |
//! |--------------------|------------------------------------------|-----------------------|
//! | `route_output`     | `ip_route_output_key` (the socket's lookup, before the hooks); NDP has its port fixed (`icmp6_dst_alloc`) | |
//! | raw, mangle, nat, filter, security | re-routed after mangle when the mark or destination changed (`ip_route_me_harder`), after nat when the destination changed | OUTPUT −300, −150, −100, 0, 50 |
//! | `loop_back`        | `ip_mc_output` (IPv4 broadcast routes): a copy runs POSTROUTING, then is received on the egress port: PREROUTING, INPUT, used up (`output.loopback`, `local.loopback`) | POSTROUTING, PREROUTING, INPUT |
//! | mangle, nat        |                                          | POSTROUTING −150, 100 |
//! | `neigh_output`     | as above                                 |                       |
//!
//! ARP never meets a hook (the kernel's ARP is not IP): requests for our
//! addresses are answered in `load`, straight out of the ingress port.
//!
//! With no stage registered every hook accepts everything: the kernel's
//! behaviour with empty tables.
//!
//! ## Differences from the kernel (Linux 6.x, default sysctls)
//!
//! * No ICMP redirects (the kernel sends one when a packet leaves by the
//!   port it came in on, `send_redirects` 1); no reverse-path filter (the
//!   kernel default `rp_filter` 0 is the same).
//! * IPv4 options: checked and source routes dropped as `ip_rcv_options`
//!   does (without the parameter problem it sends for bad options);
//!   record-route and timestamp options are not filled in when forwarding
//!   (`ip_forward_options`); echo replies and ICMP errors carry no options.
//! * ICMP rate limits: see [`icmp`] (deterministic global credit, a
//!   256-slot peer table, no prefix-length scaling for IPv6). Generated
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
//!   before INPUT, so INPUT rules see the whole packet there).
//! * Generated packets routed to the box itself are dropped
//!   (`output.local`; the kernel loops them back); generated IPv6 packets
//!   over the MTU, or IPv4 ones with DF, are dropped (`output.too_big`).
//! * ARP requests name the port's address on the target's network as
//!   sender (the kernel prefers the waiting packet's source when it is
//!   local); at most 3 frames wait per unresolved neighbour (the kernel
//!   bounds the queue in bytes).
//! * VLANs: no sub-interfaces yet, so, as the kernel without VLAN devices,
//!   tagged frames (VID ≠ 0) are dropped (`l2.vlan`); priority-tagged
//!   frames (VID 0) are handled as untagged and leave untagged.

pub mod batch;
pub mod counters;
pub(crate) mod icmp;
pub mod snapshot;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use sluice_config::iptables::{Hook, TableKind};

pub use batch::{Batch, Bits, CtState, EmitKind, HookCx, HookStage, Pkt, Verdict, BATCH};
pub use counters::{Counter, Counters, Kind, Ledger};
pub use snapshot::{PortConf, Snapshot};

use batch::{tables_at, BatchBuf, Hooks};
pub(crate) use batch::{Dest, L2Class};
pub(crate) use icmp::write_eth_placeholder;
use icmp::{ErrorKind, IcmpLimiter, Offender};

use crate::io::{Desc, Port, Umem};
use crate::local::{self, PuntQueue};
use crate::route::neigh::{NeighAction, NeighDrop, NeighParams, NeighTable};
use crate::route::{FlowKey, PortId, RouteResult};
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
}

impl Default for PipelineParams {
    fn default() -> Self {
        PipelineParams {
            neigh: NeighParams::default(),
            punt_capacity: 1024,
            tx_capacity: 1024,
            output_capacity: 256,
        }
    }
}

/// How many output passes one call runs at most (an echo reply may need a
/// neighbour solicitation, which is generated in turn).
const MAX_OUTPUT_ROUNDS: usize = 8;

/// Most fragments one packet is split into.
const MAX_FRAGS: usize = 64;

/// What the output side owns: borrowed apart from the neighbour table so
/// neighbour callbacks can use it.
pub(crate) struct Out {
    pub counters: Counters,
    /// Per-port TX staging queues.
    pub tx: Vec<Vec<Desc>>,
    tx_capacity: usize,
    /// Generated packets waiting for the output pass.
    pub gen: VecDeque<Pkt>,
    gen_capacity: usize,
    pub icmp: IcmpLimiter,
    /// IPv4 identification of generated packets.
    ident: u16,
    /// Next hops resolved at once in this output pass (see `l2_resolve`).
    memo: NeighMemo,
}

/// Next hops resolved at once in one output pass, as compact keys: the
/// address as a `u128` (IPv4 in the low 32 bits) and `port << 1 | is_v6`,
/// so a probe compares two integers instead of two `IpAddr` enums.
#[derive(Debug, Clone, Copy)]
struct NeighMemo {
    ip: [u128; 8],
    tag: [u32; 8],
    mac: [[u8; 6]; 8],
    len: usize,
}

impl NeighMemo {
    const fn new() -> Self {
        NeighMemo {
            ip: [0; 8],
            tag: [0; 8],
            mac: [[0; 6]; 8],
            len: 0,
        }
    }

    #[inline(always)]
    fn key(port: PortId, ip: IpAddr) -> (u128, u32) {
        match ip {
            IpAddr::V4(a) => (u128::from(u32::from(a)), u32::from(port.0) << 1),
            IpAddr::V6(a) => (u128::from(a), u32::from(port.0) << 1 | 1),
        }
    }

    #[inline(always)]
    fn get(&self, port: PortId, ip: IpAddr) -> Option<[u8; 6]> {
        let (ip, tag) = Self::key(port, ip);
        let n = self.len.min(self.ip.len());
        (0..n)
            .find(|&i| self.ip[i] == ip && self.tag[i] == tag)
            .map(|i| self.mac[i])
    }

    #[inline]
    fn insert(&mut self, port: PortId, ip: IpAddr, mac: [u8; 6]) {
        if self.len < self.ip.len() {
            let (ip, tag) = Self::key(port, ip);
            self.ip[self.len] = ip;
            self.tag[self.len] = tag;
            self.mac[self.len] = mac;
            self.len += 1;
        }
    }
}

/// One worker's pipeline. See the module docs.
pub struct Pipeline {
    snap: Arc<Snapshot>,
    macs: Box<[MacAddr]>,
    hooks: Hooks,
    neigh: NeighTable<NeighFrame>,
    out: Out,
    punt: PuntQueue,
    main: Option<Box<BatchBuf>>,
    chunk: Option<Box<BatchBuf>>,
    /// Looped-back copies of the broadcasts of one output batch.
    looped: Option<Box<BatchBuf>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("generation", &self.snap.generation)
            .field("counters", &self.out.counters)
            .finish()
    }
}

impl Pipeline {
    /// A pipeline for ports whose MAC addresses are `macs` (port `i` is
    /// `PortId(i)` of the snapshot), with default sizes.
    pub fn new(snapshot: Arc<Snapshot>, macs: Vec<MacAddr>, now: Instant) -> Pipeline {
        Pipeline::with_params(snapshot, macs, PipelineParams::default(), now)
    }

    pub fn with_params(
        snapshot: Arc<Snapshot>,
        macs: Vec<MacAddr>,
        params: PipelineParams,
        now: Instant,
    ) -> Pipeline {
        let ports = macs.len();
        Pipeline {
            snap: snapshot,
            macs: macs.into_boxed_slice(),
            hooks: Hooks::default(),
            neigh: NeighTable::new(params.neigh),
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
            },
            punt: PuntQueue::new(params.punt_capacity),
            main: Some(BatchBuf::new()),
            chunk: Some(BatchBuf::new()),
            looped: Some(BatchBuf::new()),
        }
    }

    /// Adds a hook stage at the points it declares.
    pub fn register(&mut self, stage: Box<dyn HookStage>) {
        self.hooks.register(stage);
    }

    /// Switches to a new configuration (call between batches).
    pub fn set_snapshot(&mut self, s: Arc<Snapshot>) {
        self.snap = s;
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    pub fn counters(&self) -> &Counters {
        &self.out.counters
    }

    pub fn neigh(&self) -> &NeighTable<NeighFrame> {
        &self.neigh
    }

    /// Frames for the host stack.
    pub fn punt(&mut self) -> &mut PuntQueue {
        &mut self.punt
    }

    /// The MAC address of port `p`.
    pub fn mac(&self, p: PortId) -> Option<MacAddr> {
        self.macs.get(p.index()).copied()
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
        let (out, snap) = (&mut self.out, &*self.snap);
        self.neigh.add_permanent(port, ip, mac.0, now, &mut |a| {
            out.on_neigh(umem, snap, &self.macs, a, None, now)
        });
        self.drain_output(umem, now);
    }

    /// Runs the frames `frames` received on `iif` through the pipeline, in
    /// batches of [`BATCH`]. The frames belong to the pipeline from here.
    pub fn rx(&mut self, umem: &mut Umem, iif: PortId, frames: &[Desc], now: Instant) {
        for chunk in frames.chunks(BATCH) {
            let mut b = self
                .main
                .take()
                .expect("main batch: taken only here, and rx does not re-enter");
            self.load(umem, &mut b, iif, chunk, now);
            self.run_input(umem, &mut b, now);
            self.settle(umem, &mut b);
            self.main = Some(b);
            self.drain_output(umem, now);
        }
    }

    /// Timers: neighbour retransmissions and failures. Once per poll loop
    /// turn.
    pub fn poll(&mut self, umem: &mut Umem, now: Instant) {
        let (out, snap, macs) = (&mut self.out, &*self.snap, &self.macs);
        self.neigh
            .poll(now, &mut |a| out.on_neigh(umem, snap, macs, a, None, now));
        self.drain_output(umem, now);
    }

    /// Hands the staged TX frames to the ports; frames a port refuses are
    /// dropped (`tx.ring_full`).
    pub fn flush_tx<P: Port>(&mut self, umem: &mut Umem, ports: &mut [P]) {
        for (i, q) in self.out.tx.iter_mut().enumerate() {
            if q.is_empty() {
                continue;
            }
            let Some(port) = ports.get_mut(i) else {
                for d in q.drain(..) {
                    umem.free(d);
                    self.out.counters.inc(Counter::TxRingFull);
                }
                continue;
            };
            let n = port.tx(umem, q);
            self.out.counters.add(Counter::TxFrames, n as u64);
            for d in q.drain(..).skip(n) {
                umem.free(d);
                self.out.counters.inc(Counter::TxRingFull);
            }
        }
    }

    /// The receive path, in the kernel's order (the table in the module
    /// docs).
    fn run_input(&mut self, umem: &mut Umem, b: &mut BatchBuf, now: Instant) {
        let all = b.live;
        self.hook(umem, b, Hook::Prerouting, all, now);
        self.route_input(umem, b, now);
        self.forward(umem, b, now);
        self.hook(umem, b, Hook::Forward, b.forward, now);
        self.out.counters.add(
            Counter::ForwardPackets,
            (b.live & b.forward).count_ones() as u64,
        );
        self.hook(umem, b, Hook::Input, b.input, now);
        self.local_deliver(umem, b, now);
        self.hook(umem, b, Hook::Postrouting, b.forward, now);
        self.neigh_output(umem, b, now);
    }

    /// The path of packets the box generated.
    fn run_output(&mut self, umem: &mut Umem, b: &mut BatchBuf, now: Instant) {
        self.route_output(b, b.live);
        self.hook(umem, b, Hook::Output, b.output, now);
        self.out.counters.add(
            Counter::OutputPackets,
            (b.live & b.output).count_ones() as u64,
        );
        self.loop_back(umem, b, now);
        self.hook(umem, b, Hook::Postrouting, b.output, now);
        self.neigh_output(umem, b, now);
    }

    /// `ip_mc_output` for IPv4 broadcasts the box sends (a broadcast
    /// route, subnet or limited): a copy of each goes through POSTROUTING
    /// (before the original, as a packet of its own), then
    /// `dev_loopback_xmit` receives it on the egress port. There it keeps
    /// its output route (`ip_rcv_finish` routes only packets without one:
    /// no martian checks), so it runs PREROUTING and INPUT and is then
    /// delivered to the box, which never answers it: ICMP errors are not
    /// answered, nor broadcasts to closed ports.
    fn loop_back(&mut self, umem: &mut Umem, b: &BatchBuf, now: Instant) {
        let sel = Bits(b.live & b.output)
            .filter(|&i| b.pkts[i].dest == Dest::Broadcast && b.pkts[i].meta.ip_version == 4)
            .fold(0u64, |m, i| m | (1u64 << i));
        if sel == 0 {
            return;
        }
        let mut lb = self
            .looped
            .take()
            .expect("loopback batch: taken only here, loop_back does not re-enter");
        lb.clear();
        for i in Bits(sel) {
            let p = &b.pkts[i];
            let len = p.desc.len as usize;
            let Some(mut d) = umem.alloc() else {
                self.out.counters.inc(Counter::OutputLoopbackNoBuffer);
                continue;
            };
            if !umem.set_len(&mut d, len) {
                umem.free(d);
                self.out.counters.inc(Counter::OutputLoopbackNoBuffer);
                continue;
            }
            umem.copy(p.desc, 0, d, 0, len);
            self.out.counters.inc(Counter::OutputLoopback);
            let k = lb.len;
            lb.pkts[k] = Pkt {
                desc: d,
                verdict: Verdict::Accept,
                ..*p
            };
            lb.len += 1;
            lb.live |= 1u64 << k;
        }
        lb.output = lb.live;
        let all = lb.live;
        self.hook(umem, &mut lb, Hook::Postrouting, all, now);
        // Received on the egress port (PACKET_LOOPBACK: `-m pkttype` sees
        // a broadcast).
        for i in Bits(lb.live) {
            let p = &mut lb.pkts[i];
            p.iif = p.oif;
            p.l2 = L2Class::Broadcast;
        }
        lb.output = 0;
        let all = lb.live;
        self.hook(umem, &mut lb, Hook::Prerouting, all, now);
        let snap = Arc::clone(&self.snap);
        for i in Bits(lb.live) {
            let p = &mut lb.pkts[i];
            if p.meta.dst == p.routed_with.0 {
                lb.input |= 1u64 << i;
                continue;
            }
            // DNAT dropped the route: routed as a received packet.
            let Some(iif) = p.iif else {
                lb.finish(i, Verdict::Drop(Counter::PipelineNoPort));
                continue;
            };
            p.oif = None;
            match route_packet(&snap, p, iif) {
                Ok(()) if p.dest == Dest::Forward => {
                    lb.finish(i, Verdict::Drop(Counter::ForwardNotHost))
                }
                Ok(()) => lb.input |= 1u64 << i,
                Err(Failure::Drop(c) | Failure::Icmp(c, _)) => lb.finish(i, Verdict::Drop(c)),
            }
        }
        let input = lb.input;
        self.hook(umem, &mut lb, Hook::Input, input, now);
        for i in Bits(lb.live & lb.input) {
            self.out.counters.inc(Counter::InputPackets);
            self.out.counters.inc(Counter::LocalLoopback);
            umem.free(lb.pkts[i].desc);
            lb.retire(i);
        }
        self.settle(umem, &mut lb);
        self.looped = Some(lb);
    }

    /// Runs the tables of `hook` in priority order over the live packets
    /// of `sel`. At OUTPUT, packets whose mark or destination mangle
    /// changed, or whose destination nat changed, are routed again.
    fn hook(&mut self, umem: &mut Umem, b: &mut BatchBuf, hook: Hook, sel: u64, now: Instant) {
        if !self.hooks.any_at(hook) {
            return;
        }
        let snap = Arc::clone(&self.snap);
        let cx = HookCx {
            now,
            snapshot: &snap,
        };
        for i in Bits(sel & b.live) {
            let p = &mut b.pkts[i];
            p.hook_out = p.out_port();
        }
        for &table in tables_at(hook) {
            self.hooks
                .run(hook, table, umem, b, sel & b.live, &mut self.out, &cx);
            if hook == Hook::Output && matches!(table, TableKind::Mangle | TableKind::Nat) {
                let changed = Bits(sel & b.live)
                    .filter(|&i| {
                        let p = &b.pkts[i];
                        !p.fixed_oif && (p.meta.dst, p.mark) != p.routed_with
                    })
                    .fold(0u64, |m, i| m | (1u64 << i));
                if changed != 0 {
                    self.route_output(b, changed);
                }
            }
        }
    }

    /// Frees what the batch dropped and counts why; counts steals.
    fn settle(&mut self, umem: &mut Umem, b: &mut BatchBuf) {
        for p in &b.pkts[..b.len] {
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

    /// Runs generated packets through the output path, 64 at a time.
    fn drain_output(&mut self, umem: &mut Umem, now: Instant) {
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
                let mut b = self
                    .chunk
                    .take()
                    .expect("output batch: taken only here, drain_output does not re-enter");
                let n = (pending - done).min(BATCH);
                for (slot, p) in b.pkts.iter_mut().zip(self.out.gen.drain(..n)) {
                    *slot = p;
                }
                b.len = n;
                b.live = mask(n);
                b.output = b.live;
                self.run_output(umem, &mut b, now);
                self.settle(umem, &mut b);
                self.chunk = Some(b);
                done += n;
            }
        }
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

// ---------------------------------------------------------------------------
// load: link layer, parse, ARP, pre-PREROUTING address checks.

impl Pipeline {
    fn load(
        &mut self,
        umem: &mut Umem,
        b: &mut BatchBuf,
        iif: PortId,
        frames: &[Desc],
        now: Instant,
    ) {
        self.out
            .counters
            .add(Counter::RxFrames, frames.len() as u64);
        let Some(&port_mac) = self.macs.get(iif.index()) else {
            for &d in frames {
                self.out.counters.inc(Counter::L2OtherHost);
                umem.free(d);
            }
            return;
        };
        b.clear();
        for &d in frames {
            // Parse straight into the next slot; a frame that does not
            // stay leaves the slot to the next one.
            let i = b.len;
            let slot = &mut b.pkts[i];
            match self.classify(umem, d, iif, port_mac, &mut slot.meta, now) {
                Ok(Some(l2)) => {
                    slot.desc = d;
                    slot.mark = 0;
                    slot.ct = CtState::Untracked;
                    slot.verdict = Verdict::Accept;
                    slot.iif = Some(iif);
                    slot.oif = None;
                    slot.dest = Dest::None;
                    slot.l2 = l2;
                    slot.fixed_oif = false;
                    b.len += 1;
                    b.live |= 1u64 << i;
                }
                Ok(None) => {}
                Err(reason) => {
                    self.out.counters.inc(reason);
                    umem.free(d);
                }
            }
        }
    }

    /// Parses one frame into `meta` and makes the checks the kernel makes
    /// before PREROUTING. ARP is handled here entirely (`Ok(None)`).
    #[inline]
    fn classify(
        &mut self,
        umem: &mut Umem,
        d: Desc,
        iif: PortId,
        port_mac: MacAddr,
        meta: &mut PacketMeta,
        now: Instant,
    ) -> Result<Option<L2Class>, Counter> {
        let frame = umem.bytes(d);
        wire::parse_into(frame, meta).map_err(|e| match e {
            wire::Error::Truncated => Counter::ParseTruncated,
            wire::Error::Malformed(_) => Counter::ParseMalformed,
            wire::Error::Unsupported(_) => Counter::ParseUnsupported,
            wire::Error::Checksum => Counter::ParseChecksum,
        })?;
        let dst_mac = MacAddr::from_bytes(frame);
        let l2 = if dst_mac == port_mac {
            L2Class::Host
        } else if dst_mac.is_broadcast() {
            L2Class::Broadcast
        } else if dst_mac.is_multicast() {
            L2Class::Multicast
        } else {
            return Err(Counter::L2OtherHost);
        };
        // No VLAN sub-interfaces: a tagged frame is for a VLAN device that
        // does not exist (vlan_do_receive marks it PACKET_OTHERHOST); a
        // priority tag (VID 0) is no VLAN and is handled as untagged.
        if meta.vlan_count != 0
            && meta.vlan_ids[..meta.vlan_count as usize]
                .iter()
                .any(|&v| v != 0)
        {
            return Err(Counter::L2Vlan);
        }
        match meta.ip_version {
            0 => {
                self.arp_input(umem, d, meta, iif, l2, now);
                Ok(None)
            }
            6 => {
                check_ipv6_addresses(meta)?;
                Ok(Some(l2))
            }
            _ => Ok(Some(l2)),
        }
    }

    fn arp_input(
        &mut self,
        umem: &mut Umem,
        mut d: Desc,
        meta: &PacketMeta,
        iif: PortId,
        l2: L2Class,
        now: Instant,
    ) {
        let port_mac = self.macs[iif.index()];
        let snap = &*self.snap;
        let outcome = local::arp::process(
            umem.bytes_mut(d),
            meta,
            snap,
            iif,
            port_mac,
            l2 == L2Class::Host,
        );
        let (out, macs) = (&mut self.out, &self.macs);
        let mut learn = |n: &mut NeighTable<NeighFrame>, ip, mac: MacAddr, kind| {
            n.arp_input(iif, IpAddr::V4(ip), mac.0, kind, now, &mut |a| {
                out.on_neigh(umem, snap, macs, a, None, now)
            });
        };
        match outcome {
            local::arp::Outcome::Invalid => {
                self.out.counters.inc(Counter::ArpInvalid);
                umem.free(d);
            }
            local::arp::Outcome::Consumed(l) => {
                if let Some((ip, mac, kind)) = l {
                    learn(&mut self.neigh, ip, mac, kind);
                }
                self.out.counters.inc(Counter::ArpConsumed);
                umem.free(d);
            }
            local::arp::Outcome::Reply { dst_mac, learn: l } => {
                if let Some((ip, mac, kind)) = l {
                    learn(&mut self.neigh, ip, mac, kind);
                }
                // The reply was written at the ARP header's place; put an
                // Ethernet header in front and send it back.
                let l3 = meta.l3_off as usize;
                if l2_prepare(
                    umem,
                    &mut d,
                    l3,
                    wire::arp::PACKET_LEN,
                    EtherType::ARP,
                    port_mac,
                ) {
                    umem.bytes_mut(d)[..6].copy_from_slice(&dst_mac.0);
                    self.out.counters.inc(Counter::ArpReplySent);
                    self.out.tx_push(umem, iif, d);
                } else {
                    self.out.counters.inc(Counter::ArpInvalid);
                    umem.free(d);
                }
            }
        }
    }
}

/// `ip6_rcv_core`'s address checks (RFC 4291 §2.5.3, §2.7): no loopback
/// source or destination from a wire, no interface-local or
/// reserved-scope multicast destination, no multicast source.
fn check_ipv6_addresses(meta: &PacketMeta) -> Result<(), Counter> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (meta.src, meta.dst) else {
        return Ok(());
    };
    if s.is_loopback() || s.is_multicast() {
        return Err(Counter::InputMartianSource);
    }
    if d.is_loopback() {
        return Err(Counter::InputMartianDest);
    }
    if d.is_multicast() && matches!(d.segments()[0] & 0x000f, 0 | 1) {
        return Err(Counter::InputMartianDest);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// route_input: the routing decision after PREROUTING.

impl Pipeline {
    fn route_input(&mut self, umem: &mut Umem, b: &mut BatchBuf, now: Instant) {
        let snap = Arc::clone(&self.snap);
        for i in Bits(b.live) {
            let Some(iif) = b.pkts[i].iif else {
                b.finish(i, Verdict::Drop(Counter::PipelineNoPort));
                continue;
            };
            let p = &mut b.pkts[i];
            let r = match (p.meta.src, p.meta.dst) {
                (IpAddr::V4(_), IpAddr::V4(_))
                    if p.meta.l4_off - p.meta.l3_off > wire::ipv4::HEADER_LEN as u16 =>
                {
                    match ipv4_options(umem.bytes(p.desc), &p.meta) {
                        Err(c) => Err(Failure::Drop(c)),
                        Ok(()) => route_packet(&snap, p, iif),
                    }
                }
                (IpAddr::V4(s), IpAddr::V4(d)) => route_v4(&snap, p, s, d, iif),
                (IpAddr::V6(s), IpAddr::V6(d)) => route_v6(&snap, p, s, d, iif),
                _ => Err(Failure::Drop(Counter::ParseMalformed)),
            };
            match r {
                Ok(()) => match p.dest {
                    Dest::Forward => b.forward |= 1u64 << i,
                    _ => b.input |= 1u64 << i,
                },
                Err(Failure::Drop(c)) => b.finish(i, Verdict::Drop(c)),
                Err(Failure::Icmp(c, kind)) => {
                    let p = b.pkts[i];
                    if p.meta.ip_version == 4 {
                        // ip_error's own limit, per source.
                        if self.out.icmp.ip_error_allow(p.meta.src, now) {
                            self.out.icmp_error(umem, &snap, &p, kind, now);
                        } else {
                            self.out.counters.inc(Counter::IcmpRatelimited);
                        }
                    } else {
                        self.out.icmp_error(umem, &snap, &p, kind, now);
                    }
                    b.finish(i, Verdict::Drop(c));
                }
            }
        }
    }
}

/// `ip_rcv_options` (after PREROUTING, before routing) with the default
/// sysctls: options that do not parse are dropped (the kernel also sends
/// a parameter problem, sluice does not), and so are source-routed
/// packets (`accept_source_route` 0).
#[cold]
fn ipv4_options(frame: &[u8], meta: &PacketMeta) -> Result<(), Counter> {
    const LSRR: u8 = 131;
    const SSRR: u8 = 137;
    let l3 = meta.l3_off as usize;
    let ip = wire::ipv4::Packet::new_unchecked(frame.get(l3..).unwrap_or(&[]));
    for o in ip.options_iter() {
        match o {
            Err(_) => return Err(Counter::InputBadOptions),
            Ok(wire::ipv4::Ipv4Option::Other { kind, .. }) if kind == LSRR || kind == SSRR => {
                return Err(Counter::InputSourceRoute)
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// [`route_v4`] / [`route_v6`] by family.
fn route_packet(snap: &Snapshot, p: &mut Pkt, iif: PortId) -> Result<(), Failure> {
    match (p.meta.src, p.meta.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => route_v4(snap, p, s, d, iif),
        (IpAddr::V6(s), IpAddr::V6(d)) => route_v6(snap, p, s, d, iif),
        _ => Err(Failure::Drop(Counter::ParseMalformed)),
    }
}

/// Why routing refused a packet.
enum Failure {
    Drop(Counter),
    /// Dropped, and an ICMP error of this kind is due.
    Icmp(Counter, ErrorKind),
}

/// `ip_route_input_slow` for IPv4: the martian checks, the policy lookup,
/// and what each route type does to a received packet.
#[inline]
fn route_v4(
    snap: &Snapshot,
    p: &mut Pkt,
    s: Ipv4Addr,
    d: Ipv4Addr,
    iif: PortId,
) -> Result<(), Failure> {
    use Counter::*;
    let martian_src = Err(Failure::Drop(InputMartianSource));
    if d.is_multicast() {
        // ip_route_input_mc: only the groups the port joined.
        if s.is_multicast() || s.is_broadcast() || s.is_loopback() {
            return martian_src;
        }
        if d != snapshot::ALL_SYSTEMS {
            return Err(Failure::Drop(InputMcastNotJoined));
        }
        p.dest = Dest::Multicast;
        return Ok(());
    }
    if s.is_multicast() || s.is_broadcast() {
        return martian_src;
    }
    if d.is_broadcast() || (s.is_unspecified() && d.is_unspecified()) {
        p.dest = Dest::Broadcast;
        return Ok(());
    }
    if s.octets()[0] == 0 {
        return martian_src;
    }
    if d.octets()[0] == 0 || d.is_loopback() {
        return Err(Failure::Drop(InputMartianDest));
    }
    if s.is_loopback() {
        return martian_src;
    }
    let key = FlowKey::forward(IpAddr::V4(s), IpAddr::V4(d), iif).with_mark(p.mark);
    let r = snap.router.lookup(&key);
    // fib_validate_source with rp_filter off: a source that is one of our
    // own addresses is a martian.
    if matches!(
        r,
        RouteResult::Local | RouteResult::Broadcast { .. } | RouteResult::Forward { .. }
    ) && snap.is_own_v4(s)
    {
        return martian_src;
    }
    p.routed_with = (IpAddr::V4(d), p.mark);
    match r {
        RouteResult::Local => p.dest = Dest::Local,
        RouteResult::Broadcast { .. } => p.dest = Dest::Broadcast,
        // Rebuilt from its four bytes: copying the whole `IpAddr` just
        // written by the lookup stalls on store forwarding.
        RouteResult::Forward {
            port,
            next_hop: IpAddr::V4(nh),
        } => {
            p.dest = Dest::Forward;
            p.oif = Some(port);
            p.next_hop = IpAddr::V4(nh);
        }
        RouteResult::Forward { .. } => return Err(Failure::Drop(RouteNoRoute)),
        // ip_error: ENETUNREACH, EHOSTUNREACH, EACCES, EINVAL.
        RouteResult::NoRoute => return Err(Failure::Icmp(RouteNoRoute, ErrorKind::NetUnreachable)),
        RouteResult::Unreachable => {
            return Err(Failure::Icmp(RouteUnreachable, ErrorKind::HostUnreachable))
        }
        RouteResult::Prohibit => return Err(Failure::Icmp(RouteProhibit, ErrorKind::Prohibited)),
        RouteResult::Blackhole => return Err(Failure::Drop(RouteBlackhole)),
    }
    Ok(())
}

/// `ip6_route_input` and the route types' input functions
/// (`ip6_pkt_discard`: no route, `ip6_pkt_prohibit`, blackhole).
#[inline]
fn route_v6(
    snap: &Snapshot,
    p: &mut Pkt,
    s: Ipv6Addr,
    d: Ipv6Addr,
    iif: PortId,
) -> Result<(), Failure> {
    use Counter::*;
    if d.is_multicast() {
        let joined = snap.port(iif).is_some_and(|c| c.joined_v6(d));
        if !joined {
            return Err(Failure::Drop(InputMcastNotJoined));
        }
        p.dest = Dest::Multicast;
        return Ok(());
    }
    let key = FlowKey::forward(IpAddr::V6(s), IpAddr::V6(d), iif).with_mark(p.mark);
    p.routed_with = (p.meta.dst, p.mark);
    match snap.router.lookup(&key) {
        RouteResult::Local | RouteResult::Broadcast { .. } => p.dest = Dest::Local,
        RouteResult::Forward { port, next_hop } => {
            p.dest = Dest::Forward;
            p.oif = Some(port);
            p.next_hop = next_hop;
        }
        RouteResult::NoRoute => return Err(Failure::Icmp(RouteNoRoute, ErrorKind::NetUnreachable)),
        RouteResult::Unreachable => {
            return Err(Failure::Icmp(RouteUnreachable, ErrorKind::NetUnreachable))
        }
        RouteResult::Prohibit => return Err(Failure::Icmp(RouteProhibit, ErrorKind::Prohibited)),
        RouteResult::Blackhole => return Err(Failure::Drop(RouteBlackhole)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// forward: ip_forward / ip6_forward up to the FORWARD hook.

impl Pipeline {
    fn forward(&mut self, umem: &mut Umem, b: &mut BatchBuf, now: Instant) {
        let snap = Arc::clone(&self.snap);
        for i in Bits(b.live & b.forward) {
            let Some(oif) = b.pkts[i].oif else {
                b.finish(i, Verdict::Drop(Counter::PipelineNoPort));
                continue;
            };
            let p = &b.pkts[i];
            let mtu = snap.port(oif).map_or(0, |c| c.mtu as usize);
            let v6 = p.meta.ip_version == 6;
            let ip_len = p.meta.ip_len as usize;
            let fail = if p.l2 != L2Class::Host {
                Some((Counter::ForwardNotHost, None))
            } else if p.meta.ttl <= 1 {
                Some((Counter::ForwardTtlExceeded, Some(ErrorKind::TimeExceeded)))
            } else if v6 {
                // "This check is security critical": never forward from a
                // link-local, loopback or multicast source; sluice also
                // does not forward to a link-local destination.
                let (IpAddr::V6(s), IpAddr::V6(d)) = (p.meta.src, p.meta.dst) else {
                    // The parser never mixes families; a stage that did is
                    // a counted drop, not a panic.
                    b.finish(i, Verdict::Drop(Counter::ParseMalformed));
                    continue;
                };
                let mtu = mtu.max(1280);
                if is_link_local(s) || s.is_loopback() || s.is_multicast() || is_link_local(d) {
                    Some((Counter::ForwardLinkLocal, None))
                } else if ip_len > mtu {
                    Some((
                        Counter::ForwardTooBig,
                        Some(ErrorKind::PacketTooBig(mtu as u32)),
                    ))
                } else {
                    None
                }
            } else if ip_len > mtu && p.meta.dont_frag {
                Some((
                    Counter::ForwardFragNeeded,
                    Some(ErrorKind::FragNeeded(mtu as u16)),
                ))
            } else {
                None
            };
            if let Some((reason, error)) = fail {
                if let Some(kind) = error {
                    self.out.icmp_error(umem, &snap, &b.pkts[i], kind, now);
                }
                b.finish(i, Verdict::Drop(reason));
                continue;
            }
            // The TTL decrement, after the checks (ip_decrease_ttl).
            let l3 = p.meta.l3_off as usize;
            let frame = umem.bytes_mut(p.desc);
            let ttl = if v6 {
                wire::ipv6::Packet::new_unchecked(&mut frame[l3..]).decrement_hop_limit()
            } else {
                wire::ipv4::Packet::new_unchecked(&mut frame[l3..]).decrement_ttl()
            };
            b.pkts[i].meta.ttl = ttl;
        }
    }
}

fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

// ---------------------------------------------------------------------------
// local_deliver: after INPUT.

impl Pipeline {
    fn local_deliver(&mut self, umem: &mut Umem, b: &mut BatchBuf, now: Instant) {
        let snap = Arc::clone(&self.snap);
        for i in Bits(b.live & b.input) {
            self.out.counters.inc(Counter::InputPackets);
            let p = b.pkts[i];
            let Some(iif) = p.iif else {
                b.finish(i, Verdict::Drop(Counter::PipelineNoPort));
                continue;
            };
            let mac = self.macs[iif.index()];
            let to_group = matches!(p.dest, Dest::Broadcast | Dest::Multicast);
            let ident = self.out.next_ident();
            match local::deliver(umem, p.desc, &p.meta, &snap, iif, mac, to_group, ident) {
                local::Delivery::Punt => {
                    if self.punt.push(p.desc, iif) {
                        self.out.counters.inc(Counter::LocalPunted);
                        b.retire(i);
                    } else {
                        b.finish(i, Verdict::Drop(Counter::LocalPuntFull));
                    }
                }
                local::Delivery::Drop(c) => b.finish(i, Verdict::Drop(c)),
                local::Delivery::Reply { desc, info, fixed } => {
                    self.out.counters.inc(info);
                    b.retire(i);
                    let Ok(meta) = wire::parse(umem.bytes(desc)) else {
                        debug_assert!(false, "a reply the box built does not parse");
                        self.out.counters.inc(Counter::OutputQueueFull);
                        umem.free(desc);
                        continue;
                    };
                    let mut g = Pkt::generated(desc, meta);
                    if fixed {
                        g.fixed_oif = true;
                        g.dest = Dest::Forward;
                        g.oif = Some(iif);
                        g.next_hop = meta.dst;
                    }
                    self.out.push_generated(umem, g);
                }
                local::Delivery::Solicited {
                    desc,
                    learn,
                    needs_entry,
                } => {
                    // ndisc_recv_ns: learn the sender first, then answer;
                    // a multicast NS without a link-layer address from an
                    // unknown sender gets no answer.
                    let src = p.meta.src;
                    if let Some((ip, mac)) = learn {
                        let (out, macs) = (&mut self.out, &self.macs);
                        self.neigh.ndisc_input(
                            iif,
                            IpAddr::V6(ip),
                            mac.0,
                            crate::route::neigh::NdInput::Solicitation,
                            now,
                            &mut |a| out.on_neigh(umem, &snap, macs, a, None, now),
                        );
                    } else if needs_entry && self.neigh.get(iif, src).is_none() {
                        b.finish(i, Verdict::Drop(Counter::NdInvalid));
                        continue;
                    }
                    self.out.counters.inc(Counter::NdNaSent);
                    b.retire(i);
                    let Ok(meta) = wire::parse(umem.bytes(desc)) else {
                        debug_assert!(false, "an advertisement the box built does not parse");
                        self.out.counters.inc(Counter::OutputQueueFull);
                        umem.free(desc);
                        continue;
                    };
                    let mut g = Pkt::generated(desc, meta);
                    g.fixed_oif = true;
                    g.dest = Dest::Forward;
                    g.oif = Some(iif);
                    g.next_hop = meta.dst;
                    self.out.push_generated(umem, g);
                }
                local::Delivery::Advert {
                    target,
                    mac,
                    solicited,
                    override_flag,
                } => {
                    // ndisc_recv_na: only known, not failed, neighbours.
                    let ip = IpAddr::V6(target);
                    let known = self
                        .neigh
                        .get(iif, ip)
                        .filter(|n| n.state != crate::route::neigh::NeighState::Failed);
                    let mac = known.and_then(|n| mac.map(|m| m.0).or(n.mac));
                    match (known, mac) {
                        (Some(_), Some(mac)) => {
                            let (out, macs) = (&mut self.out, &self.macs);
                            self.neigh.ndisc_input(
                                iif,
                                ip,
                                mac,
                                crate::route::neigh::NdInput::Advertisement {
                                    solicited,
                                    override_flag,
                                },
                                now,
                                &mut |a| out.on_neigh(umem, &snap, macs, a, None, now),
                            );
                            self.out.counters.inc(Counter::NdNaProcessed);
                            umem.free(p.desc);
                            b.retire(i);
                        }
                        _ => b.finish(i, Verdict::Drop(Counter::NdNaIgnored)),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// route_output: the routing decision for generated packets.

impl Pipeline {
    fn route_output(&mut self, b: &mut BatchBuf, sel: u64) {
        let snap = &*self.snap;
        for i in Bits(sel & b.live) {
            let p = &mut b.pkts[i];
            if p.fixed_oif {
                continue;
            }
            if p.dest == Dest::Forward && p.routed_with == (p.meta.dst, p.mark) {
                // Routed when it was made (ICMP errors pick their source
                // from the route).
                continue;
            }
            let key = FlowKey::output(p.meta.dst)
                .with_src(p.meta.src)
                .with_mark(p.mark);
            p.routed_with = (p.meta.dst, p.mark);
            match snap.router.lookup(&key) {
                RouteResult::Forward { port, next_hop } => {
                    p.dest = Dest::Forward;
                    p.oif = Some(port);
                    p.next_hop = next_hop;
                }
                RouteResult::Broadcast { port } => {
                    p.dest = Dest::Broadcast;
                    p.oif = Some(port);
                    p.next_hop = p.meta.dst;
                }
                RouteResult::Local => b.finish(i, Verdict::Drop(Counter::OutputLocal)),
                _ => b.finish(i, Verdict::Drop(Counter::OutputNoRoute)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// neigh_output: fragmentation, the link-layer header, neighbour resolution.

impl Pipeline {
    fn neigh_output(&mut self, umem: &mut Umem, b: &mut BatchBuf, now: Instant) {
        let snap = Arc::clone(&self.snap);
        self.out.memo.len = 0;
        for i in Bits(b.live & (b.forward | b.output)) {
            b.retire(i);
            let p = &b.pkts[i];
            let (Some(oif), Some(&src_mac)) = (p.oif, p.oif.and_then(|o| self.macs.get(o.index())))
            else {
                b.finish(i, Verdict::Drop(Counter::OutputNoRoute));
                continue;
            };
            let mtu = snap.port(oif).map_or(0, |c| c.mtu as usize);
            let v6 = p.meta.ip_version == 6;
            let (ethertype, limit) = if v6 {
                (EtherType::IPV6, mtu.max(1280))
            } else {
                (EtherType::IPV4, mtu)
            };
            let ip_len = p.meta.ip_len as usize;
            if ip_len > limit {
                self.oversized(umem, b, i, &snap, oif, limit, src_mac, now);
                continue;
            }
            let mut d = p.desc;
            let dst = p.meta.dst;
            let broadcast = p.dest == Dest::Broadcast;
            let next_hop = p.next_hop;
            let generated = p.iif.is_none();
            if !l2_prepare(
                umem,
                &mut d,
                p.meta.l3_off as usize,
                ip_len,
                ethertype,
                src_mac,
            ) {
                self.out.counters.inc(Counter::OutputTooBig);
                umem.free(d);
                continue;
            }
            self.out.l2_resolve(
                umem,
                &mut self.neigh,
                &snap,
                &self.macs,
                oif,
                dst,
                broadcast,
                next_hop,
                NeighFrame { desc: d, generated },
                now,
            );
        }
    }

    /// A packet larger than the egress MTU: IPv4 without DF is fragmented
    /// (`ip_fragment` → `ip_do_fragment`) and each fragment sent; anything
    /// else is dropped (forwarded packets were checked before FORWARD, so
    /// this is a generated packet or one a stage made bigger).
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn oversized(
        &mut self,
        umem: &mut Umem,
        b: &mut BatchBuf,
        i: usize,
        snap: &Snapshot,
        oif: PortId,
        limit: usize,
        src_mac: MacAddr,
        now: Instant,
    ) {
        let p = b.pkts[i];
        let generated = p.iif.is_none();
        let v6 = p.meta.ip_version == 6;
        if v6 || p.meta.dont_frag {
            let c = if generated {
                Counter::OutputTooBig
            } else if v6 {
                Counter::ForwardTooBig
            } else {
                Counter::ForwardFragNeeded
            };
            b.finish(i, Verdict::Drop(c));
            return;
        }
        let mut frags = [Desc::default(); MAX_FRAGS];
        let n = match fragment(umem, p.desc, &p.meta, limit, &mut frags) {
            Ok(n) => n,
            Err(c) => {
                b.finish(i, Verdict::Drop(c));
                return;
            }
        };
        self.out.counters.inc(Counter::FragPackets);
        self.out.counters.add(Counter::FragCreated, (n - 1) as u64);
        for (k, d) in frags[..n].iter_mut().enumerate() {
            // Fragments beyond the first have their IP header at 14.
            let at = if k == 0 {
                p.meta.l3_off as usize
            } else {
                ethernet::HEADER_LEN
            };
            let len = wire::ipv4::Packet::new_unchecked(&umem.bytes(*d)[at..]).total_len() as usize;
            if !l2_prepare(umem, d, at, len, EtherType::IPV4, src_mac) {
                self.out.counters.inc(Counter::OutputTooBig);
                umem.free(*d);
                continue;
            }
            self.out.l2_resolve(
                umem,
                &mut self.neigh,
                snap,
                &self.macs,
                oif,
                p.meta.dst,
                p.dest == Dest::Broadcast,
                p.next_hop,
                NeighFrame {
                    desc: *d,
                    generated,
                },
                now,
            );
        }
    }
}

/// Puts a 14-byte Ethernet header (source `src`, type `ethertype`, a zero
/// destination) right in front of the `len`-byte L3 packet at offset `l3`
/// of `d`, and trims the frame to header + packet: VLAN priority tags and
/// link-layer padding go.
fn l2_prepare(
    umem: &mut Umem,
    d: &mut Desc,
    l3: usize,
    len: usize,
    ethertype: EtherType,
    src: MacAddr,
) -> bool {
    let Some(start) = l3.checked_sub(ethernet::HEADER_LEN) else {
        return false;
    };
    if l3 + len > d.len as usize || !umem.adjust_head(d, start as isize) {
        return false;
    }
    d.len = (ethernet::HEADER_LEN + len) as u32;
    let f = umem.bytes_mut(*d);
    f[..6].fill(0);
    f[6..12].copy_from_slice(&src.0);
    f[12..14].copy_from_slice(&ethertype.0.to_be_bytes());
    true
}

/// The link-layer destination of a group address: IPv4 broadcast, IPv4
/// multicast (RFC 1112 §6.4), IPv6 multicast (RFC 2464 §7).
fn group_mac(dst: IpAddr, broadcast: bool) -> Option<MacAddr> {
    match dst {
        _ if broadcast => Some(MacAddr::BROADCAST),
        IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
        }
        IpAddr::V4(a) if a.is_broadcast() => Some(MacAddr::BROADCAST),
        IpAddr::V6(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]))
        }
        _ => None,
    }
}

/// `ip_do_fragment` (its slow path): splits the IPv4 packet of `d` into
/// fragments of at most `mtu` bytes. The first fragment stays in `d`;
/// the others go to new frames with their IP header at offset 14. Options
/// without the copied flag become NOPs in all but the first fragment
/// (`ip_options_fragment`). Returns the fragment count.
fn fragment(
    umem: &mut Umem,
    d: Desc,
    meta: &PacketMeta,
    mtu: usize,
    out: &mut [Desc; MAX_FRAGS],
) -> Result<usize, Counter> {
    let l3 = meta.l3_off as usize;
    let (hlen, total, flags_off) = {
        let ip = wire::ipv4::Packet::new_unchecked(&umem.bytes(d)[l3..]);
        (ip.header_len(), ip.total_len() as usize, ip.frag_offset())
    };
    let space = mtu
        .checked_sub(hlen)
        .filter(|s| *s >= 8)
        .ok_or(Counter::OutputTooBig)?;
    let data = total - hlen;
    // Piece lengths: full pieces are multiples of 8.
    let piece = space & !7;
    let count = data.div_ceil(piece);
    if count > MAX_FRAGS {
        return Err(Counter::OutputTooBig);
    }
    let mut hdr = [0u8; wire::ipv4::MAX_HEADER_LEN];
    hdr[..hlen].copy_from_slice(&umem.bytes(d)[l3..l3 + hlen]);
    nop_uncopied_options(&mut hdr[wire::ipv4::HEADER_LEN..hlen]);
    let orig_mf = meta.more_frags;
    for k in 1..count {
        let off = k * piece;
        let len = piece.min(data - off);
        let Some(mut f) = umem.alloc() else {
            for g in &out[1..k] {
                umem.free(*g);
            }
            return Err(Counter::FragNoBuffer);
        };
        let at = ethernet::HEADER_LEN;
        if !umem.set_len(&mut f, at + hlen + len) {
            umem.free(f);
            for g in &out[1..k] {
                umem.free(*g);
            }
            return Err(Counter::FragNoBuffer);
        }
        umem.copy(d, l3 + hlen + off, f, at + hlen, len);
        let buf = umem.bytes_mut(f);
        buf[at..at + hlen].copy_from_slice(&hdr[..hlen]);
        let mut ip = wire::ipv4::Packet::new_unchecked(&mut buf[at..]);
        ip.set_total_len((hlen + len) as u16);
        ip.set_frag_offset(flags_off + off as u16);
        ip.set_more_frags(k + 1 < count || orig_mf);
        ip.set_dont_frag(false);
        ip.fill_checksum();
        out[k] = f;
    }
    // The first fragment: the original frame, cut.
    let buf = umem.bytes_mut(d);
    let mut ip = wire::ipv4::Packet::new_unchecked(&mut buf[l3..]);
    ip.set_total_len((hlen + piece) as u16);
    ip.set_more_frags(true);
    ip.fill_checksum();
    let mut first = d;
    first.len = (l3 + hlen + piece) as u32;
    out[0] = first;
    Ok(count)
}

/// `ip_options_fragment`: options without the copied flag become NOPs.
fn nop_uncopied_options(opts: &mut [u8]) {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            wire::ipv4::OPT_END => return,
            wire::ipv4::OPT_NOP => i += 1,
            kind => {
                let Some(&len) = opts.get(i + 1) else { return };
                let len = len as usize;
                if len < 2 || i + len > opts.len() {
                    return;
                }
                if kind & 0x80 == 0 {
                    opts[i..i + len].fill(wire::ipv4::OPT_NOP);
                }
                i += len;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The output side: TX staging, neighbour actions, generated packets, ICMP.

impl Out {
    #[inline]
    fn tx_push(&mut self, umem: &mut Umem, port: PortId, d: Desc) {
        match self.tx.get_mut(port.index()) {
            Some(q) if q.len() < self.tx_capacity => q.push(d),
            _ => {
                self.counters.inc(Counter::TxQueueFull);
                umem.free(d);
            }
        }
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// Queues a generated packet for the output pass.
    fn push_generated(&mut self, umem: &mut Umem, p: Pkt) {
        if self.gen.len() < self.gen_capacity {
            self.gen.push_back(p);
        } else {
            self.counters.inc(Counter::OutputQueueFull);
            umem.free(p.desc);
        }
    }

    /// Sends the prepared frame `f` out of `oif`: to a group address at
    /// once, to a unicast next hop through the neighbour table. Within one
    /// output pass, a next hop the table answered at once is remembered
    /// (the memo): later frames to it get the same address without asking
    /// again, which changes nothing but the table's lookup count — the
    /// same `now` would give the same answer.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn l2_resolve(
        &mut self,
        umem: &mut Umem,
        neigh: &mut NeighTable<NeighFrame>,
        snap: &Snapshot,
        macs: &[MacAddr],
        oif: PortId,
        dst: IpAddr,
        broadcast: bool,
        next_hop: IpAddr,
        f: NeighFrame,
        now: Instant,
    ) {
        // The common cases inline (a group address, a next hop already in
        // the memo); asking the neighbour table out of line.
        if let Some(mac) = group_mac(dst, broadcast) {
            umem.bytes_mut(f.desc)[..6].copy_from_slice(&mac.0);
            self.tx_push(umem, oif, f.desc);
            return;
        }
        if let Some(mac) = self.memo.get(oif, next_hop) {
            umem.bytes_mut(f.desc)[..6].copy_from_slice(&mac);
            self.tx_push(umem, oif, f.desc);
            return;
        }
        self.l2_resolve_neigh(umem, neigh, snap, macs, oif, next_hop, f, now);
    }

    /// [`Out::l2_resolve`] for a unicast next hop not in the memo.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn l2_resolve_neigh(
        &mut self,
        umem: &mut Umem,
        neigh: &mut NeighTable<NeighFrame>,
        snap: &Snapshot,
        macs: &[MacAddr],
        oif: PortId,
        next_hop: IpAddr,
        f: NeighFrame,
        now: Instant,
    ) {
        let mut handled = false;
        let mut sent_to = None;
        neigh.resolve(oif, next_hop, f, now, &mut |a| {
            if action_frame(&a) == Some(f.desc) {
                handled = true;
                if let NeighAction::Transmit { mac, .. } = &a {
                    sent_to = Some(*mac);
                }
            }
            self.on_neigh(umem, snap, macs, a, Some(f.desc), now)
        });
        if !handled {
            self.counters.neigh_queued += 1;
        }
        if let Some(mac) = sent_to {
            self.memo.insert(oif, next_hop, mac);
        }
    }

    /// Does what the neighbour table asks. `current` is the frame being
    /// resolved, if any: other frames come out of the table's queues.
    fn on_neigh(
        &mut self,
        umem: &mut Umem,
        snap: &Snapshot,
        macs: &[MacAddr],
        a: NeighAction<NeighFrame>,
        current: Option<Desc>,
        now: Instant,
    ) {
        match a {
            NeighAction::Transmit { port, mac, frame } => {
                if current != Some(frame.desc) {
                    self.counters.neigh_queued = self.counters.neigh_queued.saturating_sub(1);
                }
                umem.bytes_mut(frame.desc)[..6].copy_from_slice(&mac);
                self.tx_push(umem, port, frame.desc);
            }
            NeighAction::Drop { frame, reason, .. } => {
                if current != Some(frame.desc) {
                    self.counters.neigh_queued = self.counters.neigh_queued.saturating_sub(1);
                }
                self.counters.inc(match reason {
                    NeighDrop::QueueFull => Counter::NeighUnresDiscard,
                    NeighDrop::Failed => Counter::NeighResFailed,
                    NeighDrop::TableFull => Counter::NeighTableFull,
                });
                if reason == NeighDrop::Failed && !frame.generated {
                    // arp_error_report / ndisc_error_report: host
                    // (address) unreachable to the source.
                    if let Ok(meta) = wire::parse(umem.bytes(frame.desc)) {
                        let p = Pkt {
                            desc: frame.desc,
                            meta,
                            dest: Dest::Forward,
                            ..Pkt::EMPTY
                        };
                        self.icmp_error(umem, snap, &p, ErrorKind::HostUnreachable, now);
                    }
                }
                umem.free(frame.desc);
            }
            NeighAction::Solicit {
                port,
                target,
                unicast,
            } => {
                let Some(&mac) = macs.get(port.index()) else {
                    return;
                };
                match target {
                    IpAddr::V4(t) => {
                        let Some(d) =
                            local::arp::request(umem, snap, port, mac, t, unicast.map(MacAddr))
                        else {
                            self.counters.inc(Counter::NeighNoBuffer);
                            return;
                        };
                        self.counters.inc(Counter::NeighArpRequest);
                        self.tx_push(umem, port, d);
                    }
                    IpAddr::V6(t) => {
                        if self.gen.len() >= self.gen_capacity {
                            self.counters.inc(Counter::NeighNoBuffer);
                            return;
                        }
                        let Some((d, meta)) =
                            local::nd::solicit(umem, snap, port, mac, t, unicast.is_some())
                        else {
                            self.counters.inc(Counter::NeighNoBuffer);
                            return;
                        };
                        self.counters.inc(Counter::NeighNs);
                        let mut g = Pkt::generated(d, meta);
                        g.fixed_oif = true;
                        g.dest = Dest::Forward;
                        g.oif = Some(port);
                        g.next_hop = meta.dst;
                        self.gen.push_back(g);
                    }
                }
            }
        }
    }
}

/// The frame a neighbour action is about, if any.
fn action_frame(a: &NeighAction<NeighFrame>) -> Option<Desc> {
    match a {
        NeighAction::Transmit { frame, .. } | NeighAction::Drop { frame, .. } => Some(frame.desc),
        NeighAction::Solicit { .. } => None,
    }
}

impl Out {
    /// [`Batch::emit`]: queues a frame a hook stage built for the output
    /// pass, after the ICMP rate limits for an ICMP error.
    pub(crate) fn emit(
        &mut self,
        umem: &mut Umem,
        frame: &[u8],
        kind: EmitKind,
        counter: Counter,
        now: Instant,
    ) -> bool {
        let Ok(meta) = wire::parse(frame) else {
            debug_assert!(false, "a frame a stage built does not parse");
            return false;
        };
        if !meta.is_ip() {
            return false;
        }
        if kind == EmitKind::IcmpError {
            // icmp_send: the global bucket, then (after routing) the
            // destination's; destination unreachable is in icmp_ratemask.
            let v6 = meta.ip_version == 6;
            let allowed = self
                .icmp
                .global(ErrorKind::HostUnreachable, v6, now)
                .is_some_and(|apply| self.icmp.peer_allow(apply, meta.dst, now));
            if !allowed {
                self.counters.inc(Counter::IcmpRatelimited);
                return false;
            }
        }
        if self.gen.len() >= self.gen_capacity {
            self.counters.inc(Counter::HookEmitNoBuffer);
            return false;
        }
        let Some(mut d) = umem.alloc() else {
            self.counters.inc(Counter::HookEmitNoBuffer);
            return false;
        };
        if !umem.set_len(&mut d, frame.len()) {
            umem.free(d);
            self.counters.inc(Counter::HookEmitNoBuffer);
            return false;
        }
        umem.bytes_mut(d).copy_from_slice(frame);
        let mut meta = meta;
        if kind == EmitKind::IcmpError && meta.ip_version == 4 {
            let ident = self.next_ident();
            let l3 = meta.l3_off as usize;
            let mut ip = wire::ipv4::Packet::new_unchecked(&mut umem.bytes_mut(d)[l3..]);
            ip.set_ident(ident);
            ip.fill_checksum();
            meta.ident = u32::from(ident);
        }
        self.counters.inc(counter);
        self.gen.push_back(Pkt::generated(d, meta));
        true
    }

    /// Sends an ICMP / ICMPv6 error of `kind` about packet `p` (whose frame
    /// is still intact) to its source, if the rules and the rate limits
    /// allow (see [`icmp`]). The error is routed here, because its source
    /// address is the address of the port it leaves by (`__icmp_send` with
    /// `icmp_errors_use_inbound_ifaddr` 0; `icmp6_send`), then joins the
    /// output pass (OUTPUT, POSTROUTING).
    pub(crate) fn icmp_error(
        &mut self,
        umem: &mut Umem,
        snap: &Snapshot,
        p: &Pkt,
        kind: ErrorKind,
        now: Instant,
    ) {
        let v6 = p.meta.ip_version == 6;
        let l3 = p.meta.l3_off as usize;
        let ip_len = {
            let frame = umem.bytes(p.desc);
            let end = (l3 + p.meta.ip_len as usize).min(frame.len());
            let ip = &frame[l3.min(end)..end];
            let o = Offender {
                ip,
                meta: &p.meta,
                l2: p.l2,
                dest: p.dest,
            };
            if !icmp::eligible(&o, kind) {
                self.counters.inc(Counter::IcmpSuppressed);
                return;
            }
            ip.len()
        };
        let Some(apply) = self.icmp.global(kind, v6, now) else {
            self.counters.inc(Counter::IcmpRatelimited);
            return;
        };
        let (port, next_hop) = match snap.router.lookup(&FlowKey::output(p.meta.src)) {
            RouteResult::Forward { port, next_hop } => (port, next_hop),
            RouteResult::Local | RouteResult::Broadcast { .. } => {
                self.counters.inc(Counter::IcmpSuppressed);
                return;
            }
            _ => {
                self.counters.inc(Counter::IcmpNoRoute);
                return;
            }
        };
        if !self.icmp.peer_allow(apply, p.meta.src, now) {
            self.counters.inc(Counter::IcmpRatelimited);
            return;
        }
        let Some(src) = snap.source_for(port, next_hop) else {
            self.counters.inc(Counter::IcmpNoRoute);
            return;
        };
        let mtu = snap.port(port).map_or(576, |c| c.mtu as usize);
        let (hdr, quote) = if v6 {
            (
                wire::ipv6::HEADER_LEN + wire::icmpv6::HEADER_LEN,
                icmp::quote_len_v6(ip_len),
            )
        } else {
            match icmp::quote_len_v4(ip_len, mtu) {
                Some(q) => (wire::ipv4::HEADER_LEN + wire::icmpv4::HEADER_LEN, q),
                None => {
                    self.counters.inc(Counter::IcmpSuppressed);
                    return;
                }
            }
        };
        if self.gen.len() >= self.gen_capacity {
            self.counters.inc(Counter::IcmpNoBuffer);
            return;
        }
        let Some(mut d) = umem.alloc() else {
            self.counters.inc(Counter::IcmpNoBuffer);
            return;
        };
        let at = ethernet::HEADER_LEN + hdr;
        if !umem.set_len(&mut d, at + quote) {
            umem.free(d);
            self.counters.inc(Counter::IcmpNoBuffer);
            return;
        }
        umem.copy(p.desc, l3, d, at, quote);
        let ident = self.next_ident();
        let buf = umem.bytes_mut(d);
        let counter = match (src, p.meta.src) {
            (IpAddr::V4(s), IpAddr::V4(dst)) => {
                icmp::write_v4(buf, kind, s, dst, p.meta.tos, ident);
                match kind {
                    ErrorKind::TimeExceeded => Counter::IcmpTimeExceeded,
                    ErrorKind::FragNeeded(_) => Counter::IcmpFragNeeded,
                    _ => Counter::IcmpDestUnreachable,
                }
            }
            (IpAddr::V6(s), IpAddr::V6(dst)) => {
                icmp::write_v6(buf, kind, s, dst);
                match kind {
                    ErrorKind::TimeExceeded => Counter::Icmp6TimeExceeded,
                    ErrorKind::PacketTooBig(_) => Counter::Icmp6PacketTooBig,
                    _ => Counter::Icmp6DestUnreachable,
                }
            }
            _ => {
                umem.free(d);
                return;
            }
        };
        let Ok(meta) = wire::parse(umem.bytes(d)) else {
            debug_assert!(false, "an ICMP error the box built does not parse");
            umem.free(d);
            return;
        };
        self.counters.inc(counter);
        let mut g = Pkt::generated(d, meta);
        g.dest = Dest::Forward;
        g.oif = Some(port);
        g.next_hop = next_hop;
        g.routed_with = (meta.dst, 0);
        self.gen.push_back(g);
    }
}

/// A batch without a pipeline around it, for the unit tests of hook
/// stages: frames put in by hand with the state routing would have given
/// them, one stage run at one point, and everything it did read back.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) struct TestBatch {
        pub umem: Umem,
        pub buf: Box<BatchBuf>,
        pub out: Out,
        pub now: Instant,
    }

    impl TestBatch {
        pub fn new(now: Instant) -> TestBatch {
            TestBatch {
                umem: Umem::new(256, 2048),
                buf: BatchBuf::new(),
                out: Out {
                    counters: Counters::default(),
                    tx: Vec::new(),
                    tx_capacity: 0,
                    gen: VecDeque::with_capacity(64),
                    gen_capacity: 64,
                    icmp: IcmpLimiter::new(now),
                    ident: 0,
                    memo: NeighMemo::new(),
                },
                now,
            }
        }

        /// Adds a packet; `iif` `None` for one the box generated. `dest`
        /// and `oif` as routing left them. Returns its index.
        pub fn push(
            &mut self,
            frame: &[u8],
            iif: Option<PortId>,
            oif: Option<PortId>,
            dest: Dest,
            l2: L2Class,
        ) -> usize {
            let i = self.buf.len;
            let mut d = self.umem.alloc().expect("test arena");
            assert!(self.umem.set_len(&mut d, frame.len()));
            self.umem.bytes_mut(d).copy_from_slice(frame);
            let meta = wire::parse(frame).expect("test frame parses");
            let mut p = Pkt {
                desc: d,
                meta,
                iif,
                oif,
                dest,
                l2,
                ..Pkt::EMPTY
            };
            p.hook_out = p.out_port();
            self.buf.pkts[i] = p;
            self.buf.len += 1;
            self.buf.live |= 1 << i;
            i
        }

        /// Runs `stage` at (`hook`, `table`) over every live packet.
        pub fn run(
            &mut self,
            stage: &mut dyn HookStage,
            hook: Hook,
            table: TableKind,
            snap: &Snapshot,
        ) {
            let cx = HookCx {
                now: self.now,
                snapshot: snap,
            };
            let sel = self.buf.live;
            let mut b = Batch {
                umem: &mut self.umem,
                buf: &mut self.buf,
                sel,
                out: &mut self.out,
                now: self.now,
            };
            stage.run(hook, table, &mut b, &cx);
        }

        pub fn pkt(&self, i: usize) -> &Pkt {
            &self.buf.pkts[i]
        }

        pub fn set_mark(&mut self, i: usize, mark: u32) {
            self.buf.pkts[i].mark = mark;
        }

        pub fn alive(&self, i: usize) -> bool {
            self.buf.live & (1 << i) != 0
        }

        pub fn frame(&self, i: usize) -> Vec<u8> {
            self.umem.bytes(self.buf.pkts[i].desc).to_vec()
        }

        pub fn counters(&self) -> &Counters {
            &self.out.counters
        }

        /// The frames stages emitted, oldest first.
        pub fn generated(&mut self) -> Vec<Vec<u8>> {
            let v = self
                .out
                .gen
                .iter()
                .map(|p| self.umem.bytes(p.desc).to_vec())
                .collect();
            for p in self.out.gen.drain(..) {
                self.umem.free(p.desc);
            }
            v
        }
    }
}
