//! `sluice-bench cost`: instructions per packet of the forward, filter,
//! conntrack-hit and NAT paths, counted by callgrind on the fixed-count
//! drivers (`sluice-pipeline-fixed`, `sluice-conntrack-fixed`, built next
//! to this binary) with `--toggle-collect` on their measured loop, so the
//! setup (parsing, compiling, populating) is left out: Ir / packets.
//! Instruction counts hold still on a shared, noisy machine where seconds
//! do not. The frames' refill (the NIC's share) is inside the loop.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

pub const USAGE: &str = "\
usage: sluice-bench cost [--json FILE] [--packets N]

Runs valgrind --tool=callgrind on the fixed-count drivers built next to
this binary (cargo build --release -p sluice-bench) and prints the
instructions per packet (Ir of the measured loop / packets) of:
  forward    sluice-pipeline-fixed N v4 10000   (10 000 IPv4 prefixes)
  filter     sluice-pipeline-fixed N kube10k    (10 000 kube-proxy-shaped
             rules, 4 096 random flows aimed at them, 1 in 16 a miss)
  forward6   sluice-pipeline-fixed N v6 10000   (10 000 IPv6 prefixes)
  filter6    sluice-pipeline-fixed N kube10k6   (the same rules and flows
             on IPv6, in the ip6tables FORWARD chain)
  ct-hit     sluice-conntrack-fixed N 1000 ct   (1 000 established flows)
  nat        sluice-conntrack-fixed N 1000 nat  (the same through SNAT)
  --packets N   packets per path (default 64000; valgrind runs ~50× slower)
  --json FILE   write the figures as JSON (bench/results/cost.json is what
                `sluice-bench compare --write` puts in bench/RESULTS.md)
Needs valgrind (Debian package valgrind). Takes about two minutes.
";

#[derive(Debug, Clone)]
pub struct CostArgs {
    pub json: Option<PathBuf>,
    pub packets: u64,
}

/// Parses the arguments after `cost`; `Ok(None)` for `--help`.
pub fn parse(args: &[String]) -> Result<Option<CostArgs>, String> {
    let mut a = CostArgs {
        json: None,
        packets: 64_000,
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => a.json = Some(PathBuf::from(it.next().ok_or("--json needs a value")?)),
            "--packets" => {
                let v = it.next().ok_or("--packets needs a value")?;
                a.packets = v
                    .parse()
                    .ok()
                    .filter(|n| (640..=10_000_000).contains(n))
                    .ok_or(format!("--packets {v:?}: want 640..=10000000"))?;
            }
            o if o.starts_with('-') => return Err(format!("unknown option {o}")),
            o => return Err(format!("unexpected argument {o:?}")),
        }
    }
    Ok(Some(a))
}

/// One path's figure.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub path: String,
    pub command: String,
    pub ir: u64,
    pub packets: u64,
    pub ir_per_packet: f64,
}

/// The paths: (name, driver binary, its arguments after the packet count,
/// the function callgrind collects in).
const PATHS: [(&str, &str, &[&str], &str); 6] = [
    (
        "forward",
        "sluice-pipeline-fixed",
        &["v4", "10000"],
        "*ForwardBench*run_batches*",
    ),
    (
        "filter",
        "sluice-pipeline-fixed",
        &["kube10k"],
        "*filter_batches*",
    ),
    (
        "forward6",
        "sluice-pipeline-fixed",
        &["v6", "10000"],
        "*ForwardBench*run_batches*",
    ),
    (
        "filter6",
        "sluice-pipeline-fixed",
        &["kube10k6"],
        "*filter_batches*",
    ),
    (
        "ct-hit",
        "sluice-conntrack-fixed",
        &["1000", "ct"],
        "*CtBench*run_batches*",
    ),
    (
        "nat",
        "sluice-conntrack-fixed",
        &["1000", "nat"],
        "*CtBench*run_batches*",
    ),
];

/// The collected instructions of a callgrind output file: its `totals:`
/// line (or `summary:` in older files), first event (Ir).
pub fn parse_callgrind(text: &str) -> Option<u64> {
    let find = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
    };
    find("totals:").or_else(|| find("summary:"))
}

/// The packets a driver ran, from its first stdout line: `… in B
/// batches of K …` (pipeline) or `F of M packets …` (conntrack).
pub fn parse_packets(stdout: &str) -> Option<u64> {
    let line = stdout.lines().next()?;
    let w: Vec<&str> = line.split_whitespace().collect();
    if let Some(i) = w.iter().position(|x| *x == "batches") {
        let b: u64 = w.get(i.checked_sub(1)?)?.parse().ok()?;
        let k: u64 = w.get(i + 2)?.parse().ok()?;
        return Some(b * k);
    }
    if w.get(1) == Some(&"of") {
        return w.get(2)?.parse().ok();
    }
    None
}

fn run_one(dir: &Path, packets: u64, p: &(&str, &str, &[&str], &str)) -> Result<Cost, String> {
    let (name, bin, args, toggle) = *p;
    let exe = dir.join(bin);
    if !exe.is_file() {
        return Err(format!(
            "no {} (cargo build --release -p sluice-bench)",
            exe.display()
        ));
    }
    let out_file = std::env::temp_dir().join(format!(
        "sluice-bench-cost-{}-{name}.callgrind",
        std::process::id()
    ));
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(format!("--toggle-collect={toggle}"))
        .arg(&exe)
        .arg(packets.to_string())
        .args(args);
    let shown = format!(
        "valgrind --tool=callgrind --toggle-collect='{toggle}' {bin} {packets} {}",
        args.join(" ")
    );
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    let text = std::fs::read_to_string(&out_file);
    let _ = std::fs::remove_file(&out_file);
    if !out.status.success() {
        return Err(format!(
            "{shown}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let text = text.map_err(|e| format!("{}: {e}", out_file.display()))?;
    let ir = parse_callgrind(&text).ok_or(format!("{shown}: no totals in the callgrind output"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n = parse_packets(&stdout).ok_or(format!("{shown}: cannot read the packet count"))?;
    if ir == 0 || n == 0 {
        return Err(format!("{shown}: nothing collected (Ir {ir}, packets {n})"));
    }
    Ok(Cost {
        path: name.into(),
        command: shown,
        ir,
        packets: n,
        ir_per_packet: ir as f64 / n as f64,
    })
}

/// The table (markdown) of `costs`.
pub fn markdown(costs: &[Cost]) -> String {
    let mut md = String::from(
        "| path | instructions / packet | Ir | packets | command |\n|---|---:|---:|---:|---|\n",
    );
    for c in costs {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {} | `{}` |",
            c.path, c.ir_per_packet, c.ir, c.packets, c.command
        );
    }
    md
}

/// [`markdown`] of the JSON `cost --json` wrote.
pub fn markdown_from_json(v: &serde_json::Value) -> String {
    let costs: Vec<Cost> = v
        .get("paths")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some(Cost {
                        path: c.get("path")?.as_str()?.into(),
                        command: c.get("command")?.as_str()?.into(),
                        ir: c.get("ir")?.as_u64()?,
                        packets: c.get("packets")?.as_u64()?,
                        ir_per_packet: c.get("ir_per_packet")?.as_f64()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let when = v.get("date").and_then(|d| d.as_str()).unwrap_or("?");
    format!(
        "{}\nMeasured {when} by `sluice-bench cost` (release build, callgrind).\n",
        markdown(&costs)
    )
}

pub fn main(a: &CostArgs) -> Result<(), String> {
    crate::compare::need_tool("valgrind", "valgrind")?;
    let dir = std::env::current_exe()
        .map_err(|e| format!("current_exe: {e}"))?
        .parent()
        .map(Path::to_path_buf)
        .ok_or("current_exe has no directory")?;
    let mut costs = Vec::new();
    for p in &PATHS {
        eprint!("{:<8} ", p.0);
        let c = run_one(&dir, a.packets, p)?;
        eprintln!("{:.0} instructions/packet", c.ir_per_packet);
        costs.push(c);
    }
    print!("{}", markdown(&costs));
    if let Some(path) = &a.json {
        let date = Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        crate::gen::write_json(path, &serde_json::json!({"date": date, "paths": costs}))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head and tail of a real callgrind output file (trimmed).
    const SAMPLE: &str = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n\
pid: 4242\ncmd:  target/release/sluice-pipeline-fixed 64000 v4 10000\npart: 1\n\n\
desc: I1 cache: \ndesc: Timerange: Basic block 0 - 9301441\npositions: line\nevents: Ir\n\
summary: 12859011\n\nfl=(1) ???\nfn=(1) 0x0000000000024e50\n0 3\n\ntotals: 12858990\n";

    #[test]
    fn callgrind_totals() {
        assert_eq!(parse_callgrind(SAMPLE), Some(12_858_990));
        assert_eq!(parse_callgrind("events: Ir\nsummary: 77\n"), Some(77));
        assert_eq!(parse_callgrind("events: Ir\n"), None);
    }

    #[test]
    fn driver_packet_counts() {
        assert_eq!(
            parse_packets(
                "64000 packets forwarded in 1000 batches of 64 (v4, 10000 prefixes)\nx 1"
            ),
            Some(64_000)
        );
        assert_eq!(
            parse_packets(
                "63990 of 64000 packets forwarded in 250 turns of 256 (Ct, 1000 flows, miss 0)"
            ),
            Some(64_000)
        );
        assert_eq!(parse_packets("nonsense"), None);
    }

    #[test]
    fn table_and_json_round_trip() {
        let c = Cost {
            path: "forward".into(),
            command: "valgrind x".into(),
            ir: 1_000,
            packets: 10,
            ir_per_packet: 100.0,
        };
        let md = markdown(std::slice::from_ref(&c));
        assert!(
            md.contains("| forward | 100 | 1000 | 10 | `valgrind x` |"),
            "{md}"
        );
        let v = serde_json::json!({"date": "today", "paths": [c]});
        let back = markdown_from_json(&v);
        assert!(back.contains("| forward | 100 |") && back.contains("Measured today"));
    }

    #[test]
    fn cli_errors() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(parse(&s(&["--bogus"])).is_err());
        assert!(parse(&s(&["--packets", "5"])).is_err());
        assert!(parse(&s(&["--help"])).unwrap().is_none());
        assert_eq!(
            parse(&s(&["--packets", "6400"])).unwrap().unwrap().packets,
            6400
        );
    }
}
