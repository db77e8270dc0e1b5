//! What every bench shares: the timing loop (calibrate, then take
//! samples) and the CPU it ran on.

use std::time::{Duration, Instant};

/// Median ns per packet of `f`, which handles `packets` packets a call:
/// `f` runs for `sample` to find how many calls a sample takes, then
/// `samples` samples of that many calls are timed.
pub fn ns_per_packet(samples: usize, sample: Duration, packets: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut iters = 0u64;
    while start.elapsed() < sample {
        f();
        iters += 1;
    }
    let mut v: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / (iters as f64 * packets as f64)
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The CPU's model name (`/proc/cpuinfo`), for the conditions line.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
