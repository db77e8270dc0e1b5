//! Watching the interfaces while the daemon runs: an interface taken
//! down, brought up, deleted and re-created with the same name.
//!
//! The serving loop calls [`Links::check`] every [`CHECK_EVERY`]; it reads
//! each `[[interface]]`'s `ifindex`, `flags` and `operstate` in
//! `/sys/class/net` (the daemon's namespace's sysfs) and compares them
//! with the last look. Each change is one log line and a counter
//! ([`LinkCounts`], printed with the counters on SIGUSR1 and at exit):
//!
//! | change                       | what the daemon does                                  |
//! |------------------------------|-------------------------------------------------------|
//! | up → down (admin or carrier) | `down`: the socket stays bound; the workers take no more frames to send on it (dropped, `tx.ring_full`) and stop kicking its TX ring, so an idle worker sleeps ([`PortControl::set_down`]) |
//! | down → up                    | `up`: the workers send on it again                    |
//! | present → absent             | `gone`: every worker stops using the port ([`PortControl::set_gone`]): its socket is dead (the kernel unbound it) and would poll readable for ever; frames routed to it are dropped (`tx_ring_full`) |
//! | absent → present (new ifindex) | `back`: every worker reopens its socket on it ([`PortControl::reopen`]); on failure, `reopen_failed`, retried every [`RETRY`] |
//! | reopens that wrote off half a worker's UMEM ([`LOST_MAX`]) | the daemon stops cleanly with exit 1 for a restart, before the workers run short of chunks |
//! | the first interface back     | its sockets held the workers' UMEMs and cannot be reopened: the daemon stops cleanly with exit 1, for its supervisor to start it again (`Restart=on-failure`) |
//!
//! A re-created interface with another MAC address is reopened, with a
//! warning: the dataplane keeps sending from the MAC it started with
//! until the daemon restarts.
//!
//! Polling rather than netlink link events: one `read` of three small
//! sysfs files per interface a few times a second on the control thread,
//! no socket to keep in sync, and a missed event cannot leave the state
//! wrong (the next look sees it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_dataplane::io::{PortControl, PortControlDone};

use super::log::Log;

/// How often the links are looked at.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);
/// How long after a failed reopen it is tried again.
pub const RETRY: Duration = Duration::from_secs(1);
/// How long the workers have to answer a reopen request.
const REOPEN_WAIT: Duration = Duration::from_secs(2);

/// An interface as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    ifindex: u32,
    /// IFF_UP and a carrier.
    up: bool,
    /// IFF_UP (`ip link set up`), carrier or not.
    admin_up: bool,
    mac: String,
}

/// Reads `/sys/class/net/NAME`; `None` when there is no such interface.
fn look(name: &str) -> Option<Seen> {
    let dir = std::path::Path::new("/sys/class/net").join(name);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let ifindex = read("ifindex")?.trim().parse().ok()?;
    let flags = read("flags")
        .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())?;
    let oper = read("operstate").unwrap_or_default();
    // IFF_UP, and a carrier (`unknown`: the driver does not say).
    let up = flags & 1 != 0 && matches!(oper.trim(), "up" | "unknown");
    let mac = read("address").unwrap_or_default().trim().to_string();
    Some(Seen {
        ifindex,
        up,
        admin_up: flags & 1 != 0,
        mac,
    })
}

/// Per interface: link events seen and what they cost.
#[derive(Debug, Default)]
pub struct LinkCounts {
    pub down: AtomicU64,
    pub up: AtomicU64,
    pub gone: AtomicU64,
    pub back: AtomicU64,
    pub reopen_failed: AtomicU64,
    /// UMEM chunks the dead sockets' rings held, written off at reopen.
    pub chunks_lost: AtomicU64,
}

impl LinkCounts {
    pub const NAMES: [&'static str; 6] =
        ["down", "up", "gone", "back", "reopen_failed", "chunks_lost"];

    pub fn values(&self) -> [u64; 6] {
        [
            &self.down,
            &self.up,
            &self.gone,
            &self.back,
            &self.reopen_failed,
            &self.chunks_lost,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// Where a reopen stands.
#[derive(Debug)]
struct Reopen {
    since: Instant,
    /// Each worker's [`PortControlDone`] when it was asked.
    before: Vec<PortControlDone>,
}

#[derive(Debug)]
struct Link {
    name: String,
    mac: String,
    /// The last look (`None`: absent).
    seen: Option<Seen>,
    /// The port is closed on the workers: the interface went away and no
    /// reopen worked yet.
    closed: bool,
    reopen: Option<Reopen>,
    retry_at: Option<Instant>,
    counts: Arc<LinkCounts>,
}

/// The interfaces of a running daemon and the workers' port controls.
pub struct Links {
    links: Vec<Link>,
    workers: Vec<Arc<PortControl>>,
    /// Chunks of each worker's UMEM: reopens that wrote off half of them
    /// stop the daemon for a restart ([`LOST_MAX`]).
    umem_frames: u64,
    next: Instant,
}

/// The share of a worker's UMEM that reopens may write off before the
/// daemon stops for a restart (the rest keeps it forwarding meanwhile).
pub const LOST_MAX: (u64, u64) = (1, 2);

impl Links {
    /// Watches `names` (port order) as they are now.
    pub fn new(names: &[String], workers: Vec<Arc<PortControl>>, umem_frames: u64) -> Links {
        let links = names
            .iter()
            .map(|n| {
                let seen = look(n);
                Link {
                    name: n.clone(),
                    mac: seen.as_ref().map(|s| s.mac.clone()).unwrap_or_default(),
                    seen,
                    closed: false,
                    reopen: None,
                    retry_at: None,
                    counts: Arc::default(),
                }
            })
            .collect();
        Links {
            links,
            workers,
            umem_frames,
            next: Instant::now(),
        }
    }

    /// `(name, counts)` of each interface.
    pub fn counts(&self) -> Vec<(String, Arc<LinkCounts>)> {
        self.links
            .iter()
            .map(|l| (l.name.clone(), Arc::clone(&l.counts)))
            .collect()
    }

    /// Looks at the links when it is time; logs and acts on changes.
    /// `Err` when the daemon must stop to recover (a restart needed).
    pub fn check(&mut self, log: &Log) -> Result<(), String> {
        let now = Instant::now();
        if now < self.next {
            return Ok(());
        }
        self.next = now + CHECK_EVERY;
        for port in 0..self.links.len() {
            self.check_one(port, now, log)?;
        }
        Ok(())
    }

    fn check_one(&mut self, port: usize, now: Instant, log: &Log) -> Result<(), String> {
        let workers = &self.workers;
        let l = &mut self.links[port];
        let seen = look(&l.name);
        let name = l.name.clone();
        match (&l.seen, &seen) {
            (Some(_), None) => {
                l.counts.gone.fetch_add(1, Ordering::Relaxed);
                log.step(&format!(
                    "{name}: the interface is gone: its port is closed (frames routed to it are dropped); it reopens when {name} comes back"
                ));
                for w in workers {
                    w.set_gone(port, true);
                }
                l.closed = true;
                l.reopen = None;
                l.retry_at = None;
            }
            (None, Some(s)) => {
                l.counts.back.fetch_add(1, Ordering::Relaxed);
                log.step(&format!(
                    "{name}: the interface is back (ifindex {}): reopening its port",
                    s.ifindex
                ));
                if s.mac != l.mac {
                    log.step(&format!(
                        "warning: {name}: its MAC address is now {} (was {}): sluice sends from the old one until it restarts",
                        s.mac, l.mac
                    ));
                }
            }
            (Some(a), Some(b)) if a.ifindex != b.ifindex => {
                // Deleted and re-created between two looks.
                l.counts.gone.fetch_add(1, Ordering::Relaxed);
                l.counts.back.fetch_add(1, Ordering::Relaxed);
                log.step(&format!(
                    "{name}: the interface was re-created (ifindex {} -> {}): reopening its port",
                    a.ifindex, b.ifindex
                ));
                l.closed = true;
                l.reopen = None;
                l.retry_at = None;
            }
            (Some(a), Some(b)) if a.up && !b.up => {
                l.counts.down.fetch_add(1, Ordering::Relaxed);
                log.step(&format!(
                    "{name}: link down: frames routed to it are dropped until it is up"
                ));
                for w in workers {
                    w.set_down(port, true);
                }
            }
            (Some(a), Some(b)) if !a.up && b.up => {
                l.counts.up.fetch_add(1, Ordering::Relaxed);
                log.step(&format!("{name}: link up"));
                for w in workers {
                    w.set_down(port, false);
                }
            }
            _ => {}
        }
        l.seen = seen;
        // A closed port whose interface is present: reopen it (once the
        // interface is set up: a bind to a down device fails).
        if !l.closed || !l.seen.as_ref().is_some_and(|s| s.admin_up) {
            return Ok(());
        }
        if port == 0 {
            // Each worker's first socket (port 0's) is the one its UMEM
            // was registered with; every other socket shares the UMEM
            // through it (XDP_SHARED_UMEM), and the kernel refuses a
            // share of an unbound socket (EBADF). So port 0 cannot be
            // reopened: stop (cleanly, exit 1) for the supervisor to
            // start sluice again now that the interface is back.
            l.counts.reopen_failed.fetch_add(1, Ordering::Relaxed);
            return Err(format!(
                "{name}: its port cannot be reopened: each worker's UMEM is registered with its socket on the first [[interface]]; stopping so that sluice run is started again (systemd: Restart=on-failure)"
            ));
        }
        match &l.reopen {
            None if l.retry_at.is_none_or(|t| now >= t) => {
                l.reopen = Some(Reopen {
                    since: now,
                    before: workers.iter().map(|w| w.done()).collect(),
                });
                // The new interface's link state, not the old one's (a
                // link that went down before it was deleted).
                let down = !l.seen.as_ref().is_some_and(|s| s.up);
                for w in workers {
                    w.set_down(port, down);
                    w.reopen(port);
                }
            }
            None => {}
            Some(r) => {
                let done: Vec<PortControlDone> = workers.iter().map(|w| w.done()).collect();
                let answered = done
                    .iter()
                    .zip(&r.before)
                    .filter(|(d, b)| d.reopened + d.failed > b.reopened + b.failed)
                    .count();
                let failed: Vec<usize> = done
                    .iter()
                    .zip(&r.before)
                    .enumerate()
                    .filter(|(_, (d, b))| d.failed > b.failed)
                    .map(|(i, _)| i)
                    .collect();
                let lost: u64 = done
                    .iter()
                    .zip(&r.before)
                    .map(|(d, b)| d.lost - b.lost)
                    .sum();
                if answered < workers.len() && now.duration_since(r.since) < REOPEN_WAIT {
                    return Ok(());
                }
                l.counts.chunks_lost.fetch_add(lost, Ordering::Relaxed);
                if failed.is_empty() && answered == workers.len() {
                    log.step(&format!(
                        "{name}: port reopened on {} worker(s) in {} ms ({lost} UMEM chunk(s) the dead socket held written off)",
                        workers.len(),
                        now.duration_since(r.since).as_millis()
                    ));
                    l.closed = false;
                    l.reopen = None;
                    // Every reopen so far, on the worker that lost most.
                    let worst = done.iter().map(|d| d.lost).max().unwrap_or(0);
                    if worst * LOST_MAX.1 >= self.umem_frames * LOST_MAX.0 {
                        return Err(format!(
                            "reopened ports have written off {worst} of a worker's {} UMEM chunks (the dead sockets' rings): stopping so that sluice run is started again with all of them (systemd: Restart=on-failure)",
                            self.umem_frames
                        ));
                    }
                    return Ok(());
                }
                l.counts.reopen_failed.fetch_add(1, Ordering::Relaxed);
                let why = failed
                    .first()
                    .map(|&i| workers[i].last_error())
                    .unwrap_or_else(|| "a worker did not answer".into());
                log.error(&format!(
                    "{name}: cannot reopen its port: {why}; trying again in {} s",
                    RETRY.as_secs()
                ));
                // Workers that did reopen keep their port; the next
                // attempt reopens it again (the old socket is live, so it
                // is written off with nothing lost but its rings' chunks).
                for w in workers {
                    w.set_gone(port, true);
                }
                l.reopen = None;
                l.retry_at = Some(now + RETRY);
            }
        }
        Ok(())
    }
}
