//! `sluice-bench sink`: one pinned AF_XDP worker per queue that receives,
//! reads gen's mark, tracks each flow ([`FlowTable`]) and records one-way
//! latency into its own hdrhistogram; at the end the tables and histograms
//! of all workers are merged.
//!
//! Per batch: one clock read, then per frame a parse, a table update and a
//! histogram record (no allocation: the table and histogram are allocated
//! before the loop). An idle worker sleeps in poll(2) on its socket after
//! 64 empty turns (10 ms at most), so the sink does not spin when gen is
//! paced.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use sluice_dataplane::io::wait::wait_readable;
use sluice_dataplane::io::xsk::{self, XskConfig, XskPort};
use sluice_dataplane::io::{Desc, Port, Umem};

use super::cli::SinkArgs;
use super::mark;
use super::seqtrack::{FlowTable, SeqTotals};
use super::{mono_ns, run_workers, stop_on_signals, write_json, Live, BATCH};

/// One-way latency percentiles, ns (`null` without samples).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub min: Option<u64>,
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub p999: Option<u64>,
    pub max: Option<u64>,
    pub mean: Option<f64>,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            min: Some(h.min()),
            p50: Some(h.value_at_quantile(0.50)),
            p99: Some(h.value_at_quantile(0.99)),
            p999: Some(h.value_at_quantile(0.999)),
            max: Some(h.max()),
            mean: Some(h.mean()),
        }
    }
}

/// What `sink` prints and writes as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct SinkSummary {
    pub tool: &'static str,
    pub dev: String,
    pub queues: u32,
    pub native_xdp: bool,
    pub zerocopy: bool,
    pub duration_s: f64,
    /// Every frame received (gen's and foreign).
    pub frames: u64,
    pub bytes: u64,
    pub pps: f64,
    pub mbps: f64,
    /// Frames without gen's mark.
    pub foreign: u64,
    /// Gen's frames: received (duplicates included), flows, lost,
    /// duplicates, reordered, late, over_capacity.
    pub gen: SeqTotals,
    pub latency_ns: Latency,
    /// The kernel's `XDP_STATISTICS` of the sink's sockets, summed.
    pub kernel_rx_dropped: u64,
    pub kernel_rx_ring_full: u64,
    pub kernel_fill_ring_empty: u64,
    pub kernel_rx_invalid: u64,
}

struct WorkerOut {
    frames: u64,
    bytes: u64,
    foreign: u64,
    table: FlowTable,
    hist: Histogram<u64>,
    stats: xsk::XskPortStats,
}

fn histogram() -> Result<Histogram<u64>, String> {
    // 1 ns .. 100 s, 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).map_err(|e| format!("histogram: {e}"))
}

/// Runs `sink`; `Err` is a one-line runtime error (exit 1).
pub fn run(a: &SinkArgs) -> Result<SinkSummary, String> {
    let stop = stop_on_signals()?;
    xsk::preflight(&a.dev, a.queues).map_err(|e| e.to_string())?;
    let cfg = XskConfig::default();
    let mut workers = Vec::new();
    for q in 0..a.queues {
        let (umem, mut ports) =
            xsk::open_worker(&[a.dev.as_str()], q, &cfg).map_err(|e| e.to_string())?;
        let port = ports.remove(0);
        workers.push((umem, port, FlowTable::new(a.flow_table), histogram()?));
    }
    let mode = workers[0].1.mode();
    println!(
        "sink: listening on {} queue(s) 0..{} ({} XDP, {}) for {} s",
        a.dev,
        a.queues,
        if mode.native { "native" } else { "generic" },
        if mode.zerocopy { "zero-copy" } else { "copy" },
        a.duration_s
    );
    // The test harness waits for that line before starting gen.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.duration_s);
    let outs = run_workers(
        "sink",
        workers,
        a.first_core,
        move |_, (umem, port, table, hist), live| worker(umem, port, table, hist, end, &stop, live),
        |secs, pps, mbps, [rx, _, foreign, _]| {
            format!("sink {secs:6.1}s  {pps:>10.0} pps  {mbps:>9.1} Mbps  received {rx}  foreign {foreign}")
        },
    )?;
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    let mut table = FlowTable::new(a.flow_table);
    let mut hist = histogram()?;
    let mut s = SinkSummary {
        tool: "sink",
        dev: a.dev.clone(),
        queues: a.queues,
        native_xdp: mode.native,
        zerocopy: mode.zerocopy,
        duration_s: elapsed,
        frames: 0,
        bytes: 0,
        pps: 0.0,
        mbps: 0.0,
        foreign: 0,
        gen: SeqTotals::default(),
        latency_ns: Latency::default(),
        kernel_rx_dropped: 0,
        kernel_rx_ring_full: 0,
        kernel_fill_ring_empty: 0,
        kernel_rx_invalid: 0,
    };
    for o in &outs {
        table.merge(&o.table);
        hist.add(&o.hist)
            .map_err(|e| format!("merging histograms: {e}"))?;
        s.frames += o.frames;
        s.bytes += o.bytes;
        s.foreign += o.foreign;
        s.kernel_rx_dropped += o.stats.kernel_rx_dropped;
        s.kernel_rx_ring_full += o.stats.kernel_rx_ring_full;
        s.kernel_fill_ring_empty += o.stats.kernel_fill_empty;
        s.kernel_rx_invalid += o.stats.kernel_rx_invalid;
    }
    s.gen = table.totals();
    s.latency_ns = Latency::of(&hist);
    s.pps = s.frames as f64 / elapsed;
    s.mbps = s.bytes as f64 * 8.0 / elapsed / 1e6;
    Ok(s)
}

fn worker(
    mut umem: Umem,
    mut port: XskPort,
    mut table: FlowTable,
    mut hist: Histogram<u64>,
    end: Instant,
    stop: &AtomicBool,
    live: &Live,
) -> WorkerOut {
    let mut rxd = [Desc::default(); BATCH];
    let (mut frames, mut bytes, mut foreign) = (0u64, 0u64, 0u64);
    let mut idle = 0u32;
    while Instant::now() < end && !stop.load(Relaxed) {
        port.poll(&mut umem);
        let n = port.rx(&mut umem, &mut rxd);
        if n == 0 {
            idle += 1;
            if idle > 64 {
                if let Some(fd) = port.fd() {
                    wait_readable(&[fd], 10);
                }
            }
            continue;
        }
        idle = 0;
        let now = mono_ns();
        for d in &rxd[..n] {
            bytes += u64::from(d.len);
            match mark::find(umem.bytes(*d)) {
                Some(m) => {
                    table.record(m.flow, m.seq);
                    hist.saturating_record(mark::elapsed(now, m.ts).max(1));
                }
                None => foreign += 1,
            }
            umem.free(*d);
        }
        frames += n as u64;
        live.publish([frames, bytes, foreign, 0]);
    }
    WorkerOut {
        frames,
        bytes,
        foreign,
        table,
        hist,
        stats: port.stats(),
    }
}

pub fn print(s: &SinkSummary) {
    let l = &s.latency_ns;
    let f = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{:.1}", v as f64 / 1000.0));
    println!(
        "sink summary: {} {:.2} s: {} frames ({} gen, {} foreign), {} bytes, {:.0} pps, {:.1} Mbps; \
         flows {}, lost {}, duplicates {}, reordered {} (late {}), over capacity {}; \
         latency µs p50 {} p99 {} p99.9 {} max {}; kernel rx dropped {}, rx ring full {}, fill ring empty {}",
        s.dev,
        s.duration_s,
        s.frames,
        s.gen.received,
        s.foreign,
        s.bytes,
        s.pps,
        s.mbps,
        s.gen.flows,
        s.gen.lost,
        s.gen.duplicates,
        s.gen.reordered,
        s.gen.late,
        s.gen.over_capacity,
        f(l.p50),
        f(l.p99),
        f(l.p999),
        f(l.max),
        s.kernel_rx_dropped,
        s.kernel_rx_ring_full,
        s.kernel_fill_ring_empty,
    );
}

/// `sink`'s entry: runs, prints, writes JSON.
pub fn main(a: &SinkArgs) -> Result<(), String> {
    if let Some(t) = &a.tcp {
        return super::tcp_sink::main(a, t);
    }
    let s = run(a)?;
    print(&s);
    if let Some(p) = &a.json {
        write_json(p, &s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_histogram_percentiles_are_ordered_and_cover_both() {
        let mut a = histogram().unwrap();
        let mut b = histogram().unwrap();
        for v in 1..=1000u64 {
            a.record(v * 1000).unwrap();
        }
        b.record(5_000_000).unwrap();
        a.add(&b).unwrap();
        let l = Latency::of(&a);
        assert_eq!(l.count, 1001);
        let (p50, p99, p999, max) = (
            l.p50.unwrap(),
            l.p99.unwrap(),
            l.p999.unwrap(),
            l.max.unwrap(),
        );
        assert!(p50 <= p99 && p99 <= p999 && p999 <= max, "{l:?}");
        assert!((499_000..=502_000).contains(&p50), "{p50}");
        assert!(max >= 4_990_000, "{max}");
        assert_eq!(Latency::of(&histogram().unwrap()).p50, None);
    }
}
