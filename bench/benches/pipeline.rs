//! Forwarding through the whole pipeline on one core: frames in on an
//! in-memory port, parsed, routed through a 10 000-prefix FIB (and, for
//! comparison, a FIB of one default route), TTL decremented, MACs
//! rewritten, neighbour resolved, out of the other port; empty ruleset.
//! See `sluice_bench::pipeline` for the setup.
//!
//! `cargo bench -p sluice-bench --bench pipeline` (release profile, debug
//! info on). Each figure is the median of `SAMPLES` samples of at least
//! `SAMPLE` each, in batches of 64 frames. Columns:
//!
//! * `loop`: ns per packet of the whole loop — refilling the 64 chunks
//!   from templates (the NIC's DMA, a memcpy here), RX, pipeline, TX,
//!   completion;
//! * `refill`: ns per packet of the refill alone;
//! * `pipeline`: `loop` − `refill`: what the worker does per packet;
//! * `Mpps`: packets per second at `pipeline` ns.
//!
//! `-- --quick` runs fewer samples (a smoke test).

use sluice_bench::timing::{cpu_model, ns_per_packet};

use std::hint::black_box;
use std::time::Duration;

use sluice_bench::pipeline::{check_output, Family, ForwardBench};
use sluice_dataplane::pipeline::BATCH;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (samples, sample) = if quick {
        (3, Duration::from_millis(20))
    } else {
        (11, Duration::from_millis(200))
    };
    println!(
        "pipeline forwarding, one core, batch {BATCH}, empty ruleset; CPU: {}; {} samples of {:?}",
        cpu_model(),
        samples,
        sample
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>8}",
        "case", "loop ns", "refill ns", "pipeline", "Mpps"
    );
    for (name, prefixes, family, random) in [
        ("ipv4, 1 route", 0, Family::V4, false),
        ("ipv4, 10k prefixes", 10_000, Family::V4, false),
        ("ipv4, 10k, 4096 random dsts", 10_000, Family::V4, true),
        ("ipv6, 10k prefixes", 10_000, Family::V6, false),
    ] {
        let mut b = if random {
            ForwardBench::random(prefixes, family)
        } else {
            ForwardBench::new(prefixes, family)
        };
        let out = b.sample_output().expect("the bench forwards");
        check_output(&out).expect("forwarded frame");
        let free = b.free_frames();
        let whole = ns_per_packet(samples, sample, BATCH, || {
            black_box(b.run_batches(1));
        });
        let refill = ns_per_packet(samples, sample, BATCH, || b.refill_only());
        assert_eq!(b.free_frames(), free, "frames leaked");
        let pipeline = whole - refill;
        println!(
            "{name:<28} {whole:>10.1} {refill:>10.1} {pipeline:>10.1} {:>8.2}",
            1e3 / pipeline
        );
    }
}
