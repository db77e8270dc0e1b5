//! The DHCP thread (`sluice-dhcp`): runs one [`Client`] per interface with
//! `address = ["dhcp"]`, fed by the workers through the
//! [`DhcpLink`] (the server's answers, taken before any hook) and sending
//! through it (a worker queues the frames on the port's TX at its next
//! poll turn).
//!
//! Why a thread of its own and not worker 0's slow path: installing a
//! lease compiles a configuration and waits for every worker to run it
//! (`Control::set_lease`), which a worker cannot wait for; and why not the
//! API thread: an API request (an apply) may hold the control state for a
//! while, and the client's timers should not wait on a client of the API.
//! It wakes every [`TICK`]; the client's timers are in seconds.
//!
//! One log line per lease event (acquired, renewed, lost), one more when
//! the change is running on the workers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_dataplane::io::PortId;
use sluice_dataplane::local::dhcp::DhcpLink;
use sluice_dataplane::wire::MacAddr;

use super::api::Control;
use super::log::Log;
use crate::dhcp::client::{Client, Event, Lease};
use crate::dhcp::{Binding, Status};

/// How often the thread looks at the link and the timers.
pub const TICK: Duration = Duration::from_millis(20);
/// How often it asks which interfaces are DHCP interfaces (an apply may
/// change that).
const PORTS_EVERY: Duration = Duration::from_secs(1);

/// See the module docs.
pub struct Driver {
    link: DhcpLink,
    macs: Vec<MacAddr>,
    control: Arc<Mutex<Control>>,
    status: Arc<Mutex<Vec<Status>>>,
    /// By port: (interface name, client).
    clients: BTreeMap<u16, (String, Client)>,
    ports_at: Option<Instant>,
    log: Log,
}

fn describe(l: &Lease) -> String {
    format!(
        "{}/{} router {} from server {}, lease {} (T1 {}s, T2 {}s)",
        l.addr,
        l.prefix,
        l.router_text(),
        l.server,
        l.time_text(),
        l.t1_secs,
        l.t2_secs
    )
}

impl Driver {
    pub fn new(
        link: DhcpLink,
        macs: Vec<MacAddr>,
        control: Arc<Mutex<Control>>,
        log: Log,
    ) -> Driver {
        let status = match control.lock() {
            Ok(c) => Arc::clone(&c.dhcp),
            Err(_) => Arc::default(),
        };
        Driver {
            link,
            macs,
            control,
            status,
            clients: BTreeMap::new(),
            ports_at: None,
            log,
        }
    }

    /// Follows the set of DHCP interfaces of the running configuration.
    fn follow_ports(&mut self, now: Instant) {
        if self
            .ports_at
            .is_some_and(|t| now.duration_since(t) < PORTS_EVERY)
        {
            return;
        }
        self.ports_at = Some(now);
        let ports = match self.control.lock() {
            Ok(c) => c.dhcp_ports(),
            Err(_) => return,
        };
        let gone: Vec<u16> = self
            .clients
            .keys()
            .filter(|p| !ports.iter().any(|(q, _)| q == *p))
            .copied()
            .collect();
        for p in gone {
            if let Some((name, _)) = self.clients.remove(&p) {
                self.install(
                    &name,
                    None,
                    &format!("dhcp: {name}: no longer a DHCP interface"),
                );
            }
        }
        for (p, name) in ports {
            let Some(mac) = self.macs.get(p as usize) else {
                continue;
            };
            self.clients.entry(p).or_insert_with(|| {
                let seed = u64::from_le_bytes([
                    mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5], 0, 0,
                ]) ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                (name, Client::new(mac.0, seed, now))
            });
        }
    }

    /// Installs `b` for `name`; logs `why` (one line: with the
    /// generation that runs it, or alone when nothing changed).
    fn install(&self, name: &str, b: Option<Binding>, why: &str) {
        let r = match self.control.lock() {
            Ok(mut c) => c.set_lease(name, b, why),
            Err(_) => Err(format!("{why}: the control state is poisoned")),
        };
        match r {
            Ok(true) => {}
            Ok(false) => self.log.step(why),
            Err(e) => self.log.error(&e),
        }
    }

    /// One turn: frames in, timers, frames out, lease events installed.
    pub fn turn(&mut self, now: Instant) {
        self.follow_ports(now);
        while let Some(f) = self.link.recv() {
            if let Some((_, c)) = self.clients.get_mut(&f.port.0) {
                c.input(f.bytes(), now);
            }
            self.link.done(f);
        }
        let mut events = Vec::new();
        for (&p, (name, c)) in &mut self.clients {
            c.poll(now);
            for f in c.take_frames() {
                // A full link: the retransmission timer tries again.
                let _ = self.link.send(PortId(p), &f);
            }
            events.extend(c.take_events().into_iter().map(|e| (name.clone(), e)));
        }
        for (name, e) in events {
            match e {
                Event::Acquired(l) => {
                    let why = format!("dhcp: {name}: acquired {}", describe(&l));
                    self.install(&name, Some(Binding::of(&l)), &why);
                }
                Event::Renewed(l) => {
                    let why = format!("dhcp: {name}: renewed {}", describe(&l));
                    self.install(&name, Some(Binding::of(&l)), &why);
                }
                Event::Lost { lease, why } => {
                    let why = format!("dhcp: {name}: lost {}/{} ({why})", lease.addr, lease.prefix);
                    self.install(&name, None, &why);
                }
            }
        }
        let status: Vec<Status> = self
            .clients
            .values()
            .map(|(name, c)| Status::of(name, c, now))
            .collect();
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }
}

/// Runs `d` until `stop`.
pub fn serve(mut d: Driver, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        d.turn(Instant::now());
        std::thread::sleep(TICK);
    }
}
