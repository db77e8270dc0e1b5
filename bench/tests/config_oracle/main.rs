//! The kernel-oracle conformance tests of sluice-config's parsers: every
//! ruleset is restored with `iptables-legacy-restore` in a network namespace
//! and read back with `iptables-legacy-save`, and sluice's parse of the same
//! text must print the same, or refuse what the kernel refuses. Needs root
//! and the legacy iptables tools; without them each test prints `SKIP:
//! <reason>` and passes.
//!
//! They live here, not in config/tests, so that every kernel-oracle test
//! makes its namespaces with one helper (`sluice_bench::netns`). Their
//! material is config's: `tests/data/` of the config crate and
//! `../shared/conformance`; what they share with config's own tests (bad
//! inputs, the conformance folder, SKIP lines) is config's
//! `tests/common/`, included below.
//!
//! | module      | compares with the kernel                               |
//! |-------------|--------------------------------------------------------|
//! | `conntrack` | `[conntrack]` defaults and a fresh namespace's sysctls |
//! | `corpus`    | our own corpus and branch-office gateway rulesets      |
//! | `errors`    | the bad inputs of config's error tests (all refused)   |
//! | `ip6`       | ip6tables rulesets and lines, `ip6tables-legacy-save`  |
//! | `nft`       | `canon --nft` and `iptables-nft-save` (nf_tables)      |
//! | `realworld` | kube-proxy, Istio, Docker, UFW and iptables' own dumps |
//! | `t_files`   | iptables' per-extension `.t` tests, line by line (the  |
//! |             | `libxt_*.t` ones with ip6tables too)                   |

use std::path::{Path, PathBuf};

#[path = "../../../config/tests/common/mod.rs"]
mod common;

mod conntrack;
mod corpus;
mod errors;
mod ip6;
mod nft;
mod oracle;
mod realworld;
mod sets;
mod t_files;

/// The config crate's folder (bench's sibling).
fn config_dir() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench
        .parent()
        .expect("bench is in the workspace")
        .join("config")
}
