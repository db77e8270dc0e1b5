//! Our own rulesets, compared with the kernel: config's
//! `tests/data/corpus.rules` (every supported match and target, and the
//! core options in their spellings) and `tests/data/gateway.rules` (a
//! realistic branch-office gateway).
//!
//! Each file is restored whole in a namespace and parsed by sluice; every
//! table must print the same. When they differ, each rule line is also
//! tried alone (with its table's chain declarations) so the failure lists
//! every line that differs, not only the first.

use std::collections::BTreeSet;
use std::path::Path;

use sluice_config::iptables;

use crate::common;
use crate::oracle::{self, Oracle};

/// Sets the corpus matches against (`-m set`), created in the namespace.
const SETS: &str = "create blocklist hash:net family inet\n\
                    add blocklist 198.51.100.0/24\n\
                    create trusted hash:ip family inet\n\
                    add trusted 192.0.2.10\n\
                    create svc hash:ip,port family inet\n\
                    add svc 192.0.2.10,tcp:443\n";

fn data(name: &str) -> (String, String) {
    let path = crate::config_dir().join("tests/data").join(name);
    (path.display().to_string(), common::read(&path))
}

/// Rule-command lines of a restore file (`-A`, `-I`, `-R`, with or without
/// a counters prefix), distinct.
fn rule_lines(text: &str) -> BTreeSet<&str> {
    text.lines()
        .map(|l| l.trim_end())
        .filter(|l| {
            let body = match l.strip_prefix('[') {
                Some(r) => r.split_once(']').map(|(_, b)| b.trim_start()).unwrap_or(""),
                None => l,
            };
            ["-A ", "-I ", "-R ", "--append ", "--insert ", "--replace "]
                .iter()
                .any(|p| body.starts_with(p))
        })
        .collect()
}

/// Compares a whole file; returns (problems, rule lines the kernel saved).
fn compare(ns: &Oracle, name: &str, text: &str) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let rs = match iptables::parse(text, Path::new(name)) {
        Ok(rs) => {
            if let Err(e) = oracle::check_sets(&rs, &oracle::set_names(SETS)) {
                problems.push(format!("sluice: {e}"));
            }
            Some(rs)
        }
        Err(e) => {
            problems.push(format!("sluice refused the file: {e}"));
            None
        }
    };
    if let Err(e) = ns.restore(text) {
        problems.push(format!("the kernel refused the file: {e}"));
        return (problems, 0);
    }
    let mut saved = 0;
    for table in oracle::tables_of(text) {
        let k = ns.save_table(&table);
        saved += k.lines().filter(|l| l.starts_with("-A ")).count();
        if let Some(rs) = &rs {
            let s = oracle::sluice_table(rs, &table);
            if k != s {
                problems.push(format!("table {table} differs:\n{}", oracle::diff(&k, &s)));
            }
        }
    }
    (problems, saved)
}

/// Each rule line alone in its table, after the table's chain headers and
/// `-N` lines: the lines where the kernel and sluice disagree.
fn per_line(ns: &Oracle, name: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut table = "";
    let mut decls: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim();
            decls.clear();
            continue;
        }
        if line.starts_with(':') || line.starts_with("-N ") {
            decls.push(line);
            continue;
        }
        if !rule_lines(line).contains(line.trim_end()) {
            continue;
        }
        let one = format!("*{table}\n{}\n{line}\nCOMMIT\n", decls.join("\n"));
        let k = match ns.restore(&one) {
            Ok(()) => Ok(ns.save_table(table)),
            Err(e) => Err(e),
        };
        let alone = format!("{name} (line {} alone)", i + 1);
        let s = iptables::parse(&one, Path::new(&alone))
            .map(|rs| oracle::sluice_table(&rs, table))
            .map_err(|e| e.to_string());
        let same = match (&k, &s) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            let show = |r: &Result<String, String>| match r {
                Ok(t) => t
                    .lines()
                    .filter(|l| l.starts_with("-A "))
                    .collect::<Vec<_>>()
                    .join("\n             "),
                Err(e) => format!("REFUSED {}", e.lines().next().unwrap_or("")),
            };
            out.push(format!(
                "{name}:{}: {line}\n     kernel: {}\n     sluice: {}",
                i + 1,
                show(&k),
                show(&s)
            ));
        }
    }
    out
}

fn run(test: &str, file: &str, min_rules: usize) {
    let (name, text) = data(file);
    let distinct = rule_lines(&text).len();
    assert!(
        distinct >= min_rules,
        "{file}: {distinct} distinct rule lines, the corpus must have at least {min_rules}"
    );
    let Some(ns) = oracle::oracle(test) else {
        return;
    };
    ns.ipset_restore(SETS)
        .unwrap_or_else(|e| panic!("ipset restore: {e}"));
    let (problems, saved) = compare(&ns, &name, &text);
    common::note(&format!(
        "{test}: {file}: {distinct} distinct rule lines, {saved} rules in the kernel's save, {}",
        if problems.is_empty() {
            "same as the kernel".to_string()
        } else {
            format!("{} problems", problems.len())
        }
    ));
    if problems.is_empty() {
        return;
    }
    let lines = per_line(&ns, &name, &text);
    panic!(
        "{file}: {}\n\nrule lines that differ when tried alone ({}):\n{}",
        problems.join("\n"),
        lines.len(),
        lines.join("\n")
    );
}

#[test]
fn corpus() {
    run("corpus", "corpus.rules", 150);
}

#[test]
fn gateway() {
    run("gateway", "gateway.rules", 40);
}

/// The corpus counts what the brief asks of it: the count is of distinct
/// rule lines, not of lines.
#[test]
fn rule_lines_are_counted_distinct() {
    let text = "*filter\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\n[1:2] -I INPUT 1 -j DROP\n:X - [0:0]\n# -A x\nCOMMIT\n";
    assert_eq!(rule_lines(text).len(), 2);
}

/// Non-UTF-8 bytes in `--comment` and `--log-prefix` texts (and a prefix
/// cut inside a character) are kept and printed back byte for byte, as
/// iptables-legacy-save prints them.
#[test]
fn non_utf8_comment_and_log_prefix_bytes() {
    let Some(ns) = oracle::oracle("non_utf8_comment_and_log_prefix_bytes") else {
        return;
    };
    let file: &[u8] =
        b"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
-A INPUT -p tcp -m comment --comment \"caf\xe9 \xff\" -j LOG --log-prefix \"pr\xe9fix \"\n\
-A INPUT -m comment --comment=\xe9t\xe9 -j ACCEPT\n\
-A INPUT -j LOG --log-prefix \"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9zz\"\n\
-A INPUT -j LOG --log-prefix \"aaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9zz\"\n\
-A INPUT -m comment --comment \"\xc3\xa9\xe9 \\\"q\\\" \xe9\"\n\
COMMIT\n";
    let dir = std::env::temp_dir().join(format!("sluice-oracle-bytes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("raw.rules");
    std::fs::write(&path, file).expect("write");
    let kernel = ns.restore_save_bytes(&path);
    std::fs::remove_dir_all(&dir).expect("clean up");
    let kernel = kernel.expect("iptables-legacy-restore takes the file");
    let rs =
        iptables::parse_bytes(file, std::path::Path::new("raw.rules")).expect("sluice takes it");
    let ours = iptables::bytes::to_bytes(&iptables::save::save(&rs)).into_owned();
    assert!(
        kernel == ours,
        "kernel:\n{}\nsluice:\n{}",
        String::from_utf8_lossy(&kernel),
        String::from_utf8_lossy(&ours)
    );
}
