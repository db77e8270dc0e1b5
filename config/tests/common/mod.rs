//! What config's tests share with each other and with the kernel-oracle
//! tests of config's parsers in `bench/tests/config_oracle/`, which include
//! this folder with `#[path]` (the namespaces and the iptables oracle are
//! theirs; nothing here needs root): where the conformance material is,
//! `SKIP` and notes printed past the harness's capture, the bad inputs of
//! the error tests, and the adaptation of Istio's goldens.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod bad_inputs;

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Prints `SKIP: <reason>` where it is seen even when the harness captures
/// test output.
pub fn skip(reason: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {reason}");
}

/// Prints a note (a summary line, a known difference) past the capture.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// `shared/conformance` next to the project (../../shared/conformance from
/// config or bench), or `None` after printing SKIP when it is absent, as in
/// a user's clone.
pub fn conformance_dir(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    if dir.join("README.md").is_file() {
        Some(dir)
    } else {
        skip(&format!(
            "{test}: conformance material not found at {} (it is not part of the repository)",
            dir.display()
        ));
        None
    }
}

/// The text of `path`; panics naming it when it cannot be read.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An Istio golden as a restore file: the `iptables-save` /
/// `ip6tables-save` lines are dry-run markers, and the ip6tables part
/// (from the first table opened a second time, or with an IPv6 address)
/// is not for iptables. The Go strings lack the final newline.
pub fn istio_v4(text: &str) -> String {
    let mut out = String::new();
    let mut seen: Vec<String> = Vec::new();
    for line in text.lines() {
        if line == "iptables-save" || line == "ip6tables-save" {
            continue;
        }
        if let Some(t) = line.strip_prefix('*') {
            let t = t.trim().to_string();
            if seen.contains(&t) {
                break;
            }
            seen.push(t);
        }
        if line.contains("::") {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
