//! ClassBench rulesets (`../shared/classbench/`, read at test time): each
//! `NAME.v4` goes through the real config parser and rule compiler, and
//! every packet of `NAME.trace` (ClassBench corners) and `NAME.fwd.trace`
//! (interior points) must be classified, by the FORWARD chain's compiled
//! classifier, to the trace's expected first-matching rule (checked by the
//! set's author against the kernel's counters). The linear reference
//! ([`reference_first_from`]) over the compiled keys must agree; in the
//! 10k sets it is run on every 16th packet only, to keep the debug test
//! within seconds (a linear scan of 10 000 keys per packet).

use std::path::{Path, PathBuf};

use super::THREE;
use crate::rules::classify::{reference_first_from, PacketKey};
use crate::rules::{Program, RulesParams};
use sluice_config::iptables::TableKind;

const SETS: &[&str] = &[
    "acl1-1k", "fw1-1k", "ipc1-1k", "acl1-10k", "fw1-10k", "ipc1-10k",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/classbench")
}

/// `(packet, expected rule index)` of every line of a trace.
fn trace(path: &Path) -> Vec<(PacketKey, Option<usize>)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let f: Vec<&str> = line.split('\t').collect();
            let bad = || panic!("{path:?} line {}: {line:?}", n + 1);
            if f.len() != 6 {
                bad();
            }
            let ip = |s: &str| {
                s.parse::<std::net::Ipv4Addr>()
                    .map(u32::from)
                    .unwrap_or_else(|_| bad())
            };
            let num = |s: &str| s.parse::<u32>().unwrap_or_else(|_| bad());
            let proto = num(f[2]) as u8;
            let has_ports = proto == 6 || proto == 17;
            let key = PacketKey {
                src: ip(f[0]),
                dst: ip(f[1]),
                proto,
                sport: num(f[3]) as u16,
                dport: num(f[4]) as u16,
                has_ports,
                // r0 in, r1 out: FORWARD.
                iif: 0,
                oif: 1,
                mark: 0,
            };
            let m = num(f[5]) as usize;
            (key, m.checked_sub(1))
        })
        .collect()
}

#[test]
fn classbench_sets_classify_to_the_expected_rule() {
    let app = sluice_config::appliance::parse(THREE, Path::new("three.toml")).unwrap();
    for name in SETS {
        let file = dir().join(format!("{name}.v4"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let rs = sluice_config::iptables::parse(&text, &file).unwrap();
        let prog = Program::compile(&app, &rs, &Default::default(), RulesParams::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let table = prog.table(TableKind::Filter).unwrap();
        let forward = &table.chains[table.entry
            [crate::rules::compile::hook_index(sluice_config::iptables::Hook::Forward)]
        .unwrap() as usize];
        let keys =
            Program::chain_keys(&app, &rs, &Default::default(), TableKind::Filter, "FORWARD")
                .unwrap()
                .unwrap();
        let keys = &keys;
        assert!(keys.len() > 800, "{name}: {} rules", keys.len());
        assert!(
            forward.rules.iter().all(|r| !r.residual),
            "{name}: every match is in the classifier key"
        );
        let cl = forward.classifier.as_ref().unwrap();
        if keys.len() > 5_000 {
            assert!(cl.stats().pruned, "{name}: tuple pruning chosen");
        }
        let every = if keys.len() > 5_000 { 16 } else { 1 };
        for kind in ["trace", "fwd.trace"] {
            let packets = trace(&dir().join(format!("{name}.{kind}")));
            assert_eq!(packets.len(), 10_000, "{name}.{kind}");
            for (n, (pkt, want)) in packets.iter().enumerate() {
                assert!(want.is_some(), "{name}.{kind} line {}: no match", n + 1);
                let got = cl.first_from(pkt, 0);
                assert_eq!(got, *want, "{name}.{kind} line {}: {pkt:?}", n + 1);
                if n % every == 0 {
                    let reference = reference_first_from(keys, &prog.ifaces, pkt, 0);
                    assert_eq!(reference, *want, "{name}.{kind} line {}: reference", n + 1);
                }
                // Resuming after the match (a residual failing) finds
                // the next matching rule, as the reference does.
                if n % (every * 4) == 0 {
                    let from = want.map_or(0, |w| w + 1);
                    let next = reference_first_from(keys, &prog.ifaces, pkt, from);
                    assert_eq!(
                        cl.first_from(pkt, from),
                        next,
                        "{name}.{kind} line {}",
                        n + 1
                    );
                }
            }
        }
    }
}
