//! Real rulesets (from `shared/conformance`, read at test time) where no
//! kernel is needed: a feature sluice refuses on purpose is refused clearly.
//! Their comparison with the kernel is in
//! `bench/tests/config_oracle/realworld.rs`.

mod common;

use common::{istio_v4, read};
use sluice_config::iptables;

/// `-m owner` is refused with a clear "not supported" error on its line,
/// naming the match and saying why.
#[test]
fn istio_owner_is_refused_clearly() {
    let Some(dir) = common::conformance_dir("istio_owner_is_refused_clearly") else {
        return;
    };
    let path = dir.join("istio/cni_pkg_plugin_testdata_basic.txt.golden");
    let text = istio_v4(&read(&path));
    let e = iptables::parse(&text, &path).expect_err("-m owner must be refused");
    let first = text
        .lines()
        .position(|l| l.contains("-m owner"))
        .expect("file uses -m owner")
        + 1;
    assert_eq!(e.at.line, first, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("match \"owner\" is not supported by sluice"),
        "{msg}"
    );
    assert!(msg.contains("socket"), "the reason is given: {msg}");
    let line = text.lines().nth(first - 1).unwrap();
    assert_eq!(
        e.at.column,
        Some(line.find("owner").unwrap() + 1),
        "column of `owner`: {msg}"
    );
}
