//! `sluice trace` against the kernel: the lab example's ruleset loaded
//! into Linux in network namespaces ([`KernelRouter`], iptables-legacy),
//! one probe at a time with fresh counters and conntrack table (a trace
//! runs with fresh state too), the same packet traced through the same
//! config. The rules whose kernel packet counters moved are exactly the
//! rules the trace says matched, in every table and chain the packet
//! crosses; and a packet the trace forwards leaves the kernel by the same
//! port with the same addresses after NAT, one the trace does not
//! forward leaves by none.
//!
//! Compared: rules only (not policies), and not the OUTPUT chains: the
//! kernel's own answers (a TCP reset from a closed port, an echo reply)
//! cross OUTPUT and the policies of POSTROUTING, which a trace of the
//! received packet does not. Probes that end in the LOG_AND_DROP chain
//! are few: its `-m limit --limit 5/min` keeps state in the kernel across
//! probes (a trace starts with a full burst).
//!
//! Needs root, network namespaces and iptables-legacy; otherwise prints
//! `SKIP:` and passes.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use sluice_bench::kernel::{self, KernelRouter};
use sluice_dataplane::route::PortId;
use sluice_dataplane::rules::RulesParams;
use sluice_dataplane::snapshot::Snapshot;
use sluice_dataplane::trace::{trace, Probe, Trace, TraceEnd, TraceStep};
use sluice_dataplane::wire;

const WAIT: Duration = Duration::from_millis(60);

fn example(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/examples/lab")
        .join(file);
    std::fs::read_to_string(p).unwrap()
}

fn probe(iif: u16, proto: u8, src: &str, sport: u16, dst: &str, dport: u16) -> Probe {
    let ip = |s: &str| s.parse().unwrap();
    Probe::new(PortId(iif), proto, ip(src), sport, ip(dst), dport)
}

/// `(table, rule)` of every rule whose packet counter is not zero in
/// `iptables-legacy-save -c` output, OUTPUT chains left out.
fn kernel_hits(table: &str, save: &str) -> BTreeSet<(String, String)> {
    save.lines()
        .filter_map(|l| {
            let (counters, rule) = l.strip_prefix('[')?.split_once("] ")?;
            let packets: u64 = counters.split(':').next()?.parse().ok()?;
            (packets > 0 && !rule.starts_with("-A OUTPUT "))
                .then(|| (table.to_string(), rule.to_string()))
        })
        .collect()
}

/// `(table, rule)` of every rule the trace says matched.
fn trace_hits(t: &Trace) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for s in &t.steps {
        if let TraceStep::Table { table, lines, .. } = s {
            for l in lines.iter().filter(|l| l.matched && l.rule.is_some()) {
                out.insert((table.name().to_string(), l.text.clone()));
            }
        }
    }
    out
}

fn addrs(frame: &[u8]) -> Option<((IpAddr, u16), (IpAddr, u16))> {
    let m = wire::parse(frame).ok()?;
    if m.ip_version != 4 {
        return None;
    }
    let ports = matches!(m.protocol.0, 6 | 17);
    let p = |x: u16| if ports { x } else { 0 };
    Some(((m.src, p(m.src_port)), (m.dst, p(m.dst_port))))
}

#[test]
fn trace_matches_the_kernels_rule_counters_and_egress_on_the_lab_example() {
    if let Some(why) = kernel::skip_reason() {
        eprintln!("SKIP: {why}");
        return;
    }
    let toml = example("sluice.toml");
    let rules = example("rules.v4");
    let sets = example("sets.save");
    let kr = KernelRouter::new(&toml, &rules, Some(&sets))
        .unwrap_or_else(|e| panic!("kernel: {e}"))
        .with_probe_binary(env!("CARGO_BIN_EXE_sluice-probe"));
    for (port, ip) in [
        ("r0", "10.0.1.2"),
        ("r0", "10.0.1.3"),
        ("r1", "10.0.2.2"),
        ("r2", "10.0.3.2"),
    ] {
        kr.add_host(port, ip.parse().unwrap()).unwrap();
    }
    let app = sluice_config::appliance::parse(&toml, Path::new("sluice.toml")).unwrap();
    let rs = sluice_config::iptables::parse(&rules, Path::new("rules.v4")).unwrap();
    let set_file = sluice_config::ipset::parse(&sets, Path::new("sets.save")).unwrap();
    let snap = Snapshot::build(&app, &rs, &set_file, RulesParams::default(), 1).unwrap();
    let names: Vec<String> = snap.net.ports.iter().map(|p| p.name.clone()).collect();
    let probes = [
        // The port forward from the uplink.
        probe(1, 6, "198.51.100.10", 40000, "10.0.2.1", 8443),
        // LAN to the internet: MASQUERADE out of r1.
        probe(0, 6, "10.0.1.2", 40001, "198.51.100.10", 443),
        probe(0, 17, "10.0.1.2", 40002, "198.51.100.10", 123),
        // rsync: marked in mangle, policy-routed out of r2.
        probe(0, 6, "10.0.1.2", 40003, "198.51.100.10", 873),
        // DNS on the LAN side: REDIRECTed to the box's resolver port.
        probe(0, 17, "10.0.1.2", 40004, "9.9.9.9", 53),
        // SSH to the box from the management host; and from another
        // LAN host (tcp-reset).
        probe(0, 6, "10.0.1.3", 40005, "10.0.1.1", 22),
        probe(0, 6, "10.0.1.2", 40006, "10.0.1.1", 22),
        // Ping the box.
        probe(0, 1, "10.0.1.2", 0, "10.0.1.1", 0),
        // A probe from the uplink into the LAN: LOG_AND_DROP.
        probe(1, 6, "198.51.100.10", 40007, "10.0.1.3", 22),
        // Spoofed LAN source on the uplink, to the box: LOG_AND_DROP.
        probe(1, 17, "10.0.1.9", 40008, "10.0.2.1", 53),
    ];
    let mut failures = Vec::new();
    let mut forwarded = 0;
    let mut matched = 0;
    for p in &probes {
        let t = trace(&snap, p);
        kr.zero_counters().unwrap();
        let _ = kr.flush_conntrack();
        let mut f = p.frame();
        f[0..6].copy_from_slice(&kr.router_mac(&names[p.iif.0 as usize]).0);
        f[6..12].copy_from_slice(&kr.host_mac(&names[p.iif.0 as usize]).0);
        let captured = kr
            .probe(&[(names[p.iif.0 as usize].as_str(), f)], WAIT)
            .unwrap_or_else(|e| panic!("probe: {e}"));
        let mut kernel = BTreeSet::new();
        for table in ["raw", "mangle", "nat", "filter"] {
            kernel.extend(kernel_hits(table, &kr.counters(table).unwrap()));
        }
        let traced = trace_hits(&t);
        matched += kernel.len();
        if kernel != traced {
            failures.push(format!(
                "{p:?}\n  kernel only: {:?}\n  trace only: {:?}",
                kernel.difference(&traced).collect::<Vec<_>>(),
                traced.difference(&kernel).collect::<Vec<_>>()
            ));
        }
        let ours: Vec<&str> = captured
            .iter()
            .filter(|c| addrs(&c.frame) == Some((t.src, t.dst)))
            .map(|c| c.port.as_str())
            .collect();
        let want: Vec<&str> = match t.end {
            TraceEnd::Forwarded { oif, .. } => {
                forwarded += 1;
                vec![names[oif.0 as usize].as_str()]
            }
            _ => vec![],
        };
        if ours != want {
            failures.push(format!(
                "{p:?}\n  trace ends {:?} as {:?} -> {:?}; the kernel sent it out of {ours:?}",
                t.end, t.src, t.dst
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Not vacuous: every probe matched rules in the kernel, and the
    // forwarded ones (port forward, MASQUERADE x2, policy route) left.
    assert!(matched >= probes.len(), "{matched} rule hits in all");
    assert_eq!(forwarded, 4);
}
