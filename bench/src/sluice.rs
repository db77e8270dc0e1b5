//! The sluice half of the differential tests: the same appliance config,
//! ruleset and sets as [`crate::kernel::KernelRouter`], loaded into a
//! sluice [`Pipeline`] with one in-memory port per `[[interface]]`, probed
//! with the same frames and answering in the same shape.
//!
//! ```text
//!   probe ──inject──▶ MemPort "r0" ─┐                ┌─ MemPort "r1" ──take_sent──▶ Captured
//!                                   └─ Worker::poll ─┘
//!                       (Pipeline: the compiled ruleset in its snapshot, routing, neighbours)
//! ```
//!
//! [`SluiceRouter::new`] parses the appliance TOML, the ruleset and the
//! sets with `sluice_config`, builds the [`Snapshot`] from the appliance,
//! gives port `i` the kernel router's MAC ([`crate::kernel::router_mac`]),
//! and builds its snapshot with the ruleset compiled. Neighbours
//! are permanent entries ([`SluiceRouter::add_neighbour`],
//! [`SluiceRouter::add_host`], the kernel side's twins).
//!
//! [`SluiceRouter::probe`] injects the frames one at a time, in order; after
//! each it polls the worker until the port queues are empty, moves the
//! clock on by `wait` (timers fire, as they would while the kernel side
//! listens) and collects every frame transmitted on any port, tagged with
//! the probe's index — the shape of [`crate::kernel::KernelRouter::probe`].
//!
//! Time is simulated: the clock starts when the router is built and moves
//! only by `wait` per probe and by [`SluiceRouter::advance`], so a run is
//! deterministic. Tests that sleep between kernel probes (`recent
//! --seconds`, `limit`) advance this clock by the same amount.
//!
//! Frames sluice punts to the host stack (local TCP/UDP, fragments for the
//! box) are not transmitted and so not in the capture; they are kept
//! apart ([`SluiceRouter::take_punted`]). The kernel answers those itself
//! (a reset, a port unreachable), which is the host stack's part, not the
//! pipeline's: differential probes to the router's own TCP/UDP ports are
//! meaningful only when a rule drops or rejects them.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_config::appliance::{self, Appliance};
use sluice_config::{ipset, iptables};
use sluice_dataplane::io::mem::MemPort;
use sluice_dataplane::io::Umem;
use sluice_dataplane::pipeline::{Counters, Pipeline, PipelineParams, Snapshot};
use sluice_dataplane::route::PortId;
use sluice_dataplane::rules::log::LogRecord;
use sluice_dataplane::rules::{RulesParams, RulesReader};
use sluice_dataplane::worker::Worker;

use crate::frames::{Captured, MacAddr};
use crate::kernel::{host_mac, router_mac};

/// Frames in the arena.
const FRAMES: u32 = 4096;
/// Bytes per frame chunk (a 1500-byte MTU frame fits).
const FRAME_SIZE: u32 = 2048;
/// RX and TX ring size of every in-memory port.
const RING: usize = 1024;
/// The most poll turns one probe may take before its RX queue is empty.
const MAX_POLLS: usize = 64;

/// A frame sluice handed to the host stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Punted {
    /// The probe that was sent last before it.
    pub probe: usize,
    /// The port it arrived on.
    pub port: String,
    pub frame: Vec<u8>,
}

/// sluice configured as the appliance: see the module docs.
pub struct SluiceRouter {
    appliance: Appliance,
    worker: Worker<MemPort>,
    names: Vec<String>,
    rules: RulesReader,
    now: Instant,
    punted: Vec<Punted>,
}

impl std::fmt::Debug for SluiceRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SluiceRouter")
            .field("ports", &self.names)
            .field("pipeline", &self.worker.pipeline)
            .finish()
    }
}

impl SluiceRouter {
    /// Builds the pipeline for `appliance_toml` with `rules_v4` (an
    /// `iptables-restore` file) and `sets` (an `ipset save` file) compiled
    /// into its rules stage. The TOML's `[firewall]` file names are not
    /// read. Errors name what did not parse or compile.
    pub fn new(
        appliance_toml: &str,
        rules_v4: &str,
        sets: Option<&str>,
    ) -> Result<SluiceRouter, String> {
        SluiceRouter::new_dual(appliance_toml, rules_v4, None, sets)
    }

    /// [`SluiceRouter::new`] with an `ip6tables-restore` file too.
    pub fn new_dual(
        appliance_toml: &str,
        rules_v4: &str,
        rules_v6: Option<&str>,
        sets: Option<&str>,
    ) -> Result<SluiceRouter, String> {
        let appliance = parse_appliance(appliance_toml)?;
        let ruleset = iptables::parse(rules_v4, Path::new("rules.v4"))
            .map_err(|e| format!("ruleset: {e}"))?;
        let ruleset6 = rules_v6
            .map(|r| iptables::parse6(r, Path::new("rules.v6")))
            .transpose()
            .map_err(|e| format!("ip6tables ruleset: {e}"))?;
        let sets = ipset::parse(sets.unwrap_or(""), Path::new("sets.ipset"))
            .map_err(|e| format!("sets: {e}"))?;
        let snapshot = Snapshot::build_dual(
            &appliance,
            &ruleset,
            ruleset6.as_ref(),
            &sets,
            RulesParams::default(),
            1,
        )
        .map_err(|e| match e {
            sluice_dataplane::snapshot::SnapshotError::Route(e) => format!("routes: {e}"),
            e => format!("compiling the ruleset: {e}"),
        })?;
        let names: Vec<String> = appliance
            .interfaces
            .iter()
            .map(|i| i.name.clone())
            .collect();
        let macs = (0..names.len()).map(router_mac).collect();
        let now = Instant::now();
        // One worker: the whole `[dataplane] conntrack_max` is its shard.
        let params = PipelineParams {
            workers: 1,
            conntrack_max: appliance.dataplane.conntrack_max as usize,
            ..PipelineParams::for_appliance(&appliance)
        };
        let pipeline = Pipeline::with_params(Arc::new(snapshot), macs, params, now);
        let rules = pipeline
            .rules_reader()
            .expect("a snapshot built with a ruleset has one");
        let ports = names.iter().map(|_| MemPort::new(RING)).collect();
        Ok(SluiceRouter {
            appliance,
            worker: Worker::new(Umem::new(FRAMES, FRAME_SIZE), ports, pipeline),
            names,
            rules,
            now,
            punted: Vec::new(),
        })
    }

    /// The parsed appliance config.
    pub fn appliance(&self) -> &Appliance {
        &self.appliance
    }

    fn port_id(&self, name: &str) -> PortId {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no port {name:?} in the appliance config"));
        PortId(i as u16)
    }

    /// The router's MAC on `port` (the kernel router's). Panics when there
    /// is no such port.
    pub fn router_mac(&self, port: &str) -> MacAddr {
        router_mac(self.port_id(port).index())
    }

    /// The host's MAC at the other end of `port` (the kernel side's).
    /// Panics when there is no such port.
    pub fn host_mac(&self, port: &str) -> MacAddr {
        host_mac(self.port_id(port).index())
    }

    /// A permanent neighbour entry: `ip` is at `mac` on `port`.
    pub fn add_neighbour(&mut self, port: &str, ip: IpAddr, mac: MacAddr) {
        let p = self.port_id(port);
        let now = self.now;
        let w = &mut self.worker;
        w.pipeline
            .add_permanent_neighbour(&mut w.umem, p, ip, mac, now);
        // Anything that was waiting for it leaves now.
        w.pipeline.flush_tx(&mut w.umem, &mut w.ports);
    }

    /// [`SluiceRouter::add_neighbour`] with the MAC of `port`'s host.
    pub fn add_host(&mut self, port: &str, ip: IpAddr) {
        let mac = self.host_mac(port);
        self.add_neighbour(port, ip, mac);
    }

    /// Moves the clock on by `d` and runs the timers.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.worker.poll(self.now);
    }

    /// Sends each `(port, frame)` into `port`, in order, running the
    /// pipeline and then moving the clock on by `wait` after each, and
    /// returns the frames transmitted meanwhile on every port, each tagged
    /// with the index of its probe. Frames left over from before the first
    /// probe are discarded.
    pub fn probe<S: AsRef<str>>(
        &mut self,
        frames: &[(S, Vec<u8>)],
        wait: Duration,
    ) -> Result<Vec<Captured>, String> {
        self.collect();
        self.worker.pipeline.punt().take_all(&mut self.worker.umem);
        let mut captured = Vec::new();
        for (index, (port, frame)) in frames.iter().enumerate() {
            let port = port.as_ref();
            let Some(p) = self.names.iter().position(|n| n == port) else {
                return Err(format!("probe on unknown port {port:?}"));
            };
            let w = &mut self.worker;
            if !w.ports[p].inject(&mut w.umem, frame) {
                return Err(format!(
                    "probe {index} on {port}: the port refused the frame ({} bytes)",
                    frame.len()
                ));
            }
            let mut polls = 0;
            while w.ports.iter().any(|q| q.rx_pending() > 0) {
                polls += 1;
                if polls > MAX_POLLS {
                    return Err(format!("probe {index} on {port}: RX queues do not drain"));
                }
                w.poll(self.now);
            }
            self.now += wait;
            self.worker.poll(self.now);
            for (port, frame) in self.collect() {
                captured.push(Captured {
                    probe: index,
                    port,
                    frame,
                });
            }
            let w = &mut self.worker;
            for (p, frame) in w.pipeline.punt().take_all(&mut w.umem) {
                self.punted.push(Punted {
                    probe: index,
                    port: self.names[p.index()].clone(),
                    frame,
                });
            }
        }
        Ok(captured)
    }

    /// Every frame transmitted since the last call, port by port.
    fn collect(&mut self) -> Vec<(String, Vec<u8>)> {
        let w = &mut self.worker;
        let mut out = Vec::new();
        for (name, port) in self.names.iter().zip(w.ports.iter_mut()) {
            for f in port.take_sent(&mut w.umem) {
                out.push((name.clone(), f));
            }
        }
        out
    }

    /// The frames punted to the host stack since the last call.
    pub fn take_punted(&mut self) -> Vec<Punted> {
        std::mem::take(&mut self.punted)
    }

    /// The LOG records the rules stage captured since the last call, oldest
    /// first (sluice keeps them in a ring; the kernel writes them to its
    /// log).
    pub fn take_log(&mut self) -> Vec<LogRecord> {
        let mut out = Vec::new();
        self.rules.drain_log(&mut out);
        out
    }

    /// The pipeline's counters (drops by reason, ICMP errors sent, ...).
    pub fn pipeline_counters(&self) -> Counters {
        self.worker.pipeline.counters()
    }

    /// The conntrack shard as [`crate::ctlist`] lines, sorted (confirmed,
    /// unexpired entries, as `conntrack -L` lists them).
    pub fn conntrack_entries(&self) -> Vec<String> {
        crate::ctlist::from_shard(&self.worker.pipeline.state().conntrack, self.now)
    }

    /// The whole ruleset with its packet and byte counters, as
    /// `iptables-save -c` prints it (the rules stage's
    /// `save_with_counters`).
    pub fn save_with_counters(&self) -> String {
        self.rules.save_with_counters()
    }

    /// The rules of `table` with their counters, in the form of
    /// [`crate::kernel::KernelRouter::counters`]: the `*TABLE` section of
    /// [`SluiceRouter::save_with_counters`] (through its `COMMIT`), `#`
    /// lines removed; empty when the ruleset has no such table.
    pub fn counters(&self, table: &str) -> String {
        table_section(&self.save_with_counters(), table)
    }

    /// [`SluiceRouter::counters`] of an ip6tables table.
    pub fn counters6(&self, table: &str) -> String {
        table_section(&self.rules.save_with_counters6(), table)
    }
}

/// The `*TABLE` ... `COMMIT` section of an `iptables-save` text, each line
/// newline-terminated, comments left out; empty when there is none.
pub fn table_section(save: &str, table: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in save.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            inside = name.trim() == table;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
            if line.trim() == "COMMIT" {
                inside = false;
            }
        }
    }
    out
}

/// The appliance config both routers are built from: it parses, and its
/// interfaces number at most 254 (the last octet of the host MACs and the
/// test networks).
pub(crate) fn parse_appliance(toml: &str) -> Result<Appliance, String> {
    let appliance = appliance::parse(toml, Path::new("appliance.toml"))
        .map_err(|e| format!("appliance config: {e}"))?;
    if appliance.interfaces.len() > 254 {
        return Err("more than 254 interfaces".into());
    }
    Ok(appliance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_section_picks_one_table() {
        let save = "# Generated\n*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n\
                    *filter\n:INPUT ACCEPT [1:2]\n[3:4] -A INPUT -j DROP\nCOMMIT\n# done\n";
        assert_eq!(
            table_section(save, "filter"),
            "*filter\n:INPUT ACCEPT [1:2]\n[3:4] -A INPUT -j DROP\nCOMMIT\n"
        );
        assert_eq!(table_section(save, "nat"), "");
    }
}
