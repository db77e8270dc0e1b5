//! Whole real rulesets (from `shared/conformance`, read at test time): each
//! is restored into the kernel in a namespace and parsed by sluice, and
//! every table the file names must print the same, byte for byte.
//!
//! Where a file uses something sluice refuses on purpose (`-m owner`,
//! `-j TPROXY`, ...), each such line must be refused in turn, with an error
//! on that line that names the feature; the rest of the file (those lines
//! blanked) is then compared with the kernel.
//!
//! The adaptations each source needs are in its test, with the reason
//! (see shared/conformance/README.md).

use std::path::{Path, PathBuf};

use sluice_config::iptables::{restore::restore, Family, RestoreOptions, Ruleset};

use crate::common::{self, istio_v4, read};
use crate::oracle::{self, Oracle};

/// A feature sluice refuses: lines containing `pattern` must be refused
/// with a message containing every string of `named`.
pub(crate) struct Refusal {
    pub(crate) pattern: &'static str,
    pub(crate) named: &'static [&'static str],
}

const OWNER: Refusal = Refusal {
    pattern: "-m owner",
    named: &["match \"owner\" is not supported"],
};
const TPROXY: Refusal = Refusal {
    pattern: "-j TPROXY",
    named: &["target \"TPROXY\" is not supported"],
};
const NFACCT: Refusal = Refusal {
    pattern: "-m nfacct",
    named: &["match \"nfacct\" is not supported"],
};
const NFLOG: Refusal = Refusal {
    pattern: "-j NFLOG",
    named: &["target \"NFLOG\" is not supported"],
};
const CHECKSUM: Refusal = Refusal {
    pattern: "-j CHECKSUM",
    named: &["target \"CHECKSUM\" is not supported"],
};
/// Connection tracking helpers (`-j CT --helper NAME`).
const CT_HELPER: Refusal = Refusal {
    pattern: "-j CT --helper",
    named: &["--helper", "not supported"],
};

pub(crate) struct Case<'a> {
    /// Shown in messages (the source file, and the variant).
    pub(crate) name: String,
    pub(crate) text: String,
    /// iptables or ip6tables (the restore and save of that family).
    pub(crate) family: Family,
    pub(crate) noflush: bool,
    /// `ipset restore` input the ruleset needs.
    pub(crate) sets: Option<&'a str>,
    pub(crate) refused: &'a [Refusal],
}

impl<'a> Case<'a> {
    pub(crate) fn new(name: impl Into<String>, text: impl Into<String>) -> Case<'a> {
        Case {
            name: name.into(),
            text: text.into(),
            family: Family::Ipv4,
            noflush: false,
            sets: None,
            refused: &[],
        }
    }
}

fn sluice_parse(case: &Case, text: &str) -> Result<Ruleset, sluice_config::Error> {
    let opts = RestoreOptions {
        noflush: case.noflush,
        family: case.family,
    };
    restore(text, Path::new(&case.name), &Ruleset::default(), opts)
}

/// Runs one case; returns the problems found (empty when it conforms),
/// the number of rule lines compared and of lines refused on purpose.
pub(crate) fn check(ns: &Oracle, case: &Case) -> (Vec<String>, usize, usize) {
    let mut problems = Vec::new();
    let mut lines: Vec<String> = case.text.split('\n').map(str::to_string).collect();

    // 1. Every line using a refused feature is refused, on its line, by name.
    let expected: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| case.refused.iter().any(|r| l.contains(r.pattern)))
        .map(|(i, _)| i + 1)
        .collect();
    let mut blanked = Vec::new();
    let rs = loop {
        match sluice_parse(case, &lines.join("\n")) {
            Ok(rs) => break Some(rs),
            Err(e) => {
                let n = e.at.line;
                let text = lines.get(n.wrapping_sub(1)).cloned().unwrap_or_default();
                let msg = e.to_string();
                match case.refused.iter().find(|r| text.contains(r.pattern)) {
                    Some(r) if r.named.iter().all(|x| msg.contains(x)) && !blanked.contains(&n) => {
                        blanked.push(n);
                        lines[n - 1].clear();
                    }
                    Some(r) => {
                        problems.push(format!(
                            "{}:{n}: refused, but the message does not say all of {:?}: {msg}",
                            case.name, r.named
                        ));
                        break None;
                    }
                    None => {
                        problems.push(format!("sluice refused: {msg}\n    line {n}: {text}"));
                        break None;
                    }
                }
            }
        }
    };
    let Some(rs) = rs else {
        return (problems, 0, 0);
    };
    let known = case.sets.map(oracle::set_names).unwrap_or_default();
    if let Err(e) = oracle::check_sets(&rs, &known) {
        problems.push(format!("{}: {e}", case.name));
    }
    blanked.sort_unstable();
    if blanked != expected {
        problems.push(format!(
            "{}: lines using a refused feature: {expected:?}, refused by sluice: {blanked:?}",
            case.name
        ));
    }
    let text = lines.join("\n");

    // 2. The kernel loads the same text.
    if let Some(sets) = case.sets {
        if let Err(e) = ns.ipset_restore(sets) {
            problems.push(format!("{}: ipset restore failed: {e}", case.name));
            return (problems, 0, 0);
        }
    }
    assert!(
        !(case.noflush && case.family == Family::Ipv6),
        "{}: no --noflush oracle for ip6tables",
        case.name
    );
    let loaded = if case.noflush {
        ns.restore_noflush(&text)
    } else {
        ns.restore_family(&text, case.family)
    };
    if let Err(e) = loaded {
        problems.push(format!(
            "{}: the kernel refused what sluice accepted: {e}",
            case.name
        ));
        return (problems, 0, 0);
    }

    // 3. Table by table, the same iptables-save text.
    let mut rules = 0;
    for table in oracle::tables_of(&text) {
        let k = ns.save_table_family(&table, case.family);
        let s = oracle::sluice_table(&rs, &table);
        rules += k.lines().filter(|l| l.starts_with("-A ")).count();
        if k != s {
            problems.push(format!(
                "{} table {table}: sluice's save differs from the kernel's:\n{}",
                case.name,
                oracle::diff(&k, &s)
            ));
        }
    }
    (problems, rules, blanked.len())
}

/// Runs cases, each in a fresh namespace, and fails listing every problem.
pub(crate) fn run(test: &str, cases: Vec<Case>) {
    assert!(!cases.is_empty(), "{test}: no cases");
    let mut problems = Vec::new();
    let mut total = 0;
    for case in &cases {
        let Some(ns) = oracle::oracle_for(test, case.family) else {
            return;
        };
        let (p, rules, refused) = check(&ns, case);
        common::note(&format!(
            "{test}: {}: {rules} rules compared, {refused} lines refused by name, {}",
            case.name,
            if p.is_empty() {
                "same as the kernel".to_string()
            } else {
                format!("{} problems", p.len())
            }
        ));
        total += rules;
        problems.extend(p);
    }
    assert!(
        total > 0 || !problems.is_empty(),
        "{test}: nothing was compared"
    );
    assert!(
        problems.is_empty(),
        "{test}: {} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .collect();
    out.sort();
    out
}

fn base(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_string()
}

// ---------------------------------------------------------------------------
// Kubernetes

/// kube-proxy's `TestOverallIPTablesRules`: the exact input kube-proxy gives
/// `iptables-restore --noflush`. It counts packets with `-m nfacct`, which
/// sluice refuses (and which needs nfacct objects in the kernel).
#[test]
fn kube_proxy_overall_noflush() {
    let Some(dir) = common::conformance_dir("kube_proxy_overall_noflush") else {
        return;
    };
    let text = read(&dir.join("kubernetes/kube-proxy_TestOverallIPTablesRules_expected.txt"));
    let mut case = Case::new("kube-proxy_TestOverallIPTablesRules_expected.txt", text);
    case.noflush = true;
    case.refused = &[NFACCT];
    run("kube_proxy_overall_noflush", vec![case]);
}

/// Quotes the multi-word comments of the TracePacket rules, which the Go
/// test writes unquoted (real iptables-restore would split them): the
/// words after `--comment` up to the next option.
fn quote_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        let mut i = 0;
        let mut outw: Vec<String> = Vec::new();
        while i < words.len() {
            outw.push(words[i].to_string());
            if words[i] == "--comment" && i + 1 < words.len() && !words[i + 1].starts_with('"') {
                let start = i + 1;
                let mut end = start;
                while end < words.len() && !is_option(words[end]) {
                    end += 1;
                }
                if end - start > 1 {
                    outw.push(format!("\"{}\"", words[start..end].join(" ")));
                    i = end;
                    continue;
                }
            }
            i += 1;
        }
        out.push_str(&outw.join(" "));
        out.push('\n');
    }
    out
}

fn is_option(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() >= 2 && b[0] == b'-' && (b[1].is_ascii_alphabetic() || b[1] == b'-')
}

#[test]
fn kube_proxy_trace_packet() {
    let Some(dir) = common::conformance_dir("kube_proxy_trace_packet") else {
        return;
    };
    let text = quote_comments(&read(
        &dir.join("kubernetes/kube-proxy_TestTracePacket_rules.txt"),
    ));
    assert!(
        text.contains("--comment \"kubernetes service portals\""),
        "comments quoted"
    );
    run(
        "kube_proxy_trace_packet",
        vec![Case::new(
            "kube-proxy_TestTracePacket_rules.txt (comments quoted)",
            text,
        )],
    );
}

// ---------------------------------------------------------------------------
// Istio

#[test]
fn istio() {
    let Some(dir) = common::conformance_dir("istio") else {
        return;
    };
    let mut cases = Vec::new();
    let mut owner_files = 0;
    for path in files(&dir.join("istio"), |n| n.ends_with(".golden")) {
        let text = istio_v4(&read(&path));
        owner_files += usize::from(text.contains("-m owner"));
        let mut case = Case::new(base(&path), text);
        case.refused = &[OWNER, TPROXY];
        cases.push(case);
    }
    assert!(
        owner_files > 0,
        "the Istio goldens use -m owner: the refusal is checked"
    );
    run("istio", cases);
}

// ---------------------------------------------------------------------------
// Docker

const DOCKER_SETS: &str = "create docker-ext-bridges-v4 hash:net family inet\n\
                           add docker-ext-bridges-v4 192.0.2.0/24\n\
                           add docker-ext-bridges-v4 172.17.0.0/16\n";

/// `iptables -S` lines as restore headers: `-P CHAIN POLICY` becomes
/// `:CHAIN POLICY [0:0]`, `-N CHAIN` becomes `:CHAIN - [0:0]`.
fn s_to_headers(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["-P", chain, policy] => out.push_str(&format!(":{chain} {policy} [0:0]\n")),
            ["-N", chain] => out.push_str(&format!(":{chain} - [0:0]\n")),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn docker_usernet_portmap() {
    let Some(dir) = common::conformance_dir("docker_usernet_portmap") else {
        return;
    };
    let text = read(&dir.join("docker/moby_iptablesdoc_usernet-portmap.rules"));
    let headers = s_to_headers(&text);
    assert!(!headers.contains("\n-P ") && !headers.contains("\n-N "));
    let mut as_commands = Case::new("moby usernet-portmap (-P/-N commands)", text);
    as_commands.sets = Some(DOCKER_SETS);
    let mut as_headers = Case::new("moby usernet-portmap (:CHAIN headers)", headers);
    as_headers.sets = Some(DOCKER_SETS);
    run("docker_usernet_portmap", vec![as_commands, as_headers]);
}

// ---------------------------------------------------------------------------
// UFW

/// Declares the chains a UFW fragment jumps to but ufw creates at runtime.
pub(crate) fn ufw_declare(text: &str) -> String {
    let declared: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut missing: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("-A ")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = w.iter().position(|x| *x == "-j" || *x == "-g") {
            if let Some(t) = w.get(i + 1) {
                let builtin_target = t.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                if !builtin_target && !declared.contains(t) && !missing.iter().any(|m| m == t) {
                    missing.push(t.to_string());
                }
            }
        }
    }
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with('*') {
            for m in &missing {
                out.push_str(&format!(":{m} - [0:0]\n"));
            }
        }
    }
    out
}

#[test]
fn ufw() {
    let Some(dir) = common::conformance_dir("ufw") else {
        return;
    };
    let mut cases = Vec::new();
    // The IPv4 fragments (the *6.rules are for ip6tables-restore).
    for name in ["before.rules", "after.rules", "user.rules"] {
        let text = ufw_declare(&read(&dir.join("ufw").join(name)));
        cases.push(Case::new(
            format!("ufw/{name} (runtime chains declared)"),
            text,
        ));
    }
    run("ufw", cases);
}

// ---------------------------------------------------------------------------
// iptables' own save/restore dumps

#[test]
fn shell_dumps() {
    let Some(dir) = common::conformance_dir("shell_dumps") else {
        return;
    };
    let mut cases = Vec::new();
    for path in files(&dir.join("iptables-1.8.11/shell_dumps"), |_| true) {
        let mut case = Case::new(base(&path), read(&path));
        case.refused = &[NFLOG, CHECKSUM, CT_HELPER];
        cases.push(case);
    }
    assert!(cases.len() >= 7, "all dumps found");
    run("shell_dumps", cases);
}
