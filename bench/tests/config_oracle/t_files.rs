//! iptables' own extension tests (`extensions/*.t` of iptables 1.8.11, in
//! `shared/conformance`), run against the INSTALLED iptables in a namespace
//! and against sluice, line by line.
//!
//! For every rule line and every chain the line names, the restore file
//! `*TABLE / -A CHAIN RULE / COMMIT` goes to `iptables-legacy-restore` and to
//! `sluice_config::iptables::parse`. They agree when both refuse it, or both
//! accept it and print the same table. That is stricter than the .t
//! expectation (which is from 1.8.11 and only looks for one line); the
//! expectation is checked too, on the lines where the installed kernel
//! and iptables agree with it, and the lines where they do not are listed.
//!
//! One test per .t file, so a failure names the extension (and so the
//! engineer) it belongs to. All lines of one file run in one namespace.

use std::fmt::Write as _;
use std::path::Path;

use sluice_config::iptables::{self, Family};

use crate::common::{self, note};
use crate::oracle::{self, Oracle};

/// What one restore did: refused (with the message) or the saved table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused(String),
    Saved(String),
}

impl Outcome {
    fn same(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Refused(_), Outcome::Refused(_)) => true,
            (Outcome::Saved(a), Outcome::Saved(b)) => a == b,
            _ => false,
        }
    }

    /// The rule lines of the saved table (the headers are the same for
    /// both sides whenever the rules are), or the refusal.
    fn show(&self) -> String {
        match self {
            Outcome::Refused(m) => format!("REFUSED {}", first_line(m)),
            Outcome::Saved(t) => {
                let rules: Vec<&str> = t.lines().filter(|l| l.starts_with("-A ")).collect();
                if rules.is_empty() {
                    format!(
                        "accepted, table:\n        {}",
                        t.trim_end().replace('\n', "\n        ")
                    )
                } else {
                    rules.join("\n        ")
                }
            }
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// What the .t file expects.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Loads, and `-A CHAIN <this>` is the rule iptables-save prints.
    Ok(String),
    /// Loads, but iptables-save prints something else.
    NoMatch,
    Fail,
}

impl Expect {
    fn agrees(&self, chain: &str, o: &Outcome) -> bool {
        match (self, o) {
            (Expect::Fail, Outcome::Refused(_)) => true,
            (Expect::NoMatch, Outcome::Saved(_)) => true,
            (Expect::Ok(save), Outcome::Saved(t)) => {
                let want = format!("-A {chain} {save}");
                let rules: Vec<&str> = t.lines().filter(|l| l.starts_with("-A ")).collect();
                rules == [want.trim_end()]
            }
            _ => false,
        }
    }

    fn show(&self, chain: &str) -> String {
        match self {
            Expect::Ok(save) => format!("-A {chain} {save}"),
            Expect::NoMatch => "accepted (NOMATCH)".into(),
            Expect::Fail => "FAIL".into(),
        }
    }
}

fn kernel(ns: &Oracle, table: &str, text: &str, family: Family) -> Outcome {
    match ns.restore_family(text, family) {
        Ok(()) => Outcome::Saved(ns.save_table_family(table, family)),
        Err(e) => Outcome::Refused(e),
    }
}

/// sluice's view: the rule parsed, with its `-m set` references checked
/// against the sets the .t file has created (`%ipset` lines), as sluice
/// checks them against its sets file.
fn sluice(name: &str, table: &str, text: &str, sets: &[String], family: Family) -> Outcome {
    match iptables::parse_family(text, Path::new(name), family) {
        Ok(rs) => match oracle::check_sets(&rs, sets) {
            Ok(()) => Outcome::Saved(oracle::sluice_table(&rs, table)),
            Err(e) => Outcome::Refused(format!("{name}: {e}")),
        },
        Err(e) => Outcome::Refused(e.to_string()),
    }
}

#[derive(Default)]
struct Tally {
    lines: usize,
    cases: usize,
    agree: usize,
    kernel_as_t: usize,
    mismatches: Vec<String>,
    kernel_not_t: Vec<String>,
}

/// Runs one .t file with the restore of `family`: IPv4 as iptables-test.py
/// runs every file, IPv6 for the `libxt_*.t` files (shared extensions),
/// which iptables' own suite also runs with ip6tables. The .t
/// expectations are iptables' (IPv4): a line with an IPv4 address is
/// refused by ip6tables and must be by sluice; sluice must agree with the
/// installed ip6tables on every line, and with the expectation wherever
/// the installed ip6tables does.
fn run_t_file_family(file: &str, family: Family) {
    let test = match family {
        Family::Ipv4 => format!("t_files {file}"),
        Family::Ipv6 => format!("t_files -6 {file}"),
    };
    let Some(dir) = common::conformance_dir(&test) else {
        return;
    };
    let path = dir.join("iptables-1.8.11/extensions_t").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Some(ns) = oracle::oracle_for(&test, family) else {
        return;
    };
    let file = &match family {
        Family::Ipv4 => file.to_string(),
        Family::Ipv6 => format!("{file} (ip6tables)"),
    };

    let mut table = "filter".to_string();
    let mut chains: Vec<String> = vec!["INPUT".into()];
    let mut t = Tally::default();
    let mut sets: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            table = name.trim().to_string();
            continue;
        }
        if let Some(list) = line.strip_prefix(':') {
            chains = list.split(',').map(|c| c.trim().to_string()).collect();
            continue;
        }
        if let Some(cmd) = line.strip_prefix('%') {
            let args: Vec<&str> = cmd.split_whitespace().collect();
            if args.first() == Some(&"ipset") {
                sets.extend(oracle::set_names(cmd));
                if matches!(args.get(1), Some(&"destroy") | Some(&"-X")) {
                    sets.retain(|s| Some(&s.as_str()) != args.get(2));
                }
                if let Err(e) = ns.run(&args) {
                    t.mismatches
                        .push(format!("{file}:{n}: `{cmd}` failed in the namespace: {e}"));
                }
            }
            continue;
        }
        if line.starts_with('@') {
            continue;
        }
        let parts: Vec<&str> = line.split(';').collect();
        if parts.len() < 3 {
            continue;
        }
        if parts.get(3) == Some(&"NFT") {
            continue;
        }
        let rule = parts[0];
        let expect = match parts[2] {
            "OK" => Expect::Ok(if parts[1] == "=" {
                rule.to_string()
            } else {
                parts[1].to_string()
            }),
            "NOMATCH" => Expect::NoMatch,
            "FAIL" => Expect::Fail,
            other => panic!("{file}:{n}: unknown result `{other}`"),
        };
        t.lines += 1;
        for chain in &chains {
            t.cases += 1;
            let restore = format!("*{table}\n-A {chain} {rule}\nCOMMIT\n");
            let k = kernel(&ns, &table, &restore, family);
            let s = sluice(&format!("{file}:{n}"), &table, &restore, &sets, family);
            let kernel_as_t = expect.agrees(chain, &k);
            if kernel_as_t {
                t.kernel_as_t += 1;
            } else {
                t.kernel_not_t.push(format!(
                    "{file}:{n} [{chain}]: {rule}\n     .t 1.8.11: {}\n     kernel:    {}",
                    expect.show(chain),
                    k.show()
                ));
            }
            if k.same(&s) && (!kernel_as_t || expect.agrees(chain, &s)) {
                t.agree += 1;
                continue;
            }
            let mut m = format!("{file}:{n} [{table}/{chain}]: {rule}\n");
            let _ = writeln!(m, "     kernel: {}", k.show());
            let _ = writeln!(m, "     sluice: {}", s.show());
            if kernel_as_t {
                let _ = writeln!(m, "     .t:     {}", expect.show(chain));
            }
            if let (Outcome::Saved(a), Outcome::Saved(b)) = (&k, &s) {
                if a.lines()
                    .filter(|l| !l.starts_with("-A "))
                    .ne(b.lines().filter(|l| !l.starts_with("-A ")))
                {
                    let _ = write!(m, "{}", oracle::diff(a, b));
                }
            }
            t.mismatches.push(m);
        }
    }

    note(&format!(
        "{file}: {} lines, {} cases (line x chain): {} agree with the kernel, {} differ; \
         kernel == .t expectation on {}, differs on {}",
        t.lines,
        t.cases,
        t.agree,
        t.mismatches.len(),
        t.kernel_as_t,
        t.kernel_not_t.len()
    ));
    if !t.kernel_not_t.is_empty() {
        note(&format!(
            "{file}: where the installed iptables differs from the 1.8.11 expectation (sluice follows the installed one):\n  {}",
            t.kernel_not_t.join("\n  ")
        ));
    }
    assert!(
        t.lines > 0,
        "{file}: no rule lines found (is the .t format read right?)"
    );
    assert!(
        t.mismatches.is_empty(),
        "{file}: {} of {} cases differ from the kernel:\n{}",
        t.mismatches.len(),
        t.cases,
        t.mismatches.join("")
    );
}

fn run_t_file(file: &str) {
    run_t_file_family(file, Family::Ipv4)
}

macro_rules! t_files {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $name() {
                run_t_file($file);
            }
        )*
    };
}

/// The shared extensions' .t files with ip6tables: one test each, named
/// `ip6_...`.
macro_rules! t6_files {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $name() {
                run_t_file_family($file, Family::Ipv6);
            }
        )*
    };
}

t6_files! {
    ip6_libxt_standard => "libxt_standard.t",
    ip6_libxt_tcp => "libxt_tcp.t",
    ip6_libxt_udp => "libxt_udp.t",
    ip6_libxt_multiport => "libxt_multiport.t",
    ip6_libxt_conntrack => "libxt_conntrack.t",
    ip6_libxt_state => "libxt_state.t",
    ip6_libxt_mark => "libxt_mark.t",
    ip6_libxt_connmark => "libxt_connmark.t",
    ip6_libxt_comment => "libxt_comment.t",
    ip6_libxt_limit => "libxt_limit.t",
    ip6_libxt_recent => "libxt_recent.t",
    ip6_libxt_statistic => "libxt_statistic.t",
    ip6_libxt_set => "libxt_set.t",
    ip6_libxt_addrtype => "libxt_addrtype.t",
    // Its lines are IPv4 ranges, which both refuse (sluice refuses
    // -m iprange in an ip6tables ruleset altogether, by name).
    ip6_libxt_iprange => "libxt_iprange.t",
    ip6_libxt_length => "libxt_length.t",
    ip6_libxt_tos => "libxt_tos.t",
    ip6_libxt_dscp => "libxt_dscp.t",
    ip6_libxt_mac => "libxt_mac.t",
    ip6_libxt_pkttype => "libxt_pkttype.t",
    ip6_libxt_redirect => "libxt_REDIRECT.t",
    ip6_libxt_mark_target => "libxt_MARK.t",
    ip6_libxt_connmark_target => "libxt_CONNMARK.t",
    ip6_libxt_ct => "libxt_CT.t",
    ip6_libxt_notrack => "libxt_NOTRACK.t",
    ip6_libxt_tcpmss_target => "libxt_TCPMSS.t",
    ip6_libxt_dscp_target => "libxt_DSCP.t",
}

t_files! {
    // Core options.
    iptables => "iptables.t",
    libxt_standard => "libxt_standard.t",
    libipt_standard => "libipt_standard.t",
    // Matches.
    libxt_tcp => "libxt_tcp.t",
    libxt_udp => "libxt_udp.t",
    libipt_icmp => "libipt_icmp.t",
    libxt_multiport => "libxt_multiport.t",
    libxt_conntrack => "libxt_conntrack.t",
    libipt_conntrack => "libipt_conntrack.t",
    libxt_state => "libxt_state.t",
    libxt_mark => "libxt_mark.t",
    libxt_connmark => "libxt_connmark.t",
    libxt_comment => "libxt_comment.t",
    libxt_iprange => "libxt_iprange.t",
    libipt_iprange => "libipt_iprange.t",
    libxt_limit => "libxt_limit.t",
    libxt_recent => "libxt_recent.t",
    libipt_recent => "libipt_recent.t",
    libxt_statistic => "libxt_statistic.t",
    libxt_set => "libxt_set.t",
    libxt_addrtype => "libxt_addrtype.t",
    libxt_length => "libxt_length.t",
    libipt_ttl => "libipt_ttl.t",
    libxt_tos => "libxt_tos.t",
    libxt_dscp => "libxt_dscp.t",
    libxt_mac => "libxt_mac.t",
    libxt_pkttype => "libxt_pkttype.t",
    // Targets.
    libipt_dnat => "libipt_DNAT.t",
    libipt_snat => "libipt_SNAT.t",
    libipt_masquerade => "libipt_MASQUERADE.t",
    libxt_redirect => "libxt_REDIRECT.t",
    libipt_reject => "libipt_REJECT.t",
    libipt_log => "libipt_LOG.t",
    libxt_mark_target => "libxt_MARK.t",
    libxt_connmark_target => "libxt_CONNMARK.t",
    libxt_ct => "libxt_CT.t",
    libxt_notrack => "libxt_NOTRACK.t",
    libxt_tcpmss_target => "libxt_TCPMSS.t",
    libipt_ttl_target => "libipt_TTL.t",
    libxt_dscp_target => "libxt_DSCP.t",
}
