//! Filtering in the whole pipeline: ns per packet of a forwarded TCP SYN
//! through a filter FORWARD chain of N kube-proxy-shaped rules
//! (`-d 10.64.y.z/32 -p tcp -m tcp --dport P -j ACCEPT`, a distinct
//! address and port per rule, policy DROP), every packet matching the
//! *last* rule — with the classifier (the engine's default) and, in the
//! same run, with the plain ordered evaluation of the same rules
//! (`RulesParams::classifier = false`), for N = 1, 100, 1 000, 10 000 and
//! 50 000; and the pipeline without a rules stage as the baseline.
//!
//! `cargo bench -p sluice-bench --bench filter` (release profile, debug
//! info on). One core, batches of 64 frames on an in-memory port (r0) to
//! a permanent neighbour behind r1; each figure is the median of
//! `SAMPLES` samples of at least `SAMPLE`. Columns:
//!
//! * `classifier` / `plain`: ns per packet of the pipeline (the poll loop
//!   minus refilling the frames, which stands in for the NIC's DMA);
//! * `+stage`: what the rules stage (with the classifier) adds to the
//!   pipeline without one;
//! * `plain/cls`: how much slower the ordered evaluation is.
//!
//! The done criterion: the cost at 10 000 rules within 2x of the
//! cost at 100 (printed at the end). `-- --quick` runs fewer samples;
//! `-- --profile N` measures only the classifier at N rules (0: no rules
//! stage), for a profiler.

use sluice_bench::shapes::{frame, ruleset, shape, Flow, RulesBench};
use sluice_bench::timing::{cpu_model, ns_per_packet};

use std::time::Duration;

use sluice_dataplane::pipeline::BATCH;

const SIZES: &[usize] = &[1, 100, 1_000, 10_000, 50_000];

/// The kube-proxy chain of `rules` services and 64 SYNs (from 10.0.1.10,
/// source ports 40000..40063) matching its last rule.
fn bench(rules: usize, classifier: Option<bool>) -> RulesBench {
    let kube = shape("kube", rules.max(1)).expect("kube shape");
    let last = kube.flows[rules.max(1) - 1];
    let templates = (0..BATCH)
        .map(|k| {
            frame(&Flow {
                sport: 40_000 + k as u16,
                ..last
            })
        })
        .collect();
    RulesBench::new(&ruleset(&kube.rules[..rules]), classifier, templates)
}

/// ns per packet of the pipeline (loop minus refill) for one setup.
fn measure(
    rules: usize,
    classifier: Option<bool>,
    samples: usize,
    sample: Duration,
) -> (f64, String) {
    let mut b = bench(rules, classifier);
    let info = b.info.clone();
    let before = b.forwarded();
    b.batch();
    assert_eq!(
        b.forwarded() - before,
        BATCH as u64,
        "every packet matches the last rule and is forwarded"
    );
    let free = b.worker.umem.free_count();
    let whole = ns_per_packet(samples, sample, BATCH, || b.batch());
    let refill = ns_per_packet(samples, sample, BATCH, || b.refill_only());
    assert_eq!(b.worker.umem.free_count(), free, "frames leaked");
    (whole - refill, info)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--profile N`: only the classifier at N rules, for a profiler.
    if let Some(n) = args
        .iter()
        .position(|a| a == "--profile")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
    {
        // 0: the pipeline without a rules stage.
        let classifier = (n > 0).then_some(true);
        let (ns, _) = measure(n, classifier, 20, Duration::from_millis(250));
        println!("{n} rules, classifier: {ns:.1} ns/packet");
        return;
    }
    let (samples, sample) = if quick {
        (3, Duration::from_millis(20))
    } else {
        (11, Duration::from_millis(200))
    };
    println!(
        "filter FORWARD in the pipeline, one core, batch {BATCH}, TCP SYN matching the last \
         rule; CPU: {}; {} samples of {:?}, median",
        cpu_model(),
        samples,
        sample
    );
    let (base, _) = measure(0, None, samples, sample);
    println!("pipeline without a rules stage: {base:.1} ns/packet");
    println!(
        "{:>7} {:>12} {:>9} {:>12} {:>10}  FORWARD's classifier",
        "rules", "classifier", "+stage", "plain", "plain/cls"
    );
    let mut at = Vec::new();
    for &n in SIZES {
        let (cls, info) = measure(n, Some(true), samples, sample);
        // The ordered evaluation at 50 000 rules costs ~100 µs a packet:
        // fewer, shorter samples keep the run short.
        let (plain_samples, plain_sample) = if n >= 10_000 {
            (samples.min(5), sample)
        } else {
            (samples, sample)
        };
        let (plain, _) = measure(n, Some(false), plain_samples, plain_sample);
        println!(
            "{n:>7} {cls:>12.1} {:>9.1} {plain:>12.1} {:>10.1}  {info}",
            cls - base,
            plain / cls
        );
        at.push((n, cls));
    }
    let get = |n: usize| at.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
    if let (Some(a), Some(b)) = (get(100), get(10_000)) {
        println!(
            "10 000 rules / 100 rules (classifier): {:.2}x — done criterion (within 2x): {}",
            b / a,
            if b <= 2.0 * a { "met" } else { "NOT met" }
        );
    }
}
