//! The kernel oracle of config's conformance tests: the installed iptables
//! (legacy backend) in a throwaway network namespace (a [`Netns`] of
//! `sluice_bench::netns`, deleted on drop, stale ones swept), and helpers to
//! compare its `iptables-save` output with sluice's, table by table.
//!
//! Tests that need the oracle call [`oracle`] and return early when it gives
//! `None`: it has then printed `SKIP: <reason>` straight to the process's
//! stderr (not through the test harness's capture), so a run without root or
//! without iptables says what it did not check instead of passing silently.

use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use sluice_bench::netns::Netns;
use sluice_config::iptables::{save, Family, Match, Ruleset, TableKind};

use crate::common::skip;

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether the kernel oracle can run here: root, `ip`, the legacy iptables
/// tools, and a namespace can be created. `Err` holds the reason it cannot.
pub fn oracle_available() -> Result<(), String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABLE
        .get_or_init(|| {
            let uid = Command::new("id")
                .arg("-u")
                .output()
                .map_err(|e| format!("cannot run `id -u`: {e}"))?;
            if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
                return Err("kernel oracle needs root (network namespaces, iptables)".into());
            }
            if !have("ip", "-V") {
                return Err("`ip` (iproute2) is not installed".into());
            }
            for tool in ["iptables-legacy-restore", "iptables-legacy-save"] {
                if !have(tool, "--version") {
                    return Err(format!("`{tool}` is not installed"));
                }
            }
            let ns =
                Oracle::create().map_err(|e| format!("cannot create a network namespace: {e}"))?;
            ns.restore("*filter\nCOMMIT\n").map_err(|e| {
                format!("iptables-legacy-restore does not work in a namespace: {e}")
            })?;
            Ok(())
        })
        .clone()
}

/// A fresh namespace for the nf_tables oracle (`iptables-nft-restore`,
/// `iptables-nft-save`), or `None` after printing why not.
pub fn nft_oracle(test: &str) -> Option<Oracle> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let available = AVAILABLE
        .get_or_init(|| {
            oracle_available()?;
            for tool in ["iptables-nft-restore", "iptables-nft-save"] {
                if !have(tool, "--version") {
                    return Err(format!("`{tool}` is not installed"));
                }
            }
            let ns =
                Oracle::create().map_err(|e| format!("cannot create a network namespace: {e}"))?;
            ns.nft_restore("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
                .map_err(|e| format!("iptables-nft-restore does not work in a namespace: {e}"))?;
            Ok(())
        })
        .clone();
    if let Err(reason) = available {
        skip(&format!("{test}: {reason}"));
        return None;
    }
    match Oracle::create() {
        Ok(ns) => Some(ns),
        Err(e) => {
            panic!("{test}: the oracle was available but a namespace could not be created: {e}")
        }
    }
}

/// The restore and save commands of the legacy backend for `family`.
pub fn legacy_tools(family: Family) -> (&'static str, &'static str) {
    match family {
        Family::Ipv4 => ("iptables-legacy-restore", "iptables-legacy-save"),
        Family::Ipv6 => ("ip6tables-legacy-restore", "ip6tables-legacy-save"),
    }
}

/// A fresh namespace for the oracle of `family` (for IPv6 the
/// ip6tables-legacy tools must be installed too), or `None` after printing
/// why not.
pub fn oracle_for(test: &str, family: Family) -> Option<Oracle> {
    let (restore, save) = legacy_tools(family);
    if oracle_available().is_ok() {
        for tool in [restore, save] {
            if !have(tool, "--version") {
                skip(&format!("{test}: `{tool}` is not installed"));
                return None;
            }
        }
    }
    oracle(test)
}

/// A fresh namespace for the oracle, or `None` after printing why not.
pub fn oracle(test: &str) -> Option<Oracle> {
    if let Err(reason) = oracle_available() {
        skip(&format!("{test}: {reason}"));
        return None;
    }
    match Oracle::create() {
        Ok(ns) => Some(ns),
        Err(e) => {
            panic!("{test}: the oracle was available but a namespace could not be created: {e}")
        }
    }
}

/// The installed iptables and ipset in a namespace of their own.
pub struct Oracle {
    ns: Netns,
}

/// Stdout when `out` is a success, else its stderr, trimmed.
fn stdout_or_stderr(out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Oracle {
    fn create() -> Result<Oracle, String> {
        Netns::new().map(|ns| Oracle { ns })
    }

    /// Runs `args` in the namespace with `input` on stdin: its stdout, or
    /// its stderr when it fails.
    fn exec(&self, args: &[&str], input: Option<&str>) -> Result<String, String> {
        stdout_or_stderr(self.ns.exec_stdin(args, input)?)
    }

    /// `iptables-legacy-restore` with `text` on stdin; `Err` is its stderr.
    pub fn restore(&self, text: &str) -> Result<(), String> {
        self.restore_with(text, false)
    }

    /// `iptables-legacy-restore --noflush`.
    pub fn restore_noflush(&self, text: &str) -> Result<(), String> {
        self.restore_with(text, true)
    }

    fn restore_with(&self, text: &str, noflush: bool) -> Result<(), String> {
        // -w: wait for the xtables lock, which is shared by every namespace
        // (tests run in parallel, and so may other users of iptables).
        let mut args = vec!["iptables-legacy-restore", "-w"];
        if noflush {
            args.push("--noflush");
        }
        self.exec(&args, Some(text)).map(drop)
    }

    /// `iptables-legacy-restore` of the bytes `file` holds, then
    /// `iptables-legacy-save` of everything, as bytes without its `#` lines.
    pub fn restore_save_bytes(&self, file: &std::path::Path) -> Result<Vec<u8>, String> {
        let script = format!(
            "iptables-legacy-restore -w < '{}' && iptables-legacy-save",
            file.display()
        );
        let out = self
            .ns
            .exec(&["sh", "-c", &script])
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(out
            .stdout
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| l.first() != Some(&b'#'))
            .flatten()
            .copied()
            .collect())
    }

    /// `ip6tables-legacy-restore` (or, for IPv4, `iptables-legacy-restore`)
    /// with `text` on stdin; `Err` is its stderr.
    pub fn restore_family(&self, text: &str, family: Family) -> Result<(), String> {
        self.exec(&[legacy_tools(family).0, "-w"], Some(text))
            .map(drop)
    }

    /// `iptables-legacy-save -t TABLE` without its `#` lines.
    pub fn save_table(&self, table: &str) -> String {
        self.save_table_family(table, Family::Ipv4)
    }

    /// `iptables-legacy-save -t TABLE` (or `ip6tables-legacy-save`)
    /// without its `#` lines.
    pub fn save_table_family(&self, table: &str, family: Family) -> String {
        let save = legacy_tools(family).1;
        let out = self
            .exec(&[save, "-t", table], None)
            .unwrap_or_else(|err| panic!("{save} -t {table} failed: {err}"));
        out.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// `iptables-nft-restore` with `text` on stdin; `Err` is its stderr.
    pub fn nft_restore(&self, text: &str) -> Result<(), String> {
        self.exec(&["iptables-nft-restore", "-w"], Some(text))
            .map(drop)
    }

    /// `iptables-nft-save` (every table it has) without its `#` lines.
    pub fn nft_save(&self) -> String {
        let out = self
            .exec(&["iptables-nft-save"], None)
            .unwrap_or_else(|err| panic!("iptables-nft-save failed: {err}"));
        out.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// `ipset restore` with `text` on stdin.
    pub fn ipset_restore(&self, text: &str) -> Result<(), String> {
        self.exec(&["ipset", "restore"], Some(text)).map(drop)
    }

    /// Runs a command in the namespace (an `%ipset ...` line of a .t file).
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        self.exec(args, None)
    }
}

/// The table names a restore file opens, in order, each once (`*nat` and
/// `* nat` alike, as iptables-restore reads them).
pub fn tables_of(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('*') {
            if let Some(name) = rest.split_whitespace().next() {
                if !out.iter().any(|t| t == name) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// Sluice's `iptables-save` text for one table of a parsed ruleset (a
/// table the ruleset does not have prints as the kernel's fresh table).
pub fn sluice_table(rs: &Ruleset, table: &str) -> String {
    let kind = TableKind::from_name(table).unwrap_or_else(|| panic!("unknown table {table}"));
    match rs.table(kind) {
        Some(t) => save::save_table(t),
        None => save::save_table(&sluice_config::iptables::Table::new(kind)),
    }
}

/// A line-by-line difference of two texts, for failure messages.
pub fn diff(kernel: &str, sluice: &str) -> String {
    let k: Vec<&str> = kernel.lines().collect();
    let s: Vec<&str> = sluice.lines().collect();
    let mut out = String::new();
    // Longest common subsequence, small inputs.
    let (n, m) = (k.len(), s.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if k[i] == s[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && k[i] == s[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("  sluice+ {}\n", s[j]));
            j += 1;
        } else {
            out.push_str(&format!("  kernel- {}\n", k[i]));
            i += 1;
        }
    }
    out
}

/// The set names an `ipset restore` text (or `ipset create ...` command
/// line) creates.
pub fn set_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let w = if w.first() == Some(&"ipset") {
                &w[1..]
            } else {
                &w[..]
            };
            match w {
                [cmd, name, ..] if matches!(*cmd, "create" | "-N" | "-exist") => {
                    Some(name.to_string())
                }
                _ => None,
            }
        })
        .collect()
}

/// sluice's check of `-m set` references against the sets it is given
/// (`bundle::load` does it with the appliance's sets file; the kernel
/// checks the sets that exist): the first rule naming an unknown set.
pub fn check_sets(rs: &Ruleset, known: &[String]) -> Result<(), String> {
    for t in &rs.tables {
        for c in &t.chains {
            for r in &c.rules {
                for m in &r.matches {
                    let Match::Set(set) = m else { continue };
                    let Some(sr) = &set.match_set else { continue };
                    if !known.contains(&sr.name) {
                        return Err(format!(
                            "line {}: set `{}' does not exist (sets given: {known:?})",
                            r.line, sr.name
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
