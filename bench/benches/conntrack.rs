//! Connection tracking and NAT in the whole pipeline, one core: ns per
//! packet of established UDP flows (conntrack hits, both directions)
//! without and with MASQUERADE's rewrite, at 1 000, 100 000 and 1 000 000
//! live flows, each packet of a flow drawn at random over all of them;
//! the same with a share of misses; and, in the same run, the same
//! traffic through a stateless ruleset (no conntrack) as the baseline.
//! Then the new-flow setup rate and the table-full paths, and the bytes a
//! tracked flow costs. The setup is `sluice_bench::conntrack` (its module
//! docs describe the topology, rulesets and traffic).
//!
//! `cargo bench -p sluice-bench --bench conntrack` (release profile, debug
//! info on). Batches of 64: a turn is 64 frames on `lan` (original
//! direction) and 64 on `wan` (replies), each written into a fresh chunk,
//! then one poll of the worker. Each figure is the median of `SAMPLES`
//! samples of at least `SAMPLE`; a figure is the turn minus writing the
//! frames (the NIC's DMA here), per packet. Flows are made by sending
//! their first packets and replies through the pipeline.
//!
//! The targets (printed at the end of the hit table): hit + NAT
//! rewrite under 60 ns/packet at 1M flows; the cost at 1M flows under 2x
//! the cost at 1k; at most 192 bytes per tracked flow.
//!
//! `-- --quick` runs fewer and shorter samples at 1k and 100k flows only;
//! `-- --flows N` runs the hit table at N flows only; `-- --profile MODE
//! N` (MODE: none, stateless, ct, nat) only runs hits at N flows for 20 s,
//! for a profiler.

use sluice_bench::timing::{cpu_model, ns_per_packet};

use std::hint::black_box;
use std::time::{Duration, Instant};

use sluice_bench::conntrack::{CtBench, Kind, Mode, MAX_FLOWS};
use sluice_dataplane::conntrack::{Entry, ProtoState, Table, Tuple};
use sluice_dataplane::pipeline::{Counter, BATCH};

/// `[dataplane] conntrack_max` of every hit case: room for 1M flows.
const CT_MAX: usize = 1 << 20;
const SIZES: &[usize] = &[1_000, 100_000, 1_000_000];
/// The share of misses in the miss columns.
const MISS: f64 = 0.10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Cfg {
    samples: usize,
    sample: Duration,
}

/// One hit-table cell: ns per packet of the pipeline, and the setup's
/// ns per flow (first packets) when it tracks.
struct Cell {
    ns: f64,
    fill: Option<f64>,
}

/// Builds `mode` over `flows` flows (made live through the pipeline when
/// it tracks), measures turns, checks nothing went wrong.
fn measure(mode: Mode, flows: usize, miss: f64, cfg: &Cfg) -> Cell {
    let mut b = CtBench::new(mode, CT_MAX, flows, miss);
    let fill = mode.tracks().then(|| {
        let p = b.populate(true);
        assert!(
            b.all_established(),
            "{mode:?} at {flows}: not all ESTABLISHED"
        );
        p.first_ns
    });
    let free = b.free_frames();
    let (tx, hits) = (b.forwarded(), b.hits);
    let whole = ns_per_packet(cfg.samples, cfg.sample, CtBench::TURN, || b.turn());
    let refill = ns_per_packet(cfg.samples, cfg.sample, CtBench::TURN, || b.refill_only());
    assert_eq!(b.free_frames(), free, "frames leaked");
    // Stateless lets the bad-checksum misses through; the rest forward
    // exactly the hits.
    if miss == 0.0 || mode.tracks() {
        assert_eq!(
            b.forwarded() - tx,
            b.hits - hits,
            "{mode:?} at {flows}: {:?}",
            b.counters()
        );
    }
    if mode.tracks() {
        for c in [
            Counter::CtExpired,
            Counter::CtEarlyDrop,
            Counter::CtTableFull,
        ] {
            assert_eq!(b.counter(c), 0, "{mode:?} at {flows}: {c:?}");
        }
        assert_eq!(b.shard().len(), flows, "{mode:?}: entries");
    }
    Cell {
        ns: whole - refill,
        fill,
    }
}

fn bytes_per_flow() {
    println!(
        "size_of::<conntrack::Entry>() = {} B (two {}-byte tuples, a {}-byte ProtoState); \
         Table::footprint()/max (slab, used flags, free list, indexes):",
        std::mem::size_of::<Entry>(),
        std::mem::size_of::<Tuple>(),
        std::mem::size_of::<ProtoState>()
    );
    for max in [262_144usize, 1_000_000, CT_MAX] {
        let t = Table::new(max);
        println!(
            "  conntrack_max {max:>9}: {:>6.1} MiB, {:>5.1} B per flow",
            t.footprint() as f64 / (1 << 20) as f64,
            t.footprint() as f64 / max as f64
        );
    }
}

/// ns per flow of new flows' first packets from `lan` (new entry, rules,
/// MASQUERADE's binding under NAT, confirm, forwarded), `runs` runs of
/// `per_run` flows into one table of [`CT_MAX`].
fn setup_rate(mode: Mode, runs: u32, per_run: u32) -> (f64, usize) {
    let mut b = CtBench::new(mode, CT_MAX, MAX_FLOWS, 0.0);
    let tx = b.forwarded();
    let v = (0..runs)
        .map(|r| {
            let ks = r * per_run..(r + 1) * per_run;
            b.send(ks.map(Kind::Orig)) / f64::from(per_run)
        })
        .collect();
    assert_eq!(b.forwarded() - tx, u64::from(runs * per_run));
    assert_eq!(b.counter(Counter::CtNew), u64::from(runs * per_run));
    (median(v), b.shard().len())
}

/// The table full ([`CT_MAX`] entries, unreplied or, with `assured`,
/// replied and ASSURED): ns per new flow's first packet, and what became
/// of them (early drops, table-full drops).
fn table_full(mode: Mode, assured: bool, runs: u32, per_run: u32) -> (f64, f64, u64, u64) {
    let mut b = CtBench::new(mode, CT_MAX, CT_MAX, 0.0);
    let p = b.populate(assured);
    assert_eq!(b.shard().len(), CT_MAX);
    let (ed, full) = (
        b.counter(Counter::CtEarlyDrop),
        b.counter(Counter::CtTableFull),
    );
    let base = CT_MAX as u32;
    let v = (0..runs)
        .map(|r| {
            let ks = base + r * per_run..base + (r + 1) * per_run;
            b.send(ks.map(Kind::Orig)) / f64::from(per_run)
        })
        .collect();
    assert_eq!(b.shard().len(), CT_MAX);
    (
        median(v),
        p.first_ns,
        b.counter(Counter::CtEarlyDrop) - ed,
        b.counter(Counter::CtTableFull) - full,
    )
}

fn parse_mode(s: &str) -> Mode {
    match s {
        "none" => Mode::NoRules,
        "stateless" => Mode::Stateless,
        "ct" => Mode::Ct,
        "nat" => Mode::CtNat,
        _ => panic!("mode: none, stateless, ct or nat"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(m) = arg("--profile") {
        let mode = parse_mode(&m);
        let flows: usize = args
            .iter()
            .position(|a| a == "--profile")
            .and_then(|i| args.get(i + 2))
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let c = measure(
            mode,
            flows,
            0.0,
            &Cfg {
                samples: 20,
                sample: Duration::from_millis(500),
            },
        );
        println!("{mode:?}, {flows} flows: {:.1} ns/packet", c.ns);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let cfg = if quick {
        Cfg {
            samples: 3,
            sample: Duration::from_millis(20),
        }
    } else {
        Cfg {
            samples: 9,
            sample: Duration::from_millis(150),
        }
    };
    let only: Option<usize> = arg("--flows").and_then(|s| s.parse().ok());
    let sizes: Vec<usize> = match only {
        Some(n) => vec![n],
        None if quick => SIZES[..2].to_vec(),
        None => SIZES.to_vec(),
    };
    let t0 = Instant::now();
    println!(
        "conntrack + NAT in the pipeline, one core; CPU: {} ({} CPUs online); batches of {BATCH} \
         (64 on lan + 64 on wan per turn), 60-byte UDP frames, flows drawn uniformly at random; \
         conntrack_max {CT_MAX}; {} samples of {:?}, median, ns per packet (turn − frame writing)",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cfg.samples,
        cfg.sample
    );
    bytes_per_flow();
    println!();
    println!(
        "{:>9} {:>8} {:>9} | {:>7} {:>10} {:>6} {:>7} | {:>9} {:>11} | {:>8} {:>8}",
        "flows",
        "no rules",
        "stateless",
        "ct hit",
        "ct+nat hit",
        "ct/sl",
        "nat/sl",
        "ct 10%miss",
        "nat 10%miss",
        "fill ct",
        "fill nat"
    );
    let mut at = Vec::new();
    for &n in &sizes {
        let none = measure(Mode::NoRules, n, 0.0, &cfg).ns;
        let sl = measure(Mode::Stateless, n, 0.0, &cfg).ns;
        let ct = measure(Mode::Ct, n, 0.0, &cfg);
        let nat = measure(Mode::CtNat, n, 0.0, &cfg);
        let ct_m = measure(Mode::Ct, n, MISS, &cfg).ns;
        let nat_m = measure(Mode::CtNat, n, MISS, &cfg).ns;
        println!(
            "{n:>9} {none:>8.1} {sl:>9.1} | {:>7.1} {:>10.1} {:>6.2} {:>7.2} | {ct_m:>10.1} {nat_m:>11.1} | {:>8.0} {:>8.0}",
            ct.ns,
            nat.ns,
            ct.ns / sl,
            nat.ns / sl,
            ct.fill.unwrap_or(f64::NAN),
            nat.fill.unwrap_or(f64::NAN),
        );
        at.push((n, ct.ns, nat.ns));
    }
    println!(
        "(fill: ns per flow of the populating first packets, new entry through confirm, table \
         filling from 0; stateless/no rules ignore the flow count)"
    );
    let get = |n: usize| at.iter().find(|r| r.0 == n).copied();
    if let Some((_, _, nat1m)) = get(1_000_000) {
        println!(
            "target: hit + NAT rewrite at 1M flows {nat1m:.1} ns/packet (< 60): {}",
            if nat1m < 60.0 { "met" } else { "NOT met" }
        );
    }
    if let (Some(a), Some(b)) = (get(1_000), get(1_000_000)) {
        for (name, x, y) in [("ct", a.1, b.1), ("ct+nat", a.2, b.2)] {
            println!(
                "target: {name} cost at 1M / at 1k = {:.2} (< 2): {}",
                y / x,
                if y < 2.0 * x { "met" } else { "NOT met" }
            );
        }
    }
    let bpf = Table::new(CT_MAX).footprint() as f64 / CT_MAX as f64;
    println!(
        "target: bytes per tracked flow {bpf:.1} at conntrack_max {CT_MAX} (<= 192): {}",
        if bpf <= 192.0 { "met" } else { "NOT met" }
    );
    if only.is_some() {
        return;
    }

    println!();
    let (runs, per_run) = if quick { (3, 4096) } else { (7, 65_536) };
    println!(
        "new UDP flows, first packet from lan through to confirm (and forwarded), table of \
         {CT_MAX}, not full: median of {runs} runs of {per_run} new flows"
    );
    for mode in [Mode::Ct, Mode::CtNat] {
        let (ns, len) = setup_rate(mode, runs, per_run);
        println!(
            "  {:<7} {ns:>6.1} ns/flow = {:>5.2} M flows/s (table at {len} after)",
            if mode == Mode::CtNat { "ct+nat" } else { "ct" },
            1e3 / ns
        );
    }
    if !quick {
        let (runs, per_run) = (5, 16_384);
        println!(
            "table full ({CT_MAX} entries), new flows' first packets: median of {runs} runs of \
             {per_run}"
        );
        for mode in [Mode::Ct, Mode::CtNat] {
            let name = if mode == Mode::CtNat { "ct+nat" } else { "ct" };
            let (ns, fill, ed, full) = table_full(mode, false, runs, per_run);
            println!(
                "  {name:<7} entries unreplied: {ns:>6.1} ns/flow = {:>5.2} M flows/s; early \
                 drops {ed}, table-full drops {full} (fill 0 → {CT_MAX}: {fill:.0} ns/flow)",
                1e3 / ns
            );
            let (ns, _, ed, full) = table_full(mode, true, runs, per_run);
            println!(
                "  {name:<7} entries ASSURED:   {ns:>6.1} ns/packet = {:>5.2} M packets/s; \
                 early drops {ed}, table-full drops {full}",
                1e3 / ns
            );
        }
    }
    black_box(());
    println!("({:.0} s)", t0.elapsed().as_secs_f64());
}
