//! A compiled ruleset ([`Program`], immutable, shared by the workers
//! through the snapshot) and one worker's state for it ([`RulesState`]:
//! counters, the stateful matches' state, the LOG ring, scratch), and how
//! the pipeline runs a table at a hook point ([`run_table`]).
//!
//! Counters are single-writer cells ([`RuleCells`]): the worker adds with
//! relaxed loads and stores (no locked instruction), another thread reads
//! them at any time through a [`RulesReader`]. LOG records go through a
//! bounded lock-free queue the control side drains.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sluice_config::appliance::Appliance;
use sluice_config::ipset::SetFile;
use sluice_config::iptables::save::save_rule;
use sluice_config::iptables::{Counters, Hook, Ruleset, TableKind};

use super::classify::{ClassKey, Classifier, ClassifierStats};
pub use super::compile::Program;
use super::compile::TableProg;
use super::compile::{self, hook_index, CompileParams, RulesError};
use super::eval::{self, Fate, RunCx};
use super::limit::{LimitSharing, LimitState, DEFAULT_HZ};
use super::log::{LogReader, LogRecord, LogRing};
use super::recent::{RecentParams, RecentState, DEFAULT_IP_LIST_TOT};
use super::reject::MAX_REPLY_FRAME;
use super::statistic::{Prng, StatisticState};
use crate::net::Net;
use crate::packet::{Batch, Counter};

/// The seed of the statistic match's random source when none is given.
pub const DEFAULT_SEED: u64 = 0x736c_7569_6365_2121;

/// Settings of the rule engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesParams {
    /// The tick rate `-m limit` and `-m recent` count time in (the
    /// compared kernel's `CONFIG_HZ`).
    pub hz: u32,
    /// How `-m limit` buckets are shared among the workers.
    pub limit_sharing: LimitSharing,
    /// `xt_recent`'s `ip_list_tot`: addresses per list.
    pub recent_ip_list_tot: u32,
    /// `xt_recent`'s `ip_pkt_list_tot` (0: sized by the rules).
    pub recent_ip_pkt_list_tot: u32,
    /// Seed of the random source of `-m statistic --mode random`, mixed
    /// with [`RulesParams::worker`].
    pub seed: u64,
    /// This worker's index.
    pub worker: u32,
    /// LOG records the worker keeps until they are drained
    /// ([`RulesState::drain_log`], [`RulesReader::drain_log`]).
    pub log_ring: usize,
    /// Find rules with the classifier (true, the default) or by the plain
    /// ordered evaluation of every rule (for comparison and benchmarks).
    pub classifier: bool,
}

impl Default for RulesParams {
    fn default() -> Self {
        RulesParams {
            hz: DEFAULT_HZ,
            limit_sharing: LimitSharing::PerWorker,
            recent_ip_list_tot: DEFAULT_IP_LIST_TOT,
            recent_ip_pkt_list_tot: 0,
            seed: DEFAULT_SEED,
            worker: 0,
            log_ring: 1024,
            classifier: true,
        }
    }
}

/// Packet and byte counters of one chain: its policy (built-in chains)
/// and each rule, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCounters {
    pub name: String,
    pub policy: Option<Counters>,
    pub rules: Vec<Counters>,
}

/// The counters of one table, chains in the ruleset's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCounters {
    pub table: TableKind,
    pub chains: Vec<ChainCounters>,
}

/// Every rule and policy counter of a ruleset, as `iptables -L -v -x`
/// shows them: per worker from [`RulesState::counters`], summed over
/// workers with [`RuleCounters::merge`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleCounters {
    pub tables: Vec<TableCounters>,
}

impl RuleCounters {
    fn chain(&self, table: TableKind, chain: &str) -> Option<&ChainCounters> {
        self.tables
            .iter()
            .find(|t| t.table == table)?
            .chains
            .iter()
            .find(|c| c.name == chain)
    }

    /// Rule `index` (from 0) of `chain` in `table`.
    pub fn rule(&self, table: TableKind, chain: &str, index: usize) -> Option<Counters> {
        self.chain(table, chain)?.rules.get(index).copied()
    }

    /// The policy counter of built-in `chain` in `table`.
    pub fn policy(&self, table: TableKind, chain: &str) -> Option<Counters> {
        self.chain(table, chain)?.policy
    }

    /// Adds `other` (another worker's counters of the same ruleset).
    pub fn merge(&mut self, other: &RuleCounters) {
        fn add(a: &mut Counters, b: &Counters) {
            a.packets += b.packets;
            a.bytes += b.bytes;
        }
        for (t, o) in self.tables.iter_mut().zip(&other.tables) {
            for (c, oc) in t.chains.iter_mut().zip(&o.chains) {
                if let (Some(p), Some(op)) = (&mut c.policy, &oc.policy) {
                    add(p, op);
                }
                for (r, or) in c.rules.iter_mut().zip(&oc.rules) {
                    add(r, or);
                }
            }
        }
    }

    /// `rules` printed as `iptables-save -c` prints it (iptables v1.8,
    /// legacy; without the `#` lines): `:CHAIN POLICY [packets:bytes]`
    /// headers and `[packets:bytes] -A ...` rules, with these counters
    /// (zero where `self` has none).
    pub fn save(&self, rules: &Ruleset) -> String {
        let mut out = String::new();
        for t in &rules.tables {
            let _ = writeln!(out, "*{}", t.kind.name());
            for c in &t.chains {
                let policy = c.policy.map(|p| p.name()).unwrap_or("-");
                let n = if c.hook.is_some() {
                    self.policy(t.kind, &c.name).unwrap_or_default()
                } else {
                    Counters::default()
                };
                let _ = writeln!(out, ":{} {} [{}:{}]", c.name, policy, n.packets, n.bytes);
            }
            for c in &t.chains {
                for (k, r) in c.rules.iter().enumerate() {
                    let n = self.rule(t.kind, &c.name, k).unwrap_or_default();
                    let _ = writeln!(out, "[{}:{}] {}", n.packets, n.bytes, save_rule(&c.name, r));
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// Packet and byte counters of every rule and policy slot of a program,
/// for one worker. The worker is the only writer ([`RuleCells::hit`]: a
/// relaxed load and store, no locked instruction); any thread may read.
#[derive(Debug)]
pub struct RuleCells {
    cells: Box<[[AtomicU64; 2]]>,
}

impl RuleCells {
    fn new(n: usize) -> RuleCells {
        RuleCells {
            cells: (0..n)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
        }
    }

    /// One packet of `bytes` bytes hit `slot` (the worker only).
    #[inline]
    pub(crate) fn hit(&self, slot: u32, bytes: u64) {
        if let Some([p, b]) = self.cells.get(slot as usize) {
            p.store(p.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            b.store(b.load(Ordering::Relaxed) + bytes, Ordering::Relaxed);
        }
    }

    /// The counters of `slot`.
    pub fn get(&self, slot: u32) -> Counters {
        match self.cells.get(slot as usize) {
            Some([p, b]) => Counters {
                packets: p.load(Ordering::Relaxed),
                bytes: b.load(Ordering::Relaxed),
            },
            None => Counters::default(),
        }
    }

    fn set(&self, slot: u32, c: Counters) {
        if let Some([p, b]) = self.cells.get(slot as usize) {
            p.store(c.packets, Ordering::Relaxed);
            b.store(c.bytes, Ordering::Relaxed);
        }
    }

    /// Every slot back to zero (`iptables -Z`). Call from the worker, or
    /// accept that a hit racing with it may survive.
    pub fn zero(&self) {
        for [p, b] in self.cells.iter() {
            p.store(0, Ordering::Relaxed);
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// One worker's mutable state for a program: counters, the stateful
/// matches' state, the LOG ring, and scratch space, all allocated when it
/// is built ([`RulesState::new`]), none on the packet path.
#[derive(Debug)]
pub struct RulesState {
    pub(crate) counters: Arc<RuleCells>,
    pub(crate) limits: Vec<LimitState>,
    pub(crate) stats: Vec<StatisticState>,
    pub(crate) recent: RecentState,
    pub(crate) prng: Prng,
    pub(crate) log: LogRing,
    /// Return points `(chain, rule)`, capacity [`Program::max_depth`].
    pub(crate) stack: Vec<(u32, u32)>,
    /// A REJECT answer is built here.
    pub(crate) reply: Box<[u8]>,
    /// Time 0 of the rules' clock (`limit`, `recent`, LOG time stamps):
    /// the first batch run.
    epoch: Option<Instant>,
    worker: u32,
}

impl Program {
    /// Compiles `rules` for the appliance `app` (its interfaces are the
    /// ports, in order) with the sets of `sets`. Refuses NAT targets (no
    /// conntrack yet) and what the kernel would refuse at load, naming the
    /// rule's line.
    pub fn compile(
        app: &Appliance,
        rules: &Ruleset,
        sets: &SetFile,
        params: RulesParams,
    ) -> Result<Program, RulesError> {
        Self::compile_keeping(app, rules, None, sets, params, false)
    }

    /// [`Program::compile`] with an ip6tables ruleset too
    /// (`[firewall] rules6`): its tables run on IPv6 packets, the
    /// iptables ones on IPv4 packets. Errors of `rules6` come as
    /// [`RulesError::Ipv6`].
    pub fn compile_dual(
        app: &Appliance,
        rules: &Ruleset,
        rules6: Option<&Ruleset>,
        sets: &SetFile,
        params: RulesParams,
    ) -> Result<Program, RulesError> {
        Self::compile_keeping(app, rules, rules6, sets, params, false)
    }

    /// The classifier keys of every rule of chain `chain` of `table`
    /// (`None`: no such chain), in order, as the compiler makes them: what
    /// the classifier is built from and what the tests and benches hold it
    /// to ([`super::classify::reference_first_from`]).
    pub fn chain_keys(
        app: &Appliance,
        rules: &Ruleset,
        sets: &SetFile,
        table: TableKind,
        chain: &str,
    ) -> Result<Option<Vec<ClassKey>>, RulesError> {
        let prog = Self::compile_keeping(app, rules, None, sets, RulesParams::default(), true)?;
        let pos = rules
            .tables
            .iter()
            .find(|t| t.kind == table)
            .and_then(|t| t.chains.iter().position(|c| c.name == chain));
        Ok(prog
            .table(table)
            .zip(pos)
            .and_then(|(t, c)| t.chains.get(c)?.keys.as_deref().map(<[ClassKey]>::to_vec)))
    }

    /// The classifier of chain `chain` of `table`, if it has one: the
    /// lookup the rule evaluation runs ([`Classifier::cursor`]).
    pub fn classifier(&self, table: TableKind, chain: &str) -> Option<&Classifier> {
        let t = self
            .tables
            .iter()
            .zip(&self.ruleset.tables)
            .find(|(t, _)| t.kind == table)?;
        let c = t.1.chains.iter().position(|c| c.name == chain)?;
        t.0.chains.get(c)?.classifier.as_ref()
    }

    fn compile_keeping(
        app: &Appliance,
        rules: &Ruleset,
        rules6: Option<&Ruleset>,
        sets: &SetFile,
        params: RulesParams,
        keep_keys: bool,
    ) -> Result<Program, RulesError> {
        compile::compile(
            app,
            rules,
            rules6,
            sets,
            CompileParams {
                hz: params.hz,
                limit_sharing: params.limit_sharing,
                recent: RecentParams {
                    ip_list_tot: params.recent_ip_list_tot,
                    ip_pkt_list_tot: params.recent_ip_pkt_list_tot,
                    hz: params.hz,
                },
                classify: params.classifier,
                keep_keys,
            },
            params,
        )
    }

    /// The parameters the program was compiled with.
    pub fn params(&self) -> &RulesParams {
        &self.params
    }

    /// The ruleset as written.
    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    /// The ip6tables ruleset as written, if the program has one.
    pub fn ruleset6(&self) -> Option<&Ruleset> {
        self.ruleset6.as_ref()
    }

    /// Whether a rule makes the kernel track connections (see
    /// [`Program::tracks`]'s field docs): the nat table runs only then.
    pub fn tracks(&self) -> bool {
        self.tracks
    }

    /// [`Program::tracks`] for IPv6: an ip6tables rule needs conntrack.
    pub fn tracks6(&self) -> bool {
        self.tracks6
    }

    /// The built-in chain of `table` at `hook` for IPv4 (`v6` false) or
    /// IPv6 packets, as the pipeline runs it (the nat table only with
    /// tracking of that family).
    fn entry(&self, v6: bool, hook: Hook, table: TableKind) -> Option<(&TableProg, u32)> {
        let (t, tracks) = if v6 {
            (self.table6(table), self.tracks6)
        } else {
            (self.table(table), self.tracks)
        };
        if table == TableKind::Nat && !tracks {
            return None;
        }
        let t = t?;
        Some((t, t.entry[hook_index(hook)]?))
    }

    /// Whether `table` has a built-in chain at `hook` that the pipeline
    /// must run.
    pub fn runs_at(&self, hook: Hook, table: TableKind) -> bool {
        // The kernel runs the nat table only for packets with a conntrack
        // entry, and there are none unless some rule enables tracking.
        self.entry(false, hook, table).is_some() || self.entry(true, hook, table).is_some()
    }

    /// Every (hook, table) point the pipeline must run for this program
    /// ([`Program::runs_at`]), hooks in `NF_INET_*` order.
    pub fn points(&self) -> impl Iterator<Item = (Hook, TableKind)> + '_ {
        Hook::ALL.into_iter().flat_map(move |h| {
            TableKind::ALL
                .into_iter()
                .filter(move |&t| self.runs_at(h, t))
                .map(move |t| (h, t))
        })
    }

    /// The classifier of every chain: `(table, chain, stats)`; empty with
    /// the classifier off.
    pub fn classifier_stats(&self) -> Vec<(TableKind, String, ClassifierStats)> {
        Self::stats_of(&self.tables, &self.ruleset)
    }

    /// [`Program::classifier_stats`] of the ip6tables tables.
    pub fn classifier_stats6(&self) -> Vec<(TableKind, String, ClassifierStats)> {
        match &self.ruleset6 {
            Some(rs) => Self::stats_of(&self.tables6, rs),
            None => Vec::new(),
        }
    }

    fn stats_of(
        tables: &[TableProg],
        ruleset: &Ruleset,
    ) -> Vec<(TableKind, String, ClassifierStats)> {
        let mut v = Vec::new();
        for (t, cfg) in tables.iter().zip(&ruleset.tables) {
            for (c, cc) in t.chains.iter().zip(&cfg.chains) {
                if let Some(cl) = &c.classifier {
                    v.push((t.kind, cc.name.clone(), cl.stats()));
                }
            }
        }
        v
    }

    /// `(table, chain, rule text) → counter slot` for every rule, and
    /// `(table, chain, "") → slot` for every policy.
    /// `(new slot, old slot)` of every counter that carries over from
    /// `old` to `new`: a rule whose text is unchanged in its chain (the
    /// n-th such rule to the n-th), a chain's policy. Renders every rule
    /// of both: the control side's work, not a worker's
    /// ([`Program::prepare_carry`]).
    pub fn carry_map(old: &Program, new: &Program) -> Vec<(u32, u32)> {
        let mut before = old.slots();
        let mut map = Vec::new();
        for (key, slots) in new.slots() {
            let Some(olds) = before.get_mut(&key) else {
                continue;
            };
            map.extend(slots.iter().copied().zip(olds.drain(..)));
        }
        map
    }

    /// Works out, on the control side, which counters carry over when
    /// this program replaces `old`, so a worker's swap copies them
    /// without rendering a rule. A worker that runs another program when
    /// it takes this one works the map out itself.
    pub fn prepare_carry(&mut self, old: &Arc<Program>) {
        self.carry = Some(Carry {
            from: Arc::downgrade(old),
            map: Program::carry_map(old, self),
        });
    }

    /// `(IPv6, table, chain, rule text) → counter slots`.
    fn slots(&self) -> HashMap<(bool, TableKind, &str, String), Vec<u32>> {
        let mut m: HashMap<(bool, TableKind, &str, String), Vec<u32>> = HashMap::new();
        let v6 = self.ruleset6.iter().flat_map(|r| &r.tables);
        let all = self
            .tables
            .iter()
            .zip(&self.ruleset.tables)
            .map(|x| (false, x))
            .chain(self.tables6.iter().zip(v6).map(|x| (true, x)));
        for (six, (t, cfg)) in all {
            for (c, cc) in t.chains.iter().zip(&cfg.chains) {
                if let Some((_, slot)) = c.policy {
                    m.entry((six, t.kind, cc.name.as_str(), String::new()))
                        .or_default()
                        .push(slot);
                }
                for (r, rule) in c.rules.iter().zip(&cc.rules) {
                    m.entry((six, t.kind, cc.name.as_str(), save_rule(&cc.name, rule)))
                        .or_default()
                        .push(r.counter);
                }
            }
        }
        m
    }
}

/// The counters a program takes over from the one it replaces
/// ([`Program::prepare_carry`]).
#[derive(Debug, Clone)]
pub(crate) struct Carry {
    /// The program the map is from (its allocation stays while this
    /// lives, so the address names it).
    from: std::sync::Weak<Program>,
    /// `(new slot, old slot)`.
    map: Vec<(u32, u32)>,
}

impl RulesState {
    /// Fresh state for worker `worker` running `prog`.
    pub fn new(prog: &Program, worker: u32) -> RulesState {
        let params = &prog.params;
        let seed = params.seed ^ u64::from(worker).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        RulesState {
            counters: Arc::new(RuleCells::new(prog.counters)),
            limits: prog.limits.iter().map(|l| l.new_state(0)).collect(),
            stats: prog.stats.iter().map(|s| s.new_state()).collect(),
            recent: prog.recent.new_state(),
            prng: Prng::new(seed),
            log: LogRing::new(params.log_ring),
            stack: Vec::with_capacity(prog.max_depth),
            reply: vec![0; MAX_REPLY_FRAME].into_boxed_slice(),
            epoch: None,
            worker,
        }
    }

    /// State for `new`, the program replacing `old` (which `self` ran):
    /// rules and policies whose text is unchanged within their chain keep
    /// their counters, as `iptables-restore --counters` of a saved table
    /// would give them (a rule that appears several times in a chain
    /// pairs up in order); everything else starts at zero. The LOG ring
    /// (and its readers) and the clock carry over; the stateful matches'
    /// state starts fresh, as a kernel table replace gives new `limit`
    /// buckets.
    pub fn carry_over(&self, old: &Program, new: &Program) -> RulesState {
        let mut st = RulesState::new(new, self.worker);
        st.log = self.log.clone_shared();
        st.epoch = self.epoch;
        let copy = |map: &[(u32, u32)]| {
            for &(n, o) in map {
                st.counters.set(n, self.counters.get(o));
            }
        };
        match &new.carry {
            Some(c) if std::ptr::eq(c.from.as_ptr(), old) => copy(&c.map),
            _ => copy(&Program::carry_map(old, new)),
        }
        st
    }

    /// This worker's rule and policy counters.
    pub fn counters(&self, prog: &Program) -> RuleCounters {
        counters_of(&prog.tables, &prog.ruleset, &self.counters)
    }

    /// A handle another thread can read the counters and drain the LOG
    /// records through, while the worker runs.
    pub fn reader(&self, prog: Arc<Program>) -> RulesReader {
        RulesReader {
            prog,
            counters: Arc::clone(&self.counters),
            log: self.log.reader(),
        }
    }

    /// Moves the LOG records captured so far to `out`, oldest first.
    pub fn drain_log(&mut self, out: &mut Vec<LogRecord>) {
        out.extend(self.log.drain());
    }

    /// LOG records lost because the ring was full (`log.ring_full`).
    pub fn log_ring_full(&self) -> u64 {
        self.log.ring_full()
    }

    /// This state's worker index.
    pub fn worker(&self) -> u32 {
        self.worker
    }
}

/// The counters of `tables`, compiled from `ruleset`.
fn counters_of(tables: &[TableProg], ruleset: &Ruleset, cells: &RuleCells) -> RuleCounters {
    RuleCounters {
        tables: tables
            .iter()
            .zip(&ruleset.tables)
            .map(|(t, cfg)| TableCounters {
                table: t.kind,
                chains: t
                    .chains
                    .iter()
                    .zip(&cfg.chains)
                    .map(|(c, cc)| ChainCounters {
                        name: cc.name.clone(),
                        policy: c.policy.map(|(_, slot)| cells.get(slot)),
                        rules: c.rules.iter().map(|r| cells.get(r.counter)).collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// One worker's rule counters and LOG records, read from another thread
/// (the control side): no lock, the worker never waits for a reader.
#[derive(Debug, Clone)]
pub struct RulesReader {
    prog: Arc<Program>,
    counters: Arc<RuleCells>,
    log: LogReader,
}

impl RulesReader {
    /// The worker's counters now.
    pub fn counters(&self) -> RuleCounters {
        counters_of(&self.prog.tables, &self.prog.ruleset, &self.counters)
    }

    /// The worker's counters of the ip6tables tables (empty without an
    /// ip6tables ruleset).
    pub fn counters6(&self) -> RuleCounters {
        match &self.prog.ruleset6 {
            Some(rs) => counters_of(&self.prog.tables6, rs, &self.counters),
            None => RuleCounters::default(),
        }
    }

    /// The ruleset with these counters, as `iptables-save -c` prints it.
    pub fn save_with_counters(&self) -> String {
        self.counters().save(&self.prog.ruleset)
    }

    /// The ip6tables ruleset with these counters, as `ip6tables-save -c`
    /// prints it (empty without one).
    pub fn save_with_counters6(&self) -> String {
        match &self.prog.ruleset6 {
            Some(rs) => self.counters6().save(rs),
            None => String::new(),
        }
    }

    /// Moves the LOG records captured so far to `out`, oldest first.
    pub fn drain_log(&self, out: &mut Vec<LogRecord>) {
        self.log.drain_into(out);
    }

    /// LOG records lost because the ring was full.
    pub fn log_ring_full(&self) -> u64 {
        self.log.ring_full()
    }

    /// The program these counters belong to.
    pub fn program(&self) -> &Arc<Program> {
        &self.prog
    }
}

/// `<table>.drop`.
fn drop_counter(t: TableKind) -> Counter {
    match t {
        TableKind::Raw => Counter::RawDrop,
        TableKind::Mangle => Counter::MangleDrop,
        TableKind::Nat => Counter::NatDrop,
        TableKind::Filter => Counter::FilterDrop,
        TableKind::Security => Counter::SecurityDrop,
    }
}

/// What a table needs of the worker besides the rules' state: the
/// network, the conntrack shard (matches read entries, CONNMARK and the
/// NAT targets write them) and the NAT state.
pub struct TableCx<'a> {
    pub net: &'a Net,
    pub ct: &'a mut crate::conntrack::Shard,
    pub nat: &'a mut crate::nat::Nat,
}

/// Runs `table` of `prog` at `hook` over the packets of `batch`, with
/// worker state `st`: the table's work at one hook point. The nat table
/// runs as the kernel's NAT hooks run it ([`run_nat`]).
pub fn run_table(
    prog: &Program,
    st: &mut RulesState,
    hook: Hook,
    table: TableKind,
    batch: &mut Batch<'_>,
    cx: TableCx<'_>,
) {
    run_table_traced(prog, st, hook, table, batch, cx, &mut eval::NoTrace);
}

/// [`run_table`], telling `tr` every step of every packet's traversal
/// (`sluice trace`; the packet path runs [`run_table`], whose tracer
/// compiles to nothing).
pub fn run_table_traced<T: eval::Tracer>(
    prog: &Program,
    st: &mut RulesState,
    hook: Hook,
    table: TableKind,
    batch: &mut Batch<'_>,
    cx: TableCx<'_>,
    tr: &mut T,
) {
    let t4 = prog.entry(false, hook, table);
    let t6 = prog.entry(true, hook, table);
    if t4.is_none() && t6.is_none() {
        return;
    }
    let now = batch.now();
    let epoch = *st.epoch.get_or_insert(now);
    let TableCx { net, ct, nat } = cx;
    let mut rc = RunCx {
        hook,
        net,
        now_ns: now.saturating_duration_since(epoch).as_nanos() as u64,
        table_drop: drop_counter(table),
        ct_now: ct.clock(now),
        ct,
        nat,
    };
    if table == TableKind::Nat {
        return run_nat(prog, [t4, t6], st, batch, &mut rc, tr);
    }
    for i in batch.indices() {
        // iptables tables see IPv4, ip6tables tables IPv6.
        let Some((t, entry)) = of_family(batch.meta(i).ip_version, [t4, t6]) else {
            continue;
        };
        match eval::run_packet(prog, t, entry, st, batch, i, &mut rc, tr) {
            Fate::Accept => {}
            Fate::Drop(reason) => batch.drop(i, reason),
        }
    }
}

/// The nat table at a NAT hook (`nf_nat_ipv4_fn` → `nf_nat_inet_fn`):
/// only a connection's first packet runs the table, and only until a rule
/// binds it; what no rule bound gets a null binding; then every tracked
/// packet is rewritten by its entry's bindings. An ICMP error RELATED to
/// a flow is de-translated instead.
fn run_nat<T: eval::Tracer>(
    prog: &Program,
    tables: [Option<(&TableProg, u32)>; 2],
    st: &mut RulesState,
    batch: &mut Batch<'_>,
    rc: &mut RunCx<'_>,
    tr: &mut T,
) {
    use crate::conntrack::tuple::Dir;
    use crate::nat;
    use crate::packet::{CtInfo, CtState};
    let m = nat::hook_manip(rc.hook);
    for i in batch.indices() {
        let version = batch.meta(i).ip_version;
        let Some((t, entry)) = of_family(version, tables) else {
            continue;
        };
        let CtState::Tracked { slot, info } = batch.ct(i) else {
            continue;
        };
        let dir = if info.is_reply() {
            Dir::Reply
        } else {
            Dir::Orig
        };
        // `nf_nat_icmp_reply_translation` / `nf_nat_icmpv6_reply_translation`:
        // an ICMP error about a flow is de-translated, not run through the
        // table.
        let icmp = if version == 6 { 58 } else { 1 };
        if info.is_related() && batch.meta(i).protocol.0 == icmp {
            if !nat::icmp_reply_translation(rc.ct, batch, i, slot, info, m) {
                batch.drop(i, Counter::NatIcmpBad);
            }
            continue;
        }
        if matches!(info, CtInfo::New | CtInfo::Related | CtInfo::RelatedReply) {
            if !nat::initialized(rc.ct, slot, m) {
                match eval::run_packet(prog, t, entry, st, batch, i, rc, tr) {
                    Fate::Accept => {}
                    Fate::Drop(reason) => {
                        batch.drop(i, reason);
                        continue;
                    }
                }
                if !nat::initialized(rc.ct, slot, m) {
                    if let Err(c) = nat::null_binding(rc.ct, rc.nat, slot, m) {
                        batch.drop(i, c);
                        continue;
                    }
                }
            } else if masq_oif_changed(rc, batch, i, slot, dir) {
                rc.ct.kill(slot);
                batch.drop(i, Counter::NatMasqGone);
                continue;
            }
        } else if masq_oif_changed(rc, batch, i, slot, dir) {
            rc.ct.kill(slot);
            batch.drop(i, Counter::NatMasqGone);
            continue;
        }
        if !nat::packet(rc.ct, batch, i, slot, dir, m) {
            batch.drop(i, Counter::NatDrop);
        }
    }
}

/// The table of a packet of IP version `version`: `tables` holds the
/// IPv4 one first, then the IPv6 one.
#[inline]
fn of_family(version: u8, tables: [Option<(&TableProg, u32)>; 2]) -> Option<(&TableProg, u32)> {
    match version {
        4 => tables[0],
        6 => tables[1],
        _ => None,
    }
}

/// `nf_nat_oif_changed`: a masqueraded flow's original-direction packet
/// leaving by another port than the binding's.
fn masq_oif_changed(
    rc: &RunCx<'_>,
    batch: &Batch<'_>,
    i: usize,
    slot: u32,
    dir: crate::conntrack::tuple::Dir,
) -> bool {
    if rc.hook != Hook::Postrouting || dir != crate::conntrack::tuple::Dir::Orig {
        return false;
    }
    let Some(e) = rc.ct.entry(slot) else {
        return false;
    };
    e.masq_port != 0 && batch.oif(i).map(|p| p.0 + 1) != Some(e.masq_port)
}
