//! `sluice check --config FILE`: load the appliance config and every file it
//! names, print errors (exit 1) or lint warnings and a summary (exit 0),
//! and one line on what happens to IPv6 ([`ipv6_line`]).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use sluice_config::bundle::{self, Bundle};

/// The one line `sluice check` and `sluice run` give on IPv6: without
/// `[firewall] rules6` it is not forwarded (the box still answers ND and
/// echo itself); with it, it is forwarded and filtered by that ruleset.
pub fn ipv6_line(b: &Bundle) -> String {
    const OWN: &str = "the box still answers ND and echo for its own addresses";
    let file = b
        .appliance
        .firewall
        .as_ref()
        .and_then(|f| f.rules6.as_ref());
    match (&b.rules6, file) {
        (Some(rs), Some(file)) => format!(
            "IPv6: forwarded and filtered by {} ({}, {})",
            file.display(),
            count(rules_in(rs), "rule"),
            count(rs.tables.len(), "table"),
        ),
        _ => format!(
            "IPv6: no ip6tables ruleset configured: IPv6 is not forwarded ({OWN}; [firewall] rules6 names one)"
        ),
    }
}

/// One line per `address = ["dhcp"]` interface, for `sluice check` and
/// `sluice run`: what the lease will bring, and that IPv6 comes from no
/// lease (there is no DHCPv6 or SLAAC client): without a static IPv6
/// address the interface has none.
pub fn dhcp_lines(b: &Bundle) -> Vec<String> {
    b.appliance
        .interfaces
        .iter()
        .filter(|i| i.dhcp)
        .map(|i| {
            let v6 = if i.addresses.iter().any(|a| matches!(a, ipnet::IpNet::V6(_))) {
                ""
            } else {
                "; no IPv6 address (no DHCPv6 or SLAAC client: only a static one)"
            };
            format!(
                "{}: IPv4 by DHCP: no IPv4 address until a lease comes; the lease brings the address, its network and a default route via the router option{v6}",
                i.name
            )
        })
        .collect()
}

fn rules_in(rs: &sluice_config::iptables::Ruleset) -> usize {
    rs.tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .sum()
}

/// Runs the check, writing findings to `err` and the summary to `out`.
/// Returns whether the config is valid.
pub fn check(config: &Path, out: &mut dyn Write, err: &mut dyn Write) -> bool {
    match bundle::load(config) {
        Ok(b) => {
            for w in &b.warnings {
                let _ = writeln!(err, "warning: {w}");
            }
            // The config is valid; say whether today's dataplane can run it.
            let mut warnings = b.warnings.len();
            if let Err(e) = sluice_dataplane::rules::Program::compile_dual(
                &b.appliance,
                &b.rules,
                b.rules6.as_ref(),
                &b.sets,
                sluice_dataplane::rules::RulesParams::default(),
            ) {
                let fw = b.appliance.firewall.as_ref();
                let (file, e) = match e {
                    sluice_dataplane::rules::RulesError::Ipv6(e6) => (
                        fw.and_then(|f| f.rules6.as_ref())
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        *e6,
                    ),
                    e => (
                        fw.map(|f| f.rules.display().to_string())
                            .unwrap_or_default(),
                        e,
                    ),
                };
                let _ = writeln!(
                    err,
                    "warning: {file}: {e}: the ruleset is valid iptables, but sluice's dataplane cannot run it"
                );
                warnings += 1;
            }
            let rules = rules_in(&b.rules);
            let _ = writeln!(
                out,
                "{}: OK: {}, {}, {}, {} in {}, {}, {}",
                config.display(),
                count(b.appliance.interfaces.len(), "interface"),
                count(b.appliance.routes.len(), "route"),
                count(b.appliance.policies.len(), "policy rule"),
                count(rules, "rule"),
                count(b.rules.tables.len(), "table"),
                count(b.sets.sets.len(), "set"),
                count(warnings, "warning"),
            );
            let _ = writeln!(out, "{}", ipv6_line(&b));
            for line in dhcp_lines(&b) {
                let _ = writeln!(out, "{line}");
            }
            true
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            false
        }
    }
}

/// `n` and `noun`, plural unless `n` is 1: "1 set", "0 sets", "2 sets".
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The `sluice check` command: exit code 0 when valid, 1 otherwise.
pub fn run(config: &Path) -> ExitCode {
    let ok = check(config, &mut std::io::stdout(), &mut std::io::stderr());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::{count, dhcp_lines};

    /// The DHCP line says the interface gets no IPv6 unless it has a
    /// static IPv6 address beside "dhcp".
    #[test]
    fn dhcp_line_names_the_missing_ipv6() {
        let dir = std::env::temp_dir().join(format!("sluice-check-dhcp6-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("rules.v4"),
            "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
        )
        .unwrap();
        let lines = |addr: &str| {
            let toml = format!(
                "[[interface]]\nname = \"wan\"\naddress = [{addr}]\n[firewall]\nrules = \"rules.v4\"\n"
            );
            std::fs::write(dir.join("sluice.toml"), toml).unwrap();
            dhcp_lines(&sluice_config::bundle::load(&dir.join("sluice.toml")).unwrap())
        };
        let without = lines("\"dhcp\"");
        let with = lines("\"dhcp\", \"2001:db8::2/64\"");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(without.len(), 1);
        assert!(without[0].starts_with("wan: IPv4 by DHCP: "), "{without:?}");
        assert!(
            without[0]
                .ends_with("; no IPv6 address (no DHCPv6 or SLAAC client: only a static one)"),
            "{without:?}"
        );
        assert_eq!(with.len(), 1);
        assert!(!with[0].contains("IPv6"), "{with:?}");
    }

    #[test]
    fn counts_are_plural_unless_one() {
        assert_eq!(count(0, "set"), "0 sets");
        assert_eq!(count(1, "set"), "1 set");
        assert_eq!(count(1, "policy rule"), "1 policy rule");
        assert_eq!(count(2, "policy rule"), "2 policy rules");
        assert_eq!(count(1, "table"), "1 table");
        assert_eq!(count(25000, "rule"), "25000 rules");
    }
}
