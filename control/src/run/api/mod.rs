//! The daemon's side of the API ([`crate::api`]): the socket, the control
//! thread that serves it, and the configurations it applies.
//!
//! Applying is a transaction (DESIGN.md, "Control and data"): the daemon
//! loads the file itself (it is the authority; the client's check is for
//! the operator's sake), validates and compiles it into a new
//! [`Snapshot`], and only then publishes it to the [`SnapshotCell`]; each
//! worker takes it at its next batch boundary (the start of a poll turn)
//! and says so ([`sluice_dataplane::worker::Worker::running_generation`]);
//! the apply answers once every worker runs it, or after [`SWAP_WAIT`]
//! naming the ones that do not yet. What fails on the way changes
//! nothing. Conntrack entries and NAT bindings live in the
//! workers' shards, not in the snapshot, so established flows go on;
//! rule counters carry over for unchanged rules
//! ([`sluice_dataplane::pipeline::Pipeline::set_snapshot`]).
//!
//! What the workers were built with cannot change live: the interface
//! set and order, `[dataplane]` (workers, cores, busy_poll,
//! conntrack_max) and the socket itself. An apply that changes one is
//! refused, naming the key.
//!
//! DHCP leases (`address = ["dhcp"]`) are installed the same way, as a new
//! generation of the running configuration (`lease.rs`); every
//! configuration the daemon compiles (an apply, a rollback) gets the
//! leases of the moment.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sluice_config::bundle::{self, Bundle};
use sluice_dataplane::io::tap::HostPlan;
use sluice_dataplane::rules::{RulesError, RulesParams};
use sluice_dataplane::snapshot::{Snapshot, SnapshotError};
use sluice_dataplane::worker::SnapshotCell;

use super::log::Log;
use crate::api::proto::{self, HistoryEntry, Request, Response};

/// How long an apply or a rollback waits for every worker to run the
/// published generation before it answers. An idle worker sleeps in
/// `poll(2)` at most `RunParams::sleep_ms` (10 ms) between turns, so this
/// is only reached when a worker is stuck or gone.
pub const SWAP_WAIT: Duration = Duration::from_secs(1);

/// What publishing a snapshot came to.
struct Swap {
    /// From the publication to the last worker's swap (or to the end of
    /// the wait).
    took: Duration,
    /// Workers running it.
    running: usize,
    /// Workers not running it yet.
    lagging: Vec<usize>,
}

/// Configurations kept for `sluice history` and `sluice rollback`.
pub const HISTORY: usize = 10;

/// A loaded, compiled configuration.
pub struct Loaded {
    /// What was compiled: the file's configuration with the DHCP leases in
    /// it ([`crate::dhcp::inject`]); the views show this one.
    pub bundle: Arc<Bundle>,
    /// The file's configuration as loaded (`sluice diff` compares with it).
    pub base: Arc<Bundle>,
    pub snap: Arc<Snapshot>,
    pub rules: usize,
}

/// Loads `config` and compiles it as generation `generation`; one line
/// naming file and line when it fails.
pub fn load(config: &Path, generation: u64) -> Result<Loaded, String> {
    let b = Arc::new(bundle::load(config).map_err(|e| e.to_string())?);
    compile(Arc::clone(&b), b, config, generation)
}

/// Compiles `b` (`base` with the leases in it; the same without) as
/// generation `generation`; errors name `config`.
pub fn compile(
    b: Arc<Bundle>,
    base: Arc<Bundle>,
    config: &Path,
    generation: u64,
) -> Result<Loaded, String> {
    let a = &b.appliance;
    let rules: usize = b
        .rules
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .sum();
    let mut snap = Snapshot::build_dual(
        a,
        &b.rules,
        b.rules6.as_ref(),
        &b.sets,
        RulesParams::default(),
        generation,
    )
    .map_err(|e| match (&e, &a.firewall) {
        // Routes and policy rules are in the appliance TOML; the
        // checks `bundle::load` ran cover these, so this is defensive.
        (SnapshotError::Rules(RulesError::Ipv6(e6)), Some(fw)) => format!(
            "{}: {e6}",
            fw.rules6.as_deref().unwrap_or(fw.rules.as_path()).display()
        ),
        (SnapshotError::Rules(_), Some(fw)) => format!("{}: {e}", fw.rules.display()),
        _ => format!("{}: {e}", config.display()),
    })?;
    // A family is forwarded when a ruleset filters it.
    snap.forward_v4 = a.firewall.is_some();
    snap.forward_v6 = b.rules6.is_some();
    Ok(Loaded {
        bundle: b,
        base,
        snap: Arc::new(snap),
        rules,
    })
}

/// The API socket, removed when dropped.
pub struct Socket {
    listener: UnixListener,
    path: PathBuf,
    ino: u64,
}

impl Socket {
    /// Binds `path` (mode 0600). A socket a live daemon answers on is
    /// refused; a stale one (its daemon was killed) is removed — the
    /// second value says so.
    pub fn bind(path: &Path) -> Result<(Socket, bool), String> {
        let p = path.display();
        let mut stale = false;
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(format!(
                        "{p}: another sluice run answers on this socket: stop it first, or give this one another `[control] socket`"
                    ))
                }
                Err(_) => {
                    std::fs::remove_file(path)
                        .map_err(|e| format!("{p}: cannot remove the stale socket: {e}"))?;
                    stale = true;
                }
            },
            Ok(_) => {
                return Err(format!(
                    "{p}: exists and is not a socket: remove it or set `[control] socket` to another path"
                ))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{p}: {e}")),
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // Never reachable by anyone but root, not even between bind and
        // chmod.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(path);
        nix::sys::stat::umask(old);
        let listener = bound.map_err(|e| format!("{p}: cannot bind the API socket: {e}"))?;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("{p}: {e}"))?;
        let ino = std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0);
        Ok((
            Socket {
                listener,
                path: path.to_path_buf(),
                ino,
            },
            stale,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Only ours: a file some other daemon bound since is left alone.
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// State of a configuration in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Started,
    Applied,
    /// Applied with `--confirm`, not confirmed yet.
    Pending,
    Confirmed,
    RolledBack,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Started => "started",
            State::Applied => "applied",
            State::Pending => "pending",
            State::Confirmed => "confirmed",
            State::RolledBack => "rolled-back",
        }
    }
}

struct Entry {
    generation: u64,
    time: SystemTime,
    file: PathBuf,
    by: &'static str,
    state: State,
    loaded: Loaded,
}

/// The configurations the daemon ran and the one it runs.
pub struct Control {
    cell: Arc<SnapshotCell>,
    /// Oldest first; at most [`HISTORY`].
    history: VecDeque<Entry>,
    /// Index in `history` of the running one.
    running: usize,
    next_generation: u64,
    /// When the pending `--confirm` rolls back.
    deadline: Option<Instant>,
    log: Log,
    /// What the views read of each worker (filled as they start).
    pub workers: Vec<super::views::WorkerView>,
    /// `rules zero`'s baseline for the running ruleset.
    baseline: crate::views::counters::Baseline,
    /// `rules zero -6`'s, for the running ip6tables ruleset.
    baseline6: crate::views::counters::Baseline,
    /// The daemon's TAPs follow an apply's addresses and host routes
    /// ([`Control::sync_host`]); off where there are no TAPs (tests).
    pub host_side: bool,
    /// The DHCP interfaces' current bindings, in every configuration the
    /// daemon runs (`lease.rs`).
    leases: std::collections::BTreeMap<String, crate::dhcp::Binding>,
    /// What the DHCP clients say, for the views ([`super::dhcp`]).
    pub dhcp: Arc<Mutex<Vec<crate::dhcp::Status>>>,
}

mod lease;

impl Control {
    /// The daemon started with `loaded` from `file` and publishes to `cell`.
    pub fn new(cell: Arc<SnapshotCell>, file: &Path, loaded: Loaded, log: Log) -> Control {
        let generation = loaded.snap.generation;
        let mut history = VecDeque::new();
        history.push_back(Entry {
            generation,
            time: SystemTime::now(),
            file: file.to_path_buf(),
            by: "start",
            state: State::Started,
            loaded,
        });
        Control {
            cell,
            history,
            running: 0,
            next_generation: generation + 1,
            deadline: None,
            log,
            workers: Vec::new(),
            baseline: crate::views::counters::Baseline::new(),
            baseline6: crate::views::counters::Baseline::new(),
            host_side: false,
            leases: Default::default(),
            dhcp: Arc::default(),
        }
    }

    /// Makes the host side (the TAPs' addresses, the host routes) follow
    /// a switch from `old` to `new`, after the workers run `new`: what
    /// cannot be done is logged, one line each, and the rest still done
    /// (the dataplane runs the new config already).
    fn sync_host(&self, old: &Bundle, new: &Bundle) {
        if !self.host_side {
            return;
        }
        let plan = match HostPlan::update(&old.appliance, &new.appliance) {
            Ok(p) => p,
            Err(e) => {
                self.log.error(&format!("host side: {e}"));
                return;
            }
        };
        if plan.steps.is_empty() {
            return;
        }
        let failed = plan.apply_each();
        for e in &failed {
            self.log.error(&format!("host side: {e}"));
        }
        self.log.step(&format!(
            "host side: {} address/route change(s) on the TAPs{}",
            plan.steps.len(),
            match failed.len() {
                0 => String::new(),
                n => format!(", {n} failed (above)"),
            }
        ));
    }

    /// `rules zero`'s baseline follows the counters over a swap to `new`.
    fn carry_baseline(&mut self, new: &Snapshot) {
        let old = self.current().loaded.snap.rules.clone();
        self.baseline = match (&old, &new.rules) {
            (Some(o), Some(n)) => self.baseline.carry_over(o.ruleset(), n.ruleset()),
            _ => crate::views::counters::Baseline::new(),
        };
        let old6 = old.as_ref().and_then(|o| o.ruleset6());
        let new6 = new.rules.as_ref().and_then(|n| n.ruleset6());
        self.baseline6 = match (old6, new6) {
            (Some(o), Some(n)) => self.baseline6.carry_over(o, n),
            _ => crate::views::counters::Baseline::new(),
        };
    }

    /// Publishes `snap` to the workers and waits, [`SWAP_WAIT`] at most,
    /// until each runs its generation.
    fn publish(&self, snap: &Arc<Snapshot>) -> Swap {
        let g = snap.generation;
        let t0 = Instant::now();
        self.cell.store(Arc::clone(snap));
        loop {
            let lagging: Vec<usize> = self
                .workers
                .iter()
                .enumerate()
                .filter(|(_, w)| w.running.load(Ordering::Acquire) != g)
                .map(|(i, _)| i)
                .collect();
            if lagging.is_empty() || t0.elapsed() >= SWAP_WAIT {
                return Swap {
                    took: t0.elapsed(),
                    running: self.workers.len() - lagging.len(),
                    lagging,
                };
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    fn current(&self) -> &Entry {
        &self.history[self.running]
    }

    /// Applies `file`; `by` says who asked (`apply`, `SIGHUP`).
    pub fn apply(
        &mut self,
        file: &Path,
        confirm: Option<u64>,
        by: &'static str,
    ) -> Result<Response, String> {
        if let Some(d) = self.deadline {
            return Err(format!(
                "generation {} waits for `sluice confirm` ({}s left): confirm or roll it back first",
                self.current().generation,
                d.saturating_duration_since(Instant::now()).as_secs()
            ));
        }
        let t0 = Instant::now();
        let loaded = load(file, self.next_generation)?;
        restart_needed(&self.current().loaded.bundle, &loaded.bundle)?;
        let mut loaded = self.with_leases(loaded, file)?;
        // Which rule counters carry over, worked out here so the workers'
        // swap only copies them.
        if let (Some(old), Some(snap)) = (
            self.current().loaded.snap.rules.clone(),
            Arc::get_mut(&mut loaded.snap),
        ) {
            if let Some(p) = snap.rules.as_mut().and_then(Arc::get_mut) {
                p.prepare_carry(&old);
            }
        }
        let compiled = t0.elapsed();
        let generation = loaded.snap.generation;
        let rules = loaded.rules;
        self.next_generation += 1;
        self.carry_baseline(&loaded.snap);
        let swap = self.publish(&loaded.snap);
        self.sync_host(&self.current().loaded.bundle, &loaded.bundle);
        self.history.push_back(Entry {
            generation,
            time: SystemTime::now(),
            file: file.to_path_buf(),
            by,
            state: if confirm.is_some() {
                State::Pending
            } else {
                State::Applied
            },
            loaded,
        });
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.running = self.history.len() - 1;
        self.deadline = confirm.map(|s| Instant::now() + Duration::from_secs(s));
        self.log.step(&format!(
            "{by}: generation {generation} from {}: {rules} rule(s), compiled in {:.3}s, running on {} worker(s) {:.1} ms after publication{}{}",
            file.display(),
            compiled.as_secs_f64(),
            swap.running,
            swap.took.as_secs_f64() * 1e3,
            lag_note(&swap.lagging),
            match confirm {
                Some(s) => format!(", rolls back in {s}s unless `sluice confirm`"),
                None => String::new(),
            }
        ));
        Ok(Response::Applied {
            generation,
            rules,
            confirm,
            workers: swap.running,
            took_us: t0.elapsed().as_micros() as u64,
            swap_us: swap.took.as_micros() as u64,
            lagging: swap.lagging,
        })
    }

    pub fn confirm(&mut self) -> Result<Response, String> {
        if self.deadline.take().is_none() {
            return Err("nothing to confirm: no `sluice apply --confirm` is pending".into());
        }
        let e = &mut self.history[self.running];
        e.state = State::Confirmed;
        let generation = e.generation;
        self.log
            .step(&format!("confirm: generation {generation} is kept"));
        Ok(Response::Confirmed { generation })
    }

    /// Back to the configuration before the running one.
    pub fn rollback(&mut self, why: &str) -> Result<Response, String> {
        let Some(to) = (0..self.running)
            .rev()
            .find(|&i| self.history[i].state != State::RolledBack)
        else {
            return Err(format!(
                "nothing to roll back to: generation {} is the oldest configuration kept",
                self.current().generation
            ));
        };
        let from = self.current().generation;
        // The leases of now, not of then.
        self.refresh_leases(to)?;
        self.history[self.running].state = State::RolledBack;
        self.deadline = None;
        let snap = Arc::clone(&self.history[to].loaded.snap);
        self.carry_baseline(&snap);
        let old = Arc::clone(&self.current().loaded.bundle);
        self.running = to;
        let swap = self.publish(&snap);
        self.sync_host(&old, &self.history[to].loaded.bundle);
        let e = &self.history[to];
        let to = e.generation;
        self.log.step(&format!(
            "{why}: rolled back generation {from}; generation {to} ({}) runs again, on {} worker(s) {:.1} ms after publication{}",
            e.file.display(),
            swap.running,
            swap.took.as_secs_f64() * 1e3,
            lag_note(&swap.lagging),
        ));
        Ok(Response::RolledBack { from, to })
    }

    /// Rolls back a pending `--confirm` whose time is up.
    pub fn tick(&mut self) {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = self.rollback("confirm timeout");
        }
    }

    pub fn history(&self) -> Response {
        let entries = self
            .history
            .iter()
            .enumerate()
            .map(|(i, e)| HistoryEntry {
                generation: e.generation,
                time: e
                    .time
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                file: e.file.clone(),
                rules: e.loaded.rules,
                state: e.state.name().into(),
                running: i == self.running,
                by: e.by.into(),
            })
            .collect();
        Response::History { entries }
    }

    pub fn diff(&self, file: &Path) -> Result<Response, String> {
        let b = bundle::load(file).map_err(|e| e.to_string())?;
        let (text, changes) = crate::api::diff::diff(&self.current().loaded.base, &b);
        Ok(Response::Diff { text, changes })
    }

    pub fn status(&self) -> Response {
        Response::Status {
            generation: self.current().generation,
            config: self.current().file.clone(),
            pid: std::process::id(),
            confirm: self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()).as_secs()),
        }
    }

    /// The ruleset running now (for the counters' printout).
    pub fn running_snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current().loaded.snap)
    }

    /// A scrape of the metrics endpoint ([`super::metrics`]).
    pub fn metrics(&self, log: crate::views::metrics::LogCounts) -> String {
        let e = self.current();
        let dhcp = self.dhcp_status();
        super::views::metrics(&self.workers, &e.loaded.bundle, &e.loaded.snap, log, &dhcp)
    }

    fn handle(&mut self, req: Request) -> Response {
        let r = match req {
            Request::Apply { config, confirm } => {
                if !config.is_absolute() {
                    Err(format!(
                        "{}: the daemon needs an absolute path",
                        config.display()
                    ))
                } else {
                    self.apply(&config, confirm, "apply")
                }
            }
            Request::Confirm => self.confirm(),
            Request::Rollback => self.rollback("rollback"),
            Request::History => Ok(self.history()),
            Request::Diff { config } => self.diff(&config),
            Request::Status => Ok(self.status()),
            Request::View { view, json } => {
                let dhcp = self.dhcp_status();
                let e = &self.history[self.running];
                super::views::view(
                    super::views::Sources {
                        workers: &self.workers,
                        baseline: &mut self.baseline,
                        baseline6: &mut self.baseline6,
                        bundle: &e.loaded.bundle,
                        snap: &e.loaded.snap,
                        dhcp: &dhcp,
                    },
                    view,
                    json,
                )
            }
            Request::Trace { packet, json } => {
                let e = &self.history[self.running];
                crate::views::trace::answer(&e.loaded.snap, &packet, json).map(|text| {
                    Response::Text {
                        text,
                        note: String::new(),
                    }
                })
            }
        };
        r.unwrap_or_else(|error| Response::Error { error })
    }
}

/// Why `new` cannot be applied to a daemon running `old`: what the
/// workers, sockets and TAPs were built with.
fn restart_needed(old: &Bundle, new: &Bundle) -> Result<(), String> {
    let (o, n) = (&old.appliance, &new.appliance);
    let names = |a: &sluice_config::appliance::Appliance| -> Vec<String> {
        a.interfaces.iter().map(|i| i.name.clone()).collect()
    };
    let changed = if names(o) != names(n) {
        Some(format!(
            "[[interface]] set or order ({} -> {})",
            names(o).join(","),
            names(n).join(",")
        ))
    } else if let Some(i) = o
        .interfaces
        .iter()
        .zip(&n.interfaces)
        .find(|(a, b)| a.mtu != b.mtu)
    {
        Some(format!("[[interface]] {} mtu", i.0.name))
    } else if o.dataplane.workers != n.dataplane.workers {
        Some("[dataplane] workers".into())
    } else if o.dataplane.cores != n.dataplane.cores {
        Some("[dataplane] cores".into())
    } else if o.dataplane.busy_poll != n.dataplane.busy_poll {
        Some("[dataplane] busy_poll".into())
    } else if o.dataplane.conntrack_max != n.dataplane.conntrack_max {
        Some("[dataplane] conntrack_max".into())
    } else if o.control.socket != n.control.socket {
        Some("[control] socket".into())
    } else if o.control.metrics != n.control.metrics {
        Some("[control] metrics".into())
    } else if o.control.log != n.control.log || o.control.log_format != n.control.log_format {
        Some("[control] log / log_format".into())
    } else {
        None
    };
    match changed {
        Some(what) => Err(format!(
            "restart needed: {what} changed, which cannot be applied live (restart sluice run); nothing was changed"
        )),
        None => Ok(()),
    }
}

/// Serves `socket` until `stop`: one request per connection, from root
/// only; rolls back a pending `--confirm` whose time is up.
pub fn serve(socket: Socket, control: Arc<Mutex<Control>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match socket.listener.accept() {
            Ok((stream, _)) => {
                if let Ok(mut c) = control.lock() {
                    answer(stream, &mut c);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        if let Ok(mut c) = control.lock() {
            c.tick();
        }
    }
}

fn answer(mut stream: UnixStream, control: &mut Control) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    // Mode 0600 keeps others out; the peer's uid says so again.
    let peer = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials);
    let resp = if !peer.is_ok_and(|c| c.uid() == 0) {
        // Not read: a non-root peer's request is never parsed.
        Response::Error {
            error: format!(
                "permission denied: the sluice API answers root only (this client runs as uid {}); run it as root, e.g. with sudo",
                peer.map_or_else(|_| "unknown".to_string(), |c| c.uid().to_string())
            ),
        }
    } else {
        let mut line = String::new();
        let read = BufReader::new((&stream).take(proto::MAX_LINE as u64)).read_line(&mut line);
        match read {
            Err(e) => Response::Error {
                error: format!("cannot read the request: {e}"),
            },
            Ok(_) => match proto::decode_request(&line) {
                Ok(req) => control.handle(req),
                Err(error) => Response::Error { error },
            },
        }
    };
    let _ = stream.write_all(proto::encode_response(&resp).as_bytes());
}

/// ` (worker N not yet after 1000 ms)` for the log, or nothing.
fn lag_note(lagging: &[usize]) -> String {
    if lagging.is_empty() {
        return String::new();
    }
    let w: Vec<String> = lagging.iter().map(usize::to_string).collect();
    format!(
        " (worker {} not yet after {} ms)",
        w.join(", "),
        SWAP_WAIT.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_0600_live_refused_stale_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sluice-sock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/api.sock");
        let (s, stale) = Socket::bind(&path).unwrap();
        assert!(!stale);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let e = Socket::bind(&path).err().unwrap();
        assert!(e.contains("another sluice run answers"), "{e}");
        drop(s);
        assert!(!path.exists(), "removed when dropped");
        // A socket file nobody answers on (its daemon was killed).
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let (s, stale) = Socket::bind(&path).unwrap();
        assert!(stale);
        drop(s);
        std::fs::write(&path, "x").unwrap();
        let e = Socket::bind(&path).err().unwrap();
        assert!(e.contains("not a socket"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An apply answers once every worker runs the new generation, and
    /// after [`SWAP_WAIT`] names the worker that does not; a rollback
    /// waits the same way.
    #[test]
    fn apply_waits_for_the_workers_and_names_a_lagging_one() {
        use std::sync::atomic::AtomicU64;

        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/lab/sluice.toml");
        let loaded = load(&file, 1).unwrap();
        let cell = Arc::new(SnapshotCell::new(Arc::clone(&loaded.snap)));
        let mut c = Control::new(Arc::clone(&cell), &file, loaded, Log::new());
        let view = |g: u64| super::super::views::WorkerView {
            counters: Default::default(),
            times: Default::default(),
            turns: Default::default(),
            rules: Default::default(),
            ct: Default::default(),
            neigh: Default::default(),
            running: Arc::new(AtomicU64::new(g)),
            ports: Arc::new(sluice_dataplane::io::PortsBlock::new(0)),
        };
        c.workers = vec![view(1), view(1)];
        // Worker 0 follows the cell, 5 ms after each publication (as a
        // worker sleeping in poll(2) would); worker 1 is stuck.
        let (w0, stop) = (
            Arc::clone(&c.workers[0].running),
            Arc::new(AtomicBool::new(false)),
        );
        let follower = {
            let (cell, stop) = (Arc::clone(&cell), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = cell.generation();
                    if w0.load(Ordering::Acquire) != g {
                        std::thread::sleep(Duration::from_millis(5));
                        w0.store(g, Ordering::Release);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        // (generation, workers running it, swap µs, lagging workers).
        let apply = |c: &mut Control| match c.apply(&file, None, "apply") {
            Ok(Response::Applied {
                generation,
                workers,
                swap_us,
                lagging,
                ..
            }) => (generation, workers, swap_us, lagging),
            other => panic!("{other:?}"),
        };
        let t = Instant::now();
        let (generation, workers, swap_us, lagging) = apply(&mut c);
        assert!(t.elapsed() >= SWAP_WAIT, "waited for the stuck worker");
        assert_eq!((generation, workers, lagging), (2, 1, vec![1]));
        assert!(swap_us >= SWAP_WAIT.as_micros() as u64);
        // Unstuck: the next apply answers as soon as both run it.
        let w1 = Arc::clone(&c.workers[1].running);
        let unstick = {
            let cell = Arc::clone(&cell);
            std::thread::spawn(move || {
                while cell.generation() != 3 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(20));
                w1.store(3, Ordering::Release);
            })
        };
        let (generation, workers, swap_us, lagging) = apply(&mut c);
        assert_eq!((generation, workers, lagging), (3, 2, vec![]));
        assert!(
            (20_000..SWAP_WAIT.as_micros() as u64).contains(&swap_us),
            "answered when the last worker swapped: {swap_us} us"
        );
        unstick.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        follower.join().unwrap();
    }
}
