//! `sluice-bench compare` and `cost` from the outside: usage errors (exit
//! 2, one line), the generated rulesets loaded by the kernel's own
//! iptables-restore (`--test`) in a namespace, and one short compare case
//! when root and a sluice binary are there. Root-only parts print `SKIP:
//! reason` and pass without it. No assertion on rates or times.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use sluice_bench::compare::scenario::{kube_rules, STATEFUL_RULES};
use sluice_bench::netns::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_sluice-bench");

fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
}

fn usage_error(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    err
}

#[test]
fn usage_errors_are_one_line_exit_2() {
    assert!(usage_error(&["compare", "--bogus"]).contains("unknown option --bogus"));
    assert!(usage_error(&["compare", "--duration", "0"]).contains("--duration"));
    assert!(usage_error(&["compare", "--scenario", "nope"]).contains("plain, gateway"));
    assert!(usage_error(&["compare", "--reps"]).contains("needs a value"));
    assert!(usage_error(&["cost", "--packets", "x"]).contains("--packets"));
    assert!(usage_error(&["cost", "extra"]).contains("unexpected argument"));
    for cmd in ["compare", "cost"] {
        let out = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: sluice-bench"));
    }
}

#[test]
fn generated_rulesets_load_in_the_kernel() {
    let test = "generated_rulesets_load_in_the_kernel";
    if !nix::unistd::geteuid().is_root() {
        return skip(test, "needs root for a namespace");
    }
    let ns = Netns::new().unwrap();
    for restore in ["iptables-legacy-restore", "iptables-nft-restore"] {
        for (name, text) in [
            ("kube1k", kube_rules(1_000)),
            ("kube10k", kube_rules(10_000)),
            ("stateful", STATEFUL_RULES.to_string()),
        ] {
            let out = ns.exec_stdin(&[restore, "--test"], Some(&text));
            match out {
                Ok(o) => assert!(
                    o.status.success(),
                    "{restore} --test {name}: {}",
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => return skip(test, &format!("{restore}: {e}")),
            }
        }
    }
}

/// One scenario, 1 s measured: the run completes, prints the table with
/// a row for each router, and leaves no namespace of its own behind.
#[test]
fn compare_one_short_case() {
    let test = "compare_one_short_case";
    if !nix::unistd::geteuid().is_root() {
        return skip(test, "needs root for namespaces and AF_XDP");
    }
    let sluice = Path::new(BIN).with_file_name("sluice");
    if !sluice.is_file() {
        return skip(
            test,
            "no sluice binary next to sluice-bench (cargo build -p sluice-control)",
        );
    }
    let out = Command::new(BIN)
        .args(["compare", "--scenario", "plain", "--duration", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows = stdout
        .lines()
        .filter(|l| l.starts_with("| plain forwarding |"))
        .count();
    assert_eq!(rows, 3, "{stdout}\n{stderr}");
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let prefix = format!("sluice-kd-{}-", out_pid(&stderr));
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&prefix),
        "namespaces left behind"
    );
}

/// The pid in `/tmp/sluice-bench-compare-PID`, from compare's last line.
fn out_pid(stderr: &str) -> String {
    stderr
        .rsplit("sluice-bench-compare-")
        .next()
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}
