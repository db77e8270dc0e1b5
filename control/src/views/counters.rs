//! Rule counters on the control side: summing the workers', the counters
//! a restore file gives, and `rules zero` as a baseline.
//!
//! The workers' counters are single-writer cells ([`RuleCells`]): only
//! the worker may write them without losing a racing hit. So `rules zero
//! [CHAIN]` does not touch them: the control side keeps a [`Baseline`]
//! (the counters as they were when zeroed) and shows the difference.
//! That is race-free: a hit that lands while zeroing is counted after
//! the zero or before it, never lost or doubled. The kernel's `iptables
//! -Z` is the behaviour: the chain's rules and (for a built-in chain) its
//! policy start again from zero; `-Z` without a chain zeroes the table.
//!
//! [`RuleCells`]: sluice_dataplane::rules::RuleCells

use std::collections::HashMap;

use sluice_config::iptables::save::save_rule;
use sluice_config::iptables::{Counters, Ruleset, TableKind};
use sluice_dataplane::rules::{ChainCounters, RuleCounters, TableCounters};

use super::ViewError;

/// The counters `rules` carries from its restore file (`:CHAIN POLICY
/// [packets:bytes]` and `[packets:bytes] -A ...`), shaped as the workers'
/// counters are: what `iptables-restore --counters` would load.
pub fn from_ruleset(rules: &Ruleset) -> RuleCounters {
    RuleCounters {
        tables: rules
            .tables
            .iter()
            .map(|t| TableCounters {
                table: t.kind,
                chains: t
                    .chains
                    .iter()
                    .map(|c| ChainCounters {
                        name: c.name.clone(),
                        policy: c.hook.map(|_| c.counters),
                        rules: c.rules.iter().map(|r| r.counters).collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// [`from_ruleset`], with the built-in chains' policy counters read from
/// the `:CHAIN POLICY [packets:bytes]` lines of `text` (the file `rules`
/// was parsed from; the parsed model keeps rule counters only): what
/// `iptables-restore --counters text` loads.
pub fn from_restore(rules: &Ruleset, text: &str) -> RuleCounters {
    let mut c = from_ruleset(rules);
    let mut table = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(t) = line.strip_prefix('*') {
            table = TableKind::from_name(t.trim());
            continue;
        }
        let Some(rest) = line.strip_prefix(':') else {
            continue;
        };
        let mut w = rest.split_whitespace();
        // `-` keeps a built-in chain's policy and counters as they are.
        let (Some(name), Some(policy), Some(n)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        if policy == "-" {
            continue;
        }
        let Some((p, b)) = n
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .and_then(|n| n.split_once(':'))
        else {
            continue;
        };
        let n = Counters {
            packets: p.parse().unwrap_or(0),
            bytes: b.parse().unwrap_or(0),
        };
        let slot = c
            .tables
            .iter_mut()
            .filter(|t| Some(t.table) == table)
            .flat_map(|t| t.chains.iter_mut())
            .find(|ch| ch.name == name)
            .and_then(|ch| ch.policy.as_mut());
        if let Some(slot) = slot {
            *slot = n;
        }
    }
    c
}

/// The workers' counters of one program summed ([`RuleCounters::merge`]);
/// empty when there are no workers.
pub fn sum(workers: &[RuleCounters]) -> RuleCounters {
    let mut it = workers.iter();
    let Some(first) = it.next() else {
        return RuleCounters::default();
    };
    let mut total = first.clone();
    for w in it {
        total.merge(w);
    }
    total
}

fn sub(a: Counters, b: Counters) -> Counters {
    Counters {
        packets: a.packets.saturating_sub(b.packets),
        bytes: a.bytes.saturating_sub(b.bytes),
    }
}

/// What `rules zero` keeps: the summed counters as they were at the last
/// zero of each chain. Shown counters are the live ones minus these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    base: RuleCounters,
}

impl Baseline {
    /// No zero yet: counters show as they are.
    pub fn new() -> Baseline {
        Baseline::default()
    }

    /// `iptables -t TABLE -Z [CHAIN]`: from now on `chain` (every chain of
    /// `table` without one) shows zero; `live` is the summed counters now.
    /// An unknown chain changes nothing and is iptables' error.
    pub fn zero(
        &mut self,
        live: &RuleCounters,
        table: TableKind,
        chain: Option<&str>,
    ) -> Result<(), ViewError> {
        let Some(lt) = live.tables.iter().find(|t| t.table == table) else {
            return match chain {
                Some(c) => Err(ViewError::NoChain(c.to_string())),
                None => Ok(()),
            };
        };
        if let Some(c) = chain {
            if !lt.chains.iter().any(|x| x.name == c) {
                return Err(ViewError::NoChain(c.to_string()));
            }
        }
        if !self.base.tables.iter().any(|t| t.table == table) {
            self.base.tables.push(TableCounters {
                table,
                chains: Vec::new(),
            });
        }
        let bt = self
            .base
            .tables
            .iter_mut()
            .find(|t| t.table == table)
            .expect("table inserted above");
        for lc in &lt.chains {
            if chain.is_some_and(|c| c != lc.name) {
                continue;
            }
            bt.chains.retain(|c| c.name != lc.name);
            bt.chains.push(lc.clone());
        }
        Ok(())
    }

    /// The counters to show: `live` minus the baseline, per rule and
    /// policy (never below zero).
    pub fn shown(&self, live: &RuleCounters) -> RuleCounters {
        let mut out = live.clone();
        for t in &mut out.tables {
            for c in &mut t.chains {
                if let Some(p) = &mut c.policy {
                    *p = sub(*p, self.base.policy(t.table, &c.name).unwrap_or_default());
                }
                for (k, r) in c.rules.iter_mut().enumerate() {
                    *r = sub(*r, self.base.rule(t.table, &c.name, k).unwrap_or_default());
                }
            }
        }
        out
    }

    /// The baseline for `new`, the ruleset replacing `old` on an apply:
    /// as the workers' counters carry over for rules whose text is
    /// unchanged within their chain (a repeated rule pairing up in
    /// order), so does the baseline; other rules start from zero, with a
    /// zero baseline.
    pub fn carry_over(&self, old: &Ruleset, new: &Ruleset) -> Baseline {
        let mut before: HashMap<(TableKind, String, String), Vec<Counters>> = HashMap::new();
        for t in &old.tables {
            for c in &t.chains {
                if let Some(p) = self.base.policy(t.kind, &c.name) {
                    before
                        .entry((t.kind, c.name.clone(), String::new()))
                        .or_default()
                        .push(p);
                }
                for (k, r) in c.rules.iter().enumerate() {
                    if let Some(n) = self.base.rule(t.kind, &c.name, k) {
                        before
                            .entry((t.kind, c.name.clone(), save_rule(&c.name, r)))
                            .or_default()
                            .push(n);
                    }
                }
            }
        }
        for v in before.values_mut() {
            v.reverse();
        }
        let mut take = |t: TableKind, c: &str, text: String| {
            before
                .get_mut(&(t, c.to_string(), text))
                .and_then(|v| v.pop())
                .unwrap_or_default()
        };
        let mut base = from_ruleset(new);
        for (tc, t) in base.tables.iter_mut().zip(&new.tables) {
            for (cc, c) in tc.chains.iter_mut().zip(&t.chains) {
                if let Some(p) = &mut cc.policy {
                    *p = take(t.kind, &c.name, String::new());
                }
                for (n, r) in cc.rules.iter_mut().zip(&c.rules) {
                    *n = take(t.kind, &c.name, save_rule(&c.name, r));
                }
            }
        }
        Baseline { base }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rules(text: &str) -> Ruleset {
        sluice_config::iptables::parse(text, Path::new("t")).expect("ruleset")
    }

    const RS: &str = "*filter\n:INPUT DROP [10:1000]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n[5:500] -A INPUT -p tcp -j ACCEPT\n[7:700] -A X -j DROP\nCOMMIT\n";

    #[test]
    fn from_ruleset_keeps_the_file_counters() {
        let c = from_restore(&rules(RS), RS);
        let n = |p, b| Counters {
            packets: p,
            bytes: b,
        };
        assert_eq!(c.policy(TableKind::Filter, "INPUT"), Some(n(10, 1000)));
        assert_eq!(c.rule(TableKind::Filter, "INPUT", 0), Some(n(5, 500)));
        assert_eq!(c.rule(TableKind::Filter, "X", 0), Some(n(7, 700)));
        assert_eq!(c.policy(TableKind::Filter, "X"), None);
        assert_eq!(
            sum(&[c.clone(), c.clone()]).rule(TableKind::Filter, "X", 0),
            Some(n(14, 1400))
        );
    }

    #[test]
    fn zero_a_chain_then_more_hits() {
        let rs = rules(RS);
        let live = from_restore(&rs, RS);
        let mut b = Baseline::new();
        assert_eq!(b.shown(&live), live);
        b.zero(&live, TableKind::Filter, Some("INPUT")).unwrap();
        let shown = b.shown(&live);
        assert_eq!(
            shown.rule(TableKind::Filter, "INPUT", 0),
            Some(Counters::default())
        );
        assert_eq!(
            shown.policy(TableKind::Filter, "INPUT"),
            Some(Counters::default())
        );
        // X was not zeroed.
        assert_eq!(shown.rule(TableKind::Filter, "X", 0).unwrap().packets, 7);
        // Hits after the zero show.
        let mut later = live.clone();
        later.tables[0].chains[0].rules[0].packets += 3;
        assert_eq!(
            b.shown(&later)
                .rule(TableKind::Filter, "INPUT", 0)
                .unwrap()
                .packets,
            3
        );
        // The whole table.
        b.zero(&later, TableKind::Filter, None).unwrap();
        assert_eq!(
            b.shown(&later)
                .rule(TableKind::Filter, "X", 0)
                .unwrap()
                .packets,
            0
        );
        // An unknown chain is iptables' error and changes nothing.
        let before = b.clone();
        let e = b.zero(&later, TableKind::Filter, Some("NOPE")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "iptables: No chain/target/match by that name."
        );
        assert_eq!(b, before);
    }

    #[test]
    fn baseline_carries_over_by_rule_text() {
        let old = rules(RS);
        let live = from_restore(&old, RS);
        let mut b = Baseline::new();
        b.zero(&live, TableKind::Filter, None).unwrap();
        let new = rules("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n-A INPUT -p udp -j ACCEPT\n-A INPUT -p tcp -j ACCEPT\n-A X -j DROP\nCOMMIT\n");
        let nb = b.carry_over(&old, &new);
        let base = &nb.base;
        assert_eq!(
            base.rule(TableKind::Filter, "INPUT", 0),
            Some(Counters::default())
        );
        assert_eq!(base.rule(TableKind::Filter, "INPUT", 1).unwrap().packets, 5);
        assert_eq!(base.rule(TableKind::Filter, "X", 0).unwrap().packets, 7);
        assert_eq!(base.policy(TableKind::Filter, "INPUT").unwrap().packets, 10);
    }
}
