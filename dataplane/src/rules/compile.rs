//! The compiler: a [`Ruleset`] (with the appliance's interfaces and the
//! sets file) becomes one immutable `Program`: per table, its chains as
//! arrays of compiled rules with jump targets resolved to chain indices,
//! the entry chain of each hook, and per chain a [`Classifier`] over the
//! rules' common matches.
//!
//! What goes into a rule's classifier key ([`ClassKey`]): the core fields
//! (`-s`, `-d`, `-p`, `-i`, `-o`, all evaluated by the kernel's
//! `ip_packet_match` before any match), and — *lifted* out of the match
//! list — the ports of the first `-m tcp` / `-m udp`, the first
//! `-m multiport` of a `-p tcp` / `-p udp` rule (as a
//! [`classify::PortList`]) and the first `-m mark`, provided no match
//! with a side effect (`limit`, `recent`,
//! `statistic`) comes before them: the kernel evaluates matches in order
//! and stops at the first that fails, so a stateful match before a lifted
//! one must still see the packets the lifted one would refuse. Everything
//! else — `-f`, the TCP flags and options, every other match — is
//! *residual*: checked, in rule order, after the classifier proposes the
//! rule. The full ordered list is kept too, for the plain evaluation
//! ([`RulesParams::classifier`](super::RulesParams::classifier) off, and the rare packets whose transport header
//! is cut short, where the kernel's matches `hotdrop`).
//!
//! Interfaces: names map to the appliance's ports in `[[interface]]`
//! order (`Router::port_id`); `lo` and names the appliance lacks never
//! match a received packet (a wildcard matches the ports whose names it
//! prefixes).
//!
//! Refused, with the rule's line: DNAT, SNAT, MASQUERADE and REDIRECT
//! (they need connection tracking, a later issue), and the few settings
//! the finished modules refuse (`rules::sets`, `rules::limit`,
//! `rules::recent`, `rules::statistic`).

use std::net::Ipv4Addr;

use sluice_config::appliance::Appliance;
use sluice_config::ipset::SetFile;
use sluice_config::iptables::ext::addrtype::{AddrTypeMatch, LimitIface};
use sluice_config::iptables::ext::conntrack::CtStateMatch;
use sluice_config::iptables::ext::icmp::IcmpType;
use sluice_config::iptables::ext::iprange::Iprange;
use sluice_config::iptables::ext::length::LengthRange;
use sluice_config::iptables::ext::mac::MacSource;
use sluice_config::iptables::ext::mark::MarkMatch as CfgMark;
use sluice_config::iptables::ext::multiport::{Multiport, MultiportSide};
use sluice_config::iptables::ext::pkttype::PktType;
use sluice_config::iptables::ext::t_mark::XMark;
use sluice_config::iptables::ext::t_nat::NatRange;
use sluice_config::iptables::ext::t_reject::RejectWith;
use sluice_config::iptables::ext::t_tcpmss::TcpmssAction;
use sluice_config::iptables::ext::t_ttl::TtlOp;
use sluice_config::iptables::ext::tcp::{PortRange, TcpFlags};
use sluice_config::iptables::ext::tos::TosMatch;
use sluice_config::iptables::ext::ttl::TtlMode;
use sluice_config::iptables::{
    Hook, Match, Policy, Rule, Ruleset, Table, TableKind, Target, TargetExt,
};

use super::classify::{self, ClassKey, Classifier, IfName, InterfaceTable};
use super::limit::{LimitError, LimitRule, LimitSharing};
use super::log::LogSpec;
use super::recent::{RecentBuilder, RecentConfig, RecentError, RecentParams, RecentRule};
use super::sets::{SetError, SetMatch, SetTable};
use super::statistic::{StatisticError, StatisticRule};
use super::targets::{nat_range, NatTarget};
use super::v6::Match6;

/// Why a ruleset cannot be compiled. Rule errors name the line of the
/// rules file, the table and the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// `-j CHAIN` / `-g CHAIN` naming a chain the table does not have (the
    /// config parser refuses this already).
    #[error("line {line}: -A {chain} ... (table {table}): no chain named {target:?}")]
    NoSuchChain {
        line: usize,
        table: TableKind,
        chain: String,
        target: String,
    },
    /// An ip6tables-only match or target in an iptables ruleset (the
    /// config parser refuses them there already).
    #[error("line {line}: -A {chain} ... (table {table}): {name} is an ip6tables extension: it belongs in the ip6tables ruleset ([firewall] rules6)")]
    Ipv6Only {
        line: usize,
        table: TableKind,
        chain: String,
        name: &'static str,
    },
    /// A match or target of an ip6tables ruleset that sluice's IPv6
    /// dataplane does not run yet.
    #[error("line {line}: -A {chain} ... (table {table}): {name} in an ip6tables ruleset: sluice's IPv6 dataplane does not run it yet")]
    NotYet6 {
        line: usize,
        table: TableKind,
        chain: String,
        name: &'static str,
    },
    /// An error of the ip6tables ruleset (`[firewall] rules6`).
    #[error("ip6tables ruleset: {0}")]
    Ipv6(Box<RulesError>),
    /// `-m set` that cannot be compiled against the sets file.
    #[error("line {line}: -A {chain} ... (table {table}): {source}")]
    Set {
        line: usize,
        table: TableKind,
        chain: String,
        source: SetError,
    },
    /// `-m limit` the kernel would refuse, or a bad tick rate.
    #[error("line {line}: -A {chain} ... (table {table}): {source}")]
    Limit {
        line: usize,
        table: TableKind,
        chain: String,
        source: LimitError,
    },
    /// `-m recent` the kernel would refuse.
    #[error("line {line}: -A {chain} ... (table {table}): {source}")]
    Recent {
        line: usize,
        table: TableKind,
        chain: String,
        source: RecentError,
    },
    /// `-m statistic` without a usable mode.
    #[error("line {line}: -A {chain} ... (table {table}): {source}")]
    Statistic {
        line: usize,
        table: TableKind,
        chain: String,
        source: StatisticError,
    },
    /// `-i` / `-o` with a name longer than 15 bytes.
    #[error("line {line}: -A {chain} ... (table {table}): interface name {name:?} is too long")]
    InterfaceName {
        line: usize,
        table: TableKind,
        chain: String,
        name: String,
    },
    /// The appliance's interfaces cannot be classified.
    #[error("interfaces of the appliance: {0}")]
    Interfaces(#[from] classify::IfTableError),
    /// The settings of the rule engine (tick rate, recent list sizes).
    #[error("rule engine settings: {0}")]
    Params(String),
    /// A table has more chains or rules than the engine indexes (2^32).
    #[error("table {0}: too many chains or rules")]
    TooBig(TableKind),
}

/// Where a rule is, for error messages.
struct At<'a> {
    line: usize,
    table: TableKind,
    chain: &'a str,
}

impl At<'_> {
    fn ipv6_only(&self, name: &'static str) -> RulesError {
        RulesError::Ipv6Only {
            line: self.line,
            table: self.table,
            chain: self.chain.to_string(),
            name,
        }
    }

    fn not_yet6(&self, name: &'static str) -> RulesError {
        RulesError::NotYet6 {
            line: self.line,
            table: self.table,
            chain: self.chain.to_string(),
            name,
        }
    }
}

/// A compiled match. Variants marked *lifted* may have their test in the
/// classifier key; the evaluator then skips it on the classifier path.
#[derive(Debug, Clone)]
pub(crate) enum CMatch {
    /// `-m tcp`; `lifted`: the ports are in the key (flags and option
    /// are still checked here).
    Tcp {
        sport: Option<PortRange>,
        dport: Option<PortRange>,
        flags: Option<TcpFlags>,
        option: Option<(u8, bool)>,
        lifted: bool,
    },
    /// `-m udp`; `lifted`: in the key entirely.
    Udp {
        sport: Option<PortRange>,
        dport: Option<PortRange>,
        lifted: bool,
    },
    Icmp(IcmpType),
    /// `-m multiport`; `lifted`: in the key (as a [`classify::PortList`]).
    Multiport {
        m: Multiport,
        lifted: bool,
    },
    /// `-m mark`; `lifted`: in the key.
    Mark {
        m: CfgMark,
        lifted: bool,
    },
    Iprange(Iprange),
    Length(LengthRange),
    Ttl(TtlMode, u8),
    Tos(TosMatch),
    Dscp(u8, bool),
    Pkttype(PktType, bool),
    Mac(MacSource),
    Addrtype {
        src: Option<AddrTypeMatch>,
        dst: Option<AddrTypeMatch>,
        limit: Option<LimitIface>,
    },
    /// Index of the rule's [`LimitRule`] and of the worker's state.
    Limit(u32),
    Recent(RecentRule),
    /// Index of the rule's [`StatisticRule`] and of the worker's state.
    Statistic(u32),
    Set(SetMatch),
    /// `-m conntrack` (`conntrack_mt`).
    Conntrack(Box<sluice_config::iptables::ext::conntrack::Conntrack>),
    /// `-m state`.
    State(CtStateMatch),
    /// `-m connmark` (`connmark_mt`): never matches without an entry.
    Connmark(Option<sluice_config::iptables::ext::mark::MarkMatch>),
    /// The IPv6 address test and the IPv6-only matches.
    V6(super::v6::Match6),
}

impl CMatch {
    /// Whether the classifier path skips it entirely.
    pub(crate) fn lifted_whole(&self) -> bool {
        match self {
            CMatch::Udp { lifted, .. }
            | CMatch::Mark { lifted, .. }
            | CMatch::Multiport { lifted, .. } => *lifted,
            CMatch::Tcp {
                lifted,
                flags,
                option,
                ..
            } => *lifted && flags.is_none() && option.is_none(),
            _ => false,
        }
    }
}

/// A compiled target.
#[derive(Debug, Clone)]
pub(crate) enum CTarget {
    /// No `-j`: count and go on.
    None,
    Accept,
    Drop,
    Return,
    /// `-j CHAIN`: chain index in the table.
    Jump(u32),
    /// `-g CHAIN`.
    Goto(u32),
    Reject(RejectWith),
    /// `-j REJECT` of an ip6tables rule.
    Reject6(sluice_config::iptables::ext::t_reject::RejectWith6),
    /// `-j SNPT` / `-j DNPT`.
    Npt(super::npt::Npt),
    Log(LogSpec),
    Mark(XMark),
    /// `-j CONNMARK`: nothing to do without a conntrack entry.
    Connmark(sluice_config::iptables::ext::t_connmark::Connmark),
    Ttl(TtlOp),
    /// `-j HL`.
    Hl(TtlOp),
    Dscp(u8),
    Tcpmss(TcpmssAction),
    /// `-j CT --notrack` / `-j NOTRACK`.
    Notrack,
    /// `-j CT` without `--notrack`: a template with the zone (events
    /// are not reported by sluice).
    Ct(sluice_config::iptables::ext::t_ct::CtZone),
    /// `-j SNAT`, `DNAT`, `MASQUERADE`, `REDIRECT`.
    Nat(NatTarget),
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct CRule {
    /// Index of its counter in the worker's counter array.
    pub counter: u32,
    /// `-s -d -p -i -o` only (no ports, no mark): the kernel's
    /// `ip_packet_match` for the plain evaluation.
    pub core: classify::CoreKey,
    /// `-f`: `Some(false)` for `-f`, `Some(true)` for `! -f`.
    pub frag: Option<bool>,
    /// Every match in rule order (comments left out).
    pub matches: Box<[CMatch]>,
    /// The classifier path has something to check after a proposal.
    pub residual: bool,
    pub target: CTarget,
}

/// One compiled chain.
#[derive(Debug, Clone)]
pub(crate) struct ChainProg {
    pub rules: Box<[CRule]>,
    /// `None` when the program evaluates in plain order.
    pub classifier: Option<Classifier>,
    /// Built-in chains: the policy and its counter index.
    pub policy: Option<(Policy, u32)>,
    /// The classifier keys of the rules, kept only for
    /// [`Program::chain_keys`] (the tests' and benches' linear oracle).
    pub keys: Option<Box<[ClassKey]>>,
}

/// One compiled table.
#[derive(Debug, Clone)]
pub(crate) struct TableProg {
    pub kind: TableKind,
    /// In the config table's order (built-in chains first).
    pub chains: Box<[ChainProg]>,
    /// The built-in chain of each hook, by [`hook_index`].
    pub entry: [Option<u32>; 5],
}

/// Everything the evaluator reads, immutable and shared by workers.
#[derive(Debug, Clone)]
pub struct Program {
    /// The parameters it was compiled with.
    pub(crate) params: super::RulesParams,
    pub(crate) tables: Box<[TableProg]>,
    /// Table position in [`Program::tables`] by [`table_index`].
    pub(crate) by_kind: [Option<u8>; 5],
    pub(crate) ifaces: InterfaceTable,
    pub(crate) sets: SetTable,
    pub(crate) limits: Box<[LimitRule]>,
    pub(crate) stats: Box<[StatisticRule]>,
    pub(crate) recent: RecentConfig,
    /// Counter slots (rules and policies of every table).
    pub(crate) counters: usize,
    /// The deepest the jump stack can get.
    pub(crate) max_depth: usize,
    /// Whether a rule enables connection tracking in the kernel (a
    /// `conntrack`, `state` or `connmark` match, a `CONNMARK` target, or
    /// `CT` other than `--notrack`: their checkentry calls
    /// `nf_ct_netns_get`). Without it the kernel's nat hooks see no
    /// conntrack entry and never run the nat table.
    pub(crate) tracks: bool,
    /// Classifier on (the default) or plain ordered evaluation.
    pub(crate) classify: bool,
    /// The ruleset as written, for `iptables-save -c` output.
    pub(crate) ruleset: Ruleset,
    /// The ip6tables tables (`[firewall] rules6`), their counter slots
    /// after the IPv4 tables'; empty without an ip6tables ruleset.
    pub(crate) tables6: Box<[TableProg]>,
    pub(crate) by_kind6: [Option<u8>; 5],
    /// [`Program::tracks`] for IPv6: an ip6tables rule needs conntrack.
    pub(crate) tracks6: bool,
    /// The ip6tables ruleset as written.
    pub(crate) ruleset6: Option<Ruleset>,
    /// Which counters to carry over from the program it replaces,
    /// worked out by the control side before publication
    /// ([`Program::prepare_carry`]).
    pub(crate) carry: Option<super::state::Carry>,
}

/// What the compiler needs besides the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompileParams {
    pub hz: u32,
    pub limit_sharing: LimitSharing,
    pub recent: RecentParams,
    pub classify: bool,
    /// Keep every chain's classifier keys ([`ChainProg::keys`]).
    pub keep_keys: bool,
}

/// The position of `h` in per-hook arrays (the kernel's `NF_INET_*`
/// order).
pub fn hook_index(h: Hook) -> usize {
    match h {
        Hook::Prerouting => 0,
        Hook::Input => 1,
        Hook::Forward => 2,
        Hook::Output => 3,
        Hook::Postrouting => 4,
    }
}

/// The position of `t` in per-table arrays.
pub fn table_index(t: TableKind) -> usize {
    match t {
        TableKind::Raw => 0,
        TableKind::Mangle => 1,
        TableKind::Nat => 2,
        TableKind::Filter => 3,
        TableKind::Security => 4,
    }
}

impl Program {
    pub(crate) fn table(&self, kind: TableKind) -> Option<&TableProg> {
        self.by_kind[table_index(kind)].map(|i| &self.tables[i as usize])
    }

    /// The ip6tables table of `kind`.
    pub(crate) fn table6(&self, kind: TableKind) -> Option<&TableProg> {
        self.by_kind6[table_index(kind)].map(|i| &self.tables6[i as usize])
    }
}

/// Compiles `rules` (and the ip6tables ruleset `rules6`) for the
/// appliance `app` with the sets of `sets`.
pub(crate) fn compile(
    app: &Appliance,
    rules: &Ruleset,
    rules6: Option<&Ruleset>,
    sets: &SetFile,
    params: CompileParams,
    rules_params: super::RulesParams,
) -> Result<Program, RulesError> {
    let names = app
        .interfaces
        .iter()
        .map(|i| {
            IfName::new(&i.name).ok_or_else(|| {
                RulesError::Params(format!("interface name {:?} is too long", i.name))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ifaces = InterfaceTable::new(names)?;
    let set_table = SetTable::compile(sets).map_err(|e| RulesError::Params(e.to_string()))?;
    let mut cx = Cx {
        params,
        ifaces: &ifaces,
        sets: &set_table,
        limits: Vec::new(),
        stats: Vec::new(),
        recent: RecentBuilder::new(RecentParams {
            hz: params.hz,
            ..params.recent
        })
        .map_err(|e| RulesError::Params(e.to_string()))?,
        counters: 0,
        v6: false,
    };
    let mut max_depth = 1;
    let (tables, by_kind) = cx.tables(rules, &mut max_depth)?;
    let (tables6, by_kind6) = match rules6 {
        Some(rs) => {
            cx.v6 = true;
            cx.tables(rs, &mut max_depth)
                .map_err(|e| RulesError::Ipv6(Box::new(e)))?
        }
        None => (Vec::new(), [None; 5]),
    };
    let Cx {
        limits,
        stats,
        recent,
        counters,
        ..
    } = cx;
    let tracks = needs_conntrack(rules);
    let tracks6 = rules6.is_some_and(needs_conntrack);
    Ok(Program {
        params: rules_params,
        tracks,
        tables: tables.into_boxed_slice(),
        by_kind,
        tables6: tables6.into_boxed_slice(),
        by_kind6,
        tracks6,
        ruleset6: rules6.cloned(),
        ifaces,
        sets: set_table,
        limits: limits.into_boxed_slice(),
        stats: stats.into_boxed_slice(),
        recent: recent.build(),
        counters,
        max_depth,
        classify: params.classify,
        ruleset: rules.clone(),
        carry: None,
    })
}

/// Whether a rule of `rules` makes the kernel track connections
/// ([`Program::tracks`]).
fn needs_conntrack(rules: &Ruleset) -> bool {
    rules
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .any(|r| {
            use sluice_config::iptables::{Match, Target, TargetExt};
            r.matches.iter().any(|m| {
                matches!(
                    m,
                    Match::Conntrack(_) | Match::State(_) | Match::Connmark(_)
                )
            }) || match &r.target {
                Target::Ext(TargetExt::Connmark(_)) => true,
                Target::Ext(TargetExt::Ct(ct)) => !ct.notrack,
                Target::Ext(
                    TargetExt::Dnat(_)
                    | TargetExt::Snat(_)
                    | TargetExt::Masquerade(_)
                    | TargetExt::Redirect(_),
                ) => true,
                _ => false,
            }
        })
}

struct Cx<'a> {
    params: CompileParams,
    ifaces: &'a InterfaceTable,
    sets: &'a SetTable,
    limits: Vec<LimitRule>,
    stats: Vec<StatisticRule>,
    recent: RecentBuilder,
    counters: usize,
    /// Compiling the ip6tables ruleset.
    v6: bool,
}

impl Cx<'_> {
    /// Every table of `rules`, and their positions by kind.
    fn tables(
        &mut self,
        rules: &Ruleset,
        max_depth: &mut usize,
    ) -> Result<(Vec<TableProg>, [Option<u8>; 5]), RulesError> {
        let mut tables = Vec::with_capacity(rules.tables.len());
        let mut by_kind = [None; 5];
        for t in &rules.tables {
            *max_depth = (*max_depth).max(t.chains.len() + 1);
            by_kind[table_index(t.kind)] = Some(tables.len() as u8);
            tables.push(self.table(t)?);
        }
        Ok((tables, by_kind))
    }

    fn counter(&mut self, kind: TableKind) -> Result<u32, RulesError> {
        let c = u32::try_from(self.counters).map_err(|_| RulesError::TooBig(kind))?;
        self.counters += 1;
        Ok(c)
    }

    fn table(&mut self, t: &Table) -> Result<TableProg, RulesError> {
        if t.chains.len() >= u32::MAX as usize {
            return Err(RulesError::TooBig(t.kind));
        }
        let mut entry = [None; 5];
        let mut chains = Vec::with_capacity(t.chains.len());
        for (ci, c) in t.chains.iter().enumerate() {
            if let Some(h) = c.hook {
                entry[hook_index(h)] = Some(ci as u32);
            }
            let policy = match (c.hook, c.policy) {
                (Some(_), Some(p)) => Some((p, self.counter(t.kind)?)),
                (Some(_), None) => Some((Policy::Accept, self.counter(t.kind)?)),
                _ => None,
            };
            let mut rules = Vec::with_capacity(c.rules.len());
            let mut keys = Vec::with_capacity(c.rules.len());
            for r in &c.rules {
                let at = At {
                    line: r.line,
                    table: t.kind,
                    chain: &c.name,
                };
                let (rule, key) = self.rule(t, r, &at)?;
                rules.push(rule);
                keys.push(key);
            }
            let classifier = self
                .params
                .classify
                .then(|| Classifier::build(&keys, self.ifaces));
            chains.push(ChainProg {
                rules: rules.into_boxed_slice(),
                classifier,
                policy,
                keys: self.params.keep_keys.then(|| keys.into_boxed_slice()),
            });
        }
        Ok(TableProg {
            kind: t.kind,
            chains: chains.into_boxed_slice(),
            entry,
        })
    }

    fn rule(&mut self, t: &Table, r: &Rule, at: &At) -> Result<(CRule, ClassKey), RulesError> {
        let iface = |m: &Option<sluice_config::iptables::IfaceMatch>| match m {
            None => Ok(None),
            Some(m) => classify::IfaceMatch::parse(
                &format!("{}{}", m.name, if m.wildcard { "+" } else { "" }),
                m.invert,
            )
            .map(Some)
            .ok_or_else(|| RulesError::InterfaceName {
                line: at.line,
                table: at.table,
                chain: at.chain.to_string(),
                name: m.name.clone(),
            }),
        };
        let addr = |m: &Option<sluice_config::iptables::AddrMatch>| {
            m.map(|m| classify::AddrMatch {
                addr: u32::from(m.addr),
                mask: u32::from(m.mask),
                invert: m.invert,
            })
        };
        let v6 = self.v6;
        let core = classify::CoreKey {
            src: addr(&r.src),
            dst: addr(&r.dst),
            proto: r.proto.map(|p| classify::ProtoMatch {
                proto: p.proto,
                invert: p.invert,
            }),
            iif: iface(&r.in_iface)?,
            oif: iface(&r.out_iface)?,
        };
        let mut key = core.key();
        let mut matches = Vec::with_capacity(r.matches.len() + 1);
        if v6 && (r.src6.is_some() || r.dst6.is_some()) {
            // ip6_packet_match tests the addresses before any match.
            matches.push(CMatch::V6(Match6::Addrs {
                src: r.src6,
                dst: r.dst6,
            }));
        }
        // A match with a side effect seen: nothing after it is lifted.
        let mut stateful = false;
        let mut ports_lifted = false;
        for m in &r.matches {
            let c = match m {
                Match::Comment(_) => continue,
                Match::Tcp(x) => {
                    let lift = !stateful && !ports_lifted;
                    if lift {
                        ports_lifted = true;
                        key.sport = x.sport.map(port_match);
                        key.dport = x.dport.map(port_match);
                        // The key's "has ports" also pins down what the
                        // kernel's tcp_mt needs: a first fragment with a
                        // whole header.
                        if key.sport.is_none() && key.dport.is_none() {
                            key.sport = Some(classify::PortMatch::range(0, u16::MAX));
                        }
                    }
                    CMatch::Tcp {
                        sport: x.sport,
                        dport: x.dport,
                        flags: x.flags,
                        option: x.option,
                        lifted: lift,
                    }
                }
                Match::Udp(x) => {
                    let lift = !stateful && !ports_lifted;
                    if lift {
                        ports_lifted = true;
                        key.sport = x.sport.map(port_match);
                        key.dport = x.dport.map(port_match);
                        if key.sport.is_none() && key.dport.is_none() {
                            key.sport = Some(classify::PortMatch::range(0, u16::MAX));
                        }
                    }
                    CMatch::Udp {
                        sport: x.sport,
                        dport: x.dport,
                        lifted: lift,
                    }
                }
                Match::Mark(x) => {
                    let Some(mm) = x.mark else { continue };
                    let lift = !stateful && key.mark.is_none();
                    if lift {
                        key.mark = Some(classify::MarkMatch {
                            value: mm.value,
                            mask: mm.mask,
                            invert: mm.invert,
                        });
                    }
                    CMatch::Mark {
                        m: mm,
                        lifted: lift,
                    }
                }
                Match::Icmp(x) => match x.icmp_type {
                    Some(ty) => CMatch::Icmp(ty),
                    None => continue,
                },
                Match::Icmp6(x) if v6 => match x.icmp_type {
                    Some(ty) => CMatch::V6(Match6::Icmp6(ty)),
                    None => continue,
                },
                Match::Hl(x) if v6 => match x.cmp {
                    Some((mode, v)) => CMatch::Ttl(mode, v),
                    None => continue,
                },
                Match::Ipv6header(x) if v6 => CMatch::V6(Match6::Ipv6header(x.clone())),
                Match::Frag(x) if v6 => CMatch::V6(Match6::Frag(x.clone())),
                Match::Rt(x) if v6 => CMatch::V6(Match6::Rt(Box::new(x.clone()))),
                Match::Eui64(_) if v6 => CMatch::V6(Match6::Eui64),
                Match::Iprange(_) if v6 => return Err(at.not_yet6(m.name())),
                Match::Multiport(x) => {
                    // The key's "has ports" is TCP / UDP only: lifted for
                    // `-p tcp` / `-p udp` (multiport also takes sctp, dccp
                    // and udplite, checked here then).
                    let tcp_udp = key
                        .proto
                        .is_some_and(|p| !p.invert && matches!(p.proto, 6 | 17));
                    let list = x.side.and_then(|side| {
                        let items: Vec<(u16, u16)> = x.ports.iter().map(|i| (i.lo, i.hi)).collect();
                        classify::PortList::new(
                            match side {
                                MultiportSide::Source => classify::PortSide::Src,
                                MultiportSide::Destination => classify::PortSide::Dst,
                                MultiportSide::Either => classify::PortSide::Either,
                            },
                            &items,
                            x.invert,
                        )
                    });
                    let lift = !stateful && tcp_udp && key.ports.is_none() && list.is_some();
                    if lift {
                        key.ports = list;
                    }
                    CMatch::Multiport {
                        m: x.clone(),
                        lifted: lift,
                    }
                }
                Match::Iprange(x) => CMatch::Iprange(x.clone()),
                Match::Icmp6(_)
                | Match::Hl(_)
                | Match::Ipv6header(_)
                | Match::Frag(_)
                | Match::Rt(_)
                | Match::Eui64(_) => return Err(at.ipv6_only(m.name())),
                Match::Length(x) => match x.length {
                    Some(l) => CMatch::Length(l),
                    None => continue,
                },
                Match::Ttl(x) => match x.cmp {
                    Some((mode, v)) => CMatch::Ttl(mode, v),
                    None => continue,
                },
                Match::Tos(x) => match x.tos {
                    Some(v) => CMatch::Tos(v),
                    None => continue,
                },
                Match::Dscp(x) => match x.dscp {
                    Some((v, inv)) => CMatch::Dscp(v, inv),
                    None => continue,
                },
                Match::Pkttype(x) => match x.pkt_type {
                    Some((ty, inv)) => CMatch::Pkttype(ty, inv),
                    None => continue,
                },
                Match::Mac(x) => match x.source {
                    Some(s) => CMatch::Mac(s),
                    None => continue,
                },
                Match::Addrtype(x) => CMatch::Addrtype {
                    src: x.src,
                    dst: x.dst,
                    limit: x.limit_iface,
                },
                Match::Limit(x) => {
                    stateful = true;
                    let rule = LimitRule::compile(x, self.params.hz, self.params.limit_sharing)
                        .map_err(|source| RulesError::Limit {
                            line: at.line,
                            table: at.table,
                            chain: at.chain.to_string(),
                            source,
                        })?;
                    self.limits.push(rule);
                    CMatch::Limit((self.limits.len() - 1) as u32)
                }
                Match::Recent(x) => {
                    stateful = true;
                    let rule = self
                        .recent
                        .add_rule(x)
                        .map_err(|source| RulesError::Recent {
                            line: at.line,
                            table: at.table,
                            chain: at.chain.to_string(),
                            source,
                        })?;
                    CMatch::Recent(rule)
                }
                Match::Statistic(x) => {
                    stateful = true;
                    let rule =
                        StatisticRule::compile(x).map_err(|source| RulesError::Statistic {
                            line: at.line,
                            table: at.table,
                            chain: at.chain.to_string(),
                            source,
                        })?;
                    self.stats.push(rule);
                    CMatch::Statistic((self.stats.len() - 1) as u32)
                }
                Match::Set(x) => {
                    CMatch::Set(SetMatch::compile(x, self.sets).map_err(|source| {
                        RulesError::Set {
                            line: at.line,
                            table: at.table,
                            chain: at.chain.to_string(),
                            source,
                        }
                    })?)
                }
                // `--ctstate` alone is `-m state` (conntrack_mt: the state
                // test, then true with or without an entry).
                Match::Conntrack(x) => match x.state {
                    Some(st)
                        if *x
                            == sluice_config::iptables::ext::conntrack::Conntrack {
                                state: Some(st),
                                ..Default::default()
                            } =>
                    {
                        CMatch::State(st)
                    }
                    _ => CMatch::Conntrack(Box::new(x.clone())),
                },
                Match::State(x) => match x.state {
                    Some(s) => CMatch::State(s),
                    None => continue,
                },
                Match::Connmark(x) => CMatch::Connmark(x.mark),
            };
            matches.push(c);
        }
        let residual = r.fragment.is_some() || matches.iter().any(|m| !m.lifted_whole());
        key.residual = residual;
        let target = self.target(t, r, at)?;
        let rule = CRule {
            counter: self.counter(at.table)?,
            core,
            frag: r.fragment,
            matches: matches.into_boxed_slice(),
            residual,
            target,
        };
        Ok((rule, key))
    }

    fn target(&mut self, t: &Table, r: &Rule, at: &At) -> Result<CTarget, RulesError> {
        Ok(match &r.target {
            Target::None => CTarget::None,
            Target::Accept => CTarget::Accept,
            Target::Drop => CTarget::Drop,
            Target::Return => CTarget::Return,
            Target::Chain { name, goto } => {
                let Some(i) = t.chain_index(name) else {
                    return Err(RulesError::NoSuchChain {
                        line: at.line,
                        table: at.table,
                        chain: at.chain.to_string(),
                        target: name.clone(),
                    });
                };
                if *goto {
                    CTarget::Goto(i as u32)
                } else {
                    CTarget::Jump(i as u32)
                }
            }
            Target::Ext(x) => match x {
                TargetExt::Reject(r) if self.v6 => CTarget::Reject6(r.with6.unwrap_or_default()),
                TargetExt::Hl(h) if self.v6 => match h.op {
                    Some(op) => CTarget::Hl(op),
                    None => CTarget::None,
                },
                TargetExt::Snpt(n) if self.v6 => {
                    CTarget::Npt(super::npt::Npt::new(true, n.src, n.dst))
                }
                TargetExt::Dnpt(n) if self.v6 => {
                    CTarget::Npt(super::npt::Npt::new(false, n.src, n.dst))
                }
                TargetExt::Reject(r) if r.with6.is_some() => return Err(at.ipv6_only("REJECT")),
                TargetExt::Reject(r) => CTarget::Reject(r.with),
                TargetExt::Hl(_) | TargetExt::Snpt(_) | TargetExt::Dnpt(_) => {
                    return Err(at.ipv6_only(x.name()))
                }
                TargetExt::Log(l) => CTarget::Log(LogSpec::compile(l)),
                TargetExt::Mark(m) => match m.xmark {
                    Some(x) => CTarget::Mark(x),
                    None => CTarget::None,
                },
                TargetExt::Connmark(x) => CTarget::Connmark(x.clone()),
                TargetExt::Ttl(x) => match x.op {
                    Some(op) => CTarget::Ttl(op),
                    None => CTarget::None,
                },
                TargetExt::Dscp(x) => match x.dscp {
                    Some(d) => CTarget::Dscp(d),
                    None => CTarget::None,
                },
                TargetExt::Tcpmss(x) => match x.action {
                    Some(a) => CTarget::Tcpmss(a),
                    None => CTarget::None,
                },
                TargetExt::Ct(ct) if ct.notrack => CTarget::Notrack,
                TargetExt::Ct(ct) => CTarget::Ct(ct.zone),
                TargetExt::Notrack(_) => CTarget::Notrack,
                TargetExt::Dnat(x) => CTarget::Nat(NatTarget::Dnat(nat_range(
                    &x.to,
                    x.random,
                    false,
                    x.persistent,
                ))),
                TargetExt::Snat(x) => CTarget::Nat(NatTarget::Snat(nat_range(
                    &x.to,
                    x.random,
                    x.random_fully,
                    x.persistent,
                ))),
                TargetExt::Masquerade(x) => CTarget::Nat(NatTarget::Masquerade(nat_range(
                    &NatRange {
                        addrs: None,
                        ports: x.ports,
                    },
                    x.random,
                    x.random_fully,
                    false,
                ))),
                TargetExt::Redirect(x) => CTarget::Nat(NatTarget::Redirect(nat_range(
                    &NatRange {
                        addrs: None,
                        ports: x.ports,
                    },
                    x.random,
                    false,
                    false,
                ))),
            },
        })
    }
}

fn port_match(p: PortRange) -> classify::PortMatch {
    classify::PortMatch {
        lo: p.lo,
        hi: p.hi,
        invert: p.invert,
    }
}

/// `127.255.255.255`, the loopback network's broadcast address.
pub(crate) const LOOPBACK_BROADCAST: Ipv4Addr = Ipv4Addr::new(127, 255, 255, 255);
