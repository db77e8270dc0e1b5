//! The one timing loop of the benches: calibrate, then take samples.

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
