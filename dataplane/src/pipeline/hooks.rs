//! The hook points as data: for each netfilter hook, what runs there in
//! the kernel's priority order (`enum nf_ip_hook_priorities`), and how the
//! pipeline runs a hook over a batch.
//!
//! | hook        | points (priority)                                                   |
//! |-------------|---------------------------------------------------------------------|
//! | PREROUTING  | defrag −400, raw −300, conntrack −200, mangle −150, nat (DNAT) −100 |
//! | INPUT       | mangle −150, filter 0, security 50, nat (SNAT) 100, confirm last    |
//! | FORWARD     | mangle −150, filter 0, security 50                                  |
//! | OUTPUT      | defrag −400, raw −300, conntrack −200, mangle −150, nat (DNAT) −100, filter 0, security 50 |
//! | POSTROUTING | mangle −150, nat (SNAT) 100, confirm last                           |
//!
//! A table point runs the snapshot's compiled table ([`crate::rules`]),
//! then any extra stage registered there ([`HookStage`]: the tests' and
//! benches' instruments). The conntrack and confirm points call the
//! worker's conntrack shard ([`crate::conntrack`]), the defrag point its
//! IPv6 reassembler ([`super::defrag`]); all of them share
//! one [`WorkerState`](super::WorkerState), which is what lets a
//! `--ctstate` match, a NAT target and confirm see the same entry.

use sluice_config::iptables::{Hook, TableKind};

use super::*;
use crate::packet::Batch;
use crate::rules::compile::{hook_index, table_index};

/// What runs at a hook point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `nf_defrag_ipv6` when the snapshot tracks IPv6 ([`super::defrag`]);
    /// IPv4 fragments are not reassembled (see the conntrack module docs).
    Defrag,
    /// An iptables table.
    Table(TableKind),
    /// `nf_conntrack_in`.
    Conntrack,
    /// `nf_confirm`: the entry of a packet that made it through is
    /// entered in the table.
    Confirm,
}

/// One point of a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// The kernel's priority (lower first); `i32::MAX` for confirm
    /// (`NF_IP_PRI_CONNTRACK_CONFIRM`).
    pub priority: i32,
    pub stage: Stage,
}

const fn pt(priority: i32, stage: Stage) -> Point {
    Point { priority, stage }
}

use Stage::{Confirm, Conntrack, Defrag, Table};
use TableKind::{Filter, Mangle, Nat, Raw, Security};

const PREROUTING: &[Point] = &[
    pt(-400, Defrag),
    pt(-300, Table(Raw)),
    pt(-200, Conntrack),
    pt(-150, Table(Mangle)),
    pt(-100, Table(Nat)),
];
const INPUT: &[Point] = &[
    pt(-150, Table(Mangle)),
    pt(0, Table(Filter)),
    pt(50, Table(Security)),
    pt(100, Table(Nat)),
    pt(i32::MAX, Confirm),
];
const FORWARD: &[Point] = &[
    pt(-150, Table(Mangle)),
    pt(0, Table(Filter)),
    pt(50, Table(Security)),
];
const OUTPUT: &[Point] = &[
    pt(-400, Defrag),
    pt(-300, Table(Raw)),
    pt(-200, Conntrack),
    pt(-150, Table(Mangle)),
    pt(-100, Table(Nat)),
    pt(0, Table(Filter)),
    pt(50, Table(Security)),
];
const POSTROUTING: &[Point] = &[
    pt(-150, Table(Mangle)),
    pt(100, Table(Nat)),
    pt(i32::MAX, Confirm),
];

/// The points of `hook`, in the order they run.
pub fn points(hook: Hook) -> &'static [Point] {
    match hook {
        Hook::Prerouting => PREROUTING,
        Hook::Input => INPUT,
        Hook::Forward => FORWARD,
        Hook::Output => OUTPUT,
        Hook::Postrouting => POSTROUTING,
    }
}

pub use crate::snapshot::hook_bit;

/// What an extra stage gets besides the batch.
#[derive(Debug, Clone, Copy)]
pub struct HookCx<'a> {
    /// Read once per batch.
    pub now: Instant,
    /// The configuration this batch runs with.
    pub snapshot: &'a Snapshot,
}

/// An extra stage at table points, over whole batches: an instrument for
/// tests and benches (the ruleset, conntrack and NAT are not stages: the
/// pipeline runs them from the snapshot and the worker state).
pub trait HookStage: Send {
    /// The (hook, table) points this stage runs at; read once when it is
    /// registered ([`super::Pipeline::register`]). At one point, stages
    /// run in registration order, after the ruleset's table.
    fn points(&self) -> Vec<(Hook, TableKind)>;

    /// Runs over the packets of `batch` ([`Batch::indices`]).
    fn run(&mut self, hook: Hook, table: TableKind, batch: &mut Batch<'_>, cx: &HookCx<'_>);
}

/// The registered extra stages and where each runs.
#[derive(Default)]
pub(crate) struct Hooks {
    stages: Vec<Box<dyn HookStage>>,
    /// Stage indices per `[hook][table]`.
    at: [[Vec<usize>; 5]; 5],
    /// [`hook_bit`] of every hook that has a stage.
    active: u8,
}

impl Hooks {
    pub fn register(&mut self, stage: Box<dyn HookStage>) {
        let i = self.stages.len();
        for (h, t) in stage.points() {
            let slot = &mut self.at[hook_index(h)][table_index(t)];
            if !slot.contains(&i) {
                slot.push(i);
            }
            self.active |= hook_bit(h);
        }
        self.stages.push(stage);
    }

    /// Runs every stage registered at (`hook`, `table`) over `sel`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        hook: Hook,
        table: TableKind,
        umem: &mut Umem,
        buf: &mut BatchBuf,
        sel: u64,
        out: &mut Out,
        cx: &HookCx<'_>,
    ) {
        let Hooks { stages, at, .. } = self;
        for &s in &at[hook_index(hook)][table_index(table)] {
            if sel & buf.live == 0 {
                return;
            }
            let mut b = Batch::new(&mut *umem, &mut *buf, sel, &mut *out, cx.now);
            stages[s].run(hook, table, &mut b, cx);
        }
    }
}

impl Core {
    /// Runs the points of `hook` in priority order over the live packets
    /// of `sel`. At OUTPUT, packets whose mark or destination mangle
    /// changed, or whose destination nat changed, are routed again.
    pub(super) fn hook(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        hook: Hook,
        sel: u64,
        now: Instant,
    ) {
        self.hook_from(snap, umem, b, hook, sel, now, 0);
    }

    /// [`Core::hook`] from point `from` of the hook on (a deferred packet
    /// runs again from the conntrack point).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hook_from(
        &mut self,
        snap: &Snapshot,
        umem: &mut Umem,
        b: &mut BatchBuf,
        hook: Hook,
        sel: u64,
        now: Instant,
        from: usize,
    ) {
        if (snap.hooks() | self.hooks.active) & hook_bit(hook) == 0 {
            return;
        }
        for i in Bits(sel & b.live) {
            let p = &mut b.pkts[i];
            p.hook_out = p.out_port();
        }
        for point in &points(hook)[from..] {
            let table = match point.stage {
                Table(t) => t,
                Conntrack => {
                    if snap.tracks() && sel & b.live != 0 {
                        let mut v = Batch::new(umem, b, sel & b.live, &mut self.out, now);
                        let d = self.st.conntrack.input(
                            &mut v,
                            hook == Hook::Prerouting,
                            snap.tracked(),
                        );
                        if d != 0 {
                            for i in Bits(d) {
                                self.held.push(b.pkts[i]);
                                b.retire(i);
                            }
                        }
                        let handoffs = self.st.conntrack.handoffs();
                        for &(i, w, hop) in handoffs.iter() {
                            let i = usize::from(i);
                            let mut p = b.pkts[i];
                            p.hop = hop;
                            self.outbox.push((w, p));
                            b.retire(i);
                        }
                        handoffs.clear();
                    }
                    continue;
                }
                Confirm => {
                    if snap.tracks() && sel & b.live != 0 {
                        let mut v = Batch::new(umem, b, sel & b.live, &mut self.out, now);
                        self.st.conntrack.confirm(&mut v);
                    }
                    continue;
                }
                Defrag => {
                    if snap.tracked().v6 && sel & b.live != 0 {
                        self.defrag(umem, b, hook, sel, now);
                    }
                    continue;
                }
            };
            if let (Some(prog), Some(st)) = (&snap.rules, &mut self.st.rules) {
                if prog.runs_at(hook, table) && sel & b.live != 0 {
                    let mut v = Batch::new(umem, b, sel & b.live, &mut self.out, now);
                    let cx = crate::rules::TableCx {
                        net: &snap.net,
                        ct: &mut self.st.conntrack,
                        nat: &mut self.st.nat,
                    };
                    crate::rules::run_table(prog, st, hook, table, &mut v, cx);
                }
            }
            if self.hooks.active & hook_bit(hook) != 0 {
                let cx = HookCx {
                    now,
                    snapshot: snap,
                };
                self.hooks
                    .run(hook, table, umem, b, sel & b.live, &mut self.out, &cx);
            }
            if hook == Hook::Output && matches!(table, TableKind::Mangle | TableKind::Nat) {
                let changed = Bits(sel & b.live)
                    .filter(|&i| {
                        let p = &b.pkts[i];
                        !p.fixed_oif && (p.meta.dst, p.mark) != p.routed_with
                    })
                    .fold(0u64, |m, i| m | (1u64 << i));
                if changed != 0 {
                    self.route_output(snap, b, changed);
                }
            }
        }
    }
}

/// The index of the conntrack point of `hook` (PREROUTING, OUTPUT).
pub(super) fn conntrack_point(hook: Hook) -> usize {
    points(hook)
        .iter()
        .position(|p| p.stage == Conntrack)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_priority_order_with_the_kernels_tables() {
        for h in [
            Hook::Prerouting,
            Hook::Input,
            Hook::Forward,
            Hook::Output,
            Hook::Postrouting,
        ] {
            let ps = points(h);
            assert!(
                ps.windows(2).all(|w| w[0].priority < w[1].priority),
                "{h:?}"
            );
            // Every table that has a built-in chain at the hook has a
            // point there, and no other.
            for t in [Raw, Mangle, Nat, Filter, Security] {
                let has = ps.iter().any(|p| p.stage == Table(t));
                assert_eq!(has, t.builtin_hooks().contains(&h), "{h:?} {t:?}");
            }
        }
        assert_eq!(points(Hook::Prerouting)[2].stage, Conntrack);
        assert_eq!(points(Hook::Postrouting).last().unwrap().stage, Confirm);
        assert_eq!(points(Hook::Input).last().unwrap().stage, Confirm);
    }
}
