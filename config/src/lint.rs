//! Warnings about rulesets that load but probably do not do what the
//! operator meant. Never errors: the kernel would load these rulesets too.
//!
//! * a rule that can never match because an earlier rule of the same chain
//!   matches every packet it would match and always decides (shadowed);
//! * a file with no table at all (an appliance config replaces the whole
//!   ruleset with it, where iptables-restore would change nothing);
//! * a user chain that nothing jumps to;
//! * filter INPUT with policy DROP (or an unconditional DROP/REJECT rule)
//!   and no rule before it accepting established traffic (replies to the
//!   box's own connections would be dropped); an unconditional ACCEPT and
//!   negated states leaving ESTABLISHED in (`! --ctstate NEW,INVALID`)
//!   count as accepting it; an ESTABLISHED accept after an unconditional
//!   DROP gets its own warning (it never runs).
//!
//! Shadowing is decided conservatively: a warning is given only when the
//! earlier rule's conditions provably contain the later rule's (addresses,
//! interfaces, protocol, fragment flag, ports, and matches equal in both).
//! Rules with stateful matches (limit, recent, statistic) never shadow.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::iptables::ext::tcp::PortRange;
use crate::iptables::{
    AddrMatch, Chain, IfaceMatch, IpBits, Match, Policy, Rule, Ruleset, Table, TableKind, Target,
    TargetExt,
};
use crate::Location;

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub at: Location,
    pub msg: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.msg)
    }
}

/// Lints a parsed ruleset read from `file`.
pub fn lint(rs: &Ruleset, file: &Path) -> Vec<Warning> {
    let mut out = Vec::new();
    if rs.tables.is_empty() {
        // iptables-restore given no table leaves the running rules alone;
        // an appliance config replaces the whole ruleset with it.
        out.push(Warning {
            at: at(file, 1),
            msg: "the file holds no table (no `*filter` ... `COMMIT`): applied, it leaves no rule and every chain accepting (iptables-restore would leave the running rules as they were); write `*filter` and `COMMIT` with the policies you mean".into(),
        });
    }
    for t in &rs.tables {
        for c in &t.chains {
            shadowed(t, c, file, &mut out);
        }
        unreferenced(t, file, &mut out);
    }
    if let Some(filter) = rs.table(TableKind::Filter) {
        input_drop_without_established(filter, file, &mut out);
    }
    out.sort_by_key(|w| w.at.line);
    out
}

fn at(file: &Path, line: usize) -> Location {
    Location::new(PathBuf::from(file), line, None)
}

/// Whether a matching rule always ends the chain's evaluation for the packet.
fn always_decides(r: &Rule) -> bool {
    match &r.target {
        Target::Accept | Target::Drop | Target::Return => true,
        Target::Chain { goto, .. } => *goto,
        Target::Ext(t) => matches!(
            t,
            TargetExt::Reject(_)
                | TargetExt::Dnat(_)
                | TargetExt::Snat(_)
                | TargetExt::Masquerade(_)
                | TargetExt::Redirect(_)
        ),
        Target::None => false,
    }
}

fn addr_covers<A: IpBits>(a: &Option<AddrMatch<A>>, b: &Option<AddrMatch<A>>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(a), None) => a.is_any(),
        (Some(a), Some(b)) => {
            if a.invert || b.invert {
                return a == b;
            }
            // b's block lies inside a's when a's mask bits are all in b's
            // mask and b's address falls in a.
            let am = a.mask.bits();
            let bm = b.mask.bits();
            am & bm == am && a.contains(b.addr)
        }
    }
}

fn iface_covers(a: &Option<IfaceMatch>, b: &Option<IfaceMatch>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => {
            if a.invert || b.invert {
                return a == b;
            }
            if a.wildcard {
                b.name.starts_with(&a.name)
            } else {
                !b.wildcard && a.name == b.name
            }
        }
    }
}

fn range_covers(a: &Option<PortRange>, b: &Option<PortRange>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(a), None) => a.lo == 0 && a.hi == 65535 && !a.invert,
        (Some(a), Some(b)) => {
            if a.invert || b.invert {
                return a == b;
            }
            a.lo <= b.lo && b.hi <= a.hi
        }
    }
}

/// Whether match `m` of the earlier rule holds for every packet the later
/// rule `later` matches.
fn match_covers(m: &Match, later: &Rule) -> bool {
    match m {
        Match::Comment(_) => true,
        Match::Limit(_) | Match::Recent(_) | Match::Statistic(_) => false,
        Match::Tcp(a) => later.matches.iter().any(|x| match x {
            Match::Tcp(b) => {
                range_covers(&a.sport, &b.sport)
                    && range_covers(&a.dport, &b.dport)
                    && (a.flags.is_none() || a.flags == b.flags)
                    && (a.option.is_none() || a.option == b.option)
            }
            _ => false,
        }),
        Match::Udp(a) => later.matches.iter().any(|x| match x {
            Match::Udp(b) => range_covers(&a.sport, &b.sport) && range_covers(&a.dport, &b.dport),
            _ => false,
        }),
        other => later.matches.iter().any(|x| x == other),
    }
}

/// Whether every packet `later` matches is matched by `earlier`.
pub fn covers(earlier: &Rule, later: &Rule) -> bool {
    addr_covers(&earlier.src, &later.src)
        && addr_covers(&earlier.dst, &later.dst)
        && addr_covers(&earlier.src6, &later.src6)
        && addr_covers(&earlier.dst6, &later.dst6)
        && iface_covers(&earlier.in_iface, &later.in_iface)
        && iface_covers(&earlier.out_iface, &later.out_iface)
        && (earlier.proto.is_none() || earlier.proto == later.proto)
        && (earlier.fragment.is_none() || earlier.fragment == later.fragment)
        && earlier.matches.iter().all(|m| match_covers(m, later))
}

/// Where an address condition files an earlier rule in the shadow index:
/// a later rule is compared only with the earlier rules filed under one of
/// its probes ([`addr_probes`]), a superset of those that can cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddrKey {
    /// No condition (or a /0): may cover any address condition.
    Any,
    /// `! -s/-d addr/mask`: covers only the identical condition.
    Not(u128, u128),
    /// `-s/-d addr/mask` (mask, addr): covers a condition whose address
    /// falls in the block.
    In(u128, u128),
}

/// An address condition of either family, as numbers: (addr, mask,
/// invert). A rule has IPv4 or IPv6 conditions, never both, so one key
/// space serves both families.
type AddrBits = Option<(u128, u128, bool)>;

fn bits<A: IpBits>(a: &Option<AddrMatch<A>>) -> AddrBits {
    a.map(|a| (a.addr.bits(), a.mask.bits(), a.invert))
}

/// The rule's source (`dst` false) or destination condition.
fn addr_of(r: &Rule, dst: bool) -> AddrBits {
    match dst {
        false => bits(&r.src).or(bits(&r.src6)),
        true => bits(&r.dst).or(bits(&r.dst6)),
    }
}

fn addr_key(a: AddrBits) -> AddrKey {
    match a {
        None => AddrKey::Any,
        Some((addr, mask, true)) => AddrKey::Not(addr, mask),
        Some((_, 0, false)) => AddrKey::Any,
        Some((addr, mask, false)) => AddrKey::In(mask, addr),
    }
}

/// The keys under which an earlier rule that covers address condition `b`
/// can be filed, given the masks of the `In` keys in the index.
fn addr_probes(b: AddrBits, masks: &[u128]) -> Vec<AddrKey> {
    let mut out = vec![AddrKey::Any];
    match b {
        None => {}
        Some((addr, mask, true)) => out.push(AddrKey::Not(addr, mask)),
        Some((addr, _, false)) => out.extend(masks.iter().map(|&m| AddrKey::In(m, addr & m))),
    }
    out
}

/// A single destination port (`-m tcp/udp --dport P`, not inverted): `(tcp, P)`.
type PortKey = Option<(bool, u16)>;

type ShadowKey = (Option<(u8, bool)>, AddrKey, AddrKey, PortKey);

fn single_port(d: &Option<PortRange>) -> Option<u16> {
    d.as_ref()
        .filter(|d| !d.invert && d.lo == d.hi)
        .map(|d| d.lo)
}

/// The single destination ports of a rule's tcp and udp matches.
fn single_dports(r: &Rule) -> impl Iterator<Item = (bool, u16)> + '_ {
    r.matches.iter().filter_map(|m| match m {
        Match::Tcp(t) => single_port(&t.dport).map(|p| (true, p)),
        Match::Udp(u) => single_port(&u.dport).map(|p| (false, p)),
        _ => None,
    })
}

/// Earlier deciding rules of a chain filed by protocol, source and
/// destination and single destination port (an earlier rule needing port P
/// covers only a later rule whose match of the same kind needs P), so
/// that each rule is compared only with the earlier rules
/// that can cover it (near-linear on real rulesets, where rules differ by
/// address or protocol; [`covers`] still decides every warning).
#[derive(Default)]
struct ShadowIndex {
    by_key: std::collections::HashMap<ShadowKey, Vec<usize>>,
    src_masks: Vec<u128>,
    dst_masks: Vec<u128>,
}

impl ShadowIndex {
    fn insert(&mut self, i: usize, r: &Rule) {
        let key = (
            r.proto.map(|p| (p.proto, p.invert)),
            addr_key(addr_of(r, false)),
            addr_key(addr_of(r, true)),
            single_dports(r).next(),
        );
        if let AddrKey::In(m, _) = key.1 {
            if !self.src_masks.contains(&m) {
                self.src_masks.push(m);
            }
        }
        if let AddrKey::In(m, _) = key.2 {
            if !self.dst_masks.contains(&m) {
                self.dst_masks.push(m);
            }
        }
        self.by_key.entry(key).or_default().push(i);
    }

    /// The first earlier rule (lowest index) that covers `later`.
    fn first_cover(&self, rules: &[Rule], later: &Rule) -> Option<usize> {
        let mut protos = vec![None];
        if let Some(p) = later.proto {
            protos.push(Some((p.proto, p.invert)));
        }
        let srcs = addr_probes(addr_of(later, false), &self.src_masks);
        let dsts = addr_probes(addr_of(later, true), &self.dst_masks);
        let mut ports: Vec<PortKey> = vec![None];
        ports.extend(single_dports(later).map(Some));
        let mut best: Option<usize> = None;
        for &p in &protos {
            for &s in &srcs {
                for &d in &dsts {
                    for &port in &ports {
                        let Some(list) = self.by_key.get(&(p, s, d, port)) else {
                            continue;
                        };
                        for &i in list {
                            if best.is_some_and(|b| i >= b) {
                                break;
                            }
                            if covers(&rules[i], later) {
                                best = Some(i);
                                break;
                            }
                        }
                    }
                }
            }
        }
        best
    }
}

fn shadowed(t: &Table, c: &Chain, file: &Path, out: &mut Vec<Warning>) {
    let mut index = ShadowIndex::default();
    for (j, later) in c.rules.iter().enumerate() {
        if let Some(i) = index.first_cover(&c.rules, later) {
            let earlier = &c.rules[i];
            out.push(Warning {
                at: at(file, later.line),
                msg: format!(
                    "rule {} of chain `{}' (table {}) can never match: rule {} at line {} matches every packet it would and always decides first",
                    j + 1,
                    c.name,
                    t.kind,
                    i + 1,
                    earlier.line
                ),
            });
        }
        // Rules with a stateful match never cover (`match_covers`).
        let stateful = later
            .matches
            .iter()
            .any(|m| matches!(m, Match::Limit(_) | Match::Recent(_) | Match::Statistic(_)));
        if always_decides(later) && !stateful {
            index.insert(j, later);
        }
    }
}

fn unreferenced(t: &Table, file: &Path, out: &mut Vec<Warning>) {
    let used: std::collections::HashSet<&str> = t
        .chains
        .iter()
        .flat_map(|x| &x.rules)
        .filter_map(|r| match &r.target {
            Target::Chain { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for c in t.user_chains() {
        if !used.contains(c.name.as_str()) {
            out.push(Warning {
                at: at(file, c.line),
                msg: format!(
                    "user chain `{}' (table {}) is never jumped to: its rules never run",
                    c.name, t.kind
                ),
            });
        }
    }
}

/// Whether the rule accepts packets of established connections.
fn accepts_established(r: &Rule) -> bool {
    r.target == Target::Accept && r.matches.iter().any(match_established)
}

/// Whether the rule matches every packet: no address, interface, protocol
/// or fragment condition (a /0 or `-p all` counts as none) and no match
/// but comments.
fn unconditional(r: &Rule) -> bool {
    r.src.is_none_or(|a| a.is_any())
        && r.dst.is_none_or(|a| a.is_any())
        && r.src6.is_none_or(|a| a.is_any())
        && r.dst6.is_none_or(|a| a.is_any())
        && r.in_iface.is_none()
        && r.out_iface.is_none()
        && r.proto.is_none_or(|p| p.proto == 0 && !p.invert)
        && r.fragment.is_none()
        && r.matches.iter().all(|m| matches!(m, Match::Comment(_)))
}

/// Whether a matching rule drops the packet for good (DROP or REJECT).
fn drops(r: &Rule) -> bool {
    matches!(r.target, Target::Drop | Target::Ext(TargetExt::Reject(_)))
}

/// Warns when filter INPUT drops by default (policy DROP, or policy ACCEPT
/// with an unconditional DROP/REJECT rule, which decides every packet that
/// reaches it the same way) and no rule that runs before that accepts
/// established traffic. An unconditional ACCEPT before it accepts
/// established traffic too. An ESTABLISHED accept placed after the
/// unconditional DROP never runs: that gets its own warning.
fn input_drop_without_established(filter: &Table, file: &Path, out: &mut Vec<Warning>) {
    let Some(input) = filter.chain("INPUT") else {
        return;
    };
    // The first unconditional rule of INPUT that always decides ends the
    // chain for every packet: rules after it never run.
    let end = input
        .rules
        .iter()
        .position(|r| unconditional(r) && always_decides(r));
    let live = &input.rules[..end.map_or(input.rules.len(), |i| i + 1)];
    let dead_drop = end.map(|i| &input.rules[i]).filter(|r| drops(r));
    match end.map(|i| &input.rules[i]) {
        // Everything that gets there is accepted; an unconditional RETURN
        // or goto leaves it to the policy (or the chain gone to).
        Some(r) if r.target == Target::Accept => return,
        Some(r) if drops(r) => {}
        _ if input.policy == Some(Policy::Drop) => {}
        _ => return,
    }
    // Look through the rules of INPUT that run (up to and including the
    // deciding one: a `-g` there is followed) and every chain they reach.
    let by_name: std::collections::HashMap<&str, &Chain> =
        filter.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut known: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut todo: Vec<&[Rule]> = vec![live];
    while let Some(rules) = todo.pop() {
        for r in rules {
            if accepts_established(r) {
                return;
            }
            if let Target::Chain { name, .. } = &r.target {
                if known.insert(name.as_str()) {
                    if let Some(c) = by_name.get(name.as_str()) {
                        todo.push(&c.rules);
                    }
                }
            }
        }
    }
    if let Some(drop) = dead_drop {
        if let Some(late) = input.rules[end.unwrap_or(0) + 1..]
            .iter()
            .find(|r| accepts_established(r))
        {
            out.push(Warning {
                at: at(file, late.line),
                msg: format!(
                    "this rule accepting established traffic never runs: the unconditional rule at line {} drops every packet of filter INPUT first, so replies to the router's own connections will be dropped",
                    drop.line
                ),
            });
            return;
        }
    }
    const HINT: &str = "(e.g. `-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`): replies to the router's own connections will be dropped";
    out.push(match dead_drop {
        Some(d) => Warning {
            at: at(file, d.line),
            msg: format!("this unconditional rule drops every packet that reaches it in filter INPUT and no rule before it accepts established traffic {HINT}"),
        },
        None => Warning {
            at: at(file, input.line),
            msg: format!(
                "filter INPUT has policy DROP and no rule accepts established traffic {HINT}"
            ),
        },
    });
}

/// Whether a match selects (at least) packets of established connections,
/// and nothing else narrows it.
fn match_established(m: &Match) -> bool {
    use crate::iptables::ext::conntrack::CtStates;
    // `--ctstate ESTABLISHED,...` or a negated list leaving ESTABLISHED
    // out (`! --ctstate NEW,INVALID`).
    let est = |s: &Option<crate::iptables::ext::conntrack::CtStateMatch>| {
        s.is_some_and(|s| s.matches(CtStates::ESTABLISHED))
    };
    match m {
        Match::Conntrack(c) => est(&c.state),
        Match::State(s) => est(&s.state),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(text: &str) -> Vec<String> {
        let rs = crate::iptables::parse(text, Path::new("r.v4")).expect("parses");
        lint(&rs, Path::new("r.v4"))
            .into_iter()
            .map(|w| w.to_string())
            .collect()
    }

    fn filter(rules: &str) -> String {
        format!("*filter\n{rules}COMMIT\n")
    }

    #[test]
    fn a_file_without_a_table_is_warned_about() {
        for text in ["", "# nothing yet\n"] {
            let w = warnings(text);
            assert_eq!(w.len(), 1, "{w:?}");
            assert!(
                w[0].starts_with("r.v4:1:1: the file holds no table"),
                "{w:?}"
            );
        }
        assert!(warnings(&filter("")).is_empty());
    }

    #[test]
    fn broader_prefix_first_shadows_narrower() {
        let w = warnings(&filter(
            "-A FORWARD -s 10.0.0.0/8 -j DROP\n-A FORWARD -s 10.1.0.0/16 -p tcp -j ACCEPT\n",
        ));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("r.v4:3:1: rule 2 of chain `FORWARD'"),
            "{w:?}"
        );
        assert!(w[0].contains("rule 1 at line 2"), "{w:?}");
    }

    #[test]
    fn narrower_first_does_not_shadow() {
        let w = warnings(&filter(
            "-A FORWARD -s 10.1.0.0/16 -j ACCEPT\n-A FORWARD -s 10.0.0.0/8 -j DROP\n",
        ));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn port_ranges_and_interfaces_are_compared() {
        let w = warnings(&filter(
            "-A INPUT -i eth+ -p tcp -m tcp --dport 1:1024 -j DROP\n\
             -A INPUT -i eth0 -p tcp -m tcp --dport 22 -m comment --comment ssh -j ACCEPT\n\
             -A INPUT -i wan0 -p tcp -m tcp --dport 22 -j ACCEPT\n\
             -A INPUT -i eth0 -p tcp -m tcp --dport 2000 -j ACCEPT\n",
        ));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("r.v4:3:"), "{w:?}");
    }

    #[test]
    fn non_deciding_and_stateful_rules_never_shadow() {
        let w = warnings(&filter(
            ":LOGGING - [0:0]\n\
             -A INPUT -j LOGGING\n\
             -A INPUT -m limit --limit 1/sec -j DROP\n\
             -A INPUT -p tcp -j ACCEPT\n\
             -A LOGGING -j LOG\n",
        ));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn inverted_conditions_shadow_only_when_identical() {
        let w = warnings(&filter(
            "-A INPUT ! -s 10.0.0.0/8 -j DROP\n-A INPUT ! -s 10.1.0.0/16 -j ACCEPT\n-A INPUT ! -s 10.0.0.0/8 -p udp -j ACCEPT\n",
        ));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("r.v4:4:"), "{w:?}");
    }

    #[test]
    fn unreferenced_user_chain() {
        let w = warnings(&filter(
            ":ORPHAN - [0:0]\n:USED - [0:0]\n-A INPUT -j USED\n",
        ));
        assert_eq!(w, ["r.v4:2:1: user chain `ORPHAN' (table filter) is never jumped to: its rules never run"]);
    }

    /// Runs each case (name, rules of `*filter`, the warnings expected as
    /// "line: start of message", in any order) and reports every mismatch at once.
    /// A case: name, rules of `*filter`, expected (line, start of message).
    type Case<'a> = (&'a str, &'a str, &'a [(usize, &'a str)]);

    fn table(cases: &[Case]) {
        let mut bad = Vec::new();
        for (name, rules, want) in cases {
            let got = warnings(&filter(rules));
            let ok = got.len() == want.len()
                && want.iter().all(|(line, start)| {
                    let start = format!("r.v4:{line}:1: {start}");
                    got.iter().any(|g| g.starts_with(&start))
                });
            if !ok {
                bad.push(format!("{name}: want {want:?}, got {got:?}"));
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    const NO_EST: &str = "filter INPUT has policy DROP and no rule accepts established";

    #[test]
    fn established_lint_table() {
        table(&[
            // True positives.
            (
                "policy DROP, only ssh accepted",
                ":INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n",
                &[(2, NO_EST)],
            ),
            (
                "inverted ESTABLISHED does not accept established",
                ":INPUT DROP [0:0]\n-A INPUT -m conntrack ! --ctstate ESTABLISHED -j ACCEPT\n",
                &[(2, NO_EST)],
            ),
            (
                "negated list that includes ESTABLISHED",
                ":INPUT DROP [0:0]\n-A INPUT -m conntrack ! --ctstate NEW,ESTABLISHED -j ACCEPT\n",
                &[(2, NO_EST)],
            ),
            (
                "policy ACCEPT ending in an unconditional DROP is policy DROP",
                "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j DROP\n",
                &[(3, "this unconditional rule drops every packet that reaches it in filter INPUT and no rule before it accepts established")],
            ),
            (
                "unconditional REJECT too",
                "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j REJECT\n",
                &[(3, "this unconditional rule drops every packet")],
            ),
            (
                "ESTABLISHED accept after an unconditional DROP never runs",
                ":INPUT DROP [0:0]\n-A INPUT -j DROP\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n",
                &[
                    (4, "this rule accepting established traffic never runs: the unconditional rule at line 3"),
                    (4, "rule 2 of chain `INPUT'"),
                ],
            ),
            (
                "a jump after the unconditional DROP is not followed",
                ":INPUT DROP [0:0]\n:BASE - [0:0]\n-A INPUT -j DROP\n-A INPUT -j BASE\n-A BASE -m state --state ESTABLISHED -j ACCEPT\n",
                &[(4, "this unconditional rule drops every packet"), (5, "rule 2 of chain `INPUT'")],
            ),
            // Must not warn.
            ("policy ACCEPT", "-A INPUT -p tcp -j DROP\n", &[]),
            (
                "conntrack ESTABLISHED",
                ":INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n",
                &[],
            ),
            (
                "state in a user chain",
                ":INPUT DROP [0:0]\n:BASE - [0:0]\n-A INPUT -j BASE\n-A BASE -m state --state RELATED,ESTABLISHED -j ACCEPT\n",
                &[],
            ),
            (
                "unconditional ACCEPT",
                ":INPUT DROP [0:0]\n-A INPUT -j ACCEPT\n",
                &[],
            ),
            (
                "unconditional ACCEPT with a comment and /0",
                ":INPUT DROP [0:0]\n-A INPUT -s 0.0.0.0/0 -m comment --comment all -j ACCEPT\n",
                &[],
            ),
            (
                "negated ctstate NEW,INVALID",
                ":INPUT DROP [0:0]\n-A INPUT -m conntrack ! --ctstate NEW,INVALID -j ACCEPT\n",
                &[],
            ),
            (
                "negated state NEW",
                ":INPUT DROP [0:0]\n-A INPUT -m state ! --state NEW -j ACCEPT\n",
                &[],
            ),
            (
                "policy ACCEPT, ESTABLISHED accepted before the final DROP",
                "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -j DROP\n",
                &[],
            ),
            (
                "policy ACCEPT, conditional DROP at the end",
                "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -i wan0 -j DROP\n",
                &[],
            ),
            (
                "policy ACCEPT, final DROP is a LOG (does not decide)",
                "-A INPUT -j LOG\n",
                &[],
            ),
        ]);
    }

    #[test]
    fn shadow_lint_table() {
        const NEVER: &str = "rule 2 of chain `FORWARD' (table filter) can never match";
        table(&[
            (
                "broader prefix first",
                "-A FORWARD -s 10.0.0.0/8 -j DROP\n-A FORWARD -s 10.1.0.0/16 -p tcp -j ACCEPT\n",
                &[(3, NEVER)],
            ),
            (
                "port range covers port",
                "-A FORWARD -p tcp -m tcp --dport 1:1024 -j DROP\n-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\n",
                &[(3, NEVER)],
            ),
            (
                "identical inverted condition",
                "-A FORWARD ! -s 10.0.0.0/8 -j DROP\n-A FORWARD ! -s 10.0.0.0/8 -p udp -j ACCEPT\n",
                &[(3, NEVER)],
            ),
            (
                "narrower first",
                "-A FORWARD -s 10.1.0.0/16 -j ACCEPT\n-A FORWARD -s 10.0.0.0/8 -j DROP\n",
                &[],
            ),
            (
                "non-deciding earlier rule",
                "-A FORWARD -j LOG\n-A FORWARD -p tcp -j ACCEPT\n",
                &[],
            ),
            (
                "stateful earlier rule",
                "-A FORWARD -m limit --limit 1/sec -j DROP\n-A FORWARD -p tcp -j ACCEPT\n",
                &[],
            ),
            (
                "different inverted prefixes",
                "-A FORWARD ! -s 10.0.0.0/8 -j DROP\n-A FORWARD ! -s 10.1.0.0/16 -j ACCEPT\n",
                &[],
            ),
            (
                "other interface",
                "-A FORWARD -i eth0 -j DROP\n-A FORWARD -i eth1 -j ACCEPT\n",
                &[],
            ),
        ]);
    }

    #[test]
    fn unreferenced_chain_lint_table() {
        const ORPHAN: &str = "user chain `ORPHAN' (table filter) is never jumped to";
        table(&[
            (
                "never jumped to",
                ":ORPHAN - [0:0]\n:USED - [0:0]\n-A INPUT -j USED\n",
                &[(2, ORPHAN)],
            ),
            (
                "a chain with rules but no jump",
                ":ORPHAN - [0:0]\n-A ORPHAN -j ACCEPT\n",
                &[(2, ORPHAN)],
            ),
            ("jumped to", ":USED - [0:0]\n-A INPUT -j USED\n", &[]),
            ("gone to", ":USED - [0:0]\n-A INPUT -g USED\n", &[]),
            (
                "jumped to from another user chain",
                ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n",
                &[],
            ),
        ]);
    }

    /// The indexed shadow lint gives exactly what comparing each rule with
    /// every earlier one gives, on chains built from a few overlapping
    /// prefixes, protocols, inversions and targets.
    #[test]
    fn indexed_shadow_lint_agrees_with_the_pairwise_one() {
        fn pairwise(c: &Chain) -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            for (j, later) in c.rules.iter().enumerate() {
                if let Some(i) = c.rules[..j]
                    .iter()
                    .position(|e| always_decides(e) && covers(e, later))
                {
                    out.push((j + 1, i + 1));
                }
            }
            out
        }
        let srcs = [
            "",
            "-s 10.0.0.0/8 ",
            "-s 10.1.0.0/16 ",
            "-s 10.1.2.3/32 ",
            "! -s 10.1.0.0/16 ",
            "-s 0.0.0.0/0 ",
            "-s 10.1.0.0/255.255.0.255 ",
        ];
        let dsts = [
            "",
            "-d 10.0.0.0/8 ",
            "-d 10.1.2.0/24 ",
            "-d 0.0.0.0/0 ",
            "! -d 10.1.2.0/24 ",
        ];
        let protos = [
            "",
            "-p tcp ",
            "-p udp ",
            "! -p tcp ",
            "-p tcp -m tcp --dport 22 ",
            "-p tcp -m tcp --dport 23 ",
            "-p tcp -m tcp --dport 20:30 ",
            "-p tcp -m tcp ! --dport 22 ",
            "-p udp -m udp --dport 22 ",
            "-p tcp -m tcp --dport 22 -m tcp --dport 23 ",
            "-p tcp -m tcp --sport 22 --dport 22 ",
        ];
        let targets = ["-j ACCEPT", "-j DROP", "-j LOG", "-j SUB", "-g SUB", ""];
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut found = 0;
        for _ in 0..40 {
            let mut text = String::from("*filter\n:SUB - [0:0]\n");
            for _ in 0..60 {
                text += &format!(
                    "-A FORWARD {}{}{}{}\n",
                    srcs[next(srcs.len())],
                    dsts[next(dsts.len())],
                    protos[next(protos.len())],
                    targets[next(targets.len())]
                );
            }
            text += "COMMIT\n";
            let rs = crate::iptables::parse(&text, Path::new("r.v4")).expect("parses");
            let t = rs.table(TableKind::Filter).expect("filter");
            let c = t.chain("FORWARD").expect("FORWARD");
            let mut out = Vec::new();
            shadowed(t, c, Path::new("r.v4"), &mut out);
            let want: Vec<String> = pairwise(c)
                .into_iter()
                .map(|(j, i)| format!("rule {j} of chain `FORWARD' (table filter) can never match: rule {i} at line {}", c.rules[i - 1].line))
                .collect();
            let got: Vec<String> = out
                .iter()
                .map(|w| {
                    w.msg
                        .split(" matches every")
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
            assert_eq!(got, want, "{text}");
            found += want.len();
        }
        assert!(found > 100, "the chains exercise the lint: {found}");
    }
}
