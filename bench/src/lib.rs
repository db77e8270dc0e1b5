//! sluice-bench: traffic tools, pipeline benchmarks and the kernel side of
//! the differential tests.
//!
//! * [`netns`]: network namespaces (deleted on drop, stale ones swept) and
//!   veth pairs.
//! * [`afpacket`]: raw Ethernet frames in and out of an interface.
//! * [`frames`]: probe frame builders, capture summaries and comparison.
//! * [`kernel`]: an appliance config and ruleset loaded into Linux in a
//!   router namespace, probed with crafted frames — the oracle of the
//!   differential tests.
//! * [`sluice`]: the same config and ruleset loaded into a sluice pipeline
//!   with in-memory ports, probed in the same shape — the other half of the
//!   differential tests (`tests/differential.rs`).
//! * [`ctlist`]: the kernel's `conntrack -L` and a sluice shard as lines
//!   of one comparable form.
//! * [`lab`]: the throughput lab (lan ─ rtr ─ wan namespaces, the kernel
//!   or `sluice run` as the router, the UDP blast and TCP bulk tools) that
//!   the `sluice-lab-bench` binary measures.
//! * [`pipeline`]: the forwarding benchmark's worker and traffic
//!   (`benches/pipeline.rs`, and the `sluice-pipeline-fixed` binary for
//!   callgrind).
//! * [`shapes`]: the classifier benchmarks' rulesets (issue 15's shapes,
//!   ClassBench) and traffic, and the whole-pipeline harness running them
//!   (`benches/filter.rs`, `benches/shapes.rs`).
//! * [`conntrack`]: the conntrack and NAT benchmark's worker and traffic
//!   (`benches/conntrack.rs`, and the `sluice-conntrack-fixed` binary).
//!
//! * [`compare`]: `sluice-bench compare`, the kernel (iptables-legacy,
//!   iptables-nft) and `sluice run` in the lab under gen → sink, and
//!   `bench/RESULTS.md`.
//! * [`cost`]: `sluice-bench cost`, callgrind instructions per packet.
//!
//! The `sluice-probe` binary (src/bin) sends and captures the probes.

pub mod afpacket;
pub mod compare;
pub mod conntrack;
pub mod cost;
pub mod ctlist;
pub mod frames;
pub mod gen;
pub mod kernel;
pub mod lab;
pub mod netns;
pub mod pipeline;
pub mod shapes;
pub mod sluice;
pub mod timing;
