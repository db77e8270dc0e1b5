//! `-m set` references checked as the kernel checks them: a set that does
//! not exist, and a `family inet6` set in an IPv4 rule, are refused by
//! `iptables-legacy-restore` at the rule's line; sluice's
//! `bundle::check_sets` (used by `sluice check` and `rules canon --sets`)
//! must refuse the same rules at the same line and accept the rest.

use std::path::Path;

use sluice_config::{bundle, ipset, iptables};

use crate::oracle;

const SETS: &str = "create s4 hash:ip family inet\n\
                    create n4 hash:net family inet\n\
                    create s6 hash:ip family inet6\n\
                    create n6 hash:net,port family inet6\n\
                    create p bitmap:port range 1-1024\n";

/// (rules, line the kernel refuses at or 0 for accepted).
const CASES: &[(&str, usize)] = &[
    ("-A INPUT -m set --match-set s4 src -j DROP\n", 0),
    ("-A INPUT -m set --match-set n4 src -j DROP\n", 0),
    ("-A INPUT -m set --match-set p dst -j DROP\n", 0),
    ("-A INPUT -m set --match-set s6 src -j DROP\n", 2),
    ("-A INPUT -m set ! --match-set s6 src -j DROP\n", 2),
    ("-A INPUT -m set --match-set n6 src,dst -j DROP\n", 2),
    (
        "-A INPUT -m set --match-set s4 src -j DROP\n-A FORWARD -m set --match-set s6 dst -j DROP\n",
        3,
    ),
    ("-A INPUT -m set --match-set nope src -j DROP\n", 2),
];

#[test]
fn set_existence_and_family_as_the_kernel() {
    let Some(ns) = oracle::oracle("sets::set_existence_and_family_as_the_kernel") else {
        return;
    };
    ns.ipset_restore(SETS)
        .unwrap_or_else(|e| panic!("ipset restore: {e}"));
    let sets = ipset::parse(SETS, Path::new("sets.save")).expect("sets parse");
    let mut wrong = Vec::new();
    for (rules, want_line) in CASES {
        let text = format!("*filter\n{rules}COMMIT\n");
        let kernel = match ns.restore(&text) {
            Ok(()) => 0,
            Err(e) => e
                .lines()
                .find_map(|l| l.strip_prefix("Error occurred at line: "))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(usize::MAX),
        };
        let rs = iptables::parse(&text, Path::new("r.v4")).expect("rules parse");
        let sluice = match bundle::check_sets(&rs, &sets, Path::new("r.v4"), None, &mut Vec::new())
        {
            Ok(()) => 0,
            Err(e) => e.at.line,
        };
        if kernel != *want_line || sluice != kernel {
            wrong.push(format!(
                "{rules:?}: kernel line {kernel}, sluice line {sluice}, expected {want_line}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
