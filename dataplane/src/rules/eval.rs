//! The traversal of one table for one packet: the kernel's `ipt_do_table`
//! (`net/ipv4/netfilter/ip_tables.c`).
//!
//! * The packet enters the built-in chain of the hook. The first rule whose
//!   matches all hold is taken; its counter goes up by one packet and the
//!   packet's IP length in bytes (`skb->len` at L3, the IPv4 total length)
//!   *before* its target runs.
//! * `-j CHAIN` pushes a return point (the rule) on a jump stack and enters
//!   `CHAIN`; `-g CHAIN` enters it without pushing. `RETURN`, and falling
//!   off the end of a user chain, pop the stack and go on after the rule
//!   that jumped; with an empty stack (a `RETURN` in the built-in chain, or
//!   at the end of a chain reached by `-g` from it) the built-in chain's
//!   policy applies. Falling off the built-in chain applies its policy. A
//!   policy counts the packet in the chain's policy counter.
//! * ACCEPT ends the table (the next table at the hook runs); DROP and
//!   REJECT end everything; other targets go on with the next rule
//!   ([`super::targets`]).
//! * A match's *hotdrop* ([`super::matches`]) drops the packet at once,
//!   the rule not counted (`rules.hotdrop`).
//!
//! How the next matching rule is found: with the classifier (the default)
//! `Classifier::first_from(key, from)` proposes the first rule whose
//! common matches hold; its residual matches are then checked and, when
//! they fail, the classifier is asked again from the next rule. Without it
//! — [`RulesParams::classifier`](super::RulesParams::classifier) off, or a packet whose TCP / UDP / ICMP header
//! is cut short or that is a TCP fragment at offset 8, where a match may
//! hotdrop depending on what precedes it — every rule is tried in order,
//! all its matches in order. Both give the same answers (a property test
//! checks it).
//!
//! Tracing (`sluice trace`, [`crate::trace`]): `run_packet` is generic
//! over a [`Tracer`]. The packet path runs it with [`NoTrace`], whose
//! `ON` is false, so every tracing branch is removed at compile time; a
//! tracer with `ON` evaluates in plain order (the classifier's answers,
//! as above) and hears of every rule tested, every jump, return, target
//! outcome and policy. A property test checks that the traced traversal's
//! verdicts, marks, frames and counters are the packet path's.

use super::classify::{PacketKey, IF_NONE};
use super::compile::{CTarget, ChainProg, Program, TableProg};
use super::matches::{self, Hotdrop, MatchState, PktCx};
use super::state::{RuleCells, RulesState};
use super::targets::{self, Step, TargetCx};
use crate::net::Net;
use crate::packet::{Batch, Counter};
use crate::wire::{IpProtocol, L4Status, PacketMeta};
use sluice_config::iptables::{Hook, Policy};

/// The end of a table's traversal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Accept,
    Drop(Counter),
}

/// A packet whose transport header is cut short where a match of the
/// kernel would hotdrop it, a TCP fragment at offset 8, or an IPv6 packet
/// a `-p` hotdrops ([`matches::no_upper_layer6`]): evaluated in plain
/// order, every match in rule order.
#[inline]
fn irregular(meta: &PacketMeta) -> bool {
    let p = meta.protocol;
    (meta.frag_offset == 0
        && meta.l4 != L4Status::Parsed
        && matches!(
            p,
            IpProtocol::TCP
                | IpProtocol::UDP
                | IpProtocol::ICMP
                | IpProtocol::UDPLITE
                | IpProtocol::SCTP
                | IpProtocol::DCCP
                | IpProtocol::ICMPV6
        ))
        || (meta.frag_offset == 8 && p == IpProtocol::TCP)
        || matches::no_upper_layer6(meta)
}

/// The classifier's view of an IPv4 packet.
#[inline]
pub(crate) fn packet_key(meta: &PacketMeta, mark: u32, iif: u16, oif: u16) -> PacketKey {
    let (src, dst) = match (meta.src, meta.dst) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => (u32::from(s), u32::from(d)),
        _ => (0, 0),
    };
    let has_ports = matches!(meta.protocol, IpProtocol::TCP | IpProtocol::UDP)
        && meta.l4 == L4Status::Parsed
        && meta.frag_offset == 0;
    PacketKey {
        src,
        dst,
        proto: meta.protocol.0,
        sport: if has_ports { meta.src_port } else { 0 },
        dport: if has_ports { meta.dst_port } else { 0 },
        has_ports,
        iif,
        oif,
        mark,
    }
}

/// What the traversal needs besides the program and the worker state.
pub(crate) struct RunCx<'a> {
    pub hook: Hook,
    pub net: &'a Net,
    pub now_ns: u64,
    /// `<table>.drop`.
    pub table_drop: Counter,
    pub ct: &'a mut crate::conntrack::Shard,
    pub nat: &'a mut crate::nat::Nat,
    /// The shard's clock at this batch.
    pub ct_now: u64,
}

/// What a traversal tells a [`Tracer`]: the steps `sluice trace` prints.
/// Chains are positions in the table's chain list, rules positions in
/// their chain (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Rule `rule` of `chain` was tested: its matches held or not.
    Tested {
        chain: u32,
        rule: u32,
        matched: bool,
    },
    /// A match of rule `rule` could not read the packet: dropped at once.
    Hotdrop { chain: u32, rule: u32 },
    /// The matching rule's target went on to the next rule (MARK, LOG,
    /// CONNMARK, ...); the packet's mark after it.
    Continue { mark: u32 },
    /// The matching rule ended the table: ACCEPT, or a NAT target's
    /// `NF_ACCEPT`.
    Accept,
    /// The matching rule dropped the packet (DROP, REJECT, a failed
    /// TCPMSS), counted under this reason.
    Drop(Counter),
    /// `-j CHAIN`.
    Jump { to: u32 },
    /// `-g CHAIN`.
    Goto { to: u32 },
    /// `RETURN` (`implicit`: the end of a user chain) back to the rule
    /// after the jump in `to`, or with an empty stack to the policy.
    Return { implicit: bool, to: Option<u32> },
    /// The built-in chain's policy decided.
    Policy(Policy),
}

/// Receives the steps of a traversal. The packet path runs with
/// [`NoTrace`], whose methods are empty and whose `ON` is false: the
/// compiler removes every call, and the traversal is the one it always
/// was (classifier included). A tracer with `ON` evaluates in plain order,
/// every rule and match in turn (the classifier gives the same answers, a
/// property test checks it), so that each rule tested is reported.
pub trait Tracer {
    const ON: bool;
    fn event(&mut self, e: Event);
}

/// The packet path's tracer: nothing.
pub struct NoTrace;

impl Tracer for NoTrace {
    const ON: bool = false;
    #[inline(always)]
    fn event(&mut self, _: Event) {}
}

impl Tracer for Vec<Event> {
    const ON: bool = true;
    fn event(&mut self, e: Event) {
        self.push(e);
    }
}

/// Runs `table` from its chain `entry` for packet `i` of `batch` (IPv4),
/// telling `tr` each step (the packet path's [`NoTrace`]: nothing).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_packet<T: Tracer>(
    prog: &Program,
    table: &TableProg,
    entry: u32,
    st: &mut RulesState,
    batch: &mut Batch<'_>,
    i: usize,
    rc: &mut RunCx<'_>,
    tr: &mut T,
) -> Fate {
    let RulesState {
        counters,
        limits,
        stats,
        recent,
        prng,
        log,
        stack,
        reply,
        ..
    } = st;
    let counters: &RuleCells = counters;
    let mut ms = MatchState {
        limits,
        stats,
        recent,
        prng,
    };
    let iif = batch.iif(i);
    let oif = batch.oif(i);
    let l2 = batch.l2(i);
    let linear = T::ON || !prog.classify || irregular(batch.meta(i));
    let mut key = packet_key(
        batch.meta(i),
        batch.mark(i),
        iif.map_or(IF_NONE, |p| p.0),
        oif.map_or(IF_NONE, |p| p.0),
    );
    stack.clear();
    let mut chain = entry;
    let mut from = 0usize;
    loop {
        let ch = &table.chains[chain as usize];
        let found = {
            let p = PktCx {
                frame: batch.frame(i),
                meta: batch.meta(i),
                key: &key,
                iif,
                oif,
                l2,
                ct: batch.ct(i),
                entry: match batch.ct(i) {
                    crate::packet::CtState::Tracked { slot, .. } => rc.ct.entry(slot),
                    _ => None,
                },
                ct_now: rc.ct_now,
                net: rc.net,
                now_ns: rc.now_ns,
            };
            if linear {
                next_plain(prog, ch, chain, from, &p, &mut ms, tr)
            } else {
                next_classified(prog, ch, from, &p, &mut ms)
            }
        };
        let r = match found {
            Err(Hotdrop) => return Fate::Drop(Counter::RulesHotdrop),
            Ok(Some(r)) => r,
            Ok(None) => match ch.policy {
                // The end of the built-in chain: its policy.
                Some(_) => return policy(table, entry, counters, batch, i, rc, tr),
                // The end of a user chain: an implicit RETURN.
                None => match pop_return(stack, true, tr) {
                    Some((c, r)) => {
                        chain = c;
                        from = r as usize + 1;
                        continue;
                    }
                    None => return policy(table, entry, counters, batch, i, rc, tr),
                },
            },
        };
        let rule = &ch.rules[r];
        counters.hit(rule.counter, u64::from(batch.meta(i).ip_len));
        match &rule.target {
            CTarget::None => {
                from = r + 1;
                if T::ON {
                    tr.event(Event::Continue {
                        mark: batch.mark(i),
                    });
                }
            }
            CTarget::Accept => {
                if T::ON {
                    tr.event(Event::Accept);
                }
                return Fate::Accept;
            }
            CTarget::Drop => {
                if T::ON {
                    tr.event(Event::Drop(rc.table_drop));
                }
                return Fate::Drop(rc.table_drop);
            }
            CTarget::Return => match pop_return(stack, false, tr) {
                Some((c, r)) => {
                    chain = c;
                    from = r as usize + 1;
                }
                None => return policy(table, entry, counters, batch, i, rc, tr),
            },
            CTarget::Jump(target) => {
                if stack.len() == stack.capacity() {
                    // The kernel's jump stack overflow (cannot happen:
                    // jumps have no loops and the stack holds every chain).
                    return Fate::Drop(rc.table_drop);
                }
                if T::ON {
                    tr.event(Event::Jump { to: *target });
                }
                stack.push((chain, r as u32));
                chain = *target;
                from = 0;
            }
            CTarget::Goto(target) => {
                if T::ON {
                    tr.event(Event::Goto { to: *target });
                }
                chain = *target;
                from = 0;
            }
            t => {
                let mut tcx = TargetCx {
                    hook: rc.hook,
                    net: rc.net,
                    now_ns: rc.now_ns,
                    table_drop: rc.table_drop,
                    log,
                    reply,
                    ct: rc.ct,
                    nat: rc.nat,
                };
                let step = targets::run(t, batch, i, &mut tcx);
                if T::ON {
                    tr.event(match step {
                        Step::Continue => Event::Continue {
                            mark: batch.mark(i),
                        },
                        Step::Accept => Event::Accept,
                        Step::Drop(c) => Event::Drop(c),
                    });
                }
                match step {
                    Step::Continue => {
                        from = r + 1;
                        key.mark = batch.mark(i);
                    }
                    Step::Accept => return Fate::Accept,
                    Step::Drop(c) => return Fate::Drop(c),
                }
            }
        }
    }
}

/// A RETURN (`implicit`: the end of a user chain): the return point
/// popped from the jump stack, `None` for the policy.
#[inline(always)]
fn pop_return<T: Tracer>(
    stack: &mut Vec<(u32, u32)>,
    implicit: bool,
    tr: &mut T,
) -> Option<(u32, u32)> {
    let back = stack.pop();
    if T::ON {
        tr.event(Event::Return {
            implicit,
            to: back.map(|(c, _)| c),
        });
    }
    back
}

/// The policy of the hook's built-in chain, counted.
fn policy<T: Tracer>(
    table: &TableProg,
    entry: u32,
    counters: &RuleCells,
    batch: &Batch<'_>,
    i: usize,
    rc: &RunCx<'_>,
    tr: &mut T,
) -> Fate {
    let (p, slot) = table.chains[entry as usize]
        .policy
        .unwrap_or((Policy::Accept, u32::MAX));
    counters.hit(slot, u64::from(batch.meta(i).ip_len));
    if T::ON {
        tr.event(Event::Policy(p));
    }
    match p {
        Policy::Accept => Fate::Accept,
        Policy::Drop => Fate::Drop(rc.table_drop),
    }
}

/// The first rule from `from` of chain `chain` (`ch`) whose matches all
/// hold, in plain order; `tr` hears of each rule tested.
#[inline]
fn next_plain<T: Tracer>(
    prog: &Program,
    ch: &ChainProg,
    chain: u32,
    from: usize,
    p: &PktCx<'_>,
    ms: &mut MatchState<'_>,
    tr: &mut T,
) -> Result<Option<usize>, Hotdrop> {
    for (k, r) in ch.rules.iter().enumerate().skip(from) {
        let m = matches::rule_matches(prog, r, p, ms);
        if T::ON {
            let rule = k as u32;
            tr.event(match m {
                Err(Hotdrop) => Event::Hotdrop { chain, rule },
                Ok(matched) => Event::Tested {
                    chain,
                    rule,
                    matched,
                },
            });
        }
        if m? {
            return Ok(Some(k));
        }
    }
    Ok(None)
}

/// The first rule from `from` whose matches all hold, by the classifier
/// and the residual matches of the rules it proposes.
#[inline]
fn next_classified(
    prog: &Program,
    ch: &ChainProg,
    mut from: usize,
    p: &PktCx<'_>,
    ms: &mut MatchState<'_>,
) -> Result<Option<usize>, Hotdrop> {
    let Some(cl) = &ch.classifier else {
        return next_plain(prog, ch, 0, from, p, ms, &mut NoTrace);
    };
    // The packet key is computed once; a rule whose residual matches fail
    // resumes the search where it was.
    let mut cur = cl.cursor(p.key);
    while let Some(k) = cur.first_from(from) {
        let r = &ch.rules[k];
        if !r.residual || matches::residual_matches(prog, r, p, ms)? {
            return Ok(Some(k));
        }
        from = k + 1;
    }
    Ok(None)
}
