//! `sluice diff`: what applying a config would change, rule by rule, in
//! the manner of a unified diff: per table and chain (`@@ filter FORWARD
//! @@`), `- ` before what goes and `+ ` before what comes; rules and
//! policies as `iptables-save` prints them; then the `rules6` ruleset the
//! same way, its sections named `ip6 TABLE CHAIN` (and an `ip6` section
//! when `rules6` comes or goes: IPv6 is then forwarded or no longer); then
//! the network (addresses, routes, policy rules) and the sets.
//!
//! Rules are matched within their chain by their text (a longest common
//! subsequence, so a moved rule shows as removed and added); that is the
//! same key the dataplane carries counters over by.

use std::fmt::Write;

use sluice_config::appliance::{Appliance, PolicyRule, Route};
use sluice_config::bundle::Bundle;
use sluice_config::iptables::save::save_rule;
use sluice_config::iptables::{Chain, Ruleset, TableKind};

/// The changes from `old` to `new` as text, and how many lines were
/// added or removed (0: the configs run the same).
pub fn diff(old: &Bundle, new: &Bundle) -> (String, usize) {
    let mut d = Diff::default();
    rules(&mut d, "", &old.rules, &new.rules);
    rules6(&mut d, old.rules6.as_ref(), new.rules6.as_ref());
    network(&mut d, &old.appliance, &new.appliance);
    sets(&mut d, old, new);
    (d.out, d.changes)
}

#[derive(Default)]
struct Diff {
    out: String,
    changes: usize,
}

impl Diff {
    fn section(&mut self, head: &str, lines: &[(char, String)]) {
        if lines.iter().all(|(c, _)| *c == ' ') {
            return;
        }
        let _ = writeln!(self.out, "@@ {head} @@");
        for (c, l) in lines {
            if *c != ' ' {
                self.changes += 1;
                let _ = writeln!(self.out, "{c} {l}");
            }
        }
    }
}

const TABLES: [TableKind; 5] = [
    TableKind::Raw,
    TableKind::Mangle,
    TableKind::Nat,
    TableKind::Filter,
    TableKind::Security,
];

/// The ip6tables rulesets: a missing one (no `rules6`) diffs as empty,
/// and its coming or going is a change of its own, since without
/// `rules6` IPv6 is not forwarded at all.
fn rules6(d: &mut Diff, old: Option<&Ruleset>, new: Option<&Ruleset>) {
    let state = |r: Option<&Ruleset>| match r {
        Some(_) => "rules6: IPv6 forwarded through the ip6tables ruleset",
        None => "no rules6: IPv6 not forwarded",
    };
    if old.is_some() != new.is_some() {
        d.section(
            "ip6",
            &[('-', state(old).to_string()), ('+', state(new).to_string())],
        );
    }
    let empty = Ruleset::default();
    rules(d, "ip6 ", old.unwrap_or(&empty), new.unwrap_or(&empty));
}

/// One family's tables; `prefix` goes before each section's table name.
fn rules(d: &mut Diff, prefix: &str, old: &Ruleset, new: &Ruleset) {
    for kind in TABLES {
        let (o, n) = (old.table(kind), new.table(kind));
        let empty = Vec::new();
        let oc = o.map_or(&empty, |t| &t.chains);
        let nc = n.map_or(&empty, |t| &t.chains);
        let mut names: Vec<&str> = oc.iter().map(|c| c.name.as_str()).collect();
        for c in nc {
            if !names.contains(&c.name.as_str()) {
                names.push(&c.name);
            }
        }
        for name in names {
            let a = oc.iter().find(|c| c.name == name);
            let b = nc.iter().find(|c| c.name == name);
            let mut lines = Vec::new();
            // A table that comes or goes brings its built-in chains with
            // policy ACCEPT: no change by itself.
            let builtin =
                |c: &Chain| c.hook.is_some() && c.policy.is_none_or(|p| p.name() == "ACCEPT");
            let (ha, hb) = match (a, b) {
                (Some(x), None) | (None, Some(x)) if builtin(x) => (None, None),
                _ => (a.map(head), b.map(head)),
            };
            if ha != hb {
                lines.extend(ha.map(|h| ('-', h)));
                lines.extend(hb.map(|h| ('+', h)));
            }
            let text = |c: Option<&Chain>| -> Vec<String> {
                c.map_or(Vec::new(), |c| {
                    c.rules.iter().map(|r| save_rule(&c.name, r)).collect()
                })
            };
            lines.extend(lines_diff(&text(a), &text(b)));
            d.section(&format!("{prefix}{kind} {name}"), &lines);
        }
    }
}

/// `:NAME POLICY` as `iptables-save` heads a chain (`-` for user chains).
fn head(c: &Chain) -> String {
    format!(":{} {}", c.name, c.policy.map_or("-", |p| p.name()))
}

/// A line diff of `a` to `b`: common lines as `' '`. A longest common
/// subsequence when the table fits in 16M cells, else matched as
/// multisets (order changes then go unseen).
fn lines_diff(a: &[String], b: &[String]) -> Vec<(char, String)> {
    // Common prefix and suffix first: the usual apply changes a few rules.
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let s = a[p..]
        .iter()
        .rev()
        .zip(b[p..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[p..a.len() - s], &b[p..b.len() - s]);
    let mut out: Vec<(char, String)> = a[..p].iter().map(|l| (' ', l.clone())).collect();
    if am.len().saturating_mul(bm.len()) <= 16 << 20 {
        let (n, m) = (am.len(), bm.len());
        // lcs[i][j]: of am[i..] and bm[j..].
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                out.push((' ', am[i].clone()));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                out.push(('-', am[i].clone()));
                i += 1;
            } else {
                out.push(('+', bm[j].clone()));
                j += 1;
            }
        }
    } else {
        let mut left: std::collections::HashMap<&String, usize> = Default::default();
        for l in bm {
            *left.entry(l).or_default() += 1;
        }
        for l in am {
            match left.get_mut(l) {
                Some(k) if *k > 0 => *k -= 1,
                _ => out.push(('-', l.clone())),
            }
        }
        let mut gone: std::collections::HashMap<&String, usize> = Default::default();
        for l in am {
            *gone.entry(l).or_default() += 1;
        }
        for l in bm {
            match gone.get_mut(l) {
                Some(k) if *k > 0 => *k -= 1,
                _ => out.push(('+', l.clone())),
            }
        }
    }
    out.extend(a[a.len() - s..].iter().map(|l| (' ', l.clone())));
    out
}

fn network(d: &mut Diff, old: &Appliance, new: &Appliance) {
    let addrs = |a: &Appliance| -> Vec<String> {
        a.interfaces
            .iter()
            .flat_map(|i| {
                let mtu = std::iter::once(format!("{} mtu {}", i.name, i.mtu));
                mtu.chain(i.addresses.iter().map(move |n| format!("{} {n}", i.name)))
            })
            .collect()
    };
    d.section("addresses", &set_diff(&addrs(old), &addrs(new)));
    let routes = |a: &Appliance| -> Vec<String> { a.routes.iter().map(route).collect() };
    d.section("routes", &set_diff(&routes(old), &routes(new)));
    let pols = |a: &Appliance| -> Vec<String> { a.policies.iter().map(policy).collect() };
    d.section("policy rules", &set_diff(&pols(old), &pols(new)));
}

/// `a` to `b` ignoring order: what only `a` has, then what only `b` has.
fn set_diff(a: &[String], b: &[String]) -> Vec<(char, String)> {
    let mut out: Vec<(char, String)> = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|l| ('-', l.clone()))
        .collect();
    out.extend(
        b.iter()
            .filter(|l| !a.contains(l))
            .map(|l| ('+', l.clone())),
    );
    out
}

/// As `ip route` prints it.
fn route(r: &Route) -> String {
    let mut s = r.to.to_string();
    if let Some(v) = r.via {
        let _ = write!(s, " via {v}");
    }
    if let Some(dev) = &r.dev {
        let _ = write!(s, " dev {dev}");
    }
    if r.table != sluice_config::appliance::TABLE_MAIN {
        let _ = write!(s, " table {}", r.table);
    }
    if r.metric != 0 {
        let _ = write!(s, " metric {}", r.metric);
    }
    s
}

/// As `ip rule` prints it.
fn policy(p: &PolicyRule) -> String {
    let mut s = format!("{}:", p.priority);
    if p.not {
        s.push_str(" not");
    }
    s.push_str(&format!(
        " from {}",
        p.from.map_or("all".to_string(), |n| n.to_string())
    ));
    if let Some(to) = p.to {
        let _ = write!(s, " to {to}");
    }
    if let Some((v, m)) = p.fwmark {
        let _ = write!(s, " fwmark {v:#x}/{m:#x}");
    }
    if let Some(i) = &p.iif {
        let _ = write!(s, " iif {i}");
    }
    if let Some(o) = &p.oif {
        let _ = write!(s, " oif {o}");
    }
    let _ = write!(s, " lookup {}", p.table);
    s
}

fn sets(d: &mut Diff, old: &Bundle, new: &Bundle) {
    let mut lines = Vec::new();
    for s in &old.sets.sets {
        match new.sets.set(&s.name) {
            None => lines.push(('-', format!("set {} {}", s.name, s.kind.name()))),
            Some(n) if n != s => {
                lines.push((
                    '-',
                    format!("set {} {} (as running)", s.name, s.kind.name()),
                ));
                lines.push(('+', format!("set {} {} (changed)", n.name, n.kind.name())));
            }
            Some(_) => {}
        }
    }
    for s in &new.sets.sets {
        if old.sets.set(&s.name).is_none() {
            lines.push(('+', format!("set {} {}", s.name, s.kind.name())));
        }
    }
    d.section("sets", &lines);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TOML: &str = "[[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\"]\n\n\
        [[interface]]\nname = \"r1\"\naddress = [\"10.0.2.1/24\"]\n\n";

    fn bundle(extra: &str, rules: &str) -> Bundle {
        Bundle {
            appliance: sluice_config::appliance::parse(
                &format!("{TOML}{extra}"),
                Path::new("/t/a.toml"),
            )
            .unwrap(),
            rules: sluice_config::iptables::parse(rules, Path::new("/t/r.v4")).unwrap(),
            rules6: None,
            sets: Default::default(),
            warnings: Vec::new(),
        }
    }

    const V1: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\n\
        -A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT\n\
        -A FORWARD -p udp -m udp --dport 53 -j ACCEPT\nCOMMIT\n";

    #[test]
    fn same_config_no_diff() {
        let a = bundle("", V1);
        assert_eq!(diff(&a, &a.clone()), (String::new(), 0));
    }

    #[test]
    fn rule_by_rule() {
        let v2 = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
            -A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\n\
            -A FORWARD -p tcp -m tcp --dport 5001 -j DROP\n\
            -A FORWARD -p udp -m udp --dport 53 -j ACCEPT\nCOMMIT\n\
            *nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
            -A POSTROUTING -o r1 -j MASQUERADE\nCOMMIT\n";
        let (text, n) = diff(
            &bundle("", V1),
            &bundle("[[route]]\nto = \"0.0.0.0/0\"\nvia = \"10.0.2.2\"\n", v2),
        );
        assert_eq!(
            text,
            "@@ nat POSTROUTING @@\n\
             + -A POSTROUTING -o r1 -j MASQUERADE\n\
             @@ filter FORWARD @@\n\
             - :FORWARD DROP\n\
             + :FORWARD ACCEPT\n\
             - -A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT\n\
             + -A FORWARD -p tcp -m tcp --dport 5001 -j DROP\n\
             @@ routes @@\n\
             + 0.0.0.0/0 via 10.0.2.2\n"
        );
        assert_eq!(n, 6);
    }

    #[test]
    fn addresses_and_policies() {
        let a = bundle("", V1);
        let mut b = a.clone();
        b.appliance.interfaces[1].addresses = vec!["10.0.9.1/24".parse().unwrap()];
        b.appliance.policies.push(PolicyRule {
            priority: 100,
            fwmark: Some((1, 0xff)),
            from: None,
            to: None,
            iif: None,
            oif: None,
            not: false,
            table: 100,
            line: 1,
        });
        let (text, n) = diff(&a, &b);
        assert_eq!(
            text,
            "@@ addresses @@\n- r1 10.0.2.1/24\n+ r1 10.0.9.1/24\n\
             @@ policy rules @@\n+ 100: from all fwmark 0x1/0xff lookup 100\n"
        );
        assert_eq!(n, 3);
    }

    #[test]
    fn rules6_diffs_as_ip6_sections_and_its_coming_and_going_is_shown() {
        let v6 = |extra: &str| {
            let text = format!(
                "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A FORWARD -s 2001:db8::/32 -j ACCEPT\n{extra}COMMIT\n"
            );
            sluice_config::iptables::parse6(&text, Path::new("/t/r.v6")).unwrap()
        };
        let a = bundle("", V1);
        let mut b = a.clone();
        b.rules6 = Some(v6(""));
        let (text, n) = diff(&a, &b);
        assert_eq!(
            text,
            "@@ ip6 @@\n\
             - no rules6: IPv6 not forwarded\n\
             + rules6: IPv6 forwarded through the ip6tables ruleset\n\
             @@ ip6 filter FORWARD @@\n\
             + :FORWARD DROP\n\
             + -A FORWARD -s 2001:db8::/32 -j ACCEPT\n"
        );
        assert_eq!(n, 4);
        let mut c = b.clone();
        c.rules6 = Some(v6(
            "-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\n",
        ));
        let (text, n) = diff(&b, &c);
        assert_eq!(
            text,
            "@@ ip6 filter FORWARD @@\n\
             + -A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\n"
        );
        assert_eq!(n, 1);
        // The IPv4 rules are the same in all three: no IPv4 section.
        assert_eq!(diff(&c, &c.clone()), (String::new(), 0));
    }

    #[test]
    fn large_chains_fall_back_to_multisets() {
        let a: Vec<String> = (0..5000).map(|i| format!("r{i}")).collect();
        let mut b: Vec<String> = (0..5000).rev().map(|i| format!("r{i}")).collect();
        b.push("new".into());
        let d = lines_diff(&a, &b);
        let changed: Vec<_> = d.iter().filter(|(c, _)| *c != ' ').collect();
        assert_eq!(changed, vec![&('+', "new".to_string())]);
        // A small one is a real LCS: a moved rule is removed and added.
        let d = lines_diff(
            &["a".into(), "b".into(), "c".into()],
            &["b".into(), "c".into(), "a".into()],
        );
        let changed: Vec<_> = d.into_iter().filter(|(c, _)| *c != ' ').collect();
        assert_eq!(
            changed,
            vec![('-', "a".to_string()), ('+', "a".to_string())]
        );
    }
}
