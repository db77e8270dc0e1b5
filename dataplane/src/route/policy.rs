//! Policy routing: `ip rule` semantics (`net/core/fib_rules.c`
//! `fib_rules_lookup()`, `net/ipv4/fib_rules.c`, `net/ipv6/fib6_rules.c`).
//!
//! Rules are kept per family in priority order; rules of equal priority in
//! the order they were added (the kernel inserts after equal priorities).
//! The kernel's default rules are always present, before any configured rule
//! of the same priority, as in a freshly booted kernel:
//!
//! | family | rules                                                   |
//! |--------|---------------------------------------------------------|
//! | IPv4   | 0 `lookup local`, 32766 `lookup main`, 32767 `lookup default` |
//! | IPv6   | 0 `lookup local`, 32766 `lookup main` (no default rule) |
//!
//! A rule matches when all of its selectors match (`fib_rule_match()`):
//! `iif` (the port a packet came in on, `lo` for locally generated ones),
//! `oif` (the port a local socket is bound to), `fwmark` (`(mark ^ value) &
//! mask == 0`), `from`, `to` (prefix bits only); `not` inverts the result.
//! An IPv6 `from` selector does not match a locally generated flow that has
//! no source address yet (`RT6_LOOKUP_F_HAS_SADDR`); IPv4 compares 0.0.0.0.
//!
//! A matching rule's action: `lookup TABLE` runs the table's longest-prefix
//! match; no route, a `throw` route or a table that does not exist go on
//! with the next rule (`-EAGAIN`). Any other route ends the lookup with its
//! result: `unreachable`, `prohibit` and `blackhole` routes included. The
//! actions `unreachable` (`-ENETUNREACH`, the same as finding no route),
//! `prohibit` and `blackhole` end it at once. When no rule decides, there is
//! no route (`-ENETUNREACH`).

use std::net::IpAddr;

use ipnet::IpNet;

use super::fib::{Fib, FibBuilder, FibRoute, NextHop, NextHopKind, PortId};
use super::table::{TableName, Tables, TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use super::RouteError;

/// What routing knows about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// Source address; unspecified (`0.0.0.0`, `::`) for a locally
    /// generated packet whose source is not chosen yet. A source of the
    /// other family than `dst` counts as unspecified.
    pub src: IpAddr,
    /// Destination address; its family selects the rule list.
    pub dst: IpAddr,
    /// The packet mark (`skb->mark`, set by `MARK`/`CONNMARK`).
    pub mark: u32,
    /// The port the packet came in on; `None` for locally generated
    /// packets (the kernel's `iif lo`).
    pub iif: Option<PortId>,
    /// For locally generated packets, the port the socket is bound to.
    /// Only `oif` rule selectors look at it: lookups restricted to one
    /// device (`SO_BINDTODEVICE`) are not modelled.
    pub oif: Option<PortId>,
}

impl FlowKey {
    /// A forwarded packet from `src` to `dst` that came in on `iif`.
    pub fn forward(src: IpAddr, dst: IpAddr, iif: PortId) -> Self {
        FlowKey {
            src,
            dst,
            mark: 0,
            iif: Some(iif),
            oif: None,
        }
    }

    /// A locally generated packet to `dst` (source not chosen yet).
    pub fn output(dst: IpAddr) -> Self {
        let src = match dst {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        FlowKey {
            src,
            dst,
            mark: 0,
            iif: None,
            oif: None,
        }
    }

    pub fn with_mark(mut self, mark: u32) -> Self {
        self.mark = mark;
        self
    }

    pub fn with_src(mut self, src: IpAddr) -> Self {
        self.src = src;
        self
    }
}

/// The routing decision for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteResult {
    /// For the box itself (a `local` or IPv6 `anycast` route): INPUT.
    Local,
    /// An IPv4 subnet broadcast address of `port`: received, delivered
    /// locally (INPUT, never forwarded); sent, a link broadcast out of
    /// `port`.
    Broadcast { port: PortId },
    /// Forward out of `port` to `next_hop`: the route's gateway, or the
    /// destination itself on a link route.
    Forward { port: PortId, next_hop: IpAddr },
    /// An `unreachable` route: drop; ICMP host unreachable (IPv4) / ICMPv6
    /// no route (`EHOSTUNREACH`).
    Unreachable,
    /// A `prohibit` route or rule: drop; ICMP communication administratively
    /// prohibited (code 13) / ICMPv6 administratively prohibited
    /// (`EACCES`).
    Prohibit,
    /// A `blackhole` route or rule: drop silently (`EINVAL`).
    Blackhole,
    /// No rule found a route, or an `unreachable` rule: drop; ICMP net
    /// unreachable / ICMPv6 no route (`ENETUNREACH`).
    NoRoute,
}

impl RouteResult {
    /// Counter name of a drop (`route.<reason>`), `None` when the packet
    /// goes on.
    pub fn drop_counter(&self) -> Option<&'static str> {
        match self {
            RouteResult::Unreachable => Some("route.unreachable"),
            RouteResult::Prohibit => Some("route.prohibit"),
            RouteResult::Blackhole => Some("route.blackhole"),
            RouteResult::NoRoute => Some("route.no_route"),
            RouteResult::Local | RouteResult::Broadcast { .. } | RouteResult::Forward { .. } => {
                None
            }
        }
    }
}

/// An interface named by an `iif`/`oif` selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Iface {
    Port(PortId),
    /// `lo`: as `iif`, locally generated packets; as `oif`, sockets bound
    /// to the loopback device (never, in sluice).
    Lo,
}

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// `lookup TABLE`.
    Lookup(u32),
    /// `unreachable`: the lookup ends with [`RouteResult::NoRoute`].
    Unreachable,
    /// `prohibit`.
    Prohibit,
    /// `blackhole`.
    Blackhole,
}

/// One policy rule, as `ip rule add [not] priority P [from PREFIX]
/// [to PREFIX] [fwmark V/M] [iif IF] [oif IF] ACTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub priority: u32,
    pub not: bool,
    /// Source prefix (host bits ignored). With `to`, fixes the family; a
    /// rule without either applies to IPv4 and IPv6.
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    /// `(value, mask)`.
    pub fwmark: Option<(u32, u32)>,
    pub iif: Option<Iface>,
    pub oif: Option<Iface>,
    pub action: RuleAction,
    /// Config line; 0 for the kernel's default rules.
    pub line: usize,
}

impl Rule {
    /// `priority P lookup TABLE` with no selector.
    pub fn lookup(priority: u32, table: u32) -> Self {
        Rule {
            priority,
            not: false,
            from: None,
            to: None,
            fwmark: None,
            iif: None,
            oif: None,
            action: RuleAction::Lookup(table),
            line: 0,
        }
    }

    /// Whether the rule belongs to the IPv4 (`false`) or IPv6 (`true`)
    /// list; `None` for both.
    fn family(&self) -> Option<bool> {
        self.from.or(self.to).map(|n| matches!(n, IpNet::V6(_)))
    }
}

/// The kernel's default rules for one family.
fn default_rules(v6: bool) -> Vec<Rule> {
    let mut rules = vec![
        Rule::lookup(0, TABLE_LOCAL),
        Rule::lookup(32766, TABLE_MAIN),
    ];
    if !v6 {
        rules.push(Rule::lookup(32767, TABLE_DEFAULT));
    }
    rules
}

/// One family's `local` and `main` tables as one, for the packet path's
/// lookup when no rule sits between them (the default rules 0 and 32766
/// come first). Linux merges IPv4's (`fib_trie`'s merged local and main
/// while `fib_has_custom_rules` is false, undone by `fib_unmerge`), so a
/// forwarded packet takes one trie walk, not a miss in `local` first;
/// IPv6 looks in `local` and then in `main` (`fib6_rule_lookup` without
/// custom rules), which one trie answers the same way under the same
/// condition.
///
/// The one lookup answers as the two do in turn when `local` holds only
/// host routes (/32 or /128: the box's addresses and broadcasts), none of
/// them a `throw` (which would go on to `main`) or a prefix `main` also
/// has (`local` wins it): an address in a host route matches nothing
/// longer. Otherwise `None` and the rules walk both tables.
fn merge_local_main(tables: &Tables, v6: bool) -> Option<Fib> {
    let local = tables.get(TABLE_LOCAL)?;
    let main = tables.get(TABLE_MAIN)?;
    let family = |f: &'_ Fib| -> Vec<FibRoute> {
        f.routes()
            .iter()
            .filter(|r| r.to.addr().is_ipv6() == v6)
            .copied()
            .collect()
    };
    let (local, main) = (family(local), family(main));
    let host = if v6 { 128 } else { 32 };
    let hosts_only = local
        .iter()
        .all(|r| r.to.prefix_len() == host && r.next_hop.kind != NextHopKind::Throw);
    let shared = local
        .iter()
        .any(|l| main.binary_search_by_key(&l.to, |m| m.to).is_ok());
    if !hosts_only || shared {
        return None;
    }
    let mut b = FibBuilder::with_capacity(local.len() + main.len());
    for r in local.iter().chain(&main) {
        b.add(r.to, r.next_hop);
    }
    Some(b.build())
}

/// Interface selector, compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IfMatch {
    Any,
    Port(PortId),
    /// Matches `None` (locally generated / unbound).
    Unset,
    Never,
}

impl IfMatch {
    #[inline]
    fn matches(self, port: Option<PortId>) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Port(p) => port == Some(p),
            IfMatch::Unset => port.is_none(),
            IfMatch::Never => false,
        }
    }
}

/// What a matching rule does, with the table resolved to its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Position in [`Tables`]; `None` when the table does not exist.
    Lookup(Option<usize>),
    Result(RouteResult),
    /// The `local` and `main` tables in one trie ([`merge_local_main`]).
    LookupMerged,
}

/// A rule flattened for matching: addresses as `u128` (IPv4 in the low 32
/// bits), masks 0 where there is no selector.
#[derive(Debug, Clone, Copy)]
struct Compiled {
    src: u128,
    src_mask: u128,
    dst: u128,
    dst_mask: u128,
    mark: u32,
    mark_mask: u32,
    iif: IfMatch,
    oif: IfMatch,
    invert: bool,
    /// Matches every packet (no selector, not inverted): the walk skips
    /// [`Compiled::matches`].
    always: bool,
    action: Action,
}

impl Compiled {
    #[inline]
    fn matches(&self, src: u128, no_saddr: bool, dst: u128, key: &FlowKey) -> bool {
        let m = self.iif.matches(key.iif)
            && self.oif.matches(key.oif)
            && (key.mark ^ self.mark) & self.mark_mask == 0
            && (src ^ self.src) & self.src_mask == 0
            && !(no_saddr && self.src_mask != 0)
            && (dst ^ self.dst) & self.dst_mask == 0;
        m != self.invert
    }
}

/// Which rule and table decided a lookup (`ip route get` prints the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub result: RouteResult,
    /// Priority of the deciding rule; `None` when no rule decided.
    pub priority: Option<u32>,
    /// Config line of the deciding rule (0 for a default rule).
    pub line: Option<usize>,
    /// The table whose route decided; `None` for rule actions and no route.
    pub table: Option<u32>,
}

/// The compiled rule lists of both families.
#[derive(Debug, Clone)]
pub struct Policy {
    v4: Box<[Compiled]>,
    /// `v4` with 32-bit addresses: the per-packet IPv4 lookup.
    v4_fast: Box<[CompiledV4]>,
    v6: Box<[Compiled]>,
    /// The source rules, parallel to `v4` / `v6`.
    rules_v4: Box<[Rule]>,
    rules_v6: Box<[Rule]>,
    /// IPv4 `local` and `main` in one table, when `v4_fast` starts with
    /// [`Action::LookupMerged`] in their place.
    merged_v4: Option<Fib>,
    /// IPv6 `local` and `main` in one table, looked up in place of
    /// `v6[..2]` (the default rules 0 and 32766) by [`Policy::lookup_v6`].
    merged_v6: Option<Fib>,
}

impl Policy {
    /// Compiles `rules` (in config order) plus the default rules against
    /// `tables`. A table that does not exist makes its rules fall through.
    pub fn build(rules: &[Rule], tables: &Tables) -> Result<Policy, RouteError> {
        for r in rules {
            if let (Some(f), Some(t)) = (r.from, r.to) {
                if f.addr().is_ipv4() != t.addr().is_ipv4() {
                    return Err(RouteError::RuleFamilyMismatch {
                        line: r.line,
                        from: f,
                        to: t,
                    });
                }
            }
        }
        let list = |v6: bool| -> Vec<Rule> {
            let mut list = default_rules(v6);
            list.extend(rules.iter().filter(|r| r.family() != Some(!v6)).cloned());
            // Stable: defaults stay before configured rules of their
            // priority, configured rules keep their order.
            list.sort_by_key(|r| r.priority);
            list
        };
        let (rules_v4, rules_v6) = (list(false), list(true));
        let compile = |list: &[Rule]| -> Box<[Compiled]> {
            list.iter().map(|r| compile(r, tables)).collect()
        };
        let v4 = compile(&rules_v4);
        let mut v4_fast: Vec<CompiledV4> = v4.iter().map(CompiledV4::from).collect();
        let merged = |list: &[Rule], v6: bool| {
            if list.get(..2) == default_rules(v6).get(..2) {
                merge_local_main(tables, v6)
            } else {
                None
            }
        };
        let merged_v4 = merged(&rules_v4, false);
        let merged_v6 = merged(&rules_v6, true);
        if merged_v4.is_some() {
            v4_fast.remove(1);
            v4_fast[0].action = Action::LookupMerged;
        }
        Ok(Policy {
            v4,
            v4_fast: v4_fast.into_boxed_slice(),
            v6: compile(&rules_v6),
            rules_v4: rules_v4.into_boxed_slice(),
            rules_v6: rules_v6.into_boxed_slice(),
            merged_v4,
            merged_v6,
        })
    }

    /// The rules of one family in evaluation order, as `ip [-6] rule show`.
    pub fn rules(&self, v6: bool) -> &[Rule] {
        if v6 {
            &self.rules_v6
        } else {
            &self.rules_v4
        }
    }

    /// Routes `key` through the rules and `tables`.
    #[inline]
    pub fn lookup(&self, tables: &Tables, key: &FlowKey) -> RouteResult {
        match key.dst {
            IpAddr::V4(d) => self.lookup_v4(tables, key, d),
            IpAddr::V6(d) => self.lookup_v6(tables, key, d),
        }
    }

    /// [`Policy::walk`] for IPv6 without tracking the deciding rule, the
    /// `local` and `main` tables in one lookup when they merge: the packet
    /// path's lookup.
    #[inline]
    fn lookup_v6(&self, tables: &Tables, key: &FlowKey, d: std::net::Ipv6Addr) -> RouteResult {
        match self.merged_v6_first(d) {
            Ok(r) => r,
            Err([]) => RouteResult::NoRoute,
            Err(rules) => walk_v6(rules, tables, key, d).0,
        }
    }

    /// [`Policy::lookup_v6`] of a received packet (`FlowKey::forward(s, d,
    /// iif).with_mark(mark)`): the key is built only when the merged
    /// `local` and `main` do not decide. Inlined into the receive path, as
    /// [`Policy::lookup_v4_parts`].
    #[inline(always)]
    pub(crate) fn lookup_v6_input(
        &self,
        tables: &Tables,
        s: std::net::Ipv6Addr,
        d: std::net::Ipv6Addr,
        iif: PortId,
        mark: u32,
    ) -> RouteResult {
        match self.merged_v6_first(d) {
            Ok(r) => r,
            Err([]) => RouteResult::NoRoute,
            Err(rules) => {
                let key = FlowKey::forward(IpAddr::V6(s), IpAddr::V6(d), iif).with_mark(mark);
                walk_v6(rules, tables, &key, d).0
            }
        }
    }

    /// The merged `local` and `main` tables' decision for `d` (without
    /// matching rule 0, `from all`: the kernel's fib6_lookup without
    /// custom rules), or the rules still to walk: all of them when the
    /// tables do not merge, those after `main` when neither answered (or
    /// `main` threw).
    #[inline(always)]
    fn merged_v6_first(&self, d: std::net::Ipv6Addr) -> Result<RouteResult, &[Compiled]> {
        let Some(fib) = &self.merged_v6 else {
            return Err(&self.v6[..]);
        };
        match fib
            .lookup_v6(d)
            .and_then(|id| fib.next_hop(id))
            .and_then(|nh| result_v6(nh, d))
        {
            Some(r) => Ok(r),
            None => Err(self.v6.get(2..).unwrap_or_default()),
        }
    }

    /// [`Policy::walk`] for IPv4 with 32-bit arithmetic and without
    /// tracking the deciding rule: the packet path's lookup.
    #[inline]
    fn lookup_v4(&self, tables: &Tables, key: &FlowKey, d: std::net::Ipv4Addr) -> RouteResult {
        let src = match key.src {
            IpAddr::V4(s) => u32::from(s),
            IpAddr::V6(_) => 0,
        };
        self.lookup_v4_parts(tables, src, d, key.iif, key.oif, key.mark)
    }

    /// [`Policy::lookup_v4`] from the key's parts (source as a `u32`):
    /// the receive path's lookup builds no [`FlowKey`]. Inlined into it:
    /// the interface codes of a constant `None` fold away and the result
    /// stays in registers.
    #[inline(always)]
    pub(crate) fn lookup_v4_parts(
        &self,
        tables: &Tables,
        src: u32,
        d: std::net::Ipv4Addr,
        iif: Option<PortId>,
        oif: Option<PortId>,
        mark: u32,
    ) -> RouteResult {
        let mut rules = &self.v4_fast[..];
        // The default rules' `local` and `main` first, as one table and
        // without matching rule 0 (`from all`): the kernel's fib_lookup
        // without custom rules. Neither answering, the rules after.
        if let Some(fib) = &self.merged_v4 {
            if let Some(r) = lookup_in_v4(fib, d) {
                return r;
            }
            rules = rules.get(1..).unwrap_or_default();
        }
        let dst = u32::from(d);
        let (iif, oif) = (if_code(iif), if_code(oif));
        for rule in rules {
            if !rule.always && !rule.matches(src, dst, iif, oif, mark) {
                continue;
            }
            let fib = match rule.action {
                Action::Result(r) => return r,
                Action::Lookup(Some(t)) => tables.at(t),
                Action::Lookup(None) => continue,
                Action::LookupMerged => self.merged_v4.as_ref(),
            };
            if let Some(r) = fib.and_then(|fib| lookup_in_v4(fib, d)) {
                return r;
            }
        }
        RouteResult::NoRoute
    }

    /// Whether the packet path's IPv4 lookup uses the merged `local` and
    /// `main` table.
    #[cfg(test)]
    pub(crate) fn merged_v4_for_tests(&self) -> bool {
        self.merged_v4.is_some()
    }

    /// Whether the packet path's IPv6 lookup uses the merged `local` and
    /// `main` table.
    #[cfg(test)]
    pub(crate) fn merged_v6_for_tests(&self) -> bool {
        self.merged_v6.is_some()
    }

    /// Like [`Policy::lookup`], also naming the rule and table that decided.
    pub fn decide(&self, tables: &Tables, key: &FlowKey) -> Decision {
        let (result, hit) = self.walk(tables, key);
        let v6 = key.dst.is_ipv6();
        let rule = hit.and_then(|i| self.rules(v6).get(i));
        let table = rule.and_then(|r| match r.action {
            RuleAction::Lookup(t) => Some(t),
            _ => None,
        });
        Decision {
            result,
            priority: rule.map(|r| r.priority),
            line: rule.map(|r| r.line),
            table,
        }
    }

    /// The result and the index of the deciding rule.
    #[inline]
    fn walk(&self, tables: &Tables, key: &FlowKey) -> (RouteResult, Option<usize>) {
        match key.dst {
            IpAddr::V4(d) => {
                let s = match key.src {
                    IpAddr::V4(s) => u32::from(s),
                    IpAddr::V6(_) => 0,
                };
                let dst = u128::from(u32::from(d));
                walk_family(&self.v4, tables, key, u128::from(s), false, dst, |fib| {
                    fib.lookup_v4(d).and_then(|id| fib.next_hop(id))
                })
            }
            IpAddr::V6(d) => walk_v6(&self.v6, tables, key, d),
        }
    }
}

/// [`walk_family`] over IPv6 `rules` for `key` (to `d`).
#[inline(always)]
fn walk_v6(
    rules: &[Compiled],
    tables: &Tables,
    key: &FlowKey,
    d: std::net::Ipv6Addr,
) -> (RouteResult, Option<usize>) {
    let s = match key.src {
        IpAddr::V6(s) => u128::from(s),
        IpAddr::V4(_) => 0,
    };
    // fib6_rule_match(): without RT6_LOOKUP_F_HAS_SADDR (output before
    // source selection) `from` never matches.
    let no_saddr = key.iif.is_none() && s == 0;
    walk_family(rules, tables, key, s, no_saddr, u128::from(d), |fib| {
        fib.lookup_v6(d).and_then(|id| fib.next_hop(id))
    })
}

/// `fib_rules_lookup()` over one family's rules; `lookup` is that family's
/// LPM in one table.
#[inline(always)]
fn walk_family<'t>(
    rules: &[Compiled],
    tables: &'t Tables,
    key: &FlowKey,
    src: u128,
    no_saddr: bool,
    dst: u128,
    lookup: impl Fn(&'t Fib) -> Option<&'t NextHop>,
) -> (RouteResult, Option<usize>) {
    for (i, rule) in rules.iter().enumerate() {
        if !rule.always && !rule.matches(src, no_saddr, dst, key) {
            continue;
        }
        let table = match rule.action {
            Action::Result(r) => return (r, Some(i)),
            Action::Lookup(Some(t)) => t,
            // Only in `Policy::v4_fast`; `Compiled` rules name tables.
            Action::Lookup(None) | Action::LookupMerged => continue,
        };
        let Some(nh) = tables.at(table).and_then(&lookup) else {
            continue;
        };
        let Some(result) = result_of(nh, key.dst) else {
            continue;
        };
        return (result, Some(i));
    }
    (RouteResult::NoRoute, None)
}

/// What a route does to the packet; `None` for `throw` (go on with the
/// next rule).
#[inline(always)]
fn result_of(nh: &NextHop, dst: IpAddr) -> Option<RouteResult> {
    Some(match nh.kind {
        NextHopKind::Unicast { via, dev } => RouteResult::Forward {
            port: dev,
            next_hop: via.unwrap_or(dst),
        },
        NextHopKind::Local | NextHopKind::Anycast { .. } => RouteResult::Local,
        NextHopKind::Broadcast { dev } => RouteResult::Broadcast { port: dev },
        NextHopKind::Blackhole => RouteResult::Blackhole,
        NextHopKind::Unreachable => RouteResult::Unreachable,
        NextHopKind::Prohibit => RouteResult::Prohibit,
        NextHopKind::Throw => return None,
    })
}

/// An IPv4 rule of [`Compiled`] with 32-bit addresses (IPv4 rules hold
/// their addresses in the low 32 bits of the `u128`s).
#[derive(Debug, Clone, Copy)]
struct CompiledV4 {
    src: u32,
    src_mask: u32,
    dst: u32,
    dst_mask: u32,
    mark: u32,
    mark_mask: u32,
    /// `iif` / `oif` as value and mask over [`if_code`] (branch-free).
    iif: u32,
    iif_mask: u32,
    oif: u32,
    oif_mask: u32,
    invert: bool,
    /// As [`Compiled::always`].
    always: bool,
    action: Action,
}

/// The decision of one table for IPv4 destination `d`: `None` when it has
/// no route or its route does not decide (the rule walk goes on).
#[inline(always)]
fn lookup_in_v4(fib: &Fib, d: std::net::Ipv4Addr) -> Option<RouteResult> {
    fib.lookup_v4(d)
        .and_then(|id| fib.next_hop(id))
        .and_then(|nh| result_v4(nh, d))
}

/// [`result_of`] for IPv4, the next hop built from its 4 bytes: the copy
/// of a whole `IpAddr` out of an `Option` compiles to overlapping stores
/// that stall store forwarding. `None`: the rule walk goes on (a throw
/// route, a route type that does not decide).
#[inline(always)]
fn result_v4(nh: &NextHop, d: std::net::Ipv4Addr) -> Option<RouteResult> {
    match nh.kind {
        NextHopKind::Unicast { via: None, dev } => Some(RouteResult::Forward {
            port: dev,
            next_hop: IpAddr::V4(d),
        }),
        NextHopKind::Unicast {
            via: Some(IpAddr::V4(g)),
            dev,
        } => Some(RouteResult::Forward {
            port: dev,
            next_hop: IpAddr::V4(g),
        }),
        NextHopKind::Throw => None,
        _ => result_of(nh, IpAddr::V4(d)),
    }
}

/// [`result_v4`] for IPv6.
#[inline(always)]
fn result_v6(nh: &NextHop, d: std::net::Ipv6Addr) -> Option<RouteResult> {
    match nh.kind {
        NextHopKind::Unicast { via: None, dev } => Some(RouteResult::Forward {
            port: dev,
            next_hop: IpAddr::V6(d),
        }),
        NextHopKind::Unicast {
            via: Some(IpAddr::V6(g)),
            dev,
        } => Some(RouteResult::Forward {
            port: dev,
            next_hop: IpAddr::V6(g),
        }),
        NextHopKind::Throw => None,
        _ => result_of(nh, IpAddr::V6(d)),
    }
}

/// An interface as a number: 0 for none (`lo`, unbound), port + 1.
#[inline(always)]
fn if_code(p: Option<PortId>) -> u32 {
    match p {
        None => 0,
        Some(p) => u32::from(p.0) + 1,
    }
}

/// An [`IfMatch`] as (value, mask) over [`if_code`]; `Never` is a value
/// no code has.
fn if_match_code(m: IfMatch) -> (u32, u32) {
    match m {
        IfMatch::Any => (0, 0),
        IfMatch::Port(p) => (u32::from(p.0) + 1, u32::MAX),
        IfMatch::Unset => (0, u32::MAX),
        IfMatch::Never => (u32::MAX, u32::MAX),
    }
}

impl From<&Compiled> for CompiledV4 {
    fn from(c: &Compiled) -> Self {
        let (iif, iif_mask) = if_match_code(c.iif);
        let (oif, oif_mask) = if_match_code(c.oif);
        CompiledV4 {
            src: c.src as u32,
            src_mask: c.src_mask as u32,
            dst: c.dst as u32,
            dst_mask: c.dst_mask as u32,
            mark: c.mark,
            mark_mask: c.mark_mask,
            iif,
            iif_mask,
            oif,
            oif_mask,
            invert: c.invert,
            always: c.always,
            action: c.action,
        }
    }
}

impl CompiledV4 {
    /// [`Compiled::matches`] for IPv4 (no `no_saddr`: IPv4 compares the
    /// unspecified source).
    #[inline(always)]
    fn matches(&self, src: u32, dst: u32, iif: u32, oif: u32, mark: u32) -> bool {
        let diff = ((iif ^ self.iif) & self.iif_mask)
            | ((oif ^ self.oif) & self.oif_mask)
            | ((mark ^ self.mark) & self.mark_mask)
            | ((src ^ self.src) & self.src_mask)
            | ((dst ^ self.dst) & self.dst_mask);
        (diff == 0) != self.invert
    }
}

fn compile(r: &Rule, tables: &Tables) -> Compiled {
    let prefix = |n: Option<IpNet>| -> (u128, u128) {
        match n {
            None => (0, 0),
            Some(IpNet::V4(n)) => {
                let mask = u128::from(u32::from(n.netmask()));
                (u128::from(u32::from(n.network())), mask)
            }
            Some(IpNet::V6(n)) => {
                let mask = u128::from(n.netmask());
                (u128::from(n.network()), mask)
            }
        }
    };
    let (src, src_mask) = prefix(r.from);
    let (dst, dst_mask) = prefix(r.to);
    let (mark, mark_mask) = r.fwmark.unwrap_or((0, 0));
    let iif = match r.iif {
        None => IfMatch::Any,
        Some(Iface::Port(p)) => IfMatch::Port(p),
        Some(Iface::Lo) => IfMatch::Unset,
    };
    let oif = match r.oif {
        None => IfMatch::Any,
        Some(Iface::Port(p)) => IfMatch::Port(p),
        Some(Iface::Lo) => IfMatch::Never,
    };
    let action = match r.action {
        RuleAction::Lookup(t) => Action::Lookup(tables.index_of(t)),
        RuleAction::Unreachable => Action::Result(RouteResult::NoRoute),
        RuleAction::Prohibit => Action::Result(RouteResult::Prohibit),
        RuleAction::Blackhole => Action::Result(RouteResult::Blackhole),
    };
    Compiled {
        src,
        src_mask,
        dst,
        dst_mask,
        mark,
        mark_mask,
        iif,
        oif,
        invert: r.not,
        always: src_mask == 0
            && dst_mask == 0
            && mark_mask == 0
            && iif == IfMatch::Any
            && oif == IfMatch::Any
            && !r.not,
        action,
    }
}

impl std::fmt::Display for Rule {
    /// As `ip rule show` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:\t", self.priority)?;
        if self.not {
            f.write_str("not ")?;
        }
        match self.from {
            Some(n) => write!(f, "from {n}")?,
            None => f.write_str("from all")?,
        }
        if let Some(n) = self.to {
            write!(f, " to {n}")?;
        }
        if let Some((v, m)) = self.fwmark {
            write!(f, " fwmark {v:#x}/{m:#x}")?;
        }
        let name = |i: Iface| match i {
            Iface::Port(p) => format!("port{}", p.0),
            Iface::Lo => "lo".into(),
        };
        if let Some(i) = self.iif {
            write!(f, " iif {}", name(i))?;
        }
        if let Some(i) = self.oif {
            write!(f, " oif {}", name(i))?;
        }
        match self.action {
            RuleAction::Lookup(t) => write!(f, " lookup {}", TableName(t)),
            RuleAction::Unreachable => f.write_str(" unreachable"),
            RuleAction::Prohibit => f.write_str(" prohibit"),
            RuleAction::Blackhole => f.write_str(" blackhole"),
        }
    }
}
