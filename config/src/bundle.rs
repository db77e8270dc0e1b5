//! Everything an appliance config names, loaded and cross-checked: the
//! appliance TOML, its iptables-restore rules and its ipset file.
//!
//! Cross-checks (what the kernel would refuse at load, or what is almost
//! certainly a mistake):
//! * `-m set --match-set NAME` must name a set of the sets file (error, as
//!   the kernel refuses a rule naming a missing set);
//! * `-i`/`-o` naming an interface the appliance does not have (warning:
//!   the kernel accepts it, but the rule can never match on this box).

use std::path::Path;

use crate::appliance::{self, Appliance};
use crate::ipset::{self, SetFile};
use crate::iptables::{self, Ruleset};
use crate::lint::{self, Warning};
use crate::{Error, ErrorKind, Location};

/// A loaded, validated appliance configuration.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub appliance: Appliance,
    pub rules: Ruleset,
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
    let mut warnings = Vec::new();
    if let Some(file) = &rules_file {
        cross_check(&appliance, &rules, &sets, file, &mut warnings)?;
        warnings.extend(lint::lint(&rules, file));
    }
    warnings.sort_by(|a, b| (&a.at.file, a.at.line).cmp(&(&b.at.file, b.at.line)));
    Ok(Bundle {
        appliance,
        rules,
        sets,
        warnings,
    })
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
