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

pub mod cli;
pub mod flows;
pub mod gen_run;
pub mod host;
pub mod mark;
pub mod pace;
pub mod seqtrack;
pub mod sink_run;
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
