//! `sluice-bench compare`: the kernel's forwarding (iptables-legacy, then
//! iptables-nft) and `sluice run` as the router of the lab topology
//! ([`crate::lab`]), one after the other in one run, under the same load:
//! `sluice-bench gen --max` on l0 (AF_XDP) → router → `sluice-bench sink`
//! on w0 (AF_XDP). Per scenario and router: Mpps forwarded, loss, one-way
//! latency percentiles, CPU seconds, and sluice / best kernel.
//!
//! Owns: the lab namespaces of each case (a fresh lab per case, deleted on
//! drop), the gen/sink/sluice processes it starts in them (stopped by pid),
//! and a work directory `/tmp/sluice-bench-compare-PID` (rules, configs,
//! JSON summaries, sluice logs). SIGINT/SIGTERM are caught: the case in
//! progress stops at its next step and everything is torn down.
//!
//! * [`scenario`]: the scenarios, their rulesets and flows.
//! * [`case`]: one (scenario × router) case.
//! * [`tcp`]: one case of the `tcp` scenario (connection setup rate).
//! * [`report`]: medians, ratios, the table, `bench/RESULTS.md`.
//! * [`trafgen`]: `gen --max` (both engines) against trafgen on one veth pair.

pub mod case;
pub mod report;
pub mod scenario;
pub mod tcp;
pub mod trafgen;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::lab::Router;
use report::Table;
use scenario::Scenario;

pub const USAGE: &str = "\
usage: sluice-bench compare [--quick] [--write] [--duration SECS] [--reps N]
                            [--scenario NAME] [--json FILE] [--sluice PATH]
                            [--no-trafgen | --trafgen-only]

As root: builds the lab (lan ─ rtr ─ wan namespaces, veth) afresh for every
case and runs the same load through the kernel router with the scenario's
ruleset loaded by iptables-legacy-restore, then iptables-nft-restore, then
`sluice run` (one worker, idle back-off): `sluice-bench gen --max` on l0 →
router → `sluice-bench sink` on w0, 64-byte UDP to 198.51.100.10:9, 1 s
warm-up then --duration seconds measured. Prints a progress line per case,
then the table: Mpps forwarded, loss %, one-way latency p50/p99/p99.9 (µs),
CPU seconds of the router, sluice / best kernel. Then `gen --max` (its
AF_XDP engine and --engine live) against trafgen (netsniff-ng) on one veth
pair, 64-byte UDP, 1 and 1 024 flows, with a receiving end (GRO on) that
drops each frame at layer 2 and one that routes it (on veth the receiver's
work runs on the sender's core), 2 s counted per run, 3 alternating runs
each (--quick 1), medians of the rate at the receiving end.

Scenarios (--scenario NAME runs one):
  plain       empty ruleset (filter policies ACCEPT), 1 024 flows
  gateway     config/examples/lab (conntrack, MASQUERADE, filter), 1 024 flows
  kube1k      1 000 kube-proxy-shaped rules (-d IP/32 -p tcp --dport P -j
              ACCEPT) the traffic misses, then accept r0→r1, 1 024 flows
  kube10k     the same with 10 000 rules
  flows1k     stateful filter (ctstate ESTABLISHED / NEW accepts, no NAT),
              1 000 flows
  flows100k   the same with 100 000 flows
  tcp         stateful TCP connection setup rate through the gateway's
              MASQUERADE: `gen --tcp-conns N` on l0 (smoltcp, as fast as
              it can, 256 in flight, 1 000 bytes each way, echo verified)
              against `sink --tcp-listen 7` on w0; N = 10 000 (--quick
              2 000); setups/s, completed, failed, handshake p50/p99

  --quick         plain, gateway, kube10k, tcp; 3 s each, once; about 2 minutes
                  (the full run: about 7 minutes here)
  --write         write bench/RESULTS.md and bench/results/compare.png, with
                  the cost figures of bench/results/cost.json if there
                  (`sluice-bench cost --json bench/results/cost.json`);
                  with --scenario tcp: replace RESULTS.md's TCP section
                  only (other --scenario runs write the whole file)
  --duration S    measured seconds per case (default 5, --quick 3)
  --reps N        repetitions of every case, router order rotated each
                  time, medians reported (default 2, --quick 1)
  --json FILE     every sample as JSON
  --sluice PATH   the sluice binary (default: next to this one)
  --no-trafgen    skip the gen / trafgen figure
  --trafgen-only  only the gen / trafgen figure (not with --write or
                  --scenario)

Needs: root, iproute2, ethtool, iptables (iptables-legacy, iptables-nft),
ipset, netsniff-ng (trafgen), and a release build of sluice.
";

#[derive(Debug, Clone)]
pub struct CompareArgs {
    pub quick: bool,
    pub write: bool,
    pub duration_s: f64,
    pub reps: usize,
    pub only: Option<Scenario>,
    pub json: Option<PathBuf>,
    pub sluice: Option<PathBuf>,
    pub trafgen: bool,
    pub trafgen_only: bool,
}

/// Parses the arguments after `compare`; `Ok(None)` for `--help`.
pub fn parse(args: &[String]) -> Result<Option<CompareArgs>, String> {
    let mut a = CompareArgs {
        quick: false,
        write: false,
        duration_s: 0.0,
        reps: 0,
        only: None,
        json: None,
        sluice: None,
        trafgen: true,
        trafgen_only: false,
    };
    let mut i = 0;
    while i < args.len() {
        let (name, inline) = match args[i].split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (args[i].as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i).cloned().ok_or(format!("{name} needs a value"))
        };
        match name {
            "-h" | "--help" => return Ok(None),
            "--quick" => a.quick = true,
            "--write" => a.write = true,
            "--no-trafgen" => a.trafgen = false,
            "--trafgen-only" => a.trafgen_only = true,
            "--duration" => {
                let v = value()?;
                a.duration_s = v
                    .parse()
                    .ok()
                    .filter(|d: &f64| (0.5..=60.0).contains(d))
                    .ok_or(format!("--duration {v:?}: want seconds in 0.5..=60"))?;
            }
            "--reps" => {
                let v = value()?;
                a.reps = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=9).contains(n))
                    .ok_or(format!("--reps {v:?}: want 1..=9"))?;
            }
            "--scenario" => {
                let v = value()?;
                a.only = Some(Scenario::by_name(&v).ok_or(format!(
                    "--scenario {v:?}: want one of {}",
                    Scenario::names().join(", ")
                ))?);
            }
            "--json" => a.json = Some(PathBuf::from(value()?)),
            "--sluice" => a.sluice = Some(PathBuf::from(value()?)),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => return Err(format!("unexpected argument {other:?}")),
        }
        i += 1;
    }
    if a.trafgen_only && (a.write || a.only.is_some() || !a.trafgen) {
        return Err("--trafgen-only goes with neither --write, --scenario nor --no-trafgen".into());
    }
    if a.reps == 0 {
        a.reps = if a.quick { 1 } else { 2 };
    }
    if a.duration_s == 0.0 {
        a.duration_s = if a.quick { 3.0 } else { 5.0 };
    }
    Ok(Some(a))
}

/// The repository root (for config/examples/lab and bench/RESULTS.md).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A one-line error naming the Debian package when `tool` is missing.
pub fn need_tool(tool: &str, package: &str) -> Result<(), String> {
    let found = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .any(|d| d.join(tool).is_file())
    });
    if found {
        Ok(())
    } else {
        Err(format!(
            "{tool} not found: install the Debian package {package} (scripts/bootstrap)"
        ))
    }
}

fn preflight(a: &CompareArgs) -> Result<PathBuf, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (network namespaces, AF_XDP, iptables)".into());
    }
    for (tool, pkg) in [
        ("ip", "iproute2"),
        ("ethtool", "ethtool"),
        ("iptables-legacy-restore", "iptables"),
        ("iptables-nft-restore", "iptables"),
        ("ipset", "ipset"),
        ("ping", "iputils-ping"),
    ] {
        need_tool(tool, pkg)?;
    }
    if a.trafgen {
        need_tool("trafgen", "netsniff-ng")?;
    }
    let sluice = match &a.sluice {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("current_exe: {e}"))?
            .with_file_name("sluice"),
    };
    if !sluice.is_file() {
        return Err(format!(
            "no sluice binary at {} (cargo build --release -p sluice-control, or --sluice PATH)",
            sluice.display()
        ));
    }
    Ok(sluice)
}

/// The routers of every scenario, in order.
pub const ROUTERS: [Router; 3] = [
    Router::Legacy,
    Router::Nft,
    Router::Sluice { busy_poll: false },
];

pub fn main(a: &CompareArgs) -> Result<(), String> {
    let sluice = preflight(a)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| format!("signal: {e}"))?;
    }
    let work = PathBuf::from(format!("/tmp/sluice-bench-compare-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let scenarios: Vec<Scenario> = match a.only {
        _ if a.trafgen_only => Vec::new(),
        Some(s) => vec![s],
        None if a.quick => Scenario::QUICK.to_vec(),
        None => Scenario::ALL.to_vec(),
    };
    let started = Instant::now();
    // Before anything is written: the PNG and RESULTS.md are tracked files.
    let commit = commit(&repo_root());
    let mut table = Table::new(a.duration_s, a.reps);
    table.load_before = report::loadavg();
    let env = case::Env {
        sluice: &sluice,
        work: &work,
        repo: &repo_root(),
        duration_s: a.duration_s,
        stop: &stop,
    };
    for rep in 0..a.reps {
        for &sc in &scenarios {
            for k in 0..ROUTERS.len() {
                // Rotate the order per repetition: noise hits all alike.
                let router = ROUTERS[(k + rep) % ROUTERS.len()];
                if stop.load(Ordering::Relaxed) {
                    return Err("interrupted; namespaces and processes cleaned up".into());
                }
                eprint!(
                    "[{:>4.0}s] rep {}/{} {:<10} {:<24} ",
                    started.elapsed().as_secs_f64(),
                    rep + 1,
                    a.reps,
                    sc.name(),
                    router.name()
                );
                let tag = format!("r{rep}-{}-{}", sc.name(), report::router_key(router));
                let res = if sc == Scenario::Tcp {
                    tcp::run(&env, router, &tag, tcp::conns(a.quick)).map(|s| {
                        let line = s.line();
                        table.push_tcp(router, s);
                        line
                    })
                } else {
                    case::run(&env, sc, router, &tag).map(|s| {
                        let line = s.line();
                        table.push(sc, router, s);
                        line
                    })
                };
                match res {
                    Ok(line) => eprintln!("{line}"),
                    Err(e) => {
                        eprintln!("FAILED: {e}");
                        if stop.load(Ordering::Relaxed) {
                            return Err("interrupted; namespaces and processes cleaned up".into());
                        }
                        table.notes.push(format!(
                            "{} / {} / rep {}: failed: {}",
                            sc.title(),
                            router.name(),
                            rep + 1,
                            e.lines().next().unwrap_or("")
                        ));
                    }
                }
            }
        }
    }
    if a.trafgen && a.only.is_none() {
        eprintln!(
            "[{:>4.0}s] gen --max against trafgen",
            started.elapsed().as_secs_f64()
        );
        let reps = if a.quick { 1 } else { 3 };
        match trafgen::run(&work, a.duration_s.min(2.0), reps, &stop) {
            Ok(t) => table.trafgen = t,
            Err(e) => {
                eprintln!("  FAILED: {e}");
                table.notes.push(format!("gen / trafgen: failed: {e}"));
            }
        }
    }
    table.load_after = report::loadavg();
    table.elapsed_s = started.elapsed().as_secs_f64();
    let md = table.markdown();
    println!("{md}");
    if let Some(p) = &a.json {
        crate::gen::write_json(p, &table.samples_json())?;
    }
    if a.write && a.only == Some(Scenario::Tcp) {
        // Only the TCP section changes: the other figures stay.
        let out = repo_root().join("bench/RESULTS.md");
        let old = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let section = table.tcp_section(&commit, &report::utc_now());
        std::fs::write(&out, report::merge_tcp(&old, &section))
            .map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("written the TCP section of {}", out.display());
    } else if a.write {
        let root = repo_root();
        let png = root.join("bench/results/compare.png");
        let cost = report::read_cost(&root.join("bench/results/cost.json"));
        let plot_note = match report::plot(&table, &png) {
            Ok(()) => None,
            Err(e) => Some(format!("plot not drawn: {e}")),
        };
        let text = table.results_md(&commit, cost.as_deref(), plot_note.as_deref());
        let out = root.join("bench/RESULTS.md");
        std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("written {} and {}", out.display(), png.display());
    }
    eprintln!("logs, rules and JSON summaries: {}", work.display());
    Ok(())
}

fn commit(root: &Path) -> String {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
