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
use sluice_config::iptables::save::save_rule;
use sluice_config::iptables::{
    AddrMatch, Counters, IfaceMatch, Rule, Ruleset, Table, TableKind, Target, TargetExt,
};
use sluice_dataplane::rules::RuleCounters;

use super::names::Names;
use super::ViewError;

mod options;
mod v6;
pub use options::{rule_options, rule_options_named};

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
    /// `ip6tables -L`: the ip6tables ruleset's addresses (`-s`/`-d` of
    /// IPv6, named from the hosts file without `-n`).
    pub ipv6: bool,
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
            ipv6: false,
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
    ipv6: bool,
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
            ipv6: o.ipv6,
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
    // `%-4s ` (print_rule_details): a longer name (`udplite`,
    // `ipv6-icmp`) still gets its space.
    let _ = write!(out, "{:<4} ", proto_column(proto, f.numeric));
    out.push(if r.fragment == Some(true) { '!' } else { '-' });
    out.push(if r.fragment.is_some() { 'f' } else { '-' });
    out.push(' ');
    if f.via {
        let _ = write!(out, " {:<6} ", iface(&r.in_iface, f.numeric));
        let _ = write!(out, "{:<6} ", iface(&r.out_iface, f.numeric));
    }
    if f.ipv6 {
        addr6_column(out, &r.src6, f);
        addr6_column(out, &r.dst6, f);
    } else {
        addr_column(out, &r.src, f);
        addr_column(out, &r.dst, f);
    }
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

fn addr6_column(out: &mut String, a: &Option<sluice_config::iptables::Addr6Match>, f: Fmt) {
    let (text, inv) = v6::addr6_text(a, f.numeric, f.names);
    out.push(if inv { '!' } else { ' ' });
    let _ = write!(out, "{text:<19} ");
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
