//! Warnings about rulesets that load but probably do not do what the
//! operator meant. Never errors: the kernel would load these rulesets too.
//!
//! * a rule that can never match because an earlier rule of the same chain
//!   matches every packet it would match and always decides (shadowed);
//! * a user chain that nothing jumps to;
//! * filter INPUT with policy DROP and no rule accepting established
//!   traffic (replies to the box's own connections would be dropped).
//!
//! Shadowing is decided conservatively: a warning is given only when the
//! earlier rule's conditions provably contain the later rule's (addresses,
//! interfaces, protocol, fragment flag, ports, and matches equal in both).
//! Rules with stateful matches (limit, recent, statistic) never shadow.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::iptables::ext::tcp::PortRange;
use crate::iptables::{
    AddrMatch, Chain, IfaceMatch, Match, Policy, Rule, Ruleset, Table, TableKind, Target, TargetExt,
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

fn addr_covers(a: &Option<AddrMatch>, b: &Option<AddrMatch>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(a), None) => a.mask == std::net::Ipv4Addr::UNSPECIFIED && !a.invert,
        (Some(a), Some(b)) => {
            if a.invert || b.invert {
                return a == b;
            }
            // b's block lies inside a's when a's mask bits are all in b's
            // mask and b's address falls in a.
            let am = u32::from(a.mask);
            let bm = u32::from(b.mask);
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
        && iface_covers(&earlier.in_iface, &later.in_iface)
        && iface_covers(&earlier.out_iface, &later.out_iface)
        && (earlier.proto.is_none() || earlier.proto == later.proto)
        && (earlier.fragment.is_none() || earlier.fragment == later.fragment)
        && earlier.matches.iter().all(|m| match_covers(m, later))
}

fn shadowed(t: &Table, c: &Chain, file: &Path, out: &mut Vec<Warning>) {
    for (j, later) in c.rules.iter().enumerate() {
        if let Some(earlier) = c.rules[..j]
            .iter()
            .find(|e| always_decides(e) && covers(e, later))
        {
            out.push(Warning {
                at: at(file, later.line),
                msg: format!(
                    "rule {} of chain `{}' (table {}) can never match: rule {} at line {} matches every packet it would and always decides first",
                    j + 1,
                    c.name,
                    t.kind,
                    c.rules.iter().position(|r| std::ptr::eq(r, earlier)).map_or(0, |p| p + 1),
                    earlier.line
                ),
            });
        }
    }
}

fn unreferenced(t: &Table, file: &Path, out: &mut Vec<Warning>) {
    for c in t.user_chains() {
        let used = t
            .chains
            .iter()
            .flat_map(|x| &x.rules)
            .any(|r| matches!(&r.target, Target::Chain { name, .. } if *name == c.name));
        if !used {
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

fn input_drop_without_established(filter: &Table, file: &Path, out: &mut Vec<Warning>) {
    let Some(input) = filter.chain("INPUT") else {
        return;
    };
    if input.policy != Some(Policy::Drop) {
        return;
    }
    // Look through INPUT and every chain reachable from it.
    let mut seen = vec![input.name.as_str()];
    let mut i = 0;
    while i < seen.len() {
        let Some(c) = filter.chain(seen[i]) else {
            break;
        };
        for r in &c.rules {
            if accepts_established(r) {
                return;
            }
            if let Target::Chain { name, .. } = &r.target {
                if !seen.contains(&name.as_str()) {
                    seen.push(name);
                }
            }
        }
        i += 1;
    }
    out.push(Warning {
        at: at(file, input.line),
        msg: "filter INPUT has policy DROP and no rule accepts established traffic (e.g. `-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`): replies to the router's own connections will be dropped".into(),
    });
}

/// Whether a match selects (at least) packets of established connections,
/// and nothing else narrows it.
fn match_established(m: &Match) -> bool {
    use crate::iptables::ext::conntrack::CtStates;
    let est = |s: &Option<crate::iptables::ext::conntrack::CtStateMatch>| {
        s.is_some_and(|s| !s.invert && s.states.contains(CtStates::ESTABLISHED))
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
    fn broader_prefix_first_shadows_narrower() {
        let w = warnings(&filter(
            "-A FORWARD -s 10.0.0.0/8 -j DROP\n-A FORWARD -s 10.1.0.0/16 -p tcp -j ACCEPT\n",
        ));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("r.v4:3: rule 2 of chain `FORWARD'"),
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
        assert_eq!(w, ["r.v4:2: user chain `ORPHAN' (table filter) is never jumped to: its rules never run"]);
    }

    #[test]
    fn input_drop_without_established() {
        let w = warnings(&filter(
            ":INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n",
        ));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("r.v4:2: filter INPUT has policy DROP"),
            "{w:?}"
        );
        let ok = warnings(&filter(
            ":INPUT DROP [0:0]\n:BASE - [0:0]\n-A INPUT -j BASE\n-A BASE -m state --state RELATED,ESTABLISHED -j ACCEPT\n",
        ));
        assert!(ok.is_empty(), "{ok:?}");
        let ok = warnings(&filter(
            ":INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n",
        ));
        assert!(ok.is_empty(), "{ok:?}");
        // An inverted state match does not accept established traffic.
        let w = warnings(&filter(
            ":INPUT DROP [0:0]\n-A INPUT -m conntrack ! --ctstate ESTABLISHED -j ACCEPT\n",
        ));
        assert_eq!(w.len(), 1, "{w:?}");
    }
}
