//! The defaults of the appliance's `[conntrack]` table against the running
//! kernel: a fresh namespace, with nf_conntrack loaded by a rule that uses
//! it, lists its `net.netfilter.nf_conntrack_*` sysctls, and
//! `ConntrackConf::default()` must hold the same values. (A fresh namespace
//! starts from the kernel's built-in values whatever the host's own
//! sysctls say; `acct` follows the `nf_conntrack.acct` module parameter.)

use std::collections::BTreeMap;

use sluice_config::appliance::ConntrackConf;

use crate::common::skip;
use crate::oracle;

/// The protocols whose conntrack sysctls sluice follows, as the sysctl
/// names begin: every such sysctl of the kernel must be in
/// [`ConntrackConf`], so that one a new kernel adds is not missed.
const FOLLOWED: &[&str] = &["tcp_", "udp_", "icmp_", "icmpv6_", "generic_"];

/// `sysctl net.netfilter` in the namespace: `nf_conntrack_KEY = VALUE`
/// lines, as `KEY -> VALUE`.
fn kernel_sysctls(ns: &oracle::Oracle) -> Result<BTreeMap<String, String>, String> {
    let out = ns.run(&["sysctl", "net.netfilter"])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            let k = k.strip_prefix("net.netfilter.nf_conntrack_")?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect())
}

#[test]
fn defaults_are_a_fresh_namespaces() {
    let test = "conntrack::defaults_are_a_fresh_namespaces";
    let Some(ns) = oracle::oracle(test) else {
        return;
    };
    if let Err(e) = ns.run(&["sysctl", "--version"]) {
        skip(&format!("{test}: `sysctl` does not run: {e}"));
        return;
    }
    // Any rule using conntrack loads nf_conntrack, which makes the sysctls.
    if let Err(e) = ns.restore("*raw\n-A PREROUTING -m conntrack --ctstate NEW\nCOMMIT\n") {
        skip(&format!("{test}: the kernel has no conntrack: {e}"));
        return;
    }
    let kernel = kernel_sysctls(&ns).unwrap_or_else(|e| panic!("sysctl net.netfilter: {e}"));
    assert!(
        kernel.contains_key("tcp_timeout_established"),
        "nf_conntrack is loaded but its sysctls are missing: {kernel:?}"
    );

    let mut wrong = Vec::new();
    let ours = ConntrackConf::default().sysctls();
    for (key, value) in ours {
        match kernel.get(key) {
            None => wrong.push(format!("{key}: no net.netfilter.nf_conntrack_{key}")),
            Some(k) if *k != value.to_string() => {
                wrong.push(format!("{key}: the kernel has {k}, ConntrackConf {value}"))
            }
            Some(_) => {}
        }
    }
    for key in kernel.keys() {
        let followed = FOLLOWED.iter().any(|p| key.starts_with(p));
        if followed && !ours.iter().any(|(k, _)| k == key) {
            wrong.push(format!(
                "{key}: the kernel has it ({}), ConntrackConf does not",
                kernel[key]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "ConntrackConf::default() differs from a fresh namespace:\n{}",
        wrong.join("\n")
    );
}
