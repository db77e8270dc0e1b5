//! [`RulesStage`]: a compiled ruleset as a pipeline hook stage, one per
//! worker, with that worker's counters, LOG ring and match state.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use sluice_config::appliance::Appliance;
use sluice_config::ipset::SetFile;
use sluice_config::iptables::save::save_rule;
use sluice_config::iptables::{Counters, Ruleset, TableKind};

use super::classify::ClassifierStats;
use super::compile::{self, hook_index, CompileParams, Program, RulesError};
use super::eval::{self, Fate, RunCx, WorkerState};
use super::limit::{LimitSharing, DEFAULT_HZ};
use super::log::{LogRecord, LogRing};
use super::recent::{RecentParams, DEFAULT_IP_LIST_TOT};
use super::reject::MAX_REPLY_FRAME;
use super::statistic::Prng;
use crate::pipeline::{Batch, Counter, HookCx, HookStage};

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
    /// LOG records the worker keeps until [`RulesStage::drain_log`].
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
/// shows them: per worker from [`RulesStage::counters`], summed over
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

/// The rule engine as a hook stage: a compiled ruleset (shared, immutable)
/// and one worker's state. See the module docs of [`crate::rules`].
pub struct RulesStage {
    prog: Arc<Program>,
    st: WorkerState,
    params: RulesParams,
    /// Time 0 of the stage's clock (`limit`, `recent`, LOG time stamps):
    /// the first batch it sees.
    epoch: Option<Instant>,
}

impl std::fmt::Debug for RulesStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesStage")
            .field("tables", &self.prog.tables.len())
            .field("counters", &self.prog.counters)
            .field("classifier", &self.prog.classify)
            .field("worker", &self.params.worker)
            .finish()
    }
}

impl RulesStage {
    /// Compiles `rules` for the appliance `app` (its interfaces are the
    /// ports, in order) with the sets of `sets`, and makes worker
    /// `params.worker`'s stage. Refuses NAT targets (no conntrack yet) and
    /// what the kernel would refuse at load, naming the rule's line.
    pub fn new(
        app: &Appliance,
        rules: &Ruleset,
        sets: &SetFile,
        params: RulesParams,
    ) -> Result<RulesStage, RulesError> {
        let prog = compile::compile(
            app,
            rules,
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
            },
        )?;
        Ok(RulesStage::with_program(Arc::new(prog), params))
    }

    fn with_program(prog: Arc<Program>, params: RulesParams) -> RulesStage {
        let seed = params.seed ^ u64::from(params.worker).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let st = WorkerState {
            counters: vec![[0, 0]; prog.counters],
            limits: prog.limits.iter().map(|l| l.new_state(0)).collect(),
            stats: prog.stats.iter().map(|s| s.new_state()).collect(),
            recent: prog.recent.new_state(),
            prng: Prng::new(seed),
            log: LogRing::new(params.log_ring),
            stack: Vec::with_capacity(prog.max_depth),
            reply: vec![0; MAX_REPLY_FRAME].into_boxed_slice(),
        };
        RulesStage {
            prog,
            st,
            params,
            epoch: None,
        }
    }

    /// The stage of another worker (`worker` its index) for the same
    /// compiled ruleset, with fresh counters and state.
    pub fn for_worker(&self, worker: u32) -> RulesStage {
        RulesStage::with_program(
            Arc::clone(&self.prog),
            RulesParams {
                worker,
                ..self.params
            },
        )
    }

    /// This worker's rule and policy counters.
    pub fn counters(&self) -> RuleCounters {
        let get = |slot: u32| {
            let [packets, bytes] = self.st.counters[slot as usize];
            Counters { packets, bytes }
        };
        RuleCounters {
            tables: self
                .prog
                .tables
                .iter()
                .zip(&self.prog.ruleset.tables)
                .map(|(t, cfg)| TableCounters {
                    table: t.kind,
                    chains: t
                        .chains
                        .iter()
                        .zip(&cfg.chains)
                        .map(|(c, cc)| ChainCounters {
                            name: cc.name.clone(),
                            policy: c.policy.map(|(_, slot)| get(slot)),
                            rules: c.rules.iter().map(|r| get(r.counter)).collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The ruleset with this worker's counters, as `iptables-save -c`
    /// prints it ([`RuleCounters::save`]).
    pub fn save_with_counters(&self) -> String {
        self.counters().save(&self.prog.ruleset)
    }

    /// Moves the LOG records captured so far to `out`, oldest first.
    pub fn drain_log(&mut self, out: &mut Vec<LogRecord>) {
        out.extend(self.st.log.drain());
    }

    /// LOG records lost because the ring was full (`log.ring_full`).
    pub fn log_ring_full(&self) -> u64 {
        self.st.log.ring_full()
    }

    /// The classifier of every chain: `(table, chain, stats)`; empty with
    /// the classifier off.
    pub fn classifier_stats(&self) -> Vec<(TableKind, String, ClassifierStats)> {
        let mut v = Vec::new();
        for (t, cfg) in self.prog.tables.iter().zip(&self.prog.ruleset.tables) {
            for (c, cc) in t.chains.iter().zip(&cfg.chains) {
                if let Some(cl) = &c.classifier {
                    v.push((t.kind, cc.name.clone(), cl.stats()));
                }
            }
        }
        v
    }

    pub fn params(&self) -> &RulesParams {
        &self.params
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

impl HookStage for RulesStage {
    fn points(&self) -> Vec<(sluice_config::iptables::Hook, TableKind)> {
        // The kernel runs the nat table only for packets with a conntrack
        // entry, and there are none unless some rule enables tracking.
        self.prog
            .tables
            .iter()
            .filter(|t| t.kind != TableKind::Nat || self.prog.tracks)
            .flat_map(|t| t.kind.builtin_hooks().iter().map(move |&h| (h, t.kind)))
            .collect()
    }

    fn run(
        &mut self,
        hook: sluice_config::iptables::Hook,
        table: TableKind,
        batch: &mut Batch<'_>,
        cx: &HookCx<'_>,
    ) {
        let prog = &*self.prog;
        let Some(t) = prog.table(table) else { return };
        let Some(entry) = t.entry[hook_index(hook)] else {
            return;
        };
        let epoch = *self.epoch.get_or_insert(cx.now);
        let rc = RunCx {
            hook,
            snap: cx.snapshot,
            now_ns: cx.now.saturating_duration_since(epoch).as_nanos() as u64,
            table_drop: drop_counter(table),
        };
        for i in batch.indices() {
            // iptables tables see IPv4 only (ip6tables' are other tables).
            if batch.meta(i).ip_version != 4 {
                continue;
            }
            match eval::run_packet(prog, t, entry, &mut self.st, batch, i, &rc) {
                Fate::Accept => {}
                Fate::Drop(reason) => batch.drop(i, reason),
            }
        }
    }
}
