//! The operator views against the kernel's own tools: the same ruleset,
//! with the same counters, loaded into a namespace's kernel with
//! `iptables-legacy-restore -c` and into sluice's model; `iptables-legacy
//! -L` and `iptables-legacy-save -c` there must print exactly what
//! `rules list` and `rules save` print here.
//!
//! Rulesets: every match and target sluice has (tests/data/views_all.v4),
//! the branch-office and lab examples, and the conformance rulesets (kube-
//! proxy, istio, docker, iptables' shell dumps) that sluice loads.
//! Counters are pseudo-random, from 0 to ~10^13, so `-x` and the K/M/G/T
//! rounding both see every width.
//!
//! Needs root and iptables-legacy; otherwise prints `SKIP:` and passes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sluice_bench::netns::Netns;
use sluice_config::iptables::{self, TableKind};
use sluice_control::views::counters::from_restore;
use sluice_control::views::names::Names;
use sluice_control::views::rules_list::{rules_list, ListOptions};
use sluice_control::views::rules_save::{rules_save, SaveOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn skip() -> bool {
    if let Some(why) = sluice_bench::kernel::skip_reason() {
        eprintln!("SKIP: {why}");
        return true;
    }
    false
}

/// A small deterministic generator (xorshift) for the counters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A count of any width: 0, small, or up to ~10^13.
    fn count(&mut self) -> u64 {
        let digits = self.next() % 14;
        if digits == 0 {
            return 0;
        }
        self.next() % 10u64.pow(digits as u32)
    }
}

/// `text` with `[packets:bytes]` before every `-A` rule and on every
/// chain header.
fn with_counters(text: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let l = line.trim_start();
        let l = match l.strip_prefix('[') {
            Some(rest) if rest.contains(']') => rest[rest.find(']').unwrap() + 1..].trim_start(),
            _ => l,
        };
        if l.starts_with("-A ") || l.starts_with("--append ") {
            let p = rng.count();
            out.push_str(&format!("[{p}:{}] {l}\n", p * 60 + rng.count() % 1000));
        } else if let Some(rest) = l.strip_prefix(':') {
            let mut w = rest.split_whitespace();
            match (w.next(), w.next()) {
                (Some(name), Some(policy)) => {
                    let p = rng.count();
                    out.push_str(&format!(":{name} {policy} [{p}:{}]\n", p * 90));
                }
                _ => out.push_str(&format!("{line}\n")),
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The set names a ruleset's `--match-set` options name.
fn set_names(text: &str) -> BTreeSet<String> {
    let mut v = BTreeSet::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        while let Some(x) = w.next() {
            if x == "--match-set" {
                if let Some(n) = w.next() {
                    v.insert(n.to_string());
                }
            }
        }
    }
    v
}

/// The candidates: (label, restore text). A conformance ruleset that
/// sluice refuses (TPROXY, `-m owner`, ...) is left out by the caller.
fn candidates() -> Vec<(String, String)> {
    let r = root();
    let mut v = Vec::new();
    let mut add = |label: &str, path: PathBuf| {
        if let Ok(t) = std::fs::read_to_string(&path) {
            v.push((label.to_string(), t));
        }
    };
    add("views_all", r.join("control/tests/data/views_all.v4"));
    add(
        "branch-office",
        r.join("config/examples/branch-office/rules.v4"),
    );
    add("lab", r.join("config/examples/lab/rules.v4"));
    let conf = r.join("../shared/conformance");
    for dir in [
        "iptables-1.8.11/shell_dumps",
        "kubernetes",
        "istio",
        "docker",
    ] {
        let Ok(rd) = std::fs::read_dir(conf.join(dir)) else {
            continue;
        };
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".tsv") || name == "LICENSE" || name == "COMMIT" {
                continue;
            }
            add(&format!("{dir}/{name}"), f);
        }
    }
    v
}

/// `text` without the rules sluice refuses (`-m owner`, `-j CHECKSUM`,
/// CT helpers, ...: each is an error naming its line), so that the rest
/// of a real ruleset is still compared; `None` when something other than
/// a rule is refused. Also the number of rules left out.
fn adapt(text: &str, label: &str, family: iptables::Family) -> Option<(String, usize)> {
    let mut lines: Vec<&str> = text.lines().collect();
    let mut dropped = 0;
    loop {
        let joined: String = lines.iter().map(|l| format!("{l}\n")).collect();
        match iptables::parse_family(&joined, Path::new(label), family) {
            Ok(_) => return Some((joined, dropped)),
            Err(e) => {
                let i = e.at.line.checked_sub(1)?;
                let l = lines.get(i)?.trim_start();
                let l = l
                    .split_once("] ")
                    .map(|(_, r)| r)
                    .filter(|_| l.starts_with('['))
                    .unwrap_or(l);
                if !(l.starts_with("-A ") || l.starts_with("-I ")) || dropped > 200 {
                    return None;
                }
                lines.remove(i);
                dropped += 1;
            }
        }
    }
}

/// Every (options) combination compared per table.
fn option_sets(table: TableKind) -> Vec<(Vec<&'static str>, ListOptions)> {
    let base = ListOptions {
        table,
        numeric: true,
        names: Names::from_etc(),
        ..ListOptions::default()
    };
    vec![
        (
            vec!["-v", "-n", "-x"],
            ListOptions {
                verbose: true,
                exact: true,
                ..base.clone()
            },
        ),
        (
            vec!["-v", "-n", "-x", "--line-numbers"],
            ListOptions {
                verbose: true,
                exact: true,
                line_numbers: true,
                ..base.clone()
            },
        ),
        (
            vec!["-v", "-n"],
            ListOptions {
                verbose: true,
                ..base.clone()
            },
        ),
        (vec!["-n"], base.clone()),
        (
            vec!["-v", "-x"],
            ListOptions {
                verbose: true,
                exact: true,
                numeric: false,
                ..base.clone()
            },
        ),
        (
            vec!["--line-numbers"],
            ListOptions {
                numeric: false,
                line_numbers: true,
                ..base.clone()
            },
        ),
        (
            vec!["-n", "--line-numbers"],
            ListOptions {
                line_numbers: true,
                ..base.clone()
            },
        ),
    ]
}

/// Loads `text` (with counters) into a fresh namespace; `Err` when the
/// kernel's tools refuse it.
fn load_kernel(text: &str, v6: bool) -> Result<Netns, String> {
    let ns = Netns::new()?;
    for set in set_names(text) {
        ns.run(&["ipset", "create", &set, "hash:net"])?;
    }
    let restore = if v6 {
        "ip6tables-legacy-restore"
    } else {
        "iptables-legacy-restore"
    };
    ns.run_stdin(&[restore, "-w", "10", "-c"], Some(text))?;
    Ok(ns)
}

/// The IPv6 candidates: `views_all.v6` and the ip6tables files of the
/// conformance rulesets (ufw's `*6.rules`).
fn candidates6() -> Vec<(String, String)> {
    let r = root();
    let mut v = Vec::new();
    for (label, path) in [
        ("views_all.v6", r.join("control/tests/data/views_all.v6")),
        (
            "ufw/before6",
            r.join("../shared/conformance/ufw/before6.rules"),
        ),
        (
            "ufw/after6",
            r.join("../shared/conformance/ufw/after6.rules"),
        ),
        ("ufw/user6", r.join("../shared/conformance/ufw/user6.rules")),
    ] {
        if let Ok(t) = std::fs::read_to_string(&path) {
            v.push((label.to_string(), t));
        }
    }
    v
}

/// Compares every table of each candidate, `rules list` in every option
/// set and `-L CHAIN` for every chain, and `rules save -c`, with
/// `iptables-legacy` (`ip6tables-legacy` for `v6`); returns what was
/// compared and the differences.
fn compare_with_kernel(
    candidates: Vec<(String, String)>,
    v6: bool,
    rng: &mut Rng,
) -> (Vec<String>, Vec<String>) {
    let family = if v6 {
        iptables::Family::Ipv6
    } else {
        iptables::Family::Ipv4
    };
    let (tool, save_tool) = if v6 {
        ("ip6tables-legacy", "ip6tables-legacy-save")
    } else {
        ("iptables-legacy", "iptables-legacy-save")
    };
    let mut compared = Vec::new();
    let mut failures = Vec::new();
    for (label, text) in candidates {
        let text = with_counters(&text, rng);
        let Some((text, dropped)) = adapt(&text, &label, family) else {
            eprintln!("{label}: sluice does not load it; not compared");
            continue;
        };
        let rules = iptables::parse_family(&text, Path::new(&label), family).expect("adapted");
        let ns = match load_kernel(&text, v6) {
            Ok(ns) => ns,
            Err(e) => {
                eprintln!("{label}: the kernel does not load it ({e}); not compared");
                continue;
            }
        };
        let counters = from_restore(&rules, &text);
        let mut lines = 0;
        for t in &rules.tables {
            let tname = t.kind.name();
            for (flags, mut opts) in option_sets(t.kind) {
                opts.ipv6 = v6;
                let mut argv = vec![tool, "-w", "10", "-t", tname, "-L"];
                argv.extend(&flags);
                let want = ns.run(&argv).expect("iptables -L");
                let got = rules_list(&rules, &counters, &opts).expect("rules list");
                lines += want.lines().count();
                if want != got {
                    failures.push(diff(&format!("{label} -t {tname} {flags:?}"), &want, &got));
                }
            }
            // -L CHAIN, every chain.
            for c in &t.chains {
                let want = ns
                    .run(&[
                        tool, "-w", "10", "-t", tname, "-L", &c.name, "-v", "-n", "-x",
                    ])
                    .expect("iptables -L CHAIN");
                let opts = ListOptions {
                    table: t.kind,
                    chain: Some(c.name.clone()),
                    verbose: true,
                    numeric: true,
                    exact: true,
                    line_numbers: false,
                    names: Names::none(),
                    ipv6: v6,
                };
                let got = rules_list(&rules, &counters, &opts).expect("rules list CHAIN");
                if want != got {
                    failures.push(diff(
                        &format!("{label} -t {tname} -L {}", c.name),
                        &want,
                        &got,
                    ));
                }
            }
            // iptables-save -c.
            let want: String = ns
                .run(&[save_tool, "-c", "-t", tname])
                .expect("iptables-save")
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            let got = rules_save(
                &rules,
                &counters,
                &SaveOptions {
                    counters: true,
                    table: Some(t.kind),
                    ipv6: v6,
                },
                None,
            );
            if want != got {
                failures.push(diff(&format!("{label} save -c -t {tname}"), &want, &got));
            }
        }
        compared.push(format!(
            "{label} ({lines} lines, {dropped} rule(s) sluice refuses left out)"
        ));
    }
    (compared, failures)
}

fn assert_no_difference(compared: &[String], failures: &[String]) {
    eprintln!("compared: {}", compared.join(", "));
    assert!(
        failures.is_empty(),
        "{} difference(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rules_list_and_save_equal_the_kernels() {
    if skip() {
        return;
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (compared, failures) = compare_with_kernel(candidates(), false, &mut rng);
    assert_no_difference(&compared, &failures);
    assert!(
        compared.len() >= 15,
        "too few rulesets compared: {compared:?}"
    );
}

/// `rules list -6` and `rules save -6 -c` against `ip6tables-legacy -L`
/// and `ip6tables-legacy-save -c`: the IPv6 matches' print functions
/// (icmp6, hl, ipv6header, frag, rt, eui64, HL, recent's IPv6 mask) and
/// the IPv6 address columns.
#[test]
fn rules_list6_and_save6_equal_ip6tables() {
    if skip() {
        return;
    }
    let mut rng = Rng(0x5eed_1234_abcd_0006);
    let (compared, failures) = compare_with_kernel(candidates6(), true, &mut rng);
    assert_no_difference(&compared, &failures);
    assert!(
        compared.iter().any(|c| c.starts_with("views_all.v6")),
        "views_all.v6 not compared: {compared:?}"
    );
}

#[test]
fn unknown_chain_is_iptables_error() {
    if skip() {
        return;
    }
    let ns = Netns::new().unwrap();
    ns.run_stdin(
        &["iptables-legacy-restore", "-w", "10"],
        Some("*filter\nCOMMIT\n"),
    )
    .unwrap();
    let out = ns.exec(&["iptables-legacy", "-L", "NOPE"]).unwrap();
    let kernel = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let rules = iptables::parse("*filter\nCOMMIT\n", Path::new("t")).unwrap();
    let e = rules_list(
        &rules,
        &Default::default(),
        &ListOptions {
            chain: Some("NOPE".into()),
            ..ListOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.to_string(), kernel);
}

/// The first differing line of two listings, with context.
fn diff(what: &str, want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i).copied(), g.get(i).copied());
        if a != b {
            return format!(
                "{what}: line {}\n  kernel: {:?}\n  sluice: {:?}",
                i + 1,
                a.unwrap_or("<none>"),
                b.unwrap_or("<none>")
            );
        }
    }
    format!("{what}: trailing newline differs")
}

/// `sets list` against `ipset list` for sets of every kind sluice has,
/// restored into a namespace from sluice's own `ipset save` text (with a
/// fixed `initval`, which the kernel otherwise draws at random). Not
/// compared: `Size in memory:` (the kernel's hash, not sluice's) and the
/// order of members (the kernel's is its hash order), a counting-down
/// element timeout (every element here is permanent).
#[test]
fn sets_list_equals_ipset_list() {
    if skip() {
        return;
    }
    let text = "\
create blocklist hash:net family inet hashsize 1024 maxelem 65536 initval 0x12345678
add blocklist 192.0.2.0/24
add blocklist 100.64.0.0/10
add blocklist 192.0.2.128/25 nomatch
create hosts hash:ip family inet hashsize 64 maxelem 1000 timeout 600 counters comment bucketsize 4 initval 0x00000001
add hosts 10.0.1.2 timeout 0 packets 5 bytes 600 comment \"the printer\"
add hosts 10.0.1.3 timeout 0 packets 0 bytes 0
create svc hash:ip,port family inet hashsize 1024 maxelem 65536 initval 0x0000abcd
add svc 10.0.1.2,tcp:22
add svc 10.0.1.3,udp:53
add svc 10.0.1.4,icmp:echo-request
create nets hash:net,port family inet hashsize 1024 maxelem 65536 initval 0x0000abce
add nets 10.1.0.0/16,tcp:443
create ports bitmap:port range 0-1024
add ports 22
add ports 80
create empty hash:net family inet hashsize 1024 maxelem 65536 initval 0x0000abcf
";
    let sets = sluice_config::ipset::parse(text, Path::new("t")).expect("sets");
    let ns = Netns::new().unwrap();
    ns.run_stdin(&["ipset", "restore"], Some(&sets.save()))
        .unwrap();
    let norm = |s: &str| -> Vec<String> {
        // Per set: header lines as they are, members sorted.
        let mut out = Vec::new();
        for block in s.split("\n\n") {
            let (head, members) = block.split_once("Members:\n").unwrap_or((block, ""));
            for l in head.lines().filter(|l| !l.starts_with("Size in memory:")) {
                out.push(l.to_string());
            }
            let mut m: Vec<String> = members.lines().map(String::from).collect();
            m.sort();
            out.extend(m);
            out.push(String::new());
        }
        out
    };
    let rules = iptables::parse("*filter\nCOMMIT\n", Path::new("t")).unwrap();
    let want = ns.run(&["ipset", "list"]).unwrap();
    let got = sluice_control::views::sets::sets_list(&sets, &rules, None).unwrap();
    assert_eq!(norm(&got), norm(&want));
    let want = ns.run(&["ipset", "list", "svc"]).unwrap();
    let got = sluice_control::views::sets::sets_list(&sets, &rules, Some("svc")).unwrap();
    assert_eq!(norm(&got), norm(&want));
    let out = ns.exec(&["ipset", "list", "nope"]).unwrap();
    let e = sluice_control::views::sets::sets_list(&sets, &rules, Some("nope")).unwrap_err();
    assert_eq!(e.to_string(), String::from_utf8_lossy(&out.stderr).trim());
}
