//! `sluice rules canon --nft` ([`save::save_nft`]) compared with the
//! nf_tables backend: each file is restored with `iptables-nft-restore` in
//! a namespace of its own and read back whole with `iptables-nft-save`
//! (no `-t`, so its table order is checked too); sluice's text must be
//! byte-identical. Files whose tables are opened out of iptables-nft's
//! order (mangle, security, raw, filter, nat) are among them.
//!
//! config's `corpus.rules` is compared without three kinds of line that
//! iptables-nft-restore 1.8.9 cannot take (see the README's Commands
//! section): `-R` of a rule the same restore added (it crashes, SIGSEGV),
//! `-E` of a chain the same restore created (refused: "CHAIN_RENAME
//! failed"), and `! -s 0.0.0.0/0` (refused: "Invalid argument").

use std::path::Path;

use sluice_config::iptables::{self, save};

use crate::common;
use crate::oracle;

/// Restores `text` (after `sets`, an `ipset restore` text) with
/// iptables-nft and compares `iptables-nft-save` with `canon --nft`.
fn compare(test: &str, name: &str, text: &str, sets: Option<&str>) {
    let rs = iptables::parse(text, Path::new(name))
        .unwrap_or_else(|e| panic!("{name}: sluice refused the file: {e}"));
    let Some(ns) = oracle::nft_oracle(test) else {
        return;
    };
    if let Some(sets) = sets {
        ns.ipset_restore(sets)
            .unwrap_or_else(|e| panic!("{name}: ipset restore: {e}"));
    }
    ns.nft_restore(text)
        .unwrap_or_else(|e| panic!("{name}: iptables-nft-restore refused the file: {e}"));
    let kernel = ns.nft_save();
    let sluice = save::save_nft(&rs);
    assert!(
        kernel == sluice,
        "{name}: canon --nft differs from iptables-nft-save:\n{}",
        oracle::diff(&kernel, &sluice)
    );
    common::note(&format!(
        "{test}: {name}: {} rules, same as iptables-nft-save",
        kernel.lines().filter(|l| l.starts_with("-A ")).count()
    ));
}

fn config_file(rel: &str) -> (String, String) {
    let path = crate::config_dir().join(rel);
    (path.display().to_string(), common::read(&path))
}

/// The branch-office example (tables raw, mangle, nat, filter in the file;
/// iptables-nft prints mangle, raw, filter, nat).
#[test]
fn nft_branch_office() {
    let (name, text) = config_file("examples/branch-office/rules.v4");
    let (_, sets) = config_file("examples/branch-office/sets.save");
    compare("nft_branch_office", &name, &text, Some(&sets));
}

/// Sets the corpus matches against (as in `corpus.rs`).
const CORPUS_SETS: &str = "create blocklist hash:net family inet\n\
                           add blocklist 198.51.100.0/24\n\
                           create trusted hash:ip family inet\n\
                           add trusted 192.0.2.10\n\
                           create svc hash:ip,port family inet\n\
                           add svc 192.0.2.10,tcp:443\n";

/// Our corpus (every supported match and target), without the lines
/// iptables-nft-restore cannot take (the module's doc).
#[test]
fn nft_corpus() {
    let (name, text) = config_file("tests/data/corpus.rules");
    let text: String = text
        .lines()
        .filter(|l| {
            !["-R ", "--replace ", "-E ", "--rename-chain "]
                .iter()
                .any(|p| l.starts_with(p))
                && !l.contains("! -s 0.0.0.0/0")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    compare("nft_corpus", &name, &text, Some(CORPUS_SETS));
}

/// The branch-office gateway of config's tests.
#[test]
fn nft_gateway() {
    let (name, text) = config_file("tests/data/gateway.rules");
    compare("nft_gateway", &name, &text, None);
}

/// Every table, opened in the reverse of iptables-nft's order, with a user
/// chain and a rule each.
#[test]
fn nft_table_order() {
    let mut text = String::new();
    for (table, chain) in [
        ("nat", "PREROUTING"),
        ("filter", "INPUT"),
        ("raw", "PREROUTING"),
        ("security", "INPUT"),
        ("mangle", "PREROUTING"),
    ] {
        text.push_str(&format!(
            "*{table}\n:{chain} ACCEPT [0:0]\n:MINE - [0:0]\n-A {chain} -p tcp -m tcp --dport 22 -j MINE\nCOMMIT\n"
        ));
    }
    compare("nft_table_order", "table-order.rules", &text, None);
}

/// iptables' own shell dumps, those iptables-nft loads as they are.
#[test]
fn nft_shell_dumps() {
    let Some(dir) = common::conformance_dir("nft_shell_dumps") else {
        return;
    };
    let dir = dir.join("iptables-1.8.11/shell_dumps");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    names.sort();
    for path in names {
        let name = path.display().to_string();
        let text = common::read(&path);
        // Dumps sluice refuses (NFLOG, CHECKSUM, CT helpers) are the
        // realworld test's business; here only what both read.
        if iptables::parse(&text, Path::new(&name)).is_err() {
            continue;
        }
        compare("nft_shell_dumps", &name, &text, None);
    }
}

/// Repeated `-m tcp`/`-m udp` matches, which iptables-nft merges into the
/// first translatable one (each field the last value), and those it keeps
/// apart (`--tcp-option`, or no option).
#[test]
fn nft_merged_port_matches() {
    let text = "*filter\n\
        -A INPUT -p tcp -m tcp --dport 22 -m tcp --sport 1024:65535 -m comment --comment twice\n\
        -A INPUT -p tcp -m tcp --tcp-option 5 -m tcp --dport 7 -j ACCEPT\n\
        -A INPUT -p tcp -m tcp --dport 7 -m tcp --tcp-option 5 --sport 9 -j ACCEPT\n\
        -A INPUT -p tcp -m tcp ! --dport 7 -m tcp --syn -j ACCEPT\n\
        -A INPUT -p udp -m udp --dport 7 -m comment --comment y -m udp ! --sport 9 -j ACCEPT\n\
        -A INPUT -p tcp -m tcp --syn -m tcp --sport 3 -j ACCEPT\n\
        -A INPUT -p tcp -m tcp --dport 1 -m tcp --dport 2 -m tcp --dport 3 -j ACCEPT\n\
        -A INPUT -p tcp -m tcp -m tcp --dport 2 -j ACCEPT\n\
        -A INPUT -p tcp -m tcp --dport 80 -m tcp ! --tcp-flags SYN,ACK SYN -j ACCEPT\n\
        -A INPUT -p udp -m udp --sport 53 -m udp --sport 5353 -j ACCEPT\n\
        COMMIT\n";
    compare("nft_merged_port_matches", "merged-ports.rules", text, None);
}

/// iptables-nft creates a table only when a line names one of its chains
/// (`:CHAIN`, or a command with a chain, even `-F CHAIN` or a `-N`/`-X`
/// pair); a table opened and committed without one is absent from
/// `iptables-nft-save`, where legacy prints its empty built-in chains.
#[test]
fn nft_tables_opened_without_a_chain() {
    let files = [
        "*nat\nCOMMIT\n",
        "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*mangle\nCOMMIT\n",
        "*raw\n:foo - [0:0]\nCOMMIT\n",
        "*mangle\n-F\n-X\n-Z\nCOMMIT\n",
        "*nat\n:X - [0:0]\n-X X\nCOMMIT\n*filter\nCOMMIT\n*raw\n-A PREROUTING -j ACCEPT\n-D PREROUTING 1\nCOMMIT\n",
        "*nat\n-N foo\n-X foo\nCOMMIT\n",
        "*nat\n-P PREROUTING ACCEPT\nCOMMIT\n",
        "*nat\n-F PREROUTING\nCOMMIT\n",
        "*nat\n-F PREROUTING\nCOMMIT\n*nat\nCOMMIT\n",
        "*nat\nCOMMIT\n*nat\n-F PREROUTING\nCOMMIT\n",
    ];
    for (i, text) in files.iter().enumerate() {
        compare(
            "nft_tables_opened_without_a_chain",
            &format!("empty-{i}.rules"),
            text,
            None,
        );
    }
}
