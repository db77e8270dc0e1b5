//! `sluice-bench gen`: set-up on the control path (interface checks, MACs,
//! templates, one AF_XDP worker per queue opened before any thread starts),
//! then pinned workers that send batches until the deadline or a signal,
//! a progress line each second and the summary.
//!
//! The worker's hot loop allocates nothing and makes no syscall per frame:
//! per batch it reads the clock, takes chunks off its UMEM free list,
//! copies each flow's prebuilt head and patches seq, timestamp and
//! checksum ([`Templates::write`]), hands the batch to the TX ring; the
//! port's `poll` completes and kicks (the one sendto). Frames the TX ring
//! refuses are given back and their flows' sequence numbers rewound, so
//! the sink sees no gap for them.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;
use sluice_dataplane::io::xsk::{self, XskConfig, XskPort};
use sluice_dataplane::io::{Desc, Port, Umem};

use super::cli::{Engine, GenArgs, Size, IMIX_ORDER, IMIX_SIZES};
use super::flows::Flows;
use super::pace::Pacer;
use super::template::{Spec, Templates};
use super::{host, mono_ns, run_workers, stop_on_signals, write_json, Live, BATCH};

/// What a gen worker starts with: its queue, UMEM, port and templates.
type Worker = (u32, Umem, Vec<XskPort>, Templates);

/// Frames per TX batch: 8 × the 32 frames one copy-mode sendto sends (the
/// port kicks up to 8 times per poll), so a batch costs one kick round.
const TX_BATCH: usize = 256;

/// One worker's totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenWorker {
    pub queue: u32,
    pub flows: usize,
    /// Frames the TX ring took.
    pub sent: u64,
    pub bytes: u64,
    /// Frames the TX ring refused (given back, sent again later).
    pub tx_ring_full: u64,
    /// Times a batch stopped early because every chunk was in flight.
    pub no_free_frame: u64,
    pub tx_kicks: u64,
    /// Frames still on the TX ring, not completed, when the worker gave up
    /// waiting (500 ms) at the end.
    pub tx_unconfirmed: u64,
    pub kernel_tx_invalid: u64,
    /// Frames that arrived on gen's sockets (freed unread).
    pub rx_on_gen: u64,
}

/// What `gen` prints and writes as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct GenSummary {
    pub tool: &'static str,
    /// `xsk` (AF_XDP) or `live` (XDP live frames).
    pub engine: &'static str,
    pub dev: String,
    pub queues: u32,
    pub proto: &'static str,
    pub ip_version: u8,
    /// `--size` with FCS; `null` with `--imix`.
    pub size: Option<usize>,
    pub imix: bool,
    pub flows: u32,
    pub pps_target: Option<u64>,
    pub native_xdp: bool,
    pub zerocopy: bool,
    pub duration_s: f64,
    pub sent: u64,
    /// UMEM bytes (no FCS).
    pub bytes: u64,
    pub pps: f64,
    pub mbps: f64,
    pub tx_ring_full: u64,
    pub no_free_frame: u64,
    pub tx_unconfirmed: u64,
    pub kernel_tx_invalid: u64,
    /// `live`: the driver's `*_xdp_xmit` / `*_xdp_xmit_errors` counters'
    /// change over the run, where it has them.
    pub xdp_xmit: Option<u64>,
    pub xdp_xmit_errors: Option<u64>,
    pub workers: Vec<GenWorker>,
}

/// What both engines set up alike from the command line.
pub struct Setup {
    pub info: xsk::IfInfo,
    pub spec: Spec,
    pub flows: Flows,
    /// Frame lengths in memory (no FCS), one per size class.
    pub lens: Vec<usize>,
}

/// Checks the interface and the options against it, and resolves the
/// addresses and MACs.
pub fn setup(a: &GenArgs) -> Result<Setup, String> {
    let info = xsk::preflight(&a.dev, a.queues).map_err(|e| e.to_string())?;
    if a.flows < a.queues {
        return Err(format!(
            "--flows {} < --queues {}: every worker needs a flow",
            a.flows, a.queues
        ));
    }
    let sizes: Vec<usize> = match &a.size {
        Size::Fixed(n) => vec![*n],
        Size::Imix => IMIX_SIZES.to_vec(),
    };
    let lens: Vec<usize> = sizes.iter().map(|s| s - 4).collect();
    let biggest = lens.iter().copied().max().unwrap_or(60);
    if biggest - 14 > info.mtu as usize {
        return Err(format!(
            "interface {}: MTU {} is too small for {}-byte frames (needs {})",
            a.dev,
            info.mtu,
            biggest + 4,
            biggest - 14
        ));
    }
    let src = match a.src {
        Some(s) => s,
        None => host::first_address(&a.dev, a.dst.is_ipv6())?,
    };
    let flows = Flows::new(src, a.flows)?;
    let dst_mac = match a.dst_mac {
        Some(m) => m,
        None => host::neighbour_mac(&a.dev, a.dst)?,
    };
    let spec = Spec {
        proto: a.proto,
        src_mac: a.src_mac.unwrap_or(crate::frames::MacAddr(info.mac)),
        dst_mac,
        dst: a.dst,
        dst_port: a.dst_port,
    };
    Ok(Setup {
        info,
        spec,
        flows,
        lens,
    })
}

/// The flows worker `q` of `queues` sends: `q, q + queues, …` below
/// `flows`, as (index, source, source port).
pub fn worker_flows(flows: &Flows, q: u32, queues: u32, n: u32) -> Vec<(u32, IpAddr, u16)> {
    (q..n)
        .step_by(queues as usize)
        .map(|i| {
            let (ip, port) = flows.flow(i);
            (i, ip, port)
        })
        .collect()
}

/// The summary of a run from the workers' totals.
pub fn summary(
    a: &GenArgs,
    engine: &'static str,
    native_xdp: bool,
    zerocopy: bool,
    elapsed: f64,
    totals: Vec<GenWorker>,
) -> GenSummary {
    let elapsed = elapsed.max(1e-9);
    let sum = |f: fn(&GenWorker) -> u64| totals.iter().map(f).sum::<u64>();
    let (sent, bytes) = (sum(|w| w.sent), sum(|w| w.bytes));
    GenSummary {
        tool: "gen",
        engine,
        dev: a.dev.clone(),
        queues: a.queues,
        proto: a.proto.name(),
        ip_version: if a.dst.is_ipv6() { 6 } else { 4 },
        size: match a.size {
            Size::Fixed(n) => Some(n),
            Size::Imix => None,
        },
        imix: a.size == Size::Imix,
        flows: a.flows,
        pps_target: a.pps,
        native_xdp,
        zerocopy,
        duration_s: elapsed,
        sent,
        bytes,
        pps: sent as f64 / elapsed,
        mbps: bytes as f64 * 8.0 / elapsed / 1e6,
        tx_ring_full: sum(|w| w.tx_ring_full),
        no_free_frame: sum(|w| w.no_free_frame),
        tx_unconfirmed: sum(|w| w.tx_unconfirmed),
        kernel_tx_invalid: sum(|w| w.kernel_tx_invalid),
        xdp_xmit: None,
        xdp_xmit_errors: None,
        workers: totals,
    }
}

/// Runs `gen` on AF_XDP; `Err` is a one-line runtime error (exit 1).
pub fn run(a: &GenArgs) -> Result<GenSummary, String> {
    let stop = stop_on_signals()?;
    let s = setup(a)?;
    let cfg = XskConfig::default();
    let mut workers = Vec::new();
    for q in 0..a.queues {
        let (umem, ports) =
            xsk::open_worker(&[a.dev.as_str()], q, &cfg).map_err(|e| e.to_string())?;
        let t = Templates::build(
            &s.spec,
            &worker_flows(&s.flows, q, a.queues, a.flows),
            &s.lens,
        );
        workers.push((q, umem, ports, t));
    }
    let mode = workers[0].2[0].mode();
    let dur = Duration::from_secs_f64(a.duration_s);
    let per_worker_pps = a.pps.map(|p| p.div_ceil(u64::from(a.queues)));
    let imix = a.size == Size::Imix;
    let start = Instant::now();
    let end = start + dur;
    let totals = run_workers(
        "gen",
        workers,
        a.first_core,
        move |_, (q, umem, mut ports, t): Worker, live| {
            let port = ports.remove(0);
            worker(q, umem, port, &t, per_worker_pps, imix, end, &stop, live)
        },
        |secs, pps, mbps, [sent, _, full, nof]| {
            format!(
                "gen {secs:6.1}s  {pps:>10.0} pps  {mbps:>9.1} Mbps  sent {sent}  \
                 tx ring full {full}  no free frame {nof}"
            )
        },
    )?;
    let elapsed = start.elapsed().as_secs_f64();
    Ok(summary(
        a,
        "xsk",
        mode.native,
        mode.zerocopy,
        elapsed,
        totals,
    ))
}

#[allow(clippy::too_many_arguments)]
fn worker(
    queue: u32,
    mut umem: Umem,
    mut port: XskPort,
    t: &Templates,
    pps: Option<u64>,
    imix: bool,
    end: Instant,
    stop: &AtomicBool,
    live: &Live,
) -> GenWorker {
    let start = Instant::now();
    let mut pacer = Pacer::new(pps, TX_BATCH);
    // Paced: wait for a batch worth ~0.5 ms of frames rather than kicking
    // per frame at low rates.
    let min_batch = pps.map_or(TX_BATCH, |p| (p / 2_000).clamp(1, TX_BATCH as u64) as usize);
    let nflows = t.flows();
    let mut seq = vec![0u32; nflows];
    let (mut cursor, mut slot) = (0usize, 0usize);
    let mut descs = [Desc::default(); TX_BATCH];
    let mut rxd = [Desc::default(); BATCH];
    let mut out = GenWorker {
        queue,
        flows: nflows,
        ..GenWorker::default()
    };
    loop {
        let now = Instant::now();
        if now >= end || stop.load(Relaxed) {
            break;
        }
        port.poll(&mut umem);
        let r = port.rx(&mut umem, &mut rxd);
        for d in &rxd[..r] {
            umem.free(*d);
        }
        out.rx_on_gen += r as u64;
        let since = now - start;
        let budget = pacer.budget(since);
        if budget < min_batch && pps.is_some() {
            let wait = pacer.until(since, min_batch);
            if wait > Duration::from_micros(100) {
                std::thread::sleep((wait - Duration::from_micros(50)).min(end - now));
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        let ts = mono_ns();
        let mut n = 0;
        let mut bytes = 0u64;
        while n < budget {
            let Some(mut d) = umem.alloc() else {
                out.no_free_frame += 1;
                break;
            };
            let class = if imix {
                IMIX_ORDER[slot % IMIX_ORDER.len()]
            } else {
                0
            };
            let len = t.len(class);
            if !umem.set_len(&mut d, len) {
                umem.free(d);
                break;
            }
            t.write(umem.bytes_mut(d), cursor, class, seq[cursor], ts);
            seq[cursor] = seq[cursor].wrapping_add(1);
            cursor = if cursor + 1 == nflows { 0 } else { cursor + 1 };
            slot = slot.wrapping_add(1);
            descs[n] = d;
            bytes += len as u64;
            n += 1;
        }
        let k = port.tx(&mut umem, &descs[..n]);
        for d in descs[k..n].iter().rev() {
            // Refused by a full ring: rewind so the flow has no gap.
            cursor = if cursor == 0 { nflows - 1 } else { cursor - 1 };
            seq[cursor] = seq[cursor].wrapping_sub(1);
            slot = slot.wrapping_sub(1);
            bytes -= u64::from(d.len);
            umem.free(*d);
        }
        pacer.sent(k);
        out.sent += k as u64;
        out.bytes += bytes;
        out.tx_ring_full += (n - k) as u64;
        live.publish([out.sent, out.bytes, out.tx_ring_full, out.no_free_frame]);
    }
    // Let the kernel take what is on the TX ring (500 ms at most).
    let drain = Instant::now() + Duration::from_millis(500);
    while port.tx_outstanding() > 0 && Instant::now() < drain {
        port.poll(&mut umem);
        std::thread::sleep(Duration::from_micros(200));
    }
    let s = port.stats();
    out.tx_unconfirmed = port.tx_outstanding() as u64;
    out.tx_kicks = s.tx_kicks;
    out.kernel_tx_invalid = s.kernel_tx_invalid;
    out
}

/// Prints the summary lines.
pub fn print(s: &GenSummary) {
    if s.engine == "live" {
        let x = match (s.xdp_xmit, s.xdp_xmit_errors) {
            (Some(x), Some(e)) => format!("driver xdp_xmit {x}, xdp_xmit_errors {e}"),
            _ => "the driver has no xdp_xmit counters".to_string(),
        };
        println!(
            "gen summary: {} {} IPv{} {} flows, {:.2} s: sent {} frames, {} bytes, {:.0} pps, \
             {:.1} Mbps; {x} (XDP live frames)",
            s.dev, s.proto, s.ip_version, s.flows, s.duration_s, s.sent, s.bytes, s.pps, s.mbps,
        );
        return;
    }
    println!(
        "gen summary: {} {} IPv{} {} flows, {:.2} s: sent {} frames, {} bytes, {:.0} pps, {:.1} Mbps; \
         tx ring full {}, no free frame {}, unconfirmed {}, kernel tx invalid {} ({} XDP, {})",
        s.dev,
        s.proto,
        s.ip_version,
        s.flows,
        s.duration_s,
        s.sent,
        s.bytes,
        s.pps,
        s.mbps,
        s.tx_ring_full,
        s.no_free_frame,
        s.tx_unconfirmed,
        s.kernel_tx_invalid,
        if s.native_xdp { "native" } else { "generic" },
        if s.zerocopy { "zero-copy" } else { "copy" },
    );
}

/// `gen`'s entry: runs, prints, writes JSON.
pub fn main(a: &GenArgs) -> Result<(), String> {
    if let Some(t) = &a.tcp {
        return super::tcp_gen::main(a, t);
    }
    let s = match a.engine {
        Engine::Xsk => run(a)?,
        Engine::Live => super::live::run(a)?,
    };
    print(&s);
    if let Some(p) = &a.json {
        write_json(p, &s)?;
    }
    Ok(())
}
