//! One case of `sluice-bench compare`: a fresh lab, the router with the
//! scenario's ruleset, a warm-up, then the sink on w0 and `gen --max` on
//! l0 for the measured window, and the CPU the router used.
//!
//! The sink's AF_XDP socket takes every frame w0 receives, ARP replies
//! included, so the router's next hop (10.0.2.2) is resolved before the
//! sink starts: a permanent neighbour for the kernel, and for sluice (whose
//! neighbours come from ARP only) one ping through it, which leaves the
//! entry REACHABLE for 30 s, longer than a case.
//!
//! CPU: sluice's is its process's utime + stime (`/proc/PID/stat`); the
//! kernel router has no process, so its figure is the softirq time of all
//! CPUs (`/proc/stat`), where veth's receive path forwards. That softirq
//! time also holds the sink's XDP receive and, for sluice, the TX of its
//! copy-mode sockets: it is reported for every router as its own column.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::report::Sample;
use super::scenario::Scenario;
use crate::lab::{self, spawn_in, wait_output, Lab, Router, L0_MAC, R0_MAC, W0_MAC};

/// What every case shares.
pub struct Env<'a> {
    pub sluice: &'a Path,
    pub work: &'a Path,
    pub repo: &'a Path,
    pub duration_s: f64,
    pub stop: &'a AtomicBool,
}

/// Warm-up before the measured window (gen alone, no sink).
pub const WARM_S: f64 = 1.0;

/// Clock ticks per second of `/proc` times (USER_HZ; 100 on Linux).
const HZ: f64 = 100.0;

/// gen's source addresses: 64 of them, so 100 000 flows need source
/// ports up to 1024 + 1 563 only.
const GEN_SRC: &str = "10.0.1.64/26";

pub fn check(stop: &AtomicBool) -> Result<(), String> {
    if stop.load(Ordering::Relaxed) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Loads the scenario's ruleset into `router` in `lab`: the kernel (the
/// next hop 10.0.2.2 a permanent neighbour) or `sluice run` (its daemon).
pub fn start_router(
    env: &Env<'_>,
    lab: &Lab,
    sc: Scenario,
    router: Router,
    tag: &str,
) -> Result<Option<lab::Daemon>, String> {
    let (rules, sets) = sc.files(env.work, env.repo)?;
    Ok(match router {
        Router::Legacy | Router::Nft => {
            let restore = if router == Router::Legacy {
                "iptables-legacy-restore"
            } else {
                "iptables-nft-restore"
            };
            lab.kernel_router(restore, &rules, sets.as_deref())?;
            lab.rtr
                .add_neighbour("r1", "10.0.2.2".parse().map_err(|_| "addr")?, W0_MAC)?;
            None
        }
        Router::Sluice { busy_poll } => {
            let conf = env.work.join(format!("{tag}.toml"));
            let ct_max = (sc.flows() as usize * 2).max(65_536);
            std::fs::write(
                &conf,
                lab::sluice_toml_ct(&rules, sets.as_deref(), busy_poll, ct_max),
            )
            .map_err(|e| format!("{}: {e}", conf.display()))?;
            Some(lab.start_sluice(env.sluice, &conf, &env.work.join(format!("{tag}.log")))?)
        }
    })
}

/// Runs one case; every process and namespace is gone when it returns.
pub fn run(env: &Env<'_>, sc: Scenario, router: Router, tag: &str) -> Result<Sample, String> {
    let lab = Lab::new()?;
    let daemon = start_router(env, &lab, sc, router, tag)?;
    // Resolve the next hop through the router (see the module doc).
    let _ = lab
        .lan
        .exec(&["ping", "-c", "1", "-W", "2", &lab::SERVER.to_string()]);
    check(env.stop)?;
    let gen_args = |secs: f64, json: &str| -> Vec<String> {
        [
            "gen",
            "--dev",
            "l0",
            "--max",
            "--flows",
            &sc.flows().to_string(),
            "--size",
            "64",
            "--duration",
            &format!("{secs}"),
            "--src",
            GEN_SRC,
            "--dst",
            &lab::SERVER.to_string(),
            "--src-mac",
            &L0_MAC.to_string(),
            "--dst-mac",
            &R0_MAC.to_string(),
            "--first-core",
            "0",
            "--json",
            json,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let warm_json = env.work.join(format!("{tag}.warm.json"));
    let warm = spawn_in(
        &lab.lan,
        &gen_args(WARM_S, &warm_json.display().to_string()),
    )?;
    wait_output(warm, Duration::from_secs_f64(WARM_S + 20.0))
        .map_err(|e| format!("gen warm-up: {e}"))?;
    check(env.stop)?;
    let sink_json = env.work.join(format!("{tag}.sink.json"));
    let sink_secs = env.duration_s + 3.0;
    let sink = spawn_in(
        &lab.wan,
        &[
            "sink".into(),
            "--dev".into(),
            "w0".into(),
            "--duration".into(),
            format!("{sink_secs}"),
            "--flow-table".into(),
            "262144".into(),
            "--first-core".into(),
            "1".into(),
            "--json".into(),
            sink_json.display().to_string(),
        ],
    )?;
    // The sink binds its socket well within a second.
    thread::sleep(Duration::from_millis(1200));
    let gen_json = env.work.join(format!("{tag}.gen.json"));
    let pid = daemon.as_ref().map(lab::Daemon::pid);
    let cpu0 = (pid.map(proc_cpu_s), softirq_s(), Instant::now());
    let gen = spawn_in(
        &lab.lan,
        &gen_args(env.duration_s, &gen_json.display().to_string()),
    )?;
    let gen_done = wait_output(gen, Duration::from_secs_f64(env.duration_s + 20.0));
    let cpu1 = (pid.map(proc_cpu_s), softirq_s(), Instant::now());
    let sink_done = wait_output(sink, Duration::from_secs_f64(sink_secs + 20.0));
    gen_done.map_err(|e| format!("gen: {e}"))?;
    sink_done.map_err(|e| format!("sink: {e}"))?;
    let mut daemon = daemon;
    if let Some(d) = daemon.as_mut() {
        if !d.alive() {
            return Err(format!("sluice exited during the run (log {tag}.log)"));
        }
        let _ = std::fs::write(env.work.join(format!("{tag}.counters")), d.counters());
    }
    let gen = read_json(&gen_json)?;
    let sink = read_json(&sink_json)?;
    let mut s = from_summaries(&gen, &sink)?;
    s.router_cpu_s = match (cpu0.0.flatten(), cpu1.0.flatten()) {
        (Some(a), Some(b)) => b - a,
        _ => cpu1.1 - cpu0.1,
    };
    s.softirq_s = cpu1.1 - cpu0.1;
    s.window_s = (cpu1.2 - cpu0.2).as_secs_f64();
    drop(daemon);
    drop(lab);
    Ok(s)
}

pub fn read_json(p: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// The figures of one case from gen's and sink's JSON summaries.
pub fn from_summaries(gen: &Value, sink: &Value) -> Result<Sample, String> {
    let f = |v: &Value, path: &[&str]| -> Option<f64> {
        path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
    };
    let sent = f(gen, &["sent"]).ok_or("gen summary without sent")?;
    let secs = f(gen, &["duration_s"]).ok_or("gen summary without duration_s")?;
    let received = f(sink, &["gen", "received"]).ok_or("sink summary without gen.received")?;
    let us = |k: &str| f(sink, &["latency_ns", k]).map(|ns| ns / 1e3);
    Ok(Sample {
        sent_mpps: sent / secs / 1e6,
        fwd_mpps: received / secs / 1e6,
        loss_pct: if sent > 0.0 {
            (100.0 * (sent - received) / sent).max(0.0)
        } else {
            f64::NAN
        },
        p50_us: us("p50").unwrap_or(f64::NAN),
        p99_us: us("p99").unwrap_or(f64::NAN),
        p999_us: us("p999").unwrap_or(f64::NAN),
        router_cpu_s: f64::NAN,
        softirq_s: f64::NAN,
        window_s: secs,
    })
}

/// utime + stime of `pid`, seconds.
pub fn proc_cpu_s(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&s)
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, seconds.
pub fn parse_stat_cpu(stat: &str) -> Option<f64> {
    // The command name may hold spaces: fields count from after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / HZ)
}

/// Softirq time of all CPUs (`/proc/stat`'s `cpu` line), seconds.
pub fn softirq_s() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_softirq(&s))
        .unwrap_or(f64::NAN)
}

pub fn parse_softirq(proc_stat: &str) -> Option<f64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    // cpu user nice system idle iowait irq softirq ...
    let v: f64 = line.split_whitespace().nth(7)?.parse().ok()?;
    Some(v / HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsers() {
        let stat = "1234 (sluice w0 (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu(stat), Some(3.0));
        let ps = "cpu  100 0 200 5000 10 0 340 0 0 0\ncpu0 50 0 100 2500 5 0 170 0 0 0\n";
        assert_eq!(parse_softirq(ps), Some(3.4));
        assert_eq!(parse_softirq("intr 1 2 3\n"), None);
    }

    #[test]
    fn sample_from_summaries() {
        let gen: Value = serde_json::json!({"sent": 4_000_000u64, "duration_s": 2.0});
        let sink: Value = serde_json::json!({
            "gen": {"received": 3_000_000u64},
            "latency_ns": {"p50": 12_000, "p99": 40_000, "p999": null}
        });
        let s = from_summaries(&gen, &sink).unwrap();
        assert_eq!(s.sent_mpps, 2.0);
        assert_eq!(s.fwd_mpps, 1.5);
        assert_eq!(s.loss_pct, 25.0);
        assert_eq!(s.p50_us, 12.0);
        assert_eq!(s.p99_us, 40.0);
        assert!(s.p999_us.is_nan());
        assert!(from_summaries(&serde_json::json!({}), &sink).is_err());
    }
}
