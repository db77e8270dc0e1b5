//! sluice-dataplane: everything a worker core does to a frame.
//!
//! Modules in layers, each importing only earlier ones (ARCHITECTURE.md;
//! `scripts/check-layers` enforces it):
//!
//! 1. [`wire`] (parsing, views), [`io`] (frame memory, ports) and [`ask`]
//!    (the control thread's request channel to a worker)
//! 2. [`packet`]: Pkt, Batch, Verdict, counters
//! 3. [`route`] (FIB, policy, neighbours), then [`net`] (ports, own
//!    addresses, the router)
//! 4. [`rules`], [`conntrack`], [`nat`], [`local`]: the stages
//! 5. [`snapshot`]: the whole configuration, swapped at batch boundaries
//! 6. [`pipeline`]: the hook order, the worker state
//! 7. [`worker`]: the poll loop
//! 8. [`trace`]: `sluice trace`, one packet through a snapshot (off the
//!    workers)

pub mod io;
pub mod wire;

pub mod packet;

pub mod net;
pub mod route;

pub mod conntrack;
pub mod local;
pub mod nat;
pub mod rules;

pub mod snapshot;

pub mod pipeline;

pub mod ask;
pub mod worker;

pub mod trace;
