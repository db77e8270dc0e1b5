//! Helpers the `sluice-bench gen` tests share (`gen.rs`, `gen_tcp.rs`).

use std::io::Write as _;
use std::process::Command;

use serde_json::Value;

pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
}

pub fn unable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root for namespaces and AF_XDP".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("no `ip` (iproute2)".into());
    }
    None
}

pub fn read_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn u(v: &Value, path: &[&str]) -> u64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{path:?} not a number in {v}"))
}
