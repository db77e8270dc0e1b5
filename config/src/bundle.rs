//! Everything an appliance config names, loaded and cross-checked: the
//! appliance TOML, its iptables-restore rules (and ip6tables-restore
//! rules, `[firewall] rules6`) and its ipset file.
//!
//! Cross-checks (what the kernel would refuse at load, or what is almost
//! certainly a mistake):
//! * `-m set --match-set NAME` must name a set of the sets file (error, as
//!   the kernel refuses a rule naming a missing set);
//! * that set's family must be the rule's (in the IPv4 rules file a
//!   `family inet6` set is an error, as `iptables-legacy-restore` refuses
//!   it: "The protocol family of set s6 is IPv6, which is not applicable.";
//!   in the `rules6` file a `family inet` set, likewise);
//! * `-i`/`-o` naming an interface the appliance does not have (warning:
//!   the kernel accepts it, but the rule can never match on this box).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::appliance::{self, Appliance};
use crate::ipset::{self, Family, SetFile};
use crate::iptables::Family as RulesFamily;
use crate::iptables::{self, Match, Ruleset};
use crate::lint::{self, Warning};
use crate::{Error, ErrorKind, Location};

/// A loaded, validated appliance configuration.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub appliance: Appliance,
    pub rules: Ruleset,
    /// The `[firewall] rules6` ruleset, when the appliance names one.
    pub rules6: Option<Ruleset>,
    pub sets: SetFile,
    /// Lint findings; none of them stops a load.
    pub warnings: Vec<Warning>,
}

/// Loads the appliance TOML at `path` and every file it names.
pub fn load(path: &Path) -> Result<Bundle, Error> {
    let appliance = appliance::load(path)?;
    let (rules, rules_file) = match &appliance.firewall {
        Some(fw) => (iptables::load(&fw.rules)?, Some(fw.rules.clone())),
        None => (Ruleset::default(), None),
    };
    let sets = match appliance.firewall.as_ref().and_then(|f| f.sets.as_ref()) {
        Some(p) => ipset::load(p)?,
        None => SetFile::default(),
    };
    let rules6 = match appliance.firewall.as_ref().and_then(|f| f.rules6.as_ref()) {
        Some(p) => Some((iptables::load6(p)?, p.clone())),
        None => None,
    };
    let mut warnings = Vec::new();
    if let Some(file) = &rules_file {
        cross_check(&appliance, &rules, &sets, file, &mut warnings)?;
        warnings.extend(lint::lint(&rules, file));
    }
    if let Some((rs, file)) = &rules6 {
        cross_check(&appliance, rs, &sets, file, &mut warnings)?;
        warnings.extend(lint::lint(rs, file));
    }
    warnings.sort_by(|a, b| (&a.at.file, a.at.line).cmp(&(&b.at.file, b.at.line)));
    Ok(Bundle {
        appliance,
        rules,
        rules6: rules6.map(|(rs, _)| rs),
        sets,
        warnings,
    })
}

/// Why the files of an appliance do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// `-m set --match-set NAME` names a set the sets file does not create
    /// (the kernel refuses such a rule at load).
    #[error(
        "set `{name}' does not exist: declare it in the sets file{}",
        SetsFileHint(sets_file.as_deref())
    )]
    NoSuchSet {
        name: String,
        /// `[firewall] sets`, when the appliance names a sets file.
        sets_file: Option<PathBuf>,
    },
    /// `-m set --match-set NAME` in an IPv4 rule names a `family inet6`
    /// set, or in an IPv6 rule a `family inet` one (the kernel's xt_set
    /// refuses it at load with this message).
    #[error(
        "the protocol family of set `{name}' is {set}, which is not applicable to an {rule} rule"
    )]
    SetFamily {
        name: String,
        /// The set's family: `IPv4` or `IPv6`.
        set: &'static str,
        /// The rule's: `IPv4 (iptables)` or `IPv6 (ip6tables)`.
        rule: &'static str,
    },
}

/// " (PATH)" naming the sets file, or how to name one.
struct SetsFileHint<'a>(Option<&'a Path>);

impl fmt::Display for SetsFileHint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, " ({})", p.display()),
            None => f.write_str(" ([firewall] sets = \"...\")"),
        }
    }
}

fn cross_check(
    app: &Appliance,
    rules: &Ruleset,
    sets: &SetFile,
    file: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<(), Error> {
    let known = |name: &str, wildcard: bool| {
        name == "lo"
            || app.interfaces.iter().any(|i| {
                if wildcard {
                    i.name.starts_with(name)
                } else {
                    i.name == name
                }
            })
    };
    check_sets(
        rules,
        sets,
        file,
        app.firewall.as_ref().and_then(|f| f.sets.as_deref()),
        warnings,
    )?;
    for t in &rules.tables {
        for c in &t.chains {
            for r in &c.rules {
                for (flag, i) in [("-i", &r.in_iface), ("-o", &r.out_iface)] {
                    if let Some(i) = i {
                        if !known(&i.name, i.wildcard) {
                            warnings.push(Warning {
                                at: Location::new(file, r.line, None),
                                msg: format!(
                                    "{flag} {}{}: no [[interface]] of the appliance has that name, so this condition never holds",
                                    i.name,
                                    if i.wildcard { "+" } else { "" }
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The first set a rule of `rules` names with `-m set --match-set`, and
/// the line of that rule.
pub fn first_set_reference(rules: &Ruleset) -> Option<(&str, usize)> {
    rules
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .find_map(|r| {
            r.matches.iter().find_map(|m| match m {
                Match::Set(set) => set.match_set.as_ref().map(|s| (s.name.as_str(), r.line)),
                _ => None,
            })
        })
}

/// Checks every `-m set --match-set` of the ruleset `rules` (read from
/// `file`) against `sets` as the kernel does at load: the set must exist
/// and be of the ruleset's family (or family-less, `bitmap:port`); errors name
/// the rule's line. `sets_file` names the sets file in the missing-set
/// error. A lookup giving fewer directions than the set has dimensions is a
/// warning (the kernel loads it but never matches).
pub fn check_sets(
    rules: &Ruleset,
    sets: &SetFile,
    file: &Path,
    sets_file: Option<&Path>,
    warnings: &mut Vec<Warning>,
) -> Result<(), Error> {
    for t in &rules.tables {
        for c in &t.chains {
            for r in &c.rules {
                for m in &r.matches {
                    let Match::Set(set) = m else { continue };
                    let Some(sr) = &set.match_set else { continue };
                    let at = || Location::new(file, r.line, None);
                    let Some(def) = sets.set(&sr.name) else {
                        return Err(Error::new(
                            at(),
                            ErrorKind::Bundle(BundleError::NoSuchSet {
                                name: sr.name.clone(),
                                sets_file: sets_file.map(Path::to_path_buf),
                            }),
                        ));
                    };
                    let wrong = match rules.family {
                        RulesFamily::Ipv4 => (Family::Inet6, "IPv6", "IPv4 (iptables)"),
                        RulesFamily::Ipv6 => (Family::Inet, "IPv4", "IPv6 (ip6tables)"),
                    };
                    if def.family == Some(wrong.0) {
                        return Err(Error::new(
                            at(),
                            ErrorKind::Bundle(BundleError::SetFamily {
                                name: sr.name.clone(),
                                set: wrong.1,
                                rule: wrong.2,
                            }),
                        ));
                    }
                    if sr.dirs.len() < def.kind.dimensions() {
                        warnings.push(Warning {
                            at: at(),
                            msg: format!(
                                "--match-set {} gives {} direction(s) but set `{}' ({}) has {} dimensions: the kernel never matches such a lookup",
                                sr.name,
                                sr.dirs.len(),
                                sr.name,
                                def.kind.name(),
                                def.kind.dimensions()
                            ),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let p =
                std::env::temp_dir().join(format!("sluice-bundle-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            p
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const TOML: &str = "[[interface]]\nname = \"lan0\"\naddress = [\"10.0.0.1/24\"]\n[firewall]\nrules = \"r.v4\"\nsets = \"s.save\"\n";

    fn load_with(tag: &str, rules: &str, sets: &str) -> Result<Bundle, Error> {
        let d = Dir::new(tag);
        d.write("r.v4", rules);
        d.write("s.save", sets);
        load(&d.write("sluice.toml", TOML))
    }

    #[test]
    fn missing_set_is_an_error_at_the_rule_line() {
        let e = load_with(
            "missing",
            "*filter\n-A INPUT -m set --match-set nope src -j DROP\nCOMMIT\n",
            "create other hash:ip family inet\n",
        )
        .unwrap_err();
        assert_eq!(e.at.line, 2);
        assert!(e.at.file.ends_with("r.v4"));
        assert!(e.to_string().contains("set `nope' does not exist"), "{e}");
    }

    #[test]
    fn missing_set_names_the_sets_file_or_how_to_give_one() {
        let e = |sets_file: Option<&str>| {
            BundleError::NoSuchSet {
                name: "bad".into(),
                sets_file: sets_file.map(PathBuf::from),
            }
            .to_string()
        };
        assert_eq!(
            e(Some("/etc/sluice/sets.save")),
            "set `bad' does not exist: declare it in the sets file (/etc/sluice/sets.save)"
        );
        assert_eq!(
            e(None),
            "set `bad' does not exist: declare it in the sets file ([firewall] sets = \"...\")"
        );
    }

    /// The kernel (iptables-legacy-restore 1.8.9, checked in a netns):
    /// "The protocol family of set s6 is IPv6, which is not applicable."
    /// Error at line 2.
    #[test]
    fn inet6_set_in_an_ipv4_rule_is_refused_at_the_rule_line() {
        let e = load_with(
            "family6",
            "*filter\n-A INPUT -m set --match-set s4 src -j DROP\n-A INPUT -m set --match-set s6 src -j DROP\nCOMMIT\n",
            "create s4 hash:ip family inet\ncreate s6 hash:ip family inet6\n",
        )
        .unwrap_err();
        assert_eq!(e.at.line, 3);
        assert!(
            e.to_string()
                .contains("the protocol family of set `s6' is IPv6, which is not applicable"),
            "{e}"
        );
        // inet sets and family-less bitmap:port sets load.
        load_with(
            "family4",
            "*filter\n-A INPUT -m set --match-set s4 src -j DROP\n-A INPUT -m set --match-set p dst -j DROP\nCOMMIT\n",
            "create s4 hash:net family inet\ncreate p bitmap:port range 1-1024\n",
        )
        .unwrap();
    }

    #[test]
    fn first_set_reference_finds_the_rule() {
        let rs = iptables::parse(
            "*filter\n-A INPUT -j ACCEPT\n-A INPUT -m set --match-set x src -j DROP\nCOMMIT\n",
            Path::new("r.v4"),
        )
        .unwrap();
        assert_eq!(first_set_reference(&rs), Some(("x", 3)));
        assert_eq!(first_set_reference(&Ruleset::default()), None);
    }

    #[test]
    fn too_few_directions_warns() {
        let b = load_with(
            "dims",
            "*filter\n-A INPUT -m set --match-set svc dst -j ACCEPT\n-A INPUT -m set --match-set svc dst,dst -j ACCEPT\nCOMMIT\n",
            "create svc hash:ip,port family inet\n",
        )
        .unwrap();
        let w: Vec<String> = b.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("r.v4:2:") && w[0].contains("2 dimensions"),
            "{w:?}"
        );
    }

    #[test]
    fn unknown_interfaces_warn_but_wildcards_and_lo_do_not() {
        let b = load_with(
            "iface",
            "*filter\n-A INPUT -i lo -j ACCEPT\n-A INPUT -i lan+ -j ACCEPT\n-A INPUT -i eth0 -j ACCEPT\n-A FORWARD -o wan+ -j ACCEPT\nCOMMIT\n",
            "",
        )
        .unwrap();
        let w: Vec<String> = b.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("r.v4:4:1: -i eth0"), "{w:?}");
        assert!(w[1].contains("r.v4:5:1: -o wan+"), "{w:?}");
    }

    #[test]
    fn rules6_sets_must_be_inet6_and_rules_are_linted() {
        let d = Dir::new("rules6");
        d.write(
            "r.v4",
            "*filter\n-A INPUT -m set --match-set s4 src -j DROP\nCOMMIT\n",
        );
        d.write(
            "s.save",
            "create s4 hash:ip family inet\ncreate s6 hash:ip family inet6\ncreate ports bitmap:port range 1-1024\n",
        );
        let toml = format!("{TOML}rules6 = \"r.v6\"\n");
        let cfg = d.write("sluice.toml", &toml);
        // The IPv6 file names an IPv4 set: refused at its line, as
        // ip6tables-legacy-restore refuses it.
        d.write(
            "r.v6",
            "*filter\n\n-A INPUT -m set --match-set s4 src -j DROP\nCOMMIT\n",
        );
        let e = load(&cfg).unwrap_err();
        assert!(e.at.file.ends_with("r.v6") && e.at.line == 3, "{e}");
        assert!(
            e.to_string().contains(
                "the protocol family of set `s4' is IPv4, which is not applicable to an IPv6 (ip6tables) rule"
            ),
            "{e}"
        );
        // inet6 and family-less sets are taken; the file is linted.
        d.write(
            "r.v6",
            "*filter\n-A INPUT -m set --match-set s6 src -j DROP\n-A INPUT -p tcp -m set --match-set ports dst -j DROP\n-A INPUT -m set --match-set s6 src -j DROP\nCOMMIT\n",
        );
        let b = load(&cfg).unwrap();
        assert_eq!(b.rules6.as_ref().map(|r| r.family), Some(RulesFamily::Ipv6));
        assert!(
            b.warnings.iter().any(|w| w.at.file.ends_with("r.v6")
                && w.at.line == 4
                && w.msg.contains("can never match")),
            "{:?}",
            b.warnings
        );
        // And the IPv4 file may not name the inet6 set.
        d.write(
            "r.v4",
            "*filter\n-A INPUT -m set --match-set s6 src -j DROP\nCOMMIT\n",
        );
        let e = load(&cfg).unwrap_err();
        assert!(
            e.to_string()
                .contains("is IPv6, which is not applicable to an IPv4 (iptables) rule"),
            "{e}"
        );
    }
}
