//! The rule classifier through the whole pipeline, on the ruleset shapes
//! of issue 15 and on ClassBench: ns per packet of a FORWARD chain
//! (policy DROP) with the classifier (the engine's default) and, in the
//! same run, with the plain ordered evaluation of the same rules.
//!
//! Traffic: 4 096 different packets, each aimed at a rule picked at random
//! (xorshift), every 8th one a miss (to 203.0.113.9, which no rule but a
//! catch-all matches), injected 64 at a time in that order: not 64 hot
//! flows. ClassBench sets use their `.fwd.trace` (10 000 packets, interior
//! points of random rules, no martians) in file order. Shapes and flows:
//! `sluice_bench::shapes`.
//!
//! `cargo bench -p sluice-bench --bench shapes` (release profile). One
//! core, batches of 64 frames on in-memory ports; each figure is the
//! median of `SAMPLES` samples of at least `SAMPLE` (the plain evaluation
//! at 10 000 rules and more: 3 samples). Columns: `classifier` / `plain`
//! ns per packet of the pipeline (the poll loop minus refilling the
//! frames), `Mpps` at the classifier's figure, and the FORWARD
//! classifier's tuples, memory and the whole ruleset's compile time.
//!
//! `-- --quick`: fewer, shorter samples. `-- --full`: 50 000 rules too.
//! `-- --only NAME`: one shape (or ClassBench set).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use sluice_bench::shapes::{classbench, frame, random_flows, ruleset, shape, RulesBench, SHAPES};
use sluice_bench::timing::{cpu_model, ns_per_packet};
use sluice_dataplane::pipeline::BATCH;

const FLOWS: usize = 4096;
const MISS_EVERY: usize = 8;
const CLASSBENCH: &[&str] = &[
    "acl1-1k", "fw1-1k", "ipc1-1k", "acl1-10k", "fw1-10k", "ipc1-10k",
];

/// ns per packet of the pipeline on `rules` with `templates`.
fn measure(
    rules: &str,
    classifier: bool,
    templates: &[Vec<u8>],
    samples: usize,
    sample: Duration,
) -> (f64, String) {
    let mut b = RulesBench::new(rules, Some(classifier), templates.to_vec());
    // Warm up: every template once (conntrack entries of the NEW flows).
    for _ in 0..templates.len().div_ceil(BATCH) {
        b.batch();
    }
    let whole = ns_per_packet(samples, sample, BATCH, || b.batch());
    let refill = ns_per_packet(samples, sample, BATCH, || b.refill_only());
    black_box(b.forwarded());
    (whole - refill, b.info.clone())
}

/// One pass over the templates, the polls alone (for callgrind's
/// `--toggle-collect='*measured_polls*'`).
#[inline(never)]
fn measured_polls(b: &mut RulesBench, batches: usize) {
    for _ in 0..batches {
        b.refill();
        b.poll();
    }
}

/// `--callgrind SHAPE N [plain]`: the pipeline on shape `SHAPE` (or a
/// ClassBench set, N ignored) after a warm-up pass, then one measured
/// pass over the 4 096 (ClassBench: 10 000) packets; run under
/// `valgrind --tool=callgrind --toggle-collect='*measured_polls*'` and
/// divide the instructions by the packets printed (the refill's copies
/// are counted too: about 60 instructions a packet).
fn callgrind(args: &[String]) {
    let name = args.first().map(String::as_str).unwrap_or("kube");
    let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let classifier = !args.iter().any(|a| a == "plain");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/classbench");
    let (text, flows) = match shape(name, n) {
        Some(s) => {
            let flows = random_flows(&s.flows, FLOWS, MISS_EVERY, 0x5eed ^ n as u64);
            (ruleset(&s.rules), flows)
        }
        None => classbench(&dir, name, "fwd.trace").expect("a shape or a ClassBench set"),
    };
    let templates: Vec<Vec<u8>> = flows.iter().map(frame).collect();
    let batches = templates.len().div_ceil(BATCH);
    let mut b = RulesBench::new(&text, Some(classifier), templates);
    measured_warmup(&mut b, batches);
    measured_polls(&mut b, batches);
    println!(
        "{name} {n} classifier={classifier}: {} packets measured; {}",
        batches * BATCH,
        b.info
    );
}

fn measured_warmup(b: &mut RulesBench, batches: usize) {
    for _ in 0..batches {
        b.batch();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--callgrind") {
        callgrind(&args[i + 1..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let full = args.iter().any(|a| a == "--full");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let (samples, sample) = if quick {
        (3, Duration::from_millis(20))
    } else {
        (7, Duration::from_millis(150))
    };
    let sizes: &[usize] = if full {
        &[100, 1_000, 10_000, 50_000]
    } else {
        &[100, 1_000, 10_000]
    };
    println!(
        "FORWARD chain in the pipeline, one core, batch {BATCH}, {FLOWS} packets at random rules \
         (1 in {MISS_EVERY} a miss); CPU: {}; {samples} samples of {sample:?}, median",
        cpu_model()
    );
    println!(
        "{:<18} {:>7} {:>11} {:>11} {:>8} {:>7}  FORWARD classifier",
        "shape", "rules", "classifier", "plain", "plain/cls", "Mpps"
    );
    let row = |name: &str, n: usize, text: &str, templates: &[Vec<u8>]| {
        let (cls, info) = measure(text, true, templates, samples, sample);
        let (ps, psample) = if n >= 10_000 {
            (samples.min(3), sample)
        } else {
            (samples, sample)
        };
        let (plain, _) = measure(text, false, templates, ps, psample);
        println!(
            "{name:<18} {n:>7} {cls:>11.1} {plain:>11.1} {:>8.1} {:>7.2}  {info}",
            plain / cls,
            1e3 / cls
        );
        cls
    };
    for name in SHAPES {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let mut at = Vec::new();
        for &n in sizes {
            let s = shape(name, n).expect("known shape");
            let flows = random_flows(&s.flows, FLOWS, MISS_EVERY, 0x5eed ^ n as u64);
            let templates: Vec<Vec<u8>> = flows.iter().map(frame).collect();
            at.push((n, row(name, n, &ruleset(&s.rules), &templates)));
        }
        let get = |n: usize| at.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        if let (Some(a), Some(b)) = (get(100), get(10_000)) {
            println!("{name}: 10 000 rules / 100 rules: {:.2}x", b / a);
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/classbench");
    for name in CLASSBENCH {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let (text, flows) = match classbench(&dir, name, "fwd.trace") {
            Ok(x) => x,
            Err(e) => {
                println!("{name}: skipped ({e})");
                continue;
            }
        };
        let templates: Vec<Vec<u8>> = flows.iter().map(frame).collect();
        let n = text.lines().filter(|l| l.starts_with("-A")).count();
        row(name, n, &text, &templates);
    }
}
