//! The rule engine: `iptables-restore` rulesets compiled into immutable
//! programs and run at the netfilter hooks with the kernel's semantics
//! (`net/ipv4/netfilter/ip_tables.c` `ipt_do_table`, the `xt_*` matches
//! and targets).
//!
//! Contract:
//!
//! * The control side compiles the appliance config, the ruleset and the
//!   sets file into a [`Program`] ([`Program::compile`], [`compile`]): per
//!   table its chains as arrays of rules, jumps resolved, the entry chain
//!   of each hook, and a [`classify::Classifier`] per chain. Errors
//!   ([`RulesError`]) name the rule's line. The program goes into the
//!   snapshot, shared by every worker; each worker keeps its own
//!   [`RulesState`], and the pipeline calls [`run_table`] at every
//!   (hook, table) point the program has ([`Program::runs_at`]).
//! * On the packet path ([`eval`], [`matches`](mod@matches), [`targets`]) nothing
//!   allocates, locks, logs or makes a syscall: counters, the LOG ring, the
//!   jump stack and the REJECT answer buffer are the worker's, allocated
//!   when the state is built; time is the batch's.
//! * Counters are per worker, plain `u64`: per rule (packets and IP bytes,
//!   counted when the rule's matches hold, before its target) and per
//!   built-in chain policy. [`RulesState::counters`] gives them per (table,
//!   chain, rule) ([`RuleCounters`], summed over workers with
//!   [`RuleCounters::merge`]); [`RulesReader`] reads them (and drains LOG
//!   records) from another thread without stopping the worker, and
//!   [`RulesReader::save_with_counters`] prints the ruleset as
//!   `iptables-save -c` does.
//! * Drops are counted by the pipeline under `<table>.drop` (DROP, a DROP
//!   policy, a failed TCPMSS), `filter.reject` (REJECT; its answer
//!   `reject.icmp_unreachable` / `reject.tcp_reset`, or why none:
//!   `reject.<reason>`, `icmp.ratelimited`, `icmp.no_route`), and
//!   `rules.hotdrop`; lost LOG records under `log.ring_full`.
//!
//! Semantics: see [`eval`] (chain traversal, verdicts, counters),
//! [`matches`](mod@matches) (every match) and [`targets`] (every target).
//! Two families: the iptables tables run on IPv4 packets, the ip6tables
//! tables (an optional second ruleset, [`Program::compile_dual`]) on IPv6
//! packets, with the IPv6 forms of the matches (`v6`: addresses, `icmp6`,
//! `ipv6header`, `frag`, `rt`, `eui64`; `hl` and `HL` on the hop limit)
//! and REJECT's IPv6 answers ([`reject6`]); the NAT targets run on IPv6
//! through the shared NAT core (SNAT/DNAT with IPv6 ranges, MASQUERADE,
//! REDIRECT); `addrtype` as `addrtype_mt6` (`v6::addrtype6`); `recent`
//! with lists shared by name between the two rulesets, entries keyed by
//! (address, family) ([`recent`]). `iprange` in an ip6tables ruleset is
//! refused by name ([`RulesError::NotYet6`]; the config parser refuses it
//! first).
//!
//! ## Differences from the kernel
//!
//! * **Connection tracking** is the worker's shard ([`crate::conntrack`]):
//!   it runs when a rule needs it, as the kernel's `nf_ct_netns_get` turns
//!   it on (conntrack / state / connmark matches, CONNMARK, CT without
//!   `--notrack`, a NAT target). Before the conntrack point (the raw
//!   table), and without tracking, a packet has no entry: INVALID. The nat
//!   table runs as the kernel's NAT hooks run it: for a connection's first
//!   packet only, until a rule binds it ([`run_nat`](state)). No IPv4
//!   defragmentation: the kernel reassembles before PREROUTING when
//!   conntrack is on; here rules see each fragment (`-f` matches the
//!   non-first ones) and conntrack calls a non-first fragment INVALID.
//!   IPv6 fragments are reassembled first when IPv6 is tracked, as the
//!   kernel does (`crate::pipeline::defrag`): the rules see the datagram.
//! * `limit`, `recent` and `statistic --mode nth` keep their state per
//!   worker (the kernel's is global); see [`limit`], [`recent`],
//!   [`statistic`]. `statistic --mode random` draws from a seeded
//!   per-worker generator ([`RulesParams::seed`]).
//! * Counters start at zero: `[packets:bytes]` in the restore file are
//!   kept for printing only (as `iptables-restore` without `--counters`).
//! * LOG lines go to a per-worker ring, not the kernel log; their time is
//!   from the stage's first batch.
//! * `-m recent`'s "TTL before forwarding" adds one for received packets
//!   with an output interface; the kernel also adds one for the resets it
//!   generates itself (no socket), sluice does not.

pub mod classify;
pub mod limit;
pub mod log;
pub mod recent;
pub mod reject;
pub mod sets;
pub mod statistic;

pub mod compile;
pub mod eval;
pub mod matches;
mod npt;
pub mod reject6;
mod state;
pub mod targets;
mod v6;

#[cfg(test)]
mod tests;

pub use compile::RulesError;
pub use eval::{Event, NoTrace, Tracer};
pub use state::{
    run_table, run_table_traced, ChainCounters, Program, RuleCells, RuleCounters, RulesParams,
    RulesReader, RulesState, TableCounters, TableCx, DEFAULT_SEED,
};
