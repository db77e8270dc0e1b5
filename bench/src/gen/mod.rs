//! `sluice-bench gen` and `sluice-bench sink`: an AF_XDP traffic generator
//! (stateless mode) and a receiver that checks what arrives, on the
//! project's own AF_XDP ports (`sluice_dataplane::io::xsk`).
//!
//! # What a generated frame carries
//!
//! Ethernet + IPv4 or IPv6 + UDP, TCP SYN or ICMP echo, then an 18-byte
//! mark ([`mark`]) right after the transport header: a magic number, the
//! flow index, a 32-bit per-flow sequence number and the low 48 bits of the
//! CLOCK_MONOTONIC time (ns) of the batch the frame was sent in. The sink
//! subtracts that from its own CLOCK_MONOTONIC reading, so one-way latency
//! is only meaningful when gen and sink run on the same host (the tests and
//! the lab do; between hosts the figure is the clock offset plus latency).
//!
//! `--size` counts the frame on the wire with its FCS, as pktgen and
//! trafgen do: a 64-byte frame is 60 bytes in the UMEM. Byte counts and
//! Mbps in the reports are those UMEM bytes (no FCS, preamble or gap).
//!
//! # Module map
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | the two command lines, parsed into [`cli::GenArgs`] / [`cli::SinkArgs`] |
//! | [`mark`] | the payload mark: write, find in a frame, read |
//! | [`flows`] | spreading `--flows` over source addresses and ports |
//! | [`template`] | frames prebuilt per flow and size; per-packet patch with incremental checksums |
//! | [`pace`] | the `--pps` pacer (time passed in) |
//! | [`seqtrack`] | per-flow loss, duplicate and reorder accounting, fixed-size flow table |
//! | [`host`] | MAC and address lookups (sysfs, `ip neigh`, `ip addr`) |
//! | [`gen_run`], [`sink_run`] | the workers, progress lines and JSON summaries |
//! | [`live`] | `--engine live`: the XDP live-frames sender and its program |
//! | [`bpf`] | the raw `bpf(2)` calls and eBPF instruction encodings [`live`] uses |
//! | [`tcp_dev`] | stateful mode: smoltcp device over AF_XDP, the payload pattern and its verifier |
//! | [`tcp_gen`], [`tcp_sink`] | stateful mode: the TCP client (`--tcp-conns`) and echo server (`--tcp-listen`) |

pub mod bpf;
pub mod cli;
pub mod flows;
pub mod gen_run;
pub mod host;
pub mod live;
pub mod mark;
pub mod pace;
pub mod seqtrack;
pub mod sink_run;
pub mod tcp_dev;
pub mod tcp_gen;
pub mod tcp_sink;
pub mod template;

/// Frames per TX/RX batch.
pub const BATCH: usize = 64;

/// The longest `--duration` accepted, seconds.
pub const MAX_DURATION_S: f64 = 3600.0;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// CLOCK_MONOTONIC in ns (vDSO: no syscall); read once per batch.
#[inline]
pub fn mono_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// A flag SIGINT and SIGTERM set.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("cannot install the handler for signal {sig}: {e}"))?;
    }
    Ok(stop)
}

/// Pins the calling worker `w` to allowed core `(first + w) mod cores`.
pub fn pin(first: usize, w: usize) {
    if let Some(ids) = core_affinity::get_core_ids().filter(|i| !i.is_empty()) {
        core_affinity::set_for_current(ids[(first + w) % ids.len()]);
    }
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| format!("JSON summary: {e}"))?;
    std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Counters a worker publishes once per batch (relaxed stores): frames,
/// bytes and two more (gen: TX ring full, no free frame; sink: foreign).
#[derive(Debug, Default)]
pub struct Live {
    pub counters: [std::sync::atomic::AtomicU64; 4],
    pub done: AtomicBool,
}

impl Live {
    #[inline]
    pub fn publish(&self, values: [u64; 4]) {
        for (c, v) in self.counters.iter().zip(values) {
            c.store(v, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Runs `work(w, item, live)` for each item on its own thread `{name}-q{w}`
/// pinned by [`pin`], prints `line(seconds, pps, Mbps, counters summed)`
/// once a second until every worker returned, and returns their results
/// in order.
pub fn run_workers<I, R, W, L>(
    name: &str,
    items: Vec<I>,
    first_core: usize,
    work: W,
    line: L,
) -> Result<Vec<R>, String>
where
    I: Send + 'static,
    R: Send + 'static,
    W: Fn(usize, I, &Live) -> R + Send + Sync + 'static,
    L: Fn(f64, f64, f64, [u64; 4]) -> String,
{
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::{Duration, Instant};
    let live: Arc<Vec<Live>> = Arc::new(items.iter().map(|_| Live::default()).collect());
    let work = Arc::new(work);
    let start = Instant::now();
    let mut handles = Vec::new();
    for (w, item) in items.into_iter().enumerate() {
        let (live, work) = (Arc::clone(&live), Arc::clone(&work));
        let h = std::thread::Builder::new()
            .name(format!("{name}-q{w}"))
            .spawn(move || {
                pin(first_core, w);
                let r = work(w, item, &live[w]);
                live[w].done.store(true, Relaxed);
                r
            })
            .map_err(|e| format!("spawning {name} worker {w}: {e}"))?;
        handles.push(h);
    }
    let sum = || {
        let mut t = [0u64; 4];
        for l in live.iter() {
            for (t, c) in t.iter_mut().zip(&l.counters) {
                *t += c.load(Relaxed);
            }
        }
        t
    };
    let (mut last, mut last_t) = ([0u64; 4], start);
    let mut next = start + Duration::from_secs(1);
    while !live.iter().all(|l| l.done.load(Relaxed)) {
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        if now < next {
            continue;
        }
        next += Duration::from_secs(1);
        let t = sum();
        let dt = (now - last_t).as_secs_f64().max(1e-9);
        println!(
            "{}",
            line(
                (now - start).as_secs_f64(),
                (t[0] - last[0]) as f64 / dt,
                (t[1] - last[1]) as f64 * 8.0 / dt / 1e6,
                t
            )
        );
        (last, last_t) = (t, now);
    }
    handles
        .into_iter()
        .map(|h| h.join().map_err(|_| format!("a {name} worker panicked")))
        .collect()
}
