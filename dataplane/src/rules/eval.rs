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
/// kernel would hotdrop it, or a TCP fragment at offset 8: evaluated in
/// plain order, every match in rule order.
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
        ))
        || (meta.frag_offset == 8 && p == IpProtocol::TCP)
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

/// Runs `table` from its chain `entry` for packet `i` of `batch` (IPv4).
pub(crate) fn run_packet(
    prog: &Program,
    table: &TableProg,
    entry: u32,
    st: &mut RulesState,
    batch: &mut Batch<'_>,
    i: usize,
    rc: &mut RunCx<'_>,
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
    let linear = !prog.classify || irregular(batch.meta(i));
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
                next_plain(prog, ch, from, &p, &mut ms)
            } else {
                next_classified(prog, ch, from, &p, &mut ms)
            }
        };
        let r = match found {
            Err(Hotdrop) => return Fate::Drop(Counter::RulesHotdrop),
            Ok(Some(r)) => r,
            Ok(None) => match ch.policy {
                // The end of the built-in chain: its policy.
                Some(_) => return policy(table, entry, counters, batch, i, rc),
                // The end of a user chain: an implicit RETURN.
                None => match stack.pop() {
                    Some((c, r)) => {
                        chain = c;
                        from = r as usize + 1;
                        continue;
                    }
                    None => return policy(table, entry, counters, batch, i, rc),
                },
            },
        };
        let rule = &ch.rules[r];
        counters.hit(rule.counter, u64::from(batch.meta(i).ip_len));
        match &rule.target {
            CTarget::None => from = r + 1,
            CTarget::Accept => return Fate::Accept,
            CTarget::Drop => return Fate::Drop(rc.table_drop),
            CTarget::Return => match stack.pop() {
                Some((c, r)) => {
                    chain = c;
                    from = r as usize + 1;
                }
                None => return policy(table, entry, counters, batch, i, rc),
            },
            CTarget::Jump(target) => {
                if stack.len() == stack.capacity() {
                    // The kernel's jump stack overflow (cannot happen:
                    // jumps have no loops and the stack holds every chain).
                    return Fate::Drop(rc.table_drop);
                }
                stack.push((chain, r as u32));
                chain = *target;
                from = 0;
            }
            CTarget::Goto(target) => {
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
                match targets::run(t, batch, i, &mut tcx) {
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

/// The policy of the hook's built-in chain, counted.
fn policy(
    table: &TableProg,
    entry: u32,
    counters: &RuleCells,
    batch: &Batch<'_>,
    i: usize,
    rc: &RunCx<'_>,
) -> Fate {
    let (p, slot) = table.chains[entry as usize]
        .policy
        .unwrap_or((Policy::Accept, u32::MAX));
    counters.hit(slot, u64::from(batch.meta(i).ip_len));
    match p {
        Policy::Accept => Fate::Accept,
        Policy::Drop => Fate::Drop(rc.table_drop),
    }
}

/// The first rule from `from` whose matches all hold, in plain order.
#[inline]
fn next_plain(
    prog: &Program,
    ch: &ChainProg,
    from: usize,
    p: &PktCx<'_>,
    ms: &mut MatchState<'_>,
) -> Result<Option<usize>, Hotdrop> {
    for (k, r) in ch.rules.iter().enumerate().skip(from) {
        if matches::rule_matches(prog, r, p, ms)? {
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
        return next_plain(prog, ch, from, p, ms);
    };
    while let Some(k) = cl.first_from(p.key, from) {
        let r = &ch.rules[k];
        if !r.residual || matches::residual_matches(prog, r, p, ms)? {
            return Ok(Some(k));
        }
        from = k + 1;
    }
    Ok(None)
}
