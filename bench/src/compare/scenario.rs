//! The scenarios of `sluice-bench compare`: a ruleset (the same file for
//! iptables-legacy-restore, iptables-nft-restore and `sluice run`) and the
//! number of flows gen spreads its frames over (`tcp`: the gateway's
//! ruleset, connections instead of frames, see [`super::tcp`]).

use std::path::{Path, PathBuf};

use crate::lab::PLAIN_RULES;
use crate::shapes::{ruleset, shape};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    Plain,
    Gateway,
    Kube1k,
    Kube10k,
    Flows1k,
    Flows100k,
    Tcp,
}

/// A stateful FORWARD chain without NAT: established traffic first, new
/// connections from r0 to r1 accepted (so every flow is a conntrack entry).
pub const STATEFUL_RULES: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n\
:OUTPUT ACCEPT [0:0]\n\
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
-A FORWARD -i r0 -o r1 -m conntrack --ctstate NEW -j ACCEPT\n\
COMMIT\n";

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Plain,
        Scenario::Gateway,
        Scenario::Kube1k,
        Scenario::Kube10k,
        Scenario::Flows1k,
        Scenario::Flows100k,
        Scenario::Tcp,
    ];
    pub const QUICK: [Scenario; 4] = [
        Scenario::Plain,
        Scenario::Gateway,
        Scenario::Kube10k,
        Scenario::Tcp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Plain => "plain",
            Scenario::Gateway => "gateway",
            Scenario::Kube1k => "kube1k",
            Scenario::Kube10k => "kube10k",
            Scenario::Flows1k => "flows1k",
            Scenario::Flows100k => "flows100k",
            Scenario::Tcp => "tcp",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Plain => "plain forwarding",
            Scenario::Gateway => "gateway ruleset (conntrack, MASQUERADE, filter)",
            Scenario::Kube1k => "1 000 kube-proxy-shaped rules",
            Scenario::Kube10k => "10 000 kube-proxy-shaped rules",
            Scenario::Flows1k => "stateful filter, 1 000 flows",
            Scenario::Flows100k => "stateful filter, 100 000 flows",
            Scenario::Tcp => "stateful TCP connection setup through NAT",
        }
    }

    pub fn names() -> Vec<&'static str> {
        Scenario::ALL.iter().map(|s| s.name()).collect()
    }

    pub fn by_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Flows gen spreads its frames over.
    pub fn flows(self) -> u32 {
        match self {
            Scenario::Flows1k => 1_000,
            Scenario::Flows100k => 100_000,
            _ => 1_024,
        }
    }

    /// Filter rules in FORWARD (for the plot's x axis), where it is a
    /// point of the rule-count series.
    pub fn rule_count(self) -> Option<usize> {
        match self {
            Scenario::Plain => Some(0),
            Scenario::Kube1k => Some(1_000),
            Scenario::Kube10k => Some(10_000),
            _ => None,
        }
    }

    /// The ruleset text and the ipset file, written under `dir` (the
    /// gateway uses config/examples/lab's files from `repo`).
    pub fn files(self, dir: &Path, repo: &Path) -> Result<(PathBuf, Option<PathBuf>), String> {
        let text = match self {
            Scenario::Gateway | Scenario::Tcp => {
                let lab = repo.join("config/examples/lab");
                return Ok((lab.join("rules.v4"), Some(lab.join("sets.save"))));
            }
            Scenario::Plain => PLAIN_RULES.to_string(),
            Scenario::Kube1k => kube_rules(1_000),
            Scenario::Kube10k => kube_rules(10_000),
            Scenario::Flows1k | Scenario::Flows100k => STATEFUL_RULES.to_string(),
        };
        let p = dir.join(format!("{}.v4", self.name()));
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok((p, None))
    }
}

/// `n` kube-proxy-shaped FORWARD rules (`-d 10.64.x.y/32 -p tcp --dport P
/// -j ACCEPT`, [`crate::shapes`]'s `kube` shape) that the test traffic
/// (UDP to 198.51.100.10) misses, then the accepts r0 → r1 and r1 → r0,
/// under a DROP policy: every frame is compared with all `n` rules.
pub fn kube_rules(n: usize) -> String {
    let mut rules = shape("kube", n).map(|s| s.rules).unwrap_or_default();
    rules.push("-A FORWARD -i r0 -o r1 -j ACCEPT".into());
    rules.push("-A FORWARD -i r1 -o r0 -j ACCEPT".into());
    ruleset(&rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_rules_count_shape_and_parse() {
        for n in [1_000, 10_000] {
            let t = kube_rules(n);
            let fwd: Vec<&str> = t.lines().filter(|l| l.starts_with("-A FORWARD")).collect();
            assert_eq!(fwd.len(), n + 2);
            assert!(fwd[..n]
                .iter()
                .all(|l| l.contains("/32 -p tcp") && l.ends_with("-j ACCEPT")));
            // The traffic (UDP to 198.51.100.10) matches none of them.
            assert!(!t.contains("198.51.100."));
            sluice_config::iptables::parse(&t, Path::new("kube.v4")).expect("parses");
        }
        sluice_config::iptables::parse(STATEFUL_RULES, Path::new("ct.v4")).expect("parses");
    }

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::by_name(s.name()), Some(s));
        }
        assert_eq!(Scenario::by_name("nope"), None);
    }
}
