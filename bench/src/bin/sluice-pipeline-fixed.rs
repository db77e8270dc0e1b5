//! Forwards a fixed number of packets through the pipeline bench setup
//! (`sluice_bench::pipeline`) and prints the counters: the
//! callgrind-friendly form of `benches/pipeline.rs`.
//!
//! ```text
//! cargo build --release -p sluice-bench --bin sluice-pipeline-fixed
//! valgrind --tool=callgrind --toggle-collect='*ForwardBench*run_batches*' \
//!     target/release/sluice-pipeline-fixed 640000 [v4|v6|v4r|v6r] [PREFIXES]
//! ```
//!
//! `v4r` / `v6r`: 4 096 random destinations over the FIB
//! (`ForwardBench::random`) in place of the same 64 every batch.
//!
//! `kube10k`: the filter path instead: 10 000 kube-proxy-shaped FORWARD
//! rules (`shapes::shape("kube")`, the classifier on) and 4 096 random
//! flows aimed at them, 1 in 16 a miss, through `shapes::RulesBench`;
//! collect with `--toggle-collect='*filter_batches*'`.
//!
//! `kube10k6`: the same on IPv6 (`shapes::rules_v6` of the rules in the
//! ip6tables FORWARD chain, `shapes::frame6` of the flows; the iptables
//! tables empty).
//!
//! `--toggle-collect` leaves out the setup (parsing 10 000 routes, building
//! the FIB); instructions per packet are then `Ir / packets`.

use sluice_bench::pipeline::{check_output, Family, ForwardBench};
use sluice_bench::shapes::{frame, frame6, random_flows, rules_v6, ruleset, shape, RulesBench};
use sluice_dataplane::pipeline::BATCH;

/// The measured loop of `kube10k` (callgrind's toggle point).
#[inline(never)]
fn filter_batches(b: &mut RulesBench, batches: usize) {
    for _ in 0..batches {
        b.batch();
    }
}

fn filter(packets: usize, v6: bool) {
    let s = shape("kube", 10_000).expect("the kube shape");
    let flows = random_flows(&s.flows, 4096, 16, 7);
    let mut b = if v6 {
        let templates = flows.iter().map(frame6).collect();
        RulesBench::new6(&ruleset(&rules_v6(&s.rules)), true, templates)
    } else {
        let templates = flows.iter().map(frame).collect();
        RulesBench::new(&ruleset(&s.rules), Some(true), templates)
    };
    let batches = packets.div_ceil(BATCH);
    let before = b.forwarded();
    filter_batches(&mut b, batches);
    let forwarded = b.forwarded() - before;
    println!(
        "{forwarded} packets forwarded in {batches} batches of {BATCH} (kube10k{}, {})",
        if v6 { "6" } else { "" },
        b.info
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let packets: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(640_000);
    let case = args.get(2).map(String::as_str).unwrap_or("v4");
    if case == "kube10k" || case == "kube10k6" {
        filter(packets, case == "kube10k6");
        return;
    }
    let (family, random) = match case {
        "v4" => (Family::V4, false),
        "v6" => (Family::V6, false),
        "v4r" => (Family::V4, true),
        "v6r" => (Family::V6, true),
        other => {
            eprintln!("unknown case {other:?}: want v4, v6, v4r, v6r, kube10k or kube10k6");
            std::process::exit(2);
        }
    };
    let prefixes: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let mut b = if random {
        ForwardBench::random(prefixes, family)
    } else {
        ForwardBench::new(prefixes, family)
    };
    let out = b.sample_output().expect("the bench forwards");
    if let Err(e) = check_output(&out) {
        eprintln!("bad output: {e}");
        std::process::exit(1);
    }
    let batches = packets.div_ceil(BATCH);
    let forwarded = b.run_batches(batches);
    println!("{forwarded} packets forwarded in {batches} batches of {BATCH} ({case}, {prefixes} prefixes)");
    for (name, v) in b.counters() {
        println!("{name:<28} {v}");
    }
}
