//! Sends a fixed number of packets through the conntrack bench setup
//! (`sluice_bench::conntrack`) and prints the counters: the
//! callgrind-friendly form of `benches/conntrack.rs`.
//!
//! ```text
//! cargo build --release -p sluice-bench --bin sluice-conntrack-fixed
//! valgrind --tool=callgrind --toggle-collect='*CtBench*run_batches*' \
//!     target/release/sluice-conntrack-fixed PACKETS FLOWS [none|stateless|ct|nat] [MISS]
//! ```
//!
//! `--toggle-collect` leaves out the setup (populating the flows through
//! the pipeline); instructions per packet are then `Ir / packets`, of
//! which `CtBench::refill` (writing the frames) is the NIC's share
//! (`callgrind_annotate --inclusive=yes`).

use sluice_bench::conntrack::{CtBench, Mode};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let packets: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(128_000);
    let flows: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let mode = match args.get(3).map(String::as_str) {
        Some("none") => Mode::NoRules,
        Some("stateless") => Mode::Stateless,
        Some("ct") | None => Mode::Ct,
        Some("nat") => Mode::CtNat,
        Some(m) => {
            eprintln!("unknown mode {m:?}: none, stateless, ct or nat");
            std::process::exit(2);
        }
    };
    let miss: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let mut b = CtBench::new(mode, 1 << 20, flows, miss);
    if mode.tracks() {
        b.populate(true);
        assert!(b.all_established());
    }
    let turns = packets.div_ceil(CtBench::TURN);
    let forwarded = b.run_batches(turns);
    println!(
        "{forwarded} of {} packets forwarded in {turns} turns of {} ({mode:?}, {flows} flows, miss {miss})",
        turns * CtBench::TURN,
        CtBench::TURN
    );
    for (name, v) in b.counters() {
        println!("{name:<32} {v}");
    }
}
