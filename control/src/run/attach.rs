//! What the daemon attaches to: the interfaces' AF_XDP sockets
//! ([`sluice_dataplane::io::xsk`]), the host-side TAPs
//! ([`sluice_dataplane::io::tap`]) and the worker cores. Errors come back
//! as one line naming the interface (or core) and the fix.

use sluice_config::appliance::{Appliance, Dataplane};
use sluice_dataplane::io::tap::{tap_name, HostPlan, Tap, TapQueue};
use sluice_dataplane::io::xsk::{self, IfInfo, XskConfig, XskPort};
use sluice_dataplane::io::Umem;
use sluice_dataplane::wire::MacAddr;
use sluice_dataplane::worker::Worker;

/// An interface as [`xsk::preflight`] found it.
pub struct Found {
    pub mac: MacAddr,
    pub mtu: u32,
    pub queues: u32,
}

/// Checks `ifname` can be attached with `workers` queues, before anything
/// is: it exists, is up, has the queues and no foreign XDP program.
pub fn preflight(ifname: &str, workers: u32) -> Result<Found, String> {
    let IfInfo {
        mac, mtu, queues, ..
    } = xsk::preflight(ifname, workers).map_err(|e| e.to_string())?;
    Ok(Found {
        mac: MacAddr(mac),
        mtu,
        queues,
    })
}

/// Removes the XDP program a killed run left on `ifname`; whether there
/// was one.
pub fn detach_stale(ifname: &str) -> Result<bool, String> {
    xsk::detach_stale(ifname).map_err(|e| e.to_string())
}

/// Chunks of each worker's UMEM with `ports` interfaces: room for every
/// port's fill ring, its RX and TX rings, and the pipeline's queues.
pub fn umem_frames(ports: usize) -> u32 {
    (4096 * ports as u32).max(8192)
}

/// Worker `w`'s frame arena and its port on each interface (queue `w`).
pub fn open_worker(ifnames: &[&str], w: u32) -> Result<(Umem, Vec<XskPort>), String> {
    let cfg = XskConfig {
        frames: umem_frames(ifnames.len()),
        ..XskConfig::default()
    };
    xsk::open_worker(ifnames, w, &cfg).map_err(|e| format!("worker {w}: {e}"))
}

/// The CPU of each worker: `[dataplane] cores`, or the first `workers`
/// CPUs the daemon may run on.
pub fn cores(d: &Dataplane) -> Result<Vec<core_affinity::CoreId>, String> {
    let allowed = core_affinity::get_core_ids().unwrap_or_default();
    if d.cores.is_empty() {
        return Ok(allowed.into_iter().take(d.workers as usize).collect());
    }
    d.cores
        .iter()
        .map(|&c| {
            allowed
                .iter()
                .copied()
                .find(|a| a.id == usize::from(c))
                .ok_or_else(|| {
                    format!(
                        "[dataplane] cores: CPU {c} is not one this process may run on (allowed: {})",
                        allowed
                            .iter()
                            .map(|a| a.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect()
}

/// The host side: a TAP per interface with a queue per worker. The TAPs
/// exist while a queue is open: when the workers (which own the queues)
/// are gone, so are the TAPs, also after a SIGKILL.
pub struct Taps {
    names: Vec<String>,
    /// `queues[port][worker]`, taken by [`Taps::attach`].
    queues: Vec<Vec<Option<TapQueue>>>,
}

impl Taps {
    pub fn create(a: &Appliance, macs: &[MacAddr], workers: u32) -> Result<Taps, String> {
        let mut names = Vec::new();
        let mut queues = Vec::new();
        for (iface, &mac) in a.interfaces.iter().zip(macs) {
            let name = tap_name(&iface.name).map_err(|e| e.to_string())?;
            let q = Tap::open_queues(&name, workers as usize).map_err(|e| e.to_string())?;
            HostPlan::interface(iface, mac)
                .and_then(|p| p.apply())
                .map_err(|e| e.to_string())?;
            queues.push(q.into_iter().map(Some).collect());
            names.push(name);
        }
        HostPlan::routes(a)
            .and_then(|p| p.apply())
            .map_err(|e| e.to_string())?;
        Ok(Taps { names, queues })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Gives worker `w` its queue of every TAP.
    pub fn attach(&mut self, worker: &mut Worker<XskPort>, w: usize) -> Result<(), String> {
        let taps = self
            .queues
            .iter_mut()
            .map(|q| q.get_mut(w).and_then(Option::take))
            .collect();
        worker.set_taps(taps);
        Ok(())
    }
}
