//! Unit tests of the rule engine: chain traversal and counters, every
//! match and target on crafted frames, one (hook, table) point at a time
//! through a [`TestBatch`]; and the property that the classifier-driven
//! evaluation equals the plain ordered one.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_config::iptables::{Counters, Hook, TableKind};

use std::sync::Arc;

use super::*;
use crate::io::PortId;
use crate::net::Net;
use crate::packet::testing::TestBatch;
use crate::packet::{Counter, CtState, Dest, L2Class, Verdict};
use crate::wire::{self, checksum, MacAddr, PacketMeta};

mod classbench;
mod frames;
mod matching;
mod props;
mod targeting;
mod traversal;

use frames::Pk;

/// Three ports: r0 10.0.1.1/24, r1 10.0.2.1/24, r2 10.0.3.1/24.
pub(super) const THREE: &str = r#"
[[interface]]
name = "r0"
address = ["10.0.1.1/24"]

[[interface]]
name = "r1"
address = ["10.0.2.1/24"]

[[interface]]
name = "r2"
address = ["10.0.3.1/24", "192.168.9.1/24"]

[[route]]
to = "default"
via = "10.0.2.254"
"#;

pub(super) fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Where a packet is when the table runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub hook: Hook,
    pub iif: Option<u16>,
    pub oif: Option<u16>,
    pub dest: Dest,
    pub l2: L2Class,
    pub mark: u32,
}

impl At {
    pub fn forward(iif: u16, oif: u16) -> At {
        At {
            hook: Hook::Forward,
            iif: Some(iif),
            oif: Some(oif),
            dest: Dest::Forward,
            l2: L2Class::Host,
            mark: 0,
        }
    }
    pub fn input(iif: u16) -> At {
        At {
            hook: Hook::Input,
            iif: Some(iif),
            oif: None,
            dest: Dest::Local,
            l2: L2Class::Host,
            mark: 0,
        }
    }
    pub fn prerouting(iif: u16) -> At {
        At {
            hook: Hook::Prerouting,
            iif: Some(iif),
            oif: None,
            dest: Dest::None,
            l2: L2Class::Host,
            mark: 0,
        }
    }
    pub fn output(oif: u16) -> At {
        At {
            hook: Hook::Output,
            iif: None,
            oif: Some(oif),
            dest: Dest::Forward,
            l2: L2Class::Host,
            mark: 0,
        }
    }
    pub fn postrouting(iif: u16, oif: u16) -> At {
        At {
            hook: Hook::Postrouting,
            ..At::forward(iif, oif)
        }
    }
    pub fn mark(mut self, m: u32) -> At {
        self.mark = m;
        self
    }
    pub fn l2(mut self, l2: L2Class) -> At {
        self.l2 = l2;
        self
    }
}

/// What one run left.
#[derive(Debug)]
pub(super) struct Ran {
    pub verdict: Verdict,
    pub alive: bool,
    pub frame: Vec<u8>,
    pub meta: PacketMeta,
    pub mark: u32,
    pub ct: CtState,
    pub generated: Vec<Vec<u8>>,
    pub counters: crate::packet::Counters,
}

impl Ran {
    pub fn accepted(&self) -> bool {
        self.alive && self.verdict == Verdict::Accept
    }
    pub fn dropped(&self) -> Option<Counter> {
        match self.verdict {
            Verdict::Drop(c) => Some(c),
            _ => None,
        }
    }
}

/// A compiled program with one worker's state: what a pipeline holds for
/// the rules, driven here one (hook, table) point at a time.
pub(super) struct Stage {
    pub prog: Arc<Program>,
    pub st: RulesState,
    pub ct: crate::conntrack::Shard,
    pub nat: crate::nat::Nat,
    /// Run with a tracer collecting here (`sluice trace`'s traversal),
    /// else the packet path's.
    pub events: Option<Vec<Event>>,
}

impl Stage {
    pub fn new(
        app: &sluice_config::appliance::Appliance,
        rs: &sluice_config::iptables::Ruleset,
        sets: &sluice_config::ipset::SetFile,
        params: RulesParams,
    ) -> Result<Stage, RulesError> {
        let prog = Arc::new(Program::compile(app, rs, sets, params)?);
        let st = RulesState::new(&prog, params.worker);
        Ok(Stage {
            prog,
            st,
            ct: crate::conntrack::Shard::new(1024, Default::default()),
            nat: crate::nat::Nat::new(params.worker, 1),
            events: None,
        })
    }

    /// Worker `worker`'s stage for the same program, fresh state.
    pub fn for_worker(&self, worker: u32) -> Stage {
        Stage {
            prog: Arc::clone(&self.prog),
            st: RulesState::new(&self.prog, worker),
            ct: crate::conntrack::Shard::new(1024, Default::default()),
            nat: crate::nat::Nat::new(worker, 1),
            events: None,
        }
    }

    pub fn counters(&self) -> RuleCounters {
        self.st.counters(&self.prog)
    }

    pub fn save_with_counters(&self) -> String {
        self.counters().save(self.prog.ruleset())
    }

    pub fn drain_log(&mut self, out: &mut Vec<log::LogRecord>) {
        self.st.drain_log(out)
    }

    pub fn log_ring_full(&self) -> u64 {
        self.st.log_ring_full()
    }

    pub fn run(&mut self, hook: Hook, table: TableKind, tb: &mut TestBatch, net: &Net) {
        let mut b = tb.batch();
        let cx = crate::rules::TableCx {
            net,
            ct: &mut self.ct,
            nat: &mut self.nat,
        };
        match &mut self.events {
            Some(ev) => run_table_traced(&self.prog, &mut self.st, hook, table, &mut b, cx, ev),
            None => run_table(&self.prog, &mut self.st, hook, table, &mut b, cx),
        }
    }
}

/// A stage with its appliance's network and a clock.
pub(super) struct H {
    pub stage: Stage,
    pub snap: Net,
    pub now: Instant,
}

impl H {
    pub fn new(rules: &str) -> H {
        H::with(THREE, rules, "", RulesParams::default())
    }

    pub fn with(toml: &str, rules: &str, sets: &str, params: RulesParams) -> H {
        H::try_with(toml, rules, sets, params).expect("rules compile")
    }

    pub fn try_with(
        toml: &str,
        rules: &str,
        sets: &str,
        params: RulesParams,
    ) -> Result<H, RulesError> {
        let app = sluice_config::appliance::parse(toml, Path::new("t.toml")).unwrap();
        let rs = sluice_config::iptables::parse(rules, Path::new("t.rules"))
            .unwrap_or_else(|e| panic!("ruleset: {e}"));
        let sets = sluice_config::ipset::parse(sets, Path::new("t.ipset")).unwrap();
        let stage = Stage::new(&app, &rs, &sets, params)?;
        let snap = Net::from_appliance(&app).unwrap();
        Ok(H {
            stage,
            snap,
            now: Instant::now(),
        })
    }

    /// Runs `table` at `at.hook` on one packet.
    pub fn run(&mut self, table: TableKind, frame: &[u8], at: At) -> Ran {
        let mut tb = TestBatch::new(self.now);
        let i = tb.push(
            frame,
            at.iif.map(PortId),
            at.oif.map(PortId),
            at.dest,
            at.l2,
        );
        tb.set_mark(i, at.mark);
        self.stage.run(at.hook, table, &mut tb, &self.snap);
        let p = *tb.pkt(i);
        Ran {
            verdict: p.verdict,
            alive: tb.alive(i),
            frame: tb.frame(i),
            meta: p.meta,
            mark: p.mark,
            ct: p.ct,
            generated: tb.generated(),
            counters: tb.counters().clone(),
        }
    }

    /// Runs filter FORWARD from r0 to r1.
    pub fn fwd(&mut self, pk: &Pk) -> Ran {
        self.run(TableKind::Filter, &pk.frame(), At::forward(0, 1))
    }

    pub fn rule(&self, table: TableKind, chain: &str, i: usize) -> (u64, u64) {
        let c = self.stage.counters().rule(table, chain, i).expect("rule");
        (c.packets, c.bytes)
    }

    pub fn policy(&self, table: TableKind, chain: &str) -> (u64, u64) {
        let c = self.stage.counters().policy(table, chain).expect("policy");
        (c.packets, c.bytes)
    }

    /// Packets counted per rule of a chain.
    pub fn hits(&self, table: TableKind, chain: &str) -> Vec<u64> {
        let c = self.stage.counters();
        let t = c.tables.iter().find(|t| t.table == table).unwrap();
        let ch = t.chains.iter().find(|c| c.name == chain).unwrap();
        ch.rules.iter().map(|r: &Counters| r.packets).collect()
    }
}

/// A filter table with `FORWARD` policy `policy`, the given user chains
/// and rules.
pub(super) fn filter(policy: &str, chains: &[&str], rules: &[&str]) -> String {
    let mut s =
        format!("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD {policy} [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for c in chains {
        s.push_str(&format!(":{c} - [0:0]\n"));
    }
    for r in rules {
        s.push_str(r);
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

/// A mangle table with the given rules (all built-in chains ACCEPT).
pub(super) fn mangle(chains: &[&str], rules: &[&str]) -> String {
    let mut s = String::from(
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
         :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n",
    );
    for c in chains {
        s.push_str(&format!(":{c} - [0:0]\n"));
    }
    for r in rules {
        s.push_str(r);
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

/// The checksums of an IPv4 frame verify (header and TCP / UDP / ICMP).
pub(super) fn assert_checksums(frame: &[u8]) {
    let meta = wire::parse(frame).expect("frame parses (IP header checksum)");
    let l4 = meta.l4(frame);
    let (s, d) = (meta.src, meta.dst);
    match meta.protocol.0 {
        6 | 17 => assert_eq!(
            checksum::transport(&s, &d, meta.protocol.0, l4),
            0,
            "transport checksum"
        ),
        1 => assert_eq!(checksum::checksum(l4), 0, "ICMP checksum"),
        _ => {}
    }
}

pub(super) const HOST_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0x10]);
pub(super) const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 0]);
