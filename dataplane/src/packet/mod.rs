//! The packet vocabulary every stage speaks: a packet of a batch ([`Pkt`]:
//! frame, parsed metadata, mark, conntrack slot, ports, routing result),
//! the batch and the view a hook point gets of it ([`Batch`]), verdicts
//! with typed drop reasons, and the per-worker counters (`stage.reason`)
//! with the frame ledger.
//!
//! Layer: above `wire` and `io`, below everything else (see
//! ARCHITECTURE.md). Nothing here knows the hook order, the rules or the
//! configuration; `pipeline` drives, the stages use this vocabulary.

mod batch;
pub mod counters;
pub mod latency;
#[cfg(test)]
pub(crate) mod testing;

pub use batch::{
    rewrite_dst, Batch, BatchBuf, Bits, CtInfo, CtState, Dest, Emit, EmitKind, L2Class, Pkt,
    Verdict, BATCH,
};
pub use counters::{Counter, CounterBlock, Counters, Kind, Ledger, UmemLedger};
pub use latency::{BatchTimes, LatencyBlock};
