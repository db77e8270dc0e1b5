//! `sluice rules list`: the running ruleset in the layout of `iptables -L`
//! (iptables 1.8.9, legacy backend: `iptables.c` `list_entries`,
//! `print_header`, `print_firewall`, libxtables `xtables_print_num`, and
//! each extension's `print` function).
//!
//! What it reads: the ruleset as written ([`Program::ruleset`]) and the
//! counters summed over workers ([`RuleCounters::merge`]). Chains come in
//! libiptc's order (built-in chains in hook order, then user chains by
//! name), which is the order of [`Table::chains`].
//!
//! Compared byte for byte with `iptables-legacy -L -v -n -x` (and with
//! `--line-numbers`, without `-v`, without `-x`, `-L CHAIN`) in
//! `control/tests/views_kernel.rs`.
//!
//! ## Differences from iptables
//!
//! * Without `-n` iptables names addresses through the C library
//!   (`/etc/hosts`, `/etc/networks`, and DNS if nsswitch says so); sluice
//!   uses [`ListOptions::names`], which the CLI fills from `/etc/hosts`
//!   and `/etc/networks` only ([`Names::from_etc`]): an address only DNS
//!   names prints as a number. Protocol, port, ICMP type and LOG level
//!   names come from the same tables iptables reads (netbase's
//!   `/etc/protocols` and `/etc/services`, embedded).
//!
//! [`Program::ruleset`]: sluice_dataplane::rules::Program::ruleset

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::Serialize;
use sluice_config::iptables::ext::addrtype::{AddrTypeMatch, ADDR_TYPE_NAMES};
use sluice_config::iptables::ext::conntrack::{CtAddr, CtPortRange, CtStateMatch, CtStates};
use sluice_config::iptables::ext::icmp::ICMP_NAMES;
use sluice_config::iptables::ext::limit::save_rate;
use sluice_config::iptables::ext::multiport::MultiportSide;
use sluice_config::iptables::ext::pkttype::PktType;
use sluice_config::iptables::ext::recent::{RecentCommand, RecentSide};
use sluice_config::iptables::ext::set::{CounterCmp, SetDir};
use sluice_config::iptables::ext::statistic::{StatisticMode, PROBABILITY_SCALE};
use sluice_config::iptables::ext::t_connmark::{ConnmarkMode, ShiftDir};
use sluice_config::iptables::ext::t_ct::{CT_EVENTS, EXP_EVENTS};
use sluice_config::iptables::ext::t_nat::NatRange;
use sluice_config::iptables::ext::t_tcpmss::TcpmssAction;
use sluice_config::iptables::ext::t_ttl::TtlOp;
use sluice_config::iptables::ext::tcp::{PortRange, TCP_FLAGS};
use sluice_config::iptables::ext::ttl::TtlMode;
use sluice_config::iptables::netdb;
use sluice_config::iptables::save::save_rule;
use sluice_config::iptables::{
    AddrMatch, Counters, IfaceMatch, Match, Rule, Ruleset, Table, TableKind, Target, TargetExt,
};
use sluice_dataplane::rules::RuleCounters;

use super::names::Names;
use super::ViewError;

/// What `rules list` was asked for: `iptables [-t TABLE] -L [CHAIN] [-v]
/// [-n] [-x] [--line-numbers]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// `-t`: filter when not given.
    pub table: TableKind,
    /// Only this chain.
    pub chain: Option<String>,
    /// `-v`: counters, interfaces, policy counters.
    pub verbose: bool,
    /// `-n`: numbers, not names.
    pub numeric: bool,
    /// `-x`: exact counters (no K/M/G).
    pub exact: bool,
    /// `--line-numbers`.
    pub line_numbers: bool,
    /// Address names used without `-n` (none: numbers).
    pub names: Names,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            table: TableKind::Filter,
            chain: None,
            verbose: false,
            numeric: false,
            exact: false,
            line_numbers: false,
            names: Names::none(),
        }
    }
}

/// `xtables_print_num`'s format bits (xtables.h `FMT_*`).
#[derive(Debug, Clone, Copy)]
struct Fmt<'a> {
    names: &'a Names,
    counts: bool,
    via: bool,
    numeric: bool,
    kmg: bool,
    line_numbers: bool,
}

impl Fmt<'_> {
    fn of(o: &ListOptions) -> Fmt<'_> {
        Fmt {
            names: &o.names,
            counts: o.verbose,
            via: o.verbose,
            numeric: o.numeric,
            kmg: !o.exact,
            line_numbers: o.line_numbers,
        }
    }
}

/// The table `rules` has of `kind`, or the empty one the kernel creates
/// when a table is first listed.
fn table_of(rules: &Ruleset, kind: TableKind) -> Table {
    rules
        .table(kind)
        .cloned()
        .unwrap_or_else(|| Table::new(kind))
}

/// How many rules of `table` jump or go to chain `name` (libiptc's
/// `references`).
pub fn references(table: &Table, name: &str) -> u32 {
    table
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .filter(|r| matches!(&r.target, Target::Chain { name: n, .. } if n == name))
        .count() as u32
}

/// `rules` listed as `iptables -L` lists them, with `counters` (summed
/// over workers; a rule without one shows zero). Fails, as iptables does,
/// when `opts.chain` names no chain of the table.
pub fn rules_list(
    rules: &Ruleset,
    counters: &RuleCounters,
    opts: &ListOptions,
) -> Result<String, ViewError> {
    let table = table_of(rules, opts.table);
    if let Some(c) = &opts.chain {
        if table.chain(c).is_none() {
            return Err(ViewError::NoChain(c.clone()));
        }
    }
    let f = Fmt::of(opts);
    let mut out = String::new();
    let mut found = false;
    for c in &table.chains {
        if opts.chain.as_ref().is_some_and(|want| *want != c.name) {
            continue;
        }
        if found {
            out.push('\n');
        }
        found = true;
        let policy = c
            .hook
            .map(|_| counters.policy(table.kind, &c.name).unwrap_or_default());
        header(
            &mut out,
            f,
            &c.name,
            c.policy.map(|p| p.name()),
            policy,
            || references(&table, &c.name),
        );
        for (k, r) in c.rules.iter().enumerate() {
            let n = counters.rule(table.kind, &c.name, k).unwrap_or_default();
            rule_line(&mut out, f, k + 1, n, r);
        }
    }
    Ok(out)
}

/// `print_header`: the `Chain` line and the column titles.
fn header(
    out: &mut String,
    f: Fmt,
    chain: &str,
    policy: Option<&str>,
    counters: Option<Counters>,
    refs: impl FnOnce() -> u32,
) {
    let _ = write!(out, "Chain {chain}");
    match policy {
        Some(p) => {
            let _ = write!(out, " (policy {p}");
            if f.counts {
                let n = counters.unwrap_or_default();
                out.push(' ');
                num_notable(out, n.packets, f.kmg);
                out.push_str("packets, ");
                num_notable(out, n.bytes, f.kmg);
                out.push_str("bytes");
            }
            out.push_str(")\n");
        }
        None => {
            let _ = writeln!(out, " ({} references)", refs());
        }
    }
    if f.line_numbers {
        let _ = write!(out, "{:<4} ", "num");
    }
    if f.counts {
        if f.kmg {
            let _ = write!(out, "{:>5} {:>5} ", "pkts", "bytes");
        } else {
            let _ = write!(out, "{:>8} {:>10} ", "pkts", "bytes");
        }
    }
    let _ = write!(out, "{:<9} ", "target");
    out.push_str(" prot ");
    out.push_str("opt");
    if f.via {
        let _ = write!(out, " {:<6} {:<6} ", "in", "out");
    }
    let _ = write!(out, " {:<19} ", "source");
    let _ = write!(out, " {:<19} ", "destination");
    out.push('\n');
}

/// `xtables_print_num` in a table column (`FMT_NOTABLE` off).
pub fn num(out: &mut String, n: u64, kmg: bool) {
    if !kmg {
        let _ = write!(out, "{n:>8} ");
        return;
    }
    if n <= 99999 {
        let _ = write!(out, "{n:>5} ");
        return;
    }
    let mut n = n.saturating_add(500) / 1000;
    for suffix in ['K', 'M', 'G'] {
        if n <= 9999 {
            let _ = write!(out, "{n:>4}{suffix} ");
            return;
        }
        n = n.saturating_add(500) / 1000;
    }
    let _ = write!(out, "{n:>4}T ");
}

/// `xtables_print_num` with `FMT_NOTABLE` (the policy counters).
fn num_notable(out: &mut String, n: u64, kmg: bool) {
    let mut s = String::new();
    num(&mut s, n, kmg);
    out.push_str(s.trim_start());
}

/// `print_firewall`: one rule.
fn rule_line(out: &mut String, f: Fmt, num_: usize, n: Counters, r: &Rule) {
    if f.line_numbers {
        let _ = write!(out, "{num_:<4} ");
    }
    if f.counts {
        num(out, n.packets, f.kmg);
        num(out, n.bytes, f.kmg);
    }
    let _ = write!(out, "{:<9} ", target_name(&r.target));
    let (proto, pinv) = r.proto.map(|p| (p.proto, p.invert)).unwrap_or((0, false));
    out.push(if pinv { '!' } else { ' ' });
    let _ = write!(out, "{:<5}", proto_column(proto, f.numeric));
    out.push(if r.fragment == Some(true) { '!' } else { '-' });
    out.push(if r.fragment.is_some() { 'f' } else { '-' });
    out.push(' ');
    if f.via {
        let _ = write!(out, " {:<6} ", iface(&r.in_iface, f.numeric));
        let _ = write!(out, "{:<6} ", iface(&r.out_iface, f.numeric));
    }
    addr_column(out, &r.src, f);
    addr_column(out, &r.dst, f);
    if matches!(r.target, Target::Chain { goto: true, .. }) {
        out.push_str("[goto] ");
    }
    out.push_str(&rule_options_named(r, f.numeric, f.names));
    out.push('\n');
}

/// The target column: the chain or target name, empty without `-j`.
pub fn target_name(t: &Target) -> &str {
    match t {
        Target::None => "",
        Target::Accept => "ACCEPT",
        Target::Drop => "DROP",
        Target::Return => "RETURN",
        Target::Chain { name, .. } => name,
        // The kernel knows NOTRACK as CT (`-j NOTRACK` is an alias).
        Target::Ext(TargetExt::Notrack(_)) => "CT",
        Target::Ext(t) => t.name(),
    }
}

/// The prot column: iptables 1.8.9 prints the number with `-n`, else the
/// protocol database's name (`all` for 0).
fn proto_column(p: u8, numeric: bool) -> String {
    if numeric {
        return p.to_string();
    }
    if p == 0 {
        return "all".into();
    }
    sluice_config::iptables::save::proto_name(p)
}

fn iface(i: &Option<IfaceMatch>, numeric: bool) -> String {
    let mut s = String::new();
    if let Some(i) = i {
        if i.invert {
            s.push('!');
        }
        if !i.name.is_empty() || i.wildcard {
            s.push_str(&i.name);
            if i.wildcard {
                s.push('+');
            }
            return s;
        }
    }
    s.push_str(if numeric { "*" } else { "any" });
    s
}

/// `xtables_ipmask_to_numeric`: `` for /32, `/N` for a prefix, else the
/// dotted mask.
fn mask_suffix(mask: Ipv4Addr) -> String {
    let m = u32::from(mask);
    if m == u32::MAX {
        return String::new();
    }
    let ones = m.leading_ones();
    if m.checked_shl(ones).unwrap_or(0) == 0 {
        format!("/{ones}")
    } else {
        format!("/{mask}")
    }
}

fn addr_column(out: &mut String, a: &Option<AddrMatch>, f: Fmt) {
    let numeric = f.numeric;
    let (addr, mask, inv) = a.map(|a| (a.addr, a.mask, a.invert)).unwrap_or((
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        false,
    ));
    out.push(if inv { '!' } else { ' ' });
    let text = if mask == Ipv4Addr::UNSPECIFIED && !numeric {
        "anywhere".to_string()
    } else if numeric {
        format!("{addr}{}", mask_suffix(mask))
    } else {
        format!("{}{}", f.names.any_name(addr), mask_suffix(mask))
    };
    let _ = write!(out, "{text:<19} ");
}

/// Everything after the destination column: each match's `print`, then
/// the target's, as iptables prints them (each with a leading space,
/// after the column's own).
pub fn rule_options(r: &Rule, numeric: bool) -> String {
    rule_options_named(r, numeric, &Names::none())
}

/// [`rule_options`], addresses named by `names` without `-n`.
pub fn rule_options_named(r: &Rule, numeric: bool, names: &Names) -> String {
    let mut s = String::new();
    for m in &r.matches {
        print_match(&mut s, m, r, numeric, names);
    }
    if let Target::Ext(t) = &r.target {
        print_target(&mut s, t, numeric);
    }
    s
}

fn inv(b: bool) -> &'static str {
    if b {
        "!"
    } else {
        ""
    }
}

/// A port as libxt_tcp's `print_port`: the service name without `-n`.
fn port(s: &mut String, p: u16, proto: &str, numeric: bool) {
    if !numeric {
        if let Some((name, ..)) = netdb::SERVICES
            .iter()
            .find(|(_, sp, pr, _)| *sp == p && *pr == proto)
        {
            s.push_str(name);
            return;
        }
    }
    let _ = write!(s, "{p}");
}

/// libxt_tcp/udp `print_ports`.
fn ports(s: &mut String, name: &str, r: &Option<PortRange>, proto: &str, numeric: bool) {
    let Some(r) = r else { return };
    if r.lo == 0 && r.hi == 0xffff && !r.invert {
        return;
    }
    let _ = write!(s, " {name}");
    if r.lo == r.hi {
        let _ = write!(s, ":{}", inv(r.invert));
        port(s, r.lo, proto, numeric);
    } else {
        let _ = write!(s, "s:{}", inv(r.invert));
        port(s, r.lo, proto, numeric);
        s.push(':');
        port(s, r.hi, proto, numeric);
    }
}

fn tcp_flag_names(s: &mut String, flags: u8) {
    let mut f = flags;
    let mut first = true;
    while f != 0 {
        let Some((name, bit)) = TCP_FLAGS.iter().find(|(_, b)| f & b != 0) else {
            break;
        };
        if !first {
            s.push(',');
        }
        s.push_str(name);
        first = false;
        f &= !bit;
    }
    if first {
        s.push_str("NONE");
    }
}

fn ct_states(s: &mut String, st: CtStates) {
    let names: Vec<&str> = CtStates::NAMES
        .iter()
        .filter(|(_, b)| st.contains(*b))
        .map(|(n, _)| *n)
        .collect();
    s.push_str(&names.join(","));
}

fn ct_addr(s: &mut String, name: &str, a: &Option<CtAddr>, numeric: bool, names: &Names) {
    let Some(a) = a else { return };
    if a.invert {
        s.push_str(" !");
    }
    let _ = write!(s, " ct{name}");
    if !numeric && a.addr == Ipv4Addr::UNSPECIFIED {
        s.push_str(" anywhere");
    } else if numeric {
        let _ = write!(s, " {}{}", a.addr, mask_suffix(a.mask));
    } else {
        let _ = write!(s, " {}{}", names.any_name(a.addr), mask_suffix(a.mask));
    }
}

fn ct_port(s: &mut String, name: &str, p: &Option<CtPortRange>) {
    let Some(p) = p else { return };
    if p.invert {
        s.push_str(" !");
    }
    let _ = write!(s, " ct{name} {}", p.lo);
    if p.hi != p.lo {
        let _ = write!(s, ":{}", p.hi);
    }
}

fn state_match(s: &mut String, word: &str, st: &Option<CtStateMatch>) {
    if let Some(st) = st {
        let _ = write!(s, " {}{word} ", if st.invert { "! " } else { "" });
        ct_states(s, st.states);
    }
}

fn addr_types(s: &mut String, side: &str, m: &Option<AddrTypeMatch>) {
    let Some(m) = m else { return };
    let _ = write!(s, " {side}-type {}", inv(m.invert));
    let names: Vec<&str> = ADDR_TYPE_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| m.types.0 & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    s.push_str(&names.join(","));
}

fn counter_cmp(s: &mut String, what: &str, c: &Option<CounterCmp>) {
    match c {
        Some(CounterCmp::Eq(n)) => {
            let _ = write!(s, " {what}-eq {n}");
        }
        Some(CounterCmp::Ne(n)) => {
            let _ = write!(s, " ! {what}-eq {n}");
        }
        Some(CounterCmp::Lt(n)) => {
            let _ = write!(s, " {what}-lt {n}");
        }
        Some(CounterCmp::Gt(n)) => {
            let _ = write!(s, " {what}-gt {n}");
        }
        None => {}
    }
}

/// The `print` function of each match extension.
fn print_match(s: &mut String, m: &Match, r: &Rule, numeric: bool, names: &Names) {
    match m {
        Match::Tcp(t) => {
            s.push_str(" tcp");
            ports(s, "spt", &t.sport, "tcp", numeric);
            ports(s, "dpt", &t.dport, "tcp", numeric);
            if let Some(fl) = &t.flags {
                if fl.mask != 0 || fl.invert {
                    let _ = write!(s, " flags:{}", inv(fl.invert));
                    if numeric {
                        let _ = write!(s, "0x{:02X}/0x{:02X}", fl.mask, fl.comp);
                    } else {
                        tcp_flag_names(s, fl.mask);
                        s.push('/');
                        tcp_flag_names(s, fl.comp);
                    }
                }
            }
            if let Some((o, i)) = t.option {
                if o != 0 || i {
                    let _ = write!(s, " option={}{o}", inv(i));
                }
            }
        }
        Match::Udp(u) => {
            s.push_str(" udp");
            ports(s, "spt", &u.sport, "udp", numeric);
            ports(s, "dpt", &u.dport, "udp", numeric);
        }
        Match::Icmp(i) => {
            s.push_str(" icmp");
            if let Some(t) = &i.icmp_type {
                let named = (!numeric)
                    .then(|| {
                        ICMP_NAMES.iter().find(|(_, ty, lo, hi)| {
                            *ty == t.icmp_type && *lo == t.code_min && *hi == t.code_max
                        })
                    })
                    .flatten();
                if let Some((name, ..)) = named {
                    let _ = write!(s, " {}{name}", inv(t.invert));
                } else {
                    if t.invert {
                        s.push_str(" !");
                    }
                    let _ = write!(s, "type {}", t.icmp_type);
                    if t.code_min == t.code_max {
                        let _ = write!(s, " code {}", t.code_min);
                    } else if t.code_min != 0 || t.code_max != 0xff {
                        let _ = write!(s, " codes {}-{}", t.code_min, t.code_max);
                    }
                }
            }
        }
        Match::Conntrack(c) => {
            state_match(s, "ctstate", &c.state);
            if let Some(p) = &c.proto {
                if p.invert {
                    s.push_str(" !");
                }
                let _ = write!(s, " ctproto {}", p.proto);
            }
            ct_addr(s, "origsrc", &c.orig_src, numeric, names);
            ct_addr(s, "origdst", &c.orig_dst, numeric, names);
            ct_addr(s, "replsrc", &c.repl_src, numeric, names);
            ct_addr(s, "repldst", &c.repl_dst, numeric, names);
            ct_port(s, "origsrcport", &c.orig_src_port);
            ct_port(s, "origdstport", &c.orig_dst_port);
            ct_port(s, "replsrcport", &c.repl_src_port);
            ct_port(s, "repldstport", &c.repl_dst_port);
            if let Some(st) = &c.status {
                if st.invert {
                    s.push_str(" !");
                }
                s.push_str(" ctstatus ");
                let names: Vec<&str> = sluice_config::iptables::ext::conntrack::CtStatus::NAMES
                    .iter()
                    .filter(|(_, b)| st.status.0 & b.0 != 0)
                    .map(|(n, _)| *n)
                    .collect();
                if names.is_empty() {
                    s.push_str("NONE");
                } else {
                    s.push_str(&names.join(","));
                }
            }
            if let Some(e) = &c.expire {
                if e.invert {
                    s.push_str(" !");
                }
                let _ = write!(s, " ctexpire {}", e.min);
                if e.max != e.min {
                    let _ = write!(s, ":{}", e.max);
                }
            }
            if let Some(d) = &c.direction {
                let _ = write!(
                    s,
                    " ctdir {}",
                    match d {
                        sluice_config::iptables::ext::conntrack::CtDir::Original => "ORIGINAL",
                        sluice_config::iptables::ext::conntrack::CtDir::Reply => "REPLY",
                    }
                );
            }
        }
        Match::State(st) => state_match(s, "state", &st.state),
        Match::Multiport(mp) => {
            s.push_str(" multiport ");
            s.push_str(match mp.side {
                Some(MultiportSide::Source) => "sports ",
                Some(MultiportSide::Destination) => "dports ",
                Some(MultiportSide::Either) => "ports ",
                None => "ERROR ",
            });
            if mp.invert {
                s.push_str(" !");
            }
            let proto = match r.proto {
                Some(p) if p.proto == 17 => "udp",
                _ => "tcp",
            };
            for (i, p) in mp.ports.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                port(s, p.lo, proto, numeric);
                if p.hi != p.lo {
                    s.push(':');
                    port(s, p.hi, proto, numeric);
                }
            }
        }
        Match::Limit(l) => {
            s.push_str(" limit: avg");
            save_rate(s, l.avg);
            let _ = write!(s, " burst {}", l.burst);
        }
        Match::Mark(m) => mark_match(s, m, false),
        Match::Connmark(m) => mark_match(s, m, true),
        Match::Set(set) => {
            if let Some(ms) = &set.match_set {
                let _ = write!(
                    s,
                    " {}match-set {}",
                    if ms.invert { "! " } else { "" },
                    ms.name
                );
                for (i, d) in ms.dirs.iter().enumerate() {
                    s.push(if i == 0 { ' ' } else { ',' });
                    s.push_str(match d {
                        SetDir::Src => "src",
                        SetDir::Dst => "dst",
                    });
                }
            }
            if set.return_nomatch {
                s.push_str(" return-nomatch");
            }
            if set.skip_counter_update {
                s.push_str(" ! update-counters");
            }
            if set.skip_subcounter_update {
                s.push_str(" ! update-subcounters");
            }
            counter_cmp(s, "packets", &set.packets);
            counter_cmp(s, "bytes", &set.bytes);
        }
        Match::Addrtype(a) => {
            s.push_str(" ADDRTYPE match");
            addr_types(s, "src", &a.src);
            addr_types(s, "dst", &a.dst);
            match a.limit_iface {
                Some(sluice_config::iptables::ext::addrtype::LimitIface::In) => {
                    s.push_str(" limit-in")
                }
                Some(sluice_config::iptables::ext::addrtype::LimitIface::Out) => {
                    s.push_str(" limit-out")
                }
                None => {}
            }
        }
        Match::Comment(c) => {
            let _ = write!(s, " /* {} */", c.text.as_deref().unwrap_or(""));
        }
        Match::Iprange(ir) => {
            for (word, r) in [("source", &ir.src), ("destination", &ir.dst)] {
                if let Some(r) = r {
                    let _ = write!(s, " {word} IP range");
                    if r.invert {
                        s.push_str(" !");
                    }
                    let _ = write!(s, " {}-{}", r.lo, r.hi);
                }
            }
        }
        Match::Length(l) => {
            if let Some(l) = &l.length {
                let _ = write!(s, " length {}", inv(l.invert));
                if l.min == l.max {
                    let _ = write!(s, "{}", l.min);
                } else {
                    let _ = write!(s, "{}:{}", l.min, l.max);
                }
            }
        }
        Match::Mac(m) => {
            if let Some(m) = &m.source {
                s.push_str(" MAC");
                if m.invert {
                    s.push_str(" !");
                }
                let a = m.addr;
                let _ = write!(
                    s,
                    " {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    a[0], a[1], a[2], a[3], a[4], a[5]
                );
            }
        }
        Match::Pkttype(p) => {
            if let Some((t, i)) = &p.pkt_type {
                let _ = write!(
                    s,
                    " PKTTYPE {}= {}",
                    inv(*i),
                    match t {
                        PktType::Unicast => "unicast",
                        PktType::Broadcast => "broadcast",
                        PktType::Multicast => "multicast",
                        PktType::OtherHost => "otherhost",
                    }
                );
            }
        }
        Match::Recent(rc) => {
            if rc.invert {
                s.push_str(" !");
            }
            s.push_str(" recent:");
            s.push_str(match rc.command {
                Some(RecentCommand::Set) => " SET",
                Some(RecentCommand::Check) => " CHECK",
                Some(RecentCommand::Update) => " UPDATE",
                Some(RecentCommand::Remove) => " REMOVE",
                None => "",
            });
            if rc.seconds != 0 {
                let _ = write!(s, " seconds: {}", rc.seconds);
            }
            if rc.reap {
                s.push_str(" reap");
            }
            if rc.hit_count != 0 {
                let _ = write!(s, " hit_count: {}", rc.hit_count);
            }
            if rc.rttl {
                s.push_str(" TTL-Match");
            }
            let _ = write!(s, " name: {}", rc.name);
            s.push_str(match rc.side {
                RecentSide::Source => " side: source",
                RecentSide::Dest => " side: dest",
            });
            let _ = write!(s, " mask: {}", rc.mask);
        }
        Match::Statistic(st) => {
            s.push_str(" statistic");
            let i = if st.invert { " !" } else { "" };
            match st.mode {
                Some(StatisticMode::Random { probability }) => {
                    let _ = write!(
                        s,
                        " mode random{i} probability {:.11}",
                        f64::from(probability) / PROBABILITY_SCALE
                    );
                }
                Some(StatisticMode::Nth { every, packet }) => {
                    let _ = write!(s, " mode nth{i} every {every}");
                    if packet != 0 {
                        let _ = write!(s, " packet {packet}");
                    }
                }
                None => {}
            }
        }
        Match::Dscp(d) => {
            if let Some((v, i)) = d.dscp {
                let _ = write!(s, " DSCP match {}0x{v:02x}", inv(i));
            }
        }
        Match::Tos(t) => {
            if let Some(t) = &t.tos {
                let _ = write!(
                    s,
                    " tos match{}0x{:02x}/0x{:02x}",
                    inv(t.invert),
                    t.value,
                    t.mask
                );
            }
        }
        Match::Ttl(t) => {
            if let Some((mode, v)) = t.cmp {
                let op = match mode {
                    TtlMode::Eq => "==",
                    TtlMode::Ne => "!=",
                    TtlMode::Lt => "<",
                    TtlMode::Gt => ">",
                };
                let _ = write!(s, " TTL match TTL {op} {v}");
            }
        }
    }
}

/// libxt_mark's and libxt_connmark's `print`: `mark match ! 0x1/0xff`,
/// `connmark match ! 0x1/0xff` (connmark puts its space before the `!`,
/// so without one it prints two).
fn mark_match(s: &mut String, m: &sluice_config::iptables::ext::mark::Mark, connmark: bool) {
    let Some(mm) = &m.mark else { return };
    if connmark {
        s.push_str(" connmark match ");
        s.push_str(inv(mm.invert));
    } else {
        s.push_str(" mark match");
        if mm.invert {
            s.push_str(" !");
        }
    }
    let _ = write!(s, " 0x{:x}", mm.value);
    if mm.mask != u32::MAX {
        let _ = write!(s, "/0x{:x}", mm.mask);
    }
}

fn nat_range(s: &mut String, r: &NatRange) {
    if let Some(a) = &r.addrs {
        let _ = write!(s, "{}", a.min);
        if a.max != a.min {
            let _ = write!(s, "-{}", a.max);
        }
    }
    if let Some(p) = &r.ports {
        let _ = write!(s, ":{}", p.min);
        if p.max != p.min {
            let _ = write!(s, "-{}", p.max);
        }
        if let Some(b) = p.base {
            let _ = write!(s, "/{b}");
        }
    }
}

fn mark_op(s: &mut String, word: &str, value: u32, mask: u32) {
    if value == 0 {
        let _ = write!(s, " {word} and 0x{:x}", !mask);
    } else if value == mask {
        let _ = write!(s, " {word} or 0x{value:x}");
    } else if mask == 0 {
        let _ = write!(s, " {word} xor 0x{value:x}");
    } else if mask == u32::MAX {
        let _ = write!(s, " {word} set 0x{value:x}");
    } else {
        let _ = write!(s, " {word} xset 0x{value:x}/0x{mask:x}");
    }
}

fn events(s: &mut String, word: &str, table: &[(&str, u32)], mask: u32) {
    let _ = write!(s, " {word} ");
    let names: Vec<&str> = table
        .iter()
        .filter(|(_, bit)| mask & (1 << bit) != 0)
        .map(|(n, _)| *n)
        .collect();
    s.push_str(&names.join(","));
}

const LOG_LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
];

/// The `print` function of each target extension.
fn print_target(s: &mut String, t: &TargetExt, numeric: bool) {
    match t {
        TargetExt::Reject(r) => {
            let _ = write!(s, " reject-with {}", r.with.name());
        }
        TargetExt::Log(l) => {
            s.push_str(" LOG");
            let flags = u32::from(l.tcp_sequence)
                | u32::from(l.tcp_options) << 1
                | u32::from(l.ip_options) << 2
                | u32::from(l.uid) << 3
                | u32::from(l.macdecode) << 5;
            let level = l.level as usize;
            if numeric {
                let _ = write!(s, " flags {flags} level {level}");
            } else {
                let _ = write!(s, " level {}", LOG_LEVELS[level & 7]);
                for (on, word) in [
                    (l.tcp_sequence, " tcp-sequence"),
                    (l.tcp_options, " tcp-options"),
                    (l.ip_options, " ip-options"),
                    (l.uid, " uid"),
                    (l.macdecode, " macdecode"),
                ] {
                    if on {
                        s.push_str(word);
                    }
                }
            }
            if let Some(p) = l.prefix.as_deref().filter(|p| !p.is_empty()) {
                let _ = write!(s, " prefix \"{p}\"");
            }
        }
        TargetExt::Dnat(d) => {
            s.push_str(" to:");
            nat_range(s, &d.to);
            if d.random {
                s.push_str(" random");
            }
            if d.persistent {
                s.push_str(" persistent");
            }
        }
        TargetExt::Snat(d) => {
            s.push_str(" to:");
            nat_range(s, &d.to);
            if d.random {
                s.push_str(" random");
            }
            if d.random_fully {
                s.push_str(" random-fully");
            }
            if d.persistent {
                s.push_str(" persistent");
            }
        }
        TargetExt::Masquerade(m) => {
            if let Some(p) = &m.ports {
                let _ = write!(s, " masq ports: {}", p.min);
                if p.max != p.min {
                    let _ = write!(s, "-{}", p.max);
                }
            }
            if m.random {
                s.push_str(" random");
            }
            if m.random_fully {
                s.push_str(" random-fully");
            }
        }
        TargetExt::Redirect(m) => {
            if let Some(p) = &m.ports {
                let _ = write!(s, " redir ports {}", p.min);
                if p.max != p.min {
                    let _ = write!(s, "-{}", p.max);
                }
            }
            if m.random {
                s.push_str(" random");
            }
        }
        TargetExt::Mark(m) => {
            if let Some(x) = &m.xmark {
                mark_op(s, "MARK", x.value, x.mask);
            }
        }
        TargetExt::Connmark(c) => {
            match c.mode {
                Some(ConnmarkMode::Set) => mark_op(s, "CONNMARK", c.ctmark, c.ctmask),
                Some(ConnmarkMode::Save) => {
                    if c.nfmask == u32::MAX && c.ctmask == u32::MAX {
                        s.push_str(" CONNMARK save");
                    } else if c.nfmask == c.ctmask {
                        let _ = write!(s, " CONNMARK save mask 0x{:x}", c.nfmask);
                    } else {
                        let _ = write!(
                            s,
                            " CONNMARK save nfmask 0x{:x} ctmask ~0x{:x}",
                            c.nfmask, c.ctmask
                        );
                    }
                }
                Some(ConnmarkMode::Restore) => {
                    if c.nfmask == u32::MAX && c.ctmask == u32::MAX {
                        s.push_str(" CONNMARK restore");
                    } else if c.nfmask == c.ctmask {
                        let _ = write!(s, " CONNMARK restore mask 0x{:x}", c.ctmask);
                    } else {
                        let _ = write!(
                            s,
                            " CONNMARK restore ctmask 0x{:x} nfmask ~0x{:x}",
                            c.ctmask, c.nfmask
                        );
                    }
                }
                None => s.push_str(" ERROR: UNKNOWN CONNMARK MODE"),
            }
            if c.mode.is_some() && c.shift_bits != 0 {
                let dir = match c.shift_dir {
                    ShiftDir::Left => "left-shift-mark",
                    ShiftDir::Right => "right-shift-mark",
                };
                let _ = write!(s, " {dir} {}", c.shift_bits);
            }
        }
        TargetExt::Ct(c) => {
            s.push_str(" CT");
            if c.notrack {
                s.push_str(" notrack");
            }
            if c.ct_events != 0 {
                events(s, "ctevents", &CT_EVENTS, c.ct_events);
            }
            if c.exp_events != 0 {
                events(s, "expevents", &EXP_EVENTS, c.exp_events);
            }
            let z = &c.zone;
            if z.from_mark || z.id != 0 {
                s.push_str(" zone");
                match (z.orig, z.reply) {
                    (true, false) => s.push_str("-orig"),
                    (false, true) => s.push_str("-reply"),
                    _ => {}
                }
                if z.from_mark {
                    s.push_str(" mark");
                } else {
                    let _ = write!(s, " {}", z.id);
                }
            }
        }
        TargetExt::Notrack(_) => s.push_str(" NOTRACK"),
        TargetExt::Dscp(d) => {
            if let Some(v) = d.dscp {
                let _ = write!(s, " DSCP set 0x{v:02x}");
            }
        }
        TargetExt::Tcpmss(t) => match t.action {
            Some(TcpmssAction::ClampToPmtu) => s.push_str(" TCPMSS clamp to PMTU"),
            Some(TcpmssAction::Set(v)) => {
                let _ = write!(s, " TCPMSS set {v}");
            }
            None => {}
        },
        TargetExt::Ttl(t) => match t.op {
            Some(TtlOp::Set(v)) => {
                let _ = write!(s, " TTL set to {v}");
            }
            Some(TtlOp::Dec(v)) => {
                let _ = write!(s, " TTL decrement by {v}");
            }
            Some(TtlOp::Inc(v)) => {
                let _ = write!(s, " TTL increment by {v}");
            }
            None => {}
        },
    }
}

/// One rule of `rules list --json`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleJson {
    pub num: usize,
    pub packets: u64,
    pub bytes: u64,
    pub target: String,
    pub goto: bool,
    /// What `iptables -L -n` prints after the destination column.
    pub options: String,
    /// The rule as `iptables-save` prints it.
    pub rule: String,
}

/// One chain of `rules list --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ChainJson {
    pub name: String,
    /// Built-in chains: the policy and its counters.
    pub policy: Option<String>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// User chains: how many rules jump or go to it.
    pub references: Option<u32>,
    pub rules: Vec<RuleJson>,
}

/// `rules list --json`: the table's chains (or the one asked for) with
/// every rule's counters; the same data as the text form, numeric.
pub fn rules_list_json(
    rules: &Ruleset,
    counters: &RuleCounters,
    opts: &ListOptions,
) -> Result<serde_json::Value, ViewError> {
    let table = table_of(rules, opts.table);
    if let Some(c) = &opts.chain {
        if table.chain(c).is_none() {
            return Err(ViewError::NoChain(c.clone()));
        }
    }
    let mut chains = Vec::new();
    for c in &table.chains {
        if opts.chain.as_ref().is_some_and(|want| *want != c.name) {
            continue;
        }
        let pol = c
            .hook
            .map(|_| counters.policy(table.kind, &c.name).unwrap_or_default());
        chains.push(ChainJson {
            name: c.name.clone(),
            policy: c.policy.map(|p| p.name().to_string()),
            packets: pol.map(|p| p.packets),
            bytes: pol.map(|p| p.bytes),
            references: c.hook.is_none().then(|| references(&table, &c.name)),
            rules: c
                .rules
                .iter()
                .enumerate()
                .map(|(k, r)| {
                    let n = counters.rule(table.kind, &c.name, k).unwrap_or_default();
                    RuleJson {
                        num: k + 1,
                        packets: n.packets,
                        bytes: n.bytes,
                        target: target_name(&r.target).to_string(),
                        goto: matches!(r.target, Target::Chain { goto: true, .. }),
                        options: rule_options(r, true),
                        rule: save_rule(&c.name, r),
                    }
                })
                .collect(),
        });
    }
    Ok(serde_json::json!({ "table": table.kind.name(), "chains": chains }))
}
