//! `sluice trace`: the path one described IPv4 packet would take through
//! a snapshot, without sending anything.
//!
//! The packet is built as a frame ([`Probe::frame`]) and run through the
//! production pieces a worker runs, in the production order: the hook
//! points of [`crate::pipeline::hooks::points`] (raw, conntrack, mangle,
//! nat, ... at the kernel's priorities), each table by
//! [`crate::rules::run_table_traced`] (the traversal of the packet path,
//! with a tracer that records every rule tested: it evaluates in plain
//! rule order, which gives the classifier's answers), conntrack by a
//! [`crate::conntrack::Shard`], NAT by a [`crate::nat::Nat`], routing by
//! the pipeline's own `route_packet` and [`crate::route::Router::decide`]
//! for the policy rule and table. Nothing is shared with the workers: the
//! rules' state (counters, `limit` buckets, `recent` lists, the LOG ring),
//! the conntrack shard and the NAT ports are fresh, so the packet is the
//! first of its connection the box sees, `-m limit` has its whole burst,
//! `-m recent` lists are empty, and a source port is kept when the rules
//! allow it ("port kept if free").
//!
//! `--state` other than NEW is given to the rules by setting the packet's
//! conntrack state after the conntrack point as the shard would for a
//! packet of a known connection (ESTABLISHED, RELATED: the entry the
//! shard made, with that `ctinfo`; INVALID: no entry; UNTRACKED). As in
//! the kernel, the nat table is traversed only for a connection's first
//! packet; the NAT an existing connection got is not known to a trace.
//!
//! Not done: the forward stage's MTU check (the probe is small), IPv6
//! (ip6tables has no tables here), packets the box sends (OUTPUT).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use sluice_config::iptables::save::save_rule;
use sluice_config::iptables::{Hook, Policy, TableKind};

use crate::conntrack::Shard;
use crate::io::{PortId, Umem};
use crate::nat::Nat;
use crate::packet::{
    Batch, BatchBuf, Counter, Counters, CtInfo, CtState, Dest, Emit, EmitKind, L2Class, Pkt,
    Verdict,
};
use crate::pipeline::hooks::{points, Stage};
use crate::route::{Decision, FlowKey};
use crate::rules::compile::{table_index, CTarget, Program};
use crate::rules::{run_table_traced, Event, RulesState, TableCx};
use crate::snapshot::Snapshot;
use crate::wire::{self, checksum};

/// The conntrack state the rules see (`--state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtWant {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

impl CtWant {
    /// `NEW`, `ESTABLISHED`, `RELATED`, `INVALID`, `UNTRACKED` (any case).
    pub fn parse(s: &str) -> Option<CtWant> {
        Some(match s.to_ascii_uppercase().as_str() {
            "NEW" => CtWant::New,
            "ESTABLISHED" => CtWant::Established,
            "RELATED" => CtWant::Related,
            "INVALID" => CtWant::Invalid,
            "UNTRACKED" => CtWant::Untracked,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            CtWant::New => "NEW",
            CtWant::Established => "ESTABLISHED",
            CtWant::Related => "RELATED",
            CtWant::Invalid => "INVALID",
            CtWant::Untracked => "UNTRACKED",
        }
    }
}

/// The packet to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub iif: PortId,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, others without a
    /// transport header).
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags (`None`: SYN for NEW, ACK otherwise).
    pub tcp_flags: Option<u8>,
    /// ICMP type and code.
    pub icmp: (u8, u8),
    /// The packet's mark at entry.
    pub mark: u32,
    pub state: CtWant,
}

impl Probe {
    const TTL: u8 = 64;

    /// A NEW packet, mark 0, default TCP flags, ICMP echo request.
    pub fn new(
        iif: PortId,
        proto: u8,
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        dport: u16,
    ) -> Probe {
        Probe {
            iif,
            proto,
            src,
            dst,
            sport,
            dport,
            tcp_flags: None,
            icmp: (8, 0),
            mark: 0,
            state: CtWant::New,
        }
    }

    /// The packet as a received Ethernet frame, checksums right: TCP with
    /// a 20-byte header, UDP with 8, ICMP with an 8-byte header (echo
    /// identifier 1, sequence 1), other protocols with no payload.
    pub fn frame(&self) -> Vec<u8> {
        let mut l4: Vec<u8> = match self.proto {
            6 => {
                let flags = self.tcp_flags.unwrap_or(if self.state == CtWant::New {
                    0x02
                } else {
                    0x10
                });
                let mut t = vec![0u8; 20];
                t[0..2].copy_from_slice(&self.sport.to_be_bytes());
                t[2..4].copy_from_slice(&self.dport.to_be_bytes());
                t[4..8].copy_from_slice(&1u32.to_be_bytes());
                if flags & 0x10 != 0 {
                    t[8..12].copy_from_slice(&1u32.to_be_bytes());
                }
                t[12] = 5 << 4;
                t[13] = flags;
                t[14..16].copy_from_slice(&64240u16.to_be_bytes());
                t
            }
            17 => {
                let mut u = vec![0u8; 8];
                u[0..2].copy_from_slice(&self.sport.to_be_bytes());
                u[2..4].copy_from_slice(&self.dport.to_be_bytes());
                u[4..6].copy_from_slice(&8u16.to_be_bytes());
                u
            }
            1 => vec![self.icmp.0, self.icmp.1, 0, 0, 0, 1, 0, 1],
            _ => Vec::new(),
        };
        let (s, d) = (IpAddr::V4(self.src), IpAddr::V4(self.dst));
        match self.proto {
            6 => {
                let c = checksum::transport(&s, &d, 6, &l4);
                l4[16..18].copy_from_slice(&c.to_be_bytes());
            }
            17 => {
                let c = checksum::udp_wire(checksum::transport(&s, &d, 17, &l4));
                l4[6..8].copy_from_slice(&c.to_be_bytes());
            }
            1 => {
                let c = checksum::checksum(&l4);
                l4[2..4].copy_from_slice(&c.to_be_bytes());
            }
            _ => {}
        }
        let total = 20 + l4.len();
        let mut f = vec![0u8; 14 + total];
        f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xfe]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[6] = 0x40; // DF
        ip[8] = Self::TTL;
        ip[9] = self.proto;
        ip[12..16].copy_from_slice(&self.src.octets());
        ip[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum::checksum(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip[20..].copy_from_slice(&l4);
        f
    }
}

/// The interface a packet from `src` would arrive on when none is
/// given: the one the route back to `src` leaves by (mark 0).
pub fn default_iif(snap: &Snapshot, src: Ipv4Addr) -> Option<PortId> {
    match snap.net.router.lookup(&FlowKey::output(IpAddr::V4(src))) {
        crate::route::RouteResult::Forward { port, .. } => Some(port),
        _ => None,
    }
}

/// One rule tested, or a policy / end of chain, in traversal order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub chain: String,
    /// The rule's number in its chain (from 1); `None` for the policy and
    /// the end of a user chain.
    pub rule: Option<usize>,
    /// The rule as `iptables-save` prints it (empty for the others).
    pub text: String,
    pub matched: bool,
    /// What followed: `no match`, `ACCEPT`, `jump fw-lan`, `MARK,
    /// continue (mark 0x1)`, `policy DROP`, `return to FORWARD`, ...
    pub then: String,
}

/// An address and port (port 0: none) before or after a step.
pub type Endpoint = (IpAddr, u16);

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceStep {
    /// A table at a hook. `ran` false: the table has the hook but did not
    /// traverse (the nat table for a packet that is not a connection's
    /// first).
    Table {
        hook: Hook,
        table: TableKind,
        ran: bool,
        lines: Vec<TraceLine>,
        /// The rewrite the table's NAT made: `(old, new)` source or
        /// destination.
        snat: Option<(Endpoint, Endpoint)>,
        dnat: Option<(Endpoint, Endpoint)>,
        /// The packet was dropped here, for this reason.
        dropped: Option<Counter>,
    },
    /// The conntrack point: the state the rules see from here on.
    Conntrack {
        hook: Hook,
        state: &'static str,
        note: String,
    },
    /// The routing decision after PREROUTING.
    Route {
        /// The key's mark (after mangle) and destination (after DNAT).
        mark: u32,
        dst: Ipv4Addr,
        decision: Decision,
        /// Refused by routing (martian, no route, ...).
        dropped: Option<Counter>,
    },
    /// `ip_forward` before FORWARD: forwarding off, TTL exhausted.
    Forward { dropped: Counter },
}

/// Where the packet ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEnd {
    Forwarded {
        oif: PortId,
        next_hop: IpAddr,
    },
    /// Delivered to the box (INPUT passed): `Dest::Local`, broadcast or
    /// multicast.
    Local {
        dest: Dest,
    },
    /// Dropped, for this reason (the step that dropped it says where).
    Dropped(Counter),
}

/// The whole path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub steps: Vec<TraceStep>,
    pub end: TraceEnd,
    /// The packet's source and destination as it leaves (after NAT).
    pub src: Endpoint,
    pub dst: Endpoint,
    pub mark: u32,
    /// Whether the source port the rules asked for is the original one
    /// (SNAT / MASQUERADE keep it when it is free).
    pub port_kept: bool,
}

/// Where a REJECT's answer would go: counted, not sent.
#[derive(Default)]
struct Sink {
    counters: Counters,
}

impl Emit for Sink {
    fn counters(&mut self) -> &mut Counters {
        &mut self.counters
    }

    fn emit(
        &mut self,
        _umem: &mut Umem,
        _frame: &[u8],
        _kind: EmitKind,
        counter: Counter,
        _ct: CtState,
        _now: Instant,
    ) -> bool {
        self.counters.inc(counter);
        true
    }
}

/// The worker state a trace runs with: fresh, its own.
struct Run<'s> {
    snap: &'s Snapshot,
    want: CtWant,
    umem: Umem,
    buf: Box<BatchBuf>,
    out: Sink,
    now: Instant,
    rules: Option<RulesState>,
    ct: Shard,
    nat: Nat,
    steps: Vec<TraceStep>,
}

fn endpoint(p: &Pkt, src: bool) -> Endpoint {
    let m = &p.meta;
    let ports = matches!(m.protocol.0, 6 | 17);
    match (src, ports) {
        (true, true) => (m.src, m.src_port),
        (false, true) => (m.dst, m.dst_port),
        (true, false) => (m.src, 0),
        (false, false) => (m.dst, 0),
    }
}

impl Run<'_> {
    fn pkt(&self) -> &Pkt {
        &self.buf.pkts[0]
    }

    fn alive(&self) -> bool {
        self.buf.live & 1 != 0
    }

    fn dropped(&self) -> Option<Counter> {
        match (self.alive(), self.pkt().verdict) {
            (false, Verdict::Drop(c)) => Some(c),
            _ => None,
        }
    }

    /// The points of `hook` in order; false when the packet was dropped.
    fn hook(&mut self, hook: Hook) -> bool {
        let p = &mut self.buf.pkts[0];
        p.hook_out = p.out_port();
        for point in points(hook) {
            match point.stage {
                Stage::Table(t) => self.table(hook, t),
                Stage::Conntrack if self.snap.tracks() => self.conntrack(hook),
                Stage::Conntrack => self.steps.push(TraceStep::Conntrack {
                    hook,
                    state: "INVALID",
                    note: "conntrack off: no rule needs it, every packet is INVALID to the \
                           matches and the nat table never runs"
                        .into(),
                }),
                // Confirm makes the entry findable for later packets: no
                // later packet here. A traced packet is one packet: the
                // defrag point (IPv6 reassembly) is not traced, a
                // fragment goes on as it is.
                Stage::Confirm | Stage::Defrag => {}
            }
            if !self.alive() {
                return false;
            }
        }
        true
    }

    fn conntrack(&mut self, hook: Hook) {
        let mut b = Batch::new(&mut self.umem, &mut self.buf, 1, &mut self.out, self.now);
        self.ct
            .input(&mut b, hook == Hook::Prerouting, self.snap.tracked());
        let got = b.ct(0);
        let (ct, state, note) = match (got, self.want) {
            (CtState::Untracked, _) => (got, "UNTRACKED", "the raw table set NOTRACK".to_string()),
            (_, CtWant::Invalid) => (CtState::None, "INVALID", "as given".into()),
            (_, CtWant::Untracked) => (CtState::Untracked, "UNTRACKED", "as given".into()),
            (CtState::Tracked { slot, .. }, w @ (CtWant::Established | CtWant::Related)) => {
                let info = if w == CtWant::Established {
                    CtInfo::Established
                } else {
                    CtInfo::Related
                };
                (
                    CtState::Tracked { slot, info },
                    w.name(),
                    "as given (a packet of a known connection)".into(),
                )
            }
            (CtState::Tracked { .. } | CtState::Template { .. }, _) => {
                (got, "NEW", "a connection's first packet".into())
            }
            (CtState::None, w) => (
                got,
                "INVALID",
                if w == CtWant::New {
                    "conntrack refused the packet".into()
                } else {
                    format!(
                        "conntrack refused the packet, so it cannot be given state {}",
                        w.name()
                    )
                },
            ),
        };
        b.set_ct(0, ct);
        self.steps.push(TraceStep::Conntrack { hook, state, note });
    }

    fn table(&mut self, hook: Hook, table: TableKind) {
        let snap = self.snap;
        let Some(prog) = snap.rules.as_deref() else {
            return;
        };
        if !prog.runs_at(hook, table) {
            return;
        }
        let before = (endpoint(self.pkt(), true), endpoint(self.pkt(), false));
        let Some(st) = self.rules.as_mut() else {
            return;
        };
        let mark0 = self.buf.pkts[0].mark;
        let mut ev: Vec<Event> = Vec::new();
        {
            let mut b = Batch::new(&mut self.umem, &mut self.buf, 1, &mut self.out, self.now);
            let cx = TableCx {
                net: &snap.net,
                ct: &mut self.ct,
                nat: &mut self.nat,
            };
            run_table_traced(prog, st, hook, table, &mut b, cx, &mut ev);
        }
        let after = (endpoint(self.pkt(), true), endpoint(self.pkt(), false));
        let dropped = self.dropped();
        let lines = lines(prog, hook, table, &ev, mark0);
        let ran = !ev.is_empty();
        self.steps.push(TraceStep::Table {
            hook,
            table,
            ran,
            lines,
            snat: (before.0 != after.0).then_some((before.0, after.0)),
            dnat: (before.1 != after.1).then_some((before.1, after.1)),
            dropped,
        });
    }

    /// The routing decision after PREROUTING; false when refused.
    fn route(&mut self, iif: PortId) -> bool {
        let snap = self.snap;
        let p = &mut self.buf.pkts[0];
        let (IpAddr::V4(s), IpAddr::V4(d)) = (p.meta.src, p.meta.dst) else {
            return false;
        };
        let key = FlowKey::forward(IpAddr::V4(s), IpAddr::V4(d), iif).with_mark(p.mark);
        let decision = snap.net.router.decide(&key);
        let mark = p.mark;
        let dropped = match crate::pipeline::route_packet(snap, p, iif) {
            Ok(()) => None,
            Err(crate::pipeline::Failure::Drop(c) | crate::pipeline::Failure::Icmp(c, _)) => {
                self.buf.finish(0, Verdict::Drop(c));
                Some(c)
            }
        };
        self.steps.push(TraceStep::Route {
            mark,
            dst: d,
            decision,
            dropped,
        });
        dropped.is_none()
    }

    /// `ip_forward`'s refusals and TTL decrement; false when refused.
    fn forward(&mut self) -> bool {
        let p = self.pkt();
        let fail = if !self.snap.forward_v4 {
            Some(Counter::ForwardDisabled)
        } else if p.l2 != L2Class::Host {
            Some(Counter::ForwardNotHost)
        } else if p.meta.ttl <= 1 {
            Some(Counter::ForwardTtlExceeded)
        } else {
            None
        };
        if let Some(c) = fail {
            self.buf.finish(0, Verdict::Drop(c));
            self.steps.push(TraceStep::Forward { dropped: c });
            return false;
        }
        let ttl = p.meta.ttl - 1;
        let mut b = Batch::new(&mut self.umem, &mut self.buf, 1, &mut self.out, self.now);
        b.set_ttl(0, ttl);
        true
    }
}

/// The name of a chain of `table` by its position.
fn chain_name(prog: &Program, table: TableKind, chain: u32) -> String {
    prog.by_kind[table_index(table)]
        .and_then(|t| prog.ruleset.tables.get(usize::from(t)))
        .and_then(|t| t.chains.get(chain as usize))
        .map_or_else(|| format!("#{chain}"), |c| c.name.clone())
}

/// The traversal's events as lines.
fn lines(
    prog: &Program,
    hook: Hook,
    table: TableKind,
    ev: &[Event],
    mut mark: u32,
) -> Vec<TraceLine> {
    let t = prog.by_kind[table_index(table)].map(usize::from);
    let cfg = t.and_then(|t| prog.ruleset.tables.get(t));
    let compiled = t.and_then(|t| prog.tables.get(t));
    let entry = compiled
        .and_then(|c| c.entry[crate::rules::compile::hook_index(hook)])
        .unwrap_or(0);
    let name = |c: u32| chain_name(prog, table, c);
    let mut out: Vec<TraceLine> = Vec::new();
    let mut cur = entry;
    let mut target = String::new();
    let set = |out: &mut Vec<TraceLine>, s: String| {
        if let Some(l) = out.last_mut() {
            l.then = s;
        }
    };
    for e in ev {
        match *e {
            Event::Tested {
                chain,
                rule,
                matched,
            } => {
                cur = chain;
                let text = cfg
                    .and_then(|c| c.chains.get(chain as usize))
                    .and_then(|c| c.rules.get(rule as usize).map(|r| save_rule(&c.name, r)))
                    .unwrap_or_default();
                target = compiled
                    .and_then(|c| c.chains.get(chain as usize))
                    .and_then(|c| c.rules.get(rule as usize))
                    .map(|r| target_name(&r.target, &text))
                    .unwrap_or_default();
                out.push(TraceLine {
                    chain: name(chain),
                    rule: Some(rule as usize + 1),
                    text,
                    matched,
                    then: if matched {
                        target.clone()
                    } else {
                        "no match".into()
                    },
                });
            }
            Event::Hotdrop { chain, rule } => out.push(TraceLine {
                chain: name(chain),
                rule: Some(rule as usize + 1),
                text: String::new(),
                matched: false,
                then: "hotdrop (transport header cut short): DROP".into(),
            }),
            Event::Continue { mark: m } => {
                let s = if m != mark {
                    format!("{target}, continue (mark {m:#x})")
                } else if target.is_empty() {
                    "continue".into()
                } else {
                    format!("{target}, continue")
                };
                mark = m;
                set(&mut out, s);
            }
            Event::Accept => {
                let s = if target.is_empty() || target == "ACCEPT" {
                    "ACCEPT".to_string()
                } else {
                    format!("{target}, table ends (ACCEPT)")
                };
                set(&mut out, s);
            }
            Event::Drop(c) => {
                let s = match c {
                    Counter::FilterReject => format!("{target}: dropped"),
                    _ if target == "DROP" => "DROP".into(),
                    _ => format!("{target}: dropped ({})", c.name()),
                };
                set(&mut out, s);
            }
            Event::Jump { to } => {
                set(&mut out, format!("jump {}", name(to)));
                cur = to;
            }
            Event::Goto { to } => {
                set(&mut out, format!("goto {}", name(to)));
                cur = to;
            }
            Event::Return { implicit, to } => {
                let whither = match to {
                    Some(c) => format!("return to {}", name(c)),
                    None => "return to the policy".into(),
                };
                if implicit {
                    out.push(TraceLine {
                        chain: name(cur),
                        rule: None,
                        text: String::new(),
                        matched: false,
                        then: format!("end of chain, {whither}"),
                    });
                } else {
                    set(&mut out, format!("RETURN, {whither}"));
                }
                if let Some(c) = to {
                    cur = c;
                }
            }
            Event::Policy(p) => out.push(TraceLine {
                chain: name(entry),
                rule: None,
                text: String::new(),
                matched: true,
                then: format!(
                    "policy {}",
                    match p {
                        Policy::Accept => "ACCEPT",
                        Policy::Drop => "DROP",
                    }
                ),
            }),
        }
    }
    out
}

/// The target's name as the rule is written (`-j NAME`, `-g CHAIN`), or
/// empty for a rule without one.
fn target_name(t: &CTarget, text: &str) -> String {
    if matches!(t, CTarget::None) {
        return String::new();
    }
    let mut words = text.split(' ');
    while let Some(w) = words.next() {
        if w == "-j" || w == "-g" {
            return words.next().unwrap_or("").to_string();
        }
    }
    String::new()
}

/// Traces `probe` through `snap` (see the module docs).
pub fn trace(snap: &Snapshot, probe: &Probe) -> Trace {
    let now = Instant::now();
    let mut ct = Shard::new(64, snap.conntrack.clone());
    ct.set_workers(0, 1);
    let mut run = Run {
        snap,
        want: probe.state,
        umem: Umem::new(4, 2048),
        buf: BatchBuf::new(),
        out: Sink::default(),
        now,
        rules: snap.rules.as_deref().map(|p| RulesState::new(p, 0)),
        ct,
        nat: Nat::new(0, 1),
        steps: Vec::new(),
    };
    let frame = probe.frame();
    let orig_sport = probe.sport;
    let end = 'end: {
        let Some(mut d) = run.umem.alloc() else {
            break 'end TraceEnd::Dropped(Counter::ParseMalformed);
        };
        let Ok(meta) = wire::parse(&frame) else {
            break 'end TraceEnd::Dropped(Counter::ParseMalformed);
        };
        if !run.umem.set_len(&mut d, frame.len()) {
            break 'end TraceEnd::Dropped(Counter::ParseMalformed);
        }
        run.umem.bytes_mut(d).copy_from_slice(&frame);
        run.buf.pkts[0] = Pkt {
            desc: d,
            meta,
            mark: probe.mark,
            iif: Some(probe.iif),
            l2: L2Class::Host,
            ..Pkt::EMPTY
        };
        run.buf.len = 1;
        run.buf.live = 1;
        let gone =
            |run: &Run<'_>| TraceEnd::Dropped(run.dropped().unwrap_or(Counter::ParseMalformed));
        if !run.hook(Hook::Prerouting) || !run.route(probe.iif) {
            break 'end gone(&run);
        }
        let p = *run.pkt();
        if p.dest == Dest::Forward {
            if !run.forward() || !run.hook(Hook::Forward) || !run.hook(Hook::Postrouting) {
                break 'end gone(&run);
            }
            let p = run.pkt();
            TraceEnd::Forwarded {
                oif: p.oif.unwrap_or(PortId(0)),
                next_hop: p.next_hop,
            }
        } else {
            if !run.hook(Hook::Input) {
                break 'end gone(&run);
            }
            TraceEnd::Local { dest: p.dest }
        }
    };
    let p = run.pkt();
    let src = endpoint(p, true);
    Trace {
        end,
        src,
        dst: endpoint(p, false),
        mark: p.mark,
        port_kept: src.1 == orig_sport,
        steps: run.steps,
    }
}
