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
//! `--toggle-collect` leaves out the setup (parsing 10 000 routes, building
//! the FIB); instructions per packet are then `Ir / packets`.

use sluice_bench::pipeline::{check_output, Family, ForwardBench};
use sluice_dataplane::pipeline::BATCH;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let packets: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(640_000);
    let case = args.get(2).map(String::as_str).unwrap_or("v4");
    let (family, random) = match case {
        "v4" => (Family::V4, false),
        "v6" => (Family::V6, false),
        "v4r" => (Family::V4, true),
        "v6r" => (Family::V6, true),
        other => {
            eprintln!("unknown case {other:?}: want v4, v6, v4r or v6r");
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
