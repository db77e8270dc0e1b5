//! sluice-lab-bench: the lab throughput table — sluice against the
//! kernel's own forwarding with the same ruleset (iptables-legacy and
//! iptables-nft), in one run, on the lab topology (see `sluice_bench::lab`).
//!
//! ```text
//! sluice-lab-bench [--quick] [--reps N] [--secs S] [--warm S] [--flows N]
//!                  [--streams N] [--modes idle,busy|none] [--sluice PATH] [--out FILE]
//! ```
//!
//! Every (router × ruleset) case builds the lab afresh (new namespaces, so
//! nothing carries over: conntrack, ipsets, XDP programs), starts the
//! router, runs the UDP blast then the TCP bulk transfer, and tears the lab
//! down. The cases are interleaved (repetition outer, router order rotated
//! per repetition) so that noise from the shared machine hits all routers
//! alike; each cell of the table is the median of the repetitions. Every
//! load is bounded: a helper that overruns its time is killed.
//!
//! Helpers the orchestrator runs in the namespaces (this same binary):
//! `udp-blast IFACE FLOWS SECS`, `tcp-sink PORT WARM SECS`,
//! `tcp-send HOST PORT STREAMS SECS`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use sluice_bench::compare::report::median;
use sluice_bench::lab::{
    self, ruleset_files, sluice_toml, spawn_in, wait_line, wait_output, Lab, Router, Ruleset,
};
use sluice_bench::timing::cpu_model;

#[derive(Debug, Clone)]
struct Opts {
    reps: usize,
    secs: f64,
    warm: f64,
    flows: usize,
    streams: usize,
    modes: Vec<bool>,
    sluice: PathBuf,
    out: Option<PathBuf>,
    logs: PathBuf,
}

/// One case's measurements (NaN: that workload failed).
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Frames counted at w0 per second of the window (forwarded).
    udp_fwd_mpps: f64,
    /// Frames counted at r0 per second of the window (offered to the router).
    udp_offered_mpps: f64,
    /// Frames the sender's TX ring completed per second, whole run.
    udp_sent_mpps: f64,
    tcp_gbps: f64,
}

impl Default for Sample {
    fn default() -> Sample {
        Sample {
            udp_fwd_mpps: f64::NAN,
            udp_offered_mpps: f64::NAN,
            udp_sent_mpps: f64::NAN,
            tcp_gbps: f64::NAN,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("udp-blast") => helper_udp(&args[1..]),
        Some("tcp-sink") => helper_sink(&args[1..]),
        Some("tcp-send") => helper_send(&args[1..]),
        _ => parse_opts(&args).and_then(|o| orchestrate(&o)),
    };
    if let Err(e) = r {
        eprintln!("sluice-lab-bench: {e}");
        std::process::exit(1);
    }
}

fn num<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
    args.get(i)
        .ok_or_else(|| format!("missing {what}"))?
        .parse()
        .map_err(|_| format!("bad {what}: {:?}", args[i]))
}

fn helper_udp(args: &[String]) -> Result<(), String> {
    let iface = args.first().ok_or("missing IFACE")?;
    let r = lab::udp_blast(iface, num(args, 1, "FLOWS")?, num(args, 2, "SECS")?)?;
    println!(
        "sent {} secs {:.6} ring_full {}",
        r.sent, r.secs, r.ring_full
    );
    Ok(())
}

fn helper_sink(args: &[String]) -> Result<(), String> {
    let (b, t) = lab::tcp_sink(
        num(args, 0, "PORT")?,
        num(args, 1, "WARM")?,
        num(args, 2, "SECS")?,
    )?;
    println!("bytes {b} secs {t:.6}");
    Ok(())
}

fn helper_send(args: &[String]) -> Result<(), String> {
    let n = lab::tcp_send(
        num(args, 0, "HOST")?,
        num(args, 1, "PORT")?,
        num(args, 2, "STREAMS")?,
        num(args, 3, "SECS")?,
    )?;
    println!("wrote {n}");
    Ok(())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let root = repo_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut o = Opts {
        reps: 3,
        secs: 5.0,
        warm: 1.0,
        flows: 1024,
        streams: 1,
        modes: vec![false, true],
        sluice: target.join("release/sluice"),
        out: None,
        logs: PathBuf::from(format!("/tmp/sluice-lab-bench-{}", std::process::id())),
    };
    let mut i = 0;
    while i < args.len() {
        let val = |i: usize| -> Result<&String, String> {
            args.get(i + 1)
                .ok_or_else(|| format!("{} needs a value", args[i]))
        };
        match args[i].as_str() {
            "--quick" => {
                o.reps = 1;
                o.secs = 1.0;
                o.warm = 0.5;
                i += 1;
                continue;
            }
            "--reps" => o.reps = num(args, i + 1, "--reps")?,
            "--secs" => o.secs = num(args, i + 1, "--secs")?,
            "--warm" => o.warm = num(args, i + 1, "--warm")?,
            "--flows" => o.flows = num(args, i + 1, "--flows")?,
            "--streams" => o.streams = num(args, i + 1, "--streams")?,
            "--sluice" => o.sluice = PathBuf::from(val(i)?),
            "--out" => o.out = Some(PathBuf::from(val(i)?)),
            "--logs" => o.logs = PathBuf::from(val(i)?),
            "--modes" => {
                o.modes = val(i)?
                    .split(',')
                    .filter(|m| *m != "none")
                    .map(|m| match m {
                        "idle" => Ok(false),
                        "busy" => Ok(true),
                        _ => Err(format!("--modes: {m:?} is not idle or busy")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "-h" | "--help" => {
                println!(
                    "sluice-lab-bench [--quick] [--reps N] [--secs S] [--warm S] [--flows N] \
                     [--streams N] [--modes idle,busy|none] [--sluice PATH] [--out FILE] [--logs DIR]"
                );
                std::process::exit(0);
            }
            a => return Err(format!("unknown argument {a:?} (try --help)")),
        }
        i += 2;
    }
    if !(0.2..=30.0).contains(&o.secs) || !(0.0..=10.0).contains(&o.warm) {
        return Err("--secs must be in 0.2..=30 and --warm in 0..=10".into());
    }
    if o.flows == 0 || o.flows > 50_000 || o.streams == 0 || o.streams > 16 || o.reps == 0 {
        return Err("--flows 1..=50000, --streams 1..=16, --reps >= 1".into());
    }
    Ok(o)
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `/proc/loadavg`'s three averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn orchestrate(o: &Opts) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (network namespaces, AF_XDP)".into());
    }
    if !o.modes.is_empty() && !o.sluice.exists() {
        return Err(format!(
            "no sluice binary at {} (cargo build --release -p sluice-control, or --sluice)",
            o.sluice.display()
        ));
    }
    std::fs::create_dir_all(&o.logs).map_err(|e| format!("{}: {e}", o.logs.display()))?;
    let mut routers = vec![Router::Legacy, Router::Nft];
    routers.extend(o.modes.iter().map(|&b| Router::Sluice { busy_poll: b }));
    let started = Instant::now();
    let date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let load_before = loadavg();
    let mut samples: HashMap<(usize, usize), Vec<Sample>> = HashMap::new();
    let mut notes: Vec<String> = Vec::new();
    for rep in 0..o.reps {
        for (si, &set) in Ruleset::ALL.iter().enumerate() {
            for k in 0..routers.len() {
                let ri = (k + rep) % routers.len();
                let router = routers[ri];
                let tag = format!("rep{rep}-{si}-{ri}");
                eprint!(
                    "[{:>5.0}s] rep {}/{} {:<20} {:<24} ",
                    started.elapsed().as_secs_f64(),
                    rep + 1,
                    o.reps,
                    set.name(),
                    router.name()
                );
                match run_case(o, router, set, &tag) {
                    Ok((s, note)) => {
                        eprintln!(
                            "udp {:.3} Mpps fwd (offered {:.3}, sent {:.3})  tcp {:.2} Gbit/s",
                            s.udp_fwd_mpps, s.udp_offered_mpps, s.udp_sent_mpps, s.tcp_gbps
                        );
                        if let Some(n) = note {
                            eprintln!("    note: {n}");
                            notes.push(format!(
                                "{} / {} / rep {}: {n}",
                                set.name(),
                                router.name(),
                                rep + 1
                            ));
                        }
                        samples.entry((si, ri)).or_default().push(s);
                    }
                    Err(e) => {
                        eprintln!("FAILED: {e}");
                        notes.push(format!(
                            "{} / {} / rep {}: failed: {}",
                            set.name(),
                            router.name(),
                            rep + 1,
                            e.lines().next().unwrap_or("")
                        ));
                    }
                }
            }
        }
    }
    let load = format!("{load_before} before, {} after", loadavg());
    let md = table(o, &routers, &samples, &notes, &date, &load);
    println!("{md}");
    if let Some(out) = &o.out {
        if let Some(d) = out.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        std::fs::write(out, &md).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("written to {}", out.display());
    }
    eprintln!("sluice logs and counters: {}", o.logs.display());
    Ok(())
}

/// One case: a fresh lab, the router, UDP then TCP, the router's counters.
fn run_case(
    o: &Opts,
    router: Router,
    set: Ruleset,
    tag: &str,
) -> Result<(Sample, Option<String>), String> {
    let lab = Lab::new()?;
    let (rules, sets) = ruleset_files(set, &o.logs, &repo_root())?;
    let mut daemon = match router {
        Router::Legacy => {
            lab.kernel_router("iptables-legacy-restore", &rules, sets.as_deref())?;
            None
        }
        Router::Nft => {
            lab.kernel_router("iptables-nft-restore", &rules, sets.as_deref())?;
            None
        }
        Router::Sluice { busy_poll } => {
            let conf = o.logs.join(format!("{tag}.toml"));
            std::fs::write(&conf, sluice_toml(&rules, sets.as_deref(), busy_poll))
                .map_err(|e| format!("{}: {e}", conf.display()))?;
            Some(lab.start_sluice(&o.sluice, &conf, &o.logs.join(format!("{tag}.log")))?)
        }
    };
    thread::sleep(Duration::from_millis(300));
    let mut s = Sample::default();
    let udp = measure_udp(o, &lab, &mut s);
    thread::sleep(Duration::from_millis(300));
    let tcp = measure_tcp(o, &lab, &mut s);
    // The veths' own counters (XDP drops, ring drops) for the record.
    let mut eth = String::new();
    for dev in ["r0", "r1"] {
        if let Ok(out) = lab.rtr.exec(&["ethtool", "-S", dev]) {
            let _ = writeln!(eth, "{dev}:\n{}", String::from_utf8_lossy(&out.stdout));
        }
    }
    let _ = std::fs::write(o.logs.join(format!("{tag}.ethtool")), eth);
    let mut note: Vec<String> = Vec::new();
    if let Err(e) = &udp {
        note.push(format!("UDP failed: {e}"));
    }
    if let Err(e) = &tcp {
        note.push(format!("TCP failed: {e}"));
    }
    if let Some(d) = daemon.as_mut() {
        let alive = d.alive();
        let counters = if alive { d.counters() } else { String::new() };
        let path = o.logs.join(format!("{tag}.counters"));
        let _ = std::fs::write(&path, &counters);
        if !alive {
            note.push(format!("sluice exited during the run (log {tag}.log)"));
        }
        if let Some(l) = counters
            .lines()
            .find(|l| l.trim_start().starts_with("tx.ring_full"))
        {
            note.push(format!("sluice {} (counters in {tag}.counters)", l.trim()));
        }
    }
    drop(daemon);
    drop(lab);
    let note = (!note.is_empty()).then(|| note.join("; "));
    Ok((s, note))
}

fn measure_udp(o: &Opts, lab: &Lab, s: &mut Sample) -> Result<(), String> {
    let run = o.warm + o.secs + 0.3;
    let child = spawn_in(
        &lab.lan,
        &[
            "udp-blast".into(),
            "l0".into(),
            o.flows.to_string(),
            format!("{run}"),
        ],
    )?;
    thread::sleep(Duration::from_secs_f64(o.warm));
    let read = || -> Result<(u64, u64, Instant), String> {
        let w = Lab::rx_packets(&lab.wan, "w0")?;
        let r = Lab::rx_packets(&lab.rtr, "r0")?;
        Ok((w, r, Instant::now()))
    };
    let a = read();
    thread::sleep(Duration::from_secs_f64(o.secs));
    let b = read();
    let out = wait_output(child, Duration::from_secs_f64(run + 15.0))?;
    let ((w0, r0, t0), (w1, r1, t1)) = (a?, b?);
    let dt = (t1 - t0).as_secs_f64();
    s.udp_fwd_mpps = (w1 - w0) as f64 / dt / 1e6;
    s.udp_offered_mpps = (r1 - r0) as f64 / dt / 1e6;
    let f: Vec<&str> = out.split_whitespace().collect();
    if let (Some(n), Some(t)) = (f.get(1), f.get(3)) {
        let n: f64 = n.parse().unwrap_or(0.0);
        let t: f64 = t.parse().unwrap_or(1.0);
        s.udp_sent_mpps = n / t / 1e6;
    }
    Ok(())
}

fn measure_tcp(o: &Opts, lab: &Lab, s: &mut Sample) -> Result<(), String> {
    let mut sink = spawn_in(
        &lab.wan,
        &[
            "tcp-sink".into(),
            lab::TCP_PORT.to_string(),
            format!("{}", o.warm),
            format!("{}", o.secs),
        ],
    )?;
    let (line, rest) = match wait_line(&mut sink) {
        Ok(x) => x,
        Err(e) => {
            let _ = sink.kill();
            let _ = sink.wait();
            return Err(format!("tcp sink: {e}"));
        }
    };
    if line.trim() != "listening" {
        let _ = sink.kill();
        let _ = sink.wait();
        return Err(format!("tcp sink said {line:?}"));
    }
    let run = o.warm + o.secs + 0.5;
    let sender = spawn_in(
        &lab.lan,
        &[
            "tcp-send".into(),
            lab::SERVER.to_string(),
            lab::TCP_PORT.to_string(),
            o.streams.to_string(),
            format!("{run}"),
        ],
    )?;
    let sent = wait_output(sender, Duration::from_secs_f64(run + 15.0));
    let sink_done = {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match sink.try_wait() {
                Ok(Some(st)) => break Ok(st),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = sink.kill();
                    let _ = sink.wait();
                    break Err("tcp sink did not finish".to_string());
                }
            }
        }
    };
    let text = rest
        .recv_timeout(Duration::from_secs(2))
        .unwrap_or_default();
    sent.map_err(|e| format!("tcp sender: {e}"))?;
    let st = sink_done?;
    let f: Vec<&str> = text.split_whitespace().collect();
    match (f.get(1), f.get(3)) {
        (Some(b), Some(t)) if st.success() => {
            let b: f64 = b.parse().map_err(|_| format!("sink said {text:?}"))?;
            let t: f64 = t.parse().map_err(|_| format!("sink said {text:?}"))?;
            s.tcp_gbps = b * 8.0 / t / 1e9;
            Ok(())
        }
        _ => Err(format!("tcp sink failed ({st}): {text:?}")),
    }
}

fn table(
    o: &Opts,
    routers: &[Router],
    samples: &HashMap<(usize, usize), Vec<Sample>>,
    notes: &[String],
    date: &str,
    load: &str,
) -> String {
    let med = |si: usize, ri: usize, f: fn(&Sample) -> f64| -> Option<f64> {
        // NaN (a failed workload) is left out.
        median(samples.get(&(si, ri))?.iter().map(f))
    };
    let mut md = String::new();
    let _ = writeln!(md, "### Throughput (the lab), measured {date}\n");
    let _ = write!(md, "| ruleset | workload |");
    for r in routers {
        let _ = write!(md, " {} |", r.name());
    }
    let _ = writeln!(md, " sluice / better kernel |");
    let _ = writeln!(md, "|---|---|{}---|", "---:|".repeat(routers.len()));
    type Metric = (&'static str, &'static str, fn(&Sample) -> f64);
    let metrics: [Metric; 2] = [
        ("64-byte UDP, 1 024 flows", "Mpps", |s| s.udp_fwd_mpps),
        ("TCP bulk", "Gbit/s", |s| s.tcp_gbps),
    ];
    for (si, set) in Ruleset::ALL.iter().enumerate() {
        for (wname, unit, f) in metrics {
            let _ = write!(md, "| {} | {wname} ({unit}) |", set.name());
            let mut best_kernel: Option<f64> = None;
            for (ri, r) in routers.iter().enumerate() {
                let m = med(si, ri, f);
                if r.is_kernel() {
                    if let Some(v) = m {
                        best_kernel = Some(best_kernel.map_or(v, |b: f64| b.max(v)));
                    }
                }
                let _ = match m {
                    Some(v) if unit == "Mpps" => write!(md, " {v:.3} |"),
                    Some(v) => write!(md, " {v:.2} |"),
                    None => write!(md, " — |"),
                };
            }
            let ratios: Vec<String> = routers
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.is_kernel())
                .filter_map(|(ri, r)| {
                    let v = med(si, ri, f)?;
                    let b = best_kernel.filter(|b| *b > 0.0)?;
                    let mode = if matches!(r, Router::Sluice { busy_poll: true }) {
                        "busy"
                    } else {
                        "idle"
                    };
                    Some(format!("{:.2}× ({mode})", v / b))
                })
                .collect();
            let _ = writeln!(md, " {} |", ratios.join(", "));
        }
    }
    let _ = writeln!(
        md,
        "\nUDP offered to the router (frames arriving at r0, Mpps, median) / sender's \
         completed TX (Mpps, median):\n"
    );
    let _ = write!(md, "| ruleset |");
    for r in routers {
        let _ = write!(md, " {} |", r.name());
    }
    let _ = writeln!(md, "\n|---|{}", "---:|".repeat(routers.len()));
    for (si, set) in Ruleset::ALL.iter().enumerate() {
        let _ = write!(md, "| {} |", set.name());
        for ri in 0..routers.len() {
            let _ = match (
                med(si, ri, |s| s.udp_offered_mpps),
                med(si, ri, |s| s.udp_sent_mpps),
            ) {
                (Some(a), Some(b)) => write!(md, " {a:.3} / {b:.3} |"),
                _ => write!(md, " — |"),
            };
        }
        let _ = writeln!(md);
    }
    let n: Vec<usize> = samples.values().map(Vec::len).collect();
    let _ = writeln!(
        md,
        "\nConditions: {} ({} CPUs), Linux {}; veth pairs (1 RX and 1 TX queue, MTU 1500), \
         lan ─ rtr ─ wan namespaces; one run of `sluice-lab-bench`, {} repetition(s) \
         of every case interleaved (router order rotated per repetition), each cell \
         the median of {}–{} samples; each case on a freshly built lab. UDP: 60-byte \
         frames (64 on the wire), {} flows (source ports), sent from prebuilt frames \
         through AF_XDP (copy mode) on l0 for {:.1} s warm-up + {:.1} s measured; \
         forwarded = w0 `rx_packets` delta over the measured window (dropped by one raw \
         PREROUTING rule in wan). TCP: {} connection(s), 128 KiB writes, bytes read by \
         the sink in the {:.1} s window after {:.1} s warm-up. Kernel: ip_forward, \
         rp_filter off, the ruleset via iptables-legacy-restore / iptables-nft-restore \
         (ipset for the gateway's set). sluice: `sluice run`, 1 worker, AF_XDP copy mode \
         on veth, `busy_poll` as labelled. Sender, router and sink share the machine's \
         CPUs: the kernel router forwards in softirq on whichever CPU the veth \
         transmit ran on (the sender's), sluice's worker is a thread of its own. \
         Load average (1/5/15 min) {}: the machine is shared.",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        sh("uname", &["-r"]),
        o.reps,
        n.iter().min().copied().unwrap_or(0),
        n.iter().max().copied().unwrap_or(0),
        o.flows,
        o.warm,
        o.secs,
        o.streams,
        o.secs,
        o.warm,
        load,
    );
    if !notes.is_empty() {
        let _ = writeln!(md, "\nNotes from the run:\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md
}
