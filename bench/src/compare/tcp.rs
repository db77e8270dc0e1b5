//! The `tcp` scenario of `sluice-bench compare`: stateful TCP connection
//! setup through the gateway ruleset's MASQUERADE. A fresh lab per case,
//! the router with `config/examples/lab`, `sluice-bench sink --tcp-listen 7`
//! on w0 (smoltcp echo server, 10.0.2.2) and `sluice-bench gen --tcp-conns
//! N` on l0 (smoltcp, 10.0.1.2, source ports 1024 + i), opening
//! connections as fast as it can ([`UNPACED`], at most [`CONCURRENCY`] in
//! flight), each sending [`BYTES`] bytes, reading the echo back verified,
//! closing. The figures are gen's summary: handshakes per second over its
//! run, completed, failed, the handshake (SYN sent to ESTABLISHED seen)
//! percentiles; and the router's CPU as in [`super::case`].

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::case::{check, proc_cpu_s, read_json, softirq_s, start_router, Env};
use super::report::{cell, median, ratio, router_key};
use super::scenario::Scenario;
use super::ROUTERS;
use crate::lab::{self, spawn_in, wait_line, wait_output, Lab, Router};

/// `--conn-rate` for "as fast as gen can": far above what one smoltcp
/// worker sets up, so [`CONCURRENCY`] is the only bound.
pub const UNPACED: u32 = 1_000_000;
/// `--concurrency`: connections in flight at most (the sink keeps 1 024
/// listeners armed).
pub const CONCURRENCY: u32 = 256;
/// `--bytes` each connection sends and reads back.
pub const BYTES: u32 = 1_000;
/// The sink's address (w0's) and port.
const SINK: &str = "10.0.2.2";
const PORT: &str = "7";

/// Connections per case: 10 000, 2 000 with `--quick`.
pub fn conns(quick: bool) -> u32 {
    if quick {
        2_000
    } else {
        10_000
    }
}

/// One TCP case's figures (NaN: not measured).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TcpSample {
    pub conns: u32,
    /// Handshakes completed per second of gen's run.
    pub setup_per_s: f64,
    pub completed: f64,
    pub failed: f64,
    pub hs_p50_us: f64,
    pub hs_p99_us: f64,
    /// sluice: its process's CPU seconds; kernel: softirq of all CPUs.
    pub router_cpu_s: f64,
    /// gen's run, seconds.
    pub secs: f64,
}

impl TcpSample {
    /// The progress line's figures.
    pub fn line(&self) -> String {
        format!(
            "{:.0} setups/s, {:.0}/{} completed, {:.0} failed, handshake p50/p99 {:.0}/{:.0} µs, {:.2} s, cpu {:.2} s",
            self.setup_per_s,
            self.completed,
            self.conns,
            self.failed,
            self.hs_p50_us,
            self.hs_p99_us,
            self.secs,
            self.router_cpu_s
        )
    }
}

/// The figures of gen's `--tcp-conns` JSON summary.
pub fn from_summary(gen: &Value) -> Result<TcpSample, String> {
    let f = |path: &[&str]| -> Option<f64> { path.iter().try_fold(gen, |v, k| v.get(k))?.as_f64() };
    let us = |k: &str| f(&["handshake_ns", k]).map_or(f64::NAN, |ns| ns / 1e3);
    Ok(TcpSample {
        conns: f(&["requested"]).ok_or("gen summary without requested")? as u32,
        setup_per_s: f(&["setup_rate"]).ok_or("gen summary without setup_rate")?,
        completed: f(&["completed"]).ok_or("gen summary without completed")?,
        failed: f(&["failed_total"]).ok_or("gen summary without failed_total")?,
        hs_p50_us: us("p50"),
        hs_p99_us: us("p99"),
        router_cpu_s: f64::NAN,
        secs: f(&["duration_s"]).ok_or("gen summary without duration_s")?,
    })
}

/// Runs one TCP case with `conns` connections; every process and
/// namespace is gone when it returns.
pub fn run(env: &Env<'_>, router: Router, tag: &str, conns: u32) -> Result<TcpSample, String> {
    let lab = Lab::new()?;
    let daemon = start_router(env, &lab, Scenario::Tcp, router, tag)?;
    check(env.stop)?;
    // gen's cap on its run: far above what the connections take.
    let gen_secs: u32 = (conns / 100).clamp(30, 120);
    let sink_json = env.work.join(format!("{tag}.sink.json"));
    let mut sink = spawn_in(
        &lab.wan,
        &[
            "sink",
            "--dev",
            "w0",
            "--duration",
            &(gen_secs + 30).to_string(),
            "--tcp-listen",
            PORT,
            "--json",
            &sink_json.display().to_string(),
        ]
        .map(String::from),
    )?;
    // Its first line says it listens.
    let (first, rest) = match wait_line(&mut sink) {
        Ok(x) => x,
        Err(e) => {
            let _ = sink.kill();
            let _ = sink.wait();
            return Err(format!("sink: {e}"));
        }
    };
    if !first.starts_with("sink: TCP echo") {
        let _ = sink.kill();
        let _ = sink.wait();
        return Err(format!(
            "sink: {}{}",
            first.trim(),
            rest.recv().unwrap_or_default()
        ));
    }
    // Resolve the neighbours through the router before the first SYN, as
    // [`super::case`] does: sluice learns them from ARP only, and SYNs it
    // drops while resolving come again after smoltcp's RTO (~0.7 s p99).
    let _ = lab.lan.exec(&["ping", "-c", "1", "-W", "2", SINK]);
    check(env.stop)?;
    let gen_json = env.work.join(format!("{tag}.gen.json"));
    let _ = std::fs::remove_file(&gen_json);
    let pid = daemon.as_ref().map(lab::Daemon::pid);
    let cpu0 = (pid.map(proc_cpu_s), softirq_s(), Instant::now());
    let gen = spawn_in(
        &lab.lan,
        &[
            "gen",
            "--dev",
            "l0",
            "--tcp-conns",
            &conns.to_string(),
            "--conn-rate",
            &UNPACED.to_string(),
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--bytes",
            &BYTES.to_string(),
            "--dst",
            SINK,
            "--dst-port",
            PORT,
            "--duration",
            &gen_secs.to_string(),
            "--json",
            &gen_json.display().to_string(),
        ]
        .map(String::from),
    )?;
    // gen exits 1 when a connection failed: its summary still counts.
    let gen_done = wait_output(gen, Duration::from_secs(u64::from(gen_secs) + 20));
    let cpu1 = (pid.map(proc_cpu_s), softirq_s(), Instant::now());
    // The sink's last connections close when gen's last ACKs arrive.
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-INT", &sink.id().to_string()])
        .status();
    let _ = wait_output(sink, Duration::from_secs(10));
    let mut daemon = daemon;
    if let Some(d) = daemon.as_mut() {
        if !d.alive() {
            return Err(format!("sluice exited during the run (log {tag}.log)"));
        }
        let _ = std::fs::write(env.work.join(format!("{tag}.counters")), d.counters());
    }
    let gen = read_json(&gen_json).map_err(|e| match &gen_done {
        Err(g) => format!("gen: {g}"),
        Ok(_) => e,
    })?;
    let mut s = from_summary(&gen)?;
    s.router_cpu_s = match (cpu0.0.flatten(), cpu1.0.flatten()) {
        (Some(a), Some(b)) => b - a,
        _ => cpu1.1 - cpu0.1,
    };
    drop(daemon);
    drop(lab);
    Ok(s)
}

/// The TCP table (markdown): a row per router, medians over repetitions,
/// sluice / best kernel on setups per second.
pub fn markdown(samples: &std::collections::BTreeMap<&'static str, Vec<TcpSample>>) -> String {
    let med = |k: &str, f: fn(&TcpSample) -> f64| -> Option<f64> {
        median(samples.get(k)?.iter().map(f))
    };
    let rate = |k: &str| med(k, |s| s.setup_per_s);
    let r = ratio(rate("sluice"), rate("legacy"), rate("nft"));
    let mut md = format!(
        "Stateful TCP connection setup through NAT (gateway ruleset, MASQUERADE): \
         `gen --tcp-conns N --conn-rate {UNPACED} --concurrency {CONCURRENCY} --bytes {BYTES}` \
         on l0 → router → `sink --tcp-listen 7` on w0, both smoltcp over AF_XDP:\n\n\
         | router | connections | setups/s | completed | failed | handshake p50 µs | handshake p99 µs | router CPU s | sluice / best kernel (setups/s) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for router in ROUTERS {
        let k = router_key(router);
        let Some(v) = samples.get(k).filter(|v| !v.is_empty()) else {
            continue;
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            router.name(),
            v[0].conns,
            cell(rate(k), 0),
            cell(med(k, |s| s.completed), 0),
            cell(med(k, |s| s.failed), 0),
            cell(med(k, |s| s.hs_p50_us), 0),
            cell(med(k, |s| s.hs_p99_us), 0),
            cell(med(k, |s| s.router_cpu_s), 2),
            if k == "sluice" {
                r.map_or("—".into(), |x| format!("{x:.2}×"))
            } else {
                String::new()
            }
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_from_gen_summary() {
        let g = serde_json::json!({
            "requested": 2000, "setup_rate": 4000.5, "completed": 1998,
            "failed_total": 2, "duration_s": 0.5,
            "handshake_ns": {"count": 1998, "p50": 120_000, "p99": 900_000}
        });
        let s = from_summary(&g).unwrap();
        assert_eq!(s.conns, 2000);
        assert_eq!(s.setup_per_s, 4000.5);
        assert_eq!((s.completed, s.failed), (1998.0, 2.0));
        assert_eq!((s.hs_p50_us, s.hs_p99_us), (120.0, 900.0));
        let g = serde_json::json!({"requested": 1, "setup_rate": 0.0, "completed": 0,
            "failed_total": 1, "duration_s": 1.0, "handshake_ns": {"p50": null}});
        assert!(from_summary(&g).unwrap().hs_p50_us.is_nan());
        assert!(from_summary(&serde_json::json!({})).is_err());
        assert_eq!(conns(true), 2_000);
        assert_eq!(conns(false), 10_000);
    }
}
