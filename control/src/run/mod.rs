//! `sluice run --config FILE`: the daemon.
//!
//! Start-up, one line on stderr per step (`sluice: [  0.012s] ...`):
//!
//! 1. load and validate the config and every file it names, compile the
//!    ruleset and the routes (a bad config: exit 1 with the errors,
//!    nothing touched);
//! 2. need root; take the namespace's run lock (`/run/sluice/netns-<inode>.lock`,
//!    `flock`): a second daemon in the same network namespace refuses to
//!    start, and a lock nobody holds means a previous run was killed, whose
//!    XDP programs are removed in step 3;
//! 3. check every `[[interface]]` (exists, up, enough queues, no foreign XDP
//!    program) — before anything is attached;
//! 4. create the TAP devices of the host side (`sl-<ifname>`, see
//!    [`sluice_dataplane::io::tap`]);
//! 5. open one AF_XDP socket per (interface, worker queue) and start the
//!    workers, each pinned to its core;
//! 6. serve: the API socket (`[control] socket`, [`api`]) on a control
//!    thread (apply, confirm, rollback, history, diff), the Prometheus
//!    endpoint (`[control] metrics`, [`metrics`]) on another; a third
//!    drains the workers' LOG records to `[control] log` ([`logsink`]);
//!    SIGINT/SIGTERM stop, SIGHUP re-applies the config file the daemon
//!    started with and reopens the log file, SIGUSR1 prints the counters;
//!    a worker that dies stops the daemon (exit 1).
//!
//! Everything the daemon creates is owned by a value whose `Drop` undoes
//! it (sockets and XDP programs, TAPs, the lock), so every exit path —
//! an error half-way through start-up, a signal, a worker's panic —
//! leaves nothing behind. A SIGKILL leaves the XDP programs (the TAPs
//! vanish with the process); the next start removes them (step 2).

pub mod api;
pub mod dhcp;
mod links;
mod lock;
mod log;
pub mod logsink;
pub mod metrics;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sluice_dataplane::packet::{CounterBlock, Counters};
use sluice_dataplane::pipeline::{Pipeline, PipelineParams};
use sluice_dataplane::rules::{RuleCounters, RulesReader};
use sluice_dataplane::worker::{handoff_mesh, RunParams, SnapshotCell, Worker};

pub use log::Log;

/// Frames of a handoff ring between two workers.
const HANDOFF_RING: usize = 1024;

/// Runs the daemon until a signal stops it; the exit code.
pub fn run(config: &Path) -> ExitCode {
    let log = Log::new();
    let stop = Arc::new(AtomicBool::new(false));
    let usr1 = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [
        (signal_hook::consts::SIGINT, &stop),
        (signal_hook::consts::SIGTERM, &stop),
        (signal_hook::consts::SIGUSR1, &usr1),
        (signal_hook::consts::SIGHUP, &hup),
    ] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(flag)) {
            log.error(&format!("cannot install the signal handler for {sig}: {e}"));
            return ExitCode::FAILURE;
        }
    }
    let daemon = match Daemon::start(config, &log, &stop) {
        Ok(d) => d,
        Err(e) => {
            log.error(&e);
            return ExitCode::FAILURE;
        }
    };
    daemon.serve(&log, &stop, &usr1, &hup)
}

/// The test-only fault hook: `SLUICE_FAULT=worker-panic` makes worker 0
/// panic 300 ms after it starts (`control/tests/lab.rs` tests the
/// daemon's answer to a dying worker). Compiled into debug builds only
/// (the tests'); a release build ignores the variable.
fn fault_hook() -> bool {
    cfg!(debug_assertions) && std::env::var("SLUICE_FAULT").as_deref() == Ok("worker-panic")
}

/// A running daemon: what [`Drop`] must undo, in the order it must be
/// undone (workers first: they own the sockets; then the TAPs; the lock
/// last).
struct Daemon {
    stop: Arc<AtomicBool>,
    workers: Vec<WorkerThread>,
    taps: attach::Taps,
    _lock: lock::RunLock,
    ifnames: Vec<String>,
    /// The config file it started with (absolute): SIGHUP applies it again.
    config: PathBuf,
    control: Arc<Mutex<api::Control>>,
    /// The API socket, until the control thread takes it.
    socket: Option<api::Socket>,
    api_thread: Option<JoinHandle<()>>,
    /// The metrics endpoint, until its thread takes it.
    metrics: Option<metrics::Endpoint>,
    metrics_thread: Option<JoinHandle<()>>,
    /// The LOG sink, until the drain thread takes it.
    sink: Option<logsink::LogSink>,
    sink_counts: Arc<logsink::SinkCounts>,
    log_thread: Option<JoinHandle<()>>,
    /// Set once the workers are joined: the drain thread drains a last
    /// time and ends.
    log_done: Arc<AtomicBool>,
    /// SIGHUP: the drain thread reopens the log file.
    log_reopen: Arc<AtomicBool>,
    /// The interfaces watched while serving ([`links`]).
    links: links::Links,
    /// The DHCP client, until its thread takes it ([`dhcp`]).
    dhcp: Option<dhcp::Driver>,
    dhcp_thread: Option<JoinHandle<()>>,
}

struct WorkerThread {
    index: usize,
    handle: Option<JoinHandle<()>>,
    counters: Arc<CounterBlock>,
    /// The worker's reader for the snapshot it runs.
    rules: Arc<arc_swap::ArcSwapOption<RulesReader>>,
}

mod attach;
mod views;

impl Daemon {
    fn start(config: &Path, log: &Log, stop: &Arc<AtomicBool>) -> Result<Daemon, String> {
        log.step(&format!("loading {}", config.display()));
        let config =
            std::path::absolute(config).map_err(|e| format!("{}: {e}", config.display()))?;
        let loaded = api::load(&config, 1)?;
        let b = Arc::clone(&loaded.bundle);
        let a = &b.appliance;
        let rules = loaded.rules;
        log.step(&format!(
            "config: {} interface(s), {} route(s), {} policy rule(s), {} rule(s), {} set(s), {} warning(s) (`sluice check` lists them)",
            a.interfaces.len(),
            a.routes.len(),
            a.policies.len(),
            rules,
            b.sets.sets.len(),
            b.warnings.len()
        ));
        if a.firewall.is_none() {
            log.step("IPv4: no [firewall] rules configured: IPv4 is not forwarded (the box still answers ARP and echo for its own addresses)");
        }
        log.step(&crate::check::ipv6_line(&b));
        for line in crate::check::dhcp_lines(&b) {
            log.step(&line);
        }

        if !nix::unistd::geteuid().is_root() {
            return Err(
                "sluice run needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, CAP_IPC_LOCK) to attach AF_XDP sockets and create TAP devices: run it as root"
                    .into(),
            );
        }
        let lock = lock::RunLock::take()?;
        let (socket, stale_socket) = api::Socket::bind(&a.control.socket)?;
        if stale_socket {
            log.step(&format!(
                "{}: removed the stale socket a killed sluice run left",
                socket.path().display()
            ));
        }
        let sink = logsink::LogSink::open(&a.control.log, a.control.log_format, *log)?;
        let ifnames: Vec<String> = a.interfaces.iter().map(|i| i.name.clone()).collect();
        let workers = a.dataplane.workers;
        if lock.stale {
            for n in &ifnames {
                if attach::detach_stale(n)? {
                    log.step(&format!(
                        "{n}: removed the XDP program a killed sluice run left"
                    ));
                }
            }
        }
        let mut macs = Vec::with_capacity(ifnames.len());
        for (i, n) in ifnames.iter().enumerate() {
            let info = attach::preflight(n, workers)?;
            log.step(&format!(
                "{n}: port {i}, MAC {}, MTU {}, {} queue(s)",
                info.mac, info.mtu, info.queues
            ));
            if info.queues > workers {
                log.step(&format!(
                    "warning: {n} has {} RX queues and sluice serves {workers} (one per worker): frames the NIC steers to queues {workers}..{} never reach sluice; set `ethtool -L {n} combined {workers}` or `workers = {}`",
                    info.queues,
                    info.queues - 1,
                    info.queues
                ));
            }
            macs.push(info.mac);
        }
        let cores = attach::cores(&a.dataplane)?;

        let taps = attach::Taps::create(a, &macs, workers)?;
        log.step(&format!(
            "host side: {} (the box's own services run behind the firewall there)",
            taps.names().join(", ")
        ));

        // After the TAPs: an address of the box is on them.
        let metrics = match a.control.metrics {
            Some(addr) => {
                let ep = metrics::Endpoint::bind(addr)?;
                if !addr.ip().is_loopback() {
                    log.step(&format!(
                        "warning: [control] metrics on {addr} is not a loopback address: the endpoint has no authentication; the INPUT chain decides who reaches it"
                    ));
                }
                Some(ep)
            }
            None => None,
        };
        let snap = Arc::clone(&loaded.snap);
        let cell = Arc::new(SnapshotCell::new(Arc::clone(&snap)));
        let mut control = api::Control::new(Arc::clone(&cell), &config, loaded, *log);
        control.host_side = true;
        let params = PipelineParams::for_appliance(a);
        let run = RunParams {
            busy_poll: a.dataplane.busy_poll,
            ..RunParams::default()
        };
        let mut mesh = handoff_mesh(workers as usize, HANDOFF_RING).into_iter();
        let mut daemon = Daemon {
            stop: Arc::clone(stop),
            workers: Vec::new(),
            taps,
            _lock: lock,
            ifnames,
            config,
            control: Arc::new(Mutex::new(control)),
            socket: Some(socket),
            api_thread: None,
            metrics,
            metrics_thread: None,
            sink_counts: sink.counts(),
            sink: Some(sink),
            log_thread: None,
            log_done: Arc::new(AtomicBool::new(false)),
            log_reopen: Arc::new(AtomicBool::new(false)),
            links: links::Links::new(&[], Vec::new(), 0),
            dhcp: None,
            dhcp_thread: None,
        };
        let dhcp_link = sluice_dataplane::local::dhcp::DhcpLink::default();
        let mut port_controls = Vec::new();
        let mut pending = Vec::new();
        let names: Vec<&str> = daemon.ifnames.iter().map(|s| s.as_str()).collect();
        for w in 0..workers {
            let (umem, ports) = attach::open_worker(&names, w)?;
            let mut pipeline = Pipeline::for_worker(
                Arc::clone(&snap),
                macs.clone(),
                params.clone(),
                w,
                Instant::now(),
            );
            pipeline.count(sluice_dataplane::packet::Counter::WorkerTurns, 0);
            pipeline.set_dhcp(dhcp_link.clone());
            let mut worker = Worker::new(umem, ports, pipeline);
            worker.follow(Arc::clone(&cell));
            if workers > 1 {
                if let Some(l) = mesh.next() {
                    worker.set_handoff(l);
                }
            }
            daemon.taps.attach(&mut worker, w as usize)?;
            let counters = worker.counter_block();
            let rules = worker.rules_reader_slot();
            port_controls.push(worker.port_control());
            if let Ok(mut c) = daemon.control.lock() {
                c.workers.push(views::WorkerView {
                    counters: Arc::clone(&counters),
                    times: worker.latency_block(),
                    turns: worker.turn_block(),
                    rules: Arc::clone(&rules),
                    ct: worker.conntrack_channel(),
                    neigh: worker.neigh_channel(),
                    running: worker.running_generation(),
                    ports: worker.ports_block(),
                });
            }
            daemon.workers.push(WorkerThread {
                index: w as usize,
                handle: None,
                counters,
                rules,
            });
            pending.push(worker);
        }
        // Everything is attached: keep only what running needs, before
        // any thread exists (capabilities are per thread; the workers and
        // the control threads inherit the reduced sets).
        sluice_dataplane::io::caps::keep_only(&sluice_dataplane::io::caps::RUNNING)
            .map_err(|e| {
                format!("cannot drop the capabilities it no longer needs: {e} (reducing the bounding set needs CAP_SETPCAP; under systemd, CapabilityBoundingSet must include it)")
            })?;
        log.step(&format!(
            "capabilities: kept {} (effective, permitted, bounding), dropped the rest",
            sluice_dataplane::io::caps::RUNNING
                .map(sluice_dataplane::io::caps::name)
                .join(", ")
        ));
        for (w, mut worker) in pending.into_iter().enumerate() {
            let core = cores.get(w).copied();
            let stop = Arc::clone(stop);
            let fault = w == 0 && fault_hook();
            let handle = std::thread::Builder::new()
                .name(format!("sluice-w{w}"))
                .spawn(move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(c);
                    }
                    if fault {
                        // The test hook (`fault_hook`): the daemon's
                        // answer to a dying worker is tested for real.
                        std::thread::sleep(Duration::from_millis(300));
                        panic!("injected fault: SLUICE_FAULT=worker-panic");
                    }
                    worker.run(&stop, &run);
                })
                .map_err(|e| format!("worker {w}: cannot start its thread: {e}"))?;
            log.step(&format!(
                "worker {w}: queue {w} of {}, {}, {}",
                names.join(", "),
                core.map_or("not pinned".to_string(), |c| format!("core {}", c.id)),
                if run.busy_poll {
                    "busy-polling"
                } else {
                    "sleeps when idle"
                }
            ));
            daemon.workers[w].handle = Some(handle);
        }
        daemon.dhcp = Some(dhcp::Driver::new(
            dhcp_link,
            macs,
            Arc::clone(&daemon.control),
            *log,
        ));
        daemon.links = links::Links::new(
            &daemon.ifnames,
            port_controls,
            u64::from(attach::umem_frames(daemon.ifnames.len())),
        );
        Ok(daemon)
    }

    /// Waits for a signal or a worker's death, then stops everything.
    fn serve(
        mut self,
        log: &Log,
        stop: &AtomicBool,
        usr1: &AtomicBool,
        hup: &AtomicBool,
    ) -> ExitCode {
        if let Some(socket) = self.socket.take() {
            log.step(&format!(
                "API on {} (sluice apply/confirm/rollback/history/diff and the views: rules, conntrack, route, rule, sets, stats)",
                socket.path().display()
            ));
            let control = Arc::clone(&self.control);
            let api_stop = Arc::clone(&self.stop);
            match std::thread::Builder::new()
                .name("sluice-api".into())
                .spawn(move || api::serve(socket, control, api_stop))
            {
                Ok(h) => self.api_thread = Some(h),
                Err(e) => {
                    log.error(&format!("cannot start the API thread: {e}"));
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
        if let Some(ep) = self.metrics.take() {
            log.step(&format!(
                "metrics on http://{}/metrics (Prometheus text format 0.0.4)",
                ep.addr()
            ));
            let control = Arc::clone(&self.control);
            let counts = Arc::clone(&self.sink_counts);
            let m_stop = Arc::clone(&self.stop);
            match std::thread::Builder::new()
                .name("sluice-metrics".into())
                .spawn(move || metrics::serve(ep, control, counts, m_stop))
            {
                Ok(h) => self.metrics_thread = Some(h),
                Err(e) => {
                    log.error(&format!("cannot start the metrics thread: {e}"));
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
        if let Some(mut sink) = self.sink.take() {
            log.step(&format!("LOG records to {}", sink.describe()));
            let readers: Vec<_> = self.workers.iter().map(|w| Arc::clone(&w.rules)).collect();
            let done = Arc::clone(&self.log_done);
            let reopen = Arc::clone(&self.log_reopen);
            match std::thread::Builder::new()
                .name("sluice-log".into())
                .spawn(move || {
                    let mut buf = Vec::new();
                    while !done.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                        if reopen.swap(false, Ordering::Relaxed) {
                            sink.reopen();
                        }
                        logsink::drain(&readers, &mut sink, &mut buf);
                    }
                    logsink::drain(&readers, &mut sink, &mut buf);
                }) {
                Ok(h) => self.log_thread = Some(h),
                Err(e) => {
                    log.error(&format!("cannot start the LOG thread: {e}"));
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
        if let Some(d) = self.dhcp.take() {
            let d_stop = Arc::clone(&self.stop);
            match std::thread::Builder::new()
                .name("sluice-dhcp".into())
                .spawn(move || dhcp::serve(d, d_stop))
            {
                Ok(h) => self.dhcp_thread = Some(h),
                Err(e) => {
                    log.error(&format!("cannot start the DHCP thread: {e}"));
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
        log.step(&format!(
            "running: {} worker(s) on {} (SIGINT/SIGTERM stop, SIGHUP re-applies the config, SIGUSR1 prints counters)",
            self.workers.len(),
            self.ifnames.join(", ")
        ));
        let mut failed = false;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if let Err(e) = self.links.check(log) {
                log.error(&e);
                failed = true;
                break;
            }
            if usr1.swap(false, Ordering::Relaxed) {
                self.print_counters();
            }
            if hup.swap(false, Ordering::Relaxed) {
                self.log_reopen.store(true, Ordering::Relaxed);
                let r = match self.control.lock() {
                    Ok(mut c) => c.apply(&self.config, None, "SIGHUP"),
                    Err(_) => Err("the control state is poisoned".into()),
                };
                if let Err(e) = r {
                    log.error(&format!("SIGHUP: {e}"));
                }
            }
            // A worker also ends when a signal set `stop` (the workers
            // share the flag) during this turn's sleep: not a failure.
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(w) = self
                .workers
                .iter()
                .find(|w| w.handle.as_ref().is_some_and(|h| h.is_finished()))
            {
                log.error(&format!("worker {} stopped unexpectedly", w.index));
                failed = true;
                break;
            }
        }
        log.step("stopping");
        stop.store(true, Ordering::Relaxed);
        failed |= self.join(log);
        self.print_counters();
        drop(self);
        log.step(if failed {
            "stopped after a failure; everything attached was removed"
        } else {
            "stopped; everything attached was removed"
        });
        if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }

    /// Joins the workers, then the threads that read them (the LOG
    /// drain last, after its final drain); whether a worker had panicked.
    fn join(&mut self, log: &Log) -> bool {
        let mut failed = false;
        for h in [
            self.api_thread.take(),
            self.metrics_thread.take(),
            self.dhcp_thread.take(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = h.join();
        }
        for w in &mut self.workers {
            if let Some(h) = w.handle.take() {
                if h.join().is_err() {
                    log.error(&format!("worker {} panicked", w.index));
                    failed = true;
                }
            }
        }
        self.log_done.store(true, Ordering::Relaxed);
        if let Some(h) = self.log_thread.take() {
            let _ = h.join();
        }
        failed
    }

    /// The counters summed over the workers, on stderr: the dataplane's
    /// (non-zero ones) and the rulesets' as `iptables-save -c` and
    /// `ip6tables-save -c` print them.
    fn print_counters(&self) {
        let mut sum = Counters::default();
        let mut rules: Option<RuleCounters> = None;
        let mut rules6: Option<RuleCounters> = None;
        for w in &self.workers {
            let c = w.counters.read();
            for &k in sluice_dataplane::packet::Counter::ALL {
                sum.add(k, c.get(k));
            }
            if let Some(r) = w.rules.load_full() {
                for (acc, rc) in [(&mut rules, r.counters()), (&mut rules6, r.counters6())] {
                    match acc {
                        Some(acc) => acc.merge(&rc),
                        None => *acc = Some(rc),
                    }
                }
            }
        }
        let mut out = String::new();
        for w in &self.workers {
            let c = w.counters.read();
            let l = c.ledger();
            let get = |name: &str| c.by_name(name).unwrap_or(0);
            out.push_str(&format!(
                "sluice: worker {}: rx {} tx {} dropped {} punted {} batches {} empty_polls {} sleeps {} handoffs sent {} received {}\n",
                w.index,
                get("rx.frames"),
                get("tx.frames"),
                l.dropped,
                l.punted,
                get("worker.batches"),
                get("worker.empty_polls"),
                get("worker.sleeps"),
                get("handoff.sent"),
                get("handoff.received"),
            ));
        }
        for (name, c) in self.links.counts() {
            out.push_str(&format!("sluice: link {name}:"));
            for (n, v) in links::LinkCounts::NAMES.iter().zip(c.values()) {
                out.push_str(&format!(" {n} {v}"));
            }
            out.push('\n');
        }
        out.push_str("sluice: counters (summed over workers):\n");
        for (name, v) in sum.iter().filter(|(_, v)| *v != 0) {
            out.push_str(&format!("  {name} {v}\n"));
        }
        if let (Some(rc), Some(r)) = (
            &rules,
            self.workers.first().and_then(|w| w.rules.load_full()),
        ) {
            out.push_str("sluice: rule counters (iptables-save -c):\n");
            out.push_str(&rc.save(r.program().ruleset()));
            if let (Some(rc6), Some(rs6)) = (&rules6, r.program().ruleset6()) {
                out.push_str("sluice: rule counters (ip6tables-save -c):\n");
                out.push_str(&rc6.save(rs6));
            }
        }
        eprint!("{out}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Workers own the AF_XDP sockets; they must be gone before the
        // TAPs and the lock. On the normal path they were joined already;
        // on an error half-way through start-up they are stopped here.
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.join(&Log::new());
    }
}
